/* Names and orders shared by the coordinator's views (http.c, metrics.c,
 * statuspage.c, rollup.c): one place decides how a state is called and in
 * which order regions are listed, so the views always agree. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "vtg/error.h"

const char *vtg_state_name(vtg_state_t s) {
  switch (s) {
  case VTG_STATE_UP: return "up";
  case VTG_STATE_DEGRADED: return "degraded";
  case VTG_STATE_DOWN: return "down";
  case VTG_STATE_UNKNOWN: break;
  }
  return "unknown";
}

const char *vtg_blame_name(int blame) {
  switch (blame) {
  case VTG_BLAME_VANTAGE: return "vantage";
  case VTG_BLAME_NETWORK: return "network";
  default: return NULL;
  }
}

int vtg__state_rank(int s) {
  switch (s) {
  case VTG_STATE_UNKNOWN: return 0;
  case VTG_STATE_UP: return 1;
  case VTG_STATE_DEGRADED: return 2;
  case VTG_STATE_DOWN: return 3;
  default: return -1;
  }
}

static int cmp_region_name(const void *a, const void *b, void *arg) {
  char *const *names = arg;
  return strcmp(names[*(const uint32_t *)a], names[*(const uint32_t *)b]);
}

int vtg__regions_sorted(char *const *names, size_t n, uint32_t **out) {
  uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
  if (idx == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
  qsort_r(idx, n, sizeof *idx, cmp_region_name, (void *)names);
  *out = idx;
  return 0;
}
