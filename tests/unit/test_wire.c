/* Envelope encode/decode, the unpacking arena, enum names. */
#include "test.h"
#include "vtg/error.h"
#include "vtg/frame.h"
#include "vtg/wire.h"

#define N_RESULTS 5000

/* Builds a ResultBatch envelope with n results; everything heap-owned by
 * the returned arrays so the test can free them. */
typedef struct {
  Vantage__Envelope env;
  Vantage__ResultBatch batch;
  Vantage__Result *res;
  Vantage__Result **ptrs;
} batch_t;

static void batch_make(batch_t *b, size_t n) {
  vantage__envelope__init(&b->env);
  vantage__result_batch__init(&b->batch);
  b->res = calloc(n, sizeof *b->res);
  b->ptrs = calloc(n, sizeof *b->ptrs);
  for (size_t i = 0; i < n; i++) {
    vantage__result__init(&b->res[i]);
    b->res[i].check_id = (uint32_t)(i % 17);
    b->res[i].start_us = 1700000000000000LL + (int64_t)i * 1000;
    b->res[i].total_us = (uint32_t)(i * 3);
    b->res[i].http_status = 200;
    b->res[i].outcome = i % 3 ? VANTAGE__OUTCOME__OUTCOME_UP : VANTAGE__OUTCOME__OUTCOME_DOWN;
    b->res[i].error_class = i % 3 ? VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE
                                  : VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX;
    b->res[i].resolved_addr = (char *)"127.0.0.1";
    b->res[i].error_detail = (char *)(i % 3 ? "" : "The requested URL returned error: 503");
    b->ptrs[i] = &b->res[i];
  }
  b->batch.spool_epoch = 42;
  b->batch.first_seq = 1000;
  b->batch.complete_before_us = 1700000000000000LL;
  b->batch.n_results = n;
  b->batch.results = b->ptrs;
  b->env.msg_case = VANTAGE__ENVELOPE__MSG_RESULT_BATCH;
  b->env.result_batch = &b->batch;
}

static void batch_free(batch_t *b) {
  free(b->res);
  free(b->ptrs);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

VTG_TEST(round_trip) {
  batch_t b;
  uint8_t *buf = NULL;
  size_t len = 0;
  vtg_arena_t a;
  Vantage__Envelope *out = NULL;

  batch_make(&b, N_RESULTS);
  ASSERT_EQ(vtg_wire_encode(&b.env, VTG_FRAME_DEFAULT_MAX, &buf, &len), 0);
  ASSERT(len > VTG_FRAME_HEADER);
  ASSERT_EQ(be32(buf), len - VTG_FRAME_HEADER);
  vtg_arena_init(&a, 64u << 20);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), 0);
  ASSERT_EQ(out->msg_case, VANTAGE__ENVELOPE__MSG_RESULT_BATCH);
  Vantage__ResultBatch *rb = out->result_batch;
  ASSERT_EQ(rb->spool_epoch, 42);
  ASSERT_EQ(rb->first_seq, 1000);
  ASSERT_EQ(rb->complete_before_us, 1700000000000000LL);
  ASSERT_EQ(rb->n_results, N_RESULTS);
  for (size_t i = 0; i < N_RESULTS; i++) {
    ASSERT_EQ(rb->results[i]->check_id, i % 17);
    ASSERT_EQ(rb->results[i]->start_us, 1700000000000000LL + (int64_t)i * 1000);
    ASSERT_EQ(rb->results[i]->total_us, i * 3);
    ASSERT_EQ(rb->results[i]->outcome, b.res[i].outcome);
    ASSERT_EQ(rb->results[i]->error_class, b.res[i].error_class);
    ASSERT_STR_EQ(rb->results[i]->resolved_addr, "127.0.0.1");
    ASSERT_STR_EQ(rb->results[i]->error_detail, b.res[i].error_detail);
  }
  ASSERT(a.used_total <= a.limit);
  vtg_arena_free(&a);
  free(buf);
  batch_free(&b);
  return 0;
}

VTG_TEST(small_messages) {
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  Vantage__Hello hello = VANTAGE__HELLO__INIT;
  uint8_t *buf = NULL;
  size_t len = 0;
  vtg_arena_t a;
  Vantage__Envelope *out = NULL;

  hello.protocol_version = VTG_PROTOCOL_VERSION;
  hello.agent_id = (char *)"us-east-1";
  hello.region = (char *)"us-east";
  hello.lat = 40.7;
  hello.spool_epoch = 0xdeadbeefcafeULL;
  env.msg_case = VANTAGE__ENVELOPE__MSG_HELLO;
  env.hello = &hello;
  ASSERT_EQ(vtg_wire_encode(&env, 0, &buf, &len), 0);
  vtg_arena_init(&a, 0);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), 0);
  ASSERT_EQ(out->msg_case, VANTAGE__ENVELOPE__MSG_HELLO);
  ASSERT_STR_EQ(out->hello->agent_id, "us-east-1");
  ASSERT(out->hello->lat == 40.7);
  ASSERT_EQ(out->hello->spool_epoch, 0xdeadbeefcafeULL);
  free(buf);

  /* an empty envelope is 0 bytes and decodes to MSG__NOT_SET */
  Vantage__Envelope empty = VANTAGE__ENVELOPE__INIT;
  ASSERT_EQ(vtg_wire_encode(&empty, 0, &buf, &len), 0);
  ASSERT_EQ(len, 4);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, 0, &out), 0);
  ASSERT_EQ(out->msg_case, VANTAGE__ENVELOPE__MSG__NOT_SET);
  free(buf);
  vtg_arena_free(&a);
  return 0;
}

VTG_TEST(encode_too_large) {
  batch_t b;
  uint8_t *buf = NULL;
  size_t len = 0;
  batch_make(&b, 1000);
  ASSERT_EQ(vtg_wire_encode(&b.env, 1024, &buf, &len), VTG_EFRAME_TOO_LARGE);
  ASSERT(buf == NULL);
  batch_free(&b);
  return 0;
}

VTG_TEST(arena_reuse) {
  batch_t b;
  uint8_t *buf = NULL;
  size_t len = 0;
  vtg_arena_t a;
  Vantage__Envelope *out = NULL;

  batch_make(&b, 2000);
  ASSERT_EQ(vtg_wire_encode(&b.env, VTG_FRAME_DEFAULT_MAX, &buf, &len), 0);
  vtg_arena_init(&a, 0);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), 0);
  size_t held = a.used_total;
  ASSERT(held > 0);
  /* after a reset the same message needs no new chunk */
  for (int i = 0; i < 20; i++) {
    vtg_arena_reset(&a);
    ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), 0);
    ASSERT_EQ(out->result_batch->n_results, 2000);
    ASSERT_EQ(a.used_total, held);
  }
  vtg_arena_free(&a);
  vtg_arena_free(&a); /* twice is fine */
  free(buf);
  batch_free(&b);
  return 0;
}

VTG_TEST(arena_limit) {
  batch_t b;
  uint8_t *buf = NULL;
  size_t len = 0;
  vtg_arena_t a;
  Vantage__Envelope *out = NULL;

  batch_make(&b, 2000);
  ASSERT_EQ(vtg_wire_encode(&b.env, VTG_FRAME_DEFAULT_MAX, &buf, &len), 0);
  vtg_arena_init(&a, 16 * 1024);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), VTG_EDECODE);
  ASSERT(a.used_total <= 16 * 1024);
  /* the arena stays usable for small messages */
  vtg_arena_reset(&a);
  batch_free(&b);
  free(buf);
  batch_make(&b, 3);
  ASSERT_EQ(vtg_wire_encode(&b.env, VTG_FRAME_DEFAULT_MAX, &buf, &len), 0);
  ASSERT_EQ(vtg_wire_decode(&a, buf + 4, len - 4, &out), 0);
  ASSERT_EQ(out->result_batch->n_results, 3);
  /* the raw allocator refuses past the limit */
  vtg_arena_reset(&a);
  ASSERT(a.allocator.alloc(a.allocator.allocator_data, 8 * 1024) != NULL);
  ASSERT(a.allocator.alloc(a.allocator.allocator_data, 64 * 1024) == NULL);
  vtg_arena_free(&a);
  free(buf);
  batch_free(&b);
  return 0;
}

VTG_TEST(garbage) {
  vtg_arena_t a;
  Vantage__Envelope *out = NULL;
  static const uint8_t g1[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t g2[] = {0x12, 0x40, 0x08}; /* field 2 length 64, truncated */
  static const uint8_t g3[] = {0x0a, 0x03, 0x12, 0x05}; /* nested length past the end */
  vtg_arena_init(&a, 1 << 20);
  ASSERT_EQ(vtg_wire_decode(&a, g1, sizeof g1, &out), VTG_EDECODE);
  ASSERT_EQ(vtg_wire_decode(&a, g2, sizeof g2, &out), VTG_EDECODE);
  ASSERT_EQ(vtg_wire_decode(&a, g3, sizeof g3, &out), VTG_EDECODE);
  /* pseudo-random garbage never crashes */
  uint32_t x = 12345;
  uint8_t rnd[256];
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(x % sizeof rnd);
    for (size_t i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      rnd[i] = (uint8_t)(x >> 16);
    }
    vtg_arena_reset(&a);
    int rc = vtg_wire_decode(&a, rnd, n, &out);
    ASSERT(rc == 0 || rc == VTG_EDECODE);
  }
  vtg_arena_free(&a);
  return 0;
}

VTG_TEST(enum_names) {
  ASSERT_STR_EQ(vtg_wire_outcome_name(VANTAGE__OUTCOME__OUTCOME_UP), "up");
  ASSERT_STR_EQ(vtg_wire_outcome_name(VANTAGE__OUTCOME__OUTCOME_DEGRADED), "degraded");
  ASSERT_STR_EQ(vtg_wire_outcome_name(VANTAGE__OUTCOME__OUTCOME_DOWN), "down");
  ASSERT_STR_EQ(vtg_wire_outcome_name(VANTAGE__OUTCOME__OUTCOME_UNSPECIFIED), "unknown");
  static const char *const names[] = {"none", "dns", "connect_refused", "connect_timeout",
                                      "tls", "timeout", "reset", "http_5xx", "http_4xx",
                                      "assertion", "other"};
  for (int i = 0; i <= 10; i++) {
    Vantage__ErrorClass e;
    ASSERT_STR_EQ(vtg_wire_error_class_name((Vantage__ErrorClass)i), names[i]);
    ASSERT_EQ(vtg_wire_error_class_parse(names[i], &e), 0);
    ASSERT_EQ(e, i);
  }
  Vantage__ErrorClass e;
  ASSERT_EQ(vtg_wire_error_class_parse("bogus", &e), VTG_EINVAL);
  ASSERT_EQ(VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX, 7);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(round_trip) VTG_TEST_ENTRY(small_messages)
                  VTG_TEST_ENTRY(encode_too_large) VTG_TEST_ENTRY(arena_reuse)
                      VTG_TEST_ENTRY(arena_limit) VTG_TEST_ENTRY(garbage)
                          VTG_TEST_ENTRY(enum_names))
