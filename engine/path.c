/* path.c - dotted paths into a block tree: child names first, then
 * positions (see path.h). */
#include "path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The canonical path being built: child names joined with '.'. */
typedef struct bd__pathbuf {
  char *s;
  size_t n, cap;
} bd__pathbuf;

static bd_status bd__pathbuf_add(bd__pathbuf *pb, const char *name) {
  size_t len = strlen(name), need = pb->n + (pb->n ? 1 : 0) + len + 1;
  if (need > pb->cap) {
    size_t cap = pb->cap ? pb->cap : 64;
    while (cap < need) cap *= 2;
    char *s = realloc(pb->s, cap);
    if (!s) return bd_fail(BD_ENOMEM, "out of host memory (block path)");
    pb->s = s;
    pb->cap = cap;
  }
  if (pb->n) pb->s[pb->n++] = '.';
  memcpy(pb->s + pb->n, name, len + 1);
  pb->n += len;
  return BD_OK;
}

/* The position a segment spells: -1 when it is not a plain decimal
 * (digits only, no leading zero), INT_MAX when it is one too large for an
 * int (out of range for any block). */
static long bd__path_position(const char *seg, size_t n) {
  if (n == 0 || (n > 1 && seg[0] == '0')) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (seg[i] < '0' || seg[i] > '9') return -1;
    if (v < INT_MAX) v = v * 10 + (seg[i] - '0');
  }
  return v < INT_MAX ? v : INT_MAX;
}

/* Index of the child of b that segment seg[0..n) selects (by name, else by
 * position), or -1; *pos gets the position the segment spells (-1 when
 * none). */
static int bd__path_child(const bd_block *b, const char *seg, size_t n,
                          long *pos) {
  *pos = bd__path_position(seg, n);
  for (int i = 0; i < b->nchildren; i++)
    if (strlen(b->child_names[i]) == n &&
        memcmp(b->child_names[i], seg, n) == 0)
      return i;
  return *pos >= 0 && *pos < b->nchildren ? (int)*pos : -1;
}

/* The BD_ENOTFOUND failure for segment seg[0..n) under block b (reached
 * as canon, "" for the root). */
static bd_status bd__path_miss(const bd_block *b, const char *canon,
                               const char *seg, size_t n, long pos,
                               bool param_too) {
  char where[320], why[200] = "";
  int len = n > 64 ? 64 : (int)n;
  if (canon[0])
    snprintf(where, sizeof where, "block '%.256s' (%s)", canon, b->type->name);
  else
    snprintf(where, sizeof where, "the root block (%s)", b->type->name);
  if (pos >= 0 && b->nchildren)
    snprintf(why, sizeof why,
             "; as a position, %.*s is out of range (%d children, positions "
             "0..%d)",
             len, seg, b->nchildren, b->nchildren - 1);
  else if (pos >= 0)
    snprintf(why, sizeof why,
             "; as a position, %.*s is out of range (it has no children)", len,
             seg);
  return bd_fail(BD_ENOTFOUND, "%s has no %s named '%.*s'%s", where,
                 param_too ? "parameter, buffer or child" : "child",
                 n > 200 ? 200 : (int)n, seg, why);
}

/* Walks path from root. With want_param the walk ends at a parameter
 * (*pout), otherwise at a block (*bout). */
static bd_status bd__path_walk(bd_block *root, const char *path,
                               bool want_param, bd_block **bout,
                               bd_param **pout, char **canon) {
  bd__pathbuf pb = {0};
  bd_block *b = root;
  const char *rest = path;
  bd_status s = bd__pathbuf_add(&pb, "");
  while (!s) {
    if (want_param) {
      int k = -1;
      for (int i = 0; i < b->nparams && k < 0; i++)
        if (strcmp(b->param_names[i], rest) == 0) k = i;
      if (k >= 0) {
        s = bd__pathbuf_add(&pb, rest);
        if (!s) *pout = b->params[k];
        break;
      }
    } else if (!rest[0]) {
      *bout = b;
      break;
    }
    const char *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    if (n == 0 || (dot && !dot[1])) {
      s = path[0] ? bd_fail(BD_ENOTFOUND, "path '%.256s' has an empty segment",
                            path)
                  : bd_fail(BD_ENOTFOUND, "the path is empty");
      break;
    }
    long pos;
    int i = bd__path_child(b, rest, n, &pos);
    if (i < 0) {
      s = bd__path_miss(b, pb.s, rest, n, pos, want_param && !dot);
      break;
    }
    s = bd__pathbuf_add(&pb, b->child_names[i]);
    b = b->children[i];
    if (!s && want_param && !dot)
      s = bd_fail(BD_ENOTFOUND,
                  "'%.256s' is a block, not a parameter or buffer", pb.s);
    rest = dot ? dot + 1 : rest + n;
  }
  if (canon) {
    *canon = s ? NULL : pb.s;
    if (!s) pb.s = NULL;
  }
  free(pb.s);
  return s;
}

bd_status bd_path_block(bd_block *root, const char *path, bd_block **out,
                        char **canon) {
  *out = NULL;
  return bd__path_walk(root, path, false, out, NULL, canon);
}

bd_status bd_path_param(bd_block *root, const char *path, bd_param **out,
                        char **canon) {
  *out = NULL;
  return bd__path_walk(root, path, true, NULL, out, canon);
}
