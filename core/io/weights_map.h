/* core/io/weights_map.h - the name map of weight import/export (fx/weights.h,
 * docs/interop.md): which external name and which permutation of the
 * dimensions each fx tensor has in another framework's file. */
#ifndef FX_CORE_WEIGHTS_MAP_H
#define FX_CORE_WEIGHTS_MAP_H

#include "fx/fx.h"

typedef struct fx_weight_rule {
    char *fx;      /* fx name, or a prefix when `prefix` (the '*' removed) */
    char *ext;     /* external name or prefix */
    int prefix;
    int n_perm;    /* 0 = as is */
    int perm[FX_MAX_DIMS]; /* fx tensor = external.permute(perm): fx dim i is external dim perm[i] */
    int transpose; /* reverse all dimensions, whatever their number */
} fx_weight_rule;

typedef struct fx_weight_map {
    fx_weight_rule *rules;
    int n_rules;
    char **ignore; /* fnmatch patterns of external names import skips */
    int n_ignore;
} fx_weight_map;

/* Reads a map file; errors name file:line:col. path NULL: an empty map. */
fx_status fx_weight_map_load(fx_context *ctx, const char *path, fx_weight_map *map);
void fx_weight_map_free(fx_weight_map *map);

/* The external name of fx tensor `fx_name` (into buf) and its rule, or
 * NULL when no rule applies (the name is kept). Exact rules win over
 * prefix rules; among prefixes the longest wins. Returns 0 when the
 * name does not fit buf. */
int fx_weight_map_resolve(const fx_weight_map *map, const char *fx_name, char *buf, size_t size,
                          const fx_weight_rule **rule);
int fx_weight_map_ignored(const fx_weight_map *map, const char *ext_name);

/* The permutation a rule applies to an ndim tensor: perm[i] = external
 * dim of fx dim i. Returns 0 when the rule's permutation has another
 * number of dimensions. */
int fx_weight_rule_perm(const fx_weight_rule *rule, int ndim, int *perm);

#endif
