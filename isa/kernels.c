/* The kernel table (include/adeadvm_kernels.def), indexed both ways. */
#include "kernels.h"

#include "isa.h"

#include <stddef.h>

#define KERNEL(OP, kname, kid, n, kshape, kflags) \
    [kid] = {.op = OP_##OP, .name = #kname, .id = kid, .inputs = n, .shape = kshape, .flags = kflags},
static const isa_kernel by_id[ADEAD_K__END] = {
#include "../include/adeadvm_kernels.def"
};
#undef KERNEL

#define KERNEL(OP, kname, kid, n, kshape, kflags) [OP_##OP] = &by_id[kid],
static const isa_kernel *const by_op[OP__COUNT] = {
#include "../include/adeadvm_kernels.def"
};
#undef KERNEL

const isa_kernel *isa_kernel_of_op(int op) { return op >= 0 && op < OP__COUNT ? by_op[op] : NULL; }

const isa_kernel *isa_kernel_of_id(uint32_t id) { return id < ADEAD_K__END && by_id[id].name ? &by_id[id] : NULL; }
