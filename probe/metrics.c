/* Prometheus text exposition of the agent's own counters (metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#include <string.h>

#include "vtg/error.h"
#include "vtg/prom.h"

static const char *const outcome_names[VTG_PROBE_N_OUTCOMES] = {"up", "degraded", "down"};

static const char *const state_names[VTG_UPLINK_N_STATES] = {
    [VTG_UPLINK_CONNECTING] = "connecting",
    [VTG_UPLINK_HANDSHAKING] = "handshaking",
    [VTG_UPLINK_CONNECTED] = "connected",
    [VTG_UPLINK_BACKOFF] = "backoff",
};

int vtg_probe_metrics_outcome_idx(Vantage__Outcome o) {
  switch (o) {
  case VANTAGE__OUTCOME__OUTCOME_UP: return 0;
  case VANTAGE__OUTCOME__OUTCOME_DEGRADED: return 1;
  case VANTAGE__OUTCOME__OUTCOME_DOWN: return 2;
  default: return -1;
  }
}

/* `name{check="C"` then the caller's rest of the line. */
static int check_series(vtg_buf_t *b, const char *name, const char *check) {
  int err = vtg_buf_printf(b, "%s{check=\"", name);
  err |= vtg_prom_label(b, check);
  err |= vtg_buf_appends(b, "\"");
  return err;
}

/* A family with one unlabelled sample. */
static int scalar(vtg_buf_t *b, const char *name, const char *type, const char *help,
                  uint64_t v) {
  int err = vtg_prom_family(b, name, type, help);
  err |= vtg_buf_printf(b, "%s %" PRIu64 "\n", name, v);
  return err;
}

int vtg_probe_metrics_write(const vtg_probe_metrics_t *m, vtg_buf_t *out) {
  static const vtg_histo_t empty_histo;
  int err = 0;

  err |= vtg_prom_family(out, "vantage_probe_build_info", "gauge",
                         "Always 1; the labels say which agent build runs where.");
  err |= vtg_buf_appends(out, "vantage_probe_build_info{version=\"");
  err |= vtg_prom_label(out, m->version);
  err |= vtg_buf_appends(out, "\",agent=\"");
  err |= vtg_prom_label(out, m->agent);
  err |= vtg_buf_appends(out, "\",region=\"");
  err |= vtg_prom_label(out, m->region);
  err |= vtg_buf_appends(out, "\"} 1\n");

  /* Every outcome of every check is written, zeros included, so a rate()
   * sees a series from the first scrape on. */
  err |= vtg_prom_family(out, "vantage_probe_probes_total", "counter",
                         "Probes finished by this agent, by check and outcome.");
  for (size_t i = 0; i < m->n_checks && err == 0; i++)
    for (int k = 0; k < VTG_PROBE_N_OUTCOMES; k++) {
      err |= check_series(out, "vantage_probe_probes_total", m->checks[i].name);
      err |= vtg_buf_printf(out, ",outcome=\"%s\"} %" PRIu64 "\n", outcome_names[k],
                            m->checks[i].probes[k]);
    }
  err |= vtg_prom_family(out, "vantage_probe_skipped_turns_total", "counter",
                         "Turns of a check skipped because its previous probe was still "
                         "running.");
  for (size_t i = 0; i < m->n_checks && err == 0; i++) {
    err |= check_series(out, "vantage_probe_skipped_turns_total", m->checks[i].name);
    err |= vtg_buf_printf(out, "} %" PRIu64 "\n", m->checks[i].skipped);
  }

  err |= vtg_prom_family(out, "vantage_probe_start_lag_seconds", "histogram",
                         "How late scheduled probes started against their planned time.");
  if (err == 0)
    err = vtg_histo_write(out, "vantage_probe_start_lag_seconds", NULL,
                          m->start_lag ? m->start_lag : &empty_histo, &vtg_histo_latency_bounds);

  err |= scalar(out, "vantage_probe_spool_bytes", "gauge",
                "Bytes of the on-disk spool of unacknowledged results.", m->spool_bytes);
  err |= scalar(out, "vantage_probe_spool_max_bytes", "gauge",
                "The spool's cap (spool_max_bytes); the oldest results go beyond it.",
                m->spool_max_bytes);
  err |= scalar(out, "vantage_probe_spool_unacked_results", "gauge",
                "Results spooled that the coordinator has not acknowledged yet.",
                m->spool_unacked);
  err |= scalar(out, "vantage_probe_spool_dropped_total", "counter",
                "Unacknowledged results deleted because the spool was full.", m->spool_dropped);

  err |= scalar(out, "vantage_probe_uplink_connected", "gauge",
                "1 while the link to the coordinator is up and welcomed, else 0.",
                m->uplink_state == VTG_UPLINK_CONNECTED);
  err |= vtg_prom_family(out, "vantage_probe_uplink_state", "gauge",
                         "The link to the coordinator: 1 for the current state, 0 for the "
                         "others.");
  for (int s = 0; s < VTG_UPLINK_N_STATES && err == 0; s++)
    err |= vtg_buf_printf(out, "vantage_probe_uplink_state{state=\"%s\"} %d\n", state_names[s],
                          (int)m->uplink_state == s);
  err |= scalar(out, "vantage_probe_uplink_reconnects_total", "counter",
                "Connection attempts to the coordinator after a failed attempt or a lost link.",
                m->uplink_reconnects);
  err |= scalar(out, "vantage_probe_results_acked_total", "counter",
                "Results the coordinator acknowledged as stored.", m->results_acked);
  /* The |= above mixes codes; any failure is the buffer's. */
  return err == 0 ? 0 : err == VTG_ENOMEM ? VTG_ENOMEM : VTG_ELIMIT;
}
