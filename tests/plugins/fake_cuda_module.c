/* fake_cuda_module.c - stand-ins for libblockd-cuda.so in the module
 * loader's tests (tests/http/test_cuda_module.py), built without CUDA:
 *   WRONG_ABI  exports blockd_cuda_module with another ABI version
 *   NO_SYMBOL  exports nothing the loader looks for
 *   REFUSES    the right version, but its check of the host fails */
#include <stddef.h>

#include "engine/backend.h"

#if defined(WRONG_ABI) || defined(REFUSES)
static int fake_count(void) { return 0; }

static bd_status fake_create(int index, const bd_backend_i **iface,
                             void **ctx) {
  (void)index;
  (void)iface;
  (void)ctx;
  return BD_EDEVICE;
}

static const bd_cuda_probe fake_probe = {fake_count, fake_create};

#ifdef REFUSES
static bd_status fake_check(uint32_t host_abi) {
  return bd_fail(BD_EUNSUPPORTED, "fake module refuses host ABI %u",
                 (unsigned)host_abi);
}
#endif

__attribute__((visibility("default")))
const bd_cuda_module blockd_cuda_module = {
#ifdef WRONG_ABI
    BD_CUDA_MODULE_ABI + 100,
#else
    BD_CUDA_MODULE_ABI,
#endif
    &fake_probe,
#ifdef REFUSES
    fake_check,
#else
    NULL,
#endif
};
#else
__attribute__((visibility("default"))) int blockd_not_a_cuda_module = 1;
#endif
