/* An incident in the JSON contract of DESIGN.md ("outages --json"). */
#ifndef VTG_INCIDENT_H
#define VTG_INCIDENT_H

#include "detect.h"
#include "vtg/json.h"

/* Writes one incident as a JSON object; now_us gives duration_s of an open
 * incident. */
void vtg_incident_write_json(vtg_json_writer_t *w, const vtg_incident_t *inc, int64_t now_us);
/* Same, with "maintenance" (always present) set to maintenance != 0; the
 * plain writer above writes false. maint.h decides the flag. */
void vtg_incident_write_json_maint(vtg_json_writer_t *w, const vtg_incident_t *inc,
                                   int64_t now_us, int maintenance);

/* Seconds from from_us to to_us rounded to the millisecond, never negative:
 * the contract's duration_s (the store refreshes open incidents with it). */
double vtg_incident_duration_s(int64_t from_us, int64_t to_us);

/* Adds "partial" (bool) and "addresses" (array of strings | null) to the
 * finished compact incident object at the end of b (Q, issue 5: every
 * address). partial with addrs[0..n) for a partial incident; 0, NULL, 0
 * for a whole-target one. Returns 0 or an error (b unchanged but for its
 * closing brace on a buffer error). */
int vtg_incident_json_add_addresses(vtg_buf_t *b, int partial, const char *const *addrs,
                                    size_t n);

#endif
