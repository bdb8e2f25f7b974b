/* auth.h - access control: bearer tokens checked against a per-route
 * access table, refusal of cross-site browser requests (foreign Origin,
 * form-encoded bodies, DNS-rebound Host names) and the TLS credentials.
 *
 * The state is set once by srv_auth_setup before the HTTP daemon starts
 * and only read afterwards, from any thread. */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct srv_req;
struct srv_route;
struct MHD_OptionItem;

/* Who may call a route. */
typedef enum srv_access {
  SRV_ACCESS_OPEN = 0, /* anyone, always (health) */
  SRV_ACCESS_READ,     /* read or admin token (GETs, forward, v2 infer) */
  SRV_ACCESS_ADMIN,    /* admin token (every change) */
  SRV_ACCESS_METRICS,  /* OPEN, or READ under --metrics-auth */
} srv_access;

/* The access class of the route (method, pattern) as srv_routes spells
 * it ("POST", "/v1/models/{*}/forward" written with "*"). Routes named in
 * auth.c's table get their listed class; any other GET is READ and any
 * other method ADMIN, so a new route is closed until it is listed. */
srv_access srv_access_of(const char *method, const char *pattern);

/* Reads the token files and the TLS certificate and key named in cfg,
 * and refuses a non-loopback cfg->listen without a token unless
 * cfg->insecure_no_auth. Returns 0, or 2 (the exit status for a
 * configuration error) with a message on stderr. Call once, before
 * srv_http_start. */
int srv_auth_setup(const srv_config *cfg);

/* The access checks of one request whose route matched, made before its
 * handler runs: Host (DNS rebinding, tokenless loopback daemons only),
 * bearer token (401/403 with WWW-Authenticate), Origin of non-GET
 * requests (403) and a form-encoded Content-Type without a token (415).
 * Reads only the method, path and headers (through MHD, so it runs on
 * the connection's thread), never the body: it may run as soon as the
 * headers are in. Returns true when the handler may run; false when it
 * replied (srv_fail, plus r->www_authenticate for 401/403 token
 * failures). */
bool srv_auth_check(struct srv_req *r, const struct srv_route *route);

/* The MHD options that turn on TLS: fills opts (room for 3 items,
 * terminated by MHD_OPTION_END) and returns MHD_USE_TLS, or leaves only
 * the terminator and returns 0 without --tls-cert. The PEM buffers they
 * point to live for the process. */
unsigned srv_tls_options(struct MHD_OptionItem *opts);
/* Whether the daemon serves HTTPS ("https" or "http" in URLs). */
bool srv_tls_enabled(void);

/* Writes the normalised form of a browser origin ("HTTPS://Example.org:443"
 * gives "https://example.org") into out (n bytes): lower case, no default
 * port, no trailing slash. Returns false when s is not
 * http[s]://HOST[:PORT] or does not fit. */
bool srv_origin_normalize(const char *s, char *out, size_t n);

/* Whether a host name or address literal (no port; IPv6 without brackets)
 * is loopback: localhost, *.localhost, 127.0.0.0/8, ::1, ::ffff:127.x. */
bool srv_host_is_loopback(const char *host);

#endif
