/* The check scheduler: a binary min-heap of wall-clock deadlines with one
 * uv_timer armed for the head. Deadlines are wall-clock (unix us) because
 * every agent aligns its turns to phase + k * interval since the epoch; the
 * timer is re-armed from the wall clock each time it fires, so a clock step
 * costs at most one early or late turn. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/log.h"

static void heap_swap(vtg_sched_t *s, size_t i, size_t j) {
  vtg_sched_entry_t *t = s->heap[i];
  s->heap[i] = s->heap[j];
  s->heap[j] = t;
  s->heap[i]->idx = i;
  s->heap[j]->idx = j;
}

static void sift_up(vtg_sched_t *s, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (s->heap[p]->due_us <= s->heap[i]->due_us) break;
    heap_swap(s, i, p);
    i = p;
  }
}

static void sift_down(vtg_sched_t *s, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->n && s->heap[l]->due_us < s->heap[m]->due_us) m = l;
    if (r < s->n && s->heap[r]->due_us < s->heap[m]->due_us) m = r;
    if (m == i) break;
    heap_swap(s, i, m);
    i = m;
  }
}

static void timer_cb(uv_timer_t *t);

/* Re-arms the timer for the head (or stops it when the heap is empty). */
static void rearm(vtg_sched_t *s) {
  if (s->n == 0) {
    uv_timer_stop(&s->timer);
    return;
  }
  int64_t wait_us = s->heap[0]->due_us - vtg_clock_wall_us();
  uint64_t ms = wait_us <= 0 ? 0 : (uint64_t)((wait_us + 999) / 1000);
  /* Wake at least once a second so a wall-clock step is noticed soon. */
  if (ms > 1000) ms = 1000;
  /* uv_timer_start only fails on a closing handle, which we never re-arm. */
  (void)uv_timer_start(&s->timer, timer_cb, ms, 0);
}

/* The wall clock stepped: deadlines in the past fire once and move on by
 * themselves, but after a step back every deadline lies too far ahead.
 * Pull those back by whole periods (keeping each phase) and rebuild. */
static void renormalize(vtg_sched_t *s, int64_t now) {
  for (size_t i = 0; i < s->n; i++) {
    vtg_sched_entry_t *e = s->heap[i];
    if (e->period_us > 0 && e->due_us - now > e->period_us)
      e->due_us -= ((e->due_us - now - 1) / e->period_us) * e->period_us;
  }
  for (size_t i = s->n / 2; i-- > 0;) sift_down(s, i);
}

static void timer_cb(uv_timer_t *t) {
  vtg_sched_t *s = container_of(t, vtg_sched_t, timer);
  int64_t now = vtg_clock_wall_us();
  int64_t off = now - vtg_clock_mono_us();
  if (s->wall_minus_mono != 0 && (off - s->wall_minus_mono > 500000 ||
                                  s->wall_minus_mono - off > 500000)) {
    VTG_WARN("wall clock stepped by %+" PRId64 " ms; re-aligning check times",
             (off - s->wall_minus_mono) / 1000);
    renormalize(s, now);
  }
  s->wall_minus_mono = off;
  /* Bound the work per wake-up: entries re-added by the callback at a time
   * already past would otherwise loop forever. */
  size_t budget = s->n;
  while (s->n > 0 && s->heap[0]->due_us <= now && budget-- > 0) {
    vtg_sched_entry_t *e = s->heap[0];
    vtg_sched_remove(s, e);
    s->cb(s, e);
  }
  rearm(s);
}

int vtg_sched_init(uv_loop_t *loop, vtg_sched_t *s, vtg_sched_cb cb) {
  void *data = s->data;
  memset(s, 0, sizeof *s);
  s->data = data;
  s->cb = cb;
  return uv_timer_init(loop, &s->timer);
}

static void sched_closed(uv_handle_t *h) {
  vtg_sched_t *s = container_of((uv_timer_t *)h, vtg_sched_t, timer);
  if (s->close_cb) s->close_cb(s);
}

void vtg_sched_close(vtg_sched_t *s, vtg_sched_close_cb close_cb) {
  for (size_t i = 0; i < s->n; i++) s->heap[i]->idx = SIZE_MAX;
  free(s->heap);
  s->heap = NULL;
  s->n = s->alloc = 0;
  s->close_cb = close_cb;
  uv_close((uv_handle_t *)&s->timer, sched_closed);
}

int vtg_sched_add(vtg_sched_t *s, vtg_sched_entry_t *e, int64_t due_us) {
  if (e->idx != SIZE_MAX) {
    int64_t old = e->due_us;
    e->due_us = due_us;
    if (due_us < old)
      sift_up(s, e->idx);
    else
      sift_down(s, e->idx);
  } else {
    if (s->n == s->alloc) {
      size_t na = s->alloc ? s->alloc * 2 : 64;
      vtg_sched_entry_t **nh = realloc(s->heap, na * sizeof *nh);
      if (nh == NULL) return VTG_ENOMEM;
      s->heap = nh;
      s->alloc = na;
    }
    e->due_us = due_us;
    e->idx = s->n;
    s->heap[s->n++] = e;
    sift_up(s, e->idx);
  }
  if (s->heap[0] == e) rearm(s);
  return 0;
}

void vtg_sched_remove(vtg_sched_t *s, vtg_sched_entry_t *e) {
  size_t i = e->idx;
  if (i == SIZE_MAX || i >= s->n || s->heap[i] != e) return;
  s->n--;
  if (i != s->n) {
    s->heap[i] = s->heap[s->n];
    s->heap[i]->idx = i;
    sift_down(s, i);
    sift_up(s, i);
  }
  e->idx = SIZE_MAX;
  /* No re-arm here: a timer firing early for a removed head finds nothing
   * due and re-arms itself, which is cheaper than re-arming on every
   * removal during a CheckSet swap. */
}

int64_t vtg_sched_rephase(int64_t now_us, int64_t last_us, int64_t old_due_us,
                          uint32_t old_interval_ms, uint32_t interval_ms, uint32_t phase_ms) {
  int64_t iv = (int64_t)interval_ms * 1000;
  int64_t lb = now_us; /* the earliest allowed start */
  if (last_us > 0 && last_us + iv / 4 > lb) lb = last_us + iv / 4;
  if (old_due_us <= 0 || interval_ms < old_interval_ms) {
    int64_t g = vtg_sched_next_due(lb - 1, interval_ms, phase_ms);
    /* Faster now and already a whole new interval since the last probe:
     * probe at once rather than wait for the new grid, unless its next
     * turn is near anyway (then the turn after this one would be too). */
    if (last_us > 0 && lb - last_us >= iv && g - lb > iv / 4) return lb;
    return g;
  }
  /* The new turn in [old_due - iv/2, old_due + iv/2). */
  int64_t target = vtg_sched_next_due(old_due_us - iv / 2 - 1, interval_ms, phase_ms);
  return target >= lb ? target : lb;
}

int64_t vtg_sched_next_due(int64_t now_us, uint32_t interval_ms, uint32_t phase_ms) {
  int64_t iv = (int64_t)interval_ms * 1000;
  int64_t ph = ((int64_t)phase_ms % (int64_t)interval_ms) * 1000;
  /* k = floor((now - phase) / interval) + 1, with a floor that is right for
   * negative numerators too. */
  int64_t d = now_us - ph;
  int64_t k = d / iv;
  if (d % iv != 0 && d < 0) k--;
  return (k + 1) * iv + ph;
}
