/* The agent's YAML config: identity, place, coordinator address, limits.
 * Checks are not configured here; the coordinator pushes them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "internal.h"
#include "vtg/error.h"
#include "vtg/httpd.h"
#include "vtg/yconf.h"

static const char *const top_keys[] = {"id",          "region",         "country",
                                       "lat",         "lon",            "coordinator",
                                       "source_address", "log_level",   "max_pending",
                                       "spool_dir",   "spool_max_bytes", "spool_fsync",
                                       "ca_file",     "tls",            "plaintext",
                                       "metrics_listen", NULL};

void vtg_probe_config_free(vtg_probe_config_t *cfg) {
  free(cfg->id);
  free(cfg->region);
  free(cfg->country);
  free(cfg->coord_host);
  free(cfg->source_address);
  free(cfg->spool_dir);
  free(cfg->ca_file);
  free(cfg->metrics_listen);
  vtg_tls_conf_free(&cfg->tls);
  memset(cfg, 0, sizeof *cfg);
}

/* Identifiers go into logs and the coordinator's labels: keep them short
 * and printable so nobody downstream has to escape them. */
static int check_ident(vtg_yconf_t *c, const vtg_ynode_t *root, const char *key,
                       const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > 64)
    return vtg_yconf_error(c, vtg_yconf_get(root, key), "'%s' must be 1..64 characters", key);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return vtg_yconf_error(c, vtg_yconf_get(root, key),
                             "'%s' may contain only letters, digits, '-', '_' and '.'", key);
  }
  return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into an allocated host and a port.
 * Returns 0 or VTG_EINVAL. */
static int split_host_port(const char *s, char **host, uint16_t *port) {
  const char *h = s, *colon;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':') return VTG_EINVAL;
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL) return VTG_EINVAL;
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen) != NULL) return VTG_EINVAL; /* bare v6 needs brackets */
  }
  if (hlen == 0 || hlen > 253) return VTG_EINVAL;
  const char *p = colon + 1;
  if (*p == '\0') return VTG_EINVAL;
  char *end = NULL;
  errno = 0;
  long v = strtol(p, &end, 10);
  if (errno != 0 || end == NULL || *end != '\0' || v < 1 || v > 65535) return VTG_EINVAL;
  char *copy = malloc(hlen + 1);
  if (copy == NULL) return VTG_ENOMEM;
  memcpy(copy, h, hlen);
  copy[hlen] = '\0';
  *host = copy;
  *port = (uint16_t)v;
  return 0;
}

/* Walks the document with the yconf getters; the first error wins and is
 * left in c->err with its position. */
static int load_tree(vtg_yconf_t *c, vtg_probe_config_t *cfg) {
  const vtg_ynode_t *root = c->root;
  int rc;
  char *s = NULL;
  int64_t maxp = 0;
  int64_t spool_max = (int64_t)VTG_SPOOL_MAX_BYTES_DEFAULT;

  if (root == NULL) {
    snprintf(c->err, sizeof c->err, "%s:1:1: the config is empty", c->file ? c->file : "?");
    return VTG_ECONFIG;
  }
  if ((rc = vtg_yconf_expect(c, root, VTG_YNODE_MAP)) != 0) goto out;
  if ((rc = vtg_yconf_check_keys(c, root, top_keys)) != 0) goto out;
  if ((rc = vtg_yconf_str(c, root, "id", 1, &cfg->id)) != 0) goto out;
  if ((rc = check_ident(c, root, "id", cfg->id)) != 0) goto out;
  if ((rc = vtg_yconf_str(c, root, "region", 1, &cfg->region)) != 0) goto out;
  if ((rc = check_ident(c, root, "region", cfg->region)) != 0) goto out;
  if ((rc = vtg_yconf_str(c, root, "country", 1, &cfg->country)) != 0) goto out;
  if ((rc = check_ident(c, root, "country", cfg->country)) != 0) goto out;
  if ((rc = vtg_yconf_double(c, root, "lat", 1, -90.0, 90.0, &cfg->lat)) != 0) goto out;
  if ((rc = vtg_yconf_double(c, root, "lon", 1, -180.0, 180.0, &cfg->lon)) != 0) goto out;

  if ((rc = vtg_yconf_str(c, root, "coordinator", 1, &s)) != 0) goto out;
  rc = split_host_port(s, &cfg->coord_host, &cfg->coord_port);
  if (rc == VTG_ENOMEM) goto out;
  if (rc != 0) {
    rc = vtg_yconf_error(c, vtg_yconf_get(root, "coordinator"),
                         "expected HOST:PORT or [IPV6]:PORT for 'coordinator', got '%s'", s);
    goto out;
  }

  if ((rc = vtg_yconf_str(c, root, "source_address", 0, &cfg->source_address)) != 0) goto out;
  if (cfg->source_address != NULL) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(cfg->source_address, 0, &a4) != 0 &&
        uv_ip6_addr(cfg->source_address, 0, &a6) != 0) {
      rc = vtg_yconf_error(c, vtg_yconf_get(root, "source_address"),
                           "'source_address' must be an IPv4 or IPv6 address, got '%s'",
                           cfg->source_address);
      goto out;
    }
  }

  /* The agent's own /metrics listener: off unless set. */
  if ((rc = vtg_yconf_str(c, root, "metrics_listen", 0, &cfg->metrics_listen)) != 0) goto out;
  if (cfg->metrics_listen != NULL) {
    struct sockaddr_storage ss;
    if (vtg_httpd_parse_listen(cfg->metrics_listen, &ss) != 0) {
      rc = vtg_yconf_error(c, vtg_yconf_get(root, "metrics_listen"),
                           "expected IP:PORT such as 127.0.0.1:9310 or [::1]:9310 for "
                           "'metrics_listen', got '%s'",
                           cfg->metrics_listen);
      goto out;
    }
  }

  /* The CA bundle probes verify TLS targets against (HTTPS and TLS
   * checks); read now so a typo fails at start, not at every probe. */
  if ((rc = vtg_yconf_str(c, root, "ca_file", 0, &cfg->ca_file)) != 0) goto out;
  if (cfg->ca_file != NULL) {
    FILE *f = fopen(cfg->ca_file, "r");
    if (f == NULL) {
      rc = vtg_yconf_error(c, vtg_yconf_get(root, "ca_file"), "cannot read ca_file '%s': %s",
                           cfg->ca_file, strerror(errno));
      goto out;
    }
    fclose(f);
  }

  if ((rc = vtg_tls_conf_parse(c, root, &cfg->tls)) != 0) goto out;
  if (cfg->tls.mode == VTG_TLS_UNSET) {
    rc = vtg_yconf_error_at(c, 0, 0,
                            "neither 'tls: {cert: FILE, key: FILE, ca: FILE}' nor "
                            "'plaintext: true' is set; the uplink needs mutual TLS or an "
                            "explicit plaintext: true");
    goto out;
  }

  cfg->log_level = VTG_LOG_INFO;
  free(s);
  s = NULL;
  if ((rc = vtg_yconf_str(c, root, "log_level", 0, &s)) != 0) goto out;
  if (s != NULL && vtg_log_parse_level(s, &cfg->log_level) != 0) {
    rc = vtg_yconf_error(c, vtg_yconf_get(root, "log_level"),
                         "'log_level' must be one of debug, info, warn, error; got '%s'", s);
    goto out;
  }

  if ((rc = vtg_yconf_int(c, root, "max_pending", 0, 1, VTG_PROBE_MAX_PENDING_MAX, &maxp)) != 0)
    goto out;
  cfg->max_pending = (uint64_t)maxp;

  /* The spool of unacknowledged results (spool.h). */
  if ((rc = vtg_yconf_str(c, root, "spool_dir", 0, &cfg->spool_dir)) != 0) goto out;
  if (cfg->spool_dir == NULL && (cfg->spool_dir = strdup(VTG_SPOOL_DIR_DEFAULT)) == NULL) {
    rc = VTG_ENOMEM;
    goto out;
  }
  if (cfg->spool_dir[0] == '\0' || strlen(cfg->spool_dir) > 1024) {
    rc = vtg_yconf_error(c, vtg_yconf_get(root, "spool_dir"),
                         "'spool_dir' must be a path of 1..1024 characters");
    goto out;
  }
  if ((rc = vtg_yconf_int(c, root, "spool_max_bytes", 0, (int64_t)VTG_SPOOL_MAX_BYTES_MIN,
                          (int64_t)VTG_SPOOL_MAX_BYTES_MAX, &spool_max)) != 0)
    goto out;
  cfg->spool_max_bytes = (uint64_t)spool_max;
  cfg->spool_fsync = VTG_SPOOL_FSYNC_BATCH;
  free(s);
  s = NULL;
  if ((rc = vtg_yconf_str(c, root, "spool_fsync", 0, &s)) != 0) goto out;
  if (s != NULL && vtg_spool_fsync_parse(s, &cfg->spool_fsync) != 0) {
    rc = vtg_yconf_error(c, vtg_yconf_get(root, "spool_fsync"),
                         "'spool_fsync' must be one of batch, always, never; got '%s'", s);
    goto out;
  }
  rc = 0;

out:
  free(s);
  return rc;
}

int vtg_probe_config_load(vtg_probe_config_t *cfg, const char *path, char *err, size_t errlen) {
  vtg_yconf_t c;
  int rc;

  memset(cfg, 0, sizeof *cfg);
  memset(&c, 0, sizeof c);
  if (errlen > 0) err[0] = '\0';
  rc = vtg_yconf_load_file(&c, path);
  if (rc == 0) rc = load_tree(&c, cfg);
  if (rc != 0) {
    if (errlen > 0)
      snprintf(err, errlen, "%s", c.err[0] ? c.err : vtg_strerror(rc));
    vtg_probe_config_free(cfg);
    if (rc != VTG_EIO && rc != VTG_ENOMEM) rc = VTG_ECONFIG;
  }
  vtg_yconf_free(&c);
  return rc;
}
