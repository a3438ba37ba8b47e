/*
 * file.c — whole-file access: read-only mmap, read into memory, atomic write through a
 * temporary file and rename, and the growable buffer the writers fill.
 */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static sdc_status open_regular(sdc_context *ctx, const char *path, int *fd_out, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: too large to map", path);
    }
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return SDC_STATUS_OK;
}

sdc_status sdc_file_map(sdc_context *ctx, const char *path, sdc_mapped_file *out)
{
    memset(out, 0, sizeof *out);
    int fd = -1;
    size_t size = 0;
    sdc_status st = open_regular(ctx, path, &fd, &size);
    if (st != SDC_STATUS_OK)
        return st;
    out->path = sdc_strdup(ctx, path);
    if (!out->path) {
        close(fd);
        return sdc_fail_oom(ctx, "a file name", strlen(path) + 1);
    }
    if (size > 0) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            sdc_free(ctx, out->path);
            out->path = NULL;
            return sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot map %zu bytes: %s", path, size,
                            strerror(e));
        }
        out->data = p;
        out->size = size;
    }
    close(fd);
    return SDC_STATUS_OK;
}

void sdc_file_unmap(sdc_context *ctx, sdc_mapped_file *file)
{
    if (!file)
        return;
    if (file->data)
        munmap((void *)file->data, file->size);
    sdc_free(ctx, file->path);
    memset(file, 0, sizeof *file);
}

sdc_status sdc_file_read_all(sdc_context *ctx, const char *path, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    int fd = -1;
    size_t n = 0;
    sdc_status st = open_regular(ctx, path, &fd, &n);
    if (st != SDC_STATUS_OK)
        return st;
    size_t bytes;
    char *buf = NULL;
    if (!sdc_size_add(n, 1, &bytes) || !(buf = sdc_malloc(ctx, bytes))) {
        close(fd);
        return sdc_fail_oom(ctx, path, n + 1);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            sdc_free(ctx, buf);
            return sdc_fail(ctx, SDC_STATUS_IO, "%s: read failed after %zu of %zu bytes%s%s",
                            path, got, n, e ? ": " : "", e ? strerror(e) : "");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return SDC_STATUS_OK;
}

sdc_status sdc_file_write_all(sdc_context *ctx, const char *path, const void *data, size_t size)
{
    size_t len = strlen(path);
    char *tmp = sdc_malloc(ctx, len + 32);
    if (!tmp)
        return sdc_fail_oom(ctx, "a file name", len + 32);
    snprintf(tmp, len + 32, "%s.tmp%ld", path, (long)getpid());
    sdc_status st = SDC_STATUS_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto free_tmp;
    }
    const unsigned char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, p + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = sdc_fail(ctx, SDC_STATUS_IO, "%s: write failed: %s", tmp,
                          w < 0 ? strerror(errno) : "no progress");
            goto close_fd;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto remove_tmp;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot rename into place: %s", path,
                      strerror(errno));
        goto remove_tmp;
    }
    sdc_free(ctx, tmp);
    return SDC_STATUS_OK;

close_fd:
    close(fd);
remove_tmp:
    unlink(tmp);
free_tmp:
    sdc_free(ctx, tmp);
    return st;
}

/* ---------------------------------------------------------------------------------------- */

void sdc_buf_init(sdc_buf *b, sdc_context *ctx)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
}

void sdc_buf_append(sdc_buf *b, const void *data, size_t len)
{
    if (b->failed || len == 0)
        return;
    size_t need;
    if (!sdc_size_add(b->len, len + 1, &need)) {
        b->failed = true;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (cap > SIZE_MAX / 2) {
                cap = need;
                break;
            }
            cap *= 2;
        }
        char *p = sdc_realloc(b->ctx, b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sdc_buf_append_str(sdc_buf *b, const char *s)
{
    sdc_buf_append(b, s, strlen(s));
}

void sdc_buf_printf(sdc_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        sdc_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = sdc_malloc(b->ctx, (size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sdc_buf_append(b, big, (size_t)n);
    sdc_free(b->ctx, big);
}

void sdc_buf_free(sdc_buf *b)
{
    sdc_free(b->ctx, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
