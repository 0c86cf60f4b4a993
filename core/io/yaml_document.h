/* core/io/yaml_document.h - a YAML file as a small in-memory tree, and typed
 * readers over it that produce fx error messages.
 *
 * The tree is built from libyaml's event stream (core/io/yaml_document.c).
 * Every node keeps its 1-based line:col. Aliases are resolved to the
 * anchored node itself (the tree is a DAG: never modify a node, and never
 * free one: everything lives in the document's arena and goes with
 * fx_yaml_doc_free). Merge keys (`<<: *anchor`, `<<: [*a, *b]`) are applied
 * while building: the merged pairs take the place of the `<<` key, and keys
 * written in the mapping itself win over merged ones. Duplicate keys are
 * errors.
 *
 * The typed readers take `what`, the dotted path of the value in the file
 * ("train.lr"), and fail with "file:line:col: what: expected ..., got ...;
 * <what to do>". */
#ifndef FX_CORE_YAML_DOCUMENT_H
#define FX_CORE_YAML_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>
#include "fx/fx.h"

typedef enum fx_yaml_kind { FX_YAML_SCALAR = 0, FX_YAML_SEQUENCE, FX_YAML_MAPPING } fx_yaml_kind;

typedef struct fx_yaml_node fx_yaml_node;

typedef struct fx_yaml_pair {
    const fx_yaml_node *key;   /* always a scalar */
    const fx_yaml_node *value;
} fx_yaml_pair;

struct fx_yaml_node {
    fx_yaml_kind kind;
    int line, col;             /* 1-based, where the node starts */
    const char *file;          /* the file it was read from (graphs may include block files) */
    const char *text;          /* scalar: NUL-terminated (no NUL inside) */
    size_t len;                /* scalar: strlen(text) */
    int plain;                 /* scalar: written without quotes or tag */
    int n;                     /* sequence: items; mapping: pairs */
    const fx_yaml_node *const *items;
    const fx_yaml_pair *pairs;
};

typedef struct fx_yaml_doc {
    fx_context *ctx;
    char *path;                /* file name used in messages (owned) */
    const fx_yaml_node *root;  /* NULL only while building */
    struct fx_yaml_chunk *chunks; /* arena */
    size_t n_nodes;            /* nodes built so far (a cap against huge files) */
} fx_yaml_doc;

/* Parses one YAML document. Errors (FX_ERR_IO for an unreadable file,
 * FX_ERR_PARSE for malformed YAML, an empty file or several documents) name
 * path:line:col. On failure *out is NULL. Free with fx_yaml_doc_free. */
fx_status fx_yaml_parse_file(fx_context *ctx, const char *path, fx_yaml_doc **out);
/* Same, from memory; `name` is the file name used in messages. */
fx_status fx_yaml_parse_string(fx_context *ctx, const char *name, const char *text, size_t len,
                               fx_yaml_doc **out);
void fx_yaml_doc_free(fx_yaml_doc *doc);

/* Arena allocation (zeroed) that lives as long as the document. Records
 * FX_ERR_NOMEM on failure. */
void *fx_yaml_alloc(fx_yaml_doc *doc, size_t size);
/* A new scalar node with a copy of `text` at line:col (for substitution). */
fx_yaml_node *fx_yaml_new_scalar(fx_yaml_doc *doc, const char *text, size_t len, int line, int col);

/* Plain "", "~", "null", "Null" or "NULL": a key written without a value. */
int fx_yaml_is_null(const fx_yaml_node *node);
/* The value of `key` in a mapping, or NULL (also when node is no mapping). */
const fx_yaml_node *fx_yaml_get(const fx_yaml_node *map, const char *key);
/* The pair of `key`, or NULL. */
const fx_yaml_pair *fx_yaml_find(const fx_yaml_node *map, const char *key);
/* "a mapping", "a list", "nothing", or "'text'" (shortened) into buf. */
const char *fx_yaml_describe(const fx_yaml_node *node, char *buf, size_t size);

/* Records "path:line:col: <message>" (position of `at`; the file alone
 * when at is NULL) and returns status. */
fx_status fx_yaml_fail(const fx_yaml_doc *doc, const fx_yaml_node *at, fx_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Shape checks: fail with "what: expected a mapping, got a list; ...". */
fx_status fx_yaml_expect_mapping(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what);
fx_status fx_yaml_expect_sequence(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what);

/* Every key of `map` must be in the NULL-terminated `valid` list (or, when
 * `extension_prefix` is given, start with it). The error names the key,
 * its position, the closest valid key and all valid keys. */
fx_status fx_yaml_check_keys(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *what,
                             const char *const *valid, const char *extension_prefix);

/* Typed scalar readers. Ranges are inclusive. */
fx_status fx_yaml_read_int(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, int64_t min,
                           int64_t max, int64_t *out);
fx_status fx_yaml_read_uint64(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, uint64_t *out);
fx_status fx_yaml_read_float(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, double min,
                             double max, double *out);
fx_status fx_yaml_read_bool(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, int *out);
/* A non-empty scalar of at most size-1 bytes, copied into buf. */
fx_status fx_yaml_read_string(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, char *buf,
                              size_t size);
/* One of the NULL-terminated `names`; *out is its index. */
fx_status fx_yaml_read_enum(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what,
                            const char *const *names, int *out);

/* A string-keyed hash table (keys copied, values borrowed), used for
 * anchors here and for value names in the graph loader. */
typedef struct fx_name_table {
    char **keys;
    void **values;
    size_t cap, n;
} fx_name_table;
/* Inserts or replaces; returns 0 when out of memory. */
int fx_name_table_put(fx_name_table *t, const char *key, void *value);
/* The value, or NULL when absent. */
void *fx_name_table_get(const fx_name_table *t, const char *key);
void fx_name_table_free(fx_name_table *t);

/* Edit distance, for "did you mean" hints (capped: returns > cap early). */
int fx_yaml_edit_distance(const char *a, const char *b, int cap);
/* The entry of `names` (n of them) closest to `word` when it is close
 * enough to be a likely typo, else NULL. */
const char *fx_yaml_closest(const char *word, const char *const *names, int n);

#endif
