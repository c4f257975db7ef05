/* Client subcommands: status, outages, timeline, agents, checks, silence.
 * Each one talks to a running coordinator's HTTP API with libcurl and
 * prints the answer, either as received (--json: the API already speaks the
 * contract of DESIGN.md) or for people: aligned tables, local and relative
 * times, color only on a terminal and never with NO_COLOR, and for
 * `timeline ID` an ASCII chart of the incident, one row per region.
 *
 * Exit status: 0 ok, 1 runtime error (unreachable coordinator, HTTP error,
 * malformed answer), 2 bad usage (then the usage goes to stderr). Messages
 * go to stderr; `--help` goes to stdout. */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "rollup.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/yconf.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:7380"
#define CLI_MAX_RESPONSE (64u * 1024 * 1024)
#define CLI_MAX_REQUEST (64u * 1024)
#define CLI_TIMEOUT_S 10L
#define CLI_LABEL_MAX 24 /* chart: region names are cut to this width */
#define CLI_CHART_MIN 10 /* chart: fewest columns drawn, however narrow */
#define PROG "vantage-coordinator"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Which options a subcommand takes besides --json, --coordinator, --help. */
enum {
  OPT_FILTERS = 1, /* --since, --check */
  OPT_ARG = 2,     /* one positional argument */
  OPT_SILENCE = 4, /* --for, --reason, --service, --list, --end */
  OPT_BY_SERVICE = 8 /* outages --by-service */
};

typedef struct cli_opts_s {
  const char *cmd;
  int json;
  const char *url;
  const char *check;  /* outages, timeline */
  int64_t since_us;   /* INT64_MIN when not given */
  const char *arg;    /* timeline INCIDENT-ID, silence CHECK */
  int64_t for_us;     /* silence --for; 0 when not given */
  const char *reason; /* silence --reason */
  int service;        /* silence --service: arg names a service */
  int list;           /* silence --list */
  const char *end_id; /* silence --end */
  int by_service;     /* outages --by-service */
} cli_opts_t;

typedef struct cli_cmd_s {
  const char *name;
  const char *synopsis[3]; /* after "PROG name ", NULL-terminated */
  const char *summary;
  int opts; /* OPT_* */
  int (*run)(const cli_opts_t *o);
} cli_cmd_t;

/* ---- output helpers ---- */

typedef struct out_style_s {
  int color;
} out_style_t;

/* https://no-color.org: a non-empty NO_COLOR turns color off; so does a
 * dumb terminal or output that is not a terminal at all. */
static int use_color(void) {
  const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
  if (nc != NULL && *nc != '\0') return 0;
  if (term != NULL && strcmp(term, "dumb") == 0) return 0;
  return isatty(STDOUT_FILENO);
}

/* Columns for the chart: $COLUMNS when it is a sane number (scripts and
 * tests set it), else the terminal's width, else 80. */
static int term_width(void) {
  const char *c = getenv("COLUMNS");
  struct winsize ws;
  if (c != NULL && *c != '\0') {
    char *end;
    long v;
    errno = 0;
    v = strtol(c, &end, 10);
    if (errno == 0 && *end == '\0' && v >= 20 && v <= 1000) return (int)v;
  }
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col > 1000 ? 1000 : ws.ws_col;
  return 80;
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

/* Text from the API goes to a terminal: control characters (an escape
 * sequence in a check name, say) are shown as '?', never sent. */
static void sanitize(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static void table_set(table_t *t, size_t row, size_t col, const char *text, const char *color) {
  char *s;
  if (row == (size_t)-1 || t->err) return;
  s = strdup(text ? text : "");
  if (s == NULL) {
    t->err = VTG_ENOMEM;
    return;
  }
  sanitize(s);
  free(t->cells[row * t->ncols + col]);
  t->cells[row * t->ncols + col] = s;
  t->colors[row * t->ncols + col] = color;
}

/* The code point at *p, which is advanced past it. A malformed or cut
 * sequence counts as one byte-sized code point (U+FFFD), so any input
 * advances. */
static uint32_t utf8_next(const char **p) {
  const unsigned char *s = (const unsigned char *)*p;
  uint32_t c = s[0];
  int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
  if (n < 0) {
    (*p)++;
    return 0xFFFD;
  }
  c &= n == 0 ? 0x7F : (0x3F >> n);
  for (int k = 1; k <= n; k++) {
    if ((s[k] & 0xC0) != 0x80) {
      (*p)++;
      return 0xFFFD;
    }
    c = (c << 6) | (s[k] & 0x3F);
  }
  *p += n + 1;
  return c;
}

/* Terminal columns of a code point: 0 for combining marks and zero-width
 * characters, 2 for East Asian wide and fullwidth ones and emoji, else 1.
 * A small table rather than wcwidth(), which would depend on the locale. */
static int cp_width(uint32_t c) {
  static const uint32_t zero[][2] = {{0x0300, 0x036F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
                                     {0x200B, 0x200F}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F},
                                     {0xFE20, 0xFE2F}};
  static const uint32_t wide[][2] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
                                     {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
                                     {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},
                                     {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
                                     {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
    if (c >= zero[i][0] && c <= zero[i][1]) return 0;
  for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
    if (c >= wide[i][0] && c <= wide[i][1]) return 2;
  return 1;
}

/* Display width of UTF-8 text in terminal columns. */
static size_t text_width(const char *s) {
  size_t n = 0;
  while (*s) n += (size_t)cp_width(utf8_next(&s));
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

/* Prints the table, frees it and says so when building it ran out of
 * memory. Returns the exit status. */
static int table_finish(table_t *t) {
  out_style_t st = {use_color()};
  int ret = EXIT_OK;
  if (t->err == 0) {
    table_print(t, &st);
    if (fflush(stdout) != 0) ret = EXIT_RUNTIME;
  } else {
    fprintf(stderr, "%s: %s\n", PROG, vtg_strerror(t->err));
    ret = EXIT_RUNTIME;
  }
  table_free(t);
  return ret;
}

/* ---- times and durations ---- */

/* Whole seconds in at most two units. Without `precise`, under an hour
 * shows minutes only ("12 min"): enough for "how long ago". */
static void span_text(int64_t s, int precise, char *out, size_t size) {
  if (s < 60)
    snprintf(out, size, "%" PRId64 " s", s);
  else if (s < 3600 && (!precise || s % 60 == 0))
    snprintf(out, size, "%" PRId64 " min", s / 60);
  else if (s < 3600)
    snprintf(out, size, "%" PRId64 " min %" PRId64 " s", s / 60, s % 60);
  else if (s < 86400 && (s % 3600) / 60 == 0)
    snprintf(out, size, "%" PRId64 " h", s / 3600);
  else if (s < 86400)
    snprintf(out, size, "%" PRId64 " h %" PRId64 " min", s / 3600, (s % 3600) / 60);
  else if ((s % 86400) / 3600 == 0)
    snprintf(out, size, "%" PRId64 " d", s / 86400);
  else
    snprintf(out, size, "%" PRId64 " d %" PRId64 " h", s / 86400, (s % 86400) / 3600);
}

void vtg_cli_fmt_duration(double secs, char *out, size_t size) {
  if (!isfinite(secs) || secs <= 0) {
    snprintf(out, size, "0 s");
  } else if (secs < 0.9995) {
    snprintf(out, size, "%.0f ms", secs * 1000.0);
  } else if (secs < 9.95 && fabs(secs - round(secs)) >= 0.05) {
    snprintf(out, size, "%.1f s", secs);
  } else {
    double r = round(secs);
    span_text(r > 9.2e18 ? INT64_MAX : (int64_t)r, 1, out, size);
  }
}

void vtg_cli_fmt_ago(int64_t t_us, int64_t now_us, char *out, size_t size) {
  int future = t_us > now_us;
  /* Difference without overflow on absurd inputs. */
  uint64_t d = future ? (uint64_t)t_us - (uint64_t)now_us : (uint64_t)now_us - (uint64_t)t_us;
  char span[48];
  if (d < 1000000) {
    snprintf(out, size, "just now");
    return;
  }
  span_text((int64_t)(d / 1000000), 0, span, sizeof span);
  /* A short buffer gets a truncated text, which is all a caller can show. */
  int n = future ? snprintf(out, size, "in %s", span) : snprintf(out, size, "%s ago", span);
  if (n < 0 && size > 0) out[0] = '\0';
}

/* Local broken-down time of unix microseconds (floor to the second). */
static int local_tm(int64_t t_us, struct tm *tm) {
  time_t secs = (time_t)(t_us >= 0 ? t_us / 1000000 : -((-(t_us + 1)) / 1000000) - 1);
  return localtime_r(&secs, tm) != NULL ? 0 : VTG_EINVAL;
}

static int same_day(const struct tm *a, const struct tm *b) {
  return a->tm_year == b->tm_year && a->tm_yday == b->tm_yday;
}

/* Local clock time of t_us, with the date in front when it is not on the
 * local date of ref_us: "12:04:31" or "2026-11-24 12:04:31" (seconds
 * dropped with !secs). Falls back to RFC 3339 UTC. */
static void clock_text(int64_t t_us, int64_t ref_us, int secs, char *out, size_t size) {
  struct tm tm, ref;
  size_t n;
  if (local_tm(t_us, &tm) != 0 || local_tm(ref_us, &ref) != 0) {
    vtg_clock_format_rfc3339(t_us, out, size);
    return;
  }
  if (same_day(&tm, &ref))
    n = strftime(out, size, secs ? "%H:%M:%S" : "%H:%M", &tm);
  else
    n = strftime(out, size, secs ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
  if (n == 0) vtg_clock_format_rfc3339(t_us, out, size);
}

/* Unix microseconds floored to the whole second. */
static int64_t floor_s(int64_t t_us) {
  return t_us >= 0 ? t_us / 1000000 * 1000000 : -((-(t_us + 1)) / 1000000) * 1000000 - 1000000;
}

void vtg_cli_fmt_time(int64_t t_us, int64_t now_us, char *out, size_t size) {
  char clk[40], ago[48];
  clock_text(t_us, now_us, 1, clk, sizeof clk);
  /* Relative to the clock shown: 12:04:31 is 12 min before 12:16:31,
   * whatever the milliseconds. */
  vtg_cli_fmt_ago(floor_s(t_us), floor_s(now_us), ago, sizeof ago);
  snprintf(out, size, "%s (%s)", clk, ago);
}

/* An RFC 3339 member of obj into *t_us. Returns 0, or VTG_EINVAL when it
 * is missing, null or unparsable (*t_us untouched). */
static int json_time(const vtg_json_t *obj, const char *key, int64_t *t_us) {
  const char *s = vtg_json_get_str(obj, key, NULL);
  int64_t v;
  if (s == NULL || vtg_clock_parse_rfc3339(s, &v) != 0) return VTG_EINVAL;
  *t_us = v;
  return 0;
}

/* A table cell for an RFC 3339 member: local + relative, or "-". */
static void fmt_member_time(const vtg_json_t *obj, const char *key, int64_t now_us, char *out,
                            size_t size) {
  int64_t t;
  if (json_time(obj, key, &t) == 0)
    vtg_cli_fmt_time(t, now_us, out, size);
  else
    snprintf(out, size, "-");
}

/* Same, relative only ("12 s ago"): for columns that change every probe. */
static void fmt_member_ago(const vtg_json_t *obj, const char *key, int64_t now_us, char *out,
                           size_t size) {
  int64_t t;
  if (json_time(obj, key, &t) == 0)
    vtg_cli_fmt_ago(t, now_us, out, size);
  else
    snprintf(out, size, "-");
}

/* A time cell with its window (issue 5): "12:04:31 (window 0.6 s, 3 min
 * ago)"; without a known window the plain time cell. */
static void fmt_member_time_window(const vtg_json_t *obj, const char *key, const char *wkey,
                                   int64_t now_us, char *out, size_t size) {
  char plain[96];
  const vtg_json_t *w = vtg_json_get(obj, wkey);
  fmt_member_time(obj, key, now_us, plain, sizeof plain);
  const char *paren = strchr(plain, '(');
  if (w == NULL || w->type != VTG_JSON_NUMBER || strcmp(plain, "-") == 0) {
    snprintf(out, size, "%s", plain);
  } else if (paren == NULL) {
    snprintf(out, size, "%s (window %.1f s)", plain, w->number);
  } else {
    snprintf(out, size, "%.*s(window %.1f s, %s", (int)(paren - plain), plain, w->number,
             paren + 1);
  }
}

/* A duration with its uncertainty: the true one lies between duration -
 * resolved_window and duration + onset_window ("20 s (-0.2/+0.6 s)"). */
static void fmt_duration_window(const vtg_json_t *obj, char *out, size_t size) {
  char dur[48];
  const vtg_json_t *ow = vtg_json_get(obj, "onset_window_s");
  const vtg_json_t *rw = vtg_json_get(obj, "resolved_window_s");
  vtg_cli_fmt_duration(vtg_json_get_num(obj, "duration_s", 0), dur, sizeof dur);
  if (ow != NULL && ow->type == VTG_JSON_NUMBER && rw != NULL && rw->type == VTG_JSON_NUMBER)
    snprintf(out, size, "%s (-%.1f/+%.1f s)", dur, rw->number, ow->number);
  else if (ow != NULL && ow->type == VTG_JSON_NUMBER)
    snprintf(out, size, "%s (+%.1f s)", dur, ow->number);
  else
    snprintf(out, size, "%s", dur);
}

static const char *state_color(const char *state) {
  if (strcmp(state, "up") == 0) return C_GREEN;
  if (strcmp(state, "degraded") == 0) return C_YELLOW;
  if (strcmp(state, "down") == 0) return C_RED;
  return C_DIM;
}

static int json_true(const vtg_json_t *o, const char *key) {
  const vtg_json_t *v = vtg_json_get(o, key);
  return v != NULL && v->type == VTG_JSON_BOOL && v->boolean;
}

/* ---- the timeline chart (pure) ---- */

typedef struct chart_s {
  int64_t t0, t1;  /* the axis: [t0, t1) */
  double dt;       /* microseconds per column */
  int n;           /* columns */
  int64_t now;
  double *cover;   /* n: share of each column covered, in columns */
  unsigned char *hit; /* n: a down stretch's midpoint falls here */
} chart_t;

/* Adds [a, b) to the coverage of the current row. A stretch too short to
 * fill half a column still marks the column of its midpoint, so no down
 * time vanishes; a gap of two columns or more always shows. */
static void chart_add(chart_t *c, int64_t a, int64_t b) {
  double x0, x1;
  int c0, c1;
  if (a < c->t0) a = c->t0;
  if (b > c->t1) b = c->t1;
  if (b < a) return;
  x0 = (double)(a - c->t0) / c->dt;
  x1 = (double)(b - c->t0) / c->dt;
  c0 = (int)floor(x0);
  c1 = (int)floor(x1);
  if (c0 >= c->n) return;
  if (c1 >= c->n) c1 = c->n - 1;
  for (int k = c0; k <= c1; k++) {
    double lo = x0 > k ? x0 : k, hi = x1 < k + 1 ? x1 : k + 1;
    if (hi > lo) c->cover[k] += hi - lo;
  }
  {
    int m = (int)floor((x0 + x1) / 2);
    if (m >= c->n) m = c->n - 1;
    c->hit[m] = 1;
  }
}

/* Sets row cells to ch where the coverage counts as down, then clears the
 * coverage for the next row. */
static void chart_fill(chart_t *c, char *row, char ch) {
  for (int k = 0; k < c->n; k++) {
    if (c->cover[k] >= 0.5 || c->hit[k]) row[k] = ch;
    c->cover[k] = 0;
    c->hit[k] = 0;
  }
}

/* Sets '?' where the coverage is unknown time and the row still says up
 * ('.'); clears the coverage. Returns whether any cell was set. */
static int chart_fill_unknown(chart_t *c, char *row) {
  int any = 0;
  for (int k = 0; k < c->n; k++) {
    if ((c->cover[k] >= 0.5 || c->hit[k]) && row[k] == '.') {
      row[k] = '?';
      any = 1;
    }
    c->cover[k] = 0;
    c->hit[k] = 0;
  }
  return any;
}

/* The completed minutes of region `name` that the history answer calls
 * unknown, added to the current row's coverage. */
static void chart_unknown(chart_t *c, const vtg_json_t *hist, const char *name) {
  const vtg_json_t *regs = vtg_json_get(hist, "regions");
  int64_t step = (int64_t)(vtg_json_get_num(hist, "step_s", 60) * 1e6);
  if (name == NULL || step <= 0) return;
  for (size_t i = 0; regs != NULL && regs->type == VTG_JSON_ARRAY && i < regs->n; i++) {
    const vtg_json_t *cells = vtg_json_get(regs->items[i], "cells");
    if (strcmp(vtg_json_get_str(regs->items[i], "region", ""), name) != 0) continue;
    for (size_t k = 0; cells != NULL && cells->type == VTG_JSON_ARRAY && k < cells->n; k++) {
      int64_t t;
      if (json_time(cells->items[k], "t", &t) != 0 || t + step > c->now) continue;
      if (strcmp(vtg_json_get_str(cells->items[k], "state", ""), "unknown") == 0)
        chart_add(c, t, t + step);
    }
    return;
  }
}

static int listed(const vtg_json_t *names, const char *name) {
  for (size_t i = 0; names != NULL && names->type == VTG_JSON_ARRAY && i < names->n; i++)
    if (names->items[i]->type == VTG_JSON_STRING && strcmp(names->items[i]->string, name) == 0)
      return 1;
  return 0;
}

/* The down stretches of one region entry. spans[] when the coordinator
 * sends them; otherwise each wave the region is listed in, bounded by the
 * region's first onset and last recovery (the best the older JSON allows:
 * a region that joined a wave late is drawn from the wave's onset). An
 * open end is now. */
static void chart_region(chart_t *c, const vtg_json_t *reg, const vtg_json_t *waves) {
  const vtg_json_t *spans = vtg_json_get(reg, "spans");
  const char *name = vtg_json_get_str(reg, "region", NULL);
  int64_t r_on = c->t0, r_off = c->now;
  int any = 0;

  if (spans != NULL && spans->type == VTG_JSON_ARRAY && spans->n > 0) {
    for (size_t i = 0; i < spans->n; i++) {
      int64_t a, b = c->now;
      if (json_time(spans->items[i], "onset", &a) != 0) continue;
      json_time(spans->items[i], "resolved", &b);
      chart_add(c, a, b);
    }
    return;
  }
  json_time(reg, "onset", &r_on);
  json_time(reg, "resolved", &r_off);
  for (size_t i = 0; name && waves && waves->type == VTG_JSON_ARRAY && i < waves->n; i++) {
    const vtg_json_t *w = waves->items[i];
    int64_t a, b = c->now;
    if (!listed(vtg_json_get(w, "regions"), name) || json_time(w, "onset", &a) != 0) continue;
    json_time(w, "resolved", &b);
    if (a < r_on) a = r_on;
    if (b > r_off) b = r_off;
    chart_add(c, a, b);
    any = 1;
  }
  if (!any && json_time(reg, "onset", &r_on) == 0) chart_add(c, r_on, r_off);
}

/* Appends to out unless an earlier append failed (*err keeps the first
 * error). */
static void put(int *err, vtg_buf_t *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(int *err, vtg_buf_t *out, const char *fmt, ...) {
  va_list ap;
  if (*err) return;
  va_start(ap, fmt);
  *err = vtg_buf_vprintf(out, fmt, ap);
  va_end(ap);
}

/* Appends a row's cells, wrapping runs of '#' in red when colored. */
static void chart_put_cells(int *err, vtg_buf_t *out, const char *row, int n, int color) {
  int in_red = 0, k = 0;
  while (k < n) {
    int down = row[k] == '#', run = 0;
    while (k + run < n && (row[k + run] == '#') == down) run++;
    if (color && down != in_red) {
      put(err, out, "%s", down ? C_RED : C_RESET);
      in_red = down;
    }
    put(err, out, "%.*s", run, row + k);
    k += run;
  }
  if (in_red) put(err, out, "%s", C_RESET);
}

/* Writes text into line[at..] if it fits in [at, limit); returns the end
 * or -1 when it does not fit. */
static int place(char *line, int at, int limit, const char *text) {
  int len = (int)strlen(text);
  if (at < 0 || at + len > limit) return -1;
  memcpy(line + at, text, (size_t)len);
  return at + len;
}

/* A tick's label: the local clock to the second or minute, or the date
 * for ticks a day or more apart. Never longer than 8 characters. */
static void tick_text(int64_t t_us, int64_t step_s, char *out, size_t size) {
  struct tm tm;
  size_t n = 0;
  if (local_tm(t_us, &tm) == 0)
    n = strftime(out, size, step_s < 60 ? "%H:%M:%S" : step_s < 86400 ? "%H:%M" : "%m-%d", &tm);
  if (n == 0) snprintf(out, size, "?");
}

/* The tick spacing: the smallest round step that leaves room for a label
 * (plus gaps) between two ticks. 0 when none fits. */
static int64_t tick_step_s(double dt_us, int label_cols) {
  static const int64_t steps[] = {1,    2,    5,    10,    15,    30,    60,    120,
                                  300,  600,  900,  1800,  3600,  7200,  10800, 21600,
                                  43200, 86400, 172800, 604800};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if ((double)steps[i] * 1e6 / dt_us >= label_cols + 3) return steps[i];
  return 0;
}

int vtg_cli_timeline_chart(const vtg_json_t *inc, int width, int64_t now_us, int color,
                           vtg_buf_t *out) {
  return vtg_cli_timeline_chart_hist(inc, NULL, width, now_us, color, out);
}

int vtg_cli_timeline_chart_hist(const vtg_json_t *inc, const vtg_json_t *hist, int width,
                                int64_t now_us, int color, vtg_buf_t *out) {
  const vtg_json_t *regs = vtg_json_get(inc, "regions");
  const vtg_json_t *waves = vtg_json_get(inc, "waves");
  int64_t onset, end, pad;
  int open, lw = 5 /* "waves" */, err = 0, unknown = 0;
  char *row = NULL, *axis = NULL, *labels = NULL;
  chart_t c;

  memset(&c, 0, sizeof c);
  if (json_time(inc, "onset", &onset) != 0) return VTG_EINVAL;
  open = json_time(inc, "resolved", &end) != 0;
  if (open) end = now_us;
  if (end < onset) end = onset;
  /* A little room before the onset (and after the recovery) so the first
   * and last change are visible against '.'. */
  pad = (end - onset) / 20;
  if (pad < 1000000) pad = 1000000;
  c.t0 = onset - pad;
  c.t1 = open ? end : end + pad;
  if (c.t1 <= onset) c.t1 = onset + 1000000;
  c.now = now_us;

  for (size_t i = 0; regs && regs->type == VTG_JSON_ARRAY && i < regs->n; i++) {
    int l = (int)text_width(vtg_json_get_str(regs->items[i], "region", "?"));
    if (l > lw) lw = l;
  }
  if (lw > CLI_LABEL_MAX) lw = CLI_LABEL_MAX;
  /* On a narrow terminal the names give way before the chart does. */
  if (lw > width - 3 - CLI_CHART_MIN) lw = width - 3 - CLI_CHART_MIN;
  if (lw < 5) lw = 5;
  /* One column short of the width: a line exactly as wide as the terminal
   * wraps on some of them. */
  c.n = width - lw - 2 - 1;
  if (c.n < CLI_CHART_MIN) c.n = CLI_CHART_MIN;
  c.dt = (double)(c.t1 - c.t0) / c.n;

  c.cover = calloc((size_t)c.n, sizeof *c.cover);
  c.hit = calloc((size_t)c.n, 1);
  row = malloc((size_t)c.n + 1);
  axis = malloc((size_t)c.n + 1);
  labels = malloc((size_t)c.n + 1);
  if (c.cover == NULL || c.hit == NULL || row == NULL || axis == NULL || labels == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }

  /* Region rows. */
  for (size_t i = 0; regs && regs->type == VTG_JSON_ARRAY && i < regs->n; i++) {
    const vtg_json_t *reg = regs->items[i];
    char label[CLI_LABEL_MAX * 4 + 1];
    size_t l = 0;
    int cols = 0;
    const char *name = vtg_json_get_str(reg, "region", "?");
    /* Cut to lw columns, whole UTF-8 sequences only. */
    for (const char *p = name; *p;) {
      const char *q = p;
      int w = cp_width(utf8_next(&q));
      if (cols + w > lw || l + (size_t)(q - p) + 1 > sizeof label) break;
      memcpy(label + l, p, (size_t)(q - p));
      l += (size_t)(q - p);
      cols += w;
      p = q;
    }
    label[l] = '\0';
    sanitize(label);
    memset(row, '.', (size_t)c.n);
    chart_region(&c, reg, waves);
    chart_fill(&c, row, '#');
    if (hist != NULL) {
      chart_unknown(&c, hist, vtg_json_get_str(reg, "region", NULL));
      unknown |= chart_fill_unknown(&c, row);
    }
    put(&err, out, "%s%*s  ", label, lw - (int)text_width(label), "");
    chart_put_cells(&err, out, row, c.n, color);
    put(&err, out, "\n");
  }

  /* The waves row: each wave's extent under its number. */
  memset(row, ' ', (size_t)c.n);
  for (size_t i = 0; waves && waves->type == VTG_JSON_ARRAY && i < waves->n; i++) {
    int64_t a, b = now_us;
    if (json_time(waves->items[i], "onset", &a) != 0) continue;
    json_time(waves->items[i], "resolved", &b);
    chart_add(&c, a, b);
    chart_fill(&c, row, i < 9 ? (char)('1' + i) : '+');
  }
  {
    int used = c.n;
    while (used > 0 && row[used - 1] == ' ') used--;
    put(&err, out, "%-*s  %.*s\n", lw, "waves", used, row);
  }

  /* The axis: ticks on round local times, labels where they fit. */
  {
    struct tm tm0;
    int64_t step = tick_step_s(c.dt, 5);
    int tick_secs = step > 0 && step < 60;
    char left[40], right[40];
    int left_end, right_start;

    if (tick_secs) step = tick_step_s(c.dt, 8);
    memset(axis, '-', (size_t)c.n);
    axis[0] = axis[c.n - 1] = '|';
    memset(labels, ' ', (size_t)c.n);

    clock_text(c.t0, now_us, 1, left, sizeof left);
    clock_text(c.t1, c.t0, 1, right, sizeof right);
    left_end = place(labels, 0, c.n, left);
    if (left_end < 0) left_end = 0;
    right_start = c.n - (int)strlen(right);
    if (right_start < left_end + 2 || place(labels, right_start, c.n, right) < 0)
      right_start = c.n;

    if (step > 0 && local_tm(c.t0, &tm0) == 0) {
      /* Round in local time: shift by the zone's offset at t0. */
      int64_t off_us = (int64_t)tm0.tm_gmtoff * 1000000;
      int64_t step_us = step * 1000000;
      int64_t lt = c.t0 + off_us;
      int64_t first = (lt >= 0 ? (lt + step_us - 1) / step_us : lt / step_us) * step_us;
      int last_end = left_end;
      for (int64_t t = first - off_us; t < c.t1; t += step_us) {
        int col = (int)floor((double)(t - c.t0) / c.dt);
        char txt[40];
        int len, at, e;
        if (col < 1 || col > c.n - 2) continue;
        axis[col] = '+';
        tick_text(t, step, txt, sizeof txt);
        len = (int)strlen(txt);
        at = col - len / 2;
        if (at < last_end + 2 || at + len + 2 > right_start) continue;
        if ((e = place(labels, at, right_start, txt)) > 0) last_end = e;
      }
    }
    {
      int used = c.n;
      while (used > 0 && labels[used - 1] == ' ') used--;
      put(&err, out, "%*s  %.*s\n", lw, "", c.n, axis);
      put(&err, out, "%*s  %.*s\n", lw, "", used, labels);
    }
  }

  /* Legend with the scale. */
  {
    char colw[48];
    const char *red = color ? C_RED : "", *reset = color ? C_RESET : "";
    int len;
    vtg_cli_fmt_duration(c.dt / 1e6, colw, sizeof colw);
    const char *unk = unknown ? "  ? unknown" : "";
    len = (int)strlen("# down  . up  (one column = )") + (int)strlen(unk) + (int)strlen(colw) +
          (open ? (int)strlen(", still open") : 0);
    if (lw + 2 + len <= width - 1)
      put(&err, out, "%*s  %s#%s down  . up%s  (one column = %s%s)\n", lw, "", red, reset, unk,
          colw, open ? ", still open" : "");
    else /* a narrow terminal: short lines from the left edge */
      put(&err, out, "%s#%s down  . up%s\ncolumn: %s\n", red, reset, unk, colw);
  }
out:
  free(c.cover);
  free(c.hit);
  free(row);
  free(axis);
  free(labels);
  return err;
}

/* ---- talking to the coordinator ---- */

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

/* Why the coordinator could not be reached, in a few lower-case words
 * ("connection refused", "cannot resolve host", "no answer within 10 s"). */
static void reach_reason(CURL *curl, CURLcode rc, const char *errbuf, char *out, size_t size) {
  long os_errno = 0;
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      if (curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0)
        snprintf(out, size, "%s", strerror((int)os_errno));
      else
        snprintf(out, size, "connection failed");
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      snprintf(out, size, "cannot resolve the host name");
      break;
    case CURLE_OPERATION_TIMEDOUT:
      snprintf(out, size, "no answer within %ld s", CLI_TIMEOUT_S);
      break;
    case CURLE_GOT_NOTHING:
      snprintf(out, size, "the connection closed without an answer");
      break;
    default:
      snprintf(out, size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
      break;
  }
  if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z')) out[0] += 'a' - 'A';
}

/* One request: method on base + path, with an optional JSON body. On a 2xx
 * answer *out gets the body (NUL-terminated; may be empty except for GET)
 * and EXIT_OK is returned. Otherwise one line on stderr says why (the
 * coordinator cannot be reached; or the API's JSON error message with the
 * HTTP status) and EXIT_RUNTIME is returned. */
static int api_call(const char *base, const char *method, const char *path, const char *body,
                    vtg_buf_t *out) {
  fetch_t f;
  char errbuf[CURL_ERROR_SIZE] = "";
  char *url = NULL;
  size_t blen = strlen(base);
  CURL *curl = NULL;
  struct curl_slist *hdrs = NULL;
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
  if (body != NULL) {
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (hdrs == NULL || curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) !=
            CURLE_OK) {
      fprintf(stderr, "%s: setting up the request for %s failed\n", PROG, url);
      goto out;
    }
  }
  /* POST follows from POSTFIELDS; anything else is named. */
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK) {
    fprintf(stderr, "%s: setting up the request for %s failed\n", PROG, url);
    goto out;
  }
  rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    char why[CURL_ERROR_SIZE + 32];
    if (f.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      fprintf(stderr, "%s: %s: the answer is larger than the 64 MiB cap\n", PROG, url);
    } else {
      reach_reason(curl, rc, errbuf, why, sizeof why);
      fprintf(stderr, "%s: cannot reach coordinator at %.*s: %s\n", PROG, (int)blen, base, why);
    }
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    vtg_json_t *v = NULL;
    char perr[64];
    char *msg = NULL;
    if (f.body.len > 0 && vtg_json_parse(f.body.data, f.body.len, &v, perr, sizeof perr) == 0 &&
        vtg_json_get_str(v, "error", NULL) != NULL)
      msg = strdup(vtg_json_get_str(v, "error", NULL));
    if (msg != NULL) {
      sanitize(msg);
      fprintf(stderr, "%s: %s (HTTP %ld from %s %s)\n", PROG, msg, status, method, url);
    } else {
      fprintf(stderr, "%s: HTTP %ld from %s %s\n", PROG, status, method, url);
    }
    free(msg);
    vtg_json_free(v);
    goto out;
  }
  if ((f.body.len == 0 && strcmp(method, "GET") == 0) || vtg_buf_append(&f.body, "", 1) != 0) {
    fprintf(stderr, "%s: %s: empty answer\n", PROG, url);
    goto out;
  }
  f.body.len--; /* keep the NUL we appended out of the length */
  *out = f.body;
  vtg_buf_init(&f.body, 0);
  ret = EXIT_OK;
out:
  curl_slist_free_all(hdrs);
  if (curl) curl_easy_cleanup(curl);
  vtg_buf_free(&f.body);
  free(url);
  return ret;
}

/* --json: the API's answer exactly as received, with a final newline. */
static int print_raw(const vtg_buf_t *body) {
  if (body->len > 0) {
    fwrite(body->data, 1, body->len, stdout);
    if (body->data[body->len - 1] != '\n') putchar('\n');
  }
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
}

/* Parses an answer; want is the JSON type expected. On failure says so
 * (naming the URL) and returns EXIT_RUNTIME. */
static int parse_answer(const cli_opts_t *o, const char *path, const vtg_buf_t *body,
                        vtg_json_type want, vtg_json_t **out) {
  char perr[128];
  *out = NULL;
  if (vtg_json_parse(body->data, body->len, out, perr, sizeof perr) != 0 ||
      (*out)->type != want) {
    fprintf(stderr, "%s: %s%s: the coordinator's answer is not a JSON %s%s%s\n", PROG, o->url,
            path, want == VTG_JSON_ARRAY ? "array" : "object", *out ? "" : ": ",
            *out ? "" : perr);
    vtg_json_free(*out);
    *out = NULL;
    return EXIT_RUNTIME;
  }
  return EXIT_OK;
}

/* GETs path and, unless --json (then it is printed as is), parses it as
 * a JSON array into *out. With empty_msg, an empty array prints that
 * instead. Either way *out is left NULL when there is nothing to show. */
static int fetch_array(const cli_opts_t *o, const char *path, const char *empty_msg,
                       vtg_json_t **out) {
  vtg_buf_t body;
  int ret;

  *out = NULL;
  if ((ret = api_call(o->url, "GET", path, NULL, &body)) != EXIT_OK) return ret;
  if (o->json)
    ret = print_raw(&body);
  else
    ret = parse_answer(o, path, &body, VTG_JSON_ARRAY, out);
  vtg_buf_free(&body);
  if (ret == EXIT_OK && *out != NULL && empty_msg != NULL && (*out)->n == 0) {
    printf("%s\n", empty_msg);
    vtg_json_free(*out);
    *out = NULL;
  }
  return ret;
}

/* A path segment or query value, percent-encoded into a malloc'd string
 * (NULL when out of memory). */
static char *url_escape(const char *s) {
  CURL *curl = curl_easy_init();
  char *e = curl ? curl_easy_escape(curl, s, 0) : NULL;
  char *copy = e ? strdup(e) : NULL;
  curl_free(e);
  if (curl) curl_easy_cleanup(curl);
  return copy;
}

/* Builds "/api/v1/outages?check=..&since=..". */
static int outages_path(const cli_opts_t *o, char *out, size_t size) {
  char since[40];
  char *check = NULL;
  int n;

  if (o->check && (check = url_escape(o->check)) == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return EXIT_RUNTIME;
  }
  if (o->since_us != INT64_MIN) vtg_clock_format_rfc3339(o->since_us, since, sizeof since);
  n = snprintf(out, size, "/api/v1/outages%s%s%s%s%s",
               (check || o->since_us != INT64_MIN) ? "?" : "",
               check ? "check=" : "", check ? check : "",
               o->since_us != INT64_MIN ? (check ? "&since=" : "since=") : "",
               o->since_us != INT64_MIN ? since : "");
  free(check);
  if (n < 0 || (size_t)n >= size) {
    fprintf(stderr, "%s: --check value too long\n", PROG);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* ---- subcommands ---- */

/* The history of the incident's check back to a little before its onset
 * (at most the API's 1440 minutes), for the chart's unknown minutes; NULL
 * when it cannot be had (an older coordinator, an error already reported):
 * the chart is drawn without them. */
static vtg_json_t *fetch_incident_history(const cli_opts_t *o, const vtg_json_t *inc,
                                          int64_t now_us) {
  const char *check = vtg_json_get_str(inc, "check", NULL);
  char path[1200], perr[128];
  vtg_json_t *v = NULL;
  vtg_buf_t body;
  int64_t onset;
  char *esc;
  if (check == NULL || json_time(inc, "onset", &onset) != 0) return NULL;
  int64_t minutes = (now_us - onset) / 60000000 + 3;
  if (minutes > 1440) minutes = 1440;
  if (minutes < 1) minutes = 1;
  if ((esc = url_escape(check)) == NULL) return NULL;
  int n = snprintf(path, sizeof path, "/api/v1/history?check=%s&minutes=%" PRId64, esc, minutes);
  free(esc);
  if (n < 0 || (size_t)n >= sizeof path) return NULL;
  if (api_call(o->url, "GET", path, NULL, &body) != EXIT_OK) return NULL;
  if (vtg_json_parse(body.data, body.len, &v, perr, sizeof perr) != 0 ||
      v->type != VTG_JSON_OBJECT) {
    vtg_json_free(v);
    v = NULL;
  }
  vtg_buf_free(&body);
  return v;
}

/* GET /api/v1/uptime (every check, 24 h) for the status table; NULL when
 * it cannot be had (an older coordinator, an error already reported):
 * the table then shows "-". */
static vtg_json_t *fetch_uptime(const cli_opts_t *o) {
  vtg_buf_t body;
  vtg_json_t *v = NULL;
  if (api_call(o->url, "GET", "/api/v1/uptime", NULL, &body) != EXIT_OK) return NULL;
  if (parse_answer(o, "/api/v1/uptime", &body, VTG_JSON_ARRAY, &v) != EXIT_OK) v = NULL;
  vtg_buf_free(&body);
  return v;
}

/* "99.95% (cov 87%)" for (check, region) from the uptime answer (rollup.h:
 * uptime over the known time, coverage of the window); "- (cov 0%)" when
 * nothing is known, "-" when the answer has no such entry. */
static void fmt_uptime(const vtg_json_t *up, const char *check, const char *region, char *buf,
                       size_t size) {
  snprintf(buf, size, "-");
  for (size_t i = 0; up != NULL && i < up->n; i++) {
    const vtg_json_t *regs = vtg_json_get(up->items[i], "regions");
    if (strcmp(vtg_json_get_str(up->items[i], "check", ""), check) != 0) continue;
    for (size_t k = 0; regs != NULL && regs->type == VTG_JSON_ARRAY && k < regs->n; k++) {
      if (strcmp(vtg_json_get_str(regs->items[k], "region", ""), region) != 0) continue;
      char u[24], c[24];
      vtg_rollup_format_pct(vtg_json_get_num(regs->items[k], "uptime", -1), 2, u, sizeof u);
      vtg_rollup_format_pct(vtg_json_get_num(regs->items[k], "coverage", 0), 0, c, sizeof c);
      snprintf(buf, size, "%s (cov %s)", u, c);
      return;
    }
    return;
  }
}

static int cmd_status(const cli_opts_t *o) {
  static const char *const hdr[] = {"SERVICE", "CHECK",      "REGION",  "STATE",     "AGENTS",
                                    "LAST PROBE", "LATENCY", "UPTIME 24H", "ADDRESSES"};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  table_t t;
  int ret;

  ret = fetch_array(o, "/api/v1/status", "no checks reported (no agents connected yet?)", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  vtg_json_t *up = fetch_uptime(o);
  table_init(&t, hdr, 9);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const char *state = vtg_json_get_str(e, "state", "unknown");
    const vtg_json_t *lat = vtg_json_get(e, "last_latency_s");
    char buf[64];
    size_t r = table_row(&t);
    table_set(&t, r, 0, vtg_json_get_str(e, "service", "-"), NULL);
    table_set(&t, r, 1, vtg_json_get_str(e, "check", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "region", "-"), NULL);
    /* "unknown (network)": no healthy agent because the region's own path
     * is down, not the target. */
    const char *blame = vtg_json_get_str(e, "blame", NULL);
    char sbuf[48];
    if (blame != NULL) {
      snprintf(sbuf, sizeof sbuf, "%s (%s)", state, blame);
      table_set(&t, r, 3, sbuf, state_color(state));
    } else {
      table_set(&t, r, 3, state, state_color(state));
    }
    snprintf(buf, sizeof buf, "%.0f/%.0f", vtg_json_get_num(e, "healthy_agents", 0),
             vtg_json_get_num(e, "agents", 0));
    table_set(&t, r, 4, buf, NULL);
    fmt_member_ago(e, "last_probe", now, buf, sizeof buf);
    table_set(&t, r, 5, buf, NULL);
    if (lat != NULL && lat->type == VTG_JSON_NUMBER)
      snprintf(buf, sizeof buf, lat->number < 0.01 ? "%.1f ms" : "%.0f ms", lat->number * 1000.0);
    else
      snprintf(buf, sizeof buf, "-");
    table_set(&t, r, 6, buf, NULL);
    fmt_uptime(up, vtg_json_get_str(e, "check", ""), vtg_json_get_str(e, "region", ""), buf,
               sizeof buf);
    table_set(&t, r, 7, buf, NULL);
    /* The addresses the region's agents probed lately (every_address: all). */
    vtg_buf_t ab;
    const vtg_json_t *al = vtg_json_get(e, "addresses");
    vtg_buf_init(&ab, 1024);
    for (size_t k = 0; al != NULL && al->type == VTG_JSON_ARRAY && k < al->n; k++)
      if (al->items[k]->type == VTG_JSON_STRING)
        (void)vtg_buf_printf(&ab, "%s%s", ab.len ? "," : "", al->items[k]->string);
    table_set(&t, r, 8, ab.len ? ab.data : "-", NULL);
    vtg_buf_free(&ab);
  }
  vtg_json_free(up);
  vtg_json_free(arr);
  return table_finish(&t);
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

/* "api 62%, web 38%": a service incident's kind_share, largest first
 * (ties by name); "-" when unknown (no down probe counted). */
static void kind_share_text(const vtg_json_t *ks, vtg_buf_t *b) {
  int done[64] = {0};
  size_t n = ks != NULL && ks->type == VTG_JSON_OBJECT ? ks->n : 0;
  if (n > 64) n = 64;
  for (size_t round_ = 0; round_ < n; round_++) {
    size_t best = n;
    for (size_t k = 0; k < n; k++) {
      if (done[k] || ks->items[k]->type != VTG_JSON_NUMBER) continue;
      if (best == n || ks->items[k]->number > ks->items[best]->number ||
          (ks->items[k]->number == ks->items[best]->number &&
           strcmp(ks->keys[k], ks->keys[best]) < 0))
        best = k;
    }
    if (best == n) break;
    done[best] = 1;
    vtg_buf_printf(b, "%s%s %.0f%%", round_ ? ", " : "", ks->keys[best],
                   ks->items[best]->number * 100.0);
  }
  if (b->len == 0) vtg_buf_appends(b, "-");
}

/* outages --by-service: GET /api/v1/service-incidents[?since=..]. */
static int outages_by_service(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",     "SERVICE", "ONSET",       "DURATION",
                                    "CHECKS", "REGIONS", "DOWN PROBES"};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  char path[128], since[40];
  table_t t;
  int ret;

  snprintf(path, sizeof path, "/api/v1/service-incidents");
  if (o->since_us != INT64_MIN) {
    vtg_clock_format_rfc3339(o->since_us, since, sizeof since);
    snprintf(path, sizeof path, "/api/v1/service-incidents?since=%s", since);
  }
  ret = fetch_array(o, path, "no service incidents", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 7);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    int64_t res;
    int open = json_time(e, "resolved", &res) != 0;
    const char *open_color = !open ? NULL : json_true(e, "maintenance") ? C_YELLOW : C_RED;
    char buf[96], dur[48];
    vtg_buf_t b;
    size_t r = table_row(&t);

    table_set(&t, r, 0, vtg_json_get_str(e, "id", "-"), open_color);
    table_set(&t, r, 1, vtg_json_get_str(e, "service", "-"), NULL);
    fmt_member_time(e, "onset", now, buf, sizeof buf);
    table_set(&t, r, 2, buf, NULL);
    vtg_cli_fmt_duration(vtg_json_get_num(e, "duration_s", 0), dur, sizeof dur);
    snprintf(buf, sizeof buf, "%s%s", dur, open ? " (open)" : "");
    table_set(&t, r, 3, buf, open_color);
    vtg_buf_init(&b, 64 * 1024);
    join_regions(vtg_json_get(e, "checks"), 0, &b);
    table_set(&t, r, 4, b.data ? b.data : "", NULL);
    vtg_buf_reset(&b);
    join_regions(vtg_json_get(e, "regions"), 0, &b);
    table_set(&t, r, 5, b.data ? b.data : "", NULL);
    vtg_buf_reset(&b);
    kind_share_text(vtg_json_get(e, "kind_share"), &b);
    table_set(&t, r, 6, b.data ? b.data : "-", NULL);
    vtg_buf_free(&b);
  }
  vtg_json_free(arr);
  return table_finish(&t);
}

static int cmd_outages(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",      "CHECK",   "SCOPE", "ONSET", "DURATION",
                                    "REGIONS", "CAUSE",   "WAVES", "NOTE"};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  char path[1024];
  size_t ncols = 8;
  table_t t;
  int ret;

  if (o->by_service) return outages_by_service(o);
  if ((ret = outages_path(o, path, sizeof path)) != EXIT_OK) return ret;
  ret = fetch_array(o, path, "no outages", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  /* The maintenance column only when some incident is under maintenance:
   * no empty column on every other day. */
  for (size_t i = 0; i < arr->n; i++)
    if (json_true(arr->items[i], "maintenance")) ncols = 9;
  table_init(&t, hdr, ncols);
  /* The API already orders open first, then newest onset first. */
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const vtg_json_t *waves = vtg_json_get(e, "waves");
    int64_t res;
    int open = json_time(e, "resolved", &res) != 0;
    int maint = json_true(e, "maintenance");
    /* An open incident is red, unless it is expected (maintenance). */
    const char *open_color = !open ? NULL : maint ? C_YELLOW : C_RED;
    char buf[160], dur[96];
    vtg_buf_t regs;
    size_t r = table_row(&t);

    table_set(&t, r, 0, vtg_json_get_str(e, "id", "-"), open_color);
    table_set(&t, r, 1, vtg_json_get_str(e, "check", "-"), NULL);
    table_set(&t, r, 2, vtg_json_get_str(e, "scope", "-"), NULL);
    fmt_member_time_window(e, "onset", "onset_window_s", now, buf, sizeof buf);
    table_set(&t, r, 3, buf, NULL);
    fmt_duration_window(e, dur, sizeof dur);
    snprintf(buf, sizeof buf, "%s%s", dur, open ? " (open)" : "");
    table_set(&t, r, 4, buf, open_color);
    vtg_buf_init(&regs, 64 * 1024);
    join_regions(vtg_json_get(e, "regions"), 1, &regs);
    vtg_buf_printf(&regs, " (%.0f/%.0f)", vtg_json_get_num(e, "peak_regions", 0),
                   vtg_json_get_num(e, "total_regions", 0));
    table_set(&t, r, 5, regs.data ? regs.data : "", NULL);
    vtg_buf_free(&regs);
    table_set(&t, r, 6, vtg_json_get_str(e, "cause", "-"), NULL);
    snprintf(buf, sizeof buf, "%zu", waves && waves->type == VTG_JSON_ARRAY ? waves->n : 0);
    table_set(&t, r, 7, buf, NULL);
    if (ncols > 8 && maint) table_set(&t, r, 8, "maintenance", C_YELLOW);
  }
  vtg_json_free(arr);
  return table_finish(&t);
}

/* One line of the wave list: a wave of an incident going down or ending. */
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

/* Appends the wave events of one incident to *ev. */
static int add_events(const vtg_json_t *inc, tl_event_t **ev, size_t *n, size_t *cap) {
  const vtg_json_t *waves = vtg_json_get(inc, "waves");
  for (size_t k = 0; waves && waves->type == VTG_JSON_ARRAY && k < waves->n; k++) {
    for (int end = 0; end < 2; end++) {
      int64_t t_us;
      if (json_time(waves->items[k], end ? "resolved" : "onset", &t_us) != 0) continue;
      if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        tl_event_t *nev = realloc(*ev, nc * sizeof *nev);
        if (nev == NULL) return VTG_ENOMEM;
        *ev = nev;
        *cap = nc;
      }
      (*ev)[*n].t_us = t_us;
      (*ev)[*n].inc = inc;
      (*ev)[*n].wave = waves->items[k];
      (*ev)[*n].wave_no = k + 1;
      (*ev)[*n].end = end;
      (*n)++;
    }
  }
  return 0;
}

/* The wave list, oldest first: one line per wave going down or
 * recovering. With several incidents it names each one's check and id. */
static int print_events(tl_event_t *ev, size_t n, int several) {
  static const char *const hdr_all[] = {"TIME", "CHECK", "INCIDENT", "EVENT", "REGIONS", "CAUSE"};
  static const char *const hdr_one[] = {"TIME", "EVENT", "REGIONS", "CAUSE"};
  int64_t now = vtg_clock_wall_us();
  table_t t;

  if (n > 0) qsort(ev, n, sizeof *ev, cmp_event);
  table_init(&t, several ? hdr_all : hdr_one, several ? 6 : 4);
  for (size_t i = 0; i < n; i++) {
    char ts[96], evs[48];
    vtg_buf_t regs;
    size_t r = table_row(&t), k = 0;
    vtg_cli_fmt_time(ev[i].t_us, now, ts, sizeof ts);
    table_set(&t, r, k++, ts, NULL);
    if (several) {
      table_set(&t, r, k++, vtg_json_get_str(ev[i].inc, "check", "-"), NULL);
      table_set(&t, r, k++, vtg_json_get_str(ev[i].inc, "id", "-"), NULL);
    }
    snprintf(evs, sizeof evs, "wave %zu %s", ev[i].wave_no, ev[i].end ? "recovered" : "down");
    table_set(&t, r, k++, evs, ev[i].end ? C_GREEN : C_RED);
    vtg_buf_init(&regs, 64 * 1024);
    join_regions(vtg_json_get(ev[i].wave, "regions"), 0, &regs);
    table_set(&t, r, k++, regs.data ? regs.data : "", NULL);
    vtg_buf_free(&regs);
    table_set(&t, r, k++, ev[i].end ? "" : vtg_json_get_str(ev[i].wave, "cause", "-"), NULL);
  }
  return table_finish(&t);
}

/* timeline ID: a summary, the chart and the wave list of one incident. */
static int timeline_one(const cli_opts_t *o) {
  char *id = url_escape(o->arg), path[1200], line[256], when[128], dur[96];
  vtg_buf_t body, chart;
  vtg_json_t *inc = NULL;
  tl_event_t *ev = NULL;
  size_t n = 0, cap = 0;
  int64_t now = vtg_clock_wall_us(), t;
  int color = use_color(), ret, err = 0;

  if (id == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return EXIT_RUNTIME;
  }
  if (strlen(id) > 1024) {
    fprintf(stderr, "%s timeline: incident id too long\n", PROG);
    free(id);
    return EXIT_USAGE;
  }
  snprintf(path, sizeof path, "/api/v1/incidents/%s", id);
  free(id);
  if ((ret = api_call(o->url, "GET", path, NULL, &body)) != EXIT_OK) return ret;
  if (o->json) {
    ret = print_raw(&body);
    vtg_buf_free(&body);
    return ret;
  }
  ret = parse_answer(o, path, &body, VTG_JSON_OBJECT, &inc);
  vtg_buf_free(&body);
  if (ret != EXIT_OK) return ret;

  vtg_buf_init(&chart, CLI_MAX_RESPONSE);
  /* Summary: what, where, when. */
  snprintf(line, sizeof line, "%s: %s (%s, %s), %s, cause %s%s",
           vtg_json_get_str(inc, "id", "-"), vtg_json_get_str(inc, "check", "-"),
           vtg_json_get_str(inc, "service", "-"), vtg_json_get_str(inc, "kind", "-"),
           vtg_json_get_str(inc, "scope", "-"), vtg_json_get_str(inc, "cause", "-"),
           json_true(inc, "maintenance") ? ", under maintenance" : "");
  sanitize(line);
  put(&err, &chart, "%s%s%s\n", color ? C_BOLD : "", line, color ? C_RESET : "");
  fmt_member_time_window(inc, "onset", "onset_window_s", now, when, sizeof when);
  fmt_duration_window(inc, dur, sizeof dur);
  put(&err, &chart, "onset    %s\n", when);
  if (json_time(inc, "resolved", &t) == 0) {
    fmt_member_time_window(inc, "resolved", "resolved_window_s", now, when, sizeof when);
    put(&err, &chart, "resolved %s\nlasted %s", when, dur);
  } else {
    put(&err, &chart, "%sopen%s for %s", color ? C_RED : "", color ? C_RESET : "", dur);
  }
  put(&err, &chart, "; peak %.0f of %.0f regions\n", vtg_json_get_num(inc, "peak_regions", 0),
      vtg_json_get_num(inc, "total_regions", 0));
  /* Spread as data: where it began, the order regions went down and came
   * back, and its severity (region-minutes over the regions watching). */
  {
    vtg_buf_t sp;
    vtg_buf_init(&sp, 64 * 1024);
    const char *first = vtg_json_get_str(inc, "first_region", NULL);
    static const char *const orders[2][2] = {{"down_order", "down"}, {"up_order", "back"}};
    vtg_buf_printf(&sp, "spread   first %s", first ? first : "-");
    for (int k = 0; k < 2; k++) {
      const vtg_json_t *ord = vtg_json_get(inc, orders[k][0]);
      if (ord == NULL || ord->type != VTG_JSON_ARRAY || ord->n == 0) continue;
      vtg_buf_printf(&sp, "; %s ", orders[k][1]);
      for (size_t i = 0; i < ord->n; i++)
        if (ord->items[i]->type == VTG_JSON_STRING)
          vtg_buf_printf(&sp, "%s%s", i ? " > " : "", ord->items[i]->string);
    }
    const vtg_json_t *sev = vtg_json_get(inc, "severity");
    if (sev != NULL && sev->type == VTG_JSON_NUMBER)
      vtg_buf_printf(&sp, "; severity %.1f", sev->number);
    if (sp.data != NULL) {
      sanitize(sp.data);
      /* Many regions: cut to the terminal, the end marked. */
      size_t w = (size_t)term_width();
      if (w > 4 && sp.len >= w) memcpy(sp.data + w - 4, "...", 4);
      put(&err, &chart, "%s\n", sp.data);
    }
    vtg_buf_free(&sp);
  }
  put(&err, &chart, "\n");
  if (err == 0) {
    vtg_json_t *hist = fetch_incident_history(o, inc, now);
    err = vtg_cli_timeline_chart_hist(inc, hist, term_width(), now, color, &chart);
    vtg_json_free(hist);
  }
  if (err != 0) {
    fprintf(stderr, "%s: %s: cannot draw the incident: %s\n", PROG, o->arg,
            err == VTG_EINVAL ? "it has no onset" : vtg_strerror(err));
    ret = EXIT_RUNTIME;
    goto out;
  }
  fwrite(chart.data, 1, chart.len, stdout);
  putchar('\n');
  if (add_events(inc, &ev, &n, &cap) != 0) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    ret = EXIT_RUNTIME;
    goto out;
  }
  ret = print_events(ev, n, 0);
out:
  free(ev);
  vtg_buf_free(&chart);
  vtg_json_free(inc);
  return ret;
}

/* timeline [ID]: with an ID, that incident as a chart; without, the waves
 * of the selected incidents as events, oldest first, so several checks'
 * outages read as one story (--json: the outages answer as received). */
static int cmd_timeline(const cli_opts_t *o) {
  vtg_json_t *arr = NULL;
  tl_event_t *ev = NULL;
  size_t n = 0, cap = 0;
  char path[1024];
  int ret;

  if (o->arg != NULL) return timeline_one(o);
  if ((ret = outages_path(o, path, sizeof path)) != EXIT_OK) return ret;
  if ((ret = fetch_array(o, path, "no outages", &arr)) != EXIT_OK || arr == NULL) return ret;
  for (size_t i = 0; i < arr->n; i++)
    if (add_events(arr->items[i], &ev, &n, &cap) != 0) {
      fprintf(stderr, "%s: out of memory\n", PROG);
      ret = EXIT_RUNTIME;
      goto out;
    }
  ret = print_events(ev, n, 1);
out:
  free(ev);
  vtg_json_free(arr);
  return ret;
}

static int cmd_agents(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",     "REGION",  "COUNTRY",   "CONNECTED", "HEALTH",
                                    "CHECKS", "RESULTS", "LAST SEEN", "CLOCK",     "VERSION",
                                    "ADDRESS"};
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
    /* Why it is impaired: "impaired (vantage)" is the agent itself,
     * "impaired (network)" its whole region's path. */
    const char *blame = vtg_json_get_str(e, "blame", NULL);
    char hbuf[48];
    snprintf(hbuf, sizeof hbuf, "impaired (%s)", blame ? blame : "?");
    table_set(&t, r, 4, impaired ? hbuf : suspect ? "suspect" : "ok",
              impaired ? C_RED : suspect ? C_YELLOW : C_GREEN);
    snprintf(buf, sizeof buf, "%.0f (%.0f down)", vtg_json_get_num(e, "checks", 0),
             vtg_json_get_num(e, "checks_down", 0));
    table_set(&t, r, 5, buf, NULL);
    snprintf(buf, sizeof buf, "%.0f", vtg_json_get_num(e, "results_total", 0));
    table_set(&t, r, 6, buf, NULL);
    fmt_member_ago(e, "last_seen", now, buf, sizeof buf);
    table_set(&t, r, 7, buf, NULL);
    /* The agent's clock minus ours and its uncertainty, in plain ASCII so
     * any terminal and locale shows it: "+20.001s +-0.30ms". */
    if (off != NULL && off->type == VTG_JSON_NUMBER)
      snprintf(buf, sizeof buf, "%+.3fs +-%.2fms", off->number,
               vtg_json_get_num(e, "clock_uncertainty_s", 0) * 1000.0);
    else
      snprintf(buf, sizeof buf, "-");
    table_set(&t, r, 8, buf, NULL);
    table_set(&t, r, 9, vtg_json_get_str(e, "version", "-"), NULL);
    table_set(&t, r, 10, vtg_json_get_str(e, "address", "-"), NULL);
  }
  vtg_json_free(arr);
  return table_finish(&t);
}

static int cmd_checks(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID",  "SERVICE",  "CHECK",   "KIND",   "METHOD",
                                    "URL", "INTERVAL", "TIMEOUT", "REGIONS"};
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
    vtg_cli_fmt_duration(vtg_json_get_num(e, "interval_s", 0), buf, sizeof buf);
    table_set(&t, r, 6, buf, NULL);
    vtg_cli_fmt_duration(vtg_json_get_num(e, "timeout_s", 0), buf, sizeof buf);
    table_set(&t, r, 7, buf, NULL);
    vtg_buf_init(&rb, 64 * 1024);
    join_regions(regs, 0, &rb);
    table_set(&t, r, 8, rb.len ? rb.data : "all", NULL);
    vtg_buf_free(&rb);
  }
  vtg_json_free(arr);
  return table_finish(&t);
}

/* "check shop-web" / "service shop" for a silence entry. */
static void silence_target(const vtg_json_t *e, char *out, size_t size) {
  const char *check = vtg_json_get_str(e, "check", NULL);
  const char *service = vtg_json_get_str(e, "service", NULL);
  if (check != NULL)
    snprintf(out, size, "%s", check);
  else if (service != NULL)
    snprintf(out, size, "service %s", service);
  else
    snprintf(out, size, "-");
}

/* The silences (made here or through the API) and the config's
 * maintenance windows that have not ended; a weekly window shows its
 * current or next occurrence. */
static int silence_list(const cli_opts_t *o) {
  static const char *const hdr[] = {"ID", "SILENCED", "STATE", "FROM", "UNTIL", "SOURCE",
                                    "REASON"};
  int64_t now = vtg_clock_wall_us();
  vtg_json_t *arr = NULL;
  table_t t;
  int ret;

  ret = fetch_array(o, "/api/v1/silences", "no silences or maintenance windows", &arr);
  if (ret != EXIT_OK || arr == NULL) return ret;
  table_init(&t, hdr, 7);
  for (size_t i = 0; i < arr->n; i++) {
    const vtg_json_t *e = arr->items[i];
    const char *source = vtg_json_get_str(e, "source", NULL);
    const char *weekly = vtg_json_get_str(e, "weekly", NULL);
    int64_t start = 0;
    /* "active" when the coordinator says so; else from the times. */
    int active = vtg_json_get(e, "active") != NULL ? json_true(e, "active")
                                                   : json_time(e, "start", &start) == 0 &&
                                                         start <= now;
    char buf[128];
    size_t r = table_row(&t);
    table_set(&t, r, 0, vtg_json_get_str(e, "id", "-"), NULL);
    silence_target(e, buf, sizeof buf);
    table_set(&t, r, 1, buf, NULL);
    table_set(&t, r, 2, active ? "active" : "scheduled", active ? C_YELLOW : C_DIM);
    fmt_member_time(e, "start", now, buf, sizeof buf);
    table_set(&t, r, 3, buf, NULL);
    fmt_member_time(e, "end", now, buf, sizeof buf);
    table_set(&t, r, 4, buf, NULL);
    if (source != NULL && strcmp(source, "api") == 0)
      snprintf(buf, sizeof buf, "silence");
    else if (weekly != NULL)
      snprintf(buf, sizeof buf, "%s, weekly %s", source ? source : "-", weekly);
    else
      snprintf(buf, sizeof buf, "%s", source ? source : "-");
    table_set(&t, r, 5, buf, NULL);
    table_set(&t, r, 6, vtg_json_get_str(e, "reason", ""), NULL);
  }
  vtg_json_free(arr);
  return table_finish(&t);
}

static int silence_end(const cli_opts_t *o) {
  char *id = url_escape(o->end_id), path[1200];
  vtg_buf_t body;
  int ret;

  if (id == NULL) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return EXIT_RUNTIME;
  }
  if (strlen(id) > 1024) {
    fprintf(stderr, "%s silence: silence id too long\n", PROG);
    free(id);
    return EXIT_USAGE;
  }
  snprintf(path, sizeof path, "/api/v1/silences/%s", id);
  free(id);
  if ((ret = api_call(o->url, "DELETE", path, NULL, &body)) != EXIT_OK) return ret;
  if (o->json) {
    ret = print_raw(&body);
  } else {
    char idbuf[256];
    snprintf(idbuf, sizeof idbuf, "%s", o->end_id);
    sanitize(idbuf);
    printf("ended silence %s\n", idbuf);
    ret = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
  }
  vtg_buf_free(&body);
  return ret;
}

/* silence NAME --for D: POST {"check"|"service": NAME, "duration_s": N,
 * "reason": TEXT (only when given)}; says until when. */
static int silence_add(const cli_opts_t *o) {
  vtg_buf_t req, body;
  vtg_json_writer_t w;
  vtg_json_t *ans = NULL;
  int64_t now = vtg_clock_wall_us(), start, end;
  char target[256], until[48], dur[48], perr[64];
  int ret;

  vtg_buf_init(&req, CLI_MAX_REQUEST);
  vtg_json_writer_init(&w, &req, 0);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, o->service ? "service" : "check");
  vtg_json_string(&w, o->arg);
  vtg_json_key(&w, "duration_s");
  vtg_json_int(&w, o->for_us / 1000000);
  if (o->reason != NULL) {
    vtg_json_key(&w, "reason");
    vtg_json_string(&w, o->reason);
  }
  vtg_json_end_object(&w);
  if (vtg_json_finish(&w) != 0 || vtg_buf_append(&req, "", 1) != 0) {
    fprintf(stderr, "%s silence: the request is too large (cap %u bytes)\n", PROG,
            CLI_MAX_REQUEST);
    vtg_buf_free(&req);
    return EXIT_USAGE;
  }
  ret = api_call(o->url, "POST", "/api/v1/silences", req.data, &body);
  vtg_buf_free(&req);
  if (ret != EXIT_OK) return ret;
  if (o->json) {
    ret = print_raw(&body);
    vtg_buf_free(&body);
    return ret;
  }
  snprintf(target, sizeof target, "%s%s", o->service ? "service " : "", o->arg);
  sanitize(target);
  /* The answer says the window the coordinator applied; fall back on
   * what was asked when it is not readable. */
  start = now;
  end = now + o->for_us;
  if (body.len > 0 && vtg_json_parse(body.data, body.len, &ans, perr, sizeof perr) == 0) {
    json_time(ans, "start", &start);
    json_time(ans, "end", &end);
  }
  clock_text(end, now, 0, until, sizeof until);
  vtg_cli_fmt_duration((double)(end - start) / 1e6, dur, sizeof dur);
  printf("silenced %s until %s (%s)", target, until, dur);
  if (vtg_json_get_str(ans, "id", NULL) != NULL) {
    char idbuf[128];
    snprintf(idbuf, sizeof idbuf, "%s", vtg_json_get_str(ans, "id", ""));
    sanitize(idbuf);
    printf(", id %s", idbuf);
  }
  putchar('\n');
  vtg_json_free(ans);
  vtg_buf_free(&body);
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_silence(const cli_opts_t *o) {
  if (o->list) return silence_list(o);
  if (o->end_id != NULL) return silence_end(o);
  return silence_add(o);
}

static const cli_cmd_t commands[] = {
    {"status", {"", NULL}, "the state of every check in every region", 0, cmd_status},
    {"outages",
     {"[--since DURATION] [--check NAME]", "--by-service [--since DURATION]", NULL},
     "check incidents, open ones first, then newest first; with --by-service the\n"
     "service incidents (a service's overlapping check incidents) and their share\n"
     "of down probes by endpoint kind",
     OPT_FILTERS | OPT_BY_SERVICE,
     cmd_outages},
    {"timeline",
     {"INCIDENT-ID", "[--since DURATION] [--check NAME]", NULL},
     "an incident as a chart (one row per region over time, waves as gaps) and its\n"
     "waves; without an ID, the waves of all incidents as events, oldest first",
     OPT_FILTERS | OPT_ARG,
     cmd_timeline},
    {"agents", {"", NULL}, "the probe agents: connectivity, health, clock", 0, cmd_agents},
    {"checks", {"", NULL}, "the configured checks", 0, cmd_checks},
    {"silence",
     {"CHECK --for DURATION [--reason TEXT] [--service]", "--list", "--end ID"},
     "silence a check (or with --service a whole service) for a while: probing goes\n"
     "on, its incidents are marked maintenance and raise no alert; list the\n"
     "silences and maintenance windows; end one early",
     OPT_ARG | OPT_SILENCE,
     cmd_silence},
};

static const cli_cmd_t *find_command(const char *name) {
  for (size_t i = 0; name != NULL && i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(name, commands[i].name) == 0) return &commands[i];
  return NULL;
}

int vtg_cli_is_command(const char *name) {
  return find_command(name) != NULL;
}

/* The usage of one subcommand (cmd NULL: the list of them). full: the
 * whole help for --help; else the synopsis for a usage error. */
static void usage(FILE *f, const cli_cmd_t *cmd, int full) {
  if (cmd == NULL) {
    fprintf(f, "usage: %s serve --config FILE\n", PROG);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      fprintf(f, "       %s %-8s [options]   %.*s\n", PROG, commands[i].name,
              (int)strcspn(commands[i].summary, "\n"), commands[i].summary);
    fprintf(f, "'%s COMMAND --help' describes each one.\n", PROG);
    return;
  }
  for (size_t i = 0; i < 3 && cmd->synopsis[i] != NULL; i++) {
    const char *common = "[--json] [--coordinator URL]";
    /* Lines under 80 columns: the common options by name when they fit. */
    if (7 + strlen(PROG) + strlen(cmd->name) + strlen(cmd->synopsis[i]) + 2 + strlen(common) > 79)
      common = "[options]";
    fprintf(f, "%s %s %s %s%s%s\n", i ? "      " : "usage:", PROG, cmd->name, cmd->synopsis[i],
            *cmd->synopsis[i] ? " " : "", common);
  }
  if (!full) {
    fprintf(f, "'%s %s --help' tells more.\n", PROG, cmd->name);
    return;
  }
  fprintf(f, "\n%s\n\noptions:\n", cmd->summary);
  if (cmd->opts & OPT_FILTERS)
    fprintf(f, "  --since DURATION    only incidents active in the last DURATION (90s, 30m,\n"
               "                      2h, 1d)\n"
               "  --check NAME        only incidents of this check\n");
  if (cmd->opts & OPT_BY_SERVICE)
    fprintf(f, "  --by-service        service incidents with kind shares (not with --check)\n");
  if (cmd->opts & OPT_SILENCE)
    fprintf(f, "  --for DURATION      how long (30m, 2h, 1d)\n"
               "  --reason TEXT       why, shown with the silence\n"
               "  --service           CHECK names a service: silence all its checks\n"
               "  --list              the active silences and maintenance windows\n"
               "  --end ID            end a silence now\n");
  fprintf(f, "  --json              print the API's JSON answer as received\n"
             "  --coordinator URL   the coordinator's HTTP API (default: $VANTAGE_COORDINATOR,\n"
             "                      else " CLI_DEFAULT_URL ")\n"
             "  -h, --help          this help\n");
  fprintf(f, "\nexit status: 0 ok, 1 runtime error (such as an unreachable coordinator),\n"
             "2 bad usage. Color only on a terminal, never with NO_COLOR set.\n");
}

/* A usage error: the message, then the subcommand's usage, on stderr. */
static int bad_usage(const cli_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad_usage(const cli_cmd_t *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s %s: ", PROG, cmd->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n", stderr);
  usage(stderr, cmd, 0);
  return EXIT_USAGE;
}

static int opt_is(const char *arg, const char *name) {
  size_t n = strlen(name);
  return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Value of "--opt VALUE" or "--opt=VALUE"; NULL when it is missing (or
 * empty). *i is advanced past a separate value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  const char *v;
  if (argv[*i][n] == '=')
    v = argv[*i] + n + 1;
  else if (*i + 1 < argc)
    v = argv[++*i];
  else
    return NULL;
  return *v ? v : NULL;
}

/* Durations as the config writes them, plus whole days in front ("1d",
 * "2d12h"), which a command line wants for silences and --since. */
static int cli_duration(const char *s, int64_t *out_us) {
  char *end;
  long days;
  int64_t rest = 0;
  errno = 0;
  days = strtol(s, &end, 10);
  if (end != s && *end == 'd' && errno == 0 && days >= 0 && days <= 3650 && s[0] != '-' &&
      s[0] != '+' && s[0] != ' ') {
    if (end[1] != '\0' && vtg_duration_parse(end + 1, &rest) != 0) return VTG_EINVAL;
    if (rest > INT64_MAX - (int64_t)days * 86400000000LL) return VTG_EINVAL;
    *out_us = (int64_t)days * 86400000000LL + rest;
    return 0;
  }
  return vtg_duration_parse(s, out_us);
}

int vtg_cli_run(int argc, char **argv) {
  const cli_cmd_t *cmd = NULL;
  cli_opts_t o;
  int ret, positional_only = 0;

  if (argc < 1 || argv[0] == NULL) {
    usage(stderr, NULL, 0);
    return EXIT_USAGE;
  }
  if ((cmd = find_command(argv[0])) == NULL) {
    fprintf(stderr, "%s: unknown subcommand '%s'\n", PROG, argv[0]);
    usage(stderr, NULL, 0);
    return EXIT_USAGE;
  }
  tzset(); /* local times follow TZ */

  memset(&o, 0, sizeof o);
  o.cmd = cmd->name;
  o.since_us = INT64_MIN;
  o.url = getenv("VANTAGE_COORDINATOR");
  if (o.url == NULL || *o.url == '\0') o.url = CLI_DEFAULT_URL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int64_t d;
    if (positional_only || a[0] != '-' || a[1] == '\0') {
      if (!(cmd->opts & OPT_ARG) || o.arg != NULL) return bad_usage(cmd, "unexpected argument '%s'", a);
      o.arg = a;
    } else if (strcmp(a, "--") == 0) {
      positional_only = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout, cmd, 1);
      return fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
    } else if (strcmp(a, "--json") == 0) {
      o.json = 1;
    } else if (opt_is(a, "--coordinator")) {
      if ((v = opt_value(argc, argv, &i, "--coordinator")) == NULL)
        return bad_usage(cmd, "--coordinator needs a URL");
      o.url = v;
    } else if ((cmd->opts & OPT_FILTERS) && opt_is(a, "--since")) {
      if ((v = opt_value(argc, argv, &i, "--since")) == NULL)
        return bad_usage(cmd, "--since needs a duration");
      if (cli_duration(v, &d) != 0 || d <= 0)
        return bad_usage(cmd, "--since '%s': expected a duration such as 30m, 2h or 1d", v);
      o.since_us = vtg_clock_wall_us() - d;
    } else if ((cmd->opts & OPT_FILTERS) && opt_is(a, "--check")) {
      if ((v = opt_value(argc, argv, &i, "--check")) == NULL)
        return bad_usage(cmd, "--check needs a check name");
      o.check = v;
    } else if ((cmd->opts & OPT_BY_SERVICE) && strcmp(a, "--by-service") == 0) {
      o.by_service = 1;
    } else if ((cmd->opts & OPT_SILENCE) && opt_is(a, "--for")) {
      if ((v = opt_value(argc, argv, &i, "--for")) == NULL)
        return bad_usage(cmd, "--for needs a duration");
      if (cli_duration(v, &d) != 0 || d < 1000000)
        return bad_usage(cmd, "--for '%s': expected a duration of a second or more, such as "
                              "30m, 2h or 1d", v);
      o.for_us = d;
    } else if ((cmd->opts & OPT_SILENCE) && opt_is(a, "--reason")) {
      if ((v = opt_value(argc, argv, &i, "--reason")) == NULL)
        return bad_usage(cmd, "--reason needs a text");
      o.reason = v;
    } else if ((cmd->opts & OPT_SILENCE) && opt_is(a, "--end")) {
      if ((v = opt_value(argc, argv, &i, "--end")) == NULL)
        return bad_usage(cmd, "--end needs a silence id");
      o.end_id = v;
    } else if ((cmd->opts & OPT_SILENCE) && strcmp(a, "--service") == 0) {
      o.service = 1;
    } else if ((cmd->opts & OPT_SILENCE) && strcmp(a, "--list") == 0) {
      o.list = 1;
    } else {
      return bad_usage(cmd, "unknown option '%s'", a);
    }
  }

  /* Combinations. */
  if (o.by_service && o.check != NULL)
    return bad_usage(cmd, "--check selects check incidents; not with --by-service");
  if (strcmp(cmd->name, "timeline") == 0 && o.arg != NULL &&
      (o.check != NULL || o.since_us != INT64_MIN))
    return bad_usage(cmd, "--since and --check select incidents; not with an INCIDENT-ID");
  if (cmd->opts & OPT_SILENCE) {
    int modes = (o.list != 0) + (o.end_id != NULL) + (o.arg != NULL);
    if (modes == 0) return bad_usage(cmd, "missing CHECK (or --list, or --end ID)");
    if (modes > 1) return bad_usage(cmd, "give one of CHECK, --list and --end ID");
    if (o.arg != NULL && o.for_us == 0)
      return bad_usage(cmd, "missing --for DURATION (how long to silence %s)", o.arg);
    if (o.arg == NULL && (o.for_us != 0 || o.reason != NULL || o.service))
      return bad_usage(cmd, "--for, --reason and --service go with a CHECK to silence");
  }
  /* The URL is used verbatim: say plainly when it is not one. */
  if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)
    return bad_usage(cmd, "coordinator URL '%s' must start with http:// or https://", o.url);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "%s: cannot initialise libcurl\n", PROG);
    return EXIT_RUNTIME;
  }
  ret = cmd->run(&o);
  curl_global_cleanup();
  return ret;
}
