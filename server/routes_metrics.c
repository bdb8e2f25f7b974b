/* routes_metrics.c - GET /metrics: the Prometheus text exposition. */
#include "metrics.h"
#include "routes.h"

int srv_metrics_get(srv_req *r) {
  proto_buf b = {0};
  srv_metrics_render(r->app->models, &b);
  return srv_reply_buf(r, 200, &b, "text/plain; version=0.0.4; charset=utf-8");
}
