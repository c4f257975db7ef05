/* vantage-sim: the target simulator of the end-to-end scenarios.
 *
 *   vantage-sim --scenario FILE --ports-file OUT.json [--log-level L]
 *
 * Every service of the scenario gets its own HTTP listener on 127.0.0.1
 * (its own "host"); the source address of a request (127.0.R.A) tells which
 * agent asks; the scenario's faults decide the answer once the harness has
 * started the clock on the control listener (GET /start?t0_us=N). The bound
 * ports are written to OUT.json atomically. SIGTERM/SIGINT stop it cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "vtg/buf.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

static void usage(FILE *f) {
  fprintf(f, "usage: vantage-sim --scenario FILE --ports-file OUT.json [--log-level debug|info|warn|error]\n");
}

/* Writes {"control": P, "services": {"name": P, ...}, "tls": {"name": P,
 * ...}, "dns": P, "ca_file": PATH} to a temporary file
 * beside path and renames it over path, so a reader never sees half of it.
 * Returns 0 or VTG_EIO/VTG_ENOMEM (logged). */
static int write_ports(const vtg_sim_t *sim, const char *path) {
  vtg_buf_t out, tmp;
  vtg_json_writer_t w;
  FILE *f = NULL;
  int rc;

  vtg_buf_init(&out, 1 << 20);
  vtg_buf_init(&tmp, 4096);
  vtg_json_writer_init(&w, &out, 0);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, "control");
  vtg_json_int(&w, sim->control_port);
  vtg_json_key(&w, "services");
  vtg_json_begin_object(&w);
  for (size_t i = 0; i < sim->sc.n_services; i++) {
    vtg_json_key(&w, sim->sc.services[i].name);
    vtg_json_int(&w, sim->sc.services[i].port);
  }
  vtg_json_end_object(&w);
  vtg_json_key(&w, "tls");
  vtg_json_begin_object(&w);
  for (size_t i = 0; i < sim->sc.n_services; i++) {
    vtg_json_key(&w, sim->sc.services[i].name);
    vtg_json_int(&w, sim->sc.services[i].tls_port);
  }
  vtg_json_end_object(&w);
  vtg_json_key(&w, "dns");
  vtg_json_int(&w, sim->dns_port);
  vtg_json_key(&w, "ca_file");
  vtg_json_string(&w, sim->ca_path);
  vtg_json_end_object(&w);
  if ((rc = vtg_json_finish(&w)) != 0) goto out;
  if ((rc = vtg_buf_append(&out, "\n", 1)) != 0) goto out;
  if ((rc = vtg_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid())) != 0) goto out;
  f = fopen(tmp.data, "w");
  if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len) {
    rc = VTG_EIO;
    goto out;
  }
  if (fclose(f) != 0) {
    f = NULL;
    rc = VTG_EIO;
    goto out;
  }
  f = NULL;
  if (rename(tmp.data, path) != 0) {
    rc = VTG_EIO;
    goto out;
  }
  rc = 0;
out:
  if (f != NULL) fclose(f);
  if (rc != 0) {
    VTG_ERROR("cannot write ports file %s: %s", path, vtg_strerror(rc));
    if (tmp.len > 0) (void)remove(tmp.data);
  }
  vtg_buf_free(&out);
  vtg_buf_free(&tmp);
  return rc;
}

int main(int argc, char **argv) {
  const char *scenario = NULL, *ports = NULL;
  enum vtg_log_level level = VTG_LOG_INFO;
  uv_loop_t loop;
  vtg_sim_t sim;
  char err[600];
  int rc, loop_ok = 0, status = 1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "--scenario") == 0 || strcmp(a, "--ports-file") == 0 ||
         strcmp(a, "--log-level") == 0) && i + 1 >= argc) {
      fprintf(stderr, "vantage-sim: %s needs a value\n", a);
      usage(stderr);
      return 2;
    }
    if (strcmp(a, "--scenario") == 0) {
      scenario = argv[++i];
    } else if (strcmp(a, "--ports-file") == 0) {
      ports = argv[++i];
    } else if (strcmp(a, "--log-level") == 0) {
      if (vtg_log_parse_level(argv[++i], &level) != 0) {
        fprintf(stderr, "vantage-sim: bad log level '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "vantage-sim: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (scenario == NULL || ports == NULL) {
    usage(stderr);
    return 2;
  }
  vtg_log_set_level(level);

  memset(&sim, 0, sizeof(sim));
  if (vtg_sim_scenario_load(&sim.sc, scenario, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  if ((rc = uv_loop_init(&loop)) != 0) {
    VTG_ERROR("uv_loop_init: %s", uv_strerror(rc));
    goto out;
  }
  loop_ok = 1;
  sim.loop = &loop;
  {
    /* The test CA goes beside the ports file, where the harness finds it. */
    char ca[4096];
    const char *slash = strrchr(ports, '/');
    int dlen = slash ? (int)(slash - ports) : 1;
    snprintf(ca, sizeof ca, "%.*s/sim-ca.pem", dlen, slash ? ports : ".");
    if (vtg_sim_tls_init(&sim, ca) != 0) goto out;
  }
  if ((rc = vtg_sim_listen(&sim)) != 0) {
    VTG_ERROR("listen: %s", uv_strerror(rc));
    vtg_sim_stop(&sim);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    goto out;
  }
  if (write_ports(&sim, ports) != 0) {
    vtg_sim_stop(&sim);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    goto out;
  }
  VTG_INFO("scenario %s: %zu services, %zu checks, %zu faults; ports in %s", sim.sc.name,
           sim.sc.n_services, sim.sc.n_checks, sim.sc.n_faults, ports);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  status = 0;
out:
  if (loop_ok && (rc = uv_loop_close(&loop)) != 0) {
    VTG_ERROR("loop not empty at exit: %s", uv_strerror(rc));
    status = 1;
  }
  vtg_sim_tls_free(&sim);
  vtg_sim_scenario_free(&sim.sc);
  return status;
}
