/* SPDX-License-Identifier: MIT */
/* The discrete-event simulation behind queueing.sim; see queueing-sim.h. */
#include "queueing-sim.h"

#include "queueing/queueing.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_req {
        sq_node node;
        uint64_t deadline_us;
        uint64_t arrival_us;
        struct sim_req *next_free;
};

struct sim {
        const struct sim_config *cfg;
        struct sim_result res;
        uint64_t rng;
        struct sim_req *pool;
        struct sim_req *free_list;
        /* SIM_EDF */
        sq_queue q;
        /* SIM_FIFO: ring of cfg->queue_capacity (owned array, borrowed requests) */
        struct sim_req **ring;
        uint32_t ring_head, ring_len;
        /* the server */
        struct sim_req **batch; /* cfg->batch_limit slots */
        uint32_t batch_n;
        bool busy;
        uint64_t busy_until_us;
        uint64_t wake_us;  /* UINT64_MAX: no timer */
        sq_node **scratch; /* cfg->batch_limit slots, for sq_take / sq_drop_hopeless */
};

static uint64_t rng_next(struct sim *s)
{
        s->rng ^= s->rng >> 12;
        s->rng ^= s->rng << 25;
        s->rng ^= s->rng >> 27;
        return s->rng * 0x2545f4914f6cdd1dull;
}

/* Uniform in (0, 1]. */
static double rng_unit(struct sim *s)
{
        return (double)((rng_next(s) >> 11) + 1) * 0x1.0p-53;
}

static uint64_t batch_us(const struct sim_config *cfg, uint32_t k)
{
        return cfg->batch_base_us + (uint64_t)k * cfg->batch_per_us;
}

/* The server is the whole pipeline here, so the estimate is its batch latency. */
static uint64_t sim_est(uint32_t batch, void *ud)
{
        return batch_us(ud, batch);
}

double sim_capacity_per_s(const struct sim_config *cfg)
{
        return (double)cfg->batch_limit * 1e6 / (double)batch_us(cfg, cfg->batch_limit);
}

static struct sim_req *req_alloc(struct sim *s)
{
        struct sim_req *r = s->free_list;
        s->free_list = r->next_free;
        *r = (struct sim_req){0};
        return r;
}

static void req_free(struct sim *s, struct sim_req *r)
{
        r->next_free = s->free_list;
        s->free_list = r;
}

static void start_batch(struct sim *s, uint64_t now_us)
{
        s->busy = true;
        s->busy_until_us = now_us + batch_us(s->cfg, s->batch_n);
        s->wake_us = UINT64_MAX;
        s->res.batches++;
}

static void dispatch_edf(struct sim *s, uint64_t now_us)
{
        const struct sim_config *cfg = s->cfg;
        void *ud = (void *)cfg;

        for (;;) {
                uint32_t k;
                while ((k = sq_drop_hopeless(&s->q, now_us, sim_est, ud, s->scratch,
                                             cfg->batch_limit)) > 0) {
                        s->res.dropped += k;
                        for (uint32_t i = 0; i < k; i++)
                                req_free(s, sq_container_of(s->scratch[i], struct sim_req, node));
                }
                while (!cfg->no_shed && (k = sq_shed(&s->q, now_us, cfg->batch_limit, sim_est, ud,
                                                     s->scratch, cfg->batch_limit)) > 0) {
                        s->res.shed += k;
                        for (uint32_t i = 0; i < k; i++)
                                req_free(s, sq_container_of(s->scratch[i], struct sim_req, node));
                }
                sq_decision d = sq_decide(&s->q, now_us, cfg->batch_limit, sim_est, ud, SQ_NO_CAP);
                switch (d.action) {
                case SQ_IDLE:
                        s->wake_us = UINT64_MAX;
                        return;
                case SQ_DROP:
                        continue;
                case SQ_WAIT: {
                        const sq_node *head = sq_peek(&s->q);
                        uint64_t latest_us = head->deadline_us - sim_est(sq_size(&s->q), ud);
                        if (d.wake_at_us > latest_us || d.wake_at_us <= now_us) {
                                s->res.late_waits++;
                                d.wake_at_us = now_us + 1;
                        }
                        s->wake_us = d.wake_at_us;
                        return;
                }
                case SQ_TAKE:
                        s->batch_n = sq_take(&s->q, d.k, s->scratch);
                        for (uint32_t i = 0; i < s->batch_n; i++) {
                                s->batch[i] = sq_container_of(s->scratch[i], struct sim_req, node);
                                if (now_us + sim_est(s->batch_n, ud) > s->batch[i]->deadline_us)
                                        s->res.violations++;
                        }
                        start_batch(s, now_us);
                        return;
                }
        }
}

static void dispatch_fifo(struct sim *s, uint64_t now_us)
{
        const struct sim_config *cfg = s->cfg;
        if (s->ring_len == 0) {
                s->wake_us = UINT64_MAX;
                return;
        }
        uint32_t k = s->ring_len < cfg->batch_limit ? s->ring_len : cfg->batch_limit;
        if (k < cfg->batch_limit) {
                uint64_t close_us = s->ring[s->ring_head]->arrival_us + cfg->fifo_timeout_us;
                if (now_us < close_us) {
                        s->wake_us = close_us;
                        return;
                }
        }
        for (uint32_t i = 0; i < k; i++) {
                s->batch[i] = s->ring[s->ring_head];
                s->ring_head = (s->ring_head + 1) % cfg->queue_capacity;
                s->ring_len--;
        }
        s->batch_n = k;
        start_batch(s, now_us);
}

static void arrive(struct sim *s, uint64_t now_us)
{
        const struct sim_config *cfg = s->cfg;
        struct sim_req *r = req_alloc(s);
        r->arrival_us = now_us;
        r->deadline_us = now_us + cfg->budgets_us[rng_next(s) % cfg->n_budgets];
        s->res.arrived++;
        if (cfg->policy == SIM_EDF) {
                if (sq_push(&s->q, &r->node, r->deadline_us, now_us) < 0) {
                        s->res.refused++;
                        req_free(s, r);
                }
                return;
        }
        if (s->ring_len == cfg->queue_capacity) {
                s->res.refused++;
                req_free(s, r);
                return;
        }
        s->ring[(s->ring_head + s->ring_len++) % cfg->queue_capacity] = r;
}

static void complete(struct sim *s)
{
        for (uint32_t i = 0; i < s->batch_n; i++) {
                if (s->busy_until_us <= s->batch[i]->deadline_us)
                        s->res.on_time++;
                else
                        s->res.missed++;
                req_free(s, s->batch[i]);
        }
        s->batch_n = 0;
        s->busy = false;
}

static uint64_t next_interarrival_us(struct sim *s)
{
        return (uint64_t)llround(-log(rng_unit(s)) / s->cfg->rate_per_s * 1e6);
}

static void run(struct sim *s)
{
        const struct sim_config *cfg = s->cfg;
        uint64_t next_arrival_us = next_interarrival_us(s);

        /* Arrivals stop at the end of the run; what arrived before is served to the end, so
         * that a policy that holds requests longer is not penalised by the cut-off. */
        for (;;) {
                uint64_t t_us = next_arrival_us;
                if (s->busy && s->busy_until_us < t_us)
                        t_us = s->busy_until_us;
                if (!s->busy && s->wake_us < t_us)
                        t_us = s->wake_us;
                if (t_us == UINT64_MAX)
                        break;
                if (s->busy && s->busy_until_us == t_us)
                        complete(s);
                if (next_arrival_us == t_us) {
                        arrive(s, t_us);
                        next_arrival_us = t_us + next_interarrival_us(s);
                        if (next_arrival_us >= cfg->duration_us)
                                next_arrival_us = UINT64_MAX;
                }
                if (!s->busy) {
                        if (cfg->policy == SIM_EDF)
                                dispatch_edf(s, t_us);
                        else
                                dispatch_fifo(s, t_us);
                }
        }
}

int sim_run(const struct sim_config *cfg, struct sim_result *ret_result)
{
        if (cfg->batch_limit == 0 || cfg->queue_capacity == 0 || cfg->n_budgets == 0 ||
            !(cfg->rate_per_s > 0) || cfg->queue_capacity == UINT32_MAX)
                return -EINVAL;

        struct sim s = {.cfg = cfg, .rng = cfg->seed | 1, .wake_us = UINT64_MAX};
        size_t pool_n = (size_t)cfg->queue_capacity + cfg->batch_limit + 1;
        int r = -ENOMEM;

        s.pool = calloc(pool_n, sizeof(*s.pool));
        s.batch = calloc(cfg->batch_limit, sizeof(*s.batch));
        s.scratch = calloc(cfg->batch_limit, sizeof(*s.scratch));
        if (cfg->policy == SIM_FIFO)
                s.ring = calloc(cfg->queue_capacity, sizeof(*s.ring));
        if (!s.pool || !s.batch || !s.scratch || (cfg->policy == SIM_FIFO && !s.ring))
                goto out;
        if (cfg->policy == SIM_EDF) {
                r = sq_queue_init(&s.q, cfg->queue_capacity);
                if (r < 0)
                        goto out;
        }
        for (size_t i = 0; i < pool_n; i++)
                req_free(&s, &s.pool[i]);

        run(&s);

        s.res.goodput_per_s = (double)s.res.on_time * 1e6 / (double)cfg->duration_us;
        s.res.mean_batch = s.res.batches ? (double)(s.res.on_time + s.res.missed + s.batch_n) /
                                               (double)s.res.batches
                                         : 0;
        *ret_result = s.res;
        r = 0;
out:
        sq_queue_done(&s.q);
        free(s.ring);
        free(s.scratch);
        free(s.batch);
        free(s.pool);
        return r;
}

/* Parses one whitespace-separated number of the log line at *p; advances *p. */
static int parse_field(char **p, double *ret)
{
        char *end;
        errno = 0;
        double v = strtod(*p, &end);
        if (errno != 0 || end == *p || !isfinite(v))
                return -EBADMSG;
        if (*end != '\0' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
                return -EBADMSG;
        *p = end;
        *ret = v;
        return 0;
}

static bool blank(const char *p)
{
        return p[strspn(p, " \t\r\n")] == '\0';
}

int sim_load_ghent_budgets(const char *path, uint64_t slo_us, uint64_t image_bytes,
                           uint64_t **ret_budgets, size_t *ret_n, unsigned *ret_bad_line)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;

        uint64_t *budgets = NULL;
        size_t n = 0, cap = 0;
        char *line = NULL;
        size_t line_cap = 0;
        unsigned lineno = 0;
        int r = 0;

        while (getline(&line, &line_cap, f) >= 0) {
                lineno++;
                if (blank(line))
                        continue;
                double v[6];
                char *p = line;
                for (int i = 0; i < 6 && r == 0; i++)
                        r = parse_field(&p, &v[i]);
                if (r == 0 && (!blank(p) || v[4] < 0 || !(v[5] > 0)))
                        r = -EBADMSG;
                if (r < 0) {
                        if (ret_bad_line)
                                *ret_bad_line = lineno;
                        goto out;
                }
                if (n == cap) {
                        size_t ncap = cap ? 2 * cap : 256;
                        uint64_t *nb = reallocarray(budgets, ncap, sizeof(*nb));
                        if (!nb) {
                                r = -ENOMEM;
                                goto out;
                        }
                        budgets = nb;
                        cap = ncap;
                }
                /* Network time of the image: bytes / (bytes per µs) at this second's rate. */
                double net_us = v[4] > 0 ? (double)image_bytes * v[5] * 1000.0 / v[4] : INFINITY;
                budgets[n++] = net_us >= (double)slo_us ? 0 : slo_us - (uint64_t)net_us;
        }
        if (ferror(f))
                r = -EIO;
        else if (n == 0)
                r = -ENODATA;
out:
        free(line);
        fclose(f);
        if (r < 0) {
                free(budgets);
                return r;
        }
        *ret_budgets = budgets;
        *ret_n = n;
        return 0;
}
