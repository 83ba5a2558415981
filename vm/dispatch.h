/* Auto-dispatch: which executor runs a tensor op. Data already resident on a GPU stays there;
 * otherwise MATMUL and ATTENTION of at least gpu_min_elements elements (their largest operand)
 * go to a GPU that supports them (CUDA first, then Vulkan), and the memory-bound ops at
 * gpu_min_streaming (by default never: their copies cost more than the CPU's op); everything else
 * runs on the CPU's best SIMD. With no GPU executor every op runs on the CPU. The thresholds are
 * measured crossovers (util/config.h). The choice never changes the bits, only the speed. */
#ifndef ADEAD_DISPATCH_H
#define ADEAD_DISPATCH_H

#include "../include/adeadvm_exec.h"

#include <stdint.h>

#include "../isa/kernels.h" /* K_FLOPS */
#include "../util/config.h" /* VM_MAX_DEVICES, DISPATCH_DEFAULT_GPU_MIN */

#define DISPATCH_MAX_GPUS VM_MAX_DEVICES

typedef struct {
    adead_exec_device *cpu;
    adead_exec_device *gpu[DISPATCH_MAX_GPUS]; /* in order of preference; NULL where absent */
    int n_gpu;
    int64_t gpu_min_elements;         /* the size threshold of MATMUL and ATTENTION */
    int64_t gpu_min_streaming;        /* ... and of the memory-bound ops */
    int64_t gpu_min[ADEAD_K__END];    /* by kernel id, one of the two (dispatch_set_thresholds): one load
                                       * per decision (a class test measured 0.35 ns more) */
} dispatch_rules;

/* The kernels whose work grows faster than their bytes (K_FLOPS in adeadvm_kernels.def), as a
 * mask by kernel id. */
#define DISPATCH_FLOPS_BIT(OP, name, id, inputs, shape, flags) | ((flags) & K_FLOPS ? (uint64_t)1 << (id) : 0)
static const uint64_t dispatch_flops_mask = 0
#define KERNEL DISPATCH_FLOPS_BIT
#include "../include/adeadvm_kernels.def"
#undef KERNEL
    ;
#undef DISPATCH_FLOPS_BIT

static inline void dispatch_set_thresholds(dispatch_rules *r, int64_t flops, int64_t streaming)
{
    r->gpu_min_elements = flops;
    r->gpu_min_streaming = streaming;
    for (uint32_t k = 0; k < ADEAD_K__END; k++) r->gpu_min[k] = (dispatch_flops_mask >> k & 1) ? flops : streaming;
}

/* The defaults of util/config.h, or 0 and 0: every op a GPU supports goes to it. */
static inline void dispatch_set_defaults(dispatch_rules *r)
{
    dispatch_set_thresholds(r, DISPATCH_DEFAULT_GPU_MIN, DISPATCH_DEFAULT_GPU_MIN_STREAMING);
}
static inline void dispatch_prefer_device(dispatch_rules *r) { dispatch_set_thresholds(r, 0, 0); }

/* The op's largest operand, in elements. Without a loop: its trip count (1 to 3 inputs) would
 * be one more branch to predict per decision. (Reading all three in[] unconditionally, for
 * conditional moves, measured slower: 2.0 against 1.8 ns with one GPU.) */
static inline int64_t dispatch_size(const adead_exec_op *op)
{
    int64_t a = op->out.count, b = op->n_in > 0 ? op->in[0].count : 0;
    int64_t c = op->n_in > 1 ? op->in[1].count : 0, d = op->n_in > 2 ? op->in[2].count : 0;
    a = a > b ? a : b;
    c = c > d ? c : d;
    return a > c ? a : c;
}

/* residency: -1 when the inputs are in host memory, else the index in gpu[] holding them.
 * Without GPUs the answer is the CPU before the op's size is even read. */
static inline adead_exec_device *dispatch_choose(const dispatch_rules *r, const adead_exec_op *op, int residency)
{
    if (r->n_gpu <= 0) return r->cpu;
    if (residency >= 0 && residency < r->n_gpu && r->gpu[residency]->ops->supports(r->gpu[residency], op))
        return r->gpu[residency];
    if (dispatch_size(op) >= r->gpu_min[op->kernel]) /* op->kernel: an id of adeadvm_kernels.def */
        for (int g = 0; g < r->n_gpu; g++)
            if (r->gpu[g]->ops->supports(r->gpu[g], op)) return r->gpu[g];
    return r->cpu;
}

/* ns per dispatch_choose over varied ops, averaged over `decisions` calls (vm/info.c); gpu:
 * NULL for none, or a device offered as the one GPU. -1 when out of memory. */
double dispatch_cost_ns(adead_exec_device *cpu, adead_exec_device *gpu, long decisions);

#endif
