/* tests/test_backend_table.c - the context's backend table (fx/backend.h):
 * a registration record with device listing, kernels and extras found by
 * name; the CPU backend that no release call may destroy; backend modules
 * found in the backend folders and loaded on first use, and what a
 * program sees when the OpenCL module is missing or cannot be loaded
 * (no OpenCL loader on the machine);
 * and libfx itself, which must not link OpenCL or CLBlast. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx/opencl.h"
#include "fx/plugin.h"
#include "fxtest.h"

/* ---- a backend registered by the program ---------------------------------- */

static int fake_destroyed;

static void fake_destroy(fx_backend *be)
{
    fake_destroyed++;
    free(be);
}

static const fx_backend_ops fake_ops = { .struct_size = sizeof(fx_backend_ops), .destroy = fake_destroy };

static fx_status fake_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    fx_backend *be = calloc(1, sizeof *be);
    if (!be)
        return fx_fail(ctx, FX_ERR_NOMEM, "fake backend");
    be->struct_size = sizeof *be;
    snprintf(be->name, sizeof be->name, "fake");
    snprintf(be->device_name, sizeof be->device_name, "%s", spec);
    be->ops = &fake_ops;
    be->ctx = ctx;
    *out = be;
    return FX_OK;
}

static fx_status fake_list(fx_context *ctx, FILE *out)
{
    fprintf(out, "  fake:0  a device that is not there\n");
    return FX_OK;
}

static fx_status fake_relu(const fx_kernel_call *call) { return FX_OK; }

static fx_status fake_kernels(fx_registry *reg) { return fx_registry_add_kernel(reg, "relu", "fake", fake_relu, NULL); }

static int fake_answer(void) { return 42; }

static fx_backend_proc fake_proc(const char *name)
{
    return !strcmp(name, "fake_answer") ? (fx_backend_proc)fake_answer : NULL;
}

START_TEST(test_a_registered_backend_lists_devices_registers_kernels_and_offers_extras)
{
    fx_context *ctx = fxtest_context();
    int n0 = fx_context_backend_count(ctx);
    const char *name, *doc, *plugin;
    ck_assert(fx_context_backend_at(ctx, 0, &name, &doc, &plugin));
    ck_assert_str_eq(name, "cpu"); /* the CPU backend registers like any other, first */
    ck_assert(fx_registry_find_kernel(fx_context_registry(ctx), "relu", "cpu", NULL, NULL));

    fx_backend_registration r = { .struct_size = sizeof r, .name = "fake", .description = "a test backend",
                                  .create = fake_create, .list_devices = fake_list,
                                  .register_kernels = fake_kernels, .get_proc = fake_proc };
    ck_assert_msg(fx_context_add_backend(ctx, &r) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_context_backend_count(ctx), n0 + 1);
    ck_assert(fx_registry_find_kernel(fx_context_registry(ctx), "relu", "fake", NULL, NULL));
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_ERR_INVALID); /* a taken name */
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "already exists"));

    const fx_backend_registration *found = fx_context_find_backend(ctx, "fake");
    ck_assert_ptr_nonnull(found);
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_int_eq(found->list_devices(ctx, f), FX_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "fake:0"));

    fx_backend *be = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "fake:opts", &be), FX_OK);
    ck_assert_str_eq(be->device_name, "fake:opts");
    fx_backend_proc p = fx_backend_get_proc(be, "fake_answer");
    ck_assert_ptr_nonnull((void *)p);
    ck_assert_int_eq(((int (*)(void))p)(), 42);
    ck_assert_ptr_null((void *)fx_backend_get_proc(be, "no_such_extra"));
    ck_assert_ptr_null(fx_opencl_api_of(be)); /* not an OpenCL backend */
    ck_assert_int_eq(fx_opencl_programs_built(be), -1);
    fake_destroyed = 0;
    fx_context_release_backend(ctx, be);
    ck_assert_int_eq(fake_destroyed, 1);
    fx_context_destroy(ctx);
}
END_TEST

static const fx_backend_ops unsized_ops = { .destroy = fake_destroy }; /* no struct_size */

static fx_status unsized_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    static fx_backend be; /* never destroyed by fx: its table's size is unknown */
    be.struct_size = sizeof be;
    snprintf(be.name, sizeof be.name, "unsized");
    be.ops = &unsized_ops;
    be.ctx = ctx;
    *out = &be;
    return FX_OK;
}

/* The ops table can grow only if fx knows how large a backend's table is:
 * one without struct_size is refused when it is created. */
START_TEST(test_a_backend_whose_ops_table_has_no_size_is_refused)
{
    fx_context *ctx = fxtest_context();
    fx_backend_registration r = { .struct_size = sizeof r, .name = "unsized", .create = unsized_create };
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_OK);
    fx_backend *be = NULL;
    fake_destroyed = 0;
    ck_assert_int_eq(fx_context_create_backend(ctx, "unsized", &be), FX_ERR_INVALID);
    ck_assert_ptr_null(be);
    ck_assert_msg(strstr(fx_context_error(ctx), "struct_size = sizeof(fx_backend_ops)"), "%s", fx_context_error(ctx));
    ck_assert_int_eq(fake_destroyed, 0);
    fx_context_destroy(ctx);
}
END_TEST

/* fx_backend carries its size (ABI 3): a factory built against an older
 * (smaller) fx_backend still works; zero (never set) and garbage are
 * refused with the fix, and the backend is left alone (fx cannot know its
 * layout). */
static size_t sized_size;
static fx_backend sized_be;

static fx_status sized_create(fx_context *ctx, const char *spec, fx_backend **out)
{
    memset(&sized_be, 0, sizeof sized_be);
    sized_be.struct_size = sized_size;
    snprintf(sized_be.name, sizeof sized_be.name, "sized");
    sized_be.ops = &fake_ops;
    sized_be.ctx = ctx;
    *out = &sized_be;
    return FX_OK;
}

START_TEST(test_the_backend_struct_size_lets_older_backends_in_and_keeps_garbage_out)
{
    fx_context *ctx = fxtest_context();
    /* A record of an older, shorter registration: only up to `create`;
     * what lies beyond its size is never read (here: garbage). */
    struct {
        fx_backend_registration r;
    } old;
    memset(&old, 0xA5, sizeof old);
    old.r.struct_size = offsetof(fx_backend_registration, list_devices);
    old.r.name = "sized";
    old.r.description = "an older record";
    old.r.create = sized_create;
    ck_assert_msg(fx_context_add_backend(ctx, &old.r) == FX_OK, "%s", fx_context_error(ctx));
    const fx_backend_registration *found = fx_context_find_backend(ctx, "sized");
    ck_assert_ptr_nonnull(found);
    ck_assert_ptr_null((void *)found->list_devices); /* not in the older record: NULL, not garbage */
    ck_assert_ptr_null((void *)found->get_proc);

    fx_backend *be = NULL;
    sized_size = FX_BACKEND_MIN_SIZE; /* the smallest layout fx accepts */
    ck_assert_msg(fx_context_create_backend(ctx, "sized", &be) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_ptr_eq(be, &sized_be);
    ck_assert(FX_BACKEND_HAS(be, impl));

    const size_t bad[] = { 0, 8, (size_t)0xdeadbeef };
    for (int i = 0; i < 3; i++) {
        sized_size = bad[i];
        be = NULL;
        fake_destroyed = 0;
        ck_assert_int_eq(fx_context_create_backend(ctx, "sized", &be), FX_ERR_INVALID);
        ck_assert_ptr_null(be);
        ck_assert_int_eq(fake_destroyed, 0);
        const char *msg = fx_context_error(ctx);
        ck_assert_msg(strstr(msg, "backend 'sized'") && strstr(msg, "be->struct_size = sizeof(fx_backend)"), "%s",
                      msg);
    }
    /* A garbage size in a registration record is refused too. */
    fx_backend_registration r = { .struct_size = (size_t)0xdeadbeef, .name = "garbage", .create = fake_create };
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "struct_size"));
    ck_assert_ptr_null(fx_context_find_backend(ctx, "garbage"));
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_a_bad_registration_is_refused_with_the_fix)
{
    fx_context *ctx = fxtest_context();
    fx_backend_registration r = { .struct_size = sizeof r, .name = "Bad Name", .create = fake_create };
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "a-z, 0-9"));
    r.name = "nofactory";
    r.create = NULL;
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "without a factory"));
    r.create = fake_create;
    r.struct_size = 4;
    ck_assert_int_eq(fx_context_add_backend(ctx, &r), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "struct_size"));
    ck_assert_int_eq(fx_context_backend_count(ctx), 1);
    fx_context_destroy(ctx);
}
END_TEST

/* ---- the CPU backend belongs to the context --------------------------------- */

/* Regression: fx_plugin_host_release_backend(NULL, cpu) used to destroy
 * the context's CPU backend (the check needed the host), so the context
 * later used and destroyed it again. */
START_TEST(test_releasing_the_cpu_backend_without_a_host_leaves_it_to_the_context)
{
    fx_context *ctx = fxtest_context();
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    fx_plugin_host_release_backend(NULL, cpu);
    fx_context_release_backend(NULL, cpu);
    fx_context_release_backend(ctx, cpu);
    fx_backend *again = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "cpu", &again), FX_OK);
    ck_assert_ptr_eq(again, cpu);
    /* still a working backend */
    fx_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = FX_F32;
    t.shape.ndim = 1;
    t.shape.dim[0] = 4;
    ck_assert_int_eq(fx_backend_alloc_tensor(cpu, &t, "a test tensor"), FX_OK);
    const float in[4] = { 1, 2, 3, 4 };
    float out[4] = { 0 };
    ck_assert_int_eq(fx_tensor_upload(&t, in), FX_OK);
    ck_assert_int_eq(fx_tensor_download(&t, out), FX_OK);
    ck_assert(memcmp(in, out, sizeof in) == 0);
    fx_backend_free_tensor(cpu, &t);
    fx_context_destroy(ctx); /* destroys the CPU backend once */
}
END_TEST

/* ---- backend modules ---------------------------------------------------------- */

static char *module_dir(void)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/backends", FX_BINARY_DIR);
    return dir;
}

static int have_opencl_module(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/libfx-opencl.so", module_dir());
    if (access(path, R_OK) != 0) {
        printf("SKIP: %s not built (FX_OPENCL=OFF or no OpenCL/CLBlast)\n", path);
        return 0;
    }
    return 1;
}

START_TEST(test_a_missing_module_is_named_and_the_cpu_still_works)
{
    char *empty = fxtest_tempdir();
    setenv("FX_BACKEND_PATH", empty, 1);
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "opencl", &be), FX_ERR_INVALID);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(strstr(msg, "libfx-opencl.so") && strstr(msg, empty) && strstr(msg, "FX_BACKEND_PATH"), "%s", msg);
    ck_assert_int_eq(fx_opencl_list_devices(ctx, stdout), FX_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "libfx-opencl.so"));
    ck_assert_int_eq(fx_context_load_all_backends(ctx, stdout), 0); /* nothing there, nothing failed */
    ck_assert_int_eq(fx_context_create_backend(ctx, "cpu", &be), FX_OK);
    fx_context_destroy(ctx);
    unsetenv("FX_BACKEND_PATH");
    fxtest_remove_tree(empty);
    free(empty);
}
END_TEST

START_TEST(test_a_module_that_cannot_be_loaded_says_so)
{
    char *dir = fxtest_tempdir();
    char path[1200];
    snprintf(path, sizeof path, "%s/libfx-opencl.so", dir);
    fxtest_write_file(path, "not a shared object\n");
    setenv("FX_BACKEND_PATH", dir, 1);
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "opencl", &be), FX_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(fx_context_error(ctx), "backend 'opencl' is not available") &&
                      strstr(fx_context_error(ctx), path),
                  "%s", fx_context_error(ctx));
    char report[2048] = "";
    FILE *f = fmemopen(report, sizeof report, "w");
    ck_assert_int_eq(fx_context_load_all_backends(ctx, f), 1);
    fclose(f);
    ck_assert_msg(strncmp(report, "opencl: ", 8) == 0, "%s", report);
    fx_context_destroy(ctx);
    unsetenv("FX_BACKEND_PATH");
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_fxrun_without_the_opencl_module_runs_on_the_cpu_quietly_and_names_what_is_missing)
{
    char *empty = fxtest_tempdir();
    char cmd[4096], out[16384];
    /* CPU work: no word about OpenCL anywhere. */
    snprintf(cmd, sizeof cmd, "FX_BACKEND_PATH=%s %s devices", empty, fxtest_fxrun());
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "cpu: ") && !strstr(out, "opencl") && !strstr(out, "OpenCL"), "%s", out);
    snprintf(cmd, sizeof cmd, "FX_BACKEND_PATH=%s %s %s/configs/fashion-mnist.yaml --backend opencl --steps 1",
             empty, fxtest_fxrun(), FX_SOURCE_DIR);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "fxrun: unknown backend 'opencl' (available: cpu)") && strstr(out, "libfx-opencl.so") &&
                      strstr(out, empty),
                  "%s", out);
    fxtest_remove_tree(empty);
    free(empty);
}
END_TEST

/* A machine without an OpenCL loader: a copy of the module whose NEEDED
 * entry names a library that does not exist (libOpenCL.so.1 renamed to
 * libOpenCX.so.1 in its string table), so dlopen fails as it does where
 * the loader is not installed. */
static char *module_without_loader(void)
{
    char src[1200];
    snprintf(src, sizeof src, "%s/libfx-opencl.so", module_dir());
    FILE *f = fopen(src, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_int_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const char *needle = "libOpenCL.so.1";
    size_t len = strlen(needle);
    int replaced = 0;
    for (long i = 0; i + (long)len <= size; i++)
        if (memcmp(bytes + i, needle, len) == 0) {
            bytes[i + 8] = 'X'; /* libOpenCX.so.1 */
            replaced++;
        }
    ck_assert_int_gt(replaced, 0);
    char *dir = fxtest_tempdir();
    char dst[1200];
    snprintf(dst, sizeof dst, "%s/libfx-opencl.so", dir);
    f = fopen(dst, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    free(bytes);
    return dir;
}

START_TEST(test_without_an_opencl_loader_fx_runs_on_the_cpu_and_names_the_missing_library)
{
    if (!have_opencl_module())
        return;
    char *dir = module_without_loader();
    setenv("FX_BACKEND_PATH", dir, 1);
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "opencl", &be), FX_ERR_UNSUPPORTED);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(strstr(msg, "backend 'opencl' is not available") && strstr(msg, "libOpenCX.so.1") &&
                      strstr(msg, "needs a library this machine does not have"),
                  "%s", msg);
    ck_assert_int_eq(fx_context_plugin_count(ctx), 0); /* nothing half-loaded */
    ck_assert_int_eq(fx_context_backend_count(ctx), 1);
    fx_context_destroy(ctx);
    unsetenv("FX_BACKEND_PATH");

    char cmd[4096], out[16384];
    snprintf(cmd, sizeof cmd, "FX_BACKEND_PATH=%s %s %s/configs/fashion-mnist.yaml --backend opencl --steps 1", dir,
             fxtest_fxrun(), FX_SOURCE_DIR);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "fxrun: backend 'opencl' is not available") && strstr(out, "libOpenCX.so.1"), "%s",
                  out);
    snprintf(cmd, sizeof cmd, "FX_BACKEND_PATH=%s %s devices", dir, fxtest_fxrun());
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "cpu: ") && strstr(out, "not available:\nopencl: ") && strstr(out, "libOpenCX.so.1"),
                  "%s", out);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_fxrun_devices_lists_opencl_devices_through_the_module)
{
    if (!have_opencl_module() || !fxtest_have_opencl())
        return;
    char cmd[4096], out[16384];
    snprintf(cmd, sizeof cmd, "FX_BACKEND_PATH=%s %s devices", module_dir(), fxtest_fxrun());
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "opencl: ") && strstr(out, "[plugin opencl]") && strstr(out, "opencl:0:0"), "%s", out);
    /* and `fxrun plugins` after a run on it shows the module as loaded */
    fx_context *ctx = fxtest_context();
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_context_create_backend(ctx, "opencl", &be), FX_OK);
    int found = 0;
    for (int i = 0; i < fx_context_plugin_count(ctx); i++)
        found |= strstr(fx_context_plugin_at(ctx, i)->path, "libfx-opencl.so") != NULL;
    ck_assert(found);
    ck_assert(fx_registry_find_kernel(fx_context_registry(ctx), "conv2d", "opencl", NULL, NULL));
    ck_assert_int_ge(fx_opencl_programs_built(be), 0);
    fx_context_release_backend(ctx, be);
    fx_context_destroy(ctx);
}
END_TEST

/* ---- libfx links no OpenCL -------------------------------------------------------- */

START_TEST(test_libfx_links_neither_opencl_nor_clblast)
{
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd, "readelf -d %s/libfx.so", FX_BINARY_DIR);
    int rc = fxtest_run(cmd, out, sizeof out);
    if (rc == 127) {
        printf("SKIP: readelf not installed (binutils)\n");
        return;
    }
    ck_assert_msg(rc == 0 && strstr(out, "NEEDED"), "readelf failed: %s", out);
    ck_assert_msg(!strstr(out, "OpenCL") && !strstr(out, "clblast"), "libfx.so needs OpenCL or CLBlast:\n%s", out);
    snprintf(cmd, sizeof cmd, "readelf -d %s/fxrun", FX_BINARY_DIR);
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(!strstr(out, "OpenCL") && !strstr(out, "clblast"), "fxrun needs OpenCL or CLBlast:\n%s", out);
    if (!have_opencl_module())
        return;
    snprintf(cmd, sizeof cmd, "readelf -d %s/libfx-opencl.so", module_dir());
    ck_assert_int_eq(fxtest_run(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "libOpenCL") && !strstr(out, "libfx.so"),
                  "the module must link OpenCL and not libfx:\n%s", out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backend_table");
    TCase *t = tcase_create("table");
    tcase_add_test(t, test_a_registered_backend_lists_devices_registers_kernels_and_offers_extras);
    tcase_add_test(t, test_a_bad_registration_is_refused_with_the_fix);
    tcase_add_test(t, test_the_backend_struct_size_lets_older_backends_in_and_keeps_garbage_out);
    tcase_add_test(t, test_a_backend_whose_ops_table_has_no_size_is_refused);
    tcase_add_test(t, test_releasing_the_cpu_backend_without_a_host_leaves_it_to_the_context);
    suite_add_tcase(s, t);
    TCase *m = tcase_create("modules");
    tcase_set_timeout(m, 120);
    tcase_add_test(m, test_a_missing_module_is_named_and_the_cpu_still_works);
    tcase_add_test(m, test_a_module_that_cannot_be_loaded_says_so);
    tcase_add_test(m, test_fxrun_without_the_opencl_module_runs_on_the_cpu_quietly_and_names_what_is_missing);
    tcase_add_test(m, test_without_an_opencl_loader_fx_runs_on_the_cpu_and_names_the_missing_library);
    tcase_add_test(m, test_fxrun_devices_lists_opencl_devices_through_the_module);
    tcase_add_test(m, test_libfx_links_neither_opencl_nor_clblast);
    suite_add_tcase(s, m);
    return fxtest_run_suite(s);
}
