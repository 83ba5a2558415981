/* Residency (residency.h): the one module that moves tensor bytes between VM memory and the
 * device executors. */
#include "residency.h"

#include "stream.h"
#include "vm.h"

#include <inttypes.h>
#include <string.h>

static uint64_t tensor_bytes(const adead_vm *vm, uint32_t slot)
{
    const vm_tensor *t = &vm->tensors[slot];
    return t->rank < 0 ? 0 : (uint64_t)t->count * bib_dtype_size(t->dtype);
}

static adead_exec_ref device_ref(const vm_place *p, int d)
{
    adead_exec_ref r = {p->buf[d], 0};
    return r;
}

int residency_device_of(const adead_vm *vm, uint32_t slot)
{
    const vm_place *p = &vm->place[slot];
    for (int d = 0; d < vm->n_devices; d++)
        if (p->dev_valid & (1u << d)) return d;
    return -1;
}

int residency_to_host(adead_vm *vm, uint32_t pc, uint32_t slot)
{
    vm_place *p = &vm->place[slot];
    if (p->host_valid || !vm->n_devices) return ADEAD_OK;
    int d = residency_device_of(vm, slot);
    if (d < 0) { /* nothing was ever written anywhere but the host: its bytes are the value */
        p->host_valid = 1;
        return ADEAD_OK;
    }
    vm_device *dv = &vm->devices[d];
    uint64_t bytes = tensor_bytes(vm, slot);
    if (bytes) {
        void *host = tensor_data(vm, &vm->tensors[slot]);
        int st = dv->queue->ops->copy_out(dv->queue, host, device_ref(p, d), bytes);
        if (st) return stream_fail(vm, d, pc, st);
        dv->last++;
        int rc = stream_note(vm, d, dv->last, pc);
        if (!rc) rc = stream_wait(vm, d, dv->last, pc);
        if (rc) return rc;
    }
    p->host_valid = 1;
    return ADEAD_OK;
}

void residency_host_wrote(adead_vm *vm, uint32_t slot)
{
    vm_place *p = &vm->place[slot];
    p->host_valid = 1;
    p->dev_valid = 0;
}

static void release_copy(adead_vm *vm, uint32_t slot, int d)
{
    vm_place *p = &vm->place[slot];
    if (!p->buf[d]) return;
    vm->devices[d].mem_used -= p->buf[d]->size;
    p->buf[d]->ops->release(p->buf[d]);
    p->buf[d] = NULL;
    p->dev_valid &= (uint8_t)~(1u << d);
}

/* Frees copies on device d in slot order until `bytes` more fit, never one of keep[]; a copy
 * that is the only current one goes to the host first. */
static int evict_for(adead_vm *vm, uint32_t pc, int d, uint64_t bytes, const uint32_t *keep, int n_keep)
{
    vm_device *dv = &vm->devices[d];
    if (bytes > vm->gpu_mem_limit) return RESIDENCY_NO_ROOM;
    int waited = 0;
    for (uint32_t s = 0; s < vm->prog->mod.n_tensors && dv->mem_used + bytes > vm->gpu_mem_limit; s++) {
        if (!vm->place[s].buf[d]) continue;
        int kept = 0;
        for (int i = 0; i < n_keep; i++) kept |= keep[i] == s;
        if (kept) continue;
        int rc = residency_to_host(vm, pc, s);
        if (!rc && !waited) rc = stream_wait(vm, d, 0, pc); /* no queued op may still use it */
        if (rc) return rc;
        waited = 1;
        release_copy(vm, s, d);
    }
    return dv->mem_used + bytes > vm->gpu_mem_limit ? RESIDENCY_NO_ROOM : ADEAD_OK;
}

/* A buffer of the slot's current size on device d (kept when it already has that size). */
static int ensure_buffer(adead_vm *vm, uint32_t pc, uint32_t slot, int d, const uint32_t *keep, int n_keep)
{
    vm_place *p = &vm->place[slot];
    vm_device *dv = &vm->devices[d];
    uint64_t bytes = tensor_bytes(vm, slot);
    if (p->buf[d] && p->buf[d]->size == bytes) return ADEAD_OK;
    if (p->buf[d]) {
        int rc = stream_wait(vm, d, 0, pc);
        if (rc) return rc;
        release_copy(vm, slot, d);
    }
    int rc = evict_for(vm, pc, d, bytes, keep, n_keep);
    if (rc) return rc;
    int st = dv->dev->ops->alloc(dv->dev, bytes, &p->buf[d]);
    if (st == ADEAD_EXEC_DEVICE_MEMORY) {
        p->buf[d] = NULL;
        return RESIDENCY_NO_ROOM;
    }
    if (st) {
        p->buf[d] = NULL;
        return vm_trap(vm, st == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_TRAP, pc,
                       "the %s executor cannot allocate %" PRIu64 " bytes (status %d)", dv->dev->name, bytes, st);
    }
    dv->mem_used += bytes;
    return ADEAD_OK;
}

int residency_to_device(adead_vm *vm, uint32_t pc, uint32_t slot, int d, const uint32_t *keep, int n_keep)
{
    vm_place *p = &vm->place[slot];
    if (p->dev_valid & (1u << d)) return ADEAD_OK;
    int rc = residency_to_host(vm, pc, slot); /* the bytes go host -> device */
    if (!rc) rc = ensure_buffer(vm, pc, slot, d, keep, n_keep);
    if (rc) return rc;
    vm_device *dv = &vm->devices[d];
    uint64_t bytes = tensor_bytes(vm, slot);
    if (bytes) {
        int st = dv->queue->ops->copy_in(dv->queue, device_ref(p, d), tensor_data(vm, &vm->tensors[slot]), bytes);
        if (st) return stream_fail(vm, d, pc, st);
        dv->last++;
        if ((rc = stream_note(vm, d, dv->last, pc))) return rc;
    }
    p->dev_valid |= (uint8_t)(1u << d);
    return ADEAD_OK;
}

int residency_output_buffer(adead_vm *vm, uint32_t pc, uint32_t slot, int d, const uint32_t *keep, int n_keep)
{
    return ensure_buffer(vm, pc, slot, d, keep, n_keep);
}

void residency_device_wrote(adead_vm *vm, uint32_t slot, int d)
{
    vm_place *p = &vm->place[slot];
    p->host_valid = 0;
    p->dev_valid = (uint8_t)(1u << d);
}

int residency_drop(adead_vm *vm, uint32_t pc, uint32_t slot)
{
    vm_place *p = &vm->place[slot];
    (void)pc;
    for (int d = 0; d < vm->n_devices; d++) {
        if (!p->buf[d]) continue;
        int rc = stream_wait(vm, d, 0, pc);
        if (rc) return rc;
        release_copy(vm, slot, d);
    }
    p->dev_valid = 0;
    p->host_valid = 1;
    return ADEAD_OK;
}

int residency_outputs_to_host(adead_vm *vm, uint32_t pc)
{
    for (int i = 0; i < vm->prog->n_outputs; i++) {
        int rc = residency_to_host(vm, pc, vm->prog->outputs[i]);
        if (rc) return rc;
    }
    return ADEAD_OK;
}

void residency_free_all(adead_vm *vm)
{
    if (!vm->place) return;
    for (int d = 0; d < vm->n_devices; d++) {
        vm_device *dv = &vm->devices[d];
        dv->queue->ops->wait(dv->queue, 0); /* errors were reported already, or no longer matter */
        for (uint32_t s = 0; s < vm->prog->mod.n_tensors; s++) release_copy(vm, s, d);
        dv->n_pend = 0;
    }
    for (uint32_t s = 0; s < vm->prog->mod.n_tensors; s++) {
        vm->place[s].host_valid = 1;
        vm->place[s].dev_valid = 0;
    }
}
