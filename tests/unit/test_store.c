/* The SQLite store against a real database in a temporary directory:
 * stable check ids, incident listing order and filters, duration refresh of
 * open incidents, the largest incident sequence. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "incident.h"
#include "store.h"
#include "fixture.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"

#define S(x) ((int64_t)(x) * 1000000)

/* Puts a minimal incident whose JSON follows the contract writer. */
static int put_incident(vtg_store_t *s, const char *id, const char *check, int64_t onset,
                        int64_t resolved) {
  vtg_incident_t inc;

  memset(&inc, 0, sizeof inc);
  inc.id = id;
  inc.check_name = check;
  inc.service = "shop";
  inc.kind = "web";
  inc.scope = VTG_SCOPE_MULTI_REGION;
  inc.onset_us = onset;
  inc.resolved_us = resolved;
  inc.cause = 5;
  inc.peak_regions = 2;
  inc.total_regions = 3;
  /* duration 0 while open: the store refreshes */
  return vtg_test_store_incident(s, &inc, onset);
}

/* Parses the array the store wrote; caller frees. */
static vtg_json_t *parse(const vtg_buf_t *b) {
  vtg_json_t *v = NULL;
  char err[128];
  if (vtg_json_parse(b->data, b->len, &v, err, sizeof err) != 0) {
    fprintf(stderr, "parse: %s in %.*s\n", err, (int)b->len, b->data);
    return NULL;
  }
  return v;
}

VTG_TEST(check_ids_stable) {
  vtg_test_tmpdb_t t;
  vtg_store_t *s = NULL;
  uint32_t a = 0, b = 0, a2 = 0, b2 = 0, c = 0;

  ASSERT(vtg_test_tmpdb_make(&t, "store") == 0);
  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(vtg_store_check_id(s, "shop-web", "shop", "web", "http://a/", &a), 0);
  ASSERT_EQ(vtg_store_check_id(s, "shop-api", "shop", "api", "http://a/api", &b), 0);
  ASSERT(a != 0 && b != 0 && a != b);
  /* Same name, new fields: same id. */
  ASSERT_EQ(vtg_store_check_id(s, "shop-web", "shop2", "web", "http://b/", &a2), 0);
  ASSERT_EQ(a2, a);
  vtg_store_close(s);
  s = NULL;

  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(vtg_store_check_id(s, "shop-api", "shop", "api", "http://a/api", &b2), 0);
  ASSERT_EQ(vtg_store_check_id(s, "shop-web", "shop", "web", "http://a/", &a2), 0);
  ASSERT_EQ(a2, a);
  ASSERT_EQ(b2, b);
  ASSERT_EQ(vtg_store_check_id(s, "blog-web", "blog", "web", "http://c/", &c), 0);
  ASSERT(c != a && c != b && c != 0);
  ASSERT_EQ(vtg_store_agent_upsert(s, "us-east-1", "us-east", "US", 40.7, -74.0, "0.1.0",
                                   "127.0.0.1:5000", S(1000)),
            0);
  ASSERT_EQ(vtg_store_agent_upsert(s, "us-east-1", "us-east", "US", 40.7, -74.0, "0.1.1",
                                   "127.0.0.1:5001", S(1001)),
            0);
  vtg_store_close(s);

  /* The database is in WAL mode and at the latest schema version (4: rollup coverage). */
  {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_open(t.path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(st, 0), 4);
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM agents WHERE id='us-east-1'", -1,
                                 &st, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "0.1.1");
    sqlite3_finalize(st);
    /* A schema newer than the build is refused. */
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
  }
  s = NULL;
  ASSERT_EQ(vtg_store_open(t.path, &s), VTG_ESTORE);
  ASSERT(s == NULL);
  vtg_test_tmpdb_remove(&t);
  return 0;
}

VTG_TEST(incident_order_and_duration) {
  vtg_test_tmpdb_t t;
  vtg_store_t *s = NULL;
  vtg_buf_t b;
  vtg_json_t *v;
  int64_t now = S(1800000000) + 90500000; /* 90.5 s after inc-2's onset */
  static const char *const want[] = {"inc-10", "inc-2", "inc-3", "inc-1"};

  ASSERT(vtg_test_tmpdb_make(&t, "store") == 0);
  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(put_incident(s, "inc-1", "shop-web", S(1700000000), S(1700000600)), 0);
  ASSERT_EQ(put_incident(s, "inc-2", "shop-web", S(1800000000), VTG_TIME_NONE), 0);
  ASSERT_EQ(put_incident(s, "inc-3", "shop-api", S(1750000000), S(1750003723) + 456700), 0);
  ASSERT_EQ(put_incident(s, "inc-10", "shop-api", S(1800000010), VTG_TIME_NONE), 0);

  vtg_buf_init(&b, 1 << 20);
  ASSERT_EQ(vtg_store_incidents_json(s, NULL, VTG_TIME_NONE, now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->type == VTG_JSON_ARRAY);
  ASSERT_EQ(v->n, 4);
  for (size_t i = 0; i < 4; i++) ASSERT_STR_EQ(vtg_json_get_str(v->items[i], "id", ""), want[i]);
  /* Open: now - onset; resolved: as stored, ms precision. */
  ASSERT(vtg_json_get_num(v->items[1], "duration_s", -1) == 90.5);
  ASSERT(vtg_json_get_num(v->items[0], "duration_s", -1) == 80.5);
  ASSERT(vtg_json_get_num(v->items[2], "duration_s", -1) == 3723.457);
  ASSERT(vtg_json_get_num(v->items[3], "duration_s", -1) == 600);
  ASSERT(vtg_json_get(v->items[0], "resolved")->type == VTG_JSON_NULL);
  /* Key order is kept by the refresh. */
  ASSERT_STR_EQ(v->items[1]->keys[0], "id");
  ASSERT_STR_EQ(v->items[1]->keys[9], "duration_s");
  vtg_json_free(v);

  /* Filters: by check, by since (open ones always overlap). */
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incidents_json(s, "shop-web", VTG_TIME_NONE, now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->n == 2);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "id", ""), "inc-2");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "id", ""), "inc-1");
  vtg_json_free(v);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incidents_json(s, NULL, S(1750003000), now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->n == 3); /* inc-1 ended before since */
  ASSERT_STR_EQ(vtg_json_get_str(v->items[2], "id", ""), "inc-3");
  vtg_json_free(v);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incidents_json(s, "nope", VTG_TIME_NONE, now, &b), 0);
  ASSERT_EQ(b.len, 2);
  ASSERT(memcmp(b.data, "[]", 2) == 0);

  /* Update: inc-2 resolves and moves behind the open one. */
  ASSERT_EQ(put_incident(s, "inc-2", "shop-web", S(1800000000), S(1800000030)), 0);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incidents_json(s, NULL, VTG_TIME_NONE, now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->n == 4);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "id", ""), "inc-10");
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "id", ""), "inc-2");
  ASSERT(vtg_json_get_num(v->items[1], "duration_s", -1) == 30);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[1], "resolved", ""), "2027-01-15T08:00:30.000Z");
  vtg_json_free(v);

  /* Open only. */
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incidents_open_json(s, now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->n == 1);
  ASSERT_STR_EQ(vtg_json_get_str(v->items[0], "id", ""), "inc-10");
  vtg_json_free(v);

  /* One by id; absent; delete. */
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-10", now, &b), 0);
  v = parse(&b);
  ASSERT(v != NULL && v->type == VTG_JSON_OBJECT);
  ASSERT(vtg_json_get_num(v, "duration_s", -1) == 80.5);
  vtg_json_free(v);
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-99", now, &b), VTG_ENOTFOUND);
  ASSERT_EQ(vtg_store_incident_delete(s, "inc-10"), 0);
  ASSERT_EQ(vtg_store_incident_json(s, "inc-10", now, &b), VTG_ENOTFOUND);

  vtg_buf_free(&b);
  vtg_store_close(s);
  vtg_test_tmpdb_remove(&t);
  return 0;
}

VTG_TEST(incident_max_seq) {
  vtg_test_tmpdb_t t;
  vtg_store_t *s = NULL;
  uint64_t seq = 99;

  ASSERT(vtg_test_tmpdb_make(&t, "store") == 0);
  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(vtg_store_incident_max_seq(s, &seq), 0);
  ASSERT_EQ(seq, 0);
  ASSERT_EQ(put_incident(s, "inc-9", "a", S(1000), S(1100)), 0);
  ASSERT_EQ(put_incident(s, "inc-10", "a", S(2000), VTG_TIME_NONE), 0);
  ASSERT_EQ(put_incident(s, "other-500", "a", S(3000), S(3100)), 0);
  ASSERT_EQ(vtg_store_incident_max_seq(s, &seq), 0);
  ASSERT_EQ(seq, 10); /* numeric, not lexical: inc-10 > inc-9 */
  vtg_store_close(s);
  s = NULL;
  ASSERT_EQ(vtg_store_open(t.path, &s), 0);
  ASSERT_EQ(vtg_store_incident_max_seq(s, &seq), 0);
  ASSERT_EQ(seq, 10);
  vtg_store_close(s);
  vtg_test_tmpdb_remove(&t);
  return 0;
}

VTG_TEST(open_fails_cleanly) {
  vtg_store_t *s = NULL;
  ASSERT_EQ(vtg_store_open("/nonexistent-dir-vtg/x/c.db", &s), VTG_ESTORE);
  ASSERT(s == NULL);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(check_ids_stable) VTG_TEST_ENTRY(incident_order_and_duration)
                  VTG_TEST_ENTRY(incident_max_seq) VTG_TEST_ENTRY(open_fails_cleanly))
