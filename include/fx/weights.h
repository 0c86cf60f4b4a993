/* fx/weights.h - a model's weights in and out of fx in the formats other
 * frameworks read: safetensors files (a JSON header and raw little-endian
 * tensors; what `safetensors.torch.save_file` writes) and folders of NumPy
 * .npy files, one per tensor. The tensors are the graph's parameters and
 * BatchNorm running statistics under fx's names ("c1.weight",
 * "bn1.running_mean"), or under other names through a map file (YAML, see
 * docs/interop.md) that also gives per-tensor permutations. */
#ifndef FX_WEIGHTS_H
#define FX_WEIGHTS_H

#include <stdio.h>
#include "fx/graph.h"
#include "fx/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A named host array as read from or written to a file. */
typedef struct fx_named_array {
    char *name;           /* malloc'd */
    char stored_dtype[8]; /* as the file holds it: "F32", "BF16", "I64", "<f4"... */
    fx_array array;       /* converted to F32 (float types) or I32 (integer and bool types) */
} fx_named_array;

typedef struct fx_tensor_set {
    fx_named_array *items; /* malloc'd; free everything with fx_tensor_set_free */
    int n, cap;
} fx_tensor_set;

void fx_tensor_set_free(fx_tensor_set *set);
/* Takes ownership of `name` (malloc'd) and a->data; on failure frees both. */
fx_status fx_tensor_set_add(fx_context *ctx, fx_tensor_set *set, char *name, const char *stored_dtype,
                            fx_array *a);
/* The item named `name`, or NULL. */
fx_named_array *fx_tensor_set_find(const fx_tensor_set *set, const char *name);

/* safetensors. Reading accepts F64, F32, F16, BF16 (converted to F32) and
 * I64, I32, I16, I8, U8, BOOL (converted to I32; out-of-range I64 values
 * are refused). The header is parsed strictly and every offset checked
 * against the file, so a damaged or hostile file gives an error, never a
 * crash. Writing produces F32/I32 tensors, the header padded with spaces
 * to 8 bytes, atomically (temp file, fsync, rename). `graph_name` goes
 * into the header's __metadata__ (NULL: none). */
fx_status fx_safetensors_read(fx_context *ctx, const char *path, fx_tensor_set *out);
fx_status fx_safetensors_write(fx_context *ctx, const char *path, const fx_tensor_set *set,
                               const char *graph_name);

/* A folder of .npy files: reading takes every "*.npy" in it (the name is
 * the file name without .npy); writing creates the folder if needed and
 * writes "<name>.npy" for each tensor (a name may not contain '/'). */
fx_status fx_npy_folder_read(fx_context *ctx, const char *dir, fx_tensor_set *out);
fx_status fx_npy_folder_write(fx_context *ctx, const char *dir, const fx_tensor_set *set);

typedef struct fx_weights_options {
    const char *map_path; /* YAML map fx name -> external name (+ permute); NULL = fx's names */
    FILE *report;         /* import: every mismatch, one per line; NULL = only the error message */
} fx_weights_options;

/* Export: every parameter and BN statistic of a planned graph to `path`:
 * a ".safetensors" file, or a folder of .npy files when `path` is an
 * existing folder or ends with '/'. */
fx_status fx_weights_export(fx_context *ctx, fx_graph *g, const char *path, const fx_weights_options *opt);
/* Import into a planned graph from the same kinds of `path`. Every graph
 * tensor must be found (under its mapped name) with the same shape (after
 * the map's permutation) and dtype, and every tensor of the file must be
 * used or ignored by the map; all mismatches are reported together and
 * then nothing is loaded. */
fx_status fx_weights_import(fx_context *ctx, fx_graph *g, const char *path, const fx_weights_options *opt);

#ifdef __cplusplus
}
#endif
#endif
