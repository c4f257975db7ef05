/* The agent's bounded on-disk spool of results not yet acknowledged by the
 * coordinator. Only probe/ (uplink.c) and its unit tests include this.
 *
 * Layout of the spool directory:
 *   spool.meta              two 64-byte slots {magic, version, gen, epoch,
 *                           acked_seq, crc32c}, written alternately so a torn
 *                           write never loses both; the valid slot with the
 *                           higher gen wins. Also the lock (flock) that keeps
 *                           two agents out of one directory.
 *   spool-<firstseq>.seg    append-only segments, <firstseq> zero-padded to
 *                           20 digits so names sort by seq; rolled at
 *                           segment_bytes. Each record is a 32-byte header
 *                           {u32 magic, u32 crc32c, u32 len, u32 flags=0,
 *                           u64 seq, i64 start_us} (little endian; the CRC
 *                           covers the header from len on and the payload)
 *                           followed by len bytes of packed Vantage__Result.
 *
 * The epoch is random, made when the spool is created (a wiped or corrupt
 * meta file means a new epoch). Sequence numbers start at 1 per epoch and
 * continue after the highest one found on disk. Segments whose records are
 * all acknowledged are deleted; when the spool outgrows max_bytes, the
 * oldest segments go (the dropped range is counted and logged; the reader
 * of the spool notices the gap and announces it).
 *
 * Synchronous API on the loop thread; no handles. Writes go to the page
 * cache at once (they survive the process being killed); fdatasync follows
 * the fsync policy, and for "batch" can run off the loop thread
 * (vtg_spool_sync_begin/run/end). */
#ifndef VTG_PROBE_SPOOL_H
#define VTG_PROBE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define VTG_SPOOL_RECORD_MAX 65536u          /* cap on one packed result */
#define VTG_SPOOL_MAX_BYTES_DEFAULT (64ull << 20)
#define VTG_SPOOL_MAX_BYTES_MIN (64ull << 10)
#define VTG_SPOOL_MAX_BYTES_MAX (1ull << 40)
#define VTG_SPOOL_SEGMENT_MAX (4u << 20)     /* segments roll at most here */
#define VTG_SPOOL_BATCH_SYNC_MS 200u         /* "batch": fdatasync at most this often */
#define VTG_SPOOL_DIR_DEFAULT "/var/lib/vantage-probe"

/* When appended results reach the disk for good (fdatasync):
 *   batch   every VTG_SPOOL_BATCH_SYNC_MS (or a full batch), driven by the
 *           caller through vtg_spool_sync; results are sent only once synced;
 *   always  after every append and every Ack (slow, blocks the loop);
 *   never   left to the kernel (survives a killed agent, not a power cut). */
typedef enum {
  VTG_SPOOL_FSYNC_BATCH = 0,
  VTG_SPOOL_FSYNC_ALWAYS,
  VTG_SPOOL_FSYNC_NEVER
} vtg_spool_fsync_t;

typedef struct vtg_spool_opts_s {
  const char *dir;            /* created (with parents, 0700) when missing */
  uint64_t max_bytes;         /* 0 = VTG_SPOOL_MAX_BYTES_DEFAULT */
  uint64_t segment_bytes;     /* 0 = max_bytes / 8, within [4 KiB, VTG_SPOOL_SEGMENT_MAX] */
  vtg_spool_fsync_t fsync;
} vtg_spool_opts_t;

/* One record handed out by vtg_spool_read; data lives in the spool's read
 * buffer until the next read. */
typedef struct vtg_spool_rec_s {
  uint64_t seq;
  int64_t start_us;
  const uint8_t *data;
  size_t len;
} vtg_spool_rec_t;

typedef struct vtg_spool_stats_s {
  uint64_t corrupt_records;   /* skipped while recovering or reading */
  uint64_t dropped_results;   /* unacknowledged results deleted because the spool was full */
  uint64_t dropped_first, dropped_last; /* the last range dropped (0 = none) */
  uint64_t bytes;             /* on disk, all segments */
  size_t segments;
} vtg_spool_stats_t;

typedef struct vtg_spool_s vtg_spool_t;

/* Opens (creating when needed) the spool in o->dir and recovers it: scans
 * every segment, skips and counts corrupt records (logged with file and
 * offset), truncates a torn tail of the newest segment. *out is set on
 * success. Returns 0, VTG_EINVAL (bad options), VTG_EIO (the reason is in
 * err, e.g. the directory is not writable or is locked by another agent) or
 * VTG_ENOMEM. */
int vtg_spool_open(vtg_spool_t **out, const vtg_spool_opts_t *o, char *err, size_t errlen);
/* Clean close: syncs segments and meta, closes files, frees. NULL is fine. */
void vtg_spool_close(vtg_spool_t *s);
/* For tests: lets go of the files as a killed process would (no sync, no
 * final meta write) and frees the memory. NULL is fine. */
void vtg_spool_abandon(vtg_spool_t *s);

uint64_t vtg_spool_epoch(const vtg_spool_t *s);
/* The seq the next append gets. */
uint64_t vtg_spool_next_seq(const vtg_spool_t *s);
/* The highest seq acknowledged (0 = none). */
uint64_t vtg_spool_acked(const vtg_spool_t *s);
/* The highest seq durable under the fsync policy (with "never": written). */
uint64_t vtg_spool_durable_seq(const vtg_spool_t *s);
/* Appended results not yet durable under the policy. */
uint64_t vtg_spool_unsynced(const vtg_spool_t *s);
void vtg_spool_get_stats(const vtg_spool_t *s, vtg_spool_stats_t *st);

/* Appends one packed result; sets *seq. Rolls the segment when it is full
 * and, when the spool then exceeds max_bytes, deletes the oldest segments.
 * Returns 0, VTG_ELIMIT (len > VTG_SPOOL_RECORD_MAX) or VTG_EIO (logged; the
 * result is lost and its seq not used). */
int vtg_spool_append(vtg_spool_t *s, const uint8_t *data, size_t len, int64_t start_us,
                     uint64_t *seq);
/* Makes everything appended so far durable (fdatasync of the segments
 * written since the last sync, and of the meta file) unless the policy is
 * "never". Returns 0 or VTG_EIO. */
int vtg_spool_sync(vtg_spool_t *s);
/* The same fdatasync, run off the loop thread (uv_queue_work) so a slow
 * disk does not stall the probes' timing: begin (loop thread) takes
 * duplicates of the descriptors to sync, so the spool may roll or close its
 * own meanwhile; run (any thread) touches only the job; end (loop thread)
 * closes them and marks what was appended before begin as durable. */
typedef struct vtg_spool_sync_job_s {
  int fds[2];
  size_t nfd;
  uint64_t target;  /* durable once the job succeeded */
  int rc;           /* 0 or VTG_EIO, set by run */
} vtg_spool_sync_job_t;
/* Returns 1 when job was filled (then run and end must follow), 0 when
 * there is nothing to sync, or VTG_EIO (dup failed; nothing to end). */
int vtg_spool_sync_begin(vtg_spool_t *s, vtg_spool_sync_job_t *job);
void vtg_spool_sync_run(vtg_spool_sync_job_t *job);
void vtg_spool_sync_end(vtg_spool_t *s, vtg_spool_sync_job_t *job);
/* Records that the coordinator stored everything up to seq (ignored when
 * not above the current acked or not below next_seq), persists it in the
 * meta file and deletes segments that hold nothing newer. Returns 0 or
 * VTG_EIO. */
int vtg_spool_ack(vtg_spool_t *s, uint64_t seq);
/* Reads up to max records with from <= seq <= upto, in seq order, into recs
 * (a bounded read-ahead: at most a few hundred KiB per call). Sequence
 * numbers missing from the disk (dropped, corrupt) are simply absent: the
 * caller sees the gap. Consecutive calls continue where the last stopped.
 * Returns 0 and *n, or VTG_EIO. */
int vtg_spool_read(vtg_spool_t *s, uint64_t from, uint64_t upto, vtg_spool_rec_t *recs,
                   size_t max, size_t *n);
/* A lower bound of start_us over every result with seq >= from
 * (INT64_MAX when there is none): exact for recent results, per segment for
 * older ones, so a watermark computed from it never runs ahead. */
int64_t vtg_spool_min_start(const vtg_spool_t *s, uint64_t from);

/* Parses "batch", "always" or "never". Returns 0 or VTG_EINVAL. */
int vtg_spool_fsync_parse(const char *s, vtg_spool_fsync_t *out);
const char *vtg_spool_fsync_name(vtg_spool_fsync_t f);

#endif
