"""The Python binding (bindings/python): programs with numpy in and out, every example's digest as
README publishes it, traps and load errors as exceptions naming the line, fuel, the GIL released,
and ADeadRuntime's ops giving the VM's bits. Run from the top of the source tree."""
import os
import re
import threading

import numpy as np
import pytest

import adeadvm

TOP = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def test_assemble_and_run():
    p = adeadvm.assemble(".input x f32\n.input n i64 [1]\n.output y f32\n.output m i64 [1]\n"
                         " RELU y, x\n LDI r0, 0\n TLD r1, n, r0\n ADDI r1, r1, 1\n TST m, r0, r1\n HALT\n", "t.adasm")
    assert p.inputs == ["x", "n"] and p.outputs == ["y", "m"]
    x = np.array([[-1.5, 2.0, -0.0], [np.inf, -np.inf, 3.0]], dtype=np.float32)
    out = p.run(x=x, n=np.array([41], dtype=np.int64))
    assert out["y"].dtype == np.float32 and out["y"].shape == (2, 3)
    assert out["y"].tolist() == [[0.0, 2.0, 0.0], [np.inf, 0.0, 3.0]]
    assert out["m"].tolist() == [42]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", p.last_digest)
    # A non-contiguous view is converted; the caller's array is not changed.
    out2 = p.run(x=np.asfortranarray(x), n=np.array([1], dtype=np.int64))
    assert out2["y"].tolist() == out["y"].tolist()


def test_readme_digests():
    rows = re.findall(r"\| `build/bin/adead-vm --digest (examples/\S+\.adasm)( --in x=examples/mlp/x\.npy)?` \| `(sha256:[0-9a-f]{64})` \|",
                      open(os.path.join(TOP, "README.md"), encoding="utf-8").read())
    assert len(rows) == 5
    for path, mlp_input, digest in rows:
        prog = adeadvm.load(os.path.join(TOP, path))
        inputs = {"x": np.load(os.path.join(TOP, "examples/mlp/x.npy"))} if mlp_input else {}
        for simd in (None, "scalar"):
            prog.run(inputs, simd=simd, executor="cpu")
            assert prog.last_digest == digest, path


def test_errors_name_the_line():
    with pytest.raises(adeadvm.LoadError, match=r"bad\.adasm:1"):
        adeadvm.assemble(" NOPE r0\n", "bad.adasm")
    p = adeadvm.assemble(".tensor a f32 [2, 3]\n.tensor b f32 [2, 3]\n.tensor c f32\n MATMUL c, a, b\n HALT\n", "shapes.adasm")
    with pytest.raises(adeadvm.TrapError, match=r"shapes\.adasm:4: pc 0 \(MATMUL\)") as e:
        p.run()
    assert e.value.status == 3
    with pytest.raises(adeadvm.AdeadError, match="no input named"):
        adeadvm.assemble(".input x f32\n HALT\n").run(z=np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="float32, int32 or int64"):
        adeadvm.assemble(".input x f32\n HALT\n").run(x=np.zeros(2))
    with pytest.raises(adeadvm.AdeadError, match="no executor"):
        adeadvm.assemble(" HALT\n").run(executor="nonesuch")


def test_fuel_and_memory():
    fib = adeadvm.load(os.path.join(TOP, "examples/fib.adasm"))
    with pytest.raises(adeadvm.FuelError):
        fib.run(fuel=100)
    assert fib.run()["result"].tolist() == [6765]
    big = adeadvm.assemble(".tensor t f32 [1024, 1024]\n HALT\n")
    with pytest.raises(adeadvm.MemoryLimitError):
        big.run(mem=1 << 20)


def test_runs_in_threads():
    mlp = adeadvm.load(os.path.join(TOP, "examples/mlp.adasm"))
    x = np.load(os.path.join(TOP, "examples/mlp/x.npy"))
    want = mlp.run(x=x)["probs"]
    results = []

    def work():
        results.append(mlp.run(x=x)["probs"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r.view(np.uint32), want.view(np.uint32)) for r in results)


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def test_runtime_matches_the_vm():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((33, 17)).astype(np.float32)
    b = rng.standard_normal((17, 20)).astype(np.float32)
    a[3, 4], a[5, 6], b[0, 1] = np.nan, 1e-40, -np.inf
    rt = adeadvm.ADeadRuntime("cpu")
    vm = adeadvm.assemble(".input a f32\n.input b f32\n.output c f32\n.output s f32\n.output r f32\n"
                          " MATMUL c, a, b\n SOFTMAX s, a\n RELU r, a\n HALT\n").run(a=a, b=b)
    assert np.array_equal(_bits(rt.matmul(a, b)), _bits(vm["c"]))
    assert np.array_equal(_bits(rt.softmax(a)), _bits(vm["s"]))
    assert np.array_equal(_bits(rt.relu(a)), _bits(vm["r"]))
    q, k, v = (rng.standard_normal((2, 9, 8)).astype(np.float32) for _ in range(3))
    att = adeadvm.assemble(".input q f32\n.input k f32\n.input v f32\n.output o f32\n ATTENTION o, q, k, v\n HALT\n").run(q=q, k=k, v=v)
    assert np.array_equal(_bits(rt.attention(q, k, v)), _bits(att["o"]))
    with pytest.raises(adeadvm.AdeadError, match="matmul: a is"):
        rt.matmul(a, a)
    with pytest.raises(ValueError):
        adeadvm.ADeadRuntime("tpu")
