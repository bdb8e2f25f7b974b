/* test_path.c - the dotted path resolver (engine/path.h): names, positions
 * as in PyTorch's rgnet[0][1][0].bias, names winning over positions, tied
 * aliases, canonical paths and the not-found messages. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "engine/path.h"
#include "proto/spec_json.h"

static bd_block *build(const char *json) {
  bd_blocks_init();
  cJSON *j = cJSON_Parse(json);
  ck_assert_msg(j != NULL, "test JSON does not parse: %s", json);
  bd_block *b = NULL;
  bd_status s = proto_spec_build_tree(j, BD_CPU, NULL, "block", &b);
  ck_assert_msg(s == BD_OK, "build: %s", bd_errmsg());
  cJSON_Delete(j);
  return b;
}

#define LIN(i, o) \
  "{\"type\":\"linear\",\"in_features\":" #i ",\"out_features\":" #o "}"
#define RELU "{\"type\":\"relu\"}"
#define BLOCK1(name)                          \
  "{\"type\":\"sequential\",\"name\":\"" name \
  "\",\"layers\":[" LIN(4, 8) "," RELU "," LIN(8, 4) "," RELU "]}"

/* d2l's rgnet: Sequential(block2(), Linear(4, 1)), block2 holding four
 * block1() named "block 0".."block 3". */
static const char *RGNET =
    "{\"type\":\"sequential\",\"layers\":[{\"type\":\"sequential\","
    "\"layers\":[" BLOCK1("block 0") "," BLOCK1("block 1") "," BLOCK1(
        "block 2") "," BLOCK1("block 3") "]}," LIN(4, 1) "]}";

/* Resolves path to a parameter, expecting success with canonical key
 * want_canon; returns the parameter. */
static bd_param *param_ok(bd_block *root, const char *path,
                          const char *want_canon) {
  bd_param *p = NULL;
  char *canon = NULL;
  bd_status s = bd_path_param(root, path, &p, &canon);
  ck_assert_msg(s == BD_OK, "%s: %s", path, bd_errmsg());
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(canon, want_canon);
  free(canon);
  return p;
}

/* Expects path to miss (as a parameter when param, else as a block) with
 * a message containing want. */
static void miss(bd_block *root, const char *path, bool param,
                 const char *want) {
  bd_block *b = (bd_block *)1;
  bd_param *p = (bd_param *)1;
  char *canon = (char *)1;
  bd_status s = param ? bd_path_param(root, path, &p, &canon)
                      : bd_path_block(root, path, &b, &canon);
  ck_assert_msg(s == BD_ENOTFOUND, "%s: status %d, want ENOTFOUND", path, s);
  ck_assert_ptr_null(canon);
  if (param)
    ck_assert_ptr_null(p);
  else
    ck_assert_ptr_null(b);
  ck_assert_msg(strstr(bd_errmsg(), want) != NULL,
                "%s:\n  message '%s'\n  wanted '%s'", path, bd_errmsg(), want);
}

START_TEST(test_positions_reach_named_tensors) {
  bd_block *rg = build(RGNET);
  bd_block *block1 = rg->children[0]->children[1];
  /* rgnet[0][1][0].bias, by positions, by names, and mixed. */
  bd_param *want = block1->children[0]->params[1];
  ck_assert_ptr_eq(param_ok(rg, "0.1.0.bias", "0.block 1.0.bias"), want);
  ck_assert_ptr_eq(param_ok(rg, "0.block 1.0.bias", "0.block 1.0.bias"), want);
  ck_assert_ptr_eq(param_ok(rg, "0.block 1.2.weight", "0.block 1.2.weight"),
                   block1->children[2]->params[0]);
  ck_assert_ptr_eq(param_ok(rg, "0.3.2.bias", "0.block 3.2.bias"),
                   rg->children[0]->children[3]->children[2]->params[1]);
  ck_assert_ptr_eq(param_ok(rg, "1.weight", "1.weight"),
                   rg->children[1]->params[0]);
  /* The canonical key is a real state_dict key. */
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(rg, "", &l), BD_OK);
  long i = bd_state_list_find(&l, "0.block 1.0.bias");
  ck_assert_int_ge(i, 0);
  ck_assert_ptr_eq(l.v[i].param, want);
  ck_assert_int_eq(bd_state_list_find(&l, "0.1.0.bias"), -1);
  bd_state_list_free(&l);
  /* Blocks. */
  bd_block *b = NULL;
  char *canon = NULL;
  ck_assert_int_eq(bd_path_block(rg, "0.1", &b, &canon), BD_OK);
  ck_assert_ptr_eq(b, block1);
  ck_assert_str_eq(canon, "0.block 1");
  free(canon);
  ck_assert_int_eq(bd_path_block(rg, "", &b, &canon), BD_OK);
  ck_assert_ptr_eq(b, rg);
  ck_assert_str_eq(canon, "");
  free(canon);
  ck_assert_int_eq(bd_path_block(rg, "0.block 2.2", &b, NULL), BD_OK);
  ck_assert_ptr_eq(b, rg->children[0]->children[2]->children[2]);
  bd_block_release(rg);
}
END_TEST

START_TEST(test_name_wins_over_position) {
  /* Child "1" sits at position 0 and child "x" at position 1: "1" is the
   * name, "0" (no such name) the position. */
  bd_block *r = build(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"name\":\"1\",\"in_features\":2,"
      "\"out_features\":3},"
      "{\"type\":\"linear\",\"name\":\"x\",\"in_features\":3,"
      "\"out_features\":1}]}");
  ck_assert_ptr_eq(param_ok(r, "1.weight", "1.weight"),
                   r->children[0]->params[0]);
  ck_assert_ptr_eq(param_ok(r, "0.weight", "1.weight"),
                   r->children[0]->params[0]);
  ck_assert_ptr_eq(param_ok(r, "x.bias", "x.bias"), r->children[1]->params[1]);
  /* Position 1 is only reachable by its name, "x". */
  ck_assert_int_eq(r->children[1]->params[0]->value->shape[1], 3);
  ck_assert_int_eq(r->children[0]->params[0]->value->shape[1], 2);
  bd_block_release(r);
}
END_TEST

START_TEST(test_tied_aliases) {
  /* The seed's shared net: one linear at positions 2 and 4. */
  bd_block *r = build("{\"type\":\"sequential\",\"layers\":[" LIN(
      4, 8) "," RELU
            ",{\"type\":\"linear\",\"id\":\"shared\",\"in_features\":8,"
            "\"out_features\":8}," RELU ",{\"ref\":\"shared\"}," RELU
            "," LIN(8, 1) "]}");
  bd_param *a = param_ok(r, "2.weight", "2.weight");
  ck_assert_ptr_eq(param_ok(r, "4.weight", "4.weight"), a);
  bd_block_release(r);
}
END_TEST

START_TEST(test_misses_say_why) {
  bd_block *rg = build(RGNET);
  /* An out-of-range position names the block and its child count. */
  miss(rg, "0.5.0.bias", true,
       "block '0' (sequential) has no child named '5'; as a position, 5 is "
       "out of range (4 children, positions 0..3)");
  miss(rg, "0.block 9", false,
       "block '0' (sequential) has no child named "
       "'block 9'");
  miss(rg, "7", false,
       "the root block (sequential) has no child named '7'; as a position, "
       "7 is out of range (2 children, positions 0..1)");
  miss(rg, "0.1.0.nope", true,
       "block '0.block 1.0' (linear) has no parameter, buffer or child named "
       "'nope'");
  miss(rg, "0.1.0.bias.x", true,
       "block '0.block 1.0' (linear) has no child named 'bias'");
  miss(rg, "1.weight", false,
       "block '1' (linear) has no child named "
       "'weight'");
  miss(rg, "1.0", true, "(it has no children)");
  miss(rg, "0.1", true, "'0.block 1' is a block, not a parameter or buffer");
  /* Only plain decimals are positions. */
  miss(rg, "0.01.0.bias", true, "has no child named '01'");
  miss(rg, "0.-1.0.bias", true, "has no child named '-1'");
  miss(rg, "0.+1.0.bias", true, "has no child named '+1'");
  miss(rg, "99999999999999999999", false,
       "as a position, 99999999999999999999 is out of range");
  /* Empty segments. */
  miss(rg, "0..bias", true, "path '0..bias' has an empty segment");
  miss(rg, "0.", false, "path '0.' has an empty segment");
  miss(rg, ".0", false, "path '.0' has an empty segment");
  miss(rg, "", true, "the path is empty");
  bd_block_release(rg);
}
END_TEST

int main(void) {
  Suite *s = suite_create("path");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_positions_reach_named_tensors);
  tcase_add_test(tc, test_name_wins_over_position);
  tcase_add_test(tc, test_tied_aliases);
  tcase_add_test(tc, test_misses_say_why);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
