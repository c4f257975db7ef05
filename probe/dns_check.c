/* DNS probes with c-ares driven by the agent's libuv loop. Each probe makes
 * its own channel, so nothing is cached between probes and each check can
 * name its own resolver; the channel's sockets are watched with uv_poll
 * (ARES_OPT_SOCK_STATE_CB) and its retransmissions and our deadline share
 * one uv_timer. The probe sends one query of the check's record type,
 * binds to the agent's source address, and judges the answer: no answer
 * (timeout, SERVFAIL, NXDOMAIN, no record of that type) is class `dns`, an
 * answer without the expected values is `assertion`.
 *
 * c-ares may not be torn down from inside its own callbacks, so the query
 * callback only records the result; the poll or timer callback that drove
 * c-ares delivers it afterwards. */
#include <arpa/inet.h>
#include <ares.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

/* ------------------------------------------------------------- parsing */

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_MX = 15, T_TXT = 16, T_AAAA = 28 };

static const int rr_type[] = {
    [VANTAGE__DNS_RECORD__DNS_RECORD_A] = T_A,         [VANTAGE__DNS_RECORD__DNS_RECORD_AAAA] = T_AAAA,
    [VANTAGE__DNS_RECORD__DNS_RECORD_CNAME] = T_CNAME, [VANTAGE__DNS_RECORD__DNS_RECORD_MX] = T_MX,
    [VANTAGE__DNS_RECORD__DNS_RECORD_TXT] = T_TXT,     [VANTAGE__DNS_RECORD__DNS_RECORD_NS] = T_NS,
};
static const char *const rr_name[] = {"A", "AAAA", "CNAME", "MX", "TXT", "NS"};

static int rec_ok(Vantage__DnsRecord rec) {
  return (int)rec >= 0 && rec <= VANTAGE__DNS_RECORD__DNS_RECORD_NS;
}

/* Expands the (possibly compressed) name at p; *len gets its encoded
 * length. Returns 0 or VTG_EINVAL. */
static int expand_name(const unsigned char *p, const unsigned char *abuf, int alen, char *out,
                       size_t outsize, long *len) {
  char *s = NULL;
  if (ares_expand_name(p, abuf, alen, &s, len) != ARES_SUCCESS) return VTG_EINVAL;
  vtg__copy_capped(out, outsize, s);
  ares_free_string(s);
  return 0;
}

int vtg_dns_answers(const unsigned char *abuf, int alen, Vantage__DnsRecord rec,
                    char (*out)[VTG_DNS_ANSWER_MAX], size_t max, size_t *n) {
  char name[VTG_DNS_ANSWER_MAX];
  long len;
  *n = 0;
  if (!rec_ok(rec) || abuf == NULL || alen < 12) return VTG_EINVAL;
  const unsigned char *p = abuf + 12, *end = abuf + alen;
  unsigned qd = (unsigned)(abuf[4] << 8 | abuf[5]), an = (unsigned)(abuf[6] << 8 | abuf[7]);
  for (unsigned i = 0; i < qd; i++) {
    if (expand_name(p, abuf, alen, name, sizeof name, &len) != 0) return VTG_EINVAL;
    p += len;
    if (end - p < 4) return VTG_EINVAL;
    p += 4;
  }
  for (unsigned i = 0; i < an; i++) {
    if (expand_name(p, abuf, alen, name, sizeof name, &len) != 0) return VTG_EINVAL;
    p += len;
    if (end - p < 10) return VTG_EINVAL;
    int type = p[0] << 8 | p[1];
    size_t rdlen = (size_t)(p[8] << 8 | p[9]);
    p += 10;
    if ((size_t)(end - p) < rdlen) return VTG_EINVAL;
    const unsigned char *rd = p;
    p += rdlen;
    if (type != rr_type[rec] || *n >= max) continue;
    char *o = out[*n];
    switch (type) {
    case T_A:
    case T_AAAA:
      if (rdlen != (type == T_A ? 4u : 16u)) return VTG_EINVAL;
      if (inet_ntop(type == T_A ? AF_INET : AF_INET6, rd, o, VTG_DNS_ANSWER_MAX) == NULL)
        return VTG_EINVAL;
      break;
    case T_MX:
      if (rdlen < 3) return VTG_EINVAL;
      rd += 2; /* the preference is not compared */
      /* fall through */
    case T_CNAME:
    case T_NS:
      if (expand_name(rd, abuf, alen, o, VTG_DNS_ANSWER_MAX, &len) != 0) return VTG_EINVAL;
      break;
    case T_TXT: {
      /* The record's strings joined, capped. */
      size_t k = 0, off = 0;
      while (off < rdlen) {
        size_t sl = rd[off++];
        if (sl > rdlen - off) return VTG_EINVAL;
        size_t take = sl < VTG_DNS_ANSWER_MAX - 1 - k ? sl : VTG_DNS_ANSWER_MAX - 1 - k;
        memcpy(o + k, rd + off, take);
        k += take;
        off += sl;
      }
      o[k] = '\0';
      break;
    }
    }
    (*n)++;
  }
  return 0;
}

/* Names compare without case and without a final dot. */
static int same_name(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 0 && a[la - 1] == '.') la--;
  if (lb > 0 && b[lb - 1] == '.') lb--;
  return la == lb && strncasecmp(a, b, la) == 0;
}

static int same_answer(Vantage__DnsRecord rec, const char *a, const char *b) {
  unsigned char x[16], y[16];
  switch (rec) {
  case VANTAGE__DNS_RECORD__DNS_RECORD_A:
  case VANTAGE__DNS_RECORD__DNS_RECORD_AAAA: {
    int af = rec == VANTAGE__DNS_RECORD__DNS_RECORD_A ? AF_INET : AF_INET6;
    return inet_pton(af, a, x) == 1 && inet_pton(af, b, y) == 1 &&
           memcmp(x, y, af == AF_INET ? 4 : 16) == 0;
  }
  case VANTAGE__DNS_RECORD__DNS_RECORD_TXT:
    return strcmp(a, b) == 0;
  default:
    return same_name(a, b);
  }
}

int vtg_dns_expect_met(Vantage__DnsRecord rec, char (*answers)[VTG_DNS_ANSWER_MAX], size_t n,
                       char *const *expect, size_t n_expect, const char **missing) {
  for (size_t i = 0; i < n_expect; i++) {
    size_t j;
    for (j = 0; j < n; j++)
      if (same_answer(rec, answers[j], expect[i])) break;
    if (j == n) {
      if (missing) *missing = expect[i];
      return 0;
    }
  }
  return 1;
}

/* -------------------------------------------------------------- probes */

typedef struct dns_sock_s {
  uv_poll_t poll;
  ares_socket_t fd;
  struct dns_probe_s *p;
  struct dns_sock_s *next;
} dns_sock_t;

typedef struct dns_probe_s {
  vtg_probe_t base;
  uv_loop_t *loop;
  ares_channel ch;
  int ch_open;
  uv_timer_t timer;
  dns_sock_t *socks;
  int pending;            /* handles still to close */
  int done;               /* delivered or aborted: tear down only */
  int have_result;        /* r is filled, to be delivered */
  uint64_t t0_ns;
  uint64_t deadline_ms;   /* uv_now() value of the probe's deadline */
  vtg_probe_result_t r;
  /* Resolution mode (vtg_dns_resolve_start): A/AAAA answers go to rcb. */
  vtg_dns_resolve_cb rcb;
  void *rarg;
  int queries;            /* outstanding ares_query calls */
  const char *host;       /* the name resolved (the caller's, outlives the lookup) */
  char addrs[VTG_EVERY_ADDR_MAX][VTG_PROBE_ADDR_MAX];
  size_t n_addrs;
} dns_probe_t;

static void dns_maybe_free(dns_probe_t *p) {
  if (p->done && p->pending == 0) free(p);
}

static void on_handle_closed(uv_handle_t *h) {
  dns_probe_t *p = h->data;
  if (h->type == UV_POLL) free(container_of((uv_poll_t *)h, dns_sock_t, poll));
  p->pending--;
  dns_maybe_free(p);
}

static void dns_teardown(dns_probe_t *p) {
  p->done = 1;
  if (p->ch_open) {
    p->ch_open = 0;
    ares_destroy(p->ch); /* closes its sockets through sock_state_cb */
  }
  if (!uv_is_closing((uv_handle_t *)&p->timer)) uv_close((uv_handle_t *)&p->timer, on_handle_closed);
  dns_maybe_free(p);
}

/* Records the outcome; delivered by deliver() outside c-ares. */
static void set_result(dns_probe_t *p, Vantage__ErrorClass cls, const char *detail) {
  vtg_probe_result_t *r = &p->r;
  r->check_id = p->base.check_id;
  r->start_us = p->base.start_us;
  r->total_us = vtg__clamp_us((int64_t)(uv_hrtime() - p->t0_ns) / 1000);
  r->dns_us = r->total_us;
  r->error_class = cls;
  if (cls == VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE) {
    uint32_t max_ms = p->base.spec->max_latency_ms;
    r->outcome = max_ms > 0 && r->total_us > max_ms * 1000u ? VANTAGE__OUTCOME__OUTCOME_DEGRADED
                                                            : VANTAGE__OUTCOME__OUTCOME_UP;
  } else {
    r->outcome = VANTAGE__OUTCOME__OUTCOME_DOWN;
  }
  if (detail) vtg__copy_capped(r->error_detail, sizeof r->error_detail, detail);
  p->have_result = 1;
}

static void deliver(dns_probe_t *p) {
  if (p->done || !p->have_result) return;
  if (p->rcb != NULL) {
    vtg_check_spec_t *spec = p->base.spec;
    p->base.spec = NULL;
    p->rcb(p->rarg, (const char(*)[VTG_PROBE_ADDR_MAX])p->addrs, p->n_addrs, p->r.dns_us,
           p->n_addrs > 0 ? NULL : p->r.error_detail);
    vtg_check_spec_unref(spec);
  } else {
    vtg__probe_finish(&p->base, &p->r);
  }
  dns_teardown(p);
}

/* Resolution mode: one of the A / AAAA answers. Addresses are collected
 * (deduplicated, capped); the lookup is done when both have answered, and
 * fails only when neither gave an address. */
static void on_addr_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  dns_probe_t *p = arg;
  char answers[VTG_EVERY_ADDR_MAX][VTG_DNS_ANSWER_MAX];
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  size_t n = 0;
  (void)timeouts;
  if (p->done || p->have_result) return;
  p->queries--;
  if (status == ARES_SUCCESS) {
    for (int rec = VANTAGE__DNS_RECORD__DNS_RECORD_A; rec <= VANTAGE__DNS_RECORD__DNS_RECORD_AAAA;
         rec++) {
      if (vtg_dns_answers(abuf, alen, (Vantage__DnsRecord)rec, answers, VTG_EVERY_ADDR_MAX, &n) !=
          0)
        n = 0;
      for (size_t i = 0; i < n && p->n_addrs < VTG_EVERY_ADDR_MAX; i++) {
        size_t j;
        for (j = 0; j < p->n_addrs; j++)
          if (strcmp(p->addrs[j], answers[i]) == 0) break;
        if (j == p->n_addrs)
          vtg__copy_capped(p->addrs[p->n_addrs++], VTG_PROBE_ADDR_MAX, answers[i]);
      }
    }
  } else if (p->r.error_detail[0] == '\0') {
    snprintf(detail, sizeof detail, "resolving %s: %s", p->host, ares_strerror(status));
    vtg__copy_capped(p->r.error_detail, sizeof p->r.error_detail, detail);
  }
  if (p->queries > 0) return;
  if (p->n_addrs == 0 && p->r.error_detail[0] == '\0') {
    snprintf(detail, sizeof detail, "resolving %s: no address", p->host);
    vtg__copy_capped(p->r.error_detail, sizeof p->r.error_detail, detail);
  }
  p->r.dns_us = vtg__clamp_us((int64_t)(uv_hrtime() - p->t0_ns) / 1000);
  p->have_result = 1;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  dns_probe_t *p = arg;
  const vtg_check_spec_t *sp = p->base.spec;
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  char answers[VTG_DNS_MAX_ANSWERS][VTG_DNS_ANSWER_MAX]; /* 16 KiB of stack */
  size_t n = 0;
  const char *missing = NULL;
  (void)timeouts;
  if (p->done || p->have_result) return; /* ARES_EDESTRUCTION while tearing down */
  if (status != ARES_SUCCESS) {
    snprintf(detail, sizeof detail, "%s %s: %s", rr_name[sp->dns_record], sp->dns_name,
             ares_strerror(status));
    set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS, detail);
    return;
  }
  if (vtg_dns_answers(abuf, alen, sp->dns_record, answers, VTG_DNS_MAX_ANSWERS, &n) != 0) {
    snprintf(detail, sizeof detail, "%s %s: malformed answer", rr_name[sp->dns_record],
             sp->dns_name);
    set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS, detail);
    return;
  }
  if (n == 0) {
    snprintf(detail, sizeof detail, "%s %s: no %s record in the answer", rr_name[sp->dns_record],
             sp->dns_name, rr_name[sp->dns_record]);
    set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS, detail);
    return;
  }
  vtg__copy_capped(p->r.resolved_addr, sizeof p->r.resolved_addr, answers[0]);
  if (!vtg_dns_expect_met(sp->dns_record, answers, n, sp->dns_expect, sp->n_dns_expect,
                          &missing)) {
    snprintf(detail, sizeof detail, "%s %s: expected answer %s missing (got %s%s)",
             rr_name[sp->dns_record], sp->dns_name, missing, answers[0], n > 1 ? ", ..." : "");
    set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_ASSERTION, detail);
    return;
  }
  set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE, NULL);
}

static void on_timer(uv_timer_t *t);

/* Re-arms the timer for c-ares' next retransmission or our deadline. */
static void rearm(dns_probe_t *p) {
  uint64_t now = uv_now(p->loop);
  uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;
  struct timeval maxtv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)}, tv;
  struct timeval *tvp = ares_timeout(p->ch, &maxtv, &tv);
  uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000;
  (void)uv_timer_start(&p->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t) {
  dns_probe_t *p = container_of(t, dns_probe_t, timer);
  char detail[600]; /* capped to VTG_PROBE_DETAIL_MAX when stored */
  if (p->done) return;
  if (!p->have_result && p->ch_open) ares_process_fd(p->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  if (!p->have_result && uv_now(p->loop) >= p->deadline_ms) {
    if (p->rcb != NULL) {
      /* Resolution mode: what answered in time is used; none is a failure. */
      snprintf(detail, sizeof detail, "resolving %s: no answer within %u ms", p->host,
               p->base.spec->timeout_ms);
      if (p->n_addrs == 0) vtg__copy_capped(p->r.error_detail, sizeof p->r.error_detail, detail);
      p->r.dns_us = vtg__clamp_us((int64_t)(uv_hrtime() - p->t0_ns) / 1000);
      p->have_result = 1;
    } else {
      snprintf(detail, sizeof detail, "%s %s: no answer within %u ms",
               rr_name[p->base.spec->dns_record], p->base.spec->dns_name,
               p->base.spec->timeout_ms);
      set_result(p, VANTAGE__ERROR_CLASS__ERROR_CLASS_DNS, detail);
    }
  }
  if (p->have_result) {
    deliver(p);
    return;
  }
  rearm(p);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  dns_sock_t *s = container_of(h, dns_sock_t, poll);
  dns_probe_t *p = s->p;
  if (p->done) return;
  ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
  /* An error on the socket: let c-ares read it and find out. */
  if (status < 0 || (events & UV_READABLE)) rfd = s->fd;
  if (events & UV_WRITABLE) wfd = s->fd;
  ares_process_fd(p->ch, rfd, wfd);
  if (p->have_result) {
    deliver(p);
    return;
  }
  rearm(p);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
  dns_probe_t *p = data;
  dns_sock_t **pp = &p->socks, *s;
  while (*pp && (*pp)->fd != fd) pp = &(*pp)->next;
  s = *pp;
  if (!readable && !writable) {
    if (s == NULL) return;
    *pp = s->next;
    /* uv_close stops watching now, before c-ares closes the fd. */
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    return;
  }
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL) return; /* the query then times out: logged as such */
    if (uv_poll_init_socket(p->loop, &s->poll, fd) != 0) {
      free(s);
      return;
    }
    s->fd = fd;
    s->p = p;
    s->poll.data = p;
    s->next = p->socks;
    p->socks = s;
    p->pending++;
  }
  (void)uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                      on_poll);
}

/* Binds the channel's sockets to the agent's source address. */
static void bind_source(ares_channel ch, const char *src) {
  struct in_addr a4;
  unsigned char a6[16];
  if (src == NULL) return;
  if (inet_pton(AF_INET, src, &a4) == 1)
    ares_set_local_ip4(ch, ntohl(a4.s_addr));
  else if (inet_pton(AF_INET6, src, a6) == 1)
    ares_set_local_ip6(ch, a6);
}

/* The part every lookup shares: a probe with its own channel (the check's
 * resolver, the agent's source address) and timer, its deadline running.
 * Returns 0 or an error (then nothing is left). */
static int dns_open(vtg_check_env_t *env, vtg_check_spec_t *spec, dns_probe_t **out) {
  struct ares_options o;
  int rc, ar;
  dns_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL) return VTG_ENOMEM;
  vtg__probe_base_init(&p->base, env, spec);
  p->loop = env->loop;
  p->timer.data = p;
  if ((rc = uv_timer_init(p->loop, &p->timer)) != 0) {
    vtg_check_spec_unref(p->base.spec);
    free(p);
    return rc;
  }
  p->pending = 1;

  memset(&o, 0, sizeof o);
  o.sock_state_cb = sock_state_cb;
  o.sock_state_cb_data = p;
  o.timeout = (int)spec->timeout_ms; /* per try; the deadline below bounds the whole */
  o.tries = 1;
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  ar = ares_init_options(&p->ch, &o,
                         ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                             ARES_OPT_FLAGS);
  if (ar != ARES_SUCCESS) {
    VTG_ERROR("ares_init_options: %s", ares_strerror(ar));
    rc = ar == ARES_ENOMEM ? VTG_ENOMEM : VTG_EINVAL;
    goto fail;
  }
  p->ch_open = 1;
  if (spec->dns_resolver != NULL &&
      (ar = ares_set_servers_ports_csv(p->ch, spec->dns_resolver)) != ARES_SUCCESS) {
    VTG_ERROR("resolver %s: %s", spec->dns_resolver, ares_strerror(ar));
    rc = VTG_EINVAL;
    goto fail;
  }
  bind_source(p->ch, env->source_address);

  p->base.start_us = vtg_probe_clock_wall_us();
  p->t0_ns = uv_hrtime();
  uv_update_time(p->loop);
  p->deadline_ms = uv_now(p->loop) + spec->timeout_ms;
  *out = p;
  return 0;
fail:
  vtg_check_spec_unref(p->base.spec);
  p->base.spec = NULL;
  dns_teardown(p);
  return rc;
}

/* After the queries are sent: ares_query may have answered already (a
 * malformed name, no servers): the owner gets the probe first, the result
 * on the next loop turn. */
static void dns_arm(dns_probe_t *p) {
  if (p->have_result)
    (void)uv_timer_start(&p->timer, on_timer, 0, 0);
  else
    rearm(p);
}

int vtg_dns_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out) {
  dns_probe_t *p;
  int rc;
  if (spec->dns_name == NULL || !rec_ok(spec->dns_record)) return VTG_EINVAL;
  if ((rc = dns_open(env, spec, &p)) != 0) return rc;
  ares_query(p->ch, spec->dns_name, 1 /* C_IN */, rr_type[spec->dns_record], on_answer, p);
  dns_arm(p);
  *out = &p->base;
  return 0;
}

int vtg_dns_resolve_start(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *host,
                          vtg_dns_resolve_cb cb, void *arg, vtg_dns_resolve_t **out) {
  dns_probe_t *p;
  int rc;
  if ((rc = dns_open(env, spec, &p)) != 0) return rc;
  p->rcb = cb;
  p->rarg = arg;
  p->host = host;
  p->queries = spec->ip_version == 0 ? 2 : 1;
  if (spec->ip_version != 6) ares_query(p->ch, host, 1 /* C_IN */, T_A, on_addr_answer, p);
  if (spec->ip_version != 4 && !p->done)
    ares_query(p->ch, host, 1 /* C_IN */, T_AAAA, on_addr_answer, p);
  dns_arm(p);
  *out = p;
  return 0;
}

void vtg_dns_resolve_abort(vtg_dns_resolve_t *q) {
  vtg_check_spec_t *spec = q->base.spec;
  q->base.spec = NULL;
  dns_teardown(q);
  vtg_check_spec_unref(spec);
}

void vtg_dns_probe_abort(vtg_probe_t *base) {
  dns_teardown(container_of(base, dns_probe_t, base));
}
