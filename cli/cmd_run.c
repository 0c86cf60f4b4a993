/* cli/cmd_run.c - `fxrun run` (and `fxrun infer` with feeds): evaluate a
 * graph on tensors fed from .npy files, fetch values and gradients.
 * Feeds name graph inputs or parameters ("c1.weight"); the batch size is
 * the first dimension of the fed inputs. */
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

/* Prints "fxrun: <message>"; returns 1. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fxrun: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static int is_input(fx_graph *g, const char *name, int *index)
{
    for (int i = 0; i < fx_graph_input_count(g); i++)
        if (!strcmp(fx_graph_input_name(g, i), name)) {
            *index = i;
            return 1;
        }
    return 0;
}

int cli_cmd_run_feeds(fx_context *ctx, const cli_options *o, int inference)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    fx_backend *be = NULL;
    int rc = cli_backend(ctx, o, &cfg, &be);
    fx_array arrays[CLI_MAX_TENSORS];
    memset(arrays, 0, sizeof arrays);
    int64_t batch = -1;
    const char *batch_from = NULL;
    /* Read every feed first: a bad file fails before any work. */
    for (int i = 0; i < o->n_feed && rc == 0; i++) {
        /* The dtype wanted: the input's, or float32 for a parameter. */
        int in;
        fx_dtype dtype = is_input(g, o->feed[i].name, &in) ? fx_graph_input_dtype(g, in) : FX_F32;
        if (fx_npy_read_as(ctx, o->feed[i].path, dtype, &arrays[i]) != FX_OK) {
            fx_fail_prefix(ctx, FX_ERR_INVALID, "--feed %s", o->feed[i].name);
            rc = cli_error(ctx);
            break;
        }
        if (is_input(g, o->feed[i].name, &in)) {
            fx_shape per = fx_graph_input_shape(g, in);
            const fx_shape *s = &arrays[i].shape;
            int ok = s->ndim == per.ndim + 1;
            for (int d = 0; ok && d < per.ndim; d++)
                ok = s->dim[d + 1] == per.dim[d];
            char a[64], b[64];
            fx_shape want = per;
            if (!ok) {
                fprintf(stderr, "fxrun: --feed %s: %s has shape %s, but input '%s' is [batch] + %s\n",
                        o->feed[i].name, o->feed[i].path, fx_shape_str(s, a, sizeof a), o->feed[i].name,
                        fx_shape_str(&want, b, sizeof b));
                rc = 1;
                break;
            }
            if (batch >= 0 && s->dim[0] != batch) {
                fprintf(stderr, "fxrun: --feed %s: batch %lld differs from %lld given by --feed %s\n",
                        o->feed[i].name, (long long)s->dim[0], (long long)batch, batch_from);
                rc = 1;
                break;
            }
            batch = s->dim[0];
            batch_from = o->feed[i].name;
        }
    }
    if (rc == 0)
        for (int i = 0; i < fx_graph_input_count(g) && rc == 0; i++) {
            int fed = 0;
            for (int f = 0; f < o->n_feed; f++)
                fed |= !strcmp(o->feed[f].name, fx_graph_input_name(g, i));
            if (!fed && !inference)
                rc = fail("input '%s' is not fed; add --feed %s=FILE.npy", fx_graph_input_name(g, i),
                          fx_graph_input_name(g, i));
        }
    if (rc == 0 && batch < 0)
        rc = fail("no graph input is fed, so the batch size is unknown; add --feed INPUT=FILE.npy");
    int train_mode = o->mode ? !strcmp(o->mode, "train") : !inference;
    if (inference && o->n_grad > 0)
        rc = rc ? rc : fail("--grad needs `fxrun run`, not infer");
    for (int i = 0; i < o->n_grad && rc == 0; i++) {
        int in;
        if (is_input(g, o->grad[i].name, &in) && fx_graph_require_grad(g, o->grad[i].name) != FX_OK)
            rc = cli_error(ctx);
    }
    for (int i = 0; i < o->n_fetch && rc == 0; i++)
        if (fx_graph_keep(g, o->fetch[i].name) != FX_OK)
            rc = cli_error(ctx);
    if (rc == 0 && o->n_grad > 0 && !train_mode)
        rc = fail("--grad needs --mode train");
    if (rc == 0 && fx_graph_plan(g, batch, train_mode ? FX_MODE_TRAIN : FX_MODE_INFER, be) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0)
        cli_note_fallback(g);
    if (rc == 0 && inference && cfg.train.checkpoint[0]) {
        fx_checkpoint_meta meta;
        if (fx_checkpoint_load(ctx, cfg.train.checkpoint, g, NULL, &meta) != FX_OK)
            rc = cli_error(ctx);
        else
            cli_note_checkpoint_graph(cfg.train.checkpoint, &meta, g);
    }
    /* Upload feeds: inputs and parameters. */
    for (int i = 0; i < o->n_feed && rc == 0; i++) {
        fx_tensor *t = fx_graph_value(g, o->feed[i].name);
        fx_param p;
        if (!t && fx_graph_find_param(g, o->feed[i].name, &p))
            t = p.value;
        if (!t) {
            rc = fail("--feed %s: the graph has no input or parameter of that name", o->feed[i].name);
            break;
        }
        if (!fx_shape_equal(&t->shape, &arrays[i].shape)) {
            char a[64], b[64];
            fprintf(stderr, "fxrun: --feed %s: %s has shape %s, expected %s\n", o->feed[i].name, o->feed[i].path,
                    fx_shape_str(&arrays[i].shape, a, sizeof a), fx_shape_str(&t->shape, b, sizeof b));
            rc = 1;
            break;
        }
        if (fx_tensor_upload(t, arrays[i].data) != FX_OK)
            rc = cli_error(ctx);
    }
    if (rc == 0 && fx_graph_forward(g) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->n_grad > 0 && fx_graph_backward(g) != FX_OK)
        rc = cli_error(ctx);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        const cli_binding *list = pass == 0 ? o->fetch : o->grad;
        int n = pass == 0 ? o->n_fetch : o->n_grad;
        for (int i = 0; i < n && rc == 0; i++) {
            fx_tensor *t = NULL;
            fx_param p;
            if (pass == 0) {
                t = fx_graph_value(g, list[i].name);
                if (!t && fx_graph_find_param(g, list[i].name, &p))
                    t = p.value;
            } else {
                t = fx_graph_value_grad(g, list[i].name);
            }
            if (!t) {
                rc = fail(pass == 0 ? "--fetch %s: no computed value or parameter of that name"
                                    : "--grad %s: no gradient of that name (the total loss does not depend on it, "
                                      "or it is not an input or learnable parameter)",
                          list[i].name);
                break;
            }
            fx_array a;
            a.dtype = t->dtype;
            a.shape = t->shape;
            a.data = malloc(fx_tensor_bytes(t));
            if (!a.data) {
                rc = fail("out of memory fetching %s", list[i].name);
                break;
            }
            if (fx_tensor_download(t, a.data) != FX_OK || fx_npy_write(ctx, list[i].path, &a) != FX_OK)
                rc = cli_error(ctx);
            free(a.data);
        }
    }
    /* A non-finite loss is an error, as in training (the fetched arrays are
     * written first: they are what one looks at to find where it starts).
     * Losses this plan does not compute (infer without labels) are skipped. */
    for (int l = 0; rc == 0 && l < fx_graph_loss_count(g); l++) {
        float v = 0;
        if (fx_graph_loss_value(g, l, &v) != FX_OK) {
            fx_context_clear_error(ctx);
            continue;
        }
        if (!isfinite(v))
            rc = fail("loss term '%s' is %f: the inputs or the weights hold NaN/Inf, or the values overflow; "
                      "fetch intermediate values (--fetch NAME=FILE.npy) to see where it starts",
                      fx_graph_loss_name(g, l), v);
    }
    if (rc == 0 && fx_graph_loss_count(g) > 0 && o->verbose > 0) {
        for (int l = 0; l < fx_graph_loss_count(g); l++) {
            float v;
            if (fx_graph_loss_value(g, l, &v) == FX_OK)
                printf("loss %s = %.8g (weight %g)\n", fx_graph_loss_name(g, l), v, fx_graph_loss_weight(g, l));
        }
        float total;
        if (fx_graph_loss_total(g, &total) == FX_OK)
            printf("total loss = %.8g\n", total);
    }
    for (int i = 0; i < o->n_feed; i++) /* all: a failed check leaves its array read */
        fx_array_free(&arrays[i]);
    fx_graph_destroy(g);
    return rc;
}

int cli_cmd_run(fx_context *ctx, const cli_options *o) { return cli_cmd_run_feeds(ctx, o, 0); }
