/* json_tensor.h - tensors as JSON (DESIGN §3).
 *
 * Wire form: {"shape":[2,20], "dtype":"float32", "data": nested lists or a
 * flat row-major list}. A bare nested list (or a bare number, a 0-d
 * tensor) is accepted as input. Float32 values are printed in the shortest
 * form that reads back to the same bits; non-finite values travel as the
 * strings "NaN", "Infinity", "-Infinity". int64 values are printed and,
 * when the JSON was parsed with proto_json_parse, read exactly over the
 * whole int64 range (a plain cJSON parse rounds them beyond 2^53). */
#ifndef PROTO_JSON_TENSOR_H
#define PROTO_JSON_TENSOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "../engine/tensor.h"
#include "buf.h"
#include "json_num.h" /* proto_fmt_f32 */

/* Decodes j into a new CPU tensor. max_elems bounds the element count
 * (0 = BD_MAX_NUMEL). dtype defaults to float32 (or def_dtype when >= 0).
 * Errors (EINVAL, ESHAPE, ELIMIT) name `what` ("inputs"). */
bd_status proto_tensor_from_json(const cJSON *j, const char *what,
                                 int64_t max_elems, bd_tensor **out);

/* Appends {"shape":...,"dtype":...,"data":...} for a CPU tensor. flat
 * selects a flat data list. */
void proto_tensor_write(proto_buf *b, const bd_tensor *t, bool flat);
/* An upper bound of the bytes proto_tensor_write appends for a tensor of
 * this dtype and shape (every element at its longest form, e.g.
 * "-1.17549435e-38" for float32), computed without looking at the data,
 * so that a response can be refused before it is encoded. Saturates at
 * INT64_MAX. */
int64_t proto_tensor_json_bound(bd_dtype dt, int ndim, const int64_t *shape);

/* Appends a shape as a JSON list: [2,20]. */
void proto_shape_write(proto_buf *b, int ndim, const int64_t *shape);
/* Appends only the data (nested or flat). */
void proto_tensor_write_data(proto_buf *b, const bd_tensor *t, bool flat);

/* The tensor as a cJSON node (a raw node holding the text above); NULL on
 * allocation failure. */
cJSON *proto_tensor_to_cjson(const bd_tensor *t, bool flat);

#endif
