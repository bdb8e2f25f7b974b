/* npy.c - NumPy .npy codec (FORMATS.md §3).
 *
 * The writer reproduces numpy.save's v1.0 bytes exactly (sorted keys, the
 * spare "growth axis" spaces, padding so the data starts 64-aligned). The
 * reader never evaluates anything: a tiny parser accepts only a dict
 * literal with the three keys numpy writes, string / bool / int-tuple
 * values, and checks the data length exactly. */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER 10000
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21

static const char *npy__descr(bd_dtype dt) {
  switch (dt) {
    case BD_F32:
      return "<f4";
    case BD_F64:
      return "<f8";
    case BD_F16:
      return "<f2";
    case BD_I64:
      return "<i8";
    default:
      return NULL;
  }
}

bd_status proto_npy_write(proto_buf *b, const bd_tensor *t) {
  const char *descr = npy__descr(t->dtype);
  if (!descr)
    return bd_fail(BD_EUNSUPPORTED,
                   "dtype %s has no .npy equivalent (use safetensors or "
                   "JSON)",
                   bd_dtype_name(t->dtype));
  if (t->st->dev.type != BD_DEV_CPU)
    return bd_fail(BD_EINTERNAL, "npy: tensor is not on the CPU");
  char hdr[512];
  int n = snprintf(hdr, sizeof hdr,
                   "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < t->ndim; i++)
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%s%lld", i ? ", " : "",
                  (long long)t->shape[i]);
  n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%s), }",
                t->ndim == 1 ? "," : "");
  if (t->ndim > 0) {
    /* numpy leaves room to grow axis 0 in place: 21 - len(repr(shape[0])). */
    char d0[32];
    int l0 = snprintf(d0, sizeof d0, "%lld", (long long)t->shape[0]);
    for (int i = l0; i < NPY_GROWTH_DIGITS; i++) hdr[n++] = ' ';
  }
  size_t hlen = (size_t)n + 1; /* + '\n' */
  size_t pad = NPY_ALIGN - ((NPY_MAGIC_LEN + 2 + 2 + hlen) % NPY_ALIGN);
  if (pad == NPY_ALIGN) pad = 0;
  size_t total = hlen + pad;
  unsigned char pre[10];
  memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = (unsigned char)(total & 0xff);
  pre[9] = (unsigned char)(total >> 8);
  proto_buf_put(b, pre, sizeof pre);
  proto_buf_put(b, hdr, (size_t)n);
  static const char spaces[NPY_ALIGN] = {[0 ... NPY_ALIGN - 1] = ' '};
  proto_buf_put(b, spaces, pad);
  proto_buf_put(b, "\n", 1);
  proto_buf_put(b, bd_tensor_data(t), bd_tensor_nbytes(t));
  if (b->oom) return bd_fail(BD_ENOMEM, "npy: out of memory encoding");
  return BD_OK;
}

/* ---- the literal parser ------------------------------------------------ */

typedef struct npy__p {
  const char *s, *end;
} npy__p;

static void npy__ws(npy__p *p) {
  while (p->s < p->end &&
         (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static bool npy__eat(npy__p *p, char c) {
  npy__ws(p);
  if (p->s < p->end && *p->s == c) {
    p->s++;
    return true;
  }
  return false;
}

/* A quoted string without escapes (numpy never writes any). */
static bool npy__str(npy__p *p, char *out, size_t cap) {
  npy__ws(p);
  if (p->s >= p->end || (*p->s != '\'' && *p->s != '"')) return false;
  char q = *p->s++;
  size_t n = 0;
  while (p->s < p->end && *p->s != q) {
    if (*p->s == '\\' || n + 1 >= cap) return false;
    out[n++] = *p->s++;
  }
  if (p->s >= p->end) return false;
  p->s++;
  out[n] = '\0';
  return true;
}

static bool npy__word(npy__p *p, const char *w) {
  npy__ws(p);
  size_t n = strlen(w);
  if ((size_t)(p->end - p->s) >= n && memcmp(p->s, w, n) == 0) {
    p->s += n;
    return true;
  }
  return false;
}

static bool npy__int(npy__p *p, int64_t *out) {
  npy__ws(p);
  int64_t v = 0;
  int digits = 0;
  while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (*p->s++ - '0');
    digits++;
  }
  if (!digits) return false;
  if (p->s < p->end && (*p->s == 'L' || *p->s == 'l')) p->s++; /* py2 */
  *out = v;
  return true;
}

static bd_status npy__bad(const char *why) {
  return bd_fail(BD_EFORMAT, ".npy header: %s", why);
}

/* Checks the magic and version (1.0, 2.0 or 3.0) of the len-byte file u and
 * reads the header length *hlen (at most NPY_MAX_HEADER, inside the file)
 * and the offset *pre where the header starts; the header holds no NUL. */
static bd_status npy__preamble(const unsigned char *u, size_t len, size_t *pre,
                               uint64_t *hlen) {
  if (len < 10 || memcmp(u, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
    return bd_fail(BD_EFORMAT, "not a .npy file (bad magic)");
  unsigned major = u[6], minor = u[7];
  if (minor != 0 || major < 1 || major > 3)
    return bd_fail(BD_EFORMAT, ".npy version %u.%u is not 1.0, 2.0 or 3.0",
                   major, minor);
  *pre = major == 1 ? 10 : 12;
  if (len < *pre) return npy__bad("truncated before the header length");
  *hlen = major == 1 ? (uint64_t)u[8] | (uint64_t)u[9] << 8
                     : (uint64_t)u[8] | (uint64_t)u[9] << 8 |
                           (uint64_t)u[10] << 16 | (uint64_t)u[11] << 24;
  if (*hlen > NPY_MAX_HEADER)
    return bd_fail(BD_EFORMAT, ".npy header of %llu bytes exceeds %d",
                   (unsigned long long)*hlen, NPY_MAX_HEADER);
  if (*hlen > len - *pre) return npy__bad("header runs past the end of data");
  for (const unsigned char *c = u + *pre; c < u + *pre + *hlen; c++)
    if (*c == '\0') return npy__bad("NUL byte in header");
  return BD_OK;
}

/* Parses the shape tuple at p into *ndim and shape (at most BD_MAX_DIMS
 * non-negative integers, a trailing comma allowed). */
static bd_status npy__shape(npy__p *p, int *ndim, int64_t *shape) {
  if (!npy__eat(p, '(')) return npy__bad("shape is not a tuple");
  *ndim = 0;
  for (;;) {
    if (npy__eat(p, ')')) break;
    if (*ndim == BD_MAX_DIMS)
      return bd_fail(BD_ELIMIT, ".npy shape has more than %d dims",
                     BD_MAX_DIMS);
    if (!npy__int(p, &shape[*ndim]))
      return npy__bad("shape holds a non-integer");
    ++*ndim;
    if (npy__eat(p, ',')) continue;
    if (npy__eat(p, ')')) break;
    return npy__bad("malformed shape tuple");
  }
  return BD_OK;
}

/* What the header dict says. */
typedef struct npy__hdr {
  char descr[16];
  int fortran, ndim;
  int64_t shape[BD_MAX_DIMS];
} npy__hdr;

/* Parses the value of key at p into h and sets *bit to the key's bit in
 * the set of seen keys; an unknown key is an error. */
static bd_status npy__value(npy__p *p, const char *key, npy__hdr *h, int *bit) {
  if (strcmp(key, "descr") == 0) {
    *bit = 1;
    if (!npy__str(p, h->descr, sizeof h->descr))
      return bd_fail(BD_EUNSUPPORTED,
                     ".npy descr is not a simple dtype string (structured "
                     "dtypes are not supported)");
  } else if (strcmp(key, "fortran_order") == 0) {
    *bit = 2;
    if (npy__word(p, "True"))
      h->fortran = 1;
    else if (npy__word(p, "False"))
      h->fortran = 0;
    else
      return npy__bad("fortran_order is not True/False");
  } else if (strcmp(key, "shape") == 0) {
    *bit = 4;
    return npy__shape(p, &h->ndim, h->shape);
  } else {
    return bd_fail(BD_EFORMAT, ".npy header has unexpected key '%s'", key);
  }
  return BD_OK;
}

/* Parses the header dict literal at p, which must hold exactly the keys
 * descr, fortran_order and shape once each and nothing after it. */
static bd_status npy__dict(npy__p *p, npy__hdr *h) {
  int seen = 0;
  if (!npy__eat(p, '{')) return npy__bad("does not start with '{'");
  for (;;) {
    if (npy__eat(p, '}')) break;
    char key[32];
    if (!npy__str(p, key, sizeof key)) return npy__bad("expected a key");
    if (!npy__eat(p, ':')) return npy__bad("expected ':'");
    int bit = 0;
    bd_status s = npy__value(p, key, h, &bit);
    if (s) return s;
    if (seen & bit)
      return bd_fail(BD_EFORMAT, ".npy header repeats key '%s'", key);
    seen |= bit;
    if (npy__eat(p, ',')) continue;
    if (npy__eat(p, '}')) break;
    return npy__bad("expected ',' or '}'");
  }
  npy__ws(p);
  if (p->s != p->end) return npy__bad("trailing bytes after the dict");
  if (seen != 7)
    return npy__bad("needs exactly the keys descr, fortran_order, shape");
  return BD_OK;
}

/* Maps a header's descr to the dtype it holds: little-endian f4, f8, f2
 * and i8 only. */
static bd_status npy__dtype(const char *descr, bd_dtype *dt) {
  if (strcmp(descr, "<f4") == 0)
    *dt = BD_F32;
  else if (strcmp(descr, "<f8") == 0)
    *dt = BD_F64;
  else if (strcmp(descr, "<f2") == 0)
    *dt = BD_F16;
  else if (strcmp(descr, "<i8") == 0)
    *dt = BD_I64;
  else
    return bd_fail(BD_EUNSUPPORTED,
                   ".npy dtype '%s' is not supported (use <f4, <f8, <f2 or "
                   "<i8)",
                   descr);
  return BD_OK;
}

bd_status proto_npy_read(const void *data, size_t len, int64_t max_elems,
                         bd_tensor **out) {
  const unsigned char *u = data;
  *out = NULL;
  size_t pre = 0;
  uint64_t hlen = 0;
  bd_status s = npy__preamble(u, len, &pre, &hlen);
  if (s) return s;
  npy__p p = {(const char *)u + pre, (const char *)u + pre + hlen};
  npy__hdr h = {.descr = "", .fortran = -1, .ndim = -1};
  s = npy__dict(&p, &h);
  if (s) return s;
  bd_dtype dt = BD_F32;
  s = npy__dtype(h.descr, &dt);
  if (s) return s;
  if (h.fortran)
    return bd_fail(BD_EUNSUPPORTED,
                   ".npy fortran_order True is not supported (save a "
                   "C-contiguous array)");
  int64_t numel;
  s = bd_shape_numel(h.ndim, h.shape, &numel);
  if (s) return bd_fail_prefix(s, ".npy shape: ");
  int64_t span = bd_shape_span(h.ndim, h.shape); /* [N, 0] still has N rows */
  if (max_elems > 0 && span > max_elems)
    return bd_fail(BD_ELIMIT, ".npy array of %lld elements%s exceeds %lld",
                   (long long)span,
                   span != numel ? " (counting non-zero dimensions)" : "",
                   (long long)max_elems);
  size_t want = (size_t)numel * bd_dtype_size(dt);
  size_t have = len - pre - (size_t)hlen;
  if (have != want)
    return bd_fail(BD_EFORMAT,
                   ".npy data is %zu bytes but shape and dtype need %zu", have,
                   want);
  bd_tensor *t;
  s = bd_tensor_new(BD_CPU, dt, h.ndim, h.shape, &t);
  if (s) return s;
  if (want) memcpy(bd_tensor_data(t), u + pre + hlen, want);
  *out = t;
  return BD_OK;
}
