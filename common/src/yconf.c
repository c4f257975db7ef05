/* YAML configuration as a position-annotated tree, built from libyaml's
 * event stream, and typed getters that report "FILE:LINE:COL: message".
 *
 * Only one document is accepted. Aliases are refused (configs have no need
 * for them and they make positions ambiguous); anchors are ignored. Every
 * node is attached to its parent as soon as it is created, so on any
 * failure freeing the root frees everything. */
#include "vtg/yconf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "vtg/error.h"

#define YCONF_MAX_DEPTH 64
#define YCONF_MAX_FILE (16u * 1024 * 1024)

/* ------------------------------------------------------------- errors */

static int verror_at(vtg_yconf_t *c, int line, int col, const char *fmt, va_list ap) {
  char msg[400];
  if (c->err[0] != '\0') return VTG_ECONFIG; /* first error wins */
  vsnprintf(msg, sizeof msg, fmt, ap);
  const char *file = c->file ? c->file : "(config)";
  if (line > 0)
    snprintf(c->err, sizeof c->err, "%s:%d:%d: %s", file, line, col, msg);
  else
    snprintf(c->err, sizeof c->err, "%s: %s", file, msg);
  return VTG_ECONFIG;
}

int vtg_yconf_error_at(vtg_yconf_t *c, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror_at(c, line, col, fmt, ap);
  va_end(ap);
  return rc;
}

int vtg_yconf_error(vtg_yconf_t *c, const vtg_ynode_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror_at(c, n ? n->line : 0, n ? n->col : 0, fmt, ap);
  va_end(ap);
  return rc;
}

/* ------------------------------------------------------------- tree */

static void node_free(vtg_ynode_t *n) {
  if (n == NULL) return;
  free(n->scalar);
  for (size_t i = 0; i < n->n; i++) {
    if (n->keys) free(n->keys[i]);
    if (n->items) node_free(n->items[i]);
  }
  free(n->keys);
  free(n->key_lines);
  free(n->key_cols);
  free(n->items);
  free(n);
}

/* Capacity follows from n: 4, 8, 16, ... */
static int node_grow(vtg_ynode_t *n) {
  size_t cnt = n->n;
  if (cnt != 0 && (cnt < 4 || (cnt & (cnt - 1)) != 0)) return 0;
  size_t cap = cnt == 0 ? 4 : cnt * 2;
  vtg_ynode_t **items = realloc(n->items, cap * sizeof *items);
  if (items == NULL) return VTG_ENOMEM;
  n->items = items;
  if (n->kind == VTG_YNODE_MAP) {
    char **keys = realloc(n->keys, cap * sizeof *keys);
    if (keys == NULL) return VTG_ENOMEM;
    n->keys = keys;
    int *kl = realloc(n->key_lines, cap * sizeof *kl);
    if (kl == NULL) return VTG_ENOMEM;
    n->key_lines = kl;
    int *kc = realloc(n->key_cols, cap * sizeof *kc);
    if (kc == NULL) return VTG_ENOMEM;
    n->key_cols = kc;
  }
  return 0;
}

typedef struct {
  vtg_ynode_t *node;
  char *key; /* MAP: pending key awaiting its value */
  int key_line, key_col;
} frame_t;

typedef struct {
  vtg_yconf_t *c;
  frame_t stack[YCONF_MAX_DEPTH];
  int depth;
  int docs;
} builder_t;

/* Attaches a new node (owned by the tree from here on, or freed here on
 * failure) to the open container, or makes it the root. A scalar where a
 * key is due becomes the pending key. */
static int attach(builder_t *b, vtg_ynode_t *n) {
  vtg_yconf_t *c = b->c;
  if (b->depth == 0) {
    if (c->root != NULL) {
      node_free(n);
      return vtg_yconf_error(c, n, "more than one document");
    }
    c->root = n;
    return 0;
  }
  frame_t *f = &b->stack[b->depth - 1];
  vtg_ynode_t *p = f->node;
  if (p->kind == VTG_YNODE_MAP && f->key == NULL) {
    int rc;
    if (n->kind != VTG_YNODE_SCALAR) {
      rc = vtg_yconf_error(c, n, "mapping keys must be scalars");
      node_free(n);
      return rc;
    }
    for (size_t i = 0; i < p->n; i++) {
      if (strcmp(p->keys[i], n->scalar) == 0) {
        rc = vtg_yconf_error(c, n, "duplicate key '%s' (first at line %d)", n->scalar,
                             p->key_lines[i]);
        node_free(n);
        return rc;
      }
    }
    f->key = n->scalar;
    f->key_line = n->line;
    f->key_col = n->col;
    n->scalar = NULL;
    node_free(n);
    return 0;
  }
  if (node_grow(p)) {
    node_free(n);
    return VTG_ENOMEM;
  }
  if (p->kind == VTG_YNODE_MAP) {
    p->keys[p->n] = f->key;
    p->key_lines[p->n] = f->key_line;
    p->key_cols[p->n] = f->key_col;
    f->key = NULL;
  }
  p->items[p->n++] = n;
  return 0;
}

static vtg_ynode_t *node_new(vtg_ynode_kind kind, const yaml_mark_t *m) {
  vtg_ynode_t *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  n->kind = kind;
  n->line = (int)m->line + 1;
  n->col = (int)m->column + 1;
  return n;
}

/* Reader errors (bad encoding) carry a byte offset instead of a mark. */
static void offset_to_pos(const char *text, size_t off, int *line, int *col) {
  int l = 1, cl = 1;
  for (size_t i = 0; i < off && text[i]; i++) {
    if (text[i] == '\n') l++, cl = 1;
    else cl++;
  }
  *line = l;
  *col = cl;
}

static int parser_error(vtg_yconf_t *c, yaml_parser_t *yp, const char *text) {
  int line, col;
  const char *problem = yp->problem ? yp->problem : "syntax error";
  if (yp->error == YAML_MEMORY_ERROR) return VTG_ENOMEM;
  if (yp->error == YAML_READER_ERROR) {
    offset_to_pos(text, yp->problem_offset, &line, &col);
  } else {
    line = (int)yp->problem_mark.line + 1;
    col = (int)yp->problem_mark.column + 1;
  }
  return vtg_yconf_error_at(c, line, col, "%s", problem);
}

static int build(vtg_yconf_t *c, const char *text, size_t len) {
  yaml_parser_t yp;
  yaml_event_t ev;
  builder_t b;
  int rc = 0, done = 0;

  memset(&b, 0, sizeof b);
  b.c = c;
  if (!yaml_parser_initialize(&yp)) return VTG_ENOMEM;
  yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
  while (!done) {
    if (!yaml_parser_parse(&yp, &ev)) {
      rc = parser_error(c, &yp, text);
      break;
    }
    vtg_ynode_t *n = NULL;
    switch (ev.type) {
      case YAML_STREAM_END_EVENT: done = 1; break;
      case YAML_DOCUMENT_START_EVENT:
        if (++b.docs > 1) {
          rc = vtg_yconf_error_at(c, (int)ev.start_mark.line + 1,
                                  (int)ev.start_mark.column + 1,
                                  "only one YAML document is allowed");
        }
        break;
      case YAML_ALIAS_EVENT:
        rc = vtg_yconf_error_at(c, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                                "aliases (*%s) are not supported",
                                (const char *)ev.data.alias.anchor);
        break;
      case YAML_SCALAR_EVENT:
        n = node_new(VTG_YNODE_SCALAR, &ev.start_mark);
        if (n == NULL || (n->scalar = malloc(ev.data.scalar.length + 1)) == NULL) {
          node_free(n);
          rc = VTG_ENOMEM;
          break;
        }
        memcpy(n->scalar, ev.data.scalar.value, ev.data.scalar.length);
        n->scalar[ev.data.scalar.length] = '\0';
        if (strlen(n->scalar) != ev.data.scalar.length) {
          rc = vtg_yconf_error(c, n, "NUL character in a scalar");
          node_free(n);
          break;
        }
        n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        rc = attach(&b, n);
        break;
      case YAML_MAPPING_START_EVENT:
      case YAML_SEQUENCE_START_EVENT:
        n = node_new(ev.type == YAML_MAPPING_START_EVENT ? VTG_YNODE_MAP : VTG_YNODE_SEQ,
                     &ev.start_mark);
        if (n == NULL) {
          rc = VTG_ENOMEM;
          break;
        }
        if (b.depth >= YCONF_MAX_DEPTH) {
          rc = vtg_yconf_error(c, n, "nesting deeper than %d levels", YCONF_MAX_DEPTH);
          node_free(n);
          break;
        }
        if ((rc = attach(&b, n))) break;
        b.stack[b.depth].node = n;
        b.stack[b.depth].key = NULL;
        b.depth++;
        break;
      case YAML_MAPPING_END_EVENT:
      case YAML_SEQUENCE_END_EVENT:
        if (b.depth > 0) {
          b.depth--;
          free(b.stack[b.depth].key); /* cannot be set: libyaml pairs them */
          b.stack[b.depth].key = NULL;
        }
        break;
      default: break;
    }
    yaml_event_delete(&ev);
    if (rc) break;
  }
  for (int i = 0; i < b.depth; i++) free(b.stack[i].key);
  yaml_parser_delete(&yp);
  if (rc == VTG_ENOMEM) vtg_yconf_error_at(c, 0, 0, "out of memory");
  return rc;
}

static int yconf_begin(vtg_yconf_t *c, const char *name) {
  c->root = NULL;
  c->err[0] = '\0';
  c->file = strdup(name ? name : "(config)");
  if (c->file == NULL) {
    snprintf(c->err, sizeof c->err, "out of memory");
    return VTG_ENOMEM;
  }
  return 0;
}

int vtg_yconf_load_string(vtg_yconf_t *c, const char *name, const char *text) {
  int rc = yconf_begin(c, name);
  if (rc) return rc;
  rc = build(c, text ? text : "", text ? strlen(text) : 0);
  if (rc) {
    node_free(c->root);
    c->root = NULL;
  }
  return rc;
}

int vtg_yconf_load_file(vtg_yconf_t *c, const char *path) {
  FILE *f = NULL;
  char *text = NULL;
  size_t len = 0;
  int rc = yconf_begin(c, path);
  if (rc) return rc;

  f = fopen(path, "rb");
  if (f == NULL) {
    rc = VTG_EIO;
    vtg_yconf_error_at(c, 0, 0, "cannot open: %s", strerror(errno));
    goto out;
  }
  /* Read in steps up to the cap: a config file is small, and refusing
   * huge input keeps a typo'd path (a device, a log) from eating memory. */
  size_t alloc = 0;
  for (;;) {
    if (len + 4096 + 1 > alloc) {
      size_t na = alloc ? alloc * 2 : 8192;
      char *p = realloc(text, na);
      if (p == NULL) {
        rc = VTG_ENOMEM;
        vtg_yconf_error_at(c, 0, 0, "out of memory");
        goto out;
      }
      text = p;
      alloc = na;
    }
    size_t got = fread(text + len, 1, alloc - len - 1, f);
    len += got;
    if (len > YCONF_MAX_FILE) {
      rc = VTG_EIO;
      vtg_yconf_error_at(c, 0, 0, "file larger than %u bytes", YCONF_MAX_FILE);
      goto out;
    }
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = VTG_EIO;
    vtg_yconf_error_at(c, 0, 0, "read error: %s", strerror(errno));
    goto out;
  }
  text[len] = '\0';
  rc = build(c, text, len);
  if (rc) {
    node_free(c->root);
    c->root = NULL;
  }
out:
  if (f) fclose(f);
  free(text);
  return rc;
}

void vtg_yconf_free(vtg_yconf_t *c) {
  if (c == NULL) return;
  node_free(c->root);
  c->root = NULL;
  free(c->file);
  c->file = NULL;
}

/* ------------------------------------------------------------- getters */

static const char *kind_name(vtg_ynode_kind k) {
  switch (k) {
    case VTG_YNODE_MAP: return "a mapping";
    case VTG_YNODE_SEQ: return "a sequence";
    default: return "a scalar";
  }
}

const vtg_ynode_t *vtg_yconf_get(const vtg_ynode_t *m, const char *key) {
  if (m == NULL || m->kind != VTG_YNODE_MAP || key == NULL) return NULL;
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->keys[i], key) == 0) return m->items[i];
  return NULL;
}

int vtg_yconf_expect(vtg_yconf_t *c, const vtg_ynode_t *n, vtg_ynode_kind kind) {
  if (n == NULL) return vtg_yconf_error(c, NULL, "expected %s, got nothing", kind_name(kind));
  if (n->kind == kind) return 0;
  if (n->kind == VTG_YNODE_SCALAR)
    return vtg_yconf_error(c, n, "expected %s, got '%s'", kind_name(kind), n->scalar);
  return vtg_yconf_error(c, n, "expected %s, got %s", kind_name(kind), kind_name(n->kind));
}

int vtg_yconf_check_keys(vtg_yconf_t *c, const vtg_ynode_t *m, const char *const *allowed) {
  int rc = vtg_yconf_expect(c, m, VTG_YNODE_MAP);
  if (rc) return rc;
  for (size_t i = 0; i < m->n; i++) {
    int ok = 0;
    for (const char *const *a = allowed; a && *a; a++) {
      if (strcmp(*a, m->keys[i]) == 0) {
        ok = 1;
        break;
      }
    }
    if (ok) continue;
    char list[300];
    size_t off = 0;
    list[0] = '\0';
    for (const char *const *a = allowed; a && *a; a++) {
      int w = snprintf(list + off, sizeof list - off, "%s%s", a == allowed ? "" : ", ", *a);
      if (w < 0 || (size_t)w >= sizeof list - off) break;
      off += (size_t)w;
    }
    return vtg_yconf_error_at(c, m->key_lines[i], m->key_cols[i],
                              "unknown key '%s' (expected one of: %s)", m->keys[i], list);
  }
  return 0;
}

/* A plain empty scalar, "~" or "null" means "no value" in YAML. */
static int is_null(const vtg_ynode_t *n) {
  if (n->kind != VTG_YNODE_SCALAR || n->quoted) return 0;
  const char *s = n->scalar;
  return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
         strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* Shared first step of every typed getter: finds m[key] and checks that it
 * is a scalar with a value. Returns 1 with *out set, 0 when absent and not
 * required, or VTG_ECONFIG. */
static int lookup_scalar(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                         const char *what, const vtg_ynode_t **out) {
  if (m == NULL || m->kind != VTG_YNODE_MAP) {
    if (!required) return 0;
    return m ? vtg_yconf_error(c, m, "missing key '%s' (not a mapping)", key)
             : vtg_yconf_error(c, NULL, "missing key '%s'", key);
  }
  const vtg_ynode_t *n = vtg_yconf_get(m, key);
  if (n == NULL) {
    if (!required) return 0;
    return vtg_yconf_error(c, m, "missing key '%s'", key);
  }
  if (n->kind != VTG_YNODE_SCALAR)
    return vtg_yconf_error(c, n, "'%s': expected %s, got %s", key, what, kind_name(n->kind));
  if (is_null(n)) {
    if (!required) return 0;
    return vtg_yconf_error(c, n, "'%s': expected %s, got no value", key, what);
  }
  *out = n;
  return 1;
}

int vtg_yconf_str(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                  char **out) {
  const vtg_ynode_t *n = NULL;
  int rc = lookup_scalar(c, m, key, required, "a string", &n);
  if (rc <= 0) return rc;
  char *s = strdup(n->scalar);
  if (s == NULL) return vtg_yconf_error(c, n, "out of memory");
  free(*out);
  *out = s;
  return 0;
}

int vtg_yconf_int(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                  int64_t min, int64_t max, int64_t *out) {
  const vtg_ynode_t *n = NULL;
  int rc = lookup_scalar(c, m, key, required, "an integer", &n);
  if (rc <= 0) return rc;
  const char *s = n->scalar;
  char *end = NULL;
  errno = 0;
  long long v = 0;
  int bad = !((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') &&
                                               s[1] >= '0' && s[1] <= '9'));
  if (!bad) {
    v = strtoll(s, &end, 10);
    bad = *end != '\0';
  }
  if (bad)
    return vtg_yconf_error(c, n, "'%s': expected an integer, got '%s'", key, s);
  if (errno == ERANGE || v < min || v > max)
    return vtg_yconf_error(c, n, "'%s': %s is out of range (expected %" PRId64 "..%" PRId64 ")",
                           key, s, min, max);
  *out = (int64_t)v;
  return 0;
}

int vtg_yconf_double(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                     double min, double max, double *out) {
  const vtg_ynode_t *n = NULL;
  int rc = lookup_scalar(c, m, key, required, "a number", &n);
  if (rc <= 0) return rc;
  const char *s = n->scalar;
  char *end = NULL;
  double v = 0;
  /* strtod also takes "nan", "inf" and hex; configs want plain decimals. */
  int bad = strpbrk(s, "xXnNiI") != NULL || s[0] == ' ' || s[0] == '\t';
  if (!bad) {
    errno = 0;
    v = strtod(s, &end);
    bad = end == s || *end != '\0' || errno == ERANGE || !isfinite(v);
  }
  if (bad) return vtg_yconf_error(c, n, "'%s': expected a number, got '%s'", key, s);
  if (v < min || v > max)
    return vtg_yconf_error(c, n, "'%s': %s is out of range (expected %g..%g)", key, s, min,
                           max);
  *out = v;
  return 0;
}

int vtg_yconf_bool(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                   int *out) {
  static const char *const yes[] = {"true", "yes", "on"};
  static const char *const no[] = {"false", "no", "off"};
  const vtg_ynode_t *n = NULL;
  int rc = lookup_scalar(c, m, key, required, "a boolean", &n);
  if (rc <= 0) return rc;
  for (int i = 0; i < 3; i++) {
    if (strcasecmp(n->scalar, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(n->scalar, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return vtg_yconf_error(c, n, "'%s': expected true or false, got '%s'", key, n->scalar);
}

/* Formats a duration for messages with the largest unit that divides it. */
static void duration_fmt(int64_t us, char *buf, size_t size) {
  static const struct { int64_t us; const char *unit; } units[] = {
      {3600000000LL, "h"}, {60000000LL, "m"}, {1000000LL, "s"}, {1000LL, "ms"}};
  if (us == 0) {
    snprintf(buf, size, "0s");
    return;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (us % units[i].us == 0) {
      snprintf(buf, size, "%" PRId64 "%s", us / units[i].us, units[i].unit);
      return;
    }
  }
  snprintf(buf, size, "%" PRId64 "us", us);
}

int vtg_yconf_duration(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                       int64_t min_us, int64_t max_us, int64_t *out_us) {
  const vtg_ynode_t *n = NULL;
  int64_t v;
  int rc = lookup_scalar(c, m, key, required, "a duration such as 30s or 500ms", &n);
  if (rc <= 0) return rc;
  if (vtg_duration_parse(n->scalar, &v))
    return vtg_yconf_error(c, n, "'%s': expected a duration such as 30s or 500ms, got '%s'",
                           key, n->scalar);
  if (v < min_us || v > max_us) {
    char lo[32], hi[32];
    duration_fmt(min_us, lo, sizeof lo);
    duration_fmt(max_us, hi, sizeof hi);
    return vtg_yconf_error(c, n, "'%s': %s is out of range (expected %s..%s)", key, n->scalar,
                           lo, hi);
  }
  *out_us = v;
  return 0;
}

/* Parses one or more <number><unit> parts ("1h30m", "1.5s", "250ms").
 * The fraction is exact to nine digits (further digits are ignored), so
 * "1.5s" is exactly 1500000 us; sums are checked for overflow. */
int vtg_duration_parse(const char *s, int64_t *out_us) {
  static const struct { const char *name; int64_t us; } units[] = {
      {"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000LL}, {"h", 3600000000LL},
      {"d", 86400000000LL}}; /* days: retention settings ("90d") */
  int64_t total = 0;
  const char *p = s;

  if (s == NULL || *s == '\0') return VTG_EINVAL;
  while (*p) {
    int64_t ip = 0, frac = 0, denom = 1;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (ip > (INT64_MAX - 9) / 10) return VTG_EINVAL;
      ip = ip * 10 + (*p++ - '0');
      nd++;
    }
    if (*p == '.') {
      int fd = 0;
      p++;
      while (*p >= '0' && *p <= '9') {
        if (fd < 9) {
          frac = frac * 10 + (*p - '0');
          denom *= 10;
        }
        fd++;
        p++;
      }
      if (fd == 0) return VTG_EINVAL;
      nd += fd;
    }
    if (nd == 0) return VTG_EINVAL;
    size_t ui, nunits = sizeof units / sizeof units[0];
    for (ui = 0; ui < nunits; ui++) {
      size_t l = strlen(units[ui].name);
      /* "m" must not swallow the 'm' of "ms". */
      if (strncmp(p, units[ui].name, l) == 0 && !(l == 1 && p[0] == 'm' && p[1] == 's'))
        break;
    }
    if (ui == nunits) return VTG_EINVAL; /* bare number or unknown unit */
    p += strlen(units[ui].name);
    int64_t u = units[ui].us;
    if (ip > INT64_MAX / u) return VTG_EINVAL;
    int64_t fpart = frac * u / denom; /* < 1e9 * 3.6e9, fits */
    if (ip * u > INT64_MAX - fpart) return VTG_EINVAL;
    int64_t part = ip * u + fpart;
    if (part > INT64_MAX - total) return VTG_EINVAL;
    total += part;
  }
  *out_us = total;
  return 0;
}
