/* Per (check, region) result statistics (checkstats.h): plain counters in
 * arrays indexed by stable check id and region index, grown on first use.
 * Nothing here allocates per result once a (check, region) has its slot. */
#include "checkstats.h"

#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"

/* An agent's latest sighting of a check's certificate. */
typedef struct cert_s {
  int64_t expiry_unix; /* notAfter of its latest result; 0 = that result had none */
  int64_t probe_us;    /* that result's corrected start; 0 = no result yet */
} cert_t;

typedef struct row_s {
  vtg_checkstats_slot_t **slots; /* by region index; NULL until that region's first result */
  uint32_t n_slots;
  cert_t *certs;                 /* by agent index; NULL until the check's first certificate */
  uint32_t n_certs;
} row_t;

struct vtg_checkstats_s {
  row_t *rows; /* by stable check id */
  uint32_t n_rows;
  uint64_t lost;
};

static const char *const phase_names[VTG_CHECKSTATS_N_PHASES] = {"dns", "connect", "tls",
                                                                  "ttfb", "total"};

const char *vtg_checkstats_phase_name(int phase) {
  if (phase < 0 || phase >= VTG_CHECKSTATS_N_PHASES) return "?";
  return phase_names[phase];
}

vtg_checkstats_t *vtg_checkstats_new(void) {
  return calloc(1, sizeof(vtg_checkstats_t));
}

static void row_clear(row_t *row) {
  for (uint32_t i = 0; i < row->n_slots; i++) free(row->slots[i]);
  free(row->slots);
  free(row->certs);
  memset(row, 0, sizeof *row);
}

void vtg_checkstats_free(vtg_checkstats_t *cs) {
  if (cs == NULL) return;
  for (uint32_t i = 0; i < cs->n_rows; i++) row_clear(&cs->rows[i]);
  free(cs->rows);
  free(cs);
}

/* Makes *arr (of *n elements of size elem) hold index idx, doubling, new
 * elements zeroed. The caller has checked idx against its cap. Returns 0
 * or VTG_ENOMEM (nothing changed). */
static int grow(void **arr, uint32_t *n, uint32_t idx, size_t elem) {
  if (idx < *n) return 0;
  uint64_t want = *n ? (uint64_t)*n * 2 : 8;
  if (want <= idx) want = (uint64_t)idx + 1;
  char *p = realloc(*arr, (size_t)want * elem);
  if (p == NULL) return VTG_ENOMEM;
  memset(p + (size_t)*n * elem, 0, (size_t)(want - *n) * elem);
  *arr = p;
  *n = (uint32_t)want;
  return 0;
}

/* The slot of (check_id, region), made when missing; NULL past the caps
 * or out of memory. */
static vtg_checkstats_slot_t *slot_get(vtg_checkstats_t *cs, uint32_t check_id, uint32_t region,
                                       row_t **row_out) {
  if (check_id >= VTG_CHECKSTATS_MAX_CHECK_ID || region >= VTG_CHECKSTATS_MAX_REGIONS)
    return NULL;
  if (grow((void **)&cs->rows, &cs->n_rows, check_id, sizeof *cs->rows) != 0) return NULL;
  row_t *row = &cs->rows[check_id];
  if (grow((void **)&row->slots, &row->n_slots, region, sizeof *row->slots) != 0) return NULL;
  if (row->slots[region] == NULL && (row->slots[region] = calloc(1, sizeof **row->slots)) == NULL)
    return NULL;
  *row_out = row;
  return row->slots[region];
}

/* The agent's latest result decides: a result without a certificate
 * (say, the handshake failed) takes the agent out of the minimum until it
 * sees one again. Checks that never had a certificate get no array. */
static void cert_note(row_t *row, uint32_t agent, const Vantage__Result *r, int64_t probe_us) {
  int64_t exp = r->cert_expiry_unix > 0 ? r->cert_expiry_unix : 0;
  if (agent >= VTG_CHECKSTATS_MAX_AGENTS || (exp == 0 && agent >= row->n_certs)) return;
  /* Out of memory: this sighting is missed; the next result tries again. */
  if (grow((void **)&row->certs, &row->n_certs, agent, sizeof *row->certs) != 0) return;
  cert_t *c = &row->certs[agent];
  if (c->probe_us != 0 && probe_us < c->probe_us) return; /* an older result, arriving late */
  c->expiry_unix = exp;
  c->probe_us = probe_us;
}

void vtg_checkstats_feed(vtg_checkstats_t *cs, uint32_t check_id, uint32_t region,
                         uint32_t agent, const Vantage__Result *r, int64_t probe_us) {
  if (cs == NULL) return;
  int outcome = (int)r->outcome;
  row_t *row = NULL;
  vtg_checkstats_slot_t *s = NULL;
  if (outcome < VTG_OUTCOME_UP || outcome > VTG_OUTCOME_DOWN ||
      (s = slot_get(cs, check_id, region, &row)) == NULL) {
    cs->lost++;
    return;
  }
  /* The same reading as the ingest gives the detector (ingest.c). */
  int ec = (int)r->error_class;
  if (ec < 0 || ec >= VTG_N_ERROR_CLASSES) ec = VANTAGE__ERROR_CLASS__ERROR_CLASS_OTHER;
  if (outcome != VTG_OUTCOME_DOWN) ec = VANTAGE__ERROR_CLASS__ERROR_CLASS_NONE;
  s->results[outcome - 1][ec]++;

  const uint32_t us[VTG_CHECKSTATS_N_PHASES] = {r->dns_us, r->connect_us, r->tls_us, r->ttfb_us,
                                                r->total_us};
  for (int p = 0; p < VTG_CHECKSTATS_N_PHASES; p++)
    if (us[p] > 0) vtg_histo_observe(&s->phase[p], &vtg_histo_latency_bounds, (double)us[p] / 1e6);
  cert_note(row, agent, r, probe_us);
}

const vtg_checkstats_slot_t *vtg_checkstats_slot(const vtg_checkstats_t *cs, uint32_t check_id,
                                                 uint32_t region) {
  if (cs == NULL || check_id >= cs->n_rows || region >= cs->rows[check_id].n_slots) return NULL;
  return cs->rows[check_id].slots[region];
}

int vtg_checkstats_cert_expiry(const vtg_checkstats_t *cs, uint32_t check_id, int64_t since_us,
                               int64_t *out_unix) {
  int64_t best = 0;
  *out_unix = 0;
  if (cs == NULL || check_id >= cs->n_rows) return VTG_ENOTFOUND;
  const row_t *row = &cs->rows[check_id];
  for (uint32_t a = 0; a < row->n_certs; a++) {
    const cert_t *c = &row->certs[a];
    if (c->expiry_unix <= 0 || c->probe_us < since_us) continue;
    if (best == 0 || c->expiry_unix < best) best = c->expiry_unix;
  }
  if (best == 0) return VTG_ENOTFOUND;
  *out_unix = best;
  return 0;
}

void vtg_checkstats_retain(vtg_checkstats_t *cs, const uint32_t *ids, size_t n) {
  if (cs == NULL || cs->n_rows == 0) return;
  unsigned char *keep = calloc(cs->n_rows, 1);
  if (keep == NULL) return; /* out of memory: removed checks keep their (unexported) rows */
  for (size_t i = 0; i < n; i++)
    if (ids[i] < cs->n_rows) keep[ids[i]] = 1;
  for (uint32_t id = 0; id < cs->n_rows; id++)
    if (!keep[id]) row_clear(&cs->rows[id]);
  free(keep);
}

uint64_t vtg_checkstats_lost(const vtg_checkstats_t *cs) {
  return cs ? cs->lost : 0;
}
