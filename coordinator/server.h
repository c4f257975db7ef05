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
/* Pushes a fresh CheckSet to every connected agent (after a reload). */
void vtg_server_push_checksets(vtg_server_t *s);
void vtg_server_stop(vtg_server_t *s);
/* After a reload: rebuilds the TLS context from the (new) config's files;
 * new connections use it, live ones keep theirs. A context that fails to
 * build leaves the old one in place (logged). */
void vtg_server_reload_tls(vtg_server_t *s);
/* Sends Ack{a->epoch, a->durable_seq} on a's current session, if it has
 * one that is ready (the ingest calls it when a batch is durable). */
void vtg_server_ack(vtg_agent_t *a);

#endif
