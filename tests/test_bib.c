/* The .bib reader and the verifier against untrusted input: one test per class of malformed file
 * (docs/format.md) and per class of bad instruction (docs/machine.md), each checking the status and
 * the message; a deterministic mutation fuzz over real programs, loaded and run; and bib_write /
 * bib_read round trips. Every input is handed over in a block of exactly its size, so that the
 * sanitizer build (make test SANITIZE=1) catches any read past its end. */
#include "testutil.h"

#include "../isa/bib.h"
#include "../vm/vm.h"

/* A malformed file may make the loader ask for a huge allocation. Under ASan, let anything over
 * 1 GiB (the largest .bib file) fail at once the way it can on any host, with NULL and then "out of
 * memory", so that it shows as one failed test instead of an abort that takes every later test
 * with it, or a multi-gigabyte stall. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=1024"; }

/* ---- bytes and messages ---- */

static uint32_t get32(const uint8_t *b, size_t off)
{
    return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[off + i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *b, size_t off, uint16_t v)
{
    b[off] = (uint8_t)v;
    b[off + 1] = (uint8_t)(v >> 8);
}

static void assert_contains(const char *message, const char *phrase)
{
    if (!strstr(message, phrase)) fail_msg("message \"%s\" does not contain \"%s\"", message, phrase);
}

static void assert_starts_with(const char *message, const char *prefix)
{
    if (strncmp(message, prefix, strlen(prefix)))
        fail_msg("message \"%s\" does not start with \"%s\"", message, prefix);
}

/* A copy in a block of exactly the right size, so ASan catches any read past the end. */
static uint8_t *exact_copy(const void *bytes, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size) memcpy(copy, bytes, size);
    return copy;
}

/* ---- the program every structural test starts from ---- */

typedef struct {
    uint8_t *bytes;
    size_t size;
} image;

/* Code, strings, constants of every kind, data, tensor slots (an input initialised from a
 * constant, an output, a plain slot), symbols of every kind, a line table and a SPIR-V module:
 * all eight sections. */
static const char full_source[] =
    "; every section of the format\n"
    ".const  answer i64 42\n"
    ".const  half   f32 0.5\n"
    ".const  hello  str \"hi\\n\"\n"
    ".const  table  f32 [2, 3] = [1, 2, 3, 4, 5, 6]\n"
    ".const  idx    i32 [2] = [7, 8]\n"
    ".input  x      f32 [2, 3] = table\n"
    ".output y      f32 [2, 3]\n"
    ".tensor scratch i64\n"
    ".spirv  kern = [0x07230203, 0x00010000, 0, 1, 0]\n"
    "main:\n"
    "    LDK    r1, answer\n"
    "    LDK    r2, half\n"
    "    PRINTS hello\n"
    "    TCOPY  y, x\n"
    "    CALL   sub, r10\n"
    "    HALT\n"
    "sub:\n"
    "    RET\n";

/* Its layout, as the assembler writes it (full_module checks that it still does). */
enum { K_ANSWER, K_HALF, K_HELLO, K_TABLE, K_IDX, N_FULL_CONSTS };
enum { T_X, T_Y, T_SCRATCH, N_FULL_TENSORS };
enum { N_FULL_CODE = 7, N_FULL_LINES = 7, FULL_DATA_SIZE = 56 };

/* Fields of a section table entry. */
enum { ENTRY_TYPE = 0, ENTRY_OFFSET = 4, ENTRY_SIZE = 8, ENTRY_COUNT = 12 };

static image assemble_image(const char *src, const char *filename)
{
    image im = {NULL, 0};
    void *bib = NULL;
    char err[4096] = "";
    int rc = adead_assemble(src, strlen(src), filename, &bib, &im.size, err, sizeof err);
    if (rc != ADEAD_OK) fail_msg("assembly of %s failed (%d):\n%s", filename, rc, err);
    im.bytes = bib;
    return im;
}

static void image_free(image *im)
{
    free(im->bytes);
    im->bytes = NULL;
    im->size = 0;
}

/* Byte offset of the section table entry of a type, found through the table. */
static size_t section_entry(const image *im, uint32_t type)
{
    uint32_t nsec = get32(im->bytes, 20), table = get32(im->bytes, 24);
    for (uint32_t i = 0; i < nsec; i++)
        if (get32(im->bytes, table + BIB_SECTION_SIZE * i) == type) return table + BIB_SECTION_SIZE * (size_t)i;
    fail_msg("no %s section", bib_section_name(type));
    return 0;
}

static uint32_t section_field(const image *im, uint32_t type, int field)
{
    return get32(im->bytes, section_entry(im, type) + (size_t)field);
}

static void set_section_field(image *im, uint32_t type, int field, uint32_t value)
{
    put32(im->bytes, section_entry(im, type) + (size_t)field, value);
}

/* Section sizes of the full program by type; the messages the tests expect quote them. */
static const uint32_t full_section_sizes[BIB_SEC__LAST + 1] = {0, 140, 66, 200, 56, 96, 120, 84, 28};

static image full_image(void)
{
    image im = assemble_image(full_source, "full.adasm");
    assert_int_equal(get32(im.bytes, 20), BIB_SEC__LAST); /* every section is there */
    for (uint32_t type = 1; type <= BIB_SEC__LAST; type++)
        assert_int_equal(section_field(&im, type, ENTRY_SIZE), full_section_sizes[type]);
    return im;
}

/* Refused by bib_read and by adead_program_load_memory, both naming the broken rule. */
static void expect_refused(const uint8_t *bytes, size_t size, const char *phrase)
{
    uint8_t *copy = exact_copy(bytes, size);
    bib_module m;
    char err[1024] = "";
    assert_int_equal(bib_read(copy, size, &m, err, sizeof err), -1);
    assert_contains(err, phrase);
    assert_null(m.code); /* nothing left allocated */

    adead_program *p = NULL;
    char load_err[1024] = "";
    assert_int_equal(adead_program_load_memory(copy, size, "bad.bib", &p, load_err, sizeof load_err), ADEAD_E_LOAD);
    assert_null(p);
    assert_starts_with(load_err, "bad.bib: ");
    assert_contains(load_err, phrase);
    free(copy);
}

static void expect_image_refused(const image *im, const char *phrase) { expect_refused(im->bytes, im->size, phrase); }

static void expect_loads(const uint8_t *bytes, size_t size)
{
    uint8_t *copy = exact_copy(bytes, size);
    adead_program *p = NULL;
    char err[1024] = "";
    int rc = adead_program_load_memory(copy, size, "good.bib", &p, err, sizeof err);
    if (rc != ADEAD_OK) fail_msg("expected the file to load, got %d: %s", rc, err);
    adead_program_free(p);
    free(copy);
}

/* The full program decoded, to be changed field by field and written back with bib_write. */
static void full_module(bib_module *m)
{
    image im = full_image();
    char err[512] = "";
    if (bib_read(im.bytes, im.size, m, err, sizeof err)) fail_msg("bib_read: %s", err);
    image_free(&im);
    assert_int_equal(m->n_code, N_FULL_CODE);
    assert_int_equal(m->n_consts, N_FULL_CONSTS);
    assert_int_equal(m->n_tensors, N_FULL_TENSORS);
    assert_int_equal(m->n_lines, N_FULL_LINES);
    assert_int_equal(m->data_size, FULL_DATA_SIZE);
    assert_int_equal(m->n_spirv, 1);
    assert_int_equal(m->consts[K_ANSWER].kind, BIB_CONST_I64);
    assert_int_equal(m->consts[K_HALF].kind, BIB_CONST_F32);
    assert_int_equal(m->consts[K_HELLO].kind, BIB_CONST_STR);
    assert_int_equal(m->consts[K_TABLE].kind, BIB_CONST_TENSOR);
    assert_int_equal(m->consts[K_IDX].dtype, BIB_DT_I32);
    assert_int_equal(m->consts[K_HELLO].data_off, 16);
    assert_int_equal(m->consts[K_IDX].data_off, 48);
    assert_int_equal(m->tensors[T_X].init, K_TABLE);
    assert_int_equal(m->tensors[T_Y].flags, BIB_T_OUTPUT | BIB_T_SHAPED);
    assert_int_equal(m->tensors[T_SCRATCH].flags, 0);
}

static image write_module(const bib_module *m)
{
    image im = {NULL, 0};
    assert_int_equal(bib_write(m, &im.bytes, &im.size), 0);
    return im;
}

/* Writes m (and frees it): the file must be refused for the given reason. */
static void expect_module_refused(bib_module *m, const char *phrase)
{
    image im = write_module(m);
    bib_free(m);
    expect_image_refused(&im, phrase);
    image_free(&im);
}

/* Writes m (and frees it): the file must load. */
static void expect_module_loads(bib_module *m)
{
    image im = write_module(m);
    bib_free(m);
    expect_loads(im.bytes, im.size);
    image_free(&im);
}

/* Appends a string to the module's strings section; returns its offset. */
static uint32_t add_string(bib_module *m, const char *s)
{
    size_t len = strlen(s) + 1;
    char *bigger = realloc(m->strings, m->strings_size + len);
    assert_non_null(bigger);
    memcpy(bigger + m->strings_size, s, len);
    m->strings = bigger;
    uint32_t off = m->strings_size;
    m->strings_size += (uint32_t)len;
    return off;
}

static void add_symbol(bib_module *m, uint32_t kind, uint32_t value, const char *name)
{
    uint32_t off = add_string(m, name);
    bib_symbol *bigger = realloc(m->symbols, (m->n_symbols + 1) * sizeof *bigger);
    assert_non_null(bigger);
    bigger[m->n_symbols].kind = kind;
    bigger[m->n_symbols].value = value;
    bigger[m->n_symbols].name = off;
    m->symbols = bigger;
    m->n_symbols++;
}

static uint32_t symbol_index(const bib_module *m, uint32_t kind, const char *name)
{
    for (uint32_t i = 0; i < m->n_symbols; i++)
        if (m->symbols[i].kind == kind && !strcmp(m->strings + m->symbols[i].name, name)) return i;
    fail_msg("no symbol %s", name);
    return 0;
}

static void remove_symbol(bib_module *m, uint32_t kind, const char *name)
{
    uint32_t i = symbol_index(m, kind, name);
    memmove(m->symbols + i, m->symbols + i + 1, (m->n_symbols - i - 1) * sizeof *m->symbols);
    m->n_symbols--;
}

/* ---- 1. the file structure ---- */

static void test_empty_file_is_refused(void **state)
{
    (void)state;
    expect_refused(NULL, 0, "file is 0 bytes, shorter than the 32-byte header: truncated");
    adead_program *p = NULL;
    char err[256] = "";
    assert_int_equal(adead_program_load_memory(NULL, 0, "empty.bib", &p, err, sizeof err), ADEAD_E_LOAD);
    assert_null(p);
    assert_string_equal(err, "empty.bib: file is 0 bytes, shorter than the 32-byte header: truncated");
}

static void test_file_shorter_than_header_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    expect_refused(im.bytes, 31, "file is 31 bytes, shorter than the 32-byte header: truncated");
    expect_refused(im.bytes, 8, "file is 8 bytes, shorter than the 32-byte header");
    expect_refused((const uint8_t *)"ADEADBIB", 8, "shorter than the 32-byte header");
    image_free(&im);
}

/* Every proper prefix of a real file: the header's size field catches each one. */
static void test_every_truncation_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    for (size_t len = 0; len < im.size; len++) {
        char phrase[128];
        if (len < BIB_HEADER_SIZE)
            snprintf(phrase, sizeof phrase, "file is %zu bytes, shorter than the 32-byte header", len);
        else
            snprintf(phrase, sizeof phrase, "header says %zu bytes but the file has %zu: truncated", im.size, len);
        expect_refused(im.bytes, len, phrase);
    }
    image_free(&im);
}

/* The same prefixes with the size field rewritten to agree: the section bounds catch them. */
static void test_every_truncation_with_a_matching_size_field_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    size_t table_end = BIB_HEADER_SIZE + (size_t)BIB_SEC__LAST * BIB_SECTION_SIZE;
    for (size_t len = BIB_HEADER_SIZE; len < im.size; len++) {
        uint8_t *cut = exact_copy(im.bytes, len);
        put32(cut, 16, (uint32_t)len);
        char phrase[128];
        if (len < table_end)
            snprintf(phrase, sizeof phrase, "section table at offset 32 (8 entries) is outside the file");
        else
            snprintf(phrase, sizeof phrase, "runs past the end of the file (%zu bytes): truncated?", len);
        expect_refused(cut, len, phrase);
        free(cut);
    }
    image_free(&im);
}

static void test_bad_magic_is_refused(void **state)
{
    (void)state;
    static const char *const magics[] = {"ADEADBIX", "adeadbib", "\x7f\x45LF\x02\x01\x01\x00", "\0\0\0\0\0\0\0\0"};
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        image im = full_image();
        memcpy(im.bytes, magics[i], 8);
        expect_image_refused(&im, "not a .bib file (bad magic)");
        image_free(&im);
    }
}

static void expect_version_refused(uint16_t major, uint16_t minor, const char *phrase)
{
    image im = full_image();
    put16(im.bytes, 8, major);
    put16(im.bytes, 10, minor);
    expect_image_refused(&im, phrase);
    image_free(&im);
}

static void test_unsupported_major_version_is_refused(void **state)
{
    (void)state;
    expect_version_refused(2, 0, "unsupported .bib version 2.0 (this VM reads 1.0)");
    expect_version_refused(0, 0, "unsupported .bib version 0.0 (this VM reads 1.0)");
    expect_version_refused(0xFFFF, 0, "unsupported .bib version 65535.0 (this VM reads 1.0)");
    expect_version_refused(2, 7, "unsupported .bib version 2.7");
}

static void test_higher_minor_version_is_refused(void **state)
{
    (void)state;
    expect_version_refused(1, 1, "unsupported .bib version 1.1 (this VM reads 1.0)");
    expect_version_refused(1, 0xFFFF, "unsupported .bib version 1.65535 (this VM reads 1.0)");
}

static void test_unknown_header_flags_are_refused(void **state)
{
    (void)state;
    static const struct {
        uint32_t flags;
        const char *phrase;
    } cases[] = {
        {0x2, "unknown header flags 0x2"},
        {0x3, "unknown header flags 0x2"},
        {0x80000001u, "unknown header flags 0x80000000"},
        {0xFFFFFFFFu, "unknown header flags 0xfffffffe"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = full_image();
        put32(im.bytes, 12, cases[i].flags);
        expect_image_refused(&im, cases[i].phrase);
        image_free(&im);
    }
    /* the one known flag is accepted and kept */
    image im = full_image();
    put32(im.bytes, 12, BIB_FLAG_RELAXED);
    bib_module m;
    assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
    assert_int_equal(m.flags, BIB_FLAG_RELAXED);
    bib_free(&m);
    image_free(&im);
}

static void test_file_size_field_mismatch_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    char phrase[128];

    /* the field promises more than there is */
    put32(im.bytes, 16, (uint32_t)im.size + 4);
    snprintf(phrase, sizeof phrase, "header says %zu bytes but the file has %zu: truncated", im.size + 4, im.size);
    expect_image_refused(&im, phrase);
    put32(im.bytes, 16, 0xFFFFFFFFu);
    expect_image_refused(&im, "header says 4294967295 bytes");

    /* trailing bytes after a correct file */
    put32(im.bytes, 16, (uint32_t)im.size);
    uint8_t *longer = calloc(im.size + 4, 1);
    assert_non_null(longer);
    memcpy(longer, im.bytes, im.size);
    snprintf(phrase, sizeof phrase, "header says %zu bytes but the file has %zu: trailing bytes", im.size, im.size + 4);
    expect_refused(longer, im.size + 4, phrase);
    put32(im.bytes, 16, 0);
    expect_image_refused(&im, "header says 0 bytes");
    free(longer);
    image_free(&im);
}

static void test_reserved_header_field_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    put32(im.bytes, 28, 1);
    expect_image_refused(&im, "reserved header field is not zero");
    put32(im.bytes, 28, 0x80000000u);
    expect_image_refused(&im, "reserved header field is not zero");
    image_free(&im);
}

static void test_too_many_sections_are_refused(void **state)
{
    (void)state;
    image im = full_image();
    put32(im.bytes, 20, BIB_MAX_SECTIONS + 1);
    expect_image_refused(&im, "17 sections (at most 16)");
    put32(im.bytes, 20, 0xFFFFFFFFu);
    expect_image_refused(&im, "4294967295 sections (at most 16)");
    image_free(&im);
}

static void test_section_table_outside_file_or_over_header_is_refused(void **state)
{
    (void)state;
    static const struct {
        uint32_t table;
        const char *phrase;
    } cases[] = {
        {0, "section table at offset 0 (8 entries) is outside the file or overlaps the header"},
        {16, "section table at offset 16 (8 entries)"},
        {28, "section table at offset 28 (8 entries)"},
        {34, "section table at offset 34 (8 entries)"}, /* not 4-byte aligned */
        {0xFFFFFFF0u, "section table at offset 4294967280 (8 entries)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = full_image();
        put32(im.bytes, 24, cases[i].table);
        expect_image_refused(&im, cases[i].phrase);
        image_free(&im);
    }
    /* 8 entries that start inside the file but end past it */
    image im = full_image();
    uint32_t late = (uint32_t)im.size - 64;
    char phrase[128];
    snprintf(phrase, sizeof phrase, "section table at offset %u (8 entries) is outside the file", late);
    put32(im.bytes, 24, late);
    expect_image_refused(&im, phrase);
    image_free(&im);
}

static void test_section_past_end_of_file_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    char phrase[160];
    uint32_t late = (uint32_t)im.size - 24; /* the 28-byte SPIR-V section, moved 4 bytes too far */
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_OFFSET, late);
    snprintf(phrase, sizeof phrase, "spirv section: [%u, +28) runs past the end of the file (%zu bytes): truncated?", late, im.size);
    expect_image_refused(&im, phrase);
    /* offset + size wraps around 32 bits */
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_OFFSET, 0xFFFFFFFCu);
    expect_image_refused(&im, "spirv section: [4294967292, +28) runs past the end of the file");
    image_free(&im);

    im = full_image();
    set_section_field(&im, BIB_SEC_CODE, ENTRY_SIZE, 0xFFFFFFF0u);
    expect_image_refused(&im, "code section: [160, +4294967280) runs past the end of the file");
    image_free(&im);
}

static void test_misaligned_section_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    uint32_t consts = section_field(&im, BIB_SEC_CONSTS, ENTRY_OFFSET);
    char phrase[128];
    snprintf(phrase, sizeof phrase, "consts section: offset %u overlaps the header or is not 4-byte aligned", consts + 2);
    set_section_field(&im, BIB_SEC_CONSTS, ENTRY_OFFSET, consts + 2);
    expect_image_refused(&im, phrase);
    image_free(&im);

    /* a section inside the header */
    im = full_image();
    set_section_field(&im, BIB_SEC_LINES, ENTRY_OFFSET, 16);
    expect_image_refused(&im, "lines section: offset 16 overlaps the header or is not 4-byte aligned");
    set_section_field(&im, BIB_SEC_LINES, ENTRY_OFFSET, 0);
    expect_image_refused(&im, "lines section: offset 0 overlaps the header");
    image_free(&im);
}

static void test_two_sections_of_one_type_are_refused(void **state)
{
    (void)state;
    image im = full_image();
    set_section_field(&im, BIB_SEC_STRINGS, ENTRY_TYPE, BIB_SEC_CODE);
    expect_image_refused(&im, "two code sections");
    image_free(&im);

    im = full_image();
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_TYPE, BIB_SEC_SYMBOLS);
    expect_image_refused(&im, "two symbols sections");
    image_free(&im);
}

static void test_unknown_section_type_is_refused(void **state)
{
    (void)state;
    static const struct {
        uint32_t replaced, type;
        const char *phrase;
    } cases[] = {
        {BIB_SEC_CODE, 0, "section 0: unknown type 0"},
        {BIB_SEC_DATA, BIB_SEC__LAST + 1, "section 3: unknown type 9"},
        {BIB_SEC_SPIRV, 0xFFFFFFFFu, "section 7: unknown type 4294967295"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = full_image();
        set_section_field(&im, cases[i].replaced, ENTRY_TYPE, cases[i].type);
        expect_image_refused(&im, cases[i].phrase);
        image_free(&im);
    }
}

static void test_overlapping_sections_are_refused(void **state)
{
    (void)state;
    image im = full_image();
    set_section_field(&im, BIB_SEC_DATA, ENTRY_OFFSET, section_field(&im, BIB_SEC_CONSTS, ENTRY_OFFSET));
    expect_image_refused(&im, "data section overlaps consts");
    image_free(&im);

    /* the last 4 bytes of the code under the start of the strings */
    im = full_image();
    uint32_t code_end = section_field(&im, BIB_SEC_CODE, ENTRY_OFFSET) + section_field(&im, BIB_SEC_CODE, ENTRY_SIZE);
    set_section_field(&im, BIB_SEC_STRINGS, ENTRY_OFFSET, code_end - 4);
    expect_image_refused(&im, "strings section overlaps code");
    image_free(&im);

    im = full_image();
    set_section_field(&im, BIB_SEC_CODE, ENTRY_OFFSET, 48);
    expect_image_refused(&im, "code section overlaps the section table");
    image_free(&im);
}

static void test_section_size_not_matching_count_is_refused(void **state)
{
    (void)state;
    static const struct {
        uint32_t type, count;
        const char *phrase;
    } cases[] = {
        {BIB_SEC_CODE, 8, "code section: size 140 does not match its count 8"},
        {BIB_SEC_CODE, 0, "code section: size 140 does not match its count 0"},
        /* 1073741831 * 20 is 140 modulo 2^32: the product must not be taken in 32 bits */
        {BIB_SEC_CODE, 1073741831u, "code section: size 140 does not match its count 1073741831"},
        {BIB_SEC_STRINGS, 65, "strings section: size 66 does not match its count 65"},
        {BIB_SEC_CONSTS, 4, "consts section: size 200 does not match its count 4"},
        {BIB_SEC_DATA, 0xFFFFFFFFu, "data section: size 56 does not match its count 4294967295"},
        {BIB_SEC_TENSORS, 2, "tensors section: size 96 does not match its count 2"},
        {BIB_SEC_SYMBOLS, 11, "symbols section: size 120 does not match its count 11"},
        {BIB_SEC_LINES, 6, "lines section: size 84 does not match its count 6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = full_image();
        set_section_field(&im, cases[i].type, ENTRY_COUNT, cases[i].count);
        expect_image_refused(&im, cases[i].phrase);
        image_free(&im);
    }
    /* SPIR-V counts modules, so its size only has to be whole words */
    image im = full_image();
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_SIZE, 26);
    expect_image_refused(&im, "spirv section: size 26 does not match its count 1");
    image_free(&im);
}

static void test_missing_code_section_is_refused(void **state)
{
    (void)state;
    /* the code entry overwritten by the last one, and the table shortened */
    image im = full_image();
    size_t code = section_entry(&im, BIB_SEC_CODE), spirv = section_entry(&im, BIB_SEC_SPIRV);
    memcpy(im.bytes + code, im.bytes + spirv, BIB_SECTION_SIZE);
    put32(im.bytes, 20, BIB_SEC__LAST - 1);
    expect_image_refused(&im, "no code section");
    image_free(&im);

    /* no sections at all */
    im = full_image();
    put32(im.bytes, 20, 0);
    expect_image_refused(&im, "no code section");
    image_free(&im);

    /* a code section with no instructions, in the file and from the writer */
    im = full_image();
    set_section_field(&im, BIB_SEC_CODE, ENTRY_SIZE, 0);
    set_section_field(&im, BIB_SEC_CODE, ENTRY_COUNT, 0);
    expect_image_refused(&im, "no code section");
    image_free(&im);

    bib_module m;
    full_module(&m);
    m.n_code = 0;
    m.n_lines = 0;
    expect_module_refused(&m, "no code section");
}

static void test_strings_not_nul_framed_are_refused(void **state)
{
    (void)state;
    image im = full_image();
    uint32_t strings = section_field(&im, BIB_SEC_STRINGS, ENTRY_OFFSET);
    uint32_t size = section_field(&im, BIB_SEC_STRINGS, ENTRY_SIZE);
    im.bytes[strings] = 'x';
    expect_image_refused(&im, "strings section must start and end with a NUL byte");
    im.bytes[strings] = 0;
    im.bytes[strings + size - 1] = 'x';
    expect_image_refused(&im, "strings section must start and end with a NUL byte");
    image_free(&im);
}

static void test_name_offset_outside_strings_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    m.symbols[0].name = m.strings_size;
    char phrase[128];
    snprintf(phrase, sizeof phrase, "symbol 0: name offset %u is outside the strings", m.strings_size);
    expect_module_refused(&m, phrase);

    full_module(&m);
    m.symbols[3].name = 0xFFFFFFFFu;
    expect_module_refused(&m, "symbol 3: name offset 4294967295 is outside the strings");

    /* without a strings section every name is outside it */
    full_module(&m);
    m.strings_size = 0;
    m.n_lines = 0;
    m.n_spirv = 0;
    expect_module_refused(&m, "symbol 0: name offset");
}

static void expect_symbol_name_refused(const char *name, const char *phrase)
{
    bib_module m;
    full_module(&m);
    m.symbols[2].name = add_string(&m, name);
    expect_module_refused(&m, phrase);
}

static void test_invalid_symbol_names_are_refused(void **state)
{
    (void)state;
    expect_symbol_name_refused("", "symbol 2: \"\" is not a valid name");
    expect_symbol_name_refused("9lives", "symbol 2: \"9lives\" is not a valid name");
    expect_symbol_name_refused(".hidden", "symbol 2: \".hidden\" is not a valid name");
    expect_symbol_name_refused("a-b", "symbol 2: \"a-b\" is not a valid name");
    expect_symbol_name_refused("two words", "symbol 2: \"two words\" is not a valid name");
    expect_symbol_name_refused("caf\xc3\xa9", "is not a valid name");
    expect_symbol_name_refused("tab\there", "is not a valid name");
    /* reserved words: the assembler would read them as a type, a register, a slot, a constant */
    expect_symbol_name_refused("f32", "symbol 2: \"f32\" is not a valid name");
    expect_symbol_name_refused("str", "symbol 2: \"str\" is not a valid name");
    expect_symbol_name_refused("r0", "symbol 2: \"r0\" is not a valid name");
    expect_symbol_name_refused("t12", "symbol 2: \"t12\" is not a valid name");
    expect_symbol_name_refused("k3", "symbol 2: \"k3\" is not a valid name");

    /* what the assembler accepts as an identifier is accepted here too */
    static const char *const good[] = {"_a.b9.C", "r", "r1x", "t_1", "k.2", "F32", "i64x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bib_module m;
        full_module(&m);
        m.symbols[2].name = add_string(&m, good[i]);
        expect_module_loads(&m);
    }
}

static void test_duplicate_symbol_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    m.symbols[symbol_index(&m, BIB_SYM_TENSOR, "y")].name = m.symbols[symbol_index(&m, BIB_SYM_TENSOR, "x")].name;
    expect_module_refused(&m, "symbol \"x\" is defined twice");

    full_module(&m);
    add_symbol(&m, BIB_SYM_LABEL, 3, "main");
    expect_module_refused(&m, "symbol \"main\" is defined twice");

    /* many labels, so that the duplicate has to be found among hash collisions */
    full_module(&m);
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "l%d", i);
        add_symbol(&m, BIB_SYM_LABEL, (uint32_t)i % N_FULL_CODE, name);
    }
    add_symbol(&m, BIB_SYM_LABEL, 0, "l123");
    expect_module_refused(&m, "symbol \"l123\" is defined twice");

    /* the kinds are separate namespaces */
    full_module(&m);
    add_symbol(&m, BIB_SYM_LABEL, 2, "x");
    add_symbol(&m, BIB_SYM_LABEL, 4, "answer");
    expect_module_loads(&m);
}

static void test_tensor_or_constant_with_two_names_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    add_symbol(&m, BIB_SYM_TENSOR, T_SCRATCH, "alias");
    expect_module_refused(&m, "tensor 2 has two names");

    full_module(&m);
    add_symbol(&m, BIB_SYM_CONST, K_HALF, "also_half");
    expect_module_refused(&m, "constant 1 has two names");

    /* two labels may name one pc */
    full_module(&m);
    add_symbol(&m, BIB_SYM_LABEL, 0, "start");
    expect_module_loads(&m);
}

static void test_input_or_output_without_name_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    remove_symbol(&m, BIB_SYM_TENSOR, "x");
    expect_module_refused(&m, "tensor 0 is an input or output but has no name");

    full_module(&m);
    remove_symbol(&m, BIB_SYM_TENSOR, "y");
    expect_module_refused(&m, "tensor 1 is an input or output but has no name");

    /* a plain slot or a constant may go unnamed */
    full_module(&m);
    remove_symbol(&m, BIB_SYM_TENSOR, "scratch");
    remove_symbol(&m, BIB_SYM_CONST, "idx");
    expect_module_loads(&m);
}

static void test_symbol_value_out_of_range_is_refused(void **state)
{
    (void)state;
    bib_module m;
    char phrase[128];
    full_module(&m);
    uint32_t sub = symbol_index(&m, BIB_SYM_LABEL, "sub");
    m.symbols[sub].value = N_FULL_CODE + 1;
    snprintf(phrase, sizeof phrase, "symbol %u (sub): value 8 is out of range", sub);
    expect_module_refused(&m, phrase);

    full_module(&m);
    uint32_t y = symbol_index(&m, BIB_SYM_TENSOR, "y");
    m.symbols[y].value = N_FULL_TENSORS;
    snprintf(phrase, sizeof phrase, "symbol %u (y): value 3 is out of range", y);
    expect_module_refused(&m, phrase);

    full_module(&m);
    uint32_t idx = symbol_index(&m, BIB_SYM_CONST, "idx");
    m.symbols[idx].value = 0xFFFFFFFFu;
    snprintf(phrase, sizeof phrase, "symbol %u (idx): value 4294967295 is out of range", idx);
    expect_module_refused(&m, phrase);

    full_module(&m);
    m.symbols[0].kind = 4;
    expect_module_refused(&m, "symbol 0: unknown kind 4");
    full_module(&m);
    m.symbols[1].kind = 0;
    expect_module_refused(&m, "symbol 1: unknown kind 0");

    /* a label may sit just past the last instruction */
    full_module(&m);
    m.symbols[symbol_index(&m, BIB_SYM_LABEL, "sub")].value = N_FULL_CODE;
    expect_module_loads(&m);
}

/* ---- constants ---- */

static void test_constant_data_outside_data_section_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    m.consts[K_IDX].data_off = FULL_DATA_SIZE - 4;
    expect_module_refused(&m, "constant 4: data [52, +8) is outside the data section (56 bytes)");

    full_module(&m);
    m.consts[K_IDX].data_off = 0xFFFFFFFCu; /* offset + size wraps around 32 bits */
    expect_module_refused(&m, "constant 4: data [4294967292, +8) is outside the data section");

    full_module(&m);
    m.consts[K_HELLO].data_size = 0xFFFFFFFFu;
    expect_module_refused(&m, "constant 2: data [16, +4294967295) is outside the data section");

    /* no data section at all */
    full_module(&m);
    m.data_size = 0;
    expect_module_refused(&m, "constant 0: data [0, +8) is outside the data section (0 bytes)");
}

static void expect_const_refused(int k, void (*change)(bib_const *), const char *phrase)
{
    bib_module m;
    full_module(&m);
    change(&m.consts[k]);
    expect_module_refused(&m, phrase);
}

static void shrink_data(bib_const *c) { c->data_size -= 4; }
static void grow_data(bib_const *c) { c->data_size += 4; }
static void make_rank_0(bib_const *c) { c->rank = 0, c->dims[0] = 0, c->data_size = 4; }
static void make_rank_0_8_bytes(bib_const *c) { c->rank = 0, c->dims[0] = 0, c->data_size = 8; }

static void test_constant_data_size_not_matching_shape_is_refused(void **state)
{
    (void)state;
    expect_const_refused(K_TABLE, shrink_data, "constant 3: 20 data bytes where its type needs 24");
    expect_const_refused(K_ANSWER, grow_data, "constant 0: 12 data bytes where its type needs 8");
    expect_const_refused(K_ANSWER, shrink_data, "constant 0: 4 data bytes where its type needs 8");
    expect_const_refused(K_HALF, grow_data, "constant 1: 8 data bytes where its type needs 4");
    expect_const_refused(K_IDX, make_rank_0_8_bytes, "constant 4: 8 data bytes where its type needs 4");

    /* a rank-0 tensor constant holds one element */
    bib_module m;
    full_module(&m);
    make_rank_0(&m.consts[K_IDX]);
    expect_module_loads(&m);
}

static void answer_as_f32(bib_const *c) { c->dtype = BIB_DT_F32; }
static void answer_with_rank(bib_const *c) { c->rank = 1; }
static void half_as_i64(bib_const *c) { c->dtype = BIB_DT_I64; }
static void scalar_with_dims(bib_const *c) { c->dims[2] = 1; }
static void string_with_dtype(bib_const *c) { c->dtype = BIB_DT_I32; }
static void string_with_rank(bib_const *c) { c->rank = 1; }
static void string_with_dims(bib_const *c) { c->dims[0] = 3; }
static void tensor_dtype_0(bib_const *c) { c->dtype = 0; }
static void tensor_dtype_4(bib_const *c) { c->dtype = 4; }

static void test_constant_with_wrong_dtype_or_rank_is_refused(void **state)
{
    (void)state;
    expect_const_refused(K_ANSWER, answer_as_f32, "constant 0: a scalar constant with dtype 1, rank 0");
    expect_const_refused(K_ANSWER, answer_with_rank, "constant 0: a scalar constant with dtype 3, rank 1");
    expect_const_refused(K_HALF, half_as_i64, "constant 1: a scalar constant with dtype 3, rank 0");
    expect_const_refused(K_HALF, scalar_with_dims, "constant 1: a scalar constant with dimensions");
    expect_const_refused(K_HELLO, string_with_dtype, "constant 2: a string with dtype or rank");
    expect_const_refused(K_HELLO, string_with_rank, "constant 2: a string with dtype or rank");
    expect_const_refused(K_HELLO, string_with_dims, "constant 2: a string with dimensions");
    expect_const_refused(K_IDX, tensor_dtype_0, "constant 4: unknown dtype 0");
    expect_const_refused(K_IDX, tensor_dtype_4, "constant 4: unknown dtype 4");
}

static void kind_0(bib_const *c) { c->kind = 0; }
static void kind_5(bib_const *c) { c->kind = 5; }
static void kind_max(bib_const *c) { c->kind = 0xFFFFFFFFu; }

static void test_unknown_constant_kind_is_refused(void **state)
{
    (void)state;
    expect_const_refused(K_ANSWER, kind_0, "constant 0: unknown kind 0");
    expect_const_refused(K_TABLE, kind_5, "constant 3: unknown kind 5");
    expect_const_refused(K_IDX, kind_max, "constant 4: unknown kind 4294967295");
}

/* bib_write always writes 0 there, so the field is patched in the file. */
static void test_constant_reserved_field_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    size_t reserved = section_field(&im, BIB_SEC_CONSTS, ENTRY_OFFSET) + (size_t)K_HALF * BIB_CONST_SIZE + 36;
    put32(im.bytes, reserved, 1);
    expect_image_refused(&im, "constant 1: reserved field is not zero");
    put32(im.bytes, reserved, 0xFFFFFFFFu);
    expect_image_refused(&im, "constant 1: reserved field is not zero");
    image_free(&im);
}

static void idx_dim_beyond_rank(bib_const *c) { c->dims[1] = 3; }
static void idx_rank_0_with_dim_3(bib_const *c) { c->rank = 0, c->dims[0] = 0, c->dims[3] = 1; }
static void idx_rank_5(bib_const *c) { c->rank = 5; }
static void idx_rank_max(bib_const *c) { c->rank = 0xFFFFFFFFu; }

static void test_dimensions_beyond_rank_are_refused(void **state)
{
    (void)state;
    expect_const_refused(K_IDX, idx_dim_beyond_rank, "constant 4: dimension 1 set beyond rank 1");
    expect_const_refused(K_IDX, idx_rank_0_with_dim_3, "constant 4: dimension 3 set beyond rank 0");

    bib_module m;
    full_module(&m);
    m.tensors[T_Y].rank = 1; /* dims[1] = 3 stays */
    expect_module_refused(&m, "tensor 1: dimension 1 set beyond rank 1");
}

static void test_rank_over_4_is_refused(void **state)
{
    (void)state;
    expect_const_refused(K_IDX, idx_rank_5, "constant 4: rank 5 is over 4");
    expect_const_refused(K_IDX, idx_rank_max, "constant 4: rank 4294967295 is over 4");

    bib_module m;
    full_module(&m);
    m.tensors[T_Y].rank = 5;
    expect_module_refused(&m, "tensor 1: rank 5 is over 4");
}

/* ---- shapes too large to count in 64 bits ---- */

static void set_dims(uint32_t *dims, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    dims[0] = d0, dims[1] = d1, dims[2] = d2, dims[3] = d3;
}

static void expect_const_shape_refused(uint32_t rank, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    bib_module m;
    full_module(&m);
    m.consts[K_IDX].rank = rank;
    set_dims(m.consts[K_IDX].dims, d0, d1, d2, d3);
    expect_module_refused(&m, "constant 4: shape has more than 2^40 elements");
}

static void expect_slot_shape_refused(uint32_t rank, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    bib_module m;
    full_module(&m);
    m.tensors[T_SCRATCH].flags = BIB_T_SHAPED;
    m.tensors[T_SCRATCH].rank = rank;
    set_dims(m.tensors[T_SCRATCH].dims, d0, d1, d2, d3);
    expect_module_refused(&m, "tensor 2: shape has more than 2^40 elements");
}

static void test_huge_shapes_are_refused_without_overflow(void **state)
{
    (void)state;
    const uint32_t max = 0xFFFFFFFFu;
    /* (2^32-1)^3 overflows 64 bits; 65536^4 = 2^64 wraps to exactly 0; 2^20 * 2^20 * 2 = 2^41 */
    expect_const_shape_refused(3, max, max, max, 0);
    expect_const_shape_refused(4, max, max, max, max);
    expect_const_shape_refused(4, 65536, 65536, 65536, 65536);
    expect_const_shape_refused(3, 1u << 20, 1u << 20, 2, 0);
    expect_const_shape_refused(2, (1u << 20) + 1, 1u << 20, 0, 0);
    expect_slot_shape_refused(3, max, max, max, 0);
    expect_slot_shape_refused(4, 65536, 65536, 65536, 65536);

    const uint32_t d65536[4] = {65536, 65536, 65536, 65536}, dmax[4] = {max, max, max, max};
    const uint32_t d2_40[4] = {1u << 20, 1u << 20, 0, 0};
    assert_int_equal(bib_shape_count(4, d65536), -1);
    assert_int_equal(bib_shape_count(4, dmax), -1);
    assert_int_equal(bib_shape_count(2, d2_40), (int64_t)1 << 40);
    assert_int_equal(bib_shape_count(0, dmax), 1);
}

static void test_shape_of_exactly_2_pow_40_elements_is_accepted(void **state)
{
    (void)state;
    /* a constant may have the shape, but its data size cannot follow it */
    bib_module m;
    full_module(&m);
    m.consts[K_IDX].rank = 2;
    set_dims(m.consts[K_IDX].dims, 1u << 20, 1u << 20, 0, 0);
    expect_module_refused(&m, "constant 4: 8 data bytes where its type needs 4398046511104");

    /* a declared slot of 2^40 elements loads; making it is the memory limit's business */
    full_module(&m);
    m.tensors[T_SCRATCH].flags = BIB_T_SHAPED;
    m.tensors[T_SCRATCH].rank = 4;
    set_dims(m.tensors[T_SCRATCH].dims, 1024, 1024, 1024, 1024);
    image im = write_module(&m);
    bib_free(&m);
    adead_program *p = NULL;
    char err[512] = "";
    assert_int_equal(adead_program_load_memory(im.bytes, im.size, "big.bib", &p, err, sizeof err), ADEAD_OK);
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    assert_int_equal(adead_vm_set_memory_limit(vm, 1 << 20), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_E_MEMORY);
    assert_contains(adead_vm_error(vm), "8796093022208 bytes of tensor data are over the memory limit");
    adead_vm_free(vm);
    adead_program_free(p);
    image_free(&im);
}

/* A zero dimension makes the element count 0 whatever the other dimensions are, in any position
 * (docs/format.md counts elements; vm/npy.c accepts such shapes). */
static void test_zero_dimension_beside_huge_ones_counts_zero_elements(void **state)
{
    (void)state;
    const uint32_t max = 0xFFFFFFFFu;
    const uint32_t zero_first[4] = {0, max, max, 0}, zero_last[4] = {max, max, 0, 0};
    assert_int_equal(bib_shape_count(3, zero_first), 0);
    assert_int_equal(bib_shape_count(3, zero_last), 0);

    bib_module m;
    full_module(&m);
    m.consts[K_IDX].rank = 3;
    memcpy(m.consts[K_IDX].dims, zero_last, sizeof zero_last);
    m.consts[K_IDX].data_size = 0;
    expect_module_loads(&m);
}

/* ---- tensor slots ---- */

static void test_tensor_initial_constant_checks(void **state)
{
    (void)state;
    static const struct {
        uint32_t init;
        const char *phrase;
    } cases[] = {
        {N_FULL_CONSTS, "tensor 0: initial constant 5 is out of range (5 constants)"},
        {0xFFFFFFFEu, "tensor 0: initial constant 4294967294 is out of range"},
        {K_ANSWER, "tensor 0: initial constant 0 is not a f32 tensor"},
        {K_HALF, "tensor 0: initial constant 1 is not a f32 tensor"},
        {K_HELLO, "tensor 0: initial constant 2 is not a f32 tensor"},
        {K_IDX, "tensor 0: initial constant 4 is not a f32 tensor"}, /* a tensor, but i32 */
    };
    bib_module m;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        full_module(&m);
        m.tensors[T_X].init = cases[i].init;
        expect_module_refused(&m, cases[i].phrase);
    }

    /* SHAPED: the declared shape must be the constant's */
    full_module(&m);
    set_dims(m.tensors[T_X].dims, 3, 2, 0, 0);
    expect_module_refused(&m, "tensor 0: declared shape differs from its initial constant's");
    full_module(&m);
    m.tensors[T_X].rank = 1;
    set_dims(m.tensors[T_X].dims, 6, 0, 0, 0);
    expect_module_refused(&m, "tensor 0: declared shape differs from its initial constant's");

    /* without SHAPED the constant gives the shape */
    full_module(&m);
    m.tensors[T_X].flags = BIB_T_INPUT;
    m.tensors[T_X].rank = 0;
    set_dims(m.tensors[T_X].dims, 0, 0, 0, 0);
    expect_module_loads(&m);
}

static void test_unknown_tensor_flags_are_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    m.tensors[T_X].flags |= 8;
    expect_module_refused(&m, "tensor 0: unknown flags 0x8");
    full_module(&m);
    m.tensors[T_SCRATCH].flags = 0x80000000u;
    expect_module_refused(&m, "tensor 2: unknown flags 0x80000000");

    /* a shape needs the flag, and a slot needs a dtype */
    full_module(&m);
    m.tensors[T_Y].flags = BIB_T_OUTPUT;
    expect_module_refused(&m, "tensor 1: a shape without the shaped flag");
    full_module(&m);
    m.tensors[T_SCRATCH].dtype = 0;
    expect_module_refused(&m, "tensor 2: unknown dtype 0");
    full_module(&m);
    m.tensors[T_SCRATCH].dtype = 4;
    expect_module_refused(&m, "tensor 2: unknown dtype 4");
}

/* ---- the line table ---- */

static void test_bad_line_table_is_refused(void **state)
{
    (void)state;
    bib_module m;
    full_module(&m);
    m.lines[1].pc = m.lines[0].pc;
    expect_module_refused(&m, "line entry 1: pcs are not increasing");

    full_module(&m);
    m.lines[4].pc = 1;
    expect_module_refused(&m, "line entry 4: pcs are not increasing");

    full_module(&m);
    m.lines[N_FULL_LINES - 1].pc = N_FULL_CODE;
    expect_module_refused(&m, "line entry 6: pc 7 is outside the code");

    full_module(&m);
    m.lines[0].pc = 0xFFFFFFFFu;
    expect_module_refused(&m, "line entry 0: pc 4294967295 is outside the code");

    full_module(&m);
    m.lines[3].file = m.strings_size;
    expect_module_refused(&m, "line entry 3: file name offset is outside the strings");

    /* every entry changes the line or the file, the first one from line 0 of "" */
    full_module(&m);
    m.lines[2].line = m.lines[1].line;
    expect_module_refused(&m, "line entry 2: repeats the file and line before it");
    full_module(&m);
    m.lines[0].line = 0;
    m.lines[0].file = 0;
    expect_module_refused(&m, "line entry 0: repeats the file and line before it");
    full_module(&m);
    m.lines[2].line = m.lines[1].line;
    m.lines[2].file = add_string(&m, "other.adasm");
    expect_module_loads(&m);
}

/* ---- SPIR-V ---- */

/* The full program with its SPIR-V module made n_words long, then one more word in the section
 * (and the file), and the section's module count set to count. */
static image spirv_with_one_word_more(uint32_t n_words, uint32_t count)
{
    static const uint32_t words[16] = {0x07230203, 0x00010000, 0, 1, 0};
    bib_module m;
    full_module(&m);
    m.spirv[0].n_words = n_words;
    m.spirv[0].words = words;
    image im = write_module(&m);
    bib_free(&m);
    uint8_t *longer = realloc(im.bytes, im.size + 4);
    assert_non_null(longer);
    put32(longer, im.size, 0);
    im.bytes = longer;
    im.size += 4;
    put32(im.bytes, 16, (uint32_t)im.size);
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_SIZE, section_field(&im, BIB_SEC_SPIRV, ENTRY_SIZE) + 4);
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_COUNT, count);
    return im;
}

static void test_bad_spirv_module_is_refused(void **state)
{
    (void)state;
    static const struct {
        uint32_t word; /* in the section: 0 name, 1 word count, 2.. the module */
        uint32_t value;
        const char *phrase;
    } cases[] = {
        {2, 0x03022307u, "SPIR-V module 0: not a SPIR-V binary (bad magic or header)"},
        {2, 0, "SPIR-V module 0: not a SPIR-V binary"},
        {1, 4, "SPIR-V module 0: not a SPIR-V binary"}, /* shorter than the 5-word header */
        {1, 0, "SPIR-V module 0: not a SPIR-V binary"},
        {1, 6, "SPIR-V module 0: 6 words run past the section"},
        {1, 0xFFFFFFFFu, "SPIR-V module 0: 4294967295 words run past the section"},
        {0, 0xFFFFFFFFu, "SPIR-V module 0: its name is not an identifier (or lies outside the strings)"},
        {0, 0, "SPIR-V module 0: its name is not an identifier"}, /* "" */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = full_image();
        put32(im.bytes, section_field(&im, BIB_SEC_SPIRV, ENTRY_OFFSET) + 4 * (size_t)cases[i].word, cases[i].value);
        expect_image_refused(&im, cases[i].phrase);
        image_free(&im);
    }

    bib_module m;
    full_module(&m);
    m.spirv[0].name = add_string(&m, "not-a-name");
    expect_module_refused(&m, "SPIR-V module 0: its name is not an identifier");

    /* bytes the modules do not account for */
    image im = full_image();
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_COUNT, 0);
    expect_image_refused(&im, "SPIR-V section: 28 bytes left after the last module");
    image_free(&im);

    im = spirv_with_one_word_more(7, 1);
    expect_image_refused(&im, "SPIR-V section: 4 bytes left after the last module");
    image_free(&im);

    /* a second module of which only one word is there: a long first module leaves room in the
     * section for two, so the module count itself is plausible */
    im = spirv_with_one_word_more(13, 2);
    expect_image_refused(&im, "SPIR-V module 1: truncated header");
    image_free(&im);
}

/* The module count is not bounded by the section's size: a 28-byte section that claims 2^32-1
 * modules must be refused for what it is, without allocating a table for 2^32-1 modules. */
static void test_spirv_module_count_past_section_is_refused(void **state)
{
    (void)state;
    image im = full_image();
    set_section_field(&im, BIB_SEC_SPIRV, ENTRY_COUNT, 0xFFFFFFFFu);
    uint8_t *copy = exact_copy(im.bytes, im.size);
    bib_module m;
    char err[512] = "";
    int rc = bib_read(copy, im.size, &m, err, sizeof err);
    free(copy);
    image_free(&im);
    assert_int_equal(rc, -1);
    if (strstr(err, "out of memory") || (!strstr(err, "SPIR-V") && !strstr(err, "spirv")))
        fail_msg("a 28-byte SPIR-V section claiming 4294967295 modules: \"%s\"", err);
}

/* ---- 2. the verifier ---- */

/* Declarations shared by the verifier tests; the code starts on line 7. */
#define VERIFY_DECLS                                   \
    ".tensor f f32 [2, 2]\n"                /* t0 */    \
    ".tensor i i32 [2, 2]\n"                /* t1 */    \
    ".tensor g f32 [2, 2]\n"                /* t2 */    \
    ".const  n i64 7\n"                     /* k0 */    \
    ".const  s str \"hello\"\n"             /* k1 */    \
    ".const  m f32 [2, 2] = [1, 2, 3, 4]\n" /* k2 */
#define FIRST_CODE_LINE 7

/* Assembles src (with .raw, so only the loader verifies it) and expects the load to fail with
 * "verify.adasm:LINE: pc PC: NAME: ..." containing phrase; verify_module_at agrees on the pc. */
static void expect_verify_error(const char *src, unsigned line, unsigned pc, const char *name, const char *phrase)
{
    adead_program *p = NULL;
    char err[2048] = "";
    assert_int_equal(adead_program_assemble(src, strlen(src), "verify.adasm", &p, err, sizeof err), ADEAD_E_LOAD);
    assert_null(p);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "verify.adasm:%u: pc %u: %s", line, pc, name);
    assert_starts_with(err, prefix);
    assert_contains(err, phrase);

    image im = assemble_image(src, "verify.adasm");
    bib_module m;
    assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
    uint32_t at = 0xFFFFFFFFu;
    char reason[600] = "";
    assert_int_equal(verify_module_at(&m, &at, reason, sizeof reason), -1);
    assert_int_equal(at, pc);
    assert_starts_with(reason, name);
    assert_contains(reason, phrase);
    bib_free(&m);
    image_free(&im);
}

static void expect_verifies(const char *src)
{
    adead_program *p = NULL;
    char err[2048] = "";
    int rc = adead_program_assemble(src, strlen(src), "verify.adasm", &p, err, sizeof err);
    if (rc != ADEAD_OK) fail_msg("expected the program to load, got %d: %s\n--- source:\n%s", rc, err, src);
    adead_program_free(p);
}

static void test_verify_decls_layout(void **state)
{
    (void)state;
    image im = assemble_image(VERIFY_DECLS "    HALT\n", "verify.adasm");
    bib_module m;
    assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
    assert_int_equal(m.n_tensors, 3);
    assert_int_equal(m.tensors[1].dtype, BIB_DT_I32);
    assert_int_equal(m.n_consts, 3);
    assert_int_equal(m.consts[1].kind, BIB_CONST_STR);
    assert_int_equal(m.consts[2].kind, BIB_CONST_TENSOR);
    assert_int_equal(bib_line_of(&m, 0, NULL), FIRST_CODE_LINE);
    bib_free(&m);
    image_free(&im);
}

static void test_verify_unknown_opcode(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    .raw 0x00001234, 0, 0, 0, 0\n"
                                     "    HALT\n",
                        8, 1, "unknown opcode 0x00001234", "");
    /* a known class with an unknown operation, and the top value */
    expect_verify_error(VERIFY_DECLS "    .raw 0x000000FE, 0, 0, 0, 0\n"
                                     "    HALT\n",
                        7, 0, "unknown opcode 0x000000FE", "");
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    NOP\n"
                                     "    .raw 0xFFFFFFFF, 0, 0, 0, 0\n",
                        9, 2, "unknown opcode 0xFFFFFFFF", "");
}

static void test_verify_register_out_of_range(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00020000, 1, 300, 2, 0\n" /* ADD r1, r300, r2 */
                                     "    HALT\n",
                        7, 0, "ADD", "operand 2: register 300 is out of range (0..255)");
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    .raw 0x00020000, 256, 1, 2, 0\n" /* ADD r256, r1, r2 */
                                     "    HALT\n",
                        8, 1, "ADD", "operand 1: register 256 is out of range (0..255)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00020044, 1, 2, 3, 0xFFFFFFFF\n" /* FMA ..., r4294967295 */
                                     "    HALT\n",
                        7, 0, "FMA", "operand 4: register 4294967295 is out of range");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000030, 1, 256, 0, 0\n" /* CALL @1, r256 */
                                     "    HALT\n",
                        7, 0, "CALL", "operand 2: register 256 is out of range");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000080, 1000, 0, 0, 0\n" /* PRINTI r1000 */
                                     "    HALT\n",
                        7, 0, "PRINTI", "operand 1: register 1000 is out of range");
    expect_verifies(VERIFY_DECLS "    .raw 0x00020000, 255, 255, 255, 0\n"
                                 "    HALT\n");
}

static void test_verify_tensor_index_out_of_range(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010035, 0, 3, 0, 0\n" /* TSIZE r0, t3 */
                                     "    HALT\n",
                        7, 0, "TSIZE", "operand 2: tensor 3 is out of range (3 tensors)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000083, 0xFFFFFFFF, 0, 0, 0\n" /* PRINTT t4294967295 */
                                     "    HALT\n",
                        7, 0, "PRINTT", "operand 1: tensor 4294967295 is out of range");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00030010, 0, 2, 9, 0\n" /* TADD f, g, t9 */
                                     "    HALT\n",
                        7, 0, "TADD", "operand 3: tensor 9 is out of range (3 tensors)");
}

static void test_verify_constant_index_out_of_range(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010023, 0, 3, 0, 0\n" /* LDK r0, k3 */
                                     "    HALT\n",
                        7, 0, "LDK", "operand 2: constant 3 is out of range (3 constants)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000082, 99, 0, 0, 0\n" /* PRINTS k99 */
                                     "    HALT\n",
                        7, 0, "PRINTS", "operand 1: constant 99 is out of range (3 constants)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010031, 0, 0xFFFFFFFF, 0, 0\n" /* TLOADK f, k4294967295 */
                                     "    HALT\n",
                        7, 0, "TLOADK", "operand 2: constant 4294967295 is out of range");
}

static void test_verify_constant_of_wrong_kind(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010023, 0, 1, 0, 0\n" /* LDK r0, s */
                                     "    HALT\n",
                        7, 0, "LDK", "operand 2: constant 1 is not a scalar constant");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010023, 0, 2, 0, 0\n" /* LDK r0, m */
                                     "    HALT\n",
                        7, 0, "LDK", "operand 2: constant 2 is not a scalar constant");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000082, 0, 0, 0, 0\n" /* PRINTS n */
                                     "    HALT\n",
                        7, 0, "PRINTS", "operand 1: constant 0 is not a string constant");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010031, 0, 0, 0, 0\n" /* TLOADK f, n */
                                     "    HALT\n",
                        7, 0, "TLOADK", "operand 2: constant 0 is not a tensor constant");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010031, 0, 1, 0, 0\n" /* TLOADK f, s */
                                     "    HALT\n",
                        7, 0, "TLOADK", "operand 2: constant 1 is not a tensor constant");
}

static void test_verify_f32_tensor_required(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00030000, 0, 1, 2, 0\n" /* MATMUL f, i, g */
                                     "    HALT\n",
                        7, 0, "MATMUL", "operand 2: tensor 1 is i32, this operand needs f32");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00030002, 1, 0, 0, 0\n" /* SOFTMAX i, f */
                                     "    HALT\n",
                        7, 0, "SOFTMAX", "operand 1: tensor 1 is i32, this operand needs f32");
    expect_verify_error(VERIFY_DECLS "    .raw 0xC0DA0020, 0, 2, 1, 0\n" /* GPU_MATMUL f, g, i */
                                     "    HALT\n",
                        7, 0, "GPU_MATMUL", "operand 3: tensor 1 is i32, this operand needs f32");
}

static void test_verify_jump_target_outside_code(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000001, 100, 0, 0, 0\n" /* JMP @100 */
                                     "    HALT\n",
                        7, 0, "JMP", "operand 1: jump target 100 is outside the code (2 instructions)");
    /* one past the last instruction is where a label may be, but not a jump target */
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000002, 0, 3, 0, 0\n" /* JZ r0, @3 */
                                     "    NOP\n"
                                     "    HALT\n",
                        7, 0, "JZ", "operand 2: jump target 3 is outside the code (3 instructions)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000030, 0xFFFFFFFF, 1, 0, 0\n" /* CALL @4294967295, r1 */
                                     "    HALT\n",
                        7, 0, "CALL", "operand 1: jump target 4294967295 is outside the code");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000040, 1, 2, 3, 0\n" /* SPAWN r1, @2, r3 */
                                     "    HALT\n",
                        7, 0, "SPAWN", "operand 2: jump target 2 is outside the code");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000020, 1, 2, 7, 0\n" /* LOOP r1, r2, @7 */
                                     "    HALT\n",
                        7, 0, "LOOP", "operand 3: jump target 7 is outside the code");
}

static void test_verify_unused_operand_not_zero(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    .raw 0x000000FF, 1, 0, 0, 0\n", /* HALT with a stray word */
                        8, 1, "HALT", "operand 1: unused operand is 1, must be 0");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00020000, 1, 2, 3, 7\n" /* ADD r1, r2, r3 + a fourth word */
                                     "    HALT\n",
                        7, 0, "ADD", "operand 4: unused operand is 7, must be 0");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000000, 0, 0, 0xFFFFFFFF, 0\n" /* NOP */
                                     "    HALT\n",
                        7, 0, "NOP", "operand 3: unused operand is 4294967295, must be 0");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010021, 1, 5, 0, 9\n" /* LDI r1, 5 + a fourth word */
                                     "    HALT\n",
                        7, 0, "LDI", "operand 4: unused operand is 9, must be 0");
}

static void test_verify_rank_and_axis_immediates(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010030, 0, 0, 5, 0\n" /* TNEW f, r0, 5 */
                                     "    HALT\n",
                        7, 0, "TNEW", "operand 3: rank 5 is over 4");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010038, 0, 0, 0xFFFFFFFF, 0\n" /* TRESHAPE f, r0, 2^32-1 */
                                     "    HALT\n",
                        7, 0, "TRESHAPE", "operand 3: rank 4294967295 is over 4");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010034, 0, 0, 4, 0\n" /* TDIM r0, f, 4 */
                                     "    HALT\n",
                        7, 0, "TDIM", "operand 3: axis 4 is over 3");
    expect_verifies(VERIFY_DECLS "    TNEW f, r0, 4\n"
                                 "    TDIM r0, f, 3\n"
                                 "    HALT\n");
}

static void test_verify_dimension_registers_past_r255(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010030, 0, 254, 3, 0\n" /* TNEW f, r254, 3 */
                                     "    HALT\n",
                        7, 0, "TNEW", "operand 2: dimensions r254..r256 run past r255");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010038, 0, 255, 2, 0\n" /* TRESHAPE f, r255, 2 */
                                     "    HALT\n",
                        7, 0, "TRESHAPE", "operand 2: dimensions r255..r256 run past r255");
    expect_verifies(VERIFY_DECLS "    TNEW f, r252, 4\n"
                                 "    TRESHAPE f, r255, 1\n"
                                 "    TNEW f, r255, 0\n"
                                 "    HALT\n");
}

static void test_verify_dtype_mismatch(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010037, 0, 1, 0, 0\n" /* TCOPY f, i */
                                     "    HALT\n",
                        7, 0, "TCOPY", "tensors 0 (f32) and 1 (i32) differ in dtype");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00030001, 1, 2, 0, 0\n" /* TRANSPOSE i, g */
                                     "    HALT\n",
                        7, 0, "TRANSPOSE", "tensors 1 (i32) and 2 (f32) differ in dtype");
    expect_verify_error(VERIFY_DECLS "    .raw 0x00010031, 1, 2, 0, 0\n" /* TLOADK i, m */
                                     "    HALT\n",
                        7, 0, "TLOADK", "constant 2 is f32 but tensor 1 is i32");
    expect_verifies(VERIFY_DECLS "    TCOPY g, f\n"
                                 "    TRANSPOSE i, i\n"
                                 "    TLOADK g, m\n"
                                 "    HALT\n");
}

static void test_verify_vk_compute_kernel(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00020000, 0, 1, 2\n" /* VK_COMPUTE ADD, ... */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 1: 0x00020000 is not a kernel VK_COMPUTE takes (a matrix-class opcode)");
    /* ATTENTION is one (4 tensors: the 4th in a VK_ARG after it) */
    expect_verifies(VERIFY_DECLS "    .raw 0x564B0010, 0x00030004, 0, 2, 2\n" /* VK_COMPUTE ATTENTION, f, g, g */
                                 "    .raw 0x564B0011, 0, 0, 0, 0\n"          /* VK_ARG f */
                                 "    HALT\n");
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x564B0010, 0, 0, 0\n" /* VK_COMPUTE VK_COMPUTE */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 1: 0x564B0010 is not a kernel");
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030099, 0, 0, 0\n" /* not an opcode */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 1: 0x00030099 is not a kernel");
    /* SOFTMAX takes two tensors: a third one is an error */
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030002, 0, 2, 1\n" /* VK_COMPUTE SOFTMAX f, g, i */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 4: SOFTMAX takes 2 tensors; this operand must be 0");
    /* the kernel's own operand rules */
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030000, 0, 1, 2\n" /* VK_COMPUTE MATMUL f, i, g */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 3: tensor 1 is i32, this operand needs f32");
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030000, 0, 2, 9\n" /* VK_COMPUTE MATMUL f, g, t9 */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 4: tensor 9 is out of range (3 tensors)");
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030001, 0, 1, 0\n" /* VK_COMPUTE TRANSPOSE f, i */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "tensors 0 (f32) and 1 (i32) differ in dtype");
    expect_verifies(VERIFY_DECLS "    VK_COMPUTE SOFTMAX, f, g\n"
                                 "    VK_COMPUTE MATMUL, f, g, g\n"
                                 "    VK_COMPUTE TRANSPOSE, i, i\n"
                                 "    HALT\n");
}

/* VK_COMPUTE of a 4-tensor kernel (ATTENTION, ATTENTION_CAUSAL) and the VK_ARG with its 4th tensor. */
static void test_verify_vk_compute_4_tensor_kernel_needs_vk_arg(void **state)
{
    (void)state;
    static const char *const phrase = "ATTENTION takes 4 tensors: the next instruction must be VK_ARG with the 4th";
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030004, 0, 2, 2\n" /* VK_COMPUTE ATTENTION, f, g, g */
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", phrase);
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    .raw 0x564B0010, 0x00030004, 0, 2, 2\n"
                                     "    NOP\n"
                                     "    .raw 0x564B0011, 0, 0, 0, 0\n" /* one instruction too late */
                                     "    HALT\n",
                        8, 1, "VK_COMPUTE", phrase);
    /* the last instruction: the code ends where the VK_ARG should be */
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030005, 0, 2, 2\n", /* VK_COMPUTE ATTENTION_CAUSAL */
                        7, 0, "VK_COMPUTE", "ATTENTION_CAUSAL takes 4 tensors: the next instruction must be VK_ARG with the 4th");
    /* from the assembler too: the 3-tensor form wants its VK_ARG on the next line */
    static const char src[] = VERIFY_DECLS "    VK_COMPUTE ATTENTION, f, g, g\n    HALT\n";
    void *bib = NULL;
    size_t size = 0;
    char err[2048] = "";
    assert_int_equal(adead_assemble(src, strlen(src), "verify.adasm", &bib, &size, err, sizeof err), ADEAD_E_LOAD);
    assert_starts_with(err, "verify.adasm:7:5: error: VK_COMPUTE: ATTENTION takes 4 tensors: the next instruction must be VK_ARG");
    free(bib);
    expect_verifies(VERIFY_DECLS "    VK_COMPUTE ATTENTION, f, g, g\n"
                                 "    VK_ARG f\n"
                                 "    VK_COMPUTE ATTENTION_CAUSAL, g, g, f, f\n"
                                 "    VK_COMPUTE ATTENTION, f, f, f, f\n"
                                 "    HALT\n");
}

static void test_verify_stray_vk_arg(void **state)
{
    (void)state;
    static const char *const phrase = "VK_ARG without a VK_COMPUTE of a 4-tensor kernel before it";
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0011, 0, 0, 0, 0\n" /* VK_ARG f at pc 0 */
                                     "    HALT\n",
                        7, 0, "VK_ARG", phrase);
    /* after a VK_COMPUTE of a kernel of 3 tensors or fewer: nothing changes for those */
    expect_verify_error(VERIFY_DECLS "    VK_COMPUTE MATMUL, f, g, g\n"
                                     "    .raw 0x564B0011, 0, 0, 0, 0\n"
                                     "    HALT\n",
                        8, 1, "VK_ARG", phrase);
    expect_verify_error(VERIFY_DECLS "    VK_COMPUTE RELU, f, g\n"
                                     "    .raw 0x564B0011, 2, 0, 0, 0\n" /* VK_ARG g */
                                     "    HALT\n",
                        8, 1, "VK_ARG", phrase);
    /* after the plain ATTENTION, which has its 4 tensors already */
    expect_verify_error(VERIFY_DECLS "    ATTENTION f, g, g, g\n"
                                     "    .raw 0x564B0011, 2, 0, 0, 0\n" /* VK_ARG g */
                                     "    HALT\n",
                        8, 1, "VK_ARG", phrase);
    /* a second VK_ARG */
    expect_verify_error(VERIFY_DECLS "    VK_COMPUTE ATTENTION, f, g, g, g\n"
                                     "    .raw 0x564B0011, 2, 0, 0, 0\n" /* VK_ARG g */
                                     "    HALT\n",
                        8, 2, "VK_ARG", phrase);
    /* after a VK_COMPUTE whose kernel word is no kernel: that one is the first error */
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00020000, 0, 2, 2\n"
                                     "    .raw 0x564B0011, 0, 0, 0, 0\n"
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "is not a kernel");
    /* its unused operands are 0 */
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030004, 0, 2, 2\n"
                                     "    .raw 0x564B0011, 2, 5, 0, 0\n"
                                     "    HALT\n",
                        8, 1, "VK_ARG", "operand 2: unused operand is 5, must be 0");
}

/* Nothing starts at a VK_ARG: no jump, branch, call, loop or task entry lands on one. */
static void test_verify_jump_onto_vk_arg(void **state)
{
    (void)state;
    static const char *const pair = "    VK_COMPUTE ATTENTION, f, g, g\n" /* pc 1 */
                                    "    VK_ARG g\n"                      /* pc 2 */
                                    "    HALT\n";
    static const struct {
        const char *first, *name, *phrase;
    } cases[] = {
        {"    .raw 0x00000001, 2, 0, 0, 0\n", "JMP", "operand 1: jump target 2 is a VK_ARG"},
        {"    .raw 0x00000002, 0, 2, 0, 0\n", "JZ", "operand 2: jump target 2 is a VK_ARG"},
        {"    .raw 0x0000000A, 0, 5, 2, 0\n", "JEQI", "operand 3: jump target 2 is a VK_ARG"},
        {"    .raw 0x00000020, 1, 2, 2, 0\n", "LOOP", "operand 3: jump target 2 is a VK_ARG"},
        {"    .raw 0x00000030, 2, 1, 0, 0\n", "CALL", "operand 1: jump target 2 is a VK_ARG"},
        {"    .raw 0x00000040, 1, 2, 3, 0\n", "SPAWN", "operand 2: jump target 2 is a VK_ARG"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[1024];
        snprintf(src, sizeof src, "%s%s%s", VERIFY_DECLS, cases[i].first, pair);
        expect_verify_error(src, 7, 0, cases[i].name, cases[i].phrase);
    }
    /* by label, from the assembler */
    static const char src[] = VERIFY_DECLS "    JMP mid\n"
                                           "    VK_COMPUTE ATTENTION, f, g, g\n"
                                           "mid:\n"
                                           "    VK_ARG g\n"
                                           "    HALT\n";
    void *bib = NULL;
    size_t size = 0;
    char err[2048] = "";
    assert_int_equal(adead_assemble(src, strlen(src), "verify.adasm", &bib, &size, err, sizeof err), ADEAD_E_LOAD);
    assert_starts_with(err, "verify.adasm:7:5: error: JMP: operand 1: jump target 2 is a VK_ARG");
    free(bib);
    /* onto the VK_COMPUTE, and onto what follows the pair: fine; a label at the VK_ARG that no
     * jump uses: fine */
    expect_verifies(VERIFY_DECLS "    JMP pair\n"
                                 "pair:\n"
                                 "    VK_COMPUTE ATTENTION, f, g, g\n"
                                 "unused:\n"
                                 "    VK_ARG g\n"
                                 "    JZ r0, after\n"
                                 "    SPAWN r1, pair, r0\n"
                                 "after:\n"
                                 "    HALT\n");
}

/* The kernel's own rules over all 4 tensors: ATTENTION's are f32; the 4th is checked at the
 * VK_ARG that holds it. */
static void test_verify_vk_compute_4_tensor_kernel_operands(void **state)
{
    (void)state;
    expect_verify_error(VERIFY_DECLS "    VK_COMPUTE ATTENTION, f, g, g\n"
                                     "    .raw 0x564B0011, 1, 0, 0, 0\n" /* VK_ARG i */
                                     "    HALT\n",
                        8, 1, "VK_ARG", "operand 1: tensor 1 is i32, this operand needs f32");
    expect_verify_error(VERIFY_DECLS "    VK_COMPUTE ATTENTION_CAUSAL, f, g, g\n"
                                     "    .raw 0x564B0011, 9, 0, 0, 0\n" /* VK_ARG t9 */
                                     "    HALT\n",
                        8, 1, "VK_ARG", "operand 1: tensor 9 is out of range (3 tensors)");
    /* the three in the VK_COMPUTE */
    static const char *const bad3[] = {
        "    .raw 0x564B0010, 0x00030004, 1, 2, 2\n", /* out i */
        "    .raw 0x564B0010, 0x00030004, 0, 1, 2\n", /* q i */
        "    .raw 0x564B0010, 0x00030005, 0, 2, 1\n", /* k i */
    };
    for (int s = 0; s < 3; s++) {
        char src[1024], phrase[128];
        snprintf(src, sizeof src, "%s%s    .raw 0x564B0011, 2, 0, 0, 0\n    HALT\n", VERIFY_DECLS, bad3[s]);
        snprintf(phrase, sizeof phrase, "operand %d: tensor 1 is i32, this operand needs f32", s + 2);
        expect_verify_error(src, 7, 0, "VK_COMPUTE", phrase);
    }
    expect_verify_error(VERIFY_DECLS "    .raw 0x564B0010, 0x00030004, 0, 2, 7\n" /* v in range, k not */
                                     "    .raw 0x564B0011, 2, 0, 0, 0\n"
                                     "    HALT\n",
                        7, 0, "VK_COMPUTE", "operand 4: tensor 7 is out of range (3 tensors)");
    /* the 5-operand form checks the 4th dtype as it assembles (a name lookup error) */
    static const char src[] = VERIFY_DECLS "    VK_COMPUTE ATTENTION, f, g, g, i\n    HALT\n";
    void *bib = NULL;
    size_t size = 0;
    char err[2048] = "";
    assert_int_equal(adead_assemble(src, strlen(src), "verify.adasm", &bib, &size, err, sizeof err), ADEAD_E_LOAD);
    assert_starts_with(err, "verify.adasm:7:36: error: 'i' is an i32 tensor; this operand needs f32");
    free(bib);
}

static void test_verify_last_instruction_falls_off_the_end(void **state)
{
    (void)state;
    static const char *const phrase = "the last instruction must be HALT, TRAP, RET or JMP";
    expect_verify_error(VERIFY_DECLS "    NOP\n"
                                     "    .raw 0x00020000, 1, 2, 3, 0\n", /* ADD r1, r2, r3 */
                        8, 1, "ADD", phrase);
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000002, 0, 0, 0, 0\n", /* JZ r0, @0: falls through */
                        7, 0, "JZ", phrase);
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000030, 0, 1, 0, 0\n", /* CALL @0, r1: returns here */
                        7, 0, "CALL", phrase);
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000041, 0, 0, 0, 0\n", /* YIELD */
                        7, 0, "YIELD", phrase);
    expect_verify_error(VERIFY_DECLS "    .raw 0x00000020, 1, 2, 0, 0\n", /* LOOP r1, r2, @0 */
                        7, 0, "LOOP", phrase);

    /* without .raw the assembler reports it, at the instruction's line and column */
    static const char src[] = VERIFY_DECLS "    ADD r1, r2, r3\n";
    void *bib = NULL;
    size_t size = 0;
    char err[2048] = "";
    assert_int_equal(adead_assemble(src, strlen(src), "verify.adasm", &bib, &size, err, sizeof err), ADEAD_E_LOAD);
    assert_starts_with(err, "verify.adasm:7:5: error: ADD: the last instruction must be HALT, TRAP, RET or JMP");
    free(bib);

    expect_verifies(VERIFY_DECLS "    TRAP 3\n");
    expect_verifies(VERIFY_DECLS "    RET\n");
    expect_verifies(VERIFY_DECLS "top:\n"
                                 "    JMP top\n");
}

/* Without a line table (or before its first entry) the message starts with the program's name;
 * the bad words are patched straight into the code section. */
static void test_verify_error_without_line_table_names_the_program(void **state)
{
    (void)state;
    image im = assemble_image(VERIFY_DECLS "    NOP\n"
                                           "    ADD r1, r2, r3\n"
                                           "    HALT\n",
                              "verify.adasm");
    bib_module m;
    assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
    image_free(&im);
    m.n_lines = 0;
    im = write_module(&m);
    put32(im.bytes, section_field(&im, BIB_SEC_CODE, ENTRY_OFFSET) + BIB_INSTR_SIZE + 8, 300); /* ADD's r2 */
    adead_program *p = NULL;
    char err[1024] = "";
    assert_int_equal(adead_program_load_memory(im.bytes, im.size, "patched.bib", &p, err, sizeof err), ADEAD_E_LOAD);
    assert_string_equal(err, "patched.bib: pc 1: ADD: operand 2: register 300 is out of range (0..255)");
    assert_int_equal(adead_program_load_memory(im.bytes, im.size, NULL, &p, err, sizeof err), ADEAD_E_LOAD);
    assert_string_equal(err, "<memory>: pc 1: ADD: operand 2: register 300 is out of range (0..255)");
    image_free(&im);

    /* a line table that starts after the bad pc */
    m.lines[0].pc = 2;
    m.lines[0].line = 9;
    m.lines[0].file = m.symbols[0].name; /* any string: "f" */
    m.n_lines = 1;
    im = write_module(&m);
    put32(im.bytes, section_field(&im, BIB_SEC_CODE, ENTRY_OFFSET) + BIB_INSTR_SIZE + 8, 300);
    assert_int_equal(adead_program_load_memory(im.bytes, im.size, "patched.bib", &p, err, sizeof err), ADEAD_E_LOAD);
    assert_string_equal(err, "patched.bib: pc 1: ADD: operand 2: register 300 is out of range (0..255)");
    bib_free(&m);
    image_free(&im);
}

/* ---- 3. mutation fuzz ---- */

/* The default run: FUZZ_ITERATIONS inputs from FUZZ_SEED, of which at least FUZZ_MIN_LOADED get
 * past the verifier. ADEAD_FUZZ_ITERATIONS and ADEAD_FUZZ_SEED change the first two, for a longer
 * search; the loaded count is then scaled. */
enum { FUZZ_ITERATIONS = 200000, FUZZ_MIN_LOADED = 5000 };
#define FUZZ_SEED 0x6269622D66757A7Aull

static uint64_t env_number(const char *name, uint64_t fallback)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static const char *const fuzz_sources[] = {
    "examples/fib.adasm",      "examples/loop_sum.adasm", "examples/mlp.adasm",
    "examples/softmax_rows.adasm", "examples/tasks.adasm",
};

typedef struct {
    uint8_t *b;
    size_t size, cap;
} buffer;

static void buffer_reserve(buffer *buf, size_t size)
{
    if (size <= buf->cap) return;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < size) cap *= 2;
    uint8_t *bigger = realloc(buf->b, cap);
    assert_non_null(bigger);
    buf->b = bigger;
    buf->cap = cap;
}

/* An aligned word: every field of the format is one. */
static size_t random_word(rng *r, const buffer *buf) { return (size_t)(rng_next(r) % (buf->size / 4)) * 4; }

/* A word of the code section while the table still locates one (else any word): mutants that
 * change only operands and opcodes often verify, and then exercise the interpreter. */
static size_t random_code_word(rng *r, const buffer *buf)
{
    if (buf->size >= BIB_HEADER_SIZE) {
        uint32_t nsec = get32(buf->b, 20), table = get32(buf->b, 24);
        for (uint32_t i = 0; i < nsec && i < BIB_MAX_SECTIONS; i++) {
            uint64_t entry = (uint64_t)table + (uint64_t)i * BIB_SECTION_SIZE;
            if (entry + BIB_SECTION_SIZE > buf->size) break;
            uint32_t off = get32(buf->b, entry + 4), size = get32(buf->b, entry + 8);
            if (get32(buf->b, entry) == BIB_SEC_CODE && size >= 4 && off % 4 == 0 && (uint64_t)off + size <= buf->size)
                return off + (size_t)(rng_next(r) % (size / 4)) * 4;
        }
    }
    return random_word(r, buf);
}

static void mutate_once(rng *r, buffer *buf)
{
    if (buf->size < 4) {
        buf->size = 0;
        return;
    }
    switch (rng_u32(r) % 12) {
    case 0: buf->b[rng_next(r) % buf->size] ^= (uint8_t)(1u << (rng_u32(r) % 8)); break;
    case 1: buf->b[rng_next(r) % buf->size] = (uint8_t)rng_u32(r); break;
    case 2: put32(buf->b, random_word(r, buf), 0); break;
    case 3: put32(buf->b, random_word(r, buf), 0xFFFFFFFFu); break;
    case 4: put32(buf->b, random_word(r, buf), rng_u32(r) % 17); break;
    case 5: put32(buf->b, random_word(r, buf), isa_ops[rng_u32(r) % OP__COUNT].value); break;
    case 6: {
        size_t at = random_word(r, buf);
        put32(buf->b, at, get32(buf->b, at) + (rng_u32(r) % 2 ? 1u : 0xFFFFFFFFu)); /* off by one */
        break;
    }
    case 7: buf->size = (size_t)(rng_next(r) % (buf->size + 1)); break;
    case 8: { /* a chunk repeated in place */
        size_t from = rng_next(r) % buf->size, len = 1 + rng_next(r) % 64;
        if (len > buf->size - from) len = buf->size - from;
        buffer_reserve(buf, buf->size + len);
        memmove(buf->b + from + len, buf->b + from, buf->size - from);
        buf->size += len;
        break;
    }
    case 9: { /* one word copied over another: a valid value in the wrong place */
        size_t from = random_word(r, buf), to = random_word(r, buf);
        put32(buf->b, to, get32(buf->b, from));
        break;
    }
    case 10: put32(buf->b, random_code_word(r, buf), rng_u32(r) % 8); break;
    default: put32(buf->b, random_code_word(r, buf), isa_ops[rng_u32(r) % OP__COUNT].value); break;
    }
}

static void discard_text(void *user, const char *text, size_t n)
{
    (void)user;
    (void)text;
    (void)n;
}

static int is_load_status(int rc) { return rc == ADEAD_OK || rc == ADEAD_E_LOAD; }

/* What a run of a verified program may end with: ARG when an input without a default is left
 * unbound; NOMEM would mean the 1 MiB limit failed to hold. */
static int is_run_status(int rc)
{
    return rc == ADEAD_OK || rc == ADEAD_E_ARG || rc == ADEAD_E_TRAP || rc == ADEAD_E_FUEL || rc == ADEAD_E_MEMORY;
}

static void run_loaded_program(const adead_program *p, int iteration)
{
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    assert_int_equal(adead_vm_set_fuel(vm, 10000), ADEAD_OK);
    assert_int_equal(adead_vm_set_memory_limit(vm, 1 << 20), ADEAD_OK);
    adead_vm_set_print(vm, discard_text, NULL);
    int rc = adead_vm_run(vm);
    if (!is_run_status(rc)) fail_msg("iteration %d: run returned %d (%s)", iteration, rc, adead_vm_error(vm));
    if (rc != ADEAD_OK && !adead_vm_error(vm)[0]) fail_msg("iteration %d: status %d without a message", iteration, rc);
    if (rc == ADEAD_OK) { /* the outputs can be read, unless one was left empty */
        char hex[65];
        int digest = adead_vm_digest(vm, hex);
        if (digest != ADEAD_OK && (digest != ADEAD_E_ARG || !strstr(adead_vm_error(vm), "was never written")))
            fail_msg("iteration %d: digest returned %d (%s)", iteration, digest, adead_vm_error(vm));
    }
    adead_vm_free(vm);
}

/* Whatever the reader accepts, the writer writes in a form the reader accepts, and that form is
 * a fixed point. */
static void check_rewrite(const uint8_t *bytes, size_t size, int iteration)
{
    bib_module m, again;
    char err[512] = "";
    if (bib_read(bytes, size, &m, err, sizeof err)) fail_msg("iteration %d: loaded but bib_read says %s", iteration, err);
    image first = write_module(&m);
    bib_free(&m);
    if (bib_read(first.bytes, first.size, &again, err, sizeof err))
        fail_msg("iteration %d: the rewritten file is refused: %s", iteration, err);
    image second = write_module(&again);
    bib_free(&again);
    assert_int_equal(first.size, second.size);
    assert_memory_equal(first.bytes, second.bytes, first.size);
    image_free(&first);
    image_free(&second);
}

/* Loads one input, and runs it when it loads; returns whether it loaded. */
static int fuzz_one(const buffer *buf, int iteration)
{
    uint8_t *copy = exact_copy(buf->b, buf->size);
    adead_program *p = NULL;
    char err[1024] = "";
    int rc = adead_program_load_memory(copy, buf->size, "fuzz.bib", &p, err, sizeof err);
    if (!is_load_status(rc)) fail_msg("iteration %d: load returned %d (%s)", iteration, rc, err);
    if (rc == ADEAD_E_LOAD) {
        assert_null(p);
        /* the reader names the program; the verifier names it or a source line of its line table */
        if (strncmp(err, "fuzz.bib: ", 10) && !strstr(err, ": pc "))
            fail_msg("iteration %d: message \"%s\" names neither the program nor a pc", iteration, err);
    } else {
        run_loaded_program(p, iteration);
        check_rewrite(copy, buf->size, iteration);
        adead_program_free(p);
    }
    free(copy);
    return rc == ADEAD_OK;
}

/* With ADEAD_FUZZ_SAVE=path each input is written there before it is tried, so that after a
 * crash the file holds the input that caused it. */
static void save_input(const buffer *buf)
{
    const char *path = getenv("ADEAD_FUZZ_SAVE");
    if (!path || !*path) return;
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(buf->b, 1, buf->size, f);
    fclose(f);
}

static void test_mutated_programs_never_crash(void **state)
{
    (void)state;
    enum { N_SEEDS = sizeof fuzz_sources / sizeof fuzz_sources[0] + 1 };
    image seeds[N_SEEDS];
    for (size_t i = 0; i + 1 < N_SEEDS; i++) {
        char *text = slurp(fuzz_sources[i], NULL);
        if (!text) fail_msg("cannot read %s (tests run from the top of the source tree)", fuzz_sources[i]);
        seeds[i] = assemble_image(text, fuzz_sources[i]);
        free(text);
    }
    seeds[N_SEEDS - 1] = full_image();

    int iterations = (int)env_number("ADEAD_FUZZ_ITERATIONS", FUZZ_ITERATIONS);
    rng r = {env_number("ADEAD_FUZZ_SEED", FUZZ_SEED) | 1}; /* xorshift needs a non-zero state */
    buffer buf = {NULL, 0, 0};
    int loaded = 0;
    for (int it = 0; it < iterations; it++) {
        const image *seed = &seeds[rng_next(&r) % N_SEEDS];
        buffer_reserve(&buf, seed->size);
        memcpy(buf.b, seed->bytes, seed->size);
        buf.size = seed->size;
        int mutations = 1 + (int)(rng_u32(&r) % 8);
        for (int k = 0; k < mutations; k++) mutate_once(&r, &buf);
        /* usually keep the size field honest, so that the mutation reaches the sections */
        if (rng_u32(&r) % 4 && buf.size >= BIB_HEADER_SIZE) put32(buf.b, 16, (uint32_t)buf.size);
        save_input(&buf);
        loaded += fuzz_one(&buf, it);
    }
    free(buf.b);
    for (size_t i = 0; i < N_SEEDS; i++) image_free(&seeds[i]);
    print_message("%d of %d mutated programs loaded\n", loaded, iterations);
    /* enough mutants get past the reader and the verifier to exercise the VM as well */
    if ((int64_t)loaded * FUZZ_ITERATIONS < (int64_t)FUZZ_MIN_LOADED * iterations)
        fail_msg("only %d of %d mutated programs loaded", loaded, iterations);
}

/* ---- 4. round trips ---- */

static void assert_modules_equal(const bib_module *a, const bib_module *b)
{
    assert_int_equal(a->ver_major, b->ver_major);
    assert_int_equal(a->ver_minor, b->ver_minor);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->n_code, b->n_code);
    assert_memory_equal(a->code, b->code, a->n_code * sizeof *a->code);
    assert_int_equal(a->strings_size, b->strings_size);
    if (a->strings_size) assert_memory_equal(a->strings, b->strings, a->strings_size);
    assert_int_equal(a->n_consts, b->n_consts);
    if (a->n_consts) assert_memory_equal(a->consts, b->consts, a->n_consts * sizeof *a->consts);
    assert_int_equal(a->data_size, b->data_size);
    if (a->data_size) assert_memory_equal(a->data, b->data, a->data_size);
    assert_int_equal(a->n_tensors, b->n_tensors);
    if (a->n_tensors) assert_memory_equal(a->tensors, b->tensors, a->n_tensors * sizeof *a->tensors);
    assert_int_equal(a->n_symbols, b->n_symbols);
    if (a->n_symbols) assert_memory_equal(a->symbols, b->symbols, a->n_symbols * sizeof *a->symbols);
    assert_int_equal(a->n_lines, b->n_lines);
    if (a->n_lines) assert_memory_equal(a->lines, b->lines, a->n_lines * sizeof *a->lines);
    assert_int_equal(a->n_spirv, b->n_spirv);
    for (uint32_t i = 0; i < a->n_spirv; i++) {
        assert_int_equal(a->spirv[i].name, b->spirv[i].name);
        assert_int_equal(a->spirv[i].n_words, b->spirv[i].n_words);
        assert_memory_equal(a->spirv[i].words, b->spirv[i].words, a->spirv[i].n_words * sizeof(uint32_t));
    }
}

/* A module built field by field, every section populated, every table with several entries. */
static const bib_instr rt_code[] = {
    {0x00010021, {1, 5, 0, 0}},  /* LDI r1, 5 */
    {0x00010023, {2, 0, 0, 0}},  /* LDK r2, k0 */
    {0x00010031, {1, 3, 0, 0}},  /* TLOADK t1, k3 */
    {0x00000082, {2, 0, 0, 0}},  /* PRINTS k2 */
    {0x000000FF, {0, 0, 0, 0}},  /* HALT */
};
static const char rt_strings[] = "\0main\0in\0out\0w\0seven\0pi\0msg\0weights\0prog.adasm\0lib.adasm\0kern\0kern2";
enum { S_MAIN = 1, S_IN = 6, S_OUT = 9, S_W = 13, S_SEVEN = 15, S_PI = 21, S_MSG = 24, S_WEIGHTS = 28,
       S_PROG = 36, S_LIB = 47, S_KERN = 57, S_KERN2 = 62 };
static const bib_const rt_consts[] = {
    {BIB_CONST_I64, BIB_DT_I64, 0, {0, 0, 0, 0}, 0, 8},
    {BIB_CONST_F32, BIB_DT_F32, 0, {0, 0, 0, 0}, 8, 4},
    {BIB_CONST_STR, 0, 0, {0, 0, 0, 0}, 12, 5},
    {BIB_CONST_TENSOR, BIB_DT_F32, 2, {2, 2, 0, 0}, 24, 16},
    {BIB_CONST_TENSOR, BIB_DT_I64, 4, {1, 1, 1, 2, }, 40, 16},
    {BIB_CONST_TENSOR, BIB_DT_I32, 3, {0, 7, 9, 0}, 56, 0},
};
static const bib_tensor rt_tensors[] = {
    {BIB_DT_F32, BIB_T_INPUT | BIB_T_SHAPED, 2, {2, 2, 0, 0}, 3},
    {BIB_DT_F32, BIB_T_OUTPUT, 0, {0, 0, 0, 0}, BIB_NONE},
    {BIB_DT_I64, BIB_T_SHAPED, 4, {1, 1, 1, 2}, 4},
    {BIB_DT_I32, BIB_T_INPUT | BIB_T_OUTPUT | BIB_T_SHAPED, 1, {3, 0, 0, 0}, BIB_NONE},
    {BIB_DT_I32, 0, 0, {0, 0, 0, 0}, 5},
};
static const bib_symbol rt_symbols[] = {
    {BIB_SYM_TENSOR, 0, S_IN}, {BIB_SYM_TENSOR, 1, S_OUT}, {BIB_SYM_TENSOR, 3, S_W},
    {BIB_SYM_CONST, 0, S_SEVEN}, {BIB_SYM_CONST, 1, S_PI}, {BIB_SYM_CONST, 2, S_MSG},
    {BIB_SYM_CONST, 3, S_WEIGHTS}, {BIB_SYM_LABEL, 0, S_MAIN}, {BIB_SYM_LABEL, 5, S_MSG},
};
static const bib_line rt_lines[] = {{0, 3, S_PROG}, {2, 0, 0}, {3, 17, S_LIB}, {4, 4, S_PROG}};
static const uint32_t rt_spirv_words[] = {0x07230203, 0x00010000, 0, 8, 0, 0x07230203, 0x00010300, 1, 2, 0, 99};

static void round_trip_module(bib_module *m, uint8_t *data, bib_spirv *spirv)
{
    memset(m, 0, sizeof *m);
    m->ver_major = BIB_VERSION_MAJOR;
    m->ver_minor = BIB_VERSION_MINOR;
    m->flags = BIB_FLAG_RELAXED;
    m->code = (bib_instr *)rt_code;
    m->n_code = sizeof rt_code / sizeof rt_code[0];
    m->strings = (char *)rt_strings;
    m->strings_size = sizeof rt_strings; /* the literal's own NUL closes the last string */
    m->consts = (bib_const *)rt_consts;
    m->n_consts = sizeof rt_consts / sizeof rt_consts[0];
    int64_t seven = 7, shape[2] = {-1, 1ll << 40};
    float pi = 3.14159274f, weights[4] = {0.5f, -1.0f, 2.0f, -0.0f};
    memset(data, 0, 56);
    memcpy(data, &seven, 8);
    memcpy(data + 8, &pi, 4);
    memcpy(data + 12, "hello", 5);
    memcpy(data + 24, weights, 16);
    memcpy(data + 40, shape, 16);
    m->data = data;
    m->data_size = 56;
    m->tensors = (bib_tensor *)rt_tensors;
    m->n_tensors = sizeof rt_tensors / sizeof rt_tensors[0];
    m->symbols = (bib_symbol *)rt_symbols;
    m->n_symbols = sizeof rt_symbols / sizeof rt_symbols[0];
    m->lines = (bib_line *)rt_lines;
    m->n_lines = sizeof rt_lines / sizeof rt_lines[0];
    spirv[0].name = S_KERN;
    spirv[0].n_words = 5;
    spirv[0].words = rt_spirv_words;
    spirv[1].name = S_KERN2;
    spirv[1].n_words = 6;
    spirv[1].words = rt_spirv_words + 5;
    m->spirv = spirv;
    m->n_spirv = 2;
}

static void test_round_trip_every_section(void **state)
{
    (void)state;
    bib_module m, back, again;
    uint8_t data[56];
    bib_spirv spirv[2];
    round_trip_module(&m, data, spirv);

    image first = write_module(&m);
    assert_int_equal(get32(first.bytes, 20), BIB_SEC__LAST);
    char err[512] = "";
    if (bib_read(first.bytes, first.size, &back, err, sizeof err)) fail_msg("bib_read: %s", err);
    assert_modules_equal(&m, &back);

    image second = write_module(&back);
    assert_int_equal(first.size, second.size);
    assert_memory_equal(first.bytes, second.bytes, first.size);
    assert_int_equal(bib_read(second.bytes, second.size, &again, NULL, 0), 0);
    assert_modules_equal(&back, &again);

    /* every section is 4-byte aligned and the file is exactly as long as they are together */
    uint32_t end = BIB_HEADER_SIZE + BIB_SEC__LAST * BIB_SECTION_SIZE;
    for (uint32_t type = 1; type <= BIB_SEC__LAST; type++) {
        assert_int_equal(section_field(&first, type, ENTRY_OFFSET), end);
        end += (section_field(&first, type, ENTRY_SIZE) + 3) & ~3u;
    }
    assert_int_equal(end, first.size);

    bib_free(&back);
    bib_free(&again);
    image_free(&first);
    image_free(&second);
}

/* The assembler writes the canonical form: reading and writing its output changes nothing. */
static void test_round_trip_of_assembled_programs(void **state)
{
    (void)state;
    image im = full_image();
    bib_module m;
    assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
    image back = write_module(&m);
    assert_int_equal(back.size, im.size);
    assert_memory_equal(back.bytes, im.bytes, im.size);
    bib_free(&m);
    image_free(&back);
    image_free(&im);

    for (size_t i = 0; i < sizeof fuzz_sources / sizeof fuzz_sources[0]; i++) {
        char *text = slurp(fuzz_sources[i], NULL);
        assert_non_null(text);
        im = assemble_image(text, fuzz_sources[i]);
        free(text);
        assert_int_equal(bib_read(im.bytes, im.size, &m, NULL, 0), 0);
        back = write_module(&m);
        assert_int_equal(back.size, im.size);
        assert_memory_equal(back.bytes, im.bytes, im.size);
        bib_free(&m);
        image_free(&back);
        image_free(&im);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file_is_refused),
        cmocka_unit_test(test_file_shorter_than_header_is_refused),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_every_truncation_with_a_matching_size_field_is_refused),
        cmocka_unit_test(test_bad_magic_is_refused),
        cmocka_unit_test(test_unsupported_major_version_is_refused),
        cmocka_unit_test(test_higher_minor_version_is_refused),
        cmocka_unit_test(test_unknown_header_flags_are_refused),
        cmocka_unit_test(test_file_size_field_mismatch_is_refused),
        cmocka_unit_test(test_reserved_header_field_is_refused),
        cmocka_unit_test(test_too_many_sections_are_refused),
        cmocka_unit_test(test_section_table_outside_file_or_over_header_is_refused),
        cmocka_unit_test(test_section_past_end_of_file_is_refused),
        cmocka_unit_test(test_misaligned_section_is_refused),
        cmocka_unit_test(test_two_sections_of_one_type_are_refused),
        cmocka_unit_test(test_unknown_section_type_is_refused),
        cmocka_unit_test(test_overlapping_sections_are_refused),
        cmocka_unit_test(test_section_size_not_matching_count_is_refused),
        cmocka_unit_test(test_missing_code_section_is_refused),
        cmocka_unit_test(test_strings_not_nul_framed_are_refused),
        cmocka_unit_test(test_name_offset_outside_strings_is_refused),
        cmocka_unit_test(test_invalid_symbol_names_are_refused),
        cmocka_unit_test(test_duplicate_symbol_is_refused),
        cmocka_unit_test(test_tensor_or_constant_with_two_names_is_refused),
        cmocka_unit_test(test_input_or_output_without_name_is_refused),
        cmocka_unit_test(test_symbol_value_out_of_range_is_refused),
        cmocka_unit_test(test_constant_data_outside_data_section_is_refused),
        cmocka_unit_test(test_constant_data_size_not_matching_shape_is_refused),
        cmocka_unit_test(test_constant_with_wrong_dtype_or_rank_is_refused),
        cmocka_unit_test(test_unknown_constant_kind_is_refused),
        cmocka_unit_test(test_constant_reserved_field_is_refused),
        cmocka_unit_test(test_dimensions_beyond_rank_are_refused),
        cmocka_unit_test(test_rank_over_4_is_refused),
        cmocka_unit_test(test_huge_shapes_are_refused_without_overflow),
        cmocka_unit_test(test_shape_of_exactly_2_pow_40_elements_is_accepted),
        cmocka_unit_test(test_zero_dimension_beside_huge_ones_counts_zero_elements),
        cmocka_unit_test(test_tensor_initial_constant_checks),
        cmocka_unit_test(test_unknown_tensor_flags_are_refused),
        cmocka_unit_test(test_bad_line_table_is_refused),
        cmocka_unit_test(test_bad_spirv_module_is_refused),
        cmocka_unit_test(test_spirv_module_count_past_section_is_refused),
        cmocka_unit_test(test_verify_decls_layout),
        cmocka_unit_test(test_verify_unknown_opcode),
        cmocka_unit_test(test_verify_register_out_of_range),
        cmocka_unit_test(test_verify_tensor_index_out_of_range),
        cmocka_unit_test(test_verify_constant_index_out_of_range),
        cmocka_unit_test(test_verify_constant_of_wrong_kind),
        cmocka_unit_test(test_verify_f32_tensor_required),
        cmocka_unit_test(test_verify_jump_target_outside_code),
        cmocka_unit_test(test_verify_unused_operand_not_zero),
        cmocka_unit_test(test_verify_rank_and_axis_immediates),
        cmocka_unit_test(test_verify_dimension_registers_past_r255),
        cmocka_unit_test(test_verify_dtype_mismatch),
        cmocka_unit_test(test_verify_vk_compute_kernel),
        cmocka_unit_test(test_verify_vk_compute_4_tensor_kernel_needs_vk_arg),
        cmocka_unit_test(test_verify_stray_vk_arg),
        cmocka_unit_test(test_verify_jump_onto_vk_arg),
        cmocka_unit_test(test_verify_vk_compute_4_tensor_kernel_operands),
        cmocka_unit_test(test_verify_last_instruction_falls_off_the_end),
        cmocka_unit_test(test_verify_error_without_line_table_names_the_program),
        cmocka_unit_test(test_mutated_programs_never_crash),
        cmocka_unit_test(test_round_trip_every_section),
        cmocka_unit_test(test_round_trip_of_assembled_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
