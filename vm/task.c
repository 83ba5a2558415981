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

/* Frees an ended task's stacks and gives their bytes back to the memory limit. */
static void free_stacks(adead_vm *vm, vm_task *t)
{
    heap_unreserve(&vm->heap, (uint64_t)t->n_regs * sizeof *t->regs + (uint64_t)t->cap_frames * sizeof *t->frames);
    free(t->regs);
    free(t->frames);
    t->regs = NULL;
    t->frames = NULL;
    t->n_regs = t->cap_frames = t->n_frames = 0;
}

/* Drops the slots of ended tasks, keeping the rest in id order; the running task's slot moves
 * with it (vm->cur follows). Only SPAWN calls this, when the table is full. */
static void sweep_ended(adead_vm *vm)
{
    uint32_t kept = 0, cur = 0;
    for (uint32_t i = 0; i < vm->n_tasks; i++) {
        if (vm->tasks[i].state == TASK_DONE) continue;
        if (i == vm->cur) cur = kept;
        if (kept != i) vm->tasks[kept] = vm->tasks[i];
        kept++;
    }
    memset(vm->tasks + kept, 0, (vm->n_tasks - kept) * sizeof *vm->tasks);
    vm->n_tasks = kept;
    vm->cur = cur;
}

/* Room for one more result, counted against the memory limit. */
static int reserve_result(adead_vm *vm, uint32_t pc)
{
    if (vm->n_spawned < vm->cap_results) return ADEAD_OK;
    if (vm->n_spawned >= UINT32_MAX) return vm_trap(vm, ADEAD_E_TRAP, pc, "more than %u tasks in one run", UINT32_MAX);
    uint64_t cap = vm->cap_results ? 2 * vm->cap_results : 64;
    uint64_t delta = (cap - vm->cap_results) * sizeof *vm->results;
    if (heap_reserve(&vm->heap, delta))
        return vm_trap(vm, ADEAD_E_MEMORY, pc, "the results of %" PRIu64 " tasks are over the memory limit", cap);
    uint64_t *r = realloc(vm->results, cap * sizeof *r);
    if (!r) {
        heap_unreserve(&vm->heap, delta);
        return vm_trap(vm, ADEAD_E_NOMEM, pc, "the host is out of memory for task results");
    }
    vm->results = r;
    vm->cap_results = cap;
    return ADEAD_OK;
}

int task_spawn(adead_vm *vm, uint32_t pc, uint32_t start_pc, uint64_t arg, uint64_t *id)
{
    if (vm->n_tasks >= VM_MAX_TASKS) sweep_ended(vm);
    if (vm->n_tasks >= VM_MAX_TASKS)
        return vm_trap(vm, ADEAD_E_TRAP, pc, "more than %d tasks alive at once", VM_MAX_TASKS);
    int rc = reserve_result(vm, pc);
    if (rc) return rc;
    /* The task table is allocated at its full size when the VM starts, so it never moves. */
    vm_task *t = &vm->tasks[vm->n_tasks];
    memset(t, 0, sizeof *t);
    rc = grow_regs(vm, t, pc, INITIAL_REGS);
    if (!rc) rc = task_push_frame(vm, t, pc, NULL);
    if (rc) {
        free_stacks(vm, t);
        memset(t, 0, sizeof *t);
        return rc;
    }
    t->n_frames = 0; /* the frame array exists; the task starts in its first frame */
    t->regs[0] = arg;
    t->pc = start_pc;
    t->state = TASK_RUNNABLE;
    t->id = vm->n_spawned;
    vm->results[vm->n_spawned] = 0;
    *id = vm->n_spawned++;
    vm->n_tasks++;
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

int task_live_slot(const adead_vm *vm, uint64_t id)
{
    uint32_t lo = 0, hi = vm->n_tasks; /* slots are in id order */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (vm->tasks[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < vm->n_tasks && vm->tasks[lo].id == id && vm->tasks[lo].state != TASK_DONE) return (int)lo;
    return -1;
}

void task_finish(adead_vm *vm, uint32_t slot, uint64_t result)
{
    vm_task *done = &vm->tasks[slot];
    done->state = TASK_DONE;
    vm->results[done->id] = result;
    for (uint32_t i = 0; i < vm->n_tasks; i++) {
        vm_task *t = &vm->tasks[i];
        if (t->state == TASK_JOINING && t->join_task == done->id) {
            t->regs[t->join_reg] = result;
            t->state = TASK_RUNNABLE;
        }
    }
    free_stacks(vm, done);
}

void task_free_all(adead_vm *vm)
{
    for (uint32_t i = 0; i < vm->n_tasks; i++) {
        free(vm->tasks[i].regs);
        free(vm->tasks[i].frames);
    }
    memset(vm->tasks, 0, sizeof *vm->tasks * vm->n_tasks);
    vm->n_tasks = 0;
    vm->cur = 0;
    free(vm->results);
    vm->results = NULL;
    vm->n_spawned = vm->cap_results = 0;
}
