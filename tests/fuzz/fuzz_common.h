/* tests/fuzz/fuzz_common.h - what every fuzz target shares (header-only):
 * the readers under test take paths, so each input is written to a file in
 * a per-process folder (under /dev/shm when it exists, so it stays in
 * memory), and a quiet context. The harness keeps that folder's name in a
 * static: it is a test program, not libfx. */
#ifndef FX_FUZZ_COMMON_H
#define FX_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx/fx.h"

static char fuzz_dir[256];

static inline const char *fuzz_folder(void)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fxfuzz.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir))
            abort();
    }
    return fuzz_dir;
}

/* Writes data to <folder>/<name>; returns the path (static buffer per call
 * site is the caller's: out). */
static inline void fuzz_write(const char *name, const uint8_t *data, size_t size, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", fuzz_folder(), name);
    FILE *f = fopen(out, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
}

/* Splits an input at the first occurrence of `sep` (two files from one
 * input); the second part is empty when there is none. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const char *sep)
{
    size_t n = strlen(sep);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, sep, n) == 0)
            return i;
    return size;
}

static inline fx_context *fuzz_context(void)
{
    fx_context_options co = fx_context_options_default();
    co.threads = 1;
    co.verbose = 0;
    fx_context *ctx = NULL;
    char err[256];
    if (fx_context_create(&co, &ctx, err, sizeof err) != FX_OK)
        abort();
    return ctx;
}

#endif
