/* The ingest: what happens to a ResultBatch between the agent session and
 * the detector. Per result: deduplication by (agent, epoch, sequence), then
 * (in a later version) clock correction and the durable result log, then the
 * detector. Loop thread only. */
#ifndef VTG_INGEST_H
#define VTG_INGEST_H

#include "coord.h"
#include "vantage.pb-c.h"

/* Ingests one batch from agent a. Afterwards a->epoch / a->acked_seq are
 * what to acknowledge. Duplicates, unknown check ids and invalid results
 * are counted and skipped, never fatal. Returns 0, or VTG_EPROTO when the
 * batch itself is malformed (results without a first_seq): the session
 * should send an Error and close. */
int vtg_ingest_batch(vtg_coord_t *c, vtg_agent_t *a, const Vantage__ResultBatch *b);

/* The agent's spool discarded first_seq..last_seq: move the acknowledged
 * sequence past the hole so that later results are contiguous again.
 * Returns 0 or VTG_EPROTO (an empty or inverted range). */
int vtg_ingest_dropped(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Dropped *d);

/* Starts a new session of agent a with spool epoch: a different epoch than
 * the one known resets the acknowledged sequence. */
void vtg_ingest_session_start(vtg_coord_t *c, vtg_agent_t *a, uint64_t epoch);

#endif
