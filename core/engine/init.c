/* core/engine/init.c - parameter initialisers. A spec is a name with an optional
 * argument: "zeros", "ones", "constant:0.1", "normal:0.01" (std),
 * "uniform:0.05" (bound), "truncated_normal:0.02" (std; redrawn beyond 2
 * std, as TensorFlow), "he_normal", "he_uniform", "xavier_normal",
 * "xavier_uniform". Fans: fan_in = prod(shape[1:]), fan_out = shape[0] *
 * prod(shape[2:]) (conv [O,I,kh,kw] and linear [O,I] alike). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"

/* A parsed spec: which draw and its scale. Fan-based kinds get their scale
 * from the shape in fx_init_fill. */
typedef enum init_kind {
    INIT_CONSTANT, INIT_NORMAL, INIT_UNIFORM, INIT_TRUNCATED, INIT_HE_NORMAL, INIT_HE_UNIFORM,
    INIT_XAVIER_NORMAL, INIT_XAVIER_UNIFORM
} init_kind;

typedef struct init_spec {
    init_kind kind;
    double value; /* constant value, std or bound */
} init_spec;

/* who: what the spec belongs to, as messages name it ("parameter
 * 'c1.weight'", "params.init.conv"). */
static fx_status init_parse(fx_context *ctx, const char *spec, const char *param_name, init_spec *out)
{
    char name[64];
    double arg = 0;
    int has_arg = 0;
    const char *colon = strchr(spec, ':');
    if (colon) {
        snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
        char *end;
        arg = strtod(colon + 1, &end);
        if (*end || end == colon + 1 || !isfinite(arg))
            return fx_fail(ctx, FX_ERR_INVALID, "%s: initialiser '%s' has a bad argument (expected a number after ':')",
                           param_name, spec);
        has_arg = 1;
    } else {
        snprintf(name, sizeof name, "%s", spec);
    }
    static const struct {
        const char *name;
        init_kind kind;
        int takes_arg;     /* 0 none, 1 optional, 2 required */
        double fallback;   /* the argument when none is given */
    } kinds[] = {
        { "zeros", INIT_CONSTANT, 0, 0 },          { "ones", INIT_CONSTANT, 0, 1 },
        { "constant", INIT_CONSTANT, 2, 0 },       { "normal", INIT_NORMAL, 1, 0.01 },
        { "uniform", INIT_UNIFORM, 1, 0.05 },      { "truncated_normal", INIT_TRUNCATED, 1, 0.02 },
        { "he_normal", INIT_HE_NORMAL, 0, 0 },     { "he_uniform", INIT_HE_UNIFORM, 0, 0 },
        { "xavier_normal", INIT_XAVIER_NORMAL, 0, 0 }, { "xavier_uniform", INIT_XAVIER_UNIFORM, 0, 0 },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, kinds[i].name) != 0)
            continue;
        if (kinds[i].takes_arg == 2 && !has_arg)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: 'constant' needs a value, e.g. constant:0.1", param_name);
        if (kinds[i].takes_arg == 0 && has_arg)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: initialiser '%s' takes no argument; write '%s'",
                           param_name, spec, name);
        /* A negative std or bound is a sign error (the draw would look the
         * same, so it would pass unnoticed). */
        if ((kinds[i].kind == INIT_NORMAL || kinds[i].kind == INIT_UNIFORM || kinds[i].kind == INIT_TRUNCATED) &&
            has_arg && arg < 0)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: initialiser '%s': the %s must not be negative; "
                           "write %s:%g", param_name, spec, kinds[i].kind == INIT_UNIFORM ? "bound" : "std", name,
                           -arg);
        out->kind = kinds[i].kind;
        out->value = has_arg ? arg : kinds[i].fallback;
        return FX_OK;
    }
    return fx_fail(ctx, FX_ERR_INVALID,
                   "%s: unknown initialiser '%s' (use zeros, ones, constant:V, normal:STD, "
                   "uniform:BOUND, truncated_normal:STD, he_normal, he_uniform, xavier_normal, xavier_uniform)",
                   param_name, spec);
}

fx_status fx_init_check(fx_context *ctx, const char *spec, const char *param_name)
{
    init_spec parsed = { INIT_CONSTANT, 0 };
    return init_parse(ctx, spec, param_name, &parsed);
}

fx_status fx_init_fill(fx_context *ctx, const char *spec, const fx_shape *shape, fx_rng *rng, float *out,
                       const char *param_name)
{
    init_spec parsed = { INIT_CONSTANT, 0 };
    char who[FX_NAME_MAX * 2 + 16];
    snprintf(who, sizeof who, "parameter '%s'", param_name);
    fx_status st = init_parse(ctx, spec, who, &parsed);
    if (st != FX_OK)
        return st;
    int64_t n = fx_shape_numel(shape);
    int64_t receptive = 1;
    for (int i = 2; i < shape->ndim; i++)
        receptive *= shape->dim[i];
    double fan_in = shape->ndim >= 2 ? (double)shape->dim[1] * (double)receptive : (double)n;
    double fan_out = shape->ndim >= 2 ? (double)shape->dim[0] * (double)receptive : (double)n;

    if (parsed.kind == INIT_CONSTANT) {
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)parsed.value;
        return FX_OK;
    }
    double std = 0, bound = 0;
    int kind = 0; /* 1 normal, 2 uniform, 3 truncated normal */
    switch (parsed.kind) {
    case INIT_NORMAL: kind = 1; std = parsed.value; break;
    case INIT_UNIFORM: kind = 2; bound = parsed.value; break;
    case INIT_TRUNCATED: kind = 3; std = parsed.value; break;
    case INIT_HE_NORMAL: kind = 1; std = sqrt(2.0 / fan_in); break;
    case INIT_HE_UNIFORM: kind = 2; bound = sqrt(6.0 / fan_in); break;
    case INIT_XAVIER_NORMAL: kind = 1; std = sqrt(2.0 / (fan_in + fan_out)); break;
    default: kind = 2; bound = sqrt(6.0 / (fan_in + fan_out)); break;
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
