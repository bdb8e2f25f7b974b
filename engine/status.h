/* status.h - the one table of runtime failures in blockd's engine.
 *
 * Every engine function that can fail at run time returns a bd_status and,
 * on failure, leaves a human-readable message in a thread-local buffer that
 * bd_errmsg() returns. Assertions are for bugs only. The server maps each
 * status to an HTTP status and a JSON error code in exactly one place:
 * the table below, read by server/errors.c. */
#ifndef BD_STATUS_H
#define BD_STATUS_H

#include <stdarg.h>

/* XX(enum suffix, HTTP status, wire code, default message)
 *
 * One table, as libuv's UV_ERRNO_MAP: the engine returns the statuses, the
 * server replies with the HTTP status and wire code of the same row, so a
 * status cannot reach a client under two spellings. The HTTP column is only
 * a number to the engine. The last three rows are produced by the HTTP
 * front end alone (a request the daemon refuses before any route runs);
 * they are in the table so that every wire code the daemon sends has one
 * row. New rows go at the end: plugins built against this header see the
 * enum's numeric values.
 *
 * 413 has two meanings and one spelling each: too_large is a resource the
 * request asks for (a model over --max-model-bytes, a tensor a forward or
 * op would create, a file too large to print as JSON); payload_too_large is
 * the request's own body over --max-body, refused before it is read. */
#define BD_STATUS_MAP(XX)                                                      \
  XX(OK, 200, "ok", "success")                                                 \
  XX(EINVAL, 400, "invalid_argument", "invalid argument")                      \
  XX(EJSON, 400, "malformed_json", "malformed JSON")                           \
  XX(ENOTFOUND, 404, "not_found", "not found")                                 \
  XX(EEXIST, 409, "already_exists", "already exists")                          \
  XX(ESHAPE, 422, "shape_mismatch", "shape mismatch")                          \
  XX(EDTYPE, 422, "dtype_mismatch", "dtype mismatch")                          \
  XX(EDEVMISMATCH, 422, "device_mismatch", "tensors are on different devices") \
  XX(ENOMEM, 507, "out_of_memory", "out of memory")                            \
  XX(EDEVMEM, 507, "device_out_of_memory", "device out of memory")             \
  XX(ELIMIT, 400, "limit_exceeded", "limit exceeded")                          \
  XX(ETOOLARGE, 413, "too_large", "too large")                                 \
  XX(EUNSUPPORTED, 422, "unsupported", "unsupported")                          \
  XX(ENOGRAD, 422, "no_backward", "block has no backward")                     \
  XX(EFORMAT, 400, "bad_file_format", "bad file format")                       \
  XX(EIO, 500, "io_error", "I/O error")                                        \
  XX(EDEVICE, 500, "device_error", "device error")                             \
  XX(EITERS, 422, "max_iters_exceeded", "maximum iterations exceeded")         \
  XX(ETIMEOUT, 422, "compute_timeout", "compute time limit exceeded")          \
  XX(EINTERNAL, 500, "internal", "internal error")                             \
  XX(EMETHOD, 405, "method_not_allowed", "method not allowed")                 \
  XX(EMEDIATYPE, 415, "unsupported_media_type", "unsupported media type")      \
  XX(EPAYLOAD, 413, "payload_too_large", "request body too large")             \
  XX(EURITOOLONG, 414, "uri_too_long", "request URI too long")                 \
  XX(EHEADERS, 431, "headers_too_large", "request headers too large")          \
  XX(ENOSPACE, 507, "insufficient_storage",                                    \
     "no space left to save (disk full or quota exceeded)")                    \
  XX(EBUSY, 503, "overloaded", "the model's request queue is full")            \
  XX(EDEADLINE, 503, "deadline_exceeded",                                      \
     "the request ran past its deadline (--request-timeout)")                  \
  XX(ESHUTDOWN, 503, "shutting_down", "the daemon is shutting down")           \
  XX(ECLOSED, 499, "client_closed_request",                                    \
     "the client closed the connection before the answer")                     \
  XX(EUNAVAILABLE, 503, "unavailable", "not ready to serve")                   \
  XX(EUNAUTH, 401, "unauthorized", "authentication required")                  \
  XX(EFORBIDDEN, 403, "forbidden", "forbidden")

typedef enum bd_status {
#define XX(n, h, c, m) BD_##n,
  BD_STATUS_MAP(XX)
#undef XX
      BD_STATUS_COUNT
} bd_status;

/* The wire code ("shape_mismatch") of a status; never NULL ("internal"
 * for a value outside the table). */
const char *bd_status_code(bd_status s);

/* The HTTP status of a status's row (422 for BD_ESHAPE); 500 for a value
 * outside the table. */
unsigned bd_status_http(bd_status s);

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
