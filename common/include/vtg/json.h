/* JSON: a streaming writer into a vtg_buf_t, and a small DOM parser with a
 * depth and size cap (the CLI reads the coordinator's API with it). */
#ifndef VTG_JSON_H
#define VTG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"

/* ---- writer ----
 * Keeps commas and nesting itself: call key() before every value inside an
 * object. Errors (out of cap, bad nesting) are sticky in w->err and
 * returned by vtg_json_finish. */
typedef struct vtg_json_writer_s {
  vtg_buf_t *out;
  int depth;
  int need_comma[64];
  int after_key;
  int err;
  int pretty;         /* indent by two spaces when non-zero */
} vtg_json_writer_t;

void vtg_json_writer_init(vtg_json_writer_t *w, vtg_buf_t *out, int pretty);
void vtg_json_begin_object(vtg_json_writer_t *w);
void vtg_json_end_object(vtg_json_writer_t *w);
void vtg_json_begin_array(vtg_json_writer_t *w);
void vtg_json_end_array(vtg_json_writer_t *w);
void vtg_json_key(vtg_json_writer_t *w, const char *key);
void vtg_json_string(vtg_json_writer_t *w, const char *s); /* NULL writes null */
void vtg_json_int(vtg_json_writer_t *w, int64_t v);
void vtg_json_double(vtg_json_writer_t *w, double v);      /* non-finite writes null */
void vtg_json_bool(vtg_json_writer_t *w, int v);
void vtg_json_null(vtg_json_writer_t *w);
/* RFC 3339 UTC ms string from unix us; writes null when unix_us is INT64_MIN. */
void vtg_json_time(vtg_json_writer_t *w, int64_t unix_us);
/* Appends raw, already valid JSON as a value. */
void vtg_json_raw(vtg_json_writer_t *w, const char *json, size_t len);
int vtg_json_finish(vtg_json_writer_t *w);

/* ---- parser ---- */
typedef enum {
  VTG_JSON_NULL, VTG_JSON_BOOL, VTG_JSON_NUMBER, VTG_JSON_STRING, VTG_JSON_ARRAY,
  VTG_JSON_OBJECT
} vtg_json_type;

typedef struct vtg_json_s vtg_json_t;
struct vtg_json_s {
  vtg_json_type type;
  int boolean;
  double number;
  char *string;        /* STRING: decoded UTF-8, NUL-terminated */
  size_t n;            /* ARRAY/OBJECT: element count */
  char **keys;         /* OBJECT */
  vtg_json_t **items;  /* ARRAY/OBJECT */
};

/* Parses text (len bytes) into a tree; *out owned by the caller
 * (vtg_json_free). Returns 0, VTG_EJSON (err gets "offset N: what") or
 * VTG_ENOMEM. Depth is capped at 64. */
int vtg_json_parse(const char *text, size_t len, vtg_json_t **out, char *err, size_t errlen);
void vtg_json_free(vtg_json_t *v); /* NULL allowed */
/* Object member or NULL. */
const vtg_json_t *vtg_json_get(const vtg_json_t *obj, const char *key);
/* Writes a parsed tree back out (keys in their order). */
void vtg_json_write_value(vtg_json_writer_t *w, const vtg_json_t *v);
/* Sets or adds a numeric member of an object (used to refresh duration_s).
 * Returns 0, VTG_EINVAL (obj not an object) or VTG_ENOMEM. */
int vtg_json_set_num(vtg_json_t *obj, const char *key, double v);
/* Convenience: member as string / number, or the fallback when absent, null
 * or of another type. */
const char *vtg_json_get_str(const vtg_json_t *obj, const char *key, const char *fallback);
double vtg_json_get_num(const vtg_json_t *obj, const char *key, double fallback);

#endif
