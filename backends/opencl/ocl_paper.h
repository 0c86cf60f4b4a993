/* backends/opencl/ocl_paper.h - shared by the OpenCL kernels of the paper's
 * ops (ocl_paper.c, ocl_sad_loss.c). */
#ifndef FX_OCL_PAPER_H
#define FX_OCL_PAPER_H

#include "backends/opencl/ocl_backend.h"

/* Which kernels topk_mask and sad_loss use: *direct = 1 for the
 * barrier-free ones written for CPU drivers (PoCL), 0 for the work-group
 * kernels with local memory written for GPUs. CPU devices get the first,
 * every other device the second; FX_OPENCL_PAPER=direct or tiled forces
 * one (the tests run both on one device). Fails on another value. */
fx_status ocl_paper_variant(fx_backend *be, int *direct);

#endif
