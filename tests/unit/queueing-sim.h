/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A discrete-event simulation of one stage server in front of which requests queue, used by
 * test-queueing to compare the module's policy (EDF + early drop + slack batching) with the
 * baseline the module replaces (FIFO + a fixed batch timeout, as Sponge's and IPA's code and
 * Triton's max_queue_delay do). The FIFO baseline lives here, not in the module.
 *
 * The clock is fake (µs, starts at 0); arrivals are Poisson; a batch of k takes a + k·c on the
 * one server; each request's budget is drawn from measured 4G throughput (Ghent bus log):
 * budget = SLO − image bytes / throughput. Requests arrive during [0, duration) and are all
 * served (or dropped) to the end; goodput = requests whose batch completed by their
 * deadline, per second of the arrival window.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sim_policy {
        SIM_EDF,  /* sq_queue + sq_drop_hopeless + sq_decide, SQ_NO_CAP */
        SIM_FIFO, /* arrival order, take b when b wait, else at oldest arrival + timeout */
};

struct sim_config {
        enum sim_policy policy;
        double rate_per_s;          /* Poisson arrival rate */
        uint64_t duration_us;       /* arrivals in [0, duration) */
        uint64_t batch_base_us;     /* a */
        uint64_t batch_per_us;      /* c */
        uint32_t batch_limit;       /* b */
        uint32_t queue_capacity;    /* both policies refuse arrivals past it */
        uint64_t fifo_timeout_us;   /* SIM_FIFO only */
        bool no_shed;               /* SIM_EDF without sq_shed, to show what it is for */
        const uint64_t *budgets_us; /* drawn uniformly per request */
        size_t n_budgets;
        uint64_t seed;
};

struct sim_result {
        uint64_t arrived;
        uint64_t on_time; /* completed by the deadline */
        uint64_t missed;  /* completed after the deadline */
        uint64_t dropped; /* early drop (EDF: sq_drop_hopeless) */
        uint64_t shed;    /* overload shedding (EDF: sq_shed) */
        uint64_t refused; /* queue full */
        uint64_t batches;
        uint64_t violations; /* EDF: a batch dispatched that the estimate said would miss */
        uint64_t late_waits; /* EDF: a wake-up set after the head's latest start */
        double goodput_per_s;
        double mean_batch;
};

/* Capacity of the server in requests/s: b / (a + b·c). */
double sim_capacity_per_s(const struct sim_config *cfg);

/* Runs one simulation. Returns 0, -EINVAL for a bad configuration, -ENOMEM. */
int sim_run(const struct sim_config *cfg, struct sim_result *ret_result);

/*
 * Reads a Ghent 4G log (columns: unix ms, elapsed ms, lat, lon, bytes, interval ms) and
 * turns each row into a budget: slo_us − image_bytes / (bytes per µs), floored at 0.
 * Returns 0 and a malloc'ed array in *ret_budgets (count in *ret_n); -errno on I/O errors,
 * -EBADMSG on a malformed line (its number in *ret_bad_line when not NULL).
 */
int sim_load_ghent_budgets(const char *path, uint64_t slo_us, uint64_t image_bytes,
                           uint64_t **ret_budgets, size_t *ret_n, unsigned *ret_bad_line);
