/* The outage detector (DESIGN.md, "The detector").
 *
 * How it works. Every result moves one (agent, check) hysteresis machine.
 * When fail_threshold consecutive probes are down the machine opens a *run*
 * backdated to the first of them; recover_threshold consecutive good probes
 * close it, backdated to the first good one. Runs are the only history the
 * detector keeps, and everything else is derived from them, in event time,
 * each time the watermark advances:
 *
 *   runs -> impairment spans per agent (vantage faults, in hindsight)
 *        -> region down intervals per check (majority of healthy agents)
 *        -> settled intervals (evidence + settle <= watermark)
 *        -> incidents and waves per check
 *
 * Deriving instead of updating in place is what makes late results and
 * hindsight cheap to get right: a replay that adds a run, or an impairment
 * found a second later, simply yields a different derivation, and incidents
 * are matched to the ones already published by their time span so their
 * ids stay stable ("amended, never duplicated"). The work per advance is
 * proportional to the number of runs in the retention window, not to the
 * number of results.
 */
#include "detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

#define TIME_INF INT64_MAX
#define NO_TIME INT64_MIN /* a window bound that is not known */
#define NCLS VTG_N_ERROR_CLASSES
/* Runs older than this are forgotten; incidents that ended before it are
 * final (they live on in the store). */
#define RETENTION_US (6LL * 3600 * 1000000)
#define MAX_RUNS 512
#define FULL_REFRESH_US 1000000LL

enum { AC_UNKNOWN = 0, AC_UP, AC_DOWN };

typedef struct run_s {
  int64_t onset;        /* start of the first down probe */
  int64_t recovery;     /* start of the first good probe of the recovering streak; TIME_INF open */
  int64_t confirmed_at; /* start of the probe that made fail_threshold */
  /* The onset and recovery windows (issue: "every onset is an interval"):
   * the outage began after prev_good and ended after last_down. Fixed
   * once known, so a window never changes after it is published. */
  int64_t prev_good;    /* start of the agent's last good probe before onset; NO_TIME none */
  int64_t last_down;    /* start of the last down probe before recovery; NO_TIME while open */
  uint32_t counts[NCLS];
  int64_t first[NCLS];  /* first down probe of each class */
  int64_t last[NCLS];   /* last down probe of each class */
} run_t;

typedef struct ac_s {
  uint8_t active;
  uint8_t state;        /* AC_* */
  uint8_t degraded;     /* last good probe was degraded */
  int down_streak, good_streak;
  int64_t down_start, good_start;
  int64_t last_good;      /* start of the last good probe; NO_TIME none */
  int64_t pend_prev_good; /* last_good when the pending down streak began */
  uint32_t pend_counts[NCLS];
  int64_t pend_first[NCLS], pend_last[NCLS];
  int64_t first_probe, last_probe, last_latency;
  run_t *runs;
  uint32_t n_runs, cap_runs;
} ac_t;

typedef struct span_s {
  int64_t s, e;
  int blame; /* impairment spans: VTG_BLAME_* */
} span_t;

typedef struct agent_s {
  int used;
  uint32_t region;
  ac_t *ac; /* by check id */
  uint32_t n_ac;
  span_t *imp;
  size_t n_imp, cap_imp;
} agent_t;

typedef struct rinc_s {
  uint32_t region;
  int64_t onset, resolved; /* resolved TIME_INF while down */
  int64_t onset_lo, resolved_lo; /* the windows' other ends; NO_TIME unknown */
} rinc_t;

/* One down interval of one region inside an incident: what the timeline
 * draws. A region can go down and up several times in one incident. */
typedef struct rspan_s {
  uint32_t region;
  int64_t onset, end; /* end TIME_INF while down */
} rspan_t;

typedef struct wave_s {
  int64_t onset, resolved;
  int cause;
  uint32_t *regions;
  size_t n_regions;
} wave_t;

typedef struct inc_s {
  uint64_t seq;
  int restored; /* known from the store only (restart): never retracted */
  char id[32];
  int64_t onset, resolved;
  int64_t onset_lo, resolved_lo; /* the windows' other ends; NO_TIME unknown */
  int cause;
  vtg_scope_t scope;
  int peak, total;
  rinc_t *regions;
  size_t n_regions;
  rspan_t *spans; /* by region, then onset */
  size_t n_spans;
  wave_t *waves;
  size_t n_waves;
} inc_t;

typedef struct check_s {
  int used;
  char *name, *service, *kind;
  uint32_t service_id;
  int control;        /* a control check: should always work from anywhere */
  int64_t interval, timeout;
  inc_t *incs; /* published, by onset */
  size_t n_incs;
  int dirty;          /* its runs changed since it was last derived */
  int64_t next_event; /* event time at which its derivation changes by itself */
} check_t;

typedef struct region_s {
  int used;
  char *name;
} region_t;

/* A region's down interval for one check, in event time. */
typedef struct rint_s {
  uint32_t region;
  int64_t onset;     /* backdated: earliest run onset among the agents down when it went down */
  int64_t end;       /* backdated recovery; TIME_INF while down */
  int64_t strong_at; /* first time >= 2 healthy agents agreed; TIME_INF never */
  int64_t evidence;  /* when the majority was known: latest confirmation among them */
  int64_t strong_evidence;
  int64_t onset_lo;  /* last good probe of the region's agents before onset; NO_TIME unknown */
  int64_t end_lo;    /* last down probe before end; NO_TIME unknown or open */
} rint_t;

struct vtg_detect_s {
  vtg_detect_params_t p;
  vtg_detect_incident_cb cb;
  void *ctx;
  agent_t *agents;
  uint32_t n_agents;
  check_t *checks;
  uint32_t n_checks;
  region_t *regions;
  uint32_t n_regions;
  char **services;
  uint32_t n_services;
  uint64_t next_seq;
  int64_t watermark;
  int runs_changed;     /* some run opened, closed or appeared since the last advance */
  int64_t next_full;    /* when everything is derived again (staleness, pruning) */
  int64_t pending_min;  /* earliest point past the watermark seen by a derivation */
  /* scratch, reused between advances */
  int64_t *pts;
  size_t n_pts, cap_pts;
};

/* ---- small helpers ---------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 8;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * elem);
  if (q == NULL) return VTG_ENOMEM;
  memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
  *p = q;
  *cap = n;
  return 0;
}

static int grow32(void **p, uint32_t *cap, uint32_t need, size_t elem) {
  size_t c = *cap;
  int rc = grow(p, &c, need, elem);
  if (rc == 0) *cap = (uint32_t)c;
  return rc;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Adds a change point. Points past the watermark are not known yet: the
 * state at the watermark simply goes on. */
static int pts_add(vtg_detect_t *d, int64_t t) {
  if (t == TIME_INF) return 0;
  if (t > d->watermark) {
    if (t < d->pending_min) d->pending_min = t;
    return 0;
  }
  int rc = grow((void **)&d->pts, &d->cap_pts, d->n_pts + 1, sizeof(int64_t));
  if (rc) return rc;
  d->pts[d->n_pts++] = t;
  return 0;
}

/* Sorts and dedups the scratch points. */
static void pts_finish(vtg_detect_t *d) {
  if (d->n_pts == 0) return;
  qsort(d->pts, d->n_pts, sizeof(int64_t), cmp_i64);
  size_t w = 1;
  for (size_t i = 1; i < d->n_pts; i++)
    if (d->pts[i] != d->pts[w - 1]) d->pts[w++] = d->pts[i];
  d->n_pts = w;
}

static char *dup_str(const char *s) {
  if (s == NULL) s = "";
  size_t n = strlen(s) + 1;
  char *r = malloc(n);
  if (r) memcpy(r, s, n);
  return r;
}

static const check_t *check_get(const vtg_detect_t *d, uint32_t c) {
  return c < d->n_checks && d->checks[c].used ? &d->checks[c] : NULL;
}

static ac_t *ac_get(const vtg_detect_t *d, uint32_t a, uint32_t c) {
  if (a >= d->n_agents || !d->agents[a].used) return NULL;
  agent_t *ag = &d->agents[a];
  if (c >= ag->n_ac || !ag->ac[c].active) return NULL;
  return &ag->ac[c];
}

/* Event time before which runs are forgotten and incidents final. */
static int64_t horizon_of(const vtg_detect_t *d) {
  return d->watermark > INT64_MIN + RETENTION_US ? d->watermark - RETENTION_US : INT64_MIN;
}

static int64_t settle_of(const vtg_detect_t *d) {
  if (d->p.settle_us > 0) return d->p.settle_us;
  int64_t m = 0;
  for (uint32_t c = 0; c < d->n_checks; c++)
    if (d->checks[c].used && d->p.fail_threshold * d->checks[c].interval + d->checks[c].timeout > m)
      m = d->p.fail_threshold * d->checks[c].interval + d->checks[c].timeout;
  return m;
}

static int64_t stale_of(const vtg_detect_t *d, const check_t *ck) {
  if (d->p.stale_us > 0) return d->p.stale_us;
  return 3 * ck->interval + ck->timeout;
}

/* Whether the agent's state for the check is known at t: it has reported
 * for it, and not so long ago that it went stale. */
static int ac_known_at(const vtg_detect_t *d, const ac_t *ac, const check_t *ck, int64_t t) {
  return ac->first_probe <= t && t < ac->last_probe + stale_of(d, ck);
}

static const run_t *ac_run_at(const ac_t *ac, int64_t t) {
  for (uint32_t i = ac->n_runs; i-- > 0;) {
    const run_t *r = &ac->runs[i];
    if (r->onset <= t && t < r->recovery) return r;
    if (r->recovery <= t) break; /* runs are in time order */
  }
  return NULL;
}

/* The blame of the agent's impairment at t (VTG_BLAME_*), 0 when it is
 * healthy then: used as a truth value everywhere but in agent_status. */
static int agent_impaired_at(const agent_t *ag, int64_t t) {
  for (size_t i = 0; i < ag->n_imp; i++)
    if (ag->imp[i].s <= t && t < ag->imp[i].e) return ag->imp[i].blame;
  return 0;
}

/* ---- lifecycle and declarations ---------------------------------------- */

vtg_detect_t *vtg_detect_new(const vtg_detect_params_t *params, vtg_detect_incident_cb cb,
                             void *ctx) {
  vtg_detect_t *d = calloc(1, sizeof *d);
  if (d == NULL) return NULL;
  d->p = *params;
  if (d->p.fail_threshold < 1) d->p.fail_threshold = 1;
  if (d->p.recover_threshold < 1) d->p.recover_threshold = 1;
  if (d->p.min_regions < 2) d->p.min_regions = 2;
  d->cb = cb;
  d->ctx = ctx;
  d->next_seq = 1;
  d->watermark = INT64_MIN;
  d->next_full = INT64_MIN;
  return d;
}

static void inc_clear(inc_t *in) {
  for (size_t w = 0; w < in->n_waves; w++) free(in->waves[w].regions);
  free(in->waves);
  free(in->regions);
  free(in->spans);
  memset(in, 0, sizeof *in);
}

static void check_clear(check_t *ck) {
  free(ck->name);
  free(ck->service);
  free(ck->kind);
  for (size_t i = 0; i < ck->n_incs; i++) inc_clear(&ck->incs[i]);
  free(ck->incs);
  memset(ck, 0, sizeof *ck);
}

void vtg_detect_free(vtg_detect_t *d) {
  if (d == NULL) return;
  for (uint32_t a = 0; a < d->n_agents; a++) {
    agent_t *ag = &d->agents[a];
    for (uint32_t c = 0; c < ag->n_ac; c++) free(ag->ac[c].runs);
    free(ag->ac);
    free(ag->imp);
  }
  free(d->agents);
  for (uint32_t c = 0; c < d->n_checks; c++) check_clear(&d->checks[c]);
  free(d->checks);
  for (uint32_t r = 0; r < d->n_regions; r++) free(d->regions[r].name);
  free(d->regions);
  for (uint32_t s = 0; s < d->n_services; s++) free(d->services[s]);
  free(d->services);
  free(d->pts);
  free(d);
}

int vtg_detect_set_region(vtg_detect_t *d, uint32_t region, const char *name) {
  if (region > 1000000) return VTG_EINVAL;
  uint32_t cap = d->n_regions;
  if (region >= d->n_regions) {
    if (grow32((void **)&d->regions, &cap, region + 1, sizeof(region_t))) return VTG_ENOMEM;
    d->n_regions = region + 1;
  }
  char *n = dup_str(name);
  if (n == NULL) return VTG_ENOMEM;
  free(d->regions[region].name);
  d->regions[region].name = n;
  d->regions[region].used = 1;
  return 0;
}

static int service_intern(vtg_detect_t *d, const char *name, uint32_t *out) {
  for (uint32_t i = 0; i < d->n_services; i++)
    if (strcmp(d->services[i], name) == 0) {
      *out = i;
      return 0;
    }
  uint32_t cap = d->n_services;
  if (grow32((void **)&d->services, &cap, d->n_services + 1, sizeof(char *))) return VTG_ENOMEM;
  char *n = dup_str(name);
  if (n == NULL) return VTG_ENOMEM;
  d->services[d->n_services] = n;
  *out = d->n_services++;
  return 0;
}

int vtg_detect_set_check(vtg_detect_t *d, uint32_t check, const char *name, const char *service,
                         const char *kind, int64_t interval_us, int64_t timeout_us) {
  if (check > 10000000 || interval_us <= 0 || timeout_us < 0) return VTG_EINVAL;
  uint32_t cap = d->n_checks;
  if (check >= d->n_checks) {
    if (grow32((void **)&d->checks, &cap, check + 1, sizeof(check_t))) return VTG_ENOMEM;
    d->n_checks = check + 1;
  }
  check_t *ck = &d->checks[check];
  char *n = dup_str(name), *s = dup_str(service), *k = dup_str(kind);
  uint32_t sid = 0;
  if (n == NULL || s == NULL || k == NULL || service_intern(d, s, &sid)) {
    free(n);
    free(s);
    free(k);
    return VTG_ENOMEM;
  }
  free(ck->name);
  free(ck->service);
  free(ck->kind);
  ck->name = n;
  ck->service = s;
  ck->kind = k;
  ck->service_id = sid;
  ck->interval = interval_us;
  ck->timeout = timeout_us;
  ck->used = 1;
  d->next_full = INT64_MIN;
  return 0;
}

int vtg_detect_set_control(vtg_detect_t *d, uint32_t check, int control) {
  check_t *ck = check < d->n_checks && d->checks[check].used ? &d->checks[check] : NULL;
  if (ck == NULL) return VTG_ENOTFOUND;
  if (ck->control != (control != 0)) {
    ck->control = control != 0;
    d->next_full = INT64_MIN; /* every agent's impairment may change */
  }
  return 0;
}

static void emit(vtg_detect_t *d, uint32_t check, const inc_t *in, int removed);

void vtg_detect_remove_check(vtg_detect_t *d, uint32_t check) {
  if (check >= d->n_checks || !d->checks[check].used) return;
  /* No more evidence will come: close what is open as of the watermark. */
  check_t *ck = &d->checks[check];
  for (size_t i = 0; i < ck->n_incs; i++) {
    inc_t *in = &ck->incs[i];
    if (in->resolved != TIME_INF || in->restored) continue;
    in->resolved = d->watermark;
    for (size_t w = 0; w < in->n_waves; w++)
      if (in->waves[w].resolved == TIME_INF) in->waves[w].resolved = d->watermark;
    for (size_t r = 0; r < in->n_regions; r++)
      if (in->regions[r].resolved == TIME_INF) in->regions[r].resolved = d->watermark;
    emit(d, check, in, 0);
  }
  check_clear(&d->checks[check]);
  for (uint32_t a = 0; a < d->n_agents; a++) {
    agent_t *ag = &d->agents[a];
    if (check < ag->n_ac) {
      free(ag->ac[check].runs);
      memset(&ag->ac[check], 0, sizeof(ac_t));
    }
  }
}

int vtg_detect_set_agent(vtg_detect_t *d, uint32_t agent, uint32_t region) {
  if (agent > 10000000) return VTG_EINVAL;
  uint32_t cap = d->n_agents;
  if (agent >= d->n_agents) {
    if (grow32((void **)&d->agents, &cap, agent + 1, sizeof(agent_t))) return VTG_ENOMEM;
    d->n_agents = agent + 1;
  }
  d->agents[agent].used = 1;
  d->agents[agent].region = region;
  d->next_full = INT64_MIN;
  return 0;
}

int vtg_detect_restore_incident(vtg_detect_t *d, uint32_t check, const char *id, int64_t onset_us,
                                int64_t resolved_us) {
  if (check >= d->n_checks || !d->checks[check].used || id == NULL || strlen(id) >= 32)
    return VTG_EINVAL;
  check_t *ck = &d->checks[check];
  inc_t *q = realloc(ck->incs, (ck->n_incs + 1) * sizeof *q);
  if (q == NULL) return VTG_ENOMEM;
  ck->incs = q;
  inc_t *in = &q[ck->n_incs++];
  memset(in, 0, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", id);
  in->restored = 1;
  in->onset = onset_us;
  in->onset_lo = in->resolved_lo = NO_TIME; /* the store's windows are not handed back */
  in->resolved = resolved_us == VTG_TIME_NONE ? TIME_INF : resolved_us;
  return 0;
}

void vtg_detect_set_id_base(vtg_detect_t *d, uint64_t next_id) {
  if (next_id > d->next_seq) d->next_seq = next_id;
}

/* ---- feeding: the per (agent, check) hysteresis ------------------------ */

static int64_t horizon_of(const vtg_detect_t *d);
static int run_open(const vtg_detect_t *d, ac_t *ac, int64_t confirmed_at) {
  if (ac->n_runs >= MAX_RUNS && ac->runs[0].recovery < horizon_of(d)) { /* past retention */
    memmove(ac->runs, ac->runs + 1, (MAX_RUNS - 1) * sizeof(run_t));
    ac->n_runs--;
  }
  if (grow32((void **)&ac->runs, &ac->cap_runs, ac->n_runs + 1, sizeof(run_t))) return VTG_ENOMEM;
  run_t *r = &ac->runs[ac->n_runs++];
  memset(r, 0, sizeof *r);
  r->onset = ac->down_start;
  r->recovery = TIME_INF;
  r->confirmed_at = confirmed_at;
  r->prev_good = ac->pend_prev_good;
  r->last_down = NO_TIME;
  memcpy(r->counts, ac->pend_counts, sizeof r->counts);
  memcpy(r->first, ac->pend_first, sizeof r->first);
  memcpy(r->last, ac->pend_last, sizeof r->last);
  return 0;
}

static void count_probe(uint32_t *counts, int64_t *first, int64_t *last, int cls, int64_t t) {
  if (cls < 0 || cls >= NCLS) cls = NCLS - 1; /* "other" */
  if (counts[cls]++ == 0) first[cls] = t;
  last[cls] = t;
}

int vtg_detect_feed(vtg_detect_t *d, const vtg_detect_result_t *r) {
  if (r->agent >= d->n_agents || !d->agents[r->agent].used) return VTG_EINVAL;
  if (check_get(d, r->check) == NULL) return VTG_ENOTFOUND;
  agent_t *ag = &d->agents[r->agent];
  if (r->check >= ag->n_ac) {
    if (grow32((void **)&ag->ac, &ag->n_ac, r->check + 1, sizeof(ac_t))) return VTG_ENOMEM;
  }
  ac_t *ac = &ag->ac[r->check];
  if (!ac->active) {
    ac->active = 1;
    ac->first_probe = r->start_us;
    ac->last_good = NO_TIME;
    d->checks[r->check].dirty = 1;
    d->runs_changed = 1;
  }
  /* An agent reports each check in start order; a result older than the
   * last one cannot move the machine backwards. */
  if (r->start_us < ac->last_probe) return 0;
  ac->last_probe = r->start_us;
  ac->last_latency = r->total_us;

  if (r->outcome == VTG_OUTCOME_DOWN) {
    ac->good_streak = 0;
    if (ac->state == AC_DOWN) {
      run_t *run = &ac->runs[ac->n_runs - 1];
      count_probe(run->counts, run->first, run->last, r->error_class, r->start_us);
      return 0;
    }
    if (ac->down_streak++ == 0) {
      ac->down_start = r->start_us;
      ac->pend_prev_good = ac->last_good;
      memset(ac->pend_counts, 0, sizeof ac->pend_counts);
    }
    count_probe(ac->pend_counts, ac->pend_first, ac->pend_last, r->error_class, r->start_us);
    if (ac->down_streak >= d->p.fail_threshold) {
      int rc = run_open(d, ac, r->start_us);
      if (rc) return rc;
      ac->state = AC_DOWN;
      ac->down_streak = 0;
      d->checks[r->check].dirty = 1;
      d->runs_changed = 1;
    }
    return 0;
  }

  /* up or degraded: good for outages */
  ac->degraded = r->outcome == VTG_OUTCOME_DEGRADED;
  ac->down_streak = 0;
  ac->last_good = r->start_us;
  if (ac->state != AC_DOWN) {
    ac->state = AC_UP;
    return 0;
  }
  if (ac->good_streak++ == 0) ac->good_start = r->start_us;
  if (ac->good_streak >= d->p.recover_threshold) {
    run_t *run = &ac->runs[ac->n_runs - 1];
    run->recovery = ac->good_start;
    /* Every down probe the run counted came before the recovering streak. */
    run->last_down = run->onset;
    for (int k = 0; k < NCLS; k++)
      if (run->counts[k] && run->last[k] > run->last_down) run->last_down = run->last[k];
    ac->state = AC_UP;
    d->checks[r->check].dirty = 1;
    d->runs_changed = 1;
    ac->good_streak = 0;
  }
  return 0;
}

/* ---- impairment --------------------------------------------------------- */

typedef struct downset_s {
  int known, down, services;
} downset_t;

/* The agent's down set at t: checks known, checks down, distinct services
 * among the down ones. */
static downset_t agent_downset(const vtg_detect_t *d, const agent_t *ag, int64_t t) {
  downset_t ds = {0, 0, 0};
  uint32_t seen[8];
  int n_seen = 0, many = 0;
  for (uint32_t c = 0; c < ag->n_ac; c++) {
    const ac_t *ac = &ag->ac[c];
    const check_t *ck = check_get(d, c);
    if (!ac->active || ck == NULL || !ac_known_at(d, ac, ck, t)) continue;
    ds.known++;
    if (ac_run_at(ac, t) == NULL) continue;
    ds.down++;
    int dup = 0;
    for (int i = 0; i < n_seen; i++) dup |= seen[i] == ck->service_id;
    if (!dup) {
      if (n_seen < 8)
        seen[n_seen++] = ck->service_id;
      else
        many = 1;
    }
  }
  ds.services = n_seen + many;
  return ds;
}

static int downset_suspect(downset_t ds) {
  return ds.down > 0 && 2 * ds.down >= ds.known && ds.services >= 2;
}

/* Whom an agent's down checks are compared with. */
enum {
  CMP_PEERS,  /* the region's healthy (non-suspect) peers */
  CMP_OTHERS, /* every non-suspect agent of another region */
  CMP_FLEET   /* every agent of another region, suspect or not: the rest of the fleet */
};

/* For how many of the agent's down checks (control checks only when
 * control_only) at t are more than half of the comparison agents up?
 * Returns the count; *n_down gets the down checks. */
static int checks_confirmed_by_others(const vtg_detect_t *d, uint32_t a, int cmp,
                                      int control_only, int64_t t, int *n_down) {
  const agent_t *ag = &d->agents[a];
  int confirmed = 0;
  *n_down = 0;
  /* Whether each comparison agent is suspect at t does not depend on the
   * check: once per call, not once per (check, agent). */
  char *susp = malloc(d->n_agents ? d->n_agents : 1);
  if (susp == NULL) return 0;
  for (uint32_t b = 0; b < d->n_agents; b++) {
    const agent_t *bg = &d->agents[b];
    susp[b] = b == a || !bg->used || (bg->region == ag->region) != (cmp == CMP_PEERS) ||
              (cmp != CMP_FLEET && downset_suspect(agent_downset(d, bg, t)));
  }
  for (uint32_t c = 0; c < ag->n_ac; c++) {
    const ac_t *ac = &ag->ac[c];
    const check_t *ck = check_get(d, c);
    if (!ac->active || ck == NULL || (control_only && !ck->control) || !ac_known_at(d, ac, ck, t) ||
        ac_run_at(ac, t) == NULL)
      continue;
    (*n_down)++;
    int n = 0, up = 0;
    for (uint32_t b = 0; b < d->n_agents; b++) {
      const agent_t *bg = &d->agents[b];
      if (susp[b]) continue;
      const ac_t *bc = c < bg->n_ac ? &bg->ac[c] : NULL;
      if (bc == NULL || !bc->active || !ac_known_at(d, bc, ck, t)) continue;
      n++;
      up += ac_run_at(bc, t) == NULL;
    }
    if (n > 0 && 2 * up > n) confirmed++;
  }
  free(susp);
  return confirmed;
}

/* The agent's control checks (endpoints that should work from anywhere)
 * at t: how many report, how many are down. */
static void control_state(const vtg_detect_t *d, const agent_t *ag, int64_t t, int *known,
                          int *down) {
  *known = *down = 0;
  for (uint32_t c = 0; c < ag->n_ac; c++) {
    const ac_t *ac = &ag->ac[c];
    const check_t *ck = check_get(d, c);
    if (!ac->active || ck == NULL || !ck->control || !ac_known_at(d, ac, ck, t)) continue;
    (*known)++;
    *down += ac_run_at(ac, t) != NULL;
  }
}

/* The impairment rule at one moment, with its blame (0: not impaired).
 * DESIGN.md's rule: an agent down on most of its checks across services
 * while its healthy peers (alone in its region: everyone else) see them
 * up is a broken vantage point. Two refinements (issue 5, "blame"):
 * - control checks, which should work from anywhere: one down at this
 *   agent while most agents elsewhere see it up blames the vantage point
 *   (or, when the region's other agents fail too, its network path) even
 *   when it fails few of its other checks;
 * - a region whose agents all fail every check they probe, across
 *   services, while the other regions see those checks up is not a target
 *   outage there but the region's network path. A check still up from
 *   there (a control check above all) shows the path works: then the
 *   failing targets really are down from there. */
static int agent_impaired_rule(const vtg_detect_t *d, uint32_t a, int64_t t) {
  const agent_t *ag = &d->agents[a];
  downset_t ds = agent_downset(d, ag, t);
  int ctl_known, ctl_down, n_down = 0, confirmed;
  control_state(d, ag, t, &ctl_known, &ctl_down);
  if (!downset_suspect(ds) && ctl_down == 0) return 0;
  int peers = 0, healthy_peers = 0;
  for (uint32_t b = 0; b < d->n_agents; b++) {
    const agent_t *bg = &d->agents[b];
    if (b == a || !bg->used || bg->region != ag->region) continue;
    downset_t bs = agent_downset(d, bg, t);
    if (bs.known == 0) continue; /* not reporting */
    peers++;
    healthy_peers += !downset_suspect(bs);
  }
  int together = peers > 0 && healthy_peers == 0; /* the whole region fails */
  if (ctl_down > 0) {
    confirmed = checks_confirmed_by_others(d, a, CMP_OTHERS, 1, t, &n_down);
    if (2 * confirmed > n_down) return together ? VTG_BLAME_NETWORK : VTG_BLAME_VANTAGE;
  }
  if (!downset_suspect(ds)) return 0;
  if (together) {
    /* A check still up from here, a control check above all, shows the
     * path works: the targets that fail are down there. */
    if (ds.down != ds.known) return 0;
    if (ctl_known > 0 && ctl_down == 0) return 0;
    /* Without control checks the rest of the fleet decides, suspect agents
     * included: one region failing alone is its path; several regions
     * failing together are more likely the targets. */
    confirmed = checks_confirmed_by_others(d, a, CMP_FLEET, 0, t, &n_down);
    return 2 * confirmed > n_down ? VTG_BLAME_NETWORK : 0;
  }
  if (peers > 0) {
    confirmed = checks_confirmed_by_others(d, a, CMP_PEERS, 0, t, &n_down);
  } else {
    if (ds.down != ds.known) return 0;
    confirmed = checks_confirmed_by_others(d, a, CMP_OTHERS, 0, t, &n_down);
  }
  return 2 * confirmed > n_down ? VTG_BLAME_VANTAGE : 0;
}

static int span_add(agent_t *ag, int64_t s, int64_t e, int blame) {
  if (ag->n_imp > 0 && ag->imp[ag->n_imp - 1].e >= s) { /* overlapping: merge */
    span_t *last = &ag->imp[ag->n_imp - 1];
    if (s < last->s) last->s = s;
    if (e > last->e) last->e = e;
    if (blame > last->blame) last->blame = blame; /* the network path over the agent alone */
    return 0;
  }
  if (grow((void **)&ag->imp, &ag->cap_imp, ag->n_imp + 1, sizeof(span_t))) return VTG_ENOMEM;
  ag->imp[ag->n_imp++] = (span_t){s, e, blame};
  return 0;
}

/* Recomputes the agent's impairment spans from all runs. An impaired span
 * starts where the rule first holds, reaches back to the earliest onset
 * among the runs down then, and lasts until every run that was down during
 * it has recovered (recover_threshold good probes on each). */
static int agent_impairment(vtg_detect_t *d, uint32_t a) {
  agent_t *ag = &d->agents[a];
  ag->n_imp = 0;
  /* Only an agent with runs in two services, or a down control check,
   * can ever be impaired. */
  uint32_t svc0 = UINT32_MAX;
  int two = 0, ctl_runs = 0;
  int64_t lo = TIME_INF;
  for (uint32_t c = 0; c < ag->n_ac; c++) {
    if (!ag->ac[c].active || ag->ac[c].n_runs == 0 || check_get(d, c) == NULL) continue;
    uint32_t s = d->checks[c].service_id;
    ctl_runs |= d->checks[c].control;
    if (svc0 == UINT32_MAX)
      svc0 = s;
    else if (s != svc0)
      two = 1;
  }
  if (!two && !ctl_runs) return 0;
  for (uint32_t c = 0; c < ag->n_ac; c++)
    if (ag->ac[c].active && ag->ac[c].n_runs && ag->ac[c].runs[0].onset < lo)
      lo = ag->ac[c].runs[0].onset;

  /* Whose run boundaries can change the rule: with region peers, only the
   * region's agents; alone in its region, everyone's. */
  int has_peers = 0;
  for (uint32_t b = 0; b < d->n_agents && !has_peers; b++)
    has_peers = b != a && d->agents[b].used && d->agents[b].region == ag->region &&
                d->agents[b].n_ac > 0;
  /* Cheap first pass: is the agent ever suspect at its own boundaries? */
  int ever = 0;
  d->n_pts = 0;
  for (uint32_t c = 0; c < ag->n_ac; c++)
    for (uint32_t i = 0; i < ag->ac[c].n_runs; i++)
      if (pts_add(d, ag->ac[c].runs[i].onset) || pts_add(d, ag->ac[c].runs[i].recovery))
        return VTG_ENOMEM;
  pts_finish(d);
  for (size_t i = 0; i < d->n_pts && !ever; i++) ever = downset_suspect(agent_downset(d, ag, d->pts[i]));
  if (!ever && !ctl_runs) return 0;
  /* Whether the whole region ever fails with it: then the other regions'
   * view decides too (the network-path rule). */
  int together = 0;
  for (size_t i = 0; i < d->n_pts && has_peers && !together; i++) {
    if (!downset_suspect(agent_downset(d, ag, d->pts[i]))) continue;
    int peers = 0, suspect = 0;
    for (uint32_t b = 0; b < d->n_agents; b++) {
      const agent_t *bg = &d->agents[b];
      if (b == a || !bg->used || bg->region != ag->region) continue;
      downset_t bs = agent_downset(d, bg, d->pts[i]);
      peers += bs.known > 0;
      suspect += bs.known > 0 && downset_suspect(bs);
    }
    together = peers > 0 && suspect == peers;
  }
  int everyone = !has_peers || ctl_runs || together;
  d->n_pts = 0;
  for (uint32_t b = 0; b < d->n_agents; b++) {
    const agent_t *bg = &d->agents[b];
    if (!bg->used || (!everyone && bg->region != ag->region)) continue;
    for (uint32_t c = 0; c < bg->n_ac; c++) {
      const ac_t *ac = &bg->ac[c];
      for (uint32_t i = 0; i < ac->n_runs; i++) {
        if (ac->runs[i].recovery != TIME_INF && ac->runs[i].recovery < lo) continue;
        if (pts_add(d, ac->runs[i].onset) || pts_add(d, ac->runs[i].recovery)) return VTG_ENOMEM;
      }
    }
  }
  pts_finish(d);

  int64_t span_s = 0;
  int in = 0, blame = 0;
  for (size_t i = 0; i <= d->n_pts; i++) {
    int imp = i < d->n_pts && d->pts[i] >= lo ? agent_impaired_rule(d, a, d->pts[i]) : 0;
    if (imp > blame) blame = imp;
    if (imp && !in) {
      in = 1;
      span_s = d->pts[i];
    } else if (!imp && in) {
      in = 0;
      int64_t span_e = i < d->n_pts ? d->pts[i] : TIME_INF;
      int64_t s = span_s, e = span_s;
      for (uint32_t c = 0; c < ag->n_ac; c++) {
        const ac_t *ac = &ag->ac[c];
        for (uint32_t k = 0; k < ac->n_runs; k++) {
          const run_t *r = &ac->runs[k];
          if (r->onset <= span_s && span_s < r->recovery && r->onset < s) s = r->onset;
          int64_t rec = r->recovery;
          const check_t *ck = check_get(d, c);
          if (rec == TIME_INF && ck != NULL && !ac_known_at(d, ac, ck, d->watermark))
            rec = ac->last_probe + stale_of(d, ck);
          if (r->onset < span_e && rec > span_s && rec > e) e = rec;
        }
      }
      if (span_add(ag, s, e, blame)) return VTG_ENOMEM;
      blame = 0;
    }
  }
  return 0;
}

/* ---- region intervals --------------------------------------------------- */

typedef struct rlist_s {
  rint_t *v;
  size_t n, cap;
} rlist_t;

typedef struct region_eval_s {
  int healthy, down;
  int64_t min_onset, max_confirm;
} region_eval_t;

static region_eval_t region_eval(const vtg_detect_t *d, uint32_t check, uint32_t region,
                                 int64_t t) {
  region_eval_t ev = {0, 0, TIME_INF, INT64_MIN};
  const check_t *ck = &d->checks[check];
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (!ag->used || ag->region != region || check >= ag->n_ac) continue;
    const ac_t *ac = &ag->ac[check];
    if (!ac->active || !ac_known_at(d, ac, ck, t) || agent_impaired_at(ag, t)) continue;
    ev.healthy++;
    const run_t *r = ac_run_at(ac, t);
    if (r == NULL) continue;
    ev.down++;
    /* Every agent probes once per interval, so the agents that saw an
     * outage begin at T all went down within one interval of T (a quarter
     * more for jitter). A run older than that, at the moment the majority
     * forms, is a minority's own earlier trouble: it counts for the
     * majority, but must not drag the region's onset back by hours. */
    if (r->onset >= t - ck->interval - ck->interval / 4 && r->onset < ev.min_onset)
      ev.min_onset = r->onset;
    if (r->confirmed_at > ev.max_confirm) ev.max_confirm = r->confirmed_at;
  }
  return ev;
}

static int region_is_down(region_eval_t ev) {
  return ev.healthy > 0 && 2 * ev.down > ev.healthy;
}

/* Collects every time at which the region's state for the check can
 * change: run boundaries, impairment boundaries, reporting boundaries. */
static int region_points(vtg_detect_t *d, uint32_t check, uint32_t region) {
  const check_t *ck = &d->checks[check];
  d->n_pts = 0;
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (!ag->used || ag->region != region || check >= ag->n_ac || !ag->ac[check].active) continue;
    const ac_t *ac = &ag->ac[check];
    int rc = pts_add(d, ac->first_probe) | pts_add(d, ac->last_probe + stale_of(d, ck));
    for (uint32_t i = 0; i < ac->n_runs; i++)
      rc |= pts_add(d, ac->runs[i].onset) | pts_add(d, ac->runs[i].recovery);
    for (size_t i = 0; i < ag->n_imp; i++)
      rc |= pts_add(d, ag->imp[i].s) | pts_add(d, ag->imp[i].e);
    if (rc) return VTG_ENOMEM;
  }
  pts_finish(d);
  return 0;
}

/* The windows' other ends from the runs of the given agents (the
 * region's, or those of every region an incident affected): onset_lo is
 * the latest good probe before onset, among runs that began in the
 * interval [onset, end); end_lo the latest down probe before end, among
 * runs that have ended (an open run's last down probe before end is not
 * known once it has probed past it). A run knows its agent's last good
 * probe before it and its own last down probe, fixed when it opens and
 * ends: a published window only ever narrows, when a straggler's run
 * ends. Runs of an agent impaired at the time do not count. */
typedef struct window_s {
  int64_t onset_lo, end_lo;
} window_t;

static window_t runs_window(const vtg_detect_t *d, uint32_t check, const uint8_t *in_region,
                            int64_t onset, int64_t end) {
  window_t w = {NO_TIME, NO_TIME};
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (!ag->used || check >= ag->n_ac || !ag->ac[check].active || !in_region[ag->region]) continue;
    const ac_t *ac = &ag->ac[check];
    for (uint32_t i = 0; i < ac->n_runs; i++) {
      const run_t *r = &ac->runs[i];
      if (r->onset >= onset && r->onset < end && r->prev_good != NO_TIME && r->prev_good < onset &&
          r->prev_good > w.onset_lo && !agent_impaired_at(ag, r->onset))
        w.onset_lo = r->prev_good;
      if (end != TIME_INF && r->last_down != NO_TIME && r->last_down >= onset &&
          r->last_down < end && r->last_down > w.end_lo && !agent_impaired_at(ag, r->last_down))
        w.end_lo = r->last_down;
    }
  }
  return w;
}

/* Down intervals of one region for one check, each settled (its evidence
 * at least settle old at the watermark), appended to out. */
static int region_intervals(vtg_detect_t *d, uint32_t check, uint32_t region, int64_t settle,
                            rlist_t *out) {
  int rc = region_points(d, check, region);
  if (rc) return rc;
  size_t first_new = out->n;
  rint_t cur = {region, TIME_INF, TIME_INF, TIME_INF, TIME_INF, TIME_INF, NO_TIME, NO_TIME};
  int in = 0;
  for (size_t i = 0; i <= d->n_pts; i++) {
    int64_t t = i < d->n_pts ? d->pts[i] : TIME_INF;
    region_eval_t ev = {0, 0, TIME_INF, INT64_MIN};
    if (t != TIME_INF) ev = region_eval(d, check, region, t);
    int down = t != TIME_INF && (region_is_down(ev) || (in && ev.healthy == 0));
    if (down && !in) {
      in = 1;
      int64_t onset = ev.min_onset < t ? ev.min_onset : t;
      cur = (rint_t){region, onset, TIME_INF, TIME_INF, ev.max_confirm, TIME_INF, NO_TIME, NO_TIME};
      if (cur.evidence < t) cur.evidence = t;
    }
    if (down && ev.down >= 2 && cur.strong_at == TIME_INF) {
      cur.strong_at = t;
      cur.strong_evidence = ev.max_confirm > t ? ev.max_confirm : t;
    }
    if (!down && in) {
      in = 0;
      cur.end = t;
      if (cur.evidence + settle > d->watermark) { /* not final yet */
        if (cur.evidence + settle < d->pending_min) d->pending_min = cur.evidence + settle;
        continue;
      }
      if (cur.strong_evidence != TIME_INF && cur.strong_evidence + settle > d->watermark) {
        if (cur.strong_evidence + settle < d->pending_min)
          d->pending_min = cur.strong_evidence + settle;
        cur.strong_at = TIME_INF;
      }
      /* Backdating can make two intervals of one region touch: merge. */
      if (out->n > 0 && out->v[out->n - 1].region == region && out->v[out->n - 1].end >= cur.onset) {
        rint_t *last = &out->v[out->n - 1];
        if (cur.end > last->end) last->end = cur.end;
        if (last->strong_at == TIME_INF) last->strong_at = cur.strong_at;
        continue;
      }
      if (grow((void **)&out->v, &out->cap, out->n + 1, sizeof(rint_t))) return VTG_ENOMEM;
      out->v[out->n++] = cur;
    }
  }
  if (out->n > first_new) {
    uint8_t *mask = calloc(d->n_regions, 1);
    if (mask == NULL) return VTG_ENOMEM;
    mask[region] = 1;
    for (size_t k = first_new; k < out->n; k++) {
      window_t w = runs_window(d, check, mask, out->v[k].onset, out->v[k].end);
      out->v[k].onset_lo = w.onset_lo;
      out->v[k].end_lo = w.end_lo;
    }
    free(mask);
  }
  return 0;
}

/* Whether the region has a healthy agent reporting the check at t. */
static int region_covered(const vtg_detect_t *d, uint32_t check, uint32_t region, int64_t t) {
  return region_eval(d, check, region, t).healthy > 0;
}

/* ---- incidents ---------------------------------------------------------- */

typedef struct build_s {
  inc_t *v;
  size_t n, cap;
} build_t;

static int u32_add_unique(uint32_t **v, size_t *n, uint32_t x) {
  for (size_t i = 0; i < *n; i++)
    if ((*v)[i] == x) return 0;
  uint32_t *q = realloc(*v, (*n + 1) * sizeof(uint32_t));
  if (q == NULL) return VTG_ENOMEM;
  q[(*n)++] = x;
  *v = q;
  return 0;
}

static int inc_region_note(inc_t *in, const rint_t *ri) {
  for (size_t i = 0; i < in->n_regions; i++) {
    rinc_t *r = &in->regions[i];
    if (r->region != ri->region) continue;
    if (ri->onset < r->onset) {
      r->onset = ri->onset;
      r->onset_lo = ri->onset_lo;
    }
    if (ri->end > r->resolved) {
      r->resolved = ri->end;
      r->resolved_lo = ri->end_lo;
    }
    return 0;
  }
  rinc_t *q = realloc(in->regions, (in->n_regions + 1) * sizeof(rinc_t));
  if (q == NULL) return VTG_ENOMEM;
  q[in->n_regions++] = (rinc_t){ri->region, ri->onset, ri->end, ri->onset_lo, ri->end_lo};
  in->regions = q;
  return 0;
}

/* Adds the interval to the incident's spans unless it is there already
 * (build_incidents sees an interval at every point it is active). Kept
 * sorted by region, then onset. */
static int inc_span_note(inc_t *in, uint32_t region, int64_t onset, int64_t end) {
  size_t i = 0;
  while (i < in->n_spans && (in->spans[i].region < region ||
                             (in->spans[i].region == region && in->spans[i].onset < onset)))
    i++;
  if (i < in->n_spans && in->spans[i].region == region && in->spans[i].onset == onset) {
    if (end > in->spans[i].end) in->spans[i].end = end;
    return 0;
  }
  rspan_t *q = realloc(in->spans, (in->n_spans + 1) * sizeof *q);
  if (q == NULL) return VTG_ENOMEM;
  memmove(q + i + 1, q + i, (in->n_spans - i) * sizeof *q);
  q[i] = (rspan_t){region, onset, end};
  in->spans = q;
  in->n_spans++;
  return 0;
}

typedef struct tally_s {
  uint32_t counts[NCLS];
  int64_t first[NCLS];
} tally_t;

static void tally_init(tally_t *t) {
  memset(t->counts, 0, sizeof t->counts);
  for (int i = 0; i < NCLS; i++) t->first[i] = TIME_INF;
}

/* Adds the run's down probes that started in [lo, hi): exact when each
 * class's probes are evenly spaced between its first and last. */
static void tally_run(tally_t *t, const run_t *r, int64_t lo, int64_t hi) {
  for (int i = 0; i < NCLS; i++) {
    if (r->counts[i] == 0) continue;
    int64_t a = r->first[i] > lo ? r->first[i] : lo;
    int64_t b = r->last[i] < hi ? r->last[i] : hi - 1;
    if (a > b) continue;
    uint32_t n = r->counts[i];
    if (r->last[i] > r->first[i] && (a > r->first[i] || b < r->last[i]))
      n = (uint32_t)(1 + (double)(n - 1) * (double)(b - a) / (double)(r->last[i] - r->first[i]));
    t->counts[i] += n;
    if (a < t->first[i]) t->first[i] = a;
  }
}

/* The error class with the most down probes; ties go to the earliest. */
static int tally_cause(const tally_t *t) {
  int best = NCLS - 1; /* other, when nothing was counted */
  uint32_t bc = 0;
  for (int i = 0; i < NCLS; i++) {
    if (t->counts[i] > bc || (t->counts[i] == bc && bc > 0 && t->first[i] < t->first[best])) {
      best = i;
      bc = t->counts[i];
    }
  }
  return best;
}

/* Counts the down probes of healthy agents of the intervals' regions whose
 * runs overlap [from, to), each run once per tally. */
static void tally_intervals(const vtg_detect_t *d, uint32_t check, const rint_t *ris, size_t n,
                            const int *member, int64_t from, int64_t to, tally_t *t) {
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (!ag->used || check >= ag->n_ac || !ag->ac[check].active) continue;
    const ac_t *ac = &ag->ac[check];
    for (uint32_t k = 0; k < ac->n_runs; k++) {
      const run_t *r = &ac->runs[k];
      if (r->onset >= to || r->recovery <= from || agent_impaired_at(ag, r->onset)) continue;
      for (size_t i = 0; i < n; i++) {
        if (!member[i] || ris[i].region != ag->region) continue;
        if (r->onset < ris[i].end && r->recovery > ris[i].onset) {
          int64_t lo = ris[i].onset > from ? ris[i].onset : from;
          int64_t hi = ris[i].end < to ? ris[i].end : to;
          tally_run(t, r, lo, hi);
          break;
        }
      }
    }
  }
}

static int down_count_at(const rlist_t *rl, int64_t t, int *strong) {
  int n = 0;
  *strong = 0;
  for (size_t i = 0; i < rl->n; i++) {
    const rint_t *ri = &rl->v[i];
    if (ri->onset <= t && t < ri->end) {
      n++;
      if (ri->strong_at <= t) *strong = 1;
    }
  }
  return n;
}

/* The incident's windows, over the agents of every region it affected
 * (runs_window). */
static int incident_windows(const vtg_detect_t *d, uint32_t check, inc_t *in) {
  uint8_t *mask = calloc(d->n_regions ? d->n_regions : 1, 1);
  if (mask == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < in->n_regions; i++) mask[in->regions[i].region] = 1;
  window_t w = runs_window(d, check, mask, in->onset, in->resolved);
  in->onset_lo = w.onset_lo;
  in->resolved_lo = w.end_lo;
  free(mask);
  return 0;
}

/* Builds the incidents of a check from its settled region intervals. */
static int build_incidents(vtg_detect_t *d, uint32_t check, const rlist_t *rl, build_t *out) {
  if (rl->n == 0) return 0;
  int *member = calloc(rl->n, sizeof(int)); /* interval in the current wave */
  if (member == NULL) return VTG_ENOMEM;
  d->n_pts = 0;
  for (size_t i = 0; i < rl->n; i++)
    if (pts_add(d, rl->v[i].onset) || pts_add(d, rl->v[i].end) || pts_add(d, rl->v[i].strong_at))
      goto nomem;
  pts_finish(d);

  inc_t *in = NULL;
  wave_t *wv = NULL;
  int open = 0;
  for (size_t p = 0; p <= d->n_pts; p++) {
    int64_t t = p < d->n_pts ? d->pts[p] : TIME_INF;
    int strong = 0;
    int n = t == TIME_INF ? 0 : down_count_at(rl, t, &strong);
    if (!open && t != TIME_INF && (n >= d->p.min_regions || strong)) {
      int64_t onset = TIME_INF;
      for (size_t i = 0; i < rl->n; i++)
        if (rl->v[i].onset <= t && t < rl->v[i].end && rl->v[i].onset < onset) onset = rl->v[i].onset;
      int new_inc = in == NULL || in->resolved + d->p.merge_gap_us < onset;
      if (new_inc) {
        if (grow((void **)&out->v, &out->cap, out->n + 1, sizeof(inc_t))) goto nomem;
        in = &out->v[out->n++];
        memset(in, 0, sizeof *in);
        in->onset = onset;
      }
      wave_t *q = realloc(in->waves, (in->n_waves + 1) * sizeof(wave_t));
      if (q == NULL) goto nomem;
      in->waves = q;
      wv = &in->waves[in->n_waves++];
      memset(wv, 0, sizeof *wv);
      wv->onset = onset;
      wv->resolved = TIME_INF;
      memset(member, 0, rl->n * sizeof(int));
      open = 1;
    }
    if (!open) continue;
    if (n == 0) { /* the last region recovered: the wave ends */
      open = 0;
      wv->resolved = t;
      in->resolved = t;
      tally_t tw;
      tally_init(&tw);
      tally_intervals(d, check, rl->v, rl->n, member, wv->onset, t, &tw);
      wv->cause = tally_cause(&tw);
      continue;
    }
    for (size_t i = 0; i < rl->n; i++) {
      const rint_t *ri = &rl->v[i];
      if (!(ri->onset <= t && t < ri->end)) continue;
      member[i] = 1;
      if (u32_add_unique(&wv->regions, &wv->n_regions, ri->region) || inc_region_note(in, ri) ||
          inc_span_note(in, ri->region, ri->onset, ri->end))
        goto nomem;
    }
    if (n > in->peak) {
      in->peak = n;
      int total = 0;
      for (uint32_t r = 0; r < d->n_regions; r++)
        total += d->regions[r].used && region_covered(d, check, r, t);
      in->total = total < n ? n : total;
    }
  }
  if (open) { /* the last wave is still going on */
    tally_t tw;
    tally_init(&tw);
    tally_intervals(d, check, rl->v, rl->n, member, wv->onset, TIME_INF, &tw);
    wv->cause = tally_cause(&tw);
  }
  /* Whole-incident cause and scope, once every wave is known. */
  for (size_t k = 0; k < out->n; k++) {
    inc_t *x = &out->v[k];
    int64_t last_end = x->waves[x->n_waves - 1].resolved;
    x->resolved = last_end;
    tally_t ti;
    tally_init(&ti);
    memset(member, 0, rl->n * sizeof(int));
    for (size_t i = 0; i < rl->n; i++)
      for (size_t w = 0; w < x->n_waves; w++)
        if (rl->v[i].onset < x->waves[w].resolved && rl->v[i].end > x->waves[w].onset) member[i] = 1;
    tally_intervals(d, check, rl->v, rl->n, member, x->onset, last_end, &ti);
    x->cause = tally_cause(&ti);
    if (incident_windows(d, check, x)) goto nomem;
    if (x->peak >= x->total)
      x->scope = VTG_SCOPE_GLOBAL;
    else
      x->scope = x->peak >= 2 ? VTG_SCOPE_MULTI_REGION : VTG_SCOPE_REGIONAL;
  }
  free(member);
  return 0;
nomem:
  free(member);
  return VTG_ENOMEM;
}

/* ---- publishing --------------------------------------------------------- */

static int64_t out_time(int64_t t) {
  return t == TIME_INF ? VTG_TIME_NONE : t;
}

/* A window's width, -1 when its start is not known or its end not yet. */
static int64_t window_of(int64_t lo, int64_t t) {
  return lo == NO_TIME || t == TIME_INF || lo > t ? -1 : t - lo;
}

static int inc_equal(const inc_t *a, const inc_t *b) {
  if (a->onset != b->onset || a->resolved != b->resolved || a->cause != b->cause ||
      a->onset_lo != b->onset_lo || a->resolved_lo != b->resolved_lo ||
      a->scope != b->scope || a->peak != b->peak || a->total != b->total ||
      a->n_regions != b->n_regions || a->n_waves != b->n_waves)
    return 0;
  for (size_t i = 0; i < a->n_regions; i++)
    if (memcmp(&a->regions[i], &b->regions[i], sizeof(rinc_t)) != 0) return 0;
  if (a->n_spans != b->n_spans) return 0;
  for (size_t i = 0; i < a->n_spans; i++)
    if (memcmp(&a->spans[i], &b->spans[i], sizeof(rspan_t)) != 0) return 0;
  for (size_t w = 0; w < a->n_waves; w++) {
    const wave_t *x = &a->waves[w], *y = &b->waves[w];
    if (x->onset != y->onset || x->resolved != y->resolved || x->cause != y->cause ||
        x->n_regions != y->n_regions ||
        memcmp(x->regions, y->regions, x->n_regions * sizeof(uint32_t)) != 0)
      return 0;
  }
  return 1;
}

static void emit(vtg_detect_t *d, uint32_t check, const inc_t *in, int removed) {
  if (d->cb == NULL) return;
  const check_t *ck = &d->checks[check];
  vtg_incident_region_t *regs = calloc(in->n_regions ? in->n_regions : 1, sizeof *regs);
  vtg_incident_wave_t *waves = calloc(in->n_waves ? in->n_waves : 1, sizeof *waves);
  size_t n_names = 0;
  for (size_t w = 0; w < in->n_waves; w++) n_names += in->waves[w].n_regions;
  const char **names = calloc(n_names ? n_names : 1, sizeof *names);
  vtg_incident_span_t *spans = calloc(in->n_spans ? in->n_spans : 1, sizeof *spans);
  if (regs == NULL || waves == NULL || names == NULL || spans == NULL)
    goto out; /* the next advance retries */
  for (size_t i = 0; i < in->n_spans; i++)
    spans[i] = (vtg_incident_span_t){in->spans[i].onset, out_time(in->spans[i].end)};
  for (size_t i = 0; i < in->n_regions; i++) {
    uint32_t r = in->regions[i].region;
    size_t first = 0, n = 0;
    while (first < in->n_spans && in->spans[first].region != r) first++;
    while (first + n < in->n_spans && in->spans[first + n].region == r) n++;
    regs[i] = (vtg_incident_region_t){d->regions[r].name,
                                      in->regions[i].onset,
                                      out_time(in->regions[i].resolved),
                                      spans + first,
                                      n,
                                      window_of(in->regions[i].onset_lo, in->regions[i].onset),
                                      window_of(in->regions[i].resolved_lo, in->regions[i].resolved)};
  }
  size_t k = 0;
  for (size_t w = 0; w < in->n_waves; w++) {
    const wave_t *x = &in->waves[w];
    waves[w] = (vtg_incident_wave_t){x->onset, out_time(x->resolved), x->cause, names + k,
                                     x->n_regions};
    for (size_t i = 0; i < x->n_regions; i++) names[k++] = d->regions[x->regions[i]].name;
  }
  vtg_incident_t pub = {
      .id = in->id, .check = check, .check_name = ck->name, .service = ck->service,
      .kind = ck->kind, .scope = in->scope, .onset_us = in->onset,
      .resolved_us = out_time(in->resolved), .cause = in->cause, .regions = regs,
      .n_regions = in->n_regions, .waves = waves, .n_waves = in->n_waves,
      .peak_regions = in->peak, .total_regions = in->total,
      .onset_window_us = window_of(in->onset_lo, in->onset),
      .resolved_window_us = window_of(in->resolved_lo, in->resolved)};
  d->cb(d->ctx, &pub, removed);
out:
  free(regs);
  free(waves);
  free(names);
  free(spans);
}

static int64_t inc_end(const inc_t *in) {
  return in->resolved;
}

static int spans_overlap(const inc_t *a, const inc_t *b) {
  return a->onset <= inc_end(b) && b->onset <= inc_end(a);
}

/* The part of a published incident before the retention horizon can no
 * longer be derived from runs: carry its earlier waves, its regions' first
 * onsets and its peak over into the new derivation x. */
static int keep_history(inc_t *x, const inc_t *old) {
  size_t k = 0;
  int64_t first = x->n_waves ? x->waves[0].onset : TIME_INF;
  while (k < old->n_waves && old->waves[k].onset < first) k++;
  if (k > 0) {
    wave_t *q = malloc((x->n_waves + k) * sizeof *q);
    if (q == NULL) return VTG_ENOMEM;
    for (size_t w = 0; w < k; w++) {
      q[w] = old->waves[w];
      q[w].regions = malloc((old->waves[w].n_regions ? old->waves[w].n_regions : 1) * sizeof(uint32_t));
      if (q[w].regions == NULL) {
        while (w-- > 0) free(q[w].regions);
        free(q);
        return VTG_ENOMEM;
      }
      memcpy(q[w].regions, old->waves[w].regions, old->waves[w].n_regions * sizeof(uint32_t));
    }
    if (x->n_waves) memcpy(q + k, x->waves, x->n_waves * sizeof *q);
    free(x->waves);
    x->waves = q;
    x->n_waves += k;
  }
  for (size_t i = 0; i < old->n_regions; i++) {
    rint_t ri = {old->regions[i].region, old->regions[i].onset, old->regions[i].resolved, 0, 0, 0,
                 old->regions[i].onset_lo, old->regions[i].resolved_lo};
    size_t j = 0;
    while (j < x->n_regions && x->regions[j].region != ri.region) j++;
    if (j < x->n_regions) { /* only the earlier onset is history */
      if (ri.onset < x->regions[j].onset) {
        x->regions[j].onset = ri.onset;
        x->regions[j].onset_lo = ri.onset_lo;
      }
    } else if (inc_region_note(x, &ri)) {
      return VTG_ENOMEM;
    }
  }
  for (size_t i = 0; i < old->n_spans; i++)
    if (old->spans[i].onset < first &&
        inc_span_note(x, old->spans[i].region, old->spans[i].onset, old->spans[i].end))
      return VTG_ENOMEM;
  if (old->peak > x->peak) {
    x->peak = old->peak;
    x->total = old->total;
    x->scope = old->scope;
  }
  return 0;
}

/* Replaces the check's published incidents with the new derivation: a new
 * incident that overlaps a published one takes over its id (so waves and
 * amendments keep the id); published ones nothing overlaps any more are
 * retracted, unless they are older than what the runs still cover. */
static void publish(vtg_detect_t *d, uint32_t check, build_t *nb) {
  check_t *ck = &d->checks[check];
  int64_t horizon = horizon_of(d);
  char *taken = calloc(ck->n_incs ? ck->n_incs : 1, 1);
  if (taken == NULL) goto drop;
  for (size_t k = 0; k < nb->n; k++) {
    inc_t *x = &nb->v[k];
    for (size_t j = 0; j < ck->n_incs; j++) {
      if (taken[j] || !spans_overlap(x, &ck->incs[j])) continue;
      taken[j] = 1;
      memcpy(x->id, ck->incs[j].id, sizeof x->id);
      x->seq = ck->incs[j].seq;
      x->restored = ck->incs[j].restored; /* what came before the restart stays */
      /* The part before the horizon, or before a restart, is no longer
       * derivable: keep it. */
      if ((ck->incs[j].onset < horizon || ck->incs[j].restored) && ck->incs[j].onset < x->onset) {
        x->onset = ck->incs[j].onset;
        x->onset_lo = ck->incs[j].onset_lo;
        (void)keep_history(x, &ck->incs[j]); /* ENOMEM: the history is lost this once */
      }
      if (!inc_equal(x, &ck->incs[j])) emit(d, check, x, 0);
      break;
    }
    if (x->id[0] == 0) {
      x->seq = d->next_seq++;
      snprintf(x->id, sizeof x->id, "inc-%llu", (unsigned long long)x->seq);
      emit(d, check, x, 0);
    }
  }
  for (size_t j = 0; j < ck->n_incs; j++) {
    if (taken[j]) continue;
    if (ck->incs[j].resolved != TIME_INF && ck->incs[j].resolved < horizon) continue; /* final */
    if (ck->incs[j].restored) { /* not (yet) re-derived from the log tail: keep it for later */
      if (grow((void **)&nb->v, &nb->cap, nb->n + 1, sizeof(inc_t)) == 0) {
        nb->v[nb->n++] = ck->incs[j];
        memset(&ck->incs[j], 0, sizeof ck->incs[j]);
      }
      continue;
    }
    emit(d, check, &ck->incs[j], 1);
  }
  free(taken);
  for (size_t j = 0; j < ck->n_incs; j++) inc_clear(&ck->incs[j]);
  free(ck->incs);
  /* Keep only what can still change; the rest is in the store. */
  size_t w = 0;
  for (size_t k = 0; k < nb->n; k++) {
    if (nb->v[k].resolved != TIME_INF && nb->v[k].resolved < horizon) {
      inc_clear(&nb->v[k]);
      continue;
    }
    nb->v[w++] = nb->v[k];
  }
  ck->incs = nb->v;
  ck->n_incs = w;
  nb->v = NULL;
  nb->n = nb->cap = 0;
  return;
drop:
  for (size_t k = 0; k < nb->n; k++) inc_clear(&nb->v[k]);
  free(nb->v);
  nb->v = NULL;
  nb->n = nb->cap = 0;
}

/* Forgets runs that ended before the retention horizon. */
static void prune(vtg_detect_t *d) {
  int64_t horizon = horizon_of(d);
  for (uint32_t a = 0; a < d->n_agents; a++) {
    agent_t *ag = &d->agents[a];
    for (uint32_t c = 0; c < ag->n_ac; c++) {
      ac_t *ac = &ag->ac[c];
      uint32_t k = 0;
      while (k < ac->n_runs && ac->runs[k].recovery < horizon) k++;
      if (k == 0) continue;
      memmove(ac->runs, ac->runs + k, (ac->n_runs - k) * sizeof(run_t));
      ac->n_runs -= k;
    }
  }
}

/* Impairment of every agent, again; the checks of an agent whose spans
 * changed must be derived again. */
static int impairment_all(vtg_detect_t *d) {
  span_t *old = NULL;
  size_t cap_old = 0;
  int rc = 0;
  for (uint32_t a = 0; a < d->n_agents && rc == 0; a++) {
    agent_t *ag = &d->agents[a];
    if (!ag->used) continue;
    size_t n_old = ag->n_imp;
    if ((rc = grow((void **)&old, &cap_old, n_old + 1, sizeof(span_t))) != 0) break;
    if (n_old) memcpy(old, ag->imp, n_old * sizeof(span_t));
    if ((rc = agent_impairment(d, a)) != 0) break;
    if (n_old == ag->n_imp && (n_old == 0 || memcmp(old, ag->imp, n_old * sizeof(span_t)) == 0))
      continue;
    for (uint32_t c = 0; c < ag->n_ac && c < d->n_checks; c++)
      if (ag->ac[c].active) d->checks[c].dirty = 1;
  }
  free(old);
  return rc;
}

/* Derives the incidents of one check from its runs and publishes them. */
static int derive_check(vtg_detect_t *d, uint32_t c, int64_t settle, rlist_t *rl, char **mark,
                        size_t *cap_mark) {
  rl->n = 0;
  d->pending_min = TIME_INF;
  /* A region none of whose agents has a run for the check is not down. */
  if (grow((void **)mark, cap_mark, d->n_regions, 1)) return VTG_ENOMEM;
  memset(*mark, 0, d->n_regions);
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (ag->used && c < ag->n_ac && ag->ac[c].n_runs && ag->region < d->n_regions)
      (*mark)[ag->region] = 1;
  }
  int rc = 0;
  for (uint32_t r = 0; r < d->n_regions && rc == 0; r++)
    if (d->regions[r].used && (*mark)[r]) rc = region_intervals(d, c, r, settle, rl);
  if (rc) return rc;
  build_t nb = {NULL, 0, 0};
  if ((rc = build_incidents(d, c, rl, &nb)) != 0) {
    for (size_t k = 0; k < nb.n; k++) inc_clear(&nb.v[k]);
    free(nb.v);
    return rc;
  }
  publish(d, c, &nb);
  d->checks[c].next_event = d->pending_min;
  d->checks[c].dirty = 0;
  return 0;
}

/* Each advance derives only the checks whose runs or agents' impairment
 * changed, or that reach a moment they were waiting for (a settle time, a
 * run boundary past the last watermark). Once a second of event time,
 * everything is derived again: that is when agents going stale and runs
 * leaving the retention window are noticed. */
void vtg_detect_advance(vtg_detect_t *d, int64_t watermark_us) {
  if (watermark_us > d->watermark) d->watermark = watermark_us;
  int full = d->watermark >= d->next_full || d->next_full == INT64_MIN;
  if (full) {
    d->next_full = d->watermark > INT64_MIN + FULL_REFRESH_US ? d->watermark + FULL_REFRESH_US
                                                                : INT64_MIN + 1;
    prune(d);
  }
  if ((full || d->runs_changed) && impairment_all(d) != 0) return; /* ENOMEM: next time */
  d->runs_changed = 0;
  int64_t settle = settle_of(d);
  rlist_t rl = {NULL, 0, 0};
  char *mark = NULL;
  size_t cap_mark = 0;
  for (uint32_t c = 0; c < d->n_checks; c++) {
    check_t *ck = &d->checks[c];
    if (!ck->used || !(full || ck->dirty || d->watermark >= ck->next_event)) continue;
    if (derive_check(d, c, settle, &rl, &mark, &cap_mark) != 0) {
      ck->dirty = 1; /* ENOMEM: again next time */
      break;
    }
  }
  free(mark);
  free(rl.v);
}

/* ---- queries ------------------------------------------------------------ */

void vtg_detect_region_status(const vtg_detect_t *d, uint32_t check, uint32_t region,
                              vtg_region_status_t *out) {
  memset(out, 0, sizeof *out);
  out->state = VTG_STATE_UNKNOWN;
  out->last_probe_us = VTG_TIME_NONE;
  out->last_latency_us = VTG_TIME_NONE;
  const check_t *ck = check_get(d, check);
  if (ck == NULL) return;
  int64_t t = d->watermark;
  int down = 0, degraded = 0, network = 0;
  for (uint32_t a = 0; a < d->n_agents; a++) {
    const agent_t *ag = &d->agents[a];
    if (!ag->used || ag->region != region) continue;
    const ac_t *ac = ac_get(d, a, check);
    if (ac == NULL) continue;
    if (out->last_probe_us == VTG_TIME_NONE || ac->last_probe > out->last_probe_us) {
      out->last_probe_us = ac->last_probe;
      out->last_latency_us = ac->last_latency;
    }
    if (!ac_known_at(d, ac, ck, t)) continue;
    out->agents++;
    int blame = agent_impaired_at(ag, t);
    network += blame == VTG_BLAME_NETWORK;
    if (blame) continue;
    out->healthy_agents++;
    if (ac->state == AC_DOWN)
      down++;
    else if (ac->degraded)
      degraded++;
  }
  /* No healthy agent: unknown, and why when it is the region's path. */
  if (out->healthy_agents == 0) {
    out->blame = network > 0 && network == out->agents ? VTG_BLAME_NETWORK : VTG_BLAME_NONE;
    return;
  }
  if (2 * down > out->healthy_agents)
    out->state = VTG_STATE_DOWN;
  else if (2 * degraded > out->healthy_agents)
    out->state = VTG_STATE_DEGRADED;
  else
    out->state = VTG_STATE_UP;
}

int vtg_detect_check_open(const vtg_detect_t *d, uint32_t check) {
  const check_t *ck = check_get(d, check);
  for (size_t i = 0; ck != NULL && i < ck->n_incs; i++)
    if (ck->incs[i].resolved == TIME_INF) return 1;
  return 0;
}

void vtg_detect_agent_status(const vtg_detect_t *d, uint32_t agent, vtg_agent_status_t *out) {
  memset(out, 0, sizeof *out);
  if (agent >= d->n_agents || !d->agents[agent].used) return;
  const agent_t *ag = &d->agents[agent];
  downset_t ds = agent_downset(d, ag, d->watermark);
  out->blame = agent_impaired_at(ag, d->watermark);
  out->impaired = out->blame != 0;
  out->suspect = downset_suspect(ds);
  out->checks_down = ds.down;
  out->checks = ds.known;
}
