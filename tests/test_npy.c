/* .npy reading and writing: round trips, byte-exact agreement with numpy's np.save, the header
 * syntax numpy accepts, and one test per class of malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include "../util/npy.h"

/* ---- helpers ---- */

/* A copy in a block of exactly the right size, so ASan catches any read past the end. */
static unsigned char *exact_copy(const void *bytes, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size) memcpy(copy, bytes, size);
    return copy;
}

/* A .npy image from its parts: the version bytes, the header text exactly as given (the caller
 * supplies padding and '\n'), and the data. Version 1.x gets a u16 length, others a u32. */
static unsigned char *make_npy(unsigned major, unsigned minor, const char *header, const void *data,
                               size_t data_len, size_t *size)
{
    size_t header_len = strlen(header);
    size_t length_bytes = major == 1 ? 2 : 4;
    *size = 8 + length_bytes + header_len + data_len;
    unsigned char *b = malloc(*size);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = (unsigned char)minor;
    for (size_t i = 0; i < length_bytes; i++) b[8 + i] = (unsigned char)(header_len >> (8 * i));
    memcpy(b + 8 + length_bytes, header, header_len);
    if (data_len) memcpy(b + 8 + length_bytes + header_len, data, data_len);
    return b;
}

static void assert_contains(const char *message, const char *phrase)
{
    if (!strstr(message, phrase)) fail_msg("message \"%s\" does not contain \"%s\"", message, phrase);
}

static void expect_parse_error(const unsigned char *bytes, size_t size, const char *phrase)
{
    unsigned char *copy = exact_copy(bytes, size);
    adead_tensor_view view;
    char err[256] = "";
    assert_int_equal(npy_parse(copy, size, &view, err, sizeof err), -1);
    assert_contains(err, phrase);
    free(copy);
}

/* A version 1.0 file whose header is dict_text + '\n' and that carries data_len zero bytes. */
static void expect_header_error_with_data(const char *dict_text, size_t data_len, const char *phrase)
{
    char header[512];
    snprintf(header, sizeof header, "%s\n", dict_text);
    unsigned char *zeros = calloc(data_len ? data_len : 1, 1);
    assert_non_null(zeros);
    size_t size;
    unsigned char *b = make_npy(1, 0, header, zeros, data_len, &size);
    expect_parse_error(b, size, phrase);
    free(b);
    free(zeros);
}

static void expect_header_error(const char *dict_text, const char *phrase)
{
    expect_header_error_with_data(dict_text, 0, phrase);
}

static void parse_ok(const unsigned char *bytes, size_t size, adead_tensor_view *view)
{
    char err[256] = "";
    if (npy_parse(bytes, size, view, err, sizeof err) != 0) fail_msg("npy_parse failed: %s", err);
}

static size_t element_size(adead_dtype dtype) { return dtype == ADEAD_I64 ? 8 : 4; }

/* ---- round trips ---- */

static void round_trip(adead_dtype dtype, int rank, const int64_t *dims)
{
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        count *= (size_t)dims[i];
    }
    t.nbytes = count * element_size(dtype);
    unsigned char *data = malloc(t.nbytes ? t.nbytes : 1);
    assert_non_null(data);
    for (size_t i = 0; i < t.nbytes; i++) data[i] = (unsigned char)(i * 37 + 11);
    t.data = data;

    unsigned char *bytes;
    size_t size;
    assert_int_equal(npy_encode(&t, &bytes, &size), 0);
    assert_int_equal((size - t.nbytes) % 64, 0); /* numpy aligns the data to 64 bytes */

    adead_tensor_view back;
    parse_ok(bytes, size, &back);
    assert_int_equal(back.dtype, dtype);
    assert_int_equal(back.rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(back.dims[i], dims[i]);
    assert_int_equal(back.nbytes, t.nbytes);
    assert_ptr_equal(back.data, bytes + (size - t.nbytes));
    if (t.nbytes) assert_memory_equal(back.data, data, t.nbytes);
    free(bytes);
    free(data);
}

static void test_round_trip_every_dtype_and_rank(void **state)
{
    (void)state;
    static const adead_dtype dtypes[] = {ADEAD_F32, ADEAD_I32, ADEAD_I64};
    static const int64_t dims[ADEAD_MAX_RANK] = {3, 2, 5, 4};
    static const int64_t zero_size[3] = {2, 0, 3};
    for (size_t d = 0; d < 3; d++) {
        for (int rank = 0; rank <= ADEAD_MAX_RANK; rank++) round_trip(dtypes[d], rank, dims);
        round_trip(dtypes[d], 3, zero_size);
    }
}

/* ---- byte-exact output, as numpy 2.4 (and 1.24+) np.save writes it ---- */

static const char expected_f32_2x3[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                                                          " /* 58 spaces */
    "\n"
    "\x00\x00\x00\x3f\x00\x00\x80\xbf"
    "\x00\x00\x00\x40\x00\x00\x40\x40"
    "\x00\x00\x88\x40\x00\x00\x00\x80";

static const char expected_i32_3[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"
    "                                                            " /* 60 spaces */
    "\n"
    "\x01\x00\x00\x00\xfe\xff\xff\xff"
    "\x2c\x01\x00\x00";

static const char expected_i64_scalar[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<i8', 'fortran_order': False, 'shape': (), }"
    "                                                              " /* 62 spaces */
    "\n"
    "\xfb\xff\xff\xff\xff\xff\xff\xff";

static const char expected_i32_0x4[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4), }"
    "                                                          " /* 58 spaces */
    "\n";

static const char expected_f32_rank4[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1, 2), }"
    "                                                    " /* 52 spaces */
    "\n"
    "\x00\x00\x80\x3f\x00\x00\x00\x40"
    "\x00\x00\x40\x40\x00\x00\x80\x40";

/* A long shape[0] leaves less growth room (21 - 12 digits = 9 spaces), so less padding. */
static const char expected_i64_wide[] =
    "\x93NUMPY\x01\x00" "\x76\x00"
    "{'descr': '<i8', 'fortran_order': False, 'shape': (123456789012, 0), }"
    "                                               " /* 47 spaces */
    "\n";

typedef struct {
    const char *expected;
    size_t expected_size;
    adead_dtype dtype;
    int rank;
    int64_t dims[ADEAD_MAX_RANK];
    const void *data;
    size_t nbytes;
} numpy_case;

static const float f32_2x3[] = {0.5f, -1.0f, 2.0f, 3.0f, 4.25f, -0.0f};
static const int32_t i32_3[] = {1, -2, 300};
static const int64_t i64_scalar[] = {-5};
static const float f32_rank4[] = {1.0f, 2.0f, 3.0f, 4.0f};

#define EXPECTED(name) name, sizeof name - 1

static const numpy_case numpy_cases[] = {
    {EXPECTED(expected_f32_2x3), ADEAD_F32, 2, {2, 3}, f32_2x3, sizeof f32_2x3},
    {EXPECTED(expected_i32_3), ADEAD_I32, 1, {3}, i32_3, sizeof i32_3},
    {EXPECTED(expected_i64_scalar), ADEAD_I64, 0, {0}, i64_scalar, sizeof i64_scalar},
    {EXPECTED(expected_i32_0x4), ADEAD_I32, 2, {0, 4}, NULL, 0},
    {EXPECTED(expected_f32_rank4), ADEAD_F32, 4, {1, 2, 1, 2}, f32_rank4, sizeof f32_rank4},
    {EXPECTED(expected_i64_wide), ADEAD_I64, 2, {123456789012, 0}, NULL, 0},
};

static adead_tensor_view case_view(const numpy_case *c)
{
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = c->dtype;
    t.rank = c->rank;
    memcpy(t.dims, c->dims, sizeof t.dims);
    t.data = c->data;
    t.nbytes = c->nbytes;
    return t;
}

static void test_encode_matches_numpy_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof numpy_cases / sizeof numpy_cases[0]; i++) {
        const numpy_case *c = &numpy_cases[i];
        adead_tensor_view t = case_view(c);
        unsigned char *bytes;
        size_t size;
        assert_int_equal(npy_encode(&t, &bytes, &size), 0);
        assert_int_equal(size, c->expected_size);
        assert_memory_equal(bytes, c->expected, size);
        free(bytes);
    }
}

static void test_parse_numpy_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof numpy_cases / sizeof numpy_cases[0]; i++) {
        const numpy_case *c = &numpy_cases[i];
        unsigned char *copy = exact_copy(c->expected, c->expected_size);
        adead_tensor_view view;
        parse_ok(copy, c->expected_size, &view);
        assert_int_equal(view.dtype, c->dtype);
        assert_int_equal(view.rank, c->rank);
        for (int d = 0; d < c->rank; d++) assert_int_equal(view.dims[d], c->dims[d]);
        assert_int_equal(view.nbytes, c->nbytes);
        assert_ptr_equal(view.data, copy + 128);
        if (c->nbytes) assert_memory_equal(view.data, c->data, c->nbytes);
        free(copy);
    }
}

/* ---- header syntax numpy accepts ---- */

static void test_parse_version_2(void **state)
{
    (void)state;
    const int32_t data[] = {7, 8, 9, 10};
    size_t size;
    unsigned char *b = make_npy(2, 0, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }    \n", data,
                                sizeof data, &size);
    adead_tensor_view view;
    parse_ok(b, size, &view);
    assert_int_equal(view.dtype, ADEAD_I32);
    assert_int_equal(view.rank, 2);
    assert_int_equal(view.dims[0], 2);
    assert_int_equal(view.dims[1], 2);
    assert_int_equal(view.nbytes, sizeof data);
    assert_memory_equal(view.data, data, sizeof data);
    free(b);
}

static void expect_header_parses(const char *header, adead_dtype dtype, int rank, const int64_t *dims)
{
    size_t count = 1;
    for (int i = 0; i < rank; i++) count *= (size_t)dims[i];
    size_t nbytes = count * element_size(dtype);
    unsigned char *zeros = calloc(nbytes ? nbytes : 1, 1);
    assert_non_null(zeros);
    size_t size;
    unsigned char *b = make_npy(1, 0, header, zeros, nbytes, &size);
    adead_tensor_view view;
    parse_ok(b, size, &view);
    assert_int_equal(view.dtype, dtype);
    assert_int_equal(view.rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(view.dims[i], dims[i]);
    assert_int_equal(view.nbytes, nbytes);
    free(b);
    free(zeros);
}

static void test_parse_flexible_syntax(void **state)
{
    (void)state;
    static const int64_t dims_2x3[] = {2, 3};
    static const int64_t dims_4[] = {4};
    static const int64_t dims_2x3x1[] = {2, 3, 1};
    /* double quotes, other key order, no trailing comma, no padding */
    expect_header_parses("{\"shape\": (2, 3), \"descr\": \"<f4\", \"fortran_order\": False}\n", ADEAD_F32, 2,
                         dims_2x3);
    /* odd spacing and tabs everywhere */
    expect_header_parses("  {  'fortran_order'  :False ,'shape':(  4 , ) ,\t'descr' :\t'<i8' ,  }   \n", ADEAD_I64,
                         1, dims_4);
    /* no spaces at all, trailing comma inside the shape */
    expect_header_parses("{'descr':'<i4','shape':(2,3,1,),'fortran_order':False}\n", ADEAD_I32, 3, dims_2x3x1);
    /* mixed quotes and a scalar */
    expect_header_parses("{'descr': \"<i4\", \"fortran_order\": False, 'shape': ()}\n", ADEAD_I32, 0, NULL);
}

/* ---- malformed input, one class per test ---- */

static void test_rejects_bad_magic(void **state)
{
    (void)state;
    expect_parse_error((const unsigned char *)"\x93NUMPX\x01\x00\x00\x00", 10, "not a .npy file");
    expect_parse_error((const unsigned char *)"PK\x03\x04", 4, "not a .npy file");
    expect_parse_error((const unsigned char *)"", 0, "empty");
}

static void test_rejects_unsupported_versions(void **state)
{
    (void)state;
    const char *header = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n";
    static const unsigned versions[][2] = {{3, 0}, {1, 1}, {0, 0}, {255, 7}};
    static const char *const phrases[] = {"version 3.0", "version 1.1", "version 0.0", "version 255.7"};
    for (size_t i = 0; i < 4; i++) {
        size_t size;
        unsigned char *b = make_npy(versions[i][0], versions[i][1], header, "\0\0\0\0", 4, &size);
        expect_parse_error(b, size, phrases[i]);
        expect_parse_error(b, size, "only versions 1.0 and 2.0");
        free(b);
    }
}

static void test_rejects_big_endian(void **state)
{
    (void)state;
    expect_header_error_with_data("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4,
                                  "big-endian data ('>f4') is not supported");
    expect_header_error_with_data("{'descr': '>i8', 'fortran_order': False, 'shape': (), }", 8, "big-endian");
}

static void test_rejects_other_dtypes(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", "unsupported dtype '<f8'");
    expect_header_error("{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }", "unsupported dtype '|u1'");
    expect_header_error("{'descr': '|b1', 'fortran_order': False, 'shape': (0,), }", "unsupported dtype '|b1'");
    expect_header_error("{'descr': '|O', 'fortran_order': False, 'shape': (0,), }", "unsupported dtype '|O'");
    expect_header_error("{'descr': '<U5', 'fortran_order': False, 'shape': (0,), }", "expected '<f4', '<i4' or '<i8'");
    expect_header_error("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (0,), }",
                        "structured dtypes");
    expect_header_error("{'descr': 5, 'fortran_order': False, 'shape': (0,), }", "'descr' value in quotes");
}

static void test_rejects_fortran_order(void **state)
{
    (void)state;
    expect_header_error_with_data("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
                                  "Fortran order is not supported; save with C order");
    expect_header_error("{'descr': '<f4', 'fortran_order': 0, 'shape': (), }", "must be True or False, found 0");
    expect_header_error("{'descr': '<f4', 'fortran_order': 'False', 'shape': (), }", "must be True or False");
}

static void test_rejects_rank_over_4(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 0), }",
                        "5 dimensions; at most 4");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                        "9 dimensions");
}

static void test_rejects_malformed_dict(void **state)
{
    (void)state;
    expect_header_error("'descr': '<f4', 'fortran_order': False, 'shape': ()", "not a dict: expected '{'");
    expect_header_error("{'descr' '<f4', 'fortran_order': False, 'shape': (), }", "expected ':' after key 'descr'");
    expect_header_error("{'descr': '<f4' 'fortran_order': False, 'shape': (), }", "expected ',' or '}'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False 'shape': (), }",
                        "expected ',' or '}' after the value of 'fortran_order', found '''");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), ", "expected a key in quotes");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'desc", "unterminated string");
    expect_header_error("{descr: '<f4', 'fortran_order': False, 'shape': (), }", "expected a key in quotes");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), } x", "unexpected 'x' after");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", "unknown key 'extra'");
    expect_header_error("{'d\\escr': '<f4', 'fortran_order': False, 'shape': (), }", "escape sequences");
    /* a newline before the end of the header is not padding */
    expect_header_error("{'descr': '<f4',\n'fortran_order': False, 'shape': (), }", "found a newline");
}

static void test_rejects_malformed_shape(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", "not a tuple");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", "must be a tuple");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': 6, }", "must be a tuple");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3), }",
                        "expected dimension 1 of 'shape', found ','");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", "expected dimension 0");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "expected ',' or ')'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }", "expected dimension 2");
}

static void test_rejects_missing_keys(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, }", "no 'shape' key");
    expect_header_error("{'shape': (), 'fortran_order': False, }", "no 'descr' key");
    expect_header_error("{'descr': '<f4', 'shape': (), }", "no 'fortran_order' key");
    expect_header_error("{}", "no 'descr' key");
}

static void test_rejects_duplicate_keys(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'descr': '<f4', }",
                        "duplicate key 'descr'");
    expect_header_error("{'shape': (1,), 'descr': '<f4', 'fortran_order': False, \"shape\": (1,)}",
                        "duplicate key 'shape'");
}

static void test_rejects_bad_dimensions(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
                        "dimension 0 is negative (-1); expected a non-negative integer");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2.5), }",
                        "dimension 1 is not a non-negative integer: 2.5");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': ('3',), }",
                        "not a non-negative integer: '3'");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", "not a non-negative integer: 3L");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,), }", "0x10");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (007,), }", "007");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1_000,), }", "1_000");
}

static void test_rejects_element_overflow(void **state)
{
    (void)state;
    /* 2^20 * 2^20 * 2 = 2^41 elements */
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 2), }",
                        "has more than 2^40 elements");
    /* (2^32)^4 = 2^128 wraps to 0 in naive 64-bit arithmetic */
    expect_header_error("{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296, "
                        "4294967296), }",
                        "more than 2^40");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627777,), }",
                        "dimension 0 is 1099511627777, more than the limit of 2^40");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 99999999999999999999999999999), }",
                        "dimension 1 is 99999999999999999999999999999, more than");
}

static void test_accepts_2_pow_40_elements_header(void **state)
{
    (void)state;
    /* exactly 2^40 elements is allowed by the header; the file then lacks the data */
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }",
                        "truncated: 0 data bytes, shape needs 4398046511104");
}

/* A zero dimension makes the count 0, however large the other dimensions multiply up to. */
static void test_zero_dim_beside_large_dims(void **state)
{
    (void)state;
    static const int64_t dims[] = {1000000000000, 1000, 0};
    expect_header_parses("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000, 0), }\n", ADEAD_F32,
                         3, dims);
    round_trip(ADEAD_I64, 3, dims);
}

static void test_rejects_truncated_header(void **state)
{
    (void)state;
    expect_parse_error((const unsigned char *)"\x93NUM", 4, "truncated header");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x01", 7, "truncated header");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x01\x00\x40", 9, "truncated header");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x02\x00\x40\x00\x00", 11, "truncated header");
    /* the length field promises 0x40 bytes, only 5 follow */
    expect_parse_error((const unsigned char *)"\x93NUMPY\x01\x00\x40\x00{'de", 15,
                       "header length is 64 bytes but only 5 follow");
    /* a header cut before its newline */
    size_t size;
    unsigned char *b = make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }  ", NULL, 0, &size);
    expect_parse_error(b, size, "does not end with a newline");
    free(b);
    b = make_npy(1, 0, "", NULL, 0, &size);
    expect_parse_error(b, size, "does not end with a newline");
    free(b);
}

static void test_rejects_truncated_data(void **state)
{
    (void)state;
    expect_header_error_with_data("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
                                  "truncated: 20 data bytes, shape needs 24");
    expect_header_error_with_data("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 0,
                                  "truncated: 0 data bytes, shape needs 8");
}

static void test_rejects_trailing_bytes(void **state)
{
    (void)state;
    expect_header_error_with_data("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 13,
                                  "1 trailing bytes after the data (shape (3,) needs 12 bytes)");
    expect_header_error_with_data("{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", 4, "trailing bytes");
}

/* Every proper prefix of a valid file is refused, and none is read past its end. */
static void test_every_prefix_is_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof numpy_cases / sizeof numpy_cases[0]; i++) {
        const numpy_case *c = &numpy_cases[i];
        for (size_t len = 0; len < c->expected_size; len++) {
            unsigned char *copy = exact_copy(c->expected, len);
            adead_tensor_view view;
            char err[256];
            assert_int_equal(npy_parse(copy, len, &view, err, sizeof err), -1);
            assert_true(err[0] != '\0');
            free(copy);
        }
    }
}

/* Every header byte replaced by a few troublesome values: never a crash or an overread, and any
 * accepted result lies inside the input. */
static void test_corrupted_bytes_stay_in_bounds(void **state)
{
    (void)state;
    static const unsigned char replacements[] = {0x00, '\n', '\'', '"', '(', ')', ',', '}', '9', 0xff};
    const numpy_case *c = &numpy_cases[0];
    for (size_t pos = 0; pos < 128; pos++) {
        for (size_t r = 0; r < sizeof replacements; r++) {
            unsigned char *copy = exact_copy(c->expected, c->expected_size);
            copy[pos] = replacements[r];
            adead_tensor_view view;
            char err[256];
            if (npy_parse(copy, c->expected_size, &view, err, sizeof err) == 0) {
                const unsigned char *data = view.data;
                assert_true(data >= copy && data + view.nbytes <= copy + c->expected_size);
            } else {
                assert_true(err[0] != '\0');
            }
            free(copy);
        }
    }
}

/* ---- encoding invalid views ---- */

static void expect_invalid_view(const adead_tensor_view *t, const char *phrase)
{
    unsigned char *bytes = (unsigned char *)1;
    size_t size = 99;
    char err[256] = "";
    assert_int_equal(npy_encode(t, &bytes, &size), -1);
    assert_null(bytes);
    assert_int_equal(npy_check_view(t, err, sizeof err), -1);
    assert_contains(err, phrase);
}

static void test_encode_rejects_invalid_views(void **state)
{
    (void)state;
    static const float two[2] = {1.0f, 2.0f};
    adead_tensor_view good;
    memset(&good, 0, sizeof good);
    good.dtype = ADEAD_F32;
    good.rank = 1;
    good.dims[0] = 2;
    good.data = two;
    good.nbytes = sizeof two;
    assert_int_equal(npy_check_view(&good, NULL, 0), 0);

    adead_tensor_view t = good;
    t.dtype = (adead_dtype)9;
    expect_invalid_view(&t, "invalid dtype 9");
    t = good;
    t.rank = 5;
    expect_invalid_view(&t, "rank 5 is out of range");
    t = good;
    t.rank = -1;
    expect_invalid_view(&t, "rank -1");
    t = good;
    t.dims[0] = -2;
    expect_invalid_view(&t, "dimension 0 is negative (-2)");
    t = good;
    t.nbytes = 4;
    expect_invalid_view(&t, "nbytes is 4, but shape (2,) of '<f4' needs 8");
    t = good;
    t.data = NULL;
    expect_invalid_view(&t, "data is NULL");
    t = good;
    t.rank = 4;
    t.dims[0] = t.dims[1] = t.dims[2] = t.dims[3] = (int64_t)1 << 32;
    expect_invalid_view(&t, "more than 2^40 elements");
    expect_invalid_view(NULL, "no tensor view");
}

/* ---- files ---- */

typedef struct {
    char dir[64];
    char path[128];
} temp_dir;

static int make_temp_dir(void **state)
{
    temp_dir *td = calloc(1, sizeof *td);
    if (!td) return -1;
    snprintf(td->dir, sizeof td->dir, "/tmp/adead_npy_XXXXXX");
    if (!mkdtemp(td->dir)) {
        free(td);
        return -1;
    }
    snprintf(td->path, sizeof td->path, "%s/x.npy", td->dir);
    *state = td;
    return 0;
}

static int remove_temp_dir(void **state)
{
    temp_dir *td = *state;
    unlink(td->path);
    rmdir(td->dir);
    free(td);
    return 0;
}

static void test_file_round_trip(void **state)
{
    temp_dir *td = *state;
    const int64_t values[] = {1, -2, INT64_MAX, INT64_MIN, 0, 42};
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_I64;
    t.rank = 3;
    t.dims[0] = 1;
    t.dims[1] = 3;
    t.dims[2] = 2;
    t.data = values;
    t.nbytes = sizeof values;
    char err[256] = "";
    assert_int_equal(adead_npy_write(td->path, &t, err, sizeof err), ADEAD_OK);
    assert_string_equal(err, "");

    adead_tensor_view back;
    void *data = NULL;
    assert_int_equal(adead_npy_read(td->path, &back, &data, err, sizeof err), ADEAD_OK);
    assert_non_null(data);
    assert_ptr_equal(back.data, data);
    assert_int_equal(back.dtype, ADEAD_I64);
    assert_int_equal(back.rank, 3);
    assert_int_equal(back.dims[0], 1);
    assert_int_equal(back.dims[1], 3);
    assert_int_equal(back.dims[2], 2);
    assert_int_equal(back.nbytes, sizeof values);
    assert_memory_equal(back.data, values, sizeof values);
    free(data);

    /* the file on disk is exactly what npy_encode produces */
    unsigned char *bytes, *encoded;
    size_t size, encoded_size;
    assert_int_equal(npy_read_file(td->path, &bytes, &size, err, sizeof err), 0);
    assert_int_equal(npy_encode(&t, &encoded, &encoded_size), 0);
    assert_int_equal(size, encoded_size);
    assert_memory_equal(bytes, encoded, size);
    free(bytes);
    free(encoded);
}

static void test_file_round_trip_zero_size(void **state)
{
    temp_dir *td = *state;
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_F32;
    t.rank = 2;
    t.dims[0] = 0;
    t.dims[1] = 7;
    char err[256] = "";
    assert_int_equal(adead_npy_write(td->path, &t, err, sizeof err), ADEAD_OK);
    adead_tensor_view back;
    void *data = NULL;
    assert_int_equal(adead_npy_read(td->path, &back, &data, err, sizeof err), ADEAD_OK);
    assert_int_equal(back.rank, 2);
    assert_int_equal(back.dims[0], 0);
    assert_int_equal(back.dims[1], 7);
    assert_int_equal(back.nbytes, 0);
    free(data);
}

static void test_read_missing_file(void **state)
{
    temp_dir *td = *state;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.npy", td->dir);
    adead_tensor_view view;
    void *data = (void *)1;
    char err[256] = "";
    assert_int_equal(adead_npy_read(missing, &view, &data, err, sizeof err), ADEAD_E_IO);
    assert_null(data);
    assert_contains(err, missing);
    assert_contains(err, "No such file or directory");

    unsigned char *bytes;
    size_t size;
    assert_int_equal(npy_read_file(missing, &bytes, &size, err, sizeof err), -1);
    assert_contains(err, missing);
}

static void test_read_directory(void **state)
{
    temp_dir *td = *state;
    adead_tensor_view view;
    void *data;
    char err[256] = "";
    assert_int_equal(adead_npy_read(td->dir, &view, &data, err, sizeof err), ADEAD_E_IO);
    assert_contains(err, td->dir);
    assert_contains(err, "directory");
}

static void test_read_malformed_file_names_path(void **state)
{
    temp_dir *td = *state;
    size_t size;
    unsigned char *b = make_npy(1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (), }\n", "\0\0\0\0", 4, &size);
    FILE *f = fopen(td->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
    free(b);

    adead_tensor_view view;
    void *data = (void *)1;
    char err[256] = "";
    char expected[256];
    snprintf(expected, sizeof expected, "%s: big-endian data ('>f4') is not supported", td->path);
    assert_int_equal(adead_npy_read(td->path, &view, &data, err, sizeof err), ADEAD_E_LOAD);
    assert_null(data);
    assert_true(strncmp(err, expected, strlen(expected)) == 0);
    /* a NULL errbuf is allowed */
    assert_int_equal(adead_npy_read(td->path, &view, &data, NULL, 0), ADEAD_E_LOAD);
}

static void test_write_errors(void **state)
{
    temp_dir *td = *state;
    static const int32_t three[3] = {1, 2, 3};
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_I32;
    t.rank = 1;
    t.dims[0] = 3;
    t.data = three;
    t.nbytes = sizeof three;
    char err[256] = "";

    char no_dir[160];
    snprintf(no_dir, sizeof no_dir, "%s/no/such/dir.npy", td->dir);
    assert_int_equal(adead_npy_write(no_dir, &t, err, sizeof err), ADEAD_E_IO);
    assert_contains(err, no_dir);
    assert_contains(err, "No such file or directory");

    t.nbytes = 8;
    assert_int_equal(adead_npy_write(td->path, &t, err, sizeof err), ADEAD_E_ARG);
    assert_contains(err, td->path);
    assert_contains(err, "nbytes is 8");
    assert_int_equal(access(td->path, F_OK), -1); /* nothing was created */

    assert_int_equal(adead_npy_write(NULL, &t, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_npy_write(td->path, NULL, NULL, 0), ADEAD_E_ARG);
    adead_tensor_view view;
    void *data;
    assert_int_equal(adead_npy_read(NULL, &view, &data, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_npy_read(td->path, NULL, &data, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_npy_read(td->path, &view, NULL, err, sizeof err), ADEAD_E_ARG);
}

/* A write that fails part-way (here over RLIMIT_FSIZE) leaves the existing file as it was and no
 * temporary file beside it. */
static void test_failed_write_keeps_old_file(void **state)
{
    temp_dir *td = *state;
    static const char old[] = "the old contents";
    FILE *f = fopen(td->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(old, 1, sizeof old, f), sizeof old);
    assert_int_equal(fclose(f), 0);

    static float big[1 << 14];
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_F32;
    t.rank = 1;
    t.dims[0] = 1 << 14;
    t.data = big;
    t.nbytes = sizeof big;
    struct rlimit saved, small = {4096, 4096};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small.rlim_max = saved.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char err[256] = "";
    int rc = adead_npy_write(td->path, &t, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, ADEAD_E_IO);
    assert_contains(err, "File too large");

    char back[64] = "";
    f = fopen(td->path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, sizeof back, f), sizeof old);
    fclose(f);
    assert_memory_equal(back, old, sizeof old);
    DIR *d = opendir(td->dir);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL) entries += e->d_name[0] != '.' || strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    assert_int_equal(entries, 1); /* x.npy alone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_dtype_and_rank),
        cmocka_unit_test(test_encode_matches_numpy_bytes),
        cmocka_unit_test(test_parse_numpy_bytes),
        cmocka_unit_test(test_parse_version_2),
        cmocka_unit_test(test_parse_flexible_syntax),
        cmocka_unit_test(test_rejects_bad_magic),
        cmocka_unit_test(test_rejects_unsupported_versions),
        cmocka_unit_test(test_rejects_big_endian),
        cmocka_unit_test(test_rejects_other_dtypes),
        cmocka_unit_test(test_rejects_fortran_order),
        cmocka_unit_test(test_rejects_rank_over_4),
        cmocka_unit_test(test_rejects_malformed_dict),
        cmocka_unit_test(test_rejects_malformed_shape),
        cmocka_unit_test(test_rejects_missing_keys),
        cmocka_unit_test(test_rejects_duplicate_keys),
        cmocka_unit_test(test_rejects_bad_dimensions),
        cmocka_unit_test(test_rejects_element_overflow),
        cmocka_unit_test(test_accepts_2_pow_40_elements_header),
        cmocka_unit_test(test_zero_dim_beside_large_dims),
        cmocka_unit_test(test_rejects_truncated_header),
        cmocka_unit_test(test_rejects_truncated_data),
        cmocka_unit_test(test_rejects_trailing_bytes),
        cmocka_unit_test(test_every_prefix_is_refused),
        cmocka_unit_test(test_corrupted_bytes_stay_in_bounds),
        cmocka_unit_test(test_encode_rejects_invalid_views),
        cmocka_unit_test_setup_teardown(test_file_round_trip, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_file_round_trip_zero_size, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_read_missing_file, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_read_directory, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_read_malformed_file_names_path, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_write_errors, make_temp_dir, remove_temp_dir),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_old_file, make_temp_dir, remove_temp_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
