/* The agent's lifecycle: owns the check set pushed by the coordinator, the
 * scheduler that fires each check at its phase, the probes in flight, the
 * uplink, and the orderly shutdown on SIGTERM/SIGINT. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "metrics.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/histo.h"
#include "vtg/httpd.h"
#include "vtg/log.h"

#define MAX_CHECKS 100000
#define MIN_INTERVAL_MS 100

typedef struct check_s {
  vtg_sched_entry_t entry;
  uint32_t id;
  char *name;
  vtg_check_spec_t *spec;    /* what to probe and how (a reference) */
  uint32_t interval_ms;
  uint32_t timeout_ms;
  uint32_t phase_ms;
  int64_t last_start_us;     /* wall clock of its latest probe start, 0 = none yet */
  int probe_on_request;      /* the running probe was asked for by a ProbeNow */
  vtg_probe_t *probe;        /* the running probe, at most one */
  uint64_t skipped;          /* turns skipped because the last probe still ran */
  uint64_t probes[VTG_PROBE_N_OUTCOMES]; /* finished probes by outcome, for /metrics */
  int keep;                  /* scratch while a CheckSet is applied */
} check_t;

struct vtg_agent_s {
  uv_loop_t *loop;
  const vtg_probe_config_t *cfg;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  vtg_sched_t sched;
  vtg_curl_uv_t cu;
  vtg_check_env_t env;       /* what every probe may use */
  vtg_uplink_t up;
  check_t **checks;          /* sorted by id */
  size_t n_checks;
  vtg_probe_t *inflight;     /* probes running, including orphans */
  uint64_t checkset_version;
  uint64_t rng;
  int stopping;
  int pending_closes;
  /* How late probes start against their planned time, reported once a
   * minute: a loaded agent shows up here before its timings go wrong. */
  struct {
    int64_t since_us;         /* start of the reporting period */
    uint64_t started, skipped;
    uint64_t lag_hist[24];    /* bucket i: lag < 2^i * 16 us (last: larger) */
    int64_t lag_max_us;
  } stats;
  vtg_histo_t start_lag;     /* since start, for /metrics (seconds) */
  vtg_httpd_t *httpd;        /* the /metrics listener, NULL when off */
};

#define STATS_PERIOD_US (60LL * 1000000)

/* The upper bound of the histogram bucket holding quantile q, in us. */
static int64_t lag_quantile(const vtg_agent_t *a, double q) {
  uint64_t n = 0, seen = 0;
  for (int i = 0; i < 24; i++) n += a->stats.lag_hist[i];
  if (n == 0) return 0;
  for (int i = 0; i < 24; i++) {
    seen += a->stats.lag_hist[i];
    if ((double)seen >= q * (double)n)
      return i == 23 || (16LL << i) > a->stats.lag_max_us ? a->stats.lag_max_us : 16LL << i;
  }
  return a->stats.lag_max_us;
}

static void stats_report(vtg_agent_t *a, int64_t now) {
  if (a->stats.started + a->stats.skipped > 0)
    VTG_INFO("last %" PRId64 " s: %" PRIu64 " probes started, %" PRIu64
             " turns skipped; start lag p50 <= %.3f ms, p99 <= %.3f ms, max %.3f ms",
             (now - a->stats.since_us) / 1000000, a->stats.started, a->stats.skipped,
             (double)lag_quantile(a, 0.5) / 1e3, (double)lag_quantile(a, 0.99) / 1e3,
             (double)a->stats.lag_max_us / 1e3);
  memset(&a->stats, 0, sizeof a->stats);
  a->stats.since_us = now;
}

static void stats_note_start(vtg_agent_t *a, int64_t lag_us, int skipped) {
  if (skipped) {
    a->stats.skipped++;
    return;
  }
  a->stats.started++;
  if (lag_us < 0) lag_us = 0;
  vtg_histo_observe(&a->start_lag, &vtg_histo_latency_bounds, (double)lag_us / 1e6);
  int i = 0;
  while (i < 23 && lag_us >= (16LL << i)) i++;
  a->stats.lag_hist[i]++;
  if (lag_us > a->stats.lag_max_us) a->stats.lag_max_us = lag_us;
}

/* ----------------------------------------------------------------- checks */

static void check_free(check_t *c) {
  if (c == NULL) return;
  free(c->name);
  vtg_check_spec_unref(c->spec);
  free(c);
}

static int cmp_check(const void *a, const void *b) {
  const check_t *x = *(check_t *const *)a, *y = *(check_t *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static check_t *find_check(vtg_agent_t *a, uint32_t id) {
  size_t lo = 0, hi = a->n_checks;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a->checks[mid]->id == id) return a->checks[mid];
    if (a->checks[mid]->id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static uint64_t rng_next(vtg_agent_t *a) {
  uint64_t x = a->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  a->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static char *dup_str(const char *s) {
  return strdup(s ? s : "");
}

/* Refuses checks the agent cannot schedule; the reason goes to the log.
 * What to probe is validated by vtg_check_spec_new. */
static int check_valid(const Vantage__Check *m) {
  const char *why = NULL;
  if (m->interval_ms < MIN_INTERVAL_MS) why = "interval below 100 ms";
  if (why != NULL) {
    VTG_WARN("ignoring check %u (%s): %s", m->id, m->name ? m->name : "?", why);
    return 0;
  }
  return 1;
}

/* Copies the definition of m into c (in place, keeping c's run state; a
 * probe in flight keeps its own reference to the old spec). Returns 0,
 * VTG_EINVAL (logged; c keeps its old definition) or VTG_ENOMEM. */
static int check_set_def(vtg_agent_t *a, check_t *c, const Vantage__Check *m) {
  char why[200];
  vtg_check_spec_t *spec = NULL;
  /* A probe may not outlive its turn: the next one would be skipped. */
  uint32_t timeout_ms = m->timeout_ms > 0 && m->timeout_ms < m->interval_ms ? m->timeout_ms
                                                                            : m->interval_ms;
  char *name = dup_str(m->name);
  if (name == NULL) return VTG_ENOMEM;
  int rc = vtg_check_spec_new(m, timeout_ms, &spec, why, sizeof why);
  if (rc != 0) {
    if (rc == VTG_EINVAL) VTG_WARN("ignoring check %u (%s): %s", m->id, name, why);
    free(name);
    return rc;
  }
  free(c->name);
  vtg_check_spec_unref(c->spec);
  c->id = m->id;
  c->name = name;
  c->spec = spec;
  c->interval_ms = m->interval_ms;
  c->timeout_ms = timeout_ms;
  /* A phase outside the interval means none was assigned: pick one at
   * random so this agent's checks do not all fire together. */
  c->phase_ms = m->phase_ms < m->interval_ms ? m->phase_ms
                                             : (uint32_t)(rng_next(a) % m->interval_ms);
  return 0;
}

/* ------------------------------------------------------------------ probes */

static void probe_done(vtg_probe_t *p, const vtg_probe_result_t *r);

static void inflight_unlink(vtg_agent_t *a, vtg_probe_t *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    a->inflight = p->next;
  if (p->next) p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

/* Starts a probe of c unless one is still running (then the turn is skipped
 * and counted, never queued). */
static void run_check(vtg_agent_t *a, check_t *c) {
  if (c->probe != NULL && c->probe_on_request) {
    /* A confirmation probe (ProbeNow) that is still running stands for this
     * turn: not a hanging target, so not a skipped turn (that one alerts). */
    VTG_DEBUG("check %u (%s): the probe asked for by the coordinator is still running; turn "
              "left to it", c->id, c->name);
    return;
  }
  if (c->probe != NULL) {
    c->skipped++;
    /* A hanging target skips every turn: say so, but not every time. */
    vtg_log(c->skipped == 1 || c->skipped % 100 == 0 ? VTG_LOG_WARN : VTG_LOG_DEBUG,
            "check %u (%s): previous probe still running, turn skipped (%" PRIu64 " so far)",
            c->id, c->name, c->skipped);
    return;
  }
  vtg_probe_t *p = NULL;
  int rc = vtg_probe_start(&a->env, c->spec, probe_done, c, &p);
  if (rc != 0) {
    VTG_ERROR("check %u (%s): could not start a probe: %s", c->id, c->name, vtg_strerror(rc));
    return;
  }
  VTG_DEBUG("check %u (%s): %s %s", c->id, c->name, c->spec->method,
            c->spec->url ? c->spec->url : c->spec->target ? c->spec->target : c->spec->dns_name);
  c->probe = p;
  c->probe_on_request = 0;
  c->last_start_us = vtg_clock_wall_us();
  p->next = a->inflight;
  if (p->next) p->next->prev = p;
  a->inflight = p;
}

/* A result of a probe that is still running (every_address: one per
 * address before the last): counted and sent like a final one. */
static void probe_emit(vtg_probe_t *p, const vtg_probe_result_t *r) {
  vtg_agent_t *a = p->env->data;
  check_t *c = p->data; /* NULL when the check was removed meanwhile */
  if (c != NULL) {
    int k = vtg_probe_metrics_outcome_idx(r->outcome);
    if (k >= 0) c->probes[k]++;
  }
  VTG_DEBUG("check %u: %s/%s addr %s total %u us%s%s", r->check_id,
            vtg_wire_outcome_name(r->outcome), vtg_wire_error_class_name(r->error_class),
            r->resolved_addr, r->total_us, r->error_detail[0] ? ": " : "", r->error_detail);
  vtg_uplink_push(&a->up, r);
}

static void probe_done(vtg_probe_t *p, const vtg_probe_result_t *r) {
  vtg_agent_t *a = p->env->data;
  check_t *c = p->data; /* NULL when the check was removed meanwhile */
  inflight_unlink(a, p);
  if (c != NULL) {
    int k = vtg_probe_metrics_outcome_idx(r->outcome);
    c->probe = NULL;
    if (k >= 0) c->probes[k]++;
  }
  VTG_DEBUG("check %u: %s/%s status %u addr %s dns %u connect %u tls %u ttfb %u total %u us, "
            "%" PRIu64 " bytes%s%s",
            r->check_id, vtg_wire_outcome_name(r->outcome),
            vtg_wire_error_class_name(r->error_class), r->http_status, r->resolved_addr,
            r->dns_us, r->connect_us, r->tls_us, r->ttfb_us, r->total_us, r->bytes,
            r->error_detail[0] ? ": " : "", r->error_detail);
  vtg_uplink_push(&a->up, r);
}

static void sched_fire(vtg_sched_t *s, vtg_sched_entry_t *e) {
  vtg_agent_t *a = s->data;
  check_t *c = container_of(e, check_t, entry);
  int64_t now_us = vtg_clock_wall_us();
  uint64_t skipped_before = c->skipped;
  run_check(a, c);
  stats_note_start(a, now_us - e->due_us, c->skipped != skipped_before);
  if (a->stats.since_us == 0) a->stats.since_us = now_us;
  if (now_us - a->stats.since_us >= STATS_PERIOD_US) stats_report(a, now_us);
  int64_t next = vtg_sched_next_due(vtg_clock_wall_us(), c->interval_ms, c->phase_ms);
  if (vtg_sched_add(&a->sched, &c->entry, next) != 0)
    VTG_ERROR("check %u (%s): out of memory rescheduling it", c->id, c->name);
}

/* ------------------------------------------------------------- uplink hooks */

static void on_check_set(vtg_uplink_t *u, const Vantage__CheckSet *cs) {
  vtg_agent_t *a = u->data;
  size_t n = cs->n_checks < MAX_CHECKS ? cs->n_checks : MAX_CHECKS;
  /* Room for the old checks too: the out-of-memory path keeps them. */
  check_t **next = calloc(n + a->n_checks + 1, sizeof *next);
  size_t nn = 0, added = 0, kept = 0, removed = 0;
  int64_t now = vtg_clock_wall_us();

  if (next == NULL) {
    VTG_ERROR("out of memory applying CheckSet %" PRIu64 "; keeping the old set",
              (uint64_t)cs->version);
    return;
  }
  if (cs->n_checks > MAX_CHECKS)
    VTG_WARN("CheckSet has %zu checks; running the first %d", cs->n_checks, MAX_CHECKS);
  for (size_t i = 0; i < a->n_checks; i++) a->checks[i]->keep = 0;

  for (size_t i = 0; i < n; i++) {
    const Vantage__Check *m = cs->checks[i];
    if (!check_valid(m)) continue;
    int dup = 0;
    for (size_t j = 0; j < nn && !dup; j++) dup = next[j]->id == m->id;
    if (dup) {
      VTG_WARN("CheckSet repeats check id %u; ignoring the repeat", m->id);
      continue;
    }
    check_t *c = find_check(a, m->id);
    int is_new = c == NULL;
    uint32_t old_iv = c ? c->interval_ms : 0, old_ph = c ? c->phase_ms : 0;
    if (is_new) {
      c = calloc(1, sizeof *c);
      if (c == NULL) goto oom;
      vtg_sched_entry_init(&c->entry);
    }
    int rc = check_set_def(a, c, m);
    if (rc != 0) {
      if (is_new) free(c);
      if (rc == VTG_EINVAL) continue; /* logged; an old check of that id goes away */
      goto oom;
    }
    c->entry.period_us = (int64_t)c->interval_ms * 1000;
    if (is_new || c->interval_ms != old_iv || c->phase_ms != old_ph) {
      /* A moved phase or interval (the fleet re-phased, or the incident
       * cadence): the next turn keeps at least interval/4 after the last
       * probe and no gap grows past the old interval plus the new one
       * (vtg_sched_rephase). */
      int64_t due = is_new ? vtg_sched_next_due(now, c->interval_ms, c->phase_ms)
                           : vtg_sched_rephase(now, c->last_start_us,
                                               c->entry.idx != SIZE_MAX ? c->entry.due_us : 0,
                                               old_iv, c->interval_ms, c->phase_ms);
      if (vtg_sched_add(&a->sched, &c->entry, due) != 0) {
        if (is_new) check_free(c);
        goto oom;
      }
    }
    c->keep = 1;
    next[nn++] = c;
    if (is_new)
      added++;
    else
      kept++;
  }
  /* Linear duplicate detection above is quadratic for huge sets; sets are
   * bounded by MAX_CHECKS and pushed rarely, so clarity wins. */
  for (size_t i = 0; i < a->n_checks; i++) {
    check_t *c = a->checks[i];
    if (c->keep) continue;
    vtg_sched_remove(&a->sched, &c->entry);
    if (c->probe != NULL) c->probe->data = NULL; /* its result still goes up */
    check_free(c);
    removed++;
  }
  free(a->checks);
  qsort(next, nn, sizeof *next, cmp_check);
  a->checks = next;
  a->n_checks = nn;
  a->checkset_version = cs->version;
  VTG_INFO("CheckSet %" PRIu64 ": %zu checks (%zu new, %zu kept, %zu removed)",
           (uint64_t)cs->version, nn, added, kept, removed);
  return;

oom:
  /* Undo nothing that was kept; new checks made so far are in next and
   * scheduled: keep them too rather than half-apply. */
  VTG_ERROR("out of memory applying CheckSet %" PRIu64 "; applied partially",
            (uint64_t)cs->version);
  for (size_t i = 0; i < a->n_checks; i++) {
    if (!a->checks[i]->keep) next[nn++] = a->checks[i];
  }
  free(a->checks);
  qsort(next, nn, sizeof *next, cmp_check);
  a->checks = next;
  a->n_checks = nn;
}

static void on_probe_now(vtg_uplink_t *u, const Vantage__ProbeNow *pn) {
  vtg_agent_t *a = u->data;
  for (size_t i = 0; i < pn->n_check_ids; i++) {
    check_t *c = find_check(a, pn->check_ids[i]);
    if (c == NULL) {
      VTG_WARN("ProbeNow for unknown check %u", pn->check_ids[i]);
      continue;
    }
    if (c->probe != NULL) {
      /* Already probing it: that result is the confirmation asked for. */
      VTG_DEBUG("ProbeNow for check %u (%s): a probe is running already", c->id, c->name);
      continue;
    }
    run_check(a, c);
    if (c->probe != NULL) c->probe_on_request = 1;
  }
}

static int64_t in_flight_min_start(vtg_uplink_t *u) {
  vtg_agent_t *a = u->data;
  int64_t m = INT64_MAX;
  for (vtg_probe_t *p = a->inflight; p != NULL; p = p->next)
    if (p->start_us < m) m = p->start_us;
  return m;
}

/* ---------------------------------------------------------------- /metrics */

/* Copies the counters into a snapshot and renders it (metrics.c). */
static int agent_metrics(vtg_agent_t *a, vtg_buf_t *out) {
  const vtg_probe_config_t *cfg = a->cfg;
  vtg_probe_check_metrics_t *cm = calloc(a->n_checks ? a->n_checks : 1, sizeof *cm);
  vtg_spool_stats_t st;
  int err;

  if (cm == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < a->n_checks; i++) {
    const check_t *c = a->checks[i];
    cm[i].name = c->name;
    memcpy(cm[i].probes, c->probes, sizeof cm[i].probes);
    cm[i].skipped = c->skipped;
  }
  memset(&st, 0, sizeof st);
  vtg_spool_get_stats(a->up.spool, &st);
  uint64_t made = vtg_spool_next_seq(a->up.spool) - 1, acked = vtg_spool_acked(a->up.spool);
  vtg_probe_metrics_t m = {
      .version = VTG_VERSION,
      .agent = cfg->id,
      .region = cfg->region,
      .checks = cm,
      .n_checks = a->n_checks,
      .start_lag = &a->start_lag,
      .spool_bytes = st.bytes,
      .spool_max_bytes = cfg->spool_max_bytes ? cfg->spool_max_bytes : VTG_SPOOL_MAX_BYTES_DEFAULT,
      .spool_unacked = made > acked ? made - acked : 0,
      .spool_dropped = st.dropped_results,
      .uplink_state = a->up.state,
      .uplink_reconnects = a->up.reconnects,
      .results_acked = a->up.results_acked,
  };
  err = vtg_probe_metrics_write(&m, out);
  free(cm);
  return err;
}

/* The agent's listener serves /metrics only. */
static void agent_http(void *ctx, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp) {
  vtg_agent_t *a = ctx;
  int err;
  if (strcmp(req->path, "/metrics") != 0) {
    vtg_httpd_error(resp, 404, "not found (this listener serves /metrics)", NULL);
    return;
  }
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    vtg_httpd_error(resp, 405, "only GET and HEAD are served", "Allow: GET, HEAD\r\n");
    return;
  }
  resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
  if ((err = agent_metrics(a, &resp->body)) != 0)
    vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
}

/* --------------------------------------------------------------- lifecycle */

static void agent_free(vtg_agent_t *a) {
  for (size_t i = 0; i < a->n_checks; i++) check_free(a->checks[i]);
  free(a->checks);
  free(a);
}

static void part_closed(vtg_agent_t *a) {
  if (--a->pending_closes == 0) {
    VTG_INFO("stopped");
    agent_free(a);
  }
}

static void signal_closed(uv_handle_t *h) {
  part_closed(h->data);
}
static void sched_closed(vtg_sched_t *s) {
  part_closed(s->data);
}
static void cu_closed(vtg_curl_uv_t *cu) {
  part_closed(cu->data);
}
static void uplink_closed(vtg_uplink_t *u) {
  part_closed(u->data);
}

/* Aborts the probes in flight (their results would have nowhere to go),
 * then closes every handle; the agent frees itself after the last one. */
static void agent_stop(vtg_agent_t *a) {
  if (a->stopping) return;
  a->stopping = 1;
  stats_report(a, vtg_clock_wall_us());
  VTG_INFO("stopping");
  /* The listener frees itself in its own close callbacks and calls us no
   * more after this. */
  vtg_httpd_stop(a->httpd);
  a->httpd = NULL;
  while (a->inflight != NULL) {
    vtg_probe_t *p = a->inflight;
    check_t *c = p->data;
    inflight_unlink(a, p);
    if (c != NULL) c->probe = NULL;
    vtg_probe_abort(p);
  }
  a->pending_closes = 5;
  uv_close((uv_handle_t *)&a->sigterm, signal_closed);
  uv_close((uv_handle_t *)&a->sigint, signal_closed);
  vtg_sched_close(&a->sched, sched_closed);
  vtg_curl_uv_close(&a->cu, cu_closed);
  vtg_uplink_close(&a->up, uplink_closed);
}

static void signal_cb(uv_signal_t *h, int signum) {
  vtg_agent_t *a = h->data;
  VTG_INFO("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  agent_stop(a);
}

int vtg_agent_start(uv_loop_t *loop, const vtg_probe_config_t *cfg) {
  int rc, sigs = 0;
  vtg_agent_t *a = calloc(1, sizeof *a);
  if (a == NULL) return VTG_ENOMEM;
  a->loop = loop;
  a->cfg = cfg;
  rc = uv_random(NULL, NULL, &a->rng, sizeof a->rng, 0, NULL);
  if (rc != 0) goto out_free;
  if (a->rng == 0) a->rng = 0x9E3779B97F4A7C15ULL;

  /* Set up in an order that lets every failure unwind with plain frees or
   * closes of what exists so far. */
  a->sched.data = a;
  if ((rc = vtg_sched_init(loop, &a->sched, sched_fire)) != 0) goto out_free;
  a->cu.data = a;
  if ((rc = vtg_curl_uv_init(loop, &a->cu, vtg_http_probe_done)) != 0) goto out_sched;
  a->env.data = a;
  a->env.loop = loop;
  a->env.cu = &a->cu;
  a->env.source_address = cfg->source_address;
  a->env.ca_file = cfg->ca_file;
  a->env.emit = probe_emit;
  a->sigterm.data = a;
  a->sigint.data = a;
  if ((rc = uv_signal_init(loop, &a->sigterm)) != 0) goto out_cu;
  sigs = 1;
  if ((rc = uv_signal_init(loop, &a->sigint)) != 0) goto out_cu;
  sigs = 2;
  if ((rc = uv_signal_start(&a->sigterm, signal_cb, SIGTERM)) != 0 ||
      (rc = uv_signal_start(&a->sigint, signal_cb, SIGINT)) != 0)
    goto out_cu;
  if (cfg->metrics_listen != NULL) {
    vtg_httpd_opts_t ho = {.name = "metrics"};
    if ((rc = vtg_httpd_start(loop, cfg->metrics_listen, &ho, agent_http, a, &a->httpd)) != 0)
      goto out_cu;
  }
  vtg_uplink_hooks_t hooks = {
      .on_check_set = on_check_set,
      .on_probe_now = on_probe_now,
      .in_flight_min_start = in_flight_min_start,
  };
  a->up.data = a;
  if ((rc = vtg_uplink_init(loop, &a->up, cfg, &hooks)) != 0) goto out_cu;
  VTG_INFO("vantage-probe %s started; coordinator %s:%u%s%s", VTG_VERSION, cfg->coord_host,
           (unsigned)cfg->coord_port, cfg->source_address ? ", source " : "",
           cfg->source_address ? cfg->source_address : "");
  return 0;

  /* Failure paths: the handles closed here are embedded in a, so a is
   * freed in the last close callback; the caller runs the loop until they
   * are done. */
out_cu:
  vtg_httpd_stop(a->httpd);
  a->pending_closes = 2 + sigs;
  if (sigs >= 1) uv_close((uv_handle_t *)&a->sigterm, signal_closed);
  if (sigs >= 2) uv_close((uv_handle_t *)&a->sigint, signal_closed);
  vtg_curl_uv_close(&a->cu, cu_closed);
  vtg_sched_close(&a->sched, sched_closed);
  return rc;
out_sched:
  a->pending_closes = 1;
  vtg_sched_close(&a->sched, sched_closed);
  return rc;
out_free:
  free(a);
  return rc;
}
