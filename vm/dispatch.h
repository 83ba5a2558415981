/* Auto-dispatch: which executor runs a tensor op. The seed's rule is the default: ops under
 * ADEAD_GPU_MIN_ELEMENTS (1M) elements run on the CPU's best SIMD; larger ones on a GPU (CUDA
 * first, then Vulkan) that supports them; data already resident on a GPU stays there. With no
 * GPU executor every op runs on the CPU. The choice never changes the bits, only the speed. */
#ifndef ADEAD_DISPATCH_H
#define ADEAD_DISPATCH_H

#include "../include/adeadvm_exec.h"

#include <stdint.h>

#include "../util/config.h" /* VM_MAX_DEVICES, DISPATCH_DEFAULT_GPU_MIN */

#define DISPATCH_MAX_GPUS VM_MAX_DEVICES

typedef struct {
    adead_exec_device *cpu;
    adead_exec_device *gpu[DISPATCH_MAX_GPUS]; /* in order of preference; NULL where absent */
    int n_gpu;
    int64_t gpu_min_elements;         /* the size threshold */
} dispatch_rules;

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
    if (dispatch_size(op) >= r->gpu_min_elements)
        for (int g = 0; g < r->n_gpu; g++)
            if (r->gpu[g]->ops->supports(r->gpu[g], op)) return r->gpu[g];
    return r->cpu;
}

/* ns per dispatch_choose over varied ops, averaged over `decisions` calls (vm/info.c); gpu:
 * NULL for none, or a device offered as the one GPU. -1 when out of memory. */
double dispatch_cost_ns(adead_exec_device *cpu, adead_exec_device *gpu, long decisions);

#endif
