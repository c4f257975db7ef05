/* Logging to stderr, one line per call: "2026-11-24T12:00:03.250Z LEVEL msg".
 * The level is set once at start-up (vtg_log_set_level) before any loop
 * runs; every other call is read-only, so any thread may log. */
#ifndef VTG_LOG_H
#define VTG_LOG_H

enum vtg_log_level { VTG_LOG_DEBUG = 0, VTG_LOG_INFO, VTG_LOG_WARN, VTG_LOG_ERROR };

void vtg_log_set_level(enum vtg_log_level level);
/* Parses "debug", "info", "warn" or "error"; returns 0 or VTG_EINVAL. */
int vtg_log_parse_level(const char *s, enum vtg_log_level *out);
void vtg_log(enum vtg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define VTG_DEBUG(...) vtg_log(VTG_LOG_DEBUG, __VA_ARGS__)
#define VTG_INFO(...) vtg_log(VTG_LOG_INFO, __VA_ARGS__)
#define VTG_WARN(...) vtg_log(VTG_LOG_WARN, __VA_ARGS__)
#define VTG_ERROR(...) vtg_log(VTG_LOG_ERROR, __VA_ARGS__)

#endif
