/* plugins/ref/ref.h - the two halves of the ref backend plugin: the
 * backend (ref_backend.c) and its scalar kernels (ref_kernels.c). */
#ifndef REF_PLUGIN_H
#define REF_PLUGIN_H

#include "fx/fx.h"
#include "fx/plugin.h"

/* Registers the "ref" kernels of relu, linear, add, flatten and
 * softmax_cross_entropy (ops built into fx). */
fx_status ref_register_kernels(fx_registry *reg);

#endif
