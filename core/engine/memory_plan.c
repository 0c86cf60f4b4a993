/* core/engine/memory_plan.c - the buffers of a training plan: values and their
 * gradients, shared between lifetimes that do not overlap.
 *
 * One step is a timeline of 2N points for N nodes: node n's forward runs
 * at t = n, its backward at t = 2N-1-n. Each buffer is needed over a
 * closed interval of it:
 *   value v made by node p:  [p, last reader], the readers being the
 *       forward of every consumer c (t = c), the backward of a consumer
 *       that reads its inputs (t = 2N-1-c), and p's own backward when it
 *       reads its outputs (t = 2N-1-p). Ops say what their backward leaves
 *       unread (FX_OP_BACKWARD_NO_INPUT / _NO_OUTPUT); without a flag
 *       everything is kept.
 *   gradient of v: [2N-1-c, 2N-1-p] with c the last consumer whose
 *       backward writes it (it is zeroed, and seeded, just before that
 *       backward: fx_graph_backward reads grad_open), or from the start of
 *       backward (t = N) when no consumer writes it (outputs, losses).
 * A node whose backward may not run (nothing upstream of a seed) only
 * lengthens the intervals, so the plan is safe for every seeding.
 * In place: an FX_OP_INPLACE_OK node with one input and one output writes
 * into its input's buffer when its forward is that input's last reader
 * (elu after batchnorm: batchnorm's backward reads its input, elu's its
 * output, so the batchnorm output is dead once elu has read it).
 *
 * Buffers are whole (offset 0), as the inference arena's: intervals are
 * placed largest first into the smallest buffer on their backend none of
 * whose intervals overlap them, else into a new one (greedy by size). The
 * kernels see the same numbers in the same order as with a buffer each,
 * so results are bit-identical; only storage addresses change.
 *
 * Never shared: graph inputs (the caller fills them before forward), kept
 * values and their gradients (fx_graph_keep: explain, --fetch, the
 * prediction read after a step), gradients of fx_graph_require_grad
 * values, losses, values nobody reads (outputs), and cross-backend copies.
 * Parameters, their gradients (read by the optimiser and the data-parallel
 * all-reduce after backward) and optimiser state are not values here. */
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"

typedef struct plan_item {
    int start, end;   /* closed interval on the 2N timeline */
    size_t bytes;
    fx_backend *backend;
    int is_grad;
    int slot;
} plan_item;

typedef struct plan_slot {
    size_t bytes;
    fx_backend *backend;
    int first;        /* first item in the slot; items chain through next */
} plan_slot;

int fx_memory_reuse_enabled(const fx_graph *g)
{
    if (g->memory_reuse_off)
        return 0;
    const char *env = getenv("FX_MEMORY_REUSE");
    return !(env && !strcmp(env, "0"));
}

void fx_graph_set_memory_reuse(fx_graph *g, int on) { g->memory_reuse_off = !on; }

static size_t value_bytes(const fx_value *v) { return (size_t)fx_shape_numel(&v->shape) * fx_dtype_size(v->dtype); }

/* The backward of node n may run: it has a kernel and an output that
 * carries a gradient (as fx_graph_backward decides). */
static int backward_runs(const fx_graph *g, const fx_node *node)
{
    if (!node->backward || (node->op->flags & FX_OP_NO_BACKWARD))
        return 0;
    for (int k = 0; k < node->n_out; k++)
        if (g->values[node->out[k]].needs_grad)
            return 1;
    return 0;
}

static fx_status alloc_own(fx_graph *g, fx_tensor *t, const fx_value *v, const char *what)
{
    t->dtype = v->dtype;
    t->shape = v->shape;
    char label[FX_NAME_MAX + 32];
    snprintf(label, sizeof label, "%s '%s'", what, v->name);
    return fx_backend_alloc_tensor(v->home, t, label);
}

static int overlaps(const plan_item *a, const plan_item *b) { return a->start <= b->end && b->start <= a->end; }

/* Items sorted largest first; ties by start, then index (a total order, so
 * the plan does not depend on qsort's stability). */
typedef struct plan_order {
    size_t bytes;
    int start, item;
} plan_order;

static int by_size(const void *pa, const void *pb)
{
    const plan_order *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->item - b->item;
}

/* The busiest step: live bytes of values and gradients (own buffers live
 * throughout). */
static void find_peak(fx_graph *g, const plan_item *items, int n_items, int64_t own_act, int64_t own_grad)
{
    int steps = 2 * g->n_nodes;
    g->memory.peak_activations = own_act;
    g->memory.peak_gradients = own_grad;
    int64_t best = -1;
    for (int t = 0; t < steps; t++) {
        int64_t act = own_act, grad = own_grad;
        for (int i = 0; i < n_items; i++)
            if (items[i].start <= t && t <= items[i].end) {
                if (items[i].is_grad)
                    grad += (int64_t)items[i].bytes;
                else
                    act += (int64_t)items[i].bytes;
            }
        if (act + grad > best) {
            best = act + grad;
            g->memory.peak_activations = act;
            g->memory.peak_gradients = grad;
        }
    }
}

fx_status fx_memory_plan_training(fx_graph *g)
{
    fx_context *ctx = g->ctx;
    int n_nodes = g->n_nodes, last = 2 * n_nodes - 1;
    int reuse = fx_memory_reuse_enabled(g);
    memset(&g->memory, 0, sizeof g->memory);
    g->memory.reuse = reuse;
    /* value index -> item of its tensor / gradient; -1 = own buffer */
    int *val_item = fx_malloc(ctx, sizeof(int) * (size_t)(2 * g->n_values + 1), "the training memory plan");
    int *readers = fx_calloc(ctx, (size_t)g->n_values + 1, sizeof(int), "the training memory plan");
    plan_item *items = fx_calloc(ctx, (size_t)(2 * g->n_values + 1), sizeof *items, "the training memory plan");
    int *next = fx_malloc(ctx, sizeof(int) * (size_t)(2 * g->n_values + 1), "the training memory plan");
    plan_order *order = fx_malloc(ctx, sizeof *order * (size_t)(2 * g->n_values + 1), "the training memory plan");
    plan_slot *slots = fx_calloc(ctx, (size_t)(2 * g->n_values + 1), sizeof *slots, "the training memory plan");
    fx_status st = val_item && readers && items && next && order && slots ? FX_OK : FX_ERR_NOMEM;
    int *grad_item = val_item ? val_item + g->n_values : NULL;
    int n_items = 0, n_slots = 0;
    int64_t own_act = 0, own_grad = 0;
    for (int n = 0; st == FX_OK && n < n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++)
            readers[g->nodes[n].in[i]]++;
    for (int i = 0; st == FX_OK && i < g->n_values; i++) {
        fx_value *v = &g->values[i];
        v->home = v->producer >= 0 ? g->nodes[v->producer].backend : g->backend;
        v->pooled = v->grad_pooled = 0;
        v->grad_open = n_nodes;
        val_item[i] = grad_item[i] = -1;
        g->memory.naive += (int64_t)value_bytes(v) * (v->needs_grad ? 2 : 1);
        int is_loss = 0; /* read after the step (fx_graph_loss_value), even when a node reads it too */
        for (int l = 0; l < g->n_losses; l++)
            is_loss |= g->nodes[g->losses[l].node].out[0] == i;
        int shareable = reuse && v->producer >= 0 && !v->keep && !is_loss && readers[i] > 0;
        if (shareable) {
            const fx_node *p = &g->nodes[v->producer];
            plan_item *it = &items[n_items];
            it->start = it->end = v->producer;
            if (backward_runs(g, p) && !(p->op->flags & FX_OP_BACKWARD_NO_OUTPUT))
                it->end = last - v->producer;
            for (int c = v->producer + 1; c < n_nodes; c++) {
                const fx_node *node = &g->nodes[c];
                for (int k = 0; k < node->n_in; k++) {
                    if (node->in[k] != i)
                        continue;
                    if (c > it->end)
                        it->end = c;
                    if (backward_runs(g, node) && !(node->op->flags & FX_OP_BACKWARD_NO_INPUT) &&
                        last - c > it->end)
                        it->end = last - c;
                }
            }
            it->bytes = value_bytes(v);
            it->backend = v->home;
            it->slot = -1;
            /* In place: the input's buffer, dead after this forward, takes
             * this output too. */
            if (p->op->flags & FX_OP_INPLACE_OK && p->n_in == 1 && p->n_out == 1) {
                int in = p->in[0], at = val_item[in];
                if (at >= 0 && items[at].end == v->producer && items[at].backend == v->home &&
                    items[at].bytes == it->bytes && g->values[in].dtype == v->dtype) {
                    items[at].end = it->end;
                    val_item[i] = at;
                    v->pooled = 1;
                    shareable = 0; /* placed */
                }
            }
            if (shareable) {
                val_item[i] = n_items++;
                v->pooled = 1;
            }
        } else {
            own_act += (int64_t)value_bytes(v);
        }
        if (!v->needs_grad)
            continue;
        if (reuse && v->producer >= 0 && !v->keep && !v->require_grad) {
            plan_item *it = &items[n_items];
            it->start = n_nodes; /* the start of backward */
            it->end = last - v->producer;
            for (int c = n_nodes - 1; c > v->producer; c--) {
                const fx_node *node = &g->nodes[c];
                int reads = 0;
                for (int k = 0; k < node->n_in; k++)
                    reads |= node->in[k] == i;
                if (reads && backward_runs(g, node)) {
                    it->start = last - c;
                    v->grad_open = c;
                    break;
                }
            }
            it->bytes = value_bytes(v);
            it->backend = v->home;
            it->is_grad = 1;
            it->slot = -1;
            grad_item[i] = n_items++;
            v->grad_pooled = 1;
        } else {
            own_grad += (int64_t)value_bytes(v);
        }
    }
    /* Greedy by size into shared buffers. */
    for (int i = 0; i < n_items; i++)
        order[i] = (plan_order){ items[i].bytes, items[i].start, i };
    if (n_items > 0)
        qsort(order, (size_t)n_items, sizeof *order, by_size);
    for (int r = 0; st == FX_OK && r < n_items; r++) {
        int i = order[r].item, best = -1;
        for (int s = 0; s < n_slots; s++) {
            if (slots[s].backend != items[i].backend || slots[s].bytes < items[i].bytes)
                continue;
            int free = 1;
            for (int j = slots[s].first; j >= 0 && free; j = next[j])
                free = !overlaps(&items[i], &items[j]);
            if (free && (best < 0 || slots[s].bytes < slots[best].bytes))
                best = s;
        }
        if (best < 0) {
            best = n_slots++;
            slots[best].bytes = items[i].bytes;
            slots[best].backend = items[i].backend;
            slots[best].first = -1;
        }
        items[i].slot = best;
        next[i] = slots[best].first;
        slots[best].first = i;
    }
    if (st == FX_OK) {
        g->arena = fx_calloc(ctx, (size_t)n_slots + 1, sizeof *g->arena, "the training arena");
        if (!g->arena)
            st = FX_ERR_NOMEM;
    }
    for (int s = 0; st == FX_OK && s < n_slots; s++) {
        st = slots[s].backend->ops->buffer_alloc(slots[s].backend, slots[s].bytes,
                                                 "activations and gradients (shared)", &g->arena[s]);
        if (st == FX_OK) {
            g->n_arena = s + 1;
            g->memory.shared += (int64_t)slots[s].bytes;
        }
    }
    g->memory.shared_buffers = g->n_arena;
    /* Tensors: views of their slot, or their own buffer. */
    for (int i = 0; st == FX_OK && i < g->n_values; i++) {
        fx_value *v = &g->values[i];
        if (val_item[i] >= 0) {
            v->tensor.dtype = v->dtype;
            v->tensor.shape = v->shape;
            v->tensor.buffer = g->arena[items[val_item[i]].slot];
            v->tensor.offset = 0;
        } else {
            st = alloc_own(g, &v->tensor, v, "activation");
        }
        if (st != FX_OK || !v->needs_grad)
            continue;
        if (grad_item[i] >= 0) {
            v->grad.dtype = v->dtype;
            v->grad.shape = v->shape;
            v->grad.buffer = g->arena[items[grad_item[i]].slot];
            v->grad.offset = 0;
        } else {
            st = alloc_own(g, &v->grad, v, "gradient of");
        }
    }
    if (st == FX_OK)
        find_peak(g, items, n_items, own_act, own_grad);
    free(val_item);
    free(readers);
    free(items);
    free(next);
    free(order);
    free(slots);
    return st;
}
