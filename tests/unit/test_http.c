/* The coordinator's HTTP server on a real loop: a listener on port 0, a
 * raw TCP client in the same loop, one request per connection. Checks the
 * routes, the JSON shapes, the error statuses and that every loop closes
 * cleanly. The coordinator state is built by hand (config, a detector with
 * no results, a store in a temp dir). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "coord.h"
#include "http.h"
#include "incident.h"
#include "fixture.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/json.h"

typedef struct fixture_s {
  uv_loop_t loop;
  vtg_coord_t c;
  vtg_http_t *http;
  vtg_check_cfg_t checks[2];
  uint32_t ids[2];
  char *regions[2];
  vtg_agent_t agent;
  vtg_agent_t *agents[1];
  vtg_test_tmpdb_t tmp;
} fixture_t;

static int put_incident(vtg_store_t *s, const char *id, const char *check, int64_t onset,
                        int64_t resolved) {
  vtg_incident_t inc;
  memset(&inc, 0, sizeof inc);
  inc.id = id;
  inc.check_name = check;
  inc.service = "shop";
  inc.kind = "web";
  inc.onset_us = onset;
  inc.resolved_us = resolved;
  inc.cause = 5;
  return vtg_test_store_incident(s, &inc, onset);
}

static int fixture_init(fixture_t *f) {
  vtg_detect_params_t p = {2, 2, 2, 300000000, 0, 0};
  memset(f, 0, sizeof *f);
  if (uv_loop_init(&f->loop) != 0) return -1;
  f->c.loop = &f->loop;
  f->checks[0] = (vtg_check_cfg_t){.name = "shop-web", .service = "shop", .kind = "web",
                                   .url = "http://127.0.0.1:9/", .method = "GET",
                                   .interval_us = 30000000, .timeout_us = 10000000};
  f->checks[1] = (vtg_check_cfg_t){.name = "shop <api>", .service = "shop", .kind = "api",
                                   .url = "http://127.0.0.1:9/api", .method = "GET",
                                   .interval_us = 30000000, .timeout_us = 10000000};
  f->c.cfg.checks = f->checks;
  f->c.cfg.n_checks = 2;
  f->regions[0] = "us-west";
  f->regions[1] = "eu-west";
  f->c.regions = f->regions;
  f->c.n_regions = 2;
  f->agent = (vtg_agent_t){.idx = 0, .id = "us-west-1", .region = "us-west", .country = "US",
                           .connected = 1, .last_seen_us = INT64_MIN};
  f->agents[0] = &f->agent;
  f->c.agents = f->agents;
  f->c.n_agents = 1;

  if (vtg_test_tmpdb_make(&f->tmp, "http") != 0) return -1;
  if (vtg_store_open(f->tmp.path, &f->c.store) != 0) return -1;
  for (int i = 0; i < 2; i++)
    if (vtg_store_check_id(f->c.store, f->checks[i].name, "shop", f->checks[i].kind,
                           f->checks[i].url, &f->ids[i]) != 0)
      return -1;
  f->c.check_ids = f->ids;
  if (put_incident(f->c.store, "inc-1", "shop-web", 1700000000000000, 1700000600000000) != 0 ||
      put_incident(f->c.store, "inc-2", "shop-web", 1800000000000000, INT64_MIN) != 0)
    return -1;

  f->c.detect = vtg_detect_new(&p, vtg_test_on_incident, NULL);
  if (f->c.detect == NULL) return -1;
  for (uint32_t r = 0; r < 2; r++)
    if (vtg_detect_set_region(f->c.detect, r, f->regions[r]) != 0) return -1;
  for (int i = 0; i < 2; i++)
    if (vtg_detect_set_check(f->c.detect, f->ids[i], f->checks[i].name, "shop",
                             f->checks[i].kind, 30000000, 10000000) != 0)
      return -1;
  if (vtg_detect_set_agent(f->c.detect, 0, 0) != 0) return -1;
  return vtg_http_start(&f->c, "127.0.0.1:0", &f->http);
}

/* Stops the server, runs the loop dry and closes it: 0 when clean. */
static int fixture_close(fixture_t *f) {
  int rc;
  vtg_http_stop(f->http);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&f->loop);
  vtg_detect_free(f->c.detect);
  vtg_store_close(f->c.store);
  vtg_test_tmpdb_remove(&f->tmp);
  return rc;
}

/* ---- a raw client in the same loop ---- */

typedef struct client_s {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_buf_t req;
  vtg_buf_t resp;
  int done;
  char rbuf[4096];
} client_t;

static void client_closed(uv_handle_t *h) {
  client_t *cl = h->data;
  cl->done = 1;
}

static void client_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  client_t *cl = h->data;
  (void)n;
  *buf = uv_buf_init(cl->rbuf, sizeof cl->rbuf);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client_t *cl = s->data;
  if (n > 0) {
    if (vtg_buf_append(&cl->resp, buf->base, (size_t)n) != 0)
      uv_close((uv_handle_t *)s, client_closed);
    return;
  }
  if (n < 0) uv_close((uv_handle_t *)s, client_closed); /* EOF or reset: done */
}

static void client_wrote(uv_write_t *w, int status) {
  client_t *cl = w->data;
  if (status != 0) uv_close((uv_handle_t *)&cl->tcp, client_closed);
}

static void client_connected(uv_connect_t *c, int status) {
  client_t *cl = c->data;
  if (status != 0 || uv_read_start((uv_stream_t *)&cl->tcp, client_alloc, client_read) != 0 ||
      uv_write(&cl->write, (uv_stream_t *)&cl->tcp, &cl->req, 1, client_wrote) != 0)
    uv_close((uv_handle_t *)&cl->tcp, client_closed);
}

/* Sends raw request bytes and collects everything until the server closes.
 * *out holds the response (caller frees with vtg_buf_free). */
static int roundtrip(fixture_t *f, const char *raw, size_t len, vtg_buf_t *out) {
  client_t cl;
  struct sockaddr_in addr;
  memset(&cl, 0, sizeof cl);
  vtg_buf_init(&cl.resp, 8u << 20);
  cl.req = uv_buf_init((char *)raw, (unsigned)len);
  cl.tcp.data = cl.connect.data = cl.write.data = &cl;
  uv_ip4_addr("127.0.0.1", vtg_http_port(f->http), &addr);
  if (uv_tcp_init(&f->loop, &cl.tcp) != 0) return -1;
  if (uv_tcp_connect(&cl.connect, &cl.tcp, (struct sockaddr *)&addr, client_connected) != 0) {
    uv_close((uv_handle_t *)&cl.tcp, client_closed);
  }
  while (!cl.done) uv_run(&f->loop, UV_RUN_ONCE);
  /* NUL-terminate for strstr. */
  if (vtg_buf_append(&cl.resp, "", 1) != 0) return -1;
  cl.resp.len--;
  *out = cl.resp;
  return 0;
}

static int get(fixture_t *f, const char *raw, vtg_buf_t *out) {
  return roundtrip(f, raw, strlen(raw), out);
}

static int status_of(const vtg_buf_t *r) {
  int code = 0;
  if (r->len < 12 || strncmp(r->data, "HTTP/1.1 ", 9) != 0) return -1;
  for (int i = 9; i < 12; i++) code = code * 10 + (r->data[i] - '0');
  return code;
}

static const char *body_of(const vtg_buf_t *r) {
  const char *p = strstr(r->data, "\r\n\r\n");
  return p ? p + 4 : NULL;
}

/* Content-Length must match the body actually sent. */
static int length_ok(const vtg_buf_t *r) {
  const char *cl = strstr(r->data, "\r\nContent-Length: "), *body = body_of(r);
  if (cl == NULL || body == NULL) return 0;
  return strtoul(cl + 18, NULL, 10) == (unsigned long)(r->data + r->len - body);
}

static vtg_json_t *json_body(const vtg_buf_t *r) {
  const char *b = body_of(r);
  vtg_json_t *v = NULL;
  char err[128];
  if (b == NULL || vtg_json_parse(b, strlen(b), &v, err, sizeof err) != 0) return NULL;
  return v;
}

VTG_TEST(api_checks) {
  fixture_t f;
  vtg_buf_t r;
  vtg_json_t *v;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(get(&f, "GET /api/v1/checks HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  ASSERT(strstr(r.data, "\r\nContent-Type: application/json\r\n") != NULL);
  ASSERT(strstr(r.data, "\r\nConnection: close\r\n") != NULL);
  ASSERT(length_ok(&r));
  v = json_body(&r);
  ASSERT(v != NULL && v->type == VTG_JSON_ARRAY && v->n == 2);
  ASSERT_EQ(vtg_json_get_num(v->items[0], "id", -1), f.ids[0]);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "name", NULL), "shop <api>");
  ASSERT_EQ(vtg_json_get_num(v->items[0], "interval_s", -1), 30);
  ASSERT(vtg_json_get(v->items[0], "regions")->type == VTG_JSON_ARRAY);
  vtg_json_free(v);
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(api_status_unknown) {
  fixture_t f;
  vtg_buf_t r;
  vtg_json_t *v;
  static const char *const keys[] = {"service", "check",          "kind",       "region", "state",
                                     "agents",  "healthy_agents", "last_probe", "last_latency_s",
                                     "blame",   "addresses"};
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(get(&f, "GET /api/v1/status HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  v = json_body(&r);
  ASSERT(v != NULL && v->type == VTG_JSON_ARRAY);
  ASSERT_EQ(v->n, 4); /* 2 checks x 2 regions, regions by name */
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "region", NULL), "eu-west");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "region", NULL), "us-west");
  for (size_t i = 0; i < v->n; i++) {
    ASSERT_EQ(v->items[i]->n, 11);
    for (size_t k = 0; k < 11; k++) ASSERT_STR_EQ(v->items[i]->keys[k], keys[k]);
    /* no results yet: no address seen */
    ASSERT(vtg_json_get(v->items[i], "addresses")->type == VTG_JSON_ARRAY);
    ASSERT_EQ(vtg_json_get(v->items[i], "addresses")->n, 0);
    ASSERT_STR_EQ(vtg_json_get_str(v->items[i], "state", NULL), "unknown");
    ASSERT(vtg_json_get(v->items[i], "last_probe")->type == VTG_JSON_NULL);
    ASSERT(vtg_json_get(v->items[i], "last_latency_s")->type == VTG_JSON_NULL);
  }
  vtg_json_free(v);
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(api_outages) {
  fixture_t f;
  vtg_buf_t r;
  vtg_json_t *v;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(get(&f, "GET /api/v1/outages HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  v = json_body(&r);
  ASSERT(v != NULL && v->n == 2);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "id", NULL), "inc-2"); /* open first */
  vtg_json_free(v);
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f,
                "GET /api/v1/outages?check=shop-web&since=2025-01-01T00%3A00%3A00Z HTTP/1.1\r\n"
                "\r\n",
                &r),
            0);
  ASSERT_EQ(status_of(&r), 200);
  v = json_body(&r);
  ASSERT(v != NULL && v->n == 1);
  vtg_json_free(v);
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f, "GET /api/v1/outages?check=shop%20%3Capi%3E HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_STR_EQ(body_of(&r), "[]");
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f, "GET /api/v1/outages?since=yesterday HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 400);
  v = json_body(&r);
  ASSERT(v != NULL && vtg_json_get_str(v, "error", NULL) != NULL);
  vtg_json_free(v);
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f, "GET /api/v1/incidents/inc-1 HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  v = json_body(&r);
  ASSERT(v != NULL && v->type == VTG_JSON_OBJECT);
  ASSERT_EQ(vtg_json_get_num(v, "duration_s", -1), 600);
  vtg_json_free(v);
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f, "GET /api/v1/incidents/inc-404 HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 404);
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(errors) {
  static const struct {
    const char *req;
    int status;
  } cases[] = {
      {"GET /nope HTTP/1.1\r\n\r\n", 404},
      {"POST /api/v1/status HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
      {"GET /api/v1/status HTTP/2.0\r\n\r\n", 505},
      {"GARBAGE\r\n\r\n", 400},
      {"GET noslash HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400},
      {"GET /%zz HTTP/1.1\r\n\r\n", 400},
      {"GET /api/v1/outages?bogus=1 HTTP/1.1\r\n\r\n", 400},
      {"GET /api/v1/status HTTP/1.0\n\n", 200}, /* bare LF line ends are accepted */
  };
  fixture_t f;
  vtg_buf_t r;
  ASSERT_EQ(fixture_init(&f), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ASSERT_EQ(get(&f, cases[i].req, &r), 0);
    if (status_of(&r) != cases[i].status) fprintf(stderr, "request: %s", cases[i].req);
    ASSERT_EQ(status_of(&r), cases[i].status);
    ASSERT(length_ok(&r));
    if (cases[i].status == 405) ASSERT(strstr(r.data, "\r\nAllow: GET, HEAD\r\n") != NULL);
    vtg_buf_free(&r);
  }
  /* A head over 16 KiB. */
  {
    size_t n = 20000;
    char *big = malloc(n + 64);
    ASSERT(big != NULL);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', n);
    memcpy(big + 19 + n, "\r\n\r\n", 4);
    ASSERT_EQ(roundtrip(&f, big, 19 + n + 4, &r), 0);
    free(big);
    ASSERT_EQ(status_of(&r), 431);
    vtg_buf_free(&r);
  }
  /* A NUL byte in the head. */
  {
    static const char nul_req[] = "GET /\0 HTTP/1.1\r\n\r\n";
    ASSERT_EQ(roundtrip(&f, nul_req, sizeof nul_req - 1, &r), 0);
  }
  ASSERT_EQ(status_of(&r), 400);
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(head_has_no_body) {
  fixture_t f;
  vtg_buf_t r;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(get(&f, "HEAD /api/v1/checks HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  ASSERT(body_of(&r) != NULL && *body_of(&r) == '\0');
  ASSERT(strstr(r.data, "\r\nContent-Length: 0\r\n") == NULL);
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST(metrics_and_page) {
  fixture_t f;
  vtg_buf_t r;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(get(&f, "GET /metrics HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  ASSERT(strstr(r.data, "Content-Type: text/plain; version=0.0.4") != NULL);
  ASSERT(strstr(r.data, "\nvantage_build_info{version=\"") != NULL);
  ASSERT(strstr(r.data, "\nvantage_region_state{check=\"shop-web\",region=\"eu-west\","
                        "state=\"unknown\"} 1\n") != NULL);
  ASSERT(strstr(r.data, "\nvantage_region_up{") == NULL); /* absent while unknown */
  ASSERT(strstr(r.data, "\nvantage_agent_connected{agent=\"us-west-1\",region=\"us-west\"} 1\n") !=
         NULL);
  ASSERT(strstr(r.data, "\nvantage_check_incident_open{check=\"shop-web\",service=\"shop\","
                        "kind=\"web\"} 1\n") != NULL);
  ASSERT(strstr(r.data, "\nvantage_check_incident_open{check=\"shop <api>\",service=\"shop\","
                        "kind=\"api\"} 0\n") != NULL);
  vtg_buf_free(&r);

  ASSERT_EQ(get(&f, "GET / HTTP/1.1\r\n\r\n", &r), 0);
  ASSERT_EQ(status_of(&r), 200);
  ASSERT(strstr(r.data, "Content-Type: text/html; charset=utf-8") != NULL);
  ASSERT(strstr(r.data, "shop &lt;api&gt;") != NULL); /* escaped */
  ASSERT(strstr(r.data, "<api>") == NULL);
  ASSERT(strstr(r.data, "inc-2") != NULL);            /* the open incident */
  ASSERT(length_ok(&r));
  vtg_buf_free(&r);
  ASSERT_EQ(fixture_close(&f), 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(api_checks) VTG_TEST_ENTRY(api_status_unknown)
                  VTG_TEST_ENTRY(api_outages) VTG_TEST_ENTRY(errors)
                      VTG_TEST_ENTRY(head_has_no_body) VTG_TEST_ENTRY(metrics_and_page))
