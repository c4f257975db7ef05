/* A growable byte buffer with a hard cap. One byte past len is always kept
 * for a NUL so that text built here can be used as a C string. */
#include "vtg/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

void vtg_buf_init(vtg_buf_t *b, size_t cap) {
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  /* A cap of 0 means "no cap"; leave room for the NUL and doubling. */
  b->cap = cap ? cap : (SIZE_MAX / 4);
}

void vtg_buf_free(vtg_buf_t *b) {
  if (b == NULL) return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
}

void vtg_buf_reset(vtg_buf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL. Fails with VTG_ELIMIT past the
 * cap, VTG_ENOMEM when realloc fails (b unchanged in both cases). */
static int buf_reserve(vtg_buf_t *b, size_t n) {
  if (n > b->cap - b->len) return VTG_ELIMIT;
  size_t need = b->len + n + 1;
  if (need <= b->alloc) return 0;
  size_t na = b->alloc ? b->alloc : 64;
  while (na < need) na *= 2;
  if (na > b->cap + 1) na = b->cap + 1;
  char *p = realloc(b->data, na);
  if (p == NULL) return VTG_ENOMEM;
  b->data = p;
  b->alloc = na;
  return 0;
}

int vtg_buf_append(vtg_buf_t *b, const void *data, size_t n) {
  int rc = buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int vtg_buf_appends(vtg_buf_t *b, const char *s) { return vtg_buf_append(b, s, strlen(s)); }

int vtg_buf_printf(vtg_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vtg_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

/* Tries to format into the spare room first; on overflow reserves exactly
 * what vsnprintf reported and formats again. */
int vtg_buf_vprintf(vtg_buf_t *b, const char *fmt, va_list ap) {
  va_list ap2;
  char dummy[1];
  size_t room = b->alloc > b->len ? b->alloc - b->len : 0;
  char *dst = room ? b->data + b->len : dummy;

  va_copy(ap2, ap);
  int n = vsnprintf(dst, room ? room : sizeof dummy, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    if (b->data) b->data[b->len] = '\0';
    return VTG_EINVAL;
  }
  if ((size_t)n < room) {
    b->len += (size_t)n;
    return 0;
  }
  if (b->data) b->data[b->len] = '\0';
  int rc = buf_reserve(b, (size_t)n);
  if (rc) return rc;
  va_copy(ap2, ap);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)n;
  return 0;
}

void vtg_buf_consume(vtg_buf_t *b, size_t n) {
  if (n >= b->len) {
    vtg_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

/* An empty buffer still hands over a valid "" so that NULL means only
 * "out of memory". */
char *vtg_buf_take(vtg_buf_t *b, size_t *len) {
  char *p = b->data;
  size_t l = b->len;
  if (p == NULL) {
    p = malloc(1);
    if (p == NULL) return NULL;
    p[0] = '\0';
    l = 0;
  }
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  if (len) *len = l;
  return p;
}
