/* SPDX-License-Identifier: MIT */
/*
 * pipelines/pipeline-internal.h — shared by the files of sponge_pipelines only (not installed,
 * not for other modules): the enum name tables (indexed by the pl_* enums), the text parser
 * that read.c and load.c share, and small helpers. Tables are constant; no state.
 */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

#include "pipelines/pipeline.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* JSON names of the enums, in enum order. */
extern const char *const pl__late_names[2];
extern const char *const pl__resize_names[2];
extern const char *const pl__policy_names[4];
extern const char *const pl__datatype_names[PL_DT_COUNT_];

/* Parses text; on a syntax error *syntax is set and err holds "<line>:<column>: <text>". */
int pl__parse_text(const char *buf, size_t len, pl_pipeline **ret, char *err, size_t errlen,
                   bool *syntax);
