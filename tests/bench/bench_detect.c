/* Detector throughput: a fleet of agents probing every check on a grid,
 * results fed in start order while the watermark advances every 100 ms of
 * event time, as the coordinator drives it. Prints results per second of
 * CPU and the cost of an advance, for a healthy fleet and during a large
 * outage with broken vantage points.
 *
 * usage: bench_detect [REGIONS AGENTS_PER_REGION CHECKS SECONDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"

#define S 1000000LL
#define T0 (1800000000LL * S)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_incident(void *ctx, const vtg_incident_t *inc, int removed) {
  (void)inc;
  (void)removed;
  (*(int *)ctx)++;
}

typedef struct probe_s {
  int64_t start;
  int agent, check;
} probe_t;

static int cmp_probe(const void *a, const void *b) {
  const probe_t *x = a, *y = b;
  return (x->start > y->start) - (x->start < y->start);
}

/* outage: regions [0, R/2) fail checks [0, C*6/10) from 20 s to 40 s, and
 * one agent in every other region has its own network broken (all checks). */
static void run(int regions, int per_region, int checks, int seconds, int outage) {
  vtg_detect_params_t p = {2, 2, 2, 10 * S, 0, 0};
  int events = 0;
  vtg_detect_t *d = vtg_detect_new(&p, on_incident, &events);
  int agents = regions * per_region;
  char name[32];
  for (int r = 0; r < regions; r++) {
    snprintf(name, sizeof name, "region-%d", r);
    vtg_detect_set_region(d, (uint32_t)r, name);
  }
  for (int a = 0; a < agents; a++) vtg_detect_set_agent(d, (uint32_t)a, (uint32_t)(a / per_region));
  for (int c = 0; c < checks; c++) {
    char svc[32];
    snprintf(name, sizeof name, "check-%d", c);
    snprintf(svc, sizeof svc, "svc-%d", c / 2);
    vtg_detect_set_check(d, (uint32_t)c, name, svc, c % 2 ? "api" : "web", 10 * S, 5 * S);
  }
  /* each (agent, check) probes at most once in a second of event time */
  probe_t *pr = malloc((size_t)agents * (size_t)checks * sizeof *pr);
  double feed_ms = 0, adv_ms = 0, adv_max = 0;
  long n_results = 0, n_adv = 0;
  int64_t next_adv = T0;
  for (int sec = 0; sec < seconds; sec++) {
    size_t n = 0;
    for (int a = 0; a < agents; a++)
      for (int c = 0; c < checks; c++) {
        int64_t phase = ((int64_t)a * 7919 + (int64_t)c * 104729) % (10 * S);
        int64_t t = T0 + (int64_t)sec * S;
        int64_t k = (t - T0 - phase + 10 * S - 1) / (10 * S);
        int64_t start = T0 + phase + k * 10 * S;
        if (start >= t && start < t + S) pr[n++] = (probe_t){start, a, c};
      }
    qsort(pr, n, sizeof *pr, cmp_probe);
    for (size_t i = 0; i < n; i++) {
      while (pr[i].start >= next_adv) {
        double t0 = now_ms();
        vtg_detect_advance(d, next_adv - 300000);
        double dt = now_ms() - t0;
        adv_ms += dt;
        if (dt > adv_max) adv_max = dt;
        n_adv++;
        next_adv += 100000;
      }
      double rel = (double)(pr[i].start - T0) / S;
      int region = pr[i].agent / per_region;
      int down = 0, cls = 0;
      if (outage && rel >= 20 && rel < 40) {
        if (region < regions / 2 && pr[i].check < checks * 6 / 10) down = 1, cls = 6;
        if (region >= regions / 2 && pr[i].agent % per_region == 0) down = 1, cls = 5;
      }
      vtg_detect_result_t r = {(uint32_t)pr[i].agent, (uint32_t)pr[i].check, pr[i].start, 20000,
                               down ? VTG_OUTCOME_DOWN : VTG_OUTCOME_UP, cls};
      double t0 = now_ms();
      vtg_detect_feed(d, &r);
      feed_ms += now_ms() - t0;
      n_results++;
    }
  }
  printf("%-8s %4d agents x %3d checks, %3d s: %8ld results, feed %6.2f M results/s CPU, "
         "advance mean %7.3f ms max %8.2f ms (%ld advances), %d incident events\n",
         outage ? "outage" : "healthy", agents, checks, seconds, n_results,
         (double)n_results / (feed_ms > 0 ? feed_ms : 1e-9) / 1e3, adv_ms / (double)n_adv,
         adv_max, n_adv, events);
  free(pr);
  vtg_detect_free(d);
}

int main(int argc, char **argv) {
  int regions = 20, per = 10, checks = 100, seconds = 60;
  if (argc == 5) {
    int *dst[] = {&regions, &per, &checks, &seconds};
    for (int i = 0; i < 4; i++) {
      char *end;
      long v = strtol(argv[i + 1], &end, 10);
      if (*end != '\0' || v < 1 || v > 100000) {
        fprintf(stderr, "bench_detect: bad number '%s'\n", argv[i + 1]);
        return 2;
      }
      *dst[i] = (int)v;
    }
  }
  run(regions, per, checks, seconds, 0);
  run(regions, per, checks, seconds, 1);
  return 0;
}
