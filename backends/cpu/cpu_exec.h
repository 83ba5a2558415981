/* The CPU executor's state, shared by its drivers (cpu_executor.c, cpu_matmul.c, cpu_ops.c). */
#ifndef ADEAD_CPU_EXEC_H
#define ADEAD_CPU_EXEC_H

#include "../executor.h"
#include "kernels.h"
#include "pool.h"

#include <stddef.h>

typedef struct {
    executor ex; /* first: the executor handed out is this struct */
    simd_level level;
    const cpu_kernels *k;
    int threads;
    uint64_t stream_bytes; /* cpu_executor_set_stream_bytes */
    cpu_pool *pool;
    /* Scratch kept between ops (grown on demand): packed B, and per worker a packed A block
     * plus an edge tile, or attention's transposed keys. */
    float *bpack;
    size_t bpack_floats;
    float **wbuf;
    size_t wbuf_floats;
} cpu_exec;

static inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Grow the scratch; 0, or -1 when the host is out of memory. */
int cpu_scratch(cpu_exec *ce, size_t bpack_floats, size_t per_worker_floats);

/* Drivers: shapes are checked; out.count > 0. Each returns 0, or -1 with a reason. */
int cpu_matmul(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);
int cpu_softmax(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);
int cpu_relu(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);
int cpu_elementwise(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);
int cpu_transpose(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);
int cpu_attention(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);

/* Runs fn over items on the pool with the kernels' floating-point environment set in every
 * thread that takes an item. */
void cpu_parallel(cpu_exec *ce, int64_t items, pool_fn fn, void *ctx);

#endif
