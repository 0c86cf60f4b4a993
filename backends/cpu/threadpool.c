/* backends/cpu/threadpool.c - a fixed pool of worker threads running
 * parallel-for ranges. The caller thread takes chunk 0 itself; workers
 * wait on a condition variable between jobs (no spinning: the machine may
 * have 2 cores shared with the data loader). */
#include <pthread.h>
#include <stdlib.h>
#include "backends/cpu/cpu_backend.h"

struct cpu_thread_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending;
    int stop;
    /* current job */
    fx_cpu_range_fn fn;
    void *arg;
    int64_t n;
    int chunks;
};

typedef struct worker_arg {
    cpu_thread_pool *pool;
    int index;
} worker_arg;

static void run_chunk(cpu_thread_pool *p, int chunk)
{
    int64_t begin = p->n * chunk / p->chunks;
    int64_t end = p->n * (chunk + 1) / p->chunks;
    if (begin < end)
        p->fn(p->arg, begin, end, chunk);
}

static void *worker_main(void *raw)
{
    worker_arg *wa = raw;
    cpu_thread_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->start, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        int mine = index < p->chunks;
        pthread_mutex_unlock(&p->lock);
        if (mine)
            run_chunk(p, index);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

fx_status cpu_thread_pool_create(fx_context *ctx, int threads, cpu_thread_pool **out)
{
    *out = NULL;
    cpu_thread_pool *p = fx_calloc(ctx, 1, sizeof *p, "the thread pool");
    if (!p)
        return FX_ERR_NOMEM;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->workers = fx_calloc(ctx, (size_t)p->threads, sizeof *p->workers, "the thread pool");
        if (!p->workers) {
            cpu_thread_pool_destroy(p);
            return FX_ERR_NOMEM;
        }
        for (int i = 1; i < p->threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa || (wa->pool = p, wa->index = i, pthread_create(&p->workers[i], NULL, worker_main, wa) != 0)) {
                free(wa);
                p->threads = i; /* workers 1..i-1 exist */
                cpu_thread_pool_destroy(p);
                return fx_fail(ctx, FX_ERR_NOMEM, "cannot start CPU worker thread %d; try --threads 1", i);
            }
        }
    }
    *out = p;
    return FX_OK;
}

void cpu_thread_pool_destroy(cpu_thread_pool *p)
{
    if (!p)
        return;
    if (p->workers) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->lock);
        for (int i = 1; i < p->threads; i++)
            pthread_join(p->workers[i], NULL);
        free(p->workers);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p);
}

void cpu_thread_pool_run(cpu_thread_pool *p, int64_t n, int64_t grain, fx_cpu_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t max_chunks = (n + grain - 1) / grain;
    int chunks = p->threads < max_chunks ? p->threads : (int)max_chunks;
    if (chunks <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunks = chunks;
    p->pending = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    run_chunk(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
