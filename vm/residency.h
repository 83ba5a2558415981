/* Residency: where each tensor's current bytes are. The host copy lives in VM memory (the
 * tensor's heap offset); each device executor may hold one copy more. Exactly one module
 * (vm/residency.c) moves bytes between them, so a result computed on a device is copied back
 * only when the host needs it, and every host reader asks here first.
 *
 * Device memory has its own limit (adead_vm_set_gpu_memory_limit); when a copy does not fit,
 * copies are evicted in slot order (lowest first), skipping the op's own operands, so what
 * stays resident never depends on timing. */
#ifndef ADEAD_RESIDENCY_H
#define ADEAD_RESIDENCY_H

#include "../include/adeadvm_exec.h"

#include <stdint.h>

#include "../util/config.h" /* VM_MAX_DEVICES */

/* Where one tensor is. Device copies are whole-tensor buffers of its current size. */
typedef struct {
    uint8_t host_valid; /* the heap bytes are current */
    uint8_t dev_valid;  /* bit d: the copy on device d is current */
    adead_exec_buffer *buf[VM_MAX_DEVICES];
} vm_place;

/* A device executor as the VM uses it. */
typedef struct {
    adead_exec_device *dev;
    adead_exec_queue *queue;
    int vulkan;                  /* from the "vulkan" executor: where VK_COMPUTE goes first */
    uint64_t mem_used;           /* bytes of tensor copies held there */
    adead_exec_ticket last;      /* the newest ticket taken */
    adead_exec_ticket done;      /* every ticket up to this one has completed */
    /* Submitted work not yet known complete: its tickets and pcs, oldest first, so that a
     * failure reported later names the instruction that caused it. */
    adead_exec_ticket *pend_ticket;
    uint32_t *pend_pc;
    uint32_t n_pend, cap_pend;
} vm_device;

struct adead_vm;

/* The host bytes of slot are current once this returns (waits for a device copy, copies it
 * back); 0 or a trap at pc. For every host reader: TLD, TST, PRINTT, TCOPY, outputs. */
int residency_to_host(struct adead_vm *vm, uint32_t pc, uint32_t slot);
/* The host bytes of slot were just written whole (or are about to be, after residency_to_host
 * for a partial write): device copies are stale. */
void residency_host_wrote(struct adead_vm *vm, uint32_t slot);
/* What residency_to_device and residency_output_buffer return when device memory cannot take
 * the copy even after eviction: no trap is set, and the caller runs the op on the CPU. */
#define RESIDENCY_NO_ROOM (-1)

/* A current copy of slot on device d (allocating, evicting, copying in); 0, RESIDENCY_NO_ROOM
 * or a trap. keep[] lists the op's operands, which eviction leaves alone. */
int residency_to_device(struct adead_vm *vm, uint32_t pc, uint32_t slot, int d, const uint32_t *keep, int n_keep);
/* A buffer of slot's size on device d for an op to write (no copy in); 0, RESIDENCY_NO_ROOM or
 * a trap. */
int residency_output_buffer(struct adead_vm *vm, uint32_t pc, uint32_t slot, int d, const uint32_t *keep, int n_keep);
/* The op on device d wrote slot: only that copy is current. */
void residency_device_wrote(struct adead_vm *vm, uint32_t slot, int d);
/* The slot's storage is going (freed, or replaced by new storage of another size): drop its
 * device copies (after their work is done). */
int residency_drop(struct adead_vm *vm, uint32_t pc, uint32_t slot);
/* The device holding a current copy of slot, or -1 for the host alone. */
int residency_device_of(const struct adead_vm *vm, uint32_t slot);
/* Every output's bytes on the host (HALT); 0 or a trap. */
int residency_outputs_to_host(struct adead_vm *vm, uint32_t pc);
/* Frees every device copy (the VM is going back to no memory). */
void residency_free_all(struct adead_vm *vm);

#endif
