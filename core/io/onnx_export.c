/* core/io/onnx_export.c - fx_onnx_export (fx/onnx.h): a planned graph's
 * inference path as an ONNX model, built as protobuf messages
 * (core/io/onnx/onnx_subset.proto, compiled by protoc-c) and packed by
 * protobuf-c; never hand-made bytes.
 *
 * Each fx op becomes the ONNX ops that compute the same thing in
 * inference behaviour (opset 13):
 *   conv2d          Conv; TensorFlow SAME padding, which is asymmetric,
 *                   as an explicit Pad before a Conv without padding
 *   batchnorm       BatchNormalization (running statistics, fx's eps)
 *   relu, elu       Relu, Elu (alpha)
 *   maxpool2d       MaxPool; avgpool2d AveragePool (without padding)
 *   global_avgpool  GlobalAveragePool + Flatten (fx gives [N, C])
 *   linear          Flatten (4-D input) + Gemm (transB = 1)
 *   dropout         Identity
 *   concat          Concat; flatten Flatten; reshape Reshape ([0, ...])
 *   l2_normalize    x / Sqrt(Max(ReduceSum(x*x, axis), eps)) (ONNX's
 *                   LpNormalization has no eps: a zero vector gives NaN)
 *   resize_bilinear Resize, mode linear, coordinate_transformation_mode
 *                   = the fx mapping (asymmetric = TF1's legacy resize)
 *   topk_mask       t = Gather(TopK(Reshape(Abs(x), [0, 0, -1]), k), k-1);
 *                   x * Cast(Greater(Abs(x), Unsqueeze(t, [2, 3])))
 *                   (strictly greater, as fx: ties with t are dropped)
 * Every message and string lives in one arena freed at the end. */
#include <stdlib.h>
#include <string.h>

#include "fx/onnx.h"
#include "core/internal.h"

#ifndef FX_HAVE_ONNX

fx_status fx_onnx_export(fx_context *ctx, fx_graph *g, const char *path, const char *output)
{
    return fx_fail(ctx, FX_ERR_UNSUPPORTED, "'%s': this fx was built without protobuf-c, so it cannot write ONNX; "
                   "apt-get install libprotobuf-c-dev protobuf-c-compiler and rebuild", path);
}

#else

#include "fx/file.h"
#include "core/ops/window2d.h"
#include "onnx_subset.pb-c.h"

#define OX_OPSET 13
#define OX_IR_VERSION 7 /* the IR version of opset 13 (ONNX 1.8) */

typedef struct ox {
    fx_context *ctx;
    fx_graph *g;
    void **blocks;
    size_t n_blocks, cap_blocks;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int n_temps;
    fx_status st;
} ox;

static void *ox_alloc(ox *o, size_t size)
{
    if (o->st != FX_OK)
        return NULL;
    if (o->n_blocks == o->cap_blocks) {
        size_t cap = o->cap_blocks ? o->cap_blocks * 2 : 256;
        void **b = realloc(o->blocks, cap * sizeof *b);
        if (!b) {
            o->st = fx_fail(o->ctx, FX_ERR_NOMEM, "out of memory building the ONNX model");
            return NULL;
        }
        o->blocks = b;
        o->cap_blocks = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        o->st = fx_fail(o->ctx, FX_ERR_NOMEM, "out of memory building the ONNX model");
        return NULL;
    }
    o->blocks[o->n_blocks++] = p;
    return p;
}

static char *ox_str(ox *o, const char *s)
{
    char *p = ox_alloc(o, strlen(s) + 1);
    if (p)
        strcpy(p, s);
    return p;
}

/* A fresh value name for an intermediate ONNX value of fx node `base`. */
static char *ox_temp(ox *o, const char *base, const char *what)
{
    char buf[FX_NAME_MAX * 2];
    snprintf(buf, sizeof buf, "%s/%s_%d", base, what, o->n_temps++);
    return ox_str(o, buf);
}

static int ox_push(ox *o, void ***list, size_t *n, size_t *cap, void *item)
{
    if (!item)
        return 0;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        void **l = realloc(*list, c * sizeof *l);
        if (!l) {
            o->st = fx_fail(o->ctx, FX_ERR_NOMEM, "out of memory building the ONNX model");
            return 0;
        }
        *list = l;
        *cap = c;
    }
    (*list)[(*n)++] = item;
    return 1;
}

/* Adds a node op(inputs) -> outputs; returns it to add attributes. */
static Onnx__NodeProto *ox_node(ox *o, const char *op, const char *name, int n_in, const char *const *in, int n_out,
                                const char *const *out)
{
    Onnx__NodeProto *n = ox_alloc(o, sizeof *n);
    char **ins = ox_alloc(o, (size_t)(n_in + 1) * sizeof *ins);
    char **outs = ox_alloc(o, (size_t)(n_out + 1) * sizeof *outs);
    if (!n || !ins || !outs)
        return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) { /* a constant or parameter that could not be made */
            if (o->st == FX_OK)
                o->st = fx_fail(o->ctx, FX_ERR_INTERNAL, "ONNX export: input %d of a %s node is missing", i, op);
            return NULL;
        }
        ins[i] = ox_str(o, in[i]);
    }
    for (int i = 0; i < n_out; i++)
        outs[i] = ox_str(o, out[i]);
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = (size_t)n_out;
    n->output = outs;
    n->op_type = ox_str(o, op);
    n->name = ox_temp(o, name, op);
    ox_push(o, (void ***)&o->nodes, &o->n_nodes, &o->cap_nodes, n);
    return o->st == FX_OK ? n : NULL;
}

static Onnx__AttributeProto *ox_attr(ox *o, Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    if (!n)
        return NULL;
    Onnx__AttributeProto *a = ox_alloc(o, sizeof *a);
    Onnx__AttributeProto **list = ox_alloc(o, (n->n_attribute + 1) * sizeof *list);
    if (!a || !list)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = ox_str(o, name);
    a->has_type = 1;
    a->type = type;
    if (n->n_attribute)
        memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

static void ox_attr_int(ox *o, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ox_attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

static void ox_attr_float(ox *o, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = ox_attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
}

static void ox_attr_string(ox *o, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = ox_attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (a) {
        a->has_s = 1;
        a->s.data = (uint8_t *)ox_str(o, v);
        a->s.len = strlen(v);
    }
}

static void ox_attr_ints(ox *o, Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = ox_attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = ox_alloc(o, (size_t)count * sizeof *copy);
    if (a && copy) {
        memcpy(copy, v, (size_t)count * sizeof *copy);
        a->n_ints = (size_t)count;
        a->ints = copy;
    }
}

/* An initialiser: `bytes` of little-endian data (4 or 8 bytes per
 * element) copied into the model. */
static const char *ox_init(ox *o, const char *name, int data_type, int ndim, const int64_t *dims, const void *data,
                           size_t bytes)
{
    Onnx__TensorProto *t = ox_alloc(o, sizeof *t);
    int64_t *d = ox_alloc(o, (size_t)(ndim + 1) * sizeof *d);
    uint8_t *raw = ox_alloc(o, bytes);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    if (ndim)
        memcpy(d, dims, (size_t)ndim * sizeof *d);
    memcpy(raw, data, bytes);
    if (!fx_host_is_little_endian()) {
        size_t w = data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
        for (size_t i = 0; i < bytes; i += w)
            for (size_t k = 0; k < w / 2; k++) {
                uint8_t c = raw[i + k];
                raw[i + k] = raw[i + w - 1 - k];
                raw[i + w - 1 - k] = c;
            }
    }
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = data_type;
    t->name = ox_str(o, name);
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = bytes;
    ox_push(o, (void ***)&o->inits, &o->n_inits, &o->cap_inits, t);
    return o->st == FX_OK ? t->name : NULL;
}

static const char *ox_const_i64(ox *o, const char *base, int count, const int64_t *v)
{
    char *name = ox_temp(o, base, "const");
    int64_t dim = count;
    return name ? ox_init(o, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &dim, v, (size_t)count * 8) : NULL;
}

static const char *ox_const_f32(ox *o, const char *base, int count, const float *v)
{
    char *name = ox_temp(o, base, "const");
    int64_t dim = count;
    return name ? ox_init(o, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &dim, v, (size_t)count * 4) : NULL;
}

/* The parameter in slot `slot` of node n, as an initialiser (added once:
 * shared parameters appear once). NULL when absent (bias: false). */
static const char *ox_param(ox *o, const fx_node *n, int slot)
{
    fx_graph_param *p = &o->g->params[n->param[slot]];
    if (!p->value.buffer || p->value.shape.ndim == 0)
        return NULL;
    for (size_t i = 0; i < o->n_inits; i++)
        if (!strcmp(o->inits[i]->name, p->name))
            return o->inits[i]->name;
    size_t bytes = fx_tensor_bytes(&p->value);
    float *host = malloc(bytes ? bytes : 4);
    if (!host) {
        o->st = fx_fail(o->ctx, FX_ERR_NOMEM, "out of memory reading '%s'", p->name);
        return NULL;
    }
    fx_status st = fx_tensor_download(&p->value, host);
    const char *name = NULL;
    if (st != FX_OK)
        o->st = st;
    else
        name = ox_init(o, p->name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, p->value.shape.ndim, p->value.shape.dim,
                       host, bytes);
    free(host);
    return name;
}

static const char *in_name(const ox *o, const fx_node *n, int k) { return o->g->values[n->in[k]].name; }
static const char *out_name(const ox *o, const fx_node *n) { return o->g->values[n->out[0]].name; }
static const fx_shape *in_shape(const ox *o, const fx_node *n, int k) { return &o->g->values[n->in[k]].shape; }

static fx_status unsupported(ox *o, const fx_node *n, const char *why)
{
    return o->st = fx_fail(o->ctx, FX_ERR_UNSUPPORTED, "ONNX export: layer '%s' (%s): %s", n->name, n->op->name,
                           why);
}

static void export_conv(ox *o, const fx_node *n)
{
    const fx_shape *x = in_shape(o, n, 0);
    fx_window2d w;
    fx_status st = fx_window2d_resolve(o->ctx, n, x->dim[2], x->dim[3], &w);
    if (st != FX_OK) {
        o->st = st;
        return;
    }
    const char *src = in_name(o, n, 0);
    int64_t pads[4] = { w.pad_top, w.pad_left, w.pad_bottom, w.pad_right };
    if (w.pad_top != w.pad_bottom || w.pad_left != w.pad_right) {
        /* TF SAME on an even map: 0 before, 1 after. An explicit Pad keeps
         * that visible in the model rather than hidden in Conv's pads. */
        int64_t p8[8] = { 0, 0, w.pad_top, w.pad_left, 0, 0, w.pad_bottom, w.pad_right };
        const char *pads_name = ox_const_i64(o, n->name, 8, p8);
        const char *padded = ox_temp(o, n->name, "padded");
        const char *ins[2] = { src, pads_name };
        Onnx__NodeProto *pad = ox_node(o, "Pad", n->name, 2, ins, 1, &padded);
        ox_attr_string(o, pad, "mode", "constant");
        src = padded;
        memset(pads, 0, sizeof pads);
    }
    const char *wname = ox_param(o, n, 0), *bname = ox_param(o, n, 1);
    const char *ins[3] = { src, wname, bname };
    const char *out = out_name(o, n);
    Onnx__NodeProto *c = ox_node(o, "Conv", n->name, bname ? 3 : 2, ins, 1, &out);
    int64_t k[2] = { w.kernel_h, w.kernel_w }, s[2] = { w.stride_h, w.stride_w };
    ox_attr_ints(o, c, "kernel_shape", 2, k);
    ox_attr_ints(o, c, "strides", 2, s);
    ox_attr_ints(o, c, "pads", 4, pads);
}

static void export_pool(ox *o, const fx_node *n, int is_max)
{
    const fx_shape *x = in_shape(o, n, 0);
    fx_window2d w;
    fx_status st = fx_window2d_resolve(o->ctx, n, x->dim[2], x->dim[3], &w);
    if (st != FX_OK) {
        o->st = st;
        return;
    }
    if (!is_max && (w.pad_top || w.pad_bottom || w.pad_left || w.pad_right)) {
        unsupported(o, n, "average pooling with padding is not exported (which padded cells count is not "
                    "pinned down); use padding: valid");
        return;
    }
    const char *in = in_name(o, n, 0), *out = out_name(o, n);
    Onnx__NodeProto *p = ox_node(o, is_max ? "MaxPool" : "AveragePool", n->name, 1, &in, 1, &out);
    int64_t k[2] = { w.kernel_h, w.kernel_w }, s[2] = { w.stride_h, w.stride_w };
    int64_t pads[4] = { w.pad_top, w.pad_left, w.pad_bottom, w.pad_right };
    ox_attr_ints(o, p, "kernel_shape", 2, k);
    ox_attr_ints(o, p, "strides", 2, s);
    ox_attr_ints(o, p, "pads", 4, pads);
}

static void export_linear(ox *o, const fx_node *n)
{
    const char *src = in_name(o, n, 0);
    if (in_shape(o, n, 0)->ndim != 2) {
        const char *flat = ox_temp(o, n->name, "flat");
        Onnx__NodeProto *f = ox_node(o, "Flatten", n->name, 1, &src, 1, &flat);
        ox_attr_int(o, f, "axis", 1);
        src = flat;
    }
    const char *wname = ox_param(o, n, 0), *bname = ox_param(o, n, 1);
    const char *ins[3] = { src, wname, bname };
    const char *out = out_name(o, n);
    Onnx__NodeProto *gm = ox_node(o, "Gemm", n->name, bname ? 3 : 2, ins, 1, &out);
    ox_attr_int(o, gm, "transB", 1);
}

static void export_l2(ox *o, const fx_node *n)
{
    const fx_shape *x = in_shape(o, n, 0);
    int64_t axis = fx_node_attr_int(n, "axis");
    if (axis < 0)
        axis += x->ndim;
    float eps = (float)fx_node_attr_float(n, "eps");
    const char *src = in_name(o, n, 0);
    const char *sq = ox_temp(o, n->name, "square"), *sum = ox_temp(o, n->name, "sum");
    const char *clamped = ox_temp(o, n->name, "clamped"), *norm = ox_temp(o, n->name, "norm");
    const char *in2[2] = { src, src };
    ox_node(o, "Mul", n->name, 2, in2, 1, &sq);
    const char *rs[2] = { sq, ox_const_i64(o, n->name, 1, &axis) };
    Onnx__NodeProto *r = ox_node(o, "ReduceSum", n->name, 2, rs, 1, &sum);
    ox_attr_int(o, r, "keepdims", 1);
    const char *mx[2] = { sum, ox_const_f32(o, n->name, 1, &eps) };
    ox_node(o, "Max", n->name, 2, mx, 1, &clamped);
    ox_node(o, "Sqrt", n->name, 1, &clamped, 1, &norm);
    const char *dv[2] = { src, norm };
    const char *out = out_name(o, n);
    ox_node(o, "Div", n->name, 2, dv, 1, &out);
}

static void export_resize(ox *o, const fx_node *n)
{
    const fx_shape *x = in_shape(o, n, 0), *y = &o->g->values[n->out[0]].shape;
    const char *mapping = fx_node_attr_string(n, "mapping");
    float scales[4] = { 1.0f, 1.0f, (float)((double)y->dim[2] / (double)x->dim[2]),
                        (float)((double)y->dim[3] / (double)x->dim[3]) };
    const char *ins[3] = { in_name(o, n, 0), "", ox_const_f32(o, n->name, 4, scales) };
    const char *out = out_name(o, n);
    Onnx__NodeProto *r = ox_node(o, "Resize", n->name, 3, ins, 1, &out);
    ox_attr_string(o, r, "mode", "linear");
    ox_attr_string(o, r, "coordinate_transformation_mode", mapping);
}

static void export_topk(ox *o, const fx_node *n)
{
    const fx_shape *x = in_shape(o, n, 0);
    int64_t k = fx_node_attr_int(n, "k");
    if (k <= 0)
        k = x->dim[2];
    const char *src = in_name(o, n, 0);
    const char *absx = ox_temp(o, n->name, "abs"), *flat = ox_temp(o, n->name, "flat");
    const char *vals = ox_temp(o, n->name, "topk"), *idx = ox_temp(o, n->name, "topk_index");
    const char *t = ox_temp(o, n->name, "threshold"), *t4 = ox_temp(o, n->name, "threshold4");
    const char *keep = ox_temp(o, n->name, "keep"), *keepf = ox_temp(o, n->name, "keepf");
    ox_node(o, "Abs", n->name, 1, &src, 1, &absx);
    int64_t shape3[3] = { 0, 0, -1 };
    const char *rs[2] = { absx, ox_const_i64(o, n->name, 3, shape3) };
    ox_node(o, "Reshape", n->name, 2, rs, 1, &flat);
    const char *tk[2] = { flat, ox_const_i64(o, n->name, 1, &k) };
    const char *tko[2] = { vals, idx };
    Onnx__NodeProto *top = ox_node(o, "TopK", n->name, 2, tk, 2, tko);
    ox_attr_int(o, top, "axis", -1);
    ox_attr_int(o, top, "largest", 1);
    /* the k-th largest: a scalar index gathers [N, C] */
    char *kname = ox_temp(o, n->name, "k_minus_1");
    int64_t km1 = k - 1;
    ox_init(o, kname, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 0, NULL, &km1, 8);
    const char *ga[2] = { vals, kname };
    Onnx__NodeProto *gat = ox_node(o, "Gather", n->name, 2, ga, 1, &t);
    ox_attr_int(o, gat, "axis", 2);
    int64_t axes[2] = { 2, 3 };
    const char *un[2] = { t, ox_const_i64(o, n->name, 2, axes) };
    ox_node(o, "Unsqueeze", n->name, 2, un, 1, &t4);
    const char *gt[2] = { absx, t4 };
    ox_node(o, "Greater", n->name, 2, gt, 1, &keep);
    Onnx__NodeProto *cast = ox_node(o, "Cast", n->name, 1, &keep, 1, &keepf);
    ox_attr_int(o, cast, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    const char *mu[2] = { src, keepf };
    const char *out = out_name(o, n);
    ox_node(o, "Mul", n->name, 2, mu, 1, &out);
}

static void export_node(ox *o, const fx_node *n)
{
    const char *op = n->op->name;
    const char *in = n->n_in ? in_name(o, n, 0) : NULL, *out = n->n_out ? out_name(o, n) : NULL;
    if (n->n_out != 1 && strcmp(op, "topk_mask") != 0) {
        unsupported(o, n, "ops with several outputs are not exported");
        return;
    }
    if (!strcmp(op, "conv2d")) {
        export_conv(o, n);
    } else if (!strcmp(op, "batchnorm")) {
        const char *ins[5] = { in, ox_param(o, n, 0), ox_param(o, n, 1), ox_param(o, n, 2), ox_param(o, n, 3) };
        Onnx__NodeProto *b = ox_node(o, "BatchNormalization", n->name, 5, ins, 1, &out);
        ox_attr_float(o, b, "epsilon", (float)fx_node_attr_float(n, "eps"));
    } else if (!strcmp(op, "relu")) {
        ox_node(o, "Relu", n->name, 1, &in, 1, &out);
    } else if (!strcmp(op, "elu")) {
        ox_attr_float(o, ox_node(o, "Elu", n->name, 1, &in, 1, &out), "alpha", (float)fx_node_attr_float(n, "alpha"));
    } else if (!strcmp(op, "maxpool2d") || !strcmp(op, "avgpool2d")) {
        export_pool(o, n, op[0] == 'm');
    } else if (!strcmp(op, "global_avgpool")) {
        const char *pooled = ox_temp(o, n->name, "pooled");
        ox_node(o, "GlobalAveragePool", n->name, 1, &in, 1, &pooled);
        if (o->g->values[n->out[0]].shape.ndim == 2)
            ox_attr_int(o, ox_node(o, "Flatten", n->name, 1, &pooled, 1, &out), "axis", 1);
        else
            ox_node(o, "Identity", n->name, 1, &pooled, 1, &out);
    } else if (!strcmp(op, "linear")) {
        export_linear(o, n);
    } else if (!strcmp(op, "dropout")) {
        ox_node(o, "Identity", n->name, 1, &in, 1, &out);
    } else if (!strcmp(op, "concat")) {
        const char **ins = malloc((size_t)n->n_in * sizeof *ins); /* concat takes any number of inputs */
        if (!ins) {
            if (o->st == FX_OK)
                o->st = fx_fail(o->ctx, FX_ERR_NOMEM, "out of memory building the ONNX model");
            return;
        }
        for (int i = 0; i < n->n_in; i++)
            ins[i] = in_name(o, n, i);
        int64_t axis = fx_node_attr_int(n, "axis");
        if (axis < 0)
            axis += in_shape(o, n, 0)->ndim;
        ox_attr_int(o, ox_node(o, "Concat", n->name, n->n_in, ins, 1, &out), "axis", axis);
        free(ins);
    } else if (!strcmp(op, "flatten")) {
        ox_attr_int(o, ox_node(o, "Flatten", n->name, 1, &in, 1, &out), "axis", 1);
    } else if (!strcmp(op, "reshape")) {
        const fx_shape *y = &o->g->values[n->out[0]].shape;
        int64_t dims[FX_MAX_DIMS];
        dims[0] = 0; /* keep the batch */
        for (int d = 1; d < y->ndim; d++)
            dims[d] = y->dim[d];
        const char *ins[2] = { in, ox_const_i64(o, n->name, y->ndim, dims) };
        ox_node(o, "Reshape", n->name, 2, ins, 1, &out);
    } else if (!strcmp(op, "l2_normalize")) {
        export_l2(o, n);
    } else if (!strcmp(op, "resize_bilinear")) {
        export_resize(o, n);
    } else if (!strcmp(op, "topk_mask")) {
        export_topk(o, n);
    } else {
        unsupported(o, n, "this op has no ONNX export; export a value computed before it (--feature NAME)");
    }
}

static Onnx__ValueInfoProto *ox_value_info(ox *o, const char *name, const fx_shape *shape, fx_dtype dtype)
{
    Onnx__ValueInfoProto *v = ox_alloc(o, sizeof *v);
    Onnx__TypeProto *t = ox_alloc(o, sizeof *t);
    Onnx__TypeProto__Tensor *tt = ox_alloc(o, sizeof *tt);
    Onnx__TensorShapeProto *s = ox_alloc(o, sizeof *s);
    Onnx__TensorShapeProto__Dimension **dims = ox_alloc(o, (size_t)(shape->ndim + 1) * sizeof *dims);
    if (!v || !t || !tt || !s || !dims)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(s);
    for (int d = 0; d < shape->ndim; d++) {
        dims[d] = ox_alloc(o, sizeof *dims[d]);
        if (!dims[d])
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[d]);
        if (d == 0) {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d]->dim_param = ox_str(o, "N");
        } else {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d]->dim_value = shape->dim[d];
        }
    }
    s->n_dim = (size_t)shape->ndim;
    s->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = dtype == FX_F32 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    tt->shape = s;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = ox_str(o, name);
    v->type = t;
    return v;
}

fx_status fx_onnx_export(fx_context *ctx, fx_graph *g, const char *path, const char *output)
{
    if (!g->planned)
        return fx_fail(ctx, FX_ERR_INVALID, "ONNX export of '%s': plan the graph first", g->name);
    int target = fx_graph_find_value(g, output);
    if (target < 0) {
        char close[512];
        fx_graph_close_value_names(g, output, 8, close, sizeof close);
        return fx_fail(ctx, FX_ERR_INVALID, "ONNX export: graph '%s' has no value named '%s'%s%s", g->name, output,
                       close[0] ? "; close names: " : "", close);
    }
    /* The nodes the output needs, by a backward sweep over the
     * (topologically ordered) node list. */
    char *need = calloc((size_t)g->n_values + 1, 1);
    char *need_node = calloc((size_t)g->n_nodes + 1, 1);
    if (!need || !need_node) {
        free(need);
        free(need_node);
        return fx_fail(ctx, FX_ERR_NOMEM, "out of memory");
    }
    need[target] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const fx_node *n = &g->nodes[i];
        int used = 0;
        for (int k = 0; k < n->n_out; k++)
            used |= need[n->out[k]];
        if (!used)
            continue;
        need_node[i] = 1;
        for (int k = 0; k < n->n_in; k++)
            need[n->in[k]] = 1;
    }
    ox o = { .ctx = ctx, .g = g, .st = FX_OK };
    for (int i = 0; i < g->n_nodes && o.st == FX_OK; i++)
        if (need_node[i])
            export_node(&o, &g->nodes[i]);
    Onnx__ValueInfoProto **inputs = ox_alloc(&o, (size_t)(g->n_inputs + 1) * sizeof *inputs);
    size_t n_inputs = 0;
    for (int i = 0; i < g->n_inputs && o.st == FX_OK; i++) {
        const fx_value *v = &g->values[g->inputs[i].value];
        if (need[g->inputs[i].value])
            inputs[n_inputs++] = ox_value_info(&o, v->name, &v->shape, v->dtype);
    }
    const fx_value *tv = &g->values[target];
    /* The output is named as the user asked (an alias names its value). */
    Onnx__ValueInfoProto *out = ox_value_info(&o, tv->name, &tv->shape, tv->dtype);
    if (o.st == FX_OK && g->values[target].producer < 0)
        o.st = fx_fail(ctx, FX_ERR_INVALID, "ONNX export: '%s' is a graph input, not a computed value", output);

    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = { &opset };
    Onnx__ValueInfoProto *outs[1] = { out };
    uint8_t *bytes = NULL;
    if (o.st == FX_OK) {
        graph.n_node = o.n_nodes;
        graph.node = o.nodes;
        graph.name = g->name;
        graph.n_initializer = o.n_inits;
        graph.initializer = o.inits;
        graph.n_input = n_inputs;
        graph.input = inputs;
        graph.n_output = 1;
        graph.output = outs;
        opset.domain = "";
        opset.has_version = 1;
        opset.version = OX_OPSET;
        model.has_ir_version = 1;
        model.ir_version = OX_IR_VERSION;
        model.producer_name = "fx";
        model.producer_version = FX_VERSION_STRING;
        model.graph = &graph;
        model.n_opset_import = 1;
        model.opset_import = opsets;
        size_t size = onnx__model_proto__get_packed_size(&model);
        bytes = malloc(size ? size : 1);
        if (!bytes)
            o.st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory packing the ONNX model (%zu bytes)", size);
        else if (onnx__model_proto__pack(&model, bytes) != size)
            o.st = fx_fail(ctx, FX_ERR_INTERNAL, "protobuf-c packed another size than it measured");
        else
            o.st = fx_file_write_atomic(ctx, path, bytes, size);
    }
    free(bytes);
    for (size_t i = 0; i < o.n_blocks; i++)
        free(o.blocks[i]);
    free(o.blocks);
    free(o.nodes);
    free(o.inits);
    free(need);
    free(need_node);
    return o.st;
}

#endif
