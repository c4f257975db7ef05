/* Clocks. Wall time is what probes are stamped with and what incidents are
 * reported in; monotonic time is what timers and timeouts use. */
#ifndef VTG_CLOCK_H
#define VTG_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_REALTIME in unix microseconds. */
int64_t vtg_clock_wall_us(void);
/* CLOCK_MONOTONIC in microseconds. */
int64_t vtg_clock_mono_us(void);
/* Formats unix microseconds as RFC 3339 UTC with milliseconds and a 'Z'
 * ("2026-11-24T12:00:03.250Z") into buf (at least 25 bytes). Returns buf. */
char *vtg_clock_format_rfc3339(int64_t unix_us, char *buf, size_t size);
/* Parses that format (also without fraction, or with 1..9 fraction digits).
 * Returns 0 or VTG_EINVAL. */
int vtg_clock_parse_rfc3339(const char *s, int64_t *unix_us);

#endif
