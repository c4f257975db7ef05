/* Per-minute rollups per (check, region) for timelines: the status page's
 * heat strips and GET /api/v1/history (DESIGN.md, "Store": "per-minute
 * rollups per (check, region) for timelines").
 *
 * Per minute of event time (the corrected probe start) and (check, region):
 * probes by outcome, the latency sum and count of the probes that answered
 * (up and degraded; a down probe's duration is mostly its timeout and would
 * only hide the latency of the answers), and the worst region state the
 * detector reported while its watermark was inside that minute (sampled at
 * least once a second of event time; worst = down > degraded > up >
 * unknown).
 *
 * The last `keep` minutes (default 6 h) live in memory in flat ring arrays,
 * one ring per (check, region); completed minutes go to the store
 * (rollup_minute table) once per minute in one transaction, and the recent
 * ones are loaded back at start, so the strips survive a restart. Older
 * history is read from the store (vtg_rollup_history_json).
 *
 * Coverage ("unknown is not up", issue 5). Time for which a region has no
 * results is unknown, never up. Each result covers the seconds from its
 * start to its start + the check's interval (when the next one is due),
 * both ends included, rounded out to whole seconds; a cell keeps the
 * covered seconds of its minute as a 60-bit mask (OR-ed, so a replayed
 * result never counts twice). A minute's coverage = covered seconds / 60.
 * A completed minute that no result covers is unknown, whatever the
 * detector still reported in it (it keeps a silent agent's last state for
 * 3 intervals + timeout before calling it stale; accounting does not). So
 * minutes in which the coordinator was down and nothing was spooled, or a
 * region's agents were gone, are unknown with coverage 0; a minute with
 * results for part of it keeps its state and says how much was covered.
 * Seconds a result reaches into a following minute that has neither a
 * probe nor a detector sample of its own stay unknown (that minute has no
 * state). Rows stored before coverage was recorded count as fully covered
 * when they hold data.
 *
 * Uptime with coverage (vtg_rollup_uptime). Over a window of whole
 * completed minutes ending at the minute of the watermark: a minute's
 * known time = its covered seconds when its shown state is up, degraded
 * or down, else 0; its up time = its known time when up or degraded
 * (degraded counts as up, DESIGN.md). uptime = up time / known time (no
 * figure when nothing is known), coverage = known time / wall time. One
 * minute is the resolution: a minute with a down sample counts all its
 * covered seconds as down (the strips show it the same way). Per check:
 * sums over its regions (coverage against regions x wall time).
 *
 * Ids: check ids are the store's stable ids, region indexes the
 * coordinator's (vtg_coord_region_idx); names are given where the store
 * needs them because indexes do not survive a restart.
 *
 * Single-threaded: the loop thread owns it. */
#ifndef VTG_ROLLUP_H
#define VTG_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "store.h"
#include "vtg/buf.h"

#define VTG_ROLLUP_MINUTE_US (60LL * 1000000)
#define VTG_ROLLUP_DEFAULT_KEEP_US (6LL * 3600 * 1000000)

/* One minute of one (check, region). */
typedef struct vtg_rollup_cell_s {
  int64_t minute_us;      /* start of the minute, unix us (a multiple of VTG_ROLLUP_MINUTE_US) */
  uint32_t up, degraded, down; /* probes by outcome */
  int64_t latency_avg_us; /* mean total time of the up/degraded probes; -1 when none */
  int covered_s;          /* seconds of the minute some result covered (0..60; the minute
                             being filled: only up to the watermark) */
  vtg_state_t state;      /* worst detector state sampled in the minute. A completed minute
                             the detector was never sampled in (the watermark jumped over it,
                             e.g. across a restart) gets the state its probes show by
                             majority (down > half: down; else degraded > half: degraded;
                             else up). VTG_STATE_UNKNOWN when no probe and no state, and
                             for a completed minute no result covers (coverage above). */
} vtg_rollup_cell_t;

typedef struct vtg_rollup_s vtg_rollup_t;

/* keep_us: how much history stays in memory (rounded up to whole minutes;
 * 0 = VTG_ROLLUP_DEFAULT_KEEP_US). Returns NULL on allocation failure. */
vtg_rollup_t *vtg_rollup_new(int64_t keep_us);
void vtg_rollup_free(vtg_rollup_t *r); /* NULL allowed; does not flush */

/* Counts one accepted result (ingest). latency_us is the probe's total
 * time (ignored for down probes, and when <= 0). span_us: how long the
 * result speaks for its region, the check's interval (coverage above;
 * 0: its start second only; capped at an hour). Results older than the
 * memory window are not counted (counter: vtg_rollup_stats). While replay
 * mode is on, a result whose minute was loaded from the store is skipped:
 * the stored minute already counts it (its coverage is still added:
 * idempotent). Returns 0 or VTG_ENOMEM. */
int vtg_rollup_feed(vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx, int64_t start_us,
                    int outcome, int64_t latency_us, int64_t span_us);

/* Start-up: between vtg_rollup_load and the end of the result log replay
 * (see vtg_rollup_feed). */
void vtg_rollup_set_replay(vtg_rollup_t *r, int on);

/* Records the detector's state of (check, region) at event time
 * watermark_us (it belongs to the minute of the watermark). */
int vtg_rollup_sample(vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx,
                      int64_t watermark_us, vtg_state_t state);

/* The coordinator's detector tick, after the watermark moved to
 * watermark_us: samples every (check, region) that has agents reporting
 * (vtg_detect_region_status) when a second of event time has passed since
 * the last sample or the minute changed, and when the minute changed
 * persists the completed minutes changed since the last flush (one
 * transaction). regions[i] names region index i. store NULL: no
 * persistence. Errors are logged; the cells stay dirty and are retried at
 * the next minute. */
void vtg_rollup_tick(vtg_rollup_t *r, const vtg_detect_t *d, const uint32_t *check_ids,
                     size_t n_checks, char *const *regions, size_t n_regions,
                     vtg_store_t *store, int64_t watermark_us);

/* Persists every changed minute that starts before before_us (INT64_MAX:
 * all, the current one included: shutdown) in one transaction. Returns 0 or
 * VTG_ESTORE (the cells stay dirty). */
int vtg_rollup_flush(vtg_rollup_t *r, vtg_store_t *store, char *const *regions, size_t n_regions,
                     int64_t before_us);

/* Start-up, before the result log replay: loads the stored minutes of the
 * memory window ending at now_us. region_idx maps a stored region name to
 * the coordinator's index (interning it); ctx is passed to it. Returns 0,
 * VTG_ESTORE or VTG_ENOMEM. */
typedef int (*vtg_rollup_region_cb)(void *ctx, const char *name, uint32_t *idx);
int vtg_rollup_load(vtg_rollup_t *r, vtg_store_t *store, int64_t now_us,
                    vtg_rollup_region_cb region_idx, void *ctx);

/* Fills out[0..n) with the minutes from_minute_us, +1 min, ... of (check,
 * region) from memory; a minute not in memory is an empty cell (zero
 * counts, latency -1, UNKNOWN). from_minute_us is rounded down to a minute.
 * Returns the number of cells that hold data (0..n). */
int vtg_rollup_cells(const vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx,
                     int64_t from_minute_us, size_t n, vtg_rollup_cell_t *out);

/* Start of the oldest minute memory can answer for (vtg_rollup_cells);
 * earlier minutes come from the store. */
int64_t vtg_rollup_memory_from(const vtg_rollup_t *r);

/* Event time up to which minutes are complete (the last watermark seen),
 * VTG_TIME_NONE before the first. */
int64_t vtg_rollup_watermark(const vtg_rollup_t *r);

/* The GET /api/v1/history body (the brief's contract) for the check with
 * stable id check_id named check_name, `minutes` minutes ending with the
 * minute of to_us (normally now): one entry per region in regions[] that has
 * data (a probe or a state) in the range, by region name, cells oldest
 * first. Minutes before vtg_rollup_memory_from come from
 * the store (store may be NULL: then they are empty). Appends to out.
 * Returns 0, VTG_ENOMEM or VTG_ESTORE. */
int vtg_rollup_history_json(const vtg_rollup_t *r, vtg_store_t *store, uint32_t check_id,
                            const char *check_name, char *const *regions, size_t n_regions,
                            int64_t to_us, int minutes, vtg_buf_t *out);

/* GET /api/v1/history?check=NAME[&minutes=N] (N 1..1440, default 180):
 * the body above for a check of the running config, minutes ending now.
 * Answers 400 for a missing check, a bad minutes value or an unknown
 * parameter, 404 for a check not in the config, 503 without rollups.
 * Loop thread (http.c's route table calls it). */
struct vtg_coord_s;
struct vtg_httpd_req_s;
struct vtg_httpd_resp_s;
void vtg_rollup_api_history(struct vtg_coord_s *c, struct vtg_httpd_req_s *req,
                            struct vtg_httpd_resp_s *resp);

/* Uptime with coverage of one (check, region) over a window (above). */
typedef struct vtg_rollup_uptime_s {
  int64_t wall_s;  /* the window's length */
  int64_t known_s; /* seconds with a known state */
  int64_t up_s;    /* of those, up or degraded */
} vtg_rollup_uptime_t;

#define VTG_ROLLUP_WINDOW_24H (24LL * 3600 * 1000000)
#define VTG_ROLLUP_WINDOW_7D (7LL * 24 * 3600 * 1000000)

/* Fills out[g] for each region index g < n_regions (regions[g] names it)
 * for check check_id over the window_us (whole minutes) ending at the
 * minute of the watermark: minutes of the last hours from memory, older
 * ones from the store (NULL: unknown). The store's part is cached per
 * (check, window) until the minute changes, so a scrape reads SQLite at
 * most once a minute per check. Before the first watermark everything is
 * 0 but wall_s. Returns 0, VTG_ENOMEM or VTG_ESTORE. Loop thread. */
int vtg_rollup_uptime(vtg_rollup_t *r, vtg_store_t *store, uint32_t check_id,
                      char *const *regions, size_t n_regions, int64_t window_us,
                      vtg_rollup_uptime_t *out);

/* up_s / known_s, or -1 when nothing is known (shown as null / absent). */
double vtg_rollup_uptime_ratio(const vtg_rollup_uptime_t *u);
/* known_s / wall_s (0..1). */
double vtg_rollup_coverage_ratio(const vtg_rollup_uptime_t *u);

/* The regions an uptime figure of check ch (stable id check_id) is over:
 * in[g] = 1 for each region the check applies to that it has data in
 * (known time in u[g], or a series in memory). *total = their sum (per
 * check: coverage against regions x wall time). Returns how many. */
struct vtg_check_cfg_s;
int vtg_rollup_check_regions(const vtg_rollup_t *r, const struct vtg_check_cfg_s *ch,
                             uint32_t check_id, char *const *regions, size_t n_regions,
                             const vtg_rollup_uptime_t *u, uint8_t *in,
                             vtg_rollup_uptime_t *total);

/* A ratio (0..1) as a percentage for people, never rounded up to a
 * whole: "100%" only when it is 1, else at most `decimals` decimals,
 * truncated, without trailing zeros ("99.95%", "87%"), "<1%" style below
 * the smallest step that is not 0; "-" for a negative ratio (no figure).
 * Writes into buf (always terminated). */
void vtg_rollup_format_pct(double ratio, int decimals, char *buf, size_t n);

/* GET /api/v1/uptime[?check=NAME][&window=24h|7d] (default 24h): per check
 * {"check","window","from","to","uptime","coverage","known_s","up_s",
 *  "wall_s","regions":[{"region","uptime","coverage","known_s","up_s",
 *  "wall_s"}]}, uptime null when nothing is known, regions as
 * vtg_rollup_check_regions by name; the top-level figures are the check's
 * (sums over those regions). One object with check=, else an array of
 * every check in config order. 400 / 404 / 503 as the history endpoint. */
void vtg_rollup_api_uptime(struct vtg_coord_s *c, struct vtg_httpd_req_s *req,
                           struct vtg_httpd_resp_s *resp);

typedef struct vtg_rollup_stats_s {
  uint64_t fed;          /* results counted */
  uint64_t too_old;      /* results before the memory window, not counted */
  uint64_t replay_skipped; /* replayed results already counted by a stored minute */
  uint64_t flushes;      /* transactions written */
  uint64_t rows_written;
  uint64_t flush_errors;
} vtg_rollup_stats_t;
void vtg_rollup_stats(const vtg_rollup_t *r, vtg_rollup_stats_t *out);

#endif
