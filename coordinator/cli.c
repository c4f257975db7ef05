/* Client subcommands: status, outages, timeline, agents, checks. Each one
 * fetches one document from a running coordinator's HTTP API with libcurl
 * and prints it, either as received (--json: the API already speaks the
 * contract of DESIGN.md) or as an aligned table for people.
 *
 * Exit status: 0 ok, 1 runtime error (unreachable coordinator, HTTP error,
 * malformed answer), 2 bad usage. Messages go to stderr. */
#include "cli.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/yconf.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:7380"
#define CLI_MAX_RESPONSE (64u * 1024 * 1024)
#define CLI_TIMEOUT_S 10L
#define PROG "vantage-coordinator"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct cli_opts_s {
  const char *cmd;
  int json;
  const char *url;
  const char *check;  /* outages, timeline */
  int64_t since_us;   /* VTG_TIME_NONE-like INT64_MIN when not given */
} cli_opts_t;

typedef struct cli_cmd_s {
  const char *name;
  const char *summary;
  int has_filters;    /* --since / --check */
  int (*run)(const cli_opts_t *o);
} cli_cmd_t;

/* ---- output helpers ---- */

typedef struct out_style_s {
  int color;
} out_style_t;

static int use_color(void) {
  const char *nc = getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0');
}

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"

/* A table of strings, printed with columns as wide as their widest cell. A
 * cell may carry a color, applied outside the padding so widths hold. */
typedef struct table_s {
  size_t ncols, nrows, cap;
  const char *const *headers;
  char **cells;        /* nrows * ncols, owned */
  const char **colors; /* nrows * ncols, static strings or NULL */
  int err;
} table_t;

static void table_init(table_t *t, const char *const *headers, size_t ncols) {
  memset(t, 0, sizeof *t);
  t->headers = headers;
  t->ncols = ncols;
}

static void table_free(table_t *t) {
  for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->cells);
  free(t->colors);
}

/* Adds a row; returns its index or (size_t)-1 (t->err set). */
static size_t table_row(table_t *t) {
  if (t->err) return (size_t)-1;
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
    const char **colors;
    if (cells == NULL) goto oom;
    t->cells = cells;
    colors = realloc(t->colors, cap * t->ncols * sizeof *colors);
    if (colors == NULL) goto oom;
    t->colors = colors;
    t->cap = cap;
  }
  for (size_t k = 0; k < t->ncols; k++) {
    t->cells[t->nrows * t->ncols + k] = NULL;
    t->colors[t->nrows * t->ncols + k] = NULL;
  }
  return t->nrows++;
oom:
  t->err = VTG_ENOMEM;
  return (size_t)-1;
}

static void table_set(table_t *t, size_t row, size_t col, const char *text, const char *color) {
  char *s;
  if (row == (size_t)-1 || t->err) return;
  s = strdup(text ? text : "");
  if (s == NULL) {
    t->err = VTG_ENOMEM;
    return;
  }
  free(t->cells[row * t->ncols + col]);
  t->cells[row * t->ncols + col] = s;
  t->colors[row * t->ncols + col] = color;
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t text_width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

static void table_print(const table_t *t, const out_style_t *st) {
  size_t *w = calloc(t->ncols, sizeof *w);
  if (w == NULL) return;
  for (size_t k = 0; k < t->ncols; k++) w[k] = text_width(t->headers[k]);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t k = 0; k < t->ncols; k++) {
      const char *s = t->cells[r * t->ncols + k];
      size_t cw = s ? text_width(s) : 0;
      if (cw > w[k]) w[k] = cw;
    }
  for (size_t r = 0; r <= t->nrows; r++) {
    /* No padding after the last non-empty cell: no trailing blanks. */
    size_t used = t->ncols;
    while (r > 0 && used > 1) {
      const char *s = t->cells[(r - 1) * t->ncols + used - 1];
      if (s != NULL && *s) break;
      used--;
    }
    for (size_t k = 0; k < used; k++) {
      const char *s = r == 0 ? t->headers[k] : t->cells[(r - 1) * t->ncols + k];
      const char *color = r == 0 ? (st->color ? C_BOLD : NULL)
                                 : (st->color ? t->colors[(r - 1) * t->ncols + k] : NULL);
      int last = k + 1 == used;
      if (s == NULL) s = "";
      if (color) fputs(color, stdout);
      fputs(s, stdout);
      if (color) fputs(C_RESET, stdout);
      if (!last) printf("%*s", (int)(w[k] - text_width(s) + 2), "");
    }
    putchar('\n');
  }
  free(w);
}

/* "45s", "12m 30s", "1h 05m", "2d 03h". */
static void fmt_duration(double secs, char *out, size_t size) {
  int64_t s = secs > 0 && isfinite(secs) ? (int64_t)(secs + 0.5) : 0;
  if (s < 60)
    snprintf(out, size, "%" PRId64 "s", s);
  else if (s < 3600)
    snprintf(out, size, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
  else if (s < 86400)
    snprintf(out, size, "%" PRId64 "h %02" PRId64 "m", s / 3600, (s % 3600) / 60);
  else
    snprintf(out, size, "%" PRId64 "d %02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}

/* "12 min ago" relative to now; "just now" within a second either way. */
static void fmt_ago(int64_t t_us, int64_t now_us, char *out, size_t size) {
  int64_t d = (now_us - t_us) / 1000000;
  const char *suffix = d >= 0 ? " ago" : " ahead";
  if (d < 0) d = -d;
  if (d < 1)
    snprintf(out, size, "just now");
  else if (d < 60)
    snprintf(out, size, "%" PRId64 " s%s", d, suffix);
  else if (d < 3600)
    snprintf(out, size, "%" PRId64 " min%s", d / 60, suffix);
  else if (d < 86400)
    snprintf(out, size, "%" PRId64 " h%s", d / 3600, suffix);
  else
    snprintf(out, size, "%" PRId64 " d%s", d / 86400, suffix);
}

/* An RFC 3339 time as local time plus how long ago: "2026-11-24 13:00:03
 * (12 min ago)"; with_abs = 0 gives only the relative part. NULL or
 * unparsable input prints "-". */
static void fmt_time(const char *rfc3339, int64_t now_us, int with_abs, char *out, size_t size) {
  int64_t t_us;
  char ago[32], abs_s[32];
  struct tm tm;
  time_t secs;

  if (rfc3339 == NULL || vtg_clock_parse_rfc3339(rfc3339, &t_us) != 0) {
    snprintf(out, size, "-");
    return;
  }
  fmt_ago(t_us, now_us, ago, sizeof ago);
  if (!with_abs) {
    snprintf(out, size, "%s", ago);
    return;
  }
  secs = (time_t)(t_us >= 0 ? t_us / 1000000 : (t_us - 999999) / 1000000);
  if (localtime_r(&secs, &tm) == NULL ||
      strftime(abs_s, sizeof abs_s, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
    snprintf(out, size, "%s (%s)", rfc3339, ago);
    return;
  }
  snprintf(out, size, "%s (%s)", abs_s, ago);
}

static const char *state_color(const char *state) {
  if (strcmp(state, "up") == 0) return C_GREEN;
  if (strcmp(state, "degraded") == 0) return C_YELLOW;
  if (strcmp(state, "down") == 0) return C_RED;
  return C_DIM;
}

/* ---- fetching ---- */

typedef struct fetch_s {
  vtg_buf_t body;
  int too_large;
} fetch_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
  fetch_t *f = ctx;
  size_t n = size * nmemb;
  if (vtg_buf_append(&f->body, data, n) != 0) {
    f->too_large = 1;
    return 0; /* makes curl fail with CURLE_WRITE_ERROR */
  }
  return n;
}

/* GETs base + path into out (a NUL-terminated body). Returns EXIT_OK or
 * EXIT_RUNTIME after saying why on stderr: which URL, curl's message or the
 * HTTP status with the API's error text. */
static int fetch(const char *base, const char *path, vtg_buf_t *out) {
  fetch_t f;
  char errbuf[CURL_ERROR_SIZE] = "";
  char *url = NULL;
  size_t blen = strlen(base);
  CURL *curl = NULL;
  CURLcode rc;
  long status = 0;
  int ret = EXIT_RUNTIME;

  vtg_buf_init(&f.body, CLI_MAX_RESPONSE);
  f.too_large = 0;
  while (blen > 0 && base[blen - 1] == '/') blen--;
  url = malloc(blen + strlen(path) + 1);
  if (url == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    goto out;
  }
  memcpy(url, base, blen);
  memcpy(url + blen, path, strlen(path) + 1);

  curl = curl_easy_init();
  if (curl == NULL) {
    fprintf(stderr, "%s: cannot initialise libcurl\n", PROG);
    goto out;
  }
  if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLI_TIMEOUT_S) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f) != CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_MAX_RESPONSE) !=
          CURLE_OK ||
      curl_easy_setopt(curl, CURLOPT_USERAGENT, PROG "/" VTG_VERSION) != CURLE_OK) {
    fprintf(stderr, "%s: setting up the request for %s failed\n", PROG, url);
    goto out;
  }
  rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    if (f.too_large || rc == CURLE_FILESIZE_EXCEEDED)
      fprintf(stderr, "%s: %s: response larger than the 64 MiB cap\n", PROG, url);
    else
      fprintf(stderr, "%s: cannot reach the coordinator at %s: %s\n", PROG, url,
              errbuf[0] ? errbuf : curl_easy_strerror(rc));
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    vtg_json_t *v = NULL;
    char perr[64];
    const char *msg = NULL;
    if (f.body.len > 0 && vtg_json_parse(f.body.data, f.body.len, &v, perr, sizeof perr) == 0)
      msg = vtg_json_get_str(v, "error", NULL);
    fprintf(stderr, "%s: %s: HTTP %ld%s%s\n", PROG, url, status, msg ? ": " : "",
            msg ? msg : "");
    vtg_json_free(v);
    goto out;
  }
  if (f.body.len == 0 || f.body.data == NULL || vtg_buf_append(&f.body, "", 1) != 0) {
    fprintf(stderr, "%s: %s: empty response\n", PROG, url);
    goto out;
  }
  f.body.len--; /* keep the NUL we appended out of the length */
  *out = f.body;
  vtg_buf_init(&f.body, 0);
  ret = EXIT_OK;
out:
  if (curl) curl_easy_cleanup(curl);
  vtg_buf_free(&f.body);
  free(url);
  return ret;
}

/* Fetches path and, unless --json (then it is printed as is), parses it as
 * a JSON array into *out. With empty_msg, an empty array prints that
 * instead. Either way *out is left NULL when there is nothing to show. */
static int fetch_array(const cli_opts_t *o, const char *path, const char *empty_msg,
                       vtg_json_t **out) {
  vtg_buf_t body;
  char perr[128];
  int ret;

  *out = NULL;
  if ((ret = fetch(o->url, path, &body)) != EXIT_OK) return ret;
  if (o->json) {
    fwrite(body.data, 1, body.len, stdout);
    if (body.len == 0 || body.data[body.len - 1] != '\n') putchar('\n');
    vtg_buf_free(&body);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
  }
  if (vtg_json_parse(body.data, body.len, out, perr, sizeof perr) != 0 ||
      (*out)->type != VTG_JSON_ARRAY) {
    fprintf(stderr, "%s: %s%s: the coordinator's answer is not a JSON array%s%s\n", PROG, o->url,
            path, *out ? "" : ": ", *out ? "" : perr);
    vtg_json_free(*out);
    *out = NULL;
    vtg_buf_free(&body);
    return EXIT_RUNTIME;
  }
  vtg_buf_free(&body);
  if (empty_msg != NULL && (*out)->n == 0) {
    printf("%s\n", empty_msg);
    vtg_json_free(*out);
    *out = NULL;
  }
  return EXIT_OK;
}

/* Builds "/api/v1/outages?check=..&since=..". */
static int outages_path(const cli_opts_t *o, char *out, size_t size) {
  char since[40];
  char *check = NULL;
  CURL *curl = NULL;
  int n;

  if (o->check) {
    curl = curl_easy_init();
    check = curl ? curl_easy_escape(curl, o->check, 0) : NULL;
    if (check == NULL) {
      if (curl) curl_easy_cleanup(curl);
      fprintf(stderr, "%s: out of memory\n", PROG);
      return EXIT_RUNTIME;
    }
  }
  if (o->since_us != INT64_MIN) vtg_clock_format_rfc3339(o->since_us, since, sizeof since);
  n = snprintf(out, size, "/api/v1/outages%s%s%s%s%s",
               (check || o->since_us != INT64_MIN) ? "?" : "",
               check ? "check=" : "", check ? check : "",
               o->since_us != INT64_MIN ? (check ? "&since=" : "since=") : "",
               o->since_us != INT64_MIN ? since : "");
  curl_free(check);
  if (curl) curl_easy_cleanup(curl);
  if (n < 0 || (size_t)n >= size) {
    fprintf(stderr, "%s: --check value too long\n", PROG);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* ---- subcommands ---- */

static int cmd_status(const cli_opts_t *o) {
  static const char *const hdr[] = {"SERVICE", "CHECK", "REGION", "STATE",
                                    "AGENTS",  "LAST PROBE", "LATENCY"};
  out_style_t st = {use_color()};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  table_t t;
  int ret;

  ret = fetch_array(o, "/api/v1/status", "no checks reported (no agents connected yet?)", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 7);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const char *state = vtg_json_get_str(e, "state", "unknown");
    const vtg_json_t *lat = vtg_json_get(e, "last_latency_s");
    char buf[64], when[64];
    size_t r = table_row(&t);
    table_set(&t, r, 0, vtg_json_get_str(e, "service", "-"), NULL);
    table_set(&t, r, 1, vtg_json_get_str(e, "check", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "region", "-"), NULL);
    table_set(&t, r, 3, state, state_color(state));
    snprintf(buf, sizeof buf, "%.0f/%.0f", vtg_json_get_num(e, "healthy_agents", 0),
             vtg_json_get_num(e, "agents", 0));
    table_set(&t, r, 4, buf, NULL);
    fmt_time(vtg_json_get_str(e, "last_probe", NULL), now, 0, when, sizeof when);
    table_set(&t, r, 5, when, NULL);
    if (lat != NULL && lat->type == VTG_JSON_NUMBER)
      snprintf(buf, sizeof buf, lat->number < 0.01 ? "%.1f ms" : "%.0f ms", lat->number * 1000.0);
    else
      snprintf(buf, sizeof buf, "-");
    table_set(&t, r, 6, buf, NULL);
  }
  if (t.err == 0) table_print(&t, &st);
  ret = t.err ? EXIT_RUNTIME : EXIT_OK;
  if (t.err) fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t.err));
  table_free(&t);
  vtg_json_free(arr);
  return ret;
}

/* Region names of an incident joined by commas into a buf. */
static void join_regions(const vtg_json_t *regs, int objects, vtg_buf_t *b) {
  for (size_t k = 0; regs != NULL && regs->type == VTG_JSON_ARRAY && k < regs->n; k++) {
    const vtg_json_t *it = regs->items[k];
    const char *name = objects ? vtg_json_get_str(it, "region", "?")
                               : (it->type == VTG_JSON_STRING ? it->string : "?");
    if (k) vtg_buf_appends(b, ",");
    vtg_buf_appends(b, name);
  }
}

static int cmd_outages(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",      "CHECK",   "SCOPE", "ONSET",
                                    "DURATION", "REGIONS", "CAUSE", "WAVES"};
  out_style_t st = {use_color()};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  char path[1024];
  table_t t;
  int ret;

  if ((ret = outages_path(o, path, sizeof path)) != EXIT_OK) return ret;
  ret = fetch_array(o, path, "no outages", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 8);
  /* The API already orders open first, then newest onset first. */
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const vtg_json_t *res = vtg_json_get(e, "resolved");
    const vtg_json_t *waves = vtg_json_get(e, "waves");
    int open = res == NULL || res->type == VTG_JSON_NULL;
    char buf[96], dur[48];
    vtg_buf_t regs;
    size_t r = table_row(&t);

    table_set(&t, r, 0, vtg_json_get_str(e, "id", "-"), open ? C_RED : NULL);
    table_set(&t, r, 1, vtg_json_get_str(e, "check", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "scope", "-"), NULL);
    fmt_time(vtg_json_get_str(e, "onset", NULL), now, 1, buf, sizeof buf);
    table_set(&t, r, 3, buf, NULL);
    fmt_duration(vtg_json_get_num(e, "duration_s", 0), dur, sizeof dur);
    snprintf(buf, sizeof buf, "%s%s", dur, open ? " (open)" : "");
    table_set(&t, r, 4, buf, open ? C_RED : NULL);
    vtg_buf_init(&regs, 64 * 1024);
    join_regions(vtg_json_get(e, "regions"), 1, &regs);
    vtg_buf_printf(&regs, " (%.0f/%.0f)", vtg_json_get_num(e, "peak_regions", 0),
                   vtg_json_get_num(e, "total_regions", 0));
    table_set(&t, r, 5, regs.data ? regs.data : "", NULL);
    vtg_buf_free(&regs);
    table_set(&t, r, 6, vtg_json_get_str(e, "cause", "-"), NULL);
    snprintf(buf, sizeof buf, "%zu", waves && waves->type == VTG_JSON_ARRAY ? waves->n : 0);
    table_set(&t, r, 7, buf, NULL);
  }
  if (t.err == 0) table_print(&t, &st);
  ret = t.err ? EXIT_RUNTIME : EXIT_OK;
  if (t.err) fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t.err));
  table_free(&t);
  vtg_json_free(arr);
  return ret;
}

/* One line of the timeline: a wave of an incident going down or ending. */
typedef struct tl_event_s {
  int64_t t_us;
  const vtg_json_t *inc, *wave;
  size_t wave_no;
  int end;
} tl_event_t;

static int cmp_event(const void *a, const void *b) {
  const tl_event_t *x = a, *y = b;
  if (x->t_us != y->t_us) return x->t_us < y->t_us ? -1 : 1;
  return x->end - y->end;
}

/* timeline: the waves of the selected incidents as events, oldest first,
 * so several checks' outages read as one story. */
static int cmd_timeline(const cli_opts_t *o) {
  static const char *const hdr[] = {"TIME", "CHECK", "INCIDENT", "EVENT", "REGIONS", "CAUSE"};
  out_style_t st = {use_color()};
  cli_opts_t q = *o;
  vtg_json_t *arr = NULL;
  tl_event_t *ev = NULL;
  size_t n = 0, cap = 0;
  char path[1024];
  table_t t;
  int ret;

  q.json = 0; /* --json prints the events, not the outages */
  if ((ret = outages_path(o, path, sizeof path)) != EXIT_OK) return ret;
  if ((ret = fetch_array(&q, path, NULL, &arr)) != EXIT_OK) return ret;
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *waves = vtg_json_get(arr->items[i], "waves");
    for (size_t k = 0; waves && waves->type == VTG_JSON_ARRAY && k < waves->n; k++) {
      for (int end = 0; end < 2; end++) {
        const char *ts = vtg_json_get_str(waves->items[k], end ? "resolved" : "onset", NULL);
        int64_t t_us;
        if (ts == NULL || vtg_clock_parse_rfc3339(ts, &t_us) != 0) continue;
        if (n == cap) {
          size_t nc = cap ? cap * 2 : 32;
          tl_event_t *nev = realloc(ev, nc * sizeof *nev);
          if (nev == NULL) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            ret = EXIT_RUNTIME;
            goto out;
          }
          ev = nev;
          cap = nc;
        }
        ev[n].t_us = t_us;
        ev[n].inc = arr->items[i];
        ev[n].wave = waves->items[k];
        ev[n].wave_no = k + 1;
        ev[n].end = end;
        n++;
      }
    }
  }
  if (n > 0) qsort(ev, n, sizeof *ev, cmp_event);

  if (o->json) {
    vtg_buf_t b;
    vtg_json_writer_t w;
    vtg_buf_init(&b, CLI_MAX_RESPONSE);
    vtg_json_writer_init(&w, &b, 0);
    vtg_json_begin_array(&w);
    for (size_t i = 0; i < n; i++) {
      vtg_json_begin_object(&w);
      vtg_json_key(&w, "time");
      vtg_json_time(&w, ev[i].t_us);
      vtg_json_key(&w, "incident");
      vtg_json_string(&w, vtg_json_get_str(ev[i].inc, "id", NULL));
      vtg_json_key(&w, "check");
      vtg_json_string(&w, vtg_json_get_str(ev[i].inc, "check", NULL));
      vtg_json_key(&w, "wave");
      vtg_json_int(&w, (int64_t)ev[i].wave_no);
      vtg_json_key(&w, "event");
      vtg_json_string(&w, ev[i].end ? "recovered" : "down");
      vtg_json_key(&w, "regions");
      vtg_json_write_value(&w, vtg_json_get(ev[i].wave, "regions"));
      vtg_json_key(&w, "cause");
      vtg_json_string(&w, vtg_json_get_str(ev[i].wave, "cause", NULL));
      vtg_json_end_object(&w);
    }
    vtg_json_end_array(&w);
    if (vtg_json_finish(&w) != 0) {
      fprintf(stderr, "%s: timeline too large\n", PROG);
      ret = EXIT_RUNTIME;
    } else {
      fwrite(b.data, 1, b.len, stdout);
      putchar('\n');
      ret = EXIT_OK;
    }
    vtg_buf_free(&b);
    goto out;
  }
  if (n == 0) {
    printf("no outages\n");
    ret = EXIT_OK;
    goto out;
  }
  table_init(&t, hdr, 6);
  for (size_t i = 0; i < n; i++) {
    char ts[40], evs[48];
    vtg_buf_t regs;
    struct tm tm;
    time_t secs = (time_t)(ev[i].t_us / 1000000);
    size_t r = table_row(&t);
    if (localtime_r(&secs, &tm) == NULL || strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm) == 0)
      vtg_clock_format_rfc3339(ev[i].t_us, ts, sizeof ts);
    table_set(&t, r, 0, ts, NULL);
    table_set(&t, r, 1, vtg_json_get_str(ev[i].inc, "check", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(ev[i].inc, "id", "-"), NULL);
    snprintf(evs, sizeof evs, "wave %zu %s", ev[i].wave_no, ev[i].end ? "recovered" : "down");
    table_set(&t, r, 3, evs, ev[i].end ? C_GREEN : C_RED);
    vtg_buf_init(&regs, 64 * 1024);
    join_regions(vtg_json_get(ev[i].wave, "regions"), 0, &regs);
    table_set(&t, r, 4, regs.data ? regs.data : "", NULL);
    vtg_buf_free(&regs);
    table_set(&t, r, 5, ev[i].end ? "" : vtg_json_get_str(ev[i].wave, "cause", "-"), NULL);
  }
  if (t.err == 0) table_print(&t, &st);
  ret = t.err ? EXIT_RUNTIME : EXIT_OK;
  if (t.err) fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t.err));
  table_free(&t);
out:
  free(ev);
  vtg_json_free(arr);
  return ret;
}

static int json_true(const vtg_json_t *o, const char *key) {
  const vtg_json_t *v = vtg_json_get(o, key);
  return v != NULL && v->type == VTG_JSON_BOOL && v->boolean;
}

static int cmd_agents(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",     "REGION",  "COUNTRY",   "CONNECTED", "HEALTH",
                                    "CHECKS", "RESULTS", "LAST SEEN", "CLOCK",     "VERSION",
                                    "ADDRESS"};
  out_style_t st = {use_color()};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  table_t t;
  int ret;

  ret = fetch_array(o, "/api/v1/agents", "no agents seen yet", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 11);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const vtg_json_t *off = vtg_json_get(e, "clock_offset_s");
    int conn = json_true(e, "connected");
    int impaired = json_true(e, "impaired"), suspect = json_true(e, "suspect");
    char buf[64];
    size_t r = table_row(&t);
    table_set(&t, r, 0, vtg_json_get_str(e, "id", "-"), NULL);
    table_set(&t, r, 1, vtg_json_get_str(e, "region", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "country", "-"), NULL);
    table_set(&t, r, 3, conn ? "yes" : "no", conn ? C_GREEN : C_RED);
    table_set(&t, r, 4, impaired ? "impaired" : suspect ? "suspect" : "ok",
              impaired ? C_RED : suspect ? C_YELLOW : C_GREEN);
    snprintf(buf, sizeof buf, "%.0f (%.0f down)", vtg_json_get_num(e, "checks", 0),
             vtg_json_get_num(e, "checks_down", 0));
    table_set(&t, r, 5, buf, NULL);
    snprintf(buf, sizeof buf, "%.0f", vtg_json_get_num(e, "results_total", 0));
    table_set(&t, r, 6, buf, NULL);
    fmt_time(vtg_json_get_str(e, "last_seen", NULL), now, 0, buf, sizeof buf);
    table_set(&t, r, 7, buf, NULL);
    /* The agent's clock minus ours and its uncertainty: "+20.001s ±0.3ms". */
    if (off != NULL && off->type == VTG_JSON_NUMBER)
      snprintf(buf, sizeof buf, "%+.3fs \u00b1%.2fms", off->number,
               vtg_json_get_num(e, "clock_uncertainty_s", 0) * 1000.0);
    else
      snprintf(buf, sizeof buf, "-");
    table_set(&t, r, 8, buf, NULL);
    table_set(&t, r, 9, vtg_json_get_str(e, "version", "-"), NULL);
    table_set(&t, r, 10, vtg_json_get_str(e, "address", "-"), NULL);
  }
  if (t.err == 0) table_print(&t, &st);
  ret = t.err ? EXIT_RUNTIME : EXIT_OK;
  if (t.err) fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t.err));
  table_free(&t);
  vtg_json_free(arr);
  return ret;
}

static int cmd_checks(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",  "SERVICE",  "CHECK",   "KIND",   "METHOD",
                                    "URL", "INTERVAL", "TIMEOUT", "REGIONS"};
  out_style_t st = {use_color()};
  vtg_json_t *arr = NULL;
  table_t t;
  int ret;

  ret = fetch_array(o, "/api/v1/checks", "no checks configured", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 9);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const vtg_json_t *regs = vtg_json_get(e, "regions");
    char buf[64];
    vtg_buf_t rb;
    size_t r = table_row(&t);
    snprintf(buf, sizeof buf, "%.0f", vtg_json_get_num(e, "id", 0));
    table_set(&t, r, 0, buf, NULL);
    table_set(&t, r, 1, vtg_json_get_str(e, "service", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "name", "-"), NULL);
    table_set(&t, r, 3, vtg_json_get_str(e, "kind", "-"), NULL);
    table_set(&t, r, 4, vtg_json_get_str(e, "method", "-"), NULL);
    table_set(&t, r, 5, vtg_json_get_str(e, "url", "-"), NULL);
    fmt_duration(vtg_json_get_num(e, "interval_s", 0), buf, sizeof buf);
    table_set(&t, r, 6, buf, NULL);
    fmt_duration(vtg_json_get_num(e, "timeout_s", 0), buf, sizeof buf);
    table_set(&t, r, 7, buf, NULL);
    vtg_buf_init(&rb, 64 * 1024);
    join_regions(regs, 0, &rb);
    table_set(&t, r, 8, rb.len ? rb.data : "all", NULL);
    vtg_buf_free(&rb);
  }
  if (t.err == 0) table_print(&t, &st);
  ret = t.err ? EXIT_RUNTIME : EXIT_OK;
  if (t.err) fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t.err));
  table_free(&t);
  vtg_json_free(arr);
  return ret;
}

static const cli_cmd_t commands[] = {
    {"status", "state of every check in every region", 0, cmd_status},
    {"outages", "check incidents, open first, newest first", 1, cmd_outages},
    {"timeline", "outage waves as events, oldest first", 1, cmd_timeline},
    {"agents", "probe agents, connectivity and health", 0, cmd_agents},
    {"checks", "configured checks", 0, cmd_checks},
};

static void usage(FILE *f, const cli_cmd_t *cmd) {
  if (cmd == NULL) {
    fprintf(f, "usage: %s serve --config FILE\n", PROG);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      fprintf(f, "       %s %-8s [options]   %s\n", PROG, commands[i].name, commands[i].summary);
    return;
  }
  fprintf(f, "usage: %s %s [--json] [--coordinator URL]%s\n  %s\n", PROG, cmd->name,
          cmd->has_filters ? " [--since DURATION] [--check NAME]" : "", cmd->summary);
  fprintf(f, "options:\n"
             "  --json              print the API's JSON as received\n"
             "  --coordinator URL   coordinator HTTP API (env VANTAGE_COORDINATOR,\n"
             "                      default " CLI_DEFAULT_URL ")\n");
  if (cmd->has_filters)
    fprintf(f, "  --since DURATION    only incidents active in the last DURATION (e.g. 2h)\n"
               "  --check NAME        only incidents of this check\n");
  fprintf(f, "  -h, --help          this help\n");
}

/* Value of "--opt VALUE" or "--opt=VALUE"; NULL (and a message) when it
 * is missing. *i is advanced past a separate value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s %s: %s needs a value\n", PROG, argv[0], name);
    return NULL;
  }
  return argv[++*i];
}

static int opt_is(const char *arg, const char *name) {
  size_t n = strlen(name);
  return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int vtg_cli_run(int argc, char **argv) {
  const cli_cmd_t *cmd = NULL;
  cli_opts_t o;
  int ret;

  if (argc < 1 || argv[0] == NULL) {
    usage(stderr, NULL);
    return EXIT_USAGE;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[0], commands[i].name) == 0) cmd = &commands[i];
  if (cmd == NULL) {
    fprintf(stderr, "%s: unknown subcommand '%s'\n", PROG, argv[0]);
    usage(stderr, NULL);
    return EXIT_USAGE;
  }

  memset(&o, 0, sizeof o);
  o.cmd = cmd->name;
  o.since_us = INT64_MIN;
  o.url = getenv("VANTAGE_COORDINATOR");
  if (o.url == NULL || *o.url == '\0') o.url = CLI_DEFAULT_URL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout, cmd);
      return EXIT_OK;
    } else if (strcmp(a, "--json") == 0) {
      o.json = 1;
    } else if (opt_is(a, "--coordinator")) {
      if ((v = opt_value(argc, argv, &i, "--coordinator")) == NULL) return EXIT_USAGE;
      if (*v == '\0') {
        fprintf(stderr, "%s %s: --coordinator needs a URL\n", PROG, cmd->name);
        return EXIT_USAGE;
      }
      o.url = v;
    } else if (cmd->has_filters && opt_is(a, "--since")) {
      int64_t d;
      if ((v = opt_value(argc, argv, &i, "--since")) == NULL) return EXIT_USAGE;
      if (vtg_duration_parse(v, &d) != 0 || d <= 0) {
        fprintf(stderr, "%s %s: --since '%s': expected a duration such as 30m or 2h\n", PROG,
                cmd->name, v);
        return EXIT_USAGE;
      }
      o.since_us = vtg_clock_wall_us() - d;
    } else if (cmd->has_filters && opt_is(a, "--check")) {
      if ((v = opt_value(argc, argv, &i, "--check")) == NULL) return EXIT_USAGE;
      if (*v == '\0') {
        fprintf(stderr, "%s %s: --check needs a name\n", PROG, cmd->name);
        return EXIT_USAGE;
      }
      o.check = v;
    } else {
      fprintf(stderr, "%s %s: unknown %s '%s'\n", PROG, cmd->name,
              a[0] == '-' ? "option" : "argument", a);
      usage(stderr, cmd);
      return EXIT_USAGE;
    }
  }
  /* The URL is used verbatim: say plainly when it is not one. */
  if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0) {
    fprintf(stderr, "%s %s: coordinator URL '%s' must start with http:// or https://\n", PROG,
            cmd->name, o.url);
    return EXIT_USAGE;
  }

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "%s: cannot initialise libcurl\n", PROG);
    return EXIT_RUNTIME;
  }
  ret = cmd->run(&o);
  curl_global_cleanup();
  return ret;
}
