/* fx/rng.h - counter-based random numbers (a SplitMix64-style mix of a
 * seed and an index). Stateless: element i of a stream depends only on
 * (seed, i), so every backend and thread layout draws the same numbers
 * (dropout masks agree between CPU and OpenCL). */
#ifndef FX_RNG_H
#define FX_RNG_H

#include <stdint.h>

static inline uint64_t fx_rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
/* Uniform in [0, 1) with 24 random bits: exact in float. */
static inline float fx_rng_uniform(uint64_t seed, uint64_t index)
{
    uint64_t r = fx_rng_mix(seed ^ fx_rng_mix(index));
    return (float)(r >> 40) * (1.0f / 16777216.0f);
}
/* Derives an independent stream seed. */
static inline uint64_t fx_rng_derive(uint64_t seed, uint64_t stream)
{
    return fx_rng_mix(seed + 0x632be59bd9b4e019ull * (stream + 1));
}

/* A small sequential generator for host-side use (init, shuffles). */
typedef struct fx_rng { uint64_t state; } fx_rng;
static inline void fx_rng_seed(fx_rng *r, uint64_t seed) { r->state = fx_rng_mix(seed); }
static inline uint64_t fx_rng_next(fx_rng *r) { r->state += 0x9e3779b97f4a7c15ull; return fx_rng_mix(r->state); }
static inline float fx_rng_next_uniform(fx_rng *r) { return (float)(fx_rng_next(r) >> 40) * (1.0f / 16777216.0f); }
/* Uniform integer in [0, n). */
static inline uint64_t fx_rng_below(fx_rng *r, uint64_t n) { return n ? fx_rng_next(r) % n : 0; }
/* Standard normal (Box-Muller). */
float fx_rng_next_normal(fx_rng *r);

#endif
