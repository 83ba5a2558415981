/* Whole-file reads with a size limit, and writes that never destroy what was there.
 *
 * Reads: "-" is standard input. A regular file is sized by fstat; a pipe or a device is read in
 * chunks, and its first bytes go to a caller's check first, so that /dev/zero given as a .npy is
 * refused after one chunk rather than after a gigabyte.
 *
 * Writes: "-" is standard output; an existing device or FIFO (/dev/null, /dev/stdout) is written
 * in place; anything else is written to a new temporary file beside the target (beside a symbolic
 * link's target, so the link stays) and renamed over it only when every byte is on disk. A failure
 * removes only that temporary file: the old file, or no file, is left, and no path the caller
 * named is ever removed. Statuses are adead_status values; messages name the path. */
#ifndef ADEAD_FILEIO_H
#define ADEAD_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h" /* FILEIO_HEAD_BYTES: what a head check sees of a stream */

/* Looks at the first n bytes of a stream (all of it when at_end). Returns 0 to go on, setting
 * *max_total to the whole stream's size when the head tells it (0: unknown); or -1 with why. */
typedef int (*fileio_head_check)(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why,
                                 size_t whylen);

/* A head check for text (the assembler's input): refuses a NUL byte. */
int fileio_text_head(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t whylen);

/* Reads all of path (at most limit bytes) into malloc'd memory. check may be NULL. */
int fileio_read(const char *path, size_t limit, fileio_head_check check, unsigned char **bytes, size_t *size,
                char *err, size_t errlen);

typedef struct fileio_out fileio_out;

/* Prepares path for a complete rewrite and checks that it can happen: the temporary file is
 * created now (so a missing folder or a read-only one fails before any work is done). */
int fileio_out_open(const char *path, fileio_out **out, char *err, size_t errlen);
int fileio_out_write(fileio_out *o, const void *data, size_t n, char *err, size_t errlen);
/* Flushes to disk and renames into place; frees o whatever happens. */
int fileio_out_commit(fileio_out *o, char *err, size_t errlen);
/* Gives up: removes the temporary file (only that), frees o. NULL is fine. */
void fileio_out_abort(fileio_out *o);
/* open + write + commit. */
int fileio_write(const char *path, const void *data, size_t n, char *err, size_t errlen);

/* 1 when a and b name the same existing file (same device and inode), else 0. */
int fileio_same_file(const char *a, const char *b);

#endif
