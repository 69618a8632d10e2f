/* fuzz-pipeline.c — libFuzzer target for the pipeline file parser (pipelines/read.c).
 *
 * The input is a pipeline file's bytes, given to pl_parse() as the agent gives it a PUT body.
 * Checked, beyond ASan/UBSan/LeakSanitizer: the contract of pipeline.h — an error comes with a
 * message and leaves *ret untouched; an accepted pipeline keeps the documented invariants
 * (names valid, counts and ranges, positive finite model latency at the grid's corners), and
 * its canonical JSON parses again to the same canonical JSON; its initial plan passes
 * pl_check_plan().
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_stage(const pl_stage *s)
{
        assert(pl_validate_name(s->name) == 0);
        assert(s->max_batch >= 1 && s->max_batch <= PL_MAX_BATCH);
        assert(s->millicores_min >= PL_MILLICORES_MIN && s->millicores_min <= s->millicores_max);
        assert(s->millicores_max <= PL_MILLICORES_MAX);
        assert(s->millicores_step >= 1 &&
               (s->millicores_max - s->millicores_min) % s->millicores_step == 0);
        assert(s->replicas_min >= 1 && s->replicas_min <= s->replicas_max);
        assert(s->n_variants >= 1 && s->n_variants <= PL_MAX_VARIANTS);
        for (size_t v = 0; v < s->n_variants; v++) {
                const pl_variant *var = &s->variants[v];

                assert(pl_validate_name(var->name) == 0);
                assert(pl_find_variant(s, var->name) == (int)v);
                assert(var->argc >= 1 && var->argv[var->argc] == NULL && var->argv[0]);
                assert(var->env && var->env[var->n_env] == NULL);
                if (var->profile.kind != PL_PROFILE_MODEL)
                        continue;
                for (int i = 0; i < 4; i++) {
                        uint32_t b = i & 1 ? s->max_batch : 1;
                        uint32_t c = i & 2 ? s->millicores_max : s->millicores_min;
                        double l = pl_model_latency_ms(&var->profile.model, b, c);

                        assert(isfinite(l) && l > 0);
                }
        }
}

static void check_pipeline(const pl_pipeline *p)
{
        pl_pipeline *q = NULL;
        pl_plan_entry *plan = NULL, *checked = NULL;
        json_t *j, *k, *pj;
        char err[512];

        assert(pl_validate_name(p->name) == 0);
        assert(p->n_stages >= 1 && p->n_stages <= PL_MAX_STAGES);
        for (size_t s = 0; s < p->n_stages; s++) {
                check_stage(&p->stages[s]);
                assert(pl_find_stage(p, p->stages[s].name) == (int)s);
        }

        /* pl_from_json(pl_to_json(p)) yields an equal pipeline. */
        j = pl_to_json(p);
        assert(j);
        err[0] = '\0';
        if (pl_from_json(j, &q, err, sizeof(err)) != 0) {
                char *text = json_dumps(j, JSON_COMPACT);
                fprintf(stderr, "canonical JSON refused: %s\n%s\n", err, text ? text : "");
                abort();
        }
        k = pl_to_json(q);
        assert(k && json_equal(j, k));
        json_decref(k);
        json_decref(j);
        pl_pipeline_free(q);

        assert(pl_initial_plan(p, &plan) == 0);
        pj = pl_plan_to_json(p, plan);
        assert(pj);
        if (pl_check_plan(p, pj, &checked, err, sizeof(err)) != 0) {
                fprintf(stderr, "initial plan refused: %s\n", err);
                abort();
        }
        for (size_t s = 0; s < p->n_stages; s++)
                assert(plan[s].variant == checked[s].variant && plan[s].batch == checked[s].batch &&
                       plan[s].millicores == checked[s].millicores &&
                       plan[s].replicas == checked[s].replicas);
        json_decref(pj);
        free(checked);
        free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        pl_pipeline *p = (pl_pipeline *)(uintptr_t)0x1;
        char err[512];
        int r;

        err[0] = '\0';
        r = pl_parse((const char *)data, size, &p, err, sizeof(err));
        if (r < 0) {
                assert(r == -EINVAL || r == -ENOMEM);
                assert(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
                assert(p == (pl_pipeline *)(uintptr_t)0x1);
                return 0;
        }
        assert(r == 0 && p);
        check_pipeline(p);
        pl_pipeline_free(p);
        return 0;
}
