/* path.h - dotted paths into a block tree: the one resolver behind every
 * place a client names a sub-block ("0.block 1") or a parameter
 * ("0.block 1.0.bias").
 *
 * A path is a '.'-separated list of segments walked from the root. Each
 * segment names a child of the current block. A segment that names no
 * child but is a decimal position ("1"; digits only, no sign, no leading
 * zero) selects the child at that 0-based position, as PyTorch's
 * `rgnet[0][1][0].bias` indexes a Sequential: so on d2l's rgnet
 * "0.1.0.bias" and "0.block 1.0.bias" reach the same tensor. A name always
 * wins over a position: a child literally named "1" is found by name even
 * when another child sits at position 1. state_dict keys stay the names;
 * positions are only another way to reach them. Negative positions are not
 * accepted.
 *
 * For a parameter path the last part is a parameter or buffer name of the
 * block reached so far (checked before descending, so a parameter name
 * holding a '.' still resolves).
 *
 * Both resolvers only read the tree; the caller holds whatever lock keeps
 * it from changing. */
#ifndef BD_PATH_H
#define BD_PATH_H

#include "block.h"

/* The sub-block of root at path ("" is root itself). *out is borrowed.
 * When canon is not NULL, *canon receives the path spelled with child names
 * (positions replaced; caller frees) on success and NULL on failure.
 * Errors: BD_ENOTFOUND with a message naming the first segment that
 * matched nothing (and, for a position, how many children there are);
 * BD_ENOMEM. */
bd_status bd_path_block(bd_block *root, const char *path, bd_block **out,
                        char **canon);

/* The parameter or buffer of root's tree at path. *out is borrowed; a tied
 * parameter is reached under any of its paths. canon as for
 * bd_path_block: the state_dict key of the path taken. Errors:
 * BD_ENOTFOUND (the message says which segment failed, or that the path
 * names a block), BD_ENOMEM. */
bd_status bd_path_param(bd_block *root, const char *path, bd_param **out,
                        char **canon);

#endif
