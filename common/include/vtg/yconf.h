/* YAML configuration files as a tree whose every node knows its line and
 * column, with typed getters that report errors as
 * "FILE:LINE:COL: what was expected". Config modules of both daemons walk
 * the tree with these getters and refuse unknown keys.
 *
 * Errors go to an error sink (vtg_yconf_t.err), one message, the first one
 * wins; getters return 0 or VTG_ECONFIG. */
#ifndef VTG_YCONF_H
#define VTG_YCONF_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VTG_YNODE_SCALAR, VTG_YNODE_MAP, VTG_YNODE_SEQ } vtg_ynode_kind;

typedef struct vtg_ynode_s vtg_ynode_t;
struct vtg_ynode_s {
  vtg_ynode_kind kind;
  int line;           /* 1-based */
  int col;            /* 1-based */
  char *scalar;       /* SCALAR: the value, NUL-terminated */
  int quoted;         /* SCALAR: was written in quotes */
  size_t n;           /* MAP: pairs; SEQ: items */
  char **keys;        /* MAP: key strings */
  int *key_lines;     /* MAP: where each key is */
  int *key_cols;
  vtg_ynode_t **items; /* MAP: values; SEQ: items */
};

typedef struct vtg_yconf_s {
  char *file;          /* path, for messages */
  vtg_ynode_t *root;   /* NULL for an empty document */
  char err[512];       /* first error, "" when none */
} vtg_yconf_t;

/* Loads and parses a file. On failure returns VTG_ECONFIG (syntax error,
 * with line:col, in c->err) or VTG_EIO (c->err says why); c must still be
 * freed with vtg_yconf_free. */
int vtg_yconf_load_file(vtg_yconf_t *c, const char *path);
/* Same from a string; name is used in messages. */
int vtg_yconf_load_string(vtg_yconf_t *c, const char *name, const char *text);
void vtg_yconf_free(vtg_yconf_t *c);

/* Records "FILE:LINE:COL: message" at node n (first error wins) and returns
 * VTG_ECONFIG. */
int vtg_yconf_error(vtg_yconf_t *c, const vtg_ynode_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same at an explicit position (e.g. a map key: m->key_lines[i],
 * m->key_cols[i]); line 0 gives "FILE: message". */
int vtg_yconf_error_at(vtg_yconf_t *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Map lookup; NULL when absent (or m is not a map). */
const vtg_ynode_t *vtg_yconf_get(const vtg_ynode_t *m, const char *key);
/* Fails on the first key of map m not in the NULL-terminated list
 * ("unknown key 'x' (expected one of: a, b, c)"), or if m is not a map. */
int vtg_yconf_check_keys(vtg_yconf_t *c, const vtg_ynode_t *m, const char *const *allowed);
/* Fails if n is not of that kind ("expected a mapping", ...). */
int vtg_yconf_expect(vtg_yconf_t *c, const vtg_ynode_t *n, vtg_ynode_kind kind);

/* Typed reads of m[key]. "required" variants fail when the key is absent
 * ("missing key 'x'" at m); the others leave *out untouched when absent.
 * Strings are strdup'ed into *out (caller frees; an old *out is freed). */
int vtg_yconf_str(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                  char **out);
int vtg_yconf_int(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                  int64_t min, int64_t max, int64_t *out);
int vtg_yconf_double(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                     double min, double max, double *out);
int vtg_yconf_bool(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                   int *out);
/* Durations: "250ms", "1s", "1.5s", "2m", "1h", "1h30m", "100us", "14d"; a bare
 * number is refused ("expected a duration such as 30s"). Result in
 * microseconds, checked against [min_us, max_us]. */
int vtg_yconf_duration(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                       int64_t min_us, int64_t max_us, int64_t *out_us);

/* Parses a duration string as above. Returns 0 or VTG_EINVAL. */
int vtg_duration_parse(const char *s, int64_t *out_us);

#endif
