/* core/engine/executor.c - shape inference, planning (placement, allocation,
 * parameter initialisation) and execution (forward, backward).
 *
 * Training plans give every value its own buffer and a gradient buffer
 * when it needs one; forward keeps everything backward reads. Inference
 * plans run only the nodes that feed a kept value and reuse buffers: a
 * value's buffer returns to a free list after its last reader runs, and
 * later outputs take the smallest free buffer that fits (best fit). */
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"

static void free_tensor(fx_tensor *t)
{
    if (t->buffer)
        t->buffer->backend->ops->buffer_free(t->buffer->backend, t->buffer);
    t->buffer = NULL;
}

void fx_graph_release_plan(fx_graph *g)
{
    for (int i = 0; i < g->n_values; i++) {
        fx_value *v = &g->values[i];
        if ((g->mode == FX_MODE_INFER && g->planned && v->producer >= 0) || v->pooled)
            v->tensor.buffer = NULL; /* arena-owned */
        if (v->grad_pooled)
            v->grad.buffer = NULL;
        v->pooled = v->grad_pooled = 0;
        free_tensor(&v->tensor);
        free_tensor(&v->grad);
        free_tensor(&v->mirror);
        free_tensor(&v->mirror_grad);
        if (v->auto_keep) /* the next plan decides its outputs afresh */
            v->keep = v->auto_keep = 0;
        free(v->seed); /* sized for this plan's batch */
        v->seed = NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        fx_node *node = &g->nodes[i];
        for (int a = 0; a < FX_MAX_AUX; a++)
            free_tensor(&node->aux[a]);
        free_tensor(&node->workspace);
        if (node->state && node->kinfo.release)
            node->kinfo.release(node->backend, node->state);
        node->state = NULL;
    }
    for (int i = 0; i < g->n_arena; i++)
        g->arena[i]->backend->ops->buffer_free(g->arena[i]->backend, g->arena[i]);
    free(g->arena);
    g->arena = NULL;
    g->n_arena = 0;
    for (int i = 0; i < g->n_params; i++)
        free_tensor(&g->params[i].grad);
    g->planned = 0;
}

/* A shape a shape function produced: its dimensions must be in range and
 * its element count must fit FX_NUMEL_MAX, so that byte counts computed
 * from it later (allocation, copies) cannot overflow. */
static fx_status check_size(fx_context *ctx, const fx_node *node, const char *what, int k, const fx_shape *s)
{
    if (s->ndim < 0 || s->ndim > FX_MAX_DIMS)
        return fx_node_fail(ctx, node, FX_ERR_INTERNAL, "%s %d has %d dimensions", what, k, s->ndim);
    for (int d = 0; d < s->ndim; d++)
        if (s->dim[d] < 0)
            return fx_node_fail(ctx, node, FX_ERR_SHAPE, "%s %d would have a negative size (%lld); check the "
                                "size attributes", what, k, (long long)s->dim[d]);
    if (fx_shape_numel(s) < 0) {
        char b[160];
        return fx_node_fail(ctx, node, FX_ERR_SHAPE, "%s %d is too large: %s is more than %lld elements; check the "
                            "size attributes", what, k, fx_shape_str(s, b, sizeof b), (long long)FX_NUMEL_MAX);
    }
    return FX_OK;
}

/* Shape inference for `batch`: fills value shapes and dtypes, parameter
 * shapes (checking shared ones agree) and aux shapes. */
static fx_status infer_shapes(fx_graph *g, int64_t batch)
{
    fx_context *ctx = g->ctx;
    for (int i = 0; i < g->n_inputs; i++) {
        fx_graph_input *in = &g->inputs[i];
        fx_value *v = &g->values[in->value];
        v->shape.ndim = in->shape.ndim + 1;
        v->shape.dim[0] = batch;
        for (int d = 0; d < in->shape.ndim; d++)
            v->shape.dim[d + 1] = in->shape.dim[d];
        v->dtype = in->dtype;
    }
    for (int i = 0; i < g->n_params; i++)
        g->params[i].shape_known = g->params[i].value.buffer != NULL;
    for (int n = 0; n < g->n_nodes; n++) {
        fx_node *node = &g->nodes[n];
        fx_shape *in_shapes = node->in_shapes; /* n_in each, allocated with the node */
        fx_dtype *in_dtypes = node->in_dtypes;
        for (int i = 0; i < node->n_in; i++) {
            in_shapes[i] = g->values[node->in[i]].shape;
            in_dtypes[i] = g->values[node->in[i]].dtype;
        }
        fx_infer_call call;
        memset(&call, 0, sizeof call);
        call.ctx = ctx;
        call.node = node;
        call.n_in = node->n_in;
        call.in = in_shapes;
        call.in_dtype = in_dtypes;
        /* Outputs: the node's arrays (n_out each), zeroed so that an op
         * that sets no dtype gets F32 and a forgotten shape is caught below. */
        memset(node->out_shapes, 0, (size_t)node->n_out * sizeof *node->out_shapes);
        memset(node->out_dtypes, 0, (size_t)node->n_out * sizeof *node->out_dtypes);
        call.n_out = node->n_out;
        call.out = node->out_shapes;
        call.out_dtype = node->out_dtypes;
        call.n_params = node->op->n_params;
        /* Known parameter shapes (shared or bound parameters) are given to
         * the shape function, which may keep or check them. */
        for (int k = 0; k < node->op->n_params; k++)
            if (g->params[node->param[k]].shape_known)
                call.param[k] = g->params[node->param[k]].shape;
        fx_status st = node->op->infer(&call);
        if (st != FX_OK) {
            if (!ctx->has_error || !ctx->error[0])
                fx_node_fail(ctx, node, st, "shape inference failed");
            return st;
        }
        for (int k = 0; k < node->n_out; k++) {
            fx_value *v = &g->values[node->out[k]];
            if (call.out[k].ndim < 1 || call.out[k].ndim > FX_MAX_DIMS)
                return fx_node_fail(ctx, node, FX_ERR_INTERNAL, "output %d has %d dimensions", k, call.out[k].ndim);
            st = check_size(ctx, node, "output", k, &call.out[k]);
            if (st != FX_OK)
                return st;
            if (fx_shape_numel(&call.out[k]) < 1)
                return fx_node_fail(ctx, node, FX_ERR_SHAPE, "output %d would be empty; check the input size, "
                                    "kernel, stride and padding", k);
            v->shape = call.out[k];
            v->dtype = call.out_dtype[k];
        }
        if (node->op->flags & FX_OP_LOSS) {
            fx_value *v = &g->values[node->out[0]];
            if (fx_shape_numel(&v->shape) != 1)
                return fx_node_fail(ctx, node, FX_ERR_INTERNAL, "a loss op must output one number");
        }
        for (int k = 0; k < node->op->n_params; k++) {
            fx_graph_param *p = &g->params[node->param[k]];
            char a[128], b[128];
            st = check_size(ctx, node, "parameter", k, &call.param[k]);
            if (st != FX_OK)
                return st;
            if (p->shape_known && !fx_shape_equal(&p->shape, &call.param[k]))
                return fx_node_fail(ctx, node, FX_ERR_SHAPE,
                                    "parameter '%s' has shape %s here but %s where it was created; shared "
                                    "layers need inputs of the same shape",
                                    p->name, fx_shape_str(&call.param[k], a, sizeof a),
                                    fx_shape_str(&p->shape, b, sizeof b));
            p->shape = call.param[k];
            p->shape_known = 1;
        }
        if (call.n_aux < 0 || call.n_aux > FX_MAX_AUX)
            return fx_node_fail(ctx, node, FX_ERR_INTERNAL, "too many saved tensors");
        node->n_aux = call.n_aux;
        for (int a = 0; a < call.n_aux; a++) {
            st = check_size(ctx, node, "saved tensor", a, &call.aux[a]);
            if (st != FX_OK)
                return st;
            node->aux_shape[a] = call.aux[a];
            node->aux_dtype[a] = call.aux_dtype[a];
        }
    }
    for (int i = 0; i < g->n_losses; i++) {
        fx_node *node = &g->nodes[g->losses[i].node];
        if (fx_shape_numel(&g->values[node->out[0]].shape) != 1) {
            char where[1100];
            fx_srcpos_str(g->losses[i].pos, where, sizeof where);
            return fx_fail(ctx, FX_ERR_SHAPE, "%s: loss '%s' is not a single number; losses must be scalar", where,
                           node->name);
        }
    }
    return FX_OK;
}

fx_status fx_graph_check(fx_graph *g)
{
    if (g->planned)
        return FX_OK;
    return infer_shapes(g, 1);
}

static fx_value *lookup(fx_graph *g, const char *name)
{
    int i = fx_graph_find_value(g, name);
    return i < 0 ? NULL : &g->values[i];
}

fx_status fx_graph_require_grad(fx_graph *g, const char *name)
{
    fx_value *v = lookup(g, name);
    if (!v)
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s' has no value named '%s'", g->name, name);
    v->require_grad = 1;
    return FX_OK;
}

fx_status fx_graph_keep(fx_graph *g, const char *name)
{
    fx_value *v = lookup(g, name);
    if (!v) {
        char close[512];
        fx_graph_close_value_names(g, name, 8, close, sizeof close);
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s' has no value named '%s'%s%s", g->name, name,
                       close[0] ? "; close names: " : "", close);
    }
    v->keep = 1;
    return FX_OK;
}

/* A parameter lives on the backend of the nodes that use it; nodes that
 * share it must run on one backend. */
static fx_status param_backends(fx_graph *g, fx_backend *main_be, fx_backend **where)
{
    for (int i = 0; i < g->n_params; i++)
        where[i] = NULL;
    for (int n = 0; n < g->n_nodes; n++) {
        fx_node *node = &g->nodes[n];
        for (int k = 0; k < node->op->n_params; k++) {
            int pi = node->param[k];
            if (where[pi] && where[pi] != node->backend)
                return fx_node_fail(g->ctx, node, FX_ERR_UNSUPPORTED,
                                    "parameter '%s' is shared by layers placed on backends '%s' and '%s'; a "
                                    "shared parameter must stay on one backend (drop --fallback or give the op a "
                                    "kernel on both)",
                                    g->params[pi].name, where[pi]->name, node->backend->name);
            where[pi] = node->backend;
        }
    }
    for (int i = 0; i < g->n_params; i++)
        if (!where[i])
            where[i] = main_be;
    return FX_OK;
}

/* Moves (or first creates and initialises) parameter storage onto the
 * backend of the nodes that use it. */
static fx_status place_params(fx_graph *g, fx_backend *main_be)
{
    fx_context *ctx = g->ctx;
    fx_backend **where = fx_calloc(ctx, (size_t)g->n_params + 1, sizeof *where, "parameter placement");
    if (!where)
        return FX_ERR_NOMEM;
    fx_status pst = param_backends(g, main_be, where);
    for (int i = 0; i < g->n_params && pst == FX_OK; i++) {
        fx_graph_param *p = &g->params[i];
        fx_backend *be = where[i];
        if (!p->shape_known || p->shape.ndim == 0)
            continue; /* absent (e.g. conv bias: false) or unused */
        if (p->value.buffer && p->value.buffer->backend == be)
            continue;
        float *host = fx_malloc(ctx, (size_t)fx_shape_numel(&p->shape) * sizeof(float), p->name);
        if (!host) {
            pst = FX_ERR_NOMEM;
            break;
        }
        fx_status st = FX_OK;
        if (p->value.buffer) {
            st = fx_tensor_download(&p->value, host);
            free_tensor(&p->value);
        } else {
            /* Each parameter draws from its own stream (seed, index), so
             * adding a layer does not change the others' initial values. */
            fx_rng rng;
            fx_rng_seed(&rng, fx_rng_derive(g->seed, 1000003u + (uint64_t)i));
            st = fx_init_fill(ctx, p->init, &p->shape, &rng, host, p->name);
        }
        if (st == FX_OK) {
            p->value.dtype = FX_F32;
            p->value.shape = p->shape;
            st = fx_backend_alloc_tensor(be, &p->value, p->name);
        }
        if (st == FX_OK)
            st = fx_tensor_upload(&p->value, host);
        free(host);
        if (st != FX_OK) {
            pst = st;
            break;
        }
        p->initialised = 1;
    }
    free(where);
    return pst;
}

static fx_status alloc_value(fx_graph *g, fx_backend *be, fx_tensor *t, const fx_value *v, const char *what)
{
    t->dtype = v->dtype;
    t->shape = v->shape;
    char label[FX_NAME_MAX + 32];
    snprintf(label, sizeof label, "%s '%s'", what, v->name);
    return fx_backend_alloc_tensor(be, t, label);
}

/* The tensors a node saves for its backward, on the node's backend. */
static fx_status alloc_aux(fx_node *node)
{
    fx_status st = FX_OK;
    for (int a = 0; a < node->n_aux && st == FX_OK; a++) {
        node->aux[a].dtype = node->aux_dtype[a];
        node->aux[a].shape = node->aux_shape[a];
        st = fx_backend_alloc_tensor(node->backend, &node->aux[a], "a saved tensor");
    }
    return st;
}

/* A value read by a node on another backend than its home gets a mirror
 * there (and a mirror gradient in training). With --fallback there are at
 * most two backends, so one mirror per value is enough. */
static fx_status alloc_mirrors(fx_graph *g, int training)
{
    fx_status st = FX_OK;
    for (int n = 0; n < g->n_nodes && st == FX_OK; n++) {
        fx_node *node = &g->nodes[n];
        if (!node->needed)
            continue;
        for (int i = 0; i < node->n_in && st == FX_OK; i++) {
            fx_value *v = &g->values[node->in[i]];
            if (v->home == node->backend || v->mirror.buffer)
                continue;
            st = alloc_value(g, node->backend, &v->mirror, v, "copy of");
            if (st == FX_OK && training && v->needs_grad)
                st = alloc_value(g, node->backend, &v->mirror_grad, v, "gradient copy of");
        }
    }
    return st;
}

/* Copies between backends through host memory. */
static fx_status copy_across(fx_context *ctx, fx_tensor *dst, const fx_tensor *src, int add)
{
    size_t bytes = fx_tensor_bytes(src);
    float *a = fx_malloc(ctx, bytes, "a cross-backend copy");
    float *b = add ? fx_malloc(ctx, bytes, "a cross-backend copy") : NULL;
    fx_status st = a && (!add || b) ? fx_tensor_download(src, a) : FX_ERR_NOMEM;
    if (st == FX_OK && add) {
        st = fx_tensor_download(dst, b);
        int64_t n = fx_tensor_numel(src);
        for (int64_t i = 0; st == FX_OK && i < n; i++)
            a[i] += b[i];
    }
    if (st == FX_OK)
        st = fx_tensor_upload(dst, a);
    free(a);
    free(b);
    return st;
}

/* Inference arena: best-fit reuse of released buffers. */
typedef struct arena_slot {
    fx_buffer *buf;
    int free;
} arena_slot;

static fx_status plan_inference(fx_graph *g, fx_backend *be)
{
    fx_context *ctx = g->ctx;
    int any_keep = 0;
    for (int i = 0; i < g->n_values; i++)
        any_keep |= g->values[i].keep;
    int *readers = fx_calloc(ctx, (size_t)g->n_values, sizeof(int), "the inference plan");
    if (!readers)
        return FX_ERR_NOMEM;
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++)
            readers[g->nodes[n].in[i]]++;
    if (!any_keep) /* keep the graph's outputs: values nobody reads */
        for (int i = 0; i < g->n_values; i++)
            if (g->values[i].producer >= 0 && readers[i] == 0)
                g->values[i].keep = g->values[i].auto_keep = 1;
    /* Needed nodes: reverse reachability from kept values. Nodes read
     * only earlier values, so one backward sweep marking the inputs of
     * needed nodes as wanted finds them all. */
    int *wanted = readers;
    for (int i = 0; i < g->n_values; i++)
        wanted[i] = g->values[i].keep;
    for (int n = g->n_nodes - 1; n >= 0; n--) {
        fx_node *node = &g->nodes[n];
        node->needed = 0;
        for (int k = 0; k < node->n_out; k++)
            node->needed |= wanted[node->out[k]];
        for (int i = 0; node->needed && i < node->n_in; i++)
            wanted[node->in[i]] = 1;
    }
    free(readers);
    for (int i = 0; i < g->n_values; i++)
        g->values[i].last_use = -1;
    for (int n = 0; n < g->n_nodes; n++)
        if (g->nodes[n].needed)
            for (int i = 0; i < g->nodes[n].n_in; i++)
                g->values[g->nodes[n].in[i]].last_use = n;

    int inplace = fx_memory_reuse_enabled(g); /* FX_MEMORY_REUSE=0: no outputs in place */
    arena_slot *slots = fx_calloc(ctx, (size_t)g->n_values + 1, sizeof *slots, "the inference arena");
    if (!slots)
        return FX_ERR_NOMEM;
    int n_slots = 0;
    fx_status st = FX_OK;
    for (int n = 0; n < g->n_nodes && st == FX_OK; n++) {
        fx_node *node = &g->nodes[n];
        if (!node->needed)
            continue;
        for (int k = 0; k < node->n_out && st == FX_OK; k++) {
            fx_value *v = &g->values[node->out[k]];
            size_t bytes = (size_t)fx_shape_numel(&v->shape) * fx_dtype_size(v->dtype);
            int best = -1;
            fx_backend *home = node->backend;
            v->home = home;
            /* In place (FX_OP_INPLACE_OK, one input, one output): the
             * input's buffer takes the output when this node is the input's
             * last reader (relu after conv, dropout, scale). */
            if (inplace && node->op->flags & FX_OP_INPLACE_OK && node->n_in == 1 && node->n_out == 1) {
                const fx_value *x = &g->values[node->in[0]];
                if (x->producer >= 0 && !x->keep && x->last_use == n && x->home == home && x->dtype == v->dtype &&
                    fx_shape_numel(&x->shape) == fx_shape_numel(&v->shape))
                    for (int s = 0; s < n_slots; s++)
                        if (slots[s].buf == x->tensor.buffer)
                            best = s;
            }
            int in_place = best >= 0;
            for (int s = 0; s < n_slots && !in_place; s++)
                if (slots[s].free && slots[s].buf->backend == home && slots[s].buf->size >= bytes &&
                    (best < 0 || slots[s].buf->size < slots[best].buf->size))
                    best = s;
            if (best < 0) {
                char label[FX_NAME_MAX + 32];
                snprintf(label, sizeof label, "activation '%s'", v->name);
                st = home->ops->buffer_alloc(home, bytes, label, &slots[n_slots].buf);
                if (st != FX_OK)
                    break;
                best = n_slots++;
            }
            slots[best].free = 0;
            v->tensor.dtype = v->dtype;
            v->tensor.shape = v->shape;
            v->tensor.buffer = slots[best].buf;
            v->tensor.offset = 0;
        }
        if (st == FX_OK)
            st = alloc_aux(node);
        /* Release inputs read for the last time here (not graph inputs),
         * unless an output took the buffer over (in place). */
        for (int i = 0; i < node->n_in; i++) {
            fx_value *v = &g->values[node->in[i]];
            if (v->producer < 0 || v->keep || v->last_use != n)
                continue;
            int taken = 0;
            for (int k = 0; k < node->n_out; k++)
                taken |= g->values[node->out[k]].tensor.buffer == v->tensor.buffer;
            if (taken)
                continue;
            for (int s = 0; s < n_slots; s++)
                if (slots[s].buf == v->tensor.buffer)
                    slots[s].free = 1;
        }
        /* Outputs nobody reads and nobody keeps can go at once. */
        for (int k = 0; k < node->n_out; k++) {
            fx_value *v = &g->values[node->out[k]];
            if (!v->keep && v->last_use < 0)
                for (int s = 0; s < n_slots; s++)
                    if (slots[s].buf == v->tensor.buffer)
                        slots[s].free = 1;
        }
    }
    g->arena = fx_calloc(ctx, (size_t)n_slots + 1, sizeof *g->arena, "the inference arena");
    if (!g->arena) {
        st = FX_ERR_NOMEM;
        for (int s = 0; s < n_slots; s++)
            slots[s].buf->backend->ops->buffer_free(slots[s].buf->backend, slots[s].buf);
        n_slots = 0;
    }
    for (int s = 0; s < n_slots; s++)
        g->arena[s] = slots[s].buf;
    g->n_arena = n_slots;
    free(slots);
    if (st != FX_OK)
        return st;
    /* Graph inputs get their own buffers. */
    for (int i = 0; i < g->n_inputs && st == FX_OK; i++) {
        fx_value *v = &g->values[g->inputs[i].value];
        v->home = be;
        st = alloc_value(g, be, &v->tensor, v, "input");
    }
    if (st == FX_OK)
        st = alloc_mirrors(g, 0);
    return st;
}

static fx_status plan_training(fx_graph *g, fx_backend *be)
{
    /* Which values need gradients: inputs the user asked for, and every
     * output of a node fed by one or owning a learnable parameter. */
    for (int i = 0; i < g->n_values; i++)
        g->values[i].needs_grad = g->values[i].require_grad;
    for (int n = 0; n < g->n_nodes; n++) {
        fx_node *node = &g->nodes[n];
        node->needed = 1;
        if (node->op->flags & FX_OP_NO_BACKWARD)
            continue;
        int ng = 0;
        for (int i = 0; i < node->n_in; i++)
            ng |= g->values[node->in[i]].needs_grad;
        for (int k = 0; k < node->op->n_params; k++) {
            fx_graph_param *p = &g->params[node->param[k]];
            ng |= p->learnable && p->shape.ndim > 0;
        }
        for (int k = 0; k < node->n_out; k++)
            g->values[node->out[k]].needs_grad = ng && g->values[node->out[k]].dtype == FX_F32;
        if (ng && !node->backward)
            return fx_node_fail(g->ctx, node, FX_ERR_UNSUPPORTED, "this op has no backward kernel on backend '%s'",
                                be->name);
    }
    /* Values and their gradients: core/engine/memory_plan.c. */
    fx_status st = fx_memory_plan_training(g);
    for (int n = 0; n < g->n_nodes && st == FX_OK; n++)
        st = alloc_aux(&g->nodes[n]);
    for (int i = 0; i < g->n_params && st == FX_OK; i++) {
        fx_graph_param *p = &g->params[i];
        if (!p->learnable || !p->shape_known || p->shape.ndim == 0 || !p->value.buffer)
            continue;
        p->grad.dtype = FX_F32;
        p->grad.shape = p->shape;
        char label[FX_NAME_MAX * 2 + 16];
        snprintf(label, sizeof label, "gradient of '%s'", p->name);
        st = fx_backend_alloc_tensor(p->value.buffer->backend, &p->grad, label);
    }
    if (st == FX_OK)
        st = alloc_mirrors(g, 1);
    return st;
}

/* The plan-time step of every node whose kernel has one
 * (fx_kernel_info.prepare): its state (geometry, kernel handles, tables)
 * and its workspace, made once per plan instead of once per launch, and
 * released with the plan (fx_graph_release_plan), so a re-plan at another
 * batch makes them afresh. */
static fx_status prepare_nodes(fx_graph *g)
{
    g->grad_overwrite = fx_grad_overwrite_enabled();
    for (int n = 0; n < g->n_nodes; n++) {
        fx_node *node = &g->nodes[n];
        if (!node->needed || !node->kinfo.prepare)
            continue;
        fx_shape *in = node->in_shapes, *out = node->out_shapes;
        for (int i = 0; i < node->n_in; i++)
            in[i] = g->values[node->in[i]].shape;
        for (int k = 0; k < node->n_out; k++)
            out[k] = g->values[node->out[k]].shape;
        fx_kernel_prepare_call call;
        memset(&call, 0, sizeof call);
        call.struct_size = sizeof call;
        call.ctx = g->ctx;
        call.node = node;
        call.backend = node->backend;
        call.training = g->mode == FX_MODE_TRAIN;
        call.n_in = node->n_in;
        call.in = in;
        call.n_out = node->n_out;
        call.out = out;
        fx_status st = node->kinfo.prepare(&call);
        node->state = call.state;
        if (st != FX_OK) {
            if (!g->ctx->has_error)
                fx_node_fail(g->ctx, node, st, "preparing the kernel failed");
            return st;
        }
        if (call.workspace_bytes > 0) {
            node->workspace.dtype = FX_F32;
            node->workspace.shape.ndim = 1;
            node->workspace.shape.dim[0] = (int64_t)((call.workspace_bytes + 3) / 4);
            char label[FX_NAME_MAX + 32];
            snprintf(label, sizeof label, "workspace of '%s'", node->name);
            st = fx_backend_alloc_tensor(node->backend, &node->workspace, label);
            if (st != FX_OK)
                return st;
        }
    }
    return FX_OK;
}

/* FX_GRAD_OVERWRITE=0 zeroes every gradient before each backward, as
 * before first-writer gradients (tests compare the two). */
int fx_grad_overwrite_enabled(void)
{
    const char *env = getenv("FX_GRAD_OVERWRITE");
    return !(env && !strcmp(env, "0"));
}

fx_status fx_graph_plan(fx_graph *g, int64_t batch, fx_mode mode, fx_backend *be)
{
    fx_context *ctx = g->ctx;
    if (batch < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "graph '%s': batch size must be at least 1, got %lld", g->name,
                       (long long)batch);
    if (!be)
        be = ctx->cpu;
    fx_graph_release_plan(g);
    fx_status st = infer_shapes(g, batch);
    if (st != FX_OK)
        return st;
    g->n_fallback = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        fx_node *node = &g->nodes[n];
        node->backend = be;
        if (fx_registry_find_kernel(&ctx->registry, node->op->name, be->name, &node->forward, &node->backward)) {
            fx_registry_find_kernel_info(&ctx->registry, node->op->name, be->name, &node->kinfo);
            continue;
        }
        if (g->fallback && g->fallback != be &&
            fx_registry_find_kernel(&ctx->registry, node->op->name, g->fallback->name, &node->forward,
                                    &node->backward)) {
            fx_registry_find_kernel_info(&ctx->registry, node->op->name, g->fallback->name, &node->kinfo);
            node->backend = g->fallback;
            g->n_fallback++;
            continue;
        }
        return fx_node_fail(ctx, node, FX_ERR_UNSUPPORTED, "op '%s' has no kernel for backend '%s'%s",
                            node->op->name, be->name,
                            g->fallback ? "" : "; `--fallback cpu` lets such ops run on the CPU");
    }
    st = place_params(g, be);
    if (st != FX_OK)
        return st;
    g->mode = mode;
    g->batch = batch;
    g->backend = be;
    st = mode == FX_MODE_TRAIN ? plan_training(g, be) : plan_inference(g, be);
    if (st == FX_OK)
        st = prepare_nodes(g);
    g->planned = 1; /* so release_plan knows the mode's ownership */
    if (st != FX_OK) {
        fx_graph_release_plan(g);
        return st;
    }
    return FX_OK;
}

void fx_graph_set_step(fx_graph *g, uint64_t step) { g->step = step; }
/* The random seed node n's kernels get at the current step (dropout masks):
 * a function of (graph seed, step, node index) only. */
uint64_t fx_graph_node_seed(const fx_graph *g, int n)
{
    return fx_rng_derive(fx_rng_derive(g->seed, g->step), (uint64_t)n);
}
void fx_graph_set_seed(fx_graph *g, uint64_t seed) { g->seed = seed; }
uint64_t fx_graph_seed(const fx_graph *g) { return g->seed; }
uint64_t fx_graph_step(const fx_graph *g) { return g->step; }
void fx_graph_set_fallback(fx_graph *g, fx_backend *fallback) { g->fallback = fallback; }
/* Data parallel (fx/comm.h): the BatchNorm statistics communicator and this
 * rank's first example in the global batch, read by kernels through the node. */
void fx_graph_set_data_parallel(fx_graph *g, fx_comm *stats, int64_t batch_offset)
{
    g->batch_comm = stats;
    g->batch_offset = batch_offset;
}
fx_comm *fx_node_batch_comm(const fx_node *node) { return node ? node->graph->batch_comm : NULL; }
int64_t fx_node_batch_offset(const fx_node *node) { return node ? node->graph->batch_offset : 0; }
int fx_graph_fallback_count(const fx_graph *g) { return g->n_fallback; }
const char *fx_node_backend_name(const fx_node *node) { return node->backend ? node->backend->name : ""; }
int fx_node_on_fallback(const fx_node *node) { return node->backend != node->graph->backend; }
void fx_graph_set_training(fx_graph *g, int training) { g->eval_only = !training; }
void fx_graph_set_profiling(fx_graph *g, int on) { g->profiling = on; }
void fx_graph_reset_profile(fx_graph *g)
{
    for (int n = 0; n < g->n_nodes; n++)
        g->nodes[n].time_fwd = g->nodes[n].time_bwd = 0;
}
void fx_graph_node_time(const fx_graph *g, int node, double *forward_ms, double *backward_ms)
{
    *forward_ms = node >= 0 && node < g->n_nodes ? 1e3 * g->nodes[node].time_fwd : 0;
    *backward_ms = node >= 0 && node < g->n_nodes ? 1e3 * g->nodes[node].time_bwd : 0;
}

/* 1 when input i of node is a value an earlier input already reads. */
static int read_earlier(const fx_node *node, int i)
{
    for (int j = 0; j < i; j++)
        if (node->in[j] == node->in[i])
            return 1;
    return 0;
}

static fx_status init_grads(fx_graph *g, fx_node *node, fx_tensor *const *gin, fx_tensor *const *pgrad,
                            unsigned *bits);

static fx_status run_node(fx_graph *g, int n, int backward)
{
    fx_node *node = &g->nodes[n];
    /* Inputs: the node's own arrays (any count, allocated with the node). */
    fx_tensor **in = node->in_tensors, **gin = node->in_grads, *out[FX_MAX_IO], *gout[FX_MAX_IO];
    fx_tensor *param[FX_MAX_PARAMS], *pgrad[FX_MAX_PARAMS], *aux[FX_MAX_AUX];
    for (int i = 0; i < node->n_in; i++) {
        fx_value *v = &g->values[node->in[i]];
        int away = v->home && v->home != node->backend;
        if (away && !backward && !read_earlier(node, i)) {
            fx_status cst = copy_across(g->ctx, &v->mirror, &v->tensor, 0);
            if (cst != FX_OK)
                return cst;
        }
        in[i] = away ? &v->mirror : &v->tensor;
        gin[i] = v->needs_grad && v->grad.buffer ? (away ? &v->mirror_grad : &v->grad) : NULL;
        if (away && gin[i] && backward && !read_earlier(node, i)) {
            fx_status cst = fx_tensor_zero(gin[i]);
            if (cst != FX_OK)
                return cst;
        }
    }
    for (int k = 0; k < node->n_out; k++) {
        fx_value *v = &g->values[node->out[k]];
        out[k] = &v->tensor;
        gout[k] = v->grad.buffer ? &v->grad : NULL;
    }
    for (int k = 0; k < node->op->n_params; k++) {
        fx_graph_param *p = &g->params[node->param[k]];
        int present = p->shape.ndim > 0 && p->value.buffer;
        param[k] = present ? &p->value : NULL;
        pgrad[k] = present && p->grad.buffer ? &p->grad : NULL;
    }
    for (int a = 0; a < node->n_aux; a++)
        aux[a] = &node->aux[a];
    fx_kernel_call call;
    memset(&call, 0, sizeof call);
    call.ctx = g->ctx;
    call.node = node;
    call.backend = node->backend;
    call.training = g->mode == FX_MODE_TRAIN && !g->eval_only;
    call.seed = fx_graph_node_seed(g, n);
    call.n_in = node->n_in;
    call.in = in;
    call.n_out = node->n_out;
    call.out = out;
    call.n_params = node->op->n_params;
    call.param = param;
    call.param_grad = backward ? pgrad : NULL;
    call.n_aux = node->n_aux;
    call.aux = aux;
    call.grad_out = backward ? gout : NULL;
    call.grad_in = backward ? gin : NULL;
    call.state = node->state;
    call.workspace = node->workspace.buffer ? &node->workspace : NULL;
    if (backward) {
        fx_status ist = init_grads(g, node, gin, pgrad, &call.grad_overwrite);
        if (ist != FX_OK)
            return ist;
    }
    double t0 = g->profiling ? fx_now_seconds() : 0;
    fx_status st = backward ? node->backward(&call) : node->forward(&call);
    if (g->profiling) {
        if (st == FX_OK && node->backend->ops->synchronize)
            st = node->backend->ops->synchronize(node->backend);
        double dt = fx_now_seconds() - t0;
        if (backward)
            node->time_bwd += dt;
        else
            node->time_fwd += dt;
    }
    if (st != FX_OK && !g->ctx->has_error)
        fx_node_fail(g->ctx, node, st, "%s kernel failed", backward ? "backward" : "forward");
    /* Gradients computed on a mirror go home, once per value: a node that
     * reads a value twice (mul(a, a)) has both inputs' terms in the one
     * mirror gradient already. */
    for (int i = 0; backward && st == FX_OK && i < node->n_in; i++) {
        fx_value *v = &g->values[node->in[i]];
        if (gin[i] && gin[i] == &v->mirror_grad && !read_earlier(node, i)) {
            int add = !v->grad_fresh; /* the first writer copies */
            v->grad_fresh = 0;
            st = copy_across(g->ctx, &v->grad, &v->mirror_grad, add);
        }
    }
    return st;
}

fx_status fx_graph_forward(fx_graph *g)
{
    if (!g->planned)
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s' must be planned before it runs", g->name);
    g->ctx->has_error = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        if (!g->nodes[n].needed)
            continue;
        fx_status st = run_node(g, n, 0);
        if (st != FX_OK)
            return st;
    }
    return FX_OK;
}

fx_status fx_graph_seed_grad(fx_graph *g, const char *name, const float *host)
{
    fx_value *v = lookup(g, name);
    if (!v)
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s' has no value named '%s'", g->name, name);
    if (!g->planned || g->mode != FX_MODE_TRAIN)
        return fx_fail(g->ctx, FX_ERR_INVALID, "gradients need a graph planned for training");
    if (!v->grad.buffer)
        return FX_OK; /* nothing learnable depends on it: the seed has nowhere to go */
    size_t n = (size_t)fx_shape_numel(&v->shape);
    if (!v->seed) {
        v->seed = fx_calloc(g->ctx, n, sizeof(float), "a seeded gradient");
        if (!v->seed)
            return FX_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v->seed[i] += host[i];
    return FX_OK;
}

/* The loss whose output value i is, or -1. */
static int value_loss(const fx_graph *g, int i)
{
    int loss = -1;
    for (int l = 0; l < g->n_losses; l++)
        if (g->nodes[g->losses[l].node].out[0] == i)
            loss = l;
    return loss;
}

/* Starts value i's gradient for a backward: its seeds (loss weight plus
 * fx_graph_seed_grad, summed on the host) or nothing: an unseeded
 * gradient is marked fresh, and its first writer initialises it
 * (init_grads). A loss seeded only by its weight is set on the device
 * (a fill of one number, no upload). A shared gradient
 * (core/engine/memory_plan.c) starts just before its first writer's backward,
 * since its buffer may hold a live value until then. */
static fx_status open_grad(fx_graph *g, int i)
{
    fx_value *v = &g->values[i];
    int loss = value_loss(g, i);
    v->grad_fresh = 0;
    if (loss < 0 && !v->seed) {
        if (g->grad_overwrite) {
            v->grad_fresh = 1;
            return FX_OK;
        }
        return fx_tensor_zero(&v->grad);
    }
    size_t n = (size_t)fx_shape_numel(&v->shape);
    if (!v->seed && n == 1) /* 0 + weight, as the host sum below gives */
        return fx_tensor_fill(&v->grad, 0.0f + g->losses[loss].weight, 0, 1);
    float *host = fx_calloc(g->ctx, n, sizeof(float), "a gradient seed");
    if (!host)
        return FX_ERR_NOMEM;
    if (v->seed)
        memcpy(host, v->seed, n * sizeof(float));
    if (loss >= 0)
        host[0] += g->losses[loss].weight;
    fx_status st = fx_tensor_upload(&v->grad, host);
    free(host);
    free(v->seed);
    v->seed = NULL;
    return st;
}

/* A fresh gradient that is about to be read, or added to by a kernel
 * that cannot overwrite: zero it now. */
static fx_status settle(fx_tensor *t, int *fresh)
{
    if (!*fresh)
        return FX_OK;
    *fresh = 0;
    return fx_tensor_zero(t);
}

/* Before node's backward: gradients it reads (grad_out) must hold their
 * sums; gradients it writes first are either handed to the kernel to
 * overwrite (FX_KERNEL_GRAD_OVERWRITE, a value or parameter the node
 * reads once) or zeroed here. Returns the call's grad_overwrite bits. */
static fx_status init_grads(fx_graph *g, fx_node *node, fx_tensor *const *gin, fx_tensor *const *pgrad,
                            unsigned *bits)
{
    fx_status st = FX_OK;
    int can = (node->kinfo.flags & FX_KERNEL_GRAD_OVERWRITE) != 0;
    *bits = 0;
    for (int k = 0; k < node->n_out && st == FX_OK; k++) {
        fx_value *v = &g->values[node->out[k]];
        if (v->grad.buffer)
            st = settle(&v->grad, &v->grad_fresh);
    }
    for (int i = 0; i < node->n_in && st == FX_OK; i++) {
        fx_value *v = &g->values[node->in[i]];
        if (!gin[i] || gin[i] != &v->grad || !v->grad_fresh)
            continue;
        int once = 1;
        for (int j = 0; j < node->n_in; j++)
            once &= j == i || node->in[j] != node->in[i];
        if (can && once && i < FX_MAX_IO) { /* the bit mask has room for FX_MAX_IO inputs */
            v->grad_fresh = 0;
            *bits |= 1u << i;
        } else {
            st = settle(&v->grad, &v->grad_fresh);
        }
    }
    for (int k = 0; k < node->op->n_params && st == FX_OK; k++) {
        fx_graph_param *p = &g->params[node->param[k]];
        if (!pgrad[k] || !p->grad_fresh)
            continue;
        int once = 1;
        for (int j = 0; j < node->op->n_params; j++)
            once &= j == k || node->param[j] != node->param[k];
        if (can && once) {
            p->grad_fresh = 0;
            *bits |= FX_GRAD_OVERWRITE_PARAM(k);
        } else {
            st = settle(&p->grad, &p->grad_fresh);
        }
    }
    return st;
}

/* Opens the gradients node n's backward writes first and runs that
 * backward when n is upstream of a seeded value (active). */
static fx_status backward_node(fx_graph *g, int n, int *active)
{
    fx_node *node = &g->nodes[n];
    fx_status st = FX_OK;
    for (int i = 0; i < node->n_in && st == FX_OK; i++) {
        fx_value *v = &g->values[node->in[i]];
        int again = 0; /* an input read twice opens once */
        for (int j = 0; j < i; j++)
            again |= node->in[j] == node->in[i];
        if (v->grad_pooled && v->grad_open == n && !again)
            st = open_grad(g, node->in[i]);
    }
    if (!active[n] || st != FX_OK)
        return st;
    int any = 0;
    for (int k = 0; k < node->n_out; k++)
        any |= g->values[node->out[k]].needs_grad;
    if (!any || (node->op->flags & FX_OP_NO_BACKWARD))
        return FX_OK;
    st = run_node(g, n, 1);
    for (int i = 0; i < node->n_in && st == FX_OK; i++) {
        int p = g->values[node->in[i]].producer;
        if (p >= 0)
            active[p] = 1;
    }
    return st;
}

/* last_user[i]: the lowest-numbered node using parameter i, the last to
 * write its gradient in backward order (-1: none). Parameter gradients
 * never share memory (core/engine/memory_plan.c), so after that node the
 * gradient is final. */
static fx_status grad_final_plan(fx_graph *g, int **out)
{
    int *last_user = fx_malloc(g->ctx, (size_t)(g->n_params ? g->n_params : 1) * sizeof(int),
                               "the gradient-final plan");
    if (!last_user)
        return FX_ERR_NOMEM;
    for (int i = 0; i < g->n_params; i++)
        last_user[i] = -1;
    for (int n = g->n_nodes - 1; n >= 0; n--)
        for (int k = 0; k < g->nodes[n].op->n_params; k++)
            last_user[g->nodes[n].param[k]] = n;
    *out = last_user;
    return FX_OK;
}

/* Tells g->grad_final about the parameters whose last user is node n
 * (n = -1: those no node uses, after the whole backward), once each. */
static fx_status grad_final_after(fx_graph *g, int n, int *last_user)
{
    fx_status st = FX_OK;
    int count = n >= 0 ? g->nodes[n].op->n_params : g->n_params;
    for (int k = 0; k < count && st == FX_OK; k++) {
        int i = n >= 0 ? g->nodes[n].param[k] : k;
        if (last_user[i] == n && g->params[i].grad.buffer) {
            last_user[i] = -2; /* told */
            st = settle(&g->params[i].grad, &g->params[i].grad_fresh);
            if (st == FX_OK)
                st = g->grad_final(g->grad_final_user, i);
        }
    }
    return st;
}

void fx_graph_set_grad_final(fx_graph *g, fx_grad_final_fn fn, void *user)
{
    g->grad_final = fn;
    g->grad_final_user = user;
}

fx_status fx_graph_backward(fx_graph *g)
{
    fx_context *ctx = g->ctx;
    if (!g->planned || g->mode != FX_MODE_TRAIN || g->eval_only)
        return fx_fail(ctx, FX_ERR_INVALID, "graph '%s': backward needs a plan for training (and training mode on)",
                       g->name);
    ctx->has_error = 0;
    fx_status st = FX_OK;
    /* Parameter gradients start fresh: their first writer initialises
     * them (init_grads), and those nobody writes are zeroed at the end. */
    for (int i = 0; i < g->n_params && st == FX_OK; i++) {
        g->params[i].grad_fresh = 0;
        if (g->params[i].grad.buffer) {
            if (g->grad_overwrite)
                g->params[i].grad_fresh = 1;
            else
                st = fx_tensor_zero(&g->params[i].grad);
        }
    }
    for (int i = 0; i < g->n_values; i++)
        g->values[i].grad_fresh = 0;
    /* Seeds: loss weights and explicit gradients. */
    int *active = NULL;
    if (st == FX_OK) {
        active = fx_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(int), "the backward plan");
        if (!active)
            st = FX_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_values && st == FX_OK; i++) {
        fx_value *v = &g->values[i];
        if (!v->grad.buffer) { /* depends on nothing learnable */
            free(v->seed);
            v->seed = NULL;
            continue;
        }
        if ((value_loss(g, i) >= 0 || v->seed) && v->producer >= 0)
            active[v->producer] = 1;
        if (!v->grad_pooled || v->grad_open == g->n_nodes)
            st = open_grad(g, i);
    }
    int *last_user = NULL;
    if (st == FX_OK && g->grad_final)
        st = grad_final_plan(g, &last_user);
    /* Only nodes upstream of a seeded value run backward. */
    for (int n = g->n_nodes - 1; n >= 0 && st == FX_OK; n--) {
        st = backward_node(g, n, active);
        if (st == FX_OK && last_user)
            st = grad_final_after(g, n, last_user);
    }
    if (st == FX_OK && last_user)
        st = grad_final_after(g, -1, last_user);
    /* Gradients no backward wrote are zero, as the caller may read them
     * (parameters: the optimiser; own value buffers: fx_graph_value_grad).
     * Shared value gradients are dead after backward. */
    for (int i = 0; i < g->n_params && st == FX_OK; i++)
        if (g->params[i].grad.buffer)
            st = settle(&g->params[i].grad, &g->params[i].grad_fresh);
    for (int i = 0; i < g->n_values && st == FX_OK; i++) {
        fx_value *v = &g->values[i];
        if (v->grad.buffer && !v->grad_pooled)
            st = settle(&v->grad, &v->grad_fresh);
        v->grad_fresh = 0;
    }
    free(last_user);
    free(active);
    return st;
}

fx_tensor *fx_graph_value(fx_graph *g, const char *name)
{
    fx_value *v = lookup(g, name);
    return v && v->tensor.buffer ? &v->tensor : NULL;
}

fx_tensor *fx_graph_value_grad(fx_graph *g, const char *name)
{
    fx_value *v = lookup(g, name);
    if (v)
        return v->grad.buffer ? &v->grad : NULL;
    for (int i = 0; i < g->n_params; i++)
        if (!strcmp(g->params[i].name, name))
            return g->params[i].grad.buffer ? &g->params[i].grad : NULL;
    return NULL;
}

fx_status fx_graph_loss_value(fx_graph *g, int i, float *value)
{
    if (i < 0 || i >= g->n_losses)
        return fx_fail(g->ctx, FX_ERR_INVALID, "no loss %d", i);
    fx_value *v = &g->values[g->nodes[g->losses[i].node].out[0]];
    if (!v->tensor.buffer)
        return fx_fail(g->ctx, FX_ERR_INVALID, "loss '%s' was not computed in this plan", v->name);
    return v->tensor.buffer->backend->ops->tensor_read(v->tensor.buffer->backend, &v->tensor, value, 0, sizeof(float));
}

/* Every loss is read with an asynchronous copy, then one wait per
 * backend: one host sync for all the losses instead of one each. */
fx_status fx_graph_loss_total(fx_graph *g, float *value)
{
    enum { ON_STACK = 16 };
    float stack[ON_STACK], *vals = stack;
    if (g->n_losses > ON_STACK) {
        vals = fx_malloc(g->ctx, (size_t)g->n_losses * sizeof(float), "the loss values");
        if (!vals)
            return FX_ERR_NOMEM;
    }
    fx_status st = FX_OK;
    int queued = 0;
    for (int i = 0; i < g->n_losses && st == FX_OK; i++) {
        fx_value *v = &g->values[g->nodes[g->losses[i].node].out[0]];
        if (!v->tensor.buffer)
            st = fx_fail(g->ctx, FX_ERR_INVALID, "loss '%s' was not computed in this plan", v->name);
        else if (g->n_losses > 1 && v->tensor.buffer->backend == g->backend && ++queued)
            st = fx_tensor_download_async(&v->tensor, &vals[i]); /* numel 1 */
        else
            st = fx_graph_loss_value(g, i, &vals[i]);
    }
    if (queued) { /* even after a failure: the reads write into vals */
        fx_status sst = fx_backend_synchronize(g->backend);
        if (st == FX_OK)
            st = sst;
    }
    double total = 0;
    for (int i = 0; i < g->n_losses && st == FX_OK; i++)
        total += (double)g->losses[i].weight * vals[i];
    if (vals != stack)
        free(vals);
    if (st == FX_OK)
        *value = (float)total;
    return st;
}

/* The sum fx_graph_planned_bytes reports. In inference, values a node
 * produces live in the shared arena: its buffers are counted once, not
 * through the values. */
static int64_t buffer_bytes(const fx_tensor *t) { return t->buffer ? (int64_t)t->buffer->size : 0; }

fx_status fx_graph_memory_report(const fx_graph *g, fx_memory_report *out)
{
    memset(out, 0, sizeof *out);
    if (!g->planned)
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s' must be planned before its memory is reported", g->name);
    if (g->mode == FX_MODE_TRAIN)
        *out = g->memory; /* the plan's figures; the sums below are recounted */
    int arena = g->mode == FX_MODE_INFER;
    out->shared = 0;
    for (int i = 0; i < g->n_arena; i++)
        out->shared += (int64_t)g->arena[i]->size;
    out->shared_buffers = g->n_arena;
    out->values = out->shared;
    for (int i = 0; i < g->n_values; i++) {
        const fx_value *v = &g->values[i];
        if (!(arena && v->producer >= 0) && !v->pooled)
            out->values += buffer_bytes(&v->tensor);
        if (!v->grad_pooled)
            out->values += buffer_bytes(&v->grad);
        out->values += buffer_bytes(&v->mirror) + buffer_bytes(&v->mirror_grad);
    }
    if (arena) { /* inference: everything there is lives at once, at worst */
        out->reuse = 1;
        out->naive = out->peak_activations = out->values;
    }
    for (int n = 0; n < g->n_nodes; n++)
        for (int a = 0; a < g->nodes[n].n_aux; a++)
            out->saved += buffer_bytes(&g->nodes[n].aux[a]);
    for (int i = 0; i < g->n_params; i++) {
        out->parameters += buffer_bytes(&g->params[i].value);
        out->parameter_gradients += buffer_bytes(&g->params[i].grad);
    }
    return FX_OK;
}

int64_t fx_graph_planned_bytes(const fx_graph *g)
{
    fx_memory_report r;
    if (!g->planned || fx_graph_memory_report(g, &r) != FX_OK)
        return 0;
    return r.values + r.saved + r.parameters + r.parameter_gradients;
}
