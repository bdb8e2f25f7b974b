/* test_tensor.c - tensors: shapes, 0-d, dtypes, reshape sharing storage,
 * refcounts, device copies, half/bfloat16 conversion. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/tensor.h"

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

START_TEST(test_new_shape_and_sizes) {
  int64_t shape[3] = {2, 3, 5};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 3, shape, &t), BD_OK);
  ck_assert_int_eq(t->ndim, 3);
  ck_assert_int_eq(bd_tensor_numel(t), 30);
  ck_assert_uint_eq(bd_tensor_nbytes(t), 120);
  ck_assert_int_eq(t->shape[2], 5);
  ck_assert(bd_device_eq(bd_tensor_device(t), BD_CPU));
  /* Storage is 64-byte aligned. */
  ck_assert_uint_eq((uintptr_t)bd_tensor_data(t) % 64, 0);
  char buf[64];
  ck_assert_str_eq(bd_shape_str(t->ndim, t->shape, buf, sizeof buf),
                   "[2, 3, 5]");
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_zero_dim_scalar) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 0, NULL, &t), BD_OK);
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_int_eq(bd_tensor_numel(t), 1);
  ck_assert_uint_eq(bd_tensor_nbytes(t), 4);
  ck_assert(bd_tensor_f32(t)[0] == 0.0f);
  char buf[16];
  ck_assert_str_eq(bd_shape_str(0, t->shape, buf, sizeof buf), "[]");
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_empty_dim) {
  int64_t shape[2] = {0, 7};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, shape, &t), BD_OK);
  ck_assert_int_eq(bd_tensor_numel(t), 0);
  ck_assert_uint_eq(bd_tensor_nbytes(t), 0);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_bad_shapes) {
  bd_tensor *t = NULL;
  int64_t neg[2] = {3, -1};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, neg, &t), BD_EINVAL);
  int64_t huge[2] = {(int64_t)1 << 40, 2};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, huge, &t), BD_ELIMIT);
  int64_t ovf[3] = {INT64_MAX, INT64_MAX, 2};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 3, ovf, &t), BD_ELIMIT);
  int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 9, nine, &t), BD_EINVAL);
  int64_t one[1] = {4};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, (bd_dtype)99, 1, one, &t), BD_EINVAL);
  ck_assert_ptr_null(t);
  int64_t n = -1;
  ck_assert_int_eq(bd_shape_numel(2, neg, &n), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "-1") != NULL);
}
END_TEST

START_TEST(test_int64_and_dtypes) {
  int64_t shape[1] = {3};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, shape, &t), BD_OK);
  ck_assert_uint_eq(bd_tensor_nbytes(t), 24);
  int64_t *p = bd_tensor_data(t);
  p[0] = -5;
  p[1] = ((int64_t)1 << 40) + 1; /* exact in int64, not in float32 */
  p[2] = 7;
  bd_tensor *f;
  ck_assert_int_eq(bd_tensor_as_f32(t, &f), BD_OK);
  ck_assert_int_eq(f->dtype, BD_F32);
  ck_assert(bd_tensor_f32(f)[0] == -5.0f);
  ck_assert(bd_tensor_f32(f)[1] == 1099511627776.0f);
  ck_assert(bd_tensor_f32(f)[2] == 7.0f);
  bd_tensor_release(f);
  /* float32 input: as_f32 returns the same tensor, retained. */
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, shape, &f), BD_OK);
  bd_tensor *g;
  ck_assert_int_eq(bd_tensor_as_f32(f, &g), BD_OK);
  ck_assert_ptr_eq(f, g);
  ck_assert_int_eq(f->refcnt, 2);
  bd_tensor_release(g);
  bd_tensor_release(f);
  bd_tensor_release(t);

  ck_assert_uint_eq(bd_dtype_size(BD_F64), 8);
  ck_assert_uint_eq(bd_dtype_size(BD_F16), 2);
  ck_assert_uint_eq(bd_dtype_size(BD_BF16), 2);
  ck_assert_str_eq(bd_dtype_name(BD_I64), "int64");
  ck_assert_ptr_null(bd_dtype_name((bd_dtype)42));
  bd_dtype dt;
  ck_assert(bd_dtype_parse("half", &dt) && dt == BD_F16);
  ck_assert(bd_dtype_parse("bf16", &dt) && dt == BD_BF16);
  ck_assert(bd_dtype_parse("double", &dt) && dt == BD_F64);
  ck_assert(!bd_dtype_parse("int8", &dt));
  ck_assert(!bd_dtype_parse(NULL, &dt));
}
END_TEST

START_TEST(test_reshape_shares_storage) {
  int64_t shape[2] = {2, 6};
  bd_tensor *t, *r;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, shape, &t), BD_OK);
  for (int i = 0; i < 12; i++) bd_tensor_f32(t)[i] = (float)i;
  int64_t s3[3] = {3, 2, 2};
  ck_assert_int_eq(bd_tensor_reshape(t, 3, s3, &r), BD_OK);
  ck_assert_ptr_eq(r->st, t->st);
  ck_assert_int_eq(t->st->refcnt, 2);
  ck_assert_ptr_eq(bd_tensor_data(r), bd_tensor_data(t));
  bd_tensor_f32(r)[5] = 42.0f; /* a write through one is seen by the other */
  ck_assert(bd_tensor_f32(t)[5] == 42.0f);
  /* Releasing the original keeps the storage alive for the view. */
  bd_tensor_release(t);
  ck_assert_int_eq(r->st->refcnt, 1);
  ck_assert(bd_tensor_f32(r)[11] == 11.0f);
  int64_t bad[1] = {13};
  bd_tensor *x = NULL;
  ck_assert_int_eq(bd_tensor_reshape(r, 1, bad, &x), BD_ESHAPE);
  ck_assert_ptr_null(x);
  ck_assert(strstr(bd_errmsg(), "[3, 2, 2]") && strstr(bd_errmsg(), "[13]"));
  /* Reshape to 0-d from a 1-element tensor. */
  int64_t one[1] = {1};
  bd_tensor *o, *s;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, one, &o), BD_OK);
  ck_assert_int_eq(bd_tensor_reshape(o, 0, NULL, &s), BD_OK);
  ck_assert_int_eq(s->ndim, 0);
  bd_tensor_release(s);
  bd_tensor_release(o);
  bd_tensor_release(r);
}
END_TEST

START_TEST(test_refcounts) {
  int64_t shape[1] = {4};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, shape, &t), BD_OK);
  ck_assert_int_eq(t->refcnt, 1);
  ck_assert_ptr_eq(bd_tensor_retain(t), t);
  ck_assert_int_eq(t->refcnt, 2);
  bd_tensor_release(t);
  ck_assert_int_eq(t->refcnt, 1);
  bd_tensor_release(t);
  bd_tensor_release(NULL); /* NULL-safe */
  ck_assert_ptr_null(bd_tensor_retain(NULL));
  /* Allocation accounting returns to where it started. */
  bd_backend *be = bd_backend_get(BD_CPU);
  int64_t before = be->allocated;
  int64_t big[2] = {100, 100};
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, big, &t), BD_OK);
  ck_assert_int_eq(be->allocated, before + 40000);
  bd_tensor_release(t);
  ck_assert_int_eq(be->allocated, before);
}
END_TEST

START_TEST(test_copy_and_to) {
  int64_t shape[2] = {2, 2};
  bd_tensor *a, *b, *c;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, shape, &a), BD_OK);
  for (int i = 0; i < 4; i++) bd_tensor_f32(a)[i] = (float)i + 0.5f;
  ck_assert_int_eq(bd_tensor_to(a, BD_CPU, &b), BD_OK);
  ck_assert_ptr_ne(b->st, a->st); /* a deep copy */
  ck_assert_mem_eq(bd_tensor_data(a), bd_tensor_data(b), 16);
  int64_t s4[1] = {4};
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, s4, &c), BD_OK);
  ck_assert_int_eq(bd_tensor_copy_into(c, a), BD_OK); /* same numel */
  ck_assert(bd_tensor_f32(c)[3] == 3.5f);
  bd_tensor *i64;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, s4, &i64), BD_OK);
  ck_assert_int_eq(bd_tensor_copy_into(i64, a), BD_EDTYPE);
  int64_t s5[1] = {5};
  bd_tensor *five;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, s5, &five), BD_OK);
  ck_assert_int_eq(bd_tensor_copy_into(five, a), BD_ESHAPE);
  ck_assert(!bd_tensor_same_shape(a, c));
  ck_assert(bd_tensor_same_shape(a, b));
  /* A device that does not exist. */
  bd_device cuda9 = {BD_DEV_CUDA, 9};
  bd_tensor *g = NULL;
  ck_assert_int_eq(bd_tensor_new(cuda9, BD_F32, 1, s4, &g), BD_ENOTFOUND);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(c);
  bd_tensor_release(i64);
  bd_tensor_release(five);
}
END_TEST

START_TEST(test_device_strings) {
  bd_device d;
  char buf[16];
  ck_assert(bd_device_parse("cpu", &d) && d.type == BD_DEV_CPU);
  ck_assert(bd_device_parse("cuda", &d) && d.type == BD_DEV_CUDA &&
            d.index == 0);
  ck_assert(bd_device_parse("cuda:3", &d) && d.index == 3);
  ck_assert_str_eq(bd_device_str(d, buf, sizeof buf), "cuda:3");
  ck_assert(!bd_device_parse("cuda:", &d));
  ck_assert(!bd_device_parse("cuda:-1", &d));
  ck_assert(!bd_device_parse("cuda:1x", &d));
  ck_assert(!bd_device_parse("gpu", &d));
  ck_assert(bd_device_resolve("cpu", &d) == BD_OK && d.type == BD_DEV_CPU);
  ck_assert_int_eq(bd_device_resolve("tpu", &d), BD_EINVAL);
  if (bd_backend_cuda_count() == 0)
    ck_assert_int_eq(bd_device_resolve("cuda:0", &d), BD_ENOTFOUND);
}
END_TEST

START_TEST(test_half_known_values) {
  /* Hand-checked IEEE binary16 encodings. */
  static const struct {
    float f;
    uint16_t h;
  } cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {0.5f, 0x3800},
      {65504.0f, 0x7bff},
      {0.333251953125f, 0x3555},        /* nearest half to 1/3 */
      {5.9604644775390625e-8f, 0x0001}, /* smallest subnormal 2^-24 */
      {6.103515625e-05f, 0x0400},       /* smallest normal 2^-14 */
      {INFINITY, 0x7c00},
      {-INFINITY, 0xfc00},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_uint_eq(bd_float_to_half(cases[i].f), cases[i].h);
    ck_assert_uint_eq(f2u(bd_half_to_float(cases[i].h)), f2u(cases[i].f));
  }
  /* Rounding: 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even
   * (1.0); 1 + 3*2^-11 rounds up to 1 + 2^-9. */
  ck_assert_uint_eq(bd_float_to_half(1.0f + 0.00048828125f), 0x3c00);
  ck_assert_uint_eq(bd_float_to_half(1.0f + 3 * 0.00048828125f), 0x3c02);
  /* Overflow: 65520 rounds to inf; 1e6 is inf. */
  ck_assert_uint_eq(bd_float_to_half(65520.0f), 0x7c00);
  ck_assert_uint_eq(bd_float_to_half(-1e6f), 0xfc00);
  /* Underflow to zero keeps the sign. */
  ck_assert_uint_eq(bd_float_to_half(-1e-10f), 0x8000);
  /* NaN stays NaN. */
  ck_assert(isnan(bd_half_to_float(bd_float_to_half(NAN))));
  /* Every finite half survives half -> float -> half. */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    ck_assert_uint_eq(bd_float_to_half(bd_half_to_float((uint16_t)h)), h);
  }
}
END_TEST

START_TEST(test_bf16_known_values) {
  ck_assert_uint_eq(bd_float_to_bf16(1.0f), 0x3f80);
  ck_assert_uint_eq(bd_float_to_bf16(-2.0f), 0xc000);
  ck_assert_uint_eq(bd_float_to_bf16(INFINITY), 0x7f80);
  ck_assert_uint_eq(f2u(bd_bf16_to_float(0x3f80)), f2u(1.0f));
  /* 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even. */
  ck_assert_uint_eq(bd_float_to_bf16(u2f(0x3f808000u)), 0x3f80);
  /* 0x3f818000 is halfway with an odd lower neighbour: rounds up. */
  ck_assert_uint_eq(bd_float_to_bf16(u2f(0x3f818000u)), 0x3f82);
  ck_assert_uint_eq(bd_float_to_bf16(u2f(0x3f808001u)), 0x3f81);
  ck_assert(isnan(bd_bf16_to_float(bd_float_to_bf16(NAN))));
  /* Every non-NaN bf16 survives bf16 -> float -> bf16. */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
    ck_assert_uint_eq(bd_float_to_bf16(bd_bf16_to_float((uint16_t)h)), h);
  }
}
END_TEST

START_TEST(test_as_f32_half_bf16_f64) {
  int64_t shape[1] = {3};
  bd_tensor *h, *b, *d, *out;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F16, 1, shape, &h), BD_OK);
  uint16_t *hp = bd_tensor_data(h);
  hp[0] = 0x3c00;
  hp[1] = 0xc000;
  hp[2] = 0x0001;
  ck_assert_int_eq(bd_tensor_as_f32(h, &out), BD_OK);
  ck_assert(bd_tensor_f32(out)[0] == 1.0f && bd_tensor_f32(out)[1] == -2.0f &&
            bd_tensor_f32(out)[2] == 5.9604644775390625e-8f);
  bd_tensor_release(out);
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_BF16, 1, shape, &b), BD_OK);
  uint16_t *bp = bd_tensor_data(b);
  bp[0] = 0x3f80;
  bp[1] = 0x4040;
  bp[2] = 0xbf00;
  ck_assert_int_eq(bd_tensor_as_f32(b, &out), BD_OK);
  ck_assert(bd_tensor_f32(out)[0] == 1.0f && bd_tensor_f32(out)[1] == 3.0f &&
            bd_tensor_f32(out)[2] == -0.5f);
  bd_tensor_release(out);
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F64, 1, shape, &d), BD_OK);
  double *dp = bd_tensor_data(d);
  dp[0] = 0.1;
  dp[1] = 1e300;
  dp[2] = -3.0;
  ck_assert_int_eq(bd_tensor_as_f32(d, &out), BD_OK);
  ck_assert(bd_tensor_f32(out)[0] == 0.1f);
  ck_assert(isinf(bd_tensor_f32(out)[1]));
  ck_assert(bd_tensor_f32(out)[2] == -3.0f);
  bd_tensor_release(out);
  bd_tensor_release(h);
  bd_tensor_release(b);
  bd_tensor_release(d);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tensor");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_new_shape_and_sizes);
  tcase_add_test(tc, test_zero_dim_scalar);
  tcase_add_test(tc, test_empty_dim);
  tcase_add_test(tc, test_bad_shapes);
  tcase_add_test(tc, test_int64_and_dtypes);
  tcase_add_test(tc, test_reshape_shares_storage);
  tcase_add_test(tc, test_refcounts);
  tcase_add_test(tc, test_copy_and_to);
  tcase_add_test(tc, test_device_strings);
  tcase_add_test(tc, test_half_known_values);
  tcase_add_test(tc, test_bf16_known_values);
  tcase_add_test(tc, test_as_f32_half_bf16_f64);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
