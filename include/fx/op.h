/* fx/op.h - operator definitions, their attributes and kernels.
 *
 * An op definition is data: a name, an attribute schema (parsed from YAML
 * with defaults), input/output counts, the learnable parameters and saved
 * tensors it needs, and a shape function. Kernels are registered
 * separately per backend (fx_registry_add_kernel), so a plugin can add an
 * op, or add kernels for existing ops on a new backend. Built-in ops and
 * plugin ops register through the same calls; the executor knows no op by
 * name.
 *
 * Gradient convention: backward kernels ACCUMULATE (+=) into grad_in[i] and
 * param_grad[i] (a value may feed several nodes, a parameter may be shared).
 * grad_in[i] is NULL when input i needs no gradient (labels, constants). */
#ifndef FX_OP_H
#define FX_OP_H

#include <stdint.h>
#include "fx/context.h"
#include "fx/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most outputs fx_op_def.n_outputs may declare: a bound, not the size
 * of any array in a struct of this header. Shape functions and kernels
 * get outputs as pointer + count (fx_infer_call.out / out_dtype,
 * fx_kernel_call.out, grad_out) over arrays the executor keeps per node.
 * It is also the width of the input part of fx_kernel_call.grad_overwrite
 * (bits 0 .. FX_MAX_IO-1; the parameters' bits follow), so inputs from
 * FX_MAX_IO on never get the overwrite bit. */
#define FX_MAX_IO 8
/* The most inputs fx_op_def.max_inputs may declare: a sanity bound, not an
 * array size. Kernels and shape functions get inputs as pointer + count
 * (fx_kernel_call.in, fx_infer_call.in) over arrays the executor keeps
 * per node, so an op such as concat may take more than FX_MAX_IO. */
#define FX_MAX_INPUTS 4096
#define FX_MAX_PARAMS 4   /* learnable/state tensors of one node */
#define FX_MAX_AUX 4      /* saved tensors of one node */
#define FX_MAX_INTS 8     /* elements of an int-list attribute */
#define FX_NAME_MAX 64
/* Every integer attribute (sizes, strides, pads, axes, counts) lies in
 * [-FX_ATTR_INT_MAX, FX_ATTR_INT_MAX]: large enough for any real layer,
 * small enough that sums of a few of them cannot overflow int64. */
#define FX_ATTR_INT_MAX ((int64_t)1 << 24)

typedef enum fx_attr_type {
    FX_ATTR_INT = 0,
    FX_ATTR_FLOAT,
    FX_ATTR_BOOL,
    FX_ATTR_STRING,
    FX_ATTR_INTS /* list of up to FX_MAX_INTS ints; a scalar n is read as [n] */
} fx_attr_type;

/* One attribute of an op's schema. default_value is written as in YAML
 * ("1", "0.9", "true", "[1, 1]", "zeros"); NULL with required = 0 means
 * "absent" (fx_node_has_attr returns 0). */
typedef struct fx_attr_spec {
    const char *name;
    fx_attr_type type;
    int required;
    const char *default_value;
    const char *doc;
} fx_attr_spec;

/* A learnable parameter (or persistent state such as BN running mean) that
 * a node owns. Shapes come from the op's shape function. */
typedef struct fx_param_spec {
    const char *name;     /* "weight", "bias", "running_mean" */
    int learnable;        /* 1: has a gradient and is updated by the optimiser */
    const char *init;     /* default initialiser: "he_normal", "zeros", "ones", ... */
    const char *init_group; /* key in the graph's params.init map ("conv", "linear", "bn") */
} fx_param_spec;

typedef struct fx_node fx_node;

/* What a shape function sees and fills. Output, parameter and aux shapes
 * are written by the op. Inputs and outputs are pointer + count over
 * arrays the executor keeps per node (so the layout does not depend on
 * FX_MAX_IO): write out[k] and out_dtype[k] for k < n_out (= the op's
 * n_outputs); both arrays come zeroed, so out_dtype defaults to F32. Aux
 * tensors are saved from forward to backward (BN batch statistics,
 * pooling argmax, dropout mask) on the node's backend; set aux_dtype[i]
 * (default F32). */
typedef struct fx_infer_call {
    fx_context *ctx;
    const fx_node *node;
    int n_in;
    const fx_shape *in;
    const fx_dtype *in_dtype;
    int n_out;                     /* = op's n_outputs */
    fx_shape *out;                 /* n_out: the shapes to fill */
    fx_dtype *out_dtype;           /* n_out; default F32 */
    int n_params;                  /* = op's n_params */
    fx_shape param[FX_MAX_PARAMS]; /* in: the shape already known for a shared or bound parameter
                                    * (ndim 0 when not yet known); out: the shape the op needs */
    int n_aux;
    fx_shape aux[FX_MAX_AUX];
    fx_dtype aux_dtype[FX_MAX_AUX];
} fx_infer_call;

typedef fx_status (*fx_infer_fn)(fx_infer_call *call);

typedef enum fx_op_flags {
    FX_OP_LOSS = 1u << 0,          /* output 0 is a scalar loss [1] */
    FX_OP_NO_BACKWARD = 1u << 1,   /* op has no gradient (metrics, argmax) */
    FX_OP_INPLACE_OK = 1u << 2,    /* forward may run with out == in (elementwise, one input, one output) */
    /* What the backward kernels (on every backend) leave unread, so a
     * training plan may reuse those buffers before the node's backward
     * runs (core/engine/memory_plan.c). Shapes stay readable; values do not.
     * Without these flags every input and output is kept for backward. */
    FX_OP_BACKWARD_NO_INPUT = 1u << 3,  /* backward reads no input's values */
    FX_OP_BACKWARD_NO_OUTPUT = 1u << 4  /* backward reads no output's values */
} fx_op_flags;

typedef struct fx_op_def {
    const char *name;
    const char *doc;          /* one line, shown by `fxrun ops` */
    int min_inputs, max_inputs; /* max_inputs <= FX_MAX_INPUTS */
    const char *const *input_names; /* optional, for docs/errors */
    int n_outputs;            /* 1 .. FX_MAX_IO */
    const fx_attr_spec *attrs;
    int n_attrs;
    const fx_param_spec *params;
    int n_params;
    fx_infer_fn infer;
    unsigned flags;
} fx_op_def;

/* Everything a kernel sees. Arrays have the counts given; grad_in and
 * grad_out are NULL in forward. */
typedef struct fx_kernel_call {
    fx_context *ctx;
    const fx_node *node;
    fx_backend *backend;
    int training;               /* 1 in training mode (BN batch stats, dropout on) */
    uint64_t seed;              /* per node and step: for dropout and friends */
    int n_in;
    fx_tensor *const *in;
    int n_out;
    fx_tensor *const *out;
    int n_params;
    fx_tensor *const *param;
    fx_tensor *const *param_grad; /* backward; NULL entries for non-learnable */
    int n_aux;
    fx_tensor *const *aux;
    fx_tensor *const *grad_out;   /* backward */
    fx_tensor *const *grad_in;    /* backward; NULL entries where not needed */
    /* ---- appended fields: zero when the caller predates them --------- */
    void *state;                  /* what the kernel's prepare (fx_kernel_info) stored for this
                                   * node at planning; NULL when it has none or the call is not
                                   * from a plan: kernels must then work it out themselves */
    fx_tensor *workspace;         /* the node's device workspace of the bytes prepare asked for,
                                   * allocated once per plan; NULL when none */
    unsigned grad_overwrite;      /* backward of an FX_KERNEL_GRAD_OVERWRITE kernel: bit i set:
                                   * grad_in[i] holds garbage, WRITE it (every element) instead of
                                   * adding; bit FX_GRAD_OVERWRITE_PARAM(k): the same for
                                   * param_grad[k]. 0: accumulate, as always */
} fx_kernel_call;

/* Inputs from FX_MAX_IO on never get the overwrite bit (the mask has
 * FX_MAX_IO input bits): the executor zeroes their gradients instead. */
#define FX_GRAD_OVERWRITE_PARAM(k) (1u << (FX_MAX_IO + (k)))
/* 1 when the call asks to overwrite grad_in[i] (param_grad[k]). */
#define FX_GRAD_OVERWRITE_IN(call, i) (((call)->grad_overwrite >> (i)) & 1u)
#define FX_GRAD_OVERWRITE_P(call, k) (((call)->grad_overwrite >> (FX_MAX_IO + (k))) & 1u)

typedef fx_status (*fx_kernel_fn)(const fx_kernel_call *call);

/* ---- kernel extras: plan-time state and first-writer gradients ------- */

/* What a kernel's prepare step sees at planning time (once per plan and
 * node, after shapes and buffers are known) and fills. */
typedef struct fx_kernel_prepare_call {
    size_t struct_size;           /* sizeof as fx was compiled */
    fx_context *ctx;
    const fx_node *node;
    fx_backend *backend;
    int training;                 /* planned for training */
    int n_in;
    const fx_shape *in;
    int n_out;
    const fx_shape *out;
    /* out: the node's state (resolved geometry, kernel handles, tables),
     * handed to every launch as call->state and to release with the plan */
    void *state;
    /* out: device bytes the kernels need across launches; the executor
     * allocates them once per plan (call->workspace) */
    size_t workspace_bytes;
} fx_kernel_prepare_call;

typedef fx_status (*fx_kernel_prepare_fn)(fx_kernel_prepare_call *call);
typedef void (*fx_kernel_release_fn)(fx_backend *be, void *state);

/* The backward kernel honours fx_kernel_call.grad_overwrite: the executor
 * then lets the first writer of a gradient write it instead of zeroing
 * every gradient before each backward. */
#define FX_KERNEL_GRAD_OVERWRITE (1u << 0)

typedef struct fx_kernel_info {
    size_t struct_size;           /* sizeof(fx_kernel_info) as the caller compiled it */
    unsigned flags;               /* FX_KERNEL_* */
    fx_kernel_prepare_fn prepare; /* optional */
    fx_kernel_release_fn release; /* frees prepare's state (optional) */
} fx_kernel_info;

/* Sets the extras of a registered kernel (op, backend). */
fx_status fx_registry_set_kernel_info(fx_registry *reg, const char *op_name, const char *backend_name,
                                      const fx_kernel_info *info);
/* Fills *info (zero extras when the kernel has none); 0 when there is no
 * such kernel. */
int fx_registry_find_kernel_info(const fx_registry *reg, const char *op_name, const char *backend_name,
                                 fx_kernel_info *info);

/* Registry: ops by name, kernels by (op, backend name). */
fx_status fx_registry_add_op(fx_registry *reg, const fx_op_def *def);
fx_status fx_registry_add_kernel(fx_registry *reg, const char *op_name, const char *backend_name,
                                 fx_kernel_fn forward, fx_kernel_fn backward);
const fx_op_def *fx_registry_find_op(const fx_registry *reg, const char *name);
int fx_registry_find_kernel(const fx_registry *reg, const char *op_name, const char *backend_name,
                            fx_kernel_fn *forward, fx_kernel_fn *backward);
int fx_registry_op_count(const fx_registry *reg);
const fx_op_def *fx_registry_op_at(const fx_registry *reg, int index);

/* Node accessors for shape functions and kernels. Attributes are always
 * present when the schema gives a default; asking for an attribute the
 * schema lacks is a programming error and returns 0/NULL. */
const char *fx_node_name(const fx_node *node);
const char *fx_node_op_name(const fx_node *node);
/* "file:line:col: node 'name' (op)" (the place only when the node has
 * one), as fx_node_fail starts its messages, written into buf; returns
 * buf. For errors reported later than the call that knows the node. */
const char *fx_node_where(const fx_node *node, char *buf, size_t size);
/* The node's inputs in order: their count, and the name of input i (a
 * graph input or an earlier node's output; NULL when i is out of range).
 * For programs that walk a graph, e.g. to find a loss's class scores. */
int fx_node_input_count(const fx_node *node);
const char *fx_node_input_name(const fx_node *node, int i);
int fx_node_has_attr(const fx_node *node, const char *key);
int64_t fx_node_attr_int(const fx_node *node, const char *key);
double fx_node_attr_float(const fx_node *node, const char *key);
int fx_node_attr_bool(const fx_node *node, const char *key);
const char *fx_node_attr_string(const fx_node *node, const char *key);
/* Copies up to `max` ints into out; returns the count. */
int fx_node_attr_ints(const fx_node *node, const char *key, int64_t *out, int max);

/* Records an error about a node, prefixed with its YAML position, name and
 * op: "net.yaml:12:5: node 'c1' (conv2d): <message>". Returns status. */
fx_status fx_node_fail(fx_context *ctx, const fx_node *node, fx_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
