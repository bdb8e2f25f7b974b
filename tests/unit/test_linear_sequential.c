/* test_linear_sequential.c - linear and sequential forward on
 * hand-computed cases, last-dim application, error messages, named
 * children, PyTorch's default init bounds. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "engine/model.h"
#include "engine/model_internal.h"
#include "engine/path.h"
#include "proto/spec_json.h"

static cJSON *parse(const char *s) {
  cJSON *j = cJSON_Parse(s);
  ck_assert_ptr_nonnull(j);
  return j;
}

static bd_model *make(const char *spec) {
  bd_blocks_init();
  cJSON *j = parse(spec);
  bd_model *m = NULL;
  bd_status s = proto_model_create("m", j, 1, BD_CPU, NULL, &m);
  ck_assert_msg(s == BD_OK, "create: %s", bd_errmsg());
  cJSON_Delete(j);
  return m;
}

static void set_param(bd_model *m, const char *path, const float *v,
                      int64_t n) {
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  long i = bd_state_list_find(&l, path);
  ck_assert_msg(i >= 0, "no parameter %s", path);
  ck_assert_int_eq(bd_tensor_numel(l.v[i].param->value), n);
  memcpy(bd_tensor_f32(l.v[i].param->value), v, (size_t)n * 4);
  bd_state_list_free(&l);
}

static bd_tensor *input(int ndim, const int64_t *shape, const float *v) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, ndim, shape, &t), BD_OK);
  memcpy(bd_tensor_f32(t), v, bd_tensor_nbytes(t));
  return t;
}

static const float W[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3] */
static const float B[2] = {0.5f, -1};

START_TEST(test_linear_hand_computed) {
  bd_model *m = make(
      "{\"type\":\"linear\",\"in_features\":3,"
      "\"out_features\":2}");
  set_param(m, "weight", W, 6);
  set_param(m, "bias", B, 2);
  /* x = [[1, 0, -1], [2, 1, 0.5]]:
   * row 0: [1-3, 4-6] + b = [-1.5, -3]
   * row 1: [2+2+1.5, 8+5+3] + b = [6, 15] */
  const float x[6] = {1, 0, -1, 2, 1, 0.5f};
  int64_t shape[2] = {2, 3};
  bd_tensor *in = input(2, shape, x), *out = NULL;
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_OK);
  ck_assert_int_eq(out->ndim, 2);
  ck_assert_int_eq(out->shape[0], 2);
  ck_assert_int_eq(out->shape[1], 2);
  const float want[4] = {-1.5f, -3, 6, 15};
  for (int i = 0; i < 4; i++) ck_assert(bd_tensor_f32(out)[i] == want[i]);
  bd_tensor_release(out);
  /* 1-d input: a single row. */
  int64_t s1[1] = {3};
  bd_tensor *v = input(1, s1, x);
  ck_assert_int_eq(bd_model_forward(m, v, &out), BD_OK);
  ck_assert_int_eq(out->ndim, 1);
  ck_assert_int_eq(out->shape[0], 2);
  ck_assert(bd_tensor_f32(out)[0] == -1.5f && bd_tensor_f32(out)[1] == -3);
  bd_tensor_release(out);
  bd_tensor_release(v);
  bd_tensor_release(in);
  bd_model_release(m);
}
END_TEST

START_TEST(test_linear_no_bias) {
  bd_model *m = make(
      "{\"type\":\"linear\",\"in_features\":3,"
      "\"out_features\":2,\"bias\":false}");
  ck_assert_int_eq(m->root->nparams, 1);
  set_param(m, "weight", W, 6);
  const float x[3] = {1, 1, 1};
  int64_t s[2] = {1, 3};
  bd_tensor *in = input(2, s, x), *out;
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_OK);
  ck_assert(bd_tensor_f32(out)[0] == 6 && bd_tensor_f32(out)[1] == 15);
  bd_tensor_release(out);
  bd_tensor_release(in);
  bd_model_release(m);
}
END_TEST

START_TEST(test_linear_last_dim_3d) {
  bd_model *m = make(
      "{\"type\":\"linear\",\"in_features\":3,"
      "\"out_features\":2}");
  set_param(m, "weight", W, 6);
  set_param(m, "bias", B, 2);
  /* [2, 2, 3] -> [2, 2, 2]: every row of the last dim independently. */
  const float x[12] = {1, 0, -1, 2, 1, 0.5f, 0, 0, 0, -1, -1, -1};
  int64_t s[3] = {2, 2, 3};
  bd_tensor *in = input(3, s, x), *out;
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_OK);
  ck_assert_int_eq(out->ndim, 3);
  ck_assert_int_eq(out->shape[0], 2);
  ck_assert_int_eq(out->shape[1], 2);
  ck_assert_int_eq(out->shape[2], 2);
  const float want[8] = {-1.5f, -3, 6, 15, 0.5f, -1, -5.5f, -16};
  for (int i = 0; i < 8; i++)
    ck_assert_msg(bd_tensor_f32(out)[i] == want[i], "[%d] %g", i,
                  (double)bd_tensor_f32(out)[i]);
  bd_tensor_release(out);
  bd_tensor_release(in);
  bd_model_release(m);
}
END_TEST

START_TEST(test_linear_zero_dim_error) {
  bd_model *m = make(
      "{\"type\":\"linear\",\"in_features\":3,"
      "\"out_features\":2}");
  bd_tensor *s, *out = NULL;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 0, NULL, &s), BD_OK);
  ck_assert_int_eq(bd_model_forward(m, s, &out), BD_ESHAPE);
  ck_assert_ptr_null(out);
  ck_assert(strstr(bd_errmsg(), "linear") != NULL);
  ck_assert(strstr(bd_errmsg(), "[]") != NULL);
  bd_tensor_release(s);
  bd_model_release(m);
}
END_TEST

START_TEST(test_sequential_mlp) {
  bd_model *m = make(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":3,\"out_features\":2},"
      "{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":2,\"out_features\":1}]}");
  set_param(m, "0.weight", W, 6);
  set_param(m, "0.bias", B, 2);
  const float w2[2] = {2, -1}, b2[1] = {0.25f};
  set_param(m, "2.weight", w2, 2);
  set_param(m, "2.bias", b2, 1);
  /* hidden = [[-1.5,-3],[6,15]] -> relu [[0,0],[6,15]]
   * out = [0.25, 12 - 15 + 0.25] = [0.25, -2.75] */
  const float x[6] = {1, 0, -1, 2, 1, 0.5f};
  int64_t s[2] = {2, 3};
  bd_tensor *in = input(2, s, x), *out;
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_OK);
  ck_assert_int_eq(out->shape[0], 2);
  ck_assert_int_eq(out->shape[1], 1);
  ck_assert(bd_tensor_f32(out)[0] == 0.25f);
  ck_assert(bd_tensor_f32(out)[1] == -2.75f);
  bd_tensor_release(out);
  /* The input is not modified. */
  for (int i = 0; i < 6; i++) ck_assert(bd_tensor_f32(in)[i] == x[i]);
  bd_tensor_release(in);
  bd_model_release(m);
}
END_TEST

START_TEST(test_sequential_shape_error_names_layers) {
  bd_model *m = make(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256},"
      "{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":255,\"out_features\":10}]}");
  int64_t s[2] = {1, 21};
  bd_tensor *in, *out = NULL;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 2, s, &in), BD_OK);
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_ESHAPE);
  ck_assert_msg(strstr(bd_errmsg(),
                       "layer 0 (linear) expects 20 input "
                       "features, got 21") != NULL,
                "%s", bd_errmsg());
  bd_tensor_release(in);
  /* The mismatch inside: layer 2 names its producer, layer 1 (relu). */
  s[1] = 20;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 2, s, &in), BD_OK);
  ck_assert_int_eq(bd_model_forward(m, in, &out), BD_ESHAPE);
  ck_assert_msg(strstr(bd_errmsg(), "layer 2 (linear) expects 255") &&
                    strstr(bd_errmsg(), "got 256") &&
                    strstr(bd_errmsg(), "[1, 256]") &&
                    strstr(bd_errmsg(), "layer 1 (relu)"),
                "%s", bd_errmsg());
  ck_assert_ptr_null(out);
  bd_tensor_release(in);
  bd_model_release(m);
}
END_TEST

START_TEST(test_named_children_state_dict) {
  bd_model *m = make(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256,"
      "\"name\":\"hidden\"},{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":256,\"out_features\":10,"
      "\"name\":\"out\"}]}");
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  ck_assert_uint_eq(l.n, 4);
  ck_assert_str_eq(l.v[0].path, "hidden.weight");
  ck_assert_str_eq(l.v[1].path, "hidden.bias");
  ck_assert_str_eq(l.v[2].path, "out.weight");
  ck_assert_str_eq(l.v[3].path, "out.bias");
  ck_assert_int_eq(l.v[0].param->value->shape[0], 256);
  ck_assert_int_eq(l.v[0].param->value->shape[1], 20);
  bd_state_list_free(&l);
  int64_t count, bytes;
  ck_assert_int_eq(bd_block_count(m->root, &count, &bytes), BD_OK);
  ck_assert_int_eq(count, 20 * 256 + 256 + 256 * 10 + 10); /* 7946 */
  ck_assert_int_eq(bytes, 4 * 7946);
  bd_block *found;
  ck_assert_int_eq(bd_path_block(m->root, "out", &found, NULL), BD_OK);
  ck_assert_ptr_eq(found, m->root->children[2]);
  ck_assert_int_eq(bd_path_block(m->root, "nope", &found, NULL), BD_ENOTFOUND);
  ck_assert_ptr_null(found);
  bd_model_release(m);
}
END_TEST

START_TEST(test_default_init_bounds_and_seed) {
  const char *spec =
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256},"
      "{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":256,\"out_features\":10}]}";
  bd_model *a = make(spec), *b = make(spec);
  bd_state_list la = {0}, lb = {0};
  ck_assert_int_eq(bd_block_state_dict(a->root, "", &la), BD_OK);
  ck_assert_int_eq(bd_block_state_dict(b->root, "", &lb), BD_OK);
  const double fan[4] = {20, 20, 256, 256};
  for (size_t i = 0; i < 4; i++) {
    bd_tensor *t = la.v[i].param->value;
    double bound = 1 / sqrt(fan[i]), mx = 0;
    for (int64_t k = 0; k < bd_tensor_numel(t); k++) {
      double v = fabs(bd_tensor_f32(t)[k]);
      ck_assert(v <= bound);
      mx = fmax(mx, v);
    }
    ck_assert(mx > 0.8 * bound);
    /* Same seed: bit-identical parameters. */
    ck_assert_mem_eq(bd_tensor_data(t), bd_tensor_data(lb.v[i].param->value),
                     bd_tensor_nbytes(t));
  }
  bd_state_list_free(&la);
  bd_state_list_free(&lb);
  bd_model_release(a);
  bd_model_release(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("linear_sequential");
  TCase *tc = tcase_create("forward");
  tcase_add_test(tc, test_linear_hand_computed);
  tcase_add_test(tc, test_linear_no_bias);
  tcase_add_test(tc, test_linear_last_dim_3d);
  tcase_add_test(tc, test_linear_zero_dim_error);
  tcase_add_test(tc, test_sequential_mlp);
  tcase_add_test(tc, test_sequential_shape_error_names_layers);
  tcase_add_test(tc, test_named_children_state_dict);
  tcase_add_test(tc, test_default_init_bounds_and_seed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
