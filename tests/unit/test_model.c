/* test_model.c - engine/model.h: the model API that takes the model's lock
 * itself. Snapshots, mode, RNG and SGD counters, parameter edits that are
 * all-or-nothing, read callbacks, and a concurrency smoke test: forward
 * passes racing edits, inits and mode changes only ever see a whole state
 * (run under TSan/helgrind to check the locking, here for values). */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/init.h"
#include "engine/model.h"
#include "engine/param_edit.h"
#include "engine/path.h"
#include "proto/spec_json.h"

static bd_model *model(const char *json, uint64_t seed) {
  cJSON *spec = cJSON_Parse(json);
  ck_assert_ptr_nonnull(spec);
  bd_model *m;
  ck_assert_msg(proto_model_create("m", spec, seed, BD_CPU, NULL, &m) == BD_OK,
                "%s", bd_errmsg());
  cJSON_Delete(spec);
  return m;
}

static bd_tensor *filled(int64_t rows, int64_t cols, float v) {
  int64_t shape[2] = {rows, cols};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, cols ? 2 : 1, shape, &t),
                   BD_OK);
  float *d = bd_tensor_f32(t);
  for (int64_t i = 0; i < rows * (cols ? cols : 1); i++) d[i] = v;
  return t;
}

static const char *lin_drop =
    "{\"type\":\"sequential\",\"layers\":["
    "{\"type\":\"linear\",\"in_features\":4,\"out_features\":3},"
    "{\"type\":\"dropout\",\"p\":0.5}]}";

START_TEST(test_info_and_setters) {
  bd_model *m = model(lin_drop, 9);
  bd_model_info in;
  ck_assert_int_eq(bd_model_get_info(m, &in), BD_OK);
  ck_assert_str_eq(in.name, "m");
  ck_assert_str_eq(bd_model_name(m), "m");
  ck_assert(in.training);
  ck_assert_uint_eq(in.seed, 9);
  ck_assert_int_eq(in.param_count, 4 * 3 + 3);
  ck_assert_int_eq(in.bytes, (4 * 3 + 3) * 4);
  ck_assert_int_eq(in.ndevices, 1);
  ck_assert(bd_device_eq(in.device_bytes[0].dev, BD_CPU));
  ck_assert_int_eq(in.device_bytes[0].bytes, (4 * 3 + 3) * 4);
  ck_assert_int_eq(in.sgd_steps, 0);
  int64_t count, bytes;
  bd_model_count(m, &count, &bytes);
  ck_assert_int_eq(count, in.param_count);
  ck_assert_int_eq(bytes, in.bytes);

  /* a train-mode forward through dropout advances the RNG position */
  uint64_t off0 = in.rng_offset;
  bd_tensor *x = filled(2, 4, 1.0f), *y = NULL;
  ck_assert_int_eq(bd_model_forward(m, x, &y), BD_OK);
  bd_tensor_release(y);
  ck_assert_int_eq(bd_model_get_info(m, &in), BD_OK);
  ck_assert_uint_gt(in.rng_offset, off0);

  bd_model_set_mode(m, false);
  bd_model_set_rng_offset(m, 12345);
  ck_assert_int_eq(bd_model_set_sgd_steps(m, 7), BD_OK);
  ck_assert_int_eq(bd_model_set_sgd_steps(m, -1), BD_EINVAL);
  ck_assert_int_eq(bd_model_get_info(m, &in), BD_OK);
  ck_assert(!in.training);
  ck_assert_uint_eq(in.rng_offset, 12345);
  ck_assert_int_eq(in.sgd_steps, 7);
  /* eval mode: no draws */
  ck_assert_int_eq(bd_model_forward(m, x, &y), BD_OK);
  bd_tensor_release(y);
  ck_assert_int_eq(bd_model_get_info(m, &in), BD_OK);
  ck_assert_uint_eq(in.rng_offset, 12345);
  /* moving to a device that does not exist changes nothing */
  ck_assert_int_eq(bd_model_move(m, (bd_device){BD_DEV_CUDA, 15}),
                   BD_ENOTFOUND);
  ck_assert_int_eq(bd_model_move(m, BD_CPU), BD_OK);
  bd_tensor_release(x);
  bd_model_release(m);
}
END_TEST

/* Reads 0.weight under the lock and counts the callback's calls. */
typedef struct read_ctx {
  int calls;
  float w00;
  uint64_t seed;
  bd_status fail;
} read_ctx;

static bd_status read_cb(bd_model *m, const bd_model_info *info, void *ctx) {
  read_ctx *c = ctx;
  c->calls++;
  c->seed = info->seed;
  bd_block *b;
  ck_assert_int_eq(bd_path_block(bd_model_root(m), "0", &b, NULL), BD_OK);
  c->w00 = bd_tensor_f32(b->params[0]->value)[0];
  return c->fail ? bd_fail(c->fail, "callback failed") : BD_OK;
}

START_TEST(test_param_put_patch_and_read) {
  bd_model *m = model(lin_drop, 1);
  bd_tensor *w = filled(3, 4, 2.5f), *bad = filled(4, 3, 1.0f);
  bd_param_meta meta;
  ck_assert_int_eq(bd_model_param_put(m, "0.weight", w, &meta), BD_OK);
  ck_assert_str_eq(meta.name, "0.weight");
  free(meta.name);
  ck_assert_int_eq(meta.ndim, 2);
  ck_assert_int_eq(meta.shape[0], 3);
  ck_assert_int_eq(meta.shape[1], 4);
  ck_assert(meta.requires_grad);
  ck_assert(!meta.is_buffer);
  /* a wrong shape or a missing path changes nothing */
  ck_assert_int_eq(bd_model_param_put(m, "0.weight", bad, &meta), BD_ESHAPE);
  ck_assert_int_eq(bd_model_param_put(m, "9.weight", w, NULL), BD_ENOTFOUND);
  read_ctx c = {0};
  ck_assert_int_eq(bd_model_read(m, read_cb, &c), BD_OK);
  ck_assert_int_eq(c.calls, 1);
  ck_assert_uint_eq(c.seed, 1);
  ck_assert(c.w00 == 2.5f);

  /* patch: an edit and requires_grad together */
  bd_param_edit e = {.op = BD_EDIT_ADD, .value = 1.0};
  ck_assert_int_eq(bd_model_param_patch(m, "0.weight", &e, 0, &meta), BD_OK);
  free(meta.name);
  ck_assert(!meta.requires_grad);
  ck_assert_int_eq(bd_model_read(m, read_cb, &c), BD_OK);
  ck_assert(c.w00 == 3.5f);
  /* a failing check applies neither the edit nor requires_grad */
  bd_param_edit set = {
      .op = BD_EDIT_SET, .value = 9, .nindex = 2, .index = {7, 0}};
  ck_assert_int_eq(bd_model_param_patch(m, "0.weight", &set, 1, &meta),
                   BD_EINVAL);
  ck_assert_int_eq(bd_model_param_patch(m, "0.weight", NULL, -1, &meta), BD_OK);
  free(meta.name);
  ck_assert(!meta.requires_grad);
  ck_assert_int_eq(bd_model_read(m, read_cb, &c), BD_OK);
  ck_assert(c.w00 == 3.5f);
  /* the callback's status comes back */
  c.fail = BD_EIO;
  ck_assert_int_eq(bd_model_read(m, read_cb, &c), BD_EIO);
  ck_assert_int_eq(c.calls, 4);
  bd_tensor_release(w);
  bd_tensor_release(bad);
  bd_model_release(m);
}
END_TEST

START_TEST(test_init_advances_rng) {
  bd_model *m = model(lin_drop, 3);
  bd_model_info a, b;
  ck_assert_int_eq(bd_model_get_info(m, &a), BD_OK);
  bd_init_step st = {.method = BD_INIT_NORMAL, .mean = 0, .std = 1};
  bd_init_request req = {.steps = &st, .nsteps = 1, .target = "weight"};
  char **touched = NULL;
  int nt = 0;
  ck_assert_int_eq(bd_model_init(m, &req, &touched, &nt), BD_OK);
  ck_assert_int_eq(nt, 1);
  ck_assert_str_eq(touched[0], "0.weight");
  free(touched[0]);
  free(touched);
  ck_assert_int_eq(bd_model_get_info(m, &b), BD_OK);
  ck_assert_uint_gt(b.rng_offset, a.rng_offset);
  /* a selector that matches nothing: nothing changes */
  req.target = "nope";
  ck_assert_int_eq(bd_model_init(m, &req, &touched, &nt), BD_EINVAL);
  ck_assert_int_eq(bd_model_get_info(m, &a), BD_OK);
  ck_assert_uint_eq(a.rng_offset, b.rng_offset);
  bd_model_release(m);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

/* y = x W^T with x all ones (1x8) and W filled with w: every output is 8w.
 * The writer moves W between 1, 2 and 3 (put, init constant, patch fill)
 * and flips the mode; a reader must see one whole W, never a mix. */
typedef struct race {
  bd_model *m;
  int stop; /* atomic: a plain (even volatile) flag is a data race */
  int bad;
  long forwards;
} race;

static void *reader(void *p) {
  race *r = p;
  bd_tensor *x = filled(1, 8, 1.0f);
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    bd_tensor *y = NULL;
    if (bd_model_forward(r->m, x, &y) != BD_OK) {
      __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
      break;
    }
    const float *d = bd_tensor_f32(y);
    float v = d[0];
    bool ok = v == 8.0f || v == 16.0f || v == 24.0f;
    for (int i = 1; i < 8; i++) ok = ok && d[i] == v;
    if (!ok) __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    bd_model_info in;
    if (bd_model_get_info(r->m, &in) != BD_OK || in.param_count != 64)
      __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->forwards, 1, __ATOMIC_RELAXED);
    bd_tensor_release(y);
    /* glibc's rwlock prefers readers: leave the writer a gap. */
    nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
  }
  bd_tensor_release(x);
  return NULL;
}

START_TEST(test_concurrent_forward_and_edits) {
  race r = {.m = model("{\"type\":\"linear\",\"in_features\":8,"
                       "\"out_features\":8,\"bias\":false}",
                       4)};
  bd_tensor *ones = filled(8, 8, 1.0f);
  ck_assert_int_eq(bd_model_param_put(r.m, "weight", ones, NULL), BD_OK);
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &r), 0);
  bd_init_step three = {.method = BD_INIT_CONSTANT, .value = 3};
  bd_init_request req = {.steps = &three, .nsteps = 1, .target = "weight"};
  bd_param_edit fill2 = {.op = BD_EDIT_FILL, .value = 2};
  for (int k = 0; k < 120; k++) {
    /* Interleave for real even on a loaded machine: every 10 edits, wait
     * until the readers have done more forwards than that many tens. */
    while (k % 10 == 0 &&
           __atomic_load_n(&r.forwards, __ATOMIC_RELAXED) <= k / 10)
      nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
    switch (k % 3) {
      case 0:
        ck_assert_int_eq(bd_model_param_put(r.m, "weight", ones, NULL), BD_OK);
        break;
      case 1:
        ck_assert_int_eq(bd_model_param_patch(r.m, "weight", &fill2, -1, NULL),
                         BD_OK);
        break;
      default: {
        char **t;
        int n;
        ck_assert_int_eq(bd_model_init(r.m, &req, &t, &n), BD_OK);
        free(t[0]);
        free(t);
      }
    }
    bd_model_set_mode(r.m, k % 2 == 0);
  }
  __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  ck_assert_int_eq(__atomic_load_n(&r.bad, __ATOMIC_RELAXED), 0);
  ck_assert_int_gt(__atomic_load_n(&r.forwards, __ATOMIC_RELAXED), 0);
  bd_tensor_release(ones);
  bd_model_release(r.m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, test_info_and_setters);
  tcase_add_test(tc, test_param_put_patch_and_read);
  tcase_add_test(tc, test_init_advances_rng);
  tcase_add_test(tc, test_concurrent_forward_and_edits);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
