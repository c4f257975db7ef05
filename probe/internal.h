/* Internal API of vantage-probe, the agent daemon. Nobody outside probe/
 * (and its unit tests) includes this header.
 *
 * Everything here runs on the one loop thread. Module map:
 *   config      agent YAML config (identity, coordinator address, limits)
 *   sched       min-heap of wall-clock deadlines driven by one uv_timer
 *   curl_uv     one CURLM driven by libuv (multi_socket_action)
 *   check       a check's definition (spec) and the table that starts the
 *               probe of its type
 *   http_check  one HTTP probe = one easy handle; timings and classification
 *               (also the TLS check: a handshake-only transfer)
 *   tcp_check   one TCP connect
 *   dns_check   one DNS query with c-ares on the loop
 *   uplink      the session with the coordinator: frames, batching, acks
 *   agent       lifecycle: ties the above together, owns the check set
 */
#ifndef VTG_PROBE_INTERNAL_H
#define VTG_PROBE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "vantage.pb-c.h"
#include "vtg/frame.h"
#include "vtg/log.h"
#include "vtg/tls.h"
#include "vtg/wire.h"
#include "spool.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

/* ------------------------------------------------------------------ config */

typedef struct vtg_probe_config_s {
  char *id;              /* agent id, required */
  char *region;          /* required */
  char *country;         /* required */
  double lat;            /* required, -90..90 */
  double lon;            /* required, -180..180 */
  char *coord_host;      /* from "coordinator: HOST:PORT" ("[v6]:port" allowed) */
  uint16_t coord_port;
  char *source_address;  /* IP literal or NULL: probes and uplink bind to it */
  enum vtg_log_level log_level; /* default info */
  uint64_t max_pending;  /* deprecated, ignored (0 = not set): the spool is bounded by bytes */
  char *spool_dir;       /* default VTG_SPOOL_DIR_DEFAULT */
  uint64_t spool_max_bytes; /* default VTG_SPOOL_MAX_BYTES_DEFAULT */
  vtg_spool_fsync_t spool_fsync; /* default batch */
  char *ca_file;         /* CA bundle for HTTPS/TLS checks, NULL = the system store */
  vtg_tls_conf_t tls;    /* the uplink: mutual TLS or explicit plaintext */
  char *metrics_listen;  /* "IP:PORT" of the agent's own /metrics, NULL = off */
} vtg_probe_config_t;

#define VTG_PROBE_MAX_PENDING_MAX 10000000u /* still range-checked, then ignored */

/* Loads and validates the agent config at path into cfg (zeroed first).
 * Returns 0, VTG_ECONFIG or VTG_EIO; on error err holds
 * "FILE:LINE:COL: what" (or the I/O reason) and cfg is left empty. */
int vtg_probe_config_load(vtg_probe_config_t *cfg, const char *path, char *err, size_t errlen);
/* Frees the strings of cfg; safe on a zeroed or already freed cfg. */
void vtg_probe_config_free(vtg_probe_config_t *cfg);

/* ------------------------------------------------------------------- clock */

/* The agent's wall clock in unix us: what every timestamp the agent sends
 * is read from (probe start_us, complete_before_us, heartbeat sent_us).
 * It is the system clock plus a test-only skew (--clock-skew-ms). The
 * scheduler's grid stays on the true clock (vtg_clock_wall_us). */
int64_t vtg_probe_clock_wall_us(void);
/* Sets the skew; called once at start-up, before the loop runs. */
void vtg_probe_clock_set_skew_us(int64_t skew_us);

/* ------------------------------------------------------------------- sched */

/* A scheduled item, embedded in its owner (container_of gets it back). */
typedef struct vtg_sched_entry_s {
  int64_t due_us;   /* wall clock, unix us */
  int64_t period_us; /* the owner's interval, 0 = none: lets a wall-clock step
                        back be undone by whole periods, keeping the phase */
  size_t idx;       /* position in the heap; SIZE_MAX when not scheduled */
} vtg_sched_entry_t;

typedef struct vtg_sched_s vtg_sched_t;
/* Called once per entry whose deadline has passed; the entry is already
 * unscheduled and may be re-added (or freed) by the callback. */
typedef void (*vtg_sched_cb)(vtg_sched_t *s, vtg_sched_entry_t *e);
typedef void (*vtg_sched_close_cb)(vtg_sched_t *s);

struct vtg_sched_s {
  void *data;                 /* the owner's */
  uv_timer_t timer;           /* armed for the heap head */
  vtg_sched_entry_t **heap;   /* min-heap on due_us; owned array, entries not owned */
  size_t n;
  size_t alloc;
  vtg_sched_cb cb;
  vtg_sched_close_cb close_cb;
  int64_t wall_minus_mono;    /* at the last wake-up, to notice clock steps */
};

int vtg_sched_init(uv_loop_t *loop, vtg_sched_t *s, vtg_sched_cb cb);
/* Forgets all entries (they are not touched) and closes the timer; close_cb
 * runs once the handle is closed (the heap array is freed before). */
void vtg_sched_close(vtg_sched_t *s, vtg_sched_close_cb close_cb);
/* Schedules e at due_us (wall clock), or moves it there when it already is
 * scheduled. Returns 0 or VTG_ENOMEM. */
int vtg_sched_add(vtg_sched_t *s, vtg_sched_entry_t *e, int64_t due_us);
/* Unschedules e; a no-op when it is not scheduled. */
void vtg_sched_remove(vtg_sched_t *s, vtg_sched_entry_t *e);
static inline void vtg_sched_entry_init(vtg_sched_entry_t *e) {
  e->due_us = 0;
  e->period_us = 0;
  e->idx = SIZE_MAX;
}
/* The first time strictly after now_us that is phase_ms + k * interval_ms
 * after the unix epoch (so every agent's turn is aligned to the wall clock
 * and spread only by its phase). interval_ms must be > 0. */
int64_t vtg_sched_next_due(int64_t now_us, uint32_t interval_ms, uint32_t phase_ms);
/* The next turn of a check whose interval or phase the coordinator just
 * changed (a new CheckSet: fleet re-phasing, incident cadence), so that the
 * change never puts two probes closer than interval/4 nor leaves a gap of
 * more than the old interval plus the new one (old + new/2 when the
 * interval stays or grows). last_us: start of its
 * latest probe (0 = none); old_due_us: the turn it had (0 = none);
 * old_interval_ms: the interval it had. A shorter interval takes the first
 * new turn that keeps interval/4 after the last probe and is not in the
 * past (or, when a whole new interval has passed since the last probe and
 * that turn is more than interval/4 away, at once); otherwise the new turn
 * nearest the old one; when that is too early
 * (or already past) the check fires once, off the grid, at the earliest
 * allowed moment, and is on the new grid from then on. */
int64_t vtg_sched_rephase(int64_t now_us, int64_t last_us, int64_t old_due_us,
                          uint32_t old_interval_ms, uint32_t interval_ms, uint32_t phase_ms);

/* ----------------------------------------------------------------- curl_uv */

typedef struct vtg_curl_uv_s vtg_curl_uv_t;
/* A transfer finished: easy has been removed from the multi handle and is
 * now the callback's to clean up. */
typedef void (*vtg_curl_uv_done_cb)(vtg_curl_uv_t *cu, CURL *easy, CURLcode result);
typedef void (*vtg_curl_uv_close_cb)(vtg_curl_uv_t *cu);

struct vtg_curl_uv_s {
  void *data;                    /* the owner's */
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;              /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
  struct vtg_curl_sock_s *socks; /* live uv_poll contexts, for shutdown */
  vtg_curl_uv_done_cb done_cb;
  vtg_curl_uv_close_cb close_cb;
  int pending_closes;            /* handles whose close callback is due */
  int closing;
};

/* Creates the multi handle and its timer. Returns 0, VTG_ECURL or a libuv
 * error; on error nothing needs closing. */
int vtg_curl_uv_init(uv_loop_t *loop, vtg_curl_uv_t *cu, vtg_curl_uv_done_cb done_cb);
/* Starts a transfer. Returns 0 or VTG_ECURL (then easy is still the
 * caller's and done_cb never runs for it). */
int vtg_curl_uv_add(vtg_curl_uv_t *cu, CURL *easy);
/* Takes a running transfer out of the multi handle without calling done_cb;
 * the caller cleans up easy. */
void vtg_curl_uv_remove(vtg_curl_uv_t *cu, CURL *easy);
/* Cleans up the multi handle and closes every uv handle; close_cb runs once
 * all are closed. Every transfer must have been removed before. */
void vtg_curl_uv_close(vtg_curl_uv_t *cu, vtg_curl_uv_close_cb close_cb);

/* -------------------------------------------------------------- http_check */

/* One probe result as the agent keeps it until acknowledged: fixed size, so
 * the pending queue needs no per-result allocation. */
#define VTG_PROBE_ADDR_MAX 48    /* >= INET6_ADDRSTRLEN */
#define VTG_PROBE_DETAIL_MAX 200 /* error_detail is capped at this many chars */
#define VTG_PROBE_ISSUER_MAX 120 /* cert_issuer likewise */

typedef struct vtg_probe_result_s {
  uint64_t seq;               /* set by the uplink */
  uint32_t check_id;
  int64_t start_us;
  uint32_t dns_us, connect_us, tls_us, ttfb_us, total_us;
  uint32_t http_status;
  uint64_t bytes;
  Vantage__Outcome outcome;
  Vantage__ErrorClass error_class;
  int64_t cert_expiry_unix;
  char cert_issuer[VTG_PROBE_ISSUER_MAX + 1];
  char resolved_addr[VTG_PROBE_ADDR_MAX];
  char error_detail[VTG_PROBE_DETAIL_MAX + 1];
  uint32_t turn_addresses;    /* every_address: addresses probed this turn, 0 otherwise */
} vtg_probe_result_t;

typedef struct vtg_status_range_s {
  uint32_t lo, hi;
} vtg_status_range_t;

/* What the classifier looks at; all plain data so it can be unit-tested. */
typedef struct vtg_http_facts_s {
  CURLcode code;
  long os_errno;             /* CURLINFO_OS_ERRNO */
  int64_t connect_time_us;   /* CURLINFO_CONNECT_TIME_T (cumulative); 0 = never connected */
  long http_status;          /* 0 when no response */
  int64_t total_us;
  uint32_t max_latency_ms;   /* 0 = no latency assertion */
  const vtg_status_range_t *accept; /* NULL/0 = 200-399 */
  size_t n_accept;
  int no_status;             /* a handshake-only transfer (TLS check): no status to judge */
  int assertion_failed;      /* body regex or certificate days: down, class assertion */
} vtg_http_facts_t;

/* Maps the facts of a finished transfer to an outcome and an error class
 * (DESIGN.md's fixed set). Pure; never fails. */
void vtg_http_classify(const vtg_http_facts_t *f, Vantage__Outcome *outcome,
                       Vantage__ErrorClass *error_class);

/* -------------------------------------------------------------- check */

/* One check as the agent runs it, copied from the coordinator's Check and
 * validated. Reference counted: the check and each of its running probes
 * hold a reference, so a CheckSet that removes or changes a check never
 * pulls the definition from under a probe in flight. */
typedef struct vtg_check_spec_s {
  unsigned refs;
  uint32_t check_id;
  Vantage__CheckType type;
  char *url;                   /* HTTP and TLS */
  char *method;                /* HTTP, never NULL ("GET") */
  uint32_t timeout_ms;
  uint32_t max_latency_ms;
  vtg_status_range_t *accept;  /* NULL/0 = 200-399 */
  size_t n_accept;
  struct curl_slist *headers;  /* HTTP: "Name: value" lines, NULL = none */
  char *body;                  /* HTTP request body, NULL = none */
  int follow_redirects;
  void *body_re;               /* HTTP: compiled regex_t, NULL = none */
  char *target;                /* TCP: "host:port" / "[v6]:port" */
  char *dns_name;
  Vantage__DnsRecord dns_record;
  char **dns_expect;
  size_t n_dns_expect;
  char *dns_resolver;          /* NULL = system resolver */
  uint32_t min_days_left;      /* TLS */
  int ip_version;              /* 0, 4, 6 */
  int every_address;           /* HTTP/TLS/TCP: probe each address of the host (every_addr.c) */
} vtg_check_spec_t;

#define VTG_CHECK_MAX_HEADERS 64
#define VTG_CHECK_MAX_BODY (64 * 1024)
#define VTG_CHECK_MAX_EXPECT 32
#define VTG_CHECK_BODY_CAP (1024 * 1024) /* body kept for body_regex, bytes */

/* Copies and validates m into a new spec (refs = 1) with timeout_ms as the
 * effective timeout. Returns 0, VTG_EINVAL (why says what is wrong with m)
 * or VTG_ENOMEM. */
int vtg_check_spec_new(const Vantage__Check *m, uint32_t timeout_ms, vtg_check_spec_t **out,
                       char *why, size_t whylen);
vtg_check_spec_t *vtg_check_spec_ref(vtg_check_spec_t *s);
/* Drops a reference; frees on the last. NULL allowed. */
void vtg_check_spec_unref(vtg_check_spec_t *s);

struct vtg_probe_s;

/* What every probe may use, owned by the agent. */
typedef struct vtg_check_env_s {
  void *data;                  /* the owner's */
  uv_loop_t *loop;
  vtg_curl_uv_t *cu;
  const char *source_address;  /* NULL = any */
  const char *ca_file;         /* NULL = the system's CA store */
  /* A result of probe p before its final one (an every_address turn gives
   * one per address; the last comes through the probe's callback). r is
   * valid during the call only. NULL: such results are dropped. */
  void (*emit)(struct vtg_probe_s *p, const struct vtg_probe_result_s *r);
} vtg_check_env_t;

typedef struct vtg_probe_s vtg_probe_t;
/* The probe finished; r is valid during the call only. The probe is freed
 * right after the callback returns. */
typedef void (*vtg_probe_cb)(vtg_probe_t *p, const vtg_probe_result_t *r);

/* The part every probe type shares; each type's probe embeds it first. */
struct vtg_probe_s {
  /* public */
  void *data;                  /* the owner's */
  vtg_probe_t *prev, *next;    /* for the owner's in-flight list */
  uint32_t check_id;
  int64_t start_us;            /* wall clock when started */
  vtg_check_env_t *env;
  /* private */
  vtg_check_spec_t *spec;      /* a reference */
  vtg_probe_cb cb;
  const struct vtg_check_runner_s *runner;
};

/* One row of the dispatch table per check type. start sets *out to a
 * probe whose base is filled in except for data/cb/runner; it returns 0 or
 * an error (then nothing is left running). abort stops and frees it
 * without a callback. */
typedef struct vtg_check_runner_s {
  Vantage__CheckType type;
  const char *name;
  int (*start)(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out);
  void (*abort)(vtg_probe_t *p);
  /* The same probe pinned to one address (an IP literal) with its own
   * timeout; NULL for types that cannot be pinned (DNS). */
  int (*start_at)(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                  uint32_t timeout_ms, vtg_probe_t **out);
} vtg_check_runner_t;

/* Starts a probe of spec with the runner of its type. *out is set on
 * success (the probe lives until cb runs or vtg_probe_abort). Returns 0 or
 * an error; on error cb never runs. */
int vtg_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_cb cb, void *data,
                    vtg_probe_t **out);
/* Stops a running probe and frees it; cb does not run. */
void vtg_probe_abort(vtg_probe_t *p);
/* Starts a probe of spec's type (HTTP, TLS, TCP) pinned to addr with
 * timeout_ms, whatever spec->every_address says (every_addr.c's per-address
 * probes). Returns 0 or an error (VTG_EINVAL for a type that cannot be
 * pinned); on error cb never runs. */
int vtg__probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                        uint32_t timeout_ms, vtg_probe_cb cb, void *data, vtg_probe_t **out);
/* For the runners: fills the shared part of p (takes a spec reference). */
void vtg__probe_base_init(vtg_probe_t *p, vtg_check_env_t *env, vtg_check_spec_t *spec);
/* For the runners: hands r to the owner's callback, then drops the spec
 * reference; the runner frees its probe afterwards. */
void vtg__probe_finish(vtg_probe_t *p, const vtg_probe_result_t *r);
/* Copies at most size - 1 bytes of src and terminates (capped fields). */
void vtg__copy_capped(char *dst, size_t size, const char *src);
/* Clamps a microsecond count into a result's uint32 field. */
uint32_t vtg__clamp_us(int64_t v);

/* ------------------------------------------------------ http / tls / tcp */

/* Runners (check.c's table calls them). */
int vtg_http_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out);
void vtg_http_probe_abort(vtg_probe_t *p);
int vtg_tcp_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out);
void vtg_tcp_probe_abort(vtg_probe_t *p);
int vtg_http_probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                            uint32_t timeout_ms, vtg_probe_t **out);
int vtg_tcp_probe_start_at(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *addr,
                           uint32_t timeout_ms, vtg_probe_t **out);
/* "host:port" or "[v6]:port" into host and port (tcp_check.c). Returns 0 or
 * VTG_EINVAL. */
int vtg__split_host_port(const char *t, char *host, size_t hsize, char *port, size_t psize);

/* Whether a body (len bytes, not NUL-terminated, may hold NULs) matches the
 * compiled regex re (a regex_t *). Pure. */
int vtg_http_body_matches(const void *re, const char *body, size_t len);
/* Days left before notAfter at now (both unix seconds), rounded down;
 * negative once expired. Pure. */
int64_t vtg_tls_days_left(int64_t not_after, int64_t now);

/* ---------------------------------------------------------------- dns */

int vtg_dns_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out);
void vtg_dns_probe_abort(vtg_probe_t *p);

/* every_address (every_addr.c): at most this many addresses per turn. */
#define VTG_EVERY_ADDR_MAX 8

/* A lookup of a host's addresses on the DNS probe's machinery: A and/or
 * AAAA (spec->ip_version), spec->dns_resolver or the system's servers,
 * within spec->timeout_ms. cb runs once, on a later loop turn, with up to
 * VTG_EVERY_ADDR_MAX addresses (A first) or n = 0 and why; the lookup is
 * freed after cb returns. host must outlive the lookup. */
typedef struct dns_probe_s vtg_dns_resolve_t;
typedef void (*vtg_dns_resolve_cb)(void *arg, const char (*addrs)[VTG_PROBE_ADDR_MAX], size_t n,
                                   uint32_t dns_us, const char *why);
int vtg_dns_resolve_start(vtg_check_env_t *env, vtg_check_spec_t *spec, const char *host,
                          vtg_dns_resolve_cb cb, void *arg, vtg_dns_resolve_t **out);
/* Stops a lookup; cb does not run. */
void vtg_dns_resolve_abort(vtg_dns_resolve_t *q);
/* The every_address runner: resolve, then one pinned probe per address. */
int vtg_every_addr_probe_start(vtg_check_env_t *env, vtg_check_spec_t *spec, vtg_probe_t **out);
void vtg_every_addr_probe_abort(vtg_probe_t *p);

#define VTG_DNS_MAX_ANSWERS 64
#define VTG_DNS_ANSWER_MAX 256

/* The answers of type rec in a raw DNS response (abuf, alen), each as text:
 * A/AAAA in inet_ntop form, CNAME/NS/MX names (MX: the exchange), TXT the
 * record's strings joined. At most max answers are written to out; *n gets
 * their number. Returns 0 or VTG_EINVAL when the message is malformed. */
int vtg_dns_answers(const unsigned char *abuf, int alen, Vantage__DnsRecord rec,
                    char (*out)[VTG_DNS_ANSWER_MAX], size_t max, size_t *n);
/* Whether every expected answer is among the answers (addresses compared
 * as addresses, names without case or final dot, TXT exactly). When one is
 * missing and missing is not NULL, *missing points at it. Pure. */
int vtg_dns_expect_met(Vantage__DnsRecord rec, char (*answers)[VTG_DNS_ANSWER_MAX], size_t n,
                       char *const *expect, size_t n_expect, const char **missing);

/* The curl_uv done callback to install: routes a finished easy handle back
 * to its probe. */
void vtg_http_probe_done(vtg_curl_uv_t *cu, CURL *easy, CURLcode result);

/* ------------------------------------------------------------------ uplink */

typedef struct vtg_uplink_s vtg_uplink_t;

#define VTG_UPLINK_BATCH_MAX 500
#define VTG_UPLINK_FLUSH_MS 200
#define VTG_UPLINK_BACKOFF_MIN_MS 250
#define VTG_UPLINK_BACKOFF_MAX_MS 30000

/* What the uplink needs from the agent. Messages are valid during the call
 * only (they live in the uplink's decode arena). */
typedef struct vtg_uplink_hooks_s {
  void (*on_check_set)(vtg_uplink_t *u, const Vantage__CheckSet *cs);
  void (*on_probe_now)(vtg_uplink_t *u, const Vantage__ProbeNow *pn);
  /* Earliest start_us of probes still running, INT64_MAX when none. */
  int64_t (*in_flight_min_start)(vtg_uplink_t *u);
} vtg_uplink_hooks_t;

typedef void (*vtg_uplink_close_cb)(vtg_uplink_t *u);

/* Where the link stands (the agent's /metrics shows it as a state set). */
typedef enum {
  VTG_UPLINK_CONNECTING = 0, /* resolving or TCP connecting */
  VTG_UPLINK_HANDSHAKING,    /* TCP up; TLS handshake / Hello sent, no Welcome yet */
  VTG_UPLINK_CONNECTED,      /* welcomed: results flow */
  VTG_UPLINK_BACKOFF         /* waiting before the next attempt */
} vtg_uplink_state_t;
#define VTG_UPLINK_N_STATES 4

struct vtg_uplink_s {
  void *data;                       /* the owner's */
  uv_loop_t *loop;
  const vtg_probe_config_t *cfg;
  vtg_uplink_hooks_t hooks;
  uint64_t epoch;                   /* spool epoch: random per agent start */
  uint64_t rng;                     /* jitter state (xorshift) */

  /* connection */
  struct vtg_uplink_conn_s *conn;   /* NULL when none; freed in its close cb */
  vtg_tls_ctx_t *tls_ctx;           /* NULL = plaintext (cfg->tls) */
  uv_getaddrinfo_t gai_req;
  int gai_active;
  int welcomed;
  unsigned attempts;                /* for the backoff; 0 after a Welcome */
  vtg_frame_reader_t reader;
  vtg_arena_t arena;
  uint8_t rbuf[65536];
  uint8_t pbuf[65536];              /* plaintext decrypted from rbuf (TLS) */

  /* timers */
  uv_timer_t reconnect_timer;
  uv_timer_t heartbeat_timer;
  uv_timer_t idle_timer;
  uv_timer_t flush_timer;
  uint32_t heartbeat_ms;
  uint32_t idle_timeout_ms;
  uint64_t last_batch_mono;         /* uv_now() of the last ResultBatch */

  /* unacknowledged results live in the on-disk spool (spool.h); only a
   * bounded read-ahead of them is in memory while a batch is built */
  vtg_spool_t *spool;
  uint64_t send_seq;                /* next seq to send on this connection */
  uv_timer_t sync_timer;            /* fsync "batch": at most every 200 ms */
  uv_work_t sync_work;              /* the fdatasync, on the threadpool */
  vtg_spool_sync_job_t sync_job;
  int sync_busy;                    /* sync_work queued or running */
  vtg_arena_t batch_arena;          /* results unpacked from the spool for a batch */
  uint8_t rec_buf[VTG_SPOOL_RECORD_MAX]; /* one packed result on its way to the spool */

  /* encode scratch for one batch, so a batch costs no per-result malloc */
  vtg_spool_rec_t batch_recs[VTG_UPLINK_BATCH_MAX];
  Vantage__Result *batch_ptrs[VTG_UPLINK_BATCH_MAX];

  /* counters, for logs and the agent's /metrics */
  uint64_t results_total;
  uint64_t reconnects;              /* attempts scheduled after a failure or a lost link */
  uint64_t results_acked;           /* seqs the coordinator acknowledged during this run */
  vtg_uplink_state_t state;

  int closing;
  int pending_closes;
  vtg_uplink_close_cb close_cb;
};

/* Sets up the timers and state and starts connecting. Returns 0 or an error
 * (then nothing needs closing). */
int vtg_uplink_init(uv_loop_t *loop, vtg_uplink_t *u, const vtg_probe_config_t *cfg,
                    const vtg_uplink_hooks_t *hooks);
/* Spools one result: assigns its seq (the spool drops its oldest segments
 * when full; the gap is announced as Dropped), sends at once when a batch
 * is full and durable. */
void vtg_uplink_push(vtg_uplink_t *u, const vtg_probe_result_t *r);
/* Sends what is unsent, drains the Acks, closes the connection and every
 * handle; close_cb runs when all are closed and all memory is freed.
 * Unacknowledged results stay in the spool (synced) for the next start. */
void vtg_uplink_close(vtg_uplink_t *u, vtg_uplink_close_cb close_cb);


/* ------------------------------------------------------------------- agent */

typedef struct vtg_agent_s vtg_agent_t;

/* Creates the agent on loop with cfg (which must outlive the loop run),
 * installs the SIGTERM/SIGINT handlers and starts connecting. Returns 0 or
 * an error (then nothing is left on the loop). On SIGTERM/SIGINT the agent
 * aborts its probes, closes every handle and frees itself, so uv_run
 * returns and the loop can be closed. */
int vtg_agent_start(uv_loop_t *loop, const vtg_probe_config_t *cfg);

#endif
