/* A small HTTP/1.1 server core on libuv, shared by the coordinator's API
 * listener and the agent's /metrics listener. The core does the transport;
 * the routes live with their owner in one handler callback.
 *
 * One request per connection: the head (request line and headers) is read
 * into a buffer capped at 16 KiB, then a body when Content-Length says so
 * (capped, 413 beyond the cap; Transfer-Encoding is answered 501, both
 * framings at once 400, POST/PUT/PATCH without Content-Length 411;
 * "Expect: 100-continue" gets its interim answer), the handler
 * runs and fills a response, which is written in one uv_write with
 * Content-Type, Content-Length, Cache-Control: no-store and Connection:
 * close; then the connection is shut down and closed. A deadline per
 * connection bounds a slow request and a client that never reads its answer;
 * the number of connections is capped. Errors under /api/ get a JSON body
 * {"error": "..."}, elsewhere a line of text. HEAD gets the headers of the
 * GET answer without its body.
 *
 * Loop thread only: every call and every callback runs on the loop that
 * vtg_httpd_start was given. */
#ifndef VTG_HTTPD_H
#define VTG_HTTPD_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "vtg/buf.h"

/* Cap on a response body (resp->body): a handler building a larger answer
 * gets VTG_ELIMIT from the vtg_buf calls. */
#define VTG_HTTPD_MAX_RESPONSE (64u * 1024 * 1024)
/* Default cap on a request body. */
#define VTG_HTTPD_MAX_REQUEST_BODY (64u * 1024)

typedef struct vtg_httpd_s vtg_httpd_t;

/* A parsed request, valid only during the handler call. Strings point into
 * one copy of the request owned by the core; the handler may modify them in
 * place (e.g. decode query values with vtg_httpd_url_decode). */
typedef struct vtg_httpd_req_s {
  const char *method;  /* token as sent, e.g. "GET" */
  char *path;          /* percent-decoded, starts with '/', no query */
  char *query;         /* raw (not decoded) text after '?', NULL when none */
  const char *body;    /* NUL-terminated copy of the body; NULL when none */
  size_t body_len;     /* Content-Length (0 when none) */
  int head;            /* method is HEAD: the core drops the body it answers */
  const char *peer;    /* "IP:PORT" of the client, for logs */
} vtg_httpd_req_t;

/* What the handler fills in. The core initialises it to 200, no content
 * type, an empty body and no extra headers. */
typedef struct vtg_httpd_resp_s {
  int status;
  const char *content_type;  /* static string; NULL = "application/json" */
  vtg_buf_t body;            /* owned by the core, freed after the answer; capped
                                at VTG_HTTPD_MAX_RESPONSE */
  char headers[512];         /* extra header lines, each ending "\r\n" */
  char error[256];           /* set by vtg_httpd_error: the core renders it */
} vtg_httpd_resp_t;

/* Called once per well-formed request whose body arrived whole. Fill resp
 * (or call vtg_httpd_error); the answer is sent when the callback returns.
 * Any method reaches it: the routes decide (405 and Allow are theirs). */
typedef void (*vtg_httpd_cb)(void *ctx, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp);

typedef struct vtg_httpd_opts_s {
  const char *name;          /* log prefix and "<name> listening on ..."; NULL = "http" */
  size_t max_body;           /* request body cap; 0 = 64 KiB */
  unsigned request_timeout_ms;  /* to receive head and body; 0 = 10 s */
  unsigned response_timeout_ms; /* for the client to take the answer; 0 = 30 s */
} vtg_httpd_opts_t;

/* Listens on "HOST:PORT" or "[V6]:PORT" (port 0 picks one; the bound address
 * is logged as "<name> listening on HOST:PORT"). opts may be NULL. cb runs on
 * loop for every request with ctx. Returns 0 and sets *out, or a libuv or
 * vtg error (logged); on error *out is untouched and nothing is left open. */
int vtg_httpd_start(uv_loop_t *loop, const char *listen, const vtg_httpd_opts_t *opts,
                    vtg_httpd_cb cb, void *ctx, vtg_httpd_t **out);
/* The port actually bound (the one picked when the address said 0). */
int vtg_httpd_port(const vtg_httpd_t *h);
/* Stops listening and closes every connection; memory is freed in the close
 * callbacks, so run the loop afterwards. NULL allowed. */
void vtg_httpd_stop(vtg_httpd_t *h);

/* Makes resp an error answer: status, the message (copied; rendered as JSON
 * {"error": msg} under /api/, as text elsewhere, and logged) and optional
 * extra header lines such as "Allow: GET, HEAD\r\n". Drops any body already
 * written. */
void vtg_httpd_error(vtg_httpd_resp_t *resp, int status, const char *msg,
                     const char *extra_headers);

/* Percent-decodes s in place ('+' becomes a space when plus_space, as in a
 * query). Returns 0, or VTG_EINVAL on a malformed escape or a decoded NUL. */
int vtg_httpd_url_decode(char *s, int plus_space);

/* Takes the next key=value pair off a query string, in place: *p walks the
 * string (start it at req->query; NULL or "" is the end), the '&' and '='
 * become NULs and key and value are percent-decoded ('+' = space). A key
 * without '=' has the empty value; empty pairs are skipped. Returns 1 with
 * *key and *val set, 0 at the end, or VTG_EINVAL on a malformed escape. */
int vtg_httpd_query_next(char **p, char **key, char **val);

/* Parses "HOST:PORT" or "[V6]:PORT" with an IP literal host and a port
 * 0-65535 into *ss. Returns 0 or UV_EINVAL. */
int vtg_httpd_parse_listen(const char *listen, struct sockaddr_storage *ss);

#endif
