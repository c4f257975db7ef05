/* The simulator's HTTP side: one listener per service (each its own "host"),
 * one control listener, and the connections. A request is read up to the
 * blank line (16 KiB cap), its Content-Length body drained, then the fault
 * plan decides how it is answered. Every answer ends the connection. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "sim.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define MAX_RESPONSE (1024 * 1024) /* /stats of a large scenario stays below */

typedef enum {
  CONN_READ_HEAD = 0, /* reading the request head */
  CONN_DRAIN,         /* reading and dropping the body */
  CONN_HOLD,          /* a timeout: reading, dropping, never answering */
  CONN_DELAY,         /* a slow answer waits on the timer */
  CONN_WRITE,         /* answer written; shutdown follows */
  CONN_CLOSING,
} conn_state_t;

typedef struct vtg_sim_conn_s {
  uv_tcp_t tcp;            /* data unused: container_of */
  uv_timer_t timer;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  vtg_sim_t *sim;
  struct vtg_sim_conn_s *prev, *next;
  vtg_sim_service_t *svc;  /* NULL on the control listener */
  conn_state_t state;
  int pending_close;       /* handles not yet closed */
  int has_who;
  vtg_sim_agent_ref_t who;
  uint32_t dst;            /* the address the client connected to (IPv4, host order), 0 unknown */
  int head_only;           /* HEAD request: no body in the answer */
  uint64_t body_left;      /* request body bytes still to drain */
  int64_t t_us;            /* scenario time of the request (INT64_MIN: before start) */
  vtg_sim_mode_t mode;     /* the decided effective mode */
  size_t check;            /* routed check */
  int routed;
  char method[16];
  char target[1024];       /* request target, query included */
  vtg_buf_t resp;
  size_t head_len;
  char head[VTG_SIM_MAX_HEADER];
  char drain[4096];
  /* TLS listener connections: OpenSSL over memory BIOs, fed from raw. */
  SSL *ssl;
  BIO *rbio, *wbio;        /* owned by ssl */
  int tls_counted;         /* a TLS-level fault was counted at accept */
  char raw[16384];
} vtg_sim_conn_t;

/* One write of TLS records; freed in its callback. */
typedef struct tls_write_s {
  uv_write_t req;
  vtg_sim_conn_t *c;
  int final;               /* the answer's last bytes: shut down after */
  char data[];
} tls_write_t;

static void conn_close(vtg_sim_conn_t *c, int reset);
static void conn_respond(vtg_sim_conn_t *c, int status, const char *ctype, const char *body,
                         size_t body_len);

static void conn_send(vtg_sim_conn_t *c);
double vtg_sim_random(vtg_sim_t *sim) {
  /* splitmix64: tiny, good enough, and its whole state is one integer. */
  uint64_t z = (sim->prng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 409: return "Conflict";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

static void on_handle_closed(uv_handle_t *h) {
  vtg_sim_conn_t *c;
  if (h->type == UV_TIMER)
    c = container_of((uv_timer_t *)h, vtg_sim_conn_t, timer);
  else
    c = container_of((uv_tcp_t *)h, vtg_sim_conn_t, tcp);
  if (--c->pending_close > 0) return;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    c->sim->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  c->sim->n_conns--;
  vtg_buf_free(&c->resp);
  SSL_free(c->ssl);
  free(c);
}

/* Closes both handles once; reset closes the socket with an RST. Pending
 * write and shutdown requests complete with UV_ECANCELED first. */
static void conn_close(vtg_sim_conn_t *c, int reset) {
  if (c->state == CONN_CLOSING) return;
  c->state = CONN_CLOSING;
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (reset && uv_tcp_close_reset(&c->tcp, on_handle_closed) == 0) return;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  vtg_sim_conn_t *c = container_of(req, vtg_sim_conn_t, sreq);
  (void)status;
  conn_close(c, 0);
}

static void on_written(uv_write_t *req, int status) {
  vtg_sim_conn_t *c = container_of(req, vtg_sim_conn_t, wreq);
  if (c->state == CONN_CLOSING) return;
  if (status < 0 || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    conn_close(c, 0);
}

static void on_tls_written(uv_write_t *req, int status) {
  tls_write_t *w = container_of(req, tls_write_t, req);
  vtg_sim_conn_t *c = w->c;
  int final = w->final;
  free(w);
  if (c->state == CONN_CLOSING) return;
  if (status < 0) {
    conn_close(c, 0);
  } else if (final && uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c, 0);
  }
}

/* Sends what OpenSSL has queued for the peer; final: then shut down. */
static void tls_flush(vtg_sim_conn_t *c, int final) {
  size_t n = BIO_ctrl_pending(c->wbio);
  if (n == 0 && !final) return;
  tls_write_t *w = malloc(sizeof *w + (n ? n : 1));
  if (w == NULL || (n > 0 && BIO_read(c->wbio, w->data, (int)n) != (int)n)) {
    free(w);
    conn_close(c, 0);
    return;
  }
  w->c = c;
  w->final = final;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_tls_written) != 0) {
    free(w);
    conn_close(c, 0);
  }
}

static void conn_respond(vtg_sim_conn_t *c, int status, const char *ctype, const char *body,
                         size_t body_len) {
  int rc;
  vtg_buf_reset(&c->resp);
  rc = vtg_buf_printf(&c->resp,
                      "HTTP/1.1 %d %s\r\nServer: vantage-sim\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, reason(status), ctype, body_len);
  if (rc == 0 && !c->head_only) rc = vtg_buf_append(&c->resp, body, body_len);
  if (rc != 0) {
    VTG_WARN("response too large (%s); closing", vtg_strerror(rc));
    conn_close(c, 0);
    return;
  }
  conn_send(c);
}

/* Writes c->resp out (through TLS when the connection has it), then closes. */
static void conn_send(vtg_sim_conn_t *c) {
  uv_buf_t b;
  c->state = CONN_WRITE;
  if (c->ssl != NULL) {
    /* Into the memory BIO (never short), then close_notify, then out. */
    if (SSL_write(c->ssl, c->resp.data, (int)c->resp.len) != (int)c->resp.len) {
      conn_close(c, 0);
      return;
    }
    (void)SSL_shutdown(c->ssl);
    tls_flush(c, 1);
    return;
  }
  b = uv_buf_init(c->resp.data, (unsigned)c->resp.len);
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) conn_close(c, 0);
}

/* Answers with bytes that are not HTTP at all: another protocol's banner. */
static void respond_garbage(vtg_sim_conn_t *c) {
  vtg_buf_reset(&c->resp);
  if (vtg_buf_appends(&c->resp, "SSH-2.0-vantage-sim\r\n") != 0) {
    conn_close(c, 0);
    return;
  }
  conn_send(c);
}

static void respond_text(vtg_sim_conn_t *c, int status, const char *body) {
  conn_respond(c, status, "text/plain", body, strlen(body));
}

static void on_delay(uv_timer_t *t) {
  vtg_sim_conn_t *c = container_of(t, vtg_sim_conn_t, timer);
  respond_text(c, 200, "ok (slow)\n");
}

/* ---- control listener ---- */

static void control_stats(vtg_sim_conn_t *c) {
  vtg_sim_t *sim = c->sim;
  vtg_buf_t out;
  vtg_json_writer_t w;
  vtg_buf_init(&out, MAX_RESPONSE / 2);
  vtg_json_writer_init(&w, &out, 0);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, "started");
  vtg_json_bool(&w, sim->t0_us != INT64_MIN);
  vtg_json_key(&w, "t0_us");
  if (sim->t0_us == INT64_MIN)
    vtg_json_null(&w);
  else
    vtg_json_int(&w, sim->t0_us);
  vtg_json_key(&w, "unrouted");
  vtg_json_int(&w, (int64_t)sim->unrouted);
  vtg_json_key(&w, "rejected");
  vtg_json_int(&w, (int64_t)sim->rejected);
  vtg_json_key(&w, "checks");
  vtg_json_begin_object(&w);
  for (size_t i = 0; i < sim->sc.n_checks; i++) {
    vtg_json_key(&w, sim->sc.checks[i].name);
    vtg_json_begin_object(&w);
    for (int m = 0; m < VTG_SIM_MODE_COUNT; m++) {
      if (sim->sc.checks[i].count[m] == 0) continue;
      vtg_json_key(&w, vtg_sim_mode_desc((vtg_sim_mode_t)m)->name);
      vtg_json_int(&w, (int64_t)sim->sc.checks[i].count[m]);
    }
    vtg_json_end_object(&w);
  }
  vtg_json_end_object(&w);
  vtg_json_end_object(&w);
  if (vtg_json_finish(&w) != 0)
    respond_text(c, 500, "stats too large\n");
  else
    conn_respond(c, 200, "application/json", out.data, out.len);
  vtg_buf_free(&out);
}

/* GET /start?t0_us=N sets the scenario clock; GET /stats reports counts. */
static void control_request(vtg_sim_conn_t *c) {
  vtg_sim_t *sim = c->sim;
  const char *q = strchr(c->target, '?');
  size_t plen = q != NULL ? (size_t)(q - c->target) : strlen(c->target);
  if (plen == 6 && memcmp(c->target, "/start", 6) == 0) {
    const char *v = q != NULL ? strstr(q, "t0_us=") : NULL;
    char *end = NULL;
    long long t0;
    if (v == NULL) {
      respond_text(c, 400, "missing t0_us\n");
      return;
    }
    v += 6;
    t0 = strtoll(v, &end, 10);
    if (end == v || (*end != '\0' && *end != '&') || t0 <= 0) {
      respond_text(c, 400, "bad t0_us\n");
      return;
    }
    if (sim->t0_us != INT64_MIN) VTG_WARN("clock restarted");
    sim->t0_us = t0;
    VTG_INFO("scenario clock started: t0_us=%lld (now t=%.3fs)", t0,
             (double)(vtg_clock_wall_us() - t0) / 1e6);
    respond_text(c, 200, "started\n");
  } else if (plen == 6 && memcmp(c->target, "/stats", 6) == 0) {
    control_stats(c);
  } else {
    respond_text(c, 404, "not found\n");
  }
}

/* ---- service listeners ---- */

/* Routes the request, lets the fault plan decide and acts on it. */
static void service_request(vtg_sim_conn_t *c) {
  vtg_sim_t *sim = c->sim;
  const vtg_sim_fault_t *f = NULL;
  const vtg_sim_mode_desc_t *d;
  size_t plen = strcspn(c->target, "?");
  int64_t delay_ms = 0;

  c->routed = 0;
  for (size_t i = 0; i < c->svc->n_endpoints; i++) {
    const vtg_sim_endpoint_t *e = &c->svc->endpoints[i];
    if (e->path != NULL && strlen(e->path) == plen && memcmp(e->path, c->target, plen) == 0) {
      c->check = e->check;
      c->routed = 1;
      break;
    }
  }
  if (!c->routed) {
    sim->unrouted++;
    VTG_DEBUG("%s: no endpoint %s", c->svc->name, c->target);
    respond_text(c, 404, "no such endpoint\n");
    return;
  }
  c->mode = VTG_SIM_MODE_OK;
  if (c->t_us != INT64_MIN)
    f = vtg_sim_fault_find_at(&sim->sc, c->check, c->has_who ? &c->who : NULL, c->dst, c->t_us);
  if (f != NULL) {
    c->mode = f->mode;
    delay_ms = f->delay_ms;
    if (vtg_sim_mode_desc(f->mode)->action == VTG_SIM_ACT_RANDOM)
      c->mode = vtg_sim_random(sim) < f->rate ? f->as : VTG_SIM_MODE_OK;
    vtg_sim_action_t a = vtg_sim_mode_desc(c->mode)->action;
    if (a == VTG_SIM_ACT_REFUSE || a == VTG_SIM_ACT_TLS_GARBAGE || a == VTG_SIM_ACT_SERVFAIL ||
        a == VTG_SIM_ACT_CERT_EXPIRING || a == VTG_SIM_ACT_BLACKHOLE)
      c->mode = VTG_SIM_MODE_OK;
  }
  d = vtg_sim_mode_desc(c->mode);
  sim->sc.checks[c->check].count[c->mode]++;
  if (c->has_who)
    VTG_DEBUG("t=%.3f %s-%d %s %s -> %s", (double)c->t_us / 1e6,
              sim->sc.regions[c->who.region].name, c->who.agent, c->method, c->target, d->name);
  else
    VTG_DEBUG("t=%.3f unknown source %s %s -> %s", (double)c->t_us / 1e6, c->method, c->target,
              d->name);

  switch (d->action) {
  case VTG_SIM_ACT_ANSWER:
    respond_text(c, d->status, d->status == 200 ? "ok\n" : "simulated failure\n");
    break;
  case VTG_SIM_ACT_BODY:
    respond_text(c, 200, "<html>unexpected maintenance page</html>\n");
    break;
  case VTG_SIM_ACT_GARBAGE:
    respond_garbage(c);
    break;
  case VTG_SIM_ACT_HOLD:
    c->state = CONN_HOLD; /* keep reading and dropping until the client leaves */
    break;
  case VTG_SIM_ACT_RESET:
    conn_close(c, 1);
    break;
  case VTG_SIM_ACT_DELAY:
    c->state = CONN_DELAY;
    if (uv_timer_start(&c->timer, on_delay, (uint64_t)delay_ms, 0) != 0) conn_close(c, 0);
    break;
  case VTG_SIM_ACT_RANDOM: /* not an effective mode */
    respond_text(c, 500, "bad mode\n");
    break;
  case VTG_SIM_ACT_BLACKHOLE:   /* (a request the hole let through) */
  case VTG_SIM_ACT_REFUSE:      /* decided by the listeners, the TLS */
  case VTG_SIM_ACT_TLS_GARBAGE: /* handshake and the DNS responder: an */
  case VTG_SIM_ACT_SERVFAIL:    /* HTTP request that got here is answered */
  case VTG_SIM_ACT_CERT_EXPIRING: /* normally */
    respond_text(c, 200, "ok\n");
    break;
  }
}

static void dispatch(vtg_sim_conn_t *c) {
  if (c->svc == NULL)
    control_request(c);
  else
    service_request(c);
}

/* Parses the request line and Content-Length out of head[0..end). Returns 0
 * or VTG_EINVAL. */
static int parse_head(vtg_sim_conn_t *c, size_t end) {
  const char *p = c->head, *lim = c->head + end;
  const char *sp1, *sp2, *eol;
  eol = memchr(p, '\n', (size_t)(lim - p));
  if (eol == NULL) return VTG_EINVAL;
  sp1 = memchr(p, ' ', (size_t)(eol - p));
  if (sp1 == NULL || (size_t)(sp1 - p) >= sizeof(c->method)) return VTG_EINVAL;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
  if (sp2 == NULL || (size_t)(sp2 - sp1 - 1) >= sizeof(c->target) || sp2 == sp1 + 1)
    return VTG_EINVAL;
  memcpy(c->method, p, (size_t)(sp1 - p));
  c->method[sp1 - p] = '\0';
  memcpy(c->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  c->target[sp2 - sp1 - 1] = '\0';
  c->head_only = strcmp(c->method, "HEAD") == 0;
  /* Header lines: only Content-Length matters. */
  for (p = eol + 1; p < lim; p = eol + 1) {
    static const char cl[] = "content-length:";
    eol = memchr(p, '\n', (size_t)(lim - p));
    if (eol == NULL) break;
    if ((size_t)(eol - p) > sizeof(cl) - 1 && strncasecmp(p, cl, sizeof(cl) - 1) == 0) {
      char num[32];
      const char *v = p + sizeof(cl) - 1;
      size_t n;
      char *e = NULL;
      unsigned long long len;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      n = (size_t)(eol - v);
      while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' ')) n--;
      if (n == 0 || n >= sizeof(num)) return VTG_EINVAL;
      memcpy(num, v, n);
      num[n] = '\0';
      len = strtoull(num, &e, 10);
      if (*e != '\0' || num[0] == '-') return VTG_EINVAL;
      c->body_left = len;
    }
  }
  return 0;
}

/* The head is complete at head[0..end) with extra bytes after it. */
static void head_done(vtg_sim_conn_t *c, size_t end) {
  size_t extra = c->head_len - end;
  c->t_us = c->sim->t0_us == INT64_MIN ? INT64_MIN : vtg_clock_wall_us() - c->sim->t0_us;
  if (parse_head(c, end) != 0) {
    respond_text(c, 400, "bad request\n");
    return;
  }
  c->body_left = c->body_left > extra ? c->body_left - extra : 0;
  if (c->body_left > 0) {
    c->state = CONN_DRAIN;
    return;
  }
  dispatch(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  vtg_sim_conn_t *c = container_of((uv_tcp_t *)h, vtg_sim_conn_t, tcp);
  (void)suggested;
  if (c->ssl != NULL)
    *buf = uv_buf_init(c->raw, sizeof(c->raw));
  else if (c->state == CONN_READ_HEAD && c->head_len < sizeof(c->head))
    *buf = uv_buf_init(c->head + c->head_len, (unsigned)(sizeof(c->head) - c->head_len));
  else
    *buf = uv_buf_init(c->drain, sizeof(c->drain));
}

/* nread plaintext bytes arrived: at head + head_len while reading the
 * head, in drain otherwise. */
static void consume(vtg_sim_conn_t *c, ssize_t nread) {
  switch (c->state) {
  case CONN_READ_HEAD: {
    size_t from = c->head_len >= 3 ? c->head_len - 3 : 0;
    c->head_len += (size_t)nread;
    for (size_t i = from; i + 4 <= c->head_len; i++) {
      if (memcmp(c->head + i, "\r\n\r\n", 4) == 0) {
        head_done(c, i + 4);
        return;
      }
    }
    if (c->head_len >= sizeof(c->head)) {
      VTG_WARN("request head over %d bytes; refused", VTG_SIM_MAX_HEADER);
      respond_text(c, 431, "request head too large\n");
    }
    break;
  }
  case CONN_DRAIN:
    if ((uint64_t)nread >= c->body_left) {
      c->body_left = 0;
      dispatch(c);
    } else {
      c->body_left -= (uint64_t)nread;
    }
    break;
  default:
    break; /* HOLD, DELAY, WRITE: the bytes are dropped */
  }
}

/* A connection (kind TCP) or a finished handshake (kind TLS) is what a
 * check of that type asks of a service: counted as `ok` for each such
 * check of the service, for /stats (a service shared by several of them
 * counts for each). */
static void count_checks(vtg_sim_conn_t *c, vtg_sim_check_type_t kind) {
  vtg_sim_scenario_t *sc = &c->sim->sc;
  if (vtg_sim_now(c->sim) == INT64_MIN) return; /* before /start */
  for (size_t i = 0; i < sc->n_checks; i++)
    if (sc->checks[i].type == kind && &sc->services[sc->checks[i].service] == c->svc)
      sc->checks[i].count[VTG_SIM_MODE_OK]++;
}

/* TLS: feeds the records in, finishes the handshake, decrypts what there
 * is into the same places the plain path reads into. */
static void tls_read(vtg_sim_conn_t *c, const char *data, size_t n) {
  if (BIO_write(c->rbio, data, (int)n) != (int)n) {
    conn_close(c, 0);
    return;
  }
  if (!SSL_is_init_finished(c->ssl)) {
    int r = SSL_do_handshake(c->ssl);
    tls_flush(c, 0);
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        VTG_DEBUG("TLS handshake failed");
        conn_close(c, 0);
      }
      return;
    }
    if (!c->tls_counted) count_checks(c, VTG_SIM_CHECK_TLS);
  }
  while (c->state != CONN_CLOSING && c->state != CONN_WRITE) {
    char *dst = c->drain;
    size_t cap = sizeof(c->drain);
    if (c->state == CONN_READ_HEAD) {
      if (c->head_len >= sizeof(c->head)) break;
      dst = c->head + c->head_len;
      cap = sizeof(c->head) - c->head_len;
    }
    int r = SSL_read(c->ssl, dst, (int)cap);
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ) conn_close(c, 0); /* close_notify or an error */
      break;
    }
    consume(c, r);
  }
  if (c->state != CONN_CLOSING && c->ssl != NULL && c->state != CONN_WRITE) tls_flush(c, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  vtg_sim_conn_t *c = container_of((uv_tcp_t *)s, vtg_sim_conn_t, tcp);
  if (nread == 0) return;
  if (nread < 0) {
    /* The client left (or broke the connection). A write in flight is
     * cancelled by the close. */
    conn_close(c, 0);
    return;
  }
  if (c->ssl != NULL)
    tls_read(c, buf->base, (size_t)nread);
  else
    consume(c, nread);
}

/* A TLS-level fault (tls_error, cert_expiring) for this agent on a check
 * of the connection's service, if any. */
static const vtg_sim_fault_t *tls_fault(vtg_sim_conn_t *c, size_t *check) {
  vtg_sim_t *sim = c->sim;
  int64_t t = vtg_sim_now(sim);
  if (t == INT64_MIN) return NULL;
  for (size_t i = 0; i < sim->sc.n_checks; i++) {
    if (&sim->sc.services[sim->sc.checks[i].service] != c->svc) continue;
    const vtg_sim_fault_t *f = vtg_sim_fault_find(&sim->sc, i, c->has_who ? &c->who : NULL, t);
    vtg_sim_action_t a = f ? vtg_sim_mode_desc(f->mode)->action : VTG_SIM_ACT_ANSWER;
    if (a == VTG_SIM_ACT_TLS_GARBAGE || a == VTG_SIM_ACT_CERT_EXPIRING) {
      *check = i;
      return f;
    }
  }
  return NULL;
}

/* Sets up a connection of a TLS listener; 0 or -1 (then it is closed). */
static int tls_accept(vtg_sim_conn_t *c) {
  size_t check = 0;
  void *ctx = c->sim->ssl_ctx;
  const vtg_sim_fault_t *f = tls_fault(c, &check);
  if (f != NULL) {
    c->sim->sc.checks[check].count[f->mode]++;
    if (vtg_sim_mode_desc(f->mode)->action == VTG_SIM_ACT_TLS_GARBAGE) {
      c->state = CONN_WRITE;
      respond_text(c, 400, "this is not TLS\n"); /* plain text where a ServerHello belongs */
      return 0;
    }
    ctx = c->sim->ssl_ctx_expiring;
    c->tls_counted = 1;
  }
  c->ssl = SSL_new(ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    return -1;
  }
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_accept_state(c->ssl);
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  vtg_sim_t *sim;
  vtg_sim_service_t *svc = NULL;
  vtg_sim_conn_t *c;
  struct sockaddr_storage ss;
  int sslen = sizeof(ss);

  if (server->data != NULL) {
    svc = server->data;
    sim = svc->sim;
  } else {
    sim = container_of((uv_tcp_t *)server, vtg_sim_t, control);
  }
  if (status < 0) {
    VTG_WARN("accept: %s", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    VTG_ERROR("out of memory accepting a connection");
    return;
  }
  c->sim = sim;
  c->svc = svc;
  c->state = CONN_READ_HEAD;
  c->t_us = INT64_MIN;
  vtg_buf_init(&c->resp, MAX_RESPONSE);
  if (uv_tcp_init(sim->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  (void)uv_timer_init(sim->loop, &c->timer); /* cannot fail on a live loop */
  c->pending_close = 2;
  c->next = sim->conns;
  if (sim->conns != NULL) sim->conns->prev = c;
  sim->conns = c;
  sim->n_conns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c, 0);
    return;
  }
  if (sim->n_conns > VTG_SIM_MAX_CONNS) {
    /* The cap on open connections: shed the newest. */
    sim->rejected++;
    VTG_WARN("over %d open connections; dropping one", VTG_SIM_MAX_CONNS);
    conn_close(c, 0);
    return;
  }
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0 &&
      ss.ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    c->has_who = vtg_sim_agent_from_addr(&sim->sc, ntohl(sin->sin_addr.s_addr), &c->who) == 0;
  }
  sslen = sizeof(ss);
  if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET)
    c->dst = ntohl(((const struct sockaddr_in *)&ss)->sin_addr.s_addr);
  if (svc != NULL && server == (uv_stream_t *)&svc->tls_listener && tls_accept(c) != 0) {
    conn_close(c, 0);
    return;
  }
  if (svc != NULL && server == (uv_stream_t *)&svc->listener) count_checks(c, VTG_SIM_CHECK_TCP);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c, 0);
}

/* Initialises and binds tcp on 127.0.0.1:*port (0: any) and listens;
 * *port gets the port. The handle is initialised (must be closed) once this
 * returns anything but an init failure; *inited says so. */
static int listen_at(uv_loop_t *loop, uv_tcp_t *tcp, uint32_t ip, int *inited, int *port) {
  struct sockaddr_in addr;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int rc;
  if ((rc = uv_tcp_init(loop, tcp)) != 0) return rc;
  *inited = 1;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)*port);
  addr.sin_addr.s_addr = htonl(ip);
  if ((rc = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0)) != 0) return rc;
  if ((rc = uv_listen((uv_stream_t *)tcp, 511, on_connection)) != 0) return rc;
  if ((rc = uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len)) != 0) return rc;
  *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

static int listen_one(uv_loop_t *loop, uv_tcp_t *tcp, int *inited, int *port) {
  return listen_at(loop, tcp, 0x7f000001u, inited, port);
}

/* The service's other addresses: an HTTP listener on each, on the port of
 * the main one (a URL names one port for every address of its host). */
static int listen_extra(vtg_sim_service_t *svc) {
  size_t k = 0;
  for (size_t i = 0; i < svc->n_addrs; i++) {
    if (svc->addrs[i] == 0x7f000001u) continue;
    int port = svc->port, rc;
    svc->extra[k].data = svc;
    if ((rc = listen_at(svc->sim->loop, &svc->extra[k], svc->addrs[i], &svc->extra_listening[k],
                        &port)) != 0)
      return rc;
    VTG_INFO("service %s also listening on %u.%u.%u.%u:%d", svc->name, svc->addrs[i] >> 24,
             (svc->addrs[i] >> 16) & 0xff, (svc->addrs[i] >> 8) & 0xff, svc->addrs[i] & 0xff,
             port);
    k++;
  }
  return 0;
}

int64_t vtg_sim_now(const vtg_sim_t *sim) {
  return sim->t0_us == INT64_MIN ? INT64_MIN : vtg_clock_wall_us() - sim->t0_us;
}

/* ---- refused: a service's listeners are closed for the fault window ----
 * A real refusal needs no listener on the port, and a listener cannot
 * refuse some peers only: a `refused` fault closes the service's
 * listeners (both, HTTP and TLS) for every agent, and the port is bound
 * again when the window ends. */

static void on_listener_closed(uv_handle_t *h) {
  vtg_sim_service_t *svc = h->data;
  svc->closing--;
}

/* ---- blackhole: the port exists but takes no connection ----
 * A listening socket with a backlog of 0 whose one queue slot is taken by
 * our own connection and that is never accepted: the kernel drops every
 * further SYN, so clients see their connect time out. Like `refused`, it
 * is the whole service (HTTP port; the TLS port is closed meanwhile). Plain
 * sockets, not libuv handles: libuv would accept() them. */

static void blackhole_close(vtg_sim_service_t *svc) {
  if (svc->filler_fd >= 0) close(svc->filler_fd);
  if (svc->hole_fd >= 0) close(svc->hole_fd);
  svc->filler_fd = svc->hole_fd = -1;
}

static int blackhole_open(vtg_sim_service_t *svc) {
  struct sockaddr_in a;
  int one = 1, err = 0;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)svc->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  svc->hole_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (svc->hole_fd < 0 ||
      setsockopt(svc->hole_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(svc->hole_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(svc->hole_fd, 0) != 0)
    goto fail;
  svc->filler_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (svc->filler_fd < 0 || connect(svc->filler_fd, (struct sockaddr *)&a, sizeof a) != 0)
    goto fail;
  return 0;
fail:
  err = -errno;
  VTG_ERROR("service %s: cannot make port %d a black hole: %s", svc->name, svc->port,
            uv_strerror(err));
  blackhole_close(svc);
  return err;
}

static int service_in_fault(const vtg_sim_t *sim, size_t si, int64_t t, vtg_sim_action_t act) {
  for (size_t i = 0; i < sim->sc.n_faults; i++) {
    const vtg_sim_fault_t *f = &sim->sc.faults[i];
    if (vtg_sim_mode_desc(f->mode)->action != act) continue;
    if (t < f->from_us || t >= f->to_us) continue;
    if (f->check < 0 || sim->sc.checks[f->check].service == si) return 1;
  }
  return 0;
}

static void relisten(vtg_sim_service_t *svc, uv_tcp_t *tcp, int *listening, int *port) {
  int rc = listen_one(svc->sim->loop, tcp, listening, port);
  if (rc != 0) {
    VTG_ERROR("service %s: cannot listen again on port %d: %s", svc->name, *port, uv_strerror(rc));
    if (*listening) {
      *listening = 0;
      svc->closing++;
      uv_close((uv_handle_t *)tcp, on_listener_closed);
    }
  }
}

static void on_refuse_tick(uv_timer_t *t) {
  vtg_sim_t *sim = container_of(t, vtg_sim_t, refuse_timer);
  int64_t now = vtg_sim_now(sim);
  if (now == INT64_MIN || sim->stopping) return;
  for (size_t i = 0; i < sim->sc.n_services; i++) {
    vtg_sim_service_t *svc = &sim->sc.services[i];
    int hole = service_in_fault(sim, i, now, VTG_SIM_ACT_BLACKHOLE);
    int want = hole || service_in_fault(sim, i, now, VTG_SIM_ACT_REFUSE);
    if (svc->refusing && svc->holing && svc->closing == 0 && svc->hole_fd < 0 && hole) {
      if (blackhole_open(svc) == 0)
        VTG_INFO("t=%.3f service %s: port %d drops connections (blackhole)", (double)now / 1e6,
                 svc->name, svc->port);
    }
    if (want && !svc->refusing) {
      svc->refusing = 1;
      svc->holing = hole;
      if (svc->listening) {
        svc->listening = 0;
        svc->closing++;
        uv_close((uv_handle_t *)&svc->listener, on_listener_closed);
      }
      if (svc->tls_listening) {
        svc->tls_listening = 0;
        svc->closing++;
        uv_close((uv_handle_t *)&svc->tls_listener, on_listener_closed);
      }
      VTG_INFO("t=%.3f service %s: listeners closed (refused)", (double)now / 1e6, svc->name);
    } else if (!want && svc->refusing && svc->closing == 0) {
      svc->refusing = svc->holing = 0;
      blackhole_close(svc);
      relisten(svc, &svc->listener, &svc->listening, &svc->port);
      relisten(svc, &svc->tls_listener, &svc->tls_listening, &svc->tls_port);
      VTG_INFO("t=%.3f service %s: listening again", (double)now / 1e6, svc->name);
    }
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  vtg_sim_t *sim = h->data;
  VTG_INFO("signal %d: stopping", signum);
  vtg_sim_stop(sim);
}

int vtg_sim_listen(vtg_sim_t *sim) {
  int rc;
  sim->t0_us = INT64_MIN;
  sim->prng = sim->sc.seed;
  for (size_t i = 0; i < sim->sc.n_services; i++)
    sim->sc.services[i].hole_fd = sim->sc.services[i].filler_fd = -1;
  if ((rc = uv_signal_init(sim->loop, &sim->sigterm)) != 0) return rc;
  if ((rc = uv_signal_init(sim->loop, &sim->sigint)) != 0) {
    uv_close((uv_handle_t *)&sim->sigterm, NULL);
    return rc;
  }
  sim->signals_on = 1;
  sim->sigterm.data = sim;
  sim->sigint.data = sim;
  if ((rc = uv_signal_start(&sim->sigterm, on_signal, SIGTERM)) != 0) return rc;
  if ((rc = uv_signal_start(&sim->sigint, on_signal, SIGINT)) != 0) return rc;
  sim->control.data = NULL;
  if ((rc = listen_one(sim->loop, &sim->control, &sim->control_listening, &sim->control_port)) != 0)
    return rc;
  for (size_t i = 0; i < sim->sc.n_services; i++) {
    vtg_sim_service_t *svc = &sim->sc.services[i];
    svc->sim = sim;
    svc->listener.data = svc;
    rc = listen_one(sim->loop, &svc->listener, &svc->listening, &svc->port);
    if (rc != 0) return rc;
    svc->tls_listener.data = svc;
    rc = listen_one(sim->loop, &svc->tls_listener, &svc->tls_listening, &svc->tls_port);
    if (rc != 0) return rc;
    VTG_INFO("service %s listening on 127.0.0.1:%d (TLS on %d)", svc->name, svc->port,
             svc->tls_port);
    if ((rc = listen_extra(svc)) != 0) return rc;
  }
  if ((rc = vtg_sim_dns_listen(sim)) != 0) return rc;
  if ((rc = uv_timer_init(sim->loop, &sim->refuse_timer)) != 0) return rc;
  sim->refuse_timer_on = 1;
  /* 10 ms: the refusal window's edges are placed to within a tick. */
  if ((rc = uv_timer_start(&sim->refuse_timer, on_refuse_tick, 10, 10)) != 0) return rc;
  VTG_INFO("control listening on 127.0.0.1:%d", sim->control_port);
  return 0;
}

void vtg_sim_stop(vtg_sim_t *sim) {
  if (sim->stopping) return;
  sim->stopping = 1;
  if (sim->signals_on) {
    uv_close((uv_handle_t *)&sim->sigterm, NULL);
    uv_close((uv_handle_t *)&sim->sigint, NULL);
  }
  if (sim->control_listening) uv_close((uv_handle_t *)&sim->control, NULL);
  for (size_t i = 0; i < sim->sc.n_services; i++) {
    vtg_sim_service_t *svc = &sim->sc.services[i];
    if (svc->listening) uv_close((uv_handle_t *)&svc->listener, NULL);
    if (svc->tls_listening) uv_close((uv_handle_t *)&svc->tls_listener, NULL);
    svc->listening = svc->tls_listening = 0;
    for (size_t k = 0; k + 1 < VTG_SIM_MAX_ADDRS; k++)
      if (svc->extra_listening[k]) uv_close((uv_handle_t *)&svc->extra[k], NULL);
    memset(svc->extra_listening, 0, sizeof svc->extra_listening);
    blackhole_close(svc);
  }
  if (sim->dns_on) uv_close((uv_handle_t *)&sim->dns, NULL);
  if (sim->refuse_timer_on) uv_close((uv_handle_t *)&sim->refuse_timer, NULL);
  sim->dns_on = sim->refuse_timer_on = 0;
  for (vtg_sim_conn_t *c = sim->conns; c != NULL; c = c->next) conn_close(c, 0);
}
