/* .npy reader and writer.
 *
 * A .npy file is: the magic "\x93NUMPY", a version (major, minor byte), a little-endian header
 * length (u16 in 1.0, u32 in 2.0), a header that is a Python dict literal padded with spaces
 * and ended by '\n', then the raw array data.
 *
 * Files are untrusted: every length is checked before it is used, and the dict is read by a
 * cursor that never looks past the header's end. The host is assumed to be little-endian, so
 * the data of '<f4', '<i4' and '<i8' files is used as it is, without byte swapping.
 */
#include "npy.h"

#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define ARRAY_ALIGN 64
/* numpy >= 1.24 pads the dict with 21 - len(str(shape[0])) spaces so that shape[0] can grow
 * in place when appending; matching it is what makes our files byte-identical to np.save's. */
#define GROWTH_AXIS_MAX_DIGITS 21
/* Room for a shape's text: "(" + 4 * (13 digits + ", ") + ")", with margin. */
#define SHAPE_TEXT_MAX 96

static int vfail(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    return -1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Like fail, for the public functions, which return a status rather than -1. */
static int fail_status(int status, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

static size_t dtype_size(int dtype)
{
    switch (dtype) {
    case ADEAD_F32: return 4;
    case ADEAD_I32: return 4;
    case ADEAD_I64: return 8;
    default: return 0;
    }
}

static const char *dtype_descr(int dtype)
{
    switch (dtype) {
    case ADEAD_F32: return "<f4";
    case ADEAD_I32: return "<i4";
    case ADEAD_I64: return "<i8";
    default: return "?";
    }
}

/* Element count of a shape, or -1 when a dimension or the count is over NPY_MAX_ELEMENTS.
 * A zero dimension makes the count 0 whatever the others are (numpy writes such shapes).
 * Divides before multiplying so that no product can wrap around. */
static int64_t shape_elements(int rank, const int64_t *dims)
{
    int has_zero = 0;
    for (int i = 0; i < rank; i++) {
        if ((uint64_t)dims[i] > NPY_MAX_ELEMENTS) return -1;
        if (dims[i] == 0) has_zero = 1;
    }
    if (has_zero) return 0;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (n > NPY_MAX_ELEMENTS / d) return -1;
        n *= d;
    }
    return (int64_t)n;
}

/* The shape as Python writes a tuple: "()", "(3,)", "(2, 3)". */
static void format_shape(int rank, const int64_t *dims, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (used < cap) snprintf(buf + used, cap - used, rank == 1 ? ",)" : ")");
}

/* Untrusted text for a message: at most 40 characters, non-printable bytes as '?'. */
static const char *printable(const char *s, size_t n, char buf[48])
{
    size_t shown = n > 40 ? 40 : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (shown < n) {
        memcpy(buf + shown, "...", 4);
    } else {
        buf[shown] = '\0';
    }
    return buf;
}

/* ---- the header dict ---- */

typedef struct {
    const char *p, *end; /* the dict text, without the final '\n' */
    char *err;
    size_t errlen;
} cursor;

enum { KEY_DESCR, KEY_FORTRAN_ORDER, KEY_SHAPE, KEY_COUNT };
static const char *const key_names[KEY_COUNT] = {"descr", "fortran_order", "shape"};

typedef struct {
    int seen[KEY_COUNT];
    adead_dtype dtype;
    size_t rank; /* may exceed ADEAD_MAX_RANK while parsing, to report it */
    int64_t dims[ADEAD_MAX_RANK];
} header_fields;

static int cfail(cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_spaces(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int at(const cursor *c, char ch) { return c->p < c->end && *c->p == ch; }

/* What the cursor is looking at, for "expected X, found Y" messages. */
static const char *next_char(const cursor *c, char buf[32])
{
    if (c->p >= c->end) return "the end of the header";
    unsigned char ch = (unsigned char)*c->p;
    if (ch == '\n') return "a newline";
    if (ch >= 0x20 && ch < 0x7f)
        snprintf(buf, 32, "'%c'", ch);
    else
        snprintf(buf, 32, "byte 0x%02x", ch);
    return buf;
}

static int is_word_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* A Python string literal in single or double quotes, without escapes or prefixes. */
static int parse_string(cursor *c, const char *what, const char **text, size_t *len)
{
    char buf[32];
    skip_spaces(c);
    if (!at(c, '\'') && !at(c, '"'))
        return cfail(c, "expected %s in quotes, found %s", what, next_char(c, buf));
    char quote = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\') return cfail(c, "escape sequences in header strings are not supported");
        c->p++;
    }
    if (c->p >= c->end) return cfail(c, "unterminated string in header (no closing %c)", quote);
    *text = start;
    *len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static int same_text(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int parse_descr(cursor *c, header_fields *h)
{
    const char *s;
    size_t n;
    char buf[48];
    skip_spaces(c);
    if (at(c, '['))
        return cfail(c, "structured dtypes ('descr' is a list) are not supported; "
                        "expected '<f4', '<i4' or '<i8'");
    if (parse_string(c, "the 'descr' value", &s, &n)) return -1;

    static const struct {
        const char *descr;
        adead_dtype dtype;
    } supported[] = {{"<f4", ADEAD_F32}, {"<i4", ADEAD_I32}, {"<i8", ADEAD_I64}};
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++) {
        if (same_text(s, n, supported[i].descr)) {
            h->dtype = supported[i].dtype;
            return 0;
        }
        /* A supported type in the other byte order gets its own message. */
        if (n == 3 && s[0] == '>' && memcmp(s + 1, supported[i].descr + 1, 2) == 0)
            return cfail(c, "big-endian data ('%s') is not supported; save it as '%s'",
                         printable(s, n, buf), supported[i].descr);
    }
    return cfail(c, "unsupported dtype '%s'; expected '<f4', '<i4' or '<i8'", printable(s, n, buf));
}

static int parse_fortran_order(cursor *c)
{
    char buf[48];
    skip_spaces(c);
    const char *start = c->p;
    while (c->p < c->end && is_word_char(*c->p)) c->p++;
    size_t n = (size_t)(c->p - start);
    if (same_text(start, n, "False")) return 0;
    if (same_text(start, n, "True")) return cfail(c, "Fortran order is not supported; save with C order");
    if (n == 0) return cfail(c, "'fortran_order' must be True or False, found %s", next_char(c, buf));
    return cfail(c, "'fortran_order' must be True or False, found %s", printable(start, n, buf));
}

static int ends_token(char ch)
{
    return ch == ' ' || ch == '\t' || ch == ',' || ch == '(' || ch == ')' || ch == '{' || ch == '}' ||
           ch == '[' || ch == ']' || ch == ':';
}

/* One dimension: a plain decimal literal as Python writes it (no sign, no leading zeros). */
static int parse_dimension(cursor *c, size_t index, int64_t *out)
{
    char buf[48];
    skip_spaces(c);
    const char *start = c->p;
    while (c->p < c->end && !ends_token(*c->p)) c->p++;
    size_t n = (size_t)(c->p - start);
    if (n == 0) return cfail(c, "expected dimension %zu of 'shape', found %s", index, next_char(c, buf));

    int digits_only = 1;
    for (size_t i = 0; i < n; i++)
        if (start[i] < '0' || start[i] > '9') digits_only = 0;
    if (!digits_only || (n > 1 && start[0] == '0')) {
        if (start[0] == '-')
            return cfail(c, "dimension %zu is negative (%s); expected a non-negative integer", index,
                         printable(start, n, buf));
        return cfail(c, "dimension %zu is not a non-negative integer: %s", index, printable(start, n, buf));
    }

    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        value = value * 10 + (uint64_t)(start[i] - '0');
        if (value > NPY_MAX_ELEMENTS)
            return cfail(c, "dimension %zu is %s, more than the limit of 2^40 elements", index,
                         printable(start, n, buf));
    }
    *out = (int64_t)value;
    return 0;
}

/* A tuple of dimensions: "()", "(3,)", "(2, 3)", "(2, 3,)". "(3)" is an int in Python. */
static int parse_shape(cursor *c, header_fields *h)
{
    char buf[32];
    skip_spaces(c);
    if (!at(c, '('))
        return cfail(c, "'shape' must be a tuple such as (2, 3), found %s", next_char(c, buf));
    c->p++;
    h->rank = 0;
    skip_spaces(c);
    if (at(c, ')')) {
        c->p++;
        return 0;
    }
    for (;;) {
        int64_t dim = 0;
        if (parse_dimension(c, h->rank, &dim)) return -1;
        if (h->rank < ADEAD_MAX_RANK) h->dims[h->rank] = dim;
        h->rank++;
        skip_spaces(c);
        if (at(c, ')')) {
            c->p++;
            if (h->rank == 1)
                return cfail(c, "'shape' is (%lld), which is not a tuple; a 1-D shape is written (%lld,)",
                             (long long)h->dims[0], (long long)h->dims[0]);
            return 0;
        }
        if (!at(c, ',')) return cfail(c, "expected ',' or ')' in 'shape', found %s", next_char(c, buf));
        c->p++;
        skip_spaces(c);
        if (at(c, ')')) {
            c->p++;
            return 0;
        }
    }
}

static int check_shape(cursor *c, const header_fields *h)
{
    char text[SHAPE_TEXT_MAX];
    if (h->rank > ADEAD_MAX_RANK)
        return cfail(c, "'shape' has %zu dimensions; at most %d are supported", h->rank, ADEAD_MAX_RANK);
    if (shape_elements((int)h->rank, h->dims) < 0) {
        format_shape((int)h->rank, h->dims, text, sizeof text);
        return cfail(c, "'shape' %s has more than 2^40 elements", text);
    }
    return 0;
}

static int parse_key(cursor *c, header_fields *h, int *key)
{
    const char *s;
    size_t n;
    char buf[48];
    if (parse_string(c, "a key", &s, &n)) return -1;
    for (int k = 0; k < KEY_COUNT; k++) {
        if (!same_text(s, n, key_names[k])) continue;
        if (h->seen[k]) return cfail(c, "duplicate key '%s' in header", key_names[k]);
        h->seen[k] = 1;
        *key = k;
        return 0;
    }
    return cfail(c, "unknown key '%s' in header; expected 'descr', 'fortran_order' and 'shape'",
                 printable(s, n, buf));
}

static int parse_value(cursor *c, header_fields *h, int key)
{
    switch (key) {
    case KEY_DESCR: return parse_descr(c, h);
    case KEY_FORTRAN_ORDER: return parse_fortran_order(c);
    default: return parse_shape(c, h) || check_shape(c, h) ? -1 : 0;
    }
}

/* {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } with the keys in any order. */
static int parse_dict(cursor *c, header_fields *h)
{
    char buf[32];
    skip_spaces(c);
    if (!at(c, '{')) return cfail(c, "header is not a dict: expected '{', found %s", next_char(c, buf));
    c->p++;
    for (;;) {
        skip_spaces(c);
        if (at(c, '}')) break;
        int key = 0;
        if (parse_key(c, h, &key)) return -1;
        skip_spaces(c);
        if (!at(c, ':'))
            return cfail(c, "expected ':' after key '%s', found %s", key_names[key], next_char(c, buf));
        c->p++;
        if (parse_value(c, h, key)) return -1;
        skip_spaces(c);
        if (at(c, '}')) break;
        if (!at(c, ','))
            return cfail(c, "expected ',' or '}' after the value of '%s', found %s", key_names[key],
                         next_char(c, buf));
        c->p++;
    }
    c->p++; /* the '}' */
    skip_spaces(c);
    if (c->p < c->end) return cfail(c, "unexpected %s after the header dict", next_char(c, buf));
    for (int k = 0; k < KEY_COUNT; k++)
        if (!h->seen[k]) return cfail(c, "header has no '%s' key", key_names[k]);
    return 0;
}

/* ---- the file image ---- */

static uint32_t read_le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Finds the header text; *header_start and *header_len describe it inside b. */
static int locate_header(const unsigned char *b, size_t size, size_t *header_start, size_t *header_len,
                         char *err, size_t errlen)
{
    size_t magic_checked = size < MAGIC_LEN ? size : MAGIC_LEN;
    if (size == 0) return fail(err, errlen, "not a .npy file: it is empty");
    if (memcmp(b, MAGIC, magic_checked) != 0)
        return fail(err, errlen, "not a .npy file: it does not start with \"\\x93NUMPY\"");
    if (size < MAGIC_LEN + 2)
        return fail(err, errlen, "truncated header: %zu bytes, too short for the format version", size);

    unsigned major = b[MAGIC_LEN], minor = b[MAGIC_LEN + 1];
    size_t length_bytes;
    if (major == 1 && minor == 0)
        length_bytes = 2;
    else if (major == 2 && minor == 0)
        length_bytes = 4;
    else
        return fail(err, errlen, "format version %u.%u is not supported; only versions 1.0 and 2.0 are",
                    major, minor);

    size_t start = MAGIC_LEN + 2 + length_bytes;
    if (size < start)
        return fail(err, errlen, "truncated header: %zu bytes, too short for the header length", size);
    uint32_t len = length_bytes == 2 ? read_le16(b + MAGIC_LEN + 2) : read_le32(b + MAGIC_LEN + 2);
    if (len > size - start)
        return fail(err, errlen, "truncated header: the header length is %lu bytes but only %zu follow",
                    (unsigned long)len, size - start);
    if (len == 0 || b[start + len - 1] != '\n')
        return fail(err, errlen, "malformed header: it does not end with a newline");
    *header_start = start;
    *header_len = len;
    return 0;
}

int npy_parse(const void *bytes, size_t size, adead_tensor_view *out, char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    if (!out || (!bytes && size)) return fail(err, errlen, "npy_parse: NULL argument");
    const unsigned char *b = bytes;
    size_t header_start = 0, header_len = 0;
    if (locate_header(b, size, &header_start, &header_len, err, errlen)) return -1;

    const char *text = (const char *)b + header_start;
    cursor c = {text, text + header_len - 1, err, errlen};
    header_fields h;
    memset(&h, 0, sizeof h);
    if (parse_dict(&c, &h)) return -1;

    /* check_shape bounded the count by 2^40, so the byte count fits in 64 bits. */
    uint64_t needed = (uint64_t)shape_elements((int)h.rank, h.dims) * dtype_size(h.dtype);
    size_t data_start = header_start + header_len;
    uint64_t available = size - data_start;
    char shape_text[SHAPE_TEXT_MAX];
    if (available < needed)
        return fail(err, errlen, "truncated: %llu data bytes, shape needs %llu", (unsigned long long)available,
                    (unsigned long long)needed);
    if (available > needed) {
        format_shape((int)h.rank, h.dims, shape_text, sizeof shape_text);
        return fail(err, errlen, "%llu trailing bytes after the data (shape %s needs %llu bytes)",
                    (unsigned long long)(available - needed), shape_text, (unsigned long long)needed);
    }

    out->dtype = h.dtype;
    out->rank = (int)h.rank;
    memcpy(out->dims, h.dims, sizeof h.dims);
    out->data = b + data_start;
    out->nbytes = (size_t)needed;
    return 0;
}

/* ---- writing ---- */

int npy_check_view(const adead_tensor_view *t, char *err, size_t errlen)
{
    char shape_text[SHAPE_TEXT_MAX];
    if (!t) return fail(err, errlen, "no tensor view given");
    if (!dtype_size(t->dtype))
        return fail(err, errlen, "invalid dtype %d; expected ADEAD_F32, ADEAD_I32 or ADEAD_I64", (int)t->dtype);
    if (t->rank < 0 || t->rank > ADEAD_MAX_RANK)
        return fail(err, errlen, "rank %d is out of range; expected 0 to %d", t->rank, ADEAD_MAX_RANK);
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return fail(err, errlen, "dimension %d is negative (%lld)", i, (long long)t->dims[i]);
    format_shape(t->rank, t->dims, shape_text, sizeof shape_text);
    int64_t count = shape_elements(t->rank, t->dims);
    if (count < 0) return fail(err, errlen, "shape %s has more than 2^40 elements", shape_text);
    uint64_t needed = (uint64_t)count * dtype_size(t->dtype);
    if ((uint64_t)t->nbytes != needed)
        return fail(err, errlen, "nbytes is %zu, but shape %s of '%s' needs %llu", t->nbytes, shape_text,
                    dtype_descr(t->dtype), (unsigned long long)needed);
    if (!t->data && t->nbytes)
        return fail(err, errlen, "data is NULL but nbytes is %zu", t->nbytes);
    return 0;
}

static size_t decimal_digits(int64_t v)
{
    size_t n = 1;
    for (; v >= 10; v /= 10) n++;
    return n;
}

/* Writes the header numpy's _write_array_header would (format 1.0) into buf, returns its size.
 * Layout: magic, version, u16 length, dict, growth spaces, alignment spaces, '\n'. */
static size_t build_header(const adead_tensor_view *t, char *buf, size_t cap)
{
    char shape_text[SHAPE_TEXT_MAX];
    format_shape(t->rank, t->dims, shape_text, sizeof shape_text);
    char dict[SHAPE_TEXT_MAX + 64];
    int dict_len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                            dtype_descr(t->dtype), shape_text);
    size_t growth = 0;
    if (t->rank > 0 && decimal_digits(t->dims[0]) < GROWTH_AXIS_MAX_DIGITS)
        growth = GROWTH_AXIS_MAX_DIGITS - decimal_digits(t->dims[0]);

    /* numpy always adds 1..64 spaces: a full 64 when the text would already be aligned. */
    size_t text_len = (size_t)dict_len + growth + 1;
    size_t pad = ARRAY_ALIGN - (MAGIC_LEN + 2 + 2 + text_len) % ARRAY_ALIGN;
    size_t header_len = text_len + pad;
    size_t total = MAGIC_LEN + 2 + 2 + header_len;
    if (total > cap) return 0;

    memcpy(buf, MAGIC, MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(header_len & 0xff);
    buf[9] = (char)(header_len >> 8);
    memcpy(buf + 10, dict, (size_t)dict_len);
    memset(buf + 10 + dict_len, ' ', growth + pad);
    buf[total - 1] = '\n';
    return total;
}

int npy_encode(const adead_tensor_view *t, unsigned char **out, size_t *out_size)
{
    char header[512];
    if (!out || !out_size) return -1;
    *out = NULL;
    *out_size = 0;
    if (npy_check_view(t, NULL, 0)) return -1;
    size_t header_size = build_header(t, header, sizeof header);
    if (header_size == 0) return -1;

    unsigned char *bytes = malloc(header_size + t->nbytes);
    if (!bytes) return -1;
    memcpy(bytes, header, header_size);
    if (t->nbytes) memcpy(bytes + header_size, t->data, t->nbytes);
    *out = bytes;
    *out_size = header_size + t->nbytes;
    return 0;
}

/* ---- files ---- */

/* For streams: refuse what is not a .npy at once, and read no more than its header announces. */
int npy_head_check(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why,
                          size_t whylen)
{
    size_t start = 0, len = 0;
    if (n >= MAGIC_LEN && memcmp(head, MAGIC, MAGIC_LEN) != 0)
        return fail(why, whylen, "not a .npy file: it does not start with \"\\x93NUMPY\"");
    if (locate_header(head, n, &start, &len, why, whylen)) return at_end ? -1 : 0; /* npy_parse will say */
    const char *text = (const char *)head + start;
    cursor c = {text, text + len - 1, why, whylen};
    header_fields h;
    memset(&h, 0, sizeof h);
    if (parse_dict(&c, &h)) return -1;
    *max_total = start + len + (uint64_t)shape_elements((int)h.rank, h.dims) * dtype_size(h.dtype);
    return 0;
}

static int read_whole_file(const char *path, unsigned char **bytes, size_t *size, char *err, size_t errlen)
{
    return fileio_read(path, NPY_MAX_FILE_BYTES, npy_head_check, bytes, size, err, errlen);
}

int npy_read_file(const char *path, unsigned char **bytes, size_t *size, char *err, size_t errlen)
{
    if (!path || !bytes || !size) return fail(err, errlen, "npy_read_file: NULL argument");
    return fileio_read(path, NPY_MAX_FILE_BYTES, npy_head_check, bytes, size, err, errlen) == ADEAD_OK ? 0 : -1;
}

static void clear_message(char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
}

int adead_npy_read(const char *path, adead_tensor_view *out, void **data, char *errbuf, size_t errlen)
{
    clear_message(errbuf, errlen);
    if (out) memset(out, 0, sizeof *out);
    if (data) *data = NULL;
    if (!path || !out || !data)
        return fail_status(ADEAD_E_ARG, errbuf, errlen, "adead_npy_read: path, out and data must not be NULL");

    unsigned char *bytes;
    size_t size;
    int status = read_whole_file(path, &bytes, &size, errbuf, errlen);
    if (status != ADEAD_OK) return status;

    adead_tensor_view view;
    char why[256];
    if (npy_parse(bytes, size, &view, why, sizeof why) != 0) {
        free(bytes);
        return fail_status(ADEAD_E_LOAD, errbuf, errlen, "%s: %s", path, why);
    }

    /* Keep only the data: slide it to the front of the buffer and give back the rest. */
    memmove(bytes, view.data, view.nbytes);
    if (view.nbytes > 0) {
        unsigned char *smaller = realloc(bytes, view.nbytes);
        if (smaller) bytes = smaller;
    }
    view.data = bytes;
    *out = view;
    *data = bytes;
    return ADEAD_OK;
}

int adead_npy_write(const char *path, const adead_tensor_view *t, char *errbuf, size_t errlen)
{
    clear_message(errbuf, errlen);
    if (!path || !t) return fail_status(ADEAD_E_ARG, errbuf, errlen, "adead_npy_write: path and t must not be NULL");

    char why[256];
    if (npy_check_view(t, why, sizeof why) != 0)
        return fail_status(ADEAD_E_ARG, errbuf, errlen, "%s: cannot write tensor: %s", path, why);

    unsigned char *bytes;
    size_t size;
    if (npy_encode(t, &bytes, &size) != 0)
        return fail_status(ADEAD_E_NOMEM, errbuf, errlen, "%s: out of memory encoding %zu bytes", path, t->nbytes);
    int status = fileio_write(path, bytes, size, errbuf, errlen);
    free(bytes);
    return status;
}
