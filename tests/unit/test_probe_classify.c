/* The curl -> outcome/error-class mapping of probe/http_check.c, and the
 * phase arithmetic of probe/sched.c: plain data in, plain data out. */
#include <errno.h>

#include "internal.h"
#include "test.h"

static const vtg_status_range_t only_204[] = {{204, 204}};

static const struct {
  const char *what;
  vtg_http_facts_t f;
  Vantage__Outcome outcome;
  Vantage__ErrorClass cls;
} cases[] = {
    {"200 ok", {.code = CURLE_OK, .http_status = 200, .total_us = 1000},
     VANTAGE__OUTCOME__OUTCOME_UP, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE},
    {"301 ok by default", {.code = CURLE_OK, .http_status = 301},
     VANTAGE__OUTCOME__OUTCOME_UP, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE},
    {"503", {.code = CURLE_OK, .http_status = 503},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX},
    {"404", {.code = CURLE_OK, .http_status = 404},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_4XX},
    {"200 not in [204]", {.code = CURLE_OK, .http_status = 200, .accept = only_204, .n_accept = 1},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION},
    {"204 in [204]", {.code = CURLE_OK, .http_status = 204, .accept = only_204, .n_accept = 1},
     VANTAGE__OUTCOME__OUTCOME_UP, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE},
    {"slow", {.code = CURLE_OK, .http_status = 200, .total_us = 2500000, .max_latency_ms = 2000},
     VANTAGE__OUTCOME__OUTCOME_DEGRADED, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE},
    {"just in time", {.code = CURLE_OK, .http_status = 200, .total_us = 2000000, .max_latency_ms = 2000},
     VANTAGE__OUTCOME__OUTCOME_UP, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE},
    {"slow 500 is 5xx", {.code = CURLE_OK, .http_status = 500, .total_us = 9000000, .max_latency_ms = 1},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX},
    {"dns", {.code = CURLE_COULDNT_RESOLVE_HOST},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS},
    {"refused", {.code = CURLE_COULDNT_CONNECT, .os_errno = ECONNREFUSED},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_REFUSED},
    {"unreachable", {.code = CURLE_COULDNT_CONNECT, .os_errno = EHOSTUNREACH},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT},
    {"timeout before connect", {.code = CURLE_OPERATION_TIMEDOUT, .connect_time_us = 0},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT},
    {"timeout after connect", {.code = CURLE_OPERATION_TIMEDOUT, .connect_time_us = 1200},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_TIMEOUT},
    {"tls handshake", {.code = CURLE_SSL_CONNECT_ERROR},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {"bad cert", {.code = CURLE_PEER_FAILED_VERIFICATION},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {"empty reply", {.code = CURLE_GOT_NOTHING},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {"recv error", {.code = CURLE_RECV_ERROR, .os_errno = ECONNRESET},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {"send reset", {.code = CURLE_SEND_ERROR, .os_errno = ECONNRESET},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {"send other", {.code = CURLE_SEND_ERROR, .os_errno = 0},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER},
    {"partial reset", {.code = CURLE_PARTIAL_FILE, .os_errno = ECONNRESET},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {"partial short", {.code = CURLE_PARTIAL_FILE},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER},
    {"bad url", {.code = CURLE_URL_MALFORMAT},
     VANTAGE__OUTCOME__OUTCOME_DOWN, VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER},
};

VTG_TEST(classify_table) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Vantage__Outcome o = VANTAGE__OUTCOME__OUTCOME_UNSPECIFIED;
    Vantage__ErrorClass c = VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
    vtg_http_classify(&cases[i].f, &o, &c);
    if (o != cases[i].outcome || c != cases[i].cls) {
      fprintf(stderr, "case '%s': got outcome %d class %d, want %d %d\n", cases[i].what, o, c,
              cases[i].outcome, cases[i].cls);
      return 1;
    }
  }
  return 0;
}

VTG_TEST(accept_ranges) {
  static const vtg_status_range_t r[] = {{200, 299}, {404, 404}};
  vtg_http_facts_t f = {.code = CURLE_OK, .http_status = 404, .accept = r, .n_accept = 2};
  Vantage__Outcome o;
  Vantage__ErrorClass c;
  vtg_http_classify(&f, &o, &c);
  ASSERT_EQ(o, VANTAGE__OUTCOME__OUTCOME_UP);
  f.http_status = 302;
  vtg_http_classify(&f, &o, &c);
  ASSERT_EQ(o, VANTAGE__OUTCOME__OUTCOME_DOWN);
  ASSERT_EQ(c, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION);
  return 0;
}

VTG_TEST(sched_next_due) {
  /* interval 30 s, phase 7 s: turns at ...:07, ...:37 */
  ASSERT_EQ(vtg_sched_next_due(0, 30000, 7000), 7000000);
  ASSERT_EQ(vtg_sched_next_due(7000000, 30000, 7000), 37000000);
  ASSERT_EQ(vtg_sched_next_due(6999999, 30000, 7000), 7000000);
  ASSERT_EQ(vtg_sched_next_due(1700000000123456LL, 30000, 7000) % 30000000, 7000000);
  int64_t now = 1700000000123456LL;
  int64_t d = vtg_sched_next_due(now, 30000, 7000);
  ASSERT(d > now && d - now <= 30000000);
  /* a phase past the interval wraps */
  ASSERT_EQ(vtg_sched_next_due(0, 1000, 2500), 500000);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(classify_table) VTG_TEST_ENTRY(accept_ranges)
                  VTG_TEST_ENTRY(sched_next_due))
