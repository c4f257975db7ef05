/* Pieces of the Prometheus text exposition format (0.0.4) that every
 * /metrics of the project writes the same way: label value escaping and
 * the "# HELP" / "# TYPE" lines of a family. Pure functions on a vtg_buf_t;
 * any thread. */
#ifndef VTG_PROM_H
#define VTG_PROM_H

#include "vtg/buf.h"

/* Appends s as a label value (without the quotes): backslash, double quote
 * and newline escaped. NULL appends nothing. Returns 0 or the buffer's error
 * (VTG_ELIMIT / VTG_ENOMEM). */
int vtg_prom_label(vtg_buf_t *b, const char *s);

/* Appends "# HELP name help\n# TYPE name type\n". help must not hold a
 * newline or a backslash (our help texts are literals). Returns 0 or the
 * buffer's error. */
int vtg_prom_family(vtg_buf_t *b, const char *name, const char *type, const char *help);

#endif
