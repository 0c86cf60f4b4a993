/* fx/cpu.h - helpers for CPU kernels (built-in and plugin): the thread
 * pool and the SIMD level picked at run time. */
#ifndef FX_CPU_H
#define FX_CPU_H

#include <stddef.h>
#include <stdint.h>
#include "fx/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fx_simd_level { FX_SIMD_SCALAR = 0, FX_SIMD_AVX2 = 1, FX_SIMD_AVX512 = 2 } fx_simd_level;

/* Runs fn(arg, begin, end, thread) over [0, n) split into contiguous chunks
 * across the backend's thread pool; blocks until all chunks are done.
 * `grain` is the smallest chunk worth a thread (work per index is small:
 * pass a larger grain). thread is in [0, fx_cpu_threads(be)). */
typedef void (*fx_cpu_range_fn)(void *arg, int64_t begin, int64_t end, int thread);
void fx_cpu_parallel_for(fx_backend *cpu, int64_t n, int64_t grain, fx_cpu_range_fn fn, void *arg);
int fx_cpu_threads(const fx_backend *cpu);
fx_simd_level fx_cpu_simd_level(const fx_backend *cpu);
/* Per-thread scratch memory, grown on demand, valid until the next call
 * with the same thread index. Returns NULL (and records) on failure. */
float *fx_cpu_scratch(fx_backend *cpu, int thread, size_t floats);
/* Bytes of that scratch, all threads together: one workspace per thread
 * that every kernel shares, as large as the largest need so far. */
size_t fx_cpu_scratch_bytes(const fx_backend *cpu);

#ifdef __cplusplus
}
#endif
#endif
