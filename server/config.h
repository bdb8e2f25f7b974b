/* config.h - blockd's configuration. Every setting is declared once, in
 * config.c's table: its long flag (also its key in a config file), its
 * BLOCKD_* environment variable, its default, its bounds and its help.
 * Precedence, highest first: flags, environment, config file (--config
 * FILE or BLOCKD_CONFIG), defaults. */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "../engine/block.h"

#define SRV_VERSION "0.1.0"
#define SRV_MAX_PLUGINS 32
#define SRV_MAX_BUDGETS 17
#define SRV_MAX_WATCH 16
#define SRV_MAX_ORIGINS 16

typedef enum srv_log_level {
  SRV_LOG_ERROR = 0,
  SRV_LOG_WARN,
  SRV_LOG_INFO,
  SRV_LOG_DEBUG
} srv_log_level;

typedef enum srv_log_format {
  SRV_LOG_FORMAT_TEXT = 0,
  SRV_LOG_FORMAT_JSON
} srv_log_format;

typedef struct srv_config {
  char listen[256];    /* host:port, default 127.0.0.1:8080 */
  char data_dir[1024]; /* default ./blockd-data */
  int threads;         /* MHD thread pool size, default = cores (>= 2) */
  srv_log_level log_level;
  srv_log_format log_format; /* --log-format text|json, default text */
  char log_file[1024];       /* --log-file; "" = stderr */
  int64_t max_body;          /* bytes, default 64 MiB */
  int64_t max_elements;      /* per request tensor, default 2^26 */
  int64_t max_model_bytes;   /* parameters + buffers, default 4 GiB */
  int max_depth;             /* block nesting, default 64 */
  double max_compute_s;   /* per forward/backward call, default 60; 0 = none */
  int64_t max_blocks;     /* blocks a spec defines, default 100000 */
  int64_t max_spec_nodes; /* blocks once refs are expanded, default 100000 */
  char device[32];        /* default device for new models: auto */
  const char *plugins[SRV_MAX_PLUGINS];
  int nplugins;
  /* --device-budget DEV=SIZE, repeatable (validated and applied by
   * srv_devices_apply_budgets once the backends exist). */
  char device_budgets[SRV_MAX_BUDGETS][64];
  int nbudgets;
  /* Connections and responses (issue 13): at most max_conns open
   * connections, max_conns_per_ip from one address (below max_conns so
   * that one client cannot take every slot), idle ones closed after
   * idle_timeout_s seconds; JSON responses estimated above
   * max_json_response bytes are refused with 413 before encoding. */
  int max_conns;             /* default 1000 (lowered to fit RLIMIT_NOFILE) */
  int max_conns_per_ip;      /* default 64 */
  int idle_timeout_s;        /* default 30 */
  int64_t max_json_response; /* bytes, default 64 MiB */
  /* Serving (issue 11): compute workers, requests waiting per queue,
   * the deadline of a request from its arrival, the SIGTERM drain. */
  int workers;              /* default = cores */
  int queue_depth;          /* default 256 */
  double request_timeout_s; /* default 120; 0 = none */
  double drain_timeout_s;   /* default 30 */
  double autosave_s;        /* save changed models every S s; 0 = off */
  /* --watch NAME=FILE (watch.h), repeatable; polled every interval. */
  char watch[SRV_MAX_WATCH][1300];
  int nwatch;
  double watch_interval_s; /* default 1 */
  /* Access control (issue 13, server/auth.c). Token files hold one
   * bearer token each on their first line; either configured turns
   * authentication on. allow_origins are extra Origins (normalised to
   * scheme://host[:port], lower case, no default port) whose browser
   * pages may send non-GET requests. */
  char admin_token_file[1024]; /* everything; "" = none */
  char read_token_file[1024];  /* GETs, forward, v2 infer; "" = none */
  bool insecure_no_auth;       /* allow a non-loopback --listen untokened */
  bool metrics_auth;           /* /metrics needs a read or admin token */
  char allow_origins[SRV_MAX_ORIGINS][256];
  int norigins;
  char tls_cert[1024]; /* PEM certificate (chain) file; "" = plain HTTP */
  char tls_key[1024];  /* PEM private key file, unencrypted */
} srv_config;

/* Fills cfg from defaults, the config file, the environment and argv (in
 * rising precedence; a repeatable setting given in a layer replaces the
 * lower layers' values). Returns 0 to run, 1 when --help, --version,
 * --print-spec-schema or --check-config printed what was asked and the
 * program should exit 0, -1 on a usage or configuration error (message
 * printed to stderr; the program exits 2). */
int srv_config_parse(srv_config *cfg, int argc, char **argv);

/* The limits every spec is built under (create, load at start-up). */
bd_build_limits srv_build_limits(const srv_config *cfg);

/* Parses sizes like "64M", "4G", "1024". Returns false when malformed. */
bool srv_parse_size(const char *s, int64_t *out);

#endif
