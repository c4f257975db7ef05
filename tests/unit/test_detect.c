/* Table-driven tests of the detector: a fleet probes on a 1 s grid with
 * per-agent phases, faults decide each probe's outcome, results go in in
 * start-time order while the watermark follows 300 ms behind, and the
 * incidents that come out are compared with what DESIGN.md's rules say. */
#include "detect.h"

#include "test.h"

#define S 1000000LL /* one second in us */
#define T0 (1800000000LL * S)
#define MAX_AGENTS 16
#define MAX_CHECKS 8
#define MAX_FAULTS 8
#define MAX_INCS 16
#define NONE (-1)

/* error classes, as on the wire */
enum { E_NONE = 0, E_TIMEOUT = 5, E_RESET = 6, E_5XX = 7 };

typedef struct fault_s {
  int check;       /* NONE: every check (a vantage fault) */
  int region;      /* NONE: see agent */
  int agent;       /* NONE: every agent of region (or everyone) */
  double from, to; /* seconds */
  int cls;
  int flap;        /* fail every other probe */
} fault_t;

typedef struct fleet_s {
  int n_regions;
  int agents_per_region[8];
  int n_checks;
  const char *service[MAX_CHECKS];
  const char *kind[MAX_CHECKS];
  fault_t faults[MAX_FAULTS];
  int n_faults;
  double duration;
  /* derived */
  int n_agents;
  int region_of[MAX_AGENTS];
  /* lateness: results of this agent arrive only at the end (a replay) */
  int late_agent;
  /* phases spread evenly over the fleet, regions interleaved (issue 5) */
  int even_phases;
  int control[MAX_CHECKS]; /* control checks */
  double snap_at;          /* > 0: agent and region status recorded then (seconds) */
} fleet_t;

typedef struct seen_s {
  char id[32];
  int removed;
  int64_t onset, resolved;
  int cause, scope, n_regions, n_waves, peak, total;
  int64_t onset_window, resolved_window;
  int64_t region_onset_window[8], region_resolved_window[8];
  char regions[8][16];
  int n_spans[8];
  int64_t span_onset[8][4], span_resolved[8][4];
  int updates;
} seen_t;

typedef struct out_s {
  seen_t incs[MAX_INCS];
  vtg_agent_status_t snap_agent[MAX_AGENTS];
  vtg_region_status_t snap_region[8]; /* check 0 */
  int n;
  int retracted; /* published, then taken back: settling should prevent it */
} out_t;

static const char *region_names[] = {"us-east", "us-west", "eu-west", "ap-south",
                                     "us-central", "sa-east", "af-south", "me-central"};

static void on_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  out_t *o = ctx;
  seen_t *s = NULL;
  for (int i = 0; i < o->n; i++)
    if (strcmp(o->incs[i].id, inc->id) == 0) s = &o->incs[i];
  if (s == NULL) {
    if (o->n == MAX_INCS) return;
    s = &o->incs[o->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", inc->id);
  }
  s->removed = removed;
  o->retracted += removed;
  s->onset = inc->onset_us;
  s->resolved = inc->resolved_us;
  s->cause = inc->cause;
  s->scope = inc->scope;
  s->n_regions = (int)inc->n_regions;
  s->n_waves = (int)inc->n_waves;
  s->peak = inc->peak_regions;
  s->total = inc->total_regions;
  s->onset_window = inc->onset_window_us;
  s->resolved_window = inc->resolved_window_us;
  for (size_t i = 0; i < inc->n_regions && i < 8; i++) {
    s->region_onset_window[i] = inc->regions[i].onset_window_us;
    s->region_resolved_window[i] = inc->regions[i].resolved_window_us;
  }
  for (size_t i = 0; i < inc->n_regions && i < 8; i++) {
    snprintf(s->regions[i], sizeof s->regions[i], "%s", inc->regions[i].region);
    s->n_spans[i] = (int)inc->regions[i].n_spans;
    for (size_t k = 0; k < inc->regions[i].n_spans && k < 4; k++) {
      s->span_onset[i][k] = inc->regions[i].spans[k].onset_us;
      s->span_resolved[i][k] = inc->regions[i].spans[k].resolved_us;
    }
  }
  s->updates++;
}

static int fault_class(const fleet_t *f, int agent, int check, double t, int k) {
  for (int i = 0; i < f->n_faults; i++) {
    const fault_t *x = &f->faults[i];
    if (t < x->from || t >= x->to) continue;
    if (x->check != NONE && x->check != check) continue;
    if (x->agent != NONE && x->agent != agent) continue;
    if (x->region != NONE && x->region != f->region_of[agent]) continue;
    if (x->flap && (k % 2) == 0) continue;
    return x->cls;
  }
  return E_NONE;
}

typedef struct probe_s {
  int64_t start;
  int agent, check;
} probe_t;

static int cmp_probe(const void *a, const void *b) {
  const probe_t *x = a, *y = b;
  return (x->start > y->start) - (x->start < y->start);
}

/* Runs the fleet and returns the detector's published incidents (removed
 * ones dropped) in *o. */
static void run_fleet(fleet_t *f, const vtg_detect_params_t *p, out_t *o) {
  memset(o, 0, sizeof *o);
  vtg_detect_t *d = vtg_detect_new(p, on_incident, o);
  f->n_agents = 0;
  for (int r = 0; r < f->n_regions; r++) {
    vtg_detect_set_region(d, (uint32_t)r, region_names[r]);
    for (int a = 0; a < f->agents_per_region[r]; a++) {
      f->region_of[f->n_agents] = r;
      vtg_detect_set_agent(d, (uint32_t)f->n_agents, (uint32_t)r);
      f->n_agents++;
    }
  }
  for (int c = 0; c < f->n_checks; c++) {
    char name[32];
    snprintf(name, sizeof name, "check-%d", c);
    vtg_detect_set_check(d, (uint32_t)c, name, f->service[c], f->kind[c] ? f->kind[c] : "web", S,
                         700000);
    vtg_detect_set_control(d, (uint32_t)c, f->control[c]);
  }
  int snapped = f->snap_at <= 0;
  int n_steps = (int)f->duration;
  size_t n = (size_t)n_steps * (size_t)f->n_agents * (size_t)f->n_checks;
  probe_t *pr = calloc(n, sizeof *pr);
  size_t k = 0;
  for (int a = 0; a < f->n_agents; a++)
    for (int c = 0; c < f->n_checks; c++) {
      /* a fixed, uneven spread of phases over the interval, or the even
       * interleaving: agent j of region r in slot j * regions + r */
      int64_t phase = (int64_t)((a * 7919 + c * 104729) % 1000) * 1000;
      if (f->even_phases) {
        int r = f->region_of[a], j = 0;
        for (int b = 0; b < a; b++) j += f->region_of[b] == r;
        phase = (int64_t)(j * f->n_regions + r) * S / f->n_agents;
      }
      for (int s = 0; s < n_steps; s++) pr[k++] = (probe_t){T0 + s * S + phase, a, c};
    }
  qsort(pr, n, sizeof *pr, cmp_probe);
  int64_t next_adv = T0;
  int *step = calloc((size_t)f->n_agents * MAX_CHECKS, sizeof(int));
  for (size_t i = 0; i < n; i++) {
    while (pr[i].start >= next_adv) {
      vtg_detect_advance(d, next_adv - 300000);
      if (!snapped && next_adv - 300000 >= T0 + (int64_t)(f->snap_at * S)) {
        snapped = 1;
        for (int a = 0; a < f->n_agents; a++) vtg_detect_agent_status(d, (uint32_t)a, &o->snap_agent[a]);
        for (int r = 0; r < f->n_regions; r++)
          vtg_detect_region_status(d, 0, (uint32_t)r, &o->snap_region[r]);
      }
      next_adv += 100000;
    }
    if (pr[i].agent == f->late_agent) continue;
    int *kk = &step[pr[i].agent * MAX_CHECKS + pr[i].check];
    int cls = fault_class(f, pr[i].agent, pr[i].check, (double)(pr[i].start - T0) / S, (*kk)++);
    vtg_detect_result_t r = {(uint32_t)pr[i].agent, (uint32_t)pr[i].check, pr[i].start, 20000,
                             cls ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, cls};
    vtg_detect_feed(d, &r);
  }
  if (f->late_agent >= 0) { /* the replay: everything of that agent at once */
    memset(step, 0, (size_t)f->n_agents * MAX_CHECKS * sizeof(int));
    for (size_t i = 0; i < n; i++) {
      if (pr[i].agent != f->late_agent) continue;
      int *kk = &step[pr[i].agent * MAX_CHECKS + pr[i].check];
      int cls = fault_class(f, pr[i].agent, pr[i].check, (double)(pr[i].start - T0) / S, (*kk)++);
      vtg_detect_result_t r = {(uint32_t)pr[i].agent, (uint32_t)pr[i].check, pr[i].start, 20000,
                               cls ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, cls};
      vtg_detect_feed(d, &r);
    }
  }
  vtg_detect_advance(d, T0 + (int64_t)(f->duration * S));
  vtg_detect_advance(d, T0 + (int64_t)(f->duration * S) + 1);
  /* drop retracted incidents */
  int w = 0;
  for (int i = 0; i < o->n; i++)
    if (!o->incs[i].removed) o->incs[w++] = o->incs[i];
  o->n = w;
  free(step);
  free(pr);
  vtg_detect_free(d);
}

static vtg_detect_params_t params(int64_t merge_gap_s) {
  vtg_detect_params_t p = {2, 2, 2, merge_gap_s * S, 0, 0};
  return p;
}

static double rel(int64_t t) {
  return (double)(t - T0) / S;
}

#define ASSERT_NEAR(x, want, tol)                                                         \
  do {                                                                                    \
    double x_ = (x), w_ = (want);                                                         \
    if (x_ < w_ - (tol) || x_ > w_ + (tol)) {                                             \
      fprintf(stderr, "%s:%d: %s = %.3f, want %.3f +- %.1f\n", __FILE__, __LINE__, #x, x_, \
              w_, (double)(tol));                                                         \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

static fleet_t fleet(int n_regions, const int *per_region, int n_checks) {
  fleet_t f;
  memset(&f, 0, sizeof f);
  f.n_regions = n_regions;
  for (int r = 0; r < n_regions; r++) f.agents_per_region[r] = per_region[r];
  f.n_checks = n_checks;
  static const char *svc[] = {"shop", "auth", "search", "blog", "docs", "mail", "pay", "maps"};
  for (int c = 0; c < n_checks; c++) f.service[c] = svc[c];
  f.duration = 60;
  f.late_agent = -1;
  return f;
}

static void add_fault(fleet_t *f, int check, int region, int agent, double from, double to,
                      int cls) {
  f->faults[f->n_faults++] = (fault_t){check, region, agent, from, to, cls, 0};
}

/* One region with two agents agreeing: a regional incident (the two-agent
 * rule), onset and recovery from probe timestamps. */
VTG_TEST(regional_two_agents) {
  int per[] = {2, 1, 1};
  fleet_t f = fleet(3, per, 2);
  add_fault(&f, 1, 0, NONE, 12, 27, E_5XX);
  out_t o;
  run_fleet(&f, &(vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0}, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_REGIONAL);
  ASSERT_STR_EQ(o.incs[0].regions[0], "us-east");
  ASSERT_EQ(o.incs[0].n_regions, 1);
  ASSERT_NEAR(rel(o.incs[0].onset), 12.5, 0.5);
  ASSERT_NEAR(rel(o.incs[0].resolved), 27.5, 0.5);
  ASSERT_EQ(o.incs[0].cause, E_5XX);
  ASSERT_EQ(o.incs[0].peak, 1);
  ASSERT_EQ(o.incs[0].total, 3);
  return 0;
}

/* One agent alone never makes an incident, even in a one-agent region. */
VTG_TEST(one_agent_alone) {
  int per[] = {2, 1, 1};
  fleet_t f = fleet(3, per, 2);
  add_fault(&f, 0, NONE, 0, 10, 40, E_TIMEOUT); /* one of us-east's two */
  add_fault(&f, 1, 1, NONE, 10, 40, E_TIMEOUT); /* us-west's only agent */
  out_t o;
  run_fleet(&f, &(vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0}, &o);
  ASSERT_EQ(o.n, 0);
  return 0;
}

/* Two one-agent regions down together reach min_regions. */
VTG_TEST(two_single_agent_regions) {
  int per[] = {1, 1, 1, 1};
  fleet_t f = fleet(4, per, 2);
  add_fault(&f, 0, 2, NONE, 20, 35, E_TIMEOUT);
  add_fault(&f, 0, 3, NONE, 21, 33, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_MULTI_REGION);
  ASSERT_EQ(o.incs[0].n_regions, 2);
  ASSERT_NEAR(rel(o.incs[0].onset), 20.5, 0.5);
  ASSERT_NEAR(rel(o.incs[0].resolved), 35.5, 0.5);
  ASSERT_EQ(o.incs[0].cause, E_TIMEOUT);
  /* min_regions 3: the same is no incident */
  p.min_regions = 3;
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 0);
  return 0;
}

/* Every region down: global. */
VTG_TEST(global_scope) {
  int per[] = {2, 1, 2};
  fleet_t f = fleet(3, per, 1);
  add_fault(&f, 0, NONE, NONE, 10, 30, E_RESET);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_GLOBAL);
  ASSERT_EQ(o.incs[0].peak, 3);
  ASSERT_EQ(o.incs[0].total, 3);
  ASSERT_EQ(o.incs[0].cause, E_RESET);
  return 0;
}

/* Two one-agent regions whose agents lose their own network at once are
 * impaired: no incident, although two regions "fail" every check. A real
 * outage later is still found. */
VTG_TEST(vantage_fault_single_agent_regions) {
  int per[] = {2, 2, 2, 1, 1};
  fleet_t f = fleet(5, per, 4);
  f.duration = 70;
  add_fault(&f, NONE, NONE, 6, 15, 35, E_TIMEOUT); /* region 3's only agent */
  add_fault(&f, NONE, NONE, 7, 15, 35, E_TIMEOUT); /* region 4's only agent */
  add_fault(&f, 0, 0, NONE, 45, 60, E_5XX);
  add_fault(&f, 0, 1, NONE, 45, 60, E_5XX);
  out_t o;
  vtg_detect_params_t p = params(10);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_NEAR(rel(o.incs[0].onset), 45.5, 0.5);
  ASSERT_EQ(o.incs[0].n_regions, 2);
  /* settling: the broken agents' first failures were never published */
  ASSERT_EQ(o.retracted, 0);
  return 0;
}

/* An agent whose own network is broken, in a region of three: it is
 * impaired (its peers see the targets up), so when a second agent of the
 * region loses its path to one target, that is one healthy agent of two,
 * not a majority and not two agents agreeing. */
VTG_TEST(vantage_fault_with_peer) {
  int per[] = {3, 1, 2};
  fleet_t f = fleet(3, per, 3);
  add_fault(&f, NONE, NONE, 0, 10, 30, E_TIMEOUT); /* us-east-1: own network broken */
  add_fault(&f, 0, NONE, 1, 10, 30, E_RESET);      /* us-east-2: one path */
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 0);
  ASSERT_EQ(o.retracted, 0);
  return 0;
}

/* A region whose agents all fail together is not impaired: that is what an
 * outage looks like from there. Two such regions make an incident. */
VTG_TEST(region_fails_together) {
  int per[] = {2, 2, 2};
  fleet_t f = fleet(3, per, 2);
  add_fault(&f, NONE, 0, NONE, 10, 30, E_TIMEOUT);
  add_fault(&f, NONE, 1, NONE, 10, 30, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 2); /* one per check */
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_MULTI_REGION);
  ASSERT_EQ(o.incs[1].scope, VTG_SCOPE_MULTI_REGION);
  return 0;
}

/* One region's agents fail everything, across services, while every other
 * region sees the targets up: the region's network path, not an outage
 * (issue 5, blame). Its state is unknown, blamed on the network. */
VTG_TEST(region_network_path) {
  int per[] = {2, 2, 2, 2};
  fleet_t f = fleet(4, per, 3);
  f.duration = 50;
  f.snap_at = 30;
  add_fault(&f, NONE, 0, NONE, 10, 40, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 0);
  ASSERT_EQ(o.retracted, 0);
  ASSERT(o.snap_agent[0].impaired && o.snap_agent[0].blame == VTG_BLAME_NETWORK);
  ASSERT(o.snap_agent[1].impaired && o.snap_agent[1].blame == VTG_BLAME_NETWORK);
  ASSERT(!o.snap_agent[2].impaired);
  ASSERT_EQ(o.snap_region[0].state, VTG_STATE_UNKNOWN);
  ASSERT_EQ(o.snap_region[0].blame, VTG_BLAME_NETWORK);
  ASSERT_EQ(o.snap_region[1].state, VTG_STATE_UP);
  return 0;
}

/* The same region with its control check still up: the path works, so
 * the targets really are down there (a regional outage of both). */
VTG_TEST(region_fails_with_control_up) {
  int per[] = {2, 2, 2, 2};
  fleet_t f = fleet(4, per, 3);
  f.duration = 50;
  f.control[2] = 1;
  add_fault(&f, 0, 0, NONE, 10, 40, E_TIMEOUT);
  add_fault(&f, 1, 0, NONE, 10, 40, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 2); /* one regional incident per failing check */
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_REGIONAL);
  return 0;
}

/* A control check failing at one agent while the fleet sees it up blames
 * that vantage point, though it fails only half its checks: its failure
 * of check 0 does not make a second region. */
VTG_TEST(control_check_blames_vantage) {
  int per[] = {1, 1, 2};
  fleet_t f = fleet(3, per, 4);
  f.duration = 50;
  f.snap_at = 25;
  add_fault(&f, 0, NONE, 0, 10, 30, E_TIMEOUT);
  add_fault(&f, 3, NONE, 0, 10, 30, E_TIMEOUT);
  add_fault(&f, 0, NONE, 1, 10, 30, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o); /* without the control flag: two one-agent regions, an incident */
  ASSERT_EQ(o.n, 1);
  f.control[3] = 1;
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 0);
  ASSERT_EQ(o.retracted, 0);
  ASSERT(o.snap_agent[0].impaired && o.snap_agent[0].blame == VTG_BLAME_VANTAGE);
  ASSERT(!o.snap_agent[1].impaired);
  return 0;
}

/* Every other probe failing never reaches fail_threshold = 2. */
VTG_TEST(flapping_is_not_down) {
  int per[] = {2, 2};
  fleet_t f = fleet(2, per, 1);
  f.faults[f.n_faults++] = (fault_t){0, NONE, NONE, 5, 50, E_5XX, 1};
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 0);
  return 0;
}

/* Onset and recovery are intervals: from the last good probe before the
 * first failed one, and from the last failed probe before the first good
 * one. 8 agents in 4 regions with interleaved phases probe every 125 ms
 * somewhere; the outage runs 10.3 .. 30.7 s. */
VTG_TEST(onset_and_recovery_windows) {
  int per[] = {2, 2, 2, 2};
  fleet_t f = fleet(4, per, 1);
  f.duration = 50;
  f.even_phases = 1;
  add_fault(&f, 0, NONE, NONE, 10.3, 30.7, E_TIMEOUT);
  out_t o;
  vtg_detect_params_t p = params(12);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  /* first failed probe 10.375 (phase .375), last good before it 10.25 */
  ASSERT_NEAR(rel(o.incs[0].onset), 10.375, 0.001);
  ASSERT_NEAR((double)o.incs[0].onset_window / S, 0.125, 0.001);
  /* the last region back is us-west (phases .125/.625): first good 31.125;
   * the last failed probe before it 30.625 */
  ASSERT_NEAR(rel(o.incs[0].resolved), 31.125, 0.001);
  ASSERT_NEAR((double)o.incs[0].resolved_window / S, 0.5, 0.001);
  /* each region: its own two agents, half an interval apart */
  ASSERT_EQ(o.incs[0].n_regions, 4);
  for (int r = 0; r < 4; r++) {
    ASSERT(o.incs[0].region_onset_window[r] > 0);
    ASSERT(o.incs[0].region_onset_window[r] <= S / 2);
    ASSERT(o.incs[0].region_resolved_window[r] > 0);
    ASSERT(o.incs[0].region_resolved_window[r] <= S / 2);
  }
  /* the truth lies inside both windows */
  ASSERT(rel(o.incs[0].onset) - (double)o.incs[0].onset_window / S <= 10.3);
  ASSERT(rel(o.incs[0].resolved) - (double)o.incs[0].resolved_window / S <= 30.7);
  return 0;
}

/* Two outages closer than merge_gap are one incident in two waves; the
 * cause is the class with the most down probes over the whole incident. */
VTG_TEST(waves_merge) {
  int per[] = {2, 2, 1, 1};
  fleet_t f = fleet(4, per, 2);
  f.duration = 80;
  add_fault(&f, 0, 0, NONE, 10, 20, E_TIMEOUT);
  add_fault(&f, 0, 1, NONE, 10, 20, E_TIMEOUT);
  add_fault(&f, 0, 0, NONE, 28, 60, E_RESET);
  add_fault(&f, 0, 1, NONE, 28, 60, E_RESET);
  out_t o;
  vtg_detect_params_t p = params(12);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].n_waves, 2);
  ASSERT_NEAR(rel(o.incs[0].onset), 10.5, 0.5);
  ASSERT_NEAR(rel(o.incs[0].resolved), 60.5, 0.5);
  ASSERT_EQ(o.incs[0].cause, E_RESET);
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_MULTI_REGION);
  /* each region shows its two down stretches (the timeline's rows) */
  ASSERT_EQ(o.incs[0].n_regions, 2);
  for (int r = 0; r < 2; r++) {
    ASSERT_EQ(o.incs[0].n_spans[r], 2);
    ASSERT_NEAR(rel(o.incs[0].span_onset[r][0]), 10.5, 0.5);
    ASSERT_NEAR(rel(o.incs[0].span_resolved[r][0]), 20.5, 0.5);
    ASSERT_NEAR(rel(o.incs[0].span_onset[r][1]), 28.5, 0.5);
    ASSERT_NEAR(rel(o.incs[0].span_resolved[r][1]), 60.5, 0.5);
  }
  /* with a gap longer than merge_gap: two incidents */
  p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 2);
  ASSERT_EQ(o.incs[0].n_waves, 1);
  ASSERT_EQ(o.incs[1].n_waves, 1);
  ASSERT_EQ(o.incs[0].cause, E_TIMEOUT);
  ASSERT_EQ(o.incs[1].cause, E_RESET);
  return 0;
}

/* Results of one agent that arrive late (a replay) amend the incident
 * instead of making a second one. */
VTG_TEST(late_results_amend) {
  int per[] = {2, 2, 2};
  fleet_t f = fleet(3, per, 1);
  add_fault(&f, 0, 0, NONE, 10, 30, E_5XX);
  add_fault(&f, 0, 1, NONE, 10, 30, E_5XX);
  add_fault(&f, 0, 2, NONE, 10, 30, E_5XX);
  f.late_agent = 5; /* one of eu-west's: until it reports, eu-west is one agent */
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].n_regions, 3);
  ASSERT_NEAR(rel(o.incs[0].onset), 10.5, 0.5);
  ASSERT_NEAR(rel(o.incs[0].resolved), 30.5, 0.5);
  return 0;
}

/* While an incident is open, recovery of the last region ends it, and its
 * regions keep their own onset and recovery. */
VTG_TEST(regions_join_and_leave) {
  int per[] = {1, 1, 1, 1};
  fleet_t f = fleet(4, per, 1);
  add_fault(&f, 0, 0, NONE, 10, 40, E_5XX);
  add_fault(&f, 0, 1, NONE, 12, 20, E_5XX);
  add_fault(&f, 0, 2, NONE, 30, 45, E_5XX);
  out_t o;
  vtg_detect_params_t p = params(5);
  run_fleet(&f, &p, &o);
  ASSERT_EQ(o.n, 1);
  ASSERT_EQ(o.incs[0].n_regions, 3);
  ASSERT_EQ(o.incs[0].n_waves, 1);
  ASSERT_NEAR(rel(o.incs[0].onset), 10.5, 0.5);
  ASSERT_NEAR(rel(o.incs[0].resolved), 45.5, 0.5);
  ASSERT_EQ(o.incs[0].peak, 2);
  ASSERT_EQ(o.incs[0].scope, VTG_SCOPE_MULTI_REGION);
  return 0;
}


/* ===================== review additions ===================== */
#include <time.h>

/* an open incident that does not change must not be re-emitted on
 * every advance (publish compares rinc_t with memcmp, padding included). */
VTG_TEST(no_spurious_updates) {
  int per[] = {2, 1, 1};
  fleet_t f = fleet(3, per, 2);
  add_fault(&f, 1, 0, NONE, 12, 27, E_5XX);
  out_t o;
  run_fleet(&f, &(vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0}, &o);
  ASSERT_EQ(o.n, 1);
  fprintf(stderr, "updates=%d\n", o.incs[0].updates);
  ASSERT(o.incs[0].updates <= 6);
  return 0;
}

/* ---- direct driver: arbitrary intervals and long spans ---- */
typedef struct drv_s {
  vtg_detect_t *d;
  out_t o;
} drv_t;
static void drv_init(drv_t *v, vtg_detect_params_t p) {
  memset(&v->o, 0, sizeof v->o);
  v->d = vtg_detect_new(&p, on_incident, &v->o);
}
static void drv_feed(drv_t *v, int a, int c, int64_t t, int cls) {
  vtg_detect_result_t r = {(uint32_t)a, (uint32_t)c, t, 20000, cls ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP,
                           cls};
  vtg_detect_feed(v->d, &r);
}
static int drv_live(drv_t *v, int i) { /* index of the i-th not removed */
  for (int k = 0; k < v->o.n; k++)
    if (!v->o.incs[k].removed && i-- == 0) return k;
  return -1;
}

/* waves older than the 6 h run retention vanish from a still-open
 * incident. Wave 1 at 0..10 min, wave 2 from 15 min lasting 7 h, merge_gap
 * 10 min: the incident must keep 2 waves and both regions' first onset. */
VTG_TEST(long_incident_keeps_waves) {
  drv_t v;
  drv_init(&v, (vtg_detect_params_t){2, 2, 2, 600 * S, 0, 0});
  vtg_detect_set_region(v.d, 0, "us-east");
  vtg_detect_set_region(v.d, 1, "us-west");
  vtg_detect_set_agent(v.d, 0, 0);
  vtg_detect_set_agent(v.d, 1, 1);
  vtg_detect_set_check(v.d, 0, "c", "shop", "web", 60 * S, 10 * S);
  int64_t end = 8 * 3600;
  for (int64_t s = 0; s < end; s += 60) {
    int down = (s >= 60 && s < 600) || (s >= 900 && s < 900 + 7 * 3600);
    drv_feed(&v, 0, 0, T0 + s * S, down ? E_TIMEOUT : 0);
    drv_feed(&v, 1, 0, T0 + s * S + 7 * S, down ? E_TIMEOUT : 0);
    vtg_detect_advance(v.d, T0 + s * S + 8 * S);
  }
  vtg_detect_advance(v.d, T0 + end * S);
  int k = drv_live(&v, 0);
  ASSERT(k >= 0);
  ASSERT(drv_live(&v, 1) < 0);
  fprintf(stderr, "waves=%d onset=%.0f resolved=%.0f\n", v.o.incs[k].n_waves, rel(v.o.incs[k].onset),
          rel(v.o.incs[k].resolved));
  ASSERT_NEAR(rel(v.o.incs[k].onset), 60, 1);
  ASSERT_EQ(v.o.incs[k].n_waves, 2);
  vtg_detect_free(v.d);
  return 0;
}

/* MAX_RUNS = 512 per (agent, check): a flapping outage (down 2 / up 2
 * on a 1 s grid, fail 2 recover 2) longer than ~34 min loses its oldest
 * runs and the incident's onset jumps forward (and gets re-emitted). */
VTG_TEST(flapping_long_keeps_onset) {
  drv_t v;
  drv_init(&v, (vtg_detect_params_t){2, 2, 2, 60 * S, 0, 0});
  vtg_detect_set_region(v.d, 0, "us-east");
  vtg_detect_set_region(v.d, 1, "us-west");
  vtg_detect_set_agent(v.d, 0, 0);
  vtg_detect_set_agent(v.d, 1, 1);
  vtg_detect_set_check(v.d, 0, "c", "shop", "web", S, 700000);
  int64_t end = 3000;
  for (int64_t s = 0; s < end; s++) {
    int down = s >= 10 && s < 2800 && (s % 4) < 2;
    drv_feed(&v, 0, 0, T0 + s * S, down ? E_TIMEOUT : 0);
    drv_feed(&v, 1, 0, T0 + s * S + 500000, down ? E_TIMEOUT : 0);
    if (s % 10 == 0) vtg_detect_advance(v.d, T0 + s * S - 300000);
  }
  vtg_detect_advance(v.d, T0 + end * S);
  int k = drv_live(&v, 0);
  ASSERT(k >= 0);
  fprintf(stderr, "onset=%.1f waves=%d\n", rel(v.o.incs[k].onset), v.o.incs[k].n_waves);
  ASSERT_NEAR(rel(v.o.incs[k].onset), 12, 1); /* first down pair: 12, 13 */
  vtg_detect_free(v.d);
  return 0;
}

/* an impaired agent stops reporting one of its checks (check set
 * changed by the coordinator, or the probe for it is gone) while that run
 * is open. Its other checks all recover; the agent must become healthy
 * again. detect.c keeps it impaired forever (span end = TIME_INF), so a
 * real outage later in its region is not seen. */
VTG_TEST(impairment_ends_when_check_goes_silent) {
  drv_t v;
  drv_init(&v, (vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0});
  vtg_detect_set_region(v.d, 0, "us-east");
  vtg_detect_set_region(v.d, 1, "us-west");
  for (int a = 0; a < 4; a++) vtg_detect_set_agent(v.d, (uint32_t)a, (uint32_t)(a / 2));
  const char *svc[] = {"shop", "auth", "search"};
  for (int c = 0; c < 3; c++) vtg_detect_set_check(v.d, (uint32_t)c, svc[c], svc[c], "web", S, 700000);
  for (int64_t s = 0; s < 200; s++) {
    for (int a = 0; a < 4; a++)
      for (int c = 0; c < 3; c++) {
        if (a == 0 && c == 2 && s >= 20) continue; /* check 2 no longer probed by agent 0 */
        int cls = 0;
        if (a == 0 && s >= 10 && s < 30) cls = E_TIMEOUT;          /* own network */
        if (c == 0 && a < 2 && s >= 100 && s < 150) cls = E_5XX;  /* real outage, region 0 */
        if (c == 0 && a >= 2 && s >= 100 && s < 150) cls = E_5XX; /* and region 1 */
        drv_feed(&v, a, c, T0 + s * S + a * 100000 + c * 10000, cls);
      }
    vtg_detect_advance(v.d, T0 + s * S - 300000);
  }
  vtg_detect_advance(v.d, T0 + 200 * S);
  vtg_agent_status_t st;
  vtg_detect_agent_status(v.d, 0, &st);
  fprintf(stderr, "impaired=%d suspect=%d\n", st.impaired, st.suspect);
  ASSERT_EQ(st.impaired, 0);
  vtg_detect_free(v.d);
  return 0;
}

/* "id: stable for the life of the incident (across waves and
 * restarts)". A restart rebuilds the detector from the result log's tail;
 * the still-open incident comes back under a new id (the old one stays
 * open in the store forever, a duplicate). There is no way to tell the
 * new detector which incidents were published. */
static void feed_span(drv_t *v, int64_t from_s, int64_t to_s) {
  for (int64_t s = from_s; s < to_s; s++) {
    int down = s >= 10;
    drv_feed(v, 0, 0, T0 + s * S, down ? E_TIMEOUT : 0);
    drv_feed(v, 1, 0, T0 + s * S + 500000, down ? E_TIMEOUT : 0);
    vtg_detect_advance(v->d, T0 + s * S - 300000);
  }
}
static void setup_two(drv_t *v) {
  vtg_detect_set_region(v->d, 0, "us-east");
  vtg_detect_set_region(v->d, 1, "us-west");
  vtg_detect_set_agent(v->d, 0, 0);
  vtg_detect_set_agent(v->d, 1, 1);
  vtg_detect_set_check(v->d, 0, "c", "shop", "web", S, 700000);
}
VTG_TEST(id_stable_across_restart) {
  drv_t v1, v2;
  drv_init(&v1, params(5));
  setup_two(&v1);
  feed_span(&v1, 0, 30);
  ASSERT_EQ(v1.o.n, 1);
  char id[32];
  snprintf(id, sizeof id, "%s", v1.o.incs[0].id);
  int64_t v1_onset = v1.o.incs[0].onset;
    vtg_detect_free(v1.d);
  /* restart: the coordinator passes max stored seq + 1, replays the tail */
  drv_init(&v2, params(5));
  setup_two(&v2);
  vtg_detect_set_id_base(v2.d, 2);
  vtg_detect_restore_incident(v2.d, 0, id, v1_onset, VTG_TIME_NONE);
  feed_span(&v2, 0, 40);
  ASSERT_EQ(v2.o.n, 1);
  fprintf(stderr, "before restart %s, after %s\n", id, v2.o.incs[0].id);
  ASSERT_STR_EQ(v2.o.incs[0].id, id);
  vtg_detect_free(v2.d);
  return 0;
}

/* a check removed by a reload while its incident is open: the
 * incident is never resolved (no final callback), so outages --json shows
 * it open forever. */
VTG_TEST(removed_check_closes_incident) {
  drv_t v;
  drv_init(&v, params(5));
  setup_two(&v);
  feed_span(&v, 0, 30);
  ASSERT_EQ(v.o.n, 1);
  vtg_detect_remove_check(v.d, 0);
  vtg_detect_advance(v.d, T0 + 60 * S);
  fprintf(stderr, "resolved after removal: %lld\n", (long long)v.o.incs[0].resolved);
  ASSERT(v.o.incs[0].resolved != VTG_TIME_NONE);
  vtg_detect_free(v.d);
  return 0;
}

/* one agent of three in us-east has had a path problem to the target
 * since t=5 (one check, not suspect, a minority: the region is up). A
 * global outage starts at 30. The region's onset, and so the incident's,
 * is backdated to 5: 25 s before the outage. (Follows DESIGN.md's letter,
 * "earliest onset among the agents that are down when it goes down"; see
 * the design notes: with a path problem that is days old, the onset is
 * days old.) */
VTG_TEST(onset_not_backdated_to_minority_run) {
  int per[] = {3, 2, 2};
  fleet_t f = fleet(3, per, 2);
  add_fault(&f, 0, NONE, NONE, 30, 40, E_5XX);
  add_fault(&f, 0, NONE, 0, 5, 40, E_5XX);
  out_t o;
  run_fleet(&f, &(vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0}, &o);
  ASSERT_EQ(o.n, 1);
  fprintf(stderr, "onset=%.3f\n", rel(o.incs[0].onset));
  ASSERT_NEAR(rel(o.incs[0].onset), 30.5, 0.5);
  return 0;
}

/* "cause = the error class with the most down probes over the whole
 * incident": tally_intervals adds a run's whole counts, including probes
 * long after the incident ended. Outage 100..110 (5xx, every agent); one
 * us-east agent keeps failing with resets until 300 (a minority, after
 * the incident). Cause must be http_5xx. */
VTG_TEST(cause_only_probes_in_incident) {
  int per[] = {3, 2, 2};
  fleet_t f = fleet(3, per, 2);
  f.duration = 320;
  add_fault(&f, 0, NONE, NONE, 100, 110, E_5XX);
  add_fault(&f, 0, NONE, 0, 100, 300, E_RESET);
  out_t o;
  run_fleet(&f, &(vtg_detect_params_t){2, 2, 2, 5 * S, 0, 0}, &o);
  ASSERT_EQ(o.n, 1);
  fprintf(stderr, "cause=%d onset=%.1f resolved=%.1f\n", o.incs[0].cause, rel(o.incs[0].onset),
          rel(o.incs[0].resolved));
  ASSERT_NEAR(rel(o.incs[0].resolved), 110.5, 1);
  ASSERT_EQ(o.incs[0].cause, E_5XX);
  return 0;
}

/* both one-agent regions lose their agents (uplink gone, or the
 * agents die) in the middle of an outage; nobody recovered. The regions go
 * unknown, and the incident is resolved at last_probe + stale, a recovery
 * nobody observed. */
VTG_TEST(unknown_is_not_recovery) {
  drv_t v;
  drv_init(&v, params(5));
  setup_two(&v);
  vtg_detect_set_region(v.d, 2, "eu-west");
  vtg_detect_set_agent(v.d, 2, 2);
  for (int64_t s = 0; s < 120; s++) {
    int down = s >= 10;
    if (s < 30) {
      drv_feed(&v, 0, 0, T0 + s * S, down ? E_TIMEOUT : 0);
      drv_feed(&v, 1, 0, T0 + s * S + 500000, down ? E_TIMEOUT : 0);
    }
    drv_feed(&v, 2, 0, T0 + s * S + 200000, 0);
    vtg_detect_advance(v.d, T0 + s * S - 300000);
  }
  ASSERT_EQ(v.o.n, 1);
  fprintf(stderr, "resolved=%.1f (agents silent since 29.5)\n",
          v.o.incs[0].resolved == VTG_TIME_NONE ? -1.0 : rel(v.o.incs[0].resolved));
  ASSERT(v.o.incs[0].resolved == VTG_TIME_NONE);
  vtg_detect_free(v.d);
  return 0;
}

/* default settle = "the longest interval among the agent's checks
 * plus its timeout" is too short with mixed intervals and fail_threshold
 * 2: two one-agent regions whose own networks break at 100 (checks at 10 s
 * and 60 s, two services) publish a two-region incident from the 10 s
 * checks, which is retracted once the 60 s checks confirm. */
VTG_TEST(settle_mixed_intervals) {
  drv_t v;
  drv_init(&v, params(5));
  const char *rn[] = {"us-east", "us-west", "eu-west", "ap-south"};
  for (int r = 0; r < 4; r++) vtg_detect_set_region(v.d, (uint32_t)r, rn[r]);
  /* agents 0,1: one-agent regions 0,1; agents 2..5: two per region 2,3 */
  int reg[] = {0, 1, 2, 2, 3, 3};
  for (int a = 0; a < 6; a++) vtg_detect_set_agent(v.d, (uint32_t)a, (uint32_t)reg[a]);
  vtg_detect_set_check(v.d, 0, "fast", "shop", "web", 10 * S, 5 * S);
  vtg_detect_set_check(v.d, 1, "slow", "auth", "api", 60 * S, 5 * S);
  for (int64_t ms = 0; ms < 600000; ms += 100) {
    int64_t t = T0 + ms * 1000;
    for (int a = 0; a < 6; a++)
      for (int c = 0; c < 2; c++) {
        int64_t iv = c == 0 ? 10000 : 60000, ph = (a * 1300 + c * 700) % iv;
        if ((ms - ph) % iv != 0 || ms < ph) continue;
        int bad = a < 2 && ms >= 100000;
        drv_feed(&v, a, c, t, bad ? E_TIMEOUT : 0);
      }
    if (ms % 1000 == 0) vtg_detect_advance(v.d, t - 300000);
  }
  vtg_detect_advance(v.d, T0 + 600 * S);
  fprintf(stderr, "published %d, retracted %d\n", v.o.n, v.o.retracted);
  ASSERT_EQ(v.o.retracted, 0);
  ASSERT_EQ(drv_live(&v, 0), -1);
  vtg_detect_free(v.d);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(regional_two_agents) VTG_TEST_ENTRY(one_agent_alone)
                  VTG_TEST_ENTRY(two_single_agent_regions) VTG_TEST_ENTRY(global_scope)
                      VTG_TEST_ENTRY(vantage_fault_single_agent_regions)
                          VTG_TEST_ENTRY(vantage_fault_with_peer)
                              VTG_TEST_ENTRY(region_fails_together)
                                  VTG_TEST_ENTRY(flapping_is_not_down) VTG_TEST_ENTRY(waves_merge) VTG_TEST_ENTRY(onset_and_recovery_windows)
  VTG_TEST_ENTRY(region_network_path) VTG_TEST_ENTRY(region_fails_with_control_up)
  VTG_TEST_ENTRY(control_check_blames_vantage)
                                      VTG_TEST_ENTRY(late_results_amend)
                                          VTG_TEST_ENTRY(regions_join_and_leave)
  VTG_TEST_ENTRY(no_spurious_updates)
  VTG_TEST_ENTRY(long_incident_keeps_waves) VTG_TEST_ENTRY(flapping_long_keeps_onset)
  VTG_TEST_ENTRY(impairment_ends_when_check_goes_silent) 
  
   
  VTG_TEST_ENTRY(id_stable_across_restart) VTG_TEST_ENTRY(removed_check_closes_incident)
  VTG_TEST_ENTRY(onset_not_backdated_to_minority_run) VTG_TEST_ENTRY(cause_only_probes_in_incident)
  VTG_TEST_ENTRY(unknown_is_not_recovery) VTG_TEST_ENTRY(settle_mixed_intervals))
