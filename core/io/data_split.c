/* core/io/data_split.c - the identity-disjoint split of an ImageFolder root
 * (data.split: {holdout, seed}).
 *
 * Rule: every identity (class folder name) gets the key
 *   key = fx_rng_derive(seed, fnv1a64(name)),
 * the identities are ranked by (key, name), and the first
 *   h = round(holdout * n), clamped to [1, n - 1],
 * are held out; the rest are kept. The part of a name depends only on the
 * seed, the holdout share and the set of names (not on the file system's
 * listing order or on the images), so the train and the test source of one
 * graph file, and every command that opens the same root with the same
 * split, agree; the two parts never share an identity and together cover
 * all of them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/dataset.h"

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

typedef struct ranked {
    uint64_t key;
    const char *name;
    int index;
} ranked;

static int compare_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->name, y->name);
}

fx_status fx_data_split_classes(fx_context *ctx, const char *root, char *const *names, int n, float holdout,
                                uint64_t seed, fx_data_part part, unsigned char *keep)
{
    if (!(holdout > 0 && holdout < 1))
        return fx_fail(ctx, FX_ERR_INVALID, "data.split.holdout is %g; use a share in (0, 1), e.g. 0.2",
                       (double)holdout);
    if (n < 2)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: data.split needs at least 2 identities (class folders) to hold some out; it has %d",
                       root, n);
    ranked *r = fx_malloc(ctx, (size_t)n * sizeof *r, "split ranking");
    if (!r)
        return FX_ERR_NOMEM;
    for (int c = 0; c < n; c++)
        r[c] = (ranked){fx_rng_derive(seed, fnv1a64(names[c])), names[c], c};
    qsort(r, (size_t)n, sizeof *r, compare_ranked);
    long held = lround((double)holdout * n);
    if (held < 1)
        held = 1;
    if (held > n - 1)
        held = n - 1;
    for (int k = 0; k < n; k++) {
        int held_out = k < held;
        keep[r[k].index] = part == FX_DATA_PART_ALL || (part == FX_DATA_PART_HELD_OUT) == held_out;
    }
    free(r);
    return FX_OK;
}
