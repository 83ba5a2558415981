/* SHA-256 (FIPS 180-4), incremental: init, any number of updates, final. */
#ifndef ADEAD_SHA256_H
#define ADEAD_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];      /* the running hash H0..H7 */
    uint64_t total_bytes;   /* message length so far, for the final length field */
    unsigned char block[64];
    size_t block_used;      /* bytes waiting in block, always < 64 between calls */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
/* Writes the 32-byte digest; the context must be re-initialised before reuse. */
void sha256_final(sha256_ctx *ctx, unsigned char out[32]);
/* Lower-case hex of a digest, NUL-terminated. */
void sha256_hex(const unsigned char digest[32], char hex[65]);

#endif
