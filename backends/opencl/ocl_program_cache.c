/* backends/opencl/ocl_program_cache.c - OpenCL programs and kernels, built
 * once per backend and cached on disk.
 *
 * In memory: one cl_program per (.cl file, build options) and one cl_kernel
 * per (program, kernel name), created on first use and released with the
 * backend.
 *
 * On disk: <cache_dir>/<key>.clbin where key is a 128-bit hash (two FNV-1a
 * streams) of the device name, driver version, platform version, source
 * text and build options, so a driver update or an edited .cl file misses
 * instead of loading a stale binary. A file is
 *   "FXCLBIN2" | u64 key length | u64 binary length | u64 FNV-1a of key and
 *   binary | key | binary
 * where the key is the full text the hash was made of (device, driver,
 * platform, build options, source): a hash collision, or another entry's
 * file copied under this name, is found by comparing the key, never by a
 * later CL_INVALID_KERNEL_NAME. Files are written to a temporary name and
 * renamed, so readers never see half a file. A short, corrupt, foreign or
 * rejected entry is rebuilt from source and rewritten; a kernel missing
 * from a cached program drops the entry and rebuilds it too (a binary the
 * driver accepted can still be wrong). Disk problems never fail a run (the
 * cache is an optimisation), build errors do (with the build log and the
 * file name).
 *
 * Sources: the .cl files embedded at build time, or <FX_CLKERNELS_DIR>/<file>
 * when that variable is set (kernel development without rebuilding).
 * Plugin programs (ocl_plugin.c) pass their source text to
 * ocl_program_from_text and share the disk cache and the counters. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/ocl_backend.h"

#define CACHE_MAGIC "FXCLBIN2"
#define CACHE_HEADER 32

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s)
{
    h = fnv1a(h, s, strlen(s) + 1); /* the NUL separates fields */
    return h;
}

void ocl_program_cache_init(ocl_backend *b)
{
    b->cache_dir[0] = '\0';
    const char *dir = getenv("FX_KERNEL_CACHE_DIR");
    if (dir && !strcmp(dir, "off"))
        return;
    if (dir && *dir) {
        snprintf(b->cache_dir, sizeof b->cache_dir, "%s", dir);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(b->cache_dir, sizeof b->cache_dir, "%s/fx/kernels", xdg);
    else if (home && *home)
        snprintf(b->cache_dir, sizeof b->cache_dir, "%s/.cache/fx/kernels", home);
}

/* mkdir -p; returns 0 when the directory exists afterwards. */
static int make_dirs(const char *path)
{
    char tmp[OCL_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Source text of `file` (malloc'd copy). */
static fx_status source_get(fx_context *ctx, const char *file, char **text, size_t *length)
{
    const char *dir = getenv("FX_CLKERNELS_DIR");
    if (dir && *dir) {
        char path[OCL_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        FILE *f = fopen(path, "rb");
        if (!f)
            return fx_fail(ctx, FX_ERR_IO, "%s: cannot open OpenCL source (FX_CLKERNELS_DIR is set): %s", path,
                           strerror(errno));
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? fx_malloc(ctx, (size_t)n + 1, path) : NULL;
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            free(buf);
            return n < 0 || buf ? fx_fail(ctx, FX_ERR_IO, "%s: cannot read OpenCL source", path) : FX_ERR_NOMEM;
        }
        fclose(f);
        buf[n] = '\0';
        *text = buf;
        *length = (size_t)n;
        return FX_OK;
    }
    for (int i = 0; i < fx_ocl_embedded_source_count; i++) {
        if (!strcmp(fx_ocl_embedded_sources[i].name, file)) {
            char *buf = fx_malloc(ctx, fx_ocl_embedded_sources[i].length + 1, file);
            if (!buf)
                return FX_ERR_NOMEM;
            memcpy(buf, fx_ocl_embedded_sources[i].text, fx_ocl_embedded_sources[i].length + 1);
            *text = buf;
            *length = fx_ocl_embedded_sources[i].length;
            return FX_OK;
        }
    }
    return fx_fail(ctx, FX_ERR_INTERNAL, "OpenCL source clkernels/%s is not embedded in this build", file);
}

/* The cache file stem from a program's message name: its last path
 * component without the extension, with anything but [A-Za-z0-9_-]
 * replaced ("clkernels/conv.cl" -> "conv", "plugin program prelu.cl" ->
 * "plugin_program_prelu"), so names read well in a listing and can never
 * leave the cache directory. The hash alone identifies the entry. */
static void cache_stem(const char *name, char *out, size_t size)
{
    const char *slash = strrchr(name, '/');
    snprintf(out, size, "%s", slash ? slash + 1 : name);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
    for (char *c = out; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_'))
            *c = '_';
    if (!out[0])
        snprintf(out, size, "program");
}

/* The key text of an entry: every field the hash covers, NUL-separated
 * (malloc'd; *length counts the bytes). NULL when out of memory. */
static char *cache_key(const ocl_backend *b, const char *text, const char *options, size_t *length)
{
    const char *fields[5] = { b->device_name, b->driver_version, b->platform_version, options, text };
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += strlen(fields[i]) + 1;
    char *key = malloc(n);
    if (!key)
        return NULL;
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        size_t len = strlen(fields[i]) + 1;
        memcpy(key + at, fields[i], len);
        at += len;
    }
    *length = n;
    return key;
}

static void cache_path(const ocl_backend *b, const char *name, const char *text, const char *options, char *out,
                       size_t size)
{
    uint64_t h[2] = { 0xcbf29ce484222325ull, 0x84222325cbf29ce4ull };
    for (int k = 0; k < 2; k++) {
        h[k] = fnv1a_str(h[k], b->device_name);
        h[k] = fnv1a_str(h[k], b->driver_version);
        h[k] = fnv1a_str(h[k], b->platform_version);
        h[k] = fnv1a_str(h[k], text);
        h[k] = fnv1a_str(h[k], options);
    }
    char stem[64];
    cache_stem(name, stem, sizeof stem);
    snprintf(out, size, "%s/%s-%016llx%016llx.clbin", b->cache_dir, stem, (unsigned long long)h[0],
             (unsigned long long)h[1]);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Reads and validates a cache entry against `key`; returns a malloc'd
 * binary or NULL (missing, short, corrupt, another key: all mean "build
 * from source"). */
static unsigned char *cache_read(const char *path, const char *key, size_t key_length, size_t *length, int verbose)
{
    /* Non-blocking open and a type check: a FIFO must not hang the run. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return NULL;
    FILE *f = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return NULL;
    }
    unsigned char head[CACHE_HEADER];
    unsigned char *data = NULL, *bin = NULL;
    const char *why = "truncated or corrupt";
    if (fread(head, 1, CACHE_HEADER, f) == CACHE_HEADER && !memcmp(head, CACHE_MAGIC, 8)) {
        uint64_t kn = get_u64(head + 8), n = get_u64(head + 16), sum = get_u64(head + 24);
        if (kn == key_length && n > 0 && n < ((uint64_t)1 << 31)) {
            data = malloc((size_t)(kn + n));
            if (data && fread(data, 1, (size_t)(kn + n), f) == kn + n && fgetc(f) == EOF &&
                fnv1a(0xcbf29ce484222325ull, data, (size_t)(kn + n)) == sum) {
                if (memcmp(data, key, key_length) == 0) {
                    bin = malloc((size_t)n);
                    if (bin) {
                        memcpy(bin, data + kn, (size_t)n);
                        *length = (size_t)n;
                    }
                } else {
                    why = "for another program (its key differs)";
                }
            }
            free(data);
        } else if (kn != key_length) {
            why = "for another program (its key differs)";
        }
    }
    fclose(f);
    if (!bin && verbose >= 1)
        fprintf(stderr, "fx: OpenCL kernel cache entry %s is %s; rebuilding it\n", path, why);
    return bin;
}

static void cache_write(const ocl_backend *b, const char *path, const char *key, size_t key_length,
                        cl_program program)
{
    size_t n = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) != CL_SUCCESS || n == 0)
        return;
    unsigned char *buf = malloc(CACHE_HEADER + key_length + n);
    if (!buf)
        return;
    unsigned char *bin = buf + CACHE_HEADER + key_length;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS) {
        free(buf);
        return;
    }
    memcpy(buf + CACHE_HEADER, key, key_length);
    memcpy(buf, CACHE_MAGIC, 8);
    put_u64(buf + 8, key_length);
    put_u64(buf + 16, n);
    put_u64(buf + 24, fnv1a(0xcbf29ce484222325ull, buf + CACHE_HEADER, key_length + n));
    size_t total = CACHE_HEADER + key_length + n;
    char tmp[OCL_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (make_dirs(b->cache_dir) == 0) {
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(buf, 1, total, f) == total;
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok || rename(tmp, path) != 0)
            remove(tmp);
    }
    free(buf);
}

/* Builds `program` and, on failure, records the build log under `name`. */
static fx_status program_build(ocl_backend *b, cl_program program, const char *name, const char *options,
                               int from_binary)
{
    /* FX_FAULT=build:N: the compiler refuses the program (tests); a cached
     * binary then falls back to source like any failed binary. */
    int injected = fx_fault_hit(b->ctx, FX_FAULT_BUILD);
    cl_int err = injected ? CL_BUILD_PROGRAM_FAILURE : clBuildProgram(program, 1, &b->device, options, NULL, NULL);
    if (err == CL_SUCCESS)
        return FX_OK;
    if (from_binary)
        return FX_ERR_BACKEND; /* caller falls back to source */
    if (injected)
        return fx_fail(b->ctx, FX_ERR_BACKEND, "OpenCL: building %s (options '%s') for %s failed: %s (%d) "
                       "(injected by FX_FAULT)", name, options, b->device_name, ocl_error_name(err), (int)err);
    size_t n = 0;
    clGetProgramBuildInfo(program, b->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(program, b->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = '\0';
    }
    fx_status st = fx_fail(b->ctx, FX_ERR_BACKEND,
                           "OpenCL: building %s (options '%s') for %s failed: %s (%d); build log:\n%s", name, options,
                           b->device_name, ocl_error_name(err), (int)err, log ? log : "(no memory for the log)");
    free(log);
    return st;
}

/* Builds (or loads from the disk cache unless use_cache is 0) the program
 * `name` from `text`; *from_cache says which happened. */
static fx_status program_from_text(fx_backend *be, const char *name, const char *text, const char *options,
                                   int use_cache, cl_program *out, int *from_cache)
{
    ocl_backend *b = ocl_impl(be);
    *out = NULL;
    *from_cache = 0;
    char path[OCL_PATH_MAX + 128] = "";
    cl_int err;
    size_t key_length = 0;
    char *key = b->cache_dir[0] ? cache_key(b, text, options, &key_length) : NULL;
    if (key) {
        cache_path(b, name, text, options, path, sizeof path);
        size_t n = 0;
        unsigned char *bin = use_cache ? cache_read(path, key, key_length, &n,
                                                    fx_context_get_options(be->ctx)->verbose)
                                       : NULL;
        if (bin) {
            const unsigned char *bins[1] = { bin };
            cl_int bin_status = CL_SUCCESS;
            cl_program p = clCreateProgramWithBinary(b->context, 1, &b->device, &n, bins, &bin_status, &err);
            free(bin);
            if (p && err == CL_SUCCESS && bin_status == CL_SUCCESS &&
                program_build(b, p, name, options, 1) == FX_OK) {
                b->programs_loaded++;
                *out = p;
                *from_cache = 1;
                free(key);
                return FX_OK;
            }
            if (p)
                clReleaseProgram(p);
        }
    }
    const char *srcs[1] = { text };
    size_t length = strlen(text);
    cl_program p = clCreateProgramWithSource(b->context, 1, srcs, &length, &err);
    if (!p || err != CL_SUCCESS) {
        free(key);
        char what[160];
        snprintf(what, sizeof what, "clCreateProgramWithSource(%s)", name);
        return ocl_fail(be->ctx, err, what);
    }
    fx_status st = program_build(b, p, name, options, 0);
    if (st != FX_OK) {
        /* Nothing is written: a broken source never reaches the cache. */
        free(key);
        clReleaseProgram(p);
        return st;
    }
    b->programs_built++;
    if (key)
        cache_write(b, path, key, key_length, p);
    free(key);
    *out = p;
    return FX_OK;
}

fx_status ocl_program_from_text(fx_backend *be, const char *name, const char *text, const char *options,
                                cl_program *out)
{
    int from_cache;
    return program_from_text(be, name, text, options, 1, out, &from_cache);
}

static fx_status program_create(fx_backend *be, const char *file, const char *options, int use_cache,
                                cl_program *out, int *from_cache)
{
    char *text = NULL;
    size_t length = 0;
    fx_status st = source_get(be->ctx, file, &text, &length);
    if (st != FX_OK)
        return st;
    char name[96];
    snprintf(name, sizeof name, "clkernels/%s", file);
    st = program_from_text(be, name, text, options, use_cache, out, from_cache);
    free(text);
    return st;
}

/* Build options shared by every program. No fast-math flags: results must
 * match the CPU kernels within float rounding. */
#define OCL_BASE_OPTIONS "-cl-std=CL1.2"

fx_status ocl_kernel_get(fx_backend *be, const char *file, const char *name, cl_kernel *out)
{
    return ocl_kernel_get_opts(be, file, "", name, out);
}

fx_status ocl_kernel_get_opts(fx_backend *be, const char *file, const char *extra, const char *name, cl_kernel *out)
{
    ocl_backend *b = ocl_impl(be);
    char options[sizeof b->programs[0].options];
    if (snprintf(options, sizeof options, "%s%s%s", OCL_BASE_OPTIONS, extra && *extra ? " " : "",
                 extra ? extra : "") >= (int)sizeof options)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "OpenCL: build options for clkernels/%s too long", file);
    for (int i = 0; i < b->n_kernels; i++) {
        const ocl_kernel_entry *k = &b->kernels[i];
        if (!strcmp(k->name, name) && !strcmp(b->programs[k->program].file, file) &&
            !strcmp(b->programs[k->program].options, options)) {
            *out = k->kernel;
            return FX_OK;
        }
    }
    int prog = -1, from_cache = 0;
    for (int i = 0; i < b->n_programs; i++)
        if (!strcmp(b->programs[i].file, file) && !strcmp(b->programs[i].options, options))
            prog = i;
    if (prog < 0) {
        if (b->n_programs == OCL_MAX_PROGRAMS)
            return fx_fail(be->ctx, FX_ERR_INTERNAL, "OpenCL: more than %d programs; raise OCL_MAX_PROGRAMS",
                           OCL_MAX_PROGRAMS);
        cl_program p = NULL;
        fx_status st = program_create(be, file, options, 1, &p, &from_cache);
        if (st != FX_OK)
            return st;
        prog = b->n_programs++;
        snprintf(b->programs[prog].file, sizeof b->programs[prog].file, "%s", file);
        snprintf(b->programs[prog].options, sizeof b->programs[prog].options, "%s", options);
        b->programs[prog].program = p;
    }
    if (b->n_kernels == OCL_MAX_KERNELS)
        return fx_fail(be->ctx, FX_ERR_INTERNAL, "OpenCL: more than %d kernels; raise OCL_MAX_KERNELS",
                       OCL_MAX_KERNELS);
    cl_int err;
    cl_kernel k = clCreateKernel(b->programs[prog].program, name, &err);
    if ((!k || err != CL_SUCCESS) && from_cache) {
        /* The driver accepted the cached binary, but it lacks this kernel:
         * the entry is wrong whatever its key says. Rebuild the program
         * from source (which rewrites the entry) and try once more. */
        if (fx_context_get_options(be->ctx)->verbose >= 1)
            fprintf(stderr, "fx: OpenCL kernel cache: the cached clkernels/%s lacks kernel %s (%s); rebuilding it\n",
                    file, name, ocl_error_name(err));
        cl_program p = NULL;
        fx_status st = program_create(be, file, options, 0, &p, &from_cache);
        if (st != FX_OK)
            return fx_fail_prefix(be->ctx, st, "OpenCL kernel cache (%s): rebuilding a bad cached entry",
                                  b->cache_dir);
        clReleaseProgram(b->programs[prog].program);
        b->programs[prog].program = p;
        k = clCreateKernel(p, name, &err);
    }
    if (!k || err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "clCreateKernel(%s) from clkernels/%s", name, file);
        return ocl_fail(be->ctx, err, what);
    }
    ocl_kernel_entry *e = &b->kernels[b->n_kernels++];
    e->program = prog;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = k;
    *out = k;
    return FX_OK;
}

void ocl_program_cache_release(ocl_backend *b)
{
    for (int i = 0; i < b->n_kernels; i++)
        clReleaseKernel(b->kernels[i].kernel);
    for (int i = 0; i < b->n_programs; i++)
        clReleaseProgram(b->programs[i].program);
    b->n_kernels = b->n_programs = 0;
}
