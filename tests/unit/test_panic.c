/* test_panic.c - always-on assertions (engine/panic.h) and the refcount
 * invariants they guard, and the status table's HTTP column.
 *
 * Each panic case runs in a forked child whose stderr is captured, so the
 * test checks both that the child died of SIGABRT and what it printed
 * (the file:line of the check and its message). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/panic.h"
#include "engine/status.h"
#include "engine/tensor.h"

typedef void (*child_fn)(void);

/* Runs fn in a child; returns its wait status and what it wrote on stderr
 * (at most n - 1 bytes) in buf. */
static int run_child(child_fn fn, char *buf, size_t n) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], 2);
    fn();
    _exit(0); /* fn returned: no panic */
  }
  close(p[1]);
  size_t len = 0;
  ssize_t k;
  while (len + 1 < n && (k = read(p[0], buf + len, n - 1 - len)) > 0)
    len += (size_t)k;
  buf[len] = '\0';
  close(p[0]);
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  return st;
}

static void expect_abort(child_fn fn, const char *needle) {
  char out[2048];
  int st = run_child(fn, out, sizeof out);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                "child did not abort (status %d), stderr: %s", st, out);
  ck_assert_msg(strstr(out, "blockd: panic at ") != NULL, "stderr: %s", out);
  ck_assert_msg(strstr(out, needle) != NULL, "'%s' not in stderr: %s", needle,
                out);
}

static void assert_false(void) {
  int two = 2;
  BD_ASSERT(two == 3, "two is not three");
}

static void assert_true(void) { BD_ASSERT(1 + 1 == 2, "arithmetic"); }

static void panic_fmt(void) { bd_panic("bad index %d of %d", 7, 3); }

/* The state a stray extra release leaves behind on a tensor another holder
 * still uses: its count already at zero. */
static bd_tensor *tensor_with_count(int count) {
  int64_t shape[1] = {4};
  bd_tensor *t = NULL;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, shape, &t), BD_OK);
  t->refcnt = count;
  return t;
}

static void tensor_over_release(void) {
  bd_tensor_release(tensor_with_count(0));
}

static void tensor_retain_released(void) {
  bd_tensor_retain(tensor_with_count(0));
}

static void tensor_balanced(void) {
  bd_tensor *t = tensor_with_count(1);
  bd_tensor_retain(t);
  bd_tensor_release(t);
  bd_tensor_release(t);
  bd_tensor_release(NULL);
}

START_TEST(assert_prints_file_line_and_aborts) {
  char where[64];
  snprintf(where, sizeof where, "%s:", __FILE__);
  expect_abort(assert_false, where);
  expect_abort(assert_false, "two is not three (assertion 'two == 3' failed)");
  expect_abort(panic_fmt, "bad index 7 of 3");
}
END_TEST

START_TEST(assert_holding_does_nothing) {
  char out[256];
  int st = run_child(assert_true, out, sizeof out);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_str_eq(out, "");
  st = run_child(tensor_balanced, out, sizeof out);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "stderr: %s", out);
}
END_TEST

START_TEST(tensor_release_past_zero_panics) {
  expect_abort(tensor_over_release,
               "bd_tensor_release: tensor released more often than "
               "retained");
  expect_abort(tensor_retain_released,
               "bd_tensor_retain: tensor already released");
}
END_TEST

START_TEST(status_table_http_column) {
  ck_assert_uint_eq(bd_status_http(BD_OK), 200);
  ck_assert_uint_eq(bd_status_http(BD_EINVAL), 400);
  ck_assert_uint_eq(bd_status_http(BD_EJSON), 400);
  ck_assert_uint_eq(bd_status_http(BD_ENOTFOUND), 404);
  ck_assert_uint_eq(bd_status_http(BD_EEXIST), 409);
  ck_assert_uint_eq(bd_status_http(BD_ESHAPE), 422);
  ck_assert_uint_eq(bd_status_http(BD_ENOMEM), 507);
  ck_assert_uint_eq(bd_status_http(BD_ETOOLARGE), 413);
  ck_assert_uint_eq(bd_status_http(BD_EPAYLOAD), 413);
  ck_assert_uint_eq(bd_status_http(BD_EMETHOD), 405);
  ck_assert_uint_eq(bd_status_http(BD_EMEDIATYPE), 415);
  ck_assert_uint_eq(bd_status_http(BD_EIO), 500);
  ck_assert_uint_eq(bd_status_http((bd_status)BD_STATUS_COUNT), 500);
  ck_assert_str_eq(bd_status_code(BD_EPAYLOAD), "payload_too_large");
  ck_assert_str_eq(bd_status_code(BD_ETOOLARGE), "too_large");
  ck_assert_str_eq(bd_status_code(BD_EMETHOD), "method_not_allowed");
  ck_assert_str_eq(bd_status_code(BD_EMEDIATYPE), "unsupported_media_type");
  ck_assert_str_eq(bd_status_code((bd_status)-1), "internal");
  /* Every row has its own wire code. */
  for (int a = 0; a < BD_STATUS_COUNT; a++)
    for (int b = a + 1; b < BD_STATUS_COUNT; b++)
      ck_assert_str_ne(bd_status_code((bd_status)a),
                       bd_status_code((bd_status)b));
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("panic");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, assert_prints_file_line_and_aborts);
  tcase_add_test(tc, assert_holding_does_nothing);
  tcase_add_test(tc, tensor_release_past_zero_panics);
  tcase_add_test(tc, status_table_http_column);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
