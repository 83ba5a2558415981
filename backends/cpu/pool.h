/* A pthread pool for the CPU kernels. Work is cut into numbered items by the caller; threads claim
 * items from a shared counter. Each item is computed the same way whichever thread runs it, so
 * results never depend on the thread count or on timing (docs/ops.md, "Threads"). */
#ifndef ADEAD_POOL_H
#define ADEAD_POOL_H

#include <stdint.h>

typedef struct cpu_pool cpu_pool;
/* fn(ctx, item, worker): worker is 0..threads-1 (for per-thread scratch). */
typedef void (*pool_fn)(void *ctx, int64_t item, int worker);

/* A pool of `threads` workers counting the caller; threads are started at the first pool_for
 * that has work for them. NULL when out of memory. */
cpu_pool *pool_create(int threads);
void pool_destroy(cpu_pool *p);
int pool_threads(const cpu_pool *p);
/* Run items 0..n-1 and return when all are done. Falls back to the calling thread alone when
 * threads cannot be started. */
void pool_for(cpu_pool *p, int64_t n, pool_fn fn, void *ctx);

#endif
