/* The agent listener: one session per TCP connection, frames, Hello /
 * Welcome / CheckSet, result batches into the ingest, acks, heartbeats and
 * the idle timeout. */
#ifndef VTG_SERVER_H
#define VTG_SERVER_H

#include "coord.h"

typedef struct vtg_server_s vtg_server_t;

/* Listens on "HOST:PORT" (port 0 picks one; logged as
 * "agents listening on HOST:PORT"). Returns 0 or a libuv error. */
int vtg_server_start(vtg_coord_t *c, const char *listen, vtg_server_t **out);
/* Pushes a fresh CheckSet to every connected agent (after a reload). */
void vtg_server_push_checksets(vtg_server_t *s);
void vtg_server_stop(vtg_server_t *s);
/* Sends Ack{a->epoch, a->durable_seq} on a's current session, if it has
 * one that is ready (the ingest calls it when a batch is durable). */
void vtg_server_ack(vtg_agent_t *a);

#endif
