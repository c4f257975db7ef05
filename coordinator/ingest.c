/* The ingest pipeline of one result batch. Stages, in order, per result:
 *   1. dedup: (agent, epoch, seq) at or below the acknowledged sequence of
 *      that epoch was seen before (a replay after a reconnect);
 *   2. clock correction: the agent clock to the coordinator's (identity for
 *      now; the offset estimate from heartbeats slots in corrected_start);
 *   3. the durable result log (later: the batch is acknowledged only once
 *      it is written there, so the ack moves to the log's commit callback);
 *   4. the detector, by probe timestamp.
 * Nothing here blocks or allocates per result. */
#include "ingest.h"

#include <inttypes.h>

#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

void vtg_ingest_session_start(vtg_coord_t *c, vtg_agent_t *a, uint64_t epoch) {
  (void)c;
  if (a->epoch == epoch) return;
  /* A new spool epoch means the agent's sequence starts over; what we
   * acknowledged for the old epoch says nothing about the new one. */
  if (a->epoch != 0 || a->acked_seq != 0)
    VTG_INFO("agent %s: new spool epoch %016" PRIx64 " (was %016" PRIx64 ", acked %" PRIu64 ")",
             a->id, epoch, a->epoch, a->acked_seq);
  a->epoch = epoch;
  a->acked_seq = 0;
}

/* Agent clock -> coordinator clock. No correction yet (a later issue: a
 * Cristian-style offset per agent from the heartbeat round trips). */
static int64_t corrected_start(const vtg_agent_t *a, int64_t start_us) {
  (void)a;
  return start_us;
}

static int outcome_valid(Vantage__Outcome o) {
  return o == VANTAGE__OUTCOME__OUTCOME_UP || o == VANTAGE__OUTCOME__OUTCOME_DEGRADED ||
         o == VANTAGE__OUTCOME__OUTCOME_DOWN;
}

/* Places one fresh result; returns 1 when it reached the detector. */
static int ingest_one(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Result *r) {
  if (vtg_coord_check_index(c, r->check_id) < 0) {
    /* Typically a result of a check removed by a reload, probed before the
     * agent got its new CheckSet. */
    c->unknown_checks_total++;
    return 0;
  }
  if (!outcome_valid(r->outcome) || r->start_us <= 0) {
    c->invalid_results_total++;
    return 0;
  }
  int ec = (int)r->error_class;
  if (ec < 0 || ec >= VTG_N_ERROR_CLASSES) ec = VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
  if (r->outcome != VANTAGE__OUTCOME__OUTCOME_DOWN) ec = VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE;
  vtg_detect_result_t d = {
      .agent = a->idx,
      .check = r->check_id,
      .start_us = corrected_start(a, r->start_us),
      .total_us = r->total_us,
      .outcome = (int)r->outcome,
      .error_class = ec,
  };
  int err = vtg_detect_feed(c->detect, &d);
  if (err != 0) {
    c->invalid_results_total++;
    VTG_DEBUG("agent %s: result for check %" PRIu32 " refused by the detector: %s", a->id,
              r->check_id, vtg_strerror(err));
    return 0;
  }
  return 1;
}

int vtg_ingest_batch(vtg_coord_t *c, vtg_agent_t *a, const Vantage__ResultBatch *b) {
  if (b->n_results > 0 && (b->first_seq == 0 || b->first_seq > UINT64_MAX - b->n_results))
    return VTG_EPROTO;
  vtg_ingest_session_start(c, a, b->spool_epoch);
  c->batches_total++;
  a->last_batch_us = vtg_clock_wall_us();

  if (b->n_results > 0 && b->first_seq > a->acked_seq + 1) {
    /* Not expected in this version (the agent's Dropped message covers
     * discarded ranges); accept, as waiting would stall the agent forever. */
    c->seq_gaps_total++;
    VTG_WARN("agent %s epoch %016" PRIx64 ": sequence gap, %" PRIu64 "..%" PRIu64
             " never arrived; accepting from %" PRIu64,
             a->id, a->epoch, a->acked_seq + 1, b->first_seq - 1, b->first_seq);
  }
  for (size_t i = 0; i < b->n_results; i++) {
    uint64_t seq = b->first_seq + i;
    if (seq <= a->acked_seq) {
      a->duplicates_total++;
      c->duplicates_total++;
      continue;
    }
    a->acked_seq = seq;
    if (ingest_one(c, a, b->results[i])) {
      a->results_total++;
      c->results_total++;
    }
  }
  /* The agent's own watermark only moves forward; an older value (a
   * replayed batch) says nothing new. Corrected like the start times. */
  if (b->complete_before_us > 0) {
    int64_t cb = corrected_start(a, b->complete_before_us);
    if (cb > a->complete_before_us) a->complete_before_us = cb;
  }
  return 0;
}

int vtg_ingest_dropped(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Dropped *d) {
  if (d->first_seq == 0 || d->last_seq < d->first_seq) return VTG_EPROTO;
  vtg_ingest_session_start(c, a, d->spool_epoch);
  if (d->last_seq <= a->acked_seq) return 0; /* nothing we still wait for */
  uint64_t n = d->last_seq - d->first_seq + 1;
  c->dropped_total += n;
  if (a->acked_seq == 0 && d->first_seq == 1)
    /* The usual case after a coordinator restart: acknowledged sequence
     * numbers are not kept across restarts yet, so the agent reports the
     * results it already deleted after our earlier acks. */
    VTG_INFO("agent %s epoch %016" PRIx64 ": results 1..%" PRIu64
             " are gone from its spool (acknowledged before a restart, or discarded)",
             a->id, a->epoch, d->last_seq);
  else
    VTG_WARN("agent %s epoch %016" PRIx64 ": its spool discarded %" PRIu64 " results (%" PRIu64
             "..%" PRIu64 ")",
             a->id, a->epoch, n, d->first_seq, d->last_seq);
  if (d->first_seq <= a->acked_seq + 1 && d->last_seq > a->acked_seq) a->acked_seq = d->last_seq;
  return 0;
}
