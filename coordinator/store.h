/* The coordinator's SQLite store (WAL): checks with their stable ids,
 * agents, incidents. The only file that speaks SQL. Loop thread only. */
#ifndef VTG_STORE_H
#define VTG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"
#include "vtg/histo.h"

typedef struct vtg_store_s vtg_store_t;

/* Opens (creating) the database at path, WAL mode, schema migrated.
 * Returns 0 or VTG_ESTORE (SQLite's message logged). */
int vtg_store_open(const char *path, vtg_store_t **out);
void vtg_store_close(vtg_store_t *s); /* NULL allowed */

/* Durations of the store's writes since open, in seconds with
 * vtg_histo_io_bounds: one observation per statement that changes the
 * database, and per COMMIT (vantage_store_write_duration_seconds). Valid
 * until vtg_store_close. */
const vtg_histo_t *vtg_store_write_seconds(const vtg_store_t *s);

/* Stable id of a check by name, created on first use; the other fields are
 * updated. Returns 0 or VTG_ESTORE. */
int vtg_store_check_id(vtg_store_t *s, const char *name, const char *service,
                       const char *kind, const char *url, uint32_t *id);

/* Upserts an agent as last seen. */
int vtg_store_agent_upsert(vtg_store_t *s, const char *id, const char *region,
                           const char *country, double lat, double lon,
                           const char *version, const char *address, int64_t last_seen_us);

/* Incidents are kept as their contract JSON (incident.h) plus indexed
 * columns. resolved_us VTG_TIME_NONE (INT64_MIN) while open. */
int vtg_store_incident_put(vtg_store_t *s, const char *id, const char *check,
                           const char *service, int64_t onset_us, int64_t resolved_us,
                           const char *json, size_t json_len);
int vtg_store_incident_delete(vtg_store_t *s, const char *id);

/* Appends to out a JSON array of stored incidents, open ones first, then by
 * onset newest first; filtered by check (NULL: all) and since (onset or
 * resolution at or after since_us, open incidents always match: they are
 * still going on; VTG_TIME_NONE: all). Open incidents get
 * duration_s = now - onset. */
int vtg_store_incidents_json(vtg_store_t *s, const char *check, int64_t since_us,
                             int64_t now_us, vtg_buf_t *out);

/* Appends to out a JSON array of the open incidents only, newest onset
 * first, duration_s refreshed to now (status page, /metrics). */
int vtg_store_incidents_open_json(vtg_store_t *s, int64_t now_us, vtg_buf_t *out);

/* One incident's JSON object by id; VTG_ENOTFOUND when absent. */
int vtg_store_incident_json(vtg_store_t *s, const char *id, int64_t now_us, vtg_buf_t *out);

/* Calls cb for every stored incident that is open or was resolved at or
 * after since_us (a restart hands these back to the detector so that their
 * ids carry on). Returns 0, cb's non-zero return, or VTG_ESTORE. */
typedef int (*vtg_store_incident_cb)(void *ctx, const char *id, const char *check,
                                     int64_t onset_us, int64_t resolved_us);
int vtg_store_incidents_recent(vtg_store_t *s, int64_t since_us, vtg_store_incident_cb cb,
                               void *ctx);

/* The numeric part of the largest incident id stored ("inc-<n>"), 0 when none:
 * the detector continues after it. */
int vtg_store_incident_max_seq(vtg_store_t *s, uint64_t *out);

/* ---- per-minute rollups (rollup.h) ---- */

/* One row of rollup_minute. region is borrowed (valid during the call). */
typedef struct vtg_store_rollup_row_s {
  uint32_t check_id;
  const char *region;
  int64_t minute_us;     /* unix us, start of the minute */
  uint32_t up, degraded, down;
  int64_t lat_sum_us;
  uint32_t lat_n;
  int state;             /* vtg_state_t sampled worst; -1 = never sampled */
  int64_t covered;       /* bit s (0..59): second s had a result covering it (rollup.h);
                            -1 = not recorded (rows from before schema 4; NULL) */
} vtg_store_rollup_row_t;

/* Writes n rows, each replacing the stored row of its (check, region,
 * minute), in one transaction (all or nothing). Returns 0 or VTG_ESTORE. */
int vtg_store_rollup_put(vtg_store_t *s, const vtg_store_rollup_row_t *rows, size_t n);

/* Calls cb for each stored row with from_us <= minute < to_us, of check_id
 * (0: every check), ordered by check, region, minute. Returns 0, cb's
 * non-zero return, or VTG_ESTORE. */
typedef int (*vtg_store_rollup_cb)(void *ctx, const vtg_store_rollup_row_t *row);
int vtg_store_rollup_range(vtg_store_t *s, uint32_t check_id, int64_t from_us, int64_t to_us,
                           vtg_store_rollup_cb cb, void *ctx);

/* ---- retention ---- */

typedef struct vtg_store_prune_stats_s {
  uint64_t rollups;      /* rollup rows deleted */
  uint64_t incidents;    /* resolved incidents deleted */
} vtg_store_prune_stats_t;

/* Deletes, in one transaction, rollup minutes older than rollups_before_us
 * and incidents resolved before incidents_before_us; open incidents are
 * never deleted, whatever their onset. VTG_TIME_NONE for either: keep all
 * of that kind. st may be NULL. Returns 0 or VTG_ESTORE (nothing deleted). */
int vtg_store_prune(vtg_store_t *s, int64_t rollups_before_us, int64_t incidents_before_us,
                    vtg_store_prune_stats_t *st);

/* ---- silences (maint.h) ---- */

/* One stored silence; strings borrowed (valid during the callback). */
typedef struct vtg_store_silence_s {
  int64_t id;            /* the API shows "sil-<id>" */
  const char *check;     /* exactly one of check and service is non-NULL */
  const char *service;
  int64_t start_us, end_us;
  const char *reason;
} vtg_store_silence_t;

/* Stores a new silence; *id gets its number (never reused). Returns 0 or
 * VTG_ESTORE. */
int vtg_store_silence_add(vtg_store_t *s, const char *check, const char *service,
                          int64_t start_us, int64_t end_us, const char *reason,
                          int64_t created_us, int64_t *id);
/* Sets a silence's end (DELETE ends one early). VTG_ENOTFOUND when absent. */
int vtg_store_silence_end(vtg_store_t *s, int64_t id, int64_t end_us);
/* Calls cb for each silence ending at or after ended_after_us, by id.
 * Returns 0, cb's non-zero return or VTG_ESTORE. */
typedef int (*vtg_store_silence_cb)(void *ctx, const vtg_store_silence_t *sil);
int vtg_store_silences(vtg_store_t *s, int64_t ended_after_us, vtg_store_silence_cb cb,
                       void *ctx);
/* Deletes silences that ended before ended_before_us; *n (may be NULL) gets
 * how many were deleted added. Returns 0 or VTG_ESTORE. */
int vtg_store_silences_prune(vtg_store_t *s, int64_t ended_before_us, uint64_t *n);

#endif
