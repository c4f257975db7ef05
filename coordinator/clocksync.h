/* Clock-offset estimation for one agent, Cristian-style with a minimum-RTT
 * filter. Pure: no I/O, no clock of its own; the caller passes every time.
 *
 * A sample is one heartbeat round trip: the coordinator sent its clock
 * (coord_sent_us), the agent answered at once with its own clock
 * (agent_sent_us), the answer arrived at coord_recv_us. Then
 *   rtt    = coord_recv_us - coord_sent_us
 *   offset = agent_sent_us - (coord_sent_us + rtt / 2)   (agent minus coordinator)
 * and the true offset lies within +-rtt/2 of it (the agent read its clock
 * somewhere inside the round trip), so uncertainty = rtt / 2. Of the recent
 * samples the one with the smallest RTT wins: queueing delays only ever add
 * to a round trip, and the shortest one bounds the offset most tightly.
 *
 * A zeroed vtg_clocksync_t is an empty estimator; it holds no pointers, so
 * it needs no init or free. Single-threaded (the loop thread). */
#ifndef VTG_CLOCKSYNC_H
#define VTG_CLOCKSYNC_H

#include <stdint.h>

/* Samples kept: the last this many round trips... */
#define VTG_CLOCKSYNC_WINDOW 16
/* ...of which only those at most this old count (a clock drifts). */
#define VTG_CLOCKSYNC_MAX_AGE_US (5LL * 60 * 1000000)
/* A round trip longer than this says nothing useful about a clock. */
#define VTG_CLOCKSYNC_MAX_RTT_US (60LL * 1000000)

typedef struct vtg_clocksync_sample_s {
  int64_t at_us;     /* coordinator time the answer arrived */
  int64_t rtt_us;
  int64_t offset_us; /* agent clock minus coordinator clock */
} vtg_clocksync_sample_t;

typedef struct vtg_clocksync_s {
  vtg_clocksync_sample_t samples[VTG_CLOCKSYNC_WINDOW]; /* a ring */
  unsigned n;        /* samples held, <= VTG_CLOCKSYNC_WINDOW */
  unsigned next;     /* ring slot the next sample goes to */
} vtg_clocksync_t;

/* Adds one round trip. Returns 0, or VTG_EINVAL (nothing added) when the
 * times cannot be a round trip: a non-positive timestamp, an answer that
 * arrived before it was sent (a coordinator clock step), or a round trip
 * longer than VTG_CLOCKSYNC_MAX_RTT_US. */
int vtg_clocksync_add(vtg_clocksync_t *cs, int64_t coord_sent_us, int64_t agent_sent_us,
                      int64_t coord_recv_us);

/* The estimate as of now_us: the offset (agent minus coordinator) and its
 * uncertainty (half the RTT) of the minimum-RTT sample among those not
 * older than VTG_CLOCKSYNC_MAX_AGE_US; when all are older, the newest one
 * (a stale estimate beats none). Ties go to the newer sample. Returns 0,
 * or VTG_ENOTFOUND when there is no sample (outputs untouched). */
int vtg_clocksync_estimate(const vtg_clocksync_t *cs, int64_t now_us, int64_t *offset_us,
                           int64_t *uncertainty_us);

/* Forgets every sample (a new session: the agent may have been restarted
 * with another clock). */
void vtg_clocksync_reset(vtg_clocksync_t *cs);

#endif
