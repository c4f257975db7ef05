/* Service incidents (DESIGN.md, "The detector", 7): the check incidents of
 * one service's checks that overlap, or lie within merge_gap of each other
 * (the gap between one's end and the next one's onset), form one service
 * incident. It reports the share of down probes by endpoint kind: the
 * "56% app, 33% web" figure from probes instead of complaints.
 *
 * Which probes count: those of the member check incidents' regions while
 * each region was down (its regions[].spans), the same rule the detector
 * uses for an incident's cause ("counting the probes of agents in regions
 * that were down"). Probes of impaired agents elsewhere, and of a region
 * failing alone below the incident threshold, are not an outage and do not
 * count. kind_share[kind] = those down probes of the member checks of that
 * kind / all of them, over the whole service incident.
 *
 * The counts come from the per-minute rollups (rollup.h), so a region's
 * down stretch counts every down probe of the minutes it touches: the
 * minute it began and the minute it ended are counted whole. Shares of
 * incidents that last a few minutes or less are therefore approximate (a
 * stretch shorter than a minute still counts a whole minute of probes);
 * the longer the incident, the smaller the error. A check no longer in the
 * config has no rollups to read: its incidents are members, with 0 down
 * probes.
 *
 * The grouping (vtg_service_group) is pure and works on the outages
 * contract array (the store's JSON); the coordinator glue reads the store
 * and the rollups. Loop thread only. */
#ifndef VTG_SERVICE_H
#define VTG_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"
#include "vtg/json.h"

/* One check incident inside a service incident. */
typedef struct vtg_service_member_s {
  char *id, *check, *kind;
  int open;
  int maintenance; /* the incident's "maintenance" flag */
} vtg_service_member_t;

typedef struct vtg_service_kind_s {
  char *kind;
  uint64_t down; /* down probes counted for this kind */
} vtg_service_kind_t;

typedef struct vtg_service_incident_s {
  char *id; /* "svc-" + the id of its earliest member: stable while it lasts */
  char *service;
  int64_t onset_us;    /* earliest member onset */
  int64_t resolved_us; /* latest member resolution; VTG_TIME_NONE while any
                          member is open */
  vtg_service_member_t *members; /* by onset */
  size_t n_members;
  char **checks; /* distinct member check names, sorted */
  size_t n_checks;
  char **regions; /* distinct region names of the members, sorted */
  size_t n_regions;
  vtg_service_kind_t *kinds; /* distinct member kinds, sorted by name */
  size_t n_kinds;
  uint64_t down_total; /* sum of kinds[].down */
} vtg_service_incident_t;

typedef struct vtg_service_list_s {
  vtg_service_incident_t *v; /* open first, then newest onset first */
  size_t n;
} vtg_service_list_t;

/* Adds to *down the down probes of check in region over the minutes
 * [from_us, to_us) (both whole minutes). Returns 0 or a negative error,
 * which vtg_service_group returns. */
typedef int (*vtg_service_down_cb)(void *ctx, const char *check,
                                   const char *region, int64_t from_us,
                                   int64_t to_us, uint64_t *down);

/* Groups the check incidents of `incidents` (an outages contract array;
 * entries without a service or an onset are skipped) into service
 * incidents, asking down() for the probe counts (NULL: all counts 0).
 * Open spans count up to now_us. *out is the caller's: vtg_service_list_free.
 * Returns 0, VTG_EINVAL (not an array), VTG_ENOMEM or down()'s error. */
int vtg_service_group(const vtg_json_t *incidents, int64_t merge_gap_us,
                      int64_t now_us, vtg_service_down_cb down, void *ctx,
                      vtg_service_list_t *out);
void vtg_service_list_free(vtg_service_list_t *l); /* NULL allowed */

/* The share of one kind: down / down_total rounded to 3 decimals; -1 when
 * no down probe was counted (unknown). */
double vtg_service_share(const vtg_service_incident_t *si, size_t kind);

/* One service incident as its JSON object:
 *   {id, service, onset, resolved, duration_s, checks, incidents, regions,
 *    kind_share, down_probes, maintenance}
 * every key always present: resolved null while open; kind_share
 * {"api": 0.6, "web": 0.4} by kind name, null when no down probe was
 * counted; down_probes {"api": 120, "web": 80}; incidents the member
 * check incident ids; maintenance true when every member is under
 * maintenance. */
void vtg_service_write_json(vtg_json_writer_t *w,
                            const vtg_service_incident_t *si, int64_t now_us);

/* The list as a JSON array, keeping those that match: service (NULL: all)
 * and since_us (open, or onset or resolution at or after it;
 * VTG_TIME_NONE: all). Appends to out. Returns 0 or the writer's error. */
int vtg_service_list_json(const vtg_service_list_t *l, const char *service,
                          int64_t since_us, int64_t now_us, vtg_buf_t *out);

/* ---- the coordinator glue ---- */
struct vtg_coord_s;
struct vtg_httpd_req_s;
struct vtg_httpd_resp_s;

/* Every service incident from the store's check incidents and the rollups
 * (memory for recent minutes, the store before them), with the config's
 * merge_gap. open_only: an empty list unless some check incident is open
 * (/metrics: no grouping work on a quiet day). Returns 0, VTG_ENOMEM,
 * VTG_ESTORE or VTG_EJSON. */
int vtg_service_incidents(struct vtg_coord_s *c, int64_t now_us, int open_only,
                          vtg_service_list_t *out);

/* GET /api/v1/service-incidents[?service=NAME&since=RFC3339]: the JSON
 * array, open first then newest onset first. 400 for a bad query, 503
 * without a store. */
void vtg_service_api(struct vtg_coord_s *c, struct vtg_httpd_req_s *req,
                     struct vtg_httpd_resp_s *resp);

/* /metrics: vantage_service_incident_open{service} (1 while the service has
 * an open service incident with a member not under maintenance, for every
 * configured service) and vantage_service_down_share{service,kind} (the
 * open service incident's shares; absent while none is open or nothing was
 * counted). Appends to out; returns 0 or an error. */
int vtg_service_metrics_write(struct vtg_coord_s *c, int64_t now_us,
                              vtg_buf_t *out);

#endif
