/* namemap.h - a thread-safe map from names to refcounted objects, in
 * insertion order: the one structure behind the model registry and the
 * tensor store.
 *
 * The map holds one reference to each object it stores, taken and dropped
 * through the retain/release callbacks of its type (Redis's dictType).
 * Lookups hand out new references, so an object removed from the map stays
 * valid for whoever still holds one. A mutex guards the map only: objects
 * are released after it is dropped. */
#ifndef BD_NAMEMAP_H
#define BD_NAMEMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct bd_namemap_type {
  void *(*retain)(void *obj); /* returns obj with one more reference */
  void (*release)(void *obj); /* drops one reference; NULL-safe */
} bd_namemap_type;

typedef struct bd_namemap bd_namemap;

/* An empty map of objects of type t (borrowed; must outlive the map).
 * NULL when out of memory. */
bd_namemap *bd_namemap_new(const bd_namemap_type *t);
/* Releases every object and frees the map. NULL-safe. */
void bd_namemap_free(bd_namemap *m);

/* Stores obj (retained) under name (copied). When the name is taken:
 * replace true swaps the new object in (releasing the old one, keeping the
 * name's position); replace false changes nothing. *existed (may be NULL)
 * tells whether the name was taken. Errors: ENOMEM (nothing changed). */
bd_status bd_namemap_put(bd_namemap *m, const char *name, void *obj,
                         bool replace, bool *existed);

/* A new reference to the object named name, or NULL. */
void *bd_namemap_get(bd_namemap *m, const char *name);

/* Removes name and returns the map's reference to its object (the caller
 * releases it), or NULL when absent. */
void *bd_namemap_take(bd_namemap *m, const char *name);

/* A snapshot in insertion order: *objs a malloc'd array of *n new
 * references; names (may be NULL) a malloc'd array of *n strdup'd names.
 * The caller releases / frees each and the arrays. Errors: ENOMEM (nothing
 * allocated). */
bd_status bd_namemap_list(bd_namemap *m, char ***names, void ***objs,
                          size_t *n);

#endif
