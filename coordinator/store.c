/* The coordinator's SQLite store: the only file that speaks SQL.
 *
 * WAL mode with synchronous=NORMAL: a crash may lose the last transactions
 * of the store but never corrupts it, and what agents rely on for "nothing
 * acknowledged is lost" is the result log, not this database; incidents are
 * rebuilt from the log's tail on restart. Every statement is prepared once
 * at open and kept on the store object. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "detect.h"
#include "incident.h"
#include "spread.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_SCHEMA_VERSION 4

struct vtg_store_s {
  sqlite3 *db;
  sqlite3_stmt *check_upsert;
  sqlite3_stmt *agent_upsert;
  sqlite3_stmt *inc_put;
  sqlite3_stmt *inc_delete;
  sqlite3_stmt *inc_list;
  sqlite3_stmt *inc_list_open;
  sqlite3_stmt *inc_one;
  sqlite3_stmt *inc_max_seq;
  /* Write timing (vantage_store_write_duration_seconds; on_trace): */
  vtg_histo_t write_seconds;
  sqlite3_stmt *timed;     /* the write statement running, NULL when none */
  int64_t timed_start_us;  /* monotonic */
};

/* Migrations by user_version: entry i brings the schema from version i to
 * i + 1. Append only; never edit a released step. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE checks ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  service TEXT, kind TEXT, url TEXT);"
    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY,"
    "  region TEXT, country TEXT, lat REAL, lon REAL,"
    "  version TEXT, address TEXT, last_seen_us INTEGER);"
    "CREATE TABLE incidents ("
    "  id TEXT PRIMARY KEY,"
    "  check_name TEXT NOT NULL,"
    "  service TEXT,"
    "  onset_us INTEGER NOT NULL,"
    "  resolved_us INTEGER," /* NULL while open */
    "  json TEXT NOT NULL);"
    "CREATE INDEX incidents_check ON incidents(check_name, onset_us);"
    "CREATE INDEX incidents_onset ON incidents(onset_us);",
    /* 2: per-minute rollups per (check, region) (rollup.h). region by name:
     * region indexes do not survive a restart. state: vtg_state_t, the
     * worst the detector reported in the minute (-1 = never sampled). */
    "CREATE TABLE rollup_minute ("
    "  check_id INTEGER NOT NULL,"
    "  region TEXT NOT NULL,"
    "  minute INTEGER NOT NULL," /* unix us, start of the minute */
    "  up INTEGER NOT NULL, degraded INTEGER NOT NULL, down INTEGER NOT NULL,"
    "  lat_sum_us INTEGER NOT NULL, lat_n INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  PRIMARY KEY (check_id, region, minute)) WITHOUT ROWID;"
    "CREATE INDEX rollup_minute_minute ON rollup_minute(minute);",
    /* 3: silences made through the API (maint.h), "sil-<id>". AUTOINCREMENT:
     * an id is never handed out twice, even after pruning. */
    "CREATE TABLE silences ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  check_name TEXT, service TEXT," /* exactly one set */
    "  start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    "  reason TEXT NOT NULL, created_us INTEGER NOT NULL);"
    "CREATE INDEX silences_end ON silences(end_us);",
    /* 4: which seconds of the minute some result covered (rollup.h,
     * "Coverage"): bit s = second s. NULL in rows written before. */
    "ALTER TABLE rollup_minute ADD COLUMN covered INTEGER;",
};

static int store_fail(vtg_store_t *s, const char *what) {
  VTG_ERROR("store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : "out of memory");
  return VTG_ESTORE;
}

static int store_exec(vtg_store_t *s, const char *sql, const char *what) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    VTG_ERROR("store: %s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return VTG_ESTORE;
  }
  return 0;
}

/* Brings the schema to STORE_SCHEMA_VERSION, each step in its own
 * transaction with its user_version bump, so a crash in the middle leaves a
 * consistent older version. A database newer than this binary is refused. */
static int store_migrate(vtg_store_t *s) {
  sqlite3_stmt *st = NULL;
  int version = 0, err = 0;

  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW) {
    err = store_fail(s, "reading user_version");
    goto out;
  }
  version = sqlite3_column_int(st, 0);
  if (version > STORE_SCHEMA_VERSION) {
    VTG_ERROR("store: schema version %d is newer than this build understands (%d)", version,
              STORE_SCHEMA_VERSION);
    err = VTG_ESTORE;
    goto out;
  }
  for (; version < STORE_SCHEMA_VERSION; version++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", version + 1);
    if ((err = store_exec(s, "BEGIN IMMEDIATE;", "begin migration")) != 0) goto out;
    if ((err = store_exec(s, migrations[version], "migrating schema")) != 0 ||
        (err = store_exec(s, bump, "setting user_version")) != 0 ||
        (err = store_exec(s, "COMMIT;", "commit migration")) != 0) {
      (void)sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
      goto out;
    }
    VTG_INFO("store: schema migrated to version %d", version + 1);
  }
out:
  sqlite3_finalize(st);
  return err;
}

static int store_prepare(vtg_store_t *s, sqlite3_stmt **st, const char *sql) {
  if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
    return store_fail(s, "preparing statement");
  return 0;
}

#define INC_FILTER                                                                    \
  " WHERE (?1 IS NULL OR check_name = ?1)"                                            \
  " AND (?2 IS NULL OR onset_us >= ?2 OR resolved_us IS NULL OR resolved_us >= ?2)"
#define INC_ORDER " ORDER BY (resolved_us IS NULL) DESC, onset_us DESC, id DESC"

/* SQLite's trace hook times every statement that writes, and every
 * COMMIT (where a transaction's pages go to the WAL), wherever in this file
 * it is run: TRACE_STMT when it starts, TRACE_PROFILE when it ends. Our
 * clock, not the profile's nanoseconds, which SQLite measures in whole
 * milliseconds on Unix. Trigger sub-programs (x = "-- ...") and reads are
 * skipped; the store runs one write at a time on the loop thread. */
static int on_trace(unsigned type, void *ctx, void *p, void *x) {
  vtg_store_t *s = ctx;
  sqlite3_stmt *st = p;
  if (type == SQLITE_TRACE_STMT) {
    const char *sql = x;
    if (sql != NULL && sql[0] == '-' && sql[1] == '-') return 0;
    sql = sqlite3_sql(st);
    if (!sqlite3_stmt_readonly(st) ||
        (sql != NULL && (strncasecmp(sql, "COMMIT", 6) == 0 || strncasecmp(sql, "END", 3) == 0))) {
      s->timed = st;
      s->timed_start_us = vtg_clock_mono_us();
    }
  } else if (type == SQLITE_TRACE_PROFILE && st == s->timed) {
    vtg_histo_observe(&s->write_seconds, &vtg_histo_io_bounds,
                      (double)(vtg_clock_mono_us() - s->timed_start_us) / 1e6);
    s->timed = NULL;
  }
  return 0;
}

const vtg_histo_t *vtg_store_write_seconds(const vtg_store_t *s) {
  return &s->write_seconds;
}

int vtg_store_open(const char *path, vtg_store_t **out) {
  vtg_store_t *s = calloc(1, sizeof *s);
  int err = 0;

  if (s == NULL) return VTG_ENOMEM;
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    VTG_ERROR("store: opening %s: %s", path,
              s->db ? sqlite3_errmsg(s->db) : "out of memory");
    err = VTG_ESTORE;
    goto out;
  }
  sqlite3_extended_result_codes(s->db, 1);
  if (sqlite3_trace_v2(s->db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, on_trace, s) !=
      SQLITE_OK) {
    err = store_fail(s, "setting the write timer");
    goto out;
  }
  if (sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
    err = store_fail(s, "setting busy_timeout");
    goto out;
  }
  /* journal_mode answers with the mode in effect; anything but "wal" (a
   * file system without shared memory, say) is refused rather than run
   * silently with other durability. */
  {
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    const char *mode = ok ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!ok || mode == NULL || strcmp(mode, "wal") != 0) {
      if (ok)
        VTG_ERROR("store: %s: journal_mode is %s, not wal", path, mode ? mode : "?");
      else
        store_fail(s, "setting journal_mode=WAL");
      sqlite3_finalize(st);
      err = VTG_ESTORE;
      goto out;
    }
    sqlite3_finalize(st);
  }
  if ((err = store_exec(s, "PRAGMA synchronous=NORMAL;", "setting synchronous")) != 0) goto out;
  if ((err = store_migrate(s)) != 0) goto out;

  if ((err = store_prepare(s, &s->check_upsert,
                           "INSERT INTO checks(name, service, kind, url) VALUES(?1, ?2, ?3, ?4)"
                           " ON CONFLICT(name) DO UPDATE SET service = excluded.service,"
                           " kind = excluded.kind, url = excluded.url RETURNING id")) != 0 ||
      (err = store_prepare(
           s, &s->agent_upsert,
           "INSERT INTO agents(id, region, country, lat, lon, version, address, last_seen_us)"
           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO UPDATE SET"
           " region = excluded.region, country = excluded.country, lat = excluded.lat,"
           " lon = excluded.lon, version = excluded.version, address = excluded.address,"
           " last_seen_us = excluded.last_seen_us")) != 0 ||
      (err = store_prepare(
           s, &s->inc_put,
           "INSERT INTO incidents(id, check_name, service, onset_us, resolved_us, json)"
           " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET"
           " check_name = excluded.check_name, service = excluded.service,"
           " onset_us = excluded.onset_us, resolved_us = excluded.resolved_us,"
           " json = excluded.json")) != 0 ||
      (err = store_prepare(s, &s->inc_delete, "DELETE FROM incidents WHERE id = ?1")) != 0 ||
      (err = store_prepare(s, &s->inc_list,
                           "SELECT json, resolved_us IS NULL, onset_us FROM incidents" INC_FILTER
                               INC_ORDER)) != 0 ||
      (err = store_prepare(s, &s->inc_list_open,
                           "SELECT json, 1, onset_us FROM incidents WHERE resolved_us IS NULL"
                           " ORDER BY onset_us DESC, id DESC")) != 0 ||
      (err = store_prepare(s, &s->inc_one,
                           "SELECT json, resolved_us IS NULL, onset_us FROM incidents"
                           " WHERE id = ?1")) != 0 ||
      (err = store_prepare(s, &s->inc_max_seq,
                           "SELECT MAX(CAST(substr(id, 5) AS INTEGER)) FROM incidents"
                           " WHERE id LIKE 'inc-%'")) != 0)
    goto out;

  *out = s;
  s = NULL;
out:
  vtg_store_close(s);
  return err;
}

void vtg_store_close(vtg_store_t *s) {
  if (s == NULL) return;
  sqlite3_finalize(s->check_upsert);
  sqlite3_finalize(s->agent_upsert);
  sqlite3_finalize(s->inc_put);
  sqlite3_finalize(s->inc_delete);
  sqlite3_finalize(s->inc_list);
  sqlite3_finalize(s->inc_list_open);
  sqlite3_finalize(s->inc_one);
  sqlite3_finalize(s->inc_max_seq);
  if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
    VTG_ERROR("store: closing: %s", sqlite3_errmsg(s->db));
  free(s);
}

/* Binds text or NULL; SQLITE_TRANSIENT because callers' strings may not
 * outlive the statement's next step. */
static int bind_text(sqlite3_stmt *st, int i, const char *v) {
  return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows (or whose rows we ignore), then
 * resets it so the next call starts clean. */
static int step_done(vtg_store_t *s, sqlite3_stmt *st, const char *what) {
  int rc, err = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) err = store_fail(s, what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

int vtg_store_check_id(vtg_store_t *s, const char *name, const char *service,
                       const char *kind, const char *url, uint32_t *id) {
  sqlite3_stmt *st = s->check_upsert;
  int err = 0, rc;
  sqlite3_int64 v;

  if (bind_text(st, 1, name) || bind_text(st, 2, service) || bind_text(st, 3, kind) ||
      bind_text(st, 4, url)) {
    err = store_fail(s, "binding check");
    goto out;
  }
  if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
    err = store_fail(s, "storing check");
    goto out;
  }
  v = sqlite3_column_int64(st, 0);
  /* Drain RETURNING so the upsert is complete before reset. */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    err = store_fail(s, "storing check");
    goto out;
  }
  if (v <= 0 || v > (sqlite3_int64)UINT32_MAX) {
    VTG_ERROR("store: check %s has id %lld, outside 1..UINT32_MAX", name, (long long)v);
    err = VTG_ESTORE;
    goto out;
  }
  *id = (uint32_t)v;
out:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

int vtg_store_agent_upsert(vtg_store_t *s, const char *id, const char *region,
                           const char *country, double lat, double lon,
                           const char *version, const char *address, int64_t last_seen_us) {
  sqlite3_stmt *st = s->agent_upsert;
  if (bind_text(st, 1, id) || bind_text(st, 2, region) || bind_text(st, 3, country) ||
      sqlite3_bind_double(st, 4, lat) || sqlite3_bind_double(st, 5, lon) ||
      bind_text(st, 6, version) || bind_text(st, 7, address) ||
      sqlite3_bind_int64(st, 8, last_seen_us)) {
    int err = store_fail(s, "binding agent");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
  }
  return step_done(s, st, "storing agent");
}

int vtg_store_incident_put(vtg_store_t *s, const char *id, const char *check,
                           const char *service, int64_t onset_us, int64_t resolved_us,
                           const char *json, size_t json_len) {
  sqlite3_stmt *st = s->inc_put;
  int rc = SQLITE_OK;

  if (json_len > (size_t)INT32_MAX) {
    VTG_ERROR("store: incident %s: JSON of %zu bytes exceeds the 2 GiB cap", id, json_len);
    return VTG_ELIMIT;
  }
  rc |= bind_text(st, 1, id);
  rc |= bind_text(st, 2, check);
  rc |= bind_text(st, 3, service);
  rc |= sqlite3_bind_int64(st, 4, onset_us);
  rc |= resolved_us == VTG_TIME_NONE ? sqlite3_bind_null(st, 5)
                                     : sqlite3_bind_int64(st, 5, resolved_us);
  rc |= sqlite3_bind_text(st, 6, json, (int)json_len, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) {
    int err = store_fail(s, "binding incident");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
  }
  return step_done(s, st, "storing incident");
}

int vtg_store_incident_delete(vtg_store_t *s, const char *id) {
  sqlite3_stmt *st = s->inc_delete;
  if (bind_text(st, 1, id) != SQLITE_OK) {
    int err = store_fail(s, "binding incident id");
    sqlite3_reset(st);
    return err;
  }
  return step_done(s, st, "deleting incident");
}

/* Writes the JSON of the current row of st (json, open, onset_us) as one
 * value. Resolved incidents are copied as stored: their JSON is final.
 * Open ones are parsed and written again with duration_s refreshed, so the
 * contract's "while open, now - onset" holds at read time, whatever the
 * age of the stored copy. */
static int write_row(vtg_store_t *s, sqlite3_stmt *st, int64_t now_us, vtg_json_writer_t *w) {
  const char *json = (const char *)sqlite3_column_text(st, 0);
  size_t len = (size_t)sqlite3_column_bytes(st, 0);
  int open = sqlite3_column_int(st, 1);
  int64_t onset_us = sqlite3_column_int64(st, 2);
  vtg_json_t *v = NULL;
  char perr[128];
  int err;

  (void)s;
  if (json == NULL) return VTG_ENOMEM; /* a NOT NULL column: only OOM gives NULL */
  if (!open) {
    vtg_json_raw(w, json, len);
    return 0;
  }
  err = vtg_json_parse(json, len, &v, perr, sizeof perr);
  if (err != 0) {
    VTG_ERROR("store: stored incident JSON does not parse: %s",
              err == VTG_EJSON ? perr : vtg_strerror(err));
    return err;
  }
  if (v->type != VTG_JSON_OBJECT) {
    VTG_ERROR("store: stored incident JSON is not an object");
    vtg_json_free(v);
    return VTG_EJSON;
  }
  err = vtg_json_set_num(v, "duration_s", vtg_incident_duration_s(onset_us, now_us));
  if (err == 0) err = vtg_spread_refresh_json(v, now_us); /* severity grows too */
  if (err == 0) vtg_json_write_value(w, v);
  vtg_json_free(v);
  return err;
}

/* Runs a bound listing statement into a JSON array appended to out. */
static int list_json(vtg_store_t *s, sqlite3_stmt *st, int64_t now_us, vtg_buf_t *out) {
  vtg_json_writer_t w;
  int rc, err = 0;

  vtg_json_writer_init(&w, out, 0);
  vtg_json_begin_array(&w);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if ((err = write_row(s, st, now_us, &w)) != 0) goto out;
  }
  if (rc != SQLITE_DONE) {
    err = store_fail(s, "listing incidents");
    goto out;
  }
  vtg_json_end_array(&w);
  err = vtg_json_finish(&w);
out:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

int vtg_store_incidents_json(vtg_store_t *s, const char *check, int64_t since_us,
                             int64_t now_us, vtg_buf_t *out) {
  sqlite3_stmt *st = s->inc_list;
  int rc = bind_text(st, 1, check);
  rc |= since_us == VTG_TIME_NONE ? sqlite3_bind_null(st, 2) : sqlite3_bind_int64(st, 2, since_us);
  if (rc != SQLITE_OK) {
    int err = store_fail(s, "binding incident filter");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
  }
  return list_json(s, st, now_us, out);
}

int vtg_store_incidents_open_json(vtg_store_t *s, int64_t now_us, vtg_buf_t *out) {
  return list_json(s, s->inc_list_open, now_us, out);
}

int vtg_store_incident_json(vtg_store_t *s, const char *id, int64_t now_us, vtg_buf_t *out) {
  sqlite3_stmt *st = s->inc_one;
  vtg_json_writer_t w;
  int rc, err = 0;

  if (bind_text(st, 1, id) != SQLITE_OK) {
    err = store_fail(s, "binding incident id");
    goto out;
  }
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    err = VTG_ENOTFOUND;
    goto out;
  }
  if (rc != SQLITE_ROW) {
    err = store_fail(s, "reading incident");
    goto out;
  }
  vtg_json_writer_init(&w, out, 0);
  if ((err = write_row(s, st, now_us, &w)) != 0) goto out;
  err = vtg_json_finish(&w);
out:
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

int vtg_store_incidents_recent(vtg_store_t *s, int64_t since_us, vtg_store_incident_cb cb,
                               void *ctx) {
  sqlite3_stmt *st = NULL;
  int err = 0, rc;
  /* Once per start-up: not worth a statement kept on the store. */
  if ((err = store_prepare(s, &st,
                           "SELECT id, check_name, onset_us, resolved_us FROM incidents"
                           " WHERE resolved_us IS NULL OR resolved_us >= ?1"
                           " ORDER BY onset_us")) != 0)
    return err;
  sqlite3_bind_int64(st, 1, since_us);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *check = (const char *)sqlite3_column_text(st, 1);
    int64_t resolved =
        sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, 3);
    if ((err = cb(ctx, id ? id : "", check ? check : "", sqlite3_column_int64(st, 2), resolved)))
      goto out;
  }
  if (rc != SQLITE_DONE) err = store_fail(s, "listing recent incidents");
out:
  sqlite3_finalize(st);
  return err;
}

int vtg_store_incident_max_seq(vtg_store_t *s, uint64_t *out) {
  sqlite3_stmt *st = s->inc_max_seq;
  int err = 0;
  sqlite3_int64 v = 0;

  if (sqlite3_step(st) != SQLITE_ROW) {
    err = store_fail(s, "reading the largest incident id");
    goto out;
  }
  v = sqlite3_column_int64(st, 0); /* NULL (no incidents) reads as 0 */
  *out = v > 0 ? (uint64_t)v : 0;
out:
  sqlite3_reset(st);
  return err;
}

/* ---- per-minute rollups ---- */

/* The rollup writer runs once a minute on the loop thread (rollup.h): one
 * transaction for the whole minute keeps that to one WAL commit. The
 * statement is prepared per call; per minute that costs nothing. */
int vtg_store_rollup_put(vtg_store_t *s, const vtg_store_rollup_row_t *rows, size_t n) {
  sqlite3_stmt *st = NULL;
  int err = 0;
  if (n == 0) return 0;
  if ((err = store_exec(s, "BEGIN IMMEDIATE;", "begin rollup write")) != 0) return err;
  if ((err = store_prepare(s, &st,
                           "INSERT OR REPLACE INTO rollup_minute(check_id, region, minute, up,"
                           " degraded, down, lat_sum_us, lat_n, state, covered)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    const vtg_store_rollup_row_t *r = &rows[i];
    int rc = sqlite3_bind_int64(st, 1, r->check_id);
    rc |= bind_text(st, 2, r->region ? r->region : "");
    rc |= sqlite3_bind_int64(st, 3, r->minute_us);
    rc |= sqlite3_bind_int64(st, 4, r->up);
    rc |= sqlite3_bind_int64(st, 5, r->degraded);
    rc |= sqlite3_bind_int64(st, 6, r->down);
    rc |= sqlite3_bind_int64(st, 7, r->lat_sum_us);
    rc |= sqlite3_bind_int64(st, 8, r->lat_n);
    rc |= sqlite3_bind_int(st, 9, r->state);
    rc |= r->covered < 0 ? sqlite3_bind_null(st, 10) : sqlite3_bind_int64(st, 10, r->covered);
    if (rc != SQLITE_OK) {
      err = store_fail(s, "binding rollup row");
      goto out;
    }
    if ((err = step_done(s, st, "storing rollup row")) != 0) goto out;
  }
  err = store_exec(s, "COMMIT;", "commit rollup write");
out:
  sqlite3_finalize(st);
  if (err) (void)sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
  return err;
}

int vtg_store_rollup_range(vtg_store_t *s, uint32_t check_id, int64_t from_us, int64_t to_us,
                           vtg_store_rollup_cb cb, void *ctx) {
  sqlite3_stmt *st = NULL;
  int err = 0, rc;
  if ((err = store_prepare(s, &st,
                           "SELECT check_id, region, minute, up, degraded, down, lat_sum_us,"
                           " lat_n, state, covered FROM rollup_minute"
                           " WHERE (?1 = 0 OR check_id = ?1) AND minute >= ?2 AND minute < ?3"
                           " ORDER BY check_id, region, minute")) != 0)
    return err;
  if (sqlite3_bind_int64(st, 1, check_id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, from_us) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, to_us) != SQLITE_OK) {
    err = store_fail(s, "binding rollup range");
    goto out;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(st, 0);
    const char *region = (const char *)sqlite3_column_text(st, 1);
    if (id <= 0 || id > (sqlite3_int64)UINT32_MAX || region == NULL) continue; /* not ours */
    /* Counts are written from uint32_t; clamp what a foreign writer left. */
#define U32COL(i) ((uint32_t)(sqlite3_column_int64(st, i) < 0 ? 0 \
                   : sqlite3_column_int64(st, i) > UINT32_MAX ? UINT32_MAX \
                   : sqlite3_column_int64(st, i)))
    vtg_store_rollup_row_t row = {
        .check_id = (uint32_t)id,
        .region = region,
        .minute_us = sqlite3_column_int64(st, 2),
        .up = U32COL(3),
        .degraded = U32COL(4),
        .down = U32COL(5),
        .lat_sum_us = sqlite3_column_int64(st, 6),
        .lat_n = U32COL(7),
        .state = sqlite3_column_int(st, 8),
        .covered = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1
                   : sqlite3_column_int64(st, 9) & (int64_t)((1ULL << 60) - 1),
    };
#undef U32COL
    if ((err = cb(ctx, &row)) != 0) goto out;
  }
  if (rc != SQLITE_DONE) err = store_fail(s, "reading rollups");
out:
  sqlite3_finalize(st);
  return err;
}

/* ---- retention ---- */

/* Runs one DELETE with one bound time; adds the rows it removed to *n. */
static int prune_one(vtg_store_t *s, const char *sql, int64_t before_us, uint64_t *n) {
  sqlite3_stmt *st = NULL;
  int err;
  if ((err = store_prepare(s, &st, sql)) != 0) return err;
  if (sqlite3_bind_int64(st, 1, before_us) != SQLITE_OK)
    err = store_fail(s, "binding retention cut-off");
  else if (sqlite3_step(st) != SQLITE_DONE)
    err = store_fail(s, "applying retention");
  else
    *n += (uint64_t)sqlite3_changes(s->db);
  sqlite3_finalize(st);
  return err;
}

/* Start-up and hourly on the loop thread (coord.c): both deletes use the
 * indexes on minute and onset, so even a large backlog is one short
 * transaction. */
int vtg_store_prune(vtg_store_t *s, int64_t rollups_before_us, int64_t incidents_before_us,
                    vtg_store_prune_stats_t *st) {
  vtg_store_prune_stats_t n = {0, 0};
  int err;
  if ((err = store_exec(s, "BEGIN IMMEDIATE;", "begin retention")) != 0) return err;
  if (rollups_before_us != VTG_TIME_NONE &&
      (err = prune_one(s, "DELETE FROM rollup_minute WHERE minute < ?1", rollups_before_us,
                       &n.rollups)) != 0)
    goto out;
  /* resolved_us IS NULL (open) never matches "<": open incidents stay. The
   * onset bound only lets the index narrow the scan (resolved >= onset). */
  if (incidents_before_us != VTG_TIME_NONE &&
      (err = prune_one(s,
                       "DELETE FROM incidents WHERE onset_us < ?1 AND resolved_us IS NOT NULL"
                       " AND resolved_us < ?1",
                       incidents_before_us, &n.incidents)) != 0)
    goto out;
  err = store_exec(s, "COMMIT;", "commit retention");
out:
  if (err)
    (void)sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
  else if (st)
    *st = n;
  return err;
}

/* ---- silences (maint.h) ---- */

/* Silences change a few times a day: statements are prepared per call. */
int vtg_store_silence_add(vtg_store_t *s, const char *check, const char *service,
                          int64_t start_us, int64_t end_us, const char *reason,
                          int64_t created_us, int64_t *id) {
  sqlite3_stmt *st = NULL;
  int err, rc;
  if ((err = store_prepare(s, &st,
                           "INSERT INTO silences(check_name, service, start_us, end_us, reason,"
                           " created_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)")) != 0)
    return err;
  rc = bind_text(st, 1, check);
  rc |= bind_text(st, 2, service);
  rc |= sqlite3_bind_int64(st, 3, start_us);
  rc |= sqlite3_bind_int64(st, 4, end_us);
  rc |= bind_text(st, 5, reason ? reason : "");
  rc |= sqlite3_bind_int64(st, 6, created_us);
  if (rc != SQLITE_OK)
    err = store_fail(s, "binding silence");
  else if (sqlite3_step(st) != SQLITE_DONE)
    err = store_fail(s, "storing silence");
  else
    *id = (int64_t)sqlite3_last_insert_rowid(s->db);
  sqlite3_finalize(st);
  return err;
}

int vtg_store_silence_end(vtg_store_t *s, int64_t id, int64_t end_us) {
  sqlite3_stmt *st = NULL;
  int err;
  if ((err = store_prepare(s, &st, "UPDATE silences SET end_us = ?2 WHERE id = ?1")) != 0)
    return err;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_bind_int64(st, 2, end_us) != SQLITE_OK)
    err = store_fail(s, "binding silence end");
  else if (sqlite3_step(st) != SQLITE_DONE)
    err = store_fail(s, "ending silence");
  else if (sqlite3_changes(s->db) == 0)
    err = VTG_ENOTFOUND;
  sqlite3_finalize(st);
  return err;
}

int vtg_store_silences(vtg_store_t *s, int64_t ended_after_us, vtg_store_silence_cb cb,
                       void *ctx) {
  sqlite3_stmt *st = NULL;
  int err, rc;
  if ((err = store_prepare(s, &st,
                           "SELECT id, check_name, service, start_us, end_us, reason"
                           " FROM silences WHERE end_us >= ?1 ORDER BY id")) != 0)
    return err;
  if (sqlite3_bind_int64(st, 1, ended_after_us) != SQLITE_OK) {
    err = store_fail(s, "binding silence filter");
    goto out;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    vtg_store_silence_t sil = {
        .id = sqlite3_column_int64(st, 0),
        .check = (const char *)sqlite3_column_text(st, 1),
        .service = (const char *)sqlite3_column_text(st, 2),
        .start_us = sqlite3_column_int64(st, 3),
        .end_us = sqlite3_column_int64(st, 4),
        .reason = (const char *)sqlite3_column_text(st, 5),
    };
    if ((err = cb(ctx, &sil)) != 0) goto out;
  }
  if (rc != SQLITE_DONE) err = store_fail(s, "reading silences");
out:
  sqlite3_finalize(st);
  return err;
}

int vtg_store_silences_prune(vtg_store_t *s, int64_t ended_before_us, uint64_t *n) {
  uint64_t dummy = 0;
  return prune_one(s, "DELETE FROM silences WHERE end_us < ?1", ended_before_us, n ? n : &dummy);
}
