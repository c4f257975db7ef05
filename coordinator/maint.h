/* Maintenance windows and silences (issue 4, item 6). A window covers one
 * check, or every check of one service, for a stretch of time: fixed
 * windows and weekly ones come from the config (`maintenance:`), silences
 * from POST /api/v1/silences (kept in the store). Probing goes on during a
 * window; what changes is how incidents are reported:
 *
 * - an incident is "maintenance": true when the onset of EVERY one of its
 *   waves lies in a window covering its check (so the incident's own onset
 *   too): maintenance never hides a failure that began outside a window,
 *   and a new wave after the window ends makes the incident a real outage
 *   again;
 * - vantage_check_incident_open counts only open incidents that are not
 *   marked, and none while the check is covered right now (a silence set
 *   during an outage acknowledges it); vantage_check_maintenance is 1 while
 *   a window covers the check.
 *
 * Windows are half-open, [start, end). Weekly windows are in UTC. Pure data:
 * no I/O, no clock (callers pass the time); loop thread only. */
#ifndef VTG_MAINT_H
#define VTG_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "vtg/buf.h"
#include "vtg/json.h"

#define VTG_MAINT_SILENCE_MAX_US (30LL * 86400 * 1000000) /* a silence lasts at most 30 days */
#define VTG_MAINT_SILENCES_MAX 10000   /* silences not yet ended, at once */
#define VTG_MAINT_WEEK_US (7LL * 86400 * 1000000)
/* Ended silences are kept this long: the detector re-derives incidents from
 * the result log's tail (6 h) after a restart and must judge their onsets
 * against the same windows. */
#define VTG_MAINT_KEEP_US (7LL * 86400 * 1000000)

typedef enum { VTG_MAINT_CONFIG = 0, VTG_MAINT_API = 1 } vtg_maint_source_t;

typedef struct vtg_maint_window_s {
  char id[32];              /* "cfg-N" (N-th window of the config, from 1) or "sil-N" */
  char *check;              /* exactly one of check and service is set */
  char *service;
  int64_t start_us, end_us; /* fixed windows and silences: [start, end) */
  int64_t weekly_us;        /* weekly: offset from Sunday 00:00 UTC; -1 otherwise */
  int64_t duration_us;      /* weekly: length of each occurrence */
  char *reason;             /* never NULL */
  vtg_maint_source_t source;
  int line;                 /* config windows: where defined */
} vtg_maint_window_t;

typedef struct vtg_maint_s {
  vtg_maint_window_t *w;
  size_t n, alloc;
} vtg_maint_t;

/* A silence as asked for by POST /api/v1/silences, validated. */
typedef struct vtg_maint_request_s {
  char *check, *service;    /* one set; owned, freed by vtg_maint_request_free */
  int64_t duration_us;
  char *reason;             /* never NULL after a successful parse */
} vtg_maint_request_t;

void vtg_maint_init(vtg_maint_t *m);
void vtg_maint_free(vtg_maint_t *m); /* leaves m empty and reusable */

/* Replaces the config windows with cfg's (start-up, SIGHUP); silences
 * stay. On VTG_ENOMEM m is unchanged. */
int vtg_maint_set_config(vtg_maint_t *m, const vtg_coord_config_t *cfg);

/* Adds a silence (API source); strings are copied, id is "sil-<seq>".
 * Returns 0, VTG_EINVAL (neither or both of check/service, end <= start) or
 * VTG_ENOMEM. */
int vtg_maint_add_silence(vtg_maint_t *m, int64_t seq, const char *check, const char *service,
                          int64_t start_us, int64_t end_us, const char *reason);

/* The window with that id, NULL when none. */
const vtg_maint_window_t *vtg_maint_find(const vtg_maint_t *m, const char *id);

/* Ends a silence at now_us (DELETE): its end becomes now. Returns 0,
 * VTG_ENOTFOUND (no such silence, or it has ended already) or VTG_EINVAL (a
 * config window: those change in the config file). */
int vtg_maint_end(vtg_maint_t *m, const char *id, int64_t now_us);

/* Forgets silences that ended before before_us. */
void vtg_maint_prune(vtg_maint_t *m, int64_t before_us);

/* Silences that have not ended at now_us. */
size_t vtg_maint_active_silences(const vtg_maint_t *m, int64_t now_us);

/* Whether one window covers (check, service) at t_us. service may be NULL. */
int vtg_maint_window_covers(const vtg_maint_window_t *w, const char *check, const char *service,
                            int64_t t_us);
/* Whether any window covers (check, service) at t_us. */
int vtg_maint_covers(const vtg_maint_t *m, const char *check, const char *service, int64_t t_us);
/* The incident rule above: every wave's onset (the incident's onset when it
 * has no waves) covered for its check and service. */
int vtg_maint_covers_incident(const vtg_maint_t *m, const vtg_incident_t *inc);

/* A window's occurrence that is in progress at now_us or, when none is,
 * the next one (weekly) or its only one (fixed; possibly past). */
void vtg_maint_occurrence(const vtg_maint_window_t *w, int64_t now_us, int64_t *start_us,
                          int64_t *end_us);

/* One window as the API shows it: {"id", "check" | "service", "start",
 * "end", "reason", "source": "config"|"api", "active", ["weekly": "sun
 * 02:00", "duration_s"]}; start and end of the occurrence above. */
void vtg_maint_write_window(vtg_json_writer_t *w, const vtg_maint_window_t *win, int64_t now_us);
/* GET /api/v1/silences: a JSON array of every window that has not ended at
 * now_us (weekly windows always), ordered by start, then id. Returns 0 or
 * the buffer's error. */
int vtg_maint_write_json(const vtg_maint_t *m, int64_t now_us, vtg_buf_t *out);

/* Parses and validates a POST body against cfg: a JSON object with "check"
 * or "service" (a configured name), "duration_s" (a number, 1 s to 30 d)
 * and optionally "reason" (a string up to VTG_MAINT_REASON_MAX bytes).
 * Returns 0 and fills *out, or VTG_EINVAL with a message naming the field in
 * why, or VTG_ENOMEM. */
int vtg_maint_parse_request(const char *body, size_t len, const vtg_coord_config_t *cfg,
                            vtg_maint_request_t *out, char *why, size_t whylen);
void vtg_maint_request_free(vtg_maint_request_t *r);

#endif
