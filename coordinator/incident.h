/* An incident in the JSON contract of DESIGN.md ("outages --json"). */
#ifndef VTG_INCIDENT_H
#define VTG_INCIDENT_H

#include "detect.h"
#include "vtg/json.h"

/* Writes one incident as a JSON object; now_us gives duration_s of an open
 * incident. */
void vtg_incident_write_json(vtg_json_writer_t *w, const vtg_incident_t *inc, int64_t now_us);

#endif
