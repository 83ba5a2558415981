/* The stream (stream.h): tickets, the pcs they came from, and waits that name the culprit. */
#include "stream.h"

#include "vm.h"

#include <stdlib.h>
#include <string.h>

int stream_note(adead_vm *vm, int d, adead_exec_ticket t, uint32_t pc)
{
    vm_device *dv = &vm->devices[d];
    if (dv->n_pend == dv->cap_pend) {
        uint32_t cap = dv->cap_pend ? 2 * dv->cap_pend : 64;
        adead_exec_ticket *tk = realloc(dv->pend_ticket, cap * sizeof *tk);
        if (tk) dv->pend_ticket = tk;
        uint32_t *pcs = tk ? realloc(dv->pend_pc, cap * sizeof *pcs) : NULL;
        if (!pcs) return vm_trap(vm, ADEAD_E_NOMEM, pc, "the host is out of memory for the stream");
        dv->pend_pc = pcs;
        dv->cap_pend = cap;
    }
    dv->pend_ticket[dv->n_pend] = t;
    dv->pend_pc[dv->n_pend] = pc;
    dv->n_pend++;
    return ADEAD_OK;
}

/* Forgets the pending entries up to ticket t: they completed. */
static void completed(vm_device *dv, adead_exec_ticket t)
{
    uint32_t k = 0;
    while (k < dv->n_pend && dv->pend_ticket[k] <= t) k++;
    memmove(dv->pend_ticket, dv->pend_ticket + k, (dv->n_pend - k) * sizeof *dv->pend_ticket);
    memmove(dv->pend_pc, dv->pend_pc + k, (dv->n_pend - k) * sizeof *dv->pend_pc);
    dv->n_pend -= k;
    if (t > dv->done) dv->done = t;
}

int stream_fail(adead_vm *vm, int d, uint32_t pc, int status)
{
    vm_device *dv = &vm->devices[d];
    adead_exec_ticket bad = dv->queue->ops->failed_ticket ? dv->queue->ops->failed_ticket(dv->queue) : 0;
    for (uint32_t k = 0; bad && k < dv->n_pend; k++)
        if (dv->pend_ticket[k] == bad) pc = dv->pend_pc[k];
    const char *why = dv->queue->ops->last_error(dv->queue);
    static const char *const names[] = {"ok", "unsupported", "out of device memory", "out of host memory",
                                        "device lost", "internal error", "bad parameters"};
    const char *name = status >= 0 && status <= ADEAD_EXEC_BAD_PARAMS ? names[status] : "unknown status";
    return vm_trap(vm, status == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_TRAP, pc, "the %s executor failed (%s): %s",
                   dv->dev->name, name, why && why[0] ? why : "no reason given");
}

int stream_wait(adead_vm *vm, int d, adead_exec_ticket t, uint32_t pc)
{
    vm_device *dv = &vm->devices[d];
    if (!t) t = dv->last;
    if (t <= dv->done) return ADEAD_OK;
    int st = dv->queue->ops->wait(dv->queue, t);
    if (st) return stream_fail(vm, d, pc, st);
    completed(dv, t);
    if (vm->prof) profile_completed(vm, d, t);
    return ADEAD_OK;
}

int stream_flush(adead_vm *vm, uint32_t pc)
{
    for (int d = 0; d < vm->n_devices; d++) {
        int rc = stream_wait(vm, d, 0, pc);
        if (rc) return rc;
    }
    return ADEAD_OK;
}
