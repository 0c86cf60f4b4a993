/* tests/test_fault_injection.c - every failure a short training run can
 * meet ends in one clear message, a non-zero exit and an intact
 * checkpoint. FX_FAULT (core/engine/fault.c) makes the Nth allocation, the Nth
 * checkpoint write, or on OpenCL the Nth device buffer or program build
 * fail; N is swept over the whole run (until a run no
 * longer reaches the Nth event and succeeds). Under the ASan build
 * (tools/test.sh) a leak on any of these paths ends fxrun with
 * LeakSanitizer's status instead of 1, which fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fxtest.h"
#include "reliability.h"

static char out[65536];

/* Sweeps FX_FAULT=<kind>:N for N = 1, 2, ... (every N up to 60, then every
 * `stride`th) over `fxrun train`, each time with a good checkpoint of an
 * earlier run in place; returns how many runs failed as injected. */
static int sweep_args(const char *dir, const char *kind, const char *needle, int stride, const char *args)
{
    int injected = 0;
    for (int n = 1; n < 5000; n += n < 60 ? 1 : stride) {
        char env[64];
        snprintf(env, sizeof env, "%s:%d", kind, n);
        setenv("FX_FAULT", env, 1);
        int rc = rel_fxrun(dir, args, out, sizeof out);
        unsetenv("FX_FAULT");
        if (rc == 0)
            return injected; /* the run ended before its Nth event */
        ck_assert_msg(rc == 1, "FX_FAULT=%s: status %d (a leak under ASan?):\n%s", env, rc, out);
        ck_assert_msg(strstr(out, needle) != NULL, "FX_FAULT=%s: no clear message ('%s'):\n%s", env, needle, out);
        ck_assert_msg(strchr(out, '\n') == strrchr(out, '\n'), "FX_FAULT=%s: more than one message:\n%s", env, out);
        injected++;
        /* The checkpoint is still whole: eval loads it. */
        rc = rel_fxrun(dir, "eval -q net.yaml", out, sizeof out);
        ck_assert_msg(rc == 0, "after FX_FAULT=%s the checkpoint does not load:\n%s", env, out);
    }
    ck_abort_msg("FX_FAULT=%s: the sweep never reached a successful run", kind);
    return injected;
}

static int sweep(const char *dir, const char *kind, const char *needle, int stride)
{
    return sweep_args(dir, kind, needle, stride, "train -q net.yaml");
}

START_TEST(test_every_injected_allocation_failure_is_a_clear_error)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: net.fxck");
    ck_assert_int_eq(rel_fxrun(dir, "train -q net.yaml", out, sizeof out), 0);
    int n = sweep(dir, "alloc", "(injected by FX_FAULT)", 3);
    ck_assert_msg(n >= 20, "only %d allocations in a training run?", n);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_every_injected_checkpoint_write_failure_keeps_the_old_checkpoint)
{
    char *dir = fxtest_tempdir();
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 2, predict: logits, checkpoint: net.fxck");
    ck_assert_int_eq(rel_fxrun(dir, "train -q net.yaml", out, sizeof out), 0);
    int n = sweep(dir, "write", "No space left on device", 1);
    ck_assert_msg(n >= 10, "only %d checkpoint writes?", n);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

/* On OpenCL (PoCL here): the device runs out of memory at each buffer in
 * turn, and the compiler refuses each program in turn (the kernel cache
 * off, so every program is built from source). */
START_TEST(test_every_injected_opencl_failure_is_a_clear_error)
{
    char *dir = fxtest_tempdir();
    rel_fxrun(dir, "devices", out, sizeof out);
    if (strstr(out, "  opencl:0:0 ") == NULL) {
        printf("test_every_injected_opencl_failure_is_a_clear_error: skipped, no OpenCL device\n");
        fxtest_remove_tree(dir);
        free(dir);
        return;
    }
    rel_write_idx(dir);
    rel_write_config(dir, "net.yaml", NULL, "batch: 4, epochs: 1, predict: logits, checkpoint: net.fxck");
    ck_assert_int_eq(rel_fxrun(dir, "train -q net.yaml", out, sizeof out), 0);
    int n = sweep_args(dir, "device_alloc", "CL_MEM_OBJECT_ALLOCATION_FAILURE (-4) (injected by FX_FAULT)", 3,
                       "train -q net.yaml --backend opencl");
    ck_assert_msg(n >= 20, "only %d device buffers in a training run?", n);
    const char *cache = getenv("FX_KERNEL_CACHE_DIR");
    char *saved = cache ? strdup(cache) : NULL;
    setenv("FX_KERNEL_CACHE_DIR", "off", 1);
    n = sweep_args(dir, "build", "CL_BUILD_PROGRAM_FAILURE (-11) (injected by FX_FAULT)", 1,
                   "train -q net.yaml --backend opencl");
    if (saved)
        setenv("FX_KERNEL_CACHE_DIR", saved, 1);
    else
        unsetenv("FX_KERNEL_CACHE_DIR");
    free(saved);
    ck_assert_msg(n >= 3, "only %d programs built for a training run?", n);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault_injection");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_every_injected_allocation_failure_is_a_clear_error);
    tcase_add_test(tc, test_every_injected_checkpoint_write_failure_keeps_the_old_checkpoint);
    tcase_add_test(tc, test_every_injected_opencl_failure_is_a_clear_error);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
