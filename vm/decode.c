/* Pre-decoding: verified bytecode -> the interpreter's form.
 *
 * Fuel is charged per basic block, not per instruction: whenever control enters pc (a jump,
 * a call, a return, a fall-through after a branch, a task switch), the interpreter subtracts
 * cost[pc] = the number of instructions from pc to the next instruction that is not FLOW_NEXT.
 * Straight-line code thus costs nothing extra, and every instruction is still counted once. */
#include "vm.h"

#include <stdlib.h>

dinstr *decode_module(const bib_module *m)
{
    dinstr *d = calloc(m->n_code, sizeof *d);
    if (!d) return NULL;
    for (uint32_t pc = m->n_code; pc-- > 0;) {
        const bib_instr *ins = &m->code[pc];
        int op = isa_find_value(ins->op);
        d[pc].op = (uint16_t)op;
        d[pc].a = ins->a[0];
        d[pc].b = ins->a[1];
        d[pc].c = ins->a[2];
        d[pc].d = ins->a[3];
        if (op == OP_VK_COMPUTE) d[pc].a = (uint32_t)isa_find_value(ins->a[0]); /* the kernel, dense */
        int ends_block = isa_ops[op].flow != FLOW_NEXT || pc == m->n_code - 1;
        d[pc].cost = ends_block ? 1 : d[pc + 1].cost + 1;
    }
    return d;
}
