/* The Prometheus exposition (metrics.c) of a coordinator state built by
 * hand: a detector fed so that one region is down, one up and one unknown,
 * no store. Checks the families, the state set, the up gauge's absence
 * while unknown and label escaping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkstats.h"
#include "coord.h"
#include "metrics.h"
#include "fixture.h"
#include "test.h"
#include "vtg/buf.h"

#define S 1000000LL
#define T0 1800000000000000LL

typedef struct fixture_s {
  vtg_coord_t c;
  vtg_check_cfg_t checks[1];
  uint32_t ids[1];
  char *regions[3];
  vtg_agent_t agent[4];
  vtg_agent_t *agents[4];
  vtg_buf_t out;
} fixture_t;

/* Regions: 0 us-east (agents 0, 1: down), 1 `eu "west"\` (agents 2, 3:
 * up), 2 ap-south (no agents: unknown). One check probed every 10 s. */
static int fixture_init(fixture_t *f) {
  vtg_detect_params_t p = {2, 2, 2, 300 * S, 0, 0};
  static char *ids[] = {"ue-1", "ue-2", "ew-1", "ew-2"};
  memset(f, 0, sizeof *f);
  f->checks[0] = (vtg_check_cfg_t){.name = "shop-web", .service = "shop", .kind = "web",
                                   .url = "http://127.0.0.1:9/", .method = "GET",
                                   .interval_us = 10 * S, .timeout_us = 5 * S};
  f->c.cfg.checks = f->checks;
  f->c.cfg.n_checks = 1;
  f->ids[0] = 7;
  f->c.check_ids = f->ids;
  f->regions[0] = "us-east";
  f->regions[1] = "eu \"west\"\\";
  f->regions[2] = "ap-south";
  f->c.regions = f->regions;
  f->c.n_regions = 3;
  f->c.results_total = 42;
  f->c.watermark_us = T0 + 200 * S;
  f->c.detect = vtg_detect_new(&p, vtg_test_on_incident, NULL);
  if (f->c.detect == NULL) return -1;
  for (uint32_t r = 0; r < 3; r++)
    if (vtg_detect_set_region(f->c.detect, r, f->regions[r]) != 0) return -1;
  if (vtg_detect_set_check(f->c.detect, 7, "shop-web", "shop", "web", 10 * S, 5 * S) != 0)
    return -1;
  for (uint32_t a = 0; a < 4; a++) {
    f->agent[a] = (vtg_agent_t){.idx = a, .id = ids[a], .region = f->regions[a / 2],
                                .connected = a != 3, .last_seen_us = T0 + 100 * S};
    f->agents[a] = &f->agent[a];
    if (vtg_detect_set_agent(f->c.detect, a, a / 2) != 0) return -1;
  }
  f->agent[0].clock_known = 1;
  f->agent[0].clock_offset_us = -250000;
  f->c.agents = f->agents;
  f->c.n_agents = 4;
  for (int k = 0; k < 20; k++) {
    for (uint32_t a = 0; a < 4; a++) {
      int down = a < 2 && k >= 5;
      vtg_detect_result_t r = {.agent = a, .check = 7, .start_us = T0 + k * 10 * S + a * S,
                               .total_us = 20000, .outcome = down ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP,
                               .error_class = down ? 2 : 0};
      if (vtg_detect_feed(f->c.detect, &r) != 0) return -1;
    }
    vtg_detect_advance(f->c.detect, T0 + k * 10 * S + 5 * S);
  }
  vtg_detect_advance(f->c.detect, T0 + 200 * S);
  vtg_buf_init(&f->out, 1 << 20);
  return vtg_metrics_write(&f->c, T0 + 203 * S, &f->out);
}

static void fixture_close(fixture_t *f) {
  vtg_detect_free(f->c.detect);
  vtg_buf_free(&f->out);
}

static int has(const fixture_t *f, const char *line) {
  return f->out.data != NULL && strstr(f->out.data, line) != NULL;
}

VTG_TEST(region_up_and_state_set) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(vtg_buf_append(&f.out, "", 1), 0); /* NUL-terminate for strstr */
  ASSERT(has(&f, "\nvantage_region_up{check=\"shop-web\",region=\"us-east\"} 0\n"));
  ASSERT(has(&f, "\nvantage_region_up{check=\"shop-web\",region=\"eu \\\"west\\\"\\\\\"} 1\n"));
  ASSERT(!has(&f, "vantage_region_up{check=\"shop-web\",region=\"ap-south\"}"));
  static const char *const want[] = {
      "vantage_region_state{check=\"shop-web\",region=\"us-east\",state=\"up\"} 0\n",
      "vantage_region_state{check=\"shop-web\",region=\"us-east\",state=\"degraded\"} 0\n",
      "vantage_region_state{check=\"shop-web\",region=\"us-east\",state=\"down\"} 1\n",
      "vantage_region_state{check=\"shop-web\",region=\"us-east\",state=\"unknown\"} 0\n",
      "vantage_region_state{check=\"shop-web\",region=\"ap-south\",state=\"unknown\"} 1\n",
      "vantage_region_state{check=\"shop-web\",region=\"ap-south\",state=\"down\"} 0\n",
      "vantage_region_healthy_agents{check=\"shop-web\",region=\"us-east\"} 2\n",
      "vantage_check_affected_regions{check=\"shop-web\"} 1\n",
      "vantage_check_incident_open{check=\"shop-web\",service=\"shop\",kind=\"web\"} 0\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) ASSERT(has(&f, want[i]));
  fixture_close(&f);
  return 0;
}

VTG_TEST(families_and_agents) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(vtg_buf_append(&f.out, "", 1), 0);
  ASSERT(has(&f, "# TYPE vantage_results_received_total counter\n"
                 "vantage_results_received_total 42\n"));
  ASSERT(has(&f, "# TYPE vantage_region_state gauge\n"));
  ASSERT(has(&f, "\nvantage_build_info{version=\""));
  ASSERT(has(&f, "\nvantage_watermark_lag_seconds 3.000000\n"));
  ASSERT(has(&f, "\nvantage_agent_connected{agent=\"ew-2\",region=\"eu \\\"west\\\"\\\\\"} 0\n"));
  ASSERT(has(&f, "\nvantage_agent_connected{agent=\"ue-1\",region=\"us-east\"} 1\n"));
  ASSERT(has(&f, "\nvantage_agent_clock_offset_seconds{agent=\"ue-1\",region=\"us-east\"} "
                 "-0.250000\n"));
  ASSERT(!has(&f, "vantage_agent_clock_offset_seconds{agent=\"ue-2\""));
  ASSERT(has(&f, "\nvantage_agent_last_seen_timestamp_seconds{agent=\"ue-1\",region=\"us-east\"} "
                 "1800000100.000\n"));
  ASSERT(has(&f, "\nvantage_agent_impaired{agent=\"ue-1\",region=\"us-east\"} 0\n"));
  ASSERT(!has(&f, "vantage_check_incident_onset_timestamp_seconds{"));
  /* Every sample line ends with a newline and the text ends with one. */
  ASSERT(f.out.len >= 2 && f.out.data[f.out.len - 2] == '\n');
  fixture_close(&f);
  return 0;
}

/* The families fed by checkstats (one region down with refused
 * connections, one up over TLS, one never heard from) and the degraded
 * gauge beside the up gauge. */
VTG_TEST(check_stats_families) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT((f.c.checkstats = vtg_checkstats_new()) != NULL);
  Vantage__Result down = VANTAGE__RESULT__INIT, up = VANTAGE__RESULT__INIT;
  down.outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
  down.error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_REFUSED;
  down.dns_us = 1000;
  down.connect_us = 300;
  down.total_us = 1500;
  up.outcome = VANTAGE__OUTCOME__OUTCOME_UP;
  up.dns_us = 1000;
  up.connect_us = 2000;
  up.tls_us = 20000;
  up.ttfb_us = 40000;
  up.total_us = 60000;
  up.cert_expiry_unix = 1900000000;
  for (int i = 0; i < 3; i++) vtg_checkstats_feed(f.c.checkstats, 7, 0, 0, &down, T0 + 190 * S);
  for (int i = 0; i < 2; i++) vtg_checkstats_feed(f.c.checkstats, 7, 1, 2, &up, T0 + 190 * S);
  /* Both agents of eu "west" then see it slow: degraded there. */
  for (uint32_t a = 2; a < 4; a++) {
    vtg_detect_result_t r = {.agent = a, .check = 7, .start_us = T0 + 200 * S + a * S,
                             .total_us = 3000000, .outcome = VTG_OUTCOME_DEGRADED};
    ASSERT_EQ(vtg_detect_feed(f.c.detect, &r), 0);
  }
  vtg_detect_advance(f.c.detect, T0 + 210 * S);
  vtg_buf_reset(&f.out);
  ASSERT_EQ(vtg_metrics_write(&f.c, T0 + 213 * S, &f.out), 0);
  ASSERT_EQ(vtg_buf_append(&f.out, "", 1), 0);
  static const char *const want[] = {
      "\n# TYPE vantage_region_degraded gauge\n",
      "\nvantage_region_degraded{check=\"shop-web\",region=\"us-east\"} 0\n",
      "\nvantage_region_degraded{check=\"shop-web\",region=\"eu \\\"west\\\"\\\\\"} 1\n",
      "\nvantage_region_up{check=\"shop-web\",region=\"eu \\\"west\\\"\\\\\"} 1\n",
      "\n# TYPE vantage_check_results_total counter\n",
      "\nvantage_check_results_total{check=\"shop-web\",region=\"us-east\",outcome=\"down\","
      "error_class=\"connect_refused\"} 3\n",
      "\nvantage_check_results_total{check=\"shop-web\",region=\"us-east\",outcome=\"up\","
      "error_class=\"none\"} 0\n",
      "\nvantage_check_results_total{check=\"shop-web\",region=\"us-east\",outcome=\"degraded\","
      "error_class=\"none\"} 0\n",
      "\nvantage_check_results_total{check=\"shop-web\",region=\"eu \\\"west\\\"\\\\\",outcome="
      "\"up\",error_class=\"none\"} 2\n",
      "\n# TYPE vantage_check_phase_duration_seconds histogram\n",
      "\nvantage_check_phase_duration_seconds_count{check=\"shop-web\",region=\"us-east\","
      "phase=\"connect\"} 3\n",
      "\nvantage_check_phase_duration_seconds_bucket{check=\"shop-web\",region=\"us-east\","
      "phase=\"total\",le=\"0.005\"} 3\n",
      "\nvantage_check_phase_duration_seconds_bucket{check=\"shop-web\",region=\"eu \\\"west\\\""
      "\\\\\",phase=\"tls\",le=\"0.025\"} 2\n",
      "\nvantage_check_phase_duration_seconds_sum{check=\"shop-web\",region=\"eu \\\"west\\\""
      "\\\\\",phase=\"total\"} 0.12\n",
      "\n# TYPE vantage_check_tls_cert_expiry_timestamp_seconds gauge\n"
      "vantage_check_tls_cert_expiry_timestamp_seconds{check=\"shop-web\"} 1900000000\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (!has(&f, want[i])) fprintf(stderr, "missing: %s", want[i]);
    ASSERT(has(&f, want[i]));
  }
  ASSERT(!has(&f, "vantage_region_degraded{check=\"shop-web\",region=\"ap-south\"}"));
  ASSERT(!has(&f, "outcome=\"down\",error_class=\"none\""));
  ASSERT(!has(&f, "region=\"us-east\",phase=\"tls\""));
  ASSERT(!has(&f, "region=\"ap-south\",outcome"));
  /* No store and no result log here: their histograms are left out. */
  ASSERT(!has(&f, "vantage_store_write_duration_seconds"));
  ASSERT(!has(&f, "vantage_resultlog_commit_duration_seconds"));
  vtg_checkstats_free(f.c.checkstats);
  fixture_close(&f);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(region_up_and_state_set) VTG_TEST_ENTRY(families_and_agents)
                  VTG_TEST_ENTRY(check_stats_families))
