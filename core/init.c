/* core/init.c - parameter initialisers. A spec is a name with an optional
 * argument: "zeros", "ones", "constant:0.1", "normal:0.01" (std),
 * "uniform:0.05" (bound), "truncated_normal:0.02" (std; redrawn beyond 2
 * std, as TensorFlow), "he_normal", "he_uniform", "xavier_normal",
 * "xavier_uniform". Fans: fan_in = prod(shape[1:]), fan_out = shape[0] *
 * prod(shape[2:]) (conv [O,I,kh,kw] and linear [O,I] alike). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"

fx_status fx_init_fill(fx_context *ctx, const char *spec, const fx_shape *shape, fx_rng *rng, float *out,
                       const char *param_name)
{
    int64_t n = fx_shape_numel(shape);
    int64_t receptive = 1;
    for (int i = 2; i < shape->ndim; i++)
        receptive *= shape->dim[i];
    double fan_in = shape->ndim >= 2 ? (double)shape->dim[1] * (double)receptive : (double)n;
    double fan_out = shape->ndim >= 2 ? (double)shape->dim[0] * (double)receptive : (double)n;

    char name[64];
    double arg = 0;
    int has_arg = 0;
    const char *colon = strchr(spec, ':');
    if (colon) {
        snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
        char *end;
        arg = strtod(colon + 1, &end);
        if (*end || end == colon + 1 || !isfinite(arg))
            return fx_fail(ctx, FX_ERR_INVALID, "parameter '%s': initialiser '%s' has a bad argument (expected a number after ':')",
                           param_name, spec);
        has_arg = 1;
    } else {
        snprintf(name, sizeof name, "%s", spec);
    }

    if (!strcmp(name, "zeros") || !strcmp(name, "ones") || !strcmp(name, "constant")) {
        float v = !strcmp(name, "ones") ? 1.0f : !strcmp(name, "zeros") ? 0.0f : (float)arg;
        if (!strcmp(name, "constant") && !has_arg)
            return fx_fail(ctx, FX_ERR_INVALID, "parameter '%s': 'constant' needs a value, e.g. constant:0.1", param_name);
        for (int64_t i = 0; i < n; i++)
            out[i] = v;
        return FX_OK;
    }
    double std = 0, bound = 0;
    int kind = 0; /* 1 normal, 2 uniform, 3 truncated normal */
    if (!strcmp(name, "normal")) {
        kind = 1;
        std = has_arg ? arg : 0.01;
    } else if (!strcmp(name, "uniform")) {
        kind = 2;
        bound = has_arg ? arg : 0.05;
    } else if (!strcmp(name, "truncated_normal")) {
        kind = 3;
        std = has_arg ? arg : 0.02;
    } else if (!strcmp(name, "he_normal")) {
        kind = 1;
        std = sqrt(2.0 / fan_in);
    } else if (!strcmp(name, "he_uniform")) {
        kind = 2;
        bound = sqrt(6.0 / fan_in);
    } else if (!strcmp(name, "xavier_normal")) {
        kind = 1;
        std = sqrt(2.0 / (fan_in + fan_out));
    } else if (!strcmp(name, "xavier_uniform")) {
        kind = 2;
        bound = sqrt(6.0 / (fan_in + fan_out));
    } else {
        return fx_fail(ctx, FX_ERR_INVALID,
                       "parameter '%s': unknown initialiser '%s' (use zeros, ones, constant:V, normal:STD, "
                       "uniform:BOUND, truncated_normal:STD, he_normal, he_uniform, xavier_normal, xavier_uniform)",
                       param_name, spec);
    }
    for (int64_t i = 0; i < n; i++) {
        if (kind == 2) {
            out[i] = (float)((2.0 * fx_rng_next_uniform(rng) - 1.0) * bound);
        } else {
            float z = fx_rng_next_normal(rng);
            while (kind == 3 && fabsf(z) > 2.0f)
                z = fx_rng_next_normal(rng);
            out[i] = (float)(z * std);
        }
    }
    return FX_OK;
}
