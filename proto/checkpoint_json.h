/* checkpoint_json.h - the JSON and file metadata around engine
 * checkpoints: a model's state_dict as a tensor file value (with the block
 * spec that state_dict files carry) and the load_state_dict report as the
 * HTTP API returns it. */
#ifndef PROTO_CHECKPOINT_JSON_H
#define PROTO_CHECKPOINT_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "../engine/checkpoint.h"
#include "tfile.h"

/* The model's canonical block spec as compact JSON text (proto_spec_print
 * of bd_model_spec; caller frees); NULL when out of memory. Takes no lock
 * (a model's tree is fixed at creation). This is the one place a
 * checkpoint's "blockd.spec" metadata is produced. */
char *proto_model_spec_string(const bd_model *m);

/* bd_checkpoint_export into a tensor file value: kind state_dict, spec =
 * proto_model_spec_string(m), the entries of bd_checkpoint_export (which
 * see; with_optim adds the momentum buffers). out is zeroed first and
 * left empty on failure. The caller holds m's read lock. ENOMEM, the
 * export's errors. */
bd_status proto_checkpoint_export(bd_model *m, bool with_optim,
                                  proto_tfile *out);

/* {"missing_keys":[...],"unexpected_keys":[...],"mismatched_keys":
 * [{"key","expected","got"}]} plus "loaded": n when with_loaded, the
 * shapes written as bd_shape_str does ("[3, 4]"). Caller frees; NULL when
 * out of memory. */
cJSON *proto_load_report_json(const bd_load_report *r, bool with_loaded);

#endif
