/* spec.h - block configuration without JSON: field tables and typed specs.
 *
 * Every block type declares its configuration once, as a table of
 * bd_field (in the spirit of Redis's standardConfig table): the name of
 * each field, its kind, whether it is required, its default, its range or
 * choices, where its value lands in the type's state (offsetof into the
 * impl struct) and a one-line doc. One table drives parsing
 * (proto/spec_json.c), the defaults, the range checks and the messages
 * that name the JSON path, the canonical spec GET /v1/models/{m} prints,
 * and proto/block-spec.schema.json.
 *
 * A bd_spec is a typed spec tree: a block type, its optional name and tie
 * id, its configuration already landed in a buffer shaped like the type's
 * impl struct, and child specs per block-valued field. A {"ref": id} use
 * of a tied block is a bd_spec with ref set and no type. The engine builds
 * block trees from bd_spec (bd_block_build_tree) and gives the canonical
 * bd_spec of a tree (bd_block_to_spec); proto/ converts bd_spec to and
 * from JSON. This header includes no third-party header. */
#ifndef BD_SPEC_H
#define BD_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct bd_block_type bd_block_type;

/* What a field holds, and the C type at its offset in the impl struct. */
typedef enum bd_field_kind {
  BD_FIELD_INT,    /* int64_t, in [min, max] */
  BD_FIELD_NUM,    /* double; in [min, max] when .ranged */
  BD_FIELD_BOOL,   /* bool */
  BD_FIELD_ENUM,   /* int: index into .choices (a JSON string) */
  BD_FIELD_INTS,   /* int64_t[.count], each in [min, max] (a JSON array) */
  BD_FIELD_OBJECT, /* a JSON object of the scalar fields .sub[.nsub]; they
                      land in the same impl struct */
  BD_FIELD_PICK,   /* inside an OBJECT: exactly one key out of .choices
                      with a number value; the key's index lands as an int
                      at .offset, the number as a double at .offset2 */
  BD_FIELD_BLOCK,  /* one child block, named after the field */
  BD_FIELD_BLOCKS, /* a list of child blocks (at least .count), each named
                      by its "name" or its position ("0", "1", ...) */
} bd_field_kind;

typedef struct bd_field {
  const char *name; /* the JSON key; PICK: a word for messages ("comparison") */
  bd_field_kind kind;
  bool required;   /* a missing required field is an error */
  bool ranged;     /* NUM: whether min/max apply */
  bool optional;   /* INT: may be absent or JSON null (torch's None): then
                      the bool at .offset2 is false and the value is .def;
                      given, that bool is true. The canonical spec omits
                      an absent one. (Sits in what was padding: the
                      struct's layout is unchanged.) */
  size_t offset;   /* offsetof(impl struct, member) */
  size_t offset2;  /* PICK: where the number lands; optional INT: its
                      "given" bool */
  double def;      /* default when absent: INT/NUM the value, BOOL 0 or
                      1, ENUM the index */
  double min, max; /* INT/INTS always, NUM when ranged */
  const char *const *choices; /* ENUM/PICK: NULL-terminated */
  int count;                  /* INTS: exact length; BLOCKS: minimum length */
  const struct bd_field *sub; /* OBJECT: its fields */
  int nsub;
  const char *example; /* OBJECT/INTS: shape in messages: "[k, n]" */
  const char *doc;     /* one line, for the JSON Schema */
} bd_field;

/* The entry count of a static field table. */
#define BD_NFIELDS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* ---- typed spec trees ------------------------------------------------ */

typedef struct bd_spec bd_spec;

/* The children given for one block-valued field (BLOCK: n <= 1). */
typedef struct bd_spec_list {
  int n;
  bd_spec **v;
} bd_spec_list;

struct bd_spec {
  const bd_block_type *type; /* NULL for a ref */
  char *ref;          /* {"ref": id}: the id of an earlier block, else NULL */
  char *name;         /* child name given in the spec, or NULL */
  char *id;           /* tie id, or NULL */
  void *config;       /* type->impl_size bytes: field values at their offsets */
  bd_spec_list *kids; /* one list per entry of type->fields (only the
                         BLOCK/BLOCKS ones are used); NULL when none */
};

/* A new spec of type t with every field at its default (impl_size bytes
 * of config, zeroed first). NULL on ENOMEM (message set). Caller frees
 * with bd_spec_free. */
bd_spec *bd_spec_new(const bd_block_type *t);
/* A new {"ref": id} spec (id copied). NULL on ENOMEM. */
bd_spec *bd_spec_new_ref(const char *id);
/* Frees spec and its children; NULL is fine. */
void bd_spec_free(bd_spec *spec);
/* Replaces spec->name / spec->id with a copy of s (NULL clears).
 * BD_ENOMEM on failure. */
bd_status bd_spec_set_name(bd_spec *spec, const char *s);
bd_status bd_spec_set_id(bd_spec *spec, const char *s);
/* Appends child to the list of field number `field` (a BLOCK or BLOCKS
 * entry of spec->type->fields). Takes ownership of child, also on
 * failure (EINVAL for a field that holds no blocks, ENOMEM). */
bd_status bd_spec_add_child(bd_spec *spec, int field, bd_spec *child);

/* Index of the field named name in t's table, or -1. */
int bd_field_find(const bd_block_type *t, const char *name);
/* Writes f's default into config (every scalar kind; OBJECT recurses). */
void bd_field_set_default(const bd_field *f, void *config);

/* Checks a table itself (names, choices, offsets inside impl_size, no
 * blocks or picks where they cannot be); in_object: f is an OBJECT's sub
 * table. EINVAL naming the type and field. Run at type registration, so
 * a broken plugin table is refused at start-up. */
bd_status bd_fields_validate(const char *type, const bd_field *f, int n,
                             size_t impl_size, bool in_object);

/* Range checks shared by the JSON parser and the engine. path names the
 * field ("block.layers[2].in_features"); EINVAL with the message
 *   INT:  "<path>: <v> is outside [min, max]"
 *   NUM:  "<path>: must be between min and max, got <v>"
 * Integer-ness is the caller's business (a JSON number may be 2.5). */
bd_status bd_field_check_int(const bd_field *f, const char *path, double v);
bd_status bd_field_check_num(const bd_field *f, const char *path, double v);
/* Checks every scalar field value in config against the table (ranges,
 * enum and pick indexes); errors name prefix.field. */
bd_status bd_field_check_config(const bd_field *fields, int nfields,
                                const void *config, const char *prefix);

#endif
