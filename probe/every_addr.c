/* every_address probes (issue 5): one turn of an HTTP, TLS or TCP check
 * that resolves the host's A and AAAA records itself (c-ares, through the
 * DNS probe's machinery: vtg_dns_resolve_start, with the check's resolver
 * when it names one) and then probes each address apart, pinned, in
 * parallel. Every address gives one result with resolved_addr and
 * turn_addresses set and the turn's start time as start_us, so the
 * coordinator can tell (check, address) apart and group one turn; a failed
 * lookup gives the one dns-class result a plain probe would. At most
 * VTG_EVERY_ADDR_MAX addresses per turn (A first).
 *
 * Results before the last go out through env->emit; the last one through
 * the probe's own callback, after which the owner frees nothing of ours:
 * the turn is freed here once its last per-address probe has returned. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtg/error.h"
#include "vtg/log.h"

typedef struct ea_probe_s {
  vtg_probe_t base;
  vtg_dns_resolve_t *res;             /* while resolving */
  vtg_probe_t *subs[VTG_EVERY_ADDR_MAX];
  char addrs[VTG_EVERY_ADDR_MAX][VTG_PROBE_ADDR_MAX];
  size_t n_subs;                      /* addresses this turn */
  size_t running;                     /* per-address probes still out */
  uint32_t dns_us;
  uint64_t t0_ns;
  char host[256];
} ea_probe_t;

/* The host of the check's URL (HTTP, TLS) or target (TCP), without
 * brackets. Returns 0 or VTG_EINVAL. */
static int check_host(const vtg_check_spec_t *spec, char *host, size_t size) {
  char port[8];
  if (spec->type == VANTAGE__CHECK_TYPE__CHECK_TYPE_TCP)
    return spec->target ? vtg__split_host_port(spec->target, host, size, port, sizeof port)
                        : VTG_EINVAL;
  CURLU *u = curl_url();
  char *h = NULL;
  int rc = VTG_EINVAL;
  if (u == NULL) return VTG_ENOMEM;
  if (spec->url && curl_url_set(u, CURLUPART_URL, spec->url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
    size_t n = strlen(h);
    const char *s = h;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
      s++;
      n -= 2;
    }
    if (n > 0 && n < size) {
      memcpy(host, s, n);
      host[n] = '\0';
      rc = 0;
    }
  }
  curl_free(h);
  curl_url_cleanup(u);
  return rc;
}

static int is_literal(const char *h) {
  unsigned char b[16];
  return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

static void ea_free_if_done(ea_probe_t *p) {
  if (p->res == NULL && p->running == 0) free(p);
}

/* One per-address probe returned: the result goes out marked with the
 * turn; the last one finishes the turn. */
static void sub_done(vtg_probe_t *sub, const vtg_probe_result_t *r) {
  ea_probe_t *p = sub->data;
  vtg_probe_result_t out = *r;
  size_t i;
  for (i = 0; i < p->n_subs; i++)
    if (p->subs[i] == sub) break;
  if (i < p->n_subs) {
    p->subs[i] = NULL;
    /* Pinned, so this is the address even when curl never connected. */
    vtg__copy_capped(out.resolved_addr, sizeof out.resolved_addr, p->addrs[i]);
  }
  out.check_id = p->base.check_id;
  out.start_us = p->base.start_us;
  out.turn_addresses = (uint32_t)p->n_subs;
  if (out.dns_us == 0) out.dns_us = p->dns_us;
  p->running--;
  if (p->running > 0) {
    if (p->base.env->emit) p->base.env->emit(&p->base, &out);
    return;
  }
  vtg__probe_finish(&p->base, &out);
  free(p);
}

/* Starts the per-address probes with what is left of the timeout. A probe
 * that cannot start is reported down (`other`) for its address at once. */
static int start_subs(ea_probe_t *p, int in_start) {
  uint64_t spent_ms = (uv_hrtime() - p->t0_ns) / 1000000;
  uint32_t tmo = p->base.spec->timeout_ms;
  uint32_t left = spent_ms + 1 < tmo ? tmo - (uint32_t)spent_ms : 1;
  int first_rc = 0;
  size_t n = p->n_subs;
  p->running = n;
  for (size_t i = 0; i < n; i++) {
    int rc = vtg__probe_start_at(p->base.env, p->base.spec, p->addrs[i], left, sub_done, p,
                                 &p->subs[i]);
    if (rc == 0) continue;
    p->subs[i] = NULL;
    if (in_start) {
      /* The owner has no probe yet: fail the start as a whole. */
      for (size_t k = 0; k < i; k++) vtg_probe_abort(p->subs[k]);
      p->running = 0;
      return rc;
    }
    if (first_rc == 0) first_rc = rc;
    vtg_probe_result_t r;
    memset(&r, 0, sizeof r);
    r.outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
    r.error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
    snprintf(r.error_detail, sizeof r.error_detail, "probe of %s could not start: %s",
             p->addrs[i], vtg_strerror(rc));
    vtg_probe_t fake = {.data = p};
    int last = p->running == 1;
    p->subs[i] = &fake;
    sub_done(&fake, &r); /* finishes and frees the turn when it is the last */
    if (last) return 0;
  }
  return 0;
}

static void on_resolved(void *arg, const char (*addrs)[VTG_PROBE_ADDR_MAX], size_t n,
                        uint32_t dns_us, const char *why) {
  ea_probe_t *p = arg;
  p->res = NULL; /* freed by the lookup after we return */
  p->dns_us = dns_us;
  if (n == 0) {
    /* One dns-class result for the turn, as a plain probe would give. */
    vtg_probe_result_t r;
    memset(&r, 0, sizeof r);
    r.check_id = p->base.check_id;
    r.start_us = p->base.start_us;
    r.dns_us = r.total_us = dns_us;
    r.outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
    r.error_class = VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS;
    vtg__copy_capped(r.error_detail, sizeof r.error_detail, why ? why : "no address");
    vtg__probe_finish(&p->base, &r);
    free(p);
    return;
  }
  for (size_t i = 0; i < n; i++) vtg__copy_capped(p->addrs[i], VTG_PROBE_ADDR_MAX, addrs[i]);
  p->n_subs = n;
  (void)start_subs(p, 0);
}

int vtg_every_addr_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out) {
  int rc;
  ea_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL) return VTG_ENOMEM;
  if ((rc = check_host(spec, p->host, sizeof p->host)) != 0) {
    free(p);
    return rc;
  }
  vtg__probe_base_init(&p->base, env, spec);
  p->base.start_us = vtg_probe_clock_wall_us();
  p->t0_ns = uv_hrtime();
  if (is_literal(p->host)) {
    /* One address, no lookup. */
    vtg__copy_capped(p->addrs[0], VTG_PROBE_ADDR_MAX, p->host);
    p->n_subs = 1;
    rc = start_subs(p, 1);
  } else {
    rc = vtg_dns_resolve_start(env, spec, p->host, on_resolved, p, &p->res);
  }
  if (rc != 0) {
    vtg_check_spec_unref(p->base.spec);
    free(p);
    return rc;
  }
  *out = &p->base;
  return 0;
}

void vtg_every_addr_probe_abort(vtg_probe_t *base) {
  ea_probe_t *p = container_of(base, ea_probe_t, base);
  if (p->res != NULL) {
    vtg_dns_resolve_abort(p->res);
    p->res = NULL;
  }
  for (size_t i = 0; i < p->n_subs; i++)
    if (p->subs[i] != NULL) vtg_probe_abort(p->subs[i]);
  p->running = 0;
  ea_free_if_done(p);
}
