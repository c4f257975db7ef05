/* The status page rendered from a hand-built coordinator state: a detector
 * fed results so that one (check, region) is down, a store with one open
 * incident, agents in three regions (one disconnected, one without a
 * place). Checks the page's hooks (statuspage.h), the states drawn and
 * that every text is escaped. With VTG_TEST_STATUSPAGE_OUT set, the page is
 * also written to that file (to look at it in a browser). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "incident.h"
#include "statuspage.h"
#include "fixture.h"
#include "test.h"
#include "vtg/buf.h"
#include "vtg/clock.h"
#include "vtg/json.h"

#define N_AGENTS 6

typedef struct fixture_s {
  vtg_coord_t c;
  vtg_check_cfg_t checks[2];
  uint32_t ids[2];
  char *regions[3];
  vtg_agent_t agent[N_AGENTS];
  vtg_agent_t *agents[N_AGENTS];
  vtg_test_tmpdb_t tmp;
  int64_t now_us;
} fixture_t;

static int put_open_incident(vtg_store_t *s, const char *id, const char *check, int64_t onset,
                             int64_t now) {
  vtg_incident_t inc;
  vtg_incident_region_t reg;
  const char *wave_regions[] = {"us-east"};
  vtg_incident_wave_t wave;
  memset(&reg, 0, sizeof reg);
  reg.region = "us-east";
  reg.onset_us = onset;
  reg.resolved_us = VTG_TIME_NONE;
  memset(&wave, 0, sizeof wave);
  wave.onset_us = onset;
  wave.resolved_us = VTG_TIME_NONE;
  wave.cause = 5;
  wave.regions = wave_regions;
  wave.n_regions = 1;
  memset(&inc, 0, sizeof inc);
  inc.id = id;
  inc.check_name = check;
  inc.service = "shop";
  inc.kind = "api";
  inc.onset_us = onset;
  inc.resolved_us = VTG_TIME_NONE;
  inc.cause = 5;
  inc.regions = &reg;
  inc.n_regions = 1;
  inc.waves = &wave;
  inc.n_waves = 1;
  return vtg_test_store_incident(s, &inc, now);
}

/* Regions: 0 us-east (agents 0, 1), 1 eu-west (agents 2, 3; 3 disconnected),
 * 2 ap-southeast (agent 4; agent 5 has no place). Check 1 ("shop <api>")
 * is down in us-east: both its agents see it fail for five intervals. */
static int fixture_init(fixture_t *f) {
  static const struct {
    const char *id, *country;
    uint32_t region;
    double lat, lon;
    int connected;
  } ag[N_AGENTS] = {
      {"us-east-1", "US", 0, 40.7, -74.0, 1},  {"us-east-2", "US", 0, 40.7, -74.0, 1},
      {"eu-west-1", "IE", 1, 53.3, -6.3, 1},   {"eu-west-<2>", "IE", 1, 53.3, -6.3, 0},
      {"ap-se-1", "SG", 2, 1.35, 103.8, 1},    {"ap-se-2", "SG", 2, 0, 0, 1},
  };
  vtg_detect_params_t p = {2, 2, 2, 300000000, 0, 0};
  int64_t t0;
  memset(f, 0, sizeof *f);
  f->now_us = vtg_clock_wall_us();
  t0 = f->now_us - 200 * 1000000LL;
  f->checks[0] = (vtg_check_cfg_t){.name = "shop-web", .service = "shop", .kind = "web",
                                   .url = "http://127.0.0.1:9/", .method = "GET",
                                   .interval_us = 30000000, .timeout_us = 10000000};
  f->checks[1] = (vtg_check_cfg_t){.name = "shop <api>", .service = "shop", .kind = "api",
                                   .url = "http://127.0.0.1:9/api?a=1&b=2", .method = "GET",
                                   .interval_us = 30000000, .timeout_us = 10000000};
  f->c.cfg.checks = f->checks;
  f->c.cfg.n_checks = 2;
  f->regions[0] = "us-east";
  f->regions[1] = "eu-west";
  f->regions[2] = "ap-southeast";
  f->c.regions = f->regions;
  f->c.n_regions = 3;
  f->c.started_us = t0 - 3600 * 1000000LL;
  for (uint32_t i = 0; i < N_AGENTS; i++) {
    f->agent[i] = (vtg_agent_t){.idx = i, .id = (char *)ag[i].id,
                                .region = f->regions[ag[i].region], .country = (char *)ag[i].country,
                                .lat = ag[i].lat, .lon = ag[i].lon, .region_idx = ag[i].region,
                                .connected = ag[i].connected, .last_seen_us = f->now_us,
                                .version = "0.1.0"};
    f->agents[i] = &f->agent[i];
  }
  f->c.agents = f->agents;
  f->c.n_agents = N_AGENTS;

  if (vtg_test_tmpdb_make(&f->tmp, "statuspage") != 0) return -1;
  if (vtg_store_open(f->tmp.path, &f->c.store) != 0) return -1;
  for (int i = 0; i < 2; i++)
    if (vtg_store_check_id(f->c.store, f->checks[i].name, "shop", f->checks[i].kind,
                           f->checks[i].url, &f->ids[i]) != 0)
      return -1;
  f->c.check_ids = f->ids;
  if (put_open_incident(f->c.store, "inc-7", "shop <api>", t0 + 30 * 1000000LL, f->now_us) != 0)
    return -1;

  f->c.detect = vtg_detect_new(&p, vtg_test_on_incident, NULL);
  if (f->c.detect == NULL) return -1;
  for (uint32_t r = 0; r < 3; r++)
    if (vtg_detect_set_region(f->c.detect, r, f->regions[r]) != 0) return -1;
  for (int i = 0; i < 2; i++)
    if (vtg_detect_set_check(f->c.detect, f->ids[i], f->checks[i].name, "shop",
                             f->checks[i].kind, 30000000, 10000000) != 0)
      return -1;
  for (uint32_t i = 0; i < N_AGENTS; i++)
    if (vtg_detect_set_agent(f->c.detect, i, ag[i].region) != 0) return -1;
  for (int k = 0; k < 6; k++) {
    for (uint32_t a = 0; a < N_AGENTS; a++) {
      for (int i = 0; i < 2; i++) {
        int down = i == 1 && ag[a].region == 0 && k >= 1;
        vtg_detect_result_t r = {a, f->ids[i], t0 + k * 30000000LL, 50000,
                                 down ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, down ? 5 : 0};
        if (vtg_detect_feed(f->c.detect, &r) != 0) return -1;
      }
    }
  }
  vtg_detect_advance(f->c.detect, t0 + 6 * 30000000LL);
  return 0;
}

static void fixture_close(fixture_t *f) {
  vtg_detect_free(f->c.detect);
  vtg_store_close(f->c.store);
  vtg_test_tmpdb_remove(&f->tmp);
}

/* The start tag of the element whose attributes contain `needle`, as a
 * malloc'd string, or NULL. */
static char *tag_with(const char *page, const char *needle) {
  const char *hit = strstr(page, needle), *start, *end;
  char *tag;
  if (hit == NULL) return NULL;
  for (start = hit; start > page && *start != '<'; start--) {
  }
  end = strchr(hit, '>');
  if (end == NULL) return NULL;
  tag = malloc((size_t)(end - start) + 2);
  if (tag == NULL) return NULL;
  memcpy(tag, start, (size_t)(end - start) + 1);
  tag[end - start + 1] = '\0';
  return tag;
}

static size_t count(const char *page, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(page, needle); p != NULL; p = strstr(p + 1, needle)) n++;
  return n;
}

/* The last heat strip cell (greatest data-t: runs are in time order) of
 * (check, region) has class state-<want>. */
static int last_cell_is(const char *page, const char *check_esc, const char *region,
                        const char *want) {
  char needle[256], cls[64];
  const char *p, *last = NULL;
  snprintf(needle, sizeof needle, "data-check=\"%s\" data-region=\"%s\" data-t=", check_esc,
           region);
  for (p = strstr(page, needle); p != NULL; p = strstr(p + 1, needle)) last = p;
  if (last == NULL) return 0;
  for (p = last; p > page && strncmp(p, "<rect", 5) != 0; p--) {
  }
  snprintf(cls, sizeof cls, "class=\"cell state-%s\"", want);
  return strncmp(p + 6, cls, strlen(cls)) == 0;
}

static int render(fixture_t *f, vtg_buf_t *b) {
  const char *dump = getenv("VTG_TEST_STATUSPAGE_OUT");
  int err;
  vtg_buf_init(b, 64u << 20);
  err = vtg_statuspage_render(&f->c, f->now_us, b);
  if (err == 0 && dump != NULL && *dump) {
    FILE *fp = fopen(dump, "w");
    if (fp != NULL) {
      fwrite(b->data, 1, b->len, fp);
      fclose(fp);
    }
  }
  return err;
}

VTG_TEST(page_states) {
  fixture_t f;
  vtg_buf_t b;
  char *t;
  ASSERT_EQ(fixture_init(&f), 0);
  ASSERT_EQ(render(&f, &b), 0);
  ASSERT(strncmp(b.data, "<!DOCTYPE html>", 15) == 0);
  ASSERT(strstr(b.data, "<meta http-equiv=\"refresh\" content=\"30\">") != NULL);
  ASSERT((t = tag_with(b.data, "id=\"overall\"")) != NULL);
  ASSERT(strstr(t, "data-state=\"down\"") != NULL);
  free(t);
  ASSERT(strstr(b.data, "<svg id=\"map\"") != NULL);
  ASSERT(strstr(b.data, "<path id=\"land\" d=\"M") != NULL);
  /* Five placed agents; the sixth (0, 0) only in the table. */
  ASSERT_EQ(count(b.data, "<circle class=\"agent "), 5);
  ASSERT_EQ(count(b.data, "<tr class=\"agent-row\""), N_AGENTS);
  ASSERT((t = tag_with(b.data, "data-agent=\"us-east-1\"")) != NULL);
  ASSERT(strstr(t, "<circle class=\"agent state-down\"") != NULL);
  free(t);
  ASSERT((t = tag_with(b.data, "data-agent=\"eu-west-1\"")) != NULL);
  ASSERT(strstr(t, "state-up") != NULL);
  free(t);
  ASSERT((t = tag_with(b.data, "data-agent=\"eu-west-&lt;2&gt;\"")) != NULL);
  ASSERT(strstr(t, "state-disconnected") != NULL);
  free(t);
  /* Heat strips: the down pair down, the others up. */
  ASSERT(last_cell_is(b.data, "shop &lt;api&gt;", "us-east", "down"));
  ASSERT(last_cell_is(b.data, "shop &lt;api&gt;", "eu-west", "up"));
  ASSERT(last_cell_is(b.data, "shop-web", "us-east", "up"));
  ASSERT(last_cell_is(b.data, "shop-web", "ap-southeast", "up"));
  /* The open incident. */
  ASSERT_EQ(count(b.data, "<tr class=\"incident "), 1);
  ASSERT(strstr(b.data, "<tr class=\"incident state-down\" data-check=\"shop &lt;api&gt;\" "
                        "data-id=\"inc-7\" data-scope=\"regional\">") != NULL);
  ASSERT(strstr(b.data, "</td><td>1</td></tr>") != NULL); /* one wave */
  /* Nothing unescaped. */
  ASSERT(strstr(b.data, "<api>") == NULL);
  ASSERT(strstr(b.data, "<2>") == NULL);
  ASSERT(strstr(b.data, "a=1&b=2") == NULL);
  ASSERT(strstr(b.data, "a=1&amp;b=2") != NULL);
  ASSERT(strstr(b.data, "<script") == NULL);
  /* No external assets. */
  ASSERT(strstr(b.data, " src=") == NULL);
  ASSERT(strstr(b.data, "href=\"http") == NULL);
  ASSERT(strstr(b.data, "url(") == NULL);
  ASSERT(strstr(b.data, "</html>\n") != NULL);
  vtg_buf_free(&b);
  fixture_close(&f);
  return 0;
}

/* A buffer cap too small for the page fails cleanly with an error. */
VTG_TEST(page_cap) {
  fixture_t f;
  vtg_buf_t b;
  ASSERT_EQ(fixture_init(&f), 0);
  vtg_buf_init(&b, 4096);
  ASSERT(vtg_statuspage_render(&f.c, f.now_us, &b) != 0);
  vtg_buf_free(&b);
  fixture_close(&f);
  return 0;
}

/* No store, no detector, no agents: still a whole page. */
VTG_TEST(page_empty) {
  vtg_coord_t c;
  vtg_buf_t b;
  memset(&c, 0, sizeof c);
  vtg_buf_init(&b, 64u << 20);
  ASSERT_EQ(vtg_statuspage_render(&c, vtg_clock_wall_us(), &b), 0);
  ASSERT(strstr(b.data, "data-state=\"unknown\"") != NULL);
  ASSERT(strstr(b.data, "<path id=\"land\"") != NULL);
  ASSERT(strstr(b.data, "</html>\n") != NULL);
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(page_states) VTG_TEST_ENTRY(page_cap) VTG_TEST_ENTRY(page_empty))
