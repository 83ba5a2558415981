/* Finding and checking executors (registry.h). A plugin is trusted only as far as the abi and
 * size fields of its structs say: every member is checked before the first call through it, and
 * a plugin that fails a check is closed again and reported with the reason. */
#define _GNU_SOURCE /* dladdr1 and struct link_map: which file this code was loaded from */
#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/textbuf.h"
#include "cpu/cpu_reg.h"

#define PREFIX "libadeadvm-"
#define SUFFIX ".so"
#define MAX_DIRS 32

/* Written once under pthread_once, then only read. The CPU entry is static so that it exists
 * even when memory runs out. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static registry_entry cpu_entry;
static registry_entry *plugins;
static int n_plugins, cap_plugins, plugins_lost;
static char dirs[MAX_DIRS][512];
static int n_dirs;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void append(char *dst, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(dst);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + n, cap - n, fmt, ap);
    va_end(ap);
}

/* Plugin text goes into one-line messages: cut it at its first line break. */
static void one_line(char *s)
{
    s[strcspn(s, "\r\n")] = 0;
}

/* The length of <name> when file is "libadeadvm-<name>.so" with a non-empty name, else 0. */
static size_t plugin_name(const char *file)
{
    size_t n = strlen(file), pre = strlen(PREFIX), suf = strlen(SUFFIX);
    if (n <= pre + suf || strncmp(file, PREFIX, pre) || strcmp(file + n - suf, SUFFIX)) return 0;
    return n - pre - suf;
}

static const char *check_registry(const adead_exec_registry *reg, const char *file_name, char *why, size_t whylen)
{
    if (reg->abi != ADEAD_EXEC_ABI)
        snprintf(why, whylen, "its registry speaks executor ABI %u (this library speaks ABI %d)", reg->abi,
                 ADEAD_EXEC_ABI);
    /* Members are only added at the end: a smaller struct lacks some this library calls. */
    else if (reg->size < sizeof *reg)
        snprintf(why, whylen, "its registry struct is %u bytes, older than this library's %zu", reg->size,
                 sizeof *reg);
    else if (!reg->name || !reg->score || !reg->device_count || !reg->device)
        snprintf(why, whylen, "its registry lacks name, score, device_count or device");
    else if (file_name && strcmp(reg->name, file_name))
        snprintf(why, whylen, "its registry is named \"%.31s\", not \"%s\" as its file", reg->name, file_name);
    else
        return NULL;
    return why;
}

static const char *check_device(const adead_exec_device *d, char *why, size_t whylen)
{
    const adead_exec_device_ops *ops = d ? d->ops : NULL;
    if (!ops)
        snprintf(why, whylen, "%s", d ? "it has no ops" : "it is NULL");
    else if (ops->abi != ADEAD_EXEC_ABI)
        snprintf(why, whylen, "its ops speak executor ABI %u (this library speaks ABI %d)", ops->abi, ADEAD_EXEC_ABI);
    else if (ops->size < sizeof *ops)
        snprintf(why, whylen, "its ops struct is %u bytes, older than this library's %zu", ops->size, sizeof *ops);
    else if (!d->name)
        snprintf(why, whylen, "it has no name");
    else if (!ops->supports || !ops->memory || !ops->alloc || !ops->open_queue)
        snprintf(why, whylen, "its ops lack supports, memory, alloc or open_queue");
    else if ((d->caps & ADEAD_EXEC_CAP_HOST_MEMORY) && !ops->wrap_host)
        snprintf(why, whylen, "it claims host memory but has no wrap_host");
    else
        return NULL;
    return why;
}

/* Check reg, ask its score, and take the devices that pass their checks. file_name: the <name> of
 * its file (NULL for the built-in one). */
static registry_state take_registry(const adead_exec_registry *reg, const char *file_name, registry_entry *out)
{
    if (check_registry(reg, file_name, out->why, sizeof out->why)) return REGISTRY_REFUSED;
    snprintf(out->name, sizeof out->name, "%s", reg->name);

    char why[256] = "";
    uint32_t score = reg->score(why, sizeof why);
    why[sizeof why - 1] = 0; /* in case it filled the buffer without a NUL */
    one_line(why);
    if (!score) {
        snprintf(out->why, sizeof out->why, "%s", why[0] ? why : "its score is 0 (no reason given)");
        return REGISTRY_NOT_HERE;
    }

    uint32_t n = reg->device_count();
    if (!n) {
        snprintf(out->why, sizeof out->why, "score %u but no device", score);
        return REGISTRY_NOT_HERE;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *sep = out->skipped[0] ? "; " : "";
        if (out->n_devices == REGISTRY_MAX_DEVICES) {
            append(out->skipped, sizeof out->skipped, "%sdevices %u to %u: more than %d", sep, i, n - 1,
                   REGISTRY_MAX_DEVICES);
            break;
        }
        adead_exec_device *d = reg->device(i);
        const char *bad = check_device(d, why, sizeof why);
        if (bad) append(out->skipped, sizeof out->skipped, "%sdevice %u: %s", sep, i, bad);
        else out->devices[out->n_devices++] = d;
    }
    if (!out->n_devices) {
        snprintf(out->why, sizeof out->why, "no device passed its checks (%.220s)", out->skipped);
        return REGISTRY_REFUSED;
    }
    out->reg = reg;
    out->score = score;
    return REGISTRY_USABLE;
}

int registry_load(const char *path, registry_entry *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->state = REGISTRY_REFUSED;
    if (err && errlen) err[0] = 0;
    snprintf(out->path, sizeof out->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = plugin_name(base);
    snprintf(out->name, sizeof out->name, "%.*s", (int)len, base + strlen(PREFIX));

    void *handle = NULL;
    if (strlen(path) >= sizeof out->path)
        snprintf(out->why, sizeof out->why, "its path is longer than %zu bytes", sizeof out->path - 1);
    else if (!len)
        snprintf(out->why, sizeof out->why, "not named " PREFIX "<name>" SUFFIX);
    else if (len >= sizeof out->name)
        snprintf(out->why, sizeof out->why, "its name is longer than %zu characters", sizeof out->name - 1);
    else if (!(handle = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        /* dlerror usually starts with the path, which the message already names. */
        const char *e = dlerror();
        e = e ? e : "dlopen failed";
        size_t n = strlen(path);
        if (!strncmp(e, path, n) && !strncmp(e + n, ": ", 2)) e += n + 2;
        snprintf(out->why, sizeof out->why, "%s", e);
        one_line(out->why);
    } else {
        void *sym = dlsym(handle, ADEAD_EXEC_ENTRY_NAME);
        adead_exec_entry_fn entry;
        memcpy(&entry, &sym, sizeof entry); /* POSIX: dlsym's object pointer holds a function */
        const adead_exec_registry *reg = sym ? entry(ADEAD_EXEC_ABI) : NULL;
        if (!sym)
            snprintf(out->why, sizeof out->why, "it has no " ADEAD_EXEC_ENTRY_NAME " symbol (not an executor plugin)");
        else if (!reg)
            snprintf(out->why, sizeof out->why, "built for another executor ABI (this library speaks ABI %d)",
                     ADEAD_EXEC_ABI);
        else
            out->state = take_registry(reg, out->name, out);
    }
    if (out->state != REGISTRY_USABLE) {
        /* Nothing of it is used: its file goes, and no pointer into it is kept. */
        out->reg = NULL;
        out->n_devices = 0;
        if (handle) dlclose(handle);
    }
    if (out->state == REGISTRY_REFUSED) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, out->why);
        return -1;
    }
    return 0;
}

/* The directory of the file this code is in: libadeadvm.so, or the executable the static library
 * was linked into (whose link_map name is ""). "" when it cannot be told. */
static void library_dir(char *dir, size_t n)
{
    Dl_info info;
    struct link_map *map = NULL;
    char file[PATH_MAX] = "", real[PATH_MAX];
    dir[0] = 0;
    if (dladdr1(&once, &info, (void **)&map, RTLD_DL_LINKMAP) && map && map->l_name && map->l_name[0]) {
        snprintf(file, sizeof file, "%s", map->l_name);
    } else {
        ssize_t k = readlink("/proc/self/exe", file, sizeof file - 1);
        if (k <= 0) return;
        file[k] = 0;
    }
    if (!realpath(file, real)) return;
    char *slash = strrchr(real, '/');
    if (!slash) return;
    slash[slash == real] = 0; /* keep "/" itself */
    if (strlen(real) < n) memcpy(dir, real, strlen(real) + 1);
}

static void add_dir(const char *dir, size_t len)
{
    if (!len || len >= sizeof dirs[0] || n_dirs == MAX_DIRS) return;
    for (int i = 0; i < n_dirs; i++)
        if (strlen(dirs[i]) == len && !strncmp(dirs[i], dir, len)) return;
    memcpy(dirs[n_dirs], dir, len);
    dirs[n_dirs++][len] = 0;
}

static int known(const char *name, size_t len)
{
    if (strlen(cpu_entry.name) == len && !strncmp(cpu_entry.name, name, len)) return 1;
    for (int i = 0; i < n_plugins; i++)
        if (strlen(plugins[i].name) == len && !strncmp(plugins[i].name, name, len)) return 1;
    return 0;
}

static void add_plugin(const char *dir, const char *file)
{
    if (known(file + strlen(PREFIX), plugin_name(file))) return; /* the first file for a name wins */
    if (n_plugins == cap_plugins) {
        int cap = cap_plugins ? 2 * cap_plugins : 8;
        registry_entry *bigger = realloc(plugins, (size_t)cap * sizeof *plugins);
        if (!bigger) {
            plugins_lost++;
            return;
        }
        plugins = bigger;
        cap_plugins = cap;
    }
    size_t len = strlen(dir) + strlen(file) + 2;
    char *path = malloc(len);
    if (!path) {
        plugins_lost++;
        return;
    }
    snprintf(path, len, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", file);
    registry_load(path, &plugins[n_plugins++], NULL, 0); /* a path too long is refused there */
    free(path);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Its plugin files in name order, so that the table does not depend on readdir's order. */
static void scan_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!plugin_name(e->d_name)) continue;
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            char **bigger = realloc(names, c * sizeof *names);
            if (!bigger) break;
            names = bigger;
            cap = c;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        add_plugin(dir, names[i]);
        free(names[i]);
    }
    free(names);
}

static void init(void)
{
    const adead_exec_registry *cpu = cpu_registry();
    snprintf(cpu_entry.name, sizeof cpu_entry.name, "cpu");
    if (!cpu) {
        cpu_entry.state = REGISTRY_REFUSED;
        snprintf(cpu_entry.why, sizeof cpu_entry.why, "the built-in registry is missing");
    } else {
        cpu_entry.state = take_registry(cpu, NULL, &cpu_entry);
    }

    /* The library's (or executable's) own directory, its adeadvm/ (where `make install` puts
     * plugins beside libadeadvm.so) and ../lib/adeadvm/ (the same seen from bin/). */
    char dir[512], sub[600];
    library_dir(dir, sizeof dir);
    add_dir(dir, strlen(dir));
    if (dir[0]) {
        snprintf(sub, sizeof sub, "%s/adeadvm", strcmp(dir, "/") ? dir : "");
        add_dir(sub, strlen(sub));
        snprintf(sub, sizeof sub, "%s/../lib/adeadvm", strcmp(dir, "/") ? dir : "");
        char real[PATH_MAX];
        if (realpath(sub, real)) add_dir(real, strlen(real));
    }
    /* Empty components are skipped, not read as the current directory. */
    const char *p = getenv("ADEAD_PLUGIN_PATH");
    while (p && *p) {
        size_t len = strcspn(p, ":");
        add_dir(p, len);
        p += len + (p[len] == ':');
    }
    add_dir(ADEAD_PLUGIN_DIR, strlen(ADEAD_PLUGIN_DIR));
    for (int i = 0; i < n_dirs; i++) scan_dir(dirs[i]);
}

int registry_count(void)
{
    pthread_once(&once, init);
    return 1 + n_plugins;
}

const registry_entry *registry_get(int i)
{
    pthread_once(&once, init);
    if (i == 0) return &cpu_entry;
    return i > 0 && i <= n_plugins ? &plugins[i - 1] : NULL;
}

static void report_entry(textbuf *b, const registry_entry *e)
{
    const char *where = e->path[0] ? e->path : "built in";
    tb_printf(b, "executor %s: ", e->name);
    if (e->state == REGISTRY_NOT_HERE) {
        tb_printf(b, "not here: %s\n", e->why);
        return;
    }
    if (e->state == REGISTRY_REFUSED) {
        tb_printf(b, "refused: %s: %s\n", where, e->why);
        return;
    }
    tb_printf(b, "%s, score %u, %u device%s:", where, e->score, e->n_devices, e->n_devices == 1 ? "" : "s");
    for (uint32_t i = 0; i < e->n_devices; i++) {
        const adead_exec_device *d = e->devices[i];
        int exact = (d->caps & ADEAD_EXEC_CAP_EXACT) != 0;
        tb_printf(b, "%s %s (%s%s%s)", i ? "," : "", d->name, exact ? "exact" : "inexact",
                  !exact && d->inexact_reason ? ": " : "", !exact && d->inexact_reason ? d->inexact_reason : "");
    }
    if (e->skipped[0]) tb_printf(b, "; skipped %s", e->skipped);
    tb_printf(b, "\n");
}

char *registry_report(void)
{
    textbuf b = {0};
    int n = registry_count();
    for (int i = 0; i < n; i++) report_entry(&b, registry_get(i));
    tb_printf(&b, "executor plugins looked for in:");
    for (int i = 0; i < n_dirs; i++) tb_printf(&b, "%s %s", i ? "," : "", dirs[i]);
    tb_printf(&b, "%s\n", n_dirs ? "" : " (nowhere)");
    if (plugins_lost) tb_printf(&b, "executor plugins: %d files not looked at (out of memory)\n", plugins_lost);
    return tb_take(&b);
}
