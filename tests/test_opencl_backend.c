/* tests/test_opencl_backend.c - the OpenCL backend object: device
 * selection strings (including a bad index and a name that matches
 * nothing), the device listing, buffer copies with offsets, out-of-memory
 * messages, the optimiser updates against the CPU backend, the on-disk
 * program cache (a second backend builds nothing; a truncated or corrupt
 * entry is detected and rebuilt) and build errors naming the .cl file.
 * Skips (passes) without an OpenCL build or device. */
#include <dirent.h>
#include <unistd.h>

#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

START_TEST(test_opencl_device_selection_strings)
{
    if (!setup_backend())
        return;
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_opencl_backend_create(ctx, "opencl:0:0", &be), FX_OK);
    ck_assert_str_eq(be->name, "opencl");
    /* A case-insensitive piece of the real name selects the same device. */
    char piece[8] = "";
    const char *name = strchr(be->device_name, ' ');
    name = name ? strchr(name + 1, ' ') : NULL; /* "OpenCL P:D <name> (...)" */
    ck_assert_ptr_nonnull(name);
    snprintf(piece, sizeof piece, "%.4s", name + 1);
    for (char *p = piece; *p; p++)
        *p = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : (*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    char spec[64];
    snprintf(spec, sizeof spec, "opencl:%s", piece);
    fx_backend *by_name = NULL;
    ck_assert_msg(fx_opencl_backend_create(ctx, spec, &by_name) == FX_OK, "%s: %s", spec, fx_context_error(ctx));
    by_name->ops->destroy(by_name);
    be->ops->destroy(be);

    ck_assert_int_eq(fx_opencl_backend_create(ctx, "opencl:7:3", &be), FX_ERR_INVALID);
    ck_assert_ptr_null(be);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "no OpenCL device 3 on platform 7"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "opencl:0:0")); /* lists the devices */
    fx_context_clear_error(ctx);
    ck_assert_int_eq(fx_opencl_backend_create(ctx, "opencl:no-such-device-xyz", &be), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "no-such-device-xyz"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "opencl:0:0"));
    fx_context_clear_error(ctx);
    ck_assert_int_eq(fx_opencl_backend_create(ctx, "openclx", &be), FX_ERR_INVALID);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_list_devices_names_every_device)
{
    if (!setup_backend())
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fx_opencl_list_devices(ctx, f), FX_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "opencl:0:0"));
    ck_assert_ptr_nonnull(strstr(text, "compute units"));
    ck_assert_ptr_nonnull(strstr(text, "OpenCL"));
    free(text);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_tensor_copies_respect_offsets)
{
    if (!setup_backend())
        return;
    fx_tensor t = { .dtype = FX_F32, .shape = fx_shape_1d(10) };
    ck_assert_int_eq(fx_backend_alloc_tensor(ocl, &t, "t"), FX_OK);
    float src[10], back[10];
    for (int i = 0; i < 10; i++)
        src[i] = (float)i + 0.5f;
    ck_assert_int_eq(fx_tensor_upload(&t, src), FX_OK);
    float part[3] = { -1, -2, -3 };
    ck_assert_int_eq(ocl->ops->tensor_write(ocl, &t, part, 4 * 4, sizeof part), FX_OK);
    ck_assert_int_eq(ocl->ops->tensor_read(ocl, &t, back, 0, sizeof back), FX_OK);
    ck_assert(back[3] == 3.5f && back[4] == -1 && back[6] == -3 && back[7] == 7.5f);
    /* A view at an offset: zero and copy act on the view only. */
    fx_tensor view = t;
    view.offset = 2 * 4;
    view.shape = fx_shape_1d(3);
    ck_assert_int_eq(fx_tensor_zero(&view), FX_OK);
    fx_tensor dst = { .dtype = FX_F32, .shape = fx_shape_1d(3) };
    ck_assert_int_eq(fx_backend_alloc_tensor(ocl, &dst, "dst"), FX_OK);
    fx_tensor from = t;
    from.offset = 5 * 4;
    from.shape = fx_shape_1d(3);
    ck_assert_int_eq(ocl->ops->tensor_copy(ocl, &dst, &from), FX_OK);
    ck_assert_int_eq(fx_tensor_download(&t, back), FX_OK);
    ck_assert(back[1] == 1.5f && back[2] == 0 && back[4] == 0 && back[5] == -2 && back[8] == 8.5f);
    float d3[3];
    ck_assert_int_eq(fx_tensor_download(&dst, d3), FX_OK);
    ck_assert(d3[0] == -2 && d3[1] == -3 && d3[2] == 7.5f);
    ck_assert_int_ne(ocl->ops->tensor_read(ocl, &t, back, 8 * 4, 3 * 4), FX_OK); /* out of bounds */
    fx_backend_free_tensor(ocl, &dst);
    fx_backend_free_tensor(ocl, &t);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_out_of_memory_names_the_tensor)
{
    if (!setup_backend())
        return;
    fx_tensor t = { .dtype = FX_F32, .shape = fx_shape_2d(1 << 20, 1 << 20) }; /* 4 TiB */
    ck_assert_int_eq(fx_backend_alloc_tensor(ocl, &t, "activation 'huge'"), FX_ERR_NOMEM);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "activation 'huge'"));
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "smaller batch"));
    teardown_backend();
}
END_TEST

/* Runs one optimiser step on both backends from the same state. */
static void optimizer_step(fx_backend *be, int adam, int nesterov, float *w, float *state1, float *state2,
                           const float *g, int n)
{
    fx_tensor t[4];
    float *host[4] = { w, (float *)g, state1, state2 };
    for (int i = 0; i < 4; i++) {
        t[i] = (fx_tensor){ .dtype = FX_F32, .shape = fx_shape_1d(n) };
        ck_assert_int_eq(fx_backend_alloc_tensor(be, &t[i], "opt"), FX_OK);
        ck_assert_int_eq(fx_tensor_upload(&t[i], host[i]), FX_OK);
    }
    /* The backend's update kernels, as fx_optimizer_step finds them. */
    fx_optim_kernel_fn update = NULL;
    ck_assert(fx_registry_find_optimizer_kernel(fx_context_registry(ctx), adam ? "adam" : "sgd", be->name, &update));
    fx_tensor *state[2] = { &t[2], &t[3] };
    fx_optim_hparams hp = { .struct_size = sizeof hp, .step = 1 };
    if (adam) {
        hp.lr = 1e-2f, hp.beta1 = 0.5f, hp.beta2 = 0.999f, hp.eps = 1e-7f, hp.weight_decay = 1e-3f;
        ck_assert_int_eq(update(be, &t[0], &t[1], state, 2, &hp), FX_OK);
    } else {
        hp.lr = 0.1f, hp.momentum = 0.9f, hp.weight_decay = 5e-4f, hp.nesterov = nesterov;
        ck_assert_int_eq(update(be, &t[0], &t[1], state, 1, &hp), FX_OK);
    }
    for (int i = 0; i < 4; i++) {
        if (i != 1)
            ck_assert_int_eq(fx_tensor_download(&t[i], host[i]), FX_OK);
        fx_backend_free_tensor(be, &t[i]);
    }
}

START_TEST(test_opencl_optimizer_updates_match_cpu)
{
    if (!setup_backend())
        return;
    const int n = 1031;
    for (int variant = 0; variant < 3; variant++) {
        float *w[2], *s1[2], *s2[2];
        float *g = fxtest_random(5, n);
        for (int b = 0; b < 2; b++) {
            w[b] = fxtest_random(1, n);
            s1[b] = fxtest_random(2, n);
            s2[b] = fxtest_random(3, n);
            for (int i = 0; i < n; i++)
                s2[b][i] = s2[b][i] * s2[b][i]; /* Adam's v >= 0 */
        }
        for (int step = 0; step < 3; step++) {
            optimizer_step(fx_context_cpu_backend(ctx), variant == 2, variant == 1, w[0], s1[0], s2[0], g, n);
            optimizer_step(ocl, variant == 2, variant == 1, w[1], s1[1], s2[1], g, n);
        }
        fxtest_assert_close(w[1], w[0], n, 1e-6, 1e-7, "updated weights");
        fxtest_assert_close(s1[1], s1[0], n, 1e-6, 1e-7, "first state");
        fxtest_assert_close(s2[1], s2[0], n, 1e-6, 1e-7, "second state");
        for (int b = 0; b < 2; b++) {
            free(w[b]);
            free(s1[b]);
            free(s2[b]);
        }
        free(g);
    }
    teardown_backend();
}
END_TEST

/* Uses optimizer.cl (one program) on a fresh backend; returns it. */
static fx_backend *backend_using_one_program(void)
{
    fx_backend *be = NULL;
    ck_assert_msg(fx_opencl_backend_create(ctx, "opencl", &be) == FX_OK, "%s", fx_context_error(ctx));
    float w = 1, g = 1, v = 0;
    optimizer_step(be, 0, 0, &w, &v, &v, &g, 1);
    ck_assert(w < 1.0f);
    return be;
}

/* The single .clbin file in dir (path into out). */
static void find_entry(const char *dir, char *out, size_t size)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp")) {
            snprintf(out, size, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    ck_assert_int_eq(found, 1);
}

START_TEST(test_opencl_disk_cache_second_backend_builds_nothing)
{
    if (!setup_backend())
        return;
    char dir[] = "/tmp/fx-kcache-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sub[256];
    snprintf(sub, sizeof sub, "%s/nested/kernels", dir); /* created on demand */
    setenv("FX_KERNEL_CACHE_DIR", sub, 1);
    fx_backend *a = backend_using_one_program();
    ck_assert_str_eq(fx_opencl_cache_dir(a), sub);
    ck_assert_int_eq(fx_opencl_programs_built(a), 1);
    ck_assert_int_eq(fx_opencl_programs_loaded(a), 0);
    a->ops->destroy(a);

    fx_backend *b = backend_using_one_program(); /* fresh in-memory cache */
    ck_assert_int_eq(fx_opencl_programs_built(b), 0);
    ck_assert_int_eq(fx_opencl_programs_loaded(b), 1);
    b->ops->destroy(b);

    /* Truncate the entry: detected, rebuilt from source, rewritten. */
    char path[512];
    find_entry(sub, path, sizeof path);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long full = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, full / 2), 0);
    fx_backend *c = backend_using_one_program();
    ck_assert_int_eq(fx_opencl_programs_built(c), 1);
    c->ops->destroy(c);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    ck_assert_int_eq(ftell(f), full);
    /* Flip one byte of the binary: the checksum catches it. */
    fseek(f, full - 5, SEEK_SET);
    int byte = fgetc(f);
    fclose(f);
    f = fopen(path, "r+b");
    fseek(f, full - 5, SEEK_SET);
    fputc(byte ^ 0x5a, f);
    fclose(f);
    fx_backend *d = backend_using_one_program();
    ck_assert_int_eq(fx_opencl_programs_built(d), 1);
    d->ops->destroy(d);
    fx_backend *e = backend_using_one_program();
    ck_assert_int_eq(fx_opencl_programs_built(e), 0);
    e->ops->destroy(e);

    /* off disables the disk cache. */
    setenv("FX_KERNEL_CACHE_DIR", "off", 1);
    fx_backend *o = backend_using_one_program();
    ck_assert_str_eq(fx_opencl_cache_dir(o), "");
    ck_assert_int_eq(fx_opencl_programs_built(o), 1);
    o->ops->destroy(o);
    remove(path);
    char p2[300];
    snprintf(p2, sizeof p2, "%s/nested/kernels", dir);
    rmdir(p2);
    snprintf(p2, sizeof p2, "%s/nested", dir);
    rmdir(p2);
    rmdir(dir);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_build_error_names_the_file_and_log)
{
    if (!setup_backend())
        return;
    char dir[] = "/tmp/fx-clsrc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/optimizer.cl", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("__kernel void sgd_update(__global float *w) { w[0] = undeclared_name; }\n", f);
    fclose(f);
    setenv("FX_CLKERNELS_DIR", dir, 1);
    setenv("FX_KERNEL_CACHE_DIR", "off", 1);
    fx_backend *be = NULL;
    ck_assert_int_eq(fx_opencl_backend_create(ctx, "opencl", &be), FX_OK);
    fx_tensor t = { .dtype = FX_F32, .shape = fx_shape_1d(4) };
    ck_assert_int_eq(fx_backend_alloc_tensor(be, &t, "w"), FX_OK);
    fx_optim_kernel_fn update = NULL;
    ck_assert(fx_registry_find_optimizer_kernel(fx_context_registry(ctx), "sgd", "opencl", &update));
    fx_tensor *state[1] = { &t };
    fx_optim_hparams hp = { .struct_size = sizeof hp, .lr = 0.1f, .step = 1 };
    ck_assert_int_eq(update(be, &t, &t, state, 1, &hp), FX_ERR_BACKEND);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(strstr(msg, "optimizer.cl") && strstr(msg, "build log") && strstr(msg, "undeclared_name"), "%s",
                  msg);
    fx_backend_free_tensor(be, &t);
    be->ops->destroy(be);
    unsetenv("FX_CLKERNELS_DIR");
    remove(path);
    rmdir(dir);
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_backend");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_device_selection_strings);
    tcase_add_test(tc, test_opencl_list_devices_names_every_device);
    tcase_add_test(tc, test_opencl_tensor_copies_respect_offsets);
    tcase_add_test(tc, test_opencl_out_of_memory_names_the_tensor);
    tcase_add_test(tc, test_opencl_optimizer_updates_match_cpu);
    tcase_add_test(tc, test_opencl_disk_cache_second_backend_builds_nothing);
    tcase_add_test(tc, test_opencl_build_error_names_the_file_and_log);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
