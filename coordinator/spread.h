/* How far and in what order a check incident spread (issue 5, "spread as
 * data"): the figures the incident JSON carries as "first_region",
 * "down_order", "up_order", "peak_fraction" and "severity". Pure: computed
 * from a vtg_incident_t (what the detector publishes) or, for severity,
 * from the stored JSON of an open incident, which grows with time.
 *
 * Definitions (README.md, "Contracts", says the same):
 * - down_order: the regions of the incident by their first onset
 *   (regions[].onset), earliest first, ties by name; first_region is its
 *   head (null when no region has an onset).
 * - up_order: the regions that have recovered, by their last recovery
 *   (regions[].resolved), earliest first, ties by name. A region still
 *   down is left out (it has not come back), so while an incident is open
 *   up_order is shorter than down_order; once resolved both hold the same
 *   regions.
 * - peak_fraction: peak_regions / total_regions, clamped to 0..1; null
 *   when total_regions is 0. 3 decimals.
 * - severity: region-minutes of outage normalised by the regions watching,
 *   sum over every region of the lengths of its down spans (regions[].spans;
 *   an open span counts up to now) in minutes, divided by total_regions.
 *   "4 of 4 regions down for 30 minutes" and "2 of 4 for 60" both score 30:
 *   minutes of a whole-fleet outage. Gaps between waves do not count, a
 *   region without spans counts its first onset to last recovery. Null when
 *   total_regions is 0. Rounded to the millisecond of a minute (3
 *   decimals). */
#ifndef VTG_SPREAD_H
#define VTG_SPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "vtg/json.h"

typedef struct vtg_spread_s {
  const char *first_region; /* borrowed from the incident; NULL: unknown */
  const char **down_order;  /* n_down names, borrowed; the array is malloc'd */
  size_t n_down;
  const char **up_order; /* n_up names, borrowed; the array is malloc'd */
  size_t n_up;
  double peak_fraction; /* < 0: unknown (null) */
  double severity;      /* < 0: unknown (null) */
} vtg_spread_t;

/* Fills *out from inc as of now_us (open spans end at now_us; an open span
 * that starts after now counts 0). The names stay the incident's; the two
 * arrays are malloc'd: vtg_spread_free. Returns 0 or VTG_ENOMEM (then *out
 * holds nothing to free). */
int vtg_spread_compute(const vtg_incident_t *inc, int64_t now_us,
                       vtg_spread_t *out);
void vtg_spread_free(vtg_spread_t *s); /* NULL allowed; frees the arrays only */

/* The severity core: region-minutes of n spans (resolved VTG_TIME_NONE:
 * until now_us) divided by total_regions, 3 decimals; -1 when
 * total_regions <= 0. */
double vtg_spread_severity(const vtg_incident_span_t *spans, size_t n,
                           int total_regions, int64_t now_us);

/* A stored open incident's JSON (the contract object) read at now_us:
 * recomputes "severity" from its regions[].spans and total_regions, as
 * the store does for duration_s. Leaves an object without a numeric
 * "severity" alone (written before the field existed, or null). Returns 0,
 * VTG_EINVAL (not an object) or VTG_ENOMEM. */
int vtg_spread_refresh_json(vtg_json_t *inc, int64_t now_us);

#endif
