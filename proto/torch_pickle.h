/* torch_pickle.h - the data.pkl of torch.save files (FORMATS.md §2.3-2.5).
 *
 * The writer emits protocol-2 pickles that torch 1.13's
 * torch.load(weights_only=True) accepts: only OrderedDict,
 * _rebuild_tensor_v2 and torch.*Storage globals, no BINFLOAT.
 *
 * The reader is not an unpickler: it interprets a fixed opcode subset on a
 * symbolic stack, maps GLOBALs to an allowlist (anything else, such as
 * os.system or builtins.eval, is an error), executes nothing, and caps
 * stack, mark depth, memo, string lengths and LONG1 widths. */
#ifndef PROTO_TORCH_PICKLE_H
#define PROTO_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "tfile.h"

/* A storage named by a persistent id: data/<key>, numel elements. */
typedef struct proto_tp_storage {
  char *key;
  int dtype;             /* a bd_dtype, or -1 for a storage type blockd lacks */
  const char *type_name; /* "FloatStorage" (static) */
  int64_t numel;
} proto_tp_storage;

/* A tensor view: storage index, element offset, sizes and strides. */
typedef struct proto_tp_tensor {
  size_t storage;
  int64_t offset;
  int ndim;
  int64_t shape[BD_MAX_DIMS];
  int64_t stride[BD_MAX_DIMS];
} proto_tp_tensor;

typedef struct proto_tp_result {
  proto_tfile_kind kind;
  size_t n;
  char **names; /* "tensor" / "0","1",... / dict keys */
  proto_tp_tensor *tensors;
  size_t nstorages;
  proto_tp_storage *storages;
} proto_tp_result;

/* Interprets a data.pkl image. Errors: EFORMAT naming the opcode or
 * global refused, ELIMIT for caps, EUNSUPPORTED for objects other than a
 * tensor, a list/tuple of tensors or a dict/OrderedDict of str -> tensor. */
bd_status proto_torch_pickle_read(const void *pkl, size_t len,
                                  proto_tp_result *out);
void proto_tp_result_free(proto_tp_result *r);

/* Per tensor i of f: storage key index skey[i], element offset soff[i];
 * per storage key k: its dtype sdt[k] and element count snumel[k].
 * Appends the pickle to out. */
bd_status proto_torch_pickle_write(const proto_tfile *f, const size_t *skey,
                                   const int64_t *soff, const bd_dtype *sdt,
                                   const int64_t *snumel, proto_buf *out);

#endif
