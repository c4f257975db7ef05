/* The agent's on-disk spool (probe/spool.c) on a temporary directory:
 * append/ack/trim, recovery after a crash, epochs, corrupt and torn
 * records, a full spool. "Crash" = vtg_spool_abandon: the files are let go
 * as a killed process lets them go (writes are in the page cache). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "spool.h"
#include "test.h"
#include "vtg/error.h"

#define PAYLOAD 100

static char dir[256];

static void rm_rf(const char *d) {
  DIR *dd = opendir(d);
  if (dd == NULL) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(dd)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    unlink(p);
  }
  closedir(dd);
  rmdir(d);
}

static int make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/vtg-spool-XXXXXX");
  if (mkdtemp(dir) == NULL) return -1;
  /* A subdirectory, so open has to create it. */
  strncat(dir, "/spool", sizeof dir - strlen(dir) - 1);
  return 0;
}

static void cleanup(void) {
  rm_rf(dir);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    rmdir(dir);
  }
}

static vtg_spool_t *open_spool(uint64_t max_bytes, uint64_t seg_bytes, vtg_spool_fsync_t f) {
  vtg_spool_opts_t o = {.dir = dir, .max_bytes = max_bytes, .segment_bytes = seg_bytes,
                        .fsync = f};
  vtg_spool_t *s = NULL;
  char err[300];
  int rc = vtg_spool_open(&s, &o, err, sizeof err);
  if (rc != 0) fprintf(stderr, "open: %s (%s)\n", err, vtg_strerror(rc));
  return s;
}

static void payload_for(uint64_t seq, uint8_t *p) {
  memset(p, 'a' + (int)(seq % 26), PAYLOAD);
  snprintf((char *)p, PAYLOAD, "result-%" PRIu64, seq);
}

static int append_n(vtg_spool_t *s, uint64_t n) {
  uint8_t p[PAYLOAD];
  for (uint64_t i = 0; i < n; i++) {
    uint64_t want = vtg_spool_next_seq(s), seq = 0;
    payload_for(want, p);
    if (vtg_spool_append(s, p, sizeof p, (int64_t)want * 1000, &seq) != 0) return -1;
    if (seq != want) return -1;
  }
  return 0;
}

/* Reads from..upto in several calls; checks order and payloads; returns
 * the number read, -1 on a mismatch. seqs (optional) gets the seqs. */
static long read_all(vtg_spool_t *s, uint64_t from, uint64_t upto, uint64_t *seqs, size_t cap) {
  vtg_spool_rec_t recs[37]; /* an odd batch size to cross segment ends */
  long total = 0;
  uint64_t prev = 0;
  for (;;) {
    size_t n = 0;
    if (vtg_spool_read(s, from, upto, recs, 37, &n) != 0) return -1;
    if (n == 0) return total;
    for (size_t i = 0; i < n; i++) {
      uint8_t p[PAYLOAD];
      payload_for(recs[i].seq, p);
      if (recs[i].seq <= prev || recs[i].seq < from || recs[i].seq > upto) return -1;
      if (recs[i].len != PAYLOAD || memcmp(recs[i].data, p, PAYLOAD) != 0) return -1;
      if (recs[i].start_us != (int64_t)recs[i].seq * 1000) return -1;
      if (seqs && (size_t)total < cap) seqs[total] = recs[i].seq;
      prev = recs[i].seq;
      total++;
    }
    from = prev + 1;
  }
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static int seg_file(int index, char *out, size_t size) {
  DIR *dd = opendir(dir);
  struct dirent *e;
  char names[64][64];
  int n = 0;
  while (dd && (e = readdir(dd)) != NULL && n < 64)
    if (strncmp(e->d_name, "spool-", 6) == 0 && strlen(e->d_name) < 64)
      memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
  if (dd) closedir(dd);
  if (index >= n) return -1;
  qsort(names, (size_t)n, 64, cmp_name);
  snprintf(out, size, "%s/%s", dir, names[index]);
  return 0;
}

VTG_TEST(append_ack_trim) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_BATCH);
  ASSERT(s != NULL);
  ASSERT_EQ(vtg_spool_next_seq(s), 1);
  ASSERT(append_n(s, 200) == 0);
  ASSERT_EQ(vtg_spool_next_seq(s), 201);
  /* batch: synced when a segment is closed and on vtg_spool_sync only */
  ASSERT(vtg_spool_durable_seq(s) < 200);
  ASSERT(vtg_spool_unsynced(s) > 0);
  ASSERT(vtg_spool_sync(s) == 0);
  ASSERT_EQ(vtg_spool_durable_seq(s), 200);
  vtg_spool_stats_t st;
  vtg_spool_get_stats(s, &st);
  ASSERT(st.segments > 3);
  ASSERT_EQ(st.bytes, 200 * (32 + PAYLOAD));
  ASSERT_EQ(read_all(s, 1, 200, NULL, 0), 200);
  ASSERT_EQ(read_all(s, 50, 120, NULL, 0), 71);
  ASSERT(vtg_spool_ack(s, 150) == 0);
  ASSERT_EQ(vtg_spool_acked(s), 150);
  vtg_spool_stats_t st2;
  vtg_spool_get_stats(s, &st2);
  ASSERT(st2.segments < st.segments);
  ASSERT(st2.bytes < st.bytes);
  ASSERT(st2.bytes >= 50 * (32 + PAYLOAD));
  uint64_t seqs[64];
  ASSERT_EQ(read_all(s, 151, 200, seqs, 64), 50);
  ASSERT_EQ(seqs[0], 151);
  ASSERT_EQ(seqs[49], 200);
  /* An ack beyond what was made, or going back, changes nothing. */
  ASSERT(vtg_spool_ack(s, 500) == 0);
  ASSERT(vtg_spool_ack(s, 10) == 0);
  ASSERT_EQ(vtg_spool_acked(s), 150);
  /* The off-thread sync: what was appended before begin becomes durable
   * at end, even when the segment rolled in between. */
  ASSERT(append_n(s, 3) == 0);
  vtg_spool_sync_job_t job;
  ASSERT_EQ(vtg_spool_sync_begin(s, &job), 1);
  ASSERT(append_n(s, 40) == 0); /* rolls at least once */
  vtg_spool_sync_run(&job);
  ASSERT_EQ(job.rc, 0);
  vtg_spool_sync_end(s, &job);
  ASSERT(vtg_spool_durable_seq(s) >= 203);
  ASSERT(vtg_spool_sync(s) == 0);
  ASSERT_EQ(vtg_spool_sync_begin(s, &job), 0); /* nothing left */
  ASSERT_EQ(vtg_spool_durable_seq(s), 243);
  /* The watermark helper: exact for recent results. */
  ASSERT_EQ(vtg_spool_min_start(s, 190), 190 * 1000);
  ASSERT_EQ(vtg_spool_min_start(s, 244), INT64_MAX);
  /* Everything acknowledged: only the active segment is left. */
  ASSERT(vtg_spool_ack(s, 243) == 0);
  vtg_spool_get_stats(s, &st2);
  ASSERT_EQ(st2.segments, 1);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(reopen_after_crash) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  uint64_t epoch = vtg_spool_epoch(s);
  ASSERT(epoch != 0);
  ASSERT(append_n(s, 100) == 0);
  ASSERT(vtg_spool_ack(s, 40) == 0);
  vtg_spool_abandon(s); /* killed */
  s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT_EQ(vtg_spool_epoch(s), epoch);
  ASSERT_EQ(vtg_spool_acked(s), 40);
  ASSERT_EQ(vtg_spool_next_seq(s), 101);
  uint64_t seqs[100];
  ASSERT_EQ(read_all(s, 41, 100, seqs, 100), 60);
  for (int i = 0; i < 60; i++) ASSERT_EQ(seqs[i], 41 + i);
  /* New results continue the sequence, and all of it reads back in order. */
  ASSERT(append_n(s, 5) == 0);
  ASSERT_EQ(read_all(s, 41, 105, NULL, 0), 65);
  vtg_spool_abandon(s);
  /* A second crash-restart keeps it all too. */
  s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT_EQ(vtg_spool_next_seq(s), 106);
  ASSERT_EQ(read_all(s, 41, 105, NULL, 0), 65);
  /* Everything acknowledged, then restarted: the sequence still goes on. */
  ASSERT(vtg_spool_ack(s, 105) == 0);
  vtg_spool_close(s);
  s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT_EQ(vtg_spool_next_seq(s), 106);
  ASSERT_EQ(vtg_spool_epoch(s), epoch);
  vtg_spool_stats_t st;
  vtg_spool_get_stats(s, &st);
  ASSERT_EQ(st.segments, 1); /* the acknowledged ones are gone */
  ASSERT_EQ(st.bytes, 0);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(epoch_persists) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(0, 0, VTG_SPOOL_FSYNC_ALWAYS);
  ASSERT(s != NULL);
  uint64_t epoch = vtg_spool_epoch(s);
  ASSERT(append_n(s, 3) == 0);
  ASSERT_EQ(vtg_spool_durable_seq(s), 3); /* always: synced on append */
  /* A second agent on the same directory is refused. */
  ASSERT(open_spool(0, 0, VTG_SPOOL_FSYNC_ALWAYS) == NULL);
  vtg_spool_close(s);
  for (int i = 0; i < 3; i++) {
    s = open_spool(0, 0, VTG_SPOOL_FSYNC_BATCH);
    ASSERT(s != NULL);
    ASSERT_EQ(vtg_spool_epoch(s), epoch);
    ASSERT_EQ(vtg_spool_next_seq(s), 4);
    vtg_spool_close(s);
  }
  cleanup();
  return 0;
}

VTG_TEST(wiped_new_epoch) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(0, 0, VTG_SPOOL_FSYNC_BATCH);
  ASSERT(s != NULL);
  uint64_t epoch = vtg_spool_epoch(s);
  ASSERT(append_n(s, 10) == 0);
  vtg_spool_close(s);
  rm_rf(dir);
  s = open_spool(0, 0, VTG_SPOOL_FSYNC_BATCH);
  ASSERT(s != NULL);
  ASSERT(vtg_spool_epoch(s) != epoch);
  ASSERT_EQ(vtg_spool_next_seq(s), 1);
  ASSERT_EQ(read_all(s, 1, 100, NULL, 0), 0);
  uint64_t epoch2 = vtg_spool_epoch(s);
  vtg_spool_close(s);
  /* A meta file that is garbage: a new epoch too, old segments discarded. */
  char path[512];
  snprintf(path, sizeof path, "%s/spool.meta", dir);
  int fd = open(path, O_WRONLY | O_TRUNC);
  ASSERT(fd >= 0);
  ASSERT(write(fd, "garbage garbage garbage", 23) == 23);
  close(fd);
  s = open_spool(0, 0, VTG_SPOOL_FSYNC_BATCH);
  ASSERT(s != NULL);
  ASSERT(vtg_spool_epoch(s) != epoch2);
  ASSERT_EQ(vtg_spool_next_seq(s), 1);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(corrupt_crc_skipped) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(1 << 20, 1 << 20, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT(append_n(s, 10) == 0);
  vtg_spool_abandon(s);
  char path[512];
  ASSERT(seg_file(0, path, sizeof path) == 0);
  int fd = open(path, O_RDWR);
  ASSERT(fd >= 0);
  uint8_t b;
  off_t at = 4 * (32 + PAYLOAD) + 32 + 50; /* record 5's payload */
  ASSERT(pread(fd, &b, 1, at) == 1);
  b ^= 0x5a;
  ASSERT(pwrite(fd, &b, 1, at) == 1);
  /* and record 8's header magic */
  at = 7 * (32 + PAYLOAD);
  ASSERT(pwrite(fd, "XXXX", 4, at) == 4);
  close(fd);
  s = open_spool(1 << 20, 1 << 20, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  vtg_spool_stats_t st;
  vtg_spool_get_stats(s, &st);
  ASSERT_EQ(st.corrupt_records, 2);
  ASSERT_EQ(vtg_spool_next_seq(s), 11);
  uint64_t seqs[16];
  ASSERT_EQ(read_all(s, 1, 10, seqs, 16), 8);
  uint64_t want[] = {1, 2, 3, 4, 6, 7, 9, 10};
  for (int i = 0; i < 8; i++) ASSERT_EQ(seqs[i], want[i]);
  /* Reading from inside the gap starts at the next good record. */
  vtg_spool_rec_t r[4];
  size_t n = 0;
  ASSERT(vtg_spool_read(s, 5, 10, r, 4, &n) == 0);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(r[0].seq, 6);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(truncated_tail) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(1 << 20, 1 << 20, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT(append_n(s, 10) == 0);
  vtg_spool_abandon(s);
  char path[512];
  ASSERT(seg_file(0, path, sizeof path) == 0);
  ASSERT(truncate(path, 10 * (32 + PAYLOAD) - 7) == 0); /* torn last record */
  s = open_spool(1 << 20, 1 << 20, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  vtg_spool_stats_t st;
  vtg_spool_get_stats(s, &st);
  ASSERT_EQ(st.corrupt_records, 1);
  ASSERT_EQ(vtg_spool_next_seq(s), 10);
  ASSERT_EQ(read_all(s, 1, 100, NULL, 0), 9);
  /* the torn bytes are cut off the segment */
  struct stat sb;
  ASSERT(stat(path, &sb) == 0);
  ASSERT_EQ(sb.st_size, 9 * (32 + PAYLOAD));
  ASSERT(append_n(s, 2) == 0);
  ASSERT_EQ(read_all(s, 1, 100, NULL, 0), 11);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(full_drops_oldest) {
  ASSERT(make_dir() == 0);
  const uint64_t max = 64 << 10, seg = 8 << 10;
  vtg_spool_t *s = open_spool(max, seg, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT(append_n(s, 2000) == 0); /* 264 000 bytes into 64 KiB */
  vtg_spool_stats_t st;
  vtg_spool_get_stats(s, &st);
  ASSERT(st.bytes <= max);
  ASSERT(st.dropped_results > 1000);
  uint64_t seqs[1];
  long n = read_all(s, 1, 2000, seqs, 1);
  ASSERT(n > 0);
  /* What is left starts right after the last range dropped, ends at the
   * newest, and the drops add up. */
  ASSERT_EQ(st.dropped_last + 1, seqs[0]);
  ASSERT_EQ(st.dropped_results + (uint64_t)n, 2000);
  ASSERT_EQ(read_all(s, seqs[0], 2000, NULL, 0), 2000 - (long)seqs[0] + 1);
  /* Acknowledged results are not counted as dropped. */
  ASSERT(vtg_spool_ack(s, 1990) == 0);
  uint64_t before = st.dropped_results;
  ASSERT(append_n(s, 10) == 0);
  vtg_spool_get_stats(s, &st);
  ASSERT_EQ(st.dropped_results, before);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(min_start_bounds) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  uint8_t p[PAYLOAD];
  int64_t starts[] = {5000, 3000, 9000, 1000, 7000};
  uint64_t seq;
  for (int i = 0; i < 5; i++) {
    payload_for((uint64_t)i + 1, p);
    ASSERT(vtg_spool_append(s, p, sizeof p, starts[i], &seq) == 0);
  }
  ASSERT_EQ(vtg_spool_min_start(s, 1), 1000);
  ASSERT_EQ(vtg_spool_min_start(s, 5), 7000);
  ASSERT_EQ(vtg_spool_min_start(s, 3), 1000);
  vtg_spool_abandon(s);
  /* After a restart, older results are bounded per segment: never above. */
  s = open_spool(1 << 20, 4096, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  ASSERT(vtg_spool_min_start(s, 5) <= 7000);
  ASSERT_EQ(vtg_spool_min_start(s, 6), INT64_MAX);
  ASSERT(vtg_spool_append(s, p, sizeof p, 8000, &seq) == 0);
  ASSERT(vtg_spool_min_start(s, 4) <= 1000);
  ASSERT_EQ(vtg_spool_min_start(s, 6), 8000);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

VTG_TEST(record_cap) {
  ASSERT(make_dir() == 0);
  vtg_spool_t *s = open_spool(0, 0, VTG_SPOOL_FSYNC_NEVER);
  ASSERT(s != NULL);
  uint64_t seq = 0;
  static uint8_t big[VTG_SPOOL_RECORD_MAX + 1];
  ASSERT_EQ(vtg_spool_append(s, big, sizeof big, 0, &seq), VTG_ELIMIT);
  ASSERT_EQ(vtg_spool_next_seq(s), 1);
  ASSERT(vtg_spool_append(s, big, VTG_SPOOL_RECORD_MAX, 0, &seq) == 0);
  vtg_spool_rec_t r[2];
  size_t n = 0;
  ASSERT(vtg_spool_read(s, 1, 1, r, 2, &n) == 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(r[0].len, VTG_SPOOL_RECORD_MAX);
  vtg_spool_close(s);
  cleanup();
  return 0;
}

static int write_cfg(const char *path, const char *extra) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fprintf(f, "id: a-1\nregion: r\ncountry: US\nlat: 1\nlon: 2\n"
             "coordinator: 127.0.0.1:7300\n%splaintext: true\n",
          extra);
  return fclose(f);
}

VTG_TEST(config_keys) {
  vtg_probe_config_t cfg;
  char err[600];
  char path[] = "/tmp/vtg-spool-cfg-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  close(fd);
  ASSERT(write_cfg(path, "") == 0);
  ASSERT(vtg_probe_config_load(&cfg, path, err, sizeof err) == 0);
  ASSERT_STR_EQ(cfg.spool_dir, VTG_SPOOL_DIR_DEFAULT);
  ASSERT_EQ(cfg.spool_max_bytes, VTG_SPOOL_MAX_BYTES_DEFAULT);
  ASSERT_EQ(cfg.spool_fsync, VTG_SPOOL_FSYNC_BATCH);
  ASSERT_EQ(cfg.max_pending, 0);
  vtg_probe_config_free(&cfg);
  ASSERT(write_cfg(path, "spool_dir: /tmp/x\nspool_max_bytes: 1048576\nspool_fsync: always\n"
                         "max_pending: 5\n") == 0);
  ASSERT(vtg_probe_config_load(&cfg, path, err, sizeof err) == 0);
  ASSERT_STR_EQ(cfg.spool_dir, "/tmp/x");
  ASSERT_EQ(cfg.spool_max_bytes, 1048576);
  ASSERT_EQ(cfg.spool_fsync, VTG_SPOOL_FSYNC_ALWAYS);
  ASSERT_EQ(cfg.max_pending, 5); /* accepted, ignored with a warning at start */
  vtg_probe_config_free(&cfg);
  ASSERT(write_cfg(path, "spool_fsync: sometimes\n") == 0);
  ASSERT(vtg_probe_config_load(&cfg, path, err, sizeof err) != 0);
  ASSERT(strstr(err, ":7:") != NULL && strstr(err, "spool_fsync") != NULL);
  ASSERT(write_cfg(path, "spool_max_bytes: 100\n") == 0);
  ASSERT(vtg_probe_config_load(&cfg, path, err, sizeof err) != 0);
  ASSERT(strstr(err, ":7:") != NULL && strstr(err, "spool_max_bytes") != NULL);
  unlink(path);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(config_keys) VTG_TEST_ENTRY(append_ack_trim)
                  VTG_TEST_ENTRY(reopen_after_crash) VTG_TEST_ENTRY(epoch_persists)
                      VTG_TEST_ENTRY(wiped_new_epoch) VTG_TEST_ENTRY(corrupt_crc_skipped)
                          VTG_TEST_ENTRY(truncated_tail) VTG_TEST_ENTRY(full_drops_oldest)
                              VTG_TEST_ENTRY(min_start_bounds) VTG_TEST_ENTRY(record_cap))
