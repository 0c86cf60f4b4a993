/* core/io/json.h - a strict, bounded JSON (RFC 8259) parser for file headers
 * that may come from anyone (the safetensors header). Not a general JSON
 * library: it parses one text held in memory into a tree of values stored
 * in two arrays the parser owns, and refuses anything outside the grammar
 * (comments, trailing commas, NaN, leading zeros, unescaped control
 * characters, invalid UTF-8 escapes, duplicate object keys) with the byte
 * offset of the problem. Nesting is capped (FX_JSON_MAX_DEPTH), so a
 * hostile "[[[[..." cannot exhaust the stack; node and string storage is
 * bounded by the text's length. */
#ifndef FX_CORE_JSON_H
#define FX_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "fx/fx.h"

#define FX_JSON_MAX_DEPTH 32

typedef enum fx_json_kind {
    FX_JSON_NULL = 0,
    FX_JSON_FALSE,
    FX_JSON_TRUE,
    FX_JSON_NUMBER,
    FX_JSON_STRING,
    FX_JSON_ARRAY,
    FX_JSON_OBJECT
} fx_json_kind;

/* One value. Children of an array or object are linked by index: `first`
 * is the first child, each child's `next` the following one (-1 ends). An
 * object's children carry their key in `key`. */
typedef struct fx_json_value {
    fx_json_kind kind;
    size_t offset;     /* byte offset of the value in the text */
    const char *str;   /* STRING: decoded UTF-8, NUL-terminated; NUMBER: its text */
    size_t len;        /* bytes of str (a decoded string may hold NUL bytes) */
    const char *key;   /* member of an object: its key (decoded, NUL-terminated) */
    size_t key_len;
    int n;             /* ARRAY/OBJECT: number of children */
    int first, next;
} fx_json_value;

typedef struct fx_json_doc {
    fx_json_value *values; /* values[0] is the root */
    int n_values;
    char *strings;         /* decoded strings and number texts */
} fx_json_doc;

/* Parses text[0, len) (no NUL needed) as exactly one JSON value, with
 * optional white space around it. `what` names the text in messages
 * ("'model.safetensors': header"). On error records FX_ERR_PARSE with the
 * byte offset and returns it; *doc is then empty. */
fx_status fx_json_parse(fx_context *ctx, const char *what, const char *text, size_t len, fx_json_doc *doc);
void fx_json_free(fx_json_doc *doc);

/* The child of object `obj` named `key`, or NULL. */
const fx_json_value *fx_json_member(const fx_json_doc *doc, const fx_json_value *obj, const char *key);
/* A NUMBER that is a non-negative integer without fraction or exponent
 * and fits in uint64: 1 and *out; else 0. */
int fx_json_uint64(const fx_json_value *v, uint64_t *out);

#endif
