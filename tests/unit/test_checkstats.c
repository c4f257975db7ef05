/* Per (check, region) result statistics (coordinator/checkstats.c) and the
 * histogram helper they and /metrics use (common/src/histo.c): counts by
 * outcome and error class, bucket placement and the exposition lines,
 * certificate expiry per agent, caps, and a config reload. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkstats.h"
#include "coord.h"
#include "ingest.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/error.h"
#include "vtg/histo.h"

#define S 1000000LL
#define T0 1800000000000000LL

static Vantage__Result result(int outcome, int error_class, uint32_t total_us) {
  Vantage__Result r = VANTAGE__RESULT__INIT;
  r.outcome = (Vantage__Outcome)outcome;
  r.error_class = (Vantage__ErrorClass)error_class;
  r.total_us = total_us;
  return r;
}

VTG_TEST(histo_buckets) {
  vtg_histo_t h;
  memset(&h, 0, sizeof h);
  const vtg_histo_bounds_t *b = &vtg_histo_latency_bounds;
  ASSERT_EQ(b->n, 12);
  vtg_histo_observe(&h, b, 0.001);  /* <= .005 */
  vtg_histo_observe(&h, b, 0.005);  /* le is inclusive: still the first bucket */
  vtg_histo_observe(&h, b, 0.0051); /* .01 */
  vtg_histo_observe(&h, b, 1.0);    /* 1 */
  vtg_histo_observe(&h, b, 31.0);   /* +Inf only */
  vtg_histo_observe(&h, b, NAN); /* ignored */
  ASSERT_EQ(h.count, 5);
  ASSERT_EQ(h.bucket[0], 2);
  ASSERT_EQ(h.bucket[1], 1);
  ASSERT_EQ(h.bucket[7], 1);
  ASSERT_EQ(h.bucket[12], 1);
  ASSERT(h.sum > 32.0110 && h.sum < 32.0112);
  return 0;
}

VTG_TEST(histo_exposition) {
  vtg_histo_t h;
  vtg_buf_t out;
  memset(&h, 0, sizeof h);
  vtg_buf_init(&out, 1 << 16);
  vtg_histo_observe(&h, &vtg_histo_latency_bounds, 0.25);
  vtg_histo_observe(&h, &vtg_histo_latency_bounds, 2.0);
  vtg_histo_observe(&h, &vtg_histo_latency_bounds, 40.0);
  ASSERT_EQ(vtg_histo_write(&out, "x_seconds", "check=\"a\"", &h, &vtg_histo_latency_bounds), 0);
  ASSERT_EQ(vtg_buf_append(&out, "", 1), 0);
  ASSERT_STR_EQ(out.data, "x_seconds_bucket{check=\"a\",le=\"0.005\"} 0\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.01\"} 0\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.025\"} 0\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.05\"} 0\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.1\"} 0\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.25\"} 1\n"
                          "x_seconds_bucket{check=\"a\",le=\"0.5\"} 1\n"
                          "x_seconds_bucket{check=\"a\",le=\"1\"} 1\n"
                          "x_seconds_bucket{check=\"a\",le=\"2.5\"} 2\n"
                          "x_seconds_bucket{check=\"a\",le=\"5\"} 2\n"
                          "x_seconds_bucket{check=\"a\",le=\"10\"} 2\n"
                          "x_seconds_bucket{check=\"a\",le=\"30\"} 2\n"
                          "x_seconds_bucket{check=\"a\",le=\"+Inf\"} 3\n"
                          "x_seconds_sum{check=\"a\"} 42.25\n"
                          "x_seconds_count{check=\"a\"} 3\n");
  /* Without labels: no empty braces. */
  vtg_buf_reset(&out);
  memset(&h, 0, sizeof h);
  ASSERT_EQ(vtg_histo_write(&out, "y_seconds", NULL, &h, &vtg_histo_io_bounds), 0);
  ASSERT_EQ(vtg_buf_append(&out, "", 1), 0);
  ASSERT(strstr(out.data, "y_seconds_bucket{le=\"2.5e-05\"} 0\n") == out.data);
  ASSERT(strstr(out.data, "\ny_seconds_bucket{le=\"0.0001\"} 0\n") != NULL);
  ASSERT(strstr(out.data, "\ny_seconds_bucket{le=\"+Inf\"} 0\ny_seconds_sum 0\n"
                          "y_seconds_count 0\n") != NULL);
  vtg_buf_free(&out);
  return 0;
}

VTG_TEST(format_float) {
  static const struct {
    double v;
    const char *s;
  } cases[] = {{0.005, "0.005"},
               {1, "1"},
               {2.5, "2.5"},
               {30, "30"},
               {0.1, "0.1"},
               {1e-06, "1e-06"},
               {2.5e-05, "2.5e-05"},
               {0.0001, "0.0001"},
               {100000, "100000"},
               {123456789, "1.23456789e+08"},
               {-2.5, "-2.5"},
               {0, "0"},
               {0.3 + 0.6, "0.8999999999999999"},
               {INFINITY, "+Inf"},
               {-INFINITY, "-Inf"}};
  char buf[40];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vtg_histo_format_float(cases[i].v, buf, sizeof buf);
    ASSERT_STR_EQ(buf, cases[i].s);
  }
  return 0;
}

/* Outcomes and error classes land where the detector reads them: "none"
 * unless down, "other" when out of range; invalid outcomes are lost. */
VTG_TEST(counts_and_classes) {
  vtg_checkstats_t *cs = vtg_checkstats_new();
  ASSERT(cs != NULL);
  Vantage__Result up = result(VTG_OUTCOME_UP, 0, 1000);
  Vantage__Result deg = result(VTG_OUTCOME_DEGRADED, 9 /* assertion */, 3 * S);
  Vantage__Result refused = result(VTG_OUTCOME_DOWN, 2, 500);
  Vantage__Result weird = result(VTG_OUTCOME_DOWN, 99, 500);
  Vantage__Result bad = result(0, 0, 500);
  for (int i = 0; i < 3; i++) vtg_checkstats_feed(cs, 4, 1, 0, &up, T0);
  vtg_checkstats_feed(cs, 4, 1, 1, &deg, T0);
  vtg_checkstats_feed(cs, 4, 1, 1, &refused, T0);
  vtg_checkstats_feed(cs, 4, 1, 1, &refused, T0);
  vtg_checkstats_feed(cs, 4, 1, 1, &weird, T0);
  vtg_checkstats_feed(cs, 4, 1, 1, &bad, T0);
  const vtg_checkstats_slot_t *s = vtg_checkstats_slot(cs, 4, 1);
  ASSERT(s != NULL);
  ASSERT_EQ(s->results[0][0], 3);
  ASSERT_EQ(s->results[1][0], 1);
  ASSERT_EQ(s->results[1][9], 0);
  ASSERT_EQ(s->results[2][2], 2);
  ASSERT_EQ(s->results[2][VTG_N_ERROR_CLASSES - 1], 1);
  ASSERT_EQ(vtg_checkstats_lost(cs), 1);
  ASSERT(vtg_checkstats_slot(cs, 4, 0) == NULL);
  ASSERT(vtg_checkstats_slot(cs, 3, 1) == NULL);
  ASSERT(vtg_checkstats_slot(cs, 400, 1) == NULL);
  vtg_checkstats_feed(NULL, 4, 1, 0, &up, T0); /* no table: nothing */
  vtg_checkstats_free(cs);
  vtg_checkstats_free(NULL);
  return 0;
}

/* A phase the probe did not reach (0 us) is not observed; each phase's
 * count is the number of results that reached it. */
VTG_TEST(phases) {
  vtg_checkstats_t *cs = vtg_checkstats_new();
  ASSERT(cs != NULL);
  Vantage__Result full = result(VTG_OUTCOME_UP, 0, 120000);
  full.dns_us = 2000;
  full.connect_us = 8000;
  full.tls_us = 30000;
  full.ttfb_us = 100000;
  Vantage__Result refused = result(VTG_OUTCOME_DOWN, 2, 9000);
  refused.dns_us = 2000;
  vtg_checkstats_feed(cs, 1, 0, 0, &full, T0);
  vtg_checkstats_feed(cs, 1, 0, 0, &full, T0);
  vtg_checkstats_feed(cs, 1, 0, 0, &refused, T0);
  const vtg_checkstats_slot_t *s = vtg_checkstats_slot(cs, 1, 0);
  ASSERT(s != NULL);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_DNS].count, 3);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_CONNECT].count, 2);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TLS].count, 2);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TTFB].count, 2);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TOTAL].count, 3);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_DNS].bucket[0], 3);            /* 2 ms <= 5 ms */
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TLS].bucket[3], 2);            /* 30 ms in (25, 50] */
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TOTAL].bucket[1], 1);          /* 9 ms */
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TOTAL].bucket[5], 2);          /* 120 ms */
  ASSERT_STR_EQ(vtg_checkstats_phase_name(VTG_CHECKSTATS_TTFB), "ttfb");
  ASSERT_STR_EQ(vtg_checkstats_phase_name(VTG_CHECKSTATS_TOTAL), "total");
  vtg_checkstats_free(cs);
  return 0;
}

/* The earliest notAfter among each agent's latest result; a result
 * without a certificate takes its agent out; a late older result changes
 * nothing; stale agents do not count. */
VTG_TEST(cert_expiry) {
  vtg_checkstats_t *cs = vtg_checkstats_new();
  int64_t exp = -1;
  ASSERT(cs != NULL);
  Vantage__Result r = result(VTG_OUTCOME_UP, 0, 1000);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), VTG_ENOTFOUND);
  vtg_checkstats_feed(cs, 2, 0, 0, &r, T0); /* no certificate: nothing kept */
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), VTG_ENOTFOUND);
  ASSERT_EQ(exp, 0);
  r.cert_expiry_unix = 1900000000;
  vtg_checkstats_feed(cs, 2, 0, 0, &r, T0);
  r.cert_expiry_unix = 1850000000; /* agent 5 sees an older certificate (another backend) */
  vtg_checkstats_feed(cs, 2, 1, 5, &r, T0 + 1 * S);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), 0);
  ASSERT_EQ(exp, 1850000000);
  /* A late result of agent 5 from before: ignored. */
  r.cert_expiry_unix = 1700000000;
  vtg_checkstats_feed(cs, 2, 1, 5, &r, T0);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), 0);
  ASSERT_EQ(exp, 1850000000);
  /* Agent 5's backend is renewed. */
  r.cert_expiry_unix = 1950000000;
  vtg_checkstats_feed(cs, 2, 1, 5, &r, T0 + 2 * S);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), 0);
  ASSERT_EQ(exp, 1900000000);
  /* Agent 0's handshake fails: its latest result has no certificate. */
  Vantage__Result tls = result(VTG_OUTCOME_DOWN, 4, 1000);
  vtg_checkstats_feed(cs, 2, 0, 0, &tls, T0 + 3 * S);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, 0, &exp), 0);
  ASSERT_EQ(exp, 1950000000);
  /* Only sightings at or after since count. */
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, T0 + 2 * S + 1, &exp), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 2, T0 + 2 * S, &exp), 0);
  ASSERT_EQ(vtg_checkstats_cert_expiry(NULL, 2, 0, &exp), VTG_ENOTFOUND);
  vtg_checkstats_free(cs);
  return 0;
}

/* Reload: removed checks are forgotten (a check added back starts from
 * zero), kept ones keep their counts; a region index first seen later
 * (a new region) gets its own slot. */
VTG_TEST(reload) {
  vtg_checkstats_t *cs = vtg_checkstats_new();
  ASSERT(cs != NULL);
  Vantage__Result up = result(VTG_OUTCOME_UP, 0, 1000);
  up.cert_expiry_unix = 1900000000;
  vtg_checkstats_feed(cs, 3, 0, 0, &up, T0);
  vtg_checkstats_feed(cs, 3, 0, 0, &up, T0);
  vtg_checkstats_feed(cs, 5, 0, 0, &up, T0);
  vtg_checkstats_feed(cs, 5, 7, 2, &up, T0); /* region 7: added after start */
  const uint32_t keep[] = {5, 9, 1u << 30};  /* 9: a new check, no results yet */
  vtg_checkstats_retain(cs, keep, 3);
  ASSERT(vtg_checkstats_slot(cs, 3, 0) == NULL);
  int64_t exp;
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 3, 0, &exp), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 5, 0, &exp), 0);
  ASSERT(vtg_checkstats_slot(cs, 5, 0) != NULL);
  ASSERT_EQ(vtg_checkstats_slot(cs, 5, 0)->results[0][0], 1);
  ASSERT_EQ(vtg_checkstats_slot(cs, 5, 7)->results[0][0], 1);
  ASSERT(vtg_checkstats_slot(cs, 5, 3) == NULL);
  vtg_checkstats_feed(cs, 3, 0, 0, &up, T0); /* check 3 is back */
  ASSERT_EQ(vtg_checkstats_slot(cs, 3, 0)->results[0][0], 1);
  vtg_checkstats_retain(cs, NULL, 0); /* every check removed */
  ASSERT(vtg_checkstats_slot(cs, 5, 0) == NULL);
  vtg_checkstats_free(cs);
  return 0;
}

/* Past the caps a result is lost, not a crash or a huge allocation. */
VTG_TEST(caps) {
  vtg_checkstats_t *cs = vtg_checkstats_new();
  ASSERT(cs != NULL);
  Vantage__Result up = result(VTG_OUTCOME_UP, 0, 1000);
  vtg_checkstats_feed(cs, VTG_CHECKSTATS_MAX_CHECK_ID, 0, 0, &up, T0);
  vtg_checkstats_feed(cs, 1, VTG_CHECKSTATS_MAX_REGIONS, 0, &up, T0);
  ASSERT_EQ(vtg_checkstats_lost(cs), 2);
  up.cert_expiry_unix = 1900000000;
  vtg_checkstats_feed(cs, 1, 0, VTG_CHECKSTATS_MAX_AGENTS, &up, T0); /* counted, cert not kept */
  ASSERT_EQ(vtg_checkstats_lost(cs), 2);
  ASSERT_EQ(vtg_checkstats_slot(cs, 1, 0)->results[0][0], 1);
  int64_t exp;
  ASSERT_EQ(vtg_checkstats_cert_expiry(cs, 1, 0, &exp), VTG_ENOTFOUND);
  vtg_checkstats_free(cs);
  return 0;
}

/* Through the ingest: live results are counted once (a duplicate from a
 * reconnect is not), a result replayed from the result log at start-up is
 * not counted at all. */
static void no_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)ctx;
  (void)inc;
  (void)removed;
}

VTG_TEST(ingest_live_only) {
  vtg_coord_t c;
  int32_t index[4] = {-1, -1, -1, 0};
  uint32_t ids[1] = {3};
  vtg_agent_t *a = NULL;
  Vantage__Result res[3], *resp[3];
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2,
                           .merge_gap_us = 60 * S};
  memset(&c, 0, sizeof c);
  ASSERT((c.detect = vtg_detect_new(&p, no_incident, NULL)) != NULL);
  ASSERT((c.checkstats = vtg_checkstats_new()) != NULL);
  c.check_index = index;
  c.check_index_len = 4;
  c.check_ids = ids;
  ASSERT_EQ(vtg_detect_set_check(c.detect, 3, "c", "s", "web", 1 * S, S / 2), 0);
  ASSERT_EQ(vtg_coord_agent_get(&c, "a-1", "r1", &a), 0);
  for (int i = 0; i < 3; i++) {
    res[i] = result(i == 2 ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, i == 2 ? 5 : 0, 2000);
    res[i].check_id = 3;
    res[i].start_us = T0 + i * S;
    resp[i] = &res[i];
  }
  Vantage__ResultBatch b = VANTAGE__RESULT_BATCH__INIT;
  b.spool_epoch = 9;
  b.first_seq = 1;
  b.n_results = 2;
  b.results = resp;
  ASSERT_EQ(vtg_ingest_batch(&c, a, &b), 0);
  b.n_results = 3; /* after a reconnect: 1..2 again, and 3 */
  ASSERT_EQ(vtg_ingest_batch(&c, a, &b), 0);
  const vtg_checkstats_slot_t *s = vtg_checkstats_slot(c.checkstats, 3, a->region_idx);
  ASSERT(s != NULL);
  ASSERT_EQ(s->results[0][0], 2);
  ASSERT_EQ(s->results[2][5], 1);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TOTAL].count, 3);

  /* A record of the result log, replayed as at start-up. */
  uint8_t packed[256];
  res[0].start_us = T0 + 10 * S;
  size_t len = vantage__result__pack(&res[0], packed);
  vtg_resultlog_rec_t rec = {.agent = "a-1", .region = "r1", .epoch = 9, .seq = 4,
                             .start_us = res[0].start_us, .result = packed, .result_len = len};
  vtg_arena_t arena;
  vtg_arena_init(&arena, 1 << 20);
  ASSERT_EQ(vtg_ingest_replay(&c, &rec, 0, &arena), 0);
  vtg_arena_free(&arena);
  ASSERT_EQ(c.replayed_total, 1);
  ASSERT_EQ(s->results[0][0], 2);
  ASSERT_EQ(s->phase[VTG_CHECKSTATS_TOTAL].count, 3);

  vtg_ingest_free(&c);
  vtg_checkstats_free(c.checkstats);
  vtg_detect_free(c.detect);
  for (size_t i = 0; i < c.n_agents; i++) {
    free(c.agents[i]->id);
    free(c.agents[i]->region);
    free(c.agents[i]->country);
    free(c.agents[i]->version);
    free(c.agents[i]->address);
    free(c.agents[i]);
  }
  free(c.agents);
  for (size_t i = 0; i < c.n_regions; i++) free(c.regions[i]);
  free(c.regions);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(histo_buckets) VTG_TEST_ENTRY(histo_exposition)
                  VTG_TEST_ENTRY(format_float) VTG_TEST_ENTRY(counts_and_classes)
                      VTG_TEST_ENTRY(phases) VTG_TEST_ENTRY(cert_expiry) VTG_TEST_ENTRY(reload)
                          VTG_TEST_ENTRY(caps) VTG_TEST_ENTRY(ingest_live_only))
