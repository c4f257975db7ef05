/* Fleet-wide interleaving (coordinator/phase.c), the pure parts of the
 * confirmation bursts (coordinator/burst.c) and the incident_interval
 * config key. */
#include <stdlib.h>

#include "burst.h"
#include "config.h"
#include "phase.h"
#include "test.h"
#include "vtg/error.h"

#define IV 8000u /* ms; divisible by 8 so that even spacing is exact */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The cyclic gaps between the sorted phases: all within [lo, hi]. */
static int gaps_within(const uint32_t *ph, size_t n, uint32_t iv, uint32_t lo, uint32_t hi) {
  uint32_t s[64];
  memcpy(s, ph, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_u32);
  for (size_t i = 0; i < n; i++) {
    uint32_t g = i + 1 < n ? s[i + 1] - s[i] : s[0] + iv - s[i];
    if (g < lo || g > hi) {
      fprintf(stderr, "gap %u outside [%u, %u] after %u\n", g, lo, hi, s[i]);
      return 0;
    }
  }
  return 1;
}

static const char *const ids8[] = {"ap-1", "ap-2", "eu-1", "eu-2", "us-e-1", "us-e-2", "us-w-1",
                                   "us-w-2"};
static const char *const regs8[] = {"ap", "ap", "eu", "eu", "us-east", "us-east", "us-west",
                                    "us-west"};

static void fill8(vtg_phase_agent_t *a, const size_t *order) {
  for (size_t i = 0; i < 8; i++)
    a[i] = (vtg_phase_agent_t){.id = ids8[order[i]], .region = regs8[order[i]]};
}

VTG_TEST(even_spacing_8_in_4) {
  static const size_t order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  vtg_phase_agent_t a[8];
  uint32_t ph[8];
  fill8(a, order);
  ASSERT_EQ(vtg_phase_assign("shop-web", IV, a, 8), 0);
  for (size_t i = 0; i < 8; i++) {
    ASSERT(a[i].phase_ms < IV);
    ph[i] = a[i].phase_ms;
  }
  ASSERT(gaps_within(ph, 8, IV, IV / 8, IV / 8));
  /* Within a region: the two agents half an interval apart. */
  for (size_t r = 0; r < 8; r += 2) {
    uint32_t d = (a[r].phase_ms + IV - a[r + 1].phase_ms) % IV;
    ASSERT_EQ(d == IV / 2 || IV - d == IV / 2, 1);
  }
  /* Consecutive probes come from different regions. */
  uint32_t byph[8];
  size_t who[8];
  for (size_t i = 0; i < 8; i++) byph[i] = a[i].phase_ms;
  qsort(byph, 8, sizeof *byph, cmp_u32);
  for (size_t k = 0; k < 8; k++)
    for (size_t i = 0; i < 8; i++)
      if (a[i].phase_ms == byph[k]) who[k] = i;
  for (size_t k = 0; k < 8; k++)
    ASSERT(strcmp(a[who[k]].region, a[who[(k + 1) % 8]].region) != 0);
  return 0;
}

VTG_TEST(stable_under_reordering) {
  static const size_t o1[8] = {0, 1, 2, 3, 4, 5, 6, 7}, o2[8] = {7, 3, 5, 1, 0, 6, 2, 4};
  vtg_phase_agent_t a[8], b[8];
  fill8(a, o1);
  fill8(b, o2);
  ASSERT_EQ(vtg_phase_assign("shop-web", IV, a, 8), 0);
  ASSERT_EQ(vtg_phase_assign("shop-web", IV, b, 8), 0);
  for (size_t i = 0; i < 8; i++)
    for (size_t j = 0; j < 8; j++)
      if (strcmp(a[i].id, b[j].id) == 0) ASSERT_EQ(a[i].phase_ms, b[j].phase_ms);
  return 0;
}

VTG_TEST(recompute_when_one_leaves) {
  static const size_t order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  vtg_phase_agent_t a[8];
  uint32_t ph[8];
  fill8(a, order);
  /* us-east-2 leaves: seven agents, gaps of interval/7 (+-1 ms rounding). */
  a[5] = a[7];
  ASSERT_EQ(vtg_phase_assign("shop-web", IV, a, 7), 0);
  for (size_t i = 0; i < 7; i++) ph[i] = a[i].phase_ms;
  ASSERT(gaps_within(ph, 7, IV, IV / 7 - 1, IV / 7 + 1));
  /* It comes back: interval/8 again. */
  fill8(a, order);
  ASSERT_EQ(vtg_phase_assign("shop-web", IV, a, 8), 0);
  for (size_t i = 0; i < 8; i++) ph[i] = a[i].phase_ms;
  ASSERT(gaps_within(ph, 8, IV, IV / 8, IV / 8));
  return 0;
}

VTG_TEST(uneven_regions) {
  /* 3 agents in one region, 1 in another: four probes interval/4 apart,
   * the lone region's between two of the big region's. */
  vtg_phase_agent_t a[4] = {{"b-1", "big", 0}, {"b-2", "big", 0}, {"b-3", "big", 0},
                            {"s-1", "small", 0}};
  uint32_t ph[4];
  ASSERT_EQ(vtg_phase_assign("x", 30000, a, 4), 0);
  for (size_t i = 0; i < 4; i++) ph[i] = a[i].phase_ms;
  ASSERT(gaps_within(ph, 4, 30000, 7500, 7500));
  /* One agent: the check's base phase. */
  ASSERT_EQ(vtg_phase_assign("x", 30000, a, 1), 0);
  ASSERT_EQ(a[0].phase_ms, vtg_phase_base("x", 30000));
  ASSERT_EQ(vtg_phase_assign("x", 30000, a, 0), 0);
  return 0;
}

VTG_TEST(base_spreads_checks) {
  /* One agent's checks do not all start at the same offset. */
  const char *names[] = {"shop-web", "shop-api", "blog", "dns-a", "tcp-db"};
  int distinct = 0;
  for (size_t i = 0; i < 5; i++) {
    uint32_t b = vtg_phase_base(names[i], 30000);
    ASSERT(b < 30000);
    int seen = 0;
    for (size_t j = 0; j < i; j++) seen |= vtg_phase_base(names[j], 30000) == b;
    distinct += !seen;
  }
  ASSERT_EQ(distinct, 5);
  ASSERT_EQ(vtg_phase_base("x", 0), 0);
  return 0;
}

VTG_TEST(until_next) {
  ASSERT_EQ(vtg_phase_until_next(100000, 10000, 2500), 2500);
  ASSERT_EQ(vtg_phase_until_next(102500, 10000, 2500), 10000); /* strictly after */
  ASSERT_EQ(vtg_phase_until_next(102600, 10000, 2500), 9900);
  ASSERT_EQ(vtg_phase_until_next(-1, 10000, 0), 1);
  return 0;
}

/* ---- bursts ---- */

VTG_TEST(burst_allowed) {
  ASSERT(vtg_burst_allowed(0, INT64_MIN, 1000));
  ASSERT(!vtg_burst_allowed(5999, 5000, 1000));
  ASSERT(vtg_burst_allowed(6000, 5000, 1000));
  return 0;
}

VTG_TEST(burst_pick_region_first) {
  /* Origin region "a": two peers; regions b, c, d one or two each. */
  vtg_burst_cand_t c[] = {
      {1, "a", 100, INT64_MIN}, {2, "a", 900, INT64_MIN}, {3, "b", 100, INT64_MIN},
      {4, "b", 500, INT64_MIN}, {5, "c", 300, INT64_MIN}, {6, "d", 50, INT64_MIN},
  };
  size_t out[8];
  size_t n = vtg_burst_pick(c, 6, "a", 0, 1000, 8, 0, out);
  ASSERT_EQ(n, 5); /* both peers, one per other region */
  ASSERT_EQ(c[out[0]].agent, 2); /* furthest next probe first */
  ASSERT_EQ(c[out[1]].agent, 1);
  ASSERT_EQ(c[out[2]].agent, 4); /* b: the later of its two */
  ASSERT_EQ(c[out[3]].agent, 5);
  ASSERT_EQ(c[out[4]].agent, 6);
  return 0;
}

VTG_TEST(burst_pick_limits) {
  /* Per agent: one sent 200 us ago with a gap of 1000 is skipped. */
  vtg_burst_cand_t c[] = {{1, "a", 100, 9800}, {2, "a", 100, INT64_MIN}, {3, "b", 1, 8000}};
  size_t out[8];
  size_t n = vtg_burst_pick(c, 3, "a", 10000, 1000, 8, 0, out);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(c[out[0]].agent, 2);
  ASSERT_EQ(c[out[1]].agent, 3);
  /* At most max in all; with many peers and many regions, half the places
   * go to other regions, round-robin by rotate. */
  vtg_burst_cand_t m[20];
  static const char *const regs[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
  for (uint32_t i = 0; i < 10; i++) m[i] = (vtg_burst_cand_t){i, "home", i, INT64_MIN};
  for (uint32_t i = 10; i < 20; i++)
    m[i] = (vtg_burst_cand_t){i, regs[i % 6], 0, INT64_MIN};
  n = vtg_burst_pick(m, 20, "home", 0, 1000, 8, 0, out);
  ASSERT_EQ(n, 8);
  int home = 0;
  for (size_t i = 0; i < n; i++) home += strcmp(m[out[i]].region, "home") == 0;
  ASSERT_EQ(home, 4);
  ASSERT_STR_EQ(m[out[4]].region, "r0");
  n = vtg_burst_pick(m, 20, "home", 0, 1000, 8, 2, out);
  ASSERT_STR_EQ(m[out[4]].region, "r2");
  /* Nobody left. */
  ASSERT_EQ(vtg_burst_pick(m, 0, "home", 0, 1000, 8, 0, out), 0);
  return 0;
}

/* ---- config ---- */

static int load(const char *text, vtg_coord_config_t *cfg, char *err, size_t n) {
  return vtg_config_load_string("cfg", text, cfg, err, n);
}

VTG_TEST(config_incident_interval) {
  vtg_coord_config_t cfg;
  char err[512];
  ASSERT_EQ(load("services:\n"
                 "  - name: s\n"
                 "    endpoints:\n"
                 "      - {check: a, url: 'http://x/', interval: 30s, timeout: 2s}\n"
                 "      - {check: b, url: 'http://x/', interval: 5s, timeout: 2s}\n"
                 "      - {check: c, url: 'http://x/', interval: 2s, timeout: 500ms}\n"
                 "      - {check: d, url: 'http://x/', interval: 30s, timeout: 10s,"
                 " incident_interval: 12s}\n",
                 &cfg, err, sizeof err),
            0);
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[0]), 6000000);  /* interval/5 */
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[1]), 2500000);  /* > timeout */
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[2]), 1000000);  /* >= 1 s */
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[3]), 12000000); /* its own */
  vtg_config_free(&cfg);
  ASSERT_EQ(load("detection:\n  incident_interval: 3s\n"
                 "services:\n"
                 "  - name: s\n"
                 "    endpoints:\n"
                 "      - {check: a, url: 'http://x/', interval: 30s, timeout: 2s}\n"
                 "      - {check: b, url: 'http://x/', interval: 2s, timeout: 1s}\n",
                 &cfg, err, sizeof err),
            0);
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[0]), 3000000);
  ASSERT_EQ(vtg_config_incident_interval_us(&cfg, &cfg.checks[1]), 2000000); /* <= interval */
  vtg_config_free(&cfg);
  ASSERT_EQ(load("services:\n"
                 "  - name: s\n"
                 "    endpoints:\n"
                 "      - check: a\n"
                 "        url: 'http://x/'\n"
                 "        interval: 10s\n"
                 "        timeout: 2s\n"
                 "        incident_interval: 11s\n",
                 &cfg, err, sizeof err),
            VTG_ECONFIG);
  ASSERT(strstr(err, "cfg:8:28") != NULL);
  ASSERT(strstr(err, "not be longer than the interval") != NULL);
  ASSERT_EQ(load("services:\n"
                 "  - name: s\n"
                 "    endpoints:\n"
                 "      - {check: a, url: 'http://x/', interval: 10s, timeout: 2s,"
                 " incident_interval: 2s}\n",
                 &cfg, err, sizeof err),
            VTG_ECONFIG);
  ASSERT(strstr(err, "cfg:4:") != NULL && strstr(err, "longer than the timeout") != NULL);
  ASSERT_EQ(load("detection:\n  incident_interval: soon\n", &cfg, err, sizeof err), VTG_ECONFIG);
  ASSERT(strstr(err, "cfg:2:22") != NULL);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(even_spacing_8_in_4) VTG_TEST_ENTRY(stable_under_reordering)
                  VTG_TEST_ENTRY(recompute_when_one_leaves) VTG_TEST_ENTRY(uneven_regions)
                      VTG_TEST_ENTRY(base_spreads_checks) VTG_TEST_ENTRY(until_next)
                          VTG_TEST_ENTRY(burst_allowed) VTG_TEST_ENTRY(burst_pick_region_first)
                              VTG_TEST_ENTRY(burst_pick_limits)
                                  VTG_TEST_ENTRY(config_incident_interval))
