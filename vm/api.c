/* VM lifecycle: create, limits, bind inputs, run (resumable after fuel runs out), outputs. */
#include "../util/clocale.h"
#include "../util/sha256.h"
#include "../backends/cpu/cpu_reg.h"
#include "../backends/registry.h"
#include "vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_PC UINT32_MAX

static void write_stdout(void *user, const char *text, size_t n)
{
    (void)user;
    fwrite(text, 1, n, stdout);
}

void vm_printf(adead_write_fn fn, void *user, const char *fmt, ...)
{
    if (!fn) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) fn(user, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

int vm_trap(adead_vm *vm, int status, uint32_t pc, const char *fmt, ...)
{
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (pc == NO_PC) {
        snprintf(vm->err, sizeof vm->err, "%s: %s", vm->prog->name, what);
    } else {
        char where[300];
        source_prefix(&vm->prog->mod, pc, where, sizeof where);
        if (!where[0]) snprintf(where, sizeof where, "%s: ", vm->prog->name);
        int op = isa_find_value(vm->prog->mod.code[pc].op);
        snprintf(vm->err, sizeof vm->err, "%spc %u (%s): %s", where, pc, isa_ops[op].name, what);
    }
    vm->status = status;
    return status;
}

static void dematerialize(adead_vm *vm);
static int api_error(adead_vm *vm, int status, const char *fmt, ...);

#define MAX_THREADS CPU_MAX_THREADS

/* (Re)opens the CPU queue with these settings; the old queue stays when the new one cannot open. */
static int open_cpu_queue(adead_vm *vm, const char *simd, int threads, char *why, size_t whylen)
{
    char params[64];
    snprintf(params, sizeof params, "simd=%s,threads=%d", simd, threads);
    adead_exec_device *cpu = vm->dispatch.cpu;
    adead_exec_queue *q = NULL;
    int st = cpu->ops->open_queue(cpu, params, &q, why, whylen);
    if (st != ADEAD_EXEC_OK) return st;
    if (vm->cpu_queue) vm->cpu_queue->ops->close(vm->cpu_queue);
    vm->cpu_queue = q;
    snprintf(vm->cpu_simd, sizeof vm->cpu_simd, "%s", simd);
    vm->cpu_threads = threads;
    return ADEAD_EXEC_OK;
}

/* ADEAD_SIMD and ADEAD_THREADS: defaults for the CPU executor, each applied on its own. A value
 * that cannot be honoured is kept as that setting's error and fails the first run, so it is never
 * silently ignored; only an explicit API choice of the same setting replaces it. */
static void apply_environment(adead_vm *vm)
{
    const char *simd = getenv("ADEAD_SIMD"), *threads = getenv("ADEAD_THREADS");
    char why[160];
    if (threads && *threads) {
        char *end;
        long v = strtol(threads, &end, 10);
        if (*end || v < 0 || v > MAX_THREADS)
            snprintf(vm->threads_env_err, sizeof vm->threads_env_err, "ADEAD_THREADS=%.40s: not a thread count (0..%d; 0 = all cores)",
                     threads, MAX_THREADS);
        else if (open_cpu_queue(vm, vm->cpu_simd, (int)v, why, sizeof why))
            snprintf(vm->threads_env_err, sizeof vm->threads_env_err, "ADEAD_THREADS=%.40s: %.120s", threads, why);
    }
    if (simd && *simd && strcmp(simd, "auto")) {
        if (strlen(simd) >= sizeof vm->cpu_simd || strchr(simd, ','))
            snprintf(vm->simd_env_err, sizeof vm->simd_env_err, "ADEAD_SIMD=%.40s: not a SIMD level (scalar, sse2, avx2, avx512, neon, auto)", simd);
        else if (open_cpu_queue(vm, simd, vm->cpu_threads, why, sizeof why))
            snprintf(vm->simd_env_err, sizeof vm->simd_env_err, "ADEAD_SIMD=%.40s: %.120s", simd, why);
    }
}

/* Every exact device of the usable executor plugins named `only` (NULL: of every one), in
 * registry order (entry 0 is the CPU); an inexact one too when the program is flagged relaxed.
 * One that cannot open a queue is left out: the CPU runs its ops with the same bits. Returns how
 * many were attached. */
static int attach_plugins(adead_vm *vm, const char *only)
{
    int relaxed = (vm->prog->mod.flags & BIB_FLAG_RELAXED) != 0, n = 0;
    for (int i = 1; i < registry_count(); i++) {
        const registry_entry *e = registry_get(i);
        if (only && strcmp(e->name, only)) continue;
        for (uint32_t k = 0; e->state == REGISTRY_USABLE && k < e->n_devices; k++) {
            char why[256];
            if (((e->devices[k]->caps & ADEAD_EXEC_CAP_EXACT) || relaxed) &&
                vm_attach_device(vm, e->devices[k], NULL, why, sizeof why) == ADEAD_OK) {
                vm->devices[vm->n_devices - 1].vulkan = !strcmp(e->name, "vulkan");
                n++;
            }
        }
    }
    return n;
}

static void detach_devices(adead_vm *vm)
{
    for (int d = 0; d < vm->n_devices; d++) {
        vm->devices[d].queue->ops->close(vm->devices[d].queue);
        free(vm->devices[d].pend_ticket);
        free(vm->devices[d].pend_pc);
        memset(&vm->devices[d], 0, sizeof vm->devices[d]);
        vm->dispatch.gpu[d] = NULL;
    }
    vm->n_devices = vm->dispatch.n_gpu = 0;
}

/* adead_vm_set_executor's work: 0, or ADEAD_E_ARG with the reason in err. */
static int select_executor(adead_vm *vm, const char *name, char *err, size_t errlen)
{
    dispatch_set_defaults(&vm->dispatch);
    if (!name || !*name || !strcmp(name, "auto")) {
        detach_devices(vm);
        attach_plugins(vm, NULL);
        return ADEAD_OK;
    }
    if (!strcmp(name, "cpu")) {
        detach_devices(vm);
        return ADEAD_OK;
    }
    const registry_entry *e = NULL;
    for (int i = 1; i < registry_count() && !e; i++)
        if (!strcmp(registry_get(i)->name, name)) e = registry_get(i);
    if (!e) {
        size_t n = (size_t)snprintf(err, errlen, "no executor \"%.40s\" here (auto, cpu", name);
        for (int i = 1; i < registry_count() && n < errlen; i++)
            n += (size_t)snprintf(err + n, errlen - n, ", %s", registry_get(i)->name);
        if (n < errlen) snprintf(err + n, errlen - n, ")");
        return ADEAD_E_ARG;
    }
    if (e->state != REGISTRY_USABLE) {
        snprintf(err, errlen, "executor %s is not usable here: %.200s", name, e->why);
        return ADEAD_E_ARG;
    }
    detach_devices(vm);
    if (!attach_plugins(vm, name)) {
        snprintf(err, errlen, "executor %s has no device this program may use (none exact, or no queue)", name);
        return ADEAD_E_ARG;
    }
    dispatch_prefer_device(&vm->dispatch); /* every op it supports goes to it */
    return ADEAD_OK;
}

int adead_vm_set_executor(adead_vm *vm, const char *name)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state != VM_FRESH) return api_error(vm, ADEAD_E_ARG, "adead_vm_set_executor: call it before running");
    char why[300];
    vm->executor_env_err[0] = 0; /* an explicit choice replaces the environment's */
    if (select_executor(vm, name, why, sizeof why)) {
        select_executor(vm, "auto", NULL, 0); /* as if never called */
        return api_error(vm, ADEAD_E_ARG, "adead_vm_set_executor: %s", why);
    }
    return ADEAD_OK;
}

adead_vm *adead_vm_new(const adead_program *prog)
{
    if (!prog) return NULL;
    adead_vm *vm = calloc(1, sizeof *vm);
    if (!vm) return NULL;
    const bib_module *m = &prog->mod;
    vm->prog = prog;
    vm->code = decode_module(m);
    vm->tensors = calloc(m->n_tensors + 1, sizeof *vm->tensors);
    vm->bindings = calloc(m->n_tensors + 1, sizeof *vm->bindings);
    vm->tasks = calloc(VM_MAX_TASKS, sizeof *vm->tasks);
    vm->place = calloc(m->n_tensors + 1, sizeof *vm->place);
    if (!vm->code || !vm->tensors || !vm->bindings || !vm->tasks || !vm->place) {
        adead_vm_free(vm);
        return NULL;
    }
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        vm->tensors[t].rank = -1;
        vm->tensors[t].dtype = m->tensors[t].dtype;
    }
    vm->fuel = INT64_MAX;
    vm->fuel_granted = INT64_MAX;
    vm->patch_pc = -1;
    vm->handlers_traced = -1;
    vm->mem_limit = ADEAD_DEFAULT_MEMORY;
    vm->print_fn = write_stdout;
    vm->dispatch.cpu = cpu_registry()->device(0);
    dispatch_set_defaults(&vm->dispatch);
    vm->gpu_mem_limit = UINT64_MAX;
    char why[160];
    if (open_cpu_queue(vm, "auto", 0, why, sizeof why)) {
        adead_vm_free(vm);
        return NULL;
    }
    apply_environment(vm);
    attach_plugins(vm, NULL);
    const char *exec = getenv("ADEAD_EXECUTOR");
    if (exec && *exec && strcmp(exec, "auto")) {
        char why[300];
        if (select_executor(vm, exec, why, sizeof why)) {
            snprintf(vm->executor_env_err, sizeof vm->executor_env_err, "ADEAD_EXECUTOR=%.40s: %.200s", exec, why);
            select_executor(vm, "auto", NULL, 0);
        }
    }
    vm->state = VM_FRESH;
    return vm;
}

void adead_vm_free(adead_vm *vm)
{
    if (!vm) return;
    if (vm->tasks && vm->tensors) dematerialize(vm);
    if (vm->bindings)
        for (uint32_t t = 0; t < vm->prog->mod.n_tensors; t++) free(vm->bindings[t].data);
    free(vm->bindings);
    free(vm->tasks);
    free(vm->code);
    free(vm->tensors);
    if (vm->cpu_queue) vm->cpu_queue->ops->close(vm->cpu_queue);
    detach_devices(vm);
    free(vm->place);
    adead_vm_set_profile(vm, 0);
    free(vm);
}

static int api_error(adead_vm *vm, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->err, sizeof vm->err, fmt, ap);
    va_end(ap);
    vm->status = status;
    return status;
}

int adead_vm_set_fuel(adead_vm *vm, uint64_t fuel)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state != VM_FRESH && vm->state != VM_READY)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_set_fuel: the VM has started; use adead_vm_add_fuel");
    vm->fuel = (!fuel || fuel > INT64_MAX) ? INT64_MAX : (int64_t)fuel;
    vm->fuel_granted = (uint64_t)vm->fuel;
    return ADEAD_OK;
}

int adead_vm_add_fuel(adead_vm *vm, uint64_t fuel)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state == VM_DONE || vm->state == VM_FAILED)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_add_fuel: the VM has finished");
    uint64_t room = (uint64_t)INT64_MAX - (uint64_t)vm->fuel;
    uint64_t add = fuel < room ? fuel : room;
    vm->fuel += (int64_t)add;
    vm->fuel_granted += add;
    return ADEAD_OK;
}

int adead_vm_set_memory_limit(adead_vm *vm, uint64_t bytes)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state != VM_FRESH) return api_error(vm, ADEAD_E_ARG, "adead_vm_set_memory_limit: call it before running");
    vm->mem_limit = bytes;
    return ADEAD_OK;
}

int vm_attach_device(adead_vm *vm, adead_exec_device *dev, const char *params, char *err, size_t errlen)
{
    if (vm->state != VM_FRESH || vm->n_devices == VM_MAX_DEVICES) {
        snprintf(err, errlen, "a device executor is attached before the first run, at most %d", VM_MAX_DEVICES);
        return ADEAD_E_ARG;
    }
    vm_device *dv = &vm->devices[vm->n_devices];
    memset(dv, 0, sizeof *dv);
    int st = dev->ops->open_queue(dev, params, &dv->queue, err, errlen);
    if (st) return st == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_ARG;
    const adead_exec_queue_ops *qo = dv->queue->ops;
    if (!qo || qo->abi != ADEAD_EXEC_ABI || qo->size < sizeof *qo) { /* an older or foreign plugin */
        snprintf(err, errlen, "%s: its queue speaks another executor ABI or an older one", dev->name);
        if (qo && qo->close) qo->close(dv->queue);
        dv->queue = NULL;
        return ADEAD_E_ARG;
    }
    dv->dev = dev;
    vm->dispatch.gpu[vm->n_devices] = dev;
    vm->dispatch.n_gpu = ++vm->n_devices;
    return ADEAD_OK;
}

int adead_vm_set_gpu_memory_limit(adead_vm *vm, uint64_t bytes)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state != VM_FRESH) return api_error(vm, ADEAD_E_ARG, "adead_vm_set_gpu_memory_limit: call it before running");
    vm->gpu_mem_limit = bytes ? bytes : UINT64_MAX;
    return ADEAD_OK;
}

int adead_vm_set_simd(adead_vm *vm, const char *level)
{
    if (!vm) return ADEAD_E_ARG;
    if (!level) level = "auto";
    char why[160];
    if (strlen(level) >= sizeof vm->cpu_simd || strchr(level, ','))
        return api_error(vm, ADEAD_E_ARG, "adead_vm_set_simd: \"%.40s\" is not a SIMD level (scalar, sse2, avx2, avx512, neon, auto)", level);
    int st = open_cpu_queue(vm, level, vm->cpu_threads, why, sizeof why);
    if (st == ADEAD_EXEC_BAD_PARAMS)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_set_simd: \"%.40s\" is %s", level, why);
    if (st) return api_error(vm, ADEAD_E_ARG, "adead_vm_set_simd: %s", why);
    vm->simd_env_err[0] = 0; /* an explicit choice replaces the environment's */
    return ADEAD_OK;
}

int adead_vm_set_threads(adead_vm *vm, int threads)
{
    if (!vm) return ADEAD_E_ARG;
    if (threads < 0 || threads > MAX_THREADS)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_set_threads: %d is not a thread count (0..%d; 0 = all cores)", threads, MAX_THREADS);
    char why[160];
    if (open_cpu_queue(vm, vm->cpu_simd, threads, why, sizeof why))
        return api_error(vm, ADEAD_E_NOMEM, "adead_vm_set_threads: %s", why);
    vm->threads_env_err[0] = 0; /* an explicit choice replaces the environment's */
    return ADEAD_OK;
}

/* The CPU queue's settings, "simd=avx512,threads=2", read back. */
static const char *cpu_setting(const adead_vm *vm, const char *key, char *buf, size_t len)
{
    const char *s = vm->cpu_queue->ops->settings(vm->cpu_queue), *p = strstr(s, key);
    size_t n = 0;
    if (p) {
        p += strlen(key);
        n = strcspn(p, ",");
    }
    snprintf(buf, len, "%.*s", (int)n, p ? p : "");
    return buf;
}

const char *adead_vm_simd(const adead_vm *vm)
{
    static const char *const levels[] = {"scalar", "sse2", "avx2", "avx512", "neon"};
    if (!vm) return "?";
    char level[16];
    cpu_setting(vm, "simd=", level, sizeof level);
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp(level, levels[i])) return levels[i]; /* a static string, as before */
    return "?";
}

int adead_vm_threads(const adead_vm *vm)
{
    char n[16];
    return vm ? atoi(cpu_setting(vm, "threads=", n, sizeof n)) : 0;
}

void adead_vm_set_print(adead_vm *vm, adead_write_fn fn, void *user)
{
    if (!vm) return;
    vm->print_fn = fn;
    vm->print_user = user;
}

void adead_vm_set_trace(adead_vm *vm, adead_write_fn fn, void *user)
{
    if (!vm) return;
    vm->trace_fn = fn;
    vm->trace_user = user;
}

/* Back to the state of a new VM: no memory, no tensors, no tasks (a failed set-up is undone,
 * so the caller may raise the memory limit and try again). */
static void dematerialize(adead_vm *vm)
{
    task_free_all(vm);
    for (uint32_t t = 0; t < vm->prog->mod.n_tensors; t++) {
        vm->tensors[t].rank = -1;
        vm->tensors[t].count = 0;
        vm->tensors[t].off = 0;
    }
    residency_free_all(vm);
    tensor_release_buffers(vm);
    arena_destroy(&vm->arena, &vm->heap);
    heap_destroy(&vm->heap);
}

/* A tensor's contents at the start: what the host bound, its initial constant, zeros of its
 * declared shape, or nothing. */
static int lay_out(adead_vm *vm, uint32_t t)
{
    const bib_tensor *bt = &vm->prog->mod.tensors[t];
    const vm_binding *b = &vm->bindings[t];
    if (b->set) {
        int rc = tensor_set_shape(vm, NO_PC, t, b->rank, b->dims);
        const vm_tensor *vt = &vm->tensors[t];
        if (!rc && vt->count) memcpy(tensor_data(vm, vt), b->data, (size_t)vt->count * bib_dtype_size(vt->dtype));
        return rc;
    }
    if (bt->init != BIB_NONE) return tensor_from_const(vm, NO_PC, t, bt->init);
    if (bt->flags & BIB_T_SHAPED) {
        int64_t dims[4] = {bt->dims[0], bt->dims[1], bt->dims[2], bt->dims[3]};
        return tensor_set_shape(vm, NO_PC, t, (int)bt->rank, dims);
    }
    return ADEAD_OK;
}

/* The first run: memory, every tensor in slot order, the main task. */
static int materialize(adead_vm *vm)
{
    if (vm->state != VM_FRESH) return ADEAD_OK;
    const adead_program *p = vm->prog;
    for (int i = 0; i < p->n_inputs; i++) {
        uint32_t slot = p->inputs[i];
        if (!vm->bindings[slot].set && p->mod.tensors[slot].init == BIB_NONE)
            return api_error(vm, ADEAD_E_ARG, "%s: input %s is not bound (and has no initial value)", p->name, p->names.tensor[slot]);
    }
    int rc = heap_init(&vm->heap, vm->mem_limit) ? api_error(vm, ADEAD_E_NOMEM, "the host is out of memory") : ADEAD_OK;
    for (uint32_t t = 0; t < p->mod.n_tensors && !rc; t++) rc = lay_out(vm, t);
    uint64_t id;
    if (!rc) rc = task_spawn(vm, NO_PC, 0, 0, &id);
    if (rc) { /* undone, so that the host may raise the memory limit and run again */
        dematerialize(vm);
        return rc;
    }
    for (uint32_t t = 0; t < p->mod.n_tensors; t++) { /* the copies are in VM memory now */
        free(vm->bindings[t].data);
        vm->bindings[t].data = NULL;
    }
    vm->state = VM_READY;
    return ADEAD_OK;
}

static int find_tensor(const adead_program *p, const uint32_t *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(p->names.tensor[list[i]], name)) return (int)list[i];
    return -1;
}

int adead_vm_bind(adead_vm *vm, const char *name, adead_dtype dtype, int rank, const int64_t *dims, const void *data)
{
    if (!vm) return ADEAD_E_ARG;
    if (!name || (rank && !dims) || rank < 0 || rank > ADEAD_MAX_RANK)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_bind: bad arguments (name, rank 0..4, dims)");
    if (vm->state != VM_FRESH) return api_error(vm, ADEAD_E_ARG, "adead_vm_bind: the VM has started running");
    const adead_program *p = vm->prog;
    int slot = find_tensor(p, p->inputs, p->n_inputs, name);
    if (slot < 0) {
        char names[256] = "";
        size_t n = 0;
        for (int i = 0; i < p->n_inputs && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", adead_program_input_name(p, i));
        return api_error(vm, ADEAD_E_ARG, "%s: there is no input named \"%s\" (%s%s)", p->name, name,
                         p->n_inputs ? "its inputs: " : "it has no inputs", names);
    }
    const bib_tensor *bt = &p->mod.tensors[slot];
    if ((uint32_t)dtype != bt->dtype)
        return api_error(vm, ADEAD_E_ARG, "input %s is %s, the data given is %s", name, bib_dtype_name(bt->dtype),
                         bib_dtype_name((uint32_t)dtype));
    if (bt->flags & BIB_T_SHAPED) {
        int same = (uint32_t)rank == bt->rank;
        for (int i = 0; same && i < rank; i++) same = dims[i] == (int64_t)bt->dims[i];
        if (!same) {
            char given[128] = "[", declared[128] = "[";
            for (int i = 0; i < rank; i++)
                snprintf(given + strlen(given), sizeof given - strlen(given), "%s%" PRId64, i ? "," : "", dims[i]);
            for (uint32_t i = 0; i < bt->rank; i++)
                snprintf(declared + strlen(declared), sizeof declared - strlen(declared), "%s%" PRIu64, i ? "," : "",
                         (uint64_t)bt->dims[i]);
            return api_error(vm, ADEAD_E_ARG, "input %s: the shape given, %s], differs from the declared %s]", name, given,
                             declared);
        }
    }
    int64_t count = tensor_shape_count(rank, dims);
    if (count < 0)
        return api_error(vm, ADEAD_E_ARG, "input %s: a dimension is negative, or a dimension or the element count is over 2^40", name);
    if (count && !data) return api_error(vm, ADEAD_E_ARG, "adead_vm_bind: input %s: data is NULL", name);
    uint64_t bytes = (uint64_t)count * bib_dtype_size(bt->dtype);
    if (bytes > vm->mem_limit)
        return api_error(vm, ADEAD_E_MEMORY, "input %s: %" PRIu64 " bytes are over the memory limit (%" PRIu64 " bytes)", name, bytes,
                         vm->mem_limit);
    void *copy = malloc(bytes ? (size_t)bytes : 1);
    if (!copy) return api_error(vm, ADEAD_E_NOMEM, "input %s: the host is out of memory for %" PRIu64 " bytes", name, bytes);
    if (bytes) memcpy(copy, data, (size_t)bytes);
    vm_binding *b = &vm->bindings[slot];
    free(b->data);
    b->set = 1;
    b->rank = rank;
    memset(b->dims, 0, sizeof b->dims);
    for (int i = 0; i < rank; i++) b->dims[i] = dims[i];
    b->data = copy;
    return ADEAD_OK;
}

int adead_vm_run(adead_vm *vm)
{
    if (!vm) return ADEAD_E_ARG;
    if (vm->state == VM_DONE || vm->state == VM_FAILED)
        return api_error(vm, ADEAD_E_ARG, "adead_vm_run: this VM has finished; create a new VM to run again");
    if (vm->simd_env_err[0]) return api_error(vm, ADEAD_E_ARG, "%s", vm->simd_env_err);
    if (vm->threads_env_err[0]) return api_error(vm, ADEAD_E_ARG, "%s", vm->threads_env_err);
    if (vm->executor_env_err[0]) return api_error(vm, ADEAD_E_ARG, "%s", vm->executor_env_err);
    int rc = materialize(vm); /* a failure leaves the VM fresh: bind or raise the limit, and run again */
    if (rc) return rc;
    vm->err[0] = 0;
    vm->status = ADEAD_OK;
    c_numeric_scope num; /* round-to-nearest and "0.5", whatever the host set; restored after */
    c_numeric_enter(&num);
    interp_bind_handlers(vm);
    rc = interp_run(vm);
    c_numeric_leave(&num);
    vm->state = rc == ADEAD_OK ? VM_DONE : rc == ADEAD_E_FUEL ? VM_SUSPENDED : VM_FAILED;
    vm->status = rc;
    return rc;
}

uint64_t adead_vm_instructions(const adead_vm *vm)
{
    return vm ? vm->fuel_granted - (uint64_t)(vm->fuel > 0 ? vm->fuel : 0) : 0;
}

const char *adead_vm_error(const adead_vm *vm) { return vm ? vm->err : "no VM"; }

static int output_slot(adead_vm *vm, const char *name, int *slot)
{
    const adead_program *p = vm->prog;
    if (vm->state != VM_DONE) return api_error(vm, ADEAD_E_ARG, "outputs are read after a run that ended with HALT");
    *slot = find_tensor(p, p->outputs, p->n_outputs, name);
    if (*slot < 0) return api_error(vm, ADEAD_E_ARG, "%s: there is no output named \"%s\"", p->name, name);
    if (vm->tensors[*slot].rank < 0) return api_error(vm, ADEAD_E_ARG, "output %s was never written (the tensor is empty)", name);
    return ADEAD_OK;
}

int adead_vm_output(const adead_vm *cvm, const char *name, adead_tensor_view *out)
{
    adead_vm *vm = (adead_vm *)cvm; /* only the error text changes */
    if (!vm || !name || !out) return ADEAD_E_ARG;
    int slot = -1, rc = output_slot(vm, name, &slot);
    if (rc) return rc;
    const vm_tensor *t = &vm->tensors[slot];
    out->dtype = (adead_dtype)t->dtype;
    out->rank = t->rank;
    for (int i = 0; i < ADEAD_MAX_RANK; i++) out->dims[i] = i < t->rank ? t->dims[i] : 0;
    out->nbytes = (size_t)t->count * bib_dtype_size(t->dtype);
    out->data = t->count ? tensor_data(vm, t) : NULL;
    return ADEAD_OK;
}

static void put_le(sha256_ctx *c, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    sha256_update(c, b, (size_t)bytes);
}

int adead_vm_digest(const adead_vm *vm, char hex[65])
{
    if (!vm || !hex) return ADEAD_E_ARG;
    sha256_ctx c;
    sha256_init(&c);
    const adead_program *p = vm->prog;
    for (int i = 0; i < p->n_outputs; i++) {
        const char *name = p->names.tensor[p->outputs[i]];
        adead_tensor_view t;
        int rc = adead_vm_output(vm, name, &t);
        if (rc) return rc;
        sha256_update(&c, name, strlen(name) + 1);
        put_le(&c, (uint64_t)t.dtype, 4);
        put_le(&c, (uint64_t)t.rank, 4);
        for (int d = 0; d < t.rank; d++) put_le(&c, (uint64_t)t.dims[d], 8);
        if (t.nbytes) sha256_update(&c, t.data, t.nbytes);
    }
    unsigned char d[32];
    sha256_final(&c, d);
    sha256_hex(d, hex);
    return ADEAD_OK;
}
