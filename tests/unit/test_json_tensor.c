/* test_json_tensor.c - the JSON tensor codec: shortest round-trip float32
 * printing (bit-identical through the decoder for >= 100000 random bit
 * patterns incl. subnormals, +-0, inf, nan), nested vs flat, 0-d, dtypes,
 * and every kind of bad input. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_tensor.h"

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

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd32(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs >> 32);
}

/* Decodes text into a tensor (expects success). */
static bd_tensor *dec(const char *text) {
  cJSON *j = cJSON_Parse(text);
  ck_assert_msg(j != NULL, "unparsable test JSON");
  bd_tensor *t = NULL;
  bd_status s = proto_tensor_from_json(j, "inputs", 0, &t);
  ck_assert_msg(s == BD_OK, "decode failed: %s", bd_errmsg());
  cJSON_Delete(j);
  return t;
}

static void dec_err(const char *text, bd_status want, const char *msg_part) {
  cJSON *j = cJSON_Parse(text);
  ck_assert_msg(j != NULL, "unparsable test JSON %s", text);
  bd_tensor *t = NULL;
  bd_status s = proto_tensor_from_json(j, "inputs", 1000, &t);
  ck_assert_msg(s == want, "%s: status %d (%s), want %d", text, s, bd_errmsg(),
                want);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr(bd_errmsg(), msg_part) != NULL,
                "%s: message '%s' lacks '%s'", text, bd_errmsg(), msg_part);
  cJSON_Delete(j);
}

static char *enc(const bd_tensor *t, bool flat) {
  proto_buf b = {0};
  proto_tensor_write(&b, t, flat);
  char *s = proto_buf_take(&b, NULL);
  ck_assert_ptr_nonnull(s);
  return s;
}

START_TEST(test_fmt_known) {
  char buf[32];
  static const struct {
    float f;
    const char *s;
  } cases[] = {
      {0.0f, "0"},
      {-0.0f, "-0"},
      {1.0f, "1"},
      {0.1f, "0.1"},
      {-2.5f, "-2.5"},
      {1e10f, "1e+10"},
      {3.4028235e38f, "3.4028235e+38"},   /* FLT_MAX */
      {1.17549435e-38f, "1.1754944e-38"}, /* FLT_MIN */
      {1.4e-45f, "1e-45"},       /* smallest subnormal: shortest form */
      {16777217.0f, "16777216"}, /* 2^24 + 1 -> 2^24 */
      {0.3f, "0.3"},
      {1.0f / 3, "0.33333334"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int n = proto_fmt_f32(cases[i].f, buf, false);
    ck_assert_msg(strcmp(buf, cases[i].s) == 0, "%.9g printed as %s",
                  (double)cases[i].f, buf);
    ck_assert_int_eq(n, (int)strlen(cases[i].s));
  }
  proto_fmt_f32(NAN, buf, true);
  ck_assert_str_eq(buf, "\"NaN\"");
  proto_fmt_f32(-INFINITY, buf, true);
  ck_assert_str_eq(buf, "\"-Infinity\"");
  proto_fmt_f32(INFINITY, buf, false);
  ck_assert_str_eq(buf, "Infinity");
}
END_TEST

/* The shortest %.{q}g form that reads back to f. */
static void shortest(float f, char *buf) {
  for (int q = 1; q <= 9; q++) {
    snprintf(buf, 32, "%.*g", q, (double)f);
    if (strtof(buf, NULL) == f) return;
  }
}

START_TEST(test_random_bits_round_trip) {
  /* 100000 random patterns plus the special ones; the first 20000 forced
   * into the subnormal range. Printed one by one and checked against
   * strtof and against the shortest form; then all of them go through
   * the encoder, cJSON and the decoder and come back bit-identical. */
  const int64_t n = 120000;
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, &n, &t), BD_OK);
  uint32_t *bits = bd_tensor_data(t);
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = rnd32();
    if (i < 20000) u &= 0x807fffffu; /* exponent 0: subnormal or zero */
    bits[i] = u;
  }
  static const uint32_t special[] = {
      0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff,
      0x00800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000,
      0x7fc00000, 0xffc00001, 0x3f800000, 0x4b800001};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
    bits[20000 + i] = special[i];
  char buf[40], want[40];
  for (int64_t i = 0; i < n; i++) {
    float f = u2f(bits[i]);
    proto_fmt_f32(f, buf, false);
    if (isnan(f)) {
      ck_assert_str_eq(buf, "NaN");
      continue;
    }
    if (isinf(f)) continue;
    ck_assert_msg(f2u(strtof(buf, NULL)) == bits[i], "%08x printed as %s",
                  bits[i], buf);
    /* Shortest: no longer than the fewest-digits %g form ("-697120" and
     * "-6.9712e+05" both have 5 significant digits). */
    shortest(f, want);
    ck_assert_msg(strlen(buf) <= strlen(want),
                  "%08x printed as %s, shortest %s", bits[i], buf, want);
  }
  for (int flat = 0; flat < 2; flat++) {
    char *text = enc(t, flat);
    bd_tensor *back = dec(text);
    free(text);
    ck_assert_int_eq(back->ndim, 1);
    ck_assert_int_eq(back->shape[0], n);
    const uint32_t *got = bd_tensor_data(back);
    for (int64_t i = 0; i < n; i++) {
      if (isnan(u2f(bits[i])))
        ck_assert(isnan(u2f(got[i])));
      else
        ck_assert_msg(got[i] == bits[i],
                      "element %lld: %08x came back as "
                      "%08x",
                      (long long)i, bits[i], got[i]);
    }
    bd_tensor_release(back);
  }
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_nested_and_flat) {
  int64_t shape[3] = {2, 3, 2};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 3, shape, &t), BD_OK);
  for (int i = 0; i < 12; i++) bd_tensor_f32(t)[i] = (float)i * 0.5f - 1;
  char *nested = enc(t, false), *flat = enc(t, true);
  ck_assert_str_eq(nested,
                   "{\"shape\":[2,3,2],\"dtype\":\"float32\",\"data\":"
                   "[[[-1,-0.5],[0,0.5],[1,1.5]],[[2,2.5],[3,3.5],[4,4.5]]]}");
  ck_assert_str_eq(flat,
                   "{\"shape\":[2,3,2],\"dtype\":\"float32\",\"data\":"
                   "[-1,-0.5,0,0.5,1,1.5,2,2.5,3,3.5,4,4.5]}");
  bd_tensor *a = dec(nested), *b = dec(flat);
  /* A bare nested list infers the shape. */
  bd_tensor *c = dec("[[[-1,-0.5],[0,0.5],[1,1.5]],[[2,2.5],[3,3.5],[4,4.5]]]");
  bd_tensor *all[3] = {a, b, c};
  for (int k = 0; k < 3; k++) {
    ck_assert(bd_tensor_same_shape(all[k], t));
    ck_assert_mem_eq(bd_tensor_data(all[k]), bd_tensor_data(t), 48);
    bd_tensor_release(all[k]);
  }
  free(nested);
  free(flat);
  bd_tensor_release(t);
  /* 1-d: nested and flat coincide. */
  bd_tensor *v = dec("{\"shape\":[3],\"data\":[1,2,3]}");
  ck_assert_int_eq(v->ndim, 1);
  ck_assert(bd_tensor_f32(v)[2] == 3);
  bd_tensor_release(v);
  /* Empty tensors. */
  bd_tensor *e = dec("{\"shape\":[0,3],\"data\":[]}");
  ck_assert_int_eq(e->ndim, 2);
  ck_assert_int_eq(e->shape[1], 3);
  ck_assert_int_eq(bd_tensor_numel(e), 0);
  char *et = enc(e, false);
  ck_assert_str_eq(et, "{\"shape\":[0,3],\"dtype\":\"float32\",\"data\":[]}");
  free(et);
  bd_tensor_release(e);
}
END_TEST

START_TEST(test_zero_dim) {
  bd_tensor *a = dec("4.5"), *b = dec("{\"shape\":[],\"data\":4.5}"),
            *c = dec("{\"shape\":[],\"data\":[4.5]}");
  bd_tensor *all[3] = {a, b, c};
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(all[k]->ndim, 0);
    ck_assert(bd_tensor_f32(all[k])[0] == 4.5f);
  }
  char *s = enc(a, false);
  ck_assert_str_eq(s, "{\"shape\":[],\"dtype\":\"float32\",\"data\":4.5}");
  free(s);
  s = enc(a, true);
  ck_assert_str_eq(s, "{\"shape\":[],\"dtype\":\"float32\",\"data\":[4.5]}");
  free(s);
  for (int k = 0; k < 3; k++) bd_tensor_release(all[k]);
}
END_TEST

START_TEST(test_dtypes) {
  bd_tensor *i =
      dec("{\"shape\":[3],\"dtype\":\"int64\","
          "\"data\":[-3,0,9007199254740993]}");
  ck_assert_int_eq(i->dtype, BD_I64);
  const int64_t *ip = bd_tensor_data(i);
  ck_assert_int_eq(ip[0], -3);
  char *s = enc(i, false);
  ck_assert(strncmp(s, "{\"shape\":[3],\"dtype\":\"int64\",\"data\":[-3,0,",
                    40) == 0);
  free(s);
  bd_tensor_release(i);
  bd_tensor *h =
      dec("{\"shape\":[2],\"dtype\":\"float16\",\"data\":[1.5,"
          "65504]}");
  ck_assert_int_eq(h->dtype, BD_F16);
  ck_assert_uint_eq(((uint16_t *)bd_tensor_data(h))[0], 0x3e00);
  ck_assert_uint_eq(((uint16_t *)bd_tensor_data(h))[1], 0x7bff);
  s = enc(h, false);
  ck_assert_str_eq(s,
                   "{\"shape\":[2],\"dtype\":\"float16\",\"data\":[1.5,"
                   "65504]}");
  free(s);
  bd_tensor_release(h);
  bd_tensor *d =
      dec("{\"shape\":[2],\"dtype\":\"float64\",\"data\":[0.1,"
          "1e300]}");
  s = enc(d, false);
  ck_assert_str_eq(s,
                   "{\"shape\":[2],\"dtype\":\"float64\",\"data\":[0.1,"
                   "1e+300]}");
  free(s);
  bd_tensor_release(d);
  bd_tensor *nf = dec("[\"NaN\",\"Infinity\",\"-Infinity\",true]");
  ck_assert(isnan(bd_tensor_f32(nf)[0]));
  ck_assert(isinf(bd_tensor_f32(nf)[1]) && bd_tensor_f32(nf)[1] > 0);
  ck_assert(isinf(bd_tensor_f32(nf)[2]) && bd_tensor_f32(nf)[2] < 0);
  ck_assert(bd_tensor_f32(nf)[3] == 1);
  s = enc(nf, false);
  ck_assert_str_eq(s,
                   "{\"shape\":[4],\"dtype\":\"float32\",\"data\":"
                   "[\"NaN\",\"Infinity\",\"-Infinity\",1]}");
  free(s);
  bd_tensor_release(nf);
  /* 1e308 fits a double but overflows float32 to infinity. */
  bd_tensor *big = dec("[1e308, -1e308]");
  ck_assert(isinf(bd_tensor_f32(big)[0]) && isinf(bd_tensor_f32(big)[1]));
  bd_tensor_release(big);
}
END_TEST

START_TEST(test_bad_input) {
  dec_err("[[1,2],[3]]", BD_ESHAPE, "ragged");
  dec_err("[[1,2],3]", BD_ESHAPE, "ragged");
  dec_err("[1,[2]]", BD_ESHAPE, "ragged");
  dec_err("[[1,2],[3,4,5]]", BD_ESHAPE, "ragged");
  dec_err("{\"shape\":[2,2],\"data\":[[1,2],[3]]}", BD_ESHAPE, "ragged");
  dec_err("{\"shape\":[2,3],\"data\":[[1,2],[3,4]]}", BD_ESHAPE,
          "does not match shape");
  dec_err("{\"shape\":[2,2],\"data\":[1,2,3]}", BD_ESHAPE, "3 values given");
  dec_err("{\"shape\":[3],\"data\":[1,2]}", BD_ESHAPE, "");
  dec_err("{\"shape\":[2],\"data\":5}", BD_ESHAPE, "needs shape []");
  dec_err("{\"shape\":[4],\"data\":[[1,2],[3,4]]}", BD_ESHAPE, "");
  dec_err("{\"shape\":[2],\"data\":[1,\"x\"]}", BD_EINVAL,
          "element 1 is the string 'x'");
  dec_err("{\"shape\":[2],\"data\":[1,null]}", BD_EINVAL,
          "element 1 is not a number");
  dec_err("[{}]", BD_EINVAL, "element 0 is not a number");
  dec_err("{\"shape\":[2]}", BD_EINVAL, "inputs.data: missing");
  dec_err("{\"shape\":[1],\"data\":[1],\"device\":\"cpu\"}", BD_EINVAL,
          "inputs.device: unknown field");
  dec_err("{\"shape\":[1],\"dtype\":\"int8\",\"data\":[1]}", BD_EINVAL,
          "inputs.dtype: unknown dtype");
  dec_err("{\"shape\":[1],\"dtype\":7,\"data\":[1]}", BD_EINVAL,
          "inputs.dtype");
  dec_err("{\"shape\":\"2x2\",\"data\":[1]}", BD_EINVAL,
          "inputs.shape: must be a list");
  dec_err("{\"shape\":[-1],\"data\":[]}", BD_EINVAL, "inputs.shape[0]");
  dec_err("{\"shape\":[1.5],\"data\":[1]}", BD_EINVAL, "inputs.shape[0]");
  dec_err("{\"shape\":[\"2\"],\"data\":[1,2]}", BD_EINVAL, "inputs.shape[0]");
  dec_err("{\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[1]}", BD_EINVAL,
          "more than 8 dimensions");
  dec_err("[[[[[[[[[1]]]]]]]]]", BD_EINVAL, "more than 8 nested levels");
  dec_err("{\"shape\":[1e15,1e15],\"data\":[]}", BD_ELIMIT, "inputs.shape");
  dec_err("{\"shape\":[1e300],\"data\":[]}", BD_EINVAL, "inputs.shape[0]");
  dec_err("{\"shape\":[1001,1],\"data\":[]}", BD_ELIMIT,
          "1001 elements exceed the limit of 1000");
  dec_err("\"abc\"", BD_EINVAL, "a tensor is an object");
  dec_err("null", BD_EINVAL, "a tensor is an object");
  dec_err("{\"shape\":[1],\"dtype\":\"int64\",\"data\":[2.5]}", BD_EINVAL,
          "not an integer");
  dec_err("{\"shape\":[1],\"dtype\":\"int64\",\"data\":[\"NaN\"]}", BD_EINVAL,
          "not a number");
  dec_err("{\"shape\":[1],\"dtype\":\"int64\",\"data\":[1e300]}", BD_EINVAL,
          "not an integer");
  bd_tensor *t = NULL;
  ck_assert_int_eq(proto_tensor_from_json(NULL, "inputs", 0, &t), BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(), "inputs: missing");
}
END_TEST

START_TEST(test_to_cjson_raw) {
  int64_t n = 2;
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, &n, &t), BD_OK);
  bd_tensor_f32(t)[0] = 0.1f;
  bd_tensor_f32(t)[1] = -7;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "x", proto_tensor_to_cjson(t, false));
  char *s = cJSON_PrintUnformatted(o);
  ck_assert_str_eq(s,
                   "{\"x\":{\"shape\":[2],\"dtype\":\"float32\","
                   "\"data\":[0.1,-7]}}");
  free(s);
  cJSON_Delete(o);
  bd_tensor_release(t);
}
END_TEST

/* proto_tensor_json_bound is never below what proto_tensor_write prints,
 * with every element at its longest form, for each dtype and shapes with
 * zero dimensions; and it is within a small factor of it. */
START_TEST(test_json_bound_is_upper_bound) {
  static const int64_t shapes[][4] = {
      {7, 0, 0, 0}, {3, 5, 0, 0}, {2, 3, 4, 0}, {4, 0, 3, 0}, {0, 9, 0, 0}};
  static const int ndims[] = {1, 2, 3, 3, 2};
  static const bd_dtype dts[] = {BD_F32, BD_F64, BD_F16, BD_BF16, BD_I64};
  for (size_t si = 0; si < 5; si++)
    for (size_t di = 0; di < 5; di++) {
      bd_tensor *t;
      ck_assert_int_eq(
          bd_tensor_new(BD_CPU, dts[di], ndims[si], shapes[si], &t), BD_OK);
      int64_t n = bd_tensor_numel(t);
      for (int64_t i = 0; i < n; i++) switch (dts[di]) {
          case BD_F32:
            bd_tensor_f32(t)[i] = -1.17549435e-38f;
            break;
          case BD_F64:
            ((double *)bd_tensor_data(t))[i] = -2.2250738585072014e-308;
            break;
          case BD_I64:
            ((int64_t *)bd_tensor_data(t))[i] = INT64_MIN;
            break;
          default:
            ((uint16_t *)bd_tensor_data(t))[i] = 0x8001;
            break;
        }
      int64_t bound = proto_tensor_json_bound(dts[di], ndims[si], shapes[si]);
      for (int flat = 0; flat < 2; flat++) {
        proto_buf b = {0};
        proto_tensor_write(&b, t, flat);
        ck_assert_int_le((int64_t)b.len, bound);
        if (n > 0 && !flat) ck_assert_int_le(bound, 3 * (int64_t)b.len);
        proto_buf_free(&b);
      }
      bd_tensor_release(t);
    }
  int64_t huge[] = {INT64_MAX / 2, INT64_MAX / 2};
  ck_assert(proto_tensor_json_bound(BD_F32, 2, huge) == INT64_MAX);
}
END_TEST

int main(void) {
  Suite *s = suite_create("json_tensor");
  TCase *tc = tcase_create("codec");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_fmt_known);
  tcase_add_test(tc, test_random_bits_round_trip);
  tcase_add_test(tc, test_nested_and_flat);
  tcase_add_test(tc, test_zero_dim);
  tcase_add_test(tc, test_dtypes);
  tcase_add_test(tc, test_bad_input);
  tcase_add_test(tc, test_to_cjson_raw);
  tcase_add_test(tc, test_json_bound_is_upper_bound);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
