/* core/engine/context.c - the context: error buffer, op registry, backend table
 * (core/engine/backend_table.c) with the CPU backend, and the loaded plugins and
 * backend modules (core/engine/plugin.c). One lifetime for all of them:
 * fx_context_destroy frees the CPU backend, the registry and the table,
 * and unloads the plugins and modules last, since the registry and the
 * table point into their code and data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/internal.h"

fx_context_options fx_context_options_default(void)
{
    fx_context_options o;
    memset(&o, 0, sizeof o);
    o.threads = 0;
    o.seed = 1;
    o.verbose = 1;
    return o;
}

fx_status fx_context_create(const fx_context_options *options, fx_context **out, char *err, size_t err_size)
{
    *out = NULL;
    fx_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (err && err_size)
            snprintf(err, err_size, "out of memory creating the fx context");
        return FX_ERR_NOMEM;
    }
    ctx->options = options ? *options : fx_context_options_default();
    fx_fault_init(ctx);
    fx_registry_init(&ctx->registry);
    fx_status st = fx_register_builtin_ops(&ctx->registry);
    if (st == FX_OK) /* before any backend: backends add update kernels for them */
        st = fx_register_builtin_optimizers(&ctx->registry);
    /* The CPU backend registers like any other (its kernels come with
     * it); other backends are added by the program, by plugins, or by
     * their module when first asked for (fx_context_create_backend). */
    if (st == FX_OK)
        st = fx_context_add_backend(ctx, fx_cpu_backend_registration());
    if (st == FX_OK)
        st = fx_cpu_backend_create(ctx, &ctx->cpu);
    if (st != FX_OK) {
        if (err && err_size)
            snprintf(err, err_size, "%s", ctx->error);
        fx_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return FX_OK;
}

void fx_context_destroy(fx_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->cpu && ctx->cpu->ops->destroy)
        ctx->cpu->ops->destroy(ctx->cpu);
    fx_registry_free(&ctx->registry);
    fx_backend_table_free(ctx);
    fx_plugins_unload(ctx);
    free(ctx);
}

const char *fx_context_error(const fx_context *ctx) { return ctx->error; }
int fx_context_has_error(const fx_context *ctx) { return ctx->has_error; }

void fx_context_clear_error(fx_context *ctx)
{
    ctx->error[0] = 0;
    ctx->has_error = 0;
}

fx_status fx_failv(fx_context *ctx, fx_status status, const char *fmt, va_list ap)
{
    if (!ctx)
        return status;
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    ctx->has_error = 1;
    return status;
}

fx_status fx_fail(fx_context *ctx, fx_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fx_failv(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

fx_status fx_fail_prefix(fx_context *ctx, fx_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[FX_ERROR_MAX];
    memcpy(old, ctx->error, sizeof old);
    snprintf(ctx->error, sizeof ctx->error, "%s: %s", prefix, old);
    ctx->has_error = 1;
    return status;
}

fx_registry *fx_context_registry(fx_context *ctx) { return &ctx->registry; }
const fx_context_options *fx_context_get_options(const fx_context *ctx) { return &ctx->options; }
fx_backend *fx_context_cpu_backend(fx_context *ctx) { return ctx->cpu; }

void *fx_malloc(fx_context *ctx, size_t bytes, const char *what)
{
    int injected = fx_fault_hit(ctx, FX_FAULT_ALLOC);
    void *p = injected ? NULL : malloc(bytes ? bytes : 1);
    if (!p)
        fx_fail(ctx, FX_ERR_NOMEM, "out of memory allocating %zu bytes for %s%s", bytes, what,
                injected ? " (injected by FX_FAULT)" : "");
    return p;
}

void *fx_calloc(fx_context *ctx, size_t count, size_t size, const char *what)
{
    int injected = fx_fault_hit(ctx, FX_FAULT_ALLOC);
    void *p = injected ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        fx_fail(ctx, FX_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s%s", count, size, what,
                injected ? " (injected by FX_FAULT)" : "");
    return p;
}

double fx_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *fx_srcpos_str(fx_srcpos pos, char *buf, size_t size)
{
    if (pos.file && pos.line > 0)
        snprintf(buf, size, "%s:%d:%d", pos.file, pos.line, pos.col);
    else if (pos.file)
        snprintf(buf, size, "%s", pos.file);
    else
        buf[0] = 0;
    return buf;
}
