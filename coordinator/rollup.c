/* Per-minute rollups per (check, region); see rollup.h.
 *
 * Memory: one series per (check, region), found through an open-addressing
 * hash; the cells of all series are one flat array, `ring` minutes per
 * series, minute m of a series in slot m mod ring. A slot holds the minute
 * it was last written for, so a newer minute simply takes the slot over
 * and an older one than the slot holds is outside the window.
 *
 * Persistence and restarts. A cell is dirty when it changed since it was
 * last written. Once a minute (when the watermark enters a new minute) the
 * dirty cells of completed minutes go to the store in ONE transaction, on
 * the loop thread: a few hundred rows per minute is a short WAL commit, and
 * the SQLite writer thread DESIGN.md asks for is not worth its queue for
 * that. A late result (a spool replay after a partition) dirties its old
 * cell again and the row is rewritten whole at the next flush. At shutdown
 * every dirty cell, the current minute included, is written.
 *
 * At start the stored minutes of the window are loaded first, then the
 * result log's tail is replayed through the ingest, which feeds us again.
 * To avoid counting twice, during that replay a result whose minute was
 * loaded from the store is skipped: the stored row already counts
 * everything fed before it was written, and after a clean shutdown that is
 * everything. After a crash, what was fed to a minute after its last
 * flush (late results only; the current minute is never flushed before it
 * completes, so it is not loaded and its results are replayed) is lost
 * from the rollup, never counted twice. Results replayed for minutes that
 * were never stored (the crash's current minute) are counted normally. */
#include "rollup.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/httpd.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define MINUTE VTG_ROLLUP_MINUTE_US
#define EMPTY_MINUTE INT64_MIN
#define NO_STATE (-1)
#define SAMPLE_EVERY_US (1000000LL)  /* event time between detector samples */
#define MAX_SERIES (1u << 22)         /* checks x regions; bounded by the config anyway */
#define MAX_RING (31u * 24 * 60)      /* a month of minutes per series */

typedef struct cell_s {
  int64_t minute_us; /* EMPTY_MINUTE: never used */
  int64_t lat_sum_us;
  uint32_t up, degraded, down, lat_n;
  uint64_t covered;  /* bit s: second s of the minute covered by a result (rollup.h) */
  int8_t state;      /* worst sampled vtg_state_t, NO_STATE: none */
  uint8_t dirty;     /* changed since written to the store */
  uint8_t loaded;    /* read from the store at start (replay skips it) */
} cell_t;

typedef struct series_s {
  uint32_t check, region;
} series_t;

/* The store's part of one uptime window of one check (vtg_rollup_uptime):
 * minutes [from, to) summed per region index, valid while those bounds
 * and the region count stay the same (they move once a minute). */
typedef struct ucache_s {
  uint32_t check;
  int64_t window_us, from, to;
  size_t n_regions;
  vtg_rollup_uptime_t *sums; /* n_regions */
} ucache_t;

struct vtg_rollup_s {
  size_t ring;          /* minutes per series */
  series_t *series;
  size_t n_series, alloc_series;
  cell_t *cells;        /* alloc_series * ring */
  uint32_t *hash;       /* series index + 1, 0 = free; hash_cap a power of two */
  size_t hash_cap;
  int replay;
  int64_t watermark_us; /* last seen by tick; VTG_TIME_NONE before */
  int64_t last_sample_us;
  int64_t tick_minute;  /* minute of the last tick's watermark */
  int64_t newest_minute;/* newest minute memory is known complete for (watermark, load) */
  ucache_t *ucache;
  size_t n_ucache;
  vtg_rollup_stats_t st;
};

static int64_t floor_minute(int64_t t) {
  int64_t m = t / MINUTE;
  if (t % MINUTE < 0) m--;
  return m * MINUTE;
}

static size_t slot_of(const vtg_rollup_t *r, int64_t minute_us) {
  int64_t m = minute_us / MINUTE, n = (int64_t)r->ring;
  return (size_t)(((m % n) + n) % n);
}

static uint64_t key_hash(uint32_t check, uint32_t region) {
  uint64_t k = ((uint64_t)check << 32) | region;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

vtg_rollup_t *vtg_rollup_new(int64_t keep_us) {
  vtg_rollup_t *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  if (keep_us <= 0) keep_us = VTG_ROLLUP_DEFAULT_KEEP_US;
  int64_t ring = (keep_us + MINUTE - 1) / MINUTE;
  if (ring < 2) ring = 2;
  if (ring > MAX_RING) ring = MAX_RING;
  r->ring = (size_t)ring;
  r->watermark_us = VTG_TIME_NONE;
  r->last_sample_us = VTG_TIME_NONE;
  r->tick_minute = VTG_TIME_NONE;
  r->newest_minute = VTG_TIME_NONE;
  return r;
}

void vtg_rollup_free(vtg_rollup_t *r) {
  if (r == NULL) return;
  free(r->series);
  free(r->cells);
  free(r->hash);
  for (size_t i = 0; i < r->n_ucache; i++) free(r->ucache[i].sums);
  free(r->ucache);
  free(r);
}

void vtg_rollup_set_replay(vtg_rollup_t *r, int on) { r->replay = on != 0; }

static long find_series(const vtg_rollup_t *r, uint32_t check, uint32_t region) {
  if (r->hash_cap == 0) return -1;
  size_t mask = r->hash_cap - 1, i = (size_t)key_hash(check, region) & mask;
  for (;;) {
    uint32_t v = r->hash[i];
    if (v == 0) return -1;
    const series_t *s = &r->series[v - 1];
    if (s->check == check && s->region == region) return (long)(v - 1);
    i = (i + 1) & mask;
  }
}

static void hash_insert(uint32_t *hash, size_t cap, const series_t *s, uint32_t idx) {
  size_t mask = cap - 1, i = (size_t)key_hash(s->check, s->region) & mask;
  while (hash[i] != 0) i = (i + 1) & mask;
  hash[i] = idx + 1;
}

/* Finds or adds the series of (check, region). Growing doubles the series
 * and cell arrays and rebuilds the hash at load <= 1/2. Returns the index
 * or -1 (out of memory or MAX_SERIES; nothing changed). */
static long get_series(vtg_rollup_t *r, uint32_t check, uint32_t region) {
  long f = find_series(r, check, region);
  if (f >= 0) return f;
  if (r->n_series >= MAX_SERIES) return -1;
  if (r->n_series == r->alloc_series) {
    size_t na = r->alloc_series ? r->alloc_series * 2 : 16;
    series_t *ns = realloc(r->series, na * sizeof *ns);
    if (ns == NULL) return -1;
    r->series = ns;
    cell_t *nc = realloc(r->cells, na * r->ring * sizeof *nc);
    if (nc == NULL) return -1;
    r->cells = nc;
    r->alloc_series = na;
  }
  if ((r->n_series + 1) * 2 > r->hash_cap) {
    size_t nh = r->hash_cap ? r->hash_cap * 2 : 64;
    uint32_t *h = calloc(nh, sizeof *h);
    if (h == NULL) return -1;
    for (size_t i = 0; i < r->n_series; i++) hash_insert(h, nh, &r->series[i], (uint32_t)i);
    free(r->hash);
    r->hash = h;
    r->hash_cap = nh;
  }
  size_t idx = r->n_series++;
  r->series[idx] = (series_t){.check = check, .region = region};
  cell_t *c = &r->cells[idx * r->ring];
  for (size_t i = 0; i < r->ring; i++)
    c[i] = (cell_t){.minute_us = EMPTY_MINUTE, .state = NO_STATE};
  hash_insert(r->hash, r->hash_cap, &r->series[idx], (uint32_t)idx);
  return (long)idx;
}

/* The cell of minute_us in series s, taken over when its slot holds an
 * older minute; NULL when the slot holds a newer one (outside the window). */
static cell_t *cell_for(vtg_rollup_t *r, long s, int64_t minute_us) {
  cell_t *c = &r->cells[(size_t)s * r->ring + slot_of(r, minute_us)];
  if (c->minute_us == minute_us) return c;
  if (c->minute_us != EMPTY_MINUTE && c->minute_us > minute_us) return NULL;
  /* A dirty minute a whole window old was flushed long ago unless the
   * store kept failing; then it is lost like any write the store refused. */
  *c = (cell_t){.minute_us = minute_us, .state = NO_STATE};
  return c;
}

#define ALL_SECONDS ((1ULL << 60) - 1)
#define MAX_SPAN_US (3600LL * 1000000)

static int64_t floor_second(int64_t t) {
  int64_t s = t / 1000000;
  if (t % 1000000 < 0) s--;
  return s;
}

/* Seconds lo..hi (inclusive, 0..59) of a minute as a mask. */
static uint64_t second_mask(int64_t lo, int64_t hi) {
  if (lo < 0) lo = 0;
  if (hi > 59) hi = 59;
  if (lo > hi) return 0;
  return ((1ULL << (hi + 1)) - 1) & ~((1ULL << lo) - 1);
}

/* Marks the seconds from_us..to_us (both included, rounded out to whole
 * seconds) covered in series s, in every minute they touch that the
 * window still holds. */
static void cover(vtg_rollup_t *r, long s, int64_t from_us, int64_t to_us) {
  int64_t a = floor_second(from_us), b = floor_second(to_us);
  for (int64_t m = floor_minute(from_us); m / 1000000 <= b; m += MINUTE) {
    cell_t *c = cell_for(r, s, m);
    if (c == NULL) continue;
    int64_t m_s = m / 1000000;
    uint64_t mask = second_mask(a - m_s, b - m_s);
    if ((c->covered | mask) != c->covered) {
      c->covered |= mask;
      c->dirty = 1;
    }
  }
}

int vtg_rollup_feed(vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx, int64_t start_us,
                    int outcome, int64_t latency_us, int64_t span_us) {
  int64_t m = floor_minute(start_us);
  int count = 1;
  if (outcome != VTG_OUTCOME_UP && outcome != VTG_OUTCOME_DEGRADED && outcome != VTG_OUTCOME_DOWN)
    return VTG_EINVAL;
  if (span_us < 0) span_us = 0;
  if (span_us > MAX_SPAN_US) span_us = MAX_SPAN_US;
  if (r->newest_minute != VTG_TIME_NONE &&
      m <= r->newest_minute - (int64_t)r->ring * MINUTE) {
    r->st.too_old++;
    return 0;
  }
  if (r->replay) {
    /* Only look: a replayed result of a minute that is not in memory at
     * all must not create a series it then skips. Its coverage is still
     * added (a mask: adding it twice changes nothing), since a stored
     * minute may be covered from a result that started before it. */
    long f = find_series(r, check_id, region_idx);
    if (f >= 0) {
      const cell_t *c = &r->cells[(size_t)f * r->ring + slot_of(r, m)];
      if (c->minute_us == m && c->loaded) {
        r->st.replay_skipped++;
        count = 0;
      }
    }
  }
  long s = get_series(r, check_id, region_idx);
  if (s >= 0) cover(r, s, start_us, start_us + span_us);
  if (!count) return 0;
  if (s < 0) return VTG_ENOMEM;
  cell_t *c = cell_for(r, s, m);
  if (c == NULL) {
    r->st.too_old++;
    return 0;
  }
  switch (outcome) {
  case VTG_OUTCOME_UP: c->up++; break;
  case VTG_OUTCOME_DEGRADED: c->degraded++; break;
  default: c->down++; break; /* VTG_OUTCOME_DOWN, checked above */
  }
  if (outcome != VTG_OUTCOME_DOWN && latency_us > 0) {
    c->lat_sum_us += latency_us;
    c->lat_n++;
  }
  c->dirty = 1;
  r->st.fed++;
  return 0;
}

int vtg_rollup_sample(vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx,
                      int64_t watermark_us, vtg_state_t state) {
  if (vtg__state_rank((int)state) < 0) return VTG_EINVAL;
  long s = get_series(r, check_id, region_idx);
  if (s < 0) return VTG_ENOMEM;
  cell_t *c = cell_for(r, s, floor_minute(watermark_us));
  if (c == NULL) return 0;
  if (vtg__state_rank((int)state) > vtg__state_rank(c->state)) {
    c->state = (int8_t)state;
    c->dirty = 1;
  }
  return 0;
}

/* ---- persistence ---- */

int vtg_rollup_flush(vtg_rollup_t *r, vtg_store_t *store, char *const *regions, size_t n_regions,
                     int64_t before_us) {
  vtg_store_rollup_row_t *rows = NULL;
  size_t n = 0, alloc = 0;
  int err = 0;
  if (store == NULL) return 0;
  for (size_t s = 0; s < r->n_series; s++) {
    const series_t *se = &r->series[s];
    for (size_t i = 0; i < r->ring; i++) {
      cell_t *c = &r->cells[s * r->ring + i];
      if (!c->dirty || c->minute_us >= before_us) continue;
      if (se->region >= n_regions) continue; /* no name, no row: stays dirty */
      if (n == alloc) {
        size_t na = alloc ? alloc * 2 : 256;
        vtg_store_rollup_row_t *nr = realloc(rows, na * sizeof *nr);
        if (nr == NULL) {
          err = VTG_ENOMEM;
          goto out;
        }
        rows = nr;
        alloc = na;
      }
      rows[n++] = (vtg_store_rollup_row_t){
          .check_id = se->check,
          .region = regions[se->region],
          .minute_us = c->minute_us,
          .up = c->up,
          .degraded = c->degraded,
          .down = c->down,
          .lat_sum_us = c->lat_sum_us,
          .lat_n = c->lat_n,
          .state = c->state,
          .covered = (int64_t)c->covered,
      };
    }
  }
  if (n == 0) goto out;
  if ((err = vtg_store_rollup_put(store, rows, n)) != 0) goto out;
  /* Written: the same walk again clears exactly what was collected (nothing
   * runs in between on this thread). */
  for (size_t s = 0; s < r->n_series; s++) {
    if (r->series[s].region >= n_regions) continue;
    for (size_t i = 0; i < r->ring; i++) {
      cell_t *c = &r->cells[s * r->ring + i];
      if (c->dirty && c->minute_us < before_us) c->dirty = 0;
    }
  }
  r->st.flushes++;
  r->st.rows_written += n;
out:
  if (err) r->st.flush_errors++;
  free(rows);
  return err;
}

/* A stored row's coverage; rows from before it was recorded count as
 * wholly covered when they hold data (rollup.h). */
static uint64_t row_covered(const vtg_store_rollup_row_t *row) {
  if (row->covered >= 0) return (uint64_t)row->covered & ALL_SECONDS;
  if ((uint64_t)row->up + row->degraded + row->down > 0 || row->state > VTG_STATE_UNKNOWN)
    return ALL_SECONDS;
  return 0;
}

typedef struct load_ctx_s {
  vtg_rollup_t *r;
  vtg_rollup_region_cb region_idx;
  void *ctx;
  uint64_t rows;
} load_ctx_t;

static int load_row(void *ctx, const vtg_store_rollup_row_t *row) {
  load_ctx_t *l = ctx;
  uint32_t ridx;
  int err = l->region_idx(l->ctx, row->region, &ridx);
  if (err == VTG_ENOMEM) return err;
  if (err) return 0; /* a region the coordinator refuses (limit): skip it */
  long s = get_series(l->r, row->check_id, ridx);
  if (s < 0) return VTG_ENOMEM;
  cell_t *c = cell_for(l->r, s, floor_minute(row->minute_us));
  if (c == NULL) return 0;
  *c = (cell_t){
      .minute_us = floor_minute(row->minute_us),
      .lat_sum_us = row->lat_sum_us,
      .up = row->up,
      .degraded = row->degraded,
      .down = row->down,
      .lat_n = row->lat_n,
      .covered = row_covered(row),
      .state = (int8_t)(vtg__state_rank(row->state) >= 0 ? row->state : NO_STATE),
      .dirty = 0,
      .loaded = 1,
  };
  l->rows++;
  return 0;
}

int vtg_rollup_load(vtg_rollup_t *r, vtg_store_t *store, int64_t now_us,
                    vtg_rollup_region_cb region_idx, void *ctx) {
  int64_t newest = floor_minute(now_us);
  int64_t from = newest - ((int64_t)r->ring - 1) * MINUTE;
  load_ctx_t l = {.r = r, .region_idx = region_idx, .ctx = ctx};
  int err = vtg_store_rollup_range(store, 0, from, newest + MINUTE, load_row, &l);
  if (err) return err;
  if (r->newest_minute == VTG_TIME_NONE || newest > r->newest_minute) r->newest_minute = newest;
  VTG_INFO("rollups: %" PRIu64 " stored minutes loaded (%zu series, %zu min window)", l.rows,
           r->n_series, r->ring);
  return 0;
}

/* ---- the detector tick ---- */

void vtg_rollup_tick(vtg_rollup_t *r, const vtg_detect_t *d, const uint32_t *check_ids,
                     size_t n_checks, char *const *regions, size_t n_regions,
                     vtg_store_t *store, int64_t watermark_us) {
  if (watermark_us == VTG_TIME_NONE) return;
  if (r->watermark_us == VTG_TIME_NONE || watermark_us > r->watermark_us)
    r->watermark_us = watermark_us;
  int64_t m = floor_minute(watermark_us);
  int minute_changed = m != r->tick_minute;
  if (r->newest_minute == VTG_TIME_NONE || m > r->newest_minute) r->newest_minute = m;
  if (minute_changed || r->last_sample_us == VTG_TIME_NONE ||
      watermark_us - r->last_sample_us >= SAMPLE_EVERY_US) {
    for (size_t i = 0; i < n_checks; i++) {
      for (size_t g = 0; g < n_regions; g++) {
        vtg_region_status_t st;
        vtg_detect_region_status(d, check_ids[i], (uint32_t)g, &st);
        if (st.agents == 0) continue; /* the check does not run there */
        if (vtg_rollup_sample(r, check_ids[i], (uint32_t)g, watermark_us, st.state) != 0) {
          VTG_WARN("rollups: out of memory sampling region states");
          goto sampled;
        }
      }
    }
  sampled:
    r->last_sample_us = watermark_us;
  }
  if (minute_changed && r->tick_minute != VTG_TIME_NONE) {
    int err = vtg_rollup_flush(r, store, regions, n_regions, m);
    if (err) VTG_ERROR("rollups: cannot persist minute: %s (retried)", vtg_strerror(err));
  }
  r->tick_minute = m;
}

/* ---- queries ---- */

/* The state shown for a cell: the sampled one, else (a completed minute
 * the watermark jumped over) the majority of its probes. */
static vtg_state_t shown_state(int sampled, uint32_t up, uint32_t degraded, uint32_t down,
                               int complete) {
  if (sampled >= 0) return (vtg_state_t)sampled;
  uint64_t n = (uint64_t)up + degraded + down;
  if (!complete || n == 0) return VTG_STATE_UNKNOWN;
  if ((uint64_t)down * 2 > n) return VTG_STATE_DOWN;
  if ((uint64_t)degraded * 2 > n) return VTG_STATE_DEGRADED;
  return VTG_STATE_UP;
}

/* complete: known to be over in event time regardless of the watermark
 * (minutes older than memory, read from the store). */
static void to_cell(const vtg_rollup_t *r, int64_t minute_us, uint32_t up, uint32_t degraded,
                    uint32_t down, int64_t lat_sum, uint32_t lat_n, int state, uint64_t covered,
                    int complete, vtg_rollup_cell_t *out) {
  if (r->watermark_us != VTG_TIME_NONE && minute_us + MINUTE <= r->watermark_us) complete = 1;
  covered &= ALL_SECONDS;
  if (!complete) /* seconds after the watermark are not known yet */
    covered &= r->watermark_us == VTG_TIME_NONE || r->watermark_us <= minute_us
                   ? 0
                   : second_mask(0, floor_second(r->watermark_us) - minute_us / 1000000 - 1);
  out->covered_s = __builtin_popcountll(covered);
  out->minute_us = minute_us;
  out->up = up;
  out->degraded = degraded;
  out->down = down;
  out->latency_avg_us = lat_n > 0 ? lat_sum / (int64_t)lat_n : -1;
  out->state = shown_state(state, up, degraded, down, complete);
  /* Unknown is not up: a completed minute no result covers. */
  if (complete && covered == 0) out->state = VTG_STATE_UNKNOWN;
}

static void empty_cell(int64_t minute_us, vtg_rollup_cell_t *out) {
  *out = (vtg_rollup_cell_t){.minute_us = minute_us, .latency_avg_us = -1,
                             .state = VTG_STATE_UNKNOWN};
}

int vtg_rollup_cells(const vtg_rollup_t *r, uint32_t check_id, uint32_t region_idx,
                     int64_t from_minute_us, size_t n, vtg_rollup_cell_t *out) {
  int64_t from = floor_minute(from_minute_us);
  long s = find_series(r, check_id, region_idx);
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t m = from + (int64_t)i * MINUTE;
    const cell_t *c = s >= 0 ? &r->cells[(size_t)s * r->ring + slot_of(r, m)] : NULL;
    if (c == NULL || c->minute_us != m) {
      empty_cell(m, &out[i]);
      continue;
    }
    to_cell(r, m, c->up, c->degraded, c->down, c->lat_sum_us, c->lat_n, c->state, c->covered, 0,
            &out[i]);
    found++;
  }
  return found;
}

int64_t vtg_rollup_memory_from(const vtg_rollup_t *r) {
  if (r->newest_minute == VTG_TIME_NONE) return INT64_MIN;
  return r->newest_minute - ((int64_t)r->ring - 1) * MINUTE;
}

int64_t vtg_rollup_watermark(const vtg_rollup_t *r) { return r->watermark_us; }

void vtg_rollup_stats(const vtg_rollup_t *r, vtg_rollup_stats_t *out) { *out = r->st; }

/* ---- uptime with coverage ---- */

/* Adds one minute, as shown, to u (rollup.h: known and up time). */
static void uptime_add(vtg_rollup_uptime_t *u, const vtg_rollup_cell_t *c) {
  if (c->state == VTG_STATE_UNKNOWN) return;
  u->known_s += c->covered_s;
  if (c->state != VTG_STATE_DOWN) u->up_s += c->covered_s;
}

typedef struct usum_ctx_s {
  const vtg_rollup_t *r;
  char *const *regions;
  size_t n_regions;
  vtg_rollup_uptime_t *sums;
} usum_ctx_t;

static int usum_row(void *ctx, const vtg_store_rollup_row_t *row) {
  usum_ctx_t *u = ctx;
  for (size_t g = 0; g < u->n_regions; g++) {
    if (strcmp(u->regions[g], row->region) != 0) continue;
    vtg_rollup_cell_t c;
    to_cell(u->r, floor_minute(row->minute_us), row->up, row->degraded, row->down,
            row->lat_sum_us, row->lat_n, vtg__state_rank(row->state) >= 0 ? row->state : NO_STATE,
            row_covered(row), 1, &c);
    uptime_add(&u->sums[g], &c);
    break;
  }
  return 0;
}

/* The store's part [from, to) of check's window, from the cache when its
 * bounds have not moved. Returns the sums (n_regions entries, owned by the
 * cache) or NULL with *err set. */
static const vtg_rollup_uptime_t *store_part(vtg_rollup_t *r, vtg_store_t *store,
                                             uint32_t check_id, char *const *regions,
                                             size_t n_regions, int64_t window_us, int64_t from,
                                             int64_t to, int *err) {
  ucache_t *e = NULL;
  for (size_t i = 0; i < r->n_ucache; i++)
    if (r->ucache[i].check == check_id && r->ucache[i].window_us == window_us) e = &r->ucache[i];
  if (e != NULL && e->from == from && e->to == to && e->n_regions == n_regions) return e->sums;
  if (e == NULL) {
    ucache_t *n = realloc(r->ucache, (r->n_ucache + 1) * sizeof *n);
    if (n == NULL) goto nomem;
    r->ucache = n;
    e = &r->ucache[r->n_ucache++];
    *e = (ucache_t){.check = check_id, .window_us = window_us};
  }
  if (e->n_regions != n_regions || e->sums == NULL) {
    vtg_rollup_uptime_t *ns = realloc(e->sums, (n_regions ? n_regions : 1) * sizeof *ns);
    if (ns == NULL) goto nomem;
    e->sums = ns;
  }
  e->n_regions = n_regions;
  e->from = e->to = 0; /* invalid until filled */
  memset(e->sums, 0, (n_regions ? n_regions : 1) * sizeof *e->sums);
  if (store != NULL && from < to) {
    usum_ctx_t u = {.r = r, .regions = regions, .n_regions = n_regions, .sums = e->sums};
    if ((*err = vtg_store_rollup_range(store, check_id, from, to, usum_row, &u)) != 0) return NULL;
  }
  e->from = from;
  e->to = to;
  return e->sums;
nomem:
  *err = VTG_ENOMEM;
  return NULL;
}

int vtg_rollup_uptime(vtg_rollup_t *r, vtg_store_t *store, uint32_t check_id,
                      char *const *regions, size_t n_regions, int64_t window_us,
                      vtg_rollup_uptime_t *out) {
  int64_t minutes = window_us / MINUTE;
  int err = 0;
  for (size_t g = 0; g < n_regions; g++)
    out[g] = (vtg_rollup_uptime_t){.wall_s = minutes * (MINUTE / 1000000)};
  if (r->watermark_us == VTG_TIME_NONE || n_regions == 0 || minutes <= 0) return 0;
  int64_t to = floor_minute(r->watermark_us), from = to - minutes * MINUTE;
  /* Memory answers from two minutes after its oldest: the oldest slots are
   * the first taken over by results ahead of the watermark. Those minutes
   * were flushed long before. */
  int64_t split = vtg_rollup_memory_from(r) + 2 * MINUTE;
  if (split < from) split = from;
  if (split > to) split = to;
  const vtg_rollup_uptime_t *st =
      store_part(r, store, check_id, regions, n_regions, window_us, from, split, &err);
  if (st == NULL) return err;
  for (size_t g = 0; g < n_regions; g++) {
    out[g].known_s = st[g].known_s;
    out[g].up_s = st[g].up_s;
    long s = find_series(r, check_id, (uint32_t)g);
    if (s < 0) continue;
    for (int64_t m = split; m < to; m += MINUTE) {
      const cell_t *c = &r->cells[(size_t)s * r->ring + slot_of(r, m)];
      if (c->minute_us != m) continue;
      vtg_rollup_cell_t v;
      to_cell(r, m, c->up, c->degraded, c->down, c->lat_sum_us, c->lat_n, c->state, c->covered, 1,
              &v);
      uptime_add(&out[g], &v);
    }
  }
  return 0;
}

double vtg_rollup_uptime_ratio(const vtg_rollup_uptime_t *u) {
  return u->known_s > 0 ? (double)u->up_s / (double)u->known_s : -1;
}

double vtg_rollup_coverage_ratio(const vtg_rollup_uptime_t *u) {
  return u->wall_s > 0 ? (double)u->known_s / (double)u->wall_s : 0;
}

/* ---- GET /api/v1/history ---- */

typedef struct hist_ctx_s {
  const vtg_rollup_t *r;
  char *const *regions;
  size_t n_regions;
  int64_t from_us;
  size_t minutes;
  vtg_rollup_cell_t *cells; /* n_regions x minutes */
  uint8_t *has;             /* per region: any data */
} hist_ctx_t;

static int hist_row(void *ctx, const vtg_store_rollup_row_t *row) {
  hist_ctx_t *h = ctx;
  int64_t m = floor_minute(row->minute_us);
  if (m < h->from_us) return 0;
  size_t i = (size_t)((m - h->from_us) / MINUTE);
  if (i >= h->minutes) return 0;
  for (size_t g = 0; g < h->n_regions; g++) {
    if (strcmp(h->regions[g], row->region) != 0) continue;
    to_cell(h->r, m, row->up, row->degraded, row->down, row->lat_sum_us, row->lat_n,
            vtg__state_rank(row->state) >= 0 ? row->state : NO_STATE, row_covered(row), 1,
            &h->cells[g * h->minutes + i]);
    h->has[g] = 1;
    break;
  }
  return 0;
}

int vtg_rollup_history_json(const vtg_rollup_t *r, vtg_store_t *store, uint32_t check_id,
                            const char *check_name, char *const *regions, size_t n_regions,
                            int64_t to_us, int minutes, vtg_buf_t *out) {
  if (minutes < 1) return VTG_EINVAL;
  size_t nm = (size_t)minutes;
  int64_t last = floor_minute(to_us), from = last - (int64_t)(nm - 1) * MINUTE;
  int64_t mem_from = vtg_rollup_memory_from(r);
  hist_ctx_t h = {.r = r, .regions = regions, .n_regions = n_regions, .from_us = from,
                  .minutes = nm};
  uint32_t *order = NULL;
  int err = 0;
  if (n_regions > 0) {
    h.cells = malloc(n_regions * nm * sizeof *h.cells);
    h.has = calloc(n_regions, 1);
    if (h.cells == NULL || h.has == NULL) {
      err = VTG_ENOMEM;
      goto out;
    }
  }
  for (size_t g = 0; g < n_regions; g++) {
    if (vtg_rollup_cells(r, check_id, (uint32_t)g, from, nm, &h.cells[g * nm]) > 0) h.has[g] = 1;
    for (size_t i = 0; i < nm; i++)
      if (h.cells[g * nm + i].state != VTG_STATE_UNKNOWN) h.has[g] = 1;
  }
  /* Minutes older than memory covers: from the store (memory's cells for
   * them are empty, so the rows simply fill them in). */
  if (store != NULL && from < mem_from) {
    int64_t to = mem_from < last + MINUTE ? mem_from : last + MINUTE;
    if ((err = vtg_store_rollup_range(store, check_id, from, to, hist_row, &h)) != 0) goto out;
  }

  if ((err = vtg__regions_sorted(regions, n_regions, &order)) != 0) goto out;

  vtg_json_writer_t w;
  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, "check");
  vtg_json_string(&w, check_name);
  vtg_json_key(&w, "from");
  vtg_json_time(&w, from);
  vtg_json_key(&w, "to");
  vtg_json_time(&w, last + MINUTE);
  vtg_json_key(&w, "step_s");
  vtg_json_int(&w, MINUTE / 1000000);
  vtg_json_key(&w, "regions");
  vtg_json_begin_array(&w);
  for (size_t k = 0; k < n_regions; k++) {
    size_t g = order[k];
    if (!h.has[g]) continue;
    vtg_json_begin_object(&w);
    vtg_json_key(&w, "region");
    vtg_json_string(&w, regions[g]);
    vtg_json_key(&w, "cells");
    vtg_json_begin_array(&w);
    for (size_t i = 0; i < nm; i++) {
      const vtg_rollup_cell_t *c = &h.cells[g * nm + i];
      vtg_json_begin_object(&w);
      vtg_json_key(&w, "t");
      vtg_json_time(&w, c->minute_us);
      vtg_json_key(&w, "state");
      vtg_json_string(&w, vtg_state_name(c->state));
      vtg_json_key(&w, "up");
      vtg_json_int(&w, c->up);
      vtg_json_key(&w, "degraded");
      vtg_json_int(&w, c->degraded);
      vtg_json_key(&w, "down");
      vtg_json_int(&w, c->down);
      vtg_json_key(&w, "latency_avg_s");
      if (c->latency_avg_us < 0)
        vtg_json_null(&w);
      else
        vtg_json_double(&w, (double)c->latency_avg_us / 1e6);
      vtg_json_key(&w, "coverage");
      vtg_json_double(&w, c->covered_s / 60.0);
      vtg_json_end_object(&w);
    }
    vtg_json_end_array(&w);
    vtg_json_end_object(&w);
  }
  vtg_json_end_array(&w);
  vtg_json_end_object(&w);
  err = vtg_json_finish(&w);
out:
  free(order);
  free(h.cells);
  free(h.has);
  return err;
}

#define HISTORY_DEFAULT_MINUTES 180
#define HISTORY_MAX_MINUTES 1440

void vtg_rollup_api_history(struct vtg_coord_s *c, struct vtg_httpd_req_s *req,
                            struct vtg_httpd_resp_s *resp) {
  const char *check = NULL;
  long minutes = HISTORY_DEFAULT_MINUTES;
  char *p = req->query, *key, *val, *end;
  int err;
  while ((err = vtg_httpd_query_next(&p, &key, &val)) != 0) {
    if (err < 0) {
      vtg_httpd_error(resp, 400, "malformed percent-encoding in the query", NULL);
      return;
    }
    if (strcmp(key, "check") == 0) {
      check = val;
    } else if (strcmp(key, "minutes") == 0) {
      errno = 0;
      minutes = strtol(val, &end, 10);
      if (errno != 0 || val[0] < '0' || val[0] > '9' || *end != '\0' || minutes < 1 ||
          minutes > HISTORY_MAX_MINUTES) {
        vtg_httpd_error(resp, 400, "minutes: expected a whole number from 1 to 1440", NULL);
        return;
      }
    } else {
      vtg_httpd_error(resp, 400, "unknown query parameter (expected check or minutes)", NULL);
      return;
    }
  }
  if (check == NULL || *check == '\0') {
    vtg_httpd_error(resp, 400, "check=NAME is required", NULL);
    return;
  }
  size_t i;
  for (i = 0; i < c->cfg.n_checks && strcmp(c->cfg.checks[i].name, check) != 0; i++) {
  }
  if (i == c->cfg.n_checks) {
    vtg_httpd_error(resp, 404, "no such check", NULL);
    return;
  }
  if (c->rollup == NULL) {
    vtg_httpd_error(resp, 503, "rollups are not available", NULL);
    return;
  }
  err = vtg_rollup_history_json(c->rollup, c->store, c->check_ids[i], c->cfg.checks[i].name,
                                c->regions, c->n_regions, vtg_clock_wall_us(), (int)minutes,
                                &resp->body);
  if (err != 0) vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
}

void vtg_rollup_format_pct(double ratio, int decimals, char *buf, size_t n) {
  if (n == 0) return;
  if (ratio < 0 || ratio != ratio) {
    snprintf(buf, n, "-");
    return;
  }
  if (ratio >= 1) {
    snprintf(buf, n, "100%%");
    return;
  }
  if (decimals < 0) decimals = 0;
  if (decimals > 4) decimals = 4;
  double scale = 1;
  for (int i = 0; i < decimals; i++) scale *= 10;
  /* Truncated: 99.999% must not read as 100%, 0.4% not as 0%. */
  double v = floor(ratio * 100 * scale) / scale;
  if (ratio > 0 && v == 0) {
    snprintf(buf, n, "<%.*f%%", decimals, 1 / scale);
    return;
  }
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
  size_t len = strlen(tmp);
  if (strchr(tmp, '.') != NULL) {
    while (len > 0 && tmp[len - 1] == '0') tmp[--len] = '\0';
    if (len > 0 && tmp[len - 1] == '.') tmp[--len] = '\0';
  }
  snprintf(buf, n, "%s%%", tmp);
}

/* ---- GET /api/v1/uptime ---- */

static void uptime_fields(vtg_json_writer_t *w, const vtg_rollup_uptime_t *u) {
  double up = vtg_rollup_uptime_ratio(u);
  vtg_json_key(w, "uptime");
  if (up < 0)
    vtg_json_null(w);
  else
    vtg_json_double(w, up);
  vtg_json_key(w, "coverage");
  vtg_json_double(w, vtg_rollup_coverage_ratio(u));
  vtg_json_key(w, "known_s");
  vtg_json_int(w, u->known_s);
  vtg_json_key(w, "up_s");
  vtg_json_int(w, u->up_s);
  vtg_json_key(w, "wall_s");
  vtg_json_int(w, u->wall_s);
}

int vtg_rollup_check_regions(const vtg_rollup_t *r, const vtg_check_cfg_t *ch, uint32_t check_id,
                             char *const *regions, size_t n_regions,
                             const vtg_rollup_uptime_t *u, uint8_t *in,
                             vtg_rollup_uptime_t *total) {
  int n = 0;
  *total = (vtg_rollup_uptime_t){0};
  for (size_t g = 0; g < n_regions; g++) {
    in[g] = vtg_config_check_applies(ch, regions[g]) &&
            (u[g].known_s > 0 || find_series(r, check_id, (uint32_t)g) >= 0);
    if (!in[g]) continue;
    total->wall_s += u[g].wall_s;
    total->known_s += u[g].known_s;
    total->up_s += u[g].up_s;
    n++;
  }
  return n;
}

/* One check's object of the uptime body. */
static int uptime_check_json(vtg_coord_t *c, size_t i, const char *window, int64_t window_us,
                             const uint32_t *order, vtg_rollup_uptime_t *u, uint8_t *in,
                             vtg_json_writer_t *w) {
  vtg_rollup_t *r = c->rollup;
  vtg_rollup_uptime_t total;
  int err = vtg_rollup_uptime(r, c->store, c->check_ids[i], c->regions, c->n_regions, window_us, u);
  if (err != 0) return err;
  vtg_rollup_check_regions(r, &c->cfg.checks[i], c->check_ids[i], c->regions, c->n_regions, u, in,
                           &total);
  int64_t to = r->watermark_us == VTG_TIME_NONE ? floor_minute(vtg_clock_wall_us())
                                                : floor_minute(r->watermark_us);
  vtg_json_begin_object(w);
  vtg_json_key(w, "check");
  vtg_json_string(w, c->cfg.checks[i].name);
  vtg_json_key(w, "window");
  vtg_json_string(w, window);
  vtg_json_key(w, "from");
  vtg_json_time(w, to - (window_us / MINUTE) * MINUTE);
  vtg_json_key(w, "to");
  vtg_json_time(w, to);
  uptime_fields(w, &total);
  vtg_json_key(w, "regions");
  vtg_json_begin_array(w);
  for (size_t k = 0; k < c->n_regions; k++) {
    size_t g = order[k];
    if (!in[g]) continue;
    vtg_json_begin_object(w);
    vtg_json_key(w, "region");
    vtg_json_string(w, c->regions[g]);
    uptime_fields(w, &u[g]);
    vtg_json_end_object(w);
  }
  vtg_json_end_array(w);
  vtg_json_end_object(w);
  return 0;
}

void vtg_rollup_api_uptime(struct vtg_coord_s *c, struct vtg_httpd_req_s *req,
                           struct vtg_httpd_resp_s *resp) {
  const char *check = NULL, *window = "24h";
  int64_t window_us = VTG_ROLLUP_WINDOW_24H;
  char *p = req->query, *key, *val;
  vtg_rollup_uptime_t *u = NULL;
  uint8_t *in = NULL;
  uint32_t *order = NULL;
  size_t i = 0;
  int err;
  while ((err = vtg_httpd_query_next(&p, &key, &val)) != 0) {
    if (err < 0) {
      vtg_httpd_error(resp, 400, "malformed percent-encoding in the query", NULL);
      return;
    }
    if (strcmp(key, "check") == 0) {
      check = val;
    } else if (strcmp(key, "window") == 0) {
      if (strcmp(val, "24h") == 0) {
        window = "24h";
        window_us = VTG_ROLLUP_WINDOW_24H;
      } else if (strcmp(val, "7d") == 0) {
        window = "7d";
        window_us = VTG_ROLLUP_WINDOW_7D;
      } else {
        vtg_httpd_error(resp, 400, "window: expected 24h or 7d", NULL);
        return;
      }
    } else {
      vtg_httpd_error(resp, 400, "unknown query parameter (expected check or window)", NULL);
      return;
    }
  }
  if (check != NULL) {
    for (i = 0; i < c->cfg.n_checks && strcmp(c->cfg.checks[i].name, check) != 0; i++) {
    }
    if (i == c->cfg.n_checks) {
      vtg_httpd_error(resp, 404, "no such check", NULL);
      return;
    }
  }
  if (c->rollup == NULL) {
    vtg_httpd_error(resp, 503, "rollups are not available", NULL);
    return;
  }
  u = calloc(c->n_regions ? c->n_regions : 1, sizeof *u);
  in = calloc(c->n_regions ? c->n_regions : 1, 1);
  if (u == NULL || in == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  if ((err = vtg__regions_sorted(c->regions, c->n_regions, &order)) != 0) goto out;
  vtg_json_writer_t w;
  vtg_json_writer_init(&w, &resp->body, 0);
  if (check != NULL) {
    if ((err = uptime_check_json(c, i, window, window_us, order, u, in, &w)) != 0) goto out;
  } else {
    /* Without check=: every check of the config, in config order. */
    vtg_json_begin_array(&w);
    for (i = 0; i < c->cfg.n_checks; i++)
      if ((err = uptime_check_json(c, i, window, window_us, order, u, in, &w)) != 0) goto out;
    vtg_json_end_array(&w);
  }
  err = vtg_json_finish(&w);
out:
  free(u);
  free(in);
  free(order);
  if (err != 0) vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
}
