/* tests/test_face_data.c - face data: ImageFolder roots of PNG/JPEG/PGM in
 * colour and grey at different sizes, the landmarks CSV (values and errors
 * with line numbers), data.box, the identity-disjoint split, landmarks
 * through box/resize/crop/flip (hand-computed), the mean-face template, the
 * triangle mesh (a hand-checked triangle, global affine maps, the Delaunay
 * property) and the loader's occlusion window (crop frame, and warped
 * through 68 landmarks into a hand-computed parallelogram), data.landmark_box,
 * the YAML keys, and the graph's landmarks input fed by the loader into the
 * occlude op. Uses the CFP 30-point fiducials of ../shared/data when
 * present, and says so when not. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "fxtest.h"
#include "core/io/image_decode.h"

#define CFP_DIR "/work/shared/data/cfp-nonlfw"

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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fx_test_face_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = fxtest_context();
}

static void teardown(void)
{
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fx_context_destroy(ctx);
}

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

static void write_text(const char *rel, const char *text)
{
    FILE *f = fopen(tpath(rel), "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_png(const char *rel, int w, int h, int channels, const uint8_t *pixels)
{
    FILE *f = fopen(tpath(rel), "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng failed writing %s", rel);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * w * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_jpeg(const char *rel, int w, int h, int channels, const uint8_t *pixels)
{
    FILE *f = fopen(tpath(rel), "wb");
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
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_pgm(const char *rel, int w, int h, const uint8_t *pixels)
{
    FILE *f = fopen(tpath(rel), "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "P5\n%d %d\n255\n", w, h);
    ck_assert_uint_eq(fwrite(pixels, 1, (size_t)w * h, f), (size_t)w * h);
    ck_assert_int_eq(fclose(f), 0);
}

/* A grey image of one value (channels 1 or 3, HWC). */
static uint8_t *flat(int w, int h, int channels, uint8_t v)
{
    uint8_t *p = malloc((size_t)w * h * channels);
    ck_assert_ptr_nonnull(p);
    memset(p, v, (size_t)w * h * channels);
    return p;
}

static fx_data_config face_config(void)
{
    fx_config c;
    fx_config_default(&c);
    c.data.channels = 1;
    c.data.workers = 2;
    return c.data;
}

static fx_data_source folder(const char *root, const char *landmarks)
{
    fx_data_source s;
    memset(&s, 0, sizeof s);
    s.kind = FX_DATA_IMAGEFOLDER;
    snprintf(s.root, sizeof s.root, "%s", tpath(root));
    if (landmarks)
        snprintf(s.landmarks, sizeof s.landmarks, "%s", tpath(landmarks));
    return s;
}

static fx_dataset *open_ok(const fx_data_source *src, const fx_data_config *cfg)
{
    fx_dataset *ds = NULL;
    fx_status st = fx_dataset_open(ctx, src, cfg, &ds);
    ck_assert_msg(st == FX_OK, "fx_dataset_open: %s", fx_context_error(ctx));
    return ds;
}

static void expect_open_error(const fx_data_source *src, const fx_data_config *cfg, fx_status status,
                              const char *needle1, const char *needle2)
{
    fx_dataset *ds = NULL;
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

/* Loads the whole data set in order (one batch), with landmarks. */
static int load_all(fx_dataset *ds, const fx_data_config *cfg, int augment, const fx_occlusion *occ, uint64_t seed,
                    float *images, int32_t *labels, float *points)
{
    fx_loader_options o = {.batch = (int)fx_dataset_size(ds), .shuffle = 0, .augment = augment,
                           .drop_last = 0, .seed = seed, .occlude = occ};
    fx_loader *ld = NULL;
    ck_assert_msg(fx_loader_create(ctx, ds, cfg, &o, &ld) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_loader_start_epoch(ld, 0), FX_OK);
    int count = 0;
    ck_assert_msg(fx_loader_next_landmarks(ld, images, labels, points, &count) == FX_OK, "%s",
                  fx_context_error(ctx));
    fx_loader_destroy(ld);
    return count;
}

/* ---- template and mesh --------------------------------------------------- */

START_TEST(test_template68_equals_the_repository_csv_and_mirror_is_an_involution)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/landmarks/mean68.csv", FX_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s is missing", path);
    float xy[136], big[136];
    ck_assert_int_eq(fx_face_template68(ctx, 1, xy), FX_OK);
    ck_assert_int_eq(fx_face_template68(ctx, 96, big), FX_OK);
    for (int i = 0; i < 68; i++) {
        double x, y;
        ck_assert_int_eq(fscanf(f, "%lf,%lf", &x, &y), 2);
        ck_assert_float_eq(xy[2 * i], (float)x);
        ck_assert_float_eq(xy[2 * i + 1], (float)y);
        ck_assert_float_eq_tol(big[2 * i], (float)(96 * x), 1e-4);
    }
    double extra;
    ck_assert_int_eq(fscanf(f, "%lf", &extra), EOF);
    fclose(f);
    ck_assert_int_eq(fx_face_template68(ctx, 0, xy), FX_ERR_INVALID);
    for (int i = 0; i < 68; i++)
        ck_assert_int_eq(fx_face_mirror68(fx_face_mirror68(i)), i);
    /* Midline points stay; eye corners swap; in the template the mirror of
     * a point lies at about the same height on the other side. */
    static const int midline[] = {8, 27, 28, 29, 30, 33, 51, 57, 62, 66};
    for (size_t k = 0; k < sizeof midline / sizeof midline[0]; k++)
        ck_assert_int_eq(fx_face_mirror68(midline[k]), midline[k]);
    ck_assert_int_eq(fx_face_mirror68(36), 45);
    ck_assert_int_eq(fx_face_mirror68(48), 54);
    float cx = 0;
    for (int i = 0; i < 68; i++)
        cx += xy[2 * i] / 68;
    for (int i = 0; i < 68; i++) {
        int m = fx_face_mirror68(i);
        ck_assert_msg(fabsf(xy[2 * i + 1] - xy[2 * m + 1]) < 0.03f, "point %d and its mirror %d differ in height", i, m);
        ck_assert_msg(fabsf((xy[2 * i] - cx) + (xy[2 * m] - cx)) < 0.03f, "point %d and %d not mirrored about x %g",
                      i, m, (double)cx);
    }
    ck_assert_int_eq(fx_face_mirror68(68), -1);
}
END_TEST

START_TEST(test_mesh_maps_a_point_by_its_barycentric_coordinates)
{
    /* One triangle (0,0), (10,0), (0,10) -> (2,3), (6,3), (2,11): the map is
     * x' = 2 + 0.4 x, y' = 3 + 0.8 y. (2.5, 5) has barycentric coordinates
     * (0.25, 0.25, 0.5), so its image is 0.25 (2,3) + 0.25 (6,3) + 0.5 (2,11)
     * = (3, 7). Outside, (20, 20) uses the same affine map: (10, 19). */
    const float from[6] = {0, 0, 10, 0, 0, 10}, to[6] = {2, 3, 6, 3, 2, 11};
    fx_face_mesh *m = NULL;
    ck_assert_int_eq(fx_face_mesh_create(ctx, from, 3, &m), FX_OK);
    ck_assert_int_eq(fx_face_mesh_triangles(m), 1);
    float ox, oy;
    ck_assert_int_eq(fx_face_mesh_map(m, from, to, 2.5f, 5.0f, &ox, &oy), 0);
    ck_assert_float_eq_tol(ox, 3.0f, 1e-5);
    ck_assert_float_eq_tol(oy, 7.0f, 1e-5);
    ck_assert_int_eq(fx_face_mesh_map(m, from, to, 20.0f, 20.0f, &ox, &oy), 0);
    ck_assert_float_eq_tol(ox, 10.0f, 1e-4);
    ck_assert_float_eq_tol(oy, 19.0f, 1e-4);
    /* Vertices map to vertices. */
    ck_assert_int_eq(fx_face_mesh_map(m, from, to, 10.0f, 0.0f, &ox, &oy), 0);
    ck_assert_float_eq_tol(ox, 6.0f, 1e-5);
    ck_assert_float_eq_tol(oy, 3.0f, 1e-5);
    /* Degenerate `from` (all on one point) and non-finite input: -1. */
    const float flat_from[6] = {1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(fx_face_mesh_map(m, flat_from, to, 1.0f, 1.0f, &ox, &oy), -1);
    ck_assert_int_eq(fx_face_mesh_map(m, from, to, NAN, 1.0f, &ox, &oy), -1);
    fx_face_mesh_destroy(m);

    /* Points on a line give no mesh; too few points are refused. */
    const float line[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    ck_assert_int_eq(fx_face_mesh_create(ctx, line, 4, &m), FX_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(fx_face_mesh_create(ctx, line, 2, &m), FX_ERR_INVALID);
}
END_TEST

START_TEST(test_mesh_over_the_68_template_is_delaunay_and_piecewise_affine)
{
    float t[136];
    ck_assert_int_eq(fx_face_template68(ctx, 110, t), FX_OK);
    fx_face_mesh *m = NULL;
    ck_assert_int_eq(fx_face_mesh_create(ctx, t, 68, &m), FX_OK);
    int nt = fx_face_mesh_triangles(m);
    /* A triangulation of n points with h on the hull has 2n - 2 - h triangles. */
    ck_assert_msg(nt >= 68 && nt <= 2 * 68 - 5, "%d triangles", nt);
    /* Delaunay: no template point strictly inside a triangle's circumcircle. */
    for (int k = 0; k < nt; k++) {
        const int *v = fx_face_mesh_triangle(m, k);
        double ax = t[2 * v[0]], ay = t[2 * v[0] + 1], bx = t[2 * v[1]], by = t[2 * v[1] + 1];
        double cx = t[2 * v[2]], cy = t[2 * v[2] + 1];
        double d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
        ck_assert_msg(fabs(d) > 1e-9, "triangle %d is degenerate", k);
        double ux = ((ax * ax + ay * ay) * (by - cy) + (bx * bx + by * by) * (cy - ay) + (cx * cx + cy * cy) * (ay - by)) / d;
        double uy = ((ax * ax + ay * ay) * (cx - bx) + (bx * bx + by * by) * (ax - cx) + (cx * cx + cy * cy) * (bx - ax)) / d;
        double r2 = (ax - ux) * (ax - ux) + (ay - uy) * (ay - uy);
        for (int p = 0; p < 68; p++) {
            double dx = t[2 * p] - ux, dy = t[2 * p + 1] - uy;
            ck_assert_msg(dx * dx + dy * dy >= r2 * (1 - 1e-6), "point %d inside the circumcircle of triangle %d", p, k);
        }
    }
    /* A global affine map of the landmarks is reproduced everywhere, inside
     * and outside the face: x' = 2x + 0.5y + 5, y' = -0.25x + 1.5y + 7. */
    float a[136];
    for (int p = 0; p < 68; p++) {
        a[2 * p] = 2 * t[2 * p] + 0.5f * t[2 * p + 1] + 5;
        a[2 * p + 1] = -0.25f * t[2 * p] + 1.5f * t[2 * p + 1] + 7;
    }
    const float probes[][2] = {{55, 60}, {30, 40}, {80, 90}, {0, 0}, {109, 5}, {55, 115}};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        float x = probes[k][0], y = probes[k][1], ox, oy;
        ck_assert_int_eq(fx_face_mesh_map(m, t, a, x, y, &ox, &oy), 0);
        ck_assert_float_eq_tol(ox, 2 * x + 0.5f * y + 5, 1e-3);
        ck_assert_float_eq_tol(oy, -0.25f * x + 1.5f * y + 7, 1e-3);
    }
    /* Piecewise: moving one landmark moves only the points of its triangles. */
    float moved[136];
    memcpy(moved, t, sizeof moved);
    moved[2 * 30] += 5; /* nose tip */
    float ox, oy;
    ck_assert_int_eq(fx_face_mesh_map(m, t, moved, t[2 * 30], t[2 * 30 + 1], &ox, &oy), 0);
    ck_assert_float_eq_tol(ox, t[2 * 30] + 5, 1e-3);
    ck_assert_int_eq(fx_face_mesh_map(m, t, moved, t[2 * 8], t[2 * 8 + 1] - 1, &ox, &oy), 0); /* near the chin */
    ck_assert_float_eq_tol(ox, t[2 * 8], 1e-3);
    /* Far outside the face a small change of one hull landmark moves the
     * image little: the global affine fit, not a sliver triangle's map
     * extended (which sent such points hundreds of pixels off). */
    memcpy(moved, t, sizeof moved);
    moved[2 * 16 + 1] += 3; /* the jaw's end by the right ear, 3 px down */
    const float far[][2] = {{55, -60}, {-50, 30}, {170, 60}, {55, 180}};
    for (size_t k = 0; k < sizeof far / sizeof far[0]; k++) {
        ck_assert_int_eq(fx_face_mesh_map(m, t, moved, far[k][0], far[k][1], &ox, &oy), 0);
        ck_assert_msg(fabsf(ox - far[k][0]) < 3 && fabsf(oy - far[k][1]) < 3, "(%g, %g) -> (%g, %g)",
                      (double)far[k][0], (double)far[k][1], (double)ox, (double)oy);
    }
    fx_face_mesh_destroy(m);
}
END_TEST

/* ---- formats, landmarks, box, split -------------------------------------- */

START_TEST(test_imagefolder_reads_png_jpeg_pgm_in_colour_and_grey_of_any_size)
{
    make_dir("faces");
    make_dir("faces/ann");
    make_dir("faces/bob");
    uint8_t *a = flat(7, 5, 3, 200), *b = flat(9, 6, 1, 60), *c = flat(4, 8, 1, 120), *d = flat(12, 12, 3, 30);
    write_png("faces/ann/1.png", 7, 5, 3, a);
    write_jpeg("faces/ann/2.jpg", 9, 6, 1, b);
    write_pgm("faces/bob/1.pgm", 4, 8, c);
    write_jpeg("faces/bob/2.JPEG", 12, 12, 3, d);
    free(a);
    free(b);
    free(c);
    free(d);
    fx_data_config cfg = face_config();
    fx_data_source src = folder("faces", NULL);
    /* Different sizes need a resize. */
    expect_open_error(&src, &cfg, FX_ERR_SHAPE, "2.jpg", "data.resize");
    cfg.resize = 6;
    cfg.size = 4;
    cfg.n_norm = 1;
    cfg.mean[0] = 0.5f;
    cfg.std[0] = 0.5f;
    for (int ch = 1; ch <= 3; ch += 2) {
        cfg.channels = ch;
        fx_dataset *ds = open_ok(&src, &cfg);
        ck_assert_int_eq(fx_dataset_size(ds), 4);
        ck_assert_int_eq(fx_dataset_classes(ds), 2);
        ck_assert_int_eq(fx_dataset_landmark_points(ds), 0);
        ck_assert_str_eq(fx_dataset_file(ds, 2), tpath("faces/bob/1.pgm"));
        ck_assert_ptr_null(fx_dataset_file(ds, 4));
        float images[4 * 3 * 16], points[1];
        int32_t labels[4];
        ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, points), 4);
        /* Flat images stay flat through resize and crop; [-1, 1] scaling.
         * RGB -> grey of a grey RGB value is the value; JPEG at quality 100
         * is within 2 levels. */
        const float want[4] = {200, 60, 120, 30};
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < ch * 16; k++)
                ck_assert_float_eq_tol(images[i * ch * 16 + k], want[i] / 127.5f - 1, 2.5f / 127.5f);
        ck_assert_int_eq(labels[0], 0);
        ck_assert_int_eq(labels[3], 1);
        fx_dataset_close(ds);
    }
}
END_TEST

START_TEST(test_corrupt_truncated_images_and_empty_identities_give_clear_errors)
{
    make_dir("r");
    make_dir("r/a");
    make_dir("r/empty");
    uint8_t *g = flat(16, 16, 1, 90);
    write_jpeg("r/a/1.jpg", 16, 16, 1, g);
    free(g);
    fx_data_config cfg = face_config();
    fx_data_source src = folder("r", NULL);
    /* An empty identity keeps its label (no shift) but holds no images. */
    fx_dataset *ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_classes(ds), 2);
    ck_assert_int_eq(fx_dataset_size(ds), 1);
    fx_dataset_close(ds);
    /* Only empty identities: an error naming the root. */
    make_dir("e");
    make_dir("e/x");
    src = folder("e", NULL);
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "no images", tpath("e"));
    /* A split whose part is only empty identities is no data set either. */
    cfg.split_holdout = 0.5f;
    cfg.split_seed = 3;
    src = folder("r", NULL);
    src.part = FX_DATA_PART_KEPT;
    fx_dataset *kept = NULL;
    fx_status st = fx_dataset_open(ctx, &src, &cfg, &kept);
    src.part = FX_DATA_PART_HELD_OUT;
    fx_dataset *held = NULL;
    fx_status st2 = fx_dataset_open(ctx, &src, &cfg, &held);
    ck_assert_msg((st == FX_OK) != (st2 == FX_OK), "exactly one part holds the non-empty identity");
    fx_dataset_close(kept);
    fx_dataset_close(held);
    cfg.split_holdout = 0;
    /* Truncated JPEG: the error names the file. */
    src = folder("r", NULL);
    src.part = FX_DATA_PART_ALL;
    FILE *f = fopen(tpath("r/a/1.jpg"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(tpath("r/a/1.jpg"), size / 2), 0);
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "r/a/1.jpg", NULL);
    /* Not an image at all. */
    write_text("r/a/1.jpg", "hello, not a JPEG");
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "r/a/1.jpg", NULL);
}
END_TEST

static void make_two_identity_root(void)
{
    make_dir("lm");
    make_dir("lm/ann");
    make_dir("lm/bob");
    uint8_t *g = flat(20, 10, 1, 100);
    write_png("lm/ann/1.png", 20, 10, 1, g);
    write_png("lm/ann/2.png", 20, 10, 1, g);
    write_png("lm/bob/1.png", 20, 10, 1, g);
    free(g);
}

START_TEST(test_landmarks_csv_errors_name_the_line)
{
    make_two_identity_root();
    fx_data_config cfg = face_config();
    fx_data_source src = folder("lm", "lm.csv");
    write_text("lm.csv", "image,x1,y1,x2,y2\nann/1.png,1,2,3,4\nann/2.png,1,2,x,4\n");
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "lm.csv:3:", "'x'");
    write_text("lm.csv", "ann/1.png,1,2,3,4\n\n# comment\nann/2.png,1,2,3\n");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "lm.csv:4:", "expected 4");
    write_text("lm.csv", "ann/1.png,1,2,3,4\nann/9.png,1,2,3,4\n");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "lm.csv:2:", "ann/9.png");
    write_text("lm.csv", "ann/1.png,1,2,3,4\nbob/1.png,1,2,3,4\nann/1.png,5,6,7,8\n");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "lm.csv:3:", "first on line 1");
    write_text("lm.csv", "ann/1.png,1,2,3,4\nbob/1.png,1,2,inf,4\n");
    expect_open_error(&src, &cfg, FX_ERR_PARSE, "lm.csv:2:", "finite");
    write_text("lm.csv", "image,x1,y1\n");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "lm.csv", "no landmark rows");
    src = folder("lm", "missing.csv");
    expect_open_error(&src, &cfg, FX_ERR_IO, "missing.csv", NULL);

    /* Good: header, CRLF, one image without a row (NaN). */
    write_text("lm.csv", "image,x1,y1,x2,y2\r\nbob/1.png, 4.5, 2,6,8\r\nann/1.png,1,2,3,4\r\n");
    src = folder("lm", "lm.csv");
    fx_dataset *ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_landmark_points(ds), 2);
    float images[3 * 200], pts[3 * 4];
    int32_t labels[3];
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 3);
    ck_assert_float_eq(pts[0], 1);
    ck_assert_float_eq(pts[3], 4);
    for (int k = 4; k < 8; k++)
        ck_assert(isnan(pts[k]));
    ck_assert_float_eq(pts[8], 4.5f);
    ck_assert_float_eq(pts[11], 8);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_landmarks_follow_box_resize_crop_and_flip)
{
    /* A 20x10 image with a horizontal ramp (so a flip is visible), point
     * (10, 5). Box [2, 1, 16, 8] -> (8, 4); resize to 8x8 (x scale 1/2,
     * y scale 1, pixel centres: x' = (x + 0.5) s - 0.5) -> (3.75, 4);
     * centre crop 6 (offset 1) -> (2.75, 3); a flip -> (6 - 1 - 2.75, 3)
     * = (2.25, 3). Second point (2, 1) = the box corner -> (-0.25, 0) ->
     * (-1.25, -1). */
    make_dir("bx");
    make_dir("bx/a");
    uint8_t ramp[200];
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++)
            ramp[y * 20 + x] = (uint8_t)(10 * x);
    for (int k = 0; k < 8; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "bx/a/%d.png", k);
        write_png(rel, 20, 10, 1, ramp);
    }
    write_text("bx.csv", "a/0.png,10,5,2,1\na/1.png,10,5,2,1\na/2.png,10,5,2,1\na/3.png,10,5,2,1\n"
                         "a/4.png,10,5,2,1\na/5.png,10,5,2,1\na/6.png,10,5,2,1\na/7.png,10,5,2,1\n");
    fx_data_config cfg = face_config();
    cfg.box[0] = 2;
    cfg.box[1] = 1;
    cfg.box[2] = 16;
    cfg.box[3] = 8;
    cfg.resize = 8;
    cfg.size = 6;
    cfg.flip = 1;
    fx_data_source src = folder("bx", "bx.csv");
    fx_dataset *ds = open_ok(&src, &cfg);
    float images[8 * 128], pts[8 * 4]; /* up to 8 examples of 16 x 8 */
    int32_t labels[8];
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq_tol(pts[4 * i + 0], 2.75f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 1], 3.0f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 2], -1.25f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 3], -1.0f, 1e-5);
    }
    /* With augmentation (flip, no random crop): each example either kept
     * or flipped; the ramp rises to the right unless flipped. */
    ck_assert_int_eq(load_all(ds, &cfg, 1, NULL, 5, images, labels, pts), 8);
    int flips = 0;
    for (int i = 0; i < 8; i++) {
        int flipped = images[i * 36] > images[i * 36 + 5];
        flips += flipped;
        ck_assert_float_eq_tol(pts[4 * i + 0], flipped ? 2.25f : 2.75f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 2], flipped ? 6.25f : -1.25f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 3], -1.0f, 1e-5);
    }
    ck_assert_msg(flips > 0 && flips < 8, "%d of 8 flipped", flips);
    fx_dataset_close(ds);

    /* Lazy decoding (cache limit 0) gives the same points. */
    setenv("FX_DATA_CACHE_MB", "0", 1);
    ds = open_ok(&src, &cfg);
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 8);
    unsetenv("FX_DATA_CACHE_MB");
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq_tol(pts[4 * i + 0], 2.75f, 1e-5);
        ck_assert_float_eq_tol(pts[4 * i + 3], -1.0f, 1e-5);
    }
    fx_dataset_close(ds);

    /* A box outside an image names the file. */
    cfg.box[2] = 19;
    expect_open_error(&src, &cfg, FX_ERR_SHAPE, "a/0.png", "data.box");
    /* Box without resize: the box's size. */
    cfg.box[2] = 16;
    cfg.resize = 0;
    cfg.size = 0;
    ds = open_ok(&src, &cfg);
    fx_shape s = fx_dataset_example_shape(ds, &cfg);
    ck_assert(s.dim[1] == 8 && s.dim[2] == 16);
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 8);
    ck_assert_float_eq_tol(images[0], 20 / 255.0f, 1e-6); /* column 2 of the ramp */
    ck_assert_float_eq_tol(pts[0], 8, 1e-5);
    ck_assert_float_eq_tol(pts[1], 4, 1e-5);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_landmark_box_cuts_a_square_around_the_points)
{
    /* A 40x30 image whose column x holds the value 4x: points (10, 8) and
     * (18, 12) have the bounding box 8 x 4 centred on (14, 10); scale 1.5
     * gives a 12 x 12 square at (8, 4) .. (20, 16). Resized to 6 x 6 (scale
     * 1/2, area means of 2 x 2 blocks): pixel column k averages columns
     * 8 + 2k and 9 + 2k, i.e. 4 (17 + 4k) / 2 = 34 + 8k; the points go to
     * ((10 - 8 + 0.5) / 2 - 0.5, (8 - 4 + 0.5) / 2 - 0.5) = (0.75, 1.75)
     * and (4.75, 3.75). The second image has no row: the whole image. A
     * third, with points near the corner, is clipped: the square
     * (-1, -2) .. (11, 10) becomes (0, 0) .. (11, 10). */
    make_dir("lb");
    make_dir("lb/a");
    uint8_t img[40 * 30];
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            img[y * 40 + x] = (uint8_t)(4 * x);
    write_png("lb/a/0.png", 40, 30, 1, img);
    write_png("lb/a/1.png", 40, 30, 1, img);
    write_png("lb/a/2.png", 40, 30, 1, img);
    write_text("lb.csv", "a/0.png,10,8,18,12\na/2.png,1,2,9,6\n");
    fx_data_config cfg = face_config();
    cfg.landmark_box = 1.5f;
    fx_data_source src = folder("lb", "lb.csv");
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "data.resize", NULL);
    cfg.resize = 6;
    fx_dataset *ds = open_ok(&src, &cfg);
    float images[3 * 36], pts[3 * 4];
    int32_t labels[3];
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 3);
    for (int k = 0; k < 6; k++)
        ck_assert_float_eq_tol(images[3 * 6 + k], (34 + 8 * k) / 255.0f, 1e-6);
    ck_assert_float_eq_tol(pts[0], 0.75f, 1e-5);
    ck_assert_float_eq_tol(pts[1], 1.75f, 1e-5);
    ck_assert_float_eq_tol(pts[2], 4.75f, 1e-5);
    ck_assert_float_eq_tol(pts[3], 3.75f, 1e-5);
    ck_assert(isnan(pts[4]));
    /* Whole 40-wide image to 6: the first column averages columns 0 .. 6.67. */
    ck_assert_float_lt(images[36], images[36 + 5]);
    /* Clipped box (0, 0, 11, 10): point (1, 2) -> ((1.5) 6/11 - 0.5, (2.5) 6/10 - 0.5). */
    ck_assert_float_eq_tol(pts[8], (float)(1.5 * 6 / 11 - 0.5), 1e-5);
    ck_assert_float_eq_tol(pts[9], (float)(2.5 * 6 / 10 - 0.5), 1e-5);
    fx_dataset_close(ds);
}
END_TEST

/* 68 points: a flip mirrors the indices as well as the coordinates. */
START_TEST(test_flip_mirrors_the_68_point_indices)
{
    make_dir("m");
    make_dir("m/a");
    uint8_t ramp[32 * 32];
    for (int k = 0; k < 32 * 32; k++)
        ramp[k] = (uint8_t)(7 * (k % 32));
    char csv[8192] = "", row[4096];
    for (int n = 0; n < 6; n++) {
        char rel[64];
        snprintf(rel, sizeof rel, "m/a/%d.png", n);
        write_png(rel, 32, 32, 1, ramp);
        int len = snprintf(row, sizeof row, "a/%d.png", n);
        for (int p = 0; p < 68; p++)
            len += snprintf(row + len, sizeof row - (size_t)len, ",%d,%d", p % 17, p / 17 + 3);
        snprintf(row + len, sizeof row - (size_t)len, "\n");
        strcat(csv, row);
    }
    write_text("m.csv", csv);
    fx_data_config cfg = face_config();
    cfg.flip = 1;
    fx_data_source src = folder("m", "m.csv");
    fx_dataset *ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_landmark_points(ds), 68);
    float images[6 * 1024], pts[6 * 136];
    int32_t labels[6];
    ck_assert_int_eq(load_all(ds, &cfg, 1, NULL, 3, images, labels, pts), 6);
    int flips = 0;
    for (int i = 0; i < 6; i++) {
        int flipped = images[i * 1024] > images[i * 1024 + 5];
        flips += flipped;
        for (int p = 0; p < 68; p++) {
            int q = flipped ? fx_face_mirror68(p) : p;
            float want_x = flipped ? 31.0f - (float)(q % 17) : (float)(q % 17);
            ck_assert_float_eq(pts[i * 136 + 2 * p], want_x);
            ck_assert_float_eq(pts[i * 136 + 2 * p + 1], (float)(q / 17 + 3));
        }
    }
    ck_assert_msg(flips > 0 && flips < 6, "%d of 6 flipped", flips);
    fx_dataset_close(ds);
}
END_TEST

START_TEST(test_split_is_identity_disjoint_covers_all_and_depends_on_the_seed)
{
    make_dir("s");
    char names[10][16];
    uint8_t *g = flat(4, 4, 1, 50);
    for (int c = 0; c < 10; c++) {
        snprintf(names[c], sizeof names[c], "id%02d", c);
        char rel[64];
        snprintf(rel, sizeof rel, "s/%s", names[c]);
        make_dir(rel);
        snprintf(rel, sizeof rel, "s/%s/1.pgm", names[c]);
        write_pgm(rel, 4, 4, g);
        snprintf(rel, sizeof rel, "s/%s/2.pgm", names[c]);
        write_pgm(rel, 4, 4, g);
    }
    free(g);
    fx_data_config cfg = face_config();
    cfg.split_holdout = 0.3f;
    char first_held[3][16] = {{0}};
    int differs = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        cfg.split_seed = seed;
        fx_data_source src = folder("s", NULL);
        src.part = FX_DATA_PART_KEPT;
        fx_dataset *kept = open_ok(&src, &cfg);
        src.part = FX_DATA_PART_HELD_OUT;
        fx_dataset *held = open_ok(&src, &cfg);
        ck_assert_int_eq(fx_dataset_classes(held), 3); /* round(0.3 * 10) */
        ck_assert_int_eq(fx_dataset_classes(kept), 7);
        ck_assert_int_eq(fx_dataset_size(held), 6);
        int seen[10] = {0};
        for (int k = 0; k < 7; k++)
            seen[atoi(fx_dataset_class_name(kept, k) + 2)]++;
        for (int k = 0; k < 3; k++)
            seen[atoi(fx_dataset_class_name(held, k) + 2)]++;
        for (int c = 0; c < 10; c++)
            ck_assert_msg(seen[c] == 1, "identity %d in %d parts (seed %llu)", c, seen[c], (unsigned long long)seed);
        /* Labels are renumbered within the part, in name order. */
        for (int k = 1; k < 3; k++)
            ck_assert(strcmp(fx_dataset_class_name(held, k - 1), fx_dataset_class_name(held, k)) < 0);
        if (seed == 1)
            for (int k = 0; k < 3; k++)
                snprintf(first_held[k], sizeof first_held[k], "%s", fx_dataset_class_name(held, k));
        else
            for (int k = 0; k < 3; k++)
                differs |= strcmp(first_held[k], fx_dataset_class_name(held, k)) != 0;
        fx_dataset_close(kept);
        fx_dataset_close(held);
    }
    ck_assert_msg(differs, "the held-out identities do not depend on the seed");
    /* The same seed gives the same part again. */
    cfg.split_seed = 1;
    fx_data_source src = folder("s", NULL);
    src.part = FX_DATA_PART_HELD_OUT;
    fx_dataset *again = open_ok(&src, &cfg);
    for (int k = 0; k < 3; k++)
        ck_assert_str_eq(fx_dataset_class_name(again, k), first_held[k]);
    fx_dataset_close(again);
    /* A part without a split, a bad share and a split of one identity. */
    cfg.split_holdout = 0;
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "data.split", NULL);
    cfg.split_holdout = 1.5f;
    expect_open_error(&src, &cfg, FX_ERR_INVALID, "holdout", NULL);
}
END_TEST

/* ---- occlusion ----------------------------------------------------------- */

static void make_plain_root(const char *root, int w, int h, int n)
{
    make_dir(root);
    char rel[64];
    snprintf(rel, sizeof rel, "%s/a", root);
    make_dir(rel);
    uint8_t *g = flat(w, h, 1, 255);
    for (int k = 0; k < n; k++) {
        snprintf(rel, sizeof rel, "%s/a/%d.png", root, k);
        write_png(rel, w, h, 1, g);
    }
    free(g);
}

/* A 255 pixel after the loader's x / 255 (x * (1/255) in float). */
#define WHITE (255.0f * (1.0f / 255.0f))

/* Asserts image [h, w] (values 1 outside the window, -1 inside) has -1 in
 * exactly the pixels where inside(j, i). */
#define CHECK_WINDOW(img, h, w, inside)                                                                     \
    for (int i_ = 0; i_ < (h); i_++)                                                                        \
        for (int j_ = 0; j_ < (w); j_++) {                                                                  \
            int i = i_, j = j_;                                                                             \
            float want = (inside) ? -1.0f : WHITE;                                                          \
            ck_assert_msg((img)[i * (w) + j] == want, "pixel (%d, %d) is %g, want %g", j, i,                \
                          (double)(img)[i * (w) + j], (double)want);                                        \
        }

START_TEST(test_occlusion_without_landmarks_is_the_crop_frame_window)
{
    make_plain_root("o", 12, 12, 2);
    fx_data_config cfg = face_config();
    fx_data_source src = folder("o", NULL);
    fx_dataset *ds = open_ok(&src, &cfg);
    float images[2 * 144], pts[1];
    int32_t labels[2];
    /* Frame = crop size: pixels x 2..5, y 3..4. */
    fx_occlusion occ = {.x = 2, .y = 3, .width = 4, .height = 2, .frame = 12, .value = -1};
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, images, labels, pts), 2);
    for (int n = 0; n < 2; n++)
        CHECK_WINDOW(images + n * 144, 12, 12, j >= 2 && j < 6 && i >= 3 && i < 5);
    /* Frame 24 on a 12x12 crop (scale 1/2): edges x 2 - 0.5 -> 0.5 and
     * 6 - 0.5 -> 2.5, so columns 1, 2; y 3 - 0.5 -> 1.0, 5 - 0.5 -> 2.0, so row 1. */
    occ.frame = 24;
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, images, labels, pts), 2);
    CHECK_WINDOW(images, 12, 12, j >= 1 && j < 3 && i == 1);
    /* A window partly outside is clipped. */
    occ = (fx_occlusion){.x = 9, .y = -2, .width = 10, .height = 4, .frame = 12, .value = -1};
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, images, labels, pts), 2);
    CHECK_WINDOW(images, 12, 12, j >= 9 && i < 2);
    occ.width = 0;
    fx_loader_options o = {.batch = 1, .occlude = &occ};
    fx_loader *ld = NULL;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg, &o, &ld), FX_ERR_INVALID);
    fx_dataset_close(ds);
}
END_TEST

static void write_landmarks68(const char *rel, int n, const float *xy)
{
    FILE *f = fopen(tpath(rel), "w");
    ck_assert_ptr_nonnull(f);
    for (int k = 0; k < n; k++) {
        fprintf(f, "a/%d.png", k);
        for (int p = 0; p < 136; p++)
            fprintf(f, ",%.9g", (double)xy[p]);
        fprintf(f, "\n");
    }
    fclose(f);
}

START_TEST(test_occlusion_with_landmarks_is_the_warped_quadrilateral)
{
    /* Landmarks = the mean face in a 40x40 frame: the warp is the identity
     * and the window is the same as in the crop frame. */
    make_plain_root("w", 64, 40, 1);
    float t[136], sheared[136];
    ck_assert_int_eq(fx_face_template68(ctx, 40, t), FX_OK);
    write_landmarks68("same.csv", 1, t);
    fx_data_config cfg = face_config();
    fx_data_source src = folder("w", "same.csv");
    fx_dataset *ds = open_ok(&src, &cfg);
    float images[64 * 40], pts[136];
    int32_t labels[1];
    fx_occlusion occ = {.x = 10, .y = 10, .width = 8, .height = 4, .frame = 40, .value = -1};
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, images, labels, pts), 1);
    CHECK_WINDOW(images, 40, 64, j >= 10 && j < 18 && i >= 10 && i < 14);
    fx_dataset_close(ds);

    /* Sheared face x' = x + 0.4 y: the corners (9.5, 9.5), (17.5, 9.5),
     * (17.5, 13.5), (9.5, 13.5) go to (13.3, 9.5), (21.3, 9.5),
     * (22.9, 13.5), (14.9, 13.5). Row i (10..13) spans
     * x in [13.3 + 0.4 (i - 9.5), 21.3 + 0.4 (i - 9.5)): row 10 is columns
     * 14..21 (13.5 to 21.5), row 13 columns 15..22 (14.7 to 22.7). */
    for (int p = 0; p < 68; p++) {
        sheared[2 * p] = t[2 * p] + 0.4f * t[2 * p + 1];
        sheared[2 * p + 1] = t[2 * p + 1];
    }
    write_landmarks68("shear.csv", 1, sheared);
    src = folder("w", "shear.csv");
    ds = open_ok(&src, &cfg);
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, images, labels, pts), 1);
    CHECK_WINDOW(images, 40, 64,
                 i >= 10 && i < 14 && (float)j >= 13.3f + 0.4f * (i - 9.5f) && (float)j < 21.3f + 0.4f * (i - 9.5f));
    ck_assert_float_eq(images[10 * 64 + 14], -1);
    ck_assert_float_eq(images[10 * 64 + 13], WHITE);
    ck_assert_float_eq(images[10 * 64 + 21], -1);
    ck_assert_float_eq(images[10 * 64 + 22], WHITE);
    ck_assert_float_eq(images[13 * 64 + 22], -1);
    ck_assert_float_eq(images[13 * 64 + 14], WHITE);
    ck_assert_float_eq(images[14 * 64 + 18], WHITE);
    fx_dataset_close(ds);

    /* An image whose row is missing (NaN) falls back to the crop frame. */
    make_plain_root("w2", 40, 40, 2);
    write_landmarks68("one.csv", 1, sheared);
    src = folder("w2", "one.csv");
    ds = open_ok(&src, &cfg);
    float two[2 * 1600], pts2[2 * 136];
    int32_t labels2[2];
    ck_assert_int_eq(load_all(ds, &cfg, 0, &occ, 1, two, labels2, pts2), 2);
    ck_assert(isnan(pts2[136]));
    CHECK_WINDOW(two + 1600, 40, 40, j >= 10 && j < 18 && i >= 10 && i < 14);
    fx_dataset_close(ds);
}
END_TEST

/* ---- YAML keys ------------------------------------------------------------ */

static fx_status load_config(const char *text, fx_config *cfg)
{
    write_text("g.yaml", text);
    fx_context_clear_error(ctx);
    return fx_graph_load_yaml(ctx, tpath("g.yaml"), NULL, cfg);
}

START_TEST(test_yaml_reads_box_split_landmarks_and_parts)
{
    fx_config cfg;
    const char *head = "input: {image: [1, 8, 8], label: []}\nlayers: [{op: relu}]\n";
    char text[2048];
    snprintf(text, sizeof text,
             "%sdata:\n  train: {imagefolder: faces, landmarks: faces/lm.csv}\n  test: {imagefolder: faces}\n"
             "  box: [65, 65, 120, 120]\n  split: {holdout: 0.25, seed: 7}\n  landmarks: pts\n"
             "  landmark_box: 1.25\n",
             head);
    ck_assert_msg(load_config(text, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(cfg.data.box[0], 65);
    ck_assert_int_eq(cfg.data.box[3], 120);
    ck_assert_float_eq(cfg.data.split_holdout, 0.25f);
    ck_assert_uint_eq(cfg.data.split_seed, 7);
    ck_assert_str_eq(cfg.data.train.landmarks, tpath("faces/lm.csv"));
    ck_assert_str_eq(cfg.data.test.landmarks, "");
    ck_assert_int_eq(cfg.data.train.part, FX_DATA_PART_KEPT);
    ck_assert_int_eq(cfg.data.test.part, FX_DATA_PART_HELD_OUT);
    ck_assert_str_eq(cfg.data.landmarks_input, "pts");
    ck_assert_float_eq(cfg.data.landmark_box, 1.25f);

    snprintf(text, sizeof text,
             "%sdata:\n  train: {imagefolder: f, part: all}\n  test: {imagefolder: f, part: kept}\n"
             "  split: {holdout: 0.5}\n",
             head);
    ck_assert_msg(load_config(text, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(cfg.data.train.part, FX_DATA_PART_ALL);
    ck_assert_int_eq(cfg.data.test.part, FX_DATA_PART_KEPT);
    ck_assert_uint_eq(cfg.data.split_seed, 1);
    ck_assert_int_eq(cfg.data.box[2], 0);
    ck_assert_str_eq(cfg.data.landmarks_input, "landmarks");

    /* Errors name the line and the fix. */
    static const struct {
        const char *data, *needle;
    } bad[] = {
        {"  train: {imagefolder: f}\n  box: [1, 2, 3]\n", "[x, y, width, height]"},
        {"  train: {imagefolder: f}\n  box: [1, 2, 0, 4]\n", "data.box width"},
        {"  train: {imagefolder: f}\n  split: {holdout: 1}\n", "between 0 and 1"},
        {"  train: {imagefolder: f}\n  landmark_box: -1\n", "landmark_box"},
        {"  train: {imagefolder: f}\n  split: {seed: 3}\n", "missing 'holdout'"},
        {"  train: {imagefolder: f}\n  split: {holdout: 0.2, seeds: 3}\n", "seeds"},
        {"  train: {imagefolder: f, part: kept}\n", "no data.split"},
        {"  train: {imagefolder: f, part: some}\n", "part"},
        {"  train: {idx: {images: a, labels: b}, landmarks: x.csv}\n", "imagefolder"},
        {"  train: {idx: {images: a, labels: b}}\n  split: {holdout: 0.2}\n", "IDX source"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(text, sizeof text, "%sdata:\n%s", head, bad[k].data);
        ck_assert_int_ne(load_config(text, &cfg), FX_OK);
        const char *msg = fx_context_error(ctx);
        ck_assert_msg(strstr(msg, bad[k].needle) && strstr(msg, "g.yaml:"), "case %zu: %s", k, msg);
    }
}
END_TEST

/* ---- the landmarks graph input ---------------------------------------------- */

/* Evaluates a graph whose occlude node takes the loader's landmarks. With
 * landmarks = the mean face in the 40 x 40 frame of the 40 x 40 images the
 * warped window is the plain one, so the loss equals the run without
 * landmarks (NaN points, plain window); sheared landmarks move the window
 * and change the loss. */
static double eval_loss(const char *landmarks_line)
{
    char text[2048];
    snprintf(text, sizeof text,
             "input: {image: [1, 40, 40], label: [], landmarks: [68, 2]}\n"
             "layers:\n"
             "  - {name: occ, op: occlude, in: [image, landmarks], window: [4, 8], x_range: [10, 10],\n"
             "     y_range: [10, 10], frame: 40, value: -1}\n"
             "  - {name: logits, op: linear, in: occ, out_features: 3}\n"
             "losses: [{op: softmax_cross_entropy, in: [logits, label]}]\n"
             "data: {test: {imagefolder: ev%s}}\n"
             "train: {batch: 2, seed: 3}\n",
             landmarks_line);
    write_text("ev.yaml", text);
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_msg(fx_graph_load_yaml(ctx, tpath("ev.yaml"), &g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    fx_graph_set_seed(g, 11);
    fx_run_options opt;
    memset(&opt, 0, sizeof opt);
    fx_eval_result res;
    fx_status st = fx_evaluate(ctx, g, &cfg, &opt, &res);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(res.examples, 3);
    fx_graph_destroy(g);
    return res.loss;
}

START_TEST(test_graph_landmarks_input_is_fed_by_the_loader)
{
    make_dir("ev");
    make_dir("ev/a");
    uint8_t px[1600];
    for (int k = 0; k < 1600; k++)
        px[k] = (uint8_t)((k * 37) % 251);
    write_png("ev/a/0.png", 40, 40, 1, px);
    write_png("ev/a/1.png", 40, 40, 1, px);
    write_png("ev/a/2.png", 40, 40, 1, px);
    float t[136], sheared[136];
    ck_assert_int_eq(fx_face_template68(ctx, 40, t), FX_OK);
    for (int p = 0; p < 68; p++) {
        sheared[2 * p] = t[2 * p] + 0.4f * t[2 * p + 1];
        sheared[2 * p + 1] = t[2 * p + 1];
    }
    write_landmarks68("same.csv", 3, t);
    write_landmarks68("shear.csv", 3, sheared);
    double plain = eval_loss("");
    double same = eval_loss(", landmarks: same.csv");
    double shear = eval_loss(", landmarks: shear.csv");
    ck_assert_msg(isfinite(plain) && plain == same, "plain %.9g vs mean-face landmarks %.9g", plain, same);
    ck_assert_msg(fabs(shear - plain) > 1e-6, "sheared landmarks did not move the window (%.9g)", shear);

    /* A landmarks input of the wrong shape is named. */
    write_text("bad.yaml", "input: {image: [1, 40, 40], label: [], landmarks: [30, 2]}\n"
                           "layers: [{name: logits, op: linear, in: image, out_features: 3}]\n"
                           "losses: [{op: softmax_cross_entropy, in: [logits, label]}]\n"
                           "data: {test: {imagefolder: ev, landmarks: same.csv}}\n"
                           "train: {batch: 2}\n");
    fx_graph *g = NULL;
    fx_config cfg;
    ck_assert_int_eq(fx_graph_load_yaml(ctx, tpath("bad.yaml"), &g, &cfg), FX_OK);
    fx_run_options opt;
    memset(&opt, 0, sizeof opt);
    fx_eval_result res;
    ck_assert_int_eq(fx_evaluate(ctx, g, &cfg, &opt, &res), FX_ERR_SHAPE);
    ck_assert_msg(strstr(fx_context_error(ctx), "[68, 2]"), "%s", fx_context_error(ctx));
    fx_graph_destroy(g);
}
END_TEST

/* ---- real data ------------------------------------------------------------ */

START_TEST(test_cfp_30_point_fiducials_are_carried_through_the_resize)
{
    char csv[512], probe[512];
    snprintf(csv, sizeof csv, "%s/fiducials_30pt.csv", CFP_DIR);
    snprintf(probe, sizeof probe, "%s/001_50_Cent/frontal_01.jpg", CFP_DIR);
    if (access(csv, R_OK) != 0 || access(probe, R_OK) != 0) {
        fprintf(stderr, "test_face_data: %s not present; skipping the CFP fiducials check\n", CFP_DIR);
        return;
    }
    fx_data_config cfg = face_config();
    cfg.resize = 64;
    fx_data_source src;
    memset(&src, 0, sizeof src);
    src.kind = FX_DATA_IMAGEFOLDER;
    snprintf(src.root, sizeof src.root, "%s", CFP_DIR);
    snprintf(src.landmarks, sizeof src.landmarks, "%s", csv);
    src.limit = 14; /* the first identity */
    fx_dataset *ds = open_ok(&src, &cfg);
    ck_assert_int_eq(fx_dataset_landmark_points(ds), 30);
    ck_assert_str_eq(fx_dataset_file(ds, 0), probe);
    float images[14 * 64 * 64], pts[14 * 60];
    int32_t labels[14];
    ck_assert_int_eq(load_all(ds, &cfg, 0, NULL, 1, images, labels, pts), 14);
    for (int k = 0; k < 14 * 60; k++)
        ck_assert_msg(isfinite(pts[k]), "point value %d is not finite", k);
    /* frontal_01.jpg: x1 = 27.565, y1 = 87.906 in the file's pixels. */
    fx_image_u8 img;
    char err[512];
    ck_assert_int_eq(fx_image_decode_file(probe, &img, err, sizeof err), FX_OK);
    float want_x = (float)((27.565 + 0.5) * 64 / img.width - 0.5);
    float want_y = (float)((87.906 + 0.5) * 64 / img.height - 0.5);
    fx_image_free(&img);
    ck_assert_float_eq_tol(pts[0], want_x, 1e-4);
    ck_assert_float_eq_tol(pts[1], want_y, 1e-4);
    fx_dataset_close(ds);
}
END_TEST

static Suite *face_data_suite(void)
{
    Suite *s = suite_create("face_data");
    TCase *tc = tcase_create("face_data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_template68_equals_the_repository_csv_and_mirror_is_an_involution);
    tcase_add_test(tc, test_mesh_maps_a_point_by_its_barycentric_coordinates);
    tcase_add_test(tc, test_mesh_over_the_68_template_is_delaunay_and_piecewise_affine);
    tcase_add_test(tc, test_imagefolder_reads_png_jpeg_pgm_in_colour_and_grey_of_any_size);
    tcase_add_test(tc, test_corrupt_truncated_images_and_empty_identities_give_clear_errors);
    tcase_add_test(tc, test_landmarks_csv_errors_name_the_line);
    tcase_add_test(tc, test_landmarks_follow_box_resize_crop_and_flip);
    tcase_add_test(tc, test_landmark_box_cuts_a_square_around_the_points);
    tcase_add_test(tc, test_flip_mirrors_the_68_point_indices);
    tcase_add_test(tc, test_split_is_identity_disjoint_covers_all_and_depends_on_the_seed);
    tcase_add_test(tc, test_occlusion_without_landmarks_is_the_crop_frame_window);
    tcase_add_test(tc, test_occlusion_with_landmarks_is_the_warped_quadrilateral);
    tcase_add_test(tc, test_yaml_reads_box_split_landmarks_and_parts);
    tcase_add_test(tc, test_graph_landmarks_input_is_fed_by_the_loader);
    tcase_add_test(tc, test_cfp_30_point_fiducials_are_carried_through_the_resize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(face_data_suite());
}
