/*
 * agent.budget — the X-Sponge-* budget headers (agent/budget.c), on literal values.
 *
 * Accepted combinations and their budgets, every refusal with its message, and the inputs the
 * fuzzer (tests/fuzz/fuzz-budget.c) taught us: a budget under one µs is "no time left", never a
 * zero budget (tests/fuzz/corpus/budget/regress-*).
 */
#include "agent/budget.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define SLO_US 100000u /* the pipeline's SLO when no header gives one */

static int budget(const char *slo, const char *net, const char *dl, uint64_t *ret, char *err)
{
        return budget_from_headers(slo, net, dl, SLO_US, ret, err, 256);
}

static void test_accepted(void **state)
{
        uint64_t us = 0;
        char err[256] = "";

        assert_int_equal(budget(NULL, NULL, NULL, &us, err), 0);
        assert_int_equal(us, SLO_US);
        assert_int_equal(budget("250", NULL, NULL, &us, err), 0);
        assert_int_equal(us, 250000);
        assert_int_equal(budget("250", "40.5", NULL, &us, err), 0);
        assert_int_equal(us, 209500);
        assert_int_equal(budget(NULL, "40", NULL, &us, err), 0);
        assert_int_equal(us, 60000);
        assert_int_equal(budget(NULL, NULL, "0.001", &us, err), 0);
        assert_int_equal(us, 1);
        assert_int_equal(budget(NULL, NULL, "3600000", &us, err), 0);
        assert_int_equal(us, 3600000000u);
}

static void expect_refused(const char *slo, const char *net, const char *dl, int code,
                           const char *needle)
{
        uint64_t us = 12345;
        char err[256] = "";

        assert_int_equal(budget(slo, net, dl, &us, err), code);
        assert_int_equal(us, 12345); /* untouched */
        if (!strstr(err, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static void test_refused(void **state)
{
        expect_refused("1e3", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO ": expected milliseconds");
        expect_refused("0x10", NULL, NULL, -EINVAL, "0x10");
        expect_refused("", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO);
        expect_refused(" 1", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO);
        expect_refused("-1", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO);
        expect_refused(".", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO);
        expect_refused("1.2.3", NULL, NULL, -EINVAL, BUDGET_HEADER_SLO);
        expect_refused("3600000.5", NULL, NULL, -EINVAL, "[0, 3600000]");
        expect_refused(NULL, "abc", NULL, -EINVAL, BUDGET_HEADER_NETWORK);
        expect_refused(NULL, NULL, "inf", -EINVAL, BUDGET_HEADER_DEADLINE);
        expect_refused("0", NULL, NULL, -EINVAL, "must be greater than 0");
        expect_refused("100", NULL, "50", -EINVAL, "not both");
        expect_refused(NULL, "10", "50", -EINVAL, "not both");
        expect_refused("100", "100", NULL, -ETIME, "no time left");
        expect_refused(NULL, NULL, "0", -ETIME, "no time left");
}

static void test_long_value(void **state)
{
        char v[BUDGET_HEADER_VALUE_MAX + 2];

        memset(v, '1', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        expect_refused(v, NULL, NULL, -EINVAL, "...");
        v[BUDGET_HEADER_VALUE_MAX] = '\0'; /* exactly the limit: a number, but far too large */
        expect_refused(v, NULL, NULL, -EINVAL, "[0, 3600000]");
}

/* Found by fuzz-budget's contract check (0 < budget): budgets under one µs were accepted as a
 * budget of 0 µs, a request whose deadline was its arrival. */
static void test_below_one_microsecond(void **state)
{
        expect_refused(NULL, NULL, "0.0001", -ETIME, "no time left");
        expect_refused(NULL, NULL, "0.000999", -ETIME, "no time left");
        expect_refused("100.0001", "100", NULL, -ETIME, "no time left");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accepted),
            cmocka_unit_test(test_refused),
            cmocka_unit_test(test_long_value),
            cmocka_unit_test(test_below_one_microsecond),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
