/* core/io/host_file.c - small host helpers shared by the file formats
 * (checkpoints, .npy, text reports, graphs, images): byte order, making a
 * rename durable, writing a whole file atomically (fx/file.h), and opening
 * only regular files for reading. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/internal.h"
#include "fx/file.h"

/* O_NONBLOCK makes the open of a FIFO return at once (a blocking open
 * waits for a writer); the type is then checked on the descriptor itself,
 * so no other file can be swapped in between the check and the read. */
int fx_open_regular(const char *path, const char **why)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        *why = S_ISDIR(sb.st_mode)    ? "it is a folder, not a file"
               : S_ISFIFO(sb.st_mode) ? "it is a FIFO (named pipe), not a regular file"
               : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "it is a device, not a regular file"
               : S_ISSOCK(sb.st_mode) ? "it is a socket, not a regular file"
                                      : "it is not a regular file";
        close(fd);
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

FILE *fx_fopen_regular(const char *path, const char **why)
{
    int fd = fx_open_regular(path, why);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        *why = strerror(errno);
        close(fd);
    }
    return f;
}

int fx_host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* fsyncs the folder holding `path`, so a rename into it survives a power
 * loss. Returns 0 or the errno (file systems that cannot sync a folder,
 * EINVAL/ENOTSUP, count as success). */
int fx_sync_parent_dir(const char *path)
{
    char dir[FX_PATH_MAX + 1];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
        err = errno;
    close(fd);
    return err;
}

fx_status fx_file_commit(fx_context *ctx, FILE *f, const char *tmp, const char *path, const char *what, int err,
                         const char *noun, const char *detail)
{
    if (!what && fflush(f) != 0) {
        what = "flush";
        err = errno;
    }
    if (!what && fsync(fileno(f)) != 0) {
        what = "fsync";
        err = errno;
    }
    if (fclose(f) != 0 && !what) {
        what = "close";
        err = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        err = errno;
    }
    if (what) {
        unlink(tmp);
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot %s%s%s: %s (nothing was written; check space and permissions)",
                       path, what, noun ? " " : "", noun ? noun : "", detail && detail[0] ? detail : strerror(err));
    }
    (void)fx_sync_parent_dir(path); /* best effort: the data is written and renamed */
    return FX_OK;
}

fx_status fx_file_write_atomic(fx_context *ctx, const char *path, const void *data, size_t size)
{
    char tmp[FX_PATH_MAX + 64];
    int tn = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (tn < 0 || (size_t)tn >= sizeof tmp)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *what = NULL;
    int err = 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        what = "write";
        err = errno;
    }
    return fx_file_commit(ctx, f, tmp, path, what, err, NULL, NULL);
}

fx_status fx_read_whole_file(fx_context *ctx, const char *what, const char *path, unsigned char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    const char *why = "";
    FILE *f = fx_fopen_regular(path, &why);
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s '%s': cannot open: %s", what, path, why);
    struct stat sb;
    int stat_failed = fstat(fileno(f), &sb) != 0;
    if (stat_failed || !S_ISREG(sb.st_mode)) {
        int err = stat_failed ? errno : 0; /* a folder, a FIFO...: errno is stale, say nothing of it */
        fclose(f);
        return fx_fail(ctx, FX_ERR_IO, "%s '%s': not a regular file%s%s", what, path, err ? ": " : "",
                       err ? strerror(err) : "");
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = fx_malloc(ctx, n ? n : 1, what);
    if (!buf) {
        fclose(f);
        return FX_ERR_NOMEM;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int read_err = ferror(f);
    fclose(f);
    if (got != n || read_err) {
        free(buf);
        return fx_fail(ctx, FX_ERR_IO, "%s '%s': read %zu of %zu bytes%s", what, path, got, n,
                       read_err ? ": read error" : " (the file changed while reading)");
    }
    *data = buf;
    *size = n;
    return FX_OK;
}
