/* Length-prefixed frames: u32 big-endian length, then the payload. The
 * reader checks every length against its cap before it allocates. */
#ifndef VTG_FRAME_H
#define VTG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define VTG_FRAME_HEADER 4
#define VTG_FRAME_DEFAULT_MAX (1u << 20) /* 1 MiB */

typedef struct vtg_frame_reader_s {
  uint8_t *buf;       /* owned; partial frame bytes */
  size_t len;
  size_t alloc;
  size_t max_frame;   /* cap on one payload */
} vtg_frame_reader_t;

/* Called once per complete payload; the bytes are valid only during the
 * call. A non-zero return stops feeding and is returned by feed. */
typedef int (*vtg_frame_cb)(void *ctx, const uint8_t *payload, size_t len);

void vtg_frame_reader_init(vtg_frame_reader_t *r, size_t max_frame);
void vtg_frame_reader_free(vtg_frame_reader_t *r);
/* Feeds n bytes read from the stream. Returns 0, the callback's non-zero
 * return, VTG_EFRAME_TOO_LARGE (the announced length, logged by the caller
 * from *bad_len if not NULL) or VTG_ENOMEM. After an error the reader must
 * not be fed again. */
int vtg_frame_reader_feed(vtg_frame_reader_t *r, const uint8_t *data, size_t n,
                          vtg_frame_cb cb, void *ctx, uint32_t *bad_len);

/* Writes the 4-byte big-endian header for a payload of len bytes. */
void vtg_frame_put_header(uint8_t out[VTG_FRAME_HEADER], uint32_t len);

#endif
