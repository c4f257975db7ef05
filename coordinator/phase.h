/* Fleet-wide interleaving (issue 5 item 1): the phase each agent gets for
 * one check, so that the fleet's probes of that check are spread evenly
 * over the interval, within a region and across regions. Pure: no I/O, no
 * clock, no coordinator state; the agent server (server.c) feeds it the
 * connected agents of each check. */
#ifndef VTG_PHASE_H
#define VTG_PHASE_H

#include <stddef.h>
#include <stdint.h>

/* One agent running the check. id and region are borrowed for the call;
 * phase_ms is the output. */
typedef struct vtg_phase_agent_s {
  const char *id;
  const char *region;
  uint32_t phase_ms; /* out: in [0, interval_ms) */
} vtg_phase_agent_t;

/* The check's own offset in [0, interval_ms): FNV-1a of its name, so that
 * one agent's checks do not all fire at the same moment. 0 when
 * interval_ms is 0. */
uint32_t vtg_phase_base(const char *check, uint32_t interval_ms);

/* Assigns agents[i].phase_ms for the check named check with interval_ms.
 * Agents are ordered region-interleaved: regions by name (r = 0..R-1),
 * agents by id within their region (j = 0..m_r-1); agent j of region r
 * sits at position (j + r/R) / m_r in [0, 1), and the agents sorted by
 * position (ties: region, then id) get ranks k = 0..N-1 and
 * phase = (base + k * interval / N) mod interval. So with equal regions
 * consecutive probes come from different regions, each region's own probes
 * are interval/m_r apart, and the result depends only on the set of
 * (id, region) pairs, not on their order. Duplicate ids are the caller's
 * problem (each gets its own rank). Returns 0, or VTG_ENOMEM (phases then
 * untouched). */
int vtg_phase_assign(const char *check, uint32_t interval_ms, vtg_phase_agent_t *agents,
                     size_t n);

/* When the next probe of an agent with phase_ms is due after now_ms (unix
 * ms; the agents align their turns to phase + k * interval since the
 * epoch): the time until it, in (0, interval_ms]. */
uint32_t vtg_phase_until_next(int64_t now_ms, uint32_t interval_ms, uint32_t phase_ms);

#endif
