/* core/io/weights_map.c - reading and applying a weight name map.
 *
 * The map file (docs/interop.md):
 *
 *   tensors:
 *     clean.bb.*: backbone.*                    # prefix rule: fx prefix -> external prefix
 *     logits.weight: fc.weight                  # exact rule
 *     proj.weight: {name: proj.w, permute: [1, 0]}   # fx = external.permute([1, 0])
 *     dense.weight: {name: dense.kernel, transpose: true}
 *   ignore: ['*.num_batches_tracked']           # external tensors import skips
 *
 * Names without a rule are the same in both worlds. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/io/weights_map.h"
#include "core/io/yaml_document.h"

void fx_weight_map_free(fx_weight_map *map)
{
    for (int i = 0; i < map->n_rules; i++) {
        free(map->rules[i].fx);
        free(map->rules[i].ext);
    }
    for (int i = 0; i < map->n_ignore; i++)
        free(map->ignore[i]);
    free(map->rules);
    free(map->ignore);
    memset(map, 0, sizeof *map);
}

static fx_status read_rule(fx_yaml_doc *doc, const fx_yaml_pair *pair, fx_weight_rule *r)
{
    static const char *const keys[] = { "name", "permute", "transpose", NULL };
    const fx_yaml_node *v = pair->value;
    const fx_yaml_node *name = v;
    char what[FX_NAME_MAX * 2 + 16];
    snprintf(what, sizeof what, "tensors.%s", pair->key->text);
    if (v->kind == FX_YAML_MAPPING) {
        fx_status st = fx_yaml_check_keys(doc, v, what, keys, NULL);
        if (st != FX_OK)
            return st;
        name = fx_yaml_get(v, "name");
        if (!name)
            return fx_yaml_fail(doc, v, FX_ERR_INVALID, "%s: needs `name: <external name>`", what);
        const fx_yaml_node *perm = fx_yaml_get(v, "permute");
        const fx_yaml_node *tr = fx_yaml_get(v, "transpose");
        if (perm && tr)
            return fx_yaml_fail(doc, v, FX_ERR_INVALID, "%s: give permute or transpose, not both", what);
        if (tr && (st = fx_yaml_read_bool(doc, tr, what, &r->transpose)) != FX_OK)
            return st;
        if (perm) {
            if ((st = fx_yaml_expect_sequence(doc, perm, what)) != FX_OK)
                return st;
            if (perm->n < 1 || perm->n > FX_MAX_DIMS)
                return fx_yaml_fail(doc, perm, FX_ERR_INVALID, "%s: permute needs 1 to %d entries", what,
                                    FX_MAX_DIMS);
            int seen[FX_MAX_DIMS] = { 0 };
            for (int i = 0; i < perm->n; i++) {
                int64_t d;
                if ((st = fx_yaml_read_int(doc, perm->items[i], what, 0, perm->n - 1, &d)) != FX_OK)
                    return st;
                if (seen[d]++)
                    return fx_yaml_fail(doc, perm->items[i], FX_ERR_INVALID,
                                        "%s: permute lists dimension %d twice; it must be a permutation of 0..%d",
                                        what, (int)d, perm->n - 1);
                r->perm[i] = (int)d;
            }
            r->n_perm = perm->n;
        }
    }
    if (name->kind != FX_YAML_SCALAR || !name->len)
        return fx_yaml_fail(doc, name, FX_ERR_INVALID, "%s: expected an external tensor name or {name: ..., "
                            "permute: [...]}", what);
    const char *k = pair->key->text;
    size_t klen = pair->key->len;
    int kstar = klen > 0 && k[klen - 1] == '*';
    int vstar = name->len > 0 && name->text[name->len - 1] == '*';
    if (kstar != vstar || (kstar && (memchr(k, '*', klen - 1) || memchr(name->text, '*', name->len - 1))))
        return fx_yaml_fail(doc, pair->key, FX_ERR_INVALID, "%s: a prefix rule ends both names with '*' (and has "
                            "no other '*'), e.g. `clean.bb.*: backbone.*`", what);
    r->prefix = kstar;
    r->fx = strndup(k, klen - (size_t)kstar);
    r->ext = strndup(name->text, name->len - (size_t)vstar);
    if (!r->fx || !r->ext)
        return fx_fail(doc->ctx, FX_ERR_NOMEM, "out of memory reading the map");
    return FX_OK;
}

fx_status fx_weight_map_load(fx_context *ctx, const char *path, fx_weight_map *map)
{
    memset(map, 0, sizeof *map);
    if (!path)
        return FX_OK;
    fx_yaml_doc *doc;
    fx_status st = fx_yaml_parse_file(ctx, path, &doc);
    if (st != FX_OK)
        return st;
    static const char *const top[] = { "tensors", "ignore", NULL };
    const fx_yaml_node *root = doc->root;
    st = fx_yaml_expect_mapping(doc, root, "the map file");
    if (st == FX_OK)
        st = fx_yaml_check_keys(doc, root, "the map file", top, NULL);
    const fx_yaml_node *tensors = st == FX_OK ? fx_yaml_get(root, "tensors") : NULL;
    const fx_yaml_node *ignore = st == FX_OK ? fx_yaml_get(root, "ignore") : NULL;
    if (st == FX_OK && tensors)
        st = fx_yaml_expect_mapping(doc, tensors, "tensors");
    if (st == FX_OK && ignore)
        st = fx_yaml_expect_sequence(doc, ignore, "ignore");
    if (st == FX_OK && tensors && tensors->n > 0) {
        map->rules = calloc((size_t)tensors->n, sizeof *map->rules);
        if (!map->rules)
            st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory reading the map");
        for (int i = 0; st == FX_OK && i < tensors->n; i++) {
            st = read_rule(doc, &tensors->pairs[i], &map->rules[i]);
            map->n_rules++;
        }
    }
    if (st == FX_OK && ignore && ignore->n > 0) {
        map->ignore = calloc((size_t)ignore->n, sizeof *map->ignore);
        if (!map->ignore)
            st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory reading the map");
        for (int i = 0; st == FX_OK && i < ignore->n; i++) {
            const fx_yaml_node *p = ignore->items[i];
            if (p->kind != FX_YAML_SCALAR || !p->len)
                st = fx_yaml_fail(doc, p, FX_ERR_INVALID, "ignore: expected a name pattern such as "
                                  "'*.num_batches_tracked'");
            else if (!(map->ignore[map->n_ignore++] = strdup(p->text)))
                st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory reading the map");
        }
    }
    fx_yaml_doc_free(doc);
    if (st != FX_OK)
        fx_weight_map_free(map);
    return st;
}

int fx_weight_map_resolve(const fx_weight_map *map, const char *fx_name, char *buf, size_t size,
                          const fx_weight_rule **rule)
{
    const fx_weight_rule *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < map->n_rules; i++) {
        const fx_weight_rule *r = &map->rules[i];
        size_t n = strlen(r->fx);
        if (!r->prefix && !strcmp(r->fx, fx_name)) {
            best = r;
            break;
        }
        if (r->prefix && !strncmp(r->fx, fx_name, n) && (!best || n > best_len)) {
            best = r;
            best_len = n;
        }
    }
    *rule = best;
    int n;
    if (!best)
        n = snprintf(buf, size, "%s", fx_name);
    else if (!best->prefix)
        n = snprintf(buf, size, "%s", best->ext);
    else
        n = snprintf(buf, size, "%s%s", best->ext, fx_name + best_len);
    return n >= 0 && (size_t)n < size;
}

int fx_weight_map_ignored(const fx_weight_map *map, const char *ext_name)
{
    for (int i = 0; i < map->n_ignore; i++)
        if (fnmatch(map->ignore[i], ext_name, 0) == 0)
            return 1;
    return 0;
}

int fx_weight_rule_perm(const fx_weight_rule *rule, int ndim, int *perm)
{
    for (int i = 0; i < ndim; i++)
        perm[i] = i;
    if (!rule)
        return 1;
    if (rule->transpose) {
        for (int i = 0; i < ndim; i++)
            perm[i] = ndim - 1 - i;
        return 1;
    }
    if (rule->n_perm == 0)
        return 1;
    if (rule->n_perm != ndim)
        return 0;
    memcpy(perm, rule->perm, (size_t)ndim * sizeof *perm);
    return 1;
}
