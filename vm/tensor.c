/* The tensor table: storage in VM memory, shapes checked (overflow-safe) before any executor
 * sees them, element access with bounds checks, and the tensor ops' shape rules. */
#include "../isa/f32.h"
#include "../isa/kernels.h"
#include "dispatch.h"
#include "stream.h"
#include "vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tname(const adead_vm *vm, uint32_t slot, char *buf, size_t len)
{
    const char *n = vm->prog->names.tensor[slot];
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "t%u", slot);
    return buf;
}

static void shape_text(const vm_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%" PRId64 : "%" PRId64, t->dims[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

int64_t tensor_shape_count(int rank, const int64_t *dims)
{
    int empty = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > BIB_MAX_ELEMENTS) return -1;
        empty |= !dims[i];
    }
    if (empty) return 0;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (n > BIB_MAX_ELEMENTS / (uint64_t)dims[i]) return -1;
        n *= (uint64_t)dims[i];
    }
    return (int64_t)n;
}

/* New zeroed storage for count elements of dtype; 0 or a trap. */
static int alloc_storage(adead_vm *vm, uint32_t pc, const char *what, uint32_t dtype, int64_t count, uint64_t *off)
{
    *off = 0;
    if (!count) return ADEAD_OK;
    uint64_t bytes = (uint64_t)count * bib_dtype_size(dtype);
    int hr = heap_alloc(&vm->heap, bytes, HEAP_TENSOR, off);
    if (hr == HEAP_LIMIT)
        return vm_trap(vm, ADEAD_E_MEMORY, pc, "%s: %" PRIu64 " bytes of tensor data are over the memory limit (%" PRIu64 " bytes, %" PRIu64 " in use)",
                       what, bytes, vm->heap.limit, heap_in_use(&vm->heap));
    if (hr) return vm_trap(vm, ADEAD_E_NOMEM, pc, "%s: the host is out of memory", what);
    return ADEAD_OK;
}

static void release_storage(adead_vm *vm, vm_tensor *t)
{
    if (t->rank >= 0 && t->count) heap_release(&vm->heap, t->off, HEAP_TENSOR);
}

/* Point slot at new storage with this shape (releasing the old, and its device copies), keeping
 * dtype; 0 or a trap from a device that had the old copy. */
static int install(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims, int64_t count, uint64_t off)
{
    vm_tensor *t = &vm->tensors[slot];
    int rc = residency_drop(vm, pc, slot);
    if (rc) {
        if (count) heap_release(&vm->heap, off, HEAP_TENSOR);
        return rc;
    }
    release_storage(vm, t);
    t->rank = rank;
    memset(t->dims, 0, sizeof t->dims);
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->count = count;
    t->off = off;
    return ADEAD_OK;
}

int tensor_set_shape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims)
{
    char nm[64];
    int64_t count = tensor_shape_count(rank, dims);
    if (count < 0) {
        char sh[128];
        vm_tensor tmp = {rank, 0, {0}, 0, 0};
        for (int i = 0; i < rank; i++) tmp.dims[i] = dims[i];
        shape_text(&tmp, sh, sizeof sh);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "tensor %s: shape %s has a negative dimension, or a dimension or element count over 2^40",
                       tname(vm, slot, nm, sizeof nm), sh);
    }
    uint64_t off;
    int rc = alloc_storage(vm, pc, tname(vm, slot, nm, sizeof nm), vm->tensors[slot].dtype, count, &off);
    if (rc) return rc;
    return install(vm, pc, slot, rank, dims, count, off);
}

int tensor_from_const(adead_vm *vm, uint32_t pc, uint32_t slot, uint32_t k)
{
    const bib_const *c = &vm->prog->mod.consts[k];
    int64_t dims[4];
    for (int i = 0; i < 4; i++) dims[i] = c->dims[i];
    int rc = tensor_set_shape(vm, pc, slot, (int)c->rank, dims);
    if (!rc && c->data_size) memcpy(tensor_data(vm, &vm->tensors[slot]), vm->prog->mod.data + c->data_off, c->data_size);
    return rc;
}

int tensor_release(adead_vm *vm, uint32_t pc, uint32_t slot)
{
    vm_tensor *t = &vm->tensors[slot];
    int rc = residency_drop(vm, pc, slot);
    if (rc) return rc;
    release_storage(vm, t);
    t->rank = -1;
    t->count = 0;
    t->off = 0;
    return ADEAD_OK;
}

/* "MATMUL: " when a kernel runs under another instruction (VK_COMPUTE), else "": the trap
 * message already names the instruction. */
static const char *kernel_context(const adead_vm *vm, uint32_t pc, int kernel, char *buf, size_t len)
{
    buf[0] = 0;
    if (vm->prog->mod.code[pc].op != isa_ops[kernel].value) snprintf(buf, len, "%s: ", isa_ops[kernel].name);
    return buf;
}

static int need_data(adead_vm *vm, uint32_t pc, const char *ctx, uint32_t slot)
{
    if (vm->tensors[slot].rank >= 0) return ADEAD_OK;
    char nm[64];
    return vm_trap(vm, ADEAD_E_TRAP, pc, "%stensor %s is empty (never created, or freed)", ctx, tname(vm, slot, nm, sizeof nm));
}

/* Register <-> element: f32 as raw bits (zero-extended), i32 sign-extended, i64 as is. */
int tensor_element(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t index, uint64_t *value, int store)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    if (index < (uint64_t)t->count && (rc = residency_to_host(vm, pc, slot))) return rc;
    if (index >= (uint64_t)t->count) {
        char nm[64];
        return vm_trap(vm, ADEAD_E_TRAP, pc, "index %" PRId64 " is out of bounds for tensor %s (%" PRId64 " elements)",
                       (int64_t)index, tname(vm, slot, nm, sizeof nm), t->count);
    }
    size_t es = bib_dtype_size(t->dtype);
    uint8_t *p = (uint8_t *)tensor_data(vm, t) + index * es;
    if (store) {
        memcpy(p, value, es); /* little-endian host: the low bytes */
        residency_host_wrote(vm, slot);
        return ADEAD_OK;
    }
    if (t->dtype == BIB_DT_I64) {
        memcpy(value, p, 8);
    } else {
        uint32_t w;
        memcpy(&w, p, 4);
        *value = t->dtype == BIB_DT_I32 ? (uint64_t)(int64_t)(int32_t)w : w;
    }
    return ADEAD_OK;
}

int tensor_copy(adead_vm *vm, uint32_t pc, uint32_t dst, uint32_t src)
{
    int rc = need_data(vm, pc, "", src);
    if (rc || dst == src) return rc;
    if ((rc = residency_to_host(vm, pc, src))) return rc;
    const vm_tensor *s = &vm->tensors[src];
    uint64_t off;
    char nm[64];
    rc = alloc_storage(vm, pc, tname(vm, dst, nm, sizeof nm), s->dtype, s->count, &off);
    if (rc) return rc;
    if (s->count) memcpy(vm->heap.base + off, tensor_data(vm, s), (size_t)s->count * bib_dtype_size(s->dtype));
    if ((rc = install(vm, pc, dst, s->rank, s->dims, s->count, off))) return rc;
    residency_host_wrote(vm, dst);
    return ADEAD_OK;
}

int tensor_fill(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t value)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    size_t es = bib_dtype_size(t->dtype);
    uint8_t *p = tensor_data(vm, t);
    for (int64_t i = 0; i < t->count; i++) memcpy(p + (size_t)i * es, &value, es);
    residency_host_wrote(vm, slot); /* every element: the device copies are stale */
    return ADEAD_OK;
}

int tensor_reshape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    int64_t count = tensor_shape_count(rank, dims);
    if (count != t->count) {
        char nm[64], from[128], to[128];
        vm_tensor want = {rank, t->dtype, {0}, 0, 0};
        for (int i = 0; i < rank; i++) want.dims[i] = dims[i];
        shape_text(t, from, sizeof from);
        shape_text(&want, to, sizeof to);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "tensor %s %s cannot become %s (element counts differ)",
                       tname(vm, slot, nm, sizeof nm), from, to);
    }
    memset(t->dims, 0, sizeof t->dims);
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->rank = rank;
    return ADEAD_OK;
}

/* numpy broadcasting: align trailing axes; each pair of sizes equal, or one of them 1. */
static int broadcast_shape(const vm_tensor *a, const vm_tensor *b, int *rank, int64_t *dims)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

/* ATTENTION: q [..., Sq, D], k [..., Sk, D], v [..., Sk, Dv], the same rank (2..4) and the same
 * leading axes; the result is [..., Sq, Dv]. */
static int attention_shape(const vm_tensor *const *in, int *rank, int64_t *dims)
{
    const vm_tensor *q = in[0], *k = in[1], *v = in[2];
    int r = q->rank;
    if (r < 2 || k->rank != r || v->rank != r) return -1;
    for (int i = 0; i < r - 2; i++)
        if (k->dims[i] != q->dims[i] || v->dims[i] != q->dims[i]) return -1;
    if (k->dims[r - 1] != q->dims[r - 1] || v->dims[r - 2] != k->dims[r - 2]) return -1;
    *rank = r;
    memcpy(dims, q->dims, sizeof q->dims);
    dims[r - 1] = v->dims[r - 1];
    return 0;
}

/* Result shape of a kernel, or a trap naming the input shapes. */
static int result_shape(adead_vm *vm, uint32_t pc, const char *ctx, int kernel, const vm_tensor *const *in,
                        const uint32_t *slot, int *rank, int64_t *dims)
{
    char na[64], nb[64], nc[64], sa[128], sb[128], sc[128];
    const vm_tensor *A = in[0], *B = in[1];
    /* The texts of a message are made only when there is one: formatting them for every op cost
     * more than a small op itself. */
    switch (isa_kernel_of_op(kernel)->shape) { /* the rule of include/adeadvm_kernels.def */
    case SHAPE_MATMUL:
        if (A->rank != 2 || B->rank != 2 || A->dims[1] != B->dims[0]) {
            shape_text(A, sa, sizeof sa);
            shape_text(B, sb, sizeof sb);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s %s x %s %s: needs [M,K] x [K,N]", ctx, tname(vm, slot[0], na, sizeof na), sa,
                           tname(vm, slot[1], nb, sizeof nb), sb);
        }
        *rank = 2;
        dims[0] = A->dims[0];
        dims[1] = B->dims[1];
        return 0;
    case SHAPE_TRANSPOSE:
        if (A->rank != 2) {
            shape_text(A, sa, sizeof sa);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s %s is not 2-D", ctx, tname(vm, slot[0], na, sizeof na), sa);
        }
        *rank = 2;
        dims[0] = A->dims[1];
        dims[1] = A->dims[0];
        return 0;
    case SHAPE_SAME_ROWS:
        if (A->rank < 1)
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s is a scalar; it needs at least one axis", ctx, tname(vm, slot[0], na, sizeof na));
        /* fall through */
    case SHAPE_SAME:
        *rank = A->rank;
        memcpy(dims, A->dims, sizeof A->dims);
        return 0;
    case SHAPE_ATTENTION:
        if (attention_shape(in, rank, dims)) {
            shape_text(A, sa, sizeof sa);
            shape_text(B, sb, sizeof sb);
            shape_text(in[2], sc, sizeof sc);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%sq = %s %s, k = %s %s, v = %s %s: needs [...,Sq,D], [...,Sk,D], [...,Sk,Dv] of one rank (2..4) with equal leading axes",
                           ctx, tname(vm, slot[0], na, sizeof na), sa, tname(vm, slot[1], nb, sizeof nb), sb, tname(vm, slot[2], nc, sizeof nc), sc);
        }
        return 0;
    case SHAPE_BROADCAST:
    default:
        if (broadcast_shape(A, B, rank, dims)) {
            shape_text(A, sa, sizeof sa);
            shape_text(B, sb, sizeof sb);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%sshapes %s %s and %s %s do not broadcast", ctx, tname(vm, slot[0], na, sizeof na), sa,
                           tname(vm, slot[1], nb, sizeof nb), sb);
        }
        return 0;
    }
}

/* Host memory as a buffer of the CPU device, wrapped again only when it has moved or grown. */
static adead_exec_buffer *host_buffer(adead_vm *vm, adead_exec_buffer **slot, void *base, uint64_t size)
{
    adead_exec_buffer *b = *slot;
    if (b && b->host == base && b->size >= size) return b;
    if (b) b->ops->release(b);
    *slot = NULL;
    adead_exec_device *cpu = vm->dispatch.cpu;
    return cpu->ops->wrap_host(cpu, base, size, slot) == ADEAD_EXEC_OK ? *slot : NULL;
}

static adead_exec_tensor view(const vm_tensor *t, adead_exec_buffer *heap)
{
    adead_exec_tensor e;
    e.dtype = t->dtype;
    e.rank = t->rank;
    memcpy(e.dims, t->dims, sizeof e.dims);
    e.count = t->count;
    e.ref.buf = heap;
    e.ref.offset = t->off;
    return e;
}

void tensor_release_buffers(adead_vm *vm)
{
    if (vm->heap_buf) vm->heap_buf->ops->release(vm->heap_buf);
    if (vm->scratch_buf) vm->scratch_buf->ops->release(vm->scratch_buf);
    vm->heap_buf = vm->scratch_buf = NULL;
}

/* The op described by eop on device executor dv (index dev): inputs made resident, the output
 * into a device buffer, submitted with its pc; it completes later (vm/stream.h). 0, a trap, or
 * RESIDENCY_NO_ROOM / a fallback status when the CPU should run it instead. */
static int op_on_device(adead_vm *vm, uint32_t pc, int dev, adead_exec_op *eop, uint32_t d, const uint32_t *slot, int n_in)
{
    uint32_t keep[4] = {slot[0], slot[1], slot[2], d};
    vm_device *dv = &vm->devices[dev];
    for (int i = 0; i < n_in; i++) {
        int rc = residency_to_device(vm, pc, slot[i], dev, keep, 4);
        if (rc) return rc;
    }
    int rc = residency_output_buffer(vm, pc, d, dev, keep, 4);
    if (rc) return rc;
    for (int i = 0; i < n_in; i++) eop->in[i].ref = (adead_exec_ref){vm->place[slot[i]].buf[dev], 0};
    eop->out.ref = (adead_exec_ref){vm->place[d].buf[dev], 0};
    adead_exec_ticket t = 0;
    int st = dv->queue->ops->submit(dv->queue, eop, 1, &t);
    if (st == ADEAD_EXEC_UNSUPPORTED || st == ADEAD_EXEC_DEVICE_MEMORY) return RESIDENCY_NO_ROOM; /* the CPU has the same bits */
    if (st) return stream_fail(vm, dev, pc, st);
    dv->last = t;
    if ((rc = stream_note(vm, dev, t, pc))) return rc;
    residency_device_wrote(vm, d, dev);
    return ADEAD_OK;
}

/* --trace: the op's shapes and where it ran, after the instruction's own line. */
static void op_text(adead_vm *vm, uint32_t d, const uint32_t *slot, int n_in, char *line, size_t len)
{
    char nm[64], sh[128];
    size_t n = 0;
    line[0] = 0;
    for (int i = -1; i < n_in && n < len; i++) {
        uint32_t t = i < 0 ? d : slot[i];
        shape_text(&vm->tensors[t], sh, sizeof sh);
        n += (size_t)snprintf(line + n, len - n, "%s%s %s%s", i < 0 ? "" : i ? ", " : " <- ", tname(vm, t, nm, sizeof nm),
                              bib_dtype_name(vm->tensors[t].dtype), sh);
    }
}

static void trace_op(adead_vm *vm, const char *where, uint32_t d, const uint32_t *slot, int n_in)
{
    char line[600];
    op_text(vm, d, slot, n_in, line, sizeof line);
    vm_printf(vm->trace_fn, vm->trace_user, "  = %s on %s\n", line, where);
}

/* --profile: the op's shapes, its work (fma counted as 2 flops for MATMUL and ATTENTION; bytes in
 * and out for the rest) and where it ran; ticket 0 for the CPU, whose op has ended already. */
static void profile_op(adead_vm *vm, prof_rec *r, int exec, adead_exec_ticket t, uint32_t d, const uint32_t *slot, int n_in)
{
    if (!r) return;
    const vm_tensor *o = &vm->tensors[d], *a = &vm->tensors[slot[0]];
    r->exec = exec;
    r->ticket = t;
    if (exec < 0) r->end_ns = profile_now_ns();
    op_text(vm, d, slot, n_in, r->shapes, sizeof r->shapes);
    r->bytes = (double)o->count * bib_dtype_size(o->dtype);
    for (int i = 0; i < n_in; i++) r->bytes += (double)vm->tensors[slot[i]].count * bib_dtype_size(vm->tensors[slot[i]].dtype);
    if (r->kernel == ADEAD_K_MATMUL) r->flops = 2.0 * (double)o->count * (double)a->dims[1];
    if (r->kernel == ADEAD_K_ATTENTION || r->kernel == ADEAD_K_ATTENTION_CAUSAL) {
        const vm_tensor *k = &vm->tensors[slot[1]], *v = &vm->tensors[slot[2]];
        int q = a->rank;
        r->flops = 2.0 * (double)a->count / (double)a->dims[q - 1] * (double)k->dims[q - 2] * (double)(a->dims[q - 1] + v->dims[q - 1]);
    }
}

/* Which device executor runs the op: -1 for the CPU. GPU_* and VK_COMPUTE prefer a device
 * whatever the op's size (VK_COMPUTE, prefer_device 2: a Vulkan one first, unless the inputs are
 * already on another device); other ops follow the dispatch rule (vm/dispatch.h). */
static int choose_device(adead_vm *vm, const adead_exec_op *eop, const uint32_t *slot, int n_in, int prefer_device)
{
    if (!vm->n_devices) return -1;
    int resident = -1;
    for (int i = 0; i < n_in && resident < 0; i++) resident = residency_device_of(vm, slot[i]);
    if (prefer_device == 2 && resident < 0)
        for (int g = 0; g < vm->n_devices; g++)
            if (vm->devices[g].vulkan && vm->devices[g].dev->ops->supports(vm->devices[g].dev, eop)) return g;
    dispatch_rules rules = vm->dispatch;
    if (prefer_device) dispatch_prefer_device(&rules);
    adead_exec_device *dev = dispatch_choose(&rules, eop, resident);
    for (int g = 0; g < vm->n_devices; g++)
        if (vm->devices[g].dev == dev) return g;
    return -1;
}

int tensor_op(adead_vm *vm, uint32_t pc, int kernel, int prefer_device, uint32_t d, uint32_t a, uint32_t b, uint32_t c)
{
    char ctx[32];
    kernel_context(vm, pc, kernel, ctx, sizeof ctx);
    const uint32_t slot[3] = {a, b, c};
    int n_in = isa_operand_count(kernel) - 1, rc = 0;
    const vm_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n_in && !rc; i++) {
        rc = need_data(vm, pc, ctx, slot[i]);
        in[i] = &vm->tensors[slot[i]];
    }
    if (rc) return rc;
    const vm_tensor *A = in[0];

    int rank = 0;
    int64_t dims[4] = {0, 0, 0, 0};
    if ((rc = result_shape(vm, pc, ctx, kernel, in, slot, &rank, dims))) return rc;
    int64_t count = tensor_shape_count(rank, dims);
    if (count < 0) { /* e.g. [2^40, 0] x [0, 2^40] */
        vm_tensor result = {rank, A->dtype, {dims[0], dims[1], dims[2], dims[3]}, 0, 0};
        char sr[128];
        shape_text(&result, sr, sizeof sr);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "%sthe result %s would have more than 2^40 elements", ctx, sr);
    }

    /* The destination keeps its storage when it already has the result's shape. MATMUL,
     * TRANSPOSE and ATTENTION read other elements than the one they write, so when they write
     * onto one of their own sources they compute into arena scratch and copy back; elementwise
     * and row ops may write in place. Otherwise the result gets fresh storage. */
    vm_tensor *D = &vm->tensors[d];
    int aliased = 0;
    for (int i = 0; i < n_in; i++) aliased |= d == slot[i];
    int same_shape = D->rank == rank && !memcmp(D->dims, dims, sizeof dims);
    const isa_kernel *k = isa_kernel_of_op(kernel);
    int reads_across = (k->flags & K_READS_ACROSS) != 0;
    int via_scratch = same_shape && aliased && reads_across && count;
    adead_exec_op eop;
    memset(&eop, 0, sizeof eop);
    eop.kernel = k->id;
    for (int i = 0; i < n_in; i++) eop.in[i] = view(in[i], NULL);
    eop.n_in = (uint32_t)n_in;
    eop.out.dtype = D->dtype;
    eop.out.rank = rank;
    memcpy(eop.out.dims, dims, sizeof dims);
    eop.out.count = count;
    eop.pc = pc;

    /* On a device: an op that writes onto one of its inputs in another shape, or reading across,
     * runs on the CPU instead (device copies are whole tensors; the bits are the same). */
    prof_rec *rec = NULL;
    if (vm->prof && (rec = profile_add(vm))) {
        rec->pc = pc;
        rec->kernel = k->id;
        rec->start_ns = profile_now_ns();
    }
    int dev = count && !(aliased && (!same_shape || reads_across)) ? choose_device(vm, &eop, slot, n_in, prefer_device) : -1;
    if (dev >= 0) {
        if (!same_shape) {
            uint64_t off;
            char nm[64];
            if ((rc = alloc_storage(vm, pc, tname(vm, d, nm, sizeof nm), D->dtype, count, &off))) return rc;
            if ((rc = install(vm, pc, d, rank, dims, count, off))) return rc;
        }
        rc = op_on_device(vm, pc, dev, &eop, d, slot, n_in);
        if (!rc && vm->trace_fn) trace_op(vm, vm->devices[dev].dev->name, d, slot, n_in);
        if (!rc && rec) profile_op(vm, rec, dev, vm->devices[dev].last, d, slot, n_in);
        if (rc != RESIDENCY_NO_ROOM) return rc;
        same_shape = 1; /* the output has its storage now */
        in[0] = &vm->tensors[slot[0]];
    }
    for (int i = 0; i < n_in; i++) /* the CPU reads the host bytes */
        if ((rc = residency_to_host(vm, pc, slot[i]))) return rc;

    uint64_t off = D->off;
    size_t out_bytes = (size_t)count * bib_dtype_size(D->dtype);
    void *out = vm->heap.base + off;
    char nm[64];
    if (via_scratch) {
        int limit_hit;
        out = arena_scratch(&vm->arena, &vm->heap, out_bytes, &limit_hit);
        if (!out)
            return vm_trap(vm, limit_hit ? ADEAD_E_MEMORY : ADEAD_E_NOMEM, pc, "%s%zu bytes of scratch are %s", ctx, out_bytes,
                           limit_hit ? "over the memory limit" : "more than the host has");
    } else if (!same_shape) {
        if ((rc = alloc_storage(vm, pc, tname(vm, d, nm, sizeof nm), D->dtype, count, &off))) return rc;
        out = vm->heap.base + off;
    }

    adead_exec_buffer *heap = host_buffer(vm, &vm->heap_buf, vm->heap.base, (uint64_t)vm->heap.cap_blocks * HEAP_BLOCK);
    adead_exec_buffer *scratch = via_scratch ? host_buffer(vm, &vm->scratch_buf, vm->arena.base, vm->arena.size) : NULL;
    if (!heap || (via_scratch && !scratch)) {
        if (!same_shape && count) heap_release(&vm->heap, off, HEAP_TENSOR);
        return vm_trap(vm, ADEAD_E_NOMEM, pc, "%sthe host is out of memory", ctx);
    }
    for (int i = 0; i < n_in; i++) eop.in[i] = view(in[i], heap);
    eop.out.ref.buf = via_scratch ? scratch : heap;
    eop.out.ref.offset = via_scratch ? 0 : off;

    adead_exec_queue *q = vm->cpu_queue;
    adead_exec_ticket ticket = 0;
    int st = q->ops->submit(q, &eop, 1, &ticket);
    if (st == ADEAD_EXEC_OK) st = q->ops->wait(q, ticket);
    if (via_scratch && st == ADEAD_EXEC_OK) memcpy(tensor_data(vm, D), out, out_bytes);
    if (st != ADEAD_EXEC_OK) {
        if (!same_shape && count) heap_release(&vm->heap, off, HEAP_TENSOR);
        return vm_trap(vm, st == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_TRAP, pc, "%sthe %s executor failed: %s", ctx,
                       q->device->name, q->ops->last_error(q));
    }
    if (!same_shape && (rc = install(vm, pc, d, rank, dims, count, off))) return rc;
    residency_host_wrote(vm, d);
    if (vm->trace_fn) trace_op(vm, "cpu", d, slot, n_in);
    if (rec) profile_op(vm, rec, -1, 0, d, slot, n_in);
    return ADEAD_OK;
}

int tensor_place_on_device(adead_vm *vm, uint32_t pc, uint32_t slot)
{
    if (!vm->n_devices || vm->tensors[slot].rank < 0 || !vm->tensors[slot].count) return ADEAD_OK;
    uint32_t keep[1] = {slot};
    int rc = residency_to_device(vm, pc, slot, 0, keep, 1);
    return rc == RESIDENCY_NO_ROOM ? ADEAD_OK : rc; /* a hint: without room it stays on the host */
}

/* PRINTT: the tensor as text (vm/tensor_text.c), or a note when the slot is empty. */
int tensor_print(adead_vm *vm, uint32_t pc, uint32_t slot, adead_write_fn fn, void *user)
{
    const vm_tensor *t = &vm->tensors[slot];
    if (!fn) return ADEAD_OK;
    if (t->rank < 0) {
        fn(user, "(empty tensor)\n", 15);
        return ADEAD_OK;
    }
    int rc = residency_to_host(vm, pc, slot);
    if (rc) return rc;
    adead_tensor_view v;
    v.dtype = (adead_dtype)t->dtype;
    v.rank = t->rank;
    memcpy(v.dims, t->dims, sizeof v.dims);
    v.nbytes = (size_t)t->count * bib_dtype_size(t->dtype);
    v.data = t->count ? tensor_data(vm, t) : NULL;
    char *text = adead_tensor_text(&v);
    if (text) {
        fn(user, text, strlen(text));
        fn(user, "\n", 1);
    }
    free(text);
    return ADEAD_OK;
}
