/* tests/test_canvas.c - the raster canvas (core/face/canvas.c, canvas_font.c):
 * shapes against hand-counted pixels, the font against its bitmaps, colour
 * map anchors, scaled float blits against hand-computed bilinear values,
 * and PNG output decoded back with fx's own decoder, pixel for pixel. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/image_decode.h"
#include "fx/canvas.h"
#include "fxtest.h"

static char *tmpdir;
static fx_context *ctx;
static const fx_rgb white = {255, 255, 255}, black = {0, 0, 0}, red = {255, 0, 0};

static void setup(void)
{
    tmpdir = fxtest_tempdir();
    ctx = fxtest_context();
}

static void teardown(void)
{
    fxtest_remove_tree(tmpdir);
    free(tmpdir);
    fx_context_destroy(ctx);
}

static fx_canvas *new_canvas(int w, int h)
{
    fx_canvas *c = NULL;
    ck_assert_int_eq(fx_canvas_create(ctx, w, h, white, &c), FX_OK);
    ck_assert_ptr_nonnull(c);
    return c;
}

static int same(fx_rgb a, fx_rgb b)
{
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

static int count_color(const fx_canvas *c, fx_rgb col)
{
    int n = 0;
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++)
            n += same(fx_canvas_get(c, x, y), col);
    return n;
}

START_TEST(test_canvas_create_refuses_bad_sizes)
{
    fx_canvas *c = (fx_canvas *)1;
    ck_assert_int_eq(fx_canvas_create(ctx, 0, 10, white, &c), FX_ERR_INVALID);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "each side must be"));
    ck_assert_int_eq(fx_canvas_create(ctx, 10, FX_CANVAS_MAX_SIDE + 1, white, &c), FX_ERR_INVALID);
    fx_canvas_destroy(NULL); /* harmless */
}
END_TEST

START_TEST(test_canvas_fill_set_get_and_clipping)
{
    fx_canvas *c = new_canvas(7, 5);
    ck_assert_int_eq(count_color(c, white), 35);
    fx_canvas_set(c, 6, 4, red);
    fx_canvas_set(c, -1, 0, red); /* outside: ignored */
    fx_canvas_set(c, 7, 0, red);
    fx_canvas_set(c, 0, 5, red);
    ck_assert_int_eq(count_color(c, red), 1);
    ck_assert(same(fx_canvas_get(c, 6, 4), red));
    ck_assert(same(fx_canvas_get(c, 99, 99), black));
    ck_assert_int_eq(c->pixels[3 * (4 * 7 + 6)], 255);
    ck_assert_int_eq(c->pixels[3 * (4 * 7 + 6) + 1], 0);
    fx_canvas_fill(c, black);
    ck_assert_int_eq(count_color(c, black), 35);
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_line_with_thickness_covers_the_pixels_within_half_of_it)
{
    fx_canvas *c = new_canvas(20, 20);
    /* horizontal, thickness 3: rows 9..11, columns 2..12 plus the round
     * caps (pixels within 1.5 of an end: (1,9..11) and (13,9..11)) */
    fx_canvas_line(c, 2, 10, 12, 10, 3.0f, red);
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++) {
            int inside = y >= 9 && y <= 11 && x >= 1 && x <= 13;
            /* corners of the caps are 1.41 < 1.5 from the ends, so they are in */
            ck_assert_msg(same(fx_canvas_get(c, x, y), red) == inside, "pixel (%d,%d)", x, y);
        }
    /* one-pixel diagonal: exactly the pixels (i, i) plus none beyond 0.5 */
    fx_canvas_fill(c, white);
    fx_canvas_line(c, 0, 0, 9, 9, 1.0f, red);
    for (int i = 0; i < 10; i++)
        ck_assert(same(fx_canvas_get(c, i, i), red));
    ck_assert_int_eq(count_color(c, red), 10); /* (i+1, i) is 0.707 away: out */
    /* a line leaving the canvas is clipped, not a crash */
    fx_canvas_line(c, -100, 5, 300, 5, 1.0f, black);
    ck_assert_int_eq(count_color(c, black), 20);
    fx_canvas_line(c, NAN, 0, 5, 5, 1.0f, black); /* ignored */
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_circles_match_the_gauss_circle_count)
{
    fx_canvas *c = new_canvas(41, 41);
    /* lattice points with x^2 + y^2 <= 100: N(10) = 317 (Gauss circle problem) */
    fx_canvas_fill_circle(c, 20, 20, 10.0f, red);
    ck_assert_int_eq(count_color(c, red), 317);
    ck_assert(same(fx_canvas_get(c, 30, 20), red));
    ck_assert(same(fx_canvas_get(c, 28, 28), white)); /* 8^2+8^2 = 128 > 100 */
    /* the ring of thickness 1 at r = 10: 9.5^2 <= d^2 <= 10.5^2, i.e. 90.25..110.25;
     * N(110) - N(90) counting the lattice points with 91 <= d^2 <= 110 */
    fx_canvas_fill(c, white);
    fx_canvas_stroke_circle(c, 20, 20, 10.0f, 1.0f, red);
    int expected = 0;
    for (int y = -20; y <= 20; y++)
        for (int x = -20; x <= 20; x++)
            expected += x * x + y * y >= 91 && x * x + y * y <= 110;
    ck_assert_int_eq(count_color(c, red), expected);
    ck_assert(same(fx_canvas_get(c, 20, 20), white));
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_rectangles)
{
    fx_canvas *c = new_canvas(10, 10);
    fx_canvas_fill_rect(c, (fx_canvas_rect){2, 3, 4, 2}, red);
    ck_assert_int_eq(count_color(c, red), 8);
    ck_assert(same(fx_canvas_get(c, 5, 4), red));
    ck_assert(same(fx_canvas_get(c, 6, 4), white));
    fx_canvas_fill(c, white);
    fx_canvas_stroke_rect(c, (fx_canvas_rect){1, 1, 6, 5}, 1, red);
    ck_assert_int_eq(count_color(c, red), 2 * 6 + 2 * 3); /* the border of a 6x5 box */
    ck_assert(same(fx_canvas_get(c, 3, 3), white));
    fx_canvas_fill_rect(c, (fx_canvas_rect){-5, -5, 100, 100}, black); /* clipped */
    ck_assert_int_eq(count_color(c, black), 100);
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_text_draws_the_glyph_bitmaps)
{
    fx_canvas *c = new_canvas(40, 30);
    /* '1' is ..#.. / .##.. / ..#.. x4 / .###. : 10 ink pixels */
    int w = fx_canvas_text(c, 3, 2, "1", 1, black);
    ck_assert_int_eq(w, 5);
    ck_assert_int_eq(count_color(c, black), 10);
    ck_assert(same(fx_canvas_get(c, 3 + 2, 2 + 0), black));
    ck_assert(same(fx_canvas_get(c, 3 + 1, 2 + 1), black));
    ck_assert(same(fx_canvas_get(c, 3 + 0, 2 + 0), white));
    ck_assert(same(fx_canvas_get(c, 3 + 1, 2 + 6), black));
    ck_assert(same(fx_canvas_get(c, 3 + 3, 2 + 6), black));
    ck_assert(same(fx_canvas_get(c, 3 + 4, 2 + 6), white));
    /* scale 2: every ink pixel becomes a 2x2 block */
    fx_canvas_fill(c, white);
    fx_canvas_text(c, 0, 0, "1", 2, black);
    ck_assert_int_eq(count_color(c, black), 40);
    /* sizes: 2 characters of 6 minus the trailing spacing column; 2 lines of 10 minus one */
    int tw, th;
    fx_canvas_text_size("AB\nC", 1, &tw, &th);
    ck_assert_int_eq(tw, 11);
    ck_assert_int_eq(th, 19);
    fx_canvas_text_size("", 3, &tw, &th);
    ck_assert_int_eq(tw, 0);
    /* every printable ASCII character has its own glyph (no box), and the
     * UTF-8 signs of the header too; an unknown character draws the box */
    fx_canvas *box = new_canvas(10, 10);
    fx_canvas_text(box, 0, 0, "\x01", 1, black);
    int box_ink = count_color(box, black);
    ck_assert_int_eq(box_ink, 5 + 5 + 5 * 2);
    for (int ch = 33; ch < 127; ch++) {
        char s[2] = {(char)ch, 0};
        fx_canvas_fill(box, white);
        fx_canvas_text(box, 0, 0, s, 1, black);
        int ink = count_color(box, black);
        ck_assert_msg(ink > 0, "character %c draws nothing", ch);
        /* the box glyph is 20 pixels in a rectangle outline; compare the shape, not the count */
        int is_box = ink == box_ink && same(fx_canvas_get(box, 0, 0), black) &&
                     same(fx_canvas_get(box, 4, 6), black) && same(fx_canvas_get(box, 2, 3), white) &&
                     same(fx_canvas_get(box, 2, 0), black) && same(fx_canvas_get(box, 0, 3), black);
        ck_assert_msg(!is_box, "character %c has no glyph", ch);
    }
    const char *signs[] = {"±", "×", "·", "°", "σ", "µ", "μ"};
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++) {
        fx_canvas_fill(box, white);
        ck_assert_int_eq(fx_canvas_text(box, 0, 0, signs[i], 1, black), 5); /* one character */
        ck_assert_int_ne(count_color(box, black), box_ink);
    }
    /* a malformed UTF-8 byte is one (box) character, not a crash */
    ck_assert_int_eq(fx_canvas_text(box, 0, 0, "\xC3", 1, black), 5);
    fx_canvas_destroy(box);
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_colormaps_hit_their_anchors_and_rise_in_lightness)
{
    fx_rgb v0 = fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.0f);
    fx_rgb v5 = fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.5f);
    fx_rgb v1 = fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 1.0f);
    ck_assert(same(v0, (fx_rgb){68, 1, 84}));
    ck_assert(same(v5, (fx_rgb){33, 145, 140}));
    ck_assert(same(v1, (fx_rgb){253, 231, 37}));
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_VIRIDIS, -3.0f), v0)); /* clamped */
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 7.0f), v1));
    /* halfway between the anchors 0.5 and 0.75: (33+94)/2 = 63.5 -> 64, (145+201)/2 = 173, (140+98)/2 = 119 */
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.625f), (fx_rgb){64, 173, 119}));
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_GREY, 1.0f), white));
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_GREY, 0.0f), black));
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_DIVERGING, 0.5f), (fx_rgb){247, 247, 247}));
    ck_assert(same(fx_colormap_rgb(FX_COLORMAP_VIRIDIS, NAN), (fx_rgb){128, 128, 128}));
    /* luma (BT.601) strictly rises along viridis */
    double last = -1.0;
    for (int i = 0; i <= 100; i++) {
        fx_rgb col = fx_colormap_rgb(FX_COLORMAP_VIRIDIS, (float)i / 100.0f);
        double luma = 0.299 * col.r + 0.587 * col.g + 0.114 * col.b;
        ck_assert_msg(luma > last, "luma falls at t = %.2f", i / 100.0);
        last = luma;
    }
}
END_TEST

START_TEST(test_canvas_blit_samples_bilinearly_into_the_rectangle)
{
    fx_canvas *c = new_canvas(8, 8);
    /* 2x2 grey image [0 1; 1 0] over [0, 1] into a 2x2 rectangle: exact copy */
    const float img[4] = {0.0f, 1.0f, 1.0f, 0.0f};
    fx_canvas_image im = {img, 2, 2, 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &im, (fx_canvas_rect){1, 1, 2, 2}), FX_OK);
    ck_assert(same(fx_canvas_get(c, 1, 1), black));
    ck_assert(same(fx_canvas_get(c, 2, 1), white));
    ck_assert(same(fx_canvas_get(c, 1, 2), white));
    ck_assert(same(fx_canvas_get(c, 2, 2), black));
    ck_assert(same(fx_canvas_get(c, 0, 0), white)); /* untouched outside */
    /* 2x1 image [0, 1] into 4 pixels: source x = (i + 0.5) / 2 - 0.5 =
     * -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1): 0, 0.25, 0.75, 1 */
    const float ramp[2] = {0.0f, 1.0f};
    fx_canvas_image r = {ramp, 2, 1, 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &r, (fx_canvas_rect){0, 6, 4, 1}), FX_OK);
    ck_assert_int_eq(fx_canvas_get(c, 0, 6).r, 0);
    ck_assert_int_eq(fx_canvas_get(c, 1, 6).r, 64);  /* 0.25 * 255 = 63.75 */
    ck_assert_int_eq(fx_canvas_get(c, 2, 6).r, 191); /* 0.75 * 255 = 191.25 */
    ck_assert_int_eq(fx_canvas_get(c, 3, 6).r, 255);
    /* RGB planes, values in [-1, 1] as the loader gives them */
    const float rgb[3] = {1.0f, -1.0f, 0.0f};
    fx_canvas_image ci = {rgb, 1, 1, 3, -1.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &ci, (fx_canvas_rect){5, 5, 1, 1}), FX_OK);
    ck_assert(same(fx_canvas_get(c, 5, 5), (fx_rgb){255, 0, 128}));
    /* alpha 0.5 of black over white: 127.5 -> 128 */
    const float zero = 0.0f;
    fx_canvas_image half = {&zero, 1, 1, 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 0.5f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &half, (fx_canvas_rect){7, 7, 1, 1}), FX_OK);
    ck_assert(same(fx_canvas_get(c, 7, 7), (fx_rgb){128, 128, 128}));
    /* refusals */
    fx_canvas_image bad = {img, 2, 2, 2, 0.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &bad, (fx_canvas_rect){0, 0, 2, 2}), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "1 or 3 channels"));
    fx_canvas_image none = {NULL, 2, 2, 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    ck_assert_int_eq(fx_canvas_blit(ctx, c, &none, (fx_canvas_rect){0, 0, 2, 2}), FX_ERR_INVALID);
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_colorbar_runs_low_to_high)
{
    fx_canvas *c = new_canvas(40, 12);
    fx_canvas_colorbar(c, (fx_canvas_rect){2, 2, 30, 6}, FX_COLORMAP_VIRIDIS, 0);
    ck_assert(same(fx_canvas_get(c, 2, 4), fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.0f)));
    ck_assert(same(fx_canvas_get(c, 31, 4), fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 1.0f)));
    ck_assert(same(fx_canvas_get(c, 1, 4), (fx_rgb){40, 40, 40})); /* outline */
    fx_canvas_fill(c, white);
    fx_canvas_colorbar(c, (fx_canvas_rect){2, 1, 4, 10}, FX_COLORMAP_VIRIDIS, 1);
    ck_assert(same(fx_canvas_get(c, 3, 10), fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.0f))); /* bottom = low */
    ck_assert(same(fx_canvas_get(c, 3, 1), fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 1.0f)));
    fx_canvas_destroy(c);
}
END_TEST

START_TEST(test_canvas_png_round_trips_through_the_decoder)
{
    fx_canvas *c = new_canvas(37, 23); /* odd sizes: no row padding assumptions */
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++)
            fx_canvas_set(c, x, y, (fx_rgb){(uint8_t)(x * 7), (uint8_t)(y * 11), (uint8_t)(x * y)});
    fx_canvas_text(c, 1, 1, "fx 0.9", 1, black);
    char path[700];
    snprintf(path, sizeof path, "%s/picture.png", tmpdir);
    ck_assert_int_eq(fx_canvas_write_png(ctx, c, path), FX_OK);
    fx_image_u8 img = {0};
    char err[512] = "";
    ck_assert_msg(fx_image_decode_file(path, &img, err, sizeof err) == FX_OK, "%s", err);
    ck_assert_int_eq(img.width, 37);
    ck_assert_int_eq(img.height, 23);
    ck_assert_int_eq(img.channels, 3);
    ck_assert_int_eq(memcmp(img.pixels, c->pixels, 37 * 23 * 3), 0);
    fx_image_free(&img);
    /* overwriting is atomic: the temporary file is gone, only picture.png stays */
    fx_canvas_fill(c, red);
    ck_assert_int_eq(fx_canvas_write_png(ctx, c, path), FX_OK);
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    ck_assert_int_eq(entries, 1);
    ck_assert_int_eq(fx_image_decode_file(path, &img, err, sizeof err), FX_OK);
    ck_assert_int_eq(img.pixels[0], 255);
    ck_assert_int_eq(img.pixels[1], 0);
    fx_image_free(&img);
    /* a folder that does not exist: a clear I/O error */
    snprintf(path, sizeof path, "%s/no/such/folder/x.png", tmpdir);
    ck_assert_int_eq(fx_canvas_write_png(ctx, c, path), FX_ERR_IO);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "cannot create"));
    fx_canvas_destroy(c);
}
END_TEST

static Suite *canvas_suite(void)
{
    Suite *s = suite_create("canvas");
    TCase *tc = tcase_create("canvas");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_canvas_create_refuses_bad_sizes);
    tcase_add_test(tc, test_canvas_fill_set_get_and_clipping);
    tcase_add_test(tc, test_canvas_line_with_thickness_covers_the_pixels_within_half_of_it);
    tcase_add_test(tc, test_canvas_circles_match_the_gauss_circle_count);
    tcase_add_test(tc, test_canvas_rectangles);
    tcase_add_test(tc, test_canvas_text_draws_the_glyph_bitmaps);
    tcase_add_test(tc, test_colormaps_hit_their_anchors_and_rise_in_lightness);
    tcase_add_test(tc, test_canvas_blit_samples_bilinearly_into_the_rectangle);
    tcase_add_test(tc, test_canvas_colorbar_runs_low_to_high);
    tcase_add_test(tc, test_canvas_png_round_trips_through_the_decoder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(canvas_suite());
}
