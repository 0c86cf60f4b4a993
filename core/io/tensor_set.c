/* core/io/tensor_set.c - fx_tensor_set: named host arrays read from or
 * written to weight files (fx/weights.h). The set owns names and data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx/weights.h"
#include "core/internal.h"

void fx_tensor_set_free(fx_tensor_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n; i++) {
        free(set->items[i].name);
        fx_array_free(&set->items[i].array);
    }
    free(set->items);
    memset(set, 0, sizeof *set);
}

fx_status fx_tensor_set_add(fx_context *ctx, fx_tensor_set *set, char *name, const char *stored_dtype,
                            fx_array *a)
{
    if (set->n == set->cap) {
        int cap = set->cap ? set->cap * 2 : 32;
        fx_named_array *items = realloc(set->items, (size_t)cap * sizeof *items);
        if (!items) {
            free(name);
            fx_array_free(a);
            return fx_fail(ctx, FX_ERR_NOMEM, "out of memory holding %d tensors", set->n + 1);
        }
        set->items = items;
        set->cap = cap;
    }
    fx_named_array *it = &set->items[set->n++];
    memset(it, 0, sizeof *it);
    it->name = name;
    snprintf(it->stored_dtype, sizeof it->stored_dtype, "%s", stored_dtype);
    it->array = *a;
    a->data = NULL;
    return FX_OK;
}

fx_named_array *fx_tensor_set_find(const fx_tensor_set *set, const char *name)
{
    for (int i = 0; i < set->n; i++)
        if (!strcmp(set->items[i].name, name))
            return &set->items[i];
    return NULL;
}
