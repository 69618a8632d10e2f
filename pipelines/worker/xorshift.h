/* SPDX-License-Identifier: MIT */
/*
 * xorshift.h — the reference workers' random numbers: Marsaglia's xorshift64 (13, 7, 17), so
 * that the flops worker's weights and the fmnist trainer's initial weights and shuffles follow
 * from their seed alone. The state must not be 0. Header-only (inline): each program compiles it
 * with its own floating-point flags (the trainer's -ffp-contract=off).
 */
#pragma once

#include <stdint.h>

/* The next value of the generator; *s advances. */
static inline uint64_t xorshift64(uint64_t *s)
{
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

/* Uniform in [-1, 1): the top 53 bits of the next value. */
static inline float xorshift64_unit(uint64_t *s)
{
        return (float)((double)(xorshift64(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}
