/* tensor_store.h - the daemon's named tensors (PUT /v1/tensors/{t}).
 * Thread-safe; tensors are kept as given (dtype, shape) on the host. */
#ifndef BD_TENSOR_STORE_H
#define BD_TENSOR_STORE_H

#include <stddef.h>

#include "tensor.h"

typedef struct bd_tensor_store bd_tensor_store;

/* An empty store; NULL when out of memory. */
bd_tensor_store *bd_tensor_store_new(void);
/* Releases every tensor; NULL-safe. */
void bd_tensor_store_free(bd_tensor_store *s);
/* Sets name to t (retained), replacing any previous tensor. *replaced
 * (optional) tells whether it existed. ENOMEM. */
bd_status bd_tensor_store_put(bd_tensor_store *s, const char *name,
                              bd_tensor *t, bool *replaced);
/* A new reference to the tensor named name, or NULL. */
bd_tensor *bd_tensor_store_get(bd_tensor_store *s, const char *name);
/* ENOTFOUND when absent. */
bd_status bd_tensor_store_delete(bd_tensor_store *s, const char *name);
/* Snapshot: malloc'd arrays of strdup'd names and new references, sorted
 * by name; caller frees each and the arrays. */
bd_status bd_tensor_store_list(bd_tensor_store *s, char ***names,
                               bd_tensor ***tensors, size_t *n);

#endif
