/* The stream in front of the device executors: ops and copies are queued with the pc of their
 * instruction and complete later; the stream is flushed at every host read of a device result,
 * at HALT, when fuel runs out, at every task switch and at GPU_SYNC, VK_SUBMIT and VK_SYNC.
 * A failure reported by a later wait still names the instruction that caused it. The CPU runs
 * every op before its submit returns, so with no device the stream costs one branch. */
#ifndef ADEAD_STREAM_H
#define ADEAD_STREAM_H

#include "residency.h"

struct adead_vm;

/* Records that ticket t on device d came from the instruction at pc; 0 or a trap (host memory). */
int stream_note(struct adead_vm *vm, int d, adead_exec_ticket t, uint32_t pc);
/* Waits for ticket t on device d (0: all of it); 0, or a trap naming the failing instruction
 * (pc when the queue blames none). */
int stream_wait(struct adead_vm *vm, int d, adead_exec_ticket t, uint32_t pc);
/* A status that was not OK from submit or copy on device d: the trap, at the instruction the
 * queue blames (or pc when it blames none). */
int stream_fail(struct adead_vm *vm, int d, uint32_t pc, int status);
/* Waits for all work on every device; 0 or a trap. */
int stream_flush(struct adead_vm *vm, uint32_t pc);

#endif
