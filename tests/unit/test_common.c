/* buf, clock, error and log helpers of vtg_common. */
#include <uv.h>

#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

VTG_TEST(buf_basic) {
  vtg_buf_t b;
  vtg_buf_init(&b, 32);
  ASSERT_EQ(vtg_buf_appends(&b, "hello"), 0);
  ASSERT_EQ(vtg_buf_printf(&b, " %d %s", 42, "x"), 0);
  ASSERT_STR_EQ(b.data, "hello 42 x");
  ASSERT_EQ(b.len, 10);
  vtg_buf_consume(&b, 6);
  ASSERT_STR_EQ(b.data, "42 x");
  ASSERT_EQ(vtg_buf_append(&b, "0123456789012345678901234567", 28), 0); /* exactly 32 */
  ASSERT_EQ(b.len, 32);
  ASSERT_EQ(vtg_buf_append(&b, "!", 1), VTG_ELIMIT);
  ASSERT_EQ(vtg_buf_printf(&b, "%s", "!"), VTG_ELIMIT);
  ASSERT_EQ(b.len, 32);
  ASSERT_EQ(b.data[32], '\0');
  vtg_buf_reset(&b);
  ASSERT_EQ(b.len, 0);
  ASSERT_STR_EQ(b.data, "");
  /* a long printf that does not fit in the spare room */
  ASSERT_EQ(vtg_buf_printf(&b, "%030d", 7), 0);
  ASSERT_EQ(b.len, 30);
  size_t len = 0;
  char *p = vtg_buf_take(&b, &len);
  ASSERT_EQ(len, 30);
  ASSERT_EQ(strlen(p), 30);
  free(p);
  ASSERT(b.data == NULL && b.len == 0);
  p = vtg_buf_take(&b, &len); /* empty: still a string */
  ASSERT_STR_EQ(p, "");
  free(p);
  vtg_buf_free(&b);
  vtg_buf_free(&b);
  /* growth */
  vtg_buf_init(&b, 1 << 20);
  for (int i = 0; i < 10000; i++) ASSERT_EQ(vtg_buf_printf(&b, "%d,", i % 10), 0);
  ASSERT_EQ(b.len, 20000);
  vtg_buf_consume(&b, 100000);
  ASSERT_EQ(b.len, 0);
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(clock_format) {
  char buf[64];
  ASSERT_STR_EQ(vtg_clock_format_rfc3339(1795521603250000LL, buf, sizeof buf),
                "2026-11-24T12:00:03.250Z");
  ASSERT_STR_EQ(vtg_clock_format_rfc3339(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
  ASSERT_STR_EQ(vtg_clock_format_rfc3339(951782400999999LL, buf, sizeof buf),
                "2000-02-29T00:00:00.999Z");
  ASSERT_STR_EQ(vtg_clock_format_rfc3339(-1000, buf, sizeof buf), "1969-12-31T23:59:59.999Z");
  vtg_clock_format_rfc3339(INT64_MIN, buf, sizeof buf); /* must not crash */
  vtg_clock_format_rfc3339(INT64_MAX, buf, sizeof buf);
  int64_t now = vtg_clock_wall_us();
  ASSERT(now > 1700000000000000LL);
  int64_t m1 = vtg_clock_mono_us(), m2 = vtg_clock_mono_us();
  ASSERT(m2 >= m1);
  return 0;
}

VTG_TEST(clock_parse) {
  static const struct { const char *s; int64_t us; } ok[] = {
      {"2026-11-24T12:00:03.250Z", 1795521603250000LL},
      {"2026-11-24T12:00:03Z", 1795521603000000LL},
      {"2026-11-24T12:00:03.2Z", 1795521603200000LL},
      {"2026-11-24T12:00:03.123456789Z", 1795521603123456LL},
      {"2026-11-24T12:00:03.250+00:00", 1795521603250000LL},
      {"2026-11-24T14:00:03.250+02:00", 1795521603250000LL},
      {"2026-11-24T07:30:03.250-04:30", 1795521603250000LL},
      {"1970-01-01T00:00:00Z", 0},
      {"2000-02-29T00:00:00.999999Z", 951782400999999LL},
      {"1969-12-31T23:59:59.999Z", -1000},
  };
  static const char *const bad[] = {
      "", "2026-11-24", "2026-11-24T12:00:03", "2026-11-24T12:00:03.Z",
      "2026-11-24T12:00:03.1234567890Z", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
      "2026-11-24T24:00:00Z", "2026-11-24T12:00:03Zx", "2026-11-24T12:00:03+0000",
      "26-11-24T12:00:03Z", "2026-11-24T12:00:03.25ZZ"};
  for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
    int64_t v = 0;
    if (vtg_clock_parse_rfc3339(ok[k].s, &v) != 0 || v != ok[k].us)
      fprintf(stderr, "case '%s' -> %lld\n", ok[k].s, (long long)v);
    ASSERT_EQ(vtg_clock_parse_rfc3339(ok[k].s, &v), 0);
    ASSERT_EQ(v, ok[k].us);
  }
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int64_t v = 0;
    if (vtg_clock_parse_rfc3339(bad[k], &v) != VTG_EINVAL) fprintf(stderr, "case '%s'\n", bad[k]);
    ASSERT_EQ(vtg_clock_parse_rfc3339(bad[k], &v), VTG_EINVAL);
  }
  /* format -> parse round trip at ms resolution */
  for (int64_t t = -86400000000LL * 400; t < 86400000000LL * 365 * 100; t += 86399999000LL * 37) {
    char buf[64];
    int64_t v;
    ASSERT_EQ(vtg_clock_parse_rfc3339(vtg_clock_format_rfc3339(t, buf, sizeof buf), &v), 0);
    ASSERT_EQ(v, t);
  }
  return 0;
}

VTG_TEST(errors) {
  ASSERT_STR_EQ(vtg_strerror(0), "success");
  ASSERT_STR_EQ(vtg_strerror(VTG_EFRAME_TOO_LARGE), "frame too large");
  ASSERT_STR_EQ(vtg_strerror(VTG_EHTTP), "HTTP request failed");
  ASSERT_STR_EQ(vtg_strerror(UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
  ASSERT_STR_EQ(vtg_strerror(-UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
  ASSERT(vtg_strerror(VTG__ERR_BASE - 999) != NULL);
  for (int e = VTG_EHTTP; e <= VTG_ENOMEM; e++) ASSERT(strcmp(vtg_strerror(e), "unknown vantage error") != 0);
  return 0;
}

VTG_TEST(log_levels) {
  enum vtg_log_level l;
  ASSERT_EQ(vtg_log_parse_level("debug", &l), 0);
  ASSERT_EQ(l, VTG_LOG_DEBUG);
  ASSERT_EQ(vtg_log_parse_level("error", &l), 0);
  ASSERT_EQ(l, VTG_LOG_ERROR);
  ASSERT_EQ(vtg_log_parse_level("loud", &l), VTG_EINVAL);
  ASSERT_EQ(vtg_log_parse_level(NULL, &l), VTG_EINVAL);
  vtg_log_set_level(VTG_LOG_WARN);
  VTG_INFO("not shown %d", 1);
  VTG_WARN("shown %s", "once");
  char big[5000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  VTG_ERROR("%s", big); /* truncated, not crashed */
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(buf_basic) VTG_TEST_ENTRY(clock_format) VTG_TEST_ENTRY(clock_parse)
                  VTG_TEST_ENTRY(errors) VTG_TEST_ENTRY(log_levels))
