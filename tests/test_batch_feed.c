/* tests/test_batch_feed.c - fx_batch_feed (fx/batch_feed.h), the batch loop
 * of training, evaluation, feature extraction and `fxrun infer`: every
 * example is fed once, in order, with its label; a final partial batch is
 * padded with copies of its first example; batch 1 works; the upload puts
 * the drawn batch into the graph's inputs; data-parallel shards split each
 * global batch; and an unplanned graph, a batch that does not match the
 * graph and a data set without examples are refused with the fix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx/batch_feed.h"
#include "fxtest.h"

/* Five 2x2 grey PGM images: anna img0..img2 (label 0), bert img3, img4
 * (label 1); the loader gives pixel / 255. */
static const unsigned char pixels[5][4] = {
    { 0, 64, 128, 255 }, { 10, 20, 30, 40 }, { 255, 0, 255, 0 }, { 100, 100, 50, 200 }, { 1, 2, 3, 4 },
};

static const char *net_yaml = "name: tiny-feed\n"
                              "input: {image: [1, 2, 2], label: []}\n"
                              "layers:\n"
                              "  - {name: flat, op: flatten, in: image}\n"
                              "  - {name: logits, op: linear, out_features: 2}\n"
                              "losses:\n"
                              "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
                              "data: {train: {imagefolder: faces}, channels: 1}\n";

typedef struct fixture {
    char *dir;
    fx_context *ctx;
    fx_config cfg;
    fx_graph *g;
    fx_dataset *ds;
} fixture;

static void write_image(const char *dir, const char *who, int i)
{
    char path[700];
    snprintf(path, sizeof path, "mkdir -p %s/faces/%s", dir, who);
    ck_assert_int_eq(system(path), 0);
    snprintf(path, sizeof path, "%s/faces/%s/img%d.pgm", dir, who, i);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "P5\n2 2\n255\n");
    fwrite(pixels[i], 1, 4, f);
    fclose(f);
}

/* The graph planned with `batch` for training (all inputs kept) and the
 * data set of its data.train. */
static void open_fixture(fixture *fx, int64_t batch)
{
    memset(fx, 0, sizeof *fx);
    fx->dir = fxtest_tempdir();
    for (int i = 0; i < 5; i++)
        write_image(fx->dir, i < 3 ? "anna" : "bert", i);
    char path[700];
    snprintf(path, sizeof path, "%s/net.yaml", fx->dir);
    fxtest_write_file(path, net_yaml);
    fx->ctx = fxtest_context();
    ck_assert_msg(fx_graph_load_yaml(fx->ctx, path, &fx->g, &fx->cfg) == FX_OK, "%s", fx_context_error(fx->ctx));
    ck_assert_msg(fx_dataset_open(fx->ctx, &fx->cfg.data.train, &fx->cfg.data, &fx->ds) == FX_OK, "%s",
                  fx_context_error(fx->ctx));
    ck_assert_int_eq(fx_dataset_size(fx->ds), 5);
    if (batch > 0)
        ck_assert_msg(fx_graph_plan(fx->g, batch, FX_MODE_TRAIN, fx_context_cpu_backend(fx->ctx)) == FX_OK, "%s",
                      fx_context_error(fx->ctx));
}

static void close_fixture(fixture *fx)
{
    fx_dataset_close(fx->ds);
    fx_graph_destroy(fx->g);
    fx_context_destroy(fx->ctx);
    fxtest_remove_tree(fx->dir);
    free(fx->dir);
}

static fx_batch_feed_options plain_options(int loader_batch)
{
    fx_batch_feed_options o;
    memset(&o, 0, sizeof o);
    o.loader.batch = loader_batch;
    o.loader.seed = 1;
    o.labels = 1;
    o.what = "test";
    return o;
}

/* Row `row` of a drawn batch is example `example`: its four pixels / 255
 * (the loader multiplies by 1/255, so within 1e-6) and its label. */
static void expect_row(const float *images, const int32_t *labels, int row, int example)
{
    for (int k = 0; k < 4; k++)
        ck_assert_msg(fabs(images[row * 4 + k] - pixels[example][k] / 255.0) <= 1e-6,
                      "row %d pixel %d is %g, not example %d's %g", row, k, (double)images[row * 4 + k], example,
                      (double)pixels[example][k] / 255.0);
    ck_assert_msg(labels[row] == (example < 3 ? 0 : 1), "row %d label %d, example %d", row, labels[row], example);
}

START_TEST(test_partial_last_batch_is_padded_with_its_first_example)
{
    fixture fx;
    open_fixture(&fx, 2);
    fx_batch_feed_options o = plain_options(2);
    fx_batch_feed *f = NULL;
    ck_assert_msg(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f) == FX_OK, "%s", fx_context_error(fx.ctx));
    ck_assert_int_eq(fx_batch_feed_batches_per_epoch(f), 3);
    ck_assert_int_eq(fx_batch_feed_start_epoch(f, 0), FX_OK);
    const int want_counts[4] = { 2, 2, 1, 0 };
    int example = 0;
    for (int b = 0; b < 4; b++) {
        int count = -1;
        ck_assert_msg(fx_batch_feed_next(f, &count) == FX_OK, "%s", fx_context_error(fx.ctx));
        ck_assert_int_eq(count, want_counts[b]);
        const float *img = fx_batch_feed_images(f);
        const int32_t *lab = fx_batch_feed_labels(f);
        for (int r = 0; r < count; r++)
            expect_row(img, lab, r, example + r);
        if (count == 1)
            expect_row(img, lab, 1, example); /* the padding row repeats the first */
        if (count > 0) {
            /* The upload puts exactly the drawn batch into the graph. */
            ck_assert_int_eq(fx_batch_feed_upload(f), FX_OK);
            float got[8];
            int32_t got_labels[2];
            ck_assert_int_eq(fx_tensor_download(fx_graph_value(fx.g, "image"), got), FX_OK);
            ck_assert_int_eq(fx_tensor_download(fx_graph_value(fx.g, "label"), got_labels), FX_OK);
            ck_assert(memcmp(got, img, sizeof got) == 0);
            ck_assert(memcmp(got_labels, lab, sizeof got_labels) == 0);
        }
        example += count;
    }
    ck_assert_int_eq(example, 5);
    fx_batch_feed_close(f);
    close_fixture(&fx);
}
END_TEST

START_TEST(test_batch_one_feeds_every_example_once)
{
    fixture fx;
    open_fixture(&fx, 1);
    fx_batch_feed_options o = plain_options(1);
    fx_batch_feed *f = NULL;
    ck_assert_msg(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f) == FX_OK, "%s", fx_context_error(fx.ctx));
    ck_assert_int_eq(fx_batch_feed_batches_per_epoch(f), 5);
    for (int epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(fx_batch_feed_start_epoch(f, epoch), FX_OK);
        int count = 0, n = 0;
        while (fx_batch_feed_next(f, &count) == FX_OK && count > 0) {
            ck_assert_int_eq(count, 1);
            expect_row(fx_batch_feed_images(f), fx_batch_feed_labels(f), 0, n);
            n++;
        }
        ck_assert_int_eq(n, 5);
    }
    fx_batch_feed_close(f);
    close_fixture(&fx);
}
END_TEST

START_TEST(test_shards_split_each_global_batch)
{
    fixture fx;
    open_fixture(&fx, 1);
    int seen[5] = { 0 };
    for (int shard = 0; shard < 2; shard++) {
        fx_batch_feed_options o = plain_options(2); /* global batch 2 = graph batch 1 x 2 shards */
        o.shard = shard;
        o.shards = 2;
        fx_batch_feed *f = NULL;
        ck_assert_msg(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f) == FX_OK, "%s", fx_context_error(fx.ctx));
        ck_assert_int_eq(fx_batch_feed_start_epoch(f, 0), FX_OK);
        int count = 0;
        for (int b = 0; fx_batch_feed_next(f, &count) == FX_OK && count > 0; b++) {
            int example = 2 * b + shard; /* rows [shard, shard + 1) of global batch b */
            expect_row(fx_batch_feed_images(f), fx_batch_feed_labels(f), 0, example);
            seen[example]++;
        }
        fx_batch_feed_close(f);
    }
    for (int i = 0; i < 5; i++)
        ck_assert_msg(seen[i] == 1, "example %d fed %d times over the shards", i, seen[i]);
    close_fixture(&fx);
}
END_TEST

START_TEST(test_bad_feeds_are_refused_with_the_fix)
{
    fixture fx;
    open_fixture(&fx, 0);
    fx_batch_feed_options o = plain_options(2);
    fx_batch_feed *f = NULL;
    /* Not planned yet. */
    ck_assert_int_eq(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f), FX_ERR_INVALID);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(fx_context_error(fx.ctx), "plan graph") != NULL, "%s", fx_context_error(fx.ctx));
    /* The loader's batch is not the graph's. */
    ck_assert_msg(fx_graph_plan(fx.g, 3, FX_MODE_TRAIN, fx_context_cpu_backend(fx.ctx)) == FX_OK, "%s",
                  fx_context_error(fx.ctx));
    ck_assert_int_eq(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f), FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(fx.ctx), "graph's batch 3") != NULL, "%s", fx_context_error(fx.ctx));
    /* An image input the data does not fit. */
    o.loader.batch = 3;
    fx_config wrong = fx.cfg;
    snprintf(wrong.data.image_input, sizeof wrong.data.image_input, "label");
    ck_assert_int_eq(fx_batch_feed_open(fx.g, &wrong, fx.ds, &o, &f), FX_ERR_SHAPE);
    ck_assert_msg(strstr(fx_context_error(fx.ctx), "test data gives examples of shape") != NULL, "%s",
                  fx_context_error(fx.ctx));
    /* Uploading before drawing. */
    ck_assert_msg(fx_batch_feed_open(fx.g, &fx.cfg, fx.ds, &o, &f) == FX_OK, "%s", fx_context_error(fx.ctx));
    ck_assert_int_eq(fx_batch_feed_start_epoch(f, 0), FX_OK);
    ck_assert_int_eq(fx_batch_feed_upload(f), FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(fx.ctx), "call fx_batch_feed_next") != NULL, "%s", fx_context_error(fx.ctx));
    fx_batch_feed_close(f);
    close_fixture(&fx);
}
END_TEST

/* A data set without examples: an ImageFolder split that holds every
 * identity out leaves none to train on. Whichever layer notices first
 * (the data set or the feed) must say so; the feed never yields a batch. */
START_TEST(test_empty_data_set_is_refused)
{
    fixture fx;
    open_fixture(&fx, 1);
    fx_batch_feed_options o = plain_options(1);
    fx_batch_feed *f = NULL;
    fx_dataset *empty = NULL;
    char root[700];
    snprintf(root, sizeof root, "mkdir -p %s/none/anna", fx.dir);
    ck_assert_int_eq(system(root), 0);
    fx_data_source src = fx.cfg.data.train;
    snprintf(src.root, sizeof src.root, "%s/none", fx.dir);
    fx_status st = fx_dataset_open(fx.ctx, &src, &fx.cfg.data, &empty);
    if (st == FX_OK) {
        st = fx_batch_feed_open(fx.g, &fx.cfg, empty, &o, &f);
        ck_assert_int_eq(st, FX_ERR_INVALID);
        ck_assert_ptr_null(f);
        ck_assert_msg(strstr(fx_context_error(fx.ctx), "no examples") != NULL, "%s", fx_context_error(fx.ctx));
        fx_dataset_close(empty);
    } else {
        ck_assert_msg(fx_context_error(fx.ctx)[0] != 0, "an empty data set was refused without a message");
    }
    close_fixture(&fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch_feed");
    TCase *tc = tcase_create("batch_feed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_partial_last_batch_is_padded_with_its_first_example);
    tcase_add_test(tc, test_batch_one_feeds_every_example_once);
    tcase_add_test(tc, test_shards_split_each_global_batch);
    tcase_add_test(tc, test_bad_feeds_are_refused_with_the_fix);
    tcase_add_test(tc, test_empty_data_set_is_refused);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
