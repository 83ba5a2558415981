/* Fusion in the queue (docs/cuda.md): a MATMUL, or the first of a run of elementwise ops, is
 * held back; the elementwise ops that follow it in place on its result (RELU, and TADD/TSUB/TMUL
 * by a tensor of the same shape, a row [N] or one element) join it as steps of its epilogue, and
 * the whole run is launched as one kernel when anything else arrives (another op, a copy, a wait,
 * close). Each element gets the unfused ops' operations in their order: the same bits. */
#ifndef ADEAD_CUDA_FUSE_H
#define ADEAD_CUDA_FUSE_H

#include "cuda_internal.h"

/* 1 when op was held or joined the held run (its ticket is then done with the run's launch); 0
 * when it is not fusable here: the caller flushes and launches it. */
int cuda_fuse_take(cuda_queue *cq, const adead_exec_op *op, adead_exec_ticket t);
/* Launch the held run, if any (context current); its ticket is blamed on failure. */
CUresult cuda_fuse_flush(cuda_queue *cq, adead_exec_ticket *blame);

/* cuda_ops.c: the launches the run becomes. */
CUresult cuda_launch_matmul(cuda_queue *cq, const adead_exec_op *op, const fuse_chain *ep);
CUresult cuda_launch_fused_elementwise(cuda_queue *cq, CUdeviceptr base, CUdeviceptr out, int64_t rows, int64_t cols,
                                       const fuse_chain *ch);

#endif
