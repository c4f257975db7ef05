/* Fleet-wide interleaving of one check's probes (phase.h). */
#include "phase.h"

#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

uint32_t vtg_phase_base(const char *check, uint32_t interval_ms) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)check; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return interval_ms ? (uint32_t)(h % interval_ms) : 0;
}

typedef struct slot_s {
  const char *region, *id; /* borrowed from the caller's array */
  size_t agent;      /* index into the caller's array */
  uint32_t region_rank;
  uint32_t j;        /* rank of the id within its region */
  uint64_t num, den; /* position (j * R + region_rank) / (m_r * R), exact */
} slot_t;

static int cmp_by_name(const void *x, const void *y) {
  const slot_t *a = x, *b = y;
  int c = strcmp(a->region, b->region);
  if (c != 0) return c;
  c = strcmp(a->id, b->id);
  if (c != 0) return c;
  return a->agent < b->agent ? -1 : a->agent > b->agent;
}

static int cmp_by_position(const void *x, const void *y) {
  const slot_t *a = x, *b = y;
  /* a.num / a.den vs b.num / b.den; both < 2^32, so the products fit. */
  uint64_t l = a->num * b->den, r = b->num * a->den;
  if (l != r) return l < r ? -1 : 1;
  if (a->region_rank != b->region_rank) return a->region_rank < b->region_rank ? -1 : 1;
  return a->j < b->j ? -1 : a->j > b->j;
}

int vtg_phase_assign(const char *check, uint32_t interval_ms, vtg_phase_agent_t *agents,
                     size_t n) {
  if (n == 0) return 0;
  if (n > UINT32_MAX / 2) return VTG_ELIMIT;
  slot_t *s = malloc(n * sizeof *s);
  if (s == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n; i++)
    s[i] = (slot_t){.region = agents[i].region, .id = agents[i].id, .agent = i};
  qsort(s, n, sizeof *s, cmp_by_name);
  /* Region ranks and ranks within each region, in name order. */
  uint32_t regions = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(s[i].region, s[i - 1].region) != 0) regions++;
    s[i].region_rank = regions;
    s[i].j = (i > 0 && s[i - 1].region_rank == regions) ? s[i - 1].j + 1 : 0;
  }
  uint64_t R = (uint64_t)regions + 1;
  for (size_t i = n; i-- > 0;) {
    /* m_r: the last member of a region has j = m_r - 1; walk backwards. */
    uint64_t m = (i + 1 < n && s[i + 1].region_rank == s[i].region_rank) ? s[i + 1].den / R
                                                                : (uint64_t)s[i].j + 1;
    s[i].den = m * R;
    s[i].num = (uint64_t)s[i].j * R + s[i].region_rank;
  }
  qsort(s, n, sizeof *s, cmp_by_position);
  uint64_t iv = interval_ms, base = vtg_phase_base(check, interval_ms);
  for (size_t k = 0; k < n; k++)
    agents[s[k].agent].phase_ms = iv ? (uint32_t)((base + (uint64_t)k * iv / n) % iv) : 0;
  free(s);
  return 0;
}

uint32_t vtg_phase_until_next(int64_t now_ms, uint32_t interval_ms, uint32_t phase_ms) {
  if (interval_ms == 0) return 0;
  int64_t iv = interval_ms;
  int64_t pos = now_ms % iv;
  if (pos < 0) pos += iv;
  int64_t d = ((int64_t)(phase_ms % interval_ms) - pos) % iv;
  if (d <= 0) d += iv;
  return (uint32_t)d;
}
