/* spec_schema.c - proto/block-spec.schema.json, generated from the
 * built-in block types' field tables (proto_spec_schema). The committed
 * file is this function's output (`blockd --print-spec-schema`), and
 * tests/unit/test_spec_json.c proves the two agree. */
#include <stdio.h>

#include "spec_json.h"

#define PROTO__REF_BLOCK "#/$defs/block"

static cJSON *proto__ref_to(const char *def) {
  cJSON *o = cJSON_CreateObject();
  char ref[96];
  snprintf(ref, sizeof ref, "#/$defs/%s", def);
  cJSON_AddStringToObject(o, "$ref", ref);
  return o;
}

static void proto__range(cJSON *o, const bd_field *f) {
  cJSON_AddNumberToObject(o, "minimum", f->min);
  cJSON_AddNumberToObject(o, "maximum", f->max);
}

static cJSON *proto__field_schema(const bd_field *f);

/* An OBJECT field: its sub-fields, a PICK as one number per choice. */
static cJSON *proto__object_schema(const bd_field *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "object");
  cJSON *props = cJSON_AddObjectToObject(o, "properties");
  cJSON *req = cJSON_CreateArray();
  int plain = 0, plain_req = 0;
  bool pick = false;
  for (int i = 0; i < f->nsub; i++) {
    const bd_field *x = &f->sub[i];
    if (x->kind == BD_FIELD_PICK) {
      pick = true;
      for (int c = 0; x->choices[c]; c++) {
        cJSON *n = cJSON_AddObjectToObject(props, x->choices[c]);
        cJSON_AddStringToObject(n, "type", "number");
      }
      continue;
    }
    plain++;
    cJSON_AddItemToObject(props, x->name, proto__field_schema(x));
    if (x->required) {
      plain_req++;
      cJSON_AddItemToArray(req, cJSON_CreateString(x->name));
    }
  }
  cJSON_AddItemToObject(o, "required", req);
  cJSON_AddBoolToObject(o, "additionalProperties", false);
  if (pick) {
    /* exactly one comparison next to the plain fields */
    cJSON_AddNumberToObject(o, "minProperties", plain_req + 1);
    cJSON_AddNumberToObject(o, "maxProperties", plain + 1);
  }
  return o;
}

static cJSON *proto__field_schema(const bd_field *f) {
  cJSON *o = NULL;
  switch (f->kind) {
    case BD_FIELD_INT:
      o = cJSON_CreateObject();
      if (f->optional) {
        /* absent or null: None */
        cJSON *t = cJSON_AddArrayToObject(o, "type");
        cJSON_AddItemToArray(t, cJSON_CreateString("integer"));
        cJSON_AddItemToArray(t, cJSON_CreateString("null"));
      } else {
        cJSON_AddStringToObject(o, "type", "integer");
      }
      proto__range(o, f);
      if (!f->required && !f->optional)
        cJSON_AddNumberToObject(o, "default", f->def);
      break;
    case BD_FIELD_NUM:
      o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "number");
      if (f->ranged) proto__range(o, f);
      if (!f->required) cJSON_AddNumberToObject(o, "default", f->def);
      break;
    case BD_FIELD_BOOL:
      o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "boolean");
      if (!f->required) cJSON_AddBoolToObject(o, "default", f->def != 0);
      break;
    case BD_FIELD_ENUM: {
      o = cJSON_CreateObject();
      cJSON *e = cJSON_AddArrayToObject(o, "enum");
      for (int i = 0; f->choices[i]; i++)
        cJSON_AddItemToArray(e, cJSON_CreateString(f->choices[i]));
      if (!f->required)
        cJSON_AddStringToObject(o, "default", f->choices[(int)f->def]);
      break;
    }
    case BD_FIELD_INTS: {
      o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "array");
      cJSON *items = cJSON_AddObjectToObject(o, "items");
      cJSON_AddStringToObject(items, "type", "integer");
      proto__range(items, f);
      cJSON_AddNumberToObject(o, "minItems", f->count);
      cJSON_AddNumberToObject(o, "maxItems", f->count);
      break;
    }
    case BD_FIELD_OBJECT:
      o = proto__object_schema(f);
      break;
    case BD_FIELD_BLOCK:
      o = proto__ref_to("block");
      break;
    case BD_FIELD_BLOCKS:
      o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "array");
      if (f->count > 0) cJSON_AddNumberToObject(o, "minItems", f->count);
      cJSON_AddItemToObject(o, "items", proto__ref_to("block"));
      break;
    default:
      o = cJSON_CreateObject();
      break;
  }
  if (f->doc) cJSON_AddStringToObject(o, "description", f->doc);
  return o;
}

/* The properties every typed block has: type, name, id. */
static cJSON *proto__common_props(cJSON *o, const char *type) {
  cJSON *props = cJSON_AddObjectToObject(o, "properties");
  cJSON *t = cJSON_AddObjectToObject(props, "type");
  if (type) {
    cJSON_AddStringToObject(t, "const", type);
  }
  cJSON_AddItemToObject(props, "name", proto__ref_to("name"));
  cJSON_AddItemToObject(props, "id", proto__ref_to("id"));
  return props;
}

static cJSON *proto__type_schema(const bd_block_type *t) {
  cJSON *o = cJSON_CreateObject();
  if (t->doc) cJSON_AddStringToObject(o, "description", t->doc);
  cJSON_AddStringToObject(o, "type", "object");
  cJSON *props = proto__common_props(o, t->name);
  cJSON *req = cJSON_CreateArray();
  cJSON_AddItemToArray(req, cJSON_CreateString("type"));
  for (int i = 0; i < t->nfields; i++) {
    const bd_field *f = &t->fields[i];
    cJSON_AddItemToObject(props, f->name, proto__field_schema(f));
    if (f->required) cJSON_AddItemToArray(req, cJSON_CreateString(f->name));
  }
  cJSON_AddItemToObject(o, "required", req);
  cJSON_AddBoolToObject(o, "additionalProperties", false);
  return o;
}

/* name, id and ref: the pieces every spec shares. */
static void proto__shared_defs(cJSON *defs) {
  cJSON *name = cJSON_AddObjectToObject(defs, "name");
  cJSON_AddStringToObject(name, "type", "string");
  cJSON_AddNumberToObject(name, "minLength", 1);
  cJSON_AddStringToObject(name, "pattern", "^[^.]+$");
  cJSON_AddStringToObject(name, "description",
                          "child name; no '.' (it separates state_dict path "
                          "segments); spaces allowed");
  cJSON *id = cJSON_AddObjectToObject(defs, "id");
  cJSON_AddStringToObject(id, "type", "string");
  cJSON_AddNumberToObject(id, "minLength", 1);
  cJSON_AddStringToObject(id, "description",
                          "tie id; a later {\"ref\": id} reuses this very "
                          "block");
  cJSON *ref = cJSON_AddObjectToObject(defs, "ref");
  cJSON_AddStringToObject(ref, "type", "object");
  cJSON *props = cJSON_AddObjectToObject(ref, "properties");
  cJSON_AddItemToObject(props, "ref", proto__ref_to("id"));
  cJSON_AddItemToObject(props, "name", proto__ref_to("name"));
  cJSON *req = cJSON_AddArrayToObject(ref, "required");
  cJSON_AddItemToArray(req, cJSON_CreateString("ref"));
  cJSON_AddBoolToObject(ref, "additionalProperties", false);
}

/* Plugin types are open: any type name that is not a built-in. */
static void proto__plugin_def(cJSON *defs, int nbuiltin) {
  cJSON *pl = cJSON_AddObjectToObject(defs, "plugin");
  cJSON_AddStringToObject(pl, "description",
                          "a block type registered by a plugin (--plugin); "
                          "its fields are checked by the plugin");
  cJSON_AddStringToObject(pl, "type", "object");
  cJSON *props = proto__common_props(pl, NULL);
  cJSON *t = cJSON_GetObjectItemCaseSensitive(props, "type");
  cJSON_AddStringToObject(t, "type", "string");
  cJSON *names =
      cJSON_AddArrayToObject(cJSON_AddObjectToObject(t, "not"), "enum");
  for (int i = 0; i < nbuiltin; i++)
    cJSON_AddItemToArray(names, cJSON_CreateString(bd_block_type_at(i)->name));
  cJSON *req = cJSON_AddArrayToObject(pl, "required");
  cJSON_AddItemToArray(req, cJSON_CreateString("type"));
}

cJSON *proto_spec_schema(void) {
  int n = bd_blocks_builtin_count();
  cJSON *s = cJSON_CreateObject();
  cJSON_AddStringToObject(s, "$schema",
                          "https://json-schema.org/draft/2020-12/schema");
  cJSON_AddStringToObject(
      s, "$id",
      "https://github.com/blockd/blockd/proto/block-spec.schema.json");
  cJSON_AddStringToObject(s, "title", "blockd block spec");
  cJSON_AddStringToObject(
      s, "description",
      "The \"block\" of POST /v1/models: a tree of blocks (DESIGN.md section "
      "4). GET /v1/models/{m} returns it in canonical form (defaults filled "
      "in, first use of a shared block carries its id, later uses are "
      "{\"ref\": id}). Generated from the block types' field tables "
      "(blockd --print-spec-schema).");
  cJSON_AddStringToObject(s, "$ref", PROTO__REF_BLOCK);
  cJSON *defs = cJSON_AddObjectToObject(s, "$defs");
  proto__shared_defs(defs);
  proto__plugin_def(defs, n);
  cJSON *one =
      cJSON_AddArrayToObject(cJSON_AddObjectToObject(defs, "block"), "oneOf");
  cJSON_AddItemToArray(one, proto__ref_to("ref"));
  for (int i = 0; i < n; i++) {
    const bd_block_type *t = bd_block_type_at(i);
    cJSON_AddItemToArray(one, proto__ref_to(t->name));
    cJSON_AddItemToObject(defs, t->name, proto__type_schema(t));
  }
  cJSON_AddItemToArray(one, proto__ref_to("plugin"));
  /* Any allocation failure above leaves a hole; report it as ENOMEM
   * rather than hand out a partial schema. */
  char *probe = cJSON_PrintUnformatted(s);
  if (!probe || cJSON_GetArraySize(one) != n + 2) {
    cJSON_free(probe);
    cJSON_Delete(s);
    bd_fail(BD_ENOMEM, "out of host memory");
    return NULL;
  }
  cJSON_free(probe);
  return s;
}
