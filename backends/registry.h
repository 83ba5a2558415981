/* The executors of this process: the built-in CPU registry, then the executor plugins
 * (libadeadvm-<name>.so, include/adeadvm_exec.h) found on the plugin path, each checked before it
 * is used. Discovery runs once per process; afterwards the table only is read (thread-safe). */
#ifndef ADEAD_REGISTRY_H
#define ADEAD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "../include/adeadvm_exec.h"

/* Where plugins are looked for last; the Makefile may pass $(PREFIX)/lib/adeadvm. */
#ifndef ADEAD_PLUGIN_DIR
#define ADEAD_PLUGIN_DIR "/usr/local/lib/adeadvm"
#endif

#include "../util/config.h" /* REGISTRY_MAX_DEVICES */

typedef enum {
    REGISTRY_USABLE,   /* reg and devices set, score > 0 */
    REGISTRY_NOT_HERE, /* it loaded, but said score 0 (why: its reason); its file is closed */
    REGISTRY_REFUSED   /* the file or its registry failed a check (why: which) */
} registry_state;

typedef struct {
    const adead_exec_registry *reg; /* NULL unless usable */
    registry_state state;
    char name[32];  /* the registry's name, or the file's <name> when it did not load */
    char path[512]; /* the file ("" for the built-in one) */
    uint32_t score; /* 0 = not usable here */
    char why[256];  /* not usable: the one-line reason */
    uint32_t n_devices;
    adead_exec_device *devices[REGISTRY_MAX_DEVICES]; /* the devices that passed their checks */
    char skipped[256]; /* devices left out, with reasons ("" if none) */
} registry_entry;

/* The table, built on the first call of either: entry 0 is the CPU, then every plugin file found
 * in the directory of libadeadvm itself (of the executable, for the static library), its
 * adeadvm/ and ../lib/adeadvm/ subdirectories (where the build and `make install` put them), each
 * directory of $ADEAD_PLUGIN_PATH (colon-separated), and ADEAD_PLUGIN_DIR; the first file for a
 * name wins. registry_get: NULL when i is out of range. */
int registry_count(void);
const registry_entry *registry_get(int i);

/* Load and check one plugin file (dlopen RTLD_NOW|RTLD_LOCAL, its entry called with
 * ADEAD_EXEC_ABI, then score()). 0 when it loaded (out->state USABLE or NOT_HERE); -1 when it was
 * refused, with "<path>: <reason>" in err. A usable plugin stays loaded for the process. */
int registry_load(const char *path, registry_entry *out, char *err, size_t errlen);

/* `adead-vm --info`'s lines about executors: one per entry, then the directories searched.
 * malloc'd (the caller frees it), or NULL when out of memory. */
char *registry_report(void);

#endif
