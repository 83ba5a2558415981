/* .npy files (numpy's array format) for the assembler, the VM and the public API.
 *
 * Supported: format versions 1.0 and 2.0, C order, dtypes '<f4', '<i4' and '<i8', rank <= 4,
 * at most 2^40 elements. Everything else is refused with a message that says what was found.
 * The public adead_npy_read / adead_npy_write are built on these. */
#ifndef ADEAD_NPY_H
#define ADEAD_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "../include/adeadvm.h"

#include "config.h" /* NPY_MAX_ELEMENTS, NPY_MAX_FILE_BYTES */

/* Parse a whole .npy image. Zero-copy: on success out->data points into bytes (at the data
 * offset, which numpy aligns to 64 bytes; other writers may not, so copy before typed access).
 * Returns 0, or -1 with a message in err (err may be NULL). */
int npy_parse(const void *bytes, size_t size, adead_tensor_view *out, char *err, size_t errlen);

/* Check that a view can be written: known dtype, rank 0..4, dims >= 0, at most 2^40 elements,
 * nbytes matching the shape, data present when nbytes > 0. Returns 0, or -1 with a message. */
int npy_check_view(const adead_tensor_view *t, char *err, size_t errlen);

/* Encode a view as the exact bytes np.save writes. *out is malloc'd. Returns 0, or -1 for an
 * invalid view (see npy_check_view) or when memory runs out. */
int npy_encode(const adead_tensor_view *t, unsigned char **out, size_t *out_size);

/* Read a whole .npy file (at most NPY_MAX_FILE_BYTES; "-" is stdin) into malloc'd memory; a pipe or
 * device that does not start as a .npy is refused at once. Returns 0, or -1 with a message naming
 * the path and the OS error. */
int npy_read_file(const char *path, unsigned char **bytes, size_t *size, char *err, size_t errlen);

/* The fileio_head_check for .npy streams (util/fileio.h). */
int npy_head_check(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t whylen);

#endif
