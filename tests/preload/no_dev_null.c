/* tests/preload/no_dev_null.c - an LD_PRELOAD shim for tests: fopen (and
 * fopen64) of "/dev/null" fail with EMFILE, as they do in a process out
 * of file descriptors; every other path goes to the C library's fopen.
 * test_fxrun uses it to check that `fxrun train -q` stays quiet without
 * being able to open /dev/null. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *refuse_dev_null(const char *symbol, const char *path, const char *mode)
{
    if (path && strcmp(path, "/dev/null") == 0) {
        errno = EMFILE;
        return NULL;
    }
    fopen_fn real;
    void *sym = dlsym(RTLD_NEXT, symbol);
    memcpy(&real, &sym, sizeof real); /* object to function pointer without a cast warning */
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return real(path, mode);
}

FILE *fopen(const char *path, const char *mode) { return refuse_dev_null("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return refuse_dev_null("fopen64", path, mode); }
