/* bad_plugin.c - deliberately broken plugins for the loader's tests,
 * selected at compile time:
 *   BAD_ABI     exports the entry with a wrong ABI version;
 *   OLD_ABI     claims plugin ABI 1 (the cJSON-based one ABI 2 replaced);
 *   NO_ENTRY    exports no entry function;
 *   TAKEN_NAME  registers a layer named "linear" (a built-in);
 *   NO_BACKWARD a valid layer "badlayer" (identity forward) that declares
 *               no backward. */
#include "engine/blockd_plugin.h"

#ifndef NO_ENTRY
static bd_status bad_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                             bd_tensor **y, void **saved) {
  (void)b;
  (void)ex;
  (void)saved;
  *y = bd_tensor_retain(x);
  return BD_OK;
}

static const bd_plugin_layer bad_layer = {
#ifdef TAKEN_NAME
    .name = "linear",
#else
    .name = "badlayer",
#endif
    .forward = bad_forward,
};

static bd_status bad_register(bd_plugin_host *host) {
  return bd_plugin_add_layer(host, &bad_layer);
}

static const bd_plugin_info bad_info = {
#if defined(BAD_ABI)
    .abi_version = 999, /* a future ABI */
#elif defined(OLD_ABI)
    .abi_version = 1,
#else
    .abi_version = BLOCKD_PLUGIN_ABI_VERSION,
#endif
    .name = "bad",
    .version = "0",
    .register_types = bad_register,
};

const bd_plugin_info *blockd_plugin(void) { return &bad_info; }
#else
int not_a_blockd_plugin(void);
int not_a_blockd_plugin(void) { return 42; }
#endif
