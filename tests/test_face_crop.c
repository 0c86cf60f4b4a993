/* tests/test_face_crop.c - fx_face_crop_dlib_xml (core/face/face_crop.c): the
 * similarity alignment of 68 landmarks to the mean face, the crop's
 * pixels, the landmarks CSV, and the errors of malformed imglab XML. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fxtest.h"
#include "fx/face.h"
#include "fx/face_crop.h"

static char *dir;

static void setup(void)
{
    dir = fxtest_tempdir();
}

static void teardown(void)
{
    fxtest_remove_tree(dir);
    free(dir);
}

static char *path_in(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A 200x160 RGB image whose red channel is x, green y, blue 77. */
static void write_gradient_ppm(const char *path)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "P6\n200 160\n255\n");
    for (int y = 0; y < 160; y++)
        for (int x = 0; x < 200; x++) {
            unsigned char px[3] = { (unsigned char)x, (unsigned char)y, 77 };
            fwrite(px, 1, 3, f);
        }
    fclose(f);
}

/* Writes an XML whose one face has the template's landmarks moved by the
 * similarity x' = s R(theta) x + t (template normalised to [0, 1]). */
static void write_face_xml(const char *path, double s, double theta, double tx, double ty, int n_parts)
{
    fx_context *ctx = fxtest_context();
    float tmpl[136];
    ck_assert_int_eq(fx_face_template68(ctx, 1, tmpl), FX_OK);
    fx_context_destroy(ctx);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "<?xml version='1.0'?>\n<dataset>\n<images>\n  <image file='face.ppm'>\n"
               "    <box top='10' left='10' width='100' height='100'>\n");
    for (int i = 0; i < n_parts; i++) {
        double x = tmpl[2 * i], y = tmpl[2 * i + 1];
        double xs = s * (cos(theta) * x - sin(theta) * y) + tx;
        double ys = s * (sin(theta) * x + cos(theta) * y) + ty;
        fprintf(f, "      <part name='%02d' x='%.4f' y='%.4f'/>\n", i, xs, ys);
    }
    fprintf(f, "    </box>\n  </image>\n</images>\n</dataset>\n");
    fclose(f);
}

static int read_csv_row(const char *path, char *name, size_t cap, float *xy)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    char *tok = strtok(line, ",");
    snprintf(name, cap, "%s", tok);
    for (int i = 0; i < 136; i++) {
        tok = strtok(NULL, ",\n");
        if (!tok)
            return -1;
        xy[i] = strtof(tok, NULL);
    }
    return 0;
}

START_TEST(test_face_crop_aligns_landmarks_to_the_placed_template)
{
    write_gradient_ppm(path_in("face.ppm"));
    /* scale 80 px, rotated 0.2 rad, moved to (60, 40). */
    write_face_xml(path_in("faces.xml"), 80.0, 0.2, 60.0, 40.0, 68);
    fx_context *ctx = fxtest_context();
    const char *xml[] = { path_in("faces.xml") };
    fx_face_crop_options opt = { 100, 0.25f, "people" };
    int written = -1, skipped = -1;
    ck_assert_msg(fx_face_crop_dlib_xml(ctx, xml, 1, path_in("out"), &opt, &written, &skipped) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_int_eq(written, 1);
    ck_assert_int_eq(skipped, 0);
    char name[256];
    float got[136], tmpl[136];
    ck_assert_int_eq(read_csv_row(path_in("out/landmarks.csv"), name, sizeof name, got), 0);
    ck_assert_str_eq(name, "people/face_0.ppm");
    ck_assert_int_eq(fx_face_template68(ctx, 1, tmpl), FX_OK);
    /* The landmarks are an exact similarity image of the template, so the
     * fit is exact: each lands at 100 * (t + 0.25) / 1.5 (CSV: 3 decimals). */
    for (int i = 0; i < 136; i++)
        ck_assert_msg(fabsf(got[i] - 100.0f * (tmpl[i] + 0.25f) / 1.5f) < 2e-3f, "coordinate %d: %g", i,
                      (double)got[i]);
    /* Pixels: the crop pixel (u, v) samples the source at the inverse
     * similarity; red = source x, green = source y (exact for a linear ramp
     * away from the borders). Check the crop centre by hand:
     * q = (50, 50) -> template point t = q * 1.5 / 100 - 0.25 = (0.5, 0.5),
     * source = 80 R(0.2) (0.5, 0.5) + (60, 40). */
    struct stat sb;
    ck_assert_int_eq(stat(path_in("out/people/face_0.ppm"), &sb), 0);
    FILE *f = fopen(path_in("out/people/face_0.ppm"), "rb");
    ck_assert_ptr_nonnull(f);
    char magic[3] = { 0 };
    int w = 0, h = 0, maxv = 0;
    ck_assert_int_eq(fscanf(f, "%2s %d %d %d", magic, &w, &h, &maxv), 4);
    fgetc(f);
    ck_assert_str_eq(magic, "P6");
    ck_assert_int_eq(w, 100);
    ck_assert_int_eq(h, 100);
    unsigned char *px = malloc(100 * 100 * 3);
    ck_assert_uint_eq(fread(px, 3, 100 * 100, f), 100 * 100);
    fclose(f);
    double sx = 80 * (cos(0.2) * 0.5 - sin(0.2) * 0.5) + 60, sy = 80 * (sin(0.2) * 0.5 + cos(0.2) * 0.5) + 40;
    const unsigned char *c = px + (50 * 100 + 50) * 3;
    ck_assert_msg(fabs(c[0] - sx) <= 1.0 && fabs(c[1] - sy) <= 1.0 && c[2] == 77, "centre (%d %d %d), want (%.1f %.1f 77)",
                  c[0], c[1], c[2], sx, sy);
    free(px);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_face_crop_skips_faces_without_68_parts_and_fails_when_none_is_left)
{
    write_gradient_ppm(path_in("face.ppm"));
    write_face_xml(path_in("faces.xml"), 80.0, 0.0, 60.0, 40.0, 67);
    fx_context *ctx = fxtest_context();
    const char *xml[] = { path_in("faces.xml") };
    int written = -1, skipped = -1;
    ck_assert_int_eq(fx_face_crop_dlib_xml(ctx, xml, 1, path_in("out"), NULL, &written, &skipped), FX_ERR_INVALID);
    ck_assert_int_eq(written, 0);
    ck_assert_int_eq(skipped, 1);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "no face with 68 landmarks"));
    struct stat sb;
    ck_assert_int_ne(stat(path_in("out/landmarks.csv"), &sb), 0); /* nothing half-written */
    fx_context_destroy(ctx);
}
END_TEST

static void expect_xml_error(const char *xml_text, const char *needle)
{
    fxtest_write_file(path_in("bad.xml"), xml_text);
    fx_context *ctx = fxtest_context();
    const char *xml[] = { path_in("bad.xml") };
    ck_assert_int_ne(fx_face_crop_dlib_xml(ctx, xml, 1, path_in("out"), NULL, NULL, NULL), FX_OK);
    ck_assert_msg(strstr(fx_context_error(ctx), needle) != NULL, "message '%s' lacks '%s'", fx_context_error(ctx), needle);
    fx_context_destroy(ctx);
}

START_TEST(test_face_crop_rejects_malformed_xml_with_line_numbers)
{
    expect_xml_error("<images>\n<image file='a.jpg'>\n<box top='1'>\n<part name='00' x='abc' y='1'/>\n</box>\n",
                     "bad.xml:4: x='abc' is not a number");
    expect_xml_error("<images>\n<part name='00' x='1' y='1'/>\n", "bad.xml:2: <part> outside a <box>");
    expect_xml_error("<images>\n<image file='a.jpg'>\n<box top='1'>\n<part name='70' x='1' y='1'/>\n",
                     "bad.xml:4: name='70' is not a number in [0, 67]");
    expect_xml_error("<images>\n<image file='a.jpg'>\n<box top='1'>\n<part name='03' x='1' y='1'/>\n"
                     "<part name='03' x='2' y='2'/>\n",
                     "bad.xml:5: part 03 given twice");
    expect_xml_error("<images>\n<image file='a.jpg'>\n<box top='1'>\n", "ends inside a <box>");
    expect_xml_error("<images>\n<image file='a.jpg'\n", "bad.xml:2: unterminated tag");
    expect_xml_error("<images>\n<image name='a.jpg'>\n", "bad.xml:2: <image> without a usable file");
}
END_TEST

START_TEST(test_face_crop_names_a_missing_or_corrupt_image)
{
    write_face_xml(path_in("faces.xml"), 80.0, 0.0, 60.0, 40.0, 68);
    fx_context *ctx = fxtest_context();
    const char *xml[] = { path_in("faces.xml") };
    ck_assert_int_ne(fx_face_crop_dlib_xml(ctx, xml, 1, path_in("out"), NULL, NULL, NULL), FX_OK);
    ck_assert_msg(strstr(fx_context_error(ctx), "faces.xml:5: image 'face.ppm'") != NULL, "%s", fx_context_error(ctx));
    fxtest_write_file(path_in("face.ppm"), "P6\n200 160\n255\nshort");
    ck_assert_int_ne(fx_face_crop_dlib_xml(ctx, xml, 1, path_in("out"), NULL, NULL, NULL), FX_OK);
    ck_assert_msg(strstr(fx_context_error(ctx), "image 'face.ppm'") != NULL, "%s", fx_context_error(ctx));
    fx_context_destroy(ctx);
}
END_TEST

static Suite *face_crop_suite(void)
{
    Suite *s = suite_create("face_crop");
    TCase *tc = tcase_create("face_crop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_face_crop_aligns_landmarks_to_the_placed_template);
    tcase_add_test(tc, test_face_crop_skips_faces_without_68_parts_and_fails_when_none_is_left);
    tcase_add_test(tc, test_face_crop_rejects_malformed_xml_with_line_numbers);
    tcase_add_test(tc, test_face_crop_names_a_missing_or_corrupt_image);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(face_crop_suite());
}
