/* auth.c - access control: bearer tokens, the per-route access table,
 * cross-site refusals (Origin, form bodies, DNS-rebound Host names) and
 * the TLS credentials handed to libmicrohttpd. */
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define TOKEN_MIN 16   /* shorter tokens are guessable; refused */
#define TOKEN_MAX 4096 /* a header line, well below SRV_MAX_HEADER_BYTES */
#define PEM_MAX (1 << 20)

/* The access table: every route whose class is not the default (GET:
 * read, anything else: admin). Patterns are srv_routes' spelling. Routes
 * served by other route families later (KServe v2, /metrics) are listed
 * already so that they get the right class the day they are added. */
static const struct access_rule {
  const char *method, *pattern;
  srv_access access;
} access_table[] = {
    {"GET", "/v1/health", SRV_ACCESS_OPEN},
    {"GET", "/v2/health/live", SRV_ACCESS_OPEN},
    {"GET", "/v2/health/ready", SRV_ACCESS_OPEN},
    {"GET", "/metrics", SRV_ACCESS_METRICS},
    /* The web console's files hold no data, and a browser opening the
     * page has no way to send a token; the API calls the page makes carry
     * the token typed into it. */
    {"GET", "/ui", SRV_ACCESS_OPEN},
    {"GET", "/ui/*", SRV_ACCESS_OPEN},
    /* Computing outputs changes nothing a later request can see. */
    {"POST", "/v1/models/*/forward", SRV_ACCESS_READ},
    {"POST", "/v2/models/*/infer", SRV_ACCESS_READ},
    {"POST", "/v2/models/*/versions/*/infer", SRV_ACCESS_READ},
};

/* Set once by srv_auth_setup, read-only afterwards. */
static struct {
  bool tokens; /* a token file was given: authentication is on */
  bool have_admin, have_read;
  unsigned char admin[32]; /* SHA-256 of the tokens */
  unsigned char read[32];
  bool host_check; /* tokenless loopback daemon: Host must be loopback */
  bool metrics_auth;
  bool tls;
  char *cert_pem, *key_pem; /* NUL-terminated, for MHD */
} g;

srv_access srv_access_of(const char *method, const char *pattern) {
  for (size_t i = 0; i < sizeof access_table / sizeof access_table[0]; i++)
    if (!strcmp(access_table[i].method, method) &&
        !strcmp(access_table[i].pattern, pattern))
      return access_table[i].access;
  return !strcmp(method, "GET") || !strcmp(method, "HEAD") ? SRV_ACCESS_READ
                                                           : SRV_ACCESS_ADMIN;
}

/* ---- names and origins ------------------------------------------------ */

bool srv_host_is_loopback(const char *host) {
  char h[256];
  size_t n = strlen(host);
  if (n == 0 || n >= sizeof h) return false;
  memcpy(h, host, n + 1);
  if (h[n - 1] == '.') h[--n] = '\0'; /* "localhost." is the same name */
  /* Browsers resolve localhost and *.localhost to loopback themselves
   * (RFC 6761), so DNS cannot rebind them. */
  if (!strcasecmp(h, "localhost") ||
      (n > 10 && !strcasecmp(h + n - 10, ".localhost")))
    return true;
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, h, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, h, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&a6) ||
           (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
  return false;
}

/* Splits "host:port", "[v6]:port", "host" or "[v6]" into the host (no
 * brackets) and the port text ("" when absent). False when malformed or
 * too long. */
static bool split_hostport(const char *s, char *host, size_t hn, char *port,
                           size_t pn) {
  const char *hs = s, *he, *ps;
  if (*s == '[') {
    hs = s + 1;
    he = strchr(hs, ']');
    if (!he) return false;
    ps = he + 1;
    if (*ps && *ps != ':') return false;
  } else {
    he = strchr(s, ':');
    if (!he) he = s + strlen(s);
    ps = he;
    if (*ps && strchr(ps + 1, ':')) return false; /* bare IPv6 */
  }
  if (*ps == ':') ps++;
  size_t n = (size_t)(he - hs);
  if (n == 0 || n >= hn || strlen(ps) >= pn) return false;
  memcpy(host, hs, n);
  host[n] = '\0';
  snprintf(port, pn, "%s", ps);
  return true;
}

bool srv_origin_normalize(const char *s, char *out, size_t n) {
  char low[512];
  size_t len = strlen(s);
  if (len >= sizeof low) return false;
  for (size_t i = 0; i <= len; i++)
    low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  if (len && low[len - 1] == '/') low[--len] = '\0';
  const char *scheme, *rest;
  if (!strncmp(low, "http://", 7))
    scheme = "http", rest = low + 7;
  else if (!strncmp(low, "https://", 8))
    scheme = "https", rest = low + 8;
  else
    return false;
  char host[256], port[16];
  if (!split_hostport(rest, host, sizeof host, port, sizeof port)) return false;
  for (const char *p = host; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
          *p == '.' || *p == '_' || (*p == ':' && rest[0] == '[')))
      return false;
  long pv = 0;
  if (port[0]) {
    char *end;
    if (strlen(port) > 5) return false;
    pv = strtol(port, &end, 10);
    if (*end || pv < 1 || pv > 65535) return false;
  }
  bool dflt =
      !pv || (pv == 80 && scheme[4] == '\0') || (pv == 443 && scheme[4] == 's');
  bool v6 = rest[0] == '[';
  int w = dflt ? snprintf(out, n, "%s://%s%s%s", scheme, v6 ? "[" : "", host,
                          v6 ? "]" : "")
               : snprintf(out, n, "%s://%s%s%s:%ld", scheme, v6 ? "[" : "",
                          host, v6 ? "]" : "", pv);
  return w > 0 && (size_t)w < n;
}

/* ---- start-up ----------------------------------------------------------- */

/* Reads the first line of a token file, trimmed, into its SHA-256.
 * Returns false with a message on stderr. */
static bool load_token(const char *path, const char *flag,
                       unsigned char digest[32]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    fprintf(stderr, "blockd: %s %s: cannot open: %s\n", flag, path,
            strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "blockd: %s %s: not a regular file\n", flag, path);
    close(fd);
    return false;
  }
  char buf[TOKEN_MAX + 2];
  size_t len = 0;
  ssize_t got = 0;
  while (len < sizeof buf - 1 &&
         (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)got;
  int err = errno;
  close(fd);
  if (got < 0) {
    fprintf(stderr, "blockd: %s %s: cannot read: %s\n", flag, path,
            strerror(err));
    return false;
  }
  buf[len] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  char *t = buf;
  while (*t == ' ' || *t == '\t') t++;
  size_t n = strlen(t);
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r'))
    t[--n] = '\0';
  bool ok = false;
  if (!nl && len == sizeof buf - 1)
    fprintf(stderr, "blockd: %s %s: the token is longer than %d bytes\n", flag,
            path, TOKEN_MAX);
  else if (n == 0)
    fprintf(stderr, "blockd: %s %s: the first line holds no token\n", flag,
            path);
  else if (n < TOKEN_MIN)
    fprintf(stderr,
            "blockd: %s %s: the token has %zu characters, fewer than %d "
            "(make one with: openssl rand -hex 32)\n",
            flag, path, n, TOKEN_MIN);
  else {
    ok = true;
    /* What a client can send in an Authorization header (visible ASCII)
     * and compare byte for byte. */
    for (size_t i = 0; ok && i < n; i++) ok = t[i] > 0x20 && t[i] < 0x7f;
    if (!ok)
      fprintf(stderr,
              "blockd: %s %s: the token may hold only visible ASCII "
              "characters (no spaces)\n",
              flag, path);
  }
  unsigned int dl = 0;
  if (ok && !EVP_Digest(t, n, digest, &dl, EVP_sha256(), NULL)) {
    fprintf(stderr, "blockd: %s: SHA-256 failed\n", flag);
    ok = false;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  /* Warned, not refused: Kubernetes and Docker secrets are mounted
   * world-readable (0644, 0444) by default. */
  if (ok && (st.st_mode & S_IRWXO))
    srv_log(SRV_LOG_WARN,
            "%s %s is accessible to other users (mode %03o); "
            "chmod 600 it",
            flag, path, (unsigned)(st.st_mode & 0777));
  return ok;
}

/* Reads a whole PEM file into a NUL-terminated buffer (caller frees). */
static char *read_pem(const char *path, const char *flag) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "blockd: %s %s: cannot open: %s\n", flag, path,
            strerror(errno));
    return NULL;
  }
  char *b = malloc(PEM_MAX + 1);
  size_t n = b ? fread(b, 1, PEM_MAX + 1, f) : 0;
  bool bad = ferror(f);
  fclose(f);
  if (!b || bad || n == 0 || n > PEM_MAX) {
    fprintf(stderr, "blockd: %s %s: %s\n", flag, path,
            !b    ? "out of memory"
            : bad ? "cannot read"
            : n   ? "larger than 1 MiB"
                  : "empty");
    free(b);
    return NULL;
  }
  b[n] = '\0';
  return b;
}

/* OpenSSL asks for a passphrase through this: never prompt on the
 * terminal of a daemon; an encrypted key is refused instead. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

/* Checks that the PEM texts hold a certificate and its private key, so
 * that a wrong file is named here rather than as a failed listen. */
static bool check_tls_pair(const srv_config *cfg) {
  BIO *cb = BIO_new_mem_buf(g.cert_pem, -1);
  BIO *kb = BIO_new_mem_buf(g.key_pem, -1);
  X509 *x = cb ? PEM_read_bio_X509(cb, NULL, no_passphrase_cb, NULL) : NULL;
  EVP_PKEY *k =
      kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase_cb, NULL) : NULL;
  bool ok = false;
  if (!x)
    fprintf(stderr, "blockd: --tls-cert %s: no PEM certificate found\n",
            cfg->tls_cert);
  else if (!k)
    fprintf(stderr, "blockd: --tls-key %s: no %s PEM private key found\n",
            cfg->tls_key,
            strstr(g.key_pem, "ENCRYPTED") ? "unencrypted (a passphrase is "
                                             "not supported)"
                                           : "usable");
  else if (X509_check_private_key(x, k) != 1)
    fprintf(stderr, "blockd: --tls-key %s does not match --tls-cert %s\n",
            cfg->tls_key, cfg->tls_cert);
  else
    ok = true;
  if (ok && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
    srv_log(SRV_LOG_WARN, "--tls-cert %s has expired", cfg->tls_cert);
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(cb);
  BIO_free(kb);
  return ok;
}

static bool setup_tls(const srv_config *cfg) {
  if (!cfg->tls_cert[0]) return true;
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    fprintf(stderr,
            "blockd: --tls-cert: this libmicrohttpd was built without TLS "
            "(GnuTLS) support\n");
    return false;
  }
  g.cert_pem = read_pem(cfg->tls_cert, "--tls-cert");
  g.key_pem = g.cert_pem ? read_pem(cfg->tls_key, "--tls-key") : NULL;
  if (!g.key_pem || !check_tls_pair(cfg)) {
    if (g.key_pem) OPENSSL_cleanse(g.key_pem, strlen(g.key_pem));
    free(g.cert_pem);
    free(g.key_pem);
    g.cert_pem = g.key_pem = NULL;
    return false;
  }
  g.tls = true;
  return true;
}

int srv_auth_setup(const srv_config *cfg) {
  if (cfg->admin_token_file[0]) {
    if (!load_token(cfg->admin_token_file, "--admin-token-file", g.admin))
      return 2;
    g.have_admin = true;
  }
  if (cfg->read_token_file[0]) {
    if (!load_token(cfg->read_token_file, "--read-token-file", g.read))
      return 2;
    g.have_read = true;
  }
  if (g.have_admin && g.have_read &&
      CRYPTO_memcmp(g.admin, g.read, sizeof g.admin) == 0) {
    fprintf(stderr,
            "blockd: --admin-token-file and --read-token-file hold the same "
            "token; give the read token its own value\n");
    return 2;
  }
  g.tokens = g.have_admin || g.have_read;
  g.metrics_auth = cfg->metrics_auth;
  if (!setup_tls(cfg)) return 2;

  char host[256], port[16];
  bool loopback =
      split_hostport(cfg->listen, host, sizeof host, port, sizeof port) &&
      srv_host_is_loopback(host);
  if (!loopback && !g.tokens && !cfg->insecure_no_auth) {
    fprintf(stderr,
            "blockd: refusing to listen on %s without authentication: anyone "
            "who can reach it could change or delete every model. Give "
            "--admin-token-file (and --read-token-file), listen on a "
            "loopback address, or pass --insecure-no-auth\n",
            cfg->listen);
    return 2;
  }
  if (!loopback && !g.tokens)
    srv_log(SRV_LOG_WARN,
            "listening on %s with no authentication (--insecure-no-auth): "
            "anyone who can reach it can change or delete every model",
            cfg->listen);
  if (!loopback && g.tokens && !g.tls)
    srv_log(SRV_LOG_WARN,
            "bearer tokens cross the network unencrypted on %s; serve "
            "HTTPS with --tls-cert and --tls-key",
            cfg->listen);
  if (g.have_read && !g.have_admin)
    srv_log(SRV_LOG_WARN,
            "--read-token-file without --admin-token-file: no request may "
            "change anything");
  /* A tokenless daemon on loopback trusts whoever can connect; a web
   * page whose name is rebound to 127.0.0.1 can connect too, as its own
   * origin, so the Host it addresses must be a loopback name. */
  g.host_check = loopback && !g.tokens && !cfg->insecure_no_auth;
  return 0;
}

unsigned srv_tls_options(struct MHD_OptionItem *opts) {
  int i = 0;
  if (g.tls) {
    opts[i++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, g.cert_pem};
    opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, g.key_pem};
  }
  opts[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  return g.tls ? MHD_USE_TLS : 0;
}

bool srv_tls_enabled(void) { return g.tls; }

/* ---- per request ------------------------------------------------------ */

enum cred { CRED_NONE, CRED_INVALID, CRED_READ, CRED_ADMIN };

/* What the request's Authorization header proves. Both digests are
 * compared in full whatever the first gives, and the token is hashed
 * first, so neither its length nor its content shows in the timing. */
static enum cred credentials(srv_req *r) {
  const char *h = srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h) return CRED_NONE;
  while (*h == ' ' || *h == '\t') h++;
  if (strncasecmp(h, "Bearer", 6) != 0 ||
      (h[6] != ' ' && h[6] != '\t' && h[6] != '\0'))
    return CRED_NONE; /* another scheme: no bearer credential */
  h += 6;
  while (*h == ' ' || *h == '\t') h++;
  size_t n = strlen(h);
  while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
  unsigned char d[32];
  unsigned int dl = 0;
  if (!EVP_Digest(h, n, d, &dl, EVP_sha256(), NULL)) return CRED_INVALID;
  int admin = CRYPTO_memcmp(d, g.admin, sizeof d) == 0 && g.have_admin;
  int read = CRYPTO_memcmp(d, g.read, sizeof d) == 0 && g.have_read;
  return admin ? CRED_ADMIN : read ? CRED_READ : CRED_INVALID;
}

static bool fail_auth(srv_req *r, bd_status s, const char *challenge,
                      const char *msg) {
  snprintf(r->www_authenticate, sizeof r->www_authenticate, "%s", challenge);
  srv_fail(r, s, "%s", msg);
  return false;
}

/* Whether the Origin of a browser request is the daemon's own (scheme
 * and the Host the request addressed) or one of --allow-origin. */
static bool origin_ok(srv_req *r, const char *origin) {
  char o[256], own[256], self[300];
  if (!srv_origin_normalize(origin, o, sizeof o)) return false; /* "null" */
  const char *host = srv_header(r, MHD_HTTP_HEADER_HOST);
  snprintf(self, sizeof self, "%s://%s", g.tls ? "https" : "http",
           host ? host : "");
  if (host && srv_origin_normalize(self, own, sizeof own) && !strcmp(o, own))
    return true;
  const srv_config *cfg = &r->app->cfg;
  for (int i = 0; i < cfg->norigins; i++)
    if (!strcmp(o, cfg->allow_origins[i])) return true;
  return false;
}

bool srv_auth_check(srv_req *r, const srv_route *route) {
  srv_access acc = srv_access_of(route->method, route->pattern);
  if (acc == SRV_ACCESS_METRICS)
    acc = g.metrics_auth ? SRV_ACCESS_READ : SRV_ACCESS_OPEN;

  if (g.host_check && acc != SRV_ACCESS_OPEN) {
    const char *host = srv_header(r, MHD_HTTP_HEADER_HOST);
    char name[256], port[16];
    if (host && !(split_hostport(host, name, sizeof name, port, sizeof port) &&
                  srv_host_is_loopback(name))) {
      srv_fail(r, BD_EFORBIDDEN,
               "Host '%.200s' is not a loopback name: without a token blockd "
               "answers only requests addressed to localhost, 127.0.0.0/8 or "
               "[::1] (a defence against DNS rebinding); configure a token "
               "or --insecure-no-auth",
               host);
      return false;
    }
  }

  enum cred cred = g.tokens ? credentials(r) : CRED_NONE;
  if (g.tokens && acc != SRV_ACCESS_OPEN) {
    if (cred == CRED_NONE)
      return fail_auth(r, BD_EUNAUTH, "Bearer realm=\"blockd\"",
                       "authentication required: send Authorization: Bearer "
                       "<token>");
    if (cred == CRED_INVALID)
      return fail_auth(r, BD_EUNAUTH,
                       "Bearer realm=\"blockd\", error=\"invalid_token\"",
                       "the bearer token is not valid");
    if (acc == SRV_ACCESS_ADMIN && cred != CRED_ADMIN) {
      snprintf(r->www_authenticate, sizeof r->www_authenticate,
               "Bearer realm=\"blockd\", error=\"insufficient_scope\"");
      srv_fail(r, BD_EFORBIDDEN,
               "the read token may not %s %s: it allows GETs, forward and "
               "infer; this needs the admin token%s",
               r->method, r->path,
               g.have_admin ? "" : " (none is configured: read-only daemon)");
      return false;
    }
  }

  /* Cross-site requests: a page may make the browser send a POST, PUT,
   * PATCH or DELETE here with the user's network position; the browser
   * names the page's origin in Origin, which the page cannot forge. */
  const char *origin = srv_header(r, MHD_HTTP_HEADER_ORIGIN);
  if (origin && strcmp(r->method, "GET") && strcmp(r->method, "HEAD") &&
      !origin_ok(r, origin)) {
    srv_fail(r, BD_EFORBIDDEN,
             "cross-origin %s from '%.200s' refused: only the daemon's own "
             "origin and --allow-origin may send requests that are not GET",
             r->method, origin);
    return false;
  }

  /* A plain HTML form can post application/x-www-form-urlencoded to any
   * site without a CORS preflight; accepted as JSON only from clients
   * that proved themselves with a token (curl -d sends it). Decided on
   * the header alone, so that this whole check can run before the body
   * is read. */
  if ((route->body & (SRV_BODY_JSON | SRV_BODY_BINARY)) && cred != CRED_READ &&
      cred != CRED_ADMIN) {
    char ct[128];
    srv_content_type(r, ct, sizeof ct);
    if (!strcmp(ct, "application/x-www-form-urlencoded")) {
      srv_fail(r, BD_EMEDIATYPE,
               "Content-Type application/x-www-form-urlencoded is refused "
               "without a bearer token (web pages can send it cross-site); "
               "send Content-Type: application/json (curl -H "
               "'Content-Type: application/json' -d ...)");
      return false;
    }
  }
  return true;
}
