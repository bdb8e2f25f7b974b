/* log.h - leveled logging to stderr, one line per event. */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include "config.h"

void srv_log_set_level(srv_log_level l);
srv_log_level srv_log_get_level(void);
void srv_log(srv_log_level l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
