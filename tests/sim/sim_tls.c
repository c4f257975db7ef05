/* The simulator's test PKI: at start it makes its own CA and one server
 * certificate (127.0.0.1 and localhost), so HTTPS and TLS checks run
 * against a real chain without files in the tree or the internet. The CA
 * is written next to the ports file for the harness to hand to the agents
 * (their `ca_file:`). Keys are EC P-256: fast to make, enough for tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sim.h"
#include "vtg/error.h"
#include "vtg/log.h"

static void log_ssl(const char *what) {
  char buf[256];
  unsigned long e = ERR_get_error();
  ERR_error_string_n(e, buf, sizeof buf);
  VTG_ERROR("%s: %s", what, e ? buf : "unknown OpenSSL error");
  ERR_clear_error();
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (ext == NULL) return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

/* A certificate for key, signed by signer_key as issuer (NULL: self-signed),
 * valid from an hour ago for days. */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer_key, X509 *issuer, const char *cn,
                       int is_ca, long serial, long days) {
  X509 *x = X509_new();
  if (x == NULL) return NULL;
  X509_NAME *name = X509_get_subject_name(x);
  if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
      X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
      X509_gmtime_adj(X509_getm_notAfter(x), days * 86400) == NULL || !X509_set_pubkey(x, key) ||
      !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"vantage-sim",
                                  -1, -1, 0) ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                  0) ||
      !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
    goto fail;
  X509 *iss = issuer ? issuer : x;
  if (add_ext(x, iss, NID_subject_key_identifier, "hash") != 0) goto fail;
  if (is_ca) {
    if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
      goto fail;
  } else {
    if (add_ext(x, iss, NID_authority_key_identifier, "keyid:always") != 0 ||
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, iss, NID_ext_key_usage, "serverAuth") != 0 ||
        add_ext(x, iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") != 0)
      goto fail;
  }
  if (X509_sign(x, signer_key ? signer_key : key, EVP_sha256()) == 0) goto fail;
  return x;
fail:
  X509_free(x);
  return NULL;
}

/* A server context presenting leaf (and the CA) with key. */
static SSL_CTX *server_ctx(X509 *leaf, EVP_PKEY *key, X509 *ca) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
      SSL_CTX_add1_chain_cert(ctx, ca) != 1) {
    log_ssl("SSL_CTX setup");
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int vtg_sim_tls_init(vtg_sim_t *sim, const char *ca_path) {
  int rc = VTG_ENOMEM;
  EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
  X509 *ca = NULL, *leaf = NULL, *leaf5 = NULL;
  SSL_CTX *ctx = NULL, *ctx5 = NULL;
  FILE *f = NULL;
  if (ca_key == NULL || key == NULL) {
    log_ssl("EC key generation");
    goto out;
  }
  ca = make_cert(ca_key, NULL, NULL, "vantage-sim test CA", 1, 1, 3650);
  leaf = ca ? make_cert(key, ca_key, ca, "127.0.0.1", 0, 2, 365) : NULL;
  leaf5 = ca ? make_cert(key, ca_key, ca, "127.0.0.1", 0, 3, 5) : NULL;
  if (leaf == NULL || leaf5 == NULL) {
    log_ssl("making the test certificates");
    goto out;
  }
  if ((ctx = server_ctx(leaf, key, ca)) == NULL || (ctx5 = server_ctx(leaf5, key, ca)) == NULL)
    goto out;
  f = fopen(ca_path, "w");
  if (f == NULL || PEM_write_X509(f, ca) != 1) {
    VTG_ERROR("cannot write the test CA to %s", ca_path);
    rc = VTG_EIO;
    goto out;
  }
  if (fclose(f) != 0) {
    f = NULL;
    rc = VTG_EIO;
    goto out;
  }
  f = NULL;
  if ((sim->ca_path = strdup(ca_path)) == NULL) goto out;
  sim->ssl_ctx = ctx;
  sim->ssl_ctx_expiring = ctx5;
  ctx = ctx5 = NULL;
  rc = 0;
out:
  if (f != NULL) fclose(f);
  SSL_CTX_free(ctx);
  SSL_CTX_free(ctx5);
  X509_free(ca);
  X509_free(leaf);
  X509_free(leaf5);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  return rc;
}

void vtg_sim_tls_free(vtg_sim_t *sim) {
  SSL_CTX_free(sim->ssl_ctx);
  SSL_CTX_free(sim->ssl_ctx_expiring);
  sim->ssl_ctx = sim->ssl_ctx_expiring = NULL;
  free(sim->ca_path);
  sim->ca_path = NULL;
}
