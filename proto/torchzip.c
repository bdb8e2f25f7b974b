/* torchzip.c - the torch.save zip container: writer and strict reader. */
#include "torchzip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "torch_pickle.h"

#define TZ_ALIGN 64
#define TZ_MAX_ENTRIES 1100000u

static void le16(unsigned char *p, uint64_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t rd(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint32_t tz_crc(const void *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const unsigned char *u = p;
  while (n) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, u, k);
    u += k;
    n -= k;
  }
  return (uint32_t)c;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct tz_entry {
  char *name;
  const void *data;
  size_t len;
  uint32_t crc;
  uint64_t off; /* local header offset */
} tz_entry;

typedef struct tz_w {
  proto_sink sink;
  uint64_t pos;
  bd_status s;
} tz_w;

static void tz_put(tz_w *w, const void *p, size_t n) {
  if (w->s) return;
  w->s = w->sink.write(w->sink.ctx, p, n);
  w->pos += n;
}

static void tz_local(tz_w *w, tz_entry *e) {
  size_t nl = strlen(e->name);
  bool z64 = e->len >= 0xffffffffu;
  e->off = w->pos;
  uint64_t start = w->pos + 30 + nl + (z64 ? 20 : 0) + 4;
  size_t pad = (size_t)((TZ_ALIGN - start % TZ_ALIGN) % TZ_ALIGN);
  unsigned char h[30 + 20 + 4 + TZ_ALIGN];
  memset(h, 0, sizeof h);
  le32(h, 0x04034b50);
  le16(h + 4, z64 ? 45 : 20);
  le16(h + 6, 0x0800); /* UTF-8 names */
  le32(h + 14, e->crc);
  le32(h + 18, z64 ? 0xffffffffu : e->len);
  le32(h + 22, z64 ? 0xffffffffu : e->len);
  le16(h + 26, nl);
  le16(h + 28, (z64 ? 20 : 0) + 4 + pad);
  tz_put(w, h, 30);
  tz_put(w, e->name, nl);
  size_t x = 0;
  if (z64) {
    le16(h + x, 1);
    le16(h + x + 2, 16);
    le64(h + x + 4, e->len);
    le64(h + x + 12, e->len);
    x += 20;
  }
  h[x] = 'F';
  h[x + 1] = 'B';
  le16(h + x + 2, pad);
  memset(h + x + 4, 'Z', pad);
  tz_put(w, h, x + 4 + pad);
  tz_put(w, e->data, e->len);
}

static void tz_central(tz_w *w, const tz_entry *e) {
  size_t nl = strlen(e->name);
  bool zl = e->len >= 0xffffffffu, zo = e->off >= 0xffffffffu;
  size_t xl = (zl || zo) ? 4 + (zl ? 16 : 0) + (zo ? 8 : 0) : 0;
  unsigned char h[46 + 28];
  memset(h, 0, sizeof h);
  le32(h, 0x02014b50);
  le16(h + 4, 45);
  le16(h + 6, xl ? 45 : 20);
  le16(h + 8, 0x0800);
  le32(h + 16, e->crc);
  le32(h + 20, zl ? 0xffffffffu : e->len);
  le32(h + 24, zl ? 0xffffffffu : e->len);
  le16(h + 28, nl);
  le16(h + 30, xl);
  le32(h + 42, zo ? 0xffffffffu : e->off);
  tz_put(w, h, 46);
  tz_put(w, e->name, nl);
  if (xl) {
    unsigned char *x = h;
    le16(x, 1);
    le16(x + 2, xl - 4);
    size_t k = 4;
    if (zl) {
      le64(x + k, e->len);
      le64(x + k + 8, e->len);
      k += 16;
    }
    if (zo) le64(x + k, e->off);
    tz_put(w, x, xl);
  }
}

bd_status proto_torchzip_write(const proto_tfile *f, const char *prefix,
                               proto_sink sink) {
  char pre[128];
  size_t pl = 0;
  for (const char *c = prefix ? prefix : "archive"; *c && pl < 100; c++)
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
        (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.')
      pre[pl++] = *c;
  pre[pl] = 0;
  if (!pl) snprintf(pre, sizeof pre, "archive");
  size_t n = f->list.n;
  size_t *skey = calloc(n + 1, sizeof *skey);
  int64_t *soff = calloc(n + 1, sizeof *soff);
  bd_dtype *sdt = calloc(n + 1, sizeof *sdt);
  int64_t *snumel = calloc(n + 1, sizeof *snumel);
  const void **sdata = calloc(n + 1, sizeof *sdata);
  const bd_storage **sst = calloc(n + 1, sizeof *sst);
  tz_entry *ents = calloc(n + 5, sizeof *ents);
  proto_buf pkl = {0};
  size_t nk = 0, ne = 0, *hash = NULL;
  bd_status s = BD_OK;
  if (!skey || !soff || !sdt || !snumel || !sdata || !sst || !ents) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  /* Storages: tensors over the same bd_storage (tied parameters, reshapes)
   * share one data/<k> holding the whole storage. An open-addressing table
   * keyed by the storage pointer finds earlier ones. */
  size_t hcap = 64;
  while (hcap < 2 * (n + 1)) hcap *= 2;
  hash = calloc(hcap, sizeof *hash); /* key index + 1, 0 = empty */
  if (!hash) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const bd_tensor *t = f->list.tensors[i];
    if (bd_tensor_device(t).type != BD_DEV_CPU) {
      s = bd_fail(BD_EUNSUPPORTED,
                  "torch zip: tensor '%s' is not on the "
                  "host",
                  f->list.names[i]);
      goto out;
    }
    size_t es = bd_dtype_size(t->dtype);
    bool whole = t->st->nbytes % es == 0 && t->offset % es == 0;
    size_t k = nk, slot = 0;
    if (whole) {
      slot = ((uintptr_t)t->st >> 4) * 11400714819323198485u & (hcap - 1);
      for (; hash[slot]; slot = (slot + 1) & (hcap - 1))
        if (sst[hash[slot] - 1] == t->st && sdt[hash[slot] - 1] == t->dtype) {
          k = hash[slot] - 1;
          break;
        }
    }
    if (k == nk) {
      if (whole) hash[slot] = nk + 1;
      sdt[k] = t->dtype;
      sst[k] = whole ? t->st : NULL;
      sdata[k] = whole ? t->st->data : bd_tensor_data(t);
      snumel[k] = whole ? (int64_t)(t->st->nbytes / es) : bd_tensor_numel(t);
      nk++;
    }
    skey[i] = k;
    soff[i] = whole ? (int64_t)(t->offset / es) : 0;
  }
  s = proto_torch_pickle_write(f, skey, soff, sdt, snumel, &pkl);
  if (s) goto out;
  char nm[200]; /* pre (< 128) + "/data/" + a 31-byte key fits */
#define TZ_ADD(nmfmt, arg, d, l)                        \
  do {                                                  \
    snprintf(nm, sizeof nm, nmfmt, pre, arg);           \
    if (!(ents[ne].name = strdup(nm))) {                \
      s = bd_fail(BD_ENOMEM, "out of host memory");     \
      goto out;                                         \
    }                                                   \
    ents[ne].data = (d);                                \
    ents[ne].len = (l);                                 \
    ents[ne].crc = tz_crc(ents[ne].data, ents[ne].len); \
    ne++;                                               \
  } while (0)
  TZ_ADD("%s/data.pkl%s", "", pkl.data, pkl.len);
  TZ_ADD("%s/byteorder%s", "", "little", 6);
  for (size_t k = 0; k < nk; k++) {
    char key[32];
    snprintf(key, sizeof key, "%zu", k);
    TZ_ADD("%s/data/%s", key, sdata[k],
           (size_t)snumel[k] * bd_dtype_size(sdt[k]));
  }
  TZ_ADD("%s/version%s", "", "3\n", 2);
  if (f->spec)
    TZ_ADD("%s/.data/blockd_spec.json%s", "", f->spec, strlen(f->spec));
#undef TZ_ADD
  tz_w w = {sink, 0, BD_OK};
  for (size_t i = 0; i < ne; i++) tz_local(&w, &ents[i]);
  uint64_t cd_off = w.pos;
  for (size_t i = 0; i < ne; i++) tz_central(&w, &ents[i]);
  uint64_t cd_size = w.pos - cd_off;
  unsigned char h[56 + 20 + 22];
  memset(h, 0, sizeof h);
  bool z64 = ne >= 0xffff || cd_off >= 0xffffffffu || cd_size >= 0xffffffffu;
  if (z64) {
    uint64_t eocd64 = w.pos;
    le32(h, 0x06064b50);
    le64(h + 4, 44);
    le16(h + 12, 45);
    le16(h + 14, 45);
    le64(h + 24, ne);
    le64(h + 32, ne);
    le64(h + 40, cd_size);
    le64(h + 48, cd_off);
    le32(h + 56, 0x07064b50);
    le64(h + 64, eocd64);
    le32(h + 72, 1);
    tz_put(&w, h, 76);
    memset(h, 0, sizeof h);
  }
  le32(h, 0x06054b50);
  le16(h + 8, z64 ? 0xffff : ne);
  le16(h + 10, z64 ? 0xffff : ne);
  le32(h + 12, z64 ? 0xffffffffu : cd_size);
  le32(h + 16, z64 ? 0xffffffffu : cd_off);
  tz_put(&w, h, 22);
  s = w.s;
out:
  free(hash);
  for (size_t i = 0; ents && i < ne; i++) free(ents[i].name);
  free(ents);
  free(skey);
  free(soff);
  free(sdt);
  free(snumel);
  free(sdata);
  free(sst);
  proto_buf_free(&pkl);
  return s;
}

/* ---- reader ------------------------------------------------------------- */

bool proto_torchzip_sniff(const void *data, size_t len) {
  return len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0;
}

typedef struct tz_rent {
  const char *name; /* points into the central directory */
  size_t nlen;
  const unsigned char *data;
  uint64_t len;
} tz_rent;

static int tz_rent_cmp(const void *a, const void *b) {
  const tz_rent *x = a, *y = b;
  size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
  int c = memcmp(x->name, y->name, n);
  if (c) return c;
  return x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
}

static const tz_rent *tz_find(const tz_rent *v, size_t n, const char *pre,
                              const char *rest) {
  char nm[300];
  int l = snprintf(nm, sizeof nm, "%s/%s", pre, rest);
  if (l < 0 || (size_t)l >= sizeof nm) return NULL;
  tz_rent key = {nm, (size_t)l, NULL, 0};
  return bsearch(&key, v, n, sizeof *v, tz_rent_cmp);
}

/* Parses the central directory into *out (sorted by name). */
static bd_status tz_dir(const unsigned char *u, size_t len, tz_rent **out,
                        size_t *nout, char *pre, size_t precap) {
  *out = NULL;
  if (len < 22) return bd_fail(BD_EFORMAT, "torch zip: file too short");
  size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0, e = len - 22 + 1;
  bool found = false;
  while (e-- > lo)
    if (rd(u + e, 4) == 0x06054b50 && e + 22 + rd(u + e + 20, 2) <= len) {
      found = true;
      break;
    }
  if (!found)
    return bd_fail(BD_EFORMAT, "torch zip: no end of central directory");
  uint64_t cnt = rd(u + e + 10, 2), cd_size = rd(u + e + 12, 4),
           cd_off = rd(u + e + 16, 4), cd_end = e;
  if (cnt == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
    if (e < 20 || rd(u + e - 20, 4) != 0x07064b50)
      return bd_fail(BD_EFORMAT, "torch zip: ZIP64 locator missing");
    uint64_t z = rd(u + e - 20 + 8, 8);
    if (z > e - 20 || e - 20 - z < 56 || rd(u + z, 4) != 0x06064b50)
      return bd_fail(BD_EFORMAT, "torch zip: bad ZIP64 end record");
    cnt = rd(u + z + 32, 8);
    cd_size = rd(u + z + 40, 8);
    cd_off = rd(u + z + 48, 8);
    cd_end = z;
  }
  if (cd_off > cd_end || cd_size > cd_end - cd_off)
    return bd_fail(BD_EFORMAT, "torch zip: central directory out of bounds");
  if (cnt > TZ_MAX_ENTRIES || cnt > cd_size / 46)
    return bd_fail(BD_EFORMAT,
                   "torch zip: %llu entries do not fit the "
                   "central directory",
                   (unsigned long long)cnt);
  if (cnt == 0) return bd_fail(BD_EFORMAT, "torch zip: empty archive");
  tz_rent *v = calloc((size_t)cnt, sizeof *v);
  if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
  const unsigned char *p = u + cd_off, *end = u + cd_off + cd_size;
  bd_status s = BD_OK;
  size_t prel = 0;
  for (uint64_t i = 0; i < cnt; i++) {
    if (end - p < 46 || rd(p, 4) != 0x02014b50) {
      s = bd_fail(BD_EFORMAT, "torch zip: bad central directory entry %llu",
                  (unsigned long long)i);
      break;
    }
    uint64_t flags = rd(p + 8, 2), method = rd(p + 10, 2);
    uint64_t csize = rd(p + 20, 4), usize = rd(p + 24, 4);
    size_t nl = rd(p + 28, 2), xl = rd(p + 30, 2), cl = rd(p + 32, 2);
    uint64_t off = rd(p + 42, 4);
    if ((size_t)(end - p) < 46 + nl + xl + cl) {
      s = bd_fail(BD_EFORMAT, "torch zip: central entry past the directory");
      break;
    }
    const char *name = (const char *)p + 46;
    /* ZIP64 extra: the fields that are 0xffffffff, in order. */
    for (const unsigned char *x = p + 46 + nl, *xe = x + xl; xe - x >= 4;) {
      size_t id = rd(x, 2), sz = rd(x + 2, 2);
      if ((size_t)(xe - x - 4) < sz) break;
      if (id == 1) {
        const unsigned char *f = x + 4, *fe = x + 4 + sz;
        if (usize == 0xffffffffu && fe - f >= 8) usize = rd(f, 8), f += 8;
        if (csize == 0xffffffffu && fe - f >= 8) csize = rd(f, 8), f += 8;
        if (off == 0xffffffffu && fe - f >= 8) off = rd(f, 8), f += 8;
      }
      x += 4 + sz;
    }
    p += 46 + nl + xl + cl;
    if (!nl || memchr(name, 0, nl)) {
      s = bd_fail(BD_EFORMAT, "torch zip: empty or NUL-bearing entry name");
      break;
    }
    if (flags & 1) {
      s = bd_fail(BD_EFORMAT, "torch zip: encrypted entry '%.*s'", (int)nl,
                  name);
      break;
    }
    if (method != 0) {
      s = bd_fail(BD_EFORMAT,
                  "torch zip: entry '%.*s' is compressed "
                  "(method %llu); only stored entries are accepted",
                  (int)(nl > 200 ? 200 : nl), name, (unsigned long long)method);
      break;
    }
    if (csize != usize) {
      s = bd_fail(BD_EFORMAT,
                  "torch zip: stored entry '%.*s' has different "
                  "compressed and uncompressed sizes",
                  (int)nl, name);
      break;
    }
    const char *slash = memchr(name, '/', nl);
    if (i == 0) {
      if (!slash || (size_t)(slash - name) >= precap) {
        s = bd_fail(BD_EFORMAT,
                    "torch zip: first entry has no archive "
                    "prefix");
        break;
      }
      prel = (size_t)(slash - name);
      memcpy(pre, name, prel);
      pre[prel] = 0;
    }
    if (nl <= prel || memcmp(name, pre, prel) != 0 || name[prel] != '/') {
      s = bd_fail(BD_EFORMAT,
                  "torch zip: entry '%.*s' is outside the "
                  "archive prefix '%s'",
                  (int)(nl > 200 ? 200 : nl), name, pre);
      break;
    }
    /* Local header: bounds, signature, same name; data right after. */
    if (off > len || len - off < 30 || rd(u + off, 4) != 0x04034b50) {
      s = bd_fail(BD_EFORMAT, "torch zip: bad local header for '%.*s'", (int)nl,
                  name);
      break;
    }
    uint64_t lnl = rd(u + off + 26, 2), lxl = rd(u + off + 28, 2);
    uint64_t dstart = off + 30 + lnl + lxl;
    if (lnl != nl || dstart > len || memcmp(u + off + 30, name, nl) != 0 ||
        len - dstart < csize) {
      s = bd_fail(BD_EFORMAT,
                  "torch zip: entry '%.*s' runs past the end of "
                  "the file or its local header disagrees",
                  (int)nl, name);
      break;
    }
    v[i] = (tz_rent){name, nl, u + dstart, usize};
  }
  if (!s) {
    qsort(v, (size_t)cnt, sizeof *v, tz_rent_cmp);
    for (size_t i = 1; i < cnt && !s; i++)
      if (tz_rent_cmp(&v[i - 1], &v[i]) == 0)
        s = bd_fail(BD_EFORMAT, "torch zip: duplicate entry '%.*s'",
                    (int)v[i].nlen, v[i].name);
  }
  if (s) {
    free(v);
    return s;
  }
  *out = v;
  *nout = (size_t)cnt;
  return BD_OK;
}

/* Whether a view's elements are contiguous in row-major order. */
static bool tz_contiguous(const proto_tp_tensor *t) {
  int64_t st = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != st) return false;
    st *= t->shape[d];
  }
  return true;
}

/* Copies a strided view (element size es) into contiguous dst. */
static void tz_gather(unsigned char *dst, const unsigned char *src, size_t es,
                      const proto_tp_tensor *t) {
  int64_t idx[BD_MAX_DIMS] = {0};
  int64_t numel = 1;
  for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
  if (numel == 0) return;
  if (tz_contiguous(t)) {
    memcpy(dst, src + (size_t)t->offset * es, (size_t)numel * es);
    return;
  }
  for (int64_t k = 0; k < numel; k++) {
    int64_t o = t->offset;
    for (int d = 0; d < t->ndim; d++) o += idx[d] * t->stride[d];
    memcpy(dst + (size_t)k * es, src + (size_t)o * es, es);
    for (int d = t->ndim - 1; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) break;
      idx[d] = 0;
    }
  }
}

bd_status proto_torchzip_read(const void *data, size_t len,
                              const proto_tfile_limits *lim, proto_tfile *out) {
  memset(out, 0, sizeof *out);
  tz_rent *ents = NULL;
  size_t ne = 0;
  char pre[256];
  proto_tp_result r = {0};
  bd_status s = tz_dir(data, len, &ents, &ne, pre, sizeof pre);
  if (s) return s;
  const tz_rent *e;
  if (tz_find(ents, ne, pre, "constants.pkl")) {
    s = bd_fail(BD_EUNSUPPORTED,
                "torch zip: this is a TorchScript archive "
                "(constants.pkl), not a torch.save file");
    goto out;
  }
  e = tz_find(ents, ne, pre, "version");
  if (!e) e = tz_find(ents, ne, pre, ".data/version");
  char vb[24] = "";
  if (e && e->len < sizeof vb) memcpy(vb, e->data, (size_t)e->len);
  char *ve;
  unsigned long ver = strtoul(vb, &ve, 10);
  if (!e || ve == vb || ver < 1 || ver > 10) {
    s = bd_fail(BD_EFORMAT,
                "torch zip: missing or unsupported version "
                "record (need 1..10)");
    goto out;
  }
  e = tz_find(ents, ne, pre, "byteorder");
  if (e && !(e->len == 6 && memcmp(e->data, "little", 6) == 0)) {
    s = bd_fail(BD_EUNSUPPORTED, "torch zip: byteorder is not 'little'");
    goto out;
  }
  e = tz_find(ents, ne, pre, "data.pkl");
  if (!e) {
    s = bd_fail(BD_EFORMAT, "torch zip: no %s/data.pkl", pre);
    goto out;
  }
  s = proto_torch_pickle_read(e->data, (size_t)e->len, &r);
  if (s) goto out;
  size_t maxt = lim && lim->max_tensors ? lim->max_tensors : 1000000;
  if (r.n > maxt) {
    s = bd_fail(BD_ELIMIT, "torch zip: %zu tensors exceed %zu", r.n, maxt);
    goto out;
  }
  const unsigned char **sdata = calloc(r.nstorages + 1, sizeof *sdata);
  if (!sdata) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  for (size_t k = 0; k < r.nstorages && !s; k++) {
    const proto_tp_storage *st = &r.storages[k];
    if (st->dtype < 0) {
      s = bd_fail(BD_EUNSUPPORTED,
                  "torch zip: storage type %s is not "
                  "supported (float32/64/16, bfloat16, int64 only)",
                  st->type_name);
      break;
    }
    char rest[64];
    snprintf(rest, sizeof rest, "data/%.40s", st->key);
    e = tz_find(ents, ne, pre, rest);
    uint64_t want = (uint64_t)st->numel * bd_dtype_size((bd_dtype)st->dtype);
    if (!e)
      s = bd_fail(BD_EFORMAT, "torch zip: storage record %s/%s is missing", pre,
                  rest);
    else if (e->len != want)
      s = bd_fail(BD_EFORMAT,
                  "torch zip: %s/%s holds %llu bytes but the "
                  "pickle says %lld %s elements (%llu bytes)",
                  pre, rest, (unsigned long long)e->len, (long long)st->numel,
                  st->type_name, (unsigned long long)want);
    else
      sdata[k] = e->data;
  }
  uint64_t total = 0, maxb = lim && lim->max_total_bytes
                                 ? lim->max_total_bytes
                                 : (uint64_t)len * 2 + (64u << 20);
  for (size_t i = 0; i < r.n && !s; i++) {
    const proto_tp_tensor *t = &r.tensors[i];
    const proto_tp_storage *st = &r.storages[t->storage];
    int64_t numel, last = t->offset;
    s = bd_shape_numel(t->ndim, t->shape, &numel);
    if (s) {
      bd_fail_prefix(s, "torch zip: tensor '%.200s': ", r.names[i]);
      break;
    }
    bool bad = t->offset < 0;
    for (int d = 0; d < t->ndim && !bad && numel > 0; d++) {
      int64_t term;
      if (t->stride[d] < 0 ||
          __builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &term) ||
          __builtin_add_overflow(last, term, &last))
        bad = true;
    }
    if (bad || (numel > 0 && (t->offset > st->numel || last >= st->numel))) {
      s = bd_fail(BD_EFORMAT,
                  "torch zip: tensor '%.200s' (offset %lld) "
                  "reaches outside its storage of %lld elements",
                  r.names[i], (long long)t->offset, (long long)st->numel);
      break;
    }
    /* The span, not numel: a [N, 0] tensor still has N rows to walk. */
    int64_t span = bd_shape_span(t->ndim, t->shape);
    if (lim && lim->max_elems > 0 && span > lim->max_elems) {
      s = bd_fail(BD_ELIMIT,
                  "torch zip: tensor '%.200s' has %lld elements%s, "
                  "over the limit",
                  r.names[i], (long long)span,
                  span != numel ? " (counting non-zero dimensions)" : "");
      break;
    }
    total += (uint64_t)numel * bd_dtype_size((bd_dtype)st->dtype);
    if (total > maxb) {
      s = bd_fail(BD_ELIMIT,
                  "torch zip: tensors would need more than %llu "
                  "bytes",
                  (unsigned long long)maxb);
      break;
    }
  }
  for (size_t i = 0; i < r.n && !s; i++) {
    const proto_tp_tensor *t = &r.tensors[i];
    bd_dtype dt = (bd_dtype)r.storages[t->storage].dtype;
    bd_tensor *bt;
    size_t es = bd_dtype_size(dt);
    /* An empty view's offset is unchecked (it reads nothing): form no
     * pointer from it. */
    int64_t tn = 0;
    (void)bd_shape_numel(t->ndim, t->shape, &tn); /* checked above */
    const unsigned char *src =
        sdata[t->storage] + (tn ? (size_t)t->offset * es : 0);
    if (lim && lim->borrow && tz_contiguous(t) && (uintptr_t)src % es == 0) {
      s = bd_tensor_wrap((void *)src, dt, t->ndim, t->shape, &bt);
      if (s) break;
    } else {
      s = bd_tensor_new(BD_CPU, dt, t->ndim, t->shape, &bt);
      if (s) break;
      tz_gather(bd_tensor_data(bt), sdata[t->storage], es, t);
    }
    s = bd_named_tensors_push(&out->list, r.names[i], bt);
    bd_tensor_release(bt);
  }
  free(sdata);
  if (!s) s = bd_named_tensors_check_unique(&out->list);
  e = tz_find(ents, ne, pre, ".data/blockd_spec.json");
  if (!s && e && e->len < (64u << 20)) {
    out->spec = malloc((size_t)e->len + 1);
    if (!out->spec) {
      s = bd_fail(BD_ENOMEM, "out of host memory");
    } else {
      memcpy(out->spec, e->data, (size_t)e->len);
      out->spec[e->len] = 0;
    }
  }
  out->kind = r.kind;
out:
  proto_tp_result_free(&r);
  free(ents);
  if (s) proto_tfile_clear(out);
  return s;
}
