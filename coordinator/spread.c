/* How far and in what order a check incident spread (spread.h has the
 * definitions). */
#include "spread.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/clock.h"
#include "vtg/error.h"

/* One region of the incident with the time it is ordered by. */
typedef struct order_item_s {
  const char *name;
  int64_t t_us;
} order_item_t;

static int cmp_item(const void *a, const void *b) {
  const order_item_t *x = a, *y = b;
  if (x->t_us != y->t_us)
    return x->t_us < y->t_us ? -1 : 1;
  /* Ties by name; a nameless region sorts last. */
  if (x->name == NULL || y->name == NULL)
    return (x->name == NULL) - (y->name == NULL);
  return strcmp(x->name, y->name);
}

/* The names of the regions whose time (onset when want_onset, else
 * resolved) is known, in time order, into a malloc'd array. */
static int order_regions(const vtg_incident_t *inc, int want_onset,
                         const char ***out, size_t *n_out) {
  order_item_t *items =
      malloc((inc->n_regions ? inc->n_regions : 1) * sizeof *items);
  const char **names =
      malloc((inc->n_regions ? inc->n_regions : 1) * sizeof *names);
  size_t n = 0;

  if (items == NULL || names == NULL) {
    free(items);
    free(names);
    return VTG_ENOMEM;
  }
  for (size_t i = 0; i < inc->n_regions; i++) {
    const vtg_incident_region_t *r = &inc->regions[i];
    int64_t t = want_onset ? r->onset_us : r->resolved_us;
    if (t == VTG_TIME_NONE)
      continue;
    items[n].name = r->region;
    items[n++].t_us = t;
  }
  qsort(items, n, sizeof *items, cmp_item);
  for (size_t i = 0; i < n; i++)
    names[i] = items[i].name;
  free(items);
  *out = names;
  *n_out = n;
  return 0;
}

double vtg_spread_severity(const vtg_incident_span_t *spans, size_t n,
                           int total_regions, int64_t now_us) {
  double us = 0;
  if (total_regions <= 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    int64_t a = spans[i].onset_us;
    int64_t b =
        spans[i].resolved_us == VTG_TIME_NONE ? now_us : spans[i].resolved_us;
    if (a == VTG_TIME_NONE || b <= a)
      continue;
    us += (double)(b - a);
  }
  return round(us / 60e6 / total_regions * 1000.0) / 1000.0;
}

/* Every region's down spans in one array (a region without spans stands
 * for one span from its first onset to its last recovery). */
static int all_spans(const vtg_incident_t *inc, vtg_incident_span_t **out,
                     size_t *n_out) {
  size_t n = 0, k = 0;
  vtg_incident_span_t *v;
  for (size_t i = 0; i < inc->n_regions; i++)
    n += inc->regions[i].n_spans ? inc->regions[i].n_spans : 1;
  if ((v = malloc((n ? n : 1) * sizeof *v)) == NULL)
    return VTG_ENOMEM;
  for (size_t i = 0; i < inc->n_regions; i++) {
    const vtg_incident_region_t *r = &inc->regions[i];
    if (r->n_spans == 0) {
      v[k].onset_us = r->onset_us;
      v[k++].resolved_us = r->resolved_us;
      continue;
    }
    memcpy(v + k, r->spans, r->n_spans * sizeof *v);
    k += r->n_spans;
  }
  *out = v;
  *n_out = k;
  return 0;
}

int vtg_spread_compute(const vtg_incident_t *inc, int64_t now_us,
                       vtg_spread_t *out) {
  vtg_spread_t s;
  vtg_incident_span_t *spans = NULL;
  size_t n_spans = 0;
  int err;

  memset(&s, 0, sizeof s);
  if ((err = order_regions(inc, 1, &s.down_order, &s.n_down)) != 0)
    goto out;
  if ((err = order_regions(inc, 0, &s.up_order, &s.n_up)) != 0)
    goto out;
  if ((err = all_spans(inc, &spans, &n_spans)) != 0)
    goto out;
  s.first_region = s.n_down > 0 ? s.down_order[0] : NULL;
  s.peak_fraction = -1;
  if (inc->total_regions > 0) {
    double f = (double)inc->peak_regions / inc->total_regions;
    s.peak_fraction = round((f < 0 ? 0 : f > 1 ? 1 : f) * 1000.0) / 1000.0;
  }
  s.severity = vtg_spread_severity(spans, n_spans, inc->total_regions, now_us);
out:
  free(spans);
  if (err != 0) {
    vtg_spread_free(&s);
    return err;
  }
  *out = s;
  return 0;
}

void vtg_spread_free(vtg_spread_t *s) {
  if (s == NULL)
    return;
  free(s->down_order);
  free(s->up_order);
  s->down_order = s->up_order = NULL;
  s->n_down = s->n_up = 0;
}

/* A member time of a JSON object: VTG_TIME_NONE when null or absent or
 * not a time. */
static int64_t json_time(const vtg_json_t *o, const char *key) {
  const char *s = vtg_json_get_str(o, key, NULL);
  int64_t t;
  if (s == NULL || vtg_clock_parse_rfc3339(s, &t) != 0)
    return VTG_TIME_NONE;
  return t;
}

int vtg_spread_refresh_json(vtg_json_t *inc, int64_t now_us) {
  const vtg_json_t *sev, *regs, *total;
  vtg_incident_span_t *spans = NULL;
  size_t n = 0, cap = 0;
  int err = 0;

  if (inc == NULL || inc->type != VTG_JSON_OBJECT)
    return VTG_EINVAL;
  sev = vtg_json_get(inc, "severity");
  total = vtg_json_get(inc, "total_regions");
  regs = vtg_json_get(inc, "regions");
  if (sev == NULL || sev->type != VTG_JSON_NUMBER || total == NULL ||
      total->type != VTG_JSON_NUMBER || regs == NULL ||
      regs->type != VTG_JSON_ARRAY)
    return 0;
  for (size_t i = 0; i < regs->n; i++) {
    const vtg_json_t *sp = vtg_json_get(regs->items[i], "spans");
    cap += sp != NULL && sp->type == VTG_JSON_ARRAY && sp->n > 0 ? sp->n : 1;
  }
  if ((spans = malloc((cap ? cap : 1) * sizeof *spans)) == NULL)
    return VTG_ENOMEM;
  /* The same spans vtg_spread_compute takes from the struct. */
  for (size_t i = 0; i < regs->n; i++) {
    const vtg_json_t *r = regs->items[i], *sp = vtg_json_get(r, "spans");
    if (sp == NULL || sp->type != VTG_JSON_ARRAY || sp->n == 0) {
      spans[n].onset_us = json_time(r, "onset");
      spans[n++].resolved_us = json_time(r, "resolved");
      continue;
    }
    for (size_t k = 0; k < sp->n; k++) {
      spans[n].onset_us = json_time(sp->items[k], "onset");
      spans[n++].resolved_us = json_time(sp->items[k], "resolved");
    }
  }
  if (total->number > 0 && total->number < 1e9)
    err = vtg_json_set_num(
        inc, "severity",
        vtg_spread_severity(spans, n, (int)total->number, now_us));
  free(spans);
  return err;
}
