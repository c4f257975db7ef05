/* The simulator's DNS responder: one UDP socket on 127.0.0.1. A query's
 * source address (127.0.R.A, the agent's own) says who asks, its name says
 * which DNS check, and the fault plan decides: a dns_fail fault makes it
 * answer SERVFAIL, otherwise an A query gets 127.0.0.1 (other types an
 * empty answer). Names no check uses get NXDOMAIN. Every answer is one
 * datagram sent at once (uv_udp_try_send), so no buffer outlives a call. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sim.h"
#include "vtg/error.h"
#include "vtg/log.h"

enum { RCODE_OK = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3, TYPE_A = 1, CLASS_IN = 1 };

static void dns_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  vtg_sim_t *sim = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)sim->dns_in, sizeof sim->dns_in);
}

/* Reads the question's name (lower case, dotted) out of q[12..n); *end
 * gets the offset after the name. Returns 0 or -1 when malformed. */
static int read_qname(const unsigned char *q, size_t n, char *name, size_t size, size_t *end) {
  size_t k = 12, o = 0;
  for (;;) {
    if (k >= n) return -1;
    size_t l = q[k++];
    if (l == 0) break;
    if (l > 63 || k + l > n || o + l + 2 > size) return -1; /* no compression in questions */
    if (o > 0) name[o++] = '.';
    for (size_t i = 0; i < l; i++) {
      unsigned char ch = q[k + i];
      name[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    k += l;
  }
  name[o] = '\0';
  *end = k;
  return 0;
}

static void on_query(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                     unsigned flags) {
  vtg_sim_t *sim = h->data;
  const unsigned char *q = (const unsigned char *)buf->base;
  unsigned char out[sizeof sim->dns_in + 16];
  char name[256];
  size_t qend, n = nread > 0 ? (size_t)nread : 0;
  vtg_sim_agent_ref_t who;
  int has_who = 0, rcode = RCODE_NXDOMAIN, answer = 0;
  (void)flags;
  if (nread <= 0 || from == NULL || n < 12 || (q[2] & 0x80)) return; /* not a query */
  if (q[4] != 0 || q[5] != 1 || read_qname(q, n, name, sizeof name, &qend) != 0 ||
      qend + 4 > n)
    return;
  int qtype = q[qend] << 8 | q[qend + 1];
  if (from->sa_family == AF_INET)
    has_who = vtg_sim_agent_from_addr(&sim->sc,
                                      ntohl(((const struct sockaddr_in *)from)->sin_addr.s_addr),
                                      &who) == 0;
  for (size_t i = 0; i < sim->sc.n_checks; i++) {
    vtg_sim_check_t *chk = &sim->sc.checks[i];
    if (chk->type != VTG_SIM_CHECK_DNS || strcasecmp(chk->dns_name, name) != 0) continue;
    int64_t t = vtg_sim_now(sim);
    const vtg_sim_fault_t *f =
        t == INT64_MIN ? NULL : vtg_sim_fault_find(&sim->sc, i, has_who ? &who : NULL, t);
    vtg_sim_mode_t mode = f ? f->mode : VTG_SIM_MODE_OK;
    if (f && vtg_sim_mode_desc(f->mode)->action == VTG_SIM_ACT_RANDOM)
      mode = vtg_sim_random(sim) < f->rate ? f->as : VTG_SIM_MODE_OK;
    if (vtg_sim_mode_desc(mode)->action == VTG_SIM_ACT_SERVFAIL) {
      rcode = RCODE_SERVFAIL;
    } else {
      mode = VTG_SIM_MODE_OK; /* HTTP-level faults do not touch DNS */
      rcode = RCODE_OK;
      answer = qtype == TYPE_A;
    }
    chk->count[mode]++;
    VTG_DEBUG("dns %s type %d from %s -> %s", name, qtype,
              has_who ? sim->sc.regions[who.region].name : "?", vtg_sim_mode_desc(mode)->name);
    break;
  }
  /* "<service>.sim": the service's host, one A record per address it
   * listens on (every_address checks resolve it). */
  const vtg_sim_service_t *host = NULL;
  for (size_t i = 0; rcode == RCODE_NXDOMAIN && i < sim->sc.n_services; i++) {
    const vtg_sim_service_t *svc = &sim->sc.services[i];
    size_t nl = strlen(svc->name);
    if (strncasecmp(name, svc->name, nl) == 0 && strcmp(name + nl, ".sim") == 0) {
      host = svc;
      rcode = RCODE_OK;
      answer = qtype == TYPE_A ? (int)svc->n_addrs : 0;
    }
  }
  /* Header: the query's id and RD, QR + AA + RA, one question. */
  memcpy(out, q, qend + 4);
  out[2] = (unsigned char)(0x84 | (q[2] & 0x01));
  out[3] = (unsigned char)(0x80 | rcode);
  out[6] = 0;
  out[7] = (unsigned char)answer;
  memset(out + 8, 0, 4);
  size_t k = qend + 4;
  for (int i = 0; i < answer; i++) {
    unsigned char rr[] = {0xc0, 12, 0, TYPE_A, 0, CLASS_IN, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1};
    if (host != NULL) {
      uint32_t a = host->addrs[i];
      rr[12] = (unsigned char)(a >> 24);
      rr[13] = (unsigned char)(a >> 16);
      rr[14] = (unsigned char)(a >> 8);
      rr[15] = (unsigned char)a;
    }
    if (k + sizeof rr > sizeof out) break;
    memcpy(out + k, rr, sizeof rr);
    k += sizeof rr;
  }
  uv_buf_t b = uv_buf_init((char *)out, (unsigned)k);
  if (uv_udp_try_send(h, &b, 1, from) < 0) VTG_DEBUG("dns: answer to %s not sent", name);
}

int vtg_sim_dns_listen(vtg_sim_t *sim) {
  struct sockaddr_in addr;
  struct sockaddr_storage ss;
  int len = sizeof ss, rc;
  if ((rc = uv_udp_init(sim->loop, &sim->dns)) != 0) return rc;
  sim->dns_on = 1;
  sim->dns.data = sim;
  if ((rc = uv_ip4_addr("127.0.0.1", 0, &addr)) != 0) return rc;
  if ((rc = uv_udp_bind(&sim->dns, (const struct sockaddr *)&addr, 0)) != 0) return rc;
  if ((rc = uv_udp_getsockname(&sim->dns, (struct sockaddr *)&ss, &len)) != 0) return rc;
  sim->dns_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if ((rc = uv_udp_recv_start(&sim->dns, dns_alloc, on_query)) != 0) return rc;
  VTG_INFO("dns responder on 127.0.0.1:%d", sim->dns_port);
  return 0;
}
