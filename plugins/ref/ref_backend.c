/* plugins/ref/ref_backend.c - "ref", a complete backend in a plugin: the
 * backend half of the plugin interface, and a debugging oracle.
 *
 * It owns its memory (plain malloc, no pool, no alignment tricks), copies
 * with memcpy, runs the optimiser updates as the plainest loops of the
 * formulas in core/ops/optimizers.c (as update kernels of "sgd" and "adam"
 * for "ref", fx/optim.h), and registers scalar kernels (ref_kernels.c)
 * for relu, linear, add, flatten and softmax_cross_entropy under the
 * backend name "ref". Sums run in double, on one thread, in a fixed order.
 * `fxrun train net.yaml --plugin ref --backend ref` runs a graph made of
 * those ops on it; comparing its losses and gradients with the CPU
 * backend's checks the optimised kernels against code simple enough to
 * verify by eye. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

FX_PLUGIN("ref", "1.0.0", "reference backend: scalar kernels, one thread, double sums (a debugging oracle)");

static fx_status ref_buffer_alloc(fx_backend *be, size_t bytes, const char *what, fx_buffer **out)
{
    *out = NULL;
    fx_buffer *buf = calloc(1, sizeof *buf);
    void *mem = malloc(bytes ? bytes : 1);
    if (!buf || !mem) {
        free(buf);
        free(mem);
        return fx_fail(be->ctx, FX_ERR_NOMEM, "ref backend: out of memory: %s needs %zu bytes",
                       what ? what : "a tensor", bytes);
    }
    buf->backend = be;
    buf->host = mem; /* kernels use fx_tensor_f32 */
    buf->size = bytes;
    *out = buf;
    return FX_OK;
}

static void ref_buffer_free(fx_backend *be, fx_buffer *buf)
{
    if (!buf)
        return;
    free(buf->host);
    free(buf);
}

static fx_status in_range(fx_backend *be, const fx_tensor *t, size_t offset, size_t bytes, const char *what)
{
    if (!t->buffer || t->buffer->backend != be)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "ref backend: %s of a tensor not allocated on this backend", what);
    if (t->offset + offset + bytes > t->buffer->size)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "ref backend: %s out of bounds (%zu + %zu bytes of %zu)", what,
                       t->offset + offset, bytes, t->buffer->size);
    return FX_OK;
}

static fx_status ref_tensor_write(fx_backend *be, fx_tensor *t, const void *src, size_t offset, size_t bytes)
{
    fx_status st = in_range(be, t, offset, bytes, "write");
    if (st == FX_OK && bytes)
        memcpy((char *)t->buffer->host + t->offset + offset, src, bytes);
    return st;
}

static fx_status ref_tensor_read(fx_backend *be, const fx_tensor *t, void *dst, size_t offset, size_t bytes)
{
    fx_status st = in_range(be, t, offset, bytes, "read");
    if (st == FX_OK && bytes)
        memcpy(dst, (const char *)t->buffer->host + t->offset + offset, bytes);
    return st;
}

static fx_status ref_tensor_zero(fx_backend *be, fx_tensor *t)
{
    size_t bytes = fx_tensor_bytes(t);
    fx_status st = in_range(be, t, 0, bytes, "zero");
    if (st == FX_OK)
        memset((char *)t->buffer->host + t->offset, 0, bytes);
    return st;
}

static fx_status ref_tensor_copy(fx_backend *be, fx_tensor *dst, const fx_tensor *src)
{
    size_t bytes = fx_tensor_bytes(src);
    fx_status st = in_range(be, dst, 0, bytes, "copy");
    if (st == FX_OK)
        st = in_range(be, src, 0, bytes, "copy");
    if (st == FX_OK)
        memmove((char *)dst->buffer->host + dst->offset, (const char *)src->buffer->host + src->offset, bytes);
    return st;
}

static fx_status same_size(fx_backend *be, const fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                           int n_state, int want)
{
    int64_t n = fx_tensor_numel(w);
    int ok = n_state == want && fx_tensor_numel(g) == n;
    for (int k = 0; ok && k < n_state; k++)
        ok = fx_tensor_numel(state[k]) == n;
    if (!ok)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "ref backend: optimiser tensors of different sizes or counts");
    return FX_OK;
}

/* g' = g + wd w;  v = momentum v + g';  w -= lr (nesterov ? g' + momentum v : v) */
static fx_status ref_sgd_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                int n_state, const fx_optim_hparams *hp)
{
    fx_status st = same_size(be, w, g, state, n_state, 1);
    if (st != FX_OK)
        return st;
    float *wp = fx_tensor_f32(w), *vp = fx_tensor_f32(state[0]);
    const float *gp = fx_tensor_f32(g);
    const float lr = hp->lr, momentum = hp->momentum, weight_decay = hp->weight_decay;
    const int64_t count = fx_tensor_numel(w);
    for (int64_t i = 0; i < count; i++) {
        float gi = gp[i] + weight_decay * wp[i];
        vp[i] = momentum * vp[i] + gi;
        wp[i] -= lr * (hp->nesterov ? gi + momentum * vp[i] : vp[i]);
    }
    return FX_OK;
}

/* g' = g + wd w;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 * w -= lr_t m / (sqrt(v) + eps_t), lr_t and eps_t from
 * fx_optim_adam_corrections (fx/optim.h) */
static fx_status ref_adam_update(fx_backend *be, fx_tensor *w, const fx_tensor *g, fx_tensor *const *state,
                                 int n_state, const fx_optim_hparams *hp)
{
    fx_status st = same_size(be, w, g, state, n_state, 2);
    if (st != FX_OK)
        return st;
    float *wp = fx_tensor_f32(w), *mp = fx_tensor_f32(state[0]), *vp = fx_tensor_f32(state[1]);
    const float *gp = fx_tensor_f32(g);
    const float beta1 = hp->beta1, beta2 = hp->beta2, weight_decay = hp->weight_decay;
    float lr_t, eps_t;
    fx_optim_adam_corrections(hp, &lr_t, &eps_t);
    const int64_t count = fx_tensor_numel(w);
    for (int64_t i = 0; i < count; i++) {
        float gi = gp[i] + weight_decay * wp[i];
        mp[i] = beta1 * mp[i] + (1.0f - beta1) * gi;
        vp[i] = beta2 * vp[i] + (1.0f - beta2) * gi * gi;
        wp[i] -= lr_t * mp[i] / (sqrtf(vp[i]) + eps_t);
    }
    return FX_OK;
}

static fx_status ref_synchronize(fx_backend *be) { return FX_OK; }

static void ref_destroy(fx_backend *be) { free(be); }

static const fx_backend_ops ref_ops = {
    .struct_size = sizeof(fx_backend_ops),
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = ref_buffer_free,
    .tensor_write = ref_tensor_write,
    .tensor_read = ref_tensor_read,
    .tensor_zero = ref_tensor_zero,
    .tensor_copy = ref_tensor_copy,
    .synchronize = ref_synchronize,
    .destroy = ref_destroy,
};

static fx_status ref_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    *out = NULL;
    if (strcmp(spec, "ref") != 0)
        return fx_fail(ctx, FX_ERR_INVALID, "backend '%s': the ref backend takes no options (write `ref`)", spec);
    fx_backend *be = calloc(1, sizeof *be);
    if (!be)
        return fx_fail(ctx, FX_ERR_NOMEM, "out of memory creating the ref backend");
    be->struct_size = sizeof *be;
    snprintf(be->name, sizeof be->name, "ref");
    snprintf(be->device_name, sizeof be->device_name, "reference kernels (scalar, one thread, double sums)");
    be->ops = &ref_ops;
    be->ctx = ctx;
    *out = be;
    return FX_OK;
}

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    fx_status st = fx_plugin_add_backend(plugin, "ref",
                                         "scalar reference kernels: relu, linear, add, flatten, softmax_cross_entropy",
                                         ref_create);
    if (st == FX_OK)
        st = ref_register_kernels(fx_plugin_registry(plugin));
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(fx_plugin_registry(plugin), "sgd", "ref", ref_sgd_update);
    if (st == FX_OK)
        st = fx_registry_add_optimizer_kernel(fx_plugin_registry(plugin), "adam", "ref", ref_adam_update);
    return st;
}
