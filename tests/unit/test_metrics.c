/* test_metrics.c - server/metrics: counters, histograms, the scheduler
 * hooks and their model map, and the text exposition. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "server/metrics.h"

static const char *const routes[] = {"/v1/health", "/v1/models/{m}/forward"};

static void setup(void) { ck_assert_int_eq(srv_metrics_init(routes, 2), 0); }

static void teardown(void) { srv_metrics_free(); }

/* The exposition, malloc'd. */
static char *render(void) {
  proto_buf b = {0};
  srv_metrics_render(NULL, &b);
  char *t = proto_buf_take(&b, NULL);
  ck_assert_ptr_nonnull(t);
  return t;
}

/* The value of the sample whose name and labels are exactly series
 * ("name{k=\"v\"}"), or -1 when the exposition has no such line. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
    if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n, NULL);
  return -1;
}

START_TEST(http_counts_by_route_method_status) {
  srv_metrics_http(0, "GET", 200, 0.001);
  srv_metrics_http(0, "GET", 200, 0.002);
  srv_metrics_http(1, "POST", 422, 0.003);
  srv_metrics_http(-1, "GET", 404, 0.0001);
  srv_metrics_http(7, "BREW", 404, 0.0001); /* no such route, odd method */
  char *t = render();
  ck_assert_double_eq(sample(t,
                             "blockd_http_requests_total{route=\"/v1/health\","
                             "method=\"GET\",status=\"200\"}"),
                      2);
  ck_assert_double_eq(
      sample(t,
             "blockd_http_requests_total{route=\"/v1/models/{m}/forward\","
             "method=\"POST\",status=\"422\"}"),
      1);
  ck_assert_double_eq(sample(t,
                             "blockd_http_requests_total{route=\"other\","
                             "method=\"GET\",status=\"404\"}"),
                      1);
  ck_assert_double_eq(sample(t,
                             "blockd_http_requests_total{route=\"other\","
                             "method=\"other\",status=\"404\"}"),
                      1);
  /* Series that saw nothing are not shown. */
  ck_assert_double_eq(sample(t,
                             "blockd_http_requests_total{route=\"/v1/health\","
                             "method=\"POST\",status=\"200\"}"),
                      -1);
  ck_assert_ptr_nonnull(
      strstr(t, "# TYPE blockd_http_requests_total counter\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "# TYPE blockd_http_request_duration_seconds histogram\n"));
  free(t);
}
END_TEST

START_TEST(histogram_buckets_sum_and_count) {
  /* 0.0003 -> le 0.0005; 0.004 -> le 0.005; 0.7 -> le 1; 100 -> +Inf;
   * -1 and NaN count as 0 -> le 0.0005. */
  double v[] = {0.0003, 0.004, 0.7, 100, -1, NAN};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    srv_metrics_http(0, "GET", 200, v[i]);
  char *t = render();
  const char *pre =
      "blockd_http_request_duration_seconds_bucket{route=\"/v1/"
      "health\",method=\"GET\",le=\"";
  struct {
    const char *le;
    double want;
  } b[] = {{"0.0005", 3}, {"0.001", 3}, {"0.005", 4}, {"0.5", 4},
           {"1", 5},      {"30", 5},    {"+Inf", 6}};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
    char s[256];
    snprintf(s, sizeof s, "%s%s\"}", pre, b[i].le);
    ck_assert_msg(sample(t, s) == b[i].want, "%s: %g, want %g", s, sample(t, s),
                  b[i].want);
  }
  double sum = sample(t,
                      "blockd_http_request_duration_seconds_sum{route=\"/v1/"
                      "health\",method=\"GET\"}");
  ck_assert_double_eq_tol(sum, 0.0003 + 0.004 + 0.7 + 100, 1e-9);
  ck_assert_double_eq(sample(t,
                             "blockd_http_request_duration_seconds_count{"
                             "route=\"/v1/health\",method=\"GET\"}"),
                      6);
  free(t);
}
END_TEST

START_TEST(scheduler_hooks_by_model) {
  srv_metrics_queue_time("mlp", 0.002);
  srv_metrics_queue_time("mlp", 0.02);
  srv_metrics_compute_time("mlp", 0.5);
  srv_metrics_batch("mlp", 3);
  srv_metrics_batch("mlp", 8);
  srv_metrics_batch("mlp", 300);
  srv_metrics_rejected("mlp", "queue_full");
  srv_metrics_rejected("mlp", "queue_full");
  srv_metrics_rejected("mlp", "Dead line!"); /* cleaned to dead_line_ */
  srv_metrics_inference("mlp");
  srv_metrics_inference("other-model");
  char *t = render();
  ck_assert_double_eq(
      sample(t, "blockd_model_queue_duration_seconds_count{model=\"mlp\"}"), 2);
  ck_assert_double_eq(
      sample(t,
             "blockd_model_queue_duration_seconds_bucket{model=\"mlp\",le=\"0."
             "0025\"}"),
      1);
  ck_assert_double_eq_tol(
      sample(t, "blockd_model_queue_duration_seconds_sum{model=\"mlp\"}"),
      0.022, 1e-9);
  ck_assert_double_eq(
      sample(t, "blockd_model_compute_duration_seconds_count{model=\"mlp\"}"),
      1);
  ck_assert_double_eq(
      sample(t, "blockd_model_batch_size_bucket{model=\"mlp\",le=\"4\"}"), 1);
  ck_assert_double_eq(
      sample(t, "blockd_model_batch_size_bucket{model=\"mlp\",le=\"8\"}"), 2);
  ck_assert_double_eq(
      sample(t, "blockd_model_batch_size_bucket{model=\"mlp\",le=\"256\"}"), 2);
  ck_assert_double_eq(
      sample(t, "blockd_model_batch_size_bucket{model=\"mlp\",le=\"+Inf\"}"),
      3);
  ck_assert_double_eq(sample(t, "blockd_model_batch_size_sum{model=\"mlp\"}"),
                      311);
  ck_assert_double_eq(sample(t,
                             "blockd_model_rejected_requests_total{model="
                             "\"mlp\",reason=\"queue_full\"}"),
                      2);
  ck_assert_double_eq(sample(t,
                             "blockd_model_rejected_requests_total{model="
                             "\"mlp\",reason=\"dead_line_\"}"),
                      1);
  ck_assert_double_eq(sample(t, "blockd_model_inferences_total{model=\"mlp\"}"),
                      1);
  ck_assert_double_eq(
      sample(t, "blockd_model_inferences_total{model=\"other-model\"}"), 1);
  free(t);
}
END_TEST

START_TEST(reasons_past_the_cap_count_as_other) {
  for (int i = 0; i < SRV_METRICS_MAX_REASONS + 3; i++) {
    char why[16];
    snprintf(why, sizeof why, "r%d", i);
    srv_metrics_rejected("m", why);
  }
  char *t = render();
  char s[128];
  snprintf(s, sizeof s,
           "blockd_model_rejected_requests_total{model=\"m\",reason=\"r%d\"}",
           SRV_METRICS_MAX_REASONS - 1);
  ck_assert_double_eq(sample(t, s), 1);
  snprintf(s, sizeof s,
           "blockd_model_rejected_requests_total{model=\"m\",reason=\"r%d\"}",
           SRV_METRICS_MAX_REASONS);
  ck_assert_double_eq(sample(t, s), -1);
  ck_assert_double_eq(sample(t,
                             "blockd_model_rejected_requests_total{model="
                             "\"m\",reason=\"other\"}"),
                      3);
  free(t);
}
END_TEST

START_TEST(forget_drops_a_models_series) {
  srv_metrics_batch("gone", 2);
  srv_metrics_inference("gone");
  srv_metrics_rejected("gone", "queue_full");
  srv_metrics_inference("kept");
  srv_metrics_model_forget("gone");
  srv_metrics_model_forget("never-seen");
  char *t = render();
  ck_assert_ptr_null(strstr(t, "model=\"gone\""));
  ck_assert_double_eq(
      sample(t, "blockd_model_inferences_total{model=\"kept\"}"), 1);
  free(t);
  /* The name starts again from zero. */
  srv_metrics_inference("gone");
  t = render();
  ck_assert_double_eq(
      sample(t, "blockd_model_inferences_total{model=\"gone\"}"), 1);
  free(t);
}
END_TEST

START_TEST(models_past_the_cap_and_bad_names_count_as_other) {
  char name[32];
  for (int i = 0; i < SRV_METRICS_MAX_MODELS + 5; i++) {
    snprintf(name, sizeof name, "m%d", i);
    srv_metrics_inference(name);
  }
  srv_metrics_inference("bad\"name\n");
  srv_metrics_inference(NULL);
  char *t = render();
  snprintf(name, sizeof name, "m%d", SRV_METRICS_MAX_MODELS - 1);
  char s[128];
  snprintf(s, sizeof s, "blockd_model_inferences_total{model=\"%s\"}", name);
  ck_assert_double_eq(sample(t, s), 1);
  snprintf(s, sizeof s, "blockd_model_inferences_total{model=\"m%d\"}",
           SRV_METRICS_MAX_MODELS);
  ck_assert_double_eq(sample(t, s), -1);
  ck_assert_double_eq(
      sample(t, "blockd_model_inferences_total{model=\"(other)\"}"), 7);
  free(t);
  /* Forgetting one frees a slot for a new name. */
  srv_metrics_model_forget("m3");
  srv_metrics_inference("newcomer");
  t = render();
  ck_assert_double_eq(
      sample(t, "blockd_model_inferences_total{model=\"newcomer\"}"), 1);
  free(t);
}
END_TEST

START_TEST(label_values_are_escaped) {
  proto_buf b = {0};
  srv_metrics_label_value(&b, "a\"b\\c\nd\te");
  char *t = proto_buf_take(&b, NULL);
  ck_assert_str_eq(t, "a\\\"b\\\\c\\nd\te");
  free(t);
}
END_TEST

START_TEST(scrape_time_gauges) {
  char *t = render();
  ck_assert_double_eq(sample(t, "blockd_models_loaded"), 0);
  ck_assert(sample(t, "blockd_process_resident_memory_bytes") > 0);
  ck_assert(sample(t, "process_cpu_seconds_total") >= 0);
  ck_assert(sample(t, "process_start_time_seconds") > 1.6e9);
  ck_assert(sample(t, "blockd_device_bytes{device=\"cpu\"}") >= 0);
  ck_assert_ptr_nonnull(strstr(t, "blockd_build_info{version=\""));
  free(t);
}
END_TEST

/* Every family, the scheduler's included, filled with series and run
 * through `promtool check metrics` (Debian's prometheus package): the
 * families nothing in the daemon feeds yet must lint clean too. */
START_TEST(exposition_passes_promtool) {
  ck_assert_msg(system("command -v promtool >/dev/null 2>&1") == 0,
                "promtool not found: install Debian's prometheus package "
                "(scripts/install-deps.sh)");
  srv_metrics_http(0, "GET", 200, 0.01);
  srv_metrics_http(-1, "PUT", 404, 0.2);
  srv_metrics_inference("a.b-c_d");
  srv_metrics_queue_time("a.b-c_d", 0.003);
  srv_metrics_compute_time("a.b-c_d", 0.04);
  srv_metrics_batch("a.b-c_d", 5);
  srv_metrics_rejected("a.b-c_d", "queue_full");
  srv_metrics_rejected(NULL, "deadline");
  char *t = render();
  char path[] = "/tmp/test_metrics_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert_ptr_nonnull(f);
  fputs(t, f);
  fclose(f);
  free(t);
  char cmd[256], out[4096] = "";
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int rc = pclose(p);
  unlink(path);
  ck_assert_msg(rc == 0 && n == 0, "promtool: %s", out);
}
END_TEST

/* Threads record the same series (and create the same new model and
 * reason) at once: no count is lost. */
#define NTHREADS 8
#define NITER 20000

static void *hammer(void *arg) {
  (void)arg;
  for (int i = 0; i < NITER; i++) {
    srv_metrics_http(1, "POST", i % 2 ? 200 : 503, 0.001);
    srv_metrics_batch("race", 2);
    srv_metrics_rejected("race", i % 2 ? "a" : "b");
  }
  return NULL;
}

START_TEST(concurrent_recording_loses_nothing) {
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, NULL), 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  char *t = render();
  double half = NTHREADS * NITER / 2;
  ck_assert_double_eq(
      sample(t,
             "blockd_http_requests_total{route=\"/v1/models/{m}/forward\","
             "method=\"POST\",status=\"200\"}"),
      half);
  ck_assert_double_eq(
      sample(t,
             "blockd_http_requests_total{route=\"/v1/models/{m}/forward\","
             "method=\"POST\",status=\"503\"}"),
      half);
  ck_assert_double_eq(
      sample(t, "blockd_model_batch_size_count{model=\"race\"}"), 2 * half);
  ck_assert_double_eq(sample(t,
                             "blockd_model_rejected_requests_total{model="
                             "\"race\",reason=\"a\"}"),
                      half);
  ck_assert_double_eq(sample(t,
                             "blockd_model_rejected_requests_total{model="
                             "\"race\",reason=\"b\"}"),
                      half);
  free(t);
}
END_TEST

int main(void) {
  bd_backends_init();
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, http_counts_by_route_method_status);
  tcase_add_test(tc, histogram_buckets_sum_and_count);
  tcase_add_test(tc, scheduler_hooks_by_model);
  tcase_add_test(tc, reasons_past_the_cap_count_as_other);
  tcase_add_test(tc, forget_drops_a_models_series);
  tcase_add_test(tc, models_past_the_cap_and_bad_names_count_as_other);
  tcase_add_test(tc, label_values_are_escaped);
  tcase_add_test(tc, scrape_time_gauges);
  tcase_add_test(tc, exposition_passes_promtool);
  tcase_add_test(tc, concurrent_recording_loses_nothing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
