/* SPDX-License-Identifier: see LICENSE */
/*
 * Pure parsers, formatters and the millicore arithmetic: memory buffers in, values out. No I/O,
 * no global state, safe from any thread. Kernel files hold one value per line; where a parser reads
 * "a value" it reads the first line and ignores what follows it.
 */
#include "cgroups/cg-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *cg_mode_name(cg_mode mode)
{
        switch (mode) {
        case CG_MODE_NONE:
                return "none";
        case CG_MODE_V1:
                return "v1";
        case CG_MODE_V2:
                return "v2";
        }
        return "?";
}

/* ---- numbers ---- */

/* Parses an unsigned decimal at *p, advancing *p past it. Rejects signs and empty input. */
static int parse_u64_at(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

/* After a value: spaces/tabs, then end of text or a newline. */
static bool at_line_end(const char *s)
{
        while (*s == ' ' || *s == '\t' || *s == '\r')
                s++;
        return *s == '\0' || *s == '\n';
}

int cg_parse_u64(const char *text, uint64_t *ret)
{
        const char *p = text;
        uint64_t v;
        int r;

        if (!text || !ret)
                return -EINVAL;
        r = parse_u64_at(&p, &v);
        if (r < 0)
                return r;
        if (!at_line_end(p))
                return -EINVAL;
        *ret = v;
        return 0;
}

int cg_parse_i64(const char *text, int64_t *ret)
{
        const char *p = text;
        bool neg = false;
        uint64_t v;
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (*p == '-') {
                neg = true;
                p++;
        }
        r = parse_u64_at(&p, &v);
        if (r < 0)
                return r;
        if (!at_line_end(p))
                return -EINVAL;
        if (neg) {
                if (v > (uint64_t)INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        } else {
                if (v > (uint64_t)INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t)v;
        }
        return 0;
}

size_t cg__fmt_u64(char *buf, uint64_t v)
{
        char tmp[21];
        size_t n = 0, i;

        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        for (i = 0; i < n; i++)
                buf[i] = tmp[n - 1 - i];
        buf[n] = '\0';
        return n;
}

/* ---- cpu.max ---- */

int cg_parse_cpu_max(const char *text, uint64_t *ret_quota_us, uint64_t *ret_period_us)
{
        const char *p = text;
        uint64_t quota, period;
        int r;

        if (!text || !ret_quota_us || !ret_period_us)
                return -EINVAL;
        if (strncmp(p, "max", 3) == 0) {
                quota = CG_QUOTA_UNLIMITED;
                p += 3;
        } else {
                r = parse_u64_at(&p, &quota);
                if (r < 0)
                        return -EINVAL;
        }
        if (*p != ' ')
                return -EINVAL;
        p++;
        r = parse_u64_at(&p, &period);
        if (r < 0 || period == 0 || !at_line_end(p))
                return -EINVAL;
        *ret_quota_us = quota;
        *ret_period_us = period;
        return 0;
}

int cg_format_cpu_max(uint64_t quota_us, uint64_t period_us, char *buf, size_t size)
{
        char tmp[48];
        size_t n;

        if (!buf || period_us == 0)
                return -EINVAL;
        if (quota_us == CG_QUOTA_UNLIMITED) {
                memcpy(tmp, "max", 3);
                n = 3;
        } else {
                n = cg__fmt_u64(tmp, quota_us);
        }
        tmp[n++] = ' ';
        n += cg__fmt_u64(tmp + n, period_us);
        tmp[n++] = '\n';
        if (n + 1 > size)
                return -ENOBUFS;
        memcpy(buf, tmp, n);
        buf[n] = '\0';
        return (int)n;
}

/* ---- cpu.stat ---- */

int cg_parse_cpu_stat(const char *text, cg_stat *ret)
{
        cg_stat st = {0};
        const char *p = text;

        if (!text || !ret)
                return -EINVAL;
        while (*p) {
                const char *key = p, *sp;
                uint64_t v;
                size_t klen;

                if (*p == '\n') {
                        p++;
                        continue;
                }
                sp = p;
                while (*sp && *sp != ' ' && *sp != '\n')
                        sp++;
                if (*sp != ' ')
                        return -EINVAL;
                klen = (size_t)(sp - key);
                p = sp + 1;
                if (parse_u64_at(&p, &v) < 0 || !at_line_end(p))
                        return -EINVAL;
                while (*p && *p != '\n')
                        p++;
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, klen) == 0)
                if (KEY_IS("usage_usec"))
                        st.usage_us = v;
                else if (KEY_IS("nr_periods"))
                        st.nr_periods = v;
                else if (KEY_IS("nr_throttled"))
                        st.nr_throttled = v;
                else if (KEY_IS("throttled_usec"))
                        st.throttled_us = v;
                else if (KEY_IS("throttled_time")) /* v1: nanoseconds */
                        st.throttled_us = v / 1000;
#undef KEY_IS
        }
        *ret = st;
        return 0;
}

/* ---- /proc/self/cgroup ---- */

/* Is `name` one of the comma-separated entries of list[0..len)? */
static bool list_has(const char *list, size_t len, const char *name)
{
        size_t nlen = strlen(name);
        const char *end = list + len, *p = list;

        while (p < end) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                size_t elen = comma ? (size_t)(comma - p) : (size_t)(end - p);
                if (elen == nlen && memcmp(p, name, nlen) == 0)
                        return true;
                if (!comma)
                        break;
                p = comma + 1;
        }
        return false;
}

int cg_parse_proc_cgroup(const char *text, const char *controller, char **ret_path)
{
        const char *line = text;

        if (!text || !ret_path)
                return -EINVAL;
        while (*line) {
                const char *eol = strchr(line, '\n');
                const char *c1, *c2, *path;
                size_t len = eol ? (size_t)(eol - line) : strlen(line);
                bool match;

                if (len == 0) {
                        line = eol ? eol + 1 : line + len;
                        continue;
                }
                /* "<id>:<controllers>:<path>"; the path may itself contain ':' */
                c1 = memchr(line, ':', len);
                if (!c1)
                        return -EINVAL;
                c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
                if (!c2)
                        return -EINVAL;
                path = c2 + 1;
                if (controller)
                        match = list_has(c1 + 1, (size_t)(c2 - c1 - 1), controller);
                else
                        match = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
                if (match) {
                        size_t plen = len - (size_t)(path - line);
                        char *s;

                        if (plen == 0 || path[0] != '/')
                                return -EINVAL;
                        s = strndup(path, plen);
                        if (!s)
                                return -ENOMEM;
                        *ret_path = s;
                        return 0;
                }
                line = eol ? eol + 1 : line + len;
        }
        return -ENOENT;
}

/* ---- mounts ---- */

/* Decodes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static char *unescape_field(const char *s, size_t len)
{
        char *out = malloc(len + 1), *o = out;
        size_t i;

        if (!out)
                return NULL;
        for (i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        *o++ =
                            (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
                        i += 3;
                } else {
                        *o++ = s[i];
                }
        }
        *o = '\0';
        return out;
}

/* Splits line[0..len) on spaces into at most max fields; returns the count. */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *flen, size_t max)
{
        size_t n = 0, i = 0;

        while (i < len && n < max) {
                size_t start;

                while (i < len && line[i] == ' ')
                        i++;
                if (i >= len)
                        break;
                start = i;
                while (i < len && line[i] != ' ')
                        i++;
                f[n] = line + start;
                flen[n] = i - start;
                n++;
        }
        return n;
}

static int set_once(char **slot, const char *s, size_t len)
{
        if (*slot)
                return 0; /* the first mount of a controller wins, as the kernel lists it */
        *slot = unescape_field(s, len);
        return *slot ? 0 : -ENOMEM;
}

/* One mount: fstype, mount point, super options (v1 controllers live there). */
static int note_mount(cg_mounts *m, const char *fstype, size_t ftlen, const char *mnt, size_t mlen,
                      const char *opts, size_t olen)
{
        int r;

        if (ftlen == 7 && memcmp(fstype, "cgroup2", 7) == 0)
                return set_once(&m->unified, mnt, mlen);
        if (!(ftlen == 6 && memcmp(fstype, "cgroup", 6) == 0))
                return 0;
        if (list_has(opts, olen, "cpu")) {
                r = set_once(&m->cpu_v1, mnt, mlen);
                if (r < 0)
                        return r;
        }
        if (list_has(opts, olen, "cpuacct"))
                return set_once(&m->cpuacct_v1, mnt, mlen);
        return 0;
}

int cg_parse_mounts(const char *text, cg_mounts *ret)
{
        cg_mounts m = {0};
        const char *line = text;
        int r = 0;

        if (!text || !ret)
                return -EINVAL;
        while (*line) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t)(eol - line) : strlen(line);
                const char *f[32];
                size_t fl[32], n;

                n = split_fields(line, len, f, fl, 32);
                if (n == 0)
                        goto next;
                if (n >= 7) {
                        /* mountinfo: id parent maj:min root mountpoint opts [optional...] - fstype
                         * source superopts */
                        size_t sep;
                        for (sep = 6; sep < n; sep++)
                                if (fl[sep] == 1 && f[sep][0] == '-')
                                        break;
                        if (sep < n) {
                                if (sep + 3 >= n) {
                                        r = -EINVAL;
                                        break;
                                }
                                r = note_mount(&m, f[sep + 1], fl[sep + 1], f[4], fl[4], f[sep + 3],
                                               fl[sep + 3]);
                                if (r < 0)
                                        break;
                                goto next;
                        }
                }
                /* /proc/mounts: source mountpoint fstype options dump pass */
                if (n < 4) {
                        if ((n >= 3 && ((fl[2] == 6 && memcmp(f[2], "cgroup", 6) == 0) ||
                                        (fl[2] == 7 && memcmp(f[2], "cgroup2", 7) == 0)))) {
                                r = -EINVAL;
                                break;
                        }
                        goto next;
                }
                r = note_mount(&m, f[2], fl[2], f[1], fl[1], f[3], fl[3]);
                if (r < 0)
                        break;
        next:
                line = eol ? eol + 1 : line + len;
        }
        if (r < 0) {
                cg_mounts_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

void cg_mounts_done(cg_mounts *m)
{
        if (!m)
                return;
        free(m->cpu_v1);
        free(m->cpuacct_v1);
        free(m->unified);
        m->cpu_v1 = m->cpuacct_v1 = m->unified = NULL;
}

/* ---- millicores ---- */

uint32_t cg_min_millicores(uint32_t period_us)
{
        if (period_us == 0)
                return UINT32_MAX;
        /* the smallest m with round(m * period / 1000) >= CG_QUOTA_MIN_US, i.e.
         * m >= (CG_QUOTA_MIN_US - 0.5) * 1000 / period: ceil((1000 * MIN - 500) / period) */
        return (uint32_t)(((uint64_t)CG_QUOTA_MIN_US * 1000 - 500 + period_us - 1) / period_us);
}

int cg_millicores_to_quota(uint32_t millicores, uint32_t period_us, uint32_t capacity_millicores,
                           uint64_t *ret_quota_us)
{
        uint64_t quota;

        if (!ret_quota_us || period_us < CG_PERIOD_MIN_US || period_us > CG_PERIOD_MAX_US)
                return -EINVAL;
        if (millicores == CG_MILLICORES_UNLIMITED) {
                *ret_quota_us = CG_QUOTA_UNLIMITED;
                return 0;
        }
        if (millicores == 0 || millicores > capacity_millicores)
                return -ERANGE;
        /* Round to the nearest microsecond, ties up; exact whenever period_us is a multiple of
         * 1000. The bounds apply to the rounded quota, the value the kernel gets. 64-bit: at most
         * (2^32) * 10^6 + 500 < 2^63. */
        quota = ((uint64_t)millicores * period_us + 500) / 1000;
        if (quota < CG_QUOTA_MIN_US)
                return -ERANGE;
        *ret_quota_us = quota;
        return 0;
}

int cg_quota_to_millicores(uint64_t quota_us, uint64_t period_us, uint32_t *ret_millicores)
{
        uint64_t m;

        if (!ret_millicores || period_us == 0)
                return -EINVAL;
        if (quota_us == CG_QUOTA_UNLIMITED) {
                *ret_millicores = CG_MILLICORES_UNLIMITED;
                return 0;
        }
        if (quota_us > (UINT64_MAX - period_us / 2) / 1000)
                return -ERANGE;
        m = (quota_us * 1000 + period_us / 2) / period_us;
        if (m >= CG_MILLICORES_UNLIMITED)
                return -ERANGE;
        *ret_millicores = (uint32_t)m;
        return 0;
}
