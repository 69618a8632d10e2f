/* fuzz-node-config.c — libFuzzer target for the node config parser (agent/nodeconf.c).
 *
 * node_config_load() reads a file, so the input is written to a memfd and loaded through
 * /proc/self/fd/N: the real function, file reading included. Checked: the contract of nodeconf.h
 * (0 or -EINVAL/-ENOMEM, a message on error, *ret untouched on error, every limit in range and
 * every string owned on success); leaks are caught by LeakSanitizer.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/nodeconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        NodeConfig c, untouched;
        char err[1024];
        int r;

        if (fd < 0) {
                fd = memfd_create("fuzz-node-config", MFD_CLOEXEC);
                assert(fd >= 0);
                r = snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                assert(r > 0 && (size_t)r < sizeof(path));
        }
        assert(ftruncate(fd, 0) == 0);
        assert(pwrite(fd, data, size, 0) == (ssize_t)size);

        memset(&c, 0xa5, sizeof(c));
        untouched = c;
        err[0] = '\0';
        r = node_config_load(path, &c, err, sizeof(err));
        if (r < 0) {
                assert(r == -EINVAL || r == -ENOMEM);
                assert(err[0] != '\0');
                assert(memcmp(&c, &untouched, sizeof(c)) == 0);
                return 0;
        }
        assert(r == 0);
        assert(c.n_listen >= 1 && c.n_listen <= NODE_CONFIG_MAX_LISTEN);
        for (size_t i = 0; i < c.n_listen; i++)
                assert(c.listen[i] && c.listen[i][0] != '\0');
        assert(c.pipelines_dir);
        assert(c.log_level >= 3 && c.log_level <= 7);
        assert(c.max_requests >= 1);
        node_config_done(&c);
        return 0;
}
