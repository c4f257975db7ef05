/* JSON writer and DOM parser.
 *
 * The writer tracks nesting in need_comma[]: bit 0 says the container at
 * that depth already holds a value (a comma is due), bit 1 says it is an
 * object (a key must come first). Errors are sticky in w->err.
 *
 * The parser is recursive descent over a length-delimited buffer, with the
 * nesting depth capped so that hostile input cannot exhaust the stack. */
#include "vtg/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/clock.h"
#include "vtg/error.h"

#define JSON_MAX_DEPTH 64
#define NC_COMMA 1
#define NC_OBJECT 2

/* ---------------------------------------------------------------- writer */

void vtg_json_writer_init(vtg_json_writer_t *w, vtg_buf_t *out, int pretty) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->pretty = pretty;
}

static void put(vtg_json_writer_t *w, const char *s, size_t n) {
  if (w->err) return;
  int rc = vtg_buf_append(w->out, s, n);
  if (rc) w->err = rc;
}

static void puts_(vtg_json_writer_t *w, const char *s) { put(w, s, strlen(s)); }

static void newline_indent(vtg_json_writer_t *w) {
  static const char spaces[] = "                                ";
  puts_(w, "\n");
  for (int i = 0; i < w->depth; i++) put(w, spaces, 2);
}

/* Emits whatever must precede a value: nothing after a key, else a comma
 * and (pretty) a line break. A value directly in an object is an error. */
static void before_value(vtg_json_writer_t *w) {
  if (w->err) return;
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->depth == 0) return;
  int *nc = &w->need_comma[w->depth - 1];
  if (*nc & NC_OBJECT) {
    w->err = VTG_EINVAL; /* value without a key */
    return;
  }
  if (*nc & NC_COMMA) puts_(w, ",");
  if (w->pretty) newline_indent(w);
  *nc |= NC_COMMA;
}

static void begin(vtg_json_writer_t *w, const char *open, int flags) {
  before_value(w);
  if (w->err) return;
  if (w->depth >= JSON_MAX_DEPTH) {
    w->err = VTG_ELIMIT;
    return;
  }
  puts_(w, open);
  w->need_comma[w->depth++] = flags;
}

static void end(vtg_json_writer_t *w, const char *close, int flags) {
  if (w->err) return;
  if (w->depth == 0 || w->after_key || (w->need_comma[w->depth - 1] & NC_OBJECT) != flags) {
    w->err = VTG_EINVAL;
    return;
  }
  int had = w->need_comma[w->depth - 1] & NC_COMMA;
  w->depth--;
  if (w->pretty && had) newline_indent(w);
  puts_(w, close);
}

void vtg_json_begin_object(vtg_json_writer_t *w) { begin(w, "{", NC_OBJECT); }
void vtg_json_end_object(vtg_json_writer_t *w) { end(w, "}", NC_OBJECT); }
void vtg_json_begin_array(vtg_json_writer_t *w) { begin(w, "[", 0); }
void vtg_json_end_array(vtg_json_writer_t *w) { end(w, "]", 0); }

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid
 * (overlongs, surrogates and code points past U+10FFFF included). */
static size_t utf8_valid(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* Writes s quoted. Control characters are escaped as RFC 8259 requires;
 * invalid UTF-8 (curl error text, odd URLs) becomes U+FFFD so that the
 * output is always valid JSON. */
static void write_string(vtg_json_writer_t *w, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str), i = 0, run = 0;
  puts_(w, "\"");
  while (i < n) {
    unsigned char ch = s[i];
    const char *esc = NULL;
    char ubuf[8];
    size_t l = 1;
    if (ch == '"') esc = "\\\"";
    else if (ch == '\\') esc = "\\\\";
    else if (ch == '\n') esc = "\\n";
    else if (ch == '\r') esc = "\\r";
    else if (ch == '\t') esc = "\\t";
    else if (ch == '\b') esc = "\\b";
    else if (ch == '\f') esc = "\\f";
    else if (ch < 0x20) {
      snprintf(ubuf, sizeof ubuf, "\\u%04x", ch);
      esc = ubuf;
    } else if (ch >= 0x80) {
      l = utf8_valid(s + i, n - i);
      if (l == 0) {
        esc = "\\ufffd";
        l = 1;
      }
    }
    if (esc) {
      put(w, (const char *)s + run, i - run);
      puts_(w, esc);
      run = i + l;
    }
    i += l;
  }
  put(w, (const char *)s + run, n - run);
  puts_(w, "\"");
}

void vtg_json_key(vtg_json_writer_t *w, const char *key) {
  if (w->err) return;
  if (w->depth == 0 || w->after_key || !(w->need_comma[w->depth - 1] & NC_OBJECT) ||
      key == NULL) {
    w->err = VTG_EINVAL;
    return;
  }
  int *nc = &w->need_comma[w->depth - 1];
  if (*nc & NC_COMMA) puts_(w, ",");
  if (w->pretty) newline_indent(w);
  *nc |= NC_COMMA;
  write_string(w, key);
  puts_(w, w->pretty ? ": " : ":");
  w->after_key = 1;
}

void vtg_json_string(vtg_json_writer_t *w, const char *s) {
  if (s == NULL) {
    vtg_json_null(w);
    return;
  }
  before_value(w);
  write_string(w, s);
}

void vtg_json_int(vtg_json_writer_t *w, int64_t v) {
  char tmp[32];
  before_value(w);
  snprintf(tmp, sizeof tmp, "%" PRId64, v);
  puts_(w, tmp);
}

/* Shortest of %.15g/%.16g/%.17g that reads back as the same double, so
 * 0.1 prints as 0.1 and integral values print without a fraction. */
static void format_double(double v, char *tmp, size_t size) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, size, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v) return;
  }
}

void vtg_json_double(vtg_json_writer_t *w, double v) {
  char tmp[40];
  if (!isfinite(v)) {
    vtg_json_null(w);
    return;
  }
  before_value(w);
  format_double(v, tmp, sizeof tmp);
  puts_(w, tmp);
}

void vtg_json_bool(vtg_json_writer_t *w, int v) {
  before_value(w);
  puts_(w, v ? "true" : "false");
}

void vtg_json_null(vtg_json_writer_t *w) {
  before_value(w);
  puts_(w, "null");
}

void vtg_json_time(vtg_json_writer_t *w, int64_t unix_us) {
  char tmp[48];
  if (unix_us == INT64_MIN) {
    vtg_json_null(w);
    return;
  }
  vtg_clock_format_rfc3339(unix_us, tmp, sizeof tmp);
  vtg_json_string(w, tmp);
}

void vtg_json_raw(vtg_json_writer_t *w, const char *json, size_t len) {
  before_value(w);
  put(w, json, len);
}

int vtg_json_finish(vtg_json_writer_t *w) {
  if (w->err) return w->err;
  if (w->depth != 0 || w->after_key) return VTG_EINVAL;
  return 0;
}

void vtg_json_write_value(vtg_json_writer_t *w, const vtg_json_t *v) {
  if (v == NULL) {
    vtg_json_null(w);
    return;
  }
  switch (v->type) {
    case VTG_JSON_NULL: vtg_json_null(w); break;
    case VTG_JSON_BOOL: vtg_json_bool(w, v->boolean); break;
    case VTG_JSON_NUMBER: vtg_json_double(w, v->number); break;
    case VTG_JSON_STRING: vtg_json_string(w, v->string); break;
    case VTG_JSON_ARRAY:
      vtg_json_begin_array(w);
      for (size_t i = 0; i < v->n; i++) vtg_json_write_value(w, v->items[i]);
      vtg_json_end_array(w);
      break;
    case VTG_JSON_OBJECT:
      vtg_json_begin_object(w);
      for (size_t i = 0; i < v->n; i++) {
        vtg_json_key(w, v->keys[i]);
        vtg_json_write_value(w, v->items[i]);
      }
      vtg_json_end_object(w);
      break;
  }
}

/* ---------------------------------------------------------------- parser */

typedef struct {
  const char *s;
  size_t len;
  size_t pos;
  char *err;
  size_t errlen;
  int rc;
} parser_t;

static int fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser_t *p, const char *fmt, ...) {
  if (p->rc) return p->rc;
  p->rc = VTG_EJSON;
  if (p->err && p->errlen) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "offset %zu: %s", p->pos, what);
  }
  return p->rc;
}

static int nomem(parser_t *p) {
  if (p->rc) return p->rc;
  p->rc = VTG_ENOMEM;
  if (p->err && p->errlen) snprintf(p->err, p->errlen, "offset %zu: out of memory", p->pos);
  return p->rc;
}

static void skip_ws(parser_t *p) {
  while (p->pos < p->len) {
    char ch = p->s[p->pos];
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
    p->pos++;
  }
}

void vtg_json_free(vtg_json_t *v) {
  if (v == NULL) return;
  free(v->string);
  for (size_t i = 0; i < v->n; i++) {
    if (v->keys) free(v->keys[i]);
    if (v->items) vtg_json_free(v->items[i]);
  }
  free(v->keys);
  free(v->items);
  free(v);
}

/* Arrays grow to 4, 8, 16, ... slots; the capacity follows from n. */
static int grow(vtg_json_t *v, int with_keys) {
  size_t n = v->n;
  if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return 0;
  size_t cap = n == 0 ? 4 : n * 2;
  if (cap > SIZE_MAX / sizeof(void *)) return VTG_ENOMEM;
  vtg_json_t **items = realloc(v->items, cap * sizeof *items);
  if (items == NULL) return VTG_ENOMEM;
  v->items = items;
  if (with_keys) {
    char **keys = realloc(v->keys, cap * sizeof *keys);
    if (keys == NULL) return VTG_ENOMEM;
    v->keys = keys;
  }
  return 0;
}

static int hex4(parser_t *p, uint32_t *out) {
  uint32_t v = 0;
  if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
  for (int i = 0; i < 4; i++) {
    char ch = p->s[p->pos + i];
    v <<= 4;
    if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
    else return fail(p, "bad hex digit in \\u escape");
  }
  p->pos += 4;
  *out = v;
  return 0;
}

static int put_utf8(vtg_buf_t *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (char)cp, n = 1;
  else if (cp < 0x800) {
    u[0] = (char)(0xc0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12);
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18);
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return vtg_buf_append(b, u, n);
}

/* Parses a string at p->pos (on the opening quote) into a malloc'd
 * NUL-terminated UTF-8 string. \u0000 is refused since the result is a C
 * string; a lone surrogate is refused as well. */
static int parse_string(parser_t *p, char **out) {
  vtg_buf_t b;
  int rc = 0;
  vtg_buf_init(&b, 0);
  p->pos++; /* opening quote */
  for (;;) {
    size_t run = p->pos;
    while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
           (unsigned char)p->s[p->pos] >= 0x20)
      p->pos++;
    if (p->pos > run && vtg_buf_append(&b, p->s + run, p->pos - run)) {
      rc = nomem(p);
      goto out;
    }
    if (p->pos >= p->len) {
      rc = fail(p, "unterminated string");
      goto out;
    }
    char ch = p->s[p->pos];
    if (ch == '"') {
      p->pos++;
      break;
    }
    if (ch != '\\') {
      rc = fail(p, "control character in string");
      goto out;
    }
    p->pos++;
    if (p->pos >= p->len) {
      rc = fail(p, "unterminated string");
      goto out;
    }
    ch = p->s[p->pos++];
    char lit = 0;
    switch (ch) {
      case '"': lit = '"'; break;
      case '\\': lit = '\\'; break;
      case '/': lit = '/'; break;
      case 'b': lit = '\b'; break;
      case 'f': lit = '\f'; break;
      case 'n': lit = '\n'; break;
      case 'r': lit = '\r'; break;
      case 't': lit = '\t'; break;
      case 'u': {
        uint32_t cp, lo;
        if ((rc = hex4(p, &cp))) goto out;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
          rc = fail(p, "lone low surrogate in \\u escape");
          goto out;
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
            rc = fail(p, "high surrogate not followed by a low one");
            goto out;
          }
          p->pos += 2;
          if ((rc = hex4(p, &lo))) goto out;
          if (lo < 0xdc00 || lo > 0xdfff) {
            rc = fail(p, "high surrogate not followed by a low one");
            goto out;
          }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) {
          rc = fail(p, "\\u0000 is not supported");
          goto out;
        }
        if (put_utf8(&b, cp)) {
          rc = nomem(p);
          goto out;
        }
        continue;
      }
      default:
        p->pos--;
        rc = fail(p, "bad escape '\\%c'", ch);
        goto out;
    }
    if (vtg_buf_append(&b, &lit, 1)) {
      rc = nomem(p);
      goto out;
    }
  }
  *out = vtg_buf_take(&b, NULL);
  if (*out == NULL) rc = nomem(p);
out:
  vtg_buf_free(&b);
  return rc;
}

/* Validates the RFC 8259 number grammar, then converts with strtod. */
static int parse_number(parser_t *p, double *out) {
  size_t start = p->pos;
  const char *s = p->s;
  char tmp[64];
#define PEEK (p->pos < p->len ? s[p->pos] : '\0')
#define DIGIT (PEEK >= '0' && PEEK <= '9')
  if (PEEK == '-') p->pos++;
  if (PEEK == '0') {
    p->pos++;
  } else if (DIGIT) {
    while (DIGIT) p->pos++;
  } else {
    return fail(p, "bad number");
  }
  if (PEEK == '.') {
    p->pos++;
    if (!DIGIT) return fail(p, "bad number: digit expected after '.'");
    while (DIGIT) p->pos++;
  }
  if (PEEK == 'e' || PEEK == 'E') {
    p->pos++;
    if (PEEK == '+' || PEEK == '-') p->pos++;
    if (!DIGIT) return fail(p, "bad number: digit expected in exponent");
    while (DIGIT) p->pos++;
  }
#undef DIGIT
#undef PEEK
  size_t n = p->pos - start;
  char *heap = NULL, *num = tmp;
  if (n >= sizeof tmp) {
    heap = malloc(n + 1);
    if (heap == NULL) return nomem(p);
    num = heap;
  }
  memcpy(num, s + start, n);
  num[n] = '\0';
  *out = strtod(num, NULL);
  free(heap);
  return 0;
}

static int parse_value(parser_t *p, vtg_json_t **out, int depth);

static int parse_literal(parser_t *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return fail(p, "unexpected character '%c'", p->s[p->pos]);
  p->pos += n;
  return 0;
}

static int parse_container(parser_t *p, vtg_json_t *v, int depth) {
  int is_obj = v->type == VTG_JSON_OBJECT;
  char close = is_obj ? '}' : ']';
  int rc;

  p->pos++; /* opening bracket */
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == close) {
    p->pos++;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    vtg_json_t *item = NULL;
    skip_ws(p);
    if (is_obj) {
      if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "object key expected");
      if ((rc = parse_string(p, &key))) return rc;
      skip_ws(p);
      if (p->pos >= p->len || p->s[p->pos] != ':') {
        free(key);
        return fail(p, "':' expected");
      }
      p->pos++;
    }
    if ((rc = parse_value(p, &item, depth + 1))) {
      free(key);
      return rc;
    }
    if (grow(v, is_obj)) {
      free(key);
      vtg_json_free(item);
      return nomem(p);
    }
    if (is_obj) v->keys[v->n] = key;
    v->items[v->n++] = item;
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input, '%c' expected", close);
    char ch = p->s[p->pos++];
    if (ch == close) return 0;
    if (ch != ',') {
      p->pos--;
      return fail(p, "',' or '%c' expected", close);
    }
  }
}

static int parse_value(parser_t *p, vtg_json_t **out, int depth) {
  vtg_json_t *v;
  int rc = 0;

  skip_ws(p);
  if (p->pos >= p->len) return fail(p, "unexpected end of input");
  if (depth > JSON_MAX_DEPTH) return fail(p, "nesting deeper than %d", JSON_MAX_DEPTH);
  v = calloc(1, sizeof *v);
  if (v == NULL) return nomem(p);
  char ch = p->s[p->pos];
  switch (ch) {
    case '{': v->type = VTG_JSON_OBJECT; rc = parse_container(p, v, depth); break;
    case '[': v->type = VTG_JSON_ARRAY; rc = parse_container(p, v, depth); break;
    case '"': v->type = VTG_JSON_STRING; rc = parse_string(p, &v->string); break;
    case 't': v->type = VTG_JSON_BOOL; v->boolean = 1; rc = parse_literal(p, "true"); break;
    case 'f': v->type = VTG_JSON_BOOL; rc = parse_literal(p, "false"); break;
    case 'n': v->type = VTG_JSON_NULL; rc = parse_literal(p, "null"); break;
    default:
      if (ch == '-' || (ch >= '0' && ch <= '9')) {
        v->type = VTG_JSON_NUMBER;
        rc = parse_number(p, &v->number);
      } else {
        rc = fail(p, "unexpected character '%c'", ch);
      }
  }
  if (rc) {
    vtg_json_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

int vtg_json_parse(const char *text, size_t len, vtg_json_t **out, char *err, size_t errlen) {
  parser_t p = {text, len, 0, err, errlen, 0};
  vtg_json_t *v = NULL;
  int rc;

  if (err && errlen) err[0] = '\0';
  if (text == NULL) return fail(&p, "no input");
  if ((rc = parse_value(&p, &v, 1))) return rc;
  skip_ws(&p);
  if (p.pos != len) {
    vtg_json_free(v);
    return fail(&p, "trailing characters after the value");
  }
  *out = v;
  return 0;
}

const vtg_json_t *vtg_json_get(const vtg_json_t *obj, const char *key) {
  if (obj == NULL || obj->type != VTG_JSON_OBJECT || key == NULL) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}

const char *vtg_json_get_str(const vtg_json_t *obj, const char *key, const char *fallback) {
  const vtg_json_t *v = vtg_json_get(obj, key);
  return v && v->type == VTG_JSON_STRING ? v->string : fallback;
}

double vtg_json_get_num(const vtg_json_t *obj, const char *key, double fallback) {
  const vtg_json_t *v = vtg_json_get(obj, key);
  return v && v->type == VTG_JSON_NUMBER ? v->number : fallback;
}

/* Replaces an existing member in place (keeping its position) or appends
 * one. Returns 0, VTG_EINVAL (obj not an object) or VTG_ENOMEM. */
int vtg_json_set_num(vtg_json_t *obj, const char *key, double v) {
  if (obj == NULL || obj->type != VTG_JSON_OBJECT || key == NULL) return VTG_EINVAL;
  for (size_t i = 0; i < obj->n; i++) {
    if (strcmp(obj->keys[i], key) == 0) {
      vtg_json_t *old = obj->items[i];
      vtg_json_t *nv = calloc(1, sizeof *nv);
      if (nv == NULL) return VTG_ENOMEM;
      nv->type = VTG_JSON_NUMBER;
      nv->number = v;
      obj->items[i] = nv;
      vtg_json_free(old);
      return 0;
    }
  }
  vtg_json_t *nv = calloc(1, sizeof *nv);
  char *k = strdup(key);
  if (nv == NULL || k == NULL || grow(obj, 1)) {
    free(nv);
    free(k);
    return VTG_ENOMEM;
  }
  nv->type = VTG_JSON_NUMBER;
  nv->number = v;
  obj->keys[obj->n] = k;
  obj->items[obj->n++] = nv;
  return 0;
}
