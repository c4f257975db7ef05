/* Maintenance on the running coordinator (silence.h): c->maint holds the
 * config's windows and the API's silences; the store keeps the silences
 * across restarts. The store is written first and memory changed only on
 * success, so what the API answers is what a restart will find. */
#include "silence.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maint.h"
#include "store.h"
#include "vtg/clock.h"
#include "vtg/error.h"
#include "vtg/json.h"
#include "vtg/log.h"

#define SILENCES_PATH "/api/v1/silences"

static int load_one(void *ctx, const vtg_store_silence_t *s) {
  vtg_maint_t *m = ctx;
  int err = vtg_maint_add_silence(m, s->id, s->check, s->service, s->start_us, s->end_us,
                                  s->reason);
  if (err == VTG_EINVAL) { /* a row no version of this code writes: skip it, say so */
    VTG_WARN("store: silence %" PRId64 " is malformed, ignored", s->id);
    return 0;
  }
  return err;
}

int vtg_silence_start(vtg_coord_t *c) {
  int64_t now = vtg_clock_wall_us();
  uint64_t pruned = 0;
  int err;
  if ((c->maint = calloc(1, sizeof *c->maint)) == NULL) return VTG_ENOMEM;
  vtg_maint_init(c->maint);
  if ((err = vtg_maint_set_config(c->maint, &c->cfg)) != 0) goto fail;
  if (c->store != NULL) {
    if ((err = vtg_store_silences_prune(c->store, now - VTG_MAINT_KEEP_US, &pruned)) != 0 ||
        (err = vtg_store_silences(c->store, now - VTG_MAINT_KEEP_US, load_one, c->maint)) != 0)
      goto fail;
  }
  VTG_INFO("maintenance: %zu config window(s), %zu active silence(s)%s", c->cfg.n_maintenance,
           vtg_maint_active_silences(c->maint, now), pruned ? " (old ones pruned)" : "");
  return 0;
fail:
  VTG_ERROR("maintenance: cannot load windows and silences: %s", vtg_strerror(err));
  return err;
}

void vtg_silence_reload(vtg_coord_t *c) {
  if (c->maint == NULL) return;
  if (vtg_maint_set_config(c->maint, &c->cfg) != 0)
    VTG_ERROR("maintenance: out of memory; the previous config windows stay");
  else
    VTG_INFO("maintenance: %zu config window(s)", c->cfg.n_maintenance);
}

void vtg_silence_free(vtg_coord_t *c) {
  if (c->maint == NULL) return;
  vtg_maint_free(c->maint);
  free(c->maint);
  c->maint = NULL;
}

/* "sil-N" -> N; 0 when id is not of that form. */
static int64_t silence_seq(const char *id) {
  char *end;
  if (strncmp(id, "sil-", 4) != 0 || id[4] < '1' || id[4] > '9') return 0;
  errno = 0;
  long long v = strtoll(id + 4, &end, 10);
  if (errno != 0 || *end != '\0' || v <= 0) return 0;
  return (int64_t)v;
}

static void write_one(vtg_httpd_resp_t *resp, const vtg_maint_window_t *w, int64_t now) {
  vtg_json_writer_t jw;
  vtg_json_writer_init(&jw, &resp->body, 0);
  vtg_maint_write_window(&jw, w, now);
  if (vtg_json_finish(&jw) != 0) vtg_httpd_error(resp, 500, "cannot render the silence", NULL);
}

/* POST: validate, store, then add to memory with the store's id. */
static void silence_post(vtg_coord_t *c, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp) {
  vtg_maint_request_t r;
  char why[256];
  int64_t now = vtg_clock_wall_us(), seq = 0;
  int err = vtg_maint_parse_request(req->body, req->body_len, &c->cfg, &r, why, sizeof why);
  if (err == VTG_EINVAL) {
    vtg_httpd_error(resp, 400, why, NULL);
    return;
  }
  if (err != 0) {
    vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
    return;
  }
  if (vtg_maint_active_silences(c->maint, now) >= VTG_MAINT_SILENCES_MAX) {
    snprintf(why, sizeof why, "too many active silences (at most %d); delete some first",
             VTG_MAINT_SILENCES_MAX);
    vtg_httpd_error(resp, 409, why, NULL);
    goto out;
  }
  if ((err = vtg_store_silence_add(c->store, r.check, r.service, now, now + r.duration_us,
                                   r.reason, now, &seq)) != 0 ||
      (err = vtg_maint_add_silence(c->maint, seq, r.check, r.service, now, now + r.duration_us,
                                   r.reason)) != 0) {
    /* A stored row without its memory twin comes back at the next start:
     * better than a silence the API confirmed and then forgot. */
    vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
    goto out;
  }
  /* Expired ones go when new ones come: the table stays small without a timer. */
  vtg_maint_prune(c->maint, now - VTG_MAINT_KEEP_US);
  if (vtg_store_silences_prune(c->store, now - VTG_MAINT_KEEP_US, NULL) != 0)
    VTG_WARN("maintenance: pruning old silences failed (retried with the next one)");
  char id[32];
  snprintf(id, sizeof id, "sil-%" PRId64, seq);
  const vtg_maint_window_t *w = vtg_maint_find(c->maint, id);
  VTG_INFO("silence %s: %s %s for %.0fs from %s (%s)", id, r.check ? "check" : "service",
           r.check ? r.check : r.service, (double)r.duration_us / 1e6, req->peer,
           r.reason[0] ? r.reason : "no reason given");
  resp->status = 201;
  snprintf(resp->headers, sizeof resp->headers, "Location: " SILENCES_PATH "/%s\r\n", id);
  if (w != NULL) write_one(resp, w, now);
out:
  vtg_maint_request_free(&r);
}

static void silence_delete(vtg_coord_t *c, const char *id, vtg_httpd_resp_t *resp) {
  int64_t now = vtg_clock_wall_us(), seq = silence_seq(id);
  const vtg_maint_window_t *w = vtg_maint_find(c->maint, id);
  char why[160];
  int err;
  if (w != NULL && w->source == VTG_MAINT_CONFIG) {
    snprintf(why, sizeof why,
             "%s is a maintenance window of the config file (line %d): change it there and "
             "reload (SIGHUP)", id, w->line);
    vtg_httpd_error(resp, 409, why, NULL);
    return;
  }
  if (w == NULL || seq == 0 || w->end_us <= now) {
    snprintf(why, sizeof why, "no active silence '%.64s'", id);
    vtg_httpd_error(resp, 404, why, NULL);
    return;
  }
  if ((err = vtg_store_silence_end(c->store, seq, now)) != 0) {
    vtg_httpd_error(resp, 500, vtg_strerror(err), NULL);
    return;
  }
  vtg_maint_end(c->maint, id, now); /* found and active above: cannot fail */
  VTG_INFO("silence %s ended early", id);
  write_one(resp, vtg_maint_find(c->maint, id), now);
}

int vtg_silence_http(vtg_coord_t *c, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp) {
  const size_t plen = sizeof SILENCES_PATH - 1;
  int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
  int64_t now = vtg_clock_wall_us();

  if (strncmp(req->path, SILENCES_PATH, plen) != 0) return 0;
  if (c->maint == NULL || c->store == NULL) {
    if (req->path[plen] != '\0' && req->path[plen] != '/') return 0;
    vtg_httpd_error(resp, 503, "maintenance is not loaded", NULL);
    return 1;
  }
  if (req->path[plen] == '\0') {
    if (get) {
      if (vtg_maint_write_json(c->maint, now, &resp->body) != 0)
        vtg_httpd_error(resp, 500, "cannot render the silences", NULL);
    } else if (strcmp(req->method, "POST") == 0) {
      silence_post(c, req, resp);
    } else {
      vtg_httpd_error(resp, 405, "GET, HEAD or POST", "Allow: GET, HEAD, POST\r\n");
    }
    return 1;
  }
  if (req->path[plen] != '/') return 0; /* "/api/v1/silencesX": not ours */
  const char *id = req->path + plen + 1;
  if (*id == '\0' || strchr(id, '/') != NULL) {
    vtg_httpd_error(resp, 404, "not found", NULL);
    return 1;
  }
  if (get) {
    const vtg_maint_window_t *w = vtg_maint_find(c->maint, id);
    char why[96];
    if (w == NULL) {
      snprintf(why, sizeof why, "no silence '%.64s'", id);
      vtg_httpd_error(resp, 404, why, NULL);
    } else {
      write_one(resp, w, now);
    }
  } else if (strcmp(req->method, "DELETE") == 0) {
    silence_delete(c, id, resp);
  } else {
    vtg_httpd_error(resp, 405, "GET, HEAD or DELETE", "Allow: GET, HEAD, DELETE\r\n");
  }
  return 1;
}
