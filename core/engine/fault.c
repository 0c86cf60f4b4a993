/* core/engine/fault.c - fault injection for tests (docs/reliability.md): the
 * environment variable FX_FAULT="alloc:N", "write:N", "device_alloc:N" or
 * "build:N" (several comma-separated) makes the Nth allocation through
 * fx_malloc / fx_calloc, the Nth checkpoint write, the Nth device buffer
 * of a backend or the Nth kernel program build of a context fail as if
 * the machine had run out of memory, disk or device memory, or the
 * compiler had refused the program.
 * The counters live in the context (no global state); read once when the
 * context is made. Every error path then runs for real, so a test can
 * sweep N and check that each failure ends in a clear message, no leak
 * and an intact checkpoint. */
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"

static const char *const fault_names[FX_FAULT_KINDS] = { "alloc", "write", "device_alloc", "build" };

void fx_fault_init(fx_context *ctx)
{
    memset(&ctx->fault, 0, sizeof ctx->fault);
    const char *spec = getenv("FX_FAULT");
    while (spec && *spec) {
        for (int k = 0; k < FX_FAULT_KINDS; k++) {
            size_t n = strlen(fault_names[k]);
            if (!strncmp(spec, fault_names[k], n) && spec[n] == ':')
                ctx->fault.at[k] = strtoll(spec + n + 1, NULL, 10);
        }
        spec = strchr(spec, ',');
        if (spec)
            spec++;
    }
}

int fx_fault_hit(fx_context *ctx, fx_fault_kind kind)
{
    if (!ctx || ctx->fault.at[kind] <= 0)
        return 0;
    return ++ctx->fault.count[kind] == ctx->fault.at[kind];
}
