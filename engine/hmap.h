/* hmap.h - a small open-addressing hash map from borrowed keys (C strings
 * or pointers) to int64 values, for the engine's lookups that must stay
 * linear in the size of a spec (ids, child names, blocks already seen).
 *
 * Keys are borrowed: the caller keeps each key alive (and, for string
 * keys, unchanged) while it is in the map. There is no removal; a map is
 * rebuilt or dropped instead. */
#ifndef BD_HMAP_H
#define BD_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct bd_hmap {
  bool str;          /* keys are C strings (else compared as pointers) */
  size_t n, cap;     /* cap is 0 or a power of two */
  const void **keys; /* NULL = empty slot */
  int64_t *vals;
} bd_hmap;

/* An empty map (no allocation until the first put). */
void bd_hmap_init(bd_hmap *m, bool str_keys);
/* Frees the tables (not the keys) and empties m. */
void bd_hmap_free(bd_hmap *m);
/* The value stored under key, or NULL when absent. The pointer is valid
 * until the next put. */
int64_t *bd_hmap_get(const bd_hmap *m, const void *key);
/* Stores val under key (borrowed), replacing an existing value. ENOMEM
 * (message set; m unchanged). */
bd_status bd_hmap_put(bd_hmap *m, const void *key, int64_t val);

#endif
