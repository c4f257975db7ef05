/* The coordinator's side of maintenance (maint.h): the windows of the
 * running config and the silences kept in the store, loaded into
 * c->maint, and the /api/v1/silences routes. Loop thread only. */
#ifndef VTG_SILENCE_H
#define VTG_SILENCE_H

#include "coord.h"
#include "vtg/httpd.h"

/* Start-up, after the store is open and before the result log is replayed
 * (re-derived incidents are judged against the same windows): c->maint gets
 * the config's windows and the stored silences not ended more than
 * VTG_MAINT_KEEP_US ago; older ones are pruned from the store. Returns 0
 * or an error (logged). */
int vtg_silence_start(vtg_coord_t *c);
/* SIGHUP, after c->cfg was replaced: the config windows follow it. */
void vtg_silence_reload(vtg_coord_t *c);
/* Frees c->maint (NULL allowed). */
void vtg_silence_free(vtg_coord_t *c);

/* /api/v1/silences (GET list, POST create: 201) and /api/v1/silences/ID
 * (GET one, DELETE: end it now). Returns 1 when req->path is one of these
 * (resp filled, errors as JSON), 0 to let other routes look. */
int vtg_silence_http(vtg_coord_t *c, vtg_httpd_req_t *req, vtg_httpd_resp_t *resp);

#endif
