/* config.c - flags and environment. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../proto/spec_json.h"
#include "auth.h"

static const char usage[] =
    "Usage: blockd [options]\n"
    "Serve PyTorch-style neural-network blocks over HTTP.\n"
    "\n"
    "Options (each also read from the environment variable shown):\n"
    "  --listen HOST:PORT     address to listen on (BLOCKD_LISTEN)\n"
    "                         default 127.0.0.1:8080; port 0 picks a free one\n"
    "  --data-dir DIR         data directory (BLOCKD_DATA_DIR), default\n"
    "                         ./blockd-data\n"
    "  --threads N            HTTP worker threads (BLOCKD_THREADS), default:\n"
    "                         number of cores, at least 2\n"
    "  --log-level LEVEL      error, warn, info or debug (BLOCKD_LOG_LEVEL),\n"
    "                         default info\n"
    "  --max-body SIZE        largest request body (BLOCKD_MAX_BODY), default\n"
    "                         64M; larger bodies get 413\n"
    "  --max-elements N       largest tensor in a request, and in what a\n"
    "                         forward/backward/op creates unless the model\n"
    "                         or operands are larger (BLOCKD_MAX_ELEMENTS)\n"
    "                         default 67108864\n"
    "  --max-model-bytes SIZE largest model, parameters and buffers\n"
    "                         (BLOCKD_MAX_MODEL_BYTES), default 4G\n"
    "  --max-depth N          deepest block nesting (BLOCKD_MAX_DEPTH), 64\n"
    "  --max-compute-seconds S  time limit of one forward/backward call;\n"
    "                         past it a while loop stops with 422\n"
    "                         compute_timeout (BLOCKD_MAX_COMPUTE_SECONDS),\n"
    "                         default 60, 0 = none\n"
    "  --max-blocks N         most blocks a spec may define\n"
    "                         (BLOCKD_MAX_BLOCKS), default 100000\n"
    "  --max-spec-nodes N     most blocks a spec may expand to, each ref\n"
    "                         counted at every use and each repeated step\n"
    "                         again: the block runs of one forward\n"
    "                         (BLOCKD_MAX_SPEC_NODES), default 100000\n"
    "  --device DEV           default device for new models: auto, cpu,\n"
    "                         cuda:N (BLOCKD_DEVICE), default auto\n"
    "  --device-budget DEV=SIZE  cap blockd's allocations on a device, e.g.\n"
    "                         cuda:0=8G or cpu=16G; repeatable\n"
    "                         (BLOCKD_DEVICE_BUDGET, comma-separated)\n"
    "  --plugin PATH.so       load a block-type plugin; repeatable\n"
    "                         (BLOCKD_PLUGINS, colon-separated)\n"
    "  --max-connections N    open connections at most\n"
    "                         (BLOCKD_MAX_CONNECTIONS), default 1000; lowered\n"
    "                         to fit the open-files limit\n"
    "  --max-connections-per-ip N  open connections from one address\n"
    "                         (BLOCKD_MAX_CONNECTIONS_PER_IP), default 64;\n"
    "                         must be below --max-connections\n"
    "  --idle-timeout S       close a connection idle for S seconds\n"
    "                         (BLOCKD_IDLE_TIMEOUT), default 30\n"
    "  --max-json-response-bytes SIZE  largest JSON response; larger ones get\n"
    "                         413 too_large (ask for .npy or safetensors)\n"
    "                         (BLOCKD_MAX_JSON_RESPONSE_BYTES), default 64M\n"
    "  --workers N            compute workers: forward, backward, init,\n"
    "                         saves and file I/O run there, never on the\n"
    "                         HTTP threads (BLOCKD_WORKERS), default:\n"
    "                         number of cores\n"
    "  --queue-depth N        requests waiting per model (and for the\n"
    "                         requests naming no model) before 503\n"
    "                         overloaded with Retry-After\n"
    "                         (BLOCKD_QUEUE_DEPTH), default 256\n"
    "  --request-timeout S    deadline of a request from its arrival,\n"
    "                         queue wait and compute together; past it 503\n"
    "                         deadline_exceeded (BLOCKD_REQUEST_TIMEOUT),\n"
    "                         default 120, 0 = none\n"
    "  --drain-timeout S      on SIGTERM/SIGINT: stop accepting, answer the\n"
    "                         requests in flight for up to S seconds, save,\n"
    "                         exit 0 (BLOCKD_DRAIN_TIMEOUT), default 30\n"
    "  --autosave-interval S  save the models that changed every S seconds\n"
    "                         (BLOCKD_AUTOSAVE_INTERVAL), default 0 = off\n"
    "  --watch NAME=FILE      follow a checkpoint: load FILE into model NAME\n"
    "                         (created from the file's spec if missing) at\n"
    "                         start and whenever the file changes; a file\n"
    "                         that fails to load keeps the old state;\n"
    "                         repeatable (BLOCKD_WATCH, comma-separated)\n"
    "  --watch-interval S     how often watched files are checked\n"
    "                         (BLOCKD_WATCH_INTERVAL), default 1\n"
    "\n"
    "Access control (README, \"Security\"):\n"
    "  --admin-token-file PATH  bearer token (first line of the file) that\n"
    "                         may do everything (BLOCKD_ADMIN_TOKEN_FILE)\n"
    "  --read-token-file PATH bearer token for GETs, forward and v2 infer\n"
    "                         only (BLOCKD_READ_TOKEN_FILE). With either\n"
    "                         file, requests need Authorization: Bearer;\n"
    "                         health endpoints stay open\n"
    "  --insecure-no-auth     allow a non-loopback --listen without a token\n"
    "                         (BLOCKD_INSECURE_NO_AUTH=1); refused otherwise\n"
    "  --metrics-auth         /metrics needs a token too\n"
    "                         (BLOCKD_METRICS_AUTH=1); open by default\n"
    "  --allow-origin ORIGIN  a browser Origin (scheme://host[:port]) besides\n"
    "                         the daemon's own that may send non-GET\n"
    "                         requests; repeatable (BLOCKD_ALLOW_ORIGIN,\n"
    "                         comma-separated)\n"
    "  --tls-cert FILE        serve HTTPS with this PEM certificate (chain)\n"
    "                         (BLOCKD_TLS_CERT); needs --tls-key\n"
    "  --tls-key FILE         its unencrypted PEM private key\n"
    "                         (BLOCKD_TLS_KEY); needs --tls-cert\n"
    "\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version and exit\n"
    "  --print-spec-schema    print the JSON Schema of block specs, generated\n"
    "                         from the block types' field tables, and exit\n"
    "\n"
    "SIZE accepts K, M and G suffixes (powers of 1024).\n";

bool srv_parse_size(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || v < 0) return false;
  int64_t mul = 1;
  if (*end == 'K' || *end == 'k')
    mul = 1024, end++;
  else if (*end == 'M' || *end == 'm')
    mul = 1024 * 1024, end++;
  else if (*end == 'G' || *end == 'g')
    mul = 1024LL * 1024 * 1024, end++;
  if (*end == 'B' || *end == 'b') end++;
  if (*end) return false;
  if (v > INT64_MAX / mul) return false;
  *out = v * mul;
  return true;
}

/* A boolean environment value; a flag without argument passes NULL. */
static bool parse_bool(const char *s, bool *out) {
  if (!s || !strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes"))
    *out = true;
  else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no"))
    *out = false;
  else
    return false;
  return true;
}

/* Copies a path option into dst (n bytes); false when empty or too long. */
static bool set_path(char *dst, size_t n, const char *v) {
  if (!*v || strlen(v) >= n) return false;
  snprintf(dst, n, "%s", v);
  return true;
}

static bool parse_level(const char *s, srv_log_level *out) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (srv_log_level)i;
      return true;
    }
  return false;
}

/* --print-spec-schema: proto/block-spec.schema.json is this output. */
static int print_spec_schema(void) {
  cJSON *s = proto_spec_schema();
  char *txt = s ? cJSON_Print(s) : NULL;
  cJSON_Delete(s);
  if (!txt) {
    fprintf(stderr, "blockd: out of memory\n");
    return -1;
  }
  puts(txt);
  free(txt);
  return 1;
}

enum {
  OPT_LISTEN = 256,
  OPT_DATA,
  OPT_THREADS,
  OPT_LOG,
  OPT_BODY,
  OPT_ELEMS,
  OPT_MODEL_BYTES,
  OPT_DEPTH,
  OPT_DEVICE,
  OPT_PLUGIN,
  OPT_DEVICE_BUDGET,
  OPT_COMPUTE,
  OPT_MAX_CONNS,
  OPT_MAX_CONNS_IP,
  OPT_IDLE_TIMEOUT,
  OPT_MAX_JSON_RESP,
  OPT_MAX_BLOCKS,
  OPT_SPEC_NODES,
  OPT_WORKERS,
  OPT_QUEUE_DEPTH,
  OPT_REQ_TIMEOUT,
  OPT_DRAIN_TIMEOUT,
  OPT_AUTOSAVE,
  OPT_WATCH,
  OPT_WATCH_INTERVAL,
  OPT_ADMIN_TOKEN,
  OPT_READ_TOKEN,
  OPT_INSECURE,
  OPT_METRICS_AUTH,
  OPT_ALLOW_ORIGIN,
  OPT_TLS_CERT,
  OPT_TLS_KEY
};

bd_build_limits srv_build_limits(const srv_config *cfg) {
  return (bd_build_limits){.max_depth = cfg->max_depth,
                           .max_bytes = cfg->max_model_bytes,
                           .max_blocks = cfg->max_blocks,
                           .max_nodes = cfg->max_spec_nodes};
}

/* Applies one setting by option id; returns false with a message. */
static bool apply(srv_config *cfg, int id, const char *v, const char *src) {
  long long n;
  char *end;
  switch (id) {
    case OPT_LISTEN:
      if (strlen(v) >= sizeof cfg->listen || !strchr(v, ':')) goto bad;
      snprintf(cfg->listen, sizeof cfg->listen, "%s", v);
      return true;
    case OPT_DATA:
      if (!*v || strlen(v) >= sizeof cfg->data_dir) goto bad;
      snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", v);
      return true;
    case OPT_THREADS:
    case OPT_DEPTH:
    case OPT_WORKERS:
      n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1 || n > 1024) goto bad;
      if (id == OPT_THREADS)
        cfg->threads = (int)n;
      else if (id == OPT_WORKERS)
        cfg->workers = (int)n;
      else
        cfg->max_depth = (int)n;
      return true;
    case OPT_QUEUE_DEPTH:
      n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1 || n > 1000000) goto bad;
      cfg->queue_depth = (int)n;
      return true;
    case OPT_REQ_TIMEOUT:
    case OPT_DRAIN_TIMEOUT:
    case OPT_AUTOSAVE:
    case OPT_WATCH_INTERVAL: {
      double d = strtod(v, &end);
      if (*end || end == v || !(d >= 0) || d > 86400) goto bad;
      if (id == OPT_AUTOSAVE && d > 0 && d < 0.1) goto bad;
      if (id == OPT_WATCH_INTERVAL) {
        if (d < 0.01 || d > 3600) goto bad;
        cfg->watch_interval_s = d;
        return true;
      }
      if (id == OPT_REQ_TIMEOUT)
        cfg->request_timeout_s = d;
      else if (id == OPT_DRAIN_TIMEOUT)
        cfg->drain_timeout_s = d;
      else
        cfg->autosave_s = d;
      return true;
    }
    case OPT_COMPUTE: {
      double d = strtod(v, &end);
      if (*end || end == v || !(d >= 0) || d > 86400) goto bad;
      cfg->max_compute_s = d;
      return true;
    }
    case OPT_MAX_BLOCKS:
    case OPT_SPEC_NODES:
      n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1 || n > 100000000) goto bad;
      if (id == OPT_MAX_BLOCKS)
        cfg->max_blocks = n;
      else
        cfg->max_spec_nodes = n;
      return true;
    case OPT_LOG:
      if (!parse_level(v, &cfg->log_level)) goto bad;
      return true;
    case OPT_BODY:
      if (!srv_parse_size(v, &cfg->max_body) || cfg->max_body < 1) goto bad;
      return true;
    case OPT_ELEMS:
      n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1) goto bad;
      cfg->max_elements = n;
      return true;
    case OPT_MODEL_BYTES:
      if (!srv_parse_size(v, &cfg->max_model_bytes) || cfg->max_model_bytes < 1)
        goto bad;
      return true;
    case OPT_DEVICE:
      if (strlen(v) >= sizeof cfg->device) goto bad;
      snprintf(cfg->device, sizeof cfg->device, "%s", v);
      return true;
    case OPT_DEVICE_BUDGET: {
      /* DEV=SIZE; the device itself is checked once backends exist. */
      const char *eq = strchr(v, '=');
      int64_t sz;
      if (cfg->nbudgets == SRV_MAX_BUDGETS || !eq || eq == v ||
          strlen(v) >= sizeof cfg->device_budgets[0] ||
          !srv_parse_size(eq + 1, &sz) || sz < 1)
        goto bad;
      snprintf(cfg->device_budgets[cfg->nbudgets++],
               sizeof cfg->device_budgets[0], "%s", v);
      return true;
    }
    case OPT_MAX_CONNS:
    case OPT_MAX_CONNS_IP:
    case OPT_IDLE_TIMEOUT:
      n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1 || n > 1000000) goto bad;
      if (id == OPT_MAX_CONNS)
        cfg->max_conns = (int)n;
      else if (id == OPT_MAX_CONNS_IP)
        cfg->max_conns_per_ip = (int)n;
      else
        cfg->idle_timeout_s = (int)n;
      return true;
    case OPT_MAX_JSON_RESP:
      if (!srv_parse_size(v, &cfg->max_json_response) ||
          cfg->max_json_response < 1)
        goto bad;
      return true;
    case OPT_WATCH: {
      const char *eq = strchr(v, '=');
      if (cfg->nwatch == SRV_MAX_WATCH || !eq || eq == v || !eq[1] ||
          strlen(v) >= sizeof cfg->watch[0])
        goto bad;
      snprintf(cfg->watch[cfg->nwatch++], sizeof cfg->watch[0], "%s", v);
      return true;
    }
    case OPT_ADMIN_TOKEN:
      if (!set_path(cfg->admin_token_file, sizeof cfg->admin_token_file, v))
        goto bad;
      return true;
    case OPT_READ_TOKEN:
      if (!set_path(cfg->read_token_file, sizeof cfg->read_token_file, v))
        goto bad;
      return true;
    case OPT_TLS_CERT:
      if (!set_path(cfg->tls_cert, sizeof cfg->tls_cert, v)) goto bad;
      return true;
    case OPT_TLS_KEY:
      if (!set_path(cfg->tls_key, sizeof cfg->tls_key, v)) goto bad;
      return true;
    case OPT_INSECURE:
      if (!parse_bool(v, &cfg->insecure_no_auth)) goto bad;
      return true;
    case OPT_METRICS_AUTH:
      if (!parse_bool(v, &cfg->metrics_auth)) goto bad;
      return true;
    case OPT_ALLOW_ORIGIN:
      if (cfg->norigins == SRV_MAX_ORIGINS ||
          !srv_origin_normalize(v, cfg->allow_origins[cfg->norigins],
                                sizeof cfg->allow_origins[0])) {
        fprintf(stderr,
                "blockd: invalid value '%s' for %s: an origin is "
                "http[s]://HOST[:PORT] with no path, at most %d of them\n",
                v, src, SRV_MAX_ORIGINS);
        return false;
      }
      cfg->norigins++;
      return true;
    case OPT_PLUGIN:
      if (cfg->nplugins == SRV_MAX_PLUGINS) goto bad;
      cfg->plugins[cfg->nplugins++] = v;
      return true;
    default:
      return false;
  }
bad:
  fprintf(stderr, "blockd: invalid value '%s' for %s (see --help)\n", v, src);
  return false;
}

int srv_config_parse(srv_config *cfg, int argc, char **argv) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:8080");
  snprintf(cfg->data_dir, sizeof cfg->data_dir, "./blockd-data");
  snprintf(cfg->device, sizeof cfg->device, "auto");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->threads = cores < 2 ? 2 : (int)cores;
  cfg->log_level = SRV_LOG_INFO;
  cfg->max_body = 64LL * 1024 * 1024;
  cfg->max_elements = 1LL << 26;
  cfg->max_model_bytes = 4LL * 1024 * 1024 * 1024;
  cfg->max_depth = 64;
  cfg->max_compute_s = 60;
  cfg->max_conns = 1000;
  cfg->max_conns_per_ip = 64;
  cfg->idle_timeout_s = 30;
  cfg->max_json_response = 64LL * 1024 * 1024;
  cfg->max_blocks = 100000;
  cfg->max_spec_nodes = 100000;
  cfg->workers = cores < 1 ? 1 : (int)cores;
  cfg->queue_depth = 256;
  cfg->request_timeout_s = 120;
  cfg->drain_timeout_s = 30;
  cfg->watch_interval_s = 1;

  static const struct {
    const char *env;
    int id;
  } envs[] = {{"BLOCKD_LISTEN", OPT_LISTEN},
              {"BLOCKD_DATA_DIR", OPT_DATA},
              {"BLOCKD_THREADS", OPT_THREADS},
              {"BLOCKD_LOG_LEVEL", OPT_LOG},
              {"BLOCKD_MAX_BODY", OPT_BODY},
              {"BLOCKD_MAX_ELEMENTS", OPT_ELEMS},
              {"BLOCKD_MAX_MODEL_BYTES", OPT_MODEL_BYTES},
              {"BLOCKD_MAX_DEPTH", OPT_DEPTH},
              {"BLOCKD_DEVICE", OPT_DEVICE},
              {"BLOCKD_MAX_COMPUTE_SECONDS", OPT_COMPUTE},
              {"BLOCKD_MAX_CONNECTIONS", OPT_MAX_CONNS},
              {"BLOCKD_MAX_CONNECTIONS_PER_IP", OPT_MAX_CONNS_IP},
              {"BLOCKD_IDLE_TIMEOUT", OPT_IDLE_TIMEOUT},
              {"BLOCKD_MAX_JSON_RESPONSE_BYTES", OPT_MAX_JSON_RESP},
              {"BLOCKD_MAX_BLOCKS", OPT_MAX_BLOCKS},
              {"BLOCKD_MAX_SPEC_NODES", OPT_SPEC_NODES},
              {"BLOCKD_WORKERS", OPT_WORKERS},
              {"BLOCKD_QUEUE_DEPTH", OPT_QUEUE_DEPTH},
              {"BLOCKD_REQUEST_TIMEOUT", OPT_REQ_TIMEOUT},
              {"BLOCKD_DRAIN_TIMEOUT", OPT_DRAIN_TIMEOUT},
              {"BLOCKD_AUTOSAVE_INTERVAL", OPT_AUTOSAVE},
              {"BLOCKD_WATCH_INTERVAL", OPT_WATCH_INTERVAL},
              {"BLOCKD_ADMIN_TOKEN_FILE", OPT_ADMIN_TOKEN},
              {"BLOCKD_READ_TOKEN_FILE", OPT_READ_TOKEN},
              {"BLOCKD_INSECURE_NO_AUTH", OPT_INSECURE},
              {"BLOCKD_METRICS_AUTH", OPT_METRICS_AUTH},
              {"BLOCKD_TLS_CERT", OPT_TLS_CERT},
              {"BLOCKD_TLS_KEY", OPT_TLS_KEY}};
  for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
    const char *v = getenv(envs[i].env);
    if (v && *v && !apply(cfg, envs[i].id, v, envs[i].env)) return -1;
  }
  /* BLOCKD_PLUGINS: colon-separated paths; the strings live for the
   * process (kept in a static copy). */
  static char budget_env[1024];
  const char *be = getenv("BLOCKD_DEVICE_BUDGET");
  if (be && *be) {
    snprintf(budget_env, sizeof budget_env, "%s", be);
    for (char *save = NULL, *tok = strtok_r(budget_env, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
      if (!apply(cfg, OPT_DEVICE_BUDGET, tok, "BLOCKD_DEVICE_BUDGET"))
        return -1;
  }
  static char watch_env[4096];
  const char *we = getenv("BLOCKD_WATCH");
  if (we && *we) {
    snprintf(watch_env, sizeof watch_env, "%s", we);
    for (char *save = NULL, *tok = strtok_r(watch_env, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
      if (!apply(cfg, OPT_WATCH, tok, "BLOCKD_WATCH")) return -1;
  }
  static char origin_env[4096];
  const char *oe = getenv("BLOCKD_ALLOW_ORIGIN");
  if (oe && *oe) {
    snprintf(origin_env, sizeof origin_env, "%s", oe);
    for (char *save = NULL, *tok = strtok_r(origin_env, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
      if (!apply(cfg, OPT_ALLOW_ORIGIN, tok, "BLOCKD_ALLOW_ORIGIN")) return -1;
  }
  static char plugin_env[4096];
  const char *pe = getenv("BLOCKD_PLUGINS");
  if (pe && *pe) {
    snprintf(plugin_env, sizeof plugin_env, "%s", pe);
    for (char *save = NULL, *tok = strtok_r(plugin_env, ":", &save); tok;
         tok = strtok_r(NULL, ":", &save))
      if (!apply(cfg, OPT_PLUGIN, tok, "BLOCKD_PLUGINS")) return -1;
  }

  static const struct option opts[] = {
      {"listen", required_argument, 0, OPT_LISTEN},
      {"data-dir", required_argument, 0, OPT_DATA},
      {"threads", required_argument, 0, OPT_THREADS},
      {"log-level", required_argument, 0, OPT_LOG},
      {"max-body", required_argument, 0, OPT_BODY},
      {"max-elements", required_argument, 0, OPT_ELEMS},
      {"max-model-bytes", required_argument, 0, OPT_MODEL_BYTES},
      {"max-depth", required_argument, 0, OPT_DEPTH},
      {"max-compute-seconds", required_argument, 0, OPT_COMPUTE},
      {"max-blocks", required_argument, 0, OPT_MAX_BLOCKS},
      {"max-spec-nodes", required_argument, 0, OPT_SPEC_NODES},
      {"device", required_argument, 0, OPT_DEVICE},
      {"plugin", required_argument, 0, OPT_PLUGIN},
      {"device-budget", required_argument, 0, OPT_DEVICE_BUDGET},
      {"max-connections", required_argument, 0, OPT_MAX_CONNS},
      {"max-connections-per-ip", required_argument, 0, OPT_MAX_CONNS_IP},
      {"idle-timeout", required_argument, 0, OPT_IDLE_TIMEOUT},
      {"max-json-response-bytes", required_argument, 0, OPT_MAX_JSON_RESP},
      {"workers", required_argument, 0, OPT_WORKERS},
      {"queue-depth", required_argument, 0, OPT_QUEUE_DEPTH},
      {"request-timeout", required_argument, 0, OPT_REQ_TIMEOUT},
      {"drain-timeout", required_argument, 0, OPT_DRAIN_TIMEOUT},
      {"autosave-interval", required_argument, 0, OPT_AUTOSAVE},
      {"watch", required_argument, 0, OPT_WATCH},
      {"watch-interval", required_argument, 0, OPT_WATCH_INTERVAL},
      {"admin-token-file", required_argument, 0, OPT_ADMIN_TOKEN},
      {"read-token-file", required_argument, 0, OPT_READ_TOKEN},
      {"insecure-no-auth", no_argument, 0, OPT_INSECURE},
      {"metrics-auth", no_argument, 0, OPT_METRICS_AUTH},
      {"allow-origin", required_argument, 0, OPT_ALLOW_ORIGIN},
      {"tls-cert", required_argument, 0, OPT_TLS_CERT},
      {"tls-key", required_argument, 0, OPT_TLS_KEY},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {"print-spec-schema", no_argument, 0, 'S'},
      {0, 0, 0, 0}};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    if (c == 'h') {
      fputs(usage, stdout);
      return 1;
    }
    if (c == 'V') {
      printf("blockd %s\n", SRV_VERSION);
      return 1;
    }
    if (c == 'S') return print_spec_schema();
    if (c == '?') {
      fprintf(stderr, "Try 'blockd --help'.\n");
      return -1;
    }
    char flag[64];
    for (int i = 0; opts[i].name; i++)
      if (opts[i].val == c) snprintf(flag, sizeof flag, "--%s", opts[i].name);
    if (!apply(cfg, c, optarg, flag)) return -1;
  }
  if (cfg->max_conns_per_ip >= cfg->max_conns) {
    /* One address must not be able to hold every slot (health would be
     * unreachable); a lone-client setup lowers the per-IP limit too. */
    fprintf(stderr,
            "blockd: --max-connections-per-ip (%d) must be below "
            "--max-connections (%d)\n",
            cfg->max_conns_per_ip, cfg->max_conns);
    return -1;
  }
  if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
    fprintf(stderr, "blockd: %s needs %s too (both or neither)\n",
            cfg->tls_cert[0] ? "--tls-cert" : "--tls-key",
            cfg->tls_cert[0] ? "--tls-key" : "--tls-cert");
    return -1;
  }
  if (optind < argc) {
    fprintf(stderr, "blockd: unexpected argument '%s'\nTry 'blockd --help'.\n",
            argv[optind]);
    return -1;
  }
  return 0;
}
