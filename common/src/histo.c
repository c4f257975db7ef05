/* Fixed-bucket histograms and their Prometheus text exposition (histo.h). */
#include "vtg/histo.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double latency_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                    1,     2.5,  5,     10,   30};
static const double io_le[] = {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                               0.01,     0.025,   0.05,   0.1,     0.25,   1,     5};

const vtg_histo_bounds_t vtg_histo_latency_bounds = {latency_le,
                                                     sizeof latency_le / sizeof latency_le[0]};
const vtg_histo_bounds_t vtg_histo_io_bounds = {io_le, sizeof io_le / sizeof io_le[0]};

void vtg_histo_observe(vtg_histo_t *h, const vtg_histo_bounds_t *b, double v) {
  if (isnan(v)) return;
  /* Linear: the tables are short, and most observations land early. */
  size_t i = 0, n = b->n < VTG_HISTO_MAX_BOUNDS ? b->n : VTG_HISTO_MAX_BOUNDS;
  while (i < n && v > b->le[i]) i++;
  h->bucket[i]++;
  h->count++;
  h->sum += v;
}

void vtg_histo_format_float(double v, char *out, size_t n) {
  if (n == 0) return;
  if (isnan(v)) {
    snprintf(out, n, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
    return;
  }
  /* What Go's strconv.FormatFloat(v, 'g', -1, 64) gives, so `le` values
   * look like the ones Prometheus' own clients write ("0.005", "30", not
   * "0.0050000" or "3e+01"): the fewest significant digits that read back
   * exactly, in exponent form only when the exponent is below -4 or at
   * least 6. */
  char e[40];
  int digits = 17;
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    if (strtod(e, NULL) == v) {
      digits = p;
      break;
    }
  }
  snprintf(e, sizeof e, "%.*e", digits - 1, v);
  const char *x = strchr(e, 'e');
  long exp = x != NULL ? strtol(x + 1, NULL, 10) : 0;
  if (exp < -4 || exp >= 6)
    snprintf(out, n, "%s", e);
  else
    snprintf(out, n, "%.*f", digits - 1 - exp > 0 ? (int)(digits - 1 - exp) : 0, v);
}

/* `name_suffix{labels,extra}` or `name_suffix{extra}` / `name_suffix`. */
static int series(vtg_buf_t *out, const char *name, const char *suffix, const char *labels,
                  const char *extra) {
  int has = labels != NULL && labels[0] != '\0';
  if (!has && extra == NULL) return vtg_buf_printf(out, "%s%s", name, suffix);
  return vtg_buf_printf(out, "%s%s{%s%s%s}", name, suffix, has ? labels : "",
                        has && extra ? "," : "", extra ? extra : "");
}

int vtg_histo_write(vtg_buf_t *out, const char *name, const char *labels, const vtg_histo_t *h,
                    const vtg_histo_bounds_t *b) {
  char num[40], le[48];
  uint64_t cum = 0;
  int err = 0;
  size_t n = b->n < VTG_HISTO_MAX_BOUNDS ? b->n : VTG_HISTO_MAX_BOUNDS;
  for (size_t i = 0; i < n && err == 0; i++) {
    cum += h->bucket[i];
    vtg_histo_format_float(b->le[i], num, sizeof num);
    snprintf(le, sizeof le, "le=\"%s\"", num);
    err = series(out, name, "_bucket", labels, le);
    if (err == 0) err = vtg_buf_printf(out, " %" PRIu64 "\n", cum);
  }
  if (err == 0) err = series(out, name, "_bucket", labels, "le=\"+Inf\"");
  if (err == 0) err = vtg_buf_printf(out, " %" PRIu64 "\n", h->count);
  vtg_histo_format_float(h->sum, num, sizeof num);
  if (err == 0) err = series(out, name, "_sum", labels, NULL);
  if (err == 0) err = vtg_buf_printf(out, " %s\n", num);
  if (err == 0) err = series(out, name, "_count", labels, NULL);
  if (err == 0) err = vtg_buf_printf(out, " %" PRIu64 "\n", h->count);
  return err;
}
