/* The check types of the agent: DNS answer parsing and matching, the body
 * regex, certificate days, the classifier's assertion inputs, spec
 * validation, and real TCP and DNS probes on a loop against loopback
 * helpers (a listener, a closed port, a tiny UDP DNS responder). */
#include <arpa/inet.h>
#include <ares.h>
#include <regex.h>

#include "internal.h"
#include "test.h"
#include "vtg/error.h"

/* --------------------------------------------------------- DNS messages */

/* Builds a response to a query for name (type qtype) with the given
 * answers: each {type, rdata, rdlen}. Returns the length. */
typedef struct {
  int type;
  const unsigned char *rd;
  size_t rdlen;
} rr_t;

static size_t put_name(unsigned char *p, const char *name) {
  size_t k = 0;
  while (*name) {
    const char *dot = strchr(name, '.');
    size_t l = dot ? (size_t)(dot - name) : strlen(name);
    p[k++] = (unsigned char)l;
    memcpy(p + k, name, l);
    k += l;
    name += l;
    if (*name == '.') name++;
  }
  p[k++] = 0;
  return k;
}

static size_t build_response(unsigned char *buf, unsigned id, int rcode, const char *name,
                             int qtype, const rr_t *rrs, size_t n) {
  size_t k = 0;
  buf[k++] = (unsigned char)(id >> 8);
  buf[k++] = (unsigned char)id;
  buf[k++] = 0x81; /* QR, RD */
  buf[k++] = (unsigned char)(0x80 | rcode); /* RA */
  buf[k++] = 0;
  buf[k++] = 1;
  buf[k++] = 0;
  buf[k++] = (unsigned char)n;
  memset(buf + k, 0, 4);
  k += 4;
  k += put_name(buf + k, name);
  buf[k++] = (unsigned char)(qtype >> 8);
  buf[k++] = (unsigned char)qtype;
  buf[k++] = 0;
  buf[k++] = 1;
  for (size_t i = 0; i < n; i++) {
    buf[k++] = 0xc0; /* the question's name */
    buf[k++] = 12;
    buf[k++] = (unsigned char)(rrs[i].type >> 8);
    buf[k++] = (unsigned char)rrs[i].type;
    buf[k++] = 0;
    buf[k++] = 1;
    memset(buf + k, 0, 3);
    k += 3;
    buf[k++] = 60;
    buf[k++] = (unsigned char)(rrs[i].rdlen >> 8);
    buf[k++] = (unsigned char)rrs[i].rdlen;
    memcpy(buf + k, rrs[i].rd, rrs[i].rdlen);
    k += rrs[i].rdlen;
  }
  return k;
}

VTG_TEST(dns_answers_parse) {
  unsigned char buf[1024], mx[64], cname[64], txt[] = "\3abc\2de";
  char out[8][VTG_DNS_ANSWER_MAX];
  size_t n = 0;
  static const unsigned char a1[] = {192, 0, 2, 1}, a2[] = {192, 0, 2, 2};
  unsigned char a6[16];
  inet_pton(AF_INET6, "2001:db8::1", a6);

  rr_t rrs[] = {{5, cname, put_name(cname, "edge.example.net")}, {1, a1, 4}, {1, a2, 4}};
  size_t len = build_response(buf, 7, 0, "example.com", 1, rrs, 3);
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_A, out, 8, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(out[0], "192.0.2.1");
  ASSERT_STR_EQ(out[1], "192.0.2.2");
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_CNAME, out, 8, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(out[0], "edge.example.net");
  /* max caps the answers written */
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_A, out, 1, &n), 0);
  ASSERT_EQ(n, 1);

  mx[0] = 0;
  mx[1] = 10;
  size_t mxl = 2 + put_name(mx + 2, "mail.example.com");
  rr_t r2[] = {{15, mx, mxl}, {28, a6, 16}, {16, txt, sizeof txt - 1}};
  len = build_response(buf, 8, 0, "example.com", 15, r2, 3);
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_MX, out, 8, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(out[0], "mail.example.com");
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_AAAA, out, 8, &n), 0);
  ASSERT_STR_EQ(out[0], "2001:db8::1");
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_TXT, out, 8, &n), 0);
  ASSERT_STR_EQ(out[0], "abcde");

  /* Truncated anywhere: refused, never read past the end. */
  for (size_t cut = 0; cut < len; cut++) {
    int rc = vtg_dns_answers(buf, (int)cut, VANTAGE__DNS_RECORD__DNS_RECORD_TXT, out, 8, &n);
    ASSERT(rc == VTG_EINVAL);
  }
  ASSERT_EQ(vtg_dns_answers(buf, 11, VANTAGE__DNS_RECORD__DNS_RECORD_A, out, 8, &n), VTG_EINVAL);
  /* An A record of the wrong length is malformed. */
  rr_t bad[] = {{1, a1, 3}};
  len = build_response(buf, 9, 0, "x.y", 1, bad, 1);
  ASSERT_EQ(vtg_dns_answers(buf, (int)len, VANTAGE__DNS_RECORD__DNS_RECORD_A, out, 8, &n),
            VTG_EINVAL);
  return 0;
}

VTG_TEST(dns_expect_match) {
  char ans[3][VTG_DNS_ANSWER_MAX] = {"192.0.2.1", "2001:db8::1", "Mail.Example.COM."};
  char *e1[] = {"192.0.2.1"};
  char *e2[] = {"192.0.2.1", "192.0.2.9"};
  char *e3[] = {"2001:0db8:0::1"};
  char *e4[] = {"mail.example.com"};
  const char *missing = NULL;
  ASSERT(vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_A, ans, 1, e1, 1, &missing));
  ASSERT(!vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_A, ans, 1, e2, 2, &missing));
  ASSERT_STR_EQ(missing, "192.0.2.9");
  ASSERT(vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_AAAA, ans + 1, 1, e3, 1, NULL));
  ASSERT(vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_MX, ans + 2, 1, e4, 1, NULL));
  ASSERT(!vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_TXT, ans + 2, 1, e4, 1, NULL));
  /* No expectation: any answer will do. */
  ASSERT(vtg_dns_expect_met(VANTAGE__DNS_RECORD__DNS_RECORD_A, ans, 1, NULL, 0, NULL));
  return 0;
}

VTG_TEST(body_regex_and_days) {
  regex_t re;
  ASSERT_EQ(regcomp(&re, "^ok( [0-9]+)?$", REG_EXTENDED | REG_NOSUB | REG_NEWLINE), 0);
  ASSERT(vtg_http_body_matches(&re, "ok 42", 5));
  /* Line semantics, as the agent compiles it: "$" before a newline. */
  ASSERT(vtg_http_body_matches(&re, "ok 42\n", 6));
  ASSERT(vtg_http_body_matches(&re, "status\nok\n", 10));
  ASSERT(vtg_http_body_matches(&re, "ok 42", 4));
  ASSERT(!vtg_http_body_matches(&re, "<html>maintenance</html>", 24));
  ASSERT(!vtg_http_body_matches(&re, NULL, 0));
  regfree(&re);
  /* Bodies may hold NULs: the match runs over exactly len bytes. */
  ASSERT_EQ(regcomp(&re, "needle", REG_EXTENDED | REG_NOSUB), 0);
  static const char bin[] = "ab\0cd needle";
  ASSERT(vtg_http_body_matches(&re, bin, sizeof bin - 1));
  ASSERT(!vtg_http_body_matches(&re, bin, 8));
  regfree(&re);

  ASSERT_EQ(vtg_tls_days_left(86400 * 10, 0), 10);
  ASSERT_EQ(vtg_tls_days_left(86400 * 10 - 1, 0), 9);
  ASSERT_EQ(vtg_tls_days_left(0, 0), 0);
  ASSERT_EQ(vtg_tls_days_left(0, 1), -1);
  ASSERT_EQ(vtg_tls_days_left(0, 86400), -1);
  ASSERT_EQ(vtg_tls_days_left(0, 86401), -2);
  return 0;
}

VTG_TEST(classify_assertions) {
  Vantage__Outcome o;
  Vantage__ErrorClass c;
  vtg_http_facts_t f = {.code = CURLE_OK, .http_status = 200, .assertion_failed = 1};
  vtg_http_classify(&f, &o, &c);
  ASSERT_EQ(o, VANTAGE__OUTCOME__OUTCOME_DOWN);
  ASSERT_EQ(c, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION);
  /* A wrong status still says so: the status is the first assertion. */
  f.http_status = 404;
  vtg_http_classify(&f, &o, &c);
  ASSERT_EQ(c, VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_4XX);
  /* A TLS check has no status; only its assertions and latency count. */
  vtg_http_facts_t t = {.code = CURLE_OK, .no_status = 1, .total_us = 5000, .max_latency_ms = 2};
  vtg_http_classify(&t, &o, &c);
  ASSERT_EQ(o, VANTAGE__OUTCOME__OUTCOME_DEGRADED);
  t.max_latency_ms = 0;
  vtg_http_classify(&t, &o, &c);
  ASSERT_EQ(o, VANTAGE__OUTCOME__OUTCOME_UP);
  t.code = CURLE_PEER_FAILED_VERIFICATION;
  vtg_http_classify(&t, &o, &c);
  ASSERT_EQ(c, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS);
  return 0;
}

VTG_TEST(spec_validation) {
  Vantage__Check m = VANTAGE__CHECK__INIT;
  vtg_check_spec_t *s = NULL;
  char why[200];
  char *hdrs[] = {"X-A: 1", "X-B: 2"};
  m.id = 3;
  m.url = "http://h/";
  m.body_regex = "^ok$";
  m.headers = hdrs;
  m.n_headers = 2;
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), 0);
  ASSERT(s->body_re != NULL && s->headers != NULL && s->headers->next != NULL);
  ASSERT_STR_EQ(s->method, "GET");
  ASSERT_EQ(s->timeout_ms, 500);
  vtg_check_spec_t *r = vtg_check_spec_ref(s);
  vtg_check_spec_unref(s);
  vtg_check_spec_unref(r);

  m.body_regex = "ok([";
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL);
  ASSERT(strstr(why, "body_regex") != NULL);
  m.body_regex = "";
  char *bad[] = {"X-A: 1\r\nX-Injected: 1"};
  m.headers = bad;
  m.n_headers = 1;
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL);
  m.n_headers = 0;
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP;
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL); /* no target */
  m.target = "127.0.0.1:1";
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), 0);
  vtg_check_spec_unref(s);
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_TLS; /* url is http:// */
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL);
  m.type = (Vantage__CheckType)42;
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL);
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS;
  m.dns_name = "example.com";
  m.dns_record = (Vantage__DnsRecord)9;
  ASSERT_EQ(vtg_check_spec_new(&m, 500, &s, why, sizeof why), VTG_EINVAL);
  return 0;
}

/* ------------------------------------------------------ probes on a loop */

typedef struct {
  uv_loop_t loop;
  vtg_check_env_t env;
  vtg_probe_result_t r;
  int got;
} fx_t;

static void on_result(vtg_probe_t *p, const vtg_probe_result_t *r) {
  fx_t *f = p->data;
  f->r = *r;
  f->got++;
  /* UV_RUN_ONCE would go on to block in poll when this ran from a timer. */
  uv_stop(&f->loop);
}

static void fx_init(fx_t *f) {
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  f->env.loop = &f->loop;
  f->env.source_address = "127.0.0.1";
}

/* Runs one probe of m to completion; returns 0 when its result came. */
static int run_probe(fx_t *f, Vantage__Check *m, uint32_t timeout_ms) {
  vtg_check_spec_t *s = NULL;
  vtg_probe_t *p = NULL;
  char why[200];
  f->got = 0;
  if (vtg_check_spec_new(m, timeout_ms, &s, why, sizeof why) != 0) return 1;
  int rc = vtg_probe_start(&f->env, s, on_result, f, &p);
  vtg_check_spec_unref(s); /* the probe holds its own reference */
  if (rc != 0) return 1;
  while (!f->got && uv_run(&f->loop, UV_RUN_DEFAULT)) {
  }
  /* let the probe's handles close */
  (void)uv_run(&f->loop, UV_RUN_NOWAIT);
  return f->got == 1 ? 0 : 1;
}

static int fx_close(fx_t *f) {
  (void)uv_run(&f->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&f->loop);
}

static void on_conn(uv_stream_t *server, int status) {
  (void)server;
  (void)status; /* the kernel completed the handshake; nothing to do */
}

VTG_TEST(tcp_probe) {
  fx_t f;
  uv_tcp_t srv;
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char target[64];
  Vantage__Check m = VANTAGE__CHECK__INIT;
  fx_init(&f);
  ASSERT_EQ(uv_tcp_init(&f.loop, &srv), 0);
  uv_ip4_addr("127.0.0.1", 0, &a);
  ASSERT_EQ(uv_tcp_bind(&srv, (struct sockaddr *)&a, 0), 0);
  ASSERT_EQ(uv_listen((uv_stream_t *)&srv, 8, on_conn), 0);
  ASSERT_EQ(uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &len), 0);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

  m.id = 1;
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP;
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  m.target = target;
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_UP);
  ASSERT_EQ(f.r.check_id, 1);
  ASSERT_STR_EQ(f.r.resolved_addr, "127.0.0.1");
  ASSERT(f.r.start_us > 0);

  /* "localhost" goes through the lookup. */
  snprintf(target, sizeof target, "localhost:%d", port);
  m.ip_version = 4;
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_UP);

  /* Closed listener: refused. */
  uv_close((uv_handle_t *)&srv, NULL);
  (void)uv_run(&f.loop, UV_RUN_NOWAIT);
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_DOWN);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_REFUSED);
  ASSERT(strstr(f.r.error_detail, "refused") != NULL);

  /* A source address of the wrong family cannot bind: reported (next loop
   * turn), never a crash or a synchronous callback. */
  f.env.source_address = "::1";
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_DOWN);
  f.env.source_address = "127.0.0.1";
  ASSERT_EQ(fx_close(&f), 0);
  return 0;
}

VTG_TEST(tcp_probe_abort) {
  fx_t f;
  vtg_check_spec_t *s = NULL;
  vtg_probe_t *p = NULL;
  char why[100];
  Vantage__Check m = VANTAGE__CHECK__INIT;
  fx_init(&f);
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP;
  m.target = "localhost:9";
  ASSERT_EQ(vtg_check_spec_new(&m, 1000, &s, why, sizeof why), 0);
  ASSERT_EQ(vtg_probe_start(&f.env, s, on_result, &f, &p), 0);
  vtg_probe_abort(p); /* mid-lookup */
  vtg_check_spec_unref(s);
  ASSERT_EQ(fx_close(&f), 0);
  ASSERT_EQ(f.got, 0);
  return 0;
}

/* A UDP DNS responder: answers every query for its name with rcode and
 * the A record 192.0.2.7, or stays silent when silent is set. */
typedef struct {
  uv_udp_t udp;
  int rcode;
  int silent;
  int queries;
  unsigned char buf[512];
  unsigned char out[512];
  uv_udp_send_t sreq;
} dns_srv_t;

static void dns_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  dns_srv_t *d = h->data;
  (void)sz;
  *b = uv_buf_init((char *)d->buf, sizeof d->buf);
}

static void dns_sent(uv_udp_send_t *req, int status) {
  (void)req;
  (void)status;
}

static void dns_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags) {
  dns_srv_t *d = h->data;
  (void)b;
  (void)flags;
  if (n < 12 || from == NULL) return;
  d->queries++;
  if (d->silent) return;
  static const unsigned char a[] = {192, 0, 2, 7};
  rr_t rr = {1, a, 4};
  /* The question's name, read back from the query. */
  char name[256];
  size_t k = 12, o = 0;
  while (k < (size_t)n && d->buf[k] != 0 && o < sizeof name - 65) {
    size_t l = d->buf[k++];
    if (o) name[o++] = '.';
    memcpy(name + o, d->buf + k, l);
    o += l;
    k += l;
  }
  name[o] = '\0';
  size_t len = build_response(d->out, (unsigned)(d->buf[0] << 8 | d->buf[1]), d->rcode, name, 1,
                              &rr, d->rcode == 0 ? 1 : 0);
  uv_buf_t ob = uv_buf_init((char *)d->out, (unsigned)len);
  (void)uv_udp_send(&d->sreq, h, &ob, 1, from, dns_sent);
}

VTG_TEST(dns_probe) {
  fx_t f;
  dns_srv_t d;
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char resolver[64];
  char *expect_ok[] = {"192.0.2.7"}, *expect_bad[] = {"192.0.2.8"};
  Vantage__Check m = VANTAGE__CHECK__INIT;
  fx_init(&f);
  memset(&d, 0, sizeof d);
  ASSERT_EQ(uv_udp_init(&f.loop, &d.udp), 0);
  d.udp.data = &d;
  uv_ip4_addr("127.0.0.1", 0, &a);
  ASSERT_EQ(uv_udp_bind(&d.udp, (struct sockaddr *)&a, 0), 0);
  ASSERT_EQ(uv_udp_getsockname(&d.udp, (struct sockaddr *)&ss, &len), 0);
  ASSERT_EQ(uv_udp_recv_start(&d.udp, dns_alloc, dns_recv), 0);
  snprintf(resolver, sizeof resolver, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));

  m.id = 2;
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS;
  m.dns_name = "shop.test";
  m.dns_resolver = resolver;
  m.dns_expect = expect_ok;
  m.n_dns_expect = 1;
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_UP);
  ASSERT_STR_EQ(f.r.resolved_addr, "192.0.2.7");
  /* Every probe asks afresh: no cache. */
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(d.queries, 2);

  m.dns_expect = expect_bad;
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_DOWN);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION);
  ASSERT(strstr(f.r.error_detail, "192.0.2.8") != NULL);

  m.n_dns_expect = 0;
  d.rcode = 2; /* SERVFAIL */
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS);

  /* Only an A record in the answer to an AAAA query: no AAAA, class dns. */
  d.rcode = 0;
  m.dns_record = VANTAGE__DNS_RECORD__DNS_RECORD_AAAA;
  ASSERT_EQ(run_probe(&f, &m, 1000), 0);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS);
  m.dns_record = VANTAGE__DNS_RECORD__DNS_RECORD_A;

  d.silent = 1;
  uint64_t t0 = uv_now(&f.loop);
  ASSERT_EQ(run_probe(&f, &m, 300), 0);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS);
  ASSERT(uv_now(&f.loop) - t0 >= 250 && uv_now(&f.loop) - t0 < 2000);

  uv_close((uv_handle_t *)&d.udp, NULL);
  ASSERT_EQ(fx_close(&f), 0);
  return 0;
}

VTG_TEST(dns_probe_abort) {
  fx_t f;
  dns_srv_t d;
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char resolver[64];
  vtg_check_spec_t *s = NULL;
  vtg_probe_t *p = NULL;
  char why[100];
  Vantage__Check m = VANTAGE__CHECK__INIT;
  fx_init(&f);
  /* A resolver that reads and never answers. */
  memset(&d, 0, sizeof d);
  d.silent = 1;
  ASSERT_EQ(uv_udp_init(&f.loop, &d.udp), 0);
  d.udp.data = &d;
  uv_ip4_addr("127.0.0.1", 0, &a);
  ASSERT_EQ(uv_udp_bind(&d.udp, (struct sockaddr *)&a, 0), 0);
  ASSERT_EQ(uv_udp_getsockname(&d.udp, (struct sockaddr *)&ss, &len), 0);
  ASSERT_EQ(uv_udp_recv_start(&d.udp, dns_alloc, dns_recv), 0);
  snprintf(resolver, sizeof resolver, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  m.type = VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS;
  m.dns_name = "x.test";
  m.dns_resolver = resolver;
  ASSERT_EQ(vtg_check_spec_new(&m, 1000, &s, why, sizeof why), 0);
  ASSERT_EQ(vtg_probe_start(&f.env, s, on_result, &f, &p), 0);
  while (d.queries == 0) (void)uv_run(&f.loop, UV_RUN_ONCE);
  ASSERT_EQ(f.got, 0);
  vtg_probe_abort(p); /* with the query in flight */
  vtg_check_spec_unref(s);
  uv_close((uv_handle_t *)&d.udp, NULL);
  ASSERT_EQ(fx_close(&f), 0);
  ASSERT_EQ(f.got, 0);
  return 0;
}

/* A one-shot HTTP server for the HTTP probe: answers by path, keeps the
 * last request it read (head and body) for the test to look at. */
typedef struct {
  uv_tcp_t srv;
  char req[8192];
  size_t req_len;
  int requests;
} http_srv_t;

typedef struct {
  uv_tcp_t tcp;
  uv_write_t w;
  http_srv_t *s;
  char buf[8192];
  size_t len;
  char resp[512];
  int answered;
} http_conn_t;

static void hc_closed(uv_handle_t *h) {
  free(h->data);
}

static void hc_written(uv_write_t *w, int status) {
  http_conn_t *c = w->data;
  (void)status;
  uv_close((uv_handle_t *)&c->tcp, hc_closed);
}

static void hc_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  http_conn_t *c = h->data;
  (void)sz;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - 1 - c->len));
}

static void hc_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  http_conn_t *c = st->data;
  (void)b;
  if (n < 0) {
    if (!c->answered) uv_close((uv_handle_t *)&c->tcp, hc_closed);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  char *end = strstr(c->buf, "\r\n\r\n");
  if (end == NULL || c->answered) return;
  const char *cl = strcasestr(c->buf, "content-length:");
  size_t want = (size_t)(end + 4 - c->buf) + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
  if (c->len < want) return;
  c->answered = 1;
  memcpy(c->s->req, c->buf, c->len + 1);
  c->s->req_len = c->len;
  c->s->requests++;
  const char *body = "ok\n";
  int status = 200;
  char extra[64] = "";
  if (strncmp(strchr(c->buf, ' ') + 1, "/redirect ", 10) == 0) {
    status = 302;
    body = "moved\n";
    snprintf(extra, sizeof extra, "Location: /final\r\n");
  } else if (strncmp(strchr(c->buf, ' ') + 1, "/final ", 7) == 0) {
    body = "ok final\n";
  }
  snprintf(c->resp, sizeof c->resp,
           "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status, extra,
           strlen(body), body);
  uv_buf_t ob = uv_buf_init(c->resp, (unsigned)strlen(c->resp));
  c->w.data = c;
  uv_read_stop(st);
  if (uv_write(&c->w, st, &ob, 1, hc_written) != 0) uv_close((uv_handle_t *)&c->tcp, hc_closed);
}

static void hs_conn(uv_stream_t *server, int status) {
  http_srv_t *s = server->data;
  if (status < 0) return;
  http_conn_t *c = calloc(1, sizeof *c);
  c->s = s;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, hc_alloc, hc_read) != 0)
    uv_close((uv_handle_t *)&c->tcp, hc_closed);
}

static void cu_closed(vtg_curl_uv_t *cu) {
  (void)cu;
}

VTG_TEST(http_probe_extras) {
  fx_t f;
  http_srv_t srv;
  vtg_curl_uv_t cu;
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char url[128];
  char *hdrs[] = {"X-Test: 1", "Content-Type: application/json"};
  Vantage__Check m = VANTAGE__CHECK__INIT;
  fx_init(&f);
  memset(&srv, 0, sizeof srv);
  memset(&cu, 0, sizeof cu);
  ASSERT_EQ(vtg_curl_uv_init(&f.loop, &cu, vtg_http_probe_done), 0);
  f.env.cu = &cu;
  ASSERT_EQ(uv_tcp_init(&f.loop, &srv.srv), 0);
  srv.srv.data = &srv;
  uv_ip4_addr("127.0.0.1", 0, &a);
  ASSERT_EQ(uv_tcp_bind(&srv.srv, (struct sockaddr *)&a, 0), 0);
  ASSERT_EQ(uv_listen((uv_stream_t *)&srv.srv, 8, hs_conn), 0);
  ASSERT_EQ(uv_tcp_getsockname(&srv.srv, (struct sockaddr *)&ss, &len), 0);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

  /* Method, headers and body reach the server; the regex judges the body. */
  snprintf(url, sizeof url, "http://localhost:%d/", port);
  m.id = 5;
  m.url = url;
  m.method = "PUT";
  m.headers = hdrs;
  m.n_headers = 2;
  m.body = "{\"q\": 1}";
  m.body_regex = "^ok$";
  m.ip_version = 4; /* localhost may also be ::1, where nobody listens */
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_UP);
  ASSERT_EQ(f.r.http_status, 200);
  ASSERT_STR_EQ(f.r.resolved_addr, "127.0.0.1");
  ASSERT(strncmp(srv.req, "PUT / HTTP/1.1\r\n", 16) == 0);
  ASSERT(strstr(srv.req, "\r\nX-Test: 1\r\n") != NULL);
  ASSERT(strstr(srv.req, "\r\nContent-Type: application/json\r\n") != NULL);
  ASSERT(srv.req_len > 8 && memcmp(srv.req + srv.req_len - 8, "{\"q\": 1}", 8) == 0);

  m.body_regex = "^maintenance";
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_DOWN);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION);
  ASSERT(strstr(f.r.error_detail, "body_regex") != NULL);

  /* IPv6 only: nobody listens on ::1 here, so the connect fails. */
  m.body_regex = "";
  m.ip_version = 6;
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_DOWN);
  m.ip_version = 0;

  /* Redirects: not followed by default (302 is in 200-399), followed on
   * request, landing on the final page's body. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect", port);
  m.method = "GET";
  m.body = "";
  m.n_headers = 0;
  m.body_regex = "final";
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.http_status, 302);
  ASSERT_EQ(f.r.error_class, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION); /* body "moved" */
  int before = srv.requests;
  m.follow_redirects = 1;
  ASSERT_EQ(run_probe(&f, &m, 2000), 0);
  ASSERT_EQ(f.r.http_status, 200);
  ASSERT_EQ(f.r.outcome, VANTAGE__OUTCOME__OUTCOME_UP);
  ASSERT_EQ(srv.requests - before, 2);

  uv_close((uv_handle_t *)&srv.srv, NULL);
  vtg_curl_uv_close(&cu, cu_closed);
  ASSERT_EQ(fx_close(&f), 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(dns_answers_parse) VTG_TEST_ENTRY(dns_expect_match)
                  VTG_TEST_ENTRY(body_regex_and_days) VTG_TEST_ENTRY(classify_assertions)
                      VTG_TEST_ENTRY(spec_validation) VTG_TEST_ENTRY(tcp_probe)
                          VTG_TEST_ENTRY(tcp_probe_abort) VTG_TEST_ENTRY(dns_probe)
                              VTG_TEST_ENTRY(dns_probe_abort) VTG_TEST_ENTRY(http_probe_extras))
