/* Tensors as numpy-like text, for PRINTT, the CLI and the bindings. */
#include "../include/adeadvm.h"
#include "clocale.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX_ELEMENTS 1000

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *s, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (s->failed || k < 0 || (size_t)k >= sizeof tmp) {
        s->failed = 1;
        return;
    }
    if (s->n + (size_t)k + 1 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        while (cap < s->n + (size_t)k + 1) cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->failed = 1;
            return;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->n, tmp, (size_t)k + 1);
    s->n += (size_t)k;
}

static void add_element(strbuf *s, const adead_tensor_view *t, int64_t i)
{
    const unsigned char *d = t->data;
    if (t->dtype == ADEAD_F32) {
        float f;
        memcpy(&f, d + 4 * i, 4);
        sb_add(s, "%.9g", (double)f);
    } else if (t->dtype == ADEAD_I32) {
        int32_t v;
        memcpy(&v, d + 4 * i, 4);
        sb_add(s, "%" PRId32, v);
    } else {
        int64_t v;
        memcpy(&v, d + 8 * i, 8);
        sb_add(s, "%" PRId64, v);
    }
}

/* Nested brackets, row-major, stopping after TEXT_MAX_ELEMENTS with "...". */
static void add_axis(strbuf *s, const adead_tensor_view *t, int axis, int64_t start, int64_t *shown)
{
    if (axis == t->rank) {
        add_element(s, t, start);
        ++*shown;
        return;
    }
    int64_t stride = 1;
    for (int i = axis + 1; i < t->rank; i++) stride *= t->dims[i];
    sb_add(s, "[");
    for (int64_t i = 0; i < t->dims[axis]; i++) {
        if (i) sb_add(s, ", ");
        if (*shown >= TEXT_MAX_ELEMENTS) {
            sb_add(s, "...");
            break;
        }
        add_axis(s, t, axis + 1, start + i * stride, shown);
    }
    sb_add(s, "]");
}

char *adead_tensor_text(const adead_tensor_view *t)
{
    if (!t || t->rank < 0 || t->rank > ADEAD_MAX_RANK) return NULL;
    static const char *const names[] = {"?", "f32", "i32", "i64"};
    strbuf s = {NULL, 0, 0, 0};
    c_locale_scope loc;
    c_locale_enter(&loc);
    sb_add(&s, "%s[", names[t->dtype >= ADEAD_F32 && t->dtype <= ADEAD_I64 ? t->dtype : 0]);
    for (int i = 0; i < t->rank; i++) sb_add(&s, i ? ",%" PRId64 : "%" PRId64, t->dims[i]);
    sb_add(&s, "] ");
    int64_t shown = 0;
    add_axis(&s, t, 0, 0, &shown);
    c_locale_leave(&loc);
    if (s.failed) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
