/* Fixed-bucket histograms in the Prometheus manner, and their text
 * exposition: cumulative `_bucket{le="..."}` lines ending with le="+Inf",
 * then `_sum` and `_count`. The bounds live outside the histogram (one
 * static table per family), so a histogram is plain counters that can sit
 * in flat arrays and be copied by value. Not thread-safe: one owner. */
#ifndef VTG_HISTO_H
#define VTG_HISTO_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"

#define VTG_HISTO_MAX_BOUNDS 15

/* Upper bounds (inclusive, as Prometheus' `le`), ascending and finite; at
 * most VTG_HISTO_MAX_BOUNDS. The +Inf bucket is implicit. */
typedef struct vtg_histo_bounds_s {
  const double *le;
  size_t n;
} vtg_histo_bounds_t;

/* Zero-initialise (memset or `= {0}`) before use. */
typedef struct vtg_histo_s {
  uint64_t bucket[VTG_HISTO_MAX_BOUNDS + 1]; /* per bucket, not cumulative; [n] = above the last */
  uint64_t count;
  double sum;
} vtg_histo_t;

/* Network latencies (probe phases, probe start lag), in seconds:
 * .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 30. */
extern const vtg_histo_bounds_t vtg_histo_latency_bounds;
/* Local disk and database operations, in seconds: .000025 .00005 .0001
 * .00025 .0005 .001 .0025 .005 .01 .025 .05 .1 .25 1 5 (a SQLite write in
 * WAL mode takes tens of microseconds; an fdatasync, milliseconds). */
extern const vtg_histo_bounds_t vtg_histo_io_bounds;

/* Counts one observation v (seconds, or whatever unit the family has).
 * NaN is ignored. */
void vtg_histo_observe(vtg_histo_t *h, const vtg_histo_bounds_t *b, double v);

/* Appends the exposition lines of one histogram series: name_bucket per
 * bound and +Inf, name_sum, name_count. labels is NULL / "" or the
 * series' other labels already escaped, `k="v",k2="v2"` (no braces, no
 * trailing comma). The "# HELP"/"# TYPE" lines are the caller's. Returns 0
 * or the buffer's error (VTG_ELIMIT / VTG_ENOMEM). */
int vtg_histo_write(vtg_buf_t *out, const char *name, const char *labels, const vtg_histo_t *h,
                    const vtg_histo_bounds_t *b);

/* v as Prometheus writes a float: the shortest form that reads back to
 * the same double ("0.005", "1", "2.5", "1e-06"), "+Inf", "-Inf", "NaN".
 * out gets at most n - 1 characters (32 always suffice). */
void vtg_histo_format_float(double v, char *out, size_t n);

#endif
