/* test_exec.c - the per-call arena: zeroed, aligned memory that lives
 * until bd_exec_end, reused by the next call on the same thread, with
 * nested calls and thread exit (ASan builds check nothing leaks). */
#include <check.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/exec.h"

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

static void *one_call(size_t n) {
  bd_exec ex;
  bd_exec_begin(&ex, BD_CPU, false, true, 1, NULL);
  unsigned char *p = bd_exec_alloc(&ex, n);
  ck_assert_ptr_nonnull(p);
  ck_assert(all_zero(p, n));
  memset(p, 0xab, n);
  bd_exec_end(&ex);
  return p;
}

START_TEST(test_reused_and_zeroed) {
  void *a = one_call(100);
  /* The next call on this thread gets the same memory back, zeroed. */
  ck_assert_ptr_eq(one_call(100), a);
  ck_assert_ptr_eq(one_call(3000), a);
}
END_TEST

START_TEST(test_many_and_large) {
  bd_exec ex;
  bd_exec_begin(&ex, BD_CPU, false, true, 1, NULL);
  unsigned char *prev[500];
  for (int i = 0; i < 500; i++) {
    size_t n = (size_t)(1 + (i * 37) % 5000) + (i == 250 ? (2u << 20) : 0);
    prev[i] = bd_exec_alloc(&ex, n);
    ck_assert_ptr_nonnull(prev[i]);
    ck_assert_uint_eq((uintptr_t)prev[i] % alignof(max_align_t), 0);
    ck_assert(all_zero(prev[i], n));
    memset(prev[i], i & 0xff, n);
  }
  /* Nothing was overwritten by a later allocation. */
  for (int i = 0; i < 500; i++) ck_assert_int_eq(prev[i][0], i & 0xff);
  /* A nested call while this one holds memory. */
  one_call(64);
  for (int i = 0; i < 500; i++) ck_assert_int_eq(prev[i][0], i & 0xff);
  bd_exec_end(&ex);
}
END_TEST

static void *thread_body(void *arg) {
  (void)arg;
  one_call(1000);
  one_call(200000);
  return NULL;
}

START_TEST(test_threads) {
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, thread_body, NULL), 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("exec");
  TCase *tc = tcase_create("arena");
  tcase_add_test(tc, test_reused_and_zeroed);
  tcase_add_test(tc, test_many_and_large);
  tcase_add_test(tc, test_threads);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
