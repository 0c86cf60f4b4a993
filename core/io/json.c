/* core/io/json.c - the strict, bounded JSON parser of core/io/json.h.
 *
 * Recursive descent over RFC 8259's grammar with a depth cap. Storage is
 * bounded by the input: every value takes at least one byte of text, so
 * there are at most len values; a decoded string (with its NUL) is never
 * longer than its quoted source, so one buffer of len + 1 bytes holds all
 * strings and number texts. Duplicate keys are found by sorting each
 * object's keys (n log n, so a hostile object with a million keys does not
 * take a quadratic time). */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/io/json.h"

typedef struct json_parser {
    fx_context *ctx;
    const char *what;
    const unsigned char *s;
    size_t pos, len;
    fx_json_doc *doc;
    int cap_values;
    size_t strings_used;
    fx_status st;
} json_parser;

static fx_status json_error(json_parser *p, const char *msg)
{
    if (p->st == FX_OK)
        p->st = fx_fail(p->ctx, FX_ERR_PARSE, "%s: invalid JSON at byte %zu: %s", p->what, p->pos, msg);
    return p->st;
}

static void skip_ws(json_parser *p)
{
    while (p->pos < p->len &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int new_value(json_parser *p, fx_json_kind kind)
{
    fx_json_doc *d = p->doc;
    if (d->n_values == p->cap_values) {
        int cap = p->cap_values ? p->cap_values * 2 : 64;
        fx_json_value *v = realloc(d->values, (size_t)cap * sizeof *v);
        if (!v) {
            p->st = fx_fail(p->ctx, FX_ERR_NOMEM, "%s: out of memory parsing JSON (%d values)", p->what,
                            d->n_values);
            return -1;
        }
        d->values = v;
        p->cap_values = cap;
    }
    fx_json_value *v = &d->values[d->n_values];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->offset = p->pos;
    v->first = v->next = -1;
    return d->n_values++;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(json_parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p->s[p->pos + (size_t)i]);
        if (h < 0)
            return 0;
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0, n), or 0 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at p->pos (the opening quote); stores the decoded bytes
 * in the string buffer. */
static int parse_string(json_parser *p, const char **out, size_t *out_len)
{
    p->pos++; /* the quote */
    char *dst = p->doc->strings + p->strings_used;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            json_error(p, "unterminated string");
            return 0;
        }
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            json_error(p, "control character inside a string (escape it)");
            return 0;
        }
        if (c != '\\') {
            size_t k = utf8_sequence(p->s + p->pos, p->len - p->pos);
            if (k == 0) {
                json_error(p, "invalid UTF-8 inside a string");
                return 0;
            }
            memcpy(dst + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len) {
            json_error(p, "unterminated escape");
            return 0;
        }
        char e = (char)p->s[p->pos++];
        switch (e) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(p, &cp)) {
                json_error(p, "\\u needs four hex digits");
                return 0;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                json_error(p, "lone low surrogate in \\u escape");
                return 0;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    json_error(p, "high surrogate not followed by a \\u low surrogate");
                    return 0;
                }
                p->pos += 2;
                if (!read_hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    json_error(p, "high surrogate not followed by a low surrogate");
                    return 0;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(dst + n, cp);
            break;
        }
        default:
            p->pos--;
            json_error(p, "unknown escape");
            return 0;
        }
    }
    dst[n] = '\0';
    p->strings_used += n + 1;
    *out = dst;
    *out_len = n;
    return 1;
}

/* number = [-] int [frac] [exp]; int = 0 | [1-9][0-9]* */
static int parse_number(json_parser *p, int idx)
{
    size_t start = p->pos;
    const unsigned char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
        return json_error(p, "expected a digit"), 0;
    if (s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            return json_error(p, "leading zero in a number"), 0;
    } else {
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return json_error(p, "expected a digit after '.'"), 0;
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return json_error(p, "expected a digit in the exponent"), 0;
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    }
    size_t n = p->pos - start;
    char *dst = p->doc->strings + p->strings_used;
    memcpy(dst, s + start, n);
    dst[n] = '\0';
    p->strings_used += n + 1;
    p->doc->values[idx].str = dst;
    p->doc->values[idx].len = n;
    return 1;
}

static int match_literal(json_parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        return 1;
    }
    return 0;
}

typedef struct key_ref {
    const char *key;
    size_t len;
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int check_duplicate_keys(json_parser *p, int obj)
{
    const fx_json_value *o = &p->doc->values[obj];
    if (o->n < 2)
        return 1;
    key_ref *keys = malloc((size_t)o->n * sizeof *keys);
    if (!keys) {
        p->st = fx_fail(p->ctx, FX_ERR_NOMEM, "%s: out of memory checking JSON keys", p->what);
        return 0;
    }
    int k = 0;
    for (int c = o->first; c >= 0; c = p->doc->values[c].next)
        keys[k++] = (key_ref){ p->doc->values[c].key, p->doc->values[c].key_len };
    qsort(keys, (size_t)k, sizeof *keys, key_ref_cmp);
    int ok = 1;
    for (int i = 1; i < k && ok; i++)
        if (key_ref_cmp(&keys[i - 1], &keys[i]) == 0) {
            p->pos = o->offset;
            if (p->st == FX_OK)
                p->st = fx_fail(p->ctx, FX_ERR_PARSE, "%s: invalid JSON: the object at byte %zu has the key "
                                "'%.64s' twice", p->what, o->offset, keys[i].key);
            ok = 0;
        }
    free(keys);
    return ok;
}

static int parse_value(json_parser *p, int depth);

/* Parses the elements of an array or members of an object at p->pos (the
 * opening bracket). */
static int parse_container(json_parser *p, int idx, int depth, int is_object)
{
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 1;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        if (is_object) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return json_error(p, "expected a quoted key"), 0;
            if (!parse_string(p, &key, &key_len))
                return 0;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return json_error(p, "expected ':' after a key"), 0;
            p->pos++;
        }
        skip_ws(p);
        int child = p->doc->n_values;
        if (!parse_value(p, depth + 1))
            return 0;
        fx_json_value *c = &p->doc->values[child];
        c->key = key;
        c->key_len = key_len;
        if (last < 0)
            p->doc->values[idx].first = child;
        else
            p->doc->values[last].next = child;
        last = child;
        p->doc->values[idx].n++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == close)
                return json_error(p, "trailing comma"), 0;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return json_error(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'"), 0;
    }
    return is_object ? check_duplicate_keys(p, idx) : 1;
}

static int parse_value(json_parser *p, int depth)
{
    if (depth > FX_JSON_MAX_DEPTH)
        return json_error(p, "nested deeper than 32 levels"), 0;
    skip_ws(p);
    if (p->pos >= p->len)
        return json_error(p, "expected a value, found the end"), 0;
    unsigned char c = p->s[p->pos];
    int idx;
    switch (c) {
    case '{':
    case '[':
        idx = new_value(p, c == '{' ? FX_JSON_OBJECT : FX_JSON_ARRAY);
        return idx >= 0 && parse_container(p, idx, depth, c == '{');
    case '"': {
        idx = new_value(p, FX_JSON_STRING);
        if (idx < 0)
            return 0;
        const char *s;
        size_t n;
        if (!parse_string(p, &s, &n))
            return 0;
        p->doc->values[idx].str = s;
        p->doc->values[idx].len = n;
        return 1;
    }
    case 't':
    case 'f':
    case 'n':
        idx = new_value(p, c == 't' ? FX_JSON_TRUE : c == 'f' ? FX_JSON_FALSE : FX_JSON_NULL);
        if (idx < 0)
            return 0;
        if (!match_literal(p, c == 't' ? "true" : c == 'f' ? "false" : "null"))
            return json_error(p, "unknown literal"), 0;
        return 1;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            idx = new_value(p, FX_JSON_NUMBER);
            return idx >= 0 && parse_number(p, idx);
        }
        return json_error(p, "unexpected character"), 0;
    }
}

fx_status fx_json_parse(fx_context *ctx, const char *what, const char *text, size_t len, fx_json_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    doc->strings = fx_malloc(ctx, len + 1, "JSON strings");
    if (!doc->strings)
        return FX_ERR_NOMEM;
    json_parser p = { ctx, what, (const unsigned char *)text, 0, len, doc, 0, 0, FX_OK };
    if (parse_value(&p, 0)) {
        skip_ws(&p);
        if (p.pos != p.len)
            json_error(&p, "text after the value");
    }
    if (p.st != FX_OK) {
        fx_json_free(doc);
        return p.st;
    }
    return FX_OK;
}

void fx_json_free(fx_json_doc *doc)
{
    free(doc->values);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

const fx_json_value *fx_json_member(const fx_json_doc *doc, const fx_json_value *obj, const char *key)
{
    if (!obj || obj->kind != FX_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (int c = obj->first; c >= 0; c = doc->values[c].next)
        if (doc->values[c].key_len == n && memcmp(doc->values[c].key, key, n) == 0)
            return &doc->values[c];
    return NULL;
}

int fx_json_uint64(const fx_json_value *v, uint64_t *out)
{
    if (!v || v->kind != FX_JSON_NUMBER || v->len == 0 || v->len > 20)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->str[i];
        if (c < '0' || c > '9')
            return 0;
        unsigned d = (unsigned)(c - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *out = x;
    return 1;
}
