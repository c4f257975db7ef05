/* The scenario as the simulator needs it: who the agents are, which service
 * answers which path, and the fault plan with its mode table. The harness
 * validates the file strictly; this reader is lenient about keys it does
 * not need but still names file:line:col on anything it cannot use. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vtg/error.h"
#include "vtg/yconf.h"

/* One row per mode, indexed by vtg_sim_mode_t. A new mode is one row here
 * plus its enum value; the server only knows the actions. */
static const vtg_sim_mode_desc_t modes[VTG_SIM_MODE_COUNT] = {
    [VTG_SIM_MODE_OK] = {"ok", VTG_SIM_ACT_ANSWER, 200, 1},
    [VTG_SIM_MODE_TIMEOUT] = {"timeout", VTG_SIM_ACT_HOLD, 0, 1},
    [VTG_SIM_MODE_RESET] = {"reset", VTG_SIM_ACT_RESET, 0, 1},
    [VTG_SIM_MODE_HTTP_503] = {"http_503", VTG_SIM_ACT_ANSWER, 503, 1},
    [VTG_SIM_MODE_HTTP_500] = {"http_500", VTG_SIM_ACT_ANSWER, 500, 1},
    [VTG_SIM_MODE_SLOW] = {"slow", VTG_SIM_ACT_DELAY, 200, 1},
    [VTG_SIM_MODE_FLAKY] = {"flaky", VTG_SIM_ACT_RANDOM, 0, 1},
    [VTG_SIM_MODE_VANTAGE_DOWN] = {"vantage_down", VTG_SIM_ACT_HOLD, 0, 0},
    [VTG_SIM_MODE_HTTP_404] = {"http_404", VTG_SIM_ACT_ANSWER, 404, 1},
    [VTG_SIM_MODE_WRONG_BODY] = {"wrong_body", VTG_SIM_ACT_BODY, 200, 1},
    [VTG_SIM_MODE_REFUSED] = {"refused", VTG_SIM_ACT_REFUSE, 0, 1},
    [VTG_SIM_MODE_TLS_ERROR] = {"tls_error", VTG_SIM_ACT_TLS_GARBAGE, 0, 1},
    [VTG_SIM_MODE_DNS_FAIL] = {"dns_fail", VTG_SIM_ACT_SERVFAIL, 0, 1},
    [VTG_SIM_MODE_CERT_EXPIRING] = {"cert_expiring", VTG_SIM_ACT_CERT_EXPIRING, 0, 1},
    [VTG_SIM_MODE_GARBAGE] = {"garbage", VTG_SIM_ACT_GARBAGE, 0, 1},
    [VTG_SIM_MODE_BLACKHOLE] = {"blackhole", VTG_SIM_ACT_BLACKHOLE, 0, 1},
};

static const char *const check_types[] = {"http", "tcp", "dns", "tls", NULL};

const vtg_sim_mode_desc_t *vtg_sim_mode_desc(vtg_sim_mode_t m) {
  if ((int)m < 0 || m >= VTG_SIM_MODE_COUNT) return &modes[VTG_SIM_MODE_OK];
  return &modes[m];
}

static int mode_parse(const char *name, vtg_sim_mode_t *out) {
  /* "ok" is not a fault a scenario can ask for. */
  for (int i = 1; i < VTG_SIM_MODE_COUNT; i++) {
    if (strcmp(modes[i].name, name) == 0) {
      *out = (vtg_sim_mode_t)i;
      return 0;
    }
  }
  return VTG_EINVAL;
}

static void fault_free(vtg_sim_fault_t *f) {
  free(f->regions);
  free(f->agents);
}

void vtg_sim_scenario_free(vtg_sim_scenario_t *s) {
  free(s->name);
  for (size_t i = 0; i < s->n_regions; i++) free(s->regions[i].name);
  free(s->regions);
  for (size_t i = 0; i < s->n_checks; i++) {
    free(s->checks[i].name);
    free(s->checks[i].dns_name);
  }
  free(s->checks);
  for (size_t i = 0; i < s->n_services; i++) {
    vtg_sim_service_t *svc = &s->services[i];
    free(svc->name);
    for (size_t j = 0; j < svc->n_endpoints; j++) free(svc->endpoints[j].path);
    free(svc->endpoints);
  }
  free(s->services);
  for (size_t i = 0; i < s->n_faults; i++) fault_free(&s->faults[i]);
  free(s->faults);
  memset(s, 0, sizeof(*s));
}

static long find_region(const vtg_sim_scenario_t *s, const char *name) {
  for (size_t i = 0; i < s->n_regions; i++)
    if (strcmp(s->regions[i].name, name) == 0) return (long)i;
  return -1;
}

static long find_check(const vtg_sim_scenario_t *s, const char *name) {
  for (size_t i = 0; i < s->n_checks; i++)
    if (strcmp(s->checks[i].name, name) == 0) return (long)i;
  return -1;
}

/* "<region>-<n>" with a known region (names may hold '-') and 1 <= n <= its
 * agents. Returns 0 or VTG_ENOTFOUND. */
static int parse_agent_id(const vtg_sim_scenario_t *s, const char *id, vtg_sim_agent_ref_t *out) {
  size_t idlen = strlen(id);
  for (size_t i = 0; i < s->n_regions; i++) {
    size_t rl = strlen(s->regions[i].name);
    if (idlen < rl + 2 || memcmp(id, s->regions[i].name, rl) != 0 || id[rl] != '-') continue;
    const char *num = id + rl + 1;
    char *end = NULL;
    long n = strtol(num, &end, 10);
    if (*num < '1' || *num > '9' || *end != '\0') continue;
    if (n < 1 || n > s->regions[i].agents) continue;
    out->region = (int)i;
    out->agent = (int)n;
    return 0;
  }
  return VTG_ENOTFOUND;
}

static int load_regions(vtg_yconf_t *c, vtg_sim_scenario_t *s) {
  const vtg_ynode_t *seq = vtg_yconf_get(c->root, "regions");
  int rc;
  if (seq == NULL) return vtg_yconf_error(c, c->root, "missing key 'regions'");
  if ((rc = vtg_yconf_expect(c, seq, VTG_YNODE_SEQ)) != 0) return rc;
  if (seq->n == 0 || seq->n > 250)
    return vtg_yconf_error(c, seq, "expected 1 to 250 regions (addresses 127.0.R.A)");
  s->regions = calloc(seq->n, sizeof(*s->regions));
  if (s->regions == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < seq->n; i++) {
    const vtg_ynode_t *r = seq->items[i];
    vtg_sim_region_t *reg = &s->regions[i];
    int64_t agents = 0;
    s->n_regions = i + 1;
    if ((rc = vtg_yconf_expect(c, r, VTG_YNODE_MAP)) != 0) return rc;
    if ((rc = vtg_yconf_str(c, r, "name", 1, &reg->name)) != 0) return rc;
    if ((rc = vtg_yconf_int(c, r, "agents", 1, 1, 250, &agents)) != 0) return rc;
    reg->agents = (int)agents;
    if (find_region(s, reg->name) != (long)i)
      return vtg_yconf_error(c, r, "duplicate region '%s'", reg->name);
  }
  return 0;
}

/* A loopback IPv4 literal (127.x.y.z) in host order; 0 when it is not one. */
static uint32_t loopback4(const char *str) {
  struct in_addr a;
  if (str == NULL || inet_pton(AF_INET, str, &a) != 1) return 0;
  uint32_t v = ntohl(a.s_addr);
  return (v >> 24) == 127 ? v : 0;
}

/* A service's `addresses:` list (default 127.0.0.1 alone). */
static int load_addrs(vtg_yconf_t *c, const vtg_ynode_t *node, vtg_sim_service_t *svc) {
  const vtg_ynode_t *n = vtg_yconf_get(node, "addresses");
  int rc;
  if (n == NULL) {
    svc->addrs[0] = 0x7f000001u;
    svc->n_addrs = 1;
    return 0;
  }
  if ((rc = vtg_yconf_expect(c, n, VTG_YNODE_SEQ)) != 0) return rc;
  if (n->n == 0 || n->n > VTG_SIM_MAX_ADDRS)
    return vtg_yconf_error(c, n, "addresses: 1 to %d loopback IPv4 addresses", VTG_SIM_MAX_ADDRS);
  for (size_t i = 0; i < n->n; i++) {
    uint32_t a = n->items[i]->kind == VTG_YNODE_SCALAR ? loopback4(n->items[i]->scalar) : 0;
    if (a == 0) return vtg_yconf_error(c, n->items[i], "expected a 127.x.y.z address");
    svc->addrs[svc->n_addrs++] = a;
  }
  return 0;
}

static int load_services(vtg_yconf_t *c, vtg_sim_scenario_t *s) {
  const vtg_ynode_t *seq = vtg_yconf_get(c->root, "services");
  size_t total = 0;
  int rc;
  if (seq == NULL) return vtg_yconf_error(c, c->root, "missing key 'services'");
  if ((rc = vtg_yconf_expect(c, seq, VTG_YNODE_SEQ)) != 0) return rc;
  if (seq->n == 0 || seq->n > 1000) return vtg_yconf_error(c, seq, "expected 1 to 1000 services");
  /* Count endpoints first so checks is one array. */
  for (size_t i = 0; i < seq->n; i++) {
    const vtg_ynode_t *svc = seq->items[i];
    const vtg_ynode_t *eps;
    if ((rc = vtg_yconf_expect(c, svc, VTG_YNODE_MAP)) != 0) return rc;
    eps = vtg_yconf_get(svc, "endpoints");
    if (eps == NULL) return vtg_yconf_error(c, svc, "missing key 'endpoints'");
    if ((rc = vtg_yconf_expect(c, eps, VTG_YNODE_SEQ)) != 0) return rc;
    if (eps->n == 0 || eps->n > 1000) return vtg_yconf_error(c, eps, "expected 1 to 1000 endpoints");
    total += eps->n;
  }
  s->services = calloc(seq->n, sizeof(*s->services));
  s->checks = calloc(total, sizeof(*s->checks));
  if (s->services == NULL || s->checks == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < seq->n; i++) {
    const vtg_ynode_t *node = seq->items[i];
    const vtg_ynode_t *eps = vtg_yconf_get(node, "endpoints");
    vtg_sim_service_t *svc = &s->services[i];
    s->n_services = i + 1;
    if ((rc = vtg_yconf_str(c, node, "name", 1, &svc->name)) != 0) return rc;
    if ((rc = load_addrs(c, node, svc)) != 0) return rc;
    svc->endpoints = calloc(eps->n, sizeof(*svc->endpoints));
    if (svc->endpoints == NULL) return VTG_ENOMEM;
    for (size_t j = 0; j < eps->n; j++) {
      const vtg_ynode_t *ep = eps->items[j];
      vtg_sim_endpoint_t *e = &svc->endpoints[j];
      vtg_sim_check_t *chk = &s->checks[s->n_checks];
      svc->n_endpoints = j + 1;
      if ((rc = vtg_yconf_expect(c, ep, VTG_YNODE_MAP)) != 0) return rc;
      if ((rc = vtg_yconf_str(c, ep, "check", 1, &chk->name)) != 0) return rc;
      s->n_checks++;
      if (find_check(s, chk->name) != (long)(s->n_checks - 1))
        return vtg_yconf_error(c, ep, "duplicate check '%s'", chk->name);
      e->check = s->n_checks - 1;
      chk->service = i;
      char *type = NULL;
      if ((rc = vtg_yconf_str(c, ep, "type", 0, &type)) != 0) return rc;
      if (type != NULL) {
        int t = -1;
        for (int k = 0; check_types[k]; k++)
          if (strcmp(check_types[k], type) == 0) t = k;
        free(type);
        if (t < 0) return vtg_yconf_error(c, vtg_yconf_get(ep, "type"), "unknown check type");
        chk->type = (vtg_sim_check_type_t)t;
      }
      if (chk->type == VTG_SIM_CHECK_DNS) {
        if ((rc = vtg_yconf_str(c, ep, "name", 1, &chk->dns_name)) != 0) return rc;
        size_t nl = strlen(chk->dns_name);
        if (nl > 0 && chk->dns_name[nl - 1] == '.') chk->dns_name[nl - 1] = '\0';
      }
      /* Only HTTP checks are routed by path. */
      if (chk->type != VTG_SIM_CHECK_HTTP) continue;
      if ((rc = vtg_yconf_str(c, ep, "path", 1, &e->path)) != 0) return rc;
      if (e->path[0] != '/') return vtg_yconf_error(c, ep, "path must start with '/'");
      for (size_t k = 0; k < j; k++)
        if (svc->endpoints[k].path != NULL && strcmp(svc->endpoints[k].path, e->path) == 0)
          return vtg_yconf_error(c, ep, "two endpoints of service '%s' share path '%s'",
                                 svc->name, e->path);
    }
  }
  return 0;
}

/* Reads a list of names under key of fault node f; *out_node gets the node
 * (NULL when absent). */
static const vtg_ynode_t *get_list(vtg_yconf_t *c, const vtg_ynode_t *f, const char *key, int *rc) {
  const vtg_ynode_t *n = vtg_yconf_get(f, key);
  *rc = 0;
  if (n != NULL) *rc = vtg_yconf_expect(c, n, VTG_YNODE_SEQ);
  return n;
}

static int load_fault(vtg_yconf_t *c, vtg_sim_scenario_t *s, const vtg_ynode_t *f,
                      vtg_sim_fault_t *out, int *skip) {
  const vtg_ynode_t *n;
  char *str = NULL;
  double from = 0, to = INFINITY;
  int rc;

  *skip = 0;
  if ((rc = vtg_yconf_expect(c, f, VTG_YNODE_MAP)) != 0) return rc;
  out->line = f->line;
  out->check = -1;
  if (vtg_yconf_get(f, "mode") == NULL &&
      (vtg_yconf_get(f, "coordinator") != NULL || vtg_yconf_get(f, "clock_skew_ms") != NULL)) {
    *skip = 1; /* not a target fault; the harness plays it */
    return 0;
  }
  if ((rc = vtg_yconf_str(c, f, "mode", 1, &str)) != 0) goto out;
  if (mode_parse(str, &out->mode) != 0) {
    rc = vtg_yconf_error(c, vtg_yconf_get(f, "mode"), "unknown fault mode '%s'", str);
    goto out;
  }
  if ((rc = vtg_yconf_double(c, f, "from", 0, 0, 1e9, &from)) != 0) goto out;
  if ((rc = vtg_yconf_double(c, f, "to", 0, 0, 1e9, &to)) != 0) goto out;
  if (!(to > from)) {
    rc = vtg_yconf_error(c, f, "'to' must be after 'from'");
    goto out;
  }
  out->from_us = (int64_t)llround(from * 1e6);
  out->to_us = isinf(to) ? INT64_MAX : (int64_t)llround(to * 1e6);

  if ((n = vtg_yconf_get(f, "check")) != NULL) {
    free(str);
    str = NULL;
    if ((rc = vtg_yconf_str(c, f, "check", 1, &str)) != 0) goto out;
    out->check = find_check(s, str);
    if (out->check < 0) {
      rc = vtg_yconf_error(c, n, "unknown check '%s'", str);
      goto out;
    }
  }
  if ((n = vtg_yconf_get(f, "address")) != NULL) {
    out->address = n->kind == VTG_YNODE_SCALAR ? loopback4(n->scalar) : 0;
    if (out->address == 0) {
      rc = vtg_yconf_error(c, n, "address: expected a 127.x.y.z address");
      goto out;
    }
  }
  /* A vantage fault hits every check; a target fault without a check hits
   * every check too (the whole host is down). */
  if (!vtg_sim_mode_desc(out->mode)->needs_check) out->check = -1;

  if ((n = get_list(c, f, "regions", &rc)) != NULL) {
    if (rc != 0) goto out;
    out->regions = calloc(n->n + 1, sizeof(*out->regions));
    if (out->regions == NULL) {
      rc = VTG_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < n->n; i++) {
      long r;
      if (n->items[i]->kind != VTG_YNODE_SCALAR ||
          (r = find_region(s, n->items[i]->scalar)) < 0) {
        rc = vtg_yconf_error(c, n->items[i], "unknown region");
        goto out;
      }
      out->regions[out->n_regions++] = (int)r;
    }
  } else if (rc != 0) {
    goto out;
  }
  if ((n = get_list(c, f, "agents", &rc)) != NULL) {
    if (rc != 0) goto out;
    out->agents = calloc(n->n + 1, sizeof(*out->agents));
    if (out->agents == NULL) {
      rc = VTG_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < n->n; i++) {
      if (n->items[i]->kind != VTG_YNODE_SCALAR ||
          parse_agent_id(s, n->items[i]->scalar, &out->agents[out->n_agents]) != 0) {
        rc = vtg_yconf_error(c, n->items[i], "unknown agent (expected <region>-<n>)");
        goto out;
      }
      out->n_agents++;
    }
  } else if (rc != 0) {
    goto out;
  }

  switch (vtg_sim_mode_desc(out->mode)->action) {
  case VTG_SIM_ACT_DELAY: {
    int64_t d = 0;
    if ((rc = vtg_yconf_int(c, f, "delay_ms", 1, 0, 3600 * 1000, &d)) != 0) goto out;
    out->delay_ms = d;
    break;
  }
  case VTG_SIM_ACT_RANDOM: {
    out->as = VTG_SIM_MODE_HTTP_503;
    if ((rc = vtg_yconf_double(c, f, "rate", 1, 0.0, 1.0, &out->rate)) != 0) goto out;
    if ((n = vtg_yconf_get(f, "as")) != NULL) {
      vtg_sim_action_t a;
      free(str);
      str = NULL;
      if ((rc = vtg_yconf_str(c, f, "as", 1, &str)) != 0) goto out;
      if (mode_parse(str, &out->as) != 0) {
        rc = vtg_yconf_error(c, n, "unknown mode '%s'", str);
        goto out;
      }
      a = vtg_sim_mode_desc(out->as)->action;
      if (a == VTG_SIM_ACT_RANDOM || !vtg_sim_mode_desc(out->as)->needs_check) {
        rc = vtg_yconf_error(c, n, "'as' must be a plain target failure mode");
        goto out;
      }
      if (a == VTG_SIM_ACT_DELAY &&
          (rc = vtg_yconf_int(c, f, "delay_ms", 1, 0, 3600 * 1000, &out->delay_ms)) != 0)
        goto out;
    }
    break;
  }
  default:
    break;
  }
  rc = 0;
out:
  free(str);
  return rc;
}

static int load_faults(vtg_yconf_t *c, vtg_sim_scenario_t *s) {
  const vtg_ynode_t *seq = vtg_yconf_get(c->root, "faults");
  int rc;
  if (seq == NULL) return 0;
  if ((rc = vtg_yconf_expect(c, seq, VTG_YNODE_SEQ)) != 0) return rc;
  s->faults = calloc(seq->n + 1, sizeof(*s->faults));
  if (s->faults == NULL) return VTG_ENOMEM;
  for (size_t i = 0; i < seq->n; i++) {
    vtg_sim_fault_t *f = &s->faults[s->n_faults];
    int skip = 0;
    rc = load_fault(c, s, seq->items[i], f, &skip);
    if (rc != 0 || skip) {
      fault_free(f);
      memset(f, 0, sizeof(*f));
      if (rc != 0) return rc;
      continue;
    }
    s->n_faults++;
  }
  return 0;
}

int vtg_sim_scenario_load(vtg_sim_scenario_t *s, const char *path, char *err, size_t errlen) {
  vtg_yconf_t c;
  int64_t seed = 1;
  int rc;

  memset(s, 0, sizeof(*s));
  memset(&c, 0, sizeof(c));
  rc = vtg_yconf_load_file(&c, path);
  if (rc != 0) goto out;
  if (c.root == NULL) {
    snprintf(c.err, sizeof(c.err), "%s:1:1: empty scenario", path);
    rc = VTG_ECONFIG;
    goto out;
  }
  if ((rc = vtg_yconf_expect(&c, c.root, VTG_YNODE_MAP)) != 0) goto out;
  if ((rc = vtg_yconf_str(&c, c.root, "name", 1, &s->name)) != 0) goto out;
  if ((rc = vtg_yconf_int(&c, c.root, "seed", 0, 0, INT64_MAX, &seed)) != 0) goto out;
  s->seed = (uint64_t)seed;
  if ((rc = load_regions(&c, s)) != 0) goto out;
  if ((rc = load_services(&c, s)) != 0) goto out;
  rc = load_faults(&c, s);
out:
  if (rc != 0) {
    if (c.err[0] != '\0')
      snprintf(err, errlen, "%s", c.err);
    else
      snprintf(err, errlen, "%s: %s", path, vtg_strerror(rc));
    vtg_sim_scenario_free(s);
  }
  vtg_yconf_free(&c);
  return rc;
}

int vtg_sim_agent_from_addr(const vtg_sim_scenario_t *s, uint32_t addr, vtg_sim_agent_ref_t *out) {
  unsigned a = addr & 0xff, r = (addr >> 8) & 0xff;
  if ((addr >> 16) != 0x7f00u) return VTG_ENOTFOUND; /* 127.0.x.x */
  if (r < 1 || r > s->n_regions || a < 1 || (int)a > s->regions[r - 1].agents)
    return VTG_ENOTFOUND;
  out->region = (int)r - 1;
  out->agent = (int)a;
  return 0;
}

/* Does fault f's audience include who? Neither regions nor agents: all. */
static int fault_hits(const vtg_sim_fault_t *f, const vtg_sim_agent_ref_t *who) {
  if (f->n_regions == 0 && f->n_agents == 0) return 1;
  if (who == NULL) return 0;
  for (size_t i = 0; i < f->n_regions; i++)
    if (f->regions[i] == who->region) return 1;
  for (size_t i = 0; i < f->n_agents; i++)
    if (f->agents[i].region == who->region && f->agents[i].agent == who->agent) return 1;
  return 0;
}

/* Two passes: a vantage fault (the agent's own network is down) wins over
 * any target fault listed before it, because nothing the agent sends gets
 * anywhere; otherwise a flaky fault on one check listed first would let a
 * "broken" agent answer that check and look healthy there. Among target
 * faults the first in file order decides. */
const vtg_sim_fault_t *vtg_sim_fault_find(const vtg_sim_scenario_t *s, size_t check,
                                          const vtg_sim_agent_ref_t *who, int64_t t_us) {
  return vtg_sim_fault_find_at(s, check, who, 0, t_us);
}

const vtg_sim_fault_t *vtg_sim_fault_find_at(const vtg_sim_scenario_t *s, size_t check,
                                             const vtg_sim_agent_ref_t *who, uint32_t dst,
                                             int64_t t_us) {
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < s->n_faults; i++) {
      const vtg_sim_fault_t *f = &s->faults[i];
      int vantage = !vtg_sim_mode_desc(f->mode)->needs_check;
      if (vantage != (pass == 0)) continue;
      if (t_us < f->from_us || t_us >= f->to_us) continue;
      if (f->check >= 0 && (size_t)f->check != check) continue;
      if (f->address != 0 && f->address != dst) continue;
      if (fault_hits(f, who)) return f;
    }
  }
  return NULL;
}
