/* A small certificate authority for agents and coordinators, so a new
 * user needs no openssl commands: `vantage-coordinator ca init` and
 * `ca issue NAME`. Keys are EC P-256 (what OpenSSL 3.0, curl and Python's
 * ssl all handle); key files are written with mode 0600. */
#ifndef VTG_CA_H
#define VTG_CA_H

#include <stddef.h>

/* Creates DIR/ca.pem and DIR/ca.key (valid 10 years). Refuses to overwrite
 * an existing ca.key. Returns 0, VTG_EIO or VTG_EINVAL with err set. */
int vtg_ca_init(const char *dir, char *err, size_t errlen);

/* Signs DIR/NAME.pem (+ DIR/NAME.key, 0600) with the CA in DIR, CN=NAME,
 * valid `days` days from now (days <= 0 makes a certificate that expired
 * -days+1 days ago: tests only). With n_hosts == 0 it is an agent (client)
 * certificate; otherwise a coordinator (server) certificate whose SANs are
 * hosts (IP literals become IP SANs, anything else DNS SANs). */
int vtg_ca_issue(const char *dir, const char *name, int days, const char *const *hosts,
                 size_t n_hosts, char *err, size_t errlen);

/* `vantage-coordinator ca ...`: argv[0] is "ca". Exit status 0/1/2. */
int vtg_ca_main(int argc, char **argv);

#endif
