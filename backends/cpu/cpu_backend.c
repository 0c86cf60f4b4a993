/* backends/cpu/cpu_backend.c - the CPU backend: host buffers (64-byte
 * aligned for AVX-512), copies, the thread pool, per-thread scratch and
 * the SIMD level detected once at creation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backends/cpu/cpu_backend.h"
#include "core/internal.h"

static cpu_backend *impl(const fx_backend *be) { return (cpu_backend *)be->impl; }

static fx_status cpu_buffer_alloc(fx_backend *be, size_t bytes, const char *what, fx_buffer **out)
{
    *out = NULL;
    fx_buffer *buf = calloc(1, sizeof *buf);
    size_t rounded = (bytes + 63) / 64 * 64;
    void *mem = NULL;
    if (!buf || posix_memalign(&mem, 64, rounded ? rounded : 64) != 0) {
        free(buf);
        return fx_fail(be->ctx, FX_ERR_NOMEM, "out of host memory: %s needs %zu bytes; try a smaller batch",
                       what ? what : "a tensor", bytes);
    }
    buf->backend = be;
    buf->host = mem;
    buf->size = bytes;
    *out = buf;
    return FX_OK;
}

static void cpu_buffer_free(fx_backend *be, fx_buffer *buf)
{
    if (!buf)
        return;
    free(buf->host);
    free(buf);
}

static fx_status check_range(fx_backend *be, const fx_tensor *t, size_t offset, size_t bytes)
{
    if (!t->buffer || t->offset + offset + bytes > t->buffer->size)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "tensor copy out of bounds (%zu + %zu bytes)", offset, bytes);
    return FX_OK;
}

static fx_status cpu_tensor_write(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes)
{
    fx_status st = check_range(be, t, offset, bytes);
    if (st == FX_OK && bytes)
        memcpy((char *)t->buffer->host + t->offset + offset, src, bytes);
    return st;
}

static fx_status cpu_tensor_read(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes)
{
    fx_status st = check_range(be, t, offset, bytes);
    if (st == FX_OK && bytes)
        memcpy(dst, (const char *)t->buffer->host + t->offset + offset, bytes);
    return st;
}

static fx_status cpu_tensor_zero(fx_backend *be, fx_tensor *t)
{
    size_t bytes = fx_tensor_bytes(t);
    fx_status st = check_range(be, t, 0, bytes);
    if (st == FX_OK)
        memset((char *)t->buffer->host + t->offset, 0, bytes);
    return st;
}

static fx_status cpu_tensor_copy(fx_backend *be, fx_tensor *dst, const fx_tensor *src)
{
    size_t bytes = fx_tensor_bytes(src);
    fx_status st = check_range(be, dst, 0, bytes);
    if (st == FX_OK)
        memmove((char *)dst->buffer->host + dst->offset, (const char *)src->buffer->host + src->offset, bytes);
    return st;
}

static fx_status cpu_tensor_fill(fx_backend *be, fx_tensor *t, float value, size_t first, size_t count)
{
    fx_status st = check_range(be, t, first * sizeof(float), count * sizeof(float));
    float *p = st == FX_OK ? (float *)((char *)t->buffer->host + t->offset) + first : NULL;
    for (size_t i = 0; p && i < count; i++)
        p[i] = value;
    return st;
}

static fx_status cpu_synchronize(fx_backend *be) { return FX_OK; }

static void cpu_destroy(fx_backend *be)
{
    cpu_backend *c = impl(be);
    if (c) {
        cpu_thread_pool_destroy(c->pool);
        for (int i = 0; c->scratch && i < c->threads; i++)
            free(c->scratch[i]);
        free(c->scratch);
        free(c->scratch_floats);
        free(c);
    }
    free(be);
}

static const fx_backend_ops cpu_ops = {
    .struct_size = sizeof(fx_backend_ops),
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .tensor_write = cpu_tensor_write,
    .tensor_read = cpu_tensor_read,
    .tensor_zero = cpu_tensor_zero,
    .tensor_copy = cpu_tensor_copy,
    .synchronize = cpu_synchronize,
    .destroy = cpu_destroy,
    /* The CPU's copies are done when they return: the blocking ones serve. */
    .tensor_write_async = cpu_tensor_write,
    .tensor_read_async = cpu_tensor_read,
    .tensor_fill = cpu_tensor_fill,
};

static fx_simd_level detect_simd(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const char *force = getenv("FX_SIMD"); /* "scalar", "avx2": test the fallbacks */
    if (force && !strcmp(force, "scalar"))
        return FX_SIMD_SCALAR;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && !(force && !strcmp(force, "avx2")))
        return FX_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FX_SIMD_AVX2;
#endif
    return FX_SIMD_SCALAR;
}

fx_status fx_cpu_backend_create(fx_context *ctx, fx_backend **out)
{
    *out = NULL;
    fx_backend *be = fx_calloc(ctx, 1, sizeof *be, "the CPU backend");
    if (!be)
        return FX_ERR_NOMEM;
    cpu_backend *c = fx_calloc(ctx, 1, sizeof *c, "the CPU backend");
    if (!c) {
        free(be);
        return FX_ERR_NOMEM;
    }
    be->struct_size = sizeof *be;
    snprintf(be->name, sizeof be->name, "cpu");
    be->ops = &cpu_ops;
    be->ctx = ctx;
    be->impl = c;
    int threads = ctx->options.threads;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 256)
        threads = 256;
    c->threads = threads;
    c->simd = detect_simd();
    static const char *const simd_names[] = { "scalar", "AVX2", "AVX-512" };
    snprintf(be->device_name, sizeof be->device_name, "CPU, %d thread%s, %s", threads, threads > 1 ? "s" : "",
             simd_names[c->simd]);
    c->scratch = calloc((size_t)threads, sizeof *c->scratch);
    c->scratch_floats = calloc((size_t)threads, sizeof *c->scratch_floats);
    fx_status st = (!c->scratch || !c->scratch_floats) ? fx_fail(ctx, FX_ERR_NOMEM, "out of memory for CPU scratch")
                                                        : cpu_thread_pool_create(ctx, threads, &c->pool);
    if (st != FX_OK) {
        cpu_destroy(be);
        return st;
    }
    *out = be;
    return FX_OK;
}

void fx_cpu_parallel_for(fx_backend *cpu, int64_t n, int64_t grain, fx_cpu_range_fn fn, void *arg)
{
    cpu_thread_pool_run(impl(cpu)->pool, n, grain, fn, arg);
}

int fx_cpu_threads(const fx_backend *cpu) { return impl(cpu)->threads; }
fx_simd_level fx_cpu_simd_level(const fx_backend *cpu) { return impl(cpu)->simd; }

size_t fx_cpu_scratch_bytes(const fx_backend *cpu)
{
    const cpu_backend *c = impl(cpu);
    size_t total = 0;
    for (int t = 0; c->scratch_floats && t < c->threads; t++)
        total += c->scratch_floats[t] * sizeof(float);
    return total;
}

float *fx_cpu_scratch(fx_backend *cpu, int thread, size_t floats)
{
    cpu_backend *c = impl(cpu);
    if (thread < 0 || thread >= c->threads)
        return NULL;
    if (c->scratch_floats[thread] < floats) {
        free(c->scratch[thread]);
        c->scratch[thread] = NULL;
        c->scratch_floats[thread] = 0;
        void *mem = NULL;
        if (posix_memalign(&mem, 64, ((floats * sizeof(float)) + 63) / 64 * 64) != 0) {
            fx_fail(cpu->ctx, FX_ERR_NOMEM, "out of memory for %zu floats of CPU scratch", floats);
            return NULL;
        }
        c->scratch[thread] = mem;
        c->scratch_floats[thread] = floats;
    }
    return c->scratch[thread];
}
