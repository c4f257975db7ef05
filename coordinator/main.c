/* vantage-coordinator: `serve` runs the daemon; status, outages, agents,
 * checks and timeline are CLI subcommands that talk to a running daemon's
 * HTTP API (cli.c). Exit status: 0 ok, 1 runtime error, 2 bad usage or a
 * config error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ca.h"
#include "cli.h"
#include "config.h"
#include "coord.h"

static const char usage[] =
    "usage: vantage-coordinator serve --config FILE [--log-level debug|info|warn|error]\n"
    "       vantage-coordinator serve --config FILE --check-config\n"
    "       vantage-coordinator --check-config FILE\n"
    "       vantage-coordinator status|outages|agents|checks [--json] [--coordinator URL]\n"
    "       vantage-coordinator timeline [INCIDENT-ID] [--json] [--coordinator URL]\n"
    "       vantage-coordinator silence CHECK --for DURATION [--reason TEXT] [--service]\n"
    "       vantage-coordinator silence --list | --end ID\n"
    "       vantage-coordinator ca init [--dir DIR]\n"
    "       vantage-coordinator ca issue NAME [--dir DIR] [--days N] [--server HOST_OR_IP]...\n"
    "       vantage-coordinator --help | --version\n"
    "\n"
    "serve         run the coordinator daemon (SIGHUP reloads the config)\n"
    "--check-config  validate the config file and exit (0 valid, 2 not)\n"
    "status        state of every check in every region\n"
    "outages       incidents (--since DURATION, --check NAME)\n"
    "agents        the probe agents\n"
    "checks        the configured checks\n"
    "timeline      an incident as a chart, one row per region (no ID: all waves)\n"
    "silence       silence a check or service for a while; list or end silences\n"
    "COMMAND --help  the options of each CLI command\n"
    "ca            make the CA and sign agent/coordinator certificates (ca --help)\n"
    "The CLI reads the coordinator URL from --coordinator, else $VANTAGE_COORDINATOR,\n"
    "else http://127.0.0.1:7380.\n";

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "vantage-coordinator: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* Loads the config, prints what is wrong or a summary. */
static int check_config(const char *path) {
  char err[600];
  vtg_coord_config_t cfg;
  if (vtg_config_load(path, &cfg, err, sizeof err) != 0) {
    fprintf(stderr, "vantage-coordinator: %s\n", err);
    return 2;
  }
  if (vtg_tls_conf_require(&cfg.tls, path, err, sizeof err) != 0) {
    fprintf(stderr, "vantage-coordinator: %s\n", err);
    vtg_config_free(&cfg);
    return 2;
  }
  printf("%s: ok (%zu services, %zu checks, %s)\n", path, cfg.n_services, cfg.n_checks,
         cfg.has_registry ? "agent registry" : "no agent registry");
  vtg_config_free(&cfg);
  return 0;
}

/* Matches "--name VALUE" and "--name=VALUE"; *i advances past the value. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **out,
                     int *missing) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *out = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    *missing = 1;
    return 1;
  }
  *out = argv[++*i];
  return 1;
}

static int cmd_serve(int argc, char **argv) {
  const char *config = NULL, *level = NULL, *check = NULL;
  int check_only = 0;
  for (int i = 1; i < argc; i++) {
    int missing = 0;
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (opt_value(argc, argv, &i, "--config", &config, &missing) ||
        opt_value(argc, argv, &i, "--log-level", &level, &missing)) {
      if (missing) return bad_usage("%s needs a value", a);
      continue;
    }
    if (strcmp(a, "--check-config") == 0) {
      check_only = 1;
      /* `serve --check-config FILE` is accepted as well. */
      if (i + 1 < argc && argv[i + 1][0] != '-') check = argv[++i];
      continue;
    }
    if (strncmp(a, "--check-config=", 15) == 0) {
      check_only = 1;
      check = a + 15;
      continue;
    }
    return bad_usage("serve: unknown argument '%s'", a);
  }
  if (check && config && strcmp(check, config) != 0)
    return bad_usage("%s", "serve: --config and --check-config name different files");
  if (check) config = check;
  if (config == NULL) return bad_usage("%s", "serve needs --config FILE");
  if (check_only) return check_config(config);
  return vtg_coord_serve_opts(config, level);
}

int main(int argc, char **argv) {
  if (argc < 2) return bad_usage("%s", "missing command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("vantage-coordinator %s\n", VTG_VERSION);
    return 0;
  }
  if (strcmp(cmd, "--check-config") == 0 || strncmp(cmd, "--check-config=", 15) == 0) {
    const char *path = cmd[14] == '=' ? cmd + 15 : (argc > 2 ? argv[2] : NULL);
    if (path == NULL || path[0] == '\0') return bad_usage("%s", "--check-config needs a FILE");
    if (cmd[14] != '=' && argc > 3) return bad_usage("unexpected argument '%s'", argv[3]);
    if (cmd[14] == '=' && argc > 2) return bad_usage("unexpected argument '%s'", argv[2]);
    return check_config(path);
  }
  if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
  if (strcmp(cmd, "ca") == 0) return vtg_ca_main(argc - 1, argv + 1);
  if (vtg_cli_is_command(cmd)) return vtg_cli_run(argc - 1, argv + 1);
  return bad_usage("unknown command '%s'", cmd);
}
