/* Fixtures shared by the coordinator's unit tests (those that link
 * vtg_coord): header-only, like test.h, so a test file includes what it
 * uses and nothing is built twice. */
#ifndef VTG_TEST_FIXTURE_H
#define VTG_TEST_FIXTURE_H

#include <stdint.h>

#include "detect.h"
#include "incident.h"
#include "store.h"
#include "vtg/buf.h"
#include "vtg/json.h"

/* The detector callback of tests that do not look at incidents as they
 * happen. */
static inline void vtg_test_on_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)ctx;
  (void)inc;
  (void)removed;
}

/* Puts inc into the store the way the coordinator does: its JSON from the
 * contract writer (durations as of now_us), under its id, check, service,
 * onset and resolved. Returns 0 or the writer's or the store's error. */
static inline int vtg_test_store_incident(vtg_store_t *s, const vtg_incident_t *inc,
                                          int64_t now_us) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  int err;
  vtg_buf_init(&b, 1 << 20);
  vtg_json_writer_init(&w, &b, 0);
  vtg_incident_write_json(&w, inc, now_us);
  err = vtg_json_finish(&w);
  if (err == 0)
    err = vtg_store_incident_put(s, inc->id, inc->check_name, inc->service, inc->onset_us,
                                 inc->resolved_us, b.data, b.len);
  vtg_buf_free(&b);
  return err;
}

#endif
