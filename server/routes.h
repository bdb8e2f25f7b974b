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

/* The description of a model (GET /v1/models/{m}); caller holds a lock. */
cJSON *srv_model_describe(bd_model *m, bool with_spec);

#endif
