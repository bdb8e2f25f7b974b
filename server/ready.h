/* ready.h - whether the daemon takes inference work (readiness).
 *
 * Liveness and readiness differ: a live daemon answers at all; a ready one
 * should be sent traffic. GET /v2/health/ready and GET
 * /v2/models/{m}/ready answer 200 only while the flag is set, 503
 * otherwise. The flag starts set: the listening socket opens only after
 * start-up (models restored), so a daemon that answers has finished
 * starting. Start-up code that must hold readiness back once listening
 * clears it before srv_http_start and sets it when done; draining (on
 * SIGTERM) clears it so that load balancers stop routing here while
 * in-flight requests finish. Any thread may call these (an atomic). */
#ifndef SRV_READY_H
#define SRV_READY_H

#include <stdbool.h>

/* Sets or clears readiness. */
void srv_ready_set(bool ready);
/* Whether the daemon is ready (true unless srv_ready_set(false) ran). */
bool srv_ready_get(void);

#endif
