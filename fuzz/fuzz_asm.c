/* libFuzzer target: bytes as .adasm text. Whatever assembles must round-trip: its disassembly
 * assembles again, to the same bytes (the promise of docs/asm.md).
 *
 * The assembler opens the files named by .npy and .spv initializers, absolute paths included.
 * This target links a copy of the library whose open, fopen and opendir calls are renamed to
 * fuzz_open, fuzz_fopen and fuzz_opendir (fuzz/fuzz.mk): they serve a few fixed in-memory files, so that file-initialized
 * tensors are fuzzed too, and ENOENT for anything else; opening for writing traps. The path "-"
 * (stdin) reads /dev/null. So the fuzzer never reads or writes the host's files; libFuzzer's own
 * file I/O (corpus, artifacts) is untouched. */
#define _GNU_SOURCE /* memfd_create */
#include "../include/adeadvm.h"
#include "../util/npy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int fuzz_open(const char *path, int flags, ...);
FILE *fuzz_fopen(const char *path, const char *mode);
DIR *fuzz_opendir(const char *path);

typedef struct {
    const char *name;
    unsigned char *bytes;
    size_t size;
} vfile;

static vfile files[4] = {{"f32.npy", 0, 0}, {"i32.npy", 0, 0}, {"i64.npy", 0, 0}, {"w.spv", 0, 0}};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const float f[6] = {1.5f, -2, 0, 3, 1e-3f, 7};
    static const int32_t i4[3] = {1, -2, 3};
    static const int64_t i8 = 42;
    /* SPIR-V: the magic, version 1.0, generator 0, bound 1, schema 0 (a header, no code). */
    static unsigned char spv[20] = {0x03, 0x02, 0x23, 0x07, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    adead_tensor_view v[3] = {
        {ADEAD_F32, 2, {2, 3, 0, 0}, f, sizeof f},
        {ADEAD_I32, 1, {3, 0, 0, 0}, i4, sizeof i4},
        {ADEAD_I64, 0, {0, 0, 0, 0}, &i8, sizeof i8},
    };
    for (int i = 0; i < 3; i++)
        if (npy_encode(&v[i], &files[i].bytes, &files[i].size)) abort();
    files[3].bytes = spv;
    files[3].size = sizeof spv;
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0) abort();
    close(null);
    return 0;
}

static const vfile *find(const char *path)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!strcmp(path, files[i].name)) return &files[i];
    errno = ENOENT;
    return NULL;
}

/* A regular file of its own (memfd: memory, not disk) for each open, as a real file would be. */
int fuzz_open(const char *path, int flags, ...)
{
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) __builtin_trap();
    const vfile *f = find(path);
    if (!f) return -1;
    int fd = memfd_create("fuzz_asm", 0);
    if (fd < 0 || write(fd, f->bytes, f->size) != (ssize_t)f->size || lseek(fd, 0, SEEK_SET) != 0) abort();
    return fd;
}

FILE *fuzz_fopen(const char *path, const char *mode)
{
    if (strpbrk(mode, "wa+")) __builtin_trap();
    const vfile *f = find(path);
    return f ? fmemopen(f->bytes, f->size, "r") : NULL;
}

/* Folders (the executor registry's plugin search) are never listed here. */
DIR *fuzz_opendir(const char *path)
{
    (void)path;
    errno = ENOENT;
    return NULL;
}

/* A broken round trip: say what happened on stderr (for the crash report), then trap. */
static void fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_asm: %s\n--- disassembly ---\n%s\n---\n", what, text ? text : "(none)");
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static char err[1 << 16]; /* every diagnostic: up to 50, each with its source line */
    void *bib, *bib2;
    size_t bib_size, bib2_size;
    /* NULL filename: "<memory>", relative paths as given (served by fuzz_fopen). */
    int rc = adead_assemble((const char *)data, size, NULL, &bib, &bib_size, err, sizeof err);
    if (rc != ADEAD_OK) {
        free(bib);
        return 0;
    }
    char *text;
    if (adead_disassemble(bib, bib_size, &text, err, sizeof err) != ADEAD_OK) fail("the image does not disassemble", err);
    if (adead_assemble(text, strlen(text), NULL, &bib2, &bib2_size, err, sizeof err) != ADEAD_OK) {
        fprintf(stderr, "%s", err);
        fail("the disassembly does not assemble", text);
    }
    if (bib2_size != bib_size || memcmp(bib, bib2, bib_size)) fail("the disassembly assembles to other bytes", text);
    free(text);
    free(bib);
    free(bib2);
    return 0;
}
