/* npy.h - NumPy .npy (v1.0/2.0/3.0) for single tensors on the wire
 * (FORMATS.md §3). Dtypes: <f4 <f8 <f2 <i8 (and bfloat16 is not a numpy
 * type: it is refused). C order only on read (fortran_order True is
 * refused with a clear message). */
#ifndef PROTO_NPY_H
#define PROTO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/tensor.h"
#include "buf.h"

/* Appends the .npy encoding of a CPU tensor (v1.0 header, 64-byte
 * aligned, as numpy writes it). BD_EUNSUPPORTED for bfloat16. */
bd_status proto_npy_write(proto_buf *b, const bd_tensor *t);

/* Decodes a .npy image into a new CPU tensor; max_elems bounds its size
 * (0 = no extra bound). Errors: EFORMAT (bad magic/header/length), ELIMIT,
 * EUNSUPPORTED (object, structured or big-endian dtypes). */
bd_status proto_npy_read(const void *data, size_t len, int64_t max_elems,
                         bd_tensor **out);

#endif
