/* tests/test_plugin_fxrun.c - plugins as a fxrun user meets them: --plugin
 * (by path and by name through FX_PLUGIN_PATH), a graph file's `plugins:`
 * (relative to the file, or a bare name), `fxrun plugins`, training a
 * graph that uses the PReLU plugin's op and one on the ref plugin's
 * backend, configs/fashion-mnist-prelu.yaml, --plugin-override, and the
 * refusals reaching the user as one clear message and a non-zero exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fxtest.h"

static char out[65536];

static int fxrun(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", fxtest_fxrun(), args);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc < 128, "fxrun %s crashed (status %d):\n%s", args, rc, out);
    return rc;
}

static void expect_ok(const char *args, const char *needle)
{
    int rc = fxrun(args);
    ck_assert_msg(rc == 0, "fxrun %s failed (%d):\n%s", args, rc, out);
    ck_assert_msg(!needle || strstr(out, needle), "fxrun %s: output lacks '%s':\n%s", args, needle, out);
}

static void expect_fail(const char *args, const char *needle)
{
    int rc = fxrun(args);
    ck_assert_msg(rc != 0, "fxrun %s: expected failure, got success:\n%s", args, out);
    ck_assert_msg(strstr(out, needle) != NULL, "fxrun %s: output lacks '%s':\n%s", args, needle, out);
}

#define PRELU FX_PLUGIN_BUILD_DIR "/prelu.so"
#define REF FX_PLUGIN_BUILD_DIR "/ref.so"
#define FASHION "/usr/share/datasets/fashion-mnist/"

/* A small MLP on the first 256 Fashion-MNIST images: `%s` is the plugin
 * line, `%s` the activation op. */
static const char *mlp_yaml =
    "name: tiny-mlp\n"
    "%s"
    "input: {image: [1, 28, 28], label: []}\n"
    "layers:\n"
    "  - {name: f, op: flatten, in: image}\n"
    "  - {name: h, op: linear, out_features: 32}\n"
    "  - {name: a, op: %s}\n"
    "  - {name: logits, op: linear, out_features: 10}\n"
    "losses:\n"
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
    "data:\n"
    "  train: {idx: {images: " FASHION "train-images-idx3-ubyte.gz, labels: " FASHION
    "train-labels-idx1-ubyte.gz}, limit: 256}\n"
    "  test: {idx: {images: " FASHION "t10k-images-idx3-ubyte.gz, labels: " FASHION
    "t10k-labels-idx1-ubyte.gz}, limit: 128}\n"
    "  channels: 1\n"
    "train: {optimizer: adam, lr: 1.0e-3, batch: 32, epochs: 1, predict: logits}\n";

static char *write_mlp(const char *dir, const char *file, const char *plugins_line, const char *act)
{
    static char path[1024];
    char text[4096];
    snprintf(text, sizeof text, mlp_yaml, plugins_line, act);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    fxtest_write_file(path, text);
    return path;
}

START_TEST(test_fxrun_plugins_lists_what_each_plugin_registers)
{
    unsetenv("FX_PLUGIN_PATH");
    expect_ok("plugins", "no plugins loaded");
    expect_ok("plugins --plugin " PRELU " --plugin " REF, "plugin prelu 1.0.0");
    const char *words[] = { "ops:      prelu", "prelu@cpu", "plugin ref 1.0.0", "relu@ref", "backends: ref",
                            "    ref ", "[plugin ref]", "    cpu " };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        ck_assert_msg(strstr(out, words[i]) != NULL, "fxrun plugins lacks '%s':\n%s", words[i], out);
    expect_ok("ops --plugin " PRELU, "prelu  (1 input)");
    expect_ok("devices --plugin " REF, "[plugin ref]");
    expect_ok("--help", "--plugin NAME|PATH");
}
END_TEST

START_TEST(test_fxrun_trains_a_graph_using_the_prelu_plugin)
{
    char *dir = fxtest_tempdir();
    char line[1200], args[2048];
    /* plugins: with an absolute path */
    snprintf(line, sizeof line, "plugins: [%s]\n", PRELU);
    const char *path = write_mlp(dir, "abs.yaml", line, "prelu");
    snprintf(args, sizeof args, "train %s --steps 3 --checkpoint %s/abs.fxck", path, dir);
    expect_ok(args, "done: 3 steps");
    /* ... relative to the graph file, in a subfolder */
    char cmd[3072];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/sub && cp %s %s/sub/act.so", dir, PRELU, dir);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    path = write_mlp(dir, "rel.yaml", "plugins: [sub/act.so]\n", "prelu");
    snprintf(args, sizeof args, "train %s --steps 2 --checkpoint %s/rel.fxck", path, dir);
    expect_ok(args, "done: 2 steps");
    /* ... a bare name: searched in FX_PLUGIN_PATH (then next to fxrun,
     * where there is no myact.so) */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/extra && cp %s %s/extra/libmyact.so", dir, PRELU, dir);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    path = write_mlp(dir, "name.yaml", "plugins: myact\n", "prelu");
    snprintf(args, sizeof args, "plugins %s", path);
    unsetenv("FX_PLUGIN_PATH");
    expect_fail(args, "plugin 'myact' not found");
    ck_assert_msg(strstr(out, "name.yaml: plugins[0]") != NULL, "no file in the message:\n%s", out);
    char extra[1200];
    snprintf(extra, sizeof extra, "%s/extra", dir);
    setenv("FX_PLUGIN_PATH", extra, 1);
    expect_ok(args, "libmyact.so");
    unsetenv("FX_PLUGIN_PATH");
    /* ... and given on the command line instead of in the file */
    path = write_mlp(dir, "cli.yaml", "", "prelu");
    snprintf(args, sizeof args, "train %s --plugin %s --steps 1 --checkpoint %s/cli.fxck", path, PRELU, dir);
    expect_ok(args, "done: 1 steps");
    snprintf(args, sizeof args, "train %s --steps 1", path);
    expect_fail(args, "unknown op 'prelu'");
    /* a plugins: entry that does not exist, with a path */
    path = write_mlp(dir, "missing.yaml", "plugins: [nowhere/act.so]\n", "prelu");
    snprintf(args, sizeof args, "train %s --steps 1", path);
    expect_fail(args, "does not exist (a path is relative to the graph file's folder");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_fxrun_trains_on_the_ref_plugin_backend)
{
    char *dir = fxtest_tempdir();
    char args[2048];
    const char *path = write_mlp(dir, "ref.yaml", "", "relu");
    snprintf(args, sizeof args, "train %s --plugin %s --backend ref --steps 3 --checkpoint %s/ref.fxck", path, REF,
             dir);
    expect_ok(args, "done: 3 steps");
    /* The backend exists only with the plugin. */
    snprintf(args, sizeof args, "train %s --backend ref --steps 1", path);
    expect_fail(args, "unknown backend 'ref' (available: cpu)");
    /* An op without a ref kernel names the backend. */
    path = write_mlp(dir, "prelu-on-ref.yaml", "plugins: [" PRELU "]\n", "prelu");
    snprintf(args, sizeof args, "train %s --plugin %s --backend ref --steps 1", path, REF);
    expect_fail(args, "no kernel for backend 'ref'");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_fashion_mnist_prelu_config_finds_its_plugin_next_to_fxrun)
{
    unsetenv("FX_PLUGIN_PATH");
    /* fxrun lives in the build folder; the plugin in build/plugins/. */
    expect_ok("plugins " FX_SOURCE_DIR "/configs/fashion-mnist-prelu.yaml", "plugin prelu");
    /* The whole graph builds and steps (random data: no data set read). */
    expect_ok("bench " FX_SOURCE_DIR "/configs/fashion-mnist-prelu.yaml --steps 2 --batch 4", "r3");
}
END_TEST

START_TEST(test_fxrun_refuses_bad_plugins_with_one_message)
{
    char *dir = fxtest_tempdir();
    char path[1024], args[2048];
    snprintf(path, sizeof path, "%s/readme.so", dir);
    fxtest_write_file(path, "# not a library\n");
    snprintf(args, sizeof args, "plugins --plugin %s", path);
    expect_fail(args, "is not a shared object");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/wrong_abi.so", "rebuild the plugin");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/no_init.so", "fx_plugin_init");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/init_fails.so", "frobnicator");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/dup_op.so", "op 'relu' is already registered");
    expect_fail("plugins --plugin", "--plugin needs a value");
    expect_fail("plugins --plugin no-such-plugin-anywhere", "plugin 'no-such-plugin-anywhere' not found");
    /* An override needs --plugin-override. */
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/override_relu.so", "--plugin-override");
    expect_ok("plugins --plugin-override --plugin " FX_TEST_PLUGIN_DIR "/override_relu.so", "replaces: relu");
    /* The same plugin twice: one note, no error. */
    expect_ok("plugins --plugin " PRELU " --plugin " PRELU, "already loaded");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* Plugin files that once crashed fxrun (issue 10): an invalid manifest
 * name was formatted after the plugin was unloaded; a truncated file made
 * dlopen touch pages past its end (SIGBUS); a FIFO hung the open. */
START_TEST(test_fxrun_refuses_damaged_plugins_without_crashing)
{
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/bad_name_spaces.so", "manifest name 'has spaces'");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/bad_name_long.so", "manifest name 'a123456789");
    expect_fail("plugins --plugin " FX_TEST_PLUGIN_DIR "/bad_name_null.so", "manifest name '(null)'");
    char *dir = fxtest_tempdir();
    char path[1024], args[2048], cmd[2400];
    snprintf(path, sizeof path, "%s/cut.so", dir);
    snprintf(cmd, sizeof cmd, "head -c 3000 %s > %s", PRELU, path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(args, sizeof args, "plugins --plugin %s", path);
    expect_fail(args, "is truncated or damaged");
    /* The ELF magic followed by garbage: said as such, not "No such file". */
    snprintf(path, sizeof path, "%s/garbage.so", dir);
    fxtest_write_file(path, "\177ELF\002\001\001 this is not really an ELF file, only its first four bytes are");
    snprintf(args, sizeof args, "plugins --plugin %s", path);
    expect_fail(args, "garbage.so");
    ck_assert_msg(strstr(out, "No such file") == NULL, "misleading message:\n%s", out);
    snprintf(path, sizeof path, "%s/pipe.so", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(args, sizeof args, "plugins --plugin %s", path);
    snprintf(cmd, sizeof cmd, "timeout -s KILL 20 %s %s", fxtest_fxrun(), args);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 1 && strstr(out, "FIFO"), "a FIFO plugin (status %d):\n%s", rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *plugin_fxrun_suite(void)
{
    Suite *s = suite_create("plugin_fxrun");
    TCase *tc = tcase_create("fxrun");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fxrun_plugins_lists_what_each_plugin_registers);
    tcase_add_test(tc, test_fxrun_trains_a_graph_using_the_prelu_plugin);
    tcase_add_test(tc, test_fxrun_trains_on_the_ref_plugin_backend);
    tcase_add_test(tc, test_fashion_mnist_prelu_config_finds_its_plugin_next_to_fxrun);
    tcase_add_test(tc, test_fxrun_refuses_bad_plugins_with_one_message);
    tcase_add_test(tc, test_fxrun_refuses_damaged_plugins_without_crashing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(plugin_fxrun_suite()); }
