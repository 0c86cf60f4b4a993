/* core/engine/graph.c - building graphs: inputs, nodes (with attributes parsed
 * against the op schema), parameters (shared by name), losses; and the
 * read-only accessors. Planning and execution live in executor.c. */
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"
#include "core/io/yaml_document.h"

static void node_free_arrays(fx_node *node);

static const char *intern_file(fx_graph *g, const char *file)
{
    if (!file)
        return NULL;
    for (int i = 0; i < g->n_files; i++)
        if (!strcmp(g->files[i], file))
            return g->files[i];
    char **files = realloc(g->files, (size_t)(g->n_files + 1) * sizeof *files);
    if (!files)
        return NULL;
    g->files = files;
    char *copy = strdup(file);
    if (!copy)
        return NULL;
    g->files[g->n_files++] = copy;
    return copy;
}

static fx_srcpos own_pos(fx_graph *g, fx_srcpos pos)
{
    pos.file = intern_file(g, pos.file);
    return pos;
}

fx_status fx_graph_create(fx_context *ctx, const char *name, fx_graph **out)
{
    *out = NULL;
    fx_graph *g = fx_calloc(ctx, 1, sizeof *g, "a graph");
    if (!g)
        return FX_ERR_NOMEM;
    g->ctx = ctx;
    snprintf(g->name, sizeof g->name, "%s", name ? name : "graph");
    g->seed = ctx->options.seed;
    *out = g;
    return FX_OK;
}

void fx_graph_release_plan(fx_graph *g); /* executor.c */

void fx_graph_destroy(fx_graph *g)
{
    if (!g)
        return;
    fx_graph_release_plan(g);
    for (int i = 0; i < g->n_params; i++) {
        fx_graph_param *p = &g->params[i];
        if (p->value.buffer)
            fx_backend_free_tensor(p->value.buffer->backend, &p->value);
        if (p->grad.buffer)
            fx_backend_free_tensor(p->grad.buffer->backend, &p->grad);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        for (int a = 0; a < g->nodes[i].n_attrs; a++)
            fx_attr_free(&g->nodes[i].attrs[a]);
        node_free_arrays(&g->nodes[i]);
    }
    for (int i = 0; i < g->n_values; i++)
        free(g->values[i].seed);
    for (int i = 0; i < g->n_files; i++)
        free(g->files[i]);
    free(g->files);
    free(g->values);
    free(g->nodes);
    free(g->params);
    free(g->aliases);
    free(g);
}

fx_context *fx_graph_context(const fx_graph *g) { return g->ctx; }
const char *fx_graph_name(const fx_graph *g) { return g->name; }

int fx_graph_find_value(const fx_graph *g, const char *name)
{
    /* An alias may name another alias (a block whose last layer is a block
     * instance): follow at most a few steps, as blocks nest at most 16 deep. */
    for (int hop = 0; hop < 32; hop++) {
        for (int i = 0; i < g->n_values; i++)
            if (!strcmp(g->values[i].name, name))
                return i;
        const char *next = NULL;
        for (int i = 0; i < g->n_aliases && !next; i++)
            if (!strcmp(g->aliases[i][0], name))
                next = g->aliases[i][1];
        if (!next)
            return -1;
        name = next;
    }
    return -1;
}

void fx_graph_close_value_names(const fx_graph *g, const char *name, int max, char *buf, size_t size)
{
    enum { CAP = 16, MAX_SHOWN = 16 };
    const char *best[MAX_SHOWN];
    int score[MAX_SHOWN], n = 0;
    if (max > MAX_SHOWN)
        max = MAX_SHOWN;
    size_t name_len = strlen(name);
    for (int i = 0; i < g->n_values + g->n_aliases; i++) {
        const char *cand = i < g->n_values ? g->values[i].name : g->aliases[i - g->n_values][0];
        int d = fx_yaml_edit_distance(name, cand, CAP);
        if (!strncmp(cand, name, name_len) && cand[name_len] == '.')
            d = 1; /* a layer inside the named block */
        if (d > CAP)
            continue;
        if (n == max && score[max - 1] <= d)
            continue; /* the list is full of closer names */
        int at = n < max ? n++ : max - 1;
        while (at > 0 && score[at - 1] > d) {
            best[at] = best[at - 1];
            score[at] = score[at - 1];
            at--;
        }
        best[at] = cand;
        score[at] = d;
    }
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", best[i]);
}

fx_status fx_graph_add_alias(fx_graph *g, const char *alias, const char *value_name)
{
    if (strlen(alias) >= FX_NAME_MAX || strlen(value_name) >= FX_NAME_MAX)
        return fx_fail(g->ctx, FX_ERR_INVALID, "alias '%.64s' -> '%.64s': names are limited to %d bytes", alias,
                       value_name, FX_NAME_MAX - 1);
    if (g->n_aliases == g->cap_aliases) {
        int cap = g->cap_aliases ? g->cap_aliases * 2 : 16;
        char(*a)[2][FX_NAME_MAX] = realloc(g->aliases, (size_t)cap * sizeof *a);
        if (!a)
            return fx_fail(g->ctx, FX_ERR_NOMEM, "out of memory adding alias '%s'", alias);
        g->aliases = a;
        g->cap_aliases = cap;
    }
    snprintf(g->aliases[g->n_aliases][0], FX_NAME_MAX, "%s", alias);
    snprintf(g->aliases[g->n_aliases][1], FX_NAME_MAX, "%s", value_name);
    g->n_aliases++;
    return FX_OK;
}

static int find_node(const fx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name))
            return i;
    return -1;
}

/* Fails with the message prefixed by "file:line:col: " when pos has a file. */
static fx_status fail_at(fx_graph *g, fx_srcpos pos, fx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static fx_status fail_at(fx_graph *g, fx_srcpos pos, fx_status st, const char *fmt, ...)
{
    char where[1100];
    fx_srcpos_str(pos, where, sizeof where);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fx_fail(g->ctx, st, "%s%s%s", where, where[0] ? ": " : "", msg);
}

static fx_status add_value(fx_graph *g, const char *name, int producer, int output, fx_srcpos pos, int *index)
{
    if (strlen(name) >= FX_NAME_MAX)
        return fail_at(g, pos, FX_ERR_INVALID, "name '%s' is longer than the limit of %d characters", name,
                       FX_NAME_MAX - 1);
    if (fx_graph_find_value(g, name) >= 0)
        return fail_at(g, pos, FX_ERR_INVALID, "the name '%s' is already used; give each input and layer a unique name",
                       name);
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 32;
        fx_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v)
            return fx_fail(g->ctx, FX_ERR_NOMEM, "out of memory adding value '%s'", name);
        g->values = v;
        g->cap_values = cap;
    }
    fx_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->producer = producer;
    v->producer_output = output;
    v->last_use = -1;
    *index = g->n_values++;
    return FX_OK;
}

fx_status fx_graph_add_input(fx_graph *g, const char *name, fx_dtype dtype, const fx_shape *shape, fx_srcpos pos)
{
    pos = own_pos(g, pos);
    if (g->planned)
        return fx_fail(g->ctx, FX_ERR_INVALID, "graph '%s': cannot add input '%s' after planning", g->name, name);
    if (g->n_inputs >= (int)(sizeof g->inputs / sizeof g->inputs[0]))
        return fail_at(g, pos, FX_ERR_INVALID, "too many inputs (at most %d)",
                       (int)(sizeof g->inputs / sizeof g->inputs[0]));
    if (shape->ndim >= FX_MAX_DIMS)
        return fail_at(g, pos, FX_ERR_SHAPE, "input '%s' has too many dimensions (at most %d per example)", name,
                       FX_MAX_DIMS - 1);
    for (int i = 0; i < shape->ndim; i++)
        if (shape->dim[i] <= 0)
            return fail_at(g, pos, FX_ERR_SHAPE, "input '%s': every dimension must be positive", name);
    int vi;
    fx_status st = add_value(g, name, -1, 0, pos, &vi);
    if (st != FX_OK)
        return st;
    fx_graph_input *in = &g->inputs[g->n_inputs++];
    in->value = vi;
    in->shape = *shape;
    in->dtype = dtype;
    in->pos = pos;
    g->values[vi].dtype = dtype;
    return FX_OK;
}

static fx_status add_param(fx_graph *g, const char *name, const fx_param_spec *spec, const char *init, int owner,
                           int *index)
{
    if (g->n_params == g->cap_params) {
        int cap = g->cap_params ? g->cap_params * 2 : 32;
        fx_graph_param *p = realloc(g->params, (size_t)cap * sizeof *p);
        if (!p)
            return fx_fail(g->ctx, FX_ERR_NOMEM, "out of memory adding parameter '%s'", name);
        g->params = p;
        g->cap_params = cap;
    }
    fx_graph_param *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->learnable = spec->learnable;
    snprintf(p->init, sizeof p->init, "%s", init);
    p->owner_node = owner;
    *index = g->n_params++;
    return FX_OK;
}

static const char *init_for(const fx_graph *g, const fx_node_desc *desc, const fx_op_def *op, int k, int *first_learnable)
{
    const fx_param_spec *ps = &op->params[k];
    if (ps->learnable && *first_learnable && desc->init && desc->init[0]) {
        *first_learnable = 0;
        return desc->init;
    }
    if (ps->learnable)
        *first_learnable = 0;
    if (ps->init_group)
        for (int i = 0; i < g->n_init_groups; i++)
            if (!strcmp(g->init_groups[i].group, ps->init_group))
                return g->init_groups[i].init;
    return ps->init ? ps->init : "zeros";
}

static void node_free_arrays(fx_node *node)
{
    free(node->in);
    free(node->in_shapes);
    free(node->in_dtypes);
    free(node->in_tensors);
    free(node->in_grads);
    free(node->out_shapes);
    free(node->out_dtypes);
    node->in = NULL;
    node->in_shapes = NULL;
    node->in_dtypes = NULL;
    node->in_tensors = node->in_grads = NULL;
    node->out_shapes = NULL;
    node->out_dtypes = NULL;
}

/* The node's input list and the executor's per-input and per-output
 * arrays (fx_node): any number of inputs, the op's n_outputs outputs,
 * allocated once with the node. */
static fx_status node_alloc_arrays(fx_context *ctx, fx_node *node, int n)
{
    size_t count = (size_t)(n > 0 ? n : 1), n_out = (size_t)(node->n_out > 0 ? node->n_out : 1);
    node->in = fx_calloc(ctx, count, sizeof *node->in, "node inputs");
    node->in_shapes = node->in ? fx_calloc(ctx, count, sizeof *node->in_shapes, "node input shapes") : NULL;
    node->in_dtypes = node->in_shapes ? fx_calloc(ctx, count, sizeof *node->in_dtypes, "node input types") : NULL;
    node->in_tensors = node->in_dtypes ? fx_calloc(ctx, count, sizeof *node->in_tensors, "node input tensors") : NULL;
    node->in_grads = node->in_tensors ? fx_calloc(ctx, count, sizeof *node->in_grads, "node input gradients") : NULL;
    node->out_shapes = node->in_grads ? fx_calloc(ctx, n_out, sizeof *node->out_shapes, "node output shapes") : NULL;
    node->out_dtypes = node->out_shapes ? fx_calloc(ctx, n_out, sizeof *node->out_dtypes, "node output types") : NULL;
    if (!node->out_dtypes) {
        node_free_arrays(node);
        return FX_ERR_NOMEM;
    }
    return FX_OK;
}

fx_status fx_graph_add_node(fx_graph *g, const fx_node_desc *desc)
{
    fx_context *ctx = g->ctx;
    fx_srcpos pos = own_pos(g, desc->pos);
    if (g->planned)
        return fx_fail(ctx, FX_ERR_INVALID, "graph '%s': cannot add nodes after planning", g->name);
    const fx_op_def *op = fx_registry_find_op(&ctx->registry, desc->op ? desc->op : "");
    if (!op)
        return fail_at(g, pos, FX_ERR_INVALID, "unknown op '%s' (run `fxrun ops` for the list)",
                       desc->op ? desc->op : "");
    char autoname[FX_NAME_MAX];
    const char *name = desc->name;
    if (!name || !name[0]) {
        snprintf(autoname, sizeof autoname, "%s%d", op->name, g->n_nodes);
        name = autoname;
    }
    char label[FX_NAME_MAX * 2 + 32];
    snprintf(label, sizeof label, "node '%s' (%s)", name, op->name);
    if (desc->n_inputs < op->min_inputs || desc->n_inputs > op->max_inputs) {
        char want[64];
        if (op->min_inputs == op->max_inputs)
            snprintf(want, sizeof want, "%d", op->min_inputs);
        else
            snprintf(want, sizeof want, "%d to %d", op->min_inputs, op->max_inputs);
        return fail_at(g, pos, FX_ERR_INVALID, "%s takes %s input(s), got %d", label, want, desc->n_inputs);
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 32;
        fx_node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory adding node '%s'", name);
        g->nodes = n;
        g->cap_nodes = cap;
    }
    fx_node *node = &g->nodes[g->n_nodes];
    memset(node, 0, sizeof *node);
    snprintf(node->name, sizeof node->name, "%s", name);
    node->op = op;
    node->graph = g;
    node->pos = pos;
    node->n_in = desc->n_inputs;
    node->n_out = op->n_outputs;
    /* Owned by the node from here: every failure below frees it. */
    if (node_alloc_arrays(ctx, node, desc->n_inputs) != FX_OK)
        return FX_ERR_NOMEM;
    for (int i = 0; i < desc->n_inputs; i++) {
        int vi = fx_graph_find_value(g, desc->inputs[i] ? desc->inputs[i] : "");
        if (vi < 0) {
            node_free_arrays(node);
            return fail_at(g, pos, FX_ERR_INVALID, "%s: input '%s' is not defined before this layer "
                           "(inputs and earlier layers only; check the spelling)", label, desc->inputs[i] ? desc->inputs[i] : "");
        }
        node->in[i] = vi;
    }
    /* Attributes: user values first (validated against the schema), then defaults. */
    node->n_attrs = op->n_attrs;
    for (int a = 0; a < op->n_attrs; a++)
        node->attrs[a].spec = &op->attrs[a];
    fx_status st = FX_OK;
    for (int i = 0; i < desc->n_attrs && st == FX_OK; i++) {
        const fx_attr_input *in = &desc->attrs[i];
        int found = -1;
        for (int a = 0; a < op->n_attrs; a++)
            if (!strcmp(op->attrs[a].name, in->key))
                found = a;
        fx_srcpos apos = own_pos(g, in->pos);
        if (found < 0) {
            char valid[1024] = "";
            size_t used = 0;
            for (int a = 0; a < op->n_attrs && used < sizeof valid; a++)
                used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", a ? ", " : "", op->attrs[a].name);
            char msg[1400];
            snprintf(msg, sizeof msg, "unknown attribute '%s' (valid for %s: %s)", in->key, op->name,
                     op->n_attrs ? valid : "none");
            st = fail_at(g, apos, FX_ERR_INVALID, "%s: %s", label, msg);
            break;
        }
        if (node->attrs[found].present) {
            st = fail_at(g, apos, FX_ERR_INVALID, "%s: attribute '%s' is given twice", label, in->key);
            break;
        }
        st = fx_attr_parse(ctx, &op->attrs[found], in->items, in->n_items, in->is_list, apos, &node->attrs[found]);
        if (st != FX_OK)
            fx_fail_prefix(ctx, st, "%s", label);
    }
    for (int a = 0; a < op->n_attrs && st == FX_OK; a++) {
        if (node->attrs[a].present)
            continue;
        if (op->attrs[a].required) {
            char msg[300];
            snprintf(msg, sizeof msg, "missing required attribute '%s' (%s)", op->attrs[a].name,
                     op->attrs[a].doc ? op->attrs[a].doc : "see `fxrun ops`");
            st = fail_at(g, pos, FX_ERR_INVALID, "%s: %s", label, msg);
        } else if (op->attrs[a].default_value) {
            st = fx_attr_parse_default(ctx, &op->attrs[a], &node->attrs[a]);
        }
    }
    if (st != FX_OK) {
        for (int a = 0; a < op->n_attrs; a++)
            fx_attr_free(&node->attrs[a]);
        node_free_arrays(node);
        return st;
    }
    /* Outputs: value k is the node's name (k = 0) or "name:k". */
    int first_value = g->n_values;
    for (int k = 0; k < op->n_outputs && st == FX_OK; k++) {
        char vname[FX_NAME_MAX + 8];
        if (k == 0)
            snprintf(vname, sizeof vname, "%s", name);
        else
            snprintf(vname, sizeof vname, "%s:%d", name, k);
        st = add_value(g, vname, g->n_nodes, k, pos, &node->out[k]);
    }
    /* Parameters: own, or another node's by name. */
    if (st == FX_OK && desc->share && desc->share[0]) {
        int other = find_node(g, desc->share);
        if (other < 0)
            st = fail_at(g, pos, FX_ERR_INVALID, "%s: 'share: %s' names no earlier layer", label, desc->share);
        else if (g->nodes[other].op != op)
            st = fail_at(g, pos, FX_ERR_INVALID, "%s: cannot share parameters with '%s', a layer of another op", label,
                         desc->share);
        else {
            for (int k = 0; k < op->n_params; k++)
                node->param[k] = g->nodes[other].param[k];
            snprintf(node->share, sizeof node->share, "%s", desc->share);
        }
    } else if (st == FX_OK) {
        int first_learnable = 1;
        int first_param = g->n_params;
        int bound[FX_MAX_PARAMS] = { 0 };
        for (int b = 0; b < desc->n_bind && st == FX_OK; b++) {
            int slot = -1, found = -1;
            for (int k = 0; k < op->n_params; k++)
                if (desc->bind_slot[b] && !strcmp(op->params[k].name, desc->bind_slot[b]))
                    slot = k;
            for (int i = 0; i < g->n_params; i++)
                if (desc->bind_param[b] && !strcmp(g->params[i].name, desc->bind_param[b]))
                    found = i;
            if (slot < 0 || b >= FX_MAX_PARAMS) {
                char valid[256] = "";
                size_t used = 0;
                for (int k = 0; k < op->n_params && used < sizeof valid; k++)
                    used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", k ? ", " : "", op->params[k].name);
                char msg[600];
                snprintf(msg, sizeof msg, "bind: '%s' is not a parameter of %s (it has: %s)",
                         desc->bind_slot[b] ? desc->bind_slot[b] : "", op->name, op->n_params ? valid : "none");
                st = fail_at(g, pos, FX_ERR_INVALID, "%s: %s", label, msg);
            } else if (found < 0) {
                st = fail_at(g, pos, FX_ERR_INVALID, "%s: bind: no parameter named '%s' exists above this layer "
                             "(write <layer>.<parameter>, e.g. k5.weight)", label,
                             desc->bind_param[b] ? desc->bind_param[b] : "");
            } else if (g->params[found].learnable != op->params[slot].learnable) {
                st = fail_at(g, pos, FX_ERR_INVALID, "%s: bind: '%s' is a learnable parameter on one side only",
                             label, desc->bind_param[b]);
            } else {
                node->param[slot] = found;
                bound[slot] = 1;
            }
        }
        for (int k = 0; k < op->n_params && st == FX_OK; k++) {
            if (bound[k])
                continue;
            char pname[FX_NAME_MAX * 2];
            snprintf(pname, sizeof pname, "%s.%s", name, op->params[k].name);
            st = add_param(g, pname, &op->params[k], init_for(g, desc, op, k, &first_learnable), g->n_nodes,
                           &node->param[k]);
        }
        if (st != FX_OK)
            g->n_params = first_param;
        char who[FX_NAME_MAX + 32];
        snprintf(who, sizeof who, "layer '%s': init", name);
        if (st == FX_OK && desc->init && desc->init[0] && fx_init_check(ctx, desc->init, who) != FX_OK) {
            char where[1100];
            fx_srcpos_str(pos, where, sizeof where);
            st = where[0] ? fx_fail_prefix(ctx, FX_ERR_INVALID, "%s", where) : FX_ERR_INVALID;
            g->n_params = first_param;
        }
        if (desc->init && desc->init[0])
            snprintf(node->init, sizeof node->init, "%s", desc->init);
    }
    if (st != FX_OK) {
        g->n_values = first_value;
        for (int a = 0; a < op->n_attrs; a++)
            fx_attr_free(&node->attrs[a]);
        node_free_arrays(node);
        return st;
    }
    g->n_nodes++;
    return FX_OK;
}

fx_status fx_graph_add_loss(fx_graph *g, const char *node_name, float weight, fx_srcpos pos)
{
    pos = own_pos(g, pos);
    int ni = find_node(g, node_name);
    if (ni < 0)
        return fail_at(g, pos, FX_ERR_INVALID, "loss '%s' names no layer", node_name);
    if (g->n_losses >= (int)(sizeof g->losses / sizeof g->losses[0]))
        return fail_at(g, pos, FX_ERR_INVALID, "too many losses (at most %d)",
                       (int)(sizeof g->losses / sizeof g->losses[0]));
    for (int i = 0; i < g->n_losses; i++)
        if (g->losses[i].node == ni)
            return fail_at(g, pos, FX_ERR_INVALID, "'%s' is listed as a loss twice", node_name);
    g->losses[g->n_losses].node = ni;
    g->losses[g->n_losses].weight = weight;
    g->losses[g->n_losses].pos = pos;
    g->n_losses++;
    return FX_OK;
}

fx_status fx_graph_set_init_group(fx_graph *g, const char *group, const char *init, fx_srcpos pos)
{
    pos = own_pos(g, pos);
    if (g->n_nodes)
        return fail_at(g, pos, FX_ERR_INVALID, "initialiser group '%s' must be set before the layers", group);
    if (strlen(group) >= 32 || strlen(init) >= 64)
        return fail_at(g, pos, FX_ERR_INVALID, "initialiser group '%s' or its value '%s' is too long", group, init);
    for (int i = 0; i < g->n_init_groups; i++)
        if (!strcmp(g->init_groups[i].group, group)) {
            snprintf(g->init_groups[i].init, sizeof g->init_groups[i].init, "%s", init);
            return FX_OK;
        }
    if (g->n_init_groups >= 16)
        return fail_at(g, pos, FX_ERR_INVALID, "too many initialiser groups");
    char what[64];
    snprintf(what, sizeof what, "params.init.%s", group);
    if (fx_init_check(g->ctx, init, what) != FX_OK) {
        char where[1100];
        fx_srcpos_str(pos, where, sizeof where);
        return where[0] ? fx_fail_prefix(g->ctx, FX_ERR_INVALID, "%s", where) : FX_ERR_INVALID;
    }
    snprintf(g->init_groups[g->n_init_groups].group, 32, "%s", group);
    snprintf(g->init_groups[g->n_init_groups].init, 64, "%s", init);
    g->init_groups[g->n_init_groups].pos = pos;
    g->n_init_groups++;
    return FX_OK;
}

fx_status fx_graph_check_init_groups(fx_graph *g)
{
    for (int i = 0; i < g->n_init_groups; i++) {
        const char *group = g->init_groups[i].group;
        const char *used[16];
        int n_used = 0, found = 0;
        for (int n = 0; n < g->n_nodes && !found; n++) {
            const fx_op_def *op = g->nodes[n].op;
            for (int k = 0; k < op->n_params && !found; k++) {
                const char *ig = op->params[k].init_group;
                if (!ig)
                    continue;
                found = !strcmp(ig, group);
                int seen = 0;
                for (int u = 0; u < n_used; u++)
                    seen |= !strcmp(used[u], ig);
                if (!seen && n_used < 16)
                    used[n_used++] = ig;
            }
        }
        if (found)
            continue;
        char list[256] = "";
        size_t len = 0;
        for (int u = 0; u < n_used && len < sizeof list; u++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", u ? ", " : "", used[u]);
        const char *close = n_used ? fx_yaml_closest(group, used, n_used) : NULL;
        return fail_at(g, g->init_groups[i].pos, FX_ERR_INVALID,
                       "params.init: group '%s' matches no parameter of this graph, so it would change nothing; "
                       "%s%s%s%s%s",
                       group, n_used ? "the groups this graph's layers use: " : "no layer of this graph has an "
                       "initialiser group", list, close ? " (did you mean '" : "", close ? close : "",
                       close ? "'?)" : "");
    }
    return FX_OK;
}

/* Accessors. */
int fx_graph_input_count(const fx_graph *g) { return g->n_inputs; }
const char *fx_graph_input_name(const fx_graph *g, int i) { return g->values[g->inputs[i].value].name; }
fx_dtype fx_graph_input_dtype(const fx_graph *g, int i) { return g->inputs[i].dtype; }
fx_shape fx_graph_input_shape(const fx_graph *g, int i) { return g->inputs[i].shape; }
int fx_graph_node_count(const fx_graph *g) { return g->n_nodes; }
const fx_node *fx_graph_node_at(const fx_graph *g, int i) { return i >= 0 && i < g->n_nodes ? &g->nodes[i] : NULL; }
const fx_node *fx_graph_find_node(const fx_graph *g, const char *name)
{
    int i = find_node(g, name);
    return i < 0 ? NULL : &g->nodes[i];
}
int fx_graph_loss_count(const fx_graph *g) { return g->n_losses; }
const char *fx_graph_loss_name(const fx_graph *g, int i) { return g->nodes[g->losses[i].node].name; }
float fx_graph_loss_weight(const fx_graph *g, int i) { return g->losses[i].weight; }
int64_t fx_graph_batch(const fx_graph *g) { return g->batch; }
int fx_graph_is_planned(const fx_graph *g) { return g->planned; }

int fx_graph_input_index(const fx_graph *g, const char *name)
{
    int v = fx_graph_find_value(g, name);
    for (int i = 0; v >= 0 && i < g->n_inputs; i++)
        if (g->inputs[i].value == v)
            return i;
    return -1;
}

const fx_node *fx_graph_value_producer(const fx_graph *g, const char *name)
{
    int v = fx_graph_find_value(g, name);
    return v >= 0 && g->values[v].producer >= 0 ? &g->nodes[g->values[v].producer] : NULL;
}

int fx_graph_value_shape(const fx_graph *g, const char *name, fx_shape *out)
{
    int v = fx_graph_find_value(g, name);
    if (v < 0 || !g->planned)
        return 0;
    *out = g->values[v].shape;
    return 1;
}

int fx_graph_param_count(const fx_graph *g) { return g->n_params; }
fx_param fx_graph_param_at(fx_graph *g, int i)
{
    fx_param p;
    memset(&p, 0, sizeof p);
    if (i < 0 || i >= g->n_params)
        return p;
    fx_graph_param *gp = &g->params[i];
    p.name = gp->name;
    p.learnable = gp->learnable;
    p.absent = gp->shape_known && gp->shape.ndim == 0;
    p.value = !p.absent && (gp->value.buffer || gp->shape_known) ? &gp->value : NULL;
    p.grad = gp->grad.buffer ? &gp->grad : NULL;
    return p;
}
fx_param *fx_graph_find_param(fx_graph *g, const char *name, fx_param *out)
{
    for (int i = 0; i < g->n_params; i++)
        if (!strcmp(g->params[i].name, name)) {
            *out = fx_graph_param_at(g, i);
            return out;
        }
    return NULL;
}
int64_t fx_graph_param_numel(const fx_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].learnable && g->params[i].shape_known && g->params[i].shape.ndim > 0)
            n += fx_shape_numel(&g->params[i].shape);
    return n;
}

/* Node accessors (fx/op.h). */
const char *fx_node_name(const fx_node *node) { return node->name; }
const char *fx_node_op_name(const fx_node *node) { return node->op->name; }
int fx_node_input_count(const fx_node *node) { return node->n_in; }
const char *fx_node_input_name(const fx_node *node, int i)
{
    return i >= 0 && i < node->n_in ? node->graph->values[node->in[i]].name : NULL;
}
fx_srcpos fx_node_pos(const fx_node *node) { return node->pos; }

static const fx_attr *node_attr(const fx_node *node, const char *key)
{
    for (int a = 0; a < node->n_attrs; a++)
        if (!strcmp(node->attrs[a].spec->name, key))
            return node->attrs[a].present ? &node->attrs[a] : NULL;
    return NULL;
}
int fx_node_has_attr(const fx_node *node, const char *key) { return node_attr(node, key) != NULL; }
int64_t fx_node_attr_int(const fx_node *node, const char *key)
{
    const fx_attr *a = node_attr(node, key);
    return a ? a->i : 0;
}
double fx_node_attr_float(const fx_node *node, const char *key)
{
    const fx_attr *a = node_attr(node, key);
    return a ? a->f : 0.0;
}
int fx_node_attr_bool(const fx_node *node, const char *key)
{
    const fx_attr *a = node_attr(node, key);
    return a ? (int)a->i : 0;
}
const char *fx_node_attr_string(const fx_node *node, const char *key)
{
    const fx_attr *a = node_attr(node, key);
    return a ? a->s : NULL;
}
int fx_node_attr_ints(const fx_node *node, const char *key, int64_t *out, int max)
{
    const fx_attr *a = node_attr(node, key);
    if (!a)
        return 0;
    int n = a->n_ints < max ? a->n_ints : max;
    for (int i = 0; i < n; i++)
        out[i] = a->ints[i];
    return n;
}

const char *fx_node_where(const fx_node *node, char *buf, size_t size)
{
    char where[1100];
    fx_srcpos_str(node->pos, where, sizeof where);
    snprintf(buf, size, "%s%snode '%s' (%s)", where, where[0] ? ": " : "", node->name, node->op->name);
    return buf;
}

fx_status fx_node_fail(fx_context *ctx, const fx_node *node, fx_status status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[1300];
    return fx_fail(ctx, status, "%s: %s", fx_node_where(node, where, sizeof where), msg);
}
