/* probe/sched.c: the heap fires entries in deadline order, removal works,
 * and the loop closes cleanly. Deadlines lie in the past so nothing sleeps. */
#include <stdlib.h>

#include "internal.h"
#include "test.h"
#include "vtg/clock.h"

typedef struct {
  vtg_sched_entry_t e;
  int id;
} item_t;

typedef struct {
  int64_t last_due;
  int fired;
  int bad_order;
  int seen[64];
} state_t;

static void fire(vtg_sched_t *s, vtg_sched_entry_t *e) {
  state_t *st = s->data;
  item_t *it = container_of(e, item_t, e);
  if (e->due_us < st->last_due) st->bad_order = 1;
  st->last_due = e->due_us;
  st->seen[it->id]++;
  if (++st->fired == 64 - 8) vtg_sched_close(s, NULL);
}

VTG_TEST(sched_heap_order) {
  uv_loop_t loop;
  vtg_sched_t s;
  state_t st = {.last_due = INT64_MIN};
  item_t items[64];
  ASSERT_EQ(uv_loop_init(&loop), 0);
  s.data = &st;
  ASSERT_EQ(vtg_sched_init(&loop, &s, fire), 0);
  int64_t base = vtg_clock_wall_us() - 10000000;
  srand(7);
  for (int i = 0; i < 64; i++) {
    items[i].id = i;
    vtg_sched_entry_init(&items[i].e);
    ASSERT_EQ(vtg_sched_add(&s, &items[i].e, base + rand() % 1000000), 0);
  }
  /* move some, remove eight */
  for (int i = 0; i < 64; i += 5) ASSERT_EQ(vtg_sched_add(&s, &items[i].e, base + rand() % 1000000), 0);
  for (int i = 0; i < 8; i++) vtg_sched_remove(&s, &items[i * 7].e);
  ASSERT_EQ(s.n, 56);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(st.fired, 56);
  ASSERT_EQ(st.bad_order, 0);
  for (int i = 0; i < 64; i++) ASSERT_EQ(st.seen[i], i % 7 == 0 && i / 7 < 8 ? 0 : 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(sched_heap_order))
