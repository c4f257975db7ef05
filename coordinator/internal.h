/* Helpers shared between files of the coordinator; nothing outside
 * coordinator/ includes this. */
#ifndef VTG_COORD_INTERNAL_H
#define VTG_COORD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Region indexes 0..n-1 sorted by name (names[idx]), so every view lists
 * regions the same way whatever order agents happened to connect in.
 * *out is malloc'd (never NULL on success, even for n == 0); the caller
 * frees it. Returns 0 or VTG_ENOMEM (then *out is untouched). */
int vtg__regions_sorted(char *const *names, size_t n, uint32_t **out);

/* How bad a vtg_state_t value is: unknown 0 < up 1 < degraded 2 < down 3
 * (worse = larger), -1 for a value that is no state (e.g. a stored byte
 * from elsewhere), so callers can both order and validate. */
int vtg__state_rank(int s);

#endif
