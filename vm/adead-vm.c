/* adead-vm: run a .bib program (or .adasm source), tensors in and out as .npy files. */
#include "../include/adeadvm.h"
#include "../isa/bib.h"
#include "../util/fileio.h"
#include "../util/stdstreams.h"
#include "../util/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exit status = adead_status: 0 ok, 1 bad usage or arguments, 2 bad program, 3 trap,
 * 4 out of fuel, 5 memory limit, 6 I/O error (a file, stdout or stderr could not be written),
 * 7 host out of memory. */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: adead-vm [options] PROGRAM.bib|PROGRAM.adasm|-\n"
            "options:\n"
            "  --in NAME=FILE.npy   bind input NAME to a .npy file (repeat for each input)\n"
            "  --out NAME=FILE.npy  write output NAME to a .npy file; outputs without --out are printed\n"
            "                       (FILE '-' is stdin for one --in, stdout for one --out; the program\n"
            "                       '-' is read from stdin, as .bib or as text)\n"
            "  --fuel N             stop after N instructions (default: no limit)\n"
            "  --mem SIZE           memory limit in bytes, or with a K, M, G or T suffix (default 1G)\n"
            "  --gpu-mem SIZE       bytes of tensor copies each GPU executor may hold (default: the\n"
            "                       device's memory); past it copies are evicted in slot order\n"
            "  --digest             print sha256:<hex> over all outputs (names, dtypes, shapes, bytes)\n"
            "  --quiet              do not print outputs that have no --out\n"
            "  --trace              print every executed instruction to stderr\n"
            "  --stats              print the instruction count and run time to stderr\n"
            "  --profile            print every tensor op (pc, line, kernel, shapes, executor, time,\n"
            "                       GFLOP/s or GB/s) and a summary per kernel to stderr\n"
            "  --trace-json FILE    write the tensor ops as Chrome/Perfetto trace events (one track\n"
            "                       per executor queue); open it in ui.perfetto.dev or chrome://tracing\n"
            "  --simd LEVEL         CPU kernels: scalar, sse2, avx2, avx512, neon or auto (default:\n"
            "                       $ADEAD_SIMD, else the best this CPU has); results are identical\n"
            "  --threads N          CPU threads (default: $ADEAD_THREADS, else all cores; 0 = all)\n"
            "  --executor NAME      auto (the CPU, and a GPU for large ops), cpu, or a plugin such as\n"
            "                       cuda: every op it supports runs there (default: $ADEAD_EXECUTOR,\n"
            "                       else auto); results are identical\n"
            "  --info               print the CPU, SIMD levels, executors and dispatch cost, and exit\n"
            "  --help, --version\n"
            "exit status: 0 ok, 1 bad usage or arguments, 2 the program does not load or assemble,\n"
            "  3 trap, 4 out of fuel, 5 memory limit, 6 I/O error (a file, or standard output or error,\n"
            "  could not be read or written), 7 host out of memory. --out files are written only when\n"
            "  everything succeeded, each to a temporary file renamed into place: a failed run or write\n"
            "  leaves the old files as they were.\n");
}

typedef struct {
    const char *name, *path;
    fileio_out *file; /* --out: opened (a temporary file created) before the run */
} binding;

static int parse_binding(const char *opt, const char *arg, binding *b)
{
    const char *eq = arg ? strchr(arg, '=') : NULL;
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "adead-vm: %s takes NAME=FILE.npy, got '%s'\n", opt, arg ? arg : "");
        return -1;
    }
    size_t n = (size_t)(eq - arg);
    char *name = malloc(n + 1);
    if (!name) return -1;
    memcpy(name, arg, n);
    name[n] = 0;
    b->name = name;
    b->path = eq + 1;
    return 0;
}

static int parse_u64(const char *s, uint64_t *v, int allow_suffix)
{
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno == ERANGE) return -1;
    unsigned shift = 0;
    if (allow_suffix && *end) {
        const char *suffixes = "KMGT";
        char upper = (char)((end[0] >= 'a' && end[0] <= 'z') ? end[0] - 32 : end[0]);
        const char *p = upper ? strchr(suffixes, upper) : NULL;
        if (!p || end[1]) return -1;
        shift = 10 * (unsigned)(p - suffixes + 1);
        end++;
    }
    if (*end || (shift && x > (~0ull >> shift))) return -1;
    *v = x << shift;
    return 0;
}

static void to_stderr(void *user, const char *text, size_t n)
{
    (void)user;
    fwrite(text, 1, n, stderr);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *program;
    binding *ins, *outs;
    int n_in, n_out;
    uint64_t fuel, mem, gpu_mem;
    int digest, quiet, trace, stats, profile;
    const char *trace_json;
    fileio_out *trace_file; /* --trace-json: opened before the run, as --out files are */
    int stdout_taken; /* an --out writes .npy bytes to stdout: prints and the digest go to stderr */
    const char *simd;
    const char *executor;
    long threads; /* -1: not given */
} options;

/* stdin can feed one thing and stdout take one --out; whatever else would print goes to stderr. */
static int check_std_streams(options *o)
{
    int readers = !strcmp(o->program, "-"), writers = 0;
    for (int i = 0; i < o->n_in; i++) readers += !strcmp(o->ins[i].path, "-");
    for (int i = 0; i < o->n_out; i++) writers += !strcmp(o->outs[i].path, "-");
    if (readers > 1) {
        fprintf(stderr, "adead-vm: standard input ('-') can be read only once: as the program or one --in\n");
        return -1;
    }
    if (writers > 1) {
        fprintf(stderr, "adead-vm: standard output ('-') can take only one --out\n");
        return -1;
    }
    o->stdout_taken = writers;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(stdstreams_finish("adead-vm", 0));
        } else if (!strcmp(a, "--version")) {
            printf("adead-vm %s\n", adead_version());
            exit(stdstreams_finish("adead-vm", 0));
        } else if (!strcmp(a, "--in") || !strcmp(a, "--out")) {
            int is_in = a[2] == 'i';
            if (parse_binding(a, arg, is_in ? &o->ins[o->n_in] : &o->outs[o->n_out])) return -1;
            if (is_in) o->n_in++;
            else o->n_out++;
            i++;
        } else if (!strcmp(a, "--fuel")) {
            if (parse_u64(arg, &o->fuel, 0) || !o->fuel) {
                fprintf(stderr, "adead-vm: --fuel takes a positive instruction count, got '%s'\n", arg ? arg : "");
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--mem")) {
            if (parse_u64(arg, &o->mem, 1) || !o->mem) {
                fprintf(stderr, "adead-vm: --mem takes a size like 4096, 64K, 512M, 2G or 1T, got '%s'\n", arg ? arg : "");
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--gpu-mem")) {
            if (parse_u64(arg, &o->gpu_mem, 1) || !o->gpu_mem) {
                fprintf(stderr, "adead-vm: --gpu-mem takes a size like 64M or 8G, got '%s'\n", arg ? arg : "");
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--digest")) {
            o->digest = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--trace")) {
            o->trace = 1;
        } else if (!strcmp(a, "--stats")) {
            o->stats = 1;
        } else if (!strcmp(a, "--profile")) {
            o->profile = 1;
        } else if (!strcmp(a, "--trace-json")) {
            if (!arg) {
                fprintf(stderr, "adead-vm: --trace-json takes a file name\n");
                return -1;
            }
            o->trace_json = arg;
            i++;
        } else if (!strcmp(a, "--executor")) {
            if (!arg) {
                fprintf(stderr, "adead-vm: --executor takes a name (auto, cpu, cuda, ...)\n");
                return -1;
            }
            o->executor = arg;
            i++;
        } else if (!strcmp(a, "--simd")) {
            if (!arg) {
                fprintf(stderr, "adead-vm: --simd takes a level (scalar, sse2, avx2, avx512, neon, auto)\n");
                return -1;
            }
            o->simd = arg;
            i++;
        } else if (!strcmp(a, "--threads")) {
            uint64_t n;
            if (parse_u64(arg, &n, 0) || n > 256) {
                fprintf(stderr, "adead-vm: --threads takes a count 0..256 (0 = all cores), got '%s'\n", arg ? arg : "");
                return -1;
            }
            o->threads = (long)n;
            i++;
        } else if (!strcmp(a, "--info")) {
            char *info = adead_system_info();
            fputs(info ? info : "adead-vm: out of memory\n", stdout);
            free(info);
            exit(stdstreams_finish("adead-vm", info ? 0 : ADEAD_E_NOMEM));
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "adead-vm: unknown option '%s' (try --help)\n", a);
            return -1;
        } else if (o->program) {
            fprintf(stderr, "adead-vm: one program at a time ('%s' and '%s')\n", o->program, a);
            return -1;
        } else {
            o->program = a;
        }
    }
    if (!o->program) {
        usage(stderr);
        return -1;
    }
    return check_std_streams(o);
}

static int bind_inputs(adead_vm *vm, const options *o)
{
    for (int i = 0; i < o->n_in; i++) {
        adead_tensor_view t;
        void *data;
        char err[700];
        int rc = adead_npy_read(o->ins[i].path, &t, &data, err, sizeof err);
        if (rc) { /* unreadable or malformed: either way the file is the problem */
            fprintf(stderr, "adead-vm: --in %s: %s\n", o->ins[i].name, err);
            return rc == ADEAD_E_NOMEM ? rc : ADEAD_E_IO;
        }
        rc = adead_vm_bind(vm, o->ins[i].name, t.dtype, t.rank, t.dims, t.data);
        free(data);
        if (rc) {
            fprintf(stderr, "adead-vm: --in %s=%s: %s\n", o->ins[i].name, o->ins[i].path, adead_vm_error(vm));
            return rc;
        }
    }
    return 0;
}

static int bound_to_file(const options *o, const char *name)
{
    for (int i = 0; i < o->n_out; i++)
        if (!strcmp(o->outs[i].name, name)) return 1;
    return 0;
}

static int find_output(const adead_program *prog, const char *name)
{
    for (int i = 0; i < adead_program_output_count(prog); i++)
        if (!strcmp(adead_program_output_name(prog, i), name)) return i;
    return -1;
}

/* Everything about the --out bindings that can be checked before the run is: names, clashes,
 * and that each file can be written (its temporary file is created now). */
static int open_outputs(const adead_program *prog, options *o)
{
    for (int i = 0; i < o->n_out; i++) {
        binding *b = &o->outs[i];
        if (find_output(prog, b->name) < 0) {
            fprintf(stderr, "adead-vm: --out %s: there is no output named \"%s\" (outputs:", b->name, b->name);
            for (int k = 0; k < adead_program_output_count(prog); k++)
                fprintf(stderr, " %s", adead_program_output_name(prog, k));
            fprintf(stderr, "%s)\n", adead_program_output_count(prog) ? "" : " none");
            return ADEAD_E_ARG;
        }
        for (int k = 0; k < i; k++) {
            if (!strcmp(o->outs[k].name, b->name)) {
                fprintf(stderr, "adead-vm: --out %s is given twice\n", b->name);
                return ADEAD_E_ARG;
            }
            if (strcmp(b->path, "-") && (!strcmp(o->outs[k].path, b->path) || fileio_same_file(o->outs[k].path, b->path))) {
                fprintf(stderr, "adead-vm: --out %s and --out %s both write %s\n", o->outs[k].name, b->name, b->path);
                return ADEAD_E_ARG;
            }
        }
        int clobbers_input = fileio_same_file(o->program, b->path);
        for (int k = 0; k < o->n_in; k++) clobbers_input |= fileio_same_file(o->ins[k].path, b->path);
        if (clobbers_input) {
            fprintf(stderr, "adead-vm: --out %s=%s would replace one of the run's own input files\n", b->name, b->path);
            return ADEAD_E_ARG;
        }
        char err[700];
        int rc = fileio_out_open(b->path, &b->file, err, sizeof err);
        if (rc) {
            fprintf(stderr, "adead-vm: --out %s: %s\n", b->name, err);
            return rc;
        }
    }
    return 0;
}

static void abort_outputs(options *o)
{
    for (int i = 0; i < o->n_out; i++) {
        fileio_out_abort(o->outs[i].file);
        o->outs[i].file = NULL;
    }
}

/* Every file's bytes first, then the renames: a failed write replaces none of them. */
static int write_files(adead_vm *vm, options *o)
{
    for (int i = 0; i < o->n_out; i++) {
        adead_tensor_view t;
        char err[700];
        unsigned char *bytes = NULL;
        size_t size = 0;
        int rc = adead_vm_output(vm, o->outs[i].name, &t);
        if (rc) {
            snprintf(err, sizeof err, "%s", adead_vm_error(vm));
        } else if (npy_encode(&t, &bytes, &size)) {
            rc = ADEAD_E_NOMEM;
            snprintf(err, sizeof err, "out of memory encoding it");
        } else {
            rc = fileio_out_write(o->outs[i].file, bytes, size, err, sizeof err);
        }
        free(bytes);
        if (rc) {
            fprintf(stderr, "adead-vm: --out %s: %s\n", o->outs[i].name, err);
            return rc;
        }
    }
    for (int i = 0; i < o->n_out; i++) {
        char err[700];
        int rc = fileio_out_commit(o->outs[i].file, err, sizeof err);
        o->outs[i].file = NULL;
        if (rc) {
            fprintf(stderr, "adead-vm: --out %s: %s\n", o->outs[i].name, err);
            return rc;
        }
    }
    return 0;
}

static int write_outputs(const adead_program *prog, adead_vm *vm, options *o)
{
    int rc = write_files(vm, o);
    if (rc) return rc;
    FILE *text = o->stdout_taken ? stderr : stdout;
    for (int i = 0; !o->quiet && !o->stdout_taken && i < adead_program_output_count(prog); i++) {
        const char *name = adead_program_output_name(prog, i);
        adead_tensor_view t;
        if (bound_to_file(o, name)) continue;
        if (adead_vm_output(vm, name, &t)) {
            fprintf(stderr, "adead-vm: %s\n", adead_vm_error(vm));
            return ADEAD_E_ARG;
        }
        char *s = adead_tensor_text(&t);
        fprintf(text, "%s = %s\n", name, s ? s : "(out of memory)");
        free(s);
    }
    if (o->digest) {
        char hex[65];
        if (adead_vm_digest(vm, hex)) {
            fprintf(stderr, "adead-vm: --digest: %s\n", adead_vm_error(vm));
            return ADEAD_E_ARG;
        }
        fprintf(text, "sha256:%s\n", hex);
    }
    return 0;
}

/* --profile to stderr, --trace-json to its file; 0 or ADEAD_E_IO / ADEAD_E_NOMEM. */
static int write_profile(adead_vm *vm, options *o)
{
    int rc = 0;
    if (o->profile) {
        char *text = adead_vm_profile_text(vm);
        fputs(text ? text : "adead-vm: --profile: out of memory\n", stderr);
        if (!text) rc = ADEAD_E_NOMEM;
        free(text);
    }
    if (o->trace_file) {
        char *json = adead_vm_trace_json(vm), err[700];
        int wrc = json ? fileio_out_write(o->trace_file, json, strlen(json), err, sizeof err) : ADEAD_E_NOMEM;
        if (!json) snprintf(err, sizeof err, "out of memory");
        if (!wrc) wrc = fileio_out_commit(o->trace_file, err, sizeof err);
        else fileio_out_abort(o->trace_file);
        o->trace_file = NULL;
        free(json);
        if (wrc) {
            fprintf(stderr, "adead-vm: --trace-json: %s\n", err);
            if (!rc) rc = wrc;
        }
    }
    return rc;
}

/* Tells a .bib from assembly text by its first bytes (stdin has no file name to go by). */
static int bib_or_text_head(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why, size_t len)
{
    if (n >= 8 && !memcmp(head, BIB_MAGIC, 8)) return 0;
    return fileio_text_head(head, n, at_end, max_total, why, len);
}

static int load_program(const char *path, adead_program **prog, char *err, size_t errlen)
{
    if (strcmp(path, "-")) return adead_program_load_file(path, prog, err, errlen);
    unsigned char *bytes;
    size_t size;
    int rc = fileio_read(path, BIB_MAX_FILE, bib_or_text_head, &bytes, &size, err, errlen);
    if (rc) return rc;
    if (size >= 8 && !memcmp(bytes, BIB_MAGIC, 8))
        rc = adead_program_load_memory(bytes, size, "<stdin>", prog, err, errlen);
    else
        rc = adead_program_assemble((const char *)bytes, size, "<stdin>", prog, err, errlen);
    free(bytes);
    return rc;
}

static int run(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    o.threads = -1;
    o.ins = calloc((size_t)argc, sizeof *o.ins);
    o.outs = calloc((size_t)argc, sizeof *o.outs);
    if (!o.ins || !o.outs) return ADEAD_E_NOMEM;
    int rc = parse_args(argc, argv, &o);
    if (rc) return ADEAD_E_ARG;

    adead_program *prog = NULL;
    adead_vm *vm = NULL;
    char err[8192];
    rc = load_program(o.program, &prog, err, sizeof err);
    if (rc) {
        fprintf(stderr, rc == ADEAD_E_LOAD && strstr(err, ": error: ") ? "%s" : "adead-vm: %s\n", err);
        goto done;
    }
    if ((rc = open_outputs(prog, &o))) goto done;
    if (o.trace_json) {
        char why[700];
        if ((rc = fileio_out_open(o.trace_json, &o.trace_file, why, sizeof why))) {
            fprintf(stderr, "adead-vm: --trace-json: %s\n", why);
            goto done;
        }
    }
    vm = adead_vm_new(prog);
    if (!vm) {
        rc = ADEAD_E_NOMEM;
        fprintf(stderr, "adead-vm: out of memory\n");
        goto done;
    }
    /* The option's name in the message, not the API function's ("adead_vm_set_simd: ..."). */
    const char *flag = NULL, *value = NULL;
    if (o.simd && (rc = adead_vm_set_simd(vm, o.simd))) flag = "--simd", value = o.simd;
    else if (o.threads >= 0 && (rc = adead_vm_set_threads(vm, (int)o.threads))) flag = "--threads", value = "";
    else if (o.executor && (rc = adead_vm_set_executor(vm, o.executor))) flag = "--executor", value = o.executor;
    if (flag) {
        const char *why = adead_vm_error(vm), *colon = strstr(why, ": ");
        if (!strncmp(why, "adead_vm_set_", 13) && colon) why = colon + 2;
        fprintf(stderr, "adead-vm: %s%s%s: %s\n", flag, *value ? " " : "", value, why);
        goto done;
    }
    if (o.fuel) adead_vm_set_fuel(vm, o.fuel);
    if (o.mem) adead_vm_set_memory_limit(vm, o.mem);
    if (o.gpu_mem) adead_vm_set_gpu_memory_limit(vm, o.gpu_mem);
    if (o.trace) adead_vm_set_trace(vm, to_stderr, NULL);
    if (o.stdout_taken) adead_vm_set_print(vm, to_stderr, NULL); /* stdout carries the .npy */
    if ((o.profile || o.trace_json) && adead_vm_set_profile(vm, 1)) {
        rc = ADEAD_E_NOMEM;
        fprintf(stderr, "adead-vm: out of memory\n");
        goto done;
    }
    if ((rc = bind_inputs(vm, &o))) goto done;
    double t0 = now();
    rc = adead_vm_run(vm);
    double t1 = now();
    fflush(stdout);
    if (o.stats) {
        uint64_t n = adead_vm_instructions(vm);
        fprintf(stderr, "adead-vm: %llu instructions in %.6f s (%.3f ns each)\n", (unsigned long long)n, t1 - t0,
                n ? 1e9 * (t1 - t0) / (double)n : 0.0);
    }
    int profiled = write_profile(vm, &o); /* also after a trap: where the time went up to it */
    if (rc) {
        fprintf(stderr, "adead-vm: %s\n", adead_vm_error(vm));
        goto done;
    }
    rc = write_outputs(prog, vm, &o);
    if (!rc) rc = profiled;
done:
    abort_outputs(&o);
    fileio_out_abort(o.trace_file); /* what was not committed: only temporary files go */
    adead_vm_free(vm);
    adead_program_free(prog);
    for (int i = 0; i < o.n_in; i++) free((void *)o.ins[i].name);
    for (int i = 0; i < o.n_out; i++) free((void *)o.outs[i].name);
    free(o.ins);
    free(o.outs);
    return rc;
}

int main(int argc, char **argv)
{
    stdstreams_ignore_file_size_signal();
    return stdstreams_finish("adead-vm", run(argc, argv));
}
