/* SPDX-License-Identifier: MIT */
/*
 * Printing a pipeline: pl_to_json() (the canonical form, every default spelled out, keys in
 * the documented order) and pl_plan_to_json(). What is printed parses back to an equal
 * pipeline (round trip; doubles are dumped by jansson with 17 significant digits). Builders
 * record any allocation failure in *ok and the result is dropped once at the end.
 */
#include "pipelines/pipeline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipeline-internal.h"

/* Milliseconds from microseconds: an integer when whole, so canonical files stay tidy. */
static json_t *ms_json(uint64_t us)
{
        if (us % 1000 == 0)
                return json_integer((json_int_t)(us / 1000));
        return json_real((double)us / 1000.0);
}

/* json_object_set_new() that remembers failure, so builders can check once at the end. */
/* The _new setters take the value's reference even when they fail (NULL container included). */
static void set(json_t *obj, const char *key, json_t *v, bool *ok)
{
        if (json_object_set_new(obj, key, v) < 0)
                *ok = false;
}

static void append(json_t *arr, json_t *v, bool *ok)
{
        if (json_array_append_new(arr, v) < 0)
                *ok = false;
}

static json_t *profile_json(const pl_profile *prof, bool *ok)
{
        json_t *o = json_object();
        if (prof->kind == PL_PROFILE_MODEL) {
                json_t *m = json_object();
                set(m, "gamma", json_real(prof->model.gamma), ok);
                set(m, "delta", json_real(prof->model.delta), ok);
                set(m, "epsilon", json_real(prof->model.epsilon), ok);
                set(m, "eta", json_real(prof->model.eta), ok);
                set(m, "margin", json_real(prof->model.margin), ok);
                set(o, "model", m, ok);
        } else {
                json_t *pts = json_array();
                for (size_t i = 0; i < prof->n_points; i++)
                        append(pts,
                               json_pack("[I,I,f]", (json_int_t)prof->points[i].batch,
                                         (json_int_t)prof->points[i].millicores,
                                         prof->points[i].latency_ms),
                               ok);
                set(o, "points", pts, ok);
        }
        return o;
}

static json_t *variant_json(const pl_variant *v, bool *ok)
{
        json_t *o = json_object(), *argv = json_array(), *env = json_object();

        set(o, "name", json_string(v->name), ok);
        set(o, "accuracy", json_real(v->accuracy), ok);
        for (size_t i = 0; i < v->argc; i++)
                append(argv, json_string(v->argv[i]), ok);
        set(o, "command", argv, ok);
        for (size_t i = 0; i < v->n_env; i++) {
                const char *eq = strchr(v->env[i], '=');
                if (!eq) {
                        *ok = false;
                        continue;
                }
                _cleanup_free_ char *k = strndup(v->env[i], (size_t)(eq - v->env[i]));
                if (!k)
                        *ok = false;
                else
                        set(env, k, json_string(eq + 1), ok);
        }
        set(o, "env", env, ok);
        set(o, "startup_ms", ms_json(v->startup_us), ok);
        set(o, "profile", profile_json(&v->profile, ok), ok);
        return o;
}

static json_t *stage_json(const pl_stage *s, bool *ok)
{
        json_t *o = json_object(), *vars = json_array();

        set(o, "name", json_string(s->name), ok);
        set(o, "max_batch", json_integer(s->max_batch), ok);
        set(o, "millicores",
            json_pack("{s:I,s:I,s:I}", "min", (json_int_t)s->millicores_min, "max",
                      (json_int_t)s->millicores_max, "step", (json_int_t)s->millicores_step),
            ok);
        set(o, "replicas",
            json_pack("{s:I,s:I}", "min", (json_int_t)s->replicas_min, "max",
                      (json_int_t)s->replicas_max),
            ok);
        set(o, "memory_max_mb", json_integer(s->memory_max_mb), ok);
        set(o, "pids_max", json_integer(s->pids_max), ok);
        for (size_t i = 0; i < s->n_variants; i++)
                append(vars, variant_json(&s->variants[i], ok), ok);
        set(o, "variants", vars, ok);
        return o;
}

json_t *pl_plan_to_json(const pl_pipeline *p, const pl_plan_entry *plan)
{
        bool ok = true;
        json_t *a = json_array();

        for (size_t i = 0; p && plan && i < p->n_stages; i++) {
                const pl_stage *s = &p->stages[i];
                const char *vname =
                    plan[i].variant < s->n_variants ? s->variants[plan[i].variant].name : NULL;
                append(a,
                       vname ? json_pack("{s:s,s:I,s:I,s:I}", "variant", vname, "batch",
                                         (json_int_t)plan[i].batch, "millicores",
                                         (json_int_t)plan[i].millicores, "replicas",
                                         (json_int_t)plan[i].replicas)
                             : NULL,
                       &ok);
        }
        if (!ok) {
                json_decref(a);
                return NULL;
        }
        return a;
}

static json_t *tensors_json(const pl_tensor *t, size_t n, bool *ok)
{
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++) {
                json_t *shape = json_array();
                for (size_t d = 0; d < t[i].n_dims; d++)
                        append(shape, json_integer((json_int_t)t[i].shape[d]), ok);
                append(a,
                       json_pack("{s:s, s:s, s:o}", "name", t[i].name, "datatype",
                                 pl_datatype_to_string(t[i].datatype), "shape", shape),
                       ok);
        }
        if (!a)
                *ok = false;
        return a;
}

json_t *pl_to_json(const pl_pipeline *p)
{
        bool ok = true;
        json_t *o = json_object(), *stages = json_array();

        if (!p) {
                json_decref(o);
                json_decref(stages);
                return NULL;
        }
        set(o, "name", json_string(p->name), &ok);
        set(o, "slo_ms", ms_json(p->slo_us), &ok);
        set(o, "late", json_string(pl_late_to_string(p->late)), &ok);
        set(o, "resize", json_string(pl__resize_names[p->resize]), &ok);
        set(o, "policy", json_string(pl_policy_to_string(p->policy)), &ok);
        set(o, "objective",
            json_pack("{s:f,s:f,s:f}", "accuracy", p->objective.accuracy, "cores",
                      p->objective.cores, "batch", p->objective.batch),
            &ok);
        set(o, "queue_limit", json_integer(p->queue_limit), &ok);
        if (!p->mix)
                set(o, "mix", json_false(), &ok);
        set(o, "max_body_bytes", json_integer((json_int_t)p->max_body_bytes), &ok);
        for (size_t i = 0; i < p->n_stages; i++)
                append(stages, stage_json(&p->stages[i], &ok), &ok);
        set(o, "stages", stages, &ok);
        if (p->plan)
                set(o, "plan", pl_plan_to_json(p, p->plan), &ok);
        if (p->n_inputs)
                set(o, "inputs", tensors_json(p->inputs, p->n_inputs, &ok), &ok);
        if (p->n_outputs)
                set(o, "outputs", tensors_json(p->outputs, p->n_outputs, &ok), &ok);
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}
