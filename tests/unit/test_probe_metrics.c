/* The agent's /metrics exposition (probe/metrics.c) from plain data:
 * families with HELP/TYPE, label escaping, every outcome per check, the
 * uplink state set with exactly one 1, the start-lag histogram. */
#include <string.h>

#include "metrics.h"
#include "test.h"
#include "vtg/buf.h"

VTG_TEST(exposition) {
  vtg_probe_check_metrics_t checks[2] = {
      {.name = "shop-web", .probes = {5, 1, 2}, .skipped = 3},
      {.name = "odd \"name\"\\x\n", .probes = {0, 0, 0}, .skipped = 0},
  };
  vtg_histo_t lag = {0};
  vtg_probe_metrics_t m = {
      .version = "1.2.3", .agent = "us-east-1", .region = "us-east",
      .checks = checks, .n_checks = 2, .start_lag = &lag,
      .spool_bytes = 4096, .spool_max_bytes = 1 << 20, .spool_unacked = 7, .spool_dropped = 9,
      .uplink_state = VTG_UPLINK_BACKOFF, .uplink_reconnects = 4, .results_acked = 11,
  };
  vtg_buf_t b;
  vtg_histo_observe(&lag, &vtg_histo_latency_bounds, 0.003);
  vtg_histo_observe(&lag, &vtg_histo_latency_bounds, 0.2);
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_probe_metrics_write(&m, &b), 0);
  ASSERT(strstr(b.data, "# TYPE vantage_probe_build_info gauge\n"
                        "vantage_probe_build_info{version=\"1.2.3\",agent=\"us-east-1\","
                        "region=\"us-east\"} 1\n") != NULL);
  ASSERT(strstr(b.data, "# TYPE vantage_probe_probes_total counter\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_probes_total{check=\"shop-web\",outcome=\"up\"} 5\n"
                        "vantage_probe_probes_total{check=\"shop-web\",outcome=\"degraded\"} 1\n"
                        "vantage_probe_probes_total{check=\"shop-web\",outcome=\"down\"} 2\n") !=
         NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_probes_total{check=\"odd \\\"name\\\"\\\\x\\n\","
                        "outcome=\"up\"} 0\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_skipped_turns_total{check=\"shop-web\"} 3\n") != NULL);
  ASSERT(strstr(b.data, "# TYPE vantage_probe_start_lag_seconds histogram\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_start_lag_seconds_bucket{le=\"0.005\"} 1\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_start_lag_seconds_bucket{le=\"0.25\"} 2\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_start_lag_seconds_count 2\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_spool_bytes 4096\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_spool_max_bytes 1048576\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_spool_unacked_results 7\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_spool_dropped_total 9\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_uplink_connected 0\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_uplink_state{state=\"connecting\"} 0\n"
                        "vantage_probe_uplink_state{state=\"handshaking\"} 0\n"
                        "vantage_probe_uplink_state{state=\"connected\"} 0\n"
                        "vantage_probe_uplink_state{state=\"backoff\"} 1\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_uplink_reconnects_total 4\n") != NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_results_acked_total 11\n") != NULL);
  /* Every family has its HELP and TYPE once. */
  {
    size_t helps = 0, types = 0;
    for (const char *p = b.data; (p = strstr(p, "# HELP ")) != NULL; p++) helps++;
    for (const char *p = b.data; (p = strstr(p, "# TYPE ")) != NULL; p++) types++;
    ASSERT_EQ(helps, 12);
    ASSERT_EQ(types, 12);
  }
  vtg_buf_free(&b);

  /* No checks yet, connected; and a buffer too small fails cleanly. */
  m.n_checks = 0;
  m.uplink_state = VTG_UPLINK_CONNECTED;
  m.start_lag = NULL;
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_probe_metrics_write(&m, &b), 0);
  ASSERT(strstr(b.data, "\nvantage_probe_uplink_connected 1\n") != NULL);
  ASSERT(strstr(b.data, "{check=") == NULL);
  ASSERT(strstr(b.data, "\nvantage_probe_start_lag_seconds_count 0\n") != NULL);
  vtg_buf_free(&b);
  vtg_buf_init(&b, 100);
  ASSERT(vtg_probe_metrics_write(&m, &b) != 0);
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(outcome_index) {
  ASSERT_EQ(vtg_probe_metrics_outcome_idx(VANTAGE__OUTCOME__OUTCOME_UP), 0);
  ASSERT_EQ(vtg_probe_metrics_outcome_idx(VANTAGE__OUTCOME__OUTCOME_DEGRADED), 1);
  ASSERT_EQ(vtg_probe_metrics_outcome_idx(VANTAGE__OUTCOME__OUTCOME_DOWN), 2);
  ASSERT_EQ(vtg_probe_metrics_outcome_idx((Vantage__Outcome)77), -1);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(exposition) VTG_TEST_ENTRY(outcome_index))
