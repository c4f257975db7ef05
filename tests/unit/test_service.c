/* Service incidents (service.h): grouping of a service's check incidents
 * by overlap and merge_gap, down-probe counting by minute without double
 * counting, kind shares and the JSON object. Plain data: the down counts
 * come from a fake rollup (one down probe per minute of a (check, region)
 * unless a rate is given). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "coord.h"
#include "detect.h"
#include "incident.h"
#include "service.h"
#include "store.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/httpd.h"
#include "vtg/json.h"

#define MIN_US (60LL * 1000000)

static int64_t T(const char *s) {
  int64_t us = 0;
  if (vtg_clock_parse_rfc3339(s, &us) != 0) {
    fprintf(stderr, "bad time %s\n", s);
    return INT64_MIN;
  }
  return us;
}

typedef struct fake_s {
  int calls;
  int fail;
  uint64_t web_rate; /* down probes per minute for *-web checks (others: 1) */
} fake_t;

static int fake_down(void *ctx, const char *check, const char *region,
                     int64_t from_us, int64_t to_us, uint64_t *down) {
  fake_t *f = ctx;
  uint64_t rate =
      strstr(check, "-web") != NULL && f->web_rate ? f->web_rate : 1;
  (void)region;
  f->calls++;
  if (f->fail)
    return VTG_ESTORE;
  if (from_us % MIN_US != 0 || to_us % MIN_US != 0 || to_us <= from_us)
    return VTG_EINVAL;
  *down += rate * (uint64_t)((to_us - from_us) / MIN_US);
  return 0;
}

static vtg_json_t *parse(const char *text) {
  vtg_json_t *v = NULL;
  char err[128];
  if (vtg_json_parse(text, strlen(text), &v, err, sizeof err) != 0) {
    fprintf(stderr, "test JSON does not parse: %s\n", err);
    return NULL;
  }
  return v;
}

/* app-api down 12:00-12:10 in three regions (eu-west in two spans sharing
 * the minute 12:05), app-web 12:12-12:20 in two (within merge_gap 5m of
 * the api's end: the same service incident), app-api again at 13:00 (a
 * new one), docs-web open since 12:30. */
static const char INCIDENTS[] =
    "[{\"id\":\"inc-4\",\"service\":\"docs\",\"check\":\"docs-web\",\"kind\":"
    "\"web\","
    "\"onset\":\"2026-11-24T12:30:00.000Z\",\"resolved\":null,\"maintenance\":"
    "false,"
    "\"regions\":[{\"region\":\"us-east\",\"onset\":\"2026-11-24T12:30:00."
    "000Z\",\"resolved\":null,"
    "\"spans\":[{\"onset\":\"2026-11-24T12:30:00.000Z\",\"resolved\":null}]}]},"
    "{\"id\":\"inc-3\",\"service\":\"app\",\"check\":\"app-api\",\"kind\":"
    "\"api\","
    "\"onset\":\"2026-11-24T13:00:00.000Z\",\"resolved\":\"2026-11-24T13:02:00."
    "000Z\","
    "\"regions\":[{\"region\":\"us-east\",\"onset\":\"2026-11-24T13:00:00."
    "000Z\","
    "\"resolved\":\"2026-11-24T13:02:00.000Z\"}]},"
    "{\"id\":\"inc-2\",\"service\":\"app\",\"check\":\"app-web\",\"kind\":"
    "\"web\","
    "\"onset\":\"2026-11-24T12:12:00.000Z\",\"resolved\":\"2026-11-24T12:20:00."
    "000Z\","
    "\"maintenance\":false,"
    "\"regions\":[{\"region\":\"us-east\",\"spans\":[{\"onset\":\"2026-11-"
    "24T12:12:00.000Z\","
    "\"resolved\":\"2026-11-24T12:20:00.000Z\"}]},"
    "{\"region\":\"us-west\",\"spans\":[{\"onset\":\"2026-11-24T12:12:00."
    "000Z\","
    "\"resolved\":\"2026-11-24T12:20:00.000Z\"}]}]},"
    "{\"id\":\"inc-1\",\"service\":\"app\",\"check\":\"app-api\",\"kind\":"
    "\"api\","
    "\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:10:00."
    "000Z\","
    "\"maintenance\":false,"
    "\"regions\":[{\"region\":\"us-east\",\"spans\":[{\"onset\":\"2026-11-"
    "24T12:00:00.000Z\","
    "\"resolved\":\"2026-11-24T12:10:00.000Z\"}]},"
    "{\"region\":\"us-west\",\"spans\":[{\"onset\":\"2026-11-24T12:00:30."
    "000Z\","
    "\"resolved\":\"2026-11-24T12:10:00.000Z\"}]},"
    "{\"region\":\"eu-west\",\"spans\":[{\"onset\":\"2026-11-24T12:01:00."
    "000Z\","
    "\"resolved\":\"2026-11-24T12:05:10.000Z\"},{\"onset\":\"2026-11-24T12:05:"
    "40.000Z\","
    "\"resolved\":\"2026-11-24T12:09:30.000Z\"}]}]},"
    "{\"id\":\"inc-9\",\"check\":\"no-service\",\"onset\":\"2026-11-24T12:00:"
    "00.000Z\"},"
    "{\"id\":\"inc-10\",\"service\":\"app\",\"check\":\"app-api\",\"onset\":"
    "null}]";

VTG_TEST(group_and_order) {
  vtg_json_t *v = parse(INCIDENTS);
  vtg_service_list_t l;
  fake_t f = {0, 0, 0};
  const vtg_service_incident_t *si;

  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            0);
  /* Open first (docs), then newest onset first; entries without a service
   * or an onset are skipped. */
  ASSERT_EQ(l.n, 3);
  ASSERT_STR_EQ(l.v[0].id, "svc-inc-4");
  ASSERT_STR_EQ(l.v[0].service, "docs");
  ASSERT(l.v[0].resolved_us == VTG_TIME_NONE);
  ASSERT_STR_EQ(l.v[1].id, "svc-inc-3");
  ASSERT_STR_EQ(l.v[2].id, "svc-inc-1");

  si = &l.v[2];
  ASSERT_STR_EQ(si->service, "app");
  ASSERT(si->onset_us == T("2026-11-24T12:00:00Z"));
  ASSERT(si->resolved_us == T("2026-11-24T12:20:00Z"));
  ASSERT_EQ(si->n_members, 2);
  ASSERT_STR_EQ(si->members[0].id, "inc-1");
  ASSERT_STR_EQ(si->members[1].id, "inc-2");
  ASSERT_EQ(si->n_checks, 2);
  ASSERT_STR_EQ(si->checks[0], "app-api");
  ASSERT_STR_EQ(si->checks[1], "app-web");
  ASSERT_EQ(si->n_regions, 3);
  ASSERT_STR_EQ(si->regions[0], "eu-west");
  ASSERT_STR_EQ(si->regions[2], "us-west");
  /* api: us-east 12:00-12:09 (10 minutes: 12:10 is the recovery), us-west
   * 10, eu-west 12:01-12:09 once (9: the shared minute 12:05 counts once);
   * web: 8 + 8. */
  ASSERT_EQ(si->n_kinds, 2);
  ASSERT_STR_EQ(si->kinds[0].kind, "api");
  ASSERT_EQ(si->kinds[0].down, 29);
  ASSERT_STR_EQ(si->kinds[1].kind, "web");
  ASSERT_EQ(si->kinds[1].down, 16);
  ASSERT_EQ(si->down_total, 45);
  ASSERT(vtg_service_share(si, 0) == 0.644);
  ASSERT(vtg_service_share(si, 1) == 0.356);
  ASSERT(vtg_service_share(si, 2) < 0);

  /* The open docs incident counts up to now: 12:30-13:59. The region
   * without spans (inc-3) counts its onset to recovery: 2 minutes. */
  ASSERT_EQ(l.v[0].down_total, 90);
  ASSERT_EQ(l.v[1].down_total, 2);
  vtg_service_list_free(&l);
  vtg_service_list_free(&l);
  vtg_service_list_free(NULL);

  /* A smaller gap than the 2 minutes between api and web splits them. */
  ASSERT_EQ(vtg_service_group(v, 1 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            0);
  ASSERT_EQ(l.n, 4);
  vtg_service_list_free(&l);
  /* Exactly the gap joins (onset <= end + merge_gap). */
  ASSERT_EQ(vtg_service_group(v, 2 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            0);
  ASSERT_EQ(l.n, 3);
  vtg_service_list_free(&l);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(shares_weighted_by_probes) {
  /* More probes per minute on the web check (more agents, a shorter
   * interval) weigh more: the share is of probes, not of minutes. */
  vtg_json_t *v = parse(INCIDENTS);
  vtg_service_list_t l;
  fake_t f = {0, 0, 4};
  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            0);
  ASSERT_EQ(l.v[2].kinds[0].down, 29);
  ASSERT_EQ(l.v[2].kinds[1].down, 64);
  ASSERT(vtg_service_share(&l.v[2], 0) == 0.312);
  ASSERT(vtg_service_share(&l.v[2], 1) == 0.688);
  vtg_service_list_free(&l);

  /* Without a counter: members and times, no shares. */
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"), NULL,
                              NULL, &l),
            0);
  ASSERT_EQ(l.n, 3);
  ASSERT_EQ(l.v[2].down_total, 0);
  ASSERT(vtg_service_share(&l.v[2], 0) < 0);
  vtg_service_list_free(&l);

  /* The counter's error comes back, nothing leaks. */
  f.fail = 1;
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            VTG_ESTORE);
  vtg_json_free(v);

  /* Not an array. */
  v = parse("{}");
  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 0, 0, NULL, NULL, &l), VTG_EINVAL);
  vtg_json_free(v);
  /* Empty. */
  v = parse("[]");
  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 0, 0, NULL, NULL, &l), 0);
  ASSERT_EQ(l.n, 0);
  vtg_service_list_free(&l);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(open_member_keeps_it_open) {
  /* An open member anywhere in the chain keeps the service incident open,
   * and later incidents of the service join it. */
  static const char text[] = "[{\"id\":\"inc-1\",\"service\":\"s\",\"check\":"
                             "\"s-api\",\"kind\":\"api\","
                             "\"onset\":\"2026-11-24T12:00:00.000Z\","
                             "\"resolved\":null,\"maintenance\":true},"
                             "{\"id\":\"inc-2\",\"service\":\"s\",\"check\":"
                             "\"s-web\",\"kind\":\"web\","
                             "\"onset\":\"2026-11-24T18:00:00.000Z\","
                             "\"resolved\":\"2026-11-24T18:01:00.000Z\","
                             "\"maintenance\":true}]";
  vtg_json_t *v = parse(text);
  vtg_service_list_t l;
  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 0, T("2026-11-24T19:00:00Z"), NULL, NULL, &l),
            0);
  ASSERT_EQ(l.n, 1);
  ASSERT(l.v[0].resolved_us == VTG_TIME_NONE);
  ASSERT_EQ(l.v[0].n_members, 2);
  ASSERT(l.v[0].members[0].open && l.v[0].members[0].maintenance);
  ASSERT(!l.v[0].members[1].open);
  vtg_service_list_free(&l);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(service_json) {
  vtg_json_t *v = parse(INCIDENTS), *out = NULL;
  vtg_service_list_t l;
  fake_t f = {0, 0, 0};
  vtg_buf_t b;
  char err[128];
  const vtg_json_t *e, *ks;
  static const char *const keys[] = {"id",          "service",    "onset",
                                     "resolved",    "duration_s", "checks",
                                     "incidents",   "regions",    "kind_share",
                                     "down_probes", "maintenance"};

  ASSERT(v != NULL);
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"),
                              fake_down, &f, &l),
            0);
  vtg_buf_init(&b, 1 << 20);
  /* since 12:25: the 12:00-12:20 one is left out; service filter: app. */
  ASSERT_EQ(vtg_service_list_json(&l, NULL, T("2026-11-24T12:25:00Z"),
                                  T("2026-11-24T14:00:00Z"), &b),
            0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &out, err, sizeof err), 0);
  ASSERT(out->type == VTG_JSON_ARRAY && out->n == 2);
  e = out->items[0];
  ASSERT_EQ(e->n, sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < e->n; i++)
    ASSERT_STR_EQ(e->keys[i], keys[i]);
  ASSERT(vtg_json_get(e, "resolved")->type == VTG_JSON_NULL);
  ASSERT(vtg_json_get_num(e, "duration_s", -1) == 5400);
  vtg_json_free(out);
  out = NULL;

  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_service_list_json(&l, "app", VTG_TIME_NONE,
                                  T("2026-11-24T14:00:00Z"), &b),
            0);
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &out, err, sizeof err), 0);
  ASSERT(out->type == VTG_JSON_ARRAY && out->n == 2);
  e = out->items[1];
  ASSERT_STR_EQ(vtg_json_get_str(e, "id", NULL), "svc-inc-1");
  ASSERT_STR_EQ(vtg_json_get_str(e, "onset", NULL), "2026-11-24T12:00:00.000Z");
  ASSERT_STR_EQ(vtg_json_get_str(e, "resolved", NULL),
                "2026-11-24T12:20:00.000Z");
  ASSERT(vtg_json_get_num(e, "duration_s", -1) == 1200);
  ASSERT_EQ(vtg_json_get(e, "checks")->n, 2);
  ASSERT_STR_EQ(vtg_json_get(e, "incidents")->items[1]->string, "inc-2");
  ASSERT_EQ(vtg_json_get(e, "regions")->n, 3);
  ks = vtg_json_get(e, "kind_share");
  ASSERT(ks != NULL && ks->type == VTG_JSON_OBJECT && ks->n == 2);
  ASSERT(vtg_json_get_num(ks, "api", -1) == 0.644);
  ASSERT(vtg_json_get_num(ks, "web", -1) == 0.356);
  ASSERT_EQ(vtg_json_get_num(vtg_json_get(e, "down_probes"), "api", -1), 29);
  ASSERT(vtg_json_get(e, "maintenance")->type == VTG_JSON_BOOL);
  ASSERT(!vtg_json_get(e, "maintenance")->boolean);
  vtg_json_free(out);
  vtg_buf_free(&b);
  vtg_service_list_free(&l);

  /* Nothing counted: kind_share null, down_probes zeros. */
  ASSERT_EQ(vtg_service_group(v, 5 * MIN_US, T("2026-11-24T14:00:00Z"), NULL,
                              NULL, &l),
            0);
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_service_list_json(&l, "docs", VTG_TIME_NONE,
                                  T("2026-11-24T14:00:00Z"), &b),
            0);
  out = NULL;
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &out, err, sizeof err), 0);
  ASSERT(out->n == 1);
  ASSERT(vtg_json_get(out->items[0], "kind_share")->type == VTG_JSON_NULL);
  ASSERT_EQ(
      vtg_json_get_num(vtg_json_get(out->items[0], "down_probes"), "web", -1),
      0);
  vtg_json_free(out);
  vtg_buf_free(&b);
  vtg_service_list_free(&l);
  vtg_json_free(v);
  return 0;
}

/* ---- the coordinator glue: store incidents + store rollups ---- */

typedef struct glue_s {
  vtg_coord_t c;
  vtg_check_cfg_t checks[3];
  uint32_t ids[3];
  char *regions[2];
  char dir[64], path[96];
  int64_t t0; /* a whole minute, an hour ago */
} glue_t;

static int put_incident(glue_t *g, const char *id, const char *check,
                        const char *kind, vtg_incident_region_t *regions,
                        size_t n, int64_t onset, int64_t resolved) {
  vtg_incident_t inc;
  vtg_buf_t b;
  vtg_json_writer_t w;
  int err;
  memset(&inc, 0, sizeof inc);
  inc.id = id;
  inc.check_name = check;
  inc.service = "app";
  inc.kind = kind;
  inc.onset_us = onset;
  inc.resolved_us = resolved;
  inc.regions = regions;
  inc.n_regions = n;
  inc.total_regions = 2;
  vtg_buf_init(&b, 1 << 20);
  vtg_json_writer_init(&w, &b, 0);
  vtg_incident_write_json(&w, &inc, onset);
  err = vtg_json_finish(&w);
  if (err == 0)
    err = vtg_store_incident_put(g->c.store, id, check, "app", onset, resolved,
                                 b.data, b.len);
  vtg_buf_free(&b);
  return err;
}

/* down probes per minute of (check i, region) over [from, to) minutes
 * after t0 */
static int put_rollup(glue_t *g, int i, const char *region, int from, int to,
                      uint32_t down) {
  for (int m = from; m < to; m++) {
    vtg_store_rollup_row_t row = {.check_id = g->ids[i],
                                  .region = region,
                                  .minute_us = g->t0 + m * MIN_US,
                                  .down = down,
                                  .up = 1,
                                  .state = VTG_STATE_DOWN};
    if (vtg_store_rollup_put(g->c.store, &row, 1) != 0)
      return -1;
  }
  return 0;
}

static int glue_init(glue_t *g) {
  static vtg_incident_span_t api_span[1], web_span[1];
  vtg_incident_region_t api_regs[2], web_regs[1];
  int64_t now = vtg_clock_wall_us();

  memset(g, 0, sizeof *g);
  g->t0 = now / MIN_US * MIN_US - 60 * MIN_US;
  g->checks[0] = (vtg_check_cfg_t){.name = "app-api",
                                   .service = "app",
                                   .kind = "api",
                                   .url = "http://127.0.0.1:9/api"};
  g->checks[1] = (vtg_check_cfg_t){.name = "app-web",
                                   .service = "app",
                                   .kind = "web",
                                   .url = "http://127.0.0.1:9/"};
  g->checks[2] = (vtg_check_cfg_t){.name = "docs \"web\"",
                                   .service = "docs",
                                   .kind = "web",
                                   .url = "http://127.0.0.1:9/docs"};
  g->c.cfg.checks = g->checks;
  g->c.cfg.n_checks = 3;
  g->c.cfg.detect.merge_gap_us = 5 * MIN_US;
  g->regions[0] = "us-east";
  g->regions[1] = "us-west";
  g->c.regions = g->regions;
  g->c.n_regions = 2;
  if (vtg_test_mkdtemp(g->dir, sizeof g->dir, "service") != 0)
    return -1;
  snprintf(g->path, sizeof g->path, "%s/db", g->dir);
  if (vtg_store_open(g->path, &g->c.store) != 0)
    return -1;
  for (int i = 0; i < 3; i++)
    if (vtg_store_check_id(g->c.store, g->checks[i].name, g->checks[i].service,
                           g->checks[i].kind, g->checks[i].url,
                           &g->ids[i]) != 0)
      return -1;
  g->c.check_ids = g->ids;

  /* api down in both regions t0..t0+10m, web in us-east t0+2m..t0+6m. */
  api_span[0] = (vtg_incident_span_t){g->t0, g->t0 + 10 * MIN_US};
  web_span[0] = (vtg_incident_span_t){g->t0 + 2 * MIN_US, g->t0 + 6 * MIN_US};
  api_regs[0] = (vtg_incident_region_t){.region = "us-east",
                                        .onset_us = g->t0,
                                        .resolved_us = g->t0 + 10 * MIN_US,
                                        .spans = api_span,
                                        .n_spans = 1};
  api_regs[1] = api_regs[0];
  api_regs[1].region = "us-west";
  web_regs[0] = (vtg_incident_region_t){.region = "us-east",
                                        .onset_us = web_span[0].onset_us,
                                        .resolved_us = web_span[0].resolved_us,
                                        .spans = web_span,
                                        .n_spans = 1};
  if (put_incident(g, "inc-1", "app-api", "api", api_regs, 2, g->t0,
                   g->t0 + 10 * MIN_US) != 0 ||
      put_incident(g, "inc-2", "app-web", "web", web_regs, 1,
                   web_span[0].onset_us, web_span[0].resolved_us) != 0)
    return -1;
  /* 4 down probes a minute where the incidents say; what lies outside
   * (web in us-west, which was never down; api half an hour later) must
   * not count. */
  if (put_rollup(g, 0, "us-east", 0, 10, 4) != 0 ||
      put_rollup(g, 0, "us-west", 0, 10, 4) != 0 ||
      put_rollup(g, 1, "us-east", 2, 6, 4) != 0 ||
      put_rollup(g, 1, "us-west", 0, 10, 100) != 0 ||
      put_rollup(g, 0, "us-east", 30, 31, 50) != 0)
    return -1;
  return 0;
}

static void glue_close(glue_t *g) {
  char p[128];
  vtg_store_close(g->c.store);
  for (size_t i = 0; i < 3; i++) {
    static const char *const sfx[] = {"", "-wal", "-shm"};
    snprintf(p, sizeof p, "%s%s", g->path, sfx[i]);
    unlink(p);
  }
  rmdir(g->dir);
}

VTG_TEST(coord_store_rollups) {
  glue_t g;
  vtg_service_list_t l;
  vtg_buf_t b;
  int64_t now = vtg_clock_wall_us();

  ASSERT_EQ(glue_init(&g), 0);
  ASSERT_EQ(vtg_service_incidents(&g.c, now, 0, &l), 0);
  ASSERT_EQ(l.n, 1);
  ASSERT_STR_EQ(l.v[0].id, "svc-inc-1");
  ASSERT_EQ(l.v[0].n_members, 2);
  ASSERT_EQ(l.v[0].kinds[0].down, 80);
  ASSERT_EQ(l.v[0].kinds[1].down, 16);
  ASSERT(vtg_service_share(&l.v[0], 0) == 0.833);
  ASSERT(vtg_service_share(&l.v[0], 1) == 0.167);
  vtg_service_list_free(&l);
  /* Nothing open: the metrics' variant does no work. */
  ASSERT_EQ(vtg_service_incidents(&g.c, now, 1, &l), 0);
  ASSERT_EQ(l.n, 0);

  /* /metrics: every configured service once, 0 while nothing is open, no
   * shares. */
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_service_metrics_write(&g.c, now, &b), 0);
  ASSERT(strstr(b.data, "# TYPE vantage_service_incident_open gauge\n") !=
         NULL);
  ASSERT(strstr(b.data, "vantage_service_incident_open{service=\"app\"} 0\n") !=
         NULL);
  ASSERT(strstr(b.data,
                "vantage_service_incident_open{service=\"docs\"} 0\n") != NULL);
  ASSERT(strstr(b.data, "vantage_service_down_share{") == NULL);
  vtg_buf_free(&b);

  /* An open web incident in us-west from t0+8m joins the service incident
   * (it overlaps the api's): open, and the shares move to web. */
  {
    static vtg_incident_span_t sp[1];
    vtg_incident_region_t reg = {.region = "us-west",
                                 .onset_us = g.t0 + 8 * MIN_US,
                                 .resolved_us = VTG_TIME_NONE,
                                 .spans = sp,
                                 .n_spans = 1};
    sp[0] = (vtg_incident_span_t){g.t0 + 8 * MIN_US, VTG_TIME_NONE};
    ASSERT_EQ(put_incident(&g, "inc-3", "app-web", "web", &reg, 1,
                           g.t0 + 8 * MIN_US, VTG_TIME_NONE),
              0);
  }
  /* The store refreshes the open incident's severity at read time (it was
   * stored at its onset, with 0): (now - (t0 + 8m)) / 2 regions. */
  {
    vtg_json_t *inc = NULL;
    char perr[128];
    double want = (double)(now - (g.t0 + 8 * MIN_US)) / 60e6 / 2;
    vtg_buf_init(&b, 1 << 20);
    ASSERT_EQ(vtg_store_incident_json(g.c.store, "inc-3", now, &b), 0);
    ASSERT_EQ(vtg_json_parse(b.data, b.len, &inc, perr, sizeof perr), 0);
    ASSERT(vtg_json_get_num(inc, "severity", -1) > want - 0.001);
    ASSERT(vtg_json_get_num(inc, "severity", -1) < want + 0.001);
    vtg_json_free(inc);
    vtg_buf_free(&b);
  }
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_service_metrics_write(&g.c, now, &b), 0);
  ASSERT(strstr(b.data, "vantage_service_incident_open{service=\"app\"} 1\n") !=
         NULL);
  /* web: 16 + 100 a minute in us-west at t0+8m and t0+9m (the rows there) =
   * 216, api 80 */
  ASSERT(
      strstr(
          b.data,
          "vantage_service_down_share{service=\"app\",kind=\"api\"} 0.270\n") !=
      NULL);
  ASSERT(
      strstr(
          b.data,
          "vantage_service_down_share{service=\"app\",kind=\"web\"} 0.730\n") !=
      NULL);
  vtg_buf_free(&b);

  /* The API route: 400 on an unknown parameter, the array otherwise. */
  {
    vtg_httpd_req_t req;
    vtg_httpd_resp_t resp;
    vtg_json_t *v = NULL;
    char q1[] = "bogus=1", q2[] = "service=app&since=2020-01-01T00%3A00%3A00Z",
         err[128];
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.path = "/api/v1/service-incidents";
    req.query = q1;
    memset(&resp, 0, sizeof resp);
    resp.status = 200;
    vtg_buf_init(&resp.body, 1 << 20);
    vtg_service_api(&g.c, &req, &resp);
    ASSERT_EQ(resp.status, 400);
    vtg_buf_free(&resp.body);
    memset(&resp, 0, sizeof resp);
    resp.status = 200;
    vtg_buf_init(&resp.body, 1 << 20);
    req.query = q2;
    vtg_service_api(&g.c, &req, &resp);
    ASSERT_EQ(resp.status, 200);
    ASSERT_EQ(
        vtg_json_parse(resp.body.data, resp.body.len, &v, err, sizeof err), 0);
    ASSERT(v->type == VTG_JSON_ARRAY && v->n == 1);
    ASSERT(vtg_json_get(v->items[0], "resolved")->type == VTG_JSON_NULL);
    ASSERT_EQ(vtg_json_get(v->items[0], "incidents")->n, 3);
    vtg_json_free(v);
    vtg_buf_free(&resp.body);
  }
  glue_close(&g);
  return 0;
}

/* outages --by-service takes --since, not --check (bad usage: 2). */
VTG_TEST(cli_by_service_usage) {
  char a0[] = "outages", a1[] = "--by-service", a2[] = "--check", a3[] = "x";
  char *argv[] = {a0, a1, a2, a3, NULL};
  ASSERT_EQ(vtg_cli_run(4, argv), 2);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(group_and_order)
                  VTG_TEST_ENTRY(shares_weighted_by_probes)
                      VTG_TEST_ENTRY(open_member_keeps_it_open)
                          VTG_TEST_ENTRY(service_json)
                              VTG_TEST_ENTRY(coord_store_rollups)
                                  VTG_TEST_ENTRY(cli_by_service_usage))
