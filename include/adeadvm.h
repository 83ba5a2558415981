/* libadeadvm: the ADead-BIB VM and assembler, embeddable from C.
 *
 * A program (.bib bytecode, or .adasm text assembled in memory) is loaded and verified once;
 * any number of VMs can then run it. A VM binds named input tensors, runs with an instruction
 * budget (fuel) and a memory limit, and hands back named output tensors. Same program + same
 * inputs = same bits out, on every executor and thread count.
 *
 * Every function that can fail returns an adead_status; the message is in the errbuf the caller
 * passed, or from adead_vm_error(). No function prints or exits. Thread safety: a program may be
 * shared by VMs on several threads; one VM is used by one thread at a time.
 */
#ifndef ADEADVM_H
#define ADEADVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ADEAD_API __attribute__((visibility("default")))
#else
#define ADEAD_API
#endif

#define ADEAD_VERSION_MAJOR 0
#define ADEAD_VERSION_MINOR 1
#define ADEAD_VERSION_PATCH 0
#define ADEAD_VERSION_STRING "0.1.0"

/* Library version ("0.1.0"); compare with ADEAD_VERSION_STRING to catch a header/library skew. */
ADEAD_API const char *adead_version(void);

typedef enum {
    ADEAD_OK = 0,
    ADEAD_E_ARG = 1,     /* a bad argument to an API function */
    ADEAD_E_LOAD = 2,    /* the file or program is malformed, or assembly failed */
    ADEAD_E_TRAP = 3,    /* the program trapped: bad operation, bounds, shapes, user TRAP */
    ADEAD_E_FUEL = 4,    /* the instruction budget ran out; adead_vm_run() may be called again */
    ADEAD_E_MEMORY = 5,  /* the program hit the VM's memory limit */
    ADEAD_E_IO = 6,      /* a file could not be read or written */
    ADEAD_E_NOMEM = 7    /* the host is out of memory */
} adead_status;

/* Short name of a status: "ok", "trap", ... */
ADEAD_API const char *adead_status_name(int status);

typedef enum { ADEAD_F32 = 1, ADEAD_I32 = 2, ADEAD_I64 = 3 } adead_dtype;
#define ADEAD_MAX_RANK 4

/* ---- programs ---- */
typedef struct adead_program adead_program;

/* Load a .bib file (or, when the name ends in .adasm, assemble it) and verify it. */
ADEAD_API int adead_program_load_file(const char *path, adead_program **out, char *errbuf, size_t errlen);
/* Load and verify a .bib image; name is used in messages (may be NULL). The bytes are copied. */
ADEAD_API int adead_program_load_memory(const void *bib, size_t size, const char *name, adead_program **out,
                              char *errbuf, size_t errlen);
/* Assemble .adasm text and verify the result. filename names the source in diagnostics and
 * the line table, and is the base for relative .npy paths (may be NULL: "<memory>", cwd).
 * On failure errbuf holds every diagnostic, GCC-style, one after another. */
ADEAD_API int adead_program_assemble(const char *source, size_t len, const char *filename, adead_program **out,
                           char *errbuf, size_t errlen);
ADEAD_API void adead_program_free(adead_program *prog);

/* Assemble text to a .bib image (malloc'd, free() it). Diagnostics as above. */
ADEAD_API int adead_assemble(const char *source, size_t len, const char *filename, void **bib, size_t *bib_size,
                   char *errbuf, size_t errlen);
/* Disassemble a .bib image to text that assembles back to the same bytes (malloc'd). */
ADEAD_API int adead_disassemble(const void *bib, size_t size, char **text, char *errbuf, size_t errlen);

/* Named inputs and outputs, in declaration order. */
ADEAD_API int adead_program_input_count(const adead_program *prog);
ADEAD_API int adead_program_output_count(const adead_program *prog);
ADEAD_API const char *adead_program_input_name(const adead_program *prog, int i);
ADEAD_API const char *adead_program_output_name(const adead_program *prog, int i);

/* ---- running ---- */
typedef struct adead_vm adead_vm;

/* A text sink for debug prints and traces: called with n bytes (not NUL-terminated). */
typedef void (*adead_write_fn)(void *user, const char *text, size_t n);

#define ADEAD_DEFAULT_FUEL 0        /* unlimited (2^63 - 1 instructions) */
#define ADEAD_DEFAULT_MEMORY (1ull << 30)

/* A new VM for a program (the program must outlive it). NULL when the host is out of memory. */
ADEAD_API adead_vm *adead_vm_new(const adead_program *prog);
ADEAD_API void adead_vm_free(adead_vm *vm);

/* Limits, set before the first run (afterwards, adead_vm_add_fuel). fuel 0 = unlimited. */
ADEAD_API int adead_vm_set_fuel(adead_vm *vm, uint64_t fuel);
ADEAD_API int adead_vm_set_memory_limit(adead_vm *vm, uint64_t bytes);
/* Bytes of tensor copies each device executor (GPU) may hold for this VM (0 = no limit but the
 * device's own). Past it, copies are evicted in tensor-slot order (the only current copy goes
 * back to VM memory first); an op that cannot fit runs on the CPU, with the same bits. */
ADEAD_API int adead_vm_set_gpu_memory_limit(adead_vm *vm, uint64_t bytes);
/* Which executors run the tensor ops, before the first run: "auto" (NULL; the default: the CPU,
 * and a GPU executor for ops of 1M elements and more or already on it), "cpu" (the CPU alone), or
 * a plugin's name ("cuda", "vulkan": every op it supports goes to it, the rest to the CPU).
 * Default from $ADEAD_EXECUTOR. The bits are the same whichever runs; ADEAD_E_ARG (and auto
 * kept) when the named executor is not here or has no device the program may use. */
ADEAD_API int adead_vm_set_executor(adead_vm *vm, const char *name);
/* The CPU executor: SIMD level ("scalar", "sse2", "avx2", "avx512", "neon"; NULL or "auto" for
 * the best this CPU has) and thread count (0 = all cores). Defaults come from ADEAD_SIMD and
 * ADEAD_THREADS. Results are the same bits at every level and thread count; a level the CPU
 * lacks is ADEAD_E_ARG. */
ADEAD_API int adead_vm_set_simd(adead_vm *vm, const char *level);
ADEAD_API int adead_vm_set_threads(adead_vm *vm, int threads);
ADEAD_API const char *adead_vm_simd(const adead_vm *vm);
ADEAD_API int adead_vm_threads(const adead_vm *vm);
/* What this host offers (CPU, caches, SIMD levels, threads, executors, the dispatch rule and
 * its cost per decision, measured when called: ~0.1 s). Text to free(), or NULL. */
ADEAD_API char *adead_system_info(void);
/* Where PRINT* output goes (default: stdout). */
ADEAD_API void adead_vm_set_print(adead_vm *vm, adead_write_fn fn, void *user);
/* Trace every executed instruction to fn (NULL turns tracing off). */
ADEAD_API void adead_vm_set_trace(adead_vm *vm, adead_write_fn fn, void *user);

/* Bind an input by name before the first run; the data (C order, rank <= 4) is copied, and moves
 * into VM memory when the run lays out all tensors in declaration order (so the order of binds
 * never changes what the program sees). An input without an initial value must be bound. */
ADEAD_API int adead_vm_bind(adead_vm *vm, const char *name, adead_dtype dtype, int rank, const int64_t *dims,
                  const void *data);

/* Run until HALT, a trap, or fuel runs out. After ADEAD_E_FUEL, adead_vm_add_fuel() and
 * adead_vm_run() continue exactly where it stopped. */
ADEAD_API int adead_vm_run(adead_vm *vm);
ADEAD_API int adead_vm_add_fuel(adead_vm *vm, uint64_t fuel);
/* Instructions executed so far. */
ADEAD_API uint64_t adead_vm_instructions(const adead_vm *vm);

/* Message for the last failure, naming the pc and source line when there is one ("" if none). */
ADEAD_API const char *adead_vm_error(const adead_vm *vm);

/* Profiling: one record per tensor op while on (pc, source line, kernel, shapes, executor, time,
 * GFLOP/s or GB/s). Off by default, and free when off. The reports are malloc'd text (NULL when
 * profiling is off or memory runs out): a table with a summary per kernel, and Chrome/Perfetto
 * trace events (JSON, one track per executor queue, times in microseconds from the start). */
ADEAD_API int adead_vm_set_profile(adead_vm *vm, int on);
ADEAD_API char *adead_vm_profile_text(const adead_vm *vm);
ADEAD_API char *adead_vm_trace_json(const adead_vm *vm);

/* An output after a run that ended with HALT. The data stays valid until the VM is freed. */
typedef struct {
    adead_dtype dtype;
    int rank;
    int64_t dims[ADEAD_MAX_RANK];
    const void *data;
    size_t nbytes;
} adead_tensor_view;

ADEAD_API int adead_vm_output(const adead_vm *vm, const char *name, adead_tensor_view *out);

/* A tensor as text, numpy-like: "f32[2,2] [[1, 2], [3, 4]]" (at most 1000 elements shown).
 * malloc'd; NULL when out of memory. */
ADEAD_API char *adead_tensor_text(const adead_tensor_view *t);

/* SHA-256 over every output in declaration order (name, dtype, shape, bytes; docs/cli.md),
 * as 64 hex digits and a NUL. */
ADEAD_API int adead_vm_digest(const adead_vm *vm, char hex[65]);

/* ---- .npy files (format 1.0 / 2.0, little-endian f32, i32, i64, C order) ---- */
/* Read a .npy file ("-": stdin) into a malloc'd buffer; *data must be free()d. A pipe or device
 * that does not start as a .npy is refused at once, and is read no further than its header says. */
ADEAD_API int adead_npy_read(const char *path, adead_tensor_view *out, void **data, char *errbuf, size_t errlen);
/* Write a .npy file ("-": stdout) through a temporary file beside it, renamed into place once the
 * bytes are on disk: a failure leaves the old file as it was and removes nothing but that
 * temporary file. A symbolic link is kept (its target is replaced); a device or FIFO is written in
 * place. A write past RLIMIT_FSIZE raises SIGXFSZ unless the caller ignores it. */
ADEAD_API int adead_npy_write(const char *path, const adead_tensor_view *t, char *errbuf, size_t errlen);

/* ---- The direct API (the seed's): single ops on the caller's memory, no program ----
 * Same bits as the VM's ops (docs/ops.md) on every backend. adead_init chooses the backend for
 * the process: ADEAD_BACKEND_CPU, _CUDA, _VULKAN (an exact device of that executor; ADEAD_E_ARG
 * with the reason from adead_last_error when there is none), or _AUTO (the first exact GPU, used
 * for MATMUL and ATTENTION from the VM's dispatch size, the CPU otherwise). An op called before
 * adead_init initialises AUTO. A device out of memory, or an op the device does not take, runs on
 * the CPU with the same bits. Thread-safe: every call takes one lock (calls run one at a time).
 * Ops return ADEAD_OK or an adead_status; adead_last_error() is the calling thread's reason.
 * Arrays are row-major f32; an output may be the input of SOFTMAX and RELU (in place); any other
 * overlap of an output with an input is computed into scratch first. */
enum { ADEAD_BACKEND_AUTO = -1, ADEAD_BACKEND_CPU = 0, ADEAD_BACKEND_CUDA = 1, ADEAD_BACKEND_VULKAN = 2 };
ADEAD_API int adead_init(int backend);
ADEAD_API int adead_vulkan_init(void); /* adead_init(ADEAD_BACKEND_VULKAN) */
ADEAD_API void adead_shutdown(void);   /* closes the backend's queues; adead_init may follow */
ADEAD_API int adead_backend(void);     /* the backend chosen, or -2 before adead_init */
ADEAD_API const char *adead_last_error(void);
/* Host memory aligned to 64 bytes (NULL when out of memory); adead_free(NULL) is fine. */
ADEAD_API void *adead_alloc(size_t size);
ADEAD_API void adead_free(void *ptr);
/* c[m][n] = a[m][k] b[k][n] (MATMUL). */
ADEAD_API int adead_matmul(const float *a, const float *b, float *c, int m, int n, int k);
/* out[rows][cols] = softmax of each row of in (SOFTMAX). */
ADEAD_API int adead_softmax(const float *in, float *out, int rows, int cols);
ADEAD_API int adead_relu(const float *in, float *out, int size);
/* q, k, v, out: [heads][seq_len][dim] (ATTENTION, not causal). */
ADEAD_API int adead_attention(const float *q, const float *k, const float *v, float *out, int seq_len, int dim, int heads);

#ifdef __cplusplus
}
#endif

#endif
