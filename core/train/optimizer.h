/* core/train/optimizer.h - what the checkpoint code needs to know about an
 * optimiser beyond the public API (include/fx/train.h). */
#ifndef FX_CORE_OPTIMIZER_H
#define FX_CORE_OPTIMIZER_H

#include "fx/fx.h"

/* "sgd" or "adam": stored in checkpoints so a resume with another
 * optimiser is refused with a clear message. */
const char *fx_optimizer_kind_name(const fx_optimizer *opt);
/* The graph whose parameters the optimiser updates. */
fx_graph *fx_optimizer_graph(const fx_optimizer *opt);

#endif
