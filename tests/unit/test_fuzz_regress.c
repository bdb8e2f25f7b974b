/* test_fuzz_regress.c - replays the fuzzers' regression inputs
 * (tests/fuzz/corpus/<format>/crash_*.bin) through the real readers in a
 * normal build, checks what each one must now give, and pins the shape
 * rules the fixes introduced (bd_shape_numel / bd_shape_span). The seed
 * files ok_* must still read. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/block.h"
#include "proto/json_tensor.h"
#include "proto/npy.h"
#include "proto/safetensors.h"
#include "proto/spec_json.h"
#include "proto/torchzip.h"

/* tests/fuzz/corpus/<fmt>/<name>, from this file's own path. */
static void corpus_path(const char *fmt, const char *name, char *buf,
                        size_t n) {
  const char *me = __FILE__;
  const char *cut = strstr(me, "unit/test_fuzz_regress.c");
  ck_assert_msg(cut != NULL, "cannot locate tests/ from %s", me);
  snprintf(buf, n, "%.*sfuzz/corpus/%s%s%s", (int)(cut - me), me, fmt,
           name ? "/" : "", name ? name : "");
}

static char *slurp(const char *fmt, const char *name, size_t *len) {
  char p[4096];
  corpus_path(fmt, name, p, sizeof p);
  FILE *f = fopen(p, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", p);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  b[n] = 0;
  *len = (size_t)n;
  return b;
}

/* Runs one input through the reader of fmt (both file-reader modes);
 * returns the status of the (copying) read. */
static bd_status read_one(const char *fmt, const char *data, size_t len) {
  bd_status first = BD_OK;
  if (!strcmp(fmt, "safetensors") || !strcmp(fmt, "torchzip")) {
    for (int borrow = 0; borrow < 2; borrow++) {
      proto_tfile_limits lim = {.max_elems = 1 << 26, .borrow = borrow};
      proto_tfile f;
      bd_status s = !strcmp(fmt, "safetensors")
                        ? proto_safetensors_read(data, len, &lim, &f, NULL)
                        : proto_torchzip_read(data, len, &lim, &f);
      proto_tfile_clear(&f);
      if (!borrow) first = s;
    }
  } else if (!strcmp(fmt, "npy")) {
    bd_tensor *t = NULL;
    first = proto_npy_read(data, len, 1 << 26, &t);
    bd_tensor_release(t);
  } else {
    cJSON *j = cJSON_ParseWithLength(data, len);
    ck_assert_ptr_nonnull(j);
    if (!strcmp(fmt, "json_tensor")) {
      bd_tensor *t = NULL;
      first = proto_tensor_from_json(j, "inputs", 1 << 26, &t);
      bd_tensor_release(t);
    } else {
      bd_build_limits lim = {
          .max_depth = 16, .max_bytes = 16 << 20, .max_blocks = 256};
      bd_block *b = NULL;
      first = proto_spec_build_tree(j, BD_CPU, &lim, "block", &b);
      bd_block_release(b);
    }
    cJSON_Delete(j);
  }
  return first;
}

static const char *const formats[] = {"safetensors", "torchzip",   "npy",
                                      "json_tensor", "block_spec", NULL};

/* Every crash_* replays without crashing; every ok_* reads. */
START_TEST(replay_corpus) {
  int crashes = 0, oks = 0;
  for (int i = 0; formats[i]; i++) {
    char p[4096];
    corpus_path(formats[i], NULL, p, sizeof p);
    DIR *d = opendir(p);
    ck_assert_msg(d != NULL, "cannot list %s", p);
    struct dirent *e;
    while ((e = readdir(d))) {
      bool crash = !strncmp(e->d_name, "crash_", 6);
      bool ok = !strncmp(e->d_name, "ok_", 3);
      if (!crash && !ok) continue;
      size_t len;
      char *data = slurp(formats[i], e->d_name, &len);
      bd_status s = read_one(formats[i], data, len);
      free(data);
      if (ok)
        ck_assert_msg(s == BD_OK, "%s/%s: status %d (%s)", formats[i],
                      e->d_name, s, bd_errmsg());
      crashes += crash;
      oks += ok;
    }
    closedir(d);
  }
  ck_assert_int_ge(crashes, 5);
  ck_assert_int_ge(oks, 10);
}
END_TEST

/* torchzip.c formed sdata + offset*4 for an empty view with offset
 * 2^62-1 (pointer overflow): the view reads fine, 0 elements. */
START_TEST(tz_empty_view_offset) {
  size_t len;
  char *data = slurp("torchzip", "crash_tz_empty_view_offset.bin", &len);
  for (int borrow = 0; borrow < 2; borrow++) {
    proto_tfile_limits lim = {.borrow = borrow};
    proto_tfile f;
    ck_assert_int_eq(proto_torchzip_read(data, len, &lim, &f), BD_OK);
    ck_assert_uint_eq(f.list.n, 1);
    ck_assert_str_eq(f.list.names[0], "w");
    ck_assert_int_eq(f.list.tensors[0]->ndim, 1);
    ck_assert_int_eq(f.list.tensors[0]->shape[0], 0);
    proto_tfile_clear(&f);
  }
  free(data);
}
END_TEST

/* Shape (0, 2^62, 2^62), strides (1, 2^62, 1): tz_contiguous overflowed
 * int64; such shapes are now refused. */
START_TEST(tz_zero_dim_overflow) {
  size_t len;
  char *data = slurp("torchzip", "crash_tz_zero_dim_stride_overflow.bin", &len);
  proto_tfile_limits lim = {.borrow = true};
  proto_tfile f;
  ck_assert_int_eq(proto_torchzip_read(data, len, &lim, &f), BD_ELIMIT);
  ck_assert_uint_eq(f.list.n, 0);
  free(data);
}
END_TEST

START_TEST(shape_rules) {
  int64_t n = -1;
  int64_t a[] = {0, (int64_t)1 << 62, (int64_t)1 << 62};
  ck_assert_int_eq(bd_shape_numel(3, a, &n), BD_ELIMIT);
  int64_t b[] = {3, 0, 5};
  ck_assert_int_eq(bd_shape_numel(3, b, &n), BD_OK);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(bd_shape_span(3, b), 15);
  int64_t c[] = {(int64_t)1 << 40, 0};
  ck_assert_int_eq(bd_shape_numel(2, c, &n), BD_OK);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(bd_shape_span(2, c), (int64_t)1 << 40);
  int64_t d[] = {(int64_t)1 << 41, 0};
  ck_assert_int_eq(bd_shape_numel(2, d, &n), BD_ELIMIT);
  int64_t e[] = {4, 6};
  ck_assert_int_eq(bd_shape_numel(2, e, &n), BD_OK);
  ck_assert_int_eq(n, 24);
  ck_assert_int_eq(bd_shape_span(0, e), 1);
}
END_TEST

/* {"shape":[2^40,0],"data":[]} was accepted (0 elements) and printing it
 * back walked 2^40 rows: the element limit now counts the span. */
START_TEST(json_empty_span_refused) {
  size_t len;
  char *data = slurp("json_tensor", "crash_json_empty_span.bin", &len);
  cJSON *j = cJSON_ParseWithLength(data, len);
  bd_tensor *t = NULL;
  ck_assert_int_eq(proto_tensor_from_json(j, "inputs", 1 << 26, &t), BD_ELIMIT);
  ck_assert_ptr_null(t);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "non-zero dimensions"));
  cJSON_Delete(j);
  free(data);
  /* The same rule for .npy: shape (2^40, 0). */
  const char hdr[] =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 0), }";
  unsigned char buf[256] = "\x93NUMPY\x01\x00";
  size_t hl = sizeof hdr - 1;
  buf[8] = (unsigned char)hl;
  buf[9] = 0;
  memcpy(buf + 10, hdr, hl);
  ck_assert_int_eq(proto_npy_read(buf, 10 + hl, 1 << 26, &t), BD_ELIMIT);
  ck_assert_ptr_null(t);
}
END_TEST

/* The writer printed shape [24,5,0,0] as 24 x 5 empty lists, which the
 * reader refused ("nesting 3 does not match rank 4"): it reads back now,
 * and real raggedness is still refused. */
START_TEST(json_zero_dim_roundtrip) {
  size_t len;
  char *data = slurp("json_tensor", "crash_json_zero_dim_roundtrip.bin", &len);
  cJSON *j = cJSON_ParseWithLength(data, len);
  bd_tensor *t = NULL;
  ck_assert_int_eq(proto_tensor_from_json(j, "inputs", 0, &t), BD_OK);
  cJSON_Delete(j);
  free(data);
  ck_assert_int_eq(t->ndim, 4);
  int64_t want[] = {24, 5, 0, 0};
  for (int i = 0; i < 4; i++) ck_assert_int_eq(t->shape[i], want[i]);
  cJSON *k = proto_tensor_to_cjson(t, false);
  char *txt = cJSON_PrintUnformatted(k);
  cJSON_Delete(k);
  cJSON *back = cJSON_Parse(txt);
  free(txt);
  bd_tensor *u = NULL;
  ck_assert_int_eq(proto_tensor_from_json(back, "back", 0, &u), BD_OK);
  ck_assert_int_eq(u->ndim, 4);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(u->shape[i], want[i]);
  cJSON_Delete(back);
  bd_tensor_release(u);
  bd_tensor_release(t);

  const char *cases[][2] = {
      {"{\"shape\":[2,0,3],\"data\":[[],[]]}", "ok"},
      {"{\"shape\":[2,0,3],\"data\":[[],[[1,2,3]]]}", "ragged"},
      {"{\"shape\":[2,1,3],\"data\":[[],[]]}", "mismatch"},
      {"{\"shape\":[2,0],\"data\":[[],[],[]]}", "mismatch"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *c = cJSON_Parse(cases[i][0]);
    bd_tensor *v = NULL;
    bd_status s = proto_tensor_from_json(c, "x", 0, &v);
    if (!strcmp(cases[i][1], "ok")) {
      ck_assert_msg(s == BD_OK, "%s: %s", cases[i][0], bd_errmsg());
      ck_assert_int_eq(v->ndim, 3);
      ck_assert_int_eq(v->shape[2], 3);
    } else {
      ck_assert_msg(s == BD_ESHAPE, "%s: status %d", cases[i][0], s);
    }
    bd_tensor_release(v);
    cJSON_Delete(c);
  }
}
END_TEST

/* matmul.c cast a shape entry of 7.8e120 to int64 before its range check
 * (undefined; caught by UBSan, e.g. under `make asan`). */
START_TEST(matmul_shape_cast) {
  size_t len;
  char *data = slurp("block_spec", "crash_matmul_shape_cast.bin", &len);
  ck_assert_int_eq(read_one("block_spec", data, len), BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(),
                   "block.weight.shape[0]: must be a positive integer");
  free(data);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  bd_blocks_init();
  Suite *s = suite_create("fuzz_regress");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, replay_corpus);
  tcase_add_test(tc, tz_empty_view_offset);
  tcase_add_test(tc, tz_zero_dim_overflow);
  tcase_add_test(tc, shape_rules);
  tcase_add_test(tc, json_empty_span_refused);
  tcase_add_test(tc, json_zero_dim_roundtrip);
  tcase_add_test(tc, matmul_shape_cast);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
