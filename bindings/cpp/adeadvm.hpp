// adeadvm.hpp: header-only C++17 wrappers of libadeadvm (include/adeadvm.h). RAII owners that move
// and do not copy (Program, Vm), a non-owning TensorView of an output, errors as adeadvm::Error
// (the status and the library's message, which names the pc and the source line of a trap), and
// the direct API in adeadvm::direct. Link with `pkg-config --cflags --libs adeadvm`.
#ifndef ADEADVM_HPP
#define ADEADVM_HPP

#include <adeadvm.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace adeadvm {

class Error : public std::runtime_error {
  public:
    Error(int status, const std::string &what) : std::runtime_error(what), status_(status) {}
    int status() const noexcept { return status_; } // an adead_status
    const char *status_name() const noexcept { return adead_status_name(status_); }

  private:
    int status_;
};

namespace detail {
inline void check(int status, const char *what) {
    if (status != ADEAD_OK) throw Error(status, what);
}
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr adead_dtype value = ADEAD_F32; };
template <> struct dtype_of<std::int32_t> { static constexpr adead_dtype value = ADEAD_I32; };
template <> struct dtype_of<std::int64_t> { static constexpr adead_dtype value = ADEAD_I64; };
} // namespace detail

class Program {
  public:
    static Program assemble(std::string_view source, const std::string &filename = "input.adasm") {
        adead_program *p = nullptr;
        char err[8192];
        int rc = adead_program_assemble(source.data(), source.size(), filename.c_str(), &p, err, sizeof err);
        detail::check(rc, err);
        return Program(p);
    }
    static Program load(const std::string &path) {
        adead_program *p = nullptr;
        char err[4096];
        detail::check(adead_program_load_file(path.c_str(), &p, err, sizeof err), err);
        return Program(p);
    }
    static Program from_bib(const void *bib, std::size_t size, const std::string &name = "memory.bib") {
        adead_program *p = nullptr;
        char err[4096];
        detail::check(adead_program_load_memory(bib, size, name.c_str(), &p, err, sizeof err), err);
        return Program(p);
    }
    std::vector<std::string> inputs() const { return names(adead_program_input_count, adead_program_input_name); }
    std::vector<std::string> outputs() const { return names(adead_program_output_count, adead_program_output_name); }
    const adead_program *get() const noexcept { return p_.get(); }

  private:
    struct Free {
        void operator()(adead_program *p) const noexcept { adead_program_free(p); }
    };
    explicit Program(adead_program *p) : p_(p) {}
    std::vector<std::string> names(int (*count)(const adead_program *), const char *(*name)(const adead_program *, int)) const {
        std::vector<std::string> r;
        for (int i = 0; i < count(p_.get()); i++) r.emplace_back(name(p_.get(), i));
        return r;
    }
    std::unique_ptr<adead_program, Free> p_;
};

// An output as the VM holds it: valid until the Vm is freed or runs again.
struct TensorView {
    adead_dtype dtype;
    std::vector<std::int64_t> shape;
    const void *data;
    std::size_t nbytes;

    std::int64_t count() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    template <typename T> const T *as() const {
        if (detail::dtype_of<T>::value != dtype) throw Error(ADEAD_E_ARG, "TensorView::as: another element type");
        return static_cast<const T *>(data);
    }
    template <typename T> std::vector<T> to_vector() const {
        const T *p = as<T>();
        return std::vector<T>(p, p + count());
    }
    std::string text() const {
        adead_tensor_view v = raw();
        char *t = adead_tensor_text(&v);
        std::string s = t ? t : "";
        std::free(t);
        return s;
    }
    adead_tensor_view raw() const {
        adead_tensor_view v{};
        v.dtype = dtype;
        v.rank = static_cast<int>(shape.size());
        for (std::size_t i = 0; i < shape.size() && i < ADEAD_MAX_RANK; i++) v.dims[i] = shape[i];
        v.data = data;
        v.nbytes = nbytes;
        return v;
    }
};

class Vm {
  public:
    explicit Vm(const Program &prog) : vm_(adead_vm_new(prog.get())) {
        if (!vm_) throw Error(ADEAD_E_NOMEM, "adead_vm_new: out of memory");
    }
    Vm &fuel(std::uint64_t n) { return check(adead_vm_set_fuel(vm_.get(), n)); }
    Vm &memory_limit(std::uint64_t bytes) { return check(adead_vm_set_memory_limit(vm_.get(), bytes)); }
    Vm &executor(const std::string &name) { return check(adead_vm_set_executor(vm_.get(), name.c_str())); }
    Vm &simd(const std::string &level) { return check(adead_vm_set_simd(vm_.get(), level.c_str())); }
    Vm &threads(int n) { return check(adead_vm_set_threads(vm_.get(), n)); }
    // PRINT output goes to fn (the default: stdout).
    Vm &on_print(std::function<void(std::string_view)> fn) {
        print_ = std::make_unique<std::function<void(std::string_view)>>(std::move(fn));
        adead_vm_set_print(vm_.get(), &Vm::forward, print_.get());
        return *this;
    }
    // An input, copied by the VM when it binds it.
    template <typename T> Vm &bind(const std::string &name, const T *data, const std::vector<std::int64_t> &shape) {
        return check(adead_vm_bind(vm_.get(), name.c_str(), detail::dtype_of<T>::value, static_cast<int>(shape.size()),
                                   shape.data(), data));
    }
    template <typename T> Vm &bind(const std::string &name, const std::vector<T> &data, const std::vector<std::int64_t> &shape) {
        return bind(name, data.data(), shape);
    }
    // Runs to HALT: true. Out of fuel: false (add_fuel, then run again). A trap throws.
    bool run() {
        int rc = adead_vm_run(vm_.get());
        if (rc == ADEAD_E_FUEL) return false;
        check(rc);
        return true;
    }
    Vm &add_fuel(std::uint64_t n) { return check(adead_vm_add_fuel(vm_.get(), n)); }
    TensorView output(const std::string &name) const {
        adead_tensor_view v{};
        int rc = adead_vm_output(vm_.get(), name.c_str(), &v);
        if (rc != ADEAD_OK) throw Error(rc, adead_vm_error(vm_.get()));
        return TensorView{v.dtype, std::vector<std::int64_t>(v.dims, v.dims + v.rank), v.data, v.nbytes};
    }
    std::string digest() const {
        char hex[65];
        int rc = adead_vm_digest(vm_.get(), hex);
        if (rc != ADEAD_OK) throw Error(rc, adead_vm_error(vm_.get()));
        return std::string("sha256:") + hex;
    }
    std::uint64_t instructions() const noexcept { return adead_vm_instructions(vm_.get()); }
    adead_vm *get() noexcept { return vm_.get(); }

  private:
    struct Free {
        void operator()(adead_vm *v) const noexcept { adead_vm_free(v); }
    };
    Vm &check(int rc) {
        if (rc != ADEAD_OK) throw Error(rc, adead_vm_error(vm_.get()));
        return *this;
    }
    static void forward(void *user, const char *text, std::size_t n) {
        (*static_cast<std::function<void(std::string_view)> *>(user))(std::string_view(text, n));
    }
    std::unique_ptr<adead_vm, Free> vm_;
    std::unique_ptr<std::function<void(std::string_view)>> print_;
};

// The seed's direct API: single ops on the caller's memory, the VM's bits.
namespace direct {
enum class Backend { Auto = ADEAD_BACKEND_AUTO, Cpu = ADEAD_BACKEND_CPU, Cuda = ADEAD_BACKEND_CUDA, Vulkan = ADEAD_BACKEND_VULKAN };
inline void check(int rc) {
    if (rc != ADEAD_OK) throw Error(rc, adead_last_error());
}
inline void init(Backend b) { check(adead_init(static_cast<int>(b))); }
inline void shutdown() noexcept { adead_shutdown(); }
inline void matmul(const float *a, const float *b, float *c, int m, int n, int k) { check(adead_matmul(a, b, c, m, n, k)); }
inline void softmax(const float *in, float *out, int rows, int cols) { check(adead_softmax(in, out, rows, cols)); }
inline void relu(const float *in, float *out, int size) { check(adead_relu(in, out, size)); }
inline void attention(const float *q, const float *k, const float *v, float *out, int seq_len, int dim, int heads) {
    check(adead_attention(q, k, v, out, seq_len, dim, heads));
}
} // namespace direct

} // namespace adeadvm

#endif
