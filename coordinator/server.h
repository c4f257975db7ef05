/* The agent listener: one session per TCP connection, frames, Hello /
 * Welcome / CheckSet, result batches into the ingest, acks, heartbeats and
 * the idle timeout. */
#ifndef VTG_SERVER_H
#define VTG_SERVER_H

#include "coord.h"

typedef struct vtg_server_s vtg_server_t;

/* Listens on "HOST:PORT" (port 0 picks one; logged as
 * "agents listening on HOST:PORT"). With cfg.tls on it requires client
 * certificates from the configured CA; with plaintext it logs a warning.
 * Returns 0, a libuv error or VTG_EPROTO (the TLS files, logged). */
int vtg_server_start(vtg_coord_t *c, const char *listen, vtg_server_t **out);
struct vtg_burst_s;

/* Pushes a fresh CheckSet to every connected agent (after a reload), with
 * phases recomputed over the new config. */
void vtg_server_push_checksets(vtg_server_t *s);
void vtg_server_stop(vtg_server_t *s);
/* After a reload: rebuilds the TLS context from the (new) config's files;
 * new connections use it, live ones keep theirs. A context that fails to
 * build leaves the old one in place (logged). */
void vtg_server_reload_tls(vtg_server_t *s);
/* Sends Ack{a->epoch, a->durable_seq} on a's current session, if it has
 * one that is ready (the ingest calls it when a batch is durable). */
void vtg_server_ack(vtg_agent_t *a);

/* Something the phases or intervals depend on changed (an agent came or
 * went, a check's cadence): within REPHASE_DEBOUNCE_MS (200 ms) phases are
 * recomputed (phase.h) and only the agents whose checks, intervals or
 * phases changed get a new CheckSet. NULL allowed. */
void vtg_server_fleet_changed(vtg_server_t *s);
/* The server's burst state (burst.h); NULL for a NULL server. */
struct vtg_burst_s *vtg_server_burst(vtg_server_t *s);
/* Sends ProbeNow{check_ids} to agent a. Returns 0, UV_ENOTCONN (no live
 * session) or a send error (the session is then closed). */
int vtg_server_probe_now(vtg_agent_t *a, const uint32_t *check_ids, size_t n);
/* Time until agent a's next scheduled probe of check_id after now_us, by
 * the interval and phase last planned for it (agents align turns to the
 * wall clock). Returns 0, UV_ENOTCONN or UV_ENOENT (it does not run the
 * check). */
int vtg_server_next_probe_us(const vtg_agent_t *a, uint32_t check_id, int64_t now_us,
                             int64_t *until_us);

#endif
