/* test_device_move.c - bd_model_to (net.to(device)) and per-device byte
 * accounting.
 *
 *   test_device_move          CPU cases: no-op moves, missing devices,
 *                             accounting of values, grads and momentum
 *   test_device_move --cuda   cpu -> cuda:N -> ... -> cpu round trips are
 *                             bit-identical (values, grads, momentum);
 *                             exits 77 (ctest: SKIPPED) without a GPU. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/device_move.h"
#include "engine/model_internal.h"
#include "proto/spec_json.h"

static bd_model *make_model(bd_device dev, bool tied) {
  const char *txt =
      tied ? "{\"type\":\"sequential\",\"layers\":["
             "{\"type\":\"linear\",\"in_features\":8,\"out_features\":8,"
             "\"id\":\"t\"},{\"type\":\"relu\"},{\"ref\":\"t\"},"
             "{\"type\":\"linear\",\"in_features\":8,\"out_features\":3}]}"
           : "{\"type\":\"sequential\",\"layers\":["
             "{\"type\":\"linear\",\"in_features\":5,\"out_features\":7},"
             "{\"type\":\"relu\"},"
             "{\"type\":\"linear\",\"in_features\":7,\"out_features\":2}]}";
  cJSON *spec = cJSON_Parse(txt);
  ck_assert_ptr_nonnull(spec);
  bd_build_limits lim = {.max_depth = 64, .max_bytes = 0, .max_blocks = 0};
  bd_model *m = NULL;
  ck_assert_msg(proto_model_create("mv", spec, 3, dev, &lim, &m) == BD_OK, "%s",
                bd_errmsg());
  cJSON_Delete(spec);
  return m;
}

/* Gives every parameter a gradient and a momentum buffer with distinct
 * values (drawn from the value itself), as after a backward and a step. */
static void add_grads(bd_model *m) {
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  for (size_t i = 0; i < l.n; i++) {
    if (!bd_state_list_is_first(&l, i)) continue;
    bd_param *p = l.v[i].param;
    bd_device d = bd_tensor_device(p->value);
    ck_assert_int_eq(bd_tensor_to(p->value, d, &p->grad), BD_OK);
    bd_op sq = bd_op_unary(p->grad, p->value, BD_UN_AFFINE, 3.0f, 0.25f);
    ck_assert_int_eq(bd_op_run(&sq), BD_OK);
    ck_assert_int_eq(bd_tensor_to(p->value, d, &p->momentum), BD_OK);
    bd_op ex = bd_op_unary(p->momentum, p->value, BD_UN_EXP, 0, 0);
    ck_assert_int_eq(bd_op_run(&ex), BD_OK);
  }
  bd_state_list_free(&l);
}

/* Host copies of every tensor of m, in state_dict order (values, grads,
 * momentum), concatenated as bytes into buf; returns the length. */
static size_t snapshot(bd_model *m, unsigned char *buf, size_t cap) {
  bd_state_list l = {0};
  size_t off = 0;
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  for (size_t i = 0; i < l.n; i++) {
    bd_param *p = l.v[i].param;
    bd_tensor *ts[3] = {p->value, p->grad, p->momentum};
    for (int k = 0; k < 3; k++) {
      if (!ts[k]) continue;
      bd_tensor *h;
      ck_assert_int_eq(bd_tensor_to(ts[k], BD_CPU, &h), BD_OK);
      size_t n = bd_tensor_nbytes(h);
      ck_assert(off + n <= cap);
      memcpy(buf + off, bd_tensor_data(h), n);
      off += n;
      bd_tensor_release(h);
    }
  }
  bd_state_list_free(&l);
  return off;
}

static unsigned char before[1 << 16], after[1 << 16];

START_TEST(test_same_device_is_noop) {
  bd_model *m = make_model(BD_CPU, false);
  add_grads(m);
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  bd_tensor *v0 = l.v[0].param->value, *g0 = l.v[0].param->grad;
  ck_assert_int_eq(bd_model_to(m, BD_CPU), BD_OK);
  ck_assert_ptr_eq(l.v[0].param->value, v0); /* no copy */
  ck_assert_ptr_eq(l.v[0].param->grad, g0);
  bd_state_list_free(&l);
  bd_model_release(m);
}
END_TEST

START_TEST(test_missing_device_leaves_model) {
  bd_model *m = make_model(BD_CPU, false);
  add_grads(m);
  size_t n = snapshot(m, before, sizeof before);
  bd_device gone = {BD_DEV_CUDA, bd_backend_cuda_count()};
  ck_assert_int_eq(bd_model_to(m, gone), BD_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(bd_errmsg(), "does not exist"));
  ck_assert(bd_device_eq(m->dev, BD_CPU));
  ck_assert_uint_eq(snapshot(m, after, sizeof after), n);
  ck_assert_int_eq(memcmp(before, after, n), 0);
  bd_model_release(m);
}
END_TEST

START_TEST(test_device_bytes) {
  bd_model *m = make_model(BD_CPU, true);
  /* tied 8x8 linear once + 8x3 linear: (64 + 8 + 24 + 3) * 4 bytes */
  const double vals = (64 + 8 + 24 + 3) * 4;
  bd_device_bytes db[BD_MODEL_MAX_DEVICES];
  int n = -1;
  ck_assert_int_eq(bd_model_device_bytes(m, db, BD_MODEL_MAX_DEVICES, &n),
                   BD_OK);
  ck_assert_int_eq(n, 1);
  ck_assert(bd_device_eq(db[0].dev, BD_CPU));
  ck_assert_int_eq(db[0].bytes, (int64_t)vals);
  add_grads(m);
  ck_assert_int_eq(bd_model_device_bytes(m, db, BD_MODEL_MAX_DEVICES, &n),
                   BD_OK);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(db[0].bytes, (int64_t)(3 * vals));
  /* the snapshot reports the same numbers */
  bd_model_info info;
  ck_assert_int_eq(bd_model_get_info(m, &info), BD_OK);
  ck_assert_int_eq(info.ndevices, 1);
  ck_assert_int_eq(info.device_bytes[0].bytes, (int64_t)(3 * vals));
  /* too little room is an error, not a silent truncation */
  ck_assert_int_eq(bd_model_device_bytes(m, db, 0, &n), BD_EINTERNAL);
  bd_model_release(m);
}
END_TEST

START_TEST(test_round_trip_every_gpu) {
  int n = bd_backend_cuda_count();
  bd_model *m = make_model(BD_CPU, true);
  add_grads(m);
  size_t len = snapshot(m, before, sizeof before);
  for (int i = 0; i < n; i++) {
    bd_device d = {BD_DEV_CUDA, i};
    ck_assert_msg(bd_model_to(m, d) == BD_OK, "%s", bd_errmsg());
    ck_assert(bd_device_eq(m->dev, d));
    bd_device_bytes db[BD_MODEL_MAX_DEVICES];
    int nd = -1;
    ck_assert_int_eq(bd_model_device_bytes(m, db, BD_MODEL_MAX_DEVICES, &nd),
                     BD_OK);
    ck_assert_int_eq(nd, 1);
    ck_assert(bd_device_eq(db[0].dev, d));
    ck_assert_uint_eq(snapshot(m, after, sizeof after), len);
    ck_assert_int_eq(memcmp(before, after, len), 0);
  }
  ck_assert_int_eq(bd_model_to(m, BD_CPU), BD_OK);
  ck_assert_uint_eq(snapshot(m, after, sizeof after), len);
  ck_assert_int_eq(memcmp(before, after, len), 0);
  /* the tie survives the trip: one parameter object under two paths */
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(m->root, "", &l), BD_OK);
  ck_assert_ptr_eq(l.v[0].param, l.v[2].param);
  bd_state_list_free(&l);
  bd_model_release(m);
}
END_TEST

int main(int argc, char **argv) {
  bool gpu = argc > 1 && strcmp(argv[1], "--cuda") == 0;
  bd_backends_init();
  bd_blocks_init();
  if (gpu && bd_backend_cuda_count() == 0) {
    printf("test_device_move --cuda: SKIPPED (%s)\n",
           bd_backend_cuda_compiled() ? "no CUDA device present"
                                      : "CUDA backend not compiled in");
    return 77;
  }
  Suite *s = suite_create(gpu ? "device_move_cuda" : "device_move");
  TCase *tc = tcase_create("move");
  if (gpu) {
    tcase_add_test(tc, test_round_trip_every_gpu);
  } else {
    tcase_add_test(tc, test_same_device_is_noop);
    tcase_add_test(tc, test_missing_device_leaves_model);
    tcase_add_test(tc, test_device_bytes);
  }
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
