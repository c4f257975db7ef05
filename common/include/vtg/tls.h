/* Mutual TLS between agents and the coordinator (OpenSSL 3).
 *
 * Contexts: a server context requires a client certificate signed by the
 * configured CA; a client context verifies the server certificate against
 * the CA and the name or IP address it connected to. TLS 1.3 is preferred,
 * 1.2 the minimum.
 *
 * Connections are transport-agnostic: OpenSSL sees two memory BIOs. The
 * owner feeds bytes read from the socket in (vtg_tls_put), reads plaintext
 * out (vtg_tls_read, which also drives the handshake), encrypts outgoing
 * plaintext (vtg_tls_write) and sends what vtg_tls_take_output returns with
 * uv_write. After every put/read/write the owner must take the output: the
 * handshake, alerts and session tickets are produced there too.
 *
 * Agent identity: the certificate subject's commonName (CN). `ca issue
 * NAME` writes CN=NAME; SANs are used only for server host names.
 *
 * Errors: VTG_EPROTO (TLS failed: err holds OpenSSL's message, with the
 * certificate verification reason when there is one), VTG_EIO (a file
 * could not be read), VTG_ENOMEM. One thread: the loop's. */
#ifndef VTG_TLS_H
#define VTG_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/yconf.h"

typedef struct ssl_ctx_st vtg_tls_ctx_t; /* an OpenSSL SSL_CTX, reference counted */
typedef struct vtg_tls_s vtg_tls_t;

/* The `tls: {cert, key, ca}` / `plaintext: true` part of both daemons'
 * configs. Exactly one may be given; neither leaves mode UNSET, which the
 * daemons refuse at start (vtg_tls_conf_require) while config unit tests
 * may still load fragments without it. */
typedef enum { VTG_TLS_UNSET = 0, VTG_TLS_ON, VTG_TLS_PLAINTEXT } vtg_tls_mode_t;
typedef struct vtg_tls_conf_s {
  vtg_tls_mode_t mode;
  char *cert, *key, *ca; /* VTG_TLS_ON: PEM files, checked readable at load */
} vtg_tls_conf_t;

/* Reads `tls` and `plaintext` from map root (other keys are the caller's).
 * Returns 0 or VTG_ECONFIG/VTG_ENOMEM with the error in c. */
int vtg_tls_conf_parse(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_tls_conf_t *out);
/* 0 when a mode is set; else VTG_ECONFIG with "FILE: ..." in err. */
int vtg_tls_conf_require(const vtg_tls_conf_t *t, const char *file, char *err, size_t errlen);
void vtg_tls_conf_free(vtg_tls_conf_t *t);

/* Builds a context from PEM files: cert (chain), key, and the CA that
 * signs the peer's certificate. server != 0 makes a server context that
 * demands a client certificate. On failure err says which file and why. */
int vtg_tls_ctx_new(int server, const char *cert, const char *key, const char *ca,
                    vtg_tls_ctx_t **out, char *err, size_t errlen);
/* Drops the caller's reference; connections made from it keep theirs, so a
 * reload may free the old context while its connections live on. NULL ok. */
void vtg_tls_ctx_free(vtg_tls_ctx_t *ctx);

/* A connection over memory BIOs. For a client, peer_name is the host name
 * or IP literal the certificate must match (NULL: no name check; tests). */
int vtg_tls_new(vtg_tls_ctx_t *ctx, int server, const char *peer_name, vtg_tls_t **out);
void vtg_tls_free(vtg_tls_t *t); /* NULL ok */

/* Client: produces the ClientHello (take the output afterwards). */
int vtg_tls_start(vtg_tls_t *t, char *err, size_t errlen);
/* Hands len bytes received from the peer to OpenSSL. */
int vtg_tls_put(vtg_tls_t *t, const uint8_t *in, size_t len);
/* Advances the handshake and decrypts: *got = bytes of plaintext in buf
 * (0 = nothing more for now). Returns 0 or VTG_EPROTO with err set; a clean
 * close_notify from the peer gives UV_EOF (err says so too). */
int vtg_tls_read(vtg_tls_t *t, uint8_t *buf, size_t cap, size_t *got, char *err, size_t errlen);
/* 1 once the handshake has completed. */
int vtg_tls_handshake_done(const vtg_tls_t *t);
/* Encrypts len bytes of plaintext (only after the handshake). */
int vtg_tls_write(vtg_tls_t *t, const uint8_t *data, size_t len, char *err, size_t errlen);
/* Ciphertext waiting to be sent: *out is malloc'd (the caller frees it) or
 * NULL when there is none (*len 0). */
int vtg_tls_take_output(vtg_tls_t *t, uint8_t **out, size_t *len);
/* The peer certificate's CN into buf (NUL-terminated). VTG_ENOTFOUND when
 * there is no certificate or no CN, VTG_ELIMIT when it does not fit. */
int vtg_tls_peer_cn(const vtg_tls_t *t, char *buf, size_t n);
/* "TLSv1.3" etc., for the log. */
const char *vtg_tls_version(const vtg_tls_t *t);

#endif
