/* core/io/safetensors.c - the safetensors file format (fx/weights.h).
 *
 * Layout: u64 little-endian N, then N bytes of JSON (UTF-8, may end in
 * spaces), then the data buffer. The JSON object maps each tensor name to
 * {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]} with
 * offsets relative to the data buffer; the optional "__metadata__" maps
 * strings to strings. Tensors are row-major, little-endian.
 *
 * A file may come from anyone, so reading trusts nothing: the header size
 * is checked against the file and capped (100 MB, as the reference
 * implementation does), the header goes through the strict JSON parser
 * (core/io/json.h), every shape's element count is checked for overflow and
 * against its byte range, ranges must lie inside the buffer and, sorted,
 * tile it exactly (no overlap, no gap, no unexplained bytes), so no two
 * tensors share bytes and nothing hides in the file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx/weights.h"
#include "core/internal.h"
#include "core/io/json.h"

#define ST_HEADER_MAX (100u << 20)
#define ST_MAX_TENSORS (1 << 20)

typedef struct st_dtype {
    const char *name;
    int bytes;
    int is_float;
} st_dtype;

static const st_dtype st_dtypes[] = {
    { "F64", 8, 1 }, { "F32", 4, 1 }, { "F16", 2, 1 }, { "BF16", 2, 1 },
    { "I64", 8, 0 }, { "I32", 4, 0 }, { "I16", 2, 0 }, { "I8", 1, 0 },
    { "U8", 1, 0 },  { "BOOL", 1, 0 },
};

static uint64_t le_load(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24); /* subnormal */
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Converts `numel` stored elements to F32 or I32 in out (numel * 4
 * bytes). Returns the index of an I64 value that does not fit in int32
 * plus one, or 0. */
static uint64_t convert_elements(const st_dtype *dt, const unsigned char *src, uint64_t numel, void *out)
{
    float *f = out;
    int32_t *i = out;
    for (uint64_t k = 0; k < numel; k++) {
        const unsigned char *p = src + k * (uint64_t)dt->bytes;
        uint64_t u = le_load(p, dt->bytes);
        switch (dt->name[0] == 'B' && dt->name[1] == 'F' ? 'b' : dt->name[0]) {
        case 'F':
            if (dt->bytes == 8) {
                double d;
                memcpy(&d, &u, 8);
                f[k] = (float)d;
            } else if (dt->bytes == 4) {
                f[k] = bits_to_float((uint32_t)u);
            } else {
                f[k] = half_to_float((uint16_t)u);
            }
            break;
        case 'b':
            f[k] = bits_to_float((uint32_t)u << 16);
            break;
        case 'I': {
            int64_t s = dt->bytes == 8 ? (int64_t)u
                      : dt->bytes == 4 ? (int64_t)(int32_t)(uint32_t)u
                      : dt->bytes == 2 ? (int64_t)(int16_t)(uint16_t)u
                                       : (int64_t)(int8_t)(uint8_t)u;
            if (s < INT32_MIN || s > INT32_MAX)
                return k + 1;
            i[k] = (int32_t)s;
            break;
        }
        default: /* U8, BOOL */
            i[k] = (int32_t)u;
            break;
        }
    }
    return 0;
}

typedef struct st_range {
    uint64_t begin, end;
    int index;
} st_range;

static int range_cmp(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}


/* Parses one tensor entry of the header into set (reading its data). */
static fx_status st_read_tensor(fx_context *ctx, const char *path, const fx_json_doc *doc, const fx_json_value *e,
                                const unsigned char *buffer, uint64_t buffer_size, st_range *range,
                                fx_tensor_set *set)
{
    const char *name = e->key;
    if (e->kind != FX_JSON_OBJECT)
        return fx_fail(ctx, FX_ERR_PARSE, "'%s': header entry '%.80s' is not an object", path, name);
    if (strlen(name) != e->key_len || e->key_len == 0)
        return fx_fail(ctx, FX_ERR_PARSE, "'%s': a tensor name is empty or holds a NUL byte", path);
    for (int c = e->first; c >= 0; c = doc->values[c].next) {
        const char *k = doc->values[c].key;
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return fx_fail(ctx, FX_ERR_PARSE, "'%s': tensor '%.80s' has an unknown field '%.40s' (expected dtype, "
                           "shape, data_offsets)", path, name, k);
    }
    const fx_json_value *dtype = fx_json_member(doc, e, "dtype");
    const fx_json_value *shape = fx_json_member(doc, e, "shape");
    const fx_json_value *offsets = fx_json_member(doc, e, "data_offsets");
    if (!dtype || dtype->kind != FX_JSON_STRING || !shape || shape->kind != FX_JSON_ARRAY || !offsets ||
        offsets->kind != FX_JSON_ARRAY || offsets->n != 2)
        return fx_fail(ctx, FX_ERR_PARSE, "'%s': tensor '%.80s' needs \"dtype\" (a string), \"shape\" (a list) and "
                       "\"data_offsets\" ([begin, end])", path, name);
    const st_dtype *dt = NULL;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(dtype->str, st_dtypes[i].name))
            dt = &st_dtypes[i];
    if (!dt)
        return fx_fail(ctx, FX_ERR_UNSUPPORTED, "'%s': tensor '%.80s' has dtype '%.16s', which fx cannot read "
                       "(F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL); convert it before saving",
                       path, name, dtype->str);
    if (shape->n > FX_MAX_DIMS)
        return fx_fail(ctx, FX_ERR_UNSUPPORTED, "'%s': tensor '%.80s' has %d dimensions; fx supports at most %d",
                       path, name, shape->n, FX_MAX_DIMS);
    fx_array a;
    memset(&a, 0, sizeof a);
    a.dtype = dt->is_float ? FX_F32 : FX_I32;
    a.shape.ndim = shape->n;
    uint64_t numel = 1;
    int d = 0;
    for (int c = shape->first; c >= 0; c = doc->values[c].next, d++) {
        uint64_t v;
        if (!fx_json_uint64(&doc->values[c], &v) || v > (uint64_t)INT64_MAX)
            return fx_fail(ctx, FX_ERR_PARSE, "'%s': tensor '%.80s': shape entry %d is not a non-negative integer",
                           path, name, d);
        if (v && numel > UINT64_MAX / 8 / v)
            return fx_fail(ctx, FX_ERR_PARSE, "'%s': tensor '%.80s': the shape's element count overflows", path,
                           name);
        numel *= v;
        a.shape.dim[d] = (int64_t)v;
    }
    uint64_t begin, end;
    const fx_json_value *b = &doc->values[offsets->first];
    if (!fx_json_uint64(b, &begin) || !fx_json_uint64(&doc->values[b->next], &end))
        return fx_fail(ctx, FX_ERR_PARSE, "'%s': tensor '%.80s': data_offsets must be two non-negative integers",
                       path, name);
    if (begin > end || end > buffer_size)
        return fx_fail(ctx, FX_ERR_CORRUPT, "'%s': tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64 "] lie "
                       "outside the %" PRIu64 "-byte data buffer (truncated or damaged file)", path, name, begin,
                       end, buffer_size);
    if (end - begin != numel * (uint64_t)dt->bytes)
        return fx_fail(ctx, FX_ERR_CORRUPT, "'%s': tensor '%.80s': %" PRIu64 " bytes for %" PRIu64 " %s elements "
                       "(expected %" PRIu64 ")", path, name, end - begin, numel, dt->name,
                       numel * (uint64_t)dt->bytes);
    range->begin = begin;
    range->end = end;
    a.data = fx_malloc(ctx, numel ? (size_t)numel * 4 : 4, "safetensors tensor");
    if (!a.data)
        return FX_ERR_NOMEM;
    uint64_t bad = convert_elements(dt, buffer + begin, numel, a.data);
    if (bad) {
        free(a.data);
        return fx_fail(ctx, FX_ERR_UNSUPPORTED, "'%s': tensor '%.80s': element %" PRIu64 " does not fit in int32 "
                       "(fx holds integers as int32)", path, name, bad - 1);
    }
    char *copy = strdup(name);
    if (!copy) {
        free(a.data);
        return fx_fail(ctx, FX_ERR_NOMEM, "out of memory");
    }
    return fx_tensor_set_add(ctx, set, copy, dt->name, &a);
}

fx_status fx_safetensors_read(fx_context *ctx, const char *path, fx_tensor_set *out)
{
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    fx_status st = fx_read_whole_file(ctx, "safetensors file", path, &buf, &size);
    if (st != FX_OK)
        return st;
    if (size < 8) {
        free(buf);
        return fx_fail(ctx, FX_ERR_PARSE, "'%s' is not a safetensors file: %zu bytes, fewer than the 8-byte header "
                       "size", path, size);
    }
    uint64_t n = le_load(buf, 8);
    if (n > ST_HEADER_MAX || n > size - 8) {
        free(buf);
        return fx_fail(ctx, FX_ERR_PARSE, "'%s' is not a safetensors file (or is truncated): its header size %"
                       PRIu64 " is %s", path, n, n > ST_HEADER_MAX ? "above the 100 MB limit" : "larger than the file");
    }
    if (n < 2 || buf[8] != '{') {
        free(buf);
        return fx_fail(ctx, FX_ERR_PARSE, "'%s' is not a safetensors file: the header does not start with '{'",
                       path);
    }
    char what[FX_PATH_MAX + 32];
    snprintf(what, sizeof what, "'%s': header", path);
    fx_json_doc doc;
    st = fx_json_parse(ctx, what, (const char *)buf + 8, (size_t)n, &doc);
    if (st != FX_OK) {
        free(buf);
        return st;
    }
    const unsigned char *buffer = buf + 8 + n;
    uint64_t buffer_size = size - 8 - n;
    const fx_json_value *root = &doc.values[0];
    st_range *ranges = NULL;
    int n_ranges = 0;
    if (root->kind != FX_JSON_OBJECT)
        st = fx_fail(ctx, FX_ERR_PARSE, "'%s': the header is not a JSON object", path);
    else if (root->n > ST_MAX_TENSORS)
        st = fx_fail(ctx, FX_ERR_UNSUPPORTED, "'%s': %d tensors, more than fx reads (%d)", path, root->n,
                     ST_MAX_TENSORS);
    if (st == FX_OK) {
        ranges = fx_calloc(ctx, (size_t)root->n + 1, sizeof *ranges, "safetensors ranges");
        if (!ranges)
            st = FX_ERR_NOMEM;
    }
    for (int c = st == FX_OK ? root->first : -1; c >= 0 && st == FX_OK; c = doc.values[c].next) {
        const fx_json_value *e = &doc.values[c];
        if (!strcmp(e->key, "__metadata__")) {
            if (e->kind != FX_JSON_OBJECT)
                st = fx_fail(ctx, FX_ERR_PARSE, "'%s': __metadata__ must be an object of strings", path);
            for (int m = e->first; m >= 0 && st == FX_OK; m = doc.values[m].next)
                if (doc.values[m].kind != FX_JSON_STRING)
                    st = fx_fail(ctx, FX_ERR_PARSE, "'%s': __metadata__ value '%.40s' is not a string", path,
                                 doc.values[m].key);
            continue;
        }
        ranges[n_ranges].index = n_ranges;
        st = st_read_tensor(ctx, path, &doc, e, buffer, buffer_size, &ranges[n_ranges], out);
        n_ranges++;
    }
    if (st == FX_OK) {
        /* The ranges, sorted, must tile the buffer: no overlap, no gap. */
        qsort(ranges, (size_t)n_ranges, sizeof *ranges, range_cmp);
        uint64_t at = 0;
        for (int i = 0; i < n_ranges && st == FX_OK; i++) {
            if (ranges[i].begin != at)
                st = fx_fail(ctx, FX_ERR_CORRUPT, "'%s': tensor data %s at byte %" PRIu64 " of the data buffer "
                             "(tensors must not overlap or leave gaps)", path,
                             ranges[i].begin < at ? "overlaps" : "leaves a gap", ranges[i].begin);
            at = ranges[i].end > at ? ranges[i].end : at;
        }
        if (st == FX_OK && at != buffer_size)
            st = fx_fail(ctx, FX_ERR_CORRUPT, "'%s': %" PRIu64 " bytes after the last tensor's data (damaged file)",
                         path, buffer_size - at);
    }
    free(ranges);
    fx_json_free(&doc);
    free(buf);
    if (st != FX_OK)
        fx_tensor_set_free(out);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

/* A growing text buffer for the header. */
typedef struct st_text {
    char *s;
    size_t len, cap;
    int oom;
} st_text;

static void text_put(st_text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_printf(st_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(st_text *t, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text_put(t, buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A JSON string literal of s (escaping quotes, backslashes and control
 * characters). */
static void text_put_json_string(st_text *t, const char *s)
{
    text_put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            text_put(t, e, 2);
        } else if (c < 0x20) {
            text_printf(t, "\\u%04x", c);
        } else {
            text_put(t, s, 1);
        }
    }
    text_put(t, "\"", 1);
}

fx_status fx_safetensors_write(fx_context *ctx, const char *path, const fx_tensor_set *set,
                               const char *graph_name)
{
    if (strlen(path) >= FX_PATH_MAX)
        return fx_fail(ctx, FX_ERR_INVALID, "path '%.64s...' is longer than %d bytes", path, FX_PATH_MAX - 1);
    st_text h = { 0 };
    text_put(&h, "{", 1);
    if (graph_name) {
        text_put(&h, "\"__metadata__\":{\"producer\":", 27);
        text_put_json_string(&h, "fx " FX_VERSION_STRING);
        text_put(&h, ",\"graph\":", 9);
        text_put_json_string(&h, graph_name);
        text_put(&h, "}", 1);
    }
    uint64_t offset = 0;
    for (int i = 0; i < set->n; i++) {
        const fx_named_array *it = &set->items[i];
        if (i > 0 || graph_name)
            text_put(&h, ",", 1);
        text_put_json_string(&h, it->name);
        text_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", it->array.dtype == FX_F32 ? "F32" : "I32");
        for (int d = 0; d < it->array.shape.ndim; d++)
            text_printf(&h, "%s%" PRId64, d ? "," : "", it->array.shape.dim[d]);
        uint64_t bytes = (uint64_t)fx_shape_numel(&it->array.shape) * 4;
        text_printf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + bytes);
        offset += bytes;
    }
    text_put(&h, "}", 1);
    while (!h.oom && (8 + h.len) % 8 != 0) /* data aligned to 8 bytes, as the reference writer does */
        text_put(&h, " ", 1);
    if (h.oom) {
        free(h.s);
        return fx_fail(ctx, FX_ERR_NOMEM, "'%s': out of memory building the header", path);
    }

    char tmp[FX_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(h.s);
        return fx_fail(ctx, FX_ERR_IO, "'%s': cannot create '%s': %s", path, tmp, strerror(err));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.s, 1, h.len, f) == h.len;
    free(h.s);
    unsigned char *scratch = NULL;
    size_t scratch_size = 0;
    for (int i = 0; i < set->n && ok; i++) {
        const fx_array *a = &set->items[i].array;
        size_t bytes = (size_t)fx_shape_numel(&a->shape) * 4;
        const void *src = a->data;
        if (!fx_host_is_little_endian()) {
            if (bytes > scratch_size) {
                free(scratch);
                scratch = malloc(bytes);
                scratch_size = scratch ? bytes : 0;
                if (!scratch) {
                    ok = 0;
                    break;
                }
            }
            const unsigned char *s = a->data;
            for (size_t k = 0; k < bytes; k += 4)
                for (int b = 0; b < 4; b++)
                    scratch[k + (size_t)b] = s[k + 3 - (size_t)b];
            src = scratch;
        }
        ok = bytes == 0 || fwrite(src, 1, bytes, f) == bytes;
    }
    free(scratch);
    int err = ok ? 0 : (errno ? errno : EIO);
    if (!err && fflush(f) != 0)
        err = errno ? errno : EIO;
    if (!err && fsync(fileno(f)) != 0)
        err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && rename(tmp, path) != 0)
        err = errno ? errno : EIO;
    if (err) {
        unlink(tmp);
        return fx_fail(ctx, FX_ERR_IO, "'%s': writing failed: %s; the previous file (if any) is unchanged", path,
                       strerror(err));
    }
    err = fx_sync_parent_dir(path);
    if (err)
        return fx_fail(ctx, FX_ERR_IO, "'%s' was written but its folder could not be synced: %s", path,
                       strerror(err));
    return FX_OK;
}
