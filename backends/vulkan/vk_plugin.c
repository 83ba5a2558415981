/* libadeadvm-vulkan.so: the Vulkan executor behind the executor ABI (include/adeadvm_exec.h).
 * Scoring opens the loader and an instance, chooses devices (GPUs, discrete first; a software
 * device such as lavapipe only when asked for: it runs on the CPU, slower than the CPU executor),
 * and readies each: a compute queue, pipelines in the f32 build the device needs, and the
 * conformance probe. A device whose bits differ in both builds is inexact (relaxed programs only),
 * with the reason. Environment: ADEAD_VK_DEVICE=<index or name part> chooses one device (a
 * software one too); ADEAD_VK_SOFTWARE=1 or ADEAD_EXECUTOR=vulkan lets software devices in
 * after the GPUs;
 * ADEAD_VK_F32=native|emulated forces a build; ADEAD_VK_PIPELINE_CACHE=off keeps nothing on disk;
 * ADEAD_VK_LOADER=<path> opens another loader than libvulkan.so.1. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conformance/conformance.h"
#include "vk_internal.h"

#define MAX_DEVICES 16

static vk_dev devs[MAX_DEVICES];
static uint32_t n_devs;
static VkInstance instance;
static vk_instance_api vi;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char not_here[640];

adead_exec_status vk_status_of(VkResult r)
{
    switch (r) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return ADEAD_EXEC_DEVICE_MEMORY;
    case VK_ERROR_OUT_OF_HOST_MEMORY: return ADEAD_EXEC_HOST_MEMORY;
    case VK_ERROR_DEVICE_LOST: return ADEAD_EXEC_DEVICE_LOST;
    default: return ADEAD_EXEC_INTERNAL;
    }
}

/* ---- buffers ---- */

static void release(adead_exec_buffer *b)
{
    vk_pool_free((vk_dev *)b->device, (vk_block *)b->impl);
    free(b);
}

static const adead_exec_buffer_ops buffer_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_buffer_ops), release};

static adead_exec_status alloc(adead_exec_device *dev, uint64_t bytes, adead_exec_buffer **out)
{
    vk_dev *d = (vk_dev *)dev;
    adead_exec_buffer *b = calloc(1, sizeof *b);
    if (!b) return ADEAD_EXEC_HOST_MEMORY;
    vk_block *blk;
    VkResult r = vk_pool_alloc(d, bytes ? bytes : 1, &blk);
    if (r != VK_SUCCESS) {
        free(b);
        return vk_status_of(r);
    }
    b->ops = &buffer_ops;
    b->device = dev;
    b->size = bytes ? bytes : 1;
    b->impl = blk;
    *out = b;
    return ADEAD_EXEC_OK;
}

static adead_exec_status memory(const adead_exec_device *dev, uint64_t *free_bytes, uint64_t *total_bytes)
{
    vk_dev *d = (vk_dev *)dev;
    pthread_mutex_lock(&d->pool_mu);
    uint64_t used = d->used_bytes; /* what this process holds (the driver tells no more without an extension) */
    pthread_mutex_unlock(&d->pool_mu);
    if (free_bytes) *free_bytes = d->heap_bytes > used ? d->heap_bytes - used : 0;
    if (total_bytes) *total_bytes = d->heap_bytes;
    return ADEAD_EXEC_OK;
}

static int supports(const adead_exec_device *d, const adead_exec_op *op) { return vk_supports_op((const vk_dev *)d, op); }

static const adead_exec_device_ops device_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_device_ops), .supports = supports, .memory = memory,
    .alloc = alloc, .wrap_host = NULL, .open_queue = vk_open_queue,
};

/* ---- one device ---- */

static int find_memory(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((mp->memoryTypes[i].propertyFlags & want) == want && !(mp->memoryTypes[i].propertyFlags & avoid)) return (int)i;
    return -1;
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "software, on the CPU";
    default: return "other";
    }
}

/* The pipelines in d->emulate's build, then the probe: 0 when exact, else -1 with why. */
static int ready_build(vk_dev *d, char *why, size_t whylen)
{
    vk_pipelines_destroy(d);
    if (vk_pipelines_create(d, why, whylen)) return -1;
    adead_exec_queue *q = NULL;
    char err[300];
    if (vk_open_queue(&d->dev, NULL, &q, err, sizeof err) != ADEAD_EXEC_OK) {
        snprintf(why, whylen, "no queue for the conformance probe: %.200s", err);
        return -1;
    }
    int bad = conformance_probe(&d->dev, q, why, whylen);
    q->ops->close(q);
    vk_pipelines_save(d);
    return bad;
}

static int open_device(VkPhysicalDevice phys, uint32_t index, vk_dev *d, char *why, size_t whylen)
{
    memset(d, 0, sizeof *d);
    d->vi = &vi;
    d->phys = phys;
    vi.GetPhysicalDeviceProperties(phys, &d->props);
    const VkPhysicalDeviceProperties *p = &d->props;
    const VkPhysicalDeviceLimits *lim = &p->limits;
    snprintf(d->name, sizeof d->name, "%.120s (Vulkan %u.%u, %s, device %u)", p->deviceName, VK_API_VERSION_MAJOR(p->apiVersion),
             VK_API_VERSION_MINOR(p->apiVersion), type_name(p->deviceType), index);
    if (p->apiVersion < VK_API_VERSION_1_1) {
        snprintf(why, whylen, "%s: Vulkan 1.1 or later is needed", p->deviceName);
        return -1;
    }
    if (lim->maxComputeWorkGroupInvocations < 256 || lim->maxComputeSharedMemorySize < 16384 ||
        lim->maxPushConstantsSize < VK_PUSH_BYTES) {
        snprintf(why, whylen, "%s: compute limits too small (work groups of 256, 16 KiB shared memory)", p->deviceName);
        return -1;
    }
    uint32_t nf = 0;
    vi.GetPhysicalDeviceQueueFamilyProperties(phys, &nf, NULL);
    VkQueueFamilyProperties fam[32];
    if (nf > 32) nf = 32;
    vi.GetPhysicalDeviceQueueFamilyProperties(phys, &nf, fam);
    d->family = UINT32_MAX;
    for (uint32_t i = 0; i < nf && d->family == UINT32_MAX; i++) /* a compute-only family first: it may run beside graphics */
        if ((fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) d->family = i;
    for (uint32_t i = 0; i < nf && d->family == UINT32_MAX; i++)
        if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) d->family = i;
    if (d->family == UINT32_MAX) {
        snprintf(why, whylen, "%s: no compute queue", p->deviceName);
        return -1;
    }
    VkPhysicalDeviceMemoryProperties mp;
    vi.GetPhysicalDeviceMemoryProperties(phys, &mp);
    int md = find_memory(&mp, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    int ms = find_memory(&mp, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                  VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (ms < 0) ms = find_memory(&mp, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0);
    if (md < 0) md = ms;
    if (md < 0 || ms < 0) {
        snprintf(why, whylen, "%s: no usable memory type", p->deviceName);
        return -1;
    }
    d->mem_device = (uint32_t)md;
    d->mem_staging = (uint32_t)ms;
    d->heap_bytes = mp.memoryHeaps[mp.memoryTypes[md].heapIndex].size;
    d->max_range = lim->maxStorageBufferRange;
    d->align = lim->minStorageBufferOffsetAlignment ? lim->minStorageBufferOffsetAlignment : 4;
    d->max_groups = lim->maxComputeWorkGroupCount[0] < lim->maxComputeWorkGroupCount[1] ? lim->maxComputeWorkGroupCount[0]
                                                                                          : lim->maxComputeWorkGroupCount[1];
    VkPhysicalDeviceFeatures feat;
    vi.GetPhysicalDeviceFeatures(phys, &feat);
    d->has_f64 = feat.shaderFloat64 == VK_TRUE;
    /* MATMUL's tile: 128 x 128 with 8 x 8 per invocation where shared memory and registers allow
     * it on a GPU; 64 x 64 with 4 x 4 elsewhere (lavapipe's 32 KiB, its SIMD lanes). */
    int big = p->deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU && lim->maxComputeSharedMemorySize >= 2 * 8 * 128 * 4;
    d->tile = big ? (vk_matmul_tile){128, 128, 8, 8, 8} : (vk_matmul_tile){64, 64, 8, 4, 4};
    d->tile_small = (vk_matmul_tile){32, 32, 8, 2, 2};
    /* attention_tiled.comp's shared floats: 16 query rows, 64 keys of K (stride DMAX + 1), the
     * 16 x 64 weights, the row state. */
    d->attn_dmax = 128;
    while (d->attn_dmax > 32 && 4 * (16 * d->attn_dmax + 64 * (d->attn_dmax + 1) + 16 * 64 + 64) > lim->maxComputeSharedMemorySize)
        d->attn_dmax /= 2;
    d->small_below = big ? 96 : 4; /* about a large tile per compute unit (Vulkan does not tell how many) */
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = d->family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &prio;
    VkPhysicalDeviceFeatures on;
    memset(&on, 0, sizeof on);
    on.shaderFloat64 = feat.shaderFloat64;
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    di.pEnabledFeatures = &on;
    VkResult r = vi.CreateDevice(phys, &di, NULL, &d->device);
    if (r != VK_SUCCESS) {
        snprintf(why, whylen, "%s: vkCreateDevice: %s", p->deviceName, vk_result_name(r));
        return -1;
    }
    if (vk_load_device(&vi, d->device, &d->vd, why, whylen)) return -1;
    d->vd.GetDeviceQueue(d->device, d->family, 0, &d->queue);
    pthread_mutex_init(&d->submit_mu, NULL);
    pthread_mutex_init(&d->pool_mu, NULL);
    d->dev.ops = &device_ops;
    d->dev.name = d->name;
    d->dev.impl = d;
    d->dev.caps = p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 0 : ADEAD_EXEC_CAP_GPU; /* lavapipe is no GPU */

    /* The build to try first: native on NVIDIA (its default float mode is the model), emulated
     * elsewhere (correct on any IEEE device with doubles); then the other one. */
    const char *force = getenv("ADEAD_VK_F32");
    int first = p->vendorID == 0x10DE ? 0 : 1, tries = 2;
    if (force && !strcmp(force, "native")) first = 0, tries = 1;
    if (force && !strcmp(force, "emulated")) first = 1, tries = 1;
    if (!d->has_f64 && first == 1) first = 0, tries = 1; /* the emulated build needs doubles */
    else if (!d->has_f64) tries = 1;
    char reason[2][300] = {"", ""};
    for (int t = 0; t < tries; t++) {
        d->emulate = t ? !first : first;
        if (ready_build(d, reason[t], sizeof reason[t]) == 0) {
            d->dev.caps |= ADEAD_EXEC_CAP_EXACT;
            break;
        }
    }
    if (!(d->dev.caps & ADEAD_EXEC_CAP_EXACT)) {
        /* Inexact: keep the first build for relaxed programs, if its pipelines exist. */
        d->emulate = first;
        char again[300];
        if (tries > 1 && vk_pipelines_create(d, again, sizeof again)) {
            snprintf(why, whylen, "%.100s: %.200s", p->deviceName, again);
            return -1;
        }
        snprintf(d->inexact, sizeof d->inexact, "%s f32: %.150s%s%s%.150s", first ? "emulated" : "native", reason[0],
                 tries > 1 ? "; " : "", tries > 1 ? (first ? "native f32: " : "emulated f32: ") : "", tries > 1 ? reason[1] : "");
        d->dev.inexact_reason = d->inexact;
    }
    char base[sizeof d->name], note[sizeof d->cache_note];
    memcpy(base, d->name, sizeof base);
    memcpy(note, d->cache_note, sizeof note);
    snprintf(d->name, sizeof d->name, "%.120s; %s f32; %.80s", base, d->emulate ? "emulated" : "native", note);
    return 0;
}

/* ---- discovery ---- */

static int rank_of(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

static int name_matches(const char *name, const char *want)
{
    size_t n = strlen(want);
    for (const char *s = name; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == tolower((unsigned char)want[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

static void discover(void)
{
    char why[400] = "";
    const vk_instance_api *loader = vk_loader(why, sizeof why);
    if (!loader) {
        snprintf(not_here, sizeof not_here, "%s", why);
        return;
    }
    vi = *loader;
    uint32_t version = 0;
    vi.EnumerateInstanceVersion(&version);
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "adead-vm";
    app.pEngineName = "adeadvm";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    VkResult r = vi.CreateInstance(&ci, NULL, &instance);
    if (r != VK_SUCCESS) {
        snprintf(not_here, sizeof not_here, "the Vulkan loader (%u.%u) %s: %s", VK_API_VERSION_MAJOR(version),
                 VK_API_VERSION_MINOR(version),
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? "finds no Vulkan driver" : "gives no instance", vk_result_name(r));
        return;
    }
    if (vk_load_instance(&vi, instance, why, sizeof why)) {
        snprintf(not_here, sizeof not_here, "%s", why);
        return;
    }
    uint32_t count = 0;
    vi.EnumeratePhysicalDevices(instance, &count, NULL);
    VkPhysicalDevice phys[MAX_DEVICES];
    if (count > MAX_DEVICES) count = MAX_DEVICES;
    if (count) vi.EnumeratePhysicalDevices(instance, &count, phys);
    if (!count) {
        snprintf(not_here, sizeof not_here, "the Vulkan loader sees no device");
        return;
    }
    VkPhysicalDeviceProperties props[MAX_DEVICES];
    for (uint32_t i = 0; i < count; i++) vi.GetPhysicalDeviceProperties(phys[i], &props[i]);
    /* Which to open, in order of preference. */
    const char *want = getenv("ADEAD_VK_DEVICE"), *exec = getenv("ADEAD_EXECUTOR");
    const char *soft = getenv("ADEAD_VK_SOFTWARE");
    int software_ok = (exec && !strcmp(exec, "vulkan")) || (soft && !strcmp(soft, "1"));
    uint32_t order[MAX_DEVICES], n = 0;
    char seen[300] = "";
    for (uint32_t i = 0; i < count; i++) {
        size_t len = strlen(seen);
        snprintf(seen + len, sizeof seen - len, "%s%u: %.60s", i ? ", " : "", i, props[i].deviceName);
    }
    if (want && *want) {
        char *end;
        unsigned long k = strtoul(want, &end, 10);
        for (uint32_t i = 0; i < count && !n; i++)
            if ((!*end && k == i) || (*end && name_matches(props[i].deviceName, want))) order[n++] = i;
        if (!n) {
            snprintf(not_here, sizeof not_here, "ADEAD_VK_DEVICE=%.40s names no device (%.200s)", want, seen);
            return;
        }
    } else {
        for (int rank = 0; rank <= 4; rank++)
            for (uint32_t i = 0; i < count; i++)
                if (rank_of(props[i].deviceType) == rank && (rank < 4 || (software_ok && !n))) order[n++] = i;
        if (!n) {
            snprintf(not_here, sizeof not_here,
                     "only a software Vulkan device here (%.200s), slower than the CPU executor; "
                     "ADEAD_VK_DEVICE=<index or name>, ADEAD_VK_SOFTWARE=1 or ADEAD_EXECUTOR=vulkan lets it in",
                     seen);
            return;
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        if (open_device(phys[order[k]], order[k], &devs[n_devs], why, sizeof why) == 0) n_devs++;
        else if (!not_here[0]) snprintf(not_here, sizeof not_here, "%s", why);
    }
    if (n_devs) not_here[0] = 0;
}

static uint32_t score(char *why, size_t whylen)
{
    pthread_once(&once, discover);
    if (!n_devs) snprintf(why, whylen, "%s", not_here[0] ? not_here : "no usable Vulkan device");
    return n_devs ? 50 : 0;
}

static uint32_t device_count(void) { return n_devs; }
static adead_exec_device *device(uint32_t i) { return i < n_devs ? &devs[i].dev : NULL; }

static const adead_exec_registry registry = {
    ADEAD_EXEC_ABI, sizeof(adead_exec_registry), "vulkan", score, device_count, device,
};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi)
{
    return host_abi == ADEAD_EXEC_ABI ? &registry : NULL;
}
