/* tests/test_yaml_loader.c - the YAML graph loader: the documented schema
 * (docs/graph-format.md) builds the expected graph and config, and every
 * kind of bad input fails with a message naming file:line:col and the fix,
 * without crashing or leaking (run under ASan/valgrind). Each test writes
 * its YAML text to a fresh temporary folder as "net.yaml". */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "fxtest.h"

/* ---- helpers ------------------------------------------------------------------ */

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fx-yaml-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void remove_tmp_dir(void)
{
    char cmd[300];
    /* Only ever our own mkdtemp folder. */
    if (strncmp(tmp_dir, "/tmp/fx-yaml-", 13) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}

/* Writes `len` bytes as tmp_dir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

typedef struct loaded {
    fx_context *ctx;
    fx_graph *g;
    fx_config cfg;
    fx_status st;
} loaded;

static loaded load_bytes(const char *text, size_t len)
{
    loaded r;
    memset(&r, 0, sizeof r);
    r.ctx = fxtest_context();
    const char *path = write_file("net.yaml", text, len);
    r.st = fx_graph_load_yaml(r.ctx, path, &r.g, &r.cfg);
    if (r.st != FX_OK)
        ck_assert_ptr_null(r.g);
    return r;
}

static loaded load_text(const char *text)
{
    return load_bytes(text, strlen(text));
}

static void release(loaded *r)
{
    fx_graph_destroy(r->g);
    fx_context_destroy(r->ctx);
    r->g = NULL;
    r->ctx = NULL;
}

/* Loads `text`, which must succeed. */
static loaded load_ok(const char *text)
{
    loaded r = load_text(text);
    ck_assert_msg(r.st == FX_OK, "expected the graph to load, got %s: %s", fx_status_name(r.st),
                  fx_context_error(r.ctx));
    ck_assert_ptr_nonnull(r.g);
    return r;
}

/* Loads `text`, which must fail with `status` and a message containing
 * every given needle (NULL-terminated). */
static void expect_fail(const char *text, size_t len, fx_status status, ...)
{
    loaded r = load_bytes(text, len);
    const char *msg = fx_context_error(r.ctx);
    ck_assert_msg(r.st != FX_OK, "expected an error, the graph loaded");
    ck_assert_msg(msg[0] != '\0', "an error without a message");
    if (status != FX_OK)
        ck_assert_msg(r.st == status, "expected status %s, got %s: %s", fx_status_name(status),
                      fx_status_name(r.st), msg);
    va_list ap;
    va_start(ap, status);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(strstr(msg, needle) != NULL, "message lacks '%s': %s", needle, msg);
    va_end(ap);
    release(&r);
}

#define EXPECT_FAIL(text, status, ...) expect_fail((text), strlen(text), (status), __VA_ARGS__, (const char *)NULL)

static const fx_node *node(const loaded *r, const char *name)
{
    const fx_node *n = fx_graph_find_node(r->g, name);
    ck_assert_msg(n != NULL, "no node '%s'", name);
    return n;
}

/* Name of the value feeding input i of node `name`. */
static const char *input_of(const loaded *r, const char *name, int i)
{
    const fx_node *n = node(r, name);
    ck_assert_int_lt(i, n->n_in);
    return r->g->values[n->in[i]].name;
}

static int param_index(const loaded *r, const char *name, int k)
{
    return node(r, name)->param[k];
}

/* A small graph most tests extend. */
#define HEAD "name: t\ninput: {image: [1, 8, 8], label: []}\n"

/* ---- defaults and the happy path ------------------------------------------------ */

START_TEST(test_config_default_matches_documented_values)
{
    fx_config c;
    memset(&c, 0x5a, sizeof c);
    fx_config_default(&c);
    ck_assert_str_eq(c.task, "train");
    ck_assert_str_eq(c.backend, "cpu");
    ck_assert_int_eq(c.data.channels, 1);
    ck_assert_int_eq(c.data.size, 0);
    ck_assert_int_eq(c.data.resize, 0);
    ck_assert_int_eq(c.data.crop, FX_CROP_NONE);
    ck_assert_int_eq(c.data.flip, 0);
    ck_assert_int_eq(c.data.n_norm, 0);
    ck_assert_str_eq(c.data.image_input, "image");
    ck_assert_str_eq(c.data.label_input, "label");
    ck_assert_int_eq(c.data.workers, 2);
    ck_assert_int_eq(c.data.train.kind, FX_DATA_NONE);
    ck_assert_str_eq(c.train.optimizer, "adam");
    ck_assert_float_eq(c.train.lr, 1e-3f);
    ck_assert_float_eq(c.train.momentum, 0.9f);
    ck_assert_float_eq(c.train.weight_decay, 0.0f);
    ck_assert_float_eq(c.train.beta1, 0.9f);
    ck_assert_float_eq(c.train.beta2, 0.999f);
    ck_assert_float_eq(c.train.eps, 1e-8f);
    ck_assert_int_eq(c.train.nesterov, 0);
    ck_assert_int_eq(c.train.schedule, FX_SCHEDULE_CONSTANT);
    ck_assert_int_eq(c.train.step_epochs, 10);
    ck_assert_float_eq(c.train.gamma, 0.1f);
    ck_assert_float_eq(c.train.min_lr, 0.0f);
    ck_assert_int_eq(c.train.warmup_steps, 0);
    ck_assert_int_eq(c.train.batch, 64);
    ck_assert_int_eq(c.train.epochs, 1);
    ck_assert_int_eq(c.train.max_steps, 0);
    ck_assert_uint_eq(c.train.seed, 1);
    ck_assert_str_eq(c.train.checkpoint, "");
    ck_assert_int_eq(c.train.checkpoint_every, 0);
    ck_assert_str_eq(c.train.predict, "");
    ck_assert_int_eq(c.train.log_every, 50);
    ck_assert_int_eq(c.n_plugins, 0);
}
END_TEST

START_TEST(test_minimal_graph_loads_with_defaults_and_in_chains_layers)
{
    loaded r = load_ok("input: {x: [4]}\n"
                       "layers:\n"
                       "  - {name: fc, op: linear, out_features: 3}\n"
                       "  - {op: relu}\n"
                       "  - {name: out, op: linear, out_features: 2}\n");
    ck_assert_str_eq(fx_graph_name(r.g), "net"); /* from the file name */
    ck_assert_int_eq(fx_graph_input_count(r.g), 1);
    ck_assert_int_eq(fx_graph_input_dtype(r.g, 0), FX_F32);
    ck_assert_int_eq(fx_graph_node_count(r.g), 3);
    ck_assert_str_eq(input_of(&r, "fc", 0), "x");      /* first layer reads the first input */
    ck_assert_str_eq(input_of(&r, "relu1", 0), "fc");  /* unnamed: <op><index> */
    ck_assert_str_eq(input_of(&r, "out", 0), "relu1");
    ck_assert_int_eq(fx_node_attr_int(node(&r, "out"), "out_features"), 2);
    ck_assert_int_eq(fx_graph_loss_count(r.g), 0);
    ck_assert_str_eq(r.cfg.task, "train");
    ck_assert_str_eq(r.cfg.train.predict, "");
    ck_assert_str_eq(r.cfg.dir, tmp_dir);
    release(&r);
}
END_TEST

START_TEST(test_fashion_mnist_config_loads_with_all_sections)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/fashion-mnist.yaml", FX_SOURCE_DIR);
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, path, &g, &cfg);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_str_eq(fx_graph_name(g), "fashion-mnist");
    ck_assert_int_eq(fx_graph_input_count(g), 2);
    ck_assert_int_eq(fx_graph_input_dtype(g, 1), FX_I32);
    ck_assert_int_eq(fx_graph_input_shape(g, 1).ndim, 0);
    ck_assert_int_eq(fx_graph_loss_count(g), 1);
    ck_assert_float_eq(fx_graph_loss_weight(g, 0), 1.0f);
    ck_assert_str_eq(cfg.train.predict, "logits");
    ck_assert_int_eq(cfg.data.train.kind, FX_DATA_IDX);
    ck_assert_str_eq(cfg.data.train.images, "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
    ck_assert_int_eq(cfg.data.n_norm, 1);
    ck_assert_float_eq_tol(cfg.data.mean[0], 0.286f, 1e-6f);
    ck_assert_int_eq(cfg.train.schedule, FX_SCHEDULE_COSINE);
    ck_assert_float_eq_tol(cfg.train.min_lr, 1e-5f, 1e-10f);
    ck_assert_int_eq(cfg.train.epochs, 3);
    char want[1100];
    snprintf(want, sizeof want, "%s/configs/fashion-mnist.fxck", FX_SOURCE_DIR);
    ck_assert_str_eq(cfg.train.checkpoint, want); /* relative to the file */
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fixture_with_blocks_and_shared_branches_loads)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/yaml/two-branch.yaml", FX_SOURCE_DIR);
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, path, &g, &cfg);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(ctx));
    /* Both branches use the same conv weights. */
    const fx_node *a = fx_graph_find_node(g, "clean.s1.conv"), *b = fx_graph_find_node(g, "occl.s1.conv");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(a->param[0], b->param[0]);
    ck_assert_int_eq(fx_graph_loss_count(g), 2);
    ck_assert_float_eq(fx_graph_loss_weight(g, 0), 2.0f);
    ck_assert_str_eq(cfg.train.predict, "logits");
    ck_assert_float_eq(cfg.train.beta1, 0.5f);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_all_train_and_data_keys_are_read)
{
    loaded r = load_ok(HEAD "task: eval\nbackend: opencl:0:1\nplugins: [libfoo.so, /opt/abs.so]\n"
                            "layers: [{name: logits, op: linear, out_features: 10}]\n"
                            "losses: [{op: softmax_cross_entropy, in: [logits, label], weight: 0.5}]\n"
                            "data:\n"
                            "  train: {imagefolder: faces/train, limit: 100}\n"
                            "  test: {idx: {images: /abs/img.gz, labels: lab.gz}}\n"
                            "  channels: 3\n  resize: 110\n  size: 96\n  crop: random\n  flip: yes\n"
                            "  normalize: {mean: 0.5, std: [0.25]}\n  workers: 4\n"
                            "train: {optimizer: sgd, lr: 0.1, momentum: 0.8, weight_decay: 5e-4, beta1: 0.5,\n"
                            "        beta2: 0.99, eps: 1e-6, nesterov: true,\n"
                            "        schedule: {type: step, step_epochs: 3, gamma: 0.5, min_lr: 0.001, "
                            "warmup_steps: 7},\n"
                            "        batch: 32, epochs: 5, max_steps: 1000, seed: 18446744073709551615,\n"
                            "        checkpoint: ck/run.fxck, checkpoint_every: 200, predict: logits, log_every: 10}\n");
    char want[600];
    ck_assert_str_eq(r.cfg.task, "eval");
    ck_assert_str_eq(r.cfg.backend, "opencl:0:1");
    ck_assert_int_eq(r.cfg.n_plugins, 2);
    snprintf(want, sizeof want, "%s/libfoo.so", tmp_dir);
    ck_assert_str_eq(r.cfg.plugins[0], want);
    ck_assert_str_eq(r.cfg.plugins[1], "/opt/abs.so");
    ck_assert_int_eq(r.cfg.data.train.kind, FX_DATA_IMAGEFOLDER);
    snprintf(want, sizeof want, "%s/faces/train", tmp_dir);
    ck_assert_str_eq(r.cfg.data.train.root, want);
    ck_assert_int_eq(r.cfg.data.train.limit, 100);
    ck_assert_int_eq(r.cfg.data.test.kind, FX_DATA_IDX);
    ck_assert_str_eq(r.cfg.data.test.images, "/abs/img.gz");
    snprintf(want, sizeof want, "%s/lab.gz", tmp_dir);
    ck_assert_str_eq(r.cfg.data.test.labels, want);
    ck_assert_int_eq(r.cfg.data.channels, 3);
    ck_assert_int_eq(r.cfg.data.resize, 110);
    ck_assert_int_eq(r.cfg.data.size, 96);
    ck_assert_int_eq(r.cfg.data.crop, FX_CROP_RANDOM);
    ck_assert_int_eq(r.cfg.data.flip, 1);
    ck_assert_int_eq(r.cfg.data.n_norm, 3); /* one value, replicated per channel */
    ck_assert_float_eq(r.cfg.data.mean[2], 0.5f);
    ck_assert_float_eq(r.cfg.data.std[2], 0.25f);
    ck_assert_int_eq(r.cfg.data.workers, 4);
    ck_assert_str_eq(r.cfg.train.optimizer, "sgd");
    ck_assert_float_eq(r.cfg.train.lr, 0.1f);
    ck_assert_float_eq(r.cfg.train.momentum, 0.8f);
    ck_assert_float_eq(r.cfg.train.weight_decay, 5e-4f);
    ck_assert_float_eq(r.cfg.train.beta1, 0.5f);
    ck_assert_float_eq(r.cfg.train.beta2, 0.99f);
    ck_assert_float_eq(r.cfg.train.eps, 1e-6f);
    ck_assert_int_eq(r.cfg.train.nesterov, 1);
    ck_assert_int_eq(r.cfg.train.schedule, FX_SCHEDULE_STEP);
    ck_assert_int_eq(r.cfg.train.step_epochs, 3);
    ck_assert_float_eq(r.cfg.train.gamma, 0.5f);
    ck_assert_float_eq(r.cfg.train.min_lr, 0.001f);
    ck_assert_int_eq(r.cfg.train.warmup_steps, 7);
    ck_assert_int_eq(r.cfg.train.batch, 32);
    ck_assert_int_eq(r.cfg.train.epochs, 5);
    ck_assert_int_eq(r.cfg.train.max_steps, 1000);
    ck_assert(r.cfg.train.seed == UINT64_MAX);
    snprintf(want, sizeof want, "%s/ck/run.fxck", tmp_dir);
    ck_assert_str_eq(r.cfg.train.checkpoint, want);
    ck_assert_int_eq(r.cfg.train.checkpoint_every, 200);
    ck_assert_str_eq(r.cfg.train.predict, "logits");
    ck_assert_int_eq(r.cfg.train.log_every, 10);
    ck_assert_float_eq(fx_graph_loss_weight(r.g, 0), 0.5f);
    release(&r);
}
END_TEST

START_TEST(test_schedule_may_be_written_as_a_word)
{
    loaded r = load_ok(HEAD "layers: [{op: relu}]\ntrain: {schedule: cosine}\n");
    ck_assert_int_eq(r.cfg.train.schedule, FX_SCHEDULE_COSINE);
    release(&r);
}
END_TEST

START_TEST(test_key_without_value_keeps_the_default)
{
    loaded r = load_ok(HEAD "layers: [{op: relu}]\ntrain:\n  lr:\n  batch: ~\nblocks:\nlosses:\n");
    ck_assert_float_eq(r.cfg.train.lr, 1e-3f);
    ck_assert_int_eq(r.cfg.train.batch, 64);
    release(&r);
}
END_TEST

START_TEST(test_graph_null_reads_only_the_config)
{
    make_tmp_dir();
    const char *text = "input: {x: [1]}\nlayers: [{op: no_such_op}]\nplugins: [p.so]\n";
    const char *path = write_file("cfg.yaml", text, strlen(text));
    fx_context *ctx = fxtest_context();
    fx_config cfg;
    /* The plugin that defines no_such_op is not loaded yet: reading the
     * config alone must work so the caller can load it. */
    ck_assert_int_eq(fx_graph_load_yaml(ctx, path, NULL, &cfg), FX_OK);
    ck_assert_int_eq(cfg.n_plugins, 1);
    fx_context_destroy(ctx);
    remove_tmp_dir();
}
END_TEST

START_TEST(test_input_dtype_and_shape_forms)
{
    loaded r = load_ok("input:\n  a: {shape: [2, 3]}\n  b: {shape: [], dtype: float32}\n"
                       "  c: {shape: [5], dtype: int32}\n  d: []\n"
                       "layers: [{op: relu, in: a}]\n");
    ck_assert_int_eq(fx_graph_input_count(r.g), 4);
    ck_assert_int_eq(fx_graph_input_dtype(r.g, 0), FX_F32);
    ck_assert_int_eq(fx_graph_input_shape(r.g, 0).ndim, 2);
    ck_assert_int_eq(fx_graph_input_shape(r.g, 0).dim[1], 3);
    ck_assert_int_eq(fx_graph_input_dtype(r.g, 1), FX_F32);
    ck_assert_int_eq(fx_graph_input_dtype(r.g, 2), FX_I32);
    ck_assert_int_eq(fx_graph_input_dtype(r.g, 3), FX_I32);
    ck_assert_str_eq(fx_graph_input_name(r.g, 3), "d");
    release(&r);
}
END_TEST

START_TEST(test_loss_names_weights_and_default_predict)
{
    loaded r = load_ok(HEAD "layers:\n  - {name: feat, op: linear, out_features: 4}\n"
                            "  - {name: logits, op: linear, out_features: 3}\n"
                            "losses:\n  - {name: ce, op: softmax_cross_entropy, in: [logits, label], weight: 2}\n"
                            "  - {op: softmax_cross_entropy, in: [feat, label], label_smoothing: 0.1}\n");
    ck_assert_int_eq(fx_graph_loss_count(r.g), 2);
    ck_assert_str_eq(fx_graph_loss_name(r.g, 0), "ce");
    ck_assert_float_eq(fx_graph_loss_weight(r.g, 0), 2.0f);
    ck_assert_float_eq(fx_graph_loss_weight(r.g, 1), 1.0f);
    ck_assert_str_eq(fx_graph_loss_name(r.g, 1), "softmax_cross_entropy1");
    ck_assert_double_eq_tol(fx_node_attr_float(node(&r, "softmax_cross_entropy1"), "label_smoothing"), 0.1, 1e-9);
    ck_assert_str_eq(r.cfg.train.predict, "logits");
    release(&r);
}
END_TEST

START_TEST(test_init_groups_and_node_init_are_passed)
{
    loaded r = load_ok(HEAD "params: {init: {conv: he_normal, linear: xavier_uniform}}\n"
                            "layers: [{name: c, op: conv2d, out_channels: 2, kernel: 3, init: zeros},\n"
                            "         {name: f, op: linear, out_features: 2}]\n");
    ck_assert_int_eq(r.g->n_init_groups, 2);
    ck_assert_str_eq(r.g->init_groups[1].init, "xavier_uniform");
    ck_assert_str_eq(node(&r, "c")->init, "zeros");
    release(&r);
}
END_TEST

/* ---- blocks, substitution, sharing, anchors ----------------------------------------- */

#define CBE_BLOCK                                                                      \
    "blocks:\n"                                                                        \
    "  conv_bn_elu:\n"                                                                 \
    "    params: {ch: 32, k: 3}\n"                                                     \
    "    layers:\n"                                                                    \
    "      - {name: conv, op: conv2d, out_channels: '${ch}', kernel: '${k}', pad: 1}\n" \
    "      - {name: bn, op: batchnorm}\n"                                              \
    "      - {name: act, op: elu}\n"

START_TEST(test_block_expands_to_prefixed_layers_with_parameters)
{
    loaded r = load_ok(HEAD CBE_BLOCK "layers:\n"
                                      "  - {name: s1, use: conv_bn_elu, ch: 64}\n"
                                      "  - {name: s2, use: conv_bn_elu}\n"
                                      "  - {name: sum, op: add, in: [s2, s2.conv]}\n"
                                      "  - {name: again, op: relu, in: s1}\n");
    ck_assert_int_eq(fx_graph_node_count(r.g), 8);
    ck_assert_int_eq(fx_node_attr_int(node(&r, "s1.conv"), "out_channels"), 64);
    ck_assert_int_eq(fx_node_attr_int(node(&r, "s2.conv"), "out_channels"), 32); /* default */
    ck_assert_str_eq(input_of(&r, "s1.conv", 0), "image");
    ck_assert_str_eq(input_of(&r, "s1.bn", 0), "s1.conv");
    ck_assert_str_eq(input_of(&r, "s2.conv", 0), "s1.act"); /* `s1` = its last layer */
    ck_assert_str_eq(input_of(&r, "sum", 0), "s2.act");
    ck_assert_str_eq(input_of(&r, "sum", 1), "s2.conv");
    ck_assert_str_eq(input_of(&r, "again", 0), "s1.act");
    release(&r);
}
END_TEST

START_TEST(test_block_layers_see_inputs_and_splice_parameters_into_text)
{
    loaded r = load_ok(HEAD "blocks:\n"
                            "  res:\n"
                            "    params: [ch, mode]\n"
                            "    layers:\n"
                            "      - {name: c1, op: conv2d, out_channels: '${ch}', kernel: 3, padding: '${mode}'}\n"
                            "      - {name: 'c${ch}x', op: conv2d, out_channels: '${ch}', kernel: [3, '${ch}'], "
                            "padding: same}\n"
                            "      - {name: sum, op: add, in: ['c${ch}x', '${in}']}\n"
                            "      - name: after${ch}\n"      /* block style: no quotes needed */
                            "        op: conv2d\n"
                            "        in: ${in}\n"
                            "        out_channels: ${ch}\n"
                            "        kernel: ${ch}\n"
                            "layers:\n"
                            "  - {name: stem, op: conv2d, out_channels: 1, kernel: 1}\n"
                            "  - {name: r, use: res, ch: 1, mode: same}\n");
    ck_assert_str_eq(fx_node_attr_string(node(&r, "r.c1"), "padding"), "same");
    int64_t k[2] = {0, 0};
    ck_assert_int_eq(fx_node_attr_ints(node(&r, "r.c1x"), "kernel", k, 2), 2);
    ck_assert_int_eq(k[1], 1);
    ck_assert_str_eq(input_of(&r, "r.sum", 0), "r.c1x");
    ck_assert_str_eq(input_of(&r, "r.sum", 1), "stem");
    ck_assert_str_eq(input_of(&r, "r.after1", 0), "stem");
    ck_assert_int_eq(fx_node_attr_int(node(&r, "r.after1"), "out_channels"), 1);
    release(&r);
}
END_TEST

START_TEST(test_nested_blocks_expand_and_share_parameters)
{
    loaded r = load_ok(HEAD CBE_BLOCK "  stage:\n"
                                      "    params: {width: 8}\n"
                                      "    layers:\n"
                                      "      - {name: a, use: conv_bn_elu, ch: '${width}'}\n"
                                      "      - {name: b, use: conv_bn_elu, ch: '${width}'}\n"
                                      "layers:\n"
                                      "  - {name: one, use: stage, width: 4}\n"
                                      "  - {name: two, use: stage, width: 4, in: image, share: one}\n"
                                      "  - {name: solo, op: conv2d, out_channels: 4, kernel: 3, pad: 1, in: image, "
                                      "share: one.a.conv}\n");
    ck_assert_int_eq(fx_node_attr_int(node(&r, "one.b.conv"), "out_channels"), 4);
    ck_assert_str_eq(input_of(&r, "one.b.conv", 0), "one.a.act");
    ck_assert_str_eq(input_of(&r, "two.a.conv", 0), "image");
    ck_assert_int_eq(param_index(&r, "two.a.conv", 0), param_index(&r, "one.a.conv", 0));
    ck_assert_int_eq(param_index(&r, "two.b.conv", 0), param_index(&r, "one.b.conv", 0));
    ck_assert_int_eq(param_index(&r, "solo", 0), param_index(&r, "one.a.conv", 0));
    ck_assert_int_ne(param_index(&r, "one.b.conv", 0), param_index(&r, "one.a.conv", 0));
    release(&r);
}
END_TEST

START_TEST(test_anchors_and_merge_keys_reuse_layer_settings)
{
    loaded r = load_ok(HEAD "x-conv: &conv {op: conv2d, kernel: 3, pad: 1, out_channels: 2}\n"
                            "x-wide: &wide {out_channels: 16, stride: 2}\n"
                            "layers:\n"
                            "  - {<<: *conv, name: c1}\n"
                            "  - {<<: [*wide, *conv], name: c2}\n"
                            "  - <<: *conv\n"
                            "    name: c3\n"
                            "    out_channels: 5\n");
    ck_assert_int_eq(fx_node_attr_int(node(&r, "c1"), "out_channels"), 2);
    ck_assert_int_eq(fx_node_attr_int(node(&r, "c2"), "out_channels"), 16); /* earlier source wins */
    ck_assert_int_eq(fx_node_attr_int(node(&r, "c3"), "out_channels"), 5);  /* explicit key wins */
    ck_assert_str_eq(input_of(&r, "c3", 0), "c2");
    release(&r);
}
END_TEST

START_TEST(test_predict_and_loss_inputs_resolve_block_names)
{
    loaded r = load_ok(HEAD CBE_BLOCK "layers:\n  - {name: s1, use: conv_bn_elu, ch: 2}\n"
                                      "  - {name: logits, op: linear, out_features: 3}\n"
                                      "losses: [{op: softmax_cross_entropy, in: [logits, label]}]\n"
                                      "train: {predict: s1}\n");
    ck_assert_str_eq(r.cfg.train.predict, "s1.act");
    release(&r);
}
END_TEST

/* ---- YAML-level errors ------------------------------------------------------------- */

START_TEST(test_missing_file_names_the_errno_text)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = (fx_graph *)0x1;
    fx_config cfg;
    fx_status st = fx_graph_load_yaml(ctx, "/nonexistent/dir/net.yaml", &g, &cfg);
    ck_assert_int_eq(st, FX_ERR_IO);
    ck_assert_ptr_null(g);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "/nonexistent/dir/net.yaml"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), strerror(ENOENT)));
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_empty_and_comment_only_files_are_reported)
{
    EXPECT_FAIL("", FX_ERR_PARSE, "net.yaml", "empty");
    EXPECT_FAIL("# nothing here\n\n", FX_ERR_PARSE, "empty");
    EXPECT_FAIL("---\n", FX_ERR_PARSE, "empty");
}
END_TEST

START_TEST(test_top_level_that_is_not_a_mapping_is_reported)
{
    EXPECT_FAIL("- a\n- b\n", FX_ERR_PARSE, "net.yaml:1:1:", "must be a mapping", "a list");
    EXPECT_FAIL("just text\n", FX_ERR_PARSE, "net.yaml:1:1:", "must be a mapping", "'just text'");
}
END_TEST

START_TEST(test_malformed_yaml_reports_libyaml_problem_with_position)
{
    EXPECT_FAIL("input: {x: [1]}\nlayers:\n  - {name: c1, op: relu\n", FX_ERR_PARSE, "net.yaml:4:", "malformed YAML");
    EXPECT_FAIL("input: {x: [1]\nlayers: []\n", FX_ERR_PARSE, "net.yaml:2:", "malformed YAML");
    EXPECT_FAIL("input: 'unterminated\n", FX_ERR_PARSE, "net.yaml:", "malformed YAML", "quoted");
    EXPECT_FAIL("a: b: c\n", FX_ERR_PARSE, "net.yaml:1:5:", "malformed YAML");
}
END_TEST

START_TEST(test_tab_indentation_is_explained)
{
    EXPECT_FAIL("input:\n\tx: [1]\n", FX_ERR_PARSE, "net.yaml:2:1:", "tab");
}
END_TEST

START_TEST(test_binary_garbage_is_rejected_with_position)
{
    static const char garbage[] = "input: {x: [1]}\nla\xff\xfe\x00yers: \x01\x02\n";
    expect_fail(garbage, sizeof garbage - 1, FX_ERR_PARSE, "net.yaml:2:3:", "UTF-8", (const char *)NULL);
    static const char nul[] = "input:\x00 {x: [1]}\n";
    expect_fail(nul, sizeof nul - 1, FX_ERR_PARSE, "net.yaml:1:7:", (const char *)NULL);
    static const char bom16[] = "\xff\xfei\x00n\x00";
    expect_fail(bom16, sizeof bom16 - 1, FX_ERR_PARSE, "net.yaml:1:", (const char *)NULL);
}
END_TEST

START_TEST(test_alias_to_missing_anchor_and_self_alias_are_errors)
{
    EXPECT_FAIL(HEAD "layers: *nowhere\n", FX_ERR_PARSE, "net.yaml:3:9:", "'*nowhere'", "anchor");
    EXPECT_FAIL(HEAD "x-loop: &a [*a]\nlayers: [{op: relu}]\n", FX_ERR_PARSE, "net.yaml:3:13:", "'*a'");
    EXPECT_FAIL(HEAD "layers: [{<<: 5, op: relu}]\n", FX_ERR_PARSE, "net.yaml:3:15:", "'<<' merges");
}
END_TEST

START_TEST(test_duplicate_keys_and_second_document_are_errors)
{
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: 1, lr: 2}\n", FX_ERR_PARSE, "net.yaml:4:16:",
                "duplicate key 'lr'", "line 4, column 9");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\n---\nname: two\n", FX_ERR_PARSE, "net.yaml:4:1:", "second YAML document");
}
END_TEST

START_TEST(test_deep_nesting_and_alias_bombs_do_not_crash)
{
    /* 100k nested lists: rejected without recursion. */
    size_t n = 100000;
    char *text = malloc(2 * n + 32);
    ck_assert_ptr_nonnull(text);
    size_t len = (size_t)sprintf(text, "x-deep: ");
    memset(text + len, '[', n);
    len += n;
    memset(text + len, ']', n);
    len += n;
    text[len++] = '\n';
    expect_fail(text, len, FX_ERR_PARSE, "nested more than", (const char *)NULL);
    free(text);
    /* A "billion laughs" of aliases stays a small DAG; using it as a
     * layer list fails fast. */
    const char *bomb = "input: {x: [1]}\n"
                       "x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                       "x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                       "layers: [{op: relu, in: *h}]\n";
    /* (Layers may take many inputs now, FX_MAX_INPUTS: the first item,
     * itself a list, is what is refused.) */
    EXPECT_FAIL(bomb, FX_ERR_INVALID, "in: expected a value name, got a list");
}
END_TEST

START_TEST(test_every_truncation_of_a_valid_file_loads_or_fails_cleanly)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/yaml/two-branch.yaml", FX_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char text[16384];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    ck_assert_uint_gt(len, 100);
    fx_context *ctx = fxtest_context();
    int ok = 0, failed = 0;
    for (size_t cut = 0; cut <= len; cut += 7) {
        const char *p = write_file("net.yaml", text, cut);
        fx_graph *g = NULL;
        fx_config cfg;
        fx_status st = fx_graph_load_yaml(ctx, p, &g, &cfg);
        if (st == FX_OK) {
            ok++;
            fx_graph_destroy(g);
        } else {
            failed++;
            ck_assert_ptr_null(g);
            ck_assert_msg(strstr(fx_context_error(ctx), "net.yaml") != NULL, "cut %zu: %s", cut,
                          fx_context_error(ctx));
        }
    }
    ck_assert_int_gt(failed, 0);
    ck_assert_int_gt(ok + failed, 10);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_random_bytes_never_crash_the_loader)
{
    fx_context *ctx = fxtest_context();
    fx_rng rng;
    fx_rng_seed(&rng, 7);
    static const char alphabet[] = "{}[]:,-&*<>!|'\"#\n\t ab1.~$";
    char buf[256];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = (size_t)((uint32_t)fx_rng_next(&rng) % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            uint32_t r = (uint32_t)fx_rng_next(&rng);
            buf[i] = iter % 2 ? (char)(r & 0xff) : alphabet[r % (sizeof alphabet - 1)];
        }
        const char *p = write_file("net.yaml", buf, len);
        fx_graph *g = NULL;
        fx_config cfg;
        fx_status st = fx_graph_load_yaml(ctx, p, &g, &cfg);
        if (st == FX_OK)
            fx_graph_destroy(g);
        else
            ck_assert_msg(fx_context_error(ctx)[0] != '\0', "no message for status %d", st);
    }
    fx_context_destroy(ctx);
}
END_TEST

/* ---- schema errors ------------------------------------------------------------------ */

START_TEST(test_unknown_top_level_key_names_position_and_valid_keys)
{
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrian: {lr: 1}\n", FX_ERR_INVALID, "net.yaml:4:1:", "unknown key 'trian'",
                "did you mean 'train'?", "valid keys: name, task,", "x-");
}
END_TEST

START_TEST(test_unknown_keys_in_every_section_are_errors)
{
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: 1, batchsize: 3}\n", FX_ERR_INVALID, "net.yaml:4:16:",
                "unknown key 'batchsize' in train", "batch");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {colour: 3}\n", FX_ERR_INVALID, "net.yaml:4:8:", "'colour'",
                "channels");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {train: {idx: {images: a, lables: b}}}\n", FX_ERR_INVALID,
                "net.yaml:4:", "'lables'", "did you mean 'labels'?");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {schedule: {type: step, gama: 0.5}}\n", FX_ERR_INVALID,
                "'gama'", "gamma");
    EXPECT_FAIL(HEAD "params: {inits: {conv: zeros}}\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:3:10:",
                "'inits'");
    EXPECT_FAIL("input: {x: {shape: [1], type: int32}}\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:1:25:",
                "'type'");
    EXPECT_FAIL(HEAD "blocks: {b: {layer: []}}\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:3:14:", "'layer'",
                "layers");
}
END_TEST

START_TEST(test_unknown_op_attribute_is_reported_at_its_key)
{
    EXPECT_FAIL(HEAD "layers:\n  - {name: c1, op: conv2d, out_channels: 4, kernal: 3}\n", FX_ERR_INVALID,
                "net.yaml:4:45:", "'kernal'", "did you mean 'kernel'?", "out_channels", "share");
}
END_TEST

START_TEST(test_wrong_types_say_what_was_expected)
{
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain:\n  lr: abc\n", FX_ERR_INVALID, "net.yaml:5:7:",
                "train.lr: expected a number, got 'abc'");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {batch: 6.5}\n", FX_ERR_INVALID, "net.yaml:4:16:",
                "expected an integer, got '6.5'");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: [1, 2]}\n", FX_ERR_INVALID, "expected a number, got a list");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: 5\n", FX_ERR_INVALID, "net.yaml:4:8:",
                "train: expected a mapping", "'5'");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {flip: maybe}\n", FX_ERR_INVALID, "expected true or false");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {crop: centre}\n", FX_ERR_INVALID, "did you mean 'center'?");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntask: trian\n", FX_ERR_INVALID, "net.yaml:4:7:", "train, eval, infer");
    EXPECT_FAIL(HEAD "layers: {a: 1}\n", FX_ERR_INVALID, "net.yaml:3:9:", "layers: expected a list");
    EXPECT_FAIL(HEAD "layers: [{op: relu, name: [a]}]\n", FX_ERR_INVALID, "name: expected a name, got a list");
    EXPECT_FAIL(HEAD "layers: [{op: [relu]}]\n", FX_ERR_INVALID, "net.yaml:3:15:", "op: expected a single value, got a list");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ninput: 3\n", FX_ERR_PARSE, "duplicate key 'input'");
    EXPECT_FAIL("input: [1, 2]\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:1:8:", "input: expected a mapping");
    EXPECT_FAIL("input: {x: 5}\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:1:12:", "per-example shape");
    EXPECT_FAIL(HEAD "layers: [{op: conv2d, out_channels: abc, kernel: 3}]\n", FX_ERR_INVALID, "net.yaml:3:37:",
                "expects an integer");
    EXPECT_FAIL(HEAD "layers: [{op: relu, in: {a: 1}}]\n", FX_ERR_INVALID, "net.yaml:3:25:", "got a mapping");
    EXPECT_FAIL(HEAD "layers: [{op: conv2d, out_channels: 2, kernel: {a: 1}}]\n", FX_ERR_INVALID, "kernel",
                "got a mapping");
}
END_TEST

START_TEST(test_out_of_range_and_huge_numbers_are_rejected)
{
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {batch: 99999999999999999999999}\n", FX_ERR_INVALID,
                "net.yaml:4:16:", "out of range");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: 1e999}\n", FX_ERR_INVALID, "out of range");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: .inf}\n", FX_ERR_INVALID, "expected a number");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {lr: 0}\n", FX_ERR_INVALID, "greater than 0");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {beta2: 1}\n", FX_ERR_INVALID, "below 1");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {batch: 0}\n", FX_ERR_INVALID, "out of range", "from 1 to");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {seed: -1}\n", FX_ERR_INVALID, "non-negative");
    EXPECT_FAIL("input: {x: [99999999999999999999]}\nlayers: [{op: relu}]\n", FX_ERR_INVALID, "net.yaml:1:13:",
                "out of range");
    EXPECT_FAIL(HEAD "layers: [{op: linear, out_features: 99999999999999999999999}]\n", FX_ERR_INVALID,
                "net.yaml:3:37:");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {channels: 2}\n", FX_ERR_INVALID, "1 (grey) or 3 (RGB)");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {resize: 64, size: 96}\n", FX_ERR_INVALID, "larger than data.resize");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {channels: 3, normalize: {mean: [1, 2], std: [1, 2]}}\n",
                FX_ERR_INVALID, "2 values for 3 channel");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {normalize: {mean: [0.5], std: [0]}}\n", FX_ERR_INVALID,
                "greater than 0");
}
END_TEST

START_TEST(test_missing_required_keys_are_named)
{
    EXPECT_FAIL("layers: [{op: relu}]\n", FX_ERR_INVALID, "missing key 'input'");
    EXPECT_FAIL(HEAD "train: {}\n", FX_ERR_INVALID, "missing key 'layers'");
    EXPECT_FAIL(HEAD "layers: []\n", FX_ERR_INVALID, "net.yaml:3:9:", "empty");
    EXPECT_FAIL(HEAD "layers: [{name: a}]\n", FX_ERR_INVALID, "net.yaml:3:10:", "missing key 'op'");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\nlosses: [{in: relu0}]\n", FX_ERR_INVALID, "net.yaml:4:10:",
                "missing key 'op'");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {train: {limit: 5}}\n", FX_ERR_INVALID, "no data source");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ndata: {train: {idx: {images: a}}}\n", FX_ERR_INVALID,
                "missing key 'labels'");
    EXPECT_FAIL(HEAD "layers: [{op: conv2d, kernel: 3}]\n", FX_ERR_INVALID, "net.yaml:3:10:", "out_channels");
}
END_TEST

START_TEST(test_duplicate_and_malformed_names_are_errors)
{
    EXPECT_FAIL(HEAD "layers:\n  - {name: c1, op: relu}\n  - {name: c1, op: relu}\n", FX_ERR_INVALID,
                "net.yaml:5:12:", "duplicate name 'c1'", "line 4, column 12");
    EXPECT_FAIL(HEAD "layers: [{name: image, op: relu}]\n", FX_ERR_INVALID, "duplicate name 'image'");
    EXPECT_FAIL(HEAD "layers: [{name: a.b, op: relu}]\n", FX_ERR_INVALID, "net.yaml:3:17:", "'a.b'", "letters");
}
END_TEST

START_TEST(test_unknown_input_value_lists_nearest_names)
{
    EXPECT_FAIL(HEAD "layers:\n  - {name: conv1, op: relu}\n  - {name: c2, op: relu, in: conv2}\n", FX_ERR_INVALID,
                "net.yaml:5:30:", "unknown value 'conv2'", "did you mean 'conv1'?", "image, label, conv1");
    EXPECT_FAIL(HEAD "layers:\n  - {name: a, op: relu, in: b}\n  - {name: b, op: relu}\n", FX_ERR_INVALID,
                "unknown value 'b'", "above");
    EXPECT_FAIL(HEAD "layers: [{op: relu}]\ntrain: {predict: logit}\n", FX_ERR_INVALID, "net.yaml:4:18:",
                "train.predict", "'logit'");
}
END_TEST

START_TEST(test_unknown_op_lists_registered_ops)
{
    EXPECT_FAIL(HEAD "layers: [{op: conv3d}]\n", FX_ERR_INVALID, "net.yaml:3:15:", "unknown op 'conv3d'",
                "did you mean 'conv2d'?", "known ops:", "softmax_cross_entropy");
}
END_TEST

START_TEST(test_share_must_name_an_earlier_layer_of_the_same_op)
{
    EXPECT_FAIL(HEAD "layers: [{op: conv2d, out_channels: 2, kernel: 3, share: nope}]\n", FX_ERR_INVALID,
                "share: 'nope' is not a layer");
    EXPECT_FAIL(HEAD "layers:\n  - {name: a, op: linear, out_features: 2}\n"
                     "  - {name: b, op: conv2d, out_channels: 2, kernel: 1, in: image, share: a}\n",
                FX_ERR_INVALID, "net.yaml:5:5:", "another op");
}
END_TEST

START_TEST(test_data_inputs_must_be_graph_inputs)
{
    EXPECT_FAIL("input: {x: [1, 8, 8]}\nlayers: [{op: relu}]\ndata: {train: {imagefolder: f}}\n", FX_ERR_INVALID,
                "net.yaml:3:7:", "data.image: 'image' is not a graph input", "inputs: x");
    EXPECT_FAIL(HEAD "layers: [{op: linear, out_features: 2}]\n"
                     "losses: [{op: softmax_cross_entropy, in: [linear0, label]}]\n"
                     "data: {train: {imagefolder: f}, label: lbl}\n",
                FX_ERR_INVALID, "net.yaml:5:40:", "data.label: 'lbl'");
}
END_TEST

START_TEST(test_shape_errors_from_the_graph_carry_yaml_positions)
{
    EXPECT_FAIL(HEAD "layers:\n  - {name: fc, op: linear, out_features: 4}\n"
                     "  - {name: c, op: conv2d, out_channels: 2, kernel: 3}\n",
                FX_ERR_SHAPE, "net.yaml:5:5:", "'c'");
}
END_TEST

/* ---- block errors -------------------------------------------------------------------- */

START_TEST(test_unknown_block_is_reported_with_defined_blocks)
{
    EXPECT_FAIL(HEAD CBE_BLOCK "layers: [{use: conv_bn_elo}]\n", FX_ERR_INVALID, "net.yaml:10:16:",
                "unknown block 'conv_bn_elo'", "did you mean 'conv_bn_elu'?");
    EXPECT_FAIL(HEAD "layers: [{use: foo}]\n", FX_ERR_INVALID, "unknown block 'foo'", "blocks:");
    EXPECT_FAIL(HEAD "layers: [{use: foo, op: relu}]\n", FX_ERR_INVALID, "both 'op' and 'use'");
}
END_TEST

START_TEST(test_missing_and_unknown_block_parameters_are_reported)
{
    EXPECT_FAIL(HEAD "blocks:\n  b:\n    params: [ch]\n    layers: [{op: conv2d, out_channels: '${ch}', kernel: 1}]\n"
                     "layers: [{name: s, use: b}]\n",
                FX_ERR_INVALID, "net.yaml:7:10:", "missing block parameter 'ch'");
    EXPECT_FAIL(HEAD CBE_BLOCK "layers: [{use: conv_bn_elu, chh: 3}]\n", FX_ERR_INVALID, "net.yaml:10:29:",
                "unknown key 'chh'", "did you mean 'ch'?", "name, use, in, share, ch, k");
    EXPECT_FAIL(HEAD "blocks:\n  b:\n    layers: [{op: conv2d, out_channels: '${width}', kernel: 1}]\n"
                     "layers: [{name: s, use: b}]\n",
                FX_ERR_INVALID, "net.yaml:6:10:", "in 's' (use: b)", "net.yaml:5:41:", "'${width}'");
    EXPECT_FAIL(HEAD "blocks:\n  b:\n    params: {name: 3}\n    layers: [{op: relu}]\nlayers: [{op: relu}]\n",
                FX_ERR_INVALID, "net.yaml:5:14:", "cannot be a block parameter");
    EXPECT_FAIL(HEAD "layers: [{op: conv2d, out_channels: '${ch}', kernel: 1}]\n", FX_ERR_INVALID,
                "net.yaml:3:37:", "replaced only inside a block");
    EXPECT_FAIL(HEAD "blocks:\n  b:\n    params: {k: 3}\n    layers: [{op: relu, name: 'x${k'}]\n"
                     "layers: [{use: b}]\n",
                FX_ERR_INVALID, "without a closing");
}
END_TEST

START_TEST(test_errors_inside_blocks_name_the_use_site_and_the_block_layer)
{
    EXPECT_FAIL(HEAD CBE_BLOCK "layers:\n  - {op: relu}\n  - {name: s1, use: conv_bn_elu, ch: abc}\n",
                FX_ERR_INVALID, "net.yaml:12:5: in 's1' (use: conv_bn_elu)", "net.yaml:12:38:",
                "expects an integer");
}
END_TEST

START_TEST(test_recursive_blocks_are_detected)
{
    EXPECT_FAIL(HEAD "blocks:\n  a: {layers: [{use: b}]}\n  b: {layers: [{use: a}]}\nlayers: [{use: a}]\n",
                FX_ERR_INVALID, "block 'a' uses itself (a -> b -> a)");
    EXPECT_FAIL(HEAD "blocks:\n  a: {layers: [{op: relu}, {use: a}]}\nlayers: [{use: a}]\n", FX_ERR_INVALID,
                "net.yaml:4:34:", "uses itself (a -> a)");
}
END_TEST

START_TEST(test_deeply_nested_blocks_are_capped)
{
    /* b0 uses b1 uses b2 ... uses b19: no cycle, but too deep. */
    char text[4096];
    size_t len = (size_t)snprintf(text, sizeof text, HEAD "blocks:\n");
    for (int i = 0; i < 19; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "  b%d: {layers: [{name: x, use: b%d}]}\n", i, i + 1);
    len += (size_t)snprintf(text + len, sizeof text - len, "  b19: {layers: [{op: relu}]}\nlayers: [{use: b0}]\n");
    expect_fail(text, len, FX_ERR_INVALID, "nested more than 16 deep", (const char *)NULL);
}
END_TEST

START_TEST(test_exponential_block_expansion_is_capped)
{
    EXPECT_FAIL(HEAD "blocks:\n"
                     "  b0: {layers: [{op: relu}]}\n"
                     "  b1: {layers: [{use: b0}, {use: b0}, {use: b0}, {use: b0}, {use: b0}, {use: b0}, {use: b0}, "
                     "{use: b0}, {use: b0}, {use: b0}]}\n"
                     "  b2: {layers: [{use: b1}, {use: b1}, {use: b1}, {use: b1}, {use: b1}, {use: b1}, {use: b1}, "
                     "{use: b1}, {use: b1}, {use: b1}]}\n"
                     "  b3: {layers: [{use: b2}, {use: b2}, {use: b2}, {use: b2}, {use: b2}, {use: b2}, {use: b2}, "
                     "{use: b2}, {use: b2}, {use: b2}]}\n"
                     "  b4: {layers: [{use: b3}, {use: b3}, {use: b3}, {use: b3}, {use: b3}, {use: b3}, {use: b3}, "
                     "{use: b3}, {use: b3}, {use: b3}]}\n"
                     "  b5: {layers: [{use: b4}, {use: b4}, {use: b4}, {use: b4}, {use: b4}, {use: b4}, {use: b4}, "
                     "{use: b4}, {use: b4}, {use: b4}]}\n"
                     "layers: [{use: b5}]\n",
                FX_ERR_INVALID, "more than 10000 nodes");
}
END_TEST

START_TEST(test_share_between_instances_requires_the_same_block)
{
    EXPECT_FAIL(HEAD CBE_BLOCK "  other: {layers: [{name: conv, op: conv2d, out_channels: 2, kernel: 1}]}\n"
                               "layers:\n  - {name: a, use: other}\n  - {name: b, use: conv_bn_elu, share: a}\n",
                FX_ERR_INVALID, "share: 'a' is not an instance of block 'conv_bn_elu'");
    EXPECT_FAIL(HEAD CBE_BLOCK "layers:\n  - {name: a, use: conv_bn_elu}\n"
                               "  - {name: c, op: conv2d, out_channels: 2, kernel: 1, share: a}\n",
                FX_ERR_INVALID, "block instance");
}
END_TEST

static void setup(void)
{
    make_tmp_dir();
}

static void teardown(void)
{
    remove_tmp_dir();
}

static Suite *yaml_suite(void)
{
    Suite *s = suite_create("yaml_loader");
    TCase *ok = tcase_create("schema");
    tcase_add_checked_fixture(ok, setup, teardown);
    tcase_add_test(ok, test_config_default_matches_documented_values);
    tcase_add_test(ok, test_minimal_graph_loads_with_defaults_and_in_chains_layers);
    tcase_add_test(ok, test_fashion_mnist_config_loads_with_all_sections);
    tcase_add_test(ok, test_fixture_with_blocks_and_shared_branches_loads);
    tcase_add_test(ok, test_all_train_and_data_keys_are_read);
    tcase_add_test(ok, test_schedule_may_be_written_as_a_word);
    tcase_add_test(ok, test_key_without_value_keeps_the_default);
    tcase_add_test(ok, test_input_dtype_and_shape_forms);
    tcase_add_test(ok, test_loss_names_weights_and_default_predict);
    tcase_add_test(ok, test_init_groups_and_node_init_are_passed);
    tcase_add_test(ok, test_block_expands_to_prefixed_layers_with_parameters);
    tcase_add_test(ok, test_block_layers_see_inputs_and_splice_parameters_into_text);
    tcase_add_test(ok, test_nested_blocks_expand_and_share_parameters);
    tcase_add_test(ok, test_anchors_and_merge_keys_reuse_layer_settings);
    tcase_add_test(ok, test_predict_and_loss_inputs_resolve_block_names);
    suite_add_tcase(s, ok);

    TCase *cfg_only = tcase_create("config_only");
    tcase_add_test(cfg_only, test_graph_null_reads_only_the_config);
    suite_add_tcase(s, cfg_only);

    TCase *yaml = tcase_create("yaml_errors");
    tcase_add_checked_fixture(yaml, setup, teardown);
    tcase_add_test(yaml, test_missing_file_names_the_errno_text);
    tcase_add_test(yaml, test_empty_and_comment_only_files_are_reported);
    tcase_add_test(yaml, test_top_level_that_is_not_a_mapping_is_reported);
    tcase_add_test(yaml, test_malformed_yaml_reports_libyaml_problem_with_position);
    tcase_add_test(yaml, test_tab_indentation_is_explained);
    tcase_add_test(yaml, test_binary_garbage_is_rejected_with_position);
    tcase_add_test(yaml, test_alias_to_missing_anchor_and_self_alias_are_errors);
    tcase_add_test(yaml, test_duplicate_keys_and_second_document_are_errors);
    tcase_add_test(yaml, test_deep_nesting_and_alias_bombs_do_not_crash);
    tcase_add_test(yaml, test_every_truncation_of_a_valid_file_loads_or_fails_cleanly);
    tcase_add_test(yaml, test_random_bytes_never_crash_the_loader);
    suite_add_tcase(s, yaml);

    TCase *schema = tcase_create("schema_errors");
    tcase_add_checked_fixture(schema, setup, teardown);
    tcase_add_test(schema, test_unknown_top_level_key_names_position_and_valid_keys);
    tcase_add_test(schema, test_unknown_keys_in_every_section_are_errors);
    tcase_add_test(schema, test_unknown_op_attribute_is_reported_at_its_key);
    tcase_add_test(schema, test_wrong_types_say_what_was_expected);
    tcase_add_test(schema, test_out_of_range_and_huge_numbers_are_rejected);
    tcase_add_test(schema, test_missing_required_keys_are_named);
    tcase_add_test(schema, test_duplicate_and_malformed_names_are_errors);
    tcase_add_test(schema, test_unknown_input_value_lists_nearest_names);
    tcase_add_test(schema, test_unknown_op_lists_registered_ops);
    tcase_add_test(schema, test_share_must_name_an_earlier_layer_of_the_same_op);
    tcase_add_test(schema, test_data_inputs_must_be_graph_inputs);
    tcase_add_test(schema, test_shape_errors_from_the_graph_carry_yaml_positions);
    suite_add_tcase(s, schema);

    TCase *blocks = tcase_create("block_errors");
    tcase_add_checked_fixture(blocks, setup, teardown);
    tcase_add_test(blocks, test_unknown_block_is_reported_with_defined_blocks);
    tcase_add_test(blocks, test_missing_and_unknown_block_parameters_are_reported);
    tcase_add_test(blocks, test_errors_inside_blocks_name_the_use_site_and_the_block_layer);
    tcase_add_test(blocks, test_recursive_blocks_are_detected);
    tcase_add_test(blocks, test_deeply_nested_blocks_are_capped);
    tcase_add_test(blocks, test_exponential_block_expansion_is_capped);
    tcase_add_test(blocks, test_share_between_instances_requires_the_same_block);
    suite_add_tcase(s, blocks);
    return s;
}

int main(void)
{
    return fxtest_run_suite(yaml_suite());
}
