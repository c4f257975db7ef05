/* Clock correction: the Cristian-style estimator with its minimum-RTT
 * filter (pure), the ingest applying it to result timestamps and to the
 * agent's watermark, and the max_clock_offset config key. */
#include <stdlib.h>

#include "clocksync.h"
#include "config.h"
#include "coord.h"
#include "ingest.h"
#include "test.h"
#include "vtg/error.h"

#define T0 1700000000000000LL /* a plausible coordinator time, unix us */
#define SKEW (-20000000LL)    /* the agent's clock is 20 s behind */

/* One round trip with one-way delays out_us and back_us to an agent whose
 * clock is skew_us off; returns vtg_clocksync_add's result. */
static int round_trip(vtg_clocksync_t *cs, int64_t sent, int64_t out_us, int64_t back_us,
                      int64_t skew_us) {
  return vtg_clocksync_add(cs, sent, sent + out_us + skew_us, sent + out_us + back_us);
}

VTG_TEST(empty) {
  vtg_clocksync_t cs = {0};
  int64_t off = 123, unc = 456;
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0, &off, &unc), VTG_ENOTFOUND);
  ASSERT_EQ(off, 123);
  ASSERT_EQ(unc, 456);
  return 0;
}

VTG_TEST(symmetric_is_exact) {
  vtg_clocksync_t cs = {0};
  int64_t off, unc;
  ASSERT_EQ(round_trip(&cs, T0, 150, 150, SKEW), 0);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + 300, &off, &unc), 0);
  ASSERT_EQ(off, SKEW);
  ASSERT_EQ(unc, 150);
  /* An agent ahead, and a zero round trip (same host, coarse clock). */
  vtg_clocksync_reset(&cs);
  ASSERT_EQ(round_trip(&cs, T0, 0, 0, 15000000), 0);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0, &off, &unc), 0);
  ASSERT_EQ(off, 15000000);
  ASSERT_EQ(unc, 0);
  return 0;
}

VTG_TEST(min_rtt_wins) {
  vtg_clocksync_t cs = {0};
  int64_t off, unc;
  /* Queueing on the way back makes the midpoint guess wrong by half of it;
   * the short round trip in the middle is the one to trust. */
  ASSERT_EQ(round_trip(&cs, T0, 200, 40000, SKEW), 0);
  ASSERT_EQ(round_trip(&cs, T0 + 1000000, 100, 120, SKEW), 0);
  ASSERT_EQ(round_trip(&cs, T0 + 2000000, 30000, 200, SKEW), 0);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + 2100000, &off, &unc), 0);
  ASSERT_EQ(unc, 110);
  ASSERT_EQ(off, SKEW - 10); /* (100 - 120) / 2 */
  /* A tie goes to the newer sample (it has drifted less). */
  ASSERT_EQ(round_trip(&cs, T0 + 3000000, 120, 100, SKEW), 0);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + 3100000, &off, &unc), 0);
  ASSERT_EQ(off, SKEW + 10);
  return 0;
}

/* Whatever the delays, the true offset lies within estimate +- uncertainty. */
VTG_TEST(bound_holds) {
  vtg_clocksync_t cs = {0};
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 1000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t out = (int64_t)(x % 50000), back = (int64_t)((x >> 20) % 50000);
    int64_t skew = (int64_t)((x >> 40) % 60000000) - 30000000;
    int64_t off, unc, sent = T0 + i * 1000000LL;
    vtg_clocksync_reset(&cs);
    ASSERT_EQ(round_trip(&cs, sent, out, back, skew), 0);
    ASSERT_EQ(vtg_clocksync_estimate(&cs, sent + out + back, &off, &unc), 0);
    ASSERT(off - unc <= skew && skew <= off + unc);
  }
  return 0;
}

VTG_TEST(invalid_samples) {
  vtg_clocksync_t cs = {0};
  int64_t off, unc;
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, T0, T0 - 1), VTG_EINVAL); /* answer before question */
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, T0, T0 + VTG_CLOCKSYNC_MAX_RTT_US + 1), VTG_EINVAL);
  ASSERT_EQ(vtg_clocksync_add(&cs, 0, T0, T0), VTG_EINVAL);
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, 0, T0), VTG_EINVAL);
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, -5, T0), VTG_EINVAL);
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, INT64_MAX, T0 + 10), VTG_EINVAL); /* no overflow */
  ASSERT_EQ(vtg_clocksync_add(&cs, INT64_MAX - 5, T0, INT64_MAX), VTG_EINVAL);
  ASSERT_EQ(cs.n, 0);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0, &off, &unc), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_clocksync_add(&cs, T0, T0, T0 + VTG_CLOCKSYNC_MAX_RTT_US), 0);
  return 0;
}

VTG_TEST(window_forgets) {
  vtg_clocksync_t cs = {0};
  int64_t off, unc, t = T0;
  ASSERT_EQ(round_trip(&cs, t, 10, 10, SKEW + 999), 0); /* the best, then pushed out */
  for (int i = 0; i < VTG_CLOCKSYNC_WINDOW; i++) {
    t += 1000000;
    ASSERT_EQ(round_trip(&cs, t, 500 + i, 500 + i, SKEW), 0);
  }
  ASSERT_EQ(cs.n, VTG_CLOCKSYNC_WINDOW);
  ASSERT_EQ(vtg_clocksync_estimate(&cs, t + 2000, &off, &unc), 0);
  ASSERT_EQ(off, SKEW);
  ASSERT_EQ(unc, 500);
  return 0;
}

VTG_TEST(age_limit) {
  vtg_clocksync_t cs = {0};
  int64_t off, unc;
  ASSERT_EQ(round_trip(&cs, T0, 10, 10, SKEW + 999), 0);
  ASSERT_EQ(round_trip(&cs, T0 + 60000000, 900, 900, SKEW), 0);
  /* Within the age limit the old short round trip still wins... */
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + 61000000, &off, &unc), 0);
  ASSERT_EQ(off, SKEW + 999);
  /* ...past it the fresher one counts (clocks drift)... */
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + VTG_CLOCKSYNC_MAX_AGE_US + 1000, &off, &unc), 0);
  ASSERT_EQ(off, SKEW);
  ASSERT_EQ(unc, 900);
  /* ...and when every sample is old, the newest one still beats nothing. */
  ASSERT_EQ(vtg_clocksync_estimate(&cs, T0 + 10 * VTG_CLOCKSYNC_MAX_AGE_US, &off, &unc), 0);
  ASSERT_EQ(off, SKEW);
  return 0;
}

/* ---- the ingest applies the estimate ---- */

#define CHECK_ID 3

typedef struct fixture_s {
  vtg_coord_t c;
  int32_t index[CHECK_ID + 1];
  uint32_t ids[1];
  vtg_agent_t *a;
  Vantage__Result res[4];
  Vantage__Result *resp[4];
} fixture_t;

static void no_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)ctx;
  (void)inc;
  (void)removed;
}

static int fixture_init(fixture_t *f) {
  memset(f, 0, sizeof *f);
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2,
                           .merge_gap_us = 60000000};
  f->c.detect = vtg_detect_new(&p, no_incident, NULL);
  if (f->c.detect == NULL) return -1;
  for (int i = 0; i <= CHECK_ID; i++) f->index[i] = -1;
  f->index[CHECK_ID] = 0;
  f->ids[0] = CHECK_ID;
  f->c.check_index = f->index;
  f->c.check_index_len = CHECK_ID + 1;
  f->c.check_ids = f->ids;
  f->c.cfg.max_clock_offset_us = 2000000;
  if (vtg_detect_set_check(f->c.detect, CHECK_ID, "c", "s", "web", 1000000, 500000)) return -1;
  if (vtg_coord_agent_get(&f->c, "a-1", "r1", &f->a)) return -1;
  for (int i = 0; i < 4; i++) {
    vantage__result__init(&f->res[i]);
    f->res[i].check_id = CHECK_ID;
    f->res[i].start_us = T0 + SKEW + i * 1000000LL; /* the agent's clock */
    f->res[i].outcome = VANTAGE__OUTCOME__OUTCOME_UP;
    f->resp[i] = &f->res[i];
  }
  return 0;
}

static void fixture_free(fixture_t *f) {
  vtg_detect_free(f->c.detect);
  for (size_t i = 0; i < f->c.n_agents; i++) {
    vtg_agent_t *a = f->c.agents[i];
    free(a->id);
    free(a->region);
    free(a->country);
    free(a->version);
    free(a->address);
    free(a);
  }
  free(f->c.agents);
  for (size_t i = 0; i < f->c.n_regions; i++) free(f->c.regions[i]);
  free(f->c.regions);
}

VTG_TEST(ingest_corrects) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  Vantage__ResultBatch b = VANTAGE__RESULT_BATCH__INIT;
  b.spool_epoch = 1;
  b.first_seq = 1;
  b.n_results = 1;
  b.results = &f.resp[0];
  b.complete_before_us = f.res[0].start_us + 1;
  /* Before any round trip: offset 0, the agent's watermark as it sent it. */
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT(!f.a->clock_known);
  ASSERT_EQ(f.a->clock_offset_us, 0);
  ASSERT_EQ(f.a->complete_before_us, T0 + SKEW + 1);
  /* One round trip of 400 us: the offset is known, and the watermark that
   * was corrected with 0 is corrected again (it moves forward by 20 s). */
  vtg_ingest_clock_sample(&f.c, f.a, T0, T0 + 200 + SKEW, T0 + 400);
  ASSERT(f.a->clock_known);
  ASSERT_EQ(f.a->clock_offset_us, SKEW);
  ASSERT_EQ(f.a->clock_uncertainty_us, 200);
  ASSERT_EQ(f.a->clock_warned, 1); /* 20 s > max_clock_offset 2 s */
  ASSERT_EQ(f.a->complete_before_us, T0 + 1);
  /* A bogus round trip changes nothing. */
  vtg_ingest_clock_sample(&f.c, f.a, T0 + 500, T0, T0 + 400);
  ASSERT_EQ(f.a->clock_offset_us, SKEW);
  /* Results are placed in our clock. */
  b.first_seq = 2;
  b.n_results = 3;
  b.results = &f.resp[1];
  b.complete_before_us = f.res[3].start_us + 1;
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->complete_before_us, T0 + 3000000 + 1);
  vtg_detect_advance(f.c.detect, T0 + 3000000 + 1);
  vtg_region_status_t rs;
  vtg_detect_region_status(f.c.detect, CHECK_ID, f.a->region_idx, &rs);
  ASSERT_EQ(rs.last_probe_us, T0 + 3000000);
  /* The agent's clock gets fixed: back within the bound ends the episode. */
  vtg_clocksync_reset(&f.a->clock);
  vtg_ingest_clock_sample(&f.c, f.a, T0 + 5000000, T0 + 5000100 + 1500000, T0 + 5000200);
  ASSERT_EQ(f.a->clock_offset_us, 1500000);
  ASSERT_EQ(f.a->clock_warned, 0);
  fixture_free(&f);
  return 0;
}

/* ---- the config key ---- */

VTG_TEST(config_key) {
  vtg_coord_config_t cfg;
  char err[600];
  ASSERT_EQ(vtg_config_load_string("c.yaml", "services: []\n", &cfg, err, sizeof err), 0);
  ASSERT_EQ(cfg.max_clock_offset_us, 2000000);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml", "max_clock_offset: 500ms\nservices: []\n", &cfg, err,
                                   sizeof err),
            0);
  ASSERT_EQ(cfg.max_clock_offset_us, 500000);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml", "max_clock_offset: 0s\nservices: []\n", &cfg, err,
                                   sizeof err),
            0);
  ASSERT_EQ(cfg.max_clock_offset_us, 0);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml", "services: []\nmax_clock_offset: soon\n", &cfg, err,
                                   sizeof err),
            VTG_ECONFIG);
  ASSERT(strncmp(err, "c.yaml:2:", 9) == 0);
  ASSERT(strstr(err, "max_clock_offset") != NULL);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(empty) VTG_TEST_ENTRY(symmetric_is_exact)
                  VTG_TEST_ENTRY(min_rtt_wins) VTG_TEST_ENTRY(bound_holds)
                      VTG_TEST_ENTRY(invalid_samples) VTG_TEST_ENTRY(window_forgets)
                          VTG_TEST_ENTRY(age_limit) VTG_TEST_ENTRY(ingest_corrects)
                              VTG_TEST_ENTRY(config_key))
