/* routes.c - the route table. Order matters only for readability: each
 * pattern matches a fixed number of segments. */
#include "routes.h"

const srv_route srv_routes[] = {
    {"GET", "/v1/health", srv_health, SRV_BODY_NONE},
    {"GET", "/v1/models", srv_models_list, SRV_BODY_NONE},
    {"POST", "/v1/models", srv_models_create, SRV_BODY_JSON},
    {"GET", "/v1/models/*", srv_models_get, SRV_BODY_NONE},
    {"PATCH", "/v1/models/*", srv_models_patch, SRV_BODY_JSON},
    {"DELETE", "/v1/models/*", srv_models_delete, SRV_BODY_NONE},
    {"POST", "/v1/models/*/forward", srv_models_forward, SRV_BODY_JSON},
    {"GET", "/v1/models/*/parameters", srv_params_list, SRV_BODY_NONE},
    {"GET", "/v1/models/*/parameters/*", srv_params_get, SRV_BODY_NONE},
    {"GET", "/v1/models/*/state_dict", srv_state_dict_get, SRV_BODY_NONE},
    {NULL, NULL, NULL, 0},
};
