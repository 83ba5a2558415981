/* libadeadvm-small.so: a registry whose size says it ends before device (as if built against an
 * older header that lacked it). The loader must refuse it without calling anything in it. */
#include "../../include/adeadvm_exec.h"

#include <stddef.h>

static uint32_t score(char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return 3;
}

static uint32_t device_count(void) { return 0; }

static const adead_exec_registry registry = {ADEAD_EXEC_ABI, offsetof(adead_exec_registry, device), "small", score,
                                             device_count, NULL};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry(uint32_t host_abi) { return host_abi == ADEAD_EXEC_ABI ? &registry : NULL; }
