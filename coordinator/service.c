/* Service incidents (service.h): grouping of check incidents per service,
 * down-probe shares by endpoint kind from the per-minute rollups, the API
 * route and the two /metrics families. */
#include "service.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "incident.h"
#include "maint.h"
#include "rollup.h"
#include "store.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/httpd.h"
#include "vtg/log.h"
#include "vtg/prom.h"

#define SERVICE_MAX_JSON                                                       \
  (256u * 1024 * 1024) /* the store's incidents, as JSON */
#define SERVICE_MAX_MINUTES                                                    \
  (31 * 1440) /* one count asks at most a month of minutes */

/* ---- the pure part ---- */

/* A check incident of the input, borrowed from the JSON tree. */
typedef struct cand_s {
  const vtg_json_t *obj;
  const char *service, *id, *check, *kind;
  int64_t onset_us, resolved_us; /* resolved VTG_TIME_NONE while open */
} cand_t;

/* A stretch of minutes a region of a member check was down. */
typedef struct range_s {
  const char *check, *kind, *region;
  int64_t from_us, to_us; /* whole minutes, [from, to) */
} range_t;

static int64_t json_time(const vtg_json_t *o, const char *key) {
  const char *s = vtg_json_get_str(o, key, NULL);
  int64_t t;
  if (s == NULL || vtg_clock_parse_rfc3339(s, &t) != 0)
    return VTG_TIME_NONE;
  return t;
}

static int str_or_empty_cmp(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "");
}

static int cmp_cand(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  int c = strcmp(x->service, y->service);
  if (c != 0)
    return c;
  if (x->onset_us != y->onset_us)
    return x->onset_us < y->onset_us ? -1 : 1;
  return str_or_empty_cmp(x->id, y->id);
}

static int cmp_range(const void *a, const void *b) {
  const range_t *x = a, *y = b;
  int c = strcmp(x->check, y->check);
  if (c == 0)
    c = strcmp(x->kind, y->kind);
  if (c == 0)
    c = strcmp(x->region, y->region);
  if (c == 0 && x->from_us != y->from_us)
    c = x->from_us < y->from_us ? -1 : 1;
  return c;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int64_t floor_minute(int64_t t) {
  int64_t m = t / VTG_ROLLUP_MINUTE_US;
  if (t % VTG_ROLLUP_MINUTE_US < 0)
    m--;
  return m * VTG_ROLLUP_MINUTE_US;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

/* Adds name to a sorted-later set of malloc'd strings unless present.
 * Linear: a service incident has a handful of checks and regions. */
static int set_add(char ***v, size_t *n, const char *name) {
  char **nv;
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*v)[i], name) == 0)
      return 0;
  if ((nv = realloc(*v, (*n + 1) * sizeof *nv)) == NULL)
    return VTG_ENOMEM;
  *v = nv;
  if ((nv[*n] = strdup(name)) == NULL)
    return VTG_ENOMEM;
  (*n)++;
  return 0;
}

static vtg_service_kind_t *kind_get(vtg_service_incident_t *si,
                                    const char *kind) {
  vtg_service_kind_t *nv;
  for (size_t i = 0; i < si->n_kinds; i++)
    if (strcmp(si->kinds[i].kind, kind) == 0)
      return &si->kinds[i];
  if ((nv = realloc(si->kinds, (si->n_kinds + 1) * sizeof *nv)) == NULL)
    return NULL;
  si->kinds = nv;
  nv[si->n_kinds].down = 0;
  if ((nv[si->n_kinds].kind = strdup(kind)) == NULL)
    return NULL;
  return &si->kinds[si->n_kinds++];
}

static int cmp_kind(const void *a, const void *b) {
  return strcmp(((const vtg_service_kind_t *)a)->kind,
                ((const vtg_service_kind_t *)b)->kind);
}

static void incident_free(vtg_service_incident_t *si) {
  free(si->id);
  free(si->service);
  for (size_t i = 0; i < si->n_members; i++) {
    free(si->members[i].id);
    free(si->members[i].check);
    free(si->members[i].kind);
  }
  free(si->members);
  for (size_t i = 0; i < si->n_checks; i++)
    free(si->checks[i]);
  free(si->checks);
  for (size_t i = 0; i < si->n_regions; i++)
    free(si->regions[i]);
  free(si->regions);
  for (size_t i = 0; i < si->n_kinds; i++)
    free(si->kinds[i].kind);
  free(si->kinds);
}

void vtg_service_list_free(vtg_service_list_t *l) {
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    incident_free(&l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* Appends the down stretches of one member's regions to *r (growing it):
 * each span as the whole minutes it touches; a region without spans
 * stands for one span from its onset to its recovery. */
static int member_ranges(const cand_t *m, int64_t now_us, range_t **r,
                         size_t *n, size_t *cap) {
  const vtg_json_t *regs = vtg_json_get(m->obj, "regions");
  for (size_t i = 0;
       regs != NULL && regs->type == VTG_JSON_ARRAY && i < regs->n; i++) {
    const vtg_json_t *reg = regs->items[i], *spans = vtg_json_get(reg, "spans");
    const char *name = vtg_json_get_str(reg, "region", NULL);
    size_t ns = spans != NULL && spans->type == VTG_JSON_ARRAY ? spans->n : 0;
    if (name == NULL)
      continue;
    for (size_t k = 0; k < (ns ? ns : 1); k++) {
      const vtg_json_t *sp = ns ? spans->items[k] : reg;
      int64_t a = json_time(sp, "onset"), b = json_time(sp, "resolved");
      if (b == VTG_TIME_NONE)
        b = now_us;
      if (a == VTG_TIME_NONE || b < a)
        continue;
      if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        range_t *nr = realloc(*r, nc * sizeof *nr);
        if (nr == NULL)
          return VTG_ENOMEM;
        *r = nr;
        *cap = nc;
      }
      /* The minutes holding [a, b): b itself is the first good probe. */
      (*r)[*n] =
          (range_t){m->check, m->kind ? m->kind : "", name, floor_minute(a),
                    floor_minute(b > a ? b - 1 : a) + VTG_ROLLUP_MINUTE_US};
      (*n)++;
    }
  }
  return 0;
}

/* Fills si from the members c[0..n) (one service, by onset). */
static int build_incident(const cand_t *c, size_t n, int64_t now_us,
                          vtg_service_down_cb down, void *ctx,
                          vtg_service_incident_t *si) {
  range_t *r = NULL;
  size_t nr = 0, cap = 0;
  int err = 0, open = 0;

  memset(si, 0, sizeof *si);
  si->onset_us = c[0].onset_us;
  si->resolved_us = VTG_TIME_NONE;
  if ((si->service = strdup(c[0].service)) == NULL)
    return VTG_ENOMEM;
  if ((si->members = calloc(n, sizeof *si->members)) == NULL)
    return VTG_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const vtg_json_t *mt = vtg_json_get(c[i].obj, "maintenance");
    const vtg_json_t *regs = vtg_json_get(c[i].obj, "regions");
    vtg_service_member_t *m = &si->members[si->n_members++];
    m->open = c[i].resolved_us == VTG_TIME_NONE;
    m->maintenance = mt != NULL && mt->type == VTG_JSON_BOOL && mt->boolean;
    if ((m->id = dup_or_empty(c[i].id)) == NULL ||
        (m->check = dup_or_empty(c[i].check)) == NULL ||
        (m->kind = dup_or_empty(c[i].kind)) == NULL)
      return VTG_ENOMEM;
    open |= m->open;
    if (!m->open && (si->resolved_us == VTG_TIME_NONE ||
                     c[i].resolved_us > si->resolved_us))
      si->resolved_us = c[i].resolved_us;
    if ((err = set_add(&si->checks, &si->n_checks, m->check)) != 0)
      return err;
    if (kind_get(si, m->kind) == NULL)
      return VTG_ENOMEM;
    for (size_t k = 0;
         regs != NULL && regs->type == VTG_JSON_ARRAY && k < regs->n; k++) {
      const char *name = vtg_json_get_str(regs->items[k], "region", NULL);
      if (name != NULL &&
          (err = set_add(&si->regions, &si->n_regions, name)) != 0)
        return err;
    }
  }
  if (open)
    si->resolved_us = VTG_TIME_NONE;
  {
    size_t len = strlen(si->members[0].id) + 5;
    if ((si->id = malloc(len)) == NULL)
      return VTG_ENOMEM;
    snprintf(si->id, len, "svc-%s", si->members[0].id);
  }
  /* (qsort wants a real array even for 0 items) */
  if (si->n_checks > 0)
    qsort(si->checks, si->n_checks, sizeof *si->checks, cmp_str);
  if (si->n_regions > 0)
    qsort(si->regions, si->n_regions, sizeof *si->regions, cmp_str);

  /* Down probes: the members' down stretches per (check, region), merged
   * where they touch the same minutes so that no minute counts twice. */
  for (size_t i = 0; i < n && err == 0; i++)
    if (c[i].check != NULL)
      err = member_ranges(&c[i], now_us, &r, &nr, &cap);
  if (err == 0 && nr > 0)
    qsort(r, nr, sizeof *r, cmp_range);
  for (size_t i = 0; err == 0 && i < nr;) {
    range_t cur = r[i++];
    uint64_t d = 0;
    vtg_service_kind_t *k;
    while (i < nr && strcmp(r[i].check, cur.check) == 0 &&
           strcmp(r[i].kind, cur.kind) == 0 &&
           strcmp(r[i].region, cur.region) == 0 && r[i].from_us <= cur.to_us) {
      if (r[i].to_us > cur.to_us)
        cur.to_us = r[i].to_us;
      i++;
    }
    if (down != NULL && (err = down(ctx, cur.check, cur.region, cur.from_us,
                                    cur.to_us, &d)) != 0)
      break;
    if ((k = kind_get(si, cur.kind)) == NULL) {
      err = VTG_ENOMEM;
      break;
    }
    k->down += d;
    si->down_total += d;
  }
  free(r);
  if (err == 0 && si->n_kinds > 0)
    qsort(si->kinds, si->n_kinds, sizeof *si->kinds, cmp_kind);
  return err;
}

/* Open first, then newest onset first, then by id (a stable order). */
static int cmp_incident(const void *a, const void *b) {
  const vtg_service_incident_t *x = a, *y = b;
  int xo = x->resolved_us == VTG_TIME_NONE,
      yo = y->resolved_us == VTG_TIME_NONE;
  if (xo != yo)
    return yo - xo;
  if (x->onset_us != y->onset_us)
    return x->onset_us > y->onset_us ? -1 : 1;
  return strcmp(x->id, y->id);
}

int vtg_service_group(const vtg_json_t *incidents, int64_t merge_gap_us,
                      int64_t now_us, vtg_service_down_cb down, void *ctx,
                      vtg_service_list_t *out) {
  vtg_service_list_t l = {NULL, 0};
  cand_t *c = NULL;
  size_t n = 0;
  int err = 0;

  if (incidents == NULL || incidents->type != VTG_JSON_ARRAY)
    return VTG_EINVAL;
  if (merge_gap_us < 0)
    merge_gap_us = 0;
  if ((c = malloc((incidents->n ? incidents->n : 1) * sizeof *c)) == NULL)
    return VTG_ENOMEM;
  for (size_t i = 0; i < incidents->n; i++) {
    const vtg_json_t *o = incidents->items[i];
    cand_t *m = &c[n];
    if (o->type != VTG_JSON_OBJECT)
      continue;
    m->obj = o;
    m->service = vtg_json_get_str(o, "service", NULL);
    m->id = vtg_json_get_str(o, "id", NULL);
    m->check = vtg_json_get_str(o, "check", NULL);
    m->kind = vtg_json_get_str(o, "kind", NULL);
    m->onset_us = json_time(o, "onset");
    m->resolved_us = json_time(o, "resolved");
    if (m->service == NULL || m->onset_us == VTG_TIME_NONE)
      continue;
    n++;
  }
  qsort(c, n, sizeof *c, cmp_cand);
  /* (n ? n : 1): at most one service incident per check incident. */
  if ((l.v = calloc(n ? n : 1, sizeof *l.v)) == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    /* The group's end so far: INT64_MAX while a member is open. */
    int64_t end =
        c[i].resolved_us == VTG_TIME_NONE ? INT64_MAX : c[i].resolved_us;
    while (j < n && strcmp(c[j].service, c[i].service) == 0 &&
           (end == INT64_MAX || end > INT64_MAX - merge_gap_us ||
            c[j].onset_us <= end + merge_gap_us)) {
      int64_t e =
          c[j].resolved_us == VTG_TIME_NONE ? INT64_MAX : c[j].resolved_us;
      if (e > end)
        end = e;
      j++;
    }
    err = build_incident(c + i, j - i, now_us, down, ctx, &l.v[l.n]);
    l.n++; /* counted even when half-built, so that it is freed */
    if (err != 0)
      goto out;
    i = j;
  }
  qsort(l.v, l.n, sizeof *l.v, cmp_incident);
out:
  free(c);
  if (err != 0) {
    vtg_service_list_free(&l);
    return err;
  }
  *out = l;
  return 0;
}

double vtg_service_share(const vtg_service_incident_t *si, size_t kind) {
  if (si->down_total == 0 || kind >= si->n_kinds)
    return -1;
  return round((double)si->kinds[kind].down / (double)si->down_total * 1000.0) /
         1000.0;
}

void vtg_service_write_json(vtg_json_writer_t *w,
                            const vtg_service_incident_t *si, int64_t now_us) {
  int open = si->resolved_us == VTG_TIME_NONE, maint = si->n_members > 0;
  for (size_t i = 0; i < si->n_members; i++)
    maint &= si->members[i].maintenance;

  vtg_json_begin_object(w);
  vtg_json_key(w, "id");
  vtg_json_string(w, si->id);
  vtg_json_key(w, "service");
  vtg_json_string(w, si->service);
  vtg_json_key(w, "onset");
  vtg_json_time(w, si->onset_us);
  vtg_json_key(w, "resolved");
  vtg_json_time(w, si->resolved_us);
  vtg_json_key(w, "duration_s");
  vtg_json_double(w, vtg_incident_duration_s(si->onset_us,
                                             open ? now_us : si->resolved_us));
  vtg_json_key(w, "checks");
  vtg_json_begin_array(w);
  for (size_t i = 0; i < si->n_checks; i++)
    vtg_json_string(w, si->checks[i]);
  vtg_json_end_array(w);
  vtg_json_key(w, "incidents");
  vtg_json_begin_array(w);
  for (size_t i = 0; i < si->n_members; i++)
    vtg_json_string(w, si->members[i].id);
  vtg_json_end_array(w);
  vtg_json_key(w, "regions");
  vtg_json_begin_array(w);
  for (size_t i = 0; i < si->n_regions; i++)
    vtg_json_string(w, si->regions[i]);
  vtg_json_end_array(w);
  vtg_json_key(w, "kind_share");
  if (si->down_total == 0) {
    vtg_json_null(w);
  } else {
    vtg_json_begin_object(w);
    for (size_t i = 0; i < si->n_kinds; i++) {
      vtg_json_key(w, si->kinds[i].kind);
      vtg_json_double(w, vtg_service_share(si, i));
    }
    vtg_json_end_object(w);
  }
  vtg_json_key(w, "down_probes");
  vtg_json_begin_object(w);
  for (size_t i = 0; i < si->n_kinds; i++) {
    vtg_json_key(w, si->kinds[i].kind);
    vtg_json_int(w, (int64_t)si->kinds[i].down);
  }
  vtg_json_end_object(w);
  vtg_json_key(w, "maintenance");
  vtg_json_bool(w, maint);
  vtg_json_end_object(w);
}

int vtg_service_list_json(const vtg_service_list_t *l, const char *service,
                          int64_t since_us, int64_t now_us, vtg_buf_t *out) {
  vtg_json_writer_t w;
  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_array(&w);
  for (size_t i = 0; i < l->n; i++) {
    const vtg_service_incident_t *si = &l->v[i];
    if (service != NULL && strcmp(si->service, service) != 0)
      continue;
    if (since_us != VTG_TIME_NONE && si->resolved_us != VTG_TIME_NONE &&
        si->onset_us < since_us && si->resolved_us < since_us)
      continue;
    vtg_service_write_json(&w, si, now_us);
  }
  vtg_json_end_array(&w);
  return vtg_json_finish(&w);
}

/* ---- the coordinator glue ---- */

typedef struct count_ctx_s {
  vtg_coord_t *c;
  const char *region; /* store rows: only this region */
  uint64_t down;
} count_ctx_t;

static int count_row(void *ctx, const vtg_store_rollup_row_t *row) {
  count_ctx_t *cc = ctx;
  if (row->region != NULL && strcmp(row->region, cc->region) == 0)
    cc->down += row->down;
  return 0;
}

/* The rollups' down probes of (check, region) in [from, to): minutes
 * memory holds from memory (it has the minute in progress, which the store
 * has not yet), older ones from the store. */
static int count_down(void *ctx, const char *check, const char *region,
                      int64_t from_us, int64_t to_us, uint64_t *down) {
  vtg_coord_t *c = ctx;
  count_ctx_t cc = {c, region, 0};
  int64_t mem_from =
      c->rollup != NULL ? vtg_rollup_memory_from(c->rollup) : INT64_MAX;
  uint32_t check_id = 0, region_idx = 0;
  size_t i, r;
  int err;

  for (i = 0; i < c->cfg.n_checks && strcmp(c->cfg.checks[i].name, check) != 0;
       i++) {
  }
  if (i == c->cfg.n_checks || c->check_ids == NULL)
    return 0; /* not configured: no rollups */
  check_id = c->check_ids[i];
  if (to_us - from_us > (int64_t)SERVICE_MAX_MINUTES * VTG_ROLLUP_MINUTE_US)
    from_us = to_us - (int64_t)SERVICE_MAX_MINUTES * VTG_ROLLUP_MINUTE_US;
  if (from_us < mem_from && c->store != NULL) {
    int64_t to = to_us < mem_from ? to_us : mem_from;
    if ((err = vtg_store_rollup_range(c->store, check_id, from_us, to,
                                      count_row, &cc)) != 0)
      return err;
  }
  for (r = 0; r < c->n_regions && strcmp(c->regions[r], region) != 0; r++) {
  }
  if (c->rollup != NULL && r < c->n_regions && to_us > mem_from) {
    int64_t from = from_us > mem_from ? from_us : mem_from;
    size_t n = (size_t)((to_us - from) / VTG_ROLLUP_MINUTE_US);
    vtg_rollup_cell_t *cells = malloc((n ? n : 1) * sizeof *cells);
    if (cells == NULL)
      return VTG_ENOMEM;
    region_idx = (uint32_t)r;
    vtg_rollup_cells(c->rollup, check_id, region_idx, from, n, cells);
    for (size_t k = 0; k < n; k++)
      cc.down += cells[k].down;
    free(cells);
  }
  *down += cc.down;
  return 0;
}

static int parse_array(const vtg_buf_t *b, vtg_json_t **v) {
  char perr[128];
  int err = vtg_json_parse(b->data ? b->data : "[]", b->len ? b->len : 2, v,
                           perr, sizeof perr);
  if (err == VTG_EJSON)
    VTG_ERROR("service: the store's incidents do not parse: %s", perr);
  if (err == 0 && (*v)->type != VTG_JSON_ARRAY) {
    vtg_json_free(*v);
    *v = NULL;
    err = VTG_EJSON;
  }
  return err;
}

int vtg_service_incidents(vtg_coord_t *c, int64_t now_us, int open_only,
                          vtg_service_list_t *out) {
  vtg_buf_t b;
  vtg_json_t *v = NULL;
  int err;

  out->v = NULL;
  out->n = 0;
  if (c->store == NULL)
    return 0;
  vtg_buf_init(&b, SERVICE_MAX_JSON);
  if (open_only) {
    if ((err = vtg_store_incidents_open_json(c->store, now_us, &b)) != 0)
      goto out;
    if ((err = parse_array(&b, &v)) != 0)
      goto out;
    if (v->n == 0)
      goto out;
    vtg_json_free(v);
    v = NULL;
    vtg_buf_reset(&b);
  }
  /* Every stored incident: a service incident may chain back through
   * members long resolved (retention bounds how many there are). */
  if ((err = vtg_store_incidents_json(c->store, NULL, VTG_TIME_NONE, now_us,
                                      &b)) != 0)
    goto out;
  if ((err = parse_array(&b, &v)) != 0)
    goto out;
  err = vtg_service_group(v, c->cfg.detect.merge_gap_us, now_us, count_down, c,
                          out);
out:
  vtg_json_free(v);
  vtg_buf_free(&b);
  return err;
}

void vtg_service_api(vtg_coord_t *c, vtg_httpd_req_t *req,
                     vtg_httpd_resp_t *resp) {
  const char *service = NULL;
  int64_t since_us = VTG_TIME_NONE, now_us = vtg_clock_wall_us();
  char *p = req->query, *key, *val;
  vtg_service_list_t l = {NULL, 0};
  int more, err;

  while ((more = vtg_httpd_query_next(&p, &key, &val)) != 0) {
    if (more < 0) {
      vtg_httpd_error(resp, 400, "malformed percent-encoding in the query",
                      NULL);
      return;
    }
    if (strcmp(key, "service") == 0) {
      service = *val ? val : NULL;
    } else if (strcmp(key, "since") == 0) {
      if (vtg_clock_parse_rfc3339(val, &since_us) != 0) {
        vtg_httpd_error(
            resp, 400,
            "since: expected an RFC 3339 time such as 2026-11-24T12:00:00Z",
            NULL);
        return;
      }
    } else {
      vtg_httpd_error(resp, 400,
                      "unknown query parameter (expected service or since)",
                      NULL);
      return;
    }
  }
  if (c->store == NULL) {
    vtg_httpd_error(resp, 503, "the store is not open", NULL);
    return;
  }
  err = vtg_service_incidents(c, now_us, 0, &l);
  if (err == 0)
    err = vtg_service_list_json(&l, service, since_us, now_us, &resp->body);
  vtg_service_list_free(&l);
  if (err != 0)
    vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
}

/* An open service incident raises the gauge unless every open member is
 * under maintenance (its flag, or a window covering its check now), as
 * vantage_check_incident_open does per check. */
static int alerting(vtg_coord_t *c, const vtg_service_incident_t *si,
                    int64_t now_us) {
  if (si->resolved_us != VTG_TIME_NONE)
    return 0;
  for (size_t i = 0; i < si->n_members; i++) {
    const vtg_service_member_t *m = &si->members[i];
    if (m->open && !m->maintenance &&
        !vtg_maint_covers(c->maint, m->check, si->service, now_us))
      return 1;
  }
  return 0;
}

/* The open service incident of a service, NULL when none. */
static const vtg_service_incident_t *open_of(const vtg_service_list_t *l,
                                             const char *service) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].resolved_us == VTG_TIME_NONE &&
        strcmp(l->v[i].service, service) == 0)
      return &l->v[i];
  return NULL;
}

/* Whether config check i is the first of its service (services listed
 * once, in config order). */
static int first_of_service(const vtg_coord_t *c, size_t i) {
  for (size_t k = 0; k < i; k++)
    if (strcmp(c->cfg.checks[k].service, c->cfg.checks[i].service) == 0)
      return 0;
  return 1;
}

int vtg_service_metrics_write(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out) {
  vtg_service_list_t l = {NULL, 0};
  int err = vtg_service_incidents(c, now_us, 1, &l);
  if (err != 0)
    return err;

  err |= vtg_buf_appends(
      out, "# HELP vantage_service_incident_open 1 while a service has an open "
           "service incident not under maintenance.\n"
           "# TYPE vantage_service_incident_open gauge\n");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const char *svc = c->cfg.checks[i].service;
    const vtg_service_incident_t *si;
    if (!first_of_service(c, i))
      continue;
    si = open_of(&l, svc);
    err |= vtg_buf_appends(out, "vantage_service_incident_open{service=\"");
    err |= vtg_prom_label(out, svc);
    err |=
        vtg_buf_printf(out, "\"} %d\n", si != NULL && alerting(c, si, now_us));
  }
  err |= vtg_buf_appends(
      out, "# HELP vantage_service_down_share Share of the open service "
           "incident's down probes by endpoint kind (0..1).\n"
           "# TYPE vantage_service_down_share gauge\n");
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const char *svc = c->cfg.checks[i].service;
    const vtg_service_incident_t *si;
    if (!first_of_service(c, i) || (si = open_of(&l, svc)) == NULL)
      continue;
    for (size_t k = 0; k < si->n_kinds && err == 0; k++) {
      double share = vtg_service_share(si, k);
      if (share < 0)
        continue;
      err |= vtg_buf_appends(out, "vantage_service_down_share{service=\"");
      err |= vtg_prom_label(out, svc);
      err |= vtg_buf_appends(out, "\",kind=\"");
      err |= vtg_prom_label(out, si->kinds[k].kind);
      err |= vtg_buf_printf(out, "\"} %.3f\n", share);
    }
  }
  vtg_service_list_free(&l);
  return err != 0 ? VTG_ELIMIT : 0;
}
