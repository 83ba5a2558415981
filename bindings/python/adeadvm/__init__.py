"""ADead-BIB VM for Python: programs run with numpy arrays in and out, and the seed's direct API.

The same bits as `adead-vm` on every CPU, SIMD level and executor (docs/ops.md).

    import adeadvm, numpy as np
    prog = adeadvm.assemble(".input x f32\\n.output y f32\\n RELU y, x\\n HALT\\n")
    out = prog.run(x=np.array([-1.0, 2.0], dtype=np.float32))   # {'y': array([0., 2.], dtype=float32)}
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from . import _adeadvm

__all__ = ["AdeadError", "LoadError", "TrapError", "FuelError", "MemoryLimitError", "Program", "assemble", "load",
           "ADeadRuntime", "version"]

version: str = _adeadvm.version

# adead_status values (include/adeadvm.h)
_E_ARG, _E_LOAD, _E_TRAP, _E_FUEL, _E_MEMORY, _E_IO, _E_NOMEM = 1, 2, 3, 4, 5, 6, 7


class AdeadError(Exception):
    """An error from libadeadvm: `status` is its adead_status, the message its text."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class LoadError(AdeadError):
    """The program does not assemble or load (the message names file:line)."""


class TrapError(AdeadError):
    """The program trapped: the message names the pc and the source line."""


class FuelError(AdeadError):
    """The instruction budget (fuel) ran out."""


class MemoryLimitError(AdeadError):
    """The program hit the VM's memory limit."""


def _raise(status: int, message: str) -> None:
    cls = {_E_LOAD: LoadError, _E_TRAP: TrapError, _E_FUEL: FuelError, _E_MEMORY: MemoryLimitError}.get(status, AdeadError)
    if status == _E_NOMEM:
        raise MemoryError(message)
    if status == _E_IO:
        raise OSError(message)
    raise cls(status, message)


class Program:
    """An assembled or loaded program. `run` may be called any number of times, from any thread."""

    def __init__(self, handle: "_adeadvm.Program", name: str):
        self._h = handle
        self.name = name
        self.last_digest: Optional[str] = None

    @property
    def inputs(self) -> List[str]:
        return self._h.inputs()

    @property
    def outputs(self) -> List[str]:
        return self._h.outputs()

    def run(self, inputs: Optional[Dict[str, np.ndarray]] = None, *, fuel: int = 0, mem: int = 0,
            executor: Optional[str] = None, simd: Optional[str] = None, threads: int = -1,
            **named: np.ndarray) -> Dict[str, np.ndarray]:
        """Runs the program to HALT and returns its outputs as arrays by name.

        Inputs by keyword (`x=array`) or in `inputs` (for names that clash with the options).
        fuel: instructions at most (0: no limit); mem: memory limit in bytes (0: the default);
        executor: "auto", "cpu", "cuda", "vulkan"; simd: "scalar", "sse2", "avx2", "avx512", "neon";
        threads: CPU threads (0: all cores). The GIL is released while it runs. The digest of the
        outputs (as `adead-vm --digest` prints it) is left in `last_digest`."""
        arrays = dict(inputs or {})
        arrays.update(named)
        for k, v in arrays.items():
            a = np.asarray(v)
            if a.dtype not in (np.float32, np.int32, np.int64):
                raise TypeError(f"input {k}: dtype {a.dtype}; the VM takes float32, int32 or int64 (use .astype)")
            arrays[k] = a
        r = self._h.run(arrays, fuel, mem, executor, simd, threads)
        if r[0]:
            _raise(r[0], r[1])
        self.last_digest = "sha256:" + r[2]
        return r[1]


def assemble(text: str, filename: str = "<string>.adasm") -> Program:
    """Assembles `.adasm` text (errors: LoadError naming filename:line)."""
    r = _adeadvm.assemble(text, filename)
    if isinstance(r, tuple):
        _raise(*r)
    return Program(r, filename)


def load(path: "str | os.PathLike[str]") -> Program:
    """Loads a `.bib` file, or assembles an `.adasm` one."""
    path = os.fspath(path)
    if path.endswith(".adasm"):
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
        return assemble(text, path)
    r = _adeadvm.load(path)
    if isinstance(r, tuple):
        _raise(*r)
    return Program(r, path)


class ADeadRuntime:
    """The seed's runtime: single ops on float32 arrays, the VM's bits, on a chosen backend.

    backend: "auto", "cpu", "cuda" or "vulkan" (one per process: a new ADeadRuntime replaces it)."""

    _codes = {"auto": -1, "cpu": 0, "cuda": 1, "vulkan": 2}

    def __init__(self, backend: str = "auto"):
        if backend not in self._codes:
            raise ValueError(f"backend {backend!r}: one of auto, cpu, cuda, vulkan")
        status, message = _adeadvm.init(self._codes[backend])
        if status:
            _raise(status, message)
        self.backend = backend

    @staticmethod
    def _op(kind: int, *arrays: np.ndarray) -> np.ndarray:
        r = _adeadvm.op(kind, *arrays)
        if r[0]:
            _raise(r[0], r[1])
        return r[1]

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a [m, k] times b [k, n]: each element the fma chain over k in order (docs/ops.md)."""
        return self._op(0, a, b)

    def softmax(self, x: np.ndarray) -> np.ndarray:
        """Softmax of each row of x [rows, cols]."""
        return self._op(1, x)

    def relu(self, x: np.ndarray) -> np.ndarray:
        return self._op(2, x)

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Scaled dot-product attention of q, k, v [heads, seq_len, dim] (not causal)."""
        return self._op(3, q, k, v)
