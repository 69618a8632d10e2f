/* SPDX-License-Identifier: MIT */
/*
 * The small parts of pipelines/pipeline.h that neither read nor print a file: the enum names
 * and their conversions, name checks and look-ups, the latency model, tensor datatypes,
 * pl_initial_plan() and freeing. Pure functions over constant tables; no state.
 */
#include "pipelines/pipeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/jsoncheck.h"
#include "pipelines/pipeline-internal.h"

/* --- enums ---------------------------------------------------------------------------------- */

const char *const pl__late_names[2] = {
    [PL_LATE_DROP] = "drop",
    [PL_LATE_SERVE] = "serve",
};
const char *const pl__resize_names[2] = {"in_place", "restart"};

const char *const pl__policy_names[4] = {
    [PL_POLICY_FULL] = "full",
    [PL_POLICY_VERTICAL] = "vertical",
    [PL_POLICY_HORIZONTAL] = "horizontal",
    [PL_POLICY_STATIC] = "static",
};

const char *pl_late_to_string(pl_late late)
{
        return (unsigned)late < ELEMENTSOF(pl__late_names) ? pl__late_names[late] : NULL;
}

const char *pl_policy_to_string(pl_policy policy)
{
        return (unsigned)policy < ELEMENTSOF(pl__policy_names) ? pl__policy_names[policy] : NULL;
}

int pl_late_from_string(const char *s, pl_late *ret)
{
        int i = jc_enum_from(pl__late_names, ELEMENTSOF(pl__late_names), s);
        if (i < 0)
                return i;
        *ret = (pl_late)i;
        return 0;
}

int pl_policy_from_string(const char *s, pl_policy *ret)
{
        int i = jc_enum_from(pl__policy_names, ELEMENTSOF(pl__policy_names), s);
        if (i < 0)
                return i;
        *ret = (pl_policy)i;
        return 0;
}

/* --- small public helpers ------------------------------------------------------------------- */

int pl_validate_name(const char *name)
{
        if (!name || !*name)
                return -EINVAL;
        size_t n = 0;
        for (const char *p = name; *p; p++, n++) {
                bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
                if (!alnum && (p == name || (*p != '_' && *p != '-')))
                        return -EINVAL;
        }
        return n <= PL_NAME_MAX ? 0 : -EINVAL;
}

int pl_find_stage(const pl_pipeline *p, const char *name)
{
        for (size_t i = 0; p && name && i < p->n_stages; i++)
                if (strcmp(p->stages[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

int pl_find_variant(const pl_stage *s, const char *name)
{
        for (size_t i = 0; s && name && i < s->n_variants; i++)
                if (strcmp(s->variants[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

double pl_model_latency_ms(const pl_model *m, uint32_t batch, uint32_t millicores)
{
        double b = batch, cores = millicores / 1000.0;
        double l = m->gamma * b / cores + m->delta * b + m->epsilon / cores + m->eta;
        return l * (1.0 + m->margin);
}

/* --- declared tensors (Open Inference Protocol metadata) ------------------------------------ */

const char *const pl__datatype_names[PL_DT_COUNT_] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                                      "INT8", "INT16", "INT32",  "INT64",  "FP16",
                                                      "FP32", "FP64",  "BYTES"};
static const size_t DATATYPE_SIZES[PL_DT_COUNT_] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0};

const char *pl_datatype_to_string(pl_datatype t)
{
        return (unsigned)t < ELEMENTSOF(pl__datatype_names) ? pl__datatype_names[t] : NULL;
}

int pl_datatype_from_string(const char *s, pl_datatype *ret)
{
        int i = s ? jc_enum_from(pl__datatype_names, ELEMENTSOF(pl__datatype_names), s) : -EINVAL;
        if (i < 0)
                return -EINVAL;
        *ret = (pl_datatype)i;
        return 0;
}

size_t pl_datatype_size(pl_datatype t)
{
        return (unsigned)t < ELEMENTSOF(DATATYPE_SIZES) ? DATATYPE_SIZES[t] : 0;
}

/* --- plan ----------------------------------------------------------------------------------- */

int pl_initial_plan(const pl_pipeline *p, pl_plan_entry **ret)
{
        pl_plan_entry *plan = calloc(p->n_stages ? p->n_stages : 1, sizeof(pl_plan_entry));
        if (!plan)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_stages; i++) {
                if (p->plan) {
                        plan[i] = p->plan[i];
                        continue;
                }
                plan[i] = (pl_plan_entry){
                    .variant = 0,
                    .batch = 1,
                    .millicores = p->stages[i].millicores_max,
                    .replicas = p->stages[i].replicas_min,
                };
        }
        *ret = plan;
        return 0;
}

/* --- freeing -------------------------------------------------------------------------------- */

static void tensors_free(pl_tensor *t, size_t n)
{
        for (size_t i = 0; t && i < n; i++)
                free(t[i].name);
        free(t);
}

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void variant_done(pl_variant *v)
{
        free(v->name);
        strv_free(v->argv);
        strv_free(v->env);
        free(v->profile.points);
}

static void stage_done(pl_stage *s)
{
        free(s->name);
        for (size_t i = 0; s->variants && i < s->n_variants; i++)
                variant_done(&s->variants[i]);
        free(s->variants);
}

void pl_pipeline_free(pl_pipeline *p)
{
        if (!p)
                return;
        free(p->name);
        for (size_t i = 0; p->stages && i < p->n_stages; i++)
                stage_done(&p->stages[i]);
        free(p->stages);
        free(p->plan);
        tensors_free(p->inputs, p->n_inputs);
        tensors_free(p->outputs, p->n_outputs);
        free(p);
}
