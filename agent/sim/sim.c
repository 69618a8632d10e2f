/* SPDX-License-Identifier: MIT */
/* sim.c — the discrete-event simulation (sim.h). The data plane follows agent/dispatch.c
 * (admission, early drop, shedding, the batcher's decision and its wake-up margin), the control
 * loop agent/control.c (observe, forecast, budget quantile, plan_decide, overcommit, hold, rate
 * jump), both through the same libraries; only workers and the clock are simulated. */
#include "agent/sim/sim.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan/plan-loop.h"
#include "agent/plan/plan.h"
#include "queueing/queueing.h"

#define USEC          1000000ull
#define NEVER         UINT64_MAX
#define BUDGET_RING   512 /* as agent/control.c */
#define DROP_CHUNK    64
#define MAX_REPLICAS  (2 * PL_MAX_REPLICAS + 2) /* old and new during a switch */
#define LAT_BUCKET_MS 0.1
#define LAT_BUCKETS   1000000u /* 0.1 ms up to 100 s */
#define NOISE_FLOOR   (-0.5)   /* a batch never takes less than half its model */
#define P99_NORMAL_Z  2.326
#define PI            3.14159265358979323846
/* The reactive controller, as tests/bench/bench-trace.py (class Reactive). */
#define REACTIVE_HEADROOM    1.3
#define REACTIVE_INTERVAL_US (5 * USEC)
#define REACTIVE_WINDOW_S    10
#define REACTIVE_COOLDOWN_US (10 * USEC)

typedef struct Req {
        sq_node node;
        uint64_t arrival_us, deadline_us, budget_us;
        double acc_sum; /* Σ accuracy of the variants that served it so far */
        bool counted;
        struct Req *next_free;
} Req;

typedef struct Rep {
        uint32_t variant, millicores;
        uint64_t ready_at; /* starting until then */
        uint64_t done_at;  /* NEVER: idle */
        bool draining;     /* removed when idle */
        uint32_t n;        /* batch size in service */
        Req **batch;       /* owned, max_batch */
} Rep;

typedef struct Noise {
        double *resid; /* owned: relative residuals of the profile's points, or NULL */
        size_t n;
        double sigma; /* normal's, when no points */
} Noise;

typedef struct Stage {
        const pl_stage *cfg;
        size_t index;
        sq_queue q;
        pl_plan_entry plan;
        opt_latency *profile; /* per variant, margin included (the agent's estimate) */
        opt_latency *truth;   /* per variant, without margin (what a batch takes) */
        Noise *noise;         /* per variant */
        Rep reps[MAX_REPLICAS];
        size_t n_reps;
        uint64_t wake_at; /* 0: none */
        double used_s;    /* cumulative CPU seconds (reactive) */
        double used_hist[REACTIVE_WINDOW_S + 1];
        uint64_t changed_at; /* reactive cooldown */
        struct Sim *sim;
} Stage;

typedef struct Sim {
        const sim_config *c;
        pl_pipeline cfg; /* shallow copy with the policy's policy/plan/resize */
        Stage *stages;
        size_t n;
        plan_stage_now *now_st; /* the estimate's view: plan variant's model, millicores */
        uint64_t now;
        uint64_t rng[4];
        /* arrivals */
        uint64_t next_arrival; /* NEVER when done */
        uint64_t live;         /* admitted, not answered */
        Req *free_reqs;
        /* control */
        opt_forecast forecast;
        uint64_t next_tick, last_tick, last_jump_check, next_poll, next_reactive;
        uint64_t arrivals_tick;
        double planned_rps, floor_ms;
        uint64_t budgets_us[BUDGET_RING], budget_at_us[BUDGET_RING];
        uint32_t n_budgets, budget_head;
        plan_hold hold;
        bool pinned;
        /* figures */
        uint64_t *lat_hist;
        double acc_ok_sum;
        sim_result res;
} Sim;

/* ---- random numbers: xoshiro256** seeded by splitmix64 ---- */

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

static void rng_seed(Sim *s, uint64_t seed)
{
        for (int i = 0; i < 4; i++) {
                uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                s->rng[i] = z ^ (z >> 31);
        }
}

static double rng_unit(Sim *s) /* (0, 1] */
{
        uint64_t *r = s->rng, res = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;

        r[2] ^= r[0];
        r[3] ^= r[1];
        r[1] ^= r[2];
        r[0] ^= r[3];
        r[2] ^= t;
        r[3] = rotl(r[3], 45);
        return ((double)(res >> 11) + 1.0) / 9007199254740992.0;
}

static double draw_error(Sim *s, const Noise *nz)
{
        double e;

        if (s->c->noise <= 0)
                return 0;
        if (nz->n > 0) {
                size_t i = (size_t)(rng_unit(s) * (double)nz->n);
                e = nz->resid[i < nz->n ? i : nz->n - 1];
        } else if (nz->sigma > 0) { /* Box-Muller */
                e = nz->sigma * sqrt(-2.0 * log(rng_unit(s))) * cos(2.0 * PI * rng_unit(s));
        } else {
                return 0;
        }
        return fmax(NOISE_FLOOR, e * s->c->noise);
}

/* ---- requests ---- */

static Req *req_new(Sim *s)
{
        Req *q = s->free_reqs;

        if (q)
                s->free_reqs = q->next_free;
        else if (!(q = malloc(sizeof(*q))))
                return NULL;
        *q = (Req){0};
        return q;
}

static void req_free(Sim *s, Req *q)
{
        q->next_free = s->free_reqs;
        s->free_reqs = q;
}

static void answer(Sim *s, Req *q, unsigned status)
{
        if (q->counted) {
                if (status == 200) {
                        double lat_ms = (double)(s->now - q->arrival_us) / 1000.0;
                        size_t b = (size_t)(lat_ms / LAT_BUCKET_MS);
                        s->res.ok++;
                        s->res.within += s->now <= q->deadline_us;
                        s->lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
                        s->acc_ok_sum += q->acc_sum / (double)s->n;
                } else if (status == 504) {
                        s->res.status504++;
                } else {
                        s->res.status429++;
                }
        }
        s->live--;
        req_free(s, q);
}

/* ---- the data plane (agent/dispatch.c) ---- */

static uint64_t estimate_us(uint32_t batch, void *ud)
{
        Stage *st = ud;

        return plan_estimate_us(st->sim->now_st, st->sim->n, st->index, batch);
}

static void refresh_view(Sim *s)
{
        for (size_t i = 0; i < s->n; i++)
                s->now_st[i] = (plan_stage_now){&s->stages[i].profile[s->stages[i].plan.variant],
                                                s->stages[i].plan.millicores};
}

static uint32_t drop_all(Stage *st, bool shed)
{
        sq_node *nodes[DROP_CHUNK];
        uint32_t n, total = 0;

        do {
                n = shed ? sq_shed(&st->q, st->sim->now, st->plan.batch, estimate_us, st, nodes,
                                   DROP_CHUNK)
                         : sq_drop_hopeless(&st->q, st->sim->now, estimate_us, st, nodes,
                                            DROP_CHUNK);
                for (uint32_t i = 0; i < n; i++)
                        answer(st->sim, sq_container_of(nodes[i], Req, node), 504);
                total += n;
        } while (n == DROP_CHUNK);
        return total;
}

static uint32_t stage_drop(Stage *st)
{
        return drop_all(st, false) + drop_all(st, true);
}

static Rep *free_replica(Stage *st)
{
        for (size_t i = 0; i < st->n_reps; i++) {
                Rep *r = &st->reps[i];
                if (!r->draining && r->ready_at <= st->sim->now && r->done_at == NEVER)
                        return r;
        }
        return NULL;
}

static void take(Stage *st, Rep *r, uint32_t k)
{
        Sim *s = st->sim;
        sq_node *nodes[PL_MAX_BATCH];
        double ms;

        r->n = sq_take(&st->q, k < st->cfg->max_batch ? k : st->cfg->max_batch, nodes);
        for (uint32_t i = 0; i < r->n; i++)
                r->batch[i] = sq_container_of(nodes[i], Req, node);
        ms = opt_latency_eval_ms(&st->truth[r->variant], r->n, r->millicores);
        ms *= 1.0 + draw_error(s, &st->noise[r->variant]);
        if (!isfinite(ms) || ms < 0.001)
                ms = 0.001;
        r->done_at = s->now + (uint64_t)(ms * 1000.0);
        st->used_s += ms / 1000.0 * r->millicores / 1000.0;
        if (s->now >= s->c->count_from_us && s->now < s->c->count_to_us)
                s->res.core_seconds_used += ms / 1000.0 * r->millicores / 1000.0;
}

static uint64_t wake_margin_us(const Stage *st)
{
        return plan_wake_margin_us(sq_container_of(sq_peek(&st->q), Req, node)->budget_us);
}

static void dispatch(Stage *st)
{
        Sim *s = st->sim;

        for (;;) {
                Rep *r;
                sq_decision d;

                st->wake_at = 0;
                if (sq_size(&st->q) == 0 || !(r = free_replica(st)))
                        return;
                stage_drop(st);
                d = sq_decide(&st->q, s->now, st->plan.batch, estimate_us, st, s->c->max_wait_us);
                switch (d.action) {
                case SQ_IDLE:
                        return;
                case SQ_DROP:
                        if (stage_drop(st) == 0)
                                return;
                        break;
                case SQ_WAIT:
                        if (d.wake_at_us > s->now + wake_margin_us(st)) {
                                st->wake_at = d.wake_at_us - wake_margin_us(st);
                                return;
                        }
                        take(st, r,
                             sq_size(&st->q) < st->plan.batch ? sq_size(&st->q) : st->plan.batch);
                        break;
                case SQ_TAKE:
                        take(st, r, d.k);
                        break;
                }
        }
}

static void enqueue(Stage *st, Req *q)
{
        if (sq_push(&st->q, &q->node, q->deadline_us, st->sim->now) < 0)
                answer(st->sim, q, 429);
}

static void arrive(Sim *s, uint64_t t)
{
        Stage *st = &s->stages[0];
        uint64_t sec = t / USEC;
        double net = s->c->net_ms ? s->c->net_ms[sec % s->c->n_net] : 0;
        double budget_ms = s->c->slo_ms - net;
        Req *q = req_new(s);

        if (!q)
                return;
        q->arrival_us = t;
        q->budget_us = budget_ms > 0 ? (uint64_t)(budget_ms * 1000.0) : 0;
        q->deadline_us = t + q->budget_us;
        q->counted = t >= s->c->count_from_us && t < s->c->count_to_us;
        s->res.requests += q->counted;
        s->live++;
        s->arrivals_tick++;
        /* control_observe_budget: budgets below the floor are not planned for */
        if ((double)q->budget_us / 1000.0 >= s->floor_ms) {
                s->budgets_us[s->budget_head] = q->budget_us;
                s->budget_at_us[s->budget_head] = t;
                s->budget_head = (s->budget_head + 1) % BUDGET_RING;
                if (s->n_budgets < BUDGET_RING)
                        s->n_budgets++;
        }
        if (s->cfg.late == PL_LATE_DROP && t + estimate_us(1, st) > q->deadline_us) {
                answer(s, q, 504);
                return;
        }
        enqueue(st, q);
        dispatch(st);
}

static void remove_rep(Stage *st, size_t i)
{
        Req **keep = st->reps[i].batch;

        st->reps[i] = st->reps[st->n_reps - 1];
        st->reps[st->n_reps - 1].batch = keep;
        st->n_reps--;
}

static void batch_done(Stage *st, size_t ri)
{
        Sim *s = st->sim;
        Rep *r = &st->reps[ri];
        double acc = st->cfg->variants[r->variant].accuracy;

        for (uint32_t i = 0; i < r->n; i++) {
                Req *q = r->batch[i];
                q->acc_sum += acc;
                if (st->index + 1 == s->n)
                        answer(s, q, 200);
                else
                        enqueue(&s->stages[st->index + 1], q);
        }
        r->n = 0;
        r->done_at = NEVER;
        if (r->draining)
                remove_rep(st, ri);
        dispatch(st);
        if (st->index + 1 < s->n)
                dispatch(&s->stages[st->index + 1]);
}

/* ---- replicas follow the plan (agent/stage.c: stage_reconcile) ---- */

static bool matches(const Stage *st, const Rep *r)
{
        return r->variant == st->plan.variant &&
               (st->sim->cfg.resize == PL_RESIZE_IN_PLACE || r->millicores == st->plan.millicores);
}

static void retire(Stage *st, size_t i)
{
        if (st->reps[i].done_at == NEVER)
                remove_rep(st, i);
        else
                st->reps[i].draining = true;
}

static void reconcile(Stage *st)
{
        Sim *s = st->sim;
        uint32_t have = 0, ready = 0;
        size_t i;

        for (i = 0; i < st->n_reps; i++) {
                Rep *r = &st->reps[i];
                if (r->draining || !matches(st, r))
                        continue;
                r->millicores = st->plan.millicores; /* in place */
                have++;
        }
        /* too many: the ones starting first, then idle, then busy (drained) */
        for (int pass = 0; pass < 3 && have > st->plan.replicas; pass++)
                for (i = st->n_reps; i-- > 0 && have > st->plan.replicas;) {
                        Rep *r = &st->reps[i];
                        bool starting = r->ready_at > s->now, idle = r->done_at == NEVER;
                        if (r->draining || !matches(st, r) || (pass == 0 && !starting) ||
                            (pass == 1 && !idle))
                                continue;
                        retire(st, i);
                        have--;
                }
        while (have < st->plan.replicas && st->n_reps < MAX_REPLICAS) {
                Rep *r = &st->reps[st->n_reps++];
                Req **keep = r->batch;
                *r = (Rep){.variant = (uint32_t)st->plan.variant,
                           .millicores = st->plan.millicores,
                           .ready_at = s->now + st->cfg->variants[st->plan.variant].startup_us,
                           .done_at = NEVER,
                           .batch = keep};
                have++;
        }
        for (i = 0; i < st->n_reps; i++)
                ready += !st->reps[i].draining && matches(st, &st->reps[i]) &&
                         st->reps[i].ready_at <= s->now;
        /* the old ones go once the new ones serve */
        if (ready >= st->plan.replicas)
                for (i = st->n_reps; i-- > 0;)
                        if (!st->reps[i].draining && !matches(st, &st->reps[i]))
                                retire(st, i);
}

static void set_plan(Stage *st, const pl_plan_entry *e)
{
        if (plan_entry_equal(&st->plan, e))
                return;
        st->plan = *e;
        st->sim->res.plan_changes++;
        refresh_view(st->sim);
        reconcile(st);
        dispatch(st);
}

/* ---- the control loop (agent/control.c) ---- */

static double planning_budget(const Sim *s)
{
        double v[BUDGET_RING];
        size_t n = 0;

        for (uint32_t i = 0; i < s->n_budgets; i++)
                if (s->budget_at_us[i] + PLAN_BUDGET_WINDOW_US >= s->now)
                        v[n++] = (double)s->budgets_us[i] / 1000.0;
        return plan_budget_ms(v, n, PLAN_BUDGET_QUANTILE, s->c->slo_ms);
}

static int tick(Sim *s, char *err, size_t errlen)
{
        double elapsed = s->last_tick ? (double)(s->now - s->last_tick) / 1e6 : 1.0;
        double observed, present;
        pl_plan_entry cur[PL_MAX_STAGES], next[PL_MAX_STAGES];
        const pl_plan_entry *curp = cur;
        plan_problem x;
        plan_decision d;
        uint32_t queued = 0;
        int r;

        s->last_tick = s->now;
        observed = (double)s->arrivals_tick / fmax(elapsed, 0.05);
        s->arrivals_tick = 0;
        opt_forecast_push(&s->forecast, observed);
        for (size_t i = 0; i < s->n; i++) {
                drop_all(&s->stages[i], false); /* stage_expire */
                queued += sq_size(&s->stages[i].q);
                cur[i] = s->stages[i].plan;
        }
        plan_rates(observed, opt_forecast_next(&s->forecast), queued, &s->planned_rps, &present);
        if (s->c->no_headroom)
                s->planned_rps = present;
        if (s->pinned)
                return 0; /* the agent solves but never acts on a pinned pipeline */
        plan_input in = {.cfg = &s->cfg,
                         .current = cur,
                         .lambda_rps = s->planned_rps,
                         .present_rps = present,
                         .budget_ms = planning_budget(s)};
        r = plan_problem_build(&in, 1, s->c->node_millicores, &x, err, errlen);
        if (r < 0)
                return r;
        r = plan_decide(&x, s->c->solve_time_limit_ms, &d);
        s->res.solves++;
        if (r == 0) {
                bool force = plan_would_overcommit(&x, &d.plan, &curp, s->c->node_millicores);
                s->res.degraded_solves += d.degraded;
                plan_entries(&d.plan, 0, next);
                if (plan_hold_step(&s->hold, cur, next, s->n, s->now, s->c->downscale_delay_us,
                                   force)) {
                        s->res.plan_lambda_rps = d.share * in.lambda_rps;
                        s->res.plan_budget_ms = in.budget_ms;
                        for (size_t i = 0; i < s->n; i++)
                                set_plan(&s->stages[i], &next[i]);
                }
        }
        plan_decision_done(&d);
        plan_problem_done(&x);
        return 0;
}

/* bench-trace.py's Reactive: usage over the window / replicas x 1.3 on the millicore grid. */
static void reactive_poll(Sim *s)
{
        bool decide = s->now >= s->next_reactive;

        if (decide)
                s->next_reactive = s->now + REACTIVE_INTERVAL_US;
        for (size_t i = 0; i < s->n; i++) {
                Stage *st = &s->stages[i];
                const pl_stage *c = st->cfg;
                double used, want;
                uint32_t mc;

                memmove(st->used_hist, st->used_hist + 1, REACTIVE_WINDOW_S * sizeof(double));
                st->used_hist[REACTIVE_WINDOW_S] = st->used_s;
                if (!decide || s->now < REACTIVE_WINDOW_S * USEC ||
                    s->now - st->changed_at < REACTIVE_COOLDOWN_US)
                        continue;
                used = (st->used_hist[REACTIVE_WINDOW_S] - st->used_hist[0]) / REACTIVE_WINDOW_S;
                want =
                    REACTIVE_HEADROOM * used / (st->plan.replicas ? st->plan.replicas : 1) * 1000.0;
                mc = want <= c->millicores_min
                         ? c->millicores_min
                         : c->millicores_min +
                               (uint32_t)ceil((want - c->millicores_min) / c->millicores_step) *
                                   c->millicores_step;
                if (mc > c->millicores_max)
                        mc = c->millicores_max;
                if (mc != st->plan.millicores) {
                        pl_plan_entry e = st->plan;
                        e.millicores = mc;
                        st->changed_at = s->now;
                        set_plan(st, &e);
                }
        }
}

/* ---- setup ---- */

static int stage_init(Sim *s, size_t i, const pl_plan_entry *start, char *err, size_t errlen)
{
        Stage *st = &s->stages[i];
        const pl_stage *c = &s->cfg.stages[i];
        size_t nv = c->n_variants;
        int r;

        *st = (Stage){.cfg = c, .index = i, .plan = start[i], .sim = s};
        st->profile = calloc(nv, sizeof(*st->profile));
        st->truth = calloc(nv, sizeof(*st->truth));
        st->noise = calloc(nv, sizeof(*st->noise));
        if (!st->profile || !st->truth || !st->noise)
                return -ENOMEM;
        r = sq_queue_init(&st->q, s->cfg.queue_limit);
        if (r < 0)
                return r;
        sq_set_late_policy(&st->q, s->cfg.late == PL_LATE_SERVE ? SQ_LATE_SERVE : SQ_LATE_DROP);
        for (size_t v = 0; v < nv; v++) {
                const pl_profile *pr = &c->variants[v].profile;
                opt_model m;
                r = plan_variant_model(&c->variants[v], &m, err, errlen);
                if (r < 0)
                        return r;
                st->profile[v] = (opt_latency){.kind = OPT_LATENCY_MODEL, .fit = m};
                m.margin = 0;
                st->truth[v] = (opt_latency){.kind = OPT_LATENCY_MODEL, .fit = m};
                st->noise[v].sigma = st->profile[v].fit.margin / P99_NORMAL_Z;
                if (pr->kind != PL_PROFILE_POINTS || pr->n_points == 0)
                        continue;
                st->noise[v].resid = calloc(pr->n_points, sizeof(double));
                if (!st->noise[v].resid)
                        return -ENOMEM;
                for (size_t k = 0; k < pr->n_points; k++) {
                        double pred = opt_latency_eval_ms(&st->truth[v], pr->points[k].batch,
                                                          pr->points[k].millicores);
                        if (isfinite(pred) && pred > 0)
                                st->noise[v].resid[st->noise[v].n++] =
                                    pr->points[k].latency_ms / pred - 1.0;
                }
        }
        for (size_t k = 0; k < MAX_REPLICAS; k++) {
                st->reps[k].batch = calloc(c->max_batch, sizeof(Req *));
                if (!st->reps[k].batch)
                        return -ENOMEM;
        }
        reconcile(st);
        for (size_t k = 0; k < st->n_reps; k++)
                st->reps[k].ready_at = 0; /* the benchmark starts the load once all are ready */
        return 0;
}

static void sim_done(Sim *s)
{
        for (size_t i = 0; s->stages && i < s->n; i++) {
                Stage *st = &s->stages[i];
                for (size_t v = 0; st->noise && v < st->cfg->n_variants; v++)
                        free(st->noise[v].resid);
                for (size_t k = 0; k < MAX_REPLICAS; k++)
                        for (uint32_t j = 0; j < st->reps[k].n && k < st->n_reps; j++)
                                req_free(s, st->reps[k].batch[j]);
                for (size_t k = 0; k < MAX_REPLICAS; k++)
                        free(st->reps[k].batch);
                while (sq_size(&st->q) > 0)
                        req_free(s, sq_container_of(sq_pop(&st->q), Req, node));
                sq_queue_done(&st->q);
                free(st->profile);
                free(st->truth);
                free(st->noise);
        }
        while (s->free_reqs) {
                Req *q = s->free_reqs;
                s->free_reqs = q->next_free;
                free(q);
        }
        free(s->stages);
        free(s->now_st);
        free(s->lat_hist);
        opt_forecast_done(&s->forecast);
}

static int sim_init(Sim *s, const sim_config *c, char *err, size_t errlen)
{
        pl_plan_entry *initial = NULL;
        const pl_plan_entry *start = c->plan;
        opt_forecast_params fp;
        static const pl_policy pol[] = {PL_POLICY_STATIC, PL_POLICY_STATIC, PL_POLICY_HORIZONTAL,
                                        PL_POLICY_VERTICAL, PL_POLICY_FULL};
        int r;

        *s = (Sim){.c = c, .cfg = *c->cfg, .n = c->cfg->n_stages};
        s->cfg.policy = pol[c->policy];
        s->cfg.plan = (pl_plan_entry *)c->plan;
        s->cfg.resize = c->policy == SIM_REACTIVE ? PL_RESIZE_RESTART : c->cfg->resize;
        s->pinned = c->policy == SIM_STATIC || c->policy == SIM_REACTIVE;
        rng_seed(s, c->seed);
        if (!start) {
                r = pl_initial_plan(&s->cfg, &initial);
                if (r < 0)
                        return snprintf(err, errlen, "no initial plan"), r;
                start = initial;
        }
        plan_forecast_params(&fp);
        r = opt_forecast_init(&s->forecast, &fp);
        s->stages = calloc(s->n, sizeof(*s->stages));
        s->now_st = calloc(s->n, sizeof(*s->now_st));
        s->lat_hist = calloc(LAT_BUCKETS, sizeof(uint64_t));
        if (r == 0 && (!s->stages || !s->now_st || !s->lat_hist))
                r = -ENOMEM;
        for (size_t i = 0; i < s->n && r == 0; i++)
                r = stage_init(s, i, start, err, errlen);
        free(initial);
        if (r < 0)
                return r;
        refresh_view(s);
        for (size_t i = 0; i < s->n; i++)
                s->floor_ms += plan_stage_floor_ms(&s->cfg.stages[i], s->stages[i].profile);
        s->next_reactive = REACTIVE_INTERVAL_US;
        return 0;
}

/* ---- the event loop ---- */

static uint64_t next_event(const Sim *s)
{
        uint64_t t = s->next_arrival;

#define EARLIER(x)                                                                                 \
        do {                                                                                       \
                uint64_t _x = (x);                                                                 \
                if (_x < t)                                                                        \
                        t = _x;                                                                    \
        } while (0)
        EARLIER(s->next_tick);
        EARLIER(s->last_jump_check + PLAN_JUMP_CHECK_US);
        if (s->c->policy == SIM_REACTIVE)
                EARLIER(s->next_poll);
        for (size_t i = 0; i < s->n; i++) {
                const Stage *st = &s->stages[i];
                if (st->wake_at)
                        EARLIER(st->wake_at);
                for (size_t k = 0; k < st->n_reps; k++) {
                        EARLIER(st->reps[k].done_at);
                        if (st->reps[k].ready_at > s->now)
                                EARLIER(st->reps[k].ready_at);
                }
        }
#undef EARLIER
        return t;
}

static void advance(Sim *s, uint64_t t)
{
        uint64_t a = s->now > s->c->count_from_us ? s->now : s->c->count_from_us;
        uint64_t b = t < s->c->count_to_us ? t : s->c->count_to_us;
        uint64_t mc = 0;

        if (b > a) {
                for (size_t i = 0; i < s->n; i++)
                        for (size_t k = 0; k < s->stages[i].n_reps; k++)
                                mc += s->stages[i].reps[k].millicores;
                s->res.core_seconds += (double)mc / 1000.0 * (double)(b - a) / 1e6;
        }
        s->now = t;
}

static void due_replicas(Sim *s)
{
        for (size_t i = 0; i < s->n; i++) {
                Stage *st = &s->stages[i];
                bool became_ready = false;
                for (size_t k = st->n_reps; k-- > 0;) {
                        if (k < st->n_reps && st->reps[k].done_at <= s->now)
                                batch_done(st, k);
                }
                for (size_t k = 0; k < st->n_reps; k++)
                        became_ready |= st->reps[k].ready_at == s->now && s->now > 0;
                if (became_ready) {
                        reconcile(st);
                        dispatch(st);
                }
                if (st->wake_at && st->wake_at <= s->now)
                        dispatch(st);
        }
}

static int control_due(Sim *s, char *err, size_t errlen)
{
        int r = 0;

        if (s->now >= s->last_jump_check + PLAN_JUMP_CHECK_US) {
                s->last_jump_check = s->now;
                if (s->now < s->next_tick && s->now - s->last_tick >= PLAN_JUMP_MIN_AGE_US &&
                    plan_rate_jumped((double)s->arrivals_tick,
                                     (double)(s->now - s->last_tick) / 1e6, s->planned_rps))
                        s->next_tick = s->now;
        }
        if (s->now >= s->next_tick) {
                r = tick(s, err, errlen);
                s->next_tick = s->now + s->c->interval_us;
        }
        if (s->c->policy == SIM_REACTIVE && s->now >= s->next_poll) {
                reactive_poll(s);
                s->next_poll = s->now + USEC;
        }
        return r;
}

static void figures(Sim *s, sim_result *ret)
{
        uint64_t n = 0, want50, want99;

        s->res.dropped = s->res.requests - s->res.ok;
        s->res.attainment_pct =
            s->res.requests ? 100.0 * (double)s->res.within / (double)s->res.requests : 0.0;
        s->res.p50_ms = s->res.p99_ms = -1;
        s->res.mean_accuracy = s->res.ok ? s->acc_ok_sum / (double)s->res.ok : -1;
        /* bench-trace's quantile: element ceil(p·n) of the sorted latencies (bucket's top) */
        want50 = (uint64_t)ceil(0.5 * (double)s->res.ok);
        want99 = (uint64_t)ceil(0.99 * (double)s->res.ok);
        for (size_t b = 0; b < LAT_BUCKETS && s->res.ok; b++) {
                n += s->lat_hist[b];
                if (s->res.p50_ms < 0 && n >= want50)
                        s->res.p50_ms = (double)(b + 1) * LAT_BUCKET_MS;
                if (n >= want99) {
                        s->res.p99_ms = (double)(b + 1) * LAT_BUCKET_MS;
                        break;
                }
        }
        s->res.sim_s = (double)s->now / 1e6;
        for (size_t i = 0; i < s->n; i++)
                s->res.plan[i] = s->stages[i].plan;
        *ret = s->res;
}

int sim_run(const sim_config *c, sim_result *ret, char *err, size_t errlen)
{
        Sim s;
        int r;

        if (!c || !c->cfg || !c->next_arrival || c->node_millicores == 0 || c->slo_ms <= 0 ||
            c->interval_us == 0 || (unsigned)c->policy > SIM_FULL ||
            (c->policy != SIM_FULL && !c->plan) || (c->net_ms && c->n_net == 0)) {
                snprintf(err, errlen, "bad simulation config (policy %s needs a plan)",
                         c ? sim_policy_name(c->policy) : "?");
                return -EINVAL;
        }
        r = sim_init(&s, c, err, errlen);
        if (r < 0) {
                sim_done(&s);
                return r;
        }
        if (c->next_arrival(c->arrival_ud, &s.next_arrival) < 0)
                s.next_arrival = NEVER;
        for (;;) {
                uint64_t t;

                if (s.next_arrival == NEVER && s.live == 0)
                        break;
                t = next_event(&s);
                if (t == NEVER)
                        break;
                advance(&s, t);
                s.res.events++;
                due_replicas(&s);
                while (s.next_arrival <= s.now) {
                        arrive(&s, s.next_arrival);
                        if (c->next_arrival(c->arrival_ud, &s.next_arrival) < 0)
                                s.next_arrival = NEVER;
                }
                r = control_due(&s, err, errlen);
                if (r < 0)
                        break;
        }
        if (r == 0) {
                if (c->count_to_us != UINT64_MAX && c->count_to_us > s.now)
                        advance(&s, c->count_to_us); /* replicas stay allocated to the end */
                figures(&s, ret);
        }
        sim_done(&s);
        return r;
}

void sim_config_defaults(sim_config *c)
{
        *c = (sim_config){.node_millicores = 2000,
                          .slo_ms = 1000,
                          .count_to_us = UINT64_MAX,
                          .seed = 1,
                          .noise = 1.0,
                          .interval_us = USEC,
                          .downscale_delay_us = 5 * USEC,
                          .max_wait_us = USEC,
                          .solve_time_limit_ms = 200,
                          .policy = SIM_FULL};
}

static const char *const policy_names[] = {"static", "reactive", "horizontal", "vertical", "full"};

int sim_policy_from_name(const char *s, sim_policy *ret)
{
        for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
                if (s && strcmp(s, policy_names[i]) == 0) {
                        *ret = (sim_policy)i;
                        return 0;
                }
        return -EINVAL;
}

const char *sim_policy_name(sim_policy p)
{
        return (unsigned)p <= SIM_FULL ? policy_names[p] : "?";
}
