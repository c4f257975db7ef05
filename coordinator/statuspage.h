/* The coordinator's status page (GET /): one server-rendered HTML document
 * with inline SVG and inline CSS, no scripts and no external assets. It
 * shows the overall state, a world map (coordinator/worldmap.h) with every
 * known agent as a dot colored by state, per check a regions x minutes heat
 * strip of the last three hours, and the open incidents. It refreshes
 * itself every 30 s (<meta http-equiv="refresh">).
 *
 * Stable hooks for tests and scrapers: #overall[data-state], svg#map with
 * path#land and circle.agent[data-agent][data-region][data-state],
 * svg.strip[data-check] with rect.cell[data-check][data-region][data-t]
 * (one rect per run of equal minutes; data-t its first minute, data-minutes
 * its length), tr.incident[data-check][data-id]; every colored element has
 * a class state-<up|degraded|down|impaired|disconnected|unknown>. */
#ifndef VTG_STATUSPAGE_H
#define VTG_STATUSPAGE_H

#include <stdint.h>

#include "coord.h"
#include "vtg/buf.h"

/* Appends the page to out as of wall clock now_us. Reads the store's open
 * incidents when c->store is set, the per-minute rollups when the
 * coordinator keeps them, else only the live state (the strips' last
 * column). Loop thread only. Returns 0, VTG_ENOMEM / VTG_ELIMIT when out
 * cannot grow, or a store / JSON error. */
int vtg_statuspage_render(vtg_coord_t *c, int64_t now_us, vtg_buf_t *out);

#endif
