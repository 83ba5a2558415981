/* libFuzzer target: the .npy reader (vm/npy.c). Any image npy_parse accepts must encode and
 * parse back to the same dtype, shape and data bytes, and encoding must be a fixed point
 * (what np.save writes for a view is one exact byte string, its data 64-byte aligned). */
#include "../util/npy.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    adead_tensor_view v, w;
    char err[256];
    if (npy_parse(data, size, &v, err, sizeof err)) return 0;

    unsigned char *enc;
    size_t enc_size;
    if (npy_encode(&v, &enc, &enc_size)) __builtin_trap(); /* a parsed view is always writable */
    if (npy_parse(enc, enc_size, &w, err, sizeof err)) __builtin_trap();
    if (w.dtype != v.dtype || w.rank != v.rank || w.nbytes != v.nbytes) __builtin_trap();
    for (int i = 0; i < v.rank; i++)
        if (w.dims[i] != v.dims[i]) __builtin_trap();
    if (v.nbytes && memcmp(w.data, v.data, v.nbytes)) __builtin_trap();
    if ((enc_size - v.nbytes) % 64) __builtin_trap();

    unsigned char *again;
    size_t again_size;
    if (npy_encode(&w, &again, &again_size)) __builtin_trap();
    if (again_size != enc_size || memcmp(again, enc, enc_size)) __builtin_trap();
    free(again);
    free(enc);
    return 0;
}
