/* An incident in the JSON contract of DESIGN.md ("outages --json"). The
 * same writer serves the store (which keeps this JSON), the HTTP API and so
 * the CLI: there is one place that decides what an incident looks like. */
#include "incident.h"

#include <inttypes.h>

#include "spread.h"
#include "vtg/wire.h"

const char *vtg_scope_name(vtg_scope_t s) {
  switch (s) {
  case VTG_SCOPE_REGIONAL:
    return "regional";
  case VTG_SCOPE_MULTI_REGION:
    return "multi_region";
  case VTG_SCOPE_GLOBAL:
    return "global";
  }
  return "regional";
}

/* The error class name, or null in JSON for a class outside the fixed set
 * (the contract wants a class name; a number we cannot name is not one). */
static void write_cause(vtg_json_writer_t *w, int cause) {
  if (cause < 0 || cause >= VTG_N_ERROR_CLASSES) {
    vtg_json_null(w);
    return;
  }
  vtg_json_string(w, vtg_wire_error_class_name((Vantage__ErrorClass)cause));
}

/* Spread as data (spread.h defines each figure): "first_region",
 * "down_order", "up_order", "peak_fraction", "severity", always present,
 * null where unknown; all null and the orders empty if memory runs out
 * (the incident itself is still written). */
static void write_spread(vtg_json_writer_t *w, const vtg_incident_t *inc, int64_t now_us) {
  vtg_spread_t s;
  int ok = vtg_spread_compute(inc, now_us, &s) == 0;

  vtg_json_key(w, "first_region");
  vtg_json_string(w, ok ? s.first_region : NULL);
  vtg_json_key(w, "down_order");
  vtg_json_begin_array(w);
  for (size_t i = 0; ok && i < s.n_down; i++) vtg_json_string(w, s.down_order[i]);
  vtg_json_end_array(w);
  vtg_json_key(w, "up_order");
  vtg_json_begin_array(w);
  for (size_t i = 0; ok && i < s.n_up; i++) vtg_json_string(w, s.up_order[i]);
  vtg_json_end_array(w);
  vtg_json_key(w, "peak_fraction");
  if (ok && s.peak_fraction >= 0)
    vtg_json_double(w, s.peak_fraction);
  else
    vtg_json_null(w);
  vtg_json_key(w, "severity");
  if (ok && s.severity >= 0)
    vtg_json_double(w, s.severity);
  else
    vtg_json_null(w);
  if (ok) vtg_spread_free(&s);
}

/* Seconds between two unix-us times with millisecond precision, rounded to
 * the nearest ms; never negative. */
double vtg_incident_duration_s(int64_t from_us, int64_t to_us) {
  int64_t d = to_us - from_us;
  if (d < 0) d = 0;
  return (double)((d + 500) / 1000) / 1000.0;
}

/* A window's width in seconds, null when unknown (-1). */
static void write_window(vtg_json_writer_t *w, const char *key, int64_t width_us) {
  vtg_json_key(w, key);
  if (width_us < 0)
    vtg_json_null(w);
  else
    vtg_json_double(w, (double)(width_us / 1000) / 1000.0);
}

/* Every field is always present, null where unknown: consumers of the
 * contract never have to test for a missing key. */
void vtg_incident_write_json(vtg_json_writer_t *w, const vtg_incident_t *inc, int64_t now_us) {
  vtg_incident_write_json_maint(w, inc, now_us, 0);
}

void vtg_incident_write_json_maint(vtg_json_writer_t *w, const vtg_incident_t *inc,
                                   int64_t now_us, int maintenance) {
  size_t i, j;
  int open = inc->resolved_us == VTG_TIME_NONE;

  vtg_json_begin_object(w);
  vtg_json_key(w, "id");
  vtg_json_string(w, inc->id);
  vtg_json_key(w, "service");
  vtg_json_string(w, inc->service);
  vtg_json_key(w, "check");
  vtg_json_string(w, inc->check_name);
  vtg_json_key(w, "kind");
  vtg_json_string(w, inc->kind);
  vtg_json_key(w, "scope");
  vtg_json_string(w, vtg_scope_name(inc->scope));
  vtg_json_key(w, "onset");
  vtg_json_time(w, inc->onset_us);
  vtg_json_key(w, "resolved");
  vtg_json_time(w, inc->resolved_us);
  write_window(w, "onset_window_s", inc->onset_window_us);
  write_window(w, "resolved_window_s", inc->resolved_window_us);
  vtg_json_key(w, "duration_s");
  if (inc->onset_us == VTG_TIME_NONE)
    vtg_json_null(w);
  else
    vtg_json_double(w, vtg_incident_duration_s(inc->onset_us, open ? now_us : inc->resolved_us));
  vtg_json_key(w, "cause");
  write_cause(w, inc->cause);

  vtg_json_key(w, "regions");
  vtg_json_begin_array(w);
  for (i = 0; i < inc->n_regions; i++) {
    const vtg_incident_region_t *r = &inc->regions[i];
    vtg_json_begin_object(w);
    vtg_json_key(w, "region");
    vtg_json_string(w, r->region);
    vtg_json_key(w, "onset");
    vtg_json_time(w, r->onset_us);
    vtg_json_key(w, "resolved");
    vtg_json_time(w, r->resolved_us);
    write_window(w, "onset_window_s", r->onset_window_us);
    write_window(w, "resolved_window_s", r->resolved_window_us);
    vtg_json_key(w, "spans");
    vtg_json_begin_array(w);
    for (size_t k = 0; k < r->n_spans; k++) {
      vtg_json_begin_object(w);
      vtg_json_key(w, "onset");
      vtg_json_time(w, r->spans[k].onset_us);
      vtg_json_key(w, "resolved");
      vtg_json_time(w, r->spans[k].resolved_us);
      vtg_json_end_object(w);
    }
    vtg_json_end_array(w);
    vtg_json_end_object(w);
  }
  vtg_json_end_array(w);

  vtg_json_key(w, "waves");
  vtg_json_begin_array(w);
  for (i = 0; i < inc->n_waves; i++) {
    const vtg_incident_wave_t *wv = &inc->waves[i];
    vtg_json_begin_object(w);
    vtg_json_key(w, "onset");
    vtg_json_time(w, wv->onset_us);
    vtg_json_key(w, "resolved");
    vtg_json_time(w, wv->resolved_us);
    vtg_json_key(w, "cause");
    write_cause(w, wv->cause);
    vtg_json_key(w, "regions");
    vtg_json_begin_array(w);
    for (j = 0; j < wv->n_regions; j++) vtg_json_string(w, wv->regions[j]);
    vtg_json_end_array(w);
    vtg_json_end_object(w);
  }
  vtg_json_end_array(w);

  vtg_json_key(w, "peak_regions");
  vtg_json_int(w, inc->peak_regions);
  vtg_json_key(w, "total_regions");
  vtg_json_int(w, inc->total_regions);
  vtg_json_key(w, "maintenance");
  vtg_json_bool(w, maintenance != 0);
  write_spread(w, inc, now_us);
  vtg_json_end_object(w);
}

#include "vtg/error.h" /* kept with the function below, which alone needs it */

/* Splices "partial" and "addresses" into the incident object that b ends
 * with (compact, as vtg_incident_write_json_maint wrote it): partial != 0
 * with the failing addresses for an every_address check's partial incident
 * (addrs.h), false and null for every other one. The fields are always
 * present. Returns 0, VTG_EINVAL (b does not end with an object) or an
 * error of the buffer (its cap). */
int vtg_incident_json_add_addresses(vtg_buf_t *b, int partial, const char *const *addrs,
                                    size_t n) {
  vtg_buf_t arr;
  vtg_json_writer_t w;
  int err;
  if (b->len == 0 || b->data[b->len - 1] != '}') return VTG_EINVAL;
  vtg_buf_init(&arr, 4096);
  vtg_json_writer_init(&w, &arr, 0);
  if (partial && n > 0) {
    vtg_json_begin_array(&w);
    for (size_t i = 0; i < n; i++) vtg_json_string(&w, addrs[i]);
    vtg_json_end_array(&w);
  } else {
    vtg_json_null(&w);
  }
  if ((err = vtg_json_finish(&w)) == 0) {
    b->len--; /* the object's closing brace, written again below */
    err = vtg_buf_printf(b, "%s\"partial\":%s,\"addresses\":%.*s}", b->len > 1 ? "," : "",
                         partial ? "true" : "false", (int)arr.len, (const char *)arr.data);
  }
  vtg_buf_free(&arr);
  return err;
}
