/* fx/opencl.h - the OpenCL backend: device listing and selection, and the
 * program cache counters tests and tools look at.
 *
 * This header is always installed. When libfx is built without OpenCL
 * (FX_OPENCL=OFF, or no OpenCL/CLBlast found) every function below exists
 * and fails with FX_ERR_UNSUPPORTED (recording a message that says so),
 * so callers need no #ifdef: they try, and fall back or report.
 *
 * Kernels come from the .cl files in clkernels/, embedded in the library
 * at build time; FX_CLKERNELS_DIR=<dir> reads them from <dir> instead (for
 * kernel development). Compiled programs are cached in memory per backend
 * and on disk under $FX_KERNEL_CACHE_DIR, else $XDG_CACHE_HOME/fx/kernels,
 * else ~/.cache/fx/kernels; FX_KERNEL_CACHE_DIR=off disables the disk
 * cache. GEMMs run through fx's own kernels (clkernels/gemm.cl) on CPU
 * devices and through CLBlast on GPUs; FX_OPENCL_GEMM=fx|clblast|auto
 * overrides that choice. */
#ifndef FX_OPENCL_H
#define FX_OPENCL_H

#include <stdio.h>
#include "fx/backend.h"
#include "fx/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates an OpenCL backend (named "opencl" in the kernel table).
 * spec: "opencl"       the best device: the first GPU, else the first device;
 *       "opencl:P:D"   platform P, device D (indices as fx_opencl_list_devices);
 *       "opencl:NAME"  the first device whose name contains NAME (any case).
 * An unknown index or a name that matches nothing fails with FX_ERR_INVALID
 * and a message listing the devices. Free with be->ops->destroy(be) after
 * freeing its buffers (fx_graph_destroy). */
fx_status fx_opencl_backend_create(fx_context *ctx, const char *spec, fx_backend **out);

/* Writes every platform and device (index, type, global memory, compute
 * units, OpenCL version) to `out`. */
fx_status fx_opencl_list_devices(fx_context *ctx, FILE *out);

/* Registers the OpenCL kernels of the built-in ops (called by
 * fx_context_create). */
fx_status fx_opencl_register_kernels(fx_registry *reg);

/* Programs this backend compiled from source, and loaded from the disk
 * cache, since it was created (a warm cache builds none). -1 when `be` is
 * not an OpenCL backend. */
int fx_opencl_programs_built(const fx_backend *be);
int fx_opencl_programs_loaded(const fx_backend *be);

/* The disk cache directory in use ("" when disabled). */
const char *fx_opencl_cache_dir(const fx_backend *be);

/* Profiling (fxrun --profile). While on, the queue has
 * CL_QUEUE_PROFILING_ENABLE and every kernel, CLBlast call and transfer
 * keeps its event; times are read in batches, at synchronisation and at
 * report time. Switching waits for queued work and replaces the queue
 * (a plugin must not hold the queue across the switch). Off by default. */
fx_status fx_opencl_set_profiling(fx_backend *be, int on);
/* Forgets the times, call counts, transfer counts and optimiser steps so
 * far (e.g. after warm-up steps). */
fx_status fx_opencl_profile_reset(fx_backend *be);
/* Writes a table to `out`: per kernel name the calls, total and mean ms
 * and ms per step, slowest first; then per transfer kind (host->device,
 * device->host, device->device, fill) the calls, bytes and ms per step.
 * steps > 0 divides by it; steps <= 0 by the optimiser steps the backend
 * saw since the last reset. */
fx_status fx_opencl_profile_report(fx_backend *be, FILE *out, int steps);
/* Bytes copied host->device and device->host since creation or the last
 * fx_opencl_profile_reset (counted whether profiling is on or not). */
fx_status fx_opencl_transfer_bytes(const fx_backend *be, uint64_t *to_device, uint64_t *to_host);

#ifdef __cplusplus
}
#endif
#endif
