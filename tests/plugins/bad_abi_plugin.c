/* libadeadvm-badabi.so: a plugin built for a later executor ABI (99). Its entry, asked for the
 * host's ABI, answers NULL, as the ABI says; the loader must refuse it and name the file. */
#include "../../include/adeadvm_exec.h"

#include <stddef.h>

static uint32_t score(char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return 7;
}

static uint32_t device_count(void) { return 0; }

static adead_exec_device *get_device(uint32_t i)
{
    (void)i;
    return NULL;
}

static const adead_exec_registry registry = {99, sizeof(adead_exec_registry), "badabi", score, device_count,
                                             get_device};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry(uint32_t host_abi) { return host_abi == 99 ? &registry : NULL; }
