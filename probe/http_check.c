/* HTTP(S) probes: one easy handle per probe, a fresh connection and a fresh
 * DNS lookup every time (a prober that reuses either hides exactly the
 * failures it exists to see), phase timings, and the mapping of what curl
 * reports onto DESIGN.md's outcome and error classes.
 *
 * The TLS check is the same transfer stopped after the handshake
 * (CURLOPT_CONNECT_ONLY): curl resolves, connects, verifies the chain
 * against the agent's CA file and hands over the certificate chain, whose
 * leaf expiry is then held against min_days_left. A handshake that fails
 * is class `tls`; a certificate that verifies but expires too soon is an
 * assertion failure (`assertion`), like a wrong body: the service works
 * today, the check's promise about it does not hold. */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

/* ---------------------------------------------------------- classification */

/* How a CURLcode maps to an error class. Some codes need a second look. */
enum rule {
  RULE_FIXED,        /* always cls */
  RULE_REFUSED,      /* ECONNREFUSED -> connect_refused, else connect_timeout */
  RULE_CONNECTED,    /* never connected -> connect_timeout, else timeout */
  RULE_RESET_ERRNO,  /* a reset errno -> reset, else other */
};

static const struct {
  CURLcode code;
  enum rule rule;
  Vantage__ErrorClass cls;
} class_table[] = {
    {CURLE_COULDNT_RESOLVE_HOST, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS},
    {CURLE_COULDNT_RESOLVE_PROXY, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS},
    {CURLE_COULDNT_CONNECT, RULE_REFUSED, VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT},
    {CURLE_OPERATION_TIMEDOUT, RULE_CONNECTED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TIMEOUT},
    {CURLE_SSL_CONNECT_ERROR, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_PEER_FAILED_VERIFICATION, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_ENGINE_NOTFOUND, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_ENGINE_SETFAILED, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_CERTPROBLEM, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_CIPHER, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_ENGINE_INITFAILED, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_CACERT_BADFILE, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_SHUTDOWN_FAILED, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_CRL_BADFILE, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_ISSUER_ERROR, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_INVALIDCERTSTATUS, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_SSL_CLIENTCERT, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    {CURLE_USE_SSL_FAILED, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_TLS},
    /* An empty reply and a failed receive are what a reset looks like from
     * curl's side, whatever errno says. */
    {CURLE_GOT_NOTHING, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {CURLE_RECV_ERROR, RULE_FIXED, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {CURLE_SEND_ERROR, RULE_RESET_ERRNO, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
    {CURLE_PARTIAL_FILE, RULE_RESET_ERRNO, VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET},
};

static int status_accepted(const vtg_http_facts_t *f) {
  if (f->accept == NULL || f->n_accept == 0) return f->http_status >= 200 && f->http_status <= 399;
  for (size_t i = 0; i < f->n_accept; i++)
    if (f->http_status >= (long)f->accept[i].lo && f->http_status <= (long)f->accept[i].hi)
      return 1;
  return 0;
}

void vtg_http_classify(const vtg_http_facts_t *f, Vantage__Outcome *outcome,
                       Vantage__ErrorClass *error_class) {
  if (f->code == CURLE_OK) {
    if (!f->no_status && !status_accepted(f)) {
      *outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
      if (f->http_status >= 500)
        *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX;
      else if (f->http_status >= 400)
        *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_4XX;
      else
        *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION;
      return;
    }
    if (f->assertion_failed) {
      *outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
      *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION;
      return;
    }
    *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE;
    if (f->max_latency_ms > 0 && f->total_us > (int64_t)f->max_latency_ms * 1000)
      *outcome = VANTAGE__OUTCOME__OUTCOME_DEGRADED;
    else
      *outcome = VANTAGE__OUTCOME__OUTCOME_UP;
    return;
  }

  *outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
  *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
  for (size_t i = 0; i < sizeof class_table / sizeof class_table[0]; i++) {
    if (class_table[i].code != f->code) continue;
    switch (class_table[i].rule) {
    case RULE_FIXED:
      *error_class = class_table[i].cls;
      break;
    case RULE_REFUSED:
      *error_class = f->os_errno == ECONNREFUSED
                         ? VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_REFUSED
                         : VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT;
      break;
    case RULE_CONNECTED:
      *error_class = f->connect_time_us <= 0 ? VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT
                                             : VANTAGE__ERROR_CLASS__ERROR_CLASS_TIMEOUT;
      break;
    case RULE_RESET_ERRNO:
      *error_class = (f->os_errno == ECONNRESET || f->os_errno == EPIPE ||
                      f->os_errno == ECONNABORTED)
                         ? class_table[i].cls
                         : VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
      break;
    }
    return;
  }
}

/* ------------------------------------------------------------------ probes */

typedef struct http_probe_s {
  vtg_probe_t base;
  CURL *easy;
  uint64_t bytes;
  int is_https;
  int is_tls_check;            /* handshake only */
  char *body;                  /* first VTG_CHECK_BODY_CAP bytes, only with a regex */
  size_t body_len, body_alloc;
  int body_oom;                /* the body could not be kept: the regex is not judged */
  uint32_t timeout_ms;         /* the spec's, or what is left of an every_address turn */
  struct curl_slist *connect_to; /* every_address: the one address to connect to */
  char errbuf[CURL_ERROR_SIZE];
} http_probe_t;

int vtg_http_body_matches(const void *re, const char *body, size_t len) {
  regmatch_t m[1];
  static const char empty[1] = "";
  /* REG_STARTEND (glibc, BSD): the body is not NUL-terminated and may hold
   * NULs; the match runs over exactly [0, len). */
  m[0].rm_so = 0;
  m[0].rm_eo = (regoff_t)len;
  return regexec(re, body ? body : empty, 1, m, REG_STARTEND) == 0;
}

int64_t vtg_tls_days_left(int64_t not_after, int64_t now) {
  int64_t d = not_after - now;
  /* Floor division: one second past notAfter is day -1, not 0. */
  return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* Counts the body, and keeps its head when a regex will judge it. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  http_probe_t *p = userdata;
  size_t n = size * nmemb;
  p->bytes += n;
  if (p->base.spec->body_re != NULL && !p->body_oom && p->body_len < VTG_CHECK_BODY_CAP) {
    size_t take = n < VTG_CHECK_BODY_CAP - p->body_len ? n : VTG_CHECK_BODY_CAP - p->body_len;
    if (p->body_len + take > p->body_alloc) {
      size_t na = p->body_alloc ? p->body_alloc : 16384;
      while (na < p->body_len + take) na *= 2;
      if (na > VTG_CHECK_BODY_CAP) na = VTG_CHECK_BODY_CAP;
      char *nb = realloc(p->body, na);
      if (nb == NULL) {
        p->body_oom = 1;
        return n;
      }
      p->body = nb;
      p->body_alloc = na;
    }
    memcpy(p->body + p->body_len, ptr, take);
    p->body_len += take;
  }
  return n;
}

static int setopts(http_probe_t *p, const vtg_check_env_t *env) {
  CURL *e = p->easy;
  const vtg_check_spec_t *sp = p->base.spec;
  CURLcode cc = CURLE_OK;
  char iface[80];
  const char *method = sp->method;

#define SET(opt, val)                                                     \
  do {                                                                    \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK) {               \
      VTG_ERROR("curl_easy_setopt(%s): %s", #opt, curl_easy_strerror(cc)); \
      return VTG_ECURL;                                                   \
    }                                                                     \
  } while (0)

  SET(CURLOPT_URL, sp->url);
  if (p->is_tls_check) {
    SET(CURLOPT_CONNECT_ONLY, 1L);
  } else {
    if (strcasecmp(method, "HEAD") == 0)
      SET(CURLOPT_NOBODY, 1L);
    else if (strcasecmp(method, "GET") != 0 && !(sp->body && strcasecmp(method, "POST") == 0))
      SET(CURLOPT_CUSTOMREQUEST, method);
    if (sp->body != NULL) {
      SET(CURLOPT_POSTFIELDSIZE, (long)strlen(sp->body));
      SET(CURLOPT_POSTFIELDS, sp->body); /* not copied: the spec outlives the probe's use */
    }
    if (sp->headers != NULL) SET(CURLOPT_HTTPHEADER, sp->headers);
    SET(CURLOPT_FOLLOWLOCATION, sp->follow_redirects ? 1L : 0L);
    if (sp->follow_redirects) {
      SET(CURLOPT_MAXREDIRS, 10L);
      SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    /* HTTP/2 over TLS when libcurl has it (ALPN), HTTP/1.1 otherwise. */
    if (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)
      SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  }
  SET(CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
  if (p->connect_to != NULL) SET(CURLOPT_CONNECT_TO, p->connect_to);
  SET(CURLOPT_FRESH_CONNECT, 1L);
  SET(CURLOPT_FORBID_REUSE, 1L);
  SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_IPRESOLVE, sp->ip_version == 4   ? (long)CURL_IPRESOLVE_V4
                         : sp->ip_version == 6 ? (long)CURL_IPRESOLVE_V6
                                               : (long)CURL_IPRESOLVE_WHATEVER);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, p);
  SET(CURLOPT_ERRORBUFFER, p->errbuf);
  SET(CURLOPT_PRIVATE, p);
  SET(CURLOPT_USERAGENT, "vantage-probe/" VTG_VERSION);
  if (env->source_address != NULL) {
    /* "host!" makes curl bind to the address, never look for an interface
     * of that name. */
    snprintf(iface, sizeof iface, "host!%s", env->source_address);
    SET(CURLOPT_INTERFACE, iface);
  }
  if (p->is_https) {
    SET(CURLOPT_CERTINFO, 1L);
    if (env->ca_file != NULL) SET(CURLOPT_CAINFO, env->ca_file);
  }
#undef SET
  return 0;
}

static void probe_free(http_probe_t *p) {
  if (p->easy) curl_easy_cleanup(p->easy);
  curl_slist_free_all(p->connect_to);
  free(p->body);
  free(p);
}

int vtg_http_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out) {
  return vtg_http_probe_start_at(env, spec, NULL, spec->timeout_ms, out);
}

/* addr pins the connection (CURLOPT_CONNECT_TO "::ADDR:", any host and
 * port of the URL to ADDR on the same port): the name is not resolved,
 * while Host, SNI and certificate checks keep the URL's name. */
int vtg_http_probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                            uint32_t timeout_ms, vtg_probe_t **out) {
  int rc = VTG_ENOMEM;
  http_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL) goto out;
  vtg__probe_base_init(&p->base, env, spec);
  p->timeout_ms = timeout_ms;
  if (addr != NULL) {
    char ct[VTG_PROBE_ADDR_MAX + 8];
    snprintf(ct, sizeof ct, strchr(addr, ':') ? "::[%s]:" : "::%s:", addr);
    if ((p->connect_to = curl_slist_append(NULL, ct)) == NULL) goto out;
  }
  p->is_https = strncasecmp(spec->url, "https://", 8) == 0;
  p->is_tls_check = spec->type == VANTAGE__CHECK_TYPE__CHECK_TYPE_TLS;
  p->easy = curl_easy_init();
  if (p->easy == NULL) {
    rc = VTG_ECURL;
    goto out;
  }
  if ((rc = setopts(p, env)) != 0) goto out;
  p->base.start_us = vtg_probe_clock_wall_us();
  if ((rc = vtg_curl_uv_add(env->cu, p->easy)) != 0) goto out;
  *out = &p->base;
  return 0;

out:
  if (p != NULL) {
    vtg_check_spec_unref(p->base.spec);
    probe_free(p);
  }
  return rc;
}

void vtg_http_probe_abort(vtg_probe_t *base) {
  http_probe_t *p = container_of(base, http_probe_t, base);
  vtg_curl_uv_remove(base->env->cu, p->easy);
  probe_free(p);
}

/* The leaf certificate's "Expire date" (the OpenSSL backend's
 * ASN1_TIME_print format, "Nov 25 12:00:00 2027 GMT") as unix seconds, and
 * its issuer line; 0 and "" when absent. */
static void cert_facts(CURL *e, int64_t *expiry, char *issuer, size_t issuer_size) {
  struct curl_certinfo *ci = NULL;
  *expiry = 0;
  issuer[0] = '\0';
  if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || ci == NULL ||
      ci->num_of_certs < 1)
    return;
  for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
    static const char key[] = "Expire date:", ikey[] = "Issuer:";
    if (strncmp(s->data, ikey, sizeof ikey - 1) == 0) {
      const char *v = s->data + sizeof ikey - 1;
      while (*v == ' ') v++;
      vtg__copy_capped(issuer, issuer_size, v);
      continue;
    }
    if (strncmp(s->data, key, sizeof key - 1) != 0) continue;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *v = s->data + sizeof key - 1;
    while (*v == ' ') v++;
    if (strptime(v, "%b %d %H:%M:%S %Y", &tm) != NULL) *expiry = (int64_t)timegm(&tm);
  }
}

/* Fills r from the finished transfer. Timings are turned from curl's
 * cumulative marks into durations of each phase. */
static void collect(http_probe_t *p, CURLcode result, vtg_probe_result_t *r) {
  CURL *e = p->easy;
  const vtg_check_spec_t *sp = p->base.spec;
  curl_off_t t_dns = 0, t_conn = 0, t_app = 0, t_start = 0, t_total = 0;
  long status = 0, oserr = 0;
  char *ip = NULL;
  char why[VTG_PROBE_DETAIL_MAX + 1] = "";

  memset(r, 0, sizeof *r);
  r->check_id = p->base.check_id;
  r->start_us = p->base.start_us;
  /* A failing getinfo leaves its value 0, which reads as "not reached". */
  (void)curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t_dns);
  (void)curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t_conn);
  (void)curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t_app);
  (void)curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t_start);
  (void)curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t_total);
  (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  (void)curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
  if (curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL)
    vtg__copy_capped(r->resolved_addr, sizeof r->resolved_addr, ip);

  r->dns_us = vtg__clamp_us(t_dns);
  r->connect_us = t_conn > 0 ? vtg__clamp_us(t_conn - t_dns) : 0;
  r->tls_us = (t_app > 0 && t_conn > 0) ? vtg__clamp_us(t_app - t_conn) : 0;
  curl_off_t ready = t_app > 0 ? t_app : t_conn;
  r->ttfb_us = (t_start > 0 && ready > 0) ? vtg__clamp_us(t_start - ready) : 0;
  r->total_us = vtg__clamp_us(t_total);
  r->http_status = status > 0 && status < 1000 ? (uint32_t)status : 0;
  r->bytes = p->bytes;
  if (p->is_https && t_app > 0)
    cert_facts(e, &r->cert_expiry_unix, r->cert_issuer, sizeof r->cert_issuer);

  /* The assertions beyond the status: the body regex, the days left. */
  int assertion_failed = 0;
  if (result == CURLE_OK && sp->body_re != NULL && !p->body_oom &&
      !vtg_http_body_matches(sp->body_re, p->body, p->body_len)) {
    assertion_failed = 1;
    snprintf(why, sizeof why, "body (%" PRIu64 " bytes) does not match body_regex", p->bytes);
  }
  if (result == CURLE_OK && p->is_tls_check) {
    if (r->cert_expiry_unix == 0) {
      assertion_failed = 1;
      snprintf(why, sizeof why, "no certificate expiry reported");
    } else {
      int64_t days = vtg_tls_days_left(r->cert_expiry_unix, r->start_us / 1000000);
      if (days < (int64_t)sp->min_days_left) {
        assertion_failed = 1;
        snprintf(why, sizeof why, "certificate expires in %" PRId64 " days (min_days_left %u)",
                 days, sp->min_days_left);
      }
    }
  }

  vtg_http_facts_t f = {
      .code = result,
      .os_errno = oserr,
      .connect_time_us = t_conn,
      .http_status = status,
      .total_us = t_total,
      .max_latency_ms = sp->max_latency_ms,
      .accept = sp->accept,
      .n_accept = sp->n_accept,
      .no_status = p->is_tls_check,
      .assertion_failed = assertion_failed,
  };
  vtg_http_classify(&f, &r->outcome, &r->error_class);

  if (result != CURLE_OK) {
    const char *msg = p->errbuf[0] ? p->errbuf : curl_easy_strerror(result);
    vtg__copy_capped(r->error_detail, sizeof r->error_detail, msg);
  } else if (r->error_class == VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION && why[0]) {
    vtg__copy_capped(r->error_detail, sizeof r->error_detail, why);
  } else if (r->outcome == VANTAGE__OUTCOME__OUTCOME_DOWN) {
    snprintf(r->error_detail, sizeof r->error_detail, "HTTP status %ld not accepted", status);
  }
}

void vtg_http_probe_done(vtg_curl_uv_t *cu, CURL *easy, CURLcode result) {
  http_probe_t *p = NULL;
  vtg_probe_result_t r;
  (void)cu;
  char *priv = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) == CURLE_OK)
    p = (http_probe_t *)(void *)priv;
  if (p == NULL) {
    /* Not one of ours; cannot happen, but never leak it. */
    VTG_ERROR("finished curl transfer without its probe");
    curl_easy_cleanup(easy);
    return;
  }
  collect(p, result, &r);
  vtg__probe_finish(&p->base, &r);
  probe_free(p);
}
