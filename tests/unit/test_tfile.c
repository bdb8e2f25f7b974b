/* test_tfile.c - safetensors and torch zip codecs: round trips, the
 * reference writer's layout, and rules the readers enforce. (Hostile
 * files at large: tests/http/test_files_safety.py over the fuzz corpus.) */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "proto/safetensors.h"
#include "proto/torchzip.h"

static bd_tensor *mk(bd_dtype dt, int ndim, const int64_t *shape) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, dt, ndim, shape, &t), BD_OK);
  unsigned char *p = bd_tensor_data(t);
  for (size_t i = 0; i < bd_tensor_nbytes(t); i++)
    p[i] = (unsigned char)(i * 7 + dt);
  return t;
}

static void sample(proto_tfile *f) {
  int64_t s23[] = {2, 3}, s4[] = {4};
  memset(f, 0, sizeof *f);
  f->kind = PROTO_TFILE_DICT;
  bd_tensor *a = mk(BD_F32, 2, s23), *b = mk(BD_I64, 1, s4),
            *c = mk(BD_F16, 1, s4), *d = mk(BD_BF16, 0, NULL),
            *e = mk(BD_F64, 1, s4);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "zeta", a), BD_OK);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "beta", b), BD_OK);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "half", c), BD_OK);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "bf", d), BD_OK);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "alpha", a),
                   BD_OK); /* shares storage */
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "dbl", e), BD_OK);
  ck_assert_int_eq(bd_named_tensors_add(&f->list, "dbl", e), BD_EINVAL);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(c);
  bd_tensor_release(d);
  bd_tensor_release(e);
}

static void same(const proto_tfile *a, const proto_tfile *b) {
  ck_assert_uint_eq(a->list.n, b->list.n);
  for (size_t i = 0; i < a->list.n; i++) {
    long j = bd_named_tensors_find(&b->list, a->list.names[i]);
    ck_assert_int_ge(j, 0);
    const bd_tensor *x = a->list.tensors[i], *y = b->list.tensors[j];
    ck_assert_int_eq(x->dtype, y->dtype);
    ck_assert(bd_tensor_same_shape(x, y));
    ck_assert_int_eq(
        memcmp(bd_tensor_data(x), bd_tensor_data(y), bd_tensor_nbytes(x)), 0);
  }
}

START_TEST(safetensors_roundtrip_and_layout) {
  proto_tfile f, g;
  sample(&f);
  f.kind = PROTO_TFILE_STATE_DICT;
  f.spec = strdup("{\"type\":\"relu\"}");
  proto_buf b = {0};
  ck_assert_int_eq(proto_safetensors_write(&f, NULL, proto_buf_sink(&b)),
                   BD_OK);
  uint64_t n;
  memcpy(&n, b.data, 8);
  ck_assert_uint_eq(n % 8, 0); /* header padded to 8 */
  ck_assert_int_eq(b.data[8], '{');
  /* Reference order: I64 > F64 > F32 > BF16 > F16, then by name. */
  const char *h = b.data + 8;
  const char *order[] = {"\"beta\"", "\"dbl\"", "\"alpha\"",
                         "\"zeta\"", "\"bf\"",  "\"half\""};
  const char *prev = strstr(h, "__metadata__");
  ck_assert_ptr_nonnull(prev);
  for (int i = 0; i < 6; i++) {
    const char *p = strstr(h, order[i]);
    ck_assert_ptr_nonnull(p);
    ck_assert(p > prev);
    prev = p;
  }
  ck_assert_ptr_nonnull(strstr(h, "\"format\":\"pt\""));
  cJSON *meta;
  ck_assert_int_eq(proto_safetensors_read(b.data, b.len, NULL, &g, &meta),
                   BD_OK);
  ck_assert_int_eq(g.kind, PROTO_TFILE_STATE_DICT);
  ck_assert_str_eq(g.spec, "{\"type\":\"relu\"}");
  same(&f, &g);
  cJSON_Delete(meta);
  proto_tfile_clear(&g);
  /* Any single flipped length byte or truncation is refused cleanly. */
  for (size_t cut = 0; cut < b.len; cut += 13)
    ck_assert_int_ne(proto_safetensors_read(b.data, cut, NULL, &g, NULL),
                     BD_OK);
  proto_buf_free(&b);
  proto_tfile_clear(&f);
}
END_TEST

START_TEST(torchzip_roundtrip) {
  proto_tfile f, g;
  sample(&f);
  proto_buf b = {0};
  ck_assert_int_eq(proto_torchzip_write(&f, "x", proto_buf_sink(&b)), BD_OK);
  ck_assert_int_eq(proto_torchzip_read(b.data, b.len, NULL, &g), BD_OK);
  ck_assert_int_eq(g.kind, PROTO_TFILE_DICT);
  same(&f, &g);
  ck_assert_int_eq(strcmp(g.list.names[0], "zeta"),
                   0); /* insertion order kept */
  proto_tfile_clear(&g);
  /* The shared storage is written once: five data/ records, not six. */
  int recs = 0;
  for (size_t i = 0; i + 7 < b.len; i++)
    if (memcmp(b.data + i, "PK\x01\x02", 4) == 0 &&
        memmem(b.data + i + 46, 8, "x/data/", 7))
      recs++;
  ck_assert_int_eq(recs, 5);
  for (size_t cut = 0; cut < b.len; cut += 17)
    ck_assert_int_ne(proto_torchzip_read(b.data, cut, NULL, &g), BD_OK);
  proto_buf_free(&b);
  proto_tfile_clear(&f);
}
END_TEST

START_TEST(list_and_tensor_kinds) {
  int64_t s2[] = {2};
  bd_tensor *t = mk(BD_F32, 1, s2);
  for (int fmt = 0; fmt < 2; fmt++) {
    proto_tfile f = {0}, g;
    f.kind = PROTO_TFILE_LIST;
    char nm[8];
    for (int i = 0; i < 12; i++) {
      snprintf(nm, sizeof nm, "%d", i);
      ck_assert_int_eq(bd_named_tensors_add(&f.list, nm, t), BD_OK);
    }
    proto_buf b = {0};
    bd_status s = fmt ? proto_torchzip_write(&f, NULL, proto_buf_sink(&b))
                      : proto_safetensors_write(&f, NULL, proto_buf_sink(&b));
    ck_assert_int_eq(s, BD_OK);
    s = fmt ? proto_torchzip_read(b.data, b.len, NULL, &g)
            : proto_safetensors_read(b.data, b.len, NULL, &g, NULL);
    ck_assert_int_eq(s, BD_OK);
    ck_assert_int_eq(g.kind, PROTO_TFILE_LIST);
    for (int i = 0; i < 12; i++) {
      snprintf(nm, sizeof nm, "%d", i);
      ck_assert_str_eq(g.list.names[i], nm); /* "10" after "9", not after "1" */
    }
    proto_tfile_clear(&g);
    proto_tfile_clear(&f);
    proto_buf_free(&b);
  }
  bd_tensor_release(t);
}
END_TEST

START_TEST(borrow_only_aligned) {
  proto_tfile f, g;
  sample(&f);
  proto_buf b = {0};
  ck_assert_int_eq(proto_safetensors_write(&f, NULL, proto_buf_sink(&b)),
                   BD_OK);
  proto_tfile_limits lim = {.borrow = true};
  ck_assert_int_eq(proto_safetensors_read(b.data, b.len, &lim, &g, NULL),
                   BD_OK);
  for (size_t i = 0; i < g.list.n; i++)
    ck_assert(g.list.tensors[i]->st->borrowed);
  same(&f, &g);
  proto_tfile_clear(&g);
  /* Shifted by one byte: nothing is aligned any more, all is copied. */
  char *odd = malloc(b.len + 1);
  memcpy(odd + 1, b.data, b.len);
  ck_assert_int_eq(proto_safetensors_read(odd + 1, b.len, &lim, &g, NULL),
                   BD_OK);
  for (size_t i = 0; i < g.list.n; i++)
    if (bd_dtype_size(g.list.tensors[i]->dtype) > 1 &&
        bd_tensor_nbytes(g.list.tensors[i]))
      ck_assert(!g.list.tensors[i]->st->borrowed);
  same(&f, &g);
  proto_tfile_clear(&g);
  free(odd);
  proto_buf_free(&b);
  proto_tfile_clear(&f);
}
END_TEST

/* 70000 storages: more than 0xffff entries needs the ZIP64 end records. */
START_TEST(torchzip_zip64_many_entries) {
  proto_tfile f = {0}, g;
  f.kind = PROTO_TFILE_LIST;
  char nm[16];
  for (int i = 0; i < 70000; i++) {
    bd_tensor *t;
    ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 0, NULL, &t), BD_OK);
    *bd_tensor_f32(t) = (float)i;
    snprintf(nm, sizeof nm, "%d", i);
    ck_assert_int_eq(bd_named_tensors_push(&f.list, nm, t), BD_OK);
    bd_tensor_release(t);
  }
  proto_buf b = {0};
  ck_assert_int_eq(proto_torchzip_write(&f, "many", proto_buf_sink(&b)), BD_OK);
  ck_assert_ptr_nonnull(memmem(b.data, b.len, "PK\x06\x06", 4));
  const char *dump = getenv("BLOCKD_TEST_DUMP_ZIP64");
  if (dump) {
    FILE *o = fopen(dump, "wb");
    fwrite(b.data, 1, b.len, o);
    fclose(o);
  }
  ck_assert_int_eq(proto_torchzip_read(b.data, b.len, NULL, &g), BD_OK);
  ck_assert_uint_eq(g.list.n, 70000);
  ck_assert(*bd_tensor_f32(g.list.tensors[69999]) == 69999.0f);
  proto_tfile_clear(&g);
  proto_tfile_clear(&f);
  proto_buf_free(&b);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("tfile");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, safetensors_roundtrip_and_layout);
  tcase_add_test(tc, torchzip_roundtrip);
  tcase_add_test(tc, list_and_tensor_kinds);
  tcase_add_test(tc, borrow_only_aligned);
  tcase_add_test(tc, torchzip_zip64_many_entries);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
