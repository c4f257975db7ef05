/* The status page: see statuspage.h. Everything is rendered from the loop
 * thread's view of the coordinator in one pass into the caller's buffer;
 * appends are checked through a sticky error (page_t) so one failure stops
 * the output and is returned once. All text that comes from the config, the
 * agents or the store goes through page_esc. */
#include "statuspage.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "rollup.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "worldmap.h"

#define PAGE_REFRESH_S 30
#define STRIP_MINUTES 180            /* heat strip: at most the last three hours */
#define STRIP_MIN_MINUTES 30         /* ... at least the last half hour */
#define STRIP_STEP 30                /* window lengths are multiples of this */
#define MINUTE_US (60LL * 1000000)
#define OPEN_JSON_CAP (16u * 1024 * 1024) /* the open incidents, as the store gives them */

/* Heat strip geometry, in SVG user units (drawn about 1:1 in the page's
 * 1020 px column). */
#define STRIP_LABEL_W 110
#define STRIP_PLOT_W 900
#define STRIP_ROW_H 14
#define STRIP_ROW_GAP 3
#define STRIP_AXIS_H 16
#define STRIP_W (STRIP_LABEL_W + STRIP_PLOT_W + 16)

/* The map shows latitudes 85N..60S: nobody probes from further out, and
 * the strip of Antarctica would only cost height. */
#define MAP_TOP_LAT 85
#define MAP_BOTTOM_LAT (-60)
#define MAP_DOT_R 7

/* The page's colors, for both schemes; every state has a class. */
static const char page_css[] =
    ":root{--bg:#f6f7f9;--panel:#fff;--fg:#1d2127;--muted:#5f6873;--line:#d9dde3;"
    "--sea:#e9eef4;--land:#c9d0d9;--grat:#dbe2ea;"
    "--up:#2f9e44;--degraded:#e8a100;--down:#e03131;--impaired:#9c36b5;"
    "--disconnected:#868e96;--unknown:#ced4da;--nodata:#eef0f3}"
    "@media (prefers-color-scheme:dark){:root{--bg:#16181c;--panel:#1e2127;--fg:#e3e6ea;"
    "--muted:#9aa3ad;--line:#323740;--sea:#1a2330;--land:#3a4452;--grat:#222c3a;"
    "--up:#37b24d;--degraded:#f5a524;--down:#f03e3e;--impaired:#b45ad0;"
    "--disconnected:#7c858f;--unknown:#4a515b;--nodata:#23272e}}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}"
    "main{max-width:1060px;margin:0 auto;padding:16px 20px 32px}"
    "header{display:flex;align-items:center;gap:14px;flex-wrap:wrap;padding:12px 16px;"
    "border-radius:8px;background:var(--panel);border:1px solid var(--line);"
    "border-left:6px solid var(--unknown)}"
    "header.state-up{border-left-color:var(--up)}"
    "header.state-degraded{border-left-color:var(--degraded)}"
    "header.state-down{border-left-color:var(--down)}"
    "header h1{font-size:20px;margin:0}"
    "header .summary{font-size:16px;font-weight:600}"
    "header .asof{margin-left:auto;color:var(--muted);font-size:12px;text-align:right}"
    "section{margin-top:18px;background:var(--panel);border:1px solid var(--line);"
    "border-radius:8px;padding:12px 16px}"
    "h2{font-size:15px;margin:0 0 8px}"
    "h3{font-size:13px;margin:12px 0 4px;font-weight:600}"
    "h3 .kind,h3 .url{color:var(--muted);font-weight:400;margin-left:6px}"
    ".muted{color:var(--muted)}"
    "svg{display:block}"
    "#map{width:100%;height:auto;border-radius:6px;background:var(--sea)}"
    "#land{fill:var(--land)}"
    ".graticule{stroke:var(--grat);stroke-width:1;fill:none}"
    ".agent{stroke:var(--panel);stroke-width:2}"
    ".region-label{font-size:18px;fill:var(--fg);paint-order:stroke;stroke:var(--sea);"
    "stroke-width:4px;stroke-linejoin:round}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0 0;padding:0;"
    "list-style:none;font-size:12px;color:var(--muted)}"
    ".legend li{display:flex;align-items:center;gap:5px}"
    ".sw{display:inline-block;width:11px;height:11px;border-radius:3px;background:var(--unknown)}"
    ".sw.dot{border-radius:50%}"
    ".state-up{fill:var(--up)}.sw.state-up{background:var(--up)}"
    ".state-degraded{fill:var(--degraded)}.sw.state-degraded{background:var(--degraded)}"
    ".state-down{fill:var(--down)}.sw.state-down{background:var(--down)}"
    ".state-impaired{fill:var(--impaired)}.sw.state-impaired{background:var(--impaired)}"
    ".state-disconnected{fill:var(--disconnected)}"
    ".sw.state-disconnected{background:var(--disconnected)}"
    ".state-unknown{fill:var(--unknown)}.sw.state-unknown{background:var(--unknown)}"
    ".sw.state-nodata{background:var(--nodata);border:1px solid var(--line)}"
    ".strip{width:100%;max-width:1020px;height:auto}"
    ".strip .nodata{fill:var(--nodata)}"
    ".strip text{font-size:11px;fill:var(--muted)}"
    ".strip text.rlabel{fill:var(--fg);font-size:12px}"
    ".strip .tick{stroke:var(--line);stroke-width:1}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);"
    "vertical-align:top}"
    "th{color:var(--muted);font-weight:600;font-size:12px}"
    "td .utc{display:block;color:var(--muted);font-size:11px}"
    ".badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;"
    "font-weight:600;color:#fff;background:var(--unknown)}"
    ".badge.state-up{background:var(--up)}.badge.state-degraded{background:var(--degraded)}"
    ".badge.state-down{background:var(--down)}.badge.state-impaired{background:var(--impaired)}"
    ".badge.state-disconnected{background:var(--disconnected)}"
    ".badge.maint{background:var(--muted)}"
    "details summary{cursor:pointer;color:var(--muted);margin-top:8px}"
    "footer{margin-top:14px;color:var(--muted);font-size:12px}"
    "footer a{color:inherit}";

/* ---- output with a sticky error ---- */

typedef struct page_s {
  vtg_buf_t *out;
  int err;
} page_t;

static void page_put(page_t *p, const char *s) {
  if (p->err == 0) p->err = vtg_buf_appends(p->out, s);
}

static void page_putf(page_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void page_putf(page_t *p, const char *fmt, ...) {
  va_list ap;
  if (p->err != 0) return;
  va_start(ap, fmt);
  p->err = vtg_buf_vprintf(p->out, fmt, ap);
  va_end(ap);
}

/* Text or attribute value: the five HTML specials escaped. NULL writes
 * nothing. */
static void page_esc(page_t *p, const char *s) {
  const char *run = s;
  if (s == NULL) return;
  for (; *s && p->err == 0; s++) {
    const char *rep = NULL;
    switch (*s) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: continue;
    }
    if (s > run) p->err = vtg_buf_append(p->out, run, (size_t)(s - run));
    if (p->err == 0) p->err = vtg_buf_appends(p->out, rep);
    run = s + 1;
  }
  if (p->err == 0 && s > run) p->err = vtg_buf_append(p->out, run, (size_t)(s - run));
}

/* ---- states and times ---- */

/* A state's CSS class is its name: state-up, state-down, ... */
static const char *state_class(vtg_state_t s) { return vtg_state_name(s); }

/* down > degraded > up > unknown */
static vtg_state_t state_worse(vtg_state_t a, vtg_state_t b) {
  return vtg__state_rank((int)b) > vtg__state_rank((int)a) ? b : a;
}

/* "2026-11-25 15:42:07 CET" in the coordinator's local time zone. */
static void fmt_local(int64_t us, char *buf, size_t size) {
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  if (localtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
    snprintf(buf, size, "?");
}

/* Whether the coordinator's local time is UTC at that moment: then the
 * page does not print the same time twice. */
static int local_is_utc(int64_t us) {
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  return localtime_r(&t, &tm) == NULL || tm.tm_gmtoff == 0;
}

/* UTC in one of the page's forms. */
enum { UTC_FULL, UTC_HM, UTC_HM_Z, UTC_DATETIME };
static void fmt_utc(int64_t us, int form, char *buf, size_t size) {
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  size_t n = 0;
  if (gmtime_r(&t, &tm) != NULL) {
    switch (form) {
    case UTC_FULL: n = strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm); break;
    case UTC_HM: n = strftime(buf, size, "%H:%M", &tm); break;
    case UTC_HM_Z: n = strftime(buf, size, "%H:%M UTC", &tm); break;
    default: n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm); break;
    }
  }
  if (n == 0) snprintf(buf, size, "?");
}

/* "45 s", "12 min", "3 h 05 min", "2 d 4 h". */
static void fmt_duration(double s, char *buf, size_t size) {
  long v = s > 0 && s < 1e12 ? (long)s : 0;
  if (v < 60)
    snprintf(buf, size, "%ld s", v);
  else if (v < 3600)
    snprintf(buf, size, "%ld min", v / 60);
  else if (v < 86400)
    snprintf(buf, size, "%ld h %02ld min", v / 3600, v % 3600 / 60);
  else
    snprintf(buf, size, "%ld d %ld h", v / 86400, v % 86400 / 3600);
}

/* ---- what the page shows, gathered first ---- */

typedef struct agent_view_s {
  const vtg_agent_t *a;
  const char *state;  /* up|degraded|down|impaired|disconnected|unknown */
  int checks_down, checks;
  double bx, by;      /* its own place on the map (units of worldmap.h) */
  double x, y;        /* where its dot is drawn: spread from others at the same place */
  int placed;         /* has a location */
} agent_view_t;

typedef struct view_s {
  vtg_coord_t *c;
  int64_t now_us;
  uint32_t *regions;     /* region idx sorted by name */
  agent_view_t *agents;  /* sorted by id */
  size_t n_agents;
  vtg_state_t *live;     /* [check * n_regions + region idx]: live state, UNKNOWN when none */
  vtg_json_t *open;      /* open incidents (array) or NULL */
  size_t n_open_alerting;/* open and not under maintenance */
  vtg_state_t worst;     /* worst live state over everything */
} view_t;

static int cmp_agent_view(const void *a, const void *b) {
  const agent_view_t *x = a, *y = b;
  return strcmp(x->a->id, y->a->id);
}

/* Check i runs in region r (the check's region selector). */
static int check_in_region(const vtg_coord_t *c, size_t i, uint32_t r) {
  return vtg_config_check_applies(&c->cfg.checks[i], c->regions[r]);
}

/* An agent's color: disconnected and impaired (its own network is the
 * problem) first; otherwise the worst live state of its region over the
 * checks it runs, since regions, not single agents, are up or down. */
static const char *agent_state(const view_t *v, const vtg_agent_t *a, int *checks_down,
                               int *checks) {
  const vtg_coord_t *c = v->c;
  vtg_agent_status_t as;
  vtg_state_t worst = VTG_STATE_UNKNOWN;

  memset(&as, 0, sizeof as);
  if (c->detect != NULL) vtg_detect_agent_status(c->detect, a->idx, &as);
  *checks_down = as.checks_down;
  *checks = as.checks;
  if (!a->connected) return "disconnected";
  if (as.impaired) return "impaired";
  if (a->region_idx < c->n_regions)
    for (size_t i = 0; i < c->cfg.n_checks; i++)
      worst = state_worse(worst, v->live[i * c->n_regions + a->region_idx]);
  return state_class(worst);
}

/* Spreads agents that share a place on a small circle around it, so each
 * dot can be seen and hovered. Places are compared at half a degree, on
 * the agents' own coordinates (bx, by), before any is moved. */
static void place_agents(view_t *v) {
  for (size_t i = 0; i < v->n_agents; i++) {
    agent_view_t *av = &v->agents[i];
    double lat = av->a->lat, lon = av->a->lon;
    av->placed = isfinite(lat) && isfinite(lon) && !(lat == 0 && lon == 0);
    if (!av->placed) continue;
    if (lat > 90) lat = 90;
    if (lat < -90) lat = -90;
    if (lon > 180) lon = 180;
    if (lon < -180) lon = -180;
    av->bx = av->x = (lon + 180) * VTG_WORLDMAP_SCALE;
    av->by = av->y = (90 - lat) * VTG_WORLDMAP_SCALE;
  }
  for (size_t i = 0; i < v->n_agents; i++) {
    agent_view_t *av = &v->agents[i];
    size_t k = 0, rank = 0;
    double r, a;
    if (!av->placed) continue;
    for (size_t j = 0; j < v->n_agents; j++) {
      const agent_view_t *o = &v->agents[j];
      if (!o->placed || fabs(o->bx - av->bx) >= 2.0 || fabs(o->by - av->by) >= 2.0) continue;
      if (j < i) rank++;
      k++;
    }
    if (k < 2) continue;
    r = 5.0 + 2.2 * (double)k;
    if (r > 40) r = 40;
    a = 2 * M_PI * (double)rank / (double)k - M_PI / 2;
    av->x = av->bx + r * cos(a);
    av->y = av->by + r * sin(a);
  }
}

static void view_free(view_t *v) {
  free(v->regions);
  free(v->agents);
  free(v->live);
  vtg_json_free(v->open);
}

/* Gathers regions, live states, agents and the open incidents. */
static int view_build(view_t *v, vtg_coord_t *c, int64_t now_us) {
  size_t nl = c->cfg.n_checks * c->n_regions;
  vtg_buf_t ib;
  char perr[128];
  int err = 0;

  memset(v, 0, sizeof *v);
  v->c = c;
  v->now_us = now_us;
  v->worst = VTG_STATE_UNKNOWN;
  vtg_buf_init(&ib, OPEN_JSON_CAP);
  if ((err = vtg__regions_sorted(c->regions, c->n_regions, &v->regions)) != 0) goto out;
  v->live = malloc((nl ? nl : 1) * sizeof *v->live);
  v->agents = calloc(c->n_agents ? c->n_agents : 1, sizeof *v->agents);
  if (v->live == NULL || v->agents == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }

  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    for (uint32_t r = 0; r < c->n_regions; r++) {
      vtg_region_status_t st;
      memset(&st, 0, sizeof st);
      st.state = VTG_STATE_UNKNOWN;
      if (c->detect != NULL && c->check_ids != NULL && check_in_region(c, i, r))
        vtg_detect_region_status(c->detect, c->check_ids[i], r, &st);
      v->live[i * c->n_regions + r] = st.state;
      v->worst = state_worse(v->worst, st.state);
    }
  }

  for (size_t i = 0; i < c->n_agents; i++)
    if (c->agents[i] != NULL && c->agents[i]->id != NULL) v->agents[v->n_agents++].a = c->agents[i];
  qsort(v->agents, v->n_agents, sizeof *v->agents, cmp_agent_view);
  for (size_t i = 0; i < v->n_agents; i++)
    v->agents[i].state = agent_state(v, v->agents[i].a, &v->agents[i].checks_down,
                                     &v->agents[i].checks);
  place_agents(v);

  if (c->store != NULL) {
    if ((err = vtg_store_incidents_open_json(c->store, now_us, &ib)) != 0) goto out;
    if ((err = vtg_json_parse(ib.len ? ib.data : "[]", ib.len ? ib.len : 2, &v->open, perr,
                              sizeof perr)) != 0)
      goto out;
    if (v->open->type != VTG_JSON_ARRAY) {
      err = VTG_EJSON;
      goto out;
    }
    for (size_t i = 0; i < v->open->n; i++) {
      const vtg_json_t *m = vtg_json_get(v->open->items[i], "maintenance");
      if (!(m != NULL && m->type == VTG_JSON_BOOL && m->boolean)) v->n_open_alerting++;
    }
  }
out:
  vtg_buf_free(&ib);
  return err;
}

/* ---- sections ---- */

static void render_head(page_t *p, const view_t *v) {
  const vtg_coord_t *c = v->c;
  const char *st, *summary;
  char loc[64], utc[64], buf[96];
  size_t connected = 0;

  if (v->n_open_alerting > 0)
    st = "down";
  else if (v->worst == VTG_STATE_DOWN || v->worst == VTG_STATE_DEGRADED)
    st = "degraded";
  else
    st = state_class(v->worst);
  for (size_t i = 0; i < v->n_agents; i++) connected += v->agents[i].a->connected != 0;
  if (strcmp(st, "down") == 0) {
    snprintf(buf, sizeof buf, "%zu open incident%s", v->n_open_alerting,
             v->n_open_alerting == 1 ? "" : "s");
    summary = buf;
  } else if (strcmp(st, "degraded") == 0) {
    summary = "Some regions degraded";
  } else if (strcmp(st, "up") == 0) {
    summary = "All checks up";
  } else {
    summary = "No data yet";
  }
  fmt_local(v->now_us, loc, sizeof loc);
  fmt_utc(v->now_us, UTC_FULL, utc, sizeof utc);

  page_putf(p,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta http-equiv=\"refresh\" content=\"%d\">"
            "<title>vantage: ",
            PAGE_REFRESH_S);
  page_esc(p, summary);
  page_put(p, "</title><style>");
  page_put(p, page_css);
  page_put(p, "</style></head><body><main>\n");
  page_putf(p, "<header id=\"overall\" class=\"state-%s\" data-state=\"%s\" role=\"status\">"
               "<h1>vantage</h1><span class=\"badge state-%s\">%s</span>"
               "<span class=\"summary\">",
            st, st, st, st);
  page_esc(p, summary);
  page_putf(p, "</span><span class=\"muted\">%zu check%s &middot; %zu region%s &middot; "
               "%zu/%zu agents connected</span><span class=\"asof\">as of ",
            c->cfg.n_checks, c->cfg.n_checks == 1 ? "" : "s", c->n_regions,
            c->n_regions == 1 ? "" : "s", connected, v->n_agents);
  page_esc(p, local_is_utc(v->now_us) ? utc : loc);
  if (!local_is_utc(v->now_us)) {
    page_put(p, "<br>");
    page_esc(p, utc);
  }
  page_putf(p, "<br>refreshes every %d s</span></header>\n", PAGE_REFRESH_S);
}

static void render_legend_item(page_t *p, const char *cls, const char *shape, const char *label) {
  page_putf(p, "<li><span class=\"sw %s state-%s\" aria-hidden=\"true\"></span>%s</li>", shape,
            cls, label);
}

static void render_map(page_t *p, const view_t *v) {
  const vtg_coord_t *c = v->c;
  int top = (90 - MAP_TOP_LAT) * VTG_WORLDMAP_SCALE;
  int h = (MAP_TOP_LAT - MAP_BOTTOM_LAT) * VTG_WORLDMAP_SCALE;

  page_put(p, "<section id=\"agents-section\" aria-labelledby=\"map-h\">"
              "<h2 id=\"map-h\">Agents</h2>\n");
  page_putf(p, "<svg id=\"map\" viewBox=\"0 %d %d %d\" role=\"img\" "
               "aria-labelledby=\"map-title map-desc\" preserveAspectRatio=\"xMidYMid meet\">"
               "<title id=\"map-title\">World map of the agents</title>"
               "<desc id=\"map-desc\">%zu agents; each dot is one agent colored by state. "
               "The table below lists the same agents.</desc>\n",
            top, VTG_WORLDMAP_WIDTH, h, v->n_agents);
  /* Graticule every 30 degrees. */
  page_put(p, "<path class=\"graticule\" d=\"");
  for (int lon = -150; lon <= 150; lon += 30)
    page_putf(p, "M%d 0V%d", (lon + 180) * VTG_WORLDMAP_SCALE, VTG_WORLDMAP_HEIGHT);
  for (int lat = -60; lat <= 60; lat += 30)
    page_putf(p, "M0 %dH%d", (90 - lat) * VTG_WORLDMAP_SCALE, VTG_WORLDMAP_WIDTH);
  page_put(p, "\"/>\n<path id=\"land\" d=\"");
  page_put(p, vtg_worldmap_path);
  page_put(p, "\"/>\n<g id=\"agents\">\n");
  for (size_t i = 0; i < v->n_agents; i++) {
    const agent_view_t *av = &v->agents[i];
    if (!av->placed) continue;
    page_putf(p, "<circle class=\"agent state-%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" "
                 "data-agent=\"",
              av->state, av->x, av->y, MAP_DOT_R);
    page_esc(p, av->a->id);
    page_put(p, "\" data-region=\"");
    page_esc(p, av->a->region);
    page_putf(p, "\" data-state=\"%s\" tabindex=\"0\"><title>", av->state);
    page_esc(p, av->a->id);
    page_put(p, " (");
    page_esc(p, av->a->region);
    if (av->a->country != NULL && av->a->country[0]) {
      page_put(p, ", ");
      page_esc(p, av->a->country);
    }
    page_putf(p, "): %s", av->state);
    if (av->a->connected && av->checks > 0)
      page_putf(p, "; sees %d of %d checks down", av->checks_down, av->checks);
    page_put(p, "</title></circle>\n");
  }
  page_put(p, "</g>\n<g id=\"region-labels\" aria-hidden=\"true\">");
  /* One label per region, above the first placed agent of it. */
  for (size_t k = 0; k < c->n_regions; k++) {
    const char *name = c->regions[v->regions[k]];
    for (size_t i = 0; i < v->n_agents; i++) {
      const agent_view_t *av = &v->agents[i];
      if (!av->placed || av->a->region == NULL || strcmp(av->a->region, name) != 0) continue;
      page_putf(p, "<text class=\"region-label\" x=\"%.1f\" y=\"%.1f\">", av->x + 12,
                av->y - 10);
      page_esc(p, name);
      page_put(p, "</text>");
      break;
    }
  }
  page_put(p, "</g></svg>\n<ul class=\"legend\" aria-label=\"agent colors\">");
  render_legend_item(p, "up", "dot", "up");
  render_legend_item(p, "degraded", "dot", "degraded");
  render_legend_item(p, "down", "dot", "down (its region)");
  render_legend_item(p, "impaired", "dot", "impaired (the agent&#39;s own network)");
  render_legend_item(p, "disconnected", "dot", "disconnected");
  render_legend_item(p, "unknown", "dot", "no data");
  page_put(p, "</ul>\n");

  /* The text alternative: every agent in a table. */
  page_put(p, "<details><summary>Agent table</summary><table id=\"agent-table\">"
              "<thead><tr><th>agent</th><th>region</th><th>country</th><th>state</th>"
              "<th>location</th><th>last seen (UTC)</th><th>version</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < v->n_agents; i++) {
    const agent_view_t *av = &v->agents[i];
    char seen[40];
    if (av->a->last_seen_us > 0)
      fmt_utc(av->a->last_seen_us, UTC_DATETIME, seen, sizeof seen);
    else
      snprintf(seen, sizeof seen, "never");
    page_put(p, "<tr class=\"agent-row\" data-agent=\"");
    page_esc(p, av->a->id);
    page_putf(p, "\" data-state=\"%s\"><td>", av->state);
    page_esc(p, av->a->id);
    page_put(p, "</td><td>");
    page_esc(p, av->a->region);
    page_put(p, "</td><td>");
    page_esc(p, av->a->country);
    page_putf(p, "</td><td><span class=\"badge state-%s\">%s</span></td><td>", av->state,
              av->state);
    if (av->placed)
      page_putf(p, "%.2f, %.2f", av->a->lat, av->a->lon);
    else
      page_put(p, "<span class=\"muted\">unknown</span>");
    page_put(p, "</td><td>");
    page_esc(p, seen);
    page_put(p, "</td><td>");
    page_esc(p, av->a->version);
    page_put(p, "</td></tr>\n");
  }
  page_put(p, "</tbody></table></details></section>\n");
}

/* The strips' time window: the last `n` minutes, n a multiple of
 * STRIP_STEP between STRIP_MIN_MINUTES and STRIP_MINUTES, so that a young
 * coordinator's few minutes are not a sliver of a three-hour axis. */
typedef struct strip_win_s {
  int n;                   /* columns */
  int64_t first_minute_us; /* start of the oldest column */
  double cw;               /* column width */
} strip_win_t;

/* One rect for a run of minutes [from, to) of one region in one state. */
static void render_run(page_t *p, const strip_win_t *w, const char *check, const char *region,
                       int row, int from, int to, vtg_state_t st) {
  char t[40], t_end[40];
  int64_t t0 = w->first_minute_us + (int64_t)from * MINUTE_US;
  int64_t t1 = w->first_minute_us + (int64_t)to * MINUTE_US;

  vtg_clock_format_rfc3339(t0, t, sizeof t);
  page_putf(p, "<rect class=\"cell state-%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
               "data-check=\"",
            state_class(st), STRIP_LABEL_W + from * w->cw, row * (STRIP_ROW_H + STRIP_ROW_GAP),
            (to - from) * w->cw, STRIP_ROW_H);
  page_esc(p, check);
  page_put(p, "\" data-region=\"");
  page_esc(p, region);
  page_putf(p, "\" data-t=\"%s\" data-minutes=\"%d\"><title>", t, to - from);
  page_esc(p, region);
  fmt_utc(t0, UTC_HM, t, sizeof t);
  fmt_utc(t1, UTC_HM_Z, t_end, sizeof t_end);
  page_putf(p, " %s&#8211;%s: %s</title></rect>", t, t_end, state_class(st));
}

/* A heat strip column: a state, or no data at all (not drawn). */
#define CELL_NODATA (-1)

/* The minute states of (check i, region r) for the n minutes from
 * first_minute_us into cells[0..n), the last one being the minute of now;
 * CELL_NODATA for a minute without a probe or a detector state (before the
 * coordinator ran, or before the region had agents). From the per-minute
 * rollups when the coordinator keeps them; the minute of now falls back to
 * the live state while its rollup has none (the watermark lags the wall
 * clock), which is all there is without rollups. A minute without data
 * after the region's first one (before the minute of now) is unknown, not
 * background: the coordinator was down or the region's agents were gone
 * (rollup.h: unknown is not up). */
static void strip_cells(const view_t *v, size_t i, uint32_t r, int64_t first_minute_us, int n,
                        int *cells) {
  const vtg_coord_t *c = v->c;
  vtg_rollup_cell_t rc[STRIP_MINUTES];
  vtg_state_t live = v->live[i * c->n_regions + r];

  if (n > STRIP_MINUTES) n = STRIP_MINUTES;
  for (int m = 0; m < n; m++) cells[m] = CELL_NODATA;
  if (c->rollup != NULL && c->check_ids != NULL) {
    vtg_rollup_cells(c->rollup, c->check_ids[i], r, first_minute_us, (size_t)n, rc);
    for (int m = 0; m < n; m++)
      if (rc[m].state != VTG_STATE_UNKNOWN || rc[m].up + rc[m].degraded + rc[m].down > 0)
        cells[m] = (int)rc[m].state;
    int m = 0;
    while (m < n && cells[m] == CELL_NODATA) m++;
    for (; m < n - 1; m++)
      if (cells[m] == CELL_NODATA) cells[m] = (int)VTG_STATE_UNKNOWN;
  }
  if (live != VTG_STATE_UNKNOWN &&
      (cells[n - 1] == CELL_NODATA || cells[n - 1] == (int)VTG_STATE_UNKNOWN))
    cells[n - 1] = (int)live;
}

/* The window: from the oldest minute any strip has data for (at most
 * STRIP_MINUTES back), rounded up to whole STRIP_STEPs. */
static void strip_window(const view_t *v, strip_win_t *w) {
  const vtg_coord_t *c = v->c;
  int64_t now_minute = v->now_us - v->now_us % MINUTE_US;
  int64_t first = now_minute - (int64_t)(STRIP_MINUTES - 1) * MINUTE_US;
  int cells[STRIP_MINUTES], oldest = STRIP_MINUTES - 1, n;

  for (size_t i = 0; i < c->cfg.n_checks && oldest > 0; i++)
    for (uint32_t r = 0; r < c->n_regions && oldest > 0; r++) {
      if (!check_in_region(c, i, r)) continue;
      strip_cells(v, i, r, first, STRIP_MINUTES, cells);
      for (int m = 0; m < oldest; m++)
        if (cells[m] != CELL_NODATA) {
          oldest = m;
          break;
        }
    }
  n = STRIP_MINUTES - oldest;
  n = (n + STRIP_STEP - 1) / STRIP_STEP * STRIP_STEP;
  if (n < STRIP_MIN_MINUTES) n = STRIP_MIN_MINUTES;
  if (n > STRIP_MINUTES) n = STRIP_MINUTES;
  w->n = n;
  w->first_minute_us = now_minute - (int64_t)(n - 1) * MINUTE_US;
  w->cw = (double)STRIP_PLOT_W / n;
}

/* Ticks at round times (every n/6 minutes: 5, 10, ... 30), labelled in UTC. */
static void render_axis(page_t *p, const strip_win_t *w, int rows) {
  int64_t step = (int64_t)(w->n / 6) * MINUTE_US;
  int64_t end = w->first_minute_us + (int64_t)w->n * MINUTE_US;
  int ty = rows * (STRIP_ROW_H + STRIP_ROW_GAP);
  char t[40];

  for (int64_t tk = end - end % step; tk > w->first_minute_us; tk -= step) {
    double x = STRIP_LABEL_W + (double)(tk - w->first_minute_us) / MINUTE_US * w->cw;
    fmt_utc(tk, UTC_HM, t, sizeof t);
    page_putf(p, "<line class=\"tick\" x1=\"%.2f\" y1=\"0\" x2=\"%.2f\" y2=\"%d\"/>", x, x, ty);
    page_putf(p, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>", x,
              ty + STRIP_AXIS_H - 3, t);
  }
  page_putf(p, "<text x=\"0\" y=\"%d\">time (UTC)</text>", ty + STRIP_AXIS_H - 3);
}

/* Next to a check's strip: "uptime 99.95% over 24 h, 87% covered", the
 * check's figures over its regions (rollup.h: uptime = up-known time /
 * known time, coverage = known time / wall time). Left out when the
 * figures cannot be had (no rollups, out of memory, the store failing):
 * the page still renders. */
static void render_uptime(page_t *p, const view_t *v, size_t i) {
  const vtg_coord_t *c = v->c;
  vtg_rollup_uptime_t *u = NULL, total;
  uint8_t *in = NULL;
  char up[24], cov[24];

  if (c->rollup == NULL || c->check_ids == NULL) return;
  u = calloc(c->n_regions ? c->n_regions : 1, sizeof *u);
  in = calloc(c->n_regions ? c->n_regions : 1, 1);
  if (u == NULL || in == NULL ||
      vtg_rollup_uptime(c->rollup, c->store, c->check_ids[i], c->regions, c->n_regions,
                        VTG_ROLLUP_WINDOW_24H, u) != 0)
    goto out;
  vtg_rollup_check_regions(c->rollup, &c->cfg.checks[i], c->check_ids[i], c->regions,
                           c->n_regions, u, in, &total);
  vtg_rollup_format_pct(vtg_rollup_uptime_ratio(&total), 2, up, sizeof up);
  vtg_rollup_format_pct(vtg_rollup_coverage_ratio(&total), 0, cov, sizeof cov);
  page_putf(p, "<p class=\"uptime muted\" data-uptime=\"%.6g\" data-coverage=\"%.6g\">",
            vtg_rollup_uptime_ratio(&total), vtg_rollup_coverage_ratio(&total));
  if (total.known_s > 0) {
    /* page_esc: a small coverage reads "<1%". */
    page_put(p, "uptime ");
    page_esc(p, up);
    page_put(p, " over 24 h, ");
    page_esc(p, cov);
    page_put(p, " covered</p>\n");
  } else
    page_put(p, "uptime unknown over 24 h: no results cover it</p>\n");
out:
  free(u);
  free(in);
}

static void render_strips(page_t *p, const view_t *v) {
  const vtg_coord_t *c = v->c;
  int cells[STRIP_MINUTES];
  strip_win_t w;

  strip_window(v, &w);
  page_put(p, "<section id=\"checks\" aria-labelledby=\"checks-h\">"
              "<h2 id=\"checks-h\">Checks by region, ");
  if (w.n % 60 == 0)
    page_putf(p, "last %d hours", w.n / 60);
  else
    page_putf(p, "last %d minutes", w.n);
  page_putf(p, "</h2>\n");
  if (c->cfg.n_checks == 0) page_put(p, "<p class=\"muted\">No checks configured.</p>\n");
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    vtg_state_t worst = VTG_STATE_UNKNOWN;
    int rows = 0, height;

    for (size_t k = 0; k < c->n_regions; k++)
      if (check_in_region(c, i, v->regions[k])) {
        rows++;
        worst = state_worse(worst, v->live[i * c->n_regions + v->regions[k]]);
      }
    height = rows * (STRIP_ROW_H + STRIP_ROW_GAP) + STRIP_AXIS_H;
    page_put(p, "<div class=\"check\" data-check=\"");
    page_esc(p, ch->name);
    page_putf(p, "\" data-state=\"%s\"><h3><span class=\"badge state-%s\">%s</span> ",
              state_class(worst), state_class(worst), state_class(worst));
    page_esc(p, ch->service);
    page_put(p, " / ");
    page_esc(p, ch->name);
    page_put(p, "<span class=\"kind\">");
    page_esc(p, ch->kind);
    page_put(p, "</span><span class=\"url\">");
    page_esc(p, ch->url);
    page_put(p, "</span></h3>\n");
    render_uptime(p, v, i);
    if (rows == 0) {
      page_put(p, "<p class=\"muted\">No agent region runs this check yet.</p></div>\n");
      continue;
    }
    page_putf(p, "<svg class=\"strip\" viewBox=\"0 0 %d %d\" role=\"img\" data-check=\"",
              STRIP_W, height);
    page_esc(p, ch->name);
    page_put(p, "\"><title>");
    page_esc(p, ch->name);
    page_put(p, " by region and minute; now: ");
    for (size_t k = 0, n = 0; k < c->n_regions; k++) {
      uint32_t r = v->regions[k];
      if (!check_in_region(c, i, r)) continue;
      if (n++) page_put(p, ", ");
      page_esc(p, c->regions[r]);
      page_putf(p, " %s", state_class(v->live[i * c->n_regions + r]));
    }
    page_put(p, "</title>\n");
    for (size_t k = 0, row = 0; k < c->n_regions; k++) {
      uint32_t r = v->regions[k];
      int y = (int)row * (STRIP_ROW_H + STRIP_ROW_GAP);
      if (!check_in_region(c, i, r)) continue;
      page_putf(p, "<text class=\"rlabel\" x=\"0\" y=\"%d\">", y + STRIP_ROW_H - 3);
      page_esc(p, c->regions[r]);
      page_putf(p, "</text><rect class=\"nodata\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                STRIP_LABEL_W, y, STRIP_PLOT_W, STRIP_ROW_H);
      strip_cells(v, i, r, w.first_minute_us, w.n, cells);
      /* Runs of equal minutes; minutes without data stay background. */
      for (int m = 0; m < w.n;) {
        int e = m + 1;
        while (e < w.n && cells[e] == cells[m]) e++;
        if (cells[m] != CELL_NODATA)
          render_run(p, &w, ch->name, c->regions[r], (int)row, m, e, (vtg_state_t)cells[m]);
        m = e;
      }
      page_put(p, "\n");
      row++;
    }
    render_axis(p, &w, rows);
    page_put(p, "</svg></div>\n");
  }
  page_put(p, "<ul class=\"legend\" aria-label=\"cell colors\">");
  render_legend_item(p, "up", "", "up");
  render_legend_item(p, "degraded", "", "degraded");
  render_legend_item(p, "down", "", "down");
  render_legend_item(p, "unknown", "", "unknown");
  render_legend_item(p, "nodata", "", "no data");
  page_put(p, "</ul></section>\n");
}

/* An RFC 3339 time from the store as local and UTC. */
static void render_time(page_t *p, const char *rfc) {
  int64_t us;
  char loc[64], utc[64];
  if (rfc == NULL || vtg_clock_parse_rfc3339(rfc, &us) != 0) {
    page_esc(p, rfc ? rfc : "");
    return;
  }
  fmt_local(us, loc, sizeof loc);
  fmt_utc(us, UTC_FULL, utc, sizeof utc);
  page_put(p, "<time datetime=\"");
  page_esc(p, rfc);
  page_put(p, "\">");
  if (local_is_utc(us)) {
    page_esc(p, utc);
    page_put(p, "</time>");
    return;
  }
  page_esc(p, loc);
  page_put(p, "</time><span class=\"utc\">");
  page_esc(p, utc);
  page_put(p, "</span>");
}

static void render_incidents(page_t *p, const view_t *v) {
  const vtg_json_t *open = v->open;

  page_put(p, "<section id=\"incidents\" aria-labelledby=\"inc-h\">"
              "<h2 id=\"inc-h\">Open incidents</h2>\n");
  if (v->c->store == NULL) {
    page_put(p, "<p class=\"muted\">The store is not open.</p></section>\n");
    return;
  }
  if (open == NULL || open->n == 0) {
    page_put(p, "<p id=\"no-incidents\">None.</p></section>\n");
    return;
  }
  page_put(p, "<table id=\"incident-table\"><thead><tr><th>check</th><th>scope</th>"
              "<th>onset</th><th>duration</th><th>regions</th><th>cause</th><th>waves</th>"
              "</tr></thead><tbody>\n");
  for (size_t i = 0; i < open->n; i++) {
    const vtg_json_t *inc = open->items[i];
    const vtg_json_t *regs = vtg_json_get(inc, "regions");
    const vtg_json_t *waves = vtg_json_get(inc, "waves");
    const vtg_json_t *maint = vtg_json_get(inc, "maintenance");
    const char *scope = vtg_json_get_str(inc, "scope", "");
    char dur[48];

    int in_maint = maint != NULL && maint->type == VTG_JSON_BOOL && maint->boolean;

    fmt_duration(vtg_json_get_num(inc, "duration_s", 0), dur, sizeof dur);
    page_putf(p, "<tr class=\"incident state-down%s\" data-check=\"",
              in_maint ? " maintenance" : "");
    page_esc(p, vtg_json_get_str(inc, "check", ""));
    page_put(p, "\" data-id=\"");
    page_esc(p, vtg_json_get_str(inc, "id", ""));
    page_put(p, "\" data-scope=\"");
    page_esc(p, scope);
    page_put(p, "\"><td><strong>");
    page_esc(p, vtg_json_get_str(inc, "check", ""));
    page_put(p, "</strong><span class=\"utc\">");
    page_esc(p, vtg_json_get_str(inc, "service", ""));
    page_put(p, " &middot; ");
    page_esc(p, vtg_json_get_str(inc, "id", ""));
    page_put(p, "</span>");
    if (in_maint) page_put(p, " <span class=\"badge maint\">maintenance</span>");
    page_put(p, "</td><td>");
    page_esc(p, strcmp(scope, "multi_region") == 0 ? "multi-region" : scope);
    page_put(p, "</td><td>");
    render_time(p, vtg_json_get_str(inc, "onset", NULL));
    page_put(p, "</td><td>");
    page_esc(p, dur);
    page_put(p, "</td><td>");
    for (size_t k = 0; regs != NULL && regs->type == VTG_JSON_ARRAY && k < regs->n; k++) {
      const vtg_json_t *reg = regs->items[k];
      const vtg_json_t *res = vtg_json_get(reg, "resolved");
      int down = res == NULL || res->type == VTG_JSON_NULL;
      if (k) page_put(p, ", ");
      page_putf(p, "<span class=\"region %s\">", down ? "down" : "recovered");
      page_esc(p, vtg_json_get_str(reg, "region", ""));
      page_put(p, down ? "" : " (recovered)");
      page_put(p, "</span>");
    }
    page_put(p, "</td><td>");
    page_esc(p, vtg_json_get_str(inc, "cause", ""));
    page_putf(p, "</td><td>%zu</td></tr>\n",
              waves != NULL && waves->type == VTG_JSON_ARRAY ? waves->n : (size_t)0);
  }
  page_put(p, "</tbody></table></section>\n");
}

static void render_foot(page_t *p) {
  page_put(p, "<footer>JSON: <a href=\"/api/v1/status\">status</a> &middot; "
              "<a href=\"/api/v1/outages\">outages</a> &middot; "
              "<a href=\"/api/v1/agents\">agents</a> &middot; "
              "<a href=\"/api/v1/checks\">checks</a> &middot; "
              "<a href=\"/metrics\">metrics</a>. Map: Natural Earth (public domain).</footer>\n"
              "</main></body></html>\n");
}

int vtg_statuspage_render(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out) {
  page_t p = {out, 0};
  view_t v;
  int err;

  if ((err = view_build(&v, c, now_us)) != 0) goto out;
  render_head(&p, &v);
  render_incidents(&p, &v);
  render_map(&p, &v);
  render_strips(&p, &v);
  render_foot(&p);
  err = p.err;
out:
  view_free(&v);
  return err;
}
