/* tests/test_plugin_opencl.c - OpenCL kernels from plugins: the PReLU
 * plugin's "opencl" kernels against its CPU kernels through the parity
 * harness of the built-in ops (tests/opencl_parity.h), its program built
 * once per backend and kept in the disk cache of the built-in programs
 * (loaded by the next backend, rebuilt when the entry is truncated), a
 * plugin program that does not compile (the build log reaches the user,
 * nothing is cached), and the calls refused on a non-OpenCL backend.
 * Without OpenCL in the build or a device, the parity tests print SKIP
 * and pass; the refusals are checked either way. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx/plugin.h"
#include "opencl_parity.h"

typedef struct loaded {
    fx_context *ctx;
    fx_plugin_host *host;
} loaded;

static loaded start_with_prelu(void)
{
    loaded l;
    l.ctx = fxtest_context();
    ck_assert_int_eq(fx_plugin_host_create(l.ctx, &l.host), FX_OK);
    fx_status st = fx_plugin_load(l.host, FX_PLUGIN_BUILD_DIR "/prelu.so", 0);
    ck_assert_msg(st == FX_OK, "%s", fx_context_error(l.ctx));
    return l;
}

static void finish(loaded *l, fx_backend *be)
{
    if (be)
        be->ops->destroy(be);
    fx_context_destroy(l->ctx);
    fx_plugin_host_destroy(l->host);
}

static int plugin_has_opencl_kernels(loaded *l)
{
    if (fx_registry_find_kernel(fx_context_registry(l->ctx), "prelu", "opencl", NULL, NULL))
        return 1;
    printf("SKIP: the prelu plugin was built without OpenCL kernels\n");
    return 0;
}

START_TEST(test_prelu_plugin_opencl_kernels_match_its_cpu_kernels)
{
    loaded l = start_with_prelu();
    fx_backend *be = plugin_has_opencl_kernels(&l) ? ocltest_backend(l.ctx) : NULL;
    if (be) {
        const struct {
            const char *attrs;
            fx_shape shape;
        } cases[] = {
            { NULL, fx_shape_4d(3, 5, 7, 6) },
            { "shared=true", fx_shape_4d(2, 3, 4, 4) },
            { NULL, fx_shape_2d(9, 70) },    /* more channels than a work-group */
            { NULL, fx_shape_4d(1, 1, 1, 1) },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            ocltest_case c;
            memset(&c, 0, sizeof c);
            c.op = "prelu";
            c.attrs = cases[i].attrs;
            c.n_in = 1;
            c.in[0].name = "x";
            c.in[0].shape = cases[i].shape;
            c.in[0].dtype = FX_F32;
            c.rtol = 1e-5;
            c.atol = 1e-6;
            ocltest_parity(l.ctx, be, &c);
        }
    }
    finish(&l, be);
}
END_TEST

START_TEST(test_plugin_opencl_program_is_built_once_per_backend)
{
    loaded l = start_with_prelu();
    fx_backend *be = plugin_has_opencl_kernels(&l) ? ocltest_backend(l.ctx) : NULL;
    if (be) {
        ocltest_case c;
        memset(&c, 0, sizeof c);
        c.op = "prelu";
        c.n_in = 1;
        c.in[0].name = "x";
        c.in[0].shape = fx_shape_4d(2, 3, 4, 4);
        c.in[0].dtype = FX_F32;
        ocltest_result r;
        ocltest_run(l.ctx, &c, be, &r);
        ocltest_free(&r);
        int built = fx_opencl_programs_built(be), loaded_from_disk = fx_opencl_programs_loaded(be);
        ocltest_run(l.ctx, &c, be, &r);
        ocltest_free(&r);
        ck_assert_int_eq(fx_opencl_programs_built(be), built);
        ck_assert_int_eq(fx_opencl_programs_loaded(be), loaded_from_disk);
    }
    finish(&l, be);
}
END_TEST

static const char *const broken_kernels[] = { "broken", NULL };
static const fx_opencl_program broken_program = {
    "test_broken.cl", "__kernel void broken(__global float *x) { x[0] = undeclared_name; }", NULL, broken_kernels
};
static const char *const fine_kernels[] = { "fine", NULL };
static const fx_opencl_program fine_program = {
    "test_fine.cl", "__kernel void fine(__global float *x) { x[get_global_id(0)] = OFFSET; }", "-DOFFSET=2.0f",
    fine_kernels
};

START_TEST(test_plugin_opencl_program_errors_carry_the_build_log)
{
    loaded l = start_with_prelu();
    fx_backend *be = ocltest_backend(l.ctx);
    if (be) {
        void *k = NULL;
        ck_assert_int_eq(fx_opencl_plugin_kernel(be, &broken_program, "broken", &k), FX_ERR_BACKEND);
        ck_assert_ptr_null(k);
        const char *msg = fx_context_error(l.ctx);
        ck_assert_msg(strstr(msg, "test_broken.cl") && strstr(msg, "build log") && strstr(msg, "undeclared_name"),
                      "message: %s", msg);
        /* Options reach the compiler; the kernel is cached. */
        void *k1 = NULL, *k2 = NULL, *q = NULL;
        ck_assert_msg(fx_opencl_plugin_kernel(be, &fine_program, "fine", &k1) == FX_OK, "%s",
                      fx_context_error(l.ctx));
        ck_assert_int_eq(fx_opencl_plugin_kernel(be, &fine_program, "fine", &k2), FX_OK);
        ck_assert_ptr_nonnull(k1);
        ck_assert_ptr_eq(k1, k2);
        ck_assert_int_eq(fx_opencl_plugin_queue(be, &q), FX_OK);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(fx_opencl_plugin_kernel(be, &fine_program, "missing", &k1), FX_ERR_BACKEND);
    }
    finish(&l, be);
}
END_TEST

/* Points FX_KERNEL_CACHE_DIR at a fresh directory for one test, and puts
 * the caller's value back afterwards (the ctest environment sets one). */
typedef struct cache_env {
    char *dir;
    char *saved;
} cache_env;

static cache_env cache_env_fresh(void)
{
    cache_env e;
    const char *old = getenv("FX_KERNEL_CACHE_DIR");
    e.saved = old ? strdup(old) : NULL;
    ck_assert(!old || e.saved);
    e.dir = fxtest_tempdir();
    setenv("FX_KERNEL_CACHE_DIR", e.dir, 1);
    return e;
}

static void cache_env_restore(cache_env *e)
{
    if (e->saved)
        setenv("FX_KERNEL_CACHE_DIR", e->saved, 1);
    else
        unsetenv("FX_KERNEL_CACHE_DIR");
    free(e->saved);
    fxtest_remove_tree(e->dir);
    free(e->dir);
}

/* Files in `dir` whose names start with `prefix`; the last one's path goes
 * to `path` (when not NULL). */
static int cache_files(const char *dir, const char *prefix, char *path, size_t size)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        n++;
        if (path)
            snprintf(path, size, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    return n;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* One forward and backward pass of prelu on `be` (plugin program plus the
 * built-in programs the harness uses), then frees the backend and returns
 * its counters. */
static void run_prelu_on_new_backend(loaded *l, int *built, int *loaded_from_disk)
{
    fx_backend *be = ocltest_backend(l->ctx);
    ck_assert_ptr_nonnull(be);
    ocltest_case c;
    memset(&c, 0, sizeof c);
    c.op = "prelu";
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = fx_shape_4d(2, 3, 4, 4);
    c.in[0].dtype = FX_F32;
    ocltest_result r;
    ocltest_run(l->ctx, &c, be, &r);
    ocltest_free(&r);
    *built = fx_opencl_programs_built(be);
    *loaded_from_disk = fx_opencl_programs_loaded(be);
    be->ops->destroy(be);
}

START_TEST(test_plugin_opencl_program_is_loaded_from_the_disk_cache_by_the_next_backend)
{
    loaded l = start_with_prelu();
    fx_backend *probe = plugin_has_opencl_kernels(&l) ? ocltest_backend(l.ctx) : NULL;
    if (!probe) {
        finish(&l, NULL);
        return;
    }
    probe->ops->destroy(probe);
    cache_env env = cache_env_fresh();
    const char *entry_prefix = "plugin_program_prelu-";

    /* Cold cache: every program is compiled, the plugin's among them, and
     * stored next to the built-in ones. */
    int built = 0, from_disk = 0;
    run_prelu_on_new_backend(&l, &built, &from_disk);
    ck_assert_int_ge(built, 1);
    ck_assert_int_eq(from_disk, 0);
    char entry[1024];
    ck_assert_int_eq(cache_files(env.dir, entry_prefix, entry, sizeof entry), 1);
    int entries = cache_files(env.dir, "", NULL, 0);
    ck_assert_int_eq(entries, built);
    long full = file_size(entry);
    ck_assert_int_gt(full, 24);

    /* A new backend in the same process compiles nothing. */
    int built2 = -1, from_disk2 = -1;
    run_prelu_on_new_backend(&l, &built2, &from_disk2);
    ck_assert_int_eq(built2, 0);
    ck_assert_int_eq(from_disk2, built);

    /* A truncated plugin entry is detected, rebuilt and rewritten whole;
     * the built-in entries still load. */
    ck_assert_int_eq(truncate(entry, full / 2), 0);
    int built3 = -1, from_disk3 = -1;
    run_prelu_on_new_backend(&l, &built3, &from_disk3);
    ck_assert_int_eq(built3, 1);
    ck_assert_int_eq(from_disk3, built - 1);
    ck_assert_int_eq(file_size(entry), full);
    ck_assert_int_eq(cache_files(env.dir, "", NULL, 0), entries);

    int built4 = -1, from_disk4 = -1;
    run_prelu_on_new_backend(&l, &built4, &from_disk4);
    ck_assert_int_eq(built4, 0);
    ck_assert_int_eq(from_disk4, built);

    cache_env_restore(&env);
    finish(&l, NULL);
}
END_TEST

START_TEST(test_plugin_opencl_program_with_a_compile_error_is_not_cached)
{
    loaded l = start_with_prelu();
    fx_backend *be = ocltest_backend(l.ctx);
    if (!be) {
        finish(&l, NULL);
        return;
    }
    be->ops->destroy(be);
    cache_env env = cache_env_fresh();
    for (int attempt = 0; attempt < 2; attempt++) { /* a second backend fails the same way */
        be = ocltest_backend(l.ctx);
        ck_assert_ptr_nonnull(be);
        void *k = NULL;
        ck_assert_int_eq(fx_opencl_plugin_kernel(be, &broken_program, "broken", &k), FX_ERR_BACKEND);
        ck_assert_ptr_null(k);
        const char *msg = fx_context_error(l.ctx);
        ck_assert_msg(strstr(msg, "plugin program test_broken.cl") && strstr(msg, "build log") &&
                          strstr(msg, "undeclared_name"),
                      "message: %s", msg);
        ck_assert_int_eq(fx_opencl_programs_built(be), 0);
        ck_assert_int_eq(fx_opencl_programs_loaded(be), 0);
        fx_context_clear_error(l.ctx);
        be->ops->destroy(be);
        /* Nothing at all was written (no entry, no temporary file). */
        ck_assert_int_eq(cache_files(env.dir, "", NULL, 0), 0);
    }
    /* A program that compiles, in the same directory, is stored: the
     * directory was usable, so the empty listing above means "not cached". */
    be = ocltest_backend(l.ctx);
    void *k = NULL;
    ck_assert_msg(fx_opencl_plugin_kernel(be, &fine_program, "fine", &k) == FX_OK, "%s", fx_context_error(l.ctx));
    ck_assert_int_eq(fx_opencl_programs_built(be), 1);
    ck_assert_int_eq(cache_files(env.dir, "plugin_program_test_fine-", NULL, 0), 1);
    ck_assert_int_eq(cache_files(env.dir, "", NULL, 0), 1);
    cache_env_restore(&env);
    finish(&l, be);
}
END_TEST

START_TEST(test_plugin_opencl_calls_are_refused_on_other_backends)
{
    loaded l = start_with_prelu();
    void *k = (void *)1, *q = (void *)1;
    fx_backend *cpu = fx_context_cpu_backend(l.ctx);
    ck_assert_int_eq(fx_opencl_plugin_kernel(cpu, &fine_program, "fine", &k), FX_ERR_UNSUPPORTED);
    ck_assert_ptr_null(k);
    ck_assert_int_eq(fx_opencl_plugin_queue(cpu, &q), FX_ERR_UNSUPPORTED);
    ck_assert_ptr_null(q);
    finish(&l, NULL);
}
END_TEST

START_TEST(test_fxrun_trains_the_prelu_plugin_on_opencl)
{
    loaded l = start_with_prelu();
    fx_backend *be = plugin_has_opencl_kernels(&l) ? ocltest_backend(l.ctx) : NULL;
    finish(&l, be);
    if (!be)
        return;
    char *dir = fxtest_tempdir();
    char path[1024], cmd[4096], out[16384];
    snprintf(path, sizeof path, "%s/net.yaml", dir);
    fxtest_write_file(path,
                      "name: prelu-ocl\n"
                      "plugins: [" FX_PLUGIN_BUILD_DIR "/prelu.so]\n"
                      "input: {image: [1, 28, 28], label: []}\n"
                      "layers:\n"
                      "  - {name: c, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"
                      "  - {name: a, op: prelu}\n"
                      "  - {name: logits, op: linear, out_features: 10}\n"
                      "losses:\n"
                      "  - {op: softmax_cross_entropy, in: [logits, label]}\n"
                      "data:\n"
                      "  train: {idx: {images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz,\n"
                      "                labels: /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz}, "
                      "limit: 64}\n"
                      "  test: {idx: {images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,\n"
                      "               labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz}, "
                      "limit: 32}\n"
                      "  channels: 1\n"
                      "train: {optimizer: adam, lr: 1.0e-3, batch: 16, epochs: 1, predict: logits}\n");
    const char *spec = getenv("FX_TEST_OPENCL");
    snprintf(cmd, sizeof cmd, "%s train %s --backend %s --steps 2 --checkpoint %s/net.fxck", fxtest_fxrun(), path,
             spec ? spec : "opencl", dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 && strstr(out, "done: 2 steps"), "%s\n(status %d)\n%s", cmd, rc, out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *plugin_opencl_suite(void)
{
    Suite *s = suite_create("plugin_opencl");
    TCase *tc = tcase_create("opencl");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_prelu_plugin_opencl_kernels_match_its_cpu_kernels);
    tcase_add_test(tc, test_plugin_opencl_program_is_built_once_per_backend);
    tcase_add_test(tc, test_plugin_opencl_program_errors_carry_the_build_log);
    tcase_add_test(tc, test_plugin_opencl_program_is_loaded_from_the_disk_cache_by_the_next_backend);
    tcase_add_test(tc, test_plugin_opencl_program_with_a_compile_error_is_not_cached);
    tcase_add_test(tc, test_plugin_opencl_calls_are_refused_on_other_backends);
    tcase_add_test(tc, test_fxrun_trains_the_prelu_plugin_on_opencl);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(plugin_opencl_suite()); }
