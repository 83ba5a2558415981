/* Pre-decoding: verified bytecode -> the interpreter's form.
 *
 * Fuel is charged per basic block, not per instruction: whenever control enters pc (a jump,
 * a call, a return, a fall-through after a branch, a task switch), the interpreter subtracts
 * cost[pc] = the number of instructions from pc to the next instruction that is not FLOW_NEXT.
 * Straight-line code thus costs nothing extra, and every instruction is still counted once.
 * A VK_ARG is part of the VK_COMPUTE before it: the pair is one instruction (the VK_COMPUTE runs
 * the op and steps over it), so a VK_ARG costs nothing and fuel never runs out at one.
 * Branch, jump and call targets are stored relative to the instruction (in bytes). */
#include "vm.h"

#include <stdlib.h>
#include <string.h>

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
        if (op == OP_VK_COMPUTE) {
            /* The kernel's own operands, as its instruction has them: a 4-tensor kernel's 4th
             * is the VK_ARG's (the verifier put one right after). */
            int kernel = isa_find_value(ins->a[0]);
            d[pc].kernel = (uint16_t)kernel;
            d[pc].a = ins->a[1];
            d[pc].b = ins->a[2];
            d[pc].c = ins->a[3];
            d[pc].d = isa_operand_count(kernel) == 4 ? m->code[pc + 1].a[0] : 0;
        }
        isa_flow flow = isa_ops[op].flow;
        if (flow == FLOW_BRANCH || flow == FLOW_GOTO || flow == FLOW_CALL) {
            /* Jump targets become byte offsets from the instruction itself, so that a taken
             * branch is one add to ip and the hot loop needs no code-base register. */
            uint32_t *slot = &d[pc].a + (strchr(isa_ops[op].kinds, 'l') - isa_ops[op].kinds);
            *slot = (uint32_t)(int32_t)(((int64_t)*slot - (int64_t)pc) * (int64_t)sizeof(dinstr));
        }
        int ends_block = isa_ops[op].flow != FLOW_NEXT || pc == m->n_code - 1;
        uint32_t own = op == OP_VK_ARG ? 0 : 1;
        d[pc].cost = ends_block ? own : d[pc + 1].cost + own;
    }
    return d;
}
