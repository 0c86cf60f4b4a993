/* fx/graph.h - the graph IR and its executor.
 *
 * A graph holds named values (inputs and node outputs), nodes (an op, its
 * attributes, named inputs, its parameters, its YAML position), parameters
 * (shared between nodes by name) and weighted losses. Build it with the
 * calls below (the YAML loader uses exactly these), then plan it for a
 * batch size, mode and backend, then run forward/backward.
 *
 * Value names: a node's first output is named after the node; output k is
 * also "node:k", and "node.<output name>" when the op names its outputs.
 * Parameter names: "node.weight", unless the node shares another node's
 * parameters ("share: other" uses "other.weight"). */
#ifndef FX_GRAPH_H
#define FX_GRAPH_H

#include "fx/op.h"
#include "fx/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_graph fx_graph;

/* Position in a source file (1-based); file may be NULL for graphs built in
 * code. The graph copies the file name. */
typedef struct fx_srcpos {
    const char *file;
    int line, col;
} fx_srcpos;

/* An attribute as written by the user: a scalar (n_items 1, is_list 0) or
 * a list of scalars, all as text; the op's schema gives the type. */
typedef struct fx_attr_input {
    const char *key;
    const char *const *items;
    int n_items;
    int is_list;
    fx_srcpos pos;
} fx_attr_input;

typedef struct fx_node_desc {
    const char *name;          /* unique; NULL = "<op><index>" */
    const char *op;
    const char *const *inputs; /* value names */
    int n_inputs;
    const fx_attr_input *attrs;
    int n_attrs;
    const char *share;         /* use this node's parameters; NULL = own */
    const char *init;          /* initialiser of the first learnable param; NULL = default */
    fx_srcpos pos;
    /* Binds parameter slots of this node to existing parameters by name
     * (slot bind_slot[i] of the op, e.g. "weight", uses parameter
     * bind_param[i], e.g. "k5.weight"): ties parameters across different
     * ops, as a loss on a conv's weights needs. */
    int n_bind;
    const char *bind_slot[FX_MAX_PARAMS];
    const char *bind_param[FX_MAX_PARAMS];
} fx_node_desc;

fx_status fx_graph_create(fx_context *ctx, const char *name, fx_graph **out);
void fx_graph_destroy(fx_graph *g);
fx_context *fx_graph_context(const fx_graph *g);
const char *fx_graph_name(const fx_graph *g);

/* Declares an input. `shape` is per example (without the batch dim). */
fx_status fx_graph_add_input(fx_graph *g, const char *name, fx_dtype dtype, const fx_shape *shape,
                             fx_srcpos pos);
fx_status fx_graph_add_node(fx_graph *g, const fx_node_desc *desc);
/* Lets `alias` stand for value `value_name` in every lookup by name
 * (fx_graph_value, fx_graph_keep, ...): the YAML loader makes a block
 * instance's name stand for the block's output. */
fx_status fx_graph_add_alias(fx_graph *g, const char *alias, const char *value_name);
/* Writes up to `max` value names (aliases included) closest to `name`
 * (edit distance, then shared prefix) into buf, comma-separated; for
 * "did you mean" messages. */
void fx_graph_close_value_names(const fx_graph *g, const char *name, int max, char *buf, size_t size);
/* Marks node `node_name`'s output 0 (a scalar) as a loss with `weight`. */
fx_status fx_graph_add_loss(fx_graph *g, const char *node_name, float weight, fx_srcpos pos);
/* Default initialiser for params whose spec has init_group `group`
 * ("conv", "linear", "bn"): graph-level `params: {init: {conv: ...}}`. */
fx_status fx_graph_set_init_group(fx_graph *g, const char *group, const char *init, fx_srcpos pos);
/* After the layers are added: every group set above must be the group of
 * some parameter of the graph (a misspelt `lineaR:` would otherwise change
 * nothing); the error names the group's position and the groups in use. */
fx_status fx_graph_check_init_groups(fx_graph *g);

/* Checks names, op attributes and shapes for batch size 1 without
 * allocating. Called by the loader; errors carry YAML positions. */
fx_status fx_graph_check(fx_graph *g);

typedef enum fx_mode { FX_MODE_TRAIN = 0, FX_MODE_INFER = 1 } fx_mode;

/* Before planning: value (input) `name` needs a gradient, or must be kept
 * readable after forward in inference mode. */
fx_status fx_graph_require_grad(fx_graph *g, const char *name);
fx_status fx_graph_keep(fx_graph *g, const char *name);

/* Infers shapes for `batch`, places every node on `backend`, allocates
 * values, gradients (training) or a reused arena (inference), and
 * initialises parameters on first planning (seeded). Re-planning with a
 * different batch keeps parameter values. */
fx_status fx_graph_plan(fx_graph *g, int64_t batch, fx_mode mode, fx_backend *backend);
int64_t fx_graph_batch(const fx_graph *g);
/* Allows planning to place a node whose op has no kernel on the requested
 * backend on `fallback` instead (normally the CPU), inserting the copies
 * between the two. NULL (the default) makes a missing kernel an error. */
void fx_graph_set_fallback(fx_graph *g, fx_backend *fallback);
/* Nodes the last plan placed on the fallback, and where a node runs. */
int fx_graph_fallback_count(const fx_graph *g);
const char *fx_node_backend_name(const fx_node *node);
/* 1 when the last plan placed `node` on the fallback backend, not on the
 * backend the graph was planned for (fx_graph_set_fallback). */
int fx_node_on_fallback(const fx_node *node);

/* Executes. forward() runs all nodes (training) or those needed by kept
 * values (inference). backward() zeroes gradients, seeds each loss with its
 * weight (plus any fx_graph_seed_grad), and runs backward kernels in
 * reverse order, accumulating parameter gradients. */
fx_status fx_graph_forward(fx_graph *g);
fx_status fx_graph_backward(fx_graph *g);
/* Called by backward once per parameter with a gradient (index as in
 * fx_graph_param_at) as soon as that gradient is final: after the last
 * node in backward order that uses the parameter, so a data-parallel
 * all-reduce can start while backward goes on (docs/scaling.md). A
 * non-OK return ends the backward with that status. NULL (the default):
 * nothing is called. */
typedef fx_status (*fx_grad_final_fn)(void *user, int param);
void fx_graph_set_grad_final(fx_graph *g, fx_grad_final_fn fn, void *user);
/* Adds `host` (numel floats) as the gradient of value `name` at the start
 * of the next backward (used by gradient checks and `fxrun run`). Seeds
 * add up until that backward uses them; a value without a gradient in the
 * plan (nothing learnable depends on it) ignores its seed, and planning
 * again drops the seeds given under the old plan. */
fx_status fx_graph_seed_grad(fx_graph *g, const char *name, const float *host);
/* Step counter: changes dropout masks etc. (seed = f(graph seed, step, node)). */
void fx_graph_set_step(fx_graph *g, uint64_t step);
/* Runs a training plan's forward as in inference (BN running statistics,
 * no dropout) while training is 0; backward then is an error. Lets
 * evaluation reuse the training plan's buffers. */
void fx_graph_set_training(fx_graph *g, int training);
void fx_graph_set_seed(fx_graph *g, uint64_t seed);
/* What fx_graph_set_seed and fx_graph_set_step last set (a checkpoint or a
 * replay of the training stream records them). */
uint64_t fx_graph_seed(const fx_graph *g);
uint64_t fx_graph_step(const fx_graph *g);
/* The seed node `node` (index as in fx_graph_node_at) draws its random
 * numbers from at the current step (dropout masks: element i is kept iff
 * fx_rng_uniform(seed, i) >= rate), so a program can reproduce them. */
uint64_t fx_graph_node_seed(const fx_graph *g, int node);
/* 1 once fx_graph_plan has succeeded, until the graph is planned again or
 * destroyed; 0 before (and after a failed plan). */
int fx_graph_is_planned(const fx_graph *g);

/* Per-node timing: when on, forward/backward accumulate each node's wall
 * time (synchronising the backend after every node, so only for
 * profiling). fx_graph_node_time returns milliseconds summed since the
 * last reset. */
void fx_graph_set_profiling(fx_graph *g, int on);
void fx_graph_reset_profile(fx_graph *g);
void fx_graph_node_time(const fx_graph *g, int node, double *forward_ms, double *backward_ms);

/* Lookup after planning. NULL if unknown (no error recorded). */
fx_tensor *fx_graph_value(fx_graph *g, const char *name);
fx_tensor *fx_graph_value_grad(fx_graph *g, const char *name);

/* Inputs, nodes, losses, parameters. */
int fx_graph_input_count(const fx_graph *g);
const char *fx_graph_input_name(const fx_graph *g, int i);
fx_dtype fx_graph_input_dtype(const fx_graph *g, int i);
fx_shape fx_graph_input_shape(const fx_graph *g, int i); /* per example */
int fx_graph_node_count(const fx_graph *g);
const fx_node *fx_graph_node_at(const fx_graph *g, int i);
const fx_node *fx_graph_find_node(const fx_graph *g, const char *name);
/* Which graph input value `name` is (aliases followed): its index for
 * fx_graph_input_name/dtype/shape, or -1 when no input has that name (the
 * name is unknown, or a node computes that value). */
int fx_graph_input_index(const fx_graph *g, const char *name);
/* The node that computes value `name` (aliases followed); NULL when `name`
 * is a graph input or unknown. Lets a program name the layer behind a
 * value in its messages, or tell computed values from inputs. */
const fx_node *fx_graph_value_producer(const fx_graph *g, const char *name);
/* The full shape (batch first) of value `name` under the current plan:
 * 1 and *out set, or 0 when the name is unknown or nothing is planned.
 * It reads the plan only, never the value's buffer (which a plan may not
 * keep, or may share with other values: fx_graph_set_memory_reuse). */
int fx_graph_value_shape(const fx_graph *g, const char *name, fx_shape *out);
/* At most this many losses per graph (fx_graph_add_loss refuses more): a
 * program may size per-loss arrays with it. */
#define FX_GRAPH_MAX_LOSSES 32
int fx_graph_loss_count(const fx_graph *g);
const char *fx_graph_loss_name(const fx_graph *g, int i);
float fx_graph_loss_weight(const fx_graph *g, int i);
/* Reads loss i's value (after forward; syncs the backend). */
fx_status fx_graph_loss_value(fx_graph *g, int i, float *value);
/* Weighted sum of all losses. */
fx_status fx_graph_loss_total(fx_graph *g, float *value);

typedef struct fx_param {
    const char *name;
    int learnable;
    fx_tensor *value;
    fx_tensor *grad;  /* NULL unless learnable and planned for training */
    int absent;       /* 1: the layer does not use it (conv/linear `bias: false`); value is NULL */
} fx_param;
int fx_graph_param_count(const fx_graph *g);
fx_param fx_graph_param_at(fx_graph *g, int i);
fx_param *fx_graph_find_param(fx_graph *g, const char *name, fx_param *out);
/* Total learnable elements. */
int64_t fx_graph_param_numel(const fx_graph *g);
/* Bytes of the buffers the current plan holds: values (activations or the
 * inference arena, inputs, cross-backend copies), their gradients, the
 * tensors nodes save for backward, parameters and their gradients. Not
 * counted: optimizer state and the kernels' scratch. 0 before a plan. */
int64_t fx_graph_planned_bytes(const fx_graph *g);

/* Buffer sharing in training plans (core/engine/memory_plan.c): a value's buffer
 * serves later values and gradients once its last reader, forward or
 * backward, has run; a gradient's buffer exists from its first writer's
 * backward to its producer's; elu/relu/dropout/scale run in place over an
 * input nobody reads again. Results are bit-identical to unshared buffers.
 * After a step only graph inputs, kept values (fx_graph_keep, with their
 * gradients), values nobody reads (outputs, losses) and gradients of
 * fx_graph_require_grad values stay readable. On by default; off with
 * on = 0 before fx_graph_plan, or for every plan with FX_MEMORY_REUSE=0
 * in the environment. */
void fx_graph_set_memory_reuse(fx_graph *g, int on);

/* What the current plan holds, in bytes. The peak is the busiest step of
 * forward + backward by the plan's lifetimes; the shared buffers hold the
 * values and gradients that take part in sharing (at least their share of
 * the peak: buffers are whole, not split). */
typedef struct fx_memory_report {
    int reuse;                  /* 1: this plan shares buffers */
    int64_t naive;              /* every value and gradient in its own buffer */
    int64_t peak_activations;   /* values live at the peak step */
    int64_t peak_gradients;     /* value gradients live at the peak step */
    int64_t shared;             /* the shared buffers (arena) */
    int shared_buffers;
    int64_t values;             /* every value and value gradient buffer: shared + own */
    int64_t saved;              /* tensors nodes save for backward */
    int64_t parameters;         /* parameter values (BN running statistics included) */
    int64_t parameter_gradients;
} fx_memory_report;
fx_status fx_graph_memory_report(const fx_graph *g, fx_memory_report *out);

/* Node position for messages. */
fx_srcpos fx_node_pos(const fx_node *node);

#ifdef __cplusplus
}
#endif
#endif
