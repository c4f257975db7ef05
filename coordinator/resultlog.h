/* The coordinator's durable result log (DESIGN.md, "Store"): every fresh
 * result an agent sends is appended here before it is acknowledged, so
 * nothing acknowledged is lost on a crash, and a restarted coordinator
 * rebuilds its detector state and its acknowledged sequences from it.
 *
 * On disk: a directory of append-only segments "seg-NNNNNNNNNNNNNNNNNNNN.log"
 * (a new one at every open, when one reaches its size, and every hour),
 * each an 8-byte magic "VTGRLOG1" followed by records:
 *
 *   u32 magic 0x52475456 | u32 body length | u32 CRC-32C of the body | body
 *   body: u8 version (1) | u8 agent id length | u8 region length | u8 0 |
 *         u64 epoch | u64 seq | i64 offset_us | i64 start_us |
 *         agent id | region | packed vantage.Result (the rest)
 *
 * (little endian). The result is stored raw, exactly as the agent sent it,
 * with the clock correction that was applied to it (offset_us: corrected
 * start = start_us + offset_us): a replay places it where the live
 * detector did, and the raw agent clock stays available for audits.
 * A record whose CRC fails or that a crash cut short is skipped and
 * counted; the scan resynchronises on the next record magic.
 *
 * Group commit: appends go into a memory buffer on the loop thread; the
 * first append of a group wakes the loop (uv_async_send to itself), so the
 * batches read in the same loop iteration join it, and then the buffer is
 * handed to the thread pool, which writes it and fdatasync()s it; the loop learns
 * through the after-work callback (STYLE.md's thread rule: nothing else is
 * shared). While one write is in flight the next buffer fills, so under
 * load each fsync covers everything that arrived during the previous one.
 * Durability is reported by generation: every append lands in the current
 * generation, vtg_resultlog_barrier() says which generation covers
 * everything appended so far, and the durable callback reports the highest
 * generation on disk. A failed write is truncated back and retried every
 * second; nothing is reported durable meanwhile. */
#ifndef VTG_RESULTLOG_H
#define VTG_RESULTLOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "vtg/histo.h"

#define VTG_RESULTLOG_MAX_RESULT (1u << 20)     /* a packed Result larger than this is refused */
#define VTG_RESULTLOG_SEGMENT_BYTES (64u << 20) /* default segment size */
#define VTG_RESULTLOG_SEGMENT_AGE_US (3600LL * 1000000) /* a new segment at least hourly */
#define VTG_RESULTLOG_MAX_PENDING (256u << 20)  /* bytes waiting for the disk; more is refused */

typedef struct vtg_resultlog_s vtg_resultlog_t;

typedef struct vtg_resultlog_opts_s {
  const char *dir;         /* created (0700) when missing */
  int64_t retention_us;    /* segments last written longer ago are deleted; 0 = no age limit */
  uint64_t max_bytes;      /* oldest segments go while the total is larger; 0 = no limit */
  uint64_t segment_bytes;  /* 0 = VTG_RESULTLOG_SEGMENT_BYTES */
} vtg_resultlog_opts_t;

/* One record, as appended or as read back. Pointers are borrowed: valid
 * during the call (append copies; the scan callback must copy what it keeps). */
typedef struct vtg_resultlog_rec_s {
  const char *agent;       /* agent id, 1..255 bytes */
  const char *region;      /* its region when the result arrived, 0..255 bytes */
  uint64_t epoch, seq;     /* the agent's spool epoch and the result's sequence number */
  int64_t offset_us;       /* clock correction applied: corrected start = start_us + offset_us */
  int64_t start_us;        /* the raw probe start (agent clock), for filtering without decoding */
  const uint8_t *result;   /* packed vantage.Result */
  size_t result_len;
} vtg_resultlog_rec_t;

typedef struct vtg_resultlog_scan_stats_s {
  uint64_t segments;       /* segment files read */
  uint64_t records;        /* valid records handed to the callback */
  uint64_t corrupt;        /* damaged stretches skipped inside a segment (bad CRC, bad header) */
  uint64_t truncated;      /* segments whose tail was cut short (a crash mid-write) */
  uint64_t bytes;          /* total size of the segments */
} vtg_resultlog_scan_stats_t;

/* Called per valid record, in append order; a non-zero return stops the
 * scan and is returned by it. */
typedef int (*vtg_resultlog_rec_cb)(void *ctx, const vtg_resultlog_rec_t *rec);

/* Start-up, before vtg_resultlog_open: reads every segment of dir in order
 * (a missing dir is an empty log). Damaged records are skipped and counted
 * in *st, never fatal. Synchronous (the daemon is not serving yet).
 * Returns 0, cb's non-zero return, or VTG_EIO / VTG_ENOMEM. */
int vtg_resultlog_scan(const char *dir, vtg_resultlog_rec_cb cb, void *ctx,
                       vtg_resultlog_scan_stats_t *st);

/* Told on the loop thread that every generation up to gen is on disk. */
typedef void (*vtg_resultlog_durable_cb)(void *ctx, uint64_t gen);

/* Opens dir for appending on loop (a fresh segment; retention applied).
 * opts are copied. Returns 0, VTG_EIO (logged) or VTG_ENOMEM. */
int vtg_resultlog_open(uv_loop_t *loop, const vtg_resultlog_opts_t *opts,
                       vtg_resultlog_durable_cb cb, void *ctx, vtg_resultlog_t **out);

/* Appends one record to the current generation (copied; written at the
 * end of this loop iteration). Loop thread. Returns 0, VTG_EINVAL (a field
 * too long) or VTG_ELIMIT (VTG_RESULTLOG_MAX_PENDING bytes already wait for
 * the disk: the caller must not acknowledge, the agent will send again). */
int vtg_resultlog_append(vtg_resultlog_t *l, const vtg_resultlog_rec_t *rec);

/* The generation whose durability covers every append made so far. When
 * it is <= vtg_resultlog_durable_gen(), everything is on disk already. */
uint64_t vtg_resultlog_barrier(const vtg_resultlog_t *l);
uint64_t vtg_resultlog_durable_gen(const vtg_resultlog_t *l);

/* Counters for /metrics. */
typedef struct vtg_resultlog_counters_s {
  uint64_t records;        /* records made durable by this process */
  uint64_t bytes;          /* bytes made durable by this process */
  uint64_t commits;        /* fsyncs */
  uint64_t write_errors;   /* failed writes (each retried) */
  uint64_t segments_deleted; /* by retention */
  vtg_histo_t commit_seconds; /* successful group commits: the job's time on the thread pool
                                 (rotation, write, fdatasync), vtg_histo_io_bounds */
} vtg_resultlog_counters_t;
void vtg_resultlog_counters(const vtg_resultlog_t *l, vtg_resultlog_counters_t *out);

/* Applies the retention (age and size, as at open) now, on the loop
 * thread; never to the segment being written. Returns the number of
 * segments deleted, or UV_EBUSY while a write is in flight (try again
 * later). */
int vtg_resultlog_prune(vtg_resultlog_t *l);

/* Stops: what was appended is still written (the loop keeps running until
 * it is, unless the disk keeps failing: then after one more attempt it is
 * dropped with an error), then the segment is closed and l freed. The
 * durable callback may still run until then. NULL allowed. */
void vtg_resultlog_close(vtg_resultlog_t *l);

#endif
