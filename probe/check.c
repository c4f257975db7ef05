/* A check as the agent runs it: the definition copied out of the
 * coordinator's Check message (validated again here, because the agent
 * trusts no peer), and the one table that maps a check type to the code
 * that probes it. Every probe type shares vtg_probe_t, so the agent's
 * in-flight list, shutdown and result path are written once. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "vtg/error.h"
#include "vtg/log.h"

static const vtg_check_runner_t runners[] = {
    {VANTAGE__CHECK_TYPE__CHECK_TYPE_HTTP, "http", vtg_http_probe_start, vtg_http_probe_abort,
     vtg_http_probe_start_at},
    /* TLS is an HTTP transfer that stops after the handshake. */
    {VANTAGE__CHECK_TYPE__CHECK_TYPE_TLS, "tls", vtg_http_probe_start, vtg_http_probe_abort,
     vtg_http_probe_start_at},
    {VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP, "tcp", vtg_tcp_probe_start, vtg_tcp_probe_abort,
     vtg_tcp_probe_start_at},
    {VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS, "dns", vtg_dns_probe_start, vtg_dns_probe_abort, NULL},
};

/* every_address checks of any pinnable type: one lookup, then a pinned
 * probe of the type's runner per address (every_addr.c). */
static const vtg_check_runner_t every_addr_runner = {
    VANTAGE__CHECK_TYPE__CHECK_TYPE_HTTP, "every_address", vtg_every_addr_probe_start,
    vtg_every_addr_probe_abort, NULL};

static const vtg_check_runner_t *runner_for(Vantage__CheckType t) {
  for (size_t i = 0; i < sizeof runners / sizeof runners[0]; i++)
    if (runners[i].type == t) return &runners[i];
  return NULL;
}

void vtg__copy_capped(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

uint32_t vtg__clamp_us(int64_t v) {
  if (v <= 0) return 0;
  if (v > (int64_t)UINT32_MAX) return UINT32_MAX;
  return (uint32_t)v;
}

/* ------------------------------------------------------------------- spec */

vtg_check_spec_t *vtg_check_spec_ref(vtg_check_spec_t *s) {
  s->refs++;
  return s;
}

void vtg_check_spec_unref(vtg_check_spec_t *s) {
  if (s == NULL || --s->refs > 0) return;
  free(s->url);
  free(s->method);
  free(s->accept);
  curl_slist_free_all(s->headers);
  free(s->body);
  if (s->body_re != NULL) {
    regfree(s->body_re);
    free(s->body_re);
  }
  free(s->target);
  free(s->dns_name);
  for (size_t i = 0; i < s->n_dns_expect; i++) free(s->dns_expect[i]);
  free(s->dns_expect);
  free(s->dns_resolver);
  free(s);
}

/* strdup of a protobuf string; "" (absent) gives NULL when empty_null. */
static int dup_field(const char *v, int empty_null, char **out) {
  if (v == NULL || (empty_null && v[0] == '\0')) {
    *out = NULL;
    return 0;
  }
  *out = strdup(v);
  return *out ? 0 : VTG_ENOMEM;
}

static int url_is_http(const char *u) {
  return u != NULL && (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0);
}

/* The shape checks; the coordinator's config enforces the same rules with
 * file:line:col, these only keep a misbehaving peer out. */
static const char *spec_invalid(const Vantage__Check *m) {
  switch (m->type) {
  case VANTAGE__CHECK_TYPE__CHECK_TYPE_HTTP:
    if (!url_is_http(m->url)) return "url is not http(s)";
    break;
  case VANTAGE__CHECK_TYPE__CHECK_TYPE_TLS:
    if (m->url == NULL || strncasecmp(m->url, "https://", 8) != 0) return "url is not https";
    break;
  case VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP:
    if (m->target == NULL || m->target[0] == '\0' || strlen(m->target) > 300)
      return "target missing or longer than 300";
    break;
  case VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS:
    if (m->dns_name == NULL || m->dns_name[0] == '\0' || strlen(m->dns_name) > 254)
      return "dns_name missing or longer than 254";
    if ((int)m->dns_record < 0 || m->dns_record > VANTAGE__DNS_RECORD__DNS_RECORD_NS)
      return "unknown dns_record";
    break;
  default:
    return "unknown check type";
  }
  if (m->url && strlen(m->url) > 8192) return "url longer than 8192";
  if (m->method && strlen(m->method) > 32) return "method longer than 32";
  if (m->n_accept > 64) return "more than 64 accept ranges";
  for (size_t i = 0; i < m->n_accept; i++)
    if (m->accept[i]->lo > m->accept[i]->hi) return "accept range with lo > hi";
  if (m->n_headers > VTG_CHECK_MAX_HEADERS) return "too many headers";
  for (size_t i = 0; i < m->n_headers; i++)
    if (strlen(m->headers[i]) > 8192 || strchr(m->headers[i], '\r') ||
        strchr(m->headers[i], '\n') || strchr(m->headers[i], ':') == NULL)
      return "malformed header";
  if (m->body && strlen(m->body) > VTG_CHECK_MAX_BODY) return "body too long";
  if (m->body_regex && strlen(m->body_regex) > 4096) return "body_regex too long";
  if (m->n_dns_expect > VTG_CHECK_MAX_EXPECT) return "too many dns_expect";
  for (size_t i = 0; i < m->n_dns_expect; i++)
    if (strlen(m->dns_expect[i]) >= VTG_DNS_ANSWER_MAX) return "dns_expect entry too long";
  if (m->dns_resolver && strlen(m->dns_resolver) > 64) return "dns_resolver too long";
  if (m->ip_version != 0 && m->ip_version != 4 && m->ip_version != 6) return "bad ip_version";
  return NULL;
}

int vtg_check_spec_new(const Vantage__Check *m, uint32_t timeout_ms, vtg_check_spec_t **out,
                       char *why, size_t whylen) {
  int rc = VTG_ENOMEM;
  const char *bad = spec_invalid(m);
  vtg_check_spec_t *s = NULL;
  if (bad != NULL) {
    snprintf(why, whylen, "%s", bad);
    return VTG_EINVAL;
  }
  if ((s = calloc(1, sizeof *s)) == NULL) goto out;
  s->refs = 1;
  s->check_id = m->id;
  s->type = m->type;
  s->timeout_ms = timeout_ms;
  s->max_latency_ms = m->max_latency_ms;
  s->follow_redirects = m->follow_redirects;
  s->dns_record = m->dns_record;
  s->min_days_left = m->min_days_left;
  s->ip_version = (int)m->ip_version;
  s->every_address = m->every_address && m->type != VANTAGE__CHECK_TYPE__CHECK_TYPE_DNS;
  if (dup_field(m->url, 1, &s->url) || dup_field(m->body, 1, &s->body) ||
      dup_field(m->target, 1, &s->target) || dup_field(m->dns_name, 1, &s->dns_name) ||
      dup_field(m->dns_resolver, 1, &s->dns_resolver) ||
      dup_field(m->method && m->method[0] ? m->method : "GET", 0, &s->method))
    goto out;
  if (m->n_accept > 0) {
    if ((s->accept = malloc(m->n_accept * sizeof *s->accept)) == NULL) goto out;
    for (size_t i = 0; i < m->n_accept; i++) {
      s->accept[i].lo = m->accept[i]->lo;
      s->accept[i].hi = m->accept[i]->hi;
    }
    s->n_accept = m->n_accept;
  }
  for (size_t i = 0; i < m->n_headers; i++) {
    struct curl_slist *l = curl_slist_append(s->headers, m->headers[i]);
    if (l == NULL) goto out;
    s->headers = l;
  }
  if (m->n_dns_expect > 0) {
    if ((s->dns_expect = calloc(m->n_dns_expect, sizeof *s->dns_expect)) == NULL) goto out;
    for (size_t i = 0; i < m->n_dns_expect; i++) {
      if ((s->dns_expect[i] = strdup(m->dns_expect[i])) == NULL) goto out;
      s->n_dns_expect++;
    }
  }
  if (m->body_regex && m->body_regex[0]) {
    regex_t *re = malloc(sizeof *re);
    if (re == NULL) goto out;
    int r = regcomp(re, m->body_regex, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
    if (r != 0) {
      char msg[160];
      regerror(r, re, msg, sizeof msg);
      free(re);
      snprintf(why, whylen, "invalid body_regex: %s", msg);
      rc = VTG_EINVAL;
      goto out;
    }
    s->body_re = re;
  }
  *out = s;
  return 0;
out:
  if (rc == VTG_ENOMEM) snprintf(why, whylen, "out of memory");
  vtg_check_spec_unref(s);
  return rc;
}

/* ----------------------------------------------------------------- probes */

void vtg__probe_base_init(vtg_probe_t *p, vtg_check_env_t *env, vtg_check_spec_t *spec) {
  p->env = env;
  p->spec = vtg_check_spec_ref(spec);
  p->check_id = spec->check_id;
}

void vtg__probe_finish(vtg_probe_t *p, const vtg_probe_result_t *r) {
  p->cb(p, r);
  vtg_check_spec_unref(p->spec);
  p->spec = NULL;
}

int vtg_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_cb cb, void *data,
                    vtg_probe_t **out) {
  const vtg_check_runner_t *r = runner_for(spec->type);
  vtg_probe_t *p = NULL;
  if (r == NULL) return VTG_EINVAL;
  if (spec->every_address && r->start_at != NULL) r = &every_addr_runner;
  int rc = r->start(env, spec, &p);
  if (rc != 0) return rc;
  p->data = data;
  p->cb = cb;
  p->runner = r;
  *out = p;
  return 0;
}

int vtg__probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                        uint32_t timeout_ms, vtg_probe_cb cb, void *data, vtg_probe_t **out) {
  const vtg_check_runner_t *r = runner_for(spec->type);
  vtg_probe_t *p = NULL;
  if (r == NULL || r->start_at == NULL) return VTG_EINVAL;
  int rc = r->start_at(env, spec, addr, timeout_ms, &p);
  if (rc != 0) return rc;
  p->data = data;
  p->cb = cb;
  p->runner = r;
  *out = p;
  return 0;
}

void vtg_probe_abort(vtg_probe_t *p) {
  vtg_check_spec_t *spec = p->spec;
  p->runner->abort(p); /* frees p */
  vtg_check_spec_unref(spec);
}
