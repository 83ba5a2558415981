//! Raw `extern "C"` declarations of libadeadvm (`include/adeadvm.h`), written by hand.
#![allow(non_camel_case_types)]
use std::os::raw::{c_char, c_int, c_void};

pub const ADEAD_OK: c_int = 0;
pub const ADEAD_E_ARG: c_int = 1;
pub const ADEAD_E_LOAD: c_int = 2;
pub const ADEAD_E_TRAP: c_int = 3;
pub const ADEAD_E_FUEL: c_int = 4;
pub const ADEAD_E_MEMORY: c_int = 5;
pub const ADEAD_E_IO: c_int = 6;
pub const ADEAD_E_NOMEM: c_int = 7;

pub const ADEAD_F32: c_int = 1;
pub const ADEAD_I32: c_int = 2;
pub const ADEAD_I64: c_int = 3;
pub const ADEAD_MAX_RANK: usize = 4;

pub const ADEAD_BACKEND_AUTO: c_int = -1;
pub const ADEAD_BACKEND_CPU: c_int = 0;
pub const ADEAD_BACKEND_CUDA: c_int = 1;
pub const ADEAD_BACKEND_VULKAN: c_int = 2;

#[repr(C)]
pub struct adead_program {
    _private: [u8; 0],
}
#[repr(C)]
pub struct adead_vm {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct adead_tensor_view {
    pub dtype: c_int,
    pub rank: c_int,
    pub dims: [i64; ADEAD_MAX_RANK],
    pub data: *const c_void,
    pub nbytes: usize,
}

pub type adead_write_fn = Option<unsafe extern "C" fn(user: *mut c_void, text: *const c_char, n: usize)>;

extern "C" {
    pub fn adead_version() -> *const c_char;
    pub fn adead_status_name(status: c_int) -> *const c_char;
    pub fn adead_program_load_file(path: *const c_char, out: *mut *mut adead_program, err: *mut c_char, errlen: usize) -> c_int;
    pub fn adead_program_load_memory(bib: *const c_void, size: usize, name: *const c_char, out: *mut *mut adead_program,
                                     err: *mut c_char, errlen: usize) -> c_int;
    pub fn adead_program_assemble(source: *const c_char, len: usize, filename: *const c_char, out: *mut *mut adead_program,
                                  err: *mut c_char, errlen: usize) -> c_int;
    pub fn adead_program_free(prog: *mut adead_program);
    pub fn adead_program_input_count(prog: *const adead_program) -> c_int;
    pub fn adead_program_output_count(prog: *const adead_program) -> c_int;
    pub fn adead_program_input_name(prog: *const adead_program, i: c_int) -> *const c_char;
    pub fn adead_program_output_name(prog: *const adead_program, i: c_int) -> *const c_char;
    pub fn adead_vm_new(prog: *const adead_program) -> *mut adead_vm;
    pub fn adead_vm_free(vm: *mut adead_vm);
    pub fn adead_vm_set_fuel(vm: *mut adead_vm, fuel: u64) -> c_int;
    pub fn adead_vm_set_memory_limit(vm: *mut adead_vm, bytes: u64) -> c_int;
    pub fn adead_vm_set_executor(vm: *mut adead_vm, name: *const c_char) -> c_int;
    pub fn adead_vm_set_simd(vm: *mut adead_vm, level: *const c_char) -> c_int;
    pub fn adead_vm_set_threads(vm: *mut adead_vm, threads: c_int) -> c_int;
    pub fn adead_vm_set_print(vm: *mut adead_vm, f: adead_write_fn, user: *mut c_void);
    pub fn adead_vm_bind(vm: *mut adead_vm, name: *const c_char, dtype: c_int, rank: c_int, dims: *const i64,
                         data: *const c_void) -> c_int;
    pub fn adead_vm_run(vm: *mut adead_vm) -> c_int;
    pub fn adead_vm_add_fuel(vm: *mut adead_vm, fuel: u64) -> c_int;
    pub fn adead_vm_instructions(vm: *const adead_vm) -> u64;
    pub fn adead_vm_error(vm: *const adead_vm) -> *const c_char;
    pub fn adead_vm_output(vm: *const adead_vm, name: *const c_char, out: *mut adead_tensor_view) -> c_int;
    pub fn adead_vm_digest(vm: *const adead_vm, hex: *mut c_char) -> c_int;
    pub fn adead_init(backend: c_int) -> c_int;
    pub fn adead_shutdown();
    pub fn adead_last_error() -> *const c_char;
    pub fn adead_matmul(a: *const f32, b: *const f32, c: *mut f32, m: c_int, n: c_int, k: c_int) -> c_int;
    pub fn adead_softmax(x: *const f32, y: *mut f32, rows: c_int, cols: c_int) -> c_int;
    pub fn adead_relu(x: *const f32, y: *mut f32, size: c_int) -> c_int;
    pub fn adead_attention(q: *const f32, k: *const f32, v: *const f32, out: *mut f32, seq_len: c_int, dim: c_int,
                           heads: c_int) -> c_int;
}
