/* The coordinator's HTTP listener: /api/v1/... (JSON), /metrics, / . The
 * routes of http.c on the common server core (vtg/httpd.h). */
#ifndef VTG_HTTP_H
#define VTG_HTTP_H

#include "coord.h"

typedef struct vtg_http_s vtg_http_t;

/* Listens on "HOST:PORT" (port 0 picks one; the bound address is logged as
 * "http listening on HOST:PORT"). Returns 0 or a libuv error. */
int vtg_http_start(vtg_coord_t *c, const char *listen, vtg_http_t **out);
/* The port actually bound (the one picked when the config said 0). */
int vtg_http_port(const vtg_http_t *h);
/* Stops listening, closes connections; memory freed in close callbacks. */
void vtg_http_stop(vtg_http_t *h);

#endif
