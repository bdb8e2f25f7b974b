/* names.h - the one validator for names that clients give blockd.
 *
 * Tensor and file names come from URLs (percent-decoded, so any byte can
 * arrive) and are echoed in every listing and error; a name that is not
 * valid UTF-8 would make those replies invalid JSON. Model names are
 * stricter still (bd_model_name_ok, model.h: ASCII letters, digits, _ - .). */
#ifndef BD_NAMES_H
#define BD_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define BD_FILE_NAME_MAX 200

/* Length (1-4) of the one well-formed UTF-8 sequence that starts at s
 * (n >= 1 bytes available), or 0 when the bytes there are not one. */
size_t bd_utf8_seq_len(const char *s, size_t n);

/* Whether the n bytes at s are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF). */
bool bd_utf8_valid(const char *s, size_t n);

/* Whether name is a plain name (file or tensor): 1..BD_FILE_NAME_MAX
 * bytes of valid UTF-8, no '/' or '\\', no leading '.', not "." or "..",
 * no control characters (C0, DEL, C1 U+0080..U+009F). */
bool bd_file_name_ok(const char *name);

/* BD_OK when bd_file_name_ok(name); otherwise BD_EINVAL with a message
 * that says what is wrong and starts with kind ("file", "tensor"). The
 * name is echoed only when it is valid UTF-8 (truncated at a character
 * boundary), so the message is always valid UTF-8. */
bd_status bd_name_check(const char *kind, const char *name);

#endif
