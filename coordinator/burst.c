/* Confirmation bursts and the incident cadence (burst.h). */
#include "burst.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"
#include "vtg/prom.h"

#define ST_UNKNOWN 0
#define ST_UP 1
#define ST_DOWN 2

/* Per agent: its last outcome per check and when it was last sent a
 * ProbeNow for it; both indexed by stable check id, grown on use. */
typedef struct agent_st_s {
  uint8_t *st;
  int64_t *pn_us;
  uint32_t len;
} agent_st_t;

struct vtg_burst_s {
  agent_st_t *agents;      /* by agent idx */
  size_t n_agents;
  /* By stable check id: */
  int64_t *last_burst_us;
  uint64_t *bursts;
  uint8_t *fast;           /* 1 while the check runs at its incident cadence */
  uint32_t n_ids;
  uint64_t probe_now_sent;
  size_t rotate;           /* round-robin start among other regions */
};

/* ---- pure parts ---- */

int vtg_burst_allowed(int64_t now_us, int64_t last_us, int64_t gap_us) {
  if (last_us == INT64_MIN) return 1;
  return now_us - last_us >= gap_us;
}

/* The best usable candidate of region: the furthest next probe, ties the
 * lower agent. Returns n when there is none. */
static size_t best_of(const vtg_burst_cand_t *c, size_t n, const uint8_t *usable,
                      const char *region) {
  size_t best = n;
  for (size_t i = 0; i < n; i++) {
    if (!usable[i] || strcmp(c[i].region, region) != 0) continue;
    if (best == n || c[i].until_next_us > c[best].until_next_us ||
        (c[i].until_next_us == c[best].until_next_us && c[i].agent < c[best].agent))
      best = i;
  }
  return best;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t vtg_burst_pick(const vtg_burst_cand_t *cands, size_t n, const char *origin_region,
                      int64_t now_us, int64_t agent_gap_us, size_t max, size_t rotate,
                      size_t *out) {
  size_t got = 0, n_other = 0;
  if (n == 0 || max == 0) return 0;
  uint8_t *usable = calloc(n, 1);
  const char **others = malloc(n * sizeof *others);
  if (usable == NULL || others == NULL) goto out;
  for (size_t i = 0; i < n; i++) {
    usable[i] = (uint8_t)vtg_burst_allowed(now_us, cands[i].last_sent_us, agent_gap_us);
    if (!usable[i] || strcmp(cands[i].region, origin_region) == 0) continue;
    int seen = 0;
    for (size_t k = 0; k < n_other && !seen; k++) seen = strcmp(others[k], cands[i].region) == 0;
    if (!seen) others[n_other++] = cands[i].region;
  }
  qsort(others, n_other, sizeof *others, cmp_str);
  /* Same-region places: all but those kept for the other regions (at most
   * half of the burst goes elsewhere while the region has peers). */
  size_t keep = n_other < max / 2 ? n_other : max / 2;
  size_t same_quota = max - keep, k;
  while (got < same_quota && (k = best_of(cands, n, usable, origin_region)) < n) {
    usable[k] = 0;
    out[got++] = k;
  }
  for (size_t r = 0; r < n_other && got < max; r++) {
    k = best_of(cands, n, usable, others[(r + rotate) % n_other]);
    if (k == n) continue;
    usable[k] = 0;
    out[got++] = k;
  }
  while (got < max && (k = best_of(cands, n, usable, origin_region)) < n) {
    usable[k] = 0;
    out[got++] = k;
  }
out:
  free(usable);
  free(others);
  return got;
}

/* ---- state ---- */

vtg_burst_t *vtg_burst_new(void) { return calloc(1, sizeof(vtg_burst_t)); }

void vtg_burst_free(vtg_burst_t *b) {
  if (b == NULL) return;
  for (size_t i = 0; i < b->n_agents; i++) {
    free(b->agents[i].st);
    free(b->agents[i].pn_us);
  }
  free(b->agents);
  free(b->last_burst_us);
  free(b->bursts);
  free(b->fast);
  free(b);
}

/* Grows an array of n_old elements of size sz to n_new, the new part
 * zeroed (or filled by fill when not NULL). Returns the array or NULL (the
 * old one is then still valid). */
static void *grow(void *p, size_t n_old, size_t n_new, size_t sz) {
  void *q = realloc(p, n_new * sz);
  if (q == NULL) return NULL;
  memset((char *)q + n_old * sz, 0, (n_new - n_old) * sz);
  return q;
}

/* Makes the per-check arrays cover id. Returns 0 or VTG_ENOMEM. */
static int ensure_check(vtg_burst_t *b, uint32_t id) {
  if (id < b->n_ids) return 0;
  if (id >= (1u << 24)) return VTG_ELIMIT;
  uint32_t n = id + 1 > 2 * b->n_ids ? id + 1 : 2 * b->n_ids;
  int64_t *lb = grow(b->last_burst_us, b->n_ids, n, sizeof *lb);
  if (lb == NULL) return VTG_ENOMEM;
  b->last_burst_us = lb;
  for (uint32_t i = b->n_ids; i < n; i++) lb[i] = INT64_MIN;
  uint64_t *bu = grow(b->bursts, b->n_ids, n, sizeof *bu);
  if (bu == NULL) return VTG_ENOMEM;
  b->bursts = bu;
  uint8_t *f = grow(b->fast, b->n_ids, n, 1);
  if (f == NULL) return VTG_ENOMEM;
  b->fast = f;
  b->n_ids = n;
  return 0;
}

/* The state of agent idx covering check id, or NULL (out of memory). */
static agent_st_t *agent_state(vtg_burst_t *b, uint32_t idx, uint32_t id) {
  if (idx >= b->n_agents) {
    size_t n = (size_t)idx + 1 > 2 * b->n_agents ? (size_t)idx + 1 : 2 * b->n_agents;
    agent_st_t *na = grow(b->agents, b->n_agents, n, sizeof *na);
    if (na == NULL) return NULL;
    b->agents = na;
    b->n_agents = n;
  }
  agent_st_t *s = &b->agents[idx];
  if (id >= s->len) {
    if (id >= (1u << 24)) return NULL;
    uint32_t n = id + 1 > 2 * s->len ? id + 1 : 2 * s->len;
    uint8_t *st = grow(s->st, s->len, n, 1);
    if (st == NULL) return NULL;
    s->st = st;
    int64_t *pn = grow(s->pn_us, s->len, n, sizeof *pn);
    if (pn == NULL) return NULL;
    for (uint32_t i = s->len; i < n; i++) pn[i] = INT64_MIN;
    s->pn_us = pn;
    s->len = n;
  }
  return s;
}

static vtg_burst_t *burst_of(const vtg_coord_t *c) {
  return c->server ? vtg_server_burst(c->server) : NULL;
}

/* Sends the burst for check idx (stable id) that agent a's turn (down or
 * up again) asks for, within the limits. */
static void burst_send(vtg_coord_t *c, vtg_burst_t *b, vtg_agent_t *a, size_t idx, uint32_t id,
                       int down, int64_t now_us) {
  const vtg_check_cfg_t *ch = &c->cfg.checks[idx];
  if (!vtg_burst_allowed(now_us, b->last_burst_us[id], ch->interval_us / 2)) return;
  vtg_burst_cand_t *cands = malloc((c->n_agents ? c->n_agents : 1) * sizeof *cands);
  size_t *pick = malloc(VTG_BURST_MAX_AGENTS * sizeof *pick);
  size_t n = 0, got = 0, sent = 0;
  if (cands == NULL || pick == NULL) goto out;
  for (size_t i = 0; i < c->n_agents; i++) {
    vtg_agent_t *o = c->agents[i];
    if (o == a || !o->connected || o->session == NULL) continue;
    if (!vtg_config_check_applies(ch, o->region)) continue;
    int64_t until = 0;
    if (vtg_server_next_probe_us(o, id, now_us, &until) != 0) continue; /* no CheckSet yet */
    agent_st_t *s = agent_state(b, o->idx, id);
    if (s == NULL) continue;
    cands[n++] = (vtg_burst_cand_t){
        .agent = o->idx, .region = o->region, .until_next_us = until, .last_sent_us = s->pn_us[id]};
  }
  got = vtg_burst_pick(cands, n, a->region, now_us, ch->interval_us / 4, VTG_BURST_MAX_AGENTS,
                       b->rotate++, pick);
  for (size_t k = 0; k < got; k++) {
    vtg_agent_t *o = c->agents[cands[pick[k]].agent];
    if (vtg_server_probe_now(o, &id, 1) != 0) continue;
    agent_state(b, o->idx, id)->pn_us[id] = now_us; /* exists: made above */
    b->probe_now_sent++;
    sent++;
  }
  if (sent > 0) {
    b->last_burst_us[id] = now_us;
    b->bursts[id]++;
    VTG_INFO("check %s: agent %s (%s) %s; ProbeNow to %zu agent(s)", ch->name, a->id, a->region,
             down ? "went down" : "is up again", sent);
  }
out:
  free(cands);
  free(pick);
}

void vtg_burst_on_result(vtg_coord_t *c, vtg_agent_t *a, uint32_t check_id, int outcome,
                         int64_t start_us) {
  vtg_burst_t *b = burst_of(c);
  int idx = vtg_coord_check_index(c, check_id);
  if (b == NULL || idx < 0) return;
  if (outcome != VTG_OUTCOME_UP && outcome != VTG_OUTCOME_DEGRADED && outcome != VTG_OUTCOME_DOWN)
    return;
  agent_st_t *s = agent_state(b, a->idx, check_id);
  if (s == NULL || ensure_check(b, check_id) != 0) return;
  int down = outcome == VTG_OUTCOME_DOWN;
  uint8_t prev = s->st[check_id];
  s->st[check_id] = down ? ST_DOWN : ST_UP;
  if (!(prev == ST_UP && down) && !(prev == ST_DOWN && !down)) return;
  const vtg_check_cfg_t *ch = &c->cfg.checks[idx];
  int64_t now = vtg_clock_wall_us();
  /* A replayed spool tells of turns long past: confirming them now
   * measures nothing. */
  if (now - start_us > ch->interval_us + ch->timeout_us) return;
  burst_send(c, b, a, (size_t)idx, check_id, down, now);
}

void vtg_burst_tick(vtg_coord_t *c) {
  vtg_burst_t *b = burst_of(c);
  int changed = 0;
  if (b == NULL) return;
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    uint32_t id = c->check_ids[i];
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    /* Fast while a region is down or an incident is open (it stays open
     * while its last region settles). */
    int down = vtg_detect_check_open(c->detect, id);
    for (size_t r = 0; r < c->n_regions && !down; r++) {
      vtg_region_status_t st;
      vtg_detect_region_status(c->detect, id, (uint32_t)r, &st);
      down = st.state == VTG_STATE_DOWN;
    }
    if (ensure_check(b, id) != 0 || b->fast[id] == down) continue;
    b->fast[id] = (uint8_t)down;
    changed = 1;
    if (down)
      VTG_INFO("check %s is down in a region: its agents probe it every %.1f s until it has "
               "recovered everywhere",
               ch->name, (double)vtg_config_incident_interval_us(&c->cfg, ch) / 1e6);
    else
      VTG_INFO("check %s has recovered everywhere: back to every %.1f s", ch->name,
               (double)ch->interval_us / 1e6);
  }
  if (changed) vtg_server_fleet_changed(c->server);
}

int64_t vtg_burst_interval_us(const vtg_coord_t *c, size_t idx) {
  const vtg_burst_t *b = burst_of(c);
  const vtg_check_cfg_t *ch = &c->cfg.checks[idx];
  uint32_t id = c->check_ids[idx];
  if (b != NULL && id < b->n_ids && b->fast[id]) return vtg_config_incident_interval_us(&c->cfg, ch);
  return ch->interval_us;
}

int vtg_burst_write_metrics(const vtg_coord_t *c, vtg_buf_t *out) {
  const vtg_burst_t *b = burst_of(c);
  int err = vtg_prom_family(out, "vantage_check_bursts_total", "counter",
                            "Confirmation bursts (ProbeNow to other agents) sent for the check.");
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    uint32_t id = c->check_ids[i];
    err |= vtg_buf_appends(out, "vantage_check_bursts_total{check=\"");
    err |= vtg_prom_label(out, c->cfg.checks[i].name);
    err |= vtg_buf_printf(out, "\"} %" PRIu64 "\n", b && id < b->n_ids ? b->bursts[id] : 0);
  }
  err |= vtg_prom_family(out, "vantage_probe_now_sent_total", "counter",
                         "ProbeNow frames sent to agents.");
  err |= vtg_buf_printf(out, "vantage_probe_now_sent_total %" PRIu64 "\n",
                        b ? b->probe_now_sent : 0);
  return err;
}
