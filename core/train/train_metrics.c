/* core/train/train_metrics.c - per-loss means and per-classifier accuracies for
 * the training metrics (core/train/train_metrics.h). Loss values are read after
 * every step (4 bytes each), not only at logging time, so the figures are
 * means over the steps they summarise, not one step's value. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/train/train_metrics.h"

static void json_number(FILE *f, const char *prefix, const char *name, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s%s\":%.6g", prefix, name, v);
    else
        fprintf(f, ",\"%s%s\":null", prefix, name);
}

fx_status fx_train_meter_init(fx_context *ctx, fx_graph *g, const char *label_input, fx_train_meter *m)
{
    memset(m, 0, sizeof *m);
    m->g = g;
    int n_losses = fx_graph_loss_count(g);
    m->n_losses = n_losses < FX_METER_MAX ? n_losses : FX_METER_MAX;
    /* Values are told apart by their tensors: an alias names the same one. */
    const fx_tensor *label = fx_graph_value(g, label_input);
    size_t biggest = 0;
    for (int l = 0; l < m->n_losses && label; l++) {
        const fx_node *n = fx_graph_find_node(g, fx_graph_loss_name(g, l));
        if (!n || strcmp(fx_node_op_name(n), "softmax_cross_entropy") != 0 || fx_node_input_count(n) < 2 ||
            fx_graph_value(g, fx_node_input_name(n, 1)) != label)
            continue;
        const char *scores_name = fx_node_input_name(n, 0);
        const fx_tensor *scores = fx_graph_value(g, scores_name);
        if (!scores || !scores->buffer || scores->shape.ndim != 2)
            continue;
        m->acc_name[m->n_acc] = scores_name;
        m->acc_scores[m->n_acc] = scores;
        if (fx_tensor_bytes(scores) > biggest)
            biggest = fx_tensor_bytes(scores);
        m->n_acc++;
    }
    if (m->n_acc) {
        m->buf = fx_malloc(ctx, biggest, "classifier scores");
        if (!m->buf)
            return FX_ERR_NOMEM;
    }
    return FX_OK;
}

fx_status fx_train_meter_step(fx_train_meter *m, const int32_t *labels, int count, const float *losses)
{
    for (int l = 0; l < m->n_losses; l++) {
        float v = losses ? losses[l] : 0;
        fx_status st = losses ? FX_OK : fx_graph_loss_value(m->g, l, &v);
        if (st != FX_OK)
            return st;
        m->window_sum[l] += v;
        m->epoch_sum[l] += v;
    }
    m->window_steps++;
    m->epoch_steps++;
    for (int a = 0; a < m->n_acc; a++) {
        fx_status st = fx_tensor_download(m->acc_scores[a], m->buf);
        if (st != FX_OK)
            return st;
        int64_t classes = m->acc_scores[a]->shape.dim[1];
        for (int b = 0; b < count; b++) {
            const float *row = m->buf + (int64_t)b * classes;
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (row[c] > row[best])
                    best = c;
            m->acc_correct[a] += best == labels[b];
        }
        m->acc_seen[a] += count;
    }
    return FX_OK;
}

void fx_train_meter_write_window(fx_train_meter *m, FILE *f)
{
    for (int l = 0; l < m->n_losses; l++) {
        json_number(f, "loss.", fx_graph_loss_name(m->g, l),
                    m->window_steps ? m->window_sum[l] / (double)m->window_steps : NAN);
        m->window_sum[l] = 0;
    }
    m->window_steps = 0;
}

void fx_train_meter_write_epoch(fx_train_meter *m, FILE *f)
{
    for (int l = 0; l < m->n_losses; l++) {
        json_number(f, "train_loss.", fx_graph_loss_name(m->g, l),
                    m->epoch_steps ? m->epoch_sum[l] / (double)m->epoch_steps : NAN);
        m->epoch_sum[l] = 0;
    }
    for (int a = 0; a < m->n_acc; a++) {
        json_number(f, "train_accuracy.", m->acc_name[a],
                    m->acc_seen[a] ? (double)m->acc_correct[a] / (double)m->acc_seen[a] : NAN);
        m->acc_correct[a] = m->acc_seen[a] = 0;
    }
    m->epoch_steps = 0;
}

void fx_train_meter_free(fx_train_meter *m)
{
    free(m->buf);
    m->buf = NULL;
}
