/* The coordinator's /metrics: the Prometheus text exposition (format
 * 0.0.4) of the live state in vtg_coord_t. Label sets are bounded by
 * checks x regions; agents appear once each. */
#ifndef VTG_METRICS_H
#define VTG_METRICS_H

#include <stdint.h>

#include "coord.h"
#include "vtg/buf.h"

/* Appends the whole exposition to out, as of wall clock now_us (for the
 * watermark lag). Reads the store's open incidents when c->store is set.
 * Returns 0, VTG_ENOMEM / VTG_ELIMIT when out cannot grow, or a store error. */
int vtg_metrics_write(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out);

/* Appends s as a label value: backslash, double quote and newline escaped. */
int vtg_metrics_label(vtg_buf_t *b, const char *s);

#endif
