/* test_namemap.c - the name -> refcounted object map shared by the model
 * registry and the tensor store: references taken and dropped exactly
 * once, insertion order, replace vs keep, and the tensor store's sorted
 * listing on top of it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/namemap.h"
#include "engine/tensor_store.h"

/* A test object: a refcount the callbacks move. */
typedef struct obj {
  int refs;
  int id;
} obj;

static void *obj_retain(void *p) {
  ((obj *)p)->refs++;
  return p;
}
static void obj_release(void *p) {
  if (p) ((obj *)p)->refs--;
}
static const bd_namemap_type obj_type = {.retain = obj_retain,
                                         .release = obj_release};

START_TEST(test_put_get_take_refcounts) {
  obj a = {1, 1}, b = {1, 2};
  bd_namemap *m = bd_namemap_new(&obj_type);
  bool existed = true;
  ck_assert_int_eq(bd_namemap_put(m, "a", &a, false, &existed), BD_OK);
  ck_assert(!existed);
  ck_assert_int_eq(a.refs, 2); /* the map holds one */
  obj *g = bd_namemap_get(m, "a");
  ck_assert_ptr_eq(g, &a);
  ck_assert_int_eq(a.refs, 3);
  obj_release(g);
  ck_assert_ptr_null(bd_namemap_get(m, "nope"));
  /* replace false keeps the first object */
  ck_assert_int_eq(bd_namemap_put(m, "a", &b, false, &existed), BD_OK);
  ck_assert(existed);
  ck_assert_int_eq(b.refs, 1);
  ck_assert_ptr_eq(bd_namemap_get(m, "a"), &a);
  obj_release(&a);
  /* replace true swaps and drops the old reference */
  ck_assert_int_eq(bd_namemap_put(m, "a", &b, true, &existed), BD_OK);
  ck_assert(existed);
  ck_assert_int_eq(a.refs, 1);
  ck_assert_int_eq(b.refs, 2);
  /* take hands over the map's reference */
  obj *t = bd_namemap_take(m, "a");
  ck_assert_ptr_eq(t, &b);
  ck_assert_int_eq(b.refs, 2);
  obj_release(t);
  ck_assert_ptr_null(bd_namemap_take(m, "a"));
  bd_namemap_free(m);
  ck_assert_int_eq(a.refs, 1);
  ck_assert_int_eq(b.refs, 1);
}
END_TEST

START_TEST(test_list_insertion_order_and_free) {
  obj o[4] = {{1, 0}, {1, 1}, {1, 2}, {1, 3}};
  const char *names[4] = {"zeta", "alpha", "mid", "beta"};
  bd_namemap *m = bd_namemap_new(&obj_type);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(bd_namemap_put(m, names[i], &o[i], false, NULL), BD_OK);
  obj *gone = bd_namemap_take(m, "mid"); /* order closes up */
  obj_release(gone);
  char **nv;
  void **ov;
  size_t n = 0;
  ck_assert_int_eq(bd_namemap_list(m, &nv, &ov, &n), BD_OK);
  ck_assert_uint_eq(n, 3);
  const char *want[3] = {"zeta", "alpha", "beta"};
  const int ids[3] = {0, 1, 3};
  for (size_t i = 0; i < n; i++) {
    ck_assert_str_eq(nv[i], want[i]);
    ck_assert_int_eq(((obj *)ov[i])->id, ids[i]);
    ck_assert_int_eq(((obj *)ov[i])->refs, 3); /* caller + map + own */
    obj_release(ov[i]);
    free(nv[i]);
  }
  free(nv);
  free(ov);
  /* names may be omitted */
  ck_assert_int_eq(bd_namemap_list(m, NULL, &ov, &n), BD_OK);
  ck_assert_uint_eq(n, 3);
  for (size_t i = 0; i < n; i++) obj_release(ov[i]);
  free(ov);
  bd_namemap_free(m);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(o[i].refs, 1);
  bd_namemap_free(NULL);
}
END_TEST

START_TEST(test_tensor_store_sorted_and_errors) {
  bd_tensor_store *s = bd_tensor_store_new();
  const int64_t shape[1] = {2};
  bd_tensor *t[3];
  const char *names[3] = {"w", "b", "m"};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, shape, &t[i]), BD_OK);
    bool rep = true;
    ck_assert_int_eq(bd_tensor_store_put(s, names[i], t[i], &rep), BD_OK);
    ck_assert(!rep);
  }
  bool rep = false;
  ck_assert_int_eq(bd_tensor_store_put(s, "w", t[1], &rep), BD_OK);
  ck_assert(rep);
  bd_tensor *g = bd_tensor_store_get(s, "w");
  ck_assert_ptr_eq(g, t[1]);
  bd_tensor_release(g);
  char **nv;
  bd_tensor **tv;
  size_t n;
  ck_assert_int_eq(bd_tensor_store_list(s, &nv, &tv, &n), BD_OK);
  ck_assert_uint_eq(n, 3);
  const char *want[3] = {"b", "m", "w"};
  bd_tensor *wt[3] = {t[1], t[2], t[1]};
  for (size_t i = 0; i < n; i++) {
    ck_assert_str_eq(nv[i], want[i]);
    ck_assert_ptr_eq(tv[i], wt[i]);
    free(nv[i]);
    bd_tensor_release(tv[i]);
  }
  free(nv);
  free(tv);
  ck_assert_int_eq(bd_tensor_store_delete(s, "m"), BD_OK);
  ck_assert_int_eq(bd_tensor_store_delete(s, "m"), BD_ENOTFOUND);
  ck_assert_ptr_null(bd_tensor_store_get(s, "m"));
  bd_tensor_store_free(s);
  for (int i = 0; i < 3; i++) bd_tensor_release(t[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("namemap");
  TCase *tc = tcase_create("namemap");
  tcase_add_test(tc, test_put_get_take_refcounts);
  tcase_add_test(tc, test_list_insertion_order_and_free);
  tcase_add_test(tc, test_tensor_store_sorted_and_errors);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
