/* core/host_file.c - small host helpers shared by the file formats
 * (checkpoints, .npy, text reports): byte order, making a rename durable,
 * and writing a whole file atomically (fx/file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/internal.h"
#include "fx/file.h"

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
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot %s: %s (nothing was written; check space and permissions)", path,
                       what, strerror(err));
    }
    (void)fx_sync_parent_dir(path); /* best effort: the data is written and renamed */
    return FX_OK;
}
