/* status.h - the one table of runtime failures in blockd's engine.
 *
 * Every engine function that can fail at run time returns a bd_status and,
 * on failure, leaves a human-readable message in a thread-local buffer that
 * bd_errmsg() returns. Assertions are for bugs only. The server maps each
 * status to an HTTP status and a JSON error code in exactly one place
 * (server/errors.c). */
#ifndef BD_STATUS_H
#define BD_STATUS_H

#include <stdarg.h>

/* XX(enum suffix, wire code, default message) */
#define BD_STATUS_MAP(XX)                                                   \
  XX(OK, "ok", "success")                                                   \
  XX(EINVAL, "invalid_argument", "invalid argument")                        \
  XX(EJSON, "malformed_json", "malformed JSON")                             \
  XX(ENOTFOUND, "not_found", "not found")                                   \
  XX(EEXIST, "already_exists", "already exists")                            \
  XX(ESHAPE, "shape_mismatch", "shape mismatch")                            \
  XX(EDTYPE, "dtype_mismatch", "dtype mismatch")                            \
  XX(EDEVMISMATCH, "device_mismatch", "tensors are on different devices")   \
  XX(ENOMEM, "out_of_memory", "out of memory")                              \
  XX(EDEVMEM, "device_out_of_memory", "device out of memory")               \
  XX(ELIMIT, "limit_exceeded", "limit exceeded")                            \
  XX(ETOOLARGE, "too_large", "too large")                                   \
  XX(EUNSUPPORTED, "unsupported", "unsupported")                            \
  XX(ENOGRAD, "no_backward", "block has no backward")                       \
  XX(EFORMAT, "bad_file_format", "bad file format")                         \
  XX(EIO, "io_error", "I/O error")                                          \
  XX(EDEVICE, "device_error", "device error")                               \
  XX(EITERS, "max_iters_exceeded", "maximum iterations exceeded")           \
  XX(ETIMEOUT, "compute_timeout", "compute time limit exceeded")            \
  XX(EINTERNAL, "internal", "internal error")

typedef enum bd_status {
#define XX(n, c, m) BD_##n,
  BD_STATUS_MAP(XX)
#undef XX
  BD_STATUS_COUNT
} bd_status;

/* The wire code ("shape_mismatch") of a status; never NULL. */
const char *bd_status_code(bd_status s);

/* Records a printf-style message for the current thread and returns s, so a
 * failure reads `return bd_fail(BD_ESHAPE, "layer %s ...", ...);`. */
bd_status bd_fail(bd_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current thread's message with a printf-style context
 * ("layers[2]: ") and returns s. */
bd_status bd_fail_prefix(bd_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The default message of a status ("shape mismatch"); never NULL. */
const char *bd_status_message(bd_status s);

/* The message of the last bd_fail on this thread (borrowed, thread-local). */
const char *bd_errmsg(void);

/* Clears the thread's message. */
void bd_errclear(void);

#endif
