/* The .bib bytecode file: layout constants, the in-memory module, reader and writer.
 * docs/format.md is the normative description; this header follows it field by field. */
#ifndef ADEAD_BIB_H
#define ADEAD_BIB_H

#include <stddef.h>
#include <stdint.h>

#define BIB_MAGIC "ADEADBIB"
#define BIB_VERSION_MAJOR 1
#define BIB_VERSION_MINOR 0
#define BIB_FLAG_RELAXED 0x1u /* the program accepts executors that are not bit-exact */
#define BIB_FLAGS_KNOWN BIB_FLAG_RELAXED

#define BIB_HEADER_SIZE 32
#define BIB_SECTION_SIZE 16
#define BIB_INSTR_SIZE 20
#define BIB_CONST_SIZE 40
#define BIB_TENSOR_SIZE 32
#define BIB_SYMBOL_SIZE 12
#define BIB_LINE_SIZE 12
#define BIB_MAX_SECTIONS 16
#define BIB_MAX_FILE (1u << 30)   /* the loader refuses larger files */
#define BIB_MAX_ELEMENTS (1ull << 40)
#define BIB_NONE 0xFFFFFFFFu      /* "no constant" in a tensor's init field */

enum {
    BIB_SEC_CODE = 1,
    BIB_SEC_STRINGS = 2,
    BIB_SEC_CONSTS = 3,
    BIB_SEC_DATA = 4,
    BIB_SEC_TENSORS = 5,
    BIB_SEC_SYMBOLS = 6,
    BIB_SEC_LINES = 7,
    BIB_SEC_SPIRV = 8,
    BIB_SEC__LAST = 8
};

/* Element types, shared with the public header (ADEAD_F32, ...). */
enum { BIB_DT_F32 = 1, BIB_DT_I32 = 2, BIB_DT_I64 = 3 };

enum { BIB_CONST_I64 = 1, BIB_CONST_F32 = 2, BIB_CONST_STR = 3, BIB_CONST_TENSOR = 4 };

enum { BIB_T_INPUT = 1, BIB_T_OUTPUT = 2, BIB_T_SHAPED = 4, BIB_T_FLAGS_KNOWN = 7 };

enum { BIB_SYM_LABEL = 1, BIB_SYM_TENSOR = 2, BIB_SYM_CONST = 3 };

typedef struct {
    uint32_t op;
    uint32_t a[4];
} bib_instr;

typedef struct {
    uint32_t kind, dtype, rank;
    uint32_t dims[4];
    uint32_t data_off, data_size; /* bytes in the DATA section */
} bib_const;

typedef struct {
    uint32_t dtype, flags, rank;
    uint32_t dims[4]; /* the declared shape when BIB_T_SHAPED */
    uint32_t init;    /* tensor constant copied in at start, or BIB_NONE */
} bib_tensor;

typedef struct {
    uint32_t kind, value, name; /* name: offset in STRINGS */
} bib_symbol;

typedef struct {
    uint32_t pc, line, file; /* from pc on, until the next entry: file:line */
} bib_line;

typedef struct {
    uint32_t name;
    uint32_t n_words;
    const uint32_t *words; /* points into the module's own copy */
} bib_spirv;

/* A file's contents, decoded to host order. Arrays are owned by the module. */
typedef struct {
    uint16_t ver_major, ver_minor;
    uint32_t flags;
    bib_instr *code;
    uint32_t n_code;
    char *strings; /* NUL-separated; offset 0 is the empty string */
    uint32_t strings_size;
    bib_const *consts;
    uint32_t n_consts;
    uint8_t *data;
    uint32_t data_size;
    bib_tensor *tensors;
    uint32_t n_tensors;
    bib_symbol *symbols;
    uint32_t n_symbols;
    bib_line *lines;
    uint32_t n_lines;
    bib_spirv *spirv;
    uint32_t n_spirv;
    uint32_t *spirv_words;
} bib_module;

/* Decode and check a file image: every size, offset, count and cross-reference. Instruction
 * operands are the verifier's job (vm/verify.c). Returns 0, or -1 with a message in err
 * (BIB_ERR_NOMEM when the host ran out of memory for a file that may be fine). */
#define BIB_ERR_NOMEM (-2)
int bib_read(const void *bytes, size_t size, bib_module *out, char *err, size_t errlen);
void bib_free(bib_module *m);

/* Encode a module in canonical form (fixed section order, empty sections left out).
 * Returns 0, or -1 when out of memory or past the format's limits. */
int bib_write(const bib_module *m, uint8_t **out, size_t *out_size);

size_t bib_dtype_size(uint32_t dtype); /* 0 for an unknown dtype */
const char *bib_dtype_name(uint32_t dtype);
const char *bib_section_name(uint32_t type);
/* Element count of a shape (0 when any dimension is 0), or -1 past BIB_MAX_ELEMENTS
 * (overflow-safe). */
int64_t bib_shape_count(uint32_t rank, const uint32_t *dims);
/* Source position of a pc from the line table: line 0 when there is none. */
uint32_t bib_line_of(const bib_module *m, uint32_t pc, const char **file);
/* Words that cannot be names: the type words (f32 i32 i64 str) and r<N>, t<N>, k<N>, which the
 * assembler reads as a register, a tensor slot and a constant index. */
int bib_reserved_name(const char *s, size_t len);

/* The fileio_head_check for .bib streams (util/fileio.h): refuses what does not start with the magic. */
int bib_head_check(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t whylen);

#endif
