/* The outage detector of DESIGN.md. Pure: no I/O, no clock, no loop. It
 * takes probe results (placed by their probe timestamps) and a watermark
 * (event time up to which results are complete) and keeps, per check, the
 * incidents it finds. Callers learn about changes through a callback and
 * query live per (check, region) state for status.
 *
 * Ids: checks, agents and regions are small dense integers chosen by the
 * caller (check ids are the store's stable ids; regions and agents are
 * indexes the caller keeps). Single-threaded: the loop thread owns it. */
#ifndef VTG_DETECT_H
#define VTG_DETECT_H

#include <stddef.h>
#include <stdint.h>

#define VTG_TIME_NONE INT64_MIN /* "no time": open, unknown */

typedef enum {
  VTG_STATE_UNKNOWN = 0,
  VTG_STATE_UP,
  VTG_STATE_DEGRADED,
  VTG_STATE_DOWN
} vtg_state_t;

/* Outcome and error class use the wire's numbering (Vantage__Outcome,
 * Vantage__ErrorClass) without depending on the generated header. */
enum { VTG_OUTCOME_UP = 1, VTG_OUTCOME_DEGRADED = 2, VTG_OUTCOME_DOWN = 3 };
#define VTG_N_ERROR_CLASSES 11

typedef struct vtg_detect_params_s {
  int fail_threshold;
  int recover_threshold;
  int min_regions;
  int64_t merge_gap_us;
  int64_t settle_us;   /* 0: per check, its interval + timeout */
  int64_t stale_us;    /* an agent with no result for a check this long before the
                          watermark no longer counts for it; 0: 3 intervals + timeout */
} vtg_detect_params_t;

typedef struct vtg_detect_result_s {
  uint32_t agent;
  uint32_t check;
  int64_t start_us;     /* corrected probe start, unix us */
  int64_t total_us;     /* probe duration */
  int outcome;          /* VTG_OUTCOME_* */
  int error_class;      /* 0..VTG_N_ERROR_CLASSES-1, 0 when up */
} vtg_detect_result_t;

typedef enum { VTG_SCOPE_REGIONAL = 0, VTG_SCOPE_MULTI_REGION, VTG_SCOPE_GLOBAL } vtg_scope_t;

/* One stretch of time a region was down within an incident. */
typedef struct vtg_incident_span_s {
  int64_t onset_us;
  int64_t resolved_us;  /* VTG_TIME_NONE while down */
} vtg_incident_span_t;

typedef struct vtg_incident_region_s {
  const char *region;
  int64_t onset_us;     /* first onset in this incident */
  int64_t resolved_us;  /* last recovery; VTG_TIME_NONE while down */
  const vtg_incident_span_t *spans; /* its down stretches in order (the timeline) */
  size_t n_spans;
  /* Uncertainty: the outage began between onset_us - onset_window_us (the
   * last good probe before it) and onset_us (the first failed one), and
   * ended between resolved_us - resolved_window_us and resolved_us. -1 when
   * not known (no good probe before it; open). */
  int64_t onset_window_us;
  int64_t resolved_window_us;
} vtg_incident_region_t;

typedef struct vtg_incident_wave_s {
  int64_t onset_us;
  int64_t resolved_us;  /* VTG_TIME_NONE while open */
  int cause;            /* error class */
  const char **regions; /* n_regions names */
  size_t n_regions;
} vtg_incident_wave_t;

/* A check incident as reported (the JSON contract of DESIGN.md). Every
 * pointer inside is owned by the detector and valid until the next call
 * into it. */
typedef struct vtg_incident_s {
  const char *id;           /* stable for the incident's life */
  uint32_t check;
  const char *check_name, *service, *kind;
  vtg_scope_t scope;
  int64_t onset_us;
  int64_t resolved_us;      /* VTG_TIME_NONE while open */
  int cause;
  vtg_incident_region_t *regions;
  size_t n_regions;
  vtg_incident_wave_t *waves;
  size_t n_waves;
  int peak_regions;
  int total_regions;
  int64_t onset_window_us;    /* as in vtg_incident_region_t, over every region it affected */
  int64_t resolved_window_us;
} vtg_incident_t;

/* removed != 0: a published incident that later evidence (an impaired
 * agent found in hindsight) shows was not an outage; drop it. */
typedef void (*vtg_detect_incident_cb)(void *ctx, const vtg_incident_t *inc, int removed);

typedef struct vtg_detect_s vtg_detect_t;

/* Returns NULL on allocation failure. params are copied. */
vtg_detect_t *vtg_detect_new(const vtg_detect_params_t *params, vtg_detect_incident_cb cb,
                             void *ctx);
void vtg_detect_free(vtg_detect_t *d); /* NULL allowed */

/* Declares or updates a region / check / agent. Names are copied. A
 * service groups checks for impairment ("spanning two services"). Returns
 * 0, VTG_EINVAL or VTG_ENOMEM. */
int vtg_detect_set_region(vtg_detect_t *d, uint32_t region, const char *name);
int vtg_detect_set_check(vtg_detect_t *d, uint32_t check, const char *name,
                         const char *service, const char *kind, int64_t interval_us,
                         int64_t timeout_us);
/* Marks a check as a control check (an endpoint that should work from
 * anywhere): an agent failing it while others see it up is impaired. */
int vtg_detect_set_control(vtg_detect_t *d, uint32_t check, int control);
/* Removes a check (config reload): its incidents stay in the store. */
void vtg_detect_remove_check(vtg_detect_t *d, uint32_t check);
int vtg_detect_set_agent(vtg_detect_t *d, uint32_t agent, uint32_t region);

/* Continues the id sequence and keeps ids unique after a restart: the
 * caller passes the incidents it had stored (ids only need to be unique). */
void vtg_detect_set_id_base(vtg_detect_t *d, uint64_t next_id);

/* After a restart, before replaying the result log's tail: an incident
 * the store holds that is open or ended within retention, so that the
 * replayed derivation that overlaps it keeps its id (DESIGN.md: "stable
 * ... across restarts"). resolved_us VTG_TIME_NONE while open. */
int vtg_detect_restore_incident(vtg_detect_t *d, uint32_t check, const char *id, int64_t onset_us,
                                int64_t resolved_us);

/* Places one result. Results of one agent and check must come in order of
 * start time (an agent's sequence order gives that). */
int vtg_detect_feed(vtg_detect_t *d, const vtg_detect_result_t *r);

/* Moves event time to watermark_us: re-evaluates what changed, settles what
 * is old enough and calls the incident callback for every published
 * incident that was created or changed. */
void vtg_detect_advance(vtg_detect_t *d, int64_t watermark_us);

typedef struct vtg_region_status_s {
  vtg_state_t state;
  int agents;            /* agents of the region that report for the check */
  int healthy_agents;    /* of those, not impaired */
  int64_t last_probe_us; /* VTG_TIME_NONE when none */
  int64_t last_latency_us;
  int blame;             /* VTG_BLAME_NETWORK: unknown because the region's own path is down */
} vtg_region_status_t;

/* The state of a region for a check as of the watermark. */
void vtg_detect_region_status(const vtg_detect_t *d, uint32_t check, uint32_t region,
                              vtg_region_status_t *out);

/* 1 while the check has a published incident that is open. */
int vtg_detect_check_open(const vtg_detect_t *d, uint32_t check);

/* Who a failure is blamed on when it is not the target's (issue 5). */
enum {
  VTG_BLAME_NONE = 0,
  VTG_BLAME_VANTAGE = 1, /* the agent itself: its region peers (or everyone else) see the targets */
  VTG_BLAME_NETWORK = 2  /* the region's network path: all its agents fail, other regions do not */
};

typedef struct vtg_agent_status_s {
  int impaired;
  int blame;             /* VTG_BLAME_* while impaired */
  int suspect;
  int checks_down;
  int checks;
} vtg_agent_status_t;
void vtg_detect_agent_status(const vtg_detect_t *d, uint32_t agent, vtg_agent_status_t *out);

const char *vtg_scope_name(vtg_scope_t s);
/* "up", "degraded", "down" or "unknown": the name every view (API,
 * metrics, status page, history) gives a state. Defined in state.c. */
const char *vtg_state_name(vtg_state_t s);
/* "vantage", "network", or NULL for VTG_BLAME_NONE (JSON null). */
const char *vtg_blame_name(int blame);

#endif
