/* The coordinator's configuration: listeners, detection settings, the
 * optional agent registry and the services with their endpoints (checks).
 * Loaded from YAML with vtg_yconf; every error names file:line:col. */
#ifndef VTG_COORD_CONFIG_H
#define VTG_COORD_CONFIG_H

#include "vtg/tls.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VTG_CONFIG_DEFAULT_MAX_FRAME (1 << 20)

typedef struct vtg_status_range_s {
  uint16_t lo, hi;
} vtg_status_range_t;

/* One endpoint of a service: what DESIGN.md calls a check. */
typedef struct vtg_check_cfg_s {
  char *name;              /* unique over the whole config */
  char *service;           /* the service it belongs to */
  char *kind;              /* "web", "api", ... */
  char *url;               /* http:// or https:// */
  char *method;            /* GET (default), HEAD, POST, ... */
  int64_t interval_us;
  int64_t timeout_us;      /* < interval */
  int64_t max_latency_us;  /* 0 = none; slower answers are "degraded" */
  vtg_status_range_t *accept; /* accepted statuses; empty = 200-399 */
  size_t n_accept;
  char **regions;          /* region selector: only agents of these regions run it; empty = all */
  size_t n_regions;
  int line;                /* where it is defined, for messages */
  /* Check types (issue 3). For non-HTTP types `url` is a canonical display
   * form ("tcp://host:port", "dns:name?type=A", "https://host:port/") so the
   * API, store and page need no per-type code. */
  int type;                /* VTG_CHECK_TYPE_* (the values of proto CheckType) */
  char **headers;          /* HTTP: "Name: value" */
  size_t n_headers;
  char *body;              /* HTTP: request body, NULL = none */
  int follow_redirects;    /* HTTP: default 0 */
  int control;             /* a control check (should always work): default 0 */
  char *body_regex;        /* HTTP: POSIX ERE, compiled once at load to validate it */
  char *target;            /* TCP: "host:port" */
  char *dns_name;          /* DNS */
  int dns_record;          /* DNS: VTG_DNS_RECORD_* (the values of proto DnsRecord) */
  char **dns_expect;       /* DNS: answers that must all be present */
  size_t n_dns_expect;
  char *dns_resolver;      /* DNS: "ip:port" / "[v6]:port", NULL = system resolver */
  uint32_t min_days_left;  /* TLS: alert threshold, default 14 */
  int ip_version;          /* 0 = any, 4, 6 */
  int every_address;       /* HTTP/TCP/TLS: probe each address of the host apart (issue 5);
                              dns_resolver then names the resolver to use (NULL = system) */
  int64_t incident_interval_us; /* `incident_interval:`, 0 = not set (the default applies;
                                   see vtg_config_incident_interval_us) */
} vtg_check_cfg_t;

/* Endpoint `type:` values; numerically equal to proto CheckType. */
enum { VTG_CHECK_TYPE_HTTP = 0, VTG_CHECK_TYPE_TCP = 1, VTG_CHECK_TYPE_DNS = 2,
       VTG_CHECK_TYPE_TLS = 3 };
/* DNS `record:` values; numerically equal to proto DnsRecord. */
enum { VTG_DNS_RECORD_A = 0, VTG_DNS_RECORD_AAAA, VTG_DNS_RECORD_CNAME, VTG_DNS_RECORD_MX,
       VTG_DNS_RECORD_TXT, VTG_DNS_RECORD_NS };
#define VTG_CHECK_TLS_MIN_DAYS_DEFAULT 14

typedef struct vtg_detect_cfg_s {
  int64_t fail_threshold;    /* default 2 */
  int64_t recover_threshold; /* default 2 */
  int64_t min_regions;       /* default 2; a config saying less is refused */
  int64_t merge_gap_us;      /* default 5m */
  int64_t settle_us;         /* 0 = auto: the longest interval + its timeout */
  int64_t lateness_us;       /* how far the watermark may wait for a slow live agent; default 10s */
} vtg_detect_cfg_t;

typedef struct vtg_registry_entry_s {
  char *id, *region, *country;
  double lat, lon;
} vtg_registry_entry_t;

/* A maintenance window (`maintenance:`, issue 4) for one check or every
 * check of one service: a fixed stretch [start, end) or a weekly one (UTC).
 * maint.h turns these into the windows the coordinator consults. */
#define VTG_MAINT_REASON_MAX 512
#define VTG_MAINT_CFG_MAX 10000
#define VTG_MAINT_MAX_FIXED_US (366LL * 86400 * 1000000) /* a config window lasts at most a year */
typedef struct vtg_maint_cfg_s {
  char *check;           /* exactly one of check and service is set */
  char *service;
  int64_t start_us;      /* fixed: unix us; weekly: unused (0) */
  int64_t end_us;        /* fixed: exclusive end */
  int64_t weekly_us;     /* weekly: offset from Sunday 00:00 UTC; -1 for a fixed window */
  int64_t duration_us;   /* weekly: length of each occurrence */
  char *reason;          /* "" when none */
  int line;              /* where it is defined, for messages */
} vtg_maint_cfg_t;

typedef struct vtg_coord_config_s {
  char *path;
  char *agent_listen;      /* "HOST:PORT", default 127.0.0.1:7300 */
  char *http_listen;       /* "HOST:PORT", default 127.0.0.1:7380 */
  char *store_path;        /* SQLite file, default ./vantage.db */
  char *result_log_dir;    /* durable result log (resultlog.h), default "<store>.results" */
  int64_t result_log_retention_us; /* segments older than this go; default 24h */
  uint64_t result_log_max_bytes;   /* and the oldest while the log is larger; default 1 GiB */
  /* `retention:` (issue 4). Its result_log key sets result_log_retention_us above. */
  int64_t retention_rollups_us;    /* rollup minutes older than this go; default 90d */
  int64_t retention_incidents_us;  /* resolved incidents that ended longer ago go; default 400d;
                                      open ones never */
  int64_t heartbeat_us;    /* default 5s */
  int64_t idle_timeout_us; /* default 3 heartbeats */
  int64_t max_clock_offset_us; /* warn when an agent's clock is off by more; default 2s, 0 = never */
  uint32_t max_frame;      /* default 1 MiB */
  char *log_level;         /* default "info" */
  vtg_detect_cfg_t detect;
  int64_t incident_interval_us; /* `detection: incident_interval:`, 0 = auto (interval/5) */
  vtg_check_cfg_t *checks; /* all endpoints of all services, in file order */
  size_t n_checks;
  char **services;         /* service names in file order */
  size_t n_services;
  vtg_registry_entry_t *registry; /* has_registry: only these agents are accepted */
  size_t n_registry;
  int has_registry;
  vtg_tls_conf_t tls;      /* the agent listener: mutual TLS or explicit plaintext */
  vtg_maint_cfg_t *maintenance; /* `maintenance:` windows in file order */
  size_t n_maintenance;
} vtg_coord_config_t;

/* Loads path into *out (zeroed first). On error returns VTG_ECONFIG or
 * VTG_EIO with "FILE:LINE:COL: message" in err; *out is then freed. */
int vtg_config_load(const char *path, vtg_coord_config_t *out, char *err, size_t errlen);
/* Same from a string (tests); name stands for the file in messages. */
int vtg_config_load_string(const char *name, const char *text, vtg_coord_config_t *out,
                           char *err, size_t errlen);
void vtg_config_free(vtg_coord_config_t *c); /* NULL allowed; leaves *c zeroed */
/* Parses "IP:PORT" or "[IPv6]:PORT" (port 0 allowed) into *out (may be
 * NULL to only validate). Returns 0 or VTG_EINVAL. */
int vtg_config_parse_addr(const char *hostport, struct sockaddr_storage *out);
/* Registry entry for an agent id, NULL if absent. */
const vtg_registry_entry_t *vtg_config_registry_find(const vtg_coord_config_t *c,
                                                     const char *agent_id);
/* Whether an agent of region runs check ch (region selector). */
int vtg_config_check_applies(const vtg_check_cfg_t *ch, const char *region);
/* The agents' interval for ch while it is down somewhere (burst.h): its own
 * incident_interval, else the `detection:` default, else interval/5 but at
 * least 1 s; defaults are raised above the timeout (1.25 x) and never
 * exceed the interval. */
int64_t vtg_config_incident_interval_us(const vtg_coord_config_t *c, const vtg_check_cfg_t *ch);
/* The settle time in effect (auto resolved). */
int64_t vtg_config_settle_us(const vtg_coord_config_t *c);

#endif
