/* Mutual TLS (common/src/tls.c) with certificates made by the ca module
 * (coordinator/ca.c) in a temporary directory: a client and a server
 * handshake in-process through their memory BIOs, with frames both ways;
 * another CA, an expired certificate, a missing client certificate and a
 * wrong host name are refused with OpenSSL's reason. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "ca.h"
#include "test.h"
#include "vtg/error.h"
#include "vtg/tls.h"

static char dir[256], other[300];

static void rm_rf(const char *d) {
  DIR *dd = opendir(d);
  if (dd == NULL) return;
  struct dirent *e;
  char p[600];
  while ((e = readdir(dd)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_rf(p);
    else
      unlink(p);
  }
  closedir(dd);
  rmdir(d);
}

/* A CA in dir with a coordinator cert for 127.0.0.1 and agent certs: a-1
 * (valid) and old (expired); another CA in dir/other with its own a-1. */
static int setup(void) {
  char err[600];
  const char *host[] = {"127.0.0.1", "coord.example"};
  snprintf(dir, sizeof dir, "/tmp/vtg-tls-XXXXXX");
  if (mkdtemp(dir) == NULL) return -1;
  snprintf(other, sizeof other, "%s/other", dir);
  if (vtg_ca_init(dir, err, sizeof err) || vtg_ca_issue(dir, "coord", 30, host, 2, err, sizeof err) ||
      vtg_ca_issue(dir, "a-1", 30, NULL, 0, err, sizeof err) ||
      vtg_ca_issue(dir, "old", -1, NULL, 0, err, sizeof err) ||
      vtg_ca_init(other, err, sizeof err) ||
      vtg_ca_issue(other, "a-1", 30, NULL, 0, err, sizeof err)) {
    fprintf(stderr, "setup: %s\n", err);
    return -1;
  }
  return 0;
}

static void path(char *out, size_t n, const char *d, const char *name, const char *ext) {
  snprintf(out, n, "%s/%s.%s", d, name, ext);
}

static int ctx_for(int server, const char *d, const char *name, vtg_tls_ctx_t **out) {
  char cert[400], key[400], ca[400], err[600];
  path(cert, sizeof cert, d, name, "pem");
  path(key, sizeof key, d, name, "key");
  path(ca, sizeof ca, dir, "ca", "pem"); /* both sides trust the first CA */
  int rc = vtg_tls_ctx_new(server, cert, key, ca, out, err, sizeof err);
  if (rc) fprintf(stderr, "ctx: %s\n", err);
  return rc;
}

/* Moves what a produced to b. */
static int pump(vtg_tls_t *a, vtg_tls_t *b) {
  uint8_t *p = NULL;
  size_t n = 0;
  if (vtg_tls_take_output(a, &p, &n)) return -1;
  int rc = n ? vtg_tls_put(b, p, n) : 0;
  free(p);
  return rc;
}

/* Runs the handshake to the end or to a failure; returns 0 when both
 * sides are done, else the error (message in err, from whichever side). */
static int handshake(vtg_tls_t *cl, vtg_tls_t *sv, char *err, size_t errlen) {
  uint8_t buf[1024];
  size_t got;
  int rc;
  err[0] = '\0';
  if ((rc = vtg_tls_start(cl, err, errlen))) return rc;
  for (int i = 0; i < 10; i++) {
    if (pump(cl, sv)) return VTG_ENOMEM;
    if ((rc = vtg_tls_read(sv, buf, sizeof buf, &got, err, errlen))) {
      pump(sv, cl); /* the alert */
      return rc;
    }
    if (pump(sv, cl)) return VTG_ENOMEM;
    if ((rc = vtg_tls_read(cl, buf, sizeof buf, &got, err, errlen))) return rc;
    if (vtg_tls_handshake_done(cl) && vtg_tls_handshake_done(sv)) return 0;
  }
  snprintf(err, errlen, "handshake did not finish");
  return VTG_EPROTO;
}

/* A pair: server with the coordinator cert, client as agent `name` of CA
 * directory d, verifying the server as `host`. */
static int pair(const char *d, const char *name, const char *host, char *err, size_t errlen) {
  vtg_tls_ctx_t *sc = NULL, *cc = NULL;
  vtg_tls_t *sv = NULL, *cl = NULL;
  int rc = -1;
  if (ctx_for(1, dir, "coord", &sc) || ctx_for(0, d, name, &cc)) goto out;
  if (vtg_tls_new(sc, 1, NULL, &sv) || vtg_tls_new(cc, 0, host, &cl)) goto out;
  rc = handshake(cl, sv, err, errlen);
  if (rc == 0) {
    /* Both ways: plaintext in, the same plaintext out. */
    char cn[64], e2[300];
    uint8_t buf[64];
    size_t got = 0;
    if (vtg_tls_peer_cn(sv, cn, sizeof cn) || strcmp(cn, name) != 0) {
      rc = -2;
      goto out;
    }
    if (vtg_tls_write(cl, (const uint8_t *)"hello", 5, e2, sizeof e2) || pump(cl, sv) ||
        vtg_tls_read(sv, buf, sizeof buf, &got, e2, sizeof e2) || got != 5 ||
        memcmp(buf, "hello", 5) != 0)
      rc = -3;
    else if (vtg_tls_write(sv, (const uint8_t *)"welcome", 7, e2, sizeof e2) || pump(sv, cl) ||
             vtg_tls_read(cl, buf, sizeof buf, &got, e2, sizeof e2) || got != 7)
      rc = -4;
  }
out:
  vtg_tls_free(sv);
  vtg_tls_free(cl);
  vtg_tls_ctx_free(sc); /* the connections held their own references */
  vtg_tls_ctx_free(cc);
  return rc;
}

VTG_TEST(handshake_ok) {
  char err[600];
  ASSERT(setup() == 0);
  int rc = pair(dir, "a-1", "127.0.0.1", err, sizeof err);
  if (rc) fprintf(stderr, "%d %s\n", rc, err);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(pair(dir, "a-1", "coord.example", err, sizeof err), 0);
  rm_rf(dir);
  return 0;
}

VTG_TEST(other_ca_refused) {
  char err[600];
  ASSERT(setup() == 0);
  ASSERT_EQ(pair(other, "a-1", "127.0.0.1", err, sizeof err), VTG_EPROTO);
  fprintf(stderr, "refused: %s\n", err);
  ASSERT(strstr(err, "certificate") != NULL);
  rm_rf(dir);
  return 0;
}

VTG_TEST(expired_refused) {
  char err[600];
  ASSERT(setup() == 0);
  ASSERT_EQ(pair(dir, "old", "127.0.0.1", err, sizeof err), VTG_EPROTO);
  fprintf(stderr, "refused: %s\n", err);
  ASSERT(strstr(err, "expired") != NULL);
  rm_rf(dir);
  return 0;
}

VTG_TEST(wrong_host_refused) {
  char err[600];
  ASSERT(setup() == 0);
  ASSERT_EQ(pair(dir, "a-1", "127.0.0.2", err, sizeof err), VTG_EPROTO);
  fprintf(stderr, "refused: %s\n", err);
  ASSERT(strstr(err, "mismatch") != NULL);
  ASSERT_EQ(pair(dir, "a-1", "other.example", err, sizeof err), VTG_EPROTO);
  ASSERT(strstr(err, "mismatch") != NULL);
  rm_rf(dir);
  return 0;
}

/* Runs a handshake of a server context against client context cc. */
static int against(vtg_tls_ctx_t *cc, char *err, size_t errlen) {
  vtg_tls_ctx_t *sc = NULL;
  vtg_tls_t *sv = NULL, *cl = NULL;
  int rc = -1;
  if (ctx_for(1, dir, "coord", &sc) || vtg_tls_new(sc, 1, NULL, &sv) ||
      vtg_tls_new(cc, 0, "127.0.0.1", &cl))
    goto out;
  rc = handshake(cl, sv, err, errlen);
out:
  vtg_tls_free(sv);
  vtg_tls_free(cl);
  vtg_tls_ctx_free(sc);
  return rc;
}

VTG_TEST(no_client_cert_refused) {
  char err[600], ca[400], cert[400], key[400];
  ASSERT(setup() == 0);
  path(ca, sizeof ca, dir, "ca", "pem");
  /* A client that trusts the CA but has no certificate of its own. */
  SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
  ASSERT(bare != NULL);
  ASSERT(SSL_CTX_load_verify_locations(bare, ca, NULL) == 1);
  SSL_CTX_set_verify(bare, SSL_VERIFY_PEER, NULL);
  ASSERT_EQ(against(bare, err, sizeof err), VTG_EPROTO);
  fprintf(stderr, "refused: %s\n", err);
  ASSERT(strstr(err, "certificate") != NULL);
  SSL_CTX_free(bare);
  /* The coordinator's own certificate (serverAuth only) is no client's. */
  vtg_tls_ctx_t *cc = NULL;
  path(cert, sizeof cert, dir, "coord", "pem");
  path(key, sizeof key, dir, "coord", "key");
  ASSERT(vtg_tls_ctx_new(0, cert, key, ca, &cc, err, sizeof err) == 0);
  ASSERT_EQ(against(cc, err, sizeof err), VTG_EPROTO);
  fprintf(stderr, "refused: %s\n", err);
  ASSERT(strstr(err, "purpose") != NULL);
  vtg_tls_ctx_free(cc);
  rm_rf(dir);
  return 0;
}

VTG_TEST(ca_files) {
  char p[400], err[600];
  struct stat st;
  ASSERT(setup() == 0);
  path(p, sizeof p, dir, "ca", "key");
  ASSERT(stat(p, &st) == 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  path(p, sizeof p, dir, "a-1", "key");
  ASSERT(stat(p, &st) == 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  /* An existing CA is never overwritten; bad names are refused. */
  ASSERT(vtg_ca_init(dir, err, sizeof err) != 0);
  ASSERT_EQ(vtg_ca_issue(dir, "../x", 1, NULL, 0, err, sizeof err), VTG_EINVAL);
  ASSERT_EQ(vtg_ca_issue(dir, "", 1, NULL, 0, err, sizeof err), VTG_EINVAL);
  /* A key that does not match its certificate is caught at load. */
  char cert[400], key[400], ca[400];
  vtg_tls_ctx_t *c = NULL;
  path(cert, sizeof cert, dir, "a-1", "pem");
  path(key, sizeof key, dir, "coord", "key");
  path(ca, sizeof ca, dir, "ca", "pem");
  ASSERT(vtg_tls_ctx_new(0, cert, key, ca, &c, err, sizeof err) != 0);
  ASSERT(strstr(err, key) != NULL);
  ASSERT(vtg_tls_ctx_new(0, "/nonexistent.pem", key, ca, &c, err, sizeof err) != 0);
  ASSERT(strstr(err, "/nonexistent.pem") != NULL);
  rm_rf(dir);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(handshake_ok) VTG_TEST_ENTRY(other_ca_refused)
                  VTG_TEST_ENTRY(expired_refused) VTG_TEST_ENTRY(wrong_host_refused)
                      VTG_TEST_ENTRY(no_client_cert_refused) VTG_TEST_ENTRY(ca_files))
