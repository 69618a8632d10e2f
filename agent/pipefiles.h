/* pipefiles.h — the files of the pipelines directory that the API writes and removes: a
 * pipeline's own file (the path it was loaded from or first persisted to) and, beside it, the
 * plan pinned by hand ("FILE.plan", the JSON array PUT /v1/pipelines/P/plan takes), so that a
 * pin survives a restart without touching the pipeline format.
 * Invariants: every write is atomic (write_file_atomic: O_EXCL|O_NOFOLLOW temp file, fsync,
 * rename, directory fsync); a failure leaves the files as they were and is returned, never
 * only logged. Temp files of a crashed run ("*.json.tmp.*", "*.json.plan.tmp.*") are removed at
 * start. Loop thread only.
 */
#pragma once

#include <stddef.h>

#include "agent/forward.h"
#include "pipelines/pipeline.h"

#define PIN_SUFFIX ".plan"

/* Writes cfg as JSON to path. Returns 0 or -errno. */
int pipefile_write(const char *path, const pl_pipeline *cfg);
/* Removes p's file and its pin file. Returns 0, or -errno with nothing removed when the
 * pipeline's file cannot be removed. */
int pipefile_remove(const Pipeline *p);
/* Persists plan (p->cfg->n_stages entries) as p's pin. Returns 0 or -errno (nothing written). */
int pin_save(const Pipeline *p, const pl_plan_entry *plan);
/* Removes p's pin file. Returns 0 (also when there was none) or -errno. */
int pin_forget(const Pipeline *p);
/* Pins the plan saved beside p's file, if there is one and it still fits p. */
void pin_restore(Pipeline *p);
/* Removes temp files a previous run left in dir; returns how many, or -errno. */
int pipefiles_remove_stale(const char *dir);
