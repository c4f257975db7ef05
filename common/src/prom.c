/* Prometheus text exposition helpers (prom.h). */
#include "vtg/prom.h"

int vtg_prom_label(vtg_buf_t *b, const char *s) {
  int err = 0;
  for (; s != NULL && *s && err == 0; s++) {
    if (*s == '\\') err = vtg_buf_appends(b, "\\\\");
    else if (*s == '"') err = vtg_buf_appends(b, "\\\"");
    else if (*s == '\n') err = vtg_buf_appends(b, "\\n");
    else err = vtg_buf_append(b, s, 1);
  }
  return err;
}

int vtg_prom_family(vtg_buf_t *b, const char *name, const char *type, const char *help) {
  return vtg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
