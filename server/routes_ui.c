/* routes_ui.c - the web console: GET /ui/ and GET /ui/<file>, answered
 * from the bytes embedded in the binary (ui_assets.h). Inline routes:
 * static data, no model lock, no I/O, so the console loads even while
 * every compute worker is busy. The files hold no model data; every
 * number the console shows comes from the /v1 API it calls. */
#include <string.h>

#include "routes.h"
#include "ui_assets.h"

/* The console's scripts and styles are files of its own origin only: no
 * inline script can run even if a model or parameter name carrying
 * markup ever reached the page unescaped. */
#define UI_CSP "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"

static const srv_ui_file *ui_find(const char *name) {
  for (const srv_ui_file *f = srv_ui_files; f->name; f++)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

/* Whether the client's If-None-Match lists etag (or is "*"). */
static bool etag_matches(srv_req *r, const char *etag) {
  const char *inm = srv_header(r, "If-None-Match");
  if (!inm) return false;
  size_t n = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (*p == '*') return true;
    if (strncmp(p, "W/", 2) == 0) p += 2; /* weak comparison (RFC 9110) */
    if (strncmp(p, etag, n) == 0 &&
        (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
      return true;
    while (*p && *p != ',') p++;
  }
  return false;
}

static int ui_send(srv_req *r, const srv_ui_file *f) {
  /* no-cache: the browser keeps the file but revalidates it on every
   * load, so a restarted daemon's new console is never mixed with an old
   * cached app.js; the revalidation is a 304 without the body. */
  srv_add_header(r, "Cache-Control", "no-cache");
  srv_add_header(r, "ETag", f->etag);
  srv_add_header(r, "Content-Security-Policy", UI_CSP);
  srv_add_header(r, "X-Content-Type-Options", "nosniff");
  srv_add_header(r, "Referrer-Policy", "no-referrer");
  if (etag_matches(r, f->etag)) return srv_reply_static(r, 304, "", 0, f->type);
  return srv_reply_static(r, 200, f->data, f->len, f->type);
}

int srv_ui_index(srv_req *r) {
  /* The router matches "/ui" and "/ui/" alike; relative links in
   * index.html ("app.js") resolve against the directory only with the
   * slash, so the bare form is redirected. */
  if (strcmp(r->path, "/ui") == 0) {
    srv_add_header(r, "Location", "/ui/");
    static const char msg[] = "see /ui/\n";
    return srv_reply_static(r, 308, msg, sizeof msg - 1,
                            "text/plain; charset=utf-8");
  }
  const srv_ui_file *f = ui_find("index.html");
  if (!f) return srv_fail(r, BD_ENOTFOUND, "the web console is not built in");
  return ui_send(r, f);
}

int srv_ui_get(srv_req *r) {
  const srv_ui_file *f = ui_find(r->args[0]);
  /* A trailing slash ("/ui/app.js/") names a directory, which the console
   * has none of. */
  size_t n = strlen(r->path);
  if (!f || (n && r->path[n - 1] == '/'))
    return srv_fail(r, BD_ENOTFOUND, "no such console file: %s", r->path);
  return ui_send(r, f);
}
