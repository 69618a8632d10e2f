/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/unit/optimizer-data.h"

int optt_data_path(const char *name, char *buf, size_t len)
{
        const char *dir = getenv("SPONGE_SHARED_DATA");
        int n;

        if (dir && *dir)
                n = snprintf(buf, len, "%s/%s", dir, name);
        else if (getenv("SPONGE_SOURCE_DIR"))
                n = snprintf(buf, len, "%s/../shared/data/%s", getenv("SPONGE_SOURCE_DIR"), name);
        else
                n = snprintf(buf, len, "../shared/data/%s", name);
        if (n < 0 || (size_t)n >= len)
                return -ENAMETOOLONG;
        return access(buf, R_OK) == 0 ? 0 : -ENOENT;
}

static int parse_double(const char *s, double *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s)
                return -EBADMSG;
        while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
                end++;
        if (*end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int optt_read_trace(const char *path, size_t first, size_t max_lines, double **ret, size_t *ret_n)
{
        gzFile gz = gzopen(path, "rbe"); /* e: O_CLOEXEC */
        char line[128];
        double *v = NULL;
        size_t n = 0, cap = 0, lineno = 0;
        int r = 0;

        if (!gz)
                return errno == ENOENT ? -ENOENT : -EIO;
        gzbuffer(gz, 1 << 17);
        while (gzgets(gz, line, sizeof(line))) {
                double x;
                if (lineno++ < first)
                        continue;
                if (max_lines && n >= max_lines)
                        break;
                if (parse_double(line, &x) < 0 || !(x >= 0.0) || !isfinite(x)) {
                        r = -EBADMSG;
                        break;
                }
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 65536;
                        double *nv = realloc(v, nc * sizeof(double));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = nc;
                }
                v[n++] = x;
        }
        if (r == 0 && !gzeof(gz) && !(max_lines && n >= max_lines))
                r = -EIO;
        gzclose(gz);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Index of `name` among the comma-separated header fields, or -1. */
static int column(char *header, const char *name)
{
        int i = 0;
        for (char *save = NULL, *tok = strtok_r(header, ",\r\n", &save); tok;
             tok = strtok_r(NULL, ",\r\n", &save), i++)
                if (strcmp(tok, name) == 0)
                        return i;
        return -1;
}

/* The i-th field of a CSV line (fields may be empty) copied into out. */
static int field(const char *line, int i, char *out, size_t len)
{
        const char *p = line, *e;
        size_t n;

        for (; i > 0; i--) {
                p = strchr(p, ',');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        e = p + strcspn(p, ",\r\n");
        n = (size_t)(e - p);
        if (n >= len)
                return -EBADMSG;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
}

int optt_read_resnet(const char *path, optt_resnet *models, size_t max, size_t *ret_n)
{
        FILE *f = fopen(path, "re");
        char line[512], h1[512], h2[512], h3[512];
        int c_cpu, c_arch, c_batch, c_p99, c_sat, r = 0;
        size_t n = 0;

        if (!f)
                return errno == ENOENT ? -ENOENT : -EIO;
        if (!fgets(line, sizeof(line), f)) {
                fclose(f);
                return -EBADMSG;
        }
        memcpy(h1, line, sizeof(line));
        c_cpu = column(h1, "CPU");
        memcpy(h2, line, sizeof(line));
        c_arch = column(h2, "ARCH");
        memcpy(h3, line, sizeof(line));
        c_batch = column(h3, "BATCH");
        memcpy(h1, line, sizeof(line));
        c_p99 = column(h1, "p99_latency");
        memcpy(h2, line, sizeof(line));
        c_sat = column(h2, "saturation_tp");
        if (c_cpu < 0 || c_arch < 0 || c_batch < 0 || c_p99 < 0 || c_sat < 0) {
                fclose(f);
                return -EBADMSG;
        }
        while (r == 0 && fgets(line, sizeof(line), f)) {
                char a[64], cpu[64], b[64], p99[64], sat[64];
                double arch, cores, batch, lat, tp;
                optt_resnet *md;
                size_t m;
                if (field(line, c_arch, a, sizeof(a)) < 0 ||
                    field(line, c_cpu, cpu, sizeof(cpu)) < 0 ||
                    field(line, c_batch, b, sizeof(b)) < 0 ||
                    field(line, c_p99, p99, sizeof(p99)) < 0 ||
                    field(line, c_sat, sat, sizeof(sat)) < 0 || parse_double(a, &arch) < 0 ||
                    parse_double(cpu, &cores) < 0 || parse_double(b, &batch) < 0 ||
                    parse_double(sat, &tp) < 0 || !(cores > 0.0) || !(batch >= 1.0) ||
                    !(tp > 0.0)) {
                        r = -EBADMSG;
                        break;
                }
                for (m = 0; m < n && models[m].arch != (int)arch; m++)
                        ;
                if (m == n) {
                        if (n == max) {
                                r = -ENOBUFS;
                                break;
                        }
                        memset(&models[n], 0, sizeof(models[n]));
                        models[n++].arch = (int)arch;
                }
                md = &models[m];
                if (md->n_sat < sizeof(md->sat) / sizeof(md->sat[0])) {
                        md->sat[md->n_sat].batch = (uint32_t)batch;
                        md->sat[md->n_sat].millicores = (uint32_t)llround(cores * 1000.0);
                        md->sat[md->n_sat++].latency_ms = 1000.0 / tp;
                }
                if (p99[0] == '\0')
                        continue; /* no latency measured at this SLA */
                if (parse_double(p99, &lat) < 0 || !(lat > 0.0)) {
                        r = -EBADMSG;
                        break;
                }
                if (md->n_p99 < sizeof(md->p99) / sizeof(md->p99[0])) {
                        md->p99[md->n_p99].batch = (uint32_t)batch;
                        md->p99[md->n_p99].millicores = (uint32_t)llround(cores * 1000.0);
                        md->p99[md->n_p99++].latency_ms = lat;
                }
        }
        fclose(f);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}
