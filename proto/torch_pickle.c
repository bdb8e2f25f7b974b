/* torch_pickle.c - a protocol-2 pickle writer for torch.save objects and a
 * restricted, non-executing interpreter for what torch.save writes. */
#include "torch_pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- writer ------------------------------------------------------------- */

static const char *const proto__tp_wstorage[BD_DTYPE_COUNT] = {
    [BD_F32] = "FloatStorage",
    [BD_F64] = "DoubleStorage",
    [BD_F16] = "HalfStorage",
    [BD_BF16] = "BFloat16Storage",
    [BD_I64] = "LongStorage"};

typedef struct proto__tpw {
  proto_buf *b;
  bd_status s;
} proto__tpw;

static void w_put(proto__tpw *w, const void *p, size_t n) {
  if (!w->s) w->s = proto_buf_sink(w->b).write(w->b, p, n);
}
static void w_op(proto__tpw *w, unsigned char op) { w_put(w, &op, 1); }
static void w_global(proto__tpw *w, const char *mod, const char *name) {
  w_op(w, 'c');
  w_put(w, mod, strlen(mod));
  w_op(w, '\n');
  w_put(w, name, strlen(name));
  w_op(w, '\n');
}
static void w_str(proto__tpw *w, const char *s) {
  size_t n = strlen(s);
  unsigned char h[5] = {'X', (unsigned char)n, (unsigned char)(n >> 8),
                        (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
  w_put(w, h, 5);
  w_put(w, s, n);
}
static void w_int(proto__tpw *w, int64_t v) {
  if (v >= 0 && v < 256) {
    unsigned char h[2] = {'K', (unsigned char)v};
    w_put(w, h, 2);
  } else if (v >= 0 && v < 65536) {
    unsigned char h[3] = {'M', (unsigned char)v, (unsigned char)(v >> 8)};
    w_put(w, h, 3);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    uint32_t u = (uint32_t)(int32_t)v;
    unsigned char h[5] = {'J', (unsigned char)u, (unsigned char)(u >> 8),
                          (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    w_put(w, h, 5);
  } else {
    unsigned char h[10] = {0x8a, 8};
    for (int i = 0; i < 8; i++)
      h[2 + i] = (unsigned char)((uint64_t)v >> (8 * i));
    w_put(w, h, 10);
  }
}
static void w_odict(proto__tpw *w) {
  w_global(w, "collections", "OrderedDict");
  w_op(w, ')');
  w_op(w, 'R');
}

static void w_tensor(proto__tpw *w, const bd_tensor *t, size_t key, int64_t off,
                     bd_dtype sdt, int64_t snumel) {
  char k[32];
  snprintf(k, sizeof k, "%zu", key);
  w_global(w, "torch._utils", "_rebuild_tensor_v2");
  w_op(w, '(');
  w_op(w, '(');
  w_str(w, "storage");
  w_global(w, "torch", proto__tp_wstorage[sdt]);
  w_str(w, k);
  w_str(w, "cpu");
  w_int(w, snumel);
  w_op(w, 't');
  w_op(w, 'Q');
  w_int(w, off);
  if (t->ndim == 0) {
    w_op(w, ')');
    w_op(w, ')');
  } else {
    w_op(w, '(');
    for (int d = 0; d < t->ndim; d++) w_int(w, t->shape[d]);
    w_op(w, 't');
    w_op(w, '(');
    int64_t st = 1, strides[BD_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
      strides[d] = st;
      st *= t->shape[d] ? t->shape[d] : 1;
    }
    for (int d = 0; d < t->ndim; d++) w_int(w, strides[d]);
    w_op(w, 't');
  }
  w_op(w, 0x89); /* requires_grad False */
  w_odict(w);    /* backward_hooks */
  w_op(w, 't');
  w_op(w, 'R');
}

bd_status proto_torch_pickle_write(const proto_tfile *f, const size_t *skey,
                                   const int64_t *soff, const bd_dtype *sdt,
                                   const int64_t *snumel, proto_buf *out) {
  proto__tpw w = {out, BD_OK};
  w_put(&w, "\x80\x02", 2);
  switch (f->kind) {
    case PROTO_TFILE_TENSOR:
      if (f->list.n != 1)
        return bd_fail(BD_EINVAL, "a tensor file holds exactly one tensor");
      w_tensor(&w, f->list.tensors[0], skey[0], soff[0], sdt[skey[0]],
               snumel[skey[0]]);
      break;
    case PROTO_TFILE_LIST:
      w_op(&w, ']');
      if (f->list.n) {
        w_op(&w, '(');
        for (size_t i = 0; i < f->list.n; i++)
          w_tensor(&w, f->list.tensors[i], skey[i], soff[i], sdt[skey[i]],
                   snumel[skey[i]]);
        w_op(&w, 'e');
      }
      break;
    case PROTO_TFILE_DICT:
    case PROTO_TFILE_STATE_DICT:
      if (f->kind == PROTO_TFILE_DICT)
        w_op(&w, '}');
      else
        w_odict(&w);
      if (f->list.n) {
        w_op(&w, '(');
        for (size_t i = 0; i < f->list.n; i++) {
          w_str(&w, f->list.names[i]);
          w_tensor(&w, f->list.tensors[i], skey[i], soff[i], sdt[skey[i]],
                   snumel[skey[i]]);
        }
        w_op(&w, 'u');
      }
      break;
  }
  w_op(&w, '.');
  return w.s;
}

/* ---- reader ------------------------------------------------------------- */

#define TP_MAX_STACK 100000
#define TP_MAX_MARKS 10000
#define TP_MAX_MEMO (1u << 20)
#define TP_MAX_STR (1u << 20)
#define TP_MAX_VALUES 50000000

typedef enum {
  G_ODICT = 1,
  G_REBUILD_V2,
  G_REBUILD,
  G_REBUILD_PARAM,
  G_STORAGE
} tp_global;

typedef enum {
  V_NONE,
  V_BOOL,
  V_INT,
  V_FLOAT,
  V_STR,
  V_TUPLE,
  V_LIST,
  V_DICT,
  V_ODICT,
  V_GLOBAL,
  V_STORAGE,
  V_TENSOR
} tp_vkind;

typedef struct tp_val tp_val;
struct tp_val {
  tp_vkind k;
  int64_t i;  /* INT, BOOL; GLOBAL: tp_global; STORAGE: index */
  int sdtype; /* GLOBAL storage: bd dtype or -1 */
  const char *sname;
  char *s; /* STR (owned) */
  size_t slen;
  tp_val **items; /* TUPLE/LIST items; DICT keys then values interleaved */
  size_t n, cap;
  proto_tp_tensor *t; /* TENSOR */
};

typedef struct tp {
  const unsigned char *p, *end, *start;
  tp_val **all; /* every value, for freeing */
  size_t nall, capall;
  tp_val **stack;
  size_t sp, scap;
  size_t marks[TP_MAX_MARKS];
  size_t nmarks;
  tp_val **memo;
  size_t nmemo;
  proto_tp_result *r;
  size_t stor_cap; /* storages' capacity */
  size_t *shash;   /* open addressing: storage index + 1, 0 = empty */
  size_t shcap;    /* power of two */
  uint64_t hkey;   /* per-read random hash key */
} tp;

/* A keyed hash: the key is drawn at random for every read, and the
 * xor-shift after each multiply makes collisions depend on it, so a file
 * cannot be crafted to make every storage key land in one probe chain. */
static size_t tp_strhash(const tp *x, const char *s) {
  uint64_t h = x->hkey ^ 0x9E3779B97F4A7C15u;
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 0x100000001B3u;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdu;
  h ^= h >> 33;
  return (size_t)h;
}

/* The storage index of key, or nstorages when absent. */
static size_t tp_storage_find(const tp *x, const char *key) {
  if (!x->shcap) return x->r->nstorages;
  for (size_t i = tp_strhash(x, key) & (x->shcap - 1);;
       i = (i + 1) & (x->shcap - 1)) {
    size_t v = x->shash[i];
    if (!v) return x->r->nstorages;
    if (strcmp(x->r->storages[v - 1].key, key) == 0) return v - 1;
  }
}

/* Indexes storage k (after it was appended); grows the table. */
static bd_status tp_storage_index(tp *x, size_t k) {
  if ((k + 1) * 2 > x->shcap) {
    size_t cap = x->shcap ? x->shcap * 2 : 64;
    size_t *h = calloc(cap, sizeof *h);
    if (!h) return bd_fail(BD_ENOMEM, "out of host memory");
    free(x->shash);
    x->shash = h;
    x->shcap = cap;
    for (size_t j = 0; j < k; j++) {
      size_t i = tp_strhash(x, x->r->storages[j].key) & (cap - 1);
      while (h[i]) i = (i + 1) & (cap - 1);
      h[i] = j + 1;
    }
  }
  size_t i = tp_strhash(x, x->r->storages[k].key) & (x->shcap - 1);
  while (x->shash[i]) i = (i + 1) & (x->shcap - 1);
  x->shash[i] = k + 1;
  return BD_OK;
}

static const struct {
  const char *name;
  int dtype;
} tp_storages[] = {{"FloatStorage", BD_F32},
                   {"DoubleStorage", BD_F64},
                   {"HalfStorage", BD_F16},
                   {"BFloat16Storage", BD_BF16},
                   {"LongStorage", BD_I64},
                   {"IntStorage", -1},
                   {"ShortStorage", -1},
                   {"CharStorage", -1},
                   {"ByteStorage", -1},
                   {"BoolStorage", -1},
                   {"ComplexFloatStorage", -1},
                   {"ComplexDoubleStorage", -1},
                   {NULL, 0}};

static tp_val *tp_new(tp *x, tp_vkind k) {
  if (x->nall >= TP_MAX_VALUES) {
    bd_fail(BD_ELIMIT, "pickle: more than %d values", TP_MAX_VALUES);
    return NULL;
  }
  if (x->nall == x->capall) {
    size_t cap = x->capall ? x->capall * 2 : 256;
    tp_val **v = realloc(x->all, cap * sizeof *v);
    if (!v) {
      bd_fail(BD_ENOMEM, "out of host memory");
      return NULL;
    }
    x->all = v;
    x->capall = cap;
  }
  tp_val *v = calloc(1, sizeof *v);
  if (!v) {
    bd_fail(BD_ENOMEM, "out of host memory");
    return NULL;
  }
  v->k = k;
  x->all[x->nall++] = v;
  return v;
}

static bd_status tp_push(tp *x, tp_val *v) {
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  if (x->sp >= TP_MAX_STACK)
    return bd_fail(BD_ELIMIT, "pickle: stack deeper than %d", TP_MAX_STACK);
  if (x->sp == x->scap) {
    size_t cap = x->scap ? x->scap * 2 : 64;
    tp_val **s = realloc(x->stack, cap * sizeof *s);
    if (!s) return bd_fail(BD_ENOMEM, "out of host memory");
    x->stack = s;
    x->scap = cap;
  }
  x->stack[x->sp++] = v;
  return BD_OK;
}

static bd_status tp_add_item(tp_val *c, tp_val *v) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    tp_val **it = realloc(c->items, cap * sizeof *it);
    if (!it) return bd_fail(BD_ENOMEM, "out of host memory");
    c->items = it;
    c->cap = cap;
  }
  c->items[c->n++] = v;
  return BD_OK;
}

static bool tp_need(tp *x, size_t n) { return (size_t)(x->end - x->p) >= n; }

static uint64_t tp_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Items above the top mark, popping the mark. */
static bd_status tp_pop_mark(tp *x, size_t *from) {
  if (!x->nmarks) return bd_fail(BD_EFORMAT, "pickle: no MARK to pop");
  *from = x->marks[--x->nmarks];
  if (*from > x->sp) return bd_fail(BD_EFORMAT, "pickle: MARK above stack");
  return BD_OK;
}

static bd_status tp_global_op(tp *x) {
  const unsigned char *nl1 = memchr(x->p, '\n', (size_t)(x->end - x->p));
  if (!nl1) return bd_fail(BD_EFORMAT, "pickle: truncated GLOBAL");
  const unsigned char *nl2 = memchr(nl1 + 1, '\n', (size_t)(x->end - nl1 - 1));
  if (!nl2) return bd_fail(BD_EFORMAT, "pickle: truncated GLOBAL");
  char mod[128], name[128];
  size_t lm = (size_t)(nl1 - x->p), ln = (size_t)(nl2 - nl1 - 1);
  if (lm >= sizeof mod || ln >= sizeof name)
    return bd_fail(BD_EFORMAT, "pickle: GLOBAL name too long");
  memcpy(mod, x->p, lm);
  mod[lm] = 0;
  memcpy(name, nl1 + 1, ln);
  name[ln] = 0;
  x->p = nl2 + 1;
  tp_val *v = tp_new(x, V_GLOBAL);
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  if (strcmp(mod, "collections") == 0 && strcmp(name, "OrderedDict") == 0)
    v->i = G_ODICT;
  else if (strcmp(mod, "torch._utils") == 0 &&
           strcmp(name, "_rebuild_tensor_v2") == 0)
    v->i = G_REBUILD_V2;
  else if (strcmp(mod, "torch._utils") == 0 &&
           strcmp(name, "_rebuild_tensor") == 0)
    v->i = G_REBUILD;
  else if (strcmp(mod, "torch._utils") == 0 &&
           strcmp(name, "_rebuild_parameter") == 0)
    v->i = G_REBUILD_PARAM;
  else if (strcmp(mod, "torch") == 0) {
    for (int k = 0; tp_storages[k].name; k++)
      if (strcmp(name, tp_storages[k].name) == 0) {
        v->i = G_STORAGE;
        v->sdtype = tp_storages[k].dtype;
        v->sname = tp_storages[k].name;
      }
  }
  if (!v->i)
    return bd_fail(BD_EFORMAT,
                   "pickle: global '%.100s.%.100s' is not allowed (only "
                   "collections.OrderedDict, torch._utils._rebuild_tensor_v2 "
                   "/_rebuild_parameter and torch.*Storage)",
                   mod, name);
  return tp_push(x, v);
}

static bool tp_int(const tp_val *v, int64_t *out) {
  if (!v || v->k != V_INT) return false;
  *out = v->i;
  return true;
}

static bd_status tp_persid(tp *x) {
  if (!x->sp) return bd_fail(BD_EFORMAT, "pickle: BINPERSID on empty stack");
  tp_val *pid = x->stack[--x->sp];
  int64_t numel;
  if (pid->k != V_TUPLE || pid->n != 5 || pid->items[0]->k != V_STR ||
      strcmp(pid->items[0]->s, "storage") != 0 ||
      pid->items[1]->k != V_GLOBAL || pid->items[1]->i != G_STORAGE ||
      pid->items[2]->k != V_STR || pid->items[3]->k != V_STR ||
      !tp_int(pid->items[4], &numel) || numel < 0 || numel > BD_MAX_NUMEL)
    return bd_fail(BD_EFORMAT,
                   "pickle: persistent id is not ('storage', <Storage>, key, "
                   "location, numel)");
  const char *key = pid->items[2]->s;
  proto_tp_result *r = x->r;
  size_t k = tp_storage_find(x, key);
  if (k < r->nstorages) {
    if (r->storages[k].numel != numel ||
        r->storages[k].dtype != pid->items[1]->sdtype)
      return bd_fail(BD_EFORMAT,
                     "pickle: storage '%.32s' is declared twice "
                     "with different types or sizes",
                     key);
  } else {
    if (r->nstorages >= 1000000)
      return bd_fail(BD_ELIMIT, "pickle: too many storages");
    if (r->nstorages == x->stor_cap) {
      size_t cap = x->stor_cap ? x->stor_cap * 2 : 16;
      proto_tp_storage *ns = realloc(r->storages, cap * sizeof *ns);
      if (!ns) return bd_fail(BD_ENOMEM, "out of host memory");
      r->storages = ns;
      x->stor_cap = cap;
    }
    proto_tp_storage *ns = r->storages;
    ns[k].key = strdup(key);
    if (!ns[k].key) return bd_fail(BD_ENOMEM, "out of host memory");
    ns[k].dtype = pid->items[1]->sdtype;
    ns[k].type_name = pid->items[1]->sname;
    ns[k].numel = numel;
    r->nstorages++;
    bd_status s = tp_storage_index(x, k);
    if (s) return s;
  }
  tp_val *v = tp_new(x, V_STORAGE);
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  v->i = (int64_t)k;
  return tp_push(x, v);
}

/* size/stride: a tuple of ints. */
static bool tp_dims(const tp_val *v, int *nd, int64_t *out) {
  if (!v || v->k != V_TUPLE || v->n > BD_MAX_DIMS) return false;
  for (size_t i = 0; i < v->n; i++)
    if (!tp_int(v->items[i], &out[i])) return false;
  *nd = (int)v->n;
  return true;
}

static bd_status tp_reduce(tp *x) {
  if (x->sp < 2) return bd_fail(BD_EFORMAT, "pickle: REDUCE needs 2 items");
  tp_val *args = x->stack[--x->sp], *fn = x->stack[--x->sp];
  if (fn->k != V_GLOBAL || args->k != V_TUPLE)
    return bd_fail(BD_EFORMAT, "pickle: REDUCE of a non-callable");
  if (fn->i == G_ODICT) {
    if (args->n != 0)
      return bd_fail(BD_EFORMAT, "pickle: OrderedDict with arguments");
    return tp_push(x, tp_new(x, V_ODICT));
  }
  if (fn->i == G_REBUILD_PARAM) {
    if (args->n < 2 || args->items[0]->k != V_TENSOR)
      return bd_fail(BD_EFORMAT, "pickle: malformed _rebuild_parameter");
    return tp_push(x, args->items[0]);
  }
  if (fn->i == G_REBUILD_V2 || fn->i == G_REBUILD) {
    size_t want = fn->i == G_REBUILD ? 4 : 6;
    if (args->n < want || args->n > 7 || args->items[0]->k != V_STORAGE)
      return bd_fail(BD_EFORMAT, "pickle: malformed _rebuild_tensor call");
    tp_val *v = tp_new(x, V_TENSOR);
    if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
    v->t = calloc(1, sizeof *v->t);
    if (!v->t) return bd_fail(BD_ENOMEM, "out of host memory");
    int nd2;
    v->t->storage = (size_t)args->items[0]->i;
    if (!tp_int(args->items[1], &v->t->offset) ||
        !tp_dims(args->items[2], &v->t->ndim, v->t->shape) ||
        !tp_dims(args->items[3], &nd2, v->t->stride) || nd2 != v->t->ndim)
      return bd_fail(BD_EFORMAT,
                     "pickle: tensor offset/size/stride are not "
                     "integers of matching rank <= %d",
                     BD_MAX_DIMS);
    return tp_push(x, v);
  }
  return bd_fail(BD_EFORMAT, "pickle: REDUCE of a storage type");
}

/* PROTO: checks the protocol byte (0..5) and steps past it. */
static bd_status tp_op_proto(tp *x) {
  if (!tp_need(x, 1)) return bd_fail(BD_EFORMAT, "pickle: truncated");
  if (*x->p > 5) return bd_fail(BD_EFORMAT, "pickle: protocol %d", *x->p);
  x->p++;
  return BD_OK;
}

/* STOP: succeeds only when exactly the result is on the stack and no MARK
 * is open; either way the run ends here. */
static bd_status tp_op_stop(const tp *x) {
  if (x->sp != 1 || x->nmarks)
    return bd_fail(BD_EFORMAT,
                   "pickle: STOP with %zu items on the "
                   "stack",
                   x->sp);
  return BD_OK;
}

/* MARK: remembers the stack height, up to TP_MAX_MARKS open marks. */
static bd_status tp_op_mark(tp *x) {
  if (x->nmarks >= TP_MAX_MARKS)
    return bd_fail(BD_ELIMIT, "pickle: more than %d nested MARKs",
                   TP_MAX_MARKS);
  x->marks[x->nmarks++] = x->sp;
  return BD_OK;
}

/* TUPLE, EMPTY_TUPLE, TUPLE1..3: replaces the items above the mark (or the
 * top 0..3 items) with one tuple holding them in order. */
static bd_status tp_op_tuple(tp *x, unsigned char op) {
  bd_status s;
  size_t n, from = 0;
  if (op == 't') {
    if ((s = tp_pop_mark(x, &from))) return s;
    n = x->sp - from;
  } else {
    n = op == ')' ? 0 : (size_t)(op - 0x84);
    if (x->sp < n) return bd_fail(BD_EFORMAT, "pickle: stack underflow");
    from = x->sp - n;
  }
  tp_val *v = tp_new(x, V_TUPLE);
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  for (size_t i = from; i < x->sp; i++)
    if ((s = tp_add_item(v, x->stack[i]))) return s;
  x->sp = from;
  return tp_push(x, v);
}

/* NEWTRUE, NEWFALSE: pushes the boolean. */
static bd_status tp_op_bool(tp *x, unsigned char op) {
  tp_val *v = tp_new(x, V_BOOL);
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  v->i = op == 0x88;
  return tp_push(x, v);
}

/* BININT, BININT1, BININT2, LONG1: reads a little-endian integer (LONG1
 * is signed and at most 8 bytes) and pushes it. */
static bd_status tp_op_int(tp *x, unsigned char op) {
  int n = op == 'J' ? 4 : op == 'K' ? 1 : op == 'M' ? 2 : -1;
  if (n < 0) {
    if (!tp_need(x, 1)) return bd_fail(BD_EFORMAT, "pickle: truncated");
    n = *x->p++;
    if (n > 8)
      return bd_fail(BD_ELIMIT, "pickle: LONG1 of %d bytes (max 8)", n);
  }
  if (!tp_need(x, (size_t)n))
    return bd_fail(BD_EFORMAT, "pickle: truncated integer");
  uint64_t u = tp_le(x->p, n);
  int64_t v64;
  if (op == 'J')
    v64 = (int32_t)(uint32_t)u;
  else if (op == 0x8a && n > 0 && n < 8 && (x->p[n - 1] & 0x80))
    v64 = (int64_t)(u | (~(uint64_t)0 << (8 * n)));
  else
    v64 = (int64_t)u;
  x->p += n;
  tp_val *v = tp_new(x, V_INT);
  if (!v) return bd_fail(BD_ENOMEM, "pickle: out of host memory");
  v->i = v64;
  return tp_push(x, v);
}

/* BINFLOAT: skips the 8-byte value (blockd never needs it) and pushes a
 * placeholder. */
static bd_status tp_op_float(tp *x) {
  if (!tp_need(x, 8)) return bd_fail(BD_EFORMAT, "pickle: truncated");
  x->p += 8;
  return tp_push(x, tp_new(x, V_FLOAT));
}

/* BINUNICODE, SHORT_BINSTRING: pushes an owned, NUL-free copy of the
 * string, at most TP_MAX_STR bytes. */
static bd_status tp_op_str(tp *x, unsigned char op) {
  int w = op == 'X' ? 4 : 1;
  if (!tp_need(x, (size_t)w))
    return bd_fail(BD_EFORMAT, "pickle: truncated string");
  uint64_t n = tp_le(x->p, w);
  x->p += w;
  if (n > TP_MAX_STR || !tp_need(x, (size_t)n))
    return bd_fail(BD_EFORMAT,
                   "pickle: string of %llu bytes runs past "
                   "the end or exceeds %u",
                   (unsigned long long)n, TP_MAX_STR);
  if (memchr(x->p, 0, (size_t)n))
    return bd_fail(BD_EFORMAT, "pickle: NUL inside a string");
  tp_val *v = tp_new(x, V_STR);
  if (!v || !(v->s = malloc((size_t)n + 1)))
    return bd_fail(BD_ENOMEM, "out of host memory");
  memcpy(v->s, x->p, (size_t)n);
  v->s[n] = 0;
  v->slen = (size_t)n;
  x->p += n;
  return tp_push(x, v);
}

/* BINPUT, LONG_BINPUT: stores the top of the stack in the memo, growing
 * it up to TP_MAX_MEMO slots. */
static bd_status tp_op_put(tp *x, unsigned char op) {
  int w = op == 'q' ? 1 : 4;
  if (!tp_need(x, (size_t)w) || !x->sp)
    return bd_fail(BD_EFORMAT, "pickle: bad PUT");
  uint64_t idx = tp_le(x->p, w);
  x->p += w;
  if (idx >= TP_MAX_MEMO)
    return bd_fail(BD_ELIMIT, "pickle: memo index %llu over %u",
                   (unsigned long long)idx, TP_MAX_MEMO);
  if (idx >= x->nmemo) {
    size_t n = (size_t)idx + 1 > x->nmemo * 2 ? (size_t)idx + 1 : x->nmemo * 2;
    tp_val **m = realloc(x->memo, n * sizeof *m);
    if (!m) return bd_fail(BD_ENOMEM, "out of host memory");
    memset(m + x->nmemo, 0, (n - x->nmemo) * sizeof *m);
    x->memo = m;
    x->nmemo = n;
  }
  x->memo[idx] = x->stack[x->sp - 1];
  return BD_OK;
}

/* BINGET, LONG_BINGET: pushes a memo entry that was set before. */
static bd_status tp_op_get(tp *x, unsigned char op) {
  int w = op == 'h' ? 1 : 4;
  if (!tp_need(x, (size_t)w))
    return bd_fail(BD_EFORMAT, "pickle: truncated GET");
  uint64_t idx = tp_le(x->p, w);
  x->p += w;
  if (idx >= x->nmemo || !x->memo[idx])
    return bd_fail(BD_EFORMAT, "pickle: GET of unset memo %llu",
                   (unsigned long long)idx);
  return tp_push(x, x->memo[idx]);
}

/* APPEND, APPENDS: moves the top item (or the items above the mark) into
 * the list below them. */
static bd_status tp_op_append(tp *x, unsigned char op) {
  bd_status s;
  size_t from = 0;
  if (op == 'a') {
    if (x->sp < 2) return bd_fail(BD_EFORMAT, "pickle: bad APPEND");
    from = x->sp - 1;
  } else if ((s = tp_pop_mark(x, &from))) {
    return s;
  }
  if (from == 0 || x->stack[from - 1]->k != V_LIST)
    return bd_fail(BD_EFORMAT, "pickle: APPEND to a non-list");
  for (size_t i = from; i < x->sp; i++)
    if ((s = tp_add_item(x->stack[from - 1], x->stack[i]))) return s;
  x->sp = from;
  return BD_OK;
}

/* SETITEM, SETITEMS: moves the top key/value pair (or the pairs above the
 * mark) into the dict or OrderedDict below them. */
static bd_status tp_op_setitems(tp *x, unsigned char op) {
  bd_status s;
  size_t from = 0;
  if (op == 's') {
    if (x->sp < 3) return bd_fail(BD_EFORMAT, "pickle: bad SETITEM");
    from = x->sp - 2;
  } else if ((s = tp_pop_mark(x, &from))) {
    return s;
  }
  if ((x->sp - from) % 2 || from == 0 ||
      (x->stack[from - 1]->k != V_DICT && x->stack[from - 1]->k != V_ODICT))
    return bd_fail(BD_EFORMAT, "pickle: SETITEMS on a non-dict");
  tp_val *d = x->stack[from - 1];
  for (size_t i = from; i < x->sp; i++)
    if ((s = tp_add_item(d, x->stack[i]))) return s;
  x->sp = from;
  return BD_OK;
}

/* BUILD: drops the state (a state_dict's _metadata, a tensor's state);
 * only OrderedDicts and tensors may be built. */
static bd_status tp_op_build(tp *x) {
  if (x->sp < 2) return bd_fail(BD_EFORMAT, "pickle: bad BUILD");
  tp_val *obj = x->stack[x->sp - 2];
  if (obj->k != V_ODICT && obj->k != V_TENSOR)
    return bd_fail(BD_EFORMAT,
                   "pickle: BUILD on something other than "
                   "an OrderedDict or tensor");
  x->sp--;
  return BD_OK;
}

/* Runs the pickle to its STOP: one case per allowed opcode, anything else
 * is rejected with its byte position. */
static bd_status tp_run(tp *x) {
  while (x->p < x->end) {
    unsigned char op = *x->p++;
    bd_status s = BD_OK;
    switch (op) {
      case 0x80:
        s = tp_op_proto(x);
        break;
      case '.':
        return tp_op_stop(x);
      case 'c':
        s = tp_global_op(x);
        break;
      case 'Q':
        s = tp_persid(x);
        break;
      case 'R':
        s = tp_reduce(x);
        break;
      case '(':
        s = tp_op_mark(x);
        break;
      case 't':
      case ')':
      case 0x85:
      case 0x86:
      case 0x87:
        s = tp_op_tuple(x, op);
        break;
      case ']':
        s = tp_push(x, tp_new(x, V_LIST));
        break;
      case '}':
        s = tp_push(x, tp_new(x, V_DICT));
        break;
      case 'N':
        s = tp_push(x, tp_new(x, V_NONE));
        break;
      case 0x88:
      case 0x89:
        s = tp_op_bool(x, op);
        break;
      case 'J':
      case 'K':
      case 'M':
      case 0x8a:
        s = tp_op_int(x, op);
        break;
      case 'G':
        s = tp_op_float(x);
        break;
      case 'X':
      case 'U':
        s = tp_op_str(x, op);
        break;
      case 'q':
      case 'r':
        s = tp_op_put(x, op);
        break;
      case 'h':
      case 'j':
        s = tp_op_get(x, op);
        break;
      case 'a':
      case 'e':
        s = tp_op_append(x, op);
        break;
      case 's':
      case 'u':
        s = tp_op_setitems(x, op);
        break;
      case 'b':
        s = tp_op_build(x);
        break;
      default:
        return bd_fail(BD_EFORMAT,
                       "pickle: opcode 0x%02x at byte %ld is not "
                       "allowed",
                       op, (long)(x->p - 1 - x->start));
    }
    if (s) return s;
  }
  return bd_fail(BD_EFORMAT, "pickle: no STOP opcode");
}

static bd_status tp_take(tp *x, const tp_val *v, const char *name) {
  if (v->k != V_TENSOR)
    return bd_fail(BD_EUNSUPPORTED, "pickle: value '%.100s' is not a tensor",
                   name);
  proto_tp_result *r = x->r; /* arrays sized by the caller */
  if (!(r->names[r->n] = strdup(name)))
    return bd_fail(BD_ENOMEM, "out of host memory");
  r->tensors[r->n] = *v->t;
  r->n++;
  return BD_OK;
}

bd_status proto_torch_pickle_read(const void *pkl, size_t len,
                                  proto_tp_result *out) {
  memset(out, 0, sizeof *out);
  tp x = {.p = pkl,
          .start = pkl,
          .end = (const unsigned char *)pkl + len,
          .r = out};
  if (getrandom(&x.hkey, sizeof x.hkey, GRND_NONBLOCK) != sizeof x.hkey)
    x.hkey = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&x;
  bd_status s = tp_run(&x);
  if (!s) {
    const tp_val *top = x.stack[0];
    char nm[32];
    size_t cnt = top->n + 1;
    out->names = calloc(cnt, sizeof *out->names);
    out->tensors = calloc(cnt, sizeof *out->tensors);
    if (!out->names || !out->tensors)
      s = bd_fail(BD_ENOMEM, "out of host memory");
    switch (s ? V_NONE : top->k) {
      case V_TENSOR:
        out->kind = PROTO_TFILE_TENSOR;
        s = tp_take(&x, top, "tensor");
        break;
      case V_LIST:
      case V_TUPLE:
        out->kind = PROTO_TFILE_LIST;
        for (size_t i = 0; !s && i < top->n; i++) {
          snprintf(nm, sizeof nm, "%zu", i);
          s = tp_take(&x, top->items[i], nm);
        }
        break;
      case V_DICT:
      case V_ODICT:
        out->kind =
            top->k == V_DICT ? PROTO_TFILE_DICT : PROTO_TFILE_STATE_DICT;
        for (size_t i = 0; !s && i + 1 < top->n; i += 2) {
          if (top->items[i]->k != V_STR)
            s = bd_fail(BD_EUNSUPPORTED, "pickle: dict key is not a string");
          else
            s = tp_take(&x, top->items[i + 1], top->items[i]->s);
        }
        break;
      default:
        if (!s)
          s = bd_fail(BD_EUNSUPPORTED,
                      "pickle: the object is not a tensor, "
                      "a list of tensors or a dict of tensors");
    }
  }
  for (size_t i = 0; i < x.nall; i++) {
    free(x.all[i]->s);
    free(x.all[i]->items);
    free(x.all[i]->t);
    free(x.all[i]);
  }
  free(x.all);
  free(x.stack);
  free(x.memo);
  free(x.shash);
  if (s) proto_tp_result_free(out);
  return s;
}

void proto_tp_result_free(proto_tp_result *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) free(r->names[i]);
  for (size_t i = 0; i < r->nstorages; i++) free(r->storages[i].key);
  free(r->names);
  free(r->tensors);
  free(r->storages);
  memset(r, 0, sizeof *r);
}
