/* tests/test_data.c - data sets and the batch loader: IDX files (plain and
 * gzip, truncated, mismatched), ImageFolder with PNG/JPEG/PGM/PPM written
 * by the test itself into a temp folder, corrupt and truncated images named
 * in the errors, resizing, and the loader's guarantees (each example once
 * per epoch, determinism by seed and epoch, identical batches for any
 * number of workers, normalisation, crop and flip geometry, errors from
 * worker threads, clean shutdown mid-epoch). Reads the real Fashion-MNIST
 * and face folders when they are installed, and says so when they are not. */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "fxtest.h"
#include "core/io/image_decode.h"
#include "core/io/image_resize.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];
static fx_context *ctx;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fx_test_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = fxtest_context();
}

static void teardown(void)
{
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fx_context_destroy(ctx);
}

/* Returns tmpdir/rel in a rotating set of buffers (several live at once). */
static const char *tpath(const char *rel)
{
    static char bufs[8][700];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, rel);
    return b;
}

static void make_dir(const char *rel)
{
    ck_assert_int_eq(mkdir(tpath(rel), 0755), 0);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static long file_size(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void truncate_file(const char *path, long size)
{
    ck_assert_int_eq(truncate(path, size), 0);
}

/* ---- fixture writers ---------------------------------------------------- */

/* channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; pixels HWC. */
static void write_png(const char *path, int w, int h, int channels, const uint8_t *pixels)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    static const int types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * w * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_jpeg(const char *path, int w, int h, int channels, const uint8_t *pixels, int quality)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    ck_assert_int_eq(fclose(f), 0);
}

/* Binary P5 (channels 1) or P6 (3). */
static void write_pnm(const char *path, int w, int h, int channels, const uint8_t *pixels)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "P%d\n# written by test_data\n%d %d\n255\n", channels == 1 ? 5 : 6, w, h);
    ck_assert_uint_eq(fwrite(pixels, 1, (size_t)w * h * channels, f), (size_t)w * h * channels);
    ck_assert_int_eq(fclose(f), 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes an IDX images file (n x rows x cols) and a labels file; gzip when
 * `gz`. */
static void write_idx(const char *images_path, const char *labels_path, int n, int rows, int cols,
                      const uint8_t *pixels, const uint8_t *labels, int gz)
{
    unsigned char head[16];
    put_be32(head, 0x803);
    put_be32(head + 4, (uint32_t)n);
    put_be32(head + 8, (uint32_t)rows);
    put_be32(head + 12, (uint32_t)cols);
    size_t bytes = (size_t)n * rows * cols;
    unsigned char lhead[8];
    put_be32(lhead, 0x801);
    put_be32(lhead + 4, (uint32_t)n);
    if (gz) {
        gzFile f = gzopen(images_path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, head, 16), 16);
        ck_assert_int_eq(gzwrite(f, pixels, (unsigned)bytes), (int)bytes);
        ck_assert_int_eq(gzclose(f), Z_OK);
        f = gzopen(labels_path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, lhead, 8), 8);
        ck_assert_int_eq(gzwrite(f, labels, (unsigned)n), n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(images_path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(head, 1, 16, f), 16);
        ck_assert_uint_eq(fwrite(pixels, 1, bytes, f), bytes);
        fclose(f);
        f = fopen(labels_path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(lhead, 1, 8, f), 8);
        ck_assert_uint_eq(fwrite(labels, 1, (size_t)n, f), (size_t)n);
        fclose(f);
    }
}

static fx_data_config default_config(void)
{
    fx_data_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 2;
    return cfg;
}

static fx_data_source idx_source(const char *images, const char *labels)
{
    fx_data_source s;
    memset(&s, 0, sizeof s);
    s.kind = FX_DATA_IDX;
    snprintf(s.images, sizeof s.images, "%s", images);
    snprintf(s.labels, sizeof s.labels, "%s", labels);
    return s;
}

static fx_data_source folder_source(const char *root)
{
    fx_data_source s;
    memset(&s, 0, sizeof s);
    s.kind = FX_DATA_IMAGEFOLDER;
    snprintf(s.root, sizeof s.root, "%s", root);
    return s;
}

static fx_dataset *open_ok(const fx_data_source *src, const fx_data_config *cfg)
{
    fx_dataset *ds = NULL;
    fx_status st = fx_dataset_open(ctx, src, cfg, &ds);
    ck_assert_msg(st == FX_OK, "fx_dataset_open: %s", fx_context_error(ctx));
    ck_assert_ptr_nonnull(ds);
    return ds;
}

static void expect_open_error(const fx_data_source *src, const fx_data_config *cfg, fx_status status,
                              const char *needle1, const char *needle2)
{
    fx_dataset *ds = (fx_dataset *)(uintptr_t)1;
    fx_context_clear_error(ctx);
    fx_status st = fx_dataset_open(ctx, src, cfg, &ds);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(st == status, "expected %s, got %s: %s", fx_status_name(status), fx_status_name(st), msg);
    ck_assert_ptr_null(ds);
    if (needle1)
        ck_assert_msg(strstr(msg, needle1), "message lacks '%s': %s", needle1, msg);
    if (needle2)
        ck_assert_msg(strstr(msg, needle2), "message lacks '%s': %s", needle2, msg);
}

static fx_loader *loader_ok(fx_dataset *ds, const fx_data_config *cfg, int batch, int shuffle, int augment,
                            uint64_t seed)
{
    fx_loader_options o = {batch, shuffle, augment, 0, seed, NULL};
    fx_loader *ld = NULL;
    ck_assert_msg(fx_loader_create(ctx, ds, cfg, &o, &ld) == FX_OK, "%s", fx_context_error(ctx));
    return ld;
}

/* Reads a whole epoch: images and labels concatenated; returns the count. */
static int64_t read_epoch(fx_loader *ld, int64_t epoch, int batch, int64_t example, float *images,
                          int32_t *labels)
{
    ck_assert_int_eq(fx_loader_start_epoch(ld, epoch), FX_OK);
    int64_t total = 0, batches = 0;
    for (;;) {
        int count = -1;
        fx_status st = fx_loader_next(ld, images + total * example, labels + total, &count);
        ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
        if (count == 0)
            break;
        ck_assert_int_le(count, batch);
        total += count;
        batches++;
    }
    ck_assert_int_eq(batches, fx_loader_batches_per_epoch(ld));
    return total;
}

/* An IDX data set of n 6x5 images whose first two pixels encode the
 * example index (so batches can be traced back); label = index % 7. */
static fx_dataset *indexed_idx_dataset(int n, fx_data_config *cfg)
{
    uint8_t *px = malloc((size_t)n * 30), *lb = malloc((size_t)n);
    ck_assert(px && lb);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 30; k++)
            px[i * 30 + k] = (uint8_t)((i * 7 + k * 13) & 0xff);
        px[i * 30] = (uint8_t)(i & 0xff);
        px[i * 30 + 1] = (uint8_t)(i >> 8);
        lb[i] = (uint8_t)(i % 7);
    }
    write_idx(tpath("ix-images"), tpath("ix-labels"), n, 6, 5, px, lb, 0);
    free(px);
    free(lb);
    fx_data_source src = idx_source(tpath("ix-images"), tpath("ix-labels"));
    return open_ok(&src, cfg);
}

static int example_index(const float *x)
{
    return (int)lroundf(x[0] * 255.0f) + 256 * (int)lroundf(x[1] * 255.0f);
}

/* ---- IDX ------------------------------------------------------------------ */

START_TEST(test_idx_reads_plain_and_gzip_files)
{
    uint8_t px[5 * 4 * 3], lb[5] = {3, 0, 1, 3, 2};
    for (int i = 0; i < 60; i++)
        px[i] = (uint8_t)(i * 4);
    for (int gz = 0; gz < 2; gz++) {
        const char *im = tpath(gz ? "im.gz" : "im"), *la = tpath(gz ? "la.gz" : "la");
        write_idx(im, la, 5, 4, 3, px, lb, gz);
        fx_data_source src = idx_source(im, la);
        fx_data_config cfg = default_config();
        fx_dataset *ds = open_ok(&src, &cfg);
        ck_assert_int_eq(fx_dataset_size(ds), 5);
        ck_assert_int_eq(fx_dataset_classes(ds), 4);
        ck_assert_str_eq(fx_dataset_class_name(ds, 3), "3");
        ck_assert_ptr_null(fx_dataset_class_name(ds, 4));
        fx_shape s = fx_dataset_example_shape(ds, &cfg);
        ck_assert_int_eq(s.ndim, 3);
        ck_assert(s.dim[0] == 1 && s.dim[1] == 4 && s.dim[2] == 3);

        fx_loader *ld = loader_ok(ds, &cfg, 2, 0, 0, 1);
        float images[5 * 12];
        int32_t labels[5];
        ck_assert_int_eq(read_epoch(ld, 0, 2, 12, images, labels), 5);
        for (int i = 0; i < 60; i++)
            ck_assert_float_eq_tol(images[i], px[i] / 255.0f, 1e-7);
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(labels[i], lb[i]);
        fx_loader_destroy(ld);

        /* limit keeps the first examples; channels 3 replicates grey;
         * resize 8 doubles the size. */
        src.limit = 3;
        cfg.channels = 3;
        cfg.resize = 8;
        fx_dataset *ds3 = open_ok(&src, &cfg);
        ck_assert_int_eq(fx_dataset_size(ds3), 3);
        ck_assert_int_eq(fx_dataset_classes(ds3), 4); /* from all labels, not the first 3 */
        s = fx_dataset_example_shape(ds3, &cfg);
        ck_assert(s.dim[0] == 3 && s.dim[1] == 8 && s.dim[2] == 8);
        fx_dataset_close(ds3);
        fx_dataset_close(ds);
    }
}
END_TEST

START_TEST(test_idx_truncated_and_mismatched_files_are_reported)
{
    uint8_t px[10 * 28 * 28] = {0}, lb[10] = {0};
    fx_data_config cfg = default_config();
    /* Plain file cut short: exact expected and actual sizes. */
    write_idx(tpath("a"), tpath("b"), 10, 28, 28, px, lb, 0);
    truncate_file(tpath("a"), 16 + 5000);
    fx_data_source src = idx_source(tpath("a"), tpath("b"));
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "truncated", "7856");
    expect_open_error(&src, &cfg, FX_ERR_PARSE, tpath("a"), "5016");

    /* Gzip file cut short. */
    write_idx(tpath("a.gz"), tpath("b.gz"), 10, 28, 28, px, lb, 1);
    truncate_file(tpath("a.gz"), file_size(tpath("a.gz")) / 2);
    src = idx_source(tpath("a.gz"), tpath("b.gz"));
    fx_dataset *ds = NULL;
    fx_context_clear_error(ctx);
    ck_assert_int_ne(fx_dataset_open(ctx, &src, &cfg, &ds), FX_OK);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(fx_context_error(ctx), "a.gz"), "%s", fx_context_error(ctx));

    /* Label count differs from image count. */
    uint8_t lb9[9] = {0};
    write_idx(tpath("c"), tpath("d"), 9, 28, 28, px, lb9, 0);
    src = idx_source(tpath("a.gz"), tpath("d"));
    write_idx(tpath("a.gz"), tpath("b.gz"), 10, 28, 28, px, lb, 1);
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "9 labels", "10 images");

    /* Images and labels swapped; bad magic; missing file. */
    src = idx_source(tpath("b.gz"), tpath("a.gz"));
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "swap", NULL);
    write_file(tpath("junk"), "\x00\x00\x0d\x03\x00\x00\x00\x01", 8);
    src = idx_source(tpath("junk"), tpath("b.gz"));
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "magic", "junk");
    src = idx_source(tpath("nope"), tpath("b.gz"));
    expect_open_error(&src, &cfg, FX_ERR_IO, "nope", NULL);
    /* Extra bytes after the data. */
    write_idx(tpath("e"), tpath("f"), 2, 2, 2, px, lb, 0);
    FILE *f = fopen(tpath("e"), "ab");
    fputc(7, f);
    fclose(f);
    src = idx_source(tpath("e"), tpath("f"));
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "too long", NULL);
}
END_TEST

/* ---- image decoding and resizing ----------------------------------------------- */

START_TEST(test_decode_png_variants_and_pnm_exactly)
{
    uint8_t grey[6] = {0, 50, 100, 150, 200, 255};
    uint8_t rgba[6 * 4];
    for (int i = 0; i < 24; i++)
        rgba[i] = (uint8_t)(i * 10);
    write_png(tpath("g.png"), 3, 2, 1, grey);
    write_png(tpath("ga.png"), 3, 2, 2, rgba);
    write_png(tpath("rgba.png"), 3, 2, 4, rgba);
    write_pnm(tpath("g.pgm"), 3, 2, 1, grey);
    write_file(tpath("ascii.ppm"), "P3\n# c\n2 1\n15\n0 15 3  15 0 0\n", 29);
    char err[512];
    fx_image_u8 img;
    ck_assert_int_eq(fx_image_decode_file(tpath("g.png"), &img, err, sizeof err), FX_OK);
    ck_assert(img.width == 3 && img.height == 2 && img.channels == 1);
    ck_assert(memcmp(img.pixels, grey, 6) == 0);
    fx_image_free(&img);
    ck_assert_int_eq(fx_image_decode_file(tpath("g.pgm"), &img, err, sizeof err), FX_OK);
    ck_assert(img.width == 3 && img.height == 2 && img.channels == 1);
    ck_assert(memcmp(img.pixels, grey, 6) == 0);
    fx_image_free(&img);
    /* Alpha is dropped. */
    ck_assert_int_eq(fx_image_decode_file(tpath("ga.png"), &img, err, sizeof err), FX_OK);
    ck_assert_int_eq(img.channels, 1);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(img.pixels[i], rgba[2 * i]);
    fx_image_free(&img);
    ck_assert_int_eq(fx_image_decode_file(tpath("rgba.png"), &img, err, sizeof err), FX_OK);
    ck_assert_int_eq(img.channels, 3);
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++)
            ck_assert_int_eq(img.pixels[3 * i + c], rgba[4 * i + c]);
    /* RGB -> grey with BT.601 weights; grey -> RGB replicates. */
    uint8_t r = img.pixels[3], g = img.pixels[4], b = img.pixels[5];
    ck_assert_int_eq(fx_image_convert_channels(&img, 1, err, sizeof err), FX_OK);
    ck_assert_int_eq(img.pixels[1], (int)lround(0.299 * r + 0.587 * g + 0.114 * b));
    ck_assert_int_eq(fx_image_convert_channels(&img, 3, err, sizeof err), FX_OK);
    ck_assert(img.pixels[3] == img.pixels[4] && img.pixels[4] == img.pixels[5]);
    fx_image_free(&img);
    /* ASCII PPM with maxval 15 scales to 0..255. */
    ck_assert_msg(fx_image_decode_file(tpath("ascii.ppm"), &img, err, sizeof err) == FX_OK, "%s", err);
    ck_assert(img.width == 2 && img.height == 1 && img.channels == 3);
    ck_assert(img.pixels[0] == 0 && img.pixels[1] == 255 && img.pixels[2] == 51 && img.pixels[3] == 255);
    fx_image_free(&img);
}
END_TEST

START_TEST(test_corrupt_and_truncated_images_give_errors_naming_the_file)
{
    enum { W = 48, H = 40 };
    uint8_t *px = malloc(W * H * 3);
    ck_assert_ptr_nonnull(px);
    srand(7);
    for (int i = 0; i < W * H * 3; i++)
        px[i] = (uint8_t)(rand() & 0xff);
    char err[512];
    fx_image_u8 img;

    /* PNG with a damaged IDAT chunk (CRC mismatch). */
    write_png(tpath("bad.png"), W, H, 3, px);
    FILE *f = fopen(tpath("bad.png"), "r+b");
    fseek(f, file_size(tpath("bad.png")) / 2, SEEK_SET);
    fputc(0x5a ^ 0xff, f);
    fputc(0x13, f);
    fclose(f);
    ck_assert_int_eq(fx_image_decode_file(tpath("bad.png"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "bad.png") && strstr(err, "corrupt PNG"), "%s", err);
    ck_assert_ptr_null(img.pixels);

    /* Truncated PNG. */
    write_png(tpath("cut.png"), W, H, 3, px);
    truncate_file(tpath("cut.png"), file_size(tpath("cut.png")) * 2 / 3);
    ck_assert_int_eq(fx_image_decode_file(tpath("cut.png"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "cut.png") && strstr(err, "truncated"), "%s", err);

    /* Truncated JPEG: libjpeg would return grey rows with a warning. */
    write_jpeg(tpath("cut.jpg"), W, H, 3, px, 95);
    ck_assert_int_eq(fx_image_decode_file(tpath("cut.jpg"), &img, err, sizeof err), FX_OK);
    fx_image_free(&img);
    truncate_file(tpath("cut.jpg"), file_size(tpath("cut.jpg")) - 1500);
    ck_assert_int_eq(fx_image_decode_file(tpath("cut.jpg"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "cut.jpg") && strstr(err, "Premature end"), "%s", err);
    /* JPEG cut inside its header. */
    truncate_file(tpath("cut.jpg"), 100);
    ck_assert_int_eq(fx_image_decode_file(tpath("cut.jpg"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "cut.jpg") && strstr(err, "corrupt JPEG"), "%s", err);

    /* Not an image at all; truncated PGM; huge claimed size. */
    write_file(tpath("text.png"), "hello world", 11);
    ck_assert_int_eq(fx_image_decode_file(tpath("text.png"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "text.png") && strstr(err, "not a PNG"), "%s", err);
    write_file(tpath("cut.pgm"), "P5 4 4 255\n0123456", 18);
    ck_assert_int_eq(fx_image_decode_file(tpath("cut.pgm"), &img, err, sizeof err), FX_ERR_PARSE);
    ck_assert_msg(strstr(err, "cut.pgm") && strstr(err, "16 pixel bytes expected, 7"), "%s", err);
    write_file(tpath("huge.pgm"), "P5 900000 900000 255\n0", 22);
    ck_assert_int_ne(fx_image_decode_file(tpath("huge.pgm"), &img, err, sizeof err), FX_OK);
    ck_assert_msg(strstr(err, "huge.pgm"), "%s", err);
    ck_assert_int_eq(fx_image_decode_file(tpath("missing.png"), &img, err, sizeof err), FX_ERR_IO);
    free(px);
}
END_TEST

START_TEST(test_resize_area_shrinks_to_block_means_and_bilinear_enlarges)
{
    /* 4x4 -> 2x2: each output is the mean of a 2x2 block. */
    uint8_t src[16];
    for (int i = 0; i < 16; i++)
        src[i] = (uint8_t)(i * 10);
    uint8_t dst[4];
    ck_assert_int_eq(fx_image_resize_u8(src, 1, 4, 4, dst, 2, 2), 0);
    ck_assert_int_eq(dst[0], (0 + 10 + 40 + 50 + 2) / 4);
    ck_assert_int_eq(dst[3], (100 + 110 + 140 + 150 + 2) / 4);
    /* 3 -> 2 along x (area with fractional overlap): [a, b, c] ->
     * [(a + b/2) / 1.5, (b/2 + c) / 1.5]. */
    float row[3] = {3, 6, 9}, out[2];
    ck_assert_int_eq(fx_image_resize_f32(row, 1, 1, 3, out, 1, 2), 0);
    ck_assert_float_eq_tol(out[0], (3 + 3) / 1.5f, 1e-5);
    ck_assert_float_eq_tol(out[1], (3 + 9) / 1.5f, 1e-5);
    /* 2 -> 4 bilinear, half-pixel centres: [a, b] -> [a, .75a+.25b, .25a+.75b, b]. */
    float two[2] = {0, 8}, four[4];
    ck_assert_int_eq(fx_image_resize_f32(two, 1, 1, 2, four, 1, 4), 0);
    ck_assert_float_eq_tol(four[0], 0, 1e-6);
    ck_assert_float_eq_tol(four[1], 2, 1e-6);
    ck_assert_float_eq_tol(four[2], 6, 1e-6);
    ck_assert_float_eq_tol(four[3], 8, 1e-6);
    /* A constant image stays constant at any size, per plane. */
    uint8_t flat[2 * 7 * 5], big[2 * 11 * 3];
    memset(flat, 77, 35);
    memset(flat + 35, 200, 35);
    ck_assert_int_eq(fx_image_resize_u8(flat, 2, 7, 5, big, 11, 3), 0);
    for (int i = 0; i < 33; i++) {
        ck_assert_int_eq(big[i], 77);
        ck_assert_int_eq(big[33 + i], 200);
    }
}
END_TEST

/* ---- ImageFolder ------------------------------------------------------------------ */

/* root/ant (2 PNG: grey, RGB), root/bee (JPEG + PGM), root/cat (PPM),
 * plus files that must be ignored. Each image is 4x3 filled with a value
 * telling which one it is. */
static void make_small_folder(const char *root)
{
    char rel[256];
    make_dir(root);
    snprintf(rel, sizeof rel, "%s/cat", root);
    make_dir(rel);
    snprintf(rel, sizeof rel, "%s/ant", root);
    make_dir(rel);
    snprintf(rel, sizeof rel, "%s/bee", root);
    make_dir(rel);
    snprintf(rel, sizeof rel, "%s/.hidden", root);
    make_dir(rel);
    uint8_t g[12], rgb[36];
    memset(g, 10, sizeof g);
    snprintf(rel, sizeof rel, "%s/ant/b.png", root);
    write_png(tpath(rel), 4, 3, 1, g);
    for (int i = 0; i < 12; i++) {
        rgb[3 * i] = 200;
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = 50;
    }
    snprintf(rel, sizeof rel, "%s/ant/a.png", root);
    write_png(tpath(rel), 4, 3, 3, rgb);
    memset(g, 128, sizeof g);
    snprintf(rel, sizeof rel, "%s/bee/x.jpg", root);
    write_jpeg(tpath(rel), 4, 3, 1, g, 100);
    memset(g, 30, sizeof g);
    snprintf(rel, sizeof rel, "%s/bee/y.PGM", root);
    write_pnm(tpath(rel), 4, 3, 1, g);
    snprintf(rel, sizeof rel, "%s/cat/z.ppm", root);
    write_pnm(tpath(rel), 4, 3, 3, rgb);
    snprintf(rel, sizeof rel, "%s/cat/notes.txt", root);
    write_file(tpath(rel), "x", 1);
    snprintf(rel, sizeof rel, "%s/README.md", root);
    write_file(tpath(rel), "x", 1);
    snprintf(rel, sizeof rel, "%s/.hidden/h.png", root);
    write_png(tpath(rel), 4, 3, 1, g);
}

START_TEST(test_imagefolder_sorted_classes_and_files_with_png_jpeg_pnm)
{
    make_small_folder("root");
    fx_data_source src = folder_source(tpath("root"));
    fx_data_config cfg = default_config();
    cfg.channels = 3;
    fx_dataset *ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_size(ds), 5);
    ck_assert_int_eq(fx_dataset_classes(ds), 3);
    ck_assert_str_eq(fx_dataset_class_name(ds, 0), "ant");
    ck_assert_str_eq(fx_dataset_class_name(ds, 1), "bee");
    ck_assert_str_eq(fx_dataset_class_name(ds, 2), "cat");
    fx_shape s = fx_dataset_example_shape(ds, &cfg);
    ck_assert(s.dim[0] == 3 && s.dim[1] == 3 && s.dim[2] == 4);

    fx_loader *ld = loader_ok(ds, &cfg, 4, 0, 0, 1);
    float images[5 * 36];
    int32_t labels[5];
    ck_assert_int_eq(read_epoch(ld, 0, 4, 36, images, labels), 5);
    /* Order: ant/a.png (RGB), ant/b.png (grey 10), bee/x.jpg (128),
     * bee/y.PGM (30), cat/z.ppm (RGB). */
    static const int32_t want_labels[5] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(labels[i], want_labels[i]);
    for (int k = 0; k < 12; k++) {
        ck_assert_float_eq_tol(images[0 * 36 + k], 200 / 255.0f, 1e-6);
        ck_assert_float_eq_tol(images[0 * 36 + 12 + k], 100 / 255.0f, 1e-6);
        ck_assert_float_eq_tol(images[0 * 36 + 24 + k], 50 / 255.0f, 1e-6);
        for (int c = 0; c < 3; c++) {
            ck_assert_float_eq_tol(images[1 * 36 + 12 * c + k], 10 / 255.0f, 1e-6);
            ck_assert_float_eq_tol(images[2 * 36 + 12 * c + k], 128 / 255.0f, 2.5 / 255);
            ck_assert_float_eq_tol(images[3 * 36 + 12 * c + k], 30 / 255.0f, 1e-6);
        }
        ck_assert_float_eq_tol(images[4 * 36 + 12 + k], 100 / 255.0f, 1e-6);
    }
    fx_loader_destroy(ld);
    fx_dataset_close(ds);

    /* Grey conversion and limit (first examples in sorted order). */
    cfg.channels = 1;
    src.limit = 3;
    ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_size(ds), 3);
    s = fx_dataset_example_shape(ds, &cfg);
    ck_assert(s.dim[0] == 1 && s.dim[1] == 3 && s.dim[2] == 4);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_imagefolder_errors_name_the_file_and_the_fix)
{
    fx_data_config cfg = default_config();
    fx_data_source src = folder_source(tpath("none"));
    expect_open_error(&src, &cfg, FX_ERR_IO, "none", "one sub-folder per class");

    make_dir("empty");
    src = folder_source(tpath("empty"));
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "no class folders", NULL);
    make_dir("empty/c");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "no images", NULL);

    /* Two sizes without resize; with resize both fit. */
    make_dir("sizes");
    make_dir("sizes/a");
    uint8_t g[64] = {0};
    write_png(tpath("sizes/a/1.png"), 4, 4, 1, g);
    write_png(tpath("sizes/a/2.png"), 8, 4, 1, g);
    src = folder_source(tpath("sizes"));
    expect_open_error(&src, &cfg, FX_ERR_SHAPE, "2.png", "data.resize");
    cfg.resize = 6;
    fx_dataset *ds = open_ok(&src, &cfg);
    fx_shape s = fx_dataset_example_shape(ds, &cfg);
    ck_assert(s.dim[0] == 3 && s.dim[1] == 6 && s.dim[2] == 6);
    fx_dataset_close(ds);
    cfg.resize = 0;

    /* A corrupt PNG and a truncated JPEG among good images. */
    uint8_t px[32 * 32 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 31 + i / 7);
    make_dir("bad");
    make_dir("bad/a");
    make_dir("bad/b");
    write_png(tpath("bad/a/1.png"), 32, 32, 3, px);
    write_png(tpath("bad/a/2.png"), 32, 32, 3, px);
    FILE *f = fopen(tpath("bad/a/2.png"), "r+b");
    fseek(f, 100, SEEK_SET);
    fputc(0, f);
    fputc(1, f);
    fclose(f);
    src = folder_source(tpath("bad"));
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "bad/a/2.png", "corrupt PNG");
    write_png(tpath("bad/a/2.png"), 32, 32, 3, px);
    write_jpeg(tpath("bad/b/3.jpg"), 32, 32, 3, px, 95);
    truncate_file(tpath("bad/b/3.jpg"), file_size(tpath("bad/b/3.jpg")) - 800);
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "bad/b/3.jpg", "corrupt JPEG");

    /* Bad configuration values. */
    cfg.channels = 2;
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "channels", NULL);
    cfg.channels = 0;
    src.kind = FX_DATA_NONE;
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "no data source", NULL);
}
END_TEST

/* With the cache disabled, images are decoded on the worker threads: a
 * corrupt one surfaces from fx_loader_next, and the loader still shuts
 * down cleanly. */
START_TEST(test_lazy_decoding_reports_worker_errors_from_next)
{
    ck_assert_int_eq(setenv("FX_DATA_CACHE_MB", "0", 1), 0);
    make_dir("lazy");
    make_dir("lazy/a");
    uint8_t px[16 * 16];
    for (int i = 0; i < 256; i++)
        px[i] = (uint8_t)i;
    char rel[64];
    for (int i = 0; i < 12; i++) {
        snprintf(rel, sizeof rel, "lazy/a/%02d.png", i);
        write_png(tpath(rel), 16, 16, 1, px);
    }
    fx_data_source src = folder_source(tpath("lazy"));
    fx_data_config cfg = default_config();
    cfg.channels = 1;
    cfg.workers = 3;
    fx_dataset *ds = open_ok(&src, &cfg);
    fx_loader *ld = loader_ok(ds, &cfg, 4, 0, 0, 5);
    float images[12 * 256];
    int32_t labels[12];
    ck_assert_int_eq(read_epoch(ld, 0, 4, 256, images, labels), 12);
    for (int i = 0; i < 256; i++)
        ck_assert_float_eq_tol(images[11 * 256 + i], i / 255.0f, 1e-7);

    /* Damage example 9 (third batch) after open. */
    write_file(tpath("lazy/a/09.png"), "\x89PNG\r\n\x1a\ngarbage", 15);
    ck_assert_int_eq(fx_loader_start_epoch(ld, 1), FX_OK);
    int count;
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
    ck_assert_int_eq(count, 4);
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
    fx_context_clear_error(ctx);
    fx_status st = fx_loader_next(ld, images, labels, &count);
    ck_assert_int_eq(st, FX_ERR_PARSE);
    ck_assert_int_eq(count, 0);
    ck_assert_msg(strstr(fx_context_error(ctx), "lazy/a/09.png"), "%s", fx_context_error(ctx));
    /* The same error again, not a hang. */
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_ERR_PARSE);
    /* A fresh epoch works up to the bad file again. */
    ck_assert_int_eq(fx_loader_start_epoch(ld, 2), FX_OK);
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
    fx_loader_destroy(ld);
    fx_dataset_close(ds);
    unsetenv("FX_DATA_CACHE_MB");
}
END_TEST

/* ---- loader ------------------------------------------------------------------------ */

START_TEST(test_loader_yields_every_example_once_per_shuffled_epoch)
{
    enum { N = 103, B = 10 };
    fx_data_config cfg = default_config();
    fx_dataset *ds = indexed_idx_dataset(N, &cfg);
    fx_loader *ld = loader_ok(ds, &cfg, B, 1, 0, 42);
    ck_assert_int_eq(fx_loader_batches_per_epoch(ld), 11);
    float *images = malloc(N * 30 * sizeof(float));
    int32_t labels[N];
    for (int epoch = 0; epoch < 3; epoch++) {
        ck_assert_int_eq(read_epoch(ld, epoch, B, 30, images, labels), N);
        int seen[N] = {0}, in_order = 1;
        for (int i = 0; i < N; i++) {
            int idx = example_index(images + i * 30);
            ck_assert_int_ge(idx, 0);
            ck_assert_int_lt(idx, N);
            seen[idx]++;
            ck_assert_int_eq(labels[i], idx % 7);
            in_order &= idx == i;
        }
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(seen[i], 1);
        ck_assert_msg(!in_order, "epoch %d was not shuffled", epoch);
    }
    /* The end of an epoch keeps answering 0. */
    int count = -1;
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
    ck_assert_int_eq(count, 0);
    fx_loader_destroy(ld);

    /* drop_last skips the partial batch. */
    fx_loader_options o = {B, 1, 0, 1, 42, NULL};
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_OK);
    ck_assert_int_eq(fx_loader_batches_per_epoch(ld), 10);
    ck_assert_int_eq(read_epoch(ld, 0, B, 30, images, labels), 100);
    fx_loader_destroy(ld);

    /* Before start_epoch: an error, not a hang. */
    ld = loader_ok(ds, &cfg, B, 1, 0, 42);
    ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_ERR_INVALID);
    fx_loader_destroy(ld);
    free(images);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_loader_order_depends_only_on_seed_and_epoch)
{
    enum { N = 50, B = 8 };
    fx_data_config cfg = default_config();
    fx_dataset *ds = indexed_idx_dataset(N, &cfg);
    float *a = malloc(N * 30 * sizeof(float)), *b = malloc(N * 30 * sizeof(float));
    int32_t la[N], lb[N];
    fx_loader *l1 = loader_ok(ds, &cfg, B, 1, 0, 7);
    fx_loader *l2 = loader_ok(ds, &cfg, B, 1, 0, 7);
    /* Same seed and epoch: same batches, even after other epochs ran. */
    read_epoch(l1, 3, B, 30, a, la);
    read_epoch(l2, 0, B, 30, b, lb);
    read_epoch(l2, 3, B, 30, b, lb);
    ck_assert(memcmp(a, b, N * 30 * sizeof(float)) == 0);
    ck_assert(memcmp(la, lb, sizeof la) == 0);
    /* Different epoch: different order. */
    read_epoch(l2, 4, B, 30, b, lb);
    ck_assert(memcmp(a, b, N * 30 * sizeof(float)) != 0);
    /* Different seed: different order. */
    fx_loader *l3 = loader_ok(ds, &cfg, B, 1, 0, 8);
    read_epoch(l3, 3, B, 30, b, lb);
    ck_assert(memcmp(a, b, N * 30 * sizeof(float)) != 0);
    /* No shuffle: data set order. */
    fx_loader *l4 = loader_ok(ds, &cfg, B, 0, 0, 7);
    read_epoch(l4, 5, B, 30, b, lb);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(example_index(b + i * 30), i);
    fx_loader_destroy(l1);
    fx_loader_destroy(l2);
    fx_loader_destroy(l3);
    fx_loader_destroy(l4);
    free(a);
    free(b);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_loader_batches_identical_for_one_and_three_workers)
{
    enum { N = 97, B = 6 };
    fx_data_config cfg = default_config();
    cfg.size = 4;
    cfg.crop = FX_CROP_RANDOM;
    cfg.flip = 1;
    cfg.n_norm = 1;
    cfg.mean[0] = 0.5f;
    cfg.std[0] = 0.25f;
    fx_dataset *ds = indexed_idx_dataset(N, &cfg);
    float *a = malloc(N * 16 * sizeof(float)), *b = malloc(N * 16 * sizeof(float));
    int32_t la[N], lb[N];
    cfg.workers = 1;
    fx_loader *l1 = loader_ok(ds, &cfg, B, 1, 1, 99);
    cfg.workers = 3;
    fx_loader *l3 = loader_ok(ds, &cfg, B, 1, 1, 99);
    for (int epoch = 0; epoch < 3; epoch++) {
        read_epoch(l1, epoch, B, 16, a, la);
        read_epoch(l3, epoch, B, 16, b, lb);
        ck_assert_msg(memcmp(a, b, N * 16 * sizeof(float)) == 0, "epoch %d differs", epoch);
        ck_assert(memcmp(la, lb, sizeof la) == 0);
    }
    fx_loader_destroy(l1);
    fx_loader_destroy(l3);
    free(a);
    free(b);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_loader_normalises_per_channel)
{
    make_dir("norm");
    make_dir("norm/c");
    uint8_t rgb[2 * 2 * 3] = {0, 128, 255, 10, 20, 30, 40, 50, 60, 255, 255, 255};
    write_png(tpath("norm/c/p.png"), 2, 2, 3, rgb);
    fx_data_source src = folder_source(tpath("norm"));
    fx_data_config cfg = default_config();
    cfg.n_norm = 3;
    float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(cfg.mean, mean, sizeof mean);
    memcpy(cfg.std, std, sizeof std);
    fx_dataset *ds = open_ok(&src, &cfg);
    fx_loader *ld = loader_ok(ds, &cfg, 1, 0, 1, 3);
    float out[12];
    int32_t label;
    ck_assert_int_eq(read_epoch(ld, 0, 1, 12, out, &label), 1);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 4; p++)
            ck_assert_float_eq_tol(out[c * 4 + p], (rgb[p * 3 + c] / 255.0f - mean[c]) / std[c], 1e-5);
    fx_loader_destroy(ld);
    /* Scaling to [-1, 1] (mean 0.5, std 0.5, one value for all channels). */
    cfg.n_norm = 1;
    cfg.mean[0] = 0.5f;
    cfg.std[0] = 0.5f;
    ld = loader_ok(ds, &cfg, 1, 0, 0, 3);
    ck_assert_int_eq(read_epoch(ld, 0, 1, 12, out, &label), 1);
    ck_assert_float_eq_tol(out[0], -1.0f, 1e-6);
    ck_assert_float_eq_tol(out[2 * 4 + 0], 1.0f, 1e-6);
    fx_loader_destroy(ld);
    /* Invalid normalisation and sizes are refused at create. */
    fx_loader_options o = {1, 0, 0, 0, 1, NULL};
    cfg.n_norm = 2;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_ERR_INVALID);
    cfg.n_norm = 1;
    cfg.std[0] = 0;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_ERR_INVALID);
    cfg.std[0] = 1;
    cfg.size = 3;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_ERR_INVALID);
    ck_assert(strstr(fx_context_error(ctx), "data.size 3") != NULL);
    cfg.size = 0;
    o.batch = 0;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_ERR_INVALID);
    fx_dataset_close(ds);
}
END_TEST

/* A 4x5 image with distinct pixels (10*y + x + 1) cropped to 3x3: every
 * output must be one 3x3 window, flipped or not; random crops and flips
 * must reach every window; evaluation takes the centre without flipping. */
START_TEST(test_loader_crop_and_flip_geometry_on_asymmetric_image)
{
    enum { N = 64, H = 4, W = 5, S = 3 };
    uint8_t px[N * H * W], lb[N] = {0};
    for (int i = 0; i < N; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                px[(i * H + y) * W + x] = (uint8_t)(10 * y + x + 1);
    write_idx(tpath("geo-i"), tpath("geo-l"), N, H, W, px, lb, 0);
    fx_data_source src = idx_source(tpath("geo-i"), tpath("geo-l"));
    fx_data_config cfg = default_config();
    cfg.size = S;
    cfg.crop = FX_CROP_RANDOM;
    cfg.flip = 1;
    fx_dataset *ds = open_ok(&src, &cfg);
    fx_shape s = fx_dataset_example_shape(ds, &cfg);
    ck_assert(s.dim[0] == 1 && s.dim[1] == S && s.dim[2] == S);
    float out[N * S * S];
    int32_t labels[N];
    int hits[H - S + 1][W - S + 1][2];
    memset(hits, 0, sizeof hits);
    fx_loader *ld = loader_ok(ds, &cfg, 16, 1, 1, 11);
    for (int epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(read_epoch(ld, epoch, 16, S * S, out, labels), N);
        for (int i = 0; i < N; i++) {
            const float *o = out + i * S * S;
            int v = (int)lroundf(o[0] * 255);
            /* Top-left value tells the window: 10*oy + ox + 1 (unflipped)
             * or 10*oy + ox + S (flipped: the right column comes first). */
            int matched = 0;
            for (int oy = 0; oy <= H - S && !matched; oy++)
                for (int ox = 0; ox <= W - S && !matched; ox++)
                    for (int flip = 0; flip < 2 && !matched; flip++) {
                        int ok = 1;
                        for (int y = 0; y < S && ok; y++)
                            for (int x = 0; x < S && ok; x++) {
                                int sx = flip ? ox + S - 1 - x : ox + x;
                                ok = lroundf(o[y * S + x] * 255) == 10 * (oy + y) + sx + 1;
                            }
                        if (ok) {
                            hits[oy][ox][flip]++;
                            matched = 1;
                        }
                    }
            ck_assert_msg(matched, "example %d (top-left %d) is not a window of the image", i, v);
        }
    }
    for (int oy = 0; oy <= H - S; oy++)
        for (int ox = 0; ox <= W - S; ox++)
            for (int flip = 0; flip < 2; flip++)
                ck_assert_msg(hits[oy][ox][flip] > 0, "crop (%d,%d) flip %d never drawn", oy, ox, flip);
    fx_loader_destroy(ld);

    /* Evaluation (augment off): centre crop (0, 1), no flip. */
    ld = loader_ok(ds, &cfg, 16, 1, 0, 11);
    ck_assert_int_eq(read_epoch(ld, 0, 16, S * S, out, labels), N);
    for (int i = 0; i < N; i++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                ck_assert_int_eq(lroundf(out[i * S * S + y * S + x] * 255), 10 * y + (x + 1) + 1);
    fx_loader_destroy(ld);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_loader_destroy_mid_epoch_and_restart_epoch)
{
    enum { N = 300, B = 4 };
    fx_data_config cfg = default_config();
    cfg.workers = 4;
    fx_dataset *ds = indexed_idx_dataset(N, &cfg);
    float images[B * 30];
    int32_t labels[B];
    int count;
    for (int round = 0; round < 20; round++) {
        fx_loader *ld = loader_ok(ds, &cfg, B, 1, 1, (uint64_t)round);
        ck_assert_int_eq(fx_loader_start_epoch(ld, 0), FX_OK);
        for (int k = 0; k < round % 4; k++)
            ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
        /* Restarting mid-epoch begins the new epoch from its first batch. */
        ck_assert_int_eq(fx_loader_start_epoch(ld, 1), FX_OK);
        ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
        ck_assert_int_eq(count, B);
        fx_loader_destroy(ld); /* workers are mid-epoch here */
    }
    fx_loader *a = loader_ok(ds, &cfg, B, 1, 0, 5), *b = loader_ok(ds, &cfg, B, 1, 0, 5);
    float first[B * 30];
    ck_assert_int_eq(fx_loader_start_epoch(a, 2), FX_OK);
    ck_assert_int_eq(fx_loader_next(a, first, labels, &count), FX_OK);
    ck_assert_int_eq(fx_loader_start_epoch(b, 0), FX_OK);
    ck_assert_int_eq(fx_loader_next(b, images, labels, &count), FX_OK);
    ck_assert_int_eq(fx_loader_start_epoch(b, 2), FX_OK);
    ck_assert_int_eq(fx_loader_next(b, images, labels, &count), FX_OK);
    ck_assert(memcmp(first, images, sizeof first) == 0);
    ck_assert_int_eq(fx_loader_start_epoch(b, -1), FX_ERR_INVALID);
    fx_loader_destroy(a);
    fx_loader_destroy(b);
    fx_dataset_close(ds);
}
END_TEST

/* ---- real data ------------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

START_TEST(test_fashion_mnist_opens_with_60000_and_10000_examples)
{
    if (access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("skipped: Fashion-MNIST not installed in %s\n", FASHION_DIR);
        return;
    }
    fx_data_config cfg = default_config();
    fx_data_source train = idx_source(FASHION_DIR "/train-images-idx3-ubyte.gz",
                                      FASHION_DIR "/train-labels-idx1-ubyte.gz");
    fx_data_source test = idx_source(FASHION_DIR "/t10k-images-idx3-ubyte.gz",
                                     FASHION_DIR "/t10k-labels-idx1-ubyte.gz");
    double t0 = now_seconds();
    fx_dataset *tr = open_ok(&train, &cfg);
    double t_open = now_seconds() - t0;
    fx_dataset *te = open_ok(&test, &cfg);
    ck_assert_int_eq(fx_dataset_size(tr), 60000);
    ck_assert_int_eq(fx_dataset_size(te), 10000);
    ck_assert_int_eq(fx_dataset_classes(tr), 10);
    ck_assert_int_eq(fx_dataset_classes(te), 10);
    fx_shape s = fx_dataset_example_shape(tr, &cfg);
    ck_assert(s.dim[0] == 1 && s.dim[1] == 28 && s.dim[2] == 28);

    fx_loader *ld = loader_ok(tr, &cfg, 64, 1, 1, 1);
    float *images = malloc(64 * 784 * sizeof(float));
    int32_t labels[64];
    int per_class[10] = {0}, count;
    int64_t total = 0, batches = 0;
    ck_assert_int_eq(fx_loader_start_epoch(ld, 0), FX_OK);
    double t1 = now_seconds(), worst = 0;
    for (;;) {
        double tb = now_seconds();
        ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
        double dt = now_seconds() - tb;
        if (dt > worst && batches > 0)
            worst = dt;
        if (count == 0)
            break;
        for (int i = 0; i < count; i++)
            per_class[labels[i]]++;
        total += count;
        batches++;
    }
    double t_epoch = now_seconds() - t1;
    ck_assert_int_eq(total, 60000);
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(per_class[c], 6000);
    printf("Fashion-MNIST: open %.3f s; epoch of %lld batches of 64 in %.3f s (%.1f us per batch, "
           "slowest wait %.1f us)\n",
           t_open, (long long)batches, t_epoch, t_epoch / (double)batches * 1e6, worst * 1e6);
    free(images);
    fx_loader_destroy(ld);
    fx_dataset_close(tr);
    fx_dataset_close(te);
}
END_TEST

static int count_subdirs(const char *root)
{
    DIR *d = opendir(root);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    struct stat sb;
    char path[2048];
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_real_face_folders_open_and_load)
{
    static const char *const folders[] = {"orl", "yaleb-cropped", "lfw-train", "cfp-nonlfw"};
    const char *source = getenv("FX_SOURCE_DIR");
    char base[1024];
    snprintf(base, sizeof base, "%s/../shared/data", source ? source : FX_SOURCE_DIR);
    int tested = 0;
    for (size_t k = 0; k < sizeof folders / sizeof folders[0]; k++) {
        char root[1200];
        snprintf(root, sizeof root, "%s/%s", base, folders[k]);
        if (access(root, R_OK) != 0)
            continue;
        fx_data_source src = folder_source(root);
        src.limit = 120; /* the first identities; keeps the test fast */
        fx_data_config cfg = default_config();
        cfg.channels = 3;
        cfg.resize = 110;
        cfg.size = 96;
        cfg.crop = FX_CROP_RANDOM;
        cfg.flip = 1;
        cfg.n_norm = 1;
        cfg.mean[0] = cfg.std[0] = 0.5f;
        double t0 = now_seconds();
        fx_dataset *ds = open_ok(&src, &cfg);
        double t_open = now_seconds() - t0;
        ck_assert_int_eq(fx_dataset_size(ds), 120);
        ck_assert_int_eq(fx_dataset_classes(ds), count_subdirs(root));
        fx_shape s = fx_dataset_example_shape(ds, &cfg);
        ck_assert(s.dim[0] == 3 && s.dim[1] == 96 && s.dim[2] == 96);
        fx_loader *ld = loader_ok(ds, &cfg, 32, 1, 1, 1);
        float *images = malloc(32 * 3 * 96 * 96 * sizeof(float));
        int32_t labels[32];
        int count;
        ck_assert_int_eq(fx_loader_start_epoch(ld, 0), FX_OK);
        ck_assert_int_eq(fx_loader_next(ld, images, labels, &count), FX_OK);
        ck_assert_int_eq(count, 32);
        float lo = 1, hi = -1;
        double sum = 0;
        for (int i = 0; i < 32 * 3 * 96 * 96; i++) {
            lo = fminf(lo, images[i]);
            hi = fmaxf(hi, images[i]);
            sum += images[i];
        }
        ck_assert(lo >= -1.0f && hi <= 1.0f && hi > lo + 0.5f);
        for (int i = 0; i < 32; i++)
            ck_assert(labels[i] >= 0 && labels[i] < fx_dataset_classes(ds));
        printf("%s: %d classes, first 120 images decoded and resized in %.3f s; batch mean %.3f\n", folders[k],
               fx_dataset_classes(ds), t_open, sum / (32.0 * 3 * 96 * 96));
        free(images);
        fx_loader_destroy(ld);
        fx_dataset_close(ds);
        tested++;
    }
    if (!tested)
        printf("skipped: no face folders under %s\n", base);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_idx_reads_plain_and_gzip_files);
    tcase_add_test(tc, test_idx_truncated_and_mismatched_files_are_reported);
    tcase_add_test(tc, test_decode_png_variants_and_pnm_exactly);
    tcase_add_test(tc, test_corrupt_and_truncated_images_give_errors_naming_the_file);
    tcase_add_test(tc, test_resize_area_shrinks_to_block_means_and_bilinear_enlarges);
    tcase_add_test(tc, test_imagefolder_sorted_classes_and_files_with_png_jpeg_pnm);
    tcase_add_test(tc, test_imagefolder_errors_name_the_file_and_the_fix);
    tcase_add_test(tc, test_lazy_decoding_reports_worker_errors_from_next);
    tcase_add_test(tc, test_loader_yields_every_example_once_per_shuffled_epoch);
    tcase_add_test(tc, test_loader_order_depends_only_on_seed_and_epoch);
    tcase_add_test(tc, test_loader_batches_identical_for_one_and_three_workers);
    tcase_add_test(tc, test_loader_normalises_per_channel);
    tcase_add_test(tc, test_loader_crop_and_flip_geometry_on_asymmetric_image);
    tcase_add_test(tc, test_loader_destroy_mid_epoch_and_restart_epoch);
    tcase_add_test(tc, test_fashion_mnist_opens_with_60000_and_10000_examples);
    tcase_add_test(tc, test_real_face_folders_open_and_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(data_suite());
}
