/* The coordinator's HTTP listener: /api/v1/... (JSON), /metrics and the
 * status page, on libuv.
 *
 * Deliberately small: one request per connection. The request head (line
 * and headers) is read into a buffer capped at HTTP_MAX_HEAD; a request
 * body is never read (only GET and HEAD are served). The whole response is
 * built in memory (capped at HTTP_MAX_BODY), written in one uv_write, then
 * the connection is shut down and closed. A deadline timer per connection
 * bounds both a slow request and a client that never reads its answer,
 * and the number of connections is capped.
 *
 * Loop thread only. Every response has Content-Type, Content-Length and
 * Connection: close. */
#include "http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "incident.h"
#include "metrics.h"
#include "resultlog.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define HTTP_MAX_HEAD (16 * 1024)         /* request line + headers */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_BODY (64u * 1024 * 1024) /* response body */
#define HTTP_MAX_CONNS 256
#define HTTP_REQUEST_TIMEOUT_MS 10000     /* to receive the request head */
#define HTTP_RESPONSE_TIMEOUT_MS 30000    /* for the client to take the answer */
#define HTTP_READ_CHUNK 4096

#ifndef VTG_VERSION
#define VTG_VERSION "unknown"
#endif

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct http_conn_s http_conn_t;

struct vtg_http_s {
  vtg_coord_t *c;
  uv_tcp_t listener;
  int listener_closed;
  int stopping;
  http_conn_t *conns; /* doubly linked */
  size_t n_conns;
  int port;          /* bound port */
  int cap_logged;     /* the connection cap was reported since it was last hit */
};

struct http_conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  vtg_http_t *h;
  http_conn_t *prev, *next;
  vtg_buf_t in;       /* request head, capped at HTTP_MAX_HEAD */
  char *out;          /* response being written */
  size_t out_len;
  int responded;
  int closing;
  int open_handles;   /* handles whose close callback is still due */
  char peer[64];
  char rbuf[HTTP_READ_CHUNK];
};

/* A parsed request: pointers into one NUL-terminated copy of the head. */
typedef struct http_req_s {
  char *method;
  char *path;   /* percent-decoded */
  char *query;  /* raw, NULL when none */
  int head;     /* HEAD: headers only */
} http_req_t;

/* ---- connection lifetime ---- */

static void http_maybe_free(vtg_http_t *h) {
  if (h->stopping && h->listener_closed && h->n_conns == 0) free(h);
}

static void conn_on_close(uv_handle_t *handle) {
  http_conn_t *conn = handle->data;
  vtg_http_t *h = conn->h;

  if (--conn->open_handles > 0) return;
  if (conn->prev) conn->prev->next = conn->next;
  else h->conns = conn->next;
  if (conn->next) conn->next->prev = conn->prev;
  h->n_conns--;
  if (h->n_conns < HTTP_MAX_CONNS / 2) h->cap_logged = 0;
  vtg_buf_free(&conn->in);
  free(conn->out);
  free(conn);
  http_maybe_free(h);
}

static void conn_close(http_conn_t *conn) {
  if (conn->closing) return;
  conn->closing = 1;
  uv_close((uv_handle_t *)&conn->tcp, conn_on_close);
  uv_close((uv_handle_t *)&conn->timer, conn_on_close);
}

static void conn_on_timeout(uv_timer_t *t) {
  http_conn_t *conn = t->data;
  VTG_DEBUG("http: %s: %s timed out", conn->peer,
            conn->responded ? "sending the response" : "reading the request");
  conn_close(conn);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status) {
  http_conn_t *conn = container_of(req, http_conn_t, shutdown_req);
  (void)status;
  conn_close(conn);
}

static void conn_on_write(uv_write_t *req, int status) {
  http_conn_t *conn = container_of(req, http_conn_t, write_req);
  int err;

  if (status != 0) {
    if (status != UV_ECANCELED)
      VTG_DEBUG("http: %s: writing the response: %s", conn->peer, uv_strerror(status));
    conn_close(conn);
    return;
  }
  if (conn->closing) return;
  err = uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, conn_on_shutdown);
  if (err != 0) conn_close(conn);
}

/* ---- responses ---- */

static const char *status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

/* Sends status with body (may be empty) and closes after it. HEAD gets the
 * same headers without the body. On any failure the connection is simply
 * closed: there is nothing better to tell a client we cannot write to. */
static void conn_respond(http_conn_t *conn, int status, const char *ctype, const char *body,
                         size_t body_len, int head_only, const char *extra_headers) {
  vtg_buf_t b;
  uv_buf_t ub;
  int err;

  if (conn->responded || conn->closing) return;
  conn->responded = 1;
  (void)uv_read_stop((uv_stream_t *)&conn->tcp);
  vtg_buf_init(&b, HTTP_MAX_BODY + 4096);
  err = vtg_buf_printf(&b,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: %s\r\n"
                       "Content-Length: %zu\r\n"
                       "Cache-Control: no-store\r\n"
                       "Connection: close\r\n"
                       "%s\r\n",
                       status, status_text(status), ctype, body_len,
                       extra_headers ? extra_headers : "");
  if (err == 0 && !head_only && body_len > 0) err = vtg_buf_append(&b, body, body_len);
  if (err != 0) {
    VTG_ERROR("http: %s: building the response: %s", conn->peer, vtg_strerror(err));
    vtg_buf_free(&b);
    conn_close(conn);
    return;
  }
  conn->out = vtg_buf_take(&b, &conn->out_len);
  ub = uv_buf_init(conn->out, (unsigned int)conn->out_len);
  /* Re-armed: now it bounds how long a client may take to read the answer.
   * It cannot fail on a timer that is not closing, and conn is not. */
  (void)uv_timer_start(&conn->timer, conn_on_timeout, HTTP_RESPONSE_TIMEOUT_MS, 0);
  err = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &ub, 1, conn_on_write);
  if (err != 0) {
    VTG_DEBUG("http: %s: writing the response: %s", conn->peer, uv_strerror(err));
    conn_close(conn);
  }
}

/* A copy of client text safe for a log line: control bytes become '?',
 * and it is cut at the buffer size. */
static const char *log_safe(const char *s, char *out, size_t size) {
  size_t i = 0;
  if (s == NULL) return "-";
  for (; s[i] && i + 1 < size; i++)
    out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  out[i] = '\0';
  return out;
}

/* An error answer, logged: JSON {"error": msg} under /api, text elsewhere. */
static void conn_error(http_conn_t *conn, const http_req_t *req, int status, const char *msg,
                       const char *extra_headers) {
  int api = req != NULL && req->path != NULL && strncmp(req->path, "/api/", 5) == 0;
  int head_only = req != NULL && req->head;
  char mbuf[32], pbuf[256];
  const char *method = log_safe(req ? req->method : NULL, mbuf, sizeof mbuf);
  const char *path = log_safe(req ? req->path : NULL, pbuf, sizeof pbuf);
  vtg_buf_t b;
  int err;

  /* Our failures are errors; a client's bad request (505 included) is a
   * warning. */
  if (status == 500 || status == 503)
    VTG_ERROR("http: %s: %s %s: %d %s", conn->peer, method, path, status, msg);
  else
    VTG_WARN("http: %s: %s %s: %d %s", conn->peer, method, path, status, msg);

  vtg_buf_init(&b, 8192);
  if (api) {
    vtg_json_writer_t w;
    vtg_json_writer_init(&w, &b, 0);
    vtg_json_begin_object(&w);
    vtg_json_key(&w, "error");
    vtg_json_string(&w, msg);
    vtg_json_end_object(&w);
    err = vtg_json_finish(&w);
  } else {
    err = vtg_buf_printf(&b, "%d %s: %s\n", status, status_text(status), msg);
  }
  if (err != 0) vtg_buf_reset(&b);
  conn_respond(conn, status, api ? "application/json" : "text/plain; charset=utf-8",
               b.data ? b.data : "", b.len, head_only, extra_headers);
  vtg_buf_free(&b);
}

/* ---- request parsing ---- */

static int is_tchar(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes s in place ('+' is a space when plus_space). Fails on a
 * malformed escape or a decoded NUL, which no name of ours contains. */
static int url_decode(char *s, int plus_space) {
  char *r = s, *wr = s;
  while (*r) {
    if (*r == '%') {
      int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return VTG_EINVAL;
      *wr++ = (char)(hi * 16 + lo);
      r += 3;
    } else if (*r == '+' && plus_space) {
      *wr++ = ' ';
      r++;
    } else {
      *wr++ = *r++;
    }
  }
  *wr = '\0';
  return 0;
}

/* Finds the end of the request head in the first n bytes: the offset just
 * past the blank line, or 0 when not complete yet. A bare LF is accepted as
 * a line end (RFC 9112 section 2.2 allows it). */
static size_t head_end(const char *p, size_t n) {
  size_t i;
  for (i = 0; i + 1 < n; i++) {
    if (p[i] != '\n') continue;
    if (p[i + 1] == '\n') return i + 2;
    if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n') return i + 3;
  }
  return 0;
}

/* Parses the head in place (text is NUL-terminated and ends with the blank
 * line). Returns 0, or an HTTP status with *why set. */
static int parse_head(char *text, http_req_t *req, const char **why) {
  char *line = text, *eol, *sp1, *sp2, *version;
  int n_headers = 0;

  memset(req, 0, sizeof *req);
  eol = strchr(line, '\n');
  if (eol == NULL) {
    *why = "no request line";
    return 400;
  }
  if (eol > line && eol[-1] == '\r') eol[-1] = '\0';
  *eol = '\0';

  sp1 = strchr(line, ' ');
  sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
    *why = "malformed request line";
    return 400;
  }
  *sp1 = '\0';
  *sp2 = '\0';
  req->method = line;
  req->path = sp1 + 1;
  version = sp2 + 1;
  if (*req->method == '\0') {
    *why = "empty method";
    return 400;
  }
  for (const char *m = req->method; *m; m++) {
    if (!is_tchar((unsigned char)*m)) {
      *why = "malformed method";
      return 400;
    }
  }
  if (strncmp(version, "HTTP/", 5) != 0 || strlen(version) != 8 || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    *why = "malformed HTTP version";
    return 400;
  }
  if (version[5] != '1') {
    *why = "only HTTP/1.x is served";
    return 505;
  }
  if (req->path[0] != '/') {
    *why = "request target must be an absolute path";
    return 400;
  }
  for (const unsigned char *t = (const unsigned char *)req->path; *t; t++) {
    if (*t <= 0x20 || *t == 0x7f) {
      *why = "control character in the request target";
      return 400;
    }
  }
  {
    char *q = strchr(req->path, '?');
    char *frag = strchr(req->path, '#');
    if (frag) *frag = '\0';
    if (q) {
      *q = '\0';
      req->query = q + 1;
    }
  }
  if (url_decode(req->path, 0) != 0) {
    *why = "malformed percent-encoding in the path";
    return 400;
  }

  /* Header fields: checked for shape, none is needed to answer. */
  for (line = eol + 1;; line = eol + 1) {
    char *colon;
    eol = strchr(line, '\n');
    if (eol == NULL) break;
    if (eol > line && eol[-1] == '\r') eol[-1] = '\0';
    *eol = '\0';
    if (*line == '\0') break; /* the blank line */
    if (*line == ' ' || *line == '\t') {
      *why = "obsolete header line folding";
      return 400;
    }
    if (++n_headers > HTTP_MAX_HEADERS) {
      *why = "more than 100 header fields";
      return 431;
    }
    colon = strchr(line, ':');
    if (colon == NULL || colon == line) {
      *why = "malformed header field";
      return 400;
    }
    for (const char *k = line; k < colon; k++) {
      if (!is_tchar((unsigned char)*k)) {
        *why = "malformed header field name";
        return 400;
      }
    }
  }
  req->head = strcmp(req->method, "HEAD") == 0;
  return 0;
}

/* ---- views of the coordinator state ---- */

static const char *state_name(vtg_state_t s) {
  switch (s) {
  case VTG_STATE_UP: return "up";
  case VTG_STATE_DEGRADED: return "degraded";
  case VTG_STATE_DOWN: return "down";
  case VTG_STATE_UNKNOWN: break;
  }
  return "unknown";
}

/* One (check, region) pair the check applies to, with its live status. */
typedef struct status_row_s {
  size_t check;      /* index into cfg.checks */
  uint32_t region;   /* region idx */
  vtg_region_status_t st;
} status_row_t;

static int cmp_region_name(const void *a, const void *b, void *arg) {
  char **names = arg;
  return strcmp(names[*(const uint32_t *)a], names[*(const uint32_t *)b]);
}

/* Region indexes sorted by name, so every view lists regions the same way
 * whatever order agents happened to connect in. *out is malloc'd. */
static int sorted_regions(const vtg_coord_t *c, uint32_t **out) {
  uint32_t *idx = malloc((c->n_regions ? c->n_regions : 1) * sizeof *idx);
  if (idx == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < c->n_regions; i++) idx[i] = (uint32_t)i;
  qsort_r(idx, c->n_regions, sizeof *idx, cmp_region_name, c->regions);
  *out = idx;
  return 0;
}

/* Every check of the config x every known region it applies to, in config
 * order then region name order. */
static int collect_status(const vtg_coord_t *c, status_row_t **rows_out, size_t *n_out) {
  uint32_t *regions = NULL;
  status_row_t *rows = NULL;
  size_t n = 0, cap = c->cfg.n_checks * c->n_regions;
  int err;

  if ((err = sorted_regions(c, &regions)) != 0) return err;
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
    vtg_json_string(&w, state_name(st->state));
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

/* ---- status page ---- */

static int html_text(vtg_buf_t *b, const char *s) {
  int err = 0;
  for (; s != NULL && *s && err == 0; s++) {
    switch (*s) {
    case '&': err = vtg_buf_appends(b, "&amp;"); break;
    case '<': err = vtg_buf_appends(b, "&lt;"); break;
    case '>': err = vtg_buf_appends(b, "&gt;"); break;
    case '"': err = vtg_buf_appends(b, "&quot;"); break;
    case '\'': err = vtg_buf_appends(b, "&#39;"); break;
    default: err = vtg_buf_append(b, s, 1);
    }
  }
  return err;
}

/* A server-rendered page: checks x regions with their state, then the open
 * incidents. No scripts, no external assets; it refreshes itself. */
static int status_page(vtg_coord_t *c, vtg_buf_t *out) {
  status_row_t *rows = NULL;
  uint32_t *regions = NULL;
  vtg_buf_t ib;
  vtg_json_t *open = NULL;
  char perr[128], now_s[40];
  int64_t now_us = vtg_clock_wall_us();
  size_t n = 0, r = 0;
  int err;

  vtg_buf_init(&ib, HTTP_MAX_BODY);
  if ((err = collect_status(c, &rows, &n)) != 0) goto out;
  if ((err = sorted_regions(c, &regions)) != 0) goto out;
  if (c->store != NULL) {
    if ((err = vtg_store_incidents_open_json(c->store, now_us, &ib)) != 0) goto out;
    if ((err = vtg_json_parse(ib.data ? ib.data : "[]", ib.len ? ib.len : 2, &open, perr,
                              sizeof perr)) != 0)
      goto out;
  }
  vtg_clock_format_rfc3339(now_us, now_s, sizeof now_s);

  err |= vtg_buf_appends(
      out,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"30\">"
      "<title>vantage status</title><style>"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;margin-bottom:2em}"
      "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
      "th{background:#f4f4f4}"
      ".up{background:#c8f0c8}.degraded{background:#fbe7a1}"
      ".down{background:#f5b5b5;font-weight:bold}.unknown{background:#e4e4e4;color:#666}"
      ".na{color:#bbb}"
      "</style></head><body><h1>vantage status</h1>\n<p>As of ");
  err |= html_text(out, now_s);
  err |= vtg_buf_appends(out, "</p>\n<h2>Open incidents</h2>\n");
  if (open == NULL || open->type != VTG_JSON_ARRAY || open->n == 0) {
    err |= vtg_buf_appends(out, "<p>None.</p>\n");
  } else {
    err |= vtg_buf_appends(out, "<table><tr><th>id</th><th>service</th><th>check</th>"
                                "<th>scope</th><th>onset</th><th>duration</th>"
                                "<th>regions</th><th>cause</th></tr>\n");
    for (size_t i = 0; i < open->n && err == 0; i++) {
      const vtg_json_t *inc = open->items[i];
      const vtg_json_t *regs = vtg_json_get(inc, "regions");
      double dur = vtg_json_get_num(inc, "duration_s", 0);
      err |= vtg_buf_appends(out, "<tr class=\"down\"><td>");
      err |= html_text(out, vtg_json_get_str(inc, "id", ""));
      err |= vtg_buf_appends(out, "</td><td>");
      err |= html_text(out, vtg_json_get_str(inc, "service", ""));
      err |= vtg_buf_appends(out, "</td><td>");
      err |= html_text(out, vtg_json_get_str(inc, "check", ""));
      err |= vtg_buf_appends(out, "</td><td>");
      err |= html_text(out, vtg_json_get_str(inc, "scope", ""));
      err |= vtg_buf_appends(out, "</td><td>");
      err |= html_text(out, vtg_json_get_str(inc, "onset", ""));
      err |= vtg_buf_printf(out, "</td><td>%.0f min</td><td>", dur / 60.0);
      for (size_t k = 0; regs != NULL && regs->type == VTG_JSON_ARRAY && k < regs->n; k++) {
        if (k) err |= vtg_buf_appends(out, ", ");
        err |= html_text(out, vtg_json_get_str(regs->items[k], "region", ""));
      }
      err |= vtg_buf_appends(out, "</td><td>");
      err |= html_text(out, vtg_json_get_str(inc, "cause", ""));
      err |= vtg_buf_appends(out, "</td></tr>\n");
    }
    err |= vtg_buf_appends(out, "</table>\n");
  }

  err |= vtg_buf_appends(out, "<h2>Checks by region</h2>\n<table><tr><th>service</th>"
                              "<th>check</th><th>kind</th>");
  for (size_t k = 0; k < c->n_regions; k++) {
    err |= vtg_buf_appends(out, "<th>");
    err |= html_text(out, c->regions[regions[k]]);
    err |= vtg_buf_appends(out, "</th>");
  }
  err |= vtg_buf_appends(out, "</tr>\n");
  /* rows are in (check, sorted region) order: walk them alongside. */
  for (size_t i = 0; i < c->cfg.n_checks && err == 0; i++) {
    const vtg_check_cfg_t *ch = &c->cfg.checks[i];
    err |= vtg_buf_appends(out, "<tr><td>");
    err |= html_text(out, ch->service);
    err |= vtg_buf_appends(out, "</td><td>");
    err |= html_text(out, ch->name);
    err |= vtg_buf_appends(out, "</td><td>");
    err |= html_text(out, ch->kind);
    err |= vtg_buf_appends(out, "</td>");
    for (size_t k = 0; k < c->n_regions; k++) {
      if (r < n && rows[r].check == i && rows[r].region == regions[k]) {
        const char *s = state_name(rows[r].st.state);
        err |= vtg_buf_printf(out, "<td class=\"%s\">%s</td>", s, s);
        r++;
      } else {
        err |= vtg_buf_appends(out, "<td class=\"na\">&ndash;</td>");
      }
    }
    err |= vtg_buf_appends(out, "</tr>\n");
  }
  err |= vtg_buf_appends(out, "</table>\n<p><a href=\"/api/v1/outages\">outages</a> &middot; "
                              "<a href=\"/api/v1/status\">status</a> &middot; "
                              "<a href=\"/api/v1/agents\">agents</a> &middot; "
                              "<a href=\"/api/v1/checks\">checks</a> &middot; "
                              "<a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
  if (err != 0) err = VTG_ELIMIT;
out:
  vtg_json_free(open);
  vtg_buf_free(&ib);
  free(rows);
  free(regions);
  return err;
}

/* ---- routing ---- */

/* /api/v1/outages query: check=NAME, since=RFC3339. Returns 0 or 400 with
 * *why. Values are decoded in place. */
static int outages_query(char *q, const char **check, int64_t *since_us, const char **why) {
  char *p = q;
  *check = NULL;
  *since_us = VTG_TIME_NONE;
  while (p != NULL && *p) {
    char *amp = strchr(p, '&'), *eq, *key = p, *val;
    if (amp) *amp = '\0';
    p = amp ? amp + 1 : NULL;
    if (*key == '\0') continue;
    eq = strchr(key, '=');
    /* A key without '=' has the empty value: its own terminator. */
    val = eq ? eq + 1 : key + strlen(key);
    if (eq) *eq = '\0';
    if (url_decode(key, 1) != 0 || url_decode(val, 1) != 0) {
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

static void conn_handle(http_conn_t *conn, http_req_t *req) {
  vtg_coord_t *c = conn->h->c;
  const char *ctype = "application/json";
  const char *why = NULL;
  vtg_buf_t body;
  int err = 0, status;

  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    conn_error(conn, req, 405, "only GET and HEAD are served", "Allow: GET, HEAD\r\n");
    return;
  }
  vtg_buf_init(&body, HTTP_MAX_BODY);
  if (strcmp(req->path, "/api/v1/outages") == 0) {
    const char *check = NULL;
    int64_t since_us;
    if ((status = outages_query(req->query, &check, &since_us, &why)) != 0) {
      conn_error(conn, req, status, why, NULL);
      goto out;
    }
    if (c->store == NULL) goto unavailable;
    err = vtg_store_incidents_json(c->store, check, since_us, vtg_clock_wall_us(), &body);
  } else if (strncmp(req->path, "/api/v1/incidents/", 18) == 0 && req->path[18] != '\0' &&
             strchr(req->path + 18, '/') == NULL) {
    if (c->store == NULL) goto unavailable;
    err = vtg_store_incident_json(c->store, req->path + 18, vtg_clock_wall_us(), &body);
    if (err == VTG_ENOTFOUND) {
      conn_error(conn, req, 404, "no such incident", NULL);
      goto out;
    }
  } else if (strcmp(req->path, "/api/v1/status") == 0) {
    err = api_status(c, &body);
  } else if (strcmp(req->path, "/api/v1/agents") == 0) {
    err = api_agents(c, &body);
  } else if (strcmp(req->path, "/api/v1/checks") == 0) {
    err = api_checks(c, &body);
  } else if (strcmp(req->path, "/metrics") == 0) {
    ctype = "text/plain; version=0.0.4; charset=utf-8";
    err = vtg_metrics_write(c, vtg_clock_wall_us(), &body);
  } else if (strcmp(req->path, "/") == 0) {
    ctype = "text/html; charset=utf-8";
    err = status_page(c, &body);
  } else {
    conn_error(conn, req, 404, "not found", NULL);
    goto out;
  }
  if (err != 0) {
    conn_error(conn, req, 500, vtg_strerror(err), NULL);
    goto out;
  }
  VTG_DEBUG("http: %s: %s %s: 200", conn->peer, req->method, req->path);
  conn_respond(conn, 200, ctype, body.data ? body.data : "", body.len, req->head, NULL);
  goto out;
unavailable:
  conn_error(conn, req, 503, "the store is not open", NULL);
out:
  vtg_buf_free(&body);
}

/* The head is complete in conn->in[0..len): parse a copy and answer. */
static void conn_process(http_conn_t *conn, size_t len) {
  char *text = malloc(len + 1);
  http_req_t req;
  const char *why = NULL;
  int status;

  if (text == NULL) {
    conn_error(conn, NULL, 500, "out of memory", NULL);
    return;
  }
  memcpy(text, conn->in.data, len);
  text[len] = '\0';
  if (memchr(text, '\0', len) != NULL) {
    memset(&req, 0, sizeof req);
    conn_error(conn, NULL, 400, "NUL byte in the request head", NULL);
  } else if ((status = parse_head(text, &req, &why)) != 0) {
    conn_error(conn, &req, status, why, NULL);
  } else {
    conn_handle(conn, &req);
  }
  free(text);
}

static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  http_conn_t *conn = handle->data;
  (void)suggested;
  *buf = uv_buf_init(conn->rbuf, sizeof conn->rbuf);
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  http_conn_t *conn = stream->data;
  size_t end;
  int err;

  if (conn->responded || conn->closing) return;
  if (nread < 0) {
    if (nread != UV_EOF)
      VTG_DEBUG("http: %s: reading: %s", conn->peer, uv_strerror((int)nread));
    conn_close(conn);
    return;
  }
  if (nread == 0) return;
  err = vtg_buf_append(&conn->in, buf->base, (size_t)nread);
  if (err != 0) {
    conn_error(conn, NULL, err == VTG_ELIMIT ? 431 : 500,
               err == VTG_ELIMIT ? "request head larger than 16 KiB" : vtg_strerror(err), NULL);
    return;
  }
  end = head_end(conn->in.data, conn->in.len);
  if (end != 0) conn_process(conn, end);
}

/* ---- listener ---- */

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(out, size, "%s:%d", ip, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(out, size, "[%s]:%d", ip, port);
  } else {
    snprintf(out, size, "?");
  }
}

static void reject_on_close(uv_handle_t *handle) { free(handle); }

static void http_on_connection(uv_stream_t *server, int status) {
  vtg_http_t *h = server->data;
  http_conn_t *conn;
  struct sockaddr_storage ss;
  int len = sizeof ss, err;

  if (status < 0) {
    VTG_ERROR("http: accept: %s", uv_strerror(status));
    return;
  }
  if (h->n_conns >= HTTP_MAX_CONNS) {
    /* Accept and drop at once: leaving it in the backlog would have libuv
     * report it again and again. */
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(server->loop, t) != 0) {
      free(t);
      return;
    }
    /* Logged once per episode: a flood must not flood the log too. */
    if (uv_accept(server, (uv_stream_t *)t) == 0 && !h->cap_logged) {
      VTG_WARN("http: dropping new connections: %d open (the cap)", HTTP_MAX_CONNS);
      h->cap_logged = 1;
    }
    uv_close((uv_handle_t *)t, reject_on_close);
    return;
  }
  conn = calloc(1, sizeof *conn);
  if (conn == NULL) {
    VTG_ERROR("http: accept: out of memory");
    return;
  }
  conn->h = h;
  vtg_buf_init(&conn->in, HTTP_MAX_HEAD);
  if ((err = uv_tcp_init(server->loop, &conn->tcp)) != 0) {
    VTG_ERROR("http: accept: %s", uv_strerror(err));
    free(conn);
    return;
  }
  /* From here both handles exist and the close path frees conn.
   * uv_timer_init cannot fail (it only fills in the handle). */
  (void)uv_timer_init(server->loop, &conn->timer);
  conn->tcp.data = conn;
  conn->timer.data = conn;
  conn->open_handles = 2;
  conn->next = h->conns;
  if (h->conns) h->conns->prev = conn;
  h->conns = conn;
  h->n_conns++;
  snprintf(conn->peer, sizeof conn->peer, "?");

  if ((err = uv_accept(server, (uv_stream_t *)&conn->tcp)) != 0) {
    VTG_ERROR("http: accept: %s", uv_strerror(err));
    conn_close(conn);
    return;
  }
  if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &len) == 0)
    format_addr(&ss, conn->peer, sizeof conn->peer);
  if ((err = uv_timer_start(&conn->timer, conn_on_timeout, HTTP_REQUEST_TIMEOUT_MS, 0)) != 0 ||
      (err = uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc, conn_on_read)) != 0) {
    VTG_ERROR("http: %s: %s", conn->peer, uv_strerror(err));
    conn_close(conn);
  }
}

/* Parses "HOST:PORT" or "[V6]:PORT". */
static int parse_listen(const char *listen, struct sockaddr_storage *ss) {
  char host[256];
  const char *colon, *hs = listen, *he;
  char *end = NULL;
  long port;

  if (listen[0] == '[') {
    he = strchr(listen, ']');
    if (he == NULL || he[1] != ':') return UV_EINVAL;
    hs = listen + 1;
    colon = he + 1;
  } else {
    colon = strrchr(listen, ':');
    if (colon == NULL) return UV_EINVAL;
    he = colon;
  }
  if ((size_t)(he - hs) >= sizeof host) return UV_EINVAL;
  memcpy(host, hs, (size_t)(he - hs));
  host[he - hs] = '\0';
  port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535) return UV_EINVAL;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return UV_EINVAL;
}

static void http_on_listener_close(uv_handle_t *handle) {
  vtg_http_t *h = container_of((uv_tcp_t *)handle, vtg_http_t, listener);
  h->listener_closed = 1;
  http_maybe_free(h);
}

int vtg_http_start(vtg_coord_t *c, const char *listen, vtg_http_t **out) {
  vtg_http_t *h;
  struct sockaddr_storage ss;
  char bound[80];
  int len = sizeof ss, err;

  memset(&ss, 0, sizeof ss);
  if ((err = parse_listen(listen, &ss)) != 0) {
    VTG_ERROR("http: listen address %s: expected HOST:PORT", listen);
    return err;
  }
  h = calloc(1, sizeof *h);
  if (h == NULL) return UV_ENOMEM;
  h->c = c;
  if ((err = uv_tcp_init(c->loop, &h->listener)) != 0) {
    free(h);
    return err;
  }
  h->listener.data = h;
  if ((err = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0)) != 0 ||
      (err = uv_listen((uv_stream_t *)&h->listener, 128, http_on_connection)) != 0 ||
      (err = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len)) != 0) {
    VTG_ERROR("http: listening on %s: %s", listen, uv_strerror(err));
    h->stopping = 1;
    uv_close((uv_handle_t *)&h->listener, http_on_listener_close);
    return err;
  }
  format_addr(&ss, bound, sizeof bound);
  h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  VTG_INFO("http listening on %s", bound);
  *out = h;
  return 0;
}

int vtg_http_port(const vtg_http_t *h) { return h->port; }

void vtg_http_stop(vtg_http_t *h) {
  http_conn_t *conn, *next;
  if (h == NULL || h->stopping) return;
  h->stopping = 1;
  for (conn = h->conns; conn != NULL; conn = next) {
    next = conn->next;
    conn_close(conn);
  }
  uv_close((uv_handle_t *)&h->listener, http_on_listener_close);
}
