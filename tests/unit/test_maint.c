/* Maintenance windows and silences (maint.h): which check a window covers
 * (by check or by service), half-open boundaries, weekly windows across the
 * week's wrap, ending and pruning, the incident rule (every wave's onset),
 * the API's JSON and POST validation, the `maintenance:` config key with
 * its line:col errors, and the silences' store round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "detect.h"
#include "incident.h"
#include "maint.h"
#include "store.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"

#define S(x) ((int64_t)(x) * 1000000)

static int64_t T(const char *s) {
  int64_t us = 0;
  if (vtg_clock_parse_rfc3339(s, &us) != 0) {
    fprintf(stderr, "bad time %s\n", s);
    return INT64_MIN;
  }
  return us;
}

static const char base_cfg[] =
    "services:\n"
    "  - name: shop\n"
    "    endpoints:\n"
    "      - {check: shop-web, url: http://127.0.0.1:8080/}\n"
    "      - {check: shop-api, kind: api, url: http://127.0.0.1:8080/api}\n"
    "  - name: blog\n"
    "    endpoints:\n"
    "      - {check: blog-web, url: http://127.0.0.1:8081/}\n";

/* base_cfg followed by tail. */
static int load(const char *tail, vtg_coord_config_t *cfg, char *err, size_t errlen) {
  char text[4096];
  snprintf(text, sizeof text, "%s%s", base_cfg, tail);
  return vtg_config_load_string("cfg", text, cfg, err, errlen);
}

static int expect_error(const char *tail, const char *prefix, const char *needle) {
  vtg_coord_config_t cfg;
  char err[600];
  int rc = load(tail, &cfg, err, sizeof err);
  if (rc != VTG_ECONFIG) {
    fprintf(stderr, "expected a config error for:\n%s\ngot %d (%s)\n", tail, rc, err);
    return 1;
  }
  if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, needle) == NULL) {
    fprintf(stderr, "error '%s' lacks '%s' ... '%s'\n", err, prefix, needle);
    return 1;
  }
  return 0;
}

VTG_TEST(covers_check_vs_service) {
  vtg_maint_t m;
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_maint_add_silence(&m, 1, "shop-api", NULL, t0, t0 + S(3600), "deploy"), 0);
  ASSERT_EQ(vtg_maint_add_silence(&m, 2, NULL, "blog", t0, t0 + S(60), NULL), 0);
  /* a check window: that check only, whatever its service */
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", t0 + S(10)));
  ASSERT(!vtg_maint_covers(&m, "shop-web", "shop", t0 + S(10)));
  /* a service window: every check of the service */
  ASSERT(vtg_maint_covers(&m, "blog-web", "blog", t0 + S(10)));
  ASSERT(vtg_maint_covers(&m, "blog-api", "blog", t0 + S(10)));
  ASSERT(!vtg_maint_covers(&m, "blog-web", NULL, t0 + S(10)));
  ASSERT(!vtg_maint_covers(&m, "blog", "shop", t0 + S(10))); /* names are not mixed up */
  /* both kinds refused, neither refused, empty stretch refused */
  ASSERT_EQ(vtg_maint_add_silence(&m, 3, "a", "b", t0, t0 + 1, ""), VTG_EINVAL);
  ASSERT_EQ(vtg_maint_add_silence(&m, 3, NULL, NULL, t0, t0 + 1, ""), VTG_EINVAL);
  ASSERT_EQ(vtg_maint_add_silence(&m, 3, "a", NULL, t0, t0, ""), VTG_EINVAL);
  ASSERT(!vtg_maint_covers(NULL, "shop-api", "shop", t0));
  vtg_maint_free(&m);
  return 0;
}

VTG_TEST(boundaries) {
  vtg_maint_t m;
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_maint_add_silence(&m, 7, "shop-api", NULL, t0, t0 + S(60), ""), 0);
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", t0 - 1));
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", t0));           /* start included */
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", t0 + S(60) - 1));
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", t0 + S(60)));  /* end excluded */
  ASSERT_STR_EQ(m.w[0].id, "sil-7");
  vtg_maint_free(&m);
  return 0;
}

VTG_TEST(end_and_expiry) {
  vtg_maint_t m;
  vtg_buf_t b;
  vtg_json_t *v = NULL;
  char perr[128];
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_maint_add_silence(&m, 1, "shop-api", NULL, t0, t0 + S(3600), ""), 0);
  ASSERT_EQ(vtg_maint_add_silence(&m, 2, "shop-web", NULL, t0, t0 + S(60), ""), 0);
  ASSERT_EQ(vtg_maint_active_silences(&m, t0 + S(30)), 2);
  ASSERT_EQ(vtg_maint_active_silences(&m, t0 + S(60)), 1); /* sil-2 expired */
  /* ending early: covered before, not from now on; twice is not found */
  ASSERT_EQ(vtg_maint_end(&m, "sil-1", t0 + S(100)), 0);
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", t0 + S(99)));
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", t0 + S(100)));
  ASSERT_EQ(vtg_maint_end(&m, "sil-1", t0 + S(200)), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_maint_end(&m, "sil-2", t0 + S(200)), VTG_ENOTFOUND); /* expired already */
  ASSERT_EQ(vtg_maint_end(&m, "sil-9", t0), VTG_ENOTFOUND);
  /* the list shows what has not ended: nothing now */
  vtg_buf_init(&b, 1 << 16);
  ASSERT_EQ(vtg_maint_write_json(&m, t0 + S(200), &b), 0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &v, perr, sizeof perr), 0);
  ASSERT(v->type == VTG_JSON_ARRAY && v->n == 0);
  vtg_json_free(v);
  vtg_buf_free(&b);
  /* ended ones are kept for re-derived incidents until pruned */
  ASSERT(vtg_maint_find(&m, "sil-1") != NULL);
  vtg_maint_prune(&m, t0 + S(80)); /* sil-2 ended at +60: gone; sil-1 at +100 stays */
  ASSERT(vtg_maint_find(&m, "sil-2") == NULL);
  ASSERT(vtg_maint_find(&m, "sil-1") != NULL);
  vtg_maint_prune(&m, t0 + S(101));
  ASSERT_EQ(m.n, 0);
  vtg_maint_free(&m);
  return 0;
}

VTG_TEST(weekly) {
  vtg_coord_config_t cfg;
  vtg_maint_t m;
  char err[600];
  ASSERT_EQ(load("maintenance:\n"
                 "  - {check: shop-api, weekly: \"sun 02:00\", duration: 1h, reason: backups}\n"
                 "  - {service: blog, weekly: \"Saturday 23:30\", duration: 1h}\n",
                 &cfg, err, sizeof err),
            0);
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_maint_set_config(&m, &cfg), 0);
  /* 2026-11-29 is a Sunday */
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-29T01:59:59.999Z")));
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-29T02:00:00Z")));
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-29T02:59:59Z")));
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-29T03:00:00Z")));
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", T("2026-12-06T02:30:00Z"))); /* a week on */
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-30T02:30:00Z"))); /* Monday */
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", T("1970-01-04T02:30:00Z")));  /* epoch's week */
  /* across the week's wrap: Saturday 23:30 for an hour reaches Sunday 00:29 */
  ASSERT(vtg_maint_covers(&m, "blog-web", "blog", T("2026-11-28T23:45:00Z")));
  ASSERT(vtg_maint_covers(&m, "blog-web", "blog", T("2026-11-29T00:29:59Z")));
  ASSERT(!vtg_maint_covers(&m, "blog-web", "blog", T("2026-11-29T00:30:00Z")));
  ASSERT(!vtg_maint_covers(&m, "blog-web", "blog", T("2026-11-28T23:29:59Z")));
  /* the occurrence shown: the current one while in it, else the next */
  int64_t s, e;
  vtg_maint_occurrence(&m.w[0], T("2026-11-29T02:10:00Z"), &s, &e);
  ASSERT_EQ(s, T("2026-11-29T02:00:00Z"));
  ASSERT_EQ(e, T("2026-11-29T03:00:00Z"));
  vtg_maint_occurrence(&m.w[0], T("2026-11-29T03:00:00Z"), &s, &e);
  ASSERT_EQ(s, T("2026-12-06T02:00:00Z"));
  vtg_maint_occurrence(&m.w[0], T("2026-11-25T12:00:00Z"), &s, &e);
  ASSERT_EQ(s, T("2026-11-29T02:00:00Z"));
  /* rendered with its rule */
  vtg_buf_t b;
  vtg_json_t *v = NULL;
  char perr[128];
  vtg_buf_init(&b, 1 << 16);
  ASSERT_EQ(vtg_maint_write_json(&m, T("2026-11-29T02:10:00Z"), &b), 0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &v, perr, sizeof perr), 0);
  ASSERT(v->type == VTG_JSON_ARRAY && v->n == 2);
  /* ordered by start: the running one first */
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "id", NULL), "cfg-1");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "check", NULL), "shop-api");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "weekly", NULL), "sun 02:00");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "source", NULL), "config");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "reason", NULL), "backups");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "start", NULL), "2026-11-29T02:00:00.000Z");
  ASSERT(vtg_json_get(v->items[0], "active")->boolean);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "service", NULL), "blog");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "weekly", NULL), "sat 23:30");
  ASSERT(!vtg_json_get(v->items[1], "active")->boolean);
  ASSERT(vtg_json_get(v->items[1], "check") == NULL);
  vtg_json_free(v);
  vtg_buf_free(&b);
  vtg_maint_free(&m);
  vtg_config_free(&cfg);
  return 0;
}

static vtg_incident_t make_incident(vtg_incident_wave_t *waves, size_t n) {
  vtg_incident_t inc;
  memset(&inc, 0, sizeof inc);
  inc.id = "inc-1";
  inc.check_name = "shop-api";
  inc.service = "shop";
  inc.kind = "api";
  inc.onset_us = waves[0].onset_us;
  inc.resolved_us = VTG_TIME_NONE;
  inc.waves = waves;
  inc.n_waves = n;
  return inc;
}

VTG_TEST(incident_rule) {
  vtg_maint_t m;
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_incident_wave_t waves[2] = {{t0 + S(100), t0 + S(200), 5, NULL, 0},
                                  {t0 + S(400), VTG_TIME_NONE, 5, NULL, 0}};
  vtg_incident_t inc = make_incident(waves, 1);
  vtg_maint_init(&m);
  ASSERT(!vtg_maint_covers_incident(&m, &inc)); /* no windows */
  ASSERT_EQ(vtg_maint_add_silence(&m, 1, "shop-api", NULL, t0, t0 + S(300), ""), 0);
  ASSERT(vtg_maint_covers_incident(&m, &inc));
  /* a second wave after the window: a real outage again */
  inc.n_waves = 2;
  ASSERT(!vtg_maint_covers_incident(&m, &inc));
  /* both waves began in windows (a service one for the second) */
  ASSERT_EQ(vtg_maint_add_silence(&m, 2, NULL, "shop", t0 + S(350), t0 + S(450), ""), 0);
  ASSERT(vtg_maint_covers_incident(&m, &inc));
  /* an onset before the window is not covered, whatever follows */
  waves[0].onset_us = t0 - 1;
  ASSERT(!vtg_maint_covers_incident(&m, &inc));
  /* no waves: the incident's onset decides */
  inc.n_waves = 0;
  inc.onset_us = t0 + S(10);
  ASSERT(vtg_maint_covers_incident(&m, &inc));
  /* another check of another service: no */
  inc.check_name = "blog-web";
  inc.service = "blog";
  ASSERT(!vtg_maint_covers_incident(&m, &inc));

  /* the writer puts the flag in the contract JSON, false by default */
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_json_t *v = NULL;
  char perr[128];
  inc = make_incident(waves, 1);
  vtg_buf_init(&b, 1 << 16);
  vtg_json_writer_init(&w, &b, 0);
  vtg_incident_write_json_maint(&w, &inc, t0, 1);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &v, perr, sizeof perr), 0);
  ASSERT(vtg_json_get(v, "maintenance")->type == VTG_JSON_BOOL);
  ASSERT(vtg_json_get(v, "maintenance")->boolean);
  vtg_json_free(v);
  vtg_buf_reset(&b);
  vtg_json_writer_init(&w, &b, 0);
  vtg_incident_write_json(&w, &inc, t0);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &v, perr, sizeof perr), 0);
  ASSERT(vtg_json_get(v, "maintenance")->type == VTG_JSON_BOOL);
  ASSERT(!vtg_json_get(v, "maintenance")->boolean);
  vtg_json_free(v);
  vtg_buf_free(&b);
  vtg_maint_free(&m);
  return 0;
}

/* The POST body: one good request, then each mistake names its field. */
static int expect_bad(const vtg_coord_config_t *cfg, const char *body, const char *needle) {
  vtg_maint_request_t r;
  char why[256] = "";
  int rc = vtg_maint_parse_request(body, body ? strlen(body) : 0, cfg, &r, why, sizeof why);
  if (rc != VTG_EINVAL || strstr(why, needle) == NULL) {
    fprintf(stderr, "body %s: rc %d, why '%s' (expected '%s')\n", body ? body : "(none)", rc, why,
            needle);
    vtg_maint_request_free(&r);
    return 1;
  }
  return 0;
}

VTG_TEST(post_body) {
  vtg_coord_config_t cfg;
  vtg_maint_request_t r;
  char err[600], why[256];
  ASSERT_EQ(load("", &cfg, err, sizeof err), 0);
  const char *good = "{\"check\": \"shop-api\", \"duration_s\": 7200, \"reason\": \"db \\u00e9\"}";
  ASSERT_EQ(vtg_maint_parse_request(good, strlen(good), &cfg, &r, why, sizeof why), 0);
  ASSERT_STR_EQ(r.check, "shop-api");
  ASSERT(r.service == NULL);
  ASSERT_EQ(r.duration_us, S(7200));
  ASSERT_STR_EQ(r.reason, "db \xc3\xa9");
  vtg_maint_request_free(&r);
  const char *svc = "{\"service\": \"blog\", \"duration_s\": 1.5, \"reason\": null}";
  ASSERT_EQ(vtg_maint_parse_request(svc, strlen(svc), &cfg, &r, why, sizeof why), 0);
  ASSERT_STR_EQ(r.service, "blog");
  ASSERT_EQ(r.duration_us, 1500000);
  ASSERT_STR_EQ(r.reason, "");
  vtg_maint_request_free(&r);

  ASSERT_EQ(expect_bad(&cfg, NULL, "JSON object"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": ", "not valid JSON"), 0);
  ASSERT_EQ(expect_bad(&cfg, "[1]", "JSON object"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"nope\", \"duration_s\": 60}", "unknown check 'nope'"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"service\": \"nope\", \"duration_s\": 60}", "unknown service"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": 3, \"duration_s\": 60}", "'check' must be a string"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"duration_s\": 60}", "missing field 'check'"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"service\": \"shop\", \"duration_s\": 6}",
                       "not both"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\"}", "missing field 'duration_s'"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": -5}", "duration_s"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": 0}", "at least 1"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": \"2h\"}",
                       "duration_s must be a number"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": 2592001}",
                       "at most 2592000"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": 1e300}", "at most"), 0);
  ASSERT_EQ(expect_bad(&cfg, "{\"check\": \"shop-api\", \"duration_s\": 60, \"for\": 1}",
                       "unknown field 'for'"), 0);
  char big[700];
  memset(big, 'x', sizeof big);
  int n = snprintf(big, sizeof big, "{\"check\": \"shop-api\", \"duration_s\": 60, \"reason\": \"");
  memset(big + n, 'r', sizeof big - (size_t)n - 3);
  memcpy(big + sizeof big - 3, "\"}", 3);
  ASSERT_EQ(expect_bad(&cfg, big, "reason is longer"), 0);
  vtg_config_free(&cfg);
  return 0;
}

VTG_TEST(config_windows) {
  vtg_coord_config_t cfg;
  char err[600];
  ASSERT_EQ(load("maintenance:\n"
                 "  - check: shop-api\n"
                 "    start: 2026-11-24T02:00:00Z\n"
                 "    end: 2026-11-24T04:00:00Z\n"
                 "    reason: \"db migration\"\n"
                 "  - {service: blog, start: \"2026-11-24T02:00:00+01:00\", duration: 2h}\n",
                 &cfg, err, sizeof err),
            0);
  ASSERT_EQ(cfg.n_maintenance, 2);
  ASSERT_STR_EQ(cfg.maintenance[0].check, "shop-api");
  ASSERT(cfg.maintenance[0].service == NULL);
  ASSERT_EQ(cfg.maintenance[0].start_us, T("2026-11-24T02:00:00Z"));
  ASSERT_EQ(cfg.maintenance[0].end_us, T("2026-11-24T04:00:00Z"));
  ASSERT_EQ(cfg.maintenance[0].weekly_us, -1);
  ASSERT_STR_EQ(cfg.maintenance[0].reason, "db migration");
  ASSERT_EQ(cfg.maintenance[0].line, 10);
  ASSERT_STR_EQ(cfg.maintenance[1].service, "blog");
  ASSERT_EQ(cfg.maintenance[1].start_us, T("2026-11-24T01:00:00Z"));
  ASSERT_EQ(cfg.maintenance[1].end_us, T("2026-11-24T03:00:00Z"));
  ASSERT_STR_EQ(cfg.maintenance[1].reason, "");

  /* reload: config windows replaced, silences kept */
  vtg_maint_t m;
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_maint_add_silence(&m, 4, "shop-web", NULL, S(1), S(2), ""), 0);
  ASSERT_EQ(vtg_maint_set_config(&m, &cfg), 0);
  ASSERT_EQ(m.n, 3);
  ASSERT(vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-24T03:00:00Z")));
  ASSERT(vtg_maint_covers(&m, "blog-web", "blog", T("2026-11-24T01:00:00Z")));
  ASSERT(vtg_maint_find(&m, "cfg-2") != NULL);
  ASSERT_EQ(vtg_maint_end(&m, "cfg-1", T("2026-11-24T03:00:00Z")), VTG_EINVAL);
  vtg_config_free(&cfg);
  ASSERT_EQ(load("", &cfg, err, sizeof err), 0);
  ASSERT_EQ(vtg_maint_set_config(&m, &cfg), 0);
  ASSERT_EQ(m.n, 1);
  ASSERT(vtg_maint_find(&m, "sil-4") != NULL);
  ASSERT(!vtg_maint_covers(&m, "shop-api", "shop", T("2026-11-24T03:00:00Z")));
  vtg_maint_free(&m);
  vtg_config_free(&cfg);
  return 0;
}

/* Every error names the line and column of what is wrong. base_cfg has 8
 * lines: "maintenance:" is line 9, the first window line 10. */
VTG_TEST(config_errors) {
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-apx, start: 2026-11-24T02:00:00Z, "
                         "duration: 1h}\n",
                         "cfg:10:13: ", "unknown check 'shop-apx'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {service: shopp, start: 2026-11-24T02:00:00Z, "
                         "duration: 1h}\n",
                         "cfg:10:15: ", "unknown service 'shopp'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {start: 2026-11-24T02:00:00Z, duration: 1h}\n",
                         "cfg:10:5: ", "either 'check' or 'service'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, service: shop, start: "
                         "2026-11-24T02:00:00Z, duration: 1h}\n",
                         "cfg:10:5: ", "not both"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - check: shop-api\n    start: yesterday\n"
                         "    duration: 1h\n",
                         "cfg:11:12: ", "RFC 3339"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - check: shop-api\n    start: 2026-11-24T02:00:00Z\n"
                         "    end: 2026-11-24T01:00:00Z\n",
                         "cfg:12:10: ", "'end' must be after 'start'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, start: 2026-11-24T02:00:00Z}\n",
                         "cfg:10:5: ", "either 'end' or 'duration'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, start: 2026-11-24T02:00:00Z, "
                         "end: 2026-11-24T03:00:00Z, duration: 1h}\n",
                         "cfg:10:5: ", "not both"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, duration: 1h}\n", "cfg:10:5: ",
                         "needs 'start' (or 'weekly')"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, start: 2026-11-24T02:00:00Z, "
                         "duration: 10x}\n",
                         "cfg:10:62: ", "duration"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, weekly: \"sun 25:00\", "
                         "duration: 1h}\n",
                         "cfg:10:31: ", "such as \"sun 02:00\""), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, weekly: \"someday 02:00\", "
                         "duration: 1h}\n",
                         "cfg:10:31: ", "'weekly'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, weekly: \"sun 02:00\"}\n",
                         "cfg:10:5: ", "missing key 'duration'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, weekly: \"sun 02:00\", "
                         "duration: 168h}\n",
                         "cfg:10:54: ", "out of range"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, weekly: \"sun 02:00\", "
                         "start: 2026-11-24T02:00:00Z, duration: 1h}\n",
                         "cfg:10:51: ", "no 'start' or 'end'"), 0);
  ASSERT_EQ(expect_error("maintenance:\n  - {check: shop-api, start: 2026-11-24T02:00:00Z, "
                         "duration: 1h, why: x}\n",
                         "cfg:10:", "unknown key 'why'"), 0);
  ASSERT_EQ(expect_error("maintenance: {check: shop-api}\n", "cfg:9:14: ", "sequence"), 0);
  return 0;
}

static int collect(void *ctx, const vtg_store_silence_t *s) {
  vtg_maint_t *m = ctx;
  return vtg_maint_add_silence(m, s->id, s->check, s->service, s->start_us, s->end_us, s->reason);
}

VTG_TEST(store_round_trip) {
  vtg_test_tmpdb_t t;
  vtg_store_t *s = NULL;
  vtg_maint_t m;
  int64_t id1 = 0, id2 = 0, id3 = 0, t0 = T("2026-11-24T12:00:00Z");
  uint64_t pruned = 0;
  ASSERT(vtg_test_tmpdb_make(&t, "maint") == 0);

  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(vtg_store_silence_add(s, "shop-api", NULL, t0, t0 + S(7200), "db migration", t0, &id1),
            0);
  ASSERT_EQ(vtg_store_silence_add(s, NULL, "blog", t0, t0 + S(60), "", t0, &id2), 0);
  ASSERT(id1 >= 1 && id2 == id1 + 1);
  ASSERT_EQ(vtg_store_silence_end(s, id1, t0 + S(600)), 0);
  ASSERT_EQ(vtg_store_silence_end(s, 999, t0), VTG_ENOTFOUND);
  vtg_store_close(s);
  s = NULL;

  /* a restart finds both, with the early end */
  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_store_silences(s, VTG_TIME_NONE, collect, &m), 0);
  ASSERT_EQ(m.n, 2);
  ASSERT_STR_EQ(m.w[0].check, "shop-api");
  ASSERT_STR_EQ(m.w[0].reason, "db migration");
  ASSERT_EQ(m.w[0].end_us, t0 + S(600));
  ASSERT_STR_EQ(m.w[1].service, "blog");
  ASSERT(m.w[1].check == NULL);
  char id[32];
  snprintf(id, sizeof id, "sil-%lld", (long long)id2);
  ASSERT_STR_EQ(m.w[1].id, id);
  vtg_maint_free(&m);

  /* only those ending at or after the bound are read back */
  vtg_maint_init(&m);
  ASSERT_EQ(vtg_store_silences(s, t0 + S(61), collect, &m), 0);
  ASSERT_EQ(m.n, 1);
  vtg_maint_free(&m);

  /* pruning deletes what ended before the cut-off; ids are never reused */
  ASSERT_EQ(vtg_store_silences_prune(s, t0 + S(601), &pruned), 0);
  ASSERT_EQ(pruned, 2);
  ASSERT_EQ(vtg_store_silence_add(s, "shop-web", NULL, t0, t0 + S(60), "", t0, &id3), 0);
  ASSERT(id3 > id2);
  vtg_store_close(s);
  vtg_test_tmpdb_remove(&t);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(covers_check_vs_service) VTG_TEST_ENTRY(boundaries)
                  VTG_TEST_ENTRY(end_and_expiry) VTG_TEST_ENTRY(weekly)
                      VTG_TEST_ENTRY(incident_rule) VTG_TEST_ENTRY(post_body)
                          VTG_TEST_ENTRY(config_windows) VTG_TEST_ENTRY(config_errors)
                              VTG_TEST_ENTRY(store_round_trip))
