/* access.h - what blockd records about every request: its id (the
 * client's X-Request-Id when it sends a sane one), the access log line
 * and the request metrics. The HTTP front end calls srv_access_begin when
 * a request arrives and srv_access_end when it completes; nothing else
 * there knows about logs or metrics. */
#ifndef SRV_ACCESS_H
#define SRV_ACCESS_H

#include <stdbool.h>

#include "http.h"

/* Builds the route labels from srv_routes and sets up the metrics
 * registry. Call once from main before the HTTP front end starts.
 * Returns 0, or -1 when out of memory. */
int srv_access_init(void);
/* Releases what srv_access_init set up. */
void srv_access_free(void);

/* Sets r->rid: the request's X-Request-Id header when it is 1 to
 * SRV_REQUEST_ID_MAX bytes of [A-Za-z0-9._:/+=@-], else blockd's
 * counter r->id in decimal. Needs r->conn and r->id. */
void srv_access_begin(srv_req *r);

/* Records a finished request: counts it and its latency under its route
 * pattern, counts a successful inference for its model, drops a deleted
 * model's series, and writes the access log line (info; warn for 5xx).
 * completed is false when the connection ended before the response was
 * sent. A request that never got a response counts with status 499. */
void srv_access_end(srv_req *r, bool completed);

/* The route label of route i: its pattern with each '*' named after the
 * segment before it ("/v1/models/{m}/forward"). */
const char *srv_access_route_label(int i);

#endif
