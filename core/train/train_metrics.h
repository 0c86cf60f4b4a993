/* core/train/train_metrics.h - the per-loss and per-classifier figures of the
 * training metrics (fx_train's --metrics JSON lines): every loss term's
 * mean over the logging window and over the epoch, and the top-1
 * accuracy of every softmax cross-entropy loss's scores (the clean and,
 * in the paper's network, the occluded branch). Kept out of train.c so
 * the loop stays readable; uses the public API only (include/fx). */
#ifndef FX_CORE_TRAIN_METRICS_H
#define FX_CORE_TRAIN_METRICS_H

#include <stdio.h>
#include "fx/fx.h"

#define FX_METER_MAX 32

typedef struct fx_train_meter {
    fx_graph *g;
    int n_losses;
    double window_sum[FX_METER_MAX], epoch_sum[FX_METER_MAX];
    int64_t window_steps, epoch_steps;
    int n_acc;
    const char *acc_name[FX_METER_MAX];     /* the scores value of a cross-entropy loss */
    const fx_tensor *acc_scores[FX_METER_MAX];
    int64_t acc_correct[FX_METER_MAX], acc_seen[FX_METER_MAX]; /* this epoch */
    float *buf;                              /* one downloaded scores batch */
} fx_train_meter;

/* After planning for training: finds the losses and the cross-entropy
 * losses whose second input is `label_input`. */
fx_status fx_train_meter_init(fx_context *ctx, fx_graph *g, const char *label_input, fx_train_meter *m);
/* After a step's forward: adds every loss value (losses[], when given:
 * data parallel, the means over the ranks; else read from the graph) and
 * counts correct predictions of every classifier on the `count` real
 * labels (this rank's rows). */
fx_status fx_train_meter_step(fx_train_meter *m, const int32_t *labels, int count, const float *losses);
/* Writes ,"loss.<name>":mean for the window and starts a new window. */
void fx_train_meter_write_window(fx_train_meter *m, FILE *f);
/* Writes ,"train_loss.<name>":mean and ,"train_accuracy.<scores>":acc for
 * the epoch and starts a new epoch. */
void fx_train_meter_write_epoch(fx_train_meter *m, FILE *f);
void fx_train_meter_free(fx_train_meter *m);

#endif
