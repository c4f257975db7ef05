/* Logging to stderr. The whole line is formatted first and written with a
 * single fprintf so that lines from different threads do not interleave. */
#include "vtg/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vtg/clock.h"
#include "vtg/error.h"

/* The one piece of global mutable state allowed: set once at start-up. */
static enum vtg_log_level log_level = VTG_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_keys[] = {"debug", "info", "warn", "error"};

void vtg_log_set_level(enum vtg_log_level level) {
  if (level < VTG_LOG_DEBUG) level = VTG_LOG_DEBUG;
  if (level > VTG_LOG_ERROR) level = VTG_LOG_ERROR;
  log_level = level;
}

int vtg_log_parse_level(const char *s, enum vtg_log_level *out) {
  if (s == NULL) return VTG_EINVAL;
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, level_keys[i]) == 0) {
      *out = (enum vtg_log_level)i;
      return 0;
    }
  }
  /* "warning" is a common spelling; accept it rather than fail a config. */
  if (strcmp(s, "warning") == 0) {
    *out = VTG_LOG_WARN;
    return 0;
  }
  return VTG_EINVAL;
}

/* Formats "TIME LEVEL message\n". Messages longer than the line buffer are
 * truncated and marked with "..." rather than split over several writes. */
void vtg_log(enum vtg_log_level level, const char *fmt, ...) {
  char ts[32];
  char msg[2048];
  va_list ap;
  int n;

  if (level < log_level) return;
  if (level < VTG_LOG_DEBUG || level > VTG_LOG_ERROR) level = VTG_LOG_ERROR;
  vtg_clock_format_rfc3339(vtg_clock_wall_us(), ts, sizeof ts);
  va_start(ap, fmt);
  n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) {
    snprintf(msg, sizeof msg, "(log format error)");
  } else if ((size_t)n >= sizeof msg) {
    memcpy(msg + sizeof msg - 4, "...", 4);
  }
  /* Drop one trailing newline so callers may or may not end with one. */
  size_t len = strlen(msg);
  if (len > 0 && msg[len - 1] == '\n') msg[len - 1] = '\0';
  fprintf(stderr, "%s %s %s\n", ts, level_names[level], msg);
}
