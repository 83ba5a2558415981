/* The profiler: one record per tensor op (pc, kernel, shapes, executor, start and end), kept only
 * while profiling is on (vm->prof NULL costs one branch per op). A CPU op's end is when its submit
 * returns; a device op's is when the stream first sees its ticket complete, so device times
 * include queueing behind earlier work. */
#ifndef ADEAD_PROFILE_H
#define ADEAD_PROFILE_H

#include "../include/adeadvm_exec.h"

#include <stdint.h>

typedef struct {
    uint32_t pc;
    uint32_t kernel; /* ADEAD_K_* */
    int exec;        /* -1: the CPU; else the device index */
    adead_exec_ticket ticket;
    uint64_t start_ns, end_ns; /* end 0: not complete yet */
    double flops, bytes;
    char shapes[160];
} prof_rec;

typedef struct {
    prof_rec *recs;
    uint32_t n, cap;
    uint64_t t0_ns; /* when profiling was turned on */
} vm_profile;

struct adead_vm;

uint64_t profile_now_ns(void);
/* A new record (NULL when out of memory: that op goes unrecorded). */
prof_rec *profile_add(struct adead_vm *vm);
/* Device d completed every ticket up to t. */
void profile_completed(struct adead_vm *vm, int d, adead_exec_ticket t);

#endif
