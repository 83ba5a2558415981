/* SHA-256 against the NIST example vectors, plus block-boundary lengths and chunked input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../util/sha256.h"

static void digest_hex(const void *data, size_t len, char hex[65])
{
    sha256_ctx ctx;
    unsigned char digest[32];
    sha256_init(&ctx);
    sha256_update(&ctx, data, len);
    sha256_final(&ctx, digest);
    sha256_hex(digest, hex);
}

static void assert_digest(const char *message, const char *expected)
{
    char hex[65];
    digest_hex(message, strlen(message), hex);
    assert_string_equal(hex, expected);
}

static void test_empty(void **state)
{
    (void)state;
    assert_digest("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **state)
{
    (void)state;
    assert_digest("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_448_bits(void **state)
{
    (void)state;
    assert_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void **state)
{
    (void)state;
    assert_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* Chunk sizes that are not multiples of 64 exercise the partial-block path of update. */
static void test_million_a_in_odd_chunks(void **state)
{
    (void)state;
    static const size_t chunk_sizes[] = {1, 3, 7, 63, 64, 65, 127, 1000, 4093};
    char as[4093];
    memset(as, 'a', sizeof as);

    sha256_ctx ctx;
    sha256_init(&ctx);
    size_t fed = 0, k = 0;
    while (fed < 1000000) {
        size_t n = chunk_sizes[k++ % (sizeof chunk_sizes / sizeof chunk_sizes[0])];
        if (n > 1000000 - fed) n = 1000000 - fed;
        sha256_update(&ctx, as, n);
        fed += n;
    }
    unsigned char digest[32];
    char hex[65];
    sha256_final(&ctx, digest);
    sha256_hex(digest, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths around 56 and 64 bytes decide whether the padding needs a second block. */
static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char as[120];
    memset(as, 'a', sizeof as);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[65];
        digest_hex(as, cases[i].len, hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

/* Every byte value, fed one byte at a time, matches the one-shot digest. */
static void test_bytewise_matches_one_shot(void **state)
{
    (void)state;
    unsigned char bytes[768];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)i;

    sha256_ctx ctx;
    sha256_init(&ctx);
    for (size_t i = 0; i < sizeof bytes; i++) sha256_update(&ctx, bytes + i, 1);
    unsigned char digest[32];
    char bytewise[65], one_shot[65];
    sha256_final(&ctx, digest);
    sha256_hex(digest, bytewise);
    digest_hex(bytes, sizeof bytes, one_shot);
    assert_string_equal(bytewise, one_shot);
    assert_string_equal(one_shot, "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_abc),
        cmocka_unit_test(test_448_bits),
        cmocka_unit_test(test_896_bits),
        cmocka_unit_test(test_million_a_in_odd_chunks),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_bytewise_matches_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
