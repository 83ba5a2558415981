/* Tensors as numpy-like text, for PRINTT, the CLI and the bindings. */
#include "../include/adeadvm.h"
#include "clocale.h"
#include "tensor_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX_ELEMENTS 1000

void tb_f32(textbuf *b, uint32_t bits)
{
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        if (bits == 0x7FC00000u)
            tb_printf(b, "nan");
        else
            tb_printf(b, "nan(0x%08" PRIX32 ")", bits);
    } else if ((bits & 0x7FFFFFFFu) == 0x7F800000u) {
        tb_printf(b, bits >> 31 ? "-inf" : "inf");
    } else {
        float f;
        memcpy(&f, &bits, 4);
        tb_printf(b, "%.9g", (double)f); /* 9 significant digits round-trip every binary32 */
    }
}

void tb_element(textbuf *b, uint32_t dtype, const void *data, int64_t i)
{
    const unsigned char *d = data;
    if (dtype == ADEAD_F32) {
        uint32_t bits;
        memcpy(&bits, d + 4 * i, 4);
        tb_f32(b, bits);
    } else if (dtype == ADEAD_I32) {
        int32_t v;
        memcpy(&v, d + 4 * i, 4);
        tb_printf(b, "%" PRId32, v);
    } else {
        int64_t v;
        memcpy(&v, d + 8 * i, 8);
        tb_printf(b, "%" PRId64, v);
    }
}

/* Nested brackets, row-major, stopping after TEXT_MAX_ELEMENTS with "...". */
static void add_axis(textbuf *s, const adead_tensor_view *t, int axis, int64_t start, int64_t *shown)
{
    if (axis == t->rank) {
        tb_element(s, (uint32_t)t->dtype, t->data, start);
        ++*shown;
        return;
    }
    int64_t stride = 1;
    for (int i = axis + 1; i < t->rank; i++) stride *= t->dims[i];
    tb_printf(s, "[");
    for (int64_t i = 0; i < t->dims[axis]; i++) {
        if (i) tb_printf(s, ", ");
        if (*shown >= TEXT_MAX_ELEMENTS) {
            tb_printf(s, "...");
            break;
        }
        add_axis(s, t, axis + 1, start + i * stride, shown);
    }
    tb_printf(s, "]");
}

char *adead_tensor_text(const adead_tensor_view *t)
{
    if (!t || t->rank < 0 || t->rank > ADEAD_MAX_RANK) return NULL;
    static const char *const names[] = {"?", "f32", "i32", "i64"};
    textbuf s = {NULL, 0, 0, 0};
    c_numeric_scope loc;
    c_numeric_enter(&loc);
    tb_printf(&s, "%s[", names[t->dtype >= ADEAD_F32 && t->dtype <= ADEAD_I64 ? t->dtype : 0]);
    for (int i = 0; i < t->rank; i++) tb_printf(&s, i ? ",%" PRId64 : "%" PRId64, t->dims[i]);
    tb_printf(&s, "] ");
    int empty = 0;
    for (int i = 0; i < t->rank; i++) empty |= t->dims[i] == 0;
    int64_t shown = 0;
    if (empty) /* no elements: and walking a [2^40, 0] shape would take forever */
        tb_printf(&s, "[]");
    else
        add_axis(&s, t, 0, 0, &shown);
    c_numeric_leave(&loc);
    return tb_take(&s);
}
