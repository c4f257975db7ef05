/* `vantage-coordinator ca init|issue`: see ca.h. Everything goes through
 * the OpenSSL API; errors keep OpenSSL's message. */
#include "ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "vtg/error.h"

#define CA_DAYS 3650
#define NAME_MAX_LEN 128
#define HOSTS_MAX 32

static int ossl_fail(char *err, size_t errlen, const char *what) {
  char one[256];
  unsigned long e = ERR_get_error();
  ERR_error_string_n(e, one, sizeof one);
  snprintf(err, errlen, "%s: %s", what, e ? one : "unknown OpenSSL error");
  ERR_clear_error();
  return VTG_EIO;
}

/* Opens path for writing with mode (the file gets it even if it existed,
 * and a key never exists world-readable for a moment). excl refuses an
 * existing file. */
static FILE *open_out(const char *path, mode_t mode, int excl, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (excl ? O_EXCL : 0) | O_CLOEXEC, mode);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return NULL;
  }
  if (fchmod(fd, mode) != 0) {
    snprintf(err, errlen, "cannot set the mode of %s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  FILE *f = fdopen(fd, "w");
  if (f == NULL) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}

static int write_key(const char *path, EVP_PKEY *key, int excl, char *err, size_t errlen) {
  FILE *f = open_out(path, 0600, excl, err, errlen);
  if (f == NULL) return VTG_EIO;
  int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
  if (fclose(f) != 0) ok = 0;
  if (!ok) return ossl_fail(err, errlen, path);
  return 0;
}

static int write_cert(const char *path, X509 *x, char *err, size_t errlen) {
  FILE *f = open_out(path, 0644, 0, err, errlen);
  if (f == NULL) return VTG_EIO;
  int ok = PEM_write_X509(f, x) == 1;
  if (fclose(f) != 0) ok = 0;
  if (!ok) return ossl_fail(err, errlen, path);
  return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  if (ext == NULL) return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? 0 : -1;
}

/* A certificate with a random 127-bit serial, subject CN=cn, valid from
 * not_before_s to not_after_s (seconds from now). */
static X509 *new_cert(const char *cn, EVP_PKEY *key, long not_before_s, long not_after_s) {
  X509 *x = X509_new();
  BIGNUM *bn = BN_new();
  if (x == NULL || bn == NULL) goto fail;
  if (X509_set_version(x, 2) != 1) goto fail;
  if (BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) goto fail;
  if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) goto fail;
  if (X509_gmtime_adj(X509_getm_notBefore(x), not_before_s) == NULL ||
      X509_gmtime_adj(X509_getm_notAfter(x), not_after_s) == NULL)
    goto fail;
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                 0) != 1)
    goto fail;
  if (X509_set_pubkey(x, key) != 1) goto fail;
  BN_free(bn);
  return x;
fail:
  BN_free(bn);
  X509_free(x);
  return NULL;
}

static void join(char *out, size_t n, const char *dir, const char *file) {
  snprintf(out, n, "%s/%s", dir, file);
}

int vtg_ca_init(const char *dir, char *err, size_t errlen) {
  char kpath[4096], cpath[4096];
  int rc = VTG_EIO;
  X509 *x = NULL;
  ERR_clear_error();
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return VTG_EIO;
  }
  join(kpath, sizeof kpath, dir, "ca.key");
  join(cpath, sizeof cpath, dir, "ca.pem");
  EVP_PKEY *key = EVP_EC_gen("P-256");
  if (key == NULL) return ossl_fail(err, errlen, "cannot make the CA key");
  x = new_cert("vantage CA", key, 0, (long)CA_DAYS * 86400);
  if (x == NULL) {
    rc = ossl_fail(err, errlen, "cannot make the CA certificate");
    goto out;
  }
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) goto sslfail;
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
    goto sslfail;
  if (X509_sign(x, key, EVP_sha256()) <= 0) goto sslfail;
  /* The key first, exclusively: an existing CA is never overwritten. */
  if ((rc = write_key(kpath, key, 1, err, errlen))) goto out;
  if ((rc = write_cert(cpath, x, err, errlen))) goto out;
  rc = 0;
  goto out;
sslfail:
  rc = ossl_fail(err, errlen, "cannot make the CA certificate");
out:
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

static int inet_pton_any(const char *s, unsigned char *bin) {
  return inet_pton(AF_INET, s, bin) == 1 || inet_pton(AF_INET6, s, bin) == 1;
}

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return 0;
  }
  return s[0] != '.';
}

static int host_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '.' || ch == ':' || ch == '*'))
      return 0;
  }
  return 1;
}

int vtg_ca_issue(const char *dir, const char *name, int days, const char *const *hosts,
                 size_t n_hosts, char *err, size_t errlen) {
  char path[4096], san[HOSTS_MAX * 270 + 16];
  int rc = VTG_EIO;
  FILE *f = NULL;
  EVP_PKEY *ca_key = NULL, *key = NULL;
  X509 *ca = NULL, *x = NULL;
  ERR_clear_error();
  if (!name_ok(name)) {
    snprintf(err, errlen, "bad name '%s': 1-%d letters, digits, '-', '_' or '.'", name,
             NAME_MAX_LEN);
    return VTG_EINVAL;
  }
  if (n_hosts > HOSTS_MAX) {
    snprintf(err, errlen, "at most %d --server names", HOSTS_MAX);
    return VTG_EINVAL;
  }
  size_t used = 0;
  san[0] = '\0';
  for (size_t i = 0; i < n_hosts; i++) {
    if (!host_ok(hosts[i])) {
      snprintf(err, errlen, "bad --server '%s': expected a host name or an IP address", hosts[i]);
      return VTG_EINVAL;
    }
    unsigned char bin[16];
    int is_ip = inet_pton_any(hosts[i], bin);
    snprintf(san + used, sizeof san - used, "%s%s:%s", i ? "," : "", is_ip ? "IP" : "DNS",
             hosts[i]);
    used = strlen(san);
  }

  join(path, sizeof path, dir, "ca.key");
  if ((f = fopen(path, "r")) == NULL) {
    snprintf(err, errlen, "cannot open %s: %s (run `vantage-coordinator ca init` first)", path,
             strerror(errno));
    goto out;
  }
  ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (ca_key == NULL) {
    rc = ossl_fail(err, errlen, path);
    goto out;
  }
  join(path, sizeof path, dir, "ca.pem");
  if ((f = fopen(path, "r")) == NULL) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    goto out;
  }
  ca = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  if (ca == NULL) {
    rc = ossl_fail(err, errlen, path);
    goto out;
  }

  if ((key = EVP_EC_gen("P-256")) == NULL) {
    rc = ossl_fail(err, errlen, "cannot make a key");
    goto out;
  }
  /* A past validity for tests: from days-2 to days-1 days from now. */
  long nb = days > 0 ? -300 : ((long)days - 2) * 86400;
  long na = days > 0 ? (long)days * 86400 : ((long)days - 1) * 86400;
  if ((x = new_cert(name, key, nb, na)) == NULL) goto sslfail;
  if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) goto sslfail;
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
  if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
      add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
      add_ext(x, &ctx, NID_ext_key_usage, n_hosts ? "serverAuth" : "clientAuth") ||
      add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
      add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
    goto sslfail;
  if (n_hosts && add_ext(x, &ctx, NID_subject_alt_name, san)) goto sslfail;
  if (X509_sign(x, ca_key, EVP_sha256()) <= 0) goto sslfail;

  char file[NAME_MAX_LEN + 8];
  snprintf(file, sizeof file, "%s.key", name);
  join(path, sizeof path, dir, file);
  if ((rc = write_key(path, key, 0, err, errlen))) goto out;
  snprintf(file, sizeof file, "%s.pem", name);
  join(path, sizeof path, dir, file);
  if ((rc = write_cert(path, x, err, errlen))) goto out;
  rc = 0;
  goto out;
sslfail:
  rc = ossl_fail(err, errlen, "cannot make the certificate");
out:
  X509_free(x);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return rc;
}

static const char ca_usage[] =
    "usage: vantage-coordinator ca init [--dir DIR]\n"
    "       vantage-coordinator ca issue NAME [--dir DIR] [--days N] [--server HOST_OR_IP]...\n"
    "\n"
    "init   create DIR/ca.pem and DIR/ca.key (EC P-256, 10 years; the key is mode 0600);\n"
    "       an existing ca.key is never overwritten\n"
    "issue  sign DIR/NAME.pem + DIR/NAME.key with that CA, valid N days (default 825).\n"
    "       Without --server: an agent (client) certificate with CN=NAME, where NAME is\n"
    "       the agent id the coordinator will take from it. With --server (repeatable):\n"
    "       a coordinator (server) certificate whose names are those hosts/IPs, which\n"
    "       the agents' `coordinator:` address must match.\n"
    "DIR defaults to the current directory.\n";

int vtg_ca_main(int argc, char **argv) {
  const char *dir = ".", *name = NULL, *cmd = argc > 1 ? argv[1] : NULL;
  const char *hosts[HOSTS_MAX];
  size_t n_hosts = 0;
  long days = 825;
  char err[1024];
  if (cmd == NULL) {
    fprintf(stderr, "ca: missing subcommand\n\n%s", ca_usage);
    return 2;
  }
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    fputs(ca_usage, stdout);
    return 0;
  }
  int issue = strcmp(cmd, "issue") == 0;
  if (!issue && strcmp(cmd, "init") != 0) {
    fprintf(stderr, "ca: unknown subcommand '%s'\n\n%s", cmd, ca_usage);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(ca_usage, stdout);
      return 0;
    }
    int has_value = strcmp(a, "--dir") == 0 || strcmp(a, "--days") == 0 ||
                    strcmp(a, "--server") == 0;
    if (has_value && i + 1 >= argc) {
      fprintf(stderr, "ca: %s needs a value\n\n%s", a, ca_usage);
      return 2;
    }
    if (strcmp(a, "--dir") == 0) {
      dir = argv[++i];
    } else if (issue && strcmp(a, "--days") == 0) {
      char *end = NULL;
      errno = 0;
      days = strtol(argv[++i], &end, 10);
      if (errno != 0 || end == argv[i] || *end != '\0' || days < 1 || days > 36500) {
        fprintf(stderr, "ca: --days must be a whole number from 1 to 36500\n");
        return 2;
      }
    } else if (issue && strcmp(a, "--server") == 0) {
      if (n_hosts == HOSTS_MAX) {
        fprintf(stderr, "ca: at most %d --server names\n", HOSTS_MAX);
        return 2;
      }
      hosts[n_hosts++] = argv[++i];
    } else if (issue && name == NULL && a[0] != '-') {
      name = a;
    } else {
      fprintf(stderr, "ca: unknown argument '%s'\n\n%s", a, ca_usage);
      return 2;
    }
  }
  if (!issue) {
    if (vtg_ca_init(dir, err, sizeof err) != 0) {
      fprintf(stderr, "ca init: %s\n", err);
      return 1;
    }
    printf("created %s/ca.pem and %s/ca.key (keep ca.key secret)\n", dir, dir);
    return 0;
  }
  if (name == NULL) {
    fprintf(stderr, "ca issue: missing NAME\n\n%s", ca_usage);
    return 2;
  }
  int rc = vtg_ca_issue(dir, name, (int)days, hosts, n_hosts, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "ca issue: %s\n", err);
    return rc == VTG_EINVAL ? 2 : 1;
  }
  printf("issued %s/%s.pem and %s/%s.key (%s certificate, %ld days)\n", dir, name, dir, name,
         n_hosts ? "coordinator" : "agent", days);
  return 0;
}
