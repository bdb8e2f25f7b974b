/* routes.c - the route table. Order matters only for readability: each
 * pattern matches a fixed number of segments. */
#include "routes.h"

#include "persist.h"

const srv_route srv_routes[] = {
    {"GET", "/v1/health", srv_health, SRV_BODY_NONE | SRV_INLINE},
    {"GET", "/v1/devices", srv_devices_list, SRV_BODY_NONE},
    {"GET", "/v1/models", srv_models_list, SRV_BODY_NONE},
    {"POST", "/v1/models", srv_models_create, SRV_BODY_JSON},
    {"GET", "/v1/models/*", srv_models_get, SRV_BODY_NONE},
    {"PATCH", "/v1/models/*", srv_models_patch, SRV_BODY_JSON},
    {"DELETE", "/v1/models/*", srv_models_delete, SRV_BODY_NONE},
    {"POST", "/v1/models/*/forward", srv_models_forward, SRV_BODY_BINARY},
    {"GET", "/v1/models/*/parameters", srv_params_list, SRV_BODY_NONE},
    {"GET", "/v1/models/*/parameters/*", srv_params_get, SRV_BODY_NONE},
    {"GET", "/v1/models/*/state_dict", srv_state_dict_get, SRV_BODY_NONE},
    {"PUT", "/v1/models/*/parameters/*", srv_params_put, SRV_BODY_BINARY},
    {"PATCH", "/v1/models/*/parameters/*", srv_params_patch, SRV_BODY_JSON},
    {"GET", "/v1/models/*/blocks", srv_blocks_root, SRV_BODY_NONE},
    {"GET", "/v1/models/*/blocks/*", srv_blocks_get, SRV_BODY_NONE},
    {"POST", "/v1/models/*/init", srv_models_init, SRV_BODY_JSON},
    {"POST", "/v1/models/*/backward", srv_train_backward, SRV_BODY_JSON},
    {"POST", "/v1/models/*/zero_grad", srv_train_zero_grad, SRV_BODY_JSON},
    {"POST", "/v1/models/*/step", srv_train_step, SRV_BODY_JSON},
    {"PUT", "/v1/models/*/state_dict", srv_state_dict_put, SRV_BODY_BINARY},
    {"POST", "/v1/models/*/save", srv_models_save, SRV_BODY_JSON},
    {"GET", "/v1/tensors", srv_tensors_list, SRV_BODY_NONE},
    {"PUT", "/v1/tensors/*", srv_tensors_put, SRV_BODY_BINARY},
    {"GET", "/v1/tensors/*", srv_tensors_get, SRV_BODY_NONE},
    {"DELETE", "/v1/tensors/*", srv_tensors_delete, SRV_BODY_NONE},
    {"POST", "/v1/tensors/ops", srv_tensors_ops, SRV_BODY_JSON},
    {"POST", "/v1/tensors/*/to", srv_tensors_to, SRV_BODY_JSON},
    {"GET", "/v1/files", srv_files_list, SRV_BODY_NONE},
    {"PUT", "/v1/files/*", srv_files_put, SRV_BODY_BINARY},
    {"GET", "/v1/files/*", srv_files_get, SRV_BODY_NONE},
    {"DELETE", "/v1/files/*", srv_files_delete, SRV_BODY_NONE},
    {"GET", "/metrics", srv_metrics_get, SRV_BODY_NONE | SRV_INLINE},
    {NULL, NULL, NULL, 0},
};
