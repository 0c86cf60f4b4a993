/* core/train/schedule.c - learning-rate schedules: the learning rate of each
 * (0-based) optimiser step, as a pure function of the step so a resumed run
 * continues the schedule exactly where it stopped.
 *
 *   warm-up (warmup_steps = W > 0): steps 0..W-1 use
 *       lr_sched(step) * (step + 1) / W,
 *     a linear ramp starting at lr/W and reaching the full rate on step
 *     W-1, so step W is the first one with no warm-up factor;
 *   constant: lr;
 *   step:     lr * gamma^floor(epoch / step_epochs), epoch = step / steps_per_epoch
 *             (no decay when step_epochs <= 0 or steps_per_epoch <= 0);
 *   cosine:   after warm-up, from lr at step W down to min_lr at step
 *             total_steps (and min_lr after it):
 *       min_lr + (lr - min_lr) * (1 + cos(pi * (step - W) / (total_steps - W))) / 2,
 *     the progress clamped to [0, 1] (PyTorch's CosineAnnealingLR with
 *     T_max = total_steps - W). During warm-up the cosine factor is 1.
 * Computed in double and rounded once to float. */
#include <math.h>

#include "fx/fx.h"

float fx_lr_at(const fx_train_config *cfg, int64_t step, int64_t steps_per_epoch, int64_t total_steps)
{
    if (step < 0)
        step = 0;
    double lr = (double)cfg->lr;
    double warm = cfg->warmup_steps > 0 ? (double)cfg->warmup_steps : 0.0;
    double rate = lr;
    switch (cfg->schedule) {
    case FX_SCHEDULE_CONSTANT:
        break;
    case FX_SCHEDULE_STEP:
        if (cfg->step_epochs > 0 && steps_per_epoch > 0) {
            int64_t epoch = step / steps_per_epoch;
            rate = lr * pow((double)cfg->gamma, (double)(epoch / cfg->step_epochs));
        }
        break;
    case FX_SCHEDULE_COSINE: {
        double span = (double)total_steps - warm;
        double progress = span > 0.0 ? ((double)step - warm) / span : ((double)step < warm ? 0.0 : 1.0);
        if (progress < 0.0)
            progress = 0.0; /* still warming up */
        if (progress > 1.0)
            progress = 1.0;
        double min_lr = (double)cfg->min_lr;
        rate = min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
        break;
    }
    }
    if (warm > 0.0 && (double)step < warm)
        rate *= ((double)step + 1.0) / warm;
    return (float)rate;
}
