/* YAML config tree: positions, syntax errors, getters and their messages. */
#include <unistd.h>

#include "test.h"
#include "vtg/error.h"
#include "vtg/yconf.h"

static const char *const cfg_text =
    "listen:\n"
    "  agents: 127.0.0.1:7300\n"
    "  http: \"127.0.0.1:7380\"\n"
    "heartbeat: 5s\n"
    "max_frame: 1048576\n"
    "debug: yes\n"
    "lat: -74.5\n"
    "services:\n"
    "  - name: shop\n"
    "    endpoints:\n"
    "      - {check: shop-web, interval: abc}\n"
    "empty:\n";

VTG_TEST(tree_positions) {
  vtg_yconf_t c;
  ASSERT_EQ(vtg_yconf_load_string(&c, "cfg.yaml", cfg_text), 0);
  ASSERT_STR_EQ(c.err, "");
  const vtg_ynode_t *root = c.root;
  ASSERT(root && root->kind == VTG_YNODE_MAP);
  ASSERT_EQ(root->n, 7);
  ASSERT_STR_EQ(root->keys[1], "heartbeat");
  ASSERT_EQ(root->key_lines[1], 4);
  ASSERT_EQ(root->key_cols[1], 1);
  const vtg_ynode_t *listen = vtg_yconf_get(root, "listen");
  ASSERT(listen && listen->kind == VTG_YNODE_MAP);
  ASSERT_EQ(listen->line, 2);
  ASSERT_EQ(listen->col, 3);
  const vtg_ynode_t *http = vtg_yconf_get(listen, "http");
  ASSERT_STR_EQ(http->scalar, "127.0.0.1:7380");
  ASSERT_EQ(http->quoted, 1);
  ASSERT_EQ(http->line, 3);
  ASSERT_EQ(http->col, 9);
  ASSERT_EQ(vtg_yconf_get(listen, "agents")->quoted, 0);
  const vtg_ynode_t *svcs = vtg_yconf_get(root, "services");
  ASSERT(svcs && svcs->kind == VTG_YNODE_SEQ && svcs->n == 1);
  const vtg_ynode_t *ep = vtg_yconf_get(svcs->items[0], "endpoints")->items[0];
  ASSERT(ep->kind == VTG_YNODE_MAP);
  ASSERT_EQ(ep->line, 11);
  ASSERT_EQ(ep->col, 9);
  const vtg_ynode_t *iv = vtg_yconf_get(ep, "interval");
  ASSERT_EQ(iv->line, 11);
  ASSERT_EQ(iv->col, 37);
  ASSERT(vtg_yconf_get(root, "nope") == NULL);
  ASSERT(vtg_yconf_get(http, "x") == NULL);
  vtg_yconf_free(&c);
  return 0;
}

VTG_TEST(getters) {
  vtg_yconf_t c;
  char *s = NULL;
  int64_t i = 0, d = 0;
  double x = 0;
  int b = 0;
  ASSERT_EQ(vtg_yconf_load_string(&c, "cfg.yaml", cfg_text), 0);
  const vtg_ynode_t *root = c.root;
  ASSERT_EQ(vtg_yconf_str(&c, vtg_yconf_get(root, "listen"), "agents", 1, &s), 0);
  ASSERT_STR_EQ(s, "127.0.0.1:7300");
  ASSERT_EQ(vtg_yconf_str(&c, vtg_yconf_get(root, "listen"), "http", 1, &s), 0); /* frees old */
  ASSERT_STR_EQ(s, "127.0.0.1:7380");
  free(s);
  ASSERT_EQ(vtg_yconf_duration(&c, root, "heartbeat", 1, 1000, 3600000000LL, &d), 0);
  ASSERT_EQ(d, 5000000);
  ASSERT_EQ(vtg_yconf_int(&c, root, "max_frame", 1, 1024, 1 << 30, &i), 0);
  ASSERT_EQ(i, 1048576);
  ASSERT_EQ(vtg_yconf_bool(&c, root, "debug", 1, &b), 0);
  ASSERT_EQ(b, 1);
  ASSERT_EQ(vtg_yconf_double(&c, root, "lat", 1, -180, 180, &x), 0);
  ASSERT(x == -74.5);
  /* absent and optional: untouched */
  i = 77;
  ASSERT_EQ(vtg_yconf_int(&c, root, "absent", 0, 0, 100, &i), 0);
  ASSERT_EQ(i, 77);
  /* "empty:" has no value: optional leaves it, required complains */
  ASSERT_EQ(vtg_yconf_int(&c, root, "empty", 0, 0, 100, &i), 0);
  ASSERT_EQ(i, 77);
  ASSERT_STR_EQ(c.err, "");
  ASSERT_EQ(vtg_yconf_int(&c, root, "empty", 1, 0, 100, &i), VTG_ECONFIG);
  ASSERT_STR_EQ(c.err, "cfg.yaml:12:7: 'empty': expected an integer, got no value");
  vtg_yconf_free(&c);
  return 0;
}

/* Loads text, runs one getter through fn, and compares the message. */
#define EXPECT_ERR(text, call, msg)                            \
  do {                                                         \
    vtg_yconf_t c_;                                            \
    ASSERT_EQ(vtg_yconf_load_string(&c_, "cfg.yaml", text), 0); \
    vtg_yconf_t *c = &c_;                                      \
    const vtg_ynode_t *root = c_.root;                         \
    (void)root;                                                \
    ASSERT_EQ(call, VTG_ECONFIG);                              \
    ASSERT_STR_EQ(c_.err, msg);                                \
    vtg_yconf_free(&c_);                                       \
  } while (0)

VTG_TEST(bad_types) {
  int64_t i = 0, d = 0;
  double x;
  int b;
  char *s = NULL;
  EXPECT_ERR("a: 1\n\nservices:\n  - interval: abc\n",
             vtg_yconf_duration(c, vtg_yconf_get(root, "services")->items[0], "interval", 1,
                                0, INT64_MAX, &d),
             "cfg.yaml:4:15: 'interval': expected a duration such as 30s or 500ms, got 'abc'");
  EXPECT_ERR("interval: 30\n", vtg_yconf_duration(c, root, "interval", 1, 0, INT64_MAX, &d),
             "cfg.yaml:1:11: 'interval': expected a duration such as 30s or 500ms, got '30'");
  EXPECT_ERR("timeout: 2h\n",
             vtg_yconf_duration(c, root, "timeout", 1, 1000, 3600000000LL, &d),
             "cfg.yaml:1:10: 'timeout': 2h is out of range (expected 1ms..1h)");
  EXPECT_ERR("n: 12abc\n", vtg_yconf_int(c, root, "n", 1, 0, 100, &i),
             "cfg.yaml:1:4: 'n': expected an integer, got '12abc'");
  EXPECT_ERR("n: 1.5\n", vtg_yconf_int(c, root, "n", 1, 0, 100, &i),
             "cfg.yaml:1:4: 'n': expected an integer, got '1.5'");
  EXPECT_ERR("min_regions: 1\n", vtg_yconf_int(c, root, "min_regions", 1, 2, 1000, &i),
             "cfg.yaml:1:14: 'min_regions': 1 is out of range (expected 2..1000)");
  EXPECT_ERR("n: 99999999999999999999999\n", vtg_yconf_int(c, root, "n", 1, 0, 100, &i),
             "cfg.yaml:1:4: 'n': 99999999999999999999999 is out of range (expected 0..100)");
  EXPECT_ERR("lat: 91\n", vtg_yconf_double(c, root, "lat", 1, -90, 90, &x),
             "cfg.yaml:1:6: 'lat': 91 is out of range (expected -90..90)");
  EXPECT_ERR("lat: nan\n", vtg_yconf_double(c, root, "lat", 1, -90, 90, &x),
             "cfg.yaml:1:6: 'lat': expected a number, got 'nan'");
  EXPECT_ERR("b: maybe\n", vtg_yconf_bool(c, root, "b", 1, &b),
             "cfg.yaml:1:4: 'b': expected true or false, got 'maybe'");
  EXPECT_ERR("s:\n  - x\n", vtg_yconf_str(c, root, "s", 1, &s),
             "cfg.yaml:2:3: 's': expected a string, got a sequence");
  EXPECT_ERR("a: 1\nb: 2\n", vtg_yconf_str(c, root, "url", 1, &s),
             "cfg.yaml:1:1: missing key 'url'");
  EXPECT_ERR("- a\n", vtg_yconf_expect(c, root, VTG_YNODE_MAP),
             "cfg.yaml:1:1: expected a mapping, got a sequence");
  EXPECT_ERR("x: y\n", vtg_yconf_expect(c, vtg_yconf_get(root, "x"), VTG_YNODE_SEQ),
             "cfg.yaml:1:4: expected a sequence, got 'y'");
  EXPECT_ERR("x: y\n", vtg_yconf_error(c, NULL, "no position"), "cfg.yaml: no position");
  ASSERT(s == NULL);
  return 0;
}

VTG_TEST(bools) {
  static const struct { const char *text; int v; } cases[] = {
      {"b: true\n", 1}, {"b: false\n", 0}, {"b: yes\n", 1}, {"b: no\n", 0},
      {"b: on\n", 1},   {"b: off\n", 0},   {"b: True\n", 1}, {"b: NO\n", 0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    vtg_yconf_t c;
    int b = -1;
    ASSERT_EQ(vtg_yconf_load_string(&c, "t", cases[k].text), 0);
    ASSERT_EQ(vtg_yconf_bool(&c, c.root, "b", 1, &b), 0);
    ASSERT_EQ(b, cases[k].v);
    vtg_yconf_free(&c);
  }
  return 0;
}

VTG_TEST(unknown_keys) {
  static const char *const allowed[] = {"id", "region", "country", NULL};
  vtg_yconf_t ok;
  ASSERT_EQ(vtg_yconf_load_string(&ok, "cfg.yaml", "id: a\nregion: r\ncountry: US\n"), 0);
  ASSERT_EQ(vtg_yconf_check_keys(&ok, ok.root, allowed), 0);
  vtg_yconf_free(&ok);
  EXPECT_ERR("id: a\nregion: r\n  \nfoo: 1\n", vtg_yconf_check_keys(c, root, allowed),
             "cfg.yaml:4:1: unknown key 'foo' (expected one of: id, region, country)");
  EXPECT_ERR("agents:\n  - {id: a, regoin: x}\n",
             vtg_yconf_check_keys(c, vtg_yconf_get(root, "agents")->items[0], allowed),
             "cfg.yaml:2:13: unknown key 'regoin' (expected one of: id, region, country)");
  EXPECT_ERR("- 1\n", vtg_yconf_check_keys(c, root, allowed),
             "cfg.yaml:1:1: expected a mapping, got a sequence");
  return 0;
}

VTG_TEST(first_error_wins) {
  vtg_yconf_t c;
  ASSERT_EQ(vtg_yconf_load_string(&c, "f", "a: x\nb: y\n"), 0);
  ASSERT_EQ(vtg_yconf_error(&c, vtg_yconf_get(c.root, "b"), "second %d", 2), VTG_ECONFIG);
  ASSERT_EQ(vtg_yconf_error(&c, vtg_yconf_get(c.root, "a"), "third"), VTG_ECONFIG);
  ASSERT_STR_EQ(c.err, "f:2:4: second 2");
  vtg_yconf_free(&c);
  return 0;
}

VTG_TEST(syntax_errors) {
  static const struct { const char *text; const char *msg; } cases[] = {
      {"a: 1\nb: [1, 2\nc: 3\n", "cfg.yaml:3:2: did not find expected ',' or ']'"},
      {"a: 1\n  b: 2\n", "cfg.yaml:2:4: mapping values are not allowed in this context"},
      {"a: \"unterminated\n", "cfg.yaml:2:1: found unexpected end of stream"},
      {"a:\n\tb: 1\n", "cfg.yaml:2:1: found character that cannot start any token"},
      {"a: &x 1\nb: *x\n", "cfg.yaml:2:4: aliases (*x) are not supported"},
      {"a: 1\na: 2\n", "cfg.yaml:2:1: duplicate key 'a' (first at line 1)"},
      {"a: 1\n---\nb: 2\n", "cfg.yaml:2:1: only one YAML document is allowed"},
      {"? [1, 2]\n: x\n", "cfg.yaml:1:3: mapping keys must be scalars"},
      {"a: \xff\n", "cfg.yaml:1:4: invalid leading UTF-8 octet"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    vtg_yconf_t c;
    int rc = vtg_yconf_load_string(&c, "cfg.yaml", cases[k].text);
    if (rc != VTG_ECONFIG || strcmp(c.err, cases[k].msg) != 0)
      fprintf(stderr, "case %zu: rc %d err '%s'\n", k, rc, c.err);
    ASSERT_EQ(rc, VTG_ECONFIG);
    ASSERT_STR_EQ(c.err, cases[k].msg);
    ASSERT(c.root == NULL);
    vtg_yconf_free(&c);
  }
  /* an empty document is fine and has no root */
  vtg_yconf_t c;
  ASSERT_EQ(vtg_yconf_load_string(&c, "e", "# nothing\n"), 0);
  ASSERT(c.root == NULL);
  vtg_yconf_free(&c);
  return 0;
}

VTG_TEST(durations) {
  static const struct { const char *s; int64_t us; } ok[] = {
      {"250ms", 250000},      {"1s", 1000000},         {"1.5s", 1500000},
      {"2m", 120000000},      {"1h", 3600000000LL},    {"1h30m", 5400000000LL},
      {"100us", 100},         {"0s", 0},               {"0.001s", 1000},
      {"1m30s", 90000000},    {"1.25ms", 1250},        {"2h0m1s", 7201000000LL},
      {"0.5h", 1800000000LL}, {"10s500ms", 10500000},  {"1.0000000001s", 1000000}, {".5s", 500000}};
  static const char *const bad[] = {"",     "30",  "1.5",   "s",   "1x",  "1 s",  "-1s",
                                    "1.s",  "5.", "1sm",   "1hh", "ms",  " 1s",  "1s ",
                                    "1e3s", "1ns", "99999999999999999999s",
                                    "9223372036854775807h", "1.5"};
  for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
    int64_t v = -1;
    if (vtg_duration_parse(ok[k].s, &v) != 0 || v != ok[k].us)
      fprintf(stderr, "case '%s' -> %lld\n", ok[k].s, (long long)v);
    ASSERT_EQ(vtg_duration_parse(ok[k].s, &v), 0);
    ASSERT_EQ(v, ok[k].us);
  }
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int64_t v = -1;
    if (vtg_duration_parse(bad[k], &v) != VTG_EINVAL) fprintf(stderr, "case '%s'\n", bad[k]);
    ASSERT_EQ(vtg_duration_parse(bad[k], &v), VTG_EINVAL);
    ASSERT_EQ(v, -1);
  }
  ASSERT_EQ(vtg_duration_parse(NULL, NULL), VTG_EINVAL);
  return 0;
}

VTG_TEST(load_file) {
  char path[] = "/tmp/vtg-yconf-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  const char *text = "id: us-east-1\nlat: 40.7\n";
  ASSERT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
  close(fd);
  vtg_yconf_t c;
  ASSERT_EQ(vtg_yconf_load_file(&c, path), 0);
  char *id = NULL;
  ASSERT_EQ(vtg_yconf_str(&c, c.root, "id", 1, &id), 0);
  ASSERT_STR_EQ(id, "us-east-1");
  free(id);
  ASSERT_EQ(vtg_yconf_error(&c, c.root, "x"), VTG_ECONFIG);
  char want[256];
  snprintf(want, sizeof want, "%s:1:1: x", path);
  ASSERT_STR_EQ(c.err, want);
  vtg_yconf_free(&c);
  unlink(path);
  ASSERT_EQ(vtg_yconf_load_file(&c, path), VTG_EIO);
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
  ASSERT_STR_EQ(c.err, want);
  vtg_yconf_free(&c);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(tree_positions) VTG_TEST_ENTRY(getters) VTG_TEST_ENTRY(bad_types)
                  VTG_TEST_ENTRY(bools) VTG_TEST_ENTRY(unknown_keys)
                      VTG_TEST_ENTRY(first_error_wins) VTG_TEST_ENTRY(syntax_errors)
                          VTG_TEST_ENTRY(durations) VTG_TEST_ENTRY(load_file))
