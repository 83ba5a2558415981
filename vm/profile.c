/* The profiler (profile.h) and its two reports: a table for people, Chrome/Perfetto trace events
 * for tools (one track per executor queue). */
#include "profile.h"

#include "../isa/kernels.h"
#include "../util/textbuf.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t profile_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

prof_rec *profile_add(adead_vm *vm)
{
    vm_profile *p = vm->prof;
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? 2 * p->cap : 256;
        prof_rec *r = realloc(p->recs, cap * sizeof *r);
        if (!r) return NULL;
        p->recs = r;
        p->cap = cap;
    }
    prof_rec *r = &p->recs[p->n++];
    memset(r, 0, sizeof *r);
    return r;
}

void profile_completed(adead_vm *vm, int d, adead_exec_ticket t)
{
    uint64_t now = profile_now_ns();
    vm_profile *p = vm->prof;
    for (uint32_t i = p->n; i-- > 0;) {
        prof_rec *r = &p->recs[i];
        if (r->exec == d && !r->end_ns && r->ticket <= t) r->end_ns = now;
    }
}

int adead_vm_set_profile(adead_vm *vm, int on)
{
    if (!vm) return ADEAD_E_ARG;
    if (!on) {
        if (vm->prof) free(vm->prof->recs);
        free(vm->prof);
        vm->prof = NULL;
        return ADEAD_OK;
    }
    if (vm->prof) return ADEAD_OK;
    vm->prof = calloc(1, sizeof *vm->prof);
    if (!vm->prof) return ADEAD_E_NOMEM;
    vm->prof->t0_ns = profile_now_ns();
    return ADEAD_OK;
}

static const char *exec_name(const adead_vm *vm, int e) { return e < 0 ? "cpu" : vm->devices[e].dev->name; }

static const char *kernel_name(uint32_t id)
{
    const isa_kernel *k = isa_kernel_of_id(id);
    return k ? isa_ops[k->op].name : "?";
}

/* GFLOP/s for the matrix kernels, GB/s for the rest; "" when the op took no measurable time. */
static void rate_text(const prof_rec *r, char *buf, size_t len)
{
    double s = (double)(r->end_ns - r->start_ns) * 1e-9;
    if (!r->end_ns || s <= 0) snprintf(buf, len, "-");
    else if (r->flops > 0) snprintf(buf, len, "%.2f GFLOP/s", r->flops / s * 1e-9);
    else snprintf(buf, len, "%.2f GB/s", r->bytes / s * 1e-9);
}

char *adead_vm_profile_text(const adead_vm *vm)
{
    if (!vm || !vm->prof) return NULL;
    const vm_profile *p = vm->prof;
    textbuf b = {0};
    tb_printf(&b, "%-6s %-28s %-17s %-52s %-10s %12s %16s\n", "pc", "line", "kernel", "shapes", "executor", "time (us)", "rate");
    double total[ADEAD_K__END] = {0}, all = 0;
    uint32_t count[ADEAD_K__END] = {0};
    for (uint32_t i = 0; i < p->n; i++) {
        const prof_rec *r = &p->recs[i];
        char where[300], rate[32];
        const char *file;
        uint32_t line = bib_line_of(&vm->prog->mod, r->pc, &file);
        if (line) snprintf(where, sizeof where, "%s:%u", file, line);
        else snprintf(where, sizeof where, "-");
        rate_text(r, rate, sizeof rate);
        double us = r->end_ns ? (double)(r->end_ns - r->start_ns) * 1e-3 : 0;
        tb_printf(&b, "%-6u %-28s %-17s %-52s %-10s %12.2f %16s\n", r->pc, where, kernel_name(r->kernel), r->shapes,
                  exec_name(vm, r->exec), us, rate);
        if (r->kernel < ADEAD_K__END) {
            total[r->kernel] += us;
            count[r->kernel]++;
        }
        all += us;
    }
    tb_printf(&b, "summary: %u ops, %.2f us in all\n", p->n, all);
    for (uint32_t k = 0; k < ADEAD_K__END; k++)
        if (count[k])
            tb_printf(&b, "  %-17s %6u ops %12.2f us %5.1f%%\n", kernel_name(k), count[k], total[k], all > 0 ? 100 * total[k] / all : 0);
    return tb_take(&b);
}

/* A JSON string's inside: the characters that need it escaped. */
static void json_text(textbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') tb_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) tb_printf(b, "\\u%04x", (unsigned)(unsigned char)*s);
        else tb_add(b, s, 1);
    }
}

char *adead_vm_trace_json(const adead_vm *vm)
{
    if (!vm || !vm->prof) return NULL;
    const vm_profile *p = vm->prof;
    textbuf b = {0};
    tb_printf(&b, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    for (int e = -1; e < vm->n_devices; e++) {
        tb_printf(&b, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"", e + 2);
        json_text(&b, exec_name(vm, e));
        tb_printf(&b, " queue\"}},\n");
    }
    for (uint32_t i = 0; i < p->n; i++) {
        const prof_rec *r = &p->recs[i];
        if (!r->end_ns) continue;
        const char *file;
        uint32_t line = bib_line_of(&vm->prog->mod, r->pc, &file);
        tb_printf(&b, "{\"name\":\"%s\",\"cat\":\"op\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"pc\":%u,",
                  kernel_name(r->kernel), r->exec + 2, (double)(r->start_ns - p->t0_ns) * 1e-3,
                  (double)(r->end_ns - r->start_ns) * 1e-3, r->pc);
        tb_printf(&b, "\"line\":\"");
        if (line) {
            json_text(&b, file);
            tb_printf(&b, ":%u", line);
        }
        tb_printf(&b, "\",\"shapes\":\"");
        json_text(&b, r->shapes);
        tb_printf(&b, "\",\"flops\":%.0f,\"bytes\":%.0f}},\n", r->flops, r->bytes);
    }
    tb_printf(&b, "{\"name\":\"end\",\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":1,\"ts\":%.3f}\n]}\n",
              (double)(profile_now_ns() - p->t0_ns) * 1e-3);
    return tb_take(&b);
}
