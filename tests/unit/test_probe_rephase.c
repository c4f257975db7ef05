/* probe/sched.c vtg_sched_rephase: a CheckSet that moves a check's phase or
 * interval never puts two probes closer than interval/4 and never leaves a
 * gap longer than the old interval plus the new one (old + new/2 when the
 * interval stays or grows). Exhaustive over phases and change moments. */
#include "internal.h"
#include "test.h"

/* One change: the check last fired at last (on its old grid), the old turn
 * was old_due, the CheckSet arrives at now. Checks the new turn and the one
 * after it (what sched_fire computes from the new grid). */
static int one(int64_t last, int64_t old_due, int64_t now, uint32_t old_iv, uint32_t iv,
               uint32_t ph) {
  int64_t due = vtg_sched_rephase(now, last, old_due, old_iv, iv, ph);
  int64_t next = vtg_sched_next_due(due, iv, ph);
  int64_t ivu = (int64_t)iv * 1000, old_ivu = (int64_t)old_iv * 1000;
  int64_t max_gap = old_ivu + (iv < old_iv ? ivu : ivu / 2);
  /* Faster and overdue at the new pace: at most a quarter of the new
   * interval more. */
  if (iv < old_iv && now - last >= ivu) max_gap = now - last + ivu / 4;
  if (due < now || due - last < ivu / 4 || next - due < ivu / 4 || due - last > max_gap ||
      next - due > ivu) {
    fprintf(stderr,
            "last %lld old_due %lld now %lld old_iv %u iv %u ph %u -> due %lld next %lld\n",
            (long long)last, (long long)old_due, (long long)now, old_iv, iv, ph, (long long)due,
            (long long)next);
    return 1;
  }
  return 0;
}

static int sweep(uint32_t old_iv, uint32_t iv) {
  const int64_t t0 = 1700000000000000LL; /* a grid-aligned second */
  for (uint32_t old_ph = 0; old_ph < old_iv; old_ph += old_iv / 10) {
    int64_t last = vtg_sched_next_due(t0, old_iv, old_ph);
    int64_t old_due = last + (int64_t)old_iv * 1000;
    for (int64_t now = last; now < old_due; now += (int64_t)old_iv * 1000 / 37)
      for (uint32_t ph = 0; ph < iv; ph += iv / 50 ? iv / 50 : 1)
        if (one(last, old_due, now, old_iv, iv, ph)) return 1;
    /* The edge: a tiny move just before the old turn. */
    if (one(last, old_due, old_due - 1000, old_iv, iv, (old_ph + old_iv - 1) % iv)) return 1;
  }
  return 0;
}

VTG_TEST(same_interval_new_phase) {
  ASSERT_EQ(sweep(10000, 10000), 0);
  ASSERT_EQ(sweep(5000, 5000), 0);
  return 0;
}

VTG_TEST(incident_cadence_and_back) {
  ASSERT_EQ(sweep(30000, 6000), 0); /* faster */
  ASSERT_EQ(sweep(6000, 30000), 0); /* back to normal */
  ASSERT_EQ(sweep(5000, 2500), 0);
  return 0;
}

VTG_TEST(never_probed) {
  /* No probe yet, no old turn: simply the next turn. */
  ASSERT_EQ(vtg_sched_rephase(1000000, 0, 0, 10000, 10000, 250), 10250000);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(same_interval_new_phase) VTG_TEST_ENTRY(incident_cadence_and_back)
                  VTG_TEST_ENTRY(never_probed))
