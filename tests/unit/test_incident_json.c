/* The incident writer against the contract of DESIGN.md: output parsed back
 * and checked field by field, nulls included. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "incident.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/json.h"

static int64_t T(const char *s) {
  int64_t us = 0;
  if (vtg_clock_parse_rfc3339(s, &us) != 0) {
    fprintf(stderr, "bad time %s\n", s);
    return INT64_MIN;
  }
  return us;
}

static vtg_json_t *write_and_parse(const vtg_incident_t *inc, int64_t now, int pretty) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_json_t *v = NULL;
  char err[128];

  vtg_buf_init(&b, 1 << 20);
  vtg_json_writer_init(&w, &b, pretty);
  vtg_incident_write_json(&w, inc, now);
  if (vtg_json_finish(&w) != 0 || vtg_json_parse(b.data, b.len, &v, err, sizeof err) != 0) {
    fprintf(stderr, "writer output does not parse: %.*s\n", (int)b.len, b.data);
    v = NULL;
  }
  vtg_buf_free(&b);
  return v;
}

static int is_null(const vtg_json_t *o, const char *key) {
  const vtg_json_t *v = vtg_json_get(o, key);
  return v != NULL && v->type == VTG_JSON_NULL;
}

VTG_TEST(open_incident) {
  const char *w1_regions[] = {"us-east", "us-west"};
  const char *w2_regions[] = {"us-west"};
  vtg_incident_span_t east_spans[2] = {
      {T("2026-11-24T12:00:03.250Z"), T("2026-11-24T12:20:00.000Z")},
      {T("2026-11-24T12:30:00.000Z"), T("2026-11-24T12:40:00.000Z")},
  };
  vtg_incident_region_t regions[2] = {
      {"us-east", 0, 0, east_spans, 2, 1250000, 600000},
      {"us-west", 0, VTG_TIME_NONE, NULL, 0, -1, -1},
  };
  vtg_incident_wave_t waves[2];
  vtg_incident_t inc;
  vtg_json_t *v;
  const vtg_json_t *r, *wv;
  static const char *const keys[] = {"id",    "service", "check",      "kind",
                                     "scope", "onset",   "resolved",   "onset_window_s",
                                     "resolved_window_s", "duration_s",
                                     "cause", "regions", "waves",      "peak_regions",
                                     "total_regions", "maintenance",
                                     "first_region", "down_order", "up_order",
                                     "peak_fraction", "severity"};

  regions[0].onset_us = T("2026-11-24T12:00:03.250Z");
  regions[0].resolved_us = T("2026-11-24T12:40:00.000Z");
  regions[1].onset_us = T("2026-11-24T12:00:33.000Z");
  waves[0] = (vtg_incident_wave_t){T("2026-11-24T12:00:03.250Z"), T("2026-11-24T12:40:00Z"), 5,
                                   w1_regions, 2};
  waves[1] = (vtg_incident_wave_t){T("2026-11-24T12:43:00Z"), VTG_TIME_NONE, 7, w2_regions, 1};
  memset(&inc, 0, sizeof inc);
  inc.id = "inc-42";
  inc.check = 3;
  inc.check_name = "shop-api";
  inc.service = "shop";
  inc.kind = "api";
  inc.scope = VTG_SCOPE_MULTI_REGION;
  inc.onset_us = T("2026-11-24T12:00:03.250Z");
  inc.resolved_us = VTG_TIME_NONE;
  inc.cause = 5;
  inc.regions = regions;
  inc.n_regions = 2;
  inc.waves = waves;
  inc.n_waves = 2;
  inc.peak_regions = 2;
  inc.total_regions = 5;
  inc.onset_window_us = 1250000;
  inc.resolved_window_us = -1; /* open */

  v = write_and_parse(&inc, T("2026-11-24T13:00:03.999Z"), 0);
  ASSERT(v != NULL && v->type == VTG_JSON_OBJECT);
  ASSERT_EQ(v->n, sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < v->n; i++) ASSERT_STR_EQ(v->keys[i], keys[i]);
  ASSERT_STR_EQ(vtg_json_get_str(v, "id", NULL), "inc-42");
  ASSERT_STR_EQ(vtg_json_get_str(v, "service", NULL), "shop");
  ASSERT_STR_EQ(vtg_json_get_str(v, "check", NULL), "shop-api");
  ASSERT_STR_EQ(vtg_json_get_str(v, "kind", NULL), "api");
  ASSERT_STR_EQ(vtg_json_get_str(v, "scope", NULL), "multi_region");
  ASSERT_STR_EQ(vtg_json_get_str(v, "onset", NULL), "2026-11-24T12:00:03.250Z");
  ASSERT(is_null(v, "resolved"));
  ASSERT(vtg_json_get_num(v, "onset_window_s", -1) == 1.25);
  ASSERT(is_null(v, "resolved_window_s"));
  ASSERT(vtg_json_get(v, "duration_s")->type == VTG_JSON_NUMBER);
  ASSERT(vtg_json_get_num(v, "duration_s", -1) == 3600.749);
  ASSERT_STR_EQ(vtg_json_get_str(v, "cause", NULL), "timeout");
  ASSERT(vtg_json_get(v, "peak_regions")->type == VTG_JSON_NUMBER);
  ASSERT_EQ(vtg_json_get_num(v, "peak_regions", -1), 2);
  ASSERT_EQ(vtg_json_get_num(v, "total_regions", -1), 5);

  r = vtg_json_get(v, "regions");
  ASSERT(r != NULL && r->type == VTG_JSON_ARRAY && r->n == 2);
  ASSERT_EQ(r->items[0]->n, 6);
  ASSERT(vtg_json_get_num(r->items[0], "onset_window_s", -1) == 1.25);
  ASSERT(vtg_json_get_num(r->items[0], "resolved_window_s", -1) == 0.6);
  ASSERT(is_null(r->items[1], "onset_window_s"));
  ASSERT(is_null(r->items[1], "resolved_window_s"));
  ASSERT_STR_EQ(vtg_json_get_str(r->items[0], "region", NULL), "us-east");
  {
    const vtg_json_t *sp = vtg_json_get(r->items[0], "spans");
    ASSERT(sp != NULL && sp->type == VTG_JSON_ARRAY && sp->n == 2);
    ASSERT_STR_EQ(vtg_json_get_str(sp->items[0], "onset", NULL), "2026-11-24T12:00:03.250Z");
    ASSERT_STR_EQ(vtg_json_get_str(sp->items[0], "resolved", NULL), "2026-11-24T12:20:00.000Z");
    ASSERT_STR_EQ(vtg_json_get_str(sp->items[1], "onset", NULL), "2026-11-24T12:30:00.000Z");
    sp = vtg_json_get(r->items[1], "spans");
    ASSERT(sp != NULL && sp->type == VTG_JSON_ARRAY && sp->n == 0);
  }
  ASSERT_STR_EQ(vtg_json_get_str(r->items[0], "onset", NULL), "2026-11-24T12:00:03.250Z");
  ASSERT_STR_EQ(vtg_json_get_str(r->items[0], "resolved", NULL), "2026-11-24T12:40:00.000Z");
  ASSERT_STR_EQ(vtg_json_get_str(r->items[1], "region", NULL), "us-west");
  ASSERT_STR_EQ(vtg_json_get_str(r->items[1], "onset", NULL), "2026-11-24T12:00:33.000Z");
  ASSERT(is_null(r->items[1], "resolved"));

  wv = vtg_json_get(v, "waves");
  ASSERT(wv != NULL && wv->type == VTG_JSON_ARRAY && wv->n == 2);
  ASSERT_EQ(wv->items[0]->n, 4);
  ASSERT_STR_EQ(wv->items[0]->keys[0], "onset");
  ASSERT_STR_EQ(wv->items[0]->keys[1], "resolved");
  ASSERT_STR_EQ(wv->items[0]->keys[2], "cause");
  ASSERT_STR_EQ(wv->items[0]->keys[3], "regions");
  ASSERT_STR_EQ(vtg_json_get_str(wv->items[0], "onset", NULL), "2026-11-24T12:00:03.250Z");
  ASSERT_STR_EQ(vtg_json_get_str(wv->items[0], "resolved", NULL), "2026-11-24T12:40:00.000Z");
  ASSERT_STR_EQ(vtg_json_get_str(wv->items[0], "cause", NULL), "timeout");
  {
    const vtg_json_t *names = vtg_json_get(wv->items[0], "regions");
    ASSERT(names != NULL && names->type == VTG_JSON_ARRAY && names->n == 2);
    ASSERT_STR_EQ(names->items[0]->string, "us-east");
    ASSERT_STR_EQ(names->items[1]->string, "us-west");
  }
  ASSERT_STR_EQ(vtg_json_get_str(wv->items[1], "onset", NULL), "2026-11-24T12:43:00.000Z");
  ASSERT(is_null(wv->items[1], "resolved"));
  ASSERT_STR_EQ(vtg_json_get_str(wv->items[1], "cause", NULL), "http_5xx");
  vtg_json_free(v);

  /* Pretty output parses to the same. */
  v = write_and_parse(&inc, T("2026-11-24T13:00:03.999Z"), 1);
  ASSERT(v != NULL && v->n == sizeof keys / sizeof keys[0]);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(resolved_incident) {
  vtg_incident_t inc;
  vtg_json_t *v;

  memset(&inc, 0, sizeof inc);
  inc.id = "inc-1";
  inc.check_name = "shop-web";
  inc.service = "shop";
  inc.kind = "web";
  inc.scope = VTG_SCOPE_GLOBAL;
  inc.onset_us = T("2026-11-24T12:00:00.000Z");
  inc.resolved_us = inc.onset_us + 3723456700; /* 1h 2m 3.4567s */
  inc.cause = 1;
  inc.peak_regions = 4;
  inc.total_regions = 4;
  inc.onset_window_us = 625000;
  inc.resolved_window_us = 312500; /* written to the millisecond */

  /* now is ignored once resolved. */
  v = write_and_parse(&inc, inc.onset_us + 999999999999, 0);
  ASSERT(v != NULL);
  ASSERT_STR_EQ(vtg_json_get_str(v, "scope", NULL), "global");
  ASSERT_STR_EQ(vtg_json_get_str(v, "resolved", NULL), "2026-11-24T13:02:03.456Z");
  ASSERT(vtg_json_get_num(v, "duration_s", -1) == 3723.457);
  ASSERT(vtg_json_get_num(v, "onset_window_s", -1) == 0.625);
  ASSERT(vtg_json_get_num(v, "resolved_window_s", -1) == 0.312);
  ASSERT_STR_EQ(vtg_json_get_str(v, "cause", NULL), "dns");
  /* Empty lists are still present, as arrays. */
  ASSERT(vtg_json_get(v, "regions")->type == VTG_JSON_ARRAY);
  ASSERT_EQ(vtg_json_get(v, "regions")->n, 0);
  ASSERT(vtg_json_get(v, "waves")->type == VTG_JSON_ARRAY);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(unknowns_are_null) {
  vtg_incident_t inc;
  vtg_json_t *v;

  memset(&inc, 0, sizeof inc);
  inc.scope = VTG_SCOPE_REGIONAL;
  inc.onset_us = VTG_TIME_NONE;
  inc.resolved_us = VTG_TIME_NONE;
  inc.cause = 99; /* not a class: null rather than a made-up name */
  inc.onset_window_us = inc.resolved_window_us = -1;
  v = write_and_parse(&inc, 0, 0);
  ASSERT(v != NULL);
  ASSERT_EQ(v->n, 21);
  ASSERT(is_null(v, "id"));
  ASSERT(is_null(v, "service"));
  ASSERT(is_null(v, "check"));
  ASSERT(is_null(v, "kind"));
  ASSERT_STR_EQ(vtg_json_get_str(v, "scope", NULL), "regional");
  ASSERT(is_null(v, "onset"));
  ASSERT(is_null(v, "resolved"));
  ASSERT(is_null(v, "duration_s"));
  ASSERT(is_null(v, "cause"));
  ASSERT_EQ(vtg_json_get_num(v, "peak_regions", -1), 0);
  vtg_json_free(v);

  /* Open with now before onset (clock stepped back): never negative. */
  inc.onset_us = T("2026-11-24T12:00:00Z");
  inc.cause = 0;
  v = write_and_parse(&inc, inc.onset_us - 5000000, 0);
  ASSERT(v != NULL);
  ASSERT(vtg_json_get_num(v, "duration_s", -1) == 0);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(scope_names) {
  ASSERT_STR_EQ(vtg_scope_name(VTG_SCOPE_REGIONAL), "regional");
  ASSERT_STR_EQ(vtg_scope_name(VTG_SCOPE_MULTI_REGION), "multi_region");
  ASSERT_STR_EQ(vtg_scope_name(VTG_SCOPE_GLOBAL), "global");
  ASSERT(vtg_incident_duration_s(0, 1500) == 0.002);
  ASSERT(vtg_incident_duration_s(0, 1499) == 0.001);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(open_incident) VTG_TEST_ENTRY(resolved_incident)
                  VTG_TEST_ENTRY(unknowns_are_null) VTG_TEST_ENTRY(scope_names))
