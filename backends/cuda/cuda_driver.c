/* dlopen of libcuda.so.1 (cuda_driver.h). The _v2 names are the ones cuda.h maps the plain names
 * to since CUDA 4/10: the unversioned symbols are the old ABIs, with 32-bit sizes. */
#include "cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static cuda_api api;
static int loaded;
static char load_error[256];

static int sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    if (!p) {
        snprintf(load_error, sizeof load_error, "libcuda.so.1 lacks %s (a driver older than CUDA 12)", name);
        return -1;
    }
    memcpy(slot, &p, sizeof p); /* POSIX: dlsym's object pointer holds a function */
    return 0;
}

static void load(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "no NVIDIA driver (%s)", e ? e : "libcuda.so.1 not found");
        load_error[strcspn(load_error, "\r\n")] = 0;
        return;
    }
    struct {
        const char *name;
        void *slot;
    } table[] = {
        {"cuInit", &api.Init},
        {"cuDriverGetVersion", &api.DriverGetVersion},
        {"cuDeviceGetCount", &api.DeviceGetCount},
        {"cuDeviceGet", &api.DeviceGet},
        {"cuDeviceGetName", &api.DeviceGetName},
        {"cuDeviceGetAttribute", &api.DeviceGetAttribute},
        {"cuDeviceTotalMem_v2", &api.DeviceTotalMem},
        {"cuDevicePrimaryCtxRetain", &api.PrimaryCtxRetain},
        {"cuDevicePrimaryCtxRelease_v2", &api.PrimaryCtxRelease},
        {"cuCtxPushCurrent_v2", &api.CtxPushCurrent},
        {"cuCtxPopCurrent_v2", &api.CtxPopCurrent},
        {"cuModuleLoadData", &api.ModuleLoadData},
        {"cuModuleUnload", &api.ModuleUnload},
        {"cuModuleGetFunction", &api.ModuleGetFunction},
        {"cuFuncSetAttribute", &api.FuncSetAttribute},
        {"cuMemAlloc_v2", &api.MemAlloc},
        {"cuMemFree_v2", &api.MemFree},
        {"cuMemGetInfo_v2", &api.MemGetInfo},
        {"cuMemAllocHost_v2", &api.MemAllocHost},
        {"cuMemFreeHost", &api.MemFreeHost},
        {"cuMemcpyHtoDAsync_v2", &api.MemcpyHtoDAsync},
        {"cuMemcpyDtoHAsync_v2", &api.MemcpyDtoHAsync},
        {"cuMemcpyDtoDAsync_v2", &api.MemcpyDtoDAsync},
        {"cuStreamCreate", &api.StreamCreate},
        {"cuStreamDestroy_v2", &api.StreamDestroy},
        {"cuStreamSynchronize", &api.StreamSynchronize},
        {"cuEventCreate", &api.EventCreate},
        {"cuEventDestroy_v2", &api.EventDestroy},
        {"cuEventRecord", &api.EventRecord},
        {"cuEventSynchronize", &api.EventSynchronize},
        {"cuEventQuery", &api.EventQuery},
        {"cuLaunchKernel", &api.LaunchKernel},
        {"cuGetErrorString", &api.GetErrorString},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (sym(lib, table[i].name, table[i].slot)) return; /* the library stays open: harmless */
    loaded = 1;
}

const cuda_api *cuda_driver(char *why, size_t whylen)
{
    pthread_once(&once, load);
    if (!loaded && why && whylen) snprintf(why, whylen, "%s", load_error);
    return loaded ? &api : NULL;
}

const char *cuda_error_text(const cuda_api *cu, CUresult r, char *buf, size_t len)
{
    const char *s = NULL;
    if (!cu || cu->GetErrorString(r, &s) != CU_OK || !s) s = "unknown error";
    snprintf(buf, len, "CUDA error %d: %s", r, s);
    return buf;
}
