/* Per-minute rollups (rollup.h) and retention (store prune, result log
 * prune, the `retention:` config block). Stores are real SQLite files in a
 * temporary directory; the result log runs on a real loop. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "detect.h"
#include "resultlog.h"
#include "rollup.h"
#include "store.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vantage.pb-c.h"

#define MIN_US VTG_ROLLUP_MINUTE_US
#define S(x) ((int64_t)(x) * 1000000)
/* A minute boundary well inside the int64 range: 2026-11-24T12:00:00Z. */
#define T0 ((int64_t)1795521600 * 1000000)

typedef struct tmpdir_s {
  char dir[64];
  char db[128];
} tmpdir_t;

static int tmp_make(tmpdir_t *t) {
  if (vtg_test_mkdtemp(t->dir, sizeof t->dir, "rollup") != 0) return -1;
  snprintf(t->db, sizeof t->db, "%s/c.db", t->dir);
  return 0;
}

/* Removes the files of dir and its subdirectories one level deep. */
static void tmp_remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) != 0) tmp_remove_dir(path);
  }
  closedir(d);
  rmdir(dir);
}

static char region_names_store[3][8] = {"eu", "us-east", "us-west"};
static char *region_names[3] = {region_names_store[0], region_names_store[1],
                                region_names_store[2]};

/* Region interning for vtg_rollup_load: the fixed table above. */
static int region_lookup(void *ctx, const char *name, uint32_t *idx) {
  (void)ctx;
  for (uint32_t i = 0; i < 3; i++)
    if (strcmp(region_names[i], name) == 0) {
      *idx = i;
      return 0;
    }
  return VTG_ENOTFOUND;
}

/* Results land in the minute of their start; latency averages only the
 * answers; minutes without data are empty cells. */
VTG_TEST(bucketing) {
  vtg_rollup_t *r = vtg_rollup_new(0);
  vtg_rollup_cell_t c[4];
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0, VTG_OUTCOME_UP, 100000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(59) + 999999, VTG_OUTCOME_UP, 300000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(30), VTG_OUTCOME_DEGRADED, 2000000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(31), VTG_OUTCOME_DOWN, 10000000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + MIN_US, VTG_OUTCOME_DOWN, 0, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 - 1, VTG_OUTCOME_UP, 50000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0, VTG_OUTCOME_DOWN, 1, 0), 0);   /* other check */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 1, T0, VTG_OUTCOME_DOWN, 1, 0), 0);   /* other region */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0, 0, 1, 0), VTG_EINVAL);
  /* from is rounded down to its minute */
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0 - MIN_US + S(17), 4, c), 3);
  ASSERT_EQ(c[0].minute_us, T0 - MIN_US);
  ASSERT_EQ(c[0].up, 1);
  ASSERT_EQ(c[0].latency_avg_us, 50000);
  ASSERT_EQ(c[1].minute_us, T0);
  ASSERT_EQ(c[1].up, 2);
  ASSERT_EQ(c[1].degraded, 1);
  ASSERT_EQ(c[1].down, 1);
  ASSERT_EQ(c[1].latency_avg_us, (100000 + 300000 + 2000000) / 3); /* the down one is not in */
  ASSERT_EQ(c[2].down, 1);
  ASSERT_EQ(c[2].latency_avg_us, -1);
  ASSERT_EQ(c[3].minute_us, T0 + 2 * MIN_US);
  ASSERT_EQ(c[3].up + c[3].degraded + c[3].down, 0);
  ASSERT_EQ(c[3].latency_avg_us, -1);
  ASSERT_EQ(c[3].state, VTG_STATE_UNKNOWN);
  /* No watermark yet: nothing is complete, so no state from the probes. */
  ASSERT_EQ(c[1].state, VTG_STATE_UNKNOWN);
  ASSERT_EQ(vtg_rollup_cells(r, 9, 0, T0, 2, c), 0); /* unknown series */
  ASSERT_EQ(c[0].state, VTG_STATE_UNKNOWN);
  vtg_rollup_stats_t st;
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.fed, 8);
  vtg_rollup_free(r);
  return 0;
}

/* The worst sampled state wins (down > degraded > up > unknown); a
 * completed minute without a sample shows its probes' majority; the minute
 * being filled shows unknown until sampled. */
VTG_TEST(worst_state) {
  vtg_rollup_t *r = vtg_rollup_new(0);
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2};
  vtg_detect_t *d = vtg_detect_new(&p, NULL, NULL);
  vtg_rollup_cell_t c[5];
  ASSERT(r != NULL && d != NULL);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + S(1), VTG_STATE_UP), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + S(20), VTG_STATE_DOWN), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + S(40), VTG_STATE_UP), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + MIN_US + S(1), VTG_STATE_UNKNOWN), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + MIN_US + S(2), VTG_STATE_DEGRADED), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + MIN_US + S(3), VTG_STATE_UP), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + 2 * MIN_US, VTG_STATE_UNKNOWN), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0, (vtg_state_t)7), VTG_EINVAL);
  /* A result covering minutes 0 and 1 (a sampled minute no result covers
   * is unknown: test coverage_rules). */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(2), VTG_OUTCOME_UP, 5, 2 * MIN_US - S(5)), 0);
  /* minute 3: probes, never sampled (the watermark jumped over it) */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 3 * MIN_US, VTG_OUTCOME_DOWN, 0, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 3 * MIN_US + 1, VTG_OUTCOME_DOWN, 0, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 3 * MIN_US + 2, VTG_OUTCOME_UP, 5, 0), 0);
  /* minute 4: probes, not complete yet */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 4 * MIN_US, VTG_OUTCOME_DOWN, 0, 0), 0);
  /* The detector knows no agent for it: the tick samples nothing, but the
   * watermark makes minute 3 complete. */
  vtg_rollup_tick(r, d, (uint32_t[]){1}, 1, region_names, 1, NULL, T0 + 4 * MIN_US + S(5));
  ASSERT_EQ(vtg_rollup_watermark(r), T0 + 4 * MIN_US + S(5));
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0, 5, c), 5);
  ASSERT_EQ(c[0].state, VTG_STATE_DOWN);
  ASSERT_EQ(c[1].state, VTG_STATE_DEGRADED);
  ASSERT_EQ(c[2].state, VTG_STATE_UNKNOWN); /* sampled unknown: no probe fallback */
  ASSERT_EQ(c[3].state, VTG_STATE_DOWN);    /* 2 of 3 down */
  ASSERT_EQ(c[4].state, VTG_STATE_UNKNOWN); /* still being filled */
  /* degraded majority, then up */
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0, VTG_OUTCOME_DEGRADED, 5, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0, VTG_OUTCOME_DEGRADED, 5, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0, VTG_OUTCOME_DOWN, 5, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0 + MIN_US, VTG_OUTCOME_DOWN, 5, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 2, 0, T0 + MIN_US, VTG_OUTCOME_UP, 5, 0), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 2, 0, T0, 2, c), 2);
  ASSERT_EQ(c[0].state, VTG_STATE_DEGRADED);
  ASSERT_EQ(c[1].state, VTG_STATE_UP); /* half down is not more than half */
  vtg_detect_free(d);
  vtg_rollup_free(r);
  return 0;
}

/* A 10-minute window: minute m sits in slot m mod 10; newer minutes take
 * the slot over, results older than the window are refused and counted. */
VTG_TEST(ring_wrap) {
  vtg_rollup_t *r = vtg_rollup_new(10 * MIN_US);
  vtg_rollup_cell_t c[30];
  ASSERT(r != NULL);
  for (int m = 0; m < 25; m++)
    ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + m * MIN_US + S(1), VTG_OUTCOME_UP, 1000 + m, 0), 0);
  /* Minutes 15..24 are in memory, 0..14 were taken over. */
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0, 25, c), 10);
  for (int m = 0; m < 25; m++) {
    ASSERT_EQ(c[m].minute_us, T0 + m * MIN_US);
    ASSERT_EQ(c[m].up, m >= 15 ? 1 : 0);
    ASSERT_EQ(c[m].latency_avg_us, m >= 15 ? 1000 + m : -1);
  }
  /* A late result for minute 12 finds its slot (2) holding minute 22. */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 12 * MIN_US, VTG_OUTCOME_DOWN, 0, 0), 0);
  vtg_rollup_stats_t st;
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.too_old, 1);
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0 + 22 * MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].down, 0);
  /* Once the watermark is at minute 24, a result for minute 14 is outside
   * the window even in a series that never had that slot. */
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2};
  vtg_detect_t *d = vtg_detect_new(&p, NULL, NULL);
  ASSERT(d != NULL);
  vtg_rollup_tick(r, d, NULL, 0, region_names, 1, NULL, T0 + 24 * MIN_US + S(3));
  ASSERT_EQ(vtg_rollup_memory_from(r), T0 + 15 * MIN_US);
  ASSERT_EQ(vtg_rollup_feed(r, 5, 2, T0 + 14 * MIN_US, VTG_OUTCOME_UP, 1, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 5, 2, T0 + 15 * MIN_US, VTG_OUTCOME_UP, 1, 0), 0);
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.too_old, 2);
  /* Many series: the hash grows and every series keeps its own cells. */
  for (uint32_t k = 0; k < 200; k++)
    ASSERT_EQ(vtg_rollup_feed(r, 100 + k, k % 3, T0 + 20 * MIN_US, VTG_OUTCOME_UP, k + 1, 0), 0);
  for (uint32_t k = 0; k < 200; k++) {
    ASSERT_EQ(vtg_rollup_cells(r, 100 + k, k % 3, T0 + 20 * MIN_US, 1, c), 1);
    ASSERT_EQ(c[0].latency_avg_us, k + 1);
  }
  vtg_detect_free(d);
  vtg_rollup_free(r);
  return 0;
}

/* Completed minutes go to a real SQLite file once a minute, a new rollup
 * loads them back, the replay skips what a loaded minute counts but not a
 * minute never stored, and history older than memory comes from the store. */
VTG_TEST(persistence_round_trip) {
  tmpdir_t t;
  vtg_store_t *s = NULL;
  vtg_rollup_cell_t c[4];
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2};
  vtg_detect_t *d = vtg_detect_new(&p, NULL, NULL);
  ASSERT(d != NULL);
  ASSERT_EQ(tmp_make(&t), 0);
  ASSERT_EQ(vtg_store_open(t.db, &s), 0);

  vtg_rollup_t *r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + S(5), VTG_OUTCOME_UP, 200000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + S(35), VTG_OUTCOME_DOWN, 0, 0), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 3, 1, T0 + S(40), VTG_STATE_DOWN), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 2, T0 + MIN_US + S(5), VTG_OUTCOME_DEGRADED, 900000, 0), 0);
  /* First tick: no flush (nothing to compare with); then the minute
   * changes twice: minutes 0 and 1 are complete and written. */
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + S(50));
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + MIN_US + S(1));
  vtg_rollup_stats_t st;
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.flushes, 1);
  ASSERT_EQ(st.rows_written, 1); /* minute 0 of (3, us-east) */
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + 2 * MIN_US + S(1));
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.flushes, 2);
  ASSERT_EQ(st.rows_written, 2);
  /* A late result for minute 0 is written again whole at the next flush. */
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + S(36), VTG_OUTCOME_DOWN, 0, 0), 0);
  /* Minute 2 is being filled: it is not written by the tick. */
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + 2 * MIN_US + S(2), VTG_OUTCOME_UP, 100000, 0), 0);
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + 2 * MIN_US + S(30));
  ASSERT_EQ(vtg_rollup_flush(r, s, region_names, 3, T0 + 2 * MIN_US), 0);
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.rows_written, 3);
  vtg_rollup_free(r);

  /* "Restart" (a crash: minute 2 was never written). */
  r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_load(r, s, T0 + 2 * MIN_US + S(40), region_lookup, NULL), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 1, T0, 3, c), 1);
  ASSERT_EQ(c[0].up, 1);
  ASSERT_EQ(c[0].down, 2);
  ASSERT_EQ(c[0].latency_avg_us, 200000);
  ASSERT_EQ(c[0].state, VTG_STATE_DOWN);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 2, T0 + MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].degraded, 1);
  ASSERT_EQ(c[0].latency_avg_us, 900000);
  /* The result log replay: minutes 0 and 1 are already counted, minute 2
   * is not. */
  vtg_rollup_set_replay(r, 1);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + S(5), VTG_OUTCOME_UP, 200000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + S(35), VTG_OUTCOME_DOWN, 0, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 2, T0 + MIN_US + S(5), VTG_OUTCOME_DEGRADED, 900000, 0), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 3, 1, T0 + 2 * MIN_US + S(2), VTG_OUTCOME_UP, 100000, 0), 0);
  vtg_rollup_set_replay(r, 0);
  /* Live results for a loaded minute count (a spool replay after the
   * restart brings only results never seen). */
  ASSERT_EQ(vtg_rollup_feed(r, 3, 2, T0 + MIN_US + S(6), VTG_OUTCOME_UP, 100000, 0), 0);
  vtg_rollup_stats(r, &st);
  ASSERT_EQ(st.replay_skipped, 3);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 1, T0, 3, c), 2);
  ASSERT_EQ(c[0].up + c[0].down, 3);
  ASSERT_EQ(c[2].up, 1);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 2, T0 + MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].degraded + c[0].up, 2);

  /* Shutdown flush writes everything; a second load sees the same. */
  ASSERT_EQ(vtg_rollup_flush(r, s, region_names, 3, INT64_MAX), 0);
  vtg_rollup_free(r);
  r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_load(r, s, T0 + 2 * MIN_US + S(50), region_lookup, NULL), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 1, T0 + 2 * MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].up, 1);
  ASSERT_EQ(c[0].latency_avg_us, 100000);
  vtg_rollup_free(r);

  /* 30 minutes later, with a 10-minute memory: the history of minute 0
   * comes from the store. */
  r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_load(r, s, T0 + 30 * MIN_US, region_lookup, NULL), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 3, 1, T0, 1, c), 0);
  vtg_buf_t b;
  vtg_buf_init(&b, 0);
  ASSERT_EQ(vtg_rollup_history_json(r, s, 3, "web", region_names, 3, T0 + 30 * MIN_US + S(7),
                                    31, &b),
            0);
  vtg_json_t *v = NULL;
  char perr[128];
  ASSERT_EQ(vtg_json_parse(b.data, b.len, &v, perr, sizeof perr), 0);
  ASSERT_STR_EQ(vtg_json_get_str(v, "check", ""), "web");
  ASSERT_STR_EQ(vtg_json_get_str(v, "from", ""), "2026-11-24T12:00:00.000Z");
  ASSERT_STR_EQ(vtg_json_get_str(v, "to", ""), "2026-11-24T12:31:00.000Z");
  ASSERT_EQ(vtg_json_get_num(v, "step_s", 0), 60);
  const vtg_json_t *regs = vtg_json_get(v, "regions");
  ASSERT(regs != NULL && regs->type == VTG_JSON_ARRAY);
  ASSERT_EQ(regs->n, 2); /* eu has no data */
  ASSERT_STR_EQ(vtg_json_get_str(regs->items[0], "region", ""), "us-east");
  const vtg_json_t *cells = vtg_json_get(regs->items[0], "cells");
  ASSERT(cells != NULL && cells->n == 31);
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[0], "t", ""), "2026-11-24T12:00:00.000Z");
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[0], "state", ""), "down");
  ASSERT_EQ(vtg_json_get_num(cells->items[0], "down", -1), 2);
  ASSERT(fabs(vtg_json_get_num(cells->items[0], "latency_avg_s", -1) - 0.2) < 1e-9);
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[2], "state", ""), "up"); /* probe fallback */
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[5], "state", ""), "unknown");
  const vtg_json_t *lat = vtg_json_get(cells->items[5], "latency_avg_s");
  ASSERT(lat != NULL && lat->type == VTG_JSON_NULL);
  ASSERT_STR_EQ(vtg_json_get_str(regs->items[1], "region", ""), "us-west");
  vtg_json_free(v);
  vtg_buf_free(&b);
  vtg_rollup_free(r);

  vtg_detect_free(d);
  vtg_store_close(s);
  tmp_remove_dir(t.dir);
  return 0;
}

/* ---- retention ---- */

static int put_incident(vtg_store_t *s, const char *id, int64_t onset, int64_t resolved) {
  char json[128];
  int n = snprintf(json, sizeof json, "{\"id\":\"%s\"}", id);
  return vtg_store_incident_put(s, id, "web", "shop", onset, resolved, json, (size_t)n);
}

static int count_rows(void *ctx, const vtg_store_rollup_row_t *row) {
  (void)row;
  (*(int *)ctx)++;
  return 0;
}

/* Old resolved incidents and old rollup minutes go in one transaction;
 * open incidents stay whatever their age. */
VTG_TEST(store_prune) {
  tmpdir_t t;
  vtg_store_t *s = NULL;
  vtg_buf_t b;
  const int64_t now = T0 + S(1000) * 86400;
  ASSERT_EQ(tmp_make(&t), 0);
  ASSERT_EQ(vtg_store_open(t.db, &s), 0);
  ASSERT_EQ(put_incident(s, "inc-1", now - S(500) * 86400, VTG_TIME_NONE), 0);       /* open */
  ASSERT_EQ(put_incident(s, "inc-2", now - S(500) * 86400, now - S(450) * 86400), 0); /* old */
  ASSERT_EQ(put_incident(s, "inc-3", now - S(500) * 86400, now - S(10) * 86400), 0);  /* ended late */
  ASSERT_EQ(put_incident(s, "inc-4", now - S(1) * 86400, now - S(1) * 86400 + S(60)), 0);
  vtg_store_rollup_row_t rows[3] = {
      {.check_id = 1, .region = "eu", .minute_us = now - S(100) * 86400, .up = 1, .state = -1},
      {.check_id = 1, .region = "eu", .minute_us = now - S(89) * 86400, .up = 2, .state = 1},
      {.check_id = 2, .region = "us", .minute_us = now - MIN_US, .down = 3, .state = 3},
  };
  ASSERT_EQ(vtg_store_rollup_put(s, rows, 3), 0);
  vtg_store_prune_stats_t st;
  ASSERT_EQ(vtg_store_prune(s, now - S(90) * 86400, now - S(400) * 86400, &st), 0);
  ASSERT_EQ(st.rollups, 1);
  ASSERT_EQ(st.incidents, 1);
  vtg_buf_init(&b, 0);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-1", now, &b), 0);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-2", now, &b), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-3", now, &b), 0);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-4", now, &b), 0);
  vtg_buf_free(&b);
  int n = 0;
  ASSERT_EQ(vtg_store_rollup_range(s, 0, 0, INT64_MAX, count_rows, &n), 0);
  ASSERT_EQ(n, 2);
  n = 0;
  ASSERT_EQ(vtg_store_rollup_range(s, 2, 0, INT64_MAX, count_rows, &n), 0);
  ASSERT_EQ(n, 1);
  /* VTG_TIME_NONE keeps that kind; an empty prune is fine. */
  ASSERT_EQ(vtg_store_prune(s, VTG_TIME_NONE, now, &st), 0);
  ASSERT_EQ(st.rollups, 0);
  ASSERT_EQ(st.incidents, 2);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-1", now, &b), 0); /* still open, still here */
  vtg_buf_free(&b);
  vtg_store_close(s);
  tmp_remove_dir(t.dir);
  return 0;
}

static void on_durable(void *ctx, uint64_t gen) {
  *(uint64_t *)ctx = gen;
}

static int count_segments(const char *dir, int *has_active, uint64_t active_no) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  char want[64];
  snprintf(want, sizeof want, "seg-%020llu.log", (unsigned long long)active_no);
  *has_active = 0;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "seg-", 4) != 0) continue;
    n++;
    if (strcmp(e->d_name, want) == 0) *has_active = 1;
  }
  closedir(d);
  return n;
}

/* Makes every segment of dir look two days old. */
static int age_segments(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  struct timeval tv[2];
  if (d == NULL) return -1;
  gettimeofday(&tv[0], NULL);
  tv[0].tv_sec -= 2 * 86400;
  tv[1] = tv[0];
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "seg-", 4) != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (utimes(path, tv) != 0) break;
  }
  closedir(d);
  return 0;
}

/* Opens the log of dir with a one-day retention, appends one record and
 * waits until it is durable. */
static int open_log(uv_loop_t *loop, const char *dir, uint64_t *gen, vtg_resultlog_t **out) {
  vtg_resultlog_opts_t o = {.dir = dir, .retention_us = S(86400)};
  Vantage__Result r = VANTAGE__RESULT__INIT;
  uint8_t buf[64];
  r.check_id = 1;
  r.start_us = T0;
  r.outcome = VANTAGE__OUTCOME__OUTCOME_UP;
  size_t len = vantage__result__pack(&r, buf);
  vtg_resultlog_rec_t rec = {.agent = "a1", .region = "eu", .epoch = 1, .seq = 1,
                             .start_us = T0, .result = buf, .result_len = len};
  if (vtg_resultlog_open(loop, &o, on_durable, gen, out) != 0) return -1;
  if (vtg_resultlog_append(*out, &rec) != 0) return -1;
  uint64_t want = vtg_resultlog_barrier(*out);
  while (*gen < want) uv_run(loop, UV_RUN_ONCE);
  return 0;
}

/* The hourly sweep deletes segments past the age, never the segment being
 * written even when it looks old too. */
VTG_TEST(resultlog_prune_keeps_active) {
  tmpdir_t t;
  uv_loop_t loop;
  uint64_t gen = 0;
  int active;
  vtg_resultlog_t *l = NULL;
  ASSERT_EQ(tmp_make(&t), 0);
  char dir[160];
  snprintf(dir, sizeof dir, "%s/log", t.dir);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  /* Three closed segments (one per open), then the live one: number 4. */
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(open_log(&loop, dir, &gen, &l), 0);
    vtg_resultlog_close(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    gen = 0;
  }
  ASSERT_EQ(open_log(&loop, dir, &gen, &l), 0);
  ASSERT_EQ(count_segments(dir, &active, 4), 4);
  ASSERT(active);
  ASSERT_EQ(age_segments(dir), 0);
  ASSERT_EQ(vtg_resultlog_prune(l), 3);
  ASSERT_EQ(count_segments(dir, &active, 4), 1);
  ASSERT(active);
  ASSERT_EQ(vtg_resultlog_prune(l), 0);
  vtg_resultlog_counters_t n;
  vtg_resultlog_counters(l, &n);
  ASSERT_EQ(n.segments_deleted, 3);
  vtg_resultlog_close(l);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  tmp_remove_dir(t.dir);
  return 0;
}

/* The `retention:` block: defaults, days, the result_log alias, errors
 * with file:line:col. */
VTG_TEST(config_retention) {
  vtg_coord_config_t cfg;
  char err[600];
  const int64_t day = S(86400);
  ASSERT_EQ(vtg_config_load_string("c.yaml", "store: /x/v.db\n", &cfg, err, sizeof err), 0);
  ASSERT_EQ(cfg.retention_rollups_us, 90 * day);
  ASSERT_EQ(cfg.retention_incidents_us, 400 * day);
  ASSERT_EQ(cfg.result_log_retention_us, day);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml",
                                   "retention:\n  result_log: 14d\n  rollups: 30d\n"
                                   "  incidents: 1d12h\n",
                                   &cfg, err, sizeof err),
            0);
  ASSERT_EQ(cfg.result_log_retention_us, 14 * day);
  ASSERT_EQ(cfg.retention_rollups_us, 30 * day);
  ASSERT_EQ(cfg.retention_incidents_us, day + S(12 * 3600));
  vtg_config_free(&cfg);
  ASSERT(vtg_config_load_string("c.yaml",
                                "result_log_retention: 2d\nretention:\n  result_log: 14d\n",
                                &cfg, err, sizeof err) != 0);
  ASSERT(strstr(err, "c.yaml:3:") != NULL);
  ASSERT(strstr(err, "same setting") != NULL);
  ASSERT(vtg_config_load_string("c.yaml", "retention:\n  rollups: 12h\n", &cfg, err,
                                sizeof err) != 0);
  ASSERT(strstr(err, "c.yaml:2:") != NULL);
  ASSERT(vtg_config_load_string("c.yaml", "retention:\n  rollups: 90\n", &cfg, err,
                                sizeof err) != 0);
  ASSERT(strstr(err, "c.yaml:2:") != NULL);
  ASSERT(vtg_config_load_string("c.yaml", "retention:\n  agents: 1d\n", &cfg, err,
                                sizeof err) != 0);
  ASSERT(strstr(err, "c.yaml:2:") != NULL);
  ASSERT(vtg_config_load_string("c.yaml", "retention: 14d\n", &cfg, err, sizeof err) != 0);
  ASSERT(strstr(err, "c.yaml:1:") != NULL);
  return 0;
}

/* Coverage (rollup.h, "Coverage"): a result covers its start to its start
 * + interval, rounded out to whole seconds; minutes no result covers are
 * unknown even when the detector still sampled a state in them (its
 * staleness allowance), and the minutes the coordinator was down with
 * nothing spooled (no result, no sample) are unknown with coverage 0. */
VTG_TEST(coverage_rules) {
  vtg_rollup_t *r = vtg_rollup_new(0);
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2};
  vtg_detect_t *d = vtg_detect_new(&p, NULL, NULL);
  vtg_rollup_cell_t c[9];
  ASSERT(r != NULL && d != NULL);
  /* An agent probing every 30 s: 0, 30, 60, 90 s; then the coordinator is
   * down from 2 min to 5 min and nothing was spooled; probes again from
   * 5 min 10 s. */
  for (int k = 0; k < 4; k++)
    ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(30 * k) + 1234, VTG_OUTCOME_UP, 1000, S(30)), 0);
  for (int k = 0; k < 5; k++)
    ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + S(310 + 30 * k), k == 2 ? VTG_OUTCOME_DOWN
                                                                    : VTG_OUTCOME_UP,
                              1000, S(30)),
              0);
  /* The detector kept the silent agent's last state for a while before
   * it went stale (sampled up in minutes 2 and 3), then the coordinator
   * stopped: no samples in minute 4. Minute 6 saw a down state. */
  for (int k = 0; k < 3; k++)
    ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + k * MIN_US + S(20), VTG_STATE_UP), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + 3 * MIN_US + S(10), VTG_STATE_UP), 0);
  ASSERT_EQ(vtg_rollup_sample(r, 1, 0, T0 + 6 * MIN_US + S(10), VTG_STATE_DOWN), 0);
  vtg_rollup_tick(r, d, (uint32_t[]){1}, 1, region_names, 1, NULL, T0 + 8 * MIN_US + S(1) + 5);
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0, 9, c), 7); /* minutes 4 and 8 hold nothing */
  ASSERT_EQ(c[0].covered_s, 60);
  ASSERT_EQ(c[0].state, VTG_STATE_UP);
  ASSERT_EQ(c[1].covered_s, 60);
  ASSERT_EQ(c[2].covered_s, 1); /* 90.001 + 30 s reaches into second 0 of minute 2 */
  ASSERT_EQ(c[2].state, VTG_STATE_UP);
  ASSERT_EQ(c[3].covered_s, 0); /* sampled up, but no result: unknown */
  ASSERT_EQ(c[3].state, VTG_STATE_UNKNOWN);
  ASSERT_EQ(c[4].covered_s, 0); /* the coordinator was down: no result, no sample */
  ASSERT_EQ(c[4].state, VTG_STATE_UNKNOWN);
  ASSERT_EQ(c[5].covered_s, 50); /* from 5 min 10 s */
  ASSERT_EQ(c[5].state, VTG_STATE_UP); /* not sampled: its probes' majority */
  ASSERT_EQ(c[6].covered_s, 60);
  ASSERT_EQ(c[6].state, VTG_STATE_DOWN);
  ASSERT_EQ(c[7].covered_s, 41); /* the last probe at 430 s covers to 460 s */
  ASSERT_EQ(c[8].covered_s, 0);  /* nothing reaches minute 8 */

  /* A result ahead of the watermark: only seconds before it count. */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 8 * MIN_US, VTG_OUTCOME_UP, 1000, S(30)), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0 + 8 * MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].covered_s, 1); /* second 0; the watermark is inside second 1 */

  /* A replayed result adds no coverage twice (a mask) and span 0 covers
   * the start second only. */
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 5 * MIN_US + S(10), VTG_OUTCOME_UP, 1000, S(30)), 0);
  ASSERT_EQ(vtg_rollup_feed(r, 1, 0, T0 + 4 * MIN_US + S(7) + 900000, VTG_OUTCOME_UP, 1, 0), 0);
  ASSERT_EQ(vtg_rollup_cells(r, 1, 0, T0 + 4 * MIN_US, 2, c), 2);
  ASSERT_EQ(c[0].covered_s, 1);
  ASSERT_EQ(c[0].state, VTG_STATE_UP);
  ASSERT_EQ(c[1].covered_s, 50);

  /* The history body says how much of each minute was covered. */
  vtg_buf_t b;
  vtg_buf_init(&b, 0);
  ASSERT_EQ(vtg_rollup_history_json(r, NULL, 1, "web", region_names, 1, T0 + 7 * MIN_US, 8, &b),
            0);
  vtg_json_t *v = NULL;
  char err[128];
  ASSERT_EQ(vtg_json_parse((const char *)b.data, b.len, &v, err, sizeof err), 0);
  const vtg_json_t *cells = vtg_json_get(vtg_json_get(v, "regions")->items[0], "cells");
  ASSERT(cells != NULL && cells->n == 8);
  ASSERT(vtg_json_get_num(cells->items[0], "coverage", -1) == 1.0);
  ASSERT(fabs(vtg_json_get_num(cells->items[2], "coverage", -1) - 1.0 / 60) < 1e-9);
  ASSERT(vtg_json_get_num(cells->items[3], "coverage", -1) == 0.0);
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[3], "state", ""), "unknown");
  ASSERT_STR_EQ(vtg_json_get_str(cells->items[6], "state", ""), "down");
  vtg_json_free(v);
  vtg_buf_free(&b);
  vtg_detect_free(d);
  vtg_rollup_free(r);
  return 0;
}

/* Uptime = up-known time / known time, coverage = known time / wall time,
 * over whole completed minutes; per region, from memory and the store
 * alike; legacy rows without coverage count as covered when they hold
 * data; the store's part follows the window as the minute moves. */
VTG_TEST(uptime_arithmetic) {
  tmpdir_t t;
  vtg_store_t *s = NULL;
  vtg_rollup_uptime_t u[3];
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2};
  vtg_detect_t *d = vtg_detect_new(&p, NULL, NULL);
  ASSERT(d != NULL);
  ASSERT_EQ(tmp_make(&t), 0);
  ASSERT_EQ(vtg_store_open(t.db, &s), 0);

  vtg_rollup_t *r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  /* Before the first watermark: nothing known, the wall is the window. */
  ASSERT_EQ(vtg_rollup_uptime(r, s, 7, region_names, 3, VTG_ROLLUP_WINDOW_24H, u), 0);
  ASSERT_EQ(u[0].wall_s, 86400);
  ASSERT_EQ(u[0].known_s, 0);
  ASSERT(vtg_rollup_uptime_ratio(&u[0]) < 0);
  ASSERT(vtg_rollup_coverage_ratio(&u[0]) == 0);

  /* 30 minutes of check 7: eu probed every 10 s throughout, down (sampled)
   * in minutes 3 and 4; us-east only in minutes 0..9 (then its agents
   * went away); us-west never. Ticked every 10 s: minutes are flushed.
   * (A completed minute with neither probe nor sample has no state, so
   * the seconds a last result reaches into it do not count as known.) */
  for (int sec = 0; sec < 30 * 60; sec += 10) {
    int64_t t_us = T0 + S(sec) + 2000;
    int minute = sec / 60, down = minute == 3 || minute == 4;
    ASSERT_EQ(vtg_rollup_feed(r, 7, 0, t_us, down ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, 1000,
                              S(10)),
              0);
    if (down) ASSERT_EQ(vtg_rollup_sample(r, 7, 0, t_us, VTG_STATE_DOWN), 0);
    if (minute < 10) ASSERT_EQ(vtg_rollup_feed(r, 7, 1, t_us, VTG_OUTCOME_UP, 1000, S(10)), 0);
    vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, t_us + S(1));
  }
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + 30 * MIN_US + S(1));
  /* Minutes 0..29 are complete; memory holds only the last 10, so most
   * of the window is the store's. eu: 30 min known, 2 of them down. us-east:
   * minutes 0..9. */
  ASSERT_EQ(vtg_rollup_uptime(r, s, 7, region_names, 3, VTG_ROLLUP_WINDOW_24H, u), 0);
  ASSERT_EQ(u[0].wall_s, 86400);
  ASSERT_EQ(u[0].known_s, 30 * 60);
  ASSERT_EQ(u[0].up_s, 28 * 60);
  ASSERT(fabs(vtg_rollup_uptime_ratio(&u[0]) - 28.0 / 30) < 1e-12);
  ASSERT(fabs(vtg_rollup_coverage_ratio(&u[0]) - 1800.0 / 86400) < 1e-12);
  ASSERT_EQ(u[1].known_s, 10 * 60);
  ASSERT_EQ(u[1].up_s, 10 * 60);
  ASSERT(vtg_rollup_uptime_ratio(&u[1]) == 1.0); /* unknown did not count as up */
  ASSERT_EQ(u[2].known_s, 0);
  ASSERT(vtg_rollup_uptime_ratio(&u[2]) < 0);
  /* A 20-minute window: minutes 10..29. */
  ASSERT_EQ(vtg_rollup_uptime(r, s, 7, region_names, 3, 20 * MIN_US, u), 0);
  ASSERT_EQ(u[0].wall_s, 1200);
  ASSERT_EQ(u[0].known_s, 1200);
  ASSERT_EQ(u[0].up_s, 1200);
  ASSERT_EQ(u[1].known_s, 0);
  ASSERT(vtg_rollup_coverage_ratio(&u[0]) == 1.0);
  /* The minute moves: minute 30 (no result started in it) joins the
   * window as unknown, minute 10 leaves it. */
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + 31 * MIN_US + S(1));
  ASSERT_EQ(vtg_rollup_uptime(r, s, 7, region_names, 3, 20 * MIN_US, u), 0);
  ASSERT_EQ(u[0].known_s, 19 * 60);
  ASSERT_EQ(u[0].wall_s, 1200);

  /* A row from before coverage was recorded (covered NULL) counts as a
   * whole covered minute when it holds data; an empty one does not. */
  vtg_store_rollup_row_t rows[2] = {
      {.check_id = 8, .region = "eu", .minute_us = T0 + 20 * MIN_US, .up = 2, .state = -1,
       .covered = -1},
      {.check_id = 8, .region = "eu", .minute_us = T0 + 21 * MIN_US, .state = -1, .covered = -1},
  };
  ASSERT_EQ(vtg_store_rollup_put(s, rows, 2), 0);
  ASSERT_EQ(vtg_rollup_uptime(r, s, 8, region_names, 3, VTG_ROLLUP_WINDOW_24H, u), 0);
  ASSERT_EQ(u[0].known_s, 60);
  ASSERT_EQ(u[0].up_s, 60);
  vtg_rollup_free(r);

  /* Coverage survives a restart: the mask is stored and loaded. */
  r = vtg_rollup_new(10 * MIN_US);
  ASSERT(r != NULL);
  ASSERT_EQ(vtg_rollup_load(r, s, T0 + 31 * MIN_US + S(2), region_lookup, NULL), 0);
  vtg_rollup_cell_t c[1];
  vtg_rollup_tick(r, d, NULL, 0, region_names, 3, s, T0 + 31 * MIN_US + S(2));
  ASSERT_EQ(vtg_rollup_cells(r, 7, 0, T0 + 29 * MIN_US, 1, c), 1);
  ASSERT_EQ(c[0].covered_s, 60);
  ASSERT_EQ(vtg_rollup_uptime(r, s, 7, region_names, 3, VTG_ROLLUP_WINDOW_24H, u), 0);
  ASSERT_EQ(u[0].known_s, 30 * 60);
  ASSERT_EQ(u[0].up_s, 28 * 60);
  vtg_rollup_free(r);
  vtg_store_close(s);
  vtg_detect_free(d);
  tmp_remove_dir(t.dir);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(bucketing) VTG_TEST_ENTRY(worst_state) VTG_TEST_ENTRY(ring_wrap)
                  VTG_TEST_ENTRY(persistence_round_trip) VTG_TEST_ENTRY(store_prune)
                      VTG_TEST_ENTRY(resultlog_prune_keeps_active)
                          VTG_TEST_ENTRY(config_retention) VTG_TEST_ENTRY(coverage_rules)
                              VTG_TEST_ENTRY(uptime_arithmetic))
