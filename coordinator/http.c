/* The coordinator's HTTP routes: /api/v1/... (JSON), /metrics and the
 * status page. The transport (listener, request head and body under caps
 * and deadlines, JSON errors under /api/, HEAD, close) is the common core in
 * vtg/httpd.h; this file only decides what each path answers.
 *
 * Every answer is built in memory from the coordinator state on the loop
 * thread, inside http_handle. */
#include "http.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "incident.h"
#include "internal.h"
#include "metrics.h"
#include "silence.h"
#include "resultlog.h"
#include "rollup.h"
#include "service.h"
#include "statuspage.h"
#include "addrs.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/httpd.h"
#include "vtg/json.h"
#include "vtg/log.h"

struct vtg_http_s {
  vtg_coord_t *c;
  vtg_httpd_t *httpd;
};

/* ---- views of the coordinator state ---- */

/* One (check, region) pair the check applies to, with its live status. */
typedef struct status_row_s {
  size_t check;      /* index into cfg.checks */
  uint32_t region;   /* region idx */
  vtg_region_status_t st;
} status_row_t;

/* Every check of the config x every known region it applies to, in config
 * order then region name order. */
static int collect_status(const vtg_coord_t *c, status_row_t **rows_out, size_t *n_out) {
  uint32_t *regions = NULL;
  status_row_t *rows = NULL;
  size_t n = 0, cap = c->cfg.n_checks * c->n_regions;
  int err;

  if ((err = vtg__regions_sorted(c->regions, c->n_regions, &regions)) != 0) return err;
  rows = malloc((cap ? cap : 1) * sizeof *rows);
  if (rows == NULL) {
    free(regions);
    return VTG_ENOMEM;
  }
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    for (size_t k = 0; k < c->n_regions; k++) {
      uint32_t r = regions[k];
      status_row_t *row;
      if (!vtg_config_check_applies(ch, c->regions[r])) continue;
      row = &rows[n++];
      row->check = i;
      row->region = r;
      memset(&row->st, 0, sizeof row->st);
      row->st.state = VTG_STATE_UNKNOWN;
      row->st.last_probe_us = VTG_TIME_NONE;
      if (c->detect != NULL && c->check_ids != NULL)
        vtg_detect_region_status(c->detect, c->check_ids[i], r, &row->st);
    }
  }
  free(regions);
  *rows_out = rows;
  *n_out = n;
  return 0;
}

static int api_status(const vtg_coord_t *c, vtg_buf_t *out) {
  status_row_t *rows = NULL;
  size_t n = 0;
  vtg_json_writer_t w;
  int err;

  if ((err = collect_status(c, &rows, &n)) != 0) return err;
  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_array(&w);
  for (size_t i = 0; i < n; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[rows[i].check];
    const vtg_region_status_t *st = &rows[i].st;
    int probed = st->last_probe_us != VTG_TIME_NONE;
    vtg_json_begin_object(&w);
    vtg_json_key(&w, "service");
    vtg_json_string(&w, ch->service);
    vtg_json_key(&w, "check");
    vtg_json_string(&w, ch->name);
    vtg_json_key(&w, "kind");
    vtg_json_string(&w, ch->kind);
    vtg_json_key(&w, "region");
    vtg_json_string(&w, c->regions[rows[i].region]);
    vtg_json_key(&w, "state");
    vtg_json_string(&w, vtg_state_name(st->state));
    vtg_json_key(&w, "agents");
    vtg_json_int(&w, st->agents);
    vtg_json_key(&w, "healthy_agents");
    vtg_json_int(&w, st->healthy_agents);
    vtg_json_key(&w, "last_probe");
    vtg_json_time(&w, st->last_probe_us);
    vtg_json_key(&w, "last_latency_s");
    if (probed && st->last_latency_us >= 0)
      vtg_json_double(&w, (double)st->last_latency_us / 1e6);
    else
      vtg_json_null(&w);
    /* Why the state is unknown when it is the region's own path (issue 5,
     * blame): "network"; null otherwise. */
    vtg_json_key(&w, "blame");
    vtg_json_string(&w, vtg_blame_name(st->blame));
    /* The addresses this region's agents probed lately (addrs.h): the
     * resolved address, or every address of an every_address check. */
    const char *addrs[VTG_ADDRS_SHOWN];
    size_t n_addrs = c->check_ids == NULL
                         ? 0
                         : vtg_addrs_latest(c->addrs, c->check_ids[rows[i].check], rows[i].region,
                                            2 * ch->interval_us, addrs, VTG_ADDRS_SHOWN);
    vtg_json_key(&w, "addresses");
    vtg_json_begin_array(&w);
    for (size_t k = 0; k < n_addrs; k++) vtg_json_string(&w, addrs[k]);
    vtg_json_end_array(&w);
    vtg_json_end_object(&w);
  }
  vtg_json_end_array(&w);
  free(rows);
  return vtg_json_finish(&w);
}

static int cmp_agent_id(const void *a, const void *b) {
  const vtg_agent_t *x = *(vtg_agent_t *const *)a, *y = *(vtg_agent_t *const *)b;
  return strcmp(x->id, y->id);
}

/* Agents sorted by id into a malloc'd array of pointers. */
static int sorted_agents(const vtg_coord_t *c, vtg_agent_t ***out, size_t *n_out) {
  vtg_agent_t **v = malloc((c->n_agents ? c->n_agents : 1) * sizeof *v);
  size_t n = 0;
  if (v == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < c->n_agents; i++)
    if (c->agents[i] != NULL && c->agents[i]->id != NULL) v[n++] = c->agents[i];
  qsort(v, n, sizeof *v, cmp_agent_id);
  *out = v;
  *n_out = n;
  return 0;
}

/* The checks an agent's region runs: what its last CheckSet held, since a
 * CheckSet is pushed on connect and after every reload. */
static int agent_check_count(const vtg_coord_t *c, const vtg_agent_t *a) {
  int n = 0;
  for (size_t i = 0; i < c->cfg.n_checks; i++)
    if (a->region != NULL && vtg_config_check_applies(&c->cfg.checks[i], a->region)) n++;
  return n;
}

static int api_agents(const vtg_coord_t *c, vtg_buf_t *out) {
  vtg_agent_t **agents = NULL;
  size_t n = 0;
  vtg_json_writer_t w;
  int err;

  if ((err = sorted_agents(c, &agents, &n)) != 0) return err;
  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_array(&w);
  for (size_t i = 0; i < n; i++) {
    const vtg_agent_t *a = agents[i];
    vtg_agent_status_t as;
    memset(&as, 0, sizeof as);
    if (c->detect != NULL) vtg_detect_agent_status(c->detect, a->idx, &as);
    vtg_json_begin_object(&w);
    vtg_json_key(&w, "id");
    vtg_json_string(&w, a->id);
    vtg_json_key(&w, "region");
    vtg_json_string(&w, a->region);
    vtg_json_key(&w, "country");
    vtg_json_string(&w, a->country);
    vtg_json_key(&w, "lat");
    vtg_json_double(&w, a->lat);
    vtg_json_key(&w, "lon");
    vtg_json_double(&w, a->lon);
    vtg_json_key(&w, "connected");
    vtg_json_bool(&w, a->connected);
    vtg_json_key(&w, "address");
    vtg_json_string(&w, a->address);
    vtg_json_key(&w, "version");
    vtg_json_string(&w, a->version);
    vtg_json_key(&w, "connected_since");
    vtg_json_time(&w, a->connected && a->connected_since_us > 0 ? a->connected_since_us
                                                                 : VTG_TIME_NONE);
    vtg_json_key(&w, "last_seen");
    vtg_json_time(&w, a->last_seen_us > 0 ? a->last_seen_us : VTG_TIME_NONE);
    vtg_json_key(&w, "checks");
    vtg_json_int(&w, agent_check_count(c, a));
    vtg_json_key(&w, "results_total");
    vtg_json_int(&w, (int64_t)a->results_total);
    /* Its records in the durable result log (across restarts, within the
     * log's retention). */
    vtg_json_key(&w, "results_stored");
    vtg_json_int(&w, (int64_t)a->results_stored);
    vtg_json_key(&w, "impaired");
    vtg_json_bool(&w, as.impaired);
    /* Whom its failures are blamed on while impaired: "vantage" (itself)
     * or "network" (its region's path); null while healthy. */
    vtg_json_key(&w, "blame");
    vtg_json_string(&w, vtg_blame_name(as.blame));
    vtg_json_key(&w, "suspect");
    vtg_json_bool(&w, as.suspect);
    vtg_json_key(&w, "checks_down");
    vtg_json_int(&w, as.checks_down);
    /* Agent clock minus ours, as estimated from heartbeat round trips;
     * null until the first one. */
    vtg_json_key(&w, "clock_offset_s");
    if (a->clock_known)
      vtg_json_double(&w, (double)a->clock_offset_us / 1e6);
    else
      vtg_json_null(&w);
    vtg_json_key(&w, "clock_uncertainty_s");
    if (a->clock_known)
      vtg_json_double(&w, (double)a->clock_uncertainty_us / 1e6);
    else
      vtg_json_null(&w);
    vtg_json_end_object(&w);
  }
  vtg_json_end_array(&w);
  free(agents);
  return vtg_json_finish(&w);
}

static int api_checks(const vtg_coord_t *c, vtg_buf_t *out) {
  vtg_json_writer_t w;
  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_array(&w);
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    vtg_json_begin_object(&w);
    vtg_json_key(&w, "id");
    if (c->check_ids != NULL)
      vtg_json_int(&w, c->check_ids[i]);
    else
      vtg_json_null(&w);
    vtg_json_key(&w, "name");
    vtg_json_string(&w, ch->name);
    vtg_json_key(&w, "service");
    vtg_json_string(&w, ch->service);
    vtg_json_key(&w, "kind");
    vtg_json_string(&w, ch->kind);
    vtg_json_key(&w, "url");
    vtg_json_string(&w, ch->url);
    vtg_json_key(&w, "method");
    vtg_json_string(&w, ch->method ? ch->method : "GET");
    vtg_json_key(&w, "interval_s");
    vtg_json_double(&w, (double)ch->interval_us / 1e6);
    vtg_json_key(&w, "timeout_s");
    vtg_json_double(&w, (double)ch->timeout_us / 1e6);
    vtg_json_key(&w, "regions");
    vtg_json_begin_array(&w);
    for (size_t k = 0; k < ch->n_regions; k++) vtg_json_string(&w, ch->regions[k]);
    vtg_json_end_array(&w);
    vtg_json_end_object(&w);
  }
  vtg_json_end_array(&w);
  return vtg_json_finish(&w);
}

/* ---- /metrics: metrics.c ---- */

/* ---- status page: statuspage.c ---- */

/* ---- routing ---- */

/* /api/v1/outages query: check=NAME, since=RFC3339. Returns 0 or 400 with
 * *why. Values are decoded in place. */
static int outages_query(char *q, const char **check, int64_t *since_us, const char **why) {
  char *p = q, *key, *val;
  int more;
  *check = NULL;
  *since_us = VTG_TIME_NONE;
  while ((more = vtg_httpd_query_next(&p, &key, &val)) != 0) {
    if (more < 0) {
      *why = "malformed percent-encoding in the query";
      return 400;
    }
    if (strcmp(key, "check") == 0) {
      *check = *val ? val : NULL;
    } else if (strcmp(key, "since") == 0) {
      if (vtg_clock_parse_rfc3339(val, since_us) != 0) {
        *why = "since: expected an RFC 3339 time such as 2026-11-24T12:00:00Z";
        return 400;
      }
    } else {
      *why = "unknown query parameter (expected check or since)";
      return 400;
    }
  }
  return 0;
}

/* The routes. A route fills resp->body and resp->content_type (JSON by
 * default), or calls vtg_httpd_error. Routes that take other methods than
 * GET/HEAD (with a request body in req->body) go before the method check;
 * every other path answers 405 to them. */
static void http_handle(void *ctx, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp) {
  vtg_http_t *h = ctx;
  vtg_coord_t *c = h->c;
  vtg_buf_t *body = &resp->body;
  const char *why = NULL;
  int err = 0, status;

  /* /api/v1/silences[/ID]: GET, POST, DELETE (silence.c decides 405 itself) */
  if (vtg_silence_http(c, req, resp)) return;
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    vtg_httpd_error(resp, 405, "only GET and HEAD are served", "Allow: GET, HEAD\r\n");
    return;
  }
  if (strcmp(req->path, "/api/v1/outages") == 0) {
    const char *check = NULL;
    int64_t since_us;
    if ((status = outages_query(req->query, &check, &since_us, &why)) != 0) {
      vtg_httpd_error(resp, status, why, NULL);
      return;
    }
    if (c->store == NULL) goto unavailable;
    err = vtg_store_incidents_json(c->store, check, since_us, vtg_clock_wall_us(), body);
  } else if (strncmp(req->path, "/api/v1/incidents/", 18) == 0 && req->path[18] != '\0' &&
             strchr(req->path + 18, '/') == NULL) {
    if (c->store == NULL) goto unavailable;
    err = vtg_store_incident_json(c->store, req->path + 18, vtg_clock_wall_us(), body);
    if (err == VTG_ENOTFOUND) {
      vtg_httpd_error(resp, 404, "no such incident", NULL);
      return;
    }
  } else if (strcmp(req->path, "/api/v1/status") == 0) {
    err = api_status(c, body);
  } else if (strcmp(req->path, "/api/v1/agents") == 0) {
    err = api_agents(c, body);
  } else if (strcmp(req->path, "/api/v1/checks") == 0) {
    err = api_checks(c, body);
  } else if (strcmp(req->path, "/api/v1/service-incidents") == 0) {
    vtg_service_api(c, req, resp); /* service.c: its own 400/503 */
    return;
  } else if (strcmp(req->path, "/api/v1/history") == 0) {
    vtg_rollup_api_history(c, req, resp); /* rollup.c: its own 400/404 */
    return;
  } else if (strcmp(req->path, "/api/v1/uptime") == 0) {
    vtg_rollup_api_uptime(c, req, resp); /* rollup.c: its own 400/404 */
    return;
  } else if (strcmp(req->path, "/metrics") == 0) {
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    err = vtg_metrics_write(c, vtg_clock_wall_us(), body);
  } else if (strcmp(req->path, "/") == 0) {
    resp->content_type = "text/html; charset=utf-8";
    err = vtg_statuspage_render(c, vtg_clock_wall_us(), body);
  } else {
    vtg_httpd_error(resp, 404, "not found", NULL);
    return;
  }
  if (err != 0) vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
  return;
unavailable:
  vtg_httpd_error(resp, 503, "the store is not open", NULL);
}

int vtg_http_start(vtg_coord_t *c, const char *listen, vtg_http_t **out) {
  vtg_httpd_opts_t opts = {.name = "http"};
  vtg_http_t *h = calloc(1, sizeof *h);
  int err;

  if (h == NULL) return UV_ENOMEM;
  h->c = c;
  if ((err = vtg_httpd_start(c->loop, listen, &opts, http_handle, h, &h->httpd)) != 0) {
    free(h);
    return err;
  }
  *out = h;
  return 0;
}

int vtg_http_port(const vtg_http_t *h) { return vtg_httpd_port(h->httpd); }

/* The core frees itself in its close callbacks; nothing of ours is used by
 * them, so the wrapper goes now. */
void vtg_http_stop(vtg_http_t *h) {
  if (h == NULL) return;
  vtg_httpd_stop(h->httpd);
  free(h);
}
