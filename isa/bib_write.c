/* .bib writer: one canonical byte layout for a module, so that assembling the disassembly of a
 * file gives the same bytes back. Sections go in type order; empty ones are left out. */
#include "bib.h"

#include <stdlib.h>
#include <string.h>

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint64_t spirv_bytes(const bib_module *m)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < m->n_spirv; i++) n += 8 + 4ull * m->spirv[i].n_words;
    return n;
}

static uint64_t section_bytes(const bib_module *m, uint32_t type, uint32_t *count)
{
    switch (type) {
    case BIB_SEC_CODE: *count = m->n_code; return (uint64_t)m->n_code * BIB_INSTR_SIZE;
    case BIB_SEC_STRINGS: *count = m->strings_size; return m->strings_size;
    case BIB_SEC_CONSTS: *count = m->n_consts; return (uint64_t)m->n_consts * BIB_CONST_SIZE;
    case BIB_SEC_DATA: *count = m->data_size; return m->data_size;
    case BIB_SEC_TENSORS: *count = m->n_tensors; return (uint64_t)m->n_tensors * BIB_TENSOR_SIZE;
    case BIB_SEC_SYMBOLS: *count = m->n_symbols; return (uint64_t)m->n_symbols * BIB_SYMBOL_SIZE;
    case BIB_SEC_LINES: *count = m->n_lines; return (uint64_t)m->n_lines * BIB_LINE_SIZE;
    case BIB_SEC_SPIRV: *count = m->n_spirv; return spirv_bytes(m);
    default: *count = 0; return 0;
    }
}

static void put_section(const bib_module *m, uint32_t type, uint8_t *p)
{
    switch (type) {
    case BIB_SEC_CODE:
        for (uint32_t i = 0; i < m->n_code; i++, p += BIB_INSTR_SIZE) {
            wr32(p, m->code[i].op);
            for (int k = 0; k < 4; k++) wr32(p + 4 + 4 * k, m->code[i].a[k]);
        }
        break;
    case BIB_SEC_STRINGS: memcpy(p, m->strings, m->strings_size); break;
    case BIB_SEC_DATA: memcpy(p, m->data, m->data_size); break;
    case BIB_SEC_CONSTS:
        for (uint32_t i = 0; i < m->n_consts; i++, p += BIB_CONST_SIZE) {
            const bib_const *c = &m->consts[i];
            uint32_t f[10] = {c->kind, c->dtype, c->rank, c->dims[0], c->dims[1], c->dims[2], c->dims[3],
                              c->data_off, c->data_size, 0};
            for (int k = 0; k < 10; k++) wr32(p + 4 * k, f[k]);
        }
        break;
    case BIB_SEC_TENSORS:
        for (uint32_t i = 0; i < m->n_tensors; i++, p += BIB_TENSOR_SIZE) {
            const bib_tensor *t = &m->tensors[i];
            uint32_t f[8] = {t->dtype, t->flags, t->rank, t->dims[0], t->dims[1], t->dims[2], t->dims[3], t->init};
            for (int k = 0; k < 8; k++) wr32(p + 4 * k, f[k]);
        }
        break;
    case BIB_SEC_SYMBOLS:
        for (uint32_t i = 0; i < m->n_symbols; i++, p += BIB_SYMBOL_SIZE) {
            wr32(p, m->symbols[i].kind);
            wr32(p + 4, m->symbols[i].value);
            wr32(p + 8, m->symbols[i].name);
        }
        break;
    case BIB_SEC_LINES:
        for (uint32_t i = 0; i < m->n_lines; i++, p += BIB_LINE_SIZE) {
            wr32(p, m->lines[i].pc);
            wr32(p + 4, m->lines[i].line);
            wr32(p + 8, m->lines[i].file);
        }
        break;
    case BIB_SEC_SPIRV:
        for (uint32_t i = 0; i < m->n_spirv; i++) {
            wr32(p, m->spirv[i].name);
            wr32(p + 4, m->spirv[i].n_words);
            p += 8;
            for (uint32_t w = 0; w < m->spirv[i].n_words; w++, p += 4) wr32(p, m->spirv[i].words[w]);
        }
        break;
    }
}

int bib_write(const bib_module *m, uint8_t **out, size_t *out_size)
{
    uint32_t nsec = 0, count;
    uint64_t body = 0;
    for (uint32_t t = 1; t <= BIB_SEC__LAST; t++) {
        uint64_t sz = section_bytes(m, t, &count);
        if (sz || t == BIB_SEC_CODE) {
            nsec++;
            body += (sz + 3) & ~3ull;
        }
    }
    uint64_t total = BIB_HEADER_SIZE + (uint64_t)nsec * BIB_SECTION_SIZE + body;
    if (total > BIB_MAX_FILE) return -1;
    uint8_t *b = calloc(1, (size_t)total);
    if (!b) return -1;
    memcpy(b, BIB_MAGIC, 8);
    b[8] = BIB_VERSION_MAJOR;
    b[10] = BIB_VERSION_MINOR;
    wr32(b + 12, m->flags);
    wr32(b + 16, (uint32_t)total);
    wr32(b + 20, nsec);
    wr32(b + 24, BIB_HEADER_SIZE);
    uint32_t at = BIB_HEADER_SIZE + nsec * BIB_SECTION_SIZE, entry = BIB_HEADER_SIZE;
    for (uint32_t t = 1; t <= BIB_SEC__LAST; t++) {
        uint64_t sz = section_bytes(m, t, &count);
        if (!sz && t != BIB_SEC_CODE) continue;
        wr32(b + entry, t);
        wr32(b + entry + 4, at);
        wr32(b + entry + 8, (uint32_t)sz);
        wr32(b + entry + 12, count);
        entry += BIB_SECTION_SIZE;
        put_section(m, t, b + at);
        at += (uint32_t)((sz + 3) & ~3ull);
    }
    *out = b;
    *out_size = (size_t)total;
    return 0;
}
