/* test-capacity.c — HAProxy agent-check replies (agent/capacity.c) from literal signals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "agent/capacity.h"

static void reply_is(const CapacitySignal *s, const char *want)
{
        char buf[256];
        int n = capacity_format_agent(s, buf, sizeof(buf));

        assert_int_equal(n, (int)strlen(want));
        assert_string_equal(buf, want);
}

static void test_states(void **state)
{
        CapacitySignal s = {.state = CAPACITY_UP, .weight_pct = 150};

        (void)state;
        reply_is(&s, "up ready 150%\n");
        s.weight_pct = 0;
        reply_is(&s, "up ready 0%\n");
        s.state = CAPACITY_DRAIN;
        reply_is(&s, "up drain\n");
        s.state = CAPACITY_DOWN;
        strcpy(s.why, "stage classify: starting: no worker has said READY yet");
        reply_is(&s, "down#stage classify: starting: no worker has said READY yet\n");
        s.state = CAPACITY_MAINT;
        strcpy(s.why, "no pipeline x on this node");
        reply_is(&s, "maint#no pipeline x on this node\n");
        assert_string_equal(capacity_state_name(CAPACITY_DRAIN), "drain");
}

static void test_short_buffer(void **state)
{
        CapacitySignal s = {.state = CAPACITY_UP, .weight_pct = 256};
        char buf[8];

        (void)state;
        assert_int_equal(capacity_format_agent(&s, buf, sizeof(buf)), -ENOBUFS);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_states),
            cmocka_unit_test(test_short_buffer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
