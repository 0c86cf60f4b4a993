/* core/engine/attr.c - parsing op attributes from their YAML text into typed
 * values, as the op's schema says. Used for user attributes and for the
 * schema defaults (written as text, so both go through one parser). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/internal.h"

/* Returns 1 on success, 0 when not an integer, -1 when outside
 * [-FX_ATTR_INT_MAX, FX_ATTR_INT_MAX]. */
static int parse_int(const char *s, int64_t *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return 0;
    if (errno == ERANGE || v > FX_ATTR_INT_MAX || v < -FX_ATTR_INT_MAX)
        return -1;
    if (errno)
        return 0;
    *out = v;
    return 1;
}

static fx_status int_error(fx_context *ctx, const char *where, const char *sep, const fx_attr_spec *spec,
                           const char *text, int why)
{
    if (why < 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' is too large: %s (integer attributes lie in "
                       "[-%lld, %lld])", where, sep, spec->name, text, (long long)FX_ATTR_INT_MAX,
                       (long long)FX_ATTR_INT_MAX);
    return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' expects %s, got '%s'", where, sep, spec->name,
                   spec->type == FX_ATTR_INT ? "an integer" : "integers", text);
}

static int parse_float(const char *s, double *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, int64_t *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1")) {
        *out = 1;
        return 1;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0")) {
        *out = 0;
        return 1;
    }
    return 0;
}

static const char *type_word(fx_attr_type t)
{
    switch (t) {
    case FX_ATTR_INT: return "an integer";
    case FX_ATTR_FLOAT: return "a number";
    case FX_ATTR_BOOL: return "true or false";
    case FX_ATTR_STRING: return "a string";
    case FX_ATTR_INTS: return "an integer or a list of integers";
    }
    return "a value";
}

/* Splits a default such as "[1, 2]" into items; returns the count. */
static int split_default(const char *text, char items[][32], int max, int *is_list)
{
    *is_list = 0;
    while (*text == ' ')
        text++;
    if (*text != '[') {
        snprintf(items[0], 32, "%s", text);
        return 1;
    }
    *is_list = 1;
    int n = 0;
    const char *p = text + 1;
    while (*p && *p != ']' && n < max) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ']' || !*p)
            break;
        int len = 0;
        while (p[len] && p[len] != ',' && p[len] != ']' && p[len] != ' ')
            len++;
        snprintf(items[n], 32, "%.*s", len, p);
        n++;
        p += len;
    }
    return n;
}

fx_status fx_attr_parse(fx_context *ctx, const fx_attr_spec *spec, const char *const *items, int n_items,
                        int is_list, fx_srcpos pos, fx_attr *out)
{
    char where[1200];
    fx_srcpos_str(pos, where, sizeof where);
    const char *sep = where[0] ? ": " : "";
    memset(out, 0, sizeof *out);
    out->spec = spec;
    out->pos = pos;

    if (spec->type != FX_ATTR_INTS && (is_list || n_items != 1))
        return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' expects %s, got a list", where, sep, spec->name,
                       type_word(spec->type));
    switch (spec->type) {
    case FX_ATTR_INT:
    {
        int ok = parse_int(items[0], &out->i);
        if (ok != 1)
            return int_error(ctx, where, sep, spec, items[0], ok);
        break;
    }
    case FX_ATTR_FLOAT:
        if (!parse_float(items[0], &out->f))
            return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' expects a finite number, got '%s'", where, sep,
                           spec->name, items[0]);
        break;
    case FX_ATTR_BOOL:
        if (!parse_bool(items[0], &out->i))
            return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' expects true or false, got '%s'", where, sep,
                           spec->name, items[0]);
        break;
    case FX_ATTR_STRING:
        out->s = strdup(items[0]);
        if (!out->s)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory parsing attribute '%s'", spec->name);
        break;
    case FX_ATTR_INTS:
        if (n_items < 1 || n_items > FX_MAX_INTS)
            return fx_fail(ctx, FX_ERR_INVALID, "%s%sattribute '%s' expects 1 to %d integers, got %d", where, sep,
                           spec->name, FX_MAX_INTS, n_items);
        for (int i = 0; i < n_items; i++) {
            int ok = parse_int(items[i], &out->ints[i]);
            if (ok != 1)
                return int_error(ctx, where, sep, spec, items[i], ok);
        }
        out->n_ints = n_items;
        out->i = out->ints[0];
        break;
    }
    out->present = 1;
    return FX_OK;
}

/* Parses a schema default written as text. */
fx_status fx_attr_parse_default(fx_context *ctx, const fx_attr_spec *spec, fx_attr *out)
{
    char items[FX_MAX_INTS][32];
    const char *ptrs[FX_MAX_INTS];
    int is_list;
    int n = split_default(spec->default_value, items, FX_MAX_INTS, &is_list);
    for (int i = 0; i < n; i++)
        ptrs[i] = items[i];
    fx_srcpos none = { NULL, 0, 0 };
    fx_status st = fx_attr_parse(ctx, spec, ptrs, n, is_list, none, out);
    if (st != FX_OK)
        return fx_fail_prefix(ctx, FX_ERR_INTERNAL, "bad default of attribute '%s'", spec->name);
    return FX_OK;
}

void fx_attr_free(fx_attr *a)
{
    free(a->s);
    a->s = NULL;
}
