/* Every address (issue 5): the coordinator's side of every_address checks.
 *
 * An every_address check's agents probe each address its host resolves to
 * apart; each such result names its address (resolved_addr) and how many
 * addresses its turn probed (turn_addresses), and all results of one turn
 * share the turn's start time. Fed to the detector as they are, the
 * addresses of one check would alternate up and down and flap the check's
 * per-agent hysteresis. So this module
 *   - maps each (check, address) to a detector "sub-check" of its own: a
 *     dense id from the caller's id function (the store's stable check ids:
 *     the same name gets the same id across restarts), declared with the
 *     name "CHECK@ADDR" and the check's service, kind, interval, timeout;
 *     each per-address result is fed to its sub-check;
 *   - feeds the check itself one aggregate result per agent turn, once the
 *     turn's turn_addresses results are in (or the next turn begins): the
 *     best outcome of the turn (up if any address was up, else degraded if
 *     any was, else down), so the check is down for an agent only when all
 *     of the turn's addresses were; its class is the first down address's,
 *     its duration the longest among the addresses with that best outcome.
 *     A turn whose lookup failed arrives as one plain result (no address)
 *     and is fed to the check as it is.
 *   - decides how incidents are reported: an incident of a sub-check is a
 *     *partial* incident of its check (reported under the check's name,
 *     with the address), unless an incident of the check itself overlaps it
 *     in time: then the whole target was down and the sub-check incident is
 *     not reported (one already stored is withdrawn).
 *   - remembers the latest addresses each region's agents probed, per check,
 *     for status.
 * Loop thread only. Sub-check and turn lookups are linear in the sub-checks
 * and open turns of every_address checks (few: at most 8 addresses a turn);
 * the addresses for status are indexed by (check id, region idx). */
#ifndef VTG_ADDRS_H
#define VTG_ADDRS_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"

#define VTG_ADDRS_NAME_MAX 200 /* "CHECK@ADDR" */
#define VTG_ADDRS_SHOWN 8      /* addresses remembered per (check, region) */
#define VTG_ADDRS_PER_CHECK_MAX 32 /* sub-checks of one check over the process's life */

typedef struct vtg_addrs_s vtg_addrs_t;

/* The stable dense id for a sub-check name (the store's vtg_store_check_id
 * in the daemon). Returns 0 or an error. */
typedef int (*vtg_addrs_id_fn)(void *ctx, const char *name, const char *service,
                               const char *kind, uint32_t *out);

/* What the module needs to know of the check a result belongs to. */
typedef struct vtg_addrs_check_s {
  uint32_t id;
  const char *name, *service, *kind;
  int64_t interval_us, timeout_us;
} vtg_addrs_check_t;

/* d outlives the module. Returns NULL when out of memory. */
vtg_addrs_t *vtg_addrs_new(vtg_detect_t *d, vtg_addrs_id_fn id_fn, void *id_ctx);
void vtg_addrs_free(vtg_addrs_t *m); /* NULL allowed */

/* Places one result r (r->check = ch->id) of an every_address check with
 * its address addr ("" or NULL: a whole-turn result, such as a failed
 * lookup) and turn_addresses. Feeds the sub-check and, when the turn is
 * complete, the check's aggregate; without an address, r itself. Returns
 * 0 or the first error of vtg_detect_feed / the id function. */
int vtg_addrs_feed(vtg_addrs_t *m, const vtg_addrs_check_t *ch, const vtg_detect_result_t *r,
                   const char *addr, uint32_t turn_addresses);

/* Config reload: check is gone, or no longer every_address: its sub-checks
 * leave the detector (their incidents stay in the store) and its open
 * turns are dropped. A no-op for a check without sub-checks. */
void vtg_addrs_remove_check(vtg_addrs_t *m, uint32_t check);

/* The parent check of detector check id sub and its address, when sub is a
 * sub-check; returns 1 then, else 0 (and leaves the out-parameters). */
int vtg_addrs_parent(const vtg_addrs_t *m, uint32_t sub, uint32_t *parent, const char **addr);

/* How to report one incident the detector published (or removed). */
#define VTG_ADDRS_DROP_MAX 16
typedef struct vtg_addrs_verdict_s {
  int partial;            /* a sub-check incident: report it as partial */
  int skip;               /* do not report it (the whole check was down meanwhile); a stored
                             copy is withdrawn */
  uint32_t check;         /* the check to report it under */
  const char *addr;       /* partial: the failing address; NULL otherwise */
  const char *drop[VTG_ADDRS_DROP_MAX]; /* earlier partial incidents of this check now covered
                                           by a whole-check incident: withdraw them */
  size_t n_drop;
} vtg_addrs_verdict_t;

/* Decides v for incident inc (removed: the detector withdrew it). Pointers
 * in v are valid until the next call into the module. m NULL: a plain
 * incident. Out of memory only loses the bookkeeping (logged). */
void vtg_addrs_incident(vtg_addrs_t *m, const vtg_incident_t *inc, int removed,
                        vtg_addrs_verdict_t *v);

/* Notes the address a result of check (any check) from region probed at
 * start_us; "" is ignored. */
void vtg_addrs_note(vtg_addrs_t *m, uint32_t check, uint32_t region, const char *addr,
                    int64_t start_us);
/* The addresses of check seen from region within window_us of the newest
 * one, newest first: up to max pointers into out; returns their number. */
size_t vtg_addrs_latest(const vtg_addrs_t *m, uint32_t check, uint32_t region, int64_t window_us,
                        const char **out, size_t max);

#endif
