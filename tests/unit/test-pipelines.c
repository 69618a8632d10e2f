/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of pipelines/: the per-pipeline JSON format.
 *
 * - every file in pipelines/examples/ is accepted and round-trips through pl_to_json();
 * - every file in tests/unit/pipelines-bad/ is rejected with the path and message listed in
 *   BAD_FILES below (and the list and the folder must match one to one);
 * - a mutation sweep: every value of a valid pipeline, replaced by null, is reported at exactly
 *   its own path; every object, given an unknown key, is reported at that key;
 * - defaults, names, plans, points profiles, error-buffer handling, outputs untouched on error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipeline.h"

#ifndef SPONGE_SOURCE_DIR_DEFAULT
#define SPONGE_SOURCE_DIR_DEFAULT "."
#endif

static const char *source_dir(void)
{
        const char *d = getenv("SPONGE_SOURCE_DIR");
        return d && *d ? d : SPONGE_SOURCE_DIR_DEFAULT;
}

/* Each bad file and the text its error must contain, right after "<file>: " (or "<file>:"
 * for JSON syntax errors, which carry line:column). */
static const struct {
        const char *file;
        const char *expect;
} BAD_FILES[] = {
    {"accuracy-over-100", "stages[0].variants[0].accuracy: expected a number in [0, 100], got 101"},
    {"accuracy-string",
     "stages[1].variants[0].accuracy: expected a number in [0, 100], got \"high\""},
    {"batch-fraction", "stages[0].max_batch: expected an integer in [1, 1024], got 2.5"},
    {"batch-too-large", "stages[1].max_batch: expected an integer in [1, 1024], got 2048"},
    {"batch-zero", "stages[0].max_batch: expected an integer in [1, 1024], got 0"},
    {"command-empty-program", "stages[0].variants[0].command[0]: expected the program to run"},
    {"command-empty", "stages[0].variants[1].command: expected an argv array of 1 to 256 strings"},
    {"command-number-element", "stages[1].variants[0].command[2]: expected a string, got 0.45"},
    {"command-shell-string", "stages[0].variants[0].command: expected an argv array such as"},
    {"duplicate-stage-name", "stages[1].name: duplicate stage name \"detect\" (also stages[0])"},
    {"duplicate-variant-name", "stages[1].variants[1].name: duplicate variant name \"resnet18\""},
    {"env-bad-name", "stages[1].variants[0].env[\"MY-VAR\"]: expected a variable name"},
    {"env-number-value", "stages[0].variants[0].env.THREADS: expected a string, got 4"},
    {"env-reserved-name",
     "stages[0].variants[0].env.SPONGE_SOCKET: names starting with SPONGE_ are reserved"},
    {"late-bad-enum", "late: expected \"drop\" or \"serve\", got \"retry\""},
    {"resize-bad-enum", "resize: expected \"in_place\" or \"restart\", got \"live\""},
    {"margin-negative",
     "stages[0].variants[0].profile.model.margin: expected a number in [0, 10], got -0.1"},
    {"millicores-min-gt-max",
     "stages[0].millicores.max: must not be less than min (2000), got 1000"},
    {"millicores-missing-step", "stages[0].millicores.step: missing required key"},
    {"millicores-step-not-dividing",
     "stages[1].millicores.step: must divide max - min (1750), got 500"},
    {"millicores-too-large",
     "stages[0].millicores.max: expected an integer in [10, 256000], got 300000"},
    {"millicores-too-small",
     "stages[0].millicores.min: expected an integer in [10, 256000], got 5"},
    {"name-missing", "name: missing required key"},
    {"name-path-traversal", "stages[0].variants[1].name: expected a name matching "
                            "[a-z0-9][a-z0-9_-]{0,31}, got \"../etc\""},
    {"name-too-long", "stages[0].name: expected a name matching"},
    {"name-uppercase", "name: expected a name matching [a-z0-9][a-z0-9_-]{0,31}, got \"Video\""},
    {"objective-negative", "objective.cores: expected a number in [0, 1000000], got -1"},
    {"plan-batch-over-stage-limit", "plan[1].batch: expected an integer in [1, 16], got 32"},
    {"plan-millicores-off-step",
     "plan[0].millicores: expected a value on the stage's grid 250 + k*250 (up to 2000), got 300"},
    {"plan-missing-for-static", "plan: missing required key: needed when policy is \"static\""},
    {"plan-replicas-over-range", "plan[1].replicas: expected an integer in [1, 2], got 3"},
    {"plan-unknown-variant",
     "plan[0].variant: expected a variant of stage \"detect\" (yolov5n, yolov5s), got \"yolov9\""},
    {"plan-wrong-length", "plan: expected an array of 2 entries (one per stage, in order)"},
    {"policy-bad-enum",
     "policy: expected \"full\", \"vertical\", \"horizontal\" or \"static\", got \"auto\""},
    {"profile-both", "stages[0].variants[1].profile: expected exactly one of \"model\""},
    {"profile-missing", "stages[1].variants[1].profile: missing required key"},
    {"profile-model-missing-eta", "stages[0].variants[0].profile.model.eta: missing required key"},
    {"profile-model-negative-latency",
     "stages[0].variants[1].profile.model: predicts -4.15 ms for batch 1 on 2000 millicores"},
    {"profile-neither", "stages[0].variants[0].profile: expected exactly one of \"model\" (fitted "
                        "parameters) or \"points\" (measurements), got neither"},
    {"profile-point-latency-zero",
     "stages[1].variants[1].profile.points[3][2]: expected a number in (0, 3600000], got 0"},
    {"profile-point-shape",
     "stages[1].variants[1].profile.points[2]: expected [batch, millicores, latency_ms]"},
    {"profile-points-one-core-limit",
     "stages[1].variants[0].profile.points: these points do not determine the latency model"},
    {"profile-too-few-points",
     "stages[1].variants[0].profile.points: expected between 4 and 4096 points"},
    {"queue-limit-zero", "queue_limit: expected an integer in [1, 1000000], got 0"},
    {"replicas-min-gt-max", "stages[1].replicas.max: must not be less than min (3), got 2"},
    {"replicas-zero", "stages[0].replicas.min: expected an integer in [1, 64], got 0"},
    {"root-array", "(root): expected an object, got an array"},
    {"slo-missing", "slo_ms: missing required key"},
    {"slo-negative", "slo_ms: expected a number in [1, 3600000], got -5"},
    {"slo-zero", "slo_ms: expected a number in [1, 3600000], got 0"},
    {"stages-empty", "stages: expected an array of 1 to 16 stages, got []"},
    {"stages-missing", "stages: missing required key"},
    {"startup-negative",
     "stages[1].variants[0].startup_ms: expected a number in [0, 600000], got -1"},
    {"syntax-duplicate-key", "3:8: invalid JSON: duplicate object key"},
    {"syntax-empty", "1:0: invalid JSON: "},
    {"syntax-missing-comma", "4:10: invalid JSON: "},
    {"syntax-trailing-garbage", "47:1: invalid JSON: end of file expected"},
    {"tensor-datatype-unknown", "inputs[0].datatype: expected \"BOOL\", \"UINT8\""},
    {"tensor-duplicate-name", "inputs[1].name: duplicate tensor name \"a\" (also [0])"},
    {"tensor-name-invalid",
     "outputs[0].name: expected 1 to 64 characters of [A-Za-z0-9_.:-], got \"a b\""},
    {"tensor-output-variable-not-last",
     "outputs[0]: only the last output may have a variable (-1) dimension"},
    {"tensor-shape-zero",
     "inputs[0].shape[1]: expected an integer in [1, 1073741824] or -1 (variable), got 0"},
    {"unknown-key-model", "stages[1].variants[1].profile.model.zeta: unknown key (accepted here: "
                          "gamma, delta, epsilon, eta, margin)"},
    {"unknown-key-root", "slo: unknown key (accepted here: name, slo_ms, "},
    {"unknown-key-stage", "stages[1].batch: unknown key (accepted here: name, max_batch, "
                          "millicores, replicas, memory_max_mb, pids_max, variants)"},
    {"unknown-key-variant", "stages[0].variants[1].args: unknown key"},
    {"variant-not-object", "stages[0].variants[0]: expected an object, got \"yolov5n\""},
    {"variants-empty", "stages[1].variants: expected an array of 1 to 32 variants, got []"},
};
#define N_BAD (sizeof(BAD_FILES) / sizeof(BAD_FILES[0]))

/* A small valid pipeline used by the literal-string tests (only required keys). */
static const char MINIMAL[] =
    "{\"name\": \"mini\", \"slo_ms\": 250, \"stages\": [{\"name\": \"only\", \"variants\": ["
    "{\"name\": \"v1\", \"accuracy\": 70, \"command\": [\"/bin/true\"],"
    " \"profile\": {\"model\": {\"gamma\": 5, \"delta\": 0.1, \"epsilon\": 1, \"eta\": 2}}},"
    "{\"name\": \"v2\", \"accuracy\": 80.5, \"command\": [\"/bin/true\", \"--big\"],"
    " \"env\": {\"A\": \"1\", \"B_2\": \"x=y\"}, \"startup_ms\": 2.5,"
    " \"profile\": {\"points\": [[1, 500, 10], [4, 500, 31], [1, 1000, 6], [4, 1000, 16.5]]}}"
    "]}]}";

static int parse_str(const char *s, pl_pipeline **ret, char *err, size_t errlen)
{
        return pl_parse(s, strlen(s), ret, err, errlen);
}

static void assert_roundtrip(const pl_pipeline *p)
{
        json_t *j = pl_to_json(p);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_INDENT(2));
        assert_non_null(text);
        pl_pipeline *q = NULL;
        char err[512] = "";
        int r = parse_str(text, &q, err, sizeof(err));
        if (r < 0)
                print_error("round trip failed: %s\n%s\n", err, text);
        assert_int_equal(r, 0);
        json_t *j2 = pl_to_json(q);
        assert_non_null(j2);
        assert_true(json_equal(j, j2));
        json_decref(j2);
        json_decref(j);
        free(text);
        pl_pipeline_free(q);
}

static void test_examples(void **state)
{
        char dir[4096];
        int n = snprintf(dir, sizeof(dir), "%s/pipelines/examples", source_dir());
        assert_true(n > 0 && (size_t)n < sizeof(dir));
        DIR *d = opendir(dir);
        if (!d)
                fail_msg("cannot open %s", dir);
        size_t count = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                char path[8192], err[1024] = "";
                assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
                            sizeof(path));
                _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
                int r = pl_load_file(path, &p, err, sizeof(err));
                if (r < 0)
                        fail_msg("example rejected: %s", err);
                assert_roundtrip(p);
                /* The file name is the pipeline's name. */
                assert_int_equal(strlen(p->name), len - 5);
                assert_memory_equal(p->name, de->d_name, len - 5);
                count++;

                if (strcmp(p->name, "video") == 0) {
                        assert_int_equal(p->n_stages, 2);
                        assert_string_equal(p->stages[0].name, "detect");
                        assert_string_equal(p->stages[1].name, "classify");
                        assert_int_equal(p->stages[0].n_variants, 5);
                        assert_int_equal(p->stages[1].n_variants, 5);
                        assert_string_equal(p->stages[1].variants[2].name, "resnet50");
                        assert_true(p->stages[1].variants[2].accuracy == 76.1);
                        assert_string_equal(p->stages[0].variants[0].argv[0],
                                            "sponge-worker-flops");
                        assert_null(p->stages[0].variants[0].argv[p->stages[0].variants[0].argc]);
                } else if (strcmp(p->name, "fmnist") == 0) {
                        assert_int_equal(p->n_stages, 1);
                        assert_true(p->stages[0].n_variants >= 3);
                } else if (strcmp(p->name, "three-stage") == 0) {
                        assert_int_equal(p->n_stages, 3);
                        assert_non_null(p->plan);
                }
        }
        closedir(d);
        assert_true(count >= 3);
}

static void test_bad_files(void **state)
{
        char dir[4096];
        int n = snprintf(dir, sizeof(dir), "%s/tests/unit/pipelines-bad", source_dir());
        assert_true(n > 0 && (size_t)n < sizeof(dir));
        assert_true(N_BAD >= 30);

        for (size_t i = 0; i < N_BAD; i++) {
                char path[8192], err[1024] = "", want[8192 + 600];
                assert_true((size_t)snprintf(path, sizeof(path), "%s/%s.json", dir,
                                             BAD_FILES[i].file) < sizeof(path));
                bool syntax = strncmp(BAD_FILES[i].file, "syntax-", 7) == 0;
                assert_true((size_t)snprintf(want, sizeof(want), "%s:%s%s", path, syntax ? "" : " ",
                                             BAD_FILES[i].expect) < sizeof(want));
                pl_pipeline *p = (pl_pipeline *)0x1; /* must stay untouched */
                int r = pl_load_file(path, &p, err, sizeof(err));
                if (r != -EINVAL || strncmp(err, want, strlen(want)) != 0)
                        fail_msg("%s: r=%d\n  got:  %s\n  want: %s...", BAD_FILES[i].file, r, err,
                                 want);
                assert_ptr_equal(p, (pl_pipeline *)0x1);
        }

        /* The folder and the table match one to one. */
        DIR *d = opendir(dir);
        if (!d)
                fail_msg("cannot open %s", dir);
        size_t files = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.')
                        continue;
                bool listed = false;
                for (size_t i = 0; i < N_BAD; i++)
                        if (len == strlen(BAD_FILES[i].file) + 5 &&
                            strncmp(de->d_name, BAD_FILES[i].file, len - 5) == 0 &&
                            strcmp(de->d_name + len - 5, ".json") == 0)
                                listed = true;
                if (!listed)
                        fail_msg("%s/%s has no expected error in BAD_FILES", dir, de->d_name);
                files++;
        }
        closedir(d);
        assert_int_equal(files, N_BAD);
}

/* Builds the path of a child the way the parser prints it. */
static void child_path(char *out, size_t len, const char *parent, const char *key, size_t idx)
{
        int n;
        if (key)
                n = snprintf(out, len, "%s%s%s", parent, *parent ? "." : "", key);
        else
                n = snprintf(out, len, "%s[%zu]", parent, idx);
        assert_true(n > 0 && (size_t)n < len);
}

static void expect_error_at(json_t *root, const char *path, const char *what)
{
        char err[1024] = "", want[600];
        pl_pipeline *p = NULL;
        int r = pl_from_json(root, &p, err, sizeof(err));
        assert_true((size_t)snprintf(want, sizeof(want), "%s: ", path) < sizeof(want));
        if (r != -EINVAL || strncmp(err, want, strlen(want)) != 0)
                fail_msg("%s at %s: r=%d, got \"%s\"", what, path, r, err);
        assert_null(p);
}

/* Replaces every value under node (in the document root) by null, and adds an unknown key to
 * every object; each time the error must name exactly that path. */
static void sweep(json_t *root, json_t *node, const char *path, size_t *checks)
{
        char sub[512];
        if (json_is_object(node)) {
                const char *key;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(node, tmp, key, v)
                {
                        child_path(sub, sizeof(sub), path, key, 0);
                        json_incref(v);
                        assert_int_equal(json_object_set(node, key, json_null()), 0);
                        expect_error_at(root, sub, "null value");
                        assert_int_equal(json_object_set_new(node, key, v), 0);
                        sweep(root, v, sub, checks);
                        (*checks)++;
                }
                /* "env" accepts any variable name: there an unknown key is a variable. */
                const char *tail = strrchr(path, '.');
                if (!tail || strcmp(tail, ".env") != 0) {
                        child_path(sub, sizeof(sub), path, "bogus", 0);
                        assert_int_equal(json_object_set_new(node, "bogus", json_true()), 0);
                        expect_error_at(root, sub, "unknown key");
                        assert_int_equal(json_object_del(node, "bogus"), 0);
                        (*checks)++;
                }
        } else if (json_is_array(node)) {
                for (size_t i = 0; i < json_array_size(node); i++) {
                        json_t *v = json_incref(json_array_get(node, i));
                        child_path(sub, sizeof(sub), path, NULL, i);
                        assert_int_equal(json_array_set(node, i, json_null()), 0);
                        expect_error_at(root, sub, "null element");
                        assert_int_equal(json_array_set_new(node, i, v), 0);
                        sweep(root, v, sub, checks);
                        (*checks)++;
                }
        }
}

static void test_mutation_sweep(void **state)
{
        static const char *const files[] = {"three-stage", "fmnist"};
        for (size_t f = 0; f < 2; f++) {
                char path[4096], err[1024] = "";
                assert_true((size_t)snprintf(path, sizeof(path), "%s/pipelines/examples/%s.json",
                                             source_dir(), files[f]) < sizeof(path));
                _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
                assert_int_equal(pl_load_file(path, &p, err, sizeof(err)), 0);
                json_t *root = pl_to_json(p);
                assert_non_null(root);
                size_t checks = 0;
                sweep(root, root, "", &checks);
                /* Still valid after all the restoring. */
                _cleanup_pl_pipeline_ pl_pipeline *q = NULL;
                assert_int_equal(pl_from_json(root, &q, err, sizeof(err)), 0);
                assert_true(checks > 50);
                json_decref(root);
        }
        /* The points form too. */
        json_error_t jerr;
        json_t *root = json_loads(MINIMAL, 0, &jerr);
        assert_non_null(root);
        size_t checks = 0;
        sweep(root, root, "", &checks);
        assert_true(checks > 30);
        json_decref(root);
}

static void test_defaults(void **state)
{
        char err[512] = "";
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        int r = parse_str(MINIMAL, &p, err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        assert_string_equal(p->name, "mini");
        assert_int_equal(p->slo_us, 250000);
        assert_int_equal(p->late, PL_LATE_DROP);
        assert_int_equal(p->policy, PL_POLICY_FULL);
        assert_true(p->objective.accuracy == PL_DEFAULT_OBJ_ACCURACY);
        assert_true(p->objective.cores == PL_DEFAULT_OBJ_CORES);
        assert_true(p->objective.batch == PL_DEFAULT_OBJ_BATCH);
        assert_int_equal(p->queue_limit, PL_DEFAULT_QUEUE_LIMIT);
        assert_int_equal(p->max_body_bytes, PL_DEFAULT_MAX_BODY_BYTES);
        assert_null(p->plan);
        const pl_stage *s = &p->stages[0];
        assert_int_equal(s->max_batch, PL_DEFAULT_MAX_BATCH);
        assert_int_equal(s->millicores_min, PL_DEFAULT_MILLICORES_MIN);
        assert_int_equal(s->millicores_max, PL_DEFAULT_MILLICORES_MAX);
        assert_int_equal(s->millicores_step, PL_DEFAULT_MILLICORES_STEP);
        assert_int_equal(s->replicas_min, PL_DEFAULT_REPLICAS_MIN);
        assert_int_equal(s->replicas_max, PL_DEFAULT_REPLICAS_MAX);
        const pl_variant *v1 = &s->variants[0], *v2 = &s->variants[1];
        assert_int_equal(v1->startup_us, PL_DEFAULT_STARTUP_MS * 1000ull);
        assert_int_equal(v1->n_env, 0);
        assert_non_null(v1->env);
        assert_null(v1->env[0]);
        assert_int_equal(v1->argc, 1);
        assert_string_equal(v1->argv[0], "/bin/true");
        assert_null(v1->argv[1]);
        assert_int_equal(v1->profile.kind, PL_PROFILE_MODEL);
        assert_true(v1->profile.model.margin == PL_DEFAULT_MARGIN);
        assert_true(v1->profile.model.gamma == 5 && v1->profile.model.eta == 2);
        /* l(4, 500 mc) = 5*4/0.5 + 0.1*4 + 1/0.5 + 2 = 44.4 ms */
        assert_true(fabs(pl_model_latency_ms(&v1->profile.model, 4, 500) - 44.4) < 1e-9);

        assert_int_equal(v2->startup_us, 2500);
        assert_int_equal(v2->n_env, 2);
        assert_string_equal(v2->env[0], "A=1");
        assert_string_equal(v2->env[1], "B_2=x=y");
        assert_null(v2->env[2]);
        assert_int_equal(v2->argc, 2);
        assert_string_equal(v2->argv[1], "--big");
        assert_int_equal(v2->profile.kind, PL_PROFILE_POINTS);
        assert_int_equal(v2->profile.n_points, 4);
        assert_int_equal(v2->profile.points[3].batch, 4);
        assert_int_equal(v2->profile.points[3].millicores, 1000);
        assert_true(v2->profile.points[3].latency_ms == 16.5);

        assert_int_equal(pl_find_stage(p, "only"), 0);
        assert_int_equal(pl_find_stage(p, "other"), -ENOENT);
        assert_int_equal(pl_find_variant(s, "v2"), 1);
        assert_int_equal(pl_find_variant(s, "v3"), -ENOENT);
        assert_roundtrip(p);

        /* The canonical form spells the defaults out. */
        json_t *j = pl_to_json(p);
        assert_int_equal(json_integer_value(json_object_get(j, "queue_limit")), 1024);
        assert_string_equal(json_string_value(json_object_get(j, "late")), "drop");
        assert_int_equal(json_integer_value(json_object_get(j, "slo_ms")), 250);
        json_t *v2j = json_array_get(
            json_object_get(json_array_get(json_object_get(j, "stages"), 0), "variants"), 1);
        assert_true(json_real_value(json_object_get(v2j, "startup_ms")) == 2.5);
        assert_string_equal(json_string_value(json_object_get(json_object_get(v2j, "env"), "B_2")),
                            "x=y");
        json_decref(j);
}

static void test_names(void **state)
{
        static const char *const good[] = {
            "a", "0", "video", "yolov5n", "resnet-18", "a_b-c", "abcdefghijklmnopqrstuvwxyz012345"};
        static const char *const bad[] = {"",
                                          "-a",
                                          "_a",
                                          "A",
                                          "a.b",
                                          "a/b",
                                          "..",
                                          "a b",
                                          "é",
                                          "a\n",
                                          "ab$",
                                          "Video",
                                          "abcdefghijklmnopqrstuvwxyz0123456"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_int_equal(pl_validate_name(good[i]), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(pl_validate_name(bad[i]), -EINVAL);
        assert_int_equal(pl_validate_name(NULL), -EINVAL);
}

static void test_plan(void **state)
{
        char path[4096], err[512] = "";
        assert_true((size_t)snprintf(path, sizeof(path), "%s/pipelines/examples/video.json",
                                     source_dir()) < sizeof(path));
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        assert_int_equal(pl_load_file(path, &p, err, sizeof(err)), 0);
        json_error_t jerr;

        json_t *good =
            json_loads("[{\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 750,"
                       "  \"replicas\": 2},"
                       " {\"variant\": \"resnet152\", \"batch\": 16, \"millicores\": 2000,"
                       "  \"replicas\": 1}]",
                       0, &jerr);
        assert_non_null(good);
        pl_plan_entry *plan = NULL;
        assert_int_equal(pl_check_plan(p, good, &plan, err, sizeof(err)), 0);
        assert_int_equal(plan[0].variant, 1);
        assert_int_equal(plan[0].batch, 2);
        assert_int_equal(plan[0].millicores, 750);
        assert_int_equal(plan[0].replicas, 2);
        assert_int_equal(plan[1].variant, 4);
        json_t *back = pl_plan_to_json(p, plan);
        assert_true(json_equal(back, good));
        json_decref(back);
        free(plan);
        json_decref(good);

        static const struct {
                const char *json, *expect;
        } bad[] = {
            {"{}", "plan: expected an array of 2 entries"},
            {"[1, 2]", "plan[0]: expected an object, got 1"},
            {"[{\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 750, \"replicas\": 1},"
             " {\"variant\": \"resnet18\", \"batch\": 2, \"millicores\": 750}]",
             "plan[1].replicas: missing required key"},
            {"[{\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 750, \"replicas\": 1},"
             " {\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 750, \"replicas\": 1}]",
             "plan[1].variant: expected a variant of stage \"classify\""},
            {"[{\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 2250, \"replicas\": 1},"
             " {\"variant\": \"resnet18\", \"batch\": 2, \"millicores\": 750, \"replicas\": 1}]",
             "plan[0].millicores: expected an integer in [250, 2000], got 2250"},
            {"[{\"variant\": \"yolov5s\", \"batch\": 2, \"millicores\": 750, \"replicas\": 1,"
             "   \"cores\": 1}, {}]",
             "plan[0].cores: unknown key"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *j = json_loads(bad[i].json, JSON_DECODE_ANY, &jerr);
                assert_non_null(j);
                pl_plan_entry *untouched = (pl_plan_entry *)0x1;
                assert_int_equal(pl_check_plan(p, j, &untouched, err, sizeof(err)), -EINVAL);
                if (strncmp(err, bad[i].expect, strlen(bad[i].expect)) != 0)
                        fail_msg("plan %zu: got \"%s\", want \"%s...\"", i, err, bad[i].expect);
                assert_ptr_equal(untouched, (pl_plan_entry *)0x1);
                json_decref(j);
        }

        /* Without a plan in the file: first variant, batch 1, most cores, fewest replicas. */
        assert_int_equal(pl_initial_plan(p, &plan), 0);
        for (size_t s = 0; s < p->n_stages; s++) {
                assert_int_equal(plan[s].variant, 0);
                assert_int_equal(plan[s].batch, 1);
                assert_int_equal(plan[s].millicores, p->stages[s].millicores_max);
                assert_int_equal(plan[s].replicas, p->stages[s].replicas_min);
        }
        free(plan);

        /* With one: a copy of it. */
        assert_true((size_t)snprintf(path, sizeof(path), "%s/pipelines/examples/three-stage.json",
                                     source_dir()) < sizeof(path));
        _cleanup_pl_pipeline_ pl_pipeline *t = NULL;
        assert_int_equal(pl_load_file(path, &t, err, sizeof(err)), 0);
        assert_int_equal(pl_initial_plan(t, &plan), 0);
        assert_memory_equal(plan, t->plan, t->n_stages * sizeof(pl_plan_entry));
        free(plan);
}

static void test_profiles(void **state)
{
        static const struct {
                const char *points;
                int ok;
        } cases[] = {
            /* two batch sizes on each of two core limits: determined */
            {"[[1, 500, 10], [4, 500, 31], [1, 1000, 6], [4, 1000, 16]]", 1},
            /* one batch size: b/c and 1/c are proportional, so are b and 1 */
            {"[[2, 500, 10], [2, 750, 31], [2, 1000, 6], [2, 2000, 16]]", 0},
            /* three at one core limit + one elsewhere: rank 3 */
            {"[[1, 500, 10], [2, 500, 18], [4, 500, 30], [1, 1000, 6]]", 0},
            /* the same point four times */
            {"[[1, 500, 10], [1, 500, 10], [1, 500, 11], [1, 500, 10]]", 0},
            /* a grid of nine */
            {"[[1, 250, 40], [4, 250, 150], [16, 250, 600], [1, 1000, 11], [4, 1000, 40],"
             " [16, 1000, 151], [1, 2000, 6], [4, 2000, 21], [16, 2000, 77]]",
             1},
            /* millicores below the floor */
            {"[[1, 5, 10], [4, 500, 31], [1, 1000, 6], [4, 1000, 16]]", 0},
            /* batch above the limit */
            {"[[1, 500, 10], [4096, 500, 31], [1, 1000, 6], [4, 1000, 16]]", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char doc[1024], err[512] = "";
                assert_true((size_t)snprintf(doc, sizeof(doc),
                                             "{\"name\": \"p\", \"slo_ms\": 100, \"stages\": [{"
                                             "\"name\": \"s\", \"variants\": [{\"name\": \"v\","
                                             " \"accuracy\": 1, \"command\": [\"w\"],"
                                             " \"profile\": {\"points\": %s}}]}]}",
                                             cases[i].points) < sizeof(doc));
                _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
                int r = parse_str(doc, &p, err, sizeof(err));
                if ((r == 0) != cases[i].ok)
                        fail_msg("points case %zu: r=%d err=%s", i, r, err);
                if (!cases[i].ok)
                        assert_non_null(strstr(err, "stages[0].variants[0].profile.points"));
        }
}

static void test_err_buffer(void **state)
{
        static const char doc[] = "{\"name\": \"Bad Name\"}";
        pl_pipeline *p = NULL;
        /* NULL buffer and zero length are accepted. */
        assert_int_equal(pl_parse(doc, strlen(doc), &p, NULL, 0), -EINVAL);
        char small[8];
        memset(small, 'x', sizeof(small));
        assert_int_equal(pl_parse(doc, strlen(doc), &p, small, sizeof(small)), -EINVAL);
        assert_int_equal(small[7], '\0');
        assert_string_equal(small, "name: e");
        char one[1] = {'x'};
        assert_int_equal(pl_parse(doc, strlen(doc), &p, one, 1), -EINVAL);
        assert_int_equal(one[0], '\0');
        assert_null(p);

        /* Syntax errors too, and a buffer that is not NUL-terminated. */
        char err[256];
        static const char garbage[] = {'{', '"', 'a', '"', ':', '1', '}', 'x'};
        assert_int_equal(pl_parse(garbage, sizeof(garbage), &p, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "1:8: invalid JSON: end of file expected"));
        assert_int_equal(pl_parse(garbage, 7, &p, err, sizeof(err)), -EINVAL);
        assert_string_equal(
            err, "a: unknown key (accepted here: name, slo_ms, late, resize, "
                 "policy, objective, queue_limit, max_body_bytes, stages, plan, inputs, outputs, "
                 "mix)");
        assert_int_equal(pl_parse(NULL, 0, &p, err, sizeof(err)), -EINVAL);
        assert_null(p);

        /* A key too long for the path buffer: the path is cut with "..." at a segment. */
        json_error_t jerr;
        json_t *root = json_loads(MINIMAL, 0, &jerr);
        assert_non_null(root);
        char key[700];
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        json_t *model = json_object_get(
            json_object_get(
                json_array_get(
                    json_object_get(json_array_get(json_object_get(root, "stages"), 0), "variants"),
                    0),
                "profile"),
            "model");
        assert_int_equal(json_object_set_new(model, key, json_true()), 0);
        assert_int_equal(pl_from_json(root, &p, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "stages[0].variants[0].profile.model...: unknown key (accepted "
                                 "here: gamma, delta, epsilon, eta, margin)");
        json_decref(root);
}

static void test_load_errors(void **state)
{
        char err[512];
        pl_pipeline *p = NULL;
        assert_int_equal(pl_load_file("/nonexistent/x.json", &p, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "/nonexistent/x.json: cannot open"));
        assert_int_equal(pl_load_file("/", &p, err, sizeof(err)), -EISDIR);
        assert_null(p);
}

static void test_strings(void **state)
{
        assert_string_equal(pl_late_to_string(PL_LATE_SERVE), "serve");
        assert_string_equal(pl_policy_to_string(PL_POLICY_HORIZONTAL), "horizontal");
        assert_null(pl_policy_to_string((pl_policy)42));
        pl_policy pol = PL_POLICY_FULL;
        assert_int_equal(pl_policy_from_string("static", &pol), 0);
        assert_int_equal(pol, PL_POLICY_STATIC);
        assert_int_equal(pl_policy_from_string("Static", &pol), -EINVAL);
        assert_int_equal(pol, PL_POLICY_STATIC);
        pl_late late = PL_LATE_DROP;
        assert_int_equal(pl_late_from_string("serve", &late), 0);
        assert_int_equal(late, PL_LATE_SERVE);
        assert_int_equal(pl_late_from_string(NULL, &late), -EINVAL);
        pl_pipeline_free(NULL);
        assert_null(pl_to_json(NULL));
}

/* Numbers: an integral real is an integer; reals in integer fields are not truncated. */
static void test_numbers(void **state)
{
        static const char *const ok[] = {
            "{\"name\": \"p\", \"slo_ms\": 100.0, \"queue_limit\": 16.0, \"stages\": [{"
            "\"name\": \"s\", \"max_batch\": 8.0, \"variants\": [{\"name\": \"v\","
            " \"accuracy\": 100, \"command\": [\"w\"], \"startup_ms\": 0,"
            " \"profile\": {\"model\": {\"gamma\": -0.1, \"delta\": 1, \"epsilon\": 0,"
            " \"eta\": 1}}}]}]}",
        };
        char err[512] = "";
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        if (parse_str(ok[0], &p, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_int_equal(p->queue_limit, 16);
        assert_int_equal(p->stages[0].max_batch, 8);
        assert_int_equal(p->stages[0].variants[0].startup_us, 0);
        /* gamma < 0 is fine while l(b, c) stays positive: b - 0.1*b/c + 1 > 0 for c >= 0.25 */
        assert_true(p->stages[0].variants[0].profile.model.gamma == -0.1);
}

/* "mix" (issue 22): true by default, false kept through a round trip, anything but a boolean
 * refused at its path. */
static void test_mix(void **state)
{
        char err[512] = "";
        json_error_t jerr;
        pl_pipeline *p = NULL;
        json_t *root;

        (void)state;
        if (parse_str(MINIMAL, &p, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_true(p->mix);
        pl_pipeline_free(p);
        p = NULL;
        root = json_loads(MINIMAL, 0, &jerr);
        assert_non_null(root);
        assert_int_equal(json_object_set_new(root, "mix", json_false()), 0);
        if (pl_from_json(root, &p, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_false(p->mix);
        assert_roundtrip(p);
        pl_pipeline_free(p);
        assert_int_equal(json_object_set_new(root, "mix", json_integer(1)), 0);
        expect_error_at(root, "mix", "mix: 1");
        json_decref(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_examples),       cmocka_unit_test(test_bad_files),
            cmocka_unit_test(test_mutation_sweep), cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_names),          cmocka_unit_test(test_plan),
            cmocka_unit_test(test_profiles),       cmocka_unit_test(test_err_buffer),
            cmocka_unit_test(test_load_errors),    cmocka_unit_test(test_strings),
            cmocka_unit_test(test_numbers),        cmocka_unit_test(test_mix),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
