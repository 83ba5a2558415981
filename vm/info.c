/* adead_system_info: what `adead-vm --info` prints. The host's features as the CPU executor
 * sees them, the executors, the dispatch rule, and what choosing an executor costs, measured
 * now on this host. */
#include "../backends/cpu/cpu_features.h"
#include "../backends/cpu/cpu_reg.h"
#include "../backends/registry.h"
#include "dispatch.h"
#include "../util/textbuf.h"
#include "vm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double dispatch_cost_ns(adead_exec_device *cpu, adead_exec_device *gpu, long decisions)
{
    /* Varied ops (1-3 inputs, sizes on both sides of the threshold, a quarter of them resident
     * on the GPU) so that the branches are not trivially predicted. */
    enum { OPS = 256 };
    adead_exec_op *ops = malloc(OPS * sizeof *ops); /* 60 KiB: not on the caller's stack */
    int residency[OPS];
    if (!ops) return -1.0;
    uint32_t s = 12345;
    for (int i = 0; i < OPS; i++) {
        memset(&ops[i], 0, sizeof ops[i]);
        s = s * 1664525u + 1013904223u;
        ops[i].kernel = ADEAD_K_MATMUL;
        ops[i].n_in = 1 + (s >> 24) % 3;
        for (uint32_t j = 0; j <= ops[i].n_in; j++) {
            s = s * 1664525u + 1013904223u;
            (j < ops[i].n_in ? &ops[i].in[j] : &ops[i].out)->count = (int64_t)1 << ((s >> 27) % 23);
        }
        residency[i] = gpu && (s >> 20) % 4 == 0 ? 0 : -1;
    }
    dispatch_rules r;
    memset(&r, 0, sizeof r);
    r.cpu = cpu;
    r.gpu[0] = gpu;
    r.n_gpu = gpu != NULL;
    dispatch_set_defaults(&r);
    uintptr_t sink = 0;
    double t = seconds();
    for (long i = 0; i < decisions; i++) {
        const adead_exec_op *op = &ops[i % OPS];
        const dispatch_rules *rp = &r;
        /* Hide the operands from the optimiser: each call must decide anew, as in tensor_op. */
        __asm__ volatile("" : "+r"(op), "+r"(rp));
        sink += (uintptr_t)dispatch_choose(rp, op, residency[i % OPS]);
    }
    t = seconds() - t;
    volatile uintptr_t keep = sink; /* the choices are used */
    (void)keep;
    free(ops);
    return t * 1e9 / (double)decisions;
}

/* The stand-in GPU of the measurement: it takes every op. */
static int stand_in_supports(const adead_exec_device *ex, const adead_exec_op *op)
{
    (void)ex;
    (void)op;
    return 1;
}

static void cache_text(textbuf *b, const char *name, uint32_t bytes)
{
    if (!bytes) tb_printf(b, " %s ?", name);
    else if (bytes >= 1u << 20) tb_printf(b, " %s %u MiB", name, bytes >> 20);
    else tb_printf(b, " %s %u KiB", name, bytes >> 10);
}

char *adead_system_info(void)
{
    const cpu_info *ci = cpu_detect();
    textbuf b = {0};
    char feat[256];
    cpu_feature_text(feat, sizeof feat);
    tb_printf(&b, "adead-vm %s\n", adead_version());
    tb_printf(&b, "cpu: %s%s%s%s, %d core%s;", ci->brand, ci->model[0] ? " (" : "", ci->model, ci->model[0] ? ")" : "",
              ci->cores, ci->cores == 1 ? "" : "s");
    cache_text(&b, "L1d", ci->l1d);
    cache_text(&b, "L2", ci->l2);
    cache_text(&b, "L3", ci->l3);
    tb_printf(&b, "\nsimd: best %s; features: %s\n", simd_name(ci->best), feat);
    tb_printf(&b, "simd levels usable here:");
    for (int l = 0; l < SIMD_LEVELS; l++)
        if (ci->has[l]) tb_printf(&b, " %s", simd_name((simd_level)l));
    const char *es = getenv("ADEAD_SIMD"), *et = getenv("ADEAD_THREADS");
    tb_printf(&b, "\nenvironment: ADEAD_SIMD=%s ADEAD_THREADS=%s\n", es ? es : "(unset)", et ? et : "(unset)");
    adead_exec_device *cpu = cpu_registry()->device(0);
    adead_exec_queue *q = NULL;
    if (cpu->ops->open_queue(cpu, NULL, &q, NULL, 0) == ADEAD_EXEC_OK) {
        tb_printf(&b, "executors: cpu (by default %s; exact at every level)\n", q->ops->settings(q));
        q->ops->close(q);
        char *report = registry_report();
        tb_printf(&b, "%s", report ? report : "executor plugins: (out of memory)\n");
        free(report);
        tb_printf(&b, "dispatch: MATMUL and ATTENTION of >= %lld elements go to a GPU that supports them, other ops only "
                      "where their inputs already are, else the cpu\n",
                  (long long)DISPATCH_DEFAULT_GPU_MIN);
        static const adead_exec_device_ops stand_in_ops = {.supports = stand_in_supports};
        adead_exec_device stand_in;
        memset(&stand_in, 0, sizeof stand_in);
        stand_in.name = "stand-in gpu";
        stand_in.ops = &stand_in_ops;
        dispatch_cost_ns(cpu, &stand_in, 2000000); /* warm up */
        double here = dispatch_cost_ns(cpu, NULL, 20000000), one_gpu = dispatch_cost_ns(cpu, &stand_in, 20000000);
        tb_printf(&b, "dispatch cost: %.2f ns per decision here (no GPU), %.2f ns with one GPU that takes every op "
                  "(a stand-in; measured now)\n", here, one_gpu);
    }
    return tb_take(&b);
}
