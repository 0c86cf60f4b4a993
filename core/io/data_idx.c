/* core/io/data_idx.c - IDX files (MNIST, Fashion-MNIST): an images file
 * (magic 0x00000803: unsigned bytes, dims n, rows, cols) and a labels file
 * (magic 0x00000801: unsigned bytes, dim n), gzip-compressed or not; zlib's
 * gzread reads both transparently. Dimensions are big-endian uint32.
 *
 * The whole file is read and checked at open: the data length must match
 * the dimensions exactly, so a truncated download is reported (with
 * expected and actual byte counts) instead of training on zeros. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/io/dataset.h"
#include "core/internal.h"
#include "core/io/image_resize.h"

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES 0x00000803u

typedef struct idx_file {
    int ndim;
    uint32_t dim[4];
    uint8_t *data; /* product of dims bytes, malloc'd */
    uint64_t count;
} idx_file;

/* gzread takes an unsigned int length: read in chunks. Returns the bytes
 * read, or -1 on a zlib error (message from gzerror). */
static int64_t gz_read_all(gzFile f, void *buf, uint64_t n)
{
    uint64_t done = 0;
    while (done < n) {
        uint64_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
        int got = gzread(f, (char *)buf + done, (unsigned)chunk);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        done += (uint64_t)got;
    }
    return (int64_t)done;
}

static fx_status gz_failure(fx_context *ctx, gzFile f, const char *path)
{
    int errnum = 0;
    const char *msg = gzerror(f, &errnum);
    if (errnum == Z_ERRNO)
        return fx_fail(ctx, FX_ERR_IO, "%s: read error: %s", path, strerror(errno));
    return fx_fail(ctx, FX_ERR_PARSE, "%s: corrupt gzip data (%s); download the file again", path,
                   msg ? msg : "unknown zlib error");
}

static fx_status idx_read(fx_context *ctx, const char *path, uint32_t magic, int ndim, idx_file *out)
{
    const char *what = magic == IDX_MAGIC_IMAGES ? "images" : "labels";
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open IDX %s file: %s", path, what, strerror(errno));
    const char *why = "";
    int fd = fx_open_regular(path, &why);
    if (fd < 0)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open IDX %s file: %s", path, what, why);
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open IDX %s file: out of memory", path, what);
    }
    gzbuffer(f, 1 << 18);
    fx_status st = FX_OK;
    unsigned char head[4 + 4 * 4];
    int64_t got = gz_read_all(f, head, 4);
    if (got < 0) {
        st = gz_failure(ctx, f, path);
        goto done;
    }
    if (got < 4) {
        st = fx_fail(ctx, FX_ERR_PARSE, "%s: file is too short to be an IDX %s file", path, what);
        goto done;
    }
    uint32_t file_magic = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (file_magic != magic) {
        if (file_magic == IDX_MAGIC_IMAGES || file_magic == IDX_MAGIC_LABELS)
            st = fx_fail(ctx, FX_ERR_INVALID, "%s: this is an IDX %s file, but it was given as the %s file; "
                         "swap data images and labels",
                         path, file_magic == IDX_MAGIC_IMAGES ? "images" : "labels", what);
        else
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s: bad IDX magic 0x%08" PRIx32 " (expected 0x%08" PRIx32 " for unsigned-byte %s); "
                         "is this an MNIST-style %s file?",
                         path, file_magic, magic, what, what);
        goto done;
    }
    got = gz_read_all(f, head + 4, 4 * (uint64_t)ndim);
    if (got < 0) {
        st = gz_failure(ctx, f, path);
        goto done;
    }
    if (got < 4 * ndim) {
        st = fx_fail(ctx, FX_ERR_PARSE, "%s: IDX header is truncated (dimensions missing)", path);
        goto done;
    }
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        const unsigned char *p = head + 4 + 4 * d;
        out->dim[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        count *= out->dim[d]; /* three 32-bit factors could overflow: checked below */
        if (count > (1ull << 40)) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s: IDX dimensions are implausibly large (corrupt header?)", path);
            goto done;
        }
    }
    out->ndim = ndim;
    uint64_t header_bytes = 4 + 4 * (uint64_t)ndim;
    /* Uncompressed: the exact length is known before reading anything. */
    if (gzdirect(f) && (uint64_t)sb.st_size != header_bytes + count) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: IDX %s file is %s: its header needs %" PRIu64 " bytes in all, the file has %lld; "
                     "download it again",
                     path, what, (uint64_t)sb.st_size < header_bytes + count ? "truncated" : "too long",
                     header_bytes + count, (long long)sb.st_size);
        goto done;
    }
    /* A gzip file's header may announce far more than the file holds: the
     * buffer grows (doubling from 16 MiB) only as data actually arrives, so
     * a 60-byte file cannot make fx reserve gigabytes. */
    uint64_t cap = count < (16u << 20) ? (count ? count : 1) : (16u << 20);
    got = 0;
    for (;;) {
        unsigned char *grown = realloc(out->data, (size_t)cap);
        if (!grown) {
            st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory for %" PRIu64 " bytes", path, count);
            goto done;
        }
        out->data = grown;
        uint64_t want = (count < cap ? count : cap) - (uint64_t)got;
        int64_t n = gz_read_all(f, out->data + got, want);
        if (n < 0) {
            st = gz_failure(ctx, f, path);
            goto done;
        }
        got += n;
        if ((uint64_t)n < want || (uint64_t)got >= count)
            break;
        cap = cap * 2 < count ? cap * 2 : count;
    }
    if ((uint64_t)got < count) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: IDX %s file is truncated: the header needs %" PRIu64 " data bytes, found %" PRId64
                     "; download it again",
                     path, what, count, got);
        goto done;
    }
    unsigned char extra;
    got = gz_read_all(f, &extra, 1);
    if (got != 0) {
        st = got < 0 ? gz_failure(ctx, f, path)
                     : fx_fail(ctx, FX_ERR_PARSE,
                               "%s: IDX %s file has bytes after the %" PRIu64 " its header announces; "
                               "the file is corrupt",
                               path, what, count);
        goto done;
    }
    out->count = count;
done:
    gzclose(f);
    if (st != FX_OK) {
        free(out->data);
        out->data = NULL;
    }
    return st;
}

fx_status fx_data_idx_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                           fx_dataset *ds)
{
    if (!src->images[0] || !src->labels[0])
        return fx_fail(ctx, FX_ERR_INVALID,
                       "IDX data needs both an images and a labels file (e.g. train-images-idx3-ubyte.gz "
                       "and train-labels-idx1-ubyte.gz)");
    snprintf(ds->source, sizeof ds->source, "%s", src->images);
    idx_file images, labels;
    fx_status st = idx_read(ctx, src->images, IDX_MAGIC_IMAGES, 3, &images);
    if (st != FX_OK)
        return st;
    st = idx_read(ctx, src->labels, IDX_MAGIC_LABELS, 1, &labels);
    if (st != FX_OK) {
        free(images.data);
        return st;
    }
    int64_t n = images.dim[0];
    int rows = (int)images.dim[1], cols = (int)images.dim[2];
    if (labels.dim[0] != images.dim[0]) {
        st = fx_fail(ctx, FX_ERR_INVALID, "%s has %" PRIu32 " labels but %s has %" PRIu32
                     " images; give the labels file that belongs to these images",
                     src->labels, labels.dim[0], src->images, images.dim[0]);
        goto done;
    }
    if (n == 0 || rows == 0 || cols == 0) {
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: IDX file holds no images (%lld of %dx%d)", src->images,
                     (long long)n, rows, cols);
        goto done;
    }
    if (src->limit > 0 && src->limit < n)
        n = src->limit;

    ds->n = n;
    ds->channels = cfg->channels ? cfg->channels : 1;
    ds->height = cfg->resize ? cfg->resize : rows;
    ds->width = cfg->resize ? cfg->resize : cols;
    ds->labels = fx_malloc(ctx, (size_t)n * sizeof(int32_t), "IDX labels");
    if (!ds->labels) {
        st = FX_ERR_NOMEM;
        goto done;
    }
    /* Classes from every label in the file, not only the first `limit`, so
     * a limited run keeps the full data set's number of classes. */
    int max_label = 0;
    for (uint64_t i = 0; i < labels.count; i++)
        if (labels.data[i] > max_label)
            max_label = labels.data[i];
    for (int64_t i = 0; i < n; i++)
        ds->labels[i] = labels.data[i];
    ds->n_classes = max_label + 1;
    ds->class_names = fx_calloc(ctx, (size_t)ds->n_classes, sizeof(char *), "IDX class names");
    if (!ds->class_names) {
        st = FX_ERR_NOMEM;
        goto done;
    }
    for (int c = 0; c < ds->n_classes; c++) {
        char name[16];
        snprintf(name, sizeof name, "%d", c);
        ds->class_names[c] = strdup(name);
        if (!ds->class_names[c]) {
            st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory for IDX class names");
            goto done;
        }
    }

    size_t plane = (size_t)rows * (size_t)cols;
    if (ds->channels == 1 && !cfg->resize) {
        ds->pixels = images.data; /* already [n, 1, rows, cols] */
        images.data = NULL;
    } else {
        ds->pixels = fx_malloc(ctx, (size_t)n * fx_dataset_example_bytes(ds), "IDX images");
        if (!ds->pixels) {
            st = FX_ERR_NOMEM;
            goto done;
        }
        /* Resize the grey plane straight from the file's pixels, then
         * replicate it for RGB: the same bytes as converting to RGB first
         * (resizing works on each plane alone), without a copy per image. */
        size_t out_plane = (size_t)ds->height * (size_t)ds->width;
        for (int64_t i = 0; i < n; i++) {
            uint8_t *dst = ds->pixels + (size_t)i * fx_dataset_example_bytes(ds);
            if (fx_image_resize_u8(images.data + (size_t)i * plane, 1, rows, cols, dst, ds->height, ds->width) !=
                0) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "%s: image %lld: out of memory resizing a %dx%d image",
                             src->images, (long long)i, cols, rows);
                goto done;
            }
            for (int c = 1; c < ds->channels; c++)
                memcpy(dst + (size_t)c * out_plane, dst, out_plane);
        }
    }
done:
    free(images.data);
    free(labels.data);
    return st;
}
