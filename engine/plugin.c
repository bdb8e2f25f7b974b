/* plugin.c - loading block-type plugins (engine/blockd_plugin.h).
 *
 * A plugin's layers are collected first and registered only when all of
 * them are valid and none of their names is taken, so a failed load
 * leaves the type registry as it was. Libraries are never unloaded: the
 * registered types point into them. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "blockd_plugin.h"

#define BD_PLUGIN_MAX_LAYERS 64

struct bd_plugin_host {
  const char *path;
  const bd_plugin_layer *layers[BD_PLUGIN_MAX_LAYERS];
  int n;
  bd_status err; /* first failure reported through add_layer */
};

/* A registered plugin layer: the block type blockd sees, followed by the
 * layer it wraps (the type is first so a bd_block_type* converts back). */
typedef struct bd__plugin_type {
  bd_block_type type;
  const bd_plugin_layer *layer;
} bd__plugin_type;

/* Forward dispatcher for layers with a CUDA forward. */
static bd_status bd__plugin_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                    bd_tensor **y, void **saved) {
  const bd_plugin_layer *l = ((const bd__plugin_type *)b->type)->layer;
  if (ex->dev.type == BD_DEV_CUDA && l->forward_cuda)
    return l->forward_cuda(b, ex, x, y, saved);
  return l->forward(b, ex, x, y, saved);
}

bd_status bd_plugin_add_layer(bd_plugin_host *host,
                              const bd_plugin_layer *layer) {
  bd_status s = BD_OK;
  if (!layer || !layer->name || !layer->name[0] || !layer->forward)
    s = bd_fail(BD_EINVAL, "plugin %s: a layer needs a name and a forward",
                host->path);
  else if ((s = bd_fields_validate(layer->name, layer->fields, layer->nfields,
                                   layer->impl_size, false)))
    s = bd_fail_prefix(s, "plugin %s: ", host->path);
  else if (bd_block_type_find(layer->name))
    s = bd_fail(BD_EEXIST,
                "plugin %s: block type '%s' is already "
                "registered (by blockd or an earlier plugin)",
                host->path, layer->name);
  else if (host->n == BD_PLUGIN_MAX_LAYERS)
    s = bd_fail(BD_ELIMIT, "plugin %s: more than %d layers", host->path,
                BD_PLUGIN_MAX_LAYERS);
  for (int i = 0; !s && i < host->n; i++)
    if (strcmp(host->layers[i]->name, layer->name) == 0)
      s = bd_fail(BD_EEXIST, "plugin %s: layer '%s' declared twice", host->path,
                  layer->name);
  if (s) {
    if (!host->err) host->err = s;
    return s;
  }
  host->layers[host->n++] = layer;
  return BD_OK;
}

bd_status bd_plugin_load(const char *path) {
  bd_blocks_init();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return bd_fail(BD_EIO, "plugin %s: cannot load: %s", path, dlerror());
  const bd_plugin_info *(*entry)(void) = NULL;
  *(void **)&entry = dlsym(h, BLOCKD_PLUGIN_ENTRY);
  if (!entry) {
    dlclose(h);
    return bd_fail(BD_EIO,
                   "plugin %s: no '%s' entry function (is it a "
                   "blockd plugin?)",
                   path, BLOCKD_PLUGIN_ENTRY);
  }
  const bd_plugin_info *info = entry();
  if (!info || info->abi_version != BLOCKD_PLUGIN_ABI_VERSION) {
    unsigned v = info ? info->abi_version : 0;
    dlclose(h);
    return bd_fail(BD_EUNSUPPORTED,
                   "plugin %s: built for plugin ABI "
                   "version %u, this blockd speaks ABI version %u; rebuild "
                   "it against blockd_plugin.h",
                   path, v, BLOCKD_PLUGIN_ABI_VERSION);
  }
  if (!info->register_types) {
    dlclose(h);
    return bd_fail(BD_EINVAL, "plugin %s: register_types is NULL", path);
  }
  bd_plugin_host host = {.path = path};
  bd_status s = info->register_types(&host);
  if (!s && host.err) s = host.err;
  if (!s && host.n == 0)
    s = bd_fail(BD_EINVAL, "plugin %s: registers no layer", path);
  if (s) {
    if (bd_errmsg()[0] == '\0')
      bd_fail(s, "plugin %s: register_types failed", path);
    dlclose(h);
    return s;
  }
  bd__plugin_type *types = calloc((size_t)host.n, sizeof *types);
  if (!types) {
    dlclose(h);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  for (int i = 0; i < host.n; i++) {
    const bd_plugin_layer *l = host.layers[i];
    types[i].layer = l;
    types[i].type = (bd_block_type){
        .name = l->name,
        .doc = l->doc,
        .fields = l->fields,
        .nfields = l->nfields,
        .impl_size = l->impl_size,
        .init = l->init,
        .forward = l->forward_cuda ? bd__plugin_forward : l->forward,
        .backward = l->backward,
        .reset = l->reset,
        .free_impl = l->free_impl,
    };
  }
  for (int i = 0; i < host.n; i++) {
    s = bd_block_type_register(&types[i].type);
    /* Only a concurrent registration can make this fail after the checks
     * above; the earlier types stay registered and must stay allocated. */
    if (s) return bd_fail_prefix(s, "plugin %s: ", path);
  }
  return BD_OK;
}
