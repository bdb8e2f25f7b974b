/* torchzip.h - PyTorch's torch.save zip format (FORMATS.md §2).
 *
 * Writer: the simpler C layout of FORMATS.md §2.2 - stored entries, real
 * CRC-32s and sizes in the local headers, no data descriptors, an 'FB'
 * padding extra field so every entry's data starts at a multiple of 64,
 * a plain EOCD (ZIP64 records only when sizes or offsets need them).
 * Entries: <prefix>/data.pkl, <prefix>/byteorder, <prefix>/data/<k>,
 * <prefix>/version. Tensors sharing a storage share one data/<k>. The zip
 * container is written by hand: libzip cannot place entry data at 64-byte
 * boundaries (which torch.load(mmap=True) relies on), and the reader
 * works on the mapped file in place, bounds-checking every header itself.
 *
 * Reader: stored entries only (a compressed entry is refused, which also
 * rules out zip bombs), every header, name and data range checked against
 * the file size, one prefix, no duplicate names, version 1..10,
 * byteorder little, data.pkl through the restricted interpreter of
 * proto/torch_pickle.h, storage sizes and view bounds checked with
 * overflow checks. Strided views are copied into contiguous tensors. */
#ifndef PROTO_TORCHZIP_H
#define PROTO_TORCHZIP_H

#include <stddef.h>

#include "tfile.h"

/* Writes f as a torch.save archive whose entries live under prefix
 * ("archive" when NULL; only [A-Za-z0-9_.-] are kept). f's tensors must
 * be on the host. f->spec, when set, goes into <prefix>/.data/blockd_spec.json
 * (torch.load ignores records it does not need) and is read back. */
bd_status proto_torchzip_write(const proto_tfile *f, const char *prefix,
                               proto_sink sink);

/* Parses a torch.save archive into out. lim may be NULL. Errors: EFORMAT
 * naming the rule broken, EUNSUPPORTED (storage types blockd lacks,
 * big-endian files, TorchScript archives), ELIMIT, ENOMEM. */
bd_status proto_torchzip_read(const void *data, size_t len,
                              const proto_tfile_limits *lim, proto_tfile *out);

/* Whether data starts with a zip local file header - a sniff only. */
bool proto_torchzip_sniff(const void *data, size_t len);

#endif
