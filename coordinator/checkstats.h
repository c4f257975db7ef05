/* Per (check, region) result statistics for /metrics: results by outcome
 * and error class, phase durations as histograms, and per check the TLS
 * certificate expiry the agents see. Fed once per live result by the
 * ingest; read by metrics.c at every scrape. Counters start at zero with
 * the process (results replayed from the result log at start-up are not
 * fed), as Prometheus expects of counters.
 *
 * Storage is flat and bounded by checks x regions: a row per stable check
 * id, in it a slot per region index, allocated on the first result. Only
 * the certificate expiry is kept per agent (a timestamp per agent of a
 * check that sent one), and it is exported per check only. Loop thread. */
#ifndef VTG_CHECKSTATS_H
#define VTG_CHECKSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "vantage.pb-c.h"
#include "vtg/histo.h"

/* Phases of a probe, in the order of vantage.Result's fields. */
enum {
  VTG_CHECKSTATS_DNS = 0,
  VTG_CHECKSTATS_CONNECT,
  VTG_CHECKSTATS_TLS,
  VTG_CHECKSTATS_TTFB,
  VTG_CHECKSTATS_TOTAL,
  VTG_CHECKSTATS_N_PHASES
};
#define VTG_CHECKSTATS_N_OUTCOMES 3 /* up, degraded, down: VTG_OUTCOME_* - 1 */

/* Caps: a result past them is not counted (vtg_checkstats_feed). Stable
 * check ids are below 2^24 (coord.c), region and agent indexes below the
 * coordinator's own table caps. */
#define VTG_CHECKSTATS_MAX_CHECK_ID (1u << 24)
#define VTG_CHECKSTATS_MAX_REGIONS 10000u
#define VTG_CHECKSTATS_MAX_AGENTS 100000u

/* What one (check, region) has seen. */
typedef struct vtg_checkstats_slot_s {
  /* [outcome - 1][error class]: error class as the detector takes it
   * (VTG_N_ERROR_CLASSES values, 0 = none for up and degraded). */
  uint64_t results[VTG_CHECKSTATS_N_OUTCOMES][VTG_N_ERROR_CLASSES];
  /* Seconds, vtg_histo_latency_bounds; a phase the probe did not reach
   * (0 us) is not observed. */
  vtg_histo_t phase[VTG_CHECKSTATS_N_PHASES];
} vtg_checkstats_slot_t;

typedef struct vtg_checkstats_s vtg_checkstats_t;

/* A new, empty table; NULL when out of memory. */
vtg_checkstats_t *vtg_checkstats_new(void);
void vtg_checkstats_free(vtg_checkstats_t *cs); /* NULL allowed */

/* Counts one live result of check check_id probed by agent (index) of
 * region (index). r's outcome must be valid (the ingest checked it);
 * its error class is taken as the detector takes it: "other" when out of
 * range, "none" unless down. probe_us is its corrected start, the age of
 * its certificate sighting. cs NULL: nothing (unit tests without stats).
 * Never fails: a result past the caps or when memory runs out is not
 * counted (vtg_checkstats_lost tells how many). */
void vtg_checkstats_feed(vtg_checkstats_t *cs, uint32_t check_id, uint32_t region,
                         uint32_t agent, const Vantage__Result *r, int64_t probe_us);

/* The slot of (check_id, region), NULL while it has no result. Valid until
 * the next feed or retain. */
const vtg_checkstats_slot_t *vtg_checkstats_slot(const vtg_checkstats_t *cs, uint32_t check_id,
                                                 uint32_t region);

/* The earliest certificate notAfter (unix seconds) among the latest
 * results of each agent of check_id, counting agents whose latest result
 * started at or after since_us (an agent gone for good must not hold an
 * old certificate up forever). 0 and VTG_ENOTFOUND when there is none. */
int vtg_checkstats_cert_expiry(const vtg_checkstats_t *cs, uint32_t check_id, int64_t since_us,
                               int64_t *out_unix);

/* Config reload: forgets every check whose stable id is not among ids[n],
 * so a check removed (and maybe added back later) starts from zero and
 * removed checks hold no memory. */
void vtg_checkstats_retain(vtg_checkstats_t *cs, const uint32_t *ids, size_t n);

/* Results not counted (caps, memory). */
uint64_t vtg_checkstats_lost(const vtg_checkstats_t *cs);

/* "dns", "connect", "tls", "ttfb", "total". */
const char *vtg_checkstats_phase_name(int phase);

#endif
