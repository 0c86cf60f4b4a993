/* fx/context.h - the context object: owns the error buffer, the op
 * registry, the backends and per-run settings. Nothing in fx keeps global
 * mutable state; everything hangs off a context. A context is used from one
 * host thread at a time. */
#ifndef FX_CONTEXT_H
#define FX_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>
#include "fx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_context fx_context;
typedef struct fx_registry fx_registry;

typedef struct fx_context_options {
    int threads;        /* CPU worker threads; 0 = number of online CPUs */
    unsigned long long seed; /* base seed of every random stream */
    int verbose;        /* 0 quiet, 1 normal, 2 debug */
} fx_context_options;

/* Defaults: threads 0 (all cores), seed 1, verbose 1. */
fx_context_options fx_context_options_default(void);

/* Creates a context with the built-in ops and the CPU backend registered.
 * On failure *out is NULL and, when err/err_size are given, the reason is
 * written there (there is no context yet to hold it). */
fx_status fx_context_create(const fx_context_options *options, fx_context **out,
                            char *err, size_t err_size);
void fx_context_destroy(fx_context *ctx);

/* The message of the last failure ("" if none). Valid until the next call
 * that fails. */
const char *fx_context_error(const fx_context *ctx);
void fx_context_clear_error(fx_context *ctx);
/* 1 when a failure is recorded (fx_fail and friends) since the context was
 * created or its error last cleared, else 0: lets a caller tell whether a
 * callee that returned an error status also said why. */
int fx_context_has_error(const fx_context *ctx);

/* Records a failure and returns `status`, so code can write
 *   return fx_fail(ctx, FX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
 * A second failure while one is recorded prefixes the earlier message
 * (callers add context on the way up: "loading graph: ..."). */
fx_status fx_fail(fx_context *ctx, fx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
fx_status fx_failv(fx_context *ctx, fx_status status, const char *fmt, va_list ap);
/* Prepends "prefix: " to the recorded message and returns `status`. */
fx_status fx_fail_prefix(fx_context *ctx, fx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

fx_registry *fx_context_registry(fx_context *ctx);
const fx_context_options *fx_context_get_options(const fx_context *ctx);

/* Fault injection for tests (docs/reliability.md): FX_FAULT="alloc:N",
 * "write:N", "device_alloc:N" or "build:N" (comma-separated) makes the Nth
 * event of that kind in a context fail. fx_fault_hit counts one event and
 * returns 1 when it must fail; the code at the event then takes its real
 * error path. Backends call it where they allocate device memory and build
 * programs, so it is public. */
typedef enum fx_fault_kind {
    FX_FAULT_ALLOC = 0,    /* fx_malloc / fx_calloc */
    FX_FAULT_WRITE,        /* a checkpoint write */
    FX_FAULT_DEVICE_ALLOC, /* a backend's device buffer */
    FX_FAULT_BUILD,        /* a backend's kernel program build */
    FX_FAULT_KINDS
} fx_fault_kind;
int fx_fault_hit(fx_context *ctx, fx_fault_kind kind);

/* Checked allocation helpers: on failure they record FX_ERR_NOMEM with
 * `what` in the message and return NULL. Free with free(). */
void *fx_malloc(fx_context *ctx, size_t bytes, const char *what);
void *fx_calloc(fx_context *ctx, size_t count, size_t size, const char *what);

/* Seconds on the monotonic clock (never jumps with the wall clock): for
 * measuring durations (training rates, ETAs, profiles), not dates. */
double fx_now_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
