//! Safe wrappers of libadeadvm: [`Program`], [`Vm`], errors as [`Error`] (the library's status and
//! message, which names the pc and the source line of a trap), slices in and out, and the direct
//! API in [`direct`]. The same bits as `adead-vm` on every CPU, SIMD level and executor.
use adeadvm_sys as sys;
use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int};

/// What went wrong, as the library says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The adead_status (`sys::ADEAD_E_TRAP`, ...).
    pub status: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}
impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error { status: sys::ADEAD_E_ARG, message: format!("{s:?} holds a NUL byte") })
}

pub fn version() -> String {
    text(unsafe { sys::adead_version() })
}

/// An assembled or loaded program; a [`Vm`] runs it.
pub struct Program {
    p: *mut sys::adead_program,
}

// The library treats a program as read-only once loaded: it may be run from several threads.
unsafe impl Send for Program {}
unsafe impl Sync for Program {}

impl Program {
    fn from(rc: c_int, p: *mut sys::adead_program, err: &[u8]) -> Result<Program> {
        if rc != sys::ADEAD_OK {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            return Err(Error { status: rc, message: String::from_utf8_lossy(&err[..end]).into_owned() });
        }
        Ok(Program { p })
    }

    /// Assembles `.adasm` text; errors name `filename:line`.
    pub fn assemble(source: &str, filename: &str) -> Result<Program> {
        let name = c_string(filename)?;
        let mut p = std::ptr::null_mut();
        let mut err = vec![0u8; 8192];
        let rc = unsafe {
            sys::adead_program_assemble(source.as_ptr() as *const c_char, source.len(), name.as_ptr(), &mut p,
                                        err.as_mut_ptr() as *mut c_char, err.len())
        };
        Program::from(rc, p, &err)
    }

    /// Loads a `.bib` file, or assembles an `.adasm` one.
    pub fn load(path: &str) -> Result<Program> {
        if path.ends_with(".adasm") {
            let source = std::fs::read_to_string(path)
                .map_err(|e| Error { status: sys::ADEAD_E_IO, message: format!("{path}: {e}") })?;
            return Program::assemble(&source, path);
        }
        let cpath = c_string(path)?;
        let mut p = std::ptr::null_mut();
        let mut err = vec![0u8; 4096];
        let rc = unsafe { sys::adead_program_load_file(cpath.as_ptr(), &mut p, err.as_mut_ptr() as *mut c_char, err.len()) };
        Program::from(rc, p, &err)
    }

    pub fn inputs(&self) -> Vec<String> {
        (0..unsafe { sys::adead_program_input_count(self.p) })
            .map(|i| text(unsafe { sys::adead_program_input_name(self.p, i) }))
            .collect()
    }

    pub fn outputs(&self) -> Vec<String> {
        (0..unsafe { sys::adead_program_output_count(self.p) })
            .map(|i| text(unsafe { sys::adead_program_output_name(self.p, i) }))
            .collect()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        unsafe { sys::adead_program_free(self.p) }
    }
}

/// Element types the VM's tensors hold.
pub trait Element: Copy {
    const DTYPE: i32;
}
impl Element for f32 {
    const DTYPE: i32 = sys::ADEAD_F32;
}
impl Element for i32 {
    const DTYPE: i32 = sys::ADEAD_I32;
}
impl Element for i64 {
    const DTYPE: i32 = sys::ADEAD_I64;
}

/// An output: its shape and its elements, copied out of the VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<T> {
    pub shape: Vec<i64>,
    pub data: Vec<T>,
}

/// One run of a program (the borrow keeps the program alive).
pub struct Vm<'p> {
    vm: *mut sys::adead_vm,
    _prog: std::marker::PhantomData<&'p Program>,
}

/// How a run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Halted,
    /// The fuel ran out: `add_fuel`, then `run` again.
    OutOfFuel,
}

impl<'p> Vm<'p> {
    pub fn new(prog: &'p Program) -> Result<Vm<'p>> {
        let vm = unsafe { sys::adead_vm_new(prog.p) };
        if vm.is_null() {
            return Err(Error { status: sys::ADEAD_E_NOMEM, message: "adead_vm_new: out of memory".into() });
        }
        Ok(Vm { vm, _prog: std::marker::PhantomData })
    }

    fn check(&self, rc: c_int) -> Result<()> {
        if rc == sys::ADEAD_OK {
            Ok(())
        } else {
            Err(Error { status: rc, message: text(unsafe { sys::adead_vm_error(self.vm) }) })
        }
    }

    pub fn fuel(&mut self, n: u64) -> Result<&mut Self> {
        self.check(unsafe { sys::adead_vm_set_fuel(self.vm, n) })?;
        Ok(self)
    }
    pub fn memory_limit(&mut self, bytes: u64) -> Result<&mut Self> {
        self.check(unsafe { sys::adead_vm_set_memory_limit(self.vm, bytes) })?;
        Ok(self)
    }
    pub fn executor(&mut self, name: &str) -> Result<&mut Self> {
        let c = c_string(name)?;
        self.check(unsafe { sys::adead_vm_set_executor(self.vm, c.as_ptr()) })?;
        Ok(self)
    }
    pub fn simd(&mut self, level: &str) -> Result<&mut Self> {
        let c = c_string(level)?;
        self.check(unsafe { sys::adead_vm_set_simd(self.vm, c.as_ptr()) })?;
        Ok(self)
    }
    pub fn threads(&mut self, n: i32) -> Result<&mut Self> {
        self.check(unsafe { sys::adead_vm_set_threads(self.vm, n) })?;
        Ok(self)
    }

    /// Binds input `name` to `data` of `shape` (the VM copies it).
    pub fn bind<T: Element>(&mut self, name: &str, data: &[T], shape: &[i64]) -> Result<&mut Self> {
        let count: i64 = shape.iter().product();
        if shape.len() > sys::ADEAD_MAX_RANK || count as usize != data.len() {
            return Err(Error { status: sys::ADEAD_E_ARG, message: format!("input {name}: {} elements for shape {shape:?}", data.len()) });
        }
        let c = c_string(name)?;
        self.check(unsafe {
            sys::adead_vm_bind(self.vm, c.as_ptr(), T::DTYPE, shape.len() as c_int, shape.as_ptr(), data.as_ptr() as *const _)
        })?;
        Ok(self)
    }

    pub fn run(&mut self) -> Result<Run> {
        let rc = unsafe { sys::adead_vm_run(self.vm) };
        if rc == sys::ADEAD_E_FUEL {
            return Ok(Run::OutOfFuel);
        }
        self.check(rc).map(|_| Run::Halted)
    }

    pub fn add_fuel(&mut self, n: u64) -> Result<()> {
        self.check(unsafe { sys::adead_vm_add_fuel(self.vm, n) })
    }

    pub fn output<T: Element>(&self, name: &str) -> Result<Tensor<T>> {
        let c = c_string(name)?;
        let mut v = sys::adead_tensor_view { dtype: 0, rank: 0, dims: [0; 4], data: std::ptr::null(), nbytes: 0 };
        self.check(unsafe { sys::adead_vm_output(self.vm, c.as_ptr(), &mut v) })?;
        if v.dtype != T::DTYPE {
            return Err(Error { status: sys::ADEAD_E_ARG, message: format!("output {name} has another element type") });
        }
        let n = v.nbytes / std::mem::size_of::<T>();
        let data = if n == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(v.data as *const T, n) }.to_vec() };
        Ok(Tensor { shape: v.dims[..v.rank as usize].to_vec(), data })
    }

    /// `sha256:<hex>` over every output, as `adead-vm --digest` prints it.
    pub fn digest(&self) -> Result<String> {
        let mut hex = [0 as c_char; 65];
        self.check(unsafe { sys::adead_vm_digest(self.vm, hex.as_mut_ptr()) })?;
        Ok(format!("sha256:{}", text(hex.as_ptr())))
    }

    pub fn instructions(&self) -> u64 {
        unsafe { sys::adead_vm_instructions(self.vm) }
    }
}

impl Drop for Vm<'_> {
    fn drop(&mut self) {
        unsafe { sys::adead_vm_free(self.vm) }
    }
}

/// The seed's direct API: single ops on slices, the VM's bits.
pub mod direct {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    pub enum Backend {
        Auto = -1,
        Cpu = 0,
        Cuda = 1,
        Vulkan = 2,
    }

    fn check(rc: c_int) -> Result<()> {
        if rc == sys::ADEAD_OK {
            Ok(())
        } else {
            Err(Error { status: rc, message: text(unsafe { sys::adead_last_error() }) })
        }
    }

    fn dim(n: usize) -> Result<c_int> {
        c_int::try_from(n).map_err(|_| Error { status: sys::ADEAD_E_ARG, message: format!("size {n} is over 2^31 - 1") })
    }

    fn need(what: &str, got: usize, want: usize) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(Error { status: sys::ADEAD_E_ARG, message: format!("{what}: {got} elements, the sizes say {want}") })
        }
    }

    pub fn init(b: Backend) -> Result<()> {
        check(unsafe { sys::adead_init(b as c_int) })
    }
    pub fn shutdown() {
        unsafe { sys::adead_shutdown() }
    }
    /// c = a [m, k] b [k, n].
    pub fn matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>> {
        need("matmul a", a.len(), m * k)?;
        need("matmul b", b.len(), k * n)?;
        let mut c = vec![0f32; m * n];
        check(unsafe { sys::adead_matmul(a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), dim(m)?, dim(n)?, dim(k)?) })?;
        Ok(c)
    }
    pub fn softmax(x: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
        need("softmax", x.len(), rows * cols)?;
        let mut y = vec![0f32; x.len()];
        check(unsafe { sys::adead_softmax(x.as_ptr(), y.as_mut_ptr(), dim(rows)?, dim(cols)?) })?;
        Ok(y)
    }
    pub fn relu(x: &[f32]) -> Result<Vec<f32>> {
        let mut y = vec![0f32; x.len()];
        check(unsafe { sys::adead_relu(x.as_ptr(), y.as_mut_ptr(), dim(x.len())?) })?;
        Ok(y)
    }
    /// q, k, v: [heads, seq_len, dim].
    pub fn attention(q: &[f32], k: &[f32], v: &[f32], seq_len: usize, dim_: usize, heads: usize) -> Result<Vec<f32>> {
        for (name, t) in [("q", q), ("k", k), ("v", v)] {
            need(name, t.len(), heads * seq_len * dim_)?;
        }
        let mut o = vec![0f32; q.len()];
        check(unsafe {
            sys::adead_attention(q.as_ptr(), k.as_ptr(), v.as_ptr(), o.as_mut_ptr(), dim(seq_len)?, dim(dim_)?, dim(heads)?)
        })?;
        Ok(o)
    }
}
