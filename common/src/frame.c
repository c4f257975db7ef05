/* Streaming reader of length-prefixed frames. Complete frames that arrive
 * in one read are delivered straight from the caller's bytes; only a frame
 * split across reads is copied into the reader's buffer, which is sized
 * after the announced length has been checked against max_frame. */
#include "vtg/frame.h"

#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

/* Buffers bigger than this are released after their frame so that an idle
 * connection does not keep a maximum-sized buffer. */
#define FRAME_KEEP_ALLOC (64u * 1024)

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void vtg_frame_put_header(uint8_t out[VTG_FRAME_HEADER], uint32_t len) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}

void vtg_frame_reader_init(vtg_frame_reader_t *r, size_t max_frame) {
  r->buf = NULL;
  r->len = 0;
  r->alloc = 0;
  r->max_frame = max_frame ? max_frame : VTG_FRAME_DEFAULT_MAX;
}

void vtg_frame_reader_free(vtg_frame_reader_t *r) {
  if (r == NULL) return;
  free(r->buf);
  r->buf = NULL;
  r->len = 0;
  r->alloc = 0;
}

static int reserve(vtg_frame_reader_t *r, size_t need) {
  if (need <= r->alloc) return 0;
  uint8_t *p = realloc(r->buf, need);
  if (p == NULL) return VTG_ENOMEM;
  r->buf = p;
  r->alloc = need;
  return 0;
}

static int too_large(uint32_t len, uint32_t *bad_len) {
  if (bad_len) *bad_len = len;
  return VTG_EFRAME_TOO_LARGE;
}

/* Contract in frame.h. The loop alternates between the zero-copy path (no
 * partial frame pending) and completing the pending frame from the buffer. */
int vtg_frame_reader_feed(vtg_frame_reader_t *r, const uint8_t *data, size_t n,
                          vtg_frame_cb cb, void *ctx, uint32_t *bad_len) {
  int rc;

  if (n == 0) return 0;
  for (;;) {
    if (r->len == 0) {
      while (n >= VTG_FRAME_HEADER) {
        uint32_t flen = get_be32(data);
        if (flen > r->max_frame) return too_large(flen, bad_len);
        if (n - VTG_FRAME_HEADER < flen) break;
        data += VTG_FRAME_HEADER;
        n -= VTG_FRAME_HEADER;
        rc = cb(ctx, data, flen);
        data += flen;
        n -= flen;
        if (rc) return rc;
      }
      if (n == 0) return 0;
    }

    /* A partial frame: first complete the header. */
    if (r->len < VTG_FRAME_HEADER) {
      size_t take = VTG_FRAME_HEADER - r->len;
      if (take > n) take = n;
      if ((rc = reserve(r, VTG_FRAME_HEADER))) return rc;
      memcpy(r->buf + r->len, data, take);
      r->len += take;
      data += take;
      n -= take;
      if (r->len < VTG_FRAME_HEADER) return 0;
      uint32_t flen = get_be32(r->buf);
      if (flen > r->max_frame) return too_large(flen, bad_len);
      if ((rc = reserve(r, VTG_FRAME_HEADER + (size_t)flen))) return rc;
    }

    uint32_t flen = get_be32(r->buf);
    size_t want = VTG_FRAME_HEADER + (size_t)flen - r->len;
    size_t take = want < n ? want : n;
    if (take) memcpy(r->buf + r->len, data, take);
    r->len += take;
    data += take;
    n -= take;
    if (take < want) return 0;

    rc = cb(ctx, r->buf + VTG_FRAME_HEADER, flen);
    r->len = 0;
    if (r->alloc > FRAME_KEEP_ALLOC) {
      free(r->buf);
      r->buf = NULL;
      r->alloc = 0;
    }
    if (rc) return rc;
    if (n == 0) return 0;
  }
}
