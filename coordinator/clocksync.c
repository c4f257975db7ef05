/* Cristian-style clock-offset estimation with a minimum-RTT filter; see
 * clocksync.h for the arithmetic and why the shortest round trip wins. */
#include "clocksync.h"

#include <string.h>

#include "vtg/error.h"

/* Far beyond any real clock (year ~2262 in unix us is INT64_MAX); keeps the
 * differences below from overflowing on a hostile agent's values. */
#define TIME_MAX_US (INT64_MAX / 4)

int vtg_clocksync_add(vtg_clocksync_t *cs, int64_t coord_sent_us, int64_t agent_sent_us,
                      int64_t coord_recv_us) {
  if (coord_sent_us <= 0 || agent_sent_us <= 0 || coord_recv_us <= 0 ||
      coord_sent_us > TIME_MAX_US || agent_sent_us > TIME_MAX_US || coord_recv_us > TIME_MAX_US)
    return VTG_EINVAL;
  int64_t rtt = coord_recv_us - coord_sent_us;
  if (rtt < 0 || rtt > VTG_CLOCKSYNC_MAX_RTT_US) return VTG_EINVAL;
  vtg_clocksync_sample_t *s = &cs->samples[cs->next];
  s->at_us = coord_recv_us;
  s->rtt_us = rtt;
  /* The agent read its clock somewhere inside [sent, recv]; the midpoint
   * is the guess that is never wrong by more than rtt/2. */
  s->offset_us = agent_sent_us - (coord_sent_us + rtt / 2);
  cs->next = (cs->next + 1) % VTG_CLOCKSYNC_WINDOW;
  if (cs->n < VTG_CLOCKSYNC_WINDOW) cs->n++;
  return 0;
}

int vtg_clocksync_estimate(const vtg_clocksync_t *cs, int64_t now_us, int64_t *offset_us,
                           int64_t *uncertainty_us) {
  if (cs->n == 0) return VTG_ENOTFOUND;
  const vtg_clocksync_sample_t *best = NULL;
  /* Walk newest to oldest so that a tie keeps the newer sample. */
  for (unsigned k = 0; k < cs->n; k++) {
    unsigned i = (cs->next + VTG_CLOCKSYNC_WINDOW - 1 - k) % VTG_CLOCKSYNC_WINDOW;
    const vtg_clocksync_sample_t *s = &cs->samples[i];
    if (now_us - s->at_us > VTG_CLOCKSYNC_MAX_AGE_US) continue;
    if (best == NULL || s->rtt_us < best->rtt_us) best = s;
  }
  if (best == NULL) /* all too old: the newest one */
    best = &cs->samples[(cs->next + VTG_CLOCKSYNC_WINDOW - 1) % VTG_CLOCKSYNC_WINDOW];
  *offset_us = best->offset_us;
  *uncertainty_us = (best->rtt_us + 1) / 2; /* round up: never claim more than we know */
  return 0;
}

void vtg_clocksync_reset(vtg_clocksync_t *cs) {
  memset(cs, 0, sizeof *cs);
}
