/* test_rng.c - Philox4x32-10 known answers (Random123's kat_vectors),
 * determinism, stream offsets, and the distributions of bd_rng_fill. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/philox.h"
#include "engine/rng.h"

/* An independent Philox4x32-10 written from the published algorithm (full
 * 128-bit counter, key bumped before rounds 2..10), to check the three
 * Random123 vectors and then bd_philox against it. */
static void ref_philox(const uint32_t ctr_in[4], const uint32_t key_in[2],
                       uint32_t out[4]) {
  uint32_t c[4] = {ctr_in[0], ctr_in[1], ctr_in[2], ctr_in[3]};
  uint32_t k[2] = {key_in[0], key_in[1]};
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t n[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k[0], (uint32_t)p1,
                     (uint32_t)(p0 >> 32) ^ c[3] ^ k[1], (uint32_t)p0};
    memcpy(c, n, sizeof c);
  }
  memcpy(out, c, sizeof c);
}

/* Random123 tests/kat_vectors, the "philox4x32 10" lines:
 * counter (4 words), key (2 words), expected output (4 words). */
static const struct {
  uint32_t ctr[4], key[2], want[4];
} kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

START_TEST(test_philox_kat_zero) {
  /* bd_philox's counter is the low 64 bits (words 2 and 3 are zero) and
   * its key the 64-bit seed: counter 0, key 0 is Random123's first
   * vector. */
  bd_philox4 r = bd_philox(0, 0);
  ck_assert_uint_eq(r.v[0], 0x6627e8d5u);
  ck_assert_uint_eq(r.v[1], 0xe169c58du);
  ck_assert_uint_eq(r.v[2], 0xbc57ac4cu);
  ck_assert_uint_eq(r.v[3], 0x9b00dbd8u);
}
END_TEST

START_TEST(test_reference_matches_all_kat) {
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint32_t out[4];
    ref_philox(kat[i].ctr, kat[i].key, out);
    for (int w = 0; w < 4; w++) ck_assert_uint_eq(out[w], kat[i].want[w]);
  }
}
END_TEST

START_TEST(test_engine_matches_reference) {
  uint64_t x = 0x123456789abcdefULL;
  for (int i = 0; i < 2000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t seed = x;
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t ctr = i < 1000 ? x : (uint64_t)i; /* big and small counters */
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t want[4];
    ref_philox(c, k, want);
    bd_philox4 got = bd_philox(seed, ctr);
    for (int w = 0; w < 4; w++) ck_assert_uint_eq(got.v[w], want[w]);
    ck_assert_uint_eq(bd_philox_u32(seed, ctr, 2), want[2]);
  }
}
END_TEST

START_TEST(test_unit_conversions) {
  ck_assert(bd_u32_to_unit(0) == 0.0f);
  ck_assert(bd_u32_to_unit(0xffffffffu) < 1.0f);
  ck_assert(bd_u32_to_unit(0xffffffffu) == 1.0f - 1.0f / 16777216.0f);
  ck_assert(bd_u32_to_unit_open0(0) > 0.0f);
  ck_assert(bd_u32_to_unit_open0(0xffffffffu) == 1.0f);
  ck_assert_uint_eq(bd_philox_blocks(0), 0);
  ck_assert_uint_eq(bd_philox_blocks(1), 1);
  ck_assert_uint_eq(bd_philox_blocks(4), 1);
  ck_assert_uint_eq(bd_philox_blocks(5), 2);
}
END_TEST

static bd_tensor *draw(int64_t n, bd_rng_kind kind, double p0, double p1,
                       uint64_t seed, uint64_t *off) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 1, &n, &t), BD_OK);
  ck_assert_int_eq(bd_rng_fill(t, kind, p0, p1, seed, off), BD_OK);
  return t;
}

START_TEST(test_determinism_and_offsets) {
  uint64_t o1 = 0, o2 = 0;
  bd_tensor *a = draw(103, BD_RNG_UNIFORM, -1, 1, 42, &o1);
  bd_tensor *b = draw(103, BD_RNG_UNIFORM, -1, 1, 42, &o2);
  ck_assert_mem_eq(bd_tensor_data(a), bd_tensor_data(b), 103 * 4);
  ck_assert_uint_eq(o1, 26); /* ceil(103 / 4) blocks consumed */
  ck_assert_uint_eq(o2, 26);
  /* A different seed gives a different stream. */
  uint64_t o3 = 0;
  bd_tensor *c = draw(103, BD_RNG_UNIFORM, -1, 1, 43, &o3);
  ck_assert(memcmp(bd_tensor_data(a), bd_tensor_data(c), 103 * 4) != 0);
  /* Element i of a draw at offset off is word i%4 of block off + i/4:
   * elements 8.. of the first draw equal a draw starting at offset 2. */
  uint64_t o4 = 2;
  bd_tensor *d = draw(95, BD_RNG_UNIFORM, -1, 1, 42, &o4);
  ck_assert_mem_eq((float *)bd_tensor_data(a) + 8, bd_tensor_data(d), 95 * 4);
  ck_assert_uint_eq(o4, 2 + 24);
  /* Consecutive draws continue the stream after the consumed blocks: the
   * second draw of 3 starts at block 1, so it equals elements 4..6 of a
   * single draw of 7. */
  uint64_t o5 = 0, o6 = 0;
  bd_tensor *e1 = draw(3, BD_RNG_UNIFORM, 0, 1, 9, &o5);
  bd_tensor *e2 = draw(3, BD_RNG_UNIFORM, 0, 1, 9, &o5);
  bd_tensor *all = draw(7, BD_RNG_UNIFORM, 0, 1, 9, &o6);
  ck_assert_mem_eq(bd_tensor_data(e1), bd_tensor_data(all), 3 * 4);
  ck_assert_mem_eq(bd_tensor_data(e2), (float *)bd_tensor_data(all) + 4, 12);
  ck_assert_uint_eq(o5, 2);
  /* The uniform value is exactly a + (b - a) * (u32 >> 8) / 2^24. */
  uint32_t w = bd_philox_u32(42, 0, 5);
  float want = -1.0f + 2.0f * ((float)(w >> 8) / 16777216.0f);
  ck_assert(((float *)bd_tensor_data(a))[5] == want);
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(c);
  bd_tensor_release(d);
  bd_tensor_release(e1);
  bd_tensor_release(e2);
  bd_tensor_release(all);
}
END_TEST

START_TEST(test_uniform_bounds_and_moments) {
  uint64_t off = 0;
  const int64_t n = 200000;
  bd_tensor *t = draw(n, BD_RNG_UNIFORM, -0.5, 1.5, 1234, &off);
  const float *v = bd_tensor_data(t);
  double sum = 0, sq = 0;
  float lo = 1e9f, hi = -1e9f;
  for (int64_t i = 0; i < n; i++) {
    ck_assert(v[i] >= -0.5f && v[i] < 1.5f);
    sum += v[i];
    sq += (double)v[i] * v[i];
    lo = fminf(lo, v[i]);
    hi = fmaxf(hi, v[i]);
  }
  double mean = sum / n, var = sq / n - mean * mean;
  /* mean 0.5 (sd of the mean 0.0013), variance 4/12 = 0.3333 */
  ck_assert_msg(fabs(mean - 0.5) < 0.01, "mean %g", mean);
  ck_assert_msg(fabs(var - 1.0 / 3) < 0.01, "var %g", var);
  ck_assert(lo < -0.49f && hi > 1.49f); /* the draw fills its range */
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_normal_moments) {
  uint64_t off = 0;
  const int64_t n = 200001; /* odd: the last Box-Muller pair is cut */
  bd_tensor *t = draw(n, BD_RNG_NORMAL, 2.0, 3.0, 77, &off);
  const float *v = bd_tensor_data(t);
  double sum = 0, sq = 0;
  int beyond3 = 0;
  for (int64_t i = 0; i < n; i++) {
    ck_assert(isfinite(v[i]));
    sum += v[i];
    sq += (double)v[i] * v[i];
    beyond3 += fabs((v[i] - 2.0) / 3.0) > 3.0;
  }
  double mean = sum / n, var = sq / n - mean * mean;
  ck_assert_msg(fabs(mean - 2.0) < 0.05, "mean %g", mean);
  ck_assert_msg(fabs(var - 9.0) < 0.2, "var %g", var);
  /* P(|z| > 3) = 0.0027: about 540 of 200001. */
  ck_assert_msg(beyond3 > 400 && beyond3 < 700, "tail %d", beyond3);
  ck_assert_uint_eq(off, 50001);
  bd_tensor_release(t);
}
END_TEST

START_TEST(test_fill_rejects_non_f32) {
  int64_t n = 4;
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_I64, 1, &n, &t), BD_OK);
  uint64_t off = 3;
  ck_assert_int_eq(bd_rng_fill(t, BD_RNG_UNIFORM, 0, 1, 1, &off), BD_EDTYPE);
  ck_assert_uint_eq(off, 3); /* offset unchanged on failure */
  bd_tensor_release(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rng");
  TCase *tc = tcase_create("philox");
  tcase_add_test(tc, test_philox_kat_zero);
  tcase_add_test(tc, test_reference_matches_all_kat);
  tcase_add_test(tc, test_engine_matches_reference);
  tcase_add_test(tc, test_unit_conversions);
  tcase_add_test(tc, test_determinism_and_offsets);
  tcase_add_test(tc, test_uniform_bounds_and_moments);
  tcase_add_test(tc, test_normal_moments);
  tcase_add_test(tc, test_fill_rejects_non_f32);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
