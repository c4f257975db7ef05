/* The agent's session with the coordinator: connect (with backoff), Hello,
 * Welcome, heartbeats, batches read back from the on-disk spool of
 * unacknowledged results (spool.c), acks, drops, and the replay of
 * everything unacknowledged after a reconnect or a restart. Mutual TLS
 * (vtg/tls.h, memory BIOs: the Hello goes out once the handshake is done)
 * or, when the config says `plaintext: true`, plain TCP; frames are u32 BE
 * length + Envelope. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

#define DEFAULT_HEARTBEAT_MS 5000u
#define DEFAULT_IDLE_MS 15000u
#define ARENA_LIMIT (64u << 20)        /* decoded CheckSets are bigger than their frame */
#define WRITE_QUEUE_HIGH (1u << 20)     /* stop batching while this much is unsent */
#define EMPTY_BATCH_MS 1000u            /* watermark-only batch at most this often */
#define DRAIN_MS 2000                   /* how long a stop waits for the last writes */
#define BATCH_ARENA_LIMIT (64u << 20)   /* one batch of results unpacked from the spool */

typedef struct vtg_uplink_conn_s {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;  /* draining at stop */
  uv_timer_t drain_timer;      /* deadline for the drain; inited only then */
  int draining;
  int closes;                  /* close callbacks still due */
  vtg_uplink_t *u;
  vtg_tls_t *tls;              /* NULL when plaintext */
} conn_t;

typedef struct {
  uv_write_t req;
  uint8_t *buf;
  vtg_uplink_t *u;
} write_req_t;

static void start_connect(vtg_uplink_t *u);
static void send_hello(vtg_uplink_t *u);
static int write_raw(vtg_uplink_t *u, uint8_t *buf, size_t len);
static int on_frame(void *ctx, const uint8_t *payload, size_t len);
static void flush_now(vtg_uplink_t *u);
static void reconnect_timer_cb(uv_timer_t *t);

/* --------------------------------------------------------------- helpers */

static uint64_t rng_next(vtg_uplink_t *u) {
  /* xorshift64*: plenty for jitter; seeded from the OS. */
  uint64_t x = u->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  u->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* The last close callback frees the state a draining connection still
 * used (the spool, for its last Acks) and tells the owner. */
static void maybe_closed(vtg_uplink_t *u) {
  if (u->closing && u->pending_closes == 0 && u->close_cb) {
    vtg_uplink_close_cb cb = u->close_cb;
    u->close_cb = NULL;
    uint64_t left = vtg_spool_next_seq(u->spool) - 1 - vtg_spool_acked(u->spool);
    if (left > 0)
      VTG_WARN("stopped with %" PRIu64 " results not acknowledged by the coordinator; they stay "
               "in the spool for the next start",
               left);
    /* The e2e harness compares this with what the coordinator stored. */
    VTG_INFO("results produced by this run: %" PRIu64, u->results_total);
    vtg_spool_close(u->spool); /* syncs */
    u->spool = NULL;
    vtg_frame_reader_free(&u->reader);
    vtg_arena_free(&u->arena);
    vtg_arena_free(&u->batch_arena);
    vtg_tls_ctx_free(u->tls_ctx);
    u->tls_ctx = NULL;
    cb(u);
  }
}

/* Durable results not yet sent on this connection. */
static uint64_t unsent(vtg_uplink_t *u) {
  uint64_t d = vtg_spool_durable_seq(u->spool);
  return d >= u->send_seq ? d - u->send_seq + 1 : 0;
}

/* The coordinator stored everything up to seq: the spool may forget it. */
static void ack_upto(vtg_uplink_t *u, uint64_t seq) {
  uint64_t before = vtg_spool_acked(u->spool);
  (void)vtg_spool_ack(u->spool, seq); /* a failed meta write is logged; replay covers it */
  if (vtg_spool_acked(u->spool) > before) u->results_acked += vtg_spool_acked(u->spool) - before;
  if (u->send_seq <= seq) u->send_seq = seq + 1;
}

/* ------------------------------------------------------------ connection */

static void conn_part_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  if (--c->closes > 0) return;
  vtg_uplink_t *u = c->u;
  vtg_tls_free(c->tls);
  free(c);
  u->pending_closes--;
  maybe_closed(u);
}

/* Closes the handles of a connection already detached from u (u counted
 * it in pending_closes when it did); idempotent. */
static void conn_close(conn_t *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  c->tcp.data = c;
  c->closes++;
  uv_close((uv_handle_t *)&c->tcp, conn_part_closed);
  if (c->draining) {
    c->drain_timer.data = c;
    c->closes++;
    uv_close((uv_handle_t *)&c->drain_timer, conn_part_closed);
  }
}

static void schedule_reconnect(vtg_uplink_t *u) {
  if (u->closing) return;
  unsigned shift = u->attempts < 16 ? u->attempts : 16;
  uint64_t window = (uint64_t)VTG_UPLINK_BACKOFF_MIN_MS << shift;
  if (window > VTG_UPLINK_BACKOFF_MAX_MS) window = VTG_UPLINK_BACKOFF_MAX_MS;
  /* Full jitter: anywhere in [0, window], so agents cut off together do
   * not all come back in the same millisecond. */
  uint64_t delay = rng_next(u) % (window + 1);
  u->attempts++;
  u->reconnects++;
  u->state = VTG_UPLINK_BACKOFF;
  VTG_INFO("reconnecting to coordinator %s:%u in %" PRIu64 " ms", u->cfg->coord_host,
           (unsigned)u->cfg->coord_port, delay);
  (void)uv_timer_start(&u->reconnect_timer, reconnect_timer_cb, delay, 0);
}

/* Tears the connection down (if any) and, unless closing, schedules the
 * next attempt. Safe to call more than once. */
static void drop_connection(vtg_uplink_t *u, const char *why) {
  if (u->conn != NULL) {
    VTG_WARN("coordinator link closed: %s", why);
    conn_t *c = u->conn;
    u->conn = NULL;
    uv_read_stop((uv_stream_t *)&c->tcp);
    u->pending_closes++;
    conn_close(c);
  }
  /* The frame reader is reset when the next connection starts, not here:
   * this may run from inside vtg_frame_reader_feed (a failed write while
   * handling a frame). */
  u->welcomed = 0;
  uv_timer_stop(&u->heartbeat_timer);
  uv_timer_stop(&u->flush_timer);
  uv_timer_stop(&u->idle_timer);
  schedule_reconnect(u);
}

static void write_cb(uv_write_t *req, int status) {
  write_req_t *w = container_of(req, write_req_t, req);
  vtg_uplink_t *u = w->u;
  uv_stream_t *stream = req->handle;
  free(w->buf);
  free(w);
  if (u->closing || status == UV_ECANCELED) return;
  if (u->conn == NULL || stream != (uv_stream_t *)&u->conn->tcp) return;
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    drop_connection(u, why);
    return;
  }
  if (u->welcomed && unsent(u) >= VTG_UPLINK_BATCH_MAX) flush_now(u);
}

/* Encodes and queues one envelope. Returns 0 or an error; on a write error
 * the connection is dropped. */
static int send_env(vtg_uplink_t *u, const Vantage__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc;
  if (u->conn == NULL) return UV_ENOTCONN;
  rc = vtg_wire_encode(env, VTG_FRAME_DEFAULT_MAX, &buf, &len);
  if (rc != 0) {
    VTG_ERROR("encoding a frame failed: %s", vtg_strerror(rc));
    return rc;
  }
  if (u->conn->tls != NULL) {
    char why[512] = "TLS: out of memory";
    rc = vtg_tls_write(u->conn->tls, buf, len, why, sizeof why);
    free(buf);
    if (rc == 0) rc = vtg_tls_take_output(u->conn->tls, &buf, &len);
    if (rc != 0) {
      drop_connection(u, why);
      return rc;
    }
  }
  return write_raw(u, buf, len);
}

/* Queues len bytes (taking buf) on the connection; a failure drops it. */
static int write_raw(vtg_uplink_t *u, uint8_t *buf, size_t len) {
  int rc;
  if (len == 0 || u->conn == NULL) {
    free(buf);
    return u->conn == NULL ? UV_ENOTCONN : 0;
  }
  write_req_t *w = malloc(sizeof *w);
  if (w == NULL) {
    free(buf);
    return VTG_ENOMEM;
  }
  w->buf = buf;
  w->u = u;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  rc = uv_write(&w->req, (uv_stream_t *)&u->conn->tcp, &b, 1, write_cb);
  if (rc != 0) {
    free(buf);
    free(w);
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(rc));
    drop_connection(u, why);
  }
  return rc;
}

/* Sends a heartbeat: ours (echo_us 0) on the timer, or the answer to the
 * coordinator's (echo_us its sent_us). Answers are never answered. */
static void send_heartbeat(vtg_uplink_t *u, int64_t echo_us) {
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  Vantage__Heartbeat hb = VANTAGE__HEARTBEAT__INIT;
  hb.sent_us = vtg_probe_clock_wall_us();
  hb.echo_us = echo_us;
  env.msg_case = VANTAGE__ENVELOPE__MSG_HEARTBEAT;
  env.heartbeat = &hb;
  (void)send_env(u, &env);
}

static void send_dropped(vtg_uplink_t *u, uint64_t first, uint64_t last) {
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  Vantage__Dropped d = VANTAGE__DROPPED__INIT;
  d.spool_epoch = u->epoch;
  d.first_seq = first;
  d.last_seq = last;
  env.msg_case = VANTAGE__ENVELOPE__MSG_DROPPED;
  env.dropped = &d;
  /* The spool logged why (full, corrupt) when it lost them. */
  VTG_INFO("telling the coordinator that results %" PRIu64 "..%" PRIu64 " are gone from the spool",
           first, last);
  (void)send_env(u, &env);
}

/* ---------------------------------------------------------------- batches */

static void fill_result(Vantage__Result *m, vtg_probe_result_t *r) {
  vantage__result__init(m);
  m->check_id = r->check_id;
  m->start_us = r->start_us;
  m->dns_us = r->dns_us;
  m->connect_us = r->connect_us;
  m->tls_us = r->tls_us;
  m->ttfb_us = r->ttfb_us;
  m->total_us = r->total_us;
  m->http_status = r->http_status;
  m->bytes = r->bytes;
  m->outcome = r->outcome;
  m->error_class = r->error_class;
  m->resolved_addr = r->resolved_addr;
  m->cert_expiry_unix = r->cert_expiry_unix;
  m->cert_issuer = (char *)r->cert_issuer;
  m->error_detail = r->error_detail;
  m->turn_addresses = r->turn_addresses;
}

/* Sends batches of up to VTG_UPLINK_BATCH_MAX unsent durable results, read
 * back from the spool, while the socket keeps up; a range the spool no
 * longer has (dropped when full, corrupt) is announced as Dropped first.
 * complete_before_us must not run ahead of any probe not yet reported: in
 * flight, or spooled but not in this or an earlier batch. With nothing to
 * send it still sends an empty batch now and then so the coordinator's
 * watermark moves. */
static void flush_now(vtg_uplink_t *u) {
  if (u->conn == NULL || !u->welcomed || u->closing) return;
  uint64_t upto = vtg_spool_durable_seq(u->spool);
  int sent_any = 0;
  while (u->conn != NULL && (u->send_seq <= upto || !sent_any)) {
    if (u->send_seq > upto && uv_now(u->loop) - u->last_batch_mono < EMPTY_BATCH_MS) break;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&u->conn->tcp) > WRITE_QUEUE_HIGH) break;
    size_t got = 0, n = 0;
    vtg_arena_reset(&u->batch_arena);
    if (u->send_seq <= upto) {
      if (vtg_spool_read(u->spool, u->send_seq, upto, u->batch_recs, VTG_UPLINK_BATCH_MAX,
                         &got) != 0)
        break;
      uint64_t gap_end = got > 0 ? u->batch_recs[0].seq - 1 : upto;
      if (gap_end >= u->send_seq) {
        send_dropped(u, u->send_seq, gap_end);
        if (u->conn == NULL) return;
        u->send_seq = gap_end + 1;
      }
      while (n < got && u->batch_recs[n].seq == u->send_seq + n) {
        Vantage__Result *m = vantage__result__unpack(&u->batch_arena.allocator,
                                                     u->batch_recs[n].len, u->batch_recs[n].data);
        if (m == NULL) {
          if (n > 0) break; /* send what decoded; this one comes first next time */
          VTG_WARN("spooled result %" PRIu64 " does not decode; announcing it as dropped",
                   u->send_seq);
          send_dropped(u, u->send_seq, u->send_seq);
          if (u->conn == NULL) return;
          u->send_seq++;
          break;
        }
        u->batch_ptrs[n++] = m;
      }
      if (n == 0 && u->send_seq <= upto) continue;
    }
    int64_t now = vtg_probe_clock_wall_us(); /* the clock probe starts are read from */
    int64_t cb = u->hooks.in_flight_min_start(u);
    if (now < cb) cb = now;
    int64_t later = vtg_spool_min_start(u->spool, u->send_seq + n);
    if (later < cb) cb = later;
    Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
    Vantage__ResultBatch b = VANTAGE__RESULT_BATCH__INIT;
    b.spool_epoch = u->epoch;
    b.first_seq = u->send_seq;
    b.n_results = n;
    b.results = n > 0 ? u->batch_ptrs : NULL;
    b.complete_before_us = cb;
    env.msg_case = VANTAGE__ENVELOPE__MSG_RESULT_BATCH;
    env.result_batch = &b;
    if (send_env(u, &env) != 0) break;
    u->send_seq += n;
    u->last_batch_mono = uv_now(u->loop);
    sent_any = 1;
  }
}

static void flush_timer_cb(uv_timer_t *t) {
  vtg_uplink_t *u = container_of(t, vtg_uplink_t, flush_timer);
  flush_now(u);
}

/* fsync policy "batch": the spool is synced at most every
 * VTG_SPOOL_BATCH_SYNC_MS (or when a batch's worth is waiting), and only
 * synced results are sent, so the coordinator never acknowledges a result
 * that a power cut could still take from the spool. The fdatasync runs on
 * libuv's threadpool so a slow disk does not skew the probes' timings. */
static void sync_timer_cb(uv_timer_t *t);

static void sync_work_cb(uv_work_t *w) {
  vtg_uplink_t *u = container_of(w, vtg_uplink_t, sync_work);
  vtg_spool_sync_run(&u->sync_job); /* touches only the job */
}

static void sync_after_cb(uv_work_t *w, int status) {
  vtg_uplink_t *u = container_of(w, vtg_uplink_t, sync_work);
  (void)status; /* cancelled only at close, which syncs on its own */
  u->sync_busy = 0;
  vtg_spool_sync_end(u->spool, &u->sync_job);
  if (u->closing) {
    u->pending_closes--;
    maybe_closed(u);
    return;
  }
  flush_now(u);
  /* What was appended while the job ran waits for the next round. */
  if (vtg_spool_unsynced(u->spool) > 0 && !uv_is_active((uv_handle_t *)&u->sync_timer))
    (void)uv_timer_start(&u->sync_timer, sync_timer_cb, VTG_SPOOL_BATCH_SYNC_MS, 0);
}

/* Starts one sync on the threadpool (the loop keeps probing meanwhile);
 * at most one runs at a time. Falls back to syncing here when it cannot. */
static void sync_spool(vtg_uplink_t *u) {
  uv_timer_stop(&u->sync_timer);
  if (u->sync_busy || u->closing) return; /* sync_after_cb comes back to it */
  int rc = vtg_spool_sync_begin(u->spool, &u->sync_job);
  if (rc == 1) {
    if (uv_queue_work(u->loop, &u->sync_work, sync_work_cb, sync_after_cb) == 0) {
      u->sync_busy = 1;
      return;
    }
    vtg_spool_sync_run(&u->sync_job);
    vtg_spool_sync_end(u->spool, &u->sync_job);
  } else if (rc < 0) {
    (void)vtg_spool_sync(u->spool); /* failures are logged by the spool */
  }
  flush_now(u);
}

static void sync_timer_cb(uv_timer_t *t) {
  sync_spool(container_of(t, vtg_uplink_t, sync_timer));
}

void vtg_uplink_push(vtg_uplink_t *u, const vtg_probe_result_t *r) {
  vtg_probe_result_t copy = *r;
  Vantage__Result m;
  uint64_t seq = 0;
  if (u->closing) return;
  fill_result(&m, &copy);
  size_t len = vantage__result__get_packed_size(&m);
  if (len > sizeof u->rec_buf) {
    VTG_ERROR("a result of check %u packs to %zu bytes, over the %u byte cap; not spooled",
              r->check_id, len, VTG_SPOOL_RECORD_MAX);
    return;
  }
  vantage__result__pack(&m, u->rec_buf);
  int rc = vtg_spool_append(u->spool, u->rec_buf, len, r->start_us, &seq);
  if (rc != 0) {
    VTG_ERROR("spooling a result of check %u failed (%s); it is lost", r->check_id,
              vtg_strerror(rc));
    return;
  }
  u->results_total++;
  if (vtg_spool_unsynced(u->spool) >= VTG_UPLINK_BATCH_MAX)
    sync_spool(u);
  else if (vtg_spool_unsynced(u->spool) > 0 && !uv_is_active((uv_handle_t *)&u->sync_timer))
    (void)uv_timer_start(&u->sync_timer, sync_timer_cb, VTG_SPOOL_BATCH_SYNC_MS, 0);
  if (u->welcomed && unsent(u) >= VTG_UPLINK_BATCH_MAX) flush_now(u);
}

/* --------------------------------------------------------------- incoming */

static void heartbeat_timer_cb(uv_timer_t *t) {
  vtg_uplink_t *u = container_of(t, vtg_uplink_t, heartbeat_timer);
  send_heartbeat(u, 0);
}

static void idle_timer_cb(uv_timer_t *t) {
  vtg_uplink_t *u = container_of(t, vtg_uplink_t, idle_timer);
  char why[96];
  snprintf(why, sizeof why, "nothing heard from the coordinator for %u ms",
           u->welcomed ? u->idle_timeout_ms : DEFAULT_IDLE_MS);
  drop_connection(u, why);
}

static int on_welcome(vtg_uplink_t *u, const Vantage__Welcome *w) {
  if (w->protocol_version != VTG_PROTOCOL_VERSION) {
    VTG_ERROR("coordinator speaks protocol %u, we speak %u", w->protocol_version,
              VTG_PROTOCOL_VERSION);
    return VTG_EVERSION;
  }
  u->heartbeat_ms = w->heartbeat_ms ? w->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
  if (u->heartbeat_ms < 100) u->heartbeat_ms = 100;
  if (u->heartbeat_ms > 600000) u->heartbeat_ms = 600000;
  u->idle_timeout_ms = w->idle_timeout_ms ? w->idle_timeout_ms : 3 * u->heartbeat_ms;
  if (u->idle_timeout_ms < 2 * u->heartbeat_ms) u->idle_timeout_ms = 2 * u->heartbeat_ms;
  u->welcomed = 1;
  u->attempts = 0;
  u->state = VTG_UPLINK_CONNECTED;

  /* The coordinator may have lost what it once acknowledged: the replay
   * starts after what it has; whatever of that the spool no longer holds
   * is announced as Dropped by flush_now before the results that follow. */
  uint64_t next = vtg_spool_next_seq(u->spool);
  uint64_t acked = w->acked_seq;
  if (acked > 0 && acked >= next) {
    VTG_WARN("coordinator acknowledges seq %" PRIu64 " of this epoch but we made only %" PRIu64,
             acked, next - 1);
    acked = next - 1;
  }
  ack_upto(u, acked);
  u->send_seq = acked + 1;
  VTG_INFO("welcomed by coordinator %s: acked_seq %" PRIu64 ", replaying %" PRIu64 " results, "
           "heartbeat %u ms, idle timeout %u ms",
           w->coordinator_version ? w->coordinator_version : "?", (uint64_t)w->acked_seq,
           next - 1 - acked, u->heartbeat_ms, u->idle_timeout_ms);
  (void)uv_timer_start(&u->heartbeat_timer, heartbeat_timer_cb, u->heartbeat_ms,
                       u->heartbeat_ms);
  (void)uv_timer_start(&u->flush_timer, flush_timer_cb, VTG_UPLINK_FLUSH_MS,
                       VTG_UPLINK_FLUSH_MS);
  (void)uv_timer_start(&u->idle_timer, idle_timer_cb, u->idle_timeout_ms, 0);
  u->last_batch_mono = 0;
  flush_now(u);
  return 0;
}

/* Answers a coordinator heartbeat at once, so that its round trip
 * measures the network and not our timer; an answer to one of ours
 * (echo_us set) is not answered, or the two would bounce for ever. */
static void on_heartbeat(vtg_uplink_t *u, const Vantage__Heartbeat *hb) {
  if (hb->echo_us == 0) send_heartbeat(u, hb->sent_us);
}

/* Handles one decoded envelope. A non-zero return drops the link. */
static int dispatch(vtg_uplink_t *u, const Vantage__Envelope *env) {
  /* While draining at stop the agent behind the hooks is going away. */
  if (u->closing && env->msg_case != VANTAGE__ENVELOPE__MSG_ACK) return 0;
  switch (env->msg_case) {
  case VANTAGE__ENVELOPE__MSG_WELCOME:
    return on_welcome(u, env->welcome);
  case VANTAGE__ENVELOPE__MSG_CHECK_SET:
    u->hooks.on_check_set(u, env->check_set);
    return 0;
  case VANTAGE__ENVELOPE__MSG_ACK:
    if (env->ack->spool_epoch != u->epoch) {
      VTG_WARN("ignoring an Ack for epoch %" PRIx64 " (ours is %" PRIx64 ")",
               (uint64_t)env->ack->spool_epoch, u->epoch);
      return 0;
    }
    if (env->ack->seq >= vtg_spool_next_seq(u->spool)) {
      /* Acknowledging what we never made is a coordinator bug; dropping
       * results on its word would lose them. */
      VTG_WARN("ignoring an Ack for seq %" PRIu64 ": we made only up to %" PRIu64,
               (uint64_t)env->ack->seq, vtg_spool_next_seq(u->spool) - 1);
      return 0;
    }
    ack_upto(u, env->ack->seq);
    return 0;
  case VANTAGE__ENVELOPE__MSG_HEARTBEAT:
    on_heartbeat(u, env->heartbeat);
    return 0;
  case VANTAGE__ENVELOPE__MSG_PROBE_NOW:
    u->hooks.on_probe_now(u, env->probe_now);
    return 0;
  case VANTAGE__ENVELOPE__MSG_ERROR:
    VTG_ERROR("coordinator error %u: %s", env->error->code,
              env->error->reason ? env->error->reason : "");
    return VTG_EPROTO;
  default:
    VTG_WARN("unexpected message %d from the coordinator", (int)env->msg_case);
    return VTG_EPROTO;
  }
}

static int on_frame(void *ctx, const uint8_t *payload, size_t len) {
  vtg_uplink_t *u = ctx;
  Vantage__Envelope *env = NULL;
  int rc = vtg_wire_decode(&u->arena, payload, len, &env);
  if (rc != 0) {
    VTG_WARN("undecodable frame of %zu bytes from the coordinator", len);
    return rc;
  }
  rc = dispatch(u, env);
  vtg_arena_reset(&u->arena);
  /* The handlers may have dropped the link themselves (a failed write). */
  if (rc == 0 && u->conn == NULL && !u->closing) rc = UV_ENOTCONN;
  return rc;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = container_of((uv_tcp_t *)h, conn_t, tcp);
  (void)suggested;
  buf->base = (char *)c->u->rbuf;
  buf->len = sizeof c->u->rbuf;
}

/* Sends what OpenSSL produced (handshake records, alerts). */
static int tls_flush(vtg_uplink_t *u, conn_t *c) {
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = vtg_tls_take_output(c->tls, &out, &len);
  if (rc != 0) return rc;
  if (u->conn != c) { /* draining at stop: the conn is detached from u */
    free(out);
    return 0;
  }
  return write_raw(u, out, len);
}

/* Bytes from the socket into the frame reader, through TLS when on. The
 * Hello goes out once the handshake completes. Returns the frame reader's
 * result, or VTG_EPROTO with why set when TLS failed. */
static int conn_feed(vtg_uplink_t *u, conn_t *c, size_t n, uint32_t *bad, char *why,
                     size_t whylen) {
  if (c->tls == NULL) return vtg_frame_reader_feed(&u->reader, u->rbuf, n, on_frame, u, bad);
  int was_done = vtg_tls_handshake_done(c->tls);
  int rc = vtg_tls_put(c->tls, u->rbuf, n);
  if (rc != 0) return rc;
  for (;;) {
    size_t got = 0;
    if ((rc = vtg_tls_read(c->tls, u->pbuf, sizeof u->pbuf, &got, why, whylen)) != 0) {
      (void)tls_flush(u, c);
      return rc;
    }
    if (!was_done && vtg_tls_handshake_done(c->tls)) {
      was_done = 1;
      if ((rc = tls_flush(u, c)) != 0) return rc;
      VTG_INFO("TLS with coordinator %s:%u established (%s)", u->cfg->coord_host,
               (unsigned)u->cfg->coord_port, vtg_tls_version(c->tls));
      if (!u->closing) send_hello(u);
      if (u->conn != c && !u->closing) return UV_ENOTCONN;
    }
    if (got == 0) break;
    rc = vtg_frame_reader_feed(&u->reader, u->pbuf, got, on_frame, u, bad);
    if (rc != 0) return rc;
    if (u->conn != c && !u->closing) return UV_ENOTCONN;
  }
  return tls_flush(u, c);
}

/* Reading while draining at stop: only Acks matter; EOF, an error or a bad
 * frame ends the drain. */
static void drain_read(vtg_uplink_t *u, conn_t *c, ssize_t nread) {
  if (nread < 0) {
    conn_close(c);
    return;
  }
  char why[8];
  if (conn_feed(u, c, (size_t)nread, NULL, why, sizeof why) != 0) conn_close(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = container_of((uv_tcp_t *)s, conn_t, tcp);
  vtg_uplink_t *u = c->u;
  char why[640];
  (void)buf;
  if (nread == 0) return;
  if (u->closing) {
    drain_read(u, c, nread);
    return;
  }
  if (nread < 0) {
    snprintf(why, sizeof why, "%s", nread == UV_EOF ? "closed by the coordinator"
                                                    : uv_strerror((int)nread));
    drop_connection(u, why);
    return;
  }
  if (u->welcomed)
    (void)uv_timer_start(&u->idle_timer, idle_timer_cb, u->idle_timeout_ms, 0);
  uint32_t bad = 0;
  char tls_why[600] = "";
  int rc = conn_feed(u, c, (size_t)nread, &bad, tls_why, sizeof tls_why);
  if (rc == 0 || u->conn != c) return;
  if (tls_why[0] != '\0')
    snprintf(why, sizeof why, "%s", tls_why);
  else if (rc == VTG_EFRAME_TOO_LARGE)
    snprintf(why, sizeof why, "frame of %" PRIu32 " bytes exceeds the %u byte cap", bad,
             VTG_FRAME_DEFAULT_MAX);
  else
    snprintf(why, sizeof why, "%s", vtg_strerror(rc));
  drop_connection(u, why);
}

static void send_hello(vtg_uplink_t *u) {
  Vantage__Envelope env = VANTAGE__ENVELOPE__INIT;
  Vantage__Hello h = VANTAGE__HELLO__INIT;
  h.protocol_version = VTG_PROTOCOL_VERSION;
  h.agent_id = u->cfg->id;
  h.region = u->cfg->region;
  h.country = u->cfg->country;
  h.lat = u->cfg->lat;
  h.lon = u->cfg->lon;
  h.software_version = (char *)VTG_VERSION;
  h.spool_epoch = u->epoch;
  env.msg_case = VANTAGE__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  (void)send_env(u, &env);
}

static void connect_cb(uv_connect_t *req, int status) {
  conn_t *c = container_of(req, conn_t, connect_req);
  vtg_uplink_t *u = c->u;
  char why[160];
  if (status == UV_ECANCELED || u->conn != c) return;
  if (status < 0) {
    snprintf(why, sizeof why, "connect to %s:%u failed: %s", u->cfg->coord_host,
             (unsigned)u->cfg->coord_port, uv_strerror(status));
    drop_connection(u, why);
    return;
  }
  int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  if (rc != 0) {
    snprintf(why, sizeof why, "uv_read_start: %s", uv_strerror(rc));
    drop_connection(u, why);
    return;
  }
  (void)uv_tcp_nodelay(&c->tcp, 1);
  u->state = VTG_UPLINK_HANDSHAKING;
  VTG_INFO("connected to coordinator %s:%u", u->cfg->coord_host, (unsigned)u->cfg->coord_port);
  if (u->tls_ctx == NULL) {
    send_hello(u);
    return;
  }
  /* The certificate must name the host (or IP) we were told to reach. */
  char tls_why[600] = "cannot set up TLS";
  if ((rc = vtg_tls_new(u->tls_ctx, 0, u->cfg->coord_host, &c->tls)) != 0 ||
      (rc = vtg_tls_start(c->tls, tls_why, sizeof tls_why)) != 0 ||
      (rc = tls_flush(u, c)) != 0) {
    if (u->conn == c) drop_connection(u, tls_why);
  }
}

/* Creates the socket, binds it to source_address when set, and connects. */
static int connect_addr(vtg_uplink_t *u, const struct sockaddr *addr) {
  int rc;
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return VTG_ENOMEM;
  c->u = u;
  vtg_frame_reader_free(&u->reader);
  vtg_frame_reader_init(&u->reader, VTG_FRAME_DEFAULT_MAX);
  vtg_arena_reset(&u->arena);
  rc = uv_tcp_init(u->loop, &c->tcp);
  if (rc != 0) {
    free(c);
    return rc;
  }
  c->tcp.data = c;
  u->conn = c;
  if (u->cfg->source_address != NULL) {
    struct sockaddr_storage src;
    memset(&src, 0, sizeof src);
    if (uv_ip4_addr(u->cfg->source_address, 0, (struct sockaddr_in *)&src) != 0 &&
        uv_ip6_addr(u->cfg->source_address, 0, (struct sockaddr_in6 *)&src) != 0)
      return VTG_EINVAL; /* validated by the config; the caller drops c */
    rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
    if (rc != 0) {
      VTG_ERROR("binding the uplink to %s failed: %s", u->cfg->source_address, uv_strerror(rc));
      return rc;
    }
  }
  return uv_tcp_connect(&c->connect_req, &c->tcp, addr, connect_cb);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  vtg_uplink_t *u = container_of(req, vtg_uplink_t, gai_req);
  char why[200];
  u->gai_active = 0;
  if (u->closing) {
    uv_freeaddrinfo(res);
    u->pending_closes--;
    maybe_closed(u);
    return;
  }
  if (status < 0 || res == NULL) {
    VTG_WARN("resolving coordinator %s failed: %s", u->cfg->coord_host,
             status < 0 ? uv_strerror(status) : "no address");
    uv_freeaddrinfo(res);
    uv_timer_stop(&u->idle_timer);
    schedule_reconnect(u);
    return;
  }
  (void)uv_timer_start(&u->idle_timer, idle_timer_cb, DEFAULT_IDLE_MS, 0);
  int rc = connect_addr(u, res->ai_addr);
  uv_freeaddrinfo(res);
  if (rc != 0) {
    snprintf(why, sizeof why, "connect to %s:%u failed: %s", u->cfg->coord_host,
             (unsigned)u->cfg->coord_port, vtg_strerror(rc));
    if (u->conn == NULL) {
      VTG_WARN("%s", why);
      uv_timer_stop(&u->idle_timer);
      schedule_reconnect(u);
    } else {
      drop_connection(u, why);
    }
  }
}

/* Starts one connection attempt: resolve, connect, Hello. The idle timer
 * doubles as the deadline for getting as far as a Welcome. */
static void start_connect(vtg_uplink_t *u) {
  char port[8];
  struct addrinfo hints;
  if (u->closing || u->conn != NULL || u->gai_active) return;
  u->state = VTG_UPLINK_CONNECTING;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (u->cfg->source_address != NULL)
    hints.ai_family = strchr(u->cfg->source_address, ':') ? AF_INET6 : AF_INET;
  snprintf(port, sizeof port, "%u", (unsigned)u->cfg->coord_port);
  int rc = uv_getaddrinfo(u->loop, &u->gai_req, gai_cb, u->cfg->coord_host, port, &hints);
  if (rc != 0) {
    VTG_WARN("resolving coordinator %s failed: %s", u->cfg->coord_host, uv_strerror(rc));
    schedule_reconnect(u);
    return;
  }
  u->gai_active = 1;
  (void)uv_timer_start(&u->idle_timer, idle_timer_cb, DEFAULT_IDLE_MS, 0);
}

static void reconnect_timer_cb(uv_timer_t *t) {
  start_connect(container_of(t, vtg_uplink_t, reconnect_timer));
}

/* ------------------------------------------------------------- lifecycle */

int vtg_uplink_init(uv_loop_t *loop, vtg_uplink_t *u, const vtg_probe_config_t *cfg,
                    const vtg_uplink_hooks_t *hooks) {
  void *data = u->data;
  int rc;
  uint64_t seed[2] = {0, 0};

  memset(u, 0, sizeof *u);
  u->data = data;
  u->loop = loop;
  u->cfg = cfg;
  u->hooks = *hooks;
  u->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
  u->idle_timeout_ms = DEFAULT_IDLE_MS;
  rc = uv_random(NULL, NULL, seed, sizeof seed, 0, NULL);
  if (rc != 0) {
    VTG_ERROR("uv_random: %s", uv_strerror(rc));
    return rc;
  }
  u->rng = seed[1] ? seed[1] : 0x9E3779B97F4A7C15ULL;
  {
    char err[1024];
    if ((rc = vtg_tls_conf_require(&cfg->tls, "agent config", err, sizeof err)) != 0) {
      VTG_ERROR("%s", err);
      return rc;
    }
    if (cfg->tls.mode == VTG_TLS_PLAINTEXT) {
      VTG_WARN("the uplink runs without TLS (plaintext: true): results and the agent's identity "
               "cross the network in the clear");
    } else if ((rc = vtg_tls_ctx_new(0, cfg->tls.cert, cfg->tls.key, cfg->tls.ca, &u->tls_ctx,
                                     err, sizeof err)) != 0) {
      VTG_ERROR("uplink: %s", err);
      return rc;
    }
  }
  {
    vtg_spool_opts_t so = {.dir = cfg->spool_dir ? cfg->spool_dir : VTG_SPOOL_DIR_DEFAULT,
                           .max_bytes = cfg->spool_max_bytes,
                           .fsync = cfg->spool_fsync};
    char err[600];
    rc = vtg_spool_open(&u->spool, &so, err, sizeof err);
    if (rc != 0) {
      VTG_ERROR("%s", err);
      vtg_tls_ctx_free(u->tls_ctx);
      u->tls_ctx = NULL;
      return rc;
    }
  }
  /* The epoch belongs to the spool: a restart continues it, a wiped spool
   * starts a new one, so the coordinator never takes new results for a
   * replay of old ones. */
  u->epoch = vtg_spool_epoch(u->spool);
  u->send_seq = vtg_spool_acked(u->spool) + 1;
  if (cfg->max_pending != 0)
    VTG_WARN("max_pending is deprecated and ignored: unacknowledged results are kept in the "
             "on-disk spool (spool_dir), bounded by spool_max_bytes");
  vtg_frame_reader_init(&u->reader, VTG_FRAME_DEFAULT_MAX);
  vtg_arena_init(&u->arena, ARENA_LIMIT);
  vtg_arena_init(&u->batch_arena, BATCH_ARENA_LIMIT);
  /* Timer init cannot fail on a live loop; these never return an error in
   * libuv, but check anyway and unwind nothing (no handle is active yet). */
  if ((rc = uv_timer_init(loop, &u->reconnect_timer)) != 0 ||
      (rc = uv_timer_init(loop, &u->heartbeat_timer)) != 0 ||
      (rc = uv_timer_init(loop, &u->idle_timer)) != 0 ||
      (rc = uv_timer_init(loop, &u->flush_timer)) != 0 ||
      (rc = uv_timer_init(loop, &u->sync_timer)) != 0) {
    vtg_frame_reader_free(&u->reader);
    vtg_arena_free(&u->arena);
    vtg_arena_free(&u->batch_arena);
    vtg_spool_close(u->spool);
    u->spool = NULL;
    vtg_tls_ctx_free(u->tls_ctx);
    u->tls_ctx = NULL;
    return rc;
  }
  VTG_INFO("agent %s (%s, %s) spool epoch %016" PRIx64, cfg->id, cfg->region, cfg->country,
           u->epoch);
  (void)uv_timer_start(&u->reconnect_timer, reconnect_timer_cb, 0, 0);
  return 0;
}

static void timer_closed(uv_handle_t *h) {
  vtg_uplink_t *u = h->data;
  u->pending_closes--;
  maybe_closed(u);
}

/* Our side is shut down; the coordinator acknowledges what it got and
 * closes when it sees our EOF (drain_read), unless this failed. */
static void drain_done(uv_shutdown_t *req, int status) {
  conn_t *c = container_of(req, conn_t, shutdown_req);
  if (status < 0) conn_close(c);
}

static void drain_timeout(uv_timer_t *t) {
  conn_t *c = container_of(t, conn_t, drain_timer);
  VTG_WARN("coordinator did not take the last results within %d ms", DRAIN_MS);
  conn_close(c); /* cancels the shutdown; drain_done then finds it closing */
}

/* At a clean stop, hands what is queued but unsent to the socket, shuts
 * the write side down and keeps reading Acks until the coordinator closes,
 * so a restart loses neither the last 200 ms of results nor their Acks; a
 * stalled coordinator gets DRAIN_MS. Returns 0 when the drain owns the
 * connection now. */
static int drain(vtg_uplink_t *u, conn_t *c) {
  int rc;
  if ((rc = uv_timer_init(u->loop, &c->drain_timer)) != 0) return rc;
  c->draining = 1;
  if ((rc = uv_timer_start(&c->drain_timer, drain_timeout, DRAIN_MS, 0)) != 0) return rc;
  return uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, drain_done);
}

void vtg_uplink_close(vtg_uplink_t *u, vtg_uplink_close_cb close_cb) {
  uv_timer_t *timers[] = {&u->reconnect_timer, &u->heartbeat_timer, &u->idle_timer,
                          &u->flush_timer, &u->sync_timer};
  u->close_cb = close_cb;
  /* Everything spooled becomes durable now, whatever happens next. */
  (void)vtg_spool_sync(u->spool);
  if (u->conn != NULL && u->welcomed) {
    /* Everything unsent goes out now, in as many batches as needed. */
    u->last_batch_mono = 0;
    while (u->conn != NULL && u->send_seq <= vtg_spool_durable_seq(u->spool)) {
      uint64_t before = u->send_seq;
      flush_now(u);
      if (u->send_seq == before) break; /* the socket is backed up */
    }
  }
  u->closing = 1;
  if (u->sync_busy) {
    /* sync_after_cb still runs (cancelled or done) and ends the job. */
    u->pending_closes++;
    (void)uv_cancel((uv_req_t *)&u->sync_work);
  }
  if (u->gai_active) {
    /* gai_cb still runs (cancelled or with a result) and frees it. */
    u->pending_closes++;
    (void)uv_cancel((uv_req_t *)&u->gai_req);
  }
  if (u->conn != NULL) {
    conn_t *c = u->conn;
    int drained = u->welcomed && drain(u, c) == 0;
    u->conn = NULL;
    u->pending_closes++;
    if (!drained) conn_close(c);
  }
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
    timers[i]->data = u;
    u->pending_closes++;
    uv_close((uv_handle_t *)timers[i], timer_closed);
  }
  /* The spool and reader are closed and freed by the last close callback. */
  maybe_closed(u);
}
