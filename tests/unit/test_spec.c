/* test_spec.c - the block-spec parser: errors name the JSON path, ids and
 * refs (tying), limits, and round trips through bd_block_to_spec. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "proto/spec_json.h"

static bd_status build(const char *json, const bd_build_limits *lim,
                       bd_block **out) {
  bd_blocks_init();
  cJSON *j = cJSON_Parse(json);
  ck_assert_msg(j != NULL, "test JSON does not parse: %s", json);
  *out = NULL;
  bd_status s = proto_spec_build_tree(j, BD_CPU, lim, "block", out);
  cJSON_Delete(j);
  return s;
}

/* The canonical spec of b as JSON (caller frees). */
static cJSON *spec_json(const bd_block *b) {
  bd_spec *spec = NULL;
  ck_assert_int_eq(bd_block_to_spec(b, &spec), BD_OK);
  cJSON *j = proto_spec_to_json(spec);
  bd_spec_free(spec);
  ck_assert_ptr_nonnull(j);
  return j;
}

/* Expects spec to fail with status st and a message starting with
 * prefix (the path and what is wrong with it). */
static void expect_err(const char *spec, bd_status st, const char *prefix) {
  bd_block *b;
  bd_status s = build(spec, NULL, &b);
  ck_assert_msg(s == st, "%s: status %d (%s), want %d", spec, s, bd_errmsg(),
                st);
  ck_assert_ptr_null(b);
  ck_assert_msg(strncmp(bd_errmsg(), prefix, strlen(prefix)) == 0,
                "%s:\n  message '%s'\n  wanted prefix '%s'", spec, bd_errmsg(),
                prefix);
}

#define L(i, o) \
  "{\"type\":\"linear\",\"in_features\":" #i ",\"out_features\":" #o "}"

START_TEST(test_errors_name_paths) {
  expect_err("{\"type\":\"sequential\",\"layers\":[" L(20, 256)
             ",{\"type\":\"relu\"},{\"type\":\"linear\",\"out_features\":10}]}",
             BD_EINVAL, "block.layers[2].in_features: missing");
  expect_err("{\"type\":\"sequential\",\"layers\":[" L(
                 20, 256) ",{\"type\":\"relu\"}," L(-4, 10) "]}",
             BD_EINVAL, "block.layers[2].in_features: -4 is outside");
  expect_err("{\"type\":\"sequential\",\"layers\":[" L(0, 2) "]}", BD_EINVAL,
             "block.layers[0].in_features: 0 is outside");
  expect_err("{\"type\":\"sequential\",\"layers\":[" L(2.5, 2) "]}", BD_EINVAL,
             "block.layers[0].in_features: must be an integer");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":\"20\",\"out_features\":2}]}",
      BD_EINVAL, "block.layers[0].in_features: must be an integer");
  expect_err("{\"type\":\"sequential\",\"layers\":[" L(2, 1e300) "]}",
             BD_EINVAL, "block.layers[0].out_features:");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":2,\"out_features\":2,\"bias\":\"yes\"}]}",
      BD_EINVAL, "block.layers[0].bias: must be true or false");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\"},"
      "{\"type\":\"conv9d\"}]}",
      BD_EINVAL, "block.layers[1].type: unknown block type 'conv9d'");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":2,\"out_features\":2,\"units\":3}]}",
      BD_EINVAL, "block.layers[0].units: unknown field");
  expect_err("{\"type\":\"sequential\",\"layers\":{}}", BD_EINVAL,
             "block.layers: must be an array");
  expect_err("{\"type\":\"sequential\"}", BD_EINVAL, "block.layers: missing");
  expect_err("[1,2]", BD_EINVAL, "block: a block spec must be a JSON object");
  expect_err("{\"type\":\"sequential\",\"layers\":[7]}", BD_EINVAL,
             "block.layers[0]: a block spec must be a JSON object");
  expect_err("{\"layers\":[]}", BD_EINVAL, "block.type: missing");
  expect_err("{\"type\":5}", BD_EINVAL, "block.type: must be a string");
  expect_err("{\"type\":\"relu\",\"name\":3}", BD_EINVAL,
             "block.name: must be a string");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\","
      "\"name\":\"a\"},{\"type\":\"relu\",\"name\":\"a\"}]}",
      BD_EINVAL, "block.layers[1].name: duplicate child name 'a'");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\","
      "\"name\":\"a.b\"}]}",
      BD_EINVAL, "block.layers[0].name: child name 'a.b'");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\","
      "\"name\":\"\"}]}",
      BD_EINVAL, "block.layers[0].name: child name ''");
  /* Nested containers accumulate the path. */
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"sequential\","
      "\"layers\":[{\"type\":\"relu\"},{\"type\":\"linear\",\"in_features\":3}]"
      "}]}",
      BD_EINVAL, "block.layers[0].layers[1].out_features: missing");
}
END_TEST

START_TEST(test_depth_and_size_limits) {
  /* 70 nested sequentials exceed the default depth of 64. */
  char spec[70 * 40 + 64] = "";
  for (int i = 0; i < 70; i++)
    strcat(spec, "{\"type\":\"sequential\",\"layers\":[");
  strcat(spec, "{\"type\":\"relu\"}");
  for (int i = 0; i < 70; i++) strcat(spec, "]}");
  bd_block *b;
  ck_assert_int_eq(build(spec, NULL, &b), BD_ELIMIT);
  ck_assert_ptr_null(b);
  ck_assert(strstr(bd_errmsg(), "nested deeper than 64") != NULL);
  bd_build_limits lim = {.max_depth = 100};
  ck_assert_int_eq(build(spec, &lim, &b), BD_OK);
  bd_block_release(b);
  /* Byte limit: a 1000x1000 linear is 4 MB of weight. */
  bd_build_limits small = {.max_bytes = 1000000};
  ck_assert_int_eq(build(L(1000, 1000), &small, &b), BD_ETOOLARGE);
  ck_assert(strstr(bd_errmsg(), "block:") == bd_errmsg());
  ck_assert_ptr_null(b);
  /* A shape whose element count overflows is refused before allocating. */
  ck_assert_int_eq(build(L(1000000000000, 1000000000000), NULL, &b), BD_ELIMIT);
  ck_assert_ptr_null(b);
  bd_build_limits blocks = {.max_blocks = 3};
  ck_assert_int_eq(build("{\"type\":\"sequential\",\"layers\":[{\"type\":"
                         "\"relu\"},{\"type\":\"relu\"},{\"type\":\"relu\"}]}",
                         &blocks, &b),
                   BD_ELIMIT);
}
END_TEST

/* Level 0 a 1x1 linear; level k a sequential running level k-1 twice
 * (two names, so both are children); the root runs every level once. */
static char *doubling(int levels) {
  char *s = malloc(256 + (size_t)levels * 160);
  ck_assert_ptr_nonnull(s);
  strcpy(s,
         "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
         "\"in_features\":1,\"out_features\":1,\"id\":\"L0\"}");
  for (int k = 1; k <= levels; k++)
    sprintf(s + strlen(s),
            ",{\"type\":\"sequential\",\"id\":\"L%d\",\"layers\":["
            "{\"ref\":\"L%d\",\"name\":\"a\"},{\"ref\":\"L%d\",\"name\":"
            "\"b\"}]}",
            k, k - 1, k - 1);
  strcat(s, "]}");
  return s;
}

START_TEST(test_expanded_size_limit) {
  /* Level k expands to 2^(k+1) - 1 blocks; 10 levels and the root:
   * 1 + sum_{k=0..10} (2^(k+1) - 1) = 1 + 4094 - 11 = 4084. */
  char *spec = doubling(10);
  bd_block *b;
  bd_build_limits at = {.max_nodes = 4084};
  ck_assert_int_eq(build(spec, &at, &b), BD_OK);
  /* Tied tensors are listed under every path: 1 + 2 + ... + 1024. */
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(b, "", &l), BD_OK);
  ck_assert_uint_eq(l.n, 2 * 2047);
  bool *first = NULL;
  ck_assert_int_eq(bd_state_list_firsts(&l, &first), BD_OK);
  int nfirst = 0;
  for (size_t i = 0; i < l.n; i++) {
    ck_assert(first[i] == bd_state_list_is_first(&l, i));
    nfirst += first[i];
  }
  ck_assert_int_eq(nfirst, 2); /* the one weight and bias */
  free(first);
  bd_state_list_free(&l);
  int64_t np, bytes;
  ck_assert_int_eq(bd_block_count(b, &np, &bytes), BD_OK);
  ck_assert_int_eq(np, 2);
  bd_block_release(b);
  bd_build_limits under = {.max_nodes = 4083};
  ck_assert_int_eq(build(spec, &under, &b), BD_ELIMIT);
  ck_assert_ptr_null(b);
  ck_assert_str_eq(bd_errmsg(),
                   "block: the spec expands to more than 4083 blocks, each "
                   "{\"ref\"} counted at every use (--max-spec-nodes)");
  /* The first level past the limit is named: level 9 is 1023 blocks. */
  bd_build_limits small = {.max_nodes = 1000};
  ck_assert_int_eq(build(spec, &small, &b), BD_ELIMIT);
  ck_assert(strstr(bd_errmsg(), "block.layers[9]: the spec expands") ==
            bd_errmsg());
  /* The state_dict lists the 8 bytes of parameters 2047 times (4094
   * entries with their paths): past a 100 kB model limit, 413. */
  bd_build_limits mb = {.max_bytes = 100000};
  ck_assert_int_eq(build(spec, &mb, &b), BD_ETOOLARGE);
  ck_assert_ptr_null(b);
  ck_assert_msg(strstr(bd_errmsg(),
                       "its state_dict, tied tensors listed "
                       "under each of their paths, would "
                       "take") != NULL,
                "%s", bd_errmsg());
  ck_assert(strstr(bd_errmsg(), "(--max-model-bytes)") != NULL);
  mb.max_bytes = 10000000;
  ck_assert_int_eq(build(spec, &mb, &b), BD_OK);
  bd_block_release(b);
  free(spec);
  /* Forty levels (a 2^41 expansion) are refused as fast, at level 16. */
  spec = doubling(40);
  bd_build_limits dflt = {.max_nodes = 100000};
  ck_assert_int_eq(build(spec, &dflt, &b), BD_ELIMIT);
  ck_assert(strstr(bd_errmsg(), "block.layers[16]:") == bd_errmsg());
  free(spec);
}
END_TEST

START_TEST(test_refs_nest_once_expanded) {
  /* 70 levels of one ref each: flat in the spec, 71 deep expanded. */
  char spec[16384] =
      "{\"type\":\"sequential\",\"layers\":[{\"type\":"
      "\"relu\",\"id\":\"C0\"}";
  for (int k = 1; k < 70; k++)
    sprintf(spec + strlen(spec),
            ",{\"type\":\"sequential\",\"id\":\"C%d\",\"layers\":["
            "{\"ref\":\"C%d\"}]}",
            k, k - 1);
  strcat(spec, "]}");
  bd_block *b;
  ck_assert_int_eq(build(spec, NULL, &b), BD_ELIMIT);
  ck_assert(strstr(bd_errmsg(),
                   "nested deeper than 64 once refs are expanded") != NULL);
  bd_build_limits deep = {.max_depth = 72};
  ck_assert_int_eq(build(spec, &deep, &b), BD_OK);
  bd_block_release(b);
}
END_TEST

START_TEST(test_many_children_and_names) {
  /* 20000 named children with ids in a sequential and in a parallel
   * (each with its own name index); a duplicate at the end is found. */
  const char *types[] = {"sequential", "parallel"};
  for (int t = 0; t < 2; t++) {
    size_t cap = 64 + 20000 * 64;
    char *spec = malloc(cap);
    ck_assert_ptr_nonnull(spec);
    sprintf(spec, "{\"type\":\"%s\",\"%s\":[", types[t],
            t ? "branches" : "layers");
    for (int i = 0; i < 20000; i++)
      sprintf(spec + strlen(spec),
              "%s{\"type\":\"relu\",\"name\":\"n%d\",\"id\":\"i%d\"}",
              i ? "," : "", i, i);
    strcat(spec, "]}");
    bd_block *b;
    bd_build_limits lim = {.max_blocks = 20001};
    ck_assert_int_eq(build(spec, &lim, &b), BD_OK);
    ck_assert_int_eq(b->nchildren, 20000);
    ck_assert_str_eq(b->child_names[19999], "n19999");
    bd_block_release(b);
    char *last = strstr(spec, "\"n19999\"");
    memcpy(last, "\"n7\"    ", 8);
    ck_assert_int_eq(build(spec, &lim, &b), BD_EINVAL);
    ck_assert_msg(strstr(bd_errmsg(),
                         "[19999].name: duplicate child name "
                         "'n7'") != NULL,
                  "%s", bd_errmsg());
    lim.max_blocks = 19999;
    ck_assert_int_eq(build(spec, &lim, &b), BD_ELIMIT);
    ck_assert(strstr(bd_errmsg(), "more than 19999 blocks (--max-blocks)"));
    free(spec);
  }
}
END_TEST

START_TEST(test_ids_and_refs) {
  bd_block *b;
  ck_assert_int_eq(
      build("{\"type\":\"sequential\",\"layers\":["
            "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4,"
            "\"id\":\"shared\"},{\"type\":\"relu\"},{\"ref\":\"shared\"},"
            "{\"ref\":\"shared\",\"name\":\"again\"}]}",
            NULL, &b),
      BD_OK);
  ck_assert_int_eq(b->nchildren, 4);
  ck_assert_ptr_eq(b->children[0], b->children[2]); /* the same object */
  ck_assert_ptr_eq(b->children[0], b->children[3]);
  ck_assert_int_eq(b->children[0]->refcnt, 3);
  ck_assert_str_eq(b->child_names[3], "again");
  bd_state_list l = {0};
  ck_assert_int_eq(bd_block_state_dict(b, "", &l), BD_OK);
  /* state_dict repeats tied tensors under every path. */
  ck_assert_uint_eq(l.n, 6);
  ck_assert_str_eq(l.v[2].path, "2.weight");
  ck_assert_str_eq(l.v[5].path, "again.bias");
  ck_assert_ptr_eq(l.v[0].param, l.v[2].param);
  ck_assert(bd_state_list_is_first(&l, 0));
  ck_assert(!bd_state_list_is_first(&l, 2));
  ck_assert(!bd_state_list_is_first(&l, 5));
  ck_assert_int_eq(bd_state_list_find(&l, "again.weight"), 4);
  ck_assert_int_eq(bd_state_list_find(&l, "1.weight"), -1);
  bd_state_list_free(&l);
  int64_t count, bytes;
  bd_block_count(b, &count, &bytes);
  ck_assert_int_eq(count, 20); /* counted once */
  ck_assert_int_eq(bytes, 80);
  bd_block_release(b);

  expect_err("{\"type\":\"sequential\",\"layers\":[{\"ref\":\"x\"}]}",
             BD_EINVAL, "block.layers[0].ref: undefined ref 'x'");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"ref\":\"x\"},"
      "{\"type\":\"relu\",\"id\":\"x\"}]}",
      BD_EINVAL, "block.layers[0].ref: undefined ref 'x'");
  expect_err(
      "{\"type\":\"sequential\",\"id\":\"outer\",\"layers\":["
      "{\"ref\":\"outer\"}]}",
      BD_EINVAL, "block.layers[0].ref: ref cycle");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\","
      "\"id\":\"a\"},{\"type\":\"relu\",\"id\":\"a\"}]}",
      BD_EINVAL, "block.layers[1].id: duplicate id 'a'");
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\","
      "\"id\":\"a\"},{\"ref\":\"a\",\"type\":\"relu\"}]}",
      BD_EINVAL, "block.layers[1].type: a {\"ref\"} may only carry");
  expect_err("{\"type\":\"sequential\",\"layers\":[{\"ref\":3}]}", BD_EINVAL,
             "block.layers[0].ref: must be a string");
  expect_err("{\"type\":\"relu\",\"id\":\"\"}", BD_EINVAL,
             "block.id: must be a non-empty string");
  /* An id registered inside a failed subtree is forgotten. */
  expect_err(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"sequential\","
      "\"id\":\"s\",\"layers\":[{\"type\":\"nope\"}]},{\"ref\":\"s\"}]}",
      BD_EINVAL, "block.layers[0].layers[0].type: unknown block type");
}
END_TEST

static void round_trip(const char *spec, const char *canonical) {
  bd_block *b, *b2;
  ck_assert_msg(build(spec, NULL, &b) == BD_OK, "%s", bd_errmsg());
  cJSON *c1 = spec_json(b);
  ck_assert_ptr_nonnull(c1);
  if (canonical) {
    cJSON *want = cJSON_Parse(canonical);
    char *got = cJSON_PrintUnformatted(c1);
    ck_assert_msg(cJSON_Compare(c1, want, true), "got %s", got);
    free(got);
    cJSON_Delete(want);
  }
  /* Building the canonical spec again gives the same canonical spec. */
  char *text = cJSON_PrintUnformatted(c1);
  ck_assert_int_eq(build(text, NULL, &b2), BD_OK);
  cJSON *c2 = spec_json(b2);
  ck_assert(cJSON_Compare(c1, c2, true));
  free(text);
  cJSON_Delete(c1);
  cJSON_Delete(c2);
  bd_block_release(b);
  bd_block_release(b2);
}

START_TEST(test_round_trip) {
  round_trip("{\"type\":\"sequential\",\"layers\":[" L(
                 20, 256) ",{\"type\":\"relu\"}," L(256, 10) "]}",
             "{\"type\":\"sequential\",\"layers\":["
             "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256,"
             "\"bias\":true,\"name\":\"0\"},"
             "{\"type\":\"relu\",\"name\":\"1\"},"
             "{\"type\":\"linear\",\"in_features\":256,\"out_features\":10,"
             "\"bias\":true,\"name\":\"2\"}]}");
  round_trip(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":20,\"out_features\":256,"
      "\"name\":\"hidden\",\"bias\":false},{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":256,\"out_features\":10,"
      "\"name\":\"out\"}]}",
      NULL);
  /* Tying survives: the first use carries the id, later ones a ref. */
  round_trip(
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"in_features\":4,\"out_features\":4,"
      "\"id\":\"t\"},{\"ref\":\"t\"}]}",
      "{\"type\":\"sequential\",\"layers\":["
      "{\"type\":\"linear\",\"id\":\"t\",\"in_features\":4,"
      "\"out_features\":4,\"bias\":true,\"name\":\"0\"},"
      "{\"ref\":\"t\",\"name\":\"1\"}]}");
  round_trip("{\"type\":\"relu\"}", "{\"type\":\"relu\"}");
}
END_TEST

START_TEST(test_type_registry) {
  bd_blocks_init();
  ck_assert_ptr_nonnull(bd_block_type_find("linear"));
  ck_assert_ptr_nonnull(bd_block_type_find("sequential"));
  ck_assert_ptr_null(bd_block_type_find("nope"));
  ck_assert_ptr_null(bd_block_type_find(NULL));
  /* Registering a taken name fails. */
  ck_assert_int_eq(bd_block_type_register(bd_block_type_find("relu")),
                   BD_EEXIST);
  ck_assert_int_eq(bd_block_type_register(NULL), BD_EINVAL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("spec");
  TCase *tc = tcase_create("parser");
  tcase_add_test(tc, test_errors_name_paths);
  tcase_add_test(tc, test_depth_and_size_limits);
  tcase_add_test(tc, test_ids_and_refs);
  tcase_add_test(tc, test_expanded_size_limit);
  tcase_add_test(tc, test_refs_nest_once_expanded);
  tcase_add_test(tc, test_many_children_and_names);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_type_registry);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
