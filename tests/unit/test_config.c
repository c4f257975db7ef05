/* The coordinator's config loader: a good config with every key, defaults,
 * and each kind of error naming the right line:column. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "test.h"
#include "vtg/error.h"

static const char good[] =
    "listen:\n"
    "  agents: 127.0.0.1:0\n"
    "  http: '[::1]:7380'\n"
    "store: /tmp/x.db\n"
    "log_level: debug\n"
    "heartbeat: 2s\n"
    "idle_timeout: 7s\n"
    "max_frame: 65536\n"
    "detection:\n"
    "  fail_threshold: 3\n"
    "  recover_threshold: 4\n"
    "  min_regions: 2\n"
    "  merge_gap: 30s\n"
    "  settle: 5s\n"
    "  lateness: 3s\n"
    "agents:\n"
    "  - {id: us-east-1, region: us-east, country: US, lat: 40.7, lon: -74.0}\n"
    "  - {id: eu-west-1, region: eu-west}\n"
    "services:\n"
    "  - name: shop\n"
    "    endpoints:\n"
    "      - check: shop-web\n"
    "        kind: web\n"
    "        url: http://127.0.0.1:8080/\n"
    "        interval: 1s\n"
    "        timeout: 700ms\n"
    "        accept: [200-299, 304, \"400 - 404\"]\n"
    "        max_latency: 300ms\n"
    "        regions: [us-east]\n"
    "      - {check: shop-api, kind: api, url: 'https://[::1]/api', method: POST}\n"
    "  - name: blog\n"
    "    endpoints:\n"
    "      - {check: blog-web, url: http://example.com}\n";

/* Loads text; returns the error code and copies the message. */
static int load(const char *text, vtg_coord_config_t *cfg, char *err, size_t errlen) {
  return vtg_config_load_string("cfg", text, cfg, err, errlen);
}

/* Fails unless text is refused with an error starting with prefix
 * ("cfg:LINE:COL: ") and containing needle. */
static int expect_error(const char *text, const char *prefix, const char *needle) {
  vtg_coord_config_t cfg;
  char err[600];
  int rc = load(text, &cfg, err, sizeof err);
  if (rc != VTG_ECONFIG) {
    fprintf(stderr, "expected a config error, got %d (%s)\n", rc, err);
    return 1;
  }
  if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, needle) == NULL) {
    fprintf(stderr, "error \"%s\"\n  wanted prefix \"%s\" and \"%s\"\n", err, prefix, needle);
    return 1;
  }
  /* The config is left zeroed: freeing it again is harmless. */
  vtg_config_free(&cfg);
  return 0;
}

VTG_TEST(good) {
  vtg_coord_config_t cfg;
  char err[600];
  int rc = load(good, &cfg, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(cfg.agent_listen, "127.0.0.1:0");
  ASSERT_STR_EQ(cfg.http_listen, "[::1]:7380");
  ASSERT_STR_EQ(cfg.store_path, "/tmp/x.db");
  ASSERT_STR_EQ(cfg.log_level, "debug");
  ASSERT_EQ(cfg.heartbeat_us, 2000000);
  ASSERT_EQ(cfg.idle_timeout_us, 7000000);
  ASSERT_EQ(cfg.max_frame, 65536);
  ASSERT_EQ(cfg.detect.fail_threshold, 3);
  ASSERT_EQ(cfg.detect.recover_threshold, 4);
  ASSERT_EQ(cfg.detect.min_regions, 2);
  ASSERT_EQ(cfg.detect.merge_gap_us, 30000000);
  ASSERT_EQ(cfg.detect.settle_us, 5000000);
  ASSERT_EQ(cfg.detect.lateness_us, 3000000);
  ASSERT_EQ(vtg_config_settle_us(&cfg), 5000000);
  ASSERT(cfg.has_registry);
  ASSERT_EQ(cfg.n_registry, 2);
  const vtg_registry_entry_t *r = vtg_config_registry_find(&cfg, "us-east-1");
  ASSERT(r != NULL);
  ASSERT_STR_EQ(r->region, "us-east");
  ASSERT_STR_EQ(r->country, "US");
  ASSERT(r->lat > 40.69 && r->lat < 40.71 && r->lon < -73.99 && r->lon > -74.01);
  r = vtg_config_registry_find(&cfg, "eu-west-1");
  ASSERT(r != NULL);
  ASSERT_STR_EQ(r->country, "");
  ASSERT(vtg_config_registry_find(&cfg, "nope") == NULL);

  ASSERT_EQ(cfg.n_services, 2);
  ASSERT_STR_EQ(cfg.services[0], "shop");
  ASSERT_STR_EQ(cfg.services[1], "blog");
  ASSERT_EQ(cfg.n_checks, 3);
  const vtg_check_cfg_t *w = &cfg.checks[0];
  ASSERT_STR_EQ(w->name, "shop-web");
  ASSERT_STR_EQ(w->service, "shop");
  ASSERT_STR_EQ(w->kind, "web");
  ASSERT_STR_EQ(w->url, "http://127.0.0.1:8080/");
  ASSERT_STR_EQ(w->method, "GET");
  ASSERT_EQ(w->interval_us, 1000000);
  ASSERT_EQ(w->timeout_us, 700000);
  ASSERT_EQ(w->max_latency_us, 300000);
  ASSERT_EQ(w->n_accept, 3);
  ASSERT_EQ(w->accept[0].lo, 200);
  ASSERT_EQ(w->accept[0].hi, 299);
  ASSERT_EQ(w->accept[1].lo, 304);
  ASSERT_EQ(w->accept[1].hi, 304);
  ASSERT_EQ(w->accept[2].lo, 400);
  ASSERT_EQ(w->accept[2].hi, 404);
  ASSERT_EQ(w->n_regions, 1);
  ASSERT_STR_EQ(w->regions[0], "us-east");
  ASSERT_EQ(w->line, 22);
  ASSERT(vtg_config_check_applies(w, "us-east"));
  ASSERT(!vtg_config_check_applies(w, "eu-west"));

  const vtg_check_cfg_t *a = &cfg.checks[1];
  ASSERT_STR_EQ(a->name, "shop-api");
  ASSERT_STR_EQ(a->kind, "api");
  ASSERT_STR_EQ(a->method, "POST");
  ASSERT_STR_EQ(a->url, "https://[::1]/api");
  ASSERT_EQ(a->interval_us, 30000000); /* defaults */
  ASSERT_EQ(a->timeout_us, 10000000);
  ASSERT_EQ(a->max_latency_us, 0);
  ASSERT_EQ(a->n_accept, 0);
  ASSERT_EQ(a->n_regions, 0);
  ASSERT(vtg_config_check_applies(a, "anywhere"));

  const vtg_check_cfg_t *b = &cfg.checks[2];
  ASSERT_STR_EQ(b->service, "blog");
  ASSERT_STR_EQ(b->kind, "web");
  vtg_config_free(&cfg);
  return 0;
}

VTG_TEST(defaults) {
  vtg_coord_config_t cfg;
  char err[600];
  ASSERT_EQ(load("services:\n  - name: s\n    endpoints:\n"
                 "      - {check: c, url: 'http://h', interval: 4s}\n",
                 &cfg, err, sizeof err),
            0);
  ASSERT_STR_EQ(cfg.agent_listen, "127.0.0.1:7300");
  ASSERT_STR_EQ(cfg.http_listen, "127.0.0.1:7380");
  ASSERT_STR_EQ(cfg.store_path, "./vantage.db");
  ASSERT_STR_EQ(cfg.log_level, "info");
  ASSERT_EQ(cfg.heartbeat_us, 5000000);
  ASSERT_EQ(cfg.idle_timeout_us, 15000000);
  ASSERT_EQ(cfg.max_frame, 1 << 20);
  ASSERT_EQ(cfg.detect.fail_threshold, 2);
  ASSERT_EQ(cfg.detect.recover_threshold, 2);
  ASSERT_EQ(cfg.detect.min_regions, 2);
  ASSERT_EQ(cfg.detect.merge_gap_us, 300000000);
  ASSERT_EQ(cfg.detect.settle_us, 0);
  ASSERT_EQ(cfg.detect.lateness_us, 10000000);
  ASSERT(!cfg.has_registry);
  /* interval 4s: the default 10s timeout would not fit; half the interval. */
  ASSERT_EQ(cfg.checks[0].timeout_us, 2000000);
  ASSERT_EQ(vtg_config_settle_us(&cfg), 6000000); /* auto: interval + timeout */
  vtg_config_free(&cfg);

  /* An empty file is a valid config with no checks. */
  ASSERT_EQ(load("", &cfg, err, sizeof err), 0);
  ASSERT_EQ(cfg.n_checks, 0);
  vtg_config_free(&cfg);
  /* settle: auto spelled out. */
  ASSERT_EQ(load("detection: {settle: auto}\n", &cfg, err, sizeof err), 0);
  ASSERT_EQ(cfg.detect.settle_us, 0);
  vtg_config_free(&cfg);
  return 0;
}

VTG_TEST(from_file) {
  char path[] = "/tmp/vtg-test-config-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  ASSERT_EQ(write(fd, good, sizeof good - 1), (long long)(sizeof good - 1));
  close(fd);
  vtg_coord_config_t cfg;
  char err[600];
  int rc = vtg_config_load(path, &cfg, err, sizeof err);
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(cfg.path, path);
  ASSERT_EQ(cfg.n_checks, 3);
  vtg_config_free(&cfg);
  /* An error names the file. */
  FILE *f = fopen(path, "w");
  ASSERT(f != NULL);
  fputs("listen:\n  agent: 1.2.3.4:5\n", f);
  fclose(f);
  ASSERT_EQ(vtg_config_load(path, &cfg, err, sizeof err), VTG_ECONFIG);
  char want[128];
  snprintf(want, sizeof want, "%s:2:3: unknown key 'agent'", path);
  ASSERT(strncmp(err, want, strlen(want)) == 0);
  unlink(path);
  ASSERT(vtg_config_load(path, &cfg, err, sizeof err) != 0); /* missing file */
  ASSERT(strstr(err, path) != NULL);
  return 0;
}

VTG_TEST(unknown_keys) {
  ASSERT_EQ(expect_error("listen: {agents: '1.2.3.4:1'}\nstroe: x\n", "cfg:2:1: ",
                         "unknown key 'stroe'"),
            0);
  ASSERT_EQ(expect_error("detection:\n  min_region: 3\n", "cfg:2:3: ", "unknown key 'min_region'"),
            0);
  ASSERT_EQ(expect_error("agents:\n  - {id: a, region: r, city: x}\n", "cfg:2:24: ",
                         "unknown key 'city'"),
            0);
  ASSERT_EQ(expect_error("services:\n  - name: s\n    owner: me\n    endpoints: []\n",
                         "cfg:3:5: ", "unknown key 'owner'"),
            0);
  ASSERT_EQ(expect_error("services:\n  - name: s\n    endpoints:\n"
                         "      - check: c\n        url: http://h/\n        intervall: 2s\n",
                         "cfg:6:9: ", "unknown key 'intervall'"),
            0);
  return 0;
}

VTG_TEST(bad_url) {
  const char *pre = "services:\n  - name: s\n    endpoints:\n      - check: c\n        url: ";
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s\n", pre, "ftp://example.com/");
  ASSERT_EQ(expect_error(buf, "cfg:5:14: ", "http:// or https://"), 0);
  snprintf(buf, sizeof buf, "%s%s\n", pre, "http:///path");
  ASSERT_EQ(expect_error(buf, "cfg:5:14: ", "no host"), 0);
  snprintf(buf, sizeof buf, "%s%s\n", pre, "'https://:80/'");
  ASSERT_EQ(expect_error(buf, "cfg:5:14: ", "no host"), 0);
  snprintf(buf, sizeof buf, "%s%s\n", pre, "http://h:99999/");
  ASSERT_EQ(expect_error(buf, "cfg:5:14: ", "invalid port"), 0);
  snprintf(buf, sizeof buf, "%s%s\n", pre, "example.com");
  ASSERT_EQ(expect_error(buf, "cfg:5:14: ", "http:// or https://"), 0);
  /* Missing url: at the endpoint. */
  ASSERT_EQ(expect_error("services:\n  - name: s\n    endpoints:\n      - {check: c}\n",
                         "cfg:4:9: ", "missing key 'url'"),
            0);
  return 0;
}

VTG_TEST(durations) {
  const char *pre = "services:\n  - name: s\n    endpoints:\n      - check: c\n"
                    "        url: http://h/\n";
  char buf[512];
  snprintf(buf, sizeof buf, "%s        interval: 1s\n        timeout: 1s\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:7:18: ", "timeout must be shorter than the interval"), 0);
  snprintf(buf, sizeof buf, "%s        interval: 50ms\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:19: ", "out of range"), 0);
  snprintf(buf, sizeof buf, "%s        interval: 30\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:19: ", "duration"), 0);
  snprintf(buf, sizeof buf, "%s        timeout: 2s\n        max_latency: 3s\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:7:22: ", "max_latency must be shorter"), 0);
  ASSERT_EQ(expect_error("heartbeat: 5s\nidle_timeout: 4s\n", "cfg:2:15: ", "idle_timeout"), 0);
  ASSERT_EQ(expect_error("detection:\n  settle: soon\n", "cfg:2:11: ", "duration"), 0);
  return 0;
}

VTG_TEST(accept) {
  const char *pre = "services:\n  - name: s\n    endpoints:\n      - check: c\n"
                    "        url: http://h/\n        accept: ";
  char buf[512];
  snprintf(buf, sizeof buf, "%s[200, 700]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:23: ", "HTTP status"), 0);
  snprintf(buf, sizeof buf, "%s[200, \"300-299\"]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:23: ", "empty"), 0);
  snprintf(buf, sizeof buf, "%s[200-99]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:18: ", "HTTP status"), 0);
  snprintf(buf, sizeof buf, "%s[ok]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:18: ", "HTTP status"), 0);
  snprintf(buf, sizeof buf, "%s200\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:17: ", "expected a sequence"), 0);
  snprintf(buf, sizeof buf, "%s[]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:17: ", "at least one"), 0);
  return 0;
}

VTG_TEST(regions) {
  const char *pre = "services:\n  - name: s\n    endpoints:\n      - check: c\n"
                    "        url: http://h/\n        regions: ";
  char buf[512];
  snprintf(buf, sizeof buf, "%s[us-east, {a: b}]\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:28: ", "region name"), 0);
  snprintf(buf, sizeof buf, "%sus-east\n", pre);
  ASSERT_EQ(expect_error(buf, "cfg:6:18: ", "expected a sequence"), 0);
  return 0;
}

VTG_TEST(duplicates) {
  ASSERT_EQ(expect_error("services:\n"
                         "  - name: s\n"
                         "    endpoints:\n"
                         "      - {check: c1, url: http://h/}\n"
                         "      - {check: c2, url: http://h/}\n"
                         "  - name: t\n"
                         "    endpoints:\n"
                         "      - {check: c1, url: http://h/}\n",
                         "cfg:8:17: ", "duplicate check name 'c1' (first defined at line 4"),
            0);
  ASSERT_EQ(expect_error("services:\n"
                         "  - {name: s, endpoints: []}\n"
                         "  - {name: s, endpoints: []}\n",
                         "cfg:3:12: ", "duplicate service name 's' (first defined at line 2"),
            0);
  ASSERT_EQ(expect_error("agents:\n"
                         "  - {id: a, region: r}\n"
                         "  - {id: b, region: r}\n"
                         "  - {id: a, region: q}\n",
                         "cfg:4:10: ", "duplicate agent id 'a' (first defined at line 2"),
            0);
  return 0;
}

VTG_TEST(detection) {
  ASSERT_EQ(expect_error("detection:\n  min_regions: 1\n", "cfg:2:16: ", "at least 2"), 0);
  ASSERT_EQ(expect_error("detection:\n  fail_threshold: 0\n", "cfg:2:19: ", "out of range"), 0);
  ASSERT_EQ(expect_error("detection: 3\n", "cfg:1:12: ", "expected a mapping"), 0);
  return 0;
}

VTG_TEST(misc) {
  ASSERT_EQ(expect_error("listen:\n  agents: localhost\n", "cfg:2:11: ", "IP:PORT"), 0);
  ASSERT_EQ(expect_error("listen:\n  http: 1.2.3.4:70000\n", "cfg:2:9: ", "IP:PORT"), 0);
  ASSERT_EQ(expect_error("log_level: loud\n", "cfg:1:12: ", "log level"), 0);
  ASSERT_EQ(expect_error("max_frame: 10\n", "cfg:1:12: ", "out of range"), 0);
  ASSERT_EQ(expect_error("services:\n  - name: 'a b'\n    endpoints: []\n", "cfg:2:11: ",
                         "letters, digits"),
            0);
  ASSERT_EQ(expect_error("services:\n  - name: s\n    endpoints:\n"
                         "      - {check: c, url: http://h/, method: FETCH}\n",
                         "cfg:4:44: ", "unknown method"),
            0);
  ASSERT_EQ(expect_error("agents:\n  - {id: a}\n", "cfg:2:5: ", "missing key 'region'"), 0);
  ASSERT_EQ(expect_error("- a\n- b\n", "cfg:1:1: ", "expected a mapping"), 0);
  return 0;
}

VTG_TEST(parse_addr) {
  struct sockaddr_storage ss;
  ASSERT_EQ(vtg_config_parse_addr("127.0.0.1:7300", &ss), 0);
  ASSERT_EQ(ss.ss_family, AF_INET);
  ASSERT_EQ(vtg_config_parse_addr("[::1]:0", &ss), 0);
  ASSERT_EQ(ss.ss_family, AF_INET6);
  ASSERT(vtg_config_parse_addr("::1:80", &ss) != 0);
  ASSERT(vtg_config_parse_addr("1.2.3.4:", &ss) != 0);
  ASSERT(vtg_config_parse_addr("1.2.3.4:-1", &ss) != 0);
  ASSERT(vtg_config_parse_addr(":80", &ss) != 0);
  return 0;
}

/* ------------------------------------------------------ check types (issue 3) */

static const char types_good[] =
    "services:\n"
    "  - name: s\n"
    "    endpoints:\n"
    "      - check: h\n"
    "        url: http://h/api\n"
    "        method: POST\n"
    "        headers: {Authorization: Bearer x, X-Trace: '1'}\n"
    "        body: '{\"q\": 1}'\n"
    "        follow_redirects: true\n"
    "        body_regex: '^ok( [0-9]+)?$'\n"
    "        ip_version: 6\n"
    "      - {check: t, type: tcp, target: 'db.example.com:5432', ip_version: 4}\n"
    "      - {check: t6, type: tcp, target: '[2001:db8::1]:22'}\n"
    "      - {check: d, type: dns, name: example.com, record: AAAA,\n"
    "         expect: ['2001:0db8::0001'], resolver: 192.0.2.53}\n"
    "      - {check: d2, type: dns, name: example.com, record: MX, resolver: '[::1]:5353'}\n"
    "      - {check: d3, type: dns, name: example.com}\n"
    "      - {check: x, type: tls, target: 'example.com:443', min_days_left: 30}\n"
    "      - {check: x2, type: tls, url: 'https://example.com:8443/'}\n";

VTG_TEST(check_types) {
  vtg_coord_config_t cfg;
  char err[600];
  ASSERT_EQ(load(types_good, &cfg, err, sizeof err), 0);
  ASSERT_EQ(cfg.n_checks, 8);
  const vtg_check_cfg_t *h = &cfg.checks[0];
  ASSERT_EQ(h->type, VTG_CHECK_TYPE_HTTP);
  ASSERT_EQ(h->n_headers, 2);
  ASSERT_STR_EQ(h->headers[0], "Authorization: Bearer x");
  ASSERT_STR_EQ(h->headers[1], "X-Trace: 1");
  ASSERT_STR_EQ(h->body, "{\"q\": 1}");
  ASSERT_EQ(h->follow_redirects, 1);
  ASSERT_STR_EQ(h->body_regex, "^ok( [0-9]+)?$");
  ASSERT_EQ(h->ip_version, 6);
  ASSERT_STR_EQ(h->method, "POST");
  const vtg_check_cfg_t *t = &cfg.checks[1];
  ASSERT_EQ(t->type, VTG_CHECK_TYPE_TCP);
  ASSERT_STR_EQ(t->target, "db.example.com:5432");
  ASSERT_STR_EQ(t->url, "tcp://db.example.com:5432");
  ASSERT_STR_EQ(t->method, "");
  ASSERT_EQ(t->ip_version, 4);
  ASSERT_STR_EQ(cfg.checks[2].url, "tcp://[2001:db8::1]:22");
  const vtg_check_cfg_t *d = &cfg.checks[3];
  ASSERT_EQ(d->type, VTG_CHECK_TYPE_DNS);
  ASSERT_EQ(d->dns_record, VTG_DNS_RECORD_AAAA);
  ASSERT_EQ(d->n_dns_expect, 1);
  ASSERT_STR_EQ(d->dns_expect[0], "2001:db8::1"); /* canonical form */
  ASSERT_STR_EQ(d->dns_resolver, "192.0.2.53:53");
  ASSERT_STR_EQ(d->url, "dns://192.0.2.53:53/example.com?type=AAAA");
  ASSERT_STR_EQ(cfg.checks[4].dns_resolver, "[::1]:5353");
  ASSERT_EQ(cfg.checks[5].dns_record, VTG_DNS_RECORD_A);
  ASSERT(cfg.checks[5].dns_resolver == NULL);
  ASSERT_STR_EQ(cfg.checks[5].url, "dns:example.com?type=A");
  const vtg_check_cfg_t *x = &cfg.checks[6];
  ASSERT_EQ(x->type, VTG_CHECK_TYPE_TLS);
  ASSERT_STR_EQ(x->url, "https://example.com:443/");
  ASSERT_EQ(x->min_days_left, 30);
  ASSERT_EQ(cfg.checks[7].min_days_left, VTG_CHECK_TLS_MIN_DAYS_DEFAULT);
  ASSERT_STR_EQ(cfg.checks[7].url, "https://example.com:8443/");
  vtg_config_free(&cfg);
  return 0;
}

/* One endpoint line after the common prefix; the error must point at
 * line 5 (the endpoint) and the given column. */
static int endpoint_error(const char *ep, const char *prefix, const char *needle) {
  char buf[1024];
  snprintf(buf, sizeof buf, "services:\n  - name: s\n    endpoints:\n      - check: c\n%s", ep);
  return expect_error(buf, prefix, needle);
}

VTG_TEST(check_type_errors) {
  /* The "bad input": an invalid regex, refused with file:line:col. */
  ASSERT_EQ(endpoint_error("        url: http://h/\n        body_regex: 'ok(['\n", "cfg:6:21: ",
                           "invalid body_regex"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        method: HEAD\n        body_regex: ok\n",
                           "cfg:7:21: ", "HEAD"),
            0);
  ASSERT_EQ(endpoint_error("        type: smtp\n        url: http://h/\n", "cfg:5:15: ",
                           "unknown check type"),
            0);
  /* A key of another type is refused, not ignored. */
  ASSERT_EQ(endpoint_error("        type: tcp\n        target: h:1\n        url: http://h/\n",
                           "cfg:7:9: ", "'url' does not apply to a tcp check"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        record: A\n", "cfg:6:9: ",
                           "'record' does not apply to a http check"),
            0);
  ASSERT_EQ(endpoint_error("        type: tcp\n        target: h\n", "cfg:6:17: ", "host:port"),
            0);
  ASSERT_EQ(endpoint_error("        type: tcp\n        target: 'h:0'\n", "cfg:6:17: ",
                           "host:port"),
            0);
  ASSERT_EQ(endpoint_error("        type: tcp\n        target: '::1:22'\n", "cfg:6:17: ",
                           "host:port"),
            0);
  ASSERT_EQ(endpoint_error("        type: tcp\n", "cfg:4:9: ", "missing key 'target'"), 0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: 'a..b'\n", "cfg:6:15: ",
                           "not a valid DNS name"),
            0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: a.b\n        record: SRV\n",
                           "cfg:7:17: ", "unknown record type"),
            0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: a.b\n        expect: [not-an-ip]\n",
                           "cfg:7:18: ", "IPv4 address"),
            0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: a.b\n        resolver: dns.google\n",
                           "cfg:7:19: ", "IP address"),
            0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: a.b\n        ip_version: 6\n",
                           "cfg:7:9: ", "'ip_version' does not apply to a dns check"),
            0);
  ASSERT_EQ(endpoint_error("        type: tls\n        url: http://h/\n", "cfg:6:14: ",
                           "https://"),
            0);
  ASSERT_EQ(endpoint_error("        type: tls\n        url: https://h/\n        target: h:443\n",
                           "cfg:4:9: ", "exactly one"),
            0);
  ASSERT_EQ(endpoint_error("        type: tls\n        target: h:443\n        min_days_left: -1\n",
                           "cfg:7:24: ", "out of range"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        ip_version: 5\n", "cfg:6:21: ",
                           "4, 6 or any"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        body: x\n", "cfg:6:15: ",
                           "needs a method"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        headers: {'a b': c}\n", "cfg:6:19: ",
                           "not a valid HTTP token"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        headers: [a]\n", "cfg:6:18: ",
                           "expected a mapping"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        follow_redirects: maybe\n",
                           "cfg:6:27: ", ""),
            0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(good) VTG_TEST_ENTRY(defaults) VTG_TEST_ENTRY(from_file)
                  VTG_TEST_ENTRY(unknown_keys) VTG_TEST_ENTRY(bad_url)
                      VTG_TEST_ENTRY(durations) VTG_TEST_ENTRY(accept)
                          VTG_TEST_ENTRY(regions) VTG_TEST_ENTRY(duplicates)
                              VTG_TEST_ENTRY(detection) VTG_TEST_ENTRY(misc)
                                  VTG_TEST_ENTRY(parse_addr) VTG_TEST_ENTRY(check_types)
                                      VTG_TEST_ENTRY(check_type_errors))
