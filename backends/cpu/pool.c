/* Thread pool: one job at a time, items claimed with an atomic counter, a generation number
 * to wake workers and a count of busy workers to know when the job is done. Workers and the
 * caller spin a little before sleeping: ops come in quick succession, and a condition-variable
 * wake-up costs tens of microseconds, as much as a whole small MATMUL. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

#define SPINS 20000 /* about 0.1-0.5 ms of polling before a thread blocks */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

struct cpu_pool {
    int threads;   /* wanted, counting the caller */
    int started;   /* worker threads running (threads - 1 once started) */
    int start_failed;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;
    int busy;      /* workers still inside the current job */
    int quit;
    /* the current job */
    pool_fn fn;
    void *ctx;
    int64_t n;
    int64_t next;  /* next unclaimed item (atomic) */
};

typedef struct {
    cpu_pool *p;
    int worker;
} worker_arg;

static void run_items(cpu_pool *p, int worker)
{
    for (;;) {
        int64_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->n) return;
        p->fn(p->ctx, i, worker);
    }
}

static void *worker_main(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    cpu_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE)) == seen && !__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) {
            if (++spins < SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (p->generation == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) break;
        seen = g;
        run_items(p, wa.worker);
        if (__atomic_sub_fetch(&p->busy, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

cpu_pool *pool_create(int threads)
{
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    return p;
}

int pool_threads(const cpu_pool *p) { return p ? p->threads : 1; }

static void start_workers(cpu_pool *p)
{
    p->tids = calloc((size_t)p->threads, sizeof *p->tids);
    if (!p->tids) {
        p->start_failed = 1;
        return;
    }
    for (int w = 1; w < p->threads; w++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->p = p;
        wa->worker = w;
        if (pthread_create(&p->tids[p->started], NULL, worker_main, wa)) {
            free(wa);
            break;
        }
        p->started++;
    }
    if (p->started < p->threads - 1) p->start_failed = 1; /* run with the ones we got */
}

void pool_for(cpu_pool *p, int64_t n, pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (!p || p->threads == 1 || n == 1) {
        for (int64_t i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (!p->started && !p->start_failed) start_workers(p);
    if (!p->started) {
        pthread_mutex_unlock(&p->mu);
        for (int64_t i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    __atomic_store_n(&p->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->busy, p->started, __ATOMIC_RELAXED);
    __atomic_store_n(&p->generation, p->generation + 1, __ATOMIC_RELEASE); /* publishes the job */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    run_items(p, 0);

    for (int spins = 0; __atomic_load_n(&p->busy, __ATOMIC_ACQUIRE) && spins < SPINS; spins++) cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (__atomic_load_n(&p->busy, __ATOMIC_ACQUIRE)) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void pool_destroy(cpu_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->tids[i], NULL);
    free(p->tids);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}
