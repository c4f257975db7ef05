/* The ingest pipeline of one result batch. Stages, in order, per result:
 *   1. dedup: (agent, epoch, seq) at or below the acknowledged sequence of
 *      that epoch was seen before (a replay after a reconnect);
 *   2. clock correction: the agent clock to the coordinator's, by the
 *      agent's offset estimate from heartbeat round trips (clocksync.h);
 *   3. the durable result log (resultlog.h): the raw result and the
 *      correction applied go into the current group commit; the batch's
 *      Ack waits in a FIFO until the log reports that group durable
 *      (vtg_ingest_durable), so an Ack always means "on disk";
 *   4. the detector, by probe timestamp (at once: what reached the log's
 *      buffer is written or the process dies, and then the agent replays
 *      what was not acknowledged).
 * Nothing here blocks or allocates per result. At start-up
 * vtg_ingest_replay feeds the log's tail back through stage 4 and restores
 * each agent's acknowledged sequence. */
#include "ingest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "burst.h"
#include "addrs.h"
#include "checkstats.h"
#include "resultlog.h"
#include "rollup.h"
#include "server.h"
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
  a->durable_seq = 0;
}

/* Agent clock -> coordinator clock: minus the agent's offset estimate (0
 * until its first heartbeat round trip). Saturates instead of overflowing
 * on an absurd timestamp. */
static int64_t corrected_start(const vtg_agent_t *a, int64_t start_us) {
  int64_t off = a->clock_offset_us;
  if (off < 0 && start_us > INT64_MAX + off) return INT64_MAX;
  if (off > 0 && start_us < INT64_MIN + off) return INT64_MIN;
  return start_us - off;
}

/* The agent's watermark in our clock, from the newest one it sent: redone
 * whenever the offset estimate changes, so a watermark corrected with an
 * older estimate (0 before the first round trip) does not linger. It may
 * move back then; the detector's own watermark never does. */
static void correct_complete_before(vtg_agent_t *a) {
  if (a->complete_before_raw_us > 0)
    a->complete_before_us = corrected_start(a, a->complete_before_raw_us);
}

static int64_t abs64(int64_t v) {
  return v < 0 ? (v == INT64_MIN ? INT64_MAX : -v) : v;
}

void vtg_ingest_clock_sample(vtg_coord_t *c, vtg_agent_t *a, int64_t coord_sent_us,
                             int64_t agent_sent_us, int64_t coord_recv_us) {
  int64_t off, unc;
  if (vtg_clocksync_add(&a->clock, coord_sent_us, agent_sent_us, coord_recv_us) != 0) {
    VTG_DEBUG("agent %s: heartbeat round trip ignored (sent %" PRId64 ", agent %" PRId64
              ", received %" PRId64 ")",
              a->id, coord_sent_us, agent_sent_us, coord_recv_us);
    return;
  }
  if (vtg_clocksync_estimate(&a->clock, coord_recv_us, &off, &unc) != 0) return;
  int first = a->clock.n == 1;
  a->clock_known = 1;
  a->clock_offset_us = off;
  a->clock_uncertainty_us = unc;
  correct_complete_before(a);
  if (first)
    VTG_INFO("agent %s: clock offset %+.3f ms (+-%.3f ms)", a->id, (double)off / 1000.0,
             (double)unc / 1000.0);
  /* One warning per episode: when the offset goes past the bound, and a
   * note when it is back within it. */
  int64_t max = c->cfg.max_clock_offset_us;
  if (max > 0 && !a->clock_warned && abs64(off) > max) {
    a->clock_warned = 1;
    VTG_WARN("agent %s: clock is off by %+.3f s (+-%.3f ms), more than max_clock_offset %.3f s; "
             "its timestamps are corrected, but its clock needs fixing",
             a->id, (double)off / 1e6, (double)unc / 1000.0, (double)max / 1e6);
  } else if (a->clock_warned && (max == 0 || abs64(off) <= max)) {
    a->clock_warned = 0;
    VTG_INFO("agent %s: clock offset back within max_clock_offset: %+.3f ms (+-%.3f ms)", a->id,
             (double)off / 1000.0, (double)unc / 1000.0);
  }
}

static int outcome_valid(Vantage__Outcome o) {
  return o == VANTAGE__OUTCOME__OUTCOME_UP || o == VANTAGE__OUTCOME__OUTCOME_DEGRADED ||
         o == VANTAGE__OUTCOME__OUTCOME_DOWN;
}

/* To the detector: an every_address check's per-address results through
 * addrs.h (sub-checks and the per-turn aggregate), everything else as it
 * is. The address each region's agents probed is noted for status. */
static int feed_detector(vtg_coord_t *c, const vtg_agent_t *a, const Vantage__Result *r,
                         const vtg_detect_result_t *d) {
  int ix = vtg_coord_check_index(c, r->check_id);
  const vtg_check_cfg_t *ch = ix >= 0 ? &c->cfg.checks[ix] : NULL;
  vtg_addrs_note(c->addrs, r->check_id, a->region_idx, r->resolved_addr, d->start_us);
  if (c->addrs == NULL || ch == NULL || !ch->every_address) return vtg_detect_feed(c->detect, d);
  vtg_addrs_check_t ac = {.id = r->check_id,
                          .name = ch->name,
                          .service = ch->service,
                          .kind = ch->kind,
                          .interval_us = ch->interval_us,
                          .timeout_us = ch->timeout_us};
  return vtg_addrs_feed(c->addrs, &ac, d, r->resolved_addr, r->turn_addresses);
}

/* Places one fresh result; returns 1 when it reached the detector. */
static int ingest_one(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Result *r,
                      int64_t start_us) {
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
      .start_us = start_us,
      .total_us = r->total_us,
      .outcome = (int)r->outcome,
      .error_class = ec,
  };
  int err = feed_detector(c, a, r, &d);
  if (err != 0) {
    c->invalid_results_total++;
    VTG_DEBUG("agent %s: result for check %" PRIu32 " refused by the detector: %s", a->id,
              r->check_id, vtg_strerror(err));
    return 0;
  }
  /* Per-minute rollups, live and replayed alike (rollup.h: a replay skips
   * the minutes the store already has). Not fatal: only the timeline. */
  if (c->rollup != NULL &&
      (err = vtg_rollup_feed(c->rollup, r->check_id, a->region_idx, start_us, (int)r->outcome,
                             r->total_us,
                             /* coverage: a result speaks for its check's interval */
                             c->cfg.checks[vtg_coord_check_index(c, r->check_id)].interval_us)) != 0)
    VTG_DEBUG("rollups: result not counted: %s", vtg_strerror(err));
  return 1;
}

/* ---- the durable result log ---- */

/* An Ack that waits for the group commit holding its batch. */
typedef struct vtg_ingest_pending_s {
  uint64_t gen;     /* durable once the log reports this generation */
  uint64_t epoch;
  uint64_t seq;     /* a->acked_seq right after the batch */
  uint64_t n;       /* records the batch added to the log */
  uint32_t agent;   /* idx */
} pending_t;

#define PENDING_MAX (1u << 20) /* entries; past it an Ack is folded into the next one */

/* The raw result, its sequence and the correction applied, into the
 * current group commit. */
static int log_result(vtg_coord_t *c, vtg_agent_t *a, uint64_t seq, int64_t start_us,
                      const Vantage__Result *r) {
  size_t len = vantage__result__get_packed_size(r);
  if (len > VTG_RESULTLOG_MAX_RESULT) {
    VTG_WARN("agent %s: result %" PRIu64 " is %zu bytes packed (limit %u)", a->id, seq, len,
             VTG_RESULTLOG_MAX_RESULT);
    return VTG_ELIMIT;
  }
  /* Packed in place by the log would save this copy; results are small. */
  uint8_t stackbuf[2048], *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
  if (buf == NULL) return VTG_ENOMEM;
  vantage__result__pack(r, buf);
  vtg_resultlog_rec_t rec = {
      .agent = a->id,
      .region = a->region,
      .epoch = a->epoch,
      .seq = seq,
      .offset_us = start_us - r->start_us,
      .start_us = r->start_us,
      .result = buf,
      .result_len = len,
  };
  int err = vtg_resultlog_append(c->rlog, &rec);
  if (buf != stackbuf) free(buf);
  if (err == VTG_ELIMIT)
    VTG_WARN("result log: %u bytes wait for the disk; not taking more from agent %s for now",
             VTG_RESULTLOG_MAX_PENDING, a->id);
  return err;
}

/* After a batch (n records logged) or a Dropped: Ack a->acked_seq once
 * everything logged so far is on disk, at once if it is already. */
static void ack_when_durable(vtg_coord_t *c, vtg_agent_t *a, uint64_t n) {
  if (c->rlog == NULL) {
    a->durable_seq = a->acked_seq;
    vtg_server_ack(a);
    return;
  }
  uint64_t gen = vtg_resultlog_barrier(c->rlog);
  if (gen <= vtg_resultlog_durable_gen(c->rlog) && c->pending_len == 0) {
    a->durable_seq = a->acked_seq;
    a->results_stored += n;
    vtg_server_ack(a);
    return;
  }
  if (c->pending_head + c->pending_len == c->pending_alloc) {
    if (c->pending_head > 0) {
      memmove(c->pending, c->pending + c->pending_head, c->pending_len * sizeof *c->pending);
      c->pending_head = 0;
    } else {
      size_t na = c->pending_alloc ? c->pending_alloc * 2 : 256;
      pending_t *np = na <= PENDING_MAX ? realloc(c->pending, na * sizeof *np) : NULL;
      if (np == NULL) {
        /* The next entry of this agent acknowledges past this one; only
         * the stored count would be short, so fold it into the last. */
        if (c->pending_len > 0) c->pending[c->pending_head + c->pending_len - 1].n += n;
        return;
      }
      c->pending = np;
      c->pending_alloc = na;
    }
  }
  c->pending[c->pending_head + c->pending_len++] =
      (pending_t){.gen = gen, .epoch = a->epoch, .seq = a->acked_seq, .n = n, .agent = a->idx};
}

void vtg_ingest_durable(void *ctx, uint64_t gen) {
  vtg_coord_t *c = ctx;
  while (c->pending_len > 0 && c->pending[c->pending_head].gen <= gen) {
    pending_t p = c->pending[c->pending_head++];
    c->pending_len--;
    if (p.agent >= c->n_agents) continue;
    vtg_agent_t *a = c->agents[p.agent];
    a->results_stored += p.n;
    /* An Ack of an epoch the agent has left means nothing to it now. */
    if (a->epoch != p.epoch || p.seq <= a->durable_seq) continue;
    a->durable_seq = p.seq;
    vtg_server_ack(a);
  }
  if (c->pending_len == 0) c->pending_head = 0;
}

void vtg_ingest_free(vtg_coord_t *c) {
  free(c->pending);
  c->pending = NULL;
  c->pending_head = c->pending_len = c->pending_alloc = 0;
}

int vtg_ingest_replay(vtg_coord_t *c, const vtg_resultlog_rec_t *rec, int64_t since_us,
                      vtg_arena_t *arena) {
  const char *region = rec->region;
  if (c->cfg.has_registry) {
    const vtg_registry_entry_t *reg = vtg_config_registry_find(&c->cfg, rec->agent);
    if (reg == NULL) return 0; /* no longer accepted: its results stay in the log only */
    region = reg->region;
  }
  if (region == NULL || region[0] == '\0') return 0;
  vtg_agent_t *a = vtg_coord_agent_find(c, rec->agent);
  if (a == NULL) {
    int err = vtg_coord_agent_get(c, rec->agent, region, &a);
    if (err) return err == VTG_ENOMEM ? err : 0;
  }
  /* The log is in arrival order, so its last epoch of an agent is the one
   * the agent spoke last, and sequences only grow within it. */
  if (rec->epoch != a->epoch) {
    a->epoch = rec->epoch;
    a->acked_seq = a->durable_seq = 0;
  }
  if (rec->seq > a->acked_seq) a->acked_seq = a->durable_seq = rec->seq;
  a->results_stored++;
  /* Until its first heartbeat round trip in this process, the agent's
   * clock is corrected as it last was: its spool replay after our restart
   * arrives before that round trip. */
  if (!a->clock_known) a->clock_offset_us = -rec->offset_us;
  int64_t start = rec->start_us + rec->offset_us;
  if (start < since_us) return 0;
  if (start > a->resume_hold_us) a->resume_hold_us = start;
  vtg_arena_reset(arena);
  Vantage__Result *r =
      vantage__result__unpack(&arena->allocator, rec->result_len, rec->result);
  if (r == NULL) {
    c->invalid_results_total++;
    return 0;
  }
  if (ingest_one(c, a, r, start)) c->replayed_total++;
  return 0;
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
  uint64_t logged = 0;
  int err = 0;
  for (size_t i = 0; i < b->n_results; i++) {
    uint64_t seq = b->first_seq + i;
    if (seq <= a->acked_seq) {
      a->duplicates_total++;
      c->duplicates_total++;
      continue;
    }
    const Vantage__Result *r = b->results[i];
    int64_t start = corrected_start(a, r->start_us);
    /* The log refuses only when the disk is far behind (or a result is
     * absurdly large): stop here, unacknowledged; the agent sends the rest
     * again after it reconnects. */
    if (c->rlog && (err = log_result(c, a, seq, start, r)) != 0) break;
    logged++;
    a->acked_seq = seq;
    if (ingest_one(c, a, r, start)) {
      a->results_total++;
      c->results_total++;
      /* Live results only: a replay at start-up is not counted again. */
      vtg_checkstats_feed(c->checkstats, r->check_id, a->region_idx, a->idx, r, start);
      /* A turn of this agent (down after up, up after down) asks others
       * to confirm at once (burst.h). */
      vtg_burst_on_result(c, a, r->check_id, (int)r->outcome, start);
    }
  }
  /* The agent's own watermark only moves forward; an older value (a
   * replayed batch) says nothing new. Corrected like the start times. Not
   * from a batch the log refused part of: those results come again. */
  if (err == 0 && b->complete_before_us > a->complete_before_raw_us) {
    a->complete_before_raw_us = b->complete_before_us;
    correct_complete_before(a);
  }
  ack_when_durable(c, a, logged);
  return err;
}

int vtg_ingest_dropped(vtg_coord_t *c, vtg_agent_t *a, const Vantage__Dropped *d) {
  if (d->first_seq == 0 || d->last_seq < d->first_seq) return VTG_EPROTO;
  vtg_ingest_session_start(c, a, d->spool_epoch);
  if (d->last_seq <= a->acked_seq) { /* nothing we still wait for */
    ack_when_durable(c, a, 0);
    return 0;
  }
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
  /* The hole itself is not logged: after a restart the agent announces it
   * again, which costs one message. */
  ack_when_durable(c, a, 0);
  return 0;
}
