/* TCP connect probes: resolve the target afresh (uv_getaddrinfo, family
 * from ip_version), connect from the agent's source address, and report
 * how long each step took. Up = the three-way handshake completed; the
 * connection is closed at once. Failures map onto DESIGN.md's classes the
 * way the HTTP probe maps curl's: a failed lookup is `dns`, a refusal
 * `connect_refused`, no answer within the timeout (or an unreachable
 * network) `connect_timeout`, a reset `reset`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

typedef struct tcp_probe_s {
  vtg_probe_t base;
  uv_loop_t *loop;
  uv_getaddrinfo_t gai;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_timer_t timer;
  int gai_active;        /* the lookup has not called back yet */
  int tcp_open;          /* tcp initialised and not yet closed */
  int pending;           /* handles and requests still to call back */
  int done;              /* result delivered, or aborted: tear down only */
  int resolving;         /* still in the lookup */
  uint64_t t0_ns;        /* uv_hrtime at start */
  uint64_t t_dns_ns;     /* at the end of the lookup (or start, for a literal) */
  struct sockaddr_storage addr; /* the address connected to (family 0: none yet) */
  int deferred;          /* a failure found while starting, reported by the timer */
  Vantage__ErrorClass deferred_cls;
  char deferred_detail[VTG_PROBE_DETAIL_MAX + 1];
  uint32_t timeout_ms;   /* the spec's, or what is left of an every_address turn */
  char host[256];
  char port[8];
} tcp_probe_t;

int vtg__split_host_port(const char *t, char *host, size_t hsize, char *port, size_t psize) {
  const char *h = t, *colon;
  size_t hlen;
  if (t[0] == '[') {
    const char *rb = strchr(t, ']');
    if (rb == NULL || rb[1] != ':') return VTG_EINVAL;
    h = t + 1;
    hlen = (size_t)(rb - h);
    colon = rb + 1;
  } else {
    colon = strrchr(t, ':');
    if (colon == NULL) return VTG_EINVAL;
    hlen = (size_t)(colon - t);
  }
  size_t plen = strlen(colon + 1);
  if (hlen == 0 || hlen >= hsize || plen == 0 || plen >= psize) return VTG_EINVAL;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  memcpy(port, colon + 1, plen + 1);
  return 0;
}

static void maybe_free(tcp_probe_t *p) {
  if (p->done && p->pending == 0) free(p);
}

static void on_closed(uv_handle_t *h) {
  tcp_probe_t *p = h->data;
  p->pending--;
  maybe_free(p);
}

/* Stops everything still running; the probe is freed once the last
 * handle or request has called back. */
static void teardown(tcp_probe_t *p) {
  p->done = 1;
  if (!uv_is_closing((uv_handle_t *)&p->timer)) uv_close((uv_handle_t *)&p->timer, on_closed);
  if (p->tcp_open) {
    p->tcp_open = 0;
    uv_close((uv_handle_t *)&p->tcp, on_closed);
  }
  if (p->gai_active) (void)uv_cancel((uv_req_t *)&p->gai); /* its callback still runs */
  maybe_free(p);
}

static void finish(tcp_probe_t *p, Vantage__ErrorClass cls, const char *detail) {
  vtg_probe_result_t r;
  uint64_t now = uv_hrtime();
  memset(&r, 0, sizeof r);
  r.check_id = p->base.check_id;
  r.start_us = p->base.start_us;
  r.dns_us = vtg__clamp_us((int64_t)(p->t_dns_ns - p->t0_ns) / 1000);
  r.total_us = vtg__clamp_us((int64_t)(now - p->t0_ns) / 1000);
  if (cls == VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE) {
    r.connect_us = vtg__clamp_us((int64_t)(now - p->t_dns_ns) / 1000);
    uint32_t max_ms = p->base.spec->max_latency_ms;
    r.outcome = max_ms > 0 && r.total_us > max_ms * 1000u ? VANTAGE__OUTCOME__OUTCOME_DEGRADED
                                                          : VANTAGE__OUTCOME__OUTCOME_UP;
  } else {
    r.outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
    vtg__copy_capped(r.error_detail, sizeof r.error_detail, detail);
  }
  r.error_class = cls;
  if (p->addr.ss_family == AF_INET || p->addr.ss_family == AF_INET6)
    (void)uv_ip_name((struct sockaddr *)&p->addr, r.resolved_addr, sizeof r.resolved_addr);
  vtg__probe_finish(&p->base, &r);
  teardown(p);
}

/* Maps a libuv connect error onto the fixed classes. */
static Vantage__ErrorClass connect_class(int status) {
  switch (status) {
  case UV_ECONNREFUSED: return VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_REFUSED;
  case UV_ECONNRESET: return VANTAGE__ERROR_CLASS__ERROR_CLASS_RESET;
  case UV_ETIMEDOUT:
  case UV_ENETUNREACH:
  case UV_EHOSTUNREACH:
  case UV_EHOSTDOWN: return VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT;
  default: return VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
  }
}

static void on_timeout(uv_timer_t *t);

static void on_connect(uv_connect_t *req, int status) {
  tcp_probe_t *p = container_of(req, tcp_probe_t, creq);
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  if (p->done) return; /* cancelled by the teardown */
  if (status == 0) {
    finish(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE, "");
    return;
  }
  snprintf(detail, sizeof detail, "connect to %s port %s: %s", p->host, p->port,
           uv_strerror(status));
  finish(p, connect_class(status), detail);
}

/* Opens the socket of the address's family, binds it to the source address
 * when that has the same family, and connects. */
static void connect_to(tcp_probe_t *p, const struct sockaddr *sa) {
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  const char *src = p->base.env->source_address;
  int rc;
  memcpy(&p->addr, sa,
         sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
  if ((rc = uv_tcp_init_ex(p->loop, &p->tcp, sa->sa_family)) != 0) goto fail;
  p->tcp.data = p;
  p->tcp_open = 1;
  p->pending++;
  if (src != NULL) {
    struct sockaddr_storage local;
    memset(&local, 0, sizeof local);
    if (sa->sa_family == AF_INET)
      rc = uv_ip4_addr(src, 0, (struct sockaddr_in *)&local);
    else
      rc = uv_ip6_addr(src, 0, (struct sockaddr_in6 *)&local);
    /* A source of the other family cannot carry this connection. */
    if (rc == 0 && (rc = uv_tcp_bind(&p->tcp, (struct sockaddr *)&local, 0)) != 0) goto fail;
  }
  if ((rc = uv_tcp_connect(&p->creq, &p->tcp, sa, on_connect)) != 0) goto fail;
  return;
fail:
  snprintf(detail, sizeof detail, "connect to %s port %s: %s", p->host, p->port, uv_strerror(rc));
  if (p->base.cb == NULL) {
    /* Still inside start: the owner has not got the probe yet, so the
     * failure is reported from the timer on the next loop turn. */
    p->deferred = 1;
    p->deferred_cls = connect_class(rc);
    vtg__copy_capped(p->deferred_detail, sizeof p->deferred_detail, detail);
    (void)uv_timer_start(&p->timer, on_timeout, 0, 0);
    return;
  }
  finish(p, connect_class(rc), detail);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  tcp_probe_t *p = container_of(req, tcp_probe_t, gai);
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  p->gai_active = 0;
  p->pending--;
  p->resolving = 0;
  p->t_dns_ns = uv_hrtime();
  if (p->done) {
    uv_freeaddrinfo(res);
    maybe_free(p);
    return;
  }
  if (status != 0 || res == NULL) {
    snprintf(detail, sizeof detail, "resolving %s: %s", p->host,
             status ? uv_strerror(status) : "no address");
    uv_freeaddrinfo(res);
    finish(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS, detail);
    return;
  }
  connect_to(p, res->ai_addr);
  uv_freeaddrinfo(res);
}

static void on_timeout(uv_timer_t *t) {
  tcp_probe_t *p = container_of(t, tcp_probe_t, timer);
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  if (p->done) return;
  if (p->deferred) {
    finish(p, p->deferred_cls, p->deferred_detail);
    return;
  }
  /* A lookup that outlasts the probe is a DNS failure; a connect that does
   * is a connect timeout, as curl's CONNECT_TIME tells the HTTP probe. */
  snprintf(detail, sizeof detail, "%s %s port %s: no answer within %u ms",
           p->resolving ? "resolving" : "connect to", p->host, p->port, p->timeout_ms);
  finish(p, p->resolving ? VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS
                         : VANTAGE__ERROR_CLASS__ERROR_CLASS_CONNECT_TIMEOUT,
         detail);
}

int vtg_tcp_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out) {
  return vtg_tcp_probe_start_at(env, spec, NULL, spec->timeout_ms, out);
}

/* addr (an IP literal) replaces the target's host for the connection. */
int vtg_tcp_probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                           uint32_t timeout_ms, vtg_probe_t **out) {
  struct sockaddr_storage ss;
  struct addrinfo hints;
  int rc;
  tcp_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL) return VTG_ENOMEM;
  if (spec->target == NULL ||
      vtg__split_host_port(spec->target, p->host, sizeof p->host, p->port, sizeof p->port) != 0) {
    free(p);
    return VTG_EINVAL;
  }
  vtg__probe_base_init(&p->base, env, spec);
  p->loop = env->loop;
  p->timer.data = p;
  if ((rc = uv_timer_init(p->loop, &p->timer)) != 0) {
    vtg_check_spec_unref(p->base.spec);
    free(p);
    return rc;
  }
  p->pending = 1;
  p->base.start_us = vtg_probe_clock_wall_us();
  p->t0_ns = p->t_dns_ns = uv_hrtime();
  p->timeout_ms = timeout_ms;
  if ((rc = uv_timer_start(&p->timer, on_timeout, timeout_ms, 0)) != 0) goto fail;
  memset(&ss, 0, sizeof ss);
  long port = strtol(p->port, NULL, 10);
  const char *lit = addr != NULL ? addr : p->host;
  if (uv_ip4_addr(lit, (int)port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(lit, (int)port, (struct sockaddr_in6 *)&ss) == 0) {
    /* A literal needs no lookup; connect on the next loop turn would only
     * add latency to the measurement. */
    *out = &p->base;
    connect_to(p, (struct sockaddr *)&ss);
    return 0;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = spec->ip_version == 4 ? AF_INET : spec->ip_version == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  if ((rc = uv_getaddrinfo(p->loop, &p->gai, on_resolved, p->host, p->port, &hints)) != 0)
    goto fail;
  p->gai_active = 1;
  p->resolving = 1;
  p->pending++;
  *out = &p->base;
  return 0;
fail:
  /* Nothing called back yet: drop the reference here, free after close. */
  vtg_check_spec_unref(p->base.spec);
  p->base.spec = NULL;
  teardown(p);
  return rc;
}

void vtg_tcp_probe_abort(vtg_probe_t *base) {
  tcp_probe_t *p = container_of(base, tcp_probe_t, base);
  teardown(p);
}
