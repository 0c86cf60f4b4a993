/* core/io/npy.c - NumPy .npy files.
 *
 * Reads format versions 1.0, 2.0 and 3.0 (C order only) with the dtypes
 * <f4, <f8, <i4, <i8, |u1 and |b1; float types become FX_F32, integer and
 * bool types FX_I32. The header dictionary is parsed strictly (exactly the
 * keys descr, fortran_order and shape) and the data size must match the
 * shape exactly, so a truncated or padded file is reported instead of being
 * read as garbage.
 *
 * Writes <f4 / <i4 in format 1.0 with the header padded so the data starts
 * on a 64-byte boundary (what numpy itself writes), atomically: the bytes
 * go to "path.tmp.<pid>", are flushed and fsync'd, and only then renamed
 * over `path`, so a crash never leaves a half-written file under the real
 * name. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx/npy.h"
#include "core/internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy refuses headers above this size too (it guards against
 * maliciously large headers); ours are never more than a few hundred
 * bytes. */
#define NPY_HEADER_MAX (1u << 20)

typedef enum npy_kind { NPY_F4, NPY_F8, NPY_I4, NPY_I8, NPY_U1, NPY_B1 } npy_kind;

/* Little-endian loads that work on any host. */
static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* ---- header dictionary parser ------------------------------------------ */

typedef struct npy_parser {
    const char *s, *end, *start;
    const char *path;
    fx_context *ctx;
} npy_parser;

static void skip_space(npy_parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static fx_status header_error(npy_parser *p, const char *what)
{
    return fx_fail(p->ctx, FX_ERR_PARSE,
                   "%s: malformed .npy header: %s at header offset %ld; "
                   "write the file with numpy.save (C order)",
                   p->path, what, (long)(p->s - p->start));
}

/* Parses a Python string literal ('..' or "..") without escapes (numpy never
 * writes escapes in descr or key names). */
static fx_status parse_string(npy_parser *p, char *out, size_t size)
{
    skip_space(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return header_error(p, "expected a quoted string");
    char quote = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != quote) {
        if (*p->s == '\\' || n + 1 >= size)
            return header_error(p, "string too long or with escapes");
        out[n++] = *p->s++;
    }
    if (p->s >= p->end)
        return header_error(p, "unterminated string");
    p->s++;
    out[n] = '\0';
    return FX_OK;
}

static int match_word(npy_parser *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, word, n) == 0) {
        p->s += n;
        return 1;
    }
    return 0;
}

static fx_status parse_shape(npy_parser *p, fx_shape *shape)
{
    skip_space(p);
    if (p->s >= p->end || *p->s != '(')
        return header_error(p, "shape must be a tuple");
    p->s++;
    shape->ndim = 0;
    for (;;) {
        skip_space(p);
        if (p->s < p->end && *p->s == ')') {
            p->s++;
            break;
        }
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return header_error(p, "shape entries must be non-negative integers");
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return header_error(p, "shape entry too large");
            v = v * 10 + (*p->s++ - '0');
        }
        /* numpy may write 3L on Python 2 */
        if (p->s < p->end && *p->s == 'L')
            p->s++;
        if (shape->ndim >= FX_MAX_DIMS)
            return fx_fail(p->ctx, FX_ERR_UNSUPPORTED,
                           "%s: array has more than %d dimensions; fx tensors have at most %d "
                           "(reshape it before saving)",
                           p->path, FX_MAX_DIMS, FX_MAX_DIMS);
        shape->dim[shape->ndim++] = v;
        skip_space(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == ')') {
            /* A 1-tuple must be written "(n,)" in Python. */
            if (shape->ndim == 1)
                return header_error(p, "a 1-element shape must be written (n,)");
            p->s++;
            break;
        }
        return header_error(p, "expected ',' or ')' in shape");
    }
    return FX_OK;
}

static fx_status parse_descr(npy_parser *p, const char *descr, npy_kind *kind)
{
    static const struct { const char *name; npy_kind kind; } known[] = {
        {"<f4", NPY_F4}, {"<f8", NPY_F8}, {"<i4", NPY_I4}, {"<i8", NPY_I8},
        {"|u1", NPY_U1}, {"|b1", NPY_B1},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(descr, known[i].name) == 0) {
            *kind = known[i].kind;
            return FX_OK;
        }
    if (descr[0] == '>')
        return fx_fail(p->ctx, FX_ERR_UNSUPPORTED,
                       "%s: dtype '%s' is big-endian; save it as little-endian "
                       "(a.astype(a.dtype.newbyteorder('<')))",
                       p->path, descr);
    return fx_fail(p->ctx, FX_ERR_UNSUPPORTED,
                   "%s: dtype '%s' is not supported; fx reads <f4, <f8, <i4, <i8, |u1 and |b1 "
                   "(convert with a.astype(numpy.float32))",
                   p->path, descr);
}

/* Parses "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
 * followed by spaces and a newline. Every key exactly once, nothing else. */
static fx_status parse_header(fx_context *ctx, const char *path, const char *text, size_t len,
                              npy_kind *kind, fx_shape *shape)
{
    npy_parser p = {text, text + len, text, path, ctx};
    int have_descr = 0, have_order = 0, have_shape = 0;
    fx_status st;

    skip_space(&p);
    if (p.s >= p.end || *p.s != '{')
        return header_error(&p, "expected '{'");
    p.s++;
    for (;;) {
        skip_space(&p);
        if (p.s < p.end && *p.s == '}') {
            p.s++;
            break;
        }
        char key[32];
        if ((st = parse_string(&p, key, sizeof key)) != FX_OK)
            return st;
        skip_space(&p);
        if (p.s >= p.end || *p.s != ':')
            return header_error(&p, "expected ':' after a key");
        p.s++;
        skip_space(&p);
        if (strcmp(key, "descr") == 0) {
            char descr[32];
            if (have_descr++)
                return header_error(&p, "duplicate key 'descr'");
            if ((st = parse_string(&p, descr, sizeof descr)) != FX_OK)
                return st;
            if ((st = parse_descr(&p, descr, kind)) != FX_OK)
                return st;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order++)
                return header_error(&p, "duplicate key 'fortran_order'");
            if (match_word(&p, "True"))
                return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                               "%s: array is stored in Fortran order; fx reads C order only "
                               "(save numpy.ascontiguousarray(a) instead)",
                               path);
            if (!match_word(&p, "False"))
                return header_error(&p, "fortran_order must be True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return header_error(&p, "duplicate key 'shape'");
            if ((st = parse_shape(&p, shape)) != FX_OK)
                return st;
        } else {
            return header_error(&p, "unknown key (expected descr, fortran_order, shape)");
        }
        skip_space(&p);
        if (p.s < p.end && *p.s == ',') {
            p.s++;
            continue;
        }
        if (p.s < p.end && *p.s == '}') {
            p.s++;
            break;
        }
        return header_error(&p, "expected ',' or '}'");
    }
    skip_space(&p);
    if (p.s != p.end)
        return header_error(&p, "unexpected text after the dictionary");
    if (!have_descr || !have_order || !have_shape)
        return header_error(&p, "missing one of the keys descr, fortran_order, shape");
    return FX_OK;
}

/* ---- read -------------------------------------------------------------- */

static size_t kind_size(npy_kind k)
{
    switch (k) {
    case NPY_F8: case NPY_I8: return 8;
    case NPY_U1: case NPY_B1: return 1;
    default: return 4;
    }
}

/* Converts numel raw little-endian elements into 4-byte fx values. */
static fx_status convert_data(fx_context *ctx, const char *path, npy_kind kind,
                              const unsigned char *raw, int64_t numel, void *out)
{
    float *f = out;
    int32_t *i32 = out;
    int le = fx_host_is_little_endian();
    switch (kind) {
    case NPY_F4:
    case NPY_I4:
        if (le) {
            memcpy(out, raw, (size_t)numel * 4);
        } else {
            uint32_t *u = out;
            for (int64_t i = 0; i < numel; i++)
                u[i] = load_le32(raw + 4 * i);
        }
        break;
    case NPY_F8:
        for (int64_t i = 0; i < numel; i++) {
            uint64_t bits = load_le64(raw + 8 * i);
            double d;
            memcpy(&d, &bits, 8);
            f[i] = (float)d;
        }
        break;
    case NPY_I8:
        for (int64_t i = 0; i < numel; i++) {
            int64_t v = (int64_t)load_le64(raw + 8 * i);
            if (v < INT32_MIN || v > INT32_MAX)
                return fx_fail(ctx, FX_ERR_PARSE,
                               "%s: int64 element %" PRId64 " = %" PRId64
                               " does not fit in int32; fx stores integers as int32",
                               path, i, v);
            i32[i] = (int32_t)v;
        }
        break;
    case NPY_U1:
        for (int64_t i = 0; i < numel; i++)
            i32[i] = raw[i];
        break;
    case NPY_B1:
        for (int64_t i = 0; i < numel; i++)
            i32[i] = raw[i] != 0;
        break;
    }
    return FX_OK;
}

/* The numpy name of each kind, for messages ("uint8 ('|u1')"). */
static const char *kind_name(npy_kind k)
{
    static const char *const names[] = { "float32 ('<f4')", "float64 ('<f8')", "int32 ('<i4')",
                                         "int64 ('<i8')",   "uint8 ('|u1')",   "bool ('|b1')" };
    return names[k];
}

static fx_status npy_read(fx_context *ctx, const char *path, int want, fx_array *out);

fx_status fx_npy_read(fx_context *ctx, const char *path, fx_array *out) { return npy_read(ctx, path, -1, out); }

fx_status fx_npy_read_as(fx_context *ctx, const char *path, fx_dtype want, fx_array *out)
{
    return npy_read(ctx, path, (int)want, out);
}

/* want: the fx dtype the caller needs, or -1 for any. */
static fx_status npy_read(fx_context *ctx, const char *path, int want, fx_array *out)
{
    fx_status st = FX_OK;
    unsigned char pre[12];
    char *header = NULL;
    unsigned char *raw = NULL;
    void *data = NULL;
    npy_kind kind = NPY_F4;
    fx_shape shape = {0};

    memset(out, 0, sizeof *out);
    const char *why = "";
    FILE *f = fx_fopen_regular(path, &why);
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open: %s", path, why);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = fx_fail(ctx, FX_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: not a .npy file (bad magic); expected a file written by numpy.save", path);
        goto done;
    }
    unsigned major = pre[6], minor = pre[7];
    size_t header_len, prefix;
    if (major == 1 && minor == 0) {
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8;
        prefix = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s: truncated .npy header", path);
            goto done;
        }
        header_len = load_le32(pre + 8);
        prefix = 12;
    } else {
        st = fx_fail(ctx, FX_ERR_UNSUPPORTED,
                     "%s: .npy format version %u.%u is not supported (fx reads 1.0, 2.0, 3.0)",
                     path, major, minor);
        goto done;
    }
    if (header_len > NPY_HEADER_MAX || (uint64_t)(prefix + header_len) > (uint64_t)sb.st_size) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: .npy header length %zu does not fit in the %lld-byte file (truncated?)",
                     path, header_len, (long long)sb.st_size);
        goto done;
    }
    header = malloc(header_len + 1);
    if (!header) {
        st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory for the .npy header", path);
        goto done;
    }
    if (fread(header, 1, header_len, f) != header_len) {
        st = fx_fail(ctx, FX_ERR_IO, "%s: cannot read the .npy header: %s", path,
                     ferror(f) ? strerror(errno) : "unexpected end of file");
        goto done;
    }
    header[header_len] = '\0';
    if (memchr(header, '\0', header_len)) {
        st = fx_fail(ctx, FX_ERR_PARSE, "%s: malformed .npy header: contains a NUL byte", path);
        goto done;
    }
    if ((st = parse_header(ctx, path, header, header_len, &kind, &shape)) != FX_OK)
        goto done;
    fx_dtype dtype = (kind == NPY_F4 || kind == NPY_F8) ? FX_F32 : FX_I32;
    if (want >= 0 && dtype != (fx_dtype)want) {
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: the array holds %s, but %s is needed here; save it with "
                     "a.astype(numpy.%s)", path, kind_name(kind), want == FX_F32 ? "float32" : "int32",
                     want == FX_F32 ? "float32" : "int32");
        goto done;
    }

    /* numel and byte count, with overflow checks (a corrupt header can claim
     * anything). */
    int64_t numel = 1;
    for (int d = 0; d < shape.ndim; d++) {
        if (shape.dim[d] != 0 && numel > INT64_MAX / 8 / shape.dim[d]) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s: shape is too large (element count overflows)", path);
            goto done;
        }
        numel *= shape.dim[d];
    }
    uint64_t expected = (uint64_t)numel * kind_size(kind);
    uint64_t actual = (uint64_t)sb.st_size - (uint64_t)(prefix + header_len);
    if (actual != expected) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: %s: expected %" PRIu64 " data bytes for the header's shape, found %" PRIu64
                     "; re-save the array",
                     path, actual < expected ? "truncated" : "trailing bytes after the data",
                     expected, actual);
        goto done;
    }
    if ((uint64_t)numel > SIZE_MAX / 8) {
        st = fx_fail(ctx, FX_ERR_NOMEM, "%s: array too large for this machine", path);
        goto done;
    }
    raw = malloc(expected ? (size_t)expected : 1);
    data = malloc(numel ? (size_t)numel * 4 : 4);
    if (!raw || !data) {
        st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory for %" PRId64 " elements", path, numel);
        goto done;
    }
    if (fread(raw, 1, (size_t)expected, f) != (size_t)expected) {
        st = fx_fail(ctx, FX_ERR_IO, "%s: cannot read the data: %s", path,
                     ferror(f) ? strerror(errno) : "unexpected end of file");
        goto done;
    }
    if ((st = convert_data(ctx, path, kind, raw, numel, data)) != FX_OK)
        goto done;
    out->dtype = dtype;
    out->shape = shape;
    out->data = data;
    data = NULL;
done:
    free(data);
    free(raw);
    free(header);
    fclose(f);
    return st;
}

/* ---- write ------------------------------------------------------------- */

/* Formats the version 1.0 header (magic to newline) into buf; returns its
 * length, a multiple of 64. */
static size_t format_header(const fx_array *a, char *buf, size_t size)
{
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     a->dtype == FX_F32 ? "<f4" : "<i4");
    for (int d = 0; d < a->shape.ndim; d++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, d ? ", " : "", a->shape.dim[d]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", a->shape.ndim == 1 ? "," : "");
    /* magic(6) + version(2) + len(2) + dict + padding spaces + '\n' */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > size)
        return 0;
    size_t header_len = total - 10;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(header_len & 0xff);
    buf[9] = (char)(header_len >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

fx_status fx_npy_write(fx_context *ctx, const char *path, const fx_array *a)
{
    if (!a || (a->dtype != FX_F32 && a->dtype != FX_I32))
        return fx_fail(ctx, FX_ERR_INVALID, "%s: can only write F32 or I32 arrays", path);
    if (a->shape.ndim < 0 || a->shape.ndim > FX_MAX_DIMS)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: array has %d dimensions (0..%d allowed)", path,
                       a->shape.ndim, FX_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < a->shape.ndim; d++) {
        if (a->shape.dim[d] < 0)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: negative dimension %" PRId64, path, a->shape.dim[d]);
        numel *= a->shape.dim[d];
    }
    if (numel > 0 && !a->data)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: array has no data", path);

    char header[1024];
    size_t header_bytes = format_header(a, header, sizeof header);
    if (!header_bytes)
        return fx_fail(ctx, FX_ERR_INTERNAL, "%s: .npy header does not fit", path);

    char tmp[PATH_MAX + 64];
    int tn = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (tn < 0 || (size_t)tn >= sizeof tmp)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));

    const char *what = NULL;
    int err = 0;
    if (fwrite(header, 1, header_bytes, f) != header_bytes) {
        what = "write";
        err = errno;
    }
    if (!what && numel > 0) {
        if (fx_host_is_little_endian()) {
            if (fwrite(a->data, 4, (size_t)numel, f) != (size_t)numel) {
                what = "write";
                err = errno;
            }
        } else {
            const uint32_t *u = a->data;
            for (int64_t i = 0; i < numel && !what; i++) {
                unsigned char b[4] = {(unsigned char)u[i], (unsigned char)(u[i] >> 8),
                                      (unsigned char)(u[i] >> 16), (unsigned char)(u[i] >> 24)};
                if (fwrite(b, 1, 4, f) != 4) {
                    what = "write";
                    err = errno;
                }
            }
        }
    }
    return fx_file_commit(ctx, f, tmp, path, what, err, NULL, NULL);
}

void fx_array_free(fx_array *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
    a->shape.ndim = 0;
}
