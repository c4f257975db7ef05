/* Wall and monotonic clocks, and RFC 3339 formatting/parsing in UTC. The
 * civil-date conversions are done by hand (Howard Hinnant's algorithms) so
 * that parsing does not depend on the process's TZ. */
#include "vtg/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vtg/error.h"

int64_t vtg_clock_wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t vtg_clock_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* Floor division keeps pre-1970 times correct (the fraction stays
 * positive). Years outside 0..9999 are clamped into the field width only by
 * snprintf truncation; they never crash. */
char *vtg_clock_format_rfc3339(int64_t unix_us, char *buf, size_t size) {
  int64_t secs, days, rem, y;
  int m, d, ms;

  if (buf == NULL || size == 0) return buf;
  secs = unix_us / 1000000;
  int64_t frac = unix_us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  ms = (int)(frac / 1000);
  days = secs / 86400;
  rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  civil_from_days(days, &y, &m, &d);
  snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
           (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ms);
  return buf;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char ch = (*p)[i];
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Accepts "YYYY-MM-DDTHH:MM:SS[.fraction]" followed by 'Z' or a numeric
 * offset "+HH:MM"/"-HH:MM". The fraction may have 0..9 digits (a '.' with
 * no digit is refused); digits past microseconds are dropped. */
int vtg_clock_parse_rfc3339(const char *s, int64_t *unix_us) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int Y, M, D, h, mi, sec, us = 0;
  const char *p = s;

  if (s == NULL || unix_us == NULL) return VTG_EINVAL;
  if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
      digits(&p, 2, &D))
    return VTG_EINVAL;
  if (*p != 'T' && *p != 't' && *p != ' ') return VTG_EINVAL;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
      digits(&p, 2, &sec))
    return VTG_EINVAL;
  if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 60) return VTG_EINVAL;
  if (D > mdays[M - 1] + (M == 2 && is_leap(Y))) return VTG_EINVAL;
  if (*p == '.') {
    int nd = 0, scale = 100000;
    p++;
    while (*p >= '0' && *p <= '9') {
      if (nd >= 9) return VTG_EINVAL;
      us += (*p - '0') * scale;
      scale /= 10;
      nd++;
      p++;
    }
    if (nd == 0) return VTG_EINVAL;
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
      return VTG_EINVAL;
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return VTG_EINVAL;
  }
  if (*p != '\0') return VTG_EINVAL;
  int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  *unix_us = secs * 1000000 + us;
  return 0;
}
