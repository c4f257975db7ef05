/* Frame reader: splitting, batching, caps and empty frames. */
#include "test.h"
#include "vtg/error.h"
#include "vtg/frame.h"

typedef struct {
  int count;
  size_t lens[64];
  uint8_t first[64];
  int stop_after; /* return 7 after this many frames; 0 = never */
} sink_t;

static int on_frame(void *ctx, const uint8_t *p, size_t len) {
  sink_t *s = ctx;
  if (s->count < 64) {
    s->lens[s->count] = len;
    s->first[s->count] = len ? p[0] : 0;
    for (size_t i = 0; i < len; i++)
      if (p[i] != (uint8_t)(s->count + i)) return 99; /* payload corrupted */
  }
  s->count++;
  if (s->stop_after && s->count == s->stop_after) return 7;
  return 0;
}

/* Appends a frame whose payload bytes are (index + i). */
static size_t make_frame(uint8_t *out, uint32_t len, int index) {
  vtg_frame_put_header(out, len);
  for (uint32_t i = 0; i < len; i++) out[VTG_FRAME_HEADER + i] = (uint8_t)(index + i);
  return VTG_FRAME_HEADER + len;
}

VTG_TEST(split_header) {
  uint8_t buf[64];
  sink_t s = {0};
  vtg_frame_reader_t r;
  size_t n = make_frame(buf, 10, 0);
  vtg_frame_reader_init(&r, 100);
  /* one byte at a time: the header itself arrives in four pieces */
  for (size_t i = 0; i < n; i++) {
    ASSERT_EQ(vtg_frame_reader_feed(&r, buf + i, 1, on_frame, &s, NULL), 0);
    ASSERT_EQ(s.count, i + 1 == n ? 1 : 0);
  }
  ASSERT_EQ(s.lens[0], 10);
  vtg_frame_reader_free(&r);
  return 0;
}

VTG_TEST(many_frames) {
  static uint8_t buf[64 * 1024];
  size_t n = 0;
  for (int i = 0; i < 50; i++) n += make_frame(buf + n, (uint32_t)(i * 37 % 300), i);
  /* all at once */
  {
    sink_t s = {0};
    vtg_frame_reader_t r;
    vtg_frame_reader_init(&r, 1000);
    ASSERT_EQ(vtg_frame_reader_feed(&r, buf, n, on_frame, &s, NULL), 0);
    ASSERT_EQ(s.count, 50);
    for (int i = 0; i < 50; i++) ASSERT_EQ(s.lens[i], i * 37 % 300);
    ASSERT_EQ(r.len, 0);
    vtg_frame_reader_free(&r);
  }
  /* in every chunk size from 1 to 700 */
  for (size_t step = 1; step <= 700; step += 7) {
    sink_t s = {0};
    vtg_frame_reader_t r;
    vtg_frame_reader_init(&r, 1000);
    for (size_t off = 0; off < n; off += step) {
      size_t k = n - off < step ? n - off : step;
      ASSERT_EQ(vtg_frame_reader_feed(&r, buf + off, k, on_frame, &s, NULL), 0);
    }
    ASSERT_EQ(s.count, 50);
    for (int i = 0; i < 50; i++) ASSERT_EQ(s.lens[i], i * 37 % 300);
    vtg_frame_reader_free(&r);
  }
  return 0;
}

VTG_TEST(split_large) {
  /* one 200 KiB frame fed in 3 KiB pieces, followed by a small one */
  size_t big = 200 * 1024;
  uint8_t *buf = malloc(big + 64);
  ASSERT(buf != NULL);
  size_t n = make_frame(buf, (uint32_t)big, 0);
  n += make_frame(buf + n, 3, 1);
  sink_t s = {0};
  vtg_frame_reader_t r;
  vtg_frame_reader_init(&r, VTG_FRAME_DEFAULT_MAX);
  for (size_t off = 0; off < n; off += 3000) {
    size_t k = n - off < 3000 ? n - off : 3000;
    ASSERT_EQ(vtg_frame_reader_feed(&r, buf + off, k, on_frame, &s, NULL), 0);
  }
  ASSERT_EQ(s.count, 2);
  ASSERT_EQ(s.lens[0], big);
  ASSERT_EQ(s.lens[1], 3);
  vtg_frame_reader_free(&r);
  free(buf);
  return 0;
}

VTG_TEST(too_large) {
  uint8_t hdr[VTG_FRAME_HEADER];
  uint32_t bad = 0;
  sink_t s = {0};
  vtg_frame_reader_t r;
  /* announced 1 GiB: refused from the header alone, nothing allocated */
  vtg_frame_put_header(hdr, 1u << 30);
  vtg_frame_reader_init(&r, 1024);
  ASSERT_EQ(vtg_frame_reader_feed(&r, hdr, 4, on_frame, &s, &bad), VTG_EFRAME_TOO_LARGE);
  ASSERT_EQ(bad, 1u << 30);
  ASSERT_EQ(s.count, 0);
  vtg_frame_reader_free(&r);

  /* same with the header split, on the buffered path */
  vtg_frame_reader_init(&r, 1024);
  bad = 0;
  vtg_frame_put_header(hdr, 1025);
  ASSERT_EQ(vtg_frame_reader_feed(&r, hdr, 2, on_frame, &s, &bad), 0);
  ASSERT_EQ(vtg_frame_reader_feed(&r, hdr + 2, 2, on_frame, &s, &bad), VTG_EFRAME_TOO_LARGE);
  ASSERT_EQ(bad, 1025);
  ASSERT(r.alloc < 1025);
  vtg_frame_reader_free(&r);

  /* exactly the cap is fine */
  uint8_t *buf = malloc(1024 + 4);
  ASSERT(buf != NULL);
  size_t n = make_frame(buf, 1024, 0);
  vtg_frame_reader_init(&r, 1024);
  ASSERT_EQ(vtg_frame_reader_feed(&r, buf, n, on_frame, &s, NULL), 0);
  ASSERT_EQ(s.count, 1);
  vtg_frame_reader_free(&r);
  free(buf);
  return 0;
}

VTG_TEST(zero_len) {
  uint8_t buf[64];
  size_t n = 0;
  n += make_frame(buf + n, 0, 0);
  n += make_frame(buf + n, 0, 1);
  n += make_frame(buf + n, 2, 2);
  n += make_frame(buf + n, 0, 3);
  sink_t s = {0};
  vtg_frame_reader_t r;
  vtg_frame_reader_init(&r, 16);
  ASSERT_EQ(vtg_frame_reader_feed(&r, buf, n, on_frame, &s, NULL), 0);
  ASSERT_EQ(s.count, 4);
  ASSERT_EQ(s.lens[0], 0);
  ASSERT_EQ(s.lens[2], 2);
  ASSERT_EQ(s.lens[3], 0);
  /* and byte by byte */
  sink_t s2 = {0};
  for (size_t i = 0; i < n; i++) ASSERT_EQ(vtg_frame_reader_feed(&r, buf + i, 1, on_frame, &s2, NULL), 0);
  ASSERT_EQ(s2.count, 4);
  vtg_frame_reader_free(&r);
  return 0;
}

VTG_TEST(callback_stops) {
  uint8_t buf[64];
  size_t n = 0;
  for (int i = 0; i < 5; i++) n += make_frame(buf + n, 3, i);
  sink_t s = {0};
  s.stop_after = 2;
  vtg_frame_reader_t r;
  vtg_frame_reader_init(&r, 16);
  ASSERT_EQ(vtg_frame_reader_feed(&r, buf, n, on_frame, &s, NULL), 7);
  ASSERT_EQ(s.count, 2);
  vtg_frame_reader_free(&r);
  vtg_frame_reader_free(NULL);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(split_header) VTG_TEST_ENTRY(many_frames)
                  VTG_TEST_ENTRY(split_large) VTG_TEST_ENTRY(too_large)
                      VTG_TEST_ENTRY(zero_len) VTG_TEST_ENTRY(callback_stops))
