/* Every address: sub-checks per (check, address), the per-turn aggregate
 * of the check, partial incidents, and the addresses shown in status. See
 * addrs.h for the rules; this file keeps the tables. */
#include "addrs.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"
#include "vtg/log.h"

#define ADDR_MAX 64     /* an address as text (INET6_ADDRSTRLEN fits) */
#define INC_ID_MAX 64
#define INCS_MAX 4096   /* incident records kept for the overlap rule */

typedef struct sub_s {
  uint32_t parent, id;
  char addr[ADDR_MAX];
} sub_t;

/* One agent's turn of one check, until all its addresses are in. */
typedef struct turn_s {
  uint32_t check, agent;
  int64_t start_us, max_total_us; /* the longest of the best outcome's addresses */
  uint32_t need, got;
  int best;   /* best outcome so far: VTG_OUTCOME_UP < DEGRADED < DOWN, so the minimum */
  int cause;  /* error class of the first down address */
} turn_t;

typedef struct inc_rec_s {
  uint32_t check;   /* the parent check */
  int whole;        /* 1: the check's own incident; 0: a partial one */
  int64_t onset_us, resolved_us;
  char id[INC_ID_MAX];
} inc_rec_t;

/* The addresses one region's agents probed for one check, newest times:
 * a small array that grows to VTG_ADDRS_SHOWN (usually one entry). */
typedef struct seen_addr_s {
  int64_t at;
  char addr[ADDR_MAX];
} seen_addr_t;

typedef struct seen_s {
  seen_addr_t *e;
  size_t n;
} seen_t;

/* Per check id (dense), per region idx (dense): O(1) on the ingest path. */
typedef struct seen_check_s {
  seen_t *regions;
  size_t n_regions;
} seen_check_t;

#define SEEN_MAX_CHECK (1u << 24) /* check ids are dense store ids (coord.c's bound) */
#define SEEN_MAX_REGION 4096

struct vtg_addrs_s {
  vtg_detect_t *d;
  vtg_addrs_id_fn id_fn;
  void *id_ctx;
  sub_t *subs;
  size_t n_subs, alloc_subs;
  turn_t *turns;
  size_t n_turns, alloc_turns;
  inc_rec_t *incs;
  size_t n_incs, alloc_incs;
  seen_check_t *seen;  /* by check id */
  size_t n_seen;
  char drop_ids[VTG_ADDRS_DROP_MAX][INC_ID_MAX]; /* the verdict's drop[] */
};

/* Makes room for one more element of size sz in *arr (n used, *alloc). */
static int grow(void **arr, size_t n, size_t *alloc, size_t sz) {
  if (n < *alloc) return 0;
  size_t na = *alloc ? *alloc * 2 : 16;
  void *p = realloc(*arr, na * sz);
  if (p == NULL) return VTG_ENOMEM;
  *arr = p;
  *alloc = na;
  return 0;
}

vtg_addrs_t *vtg_addrs_new(vtg_detect_t *d, vtg_addrs_id_fn id_fn, void *id_ctx) {
  vtg_addrs_t *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->d = d;
  m->id_fn = id_fn;
  m->id_ctx = id_ctx;
  return m;
}

void vtg_addrs_free(vtg_addrs_t *m) {
  if (m == NULL) return;
  free(m->subs);
  free(m->turns);
  free(m->incs);
  for (size_t i = 0; i < m->n_seen; i++) {
    for (size_t r = 0; r < m->seen[i].n_regions; r++) free(m->seen[i].regions[r].e);
    free(m->seen[i].regions);
  }
  free(m->seen);
  free(m);
}

/* ---- sub-checks ---- */

/* The sub-check of (ch, addr), declared to the detector on first use. */
static int sub_get(vtg_addrs_t *m, const vtg_addrs_check_t *ch, const char *addr, uint32_t *out) {
  char name[VTG_ADDRS_NAME_MAX];
  uint32_t id;
  int err;
  for (size_t i = 0; i < m->n_subs; i++)
    if (m->subs[i].parent == ch->id && strcmp(m->subs[i].addr, addr) == 0) {
      *out = m->subs[i].id;
      return 0;
    }
  /* The address comes from an agent: an IP literal, and a bounded number
   * of them per check (addresses come and go; the agent probes at most 8 a
   * turn), so a confused peer cannot grow the detector and the store. */
  unsigned char bin[16];
  size_t per_check = 0;
  if (strlen(addr) >= ADDR_MAX ||
      (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1))
    return VTG_EINVAL;
  for (size_t i = 0; i < m->n_subs; i++) per_check += m->subs[i].parent == ch->id;
  if (per_check >= VTG_ADDRS_PER_CHECK_MAX) {
    VTG_WARN("check %s: more than %d addresses seen; %s not tracked", ch->name,
             VTG_ADDRS_PER_CHECK_MAX, addr);
    return VTG_ELIMIT;
  }
  if ((size_t)snprintf(name, sizeof name, "%s@%s", ch->name, addr) >= sizeof name)
    return VTG_EINVAL;
  if ((err = m->id_fn(m->id_ctx, name, ch->service, ch->kind, &id)) != 0) return err;
  if ((err = grow((void **)&m->subs, m->n_subs, &m->alloc_subs, sizeof *m->subs)) != 0)
    return err;
  if ((err = vtg_detect_set_check(m->d, id, name, ch->service, ch->kind, ch->interval_us,
                                  ch->timeout_us)) != 0)
    return err;
  sub_t *s = &m->subs[m->n_subs++];
  s->parent = ch->id;
  s->id = id;
  memcpy(s->addr, addr, strlen(addr) + 1);
  VTG_INFO("check %s: address %s is sub-check %u", ch->name, addr, id);
  *out = id;
  return 0;
}

int vtg_addrs_parent(const vtg_addrs_t *m, uint32_t sub, uint32_t *parent, const char **addr) {
  if (m == NULL) return 0;
  for (size_t i = 0; i < m->n_subs; i++)
    if (m->subs[i].id == sub) {
      *parent = m->subs[i].parent;
      *addr = m->subs[i].addr;
      return 1;
    }
  return 0;
}

void vtg_addrs_remove_check(vtg_addrs_t *m, uint32_t check) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->n_subs;) {
    if (m->subs[i].parent != check) {
      i++;
      continue;
    }
    vtg_detect_remove_check(m->d, m->subs[i].id);
    m->subs[i] = m->subs[--m->n_subs];
  }
  for (size_t i = 0; i < m->n_turns;) {
    if (m->turns[i].check == check)
      m->turns[i] = m->turns[--m->n_turns];
    else
      i++;
  }
}

static int has_subs(const vtg_addrs_t *m, uint32_t check) {
  for (size_t i = 0; i < m->n_subs; i++)
    if (m->subs[i].parent == check) return 1;
  return 0;
}

/* ---- turns ---- */

/* Feeds the check the aggregate of turn t and forgets t. */
static int turn_flush(vtg_addrs_t *m, size_t i) {
  turn_t t = m->turns[i];
  m->turns[i] = m->turns[--m->n_turns];
  vtg_detect_result_t r = {
      .agent = t.agent,
      .check = t.check,
      .start_us = t.start_us,
      .total_us = t.max_total_us,
      .outcome = t.best,
      .error_class = t.best == VTG_OUTCOME_DOWN ? t.cause : 0,
  };
  return vtg_detect_feed(m->d, &r);
}

static long turn_find(const vtg_addrs_t *m, uint32_t check, uint32_t agent) {
  for (size_t i = 0; i < m->n_turns; i++)
    if (m->turns[i].check == check && m->turns[i].agent == agent) return (long)i;
  return -1;
}

/* Outcome order for the aggregate: up is best, down worst. */
static int rank(int outcome) {
  return outcome == VTG_OUTCOME_UP ? 0 : outcome == VTG_OUTCOME_DEGRADED ? 1 : 2;
}

int vtg_addrs_feed(vtg_addrs_t *m, const vtg_addrs_check_t *ch, const vtg_detect_result_t *r,
                   const char *addr, uint32_t turn_addresses) {
  int err = 0, e2;
  long ti = turn_find(m, ch->id, r->agent);
  if (addr == NULL || addr[0] == '\0' || turn_addresses == 0) {
    /* A whole-turn result (failed lookup): the open turn, if any, ends. */
    if (ti >= 0) err = turn_flush(m, (size_t)ti);
    e2 = vtg_detect_feed(m->d, r);
    return err ? err : e2;
  }
  uint32_t sub;
  if ((err = sub_get(m, ch, addr, &sub)) != 0) return err;
  vtg_detect_result_t sr = *r;
  sr.check = sub;
  err = vtg_detect_feed(m->d, &sr);

  if (ti >= 0 && m->turns[ti].start_us != r->start_us) {
    /* A new turn while the last is incomplete (a result lost): the last
     * one counts with what it has. Turns only move forward per agent. */
    if ((e2 = turn_flush(m, (size_t)ti)) != 0 && err == 0) err = e2;
    ti = -1;
  }
  if (ti < 0) {
    if ((e2 = grow((void **)&m->turns, m->n_turns, &m->alloc_turns, sizeof *m->turns)) != 0)
      return err ? err : e2;
    ti = (long)m->n_turns++;
    m->turns[ti] = (turn_t){.check = ch->id,
                            .agent = r->agent,
                            .start_us = r->start_us,
                            .need = turn_addresses,
                            .best = VTG_OUTCOME_DOWN};
  }
  turn_t *t = &m->turns[ti];
  t->got++;
  if (r->outcome == VTG_OUTCOME_DOWN && t->cause == 0) t->cause = r->error_class;
  /* The turn's duration is the longest among the addresses of its best
   * outcome: an up turn is not as slow as its timed-out address. */
  if (t->got == 1 || rank(r->outcome) < rank(t->best)) {
    t->best = r->outcome;
    t->max_total_us = r->total_us;
  } else if (rank(r->outcome) == rank(t->best) && r->total_us > t->max_total_us) {
    t->max_total_us = r->total_us;
  }
  if (t->got >= t->need && (e2 = turn_flush(m, (size_t)ti)) != 0 && err == 0) err = e2;
  return err;
}

/* ---- incidents ---- */

static int overlaps(const inc_rec_t *a, int64_t onset, int64_t resolved) {
  int64_t a_end = a->resolved_us == VTG_TIME_NONE ? INT64_MAX : a->resolved_us;
  int64_t b_end = resolved == VTG_TIME_NONE ? INT64_MAX : resolved;
  return a->onset_us < b_end && onset < a_end;
}

static void inc_forget(vtg_addrs_t *m, const char *id) {
  for (size_t i = 0; i < m->n_incs; i++)
    if (strcmp(m->incs[i].id, id) == 0) {
      memmove(&m->incs[i], &m->incs[i + 1], (m->n_incs - i - 1) * sizeof *m->incs);
      m->n_incs--;
      return;
    }
}

static void inc_put(vtg_addrs_t *m, uint32_t check, int whole, const vtg_incident_t *inc) {
  inc_rec_t *r = NULL;
  for (size_t i = 0; i < m->n_incs && r == NULL; i++)
    if (strcmp(m->incs[i].id, inc->id) == 0) r = &m->incs[i];
  if (r == NULL) {
    if (m->n_incs == INCS_MAX) { /* the oldest record goes */
      memmove(&m->incs[0], &m->incs[1], (m->n_incs - 1) * sizeof *m->incs);
      m->n_incs--;
    }
    if (grow((void **)&m->incs, m->n_incs, &m->alloc_incs, sizeof *m->incs) != 0) {
      VTG_WARN("addresses: out of memory recording incident %s", inc->id);
      return;
    }
    r = &m->incs[m->n_incs++];
    snprintf(r->id, sizeof r->id, "%s", inc->id);
  }
  r->check = check;
  r->whole = whole;
  r->onset_us = inc->onset_us;
  r->resolved_us = inc->resolved_us;
}

void vtg_addrs_incident(vtg_addrs_t *m, const vtg_incident_t *inc, int removed,
                        vtg_addrs_verdict_t *v) {
  uint32_t parent;
  const char *addr;
  memset(v, 0, sizeof *v);
  v->check = inc->check;
  if (m == NULL) return;
  if (vtg_addrs_parent(m, inc->check, &parent, &addr)) {
    v->check = parent;
    v->addr = addr;
    v->partial = 1;
    if (removed) {
      inc_forget(m, inc->id);
      return;
    }
    for (size_t i = 0; i < m->n_incs; i++)
      if (m->incs[i].whole && m->incs[i].check == parent &&
          overlaps(&m->incs[i], inc->onset_us, inc->resolved_us)) {
        /* The whole check was down meanwhile: that incident tells it. */
        v->skip = 1;
        inc_forget(m, inc->id);
        return;
      }
    inc_put(m, parent, 0, inc);
    return;
  }
  if (!has_subs(m, inc->check)) return;
  if (removed) {
    inc_forget(m, inc->id);
    return;
  }
  inc_put(m, inc->check, 1, inc);
  for (size_t i = 0; i < m->n_incs && v->n_drop < VTG_ADDRS_DROP_MAX;) {
    inc_rec_t *r = &m->incs[i];
    if (!r->whole && r->check == inc->check && overlaps(r, inc->onset_us, inc->resolved_us)) {
      memcpy(m->drop_ids[v->n_drop], r->id, INC_ID_MAX);
      v->drop[v->n_drop] = m->drop_ids[v->n_drop];
      v->n_drop++;
      inc_forget(m, r->id);
      continue;
    }
    i++;
  }
}

/* ---- addresses for status ---- */

/* The slot of (check, region), made when create says so; NULL when out of
 * memory, out of range, or absent. */
static seen_t *seen_slot(vtg_addrs_t *m, uint32_t check, uint32_t region, int create) {
  if (check >= SEEN_MAX_CHECK || region >= SEEN_MAX_REGION) return NULL;
  if (check >= m->n_seen) {
    if (!create) return NULL;
    size_t n = (size_t)check + 1 > m->n_seen * 2 ? (size_t)check + 1 : m->n_seen * 2;
    seen_check_t *p = realloc(m->seen, n * sizeof *p);
    if (p == NULL) return NULL;
    memset(p + m->n_seen, 0, (n - m->n_seen) * sizeof *p);
    m->seen = p;
    m->n_seen = n;
  }
  seen_check_t *sc = &m->seen[check];
  if (region >= sc->n_regions) {
    if (!create) return NULL;
    size_t n = (size_t)region + 1 > sc->n_regions * 2 ? (size_t)region + 1 : sc->n_regions * 2;
    seen_t *p = realloc(sc->regions, n * sizeof *p);
    if (p == NULL) return NULL;
    memset(p + sc->n_regions, 0, (n - sc->n_regions) * sizeof *p);
    sc->regions = p;
    sc->n_regions = n;
  }
  return &sc->regions[region];
}

void vtg_addrs_note(vtg_addrs_t *m, uint32_t check, uint32_t region, const char *addr,
                    int64_t start_us) {
  seen_t *s;
  size_t len, k, oldest = 0;
  if (m == NULL || addr == NULL || addr[0] == '\0' || (len = strlen(addr)) >= ADDR_MAX) return;
  if ((s = seen_slot(m, check, region, 1)) == NULL) return;
  for (k = 0; k < s->n; k++) {
    if (strcmp(s->e[k].addr, addr) == 0) break;
    if (s->e[k].at < s->e[oldest].at) oldest = k;
  }
  if (k == s->n) {
    if (s->n < VTG_ADDRS_SHOWN) {
      seen_addr_t *p = realloc(s->e, (s->n + 1) * sizeof *p);
      if (p == NULL) return;
      s->e = p;
      s->n++;
    } else {
      k = oldest;
    }
    memcpy(s->e[k].addr, addr, len + 1);
    s->e[k].at = start_us;
  } else if (start_us > s->e[k].at) {
    s->e[k].at = start_us;
  }
}

size_t vtg_addrs_latest(const vtg_addrs_t *m, uint32_t check, uint32_t region, int64_t window_us,
                        const char **out, size_t max) {
  size_t n = 0;
  if (m == NULL) return 0;
  const seen_t *s = seen_slot((vtg_addrs_t *)m, check, region, 0);
  if (s == NULL || s->n == 0) return 0;
  int64_t newest = s->e[0].at;
  for (size_t k = 1; k < s->n; k++)
    if (s->e[k].at > newest) newest = s->e[k].at;
  /* Newest first: selection over at most VTG_ADDRS_SHOWN entries. */
  int used[VTG_ADDRS_SHOWN] = {0};
  while (n < max) {
    long best = -1;
    for (size_t k = 0; k < s->n; k++)
      if (!used[k] && s->e[k].at >= newest - window_us &&
          (best < 0 || s->e[k].at > s->e[best].at))
        best = (long)k;
    if (best < 0) break;
    used[best] = 1;
    out[n++] = s->e[best].addr;
  }
  return n;
}
