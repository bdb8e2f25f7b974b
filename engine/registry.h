/* registry.h - the named models of a daemon. Thread-safe. */
#ifndef BD_REGISTRY_H
#define BD_REGISTRY_H

#include <stddef.h>

#include "model.h"

typedef struct bd_registry bd_registry;

/* An empty registry; NULL when out of memory. */
bd_registry *bd_registry_new(void);
/* Releases every model the registry holds. NULL-safe. */
void bd_registry_free(bd_registry *r);
/* Adds m (the registry takes its own reference). BD_EEXIST when the name
 * is taken. */
bd_status bd_registry_add(bd_registry *r, bd_model *m);
/* A new reference to the model named name, or NULL. */
bd_model *bd_registry_get(bd_registry *r, const char *name);
/* Removes the model; BD_ENOTFOUND when absent. In-flight users keep their
 * references. */
bd_status bd_registry_remove(bd_registry *r, const char *name);
/* A malloc'd array of new references in insertion order; *n its length.
 * Caller releases each and frees the array. NULL (and *n 0) when out of
 * memory. */
bd_model **bd_registry_list(bd_registry *r, size_t *n);

#endif
