/* libFuzzer target: bytes as a .bib image through the loader and verifier, and, when they
 * load, a run under small limits (fuel, memory, one thread) with outputs and digest read. */
#include "../vm/vm.h" /* the program's tensor table, to bind inputs that need it */

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Enough for every path (1024 live tasks, a full table, take a few thousand); 100000 ran at a
 * third of the speed, nearly all of it in loops repeating what their first iterations covered. */
#define FUEL 20000
/* Fuel counts instructions, not work (docs/machine.md): the memory limit bounds what one tensor
 * op touches. 4 MiB keeps a run fast (the largest MATMUL ~30 ms under the sanitizers); with
 * 16 MiB, zeroing and hashing big tensors took most of the time, at a third of the speed. */
#define MEMORY_LIMIT ((uint64_t)4 << 20)
#define BIND_MAX_BYTES 65536
/* The digest of larger outputs is only more hashing, and hashing 4 MiB was a fifth of the time. */
#define DIGEST_MAX_BYTES 65536

static unsigned char zeros[BIND_MAX_BYTES];

static void discard(void *user, const char *text, size_t n)
{
    (void)user;
    (void)text;
    (void)n;
}

/* Inputs without an initial value get zeros of their declared shape (or 4 elements when they
 * have none), so that programs with inputs get past the first run's check and actually run. */
static void bind_inputs(adead_vm *vm, const adead_program *p)
{
    for (int i = 0; i < p->n_inputs; i++) {
        const bib_tensor *t = &p->mod.tensors[p->inputs[i]];
        if (t->init != BIB_NONE) continue;
        int64_t dims[ADEAD_MAX_RANK] = {4, 0, 0, 0};
        int rank = 1;
        if (t->flags & BIB_T_SHAPED) {
            rank = (int)t->rank;
            for (int d = 0; d < rank; d++) dims[d] = t->dims[d];
        }
        int64_t count = tensor_shape_count(rank, dims);
        if (count < 0 || (uint64_t)count * bib_dtype_size(t->dtype) > BIND_MAX_BYTES) continue;
        adead_vm_bind(vm, adead_program_input_name(p, i), (adead_dtype)t->dtype, rank, dims, zeros);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    adead_program *prog;
    char err[1024];
    if (adead_program_load_memory(data, size, "fuzz.bib", &prog, err, sizeof err)) return 0;
    adead_vm *vm = adead_vm_new(prog);
    if (!vm) __builtin_trap(); /* not out of memory at these sizes */
    adead_vm_set_fuel(vm, FUEL);
    adead_vm_set_memory_limit(vm, MEMORY_LIMIT);
    adead_vm_set_threads(vm, 1);
    adead_vm_set_print(vm, discard, NULL);
    bind_inputs(vm, prog);

    int rc = adead_vm_run(vm);
    if (rc == ADEAD_E_FUEL) { /* resuming after the budget ran out is part of the API */
        adead_vm_add_fuel(vm, FUEL / 10);
        rc = adead_vm_run(vm);
    }
    if (rc == ADEAD_OK) {
        size_t bytes = 0;
        for (int i = 0; i < adead_program_output_count(prog); i++) {
            adead_tensor_view t;
            if (adead_vm_output(vm, adead_program_output_name(prog, i), &t)) continue;
            free(adead_tensor_text(&t));
            bytes += t.nbytes;
        }
        char hex[65];
        if (bytes <= DIGEST_MAX_BYTES) adead_vm_digest(vm, hex);
    }
    adead_vm_free(vm);
    adead_program_free(prog);
    return 0;
}
