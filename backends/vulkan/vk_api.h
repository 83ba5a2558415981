/* The Vulkan functions the executor calls, opened at run time: libvulkan.so.1 with dlopen, then
 * vkGetInstanceProcAddr / vkGetDeviceProcAddr (no link-time dependency: a host without a Vulkan
 * loader loads the plugin and hears why it is not here). The headers come from libvulkan-dev. */
#ifndef ADEAD_VK_API_H
#define ADEAD_VK_API_H

#define VK_NO_PROTOTYPES
#include <stddef.h>
#include <vulkan/vulkan.h>

#define VK_GLOBAL_FUNCTIONS(X) X(CreateInstance) X(EnumerateInstanceVersion)

#define VK_INSTANCE_FUNCTIONS(X)                                                                        \
    X(DestroyInstance) X(EnumeratePhysicalDevices) X(GetPhysicalDeviceProperties)                      \
    X(GetPhysicalDeviceProperties2) X(GetPhysicalDeviceFeatures) X(GetPhysicalDeviceQueueFamilyProperties) \
    X(GetPhysicalDeviceMemoryProperties) X(CreateDevice) X(GetDeviceProcAddr)                          \
    X(EnumerateDeviceExtensionProperties)

#define VK_DEVICE_FUNCTIONS(X)                                                                          \
    X(DestroyDevice) X(GetDeviceQueue) X(CreateBuffer) X(DestroyBuffer) X(GetBufferMemoryRequirements) \
    X(AllocateMemory) X(FreeMemory) X(BindBufferMemory) X(MapMemory) X(UnmapMemory)                    \
    X(CreateShaderModule) X(DestroyShaderModule) X(CreateDescriptorSetLayout)                          \
    X(DestroyDescriptorSetLayout) X(CreatePipelineLayout) X(DestroyPipelineLayout)                     \
    X(CreatePipelineCache) X(DestroyPipelineCache) X(GetPipelineCacheData) X(CreateComputePipelines)   \
    X(DestroyPipeline) X(CreateDescriptorPool) X(DestroyDescriptorPool) X(ResetDescriptorPool)         \
    X(AllocateDescriptorSets) X(UpdateDescriptorSets) X(CreateCommandPool) X(DestroyCommandPool)       \
    X(AllocateCommandBuffers) X(BeginCommandBuffer) X(EndCommandBuffer) X(ResetCommandBuffer)          \
    X(CmdBindPipeline) X(CmdBindDescriptorSets) X(CmdPushConstants) X(CmdDispatch) X(CmdCopyBuffer)    \
    X(CmdPipelineBarrier) X(QueueSubmit) X(QueueWaitIdle) X(CreateFence) X(DestroyFence)               \
    X(WaitForFences) X(ResetFences) X(GetFenceStatus) X(DeviceWaitIdle)

typedef struct {
    PFN_vkGetInstanceProcAddr GetInstanceProcAddr;
#define X(f) PFN_vk##f f;
    VK_GLOBAL_FUNCTIONS(X) VK_INSTANCE_FUNCTIONS(X)
#undef X
} vk_instance_api;

typedef struct {
#define X(f) PFN_vk##f f;
    VK_DEVICE_FUNCTIONS(X)
#undef X
} vk_device_api;

/* Opens the loader and the global functions; NULL with the reason in why. */
const vk_instance_api *vk_loader(char *why, size_t whylen);
/* The instance-level functions of inst into api; 0, or -1 with the missing one in why. */
int vk_load_instance(vk_instance_api *api, VkInstance inst, char *why, size_t whylen);
/* The device-level functions of dev; 0, or -1 with the missing one in why. */
int vk_load_device(const vk_instance_api *api, VkDevice dev, vk_device_api *out, char *why, size_t whylen);

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY" and the like. */
const char *vk_result_name(VkResult r);

#endif
