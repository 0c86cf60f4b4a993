/* core/train/checkpoint.c - checkpoint files: every graph parameter (learnable
 * or not) and, when given, the optimiser's state and step count, with the
 * training progress counters. The byte layout is specified in
 * docs/checkpoint-format.md; this file is its only writer and reader.
 *
 * Two promises, in the spirit of SQLite: a failed save never damages the
 * previous checkpoint (write "<path>.tmp.<pid>", fsync it, rename it over
 * the old file, fsync the folder; on any error the temporary file is
 * removed), and a failed load never changes the graph (the whole file is
 * read and its size, version and CRC-32 are verified, then every name and
 * shape is matched against the graph, and only then is anything uploaded). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fx/fx.h"
#include "core/train/optimizer.h"

#define CKPT_MAGIC "FXCKPT\0\1"
#define CKPT_MAGIC_LEN 8
#define CKPT_VERSION 1u
/* magic, u32 version, u32 header size, u64 file size: the part every
 * version keeps, so a reader can always tell "newer" from "damaged". */
#define CKPT_PREFIX_LEN 24u
#define CKPT_TRAILER_LEN 12u /* u64 payload length, u32 CRC-32 */
#define CKPT_MAX_MISMATCHES 8

/* ---- little-endian encoding --------------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Tensor data is stored as little-endian 4-byte elements (F32 and I32).
 * Converts in place between that order and the host's (on a big-endian
 * host the swap is its own inverse; on a little-endian host a no-op). */
static void swap_le_host(void *data, size_t bytes)
{
    if (fx_host_is_little_endian())
        return;
    unsigned char *p = data;
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        unsigned char a = p[i], b = p[i + 1];
        p[i] = p[i + 3];
        p[i + 1] = p[i + 2];
        p[i + 2] = b;
        p[i + 3] = a;
    }
}

/* zlib's crc32 takes a uInt length: feed large buffers in pieces. */
static uLong crc_update(uLong crc, const void *data, size_t bytes)
{
    const Bytef *p = data;
    while (bytes > 0) {
        uInt n = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
        crc = crc32(crc, p, n);
        p += n;
        bytes -= n;
    }
    return crc;
}

/* ---- the list of tensors a checkpoint of (graph, optimiser) holds -------- */

typedef struct ckpt_entry {
    const char *name;
    fx_tensor *tensor;
} ckpt_entry;

/* Fills *entries (malloc'd) with every graph parameter, then every
 * optimiser state tensor; *n_states counts the latter. */
static fx_status ckpt_collect(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                              ckpt_entry **entries, int *n_entries, int *n_states)
{
    int n_params = fx_graph_param_count(g);
    int n_opt = opt ? fx_optimizer_state_count(opt) : 0;
    *entries = NULL;
    *n_entries = n_params + n_opt;
    *n_states = n_opt;
    ckpt_entry *e = fx_calloc(ctx, (size_t)(n_params + n_opt) + 1, sizeof *e, "checkpoint tensor list");
    if (!e)
        return FX_ERR_NOMEM;
    int used = 0;
    for (int i = 0; i < n_params; i++) {
        fx_param p = fx_graph_param_at(g, i);
        if (p.absent)
            continue; /* `bias: false`: nothing to store */
        if (!p.value || !p.value->buffer) {
            free(e);
            return fx_fail(ctx, FX_ERR_INVALID,
                           "checkpoint '%s': parameter '%s' of graph '%s' is not allocated: plan the graph "
                           "(fx_graph_plan) before saving or loading a checkpoint",
                           path, p.name, fx_graph_name(g));
        }
        e[used].name = p.name;
        e[used].tensor = p.value;
        used++;
    }
    n_params = used;
    *n_entries = n_params + n_opt;
    for (int i = 0; i < n_opt; i++) {
        e[n_params + i].tensor = fx_optimizer_state_at(opt, i, &e[n_params + i].name);
        if (!e[n_params + i].tensor) {
            free(e);
            return fx_fail(ctx, FX_ERR_INTERNAL, "optimiser state %d of %d is missing", i, n_opt);
        }
    }
    *entries = e;
    return FX_OK;
}

static const char *ckpt_graph_name(const fx_graph *g, const fx_checkpoint_meta *meta)
{
    return meta && meta->graph_name[0] ? meta->graph_name : fx_graph_name(g);
}

/* ---- saving ---------------------------------------------------------- */

typedef struct ckpt_writer {
    fx_context *ctx; /* for FX_FAULT write injection */
    FILE *f;
    uLong crc;
    uint64_t written;
    int err; /* errno of the first failed write, 0 if none */
} ckpt_writer;

static void writer_put(ckpt_writer *w, const void *data, size_t bytes)
{
    if (w->err || bytes == 0)
        return;
    if (fx_fault_hit(w->ctx, FX_FAULT_WRITE)) {
        w->err = ENOSPC; /* as a full disk would */
        return;
    }
    if (fwrite(data, 1, bytes, w->f) != bytes) {
        w->err = errno ? errno : EIO;
        return;
    }
    w->crc = crc_update(w->crc, data, bytes);
    w->written += bytes;
}

static void writer_put_le(ckpt_writer *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    put_le(b, v, bytes);
    writer_put(w, b, (size_t)bytes);
}

static void writer_put_string(ckpt_writer *w, const char *s)
{
    size_t n = strlen(s);
    writer_put_le(w, n, 2);
    writer_put(w, s, n);
}

static uint64_t ckpt_header_size(const char *opt_name, const char *graph_name)
{
    /* prefix, epoch, step, seed, optimiser steps, u32 optimiser state
     * count, two u16-prefixed strings, then the batch (added later: a
     * reader finds it only when the header size leaves room for it) */
    return CKPT_PREFIX_LEN + 4 * 8 + 4 + 2 + strlen(opt_name) + 2 + strlen(graph_name) + 8;
}

static uint64_t ckpt_entry_size(const ckpt_entry *e)
{
    return 2 + strlen(e->name) + 1 + 1 + 8 * (uint64_t)e->tensor->shape.ndim + 8 + fx_tensor_bytes(e->tensor);
}

/* Flushes the writer's file to disk (fflush + fsync) and closes it; records
 * the first error in w->err. */
static void writer_close(ckpt_writer *w)
{
    if (!w->err && fflush(w->f) != 0)
        w->err = errno ? errno : EIO;
    if (!w->err && fsync(fileno(w->f)) != 0)
        w->err = errno ? errno : EIO;
    if (fclose(w->f) != 0 && !w->err)
        w->err = errno ? errno : EIO;
    w->f = NULL;
}

/* Makes the rename durable: fsync the folder holding `path`. Filesystems
 * that cannot sync a folder (EINVAL) have nothing to make durable. */
fx_status fx_checkpoint_save(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                             const fx_checkpoint_meta *meta)
{
    if (!ctx)
        return FX_ERR_INVALID;
    if (!path || !path[0] || !g)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_checkpoint_save: a path and a graph are required");
    if (strlen(path) >= FX_PATH_MAX)
        return fx_fail(ctx, FX_ERR_INVALID, "checkpoint path '%.64s...' is longer than %d bytes", path,
                       FX_PATH_MAX - 1);
    if (opt && fx_optimizer_graph(opt) != g)
        return fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s': the optimiser belongs to another graph than '%s'",
                       path, fx_graph_name(g));

    ckpt_entry *entries;
    int n_entries, n_states;
    fx_status st = ckpt_collect(ctx, path, g, opt, &entries, &n_entries, &n_states);
    if (st != FX_OK)
        return st;

    const char *opt_name = opt ? fx_optimizer_kind_name(opt) : "";
    const char *graph_name = ckpt_graph_name(g, meta);
    if (strlen(graph_name) > 0xffff) {
        free(entries);
        return fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s': graph name '%.64s...' is too long", path, graph_name);
    }
    uint64_t header_size = ckpt_header_size(opt_name, graph_name);
    uint64_t file_size = header_size + 4;
    size_t max_bytes = 4;
    for (int i = 0; i < n_entries; i++) {
        if (strlen(entries[i].name) > 0xffff) {
            free(entries);
            return fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s': name '%.64s...' is too long", path,
                           entries[i].name);
        }
        file_size += ckpt_entry_size(&entries[i]);
        if (fx_tensor_bytes(entries[i].tensor) > max_bytes)
            max_bytes = fx_tensor_bytes(entries[i].tensor);
    }
    file_size += CKPT_TRAILER_LEN;

    void *scratch = fx_malloc(ctx, max_bytes, "checkpoint tensor buffer");
    if (!scratch) {
        free(entries);
        return FX_ERR_NOMEM;
    }
    char tmp[FX_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(scratch);
        free(entries);
        return fx_fail(ctx, FX_ERR_IO,
                       "checkpoint '%s': cannot create '%s': %s (does the folder exist and is it writable?)",
                       path, tmp, strerror(err));
    }

    ckpt_writer w = { ctx, f, crc32(0L, Z_NULL, 0), 0, 0 };
    writer_put(&w, CKPT_MAGIC, CKPT_MAGIC_LEN);
    writer_put_le(&w, CKPT_VERSION, 4);
    writer_put_le(&w, header_size, 4);
    writer_put_le(&w, file_size, 8);
    writer_put_le(&w, (uint64_t)(meta ? meta->epoch : 0), 8);
    writer_put_le(&w, (uint64_t)(meta ? meta->step : 0), 8);
    writer_put_le(&w, meta ? meta->seed : 0, 8);
    writer_put_le(&w, (uint64_t)(opt ? fx_optimizer_steps(opt) : -1), 8);
    writer_put_le(&w, (uint64_t)n_states, 4);
    writer_put_string(&w, opt_name);
    writer_put_string(&w, graph_name);
    writer_put_le(&w, (uint64_t)(meta ? meta->batch : 0), 8);
    writer_put_le(&w, (uint64_t)n_entries, 4);
    for (int i = 0; i < n_entries && !w.err && st == FX_OK; i++) {
        const fx_tensor *t = entries[i].tensor;
        writer_put_string(&w, entries[i].name);
        writer_put_le(&w, (uint64_t)t->dtype, 1);
        writer_put_le(&w, (uint64_t)t->shape.ndim, 1);
        for (int d = 0; d < t->shape.ndim; d++)
            writer_put_le(&w, (uint64_t)t->shape.dim[d], 8);
        size_t bytes = fx_tensor_bytes(t);
        writer_put_le(&w, bytes, 8);
        st = fx_tensor_download(t, scratch);
        if (st != FX_OK) {
            fx_fail_prefix(ctx, st, "checkpoint '%s': reading tensor '%s'", path, entries[i].name);
            break;
        }
        swap_le_host(scratch, bytes);
        writer_put(&w, scratch, bytes);
    }
    if (st == FX_OK && !w.err && w.written + CKPT_TRAILER_LEN != file_size)
        st = fx_fail(ctx, FX_ERR_INTERNAL, "checkpoint '%s': wrote %" PRIu64 " bytes, planned %" PRIu64, path,
                     w.written + CKPT_TRAILER_LEN, file_size);
    /* Trailer: payload length, then the CRC of everything before the CRC. */
    writer_put_le(&w, w.written, 8);
    unsigned char crc_bytes[4];
    put_le(crc_bytes, (uint64_t)w.crc, 4);
    if (!w.err && fwrite(crc_bytes, 1, 4, f) != 4)
        w.err = errno ? errno : EIO;
    writer_close(&w);
    free(scratch);
    free(entries);

    /* Say "unchanged" only when there is a previous checkpoint. */
    const char *kept = access(path, F_OK) == 0 ? "; the previous checkpoint is unchanged" : "; no checkpoint was written";
    if (st == FX_OK && w.err)
        st = fx_fail(ctx, FX_ERR_IO, "checkpoint '%s': writing '%s' failed: %s%s", path, tmp, strerror(w.err), kept);
    if (st == FX_OK && rename(tmp, path) != 0)
        st = fx_fail(ctx, FX_ERR_IO, "checkpoint '%s': cannot rename '%s' over it: %s%s", path, tmp,
                     strerror(errno), kept);
    if (st != FX_OK) {
        unlink(tmp);
        return st;
    }
    int err = fx_sync_parent_dir(path);
    if (err)
        return fx_fail(ctx, FX_ERR_IO, "checkpoint '%s' was written but its folder could not be synced (%s): "
                       "a power loss now could lose it", path, strerror(err));
    return FX_OK;
}

/* ---- loading --------------------------------------------------------- */

/* A tensor as stored in the file (pointing into the file's bytes). */
typedef struct ckpt_record {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    int dtype;
    fx_shape shape;
    const unsigned char *data;
    uint64_t bytes;
    int matched;
} ckpt_record;

typedef struct ckpt_reader {
    const unsigned char *p;
    size_t pos, end;
    int bad; /* ran past end */
} ckpt_reader;

static uint64_t reader_le(ckpt_reader *r, int bytes)
{
    if (r->bad || r->end - r->pos < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = get_le(r->p + r->pos, bytes);
    r->pos += (size_t)bytes;
    return v;
}

static const unsigned char *reader_bytes(ckpt_reader *r, uint64_t n)
{
    if (r->bad || (uint64_t)(r->end - r->pos) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p + r->pos;
    r->pos += (size_t)n;
    return q;
}


/* Verifies magic, version, size and CRC: everything that needs no graph. */
static fx_status ckpt_verify(fx_context *ctx, const char *path, const unsigned char *buf, size_t size)
{
    size_t cmp = size < CKPT_MAGIC_LEN ? size : CKPT_MAGIC_LEN;
    if (memcmp(buf, CKPT_MAGIC, cmp) != 0)
        return fx_fail(ctx, FX_ERR_PARSE, "'%s' is not an fx checkpoint (its first bytes are not \"FXCKPT\")",
                       path);
    if (size < CKPT_PREFIX_LEN)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': truncated: expected at least %u bytes, file has %zu",
                       path, CKPT_PREFIX_LEN, size);
    uint32_t version = (uint32_t)get_le(buf + 8, 4);
    if (version > CKPT_VERSION)
        return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                       "checkpoint '%s': checkpoint format %" PRIu32 " is newer than this fx supports (%u); upgrade fx",
                       path, version, CKPT_VERSION);
    if (version == 0)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': format version 0 is invalid (damaged file)", path);
    uint64_t expected = get_le(buf + 16, 8);
    if ((uint64_t)size < expected)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': truncated: expected %" PRIu64 " bytes, file has %zu",
                       path, expected, size);
    if ((uint64_t)size > expected)
        return fx_fail(ctx, FX_ERR_CORRUPT,
                       "checkpoint '%s': size mismatch: expected %" PRIu64 " bytes, file has %zu (damaged file)",
                       path, expected, size);
    if (size < CKPT_PREFIX_LEN + CKPT_TRAILER_LEN)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': %zu bytes is too small to hold a trailer", path, size);
    uint64_t payload = get_le(buf + size - CKPT_TRAILER_LEN, 8);
    uint32_t stored = (uint32_t)get_le(buf + size - 4, 4);
    uint32_t computed = (uint32_t)crc_update(crc32(0L, Z_NULL, 0), buf, size - 4);
    if (stored != computed)
        return fx_fail(ctx, FX_ERR_CORRUPT,
                       "checkpoint '%s': checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32
                       "): the file is damaged; use an older checkpoint", path, stored, computed);
    if (payload != size - CKPT_TRAILER_LEN)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': trailer says %" PRIu64 " payload bytes, file holds %zu",
                       path, payload, size - CKPT_TRAILER_LEN);
    return FX_OK;
}

typedef struct ckpt_contents {
    int64_t epoch, step, opt_steps, batch;
    uint64_t seed;
    uint32_t n_states;
    const char *opt_name, *graph_name;
    size_t opt_name_len, graph_name_len;
    uint32_t n_records;
    ckpt_record *records; /* malloc'd */
} ckpt_contents;

/* Parses a verified file. Structural errors here mean a buggy writer (the
 * CRC matched), still reported as FX_ERR_CORRUPT. */
static fx_status ckpt_parse(fx_context *ctx, const char *path, const unsigned char *buf, size_t size,
                            ckpt_contents *c)
{
    memset(c, 0, sizeof *c);
    ckpt_reader r = { buf, CKPT_PREFIX_LEN, size - CKPT_TRAILER_LEN, 0 };
    uint64_t header_size = get_le(buf + 12, 4);
    c->epoch = (int64_t)reader_le(&r, 8);
    c->step = (int64_t)reader_le(&r, 8);
    c->seed = reader_le(&r, 8);
    c->opt_steps = (int64_t)reader_le(&r, 8);
    c->n_states = (uint32_t)reader_le(&r, 4);
    c->opt_name_len = (size_t)reader_le(&r, 2);
    c->opt_name = (const char *)reader_bytes(&r, c->opt_name_len);
    c->graph_name_len = (size_t)reader_le(&r, 2);
    c->graph_name = (const char *)reader_bytes(&r, c->graph_name_len);
    if (r.bad || header_size < r.pos || header_size > r.end)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': malformed header", path);
    if (header_size >= r.pos + 8)
        c->batch = (int64_t)reader_le(&r, 8);
    /* Counters come from the file (a valid CRC proves nothing about the
     * writer): far below these limits, any real run; beyond them, step
     * arithmetic would overflow. */
    const int64_t limit = (int64_t)1 << 48;
    if (c->epoch < 0 || c->epoch > limit || c->step < 0 || c->step > limit || c->opt_steps < -1 ||
        c->opt_steps > limit || c->batch < 0 || c->batch > limit)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': impossible counters (epoch %lld, step %lld, optimiser "
                       "steps %lld, batch %lld; each must lie in 0..2^48): the file was not written by fx; use "
                       "another checkpoint", path, (long long)c->epoch, (long long)c->step,
                       (long long)c->opt_steps, (long long)c->batch);
    r.pos = (size_t)header_size; /* skip header fields a later minor revision may add */
    c->n_records = (uint32_t)reader_le(&r, 4);
    if (r.bad || c->n_records > (r.end - r.pos) / 12 || c->n_states > c->n_records)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': malformed tensor count", path);
    c->records = fx_calloc(ctx, (size_t)c->n_records + 1, sizeof *c->records, "checkpoint tensor table");
    if (!c->records)
        return FX_ERR_NOMEM;
    for (uint32_t i = 0; i < c->n_records; i++) {
        ckpt_record *rec = &c->records[i];
        rec->name_len = (size_t)reader_le(&r, 2);
        rec->name = (const char *)reader_bytes(&r, rec->name_len);
        rec->dtype = (int)reader_le(&r, 1);
        rec->shape.ndim = (int)reader_le(&r, 1);
        if (r.bad || rec->shape.ndim > FX_MAX_DIMS || (rec->dtype != FX_F32 && rec->dtype != FX_I32))
            return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': malformed tensor %u", path, i);
        uint64_t numel = 1;
        for (int d = 0; d < rec->shape.ndim; d++) {
            uint64_t dim = reader_le(&r, 8);
            if (dim > (uint64_t)INT64_MAX || (dim && numel > UINT64_MAX / 4 / dim))
                return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': tensor %u has an impossible shape", path, i);
            rec->shape.dim[d] = (int64_t)dim;
            numel *= dim;
        }
        rec->bytes = reader_le(&r, 8);
        if (r.bad || rec->bytes != numel * 4)
            return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': tensor '%.*s' has %" PRIu64
                           " data bytes for %" PRIu64 " elements", path, (int)rec->name_len, rec->name ? rec->name : "",
                           rec->bytes, numel);
        rec->data = reader_bytes(&r, rec->bytes);
        if (r.bad)
            return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': tensor '%.*s' runs past the end of the file", path,
                           (int)rec->name_len, rec->name);
    }
    if (r.pos != r.end)
        return fx_fail(ctx, FX_ERR_CORRUPT, "checkpoint '%s': %zu unexplained bytes after the last tensor", path,
                       r.end - r.pos);
    return FX_OK;
}

static int record_is(const ckpt_record *rec, const char *name)
{
    return strlen(name) == rec->name_len && memcmp(rec->name, name, rec->name_len) == 0;
}

/* Appends one mismatch line to the message being built. */
static void mismatch_note(char *msg, size_t size, int *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void mismatch_note(char *msg, size_t size, int *count, const char *fmt, ...)
{
    if (*count < CKPT_MAX_MISMATCHES) {
        size_t used = strlen(msg);
        if (used + 4 < size) {
            snprintf(msg + used, size - used, "; ");
            used += 2;
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg + used, size - used, fmt, ap);
            va_end(ap);
        }
    }
    (*count)++;
}

/* Matches graph tensors [begin, end) of `entries` with records [rbegin,
 * rend); marks records and writes record indices into match[]. */
static void ckpt_match_range(const ckpt_entry *entries, int begin, int end, ckpt_contents *c, uint32_t rbegin,
                             uint32_t rend, int *match, char *msg, size_t msg_size, int *n_bad, int *names_bad)
{
    char a[96], b[96];
    for (int i = begin; i < end; i++) {
        const fx_tensor *t = entries[i].tensor;
        match[i] = -1;
        for (uint32_t k = rbegin; k < rend; k++) {
            if (!c->records[k].matched && record_is(&c->records[k], entries[i].name)) {
                match[i] = (int)k;
                c->records[k].matched = 1;
                break;
            }
        }
        if (match[i] < 0) {
            *names_bad = 1;
            mismatch_note(msg, msg_size, n_bad, "tensor '%s' %s of the graph is missing from the checkpoint",
                          entries[i].name, fx_shape_str(&t->shape, a, sizeof a));
            continue;
        }
        const ckpt_record *rec = &c->records[match[i]];
        if (rec->dtype != (int)t->dtype)
            mismatch_note(msg, msg_size, n_bad, "tensor '%s' is %s %s in the checkpoint but %s %s in the graph",
                          entries[i].name, fx_dtype_name((fx_dtype)rec->dtype),
                          fx_shape_str(&rec->shape, a, sizeof a), fx_dtype_name(t->dtype),
                          fx_shape_str(&t->shape, b, sizeof b));
        else if (!fx_shape_equal(&rec->shape, &t->shape))
            mismatch_note(msg, msg_size, n_bad, "tensor '%s' is %s in the checkpoint but %s in the graph",
                          entries[i].name, fx_shape_str(&rec->shape, a, sizeof a),
                          fx_shape_str(&t->shape, b, sizeof b));
    }
    for (uint32_t k = rbegin; k < rend; k++) {
        if (c->records[k].matched)
            continue;
        *names_bad = 1;
        mismatch_note(msg, msg_size, n_bad, "checkpoint tensor '%.*s' %s is not in the graph",
                      (int)c->records[k].name_len, c->records[k].name,
                      fx_shape_str(&c->records[k].shape, a, sizeof a));
    }
}

fx_status fx_checkpoint_load(fx_context *ctx, const char *path, fx_graph *g, fx_optimizer *opt,
                             fx_checkpoint_meta *meta)
{
    if (!ctx)
        return FX_ERR_INVALID;
    if (!path || !path[0] || !g)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_checkpoint_load: a path and a graph are required");
    if (opt && fx_optimizer_graph(opt) != g)
        return fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s': the optimiser belongs to another graph than '%s'",
                       path, fx_graph_name(g));

    unsigned char *buf;
    size_t size;
    fx_status st = fx_read_whole_file(ctx, "checkpoint", path, &buf, &size);
    if (st != FX_OK)
        return st;
    ckpt_contents c;
    memset(&c, 0, sizeof c);
    ckpt_entry *entries = NULL;
    int *match = NULL;
    void *scratch = NULL;
    int n_entries = 0, n_states = 0;

    st = ckpt_verify(ctx, path, buf, size);
    if (st == FX_OK)
        st = ckpt_parse(ctx, path, buf, size, &c);
    if (st == FX_OK)
        st = ckpt_collect(ctx, path, g, opt, &entries, &n_entries, &n_states);
    if (st == FX_OK && opt) {
        const char *want = fx_optimizer_kind_name(opt);
        if (c.opt_steps < 0)
            st = fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s' holds no optimiser state (it was saved without "
                         "an optimiser): load it without one to initialise the weights, or resume from a "
                         "training checkpoint", path);
        else if (strlen(want) != c.opt_name_len || memcmp(want, c.opt_name, c.opt_name_len) != 0)
            st = fx_fail(ctx, FX_ERR_INVALID, "checkpoint '%s' was written by optimiser '%.*s' but this run uses "
                         "'%s': set train.optimizer to '%.*s' to resume", path, (int)c.opt_name_len, c.opt_name,
                         want, (int)c.opt_name_len, c.opt_name);
    }
    if (st == FX_OK) {
        match = fx_calloc(ctx, (size_t)n_entries + 1, sizeof *match, "checkpoint match table");
        if (!match)
            st = FX_ERR_NOMEM;
    }
    if (st == FX_OK) {
        /* Validate everything before touching the graph. */
        char msg[2048] = "";
        int n_bad = 0, names_bad = 0;
        int n_params = n_entries - n_states;
        uint32_t file_params = c.n_records - c.n_states;
        ckpt_match_range(entries, 0, n_params, &c, 0, file_params, match, msg, sizeof msg, &n_bad, &names_bad);
        if (opt)
            ckpt_match_range(entries, n_params, n_entries, &c, file_params, c.n_records, match, msg, sizeof msg,
                             &n_bad, &names_bad);
        /* A checkpoint of another graph is the usual cause: say so. */
        const char *gname = fx_graph_name(g);
        int other_graph = c.graph_name_len && (strlen(gname) != c.graph_name_len ||
                                               memcmp(gname, c.graph_name, c.graph_name_len) != 0);
        if (n_bad > 0)
            st = fx_fail(ctx, names_bad ? FX_ERR_INVALID : FX_ERR_SHAPE,
                         "checkpoint '%s' does not fit graph '%s'; nothing was loaded%s%s%s%.*s%s", path,
                         gname, msg, n_bad > CKPT_MAX_MISMATCHES ? "; and more mismatches" : "",
                         other_graph ? "; the checkpoint was written by graph '" : "",
                         other_graph ? (int)c.graph_name_len : 0, other_graph ? c.graph_name : "",
                         other_graph ? "': pass the checkpoint of this graph (--checkpoint FILE)" : "");
    }
    size_t max_bytes = 4;
    for (int i = 0; st == FX_OK && i < n_entries; i++)
        if (c.records[match[i]].bytes > max_bytes)
            max_bytes = (size_t)c.records[match[i]].bytes;
    if (st == FX_OK) {
        scratch = fx_malloc(ctx, max_bytes, "checkpoint tensor buffer");
        if (!scratch)
            st = FX_ERR_NOMEM;
    }
    /* Upload through an aligned copy: the file's tensors start at arbitrary
     * byte offsets, and big-endian hosts need the bytes swapped. */
    for (int i = 0; st == FX_OK && i < n_entries; i++) {
        const ckpt_record *rec = &c.records[match[i]];
        memcpy(scratch, rec->data, (size_t)rec->bytes);
        swap_le_host(scratch, (size_t)rec->bytes);
        st = fx_tensor_upload(entries[i].tensor, scratch);
        if (st != FX_OK)
            fx_fail_prefix(ctx, st, "checkpoint '%s': writing tensor '%s' (the graph is now partly loaded)", path,
                           entries[i].name);
    }
    if (st == FX_OK) {
        if (opt)
            fx_optimizer_set_steps(opt, c.opt_steps);
        if (meta) {
            memset(meta, 0, sizeof *meta);
            meta->epoch = c.epoch;
            meta->step = c.step;
            meta->seed = c.seed;
            meta->batch = c.batch;
            size_t n = c.graph_name_len < FX_NAME_MAX - 1 ? c.graph_name_len : FX_NAME_MAX - 1;
            memcpy(meta->graph_name, c.graph_name, n);
            meta->graph_name[n] = '\0';
        }
    }
    free(scratch);
    free(match);
    free(entries);
    free(c.records);
    free(buf);
    return st;
}
