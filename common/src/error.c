/* Error messages for vantage's own codes; everything else is handed to
 * libuv, whose codes are negated errno values on Unix. */
#include "vtg/error.h"

#include <uv.h>

const char *vtg_strerror(int err) {
  switch (err) {
    case 0: return "success";
    case VTG_ENOMEM: return "out of memory";
    case VTG_EINVAL: return "invalid argument or value";
    case VTG_ECONFIG: return "configuration error";
    case VTG_EFRAME_TOO_LARGE: return "frame too large";
    case VTG_EDECODE: return "message failed to decode";
    case VTG_EPROTO: return "protocol violation";
    case VTG_EVERSION: return "protocol version mismatch";
    case VTG_EUNKNOWN_AGENT: return "unknown agent";
    case VTG_ELIMIT: return "limit reached";
    case VTG_ESTORE: return "store (SQLite) error";
    case VTG_ECURL: return "libcurl error";
    case VTG_ENOTFOUND: return "not found";
    case VTG_EJSON: return "malformed JSON";
    case VTG_EIO: return "I/O error";
    case VTG_EHTTP: return "HTTP request failed";
    default: break;
  }
  if (err <= VTG__ERR_BASE) return "unknown vantage error";
  /* errno-style positive codes map onto libuv's negated ones. */
  return uv_strerror(err > 0 ? -err : err);
}
