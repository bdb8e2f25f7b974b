/* namemap.c - names -> refcounted objects behind one mutex. The maps are
 * small (user-named models and tensors), so a linear scan over an
 * insertion-ordered array is plenty and keeps listing order stable. */
#include "namemap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct bd__entry {
  char *name;
  void *obj;
} bd__entry;

struct bd_namemap {
  const bd_namemap_type *type;
  pthread_mutex_t mu;
  bd__entry *v;
  size_t n, cap;
};

bd_namemap *bd_namemap_new(const bd_namemap_type *t) {
  bd_namemap *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->type = t;
  pthread_mutex_init(&m->mu, NULL);
  return m;
}

void bd_namemap_free(bd_namemap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].name);
    m->type->release(m->v[i].obj);
  }
  free(m->v);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

/* Index of name, or -1. Caller holds mu. */
static long bd__find(const bd_namemap *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->v[i].name, name) == 0) return (long)i;
  return -1;
}

bd_status bd_namemap_put(bd_namemap *m, const char *name, void *obj,
                         bool replace, bool *existed) {
  void *old = NULL;
  bd_status s = BD_OK;
  pthread_mutex_lock(&m->mu);
  long i = bd__find(m, name);
  if (existed) *existed = i >= 0;
  if (i >= 0) {
    if (replace) {
      old = m->v[i].obj;
      m->v[i].obj = m->type->retain(obj);
    }
  } else {
    char *c = strdup(name);
    if (c && m->n == m->cap) {
      size_t cap = m->cap ? m->cap * 2 : 16;
      bd__entry *v = realloc(m->v, cap * sizeof *v);
      if (v) {
        m->v = v;
        m->cap = cap;
      }
    }
    if (!c || m->n == m->cap) {
      free(c);
      s = bd_fail(BD_ENOMEM, "out of host memory");
    } else {
      m->v[m->n++] = (bd__entry){.name = c, .obj = m->type->retain(obj)};
    }
  }
  pthread_mutex_unlock(&m->mu);
  if (old) m->type->release(old);
  return s;
}

void *bd_namemap_get(bd_namemap *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  long i = bd__find(m, name);
  void *obj = i >= 0 ? m->type->retain(m->v[i].obj) : NULL;
  pthread_mutex_unlock(&m->mu);
  return obj;
}

void *bd_namemap_take(bd_namemap *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  long i = bd__find(m, name);
  void *obj = NULL;
  if (i >= 0) {
    obj = m->v[i].obj;
    free(m->v[i].name);
    memmove(m->v + i, m->v + i + 1, (m->n - (size_t)i - 1) * sizeof *m->v);
    m->n--;
  }
  pthread_mutex_unlock(&m->mu);
  return obj;
}

bd_status bd_namemap_list(bd_namemap *m, char ***names, void ***objs,
                          size_t *n) {
  pthread_mutex_lock(&m->mu);
  size_t k = m->n;
  void **ov = calloc(k + 1, sizeof *ov);
  char **nv = names ? calloc(k + 1, sizeof *nv) : NULL;
  bool ok = ov && (!names || nv);
  for (size_t i = 0; ok && nv && i < k; i++) {
    nv[i] = strdup(m->v[i].name);
    ok = nv[i] != NULL;
  }
  for (size_t i = 0; ok && i < k; i++) ov[i] = m->type->retain(m->v[i].obj);
  pthread_mutex_unlock(&m->mu);
  if (!ok) {
    for (size_t i = 0; nv && i < k; i++) free(nv[i]);
    free(nv);
    free(ov);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  if (names) *names = nv;
  *objs = ov;
  *n = k;
  return BD_OK;
}
