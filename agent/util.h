/* util.h — small helpers shared by the agent's files: cleanup attributes, time, number parsing.
 *
 * Invariants: every time value is uint64_t microseconds from CLOCK_MONOTONIC (names end in _us);
 * parse_* functions accept the whole string or fail with -EINVAL / -ERANGE and leave the output
 * untouched. Nothing here allocates except the buffer helpers, which grow geometrically.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL
#define NSEC_PER_USEC 1000ULL

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Hands ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

uint64_t now_us(void);

/* Parse a whole string as a number. Return 0, -EINVAL (not a number / trailing junk) or
 * -ERANGE; *ret untouched on failure. */
int parse_u64(const char *s, uint64_t *ret);
int parse_double(const char *s, double *ret);
/* "HOST:PORT" (IPv4) or "[V6]:PORT" into *ret (port in 1..65535). Returns 0 or -EINVAL. */
struct sockaddr_storage;
int parse_tcp_address(const char *spec, struct sockaddr_storage *ret);

/* A growable byte buffer. Fields: data (owned), len used, cap allocated. */
typedef struct Buf {
        uint8_t *data;
        size_t len;
        size_t cap;
} Buf;

/* Ensure room for `more` bytes past len. Returns 0 or -ENOMEM (buffer unchanged). */
int buf_reserve(Buf *b, size_t more);
int buf_append(Buf *b, const void *p, size_t n);
/* Drop the first n bytes (n <= len). */
void buf_consume(Buf *b, size_t n);
void buf_done(Buf *b);

/* Read a whole file (up to max bytes) into a NUL-terminated heap buffer. -EFBIG past max. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write a file atomically: a new temp file "PATH.tmp.PID.N" in the same directory (O_EXCL |
 * O_NOFOLLOW), fsync, rename, fsync of the directory. On error the temp file is removed and
 * PATH is untouched (except when only the final directory fsync failed). */
#define WRITE_ATOMIC_TMP_INFIX ".tmp."
int write_file_atomic(const char *path, const void *data, size_t len);
/* fsync of the directory holding path (after a rename or unlink in it). */
int fsync_parent_dir(const char *path);
