/* The executor interface: one struct of function pointers per backend (CPU, CUDA, Vulkan).
 *
 * The VM core never includes a GPU header, and executors never see bytecode: they get one
 * tensor op at a time, with shapes already checked (overflow-safe) by the VM. Every executor
 * must produce the bits of the scalar reference in backends/cpu/ref_ops.c (docs/ops.md), or
 * declare itself inexact, in which case the VM only uses it for programs flagged RELAXED.
 */
#ifndef ADEAD_EXECUTOR_H
#define ADEAD_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t dtype; /* BIB_DT_* */
    int rank;
    int64_t dims[4];
    int64_t count; /* elements */
    void *data;    /* host pointer (EXEC_CAP_HOST_MEMORY) or the executor's buffer handle */
} exec_tensor;

typedef struct {
    int kernel;          /* dense opcode of a matrix-class op (OP_MATMUL, OP_SOFTMAX, ...) */
    exec_tensor out;
    exec_tensor in[3];
    int n_in;
} exec_op;

enum {
    EXEC_CAP_EXACT = 1,       /* passed its conformance probe: bit-exact with the reference */
    EXEC_CAP_HOST_MEMORY = 2, /* runs on host pointers into VM memory: no upload/download */
    EXEC_CAP_GPU = 4
};

typedef struct executor executor;
struct executor {
    const char *name;
    unsigned caps; /* set by init */
    /* Bring the device up and run the conformance probe; 0, or -1 with a reason. */
    int (*init)(executor *ex, char *err, size_t errlen);
    void (*shutdown)(executor *ex);
    /* Whether this executor can run op (kernel, dtypes, sizes). */
    int (*supports)(const executor *ex, const exec_op *op);
    void *(*buf_alloc)(executor *ex, size_t bytes);
    void (*buf_free)(executor *ex, void *buf);
    int (*upload)(executor *ex, void *buf, const void *host, size_t bytes);
    int (*download)(executor *ex, void *host, const void *buf, size_t bytes);
    /* Run (or enqueue) one op; 0, or -1 with a reason. */
    int (*run)(executor *ex, const exec_op *op, char *err, size_t errlen);
    /* Wait for everything enqueued. */
    int (*sync)(executor *ex);
    uint64_t (*mem_available)(const executor *ex);
    void *state;
};

/* The CPU executor (always present; backends/cpu/). One per VM: it owns a thread pool. */
#include "../util/config.h" /* CPU_MAX_THREADS */
/* The best SIMD level, all cores; NULL when out of memory. */
executor *cpu_executor_create(void);
/* level: a simd_level (backends/cpu/cpu_features.h) or -1 for the best; threads: 0 for all
 * cores. 0, or -1 with a reason (a level this CPU or build lacks). */
int cpu_executor_configure(executor *ex, int level, int threads, char *err, size_t errlen);
int cpu_executor_level(const executor *ex);
/* Ops whose input plus output bytes reach this write their output with streaming stores
 * (around the caches); default: the last-level cache size. Tests lower it to reach that path. */
void cpu_executor_set_stream_bytes(executor *ex, uint64_t bytes);
int cpu_executor_threads(const executor *ex);
void cpu_executor_destroy(executor *ex);

#endif
