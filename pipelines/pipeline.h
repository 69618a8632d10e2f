/* SPDX-License-Identifier: MIT */
/*
 * pipelines/pipeline.h — the per-pipeline JSON file: parse, validate, print.
 *
 * What it does
 *   One JSON file describes one inference pipeline: its name, end-to-end SLO, what to do with
 *   late requests, the scaling policy, the objective weights, and its stages, each with a batch
 *   limit, a core range (millicores), a replica range and one or more model variants (worker
 *   argv, environment, start-up time, latency profile). The format, every default and every
 *   limit are written up in pipelines/README.md; pipelines/schema/pipeline.schema.json says the
 *   same thing as a JSON Schema. This module turns the text into plain C structs, or into an
 *   error message naming the exact JSON path and what is accepted there, e.g.
 *     stages[1].variants[0].accuracy: expected a number in [0, 100], got "high"
 *
 * Invariants of a pl_pipeline returned by this module (callers may rely on them)
 *   - every name (pipeline, stage, variant) passes pl_validate_name(): it is safe as a cgroup
 *     directory name and as a file name; stage names are unique in the pipeline, variant names
 *     unique in their stage;
 *   - n_stages in [1, PL_MAX_STAGES]; every stage has n_variants in [1, PL_MAX_VARIANTS];
 *   - millicores_min <= millicores_max, both in [PL_MILLICORES_MIN, PL_MILLICORES_MAX], and
 *     millicores_step divides (millicores_max - millicores_min); replicas 1 <= min <= max;
 *     max_batch in [1, PL_MAX_BATCH];
 *   - argv is non-empty and NULL-terminated, env NULL-terminated ("KEY=VALUE" strings);
 *   - a model profile predicts a positive latency everywhere on the stage's (batch, millicores)
 *     grid; a points profile has >= PL_PROFILE_MIN_POINTS points that determine the model;
 *   - plan is NULL or holds exactly n_stages entries, each inside its stage's ranges.
 *
 * Threads and ownership
 *   No global state; every function is reentrant. A pl_pipeline owns all its memory (one
 *   malloc per string/array) and is immutable after parsing: it may be read from several
 *   threads at once. pl_pipeline_free() frees everything.
 *
 * Lifecycle / API walk-through
 *   _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
 *   char err[512];
 *   r = pl_load_file("/etc/sponged/pipelines.d/video.json", &p, err, sizeof err);
 *        (or pl_parse(buf, len, ...) on memory, or pl_from_json(json, ...) on a parsed body)
 *   if (r < 0) -> log err ("video.json: stages[0].max_batch: expected an integer in ...")
 *   p->stages[s].variants[v].argv ... -> execve
 *   json_t *j = pl_to_json(p);              canonical JSON with every default spelled out
 *   pl_check_plan(p, body, &entries, ...)   a hand-pinned plan (PUT .../plan), one per stage
 *   free(entries); (pipeline freed by the cleanup attribute)
 *
 * Errors: functions return 0 or a negative errno (-EINVAL: invalid content, -ENOMEM, or the
 * errno of a failed open/read); outputs go to ret_* parameters, which are left untouched on
 * failure. The error buffer (may be NULL / errlen 0) always gets a NUL-terminated message on
 * failure, truncated to errlen.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (all documented in pipelines/README.md). */
#define PL_NAME_MAX     32u /* [a-z0-9][a-z0-9_-]{0,31} */
#define PL_MAX_STAGES   16u
#define PL_MAX_VARIANTS 32u
#define PL_MAX_BATCH    1024u
/* cgroup v1 rejects cpu.cfs_quota_us below 1000 us; with the 100 ms default period that is
 * 10 millicores (Documentation/scheduler/sched-bwc.rst). cgroup v2 cpu.max has the same floor. */
#define PL_MILLICORES_MIN     10u
#define PL_MILLICORES_MAX     256000u /* 256 cores */
#define PL_MAX_REPLICAS       64u
#define PL_MAX_ARGS           256u  /* elements of "command" */
#define PL_MAX_ARG_LEN        4096u /* bytes per argv element / env value */
#define PL_MAX_ENV            64u
#define PL_PROFILE_MIN_POINTS 4u /* the latency model has four parameters */
#define PL_PROFILE_MAX_POINTS 4096u
#define PL_SLO_MS_MAX         3600000u /* one hour */
#define PL_STARTUP_MS_MAX     600000u  /* ten minutes */
#define PL_QUEUE_LIMIT_MAX    1000000u
#define PL_BODY_BYTES_MAX     (64u << 20)
#define PL_FILE_BYTES_MAX     (16u << 20) /* pl_load_file refuses larger files */
#define PL_MAX_TENSORS        16u         /* declared "inputs" / "outputs" each */
#define PL_TENSOR_MAX_DIMS    8u
#define PL_TENSOR_NAME_MAX    64u        /* [A-Za-z0-9_.:-]{1,64} */
#define PL_TENSOR_DIM_MAX     (1u << 30) /* a dimension: 1 .. this, or -1 (variable) */

/* Defaults for optional keys. */
#define PL_DEFAULT_QUEUE_LIMIT     1024u
#define PL_DEFAULT_MAX_BODY_BYTES  (1u << 20)
#define PL_DEFAULT_MAX_BATCH       16u
#define PL_DEFAULT_MILLICORES_MIN  250u
#define PL_DEFAULT_MILLICORES_MAX  2000u
#define PL_DEFAULT_MILLICORES_STEP 250u
#define PL_DEFAULT_REPLICAS_MIN    1u
#define PL_DEFAULT_REPLICAS_MAX    4u
#define PL_DEFAULT_MEMORY_MAX_MB   2048u /* fits a PyTorch worker with its model */
#define PL_DEFAULT_PIDS_MAX        256u
#define PL_MEMORY_MAX_MB_MIN       16u
#define PL_MEMORY_MAX_MB_MAX       1048576u
#define PL_PIDS_MAX_MIN            4u
#define PL_PIDS_MAX_MAX            65536u
#define PL_DEFAULT_STARTUP_MS      1000u
#define PL_DEFAULT_OBJ_ACCURACY    1.0  /* per accuracy point (0..100) */
#define PL_DEFAULT_OBJ_CORES       10.0 /* per core (1000 millicores) allocated */
#define PL_DEFAULT_OBJ_BATCH       0.01 /* per unit of batch size */
#define PL_DEFAULT_MARGIN          0.0

typedef enum pl_late {
        PL_LATE_DROP,  /* "drop": answer at once with an error (default) */
        PL_LATE_SERVE, /* "serve": serve best-effort and count it */
} pl_late;

typedef enum pl_resize {
        PL_RESIZE_IN_PLACE, /* "in_place": a cgroup write + set-threads, same process (default) */
        PL_RESIZE_RESTART,  /* "restart": a new worker with the new quota replaces the old one
                               (workers that cannot follow a quota change; VPA-like baseline) */
} pl_resize;

typedef enum pl_policy {
        PL_POLICY_FULL,       /* "full": variant, batch, cores, replicas (default) */
        PL_POLICY_VERTICAL,   /* "vertical": batch + cores; variant and replicas from the plan */
        PL_POLICY_HORIZONTAL, /* "horizontal": replicas; variant, batch, cores from the plan */
        PL_POLICY_STATIC,     /* "static": the plan, never changed ("plan" required) */
} pl_policy;

typedef enum pl_profile_kind {
        PL_PROFILE_MODEL,  /* fitted parameters */
        PL_PROFILE_POINTS, /* measured points, to be fitted by the consumer */
} pl_profile_kind;

/* l(b, c) = gamma*b/c + delta*b + epsilon/c + eta   [ms], c in cores (millicores / 1000).
 * The planner uses l * (1 + margin). */
typedef struct pl_model {
        double gamma;   /* ms*cores per item */
        double delta;   /* ms per item */
        double epsilon; /* ms*cores per batch */
        double eta;     /* ms per batch */
        double margin;  /* relative headroom, >= 0 */
} pl_model;

typedef struct pl_point {
        uint32_t batch;
        uint32_t millicores;
        double latency_ms;
} pl_point;

typedef struct pl_profile {
        pl_profile_kind kind;
        pl_model model;   /* kind == PL_PROFILE_MODEL (all zero otherwise) */
        pl_point *points; /* kind == PL_PROFILE_POINTS: n_points entries (owned), else NULL */
        size_t n_points;
} pl_profile;

typedef struct pl_variant {
        char *name;      /* owned */
        double accuracy; /* [0, 100]: top-1 %, mAP, ... — the pipeline's own scale */
        char **argv;     /* owned, argc entries + NULL */
        size_t argc;     /* >= 1 */
        char **env;      /* owned, "KEY=VALUE", n_env entries + NULL (never NULL itself) */
        size_t n_env;
        uint64_t startup_us; /* time from exec to "ready" (loading), planning estimate */
        pl_profile profile;
} pl_variant;

typedef struct pl_stage {
        char *name; /* owned */
        uint32_t max_batch;
        uint32_t millicores_min;
        uint32_t millicores_max;
        uint32_t millicores_step;
        uint32_t replicas_min;
        uint32_t replicas_max;
        uint32_t memory_max_mb; /* per replica: cgroup memory.max (v1 memory.limit_in_bytes) */
        uint32_t pids_max;      /* per replica: cgroup pids.max (tasks, threads included) */
        pl_variant *variants;   /* owned, n_variants entries */
        size_t n_variants;
} pl_stage;

/* One stage's configuration: which variant, batch size, cores per replica, replicas. */
typedef struct pl_plan_entry {
        size_t variant; /* index into pl_stage.variants */
        uint32_t batch;
        uint32_t millicores; /* per replica */
        uint32_t replicas;
} pl_plan_entry;

/* Tensor element types of the Open Inference Protocol (KServe V2 "Tensor Data Types"). */
typedef enum pl_datatype {
        PL_DT_BOOL,
        PL_DT_UINT8,
        PL_DT_UINT16,
        PL_DT_UINT32,
        PL_DT_UINT64,
        PL_DT_INT8,
        PL_DT_INT16,
        PL_DT_INT32,
        PL_DT_INT64,
        PL_DT_FP16,
        PL_DT_FP32,
        PL_DT_FP64,
        PL_DT_BYTES, /* variable size: each element is a byte string */
        PL_DT_COUNT_,
} pl_datatype;

/* A declared input or output tensor of the pipeline (what OIP metadata reports). */
typedef struct pl_tensor {
        char *name; /* owned; [A-Za-z0-9_.:-]{1,PL_TENSOR_NAME_MAX}, unique among its kind */
        pl_datatype datatype;
        int64_t shape[PL_TENSOR_MAX_DIMS]; /* each >= 1, or -1 for a variable dimension */
        size_t n_dims;                     /* [1, PL_TENSOR_MAX_DIMS] */
} pl_tensor;

typedef struct pl_objective {
        double accuracy; /* alpha: weight of accuracy points */
        double cores;    /* beta: weight of cores (n * c, in cores) */
        double batch;    /* delta: weight of batch size */
} pl_objective;

typedef struct pl_pipeline {
        char *name; /* owned */
        uint64_t slo_us;
        pl_late late;
        pl_resize resize;
        pl_policy policy;
        pl_objective objective;
        bool mix;             /* policy full: a stage may run two variants at once (default true) */
        uint32_t queue_limit; /* requests waiting in the pipeline before 429 */
        uint64_t max_body_bytes; /* largest request body accepted */
        pl_stage *stages;        /* owned, n_stages entries */
        size_t n_stages;
        pl_plan_entry *plan; /* owned, n_stages entries, or NULL when the file has no "plan" */
        /* Declared tensors (owned; NULL and 0 when the file declares none: the Open Inference
         * Protocol then takes one BYTES tensor and answers one). Outputs: every output but the
         * last has a fixed shape (no -1); the last has at most one -1. */
        pl_tensor *inputs;
        size_t n_inputs;
        pl_tensor *outputs;
        size_t n_outputs;
} pl_pipeline;

/* Parses and validates a pipeline from a memory buffer (need not be NUL-terminated).
 * Returns 0 and stores a new pipeline in *ret, or -EINVAL with err set to "<path>: <what is
 * wrong and what is accepted>" (JSON syntax errors: "<line>:<column>: <jansson's text>"),
 * or -ENOMEM. */
int pl_parse(const char *buf, size_t len, pl_pipeline **ret, char *err, size_t errlen);

/* As pl_parse() on an already parsed JSON value (borrowed; not modified). */
int pl_from_json(const json_t *root, pl_pipeline **ret, char *err, size_t errlen);

/* Reads and parses a file. err is prefixed with the path ("<path>: stages[0]...", or
 * "<path>:<line>:<column>: ..." for syntax errors). Returns 0, -EINVAL, -ENOMEM, -EFBIG
 * (larger than PL_FILE_BYTES_MAX) or the negative errno of open/read. */
int pl_load_file(const char *path, pl_pipeline **ret, char *err, size_t errlen);

/* Reads fd to its end into a new buffer (free() it), NUL-terminated, *ret_len bytes without
 * the NUL; EINTR is retried, fd is not closed. max < SIZE_MAX / 2. Returns 0, -EFBIG (more
 * than max bytes), -ENOMEM or the negative errno of read(). */
int pl_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* Frees a pipeline and everything it owns; NULL is fine. */
void pl_pipeline_free(pl_pipeline *p);

static inline void pl_pipeline_freep(pl_pipeline **p)
{
        pl_pipeline_free(*p);
        *p = NULL;
}
#define _cleanup_pl_pipeline_ __attribute__((cleanup(pl_pipeline_freep)))

/* Canonical JSON of a pipeline: every key present (defaults spelled out), keys in the
 * documented order. pl_from_json(pl_to_json(p)) yields an equal pipeline. Returns a new
 * reference, or NULL when out of memory. */
json_t *pl_to_json(const pl_pipeline *p);

/* 0 if name matches [a-z0-9][a-z0-9_-]{0,31}, else -EINVAL (NULL too). */
int pl_validate_name(const char *name);

/* Validates a plan for p: a JSON array with one object per stage, in stage order, each
 * {"variant": NAME, "batch": B, "millicores": C, "replicas": N} inside that stage's ranges
 * (all four keys required). On success stores a malloc'ed array of p->n_stages entries in *ret
 * (free() it). Error paths start with "plan" ("plan[1].millicores: ..."). Returns 0, -EINVAL
 * or -ENOMEM. */
int pl_check_plan(const pl_pipeline *p, const json_t *plan, pl_plan_entry **ret, char *err,
                  size_t errlen);

/* JSON array for a plan of p->n_stages entries (the format pl_check_plan() accepts). Returns a
 * new reference, or NULL when out of memory. */
json_t *pl_plan_to_json(const pl_pipeline *p, const pl_plan_entry *plan);

/* The plan the agent starts from: a copy of p->plan if the file has one, else per stage its
 * first variant, batch 1, millicores_max and replicas_min. Stores a malloc'ed array of
 * p->n_stages entries in *ret. Returns 0 or -ENOMEM. */
int pl_initial_plan(const pl_pipeline *p, pl_plan_entry **ret);

/* Index of the stage / variant with that name, or -ENOENT. */
int pl_find_stage(const pl_pipeline *p, const char *name);
int pl_find_variant(const pl_stage *s, const char *name);

/* Predicted latency in ms of a batch on millicores (> 0) by the model, margin included. */
double pl_model_latency_ms(const pl_model *m, uint32_t batch, uint32_t millicores);

/* "BOOL", "UINT8", ... "BYTES"; NULL for out-of-range values. */
const char *pl_datatype_to_string(pl_datatype t);
/* Returns 0 and stores the type, or -EINVAL for a name the protocol does not define. */
int pl_datatype_from_string(const char *s, pl_datatype *ret);
/* Bytes per element (BOOL 1, FP16 2, ...); 0 for BYTES (variable). */
size_t pl_datatype_size(pl_datatype t);

/* "drop"/"serve", "full"/"vertical"/"horizontal"/"static"; NULL for out-of-range values. */
const char *pl_late_to_string(pl_late late);
const char *pl_policy_to_string(pl_policy policy);
/* Returns 0 and stores the value, or -EINVAL for an unknown string. */
int pl_late_from_string(const char *s, pl_late *ret);
int pl_policy_from_string(const char *s, pl_policy *ret);
