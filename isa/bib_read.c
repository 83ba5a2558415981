/* .bib reader: the file is untrusted, so every field is checked before it is used. */
#include "bib.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t bib_dtype_size(uint32_t dtype)
{
    switch (dtype) {
    case BIB_DT_F32: return 4;
    case BIB_DT_I32: return 4;
    case BIB_DT_I64: return 8;
    default: return 0;
    }
}

const char *bib_dtype_name(uint32_t dtype)
{
    switch (dtype) {
    case BIB_DT_F32: return "f32";
    case BIB_DT_I32: return "i32";
    case BIB_DT_I64: return "i64";
    default: return "?";
    }
}

const char *bib_section_name(uint32_t type)
{
    static const char *const names[] = {"?",       "code",    "strings", "consts", "data",
                                        "tensors", "symbols", "lines",   "spirv"};
    return type <= BIB_SEC__LAST ? names[type] : "?";
}

int64_t bib_shape_count(uint32_t rank, const uint32_t *dims)
{
    for (uint32_t i = 0; i < rank; i++)
        if (!dims[i]) return 0; /* wherever the zero is */
    uint64_t n = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (n > BIB_MAX_ELEMENTS / dims[i]) return -1;
        n *= dims[i];
    }
    return (int64_t)n;
}

typedef struct {
    uint32_t offset, size, count;
    int present;
} section;

/* A string offset is valid when it lies inside STRINGS (which is NUL-terminated). */
static int string_ok(const bib_module *m, uint32_t off) { return off < m->strings_size; }

static int check_shape(const uint32_t *dims, uint32_t rank, const char *what, uint32_t i,
                       char *err, size_t errlen)
{
    if (rank > 4) return fail(err, errlen, "%s %u: rank %u is over 4", what, i, rank);
    for (uint32_t d = rank; d < 4; d++)
        if (dims[d]) return fail(err, errlen, "%s %u: dimension %u set beyond rank %u", what, i, d, rank);
    if (bib_shape_count(rank, dims) < 0)
        return fail(err, errlen, "%s %u: shape has more than 2^40 elements", what, i);
    return 0;
}

static int read_consts(const uint8_t *p, bib_module *m, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->n_consts; i++, p += BIB_CONST_SIZE) {
        bib_const *c = &m->consts[i];
        c->kind = rd32(p);
        c->dtype = rd32(p + 4);
        c->rank = rd32(p + 8);
        for (int d = 0; d < 4; d++) c->dims[d] = rd32(p + 12 + 4 * d);
        c->data_off = rd32(p + 28);
        c->data_size = rd32(p + 32);
        if (rd32(p + 36)) return fail(err, errlen, "constant %u: reserved field is not zero", i);
        if ((uint64_t)c->data_off + c->data_size > m->data_size)
            return fail(err, errlen, "constant %u: data [%u, +%u) is outside the data section (%u bytes)",
                        i, c->data_off, c->data_size, m->data_size);
        uint64_t want;
        switch (c->kind) {
        case BIB_CONST_I64:
        case BIB_CONST_F32:
            if (c->dtype != (c->kind == BIB_CONST_I64 ? BIB_DT_I64 : BIB_DT_F32) || c->rank)
                return fail(err, errlen, "constant %u: a scalar constant with dtype %u, rank %u", i,
                            c->dtype, c->rank);
            want = bib_dtype_size(c->dtype);
            break;
        case BIB_CONST_STR:
            if (c->dtype || c->rank) return fail(err, errlen, "constant %u: a string with dtype or rank", i);
            want = c->data_size;
            break;
        case BIB_CONST_TENSOR:
            if (!bib_dtype_size(c->dtype)) return fail(err, errlen, "constant %u: unknown dtype %u", i, c->dtype);
            if (check_shape(c->dims, c->rank, "constant", i, err, errlen)) return -1;
            want = (uint64_t)bib_shape_count(c->rank, c->dims) * bib_dtype_size(c->dtype);
            break;
        default: return fail(err, errlen, "constant %u: unknown kind %u", i, c->kind);
        }
        if (c->kind != BIB_CONST_TENSOR && c->kind != BIB_CONST_STR && (c->dims[0] | c->dims[1] | c->dims[2] | c->dims[3]))
            return fail(err, errlen, "constant %u: a scalar constant with dimensions", i);
        if (c->kind == BIB_CONST_STR && (c->dims[0] | c->dims[1] | c->dims[2] | c->dims[3]))
            return fail(err, errlen, "constant %u: a string with dimensions", i);
        if (c->data_size != want)
            return fail(err, errlen, "constant %u: %u data bytes where its type needs %llu", i, c->data_size,
                        (unsigned long long)want);
    }
    return 0;
}

static int read_tensors(const uint8_t *p, bib_module *m, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->n_tensors; i++, p += BIB_TENSOR_SIZE) {
        bib_tensor *t = &m->tensors[i];
        t->dtype = rd32(p);
        t->flags = rd32(p + 4);
        t->rank = rd32(p + 8);
        for (int d = 0; d < 4; d++) t->dims[d] = rd32(p + 12 + 4 * d);
        t->init = rd32(p + 28);
        if (!bib_dtype_size(t->dtype)) return fail(err, errlen, "tensor %u: unknown dtype %u", i, t->dtype);
        if (t->flags & ~(uint32_t)BIB_T_FLAGS_KNOWN)
            return fail(err, errlen, "tensor %u: unknown flags 0x%x", i, t->flags & ~(uint32_t)BIB_T_FLAGS_KNOWN);
        if (!(t->flags & BIB_T_SHAPED) && (t->rank || t->dims[0] || t->dims[1] || t->dims[2] || t->dims[3]))
            return fail(err, errlen, "tensor %u: a shape without the shaped flag", i);
        if (check_shape(t->dims, t->rank, "tensor", i, err, errlen)) return -1;
        if (t->init != BIB_NONE) {
            if (t->init >= m->n_consts)
                return fail(err, errlen, "tensor %u: initial constant %u is out of range (%u constants)", i,
                            t->init, m->n_consts);
            const bib_const *c = &m->consts[t->init];
            if (c->kind != BIB_CONST_TENSOR || c->dtype != t->dtype)
                return fail(err, errlen, "tensor %u: initial constant %u is not a %s tensor", i, t->init,
                            bib_dtype_name(t->dtype));
            if ((t->flags & BIB_T_SHAPED) &&
                (c->rank != t->rank || memcmp(c->dims, t->dims, sizeof c->dims)))
                return fail(err, errlen, "tensor %u: declared shape differs from its initial constant's", i);
        }
    }
    return 0;
}

int bib_reserved_name(const char *s, size_t len)
{
    static const char *const types[] = {"f32", "i32", "i64", "str"};
    for (int i = 0; i < 4; i++)
        if (len == 3 && !memcmp(s, types[i], 3)) return 1;
    if (len < 2 || (s[0] != 'r' && s[0] != 't' && s[0] != 'k')) return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* What the assembler reads as one identifier: [A-Za-z_][A-Za-z0-9_.]* */
static int identifier(const char *s)
{
    if (!*s) return 0;
    for (const char *q = s; *q; q++) {
        char ch = *q;
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(q != s && ((ch >= '0' && ch <= '9') || ch == '.'))) return 0;
    }
    return 1;
}

static int valid_name(const char *s) { return identifier(s) && !bib_reserved_name(s, strlen(s)); }

static uint32_t symbol_hash(const bib_module *m, const bib_symbol *s)
{
    uint32_t h = 2166136261u ^ s->kind;
    for (const char *q = m->strings + s->name; *q; q++) h = (h ^ (uint8_t)*q) * 16777619u;
    return h;
}

/* Index of a symbol with the same kind and name as an earlier one, or -1 (open addressing). */
static int64_t find_duplicate_symbol(const bib_module *m, uint32_t *slots, uint32_t nslots)
{
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        const bib_symbol *s = &m->symbols[i];
        uint32_t h = symbol_hash(m, s) & (nslots - 1);
        for (; slots[h]; h = (h + 1) & (nslots - 1)) {
            const bib_symbol *o = &m->symbols[slots[h] - 1];
            if (o->kind == s->kind && !strcmp(m->strings + o->name, m->strings + s->name)) return i;
        }
        slots[h] = i + 1;
    }
    return -1;
}

static int read_symbols(const uint8_t *p, bib_module *m, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->n_symbols; i++, p += BIB_SYMBOL_SIZE) {
        bib_symbol *s = &m->symbols[i];
        s->kind = rd32(p);
        s->value = rd32(p + 4);
        s->name = rd32(p + 8);
        if (!string_ok(m, s->name)) return fail(err, errlen, "symbol %u: name offset %u is outside the strings", i, s->name);
        if (!valid_name(m->strings + s->name))
            return fail(err, errlen, "symbol %u: \"%s\" is not a valid name (an identifier, not a reserved word)", i, m->strings + s->name);
        uint32_t limit;
        switch (s->kind) {
        case BIB_SYM_LABEL: limit = m->n_code + 1; break; /* a label may sit just past the last instruction */
        case BIB_SYM_TENSOR: limit = m->n_tensors; break;
        case BIB_SYM_CONST: limit = m->n_consts; break;
        default: return fail(err, errlen, "symbol %u: unknown kind %u", i, s->kind);
        }
        if (s->value >= limit)
            return fail(err, errlen, "symbol %u (%s): value %u is out of range", i, m->strings + s->name, s->value);
    }
    /* Names are unique within a kind, and a tensor or constant has at most one name. */
    uint32_t nslots = 16;
    while (nslots < 2 * (uint64_t)m->n_symbols) nslots *= 2;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return fail(err, errlen, "out of memory");
    int64_t dup = find_duplicate_symbol(m, slots, nslots);
    free(slots);
    if (dup >= 0) return fail(err, errlen, "symbol \"%s\" is defined twice", m->strings + m->symbols[dup].name);
    uint8_t *named = calloc((size_t)m->n_tensors + m->n_consts + 1, 1);
    if (!named) return fail(err, errlen, "out of memory");
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        const bib_symbol *s = &m->symbols[i];
        if (s->kind == BIB_SYM_LABEL) continue;
        size_t slot = s->kind == BIB_SYM_TENSOR ? s->value : (size_t)m->n_tensors + s->value;
        if (named[slot]++) {
            free(named);
            return fail(err, errlen, "%s %u has two names", s->kind == BIB_SYM_TENSOR ? "tensor" : "constant", s->value);
        }
    }
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if ((m->tensors[i].flags & (BIB_T_INPUT | BIB_T_OUTPUT)) && !named[i]) {
            free(named);
            return fail(err, errlen, "tensor %u is an input or output but has no name", i);
        }
    free(named);
    return 0;
}

static int read_lines(const uint8_t *p, bib_module *m, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->n_lines; i++, p += BIB_LINE_SIZE) {
        bib_line *l = &m->lines[i];
        l->pc = rd32(p);
        l->line = rd32(p + 4);
        l->file = rd32(p + 8);
        if (l->pc >= m->n_code) return fail(err, errlen, "line entry %u: pc %u is outside the code", i, l->pc);
        if (i && l->pc <= m->lines[i - 1].pc)
            return fail(err, errlen, "line entry %u: pcs are not increasing", i);
        if (!string_ok(m, l->file)) return fail(err, errlen, "line entry %u: file name offset is outside the strings", i);
        /* Each entry changes something (the first one: from "no line, no file"). */
        uint32_t prev_line = i ? m->lines[i - 1].line : 0;
        const char *prev_file = i ? m->strings + m->lines[i - 1].file : "";
        if (l->line == prev_line && !strcmp(m->strings + l->file, prev_file))
            return fail(err, errlen, "line entry %u: repeats the file and line before it", i);
    }
    return 0;
}

static int read_spirv(const uint8_t *p, uint32_t size, bib_module *m, char *err, size_t errlen)
{
    uint32_t words_total = size / 4;
    m->spirv_words = malloc(sizeof(uint32_t) * (words_total ? words_total : 1));
    if (!m->spirv_words) return fail(err, errlen, "out of memory");
    for (uint32_t w = 0; w < words_total; w++) m->spirv_words[w] = rd32(p + 4 * w);
    uint32_t at = 0;
    for (uint32_t i = 0; i < m->n_spirv; i++) {
        if (words_total - at < 2) return fail(err, errlen, "SPIR-V module %u: truncated header", i);
        bib_spirv *s = &m->spirv[i];
        s->name = m->spirv_words[at];
        s->n_words = m->spirv_words[at + 1];
        at += 2;
        if (!string_ok(m, s->name) || !identifier(m->strings + s->name))
            return fail(err, errlen, "SPIR-V module %u: its name is not an identifier (or lies outside the strings)", i);
        if (s->n_words > words_total - at) return fail(err, errlen, "SPIR-V module %u: %u words run past the section", i, s->n_words);
        if (s->n_words < 5 || m->spirv_words[at] != 0x07230203u)
            return fail(err, errlen, "SPIR-V module %u: not a SPIR-V binary (bad magic or header)", i);
        s->words = m->spirv_words + at;
        at += s->n_words;
    }
    if (at != words_total) return fail(err, errlen, "SPIR-V section: %u bytes left after the last module", 4 * (words_total - at));
    return 0;
}

/* The size each counted section must have, or 0 for byte sections (size == count). */
static uint32_t entry_size(uint32_t type)
{
    switch (type) {
    case BIB_SEC_CODE: return BIB_INSTR_SIZE;
    case BIB_SEC_CONSTS: return BIB_CONST_SIZE;
    case BIB_SEC_TENSORS: return BIB_TENSOR_SIZE;
    case BIB_SEC_SYMBOLS: return BIB_SYMBOL_SIZE;
    case BIB_SEC_LINES: return BIB_LINE_SIZE;
    default: return 0;
    }
}

static int read_sections(const uint8_t *b, size_t size, section *sec, char *err, size_t errlen)
{
    uint32_t nsec = rd32(b + 20), table = rd32(b + 24);
    if (nsec > BIB_MAX_SECTIONS) return fail(err, errlen, "%u sections (at most %d)", nsec, BIB_MAX_SECTIONS);
    if (table < BIB_HEADER_SIZE || table % 4 || (uint64_t)table + (uint64_t)nsec * BIB_SECTION_SIZE > size)
        return fail(err, errlen, "section table at offset %u (%u entries) is outside the file or overlaps the header", table, nsec);
    /* [start, end) of each thing in the file, to detect overlaps. */
    uint64_t used_start[BIB_MAX_SECTIONS + 1], used_end[BIB_MAX_SECTIONS + 1];
    const char *used_name[BIB_MAX_SECTIONS + 1];
    int nused = 0;
    used_start[nused] = table;
    used_end[nused] = (uint64_t)table + (uint64_t)nsec * BIB_SECTION_SIZE;
    used_name[nused++] = "the section table";
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = b + table + i * BIB_SECTION_SIZE;
        uint32_t type = rd32(e), off = rd32(e + 4), sz = rd32(e + 8), count = rd32(e + 12);
        if (type < 1 || type > BIB_SEC__LAST) return fail(err, errlen, "section %u: unknown type %u", i, type);
        const char *name = bib_section_name(type);
        if (sec[type].present) return fail(err, errlen, "two %s sections", name);
        if (off < BIB_HEADER_SIZE || off % 4)
            return fail(err, errlen, "%s section: offset %u overlaps the header or is not 4-byte aligned", name, off);
        if ((uint64_t)off + sz > size)
            return fail(err, errlen, "%s section: [%u, +%u) runs past the end of the file (%zu bytes): truncated?", name, off, sz, size);
        uint32_t es = entry_size(type);
        /* A SPIR-V module takes at least 7 words (name, length, the 5-word header). */
        if (es ? (uint64_t)count * es != sz : (type == BIB_SEC_SPIRV ? sz % 4 != 0 || count > sz / 28 : count != sz))
            return fail(err, errlen, "%s section: size %u does not match its count %u", name, sz, count);
        for (int u = 0; u < nused; u++)
            if (sz && off < used_end[u] && used_start[u] < (uint64_t)off + sz)
                return fail(err, errlen, "%s section overlaps %s", name, used_name[u]);
        used_start[nused] = off;
        used_end[nused] = (uint64_t)off + sz;
        used_name[nused++] = name;
        sec[type].offset = off;
        sec[type].size = sz;
        sec[type].count = count;
        sec[type].present = 1;
    }
    return 0;
}

/* Allocates n entries of sz bytes (at least one, so that empty arrays are not NULL). */
static void *alloc_array(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

int bib_read(const void *bytes, size_t size, bib_module *m, char *err, size_t errlen)
{
    const uint8_t *b = bytes;
    memset(m, 0, sizeof *m);
    if (size < BIB_HEADER_SIZE) return fail(err, errlen, "file is %zu bytes, shorter than the %d-byte header: truncated", size, BIB_HEADER_SIZE);
    if (memcmp(b, BIB_MAGIC, 8)) return fail(err, errlen, "not a .bib file (bad magic)");
    m->ver_major = (uint16_t)(b[8] | b[9] << 8);
    m->ver_minor = (uint16_t)(b[10] | b[11] << 8);
    if (m->ver_major != BIB_VERSION_MAJOR || m->ver_minor > BIB_VERSION_MINOR)
        return fail(err, errlen, "unsupported .bib version %u.%u (this VM reads %d.%d)", m->ver_major, m->ver_minor,
                    BIB_VERSION_MAJOR, BIB_VERSION_MINOR);
    m->flags = rd32(b + 12);
    if (m->flags & ~BIB_FLAGS_KNOWN) return fail(err, errlen, "unknown header flags 0x%x", m->flags & ~BIB_FLAGS_KNOWN);
    uint32_t file_size = rd32(b + 16);
    if (file_size != size)
        return fail(err, errlen, "header says %u bytes but the file has %zu: %s", file_size, size,
                    file_size > size ? "truncated" : "trailing bytes");
    if (size > BIB_MAX_FILE) return fail(err, errlen, "file is larger than %u bytes", BIB_MAX_FILE);
    if (rd32(b + 28)) return fail(err, errlen, "reserved header field is not zero");

    section sec[BIB_SEC__LAST + 1];
    memset(sec, 0, sizeof sec);
    if (read_sections(b, size, sec, err, errlen)) return -1;
    if (!sec[BIB_SEC_CODE].present || !sec[BIB_SEC_CODE].count) return fail(err, errlen, "no code section");

    /* Byte sections first: everything else refers into them. */
    m->strings_size = sec[BIB_SEC_STRINGS].size;
    m->strings = alloc_array(m->strings_size + 1, 1);
    m->data_size = sec[BIB_SEC_DATA].size;
    m->data = alloc_array(m->data_size, 1);
    m->n_code = sec[BIB_SEC_CODE].count;
    m->n_consts = sec[BIB_SEC_CONSTS].count;
    m->n_tensors = sec[BIB_SEC_TENSORS].count;
    m->n_symbols = sec[BIB_SEC_SYMBOLS].count;
    m->n_lines = sec[BIB_SEC_LINES].count;
    m->n_spirv = sec[BIB_SEC_SPIRV].count;
    m->code = alloc_array(m->n_code, sizeof *m->code);
    m->consts = alloc_array(m->n_consts, sizeof *m->consts);
    m->tensors = alloc_array(m->n_tensors, sizeof *m->tensors);
    m->symbols = alloc_array(m->n_symbols, sizeof *m->symbols);
    m->lines = alloc_array(m->n_lines, sizeof *m->lines);
    m->spirv = alloc_array(m->n_spirv, sizeof *m->spirv);
    if (!m->strings || !m->data || !m->code || !m->consts || !m->tensors || !m->symbols || !m->lines || !m->spirv) {
        bib_free(m);
        fail(err, errlen, "out of memory");
        return BIB_ERR_NOMEM;
    }
    memcpy(m->strings, b + sec[BIB_SEC_STRINGS].offset, m->strings_size);
    memcpy(m->data, b + sec[BIB_SEC_DATA].offset, m->data_size);
    if (m->strings_size && (m->strings[0] || m->strings[m->strings_size - 1])) {
        bib_free(m);
        return fail(err, errlen, "strings section must start and end with a NUL byte");
    }
    const uint8_t *p = b + sec[BIB_SEC_CODE].offset;
    for (uint32_t i = 0; i < m->n_code; i++, p += BIB_INSTR_SIZE) {
        m->code[i].op = rd32(p);
        for (int k = 0; k < 4; k++) m->code[i].a[k] = rd32(p + 4 + 4 * k);
    }
    if (read_consts(b + sec[BIB_SEC_CONSTS].offset, m, err, errlen) ||
        read_tensors(b + sec[BIB_SEC_TENSORS].offset, m, err, errlen) ||
        read_symbols(b + sec[BIB_SEC_SYMBOLS].offset, m, err, errlen) ||
        read_lines(b + sec[BIB_SEC_LINES].offset, m, err, errlen) ||
        read_spirv(b + sec[BIB_SEC_SPIRV].offset, sec[BIB_SEC_SPIRV].size, m, err, errlen)) {
        bib_free(m);
        return -1;
    }
    return 0;
}

void bib_free(bib_module *m)
{
    free(m->code);
    free(m->strings);
    free(m->consts);
    free(m->data);
    free(m->tensors);
    free(m->symbols);
    free(m->lines);
    free(m->spirv);
    free(m->spirv_words);
    memset(m, 0, sizeof *m);
}

uint32_t bib_line_of(const bib_module *m, uint32_t pc, const char **file)
{
    if (file) *file = NULL;
    uint32_t lo = 0, hi = m->n_lines; /* last entry with entry.pc <= pc */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->lines[mid].pc <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo) return 0;
    if (file) *file = m->strings + m->lines[lo - 1].file;
    return m->lines[lo - 1].line;
}

int bib_head_check(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t whylen)
{
    (void)at_end;
    (void)max_total;
    size_t k = n < 8 ? n : 8;
    if (memcmp(head, BIB_MAGIC, k) != 0) {
        if (why && whylen) snprintf(why, whylen, "not a .bib file: it does not start with \"%s\"", BIB_MAGIC);
        return -1;
    }
    return 0;
}
