/* floor.c - the HTTP floor for bench/http_bench.py: libmicrohttpd in the
 * same mode as blockd (server/http.c: internal polling thread pool, epoll,
 * suspend/resume allowed, keep-alive, the same per-connection memory and
 * connection limits), answering every request with a fixed body and doing
 * nothing else. What blockd adds on top of this (routing, parsing, compute,
 * formatting) is the serving path's cost; what this costs is
 * libmicrohttpd's and the kernel's.
 *
 *   floor [--threads N] [--body FILE] [--npy-body FILE] [--memory BYTES]
 *
 * Listens on 127.0.0.1 on a free port and prints "floor listening on
 * http://127.0.0.1:PORT" on stdout (blockd's start-up line has the same
 * shape, so one parser reads both). --body is the reply (Content-Type
 * application/json); --npy-body, when given, is the reply to a request whose
 * Accept names application/x-npy, so the floor answers the .npy scenario
 * with a body of the size blockd's .npy reply has. --memory sets
 * MHD_OPTION_CONNECTION_MEMORY_LIMIT (default: blockd's) to measure what
 * that size costs: libmicrohttpd clears the connection's pool between
 * requests, so that memset grows with it (blockd went from 128 to 64 KiB
 * for this). Runs until SIGINT or SIGTERM. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The same value as SRV_MHD_MEMORY_LIMIT in server/http.h: it sizes each
 * connection's read buffer, which changes how many recv calls a request
 * takes, so the floor must not differ from blockd there. */
#define FLOOR_MHD_MEMORY_LIMIT (64 * 1024)

struct floor_replies {
  struct MHD_Response *json;
  struct MHD_Response *npy;
};

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 4096;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* One response object, created once and queued for every request: MHD
 * reference-counts responses and lets several connections share one, so the
 * floor pays no per-request allocation for it. */
static struct MHD_Response *make_reply(const char *body, size_t len,
                                       const char *type) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)body, MHD_RESPMEM_PERSISTENT);
  if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  return r;
}

static int marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)url, (void)method, (void)version, (void)upload;
  const struct floor_replies *rep = cls;
  /* MHD calls once with the headers, then once per body chunk, then once
   * more with no data: the reply can only be queued on that last call, and
   * the body is consumed (and dropped) like blockd consumes it. */
  if (*con_cls == NULL) {
    *con_cls = &marker;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  struct MHD_Response *r = rep->json;
  if (rep->npy) {
    const char *accept =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (accept && strstr(accept, "application/x-npy")) r = rep->npy;
  }
  return MHD_queue_response(c, MHD_HTTP_OK, r);
}

static void usage(void) {
  fprintf(stderr,
          "usage: floor [--threads N] [--body FILE] "
          "[--npy-body FILE] [--memory BYTES]\n");
  exit(2);
}

int main(int argc, char **argv) {
  long threads = sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 2) threads = 2; /* blockd's default (server/config.c) */
  const char *body_path = NULL, *npy_path = NULL;
  long memory = FLOOR_MHD_MEMORY_LIMIT;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--threads")) {
      threads = strtol(argv[++i], NULL, 10);
      if (threads < 1 || threads > 1024) usage();
    } else if (!strcmp(argv[i], "--body")) {
      body_path = argv[++i];
    } else if (!strcmp(argv[i], "--memory")) {
      memory = strtol(argv[++i], NULL, 10);
      if (memory < 1024) usage();
    } else if (!strcmp(argv[i], "--npy-body")) {
      npy_path = argv[++i];
    } else {
      usage();
    }
  }
  /* Without --body: blockd's batch-1 seed-MLP forward reply is about this
   * long, so a bare `floor` is still a fair floor for that request. */
  static const char fallback[] =
      "{\"outputs\":{\"shape\":[1,10],\"dtype\":\"float32\",\"data\":[[0."
      "25836915,-0.13291955,0.10570901,-0.17064124,0.08626047,0.047769412,0."
      "026072465,-0.04238756,0.3758495,0.24233176]]}}";
  const char *body = fallback;
  size_t body_len = sizeof fallback - 1;
  char *npy = NULL;
  size_t npy_len = 0;
  if (body_path && !(body = read_file(body_path, &body_len))) {
    perror(body_path);
    return 1;
  }
  if (npy_path && !(npy = read_file(npy_path, &npy_len))) {
    perror(npy_path);
    return 1;
  }
  struct floor_replies rep = {
      make_reply(body, body_len, "application/json"),
      npy ? make_reply(npy, npy_len, "application/x-npy") : NULL};
  if (!rep.json || (npy && !rep.npy)) {
    fprintf(stderr, "floor: cannot create the response\n");
    return 1;
  }

  /* SIGINT/SIGTERM are blocked before MHD starts its threads, which inherit
   * the mask, and taken with sigwait below: no handler, no code in signal
   * context, and the daemon stops cleanly. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* blockd's flags: it needs suspend/resume and ITC (its workers resume
   * connections); the floor never suspends, but its polling threads then
   * run the same loop, with the same wake-up channel. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
#ifdef __linux__
  flags |= MHD_USE_EPOLL;
#endif
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, &rep, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 1000u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)memory, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "floor: cannot start libmicrohttpd\n");
    return 1;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("floor listening on http://127.0.0.1:%u (%ld threads)\n",
         info ? (unsigned)info->port : 0u, threads);
  fflush(stdout);

  int sig;
  sigwait(&set, &sig);
  MHD_stop_daemon(d);
  MHD_destroy_response(rep.json);
  if (rep.npy) MHD_destroy_response(rep.npy);
  return 0;
}
