/* The tensor kernels as data, from include/adeadvm_kernels.def: which opcode each stable id is,
 * its inputs, its result-shape rule and its flags. */
#ifndef ADEAD_ISA_KERNELS_H
#define ADEAD_ISA_KERNELS_H

#include "../include/adeadvm_exec.h"

#include <stdint.h>

typedef enum {
    SHAPE_MATMUL,    /* [M,K] x [K,N] -> [M,N] */
    SHAPE_TRANSPOSE, /* 2-D, axes swapped */
    SHAPE_SAME,      /* the input's shape */
    SHAPE_SAME_ROWS, /* the input's shape, at least one axis */
    SHAPE_ATTENTION, /* q [...,Sq,D], k [...,Sk,D], v [...,Sk,Dv] -> [...,Sq,Dv] */
    SHAPE_BROADCAST  /* numpy broadcasting of two inputs */
} kernel_shape;

enum { K_ELEMENTWISE = 1, K_ROWWISE = 2, K_READS_ACROSS = 4, K_ANY_DTYPE = 8, K_FLOPS = 16 };

typedef struct {
    int op;           /* dense opcode (OP_MATMUL, ...) */
    const char *name; /* "matmul" */
    uint32_t id;      /* ADEAD_K_* */
    int inputs;
    kernel_shape shape;
    unsigned flags;
} isa_kernel;

/* The kernel an opcode names, or NULL when it is not one. */
const isa_kernel *isa_kernel_of_op(int op);
/* The kernel of a stable id, or NULL. */
const isa_kernel *isa_kernel_of_id(uint32_t id);

#endif
