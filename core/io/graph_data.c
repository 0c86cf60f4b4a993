/* core/io/graph_data.c - what a config's data and train sections mean for
 * one graph: the value whose argmax is the prediction, and whether a data
 * set's images fit the graph's image input. Here, beside the loaders, so
 * that the YAML loader, training and the face workflow share one rule
 * without reaching into each other (docs/design.md, "Source tree"). */
#include <string.h>

#include "core/internal.h"

/* The value whose argmax is the prediction: train.predict, else the first
 * input of the first softmax_cross_entropy loss (the class scores; other
 * losses such as sad_loss read feature maps); NULL when there is none.
 * The one place this default is decided: the YAML loader fills an absent
 * train.predict from it, and training, evaluation and feature extraction
 * ask it when a config leaves train.predict empty. */
const char *fx_config_predict_name(const fx_graph *g, const fx_config *cfg)
{
    if (cfg->train.predict[0])
        return cfg->train.predict;
    for (int i = 0; i < g->n_losses; i++) {
        const fx_node *n = &g->nodes[g->losses[i].node];
        if (n->n_in >= 1 && strcmp(n->op->name, "softmax_cross_entropy") == 0)
            return g->values[n->in[0]].name;
    }
    return NULL;
}

/* Checks that the data's images fit the graph's image input: training and
 * evaluation (which check the label input too) and feature extraction. */
fx_status fx_config_check_image_input(fx_context *ctx, const fx_graph *g, const fx_config *cfg, fx_dataset *ds,
                                      const char *which)
{
    int img = fx_graph_find_value(g, cfg->data.image_input);
    if (img < 0 || g->values[img].producer >= 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: data.image names '%s', which is not an input of the graph",
                       cfg->path, cfg->data.image_input);
    fx_shape ex = fx_dataset_example_shape(ds, &cfg->data);
    for (int i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i].value != img)
            continue;
        if (!fx_shape_equal(&ex, &g->inputs[i].shape)) {
            char a[64], b[64];
            return fx_fail(ctx, FX_ERR_SHAPE,
                           "%s: the %s data gives examples of shape %s but input '%s' is declared %s; set "
                           "data.channels/size/resize or change the input",
                           cfg->path, which, fx_shape_str(&ex, a, sizeof a), cfg->data.image_input,
                           fx_shape_str(&g->inputs[i].shape, b, sizeof b));
        }
        if (g->inputs[i].dtype != FX_F32)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: image input '%s' must be float32", cfg->path, cfg->data.image_input);
    }
    return FX_OK;
}
