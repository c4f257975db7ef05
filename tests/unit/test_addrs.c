/* Every address (issue 5): the (check, address) -> sub-check mapping and
 * its stable ids, the per-turn aggregate the check itself gets, how
 * incidents of sub-checks are reported (partial, or withdrawn under a
 * whole-check incident), the JSON fields, the addresses kept for status,
 * and the config key. */
#include "addrs.h"
#include "config.h"
#include "incident.h"
#include "test.h"
#include "vtg/error.h"

#define S 1000000LL
#define T0 (1800000000LL * S)

/* A stand-in for the store's stable check ids: names get ids from 100 on,
 * the same name always the same id. */
typedef struct ids_s {
  char names[48][64];
  int n;
  int calls;
} ids_t;

static int fake_id(void *ctx, const char *name, const char *service, const char *kind,
                   uint32_t *out) {
  ids_t *t = ctx;
  (void)service;
  (void)kind;
  t->calls++;
  for (int i = 0; i < t->n; i++)
    if (strcmp(t->names[i], name) == 0) {
      *out = 100u + (uint32_t)i;
      return 0;
    }
  if (t->n == 48) return VTG_ENOMEM;
  snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
  *out = 100u + (uint32_t)t->n++;
  return 0;
}

static void no_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)ctx;
  (void)inc;
  (void)removed;
}

static vtg_detect_t *detector(void) {
  vtg_detect_params_t p = {.fail_threshold = 2,
                           .recover_threshold = 2,
                           .min_regions = 2,
                           .merge_gap_us = 5 * S};
  vtg_detect_t *d = vtg_detect_new(&p, no_incident, NULL);
  if (d == NULL) return NULL;
  vtg_detect_set_region(d, 0, "us-east");
  vtg_detect_set_region(d, 1, "eu-west");
  vtg_detect_set_agent(d, 0, 0);
  vtg_detect_set_agent(d, 1, 1);
  vtg_detect_set_check(d, 1, "web", "s", "web", 1 * S, S / 2);
  vtg_detect_set_check(d, 2, "api", "s", "api", 1 * S, S / 2);
  return d;
}

static const vtg_addrs_check_t web = {1, "web", "s", "web", 1 * S, S / 2};
static const vtg_addrs_check_t api = {2, "api", "s", "api", 1 * S, S / 2};

/* One turn of check ch by agent at t: address i is down when down_mask has
 * bit i. */
static int turn(vtg_addrs_t *m, const vtg_addrs_check_t *ch, uint32_t agent, int64_t t,
                unsigned down_mask) {
  static const char *const addrs[] = {"10.0.0.1", "10.0.0.2"};
  for (int i = 0; i < 2; i++) {
    int down = (down_mask >> i) & 1;
    vtg_detect_result_t r = {.agent = agent,
                             .check = ch->id,
                             .start_us = t,
                             .total_us = 1000 + i,
                             .outcome = down ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP,
                             .error_class = down ? 7 : 0};
    int err = vtg_addrs_feed(m, ch, &r, addrs[i], 2);
    if (err) return err;
  }
  return 0;
}

VTG_TEST(sub_check_ids_stable) {
  ids_t ids;
  uint32_t parent = 0, sub_a = 0;
  const char *addr = NULL;
  memset(&ids, 0, sizeof ids);
  vtg_detect_t *d = detector();
  ASSERT(d != NULL);
  vtg_addrs_t *m = vtg_addrs_new(d, fake_id, &ids);
  ASSERT(m != NULL);
  for (int k = 0; k < 3; k++) ASSERT_EQ(turn(m, &web, 0, T0 + k * S, 0), 0);
  ASSERT_EQ(ids.n, 2);
  ASSERT_EQ(ids.calls, 2); /* once per address, then from the table */
  ASSERT_STR_EQ(ids.names[0], "web@10.0.0.1");
  ASSERT_STR_EQ(ids.names[1], "web@10.0.0.2");
  ASSERT_EQ(vtg_addrs_parent(m, 100, &parent, &addr), 1);
  ASSERT_EQ(parent, 1);
  ASSERT_STR_EQ(addr, "10.0.0.1");
  ASSERT_EQ(vtg_addrs_parent(m, 1, &parent, &addr), 0); /* the check itself is no sub-check */
  sub_a = 100;
  vtg_addrs_free(m);
  vtg_detect_free(d);

  /* A restart: a new module (and detector) with the same store maps the
   * same names to the same ids, whatever order the addresses come in. */
  d = detector();
  ASSERT(d != NULL);
  m = vtg_addrs_new(d, fake_id, &ids);
  ASSERT(m != NULL);
  vtg_detect_result_t r = {.agent = 1, .check = 1, .start_us = T0, .outcome = VTG_OUTCOME_UP};
  ASSERT_EQ(vtg_addrs_feed(m, &web, &r, "10.0.0.2", 2), 0);
  ASSERT_EQ(vtg_addrs_feed(m, &web, &r, "10.0.0.1", 2), 0);
  ASSERT_EQ(vtg_addrs_parent(m, sub_a, &parent, &addr), 1);
  ASSERT_STR_EQ(addr, "10.0.0.1");
  ASSERT_EQ(vtg_addrs_parent(m, 101, &parent, &addr), 1);
  ASSERT_STR_EQ(addr, "10.0.0.2");
  ASSERT_EQ(ids.n, 2);
  /* An agent's address is checked: a literal, a bounded number per check. */
  ASSERT_EQ(vtg_addrs_feed(m, &web, &r, "example.com", 2), VTG_EINVAL);
  ASSERT_EQ(ids.n, 2);
  ids_t many;
  memset(&many, 0, sizeof many);
  vtg_addrs_t *m2 = vtg_addrs_new(d, fake_id, &many);
  ASSERT(m2 != NULL);
  char a[32];
  for (int i = 0; i < VTG_ADDRS_PER_CHECK_MAX; i++) {
    snprintf(a, sizeof a, "10.1.0.%d", i);
    r.start_us = T0 + i * S;
    ASSERT_EQ(vtg_addrs_feed(m2, &api, &r, a, 1), 0);
  }
  r.start_us = T0 + 100 * S;
  ASSERT_EQ(vtg_addrs_feed(m2, &api, &r, "10.1.1.1", 1), VTG_ELIMIT);
  ASSERT_EQ(many.n, VTG_ADDRS_PER_CHECK_MAX);
  vtg_addrs_free(m2);
  vtg_addrs_free(m);
  vtg_detect_free(d);
  return 0;
}

VTG_TEST(aggregate_rule) {
  ids_t ids;
  vtg_region_status_t st;
  memset(&ids, 0, sizeof ids);
  vtg_detect_t *d = detector();
  ASSERT(d != NULL);
  vtg_addrs_t *m = vtg_addrs_new(d, fake_id, &ids);
  ASSERT(m != NULL);
  /* web: address 2 down in every turn; api: both down. */
  for (int k = 0; k < 8; k++)
    for (uint32_t a = 0; a < 2; a++) {
      ASSERT_EQ(turn(m, &web, a, T0 + k * S + a * 1000, 2), 0);
      ASSERT_EQ(turn(m, &api, a, T0 + k * S + 500 * 1000 + a * 1000, 3), 0);
    }
  vtg_detect_advance(d, T0 + 8 * S);
  /* One of two addresses down: the check is up, its sub-check down. */
  vtg_detect_region_status(d, 1, 0, &st);
  ASSERT_EQ(st.state, VTG_STATE_UP);
  vtg_detect_region_status(d, 101, 0, &st); /* web@10.0.0.2 */
  ASSERT_EQ(st.state, VTG_STATE_DOWN);
  vtg_detect_region_status(d, 100, 1, &st); /* web@10.0.0.1 */
  ASSERT_EQ(st.state, VTG_STATE_UP);
  /* All addresses down: the check itself is down. */
  vtg_detect_region_status(d, 2, 0, &st);
  ASSERT_EQ(st.state, VTG_STATE_DOWN);
  vtg_detect_region_status(d, 2, 1, &st);
  ASSERT_EQ(st.state, VTG_STATE_DOWN);
  /* A failed lookup (no address) goes to the check as it is. */
  vtg_detect_result_t r = {.agent = 0, .check = 1, .start_us = T0 + 8 * S,
                           .outcome = VTG_OUTCOME_DOWN, .error_class = 1};
  ASSERT_EQ(vtg_addrs_feed(m, &web, &r, "", 0), 0);
  vtg_addrs_free(m);
  vtg_detect_free(d);
  return 0;
}

static vtg_incident_t incident(const char *id, uint32_t check, int64_t onset, int64_t resolved) {
  vtg_incident_t inc;
  memset(&inc, 0, sizeof inc);
  inc.id = id;
  inc.check = check;
  inc.check_name = "x";
  inc.onset_us = onset;
  inc.resolved_us = resolved;
  return inc;
}

VTG_TEST(partial_incidents) {
  ids_t ids;
  vtg_addrs_verdict_t v;
  memset(&ids, 0, sizeof ids);
  vtg_detect_t *d = detector();
  ASSERT(d != NULL);
  vtg_addrs_t *m = vtg_addrs_new(d, fake_id, &ids);
  ASSERT(m != NULL);
  ASSERT_EQ(turn(m, &web, 0, T0, 0), 0); /* sub-checks 100 and 101 */

  /* An incident of web@10.0.0.2: a partial incident of web. */
  vtg_incident_t a = incident("inc-1", 101, T0 + 10 * S, VTG_TIME_NONE);
  vtg_addrs_incident(m, &a, 0, &v);
  ASSERT_EQ(v.partial, 1);
  ASSERT_EQ(v.skip, 0);
  ASSERT_EQ(v.check, 1);
  ASSERT_STR_EQ(v.addr, "10.0.0.2");
  ASSERT_EQ(v.n_drop, 0);

  /* Then the whole check goes down meanwhile: the partial one is withdrawn. */
  vtg_incident_t w = incident("inc-2", 1, T0 + 12 * S, T0 + 20 * S);
  vtg_addrs_incident(m, &w, 0, &v);
  ASSERT_EQ(v.partial, 0);
  ASSERT_EQ(v.skip, 0);
  ASSERT_EQ(v.check, 1);
  ASSERT(v.addr == NULL);
  ASSERT_EQ(v.n_drop, 1);
  ASSERT_STR_EQ(v.drop[0], "inc-1");

  /* A sub-check incident overlapping the whole one is not reported. */
  vtg_incident_t b = incident("inc-3", 100, T0 + 11 * S, T0 + 21 * S);
  vtg_addrs_incident(m, &b, 0, &v);
  ASSERT_EQ(v.skip, 1);

  /* One after the whole outage ended is partial again. */
  vtg_incident_t c = incident("inc-4", 100, T0 + 40 * S, T0 + 50 * S);
  vtg_addrs_incident(m, &c, 0, &v);
  ASSERT_EQ(v.skip, 0);
  ASSERT_EQ(v.partial, 1);
  ASSERT_STR_EQ(v.addr, "10.0.0.1");

  /* A plain check's incident, and no module at all: plain. */
  vtg_incident_t p = incident("inc-5", 2, T0, VTG_TIME_NONE);
  vtg_addrs_incident(m, &p, 0, &v);
  ASSERT_EQ(v.partial, 0);
  ASSERT_EQ(v.check, 2);
  vtg_addrs_incident(NULL, &a, 0, &v);
  ASSERT_EQ(v.partial, 0);
  ASSERT_EQ(v.check, 101);
  vtg_addrs_free(m);
  vtg_detect_free(d);
  return 0;
}

VTG_TEST(remove_on_reload) {
  ids_t ids;
  uint32_t parent;
  const char *addr;
  memset(&ids, 0, sizeof ids);
  vtg_detect_t *d = detector();
  ASSERT(d != NULL);
  vtg_addrs_t *m = vtg_addrs_new(d, fake_id, &ids);
  ASSERT(m != NULL);
  ASSERT_EQ(turn(m, &web, 0, T0, 0), 0);
  ASSERT_EQ(turn(m, &api, 0, T0, 0), 0);
  vtg_addrs_remove_check(m, 1);
  ASSERT_EQ(vtg_addrs_parent(m, 100, &parent, &addr), 0);
  ASSERT_EQ(vtg_addrs_parent(m, 101, &parent, &addr), 0);
  ASSERT_EQ(vtg_addrs_parent(m, 102, &parent, &addr), 1); /* api's stay */
  ASSERT_EQ(parent, 2);
  vtg_addrs_remove_check(m, 7); /* no sub-checks: nothing happens */
  vtg_addrs_remove_check(NULL, 1);
  /* Back on: the same ids again. */
  ASSERT_EQ(turn(m, &web, 0, T0 + S, 0), 0);
  ASSERT_EQ(vtg_addrs_parent(m, 100, &parent, &addr), 1);
  ASSERT_EQ(ids.n, 4);
  vtg_addrs_free(m);
  vtg_detect_free(d);
  return 0;
}

VTG_TEST(incident_json_fields) {
  vtg_buf_t b;
  const char *addrs[] = {"127.0.0.2"};
  vtg_buf_init(&b, 4096);
  ASSERT_EQ(vtg_buf_appends(&b, "{\"id\":\"inc-1\"}"), 0);
  ASSERT_EQ(vtg_incident_json_add_addresses(&b, 1, addrs, 1), 0);
  ASSERT_STR_EQ(b.data, "{\"id\":\"inc-1\",\"partial\":true,\"addresses\":[\"127.0.0.2\"]}");
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_buf_appends(&b, "{\"id\":\"inc-2\"}"), 0);
  ASSERT_EQ(vtg_incident_json_add_addresses(&b, 0, NULL, 0), 0);
  ASSERT_STR_EQ(b.data, "{\"id\":\"inc-2\",\"partial\":false,\"addresses\":null}");
  vtg_buf_reset(&b);
  ASSERT_EQ(vtg_buf_appends(&b, "[1]"), 0);
  ASSERT_EQ(vtg_incident_json_add_addresses(&b, 0, NULL, 0), VTG_EINVAL);
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(latest_addresses) {
  const char *out[VTG_ADDRS_SHOWN];
  vtg_addrs_t *m = vtg_addrs_new(NULL, fake_id, NULL);
  ASSERT(m != NULL);
  vtg_addrs_note(m, 1, 0, "10.0.0.1", T0);
  vtg_addrs_note(m, 1, 0, "10.0.0.2", T0 + 1 * S);
  vtg_addrs_note(m, 1, 0, "", T0 + 2 * S); /* no address: ignored */
  vtg_addrs_note(m, 1, 1, "10.0.0.9", T0);
  ASSERT_EQ(vtg_addrs_latest(m, 1, 0, 5 * S, out, VTG_ADDRS_SHOWN), 2);
  ASSERT_STR_EQ(out[0], "10.0.0.2"); /* newest first */
  ASSERT_STR_EQ(out[1], "10.0.0.1");
  /* 10.0.0.1 not seen for a while: only the current one is shown. */
  vtg_addrs_note(m, 1, 0, "10.0.0.2", T0 + 30 * S);
  ASSERT_EQ(vtg_addrs_latest(m, 1, 0, 5 * S, out, VTG_ADDRS_SHOWN), 1);
  ASSERT_STR_EQ(out[0], "10.0.0.2");
  ASSERT_EQ(vtg_addrs_latest(m, 1, 1, 5 * S, out, VTG_ADDRS_SHOWN), 1);
  ASSERT_STR_EQ(out[0], "10.0.0.9");
  ASSERT_EQ(vtg_addrs_latest(m, 2, 0, 5 * S, out, VTG_ADDRS_SHOWN), 0);
  ASSERT_EQ(vtg_addrs_latest(NULL, 1, 0, 5 * S, out, VTG_ADDRS_SHOWN), 0);
  vtg_addrs_free(m);
  return 0;
}

/* ---- config ---- */

static const char head[] = "services:\n"
                           "  - name: s\n"
                           "    endpoints:\n"
                           "      - check: c\n";

static int load_endpoint(const char *lines, vtg_coord_config_t *cfg, char *err, size_t errlen) {
  char text[1024];
  snprintf(text, sizeof text, "%s%s", head, lines);
  return vtg_config_load_string("cfg", text, cfg, err, errlen);
}

static int endpoint_error(const char *lines, const char *prefix, const char *needle) {
  vtg_coord_config_t cfg;
  char err[600];
  int rc = load_endpoint(lines, &cfg, err, sizeof err);
  if (rc != VTG_ECONFIG) {
    fprintf(stderr, "expected a config error, got %d (%s)\n", rc, err);
    return 1;
  }
  if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, needle) == NULL) {
    fprintf(stderr, "error \"%s\"\n  wanted prefix \"%s\" and \"%s\"\n", err, prefix, needle);
    return 1;
  }
  vtg_config_free(&cfg);
  return 0;
}

VTG_TEST(config_every_address) {
  vtg_coord_config_t cfg;
  char err[600];
  int rc = load_endpoint("        url: http://www.example.com/\n"
                         "        every_address: true\n"
                         "        resolver: 192.0.2.53\n",
                         &cfg, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(cfg.checks[0].every_address, 1);
  ASSERT(cfg.checks[0].dns_resolver != NULL);
  vtg_config_free(&cfg);

  rc = load_endpoint("        type: tcp\n        target: db.example.com:5432\n"
                     "        every_address: true\n",
                     &cfg, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(cfg.checks[0].every_address, 1);
  ASSERT(cfg.checks[0].dns_resolver == NULL);
  vtg_config_free(&cfg);

  rc = load_endpoint("        url: http://www.example.com/\n", &cfg, err, sizeof err);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(cfg.checks[0].every_address, 0); /* the default */
  vtg_config_free(&cfg);

  ASSERT_EQ(endpoint_error("        url: http://h/\n        every_address: often\n", "cfg:6:24: ",
                           ""),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        resolver: 192.0.2.53\n", "cfg:6:19: ",
                           "only with every_address"),
            0);
  ASSERT_EQ(endpoint_error("        url: http://h/\n        every_address: true\n"
                           "        resolver: nowhere\n",
                           "cfg:7:19: ", "expected an IP address"),
            0);
  ASSERT_EQ(endpoint_error("        type: dns\n        name: example.com\n"
                           "        every_address: true\n",
                           "cfg:7:9: ", "'every_address' does not apply to a dns check"),
            0);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(sub_check_ids_stable) VTG_TEST_ENTRY(aggregate_rule)
                  VTG_TEST_ENTRY(partial_incidents) VTG_TEST_ENTRY(remove_on_reload)
                      VTG_TEST_ENTRY(incident_json_fields)
                      VTG_TEST_ENTRY(latest_addresses) VTG_TEST_ENTRY(config_every_address))
