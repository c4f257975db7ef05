/* Maintenance windows and silences (maint.h): a flat array of windows, each
 * asked in turn. Configs hold tens of windows and the API caps silences at
 * VTG_MAINT_SILENCES_MAX, so a linear scan per question is cheap next to a
 * scrape or an incident write, and keeps the rules in one readable place. */
#include "maint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

#define US_PER_S 1000000LL
/* 1970-01-01 was a Thursday: Sunday 00:00 UTC is three days into the epoch. */
#define SUNDAY_EPOCH_US (3LL * 86400 * US_PER_S)

static char *xstrdup(const char *s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void window_free(vtg_maint_window_t *w) {
  free(w->check);
  free(w->service);
  free(w->reason);
  memset(w, 0, sizeof *w);
}

void vtg_maint_init(vtg_maint_t *m) { memset(m, 0, sizeof *m); }

void vtg_maint_free(vtg_maint_t *m) {
  for (size_t i = 0; i < m->n; i++) window_free(&m->w[i]);
  free(m->w);
  memset(m, 0, sizeof *m);
}

static int reserve(vtg_maint_t *m, size_t extra) {
  if (m->n + extra <= m->alloc) return 0;
  size_t na = m->alloc ? m->alloc : 8;
  while (na < m->n + extra) na *= 2;
  vtg_maint_window_t *nw = realloc(m->w, na * sizeof *nw);
  if (nw == NULL) return VTG_ENOMEM;
  m->w = nw;
  m->alloc = na;
  return 0;
}

/* Builds the new config windows aside first, so that a failure leaves m as
 * it was; then drops the old ones and appends. */
int vtg_maint_set_config(vtg_maint_t *m, const vtg_coord_config_t *cfg) {
  size_t n = cfg->n_maintenance, kept = 0;
  vtg_maint_window_t *nw = calloc(n ? n : 1, sizeof *nw);
  int err = 0;
  if (nw == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const vtg_maint_cfg_t *c = &cfg->maintenance[i];
    vtg_maint_window_t *w = &nw[i];
    snprintf(w->id, sizeof w->id, "cfg-%zu", i + 1);
    w->check = xstrdup(c->check);
    w->service = xstrdup(c->service);
    w->reason = xstrdup(c->reason ? c->reason : "");
    if ((c->check && !w->check) || (c->service && !w->service) || !w->reason) {
      err = VTG_ENOMEM;
      goto fail;
    }
    w->start_us = c->start_us;
    w->end_us = c->end_us;
    w->weekly_us = c->weekly_us;
    w->duration_us = c->duration_us;
    w->source = VTG_MAINT_CONFIG;
    w->line = c->line;
  }
  for (size_t i = 0; i < m->n; i++) {
    if (m->w[i].source == VTG_MAINT_API) m->w[kept++] = m->w[i];
    else window_free(&m->w[i]);
  }
  m->n = kept;
  if ((err = reserve(m, n)) != 0) goto fail; /* old config windows are gone: only OOM */
  /* Config windows first: the API lists them in a stable place. */
  if (n > 0) {
    memmove(m->w + n, m->w, m->n * sizeof *m->w);
    memcpy(m->w, nw, n * sizeof *nw);
    m->n += n;
  }
  free(nw);
  return 0;
fail:
  for (size_t i = 0; i < n; i++) window_free(&nw[i]);
  free(nw);
  return err;
}

int vtg_maint_add_silence(vtg_maint_t *m, int64_t seq, const char *check, const char *service,
                          int64_t start_us, int64_t end_us, const char *reason) {
  vtg_maint_window_t w;
  if ((check == NULL) == (service == NULL) || end_us <= start_us) return VTG_EINVAL;
  if (reserve(m, 1) != 0) return VTG_ENOMEM;
  memset(&w, 0, sizeof w);
  snprintf(w.id, sizeof w.id, "sil-%" PRId64, seq);
  w.check = xstrdup(check);
  w.service = xstrdup(service);
  w.reason = xstrdup(reason ? reason : "");
  if ((check && !w.check) || (service && !w.service) || !w.reason) {
    window_free(&w);
    return VTG_ENOMEM;
  }
  w.start_us = start_us;
  w.end_us = end_us;
  w.weekly_us = -1;
  w.source = VTG_MAINT_API;
  m->w[m->n++] = w;
  return 0;
}

const vtg_maint_window_t *vtg_maint_find(const vtg_maint_t *m, const char *id) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->w[i].id, id) == 0) return &m->w[i];
  return NULL;
}

int vtg_maint_end(vtg_maint_t *m, const char *id, int64_t now_us) {
  vtg_maint_window_t *w = (vtg_maint_window_t *)vtg_maint_find(m, id);
  if (w == NULL) return VTG_ENOTFOUND;
  if (w->source == VTG_MAINT_CONFIG) return VTG_EINVAL;
  if (w->end_us <= now_us) return VTG_ENOTFOUND;
  /* A silence that has not begun yet (none today: they start when made)
   * would otherwise get end < start. */
  w->end_us = now_us > w->start_us ? now_us : w->start_us + 1;
  return 0;
}

void vtg_maint_prune(vtg_maint_t *m, int64_t before_us) {
  size_t kept = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (m->w[i].source == VTG_MAINT_API && m->w[i].end_us < before_us)
      window_free(&m->w[i]);
    else
      m->w[kept++] = m->w[i];
  }
  m->n = kept;
}

size_t vtg_maint_active_silences(const vtg_maint_t *m, int64_t now_us) {
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++) n += m->w[i].source == VTG_MAINT_API && m->w[i].end_us > now_us;
  return n;
}

/* Offset of t in its week (from Sunday 00:00 UTC), in [0, week). */
static int64_t week_offset(int64_t t_us) {
  int64_t r = (t_us - SUNDAY_EPOCH_US) % VTG_MAINT_WEEK_US;
  return r < 0 ? r + VTG_MAINT_WEEK_US : r;
}

static int in_time(const vtg_maint_window_t *w, int64_t t_us) {
  if (w->weekly_us < 0) return t_us >= w->start_us && t_us < w->end_us;
  /* How far t is past the latest weekly start (wrapping over Sunday). */
  int64_t since = week_offset(t_us) - w->weekly_us;
  if (since < 0) since += VTG_MAINT_WEEK_US;
  return since < w->duration_us;
}

int vtg_maint_window_covers(const vtg_maint_window_t *w, const char *check, const char *service,
                            int64_t t_us) {
  if (w->check != NULL) {
    if (check == NULL || strcmp(w->check, check) != 0) return 0;
  } else if (w->service == NULL || service == NULL || strcmp(w->service, service) != 0) {
    return 0;
  }
  return in_time(w, t_us);
}

int vtg_maint_covers(const vtg_maint_t *m, const char *check, const char *service, int64_t t_us) {
  for (size_t i = 0; m != NULL && i < m->n; i++)
    if (vtg_maint_window_covers(&m->w[i], check, service, t_us)) return 1;
  return 0;
}

int vtg_maint_covers_incident(const vtg_maint_t *m, const vtg_incident_t *inc) {
  if (m == NULL || m->n == 0) return 0;
  if (inc->n_waves == 0)
    return inc->onset_us != VTG_TIME_NONE &&
           vtg_maint_covers(m, inc->check_name, inc->service, inc->onset_us);
  for (size_t i = 0; i < inc->n_waves; i++) {
    int64_t t = inc->waves[i].onset_us;
    if (t == VTG_TIME_NONE || !vtg_maint_covers(m, inc->check_name, inc->service, t)) return 0;
  }
  return 1;
}

void vtg_maint_occurrence(const vtg_maint_window_t *w, int64_t now_us, int64_t *start_us,
                          int64_t *end_us) {
  if (w->weekly_us < 0) {
    *start_us = w->start_us;
    *end_us = w->end_us;
    return;
  }
  int64_t since = week_offset(now_us) - w->weekly_us;
  if (since < 0) since += VTG_MAINT_WEEK_US;
  int64_t s = now_us - since; /* the latest start at or before now */
  if (since >= w->duration_us) s += VTG_MAINT_WEEK_US; /* over: the next one */
  *start_us = s;
  *end_us = s + w->duration_us;
}

static void write_weekly(vtg_json_writer_t *jw, int64_t weekly_us) {
  static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  int64_t s = weekly_us / US_PER_S;
  char buf[16];
  snprintf(buf, sizeof buf, "%s %02d:%02d", days[(s / 86400) % 7], (int)(s % 86400 / 3600),
           (int)(s % 3600 / 60));
  vtg_json_string(jw, buf);
}

void vtg_maint_write_window(vtg_json_writer_t *jw, const vtg_maint_window_t *w, int64_t now_us) {
  int64_t s, e;
  vtg_maint_occurrence(w, now_us, &s, &e);
  vtg_json_begin_object(jw);
  vtg_json_key(jw, "id");
  vtg_json_string(jw, w->id);
  vtg_json_key(jw, w->check ? "check" : "service");
  vtg_json_string(jw, w->check ? w->check : w->service);
  vtg_json_key(jw, "start");
  vtg_json_time(jw, s);
  vtg_json_key(jw, "end");
  vtg_json_time(jw, e);
  vtg_json_key(jw, "reason");
  vtg_json_string(jw, w->reason);
  vtg_json_key(jw, "source");
  vtg_json_string(jw, w->source == VTG_MAINT_API ? "api" : "config");
  vtg_json_key(jw, "active");
  vtg_json_bool(jw, now_us >= s && now_us < e);
  if (w->weekly_us >= 0) {
    vtg_json_key(jw, "weekly");
    write_weekly(jw, w->weekly_us);
    vtg_json_key(jw, "duration_s");
    vtg_json_double(jw, (double)w->duration_us / 1e6);
  }
  vtg_json_end_object(jw);
}

typedef struct listed_s {
  const vtg_maint_window_t *w;
  int64_t start;
} listed_t;

static int listed_cmp(const void *a, const void *b) {
  const listed_t *x = a, *y = b;
  if (x->start != y->start) return x->start < y->start ? -1 : 1;
  /* ids compare by kind, then by number ("sil-9" before "sil-10") */
  int r = strncmp(x->w->id, y->w->id, 4);
  if (r) return r;
  size_t lx = strlen(x->w->id), ly = strlen(y->w->id);
  if (lx != ly) return lx < ly ? -1 : 1;
  return strcmp(x->w->id, y->w->id);
}

int vtg_maint_write_json(const vtg_maint_t *m, int64_t now_us, vtg_buf_t *out) {
  listed_t *l = malloc((m->n ? m->n : 1) * sizeof *l);
  size_t n = 0;
  vtg_json_writer_t jw;
  if (l == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    int64_t s, e;
    vtg_maint_occurrence(&m->w[i], now_us, &s, &e);
    if (e <= now_us) continue; /* ended */
    l[n].w = &m->w[i];
    l[n++].start = s;
  }
  qsort(l, n, sizeof *l, listed_cmp);
  vtg_json_writer_init(&jw, out, 0);
  vtg_json_begin_array(&jw);
  for (size_t i = 0; i < n; i++) vtg_maint_write_window(&jw, l[i].w, now_us);
  vtg_json_end_array(&jw);
  free(l);
  return vtg_json_finish(&jw);
}

/* ---- POST body ---- */

static int why_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && whylen) vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return VTG_EINVAL;
}

/* A string member, absent or null -> *out NULL; another type is an error. */
static int opt_string(const vtg_json_t *obj, const char *key, const char **out, char *why,
                      size_t whylen) {
  const vtg_json_t *v = vtg_json_get(obj, key);
  *out = NULL;
  if (v == NULL || v->type == VTG_JSON_NULL) return 0;
  if (v->type != VTG_JSON_STRING) return why_fail(why, whylen, "'%s' must be a string", key);
  *out = v->string;
  return 0;
}

int vtg_maint_parse_request(const char *body, size_t len, const vtg_coord_config_t *cfg,
                            vtg_maint_request_t *out, char *why, size_t whylen) {
  static const char *const known[] = {"check", "service", "duration_s", "reason"};
  vtg_json_t *v = NULL;
  const char *check, *service, *reason;
  char perr[128];
  int err;

  memset(out, 0, sizeof *out);
  if (body == NULL || len == 0)
    return why_fail(why, whylen, "the body must be a JSON object such as "
                    "{\"check\": \"NAME\", \"duration_s\": 7200, \"reason\": \"...\"}");
  if ((err = vtg_json_parse(body, len, &v, perr, sizeof perr)) != 0) {
    if (err == VTG_ENOMEM) return err;
    return why_fail(why, whylen, "the body is not valid JSON: %s", perr);
  }
  if (v->type != VTG_JSON_OBJECT) {
    err = why_fail(why, whylen, "the body must be a JSON object");
    goto out;
  }
  for (size_t i = 0; i < v->n; i++) {
    size_t k;
    for (k = 0; k < sizeof known / sizeof known[0] && strcmp(known[k], v->keys[i]) != 0; k++) {
    }
    if (k == sizeof known / sizeof known[0]) {
      err = why_fail(why, whylen,
                     "unknown field '%.64s' (expected check or service, duration_s, reason)",
                     v->keys[i]);
      goto out;
    }
  }
  if ((err = opt_string(v, "check", &check, why, whylen)) != 0 ||
      (err = opt_string(v, "service", &service, why, whylen)) != 0 ||
      (err = opt_string(v, "reason", &reason, why, whylen)) != 0)
    goto out;
  if (check != NULL && service != NULL) {
    err = why_fail(why, whylen, "give either 'check' or 'service', not both");
    goto out;
  }
  if (check == NULL && service == NULL) {
    err = why_fail(why, whylen, "missing field 'check' (or 'service')");
    goto out;
  }
  if (check != NULL) {
    size_t i;
    for (i = 0; i < cfg->n_checks && strcmp(cfg->checks[i].name, check) != 0; i++) {
    }
    if (i == cfg->n_checks) {
      err = why_fail(why, whylen, "check: unknown check '%.128s'", check);
      goto out;
    }
  } else {
    size_t i;
    for (i = 0; i < cfg->n_services && strcmp(cfg->services[i], service) != 0; i++) {
    }
    if (i == cfg->n_services) {
      err = why_fail(why, whylen, "service: unknown service '%.128s'", service);
      goto out;
    }
  }
  const vtg_json_t *d = vtg_json_get(v, "duration_s");
  if (d == NULL || d->type == VTG_JSON_NULL) {
    err = why_fail(why, whylen, "missing field 'duration_s' (seconds, e.g. 7200)");
    goto out;
  }
  if (d->type != VTG_JSON_NUMBER || !isfinite(d->number)) {
    err = why_fail(why, whylen, "duration_s must be a number of seconds");
    goto out;
  }
  if (d->number < 1.0) {
    err = why_fail(why, whylen, "duration_s must be at least 1 (second)");
    goto out;
  }
  if (d->number > (double)(VTG_MAINT_SILENCE_MAX_US / US_PER_S)) {
    err = why_fail(why, whylen, "duration_s must be at most %lld (30 days)",
                   (long long)(VTG_MAINT_SILENCE_MAX_US / US_PER_S));
    goto out;
  }
  if (reason != NULL && strlen(reason) > VTG_MAINT_REASON_MAX) {
    err = why_fail(why, whylen, "reason is longer than %d bytes", VTG_MAINT_REASON_MAX);
    goto out;
  }
  out->duration_us = (int64_t)llround(d->number * 1e6);
  out->check = xstrdup(check);
  out->service = xstrdup(service);
  out->reason = xstrdup(reason ? reason : "");
  if ((check && !out->check) || (service && !out->service) || !out->reason) {
    vtg_maint_request_free(out);
    err = VTG_ENOMEM;
    goto out;
  }
  err = 0;
out:
  vtg_json_free(v);
  return err;
}

void vtg_maint_request_free(vtg_maint_request_t *r) {
  if (r == NULL) return;
  free(r->check);
  free(r->service);
  free(r->reason);
  memset(r, 0, sizeof *r);
}
