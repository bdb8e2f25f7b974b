/* config.c - every setting in one table: flags, BLOCKD_* environment,
 * config file, defaults, --help and --check-config all come from it. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../proto/spec_json.h"
#include "auth.h"

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

bd_build_limits srv_build_limits(const srv_config *cfg) {
  return (bd_build_limits){.max_depth = cfg->max_depth,
                           .max_bytes = cfg->max_model_bytes,
                           .max_blocks = cfg->max_blocks,
                           .max_nodes = cfg->max_spec_nodes};
}

/* ---- the table --------------------------------------------------------- */

typedef struct setting setting;
/* Parses v into the setting's field; false when v is not a valid value. */
typedef bool (*setting_set_fn)(srv_config *cfg, const setting *s,
                               const char *v);

struct setting {
  const char *name; /* long flag without "--"; the config-file key */
  const char *env;  /* BLOCKD_* variable */
  const char *arg;  /* the value's placeholder in --help */
  setting_set_fn set;
  size_t off;  /* the field in srv_config */
  size_t size; /* its size (strings) */
  double min, max;
  const char *def; /* default as text; NULL: none (lists) or computed */
  char sep;        /* repeatable: the separator in its environment value */
  const char *help;
};

static bool set_str(srv_config *cfg, const setting *s, const char *v) {
  if (strlen(v) >= s->size) return false;
  memcpy((char *)cfg + s->off, v, strlen(v) + 1);
  return true;
}

static bool set_nonempty(srv_config *cfg, const setting *s, const char *v) {
  return *v && set_str(cfg, s, v);
}

static bool set_listen(srv_config *cfg, const setting *s, const char *v) {
  return strchr(v, ':') && set_str(cfg, s, v);
}

static bool parse_int(const char *v, const setting *s, long long *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (!*v || *end || errno || n < s->min || n > s->max) return false;
  *out = n;
  return true;
}

static bool set_int(srv_config *cfg, const setting *s, const char *v) {
  long long n;
  if (!parse_int(v, s, &n)) return false;
  *(int *)((char *)cfg + s->off) = (int)n;
  return true;
}

static bool set_i64(srv_config *cfg, const setting *s, const char *v) {
  long long n;
  if (!parse_int(v, s, &n)) return false;
  *(int64_t *)((char *)cfg + s->off) = n;
  return true;
}

static bool set_size(srv_config *cfg, const setting *s, const char *v) {
  int64_t n;
  if (!srv_parse_size(v, &n) || n < s->min || (double)n > s->max) return false;
  *(int64_t *)((char *)cfg + s->off) = n;
  return true;
}

static bool set_seconds(srv_config *cfg, const setting *s, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (!*v || *end || !(d >= s->min) || d > s->max) return false;
  *(double *)((char *)cfg + s->off) = d;
  return true;
}

/* --autosave-interval: 0 (off) or at least 0.1 s, so that saving cannot
 * take over the workers. */
static bool set_autosave(srv_config *cfg, const setting *s, const char *v) {
  if (!set_seconds(cfg, s, v)) return false;
  return cfg->autosave_s == 0 || cfg->autosave_s >= 0.1;
}

static bool set_level(srv_config *cfg, const setting *s, const char *v) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  (void)s;
  for (int i = 0; i < 4; i++)
    if (strcmp(v, names[i]) == 0) {
      cfg->log_level = (srv_log_level)i;
      return true;
    }
  return false;
}

static bool set_format(srv_config *cfg, const setting *s, const char *v) {
  (void)s;
  if (strcmp(v, "text") && strcmp(v, "json")) return false;
  cfg->log_format =
      strcmp(v, "json") ? SRV_LOG_FORMAT_TEXT : SRV_LOG_FORMAT_JSON;
  return true;
}

/* DEV=SIZE; the device itself is checked once the backends exist. */
static bool set_budget(srv_config *cfg, const setting *s, const char *v) {
  (void)s;
  const char *eq = strchr(v, '=');
  int64_t sz;
  if (cfg->nbudgets == SRV_MAX_BUDGETS || !eq || eq == v ||
      strlen(v) >= sizeof cfg->device_budgets[0] ||
      !srv_parse_size(eq + 1, &sz) || sz < 1)
    return false;
  snprintf(cfg->device_budgets[cfg->nbudgets++], sizeof cfg->device_budgets[0],
           "%s", v);
  return true;
}

/* NAME=FILE; watch.c checks the name and the file. */
static bool set_watch(srv_config *cfg, const setting *s, const char *v) {
  (void)s;
  const char *eq = strchr(v, '=');
  if (cfg->nwatch == SRV_MAX_WATCH || !eq || eq == v || !eq[1] ||
      strlen(v) >= sizeof cfg->watch[0])
    return false;
  snprintf(cfg->watch[cfg->nwatch++], sizeof cfg->watch[0], "%s", v);
  return true;
}

/* v must live for the process: every value handed to a setter does
 * (argv, or a copy in the kept strings below). */
static bool set_plugin(srv_config *cfg, const setting *s, const char *v) {
  (void)s;
  if (cfg->nplugins == SRV_MAX_PLUGINS || !*v) return false;
  cfg->plugins[cfg->nplugins++] = v;
  return true;
}

/* A switch: given as a flag it takes no value ("true" is passed); in the
 * environment or a config file true/false, 1/0 or yes/no. */
static bool set_bool(srv_config *cfg, const setting *s, const char *v) {
  bool b;
  if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
    b = true;
  else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
    b = false;
  else
    return false;
  *(bool *)((char *)cfg + s->off) = b;
  return true;
}

/* --allow-origin: http[s]://HOST[:PORT], normalised (auth.h). */
static bool set_origin(srv_config *cfg, const setting *s, const char *v) {
  (void)s;
  if (cfg->norigins == SRV_MAX_ORIGINS ||
      !srv_origin_normalize(v, cfg->allow_origins[cfg->norigins],
                            sizeof cfg->allow_origins[0]))
    return false;
  cfg->norigins++;
  return true;
}

#define FIELD(f) offsetof(srv_config, f), sizeof(((srv_config *)0)->f)

/* The settings, in --help order. To add one: a field in srv_config, a row
 * here (a setter above if no generic one fits), a line in README's
 * configuration table. */
static const setting settings[] = {
    {"listen", "BLOCKD_LISTEN", "HOST:PORT", set_listen, FIELD(listen), 0, 0,
     "127.0.0.1:8080", 0, "address to listen on; port 0 picks a free one"},
    {"data-dir", "BLOCKD_DATA_DIR", "DIR", set_nonempty, FIELD(data_dir), 0, 0,
     "./blockd-data", 0, "data directory"},
    {"threads", "BLOCKD_THREADS", "N", set_int, FIELD(threads), 1, 1024, NULL,
     0, "HTTP worker threads; default: number of cores, at least 2"},
    {"log-level", "BLOCKD_LOG_LEVEL", "LEVEL", set_level, FIELD(log_level), 0,
     0, "info", 0, "error, warn, info or debug"},
    {"log-format", "BLOCKD_LOG_FORMAT", "FORMAT", set_format, FIELD(log_format),
     0, 0, "text", 0,
     "text (\"TIME LEVEL message key=value ...\") or json (one object "
     "per line)"},
    {"log-file", "BLOCKD_LOG_FILE", "PATH", set_nonempty, FIELD(log_file), 0, 0,
     NULL, 0,
     "append log lines to PATH instead of stderr; SIGHUP reopens it "
     "(logrotate: rename, then SIGHUP)"},
    {"max-body", "BLOCKD_MAX_BODY", "SIZE", set_size, FIELD(max_body), 1,
     9.2e18, "64M", 0, "largest request body; larger bodies get 413"},
    {"max-elements", "BLOCKD_MAX_ELEMENTS", "N", set_i64, FIELD(max_elements),
     1, 9.2e18, "67108864", 0,
     "largest tensor in a request, and in what a forward/backward/op "
     "creates unless the model or operands are larger"},
    {"max-model-bytes", "BLOCKD_MAX_MODEL_BYTES", "SIZE", set_size,
     FIELD(max_model_bytes), 1, 9.2e18, "4G", 0,
     "largest model, parameters and buffers"},
    {"max-depth", "BLOCKD_MAX_DEPTH", "N", set_int, FIELD(max_depth), 1, 1024,
     "64", 0, "deepest block nesting"},
    {"max-compute-seconds", "BLOCKD_MAX_COMPUTE_SECONDS", "S", set_seconds,
     FIELD(max_compute_s), 0, 86400, "60", 0,
     "time limit of one forward/backward call; past it a while loop "
     "stops with 422 compute_timeout; 0 = none"},
    {"max-blocks", "BLOCKD_MAX_BLOCKS", "N", set_i64, FIELD(max_blocks), 1,
     100000000, "100000", 0, "most blocks a spec may define"},
    {"max-spec-nodes", "BLOCKD_MAX_SPEC_NODES", "N", set_i64,
     FIELD(max_spec_nodes), 1, 100000000, "100000", 0,
     "most blocks a spec may expand to, each ref counted at every use and "
     "each repeated step again: the block runs of one forward"},
    {"device", "BLOCKD_DEVICE", "DEV", set_str, FIELD(device), 0, 0, "auto", 0,
     "default device for new models: auto, cpu, cuda:N"},
    {"device-budget", "BLOCKD_DEVICE_BUDGET", "DEV=SIZE", set_budget,
     FIELD(device_budgets), 0, 0, NULL, ',',
     "cap blockd's allocations on a device, e.g. cuda:0=8G or cpu=16G; "
     "repeatable (comma-separated in the environment)"},
    {"plugin", "BLOCKD_PLUGINS", "PATH.so", set_plugin, FIELD(plugins), 0, 0,
     NULL, ':',
     "load a block-type plugin; repeatable (colon-separated in the "
     "environment)"},
    {"max-connections", "BLOCKD_MAX_CONNECTIONS", "N", set_int,
     FIELD(max_conns), 1, 1000000, "1000", 0,
     "open connections at most; lowered to fit the open-files limit"},
    {"max-connections-per-ip", "BLOCKD_MAX_CONNECTIONS_PER_IP", "N", set_int,
     FIELD(max_conns_per_ip), 1, 1000000, "64", 0,
     "open connections from one address; must be below --max-connections"},
    {"idle-timeout", "BLOCKD_IDLE_TIMEOUT", "S", set_int, FIELD(idle_timeout_s),
     1, 1000000, "30", 0, "close a connection idle for S seconds"},
    {"max-json-response-bytes", "BLOCKD_MAX_JSON_RESPONSE_BYTES", "SIZE",
     set_size, FIELD(max_json_response), 1, 9.2e18, "64M", 0,
     "largest JSON response; larger ones get 413 too_large (ask for .npy or "
     "safetensors)"},
    {"workers", "BLOCKD_WORKERS", "N", set_int, FIELD(workers), 1, 1024, NULL,
     0,
     "compute workers: forward, backward, init, saves and file I/O run "
     "there, never on the HTTP threads; default: number of cores"},
    {"queue-depth", "BLOCKD_QUEUE_DEPTH", "N", set_int, FIELD(queue_depth), 1,
     1000000, "256", 0,
     "requests waiting per model (and for the requests naming no model) "
     "before 503 overloaded with Retry-After"},
    {"request-timeout", "BLOCKD_REQUEST_TIMEOUT", "S", set_seconds,
     FIELD(request_timeout_s), 0, 86400, "120", 0,
     "deadline of a request from its arrival, queue wait and compute "
     "together; past it 503 deadline_exceeded; 0 = none"},
    {"drain-timeout", "BLOCKD_DRAIN_TIMEOUT", "S", set_seconds,
     FIELD(drain_timeout_s), 0, 86400, "30", 0,
     "on SIGTERM/SIGINT: stop accepting, answer the requests in flight for "
     "up to S seconds, save, exit 0"},
    {"autosave-interval", "BLOCKD_AUTOSAVE_INTERVAL", "S", set_autosave,
     FIELD(autosave_s), 0, 86400, "0", 0,
     "save the models that changed every S seconds (at least 0.1); 0 = off"},
    {"watch", "BLOCKD_WATCH", "NAME=FILE", set_watch, FIELD(watch), 0, 0, NULL,
     ',',
     "follow a checkpoint: load FILE into model NAME (created from the "
     "file's spec if missing) at start and whenever the file changes; a "
     "file that fails to load keeps the old state; repeatable "
     "(comma-separated in the environment)"},
    {"watch-interval", "BLOCKD_WATCH_INTERVAL", "S", set_seconds,
     FIELD(watch_interval_s), 0.01, 3600, "1", 0,
     "how often watched files are checked"},
    /* Access control (README, "Security"). */
    {"admin-token-file", "BLOCKD_ADMIN_TOKEN_FILE", "PATH", set_nonempty,
     FIELD(admin_token_file), 0, 0, NULL, 0,
     "bearer token (first line of the file) that may do everything"},
    {"read-token-file", "BLOCKD_READ_TOKEN_FILE", "PATH", set_nonempty,
     FIELD(read_token_file), 0, 0, NULL, 0,
     "bearer token for GETs, forward and v2 infer only. With either file, "
     "requests need Authorization: Bearer; health endpoints stay open"},
    {"insecure-no-auth", "BLOCKD_INSECURE_NO_AUTH", NULL, set_bool,
     FIELD(insecure_no_auth), 0, 0, NULL, 0,
     "allow a non-loopback --listen without a token (logs a warning); "
     "refused otherwise"},
    {"metrics-auth", "BLOCKD_METRICS_AUTH", NULL, set_bool, FIELD(metrics_auth),
     0, 0, NULL, 0, "/metrics needs a token too (open by default)"},
    {"allow-origin", "BLOCKD_ALLOW_ORIGIN", "ORIGIN", set_origin,
     FIELD(allow_origins), 0, 0, NULL, ',',
     "a browser Origin (scheme://host[:port]) besides the daemon's own that "
     "may send non-GET requests; repeatable (comma-separated in the "
     "environment)"},
    {"tls-cert", "BLOCKD_TLS_CERT", "FILE", set_nonempty, FIELD(tls_cert), 0, 0,
     NULL, 0, "serve HTTPS with this PEM certificate (chain); needs --tls-key"},
    {"tls-key", "BLOCKD_TLS_KEY", "FILE", set_nonempty, FIELD(tls_key), 0, 0,
     NULL, 0, "its unencrypted PEM private key; needs --tls-cert"},
};
#define NSETTINGS (int)(sizeof settings / sizeof settings[0])

/* Empties a repeatable setting (a higher layer replaces the list). */
static void clear_list(srv_config *cfg, const setting *s) {
  if (s->set == set_budget) cfg->nbudgets = 0;
  if (s->set == set_plugin) cfg->nplugins = 0;
  if (s->set == set_watch) cfg->nwatch = 0;
  if (s->set == set_origin) cfg->norigins = 0;
}

/* ---- where each value came from (for --check-config) --------------------
 * Values and sources are kept for the process: plugin paths point into
 * them, and --check-config prints them. The list hangs off a static so
 * that leak checkers see it as reachable. */

typedef struct kept {
  struct kept *next;
  int setting;
  int layer;
  char *value, *source;
} kept;

static kept *kept_head;
/* The layer that last set each repeatable setting. */
static int list_layer[NSETTINGS];
static kept **kept_tail = &kept_head;

enum { LAYER_DEFAULT, LAYER_FILE, LAYER_ENV, LAYER_FLAG };
static const char *const layer_names[] = {"default", "config file",
                                          "environment", "flag"};

static kept *keep(int idx, int layer, const char *v, const char *src) {
  kept *k = calloc(1, sizeof *k);
  if (!k || !(k->value = strdup(v)) || !(k->source = strdup(src))) {
    if (k) free(k->value);
    free(k);
    return NULL;
  }
  k->setting = idx;
  k->layer = layer;
  *kept_tail = k;
  kept_tail = &k->next;
  return k;
}

/* The value of setting idx in effect: the last kept of a single setting,
 * the kept ones of the highest layer of a list. */
static bool kept_live(const kept *k) {
  const setting *s = &settings[k->setting];
  for (const kept *o = k->next; o; o = o->next)
    if (o->setting == k->setting && (!s->sep || o->layer != k->layer))
      return false;
  return true;
}

static void release_kept(void) {
  while (kept_head) {
    kept *n = kept_head->next;
    free(kept_head->value);
    free(kept_head->source);
    free(kept_head);
    kept_head = n;
  }
  kept_tail = &kept_head;
}

/* Applies one value of setting idx from layer; false (message printed)
 * when it is invalid. src names where it came from in messages. */
static bool apply(srv_config *cfg, int idx, int layer, const char *v,
                  const char *src) {
  const setting *s = &settings[idx];
  if (s->sep && list_layer[idx] != layer) {
    clear_list(cfg, s);
    list_layer[idx] = layer;
  }
  kept *k = keep(idx, layer, v, src);
  if (!k) {
    fprintf(stderr, "blockd: out of memory\n");
    return false;
  }
  if (!s->set(cfg, s, k->value)) {
    fprintf(stderr, "blockd: invalid value '%s' for %s (see --help)\n", v, src);
    return false;
  }
  return true;
}

static int find_setting(const char *name) {
  for (int i = 0; i < NSETTINGS; i++)
    if (strcmp(settings[i].name, name) == 0) return i;
  return -1;
}

/* ---- the layers -------------------------------------------------------- */

static bool apply_defaults(srv_config *cfg) {
  /* The defaults that depend on the machine: HTTP threads and compute
   * workers follow the number of cores (threads at least 2). */
  char threads[16], workers[16];
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n > 1024) n = 1024;
  snprintf(threads, sizeof threads, "%ld", n < 2 ? 2 : n);
  snprintf(workers, sizeof workers, "%ld", n < 1 ? 1 : n);
  for (int i = 0; i < NSETTINGS; i++) {
    const char *def = settings[i].def;
    if (!def && strcmp(settings[i].name, "threads") == 0) def = threads;
    if (!def && strcmp(settings[i].name, "workers") == 0) def = workers;
    if (def && !apply(cfg, i, LAYER_DEFAULT, def, "default")) return false;
  }
  return true;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
               s[n - 1] == '\n'))
    s[--n] = '\0';
  return s;
}

/* A config file: "key = value" lines, keys the long flag names, '#'
 * starting a comment line, blank lines ignored. An unknown key, a line
 * without '=' or a bad value is an error naming FILE:LINE. */
static bool apply_file(srv_config *cfg, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "blockd: cannot read --config %s: %s\n", path,
            strerror(errno));
    return false;
  }
  char line[4096];
  bool ok = true;
  for (int no = 1; ok && fgets(line, sizeof line, f); no++) {
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
      fprintf(stderr, "blockd: %s:%d: line longer than %zu bytes\n", path, no,
              sizeof line - 2);
      ok = false;
      break;
    }
    char *p = trim(line);
    if (!*p || *p == '#') continue;
    char *eq = strchr(p, '=');
    if (!eq) {
      fprintf(stderr, "blockd: %s:%d: expected 'key = value'\n", path, no);
      ok = false;
      break;
    }
    *eq = '\0';
    char *key = trim(p), *val = trim(eq + 1);
    int idx = find_setting(key);
    if (idx < 0) {
      fprintf(stderr, "blockd: %s:%d: unknown key '%.64s'\n", path, no, key);
      ok = false;
      break;
    }
    char src[1200];
    snprintf(src, sizeof src, "%s:%d (%s)", path, no, key);
    ok = apply(cfg, idx, LAYER_FILE, val, src);
  }
  fclose(f);
  return ok;
}

static bool apply_env(srv_config *cfg) {
  for (int i = 0; i < NSETTINGS; i++) {
    const setting *s = &settings[i];
    const char *v = getenv(s->env);
    if (!v || !*v) continue;
    if (!s->sep) {
      if (!apply(cfg, i, LAYER_ENV, v, s->env)) return false;
      continue;
    }
    char *copy = strdup(v);
    if (!copy) return false;
    char seps[2] = {s->sep, '\0'};
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(copy, seps, &save); ok && tok;
         tok = strtok_r(NULL, seps, &save))
      ok = apply(cfg, i, LAYER_ENV, tok, s->env);
    free(copy);
    if (!ok) return false;
  }
  return true;
}

/* ---- --help and --check-config ------------------------------------------ */

/* Prints text wrapped at 78 columns, each line indented by 8. */
static void print_wrapped(FILE *out, const char *text) {
  const int indent = 8, width = 78;
  int col = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    size_t w = strcspn(p, " ");
    if (!w) break;
    if (col && col + 1 + (int)w > width) {
      fputc('\n', out);
      col = 0;
    }
    if (!col) {
      fprintf(out, "%*s", indent, "");
      col = indent;
    } else {
      fputc(' ', out);
      col++;
    }
    fwrite(p, 1, w, out);
    col += (int)w;
    p += w;
  }
  if (col) fputc('\n', out);
}

static void print_usage(void) {
  puts(
      "Usage: blockd [options]\n"
      "Serve PyTorch-style neural-network blocks over HTTP.\n"
      "\n"
      "Settings (each also read from the environment variable shown, and\n"
      "from a config file under its flag's name; flags override the\n"
      "environment, which overrides the config file, which overrides the\n"
      "defaults):");
  for (int i = 0; i < NSETTINGS; i++) {
    const setting *s = &settings[i];
    char text[1024];
    snprintf(text, sizeof text, "%s [%s%s%s]", s->help, s->env,
             s->def ? ", default " : "", s->def ? s->def : "");
    printf("  --%s %s\n", s->name, s->arg ? s->arg : "");
    print_wrapped(stdout, text);
  }
  puts(
      "\n"
      "Other options:\n"
      "  --config FILE          read settings from FILE (BLOCKD_CONFIG):\n"
      "                         'key = value' lines, keys the flag names\n"
      "                         above, '#' starts a comment line\n"
      "  --check-config         validate the settings, print the effective\n"
      "                         configuration and exit (0 valid, 2 not)\n"
      "  -h, --help             show this help and exit\n"
      "  -V, --version          show the version and exit\n"
      "  --print-spec-schema    print the JSON Schema of block specs, "
      "generated\n"
      "                         from the block types' field tables, and exit\n"
      "\n"
      "SIZE accepts K, M and G suffixes (powers of 1024).");
}

/* The effective configuration in config-file syntax, each value that is
 * not a default preceded by a comment saying where it came from, so that
 * the output is itself a valid config file. */
static void print_effective(const char *config_path) {
  printf(
      "# blockd %s effective configuration\n"
      "# precedence: flags > BLOCKD_* environment > config file%s%s%s > "
      "defaults\n",
      SRV_VERSION, config_path ? " (" : "", config_path ? config_path : "",
      config_path ? ")" : "");
  for (int i = 0; i < NSETTINGS; i++) {
    bool any = false;
    for (const kept *k = kept_head; k; k = k->next) {
      if (k->setting != i || !kept_live(k)) continue;
      any = true;
      if (k->layer != LAYER_DEFAULT)
        printf("# from %s %s\n", layer_names[k->layer], k->source);
      printf("%s = %s\n", settings[i].name, k->value);
    }
    if (!any) printf("# %s: not set\n", settings[i].name);
  }
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

/* Checks that hold between settings. */
static bool check_cross(const srv_config *cfg) {
  if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
    fprintf(stderr, "blockd: %s needs %s too (both or neither)\n",
            cfg->tls_cert[0] ? "--tls-cert" : "--tls-key",
            cfg->tls_cert[0] ? "--tls-key" : "--tls-cert");
    return false;
  }
  if (cfg->max_conns_per_ip >= cfg->max_conns) {
    /* One address must not be able to hold every slot (health would be
     * unreachable); a lone-client setup lowers the per-IP limit too. */
    fprintf(stderr,
            "blockd: --max-connections-per-ip (%d) must be below "
            "--max-connections (%d)\n",
            cfg->max_conns_per_ip, cfg->max_conns);
    return false;
  }
  return true;
}

/* getopt values: settings are OPT_SETTING + their index. */
enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_SCHEMA, OPT_SETTING = 2000 };

int srv_config_parse(srv_config *cfg, int argc, char **argv) {
  memset(cfg, 0, sizeof *cfg);
  release_kept();
  memset(list_layer, 0, sizeof list_layer);
  struct option opts[NSETTINGS + 6];
  for (int i = 0; i < NSETTINGS; i++)
    opts[i] = (struct option){settings[i].name,
                              settings[i].arg ? required_argument : no_argument,
                              0, OPT_SETTING + i};
  opts[NSETTINGS] = (struct option){"config", required_argument, 0, OPT_CONFIG};
  opts[NSETTINGS + 1] =
      (struct option){"check-config", no_argument, 0, OPT_CHECK};
  opts[NSETTINGS + 2] =
      (struct option){"print-spec-schema", no_argument, 0, OPT_SCHEMA};
  opts[NSETTINGS + 3] = (struct option){"help", no_argument, 0, 'h'};
  opts[NSETTINGS + 4] = (struct option){"version", no_argument, 0, 'V'};
  opts[NSETTINGS + 5] = (struct option){0, 0, 0, 0};

  /* First pass: actions and --config; the settings given as flags are
   * applied last, over the file and the environment. */
  const char *config_path = getenv("BLOCKD_CONFIG");
  if (config_path && !*config_path) config_path = NULL;
  bool check = false;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    if (c == 'h') {
      print_usage();
      return 1;
    }
    if (c == 'V') {
      printf("blockd %s\n", SRV_VERSION);
      return 1;
    }
    if (c == OPT_SCHEMA) return print_spec_schema();
    if (c == '?') {
      fprintf(stderr, "Try 'blockd --help'.\n");
      return -1;
    }
    if (c == OPT_CONFIG) config_path = optarg;
    if (c == OPT_CHECK) check = true;
  }
  if (optind < argc) {
    fprintf(stderr, "blockd: unexpected argument '%s'\nTry 'blockd --help'.\n",
            argv[optind]);
    return -1;
  }
  if (!apply_defaults(cfg)) return -1;
  if (config_path && !apply_file(cfg, config_path)) return -1;
  if (!apply_env(cfg)) return -1;
  optind = 1;
  while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    int idx = c - OPT_SETTING;
    if (idx < 0 || idx >= NSETTINGS) continue;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", settings[idx].name);
    if (!apply(cfg, idx, LAYER_FLAG, optarg ? optarg : "true", flag)) return -1;
  }
  if (!check_cross(cfg)) return -1;
  if (check) {
    print_effective(config_path);
    return 1;
  }
  return 0;
}
