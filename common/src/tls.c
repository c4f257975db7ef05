/* OpenSSL contexts and a memory-BIO transport; see vtg/tls.h. */
#include "vtg/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <uv.h>

#include "vtg/error.h"

struct vtg_tls_s {
  SSL *ssl;
  BIO *rbio; /* bytes from the peer; owned by ssl */
  BIO *wbio; /* bytes for the peer; owned by ssl */
  int server;
  int done;
};

/* OpenSSL's error queue into err, after a prefix; the queue is emptied so
 * an old error never shows up in a later message. */
static void ssl_err(char *err, size_t errlen, const char *prefix) {
  char one[256];
  unsigned long e;
  size_t used;
  if (errlen == 0) return;
  snprintf(err, errlen, "%s", prefix);
  used = strlen(err);
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, one, sizeof one);
    if (used + 2 < errlen) {
      snprintf(err + used, errlen - used, ": %s", one);
      used = strlen(err);
    }
  }
}

int vtg_tls_ctx_new(int server, const char *cert, const char *key, const char *ca,
                    vtg_tls_ctx_t **out, char *err, size_t errlen) {
  char pre[600];
  int rc = VTG_EPROTO;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) {
    ssl_err(err, errlen, "cannot create a TLS context");
    return VTG_ENOMEM;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(pre, sizeof pre, "cannot load the certificate %s", cert);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    snprintf(pre, sizeof pre, "cannot load the private key %s", key);
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(pre, sizeof pre, "the key %s does not match the certificate %s", key, cert);
    goto fail;
  }
  if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
    snprintf(pre, sizeof pre, "cannot load the CA certificate %s", ca);
    goto fail;
  }
  if (server) {
    /* Tell clients which CA we accept, and refuse a handshake without a
     * certificate instead of carrying on anonymously. */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names == NULL) {
      snprintf(pre, sizeof pre, "cannot read CA names from %s", ca);
      goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Agents reconnect from scratch; resumption would skip the client
     * certificate check on a reload. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  }
  *out = ctx;
  return 0;
fail:
  ssl_err(err, errlen, pre);
  SSL_CTX_free(ctx);
  return rc;
}

void vtg_tls_ctx_free(vtg_tls_ctx_t *ctx) { SSL_CTX_free(ctx); }

int vtg_tls_new(vtg_tls_ctx_t *ctx, int server, const char *peer_name, vtg_tls_t **out) {
  vtg_tls_t *t = calloc(1, sizeof *t);
  if (t == NULL) return VTG_ENOMEM;
  t->server = server;
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) goto fail;
  /* An empty read BIO means "wait for more", not end of file. */
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* ssl owns both now */
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (peer_name != NULL && peer_name[0] != '\0') {
      X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
      /* An IP literal must match an IP SAN; a name a DNS SAN (and SNI). */
      if (X509_VERIFY_PARAM_set1_ip_asc(vp, peer_name) != 1) {
        ERR_clear_error();
        if (SSL_set1_host(t->ssl, peer_name) != 1) goto fail_ssl;
        SSL_set_tlsext_host_name(t->ssl, peer_name);
      }
    }
  }
  *out = t;
  return 0;
fail:
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
  }
fail_ssl:
  SSL_free(t->ssl);
  free(t);
  return VTG_ENOMEM;
}

void vtg_tls_free(vtg_tls_t *t) {
  if (t == NULL) return;
  SSL_free(t->ssl);
  free(t);
}

/* The reason of a failed SSL call: verification first (it says "certificate
 * has expired" where the error queue only says "certificate verify
 * failed"), then the queue. */
static int fail_reason(vtg_tls_t *t, int r, char *err, size_t errlen) {
  int e = SSL_get_error(t->ssl, r);
  char pre[300];
  long v = SSL_get_verify_result(t->ssl);
  if (e == SSL_ERROR_ZERO_RETURN) {
    snprintf(err, errlen, "TLS connection closed by the peer");
    return UV_EOF;
  }
  if (v != X509_V_OK)
    snprintf(pre, sizeof pre, "TLS %s failed (certificate: %s)",
             t->done ? "connection" : "handshake", X509_verify_cert_error_string(v));
  else
    snprintf(pre, sizeof pre, "TLS %s failed", t->done ? "connection" : "handshake");
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
    snprintf(err, errlen, "%s: unexpected end of data", pre);
  else
    ssl_err(err, errlen, pre);
  return VTG_EPROTO;
}

int vtg_tls_start(vtg_tls_t *t, char *err, size_t errlen) {
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->done = 1;
    return 0;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  return fail_reason(t, r, err, errlen);
}

int vtg_tls_put(vtg_tls_t *t, const uint8_t *in, size_t len) {
  while (len > 0) {
    int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
    int w = BIO_write(t->rbio, in, chunk);
    if (w <= 0) return VTG_ENOMEM;
    in += w;
    len -= (size_t)w;
  }
  return 0;
}

int vtg_tls_read(vtg_tls_t *t, uint8_t *buf, size_t cap, size_t *got, char *err, size_t errlen) {
  *got = 0;
  ERR_clear_error();
  if (!t->done) {
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
      int e = SSL_get_error(t->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      return fail_reason(t, r, err, errlen);
    }
    t->done = 1;
  }
  size_t n = 0;
  int r = SSL_read_ex(t->ssl, buf, cap, &n);
  if (r == 1) {
    *got = n;
    return 0;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  return fail_reason(t, r, err, errlen);
}

int vtg_tls_handshake_done(const vtg_tls_t *t) { return t->done; }

int vtg_tls_write(vtg_tls_t *t, const uint8_t *data, size_t len, char *err, size_t errlen) {
  ERR_clear_error();
  if (!t->done) {
    snprintf(err, errlen, "TLS write before the handshake completed");
    return VTG_EPROTO;
  }
  while (len > 0) {
    size_t n = 0;
    /* Memory BIOs never block: a write is all or an error. */
    if (SSL_write_ex(t->ssl, data, len, &n) != 1) return fail_reason(t, 0, err, errlen);
    data += n;
    len -= n;
  }
  return 0;
}

int vtg_tls_take_output(vtg_tls_t *t, uint8_t **out, size_t *len) {
  size_t pending = BIO_ctrl_pending(t->wbio);
  *out = NULL;
  *len = 0;
  if (pending == 0) return 0;
  uint8_t *p = malloc(pending);
  if (p == NULL) return VTG_ENOMEM;
  int r = BIO_read(t->wbio, p, (int)pending);
  if (r <= 0) {
    free(p);
    return VTG_ENOMEM;
  }
  *out = p;
  *len = (size_t)r;
  return 0;
}

int vtg_tls_peer_cn(const vtg_tls_t *t, char *buf, size_t n) {
  X509 *cert = SSL_get0_peer_certificate(t->ssl);
  if (cert == NULL) return VTG_ENOTFOUND;
  X509_NAME *subj = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
  if (idx < 0) return VTG_ENOTFOUND;
  ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
  unsigned char *utf8 = NULL;
  int len = ASN1_STRING_to_UTF8(&utf8, d);
  if (len < 0) return VTG_ENOTFOUND;
  int rc = 0;
  if ((size_t)len + 1 > n || memchr(utf8, 0, (size_t)len) != NULL) {
    rc = VTG_ELIMIT;
  } else {
    memcpy(buf, utf8, (size_t)len);
    buf[len] = '\0';
  }
  OPENSSL_free(utf8);
  return rc;
}

const char *vtg_tls_version(const vtg_tls_t *t) { return SSL_get_version(t->ssl); }

/* ------------------------------------------------------------------ config */

static int conf_file(vtg_yconf_t *c, const vtg_ynode_t *m, const char *key, char **out) {
  int err = vtg_yconf_str(c, m, key, 1, out);
  if (err) return err;
  FILE *f = fopen(*out, "r");
  if (f == NULL)
    return vtg_yconf_error(c, vtg_yconf_get(m, key), "cannot read tls %s '%s': %s", key, *out,
                           strerror(errno));
  fclose(f);
  return 0;
}

int vtg_tls_conf_parse(vtg_yconf_t *c, const vtg_ynode_t *root, vtg_tls_conf_t *out) {
  static const char *const keys[] = {"cert", "key", "ca", NULL};
  int err, plain = 0;
  memset(out, 0, sizeof *out);
  if (root == NULL) return 0;
  const vtg_ynode_t *t = vtg_yconf_get(root, "tls");
  const vtg_ynode_t *p = vtg_yconf_get(root, "plaintext");
  if (p != NULL) {
    if ((err = vtg_yconf_bool(c, root, "plaintext", 0, &plain))) return err;
    if (!plain)
      return vtg_yconf_error(c, p, "'plaintext' may only be true (omit it and configure 'tls')");
    if (t != NULL)
      return vtg_yconf_error(c, p, "'plaintext: true' and 'tls' exclude each other");
    out->mode = VTG_TLS_PLAINTEXT;
    return 0;
  }
  if (t == NULL) return 0;
  if ((err = vtg_yconf_expect(c, t, VTG_YNODE_MAP))) return err;
  if ((err = vtg_yconf_check_keys(c, t, keys))) return err;
  if ((err = conf_file(c, t, "cert", &out->cert)) || (err = conf_file(c, t, "key", &out->key)) ||
      (err = conf_file(c, t, "ca", &out->ca)))
    return err;
  out->mode = VTG_TLS_ON;
  return 0;
}

int vtg_tls_conf_require(const vtg_tls_conf_t *t, const char *file, char *err, size_t errlen) {
  if (t->mode != VTG_TLS_UNSET) return 0;
  snprintf(err, errlen,
           "%s: neither 'tls: {cert: FILE, key: FILE, ca: FILE}' nor 'plaintext: true' is set; "
           "the agent link needs mutual TLS (see `vantage-coordinator ca --help`) or an "
           "explicit plaintext: true",
           file ? file : "config");
  return VTG_ECONFIG;
}

void vtg_tls_conf_free(vtg_tls_conf_t *t) {
  free(t->cert);
  free(t->key);
  free(t->ca);
  memset(t, 0, sizeof *t);
}
