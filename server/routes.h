/* routes.h - handlers, one family per file. */
#ifndef SRV_ROUTES_H
#define SRV_ROUTES_H

#include "http.h"

/* routes_models.c */
int srv_health(srv_req *r);
int srv_models_create(srv_req *r);
int srv_models_list(srv_req *r);
int srv_models_get(srv_req *r);
int srv_models_patch(srv_req *r);
int srv_models_delete(srv_req *r);
int srv_models_forward(srv_req *r);

/* routes_params.c */
int srv_params_list(srv_req *r);
int srv_params_get(srv_req *r);
int srv_state_dict_get(srv_req *r);
int srv_blocks_get(srv_req *r);
int srv_blocks_root(srv_req *r);

/* routes_edit.c */
int srv_params_put(srv_req *r);
int srv_params_patch(srv_req *r);
int srv_models_init(srv_req *r);

/* routes_train.c */
int srv_train_backward(srv_req *r);
int srv_train_zero_grad(srv_req *r);
int srv_train_step(srv_req *r);

/* routes_tensor_ops.c */
int srv_tensors_to(srv_req *r);
int srv_tensors_ops(srv_req *r);

/* routes_devices.c */
int srv_devices_list(srv_req *r);
/* Applies cfg's --device-budget settings to the backends (call after
 * bd_backends_init). A budget for an absent device is ignored with a
 * warning; returns -1 (message on stderr) when one is malformed. */
int srv_devices_apply_budgets(const srv_config *cfg);

/* routes_tensors.c */
int srv_tensors_put(srv_req *r);
int srv_tensors_get(srv_req *r);
int srv_tensors_delete(srv_req *r);
int srv_tensors_list(srv_req *r);

/* routes_files.c */
int srv_files_put(srv_req *r);
int srv_files_get(srv_req *r);
int srv_files_delete(srv_req *r);
int srv_files_list(srv_req *r);

/* routes_metrics.c: GET /metrics (server/metrics.h) */
int srv_metrics_get(srv_req *r);
/* routes_ui.c: the embedded web console */
int srv_ui_index(srv_req *r);
int srv_ui_get(srv_req *r);

/* routes_openapi.c: the embedded proto/ documents */
int srv_openapi_get(srv_req *r);
int srv_block_spec_schema_get(srv_req *r);

/* routes_checkpoint.c */
int srv_state_dict_put(srv_req *r);

/* routes_v2.c: the KServe Open Inference Protocol v2 */
int srv_v2_live(srv_req *r);
int srv_v2_ready(srv_req *r);
int srv_v2_server_metadata(srv_req *r);
int srv_v2_model_metadata(srv_req *r);
int srv_v2_model_ready(srv_req *r);
int srv_v2_infer(srv_req *r);

/* The description of a model (GET /v1/models/{m}), from one snapshot of
 * it, into *out (caller frees). Errors: ENOMEM. */
bd_status srv_model_describe(bd_model *m, bool with_spec, cJSON **out);

#endif
