/* vantage-probe: the agent daemon.
 *
 *   vantage-probe --config FILE [--log-level LEVEL] [--check-config]
 *                 [--clock-skew-ms N]   (test-only)
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT) or a good
 * --check-config, 1 on a runtime error, 2 on bad usage or a bad config. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <curl/curl.h>
#include <uv.h>

#include "internal.h"
#include "vtg/error.h"
#include "vtg/log.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: vantage-probe --config FILE [--log-level debug|info|warn|error]\n"
          "       vantage-probe --config FILE --check-config\n"
          "       vantage-probe --version\n"
          "\n"
          "test-only:\n"
          "  --clock-skew-ms N  shift every timestamp the agent sends (probe starts,\n"
          "                     heartbeats, its watermark) by N ms (-86400000..86400000),\n"
          "                     to play an agent whose clock is wrong; the coordinator\n"
          "                     corrects it. Never use it in production.\n");
}

/* --clock-skew-ms: a whole number of ms within a day either way. */
static int parse_skew_ms(const char *s, int64_t *out_ms) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < -86400000LL || v > 86400000LL) return -1;
  *out_ms = v;
  return 0;
}

static void walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  VTG_ERROR("handle still open at exit: %s", uv_handle_type_name(uv_handle_get_type(h)));
}

int main(int argc, char **argv) {
  const char *config = NULL, *level_arg = NULL, *skew_arg = NULL;
  int64_t skew_ms = 0;
  int check_only = 0, rc, status = 1;
  enum vtg_log_level level = VTG_LOG_INFO;
  vtg_probe_config_t cfg;
  char err[600];
  uv_loop_t loop;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--config") == 0 && i + 1 < argc) {
      config = argv[++i];
    } else if (strncmp(a, "--config=", 9) == 0) {
      config = a + 9;
    } else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
      level_arg = argv[++i];
    } else if (strncmp(a, "--log-level=", 12) == 0) {
      level_arg = a + 12;
    } else if (strcmp(a, "--clock-skew-ms") == 0 && i + 1 < argc) {
      skew_arg = argv[++i];
    } else if (strncmp(a, "--clock-skew-ms=", 16) == 0) {
      skew_arg = a + 16;
    } else if (strcmp(a, "--check-config") == 0) {
      check_only = 1;
    } else if (strcmp(a, "--version") == 0) {
      printf("vantage-probe %s\n", VTG_VERSION);
      return 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "vantage-probe: unknown or incomplete argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (config == NULL) {
    fprintf(stderr, "vantage-probe: --config FILE is required\n");
    usage(stderr);
    return 2;
  }
  if (level_arg != NULL && vtg_log_parse_level(level_arg, &level) != 0) {
    fprintf(stderr, "vantage-probe: bad --log-level '%s' (debug, info, warn, error)\n",
            level_arg);
    return 2;
  }

  if (skew_arg != NULL && parse_skew_ms(skew_arg, &skew_ms) != 0) {
    fprintf(stderr, "vantage-probe: bad --clock-skew-ms '%s' (whole ms, -86400000..86400000)\n",
            skew_arg);
    return 2;
  }

  rc = vtg_probe_config_load(&cfg, config, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "vantage-probe: %s\n", err);
    return 2;
  }
  if (check_only) {
    printf("%s: OK\n", config);
    vtg_probe_config_free(&cfg);
    return 0;
  }
  vtg_log_set_level(level_arg != NULL ? level : cfg.log_level);
  if (skew_ms != 0) {
    vtg_probe_clock_set_skew_us(skew_ms * 1000);
    VTG_WARN("test-only --clock-skew-ms: every timestamp this agent sends is off by %+" PRId64
             " ms",
             skew_ms);
  }

  /* libuv writes to sockets with write(2); a peer that went away must be
   * an EPIPE to handle, not a signal that kills the daemon. */
  signal(SIGPIPE, SIG_IGN);
  CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (cc != CURLE_OK) {
    VTG_ERROR("curl_global_init: %s", curl_easy_strerror(cc));
    vtg_probe_config_free(&cfg);
    return 1;
  }
  /* c-ares (DNS checks), once per process like curl. */
  int ar = ares_library_init(ARES_LIB_INIT_ALL);
  if (ar != ARES_SUCCESS) {
    VTG_ERROR("ares_library_init: %s", ares_strerror(ar));
    curl_global_cleanup();
    vtg_probe_config_free(&cfg);
    return 1;
  }
  rc = uv_loop_init(&loop);
  if (rc != 0) {
    VTG_ERROR("uv_loop_init: %s", uv_strerror(rc));
    goto out_curl;
  }
  rc = vtg_agent_start(&loop, &cfg);
  if (rc != 0) VTG_ERROR("could not start the agent: %s", vtg_strerror(rc));
  /* Runs until the agent has stopped (or, after a failed start, until the
   * handles it closed are gone). */
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  int lc = uv_loop_close(&loop);
  if (lc != 0) {
    uv_walk(&loop, walk_cb, NULL);
    VTG_ERROR("uv_loop_close: %s", uv_strerror(lc));
  } else if (rc == 0) {
    status = 0;
  }

out_curl:
  ares_library_cleanup();
  curl_global_cleanup();
  vtg_probe_config_free(&cfg);
  return status;
}
