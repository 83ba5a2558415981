/* Internal state of programs and VMs (the public API in include/adeadvm.h wraps these). */
#ifndef ADEAD_VM_H
#define ADEAD_VM_H

#include "../isa/format.h"
#include "../isa/verify.h"
#include "../include/adeadvm_exec.h"
#include "../util/config.h"
#include "profile.h"
#include "residency.h"
#include "../include/adeadvm.h"
#include "../isa/bib.h"
#include "../isa/isa.h"
#include "dispatch.h"
#include "heap.h"

#include <stdarg.h>

/* Pre-decoded instruction: what the interpreter dispatches on (32 bytes). */
typedef struct {
    const void *handler; /* threaded dispatch: address of the op's handler, bound per VM */
    uint16_t op;         /* dense opcode (OP_*), or IOP_* while patched */
    uint16_t kernel;     /* VK_COMPUTE: its kernel (dense OP_*), whose tensors are a, b, c, d as for the
                          * kernel's own instruction (d from the VK_ARG after a 4-tensor kernel) */
    uint32_t cost;       /* instructions from here to the end of the basic block (fuel) */
    uint32_t a, b, c, d; /* operands; a branch's label is a byte offset from this instruction */
} dinstr;

/* Internal opcodes, past the table's: the instruction where fuel runs out is patched to this. */
enum { IOP_FUEL = OP__COUNT, IOP__COUNT };

struct adead_program {
    bib_module mod;
    char *name;            /* for messages: the file name, or "<memory>" */
    uint32_t *inputs;      /* tensor slots, in slot order */
    uint32_t *outputs;
    int n_inputs, n_outputs;
    isa_names names;       /* tensor, constant and label names, for messages and traces */
};

/* Build the dispatch form of verified code, with the fuel cost of every block (vm/decode.c).
 * Each VM decodes its own copy: it patches the copy when fuel runs out, and binds handlers. */
dinstr *decode_module(const bib_module *m);
/* "file:line: " for a pc, or "" when there is no line table; returns buf. */
const char *source_prefix(const bib_module *m, uint32_t pc, char *buf, size_t len);

typedef struct {
    int rank; /* -1: the slot is empty */
    uint32_t dtype;
    int64_t dims[4];
    int64_t count;
    uint64_t off;   /* heap offset of the data (0 when count is 0) */
} vm_tensor;

typedef struct {
    const dinstr *ret; /* where RET continues (the VM's code array never moves) */
    uint32_t base;     /* the caller's register window */
} vm_frame;

enum { TASK_RUNNABLE, TASK_JOINING, TASK_DONE };

/* An input as the host bound it. The data is copied here and moved into VM memory when the first
 * run lays out all tensors in slot order, so ALLOC addresses never depend on the order of binds. */
typedef struct {
    int set;
    int rank;
    int64_t dims[4];
    void *data;
} vm_binding;

typedef struct {
    uint64_t *regs; /* register stack; the current window is regs + base */
    uint32_t n_regs;
    uint32_t base;
    vm_frame *frames;
    uint32_t n_frames, cap_frames;
    uint32_t pc;     /* where it resumes when not running */
    int state;
    uint64_t id;     /* ids count up from 0 (main) and are never reused */
    uint64_t join_task; /* while TASK_JOINING: whom it waits for */
    uint32_t join_reg;  /* ... and where the result goes */
} vm_task;

/* VM_MAX_TASKS (alive at once: ended tasks free their slot and stacks and keep only their result),
 * VM_MAX_FRAMES and VM_MAX_REGS are in util/config.h. */

enum { VM_FRESH, VM_READY, VM_SUSPENDED, VM_DONE, VM_FAILED };

struct adead_vm {
    const adead_program *prog;
    dinstr *code;          /* this VM's decoded copy: the fuel patch is written here */
    int state;
    int status;            /* the last adead_status */
    char err[1024];
    vm_heap heap;
    vm_arena arena;
    vm_tensor *tensors;
    vm_binding *bindings;  /* per slot: data the host bound to an input, laid out at the first run */
    vm_task *tasks;        /* live tasks (and ended ones not yet swept), in id order */
    uint32_t n_tasks, cur; /* slots in use; the running task's slot */
    uint64_t n_spawned;    /* ids handed out, main included */
    uint64_t *results;     /* [n_spawned]: each ended task's r0 */
    uint64_t cap_results;
    int64_t fuel;          /* remaining; may be negative while a patch is pending */
    uint64_t fuel_granted;
    int64_t patch_pc;      /* -1, or the pc of the IOP_FUEL patch */
    uint16_t patch_op;
    const void *patch_handler;
    int handlers_traced;   /* what vm->code's handlers are bound for: -1 none, 0 plain, 1 tracing */
    uint64_t mem_limit;
    adead_write_fn print_fn, trace_fn;
    void *print_user, *trace_user;
    adead_exec_queue *cpu_queue; /* this VM's CPU queue (its own thread pool) */
    char cpu_simd[16];           /* what the CPU queue was opened with: a level or "auto" */
    int cpu_threads;             /* ... and a thread count, 0 = all cores */
    adead_exec_buffer *heap_buf; /* VM memory as a buffer of the CPU device (re-wrapped when it moves) */
    adead_exec_buffer *scratch_buf; /* likewise the arena */
    dispatch_rules dispatch; /* which executor runs each tensor op (vm/dispatch.h) */
    vm_device devices[VM_MAX_DEVICES]; /* device executors beside the CPU (dispatch.gpu[] in order) */
    int n_devices;
    vm_place *place;       /* per slot: where its current bytes are (vm/residency.c) */
    vm_profile *prof;      /* NULL unless profiling (adead_vm_set_profile) */
    uint64_t gpu_mem_limit; /* per device, bytes of tensor copies (adead_vm_set_gpu_memory_limit) */
    char simd_env_err[200];    /* a bad ADEAD_SIMD: the first run fails with it */
    char threads_env_err[200]; /* likewise ADEAD_THREADS */
    char executor_env_err[300]; /* likewise ADEAD_EXECUTOR */
};

/* Stop with an error: formats "file:line: pc N (OP): message" into vm->err; returns status. */
int vm_trap(adead_vm *vm, int status, uint32_t pc, const char *fmt, ...);
void vm_printf(adead_write_fn fn, void *user, const char *fmt, ...);

/* Tensors (vm/tensor.c). Each returns 0 or an adead_status after vm_trap at pc. */
/* Element count of a shape: 0 when any dimension is 0; -1 when a dimension is negative or over
 * 2^40, or the count is over 2^40. */
int64_t tensor_shape_count(int rank, const int64_t *dims);
int tensor_set_shape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims);
int tensor_from_const(adead_vm *vm, uint32_t pc, uint32_t slot, uint32_t k);
int tensor_release(adead_vm *vm, uint32_t pc, uint32_t slot);
static inline void *tensor_data(adead_vm *vm, const vm_tensor *t) { return vm->heap.base + t->off; }
/* prefer_device: 1 for GPU_* (a device executor whatever the size), 2 for VK_COMPUTE (the same, a
 * Vulkan one first). */
int tensor_op(adead_vm *vm, uint32_t pc, int kernel, int prefer_device, uint32_t d, uint32_t a, uint32_t b, uint32_t c);
int tensor_element(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t index, uint64_t *value, int store);
int tensor_copy(adead_vm *vm, uint32_t pc, uint32_t dst, uint32_t src);
int tensor_fill(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t value);
int tensor_reshape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims);
int tensor_print(adead_vm *vm, uint32_t pc, uint32_t slot, adead_write_fn fn, void *user);
/* The buffers that show VM memory to the CPU executor (dropped when the memory goes). */
void tensor_release_buffers(adead_vm *vm);

/* GPU_ALLOC: a current copy of the tensor on the first device executor (a hint: nothing without
 * one, or without room). */
int tensor_place_on_device(adead_vm *vm, uint32_t pc, uint32_t slot);
/* Device executors (vm/api.c): attach one before the first run; its queue is opened with params.
 * The CPU stays the fallback of every op. 0, or an adead_status with the reason in err. */
int vm_attach_device(adead_vm *vm, adead_exec_device *dev, const char *params, char *err, size_t errlen);

/* Tasks (vm/task.c). */
int task_spawn(adead_vm *vm, uint32_t pc, uint32_t start_pc, uint64_t arg, uint64_t *id);
/* Grow the current task's register stack so that base + 256 registers exist. */
int task_reserve_window(adead_vm *vm, vm_task *t, uint32_t pc, uint64_t base);
int task_push_frame(adead_vm *vm, vm_task *t, uint32_t pc, const dinstr *ret);
/* The next task to run after `from` in the fixed round-robin order, or -1 if none can. */
int task_next_runnable(const adead_vm *vm, uint32_t from);
/* The task in `slot` ended: keep its result, wake the tasks joining it, free its stacks. */
void task_finish(adead_vm *vm, uint32_t slot, uint64_t result);
/* The slot of a task that has not ended, or -1 (ended, or never spawned). */
int task_live_slot(const adead_vm *vm, uint64_t id);
/* Every task's slot, stacks and results freed (the VM back to no tasks). */
void task_free_all(adead_vm *vm);

/* The interpreter (vm/interp.c): runs from the current task's pc. */
int interp_run(adead_vm *vm);
/* Point every instruction of vm->code at its handler (tracing ones when the VM traces). */
void interp_bind_handlers(adead_vm *vm);

#endif
