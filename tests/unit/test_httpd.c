/* The HTTP server core (vtg/httpd.h) on a real loopback socket. The server
 * runs on the test's loop in the main thread; each client is a plain
 * blocking socket in its own thread (so it can stall, trickle or send a
 * body too large without the loop's help) that posts "done" back to the
 * loop with uv_async_send. Every test ends with the loop closed cleanly. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "test.h"
#include "vtg/httpd.h"
#include "vtg/json.h"

#define REQUEST_TIMEOUT_MS 300
#define RESP_MAX (1u << 20)

typedef struct fixture_s {
  uv_loop_t loop;
  vtg_httpd_t *httpd;
  int requests;        /* handler calls */
} fixture_t;

/* The routes of the test server:
 *   /echo       answers "METHOD len:BODY" as text/plain
 *   /created    201 with a Location header
 *   /big        100 000 bytes of 'x'
 *   /api/fail   the handler's own error (409, JSON)
 *   anything else 404 through vtg_httpd_error. */
static void handler(void *ctx, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp) {
  fixture_t *f = ctx;
  f->requests++;
  if (strcmp(req->path, "/echo") == 0) {
    resp->content_type = "text/plain";
    if (vtg_buf_printf(&resp->body, "%s %zu:", req->method, req->body_len) != 0 ||
        (req->body_len > 0 && vtg_buf_append(&resp->body, req->body, req->body_len) != 0))
      vtg_httpd_error(resp, 500, "echo", NULL);
  } else if (strcmp(req->path, "/created") == 0) {
    resp->status = 201;
    snprintf(resp->headers, sizeof resp->headers, "Location: /created/1\r\n");
    (void)vtg_buf_appends(&resp->body, "{}");
  } else if (strcmp(req->path, "/big") == 0) {
    resp->content_type = "text/plain";
    for (int i = 0; i < 1000; i++)
      (void)vtg_buf_appends(&resp->body, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  } else if (strcmp(req->path, "/api/fail") == 0) {
    (void)vtg_buf_appends(&resp->body, "dropped by the error");
    vtg_httpd_error(resp, 409, "already \"there\"", NULL);
  } else {
    vtg_httpd_error(resp, 404, "not found", NULL);
  }
}

static int fixture_init(fixture_t *f) {
  vtg_httpd_opts_t o = {.name = "test", .request_timeout_ms = REQUEST_TIMEOUT_MS};
  memset(f, 0, sizeof *f);
  if (uv_loop_init(&f->loop) != 0) return -1;
  return vtg_httpd_start(&f->loop, "127.0.0.1:0", &o, handler, f, &f->httpd);
}

/* Stops the server, runs the loop dry and closes it: 0 when clean. */
static int fixture_close(fixture_t *f) {
  vtg_httpd_stop(f->httpd);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&f->loop);
}

/* ---- a blocking client in its own thread ---- */

typedef struct client_s {
  int port;
  const char *part1; /* sent at once */
  size_t len1;
  const char *part2; /* then this, after the interim answer when wait_interim */
  size_t len2;
  int wait_interim;  /* read "HTTP/1.1 100 Continue\r\n\r\n" before part2 */
  int got_interim;
  char resp[RESP_MAX + 1]; /* everything after the interim answer, NUL-terminated */
  size_t resp_len;
  double elapsed_s;  /* from connect to the server's EOF */
  int err;           /* errno of a failure before the reading */
  uv_async_t async;
  int done;
} client_t;

static double now_s(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* send() everything; a server that already answered and closed may reset
 * us, which is no failure of the client. */
static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void *client_main(void *arg) {
  client_t *cl = arg;
  struct sockaddr_in a;
  struct timeval tmo = {10, 0}; /* a hung server fails the test, not the run */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  double t0;

  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)cl->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo) != 0 ||
      connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    cl->err = errno ? errno : EIO;
    goto out;
  }
  t0 = now_s();
  if (cl->len1) send_all(fd, cl->part1, cl->len1);
  if (cl->wait_interim) {
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char got[sizeof interim - 1];
    size_t have = 0;
    while (have < sizeof got) {
      ssize_t r = recv(fd, got + have, sizeof got - have, 0);
      if (r <= 0) break;
      have += (size_t)r;
    }
    cl->got_interim = have == sizeof got && memcmp(got, interim, sizeof got) == 0;
  }
  if (cl->len2) send_all(fd, cl->part2, cl->len2);
  for (;;) {
    ssize_t r = recv(fd, cl->resp + cl->resp_len, RESP_MAX - cl->resp_len, 0);
    if (r <= 0) break; /* EOF, reset or our own timeout */
    cl->resp_len += (size_t)r;
    if (cl->resp_len == RESP_MAX) break;
  }
  cl->elapsed_s = now_s() - t0;
out:
  cl->resp[cl->resp_len] = '\0';
  if (fd >= 0) close(fd);
  uv_async_send(&cl->async);
  return NULL;
}

static void client_done(uv_async_t *h) {
  client_t *cl = h->data;
  cl->done = 1;
}

/* Runs one client against f's server while the loop serves it. */
static int run_client(fixture_t *f, client_t *cl) {
  pthread_t th;
  cl->port = vtg_httpd_port(f->httpd);
  cl->async.data = cl;
  if (uv_async_init(&f->loop, &cl->async, client_done) != 0) return -1;
  if (pthread_create(&th, NULL, client_main, cl) != 0) return -1;
  while (!cl->done) uv_run(&f->loop, UV_RUN_ONCE);
  pthread_join(th, NULL);
  uv_close((uv_handle_t *)&cl->async, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  return cl->err;
}

/* A client sending one raw request; the caller frees it. */
static client_t *request(fixture_t *f, const char *raw, size_t len) {
  client_t *cl = calloc(1, sizeof *cl);
  if (cl == NULL) return NULL;
  cl->part1 = raw;
  cl->len1 = len;
  if (run_client(f, cl) != 0) {
    free(cl);
    return NULL;
  }
  return cl;
}

static client_t *requests(fixture_t *f, const char *raw) { return request(f, raw, strlen(raw)); }

static int status_of(const client_t *cl) {
  int code = 0;
  if (cl->resp_len < 12 || strncmp(cl->resp, "HTTP/1.1 ", 9) != 0) return -1;
  for (int i = 9; i < 12; i++) code = code * 10 + (cl->resp[i] - '0');
  return code;
}

static const char *body_of(const client_t *cl) {
  const char *p = strstr(cl->resp, "\r\n\r\n");
  return p ? p + 4 : NULL;
}

/* Content-Length matches the body sent (HEAD: pass the expected length). */
static long content_length(const client_t *cl) {
  const char *h = strstr(cl->resp, "\r\nContent-Length: ");
  return h ? strtol(h + 18, NULL, 10) : -1;
}

static int length_ok(const client_t *cl) {
  const char *b = body_of(cl);
  return b != NULL && content_length(cl) == (long)(cl->resp + cl->resp_len - b);
}

/* ---- tests ---- */

VTG_TEST(body) {
  fixture_t f;
  client_t *cl;
  ASSERT_EQ(fixture_init(&f), 0);
  cl = requests(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 200);
  ASSERT(length_ok(cl));
  ASSERT(strstr(cl->resp, "\r\nContent-Type: text/plain\r\n") != NULL);
  ASSERT(strstr(cl->resp, "\r\nConnection: close\r\n") != NULL);
  ASSERT_STR_EQ(body_of(cl), "POST 11:hello world");
  free(cl);

  /* The body in a second write, a NUL in it, and bytes after it (ignored). */
  cl = calloc(1, sizeof *cl);
  ASSERT(cl != NULL);
  cl->part1 = "PUT /echo HTTP/1.1\r\ncontent-length:  5 \r\n\r\nab";
  cl->len1 = strlen(cl->part1);
  cl->part2 = "c\0eGET / HTTP/1.1\r\n\r\n";
  cl->len2 = 21;
  ASSERT_EQ(run_client(&f, cl), 0);
  ASSERT_EQ(status_of(cl), 200);
  ASSERT(length_ok(cl));
  ASSERT(memcmp(body_of(cl), "PUT 5:abc\0e", 11) == 0);
  free(cl);

  /* Repeated, equal Content-Length fields are one. */
  cl = requests(&f, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  ASSERT(cl != NULL);
  ASSERT_STR_EQ(body_of(cl), "POST 2:ok");
  free(cl);

  /* A GET without a body; a DELETE with an empty one. */
  cl = requests(&f, "GET /echo?x=1 HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_STR_EQ(body_of(cl), "GET 0:");
  free(cl);
  cl = requests(&f, "DELETE /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_STR_EQ(body_of(cl), "DELETE 0:");
  free(cl);
  ASSERT_EQ(f.requests, 5);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(body_too_large) {
  fixture_t f;
  client_t *cl;
  size_t n = 70000;
  char *raw = malloc(n + 128);
  int hl;
  ASSERT(raw != NULL);
  ASSERT_EQ(fixture_init(&f), 0);
  /* Over the 64 KiB default, body actually sent: the answer must reach
   * the client whole (lingering close), the handler never runs. */
  hl = snprintf(raw, 128, "POST /api/v1/x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
  memset(raw + hl, 'b', n);
  cl = request(&f, raw, (size_t)hl + n);
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 413);
  ASSERT(length_ok(cl));
  ASSERT(strstr(cl->resp, "\r\nContent-Type: application/json\r\n") != NULL);
  ASSERT(strstr(body_of(cl), "65536") != NULL);
  free(cl);
  /* Announced only: refused from the head alone. */
  cl = requests(&f, "POST /echo HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 413);
  free(cl);
  /* Exactly the cap is fine. */
  n = 65536;
  hl = snprintf(raw, 128, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
  memset(raw + hl, 'b', n);
  cl = request(&f, raw, (size_t)hl + n);
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 200);
  ASSERT_EQ(strlen(body_of(cl)), strlen("POST 65536:") + n);
  free(cl);
  free(raw);
  ASSERT_EQ(f.requests, 1);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(body_framing) {
  static const struct {
    const char *req;
    int status;
  } cases[] = {
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501},
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
       400},
      {"POST /echo HTTP/1.1\r\n\r\n", 411},
      {"PUT /echo HTTP/1.1\r\n\r\n", 411},
      {"POST /echo HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
  };
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    client_t *cl = requests(&f, cases[i].req);
    ASSERT(cl != NULL);
    if (status_of(cl) != cases[i].status) fprintf(stderr, "request: %s\n", cases[i].req);
    ASSERT_EQ(status_of(cl), cases[i].status);
    ASSERT(length_ok(cl));
    free(cl);
  }
  ASSERT_EQ(f.requests, 0);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(slow_client_timeout) {
  fixture_t f;
  client_t *cl;
  ASSERT_EQ(fixture_init(&f), 0);
  /* Half a head, then nothing: closed after the request timeout, no
   * answer, and the loop kept running meanwhile (it served us). */
  cl = requests(&f, "GET /echo HTTP/1.1\r\nHost: x\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(cl->resp_len, 0);
  ASSERT(cl->elapsed_s >= REQUEST_TIMEOUT_MS / 1000.0 * 0.9);
  ASSERT(cl->elapsed_s < 5);
  free(cl);
  /* A whole head, part of the body. */
  cl = requests(&f, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT(cl != NULL);
  ASSERT_EQ(cl->resp_len, 0);
  ASSERT(cl->elapsed_s >= REQUEST_TIMEOUT_MS / 1000.0 * 0.9);
  ASSERT(cl->elapsed_s < 5);
  free(cl);
  /* Nothing at all. */
  cl = requests(&f, "");
  ASSERT(cl != NULL);
  ASSERT_EQ(cl->resp_len, 0);
  ASSERT(cl->elapsed_s < 5);
  free(cl);
  ASSERT_EQ(f.requests, 0);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(head_request) {
  fixture_t f;
  client_t *cl;
  ASSERT_EQ(fixture_init(&f), 0);
  cl = requests(&f, "HEAD /big HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 200);
  ASSERT_EQ(content_length(cl), 100000); /* the GET's length */
  ASSERT(body_of(cl) != NULL && *body_of(cl) == '\0');
  free(cl);
  cl = requests(&f, "GET /big HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(content_length(cl), 100000);
  ASSERT(length_ok(cl));
  free(cl);
  /* An error to a HEAD: headers only too. */
  cl = requests(&f, "HEAD /api/nope HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 404);
  ASSERT(content_length(cl) > 0);
  ASSERT(*body_of(cl) == '\0');
  free(cl);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(not_found_json) {
  fixture_t f;
  client_t *cl;
  vtg_json_t *v = NULL;
  char err[128];
  ASSERT_EQ(fixture_init(&f), 0);
  cl = requests(&f, "GET /api/v1/nope HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 404);
  ASSERT(length_ok(cl));
  ASSERT(strstr(cl->resp, "\r\nContent-Type: application/json\r\n") != NULL);
  ASSERT_EQ(vtg_json_parse(body_of(cl), strlen(body_of(cl)), &v, err, sizeof err), 0);
  ASSERT_STR_EQ(vtg_json_get_str(v, "error", NULL), "not found");
  vtg_json_free(v);
  free(cl);
  /* Outside /api/: text. */
  cl = requests(&f, "GET /nope HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 404);
  ASSERT(strstr(cl->resp, "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL);
  ASSERT_STR_EQ(body_of(cl), "404 Not Found: not found\n");
  free(cl);
  /* The handler's own error, escaped, its body dropped. */
  cl = requests(&f, "GET /api/fail HTTP/1.1\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 409);
  ASSERT_STR_EQ(body_of(cl), "{\"error\":\"already \\\"there\\\"\"}");
  free(cl);
  /* Status and extra headers from the handler. */
  cl = requests(&f, "POST /created HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT(cl != NULL);
  ASSERT_EQ(status_of(cl), 201);
  ASSERT(strncmp(cl->resp, "HTTP/1.1 201 Created\r\n", 22) == 0);
  ASSERT(strstr(cl->resp, "\r\nLocation: /created/1\r\n") != NULL);
  ASSERT(length_ok(cl));
  free(cl);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(expect_continue) {
  fixture_t f;
  client_t *cl = calloc(1, sizeof *cl);
  ASSERT(cl != NULL);
  ASSERT_EQ(fixture_init(&f), 0);
  cl->part1 = "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  cl->len1 = strlen(cl->part1);
  cl->wait_interim = 1;
  cl->part2 = "data";
  cl->len2 = 4;
  ASSERT_EQ(run_client(&f, cl), 0);
  ASSERT(cl->got_interim);
  ASSERT_EQ(status_of(cl), 200);
  ASSERT_STR_EQ(body_of(cl), "POST 4:data");
  free(cl);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(bad_listen) {
  uv_loop_t loop;
  vtg_httpd_t *h = NULL;
  struct sockaddr_storage ss;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT(vtg_httpd_start(&loop, "localhost:80", NULL, handler, NULL, &h) != 0);
  ASSERT(vtg_httpd_start(&loop, "127.0.0.1", NULL, handler, NULL, &h) != 0);
  ASSERT(vtg_httpd_start(&loop, "127.0.0.1:65536", NULL, handler, NULL, &h) != 0);
  ASSERT(h == NULL);
  ASSERT_EQ(vtg_httpd_parse_listen("[::1]:9310", &ss), 0);
  ASSERT_EQ(ss.ss_family, AF_INET6);
  ASSERT_EQ(vtg_httpd_parse_listen("127.0.0.1:0", &ss), 0);
  ASSERT(vtg_httpd_parse_listen("127.0.0.1:", &ss) != 0);
  ASSERT(vtg_httpd_parse_listen("127.0.0.1:9x", &ss) != 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}

VTG_TEST(url_decode) {
  char a[] = "a%20b+c%2Fd", b[] = "a%20b+c", c[] = "%zz", d[] = "%00", e[] = "%4";
  ASSERT_EQ(vtg_httpd_url_decode(a, 1), 0);
  ASSERT_STR_EQ(a, "a b c/d");
  ASSERT_EQ(vtg_httpd_url_decode(b, 0), 0);
  ASSERT_STR_EQ(b, "a b+c");
  ASSERT(vtg_httpd_url_decode(c, 1) != 0);
  ASSERT(vtg_httpd_url_decode(d, 1) != 0);
  ASSERT(vtg_httpd_url_decode(e, 1) != 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(body) VTG_TEST_ENTRY(body_too_large) VTG_TEST_ENTRY(body_framing)
                  VTG_TEST_ENTRY(slow_client_timeout) VTG_TEST_ENTRY(head_request)
                      VTG_TEST_ENTRY(not_found_json) VTG_TEST_ENTRY(expect_continue)
                          VTG_TEST_ENTRY(bad_listen) VTG_TEST_ENTRY(url_decode))
