/* core/internal.h - private structures of the core (context, registry,
 * graph). Not installed; backends and ops use the public headers. */
#ifndef FX_CORE_INTERNAL_H
#define FX_CORE_INTERNAL_H

/* The training layer (every .c file of core/train/, FX_PUBLIC_API_ONLY_SOURCES in
 * CMakeLists.txt) is built with FX_PUBLIC_API_ONLY: it must not see these
 * structures (docs/design.md, "Source tree"). */
#ifdef FX_PUBLIC_API_ONLY
#error "core/train/ uses only the public API (include/fx), not core/internal.h: add a documented accessor to include/fx/*.h (docs/design.md, Source tree)"
#endif

#include <stdio.h>

#include "fx/fx.h"

#define FX_ERROR_MAX 4096
#define FX_OP_MAX_ATTRS 32 /* attributes of one op (fx_node.attrs) */

typedef struct fx_kernel_entry {
    char op[FX_NAME_MAX];
    char backend[32];
    fx_kernel_fn forward, backward;
    fx_kernel_info info;  /* extras (fx_registry_set_kernel_info); zero when none */
} fx_kernel_entry;

/* An optimiser's update kernel on one backend (fx/optim.h). */
typedef struct fx_optim_kernel_entry {
    char name[FX_NAME_MAX];
    char backend[32];
    fx_optim_kernel_fn update;
} fx_optim_kernel_entry;

struct fx_registry {
    const fx_op_def **ops;
    int n_ops, cap_ops;
    fx_kernel_entry *kernels;
    int n_kernels, cap_kernels;
    /* Optimisers and their kernels (fx/optim.h), like ops and kernels:
     * append-only, so a refused plugin's transaction cuts them back. */
    const fx_optimizer_def **optimizers;
    int n_optimizers, cap_optimizers;
    fx_optim_kernel_entry *optim_kernels;
    int n_optim_kernels, cap_optim_kernels;
};

/* fault.c: FX_FAULT injection (tests): the Nth event of a kind fails
 * (fx_fault_kind and fx_fault_hit are public: include/fx/context.h). */
typedef struct fx_fault {
    int64_t at[FX_FAULT_KINDS];    /* fail the at-th event; 0 = never */
    int64_t count[FX_FAULT_KINDS]; /* events so far */
} fx_fault;
void fx_fault_init(fx_context *ctx);

/* One row of the context's backend table (core/engine/backend_table.c). The
 * strings are owned (heap), so pointers to them stay valid when the
 * table grows; reg.name and reg.description point at them. */
typedef struct fx_backend_entry {
    fx_backend_registration reg;
    char *name, *doc;
    const char *plugin;   /* manifest name of the plugin or module that added it, "" if none */
} fx_backend_entry;

struct fx_plugin_record; /* core/engine/plugin.c */

struct fx_context {
    fx_context_options options;
    char error[FX_ERROR_MAX];
    int has_error;
    fx_registry registry;
    fx_backend *cpu;
    fx_fault fault;
    /* The backend table: the CPU backend's record first, then what the
     * program, plugins and backend modules add. */
    fx_backend_entry *backends;
    int n_backends, cap_backends;
    /* Loaded plugins and backend modules, in load order; unloaded last, by
     * fx_context_destroy (the registry and the backend table point into
     * them). */
    struct fx_plugin_record **plugins;
    int n_plugins, cap_plugins;
    struct fx_plugin *loading;   /* the plugin inside its fx_plugin_init, else NULL */
};

/* A parsed attribute value (typed by the op's schema). */
typedef struct fx_attr {
    const fx_attr_spec *spec;
    int present;
    int64_t i;            /* INT, BOOL */
    double f;             /* FLOAT */
    char *s;              /* STRING (owned) */
    int n_ints;
    int64_t ints[FX_MAX_INTS];
    fx_srcpos pos;
} fx_attr;

typedef struct fx_value {
    char name[FX_NAME_MAX];
    int producer;         /* node index, -1 for graph inputs */
    int producer_output;
    fx_dtype dtype;
    fx_shape shape;       /* full shape (with batch) after planning */
    fx_tensor tensor;
    fx_tensor grad;       /* allocated when needs_grad in training */
    int needs_grad;
    int keep;             /* inference: keep readable after forward (fx_graph_keep) */
    int auto_keep;        /* kept by this inference plan only (a graph output); cleared with the plan */
    int require_grad;     /* user asked for its gradient */
    int last_use;         /* inference arena: last node index reading it */
    float *seed;          /* pending seeded gradient (host, owned) */
    fx_backend *home;     /* backend holding tensor and grad (producer's) */
    fx_tensor mirror;     /* copy on the other backend, when a consumer runs there */
    fx_tensor mirror_grad;/* that consumer's gradient contribution, added home after it runs */
    int pooled;           /* training: tensor lives in a shared arena buffer (memory_plan.c) */
    int grad_pooled;      /* training: grad lives in a shared arena buffer */
    int grad_open;        /* training, grad_pooled: the node before whose backward grad is zeroed
                           * (and seeded); n_nodes = at the start of backward */
    int grad_fresh;       /* backward: grad holds garbage; its first writer initialises it */
} fx_value;

typedef struct fx_graph_param {
    char name[FX_NAME_MAX * 2];
    int learnable;
    char init[64];        /* initialiser spec */
    fx_shape shape;
    int shape_known;
    fx_tensor value, grad;
    int initialised;
    int owner_node;
    int grad_fresh;       /* backward: grad holds garbage; its first writer initialises it */
} fx_graph_param;

struct fx_node {
    char name[FX_NAME_MAX];
    const fx_op_def *op;
    fx_graph *graph;
    fx_attr attrs[FX_OP_MAX_ATTRS];
    int n_attrs;
    int n_in, n_out;
    int *in;                   /* n_in value indices (heap: an op may take any number of inputs) */
    /* The executor's per-input arrays (n_in each) and per-output arrays
     * (n_out each), allocated with the node so that planning and every
     * launch reuse them: no fixed bound on inputs, no fixed-size output
     * array in a public struct, and no allocation per launch
     * (fx_infer_call.in / out / out_dtype, fx_kernel_call.in / grad_in
     * point at them). */
    fx_shape *in_shapes;
    fx_dtype *in_dtypes;
    fx_tensor **in_tensors, **in_grads;
    fx_shape *out_shapes;
    fx_dtype *out_dtypes;
    int out[FX_MAX_IO];
    int param[FX_MAX_PARAMS];  /* indices into graph params */
    int n_aux;
    fx_tensor aux[FX_MAX_AUX];
    fx_shape aux_shape[FX_MAX_AUX];
    fx_dtype aux_dtype[FX_MAX_AUX];
    fx_srcpos pos;
    char share[FX_NAME_MAX];
    char init[64];
    fx_backend *backend;
    fx_kernel_fn forward, backward;
    fx_kernel_info kinfo;  /* the kernel's extras, found with it at planning */
    void *state;           /* prepared at planning (kinfo.prepare), released with the plan */
    fx_tensor workspace;   /* the bytes prepare asked for, allocated once per plan */
    int needed;            /* inference: contributes to a kept value */
    double time_fwd, time_bwd; /* profiling, seconds */
};

typedef struct fx_graph_input {
    int value;
    fx_shape shape;        /* per example */
    fx_dtype dtype;
    fx_srcpos pos;
} fx_graph_input;

typedef struct fx_graph_loss {
    int node;
    float weight;
    fx_srcpos pos;
} fx_graph_loss;

typedef struct fx_init_group {
    char group[32];
    char init[64];
    fx_srcpos pos; /* where params.init names it, for fx_graph_check_init_groups */
} fx_init_group;

struct fx_graph {
    fx_context *ctx;
    char name[FX_NAME_MAX];
    char **files;          /* interned source file names */
    int n_files;
    fx_value *values;
    int n_values, cap_values;
    fx_node *nodes;
    int n_nodes, cap_nodes;
    fx_graph_param *params;
    int n_params, cap_params;
    fx_graph_input inputs[FX_MAX_IO * 2];
    int n_inputs;
    fx_graph_loss losses[FX_GRAPH_MAX_LOSSES];
    int n_losses;
    fx_init_group init_groups[16];
    int n_init_groups;
    /* plan */
    int planned;
    fx_mode mode;
    int64_t batch;
    fx_backend *backend;
    fx_buffer **arena;     /* buffers shared between values (inference) or values and gradients (training) */
    int n_arena;
    int memory_reuse_off;  /* fx_graph_set_memory_reuse(g, 0) */
    int grad_overwrite;    /* this plan lets first writers overwrite gradients (FX_GRAD_OVERWRITE) */
    fx_memory_report memory; /* training plans: filled by fx_memory_plan_training */
    uint64_t seed, step;
    int eval_only;         /* training plan run as inference */
    int profiling;
    fx_backend *fallback;  /* where ops without a kernel on `backend` may run */
    char (*aliases)[2][FX_NAME_MAX]; /* {alias, value name}: block instance names (fx_graph_add_alias) */
    int n_aliases, cap_aliases;
    int n_fallback;        /* nodes placed on the fallback in this plan */
    struct fx_comm *batch_comm; /* data parallel: BN statistics reduced over it (fx/comm.h); NULL = local */
    int64_t batch_offset;  /* data parallel: examples of the global batch before this rank's */
    fx_status (*grad_final)(void *user, int param); /* fx_graph_set_grad_final; NULL = none */
    void *grad_final_user;
};

/* attr.c */
fx_status fx_attr_parse(fx_context *ctx, const fx_attr_spec *spec, const char *const *items, int n_items,
                        int is_list, fx_srcpos pos, fx_attr *out);
void fx_attr_free(fx_attr *a);
int fx_graph_find_value(const fx_graph *g, const char *name);
fx_status fx_attr_parse_default(fx_context *ctx, const fx_attr_spec *spec, fx_attr *out);
/* registry.c */
void fx_registry_init(fx_registry *reg);
void fx_registry_free(fx_registry *reg);
/* The count checks of an op definition (outputs, inputs, parameters,
 * attributes), each refusal naming the count and its bound: shared by
 * fx_registry_add_op and a plugin's op override. */
fx_status fx_op_def_check_counts(fx_context *ctx, const fx_op_def *def);
/* builtin registration (core/ops/builtin_ops.c, backends/cpu/cpu_kernels.c) */
/* init.c: checks an initialiser spec without drawing anything. */
fx_status fx_init_check(fx_context *ctx, const char *spec, const char *param_name);
fx_status fx_register_builtin_ops(fx_registry *reg);
/* core/ops/optimizers.c: the definitions of "sgd" and "adam". */
fx_status fx_register_builtin_optimizers(fx_registry *reg);
fx_status fx_cpu_backend_create(fx_context *ctx, fx_backend **out);
fx_status fx_cpu_register_kernels(fx_registry *reg);
const fx_backend_registration *fx_cpu_backend_registration(void);
/* backend_table.c */
void fx_backend_table_free(fx_context *ctx);
/* Cuts the table back to n entries (a refused plugin's transaction). */
void fx_backend_table_truncate(fx_context *ctx, int n);
/* plugin.c */
void fx_plugins_unload(fx_context *ctx);
/* The folder of the running executable ("" if unknown). */
void fx_exe_dir(char *out, size_t size);
/* The manifest name of the plugin being initialised ("" outside one). */
const char *fx_plugin_loading_name(const fx_context *ctx);
/* Kernels in the registry before the loading plugin's init (-1 outside
 * one): a plugin may give extras only to kernels it registered, which
 * its rollback removes. */
int fx_plugin_loading_kernels0(const fx_context *ctx);
/* init.c: fills a host array for an initialiser spec. */
fx_status fx_init_fill(fx_context *ctx, const char *spec, const fx_shape *shape, fx_rng *rng, float *out,
                       const char *param_name);

/* host_file.c (fx_host_is_little_endian, fx_sync_parent_dir and
 * fx_read_whole_file are public: include/fx/file.h). Finishes a file written through f to `tmp` in place of `path`: unless
 * `what` already names a step that failed (with errno `err`), flushes,
 * fsyncs, closes and renames it over `path`, then syncs the folder. On any
 * failure removes tmp and fails with "path: cannot <what> [noun]: <detail,
 * else strerror(err)>". Always closes f. Every atomic writer ends with it
 * (fx_file_write_atomic, .npy, PNG). */
fx_status fx_file_commit(fx_context *ctx, FILE *f, const char *tmp, const char *path, const char *what, int err,
                         const char *noun, const char *detail);
/* Opens `path` for reading only when it is a regular file, without ever
 * blocking (a FIFO or a device would make a plain open or read wait
 * forever). Returns the descriptor (or FILE *), or -1 (NULL) with *why
 * set to what the path really is ("a folder", "a FIFO (named pipe)", ...)
 * or to strerror(errno). */
int fx_open_regular(const char *path, const char **why);
FILE *fx_fopen_regular(const char *path, const char **why);

/* memory_plan.c: allocates a training plan's values and value gradients,
 * sharing buffers between lifetimes that do not overlap unless reuse is
 * off (fx_graph_set_memory_reuse, FX_MEMORY_REUSE=0). Needs needs_grad
 * and node backends set; the buffers go to g->arena. */
fx_status fx_memory_plan_training(fx_graph *g);
/* executor.c: FX_GRAD_OVERWRITE (first-writer gradients) is not "0". */
int fx_grad_overwrite_enabled(void);
int fx_memory_reuse_enabled(const fx_graph *g);

/* Formats "file:line:col" (or "" when no file) into buf. */
const char *fx_srcpos_str(fx_srcpos pos, char *buf, size_t size);

#endif
