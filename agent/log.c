/* log.c — see log.h. */
#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int max_level = LOG_LEVEL_INFO;

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

int log_emit(int level, int error, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        int saved = errno;

        if (level > max_level)
                return error;
        if (error != 0)
                errno = abs(error);
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "<%d>%s\n", level, line);
        errno = saved;
        return error;
}
