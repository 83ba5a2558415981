/* Pipelines: one shared layout (four storage buffers, 128 bytes of push constants), one compute
 * pipeline per shader in the device's build (native or emulated f32), MATMUL's tile given by
 * specialization constants. The VkPipelineCache is kept on disk under $XDG_CACHE_HOME/adeadvm/
 * (else ~/.cache/adeadvm/) so that a second run compiles nothing. The file is ours wrapped around
 * the driver's data: a header with the data's length and SHA-256, then the data, whose own header
 * must name this device (vendor, device, pipelineCacheUUID). Anything else (short, corrupt,
 * foreign, another driver version) is ignored, never handed to the driver, and replaced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../util/fileio.h"
#include "../../util/sha256.h"
#include "vk_internal.h"

/* The SPIR-V, built by glslc and embedded by mk/vulkan.mk. */
#define X(K, name) extern const unsigned char adead_spv_##name##_0[], adead_spv_##name##_1[]; \
    extern const unsigned long adead_spv_##name##_0_size, adead_spv_##name##_1_size;
VK_SHADERS(X)
#undef X

static const char *const shader_names[VKS__COUNT] = {
#define X(K, name) #name,
    VK_SHADERS(X)
#undef X
};

static void spirv_of(int s, int emulate, const uint32_t **code, size_t *size)
{
    switch (s) {
#define X(K, name)                                                                                   \
    case VKS_##K:                                                                                    \
        *code = (const uint32_t *)(const void *)(emulate ? adead_spv_##name##_1 : adead_spv_##name##_0); \
        *size = emulate ? adead_spv_##name##_1_size : adead_spv_##name##_0_size;                     \
        break;
        VK_SHADERS(X)
#undef X
    default: *code = NULL; *size = 0;
    }
}

#define CACHE_MAGIC "ADVKPC01"
#define CACHE_HEAD 48 /* magic 8, data length 8, SHA-256 32 */
#define CACHE_LIMIT (256u << 20)

static void cache_file(vk_dev *d)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[400];
    d->cache_path[0] = 0;
    if (getenv("ADEAD_VK_PIPELINE_CACHE") && !strcmp(getenv("ADEAD_VK_PIPELINE_CACHE"), "off")) return;
    if (xdg && xdg[0] == '/') snprintf(dir, sizeof dir, "%.380s/adeadvm", xdg);
    else if (home && home[0] == '/') snprintf(dir, sizeof dir, "%.360s/.cache/adeadvm", home);
    else return;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", d->props.pipelineCacheUUID[i]);
    snprintf(d->cache_path, sizeof d->cache_path, "%s/vulkan-%04x-%04x-%s-%s.bin", dir, d->props.vendorID,
             d->props.deviceID, uuid, d->emulate ? "emulated" : "native");
}

/* The driver's data from the file when every check passes, else NULL (note says why). */
static unsigned char *cache_read(vk_dev *d, size_t *len)
{
    unsigned char *bytes = NULL;
    size_t size = 0;
    char err[300];
    *len = 0;
    if (!d->cache_path[0]) {
        snprintf(d->cache_note, sizeof d->cache_note, "pipeline cache off");
        return NULL;
    }
    if (fileio_read(d->cache_path, CACHE_LIMIT, NULL, &bytes, &size, err, sizeof err)) {
        snprintf(d->cache_note, sizeof d->cache_note, "pipeline cache: new");
        return NULL;
    }
    const char *bad = NULL;
    uint64_t n = 0;
    unsigned char digest[32];
    if (size < CACHE_HEAD || memcmp(bytes, CACHE_MAGIC, 8)) bad = "not a pipeline cache file";
    if (!bad) {
        memcpy(&n, bytes + 8, 8);
        if (n != size - CACHE_HEAD || n < 32) bad = "truncated";
    }
    if (!bad) {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, bytes + CACHE_HEAD, (size_t)n);
        sha256_final(&c, digest);
        if (memcmp(digest, bytes + 16, 32)) bad = "checksum differs";
    }
    if (!bad) { /* VkPipelineCacheHeaderVersionOne */
        const unsigned char *h = bytes + CACHE_HEAD;
        uint32_t head_len, version, vendor, device;
        memcpy(&head_len, h, 4);
        memcpy(&version, h + 4, 4);
        memcpy(&vendor, h + 8, 4);
        memcpy(&device, h + 12, 4);
        if (head_len < 32 || head_len > n || version != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || vendor != d->props.vendorID ||
            device != d->props.deviceID || memcmp(h + 16, d->props.pipelineCacheUUID, VK_UUID_SIZE))
            bad = "made by another device or driver";
    }
    if (bad) {
        snprintf(d->cache_note, sizeof d->cache_note, "pipeline cache: ignored (%s)", bad);
        free(bytes);
        return NULL;
    }
    memmove(bytes, bytes + CACHE_HEAD, (size_t)n);
    *len = (size_t)n;
    snprintf(d->cache_note, sizeof d->cache_note, "pipeline cache: loaded");
    return bytes;
}

void vk_pipelines_save(vk_dev *d)
{
    if (!d->cache_path[0] || !d->cache) return;
    size_t n = 0;
    if (d->vd.GetPipelineCacheData(d->device, d->cache, &n, NULL) != VK_SUCCESS || n < 32 || n > CACHE_LIMIT) return;
    unsigned char *bytes = malloc(CACHE_HEAD + n);
    if (!bytes) return;
    if (d->vd.GetPipelineCacheData(d->device, d->cache, &n, bytes + CACHE_HEAD) != VK_SUCCESS) {
        free(bytes);
        return;
    }
    size_t old_len = 0;
    char note[sizeof d->cache_note];
    memcpy(note, d->cache_note, sizeof note);
    unsigned char *old = cache_read(d, &old_len);
    memcpy(d->cache_note, note, sizeof note);
    if (!old || old_len != n || memcmp(old, bytes + CACHE_HEAD, n)) {
        uint64_t n64 = n;
        memcpy(bytes, CACHE_MAGIC, 8);
        memcpy(bytes + 8, &n64, 8);
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, bytes + CACHE_HEAD, n);
        sha256_final(&c, bytes + 16);
        char dir[sizeof d->cache_path], err[300];
        snprintf(dir, sizeof dir, "%s", d->cache_path);
        for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) { /* mkdir -p */
            *slash = 0;
            mkdir(dir, 0700);
            *slash = '/';
        }
        if (fileio_write(d->cache_path, bytes, CACHE_HEAD + n, err, sizeof err) == 0)
            snprintf(d->cache_note, sizeof d->cache_note, "%.140s, saved", note);
    }
    free(old);
    free(bytes);
}

static VkResult make_pipeline(vk_dev *d, int s, VkPipeline *out)
{
    const vk_device_api *v = &d->vd;
    const uint32_t *code;
    size_t size;
    spirv_of(s, d->emulate, &code, &size);
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = size;
    mi.pCode = code;
    VkShaderModule mod;
    VkResult r = v->CreateShaderModule(d->device, &mi, NULL, &mod);
    if (r != VK_SUCCESS) return r;
    const vk_matmul_tile *t = s == VKS_MATMUL_SMALL ? &d->tile_small : &d->tile;
    uint32_t spec[6] = {(t->bm / t->tm) * (t->bn / t->tn), t->bm, t->bn, t->bk, t->tm, t->tn};
    VkSpecializationMapEntry entries[6];
    for (uint32_t i = 0; i < 6; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {6, entries, sizeof spec, spec};
    VkComputePipelineCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    pi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pi.stage.module = mod;
    pi.stage.pName = "main";
    VkSpecializationMapEntry dmax_entry = {0, 0, 4};
    VkSpecializationInfo dmax_si = {1, &dmax_entry, 4, &d->attn_dmax};
    pi.stage.pSpecializationInfo = s == VKS_MATMUL || s == VKS_MATMUL_SMALL ? &si : s == VKS_ATTENTION_TILED ? &dmax_si : NULL;
    pi.layout = d->layout;
    r = v->CreateComputePipelines(d->device, d->cache, 1, &pi, NULL, out);
    v->DestroyShaderModule(d->device, mod, NULL);
    return r;
}

int vk_pipelines_create(vk_dev *d, char *why, size_t whylen)
{
    const vk_device_api *v = &d->vd;
    VkResult r = VK_SUCCESS;
    if (!d->set_layout) {
        VkDescriptorSetLayoutBinding b[4];
        for (uint32_t i = 0; i < 4; i++)
            b[i] = (VkDescriptorSetLayoutBinding){i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
        VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
        li.bindingCount = 4;
        li.pBindings = b;
        r = v->CreateDescriptorSetLayout(d->device, &li, NULL, &d->set_layout);
        VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
        VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
        pli.setLayoutCount = 1;
        pli.pSetLayouts = &d->set_layout;
        pli.pushConstantRangeCount = 1;
        pli.pPushConstantRanges = &pr;
        if (r == VK_SUCCESS) r = v->CreatePipelineLayout(d->device, &pli, NULL, &d->layout);
        if (r != VK_SUCCESS) {
            snprintf(why, whylen, "pipeline layout: %s", vk_result_name(r));
            return -1;
        }
    }
    cache_file(d);
    size_t len = 0;
    unsigned char *data = cache_read(d, &len);
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = len;
    ci.pInitialData = data;
    r = v->CreatePipelineCache(d->device, &ci, NULL, &d->cache);
    if (r != VK_SUCCESS && data) { /* the driver refused it after all: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        snprintf(d->cache_note, sizeof d->cache_note, "pipeline cache: ignored (refused by the driver)");
        r = v->CreatePipelineCache(d->device, &ci, NULL, &d->cache);
    }
    free(data);
    if (r != VK_SUCCESS) d->cache = VK_NULL_HANDLE; /* pipelines are made without one */
    for (int s = 0; s < VKS__COUNT; s++) {
        r = make_pipeline(d, s, &d->pipe[s]);
        if (r != VK_SUCCESS) {
            snprintf(why, whylen, "the %s shader (%s f32) does not compile here: %s", shader_names[s],
                     d->emulate ? "emulated" : "native", vk_result_name(r));
            return -1;
        }
    }
    return 0;
}

void vk_pipelines_destroy(vk_dev *d)
{
    for (int s = 0; s < VKS__COUNT; s++)
        if (d->pipe[s]) {
            d->vd.DestroyPipeline(d->device, d->pipe[s], NULL);
            d->pipe[s] = VK_NULL_HANDLE;
        }
    if (d->cache) d->vd.DestroyPipelineCache(d->device, d->cache, NULL);
    d->cache = VK_NULL_HANDLE;
}
