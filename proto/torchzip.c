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

/* The storages a torch zip holds and, per tensor, which one it views. */
typedef struct tz_plan {
  size_t *skey;           /* per tensor: its storage index */
  int64_t *soff;          /* per tensor: element offset into it */
  bd_dtype *sdt;          /* per storage: dtype */
  int64_t *snumel;        /* per storage: elements */
  const void **sdata;     /* per storage: bytes (borrowed) */
  const bd_storage **sst; /* per storage: the shared one, or NULL */
  size_t nk;              /* storages */
} tz_plan;

/* Frees the arrays of p (never the data they point at). */
static void tz_plan_free(tz_plan *p) {
  free(p->skey);
  free(p->soff);
  free(p->sdt);
  free(p->snumel);
  free(p->sdata);
  free(p->sst);
}

/* Copies the safe characters of prefix (default "archive", at most 100)
 * into pre (128 bytes): the archive's top-level folder name. */
static void tz_prefix(const char *prefix, char pre[128]) {
  size_t pl = 0;
  for (const char *c = prefix ? prefix : "archive"; *c && pl < 100; c++)
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
        (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.')
      pre[pl++] = *c;
  pre[pl] = 0;
  if (!pl) snprintf(pre, 128, "archive");
}

/* Fills p for the tensors of f, which must all be on the host. Tensors over
 * the same bd_storage (tied parameters, reshapes) share one data/<k>
 * holding the whole storage; an open-addressing table keyed by the storage
 * pointer finds earlier ones. The caller frees p with tz_plan_free, also
 * on error. */
static bd_status tz_plan_storages(const proto_tfile *f, tz_plan *p) {
  size_t n = f->list.n;
  p->skey = calloc(n + 1, sizeof *p->skey);
  p->soff = calloc(n + 1, sizeof *p->soff);
  p->sdt = calloc(n + 1, sizeof *p->sdt);
  p->snumel = calloc(n + 1, sizeof *p->snumel);
  p->sdata = calloc(n + 1, sizeof *p->sdata);
  p->sst = calloc(n + 1, sizeof *p->sst);
  if (!p->skey || !p->soff || !p->sdt || !p->snumel || !p->sdata || !p->sst)
    return bd_fail(BD_ENOMEM, "out of host memory");
  size_t hcap = 64;
  while (hcap < 2 * (n + 1)) hcap *= 2;
  size_t *hash = calloc(hcap, sizeof *hash); /* key index + 1, 0 = empty */
  if (!hash) return bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; i < n; i++) {
    const bd_tensor *t = f->list.tensors[i];
    if (bd_tensor_device(t).type != BD_DEV_CPU) {
      free(hash);
      return bd_fail(BD_EUNSUPPORTED,
                     "torch zip: tensor '%s' is not on the "
                     "host",
                     f->list.names[i]);
    }
    size_t es = bd_dtype_size(t->dtype);
    bool whole = t->st->nbytes % es == 0 && t->offset % es == 0;
    size_t k = p->nk, slot = 0;
    if (whole) {
      slot = ((uintptr_t)t->st >> 4) * 11400714819323198485u & (hcap - 1);
      for (; hash[slot]; slot = (slot + 1) & (hcap - 1))
        if (p->sst[hash[slot] - 1] == t->st &&
            p->sdt[hash[slot] - 1] == t->dtype) {
          k = hash[slot] - 1;
          break;
        }
    }
    if (k == p->nk) {
      if (whole) hash[slot] = p->nk + 1;
      p->sdt[k] = t->dtype;
      p->sst[k] = whole ? t->st : NULL;
      p->sdata[k] = whole ? t->st->data : bd_tensor_data(t);
      p->snumel[k] = whole ? (int64_t)(t->st->nbytes / es) : bd_tensor_numel(t);
      p->nk++;
    }
    p->skey[i] = k;
    p->soff[i] = whole ? (int64_t)(t->offset / es) : 0;
  }
  free(hash);
  return BD_OK;
}

/* Sets ents[*ne] to the record "<pre>/<rest>" holding the l bytes at d
 * (borrowed), with its CRC, and counts it in *ne; the name is owned by the
 * entry. */
static bd_status tz_add(tz_entry *ents, size_t *ne, const char *pre,
                        const char *rest, const void *d, size_t l) {
  char nm[200]; /* pre (< 128) + "/data/" + a 31-byte key fits */
  snprintf(nm, sizeof nm, "%s/%s", pre, rest);
  tz_entry *e = &ents[*ne];
  if (!(e->name = strdup(nm))) return bd_fail(BD_ENOMEM, "out of host memory");
  e->data = d;
  e->len = l;
  e->crc = tz_crc(e->data, e->len);
  ++*ne;
  return BD_OK;
}

/* Lists the records of the archive in torch.save's order into ents (room
 * for p->nk + 4), counting them in *ne: the pickle pkl, byteorder, one
 * data/<k> per storage, version, and blockd's spec when f has one. */
static bd_status tz_records(const proto_tfile *f, const char *pre,
                            const proto_buf *pkl, const tz_plan *p,
                            tz_entry *ents, size_t *ne) {
  bd_status s = tz_add(ents, ne, pre, "data.pkl", pkl->data, pkl->len);
  if (!s) s = tz_add(ents, ne, pre, "byteorder", "little", 6);
  for (size_t k = 0; !s && k < p->nk; k++) {
    char rest[40];
    snprintf(rest, sizeof rest, "data/%zu", k);
    s = tz_add(ents, ne, pre, rest, p->sdata[k],
               (size_t)p->snumel[k] * bd_dtype_size(p->sdt[k]));
  }
  if (!s) s = tz_add(ents, ne, pre, "version", "3\n", 2);
  if (!s && f->spec)
    s = tz_add(ents, ne, pre, ".data/blockd_spec.json", f->spec,
               strlen(f->spec));
  return s;
}

/* Writes the end of central directory for ne entries whose directory of
 * cd_size bytes starts at cd_off, preceded by the ZIP64 record and locator
 * when a count or offset does not fit the classic one. */
static void tz_end(tz_w *w, size_t ne, uint64_t cd_off, uint64_t cd_size) {
  unsigned char h[56 + 20 + 22];
  memset(h, 0, sizeof h);
  bool z64 = ne >= 0xffff || cd_off >= 0xffffffffu || cd_size >= 0xffffffffu;
  if (z64) {
    uint64_t eocd64 = w->pos;
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
    tz_put(w, h, 76);
    memset(h, 0, sizeof h);
  }
  le32(h, 0x06054b50);
  le16(h + 8, z64 ? 0xffff : ne);
  le16(h + 10, z64 ? 0xffff : ne);
  le32(h + 12, z64 ? 0xffffffffu : cd_size);
  le32(h + 16, z64 ? 0xffffffffu : cd_off);
  tz_put(w, h, 22);
}

bd_status proto_torchzip_write(const proto_tfile *f, const char *prefix,
                               proto_sink sink) {
  char pre[128];
  tz_prefix(prefix, pre);
  tz_plan p = {0};
  proto_buf pkl = {0};
  size_t ne = 0;
  bd_status s = BD_OK;
  /* Allocate the records first: an allocation failure is reported before
   * any complaint about the tensors. */
  tz_entry *ents = calloc(f->list.n + 5, sizeof *ents);
  if (!ents) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  s = tz_plan_storages(f, &p);
  if (!s)
    s = proto_torch_pickle_write(f, p.skey, p.soff, p.sdt, p.snumel, &pkl);
  if (!s) s = tz_records(f, pre, &pkl, &p, ents, &ne);
  if (s) goto out;
  tz_w w = {sink, 0, BD_OK};
  for (size_t i = 0; i < ne; i++) tz_local(&w, &ents[i]);
  uint64_t cd_off = w.pos;
  for (size_t i = 0; i < ne; i++) tz_central(&w, &ents[i]);
  tz_end(&w, ne, cd_off, w.pos - cd_off);
  s = w.s;
out:
  for (size_t i = 0; ents && i < ne; i++) free(ents[i].name);
  free(ents);
  tz_plan_free(&p);
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

/* Finds the end of central directory of the len-byte file u (following the
 * ZIP64 locator when a field overflows) and reads the entry count and the
 * directory's offset and size, checked to lie before the end records. */
static bd_status tz_eocd(const unsigned char *u, size_t len, uint64_t *cnt,
                         uint64_t *cd_off, uint64_t *cd_size) {
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
  uint64_t cd_end = e;
  *cnt = rd(u + e + 10, 2);
  *cd_size = rd(u + e + 12, 4);
  *cd_off = rd(u + e + 16, 4);
  if (*cnt == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
    if (e < 20 || rd(u + e - 20, 4) != 0x07064b50)
      return bd_fail(BD_EFORMAT, "torch zip: ZIP64 locator missing");
    uint64_t z = rd(u + e - 20 + 8, 8);
    if (z > e - 20 || e - 20 - z < 56 || rd(u + z, 4) != 0x06064b50)
      return bd_fail(BD_EFORMAT, "torch zip: bad ZIP64 end record");
    *cnt = rd(u + z + 32, 8);
    *cd_size = rd(u + z + 40, 8);
    *cd_off = rd(u + z + 48, 8);
    cd_end = z;
  }
  if (*cd_off > cd_end || *cd_size > cd_end - *cd_off)
    return bd_fail(BD_EFORMAT, "torch zip: central directory out of bounds");
  if (*cnt > TZ_MAX_ENTRIES || *cnt > *cd_size / 46)
    return bd_fail(BD_EFORMAT,
                   "torch zip: %llu entries do not fit the "
                   "central directory",
                   (unsigned long long)*cnt);
  if (*cnt == 0) return bd_fail(BD_EFORMAT, "torch zip: empty archive");
  return BD_OK;
}

/* Replaces the sizes and offset that are 0xffffffff with the 64-bit values
 * of the ZIP64 extra field (id 1) among the xl bytes of extras at x. */
static void tz_zip64_extra(const unsigned char *x, size_t xl, uint64_t *usize,
                           uint64_t *csize, uint64_t *off) {
  for (const unsigned char *xe = x + xl; xe - x >= 4;) {
    size_t id = rd(x, 2), sz = rd(x + 2, 2);
    if ((size_t)(xe - x - 4) < sz) break;
    if (id == 1) {
      const unsigned char *f = x + 4, *fe = x + 4 + sz;
      if (*usize == 0xffffffffu && fe - f >= 8) *usize = rd(f, 8), f += 8;
      if (*csize == 0xffffffffu && fe - f >= 8) *csize = rd(f, 8), f += 8;
      if (*off == 0xffffffffu && fe - f >= 8) *off = rd(f, 8), f += 8;
    }
    x += 4 + sz;
  }
}

/* Checks that the nl-byte name of entry i lies inside the archive prefix,
 * which the first entry (i == 0) defines into pre (precap bytes, length
 * *prel). */
static bd_status tz_entry_name(const char *name, size_t nl, uint64_t i,
                               char *pre, size_t precap, size_t *prel) {
  if (i == 0) {
    const char *slash = memchr(name, '/', nl);
    if (!slash || (size_t)(slash - name) >= precap)
      return bd_fail(BD_EFORMAT,
                     "torch zip: first entry has no archive "
                     "prefix");
    *prel = (size_t)(slash - name);
    memcpy(pre, name, *prel);
    pre[*prel] = 0;
  }
  if (nl <= *prel || memcmp(name, pre, *prel) != 0 || name[*prel] != '/')
    return bd_fail(BD_EFORMAT,
                   "torch zip: entry '%.*s' is outside the "
                   "archive prefix '%s'",
                   (int)(nl > 200 ? 200 : nl), name, pre);
  return BD_OK;
}

/* Checks the local header at off of the len-byte file u for the entry of
 * csize bytes named name (nl bytes): in bounds, signed, the same name, and
 * the data after it inside the file; sets *dstart to the data's offset. */
static bd_status tz_local_data(const unsigned char *u, size_t len, uint64_t off,
                               const char *name, size_t nl, uint64_t csize,
                               uint64_t *dstart) {
  if (off > len || len - off < 30 || rd(u + off, 4) != 0x04034b50)
    return bd_fail(BD_EFORMAT, "torch zip: bad local header for '%.*s'",
                   (int)nl, name);
  uint64_t lnl = rd(u + off + 26, 2), lxl = rd(u + off + 28, 2);
  *dstart = off + 30 + lnl + lxl;
  if (lnl != nl || *dstart > len || memcmp(u + off + 30, name, nl) != 0 ||
      len - *dstart < csize)
    return bd_fail(BD_EFORMAT,
                   "torch zip: entry '%.*s' runs past the end of "
                   "the file or its local header disagrees",
                   (int)nl, name);
  return BD_OK;
}

/* Parses central directory entry i at *p (before end) of the len-byte file
 * u into *out and advances *p past it. Only stored, unencrypted entries
 * inside the archive prefix (see tz_entry_name) are accepted. */
static bd_status tz_central_entry(const unsigned char *u, size_t len,
                                  const unsigned char **p,
                                  const unsigned char *end, uint64_t i,
                                  char *pre, size_t precap, size_t *prel,
                                  tz_rent *out) {
  const unsigned char *c = *p;
  if (end - c < 46 || rd(c, 4) != 0x02014b50)
    return bd_fail(BD_EFORMAT, "torch zip: bad central directory entry %llu",
                   (unsigned long long)i);
  uint64_t flags = rd(c + 8, 2), method = rd(c + 10, 2);
  uint64_t csize = rd(c + 20, 4), usize = rd(c + 24, 4);
  size_t nl = rd(c + 28, 2), xl = rd(c + 30, 2), cl = rd(c + 32, 2);
  uint64_t off = rd(c + 42, 4);
  if ((size_t)(end - c) < 46 + nl + xl + cl)
    return bd_fail(BD_EFORMAT, "torch zip: central entry past the directory");
  const char *name = (const char *)c + 46;
  tz_zip64_extra(c + 46 + nl, xl, &usize, &csize, &off);
  *p = c + 46 + nl + xl + cl;
  if (!nl || memchr(name, 0, nl))
    return bd_fail(BD_EFORMAT, "torch zip: empty or NUL-bearing entry name");
  if (flags & 1)
    return bd_fail(BD_EFORMAT, "torch zip: encrypted entry '%.*s'", (int)nl,
                   name);
  if (method != 0)
    return bd_fail(BD_EFORMAT,
                   "torch zip: entry '%.*s' is compressed "
                   "(method %llu); only stored entries are accepted",
                   (int)(nl > 200 ? 200 : nl), name,
                   (unsigned long long)method);
  if (csize != usize)
    return bd_fail(BD_EFORMAT,
                   "torch zip: stored entry '%.*s' has different "
                   "compressed and uncompressed sizes",
                   (int)nl, name);
  bd_status s = tz_entry_name(name, nl, i, pre, precap, prel);
  uint64_t dstart = 0;
  if (!s) s = tz_local_data(u, len, off, name, nl, csize, &dstart);
  if (s) return s;
  *out = (tz_rent){name, nl, u + dstart, usize};
  return BD_OK;
}

/* Parses the central directory into *out (sorted by name; caller frees)
 * and *nout, and the archive prefix into pre (precap bytes). Rejects
 * duplicate names. */
static bd_status tz_dir(const unsigned char *u, size_t len, tz_rent **out,
                        size_t *nout, char *pre, size_t precap) {
  *out = NULL;
  uint64_t cnt = 0, cd_off = 0, cd_size = 0;
  bd_status s = tz_eocd(u, len, &cnt, &cd_off, &cd_size);
  if (s) return s;
  tz_rent *v = calloc((size_t)cnt, sizeof *v);
  if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
  const unsigned char *p = u + cd_off, *end = u + cd_off + cd_size;
  size_t prel = 0;
  for (uint64_t i = 0; i < cnt && !s; i++)
    s = tz_central_entry(u, len, &p, end, i, pre, precap, &prel, &v[i]);
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

/* Checks the archive's small records: not TorchScript (constants.pkl), a
 * version record of 1..10, and a little-endian byteorder when one is
 * given. */
static bd_status tz_check_records(const tz_rent *ents, size_t ne,
                                  const char *pre) {
  if (tz_find(ents, ne, pre, "constants.pkl"))
    return bd_fail(BD_EUNSUPPORTED,
                   "torch zip: this is a TorchScript archive "
                   "(constants.pkl), not a torch.save file");
  const tz_rent *e = tz_find(ents, ne, pre, "version");
  if (!e) e = tz_find(ents, ne, pre, ".data/version");
  char vb[24] = "";
  if (e && e->len < sizeof vb) memcpy(vb, e->data, (size_t)e->len);
  char *ve;
  unsigned long ver = strtoul(vb, &ve, 10);
  if (!e || ve == vb || ver < 1 || ver > 10)
    return bd_fail(BD_EFORMAT,
                   "torch zip: missing or unsupported version "
                   "record (need 1..10)");
  e = tz_find(ents, ne, pre, "byteorder");
  if (e && !(e->len == 6 && memcmp(e->data, "little", 6) == 0))
    return bd_fail(BD_EUNSUPPORTED, "torch zip: byteorder is not 'little'");
  return BD_OK;
}

/* Finds the data/<key> record of every storage the pickle r names and sets
 * sdata[k] to its bytes (borrowed from the archive), checking its dtype is
 * one blockd holds and its length matches the declared element count. */
static bd_status tz_storage_data(const tz_rent *ents, size_t ne,
                                 const char *pre, const proto_tp_result *r,
                                 const unsigned char **sdata) {
  for (size_t k = 0; k < r->nstorages; k++) {
    const proto_tp_storage *st = &r->storages[k];
    if (st->dtype < 0)
      return bd_fail(BD_EUNSUPPORTED,
                     "torch zip: storage type %s is not "
                     "supported (float32/64/16, bfloat16, int64 only)",
                     st->type_name);
    char rest[64];
    snprintf(rest, sizeof rest, "data/%.40s", st->key);
    const tz_rent *e = tz_find(ents, ne, pre, rest);
    uint64_t want = (uint64_t)st->numel * bd_dtype_size((bd_dtype)st->dtype);
    if (!e)
      return bd_fail(BD_EFORMAT, "torch zip: storage record %s/%s is missing",
                     pre, rest);
    if (e->len != want)
      return bd_fail(BD_EFORMAT,
                     "torch zip: %s/%s holds %llu bytes but the "
                     "pickle says %lld %s elements (%llu bytes)",
                     pre, rest, (unsigned long long)e->len,
                     (long long)st->numel, st->type_name,
                     (unsigned long long)want);
    sdata[k] = e->data;
  }
  return BD_OK;
}

/* Checks every tensor view of r: a valid shape, every element it reaches
 * inside its storage, at most lim->max_elems (counted over the span), and
 * all together at most lim->max_total_bytes (default twice the len-byte
 * file plus 64 MiB). */
static bd_status tz_check_views(const proto_tp_result *r, size_t len,
                                const proto_tfile_limits *lim) {
  uint64_t total = 0, maxb = lim && lim->max_total_bytes
                                 ? lim->max_total_bytes
                                 : (uint64_t)len * 2 + (64u << 20);
  for (size_t i = 0; i < r->n; i++) {
    const proto_tp_tensor *t = &r->tensors[i];
    const proto_tp_storage *st = &r->storages[t->storage];
    int64_t numel, last = t->offset;
    bd_status s = bd_shape_numel(t->ndim, t->shape, &numel);
    if (s)
      return bd_fail_prefix(s, "torch zip: tensor '%.200s': ", r->names[i]);
    bool bad = t->offset < 0;
    for (int d = 0; d < t->ndim && !bad && numel > 0; d++) {
      int64_t term;
      if (t->stride[d] < 0 ||
          __builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &term) ||
          __builtin_add_overflow(last, term, &last))
        bad = true;
    }
    if (bad || (numel > 0 && (t->offset > st->numel || last >= st->numel)))
      return bd_fail(BD_EFORMAT,
                     "torch zip: tensor '%.200s' (offset %lld) "
                     "reaches outside its storage of %lld elements",
                     r->names[i], (long long)t->offset, (long long)st->numel);
    /* The span, not numel: a [N, 0] tensor still has N rows to walk. */
    int64_t span = bd_shape_span(t->ndim, t->shape);
    if (lim && lim->max_elems > 0 && span > lim->max_elems)
      return bd_fail(BD_ELIMIT,
                     "torch zip: tensor '%.200s' has %lld elements%s, "
                     "over the limit",
                     r->names[i], (long long)span,
                     span != numel ? " (counting non-zero dimensions)" : "");
    total += (uint64_t)numel * bd_dtype_size((bd_dtype)st->dtype);
    if (total > maxb)
      return bd_fail(BD_ELIMIT,
                     "torch zip: tensors would need more than %llu "
                     "bytes",
                     (unsigned long long)maxb);
  }
  return BD_OK;
}

/* Appends one tensor per (checked) view of r to out->list, in pickle
 * order: a borrowed view of the storage bytes sdata when lim->borrow asks
 * for it and the view is contiguous and aligned, a gathered copy
 * otherwise. */
static bd_status tz_load(const proto_tp_result *r,
                         const unsigned char *const *sdata,
                         const proto_tfile_limits *lim, proto_tfile *out) {
  bd_status s = BD_OK;
  for (size_t i = 0; i < r->n && !s; i++) {
    const proto_tp_tensor *t = &r->tensors[i];
    bd_dtype dt = (bd_dtype)r->storages[t->storage].dtype;
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
    s = bd_named_tensors_push(&out->list, r->names[i], bt);
    bd_tensor_release(bt);
  }
  return s;
}

/* Copies blockd's spec record, when the archive has one under 64 MiB,
 * into out->spec (owned by out). */
static bd_status tz_spec(const tz_rent *ents, size_t ne, const char *pre,
                         proto_tfile *out) {
  const tz_rent *e = tz_find(ents, ne, pre, ".data/blockd_spec.json");
  if (!e || e->len >= (64u << 20)) return BD_OK;
  out->spec = malloc((size_t)e->len + 1);
  if (!out->spec) return bd_fail(BD_ENOMEM, "out of host memory");
  memcpy(out->spec, e->data, (size_t)e->len);
  out->spec[e->len] = 0;
  return BD_OK;
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
  s = tz_check_records(ents, ne, pre);
  if (s) goto out;
  const tz_rent *e = tz_find(ents, ne, pre, "data.pkl");
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
  s = tz_storage_data(ents, ne, pre, &r, sdata);
  if (!s) s = tz_check_views(&r, len, lim);
  if (!s) s = tz_load(&r, sdata, lim, out);
  free(sdata);
  if (!s) s = bd_named_tensors_check_unique(&out->list);
  if (!s) s = tz_spec(ents, ne, pre, out);
  out->kind = r.kind;
out:
  proto_tp_result_free(&r);
  free(ents);
  if (s) proto_tfile_clear(out);
  return s;
}
