/* The CLI's pure parts: duration and time text, the timeline chart, and
 * argument handling (exit codes of usage errors and --help, which never
 * reach the network). Times are rendered in a fixed zone (TZ set here). */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "test.h"
#include "vtg/clock.h"
#include "vtg/error.h"

static int64_t T(const char *rfc3339) {
  int64_t t = 0;
  if (vtg_clock_parse_rfc3339(rfc3339, &t) != 0) abort();
  return t;
}

static void zone(const char *tz) {
  setenv("TZ", tz, 1);
  tzset();
}

#define DUR(secs, want)                            \
  do {                                             \
    char txt_[64];                                   \
    vtg_cli_fmt_duration((secs), txt_, sizeof txt_);   \
    ASSERT_STR_EQ(txt_, want);                       \
  } while (0)

VTG_TEST(duration_text) {
  DUR(0, "0 s");
  DUR(-5, "0 s");
  DUR(NAN, "0 s");
  DUR(0.25, "250 ms");
  DUR(0.9996, "1 s");
  DUR(1.5, "1.5 s");
  DUR(2.0, "2 s");
  DUR(45, "45 s");
  DUR(59.6, "1 min");
  DUR(60, "1 min");
  DUR(725, "12 min 5 s");
  DUR(3600, "1 h");
  DUR(3 * 3600 + 5 * 60 + 40, "3 h 5 min");
  DUR(7200, "2 h");
  DUR(86400, "1 d");
  DUR(2 * 86400 + 3 * 3600, "2 d 3 h");
  return 0;
}

#define AGO(t, now, want)                              \
  do {                                                 \
    char txt_[64];                                       \
    vtg_cli_fmt_ago((t), (now), txt_, sizeof txt_);        \
    ASSERT_STR_EQ(txt_, want);                           \
  } while (0)

VTG_TEST(relative_time) {
  int64_t now = T("2026-11-24T12:00:00Z"), s = 1000000;
  AGO(now, now, "just now");
  AGO(now - 999999, now, "just now");
  AGO(now + 500000, now, "just now");
  AGO(now - 45 * s, now, "45 s ago");
  AGO(now - (12 * 60 + 50) * s, now, "12 min ago");
  AGO(now - (3 * 3600 + 5 * 60 + 59) * s, now, "3 h 5 min ago");
  AGO(now - 2 * 3600 * s, now, "2 h ago");
  AGO(now - (2 * 86400 + 3 * 3600) * s, now, "2 d 3 h ago");
  AGO(now + 12 * 60 * s, now, "in 12 min");
  {
    char b[64]; /* absurd input: no overflow, still text */
    vtg_cli_fmt_ago(INT64_MIN / 2, now, b, sizeof b);
    ASSERT(strlen(b) > 4 && strcmp(b + strlen(b) - 4, " ago") == 0);
    vtg_cli_fmt_ago(INT64_MAX, INT64_MIN, b, sizeof b);
    ASSERT(strncmp(b, "in ", 3) == 0);
  }
  return 0;
}

#define WHEN(t, now, want)                             \
  do {                                                 \
    char txt_[96];                                       \
    vtg_cli_fmt_time((t), (now), txt_, sizeof txt_);       \
    ASSERT_STR_EQ(txt_, want);                           \
  } while (0)

VTG_TEST(local_time) {
  zone("UTC");
  WHEN(T("2026-11-24T12:04:31.400Z"), T("2026-11-24T12:16:31Z"), "12:04:31 (12 min ago)");
  WHEN(T("2026-11-23T12:04:31Z"), T("2026-11-24T12:16:31Z"),
       "2026-11-23 12:04:31 (1 d ago)");
  WHEN(T("2026-11-24T14:32:00Z"), T("2026-11-24T12:32:00Z"), "14:32:00 (in 2 h)");
  /* A POSIX zone two hours east of UTC (no tz database needed): local
   * clock and local date. */
  zone("XST-2");
  WHEN(T("2026-11-24T12:04:31Z"), T("2026-11-24T12:16:31Z"), "14:04:31 (12 min ago)");
  WHEN(T("2026-11-24T23:30:00Z"), T("2026-11-24T21:00:00Z"),
       "2026-11-25 01:30:00 (in 2 h 30 min)");
  zone("UTC");
  return 0;
}

/* A two-wave incident: us-east down in both waves, us-west only in the
 * first, eu-west only in the second; ten minutes between the waves. */
static const char two_waves_spans[] =
    "{\"id\":\"inc-1\",\"check\":\"shop-web\","
    "\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
    "\"regions\":["
    "{\"region\":\"us-east\",\"onset\":\"2026-11-24T12:00:00.000Z\","
    "\"resolved\":\"2026-11-24T12:40:00.000Z\",\"spans\":["
    "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:15:00.000Z\"},"
    "{\"onset\":\"2026-11-24T12:25:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\"}]},"
    "{\"region\":\"us-west\",\"onset\":\"2026-11-24T12:02:00.000Z\","
    "\"resolved\":\"2026-11-24T12:15:00.000Z\",\"spans\":["
    "{\"onset\":\"2026-11-24T12:02:00.000Z\",\"resolved\":\"2026-11-24T12:15:00.000Z\"}]},"
    "{\"region\":\"eu-west\",\"onset\":\"2026-11-24T12:25:00.000Z\","
    "\"resolved\":\"2026-11-24T12:38:00.000Z\",\"spans\":["
    "{\"onset\":\"2026-11-24T12:25:00.000Z\",\"resolved\":\"2026-11-24T12:38:00.000Z\"}]}],"
    "\"waves\":["
    "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:15:00.000Z\","
    "\"cause\":\"timeout\",\"regions\":[\"us-east\",\"us-west\"]},"
    "{\"onset\":\"2026-11-24T12:25:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
    "\"cause\":\"timeout\",\"regions\":[\"us-east\",\"eu-west\"]}]}";

/* The same incident as the JSON was before regions[].spans: the chart
 * derives each region's down time from the waves it is listed in. */
static const char two_waves_no_spans[] =
    "{\"id\":\"inc-1\",\"check\":\"shop-web\","
    "\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
    "\"regions\":["
    "{\"region\":\"us-east\",\"onset\":\"2026-11-24T12:00:00.000Z\","
    "\"resolved\":\"2026-11-24T12:40:00.000Z\"},"
    "{\"region\":\"us-west\",\"onset\":\"2026-11-24T12:02:00.000Z\","
    "\"resolved\":\"2026-11-24T12:15:00.000Z\"},"
    "{\"region\":\"eu-west\",\"onset\":\"2026-11-24T12:25:00.000Z\","
    "\"resolved\":\"2026-11-24T12:38:00.000Z\"}],"
    "\"waves\":["
    "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:15:00.000Z\","
    "\"cause\":\"timeout\",\"regions\":[\"us-east\",\"us-west\"]},"
    "{\"onset\":\"2026-11-24T12:25:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
    "\"cause\":\"timeout\",\"regions\":[\"us-east\",\"eu-west\"]}]}";

/* 54 columns: 7 for the labels, 2 blanks, 44 chart columns (one short of
 * the width), so with 2 min of margin on each side one column is exactly
 * one minute from 11:58 to 12:42 and every cell can be checked by hand:
 * us-east is down in columns 2-16 (12:00-12:15) and 27-41 (12:25-12:40),
 * the gap between the waves is columns 17-26. */
static const char two_waves_chart[] =
    "us-east  ..###############..........###############..\n"
    "us-west  ....#############...........................\n"
    "eu-west  ...........................#############....\n"
    "waves      111111111111111          222222222222222\n"
    "         |-+---------+---------+---------+---------+|\n"
    "         11:58:00  12:10     12:20           12:42:00\n"
    "         # down  . up  (one column = 1 min)\n";

static int render(const char *json, int width, int64_t now, int color, vtg_buf_t *out) {
  vtg_json_t *inc = NULL;
  char err[128];
  int rc;
  if (vtg_json_parse(json, strlen(json), &inc, err, sizeof err) != 0) {
    fprintf(stderr, "bad test JSON: %s\n", err);
    return -1;
  }
  vtg_buf_init(out, 1 << 20);
  rc = vtg_cli_timeline_chart(inc, width, now, color, out);
  vtg_json_free(inc);
  return rc;
}

VTG_TEST(chart_two_waves) {
  vtg_buf_t b;
  zone("UTC");
  ASSERT_EQ(render(two_waves_spans, 54, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  ASSERT_STR_EQ(b.data, two_waves_chart);
  vtg_buf_free(&b);
  /* Without spans the same picture comes from the waves. */
  ASSERT_EQ(render(two_waves_no_spans, 54, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  ASSERT_STR_EQ(b.data, two_waves_chart);
  vtg_buf_free(&b);
  return 0;
}

/* Unknown minutes from the check's history (GET /api/v1/history) are
 * drawn '?' where the region is not down; down wins; a minute not yet
 * complete, and other regions' minutes, change nothing; the legend names
 * '?' only when one is drawn. */
VTG_TEST(chart_unknown) {
  static const char hist_json[] =
      "{\"check\":\"shop-web\",\"step_s\":60,\"regions\":["
      "{\"region\":\"eu-west\",\"cells\":["
      "{\"t\":\"2026-11-24T12:04:00.000Z\",\"state\":\"up\"},"
      "{\"t\":\"2026-11-24T12:05:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:06:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:07:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:08:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:09:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:30:00.000Z\",\"state\":\"unknown\"}]},"
      "{\"region\":\"us-east\",\"cells\":["
      "{\"t\":\"2026-11-24T12:20:00.000Z\",\"state\":\"unknown\"},"
      "{\"t\":\"2026-11-24T12:41:30.000Z\",\"state\":\"unknown\"}]},"
      "{\"region\":\"ap-south\",\"cells\":["
      "{\"t\":\"2026-11-24T12:00:00.000Z\",\"state\":\"unknown\"}]}]}";
  vtg_json_t *inc = NULL, *hist = NULL;
  vtg_buf_t b;
  char err[128];
  zone("UTC");
  ASSERT_EQ(vtg_json_parse(two_waves_spans, strlen(two_waves_spans), &inc, err, sizeof err), 0);
  ASSERT_EQ(vtg_json_parse(hist_json, strlen(hist_json), &hist, err, sizeof err), 0);
  vtg_buf_init(&b, 1 << 20);
  /* now 12:42:10: the 12:41:30 cell ends after now and is left out. */
  ASSERT_EQ(vtg_cli_timeline_chart_hist(inc, hist, 54, T("2026-11-24T12:42:10Z"), 0, &b), 0);
  ASSERT(strstr(b.data, "us-east  ..###############.....?....###############..\n") != NULL);
  ASSERT(strstr(b.data, "us-west  ....#############...........................\n") != NULL);
  ASSERT(strstr(b.data, "eu-west  .......?????...............#############....\n") != NULL);
  ASSERT(strstr(b.data, "? unknown") != NULL);
  vtg_buf_free(&b);
  /* No history: the plain chart, no '?' in the legend. */
  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_cli_timeline_chart_hist(inc, NULL, 54, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  ASSERT_STR_EQ(b.data, two_waves_chart);
  vtg_buf_free(&b);
  vtg_json_free(hist);
  vtg_json_free(inc);
  return 0;
}

/* Every line fits the width (one column to spare), and the gap between
 * the waves stays visible at any width down to the narrowest. */
VTG_TEST(chart_fits_width) {
  static const int widths[] = {20, 33, 54, 80, 132, 300};
  zone("UTC");
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    vtg_buf_t b;
    const char *line;
    ASSERT_EQ(render(two_waves_spans, widths[i], T("2026-11-24T13:00:00Z"), 0, &b), 0);
    for (line = b.data; *line;) {
      const char *nl = strchr(line, '\n');
      ASSERT(nl != NULL);
      if ((int)(nl - line) > widths[i] - 1) {
        fprintf(stderr, "width %d: line too long: %.*s\n", widths[i], (int)(nl - line), line);
        return 1;
      }
      line = nl + 1;
    }
    /* The us-east row: down, then up (the gap), then down again. */
    ASSERT(strncmp(b.data, "us-east  ", 9) == 0);
    {
      const char *row = b.data + 9, *first = strchr(row, '#');
      const char *gap = first ? strchr(first, '.') : NULL;
      const char *second = gap ? strchr(gap, '#') : NULL;
      const char *eol = strchr(row, '\n');
      ASSERT(first != NULL && gap != NULL && second != NULL && second < eol);
    }
    vtg_buf_free(&b);
  }
  return 0;
}

/* Color: runs of '#' in red, nothing else colored; without color not a
 * single escape byte. */
VTG_TEST(chart_color) {
  vtg_buf_t b;
  zone("UTC");
  ASSERT_EQ(render(two_waves_spans, 54, T("2026-11-24T13:00:00Z"), 1, &b), 0);
  ASSERT(strstr(b.data, "us-east  ..\033[31m###############\033[0m..........\033[31m"
                        "###############\033[0m..\n") != NULL);
  ASSERT(strstr(b.data, "\033[31m#\033[0m down") != NULL);
  vtg_buf_free(&b);
  ASSERT_EQ(render(two_waves_spans, 54, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  ASSERT(strchr(b.data, '\033') == NULL);
  vtg_buf_free(&b);
  return 0;
}

/* An open incident runs to now: the region still down reaches the right
 * edge; a long region name is cut; control bytes in names never reach
 * the terminal. */
VTG_TEST(chart_open_incident) {
  static const char open_inc[] =
      "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":null,\"regions\":["
      "{\"region\":\"us-east\",\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":null,"
      "\"spans\":[{\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:10:00.000Z\"},"
      "{\"onset\":\"2026-11-24T12:20:00.000Z\",\"resolved\":null}]},"
      "{\"region\":\"a-region-with-a-very-long-name\\u001b[2J\","
      "\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:10:00.000Z\"}],"
      "\"waves\":[{\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:10:00.000Z\","
      "\"regions\":[\"us-east\",\"a-region-with-a-very-long-name\\u001b[2J\"]},"
      "{\"onset\":\"2026-11-24T12:20:00.000Z\",\"resolved\":null,\"regions\":[\"us-east\"]}]}";
  vtg_buf_t b;
  const char *row, *eol;
  zone("UTC");
  ASSERT_EQ(render(open_inc, 80, T("2026-11-24T12:30:00Z"), 0, &b), 0);
  row = strstr(b.data, "us-east");
  ASSERT(row != NULL);
  eol = strchr(row, '\n');
  ASSERT(eol != NULL && eol[-1] == '#');
  ASSERT(strstr(b.data, "a-region-with-a-very-lon  ") != NULL); /* cut to 24 */
  ASSERT(strchr(b.data, '\033') == NULL);
  ASSERT(strstr(b.data, "still open") != NULL);
  ASSERT(strstr(b.data, "12:30:00\n") != NULL); /* the axis ends now */
  vtg_buf_free(&b);
  return 0;
}

/* Region names in wide characters take two columns each: the rows still
 * start in one column, and a long name is cut at a character boundary. */
VTG_TEST(chart_wide_names) {
  /* "東京" (Tokyo, 4 columns) and 13 times "東" (26 columns, cut to 12 = 24). */
#define TOKYO "\xe6\x9d\xb1\xe4\xba\xac"
#define EAST "\xe6\x9d\xb1"
#define EAST13 EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST
  static const char inc[] =
      "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
      "\"regions\":[{\"region\":\"" TOKYO "\",\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:40:00.000Z\"},"
      "{\"region\":\"us-east\",\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:40:00.000Z\"}],"
      "\"waves\":[{\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:40:00.000Z\",\"regions\":[\"" TOKYO "\",\"us-east\"]}]}";
  static const char inc_long[] =
      "{\"onset\":\"2026-11-24T12:00:00.000Z\",\"resolved\":\"2026-11-24T12:40:00.000Z\","
      "\"regions\":[{\"region\":\"" EAST13 "\",\"onset\":\"2026-11-24T12:00:00.000Z\","
      "\"resolved\":\"2026-11-24T12:40:00.000Z\"}],\"waves\":[]}";
  vtg_buf_t b;
  zone("UTC");
  ASSERT_EQ(render(inc, 54, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  /* "東京" + 3 blanks fills the 7 columns of "us-east"; then 2 blanks. */
  ASSERT(strncmp(b.data, TOKYO "     ..####", strlen(TOKYO) + 9) == 0);
  ASSERT(strstr(b.data, "\nus-east  ..####") != NULL);
  vtg_buf_free(&b);
  ASSERT_EQ(render(inc_long, 80, T("2026-11-24T13:00:00Z"), 0, &b), 0);
  ASSERT(strncmp(b.data, EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST EAST "  .",
                 12 * 3 + 3) == 0);
  vtg_buf_free(&b);
#undef TOKYO
#undef EAST
#undef EAST13
  return 0;
}

VTG_TEST(chart_bad_input) {
  vtg_buf_t b;
  ASSERT_EQ(render("{\"onset\":null,\"regions\":[],\"waves\":[]}", 80, 0, 0, &b), VTG_EINVAL);
  vtg_buf_free(&b);
  ASSERT_EQ(render("[1,2]", 80, 0, 0, &b), VTG_EINVAL);
  vtg_buf_free(&b);
  /* No regions, no waves: still an axis, no crash. */
  ASSERT_EQ(render("{\"onset\":\"2026-11-24T12:00:00Z\",\"resolved\":\"2026-11-24T12:00:00Z\"}",
                   80, T("2026-11-24T13:00:00Z"), 0, &b),
            0);
  ASSERT(strstr(b.data, "one column") != NULL);
  vtg_buf_free(&b);
  return 0;
}

/* Runs the CLI on a NULL-terminated list of arguments. */
static int run(const char *const *args) {
  char *argv[16];
  int argc = 0;
  while (args[argc] != NULL && argc < 15) {
    argv[argc] = (char *)args[argc];
    argc++;
  }
  argv[argc] = NULL;
  return vtg_cli_run(argc, argv);
}

#define RUN(want, ...)                                         \
  do {                                                         \
    static const char *const a_[] = {__VA_ARGS__, NULL};       \
    int rc_ = run(a_);                                         \
    if (rc_ != (want)) {                                       \
      fprintf(stderr, "%s:%d: exit %d, want %d for:", __FILE__, __LINE__, rc_, want); \
      for (size_t i_ = 0; a_[i_]; i_++) fprintf(stderr, " %s", a_[i_]); \
      fputc('\n', stderr);                                     \
      return 1;                                                \
    }                                                          \
  } while (0)

/* Usage errors exit 2 and --help exits 0, all before any request. */
VTG_TEST(args_exit_codes) {
  unsetenv("VANTAGE_COORDINATOR");
  RUN(0, "status", "--help");
  RUN(0, "outages", "-h");
  RUN(0, "timeline", "--help");
  RUN(0, "agents", "--help");
  RUN(0, "checks", "--help");
  RUN(0, "silence", "--help");
  RUN(2, "nosuch");
  RUN(2, "status", "--bogus");
  RUN(2, "status", "extra");
  RUN(2, "agents", "--json=yes");
  RUN(2, "checks", "--since", "1h");
  RUN(2, "outages", "--since");
  RUN(2, "outages", "--since", "soon");
  RUN(2, "outages", "--check");
  RUN(2, "outages", "--check=");
  RUN(2, "status", "--coordinator");
  RUN(2, "status", "--coordinator", "ftp://example");
  RUN(2, "timeline", "inc-1", "inc-2");
  RUN(2, "timeline", "inc-1", "--check", "shop-web");
  RUN(2, "silence");
  RUN(2, "silence", "shop-web");
  RUN(2, "silence", "--for", "2h");
  RUN(2, "silence", "shop-web", "--for", "0s");
  RUN(2, "silence", "shop-web", "--for", "2x");
  RUN(2, "silence", "shop-web", "--for", "2h", "--list");
  RUN(2, "silence", "--list", "--end", "sil-1");
  RUN(2, "silence", "--end");
  RUN(2, "silence", "--list", "--reason", "x");
  /* Options are checked in order, so --help after a valid option exits 0
   * and after an invalid one 2: this reaches the duration parsing. */
  RUN(0, "outages", "--since", "1d", "--help");
  RUN(0, "outages", "--since", "2d12h", "--help");
  RUN(0, "outages", "--since=90s", "--check=shop-web", "--help");
  RUN(2, "outages", "--since", "1d2", "--help");
  RUN(0, "silence", "shop-web", "--for", "1d", "--reason", "deploy", "--help");
  RUN(2, "silence", "--", "shop-web", "--for");
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(duration_text) VTG_TEST_ENTRY(relative_time)
                  VTG_TEST_ENTRY(local_time) VTG_TEST_ENTRY(chart_two_waves) VTG_TEST_ENTRY(chart_unknown)
                      VTG_TEST_ENTRY(chart_fits_width) VTG_TEST_ENTRY(chart_color)
                          VTG_TEST_ENTRY(chart_open_incident) VTG_TEST_ENTRY(chart_wide_names)
                              VTG_TEST_ENTRY(chart_bad_input)
                              VTG_TEST_ENTRY(args_exit_codes))
