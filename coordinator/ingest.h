/* The ingest: what happens to a ResultBatch between the agent session and
 * the detector. Per result: deduplication by (agent, epoch, sequence), then
 * clock correction (the heartbeat offset estimate), then the durable result
 * log (acks wait for it), then the detector. Loop thread only. */
#ifndef VTG_INGEST_H
#define VTG_INGEST_H

#include "coord.h"
#include "resultlog.h"
#include "vantage.pb-c.h"
#include "vtg/wire.h"

/* Ingests one batch from agent a. Afterwards a->epoch / a->acked_seq are
 * what was received; the Ack (vtg_server_ack, a->durable_seq) goes out once
 * the result log has it on disk (at once without a log, c->rlog NULL).
 * Duplicates, unknown check ids and invalid results are counted and
 * skipped, never fatal. Returns 0; VTG_EPROTO when the batch itself is
 * malformed (results without a first_seq): the session should send an
 * Error and close; VTG_ELIMIT / VTG_ENOMEM when the result log cannot take
 * more now: the results before the refused one are taken, the rest is not
 * acknowledged, and the session should close so that the agent replays. */
int vtg_ingest_batch(vtg_coord_t *c, vtg_agent_t *a, const Vantage__ResultBatch *b);

/* The agent's spool discarded first_seq..last_seq: move the acknowledged
 * sequence past the hole so that later results are contiguous again.
 * Returns 0 or VTG_EPROTO (an empty or inverted range). */
int vtg_ingest_dropped(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Dropped *d);

/* One heartbeat round trip of agent a: our Heartbeat carried our clock
 * coord_sent_us, the agent's answer carried its clock agent_sent_us and
 * arrived at coord_recv_us (our wall clock). Updates a's offset estimate
 * (a->clock_offset_us, min-RTT over recent round trips), re-corrects its
 * watermark, and logs once per episode when the offset exceeds the
 * config's max_clock_offset. A sample that cannot be a round trip is
 * ignored (logged at debug). */
void vtg_ingest_clock_sample(vtg_coord_t *c, vtg_agent_t *a, int64_t coord_sent_us,
                             int64_t agent_sent_us, int64_t coord_recv_us);

/* Starts a new session of agent a with spool epoch: a different epoch than
 * the one known resets the acknowledged sequence. */
void vtg_ingest_session_start(vtg_coord_t *c, vtg_agent_t *a, uint64_t epoch);

/* The result log's durable callback (ctx = the coordinator): sends the
 * Acks that waited for generations up to gen and counts the stored
 * results. */
void vtg_ingest_durable(void *ctx, uint64_t gen);

/* Start-up, for each record of the result log in order (before any agent
 * connects): restores the agent (registry place when there is one; agents
 * no longer in the registry are skipped), its epoch and acknowledged
 * sequence, counts it as stored, and when its corrected probe time is at or
 * after since_us feeds it to the detector (decoded into arena, reset per
 * record) and moves a->resume_hold_us. Returns 0 or VTG_ENOMEM. */
int vtg_ingest_replay(vtg_coord_t *c, const vtg_resultlog_rec_t *rec, int64_t since_us,
                      vtg_arena_t *arena);

/* Frees the waiting Acks (shutdown). */
void vtg_ingest_free(vtg_coord_t *c);

#endif
