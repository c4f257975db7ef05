/* The durable result log: append and read back across a reopen, group
 * commit with the durable callback, acknowledged sequences recovered by
 * the ingest's replay, damaged and torn records skipped and counted,
 * retention by size and age. Each test runs a real loop (the writes go
 * through the thread pool) in a fresh temporary directory. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "coord.h"
#include "ingest.h"
#include "resultlog.h"
#include "test.h"
#include "vtg/crc.h"
#include "vtg/error.h"
#include "vtg/wire.h"

typedef struct ctx_s {
  uint64_t durable;
  int calls;
} ctx_t;

static void on_durable(void *p, uint64_t gen) {
  ctx_t *c = p;
  c->durable = gen;
  c->calls++;
}

static int make_dir(char *out, size_t n) {
  return vtg_test_mkdtemp(out, n, "resultlog");
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* Appends n records of agent id (seq from first) through a loop, waits
 * until durable, closes. Returns 0 or -1. */
static int write_records(const char *dir, const char *id, uint64_t epoch, uint64_t first, int n,
                         const vtg_resultlog_opts_t *extra) {
  uv_loop_t loop;
  vtg_resultlog_t *l = NULL;
  ctx_t ctx = {0, 0};
  vtg_resultlog_opts_t o = {.dir = dir};
  if (extra) {
    o = *extra;
    o.dir = dir;
  }
  if (uv_loop_init(&loop) != 0) return -1;
  if (vtg_resultlog_open(&loop, &o, on_durable, &ctx, &l) != 0) return -1;
  for (int i = 0; i < n; i++) {
    Vantage__Result r = VANTAGE__RESULT__INIT;
    uint8_t buf[256];
    r.check_id = 7;
    r.start_us = 1700000000000000LL + (int64_t)(first + (uint64_t)i) * 1000000;
    r.outcome = (i % 3 == 0) ? VANTAGE__OUTCOME__OUTCOME_DOWN : VANTAGE__OUTCOME__OUTCOME_UP;
    r.error_class = (i % 3 == 0) ? VANTAGE__ERROR_CLASS__ERROR_CLASS_TIMEOUT : 0;
    r.total_us = 1000;
    size_t len = vantage__result__pack(&r, buf);
    vtg_resultlog_rec_t rec = {.agent = id, .region = "r1", .epoch = epoch,
                               .seq = first + (uint64_t)i, .offset_us = -250,
                               .start_us = r.start_us, .result = buf, .result_len = len};
    if (vtg_resultlog_append(l, &rec) != 0) return -1;
  }
  uint64_t want = vtg_resultlog_barrier(l);
  while (vtg_resultlog_durable_gen(l) < want) uv_run(&loop, UV_RUN_ONCE);
  if (ctx.durable != want || (n > 0 && ctx.calls < 1)) return -1;
  vtg_resultlog_close(l);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? 0 : -1;
}

typedef struct seen_s {
  int n;
  uint64_t last_seq;
  int in_order;
  int64_t last_offset;
  char agent[64];
} seen_t;

static int count_cb(void *p, const vtg_resultlog_rec_t *r) {
  seen_t *s = p;
  if (s->n > 0 && r->seq != s->last_seq + 1) s->in_order = 0;
  s->last_seq = r->seq;
  s->last_offset = r->offset_us;
  snprintf(s->agent, sizeof s->agent, "%s", r->agent);
  Vantage__Result *res = vantage__result__unpack(NULL, r->result_len, r->result);
  if (res == NULL) return -1;
  if (res->start_us != r->start_us || res->check_id != 7) s->in_order = 0;
  vantage__result__free_unpacked(res, NULL);
  s->n++;
  return 0;
}

/* The only segment files of dir, sorted; returns how many (up to max). */
static int segments(const char *dir, char names[][64], int max) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL && n < max)
    if (strncmp(e->d_name, "seg-", 4) == 0 && strlen(e->d_name) < 64)
      memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
  closedir(d);
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (strcmp(names[j], names[i]) < 0) {
        char t[64];
        memcpy(t, names[i], 64);
        memcpy(names[i], names[j], 64);
        memcpy(names[j], t, 64);
      }
  return n;
}

VTG_TEST(crc32c_known) {
  ASSERT_EQ(vtg_crc32c(0, "123456789", 9), 0xE3069283u);
  ASSERT_EQ(vtg_crc32c(vtg_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  ASSERT_EQ(vtg_crc32c(0, "", 0), 0);
  return 0;
}

VTG_TEST(append_reopen) {
  char dir[64];
  seen_t s = {.in_order = 1};
  vtg_resultlog_scan_stats_t st;
  ASSERT(make_dir(dir, sizeof dir) == 0);
  ASSERT(write_records(dir, "us-east-1", 42, 1, 100, NULL) == 0);
  /* A reopen starts a new segment; the scan reads both in order. */
  ASSERT(write_records(dir, "us-east-1", 42, 101, 50, NULL) == 0);
  ASSERT_EQ(vtg_resultlog_scan(dir, count_cb, &s, &st), 0);
  ASSERT_EQ(s.n, 150);
  ASSERT(s.in_order);
  ASSERT_EQ(s.last_seq, 150);
  ASSERT_EQ(s.last_offset, -250);
  ASSERT_STR_EQ(s.agent, "us-east-1");
  ASSERT_EQ(st.segments, 2);
  ASSERT_EQ(st.records, 150);
  ASSERT_EQ(st.corrupt, 0);
  ASSERT_EQ(st.truncated, 0);
  /* A missing directory is an empty log. */
  memset(&s, 0, sizeof s);
  ASSERT_EQ(vtg_resultlog_scan("/tmp/vtg-test-resultlog-none", count_cb, &s, &st), 0);
  ASSERT_EQ(st.records, 0);
  remove_dir(dir);
  return 0;
}

VTG_TEST(group_commit) {
  char dir[64];
  uv_loop_t loop;
  vtg_resultlog_t *l = NULL;
  ctx_t ctx = {0, 0};
  vtg_resultlog_opts_t o = {0};
  ASSERT(make_dir(dir, sizeof dir) == 0);
  o.dir = dir;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(vtg_resultlog_open(&loop, &o, on_durable, &ctx, &l), 0);
  /* Nothing appended: everything is durable already. */
  ASSERT(vtg_resultlog_barrier(l) <= vtg_resultlog_durable_gen(l));
  uint8_t res[8] = {0};
  vtg_resultlog_rec_t rec = {.agent = "a", .region = "r", .epoch = 1, .result = res,
                             .result_len = 0};
  /* Many appends in one loop iteration are one generation, one commit. */
  for (int i = 1; i <= 1000; i++) {
    rec.seq = (uint64_t)i;
    ASSERT_EQ(vtg_resultlog_append(l, &rec), 0);
  }
  uint64_t g = vtg_resultlog_barrier(l);
  ASSERT(g > vtg_resultlog_durable_gen(l));
  while (vtg_resultlog_durable_gen(l) < g) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(ctx.calls, 1);
  vtg_resultlog_counters_t n;
  vtg_resultlog_counters(l, &n);
  ASSERT_EQ(n.records, 1000);
  ASSERT_EQ(n.commits, 1);
  /* Bad input is refused before it reaches the buffer. */
  rec.agent = "";
  ASSERT_EQ(vtg_resultlog_append(l, &rec), VTG_EINVAL);
  vtg_resultlog_close(l);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  remove_dir(dir);
  return 0;
}

static void no_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)ctx;
  (void)inc;
  (void)removed;
}

typedef struct replay_s {
  vtg_coord_t *c;
  vtg_arena_t arena;
} replay_t;

static int replay_cb(void *p, const vtg_resultlog_rec_t *r) {
  replay_t *rp = p;
  return vtg_ingest_replay(rp->c, r, 0, &rp->arena);
}

VTG_TEST(recover_acked) {
  char dir[64];
  vtg_resultlog_scan_stats_t st;
  ASSERT(make_dir(dir, sizeof dir) == 0);
  /* Agent a: an old epoch, then epoch 9 up to 30. Agent b: epoch 5 to 12. */
  ASSERT(write_records(dir, "a", 8, 1, 10, NULL) == 0);
  ASSERT(write_records(dir, "b", 5, 1, 12, NULL) == 0);
  ASSERT(write_records(dir, "a", 9, 1, 30, NULL) == 0);

  vtg_coord_t c;
  memset(&c, 0, sizeof c);
  int32_t index[8];
  uint32_t ids[1] = {7};
  for (int i = 0; i < 8; i++) index[i] = -1;
  index[7] = 0;
  c.check_index = index;
  c.check_index_len = 8;
  c.check_ids = ids;
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2,
                           .merge_gap_us = 60000000};
  ASSERT((c.detect = vtg_detect_new(&p, no_incident, NULL)) != NULL);
  ASSERT_EQ(vtg_detect_set_check(c.detect, 7, "c", "s", "web", 1000000, 500000), 0);
  replay_t rp = {.c = &c};
  vtg_arena_init(&rp.arena, 1 << 20);
  ASSERT_EQ(vtg_resultlog_scan(dir, replay_cb, &rp, &st), 0);
  vtg_arena_free(&rp.arena);
  ASSERT_EQ(c.n_agents, 2);
  vtg_agent_t *a = vtg_coord_agent_find(&c, "a"), *b = vtg_coord_agent_find(&c, "b");
  ASSERT(a != NULL && b != NULL);
  ASSERT_EQ(a->epoch, 9);
  ASSERT_EQ(a->acked_seq, 30);
  ASSERT_EQ(a->durable_seq, 30);
  ASSERT_EQ(a->results_stored, 40);
  ASSERT_EQ(b->epoch, 5);
  ASSERT_EQ(b->durable_seq, 12);
  ASSERT_EQ(c.replayed_total, 52);
  ASSERT_STR_EQ(a->region, "r1");
  /* The corrected time of its last result holds the watermark. */
  ASSERT_EQ(a->resume_hold_us, 1700000000000000LL + 30 * 1000000LL - 250);
  /* And the correction last applied is in effect again. */
  ASSERT_EQ(a->clock_offset_us, 250);

  /* After the restart, the agent's replay of 25..35 counts only 31..35. */
  Vantage__Result res[11], *resp[11];
  for (int i = 0; i < 11; i++) {
    vantage__result__init(&res[i]);
    res[i].check_id = 7;
    res[i].start_us = 1700000000000000LL + (25 + i) * 1000000LL;
    res[i].outcome = VANTAGE__OUTCOME__OUTCOME_UP;
    resp[i] = &res[i];
  }
  Vantage__ResultBatch batch = VANTAGE__RESULT_BATCH__INIT;
  batch.spool_epoch = 9;
  batch.first_seq = 25;
  batch.n_results = 11;
  batch.results = resp;
  ASSERT_EQ(vtg_ingest_batch(&c, a, &batch), 0);
  ASSERT_EQ(a->duplicates_total, 6);
  ASSERT_EQ(a->results_total, 5);
  ASSERT_EQ(a->acked_seq, 35);
  ASSERT_EQ(a->durable_seq, 35); /* no log here: acknowledged at once */

  vtg_detect_free(c.detect);
  for (size_t i = 0; i < c.n_agents; i++) {
    vtg_agent_t *x = c.agents[i];
    free(x->id);
    free(x->region);
    free(x->country);
    free(x->version);
    free(x->address);
    free(x);
  }
  free(c.agents);
  for (size_t i = 0; i < c.n_regions; i++) free(c.regions[i]);
  free(c.regions);
  vtg_ingest_free(&c);
  remove_dir(dir);
  return 0;
}

/* A batch is acknowledged only once the log has it on disk: before the
 * loop has run the write, durable_seq (what Acks and Welcome carry) stays
 * behind; a batch of duplicates only is acknowledged at once. */
VTG_TEST(ack_after_durable) {
  char dir[64];
  uv_loop_t loop;
  ASSERT(make_dir(dir, sizeof dir) == 0);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  vtg_coord_t c;
  memset(&c, 0, sizeof c);
  int32_t index[8];
  uint32_t ids[1] = {7};
  for (int i = 0; i < 8; i++) index[i] = -1;
  index[7] = 0;
  c.check_index = index;
  c.check_index_len = 8;
  c.check_ids = ids;
  vtg_detect_params_t p = {.fail_threshold = 2, .recover_threshold = 2, .min_regions = 2,
                           .merge_gap_us = 60000000};
  ASSERT((c.detect = vtg_detect_new(&p, no_incident, NULL)) != NULL);
  ASSERT_EQ(vtg_detect_set_check(c.detect, 7, "c", "s", "web", 1000000, 500000), 0);
  vtg_resultlog_opts_t o = {.dir = dir};
  ASSERT_EQ(vtg_resultlog_open(&loop, &o, vtg_ingest_durable, &c, &c.rlog), 0);
  vtg_agent_t *a;
  ASSERT_EQ(vtg_coord_agent_get(&c, "a", "r1", &a), 0);

  Vantage__Result res[5], *resp[5];
  for (int i = 0; i < 5; i++) {
    vantage__result__init(&res[i]);
    res[i].check_id = 7;
    res[i].start_us = 1700000000000000LL + i * 1000000LL;
    res[i].outcome = VANTAGE__OUTCOME__OUTCOME_UP;
    resp[i] = &res[i];
  }
  Vantage__ResultBatch batch = VANTAGE__RESULT_BATCH__INIT;
  batch.spool_epoch = 3;
  batch.first_seq = 1;
  batch.n_results = 5;
  batch.results = resp;
  ASSERT_EQ(vtg_ingest_batch(&c, a, &batch), 0);
  ASSERT_EQ(a->acked_seq, 5);
  ASSERT_EQ(a->durable_seq, 0);
  ASSERT_EQ(a->results_stored, 0);
  ASSERT_EQ(c.pending_len, 1);
  while (a->durable_seq < 5) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(a->results_stored, 5);
  ASSERT_EQ(c.pending_len, 0);
  /* The same batch again (a replay): nothing new, acknowledged at once. */
  ASSERT_EQ(vtg_ingest_batch(&c, a, &batch), 0);
  ASSERT_EQ(a->duplicates_total, 5);
  ASSERT_EQ(a->durable_seq, 5);
  ASSERT_EQ(c.pending_len, 0);

  vtg_resultlog_close(c.rlog);
  c.rlog = NULL;
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  vtg_resultlog_scan_stats_t st;
  seen_t seen = {.in_order = 1};
  ASSERT_EQ(vtg_resultlog_scan(dir, count_cb, &seen, &st), 0);
  ASSERT_EQ(seen.n, 5);
  ASSERT(seen.in_order);

  vtg_detect_free(c.detect);
  for (size_t i = 0; i < c.n_agents; i++) {
    vtg_agent_t *x = c.agents[i];
    free(x->id);
    free(x->region);
    free(x->country);
    free(x->version);
    free(x->address);
    free(x);
  }
  free(c.agents);
  for (size_t i = 0; i < c.n_regions; i++) free(c.regions[i]);
  free(c.regions);
  vtg_ingest_free(&c);
  remove_dir(dir);
  return 0;
}

/* Flips one byte at offset off of the only segment of dir. */
static int damage(const char *dir, long off, int truncate_to) {
  char names[4][64], path[256];
  if (segments(dir, names, 4) != 1) return -1;
  snprintf(path, sizeof path, "%s/%s", dir, names[0]);
  if (truncate_to > 0) return truncate(path, truncate_to);
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  uint8_t b;
  if (pread(fd, &b, 1, off) != 1) return -1;
  b ^= 0x5a;
  if (pwrite(fd, &b, 1, off) != 1) return -1;
  return close(fd);
}

static long segment_size(const char *dir) {
  char names[4][64], path[256];
  struct stat st;
  if (segments(dir, names, 4) < 1) return -1;
  snprintf(path, sizeof path, "%s/%s", dir, names[0]);
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

VTG_TEST(corrupt_record_skipped) {
  char dir[64];
  seen_t s = {.in_order = 1};
  vtg_resultlog_scan_stats_t st;
  ASSERT(make_dir(dir, sizeof dir) == 0);
  ASSERT(write_records(dir, "a", 1, 1, 20, NULL) == 0);
  long size = segment_size(dir), rec = (size - 8) / 20;
  /* A byte inside the body of the 5th record: its CRC fails. */
  ASSERT(damage(dir, 8 + 4 * rec + 20, 0) == 0);
  /* And the length field of the 10th: the scan resynchronises. */
  ASSERT(damage(dir, 8 + 9 * rec + 5, 0) == 0);
  ASSERT_EQ(vtg_resultlog_scan(dir, count_cb, &s, &st), 0);
  ASSERT_EQ(s.n, 18);
  ASSERT_EQ(st.corrupt, 2);
  ASSERT_EQ(st.truncated, 0);
  ASSERT_EQ(s.last_seq, 20);
  remove_dir(dir);
  return 0;
}

VTG_TEST(truncated_tail) {
  char dir[64];
  seen_t s = {.in_order = 1};
  vtg_resultlog_scan_stats_t st;
  ASSERT(make_dir(dir, sizeof dir) == 0);
  ASSERT(write_records(dir, "a", 1, 1, 10, NULL) == 0);
  long size = segment_size(dir);
  /* A crash in the middle of the last record. */
  ASSERT(damage(dir, 0, (int)(size - 7)) == 0);
  ASSERT_EQ(vtg_resultlog_scan(dir, count_cb, &s, &st), 0);
  ASSERT_EQ(s.n, 9);
  ASSERT(s.in_order);
  ASSERT_EQ(st.truncated, 1);
  ASSERT_EQ(st.corrupt, 0);
  /* Appending after it starts a new segment; both are read. */
  ASSERT(write_records(dir, "a", 1, 10, 5, NULL) == 0);
  memset(&s, 0, sizeof s);
  s.in_order = 1;
  ASSERT_EQ(vtg_resultlog_scan(dir, count_cb, &s, &st), 0);
  ASSERT_EQ(s.n, 14);
  ASSERT(s.in_order);
  ASSERT_EQ(s.last_seq, 14);
  remove_dir(dir);
  return 0;
}

VTG_TEST(retention) {
  char dir[64], names[16][64], path[256];
  vtg_resultlog_opts_t o = {0};
  ASSERT(make_dir(dir, sizeof dir) == 0);
  for (int i = 0; i < 4; i++) ASSERT(write_records(dir, "a", 1, 1 + 100 * (uint64_t)i, 100, NULL) == 0);
  ASSERT_EQ(segments(dir, names, 16), 4);
  long one = segment_size(dir);
  /* By size: room for one and a half segments; the oldest go, never the
   * new one (applied when a segment starts). */
  o.max_bytes = (uint64_t)(one + one / 2);
  ASSERT(write_records(dir, "a", 1, 401, 100, &o) == 0);
  ASSERT_EQ(segments(dir, names, 16), 2);
  ASSERT_STR_EQ(names[0], "seg-00000000000000000004.log");
  ASSERT_STR_EQ(names[1], "seg-00000000000000000005.log");
  /* By age: the older one is made two days old. */
  snprintf(path, sizeof path, "%s/%s", dir, names[0]);
  struct timeval tv[2];
  gettimeofday(&tv[0], NULL);
  tv[0].tv_sec -= 2 * 86400;
  tv[1] = tv[0];
  ASSERT_EQ(utimes(path, tv), 0);
  memset(&o, 0, sizeof o);
  o.retention_us = 86400LL * 1000000;
  ASSERT(write_records(dir, "a", 1, 501, 1, &o) == 0);
  ASSERT_EQ(segments(dir, names, 16), 2);
  ASSERT_STR_EQ(names[0], "seg-00000000000000000005.log");
  ASSERT_STR_EQ(names[1], "seg-00000000000000000006.log");
  remove_dir(dir);
  return 0;
}

/* The config keys: defaults next to the store, sizes with units, and
 * errors with file:line:col. */
VTG_TEST(config_keys) {
  vtg_coord_config_t cfg;
  char err[600];
  ASSERT_EQ(vtg_config_load_string("c.yaml", "store: /x/v.db\n", &cfg, err, sizeof err), 0);
  ASSERT_STR_EQ(cfg.result_log_dir, "/x/v.db.results");
  ASSERT_EQ(cfg.result_log_retention_us, 24LL * 3600 * 1000000);
  ASSERT_EQ(cfg.result_log_max_bytes, 1ull << 30);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml",
                                   "result_log: /l\nresult_log_retention: 6h\n"
                                   "result_log_max_bytes: 512MiB\n",
                                   &cfg, err, sizeof err),
            0);
  ASSERT_STR_EQ(cfg.result_log_dir, "/l");
  ASSERT_EQ(cfg.result_log_retention_us, 6LL * 3600 * 1000000);
  ASSERT_EQ(cfg.result_log_max_bytes, 512ull << 20);
  vtg_config_free(&cfg);
  ASSERT_EQ(vtg_config_load_string("c.yaml", "result_log_max_bytes: 2GB\n", &cfg, err, sizeof err),
            0);
  ASSERT_EQ(cfg.result_log_max_bytes, 2000000000ull);
  vtg_config_free(&cfg);
  ASSERT(vtg_config_load_string("c.yaml", "log_level: info\nresult_log_max_bytes: 1XB\n", &cfg,
                                err, sizeof err) != 0);
  ASSERT(strncmp(err, "c.yaml:2:23: ", 13) == 0);
  ASSERT(vtg_config_load_string("c.yaml", "result_log_max_bytes: 1000\n", &cfg, err,
                                sizeof err) != 0);
  ASSERT(strstr(err, "at least 1MiB") != NULL);
  ASSERT(vtg_config_load_string("c.yaml", "result_log_retention: 5s\n", &cfg, err, sizeof err) !=
         0);
  ASSERT(strncmp(err, "c.yaml:1:", 9) == 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(config_keys) VTG_TEST_ENTRY(ack_after_durable) VTG_TEST_ENTRY(crc32c_known) VTG_TEST_ENTRY(append_reopen)
                  VTG_TEST_ENTRY(group_commit) VTG_TEST_ENTRY(recover_acked)
                  VTG_TEST_ENTRY(corrupt_record_skipped) VTG_TEST_ENTRY(truncated_tail)
                  VTG_TEST_ENTRY(retention))
