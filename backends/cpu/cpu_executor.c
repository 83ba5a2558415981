/* The CPU executor: SIMD kernels chosen by CPUID (or ADEAD_SIMD / the API), a thread pool
 * (ADEAD_THREADS / the API), host memory. Every level and thread count gives the reference's
 * bits (docs/ops.md); the drivers only decide how the work is cut. */
#include "../../isa/isa.h"
#include "cpu_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cpu_init(executor *ex, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ex->caps = EXEC_CAP_EXACT | EXEC_CAP_HOST_MEMORY;
    return 0;
}

static void cpu_shutdown(executor *ex) { (void)ex; }

static int cpu_supports(const executor *ex, const exec_op *op)
{
    (void)ex;
    return isa_is_kernel(op->kernel);
}

static void *cpu_buf_alloc(executor *ex, size_t bytes)
{
    (void)ex;
    return malloc(bytes ? bytes : 1);
}

static void cpu_buf_free(executor *ex, void *buf)
{
    (void)ex;
    free(buf);
}

static int cpu_copy(executor *ex, void *dst, const void *src, size_t bytes)
{
    (void)ex;
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_download(executor *ex, void *host, const void *buf, size_t bytes) { return cpu_copy(ex, host, buf, bytes); }

static int cpu_run(executor *ex, const exec_op *op, char *err, size_t errlen)
{
    cpu_exec *ce = (cpu_exec *)ex;
    if (!op->out.count) return 0; /* nothing to write: and a [2^40, 0] shape must not loop 2^40 times */
    switch (op->kernel) {
    case OP_MATMUL: return cpu_matmul(ce, op, err, errlen);
    case OP_TRANSPOSE: return cpu_transpose(ce, op, err, errlen);
    case OP_SOFTMAX: return cpu_softmax(ce, op, err, errlen);
    case OP_RELU: return cpu_relu(ce, op, err, errlen);
    case OP_TADD:
    case OP_TSUB:
    case OP_TMUL: return cpu_elementwise(ce, op, err, errlen);
    case OP_ATTENTION:
    case OP_ATTENTION_CAUSAL: return cpu_attention(ce, op, err, errlen);
    default: snprintf(err, errlen, "the CPU executor has no kernel %d", op->kernel); return -1;
    }
}

static int cpu_sync(executor *ex)
{
    (void)ex;
    return 0;
}

static uint64_t cpu_mem_available(const executor *ex)
{
    (void)ex;
    return UINT64_MAX;
}

static void free_scratch(cpu_exec *ce)
{
    free(ce->bpack);
    if (ce->wbuf)
        for (int w = 0; w < ce->threads; w++) free(ce->wbuf[w]);
    free(ce->wbuf);
    ce->bpack = NULL;
    ce->wbuf = NULL;
    ce->bpack_floats = ce->wbuf_floats = 0;
}

int cpu_scratch(cpu_exec *ce, size_t bpack_floats, size_t per_worker_floats)
{
    if (bpack_floats > ce->bpack_floats) {
        free(ce->bpack);
        void *p = NULL;
        ce->bpack = posix_memalign(&p, 64, bpack_floats * sizeof(float)) ? NULL : p;
        ce->bpack_floats = ce->bpack ? bpack_floats : 0;
        if (!ce->bpack) return -1;
    }
    if (per_worker_floats > ce->wbuf_floats || !ce->wbuf) {
        if (!ce->wbuf && !(ce->wbuf = calloc((size_t)ce->threads, sizeof *ce->wbuf))) return -1;
        if (per_worker_floats < ce->wbuf_floats) per_worker_floats = ce->wbuf_floats;
        for (int w = 0; w < ce->threads; w++) {
            free(ce->wbuf[w]);
            void *p = NULL;
            ce->wbuf[w] = posix_memalign(&p, 64, per_worker_floats * sizeof(float)) ? NULL : p;
            if (!ce->wbuf[w]) {
                ce->wbuf_floats = 0;
                return -1;
            }
        }
        ce->wbuf_floats = per_worker_floats;
    }
    return 0;
}

typedef struct {
    cpu_exec *ce;
    pool_fn fn;
    void *ctx;
} env_item;

static void run_in_env(void *arg, int64_t item, int worker)
{
    env_item *e = arg;
    fpenv saved = fpenv_enter(e->ce->level);
    e->fn(e->ctx, item, worker);
    fpenv_leave(e->ce->level, saved);
}

void cpu_parallel(cpu_exec *ce, int64_t items, pool_fn fn, void *ctx)
{
    env_item e = {ce, fn, ctx};
    pool_for(ce->pool, items, run_in_env, &e);
}

static const executor cpu_vtable = {"cpu", EXEC_CAP_EXACT | EXEC_CAP_HOST_MEMORY, cpu_init, cpu_shutdown, cpu_supports,
                                    cpu_buf_alloc, cpu_buf_free, cpu_copy, cpu_download, cpu_run, cpu_sync,
                                    cpu_mem_available, NULL};

executor *cpu_executor_create(void)
{
    cpu_exec *ce = calloc(1, sizeof *ce);
    if (!ce) return NULL;
    ce->ex = cpu_vtable;
    ce->ex.state = ce;
    /* Unknown cache: 32 MiB, a large L3. */
    ce->stream_bytes = cpu_detect()->l3 ? cpu_detect()->l3 : (uint64_t)32 << 20;
    if (cpu_executor_configure(&ce->ex, -1, 0, NULL, 0)) {
        free(ce);
        return NULL;
    }
    return &ce->ex;
}

int cpu_executor_configure(executor *ex, int level, int threads, char *err, size_t errlen)
{
    cpu_exec *ce = (cpu_exec *)ex;
    const cpu_info *ci = cpu_detect();
    if (level < 0) level = ci->best;
    const cpu_kernels *k = level < SIMD_LEVELS ? cpu_kernels_for((simd_level)level) : NULL;
    if (!k || !ci->has[level]) {
        if (err) snprintf(err, errlen, "SIMD level %s is not available on this CPU (best: %s)", simd_name((simd_level)level), simd_name(ci->best));
        return -1;
    }
    if (threads <= 0) threads = ci->cores;
    if (threads > CPU_MAX_THREADS) threads = CPU_MAX_THREADS;
    if (threads != ce->threads) {
        cpu_pool *pool = pool_create(threads);
        if (!pool) {
            if (err) snprintf(err, errlen, "out of memory for a pool of %d threads", threads);
            return -1;
        }
        free_scratch(ce);
        pool_destroy(ce->pool);
        ce->pool = pool;
        ce->threads = threads;
    }
    ce->level = (simd_level)level;
    ce->k = k;
    return 0;
}

void cpu_executor_set_stream_bytes(executor *ex, uint64_t bytes) { ((cpu_exec *)ex)->stream_bytes = bytes; }

int cpu_executor_level(const executor *ex) { return (int)((const cpu_exec *)ex)->level; }
int cpu_executor_threads(const executor *ex) { return ((const cpu_exec *)ex)->threads; }

void cpu_executor_destroy(executor *ex)
{
    if (!ex) return;
    cpu_exec *ce = (cpu_exec *)ex;
    free_scratch(ce);
    pool_destroy(ce->pool);
    free(ce);
}
