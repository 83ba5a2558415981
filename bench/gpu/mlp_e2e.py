"""`make bench-gpu`'s whole-program figure: examples/mlp scaled to 8192 wide (x [8192, 8192],
w1 [8192, 8192], w2 [8192, 8192]: probs = softmax(relu(x w1 + b1) w2 + b2)) through adead-vm
--executor cuda, against the same in PyTorch (fp32, TF32 off), both from arrays in host memory to
probs in host memory. Writes the inputs as .npy files in DIR, runs both, prints "key value" lines.
Usage: python3 mlp_e2e.py ADEAD_VM DIR"""
import os
import re
import subprocess
import sys
import time

import numpy as np

vm, d = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
n = 8192
rng = np.random.default_rng(7)
arrays = {
    "x": rng.standard_normal((n, n), dtype=np.float32),
    "w1": (rng.standard_normal((n, n), dtype=np.float32) / 90).astype(np.float32),
    "b1": rng.standard_normal(n, dtype=np.float32),
    "w2": (rng.standard_normal((n, n), dtype=np.float32) / 90).astype(np.float32),
    "b2": rng.standard_normal(n, dtype=np.float32),
}
for k, v in arrays.items():
    np.save(os.path.join(d, k + ".npy"), v)
prog = os.path.join(d, "mlp8192.adasm")
with open(prog, "w") as f:
    f.write(".input x f32\n.input w1 f32\n.input b1 f32\n.input w2 f32\n.input b2 f32\n"
            ".tensor hidden f32\n.tensor logits f32\n.output probs f32\n"
            " MATMUL hidden, x, w1\n TADD hidden, hidden, b1\n RELU hidden, hidden\n"
            " MATMUL logits, hidden, w2\n TADD logits, logits, b2\n SOFTMAX probs, logits\n HALT\n")
args = [vm, "--executor", "cuda", "--mem", "8G", "--stats", "--quiet", "--digest", prog]
for k in arrays:
    args += ["--in", f"{k}={os.path.join(d, k + '.npy')}"]
best = None
for _ in range(3):
    r = subprocess.run(args, capture_output=True, text=True)
    m = re.search(r"instructions in ([0-9.]+) s", r.stderr)
    if r.returncode or not m:
        print("# adead-vm failed:", r.stderr.strip()[-300:], file=sys.stderr)
        sys.exit(1)
    t = float(m.group(1))
    best = t if best is None else min(best, t)
print(f"adead_mlp8192_s {best:.4f}")
print("# adead-vm --stats:", r.stderr.strip().replace("\n", " | "), file=sys.stderr)
try:
    import torch
except ImportError:
    sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
ts = []
for _ in range(4):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    g = {k: torch.from_numpy(v).cuda() for k, v in arrays.items()}
    h = torch.relu(g["x"] @ g["w1"] + g["b1"])
    p = torch.softmax(h @ g["w2"] + g["b2"], dim=-1).cpu()
    ts.append(time.perf_counter() - t0)
print(f"torch_mlp8192_s {min(ts[1:]):.4f}")
