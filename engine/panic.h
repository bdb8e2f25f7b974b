/* panic.h - assertions for bugs, always on.
 *
 * A broken invariant (a refcount released past zero, an index the caller
 * guaranteed) is a bug, not a runtime failure: it has no bd_status and no
 * client can cause it. BD_ASSERT and bd_panic print "file:line: message"
 * on stderr and abort, as Redis's serverPanic does, so the bug stops
 * where it happened instead of turning into corruption. Unlike assert(3)
 * they are not compiled out by NDEBUG: a Release build checks them too.
 * Runtime failures return a status from BD_STATUS_MAP instead. */
#ifndef BD_PANIC_H
#define BD_PANIC_H

/* Prints "blockd: panic at file:line: <message>" on stderr and aborts.
 * Use through bd_panic / BD_ASSERT, which fill in file and line. */
_Noreturn void bd_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bd_panic(...) bd_panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* Panics with msg and the failed condition's text unless cond holds. */
#define BD_ASSERT(cond, msg)                                              \
  ((cond) ? (void)0                                                       \
          : bd_panic_at(__FILE__, __LINE__, "%s (assertion '%s' failed)", \
                        (msg), #cond))

#endif
