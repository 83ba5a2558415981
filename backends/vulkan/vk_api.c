/* libvulkan.so.1 by dlopen (vk_api.h). */
#include "vk_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vk_instance_api api;
static int opened; /* 1 ok, -1 failed */
static char open_why[256];

const vk_instance_api *vk_loader(char *why, size_t whylen)
{
    if (!opened) {
        const char *path = getenv("ADEAD_VK_LOADER"); /* another loader than the system's */
        if (!path || !*path) path = "libvulkan.so.1";
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(open_why, sizeof open_why, "no Vulkan loader (%.100s)", dlerror());
            opened = -1;
        } else {
            /* dlsym returns a data pointer; POSIX guarantees it converts to a function pointer. */
            void *sym = dlsym(h, "vkGetInstanceProcAddr");
            memcpy(&api.GetInstanceProcAddr, &sym, sizeof sym);
            opened = api.GetInstanceProcAddr ? 1 : -1;
            if (opened < 0) snprintf(open_why, sizeof open_why, "libvulkan.so.1 has no vkGetInstanceProcAddr");
        }
        if (opened > 0) {
            api.CreateInstance = (PFN_vkCreateInstance)api.GetInstanceProcAddr(NULL, "vkCreateInstance");
            api.EnumerateInstanceVersion =
                (PFN_vkEnumerateInstanceVersion)api.GetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
            if (!api.CreateInstance || !api.EnumerateInstanceVersion) {
                snprintf(open_why, sizeof open_why, "the Vulkan loader is older than Vulkan 1.1");
                opened = -1;
            }
        }
    }
    if (opened < 0) {
        snprintf(why, whylen, "%s", open_why);
        return NULL;
    }
    return &api;
}

int vk_load_instance(vk_instance_api *a, VkInstance inst, char *why, size_t whylen)
{
#define X(f)                                                                                  \
    if (!(a->f = (PFN_vk##f)a->GetInstanceProcAddr(inst, "vk" #f))) {                           \
        snprintf(why, whylen, "the Vulkan loader has no vk" #f);                                \
        return -1;                                                                            \
    }
    VK_INSTANCE_FUNCTIONS(X)
#undef X
    return 0;
}

int vk_load_device(const vk_instance_api *a, VkDevice dev, vk_device_api *out, char *why, size_t whylen)
{
#define X(f)                                                                                  \
    if (!(out->f = (PFN_vk##f)a->GetDeviceProcAddr(dev, "vk" #f))) {                            \
        snprintf(why, whylen, "the Vulkan driver has no vk" #f);                                \
        return -1;                                                                            \
    }
    VK_DEVICE_FUNCTIONS(X)
#undef X
    return 0;
}

const char *vk_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    default: return "a VkResult without a name here";
    }
}
