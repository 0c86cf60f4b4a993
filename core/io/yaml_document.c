/* core/io/yaml_document.c - builds the in-memory YAML tree from libyaml's
 * event stream, and the typed readers that turn its scalars into numbers
 * with error messages that point at the user's text.
 *
 * Building is iterative (an explicit stack), so deeply nested input cannot
 * exhaust the C stack. Anchors are registered when their node is complete,
 * so an alias inside its own anchor (`&a [*a]`) is an undefined alias, not a
 * cycle; the tree is therefore a DAG and every walk over it terminates. */
#include "core/io/yaml_document.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>
#include "core/internal.h"

/* Caps that keep hostile input from exhausting memory: a graph file is a
 * few kilobytes; these are far above any real one. */
#define YAML_MAX_FILE_BYTES ((size_t)16 << 20)
#define YAML_MAX_NODES ((size_t)2000000)
#define YAML_MAX_DEPTH 512
#define YAML_CHUNK_BYTES ((size_t)64 << 10)

/* ---- arena ------------------------------------------------------------ */

struct fx_yaml_chunk {
    struct fx_yaml_chunk *next;
    size_t used, cap;
    /* data follows, aligned to 16 */
};

#define CHUNK_HEADER ((sizeof(struct fx_yaml_chunk) + 15u) & ~(size_t)15u)

void *fx_yaml_alloc(fx_yaml_doc *doc, size_t size)
{
    size = (size + 15u) & ~(size_t)15u;
    if (size == 0)
        size = 16;
    struct fx_yaml_chunk *c = doc->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > YAML_CHUNK_BYTES ? size : YAML_CHUNK_BYTES;
        c = malloc(CHUNK_HEADER + cap);
        if (!c) {
            fx_fail(doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading the YAML file", doc->path);
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        /* A big block goes behind the current chunk so the current one keeps
         * serving small allocations. */
        if (doc->chunks && size > YAML_CHUNK_BYTES) {
            c->next = doc->chunks->next;
            doc->chunks->next = c;
        } else {
            c->next = doc->chunks;
            doc->chunks = c;
        }
    }
    void *p = (char *)c + CHUNK_HEADER + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

static fx_yaml_node *new_node(fx_yaml_doc *doc, fx_yaml_kind kind, int line, int col)
{
    if (doc->n_nodes >= YAML_MAX_NODES) {
        fx_fail(doc->ctx, FX_ERR_PARSE, "%s:%d:%d: the YAML file has more than %zu values; a graph file is far smaller",
                doc->path, line, col, YAML_MAX_NODES);
        return NULL;
    }
    fx_yaml_node *n = fx_yaml_alloc(doc, sizeof *n);
    if (!n)
        return NULL;
    doc->n_nodes++;
    n->kind = kind;
    n->line = line;
    n->col = col;
    n->file = doc->path;
    return n;
}

/* Why new_node failed: the node cap (a parse error) or memory. */
static fx_status node_failure_status(const fx_yaml_doc *doc)
{
    return doc->n_nodes >= YAML_MAX_NODES ? FX_ERR_PARSE : FX_ERR_NOMEM;
}

fx_yaml_node *fx_yaml_new_scalar(fx_yaml_doc *doc, const char *text, size_t len, int line, int col)
{
    fx_yaml_node *n = new_node(doc, FX_YAML_SCALAR, line, col);
    if (!n)
        return NULL;
    char *copy = fx_yaml_alloc(doc, len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    n->text = copy;
    n->len = len;
    n->plain = 0;
    return n;
}

void fx_yaml_doc_free(fx_yaml_doc *doc)
{
    if (!doc)
        return;
    struct fx_yaml_chunk *c = doc->chunks;
    while (c) {
        struct fx_yaml_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc->path);
    free(doc);
}

/* ---- name table --------------------------------------------------------- */

static size_t hash_string(const char *s)
{
    size_t h = 1469598103934665603ull & SIZE_MAX; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211ull;
    return h;
}

static int name_table_grow(fx_name_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    char **keys = calloc(cap, sizeof *keys);
    void **values = calloc(cap, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return 0;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i])
            continue;
        size_t j = hash_string(t->keys[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = t->keys[i];
        values[j] = t->values[i];
    }
    free(t->keys);
    free(t->values);
    t->keys = keys;
    t->values = values;
    t->cap = cap;
    return 1;
}

int fx_name_table_put(fx_name_table *t, const char *key, void *value)
{
    if ((t->n + 1) * 2 > t->cap && !name_table_grow(t))
        return 0;
    size_t j = hash_string(key) & (t->cap - 1);
    while (t->keys[j]) {
        if (strcmp(t->keys[j], key) == 0) {
            t->values[j] = value;
            return 1;
        }
        j = (j + 1) & (t->cap - 1);
    }
    size_t len = strlen(key);
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, key, len + 1);
    t->keys[j] = copy;
    t->values[j] = value;
    t->n++;
    return 1;
}

void *fx_name_table_get(const fx_name_table *t, const char *key)
{
    if (!t->cap)
        return NULL;
    size_t j = hash_string(key) & (t->cap - 1);
    while (t->keys[j]) {
        if (strcmp(t->keys[j], key) == 0)
            return t->values[j];
        j = (j + 1) & (t->cap - 1);
    }
    return NULL;
}

void fx_name_table_free(fx_name_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->values);
    memset(t, 0, sizeof *t);
}

/* ---- building ------------------------------------------------------------ */

typedef struct build_frame {
    fx_yaml_node *node;
    char *anchor;                 /* malloc'd, or NULL */
    const fx_yaml_node **kids;    /* sequence items, or key, value, key, value... */
    int n, cap;
} build_frame;

typedef struct builder {
    fx_yaml_doc *doc;
    const char *src;
    size_t src_len;
    build_frame *stack;
    int depth, cap;
    fx_name_table anchors;
    const fx_yaml_node *root;
    int n_documents;
} builder;

static void builder_free(builder *b)
{
    for (int i = 0; i < b->depth; i++) {
        free(b->stack[i].anchor);
        free(b->stack[i].kids);
    }
    free(b->stack);
    fx_name_table_free(&b->anchors);
}

static fx_status register_anchor(builder *b, const char *anchor, const fx_yaml_node *node)
{
    if (!anchor)
        return FX_OK;
    if (!fx_name_table_put(&b->anchors, anchor, (void *)node))
        return fx_fail(b->doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading anchors", b->doc->path);
    return FX_OK;
}

static fx_status add_child(builder *b, const fx_yaml_node *node)
{
    if (b->depth == 0) {
        b->root = node;
        return FX_OK;
    }
    build_frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == FX_YAML_MAPPING && f->n % 2 == 0 && node->kind != FX_YAML_SCALAR)
        return fx_yaml_fail(b->doc, node, FX_ERR_PARSE,
                            "a mapping key must be plain text, not %s; write `key: value`",
                            node->kind == FX_YAML_MAPPING ? "a mapping" : "a list");
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        const fx_yaml_node **kids = realloc(f->kids, (size_t)cap * sizeof *kids);
        if (!kids)
            return fx_fail(b->doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading the YAML file", b->doc->path);
        f->kids = kids;
        f->cap = cap;
    }
    f->kids[f->n++] = node;
    return FX_OK;
}

static fx_status push_frame(builder *b, fx_yaml_kind kind, const yaml_mark_t *mark, const yaml_char_t *anchor)
{
    if (b->depth >= YAML_MAX_DEPTH)
        return fx_fail(b->doc->ctx, FX_ERR_PARSE,
                       "%s:%d:%d: values are nested more than %d levels deep; a graph file needs a handful",
                       b->doc->path, (int)mark->line + 1, (int)mark->column + 1, YAML_MAX_DEPTH);
    if (b->depth == b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        build_frame *s = realloc(b->stack, (size_t)cap * sizeof *s);
        if (!s)
            return fx_fail(b->doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading the YAML file", b->doc->path);
        b->stack = s;
        b->cap = cap;
    }
    fx_yaml_node *node = new_node(b->doc, kind, (int)mark->line + 1, (int)mark->column + 1);
    if (!node)
        return node_failure_status(b->doc);
    build_frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof *f);
    f->node = node;
    if (anchor) {
        size_t len = strlen((const char *)anchor);
        f->anchor = malloc(len + 1);
        if (!f->anchor)
            return fx_fail(b->doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading anchors", b->doc->path);
        memcpy(f->anchor, anchor, len + 1);
    }
    b->depth++;
    return FX_OK;
}

static int is_merge_key(const fx_yaml_node *key)
{
    return key->plain && strcmp(key->text, "<<") == 0;
}

typedef struct merge_candidate {
    const fx_yaml_node *key, *value;
    int order;
    int is_explicit;
    int keep;
} merge_candidate;

static int compare_candidates(const void *pa, const void *pb)
{
    const merge_candidate *a = *(merge_candidate *const *)pa, *b = *(merge_candidate *const *)pb;
    int c = strcmp(a->key->text, b->key->text);
    if (c)
        return c;
    if (a->is_explicit != b->is_explicit)
        return b->is_explicit - a->is_explicit; /* explicit keys first: they win */
    return (a->order > b->order) - (a->order < b->order);
}

/* Turns the collected key/value list into pairs: expands `<<` merges in
 * place, keeps explicit keys over merged ones (and earlier merge sources
 * over later ones, as the YAML merge spec says), rejects duplicates. */
static fx_status finish_mapping(builder *b, build_frame *f)
{
    fx_yaml_doc *doc = b->doc;
    int n_pairs = f->n / 2, n_cand = 0, merge_seen = 0;
    for (int i = 0; i < n_pairs; i++) {
        const fx_yaml_node *key = f->kids[2 * i], *value = f->kids[2 * i + 1];
        if (!is_merge_key(key)) {
            n_cand++;
            continue;
        }
        if (merge_seen)
            return fx_yaml_fail(doc, key, FX_ERR_PARSE,
                                "a second '<<' merge key in the same mapping; merge several with `<<: [*a, *b]`");
        merge_seen = 1;
        if (value->kind == FX_YAML_MAPPING) {
            n_cand += value->n;
        } else if (value->kind == FX_YAML_SEQUENCE) {
            for (int k = 0; k < value->n; k++) {
                if (value->items[k]->kind != FX_YAML_MAPPING)
                    return fx_yaml_fail(doc, value->items[k], FX_ERR_PARSE,
                                        "'<<' merges mappings, but this list item is not one; write `<<: [*a, *b]` "
                                        "with anchors of mappings");
                n_cand += value->items[k]->n;
            }
        } else {
            char buf[64];
            return fx_yaml_fail(doc, value, FX_ERR_PARSE,
                                "'<<' merges a mapping, got %s; write `<<: *anchor` (an alias of a mapping)",
                                fx_yaml_describe(value, buf, sizeof buf));
        }
    }

    fx_yaml_pair *pairs = NULL;
    if (n_cand > 0) {
        pairs = fx_yaml_alloc(doc, (size_t)n_cand * sizeof *pairs);
        if (!pairs)
            return FX_ERR_NOMEM;
    }
    merge_candidate *cand = n_cand ? calloc((size_t)n_cand, sizeof *cand) : NULL;
    merge_candidate **sorted = n_cand ? calloc((size_t)n_cand, sizeof *sorted) : NULL;
    if (n_cand && (!cand || !sorted)) {
        free(cand);
        free(sorted);
        return fx_fail(doc->ctx, FX_ERR_NOMEM, "%s: out of memory while reading a mapping", doc->path);
    }
    int c = 0;
    for (int i = 0; i < n_pairs; i++) {
        const fx_yaml_node *key = f->kids[2 * i], *value = f->kids[2 * i + 1];
        if (!is_merge_key(key)) {
            cand[c] = (merge_candidate){key, value, c, 1, 0};
            c++;
            continue;
        }
        int n_src = value->kind == FX_YAML_MAPPING ? 1 : value->n;
        for (int s = 0; s < n_src; s++) {
            const fx_yaml_node *src = value->kind == FX_YAML_MAPPING ? value : value->items[s];
            for (int k = 0; k < src->n; k++) {
                cand[c] = (merge_candidate){src->pairs[k].key, src->pairs[k].value, c, 0, 0};
                c++;
            }
        }
    }
    for (int i = 0; i < n_cand; i++)
        sorted[i] = &cand[i];
    if (n_cand > 1)
        qsort(sorted, (size_t)n_cand, sizeof *sorted, compare_candidates);
    fx_status st = FX_OK;
    for (int i = 0; i < n_cand && st == FX_OK;) {
        int j = i + 1;
        while (j < n_cand && strcmp(sorted[j]->key->text, sorted[i]->key->text) == 0)
            j++;
        sorted[i]->keep = 1;
        if (j > i + 1 && sorted[i]->is_explicit && sorted[i + 1]->is_explicit) {
            const fx_yaml_node *second = sorted[i + 1]->key;
            st = fx_yaml_fail(doc, second, FX_ERR_PARSE,
                              "duplicate key '%s' (first written at line %d, column %d); each key may appear "
                              "once in a mapping",
                              second->text, sorted[i]->key->line, sorted[i]->key->col);
        }
        i = j;
    }
    int n_out = 0;
    for (int i = 0; i < n_cand && st == FX_OK; i++)
        if (cand[i].keep)
            pairs[n_out++] = (fx_yaml_pair){cand[i].key, cand[i].value};
    free(cand);
    free(sorted);
    if (st != FX_OK)
        return st;
    f->node->pairs = pairs;
    f->node->n = n_out;
    return FX_OK;
}

static fx_status pop_frame(builder *b)
{
    build_frame *f = &b->stack[b->depth - 1];
    fx_status st = FX_OK;
    if (f->node->kind == FX_YAML_SEQUENCE) {
        if (f->n > 0) {
            const fx_yaml_node **items = fx_yaml_alloc(b->doc, (size_t)f->n * sizeof *items);
            if (!items)
                st = FX_ERR_NOMEM;
            else
                memcpy(items, f->kids, (size_t)f->n * sizeof *items);
            f->node->items = items;
        }
        f->node->n = f->n;
    } else {
        st = finish_mapping(b, f);
    }
    if (st == FX_OK)
        st = register_anchor(b, f->anchor, f->node);
    fx_yaml_node *node = f->node;
    free(f->anchor);
    free(f->kids);
    b->depth--;
    if (st != FX_OK)
        return st;
    return add_child(b, node);
}

/* Byte offset of 0-based (line, column in characters) in src, or len. */
static size_t offset_of_mark(const char *src, size_t len, size_t line, size_t column)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < len; i++)
        if (src[i] == '\n')
            l++;
    for (size_t c = 0; c < column && i < len; i++)
        if (((unsigned char)src[i] & 0xC0) != 0x80)
            c++;
    while (i < len && ((unsigned char)src[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static fx_status parser_error(builder *b, const yaml_parser_t *p)
{
    const char *path = b->doc->path;
    fx_context *ctx = b->doc->ctx;
    if (p->error == YAML_MEMORY_ERROR)
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory while parsing YAML", path);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset: turn it into line:col. */
        size_t off = p->problem_offset < b->src_len ? p->problem_offset : b->src_len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (b->src[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)b->src[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        return fx_fail(ctx, FX_ERR_PARSE,
                       "%s:%d:%d: not a YAML text file: %s (byte 0x%02x at offset %zu); save it as UTF-8 text",
                       path, line, col, p->problem ? p->problem : "unreadable character",
                       p->problem_value >= 0 ? (unsigned)p->problem_value & 0xFFu : 0u, p->problem_offset);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    size_t off = offset_of_mark(b->src, b->src_len, p->problem_mark.line, p->problem_mark.column);
    int is_tab = off < b->src_len && b->src[off] == '\t';
    /* libyaml reports the tab only as "cannot start any token" at its column. */
    if (!is_tab && p->problem && strstr(p->problem, "tab"))
        is_tab = 1;
    const char *hint = is_tab ? "YAML indents with spaces only: replace the tab characters with spaces"
                              : "check the indentation, the ':' after each key, and that every '[', '{' and "
                                "quote is closed";
    if (p->context)
        return fx_fail(ctx, FX_ERR_PARSE, "%s:%d:%d: malformed YAML: %s (%s at line %d, column %d); %s", path, line,
                       col, p->problem ? p->problem : "syntax error", p->context, (int)p->context_mark.line + 1,
                       (int)p->context_mark.column + 1, hint);
    return fx_fail(ctx, FX_ERR_PARSE, "%s:%d:%d: malformed YAML: %s; %s", path, line, col,
                   p->problem ? p->problem : "syntax error", hint);
}

/* An explicit tag (`!!str 64`, `!!python/object:os.system`, `!mine`)
 * would otherwise be dropped silently, so the value would mean something
 * else than its author wrote; fx's files hold plain values only. */
static fx_status refuse_tag(fx_yaml_doc *doc, const yaml_char_t *tag, int line, int col)
{
    if (!tag)
        return FX_OK;
    /* libyaml hands back "tag:yaml.org,2002:str" for `!!str`: show it as written. */
    static const char core_prefix[] = "tag:yaml.org,2002:";
    const char *text = (const char *)tag;
    int core = !strncmp(text, core_prefix, sizeof core_prefix - 1);
    return fx_fail(doc->ctx, FX_ERR_PARSE,
                   "%s:%d:%d: YAML tag '%s%.100s' is not supported: fx graph files hold plain values, and a tag "
                   "is never obeyed; remove the tag (quote the value if it must be a string)",
                   doc->path, line, col, core ? "!!" : "", core ? text + sizeof core_prefix - 1 : text);
}

static fx_status handle_event(builder *b, const yaml_event_t *ev, int *done)
{
    fx_yaml_doc *doc = b->doc;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const yaml_char_t *tag = ev->type == YAML_SCALAR_EVENT           ? ev->data.scalar.tag
                             : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                             : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.tag
                                                                     : NULL;
    fx_status tag_st = refuse_tag(doc, tag, line, col);
    if (tag_st != FX_OK)
        return tag_st;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return FX_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_documents > 1)
            return fx_fail(doc->ctx, FX_ERR_PARSE,
                           "%s:%d:%d: a second YAML document starts here; a graph file holds one document "
                           "(remove the extra '---')",
                           doc->path, line, col);
        return FX_OK;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        const fx_yaml_node *target = fx_name_table_get(&b->anchors, name);
        if (!target)
            return fx_fail(doc->ctx, FX_ERR_PARSE,
                           "%s:%d:%d: alias '*%s' names no anchor; define '&%s' on a value written before this "
                           "alias (and not around it)",
                           doc->path, line, col, name, name);
        return add_child(b, target);
    }
    case YAML_SCALAR_EVENT: {
        const char *text = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(text, '\0', len))
            return fx_fail(doc->ctx, FX_ERR_PARSE, "%s:%d:%d: this value contains a NUL character; remove it",
                           doc->path, line, col);
        fx_yaml_node *n = fx_yaml_new_scalar(doc, text, len, line, col);
        if (!n)
            return node_failure_status(doc);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
        fx_status st = register_anchor(b, (const char *)ev->data.scalar.anchor, n);
        return st != FX_OK ? st : add_child(b, n);
    }
    case YAML_SEQUENCE_START_EVENT:
        return push_frame(b, FX_YAML_SEQUENCE, &ev->start_mark, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return push_frame(b, FX_YAML_MAPPING, &ev->start_mark, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0)
            return fx_fail(doc->ctx, FX_ERR_INTERNAL, "%s:%d:%d: unbalanced YAML events", doc->path, line, col);
        return pop_frame(b);
    default:
        return FX_OK;
    }
}

fx_status fx_yaml_parse_string(fx_context *ctx, const char *name, const char *text, size_t len,
                               fx_yaml_doc **out)
{
    *out = NULL;
    fx_yaml_doc *doc = calloc(1, sizeof *doc);
    size_t name_len = strlen(name);
    char *path = malloc(name_len + 1);
    if (!doc || !path) {
        free(doc);
        free(path);
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(path, name, name_len + 1);
    doc->ctx = ctx;
    doc->path = path;

    builder b;
    memset(&b, 0, sizeof b);
    b.doc = doc;
    b.src = text;
    b.src_len = len;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fx_yaml_doc_free(doc);
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: cannot initialise the YAML parser", name);
    }
    /* UTF-8 only: otherwise a stray UTF-16 byte-order mark at the start of
     * binary garbage switches libyaml to UTF-16 and the errors make no sense. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    fx_status st = FX_OK;
    int done = 0;
    while (!done && st == FX_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = parser_error(&b, &parser);
            break;
        }
        st = handle_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (st == FX_OK && !b.root) {
        /* An empty stream (or only comments) is a null document. */
        fx_yaml_node *n = fx_yaml_new_scalar(doc, "", 0, 1, 1);
        if (!n)
            st = FX_ERR_NOMEM;
        else
            n->plain = 1;
        b.root = n;
    }
    builder_free(&b);
    if (st != FX_OK) {
        fx_yaml_doc_free(doc);
        return st;
    }
    doc->root = b.root;
    *out = doc;
    return FX_OK;
}

fx_status fx_yaml_parse_file(fx_context *ctx, const char *path, fx_yaml_doc **out)
{
    *out = NULL;
    const char *why = "";
    FILE *f = fx_fopen_regular(path, &why);
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open the graph file: %s; check the path", path, why);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    fx_status st = FX_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= YAML_MAX_FILE_BYTES) {
                st = fx_fail(ctx, FX_ERR_PARSE, "%s: the file is larger than %zu MiB; a graph file is far smaller",
                             path, YAML_MAX_FILE_BYTES >> 20);
                break;
            }
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = fx_fail(ctx, FX_ERR_IO, "%s: cannot read the graph file: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == FX_OK)
        st = fx_yaml_parse_string(ctx, path, buf ? buf : "", len, out);
    free(buf);
    return st;
}

/* ---- access -------------------------------------------------------------- */

int fx_yaml_is_null(const fx_yaml_node *node)
{
    if (!node || node->kind != FX_YAML_SCALAR || !node->plain)
        return 0;
    const char *t = node->text;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 || strcmp(t, "Null") == 0 ||
           strcmp(t, "NULL") == 0;
}

const fx_yaml_pair *fx_yaml_find(const fx_yaml_node *map, const char *key)
{
    if (!map || map->kind != FX_YAML_MAPPING)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return &map->pairs[i];
    return NULL;
}

const fx_yaml_node *fx_yaml_get(const fx_yaml_node *map, const char *key)
{
    const fx_yaml_pair *p = fx_yaml_find(map, key);
    return p ? p->value : NULL;
}

const char *fx_yaml_describe(const fx_yaml_node *node, char *buf, size_t size)
{
    if (!node || fx_yaml_is_null(node))
        snprintf(buf, size, "nothing");
    else if (node->kind == FX_YAML_MAPPING)
        snprintf(buf, size, "a mapping");
    else if (node->kind == FX_YAML_SEQUENCE)
        snprintf(buf, size, "a list");
    else if (node->len + 3 <= size)
        snprintf(buf, size, "'%s'", node->text);
    else if (size > 8)
        snprintf(buf, size, "'%.*s...'", (int)(size - 6), node->text);
    else if (size)
        buf[0] = '\0';
    return buf;
}

fx_status fx_yaml_fail(const fx_yaml_doc *doc, const fx_yaml_node *at, fx_status status, const char *fmt, ...)
{
    char msg[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        return fx_fail(doc->ctx, status, "%s:%d:%d: %s", at->file ? at->file : doc->path, at->line, at->col, msg);
    return fx_fail(doc->ctx, status, "%s: %s", doc->path, msg);
}

static fx_status expect_kind(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what,
                             fx_yaml_kind kind)
{
    if (node && node->kind == kind && !fx_yaml_is_null(node))
        return FX_OK;
    char got[64];
    fx_yaml_describe(node, got, sizeof got);
    if (kind == FX_YAML_MAPPING)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected a mapping (key: value pairs), got %s", what,
                            got);
    if (kind == FX_YAML_SEQUENCE)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected a list ([a, b] or '- item' lines), got %s",
                            what, got);
    return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected a single value, got %s", what, got);
}

fx_status fx_yaml_expect_mapping(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what)
{
    return expect_kind(doc, node, what, FX_YAML_MAPPING);
}

fx_status fx_yaml_expect_sequence(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what)
{
    return expect_kind(doc, node, what, FX_YAML_SEQUENCE);
}

int fx_yaml_edit_distance(const char *a, const char *b, int cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            int v = sub < del ? sub : del;
            cur[j] = v < ins ? v : ins;
            if (cur[j] < row_min)
                row_min = cur[j];
        }
        if (row_min > cap)
            return cap + 1;
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *fx_yaml_closest(const char *word, const char *const *names, int n)
{
    int len = (int)strlen(word);
    int cap = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    int best_d = cap + 1;
    for (int i = 0; i < n; i++) {
        int d = fx_yaml_edit_distance(word, names[i], cap);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

fx_status fx_yaml_check_keys(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *what,
                             const char *const *valid, const char *extension_prefix)
{
    if (!map || map->kind != FX_YAML_MAPPING)
        return FX_OK;
    int n_valid = 0;
    while (valid[n_valid])
        n_valid++;
    for (int i = 0; i < map->n; i++) {
        const fx_yaml_node *key = map->pairs[i].key;
        int ok = 0;
        for (int v = 0; v < n_valid && !ok; v++)
            ok = strcmp(key->text, valid[v]) == 0;
        if (!ok && extension_prefix)
            ok = strncmp(key->text, extension_prefix, strlen(extension_prefix)) == 0;
        if (ok)
            continue;
        char list[1024];
        size_t used = 0;
        list[0] = '\0';
        for (int v = 0; v < n_valid && used < sizeof list; v++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", v ? ", " : "", valid[v]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        const char *close = fx_yaml_closest(key->text, valid, n_valid);
        char hint[128] = "";
        if (close)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", close);
        char shown[80];
        fx_yaml_describe(key, shown, sizeof shown);
        return fx_yaml_fail(doc, key, FX_ERR_INVALID, "unknown key %s in %s%s; valid keys: %s%s%s", shown, what,
                            hint, list, extension_prefix ? ", or any key starting with " : "",
                            extension_prefix ? extension_prefix : "");
    }
    return FX_OK;
}

/* ---- typed readers ------------------------------------------------------- */

static fx_status expect_scalar(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what,
                               const char *expected, const char *example)
{
    if (node && node->kind == FX_YAML_SCALAR && !fx_yaml_is_null(node))
        return FX_OK;
    char got[64];
    fx_yaml_describe(node, got, sizeof got);
    return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected %s, got %s; write e.g. `%s`", what, expected, got,
                        example);
}

static fx_status bad_scalar(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what,
                            const char *expected, const char *example)
{
    char got[64];
    fx_yaml_describe(node, got, sizeof got);
    return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected %s, got %s; write e.g. `%s`", what, expected, got,
                        example);
}

fx_status fx_yaml_read_int(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, int64_t min,
                           int64_t max, int64_t *out)
{
    fx_status st = expect_scalar(doc, node, what, "an integer", "32");
    if (st != FX_OK)
        return st;
    const char *t = node->text;
    const char *p = t;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return bad_scalar(doc, node, what, "an integer", "32");
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return bad_scalar(doc, node, what, "an integer", "32");
    errno = 0;
    long long v = strtoll(t, NULL, 10);
    if (errno == ERANGE || v < min || v > max) {
        char range[96];
        if (max == INT64_MAX)
            snprintf(range, sizeof range, "of at least %lld", (long long)min);
        else
            snprintf(range, sizeof range, "from %lld to %lld", (long long)min, (long long)max);
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: %s is out of range; use a value %s", what, t, range);
    }
    *out = v;
    return FX_OK;
}

fx_status fx_yaml_read_uint64(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, uint64_t *out)
{
    fx_status st = expect_scalar(doc, node, what, "a non-negative integer", "1");
    if (st != FX_OK)
        return st;
    const char *p = node->text;
    if (*p == '+')
        p++;
    if (!*p)
        return bad_scalar(doc, node, what, "a non-negative integer", "1");
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return bad_scalar(doc, node, what, "a non-negative integer", "1");
    errno = 0;
    unsigned long long v = strtoull(p, NULL, 10);
    if (errno == ERANGE)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: %s is out of range; use at most %llu", what,
                            node->text, (unsigned long long)UINT64_MAX);
    *out = v;
    return FX_OK;
}

fx_status fx_yaml_read_float(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, double min,
                             double max, double *out)
{
    fx_status st = expect_scalar(doc, node, what, "a number", "0.001");
    if (st != FX_OK)
        return st;
    const char *t = node->text;
    /* Decimal notation only: strtod would also take "inf", "nan" and hex. */
    int digits = 0;
    for (const char *q = t; *q; q++) {
        if (isdigit((unsigned char)*q))
            digits++;
        else if (!strchr("+-.eE", *q))
            return bad_scalar(doc, node, what, "a number", "0.001");
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(t, &end);
    if (!digits || end == t || *end != '\0')
        return bad_scalar(doc, node, what, "a number", "0.001");
    if ((errno == ERANGE && fabs(v) > 1.0) || !isfinite(v))
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: %s is out of range; use a value from %g to %g", what,
                            t, min, max);
    if (v < min || v > max)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: %s is out of range; use a value from %g to %g", what,
                            t, min, max);
    *out = v;
    return FX_OK;
}

fx_status fx_yaml_read_bool(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, int *out)
{
    fx_status st = expect_scalar(doc, node, what, "true or false", "true");
    if (st != FX_OK)
        return st;
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(node->text, yes[i]) == 0) {
            *out = 1;
            return FX_OK;
        }
        if (strcasecmp(node->text, no[i]) == 0) {
            *out = 0;
            return FX_OK;
        }
    }
    return bad_scalar(doc, node, what, "true or false", "true");
}

fx_status fx_yaml_read_string(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, char *buf,
                              size_t size)
{
    if (node && node->kind == FX_YAML_SCALAR && node->len == 0 && !node->plain)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: the value is empty; write some text", what);
    fx_status st = expect_scalar(doc, node, what, "text", "name");
    if (st != FX_OK)
        return st;
    if (node->len >= size)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: the value is %zu characters long; at most %zu fit", what,
                            node->len, size - 1);
    memcpy(buf, node->text, node->len + 1);
    return FX_OK;
}

fx_status fx_yaml_read_enum(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what,
                            const char *const *names, int *out)
{
    int n = 0;
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (; names[n]; n++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", n ? ", " : "", names[n]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    if (!node || node->kind != FX_YAML_SCALAR || fx_yaml_is_null(node)) {
        char got[64];
        fx_yaml_describe(node, got, sizeof got);
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected one of %s, got %s", what, list, got);
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(node->text, names[i]) == 0) {
            *out = i;
            return FX_OK;
        }
    }
    const char *close = fx_yaml_closest(node->text, names, n);
    char got[64];
    fx_yaml_describe(node, got, sizeof got);
    if (close)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected one of %s, got %s (did you mean '%s'?)", what,
                            list, got, close);
    return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: expected one of %s, got %s", what, list, got);
}
