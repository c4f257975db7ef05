/* The coordinator's configuration file: YAML walked with the vtg_yconf
 * getters. Every map refuses keys it does not know, and every error names
 * FILE:LINE:COL of the offending value, so an operator can fix a config
 * without guessing. Cross-item rules (unique names, timeout < interval) are
 * checked here too, naming both places where two items collide. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"
#include "vtg/yconf.h"

#define US_PER_MS 1000LL
#define US_PER_S (1000LL * US_PER_MS)
#define MAX_DURATION_US (24LL * 3600 * US_PER_S)
#define NAME_MAX_LEN 128

static const char *const top_keys[] = {"listen",       "store",     "log_level",
                                       "heartbeat",    "idle_timeout", "max_frame",
                                       "detection",    "agents",    "services",
                                       "max_clock_offset", "result_log", "result_log_retention",
                                       "result_log_max_bytes", "tls", "plaintext",
                                       "maintenance", "retention", NULL};
static const char *const listen_keys[] = {"agents", "http", NULL};
static const char *const retention_keys[] = {"result_log", "rollups", "incidents", NULL};
static const char *const detect_keys[] = {"fail_threshold", "recover_threshold",
                                          "min_regions",    "merge_gap",
                                          "settle",         "lateness",
                                          "incident_interval", NULL};
static const char *const registry_keys[] = {"id", "region", "country", "lat", "lon", NULL};
static const char *const service_keys[] = {"name", "endpoints", NULL};
static const char *const endpoint_keys[] = {
    "check",      "kind",   "url",    "method",   "interval", "timeout",
    "accept",     "max_latency",      "regions",  "type",     "headers",
    "body",       "follow_redirects", "body_regex", "target", "name",
    "record",     "expect", "resolver", "min_days_left", "ip_version", "every_address",
    "incident_interval", "control", NULL};
static const char *const maint_keys[] = {"check", "service", "start", "end", "duration",
                                         "weekly", "reason", NULL};
static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                      "PATCH", NULL};

/* A name as it appeared in the file, for duplicate detection. */
typedef struct named_s {
  const char *name;
  const vtg_ynode_t *node;
  size_t order; /* position in the file */
} named_t;

/* Identifiers (check, service, region, agent names) end up in URLs, JSON,
 * Prometheus labels and log lines; a small alphabet keeps all of them
 * unambiguous without escaping rules. */
static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return 0;
  }
  return 1;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* Reads m[key] as a string, "" refused, an identifier when ident is set.
 * The error points at the value. */
static int get_name(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int required,
                    int ident, char **out) {
  int err = vtg_yconf_str(c, m, key, required, out);
  if (err) return err;
  if (*out == NULL) return 0;
  const vtg_ynode_t *v = vtg_yconf_get(m, key);
  if ((*out)[0] == '\0') return vtg_yconf_error(c, v, "'%s' must not be empty", key);
  if (ident && !name_ok(*out))
    return vtg_yconf_error(c, v,
                           "'%s' must be 1-%d characters of letters, digits, '-', '_' or '.'",
                           key, NAME_MAX_LEN);
  return 0;
}

static int named_cmp(const void *a, const void *b) {
  const named_t *x = a, *y = b;
  int r = strcmp(x->name, y->name);
  if (r) return r;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Refuses the first (in file order) repeated name, naming both places.
 * Sorting keeps this O(n log n) for configs with thousands of checks. */
static int check_unique(vtg_yconf_t *c, named_t *v, size_t n, const char *what) {
  if (n < 2) return 0;
  qsort(v, n, sizeof *v, named_cmp);
  const named_t *first = NULL, *dup = NULL;
  for (size_t i = 1; i < n; i++) {
    if (strcmp(v[i - 1].name, v[i].name) != 0) continue;
    /* v[i-1] may itself be a repeat; the run's head is the first definition. */
    size_t h = i - 1;
    while (h > 0 && strcmp(v[h - 1].name, v[i].name) == 0) h--;
    if (dup == NULL || v[i].order < dup->order) {
      dup = &v[i];
      first = &v[h];
    }
  }
  if (dup == NULL) return 0;
  return vtg_yconf_error(c, dup->node, "duplicate %s '%s' (first defined at line %d, column %d)",
                         what, dup->name, first->node->line, first->node->col);
}

int vtg_config_parse_addr(const char *hostport, struct sockaddr_storage *out) {
  char host[64];
  const char *colon, *h = hostport;
  size_t hlen;
  if (hostport == NULL) return VTG_EINVAL;
  if (hostport[0] == '[') {
    const char *rb = strchr(hostport, ']');
    if (rb == NULL || rb[1] != ':') return VTG_EINVAL;
    h = hostport + 1;
    hlen = (size_t)(rb - h);
    colon = rb + 1;
  } else {
    colon = strchr(hostport, ':');
    /* IPv6 needs brackets: "::1:80" is ambiguous. */
    if (colon == NULL || strchr(colon + 1, ':') != NULL) return VTG_EINVAL;
    hlen = (size_t)(colon - hostport);
  }
  if (hlen == 0 || hlen >= sizeof host) return VTG_EINVAL;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  const char *p = colon + 1;
  if (*p == '\0') return VTG_EINVAL;
  char *end;
  errno = 0;
  long port = strtol(p, &end, 10);
  if (errno || *end != '\0' || port < 0 || port > 65535 || !(*p >= '0' && *p <= '9'))
    return VTG_EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
  } else {
    return VTG_EINVAL;
  }
  if (out) *out = ss;
  return 0;
}

static int get_listen(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, char **out) {
  int err = vtg_yconf_str(c, m, key, 0, out);
  if (err) return err;
  if (*out == NULL) return 0;
  if (vtg_config_parse_addr(*out, NULL) != 0)
    return vtg_yconf_error(c, vtg_yconf_get(m, key),
                           "expected IP:PORT such as 127.0.0.1:7300 or [::1]:7300, got '%s'",
                           *out);
  return 0;
}

/* Whether u is an absolute http(s) URL with a host (and a valid port if
 * any). why gets the reason on failure. Credentials in the URL are refused:
 * the API and logs show check URLs. */
static int url_ok(const char *u, const char **why) {
  const char *rest;
  if (strncmp(u, "http://", 7) == 0)
    rest = u + 7;
  else if (strncmp(u, "https://", 8) == 0)
    rest = u + 8;
  else {
    *why = "URL must start with http:// or https://";
    return 0;
  }
  for (const char *p = u; *p; p++) {
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      *why = "URL contains a space or control character";
      return 0;
    }
  }
  size_t alen = strcspn(rest, "/?#");
  const char *a = rest, *aend = rest + alen;
  if (memchr(a, '@', alen) != NULL) {
    *why = "credentials in the URL are not supported";
    return 0;
  }
  const char *hend;
  if (alen > 0 && a[0] == '[') {
    const char *rb = memchr(a, ']', alen);
    if (rb == NULL || rb == a + 1) {
      *why = "URL has a malformed IPv6 host";
      return 0;
    }
    hend = rb + 1;
    if (hend != aend && *hend != ':') {
      *why = "URL has a malformed IPv6 host";
      return 0;
    }
  } else {
    const char *col = memchr(a, ':', alen);
    hend = col ? col : aend;
  }
  if (hend == a) {
    *why = "URL has no host";
    return 0;
  }
  if (hend < aend) { /* ":port" */
    const char *p = hend + 1;
    long port = 0;
    if (p == aend) {
      *why = "URL has an empty port";
      return 0;
    }
    for (; p < aend; p++) {
      if (*p < '0' || *p > '9' || port > 65535) {
        *why = "URL has an invalid port";
        return 0;
      }
      port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535) {
      *why = "URL has an invalid port";
      return 0;
    }
  }
  return 1;
}

/* Parses "NNN" into a status in [100, 599]; p advances past the digits. */
static int parse_status(const char **p, uint16_t *out) {
  const char *s = *p;
  long v = 0;
  int digits = 0;
  while (*s >= '0' && *s <= '9' && digits < 4) {
    v = v * 10 + (*s - '0');
    s++;
    digits++;
  }
  if (digits == 0 || v < 100 || v > 599) return -1;
  *p = s;
  *out = (uint16_t)v;
  return 0;
}

/* accept: [200, "300-399", 200-299] (YAML reads 200-299 as a plain string). */
static int get_accept(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  const vtg_ynode_t *n = vtg_yconf_get(ep, "accept");
  if (n == NULL) return 0;
  int err = vtg_yconf_expect(c, n, VTG_YNODE_SEQ);
  if (err) return err;
  if (n->n == 0) return vtg_yconf_error(c, n, "'accept' must list at least one status");
  ch->accept = calloc(n->n, sizeof *ch->accept);
  if (ch->accept == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n->n; i++) {
    const vtg_ynode_t *it = n->items[i];
    if (it->kind != VTG_YNODE_SCALAR) goto bad;
    const char *p = it->scalar;
    uint16_t lo, hi;
    if (parse_status(&p, &lo) != 0) goto bad;
    hi = lo;
    while (*p == ' ') p++;
    if (*p == '-') {
      p++;
      while (*p == ' ') p++;
      if (parse_status(&p, &hi) != 0) goto bad;
    }
    if (*p != '\0') goto bad;
    if (hi < lo)
      return vtg_yconf_error(c, it, "status range %u-%u is empty (low end above high end)",
                             (unsigned)lo, (unsigned)hi);
    ch->accept[ch->n_accept].lo = lo;
    ch->accept[ch->n_accept].hi = hi;
    ch->n_accept++;
    continue;
  bad:
    return vtg_yconf_error(c, it,
                           "expected an HTTP status (100-599) such as 200 or a range such as "
                           "\"200-299\"");
  }
  return 0;
}

static int get_regions(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  const vtg_ynode_t *n = vtg_yconf_get(ep, "regions");
  if (n == NULL) return 0;
  int err = vtg_yconf_expect(c, n, VTG_YNODE_SEQ);
  if (err) return err;
  if (n->n == 0)
    return vtg_yconf_error(c, n, "'regions' must name at least one region (omit it for all)");
  ch->regions = calloc(n->n, sizeof *ch->regions);
  if (ch->regions == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n->n; i++) {
    const vtg_ynode_t *it = n->items[i];
    if (it->kind != VTG_YNODE_SCALAR || !name_ok(it->scalar))
      return vtg_yconf_error(c, it, "expected a region name (letters, digits, '-', '_', '.')");
    ch->regions[i] = xstrdup(it->scalar);
    if (ch->regions[i] == NULL) return VTG_ENOMEM;
    ch->n_regions++;
  }
  return 0;
}

/* ------------------------------------------------------------ check types */

#define T_HTTP (1u << VTG_CHECK_TYPE_HTTP)
#define T_TCP (1u << VTG_CHECK_TYPE_TCP)
#define T_DNS (1u << VTG_CHECK_TYPE_DNS)
#define T_TLS (1u << VTG_CHECK_TYPE_TLS)
#define MAX_HEADERS 64
#define MAX_HEADER_LEN 8192
#define MAX_BODY_LEN (64 * 1024)
#define MAX_REGEX_LEN 4096
#define MAX_DNS_EXPECT 32

static const char *const type_names[] = {"http", "tcp", "dns", "tls", NULL};
static const char *const record_names[] = {"A", "AAAA", "CNAME", "MX", "TXT", "NS", NULL};

/* Which endpoint keys belong to which check types; a key of another type
 * is refused rather than silently ignored. Keys not listed apply to all. */
static const struct {
  const char *key;
  unsigned types;
} type_keys[] = {
    {"url", T_HTTP | T_TLS},   {"method", T_HTTP},   {"accept", T_HTTP},
    {"headers", T_HTTP},       {"body", T_HTTP},     {"follow_redirects", T_HTTP},
    {"body_regex", T_HTTP},    {"target", T_TCP | T_TLS}, {"name", T_DNS},
    {"record", T_DNS},         {"expect", T_DNS},
    /* resolver: a dns check's server, or the one an every_address check
     * resolves its host with (refused without every_address below). */
    {"resolver", T_DNS | T_HTTP | T_TCP | T_TLS},
    {"every_address", T_HTTP | T_TCP | T_TLS},
    {"min_days_left", T_TLS},
    /* A DNS check's family is its record type (A or AAAA); the resolver's
     * address fixes the transport. */
    {"ip_version", T_HTTP | T_TCP | T_TLS},
};

static int word_index(const char *const *words, const char *w) {
  for (int i = 0; words[i]; i++)
    if (strcmp(words[i], w) == 0) return i;
  return -1;
}

/* A DNS host name: 1-253 characters, labels of 1-63 letters, digits, '-'
 * or '_', an optional final dot. */
static int hostname_ok(const char *h) {
  size_t n = strlen(h), label = 0;
  if (n == 0 || n > 254 || (n == 254 && h[253] != '.') || h[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = h[i];
    if (ch == '.') {
      if (label == 0) return 0;
      label = 0;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_'))
      return 0;
    if (++label > 63) return 0;
  }
  return 1;
}

/* "host:port" with a host name or IPv4 literal, or "[IPv6]:port"; port
 * 1-65535. why gets the reason on failure. */
static int target_ok(const char *t, const char **why) {
  char host[256];
  const char *colon;
  size_t hlen;
  int v6 = 0;
  if (t[0] == '[') {
    const char *rb = strchr(t, ']');
    if (rb == NULL || rb[1] != ':') goto bad;
    hlen = (size_t)(rb - t - 1);
    if (hlen == 0 || hlen >= sizeof host) goto bad;
    memcpy(host, t + 1, hlen);
    colon = rb + 1;
    v6 = 1;
  } else {
    colon = strrchr(t, ':');
    if (colon == NULL || memchr(t, ':', (size_t)(colon - t)) != NULL) goto bad;
    hlen = (size_t)(colon - t);
    if (hlen == 0 || hlen >= sizeof host) goto bad;
    memcpy(host, t, hlen);
  }
  host[hlen] = '\0';
  struct in6_addr a6;
  if (v6 ? inet_pton(AF_INET6, host, &a6) != 1 : !hostname_ok(host)) goto bad;
  const char *p = colon + 1;
  char *end;
  errno = 0;
  long port = strtol(p, &end, 10);
  if (!(*p >= '0' && *p <= '9') || errno || *end != '\0' || port < 1 || port > 65535) goto bad;
  return 1;
bad:
  *why = "expected host:port such as example.com:443, 192.0.2.1:25 or [2001:db8::1]:22";
  return 0;
}

/* a + b + c in a new string (NULL when out of memory). */
static char *str_cat3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *p = malloc(la + lb + lc + 1);
  if (p == NULL) return NULL;
  memcpy(p, a, la);
  memcpy(p + la, b, lb);
  memcpy(p + la + lb, c, lc + 1);
  return p;
}

/* headers: {Name: value, ...} -> "Name: value" strings. Names are RFC 9110
 * tokens; values hold no control characters (no header injection). */
static int get_headers(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  const vtg_ynode_t *n = vtg_yconf_get(ep, "headers");
  int err;
  if (n == NULL) return 0;
  if ((err = vtg_yconf_expect(c, n, VTG_YNODE_MAP))) return err;
  if (n->n > MAX_HEADERS) return vtg_yconf_error(c, n, "at most %d headers", MAX_HEADERS);
  ch->headers = calloc(n->n ? n->n : 1, sizeof *ch->headers);
  if (ch->headers == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n->n; i++) {
    const char *k = n->keys[i];
    const vtg_ynode_t *v = n->items[i];
    if (k[0] == '\0' || strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789!#$%&'*+-.^_`|~") != strlen(k))
      return vtg_yconf_error_at(c, n->key_lines[i], n->key_cols[i],
                                "header name '%s' is not a valid HTTP token", k);
    if (v->kind != VTG_YNODE_SCALAR)
      return vtg_yconf_error(c, v, "header '%s' must have a string value", k);
    for (const char *p = v->scalar; *p; p++)
      if ((unsigned char)*p < ' ' && *p != '\t')
        return vtg_yconf_error(c, v, "header '%s' holds a control character", k);
    if (strlen(k) + strlen(v->scalar) + 2 > MAX_HEADER_LEN)
      return vtg_yconf_error(c, v, "header '%s' longer than %d bytes", k, MAX_HEADER_LEN);
    if ((ch->headers[i] = str_cat3(k, ": ", v->scalar)) == NULL) return VTG_ENOMEM;
    ch->n_headers++;
  }
  return 0;
}

/* The HTTP fields: url, method, headers, body, redirects, body regex. */
static int parse_http(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  int err;
  const char *why = NULL;
  if ((err = vtg_yconf_str(c, ep, "url", 1, &ch->url))) return err;
  if (!url_ok(ch->url, &why)) return vtg_yconf_error(c, vtg_yconf_get(ep, "url"), "%s", why);
  if ((err = vtg_yconf_str(c, ep, "method", 0, &ch->method))) return err;
  if (ch->method == NULL) {
    if ((ch->method = xstrdup("GET")) == NULL) return VTG_ENOMEM;
  } else if (word_index(methods, ch->method) < 0) {
    return vtg_yconf_error(c, vtg_yconf_get(ep, "method"),
                           "unknown method '%s' (expected GET, HEAD, POST, PUT, DELETE, "
                           "OPTIONS or PATCH)",
                           ch->method);
  }
  if ((err = get_headers(c, ep, ch))) return err;
  if ((err = vtg_yconf_str(c, ep, "body", 0, &ch->body))) return err;
  if (ch->body != NULL) {
    const vtg_ynode_t *b = vtg_yconf_get(ep, "body");
    if (strlen(ch->body) > MAX_BODY_LEN)
      return vtg_yconf_error(c, b, "body longer than %d bytes", MAX_BODY_LEN);
    if (strcmp(ch->method, "GET") == 0 || strcmp(ch->method, "HEAD") == 0)
      return vtg_yconf_error(c, b, "a body needs a method such as POST or PUT (method is %s)",
                             ch->method);
  }
  if ((err = vtg_yconf_bool(c, ep, "follow_redirects", 0, &ch->follow_redirects))) return err;
  /* A control check: an endpoint that should work from anywhere, whose
   * failure at one vantage point blames that point (detect.h). */
  if ((err = vtg_yconf_bool(c, ep, "control", 0, &ch->control))) return err;
  if ((err = vtg_yconf_str(c, ep, "body_regex", 0, &ch->body_regex))) return err;
  if (ch->body_regex != NULL) {
    const vtg_ynode_t *r = vtg_yconf_get(ep, "body_regex");
    regex_t re;
    char msg[200];
    if (strlen(ch->body_regex) > MAX_REGEX_LEN)
      return vtg_yconf_error(c, r, "body_regex longer than %d characters", MAX_REGEX_LEN);
    if (strcmp(ch->method, "HEAD") == 0)
      return vtg_yconf_error(c, r, "body_regex with method HEAD: there is no body to match");
    /* The agent compiles it the same way: a regex refused here would be
     * refused there too. REG_NEWLINE gives grep's line semantics: '^' and
     * '$' match at each line of the body, so "^ok$" matches "ok\n". */
    int rc = regcomp(&re, ch->body_regex, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
    if (rc != 0) {
      regerror(rc, &re, msg, sizeof msg);
      return vtg_yconf_error(c, r, "invalid body_regex '%s': %s", ch->body_regex, msg);
    }
    regfree(&re);
  }
  return 0;
}

/* "ip", "ip:port", "[v6]:port" or a bare IPv6 literal -> "ip:port" or
 * "[v6]:port" (c-ares' server list syntax); NULL on a malformed value. */
static char *canon_resolver(const char *r) {
  struct in_addr a4;
  struct in6_addr a6;
  struct sockaddr_storage ss;
  if (inet_pton(AF_INET, r, &a4) == 1) return str_cat3(r, ":53", "");
  if (inet_pton(AF_INET6, r, &a6) == 1) return str_cat3("[", r, "]:53");
  if (vtg_config_parse_addr(r, &ss) != 0) return NULL;
  if (ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == 0) return NULL;
  if (ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_port == 0) return NULL;
  return xstrdup(r);
}

/* An expected DNS answer in the form the agent compares: addresses in
 * inet_ntop's canonical form, names as written (compared without case and
 * final dot), TXT verbatim. */
static int get_dns_expect(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  const vtg_ynode_t *n = vtg_yconf_get(ep, "expect");
  int err;
  if (n == NULL) return 0;
  if ((err = vtg_yconf_expect(c, n, VTG_YNODE_SEQ))) return err;
  if (n->n == 0 || n->n > MAX_DNS_EXPECT)
    return vtg_yconf_error(c, n, "'expect' must list 1 to %d answers", MAX_DNS_EXPECT);
  ch->dns_expect = calloc(n->n, sizeof *ch->dns_expect);
  if (ch->dns_expect == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n->n; i++) {
    const vtg_ynode_t *it = n->items[i];
    char buf[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    const char *v;
    if (it->kind != VTG_YNODE_SCALAR || it->scalar[0] == '\0' || strlen(it->scalar) > 255)
      return vtg_yconf_error(c, it, "expected an answer of 1-255 characters");
    v = it->scalar;
    switch (ch->dns_record) {
    case VTG_DNS_RECORD_A:
    case VTG_DNS_RECORD_AAAA: {
      int af = ch->dns_record == VTG_DNS_RECORD_A ? AF_INET : AF_INET6;
      if (inet_pton(af, v, addr) != 1 || inet_ntop(af, addr, buf, sizeof buf) == NULL)
        return vtg_yconf_error(c, it, "expected an IPv%d address for a %s record",
                               af == AF_INET ? 4 : 6, record_names[ch->dns_record]);
      v = buf;
      break;
    }
    case VTG_DNS_RECORD_TXT:
      break;
    default:
      if (!hostname_ok(v))
        return vtg_yconf_error(c, it, "expected a host name for a %s record",
                               record_names[ch->dns_record]);
    }
    if ((ch->dns_expect[i] = xstrdup(v)) == NULL) return VTG_ENOMEM;
    ch->n_dns_expect++;
  }
  return 0;
}

/* `resolver:` ("ip[:port]") into ch->dns_resolver, canonical; absent
 * leaves it NULL (the system resolver). */
static int get_resolver(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  char *res = NULL;
  int err;
  if ((err = vtg_yconf_str(c, ep, "resolver", 0, &res))) return err;
  if (res == NULL) return 0;
  ch->dns_resolver = canon_resolver(res);
  free(res);
  if (ch->dns_resolver == NULL)
    return vtg_yconf_error(c, vtg_yconf_get(ep, "resolver"),
                           "expected an IP address with an optional port, such as 192.0.2.53, "
                           "192.0.2.53:5353 or [2001:db8::53]:53");
  return 0;
}

static int parse_dns(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  int err;
  char *rec = NULL;
  if ((err = vtg_yconf_str(c, ep, "name", 1, &ch->dns_name))) return err;
  if (!hostname_ok(ch->dns_name))
    return vtg_yconf_error(c, vtg_yconf_get(ep, "name"), "'%s' is not a valid DNS name",
                           ch->dns_name);
  if ((err = vtg_yconf_str(c, ep, "record", 0, &rec))) return err;
  if (rec != NULL) {
    int r = word_index(record_names, rec);
    free(rec);
    if (r < 0)
      return vtg_yconf_error(c, vtg_yconf_get(ep, "record"),
                             "unknown record type (expected A, AAAA, CNAME, MX, TXT or NS)");
    ch->dns_record = r;
  }
  if ((err = get_dns_expect(c, ep, ch))) return err;
  if ((err = get_resolver(c, ep, ch))) return err;
  /* The display URL, RFC 4501 style. */
  char what[300];
  snprintf(what, sizeof what, "%s?type=%s", ch->dns_name, record_names[ch->dns_record]);
  if (ch->dns_resolver == NULL) {
    ch->url = str_cat3("dns:", what, "");
  } else {
    char *head = str_cat3("dns://", ch->dns_resolver, "/");
    ch->url = head ? str_cat3(head, what, "") : NULL;
    free(head);
  }
  return ch->url ? 0 : VTG_ENOMEM;
}

static int parse_tcp(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  int err;
  const char *why = NULL;
  if ((err = vtg_yconf_str(c, ep, "target", 1, &ch->target))) return err;
  if (!target_ok(ch->target, &why))
    return vtg_yconf_error(c, vtg_yconf_get(ep, "target"), "%s", why);
  ch->url = str_cat3("tcp://", ch->target, "");
  return ch->url ? 0 : VTG_ENOMEM;
}

/* TLS: `url: https://...` or `target: host:port` (then probed as
 * https://host:port/); the handshake is verified and the leaf's expiry
 * compared with min_days_left. */
static int parse_tls(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  int err;
  int64_t days = VTG_CHECK_TLS_MIN_DAYS_DEFAULT;
  const char *why = NULL;
  const vtg_ynode_t *u = vtg_yconf_get(ep, "url"), *t = vtg_yconf_get(ep, "target");
  if ((u == NULL) == (t == NULL))
    return vtg_yconf_error(c, ep, "a tls check needs exactly one of 'url' (https://...) or "
                                  "'target' (host:port)");
  if (u != NULL) {
    if ((err = vtg_yconf_str(c, ep, "url", 1, &ch->url))) return err;
    if (strncmp(ch->url, "https://", 8) != 0)
      return vtg_yconf_error(c, u, "a tls check's url must start with https://");
    if (!url_ok(ch->url, &why)) return vtg_yconf_error(c, u, "%s", why);
  } else {
    if ((err = vtg_yconf_str(c, ep, "target", 1, &ch->target))) return err;
    if (!target_ok(ch->target, &why)) return vtg_yconf_error(c, t, "%s", why);
    if ((ch->url = str_cat3("https://", ch->target, "/")) == NULL) return VTG_ENOMEM;
  }
  if ((err = vtg_yconf_int(c, ep, "min_days_left", 0, 0, 3650, &days))) return err;
  ch->min_days_left = (uint32_t)days;
  return 0;
}

/* type, ip_version, the per-type keys, and a display url for every type. */
static int parse_type_fields(vtg_yconf_t *c, const vtg_ynode_t *ep, vtg_check_cfg_t *ch) {
  int err;
  char *type = NULL;
  const vtg_ynode_t *ipv;
  if ((err = vtg_yconf_str(c, ep, "type", 0, &type))) return err;
  if (type != NULL) {
    ch->type = word_index(type_names, type);
    free(type);
    if (ch->type < 0)
      return vtg_yconf_error(c, vtg_yconf_get(ep, "type"),
                             "unknown check type (expected http, tcp, dns or tls)");
  }
  for (size_t i = 0; i < sizeof type_keys / sizeof type_keys[0]; i++) {
    if (type_keys[i].types & (1u << ch->type)) continue;
    for (size_t k = 0; k < ep->n; k++)
      if (strcmp(ep->keys[k], type_keys[i].key) == 0)
        return vtg_yconf_error_at(c, ep->key_lines[k], ep->key_cols[k],
                                  "'%s' does not apply to a %s check", type_keys[i].key,
                                  type_names[ch->type]);
  }
  if ((ipv = vtg_yconf_get(ep, "ip_version")) != NULL) {
    if (ipv->kind != VTG_YNODE_SCALAR ||
        (strcmp(ipv->scalar, "4") != 0 && strcmp(ipv->scalar, "6") != 0 &&
         strcmp(ipv->scalar, "any") != 0))
      return vtg_yconf_error(c, ipv, "ip_version must be 4, 6 or any");
    ch->ip_version = ipv->scalar[0] == '4' ? 4 : ipv->scalar[0] == '6' ? 6 : 0;
  }
  if (ch->type != VTG_CHECK_TYPE_DNS) {
    /* every_address (issue 5): probe each address of the host apart. */
    if ((err = vtg_yconf_bool(c, ep, "every_address", 0, &ch->every_address))) return err;
    if ((err = get_resolver(c, ep, ch))) return err;
    if (ch->dns_resolver != NULL && !ch->every_address)
      return vtg_yconf_error(c, vtg_yconf_get(ep, "resolver"),
                             "'resolver' applies to a %s check only with every_address: true",
                             type_names[ch->type]);
  }
  switch (ch->type) {
  case VTG_CHECK_TYPE_TCP: err = parse_tcp(c, ep, ch); break;
  case VTG_CHECK_TYPE_DNS: err = parse_dns(c, ep, ch); break;
  case VTG_CHECK_TYPE_TLS: err = parse_tls(c, ep, ch); break;
  default: return parse_http(c, ep, ch);
  }
  if (err) return err;
  /* Only HTTP has a method; "" keeps the API and wire free of a fake GET. */
  if ((ch->method = xstrdup("")) == NULL) return VTG_ENOMEM;
  return 0;
}

/* One endpoint of service svc. ch is zeroed and owned by the config, so
 * partially filled fields are freed with it on error. */
static int parse_endpoint(vtg_yconf_t *c, const vtg_ynode_t *ep, const char *svc,
                          vtg_check_cfg_t *ch) {
  int err;
  if ((err = vtg_yconf_expect(c, ep, VTG_YNODE_MAP))) return err;
  if ((err = vtg_yconf_check_keys(c, ep, endpoint_keys))) return err;
  ch->line = ep->line;
  ch->service = xstrdup(svc);
  if (ch->service == NULL) return VTG_ENOMEM;
  if ((err = get_name(c, ep, "check", 1, 1, &ch->name))) return err;
  if ((err = get_name(c, ep, "kind", 0, 1, &ch->kind))) return err;
  if (ch->kind == NULL && (ch->kind = xstrdup("web")) == NULL) return VTG_ENOMEM;

  if ((err = parse_type_fields(c, ep, ch))) return err;

  ch->interval_us = 30 * US_PER_S;
  if ((err = vtg_yconf_duration(c, ep, "interval", 0, 100 * US_PER_MS, MAX_DURATION_US,
                                &ch->interval_us)))
    return err;
  /* Default timeout: 10s, but always leave room before the next probe. */
  ch->timeout_us = 10 * US_PER_S;
  if (ch->timeout_us >= ch->interval_us) ch->timeout_us = ch->interval_us / 2;
  if ((err = vtg_yconf_duration(c, ep, "timeout", 0, 1 * US_PER_MS, MAX_DURATION_US,
                                &ch->timeout_us)))
    return err;
  if (ch->timeout_us >= ch->interval_us)
    return vtg_yconf_error(c, vtg_yconf_get(ep, "timeout"),
                           "timeout must be shorter than the interval (%lldms)",
                           (long long)(ch->interval_us / US_PER_MS));
  ch->max_latency_us = 0;
  if ((err = vtg_yconf_duration(c, ep, "max_latency", 0, 1 * US_PER_MS, MAX_DURATION_US,
                                &ch->max_latency_us)))
    return err;
  if (ch->max_latency_us >= ch->timeout_us)
    return vtg_yconf_error(c, vtg_yconf_get(ep, "max_latency"),
                           "max_latency must be shorter than the timeout (%lldms)",
                           (long long)(ch->timeout_us / US_PER_MS));
  /* The faster cadence while the check is down somewhere (burst.h): a
   * probe must still end before the next turn, so it stays above the
   * timeout, and it is never slower than the normal interval. */
  ch->incident_interval_us = 0;
  if ((err = vtg_yconf_duration(c, ep, "incident_interval", 0, 100 * US_PER_MS, MAX_DURATION_US,
                                &ch->incident_interval_us)))
    return err;
  if (ch->incident_interval_us > ch->interval_us)
    return vtg_yconf_error(c, vtg_yconf_get(ep, "incident_interval"),
                           "incident_interval must not be longer than the interval (%lldms)",
                           (long long)(ch->interval_us / US_PER_MS));
  if (ch->incident_interval_us > 0 && ch->incident_interval_us <= ch->timeout_us)
    return vtg_yconf_error(c, vtg_yconf_get(ep, "incident_interval"),
                           "incident_interval must be longer than the timeout (%lldms)",
                           (long long)(ch->timeout_us / US_PER_MS));
  if ((err = get_accept(c, ep, ch))) return err;
  if ((err = get_regions(c, ep, ch))) return err;
  return 0;
}

static int parse_services(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_coord_config_t *cfg) {
  int err = 0;
  const vtg_ynode_t *svcs = vtg_yconf_get(root, "services");
  named_t *svc_names = NULL, *check_names = NULL;
  if (svcs == NULL) return 0;
  if ((err = vtg_yconf_expect(c, svcs, VTG_YNODE_SEQ))) return err;

  /* Two passes: validate shapes and count, then fill; simpler than growing. */
  size_t total = 0;
  for (size_t i = 0; i < svcs->n; i++) {
    const vtg_ynode_t *s = svcs->items[i];
    if ((err = vtg_yconf_expect(c, s, VTG_YNODE_MAP))) return err;
    if ((err = vtg_yconf_check_keys(c, s, service_keys))) return err;
    const vtg_ynode_t *eps = vtg_yconf_get(s, "endpoints");
    if (eps == NULL) return vtg_yconf_error(c, s, "missing key 'endpoints'");
    if ((err = vtg_yconf_expect(c, eps, VTG_YNODE_SEQ))) return err;
    total += eps->n;
  }
  cfg->services = calloc(svcs->n ? svcs->n : 1, sizeof *cfg->services);
  cfg->checks = calloc(total ? total : 1, sizeof *cfg->checks);
  svc_names = calloc(svcs->n ? svcs->n : 1, sizeof *svc_names);
  check_names = calloc(total ? total : 1, sizeof *check_names);
  if (!cfg->services || !cfg->checks || !svc_names || !check_names) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < svcs->n; i++) {
    const vtg_ynode_t *s = svcs->items[i];
    char **name = &cfg->services[cfg->n_services++];
    if ((err = get_name(c, s, "name", 1, 1, name))) goto out;
    svc_names[i].name = *name;
    svc_names[i].node = vtg_yconf_get(s, "name");
    svc_names[i].order = i;
    const vtg_ynode_t *eps = vtg_yconf_get(s, "endpoints");
    for (size_t j = 0; j < eps->n; j++) {
      vtg_check_cfg_t *ch = &cfg->checks[cfg->n_checks++];
      if ((err = parse_endpoint(c, eps->items[j], *name, ch))) goto out;
      named_t *nm = &check_names[cfg->n_checks - 1];
      nm->name = ch->name;
      nm->node = vtg_yconf_get(eps->items[j], "check");
      nm->order = cfg->n_checks - 1;
    }
  }
  if ((err = check_unique(c, svc_names, cfg->n_services, "service name"))) goto out;
  if ((err = check_unique(c, check_names, cfg->n_checks, "check name"))) goto out;
out:
  free(svc_names);
  free(check_names);
  return err;
}

static int parse_registry(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_coord_config_t *cfg) {
  int err = 0;
  const vtg_ynode_t *reg = vtg_yconf_get(root, "agents");
  named_t *ids = NULL;
  if (reg == NULL) return 0;
  if ((err = vtg_yconf_expect(c, reg, VTG_YNODE_SEQ))) return err;
  cfg->has_registry = 1;
  cfg->registry = calloc(reg->n ? reg->n : 1, sizeof *cfg->registry);
  ids = calloc(reg->n ? reg->n : 1, sizeof *ids);
  if (cfg->registry == NULL || ids == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < reg->n; i++) {
    const vtg_ynode_t *e = reg->items[i];
    vtg_registry_entry_t *r = &cfg->registry[cfg->n_registry++];
    if ((err = vtg_yconf_expect(c, e, VTG_YNODE_MAP))) goto out;
    if ((err = vtg_yconf_check_keys(c, e, registry_keys))) goto out;
    if ((err = get_name(c, e, "id", 1, 1, &r->id))) goto out;
    if ((err = get_name(c, e, "region", 1, 1, &r->region))) goto out;
    if ((err = vtg_yconf_str(c, e, "country", 0, &r->country))) goto out;
    if (r->country == NULL && (r->country = xstrdup("")) == NULL) {
      err = VTG_ENOMEM;
      goto out;
    }
    if ((err = vtg_yconf_double(c, e, "lat", 0, -90.0, 90.0, &r->lat))) goto out;
    if ((err = vtg_yconf_double(c, e, "lon", 0, -180.0, 180.0, &r->lon))) goto out;
    ids[i].name = r->id;
    ids[i].node = vtg_yconf_get(e, "id");
    ids[i].order = i;
  }
  err = check_unique(c, ids, cfg->n_registry, "agent id");
out:
  free(ids);
  return err;
}

static int parse_detection(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_detect_cfg_t *d,
                           int64_t *incident_interval_us) {
  int err;
  const vtg_ynode_t *m = vtg_yconf_get(root, "detection");
  if (m == NULL) return 0;
  if ((err = vtg_yconf_expect(c, m, VTG_YNODE_MAP))) return err;
  if ((err = vtg_yconf_check_keys(c, m, detect_keys))) return err;
  if ((err = vtg_yconf_int(c, m, "fail_threshold", 0, 1, 1000, &d->fail_threshold))) return err;
  if ((err = vtg_yconf_int(c, m, "recover_threshold", 0, 1, 1000, &d->recover_threshold)))
    return err;
  /* Read without a lower bound so that a too small value gets the message
   * that says why (one region alone is never an incident by this rule). */
  if ((err = vtg_yconf_int(c, m, "min_regions", 0, INT32_MIN, 10000, &d->min_regions)))
    return err;
  if (d->min_regions < 2)
    return vtg_yconf_error(c, vtg_yconf_get(m, "min_regions"),
                           "min_regions must be at least 2 (got %lld): one region alone opens "
                           "an incident only with two healthy agents agreeing",
                           (long long)d->min_regions);
  if ((err = vtg_yconf_duration(c, m, "merge_gap", 0, 0, 7 * MAX_DURATION_US,
                                &d->merge_gap_us)))
    return err;
  const vtg_ynode_t *st = vtg_yconf_get(m, "settle");
  if (st && st->kind == VTG_YNODE_SCALAR && strcmp(st->scalar, "auto") == 0) {
    d->settle_us = 0;
  } else if (st) {
    if ((err = vtg_yconf_duration(c, m, "settle", 0, 1 * US_PER_MS, MAX_DURATION_US,
                                  &d->settle_us)))
      return err;
  }
  if ((err = vtg_yconf_duration(c, m, "lateness", 0, 0, MAX_DURATION_US, &d->lateness_us)))
    return err;
  /* Not part of d: the detector keeps its intervals; only the agents'
   * cadence changes (vtg_config_incident_interval_us). */
  const vtg_ynode_t *ii = vtg_yconf_get(m, "incident_interval");
  if (ii && ii->kind == VTG_YNODE_SCALAR && strcmp(ii->scalar, "auto") == 0) {
    *incident_interval_us = 0;
  } else if (ii) {
    if ((err = vtg_yconf_duration(c, m, "incident_interval", 0, 100 * US_PER_MS, MAX_DURATION_US,
                                  incident_interval_us)))
      return err;
  }
  return 0;
}

/* "1073741824", "512MiB", "1GiB", "10GB" ... -> bytes; 0 on a malformed
 * value. Binary (KiB, MiB, GiB, TiB) and decimal (kB, MB, GB, TB) units. */
static uint64_t parse_size(const char *s) {
  static const struct { const char *unit; uint64_t mul; } units[] = {
      {"", 1},        {"B", 1},          {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
      {"GiB", 1ull << 30}, {"TiB", 1ull << 40}, {"kB", 1000ull},  {"KB", 1000ull},
      {"MB", 1000000ull}, {"GB", 1000000000ull}, {"TB", 1000000000000ull}};
  char *end;
  if (s[0] < '0' || s[0] > '9') return 0;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || v == 0) return 0;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) != 0) continue;
    if (v > UINT64_MAX / units[i].mul) return 0;
    return (uint64_t)v * units[i].mul;
  }
  return 0;
}

/* result_log (a directory), result_log_retention (a duration, 1m..365d),
 * result_log_max_bytes (a size, at least 1 MiB). */
static int parse_result_log(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_coord_config_t *cfg) {
  int err;
  const vtg_ynode_t *n;
  if ((err = get_name(c, root, "result_log", 0, 0, &cfg->result_log_dir))) return err;
  if ((err = vtg_yconf_duration(c, root, "result_log_retention", 0, 60 * US_PER_S,
                                365 * 24 * 3600 * US_PER_S, &cfg->result_log_retention_us)))
    return err;
  if ((n = vtg_yconf_get(root, "result_log_max_bytes")) != NULL) {
    if ((err = vtg_yconf_expect(c, n, VTG_YNODE_SCALAR))) return err;
    uint64_t v = parse_size(n->scalar);
    if (v == 0)
      return vtg_yconf_error(c, n,
                             "result_log_max_bytes: expected a size such as 1GiB, 512MiB or a "
                             "number of bytes, not '%s'",
                             n->scalar);
    if (v < (1ull << 20))
      return vtg_yconf_error(c, n, "result_log_max_bytes must be at least 1MiB");
    cfg->result_log_max_bytes = v;
  }
  return 0;
}

#define DAY_US (24 * 3600 * US_PER_S)

/* retention: {result_log, rollups, incidents}, each a duration. result_log
 * is the same setting as the top-level result_log_retention (one of the two
 * only; same bounds); rollups at least 1d (the in-memory window is 6 h and
 * the history API goes back 24 h), incidents at least 1d. The store is
 * pruned at start and hourly (coord.c). */
static int parse_retention(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_coord_config_t *cfg) {
  int err;
  const vtg_ynode_t *m = vtg_yconf_get(root, "retention");
  if (m == NULL) return 0;
  if ((err = vtg_yconf_expect(c, m, VTG_YNODE_MAP))) return err;
  if ((err = vtg_yconf_check_keys(c, m, retention_keys))) return err;
  if (vtg_yconf_get(m, "result_log") && vtg_yconf_get(root, "result_log_retention"))
    return vtg_yconf_error(c, vtg_yconf_get(m, "result_log"),
                           "retention.result_log and result_log_retention are the same setting; "
                           "give only one");
  if ((err = vtg_yconf_duration(c, m, "result_log", 0, 60 * US_PER_S, 3650 * DAY_US,
                                &cfg->result_log_retention_us)))
    return err;
  if ((err = vtg_yconf_duration(c, m, "rollups", 0, DAY_US, 3650 * DAY_US,
                                &cfg->retention_rollups_us)))
    return err;
  return vtg_yconf_duration(c, m, "incidents", 0, DAY_US, 3650 * DAY_US,
                            &cfg->retention_incidents_us);
}

/* "sun 02:00" (day names of three letters or in full, any case; 24 h
 * clock, UTC) -> offset from Sunday 00:00 in us. Returns 0 or -1. */
static int parse_weekly(const char *s, int64_t *out_us) {
  static const char *const days[] = {"sunday", "monday", "tuesday", "wednesday",
                                     "thursday", "friday", "saturday"};
  char day[16];
  size_t n = strcspn(s, " ");
  int hh, mm;
  if (n < 3 || n >= sizeof day || s[n] != ' ') return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    day[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  day[n] = '\0';
  int d = -1;
  for (int i = 0; i < 7 && d < 0; i++)
    if ((n == 3 && strncmp(days[i], day, 3) == 0) || strcmp(days[i], day) == 0) d = i;
  const char *t = s + n;
  while (*t == ' ') t++;
  if (d < 0 || !(t[0] >= '0' && t[0] <= '2' && t[1] >= '0' && t[1] <= '9' && t[2] == ':' &&
                 t[3] >= '0' && t[3] <= '5' && t[4] >= '0' && t[4] <= '9' && t[5] == '\0'))
    return -1;
  hh = (t[0] - '0') * 10 + (t[1] - '0');
  mm = (t[3] - '0') * 10 + (t[4] - '0');
  if (hh > 23) return -1;
  *out_us = ((int64_t)d * 86400 + hh * 3600 + mm * 60) * US_PER_S;
  return 0;
}

static int get_time(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, int64_t *out) {
  const vtg_ynode_t *n = vtg_yconf_get(m, key);
  int err = vtg_yconf_expect(c, n, VTG_YNODE_SCALAR);
  if (err) return err;
  if (vtg_clock_parse_rfc3339(n->scalar, out) != 0)
    return vtg_yconf_error(c, n,
                           "'%s': expected an RFC 3339 time such as 2026-11-24T02:00:00Z, got '%s'",
                           key, n->scalar);
  return 0;
}

/* maintenance: [{check|service, start + end|duration | weekly + duration,
 * reason}]. Names must exist in services: a window for a typo would
 * silence nothing and nobody would notice. */
static int parse_maint_one(vtg_yconf_t *c, const vtg_ynode_t *e, const vtg_coord_config_t *cfg,
                           vtg_maint_cfg_t *w) {
  int err;
  const vtg_ynode_t *n;
  w->line = e->line;
  w->weekly_us = -1;
  if ((err = vtg_yconf_expect(c, e, VTG_YNODE_MAP))) return err;
  if ((err = vtg_yconf_check_keys(c, e, maint_keys))) return err;
  if ((err = get_name(c, e, "check", 0, 1, &w->check))) return err;
  if ((err = get_name(c, e, "service", 0, 1, &w->service))) return err;
  if ((w->check == NULL) == (w->service == NULL))
    return vtg_yconf_error(c, e, "a maintenance window needs either 'check' or 'service'%s",
                           w->check ? ", not both" : "");
  if (w->check) {
    size_t i;
    for (i = 0; i < cfg->n_checks && strcmp(cfg->checks[i].name, w->check) != 0; i++) {
    }
    if (i == cfg->n_checks)
      return vtg_yconf_error(c, vtg_yconf_get(e, "check"),
                             "unknown check '%s' (not an endpoint of any service)", w->check);
  } else {
    size_t i;
    for (i = 0; i < cfg->n_services && strcmp(cfg->services[i], w->service) != 0; i++) {
    }
    if (i == cfg->n_services)
      return vtg_yconf_error(c, vtg_yconf_get(e, "service"), "unknown service '%s'", w->service);
  }
  if ((err = vtg_yconf_str(c, e, "reason", 0, &w->reason))) return err;
  if (w->reason == NULL && (w->reason = xstrdup("")) == NULL) return VTG_ENOMEM;
  if (strlen(w->reason) > VTG_MAINT_REASON_MAX)
    return vtg_yconf_error(c, vtg_yconf_get(e, "reason"), "'reason' is longer than %d bytes",
                           VTG_MAINT_REASON_MAX);
  if ((n = vtg_yconf_get(e, "weekly")) != NULL) {
    if (vtg_yconf_get(e, "start") || vtg_yconf_get(e, "end")) {
      n = vtg_yconf_get(e, vtg_yconf_get(e, "start") ? "start" : "end");
      return vtg_yconf_error(c, n, "a weekly window has no 'start' or 'end', only 'duration'");
    }
    if ((err = vtg_yconf_expect(c, n, VTG_YNODE_SCALAR))) return err;
    if (parse_weekly(n->scalar, &w->weekly_us) != 0)
      return vtg_yconf_error(c, n, "'weekly': expected a day and a UTC time such as \"sun 02:00\", "
                                   "got '%s'", n->scalar);
    /* Shorter than a week: a window that never ends is not maintenance. */
    return vtg_yconf_duration(c, e, "duration", 1, 60 * US_PER_S, (7 * 24 * 60 - 1) * 60 * US_PER_S,
                              &w->duration_us);
  }
  if (vtg_yconf_get(e, "start") == NULL)
    return vtg_yconf_error(c, e, "a maintenance window needs 'start' (or 'weekly')");
  if ((err = get_time(c, e, "start", &w->start_us))) return err;
  if ((vtg_yconf_get(e, "end") == NULL) == (vtg_yconf_get(e, "duration") == NULL))
    return vtg_yconf_error(c, e, "a maintenance window needs either 'end' or 'duration'%s",
                           vtg_yconf_get(e, "end") ? ", not both" : "");
  if (vtg_yconf_get(e, "end")) {
    if ((err = get_time(c, e, "end", &w->end_us))) return err;
    if (w->end_us <= w->start_us)
      return vtg_yconf_error(c, vtg_yconf_get(e, "end"), "'end' must be after 'start'");
    if (w->end_us - w->start_us > VTG_MAINT_MAX_FIXED_US)
      return vtg_yconf_error(c, vtg_yconf_get(e, "end"), "a window may last at most %lld days",
                             (long long)(VTG_MAINT_MAX_FIXED_US / (86400 * US_PER_S)));
  } else {
    if ((err = vtg_yconf_duration(c, e, "duration", 1, 60 * US_PER_S, VTG_MAINT_MAX_FIXED_US,
                                  &w->duration_us)))
      return err;
    w->end_us = w->start_us + w->duration_us;
  }
  w->duration_us = w->end_us - w->start_us;
  return 0;
}

static int parse_maintenance(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_coord_config_t *cfg) {
  int err;
  const vtg_ynode_t *seq = vtg_yconf_get(root, "maintenance");
  if (seq == NULL) return 0;
  if ((err = vtg_yconf_expect(c, seq, VTG_YNODE_SEQ))) return err;
  if (seq->n > VTG_MAINT_CFG_MAX)
    return vtg_yconf_error(c, seq, "at most %d maintenance windows", VTG_MAINT_CFG_MAX);
  cfg->maintenance = calloc(seq->n ? seq->n : 1, sizeof *cfg->maintenance);
  if (cfg->maintenance == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < seq->n; i++) {
    vtg_maint_cfg_t *w = &cfg->maintenance[cfg->n_maintenance++];
    if ((err = parse_maint_one(c, seq->items[i], cfg, w))) return err;
  }
  return 0;
}

/* Walks the whole tree; the first error wins (kept in c->err). */
static int parse_root(vtg_yconf_t *c, vtg_coord_config_t *cfg) {
  int err;
  const vtg_ynode_t *root = c->root;
  int64_t max_frame = VTG_CONFIG_DEFAULT_MAX_FRAME;

  cfg->heartbeat_us = 5 * US_PER_S;
  cfg->max_clock_offset_us = 2 * US_PER_S;
  cfg->detect.fail_threshold = 2;
  cfg->detect.recover_threshold = 2;
  cfg->detect.min_regions = 2;
  cfg->detect.merge_gap_us = 5 * 60 * US_PER_S;
  cfg->detect.settle_us = 0;
  cfg->detect.lateness_us = 10 * US_PER_S;
  cfg->result_log_retention_us = 24 * 3600 * US_PER_S;
  cfg->result_log_max_bytes = 1ull << 30;
  cfg->retention_rollups_us = 90 * DAY_US;
  cfg->retention_incidents_us = 400 * DAY_US;

  if (root != NULL) {
    if ((err = vtg_yconf_expect(c, root, VTG_YNODE_MAP))) return err;
    if ((err = vtg_yconf_check_keys(c, root, top_keys))) return err;
    const vtg_ynode_t *l = vtg_yconf_get(root, "listen");
    if (l) {
      if ((err = vtg_yconf_expect(c, l, VTG_YNODE_MAP))) return err;
      if ((err = vtg_yconf_check_keys(c, l, listen_keys))) return err;
      if ((err = get_listen(c, l, "agents", &cfg->agent_listen))) return err;
      if ((err = get_listen(c, l, "http", &cfg->http_listen))) return err;
    }
    if ((err = get_name(c, root, "store", 0, 0, &cfg->store_path))) return err;
    if ((err = parse_result_log(c, root, cfg))) return err;
    if ((err = parse_retention(c, root, cfg))) return err;
    if ((err = vtg_tls_conf_parse(c, root, &cfg->tls))) return err;
    if ((err = vtg_yconf_str(c, root, "log_level", 0, &cfg->log_level))) return err;
    if (cfg->log_level) {
      enum vtg_log_level lv;
      if (vtg_log_parse_level(cfg->log_level, &lv) != 0)
        return vtg_yconf_error(c, vtg_yconf_get(root, "log_level"),
                               "unknown log level '%s' (expected debug, info, warn or error)",
                               cfg->log_level);
    }
    if ((err = vtg_yconf_duration(c, root, "heartbeat", 0, 100 * US_PER_MS, 3600 * US_PER_S,
                                  &cfg->heartbeat_us)))
      return err;
    cfg->idle_timeout_us = 3 * cfg->heartbeat_us;
    if ((err = vtg_yconf_duration(c, root, "idle_timeout", 0, 100 * US_PER_MS,
                                  MAX_DURATION_US, &cfg->idle_timeout_us)))
      return err;
    if (cfg->idle_timeout_us <= cfg->heartbeat_us)
      return vtg_yconf_error(c, vtg_yconf_get(root, "idle_timeout"),
                             "idle_timeout must be longer than the heartbeat (%lldms)",
                             (long long)(cfg->heartbeat_us / US_PER_MS));
    if ((err = vtg_yconf_int(c, root, "max_frame", 0, 1024, 64 << 20, &max_frame))) return err;
    if ((err = vtg_yconf_duration(c, root, "max_clock_offset", 0, 0, MAX_DURATION_US,
                                  &cfg->max_clock_offset_us)))
      return err;
    if ((err = parse_detection(c, root, &cfg->detect, &cfg->incident_interval_us))) return err;
    if ((err = parse_registry(c, root, cfg))) return err;
    if ((err = parse_services(c, root, cfg))) return err;
    if ((err = parse_maintenance(c, root, cfg))) return err; /* after services: names */
  } else {
    cfg->idle_timeout_us = 3 * cfg->heartbeat_us;
  }
  cfg->max_frame = (uint32_t)max_frame;
  if (!cfg->agent_listen && !(cfg->agent_listen = xstrdup("127.0.0.1:7300"))) return VTG_ENOMEM;
  if (!cfg->http_listen && !(cfg->http_listen = xstrdup("127.0.0.1:7380"))) return VTG_ENOMEM;
  if (!cfg->store_path && !(cfg->store_path = xstrdup("./vantage.db"))) return VTG_ENOMEM;
  if (!cfg->result_log_dir) {
    /* Next to the store: one place to back up, one disk to size. */
    size_t n = strlen(cfg->store_path) + sizeof ".results";
    if (!(cfg->result_log_dir = malloc(n))) return VTG_ENOMEM;
    snprintf(cfg->result_log_dir, n, "%s.results", cfg->store_path);
  }
  if (!cfg->log_level && !(cfg->log_level = xstrdup("info"))) return VTG_ENOMEM;
  return 0;
}

/* Shared tail of both loaders: parse, copy the message, free on failure. */
static int load_parsed(vtg_yconf_t *yc, int err, const char *path, vtg_coord_config_t *out,
                       char *errbuf, size_t errlen) {
  if (err == 0) {
    out->path = xstrdup(path);
    err = out->path ? parse_root(yc, out) : VTG_ENOMEM;
  }
  if (err != 0) {
    if (errbuf && errlen) {
      if (yc->err[0])
        snprintf(errbuf, errlen, "%s", yc->err);
      else
        snprintf(errbuf, errlen, "%s: %s", path, vtg_strerror(err));
    }
    vtg_config_free(out);
    if (err != VTG_EIO && err != VTG_ENOMEM) err = VTG_ECONFIG;
  }
  vtg_yconf_free(yc);
  return err;
}

int vtg_config_load(const char *path, vtg_coord_config_t *out, char *err, size_t errlen) {
  vtg_yconf_t yc;
  memset(out, 0, sizeof *out);
  memset(&yc, 0, sizeof yc);
  if (err && errlen) err[0] = '\0';
  int rc = vtg_yconf_load_file(&yc, path);
  return load_parsed(&yc, rc, path, out, err, errlen);
}

int vtg_config_load_string(const char *name, const char *text, vtg_coord_config_t *out,
                           char *err, size_t errlen) {
  vtg_yconf_t yc;
  memset(out, 0, sizeof *out);
  memset(&yc, 0, sizeof yc);
  if (err && errlen) err[0] = '\0';
  int rc = vtg_yconf_load_string(&yc, name, text);
  return load_parsed(&yc, rc, name, out, err, errlen);
}

void vtg_config_free(vtg_coord_config_t *c) {
  if (c == NULL) return;
  free(c->path);
  free(c->agent_listen);
  free(c->http_listen);
  free(c->store_path);
  free(c->result_log_dir);
  free(c->log_level);
  vtg_tls_conf_free(&c->tls);
  for (size_t i = 0; i < c->n_checks; i++) {
    vtg_check_cfg_t *ch = &c->checks[i];
    free(ch->name);
    free(ch->service);
    free(ch->kind);
    free(ch->url);
    free(ch->method);
    free(ch->accept);
    for (size_t j = 0; j < ch->n_regions; j++) free(ch->regions[j]);
    free(ch->regions);
    for (size_t j = 0; j < ch->n_headers; j++) free(ch->headers[j]);
    free(ch->headers);
    free(ch->body);
    free(ch->body_regex);
    free(ch->target);
    free(ch->dns_name);
    for (size_t j = 0; j < ch->n_dns_expect; j++) free(ch->dns_expect[j]);
    free(ch->dns_expect);
    free(ch->dns_resolver);
  }
  free(c->checks);
  for (size_t i = 0; i < c->n_services; i++) free(c->services[i]);
  free(c->services);
  for (size_t i = 0; i < c->n_registry; i++) {
    free(c->registry[i].id);
    free(c->registry[i].region);
    free(c->registry[i].country);
  }
  free(c->registry);
  for (size_t i = 0; i < c->n_maintenance; i++) {
    free(c->maintenance[i].check);
    free(c->maintenance[i].service);
    free(c->maintenance[i].reason);
  }
  free(c->maintenance);
  memset(c, 0, sizeof *c);
}

const vtg_registry_entry_t *vtg_config_registry_find(const vtg_coord_config_t *c,
                                                     const char *agent_id) {
  for (size_t i = 0; i < c->n_registry; i++)
    if (strcmp(c->registry[i].id, agent_id) == 0) return &c->registry[i];
  return NULL;
}

int vtg_config_check_applies(const vtg_check_cfg_t *ch, const char *region) {
  if (ch->n_regions == 0) return 1;
  if (region == NULL) return 0;
  for (size_t i = 0; i < ch->n_regions; i++)
    if (strcmp(ch->regions[i], region) == 0) return 1;
  return 0;
}

int64_t vtg_config_incident_interval_us(const vtg_coord_config_t *c, const vtg_check_cfg_t *ch) {
  if (ch->incident_interval_us > 0) return ch->incident_interval_us;
  int64_t v = c->incident_interval_us > 0 ? c->incident_interval_us : ch->interval_us / 5;
  if (c->incident_interval_us == 0 && v < 1 * US_PER_S) v = 1 * US_PER_S;
  /* A probe must end before the next turn: above the timeout, by a quarter. */
  if (v <= ch->timeout_us) v = ch->timeout_us + ch->timeout_us / 4;
  if (v > ch->interval_us) v = ch->interval_us;
  return v;
}

int64_t vtg_config_settle_us(const vtg_coord_config_t *c) {
  if (c->detect.settle_us > 0) return c->detect.settle_us;
  int64_t best = 0;
  for (size_t i = 0; i < c->n_checks; i++) {
    int64_t s = c->checks[i].interval_us + c->checks[i].timeout_us;
    if (s > best) best = s;
  }
  return best;
}
