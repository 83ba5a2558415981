/* Deterministic cooperative tasks: a task runs until it yields, joins an unfinished task or
 * ends; the next one is always the next runnable task by id, wrapping around (round robin).
 * Register and frame stacks count against the VM's memory limit. */
#include "vm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_REGS (2 * ISA_NREGS)
#define INITIAL_FRAMES 64

static int grow_regs(adead_vm *vm, vm_task *t, uint32_t pc, uint64_t want)
{
    if (want > VM_MAX_REGS)
        return vm_trap(vm, ADEAD_E_TRAP, pc, "call stack overflow: register stack over %u registers", VM_MAX_REGS);
    uint64_t n = t->n_regs ? t->n_regs : INITIAL_REGS;
    while (n < want) n *= 2;
    if (n > VM_MAX_REGS) n = VM_MAX_REGS;
    if (heap_reserve(&vm->heap, (n - t->n_regs) * sizeof *t->regs))
        return vm_trap(vm, ADEAD_E_MEMORY, pc, "register stack of %" PRIu64 " registers is over the memory limit", n);
    uint64_t *r = realloc(t->regs, n * sizeof *r);
    if (!r) {
        heap_unreserve(&vm->heap, (n - t->n_regs) * sizeof *t->regs);
        return vm_trap(vm, ADEAD_E_NOMEM, pc, "the host is out of memory for the register stack");
    }
    memset(r + t->n_regs, 0, (n - t->n_regs) * sizeof *r);
    t->regs = r;
    t->n_regs = (uint32_t)n;
    return ADEAD_OK;
}

int task_reserve_window(adead_vm *vm, vm_task *t, uint32_t pc, uint64_t base)
{
    uint64_t want = base + ISA_NREGS;
    return want <= t->n_regs ? ADEAD_OK : grow_regs(vm, t, pc, want);
}

int task_push_frame(adead_vm *vm, vm_task *t, uint32_t pc, const dinstr *ret)
{
    if (t->n_frames == t->cap_frames) {
        if (t->cap_frames >= VM_MAX_FRAMES)
            return vm_trap(vm, ADEAD_E_TRAP, pc, "call stack overflow: more than %u nested calls", VM_MAX_FRAMES);
        uint32_t cap = t->cap_frames ? 2 * t->cap_frames : INITIAL_FRAMES;
        if (heap_reserve(&vm->heap, (uint64_t)(cap - t->cap_frames) * sizeof *t->frames))
            return vm_trap(vm, ADEAD_E_MEMORY, pc, "call stack of %u frames is over the memory limit", cap);
        vm_frame *f = realloc(t->frames, cap * sizeof *f);
        if (!f) {
            heap_unreserve(&vm->heap, (uint64_t)(cap - t->cap_frames) * sizeof *t->frames);
            return vm_trap(vm, ADEAD_E_NOMEM, pc, "the host is out of memory for the call stack");
        }
        t->frames = f;
        t->cap_frames = cap;
    }
    t->frames[t->n_frames].ret = ret;
    t->frames[t->n_frames].base = 0;
    t->n_frames++;
    return ADEAD_OK;
}

int task_spawn(adead_vm *vm, uint32_t pc, uint32_t start_pc, uint64_t arg, uint64_t *id)
{
    if (vm->n_tasks >= VM_MAX_TASKS) return vm_trap(vm, ADEAD_E_TRAP, pc, "more than %d tasks", VM_MAX_TASKS);
    /* The task table is allocated at its full size when the VM starts, so it never moves. */
    vm_task *t = &vm->tasks[vm->n_tasks];
    memset(t, 0, sizeof *t);
    int rc = grow_regs(vm, t, pc, INITIAL_REGS);
    if (!rc) rc = task_push_frame(vm, t, pc, NULL);
    if (rc) {
        free(t->regs);
        free(t->frames);
        memset(t, 0, sizeof *t);
        return rc;
    }
    t->n_frames = 0; /* the frame array exists; the task starts in its first frame */
    t->regs[0] = arg;
    t->pc = start_pc;
    t->state = TASK_RUNNABLE;
    *id = vm->n_tasks++;
    return ADEAD_OK;
}

int task_next_runnable(const adead_vm *vm, uint32_t from)
{
    for (uint32_t k = 1; k <= vm->n_tasks; k++) {
        uint32_t i = (from + k) % vm->n_tasks;
        if (vm->tasks[i].state == TASK_RUNNABLE) return (int)i;
    }
    return -1;
}

void task_finish(adead_vm *vm, uint32_t id, uint64_t result)
{
    vm_task *done = &vm->tasks[id];
    done->state = TASK_DONE;
    done->result = result;
    for (uint32_t i = 0; i < vm->n_tasks; i++) {
        vm_task *t = &vm->tasks[i];
        if (t->state == TASK_JOINING && t->join_task == id) {
            t->regs[t->join_reg] = result;
            t->state = TASK_RUNNABLE;
        }
    }
}
