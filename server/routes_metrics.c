/* routes_metrics.c - GET /metrics: the Prometheus text exposition. It
 * runs on the HTTP thread (SRV_INLINE), so that a scrape answers while
 * every compute worker is busy: an overload is when it matters most. */
#include "metrics.h"
#include "routes.h"
#include "sched.h"

int srv_metrics_get(srv_req *r) {
  proto_buf b = {0};
  srv_metrics_render(r->app->models, &b);
  int running = 0, waiting = 0;
  if (r->app->sched) srv_sched_load(r->app->sched, &running, &waiting);
  srv_metrics_gauge(&b, "blockd_http_requests_in_flight",
                    "Requests between their arrival and the completion of "
                    "their reply.",
                    srv_http_inflight());
  srv_metrics_gauge(&b, "blockd_requests_running",
                    "Requests computing on a worker now.", running);
  srv_metrics_gauge(&b, "blockd_requests_waiting",
                    "Requests waiting in a model's queue or parked for a "
                    "batch.",
                    waiting);
  return srv_reply_buf(r, 200, &b, "text/plain; version=0.0.4; charset=utf-8");
}
