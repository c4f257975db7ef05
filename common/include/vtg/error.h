/* Error codes of vantage. Functions return 0 or a negative code: libuv's
 * codes (UV_E*) pass through unchanged, ours live in their own band below
 * VTG__ERR_BASE so the two never collide. */
#ifndef VTG_ERROR_H
#define VTG_ERROR_H

#define VTG__ERR_BASE (-30000)

enum {
  VTG_ENOMEM = VTG__ERR_BASE - 1,      /* allocation failed */
  VTG_EINVAL = VTG__ERR_BASE - 2,      /* invalid argument or value */
  VTG_ECONFIG = VTG__ERR_BASE - 3,     /* configuration error (details logged) */
  VTG_EFRAME_TOO_LARGE = VTG__ERR_BASE - 4, /* a frame's length exceeds the cap */
  VTG_EDECODE = VTG__ERR_BASE - 5,     /* a protobuf message failed to decode */
  VTG_EPROTO = VTG__ERR_BASE - 6,      /* protocol violation (wrong message, order) */
  VTG_EVERSION = VTG__ERR_BASE - 7,    /* protocol version mismatch */
  VTG_EUNKNOWN_AGENT = VTG__ERR_BASE - 8, /* agent id not in the registry */
  VTG_ELIMIT = VTG__ERR_BASE - 9,      /* a configured limit was hit */
  VTG_ESTORE = VTG__ERR_BASE - 10,     /* SQLite failed (message logged) */
  VTG_ECURL = VTG__ERR_BASE - 11,      /* libcurl failed (message logged) */
  VTG_ENOTFOUND = VTG__ERR_BASE - 12,  /* no such object */
  VTG_EJSON = VTG__ERR_BASE - 13,      /* malformed JSON */
  VTG_EIO = VTG__ERR_BASE - 14,        /* I/O error on a file */
  VTG_EHTTP = VTG__ERR_BASE - 15,      /* HTTP request failed */
};

/* A static English message for any code: ours, libuv's or errno-style. */
const char *vtg_strerror(int err);

#endif
