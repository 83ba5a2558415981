/* The interpreter: verified, pre-decoded code; computed-goto dispatch (a switch where the
 * compiler has no labels-as-values, or with -DADEAD_SWITCH_DISPATCH).
 *
 * Fuel: entering a block charges its cost (vm/decode.c). When the charge goes negative, the
 * block can only run `allowed` more instructions: the instruction at that point is patched to
 * IOP_FUEL, which stops the machine exactly there, resumably. Between charges the remaining
 * fuel at any instruction p is fuel + cost[p] - 1, which is how every exit settles the count.
 *
 * Tracing swaps the dispatch table for one whose every entry goes through the tracer first, so
 * a VM that does not trace pays nothing for the feature.
 */
#include "../isa/f32.h"
#include "stream.h"
#include "../util/tensor_text.h"
#include "vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(ADEAD_SWITCH_DISPATCH)
#define THREADED 1
#else
#define THREADED 0
#endif

#if defined(__GNUC__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UNLIKELY(x) (x)
#endif

#define F(x) f32_from((uint32_t)(x))
#define SETF(dst, val) ((dst) = f32_bits(f32_canon(val)))
#define S(x) ((int64_t)(x))
#define PC ((uint32_t)(ip - vm->code))
#define BASE ((uint32_t)(R - task->regs)) /* the current register window */

typedef struct {
    dinstr ip; /* a copy of the instruction whose written registers are still to be shown (the
                * code itself may be patched by then) */
    int pending;
    uint64_t *regs;
    uint32_t base;
} trace_state;

static void trace_writes(adead_vm *vm, trace_state *ts)
{
    if (!ts->pending) return;
    ts->pending = 0;
    const char *kinds = isa_ops[ts->ip.op].kinds;
    const uint32_t ops[4] = {ts->ip.a, ts->ip.b, ts->ip.c, ts->ip.d};
    char line[256];
    size_t n = 0;
    for (int s = 0; s < 4; s++)
        if (kinds[s] == 'w' && n < sizeof line)
            n += (size_t)snprintf(line + n, sizeof line - n, "  r%u=%" PRId64, ops[s], S(ts->regs[ts->base + ops[s]]));
    if (n) vm_printf(vm->trace_fn, vm->trace_user, "%s\n", line);
}

static void trace_instr(adead_vm *vm, trace_state *ts, const dinstr *ip, vm_task *task, uint32_t base)
{
    trace_writes(vm, ts);
    const bib_module *m = &vm->prog->mod;
    uint32_t pc = (uint32_t)(ip - vm->code);
    char text[256], where[300];
    isa_format_instr(m, &vm->prog->names, pc, text, sizeof text);
    const char *file;
    uint32_t line = bib_line_of(m, pc, &file);
    if (line)
        snprintf(where, sizeof where, " %s:%u", file, line);
    else
        where[0] = 0;
    vm_printf(vm->trace_fn, vm->trace_user, "[task %" PRIu64 "] pc %u%s: %s\n", vm->tasks[vm->cur].id, pc, where, text);
    ts->ip = *ip;
    ts->pending = 1;
    ts->regs = task->regs;
    ts->base = base;
}

/* TNEW and TRESHAPE: rank c, dimensions in registers b, b+1, ... (the verifier keeps them < 256). */
static const int64_t *gather_dims(const uint64_t *R, const dinstr *ip, int64_t *dims)
{
    for (uint32_t i = 0; i < ip->c; i++) dims[i] = (int64_t)R[ip->b + i];
    return dims;
}

/* PRINTF: the f32 as PRINTT and the disassembler write it (it reads back to the same bits). */
static void print_f32(adead_vm *vm, uint32_t bits)
{
    if (!vm->print_fn) return;
    textbuf t = {NULL, 0, 0, 0};
    tb_f32(&t, bits);
    tb_add(&t, "\n", 1);
    char *text = tb_take(&t);
    if (text) vm->print_fn(vm->print_user, text, strlen(text));
    free(text);
}

/* Slow half of CALL: grow the register stack or the frame stack, then push. */
static int call_slow(adead_vm *vm, vm_task *t, uint32_t pc, uint32_t new_base, uint32_t base)
{
    int rc = task_reserve_window(vm, t, pc, new_base);
    if (!rc) rc = task_push_frame(vm, t, pc, vm->code + pc + 1);
    if (!rc) t->frames[t->n_frames - 1].base = base;
    return rc;
}

/* Integer shift count: 0..63 or a trap. */
#define SHIFT_COUNT(var)                                                                              \
    uint64_t var = R[ip->c];                                                                         \
    if (var > 63) {                                                                                  \
        rc = vm_trap(vm, ADEAD_E_TRAP, PC, "shift count %" PRId64 " is out of range (0..63)", S(var)); \
        goto stop;                                                                                   \
    }

/* The handler tables live inside run(); it hands them out when called without a VM. */
typedef struct {
    const void *const *plain, *const *tracing;
} handler_tables;

static int run(adead_vm *vm, handler_tables *export)
{
#if THREADED
    static const void *const dispatch[IOP__COUNT] = {
#define OP(name, value, kinds, flow, meaning) &&L_##name,
#include "../isa/opcodes.def"
#undef OP
        &&L_IOP_FUEL,
    };
    static const void *const tracing[IOP__COUNT] = {
#define OP(name, value, kinds, flow, meaning) &&L_TRACE,
#include "../isa/opcodes.def"
#undef OP
        &&L_TRACE,
    };
    if (export) {
        export->plain = dispatch;
        export->tracing = tracing;
        return 0;
    }
    const void *const *table = vm->trace_fn ? tracing : dispatch;
#define CASE(name) L_##name:
#define CASE_INTERNAL(name) L_##name:
#define DISPATCH() goto *ip->handler
#else
    if (export) {
        export->plain = export->tracing = NULL;
        return 0;
    }
    const int trace_on = vm->trace_fn != NULL;
#define CASE(name) case OP_##name:
#define CASE_INTERNAL(name) case name:
#define DISPATCH() goto dispatch_top
#endif
#define NEXT()          \
    do {                \
        ip++;           \
        DISPATCH();     \
    } while (0)
/* Entering a block charges its cost (vm/decode.c). */
#define CHARGE_AND_DISPATCH()                  \
    do {                                       \
        fuel -= ip->cost;                      \
        if (UNLIKELY(fuel < 0)) goto fuel_low; \
        DISPATCH();                            \
    } while (0)
#define ENTER(target)              \
    do {                           \
        ip = vm->code + (target);  \
        CHARGE_AND_DISPATCH();     \
    } while (0)
#define ENTER_AT(ptr)          \
    do {                       \
        ip = (ptr);            \
        CHARGE_AND_DISPATCH(); \
    } while (0)
/* A branch operand is a byte offset from the branch itself. Loading it puts a memory load on
 * the chain ip -> next ip, which bounds a hot loop at the load's latency; so the last taken
 * branch and its target stay in registers, and a loop's branch finds its target there (a
 * compare and a predicted branch). Operands never change, so the entry never goes stale. */
#define JUMP(rel)                                                                 \
    do {                                                                          \
        if (ip == taken_from) ENTER_AT(taken_to);                                 \
        taken_from = ip;                                                          \
        taken_to = (const dinstr *)((const char *)ip + (int32_t)(rel));           \
        ENTER_AT(taken_to);                                                       \
    } while (0)
#define FALL() ENTER_AT(ip + 1)

#define TRAP(status, ...)                                 \
    do {                                                  \
        rc = vm_trap(vm, status, PC, __VA_ARGS__);        \
        goto stop;                                        \
    } while (0)
#define CHECK(call)              \
    do {                         \
        if ((rc = (call))) goto stop; \
    } while (0)

    vm_task *task = &vm->tasks[vm->cur];
    uint64_t *R = task->regs + task->base; /* the window; its base is R - task->regs */
    const dinstr *taken_from = NULL, *taken_to = NULL; /* the one-entry branch target cache */
    int64_t fuel = vm->fuel;
    const dinstr *ip;
    int rc = ADEAD_OK;
    trace_state ts;
    ts.pending = 0;

    ENTER(task->pc);

#if !THREADED
dispatch_top:
    if (trace_on && ip->op != IOP_FUEL) trace_instr(vm, &ts, ip, task, BASE);
    switch (ip->op) {
#else
L_TRACE:
    if (ip->op != IOP_FUEL) trace_instr(vm, &ts, ip, task, BASE);
    goto *dispatch[ip->op];
#endif

    /* ---- control ---- */
    CASE(NOP) NEXT();
    CASE(JMP) JUMP(ip->a);
    CASE(JZ) if (!R[ip->a]) JUMP(ip->b); FALL();
    CASE(JNZ) if (R[ip->a]) JUMP(ip->b); FALL();
    CASE(JEQ) if (R[ip->a] == R[ip->b]) JUMP(ip->c); FALL();
    CASE(JNE) if (R[ip->a] != R[ip->b]) JUMP(ip->c); FALL();
    CASE(JLT) if (S(R[ip->a]) < S(R[ip->b])) JUMP(ip->c); FALL();
    CASE(JLE) if (S(R[ip->a]) <= S(R[ip->b])) JUMP(ip->c); FALL();
    CASE(JGT) if (S(R[ip->a]) > S(R[ip->b])) JUMP(ip->c); FALL();
    CASE(JGE) if (S(R[ip->a]) >= S(R[ip->b])) JUMP(ip->c); FALL();
    CASE(JEQI) if (S(R[ip->a]) == (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(JNEI) if (S(R[ip->a]) != (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(JLTI) if (S(R[ip->a]) < (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(JLEI) if (S(R[ip->a]) <= (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(JGTI) if (S(R[ip->a]) > (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(JGEI) if (S(R[ip->a]) >= (int32_t)ip->b) JUMP(ip->c); FALL();
    CASE(LOOP) {
        uint64_t i = R[ip->a] + 1;
        R[ip->a] = i;
        if (S(i) < S(R[ip->b])) JUMP(ip->c);
        FALL();
    }
    CASE(CALL) {
        uint32_t base = BASE, nb = base + ip->b;
        if (nb + ISA_NREGS <= task->n_regs && task->n_frames < task->cap_frames) {
            vm_frame *f = &task->frames[task->n_frames++];
            f->ret = ip + 1;
            f->base = base;
        } else {
            CHECK(call_slow(vm, task, PC, nb, base));
        }
        R = task->regs + nb;
        JUMP(ip->a);
    }
    CASE(RET) {
        if (task->n_frames) {
            vm_frame f = task->frames[--task->n_frames];
            R = task->regs + f.base;
            ENTER_AT(f.ret);
        }
        if (vm->cur == 0) goto halt; /* the main task's first frame returned */
        task_finish(vm, vm->cur, R[0]);
        goto pick_task; /* its slot is freed: nothing of it to save */
    }
    CASE(SPAWN) {
        uint64_t id;
        CHECK(task_spawn(vm, PC, ip->b, R[ip->c], &id));
        task = &vm->tasks[vm->cur]; /* a full table is swept, which may move this task's slot */
        R[ip->a] = id;
        NEXT();
    }
    CASE(YIELD) {
        task->pc = PC + 1;
        goto switch_task;
    }
    CASE(JOIN) {
        uint64_t id = R[ip->b];
        if (id >= vm->n_spawned) TRAP(ADEAD_E_TRAP, "there is no task %" PRId64, S(id));
        if (id == task->id) TRAP(ADEAD_E_TRAP, "task %" PRIu64 " joins itself", id);
        if (task_live_slot(vm, id) < 0) { /* it has ended */
            R[ip->a] = vm->results[id];
            FALL();
        }
        task->state = TASK_JOINING;
        task->join_task = id;
        task->join_reg = BASE + ip->a;
        task->pc = PC + 1;
        if (ts.pending) { /* tracing: the result arrives later, so say that instead */
            ts.pending = 0;
            vm_printf(vm->trace_fn, vm->trace_user, "  waits for task %" PRIu64 "\n", id);
        }
        goto switch_task;
    }
    CASE(PRINTI) {
        vm_printf(vm->print_fn, vm->print_user, "%" PRId64 "\n", S(R[ip->a]));
        NEXT();
    }
    CASE(PRINTF) {
        print_f32(vm, (uint32_t)R[ip->a]);
        NEXT();
    }
    CASE(PRINTS) {
        const bib_const *k = &vm->prog->mod.consts[ip->a];
        if (vm->print_fn) vm->print_fn(vm->print_user, (const char *)vm->prog->mod.data + k->data_off, k->data_size);
        NEXT();
    }
    CASE(PRINTT) {
        CHECK(tensor_print(vm, PC, ip->a, vm->print_fn, vm->print_user));
        NEXT();
    }
    CASE(TRAP) TRAP(ADEAD_E_TRAP, "user trap %d", (int32_t)ip->a);
    CASE(HALT) goto halt;

    /* ---- memory ---- */
    CASE(ALLOC) {
        uint64_t off;
        int hr = heap_alloc(&vm->heap, R[ip->b], HEAP_USER, &off);
        if (hr == HEAP_LIMIT)
            TRAP(ADEAD_E_MEMORY, "ALLOC of %" PRIu64 " bytes is over the memory limit (%" PRIu64 " bytes, %" PRIu64 " in use)",
                 R[ip->b], vm->heap.limit, heap_in_use(&vm->heap));
        if (hr) TRAP(ADEAD_E_NOMEM, "ALLOC of %" PRIu64 " bytes: the host is out of memory", R[ip->b]);
        R[ip->a] = off;
        NEXT();
    }
    CASE(FREE) {
        if (heap_release(&vm->heap, R[ip->a], HEAP_USER))
            TRAP(ADEAD_E_TRAP, "FREE of address %" PRIu64 ", which is not the start of a live ALLOC block", R[ip->a]);
        NEXT();
    }
#define MEM_ACCESS(width, addr_reg, imm)                                                              \
    uint64_t addr = R[addr_reg] + (uint64_t)S((int32_t)(imm));                                        \
    if (!heap_user_range_ok(&vm->heap, addr, width))                                                  \
        TRAP(ADEAD_E_TRAP, "%d-byte access at address %" PRIu64 " is outside every live ALLOC block", width, addr); \
    uint8_t *mem = vm->heap.base + addr;
    CASE(LOAD) {
        MEM_ACCESS(8, ip->b, ip->c)
        memcpy(&R[ip->a], mem, 8); /* VM memory is little-endian, like the host */
        NEXT();
    }
    CASE(STORE) {
        MEM_ACCESS(8, ip->a, ip->b)
        memcpy(mem, &R[ip->c], 8);
        NEXT();
    }
    CASE(LOADW) {
        uint32_t w;
        MEM_ACCESS(4, ip->b, ip->c)
        memcpy(&w, mem, 4);
        R[ip->a] = w;
        NEXT();
    }
    CASE(STOREW) {
        uint32_t w = (uint32_t)R[ip->c];
        MEM_ACCESS(4, ip->a, ip->b)
        memcpy(mem, &w, 4);
        NEXT();
    }
    CASE(LOADB) {
        MEM_ACCESS(1, ip->b, ip->c)
        R[ip->a] = *mem;
        NEXT();
    }
    CASE(STOREB) {
        MEM_ACCESS(1, ip->a, ip->b)
        *mem = (uint8_t)R[ip->c];
        NEXT();
    }
    CASE(MOV) R[ip->a] = R[ip->b]; NEXT();
    CASE(LDI) R[ip->a] = (uint64_t)ip->b | (uint64_t)ip->c << 32; NEXT();
    CASE(LDF) R[ip->a] = ip->b; NEXT();
    CASE(LDK) {
        const bib_const *k = &vm->prog->mod.consts[ip->b];
        uint64_t v = 0;
        memcpy(&v, vm->prog->mod.data + k->data_off, k->data_size); /* 8 (i64) or 4 (f32) bytes */
        R[ip->a] = v;
        NEXT();
    }
    CASE(TNEW) {
        int64_t dims[4];
        CHECK(tensor_set_shape(vm, PC, ip->a, (int)ip->c, gather_dims(R, ip, dims)));
        NEXT();
    }
    CASE(TLOADK) CHECK(tensor_from_const(vm, PC, ip->a, ip->b)); NEXT();
    CASE(TLD) {
        uint64_t v;
        CHECK(tensor_element(vm, PC, ip->b, R[ip->c], &v, 0));
        R[ip->a] = v;
        NEXT();
    }
    CASE(TST) {
        uint64_t v = R[ip->c];
        CHECK(tensor_element(vm, PC, ip->a, R[ip->b], &v, 1));
        NEXT();
    }
    CASE(TDIM) {
        const vm_tensor *t = &vm->tensors[ip->b];
        if (t->rank < 0) TRAP(ADEAD_E_TRAP, "tensor %u is empty", ip->b);
        if ((int)ip->c >= t->rank) TRAP(ADEAD_E_TRAP, "axis %u of a rank-%d tensor", ip->c, t->rank);
        R[ip->a] = (uint64_t)t->dims[ip->c];
        NEXT();
    }
    CASE(TSIZE) {
        const vm_tensor *t = &vm->tensors[ip->b];
        if (t->rank < 0) TRAP(ADEAD_E_TRAP, "tensor %u is empty", ip->b);
        R[ip->a] = (uint64_t)t->count;
        NEXT();
    }
    CASE(TFREE) CHECK(tensor_release(vm, PC, ip->a)); NEXT();
    CASE(TCOPY) CHECK(tensor_copy(vm, PC, ip->a, ip->b)); NEXT();
    CASE(TRESHAPE) {
        int64_t dims[4];
        CHECK(tensor_reshape(vm, PC, ip->a, (int)ip->c, gather_dims(R, ip, dims)));
        NEXT();
    }
    CASE(TFILL) CHECK(tensor_fill(vm, PC, ip->a, R[ip->b])); NEXT();

    /* ---- arithmetic: i64 wraps (done in uint64_t, where C defines it) ---- */
    CASE(ADD) R[ip->a] = R[ip->b] + R[ip->c]; NEXT();
    CASE(SUB) R[ip->a] = R[ip->b] - R[ip->c]; NEXT();
    CASE(MUL) R[ip->a] = R[ip->b] * R[ip->c]; NEXT();
    CASE(DIV) {
        int64_t x = S(R[ip->b]), y = S(R[ip->c]);
        if (!y) TRAP(ADEAD_E_TRAP, "division by zero");
        R[ip->a] = (y == -1) ? 0 - (uint64_t)x : (uint64_t)(x / y);
        NEXT();
    }
    CASE(REM) {
        int64_t x = S(R[ip->b]), y = S(R[ip->c]);
        if (!y) TRAP(ADEAD_E_TRAP, "remainder by zero");
        R[ip->a] = (y == -1) ? 0 : (uint64_t)(x % y);
        NEXT();
    }
    CASE(AND) R[ip->a] = R[ip->b] & R[ip->c]; NEXT();
    CASE(OR) R[ip->a] = R[ip->b] | R[ip->c]; NEXT();
    CASE(XOR) R[ip->a] = R[ip->b] ^ R[ip->c]; NEXT();
    CASE(SHL) {
        SHIFT_COUNT(n)
        R[ip->a] = R[ip->b] << n;
        NEXT();
    }
    CASE(SHR) {
        SHIFT_COUNT(n)
        R[ip->a] = R[ip->b] >> n;
        NEXT();
    }
    CASE(SAR) {
        SHIFT_COUNT(n)
        uint64_t x = R[ip->b];
        R[ip->a] = (x >> n) | ((x >> 63) ? ~(~(uint64_t)0 >> n) : 0); /* sign fill, no UB */
        NEXT();
    }
    CASE(NEG) R[ip->a] = 0 - R[ip->b]; NEXT();
    CASE(NOT) R[ip->a] = ~R[ip->b]; NEXT();
    CASE(ADDI) R[ip->a] = R[ip->b] + (uint64_t)S((int32_t)ip->c); NEXT();
    CASE(MULI) R[ip->a] = R[ip->b] * (uint64_t)S((int32_t)ip->c); NEXT();
    CASE(EQ) R[ip->a] = R[ip->b] == R[ip->c]; NEXT();
    CASE(NE) R[ip->a] = R[ip->b] != R[ip->c]; NEXT();
    CASE(LT) R[ip->a] = S(R[ip->b]) < S(R[ip->c]); NEXT();
    CASE(LE) R[ip->a] = S(R[ip->b]) <= S(R[ip->c]); NEXT();
    CASE(LTU) R[ip->a] = R[ip->b] < R[ip->c]; NEXT();
    CASE(LEU) R[ip->a] = R[ip->b] <= R[ip->c]; NEXT();

    /* ---- f32 registers: the model of isa/f32.h, NaN canonical ---- */
    CASE(FADD) SETF(R[ip->a], f32_add(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FSUB) SETF(R[ip->a], f32_sub(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FMUL) SETF(R[ip->a], f32_mul(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FDIV) SETF(R[ip->a], f32_div(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FMA) SETF(R[ip->a], f32_fma(F(R[ip->b]), F(R[ip->c]), F(R[ip->d]))); NEXT();
    CASE(FNEG) SETF(R[ip->a], f32_neg(F(R[ip->b]))); NEXT();
    CASE(FABS) SETF(R[ip->a], f32_abs(F(R[ip->b]))); NEXT();
    CASE(FMIN) SETF(R[ip->a], f32_min(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FMAX) SETF(R[ip->a], f32_max(F(R[ip->b]), F(R[ip->c]))); NEXT();
    CASE(FEXP) SETF(R[ip->a], f32_exp(F(R[ip->b]))); NEXT();
    CASE(FEQ) R[ip->a] = f32_eq(F(R[ip->b]), F(R[ip->c])); NEXT();
    CASE(FLT) R[ip->a] = f32_lt(F(R[ip->b]), F(R[ip->c])); NEXT();
    CASE(FLE) R[ip->a] = f32_le(F(R[ip->b]), F(R[ip->c])); NEXT();
    CASE(ITOF) R[ip->a] = f32_bits((float)S(R[ip->b])); NEXT();
    CASE(FTOI) {
        float x = f32_daz(F(R[ip->b]));
        /* -2^63 converts; 2^63 and beyond, and NaN, do not. */
        if (!(x >= -9223372036854775808.0f && x < 9223372036854775808.0f))
            TRAP(ADEAD_E_TRAP, "%.9g does not fit in an i64", (double)x);
        R[ip->a] = (uint64_t)(int64_t)x;
        NEXT();
    }

    /* ---- tensor ops: shapes are checked in vm/tensor.c, the work runs on an executor ---- */
    CASE(MATMUL) CHECK(tensor_op(vm, PC, OP_MATMUL, 0, ip->a, ip->b, ip->c, 0)); NEXT();
    CASE(TRANSPOSE) CHECK(tensor_op(vm, PC, OP_TRANSPOSE, 0, ip->a, ip->b, 0, 0)); NEXT();
    CASE(SOFTMAX) CHECK(tensor_op(vm, PC, OP_SOFTMAX, 0, ip->a, ip->b, 0, 0)); NEXT();
    CASE(RELU) CHECK(tensor_op(vm, PC, OP_RELU, 0, ip->a, ip->b, 0, 0)); NEXT();
    CASE(ATTENTION) CHECK(tensor_op(vm, PC, OP_ATTENTION, 0, ip->a, ip->b, ip->c, ip->d)); NEXT();
    CASE(ATTENTION_CAUSAL) CHECK(tensor_op(vm, PC, OP_ATTENTION_CAUSAL, 0, ip->a, ip->b, ip->c, ip->d)); NEXT();
    CASE(TADD) CHECK(tensor_op(vm, PC, OP_TADD, 0, ip->a, ip->b, ip->c, 0)); NEXT();
    CASE(TSUB) CHECK(tensor_op(vm, PC, OP_TSUB, 0, ip->a, ip->b, ip->c, 0)); NEXT();
    CASE(TMUL) CHECK(tensor_op(vm, PC, OP_TMUL, 0, ip->a, ip->b, ip->c, 0)); NEXT();

    /* ---- GPU and Vulkan: the same ops; with no GPU executor they run on the CPU ---- */
    CASE(GPU_INIT) NEXT();
    CASE(GPU_ALLOC) CHECK(tensor_place_on_device(vm, PC, ip->a)); NEXT();
    CASE(GPU_MATMUL) CHECK(tensor_op(vm, PC, OP_MATMUL, 1, ip->a, ip->b, ip->c, 0)); NEXT();
    CASE(GPU_SYNC) CHECK(stream_flush(vm, PC)); NEXT();
    CASE(VK_INIT) NEXT();
    CASE(VK_COMPUTE) {
        CHECK(tensor_op(vm, PC, (int)ip->kernel, 2, ip->a, ip->b, ip->c, ip->d)); /* 2: a Vulkan device first */
        if (ip[1].op == OP_VK_ARG) ip++; /* its 4th tensor, already in d: the pair is one instruction */
        NEXT();
    }
    CASE(VK_ARG) NEXT(); /* never reached: its VK_COMPUTE steps over it, and nothing jumps to it */
    CASE(VK_SUBMIT) CHECK(stream_flush(vm, PC)); NEXT();
    CASE(VK_SYNC) CHECK(stream_flush(vm, PC)); NEXT();

    /* ---- internal ---- */
    CASE_INTERNAL(IOP_FUEL) {
        vm->code[vm->patch_pc].op = vm->patch_op;
        vm->code[vm->patch_pc].handler = vm->patch_handler;
        vm->patch_pc = -1;
        task->pc = PC;
        task->base = BASE;
        vm->fuel = 0;
        trace_writes(vm, &ts);
        if (UNLIKELY(vm->n_devices) && (rc = stream_flush(vm, PC))) return rc; /* no work left in flight */
        return vm_trap(vm, ADEAD_E_FUEL, PC, "out of fuel after %" PRIu64 " instructions", vm->fuel_granted);
    }
#if !THREADED
    default: TRAP(ADEAD_E_TRAP, "internal error: opcode %u has no handler", ip->op);
    }
#endif

fuel_low: {
    /* This block can run `allowed` more instructions; stop at the next one. A VK_ARG is not one
     * (it costs nothing, vm/decode.c): stop after it, where its VK_COMPUTE goes on. */
    int64_t allowed = fuel + ip->cost;
    uint32_t stop_pc = PC;
    for (int64_t n = allowed; n > 0; stop_pc++)
        if (vm->code[stop_pc].op != OP_VK_ARG) n--;
    while (vm->code[stop_pc].op == OP_VK_ARG) stop_pc++;
    vm->patch_pc = stop_pc;
    dinstr *stop_at = &vm->code[vm->patch_pc];
    vm->patch_op = stop_at->op;
    vm->patch_handler = stop_at->handler;
    stop_at->op = IOP_FUEL;
#if THREADED
    stop_at->handler = table[IOP_FUEL];
#endif
    DISPATCH();
}

switch_task:
    task->base = BASE;
pick_task: {
    /* Results never depend on where a task switch falls: the devices' work is done first. */
    if (UNLIKELY(vm->n_devices) && (rc = stream_flush(vm, PC))) goto stop;
    int next = task_next_runnable(vm, vm->cur);
    if (next < 0) {
        rc = vm_trap(vm, ADEAD_E_TRAP, PC, "deadlock: every live task is waiting in JOIN");
        goto stop;
    }
    vm->cur = (uint32_t)next;
    task = &vm->tasks[next];
    R = task->regs + task->base;
    ENTER(task->pc);
}

halt:
    rc = ADEAD_OK;
    if (UNLIKELY(vm->n_devices)) { /* the outputs come back to the host; nothing stays in flight */
        rc = residency_outputs_to_host(vm, PC);
        if (!rc) rc = stream_flush(vm, PC);
    }
stop:
    trace_writes(vm, &ts);
    if (vm->patch_pc >= 0) {
        vm->code[vm->patch_pc].op = vm->patch_op;
        vm->code[vm->patch_pc].handler = vm->patch_handler;
        vm->patch_pc = -1;
    }
    vm->fuel = fuel + ip->cost - 1;
    if (task->state != TASK_DONE) { /* a task that just ended has no stacks to come back to */
        task->pc = PC;
        task->base = BASE;
    }
    return rc;
}

int interp_run(adead_vm *vm) { return run(vm, NULL); }

void interp_bind_handlers(adead_vm *vm)
{
    int traced = vm->trace_fn != NULL;
    if (vm->handlers_traced == traced) return;
    handler_tables t;
    run(NULL, &t);
    const void *const *table = traced ? t.tracing : t.plain;
    if (table)
        for (uint32_t pc = 0; pc < vm->prog->mod.n_code; pc++) vm->code[pc].handler = table[vm->code[pc].op];
    vm->handlers_traced = traced;
}
