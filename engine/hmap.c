/* hmap.c - open addressing with linear probing, load at most 1/2. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

void bd_hmap_init(bd_hmap *m, bool str_keys) {
  memset(m, 0, sizeof *m);
  m->str = str_keys;
}

void bd_hmap_free(bd_hmap *m) {
  free(m->keys);
  free(m->vals);
  bd_hmap_init(m, m->str);
}

static uint64_t bd__hash(const bd_hmap *m, const void *key) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  if (m->str) {
    for (const unsigned char *p = key; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h;
  }
  uint64_t v = (uint64_t)(uintptr_t)key;
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdULL;
  v ^= v >> 33;
  return v;
}

static bool bd__eq(const bd_hmap *m, const void *a, const void *b) {
  return m->str ? strcmp(a, b) == 0 : a == b;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t bd__slot(const bd_hmap *m, const void *key) {
  size_t i = (size_t)bd__hash(m, key) & (m->cap - 1);
  while (m->keys[i] && !bd__eq(m, m->keys[i], key)) i = (i + 1) & (m->cap - 1);
  return i;
}

int64_t *bd_hmap_get(const bd_hmap *m, const void *key) {
  if (!m->cap) return NULL;
  size_t i = bd__slot(m, key);
  return m->keys[i] ? &m->vals[i] : NULL;
}

static bd_status bd__grow(bd_hmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  bd_hmap n = {.str = m->str, .cap = cap};
  n.keys = calloc(cap, sizeof *n.keys);
  n.vals = calloc(cap, sizeof *n.vals);
  if (!n.keys || !n.vals) {
    free(n.keys);
    free(n.vals);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) {
      size_t j = bd__slot(&n, m->keys[i]);
      n.keys[j] = m->keys[i];
      n.vals[j] = m->vals[i];
      n.n++;
    }
  free(m->keys);
  free(m->vals);
  *m = n;
  return BD_OK;
}

bd_status bd_hmap_put(bd_hmap *m, const void *key, int64_t val) {
  if ((m->n + 1) * 2 > m->cap) {
    bd_status s = bd__grow(m);
    if (s) return s;
  }
  size_t i = bd__slot(m, key);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->n++;
  }
  m->vals[i] = val;
  return BD_OK;
}
