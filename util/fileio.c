/* Whole-file reads with a size limit, and writes by temporary file and rename (fileio.h). */
#include "fileio.h"

#include "../include/adeadvm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(int status, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

static const char *shown(const char *path) { return strcmp(path, "-") ? path : "<stdin>"; }

/* ---- reading ---- */

/* read() until n bytes, end of file or an error; EINTR is retried. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int read_fd(int fd, const char *path, int regular, uint64_t file_size, size_t limit, fileio_head_check check,
                   unsigned char **bytes, size_t *size, char *err, size_t errlen)
{
    if (regular && file_size > limit)
        return fail(ADEAD_E_IO, err, errlen, "%s: file is %llu bytes, over the %zu-byte limit", path,
                    (unsigned long long)file_size, limit);
    /* A regular file in one go (+1 to see the end without growing); streams start with the head. */
    size_t cap = regular ? (size_t)file_size + 1 : FILEIO_HEAD_BYTES, used = 0;
    int head_checked = regular || !check;
    unsigned char *buf = malloc(cap);
    if (!buf) return fail(ADEAD_E_NOMEM, err, errlen, "%s: out of memory reading the file", path);
    for (;;) {
        ssize_t got = read_full(fd, buf + used, cap - used);
        if (got < 0) {
            int saved = errno;
            free(buf);
            return fail(ADEAD_E_IO, err, errlen, "%s: cannot read: %s", path, strerror(saved));
        }
        used += (size_t)got;
        int at_end = used < cap;
        if (!head_checked) {
            uint64_t total = 0;
            char why[300];
            if (check(buf, used, at_end, &total, why, sizeof why)) {
                free(buf);
                return fail(ADEAD_E_IO, err, errlen, "%s: %s", path, why);
            }
            if (total && total < limit) limit = (size_t)total;
            head_checked = 1;
        }
        if (used > limit) {
            free(buf);
            return fail(ADEAD_E_IO, err, errlen, "%s: more than the %zu bytes %s", path, limit,
                        check ? "this file may have" : "allowed");
        }
        if (at_end) break;
        size_t grown = cap > limit / 2 ? limit + 1 : cap * 2;
        unsigned char *bigger = realloc(buf, grown);
        if (!bigger) {
            free(buf);
            return fail(ADEAD_E_NOMEM, err, errlen, "%s: out of memory reading the file", path);
        }
        buf = bigger;
        cap = grown;
    }
    *bytes = buf;
    *size = used;
    return ADEAD_OK;
}

int fileio_text_head(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t whylen)
{
    (void)at_end;
    (void)max_total;
    const unsigned char *nul = memchr(head, 0, n);
    if (nul) return fail(-1, why, whylen, "not a text file: byte %zu is NUL", (size_t)(nul - head));
    return 0;
}

int fileio_read(const char *path, size_t limit, fileio_head_check check, unsigned char **bytes, size_t *size,
                char *err, size_t errlen)
{
    *bytes = NULL;
    *size = 0;
    int is_stdin = !strcmp(path, "-");
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY);
    if (fd < 0) return fail(ADEAD_E_IO, err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0)
        rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot read: %s", shown(path), strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot read: %s", shown(path), strerror(EISDIR));
    else
        rc = read_fd(fd, shown(path), S_ISREG(st.st_mode), (uint64_t)st.st_size, limit, check, bytes, size, err,
                     errlen);
    if (!is_stdin) close(fd);
    return rc;
}

/* ---- writing ---- */

struct fileio_out {
    int fd;
    int in_place;  /* stdout, a device or a FIFO: written directly, nothing to rename */
    int is_stdout;
    char *target;  /* what the temporary file is renamed to (a symbolic link's target, resolved) */
    char *temp;    /* NULL when in_place */
    const char *shown;
};

static char *dup_text(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

/* A fresh name beside target: "<dir>/.<base>.tmp-<pid>-<n>", created with O_EXCL (never an
 * existing file) and mode 0666 less the umask, as the file itself would have been. */
static int create_temp(fileio_out *o, char *err, size_t errlen)
{
    const char *slash = strrchr(o->target, '/');
    size_t dir_len = slash ? (size_t)(slash - o->target + 1) : 0;
    const char *base = o->target + dir_len;
    size_t cap = strlen(o->target) + 64;
    o->temp = malloc(cap);
    if (!o->temp) return fail(ADEAD_E_NOMEM, err, errlen, "%s: out of memory", o->shown);
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (unsigned)time(NULL) * 2654435761u;
        snprintf(o->temp, cap, "%.*s.%s.tmp-%ld-%08x", (int)dir_len, o->target, base, (long)getpid(), n);
        o->fd = open(o->temp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (o->fd >= 0) return ADEAD_OK;
        if (errno != EEXIST) break;
    }
    int saved = errno;
    free(o->temp);
    o->temp = NULL;
    return fail(ADEAD_E_IO, err, errlen, "%s: cannot create a temporary file beside it: %s", o->shown, strerror(saved));
}

/* Where a chain of symbolic links ends (a name that may not exist yet), malloc'd; NULL with errno. */
static char *follow_links(const char *path)
{
    char *cur = dup_text(path);
    for (int depth = 0; cur && depth < 40; depth++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) break;
        link[n] = 0;
        const char *slash = strrchr(cur, '/');
        size_t dir_len = link[0] != '/' && slash ? (size_t)(slash - cur + 1) : 0;
        char *next = malloc(dir_len + (size_t)n + 1);
        if (next) {
            memcpy(next, cur, dir_len);
            memcpy(next + dir_len, link, (size_t)n + 1);
        }
        free(cur);
        cur = next;
        if (depth == 39) errno = ELOOP;
    }
    free(cur);
    return NULL;
}

int fileio_out_open(const char *path, fileio_out **out, char *err, size_t errlen)
{
    *out = NULL;
    fileio_out *o = calloc(1, sizeof *o);
    if (!o) return fail(ADEAD_E_NOMEM, err, errlen, "%s: out of memory", path);
    o->fd = -1;
    o->shown = path;
    int rc = ADEAD_OK;
    struct stat st;
    if (!strcmp(path, "-")) {
        o->in_place = o->is_stdout = 1;
        o->fd = STDOUT_FILENO;
        o->shown = "<stdout>";
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot write: %s", path, strerror(EISDIR));
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->in_place = 1; /* a device or a FIFO: there is nothing to replace, and nothing to remove */
        o->fd = open(path, O_WRONLY);
        if (o->fd < 0) rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot open for writing: %s", path, strerror(errno));
    } else {
        o->target = follow_links(path); /* a link stays; what it points to is replaced */
        if (!o->target) rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot follow the symbolic link: %s", path, strerror(errno));
        if (!rc) rc = create_temp(o, err, errlen);
        /* An existing file keeps its permission bits. */
        if (!rc && stat(o->target, &st) == 0) (void)fchmod(o->fd, st.st_mode & 07777);
    }
    if (rc) {
        fileio_out_abort(o);
        return rc;
    }
    *out = o;
    return ADEAD_OK;
}

int fileio_out_write(fileio_out *o, const void *data, size_t n, char *err, size_t errlen)
{
    const unsigned char *p = data;
    while (n) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fail(ADEAD_E_IO, err, errlen, "%s: cannot write: %s", o->shown, w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
    return ADEAD_OK;
}

static void release(fileio_out *o)
{
    free(o->target);
    free(o->temp);
    free(o);
}

int fileio_out_commit(fileio_out *o, char *err, size_t errlen)
{
    int rc = ADEAD_OK;
    if (o->in_place) {
        if (!o->is_stdout && close(o->fd) != 0)
            rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot write: %s", o->shown, strerror(errno));
        release(o);
        return rc;
    }
    /* The bytes reach the disk before the name does, so a crash leaves the old file or the new one. */
    if (fsync(o->fd) != 0) rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot write: %s", o->shown, strerror(errno));
    if (close(o->fd) != 0 && !rc) rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot write: %s", o->shown, strerror(errno));
    o->fd = -1;
    if (!rc && rename(o->temp, o->target) != 0)
        rc = fail(ADEAD_E_IO, err, errlen, "%s: cannot replace it: %s", o->shown, strerror(errno));
    if (rc) unlink(o->temp);
    release(o);
    return rc;
}

void fileio_out_abort(fileio_out *o)
{
    if (!o) return;
    if (o->temp) {
        if (o->fd >= 0) close(o->fd);
        unlink(o->temp);
    } else if (o->fd >= 0 && !o->is_stdout) {
        close(o->fd);
    }
    release(o);
}

int fileio_write(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    fileio_out *o;
    int rc = fileio_out_open(path, &o, err, errlen);
    if (rc) return rc;
    rc = fileio_out_write(o, data, n, err, errlen);
    if (rc) {
        fileio_out_abort(o);
        return rc;
    }
    return fileio_out_commit(o, err, errlen);
}

int fileio_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, "-") || !strcmp(b, "-")) return 0;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
