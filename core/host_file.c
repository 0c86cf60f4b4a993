/* core/host_file.c - small host helpers shared by the file formats
 * (checkpoints, .npy): byte order, and making a rename durable. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/internal.h"

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
