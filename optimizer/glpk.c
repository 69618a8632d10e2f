/* SPDX-License-Identifier: MIT */
/* The integer program in GLPK. README.md has the mathematics; in short:
 *  1. the stage-level IP's LP relaxation (simplex) gives Lagrange multipliers μ_p (latency of
 *     pipeline p) and ν (capacity) and, rounded, an incumbent plan;
 *  2. each pipeline's Pareto frontier of complete configurations (dp.c), pruned by dominance
 *     and by the Lagrangian bound against the incumbent — exact;
 *  3. the master IP — one frontier point per pipeline under the node's capacity — by GLPK's
 *     branch and bound.
 * With stage_ip (or when a frontier is too large) GLPK solves the stage-level IP directly. */
#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* GLPK's default relative objective tolerance (1e-7) lets branch and bound discard a node whose
 * bound beats the incumbent by less than that; plans must be optimal to 1e-9 (the tests
 * compare with the exact solver), so it is tightened for the master IP. */
#define TOL_OBJ 1e-11

typedef struct gctx {
        const opt_problem *pr;
        const opt__cands *c;
        uint32_t time_limit_ms;
        int stage_ip;
        size_t *choice;
        int optimal;
        /* Scratch owned here, freed by opt__solve_glpk whatever happened (also after a
         * fault, when GLPK's own objects are gone with its environment). */
        int *ia, *ja;
        double *ar;
        size_t *inc;       /* incumbent choice */
        size_t *alt;       /* the least-millicore choice */
        uint64_t *min_mc;  /* per pipeline: least millicores within its budget */
        opt__suffix *suf;  /* per pipeline: staircases of its Lagrangian subproblem */
        double *best;      /* per pipeline: its best Lagrangian value U_p */
        opt__frontier *fr; /* per pipeline */
} gctx;

static void on_glpk_error(void *info)
{
        /* GLPK calls this instead of abort(); its state is unusable afterwards and the only
         * way out is a longjmp followed by glp_free_env() (GLPK manual, glp_error_hook). */
        longjmp(*(jmp_buf *)info, 1);
}

static int alloc_nz(gctx *g, size_t nz)
{
        free(g->ia);
        free(g->ja);
        free(g->ar);
        g->ia = malloc(sizeof(int) * (nz + 1));
        g->ja = malloc(sizeof(int) * (nz + 1));
        g->ar = malloc(sizeof(double) * (nz + 1));
        return g->ia && g->ja && g->ar ? 0 : -ENOMEM;
}

/* ---- the stage-level model ----------------------------------------------------------------- */

/* Columns: x[s,k] per stage index and candidate (binary, or continuous in [0,1] for the LP).
 * Rows: per stage Σx = 1; per pipeline Σ lat·x / B <= 1 unless redundant; capacity
 * Σ mc·x / C <= 1 unless redundant. Sets *ret_lat_row[p] (0 = none) and *ret_cap_row. */
static int build_stage(glp_prob *lp, gctx *g, int binary, int *lat_row, int *ret_cap_row)
{
        const opt_problem *pr = g->pr;
        const opt__cands *c = g->c;
        size_t n_st = c->off[pr->n_pipelines], n_cols = 0, nz = 0;
        double sum_max_mc = 0.0, node = pr->node_millicores > 0 ? pr->node_millicores : 1.0;
        int col = 0, cap_row = 0, r;

        for (size_t i = 0; i < n_st; i++)
                n_cols += c->st[i].n;
        r = alloc_nz(g, 3 * n_cols);
        if (r < 0)
                return r;
        glp_set_obj_dir(lp, GLP_MAX);
        glp_add_cols(lp, (int)n_cols);
        glp_add_rows(lp, (int)n_st); /* row i + 1: choice of stage index i */
        for (size_t i = 0; i < n_st; i++) {
                double mmc = 0.0;
                glp_set_row_bnds(lp, (int)i + 1, GLP_FX, 1.0, 1.0);
                for (size_t k = 0; k < c->st[i].n; k++) {
                        const opt__cand *cd = &c->st[i].c[k];
                        col++;
                        if (binary)
                                glp_set_col_kind(lp, col, GLP_BV);
                        else
                                glp_set_col_bnds(lp, col, GLP_DB, 0.0, 1.0);
                        glp_set_obj_coef(lp, col, cd->objective);
                        nz++;
                        g->ia[nz] = (int)i + 1;
                        g->ja[nz] = col;
                        g->ar[nz] = 1.0;
                        mmc = fmax(mmc, (double)cd->mc_total);
                }
                sum_max_mc += mmc;
        }
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                const opt_pipeline *pl = &pr->pipelines[p];
                double max_lat = 0.0;
                lat_row[p] = 0;
                for (size_t s = 0; s < pl->n_stages; s++) {
                        const opt__stage_cands *sc = &c->st[c->off[p] + s];
                        double mx = 0.0;
                        for (size_t k = 0; k < sc->n; k++)
                                mx = fmax(mx, sc->c[k].latency_ms);
                        max_lat += mx;
                }
                if (max_lat <= pl->slo_budget_ms)
                        continue;
                lat_row[p] = glp_add_rows(lp, 1);
                glp_set_row_bnds(lp, lat_row[p], GLP_UP, 0.0, 1.0);
        }
        if (sum_max_mc > (double)pr->node_millicores) {
                cap_row = glp_add_rows(lp, 1);
                glp_set_row_bnds(lp, cap_row, GLP_UP, 0.0, (double)pr->node_millicores / node);
        }
        col = 0;
        for (size_t p = 0; p < pr->n_pipelines; p++)
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        const opt__stage_cands *sc = &c->st[c->off[p] + s];
                        for (size_t k = 0; k < sc->n; k++) {
                                col++;
                                if (lat_row[p]) {
                                        nz++;
                                        g->ia[nz] = lat_row[p];
                                        g->ja[nz] = col;
                                        g->ar[nz] =
                                            sc->c[k].latency_ms / pr->pipelines[p].slo_budget_ms;
                                }
                                if (cap_row) {
                                        nz++;
                                        g->ia[nz] = cap_row;
                                        g->ja[nz] = col;
                                        g->ar[nz] = (double)sc->c[k].mc_total / node;
                                }
                        }
                }
        glp_load_matrix(lp, (int)nz, g->ia, g->ja, g->ar);
        *ret_cap_row = cap_row;
        return 0;
}

/* Runs glp_intopt; returns 1 with *optimal set when a solution exists, 0 when infeasible,
 * -ETIMEDOUT, -EFAULT. */
static int intopt(glp_prob *lp, uint32_t time_limit_ms, double tol_obj, int *optimal)
{
        glp_iocp parm;
        int r, st;

        glp_init_iocp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        /* Without presolve glp_intopt needs an optimal LP basis first, else GLP_EROOT. */
        parm.presolve = GLP_ON;
        parm.tol_obj = tol_obj;
        parm.mip_gap = 0.0;
        if (time_limit_ms > 0)
                parm.tm_lim = time_limit_ms > INT32_MAX ? INT32_MAX : (int)time_limit_ms;
        r = glp_intopt(lp, &parm);
        st = glp_mip_status(lp);
        if (r == 0 || r == GLP_ETMLIM) {
                if (st == GLP_OPT || st == GLP_FEAS) {
                        *optimal = r == 0 && st == GLP_OPT;
                        return 1;
                }
                return r == GLP_ETMLIM ? -ETIMEDOUT : 0;
        }
        if (r == GLP_ENOPFS || r == GLP_ENODFS)
                return 0; /* presolve proved the LP relaxation (hence the IP) infeasible */
        return -EFAULT;
}

static int solve_stage_ip(gctx *g)
{
        const opt__cands *c = g->c;
        glp_prob *lp = glp_create_prob();
        int *lat_row = calloc(g->pr->n_pipelines, sizeof(int)), cap_row, r, col = 0;

        if (!lat_row) {
                glp_delete_prob(lp);
                return -ENOMEM;
        }
        r = build_stage(lp, g, 1, lat_row, &cap_row);
        if (r == 0)
                r = intopt(lp, g->time_limit_ms, TOL_OBJ, &g->optimal);
        if (r == 1)
                for (size_t i = 0; i < c->off[g->pr->n_pipelines]; i++)
                        for (size_t k = 0; k < c->st[i].n; k++)
                                if (glp_mip_col_val(lp, ++col) > 0.5)
                                        g->choice[i] = k;
        free(lat_row);
        glp_delete_prob(lp);
        return r;
}

/* Objective of a complete choice if it is feasible (exact check), else -INFINITY. */
static double choice_value(const opt_problem *pr, const opt__cands *c, const size_t *choice)
{
        uint64_t mc = 0;
        double obj = 0.0;

        for (size_t p = 0; p < pr->n_pipelines; p++) {
                double lat = 0.0, po = 0.0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        size_t i = c->off[p] + s;
                        const opt__cand *cd = &c->st[i].c[choice[i]];
                        lat += cd->latency_ms;
                        mc += cd->mc_total;
                        po += cd->objective;
                }
                if (!(lat <= pr->pipelines[p].slo_budget_ms))
                        return -INFINITY;
                obj += po;
        }
        return mc <= pr->node_millicores ? obj : -INFINITY;
}

/* Local search on a feasible choice: repeatedly apply the best improving change of one
 * stage's candidate, or of two stages of one pipeline together (latency moves between
 * stages), that keeps every constraint. Returns the final objective. */
static double improve(const opt_problem *pr, const opt__cands *c, size_t *choice)
{
        size_t np = pr->n_pipelines;
        double obj = 0.0, lat[OPT__DP_MAX_STAGES];
        uint64_t mc = 0;

        if (np > OPT__DP_MAX_STAGES)
                return choice_value(pr, c, choice);
        for (size_t p = 0; p < np; p++) {
                lat[p] = 0.0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        const opt__cand *cd = &c->st[c->off[p] + s].c[choice[c->off[p] + s]];
                        lat[p] += cd->latency_ms;
                        mc += cd->mc_total;
                        obj += cd->objective;
                }
        }
        for (int round = 0; round < 50; round++) {
                double best_gain = 1e-12 * fmax(1.0, fabs(obj));
                size_t bi = SIZE_MAX, bk = 0, bj = SIZE_MAX, bl = 0, bp = 0;
                for (size_t p = 0; p < np; p++) {
                        const opt_pipeline *pl = &pr->pipelines[p];
                        for (size_t s = 0; s < pl->n_stages; s++) {
                                size_t i = c->off[p] + s;
                                const opt__stage_cands *si = &c->st[i];
                                const opt__cand *ci = &si->c[choice[i]];
                                for (size_t t = s; t < pl->n_stages; t++) {
                                        size_t j = c->off[p] + t;
                                        const opt__stage_cands *sj = &c->st[j];
                                        const opt__cand *cj = &sj->c[choice[j]];
                                        for (size_t k = 0; k < si->n; k++) {
                                                const opt__cand *a = &si->c[k];
                                                double l1 = lat[p] - ci->latency_ms + a->latency_ms;
                                                double o1 = a->objective - ci->objective;
                                                uint64_t m1 = mc - ci->mc_total + a->mc_total;
                                                if (t == s) {
                                                        if (o1 > best_gain &&
                                                            l1 <= pl->slo_budget_ms &&
                                                            m1 <= pr->node_millicores) {
                                                                best_gain = o1;
                                                                bi = i, bk = k, bj = SIZE_MAX;
                                                                bp = p;
                                                        }
                                                        continue;
                                                }
                                                for (size_t l = 0; l < sj->n; l++) {
                                                        const opt__cand *b = &sj->c[l];
                                                        double o2 =
                                                            o1 + b->objective - cj->objective;
                                                        if (o2 <= best_gain)
                                                                continue;
                                                        if (l1 - cj->latency_ms + b->latency_ms >
                                                                pl->slo_budget_ms ||
                                                            m1 - cj->mc_total + b->mc_total >
                                                                pr->node_millicores)
                                                                continue;
                                                        best_gain = o2;
                                                        bi = i, bk = k, bj = j, bl = l, bp = p;
                                                }
                                        }
                                }
                        }
                }
                if (bi == SIZE_MAX)
                        break;
                choice[bi] = bk;
                if (bj != SIZE_MAX)
                        choice[bj] = bl;
                /* Recompute the sums exactly (no drift from incremental updates). */
                lat[bp] = 0.0;
                for (size_t s = 0; s < pr->pipelines[bp].n_stages; s++)
                        lat[bp] += c->st[c->off[bp] + s].c[choice[c->off[bp] + s]].latency_ms;
                mc = 0;
                obj = 0.0;
                for (size_t i = 0; i < c->off[np]; i++) {
                        mc += c->st[i].c[choice[i]].mc_total;
                        obj += c->st[i].c[choice[i]].objective;
                }
        }
        return choice_value(pr, c, choice);
}

/* Makes a latency-feasible choice fit the node: repeatedly applies the single-stage change
 * that keeps its pipeline within budget and frees the most millicores per unit of objective
 * lost, until the node suffices. Returns 1 on success, 0 if stuck. */
static int repair_capacity(const opt_problem *pr, const opt__cands *c, size_t *choice)
{
        size_t np = pr->n_pipelines;

        for (;;) {
                uint64_t mc = 0;
                double best = -INFINITY;
                size_t bi = SIZE_MAX, bk = 0;
                for (size_t i = 0; i < c->off[np]; i++)
                        mc += c->st[i].c[choice[i]].mc_total;
                if (mc <= pr->node_millicores)
                        return 1;
                for (size_t p = 0; p < np; p++) {
                        const opt_pipeline *pl = &pr->pipelines[p];
                        double lat = 0.0;
                        for (size_t s = 0; s < pl->n_stages; s++)
                                lat += c->st[c->off[p] + s].c[choice[c->off[p] + s]].latency_ms;
                        for (size_t s = 0; s < pl->n_stages; s++) {
                                size_t i = c->off[p] + s;
                                const opt__cand *cur = &c->st[i].c[choice[i]];
                                for (size_t k = 0; k < c->st[i].n; k++) {
                                        const opt__cand *a = &c->st[i].c[k];
                                        double score;
                                        if (a->mc_total >= cur->mc_total ||
                                            lat - cur->latency_ms + a->latency_ms >
                                                pl->slo_budget_ms)
                                                continue;
                                        score = (double)(cur->mc_total - a->mc_total) /
                                                (fmax(0.0, cur->objective - a->objective) + 1e-9);
                                        if (score > best) {
                                                best = score;
                                                bi = i;
                                                bk = k;
                                        }
                                }
                        }
                }
                if (bi == SIZE_MAX)
                        return 0;
                choice[bi] = bk;
        }
}

/* ---- step 3: the master IP ----------------------------------------------------------------- */

static int solve_master(gctx *g)
{
        const opt_problem *pr = g->pr;
        size_t np = pr->n_pipelines, n_cols = 0, nz = 0;
        double node = pr->node_millicores > 0 ? pr->node_millicores : 1.0, sum_max = 0.0;
        glp_prob *lp;
        int col = 0, cap_row = 0, r;

        for (size_t p = 0; p < np; p++) {
                if (g->fr[p].n_pts == 0)
                        return 0;
                n_cols += g->fr[p].n_pts;
                sum_max += (double)g->fr[p].pts[g->fr[p].n_pts - 1].mc;
        }
        r = alloc_nz(g, 2 * n_cols);
        if (r < 0)
                return r;
        lp = glp_create_prob();
        glp_set_obj_dir(lp, GLP_MAX);
        glp_add_cols(lp, (int)n_cols);
        glp_add_rows(lp, (int)np);
        if (sum_max > (double)pr->node_millicores) {
                cap_row = glp_add_rows(lp, 1);
                glp_set_row_bnds(lp, cap_row, GLP_UP, 0.0, (double)pr->node_millicores / node);
        }
        for (size_t p = 0; p < np; p++) {
                glp_set_row_bnds(lp, (int)p + 1, GLP_FX, 1.0, 1.0);
                for (size_t k = 0; k < g->fr[p].n_pts; k++) {
                        col++;
                        glp_set_col_kind(lp, col, GLP_BV);
                        glp_set_obj_coef(lp, col, g->fr[p].pts[k].obj);
                        nz++;
                        g->ia[nz] = (int)p + 1;
                        g->ja[nz] = col;
                        g->ar[nz] = 1.0;
                        if (cap_row) {
                                nz++;
                                g->ia[nz] = cap_row;
                                g->ja[nz] = col;
                                g->ar[nz] = (double)g->fr[p].pts[k].mc / node;
                        }
                }
        }
        glp_load_matrix(lp, (int)nz, g->ia, g->ja, g->ar);
        r = intopt(lp, g->time_limit_ms, TOL_OBJ, &g->optimal);
        if (r == 1) {
                col = 0;
                for (size_t p = 0; p < np; p++)
                        for (size_t k = 0; k < g->fr[p].n_pts; k++)
                                if (glp_mip_col_val(lp, ++col) > 0.5)
                                        opt__frontier_choice(g->c, p, &g->fr[p],
                                                             g->fr[p].pts[k].state, g->choice);
        }
        glp_delete_prob(lp);
        return r;
}

/* ---- the whole path ------------------------------------------------------------------------ */

/* Local search (improve) pays while a round is cheap: a tighter incumbent, smaller frontiers.
 * A round tries every pair of stages of a pipeline: Σ_p Σ_{s<t} K_s·K_t candidate pairs. */
#define IMPROVE_MAX_PAIRS 400000.0

static double improve_pairs(const opt_problem *pr, const opt__cands *c)
{
        double pairs = 0.0;

        for (size_t p = 0; p < pr->n_pipelines; p++) {
                double sum = 0.0, sq = 0.0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        double k = (double)c->st[c->off[p] + s].n;
                        sum += k;
                        sq += k * k;
                }
                pairs += 0.5 * (sum * sum - sq) + sum;
        }
        return pairs;
}

static int solve_decomposed(gctx *g)
{
        const opt_problem *pr = g->pr;
        const opt__cands *c = g->c;
        size_t np = pr->n_pipelines, n_st = c->off[np];
        uint64_t sum_min = 0;
        double nu = 0.0, incumbent, least, total;
        int r;

        /* Each pipeline's least millicores within its budget (exact, cheap): the problem is
         * feasible iff they fit together, and then those plans are a first incumbent. */
        for (size_t p = 0; p < np; p++) {
                g->min_mc[p] = opt__pipeline_min_mc(pr, c, p, g->alt);
                if (g->min_mc[p] == UINT64_MAX)
                        return 0;
                sum_min += g->min_mc[p];
        }
        if (sum_min > pr->node_millicores)
                return 0;
        least = choice_value(pr, c, g->alt);
        r = opt__capacity_multiplier(pr, c, &nu);
        if (r < 0)
                return r;
        /* Each pipeline's exact Lagrangian subproblem: its staircases, its best value U_p and
         * the choice reaching it (together: the incumbent, when it fits the node). */
        total = nu * (double)pr->node_millicores;
        for (size_t p = 0; p < np; p++) {
                const opt_pipeline *pl = &pr->pipelines[p];
                r = opt__suffix_build(pr, c, p, 1.0, nu, &g->suf[p]);
                if (r < 0)
                        return r;
                if (g->suf[p].layers[0].n == 0)
                        return 0; /* cannot happen: the pipeline fits alone */
                g->best[p] =
                    opt__suffix_best(&g->suf[p].layers[0], pl->slo_budget_ms * (1.0 + 1e-9) + 1e-9);
                total += g->best[p];
                opt__suffix_choice(c, p, &g->suf[p], pl->slo_budget_ms, g->inc);
        }
        incumbent = choice_value(pr, c, g->inc);
        if (!(incumbent > -INFINITY) && repair_capacity(pr, c, g->inc))
                incumbent = choice_value(pr, c, g->inc);
        if (!(incumbent >= least)) {
                memcpy(g->inc, g->alt, sizeof(size_t) * n_st);
                incumbent = least;
        }
        if (incumbent > -INFINITY && improve_pairs(pr, c) <= IMPROVE_MAX_PAIRS)
                incumbent = improve(pr, c, g->inc);
        for (size_t p = 0; p < np; p++) {
                opt__bound bd;
                bd.nu = nu;
                bd.suf = &g->suf[p];
                bd.others = total - g->best[p];
                bd.incumbent = incumbent;
                r = opt__pipeline_frontier(pr, c, p, 1, pr->node_millicores, sum_min - g->min_mc[p],
                                           &bd, &g->fr[p]);
                if (r < 0)
                        return r;
        }
        r = solve_master(g);
        if (r == 0 && isfinite(incumbent)) {
                /* Cannot happen (the incumbent's states survive every pruning); be safe. */
                memcpy(g->choice, g->inc, sizeof(size_t) * n_st);
                g->optimal = 0;
                r = 1;
        }
        return r;
}

static int run(gctx *g)
{
        int r;

        if (g->stage_ip)
                return solve_stage_ip(g);
        r = solve_decomposed(g);
        if (r == -E2BIG) {
                /* A frontier too large for memory: GLPK's branch and bound on the stage-level
                 * IP instead (bounded by the time limit). */
                for (size_t p = 0; p < g->pr->n_pipelines; p++)
                        opt__frontier_free(&g->fr[p]);
                r = solve_stage_ip(g);
        }
        return r;
}

int opt__solve_glpk(const opt_problem *pr, const opt__cands *c, uint32_t time_limit_ms,
                    int stage_ip, size_t *choice, int *ret_optimal)
{
        size_t n_st = c->off[pr->n_pipelines];
        /* On the heap: only the pointee changes after setjmp, so it is valid after longjmp. */
        gctx *volatile g = calloc(1, sizeof(gctx));
        jmp_buf jb;
        volatile int created;
        int r;

        if (!g)
                return -ENOMEM;
        g->pr = pr;
        g->c = c;
        g->time_limit_ms = time_limit_ms;
        g->stage_ip = stage_ip;
        g->choice = choice;
        g->optimal = 1;
        g->inc = calloc(n_st + 1, sizeof(size_t));
        g->alt = calloc(n_st + 1, sizeof(size_t));
        g->min_mc = calloc(pr->n_pipelines, sizeof(uint64_t));
        g->suf = calloc(pr->n_pipelines, sizeof(opt__suffix));
        g->best = calloc(pr->n_pipelines, sizeof(double));
        g->fr = calloc(pr->n_pipelines, sizeof(opt__frontier));
        if (!g->inc || !g->alt || !g->min_mc || !g->suf || !g->best || !g->fr) {
                r = -ENOMEM;
                goto out;
        }
        /* GLPK keeps its environment in thread-local storage: this thread's own. */
        r = glp_init_env();
        if (r > 1) {
                r = -ENOMEM;
                goto out;
        }
        created = r == 0;
        glp_term_out(GLP_OFF);
        if (setjmp(jb)) {
                /* A GLPK fault: its environment is corrupt; freeing it is the documented
                 * recovery (it takes every GLPK object with it). */
                glp_free_env();
                r = -EFAULT;
                goto out;
        }
        glp_error_hook(on_glpk_error, &jb);
        r = run(g);
        glp_error_hook(NULL, NULL);
        if (created)
                glp_free_env();
        if (r == 1)
                *ret_optimal = g->optimal;
out:
        free(g->ia);
        free(g->ja);
        free(g->ar);
        free(g->inc);
        free(g->alt);
        free(g->min_mc);
        for (size_t p = 0; g->suf && p < pr->n_pipelines; p++)
                opt__suffix_free(&g->suf[p]);
        free(g->suf);
        free(g->best);
        for (size_t p = 0; g->fr && p < pr->n_pipelines; p++)
                opt__frontier_free(&g->fr[p]);
        free(g->fr);
        free(g);
        return r;
}
