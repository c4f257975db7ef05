/* The coordinator daemon's shared state: what the agent server, the ingest,
 * the detector, the store and the HTTP API all look at. Owned by the loop
 * thread; nothing here is touched from another thread. */
#ifndef VTG_COORD_H
#define VTG_COORD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clocksync.h"
#include "config.h"
#include "detect.h"
#include "store.h"

struct vtg_session_s;
struct vtg_server_s;
struct vtg_http_s;
struct vtg_resultlog_s;
struct vtg_ingest_pending_s;
struct vtg_checkstats_s;
struct vtg_maint_s;
struct vtg_rollup_s;
struct vtg_addrs_s;

/* An agent the coordinator has seen since it started (connected or not). */
typedef struct vtg_agent_s {
  uint32_t idx;               /* dense; the detector's agent id */
  char *id;
  char *region, *country;     /* the registry's place wins over the Hello's */
  double lat, lon;
  uint32_t region_idx;
  char *version;              /* software version from Hello */
  char *address;              /* peer "ip:port" of the current/last connection */
  int connected;
  int64_t connected_since_us; /* wall clock */
  int64_t last_seen_us;       /* wall clock of the last frame */
  uint64_t epoch;             /* spool epoch of the current session */
  uint64_t acked_seq;         /* highest contiguous sequence stored for epoch */
  int64_t complete_before_us; /* the agent's own watermark, corrected to our clock */
  int64_t complete_before_raw_us; /* the same as the agent sent it (its clock) */
  uint64_t results_total;     /* results accepted */
  uint64_t duplicates_total;  /* results dropped as already seen */
  /* The durable result log (resultlog.h; ingest.c): */
  uint64_t durable_seq;       /* highest contiguous sequence of epoch durably logged: what is acked */
  uint64_t results_stored;    /* its records in the result log: found at start + made durable since */
  int64_t resume_hold_us;     /* after a restart, its last logged probe time: holds the watermark
                                 until it is back (its spool has what we missed); 0 = none */
  int64_t last_batch_us;      /* wall clock when its last ResultBatch arrived; 0 = none yet */
  uint32_t checks_pushed;     /* checks in the CheckSet last pushed to it */
  /* Clock correction (clocksync.h; ingest.c applies it): */
  vtg_clocksync_t clock;      /* heartbeat round trips of the current session */
  int clock_known;            /* an estimate exists (kept across reconnects) */
  int64_t clock_offset_us;    /* agent clock minus ours; 0 until known */
  int64_t clock_uncertainty_us; /* +- around clock_offset_us */
  int clock_warned;           /* |offset| > max_clock_offset, warned once */
  struct vtg_session_s *session; /* NULL while disconnected */
} vtg_agent_t;

typedef struct vtg_coord_s {
  uv_loop_t *loop;
  char *config_path;
  vtg_coord_config_t cfg;
  uint32_t *check_ids;        /* cfg.checks[i] has stable id check_ids[i] */
  uint64_t checkset_version;  /* bumped on every reload */
  int32_t *check_index;       /* stable id -> config index, -1 when none (dense by id) */
  uint32_t check_index_len;
  vtg_store_t *store;
  vtg_detect_t *detect;
  vtg_agent_t **agents;       /* by idx */
  size_t n_agents;
  char **regions;             /* region idx -> name */
  size_t n_regions;
  int64_t watermark_us;       /* event time the detector has reached */
  int64_t started_us;
  struct vtg_server_s *server;
  struct vtg_http_s *http;
  struct vtg_rollup_s *rollup; /* per-minute rollups (rollup.h); NULL in unit tests without one */
  uv_timer_t detect_timer;
  uv_timer_t retention_timer;  /* hourly store and result log pruning (coord.c) */
  uv_signal_t sig_hup, sig_term, sig_int;
  int closing;
  char *log_level_override;   /* --log-level, wins over the config's log_level */
  /* Ingest counters (for /metrics): */
  uint64_t results_total;        /* accepted and fed to the detector */
  uint64_t duplicates_total;     /* dropped as already seen (agent, epoch, seq) */
  uint64_t unknown_checks_total; /* results naming a check id not in the config */
  uint64_t invalid_results_total;/* results with an outcome outside the enum */
  uint64_t seq_gaps_total;       /* batches that skipped sequence numbers */
  uint64_t dropped_total;        /* results an agent's spool reported as discarded */
  uint64_t batches_total;
  struct vtg_maint_s *maint;     /* maintenance windows and silences (maint.h, silence.c) */
  struct vtg_checkstats_s *checkstats; /* per (check, region) results for /metrics
                                          (checkstats.h); NULL = not kept */
  struct vtg_addrs_s *addrs;     /* every_address sub-checks, partial incidents, addresses
                                    seen (addrs.h); NULL in unit tests without one */
  /* The durable result log; NULL without one (unit tests): then a batch is
   * acknowledged as soon as it is ingested. */
  struct vtg_resultlog_s *rlog;
  struct vtg_ingest_pending_s *pending; /* FIFO of acks waiting for the disk (ingest.c) */
  size_t pending_head, pending_len, pending_alloc;
  uint64_t replayed_total;       /* results replayed from the log into the detector at start */
  uint64_t log_corrupt_total;    /* damaged stretches skipped by the start-up scan */
  uint64_t log_truncated_total;  /* torn segment tails skipped by the start-up scan */
} vtg_coord_t;

/* serve: loads the config, opens the store, starts listeners; runs until
 * SIGTERM/SIGINT. Returns the process exit status. */
int vtg_coord_serve(const char *config_path);
/* Same, with the log level given on the command line (NULL: the config's). */
int vtg_coord_serve_opts(const char *config_path, const char *log_level);

/* Agent table helpers. */
vtg_agent_t *vtg_coord_agent_find(vtg_coord_t *c, const char *id);
/* Finds or adds the agent; sets region (interning it) and place. */
int vtg_coord_agent_get(vtg_coord_t *c, const char *id, const char *region,
                        vtg_agent_t **out);
/* Region index by name, interned on first use (and told to the detector). */
int vtg_coord_region_idx(vtg_coord_t *c, const char *name, uint32_t *out);
/* Config index of the check with stable id, or -1. */
int vtg_coord_check_index(const vtg_coord_t *c, uint32_t check_id);

#endif
