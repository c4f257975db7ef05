/* The agent's wall clock: the one place every timestamp the agent sends
 * (probe starts, its watermark, heartbeats) is read from. Normally the
 * system clock; `--clock-skew-ms N` (test-only) shifts it by N ms to play
 * an agent whose clock is wrong, which the coordinator must correct.
 *
 * The scheduler keeps the true clock on purpose (see vtg_probe_clock_wall_us
 * in internal.h): the skew then changes what the agent says, not when it
 * probes, so a skewed run and an unskewed one probe at the same instants.
 *
 * The skew is process-wide, like the log level: set once in main before
 * the loop starts and only read afterwards, so it needs no plumbing through
 * every probe type. */
#include "internal.h"

#include "vtg/clock.h"

static int64_t clock_skew_us;

void vtg_probe_clock_set_skew_us(int64_t skew_us) {
  clock_skew_us = skew_us;
}

int64_t vtg_probe_clock_wall_us(void) {
  return vtg_clock_wall_us() + clock_skew_us;
}
