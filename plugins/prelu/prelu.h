/* plugins/prelu/prelu.h - what the two files of the PReLU plugin share:
 * the tensor layout of a call and the OpenCL registration. */
#ifndef PRELU_PLUGIN_H
#define PRELU_PLUGIN_H

#include "fx/fx.h"
#include "fx/plugin.h"

/* x [N, C, spatial...]: n = N, c = C, spatial = product of the rest;
 * shared = the `shared` attribute (one slope for all channels). */
void prelu_layout(const fx_kernel_call *call, int64_t *n, int64_t *c, int64_t *spatial, int *shared);

/* Registers the OpenCL program and the "opencl" kernels of prelu. */
fx_status prelu_register_opencl(fx_plugin *plugin);

#endif
