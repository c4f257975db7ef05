/* Prometheus text exposition of the coordinator's state (metrics.h).
 * Built fresh on every scrape from the detector, the agent table and the
 * store: nothing is cached, so a scrape always agrees with /api/v1/status. */
#include "metrics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "burst.h"
#include "checkstats.h"
#include "internal.h"
#include "maint.h"
#include "resultlog.h"
#include "rollup.h"
#include "service.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/histo.h"
#include "vtg/json.h"
#include "vtg/prom.h"
#include "vtg/wire.h"

#define METRICS_MAX_OPEN_JSON (64u * 1024 * 1024)

/* The escaping is shared with the agent's /metrics: vtg/prom.h. */
int vtg_metrics_label(vtg_buf_t *b, const char *s) { return vtg_prom_label(b, s); }

/* The "# HELP" and "# TYPE" lines of one family. */
static int family(vtg_buf_t *b, const char *name, const char *type, const char *help) {
  return vtg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{k1="v1"` with up to three labels (NULL key ends), then the caller
 * appends the rest of the line. */
static int series(vtg_buf_t *b, const char *name, const char *k1, const char *v1,
                  const char *k2, const char *v2, const char *k3, const char *v3) {
  int err = vtg_buf_printf(b, "%s{%s=\"", name, k1);
  err |= vtg_metrics_label(b, v1);
  if (k2 != NULL) {
    err |= vtg_buf_printf(b, "\",%s=\"", k2);
    err |= vtg_metrics_label(b, v2);
  }
  if (k3 != NULL) {
    err |= vtg_buf_printf(b, "\",%s=\"", k3);
    err |= vtg_metrics_label(b, v3);
  }
  err |= vtg_buf_appends(b, "\"}");
  return err;
}

static int cmp_agent_id(const void *a, const void *b) {
  const vtg_agent_t *x = *(vtg_agent_t *const *)a, *y = *(vtg_agent_t *const *)b;
  return strcmp(x->id, y->id);
}

/* Per config check: open incidents and the earliest open onset, from the
 * store's open list (the incidents operators see). onset[i] stays
 * VTG_TIME_NONE for a check without one. Incidents under maintenance are
 * left out (maint.h): those marked "maintenance", and any while a window
 * covers the check now, so that alerts built on these stay quiet. */
/* What /metrics says of a check's open incident (spread as data, issue 5:
 * its severity and peak fraction, the largest over its open incidents). */
typedef struct open_inc_s {
  int open;
  int64_t onset;          /* VTG_TIME_NONE: none open */
  double severity, peak;  /* < 0: unknown */
} open_inc_t;

static int open_incidents(vtg_coord_t *c, int64_t now_us, open_inc_t *oi) {
  vtg_buf_t b;
  vtg_json_t *v = NULL;
  char perr[128];
  int err;

  vtg_buf_init(&b, METRICS_MAX_OPEN_JSON);
  if ((err = vtg_store_incidents_open_json(c->store, now_us, &b)) != 0) goto out;
  if ((err = vtg_json_parse(b.data ? b.data : "[]", b.len ? b.len : 2, &v, perr, sizeof perr)) != 0)
    goto out;
  for (size_t i = 0; v->type == VTG_JSON_ARRAY && i < v->n; i++) {
    const char *check = vtg_json_get_str(v->items[i], "check", NULL);
    const char *on = vtg_json_get_str(v->items[i], "onset", NULL);
    const vtg_json_t *mt = vtg_json_get(v->items[i], "maintenance");
    int64_t t;
    if (mt != NULL && mt->type == VTG_JSON_BOOL && mt->boolean) continue;
    for (size_t k = 0; check != NULL && k < c->cfg.n_checks; k++) {
      if (strcmp(c->cfg.checks[k].name, check) != 0) continue;
      if (vtg_maint_covers(c->maint, check, c->cfg.checks[k].service, now_us)) continue;
      oi[k].open = 1;
      if (on != NULL && vtg_clock_parse_rfc3339(on, &t) == 0 &&
          (oi[k].onset == VTG_TIME_NONE || t < oi[k].onset))
        oi[k].onset = t;
      double sev = vtg_json_get_num(v->items[i], "severity", -1);
      double peak = vtg_json_get_num(v->items[i], "peak_fraction", -1);
      if (sev > oi[k].severity) oi[k].severity = sev;
      if (peak > oi[k].peak) oi[k].peak = peak;
    }
  }
out:
  vtg_json_free(v);
  vtg_buf_free(&b);
  return err;
}

static int write_coordinator(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out) {
  int err = family(out, "vantage_build_info", "gauge", "Build information; always 1.");
  err |= series(out, "vantage_build_info", "version", VTG_VERSION, NULL, NULL, NULL, NULL);
  err |= vtg_buf_appends(out, " 1\n");
  err |= vtg_buf_printf(
      out,
      "# HELP vantage_results_received_total Probe results accepted and fed to the detector.\n"
      "# TYPE vantage_results_received_total counter\n"
      "vantage_results_received_total %" PRIu64 "\n"
      "# HELP vantage_results_duplicate_total Probe results dropped as already seen.\n"
      "# TYPE vantage_results_duplicate_total counter\n"
      "vantage_results_duplicate_total %" PRIu64 "\n"
      "# HELP vantage_results_rejected_total Probe results rejected, by reason.\n"
      "# TYPE vantage_results_rejected_total counter\n"
      "vantage_results_rejected_total{reason=\"unknown_check\"} %" PRIu64 "\n"
      "vantage_results_rejected_total{reason=\"invalid\"} %" PRIu64 "\n"
      "# HELP vantage_results_dropped_total Results agents reported discarded from their spool.\n"
      "# TYPE vantage_results_dropped_total counter\n"
      "vantage_results_dropped_total %" PRIu64 "\n"
      "# HELP vantage_batches_total Result batches received from agents.\n"
      "# TYPE vantage_batches_total counter\n"
      "vantage_batches_total %" PRIu64 "\n"
      "# HELP vantage_batch_sequence_gaps_total Batches that skipped sequence numbers.\n"
      "# TYPE vantage_batch_sequence_gaps_total counter\n"
      "vantage_batch_sequence_gaps_total %" PRIu64 "\n",
      c->results_total, c->duplicates_total, c->unknown_checks_total, c->invalid_results_total,
      c->dropped_total, c->batches_total, c->seq_gaps_total);
  err |= vtg_buf_printf(out, "# HELP vantage_ack_queue_depth Batches waiting for the result log "
                             "before they are acknowledged.\n"
                             "# TYPE vantage_ack_queue_depth gauge\n"
                             "vantage_ack_queue_depth %zu\n",
                        c->pending_len);
  if (c->watermark_us > 0 && c->watermark_us != VTG_TIME_NONE) {
    err |= family(out, "vantage_watermark_lag_seconds", "gauge",
                  "Wall clock minus the event time the detector has reached.");
    err |= vtg_buf_printf(out, "vantage_watermark_lag_seconds %.6f\n",
                          (double)(now_us - c->watermark_us) / 1e6);
  }
  if (c->rlog != NULL) {
    vtg_resultlog_counters_t lc;
    vtg_resultlog_counters(c->rlog, &lc);
    err |= vtg_buf_printf(
        out,
        "# HELP vantage_resultlog_records_total Results made durable in the result log.\n"
        "# TYPE vantage_resultlog_records_total counter\n"
        "vantage_resultlog_records_total %" PRIu64 "\n"
        "# HELP vantage_resultlog_bytes_total Bytes made durable in the result log.\n"
        "# TYPE vantage_resultlog_bytes_total counter\n"
        "vantage_resultlog_bytes_total %" PRIu64 "\n"
        "# HELP vantage_resultlog_commits_total Group commits (one fsync each).\n"
        "# TYPE vantage_resultlog_commits_total counter\n"
        "vantage_resultlog_commits_total %" PRIu64 "\n"
        "# HELP vantage_resultlog_write_errors_total Failed result log writes (retried).\n"
        "# TYPE vantage_resultlog_write_errors_total counter\n"
        "vantage_resultlog_write_errors_total %" PRIu64 "\n"
        "# HELP vantage_resultlog_skipped_total Damaged records skipped at start-up.\n"
        "# TYPE vantage_resultlog_skipped_total counter\n"
        "vantage_resultlog_skipped_total{why=\"corrupt\"} %" PRIu64 "\n"
        "vantage_resultlog_skipped_total{why=\"truncated\"} %" PRIu64 "\n"
        "# HELP vantage_resultlog_replayed_total Results replayed into the detector at start-up.\n"
        "# TYPE vantage_resultlog_replayed_total counter\n"
        "vantage_resultlog_replayed_total %" PRIu64 "\n",
        lc.records, lc.bytes, lc.commits, lc.write_errors, c->log_corrupt_total,
        c->log_truncated_total, c->replayed_total);
  }
  return err;
}

/* Per (check, region) the check applies to, in config order then region
 * name order: state set, up gauge and degraded gauge (both absent while
 * unknown), healthy agents; per check the regions currently down. */
static int write_regions(vtg_coord_t *c, const uint32_t *regions, vtg_buf_t *out) {
  static const vtg_state_t states[] = {VTG_STATE_UP, VTG_STATE_DEGRADED, VTG_STATE_DOWN,
                                       VTG_STATE_UNKNOWN};
  static const char *const fams[][3] = {
      {"vantage_region_state", "gauge",
       "State of a check in a region, as a state set (1 for the current state)."},
      {"vantage_region_up", "gauge",
       "1 while a region sees a check up or degraded, 0 while down; absent while unknown."},
      {"vantage_region_healthy_agents", "gauge",
       "Agents of the region reporting for the check that are not impaired."},
      {"vantage_check_affected_regions", "gauge", "Regions in which a check is currently down."},
      {"vantage_region_degraded", "gauge",
       "1 while a region sees a check degraded, 0 while up or down; absent while unknown."},
  };
  int err = 0;

  for (size_t f = 0; f < sizeof fams / sizeof fams[0] && err == 0; f++) {
    err |= family(out, fams[f][0], fams[f][1], fams[f][2]);
    for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
      const vtg_check_cfg_t *ch = &c->cfg.checks[i];
      int down = 0;
      for (size_t k = 0; k < c->n_regions && err == 0; k++) {
        uint32_t r = regions[k];
        vtg_region_status_t st;
        if (!vtg_config_check_applies(ch, c->regions[r])) continue;
        memset(&st, 0, sizeof st);
        st.state = VTG_STATE_UNKNOWN;
        if (c->detect != NULL && c->check_ids != NULL)
          vtg_detect_region_status(c->detect, c->check_ids[i], r, &st);
        down += st.state == VTG_STATE_DOWN;
        if (f == 0) {
          for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
            err |= series(out, fams[f][0], "check", ch->name, "region", c->regions[r], "state",
                          vtg_state_name(states[s]));
            err |= vtg_buf_printf(out, " %d\n", st.state == states[s]);
          }
        } else if (f == 1 && st.state != VTG_STATE_UNKNOWN) {
          err |= series(out, fams[f][0], "check", ch->name, "region", c->regions[r], NULL, NULL);
          err |= vtg_buf_printf(out, " %d\n", st.state != VTG_STATE_DOWN);
        } else if (f == 4 && st.state != VTG_STATE_UNKNOWN) {
          err |= series(out, fams[f][0], "check", ch->name, "region", c->regions[r], NULL, NULL);
          err |= vtg_buf_printf(out, " %d\n", st.state == VTG_STATE_DEGRADED);
        } else if (f == 2) {
          err |= series(out, fams[f][0], "check", ch->name, "region", c->regions[r], NULL, NULL);
          err |= vtg_buf_printf(out, " %d\n", st.healthy_agents);
        }
      }
      if (f == 3) {
        err |= series(out, fams[f][0], "check", ch->name, NULL, NULL, NULL, NULL);
        err |= vtg_buf_printf(out, " %d\n", down);
      }
    }
  }
  return err;
}

/* 1 while a maintenance window or silence covers the check (maint.h). */
static int write_maintenance(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out) {
  int err = family(out, "vantage_check_maintenance", "gauge",
                   "1 while a maintenance window or silence covers a check, else 0.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    err |= series(out, "vantage_check_maintenance", "check", ch->name, NULL, NULL, NULL, NULL);
    err |= vtg_buf_printf(out, " %d\n", vtg_maint_covers(c->maint, ch->name, ch->service, now_us));
  }
  return err;
}

static int write_incidents(vtg_coord_t *c, const open_inc_t *oi, vtg_buf_t *out) {
  int err = family(out, "vantage_check_incident_open", "gauge",
                   "1 while a check has an open incident that is not under maintenance.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    err |= series(out, "vantage_check_incident_open", "check", ch->name, "service", ch->service,
                  "kind", ch->kind);
    err |= vtg_buf_printf(out, " %d\n", oi[i].open);
  }
  err |= family(out, "vantage_check_incident_onset_timestamp_seconds", "gauge",
                "Onset of a check's open incident not under maintenance (unix seconds); absent "
                "while none is open.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    if (oi[i].onset == VTG_TIME_NONE) continue;
    err |= series(out, "vantage_check_incident_onset_timestamp_seconds", "check",
                  c->cfg.checks[i].name, NULL, NULL, NULL, NULL);
    err |= vtg_buf_printf(out, " %.3f\n", (double)oi[i].onset / 1e6);
  }
  /* Spread as data (spread.h), for the open incident: absent otherwise. */
  err |= family(out, "vantage_check_incident_severity", "gauge",
                "Open incident's severity: region-minutes down over the regions watching.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    if (!oi[i].open || oi[i].severity < 0) continue;
    err |= series(out, "vantage_check_incident_severity", "check", c->cfg.checks[i].name, NULL,
                  NULL, NULL, NULL);
    err |= vtg_buf_printf(out, " %.3f\n", oi[i].severity);
  }
  err |= family(out, "vantage_check_incident_peak_fraction", "gauge",
                "Open incident's largest share of the watching regions down at once (0..1).");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    if (!oi[i].open || oi[i].peak < 0) continue;
    err |= series(out, "vantage_check_incident_peak_fraction", "check", c->cfg.checks[i].name,
                  NULL, NULL, NULL, NULL);
    err |= vtg_buf_printf(out, " %.3f\n", oi[i].peak);
  }
  return err;
}

static int write_agents(vtg_coord_t *c, vtg_agent_t **agents, size_t n, vtg_buf_t *out) {
  int err = family(out, "vantage_agent_connected", "gauge", "1 while an agent is connected.");
  for (size_t i = 0; i < n && err == 0; i++) {
    err |= series(out, "vantage_agent_connected", "agent", agents[i]->id, "region",
                  agents[i]->region, NULL, NULL);
    err |= vtg_buf_printf(out, " %d\n", agents[i]->connected ? 1 : 0);
  }
  err |= family(out, "vantage_agent_last_seen_timestamp_seconds", "gauge",
                "When the last frame from an agent arrived (unix seconds).");
  for (size_t i = 0; i < n && err == 0; i++) {
    if (agents[i]->last_seen_us <= 0) continue;
    err |= series(out, "vantage_agent_last_seen_timestamp_seconds", "agent", agents[i]->id,
                  "region", agents[i]->region, NULL, NULL);
    err |= vtg_buf_printf(out, " %.3f\n", (double)agents[i]->last_seen_us / 1e6);
  }
  err |= family(out, "vantage_agent_clock_offset_seconds", "gauge",
                "An agent's clock minus the coordinator's; absent until estimated.");
  for (size_t i = 0; i < n && err == 0; i++) {
    if (!agents[i]->clock_known) continue;
    err |= series(out, "vantage_agent_clock_offset_seconds", "agent", agents[i]->id, "region",
                  agents[i]->region, NULL, NULL);
    err |= vtg_buf_printf(out, " %.6f\n", (double)agents[i]->clock_offset_us / 1e6);
  }
  err |= family(out, "vantage_agent_impaired", "gauge",
                "1 while the detector holds an agent's own network at fault.");
  for (size_t i = 0; i < n && err == 0; i++) {
    vtg_agent_status_t as;
    memset(&as, 0, sizeof as);
    if (c->detect != NULL) vtg_detect_agent_status(c->detect, agents[i]->idx, &as);
    err |= series(out, "vantage_agent_impaired", "agent", agents[i]->id, "region",
                  agents[i]->region, NULL, NULL);
    err |= vtg_buf_printf(out, " %d\n", as.impaired ? 1 : 0);
  }
  /* Per region: every reporting agent blamed on the region's own network
   * path (detect.h, VTG_BLAME_NETWORK), the case in which outages lists
   * nothing and the region's checks read unknown. */
  err |= family(out, "vantage_region_network_impaired", "gauge",
                "1 while all of a region's reporting agents are cut off by its network path.");
  for (size_t r = 0; r < c->n_regions && err == 0; r++) {
    int reporting = 0, network = 0;
    for (size_t i = 0; i < n; i++) {
      if (agents[i]->region_idx != r || !agents[i]->connected) continue;
      vtg_agent_status_t as;
      memset(&as, 0, sizeof as);
      if (c->detect != NULL) vtg_detect_agent_status(c->detect, agents[i]->idx, &as);
      reporting += as.checks > 0;
      network += as.checks > 0 && as.blame == VTG_BLAME_NETWORK;
    }
    err |= series(out, "vantage_region_network_impaired", "region", c->regions[r], NULL, NULL,
                  NULL, NULL);
    err |= vtg_buf_printf(out, " %d\n", reporting > 0 && network == reporting ? 1 : 0);
  }
  return err;
}

/* `check="C",region="R"[,phase="P"]` into lb (reset first), escaped. */
static int stat_labels(vtg_buf_t *lb, const char *check, const char *region, const char *phase) {
  vtg_buf_reset(lb);
  int err = vtg_buf_appends(lb, "check=\"");
  err |= vtg_metrics_label(lb, check);
  if (region != NULL) {
    err |= vtg_buf_appends(lb, "\",region=\"");
    err |= vtg_metrics_label(lb, region);
  }
  if (phase != NULL) err |= vtg_buf_printf(lb, "\",phase=\"%s", phase);
  err |= vtg_buf_appends(lb, "\"");
  return err;
}

/* An agent's certificate sighting counts for the expiry gauge while its
 * latest result of the check is at most this old: ten intervals, and at
 * least 15 minutes (an agent gone for good stops holding an old
 * certificate up; a slow or reconnecting one does not flap the gauge). */
static int64_t cert_fresh_us(const vtg_check_cfg_t *ch) {
  int64_t t = ch->interval_us > 0 && ch->interval_us < INT64_MAX / 10 ? 10 * ch->interval_us : 0;
  return t > 15 * 60 * 1000000LL ? t : 15 * 60 * 1000000LL;
}

/* Per (check, region) with live results since start, in config order then
 * region name order (checkstats.h): results by outcome and error class
 * (up and degraded always, down per class seen), phase histograms (phases
 * observed at least once); per check the earliest certificate expiry. */
static int write_checkstats(vtg_coord_t *c, const uint32_t *regions, int64_t now_us,
                            vtg_buf_t *out) {
  static const char *const outcomes[VTG_CHECKSTATS_N_OUTCOMES] = {"up", "degraded", "down"};
  const vtg_checkstats_t *cs = c->checkstats;
  vtg_buf_t lb;
  int err;

  vtg_buf_init(&lb, 64 * 1024);
  err = family(out, "vantage_check_results_total", "counter",
               "Probe results accepted since start, by outcome and error class.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0 && c->check_ids; i++) {
    for (size_t k = 0; k < c->n_regions && err == 0; k++) {
      const vtg_checkstats_slot_t *s = vtg_checkstats_slot(cs, c->check_ids[i], regions[k]);
      if (s == NULL) continue;
      err |= stat_labels(&lb, c->cfg.checks[i].name, c->regions[regions[k]], NULL);
      for (int o = 0; o < VTG_CHECKSTATS_N_OUTCOMES && err == 0; o++) {
        for (int e = 0; e < VTG_N_ERROR_CLASSES && err == 0; e++) {
          if (s->results[o][e] == 0 && (o == VTG_OUTCOME_DOWN - 1 || e != 0)) continue;
          const char *ec = vtg_wire_error_class_name((Vantage__ErrorClass)e);
          err |= vtg_buf_printf(out,
                                "vantage_check_results_total{%s,outcome=\"%s\",error_class=\"%s\"}"
                                " %" PRIu64 "\n",
                                lb.data, outcomes[o], ec, s->results[o][e]);
        }
      }
    }
  }
  err |= family(out, "vantage_check_phase_duration_seconds", "histogram",
                "Probe phase durations (dns, connect, tls, ttfb, total); phases not reached are "
                "not observed.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0 && c->check_ids; i++) {
    for (size_t k = 0; k < c->n_regions && err == 0; k++) {
      const vtg_checkstats_slot_t *s = vtg_checkstats_slot(cs, c->check_ids[i], regions[k]);
      for (int p = 0; s != NULL && p < VTG_CHECKSTATS_N_PHASES && err == 0; p++) {
        if (s->phase[p].count == 0) continue;
        err |= stat_labels(&lb, c->cfg.checks[i].name, c->regions[regions[k]],
                           vtg_checkstats_phase_name(p));
        err |= vtg_histo_write(out, "vantage_check_phase_duration_seconds", lb.data, &s->phase[p],
                               &vtg_histo_latency_bounds);
      }
    }
  }
  err |= family(out, "vantage_check_tls_cert_expiry_timestamp_seconds", "gauge",
                "Earliest TLS certificate notAfter in the agents' latest results (unix seconds); "
                "absent without TLS.");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0 && c->check_ids; i++) {
    int64_t exp;
    if (vtg_checkstats_cert_expiry(cs, c->check_ids[i], now_us - cert_fresh_us(&c->cfg.checks[i]),
                                   &exp) != 0)
      continue;
    err |= series(out, "vantage_check_tls_cert_expiry_timestamp_seconds", "check",
                  c->cfg.checks[i].name, NULL, NULL, NULL, NULL);
    err |= vtg_buf_printf(out, " %" PRId64 "\n", exp);
  }
  vtg_buf_free(&lb);
  return err;
}

/* The coordinator's own disk work: result log group commits and store
 * writes, as histograms (vtg_histo_io_bounds). */
static int write_timings(vtg_coord_t *c, vtg_buf_t *out) {
  int err = 0;
  if (c->rlog != NULL) {
    vtg_resultlog_counters_t lc;
    vtg_resultlog_counters(c->rlog, &lc);
    err |= family(out, "vantage_resultlog_commit_duration_seconds", "histogram",
                  "Result log group commits: write and fdatasync, off the loop thread.");
    err |= vtg_histo_write(out, "vantage_resultlog_commit_duration_seconds", NULL,
                           &lc.commit_seconds, &vtg_histo_io_bounds);
  }
  if (c->store != NULL) {
    err |= family(out, "vantage_store_write_duration_seconds", "histogram",
                  "SQLite store writes: each statement that changes the database, and each "
                  "COMMIT.");
    err |= vtg_histo_write(out, "vantage_store_write_duration_seconds", NULL,
                           vtg_store_write_seconds(c->store), &vtg_histo_io_bounds);
  }
  return err;
}

/* Uptime with coverage over the last 24 h of rollup minutes (rollup.h):
 * per (check, region) the check has data in; the ratio is absent while
 * nothing is known, the coverage says how much of the window is. The
 * store's part is cached per minute, so a scrape costs no SQL most of
 * the time. */
static int write_uptime(vtg_coord_t *c, const uint32_t *regions, vtg_buf_t *out) {
  static const char *const fams[][2] = {
      {"vantage_region_uptime_ratio",
       "Share of the known time in the window a region saw a check up or degraded; absent "
       "while nothing is known."},
      {"vantage_region_coverage_ratio",
       "Share of the window for which a region's state of a check is known (results "
       "covered it)."},
  };
  vtg_rollup_uptime_t *u = NULL, total;
  uint8_t *in = NULL;
  int err = 0;
  if (c->rollup == NULL || c->check_ids == NULL) return 0;
  u = calloc(c->n_regions ? c->n_regions : 1, sizeof *u);
  in = calloc(c->n_regions ? c->n_regions : 1, 1);
  /* One pass per check for both families: the lines are kept per family. */
  vtg_buf_t lines[2];
  vtg_buf_init(&lines[0], 0);
  vtg_buf_init(&lines[1], 0);
  if (u == NULL || in == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    if ((err = vtg_rollup_uptime(c->rollup, c->store, c->check_ids[i], c->regions, c->n_regions,
                                 VTG_ROLLUP_WINDOW_24H, u)) != 0)
      break;
    vtg_rollup_check_regions(c->rollup, ch, c->check_ids[i], c->regions, c->n_regions, u, in,
                             &total);
    for (size_t k = 0; k < c->n_regions && err == 0; k++) {
      uint32_t r = regions[k];
      if (!in[r]) continue;
      double up = vtg_rollup_uptime_ratio(&u[r]);
      if (up >= 0) {
        err |= series(&lines[0], fams[0][0], "check", ch->name, "region", c->regions[r], "window",
                      "24h");
        err |= vtg_buf_printf(&lines[0], " %.6g\n", up);
      }
      err |= series(&lines[1], fams[1][0], "check", ch->name, "region", c->regions[r], "window",
                    "24h");
      err |= vtg_buf_printf(&lines[1], " %.6g\n", vtg_rollup_coverage_ratio(&u[r]));
    }
  }
  for (int f = 0; f < 2 && err == 0; f++) {
    err |= family(out, fams[f][0], "gauge", fams[f][1]);
    if (lines[f].len > 0) err |= vtg_buf_append(out, lines[f].data, lines[f].len);
  }
out:
  vtg_buf_free(&lines[0]);
  vtg_buf_free(&lines[1]);
  free(u);
  free(in);
  return err;
}

int vtg_metrics_write(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out) {
  uint32_t *regions = NULL;
  vtg_agent_t **agents = NULL;
  open_inc_t *oi = NULL;
  size_t n_agents = 0, nc = c->cfg.n_checks ? c->cfg.n_checks : 1;
  int err = 0;

  if ((err = vtg__regions_sorted(c->regions, c->n_regions, &regions)) != 0) goto out;
  agents = malloc((c->n_agents ? c->n_agents : 1) * sizeof *agents);
  oi = malloc(nc * sizeof *oi);
  if (agents == NULL || oi == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < c->n_agents; i++)
    if (c->agents[i] != NULL && c->agents[i]->id != NULL) agents[n_agents++] = c->agents[i];
  qsort(agents, n_agents, sizeof *agents, cmp_agent_id);
  for (size_t i = 0; i < nc; i++) oi[i] = (open_inc_t){0, VTG_TIME_NONE, -1, -1};
  if (c->store != NULL && (err = open_incidents(c, now_us, oi)) != 0) goto out;

  err |= write_coordinator(c, now_us, out);
  err |= write_regions(c, regions, out);
  err |= write_uptime(c, regions, out);
  err |= write_incidents(c, oi, out);
  err |= vtg_service_metrics_write(c, now_us, out); /* service.c */
  err |= write_maintenance(c, now_us, out);
  err |= write_agents(c, agents, n_agents, out);
  err |= write_checkstats(c, regions, now_us, out);
  err |= write_timings(c, out);
  err |= vtg_burst_write_metrics(c, out);
  if (err != 0) err = VTG_ELIMIT; /* OR-ed codes: only "failed" is meaningful */
out:
  free(regions);
  free(agents);
  free(oi);
  return err;
}
