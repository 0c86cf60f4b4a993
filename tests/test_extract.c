/* tests/test_extract.c - fx_extract_values (fx/extract.h): the values it
 * copies out equal the layer's math on the stored weights, a final partial
 * batch counts, the batch size does not change the result, the default
 * feature is the classifier's input behind dropout, an occlusion window
 * replaces exactly the pixels it covers, and bad requests
 * (unknown value, a checkpoint of another graph, no checkpoint) are
 * refused with the fix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fxtest.h"

/* Five 2x2 grey PGM images in two identities; pixel bytes chosen by hand. */
static const unsigned char pixels[5][4] = {
    { 0, 64, 128, 255 }, { 10, 20, 30, 40 }, { 255, 0, 255, 0 }, { 100, 100, 50, 200 }, { 1, 2, 3, 4 },
};

/* feat = linear 4 -> 3 on the [0, 1] pixels; dropout; logits = linear 3 -> 2. */
static const char *net_yaml =
    "name: tiny-extract\n"
    "input: {image: [1, 2, 2], label: []}\n"
    "layers:\n"
    "  - {name: flat, op: flatten, in: image}\n"
    "  - {name: feat, op: linear, out_features: 3}\n"
    "  - {name: drop, op: dropout, rate: 0.5}\n"
    "  - {name: logits, op: linear, out_features: 2}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
    "data: {train: {imagefolder: faces}, channels: 1}\n"
    "train: {batch: 2, epochs: 1, checkpoint: net.fxck, lr: 0.1}\n";

static char *make_fixture(void)
{
    char *dir = fxtest_tempdir();
    char path[600];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/faces/%s", dir, i < 3 ? "anna" : "bert");
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(path, sizeof path, "%s/faces/%s/img%d.pgm", dir, i < 3 ? "anna" : "bert", i);
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "P5\n2 2\n255\n");
        fwrite(pixels[i], 1, 4, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, net_yaml);
    return dir;
}

/* Loads the graph file of dir (net.yaml, or `name`). */
static fx_graph *load(fx_context *ctx, const char *dir, const char *name, fx_config *cfg)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fx_graph *g = NULL;
    ck_assert_msg(fx_graph_load_yaml(ctx, path, &g, cfg) == FX_OK, "%s", fx_context_error(ctx));
    return g;
}

static void train_checkpoint(fx_context *ctx, const char *dir)
{
    fx_config cfg;
    fx_graph *g = load(ctx, dir, "net.yaml", &cfg);
    fx_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.log = fopen("/dev/null", "w");
    ck_assert_msg(fx_train(ctx, g, &cfg, &ro) == FX_OK, "%s", fx_context_error(ctx));
    fclose(ro.log);
    fx_graph_destroy(g);
}

START_TEST(test_extracted_values_match_the_layer_math_for_any_batch)
{
    fx_context *ctx = fxtest_context();
    char *dir = make_fixture();
    train_checkpoint(ctx, dir);
    fx_config cfg;
    fx_graph *g = load(ctx, dir, "net.yaml", &cfg);
    char feature[FX_NAME_MAX];
    ck_assert_msg(fx_extract_default_feature(ctx, g, &cfg, feature, sizeof feature) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_str_eq(feature, "feat"); /* logits <- drop (dropout) <- feat */

    fx_dataset *ds = NULL;
    ck_assert_msg(fx_dataset_open(ctx, &cfg.data.train, &cfg.data, &ds) == FX_OK, "%s", fx_context_error(ctx));
    const char *names[2] = { "feat", "logits" };
    fx_extracted a[2], b[2];
    /* Batch 2 over 5 images: the last batch holds one real image. */
    fx_extract_options opt = { .batch = 2 };
    ck_assert_msg(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, names, 2, &opt, a) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_int_eq(a[0].n, 5);
    ck_assert_int_eq(a[0].shape.ndim, 1);
    ck_assert_int_eq(a[0].shape.dim[0], 3);
    ck_assert_int_eq(a[1].shape.dim[0], 2);
    ck_assert_str_eq(a[1].name, "logits");

    /* feat_i = W x_i + b with x = bytes / 255, on the loaded weights. */
    fx_param w, bias;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "feat.weight", &w));
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "feat.bias", &bias));
    float wv[12], bv[3];
    ck_assert_int_eq(fx_tensor_download(w.value, wv), FX_OK);
    ck_assert_int_eq(fx_tensor_download(bias.value, bv), FX_OK);
    /* The data set lists anna/img0..2 then bert/img3..4: file order = index order. */
    for (int i = 0; i < 5; i++)
        for (int o = 0; o < 3; o++) {
            double want = bv[o];
            for (int k = 0; k < 4; k++)
                want += wv[o * 4 + k] * (pixels[i][k] / 255.0);
            ck_assert_msg(fabs(a[0].data[i * 3 + o] - want) < 1e-5, "image %d feature %d: %g, by hand %g", i, o,
                          a[0].data[i * 3 + o], want);
        }
    fx_graph_destroy(g);

    /* The same with batch 64 (planned as 5): identical rows. */
    g = load(ctx, dir, "net.yaml", &cfg);
    ck_assert_msg(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, names, 2, NULL, b) == FX_OK, "%s",
                  fx_context_error(ctx));
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < a[k].n * a[k].shape.dim[0]; i++)
            ck_assert_float_eq(a[k].data[i], b[k].data[i]);
    fx_graph_destroy(g);

    /* With an occlusion window: frame 2 (the 2x2 crop), x 1, y 0, 1 x 2: its
     * corners (0.5, -0.5)..(1.5, 1.5) cover the centres of column 1, pixels
     * 1 and 3 of each image, which become `value`. */
    fx_occlusion occ = { .x = 1, .y = 0, .width = 1, .height = 2, .frame = 2, .value = 0.25f };
    fx_extract_options oo = { .batch = 2, .occlude = &occ };
    fx_extracted c[1];
    g = load(ctx, dir, "net.yaml", &cfg);
    ck_assert_msg(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, names, 1, &oo, c) == FX_OK, "%s",
                  fx_context_error(ctx));
    for (int i = 0; i < 5; i++)
        for (int o = 0; o < 3; o++) {
            double want = bv[o];
            for (int k = 0; k < 4; k++)
                want += wv[o * 4 + k] * (k == 1 || k == 3 ? 0.25 : pixels[i][k] / 255.0);
            ck_assert_msg(fabs(c[0].data[i * 3 + o] - want) < 1e-5, "occluded image %d feature %d: %g, by hand %g", i,
                          o, c[0].data[i * 3 + o], want);
        }
    fx_extracted_free(c, 1);
    fx_extracted_free(a, 2);
    fx_extracted_free(b, 2);
    fx_graph_destroy(g);
    fx_dataset_close(ds);
    fxtest_remove_tree(dir);
    free(dir);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_bad_requests_are_refused_with_the_fix)
{
    fx_context *ctx = fxtest_context();
    char *dir = make_fixture();
    train_checkpoint(ctx, dir);
    fx_config cfg;
    fx_dataset *ds = NULL;
    fx_extracted e[1];
    const char *unknown[1] = { "nope" };
    fx_graph *g = load(ctx, dir, "net.yaml", &cfg);
    ck_assert_msg(fx_dataset_open(ctx, &cfg.data.train, &cfg.data, &ds) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, unknown, 1, NULL, e), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "no value named 'nope'"));
    const char *label[1] = { "image" };
    ck_assert_int_eq(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, label, 1, NULL, e), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "is an input"));
    const char *feat[1] = { "feat" };
    ck_assert_int_eq(fx_extract_values(ctx, g, &cfg, "", ds, feat, 1, NULL, e), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "--checkpoint"));
    fx_graph_destroy(g);

    /* Another graph (feat has 4 outputs) refuses net.fxck, naming the tensor. */
    char path[600], *other = strdup(net_yaml);
    ck_assert_ptr_nonnull(other);
    char *p = strstr(other, "out_features: 3");
    p[14] = '4';
    snprintf(path, sizeof path, "%s/other.yaml", dir);
    fxtest_write_file(path, other);
    free(other);
    g = load(ctx, dir, "other.yaml", &cfg);
    ck_assert_int_ne(fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, feat, 1, NULL, e), FX_OK);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(strstr(msg, "does not fit graph") && strstr(msg, "feat.weight"), "%s", msg);
    fx_graph_destroy(g);
    fx_dataset_close(ds);
    fxtest_remove_tree(dir);
    free(dir);
    fx_context_destroy(ctx);
}
END_TEST

/* The paper's graphs: logits <- drop (dropout) <- clean, the clean
 * branch's pooled feature (the block's output, clean.feat). */
START_TEST(test_default_feature_of_the_paper_graphs_is_the_clean_branch)
{
    fx_context *ctx = fxtest_context();
    const char *files[] = { "interpret-fr-small.yaml", "interpret-fr-base-small.yaml", "interpret-fr.yaml" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/%s", FX_SOURCE_DIR, files[i]);
        fx_config cfg;
        fx_graph *g = NULL;
        ck_assert_msg(fx_graph_load_yaml(ctx, path, &g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
        char feature[FX_NAME_MAX];
        ck_assert_msg(fx_extract_default_feature(ctx, g, &cfg, feature, sizeof feature) == FX_OK, "%s",
                      fx_context_error(ctx));
        ck_assert_msg(!strcmp(feature, "clean.feat"), "%s: default feature '%s'", files[i], feature);
        fx_graph_destroy(g);
    }
    fx_context_destroy(ctx);
}
END_TEST

/* The class scores default to the first input of the first
 * softmax_cross_entropy loss, wherever the default is taken: by the YAML
 * loader (which fills train.predict) or by the library for a config whose
 * train.predict is empty (a program's own config). A loss before it (here
 * sad_loss on the conv) is not a classifier. */
START_TEST(test_default_prediction_is_the_first_cross_entropy_whoever_takes_it)
{
    fx_context *ctx = fxtest_context();
    char *dir = fxtest_tempdir();
    char path[600];
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path, "name: sad-first\n"
                            "input: {image: [1, 4, 4], label: []}\n"
                            "layers:\n"
                            "  - {name: c, op: conv2d, in: image, out_channels: 3, kernel: 3, pad: 1}\n"
                            "  - {name: pooled, op: global_avgpool, in: c}\n"
                            "  - {name: logits, op: linear, in: pooled, out_features: 2}\n"
                            "losses:\n"
                            "  - {op: sad_loss, in: c}\n"
                            "  - {op: softmax_cross_entropy, in: [logits, label]}\n");
    fx_config cfg;
    fx_graph *g = NULL;
    ck_assert_msg(fx_graph_load_yaml(ctx, path, &g, &cfg) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_str_eq(cfg.train.predict, "logits");
    char from_yaml[FX_NAME_MAX], from_library[FX_NAME_MAX];
    ck_assert_msg(fx_extract_default_feature(ctx, g, &cfg, from_yaml, sizeof from_yaml) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_str_eq(from_yaml, "pooled");
    cfg.train.predict[0] = 0;
    ck_assert_msg(fx_extract_default_feature(ctx, g, &cfg, from_library, sizeof from_library) == FX_OK, "%s",
                  fx_context_error(ctx));
    ck_assert_msg(!strcmp(from_library, "pooled"), "without train.predict the default feature is '%s', not 'pooled'",
                  from_library);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("extract");
    TCase *tc = tcase_create("extract");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_extracted_values_match_the_layer_math_for_any_batch);
    tcase_add_test(tc, test_bad_requests_are_refused_with_the_fix);
    tcase_add_test(tc, test_default_feature_of_the_paper_graphs_is_the_clean_branch);
    tcase_add_test(tc, test_default_prediction_is_the_first_cross_entropy_whoever_takes_it);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
