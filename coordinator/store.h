/* The coordinator's SQLite store (WAL): checks with their stable ids,
 * agents, incidents. The only file that speaks SQL. Loop thread only. */
#ifndef VTG_STORE_H
#define VTG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"

typedef struct vtg_store_s vtg_store_t;

/* Opens (creating) the database at path, WAL mode, schema migrated.
 * Returns 0 or VTG_ESTORE (SQLite's message logged). */
int vtg_store_open(const char *path, vtg_store_t **out);
void vtg_store_close(vtg_store_t *s); /* NULL allowed */

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

#endif
