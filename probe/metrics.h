/* The agent's own /metrics: the Prometheus text exposition (format 0.0.4)
 * of what the agent counts about itself (probes run, skipped turns, start
 * lag, spool, uplink). The agent copies its counters into a
 * vtg_probe_metrics_t on every scrape; this module only renders it, so it
 * is tested with plain data. Label sets are bounded by the checks pushed to
 * the agent. Only probe/ and its unit tests include this. */
#ifndef VTG_PROBE_METRICS_H
#define VTG_PROBE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "vtg/buf.h"
#include "vtg/histo.h"

/* Outcomes counted per check, in this order. */
#define VTG_PROBE_N_OUTCOMES 3 /* up, degraded, down */

typedef struct vtg_probe_check_metrics_s {
  const char *name;                         /* the check's name (label "check") */
  uint64_t probes[VTG_PROBE_N_OUTCOMES];    /* finished probes by outcome */
  uint64_t skipped;                         /* turns skipped: the last probe still ran */
} vtg_probe_check_metrics_t;

/* A snapshot; every pointer is borrowed for the duration of the call. */
typedef struct vtg_probe_metrics_s {
  const char *version, *agent, *region;
  const vtg_probe_check_metrics_t *checks;
  size_t n_checks;
  const vtg_histo_t *start_lag;             /* seconds, vtg_histo_latency_bounds */
  uint64_t spool_bytes, spool_max_bytes, spool_unacked, spool_dropped;
  vtg_uplink_state_t uplink_state;
  uint64_t uplink_reconnects, results_acked;
} vtg_probe_metrics_t;

/* The index into probes[] of a wire outcome, or -1 for one not counted. */
int vtg_probe_metrics_outcome_idx(Vantage__Outcome o);

/* Appends the whole exposition of m to out. Returns 0 or the buffer's error
 * (VTG_ENOMEM / VTG_ELIMIT). */
int vtg_probe_metrics_write(const vtg_probe_metrics_t *m, vtg_buf_t *out);

#endif
