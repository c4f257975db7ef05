/* The ingest: deduplication by (agent, epoch, seq), epoch changes, unknown
 * checks, gaps, Dropped ranges and the agent's own watermark. Runs with a
 * real detector and no loop, store or sockets. */
#include <stdlib.h>

#include "coord.h"
#include "ingest.h"
#include "test.h"
#include "vtg/error.h"

#define CHECK_ID 5

typedef struct fixture_s {
  vtg_coord_t c;
  int32_t index[CHECK_ID + 1];
  uint32_t ids[1];
  vtg_agent_t *a;
  Vantage__Result res[8];
  Vantage__Result *resp[8];
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
  if (vtg_detect_set_check(f->c.detect, CHECK_ID, "c", "s", "web", 1000000, 500000)) return -1;
  if (vtg_coord_agent_get(&f->c, "a-1", "r1", &f->a)) return -1;
  for (int i = 0; i < 8; i++) {
    vantage__result__init(&f->res[i]);
    f->res[i].check_id = CHECK_ID;
    f->res[i].start_us = 1700000000000000LL + i * 1000000LL;
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

/* A batch of results [from, from + n) of the fixture, with seq first_seq. */
static Vantage__ResultBatch batch(fixture_t *f, uint64_t epoch, uint64_t first_seq, int from,
                                  int n) {
  Vantage__ResultBatch b = VANTAGE__RESULT_BATCH__INIT;
  b.spool_epoch = epoch;
  b.first_seq = first_seq;
  b.n_results = (size_t)n;
  b.results = &f->resp[from];
  b.complete_before_us = f->res[from + n - 1].start_us + 1;
  return b;
}

VTG_TEST(dedup) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  vtg_ingest_session_start(&f.c, f.a, 7);
  Vantage__ResultBatch b = batch(&f, 7, 1, 0, 3);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 3);
  ASSERT_EQ(f.a->results_total, 3);
  ASSERT_EQ(f.a->complete_before_us, f.res[2].start_us + 1);
  /* A replay of 2..4: two duplicates, one new. */
  b = batch(&f, 7, 2, 1, 3);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 4);
  ASSERT_EQ(f.a->duplicates_total, 2);
  ASSERT_EQ(f.c.duplicates_total, 2);
  ASSERT_EQ(f.a->results_total, 4);
  ASSERT_EQ(f.c.results_total, 4);
  /* An older watermark does not move the agent's back. */
  b = batch(&f, 7, 1, 0, 1);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->complete_before_us, f.res[3].start_us + 1);
  ASSERT_EQ(f.a->duplicates_total, 3);
  ASSERT(f.a->last_batch_us > 0);
  fixture_free(&f);
  return 0;
}

VTG_TEST(new_epoch_resets) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  vtg_ingest_session_start(&f.c, f.a, 7);
  Vantage__ResultBatch b = batch(&f, 7, 1, 0, 3);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 3);
  /* Same epoch on reconnect: the acked sequence stays (Welcome says 3). */
  vtg_ingest_session_start(&f.c, f.a, 7);
  ASSERT_EQ(f.a->acked_seq, 3);
  /* A new spool: sequence numbers start over and are not duplicates. */
  vtg_ingest_session_start(&f.c, f.a, 8);
  ASSERT_EQ(f.a->acked_seq, 0);
  ASSERT_EQ(f.a->epoch, 8);
  b = batch(&f, 8, 1, 3, 2);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 2);
  ASSERT_EQ(f.a->duplicates_total, 0);
  /* A batch naming yet another epoch switches too. */
  b = batch(&f, 9, 1, 5, 1);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->epoch, 9);
  ASSERT_EQ(f.a->acked_seq, 1);
  ASSERT_EQ(f.a->results_total, 6);
  fixture_free(&f);
  return 0;
}

VTG_TEST(unknown_and_invalid) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  f.res[1].check_id = 99;
  f.res[2].check_id = 3; /* inside the index, but no check */
  f.res[3].outcome = 0;
  Vantage__ResultBatch b = batch(&f, 1, 1, 0, 5);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 5); /* skipped results are still acknowledged */
  ASSERT_EQ(f.c.unknown_checks_total, 2);
  ASSERT_EQ(f.c.invalid_results_total, 1);
  ASSERT_EQ(f.a->results_total, 2);
  fixture_free(&f);
  return 0;
}

VTG_TEST(gap_and_dropped) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  Vantage__ResultBatch b = batch(&f, 1, 1, 0, 2);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  /* 3..4 never arrive: logged, accepted. */
  b = batch(&f, 1, 5, 2, 2);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->acked_seq, 6);
  ASSERT_EQ(f.c.seq_gaps_total, 1);
  /* Dropped right after the acked sequence moves it on. */
  Vantage__Dropped d = VANTAGE__DROPPED__INIT;
  d.spool_epoch = 1;
  d.first_seq = 7;
  d.last_seq = 10;
  ASSERT_EQ(vtg_ingest_dropped(&f.c, f.a, &d), 0);
  ASSERT_EQ(f.a->acked_seq, 10);
  ASSERT_EQ(f.c.dropped_total, 4);
  /* An old range changes nothing; an inverted one is a protocol error. */
  d.first_seq = 2;
  d.last_seq = 3;
  ASSERT_EQ(vtg_ingest_dropped(&f.c, f.a, &d), 0);
  ASSERT_EQ(f.a->acked_seq, 10);
  ASSERT_EQ(f.c.dropped_total, 4);
  d.first_seq = 5;
  d.last_seq = 4;
  ASSERT_EQ(vtg_ingest_dropped(&f.c, f.a, &d), VTG_EPROTO);
  fixture_free(&f);
  return 0;
}

VTG_TEST(malformed) {
  fixture_t f;
  ASSERT_EQ(fixture_init(&f), 0);
  Vantage__ResultBatch b = batch(&f, 1, 0, 0, 2); /* results without a first_seq */
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), VTG_EPROTO);
  b = batch(&f, 1, UINT64_MAX, 0, 2);
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), VTG_EPROTO);
  ASSERT_EQ(f.a->results_total, 0);
  /* An empty batch only carries the watermark. */
  b = batch(&f, 1, 0, 0, 1);
  b.n_results = 0;
  ASSERT_EQ(vtg_ingest_batch(&f.c, f.a, &b), 0);
  ASSERT_EQ(f.a->complete_before_us, f.res[0].start_us + 1);
  fixture_free(&f);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(dedup) VTG_TEST_ENTRY(new_epoch_resets)
                  VTG_TEST_ENTRY(unknown_and_invalid) VTG_TEST_ENTRY(gap_and_dropped)
                      VTG_TEST_ENTRY(malformed))
