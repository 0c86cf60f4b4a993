/* core/io/yaml_graph.c - fx_graph_load_yaml: the graph sections of a graph
 * file (name, input, params, blocks, layers, losses) into an fx_graph,
 * built only through the public building calls of fx/graph.h.
 *
 * Names. A layer's value is named after the layer. A block instance `s1`
 * expands to nodes "s1.<layer>"; inside it, names resolve first among the
 * instance's own layers, then outwards, so a block's layers refer to each
 * other by their short names. The name `s1` itself refers to the block's
 * output (its last layer). "node:k" and "node.<output>" select other
 * outputs and are checked by the graph.
 *
 * Blocks are expanded recursively (depth is capped and cycles are
 * reported), with ${param} substituted in every value of the block's
 * layers. All strings the loader makes live in the YAML document's arena,
 * so every error path only has to free the document and the graph. */
#include "core/internal.h"
#include "core/io/yaml_loader.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A graph file of the paper's network has ~60 nodes; this only stops a
 * file whose nested blocks multiply into millions. */
#define YAML_MAX_GRAPH_NODES 10000
#define YAML_MAX_BLOCK_DEPTH 16

enum name_kind { NAME_INPUT = 1, NAME_NODE, NAME_INSTANCE };

typedef struct name_entry {
    int kind;
    const char *name;          /* full name */
    const char *target;        /* instance: the value it stands for */
    const char *block;         /* instance: its block */
    const fx_yaml_node *where; /* where it was defined */
} name_entry;

typedef struct env_entry {
    const char *name;
    const fx_yaml_node *value; /* scalar or list of scalars */
} env_entry;

/* Where a layer is being read: the top level, or inside a block instance. */
typedef struct scope {
    const struct scope *parent;
    const char *prefix;            /* full instance name; NULL at the top */
    const char *block;             /* block being expanded; NULL at the top */
    const env_entry *env;
    int n_env;
    const char *share_prefix;      /* instance whose parameters this one uses */
    int depth;
} scope;

#define FX_MAX_INCLUDES 8

typedef struct loader {
    fx_context *ctx;
    fx_yaml_doc *doc;
    fx_graph *g;
    fx_config *cfg;
    const fx_yaml_node *blocks;
    fx_name_table names;           /* full name -> entry index + 1 */
    name_entry *entries;
    int n_entries, cap_entries;
    const char *const *default_in; /* what a layer without `in` reads */
    int n_default_in;
    int n_nodes;
    int n_losses;
    const fx_yaml_node *merged_blocks; /* blocks of this file and its includes */
} loader;

#define TRY(expr)                  \
    do {                           \
        fx_status st_ = (expr);    \
        if (st_ != FX_OK)          \
            return st_;            \
    } while (0)

/* ---- small helpers -------------------------------------------------------- */

static char *arena_printf(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = fx_yaml_alloc(L->doc, (size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static fx_srcpos pos_of(const loader *L, const fx_yaml_node *node)
{
    fx_srcpos p = {node && node->file ? node->file : L->doc->path, node ? node->line : 0, node ? node->col : 0};
    return p;
}

static int is_valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const name_entry *find_name(const loader *L, const char *full)
{
    intptr_t idx = (intptr_t)fx_name_table_get(&L->names, full);
    return idx ? &L->entries[idx - 1] : NULL;
}

static fx_status check_name_free(loader *L, const char *full, const fx_yaml_node *at)
{
    const name_entry *e = find_name(L, full);
    if (!e)
        return FX_OK;
    if (e->where)
        return fx_yaml_fail(L->doc, at, FX_ERR_INVALID,
                            "duplicate name '%s' (first defined at line %d, column %d); names must be unique, "
                            "rename one of them",
                            full, e->where->line, e->where->col);
    return fx_yaml_fail(L->doc, at, FX_ERR_INVALID, "duplicate name '%s'; names must be unique, rename one", full);
}

static fx_status add_name(loader *L, int kind, const char *full, const fx_yaml_node *where, const char *target,
                          const char *block)
{
    TRY(check_name_free(L, full, where));
    if (L->n_entries == L->cap_entries) {
        int cap = L->cap_entries ? L->cap_entries * 2 : 64;
        name_entry *e = realloc(L->entries, (size_t)cap * sizeof *e);
        if (!e)
            return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory for layer names", L->doc->path);
        L->entries = e;
        L->cap_entries = cap;
    }
    L->entries[L->n_entries] = (name_entry){kind, full, target, block, where};
    if (!fx_name_table_put(&L->names, full, (void *)(intptr_t)(L->n_entries + 1)))
        return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory for layer names", L->doc->path);
    L->n_entries++;
    return FX_OK;
}

/* Looks `text` up from scope sc outwards: "sc.prefix.text", then the
 * enclosing instances, then the top level. */
static const name_entry *lookup_scoped(const loader *L, const scope *sc, const char *text)
{
    char buf[FX_NAME_MAX * 4];
    for (const scope *s = sc; s && s->prefix; s = s->parent) {
        int n = snprintf(buf, sizeof buf, "%s.%s", s->prefix, text);
        if (n < 0 || (size_t)n >= sizeof buf)
            continue;
        const name_entry *e = find_name(L, buf);
        if (e)
            return e;
    }
    return find_name(L, text);
}

/* Appends up to 16 known names (short ones first) to a message buffer. */
static void list_known_names(const loader *L, const scope *sc, char *out, size_t size)
{
    size_t used = 0;
    int shown = 0, more = 0;
    out[0] = '\0';
    size_t plen = sc && sc->prefix ? strlen(sc->prefix) : 0;
    for (int i = 0; i < L->n_entries; i++) {
        const char *name = L->entries[i].name;
        /* Show the names usable from here: top-level ones, and the
         * current instance's own layers by their short name. */
        const char *shown_name = name;
        if (plen && strncmp(name, sc->prefix, plen) == 0 && name[plen] == '.')
            shown_name = name + plen + 1;
        if (strchr(shown_name, '.'))
            continue;
        if (shown == 16) {
            more = 1;
            break;
        }
        int w = snprintf(out + used, size - used, "%s%s", shown ? ", " : "", shown_name);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
        shown++;
    }
    if (more && size - used > 5)
        snprintf(out + used, size - used, ", ...");
    if (!shown)
        snprintf(out, size, "(none yet)");
}

static const char *closest_name(const loader *L, const char *word)
{
    const char *best = NULL;
    int len = (int)strlen(word);
    int best_d = (len <= 3 ? 1 : len <= 8 ? 2 : 3) + 1;
    for (int i = 0; i < L->n_entries && i < 4096; i++) {
        const char *name = L->entries[i].name;
        const char *dot = strrchr(name, '.');
        const char *cands[2] = {name, dot ? dot + 1 : NULL};
        for (int k = 0; k < 2; k++) {
            if (!cands[k])
                continue;
            int d = fx_yaml_edit_distance(word, cands[k], best_d - 1);
            if (d < best_d) {
                best_d = d;
                best = cands[k];
            }
        }
    }
    return best;
}

/* Resolves a value name as written in `in:` (or predict) to the name the
 * graph knows. */
static fx_status resolve_value(loader *L, const scope *sc, const fx_yaml_node *at, const char *what,
                               const char **out)
{
    const char *text = at->text;
    const name_entry *e = lookup_scoped(L, sc, text);
    if (e) {
        *out = e->kind == NAME_INSTANCE ? e->target : e->name;
        return FX_OK;
    }
    /* "node:1" and "node.output": select another output of a node. */
    const char seps[2] = {':', '.'};
    for (int k = 0; k < 2; k++) {
        const char *p = strrchr(text, seps[k]);
        if (!p || p == text || !p[1] || p - text >= FX_NAME_MAX * 2)
            continue;
        char head[FX_NAME_MAX * 2];
        memcpy(head, text, (size_t)(p - text));
        head[p - text] = '\0';
        const name_entry *h = lookup_scoped(L, sc, head);
        if (!h || h->kind == NAME_INPUT)
            continue;
        *out = arena_printf(L, "%s%c%s", h->kind == NAME_INSTANCE ? h->target : h->name, seps[k], p + 1);
        return *out ? FX_OK : FX_ERR_NOMEM;
    }
    char known[768], hint[128] = "";
    list_known_names(L, sc, known, sizeof known);
    const char *close = closest_name(L, text);
    if (close)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", close);
    return fx_yaml_fail(L->doc, at, FX_ERR_INVALID,
                        "%s: unknown value '%s'%s; a layer reads the graph inputs and the layers written above "
                        "it: %s",
                        what, text, hint, known);
}

/* ---- ${param} substitution -------------------------------------------------- */

static const env_entry *env_find(const scope *sc, const char *name, size_t len)
{
    for (int i = 0; i < sc->n_env; i++)
        if (strlen(sc->env[i].name) == len && memcmp(sc->env[i].name, name, len) == 0)
            return &sc->env[i];
    return NULL;
}

static fx_status unknown_param(loader *L, const scope *sc, const fx_yaml_node *at, const char *name, size_t len)
{
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < sc->n_env; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", sc->env[i].name);
        if (w < 0 || (size_t)w >= sizeof list - used)
            break;
        used += (size_t)w;
    }
    return fx_yaml_fail(L->doc, at, FX_ERR_INVALID,
                        "'${%.*s}' names no parameter of block '%s' (it has: %s); declare it under the block's "
                        "`params:`",
                        (int)len, name, sc->block, list);
}

/* Substitutes ${name} in a scalar of a block layer. A scalar that is
 * exactly "${name}" becomes the parameter's value node (which may be a
 * list, with the position where the value was written); otherwise the
 * parameters are spliced into the text. */
static fx_status subst_scalar(loader *L, const scope *sc, const fx_yaml_node *node, const fx_yaml_node **out)
{
    *out = node;
    if (!node || node->kind != FX_YAML_SCALAR || !strstr(node->text, "${"))
        return FX_OK;
    if (!sc->block)
        return fx_yaml_fail(L->doc, node, FX_ERR_INVALID,
                            "'%s': ${...} is a block parameter and is replaced only inside a block's layers; write "
                            "the value itself here",
                            node->text);
    const char *t = node->text;
    if (t[0] == '$' && t[1] == '{') {
        const char *close = strchr(t + 2, '}');
        if (close && close[1] == '\0') {
            const env_entry *e = env_find(sc, t + 2, (size_t)(close - t - 2));
            if (!e)
                return unknown_param(L, sc, node, t + 2, (size_t)(close - t - 2));
            *out = e->value;
            return FX_OK;
        }
    }
    size_t cap = node->len + 64, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory substituting block parameters", L->doc->path);
    fx_status st = FX_OK;
    for (const char *p = t; *p && st == FX_OK;) {
        const char *piece = p;
        size_t piece_len = 1;
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (!close) {
                st = fx_yaml_fail(L->doc, node, FX_ERR_INVALID,
                                  "'${' without a closing '}' in '%s'; write ${name} for a block parameter", t);
                break;
            }
            const env_entry *e = env_find(sc, p + 2, (size_t)(close - p - 2));
            if (!e) {
                st = unknown_param(L, sc, node, p + 2, (size_t)(close - p - 2));
                break;
            }
            if (e->value->kind != FX_YAML_SCALAR) {
                st = fx_yaml_fail(L->doc, node, FX_ERR_INVALID,
                                  "block parameter '%s' is a list and cannot be spliced into the text '%s'; use it "
                                  "as the whole value (`key: ${%s}`)",
                                  e->name, t, e->name);
                break;
            }
            piece = e->value->text;
            piece_len = e->value->len;
            p = close + 1;
        } else {
            p++;
        }
        if (len + piece_len + 1 > cap) {
            size_t ncap = (len + piece_len + 1) * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                st = fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory substituting block parameters", L->doc->path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, piece, piece_len);
        len += piece_len;
    }
    if (st == FX_OK) {
        fx_yaml_node *n = fx_yaml_new_scalar(L->doc, buf, len, node->line, node->col);
        if (n)
            n->file = node->file;
        if (!n)
            st = FX_ERR_NOMEM;
        else
            n->plain = node->plain;
        *out = n;
    }
    free(buf);
    return st;
}

/* Substitutes a scalar or each item of a list. */
static fx_status subst_value(loader *L, const scope *sc, const fx_yaml_node *node, const fx_yaml_node **out)
{
    *out = node;
    if (!node || node->kind == FX_YAML_MAPPING)
        return FX_OK;
    if (node->kind == FX_YAML_SCALAR)
        return subst_scalar(L, sc, node, out);
    int any = 0;
    for (int i = 0; i < node->n && !any; i++)
        any = node->items[i]->kind == FX_YAML_SCALAR && strstr(node->items[i]->text, "${");
    if (!any)
        return FX_OK;
    fx_yaml_node *copy = fx_yaml_alloc(L->doc, sizeof *copy);
    const fx_yaml_node **items = fx_yaml_alloc(L->doc, (size_t)node->n * sizeof *items);
    if (!copy || !items)
        return FX_ERR_NOMEM;
    *copy = *node;
    for (int i = 0; i < node->n; i++) {
        TRY(subst_scalar(L, sc, node->items[i], &items[i]));
        if (items[i]->kind != FX_YAML_SCALAR)
            return fx_yaml_fail(L->doc, node->items[i], FX_ERR_INVALID,
                                "this list item became a list after substituting block parameters; a list of "
                                "lists is not a valid value");
    }
    copy->items = items;
    *out = copy;
    return FX_OK;
}

/* The substituted value of `key` in a layer, or NULL when absent or null. */
static fx_status layer_get(loader *L, const scope *sc, const fx_yaml_node *layer, const char *key,
                           const fx_yaml_node **out)
{
    const fx_yaml_node *v = fx_yaml_get(layer, key);
    *out = NULL;
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    TRY(subst_value(L, sc, v, out));
    if (fx_yaml_is_null(*out))
        *out = NULL;
    return FX_OK;
}

/* ---- layers -------------------------------------------------------------------- */

static const char *const layer_loader_keys[] = {"name", "op", "in", "use", "share", "init", "bind", NULL};

/* The full name of a layer: its `name` (checked), or "<base><index>"
 * made unique, inside the scope's prefix. */
static fx_status layer_full_name(loader *L, const scope *sc, const fx_yaml_node *layer,
                                 const fx_yaml_node *name_node, const char *base, int index, const char *what,
                                 const char **out)
{
    const char *local;
    if (name_node) {
        if (name_node->kind != FX_YAML_SCALAR)
            return fx_yaml_fail(L->doc, name_node, FX_ERR_INVALID, "%s: name: expected a name, got %s", what,
                                name_node->kind == FX_YAML_MAPPING ? "a mapping" : "a list");
        local = name_node->text;
        if (!is_valid_name(local))
            return fx_yaml_fail(L->doc, name_node, FX_ERR_INVALID,
                                "%s: name '%s' may use only letters, digits, '_' and '-' ('.' and ':' select "
                                "block layers and outputs)",
                                what, local);
        const char *full = sc->prefix ? arena_printf(L, "%s.%s", sc->prefix, local) : local;
        if (!full)
            return FX_ERR_NOMEM;
        if (strlen(full) >= FX_NAME_MAX)
            return fx_yaml_fail(L->doc, name_node, FX_ERR_INVALID,
                                "%s: the name '%s' is longer than %d characters; shorten it (or the block "
                                "instance names)",
                                what, full, FX_NAME_MAX - 1);
        *out = full;
        return FX_OK;
    }
    for (int k = 0; k < 1000; k++) {
        const char *full = k == 0 ? arena_printf(L, "%s%s%s%d", sc->prefix ? sc->prefix : "",
                                                 sc->prefix ? "." : "", base, index)
                                  : arena_printf(L, "%s%s%s%d_%d", sc->prefix ? sc->prefix : "",
                                                 sc->prefix ? "." : "", base, index, k + 1);
        if (!full)
            return FX_ERR_NOMEM;
        if (strlen(full) >= FX_NAME_MAX)
            return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                                "%s: the generated name '%s' is longer than %d characters; give the layer a "
                                "short `name:`",
                                what, full, FX_NAME_MAX - 1);
        if (!find_name(L, full)) {
            *out = full;
            return FX_OK;
        }
    }
    return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID, "%s: cannot make a unique name; give the layer a `name:`",
                        what);
}

/* Resolves `in` (a name or a list of names) or takes the default. */
/* Room for the names layer_inputs writes: the list's length, or the
 * default input(s) when there is no `in:`. */
static size_t inputs_room(const loader *L, const fx_yaml_node *in)
{
    int n = in && in->kind == FX_YAML_SEQUENCE ? in->n : L->n_default_in;
    return (size_t)(n > 1 ? n : 1);
}

static fx_status layer_inputs(loader *L, const scope *sc, const fx_yaml_node *layer, const fx_yaml_node *in,
                              const char *what, const char **names, int *n)
{
    char in_what[160];
    snprintf(in_what, sizeof in_what, "%s: in", what);
    if (!in) {
        /* A layer that binds parameters and whose op needs no input (a
         * loss on weights, e.g. filter_diversity) reads nothing. */
        const fx_yaml_node *op_node = fx_yaml_get(layer, "op");
        if (fx_yaml_find(layer, "bind") && op_node && op_node->kind == FX_YAML_SCALAR) {
            const fx_op_def *op = fx_registry_find_op(fx_context_registry(L->ctx), op_node->text);
            if (op && op->min_inputs == 0) {
                *n = 0;
                return FX_OK;
            }
        }
        if (L->n_default_in == 0)
            return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                                "%s: no `in:` and nothing above to read; name the input with `in: <value>`", what);
        for (int i = 0; i < L->n_default_in; i++)
            names[i] = L->default_in[i];
        *n = L->n_default_in;
        return FX_OK;
    }
    if (in->kind == FX_YAML_MAPPING)
        return fx_yaml_fail(L->doc, in, FX_ERR_INVALID,
                            "%s: expected a value name or a list of names, got a mapping; write `in: c1` or `in: "
                            "[a, b]`",
                            in_what);
    if (in->kind == FX_YAML_SCALAR) {
        *n = 1;
        return resolve_value(L, sc, in, in_what, &names[0]);
    }
    if (in->n > FX_MAX_INPUTS)
        return fx_yaml_fail(L->doc, in, FX_ERR_INVALID, "%s: %d inputs; a layer takes at most %d", in_what, in->n,
                            FX_MAX_INPUTS);
    for (int i = 0; i < in->n; i++) {
        const fx_yaml_node *item = in->items[i];
        if (item->kind != FX_YAML_SCALAR || fx_yaml_is_null(item)) {
            char got[64];
            return fx_yaml_fail(L->doc, item, FX_ERR_INVALID, "%s: expected a value name, got %s", in_what,
                                fx_yaml_describe(item, got, sizeof got));
        }
        TRY(resolve_value(L, sc, item, in_what, &names[i]));
    }
    *n = in->n;
    return FX_OK;
}

static fx_status expect_scalar_text(loader *L, const fx_yaml_node *v, const char *what, const char *key)
{
    if (v->kind == FX_YAML_SCALAR)
        return FX_OK;
    return fx_yaml_fail(L->doc, v, FX_ERR_INVALID, "%s: %s: expected a single value, got %s", what, key,
                        v->kind == FX_YAML_MAPPING ? "a mapping" : "a list");
}

static fx_status unknown_op(loader *L, const fx_yaml_node *at, const char *what)
{
    fx_registry *reg = fx_context_registry(L->ctx);
    int n = fx_registry_op_count(reg);
    const char **names = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
    if (!names)
        return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory", L->doc->path);
    char list[2048];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < n; i++) {
        names[i] = fx_registry_op_at(reg, i)->name;
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    const char *close = fx_yaml_closest(at->text, names, n);
    char hint[128] = "";
    if (close)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", close);
    fx_status st = fx_yaml_fail(L->doc, at, FX_ERR_INVALID,
                                "%s: unknown op '%s'%s; known ops: %s (a plugin listed under `plugins:` can add "
                                "more)",
                                what, at->text, hint, n ? list : "(none registered)");
    free(names);
    return st;
}

/* Checks that every key of a layer is a loader key or an attribute of
 * the op, naming all valid keys otherwise. */
static fx_status check_op_keys(loader *L, const fx_yaml_node *layer, const fx_op_def *op,
                               const char *const *loader_keys, const char *what)
{
    int n_loader = 0;
    while (loader_keys[n_loader])
        n_loader++;
    const char **valid = calloc((size_t)(n_loader + op->n_attrs + 1), sizeof *valid);
    if (!valid)
        return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory", L->doc->path);
    int n = 0;
    for (int i = 0; i < n_loader; i++)
        valid[n++] = loader_keys[i];
    for (int i = 0; i < op->n_attrs; i++)
        valid[n++] = op->attrs[i].name;
    valid[n] = NULL;
    char where[192];
    snprintf(where, sizeof where, "%s (op %s)", what, op->name);
    fx_status st = fx_yaml_check_keys(L->doc, layer, where, valid, NULL);
    free(valid);
    return st;
}

/* Adds one op node. `loader_keys` are the keys that are not attributes. */
static fx_status add_op_node(loader *L, const scope *sc, const fx_yaml_node *layer, const fx_yaml_node *op_node,
                             const fx_yaml_node *name_node, const char *full, const char *const *inputs, int n_inputs,
                             const char *const *loader_keys, const char *what, const fx_op_def **op_out)
{
    TRY(expect_scalar_text(L, op_node, what, "op"));
    const fx_op_def *op = fx_registry_find_op(fx_context_registry(L->ctx), op_node->text);
    if (!op)
        return unknown_op(L, op_node, what);
    TRY(check_op_keys(L, layer, op, loader_keys, what));
    if (L->n_nodes >= YAML_MAX_GRAPH_NODES)
        return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                            "the graph expands to more than %d nodes; are blocks nested inside each other too "
                            "often?",
                            YAML_MAX_GRAPH_NODES);

    fx_attr_input *attrs = fx_yaml_alloc(L->doc, (size_t)(layer->n ? layer->n : 1) * sizeof *attrs);
    if (!attrs)
        return FX_ERR_NOMEM;
    int n_attrs = 0;
    for (int i = 0; i < layer->n; i++) {
        const fx_yaml_node *key = layer->pairs[i].key;
        if (in_list(key->text, loader_keys))
            continue;
        const fx_yaml_node *v;
        TRY(subst_value(L, sc, layer->pairs[i].value, &v));
        if (fx_yaml_is_null(v))
            continue; /* `key:` with no value keeps the op's default */
        if (v->kind == FX_YAML_MAPPING)
            return fx_yaml_fail(L->doc, v, FX_ERR_INVALID,
                                "%s: %s: expected a value or a list of values, got a mapping", what, key->text);
        fx_attr_input *a = &attrs[n_attrs++];
        a->key = key->text;
        a->pos = pos_of(L, v);
        if (v->kind == FX_YAML_SCALAR) {
            const char **items = fx_yaml_alloc(L->doc, sizeof *items);
            if (!items)
                return FX_ERR_NOMEM;
            items[0] = v->text;
            a->items = items;
            a->n_items = 1;
            a->is_list = 0;
            continue;
        }
        const char **items = fx_yaml_alloc(L->doc, (size_t)(v->n ? v->n : 1) * sizeof *items);
        if (!items)
            return FX_ERR_NOMEM;
        for (int k = 0; k < v->n; k++) {
            const fx_yaml_node *item = v->items[k];
            if (item->kind != FX_YAML_SCALAR || fx_yaml_is_null(item)) {
                char got[64];
                return fx_yaml_fail(L->doc, item, FX_ERR_INVALID, "%s: %s: expected a list of values, got %s inside",
                                    what, key->text, fx_yaml_describe(item, got, sizeof got));
            }
            items[k] = item->text;
        }
        a->items = items;
        a->n_items = v->n;
        a->is_list = 1;
    }

    const fx_yaml_node *share, *init;
    TRY(layer_get(L, sc, layer, "share", &share));
    TRY(layer_get(L, sc, layer, "init", &init));
    const char *share_name = NULL, *init_text = NULL;
    if (share) {
        TRY(expect_scalar_text(L, share, what, "share"));
        const name_entry *e = lookup_scoped(L, sc, share->text);
        if (!e || e->kind != NAME_NODE) {
            const char *close = e ? NULL : closest_name(L, share->text);
            char hint[128] = "";
            if (close)
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", close);
            return fx_yaml_fail(L->doc, share, FX_ERR_INVALID,
                                "%s: share: '%s' is %s%s; share names a layer written above whose parameters this "
                                "layer uses",
                                what, share->text,
                                !e ? "not a layer"
                                   : e->kind == NAME_INPUT ? "a graph input"
                                                           : "a block instance (only a `use:` layer can share with one)",
                                hint);
        }
        share_name = e->name;
    } else if (sc->share_prefix && op->n_params > 0) {
        /* Inside an instance that shares: each layer uses its twin's
         * parameters. */
        const char *local = full + strlen(sc->prefix) + 1;
        const char *twin = arena_printf(L, "%s.%s", sc->share_prefix, local);
        if (!twin)
            return FX_ERR_NOMEM;
        const name_entry *e = find_name(L, twin);
        if (!e || e->kind != NAME_NODE)
            return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                                "%s: cannot share parameters with '%s': no such layer; both instances must expand "
                                "the same block with the same layer names",
                                what, twin);
        share_name = e->name;
    }
    if (init) {
        TRY(expect_scalar_text(L, init, what, "init"));
        init_text = init->text;
    }
    /* bind: {weight: k5.weight}: this layer's parameter slots use
     * parameters of layers written above (<layer>.<parameter>). */
    const fx_yaml_node *bind;
    TRY(layer_get(L, sc, layer, "bind", &bind));
    const char *bind_slot[FX_MAX_PARAMS], *bind_param[FX_MAX_PARAMS];
    int n_bind = 0;
    if (bind) {
        if (bind->kind != FX_YAML_MAPPING || bind->n > FX_MAX_PARAMS)
            return fx_yaml_fail(L->doc, bind, FX_ERR_INVALID,
                                "%s: bind: expected a mapping {parameter: layer.parameter}, e.g. {weight: k5.weight}",
                                what);
        for (int i = 0; i < bind->n; i++) {
            const fx_yaml_node *target = bind->pairs[i].value;
            TRY(expect_scalar_text(L, target, what, "bind"));
            const char *dot = strrchr(target->text, '.');
            if (!dot || dot == target->text || !dot[1])
                return fx_yaml_fail(L->doc, target, FX_ERR_INVALID,
                                    "%s: bind: '%s' must name a parameter as <layer>.<parameter>, e.g. k5.weight",
                                    what, target->text);
            char *layer_name = arena_printf(L, "%.*s", (int)(dot - target->text), target->text);
            if (!layer_name)
                return FX_ERR_NOMEM;
            const name_entry *e = lookup_scoped(L, sc, layer_name);
            if (!e || e->kind != NAME_NODE)
                return fx_yaml_fail(L->doc, target, FX_ERR_INVALID,
                                    "%s: bind: '%s' is not a layer written above", what, layer_name);
            bind_slot[n_bind] = bind->pairs[i].key->text;
            bind_param[n_bind] = arena_printf(L, "%s%s", e->name, dot);
            if (!bind_param[n_bind])
                return FX_ERR_NOMEM;
            n_bind++;
        }
    }

    fx_node_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.n_bind = n_bind;
    for (int i = 0; i < n_bind; i++) {
        desc.bind_slot[i] = bind_slot[i];
        desc.bind_param[i] = bind_param[i];
    }
    desc.name = full;
    desc.op = op->name;
    desc.inputs = inputs;
    desc.n_inputs = n_inputs;
    desc.attrs = attrs;
    desc.n_attrs = n_attrs;
    desc.share = share_name;
    desc.init = init_text;
    desc.pos = pos_of(L, layer);
    TRY(fx_graph_add_node(L->g, &desc));
    TRY(add_name(L, NAME_NODE, full, name_node ? name_node : layer, NULL, NULL));
    L->n_nodes++;
    const char **out = fx_yaml_alloc(L->doc, sizeof *out);
    if (!out)
        return FX_ERR_NOMEM;
    out[0] = full;
    L->default_in = out;
    L->n_default_in = 1;
    if (op_out)
        *op_out = op;
    return FX_OK;
}

/* Block parameters: `params: {ch: 32, k: ~}` (a null default means the
 * use site must give it) or `params: [ch, k]` (all required). */
static void block_params(const fx_yaml_node *def, const fx_yaml_node *const **names_out,
                         const fx_yaml_pair **pairs_out, int *n)
{
    const fx_yaml_node *params = fx_yaml_get(def, "params");
    *names_out = NULL;
    *pairs_out = NULL;
    *n = 0;
    if (!params || fx_yaml_is_null(params))
        return;
    if (params->kind == FX_YAML_MAPPING) {
        *pairs_out = params->pairs;
        *n = params->n;
    } else if (params->kind == FX_YAML_SEQUENCE) {
        *names_out = params->items;
        *n = params->n;
    }
}

static int is_reserved_param(const char *name)
{
    if (in_list(name, layer_loader_keys))
        return 1;
    if (strncmp(name, "in", 2) != 0)
        return 0;
    for (const char *p = name + 2; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1; /* "in", "in0", "in1", ...: the instance's inputs */
}

static fx_status validate_value_is_flat(loader *L, const fx_yaml_node *v, const char *what)
{
    if (v->kind == FX_YAML_MAPPING)
        return fx_yaml_fail(L->doc, v, FX_ERR_INVALID, "%s: expected a value or a list of values, got a mapping",
                            what);
    if (v->kind == FX_YAML_SEQUENCE)
        for (int i = 0; i < v->n; i++)
            if (v->items[i]->kind != FX_YAML_SCALAR)
                return fx_yaml_fail(L->doc, v->items[i], FX_ERR_INVALID,
                                    "%s: expected a list of values, got a nested %s", what,
                                    v->items[i]->kind == FX_YAML_MAPPING ? "mapping" : "list");
    return FX_OK;
}

/* Checks the shape of every block once, before any is used, so a broken
 * block is reported even when unused. */
static fx_status validate_blocks(loader *L)
{
    const fx_yaml_node *blocks = L->blocks;
    if (!blocks)
        return FX_OK;
    TRY(fx_yaml_expect_mapping(L->doc, blocks, "blocks"));
    static const char *const keys[] = {"params", "layers", NULL};
    for (int b = 0; b < blocks->n; b++) {
        const fx_yaml_node *name = blocks->pairs[b].key, *def = blocks->pairs[b].value;
        char what[160];
        snprintf(what, sizeof what, "blocks.%.100s", name->text);
        if (!is_valid_name(name->text))
            return fx_yaml_fail(L->doc, name, FX_ERR_INVALID,
                                "block name '%s' may use only letters, digits, '_' and '-'", name->text);
        TRY(fx_yaml_expect_mapping(L->doc, def, what));
        TRY(fx_yaml_check_keys(L->doc, def, what, keys, NULL));
        const fx_yaml_node *layers = fx_yaml_get(def, "layers");
        if (!layers)
            return fx_yaml_fail(L->doc, def, FX_ERR_INVALID, "%s: missing key 'layers'; a block is a list of layers",
                                what);
        char lwhat[192];
        snprintf(lwhat, sizeof lwhat, "%s.layers", what);
        TRY(fx_yaml_expect_sequence(L->doc, layers, lwhat));
        if (layers->n == 0)
            return fx_yaml_fail(L->doc, layers, FX_ERR_INVALID, "%s: the list is empty; give at least one layer",
                                lwhat);
        for (int i = 0; i < layers->n; i++) {
            char iwhat[224];
            snprintf(iwhat, sizeof iwhat, "%s[%d]", lwhat, i);
            TRY(fx_yaml_expect_mapping(L->doc, layers->items[i], iwhat));
        }
        const fx_yaml_node *params = fx_yaml_get(def, "params");
        if (!params || fx_yaml_is_null(params))
            continue;
        char pwhat[192];
        snprintf(pwhat, sizeof pwhat, "%s.params", what);
        if (params->kind == FX_YAML_SCALAR)
            return fx_yaml_fail(L->doc, params, FX_ERR_INVALID,
                                "%s: expected a mapping of parameters and defaults ({ch: 32, k: 3}) or a list of "
                                "names, got '%s'",
                                pwhat, params->text);
        for (int i = 0; i < params->n; i++) {
            const fx_yaml_node *pname =
                params->kind == FX_YAML_MAPPING ? params->pairs[i].key : params->items[i];
            if (pname->kind != FX_YAML_SCALAR || !is_valid_name(pname->text) || strchr(pname->text, '-'))
                return fx_yaml_fail(L->doc, pname, FX_ERR_INVALID,
                                    "%s: a parameter name uses only letters, digits and '_'", pwhat);
            if (is_reserved_param(pname->text))
                return fx_yaml_fail(L->doc, pname, FX_ERR_INVALID,
                                    "%s: '%s' cannot be a block parameter: the loader uses it (name, op, in, in0, "
                                    "in1, ..., use, share, init); rename it",
                                    pwhat, pname->text);
            if (params->kind == FX_YAML_MAPPING)
                TRY(validate_value_is_flat(L, params->pairs[i].value, pwhat));
        }
    }
    return FX_OK;
}

static fx_status add_layer(loader *L, const scope *sc, const fx_yaml_node *layer, int index, const char *section);

/* Expands `use: block` at `layer`: builds the parameter environment, picks
 * the instance to share with, and adds the block's layers. */
static fx_status expand_block(loader *L, const scope *sc, const fx_yaml_node *layer, const fx_yaml_node *use_node,
                              const fx_yaml_node *name_node, int index, const char *what,
                              const char *const *inputs, int n_inputs)
{
    TRY(expect_scalar_text(L, use_node, what, "use"));
    const char *block = use_node->text;
    const fx_yaml_pair *def_pair = fx_yaml_find(L->blocks, block);
    if (!def_pair) {
        int n = L->blocks ? L->blocks->n : 0;
        const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
        if (!names)
            return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory", L->doc->path);
        char list[1024];
        size_t used = 0;
        list[0] = '\0';
        for (int i = 0; i < n; i++) {
            names[i] = L->blocks->pairs[i].key->text;
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        const char *close = fx_yaml_closest(block, names, n);
        char hint[128] = "";
        if (close)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", close);
        fx_status st = fx_yaml_fail(L->doc, use_node, FX_ERR_INVALID, "%s: unknown block '%s'%s; %s%s", what, block,
                                    hint, n ? "blocks defined under `blocks:`: " : "define it under `blocks:`",
                                    list);
        free(names);
        return st;
    }
    const fx_yaml_node *def = def_pair->value;
    block = def_pair->key->text;

    /* A block that (indirectly) uses itself would never end. */
    for (const scope *s = sc; s && s->block; s = s->parent) {
        if (strcmp(s->block, block) != 0)
            continue;
        char chain[512];
        size_t used = 0;
        chain[0] = '\0';
        const char *stack[YAML_MAX_BLOCK_DEPTH + 1];
        int depth = 0;
        for (const scope *t = sc; t && t->block && depth < YAML_MAX_BLOCK_DEPTH; t = t->parent)
            stack[depth++] = t->block;
        for (int i = depth - 1; i >= 0; i--) {
            int w = snprintf(chain + used, sizeof chain - used, "%s -> ", stack[i]);
            if (w > 0 && (size_t)w < sizeof chain - used)
                used += (size_t)w;
        }
        return fx_yaml_fail(L->doc, use_node, FX_ERR_INVALID,
                            "%s: block '%s' uses itself (%s%s); a block cannot contain itself", what, block, chain,
                            block);
    }
    if (sc->depth >= YAML_MAX_BLOCK_DEPTH)
        return fx_yaml_fail(L->doc, use_node, FX_ERR_INVALID,
                            "%s: blocks are nested more than %d deep; flatten some of them", what,
                            YAML_MAX_BLOCK_DEPTH);

    const char *full;
    TRY(layer_full_name(L, sc, layer, name_node, block, index, what, &full));
    TRY(check_name_free(L, full, name_node ? name_node : layer));

    /* Keys at the use site: loader keys and the block's parameters. */
    const fx_yaml_node *const *pnames;
    const fx_yaml_pair *ppairs;
    int n_params;
    block_params(def, &pnames, &ppairs, &n_params);
    {
        static const char *const use_keys[] = {"name", "use", "in", "share"};
        const char **valid = calloc((size_t)n_params + 5, sizeof *valid);
        if (!valid)
            return fx_fail(L->ctx, FX_ERR_NOMEM, "%s: out of memory", L->doc->path);
        int n = 0;
        for (int i = 0; i < 4; i++)
            valid[n++] = use_keys[i];
        for (int i = 0; i < n_params; i++)
            valid[n++] = ppairs ? ppairs[i].key->text : pnames[i]->text;
        valid[n] = NULL;
        char where[192];
        snprintf(where, sizeof where, "%s (use: %s)", what, block);
        fx_status st = fx_yaml_check_keys(L->doc, layer, where, valid, NULL);
        free(valid);
        TRY(st);
    }

    int n_env = n_params + 1 + (n_inputs > 1 ? n_inputs : 0);
    env_entry *env = fx_yaml_alloc(L->doc, (size_t)n_env * sizeof *env);
    if (!env)
        return FX_ERR_NOMEM;
    int e = 0;
    for (int i = 0; i < n_params; i++) {
        const char *pname = ppairs ? ppairs[i].key->text : pnames[i]->text;
        const fx_yaml_node *given;
        TRY(layer_get(L, sc, layer, pname, &given));
        const fx_yaml_node *value = given ? given : ppairs ? ppairs[i].value : NULL;
        if (!value || fx_yaml_is_null(value))
            return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                                "%s: missing block parameter '%s' of block '%s'; give it here (`%s: ...`) or a "
                                "default under blocks.%s.params",
                                what, pname, block, pname, block);
        char pwhat[192];
        snprintf(pwhat, sizeof pwhat, "%s: %s", what, pname);
        TRY(validate_value_is_flat(L, value, pwhat));
        env[e++] = (env_entry){pname, value};
    }
    /* ${in} (and ${in0}, ${in1}, ... with several) name the instance's inputs. */
    for (int i = 0; i < n_inputs; i++) {
        fx_yaml_node *v = fx_yaml_new_scalar(L->doc, inputs[i], strlen(inputs[i]), layer->line, layer->col);
        if (!v)
            return FX_ERR_NOMEM;
        if (i == 0)
            env[e++] = (env_entry){"in", v};
        if (n_inputs > 1) {
            const char *nm = arena_printf(L, "in%d", i);
            if (!nm)
                return FX_ERR_NOMEM;
            env[e++] = (env_entry){nm, v};
        }
    }

    /* share: another instance of the same block. */
    const char *share_prefix = NULL;
    const fx_yaml_node *share;
    TRY(layer_get(L, sc, layer, "share", &share));
    if (share) {
        TRY(expect_scalar_text(L, share, what, "share"));
        const name_entry *s = lookup_scoped(L, sc, share->text);
        if (!s || s->kind != NAME_INSTANCE || strcmp(s->block, block) != 0)
            return fx_yaml_fail(L->doc, share, FX_ERR_INVALID,
                                "%s: share: '%s' is not an instance of block '%s' written above; a `use:` layer "
                                "shares with another `use: %s` layer",
                                what, share->text, block, block);
        share_prefix = s->name;
    } else if (sc->share_prefix) {
        const char *twin = arena_printf(L, "%s.%s", sc->share_prefix, full + strlen(sc->prefix) + 1);
        if (!twin)
            return FX_ERR_NOMEM;
        const name_entry *s = find_name(L, twin);
        if (!s || s->kind != NAME_INSTANCE || strcmp(s->block, block) != 0)
            return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                                "%s: cannot share parameters with '%s': it is not an instance of block '%s'", what,
                                twin, block);
        share_prefix = s->name;
    }

    scope child = {sc, full, block, env, e, share_prefix, sc->depth + 1};
    L->default_in = inputs;
    L->n_default_in = n_inputs;
    const fx_yaml_node *layers = fx_yaml_get(def, "layers");
    char section[192];
    snprintf(section, sizeof section, "blocks.%s.layers", block);
    for (int i = 0; i < layers->n; i++) {
        fx_status st = add_layer(L, &child, layers->items[i], i, section);
        if (st != FX_OK)
            return fx_fail_prefix(L->ctx, st, "%s:%d:%d: in '%s' (use: %s)", L->doc->path, layer->line, layer->col,
                                  full, block);
    }
    /* The instance's value is its last layer's output. */
    const char *target = L->default_in[0];
    TRY(add_name(L, NAME_INSTANCE, full, name_node ? name_node : layer, target, block));
    if (L->g) /* `--fetch s1` and fx_graph_value(g, "s1") find the block's output */
        TRY(fx_graph_add_alias(L->g, full, target));
    return FX_OK;
}

static fx_status add_layer(loader *L, const scope *sc, const fx_yaml_node *layer, int index, const char *section)
{
    char what[224];
    snprintf(what, sizeof what, "%s[%d]", section, index);
    TRY(fx_yaml_expect_mapping(L->doc, layer, what));
    const fx_yaml_node *name_node, *op_node, *use_node, *in_node;
    TRY(layer_get(L, sc, layer, "name", &name_node));
    TRY(layer_get(L, sc, layer, "op", &op_node));
    TRY(layer_get(L, sc, layer, "use", &use_node));
    TRY(layer_get(L, sc, layer, "in", &in_node));
    if (name_node && name_node->kind == FX_YAML_SCALAR)
        snprintf(what, sizeof what, "layer '%s'", name_node->text);
    if (op_node && use_node)
        return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                            "%s: has both 'op' and 'use'; a layer is one op (`op: conv2d`) or one block (`use: "
                            "name`)",
                            what);
    if (!op_node && !use_node)
        return fx_yaml_fail(L->doc, layer, FX_ERR_INVALID,
                            "%s: missing key 'op'; write e.g. `op: conv2d` (or `use: <block>` for a block)", what);

    const char **inputs = fx_yaml_alloc(L->doc, inputs_room(L, in_node) * sizeof *inputs);
    if (!inputs)
        return FX_ERR_NOMEM;
    int n_inputs = 0;
    TRY(layer_inputs(L, sc, layer, in_node, what, inputs, &n_inputs));

    if (use_node)
        return expand_block(L, sc, layer, use_node, name_node, index, what, inputs, n_inputs);

    TRY(expect_scalar_text(L, op_node, what, "op"));
    const char *full;
    TRY(layer_full_name(L, sc, layer, name_node, op_node->text, index, what, &full));
    TRY(check_name_free(L, full, name_node ? name_node : layer));
    static const char *const op_keys[] = {"name", "op", "in", "share", "init", "bind", NULL};
    return add_op_node(L, sc, layer, op_node, name_node, full, inputs, n_inputs, op_keys, what, NULL);
}

/* ---- sections -------------------------------------------------------------- */

static fx_status read_inputs(loader *L, const fx_yaml_node *input)
{
    if (!input)
        return fx_yaml_fail(L->doc, L->doc->root, FX_ERR_INVALID,
                            "missing key 'input'; declare the per-example inputs, e.g. `input: {image: [1, 28, 28], "
                            "label: []}`");
    TRY(fx_yaml_expect_mapping(L->doc, input, "input"));
    for (int i = 0; i < input->n; i++) {
        const fx_yaml_node *name = input->pairs[i].key, *spec = input->pairs[i].value;
        char what[160];
        snprintf(what, sizeof what, "input.%.100s", name->text);
        if (!is_valid_name(name->text))
            return fx_yaml_fail(L->doc, name, FX_ERR_INVALID,
                                "input name '%s' may use only letters, digits, '_' and '-'", name->text);
        if (strlen(name->text) >= FX_NAME_MAX)
            return fx_yaml_fail(L->doc, name, FX_ERR_INVALID, "input name '%s' is longer than %d characters",
                                name->text, FX_NAME_MAX - 1);
        const fx_yaml_node *shape_node = spec, *dtype_node = NULL;
        if (spec && spec->kind == FX_YAML_MAPPING) {
            static const char *const keys[] = {"shape", "dtype", NULL};
            TRY(fx_yaml_check_keys(L->doc, spec, what, keys, NULL));
            shape_node = fx_yaml_get(spec, "shape");
            dtype_node = fx_yaml_get(spec, "dtype");
            if (!shape_node)
                return fx_yaml_fail(L->doc, spec, FX_ERR_INVALID, "%s: missing key 'shape'; write e.g. `shape: [3, 64, 64]`",
                                    what);
        }
        if (!shape_node || shape_node->kind != FX_YAML_SEQUENCE) {
            char got[64];
            return fx_yaml_fail(L->doc, shape_node ? shape_node : spec, FX_ERR_INVALID,
                                "%s: expected a per-example shape such as [1, 28, 28] ([] for a class label), or "
                                "{shape: [...], dtype: float32}, got %s",
                                what, fx_yaml_describe(shape_node, got, sizeof got));
        }
        if (shape_node->n > FX_MAX_DIMS - 1)
            return fx_yaml_fail(L->doc, shape_node, FX_ERR_INVALID,
                                "%s: %d dimensions; at most %d per example (the batch adds one)", what, shape_node->n,
                                FX_MAX_DIMS - 1);
        fx_shape shape;
        memset(&shape, 0, sizeof shape);
        shape.ndim = shape_node->n;
        for (int d = 0; d < shape_node->n; d++) {
            char dwhat[192];
            snprintf(dwhat, sizeof dwhat, "%s[%d]", what, d);
            TRY(fx_yaml_read_int(L->doc, shape_node->items[d], dwhat, 1, (int64_t)1 << 24, &shape.dim[d]));
        }
        /* A scalar per example is a class label unless said otherwise. */
        fx_dtype dtype = shape.ndim == 0 ? FX_I32 : FX_F32;
        if (dtype_node && !fx_yaml_is_null(dtype_node)) {
            static const char *const dtypes[] = {"float32", "int32", NULL};
            int which = 0;
            char dwhat[192];
            snprintf(dwhat, sizeof dwhat, "%s.dtype", what);
            TRY(fx_yaml_read_enum(L->doc, dtype_node, dwhat, dtypes, &which));
            dtype = which == 0 ? FX_F32 : FX_I32;
        }
        TRY(check_name_free(L, name->text, name));
        TRY(fx_graph_add_input(L->g, name->text, dtype, &shape, pos_of(L, name)));
        TRY(add_name(L, NAME_INPUT, name->text, name, NULL, NULL));
    }
    if (input->n == 0)
        return fx_yaml_fail(L->doc, input, FX_ERR_INVALID,
                            "input: no inputs declared; write e.g. `input: {image: [1, 28, 28], label: []}`");
    return FX_OK;
}

static fx_status read_params(loader *L, const fx_yaml_node *params)
{
    if (!params || fx_yaml_is_null(params))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(L->doc, params, "params"));
    static const char *const keys[] = {"init", NULL};
    TRY(fx_yaml_check_keys(L->doc, params, "params", keys, NULL));
    const fx_yaml_node *init = fx_yaml_get(params, "init");
    if (!init || fx_yaml_is_null(init))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(L->doc, init, "params.init"));
    for (int i = 0; i < init->n; i++) {
        const fx_yaml_node *group = init->pairs[i].key, *spec = init->pairs[i].value;
        char what[160];
        snprintf(what, sizeof what, "params.init.%.100s", group->text);
        char text[128];
        TRY(fx_yaml_read_string(L->doc, spec, what, text, sizeof text));
        TRY(fx_graph_set_init_group(L->g, group->text, text, pos_of(L, spec)));
    }
    return FX_OK;
}

static fx_status read_layers(loader *L, const fx_yaml_node *layers)
{
    if (!layers)
        return fx_yaml_fail(L->doc, L->doc->root, FX_ERR_INVALID,
                            "missing key 'layers'; list the network's layers, e.g. `layers: [{name: fc, op: linear, "
                            "out_features: 10}]`");
    TRY(fx_yaml_expect_sequence(L->doc, layers, "layers"));
    if (layers->n == 0)
        return fx_yaml_fail(L->doc, layers, FX_ERR_INVALID, "layers: the list is empty; give at least one layer");
    scope top = {NULL, NULL, NULL, NULL, 0, NULL, 0};
    for (int i = 0; i < layers->n; i++)
        TRY(add_layer(L, &top, layers->items[i], i, "layers"));
    return FX_OK;
}

static fx_status read_losses(loader *L, const fx_yaml_node *losses)
{
    if (!losses || fx_yaml_is_null(losses))
        return FX_OK;
    TRY(fx_yaml_expect_sequence(L->doc, losses, "losses"));
    scope top = {NULL, NULL, NULL, NULL, 0, NULL, 0};
    /* Every loss reads, by default, the last layer's output. */
    const char *const *last = L->default_in;
    int n_last = L->n_default_in;
    static const char *const loss_keys[] = {"name", "op", "in", "weight", "share", "init", "bind", NULL};
    for (int i = 0; i < losses->n; i++) {
        const fx_yaml_node *loss = losses->items[i];
        char what[160];
        snprintf(what, sizeof what, "losses[%d]", i);
        TRY(fx_yaml_expect_mapping(L->doc, loss, what));
        const fx_yaml_node *name_node = fx_yaml_get(loss, "name"), *op_node = fx_yaml_get(loss, "op");
        const fx_yaml_node *in_node = fx_yaml_get(loss, "in"), *weight_node = fx_yaml_get(loss, "weight");
        if (fx_yaml_find(loss, "use"))
            return fx_yaml_fail(L->doc, fx_yaml_find(loss, "use")->key, FX_ERR_INVALID,
                                "%s: a loss is one op; 'use' (blocks) belongs under `layers:`", what);
        /* `{layer: fad, weight: 1}`: a layer written above whose output 0
         * is a loss (an op with several outputs, such as fad_loss, whose
         * other outputs feed later layers). */
        const fx_yaml_node *layer_node = fx_yaml_get(loss, "layer");
        if (layer_node && !fx_yaml_is_null(layer_node)) {
            static const char *const ref_keys[] = {"layer", "weight", NULL};
            TRY(fx_yaml_check_keys(L->doc, loss, what, ref_keys, NULL));
            TRY(expect_scalar_text(L, layer_node, what, "layer"));
            const name_entry *e = lookup_scoped(L, &top, layer_node->text);
            if (!e || e->kind != NAME_NODE)
                return fx_yaml_fail(L->doc, layer_node, FX_ERR_INVALID,
                                    "%s: layer: '%s' is not a layer written under `layers:`", what, layer_node->text);
            double lw = 1.0;
            if (weight_node && !fx_yaml_is_null(weight_node))
                TRY(fx_yaml_read_float(L->doc, weight_node, "weight", -1e9, 1e9, &lw));
            TRY(fx_graph_add_loss(L->g, e->name, (float)lw, pos_of(L, weight_node ? weight_node : loss)));
            L->n_losses++;
            continue;
        }
        if (!op_node || fx_yaml_is_null(op_node))
            return fx_yaml_fail(L->doc, loss, FX_ERR_INVALID,
                                "%s: missing key 'op'; write e.g. `{op: softmax_cross_entropy, in: [logits, label]}`",
                                what);
        if (fx_yaml_is_null(name_node))
            name_node = NULL;
        if (fx_yaml_is_null(in_node))
            in_node = NULL;
        if (name_node && name_node->kind == FX_YAML_SCALAR)
            snprintf(what, sizeof what, "loss '%s'", name_node->text);
        double weight = 1.0;
        if (weight_node && !fx_yaml_is_null(weight_node)) {
            char wwhat[192];
            snprintf(wwhat, sizeof wwhat, "%s: weight", what);
            TRY(fx_yaml_read_float(L->doc, weight_node, wwhat, -1e9, 1e9, &weight));
        }
        L->default_in = last;
        L->n_default_in = n_last;
        const char **inputs = fx_yaml_alloc(L->doc, inputs_room(L, in_node) * sizeof *inputs);
        if (!inputs)
            return FX_ERR_NOMEM;
        int n_inputs = 0;
        TRY(layer_inputs(L, &top, loss, in_node, what, inputs, &n_inputs));
        TRY(expect_scalar_text(L, op_node, what, "op"));
        const char *full;
        TRY(layer_full_name(L, &top, loss, name_node, op_node->text, i, what, &full));
        TRY(check_name_free(L, full, name_node ? name_node : loss));
        const fx_op_def *op = NULL;
        TRY(add_op_node(L, &top, loss, op_node, name_node, full, inputs, n_inputs, loss_keys, what, &op));
        TRY(fx_graph_add_loss(L->g, full, (float)weight, pos_of(L, weight_node ? weight_node : loss)));
        L->n_losses++;
    }
    L->default_in = last;
    L->n_default_in = n_last;
    return FX_OK;
}

/* train.predict and the data section's input names must name values of
 * this graph. */
static fx_status check_config_names(loader *L, const fx_yaml_node *root)
{
    fx_config *cfg = L->cfg;
    scope top = {NULL, NULL, NULL, NULL, 0, NULL, 0};
    const fx_yaml_node *predict = fx_yaml_get(fx_yaml_get(root, "train"), "predict");
    const char *resolved = NULL;
    if (cfg->train.predict[0] && predict)
        TRY(resolve_value(L, &top, predict, "train.predict", &resolved));
    else /* the library's default rule, written into the config for its readers */
        resolved = fx_config_predict_name(L->g, cfg);
    if (resolved) {
        if (strlen(resolved) >= sizeof cfg->train.predict)
            return fx_yaml_fail(L->doc, predict, FX_ERR_INVALID, "train.predict: '%s' is too long", resolved);
        snprintf(cfg->train.predict, sizeof cfg->train.predict, "%s", resolved);
    }

    if (cfg->data.train.kind == FX_DATA_NONE && cfg->data.test.kind == FX_DATA_NONE)
        return FX_OK;
    const fx_yaml_node *data = fx_yaml_get(root, "data");
    const char *keys[2] = {"image", "label"};
    const char *values[2] = {cfg->data.image_input, cfg->data.label_input};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && L->n_losses == 0)
            break; /* labels are only fed when something learns from them */
        const name_entry *e = find_name(L, values[k]);
        if (e && e->kind == NAME_INPUT)
            continue;
        char known[512];
        size_t used = 0;
        known[0] = '\0';
        for (int i = 0; i < L->n_entries; i++) {
            if (L->entries[i].kind != NAME_INPUT)
                continue;
            int w = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", L->entries[i].name);
            if (w > 0 && (size_t)w < sizeof known - used)
                used += (size_t)w;
        }
        const fx_yaml_node *at = fx_yaml_get(data, keys[k]);
        return fx_yaml_fail(L->doc, at ? at : data, FX_ERR_INVALID,
                            "data.%s: '%s' is not a graph input (inputs: %s); set `data: {%s: <input>}` to the "
                            "input that receives the %ss",
                            keys[k], values[k], known, keys[k], keys[k]);
    }
    return FX_OK;
}

static fx_status build_graph(loader *L, const fx_yaml_node *root)
{
    char name[FX_NAME_MAX];
    const fx_yaml_node *name_node = fx_yaml_get(root, "name");
    if (name_node && !fx_yaml_is_null(name_node)) {
        TRY(fx_yaml_read_string(L->doc, name_node, "name", name, sizeof name));
    } else {
        /* Default: the file name without folder and extension. */
        const char *base = strrchr(L->cfg->path, '/');
        base = base ? base + 1 : L->cfg->path;
        const char *dot = strrchr(base, '.');
        size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, base, len);
        name[len] = '\0';
    }
    TRY(fx_graph_create(L->ctx, name, &L->g));
    TRY(read_inputs(L, fx_yaml_get(root, "input")));
    /* A first layer without `in` reads the first input. */
    const char **first = fx_yaml_alloc(L->doc, sizeof *first);
    if (!first)
        return FX_ERR_NOMEM;
    first[0] = L->entries[0].name;
    L->default_in = first;
    L->n_default_in = 1;
    TRY(read_params(L, fx_yaml_get(root, "params")));
    const fx_yaml_node *blocks = L->merged_blocks ? L->merged_blocks : fx_yaml_get(root, "blocks");
    L->blocks = fx_yaml_is_null(blocks) ? NULL : blocks;
    TRY(validate_blocks(L));
    TRY(read_layers(L, fx_yaml_get(root, "layers")));
    TRY(read_losses(L, fx_yaml_get(root, "losses")));
    TRY(check_config_names(L, root));
    TRY(fx_graph_check_init_groups(L->g));
    return fx_graph_check(L->g);
}

/* `include: [blocks.yaml, ...]`: files (relative to this one) whose
 * `blocks:` join this file's, so several graphs share their blocks instead
 * of copying them. An included file holds only `blocks:` (and `x-` keys
 * for anchors); a block defined twice is an error naming both places.
 * Included documents stay alive (in `docs`) until the graph is built. */
static fx_status read_includes(fx_context *ctx, fx_yaml_doc *doc, const fx_yaml_node *root, const fx_config *cfg,
                               fx_yaml_doc **docs, int *n_docs, const fx_yaml_node **merged_out)
{
    *merged_out = NULL;
    const fx_yaml_node *inc = fx_yaml_get(root, "include");
    if (!inc || fx_yaml_is_null(inc))
        return FX_OK;
    const fx_yaml_node *const *items = &inc;
    int n = 1;
    if (inc->kind == FX_YAML_SEQUENCE) {
        items = inc->items;
        n = inc->n;
    }
    if (n > FX_MAX_INCLUDES)
        return fx_yaml_fail(doc, inc, FX_ERR_INVALID, "include: at most %d files", FX_MAX_INCLUDES);
    const fx_yaml_node *own = fx_yaml_get(root, "blocks");
    if (own && !fx_yaml_is_null(own))
        TRY(fx_yaml_expect_mapping(doc, own, "blocks"));
    int total = own && !fx_yaml_is_null(own) ? own->n : 0;
    for (int i = 0; i < n; i++) {
        char path[FX_PATH_MAX];
        TRY(fx_yaml_read_path(doc, items[i], "include", cfg->dir, path, sizeof path));
        fx_yaml_doc *d = NULL;
        fx_status st = fx_yaml_parse_file(ctx, path, &d);
        if (st != FX_OK)
            return fx_yaml_fail(doc, items[i], st, "include: %s", fx_context_error(ctx));
        docs[(*n_docs)++] = d;
        if (!d->root || d->root->kind != FX_YAML_MAPPING)
            return fx_yaml_fail(d, d->root, FX_ERR_INVALID, "an included file must be a mapping with `blocks:`");
        static const char *const inc_keys[] = {"blocks", NULL};
        TRY(fx_yaml_check_keys(d, d->root, "an included file", inc_keys, "x-"));
        const fx_yaml_node *b = fx_yaml_get(d->root, "blocks");
        if (!b || fx_yaml_is_null(b))
            return fx_yaml_fail(d, d->root, FX_ERR_INVALID, "an included file must define `blocks:`");
        TRY(fx_yaml_expect_mapping(d, b, "blocks"));
        total += b->n;
    }
    fx_yaml_pair *pairs = fx_yaml_alloc(doc, (size_t)(total ? total : 1) * sizeof *pairs);
    fx_yaml_node *merged = fx_yaml_alloc(doc, sizeof *merged);
    if (!pairs || !merged)
        return FX_ERR_NOMEM;
    int used = 0;
    for (int src = -1; src < *n_docs; src++) {
        const fx_yaml_node *b = src < 0 ? own : fx_yaml_get(docs[src]->root, "blocks");
        if (!b || fx_yaml_is_null(b))
            continue;
        for (int k = 0; k < b->n; k++) {
            for (int j = 0; j < used; j++)
                if (!strcmp(pairs[j].key->text, b->pairs[k].key->text))
                    return fx_yaml_fail(doc, b->pairs[k].key, FX_ERR_INVALID,
                                        "block '%s' is defined twice (also at %s:%d:%d); rename one",
                                        b->pairs[k].key->text, pairs[j].key->file, pairs[j].key->line,
                                        pairs[j].key->col);
            pairs[used++] = b->pairs[k];
        }
    }
    merged->kind = FX_YAML_MAPPING;
    merged->line = inc->line;
    merged->col = inc->col;
    merged->file = inc->file;
    merged->n = used;
    merged->pairs = pairs;
    *merged_out = merged;
    return FX_OK;
}

fx_status fx_graph_load_yaml(fx_context *ctx, const char *path, fx_graph **graph, fx_config *cfg)
{
    if (graph)
        *graph = NULL;
    if (!ctx)
        return FX_ERR_INVALID;
    if (!path || !cfg)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_graph_load_yaml: path and cfg must not be NULL");
    fx_context_clear_error(ctx);
    fx_config_default(cfg);
    TRY(fx_yaml_config_set_path(ctx, cfg, path));

    fx_yaml_doc *doc = NULL;
    TRY(fx_yaml_parse_file(ctx, path, &doc));
    const fx_yaml_node *root = doc->root;
    fx_status st = FX_OK;
    if (fx_yaml_is_null(root)) {
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s: the file is empty; a graph file is a YAML mapping with at least `input:` and `layers:` "
                     "(see docs/graph-format.md)",
                     path);
    } else if (root->kind != FX_YAML_MAPPING) {
        char got[64];
        st = fx_yaml_fail(doc, root, FX_ERR_PARSE,
                          "the top level of a graph file must be a mapping (`key: value` lines such as `layers:`), "
                          "got %s",
                          fx_yaml_describe(root, got, sizeof got));
    }
    static const char *const top_keys[] = {"name",   "task",   "backend", "plugins", "input", "params",  "include",
                                           "blocks", "layers", "losses",  "data",    "train", NULL};
    if (st == FX_OK)
        st = fx_yaml_check_keys(doc, root, "the top level", top_keys, "x-");
    if (st == FX_OK)
        st = fx_yaml_read_config(doc, root, cfg);
    fx_yaml_doc *included[FX_MAX_INCLUDES];
    int n_included = 0;
    const fx_yaml_node *merged = NULL;
    if (st == FX_OK && graph)
        st = read_includes(ctx, doc, root, cfg, included, &n_included, &merged);
    if (st == FX_OK && graph) {
        loader L;
        memset(&L, 0, sizeof L);
        L.ctx = ctx;
        L.doc = doc;
        L.cfg = cfg;
        L.merged_blocks = merged;
        st = build_graph(&L, root);
        fx_name_table_free(&L.names);
        free(L.entries);
        if (st == FX_OK)
            *graph = L.g;
        else
            fx_graph_destroy(L.g);
    }
    for (int i = 0; i < n_included; i++)
        fx_yaml_doc_free(included[i]);
    fx_yaml_doc_free(doc);
    return st;
}
