/* vantage-sim internals: the scenario as the simulator sees it (regions,
 * services, endpoints, the fault plan) and the HTTP server that plays it.
 * Nobody outside tests/sim includes this. One thread, one loop. */
#ifndef VTG_SIM_H
#define VTG_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* ---- fault modes ----
 * A mode is one row of a table (scenario.c): its YAML name, the action the
 * server takes and that action's parameter. New modes (http_404, wrong_body,
 * ...) are new rows; the server only knows the actions. */
typedef enum {
  VTG_SIM_ACT_ANSWER = 0, /* answer with status `status` (200 = normal) */
  VTG_SIM_ACT_HOLD,       /* read, never answer, keep the socket */
  VTG_SIM_ACT_RESET,      /* close with RST */
  VTG_SIM_ACT_DELAY,      /* answer 200 after the fault's delay_ms */
  VTG_SIM_ACT_RANDOM,     /* with the fault's rate act as its `as` mode */
  VTG_SIM_ACT_BODY,       /* answer 200 with an unexpected body */
  VTG_SIM_ACT_GARBAGE,    /* answer with bytes that are not HTTP */
  VTG_SIM_ACT_BLACKHOLE,  /* the service's port takes no connection: SYNs are dropped */
  /* Decided below HTTP (an HTTP request never sees them): */
  VTG_SIM_ACT_REFUSE,     /* the service's listeners are closed: connections refused */
  VTG_SIM_ACT_TLS_GARBAGE, /* the TLS listener answers a ClientHello with plain text */
  VTG_SIM_ACT_SERVFAIL,   /* the DNS responder answers SERVFAIL */
  VTG_SIM_ACT_CERT_EXPIRING, /* the TLS listener presents a certificate with 5 days left */
} vtg_sim_action_t;

typedef enum {
  VTG_SIM_MODE_OK = 0, /* no fault: the normal answer (stats only) */
  VTG_SIM_MODE_TIMEOUT,
  VTG_SIM_MODE_RESET,
  VTG_SIM_MODE_HTTP_503,
  VTG_SIM_MODE_HTTP_500,
  VTG_SIM_MODE_SLOW,
  VTG_SIM_MODE_FLAKY,
  VTG_SIM_MODE_VANTAGE_DOWN,
  VTG_SIM_MODE_HTTP_404,
  VTG_SIM_MODE_WRONG_BODY,
  VTG_SIM_MODE_REFUSED,
  VTG_SIM_MODE_TLS_ERROR,
  VTG_SIM_MODE_DNS_FAIL,
  VTG_SIM_MODE_CERT_EXPIRING,
  VTG_SIM_MODE_GARBAGE,
  VTG_SIM_MODE_BLACKHOLE,
  VTG_SIM_MODE_COUNT
} vtg_sim_mode_t;

typedef struct vtg_sim_mode_desc_s {
  const char *name;        /* as written in scenarios and shown in /stats */
  vtg_sim_action_t action;
  int status;              /* ANSWER: the HTTP status */
  int needs_check;         /* 0: applies to every check (vantage faults) */
} vtg_sim_mode_desc_t;

/* The table row of a mode; never NULL for a valid mode. */
const vtg_sim_mode_desc_t *vtg_sim_mode_desc(vtg_sim_mode_t m);

/* ---- scenario ---- */
typedef struct vtg_sim_region_s {
  char *name;
  int agents; /* agents 1..agents, addresses 127.0.R.A */
} vtg_sim_region_t;

typedef enum {
  VTG_SIM_CHECK_HTTP = 0, /* HTTP requests routed by path (over TLS too, with https) */
  VTG_SIM_CHECK_TCP,      /* connects to the service's HTTP port */
  VTG_SIM_CHECK_DNS,      /* A queries for dns_name at the DNS responder */
  VTG_SIM_CHECK_TLS,      /* handshakes with the service's TLS port */
} vtg_sim_check_type_t;

typedef struct vtg_sim_check_s {
  char *name;
  vtg_sim_check_type_t type;
  char *dns_name;     /* DNS: the name answered (without a final dot) */
  size_t service;     /* index of its service */
  uint64_t count[VTG_SIM_MODE_COUNT]; /* requests by effective mode */
} vtg_sim_check_t;

typedef struct vtg_sim_endpoint_s {
  char *path;   /* compared with the request path without its query; NULL: not HTTP */
  size_t check; /* index into scenario checks */
} vtg_sim_endpoint_t;

struct vtg_sim_server_s;

#define VTG_SIM_MAX_ADDRS 4 /* addresses one service listens on */

typedef struct vtg_sim_service_s {
  char *name;
  /* `addresses: [127.0.0.1, 127.0.0.2]` (IPv4 loopback, host order; default
   * 127.0.0.1 alone): the HTTP listener takes the same port on each, and
   * the DNS responder answers "<name>.sim" with all of them (issue 5's
   * every_address checks). */
  uint32_t addrs[VTG_SIM_MAX_ADDRS];
  size_t n_addrs;
  uv_tcp_t extra[VTG_SIM_MAX_ADDRS - 1]; /* HTTP listeners on addrs[1..]; data = the service */
  int extra_listening[VTG_SIM_MAX_ADDRS - 1];
  vtg_sim_endpoint_t *endpoints;
  size_t n_endpoints;
  uv_tcp_t listener;   /* data = the service */
  struct vtg_sim_s *sim;
  int port;
  int listening;       /* listener initialised (must be closed) */
  uv_tcp_t tls_listener; /* data = the service; HTTPS and TLS checks */
  int tls_port;
  int tls_listening;
  int refusing;        /* listeners closed by a `refused` or `blackhole` fault */
  int holing;          /* ... a `blackhole` one: hole_fd takes the port */
  int hole_fd;         /* listen(0) socket never accepted, its queue filled: -1 none */
  int filler_fd;       /* our own connection that fills that queue: -1 none */
  int closing;         /* listener closes still to call back */
} vtg_sim_service_t;

typedef struct vtg_sim_agent_ref_s {
  int region; /* 0-based */
  int agent;  /* 1-based */
} vtg_sim_agent_ref_t;

typedef struct vtg_sim_fault_s {
  int line;            /* in the scenario file, for the log */
  int64_t from_us;     /* window [from, to) in scenario time */
  int64_t to_us;
  long check;          /* index into checks, -1: every check */
  int *regions;        /* 0-based region indexes */
  size_t n_regions;
  vtg_sim_agent_ref_t *agents;
  size_t n_agents;
  vtg_sim_mode_t mode;
  vtg_sim_mode_t as;   /* RANDOM: the failure mode */
  int64_t delay_ms;    /* DELAY */
  double rate;         /* RANDOM: probability of failure */
  uint32_t address;    /* `address: 127.0.0.2`: only connections to it (host order); 0 = any */
} vtg_sim_fault_t;

typedef struct vtg_sim_scenario_s {
  char *name;
  uint64_t seed;
  vtg_sim_region_t *regions;
  size_t n_regions;
  vtg_sim_check_t *checks;
  size_t n_checks;
  vtg_sim_service_t *services;
  size_t n_services;
  vtg_sim_fault_t *faults;
  size_t n_faults;
} vtg_sim_scenario_t;

/* Loads the parts of a scenario the simulator needs from path. Unknown keys
 * are ignored (the harness validates the file). On failure returns
 * VTG_ECONFIG or VTG_EIO with "FILE:LINE:COL: what" in err; s is then
 * freed already. */
int vtg_sim_scenario_load(vtg_sim_scenario_t *s, const char *path, char *err, size_t errlen);
void vtg_sim_scenario_free(vtg_sim_scenario_t *s);

/* Maps a peer IPv4 address (host byte order) to (region, agent); returns 0
 * or VTG_ENOTFOUND when it is not 127.0.R.A of a known agent. */
int vtg_sim_agent_from_addr(const vtg_sim_scenario_t *s, uint32_t addr, vtg_sim_agent_ref_t *out);

/* The fault that decides a request for check `check` from agent `who`
 * (NULL: unknown source) at scenario time t_us, or NULL when none does. */
const vtg_sim_fault_t *vtg_sim_fault_find(const vtg_sim_scenario_t *s, size_t check,
                                          const vtg_sim_agent_ref_t *who, int64_t t_us);
/* The same for a connection to destination address dst (IPv4, host order;
 * 0 = unknown: faults bound to an address do not apply). */
const vtg_sim_fault_t *vtg_sim_fault_find_at(const vtg_sim_scenario_t *s, size_t check,
                                             const vtg_sim_agent_ref_t *who, uint32_t dst,
                                             int64_t t_us);

/* ---- the simulator ---- */
#define VTG_SIM_MAX_CONNS 4096
#define VTG_SIM_MAX_HEADER (16 * 1024)

typedef struct vtg_sim_s {
  uv_loop_t *loop;
  vtg_sim_scenario_t sc;
  uv_tcp_t control;
  int control_port;
  int control_listening;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  int signals_on;
  int64_t t0_us;            /* INT64_MIN until /start */
  uint64_t prng;            /* splitmix64 state, seeded by the scenario */
  struct vtg_sim_conn_s *conns; /* every open connection, for shutdown */
  size_t n_conns;
  void *ssl_ctx;            /* SSL_CTX of the TLS listeners (sim_tls.c) */
  void *ssl_ctx_expiring;   /* the same with a certificate 5 days from expiry */
  char *ca_path;            /* the test CA the certificates chain to, PEM */
  uv_udp_t dns;             /* the DNS responder (sim_dns.c) */
  int dns_port;
  int dns_on;
  uv_timer_t refuse_timer;  /* opens and closes listeners for `refused` */
  int refuse_timer_on;
  unsigned char dns_in[512];
  uint64_t unrouted;        /* requests to no known endpoint */
  uint64_t rejected;        /* connections refused over the cap */
  int stopping;
} vtg_sim_t;

/* Binds the control listener and one listener per service on 127.0.0.1
 * port 0 and records the ports. Returns 0 or a libuv error. */
int vtg_sim_listen(vtg_sim_t *sim);
/* Closes every handle (listeners, connections, signals); the loop then
 * ends by itself. Idempotent. */
void vtg_sim_stop(vtg_sim_t *sim);
/* Next pseudo-random double in [0, 1). */
double vtg_sim_random(vtg_sim_t *sim);
/* Scenario time now, INT64_MIN before /start. */
int64_t vtg_sim_now(const vtg_sim_t *sim);

/* ---- TLS (sim_tls.c) ----
 * Makes a test CA and a server certificate for 127.0.0.1 and localhost
 * (EC P-256, valid a year; a second one valid 5 days for cert_expiring),
 * writes the CA to ca_path (PEM) and sets up sim->ssl_ctx and
 * sim->ssl_ctx_expiring. Returns 0 or VTG_EIO/VTG_ENOMEM (logged). */
int vtg_sim_tls_init(vtg_sim_t *sim, const char *ca_path);
void vtg_sim_tls_free(vtg_sim_t *sim);

/* ---- DNS (sim_dns.c) ----
 * Binds the UDP responder on 127.0.0.1:0. It answers A queries for the
 * scenario's DNS checks with 127.0.0.1 (SERVFAIL under a dns_fail fault),
 * NXDOMAIN for other names. Returns 0 or a libuv error. */
int vtg_sim_dns_listen(vtg_sim_t *sim);

#endif
