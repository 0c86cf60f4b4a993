/* tests/test_explain.c - `fxrun explain` end to end, on drawn faces: a
 * folder of 4 people x 3 cartoon faces (64x64 PNGs drawn with fx's canvas,
 * features placed at the 68-point mean face, shifted per image) with their
 * 68 landmarks, a tiny graph with an untrained (`fxrun init`) checkpoint.
 * Checks the files written, that explain.json's spread is the RMS distance
 * of its own per-filter locations from their centroid, that the pictures
 * decode, the refusals of bad requests, and that explain.html renders in
 * headless Chromium with no console message and every image it references
 * present (skipped, saying so, when chromium is not installed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/io/image_decode.h"
#include "fx/canvas.h"
#include "fx/face.h"
#include "fxtest.h"

static char *tmpdir;
static char out[1 << 16];
static char yaml[700], faces[700], landmarks[700], report[700];

#define PEOPLE 4
#define PER_PERSON 3
#define SIDE 64

static const char *tiny_graph =
    "name: explain-tiny\n"
    "input: {image: [3, 32, 32], label: []}\n"
    "layers:\n"
    "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, stride: 2, padding: same}\n"
    "  - {name: a1, op: elu}\n"
    "  - {name: k5, op: conv2d, out_channels: 6, kernel: 3, padding: same}\n"
    "  - {name: k5bn, op: batchnorm}\n"
    "  - {name: feat, op: global_avgpool}\n"
    "  - {name: drop, op: dropout, rate: 0.2}\n"
    "  - {name: logits, op: linear, out_features: 4}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
    "data:\n"
    "  channels: 3\n"
    "  size: 32\n"
    "  resize: 32\n"
    "  normalize: {mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n"
    "train: {batch: 4, predict: logits, checkpoint: tiny.fxck, seed: 3}\n";

static int run_fxrun(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", fxtest_fxrun(), args);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc < 128, "fxrun %s crashed (status %d):\n%s", args, rc, out);
    return rc;
}

/* One cartoon face: skin disc, two eyes, a nose, a mouth at the template's
 * landmark positions shifted by (dx, dy); writes its 68 landmarks too. */
static void draw_face(fx_context *ctx, const float *tmpl, int person, int shot, const char *path, FILE *csv,
                      const char *rel)
{
    fx_canvas *c = NULL;
    ck_assert_int_eq(fx_canvas_create(ctx, SIDE, SIDE, (fx_rgb){(uint8_t)(60 + 40 * person), 90, 110}, &c), FX_OK);
    float dx = (float)((shot * 5 + person * 3) % 7 - 3), dy = (float)((shot * 3 + person) % 5 - 2);
    float p[2 * FX_FACE_POINTS68];
    for (int i = 0; i < FX_FACE_POINTS68; i++) {
        p[2 * i] = tmpl[2 * i] + dx;
        p[2 * i + 1] = tmpl[2 * i + 1] + dy;
    }
    fx_canvas_fill_circle(c, p[2 * 30], p[2 * 30 + 1] - 4, 27.0f, (fx_rgb){(uint8_t)(230 - 20 * person), 190, 160});
    for (int eye = 0; eye < 2; eye++) {
        float ex = 0, ey = 0;
        for (int i = 0; i < 6; i++) {
            ex += p[2 * (36 + 6 * eye + i)] / 6;
            ey += p[2 * (36 + 6 * eye + i) + 1] / 6;
        }
        fx_canvas_fill_circle(c, ex, ey, 3.5f, (fx_rgb){30, 30, 40});
    }
    fx_canvas_line(c, p[2 * 27], p[2 * 27 + 1], p[2 * 30], p[2 * 30 + 1], 2.0f, (fx_rgb){150, 100, 90});
    fx_canvas_line(c, p[2 * 48], p[2 * 48 + 1], p[2 * 54], p[2 * 54 + 1], 3.0f, (fx_rgb){160, 40, 50});
    ck_assert_int_eq(fx_canvas_write_png(ctx, c, path), FX_OK);
    fx_canvas_destroy(c);
    fprintf(csv, "%s", rel);
    for (int i = 0; i < 2 * FX_FACE_POINTS68; i++)
        fprintf(csv, ",%.3f", p[i]);
    fprintf(csv, "\n");
}

static void setup(void)
{
    tmpdir = fxtest_tempdir();
    fx_context *ctx = fxtest_context();
    snprintf(yaml, sizeof yaml, "%s/tiny.yaml", tmpdir);
    snprintf(faces, sizeof faces, "%s/faces", tmpdir);
    snprintf(landmarks, sizeof landmarks, "%s/landmarks.csv", tmpdir);
    snprintf(report, sizeof report, "%s/report", tmpdir);
    fxtest_write_file(yaml, tiny_graph);
    ck_assert_int_eq(mkdir(faces, 0755), 0);
    float tmpl[2 * FX_FACE_POINTS68];
    ck_assert_int_eq(fx_face_template68(ctx, SIDE, tmpl), FX_OK);
    FILE *csv = fopen(landmarks, "w");
    ck_assert_ptr_nonnull(csv);
    for (int person = 0; person < PEOPLE; person++) {
        char dir[800], rel[64], path[900];
        snprintf(dir, sizeof dir, "%s/person%d", faces, person);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        for (int shot = 0; shot < PER_PERSON; shot++) {
            snprintf(rel, sizeof rel, "person%d/%d.png", person, shot);
            snprintf(path, sizeof path, "%s/%s", faces, rel);
            draw_face(ctx, tmpl, person, shot, path, csv, rel);
        }
    }
    ck_assert_int_eq(fclose(csv), 0);
    fx_context_destroy(ctx);
    char args[2048];
    snprintf(args, sizeof args, "init %s -q", yaml);
    ck_assert_msg(run_fxrun(args) == 0, "fxrun init failed:\n%s", out);
}

static void teardown(void)
{
    if (!getenv("FX_TEST_KEEP")) /* FX_TEST_KEEP=1 leaves the faces and the report for a look */
        fxtest_remove_tree(tmpdir);
    else
        fprintf(stderr, "test_explain: kept %s\n", tmpdir);
    free(tmpdir);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s is missing", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strdup(buf);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* The number after `key` at or after `from`; NAN for null. */
static double json_number_after(const char *from, const char *key, const char **next)
{
    const char *p = strstr(from, key);
    ck_assert_msg(p != NULL, "explain.json lacks %s", key);
    p += strlen(key);
    if (next)
        *next = p;
    if (!strncmp(p, "null", 4))
        return NAN;
    return strtod(p, NULL);
}

static void run_explain(void)
{
    char args[4096];
    snprintf(args, sizeof args, "explain %s --images %s --landmarks %s --value k5bn --out %s --no-progress", yaml,
             faces, landmarks, report);
    ck_assert_msg(run_fxrun(args) == 0, "fxrun %s failed:\n%s", args, out);
    ck_assert_msg(strstr(out, "report: ") != NULL, "no report line:\n%s", out);
}

START_TEST(test_explain_writes_a_consistent_json_and_pictures)
{
    run_explain();
    char path[900];
    snprintf(path, sizeof path, "%s/explain.json", report);
    char *json = read_text(path);
    ck_assert_msg(strstr(json, "\"faces\": 12,") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"faces_warped\": 12,") != NULL, "every drawn face has 68 landmarks:\n%s", json);
    ck_assert_msg(strstr(json, "\"maps\": [6, 16, 16]") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"input\": [3, 32, 32]") != NULL, "%s", json);
    /* the spread is the RMS distance of the filters' positive locations from their centroid */
    double xs[6], ys[6];
    const char *p = strstr(json, "\"filters\": [");
    ck_assert_ptr_nonnull(p);
    for (int k = 0; k < 6; k++) {
        xs[k] = json_number_after(p, "\"positive\": {\"x\": ", &p);
        ys[k] = json_number_after(p, "\"y\": ", &p);
        ck_assert_msg(isfinite(xs[k]) && isfinite(ys[k]), "filter %d has no location", k);
        ck_assert(xs[k] >= -1.0 && xs[k] <= 33.0 && ys[k] >= -1.0 && ys[k] <= 33.0);
    }
    ck_assert_ptr_null(strstr(p, "\"positive\": {\"x\": ")); /* exactly 6 filters */
    double cx = 0, cy = 0, s2 = 0;
    for (int k = 0; k < 6; k++) {
        cx += xs[k] / 6;
        cy += ys[k] / 6;
    }
    for (int k = 0; k < 6; k++)
        s2 += ((xs[k] - cx) * (xs[k] - cx) + (ys[k] - cy) * (ys[k] - cy)) / 6;
    const char *sp = strstr(json, "\"spread\": {\"positive\": ");
    ck_assert_ptr_nonnull(sp);
    double rms = json_number_after(sp, "\"rms\": ", NULL);
    /* the JSON keeps 6 significant digits of each number */
    ck_assert_msg(fabs(rms - sqrt(s2)) < 1e-3 * (1.0 + rms), "spread %g, recomputed %g", rms, sqrt(s2));
    /* the occlusion study: seven parts, a finite change for each, and the
     * windows inside the 32x32 frame at the scaled 32x12 size (11x4) */
    const char *parts[] = {"forehead", "left eye", "right eye", "nose", "mouth", "left cheek", "right cheek"};
    for (int i = 0; i < 7; i++) {
        char key[64];
        snprintf(key, sizeof key, "{\"part\": \"%s\", \"window\": {", parts[i]);
        const char *w = strstr(json, key);
        ck_assert_msg(w != NULL, "no occlusion of the %s:\n%s", parts[i], json);
        ck_assert_int_eq((int)json_number_after(w, "\"width\": ", NULL), 11);
        ck_assert_int_eq((int)json_number_after(w, "\"height\": ", NULL), 4);
        double x = json_number_after(w, "\"x\": ", NULL), y = json_number_after(w, "\"y\": ", NULL);
        ck_assert(x >= 0 && x + 11 <= 32 && y >= 0 && y + 4 <= 32);
        double change = json_number_after(w, "\"mean_change\": ", NULL);
        ck_assert_msg(isfinite(change) && change >= 0, "%s: change %g", parts[i], change);
    }
    ck_assert_ptr_nonnull(strstr(json, "\"feature_change\": {\"forehead\": "));
    free(json);
    /* the pictures decode and have the sizes drawn */
    const char *pngs[] = {"peaks.png", "heatmaps.png", "occlusion.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", report, pngs[i]);
        fx_image_u8 img = {0};
        char err[512];
        ck_assert_msg(fx_image_decode_file(path, &img, err, sizeof err) == FX_OK, "%s", err);
        ck_assert_int_ge(img.width, 600);
        ck_assert_int_ge(img.height, 400);
        fx_image_free(&img);
    }
    snprintf(path, sizeof path, "%s/explain.html", report);
    char *html = read_text(path);
    ck_assert_ptr_nonnull(strstr(html, "<img src=\"peaks.png\""));
    ck_assert_ptr_nonnull(strstr(html, "<img src=\"heatmaps.png\""));
    ck_assert_ptr_nonnull(strstr(html, "<img src=\"occlusion.png\""));
    ck_assert_ptr_nonnull(strstr(html, "<a href=\"explain.json\">"));
    ck_assert_ptr_null(strstr(html, "http://"));  /* self-contained: nothing fetched */
    ck_assert_ptr_null(strstr(html, "https://"));
    free(html);
}
END_TEST

/* Without landmarks the seven occluded parts still sit where a face has
 * them (the mean face template in the crop frame): seven windows, the eyes
 * side by side, forehead above eyes above nose above mouth. (Once they all
 * sat at one corner, read from an unset template.) */
START_TEST(test_explain_without_landmarks_places_the_parts_on_the_face)
{
    char args[4096];
    snprintf(args, sizeof args, "explain %s --images %s --value k5bn --out %s --no-progress", yaml, faces, report);
    ck_assert_msg(run_fxrun(args) == 0, "fxrun %s failed:\n%s", args, out);
    char path[900];
    snprintf(path, sizeof path, "%s/explain.json", report);
    char *json = read_text(path);
    const char *parts[] = {"forehead", "left eye", "right eye", "nose", "mouth", "left cheek", "right cheek"};
    double x[7], y[7];
    for (int i = 0; i < 7; i++) {
        char key[64];
        snprintf(key, sizeof key, "{\"part\": \"%s\", \"window\": {", parts[i]);
        const char *w = strstr(json, key);
        ck_assert_msg(w != NULL, "no occlusion of the %s:\n%s", parts[i], json);
        x[i] = json_number_after(w, "\"x\": ", NULL);
        y[i] = json_number_after(w, "\"y\": ", NULL);
        ck_assert_msg(x[i] >= 0 && x[i] + 11 <= 32 && y[i] >= 0 && y[i] + 4 <= 32, "%s at %g,%g", parts[i], x[i], y[i]);
    }
    ck_assert_msg(x[1] + 6 < x[2] && fabs(y[1] - y[2]) <= 1, "eyes at %g,%g and %g,%g", x[1], y[1], x[2], y[2]);
    ck_assert_msg(y[0] < y[1] && y[1] < y[3] && y[3] < y[4], "forehead %g, eyes %g, nose %g, mouth %g (y)", y[0],
                  y[1], y[3], y[4]);
    ck_assert_msg(x[5] < x[6], "cheeks at x %g and %g", x[5], x[6]);
    free(json);
}
END_TEST

START_TEST(test_explain_refuses_bad_requests_clearly)
{
    char args[4096];
    snprintf(args, sizeof args, "explain %s --value k5bn", yaml);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "--images DIR") != NULL, "%s", out);
    snprintf(args, sizeof args, "explain %s --images %s --out %s/r", yaml, faces, tmpdir);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "no value 'clean.k5bn'") && strstr(out, "--value NAME"), "%s", out);
    snprintf(args, sizeof args, "explain %s --images %s --value nosuch --out %s/r", yaml, faces, tmpdir);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "nosuch") != NULL, "%s", out);
    snprintf(args, sizeof args, "explain %s --images %s --value feat --out %s/r", yaml, faces, tmpdir);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "[K, H, W]") != NULL, "%s", out);
    snprintf(args, sizeof args, "explain %s --images %s --value k5bn --box 1,2,3", yaml, faces);
    ck_assert_int_eq(run_fxrun(args), 2);
    ck_assert_msg(strstr(out, "--box expects X,Y,W,H") != NULL, "%s", out);
    snprintf(args, sizeof args, "explain %s --images %s/nowhere --value k5bn --out %s/r", yaml, tmpdir, tmpdir);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "nowhere") != NULL, "%s", out);
    /* --out naming a file, not a folder */
    snprintf(args, sizeof args, "explain %s --images %s --value k5bn --out %s", yaml, faces, yaml);
    ck_assert_int_ne(run_fxrun(args), 0);
    ck_assert_msg(strstr(out, "not a folder") != NULL, "%s", out);
}
END_TEST

START_TEST(test_explain_report_renders_in_headless_chromium)
{
    if (fxtest_run("command -v chromium", out, sizeof out) != 0) {
        fprintf(stderr, "test_explain: SKIP the Chromium check: chromium is not installed "
                        "(tools/install-deps.sh --tests installs it)\n");
        return;
    }
    run_explain();
    char cmd[4096], shot[900];
    snprintf(shot, sizeof shot, "%s/shot.png", tmpdir);
    /* The chromium flags: headless, no sandbox (containers, root), no GPU;
     * console messages go to stderr as "...:CONSOLE(...)". */
    const char *flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 "
                        "--window-size=1100,2000";
    snprintf(cmd, sizeof cmd, "cd %s && timeout 120 chromium %s --screenshot=%s file://%s/explain.html 2>&1", tmpdir,
             flags, shot, report);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "chromium failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "CONSOLE") == NULL, "the report logs to the console:\n%s", out);
    fx_image_u8 img = {0};
    char err[512];
    ck_assert_msg(fx_image_decode_file(shot, &img, err, sizeof err) == FX_OK, "no screenshot: %s\n%s", err, out);
    /* the page is not blank: it has dark text and coloured pixels */
    long dark = 0, coloured = 0;
    for (long i = 0; i < (long)img.width * img.height; i++) {
        const uint8_t *px = img.pixels + 3 * i;
        dark += px[0] < 80 && px[1] < 80 && px[2] < 80;
        coloured += abs(px[0] - px[2]) > 60;
    }
    fx_image_free(&img);
    ck_assert_msg(dark > 2000 && coloured > 2000, "the screenshot looks blank (%ld dark, %ld coloured pixels)", dark,
                  coloured);
    /* the DOM: every picture referenced exists beside the page */
    snprintf(cmd, sizeof cmd, "timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom file://%s/explain.html 2>/dev/null",
             report);
    static char dom[1 << 18];
    ck_assert_int_eq(fxtest_run(cmd, dom, sizeof dom), 0);
    ck_assert_msg(strstr(dom, "<table>") != NULL, "the DOM has no table:\n%.2000s", dom);
    int images = 0;
    for (const char *p = dom; (p = strstr(p, "<img src=\"")); images++) {
        p += 10;
        const char *q = strchr(p, '"');
        ck_assert_ptr_nonnull(q);
        char path[1200];
        snprintf(path, sizeof path, "%s/%.*s", report, (int)(q - p), p);
        struct stat sb;
        ck_assert_msg(stat(path, &sb) == 0 && sb.st_size > 1000, "%s is referenced but missing", path);
    }
    ck_assert_int_ge(images, 2);
}
END_TEST

static Suite *explain_suite(void)
{
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_explain_writes_a_consistent_json_and_pictures);
    tcase_add_test(tc, test_explain_without_landmarks_places_the_parts_on_the_face);
    tcase_add_test(tc, test_explain_refuses_bad_requests_clearly);
    tcase_add_test(tc, test_explain_report_renders_in_headless_chromium);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(explain_suite());
}
