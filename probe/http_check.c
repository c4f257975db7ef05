/* HTTP(S) probes: one easy handle per probe, a fresh connection and a fresh
 * DNS lookup every time (a prober that reuses either hides exactly the
 * failures it exists to see), phase timings, and the mapping of what curl
 * reports onto DESIGN.md's outcome and error classes. */
#include <errno.h>
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
    if (!status_accepted(f)) {
      *outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
      if (f->http_status >= 500)
        *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_5XX;
      else if (f->http_status >= 400)
        *error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_HTTP_4XX;
      else
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

/* The body is counted, not kept: nothing needs it yet. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  vtg_http_probe_t *p = userdata;
  (void)ptr;
  p->bytes += (uint64_t)size * nmemb;
  return size * nmemb;
}

static int setopts(vtg_http_probe_t *p, const vtg_http_req_t *req) {
  CURL *e = p->easy;
  CURLcode cc = CURLE_OK;
  char iface[80];
  const char *method = (req->method && req->method[0]) ? req->method : "GET";

#define SET(opt, val)                                                     \
  do {                                                                    \
    if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK) {               \
      VTG_ERROR("curl_easy_setopt(%s): %s", #opt, curl_easy_strerror(cc)); \
      return VTG_ECURL;                                                   \
    }                                                                     \
  } while (0)

  SET(CURLOPT_URL, req->url);
  if (strcasecmp(method, "HEAD") == 0)
    SET(CURLOPT_NOBODY, 1L);
  else if (strcasecmp(method, "GET") != 0)
    SET(CURLOPT_CUSTOMREQUEST, method);
  SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
  SET(CURLOPT_FRESH_CONNECT, 1L);
  SET(CURLOPT_FORBID_REUSE, 1L);
  SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, p);
  SET(CURLOPT_ERRORBUFFER, p->errbuf);
  SET(CURLOPT_PRIVATE, p);
  SET(CURLOPT_USERAGENT, "vantage-probe/" VTG_VERSION);
  if (req->source_address != NULL) {
    /* "host!" makes curl bind to the address, never look for an interface
     * of that name. */
    snprintf(iface, sizeof iface, "host!%s", req->source_address);
    SET(CURLOPT_INTERFACE, iface);
  }
  if (p->is_https) SET(CURLOPT_CERTINFO, 1L);
#undef SET
  return 0;
}

int vtg_http_probe_start(vtg_curl_uv_t *cu, const vtg_http_req_t *req, vtg_http_probe_cb cb,
                         void *data, vtg_http_probe_t **out) {
  int rc = VTG_ENOMEM;
  vtg_http_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL) goto out;
  p->data = data;
  p->cu = cu;
  p->cb = cb;
  p->check_id = req->check_id;
  p->max_latency_ms = req->max_latency_ms;
  p->is_https = strncasecmp(req->url, "https://", 8) == 0;
  if (req->n_accept > 0) {
    p->accept = malloc(req->n_accept * sizeof *p->accept);
    if (p->accept == NULL) goto out;
    memcpy(p->accept, req->accept, req->n_accept * sizeof *p->accept);
    p->n_accept = req->n_accept;
  }
  p->easy = curl_easy_init();
  if (p->easy == NULL) {
    rc = VTG_ECURL;
    goto out;
  }
  if ((rc = setopts(p, req)) != 0) goto out;
  p->start_us = vtg_clock_wall_us();
  if ((rc = vtg_curl_uv_add(cu, p->easy)) != 0) goto out;
  *out = p;
  return 0;

out:
  if (p != NULL) {
    if (p->easy) curl_easy_cleanup(p->easy);
    free(p->accept);
    free(p);
  }
  return rc;
}

static void probe_free(vtg_http_probe_t *p) {
  curl_easy_cleanup(p->easy);
  free(p->accept);
  free(p);
}

void vtg_http_probe_abort(vtg_http_probe_t *p) {
  vtg_curl_uv_remove(p->cu, p->easy);
  probe_free(p);
}

/* Copies at most size - 1 bytes of src and terminates: error_detail is
 * capped by design, so truncation is the point. */
static void copy_capped(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static uint32_t clamp_us(int64_t v) {
  if (v <= 0) return 0;
  if (v > (int64_t)UINT32_MAX) return UINT32_MAX;
  return (uint32_t)v;
}

/* "Expire date: Nov 25 12:00:00 2027 GMT" from CURLINFO_CERTINFO (the
 * OpenSSL backend's ASN1_TIME_print format) as unix seconds; 0 if absent. */
static int64_t cert_expiry(CURL *e) {
  struct curl_certinfo *ci = NULL;
  if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || ci == NULL ||
      ci->num_of_certs < 1)
    return 0;
  for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
    static const char key[] = "Expire date:";
    if (strncmp(s->data, key, sizeof key - 1) != 0) continue;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *v = s->data + sizeof key - 1;
    while (*v == ' ') v++;
    const char *end = strptime(v, "%b %d %H:%M:%S %Y", &tm);
    if (end == NULL) return 0;
    return (int64_t)timegm(&tm);
  }
  return 0;
}

/* Fills r from the finished transfer. Timings are turned from curl's
 * cumulative marks into durations of each phase. */
static void collect(vtg_http_probe_t *p, CURLcode result, vtg_probe_result_t *r) {
  CURL *e = p->easy;
  curl_off_t t_dns = 0, t_conn = 0, t_app = 0, t_start = 0, t_total = 0;
  long status = 0, oserr = 0;
  char *ip = NULL;

  memset(r, 0, sizeof *r);
  r->check_id = p->check_id;
  r->start_us = p->start_us;
  /* A failing getinfo leaves its value 0, which reads as "not reached". */
  (void)curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t_dns);
  (void)curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t_conn);
  (void)curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t_app);
  (void)curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t_start);
  (void)curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t_total);
  (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  (void)curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
  if (curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL)
    copy_capped(r->resolved_addr, sizeof r->resolved_addr, ip);

  r->dns_us = clamp_us(t_dns);
  r->connect_us = t_conn > 0 ? clamp_us(t_conn - t_dns) : 0;
  r->tls_us = (t_app > 0 && t_conn > 0) ? clamp_us(t_app - t_conn) : 0;
  curl_off_t ready = t_app > 0 ? t_app : t_conn;
  r->ttfb_us = (t_start > 0 && ready > 0) ? clamp_us(t_start - ready) : 0;
  r->total_us = clamp_us(t_total);
  r->http_status = status > 0 && status < 1000 ? (uint32_t)status : 0;
  r->bytes = p->bytes;
  if (p->is_https && t_app > 0) r->cert_expiry_unix = cert_expiry(e);

  vtg_http_facts_t f = {
      .code = result,
      .os_errno = oserr,
      .connect_time_us = t_conn,
      .http_status = status,
      .total_us = t_total,
      .max_latency_ms = p->max_latency_ms,
      .accept = p->accept,
      .n_accept = p->n_accept,
  };
  vtg_http_classify(&f, &r->outcome, &r->error_class);

  if (result != CURLE_OK) {
    const char *msg = p->errbuf[0] ? p->errbuf : curl_easy_strerror(result);
    copy_capped(r->error_detail, sizeof r->error_detail, msg);
  } else if (r->outcome == VANTAGE__OUTCOME__OUTCOME_DOWN) {
    snprintf(r->error_detail, sizeof r->error_detail, "HTTP status %ld not accepted", status);
  }
}

void vtg_http_probe_done(vtg_curl_uv_t *cu, CURL *easy, CURLcode result) {
  vtg_http_probe_t *p = NULL;
  vtg_probe_result_t r;
  (void)cu;
  char *priv = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) == CURLE_OK)
    p = (vtg_http_probe_t *)(void *)priv;
  if (p == NULL) {
    /* Not one of ours; cannot happen, but never leak it. */
    VTG_ERROR("finished curl transfer without its probe");
    curl_easy_cleanup(easy);
    return;
  }
  collect(p, result, &r);
  p->cb(p, &r);
  probe_free(p);
}
