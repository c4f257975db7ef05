/* Confirmation bursts and the incident cadence (issue 5 item 3).
 *
 * When an agent's result for a check turns (its first down after an up one,
 * or its first up while it was down), the coordinator asks other agents to
 * probe that check at once (a ProbeNow frame): the other connected agents
 * of its region and a sample of the other regions, at most
 * VTG_BURST_MAX_AGENTS in all, preferring those whose next scheduled probe
 * is furthest away. Rate limits: one burst per check per interval/2, one
 * ProbeNow per agent and check per interval/4. While a check is down in
 * some region, its agents run it at its incident_interval
 * (vtg_config_incident_interval_us) instead of its interval, until it has
 * recovered everywhere; the detector keeps the configured interval.
 *
 * The state lives with the agent server (vtg_server_burst); loop thread
 * only. The selection and the rate limits are pure functions below. */
#ifndef VTG_BURST_H
#define VTG_BURST_H

#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "vtg/buf.h"

#define VTG_BURST_MAX_AGENTS 8

typedef struct vtg_burst_s vtg_burst_t;

/* ---- pure parts ---- */

/* One agent that could be asked to probe a check now. */
typedef struct vtg_burst_cand_s {
  uint32_t agent;         /* the caller's id (agent idx) */
  const char *region;     /* borrowed */
  int64_t until_next_us;  /* time to its next scheduled probe of the check; larger = preferred */
  int64_t last_sent_us;   /* its last ProbeNow for the check; INT64_MIN = never */
} vtg_burst_cand_t;

/* Whether something last done at last_us may be done again at now_us with
 * at least gap_us between (last_us INT64_MIN = never done: yes). */
int vtg_burst_allowed(int64_t now_us, int64_t last_us, int64_t gap_us);

/* Picks the agents of one burst from cands (the origin agent excluded by
 * the caller). Candidates sent a ProbeNow within agent_gap_us are skipped.
 * Agents of origin_region come first, but places are kept for one agent
 * of each other region, up to max/2 of them; then one agent per other
 * region (regions in name order, starting at the rotate-th, so that a
 * fleet of many regions is sampled round-robin); places still free go to
 * more same-region agents. Within a region the agent whose next scheduled
 * probe is furthest away wins (ties: the lower agent). Writes indexes
 * into cands to out (room for max) and returns how many; 0 on allocation
 * failure. */
size_t vtg_burst_pick(const vtg_burst_cand_t *cands, size_t n, const char *origin_region,
                      int64_t now_us, int64_t agent_gap_us, size_t max, size_t rotate,
                      size_t *out);

/* ---- the live state (server-owned) ---- */

vtg_burst_t *vtg_burst_new(void);
void vtg_burst_free(vtg_burst_t *b); /* NULL allowed */

/* The ingest's hook, for each live result of agent a (check_id stable id,
 * outcome VTG_OUTCOME_*, start_us corrected probe start): tracks the
 * agent's up/down turn for the check and, on a turn, sends the burst
 * (within the limits). Results older than the check's interval + timeout
 * (a spool replay) update the state but send nothing. */
void vtg_burst_on_result(vtg_coord_t *c, vtg_agent_t *a, uint32_t check_id, int outcome,
                         int64_t start_us);

/* The detector timer's hook, after each advance: a check with any region
 * DOWN goes to its incident cadence, one with none back to its interval;
 * changed CheckSets are pushed (debounced, vtg_server_fleet_changed). */
void vtg_burst_tick(vtg_coord_t *c);

/* The interval the agents get for config check idx now (us). */
int64_t vtg_burst_interval_us(const vtg_coord_t *c, size_t idx);

/* Appends vantage_check_bursts_total{check} and
 * vantage_probe_now_sent_total to out. Returns 0 or a vtg_buf error. */
int vtg_burst_write_metrics(const vtg_coord_t *c, vtg_buf_t *out);

#endif
