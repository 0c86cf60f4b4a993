/* tests/support/fxtest.h - shared test harness: run one op through the real
 * graph executor on the CPU backend, compare with references, and check
 * gradients by central finite differences.
 *
 * Gradient check: out = op(inputs, params); L = sum(out0 * R) with a fixed
 * random R (seeded); analytic dL/d(input or param) from fx_graph_backward is
 * compared with (L(x+eps) - L(x-eps)) / 2eps for every element (or a
 * seeded sample of at most max_checks elements). Pass when
 * |a - n| <= atol + rtol * max(|a|, |n|) for every checked element. */
#ifndef FX_TEST_SUPPORT_H
#define FX_TEST_SUPPORT_H

#include <check.h>
#include <stdint.h>
#include "fx/fx.h"

#define FXTEST_MAX_ATTRS 16

typedef struct fxtest_input {
    const char *name;      /* graph input name, e.g. "x" */
    fx_shape shape;        /* full shape, dim 0 = batch */
    fx_dtype dtype;        /* F32 or I32 */
    const float *data;     /* NULL: seeded normal(0,1) values (F32) */
    const int32_t *idata;  /* I32 data (labels); required for I32 */
    int no_grad;           /* 1: do not check its gradient */
} fxtest_input;

typedef struct fxtest_case {
    const char *op;
    const char *attrs;     /* "stride=2 pad=1 kernel=[3,3] mode=max" */
    int n_in;
    fxtest_input in[FX_MAX_IO];
    uint64_t seed;         /* data, params, R; 0 = 1 */
    int inference;         /* 1: plan in inference mode (BN running stats, dropout off) */
    int randomize_params;  /* 1: params ~ normal(0, 0.5) + init (so BN gamma != 1) */
    double eps;            /* finite-difference step; 0 = 1e-2 */
    double rtol, atol;     /* 0 = 2e-2, 1e-3 */
    int max_checks;        /* per tensor; 0 = 64 */
} fxtest_case;

/* Attribute text "k=v k2=[1, 2] k3=text" parsed into fx_attr_input
 * entries; the strings live in the store. */
typedef struct fxtest_attr_store {
    fx_attr_input attrs[FXTEST_MAX_ATTRS];
    char keys[FXTEST_MAX_ATTRS][64];
    char items[FXTEST_MAX_ATTRS][FX_MAX_INTS][64];
    const char *ptrs[FXTEST_MAX_ATTRS][FX_MAX_INTS];
    int n;
} fxtest_attr_store;
void fxtest_parse_attrs(const char *text, fxtest_attr_store *s);

/* Creates a context (1 thread unless FX_TEST_THREADS is set; seed 1). */
fx_context *fxtest_context(void);

/* Builds the one-node graph of `c` and plans it (batch = in[0].shape.dim[0]).
 * Inputs get their data. Returns NULL and ck_abort_msg()s on failure. */
fx_graph *fxtest_build(fx_context *ctx, const fxtest_case *c);

/* Adds node `name` = op(in0[, in1]) to g, with at most one attribute
 * (attr_key: attr_value; attr_key NULL for none) and no source position;
 * fails the test when the graph refuses it. For graphs built in C. */
void fxtest_add_node(fx_graph *g, const char *name, const char *op, const char *in0, const char *in1,
                     const char *attr_key, const char *attr_value);

/* Runs forward; copies output `k` into a malloc'd array (caller frees) and
 * its shape into *shape. */
float *fxtest_forward(fx_context *ctx, const fxtest_case *c, int k, fx_shape *shape);

/* Expects building (or planning) to fail with `status`, and the error
 * message to contain `needle` (NULL = any). */
void fxtest_expect_error(fx_context *ctx, const fxtest_case *c, fx_status status, const char *needle);

/* Gradient check of every F32 input without no_grad and every learnable
 * parameter. Fails the test (ck_assert) with the worst element named. */
void fxtest_gradcheck(fx_context *ctx, const fxtest_case *c);

/* Builds `c` in a fresh context with `threads` CPU threads, runs forward,
 * seeds output 0's gradient with normal(grad_seed) values, runs backward,
 * and returns (malloc'd) the output, then the gradient of every checked
 * input (F32, not no_grad), then of every learnable parameter, in graph
 * order, concatenated; *count is their total length. For comparing runs
 * across thread counts and SIMD levels. */
float *fxtest_forward_backward_all(int threads, const fxtest_case *c, uint64_t grad_seed, int64_t *count);

/* Asserts |a[i] - b[i]| <= atol + rtol * |b[i]| for all i, naming the
 * worst index on failure. */
void fxtest_assert_close(const float *a, const float *b, int64_t n, double rtol, double atol,
                         const char *what);

/* Seeded normal(0,1) data, malloc'd. */
float *fxtest_random(uint64_t seed, int64_t n);
/* Adds 0.5 x a seeded random tensor to every learnable parameter of a
 * planned graph, so parameters are not at their special initial values
 * (BN scale 1, shift 0) when backends are compared. Same values on every
 * backend. */
void fxtest_perturb_params(fx_graph *g);

/* Processes and files (fxtest_proc.c). fxtest_run runs `cmd` through the
 * shell with stderr merged into stdout, captures up to size-1 bytes, and
 * returns the exit status (128+signal if killed). */
const char *fxtest_fxrun(void);
int fxtest_run(const char *cmd, char *out, size_t size);
char *fxtest_tempdir(void);            /* malloc'd "/tmp/fxtest.XXXXXX" */
void fxtest_write_file(const char *path, const char *text);
void fxtest_remove_tree(const char *dir);

/* Reads tests/data/<folder>/<name>.npy (committed fixtures); fails the
 * test when it cannot. Free with fx_array_free. */
fx_array fxtest_load_npy(fx_context *ctx, const char *folder, const char *name);
/* 1 when an OpenCL backend can be created here; else prints "SKIP: ..."
 * with the reason and returns 0 (tests then return early and pass). */
int fxtest_have_opencl(void);

/* Runs a Check suite: returns the process exit code. */
int fxtest_run_suite(Suite *s);

#endif
