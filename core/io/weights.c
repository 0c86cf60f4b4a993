/* core/io/weights.c - a graph's parameters and BatchNorm statistics out to,
 * and in from, safetensors files and .npy folders (fx/weights.h), through
 * the name map of core/io/weights_map.c.
 *
 * Import never half-loads: the whole source is read, every graph tensor
 * is matched (name, dtype, shape after the map's permutation) and every
 * source tensor accounted for (used, or ignored by the map); only when
 * nothing is wrong is anything uploaded. All mismatches are collected and
 * reported together. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fx/weights.h"
#include "core/internal.h"
#include "core/io/weights_map.h"

#define WEIGHTS_MESSAGE_LINES 12

/* ---- .npy folders --------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fx_status fx_npy_folder_read(fx_context *ctx, const char *dir, fx_tensor_set *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return fx_fail(ctx, FX_ERR_IO, "'%s': cannot open the folder: %s", dir, strerror(errno));
    /* Sorted, so the order (and the first error) does not depend on the
     * file system. */
    char **names = NULL;
    int n = 0, cap = 0;
    fx_status st = FX_OK;
    struct dirent *e;
    while (st == FX_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".npy"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if (!p) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory listing '%s'", dir);
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name)))
            st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory listing '%s'", dir);
        else
            n++;
    }
    closedir(d);
    if (st == FX_OK)
        qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int i = 0; i < n && st == FX_OK; i++) {
        char path[FX_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            st = fx_fail(ctx, FX_ERR_INVALID, "'%s/%s': path too long", dir, names[i]);
            break;
        }
        fx_array a;
        st = fx_npy_read(ctx, path, &a);
        if (st != FX_OK)
            break;
        names[i][strlen(names[i]) - 4] = '\0';
        st = fx_tensor_set_add(ctx, out, names[i], "npy", &a);
        names[i] = NULL; /* owned by the set now (or freed by it) */
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (st != FX_OK)
        fx_tensor_set_free(out);
    return st;
}

fx_status fx_npy_folder_write(fx_context *ctx, const char *dir, const fx_tensor_set *set)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fx_fail(ctx, FX_ERR_IO, "'%s': cannot create the folder: %s", dir, strerror(errno));
    for (int i = 0; i < set->n; i++) {
        const char *name = set->items[i].name;
        if (strchr(name, '/') || name[0] == '.' || !name[0])
            return fx_fail(ctx, FX_ERR_INVALID, "tensor name '%s' cannot be a file name in '%s' (it contains '/' "
                           "or starts with '.'); rename it with --map or write a .safetensors file", name, dir);
        char path[FX_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, name) >= (int)sizeof path)
            return fx_fail(ctx, FX_ERR_INVALID, "'%s/%s.npy': path too long", dir, name);
        fx_status st = fx_npy_write(ctx, path, &set->items[i].array);
        if (st != FX_OK)
            return st;
    }
    return FX_OK;
}

/* ---- which format a path names -------------------------------------------- */

typedef enum weights_format { WEIGHTS_SAFETENSORS, WEIGHTS_NPY_FOLDER } weights_format;

static fx_status weights_format_of(fx_context *ctx, const char *path, weights_format *f)
{
    struct stat sb;
    if (ends_with(path, ".safetensors")) {
        *f = WEIGHTS_SAFETENSORS;
        return FX_OK;
    }
    if (ends_with(path, "/") || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))) {
        *f = WEIGHTS_NPY_FOLDER;
        return FX_OK;
    }
    return fx_fail(ctx, FX_ERR_INVALID, "'%s': name a .safetensors file, or a folder of .npy files (an existing "
                   "folder, or a path ending in '/')", path);
}

/* ---- permutations ------------------------------------------------------- */

/* dst = src.permute(perm): dst dim i is src dim perm[i]. 4-byte elements. */
static void permute_copy(const uint32_t *src, const fx_shape *src_shape, const int *perm, uint32_t *dst)
{
    int nd = src_shape->ndim;
    int64_t src_stride[FX_MAX_DIMS], dst_dim[FX_MAX_DIMS], idx[FX_MAX_DIMS] = { 0 };
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        src_stride[i] = s;
        s *= src_shape->dim[i];
    }
    for (int i = 0; i < nd; i++)
        dst_dim[i] = src_shape->dim[perm[i]];
    int64_t numel = fx_shape_numel(src_shape);
    int64_t off = 0; /* source offset of idx */
    for (int64_t k = 0; k < numel; k++) {
        dst[k] = src[off];
        for (int i = nd - 1; i >= 0; i--) { /* odometer over dst's index */
            idx[i]++;
            off += src_stride[perm[i]];
            if (idx[i] < dst_dim[i])
                break;
            off -= src_stride[perm[i]] * idx[i];
            idx[i] = 0;
        }
    }
}

static int is_identity(const int *perm, int nd)
{
    for (int i = 0; i < nd; i++)
        if (perm[i] != i)
            return 0;
    return 1;
}

/* ---- the graph's tensors ------------------------------------------------ */

typedef struct weights_entry {
    const char *name;
    fx_tensor *tensor;
    char ext[FX_NAME_MAX * 2];
    const fx_weight_rule *rule;
} weights_entry;

static fx_status collect(fx_context *ctx, fx_graph *g, const fx_weight_map *map, weights_entry **out, int *n_out)
{
    int n = fx_graph_param_count(g);
    weights_entry *e = fx_calloc(ctx, (size_t)n + 1, sizeof *e, "weight list");
    if (!e)
        return FX_ERR_NOMEM;
    int used = 0;
    for (int i = 0; i < n; i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (p.absent)
            continue;
        if (!p.value || !p.value->buffer) {
            free(e);
            return fx_fail(ctx, FX_ERR_INVALID, "parameter '%s' of graph '%s' is not allocated: plan the graph "
                           "(fx_graph_plan) first", p.name, fx_graph_name(g));
        }
        e[used].name = p.name;
        e[used].tensor = p.value;
        if (!fx_weight_map_resolve(map, p.name, e[used].ext, sizeof e[used].ext, &e[used].rule)) {
            free(e);
            return fx_fail(ctx, FX_ERR_INVALID, "the map gives '%s' an external name longer than %zu bytes", p.name,
                           sizeof e[0].ext - 1);
        }
        used++;
    }
    *out = e;
    *n_out = used;
    return FX_OK;
}

fx_status fx_weights_export(fx_context *ctx, fx_graph *g, const char *path, const fx_weights_options *opt)
{
    weights_format fmt;
    fx_status st = weights_format_of(ctx, path, &fmt);
    if (st != FX_OK)
        return st;
    fx_weight_map map;
    if ((st = fx_weight_map_load(ctx, opt ? opt->map_path : NULL, &map)) != FX_OK)
        return st;
    weights_entry *e = NULL;
    int n = 0;
    fx_tensor_set set = { 0 };
    st = collect(ctx, g, &map, &e, &n);
    void *host = NULL;
    for (int i = 0; i < n && st == FX_OK; i++) {
        const fx_tensor *t = e[i].tensor;
        int perm[FX_MAX_DIMS], inv[FX_MAX_DIMS];
        if (!fx_weight_rule_perm(e[i].rule, t->shape.ndim, perm)) {
            st = fx_fail(ctx, FX_ERR_SHAPE, "map: '%s' permutes %d dimensions but the tensor has %d", e[i].name,
                         e[i].rule->n_perm, t->shape.ndim);
            break;
        }
        for (int d = 0; d < t->shape.ndim; d++)
            inv[perm[d]] = d;
        size_t bytes = fx_tensor_bytes(t);
        fx_array a = { .dtype = t->dtype, .shape = t->shape };
        a.data = fx_malloc(ctx, bytes ? bytes : 4, "exported tensor");
        host = fx_malloc(ctx, bytes ? bytes : 4, "exported tensor");
        if (!a.data || !host) {
            free(a.data);
            st = FX_ERR_NOMEM;
            break;
        }
        st = fx_tensor_download(t, host);
        if (st == FX_OK) {
            /* external = fx.permute(inverse) */
            for (int d = 0; d < t->shape.ndim; d++)
                a.shape.dim[d] = t->shape.dim[inv[d]];
            if (is_identity(inv, t->shape.ndim))
                memcpy(a.data, host, bytes);
            else
                permute_copy(host, &t->shape, inv, a.data);
            char *name = strdup(e[i].ext);
            st = name ? fx_tensor_set_add(ctx, &set, name, t->dtype == FX_F32 ? "F32" : "I32", &a)
                      : fx_fail(ctx, FX_ERR_NOMEM, "out of memory");
        }
        fx_array_free(&a);
        free(host);
        host = NULL;
    }
    for (int i = 0; i < set.n && st == FX_OK; i++)
        for (int k = i + 1; k < set.n; k++)
            if (!strcmp(set.items[i].name, set.items[k].name)) {
                st = fx_fail(ctx, FX_ERR_INVALID, "map: two graph tensors get the external name '%s'; fix the map",
                             set.items[i].name);
                break;
            }
    if (st == FX_OK)
        st = fmt == WEIGHTS_SAFETENSORS ? fx_safetensors_write(ctx, path, &set, fx_graph_name(g))
                                        : fx_npy_folder_write(ctx, path, &set);
    fx_tensor_set_free(&set);
    free(e);
    fx_weight_map_free(&map);
    return st;
}

/* ---- import ---------------------------------------------------------------- */

typedef struct mismatch_list {
    FILE *report;
    char msg[FX_ERROR_MAX - 256];
    int count;
} mismatch_list;

static void mismatch(mismatch_list *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(mismatch_list *m, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (m->report)
        fprintf(m->report, "  mismatch: %s\n", line);
    size_t used = strlen(m->msg);
    if (m->count < WEIGHTS_MESSAGE_LINES && used + strlen(line) + 3 < sizeof m->msg)
        snprintf(m->msg + used, sizeof m->msg - used, "; %s", line);
    m->count++;
}

static const char *rule_text(const fx_weight_rule *r, const int *perm, int nd, char *buf, size_t size)
{
    if (!r || is_identity(perm, nd))
        return "";
    size_t used = (size_t)snprintf(buf, size, " after permute [");
    for (int i = 0; i < nd && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? ", " : "", perm[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

fx_status fx_weights_import(fx_context *ctx, fx_graph *g, const char *path, const fx_weights_options *opt)
{
    weights_format fmt;
    fx_status st = weights_format_of(ctx, path, &fmt);
    if (st != FX_OK)
        return st;
    fx_weight_map map;
    if ((st = fx_weight_map_load(ctx, opt ? opt->map_path : NULL, &map)) != FX_OK)
        return st;
    fx_tensor_set set = { 0 };
    st = fmt == WEIGHTS_SAFETENSORS ? fx_safetensors_read(ctx, path, &set) : fx_npy_folder_read(ctx, path, &set);
    weights_entry *e = NULL;
    int n = 0;
    if (st == FX_OK)
        st = collect(ctx, g, &map, &e, &n);
    int *match = NULL, *used = NULL;
    if (st == FX_OK) {
        match = fx_calloc(ctx, (size_t)n + 1, sizeof *match, "import match table");
        used = fx_calloc(ctx, (size_t)set.n + 1, sizeof *used, "import match table");
        if (!match || !used)
            st = FX_ERR_NOMEM;
    }
    mismatch_list *m = NULL;
    int names_bad = 0;
    if (st == FX_OK) {
        m = fx_calloc(ctx, 1, sizeof *m, "mismatch list");
        if (!m)
            st = FX_ERR_NOMEM;
        else
            m->report = opt ? opt->report : NULL;
    }
    for (int i = 0; i < n && st == FX_OK; i++) {
        const fx_tensor *t = e[i].tensor;
        char a[96], b[96], p[64];
        match[i] = -1;
        for (int k = 0; k < set.n; k++)
            if (!strcmp(set.items[k].name, e[i].ext)) {
                match[i] = k;
                used[k] = 1;
                break;
            }
        int renamed = strcmp(e[i].ext, e[i].name) != 0;
        if (match[i] < 0) {
            names_bad = 1;
            mismatch(m, "graph tensor '%s' %s is missing%s%s%s", e[i].name, fx_shape_str(&t->shape, a, sizeof a),
                     renamed ? " (looked for '" : "", renamed ? e[i].ext : "", renamed ? "')" : "");
            continue;
        }
        const fx_named_array *x = &set.items[match[i]];
        int perm[FX_MAX_DIMS];
        if (x->array.dtype != t->dtype) {
            mismatch(m, "tensor '%s' is %s in the file but %s in the graph ('%s')", x->name, x->stored_dtype,
                     fx_dtype_name(t->dtype), e[i].name);
            continue;
        }
        if (x->array.shape.ndim != t->shape.ndim || !fx_weight_rule_perm(e[i].rule, t->shape.ndim, perm)) {
            mismatch(m, "tensor '%s' is %s in the file but %s in the graph ('%s')%s", x->name,
                     fx_shape_str(&x->array.shape, a, sizeof a), fx_shape_str(&t->shape, b, sizeof b), e[i].name,
                     e[i].rule && e[i].rule->n_perm && e[i].rule->n_perm != t->shape.ndim
                         ? "; the map's permute has another number of dimensions" : "");
            continue;
        }
        fx_shape want = t->shape;
        for (int d = 0; d < t->shape.ndim; d++)
            want.dim[d] = x->array.shape.dim[perm[d]];
        if (!fx_shape_equal(&want, &t->shape))
            mismatch(m, "tensor '%s' is %s in the file%s, but '%s' is %s in the graph", x->name,
                     fx_shape_str(&x->array.shape, a, sizeof a), rule_text(e[i].rule, perm, t->shape.ndim, p, sizeof p),
                     e[i].name, fx_shape_str(&t->shape, b, sizeof b));
    }
    for (int k = 0; k < set.n && st == FX_OK; k++) {
        char a[96];
        if (!used[k] && !fx_weight_map_ignored(&map, set.items[k].name)) {
            names_bad = 1;
            mismatch(m, "file tensor '%s' %s is not used by the graph (map it, or list it under `ignore:` in the "
                     "map)", set.items[k].name, fx_shape_str(&set.items[k].array.shape, a, sizeof a));
        }
    }
    if (st == FX_OK && m->count > 0)
        st = fx_fail(ctx, names_bad ? FX_ERR_INVALID : FX_ERR_SHAPE, "'%s' does not fit graph '%s'; nothing was loaded: %d "
                     "mismatch%s%s%s", path, fx_graph_name(g), m->count, m->count == 1 ? "" : "es", m->msg,
                     m->count > WEIGHTS_MESSAGE_LINES ? (m->report ? "; ... (all listed above)" : "; ...") : "");
    /* Everything fits: upload, permuting where the map says so. */
    void *host = NULL;
    for (int i = 0; i < n && st == FX_OK; i++) {
        const fx_named_array *x = &set.items[match[i]];
        const fx_tensor *t = e[i].tensor;
        int perm[FX_MAX_DIMS];
        fx_weight_rule_perm(e[i].rule, t->shape.ndim, perm);
        const void *src = x->array.data;
        if (!is_identity(perm, t->shape.ndim)) {
            host = fx_malloc(ctx, fx_tensor_bytes(t), "imported tensor");
            if (!host) {
                st = FX_ERR_NOMEM;
                break;
            }
            permute_copy(x->array.data, &x->array.shape, perm, host);
            src = host;
        }
        st = fx_tensor_upload(e[i].tensor, src);
        if (st != FX_OK)
            fx_fail_prefix(ctx, st, "importing '%s' (the graph is now partly loaded)", e[i].name);
        free(host);
        host = NULL;
    }
    free(m);
    free(match);
    free(used);
    free(e);
    fx_tensor_set_free(&set);
    fx_weight_map_free(&map);
    return st;
}
