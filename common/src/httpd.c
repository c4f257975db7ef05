/* The HTTP/1.1 server core (see vtg/httpd.h): listener, connections, the
 * request head and body under caps and deadlines, the answer, the close.
 *
 * A connection goes through: reading the head (until the blank line, at
 * most HTTPD_MAX_HEAD bytes), reading the body (exactly Content-Length
 * bytes, at most opts.max_body), the handler, writing the answer, shutdown,
 * close. One timer per connection bounds the first two phases together
 * (request_timeout) and then the write (response_timeout), so a slow or
 * stalled client costs a connection slot for a bounded time and never
 * blocks the loop. Bytes after the body (pipelining) are ignored: every
 * answer says Connection: close.
 *
 * An answer given before the request was read whole (413, 431, a malformed
 * head) is followed by a lingering close: the rest the client sends is read
 * and dropped until its EOF (at most HTTPD_LINGER_MS after our FIN), because
 * closing a socket with unread input sends a reset that can destroy the
 * answer before the client reads it.
 *
 * Loop thread only. */
#include "vtg/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define HTTPD_MAX_HEAD (16 * 1024) /* request line + headers */
#define HTTPD_MAX_HEADERS 100
#define HTTPD_MAX_CONNS 256
#define HTTPD_REQUEST_TIMEOUT_MS 10000
#define HTTPD_RESPONSE_TIMEOUT_MS 30000
#define HTTPD_READ_CHUNK 4096
#define HTTPD_LINGER_MS 2000 /* after an early answer, for the client's EOF */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct httpd_conn_s httpd_conn_t;

struct vtg_httpd_s {
  uv_tcp_t listener;
  vtg_httpd_cb cb;
  void *ctx;
  char name[32];
  size_t max_body;
  unsigned request_timeout_ms;
  unsigned response_timeout_ms;
  int listener_closed;
  int stopping;
  httpd_conn_t *conns; /* doubly linked */
  size_t n_conns;
  int port;            /* bound port */
  int cap_logged;      /* the connection cap was reported since it was last hit */
};

/* The head as parsed: the request plus what the core itself needs. */
typedef struct httpd_head_s {
  vtg_httpd_req_t req;
  int has_length;      /* a Content-Length field was sent */
  uint64_t length;
  int has_te;          /* a Transfer-Encoding field was sent */
  int expect_continue; /* Expect: 100-continue */
} httpd_head_t;

struct httpd_conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  uv_write_t continue_req;
  uv_shutdown_t shutdown_req;
  vtg_httpd_t *h;
  httpd_conn_t *prev, *next;
  vtg_buf_t in;       /* head then body, capped */
  size_t head_len;    /* 0 until the head is complete */
  char *text;         /* the parsed head (NUL-terminated copy) */
  char *body;         /* NUL-terminated copy of the body for the handler */
  httpd_head_t head;  /* pointers into text once head_len != 0 */
  char *out;          /* response being written */
  size_t out_len;
  int responded;
  int linger;         /* answered before the request was read whole */
  int peer_eof;       /* the client finished sending (EOF seen) */
  int closing;
  int open_handles;   /* handles whose close callback is still due */
  char peer[64];
  char rbuf[HTTPD_READ_CHUNK];
};

/* ---- connection lifetime ---- */

static void httpd_maybe_free(vtg_httpd_t *h) {
  if (h->stopping && h->listener_closed && h->n_conns == 0) free(h);
}

static void conn_on_close(uv_handle_t *handle) {
  httpd_conn_t *conn = handle->data;
  vtg_httpd_t *h = conn->h;

  if (--conn->open_handles > 0) return;
  if (conn->prev) conn->prev->next = conn->next;
  else h->conns = conn->next;
  if (conn->next) conn->next->prev = conn->prev;
  h->n_conns--;
  if (h->n_conns < HTTPD_MAX_CONNS / 2) h->cap_logged = 0;
  vtg_buf_free(&conn->in);
  free(conn->text);
  free(conn->body);
  free(conn->out);
  free(conn);
  httpd_maybe_free(h);
}

static void conn_close(httpd_conn_t *conn) {
  if (conn->closing) return;
  conn->closing = 1;
  uv_close((uv_handle_t *)&conn->tcp, conn_on_close);
  uv_close((uv_handle_t *)&conn->timer, conn_on_close);
}

static void conn_on_timeout(uv_timer_t *t) {
  httpd_conn_t *conn = t->data;
  VTG_DEBUG("%s: %s: %s timed out", conn->h->name, conn->peer,
            conn->responded ? "sending the response" : "reading the request");
  conn_close(conn);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status) {
  httpd_conn_t *conn = container_of(req, httpd_conn_t, shutdown_req);
  if (status == 0 && conn->linger && !conn->peer_eof && !conn->closing) {
    /* Cannot fail on a timer that is not closing. */
    (void)uv_timer_start(&conn->timer, conn_on_timeout, HTTPD_LINGER_MS, 0);
    return;
  }
  conn_close(conn);
}

static void conn_on_write(uv_write_t *req, int status) {
  httpd_conn_t *conn = container_of(req, httpd_conn_t, write_req);
  int err;

  if (status != 0) {
    if (status != UV_ECANCELED)
      VTG_DEBUG("%s: %s: writing the response: %s", conn->h->name, conn->peer,
                uv_strerror(status));
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
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

/* Sends status with body (may be empty) and closes after it. HEAD gets the
 * same headers without the body. On any failure the connection is simply
 * closed: there is nothing better to tell a client we cannot write to. */
static void conn_respond(httpd_conn_t *conn, int status, const char *ctype, const char *body,
                         size_t body_len, int head_only, const char *extra_headers) {
  vtg_buf_t b;
  uv_buf_t ub;
  int err;

  if (conn->responded || conn->closing) return;
  conn->responded = 1;
  conn->linger = conn->head_len == 0 || conn->in.len < conn->head_len + conn->head.req.body_len;
  if (!conn->linger) (void)uv_read_stop((uv_stream_t *)&conn->tcp);
  vtg_buf_init(&b, VTG_HTTPD_MAX_RESPONSE + 4096);
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
    VTG_ERROR("%s: %s: building the response: %s", conn->h->name, conn->peer, vtg_strerror(err));
    vtg_buf_free(&b);
    conn_close(conn);
    return;
  }
  conn->out = vtg_buf_take(&b, &conn->out_len);
  if (conn->out == NULL) {
    conn_close(conn);
    return;
  }
  ub = uv_buf_init(conn->out, (unsigned int)conn->out_len);
  /* Re-armed: now it bounds how long a client may take to read the answer.
   * It cannot fail on a timer that is not closing, and conn is not. */
  (void)uv_timer_start(&conn->timer, conn_on_timeout, conn->h->response_timeout_ms, 0);
  err = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &ub, 1, conn_on_write);
  if (err != 0) {
    VTG_DEBUG("%s: %s: writing the response: %s", conn->h->name, conn->peer, uv_strerror(err));
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

/* An error answer, logged: JSON {"error": msg} under /api/, text elsewhere.
 * req is NULL when the head could not be parsed. */
static void conn_error(httpd_conn_t *conn, const vtg_httpd_req_t *req, int status,
                       const char *msg, const char *extra_headers) {
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
    VTG_ERROR("%s: %s: %s %s: %d %s", conn->h->name, conn->peer, method, path, status, msg);
  else
    VTG_WARN("%s: %s: %s %s: %d %s", conn->h->name, conn->peer, method, path, status, msg);

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

void vtg_httpd_error(vtg_httpd_resp_t *resp, int status, const char *msg,
                     const char *extra_headers) {
  resp->status = status;
  snprintf(resp->error, sizeof resp->error, "%s", msg != NULL && *msg ? msg : "error");
  snprintf(resp->headers, sizeof resp->headers, "%s", extra_headers ? extra_headers : "");
  vtg_buf_reset(&resp->body);
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

int vtg_httpd_url_decode(char *s, int plus_space) {
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

int vtg_httpd_query_next(char **p, char **key, char **val) {
  while (*p != NULL && **p != '\0') {
    char *k = *p, *amp = strchr(k, '&'), *eq, *v;
    if (amp) *amp = '\0';
    *p = amp ? amp + 1 : NULL;
    if (*k == '\0') continue; /* "a=1&&b=2" */
    eq = strchr(k, '=');
    /* A key without '=' has the empty value: its own terminator. */
    v = eq ? eq + 1 : k + strlen(k);
    if (eq) *eq = '\0';
    if (vtg_httpd_url_decode(k, 1) != 0 || vtg_httpd_url_decode(v, 1) != 0) return VTG_EINVAL;
    *key = k;
    *val = v;
    return 1;
  }
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

/* The value of a header field with optional whitespace trimmed (in place). */
static char *field_value(char *v) {
  char *end;
  while (*v == ' ' || *v == '\t') v++;
  end = v + strlen(v);
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
  return v;
}

/* Content-Length: 1*DIGIT (RFC 9110 8.6). A repeated field must carry the
 * same value, as anything else is a smuggling attempt. */
static int parse_length(const char *v, httpd_head_t *hd, const char **why) {
  uint64_t n = 0;
  if (*v == '\0') {
    *why = "empty Content-Length";
    return 400;
  }
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9' || p - v >= 18) {
      *why = "malformed Content-Length";
      return 400;
    }
    n = n * 10 + (uint64_t)(*p - '0');
  }
  if (hd->has_length && hd->length != n) {
    *why = "conflicting Content-Length fields";
    return 400;
  }
  hd->has_length = 1;
  hd->length = n;
  return 0;
}

/* Parses the head in place (text is NUL-terminated and ends with the blank
 * line). Returns 0, or an HTTP status with *why set. */
static int parse_head(char *text, httpd_head_t *hd, const char **why) {
  vtg_httpd_req_t *req = &hd->req;
  char *line = text, *eol, *sp1, *sp2, *version, *method;
  int n_headers = 0, status;

  memset(hd, 0, sizeof *hd);
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
  method = line;
  req->method = method;
  req->path = sp1 + 1;
  version = sp2 + 1;
  if (*method == '\0') {
    *why = "empty method";
    return 400;
  }
  for (const char *m = method; *m; m++) {
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
  if (vtg_httpd_url_decode(req->path, 0) != 0) {
    *why = "malformed percent-encoding in the path";
    return 400;
  }

  /* Header fields: checked for shape; only the body framing ones are used. */
  for (line = eol + 1;; line = eol + 1) {
    char *colon, *value;
    eol = strchr(line, '\n');
    if (eol == NULL) break;
    if (eol > line && eol[-1] == '\r') eol[-1] = '\0';
    *eol = '\0';
    if (*line == '\0') break; /* the blank line */
    if (*line == ' ' || *line == '\t') {
      *why = "obsolete header line folding";
      return 400;
    }
    if (++n_headers > HTTPD_MAX_HEADERS) {
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
    *colon = '\0';
    value = field_value(colon + 1);
    if (strcasecmp(line, "Content-Length") == 0) {
      if ((status = parse_length(value, hd, why)) != 0) return status;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
      hd->has_te = 1;
    } else if (strcasecmp(line, "Expect") == 0 && strcasecmp(value, "100-continue") == 0) {
      hd->expect_continue = 1;
    }
  }
  req->head = strcmp(method, "HEAD") == 0;
  return 0;
}

/* ---- dispatch ---- */

/* Head and body are complete: run the handler and answer. */
static void conn_dispatch(httpd_conn_t *conn) {
  vtg_httpd_t *h = conn->h;
  vtg_httpd_req_t *req = &conn->head.req;
  vtg_httpd_resp_t resp;

  if (req->body_len > 0) {
    /* A NUL-terminated copy, so handlers may parse it as a string. */
    conn->body = malloc(req->body_len + 1);
    if (conn->body == NULL) {
      conn_error(conn, req, 500, "out of memory", NULL);
      return;
    }
    memcpy(conn->body, conn->in.data + conn->head_len, req->body_len);
    conn->body[req->body_len] = '\0';
    req->body = conn->body;
  }
  memset(&resp, 0, sizeof resp);
  resp.status = 200;
  vtg_buf_init(&resp.body, VTG_HTTPD_MAX_RESPONSE);
  h->cb(h->ctx, req, &resp);
  if (resp.error[0] != '\0') {
    conn_error(conn, req, resp.status, resp.error, resp.headers[0] ? resp.headers : NULL);
  } else {
    VTG_DEBUG("%s: %s: %s %s: %d", h->name, conn->peer, req->method, req->path, resp.status);
    conn_respond(conn, resp.status, resp.content_type ? resp.content_type : "application/json",
                 resp.body.data ? resp.body.data : "", resp.body.len, req->head,
                 resp.headers[0] ? resp.headers : NULL);
  }
  vtg_buf_free(&resp.body);
}

static void conn_on_continue(uv_write_t *req, int status) {
  httpd_conn_t *conn = container_of(req, httpd_conn_t, continue_req);
  if (status != 0 && status != UV_ECANCELED) conn_close(conn);
}

/* The head is complete in conn->in[0..len): parse a copy and decide whether
 * a body follows. Returns 0 to go on reading or dispatching, or 1 when an
 * answer (an error) was already given. */
static int conn_head(httpd_conn_t *conn, size_t len) {
  vtg_httpd_t *h = conn->h;
  httpd_head_t *hd = &conn->head;
  const char *why = NULL;
  int status;

  if (memchr(conn->in.data, '\0', len) != NULL) {
    conn_error(conn, NULL, 400, "NUL byte in the request head", NULL);
    return 1;
  }
  conn->text = malloc(len + 1);
  if (conn->text == NULL) {
    conn_error(conn, NULL, 500, "out of memory", NULL);
    return 1;
  }
  memcpy(conn->text, conn->in.data, len);
  conn->text[len] = '\0';
  if ((status = parse_head(conn->text, hd, &why)) != 0) {
    conn_error(conn, &hd->req, status, why, NULL);
    return 1;
  }
  hd->req.peer = conn->peer;
  if (hd->has_te) {
    /* RFC 9112 6.3: both is a smuggling attempt; chunked alone we do not
     * implement (no client of ours sends it). */
    if (hd->has_length)
      conn_error(conn, &hd->req, 400, "both Transfer-Encoding and Content-Length", NULL);
    else
      conn_error(conn, &hd->req, 501, "Transfer-Encoding is not supported; send Content-Length",
                 NULL);
    return 1;
  }
  if (!hd->has_length && (strcmp(hd->req.method, "POST") == 0 ||
                          strcmp(hd->req.method, "PUT") == 0 ||
                          strcmp(hd->req.method, "PATCH") == 0)) {
    conn_error(conn, &hd->req, 411, "Content-Length required", NULL);
    return 1;
  }
  if (hd->length > h->max_body) {
    char msg[64];
    snprintf(msg, sizeof msg, "request body larger than %zu bytes (the cap)", h->max_body);
    conn_error(conn, &hd->req, 413, msg, NULL);
    return 1;
  }
  hd->req.body_len = (size_t)hd->length;
  conn->head_len = len;
  if (hd->expect_continue && hd->length > 0 && conn->in.len < len + hd->length) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    /* libuv only reads the buffer; the cast drops a const it never needed. */
    uv_buf_t ub = uv_buf_init((char *)cont, sizeof cont - 1);
    if (uv_write(&conn->continue_req, (uv_stream_t *)&conn->tcp, &ub, 1, conn_on_continue) != 0) {
      conn_close(conn);
      return 1;
    }
  }
  return 0;
}

static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  httpd_conn_t *conn = handle->data;
  (void)suggested;
  *buf = uv_buf_init(conn->rbuf, sizeof conn->rbuf);
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  httpd_conn_t *conn = stream->data;
  size_t n = (size_t)nread, end;
  int err;

  if (conn->closing) return;
  if (conn->responded) {
    /* Lingering: input is dropped; the client's EOF ends it once our
     * answer is out (conn_on_shutdown), or at once when it already is. */
    if (nread < 0) {
      conn->peer_eof = 1;
      (void)uv_read_stop(stream);
      if (conn->shutdown_req.handle != NULL) conn_close(conn);
    }
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF)
      VTG_DEBUG("%s: %s: reading: %s", conn->h->name, conn->peer, uv_strerror((int)nread));
    conn_close(conn);
    return;
  }
  if (nread == 0) return;
  if (conn->head_len != 0) {
    /* Reading the body: take no more than it still needs. */
    size_t want = conn->head_len + conn->head.req.body_len - conn->in.len;
    if (n > want) n = want;
  }
  err = vtg_buf_append(&conn->in, buf->base, n);
  if (err != 0) {
    conn_error(conn, NULL, 500, vtg_strerror(err), NULL);
    return;
  }
  if (conn->head_len == 0) {
    end = head_end(conn->in.data, conn->in.len);
    if ((end == 0 && conn->in.len > HTTPD_MAX_HEAD) || end > HTTPD_MAX_HEAD) {
      conn_error(conn, NULL, 431, "request head larger than 16 KiB", NULL);
      return;
    }
    if (end == 0) return;
    if (conn_head(conn, end) != 0) return;
    /* Bytes after the body (a pipelined request) are dropped. */
    if (conn->in.len > end + conn->head.req.body_len)
      conn->in.len = end + conn->head.req.body_len;
  }
  if (conn->in.len == conn->head_len + conn->head.req.body_len) conn_dispatch(conn);
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

static void httpd_on_connection(uv_stream_t *server, int status) {
  vtg_httpd_t *h = server->data;
  httpd_conn_t *conn;
  struct sockaddr_storage ss;
  int len = sizeof ss, err;

  if (status < 0) {
    VTG_ERROR("%s: accept: %s", h->name, uv_strerror(status));
    return;
  }
  if (h->n_conns >= HTTPD_MAX_CONNS) {
    /* Accept and drop at once: leaving it in the backlog would have libuv
     * report it again and again. */
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(server->loop, t) != 0) {
      free(t);
      return;
    }
    /* Logged once per episode: a flood must not flood the log too. */
    if (uv_accept(server, (uv_stream_t *)t) == 0 && !h->cap_logged) {
      VTG_WARN("%s: dropping new connections: %d open (the cap)", h->name, HTTPD_MAX_CONNS);
      h->cap_logged = 1;
    }
    uv_close((uv_handle_t *)t, reject_on_close);
    return;
  }
  conn = calloc(1, sizeof *conn);
  if (conn == NULL) {
    VTG_ERROR("%s: accept: out of memory", h->name);
    return;
  }
  conn->h = h;
  /* Head, then at most the body cap; one read chunk of slack for the read
   * that completes the head. */
  vtg_buf_init(&conn->in, HTTPD_MAX_HEAD + h->max_body + HTTPD_READ_CHUNK);
  if ((err = uv_tcp_init(server->loop, &conn->tcp)) != 0) {
    VTG_ERROR("%s: accept: %s", h->name, uv_strerror(err));
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
    VTG_ERROR("%s: accept: %s", h->name, uv_strerror(err));
    conn_close(conn);
    return;
  }
  if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &len) == 0)
    format_addr(&ss, conn->peer, sizeof conn->peer);
  if ((err = uv_timer_start(&conn->timer, conn_on_timeout, h->request_timeout_ms, 0)) != 0 ||
      (err = uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc, conn_on_read)) != 0) {
    VTG_ERROR("%s: %s: %s", h->name, conn->peer, uv_strerror(err));
    conn_close(conn);
  }
}

int vtg_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss) {
  char host[256];
  const char *colon, *hs = listen, *he;
  char *end = NULL;
  long port;

  if (listen == NULL) return UV_EINVAL;
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
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
    return UV_EINVAL;
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return UV_EINVAL;
}

static void httpd_on_listener_close(uv_handle_t *handle) {
  vtg_httpd_t *h = container_of((uv_tcp_t *)handle, vtg_httpd_t, listener);
  h->listener_closed = 1;
  httpd_maybe_free(h);
}

int vtg_httpd_start(uv_loop_t *loop, const char *listen, const vtg_httpd_opts_t *opts,
                    vtg_httpd_cb cb, void *ctx, vtg_httpd_t **out) {
  vtg_httpd_t *h;
  struct sockaddr_storage ss;
  const char *name = opts && opts->name ? opts->name : "http";
  char bound[80];
  int len = sizeof ss, err;

  if ((err = vtg_httpd_parse_listen(listen, &ss)) != 0) {
    VTG_ERROR("%s: listen address %s: expected HOST:PORT", name, listen ? listen : "(none)");
    return err;
  }
  h = calloc(1, sizeof *h);
  if (h == NULL) return UV_ENOMEM;
  h->cb = cb;
  h->ctx = ctx;
  snprintf(h->name, sizeof h->name, "%s", name);
  h->max_body = opts && opts->max_body ? opts->max_body : VTG_HTTPD_MAX_REQUEST_BODY;
  h->request_timeout_ms =
      opts && opts->request_timeout_ms ? opts->request_timeout_ms : HTTPD_REQUEST_TIMEOUT_MS;
  h->response_timeout_ms =
      opts && opts->response_timeout_ms ? opts->response_timeout_ms : HTTPD_RESPONSE_TIMEOUT_MS;
  if ((err = uv_tcp_init(loop, &h->listener)) != 0) {
    free(h);
    return err;
  }
  h->listener.data = h;
  if ((err = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0)) != 0 ||
      (err = uv_listen((uv_stream_t *)&h->listener, 128, httpd_on_connection)) != 0 ||
      (err = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len)) != 0) {
    VTG_ERROR("%s: listening on %s: %s", h->name, listen, uv_strerror(err));
    h->stopping = 1;
    uv_close((uv_handle_t *)&h->listener, httpd_on_listener_close);
    return err;
  }
  format_addr(&ss, bound, sizeof bound);
  h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  VTG_INFO("%s listening on %s", h->name, bound);
  *out = h;
  return 0;
}

int vtg_httpd_port(const vtg_httpd_t *h) { return h->port; }

void vtg_httpd_stop(vtg_httpd_t *h) {
  httpd_conn_t *conn, *next;
  if (h == NULL || h->stopping) return;
  h->stopping = 1;
  for (conn = h->conns; conn != NULL; conn = next) {
    next = conn->next;
    conn_close(conn);
  }
  uv_close((uv_handle_t *)&h->listener, httpd_on_listener_close);
}
