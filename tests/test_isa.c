/* The opcode table: seed values, uniqueness, well-formed operand kinds, lookups, and
 * docs/isa.md matching what the table generates. */
#include "../isa/isa.h"
#include "../isa/kernels.h"
#include "testutil.h"

/* The seed's opcodes keep their values forever (DESIGN.md). */
static void test_seed_values(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t value;
    } seed[] = {
        {"NOP", 0x00000000}, {"HALT", 0x000000FF}, {"ALLOC", 0x00010000}, {"FREE", 0x00010001},
        {"LOAD", 0x00010010}, {"STORE", 0x00010011}, {"ADD", 0x00020000}, {"SUB", 0x00020001},
        {"MUL", 0x00020002}, {"DIV", 0x00020003}, {"MATMUL", 0x00030000}, {"TRANSPOSE", 0x00030001},
        {"SOFTMAX", 0x00030002}, {"RELU", 0x00030003}, {"GPU_INIT", 0xC0DA0001}, {"GPU_ALLOC", 0xC0DA0010},
        {"GPU_MATMUL", 0xC0DA0020}, {"GPU_SYNC", 0xC0DA00F0}, {"VK_INIT", 0x564B0001}, {"VK_COMPUTE", 0x564B0010},
        {"VK_SUBMIT", 0x564B0020}, {"VK_SYNC", 0x564B00F0},
    };
    for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++) {
        int op = isa_find_name(seed[i].name, strlen(seed[i].name));
        assert_true(op >= 0);
        assert_int_equal(isa_ops[op].value, seed[i].value);
        assert_int_equal(isa_find_value(seed[i].value), op);
    }
}

static void test_values_and_names_unique(void **state)
{
    (void)state;
    for (int a = 0; a < OP__COUNT; a++)
        for (int b = a + 1; b < OP__COUNT; b++) {
            assert_int_not_equal(isa_ops[a].value, isa_ops[b].value);
            assert_string_not_equal(isa_ops[a].name, isa_ops[b].name);
        }
}

/* Every opcode is in a known class, has 4 kind letters from the documented set, 'q' exactly
 * after 'Q', 'T' only after 'o', and a control-flow opcode carries its label operand. */
static void test_kinds_well_formed(void **state)
{
    (void)state;
    for (int op = 0; op < OP__COUNT; op++) {
        const isa_op *o = &isa_ops[op];
        assert_string_not_equal(isa_class_name(o->value), "unknown");
        assert_int_equal(strlen(o->kinds), 4);
        for (int s = 0; s < 4; s++) {
            char k = o->kinds[s];
            assert_non_null(strchr(ISA_KIND_LETTERS, k));
            if (k == 'Q') assert_true(s < 3 && o->kinds[s + 1] == 'q');
            if (k == 'q') assert_true(s > 0 && o->kinds[s - 1] == 'Q');
            if (k == 'T') assert_non_null(strchr(o->kinds, 'o'));
        }
        int has_label = strchr(o->kinds, 'l') != NULL;
        if (o->flow == FLOW_BRANCH || o->flow == FLOW_GOTO || o->flow == FLOW_CALL) assert_true(has_label);
        assert_true(strlen(o->meaning) > 5);
    }
}

static void test_lookups(void **state)
{
    (void)state;
    assert_int_equal(isa_find_name("add", 3), OP_ADD);
    assert_int_equal(isa_find_name("Add", 3), OP_ADD);
    assert_int_equal(isa_find_name("ADDX", 4), -1);
    assert_int_equal(isa_find_name("AD", 2), -1);
    assert_int_equal(isa_find_value(0x12345678), -1);
    assert_int_equal(isa_find_value(0x564B0010), OP_VK_COMPUTE);
    assert_true(isa_is_kernel(OP_MATMUL));
    assert_true(isa_is_kernel(OP_TADD));
    assert_false(isa_is_kernel(OP_ADD));
    assert_false(isa_is_kernel(OP_GPU_MATMUL));
    assert_int_equal(isa_operand_count(OP_HALT), 0);
    assert_int_equal(isa_operand_count(OP_FMA), 4);
    assert_int_equal(isa_operand_count(OP_LDI), 3);
}

/* docs/isa.md is generated (make docs); a change to the table without it fails here. */
/* Every matrix-class opcode has exactly one row in include/adeadvm_kernels.def and back; its inputs
 * are its tensor operands but the output; the ids are the ABI's and never move. */
static void test_kernel_table(void **state)
{
    (void)state;
    int rows = 0;
    for (int op = 0; op < OP__COUNT; op++) {
        const isa_kernel *k = isa_kernel_of_op(op);
        int matrix = (isa_ops[op].value >> 16) == 0x0003;
        if (matrix != (k != NULL)) fail_msg("%s: matrix class %d, kernel row %p", isa_ops[op].name, matrix, (const void *)k);
        if (!k) continue;
        rows++;
        assert_int_equal(k->op, op);
        assert_ptr_equal(isa_kernel_of_id(k->id), k);
        assert_int_equal(k->inputs, isa_operand_count(op) - 1);
    }
    int ids = 0;
    for (uint32_t id = 0; id < ADEAD_K__END + 8; id++) ids += isa_kernel_of_id(id) != NULL;
    assert_int_equal(ids, rows);
    /* The ABI's numbers, pinned. */
    assert_int_equal(ADEAD_K_MATMUL, 1);
    assert_int_equal(ADEAD_K_RELU, 4);
    assert_int_equal(ADEAD_K_ATTENTION_CAUSAL, 6);
    assert_int_equal(ADEAD_K_TADD, 16);
    assert_int_equal(ADEAD_K_TMUL, 18);
}

static void test_isa_doc_is_fresh(void **state)
{
    (void)state;
    char cmd[512], *generated = NULL;
    snprintf(cmd, sizeof cmd, "%s/bin/isadoc", build_dir());
    assert_int_equal(run_cmd(cmd, &generated), 0);
    char *committed = slurp("docs/isa.md", NULL);
    assert_non_null(committed);
    if (strcmp(generated, committed)) fail_msg("docs/isa.md is stale: run 'make docs' and commit it");
    free(generated);
    free(committed);
    snprintf(cmd, sizeof cmd, "%s/bin/isadoc --vim", build_dir());
    assert_int_equal(run_cmd(cmd, &generated), 0);
    committed = slurp("editors/vim/syntax/adasm.vim", NULL);
    assert_non_null(committed);
    if (strcmp(generated, committed)) fail_msg("editors/vim/syntax/adasm.vim is stale: run 'make docs' and commit it");
    assert_non_null(strstr(committed, " VK_COMPUTE")); /* every opcode is a keyword */
    free(generated);
    free(committed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_values),      cmocka_unit_test(test_values_and_names_unique),
        cmocka_unit_test(test_kinds_well_formed), cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_isa_doc_is_fresh), cmocka_unit_test(test_kernel_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
