/* adead-asm: .adasm text -> .bib bytecode, and back with -d. */
#include "../include/adeadvm.h"
#include "../isa/bib.h"
#include "../util/fileio.h"
#include "../util/stdstreams.h"
#include "asm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_USAGE = 1, EXIT_PROGRAM = 2, EXIT_IO = 6 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: adead-asm [-o OUT] FILE.adasm     assemble (default output: FILE.bib)\n"
            "       adead-asm -d [-o OUT] FILE.bib    disassemble (default output: stdout)\n"
            "FILE may be '-' for stdin, OUT '-' for stdout.\n"
            "options:\n"
            "  -o FILE      write the result to FILE\n"
            "  -d           disassemble: print text that assembles back to the same bytes\n"
            "  --help       show this help\n"
            "  --version    show the version\n"
            "exit status: 0 ok, 1 bad usage, 2 errors in the program or file, 6 I/O error (a file, or\n"
            "  standard output or error, could not be written; the old output file is left as it was)\n");
}

static int read_input(const char *path, int bib, unsigned char **data, size_t *size)
{
    char err[600];
    if (fileio_read(path, BIB_MAX_FILE, bib ? bib_head_check : fileio_text_head, data, size, err, sizeof err)) {
        fprintf(stderr, "adead-asm: %s\n", err);
        return -1;
    }
    return 0;
}

/* Written to a temporary file and renamed into place: a failure leaves the old file as it was. */
static int write_output(const char *path, const void *data, size_t size)
{
    char err[600];
    if (fileio_write(path, data, size, err, sizeof err)) {
        fprintf(stderr, "adead-asm: %s\n", err);
        return -1;
    }
    return 0;
}

/* FILE.adasm -> FILE.bib; other names get .bib appended. */
static char *default_output(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n + 5);
    if (!out) return NULL;
    strcpy(out, in);
    if (n > 6 && !strcmp(in + n - 6, ".adasm")) out[n - 6] = 0;
    strcat(out, ".bib");
    return out;
}

static int run(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int disassemble = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("adead-asm %s\n", adead_version());
            return 0;
        } else if (!strcmp(a, "-d")) {
            disassemble = 1;
        } else if (!strcmp(a, "-o")) {
            if (++i == argc) {
                fprintf(stderr, "adead-asm: -o needs a file name\n");
                return EXIT_USAGE;
            }
            out = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "adead-asm: unknown option '%s' (try --help)\n", a);
            return EXIT_USAGE;
        } else if (in) {
            fprintf(stderr, "adead-asm: one input file at a time ('%s' and '%s')\n", in, a);
            return EXIT_USAGE;
        } else {
            in = a;
        }
    }
    if (!in) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *dest = out ? out : disassemble || !strcmp(in, "-") ? "-" : NULL;
    char *def = dest ? NULL : default_output(in);
    if (!dest && !def) {
        fprintf(stderr, "adead-asm: out of memory\n");
        return EXIT_IO;
    }
    if (!dest) dest = def;
    if (fileio_same_file(in, dest)) {
        fprintf(stderr, "adead-asm: the output %s is the input itself; it would be replaced (give another -o)\n", dest);
        free(def);
        return EXIT_USAGE;
    }
    unsigned char *src;
    size_t size;
    if (read_input(in, disassemble, &src, &size)) {
        free(def);
        return EXIT_IO;
    }
    int rc = 0;
    if (disassemble) {
        char *text, err[1024];
        if (asm_disassemble(src, size, &text, err, sizeof err)) {
            fprintf(stderr, "adead-asm: %s: %s\n", strcmp(in, "-") ? in : "<stdin>", err);
            rc = EXIT_PROGRAM;
        } else {
            rc = write_output(dest, text, strlen(text)) ? EXIT_IO : 0;
            free(text);
        }
    } else {
        uint8_t *bib;
        size_t bib_size;
        char *diag;
        int errors = asm_assemble((const char *)src, size, strcmp(in, "-") ? in : "<stdin>", &bib, &bib_size, &diag);
        if (errors) {
            fputs(errors < 0 ? "adead-asm: out of memory\n" : diag ? diag : "", stderr);
            if (errors > 0) fprintf(stderr, "%d error%s\n", errors, errors == 1 ? "" : "s");
            rc = EXIT_PROGRAM;
        } else {
            rc = write_output(dest, bib, bib_size) ? EXIT_IO : 0;
        }
        free(bib);
        free(diag);
    }
    free(src);
    free(def);
    return rc;
}

int main(int argc, char **argv)
{
    stdstreams_ignore_file_size_signal();
    return stdstreams_finish("adead-asm", run(argc, argv));
}
