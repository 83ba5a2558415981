/* Instruction semantics, traps, memory, tasks and fuel, through assembled programs. Expected
 * values are worked out by hand from docs/machine.md and docs/ops.md. */
#include "testutil.h"

typedef struct {
    int status;
    char err[1024];
    capture out;
    uint64_t instructions;
} outcome;

static outcome run_with(const char *src, uint64_t fuel, uint64_t mem)
{
    outcome o;
    memset(&o, 0, sizeof o);
    adead_program *p = assemble_ok(src);
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    adead_vm_set_print(vm, capture_write, &o.out);
    if (fuel) adead_vm_set_fuel(vm, fuel);
    if (mem) adead_vm_set_memory_limit(vm, mem);
    o.status = adead_vm_run(vm);
    snprintf(o.err, sizeof o.err, "%s", adead_vm_error(vm));
    o.instructions = adead_vm_instructions(vm);
    adead_vm_free(vm);
    adead_program_free(p);
    return o;
}

static outcome run(const char *src) { return run_with(src, 0, 0); }

/* The program must halt and print exactly `want`. */
static void expect_output(const char *src, const char *want)
{
    outcome o = run(src);
    if (o.status) fail_msg("status %d: %s\n%s", o.status, o.err, src);
    if (strcmp(o.out.buf, want)) fail_msg("printed:\n%s\nwanted:\n%s", o.out.buf, want);
}

/* The program must trap with `status` and a message containing each of the phrases. */
static void expect_trap(const char *src, int status, const char *phrase1, const char *phrase2)
{
    outcome o = run(src);
    if (o.status != status) fail_msg("status %d (wanted %d): %s", o.status, status, o.err);
    if (phrase1 && !strstr(o.err, phrase1)) fail_msg("'%s' not in: %s", phrase1, o.err);
    if (phrase2 && !strstr(o.err, phrase2)) fail_msg("'%s' not in: %s", phrase2, o.err);
}

static void test_integer_arithmetic_wraps(void **state)
{
    (void)state;
    expect_output("LDI r1, 9223372036854775807\n ADDI r2, r1, 1\n PRINTI r2\n"
                  "LDI r3, -9223372036854775808\n SUB r4, r3, r0\n ADDI r5, r0, 1\n SUB r4, r3, r5\n PRINTI r4\n"
                  "LDI r6, 4294967296\n MUL r7, r6, r6\n PRINTI r7\n"
                  "MULI r8, r1, 2\n PRINTI r8\n NEG r9, r3\n PRINTI r9\n HALT\n",
                  "-9223372036854775808\n9223372036854775807\n0\n-2\n-9223372036854775808\n");
}

static void test_division_and_remainder(void **state)
{
    (void)state;
    expect_output("LDI r1, -7\n LDI r2, 2\n DIV r3, r1, r2\n PRINTI r3\n REM r3, r1, r2\n PRINTI r3\n"
                  "LDI r2, -2\n DIV r3, r1, r2\n PRINTI r3\n REM r3, r1, r2\n PRINTI r3\n"
                  "LDI r4, -9223372036854775808\n LDI r5, -1\n DIV r6, r4, r5\n PRINTI r6\n REM r6, r4, r5\n PRINTI r6\n HALT\n",
                  "-3\n-1\n3\n-1\n-9223372036854775808\n0\n");
    expect_trap("LDI r1, 5\n LDI r2, 0\n DIV r3, r1, r2\n HALT\n", ADEAD_E_TRAP, "test.adasm:3: pc 2 (DIV)", "division by zero");
    expect_trap("LDI r1, 5\n REM r3, r1, r2\n HALT\n", ADEAD_E_TRAP, "pc 1 (REM)", "remainder by zero");
}

static void test_bits_and_shifts(void **state)
{
    (void)state;
    expect_output("LDI r1, 0xF0F0\n LDI r2, 0xFF00\n AND r3, r1, r2\n PRINTI r3\n OR r3, r1, r2\n PRINTI r3\n"
                  "XOR r3, r1, r2\n PRINTI r3\n NOT r3, r0\n PRINTI r3\n"
                  "LDI r4, -16\n LDI r5, 2\n SAR r6, r4, r5\n PRINTI r6\n SHR r6, r4, r5\n PRINTI r6\n SHL r6, r4, r5\n PRINTI r6\n"
                  "LDI r5, 63\n SAR r6, r4, r5\n PRINTI r6\n SHR r6, r4, r5\n PRINTI r6\n LDI r5, 0\n SHL r6, r4, r5\n PRINTI r6\n HALT\n",
                  "61440\n65520\n4080\n-1\n-4\n4611686018427387900\n-64\n-1\n1\n-16\n");
    expect_trap("LDI r5, 64\n SHL r6, r4, r5\n HALT\n", ADEAD_E_TRAP, "SHL", "shift count 64 is out of range");
    expect_trap("LDI r5, -1\n SAR r6, r4, r5\n HALT\n", ADEAD_E_TRAP, "SAR", "shift count -1");
}

static void test_comparisons_and_branches(void **state)
{
    (void)state;
    expect_output("LDI r1, -1\n LDI r2, 1\n LT r3, r1, r2\n PRINTI r3\n LTU r3, r1, r2\n PRINTI r3\n LE r3, r1, r1\n PRINTI r3\n"
                  "LEU r3, r2, r1\n PRINTI r3\n EQ r3, r1, r1\n PRINTI r3\n NE r3, r1, r1\n PRINTI r3\n"
                  "JLT r2, r1, bad\n JGE r1, r2, bad\n JGT r1, r2, bad\n JLE r2, r1, bad\n JEQ r1, r2, bad\n JNE r1, r1, bad\n"
                  "JZ r1, bad\n JNZ r0, bad\n JLTI r1, -1, bad\n JGTI r1, -1, bad\n JEQI r1, 0, bad\n JNEI r1, -1, bad\n"
                  "JGEI r1, 0, bad\n JLEI r2, 0, bad\n"
                  "JLTI r1, 0, good\nbad:\n PRINTI r1\n HALT\ngood:\n PRINTI r2\n HALT\n",
                  "1\n0\n1\n1\n1\n0\n1\n");
}

static void test_f32_register_ops(void **state)
{
    (void)state;
    /* 0.1f prints as %.9g; NaN inputs with payloads come out canonical; -0 survives FNEG. */
    expect_output("LDF r1, 0.1\n PRINTF r1\n LDF r2, 3\n FDIV r3, r1, r2\n PRINTF r3\n"
                  "LDF r4, nan(0x7fc12345)\n FADD r5, r4, r1\n LDI r6, 0xFFFFFFFF\n AND r7, r5, r6\n PRINTI r7\n"
                  "LDF r8, 0\n FNEG r9, r8\n PRINTF r9\n FABS r9, r9\n PRINTF r9\n"
                  "LDF r10, -0\n FMAX r11, r10, r8\n PRINTF r11\n FMIN r11, r8, r10\n PRINTF r11\n"
                  "FEXP r12, r8\n PRINTF r12\n FEQ r13, r4, r4\n PRINTI r13\n FLT r13, r10, r8\n PRINTI r13\n FLE r13, r10, r8\n PRINTI r13\n"
                  "LDI r14, 9007199254740993\n ITOF r15, r14\n PRINTF r15\n"
                  "LDF r16, -2.75\n FTOI r17, r16\n PRINTI r17\n HALT\n",
                  "0.100000001\n0.0333333351\n2143289344\n-0\n0\n0\n-0\n1\n0\n0\n1\n9.00719925e+15\n-2\n");
    /* FMA rounds once: (1 + 2^-23)^2 - (1 + 2^-22) = 2^-46, lost by FMUL then FADD. */
    expect_output("LDF r1, 0x1.000002p+0\n LDF r2, -0x1.000004p+0\n FMA r3, r1, r1, r2\n PRINTF r3\n"
                  "FMUL r4, r1, r1\n FADD r4, r4, r2\n PRINTF r4\n HALT\n",
                  "1.42108547e-14\n0\n");
    /* Subnormal immediates read as zero; tiny products flush. */
    expect_output("LDF r1, 1e-45\n LDF r2, 1\n FMUL r3, r1, r2\n PRINTF r3\n LDF r4, 1e-30\n FMUL r5, r4, r4\n PRINTF r5\n HALT\n",
                  "0\n0\n");
    expect_trap("LDF r1, nan\n FTOI r2, r1\n HALT\n", ADEAD_E_TRAP, "FTOI", "does not fit");
    expect_trap("LDF r1, 1e19\n FTOI r2, r1\n HALT\n", ADEAD_E_TRAP, "FTOI", "does not fit");
    expect_output("LDF r1, -9.22337204e18\n FTOI r2, r1\n PRINTI r2\n HALT\n", "-9223372036854775808\n");
}

static void test_constants_and_strings(void **state)
{
    (void)state;
    expect_output(".const big i64 -123456789012345\n.const half f32 0.5\n.const hello str \"hi \\\"there\\\"\\n\"\n"
                  "LDK r1, big\n PRINTI r1\n LDK r2, half\n PRINTF r2\n PRINTS hello\n HALT\n",
                  "-123456789012345\n0.5\nhi \"there\"\n");
}

static void test_memory(void **state)
{
    (void)state;
    /* Deterministic addresses: block 0 is reserved, blocks are 4 KiB, first fit. */
    expect_output("LDI r1, 16\n ALLOC r2, r1\n PRINTI r2\n LDI r3, 5000\n ALLOC r4, r3\n PRINTI r4\n FREE r2\n ALLOC r5, r1\n PRINTI r5\n"
                  "LDI r6, 0x0102030405060708\n STORE r4, 4992, r6\n LOAD r7, r4, 4992\n PRINTI r7\n"
                  "LOADB r7, r4, 4992\n PRINTI r7\n LOADW r7, r4, 4996\n PRINTI r7\n LDI r8, -1\n STOREW r4, 0, r8\n LOAD r7, r4, 0\n PRINTI r7\n"
                  "STOREB r4, 7, r8\n LOAD r7, r4, 0\n PRINTI r7\n HALT\n",
                  "4096\n8192\n4096\n72623859790382856\n8\n16909060\n4294967295\n-72057589742960641\n");
    expect_trap("LDI r1, 16\n ALLOC r2, r1\n LOAD r3, r2, 9\n HALT\n", ADEAD_E_TRAP, "pc 2 (LOAD)", "8-byte access at address 4105");
    expect_trap("LDI r1, 16\n ALLOC r2, r1\n LOAD r3, r2, -1\n HALT\n", ADEAD_E_TRAP, "LOAD", "outside every live ALLOC block");
    expect_trap("LOAD r3, r0, 0\n HALT\n", ADEAD_E_TRAP, "address 0", NULL);
    expect_trap("LDI r1, 16\n ALLOC r2, r1\n FREE r2\n LOADB r3, r2, 0\n HALT\n", ADEAD_E_TRAP, "LOADB", "1-byte access");
    expect_trap("LDI r1, 16\n ALLOC r2, r1\n FREE r2\n FREE r2\n HALT\n", ADEAD_E_TRAP, "pc 3 (FREE)", "not the start of a live ALLOC block");
    expect_trap("LDI r1, 16\n ALLOC r2, r1\n ADDI r2, r2, 8\n FREE r2\n HALT\n", ADEAD_E_TRAP, "FREE", NULL);
    /* Tensor storage is not reachable through addresses. */
    expect_trap(".tensor t i64 [4]\n LDI r1, 4096\n LOAD r2, r1, 0\n HALT\n", ADEAD_E_TRAP, "LOAD", NULL);
    /* The memory limit. */
    outcome o = run_with("LDI r1, 100000\n ALLOC r2, r1\n HALT\n", 0, 65536);
    assert_int_equal(o.status, ADEAD_E_MEMORY);
    assert_non_null(strstr(o.err, "ALLOC of 100000 bytes is over the memory limit (65536 bytes"));
    o = run("LDI r1, -1\n ALLOC r2, r1\n HALT\n");
    assert_int_equal(o.status, ADEAD_E_MEMORY);
    /* Past 2^32 blocks (a limit over 16 TiB): refused, not truncated into a small block. */
    o = run_with("LDI r1, 61440\n ALLOC r2, r1\n FREE r2\n LDI r1, 17592186105856\n ALLOC r3, r1\n STORE r3, 61439, r1\n HALT\n", 0,
                 (uint64_t)17 << 40);
    assert_int_equal(o.status, ADEAD_E_MEMORY);
}

/* Tensor ops while every tensor is empty: the heap's base is backed from the start (clang's UBSan
 * saw NULL + offset here). */
static void test_ops_on_empty_tensors(void **state)
{
    (void)state;
    expect_output(".tensor q f32 [0]\n.tensor o f32 [0]\n RELU o, q\n SOFTMAX o, q\n TADD o, q, q\n"
                  " TSIZE r1, o\n PRINTI r1\n HALT\n", "0\n");
}

/* New tensors and ALLOC'd memory read as zero, whether their blocks are fresh (past every
 * earlier allocation: vm/heap.c leaves such pages untouched) or were used before and freed. */
static void test_new_memory_is_zero(void **state)
{
    (void)state;
    expect_output(".tensor a i32\n.tensor b i32\n.tensor c i32\n"
                  " LDI r1, 5000\n TNEW a, r1, 1\n LDI r2, 9\n TFILL a, r2\n TFREE a\n"
                  " TNEW b, r1, 1\n LDI r3, 4999\n TLD r4, b, r3\n PRINTI r4\n"          /* reused blocks */
                  " LDI r5, 300000\n TNEW c, r5, 1\n LDI r6, 299999\n TLD r7, c, r6\n PRINTI r7\n" /* fresh */
                  " LDI r8, 64\n ALLOC r9, r8\n LDI r10, -1\n STORE r9, 0, r10\n FREE r9\n"
                  " ALLOC r11, r8\n LOAD r12, r11, 0\n PRINTI r12\n HALT\n",
                  "0\n0\n0\n");
}

static void test_tensor_instructions(void **state)
{
    (void)state;
    expect_output(".tensor a i32\n.tensor b i32\n.const k i64 [2, 2] = [1, -2, 3, 4]\n.tensor c i64\n"
                  "LDI r1, 2\n LDI r2, 3\n TNEW a, r1, 2\n TSIZE r3, a\n PRINTI r3\n TDIM r3, a, 1\n PRINTI r3\n"
                  "LDI r4, 5\n LDI r5, -7\n TST a, r4, r5\n TLD r6, a, r4\n PRINTI r6\n"
                  "TCOPY b, a\n LDI r7, 6\n LDI r8, 1\n TRESHAPE b, r7, 1\n TLD r6, b, r4\n PRINTI r6\n TFILL a, r8\n TLD r6, a, r4\n PRINTI r6\n"
                  "TLD r6, b, r4\n PRINTI r6\n PRINTT b\n TLOADK c, k\n PRINTT c\n TFREE c\n PRINTT c\n HALT\n",
                  "6\n3\n-7\n-7\n1\n-7\ni32[6] [0, 0, 0, 0, 0, -7]\ni64[2,2] [[1, -2], [3, 4]]\n(empty tensor)\n");
    expect_trap(".tensor a f32 [3]\n LDI r1, 3\n TLD r2, a, r1\n HALT\n", ADEAD_E_TRAP, "TLD", "index 3 is out of bounds for tensor a (3 elements)");
    expect_trap(".tensor a f32 [3]\n LDI r1, -1\n TST a, r1, r1\n HALT\n", ADEAD_E_TRAP, "TST", "index -1");
    expect_trap(".tensor a f32\n TSIZE r1, a\n HALT\n", ADEAD_E_TRAP, "TSIZE", "empty");
    expect_trap(".tensor a f32\n LDI r1, 0\n TLD r2, a, r1\n HALT\n", ADEAD_E_TRAP, "tensor a is empty", NULL);
    expect_trap(".tensor a f32 [2, 3]\n TDIM r1, a, 2\n HALT\n", ADEAD_E_TRAP, "TDIM", "axis 2 of a rank-2 tensor");
    expect_trap(".tensor a f32\n LDI r1, -2\n TNEW a, r1, 1\n HALT\n", ADEAD_E_TRAP, "tensor a: shape [-2]", "negative dimension");
    expect_trap(".tensor a f32\n LDI r1, 2000000\n MOV r2, r1\n MOV r3, r1\n MOV r4, r1\n TNEW a, r1, 4\n HALT\n", ADEAD_E_TRAP,
                "element count over 2^40", NULL);
    expect_trap(".tensor a f32 [2, 3]\n LDI r1, 4\n TRESHAPE a, r1, 1\n HALT\n", ADEAD_E_TRAP, "cannot become [4]", NULL);
    outcome o = run_with(".tensor a f32\n LDI r1, 1000000\n TNEW a, r1, 1\n HALT\n", 0, 1 << 20);
    assert_int_equal(o.status, ADEAD_E_MEMORY);
    assert_non_null(strstr(o.err, "4000000 bytes of tensor data are over the memory limit"));
}

static void test_calls_and_recursion(void **state)
{
    (void)state;
    /* The window: the callee's r0 is the caller's r5; registers below stay. */
    expect_output("LDI r1, 11\n LDI r5, 4\n CALL twice, r5\n PRINTI r5\n PRINTI r1\n HALT\n"
                  "twice:\n ADD r0, r0, r0\n LDI r1, 99\n RET\n",
                  "8\n11\n");
    /* 100000 nested calls are fine... */
    expect_output("LDI r1, 100000\n CALL down, r1\n PRINTI r1\n HALT\n"
                  "down:\n JEQI r0, 0, out\n ADDI r1, r0, -1\n CALL down, r1\n MOV r0, r1\nout:\n RET\n",
                  "0\n");
    /* ...unbounded recursion stops with a trap, not a crash. */
    expect_trap("CALL f, r0\n HALT\nf:\n CALL f, r1\n RET\n", ADEAD_E_TRAP, "CALL", "call stack overflow");
    outcome o = run_with("CALL f, r0\n HALT\nf:\n CALL f, r200\n RET\n", 0, 1 << 20);
    assert_int_equal(o.status, ADEAD_E_MEMORY);
    assert_non_null(strstr(o.err, "over the memory limit"));
    /* RET from the main task's first frame ends the program. */
    expect_output("PRINTI r0\n RET\n", "0\n");
}

static void test_tasks_are_deterministic(void **state)
{
    (void)state;
    const char *src = "LDI r1, 1\n SPAWN r2, w, r1\n LDI r1, 2\n SPAWN r3, w, r1\n PRINTI r2\n YIELD\n PRINTI r0\n"
                      "JOIN r4, r2\n JOIN r5, r3\n PRINTI r4\n PRINTI r5\n HALT\n"
                      "w:\n PRINTI r0\n YIELD\n PRINTI r0\n MULI r0, r0, 100\n RET\n";
    /* main runs to its YIELD, then 1 and 2 in id order, then main; the workers finish as main joins. */
    for (int i = 0; i < 3; i++) expect_output(src, "1\n1\n2\n0\n1\n2\n100\n200\n");
    expect_trap("JOIN r1, r0\n HALT\n", ADEAD_E_TRAP, "JOIN", "joins itself");
    expect_trap("LDI r1, 7\n JOIN r1, r1\n HALT\n", ADEAD_E_TRAP, "JOIN", "there is no task 7");
    expect_trap("SPAWN r1, w, r0\n JOIN r2, r1\n HALT\nw:\n JOIN r1, r0\n RET\n", ADEAD_E_TRAP, "deadlock", NULL);
    expect_trap("again:\n SPAWN r1, w, r0\n JMP again\nw:\n RET\n", ADEAD_E_TRAP, "SPAWN", "more than 1024 tasks");
}

/* The task limit counts live tasks only: a worker spawns and joins 2000 short tasks one after
 * another (the table fills with ended ones and is swept, moving the worker's own slot), an
 * ended task can be joined twice, and ids keep counting up. */
static void test_ended_tasks_free_their_slots(void **state)
{
    (void)state;
    expect_output("LDI r9, 5\n SPAWN r1, short, r9\n JOIN r2, r1\n JOIN r3, r1\n"
                  "SPAWN r4, worker, r0\n JOIN r5, r4\n SPAWN r6, short, r0\n"
                  "PRINTI r2\n PRINTI r3\n PRINTI r5\n PRINTI r6\n HALT\n"
                  "short:\n MULI r0, r0, 2\n RET\n"
                  "worker:\n LDI r1, 0\n LDI r2, 2000\n LDI r3, 0\n"
                  "wl:\n SPAWN r4, short, r1\n JOIN r5, r4\n ADD r3, r3, r5\n LOOP r1, r2, wl\n"
                  "ADDI r0, r3, 0\n RET\n",
                  "10\n10\n3998000\n2003\n");
    /* Stacks of ended tasks go back to the memory limit: 5000 tasks fit in 4 MiB. */
    outcome o = run_with("LDI r1, 0\n LDI r2, 5000\nl:\n SPAWN r3, w, r1\n JOIN r4, r3\n LOOP r1, r2, l\n PRINTI r4\n HALT\n"
                         "w:\n RET\n", 0, 4 << 20);
    if (o.status) fail_msg("status %d: %s", o.status, o.err);
    assert_string_equal(o.out.buf, "4999\n");
}

static void test_user_trap_and_halt(void **state)
{
    (void)state;
    expect_trap("NOP\n TRAP 42\n", ADEAD_E_TRAP, "test.adasm:2: pc 1 (TRAP): user trap 42", NULL);
    expect_output("HALT\n PRINTI r0\n HALT\n", "");
}

/* A loop of known length: every budget below the total stops with ADEAD_E_FUEL having run
 * exactly that many instructions, resuming always reaches the same end, and the total is
 * counted exactly. 1 + 3 + 4*(n-1)... counted by hand: LDI, LDI, then n rounds of
 * (ADD, ADDI, LOOP) but the last LOOP falls through to PRINTI and HALT. */
static const char *counted_loop = "LDI r1, 0\n LDI r2, 5\nloop:\n ADD r3, r3, r1\n ADDI r4, r4, 2\n LOOP r1, r2, loop\n PRINTI r3\n HALT\n";
#define COUNTED_LOOP_INSTRUCTIONS (2 + 5 * 3 + 2)

static void test_fuel_is_exact(void **state)
{
    (void)state;
    outcome full = run(counted_loop);
    assert_int_equal(full.status, ADEAD_OK);
    assert_int_equal(full.instructions, COUNTED_LOOP_INSTRUCTIONS);
    assert_string_equal(full.out.buf, "10\n");
    for (uint64_t f = 1; f < COUNTED_LOOP_INSTRUCTIONS; f++) {
        outcome o = run_with(counted_loop, f, 0);
        assert_int_equal(o.status, ADEAD_E_FUEL);
        assert_int_equal(o.instructions, f);
        assert_non_null(strstr(o.err, "out of fuel"));
    }
    outcome o = run_with(counted_loop, COUNTED_LOOP_INSTRUCTIONS, 0);
    assert_int_equal(o.status, ADEAD_OK);
}

/* Stopping after every k instructions and resuming gives the same run as no stops at all. */
static void test_fuel_resume(void **state)
{
    (void)state;
    const char *src = "LDI r1, 0\n LDI r2, 50\nloop:\n CALL sq, r5\n ADD r3, r3, r5\n ADD r5, r1, r0\n LOOP r1, r2, loop\n PRINTI r3\n HALT\n"
                      "sq:\n MUL r0, r0, r0\n RET\n";
    outcome full = run(src);
    assert_int_equal(full.status, ADEAD_OK);
    for (uint64_t step = 1; step <= 7; step++) {
        adead_program *p = assemble_ok(src);
        adead_vm *vm = adead_vm_new(p);
        capture out;
        memset(&out, 0, sizeof out);
        adead_vm_set_print(vm, capture_write, &out);
        adead_vm_set_fuel(vm, step);
        int rc, stops = 0;
        while ((rc = adead_vm_run(vm)) == ADEAD_E_FUEL) {
            assert_int_equal(adead_vm_instructions(vm), step * (uint64_t)(stops + 1));
            adead_vm_add_fuel(vm, step);
            stops++;
        }
        assert_int_equal(rc, ADEAD_OK);
        assert_int_equal(adead_vm_instructions(vm), full.instructions);
        assert_string_equal(out.buf, full.out.buf);
        adead_vm_free(vm);
        adead_program_free(p);
    }
}

/* The trace names every executed instruction with its line, and the registers it wrote. */
static void test_trace(void **state)
{
    (void)state;
    adead_program *p = assemble_ok("LDI r1, 7\n ADDI r2, r1, 1\n HALT\n");
    adead_vm *vm = adead_vm_new(p);
    capture tr;
    memset(&tr, 0, sizeof tr);
    adead_vm_set_trace(vm, capture_write, &tr);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    assert_string_equal(tr.buf, "[task 0] pc 0 test.adasm:1: LDI r1, 7\n  r1=7\n"
                                "[task 0] pc 1 test.adasm:2: ADDI r2, r1, 1\n  r2=8\n"
                                "[task 0] pc 2 test.adasm:3: HALT\n");
    adead_vm_free(vm);
    adead_program_free(p);
}

/* VK_COMPUTE of a 4-tensor kernel and the VK_ARG after it are one instruction: one unit of fuel,
 * one trace line (the one-line form) and one profile record, all at the VK_COMPUTE's pc; fuel
 * never runs out between them. */
static const char *vk_pair_src = ".tensor q f32 [2, 2] = [1, 2, 3, 4]\n.tensor o f32\n"
                                 " LDI r1, 1\n"                          /* pc 0, line 3 */
                                 " VK_COMPUTE ATTENTION, o, q, q, q\n"   /* pc 1 and 2, line 4 */
                                 " VK_COMPUTE ATTENTION_CAUSAL, o, o, q\n" /* pc 3, line 5 */
                                 " VK_ARG q\n"                           /* pc 4, line 6 */
                                 " PRINTT o\n"                           /* pc 5, line 7 */
                                 " HALT\n";                              /* pc 6, line 8 */

static void test_vk_compute_pair_is_one_instruction(void **state)
{
    (void)state;
    outcome full = run(vk_pair_src);
    assert_int_equal(full.status, ADEAD_OK);
    assert_int_equal(full.instructions, 5);
    static const char *const stops[] = {NULL, "test.adasm:4: pc 1 (VK_COMPUTE): out of fuel after 1 instructions",
                                        "test.adasm:5: pc 3 (VK_COMPUTE): out of fuel after 2 instructions",
                                        "test.adasm:7: pc 5 (PRINTT): out of fuel after 3 instructions",
                                        "test.adasm:8: pc 6 (HALT): out of fuel after 4 instructions"};
    for (uint64_t f = 1; f < 5; f++) {
        outcome o = run_with(vk_pair_src, f, 0);
        assert_int_equal(o.status, ADEAD_E_FUEL);
        assert_int_equal(o.instructions, f);
        if (!strstr(o.err, stops[f])) fail_msg("fuel %d: '%s' not in: %s", (int)f, stops[f], o.err);
    }

    adead_program *p = assemble_ok(vk_pair_src);
    adead_vm *vm = adead_vm_new(p);
    capture tr, out;
    memset(&tr, 0, sizeof tr);
    memset(&out, 0, sizeof out);
    adead_vm_set_trace(vm, capture_write, &tr);
    adead_vm_set_print(vm, capture_write, &out);
    assert_int_equal(adead_vm_set_profile(vm, 1), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    assert_string_equal(out.buf, full.out.buf);
    if (!strstr(tr.buf, "[task 0] pc 1 test.adasm:4: VK_COMPUTE ATTENTION, o, q, q, q\n  = o f32[2,2] <- q f32[2,2], q f32[2,2], q f32[2,2] on cpu\n"
                        "[task 0] pc 3 test.adasm:5: VK_COMPUTE ATTENTION_CAUSAL, o, o, q, q\n  = o f32[2,2] <- o f32[2,2], q f32[2,2], q f32[2,2] on cpu\n"
                        "[task 0] pc 5 test.adasm:7: PRINTT o\n") ||
        strstr(tr.buf, "VK_ARG"))
        fail_msg("trace:\n%s", tr.buf);
    char *prof = adead_vm_profile_text(vm);
    assert_non_null(prof);
    /* one record per op, at the VK_COMPUTE's pc and line */
    int records = 0;
    for (const char *line = prof; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line < '0' || *line > '9') continue;
        unsigned long pc = strtoul(line, NULL, 10);
        const char *want = records == 0 ? "test.adasm:4 " : "test.adasm:5 ";
        const char *kernel = records == 0 ? " ATTENTION " : " ATTENTION_CAUSAL ";
        size_t len = strcspn(line, "\n");
        char text[512];
        snprintf(text, sizeof text, "%.*s", (int)len, line);
        if (pc != (records == 0 ? 1u : 3u) || !strstr(text, want) || !strstr(text, kernel)) fail_msg("profile record %d: %s\n%s", records, text, prof);
        records++;
    }
    if (records != 2) fail_msg("%d records:\n%s", records, prof);
    free(prof);
    adead_vm_free(vm);
    adead_program_free(p);
}

/* Fuel slices of every size over a loop with pairs inside its block: the same run, counted the same. */
static void test_vk_compute_pair_fuel_slices(void **state)
{
    (void)state;
    const char *src = ".tensor q f32 [2, 3] = [1, -2, 3, 0.5, 0, 7]\n.tensor o f32\n"
                      " LDI r1, 0\n LDI r2, 3\n"
                      "loop:\n"
                      " VK_COMPUTE ATTENTION, o, q, q, q\n"
                      " ADDI r3, r3, 1\n"
                      " VK_COMPUTE ATTENTION_CAUSAL, o, o, q\n"
                      " VK_ARG q\n"
                      " LOOP r1, r2, loop\n"
                      " PRINTT o\n PRINTI r3\n HALT\n";
    outcome full = run(src);
    assert_int_equal(full.status, ADEAD_OK);
    assert_int_equal(full.instructions, 2 + 3 * 4 + 3);
    for (uint64_t step = 1; step <= 9; step++) {
        adead_program *p = assemble_ok(src);
        adead_vm *vm = adead_vm_new(p);
        capture out;
        memset(&out, 0, sizeof out);
        adead_vm_set_print(vm, capture_write, &out);
        adead_vm_set_fuel(vm, step);
        int rc, stops = 0;
        while ((rc = adead_vm_run(vm)) == ADEAD_E_FUEL) {
            assert_int_equal(adead_vm_instructions(vm), step * (uint64_t)(stops + 1));
            if (strstr(adead_vm_error(vm), "VK_ARG")) fail_msg("stopped at a VK_ARG: %s", adead_vm_error(vm));
            adead_vm_add_fuel(vm, step);
            stops++;
        }
        assert_int_equal(rc, ADEAD_OK);
        assert_int_equal(adead_vm_instructions(vm), full.instructions);
        assert_string_equal(out.buf, full.out.buf);
        adead_vm_free(vm);
        adead_program_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_arithmetic_wraps), cmocka_unit_test(test_division_and_remainder),
        cmocka_unit_test(test_bits_and_shifts),          cmocka_unit_test(test_comparisons_and_branches),
        cmocka_unit_test(test_f32_register_ops),         cmocka_unit_test(test_constants_and_strings),
        cmocka_unit_test(test_memory),                   cmocka_unit_test(test_new_memory_is_zero),
        cmocka_unit_test(test_tensor_instructions),
        cmocka_unit_test(test_calls_and_recursion),      cmocka_unit_test(test_tasks_are_deterministic), cmocka_unit_test(test_ops_on_empty_tensors), cmocka_unit_test(test_ended_tasks_free_their_slots),
        cmocka_unit_test(test_user_trap_and_halt),       cmocka_unit_test(test_fuel_is_exact),
        cmocka_unit_test(test_fuel_resume),              cmocka_unit_test(test_trace),
        cmocka_unit_test(test_vk_compute_pair_is_one_instruction), cmocka_unit_test(test_vk_compute_pair_fuel_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
