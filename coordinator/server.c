/* The agent listener. One session per TCP connection:
 *
 *   accept -> HELLO (only a Hello is accepted) -> READY -> (DRAIN) -> CLOSED
 *
 * Frames are read with a hard cap (cfg.max_frame) and decoded into the
 * session's arena. Any protocol violation (too large, undecodable,
 * unexpected message, refused Hello) gets an Error frame, then the session
 * drains its writes and closes; the coordinator keeps serving everyone else.
 * Writes are tracked per session and capped, so a peer that stops reading
 * is closed instead of growing our memory.
 *
 * Each session owns two handles (the TCP stream and one timer for the idle
 * timeout, our heartbeats and the drain deadline); it is freed when both
 * close callbacks have run. The server is freed once its listener and all
 * sessions are closed.
 *
 * With `tls:` configured every session is mutual TLS over memory BIOs
 * (vtg/tls.h): bytes read are decrypted before the frame reader sees them
 * and every frame is encrypted before uv_write. The client certificate's
 * CN is the agent id; a Hello claiming another id is refused. A failed
 * handshake (no certificate, another CA, expired) is logged with the
 * peer's address and the connection closed after OpenSSL's alert. */
#include "server.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "burst.h"
#include "ingest.h"
#include "phase.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/frame.h"
#include "vtg/log.h"
#include "vtg/tls.h"
#include "vtg/wire.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define SERVER_MAX_SESSIONS 20000   /* refuse connections past this */
#define READ_BUF_SIZE (64 * 1024)
#define DRAIN_TIMEOUT_US (2 * 1000 * 1000) /* how long an Error may take to leave */
#define AGENT_ID_MAX 128
#define VERSION_MAX 64
#define ARENA_KEEP (1u << 20)       /* arena memory kept between messages */
#define ADDR_LEN 64
/* Fleet changes (connects, disconnects, cadence) are gathered this long
 * before phases are recomputed and changed CheckSets pushed: a fleet that
 * reconnects at once costs one recomputation, not one per agent. */
#define REPHASE_DEBOUNCE_MS 200

typedef enum { S_HELLO = 0, S_READY, S_DRAIN, S_CLOSED } session_state_t;

typedef struct vtg_session_s {
  uv_tcp_t tcp;                  /* data = the session */
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  vtg_server_t *server;
  struct vtg_session_s *prev, *next;
  vtg_agent_t *agent;            /* after Hello; NULL once detached */
  session_state_t state;
  int handles;                   /* open handles; freed at 0 */
  vtg_frame_reader_t reader;
  vtg_arena_t arena;
  size_t max_frame;
  size_t write_pending;          /* bytes handed to uv_write, not yet written */
  size_t write_cap;
  int64_t idle_us, heartbeat_us; /* snapshot of the config at accept */
  int64_t last_rx_us;            /* monotonic */
  int64_t next_hb_us;            /* monotonic */
  int64_t drain_deadline_us;     /* monotonic */
  int64_t peer_hb_sent_us;       /* the peer's clock in its last Heartbeat */
  int64_t hb_sent_us;            /* our clock in our last Heartbeat not yet answered; 0 = none */
  int peer_eof;                  /* the agent shut its side; we still owe it Acks */
  char peer[ADDR_LEN];
  vtg_tls_t *tls;                /* NULL on a plaintext listener */
  char cert_id[AGENT_ID_MAX + 1]; /* TLS: the client certificate's CN, once handshaken */
  /* The plan for this agent (plan_all), by config check index; interval 0
   * = the check does not apply to it. What was last sent is known by its
   * signature only (checkset_sig). */
  uint32_t *plan_phase_ms, *plan_interval_ms;
  size_t n_plan;
  uint64_t sent_sig;
  int sent;                      /* a CheckSet went out on this session */
} vtg_session_t;

struct vtg_server_s {
  vtg_coord_t *coord;
  uv_tcp_t listener;
  int listener_open;
  int stopping;
  vtg_session_t *sessions;
  size_t n_sessions;
  char addr[ADDR_LEN];
  vtg_tls_ctx_t *tls_ctx;        /* NULL = plaintext; replaced on SIGHUP */
  vtg_burst_t *burst;            /* confirmation bursts and cadence (burst.h) */
  uv_timer_t rephase_timer;      /* the debounce of fleet changes */
  int rephase_open;              /* rephase_timer initialised and not yet closed */
  uint8_t rbuf[READ_BUF_SIZE];   /* shared: reads are consumed within read_cb */
  uint8_t pbuf[READ_BUF_SIZE];   /* shared: plaintext decrypted from rbuf */
};

typedef struct wreq_s {
  uv_write_t req;
  vtg_session_t *s;
  uint8_t *data;
  size_t len;
} wreq_t;

static void session_close(vtg_session_t *s);
static int write_raw(vtg_session_t *s, uint8_t *data, size_t len);
static void session_fail(vtg_session_t *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void session_arm(vtg_session_t *s);

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t n) {
  char ip[64] = "?";
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    uv_ip4_name(in, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(in6, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
  } else {
    snprintf(out, n, "?");
  }
}

/* "agent ID (ADDR)" or "connection from ADDR" before the Hello. */
static const char *who(const vtg_session_t *s, char *buf, size_t n) {
  if (s->agent)
    snprintf(buf, n, "agent %s (%s)", s->agent->id, s->peer);
  else
    snprintf(buf, n, "connection from %s", s->peer);
  return buf;
}

static const char *msg_name(Vantage__Envelope__MsgCase m) {
  switch (m) {
  case VANTAGE__ENVELOPE__MSG_HELLO: return "Hello";
  case VANTAGE__ENVELOPE__MSG_RESULT_BATCH: return "ResultBatch";
  case VANTAGE__ENVELOPE__MSG_DROPPED: return "Dropped";
  case VANTAGE__ENVELOPE__MSG_HEARTBEAT: return "Heartbeat";
  case VANTAGE__ENVELOPE__MSG_WELCOME: return "Welcome";
  case VANTAGE__ENVELOPE__MSG_CHECK_SET: return "CheckSet";
  case VANTAGE__ENVELOPE__MSG_ACK: return "Ack";
  case VANTAGE__ENVELOPE__MSG_PROBE_NOW: return "ProbeNow";
  case VANTAGE__ENVELOPE__MSG_ERROR: return "Error";
  default: return "an empty envelope";
  }
}

/* The agent is gone from this session: mark it disconnected (unless a newer
 * session already took it over) and persist that. */
static void session_detach(vtg_session_t *s, const char *why) {
  vtg_agent_t *a = s->agent;
  if (a == NULL) return;
  s->agent = NULL;
  if (a->session != s) return;
  vtg_coord_t *c = s->server->coord;
  a->session = NULL;
  a->connected = 0;
  VTG_INFO("agent %s disconnected (%s): %s", a->id, s->peer, why);
  /* The others' phases close the gap it leaves. */
  vtg_server_fleet_changed(s->server);
  int err = vtg_store_agent_upsert(c->store, a->id, a->region, a->country, a->lat, a->lon,
                                   a->version, a->address, a->last_seen_us);
  if (err) VTG_WARN("agent %s: could not store its state: %s", a->id, vtg_strerror(err));
}

static void server_maybe_free(vtg_server_t *srv) {
  if (srv->stopping && !srv->listener_open && !srv->rephase_open && srv->sessions == NULL) {
    vtg_burst_free(srv->burst);
    vtg_tls_ctx_free(srv->tls_ctx);
    free(srv);
  }
}

static void on_session_handle_close(uv_handle_t *h) {
  vtg_session_t *s = h->data;
  if (--s->handles > 0) return;
  vtg_server_t *srv = s->server;
  if (s->prev)
    s->prev->next = s->next;
  else
    srv->sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  srv->n_sessions--;
  vtg_frame_reader_free(&s->reader);
  vtg_arena_free(&s->arena);
  vtg_tls_free(s->tls);
  free(s->plan_phase_ms);
  free(s->plan_interval_ms);
  free(s);
  server_maybe_free(srv);
}

/* Closes at once: pending writes are cancelled. Idempotent. */
static void session_close(vtg_session_t *s) {
  if (s->state == S_CLOSED) return;
  session_detach(s, "connection closed");
  s->state = S_CLOSED;
  uv_read_stop((uv_stream_t *)&s->tcp);
  uv_close((uv_handle_t *)&s->tcp, on_session_handle_close);
  uv_close((uv_handle_t *)&s->timer, on_session_handle_close);
}

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = container_of(req, wreq_t, req);
  vtg_session_t *s = w->s;
  s->write_pending -= w->len;
  free(w->data);
  free(w);
  if (status < 0 && status != UV_ECANCELED && s->state != S_CLOSED) {
    char b[160];
    VTG_INFO("%s: write failed: %s", who(s, b, sizeof b), uv_strerror(status));
    session_close(s);
  }
}

/* Encodes and queues one envelope. On failure the session is closed (a
 * peer we cannot write to is of no use) and an error returned. */
static int session_send(vtg_session_t *s, const Vantage__Envelope *env) {
  uint8_t *data = NULL;
  size_t len = 0;
  char b[160];
  if (s->state == S_CLOSED) return UV_ECANCELED;
  int err = vtg_wire_encode(env, s->max_frame, &data, &len);
  if (err) {
    VTG_ERROR("%s: cannot encode %s: %s", who(s, b, sizeof b), msg_name(env->msg_case),
              vtg_strerror(err));
    session_close(s);
    return err;
  }
  if (s->tls != NULL) {
    char why[512];
    err = vtg_tls_write(s->tls, data, len, why, sizeof why);
    free(data);
    if (err) {
      VTG_WARN("%s: %s; closing", who(s, b, sizeof b), why);
      session_close(s);
      return err;
    }
    if ((err = vtg_tls_take_output(s->tls, &data, &len)) != 0) {
      session_close(s);
      return err;
    }
  }
  return write_raw(s, data, len);
}

/* Queues len bytes for the socket, taking data (freed once written). On
 * failure the session is closed. */
static int write_raw(vtg_session_t *s, uint8_t *data, size_t len) {
  char b[160];
  int err;
  if (len == 0) {
    free(data);
    return 0;
  }
  if (s->write_pending + len > s->write_cap) {
    VTG_WARN("%s: %zu bytes not yet written (limit %zu): the peer is not reading; closing",
             who(s, b, sizeof b), s->write_pending, s->write_cap);
    free(data);
    session_close(s);
    return VTG_ELIMIT;
  }
  wreq_t *w = malloc(sizeof *w);
  if (w == NULL) {
    free(data);
    session_close(s);
    return VTG_ENOMEM;
  }
  w->s = s;
  w->data = data;
  w->len = len;
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
  err = uv_write(&w->req, (uv_stream_t *)&s->tcp, &buf, 1, on_write);
  if (err) {
    /* The callback never runs when uv_write fails. */
    free(data);
    free(w);
    VTG_INFO("%s: write failed: %s", who(s, b, sizeof b), uv_strerror(err));
    session_close(s);
    return err;
  }
  s->write_pending += len;
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  vtg_session_t *s = container_of(req, vtg_session_t, shutdown_req);
  (void)status;
  session_close(s);
}

/* Refuses the peer: logs why (with its address), sends Error{code, reason},
 * stops reading and closes once the Error is written (or after
 * DRAIN_TIMEOUT_US). code is one of our negative codes; the wire carries
 * its absolute value. */
static void session_fail(vtg_session_t *s, int code, const char *fmt, ...) {
  char reason[512], b[160];
  va_list ap;
  if (s->state == S_CLOSED || s->state == S_DRAIN) return;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  VTG_WARN("%s: %s; closing the connection", who(s, b, sizeof b), reason);

  Vantage__Error e = VANTAGE__ERROR__INIT;
  e.code = (uint32_t)(code < 0 ? -code : code);
  e.reason = reason;
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_ERROR;
  env.error = &e;
  if (session_send(s, &env) != 0) return; /* closed already */

  session_detach(s, reason);
  s->state = S_DRAIN;
  uv_read_stop((uv_stream_t *)&s->tcp);
  /* shutdown completes after the queued writes, the Error included. */
  if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
    session_close(s);
    return;
  }
  s->drain_deadline_us = vtg_clock_mono_us() + DRAIN_TIMEOUT_US;
  session_arm(s);
}

/* The session carries an agent that gets CheckSets. */
static int session_live(const vtg_session_t *s) {
  return s->state == S_READY && s->agent != NULL && s->agent->session == s;
}

/* Recomputes every live session's plan: per check, the interval its agents
 * run it at now (vtg_burst_interval_us) and each agent's phase from the
 * fleet-wide interleaving over the live agents of the check (phase.h).
 * Costs O(checks x agents log agents). Returns 0 or VTG_ENOMEM (logged;
 * plans that were not recomputed keep what they had). */
static int plan_all(vtg_server_t *srv) {
  vtg_coord_t *c = srv->coord;
  const vtg_coord_config_t *cfg = &c->cfg;
  size_t m = 0, k;
  int err = VTG_ENOMEM;
  for (vtg_session_t *s = srv->sessions; s; s = s->next) m += session_live(s);
  vtg_session_t **sess = calloc(m ? m : 1, sizeof *sess);
  vtg_phase_agent_t *pa = calloc(m ? m : 1, sizeof *pa);
  size_t *who = calloc(m ? m : 1, sizeof *who);
  if (sess == NULL || pa == NULL || who == NULL) goto out;
  m = 0;
  for (vtg_session_t *s = srv->sessions; s; s = s->next) {
    if (!session_live(s)) continue;
    if (s->n_plan != cfg->n_checks) {
      size_t n = cfg->n_checks ? cfg->n_checks : 1;
      uint32_t *ph = realloc(s->plan_phase_ms, n * sizeof *ph);
      if (ph != NULL) s->plan_phase_ms = ph;
      uint32_t *iv = ph ? realloc(s->plan_interval_ms, n * sizeof *iv) : NULL;
      if (iv != NULL) s->plan_interval_ms = iv;
      if (ph == NULL || iv == NULL) {
        s->n_plan = 0;
        goto out;
      }
      s->n_plan = cfg->n_checks;
    }
    sess[m++] = s;
  }
  for (size_t i = 0; i < cfg->n_checks; i++) {
    const vtg_check_cfg_t *ch = &cfg->checks[i];
    uint32_t iv = (uint32_t)(vtg_burst_interval_us(c, i) / 1000);
    for (size_t j = k = 0; j < m; j++) {
      sess[j]->plan_interval_ms[i] = 0;
      if (!vtg_config_check_applies(ch, sess[j]->agent->region)) continue;
      pa[k] = (vtg_phase_agent_t){.id = sess[j]->agent->id, .region = sess[j]->agent->region};
      who[k++] = j;
    }
    if ((err = vtg_phase_assign(ch->name, iv, pa, k)) != 0) goto out;
    for (size_t q = 0; q < k; q++) {
      sess[who[q]]->plan_phase_ms[i] = pa[q].phase_ms;
      sess[who[q]]->plan_interval_ms[i] = iv;
    }
  }
  err = 0;
out:
  if (err) VTG_ERROR("cannot compute the agents' phases: %s", vtg_strerror(err));
  free(sess);
  free(pa);
  free(who);
  return err;
}

/* The phase and interval of config check i for session s: its plan, or
 * (no plan: out of memory) the check's own base phase and interval. */
static void plan_get(const vtg_session_t *s, size_t i, uint32_t *phase_ms, uint32_t *interval_ms) {
  const vtg_check_cfg_t *ch = &s->server->coord->cfg.checks[i];
  if (i < s->n_plan && s->plan_interval_ms[i] > 0) {
    *phase_ms = s->plan_phase_ms[i];
    *interval_ms = s->plan_interval_ms[i];
    return;
  }
  *interval_ms = (uint32_t)(ch->interval_us / 1000);
  *phase_ms = vtg_phase_base(ch->name, *interval_ms);
}

static void sig_mix(uint64_t *h, uint64_t v) {
  for (int i = 0; i < 8; i++, v >>= 8) {
    *h ^= v & 0xff;
    *h *= 1099511628211ULL;
  }
}

/* What the agent's schedule depends on, for "has it changed": the checks
 * it gets with their interval and phase (FNV-1a). */
static uint64_t checkset_sig(const vtg_session_t *s) {
  const vtg_coord_t *c = s->server->coord;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < c->cfg.n_checks; i++) {
    if (!vtg_config_check_applies(&c->cfg.checks[i], s->agent->region)) continue;
    uint32_t ph, iv;
    plan_get(s, i, &ph, &iv);
    sig_mix(&h, c->check_ids[i]);
    sig_mix(&h, ((uint64_t)iv << 32) | ph);
  }
  return h;
}

/* protobuf-c wants char * and "" for an absent string. */
static char *str_or_empty(char *s) {
  static char empty[1];
  return s != NULL ? s : empty;
}

/* Sends the checks of the agent's region, each with its phase and
 * interval from the session's plan. With only_if_changed, a session whose
 * last CheckSet had the same checks, intervals and phases gets nothing
 * (returns 1 then). Returns 0 when sent, or an error (session closed). */
static int send_checkset(vtg_session_t *s, int only_if_changed) {
  vtg_coord_t *c = s->server->coord;
  vtg_agent_t *a = s->agent;
  const vtg_coord_config_t *cfg = &c->cfg;
  size_t n = 0, n_ranges = 0;
  int err = VTG_ENOMEM;
  uint64_t sig = checkset_sig(s);
  if (only_if_changed && s->sent && s->sent_sig == sig) return 1;
  for (size_t i = 0; i < cfg->n_checks; i++) {
    if (!vtg_config_check_applies(&cfg->checks[i], a->region)) continue;
    n++;
    n_ranges += cfg->checks[i].n_accept;
  }
  Vantage__Check *checks = calloc(n ? n : 1, sizeof *checks);
  Vantage__Check **cptr = calloc(n ? n : 1, sizeof *cptr);
  Vantage__StatusRange *ranges = calloc(n_ranges ? n_ranges : 1, sizeof *ranges);
  Vantage__StatusRange **rptr = calloc(n_ranges ? n_ranges : 1, sizeof *rptr);
  if (!checks || !cptr || !ranges || !rptr) goto out;
  size_t k = 0, r = 0;
  for (size_t i = 0; i < cfg->n_checks; i++) {
    const vtg_check_cfg_t *ch = &cfg->checks[i];
    if (!vtg_config_check_applies(ch, a->region)) continue;
    Vantage__Check *m = &checks[k];
    vantage__check__init(m);
    m->id = c->check_ids[i];
    /* protobuf-c wants char *; packing only reads them. */
    m->name = ch->name;
    m->service = ch->service;
    m->kind = ch->kind;
    m->url = ch->url;
    m->method = ch->method;
    plan_get(s, i, &m->phase_ms, &m->interval_ms);
    m->timeout_ms = (uint32_t)(ch->timeout_us / 1000);
    m->max_latency_ms = (uint32_t)(ch->max_latency_us / 1000);
    /* Type-specific fields point into the config, which outlives the send. */
    m->type = (Vantage__CheckType)ch->type;
    m->headers = ch->headers;
    m->n_headers = ch->n_headers;
    m->body = str_or_empty(ch->body);
    m->follow_redirects = ch->follow_redirects != 0;
    m->body_regex = str_or_empty(ch->body_regex);
    m->target = str_or_empty(ch->target);
    m->dns_name = str_or_empty(ch->dns_name);
    m->dns_record = (Vantage__DnsRecord)ch->dns_record;
    m->dns_expect = ch->dns_expect;
    m->n_dns_expect = ch->n_dns_expect;
    m->dns_resolver = str_or_empty(ch->dns_resolver);
    m->min_days_left = ch->min_days_left;
    m->ip_version = (uint32_t)ch->ip_version;
    m->every_address = ch->every_address != 0;
    m->accept = &rptr[r];
    m->n_accept = ch->n_accept;
    for (size_t j = 0; j < ch->n_accept; j++, r++) {
      vantage__status_range__init(&ranges[r]);
      ranges[r].lo = ch->accept[j].lo;
      ranges[r].hi = ch->accept[j].hi;
      rptr[r] = &ranges[r];
    }
    cptr[k] = m;
    k++;
  }
  Vantage__CheckSet cs = VANTAGE__CHECK_SET__INIT;
  cs.version = c->checkset_version;
  cs.n_checks = k;
  cs.checks = cptr;
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_CHECK_SET;
  env.check_set = &cs;
  err = session_send(s, &env);
  if (err == 0) {
    s->sent = 1;
    s->sent_sig = sig;
    a->checks_pushed = (uint32_t)k;
    VTG_DEBUG("agent %s: CheckSet version %" PRIu64 " with %zu checks", a->id, c->checkset_version,
              k);
  }
out:
  free(checks);
  free(cptr);
  free(ranges);
  free(rptr);
  return err;
}

/* Sends a heartbeat: ours (echo_us 0), whose answer is a clock sample, or
 * the answer to the agent's (echo_us its sent_us). */
static int send_heartbeat(vtg_session_t *s, int64_t echo_us) {
  Vantage__Heartbeat hb = VANTAGE__HEARTBEAT__INIT;
  hb.sent_us = vtg_clock_wall_us();
  hb.echo_us = echo_us;
  if (echo_us == 0) s->hb_sent_us = hb.sent_us;
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_HEARTBEAT;
  env.heartbeat = &hb;
  return session_send(s, &env);
}

/* A printable identifier of bounded length: ids and regions go into logs,
 * JSON and the store. */
static int ident_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '"' ||
        s[i] == '\\')
      return 0;
  return 1;
}

static int set_str(char **dst, const char *src) {
  size_t n = strlen(src) + 1;
  char *p = malloc(n);
  if (p == NULL) return VTG_ENOMEM;
  memcpy(p, src, n);
  free(*dst);
  *dst = p;
  return 0;
}

/* Finds or adds agent id and gives it its place: the registry's when it
 * has an entry (it wins over what the agent says), else the Hello's. */
static int apply_place(vtg_coord_t *c, const char *id, const vtg_registry_entry_t *reg,
                       const Vantage__Hello *h, vtg_agent_t **out) {
  vtg_agent_t *a;
  int err = vtg_coord_agent_get(c, id, reg ? reg->region : h->region, &a);
  if (err) return err;
  if ((err = set_str(&a->country, reg ? reg->country : (h->country ? h->country : ""))))
    return err;
  a->lat = reg ? reg->lat : h->lat;
  a->lon = reg ? reg->lon : h->lon;
  *out = a;
  return 0;
}

static void handle_hello(vtg_session_t *s, const Vantage__Hello *h) {
  vtg_coord_t *c = s->server->coord;
  const char *id = h->agent_id ? h->agent_id : "";
  const char *region = h->region ? h->region : "";
  int err;

  if (h->protocol_version != VTG_PROTOCOL_VERSION) {
    session_fail(s, VTG_EVERSION,
                 "protocol version %" PRIu32 " not supported: this coordinator speaks version %d",
                 h->protocol_version, VTG_PROTOCOL_VERSION);
    return;
  }
  if (id[0] == '\0') {
    session_fail(s, VTG_EPROTO, "Hello with an empty agent id");
    return;
  }
  if (!ident_ok(id, AGENT_ID_MAX)) {
    session_fail(s, VTG_EPROTO,
                 "agent id must be 1-%d printable characters without spaces or quotes",
                 AGENT_ID_MAX);
    return;
  }
  /* Under TLS the certificate says who the agent is; the Hello must agree. */
  if (s->tls != NULL && strcmp(id, s->cert_id) != 0) {
    session_fail(s, VTG_EPROTO,
                 "Hello claims agent id '%s' but the client certificate is for '%s'", id,
                 s->cert_id);
    return;
  }
  const vtg_registry_entry_t *reg = NULL;
  if (c->cfg.has_registry) {
    reg = vtg_config_registry_find(&c->cfg, id);
    if (reg == NULL) {
      session_fail(s, VTG_EUNKNOWN_AGENT, "unknown agent '%s'", id);
      return;
    }
  } else if (!ident_ok(region, AGENT_ID_MAX)) {
    session_fail(s, VTG_EPROTO, "agent '%s' sent no valid region (1-%d printable characters)", id,
                 AGENT_ID_MAX);
    return;
  }

  vtg_agent_t *a = vtg_coord_agent_find(c, id);
  if (a && a->session) {
    vtg_session_t *old = a->session;
    VTG_INFO("agent %s connected again from %s; closing its older connection from %s", id,
             s->peer, old->peer);
    session_fail(old, VTG_EPROTO, "replaced by a newer connection of agent '%s' from %s", id,
                 s->peer);
    /* Make sure the old session lets go even if the Error could not be sent. */
    session_detach(old, "replaced by a newer connection");
  }
  if ((err = apply_place(c, id, reg, h, &a))) {
    session_fail(s, err, "cannot accept agent '%s': %s", id, vtg_strerror(err));
    return;
  }
  char version[VERSION_MAX + 1];
  snprintf(version, sizeof version, "%s", h->software_version ? h->software_version : "");
  if ((err = set_str(&a->version, version)) || (err = set_str(&a->address, s->peer))) {
    session_fail(s, err, "cannot accept agent '%s': %s", id, vtg_strerror(err));
    return;
  }
  int64_t now = vtg_clock_wall_us();
  a->connected = 1;
  a->connected_since_us = now;
  a->last_seen_us = now;
  a->session = s;
  s->agent = a;
  s->state = S_READY;
  /* Round trips of an earlier session may describe another clock (the
   * agent restarted); the offset in effect stays until the first new one. */
  vtg_clocksync_reset(&a->clock);
  vtg_ingest_session_start(c, a, h->spool_epoch);
  err = vtg_store_agent_upsert(c->store, a->id, a->region, a->country, a->lat, a->lon,
                               a->version, a->address, a->last_seen_us);
  if (err) VTG_WARN("agent %s: could not store its state: %s", a->id, vtg_strerror(err));

  Vantage__Welcome w = VANTAGE__WELCOME__INIT;
  w.protocol_version = VTG_PROTOCOL_VERSION;
  w.coordinator_version = (char *)VTG_VERSION;
  /* Only what is on disk: results still in the log's pending group come
   * again and are dropped as duplicates, then acknowledged. */
  w.acked_seq = a->durable_seq;
  w.heartbeat_ms = (uint32_t)(s->heartbeat_us / 1000);
  w.idle_timeout_ms = (uint32_t)(s->idle_us / 1000);
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_WELCOME;
  env.welcome = &w;
  if (session_send(s, &env) != 0) return;
  /* Its CheckSet at once, with phases that count it; the others move over
   * to make room after the debounce. */
  plan_all(s->server);
  if (send_checkset(s, 0) != 0) return;
  vtg_server_fleet_changed(s->server);
  /* A heartbeat at once, so the agent's clock offset is known within one
   * round trip instead of one heartbeat interval. */
  if (send_heartbeat(s, 0) != 0) return;
  VTG_INFO("agent %s connected from %s (region %s, version %s, epoch %016" PRIx64
           ", acked %" PRIu64 ", %" PRIu32 " checks)",
           a->id, s->peer, a->region, a->version[0] ? a->version : "?", a->epoch, a->durable_seq,
           a->checks_pushed);
  s->next_hb_us = vtg_clock_mono_us() + s->heartbeat_us;
  session_arm(s);
}

static void send_ack(vtg_session_t *s) {
  Vantage__Ack ack = VANTAGE__ACK__INIT;
  ack.spool_epoch = s->agent->epoch;
  ack.seq = s->agent->durable_seq;
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_ACK;
  env.ack = &ack;
  session_send(s, &env);
}

static void dispatch(vtg_session_t *s, const Vantage__Envelope *env) {
  vtg_coord_t *c = s->server->coord;
  char b[160];
  if (s->state == S_HELLO) {
    if (env->msg_case == VANTAGE__ENVELOPE__MSG_HELLO)
      handle_hello(s, env->hello);
    else if (env->msg_case == VANTAGE__ENVELOPE__MSG_ERROR)
      goto peer_error;
    else
      session_fail(s, VTG_EPROTO, "expected Hello as the first message, got %s",
                   msg_name(env->msg_case));
    return;
  }
  switch (env->msg_case) {
  case VANTAGE__ENVELOPE__MSG_RESULT_BATCH: {
    /* The Ack follows from the ingest once the batch is durable. */
    int err = vtg_ingest_batch(c, s->agent, env->result_batch);
    if (err == VTG_EPROTO) {
      session_fail(s, VTG_EPROTO, "malformed ResultBatch: %zu results with first_seq %" PRIu64,
                   env->result_batch->n_results, env->result_batch->first_seq);
      return;
    }
    if (err != 0)
      session_fail(s, err, "the result log cannot take more results now (%s); send them again "
                   "later", vtg_strerror(err));
    return;
  }
  case VANTAGE__ENVELOPE__MSG_DROPPED:
    if (vtg_ingest_dropped(c, s->agent, env->dropped) != 0) {
      session_fail(s, VTG_EPROTO, "malformed Dropped: range %" PRIu64 "..%" PRIu64,
                   env->dropped->first_seq, env->dropped->last_seq);
      return;
    }
    return;
  case VANTAGE__ENVELOPE__MSG_HEARTBEAT:
    /* A heartbeat with echo_us set answers one of ours (its round trip is
     * a clock sample for the agent's offset) and is never answered: two peers
     * that answer answers bounce heartbeats forever. */
    s->peer_hb_sent_us = env->heartbeat->sent_us;
    if (env->heartbeat->echo_us == 0) {
      send_heartbeat(s, env->heartbeat->sent_us);
    } else if (env->heartbeat->echo_us == s->hb_sent_us) {
      /* Only the answer to our latest heartbeat, and only once: an echo
       * we never sent would be a made-up round trip. */
      s->hb_sent_us = 0;
      vtg_ingest_clock_sample(c, s->agent, env->heartbeat->echo_us, env->heartbeat->sent_us,
                              vtg_clock_wall_us());
    }
    return;
  case VANTAGE__ENVELOPE__MSG_ERROR:
    goto peer_error;
  default:
    session_fail(s, VTG_EPROTO, "unexpected %s from an agent", msg_name(env->msg_case));
    return;
  }
peer_error:
  VTG_WARN("%s reported an error (code %" PRIu32 "): %s; closing", who(s, b, sizeof b),
           env->error->code, env->error->reason ? env->error->reason : "");
  session_close(s);
}

/* Frame callback: one complete payload. A non-zero return stops the
 * reader (the session is draining or closed). */
static int on_frame(void *ctx, const uint8_t *payload, size_t len) {
  vtg_session_t *s = ctx;
  Vantage__Envelope *env = NULL;
  vtg_arena_reset(&s->arena);
  if (vtg_wire_decode(&s->arena, payload, len, &env) != 0) {
    session_fail(s, VTG_EDECODE, "undecodable frame of %zu bytes", len);
    return 1;
  }
  dispatch(s, env);
  /* A huge batch leaves big arena chunks behind; give them back rather
   * than keep the peak per session. */
  if (s->arena.used_total > ARENA_KEEP) {
    size_t limit = s->arena.limit;
    vtg_arena_free(&s->arena);
    vtg_arena_init(&s->arena, limit);
  }
  return (s->state == S_HELLO || s->state == S_READY) ? 0 : 1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  vtg_session_t *s = h->data;
  (void)suggested;
  buf->base = (char *)s->server->rbuf;
  buf->len = sizeof s->server->rbuf;
}

/* Sends what OpenSSL produced (handshake records, alerts). */
static int tls_flush(vtg_session_t *s) {
  uint8_t *out = NULL;
  size_t len = 0;
  int err = vtg_tls_take_output(s->tls, &out, &len);
  if (err) {
    session_close(s);
    return err;
  }
  return write_raw(s, out, len);
}

/* A failed handshake or a broken TLS stream: log it with the address, let
 * OpenSSL's alert leave, then close (no Error frame: there is no channel
 * for one). */
static void tls_abort(vtg_session_t *s, const char *why) {
  char b[160];
  VTG_WARN("%s: %s; closing the connection", who(s, b, sizeof b), why);
  session_detach(s, why);
  if (tls_flush(s) != 0 || s->state == S_CLOSED) return;
  s->state = S_DRAIN;
  uv_read_stop((uv_stream_t *)&s->tcp);
  if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
    session_close(s);
    return;
  }
  s->drain_deadline_us = vtg_clock_mono_us() + DRAIN_TIMEOUT_US;
  session_arm(s);
}

/* Decrypts n bytes from the socket and feeds the plaintext to the frame
 * reader. Returns what the frame reader returned, or 1 when the session was
 * closed or aborted here. */
static int tls_feed(vtg_session_t *s, const uint8_t *in, size_t n, uint32_t *bad_len) {
  char why[600];
  int was_done = vtg_tls_handshake_done(s->tls);
  if (vtg_tls_put(s->tls, in, n) != 0) {
    session_close(s);
    return 1;
  }
  for (;;) {
    size_t got = 0;
    int err = vtg_tls_read(s->tls, s->server->pbuf, sizeof s->server->pbuf, &got, why,
                           sizeof why);
    if (err == UV_EOF) { /* close_notify: the peer is done, like a TCP EOF */
      char b[160];
      VTG_DEBUG("%s closed the TLS connection", who(s, b, sizeof b));
      session_close(s);
      return 1;
    }
    if (err) {
      tls_abort(s, why);
      return 1;
    }
    if (!was_done && vtg_tls_handshake_done(s->tls)) {
      was_done = 1;
      int rc = vtg_tls_peer_cn(s->tls, s->cert_id, sizeof s->cert_id);
      if (rc != 0 || !ident_ok(s->cert_id, AGENT_ID_MAX)) {
        tls_abort(s, "the client certificate has no usable CN (the agent id)");
        return 1;
      }
      VTG_DEBUG("connection from %s: %s, client certificate for '%s'", s->peer,
                vtg_tls_version(s->tls), s->cert_id);
    }
    if (got == 0) break;
    int rc = vtg_frame_reader_feed(&s->reader, s->server->pbuf, got, on_frame, s, bad_len);
    if (rc != 0) return rc;
    if (s->state != S_HELLO && s->state != S_READY) return 1;
  }
  if (tls_flush(s) != 0) return 1;
  return 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  vtg_session_t *s = st->data;
  char b[160];
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && s->state == S_READY && s->agent &&
        s->agent->durable_seq < s->agent->acked_seq) {
      /* A stopping agent shuts its side and waits for the Acks of its
       * last batches; they follow once the result log has them. */
      s->peer_eof = 1;
      uv_read_stop(st);
      return;
    }
    if (n == UV_EOF)
      VTG_DEBUG("%s closed the connection", who(s, b, sizeof b));
    else
      VTG_INFO("%s: read error: %s", who(s, b, sizeof b), uv_strerror((int)n));
    session_close(s);
    return;
  }
  if (s->state != S_HELLO && s->state != S_READY) return;
  s->last_rx_us = vtg_clock_mono_us();
  if (s->agent) s->agent->last_seen_us = vtg_clock_wall_us();
  uint32_t bad_len = 0;
  int rc;
  if (s->tls != NULL)
    rc = tls_feed(s, (const uint8_t *)buf->base, (size_t)n, &bad_len);
  else
    rc = vtg_frame_reader_feed(&s->reader, (const uint8_t *)buf->base, (size_t)n, on_frame, s,
                               &bad_len);
  if (rc == 1) return; /* the TLS layer dealt with it */
  if (rc == VTG_EFRAME_TOO_LARGE)
    session_fail(s, VTG_EFRAME_TOO_LARGE, "frame of %" PRIu32 " bytes exceeds the limit of %zu",
                 bad_len, s->max_frame);
  else if (rc < 0) {
    VTG_ERROR("%s: cannot read frames: %s", who(s, b, sizeof b), vtg_strerror(rc));
    session_close(s);
  }
}

static void on_timer(uv_timer_t *t) {
  vtg_session_t *s = container_of(t, vtg_session_t, timer);
  int64_t now = vtg_clock_mono_us();
  char b[160];
  if (s->state == S_CLOSED) return;
  if (s->state == S_DRAIN) {
    if (now >= s->drain_deadline_us) {
      VTG_INFO("%s: the peer did not take the Error in time; closing", who(s, b, sizeof b));
      session_close(s);
      return;
    }
  } else if (now - s->last_rx_us >= s->idle_us) {
    session_fail(s, VTG_ELIMIT, "silent for %" PRId64 " ms (idle timeout %" PRId64 " ms)",
                 (now - s->last_rx_us) / 1000, s->idle_us / 1000);
    return;
  } else if (s->state == S_READY && now >= s->next_hb_us) {
    if (send_heartbeat(s, 0) != 0) return;
    s->next_hb_us = now + s->heartbeat_us;
  }
  session_arm(s);
}

/* Arms the timer for the earliest of: idle deadline, next heartbeat, drain
 * deadline. Reads do not re-arm it; it fires, finds the deadline moved and
 * re-arms, which costs one wake-up per heartbeat per session. */
static void session_arm(vtg_session_t *s) {
  int64_t now = vtg_clock_mono_us(), deadline;
  if (s->state == S_CLOSED) return;
  if (s->state == S_DRAIN) {
    deadline = s->drain_deadline_us;
  } else {
    deadline = s->last_rx_us + s->idle_us;
    if (s->state == S_READY && s->next_hb_us < deadline) deadline = s->next_hb_us;
  }
  int64_t ms = deadline > now ? (deadline - now + 999) / 1000 : 0;
  uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
}

static void on_connection(uv_stream_t *l, int status) {
  vtg_server_t *srv = container_of((uv_tcp_t *)l, vtg_server_t, listener);
  vtg_coord_t *c = srv->coord;
  if (status < 0) {
    VTG_WARN("agent listener: %s", uv_strerror(status));
    return;
  }
  vtg_session_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    VTG_ERROR("agent listener: out of memory for a new connection");
    return;
  }
  s->server = srv;
  s->state = S_HELLO;
  s->max_frame = c->cfg.max_frame ? c->cfg.max_frame : VTG_FRAME_DEFAULT_MAX;
  /* Room for a few full frames queued; a peer that lets more pile up is
   * not reading. */
  s->write_cap = 4 * s->max_frame + 64 * 1024;
  s->idle_us = c->cfg.idle_timeout_us;
  s->heartbeat_us = c->cfg.heartbeat_us;
  vtg_frame_reader_init(&s->reader, s->max_frame);
  /* Decoded protobuf structs are larger than their wire form; 16x a full
   * frame covers the densest batch of tiny results. */
  vtg_arena_init(&s->arena, 16 * s->max_frame + 64 * 1024);
  snprintf(s->peer, sizeof s->peer, "?");
  s->next = srv->sessions;
  if (srv->sessions) srv->sessions->prev = s;
  srv->sessions = s;
  srv->n_sessions++;

  uv_tcp_init(c->loop, &s->tcp);
  s->tcp.data = s;
  s->handles++;
  uv_timer_init(c->loop, &s->timer);
  s->timer.data = s;
  s->handles++;
  int err = uv_accept(l, (uv_stream_t *)&s->tcp);
  if (err) {
    VTG_WARN("agent listener: accept failed: %s", uv_strerror(err));
    session_close(s);
    return;
  }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &sl) == 0)
    format_addr(&ss, s->peer, sizeof s->peer);
  if (srv->stopping) {
    session_close(s);
    return;
  }
  if (srv->n_sessions > SERVER_MAX_SESSIONS) {
    VTG_WARN("refusing connection from %s: %zu connections open (limit %d)", s->peer,
             srv->n_sessions - 1, SERVER_MAX_SESSIONS);
    session_close(s);
    return;
  }
  if (srv->tls_ctx != NULL && (err = vtg_tls_new(srv->tls_ctx, 1, NULL, &s->tls)) != 0) {
    VTG_WARN("connection from %s: cannot set up TLS: %s", s->peer, vtg_strerror(err));
    session_close(s);
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  s->last_rx_us = vtg_clock_mono_us();
  if ((err = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read)) != 0) {
    VTG_WARN("connection from %s: cannot read: %s", s->peer, uv_strerror(err));
    session_close(s);
    return;
  }
  VTG_DEBUG("connection from %s", s->peer);
  session_arm(s);
}

static void on_rephase_close(uv_handle_t *h) {
  vtg_server_t *srv = container_of((uv_timer_t *)h, vtg_server_t, rephase_timer);
  srv->rephase_open = 0;
  server_maybe_free(srv);
}

static void on_listener_close(uv_handle_t *h) {
  vtg_server_t *srv = container_of((uv_tcp_t *)h, vtg_server_t, listener);
  srv->listener_open = 0;
  server_maybe_free(srv);
}

int vtg_server_start(vtg_coord_t *c, const char *listen, vtg_server_t **out) {
  struct sockaddr_storage ss;
  int err = vtg_config_parse_addr(listen, &ss);
  if (err) {
    VTG_ERROR("agent listener: bad address '%s'", listen);
    return err;
  }
  vtg_server_t *srv = calloc(1, sizeof *srv);
  if (srv == NULL) return VTG_ENOMEM;
  srv->coord = c;
  if (c->cfg.tls.mode == VTG_TLS_ON) {
    char why[1024];
    const vtg_tls_conf_t *t = &c->cfg.tls;
    if ((err = vtg_tls_ctx_new(1, t->cert, t->key, t->ca, &srv->tls_ctx, why, sizeof why))) {
      VTG_ERROR("agent listener: %s", why);
      free(srv);
      return err;
    }
  } else {
    VTG_WARN("agents connect without TLS (plaintext: true): anyone who reaches %s can claim any "
             "agent id", listen);
  }
  uv_tcp_init(c->loop, &srv->listener);
  srv->listener.data = srv;
  srv->listener_open = 1;
  if ((err = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0)) != 0 ||
      (err = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection)) != 0) {
    VTG_ERROR("agent listener: cannot listen on %s: %s", listen, uv_strerror(err));
    /* Freed by the close callback once the caller runs the loop. */
    srv->stopping = 1;
    uv_close((uv_handle_t *)&srv->listener, on_listener_close);
    return err;
  }
  int sl = sizeof ss;
  if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &sl) == 0)
    format_addr(&ss, srv->addr, sizeof srv->addr);
  if ((srv->burst = vtg_burst_new()) == NULL ||
      (err = uv_timer_init(c->loop, &srv->rephase_timer)) != 0) {
    VTG_ERROR("agent listener: %s", srv->burst ? uv_strerror(err) : "out of memory");
    srv->stopping = 1;
    uv_close((uv_handle_t *)&srv->listener, on_listener_close);
    return srv->burst ? err : VTG_ENOMEM;
  }
  srv->rephase_open = 1;
  VTG_INFO("agents listening on %s%s", srv->addr, srv->tls_ctx ? " (mutual TLS)" : "");
  *out = srv;
  return 0;
}

void vtg_server_push_checksets(vtg_server_t *srv) {
  vtg_coord_t *c = srv->coord;
  for (vtg_session_t *s = srv->sessions; s; s = s->next) {
    if (s->state != S_READY || s->agent == NULL) continue;
    vtg_agent_t *a = s->agent;
    if (c->cfg.has_registry) {
      const vtg_registry_entry_t *reg = vtg_config_registry_find(&c->cfg, a->id);
      if (reg == NULL) {
        session_fail(s, VTG_EUNKNOWN_AGENT, "unknown agent '%s' (removed from the registry)",
                     a->id);
        continue;
      }
      Vantage__Hello none = VANTAGE__HELLO__INIT;
      int err = apply_place(c, a->id, reg, &none, &a);
      if (err) {
        session_fail(s, err, "cannot update agent '%s': %s", a->id, vtg_strerror(err));
        continue;
      }
    }
  }
  /* A reload: a new version for everyone, phases over the new set. */
  plan_all(srv);
  for (vtg_session_t *s = srv->sessions; s; s = s->next)
    if (session_live(s)) send_checkset(s, 0);
}

static void on_rephase_timer(uv_timer_t *t) {
  vtg_server_t *srv = container_of(t, vtg_server_t, rephase_timer);
  size_t changed = 0, live = 0;
  if (srv->stopping || plan_all(srv) != 0) return;
  for (vtg_session_t *s = srv->sessions; s; s = s->next) {
    if (!session_live(s)) continue;
    live++;
    changed += !s->sent || s->sent_sig != checkset_sig(s);
  }
  if (changed == 0) return;
  /* A changed set is a new version, so an agent can tell it from the one
   * it has. */
  srv->coord->checkset_version++;
  for (vtg_session_t *s = srv->sessions; s; s = s->next)
    if (session_live(s)) send_checkset(s, 1);
  VTG_INFO("fleet changed: new phases or intervals for %zu of %zu agents (CheckSet version %" PRIu64
           ")",
           changed, live, srv->coord->checkset_version);
}

void vtg_server_fleet_changed(vtg_server_t *srv) {
  if (srv == NULL || srv->stopping || !srv->rephase_open) return;
  /* Already pending: the change joins it (a debounce, not a deadline
   * that keeps moving). */
  if (uv_is_active((uv_handle_t *)&srv->rephase_timer)) return;
  uv_timer_start(&srv->rephase_timer, on_rephase_timer, REPHASE_DEBOUNCE_MS, 0);
}

vtg_burst_t *vtg_server_burst(vtg_server_t *srv) {
  return srv ? srv->burst : NULL;
}

int vtg_server_probe_now(vtg_agent_t *a, const uint32_t *check_ids, size_t n) {
  vtg_session_t *s = a->session;
  if (s == NULL || !session_live(s)) return UV_ENOTCONN;
  Vantage__ProbeNow pn = VANTAGE__PROBE_NOW__INIT;
  pn.check_ids = (uint32_t *)check_ids; /* packing only reads it */
  pn.n_check_ids = n;
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  env.msg_case = VANTAGE__ENVELOPE__MSG_PROBE_NOW;
  env.probe_now = &pn;
  return session_send(s, &env);
}

int vtg_server_next_probe_us(const vtg_agent_t *a, uint32_t check_id, int64_t now_us,
                             int64_t *until_us) {
  const vtg_session_t *s = a->session;
  if (s == NULL || !session_live(s) || !s->sent) return UV_ENOTCONN;
  int i = vtg_coord_check_index(s->server->coord, check_id);
  if (i < 0 || (size_t)i >= s->n_plan || s->plan_interval_ms[i] == 0) return UV_ENOENT;
  *until_us = (int64_t)vtg_phase_until_next(now_us / 1000, s->plan_interval_ms[i],
                                            s->plan_phase_ms[i]) * 1000;
  return 0;
}

void vtg_server_ack(vtg_agent_t *a) {
  vtg_session_t *s = a->session;
  if (s == NULL || s->state != S_READY || s->agent != a) return;
  send_ack(s);
  if (!s->peer_eof || a->durable_seq < a->acked_seq || s->state != S_READY) return;
  /* Everything it sent is acknowledged: close once the Ack is written. */
  session_detach(s, "closed by the agent");
  s->state = S_DRAIN;
  if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
    session_close(s);
    return;
  }
  s->drain_deadline_us = vtg_clock_mono_us() + DRAIN_TIMEOUT_US;
  session_arm(s);
}

void vtg_server_stop(vtg_server_t *srv) {
  if (srv == NULL || srv->stopping) return;
  srv->stopping = 1;
  uv_close((uv_handle_t *)&srv->listener, on_listener_close);
  if (srv->rephase_open) uv_close((uv_handle_t *)&srv->rephase_timer, on_rephase_close);
  for (vtg_session_t *s = srv->sessions; s; s = s->next) session_close(s);
  /* Freed by the last close callback. */
}

void vtg_server_reload_tls(vtg_server_t *srv) {
  const vtg_tls_conf_t *t = &srv->coord->cfg.tls;
  char why[1024];
  vtg_tls_ctx_t *ctx = NULL;
  if ((t->mode == VTG_TLS_ON) != (srv->tls_ctx != NULL)) {
    VTG_WARN("reload: switching the agent listener between TLS and plaintext needs a restart");
    return;
  }
  if (srv->tls_ctx == NULL) return;
  if (vtg_tls_ctx_new(1, t->cert, t->key, t->ca, &ctx, why, sizeof why) != 0) {
    VTG_ERROR("reload: keeping the previous TLS certificates: %s", why);
    return;
  }
  /* Live sessions hold their own reference to the old context. */
  vtg_tls_ctx_free(srv->tls_ctx);
  srv->tls_ctx = ctx;
  VTG_INFO("reload: TLS certificates reloaded from %s, %s, %s; new connections use them", t->cert,
           t->key, t->ca);
}
