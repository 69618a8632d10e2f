/* log.h — the agent's logging: one line per event on stderr, prefixed with the syslog priority
 * (`<3>` error ... `<7>` debug) so journald files it at the right level. Only the agent logs;
 * modules return error codes and the layer that decides logs once, with context.
 *
 * log_*_errno(r, ...) set errno = -r for %m and return r, so `return log_error_errno(r, ...)`
 * reports and propagates in one line.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>

enum {
        LOG_LEVEL_ERR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7
};

void log_set_max_level(int level);
int log_get_max_level(void);
int log_emit(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...)   log_emit(LOG_LEVEL_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_notice(...)  log_emit(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)

#define log_error_errno(r, ...)   log_emit(LOG_LEVEL_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_emit(LOG_LEVEL_WARNING, (r), __VA_ARGS__)
