/* Spread as data (spread.h): first region, down and up order, peak
 * fraction and severity, from the struct and in the incident JSON, and the
 * store's read-time refresh of an open incident's severity. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "incident.h"
#include "spread.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
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

static vtg_json_t *write_and_parse(const vtg_incident_t *inc, int64_t now) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_json_t *v = NULL;
  char err[128];

  vtg_buf_init(&b, 1 << 20);
  vtg_json_writer_init(&w, &b, 0);
  vtg_incident_write_json(&w, inc, now);
  if (vtg_json_finish(&w) != 0 ||
      vtg_json_parse(b.data, b.len, &v, err, sizeof err) != 0) {
    fprintf(stderr, "writer output does not parse: %.*s\n", (int)b.len, b.data);
    v = NULL;
  }
  vtg_buf_free(&b);
  return v;
}

static int names_are(const vtg_json_t *arr, const char *const *want, size_t n) {
  if (arr == NULL || arr->type != VTG_JSON_ARRAY || arr->n != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (arr->items[i]->type != VTG_JSON_STRING ||
        strcmp(arr->items[i]->string, want[i]) != 0)
      return 0;
  return 1;
}

/* Four regions watching, three went down: eu-west first, then us-east and
 * us-west at the same moment (ties by name); eu-west down in two waves;
 * us-west still down. */
static void three_regions(vtg_incident_t *inc, vtg_incident_region_t *regions,
                          vtg_incident_span_t *eu, vtg_incident_span_t *east,
                          vtg_incident_span_t *west, int64_t t0) {
  eu[0] = (vtg_incident_span_t){t0, t0 + 10 * MIN_US};
  eu[1] = (vtg_incident_span_t){t0 + 20 * MIN_US, t0 + 25 * MIN_US};
  east[0] = (vtg_incident_span_t){t0 + 2 * MIN_US, t0 + 22 * MIN_US};
  west[0] = (vtg_incident_span_t){t0 + 2 * MIN_US, VTG_TIME_NONE};
  regions[0] = (vtg_incident_region_t){.region = "us-west",
                                       .onset_us = t0 + 2 * MIN_US,
                                       .resolved_us = VTG_TIME_NONE,
                                       .spans = west,
                                       .n_spans = 1};
  regions[1] = (vtg_incident_region_t){.region = "us-east",
                                       .onset_us = t0 + 2 * MIN_US,
                                       .resolved_us = t0 + 22 * MIN_US,
                                       .spans = east,
                                       .n_spans = 1};
  regions[2] = (vtg_incident_region_t){.region = "eu-west",
                                       .onset_us = t0,
                                       .resolved_us = t0 + 25 * MIN_US,
                                       .spans = eu,
                                       .n_spans = 2};
  memset(inc, 0, sizeof *inc);
  inc->id = "inc-7";
  inc->check_name = "app-api";
  inc->service = "app";
  inc->kind = "api";
  inc->scope = VTG_SCOPE_MULTI_REGION;
  inc->onset_us = t0;
  inc->resolved_us = VTG_TIME_NONE;
  inc->regions = regions;
  inc->n_regions = 3;
  inc->peak_regions = 3;
  inc->total_regions = 4;
}

VTG_TEST(spread_orders_and_figures) {
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_incident_span_t eu[2], east[1], west[1];
  vtg_incident_region_t regions[3];
  vtg_incident_t inc;
  vtg_spread_t s;

  three_regions(&inc, regions, eu, east, west, t0);
  /* now = t0 + 30 min: eu 10 + 5, east 20, west 28 (open) = 63
   * region-minutes over 4 regions = 15.75. */
  ASSERT_EQ(vtg_spread_compute(&inc, t0 + 30 * MIN_US, &s), 0);
  ASSERT_STR_EQ(s.first_region, "eu-west");
  ASSERT_EQ(s.n_down, 3);
  ASSERT_STR_EQ(s.down_order[0], "eu-west");
  ASSERT_STR_EQ(s.down_order[1], "us-east");
  ASSERT_STR_EQ(s.down_order[2], "us-west");
  /* us-west has not come back: not in up_order. */
  ASSERT_EQ(s.n_up, 2);
  ASSERT_STR_EQ(s.up_order[0], "us-east");
  ASSERT_STR_EQ(s.up_order[1], "eu-west");
  ASSERT(s.peak_fraction == 0.75);
  ASSERT(s.severity == 15.75);
  vtg_spread_free(&s);
  vtg_spread_free(&s); /* twice is harmless */
  vtg_spread_free(NULL);

  /* The open span grows with now; a now before its onset counts 0. */
  ASSERT_EQ(vtg_spread_compute(&inc, t0 + 90 * MIN_US, &s), 0);
  ASSERT(s.severity == 30.75);
  vtg_spread_free(&s);
  ASSERT_EQ(vtg_spread_compute(&inc, t0, &s), 0);
  ASSERT(s.severity == 8.75);
  vtg_spread_free(&s);
  return 0;
}

VTG_TEST(spread_in_incident_json) {
  static const char *const down[] = {"eu-west", "us-east", "us-west"};
  static const char *const up_open[] = {"us-east", "eu-west"};
  static const char *const up_done[] = {"us-east", "eu-west", "us-west"};
  int64_t t0 = T("2026-11-24T12:00:00Z");
  vtg_incident_span_t eu[2], east[1], west[1];
  vtg_incident_region_t regions[3];
  vtg_incident_t inc;
  vtg_json_t *v;

  three_regions(&inc, regions, eu, east, west, t0);
  v = write_and_parse(&inc, t0 + 30 * MIN_US);
  ASSERT(v != NULL);
  ASSERT_STR_EQ(vtg_json_get_str(v, "first_region", NULL), "eu-west");
  ASSERT(names_are(vtg_json_get(v, "down_order"), down, 3));
  ASSERT(names_are(vtg_json_get(v, "up_order"), up_open, 2));
  ASSERT(vtg_json_get_num(v, "peak_fraction", -1) == 0.75);
  ASSERT(vtg_json_get_num(v, "severity", -1) == 15.75);

  /* The store's refresh at a later read: severity grows with the open span. */
  ASSERT_EQ(vtg_spread_refresh_json(v, t0 + 90 * MIN_US), 0);
  ASSERT(vtg_json_get_num(v, "severity", -1) == 30.75);
  vtg_json_free(v);

  /* Resolved: every region in up_order, by last recovery. */
  west[0].resolved_us = t0 + 40 * MIN_US;
  regions[0].resolved_us = t0 + 40 * MIN_US;
  inc.resolved_us = t0 + 40 * MIN_US;
  v = write_and_parse(&inc, t0 + 999 * MIN_US);
  ASSERT(v != NULL);
  ASSERT(names_are(vtg_json_get(v, "up_order"), up_done, 3));
  ASSERT(vtg_json_get_num(v, "severity", -1) == 18.25); /* (15 + 20 + 38) / 4 */
  vtg_json_free(v);
  return 0;
}

VTG_TEST(spread_unknowns) {
  vtg_incident_region_t regions[2];
  vtg_incident_t inc;
  vtg_json_t *v;
  int64_t t0 = T("2026-11-24T12:00:00Z");

  /* Nothing known: null and empty lists, every key present. */
  memset(&inc, 0, sizeof inc);
  inc.onset_us = inc.resolved_us = VTG_TIME_NONE;
  v = write_and_parse(&inc, t0);
  ASSERT(v != NULL);
  ASSERT(vtg_json_get(v, "first_region")->type == VTG_JSON_NULL);
  ASSERT(vtg_json_get(v, "down_order")->type == VTG_JSON_ARRAY);
  ASSERT_EQ(vtg_json_get(v, "down_order")->n, 0);
  ASSERT(vtg_json_get(v, "up_order")->type == VTG_JSON_ARRAY);
  ASSERT(vtg_json_get(v, "peak_fraction")->type == VTG_JSON_NULL);
  ASSERT(vtg_json_get(v, "severity")->type == VTG_JSON_NULL);
  /* A null severity is not refreshed into a number. */
  ASSERT_EQ(vtg_spread_refresh_json(v, t0), 0);
  ASSERT(vtg_json_get(v, "severity")->type == VTG_JSON_NULL);
  vtg_json_free(v);

  /* Regions without spans count first onset to last recovery; a region
   * with no onset is in no order. peak above total is clamped to 1. */
  regions[0] = (vtg_incident_region_t){
      .region = "b", .onset_us = t0, .resolved_us = t0 + 6 * MIN_US};
  regions[1] = (vtg_incident_region_t){
      .region = "a", .onset_us = VTG_TIME_NONE, .resolved_us = VTG_TIME_NONE};
  inc.regions = regions;
  inc.n_regions = 2;
  inc.peak_regions = 3;
  inc.total_regions = 2;
  inc.onset_us = t0;
  inc.resolved_us = t0 + 6 * MIN_US;
  v = write_and_parse(&inc, t0);
  ASSERT(v != NULL);
  ASSERT_STR_EQ(vtg_json_get_str(v, "first_region", NULL), "b");
  ASSERT_EQ(vtg_json_get(v, "down_order")->n, 1);
  ASSERT(vtg_json_get_num(v, "peak_fraction", -1) == 1);
  ASSERT(vtg_json_get_num(v, "severity", -1) == 3);
  vtg_json_free(v);

  /* The core: 3 decimals, unknown total. */
  {
    vtg_incident_span_t sp = {0, 1000000}; /* one second */
    ASSERT(vtg_spread_severity(&sp, 1, 3, 0) == 0.006);
    ASSERT(vtg_spread_severity(&sp, 1, 0, 0) < 0);
  }
  ASSERT(vtg_spread_refresh_json(NULL, 0) != 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(spread_orders_and_figures)
                  VTG_TEST_ENTRY(spread_in_incident_json)
                      VTG_TEST_ENTRY(spread_unknowns))
