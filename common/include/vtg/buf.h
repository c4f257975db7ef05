/* A growable byte buffer with a hard cap (curl's dynbuf idea): appends past
 * the cap fail with VTG_ELIMIT instead of growing without bound. */
#ifndef VTG_BUF_H
#define VTG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vtg_buf_s {
  char *data;    /* NUL-terminated while len < alloc; owned */
  size_t len;
  size_t alloc;
  size_t cap;    /* maximum len */
} vtg_buf_t;

/* cap 0 means no cap (up to SIZE_MAX / 4). */
void vtg_buf_init(vtg_buf_t *b, size_t cap);
void vtg_buf_free(vtg_buf_t *b);          /* frees data, leaves b empty and reusable */
void vtg_buf_reset(vtg_buf_t *b);         /* len = 0, keeps memory */
int vtg_buf_append(vtg_buf_t *b, const void *data, size_t n);
int vtg_buf_appends(vtg_buf_t *b, const char *s);
int vtg_buf_printf(vtg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vtg_buf_vprintf(vtg_buf_t *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void vtg_buf_consume(vtg_buf_t *b, size_t n);
/* Hands the data over to the caller (free() it) and leaves b empty. An empty
 * buffer yields a malloc'd ""; NULL only when out of memory. */
char *vtg_buf_take(vtg_buf_t *b, size_t *len);

#endif
