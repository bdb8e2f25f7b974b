/* ready.c - the readiness flag (ready.h). */
#include "ready.h"

#include <stdatomic.h>

static atomic_bool srv__ready = true;

void srv_ready_set(bool ready) { atomic_store(&srv__ready, ready); }

bool srv_ready_get(void) { return atomic_load(&srv__ready); }
