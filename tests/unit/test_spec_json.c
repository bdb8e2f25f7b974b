/* test_spec_json.c - the field tables at work: defaults, ranges, unknown
 * keys and kinds from proto/spec_json.c; the canonical spec of every
 * built-in type; typed specs built without JSON; table validation; and
 * proto/block-spec.schema.json equal to the schema the tables generate. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "proto/spec_json.h"

static cJSON *parse(const char *txt) {
  cJSON *j = cJSON_Parse(txt);
  ck_assert_msg(j != NULL, "test JSON does not parse: %s", txt);
  return j;
}

/* Parses txt, builds it, prints the canonical spec and compares it with
 * want; then parses and builds the canonical text again and expects the
 * same canonical spec (a fixed point). */
static void canonical(const char *txt, const char *want) {
  bd_blocks_init();
  cJSON *j = parse(txt), *w = parse(want);
  bd_block *b = NULL, *b2 = NULL;
  ck_assert_msg(proto_spec_build_tree(j, BD_CPU, NULL, "block", &b) == BD_OK,
                "%s: %s", txt, bd_errmsg());
  bd_spec *spec = NULL;
  ck_assert_int_eq(bd_block_to_spec(b, &spec), BD_OK);
  cJSON *got = proto_spec_to_json(spec);
  char *gtxt = cJSON_PrintUnformatted(got);
  ck_assert_msg(cJSON_Compare(got, w, true), "%s:\n  got  %s\n  want %s", txt,
                gtxt, want);
  /* Key order too: type, id, fields in table order, name. */
  char *wtxt = cJSON_PrintUnformatted(w);
  ck_assert_str_eq(gtxt, wtxt);
  ck_assert_int_eq(proto_spec_build_tree(got, BD_CPU, NULL, "block", &b2),
                   BD_OK);
  bd_spec *spec2 = NULL;
  ck_assert_int_eq(bd_block_to_spec(b2, &spec2), BD_OK);
  char *again = proto_spec_print(spec2);
  ck_assert_str_eq(again, gtxt);
  free(again);
  free(gtxt);
  free(wtxt);
  bd_spec_free(spec);
  bd_spec_free(spec2);
  cJSON_Delete(got);
  cJSON_Delete(j);
  cJSON_Delete(w);
  bd_block_release(b);
  bd_block_release(b2);
}

/* Expects txt to be refused by the parser with status st and exactly
 * the message msg. */
static void refused(const char *txt, bd_status st, const char *msg) {
  bd_blocks_init();
  cJSON *j = parse(txt);
  bd_spec *spec = (bd_spec *)1;
  bd_status s = proto_spec_from_json(j, NULL, "block", &spec);
  ck_assert_msg(s == st, "%s: status %d (%s), want %d", txt, s, bd_errmsg(),
                st);
  ck_assert_ptr_null(spec);
  ck_assert_str_eq(bd_errmsg(), msg);
  cJSON_Delete(j);
}

START_TEST(test_canonical_every_builtin) {
  canonical("{\"type\":\"relu\"}", "{\"type\":\"relu\"}");
  canonical("{\"type\":\"sigmoid\"}", "{\"type\":\"sigmoid\"}");
  canonical("{\"type\":\"tanh\"}", "{\"type\":\"tanh\"}");
  canonical("{\"type\":\"gelu\"}", "{\"type\":\"gelu\"}");
  canonical("{\"type\":\"identity\"}", "{\"type\":\"identity\"}");
  canonical("{\"type\":\"centered\"}", "{\"type\":\"centered\"}");
  /* sum/mean: an absent (or null) dim is None and stays absent */
  canonical("{\"type\":\"sum\"}", "{\"type\":\"sum\",\"keepdim\":false}");
  canonical("{\"type\":\"mean\"}", "{\"type\":\"mean\",\"keepdim\":false}");
  canonical("{\"type\":\"sum\",\"dim\":null,\"keepdim\":true}",
            "{\"type\":\"sum\",\"keepdim\":true}");
  canonical("{\"type\":\"mean\",\"dim\":-2}",
            "{\"type\":\"mean\",\"dim\":-2,\"keepdim\":false}");
  canonical("{\"keepdim\":true,\"type\":\"sum\",\"dim\":0}",
            "{\"type\":\"sum\",\"dim\":0,\"keepdim\":true}");
  canonical("{\"type\":\"dropout\"}", "{\"type\":\"dropout\",\"p\":0.5}");
  canonical("{\"type\":\"dropout\",\"p\":0.25}",
            "{\"type\":\"dropout\",\"p\":0.25}");
  canonical("{\"type\":\"softmax\"}", "{\"type\":\"softmax\",\"dim\":-1}");
  canonical("{\"type\":\"flatten\",\"end_dim\":2}",
            "{\"type\":\"flatten\",\"start_dim\":1,\"end_dim\":2}");
  canonical("{\"type\":\"linear\",\"in_features\":3,\"out_features\":2}",
            "{\"type\":\"linear\",\"in_features\":3,\"out_features\":2,"
            "\"bias\":true}");
  canonical("{\"type\":\"matmul\",\"weight\":{\"shape\":[2,3]}}",
            "{\"type\":\"matmul\",\"weight\":{\"shape\":[2,3],"
            "\"init\":\"uniform\"}}");
  canonical(
      "{\"type\":\"matmul\",\"weight\":{\"init\":\"ones\","
      "\"shape\":[1,1]}}",
      "{\"type\":\"matmul\",\"weight\":{\"shape\":[1,1],"
      "\"init\":\"ones\"}}");
  canonical("{\"type\":\"add\",\"value\":1.5}",
            "{\"type\":\"add\",\"value\":1.5}");
  canonical("{\"type\":\"scale\",\"value\":-2}",
            "{\"type\":\"scale\",\"value\":-2}");
  canonical("{\"type\":\"residual\",\"body\":{\"type\":\"relu\"}}",
            "{\"type\":\"residual\",\"body\":{\"type\":\"relu\"}}");
  canonical(
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"relu\"},"
      "{\"type\":\"tanh\",\"name\":\"t\"}]}",
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"relu\","
      "\"name\":\"0\"},{\"type\":\"tanh\",\"name\":\"t\"}],"
      "\"combine\":\"concat\"}");
  canonical(
      "{\"type\":\"while\",\"cond\":{\"lt\":3,\"reduce\":\"norm\"},"
      "\"body\":{\"type\":\"scale\",\"value\":2}}",
      "{\"type\":\"while\",\"cond\":{\"reduce\":\"norm\",\"lt\":3},"
      "\"body\":{\"type\":\"scale\",\"value\":2},\"max_iters\":1000}");
  /* sequential: reuse by name stays a ref under that name; a ref under a
   * new name is a tied child. */
  canonical(
      "{\"type\":\"sequential\",\"id\":\"s\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":2,\"out_features\":2,"
      "\"id\":\"l\",\"name\":\"lin\"},{\"ref\":\"l\",\"name\":\"lin\"},"
      "{\"ref\":\"l\"}]}",
      "{\"type\":\"sequential\",\"id\":\"s\",\"layers\":["
      "{\"type\":\"linear\",\"id\":\"l\",\"in_features\":2,"
      "\"out_features\":2,\"bias\":true,\"name\":\"lin\"},"
      "{\"ref\":\"l\",\"name\":\"lin\"},{\"ref\":\"l\",\"name\":\"2\"}]}");
}
END_TEST

START_TEST(test_defaults_land_in_config) {
  bd_blocks_init();
  cJSON *j = parse("{\"type\":\"flatten\",\"start_dim\":0}");
  bd_spec *spec = NULL;
  ck_assert_int_eq(proto_spec_from_json(j, NULL, "block", &spec), BD_OK);
  const bd_block_type *t = bd_block_type_find("flatten");
  ck_assert_ptr_eq(spec->type, t);
  int sd = bd_field_find(t, "start_dim"), ed = bd_field_find(t, "end_dim");
  ck_assert_int_ge(sd, 0);
  ck_assert_int_ge(ed, 0);
  const char *cfg = spec->config;
  ck_assert_int_eq(*(const int64_t *)(cfg + t->fields[sd].offset), 0);
  ck_assert_int_eq(*(const int64_t *)(cfg + t->fields[ed].offset), -1);
  ck_assert_int_eq(bd_field_find(t, "nope"), -1);
  bd_spec_free(spec);
  cJSON_Delete(j);
}
END_TEST

START_TEST(test_kinds_ranges_and_unknown_keys) {
  refused("{\"type\":\"flatten\",\"start_dim\":8}", BD_EINVAL,
          "block.start_dim: 8 is outside [-8, 7]");
  refused("{\"type\":\"dropout\",\"p\":-0.1}", BD_EINVAL,
          "block.p: must be between 0 and 1, got -0.1");
  refused("{\"type\":\"dropout\",\"p\":true}", BD_EINVAL,
          "block.p: must be a number");
  refused("{\"type\":\"sum\",\"dim\":8}", BD_EINVAL,
          "block.dim: 8 is outside [-8, 7]");
  refused("{\"type\":\"mean\",\"dim\":-9}", BD_EINVAL,
          "block.dim: -9 is outside [-8, 7]");
  refused("{\"type\":\"sum\",\"dim\":\"1\"}", BD_EINVAL,
          "block.dim: must be an integer");
  refused("{\"type\":\"sum\",\"dim\":1.5}", BD_EINVAL,
          "block.dim: must be an integer");
  refused("{\"type\":\"mean\",\"keepdim\":1}", BD_EINVAL,
          "block.keepdim: must be true or false");
  refused("{\"type\":\"sum\",\"keepdim\":null}", BD_EINVAL,
          "block.keepdim: must be true or false");
  refused("{\"type\":\"sum\",\"dim\":0,\"axis\":0}", BD_EINVAL,
          "block.axis: unknown field for a 'sum' block");
  refused("{\"type\":\"relu\",\"slope\":1}", BD_EINVAL,
          "block.slope: unknown field for a 'relu' block");
  refused(
      "{\"type\":\"linear\",\"in_features\":2,\"out_features\":2,"
      "\"bias\":1}",
      BD_EINVAL, "block.bias: must be true or false");
  refused(
      "{\"type\":\"parallel\",\"branches\":[{\"type\":\"relu\"}],"
      "\"combine\":\"mul\"}",
      BD_EINVAL, "block.combine: must be one of concat, add");
  refused("{\"type\":\"matmul\",\"weight\":[2,2]}", BD_EINVAL,
          "block.weight: must be an object {\"shape\":[k,n],"
          "\"init\":\"uniform\"}");
  refused("{\"type\":\"matmul\",\"weight\":{\"shape\":[2,2],\"seed\":1}}",
          BD_EINVAL, "block.weight.seed: unknown field");
  refused("{\"type\":\"matmul\",\"weight\":{\"shape\":[2]}}", BD_EINVAL,
          "block.weight.shape: must be [k, n]");
  refused("{\"type\":\"matmul\",\"weight\":{\"init\":\"ones\"}}", BD_EINVAL,
          "block.weight.shape: missing");
  refused(
      "{\"type\":\"while\",\"body\":{\"type\":\"relu\"},"
      "\"cond\":{\"reduce\":\"sum\",\"eq\":1}}",
      BD_EINVAL,
      "block.cond.eq: unknown field (a comparison is one of gt, ge, lt, "
      "le)");
  refused(
      "{\"type\":\"while\",\"body\":{\"type\":\"relu\"},"
      "\"cond\":{\"reduce\":\"sum\",\"gt\":\"1\"}}",
      BD_EINVAL, "block.cond.gt: must be a number");
  refused(
      "{\"type\":\"while\",\"body\":{\"type\":\"relu\"},"
      "\"cond\":{\"reduce\":\"sum\"}}",
      BD_EINVAL, "block.cond: needs exactly one comparison (gt, ge, lt or le)");
  refused("{\"type\":\"while\",\"cond\":{\"reduce\":\"sum\",\"gt\":1}}",
          BD_EINVAL, "block.body: missing");
  refused("{\"type\":\"sequential\",\"layers\":[{\"ref\":\"a\",\"x\":1}]}",
          BD_EINVAL, "block.layers[0].x: a {\"ref\"} may only carry a name");
  /* The parser enforces the depth limit itself (before any recursion
   * could run away). */
  cJSON *j = parse(
      "{\"type\":\"residual\",\"body\":{\"type\":\"residual\","
      "\"body\":{\"type\":\"relu\"}}}");
  bd_build_limits lim = {.max_depth = 2};
  bd_spec *spec = NULL;
  ck_assert_int_eq(proto_spec_from_json(j, &lim, "block", &spec), BD_ELIMIT);
  ck_assert_str_eq(bd_errmsg(), "block.body.body: blocks nested deeper than 2");
  cJSON_Delete(j);
}
END_TEST

/* The engine checks a typed spec built in C, without JSON, against the
 * same table and names the same paths. */
START_TEST(test_typed_spec_without_json) {
  bd_blocks_init();
  const bd_block_type *lt = bd_block_type_find("linear");
  const bd_block_type *st = bd_block_type_find("sequential");
  bd_spec *seq = bd_spec_new(st), *lin = bd_spec_new(lt);
  ck_assert_ptr_nonnull(seq);
  ck_assert_ptr_nonnull(lin);
  int in = bd_field_find(lt, "in_features");
  int out = bd_field_find(lt, "out_features");
  *(int64_t *)((char *)lin->config + lt->fields[in].offset) = 4;
  *(int64_t *)((char *)lin->config + lt->fields[out].offset) = 0;
  ck_assert_int_eq(bd_spec_add_child(seq, bd_field_find(st, "layers"), lin),
                   BD_OK);
  /* a field that holds no blocks takes no child (and frees it) */
  ck_assert_int_eq(bd_spec_add_child(seq, 5, bd_spec_new_ref("x")), BD_EINVAL);
  bd_block *b = NULL;
  ck_assert_int_eq(bd_block_build_tree(seq, BD_CPU, NULL, "block", &b),
                   BD_EINVAL);
  ck_assert_ptr_null(b);
  ck_assert_str_eq(bd_errmsg(),
                   "block.layers[0].out_features: 0 is outside [1, "
                   "1099511627776]");
  *(int64_t *)((char *)lin->config + lt->fields[out].offset) = 3;
  ck_assert_int_eq(bd_block_build_tree(seq, BD_CPU, NULL, "block", &b), BD_OK);
  ck_assert_int_eq(b->nchildren, 1);
  ck_assert_int_eq(b->children[0]->params[0]->value->shape[0], 3);
  ck_assert_int_eq(b->children[0]->params[0]->value->shape[1], 4);
  bd_block_release(b);
  bd_spec_free(seq);
}
END_TEST

typedef struct bad_impl {
  int64_t n;
} bad_impl;

static bd_status bad_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                             bd_tensor **y, void **saved) {
  (void)b;
  (void)ex;
  (void)saved;
  *y = bd_tensor_retain(x);
  return BD_OK;
}

/* A table whose value lands outside impl_size, or an enum without
 * choices, is refused at registration. */
START_TEST(test_broken_tables_are_refused) {
  static const bd_field outside[] = {{.name = "n",
                                      .kind = BD_FIELD_INT,
                                      .offset = sizeof(bad_impl),
                                      .min = 0,
                                      .max = 1}};
  static const bd_block_type t1 = {.name = "test_outside",
                                   .fields = outside,
                                   .nfields = 1,
                                   .impl_size = sizeof(bad_impl),
                                   .forward = bad_forward};
  ck_assert_int_eq(bd_block_type_register(&t1), BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(),
                   "block type 'test_outside': field 'n' lands "
                   "outside impl_size");
  static const bd_field nochoice[] = {
      {.name = "e", .kind = BD_FIELD_ENUM, .offset = 0}};
  static const bd_block_type t2 = {.name = "test_nochoice",
                                   .fields = nochoice,
                                   .nfields = 1,
                                   .impl_size = sizeof(bad_impl),
                                   .forward = bad_forward};
  ck_assert_int_eq(bd_block_type_register(&t2), BD_EINVAL);
  ck_assert_ptr_null(bd_block_type_find("test_nochoice"));
  /* optional is for INT fields, and its "given" flag must fit too */
  static const bd_field optnum[] = {
      {.name = "x", .kind = BD_FIELD_NUM, .optional = true, .offset = 0}};
  static const bd_block_type t3 = {.name = "test_optnum",
                                   .fields = optnum,
                                   .nfields = 1,
                                   .impl_size = sizeof(bad_impl),
                                   .forward = bad_forward};
  ck_assert_int_eq(bd_block_type_register(&t3), BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(),
                   "block type 'test_optnum': field 'x' is "
                   "optional but not an INT");
  static const bd_field optout[] = {{.name = "n",
                                     .kind = BD_FIELD_INT,
                                     .optional = true,
                                     .offset = 0,
                                     .offset2 = sizeof(bad_impl),
                                     .min = 0,
                                     .max = 1}};
  static const bd_block_type t4 = {.name = "test_optout",
                                   .fields = optout,
                                   .nfields = 1,
                                   .impl_size = sizeof(bad_impl),
                                   .forward = bad_forward};
  ck_assert_int_eq(bd_block_type_register(&t4), BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(),
                   "block type 'test_optout': field 'n' lands "
                   "its 'given' flag outside impl_size");
}
END_TEST

/* proto/block-spec.schema.json is what the tables generate
 * (regenerate it with blockd --print-spec-schema). */
START_TEST(test_committed_schema_matches_tables) {
  bd_blocks_init();
  FILE *f = fopen(BLOCKD_SOURCE_DIR "/proto/block-spec.schema.json", "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[1 << 17];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  cJSON *committed = cJSON_Parse(buf);
  ck_assert_ptr_nonnull(committed);
  cJSON *gen = proto_spec_schema();
  ck_assert_ptr_nonnull(gen);
  char *gtxt = cJSON_PrintUnformatted(gen);
  ck_assert_msg(cJSON_Compare(committed, gen, true),
                "proto/block-spec.schema.json is stale; regenerate it with "
                "`blockd --print-spec-schema`. Generated: %.400s",
                gtxt);
  /* every built-in has a definition, and it lists its fields */
  const cJSON *defs = cJSON_GetObjectItem(gen, "$defs");
  for (int i = 0; i < bd_blocks_builtin_count(); i++) {
    const bd_block_type *t = bd_block_type_at(i);
    const cJSON *d = cJSON_GetObjectItem(defs, t->name);
    ck_assert_ptr_nonnull(d);
    const cJSON *props = cJSON_GetObjectItem(d, "properties");
    for (int k = 0; k < t->nfields; k++)
      ck_assert_ptr_nonnull(cJSON_GetObjectItem(props, t->fields[k].name));
  }
  free(gtxt);
  cJSON_Delete(gen);
  cJSON_Delete(committed);
}
END_TEST

int main(void) {
  Suite *s = suite_create("spec_json");
  TCase *tc = tcase_create("tables");
  tcase_add_test(tc, test_canonical_every_builtin);
  tcase_add_test(tc, test_defaults_land_in_config);
  tcase_add_test(tc, test_kinds_ranges_and_unknown_keys);
  tcase_add_test(tc, test_typed_spec_without_json);
  tcase_add_test(tc, test_broken_tables_are_refused);
  tcase_add_test(tc, test_committed_schema_matches_tables);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
