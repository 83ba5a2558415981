/* Shared helpers for the cmocka tests. Tests run from the top of the source tree; the built
 * programs are under $ADEAD_BUILD (default "build"). */
#ifndef ADEAD_TESTUTIL_H
#define ADEAD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/adeadvm.h"

static inline const char *build_dir(void)
{
    const char *b = getenv("ADEAD_BUILD");
    return b && *b ? b : "build";
}

/* xorshift64*: deterministic random numbers, so a failing case can be reproduced. */
typedef struct {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static inline uint32_t rng_u32(rng *r) { return (uint32_t)(rng_next(r) >> 32); }

/* An f32 bit pattern biased toward the cases where executors disagree: subnormals, values
 * near FLT_MIN, ±0, ±Inf, NaNs with payloads, values near overflow, and ordinary numbers. */
static inline uint32_t rng_f32_bits(rng *r)
{
    uint32_t x = rng_u32(r), sign = x & 0x80000000u, mant = rng_u32(r) & 0x007FFFFFu;
    switch (rng_u32(r) % 16) {
    case 0: return sign | mant;                                  /* subnormal or zero */
    case 1: return sign | 0x00800000u | (mant & 7u);             /* just above FLT_MIN */
    case 2: return sign;                                         /* ±0 */
    case 3: return sign | 0x7F800000u;                           /* ±Inf */
    case 4: return sign | 0x7F800000u | (mant | 1u);             /* NaN, any payload */
    case 5: return sign | (0xFEu << 23) | mant;                  /* near FLT_MAX */
    case 6: return sign | ((1u + rng_u32(r) % 40u) << 23) | mant; /* tiny normals */
    default: return sign | ((100u + rng_u32(r) % 55u) << 23) | mant; /* around 1 */
    }
}

/* A view of caller data, for adead_npy_write and adead_tensor_text. */
static inline adead_tensor_view tensor_view(adead_dtype dtype, int rank, const int64_t *dims, const void *data, size_t nbytes)
{
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

/* Write a .npy file, failing the test when it cannot. */
static inline void write_npy(const char *path, adead_dtype dtype, int rank, const int64_t *dims, const void *data, size_t nbytes)
{
    adead_tensor_view t = tensor_view(dtype, rank, dims, data, nbytes);
    char err[512] = "";
    if (adead_npy_write(path, &t, err, sizeof err)) fail_msg("adead_npy_write %s: %s", path, err);
}

/* Whole file into memory (NUL-terminated), or NULL. */
static inline char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (size) *size = n;
    return buf;
}

/* Assemble source text to a program; fails the test with the diagnostics when it does not. */
static inline adead_program *assemble_ok(const char *src)
{
    adead_program *p = NULL;
    char err[8192];
    int rc = adead_program_assemble(src, strlen(src), "test.adasm", &p, err, sizeof err);
    if (rc) fail_msg("assembly failed (%d):\n%s\n--- source:\n%s", rc, err, src);
    return p;
}

/* Captured PRINT output of a VM. */
typedef struct {
    char buf[8192];
    size_t n;
} capture;

static inline void capture_write(void *user, const char *text, size_t n)
{
    capture *c = user;
    if (c->n + n >= sizeof c->buf) n = sizeof c->buf - 1 - c->n;
    memcpy(c->buf + c->n, text, n);
    c->n += n;
    c->buf[c->n] = 0;
}

/* Run a shell command, capturing stdout+stderr (NUL-terminated, malloc'd); returns the exit status. */
static inline int run_cmd(const char *cmd, char **output)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) break;
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf) buf[n] = 0;
    int status = pclose(p);
    if (output) *output = buf;
    else free(buf);
    return status >= 0 && (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1;
}

#endif
