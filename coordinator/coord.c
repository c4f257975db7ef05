/* The coordinator daemon: owns the loop and the shared state (config, store,
 * detector, agent and region tables), starts the agent server and the HTTP
 * listener, drives the detector's watermark, reloads on SIGHUP and stops
 * cleanly on SIGTERM/SIGINT.
 *
 * Shutdown is one path for every case (signal or start-up failure): close
 * what is open, run the loop until every close callback has run, then free
 * the plain memory. */
#include "coord.h"

#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrs.h"
#include "burst.h"
#include "checkstats.h"
#include "http.h"
#include "incident.h"
#include "ingest.h"
#include "maint.h"
#include "resultlog.h"
#include "rollup.h"
#include "server.h"
#include "silence.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"
#include "vtg/wire.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define DETECT_TICK_MS 100
#define MAX_AGENTS 100000        /* without a registry any id may connect: bound the table */
#define MAX_REGIONS 10000
#define INCIDENT_JSON_CAP (4u << 20)

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* ---- agents and regions ---- */

vtg_agent_t *vtg_coord_agent_find(vtg_coord_t *c, const char *id) {
  for (size_t i = 0; i < c->n_agents; i++)
    if (strcmp(c->agents[i]->id, id) == 0) return c->agents[i];
  return NULL;
}

int vtg_coord_region_idx(vtg_coord_t *c, const char *name, uint32_t *out) {
  for (size_t i = 0; i < c->n_regions; i++) {
    if (strcmp(c->regions[i], name) == 0) {
      *out = (uint32_t)i;
      return 0;
    }
  }
  if (c->n_regions >= MAX_REGIONS) return VTG_ELIMIT;
  char **nr = realloc(c->regions, (c->n_regions + 1) * sizeof *nr);
  if (nr == NULL) return VTG_ENOMEM;
  c->regions = nr;
  char *copy = xstrdup(name);
  if (copy == NULL) return VTG_ENOMEM;
  uint32_t idx = (uint32_t)c->n_regions;
  int err = vtg_detect_set_region(c->detect, idx, copy);
  if (err) {
    free(copy);
    return err;
  }
  c->regions[c->n_regions++] = copy;
  *out = idx;
  return 0;
}

int vtg_coord_agent_get(vtg_coord_t *c, const char *id, const char *region, vtg_agent_t **out) {
  uint32_t ridx;
  int err = vtg_coord_region_idx(c, region, &ridx);
  if (err) return err;
  vtg_agent_t *a = vtg_coord_agent_find(c, id);
  if (a == NULL) {
    if (c->n_agents >= MAX_AGENTS) return VTG_ELIMIT;
    vtg_agent_t **na = realloc(c->agents, (c->n_agents + 1) * sizeof *na);
    if (na == NULL) return VTG_ENOMEM;
    c->agents = na;
    a = calloc(1, sizeof *a);
    if (a == NULL) return VTG_ENOMEM;
    a->id = xstrdup(id);
    a->region = xstrdup(region);
    a->country = xstrdup("");
    a->version = xstrdup("");
    a->address = xstrdup("");
    if (!a->id || !a->region || !a->country || !a->version || !a->address) goto nomem;
    a->idx = (uint32_t)c->n_agents;
    a->region_idx = ridx;
    if ((err = vtg_detect_set_agent(c->detect, a->idx, ridx)) != 0) goto fail;
    c->agents[c->n_agents++] = a;
    *out = a;
    return 0;
  nomem:
    err = VTG_ENOMEM;
  fail:
    free(a->id);
    free(a->region);
    free(a->country);
    free(a->version);
    free(a->address);
    free(a);
    return err;
  }
  if (a->region_idx != ridx) {
    char *r = xstrdup(region);
    if (r == NULL) return VTG_ENOMEM;
    if ((err = vtg_detect_set_agent(c->detect, a->idx, ridx)) != 0) {
      free(r);
      return err;
    }
    VTG_INFO("agent %s moved from region %s to %s", id, a->region, region);
    free(a->region);
    a->region = r;
    a->region_idx = ridx;
  }
  *out = a;
  return 0;
}

static void agent_free(vtg_agent_t *a) {
  if (a == NULL) return;
  free(a->id);
  free(a->region);
  free(a->country);
  free(a->version);
  free(a->address);
  free(a);
}

/* ---- checks ---- */

int vtg_coord_check_index(const vtg_coord_t *c, uint32_t check_id) {
  if (check_id >= c->check_index_len) return -1;
  return c->check_index[check_id];
}

/* Stable ids from the store for every check of cfg, and the id -> index
 * table for them. Store ids are small (one per check name ever seen), so
 * the table is dense. On failure nothing is changed. */
static int resolve_checks(vtg_coord_t *c, const vtg_coord_config_t *cfg, uint32_t **ids_out,
                          int32_t **index_out, uint32_t *index_len) {
  uint32_t *ids = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof *ids);
  int32_t *index = NULL;
  uint32_t max_id = 0;
  int err = 0;
  if (ids == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < cfg->n_checks; i++) {
    const vtg_check_cfg_t *ch = &cfg->checks[i];
    err = vtg_store_check_id(c->store, ch->name, ch->service, ch->kind, ch->url, &ids[i]);
    if (err) {
      VTG_ERROR("store: cannot register check %s: %s", ch->name, vtg_strerror(err));
      goto out;
    }
    if (ids[i] > max_id) max_id = ids[i];
  }
  if (max_id >= (1u << 24)) { /* a broken store, not a real config */
    VTG_ERROR("store: check id %" PRIu32 " out of range", max_id);
    err = VTG_ESTORE;
    goto out;
  }
  index = malloc(((size_t)max_id + 1) * sizeof *index);
  if (index == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (uint32_t i = 0; i <= max_id; i++) index[i] = -1;
  for (size_t i = 0; i < cfg->n_checks; i++) index[ids[i]] = (int32_t)i;
  *ids_out = ids;
  *index_out = index;
  *index_len = max_id + 1;
  return 0;
out:
  free(ids);
  return err;
}

/* How far back stored incidents are handed to the detector at start-up:
 * its run retention (6 h). */
#define RESTORE_WINDOW_US (6LL * 3600 * 1000000)

static int restore_incident(void *ctx, const char *id, const char *check, int64_t onset_us,
                            int64_t resolved_us) {
  vtg_coord_t *c = ctx;
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    if (strcmp(c->cfg.checks[i].name, check) != 0) continue;
    int err = vtg_detect_restore_incident(c->detect, c->check_ids[i], id, onset_us, resolved_us);
    if (err) VTG_WARN("incident %s: cannot restore: %s", id, vtg_strerror(err));
    return 0;
  }
  return 0; /* its check is gone from the config: it stays as stored */
}

static int declare_checks(vtg_coord_t *c) {
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    int err = vtg_detect_set_check(c->detect, c->check_ids[i], ch->name, ch->service, ch->kind,
                                   ch->interval_us, ch->timeout_us);
    if (err == 0) err = vtg_detect_set_control(c->detect, c->check_ids[i], ch->control);
    if (err) {
      VTG_ERROR("detector: cannot add check %s: %s", ch->name, vtg_strerror(err));
      return err;
    }
  }
  return 0;
}

/* ---- incidents ---- */

/* addrs.h's id function: a sub-check "CHECK@ADDR" gets a stable id from
 * the store like any check, so it keeps it across restarts. */
static int addrs_sub_id(void *ctx, const char *name, const char *service, const char *kind,
                        uint32_t *out) {
  vtg_coord_t *c = ctx;
  return vtg_store_check_id(c->store, name, service, kind, "", out);
}

/* The detector's callback: persist the incident as its contract JSON, or
 * drop it when later evidence showed it was not an outage. */
static void on_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  vtg_coord_t *c = ctx;
  char on[32], rs[32];
  int err;
  /* every_address checks (addrs.h): an incident of one address is a
   * partial incident of its check, unless the whole check was down. */
  vtg_addrs_verdict_t av;
  vtg_incident_t as_check;
  vtg_addrs_incident(c->addrs, inc, removed, &av);
  for (size_t i = 0; i < av.n_drop; i++) {
    VTG_INFO("incident %s withdrawn: the whole check %s was down", av.drop[i], inc->check_name);
    if ((err = vtg_store_incident_delete(c->store, av.drop[i])) != 0)
      VTG_ERROR("store: cannot delete incident %s: %s", av.drop[i], vtg_strerror(err));
  }
  if (av.skip) {
    if ((err = vtg_store_incident_delete(c->store, inc->id)) != 0)
      VTG_ERROR("store: cannot delete incident %s: %s", inc->id, vtg_strerror(err));
    return;
  }
  if (av.partial) {
    int ix = vtg_coord_check_index(c, av.check);
    as_check = *inc;
    as_check.check = av.check;
    if (ix >= 0) as_check.check_name = c->cfg.checks[ix].name;
    inc = &as_check;
  }
  if (removed) {
    VTG_INFO("incident %s (%s) withdrawn: an impaired agent, not an outage", inc->id,
             inc->check_name);
    if ((err = vtg_store_incident_delete(c->store, inc->id)) != 0)
      VTG_ERROR("store: cannot delete incident %s: %s", inc->id, vtg_strerror(err));
    return;
  }
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_buf_init(&b, INCIDENT_JSON_CAP);
  vtg_json_writer_init(&w, &b, 0);
  /* "maintenance": every wave began inside a window covering the check (maint.h) */
  vtg_incident_write_json_maint(&w, inc, vtg_clock_wall_us(),
                                vtg_maint_covers_incident(c->maint, inc));
  if ((err = vtg_json_finish(&w)) != 0 ||
      (err = vtg_incident_json_add_addresses(&b, av.partial, &av.addr, av.addr ? 1 : 0)) != 0) {
    VTG_ERROR("incident %s: cannot serialize: %s", inc->id, vtg_strerror(err));
    goto out;
  }
  if ((err = vtg_store_incident_put(c->store, inc->id, inc->check_name, inc->service,
                                    inc->onset_us, inc->resolved_us, b.data, b.len)) != 0) {
    VTG_ERROR("store: cannot save incident %s: %s", inc->id, vtg_strerror(err));
    goto out;
  }
  vtg_clock_format_rfc3339(inc->onset_us, on, sizeof on);
  if (inc->resolved_us == VTG_TIME_NONE)
    snprintf(rs, sizeof rs, "open");
  else
    vtg_clock_format_rfc3339(inc->resolved_us, rs, sizeof rs);
  VTG_INFO("incident %s %s/%s%s%s: %s, onset %s, resolved %s, %zu region(s), %zu wave(s), "
           "cause %s",
           inc->id, inc->service, inc->check_name, av.partial ? ": partial, address " : "",
           av.partial ? av.addr : "", vtg_scope_name(inc->scope), on, rs, inc->n_regions,
           inc->n_waves, vtg_wire_error_class_name((Vantage__ErrorClass)inc->cause));
out:
  vtg_buf_free(&b);
}

/* ---- watermark ---- */

/* How long after a restart the watermark waits for agents known from the
 * result log (at least; 3 x lateness when that is longer). */
#define RESUME_GRACE_MIN_US (45LL * 1000000)
/* Agents whose last logged result is older than this at start-up are not
 * waited for. */
#define RESUME_RECENT_US (15LL * 60 * 1000000)

/* Event time up to which results are complete: the slowest live agent's
 * own watermark. Live = connected, has sent a batch, and its last batch is
 * at most `lateness` old (a silent agent must not stall everyone). Never
 * beyond now, never backwards. With no live agent, now - lateness, except
 * during the first `lateness` after start: agents that were connected
 * before a restart reconnect then and replay their spools, and their
 * results should not arrive behind a watermark that ran ahead of them. */
static int64_t compute_watermark(const vtg_coord_t *c, int64_t now) {
  int64_t lateness = c->cfg.detect.lateness_us, wm = INT64_MAX;
  int any = 0;
  int64_t grace = 3 * lateness > RESUME_GRACE_MIN_US ? 3 * lateness : RESUME_GRACE_MIN_US;
  for (size_t i = 0; i < c->n_agents; i++) {
    const vtg_agent_t *a = c->agents[i];
    if (a->resume_hold_us > 0 && a->last_batch_us == 0 && now - c->started_us < grace) {
      /* Known from the result log and not back since the restart: its
       * spool holds what it probed while we were away, so event time
       * waits at its last logged probe (agents come back with a backoff
       * of up to 30 s), for at most the grace period. */
      if (a->resume_hold_us < wm) wm = a->resume_hold_us;
      any = 1;
      continue;
    }
    if (!a->connected || a->last_batch_us == 0 || a->complete_before_us <= 0) continue;
    if (now - a->last_batch_us > lateness) continue;
    if (a->complete_before_us < wm) wm = a->complete_before_us;
    any = 1;
  }
  if (!any) {
    if (now - c->started_us < lateness) return VTG_TIME_NONE;
    wm = now - lateness;
  }
  if (wm > now) wm = now;
  return wm;
}

static void on_detect_timer(uv_timer_t *t) {
  vtg_coord_t *c = container_of(t, vtg_coord_t, detect_timer);
  int64_t wm = compute_watermark(c, vtg_clock_wall_us());
  if (wm == VTG_TIME_NONE || wm <= c->watermark_us) return;
  c->watermark_us = wm;
  vtg_detect_advance(c->detect, wm);
  /* Checks down somewhere run at their incident cadence (burst.h). */
  vtg_burst_tick(c);
  /* Per-minute rollups: region states sampled at the watermark, completed
   * minutes persisted once a minute (rollup.h). */
  if (c->rollup)
    vtg_rollup_tick(c->rollup, c->detect, c->check_ids, c->cfg.n_checks, c->regions,
                    c->n_regions, c->store, wm);
}

/* ---- retention ---- */

#define RETENTION_EVERY_MS (3600u * 1000)

/* Start-up and hourly: the store's old rollup minutes and resolved
 * incidents (vtg_store_prune: one transaction; open incidents never go)
 * and the result log's old segments (vtg_resultlog_prune: never the one
 * being written; when a write is in flight it is skipped and the next
 * rotation or hour does it). Errors are logged and retried next hour. */
static void retention_run(vtg_coord_t *c) {
  int64_t now = vtg_clock_wall_us();
  vtg_store_prune_stats_t st;
  int err = vtg_store_prune(c->store, now - c->cfg.retention_rollups_us,
                            now - c->cfg.retention_incidents_us, &st);
  if (err)
    VTG_ERROR("retention: store: %s", vtg_strerror(err));
  else if (st.rollups > 0 || st.incidents > 0)
    VTG_INFO("retention: deleted %" PRIu64 " rollup minutes and %" PRIu64
             " resolved incidents", st.rollups, st.incidents);
  if (c->rlog && (err = vtg_resultlog_prune(c->rlog)) < 0 && err != UV_EBUSY)
    VTG_ERROR("retention: result log: %s", vtg_strerror(err));
}

static void on_retention_timer(uv_timer_t *t) {
  retention_run(container_of(t, vtg_coord_t, retention_timer));
}

/* The rollup load's region names -> the coordinator's interned indexes. */
static int rollup_region(void *ctx, const char *name, uint32_t *idx) {
  return vtg_coord_region_idx(ctx, name, idx);
}

/* ---- reload ---- */

static int str_differs(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") != 0;
}

/* SIGHUP: a new config replaces the running one only when it loads and
 * every check gets its stable id; otherwise the old one stays. Settings
 * that need new sockets, a new store or a new detector say so. */
static void coord_reload(vtg_coord_t *c) {
  char err[600];
  vtg_coord_config_t nc;
  uint32_t *ids = NULL, index_len = 0;
  int32_t *index = NULL;
  VTG_INFO("SIGHUP: reloading %s", c->config_path);
  if (vtg_config_load(c->config_path, &nc, err, sizeof err) != 0) {
    VTG_ERROR("config reload failed, keeping the running config: %s", err);
    return;
  }
  if (vtg_tls_conf_require(&nc.tls, c->config_path, err, sizeof err) != 0) {
    VTG_ERROR("config reload failed, keeping the running config: %s", err);
    vtg_config_free(&nc);
    return;
  }
  if (resolve_checks(c, &nc, &ids, &index, &index_len) != 0) {
    VTG_ERROR("config reload failed (store), keeping the running config");
    vtg_config_free(&nc);
    return;
  }
  if (str_differs(nc.agent_listen, c->cfg.agent_listen) ||
      str_differs(nc.http_listen, c->cfg.http_listen))
    VTG_WARN("reload: listen addresses change only on restart");
  if (str_differs(nc.store_path, c->cfg.store_path))
    VTG_WARN("reload: the store path changes only on restart");
  if (str_differs(nc.result_log_dir, c->cfg.result_log_dir) ||
      nc.result_log_retention_us != c->cfg.result_log_retention_us ||
      nc.result_log_max_bytes != c->cfg.result_log_max_bytes)
    VTG_WARN("reload: result_log settings change only on restart");
  if (str_differs(nc.log_level, c->cfg.log_level))
    VTG_WARN("reload: log_level changes only on restart");
  if (memcmp(&nc.detect, &c->cfg.detect, sizeof nc.detect) != 0)
    VTG_WARN("reload: detection settings change only on restart (lateness applies now)");

  /* Checks gone from the config leave the detector; their incidents stay. */
  size_t removed = 0, added = 0;
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    uint32_t id = c->check_ids[i];
    if (id < index_len && index[id] >= 0) continue;
    vtg_detect_remove_check(c->detect, id);
    vtg_addrs_remove_check(c->addrs, id); /* its per-address sub-checks too */
    removed++;
  }
  for (size_t i = 0; i < nc.n_checks; i++)
    if (vtg_coord_check_index(c, ids[i]) < 0) added++;

  /* The detection parameters of the running detector stay what they were;
   * keep them consistent with the config they came from. */
  vtg_detect_cfg_t keep = c->cfg.detect;
  keep.lateness_us = nc.detect.lateness_us;
  nc.detect = keep;
  vtg_config_free(&c->cfg);
  c->cfg = nc;
  free(c->check_ids);
  free(c->check_index);
  c->check_ids = ids;
  c->check_index = index;
  c->check_index_len = index_len;
  declare_checks(c); /* logged; a check the detector refuses stays unmonitored */
  for (size_t i = 0; i < c->cfg.n_checks; i++) /* every_address switched off */
    if (!c->cfg.checks[i].every_address) vtg_addrs_remove_check(c->addrs, c->check_ids[i]);
  vtg_silence_reload(c);
  vtg_checkstats_retain(c->checkstats, c->check_ids, c->cfg.n_checks);

  uint64_t now_ms = (uint64_t)(vtg_clock_wall_us() / 1000);
  c->checkset_version = c->checkset_version + 1 > now_ms ? c->checkset_version + 1 : now_ms;
  VTG_INFO("config reloaded: %zu checks (%zu added, %zu removed), %zu registry entries; "
           "CheckSet version %" PRIu64,
           c->cfg.n_checks, added, removed, c->cfg.n_registry, c->checkset_version);
  if (c->server) vtg_server_reload_tls(c->server);
  if (c->server) vtg_server_push_checksets(c->server);
}

/* ---- lifecycle ---- */

static void coord_stop(vtg_coord_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->server) vtg_server_stop(c->server);
  c->server = NULL;
  if (c->http) vtg_http_stop(c->http);
  c->http = NULL;
  /* After the server: no more appends. What is pending is still written. */
  vtg_resultlog_close(c->rlog);
  c->rlog = NULL;
  /* The handles are embedded in c, which outlives the loop run; no close
   * callback is needed to free them. */
  if (c->detect_timer.loop) uv_close((uv_handle_t *)&c->detect_timer, NULL);
  if (c->retention_timer.loop) uv_close((uv_handle_t *)&c->retention_timer, NULL);
  if (c->sig_hup.loop) uv_close((uv_handle_t *)&c->sig_hup, NULL);
  if (c->sig_term.loop) uv_close((uv_handle_t *)&c->sig_term, NULL);
  if (c->sig_int.loop) uv_close((uv_handle_t *)&c->sig_int, NULL);
}

static void on_signal(uv_signal_t *sig, int signum) {
  vtg_coord_t *c = sig->data;
  if (signum == SIGHUP) {
    if (!c->closing) coord_reload(c);
    return;
  }
  VTG_INFO("%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
  coord_stop(c);
}

static int start_signal(vtg_coord_t *c, uv_signal_t *s, int signum) {
  int err = uv_signal_init(c->loop, s);
  if (err) return err;
  s->data = c;
  return uv_signal_start(s, on_signal, signum);
}

static void coord_free(vtg_coord_t *c) {
  vtg_ingest_free(c);
  /* Every dirty minute, the current one included; a restart loads them and
   * its replay skips what they count (rollup.c). */
  if (c->rollup && c->store &&
      vtg_rollup_flush(c->rollup, c->store, c->regions, c->n_regions, INT64_MAX) != 0)
    VTG_ERROR("rollups: the last minutes could not be saved");
  vtg_rollup_free(c->rollup);
  vtg_addrs_free(c->addrs);
  vtg_detect_free(c->detect);
  vtg_silence_free(c);
  vtg_checkstats_free(c->checkstats);
  vtg_store_close(c->store);
  for (size_t i = 0; i < c->n_agents; i++) agent_free(c->agents[i]);
  free(c->agents);
  for (size_t i = 0; i < c->n_regions; i++) free(c->regions[i]);
  free(c->regions);
  free(c->check_ids);
  free(c->check_index);
  vtg_config_free(&c->cfg);
  free(c->config_path);
  free(c->log_level_override);
  free(c);
}

/* ---- result log ---- */

typedef struct replay_s {
  vtg_coord_t *c;
  int64_t since_us;
  vtg_arena_t arena;
} replay_t;

static int replay_one(void *ctx, const vtg_resultlog_rec_t *rec) {
  replay_t *r = ctx;
  return vtg_ingest_replay(r->c, rec, r->since_us, &r->arena);
}

/* Start-up, before any agent is accepted: the log's tail (the detector's
 * retention, RESTORE_WINDOW_US) goes back into the detector in the order
 * it arrived (per agent that is sequence order), every agent's epoch and
 * acknowledged sequence are restored (Welcome tells the truth after a
 * restart and replays are not counted twice), then the log is opened for
 * appending. Damaged records are skipped and counted. Returns 0 or -1
 * (logged). */
static int resultlog_start(vtg_coord_t *c) {
  vtg_resultlog_scan_stats_t st;
  int64_t t0 = vtg_clock_mono_us(), now = vtg_clock_wall_us();
  replay_t r = {.c = c, .since_us = now - RESTORE_WINDOW_US};
  vtg_arena_init(&r.arena, 64u << 20);
  int err = vtg_resultlog_scan(c->cfg.result_log_dir, replay_one, &r, &st);
  vtg_arena_free(&r.arena);
  if (err) {
    VTG_ERROR("result log %s: cannot read it back: %s", c->cfg.result_log_dir, vtg_strerror(err));
    return -1;
  }
  c->log_corrupt_total = st.corrupt;
  c->log_truncated_total = st.truncated;
  size_t waiting = 0;
  for (size_t i = 0; i < c->n_agents; i++) {
    vtg_agent_t *a = c->agents[i];
    if (a->resume_hold_us > 0 && a->resume_hold_us < now - RESUME_RECENT_US) a->resume_hold_us = 0;
    if (a->resume_hold_us > 0) waiting++;
  }
  if (st.records > 0 || st.corrupt > 0 || st.truncated > 0)
    VTG_INFO("result log %s: %" PRIu64 " records in %" PRIu64 " segments (%" PRIu64
             " bytes), %" PRIu64 " replayed into the detector, %zu agents restored (%zu recently "
             "active, waited for), %" PRIu64 " damaged stretches and %" PRIu64
             " torn tails skipped, %.1f ms",
             c->cfg.result_log_dir, st.records, st.segments, st.bytes, c->replayed_total,
             c->n_agents, waiting, st.corrupt, st.truncated,
             (double)(vtg_clock_mono_us() - t0) / 1000.0);
  if (st.corrupt > 0 || st.truncated > 0)
    VTG_WARN("result log %s: %" PRIu64 " damaged stretches and %" PRIu64
             " torn segment tails were skipped",
             c->cfg.result_log_dir, st.corrupt, st.truncated);
  vtg_resultlog_opts_t o = {
      .dir = c->cfg.result_log_dir,
      .retention_us = c->cfg.result_log_retention_us,
      .max_bytes = c->cfg.result_log_max_bytes,
  };
  if ((err = vtg_resultlog_open(c->loop, &o, vtg_ingest_durable, c, &c->rlog)) != 0) {
    VTG_ERROR("result log %s: cannot open it: %s", c->cfg.result_log_dir, vtg_strerror(err));
    return -1;
  }
  return 0;
}

/* Everything after the config is loaded. Returns 0 when the daemon ran
 * and was stopped, 1 on a start-up failure (logged). Either way the caller
 * drains the loop. */
static int coord_start(vtg_coord_t *c) {
  int err;
  if ((err = vtg_store_open(c->cfg.store_path, &c->store)) != 0) {
    VTG_ERROR("cannot open the store %s: %s", c->cfg.store_path, vtg_strerror(err));
    return 1;
  }
  vtg_detect_params_t p = {
      .fail_threshold = (int)c->cfg.detect.fail_threshold,
      .recover_threshold = (int)c->cfg.detect.recover_threshold,
      .min_regions = (int)c->cfg.detect.min_regions,
      .merge_gap_us = c->cfg.detect.merge_gap_us,
      .settle_us = c->cfg.detect.settle_us, /* 0: auto, per check */
      .stale_us = 0,
  };
  if ((c->detect = vtg_detect_new(&p, on_incident, c)) == NULL) {
    VTG_ERROR("cannot create the detector: out of memory");
    return 1;
  }
  if ((c->checkstats = vtg_checkstats_new()) == NULL) {
    VTG_ERROR("cannot create the result statistics: out of memory");
    return 1;
  }
  if ((c->addrs = vtg_addrs_new(c->detect, addrs_sub_id, c)) == NULL) {
    VTG_ERROR("cannot create the address table: out of memory");
    return 1;
  }
  if (resolve_checks(c, &c->cfg, &c->check_ids, &c->check_index, &c->check_index_len) != 0)
    return 1;
  if (declare_checks(c) != 0) return 1;
  uint64_t max_seq = 0;
  if ((err = vtg_store_incident_max_seq(c->store, &max_seq)) != 0) {
    VTG_ERROR("store: cannot read incident ids: %s", vtg_strerror(err));
    return 1;
  }
  vtg_detect_set_id_base(c->detect, max_seq + 1);
  /* Incidents still open, or recent enough to come back as a new wave,
   * keep their ids when the same outage is derived again. */
  if ((err = vtg_store_incidents_recent(c->store, vtg_clock_wall_us() - RESTORE_WINDOW_US,
                                        restore_incident, c)) != 0) {
    VTG_ERROR("store: cannot read recent incidents: %s", vtg_strerror(err));
    return 1;
  }

  /* Before the replay: re-derived incidents meet the windows they had. */
  if (vtg_silence_start(c) != 0) return 1;
  /* Retention first, so nothing about to be deleted is loaded; then the
   * rollups of the last hours, then the replay, which skips the minutes
   * they already count. */
  retention_run(c);
  if (c->cfg.result_log_retention_us < RESTORE_WINDOW_US)
    VTG_WARN("result log retention %" PRId64 "s is shorter than the %llds a restart replays: "
             "a restart will rebuild less than that",
             c->cfg.result_log_retention_us / 1000000, RESTORE_WINDOW_US / 1000000);
  if ((c->rollup = vtg_rollup_new(0)) == NULL) {
    VTG_ERROR("cannot create the rollups: out of memory");
    return 1;
  }
  if ((err = vtg_rollup_load(c->rollup, c->store, vtg_clock_wall_us(), rollup_region, c)) != 0) {
    VTG_ERROR("store: cannot load the rollups: %s", vtg_strerror(err));
    return 1;
  }
  vtg_rollup_set_replay(c->rollup, 1);
  err = resultlog_start(c);
  vtg_rollup_set_replay(c->rollup, 0);
  if (err != 0) return 1;

  c->started_us = vtg_clock_wall_us();
  c->watermark_us = VTG_TIME_NONE;
  /* Versions grow across restarts too, so an agent can always tell a
   * newer set from the one it kept. */
  c->checkset_version = (uint64_t)(c->started_us / 1000);

  if ((err = start_signal(c, &c->sig_hup, SIGHUP)) || (err = start_signal(c, &c->sig_term, SIGTERM)) ||
      (err = start_signal(c, &c->sig_int, SIGINT))) {
    VTG_ERROR("cannot install signal handlers: %s", uv_strerror(err));
    return 1;
  }
  if ((err = uv_timer_init(c->loop, &c->detect_timer)) != 0 ||
      (err = uv_timer_start(&c->detect_timer, on_detect_timer, DETECT_TICK_MS,
                            DETECT_TICK_MS)) != 0) {
    VTG_ERROR("cannot start the detector timer: %s", uv_strerror(err));
    return 1;
  }
  if ((err = uv_timer_init(c->loop, &c->retention_timer)) != 0 ||
      (err = uv_timer_start(&c->retention_timer, on_retention_timer, RETENTION_EVERY_MS,
                            RETENTION_EVERY_MS)) != 0) {
    VTG_ERROR("cannot start the retention timer: %s", uv_strerror(err));
    return 1;
  }
  if (vtg_server_start(c, c->cfg.agent_listen, &c->server) != 0) return 1;
  if ((err = vtg_http_start(c, c->cfg.http_listen, &c->http)) != 0) {
    VTG_ERROR("cannot start the HTTP listener on %s: %s", c->cfg.http_listen, vtg_strerror(err));
    return 1;
  }
  VTG_INFO("vantage-coordinator %s serving %zu checks of %zu services (%s registry)",
           VTG_VERSION, c->cfg.n_checks, c->cfg.n_services,
           c->cfg.has_registry ? "with a" : "no");
  return 0;
}

int vtg_coord_serve_opts(const char *config_path, const char *log_level) {
  char err[600];
  int rc = 0, uverr;
  enum vtg_log_level lv = VTG_LOG_INFO;
  vtg_coord_t *c = calloc(1, sizeof *c);
  uv_loop_t loop;
  if (c == NULL) {
    fprintf(stderr, "vantage-coordinator: out of memory\n");
    return 1;
  }
  c->config_path = xstrdup(config_path);
  if (c->config_path == NULL) {
    free(c);
    return 1;
  }
  if (vtg_config_load(config_path, &c->cfg, err, sizeof err) != 0 ||
      vtg_tls_conf_require(&c->cfg.tls, config_path, err, sizeof err) != 0) {
    fprintf(stderr, "vantage-coordinator: %s\n", err);
    coord_free(c);
    return 2;
  }
  if (log_level) {
    if (vtg_log_parse_level(log_level, &lv) != 0) {
      fprintf(stderr, "vantage-coordinator: unknown log level '%s'\n", log_level);
      coord_free(c);
      return 2;
    }
    c->log_level_override = xstrdup(log_level);
  } else {
    vtg_log_parse_level(c->cfg.log_level, &lv); /* validated by the config */
  }
  vtg_log_set_level(lv);

  /* A peer that goes away while we write must be an EPIPE on that one
   * connection, not the death of the daemon (libuv writes with write(2)). */
  signal(SIGPIPE, SIG_IGN);

  if ((uverr = uv_loop_init(&loop)) != 0) {
    VTG_ERROR("cannot create the event loop: %s", uv_strerror(uverr));
    coord_free(c);
    return 1;
  }
  c->loop = &loop;
  if (coord_start(c) != 0) {
    rc = 1;
    coord_stop(c);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  /* Every handle is closed now; a busy loop here is a leak to fix. */
  if ((uverr = uv_loop_close(&loop)) != 0)
    VTG_ERROR("event loop not empty at exit: %s", uv_strerror(uverr));
  coord_free(c);
  if (rc == 0) VTG_INFO("stopped");
  return rc;
}

int vtg_coord_serve(const char *config_path) {
  return vtg_coord_serve_opts(config_path, NULL);
}
