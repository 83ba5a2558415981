"""PyTorch anchors for `make bench-gpu` (bench/gpu.sh): fp32 with TF32 off, each the median of 20
CUDA-event timings after 5 warm-ups. Prints "key value" lines that bench_gpu reads."""
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("# torch not importable: no PyTorch anchors", file=sys.stderr)
    sys.exit(0)
if not torch.cuda.is_available():
    print("# torch sees no GPU: no PyTorch anchors", file=sys.stderr)
    sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def timed(fn):
    for _ in range(5):
        fn()
    times = []
    for _ in range(20):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    times.sort()
    return times[len(times) // 2]


dev = "cuda"
for rows, n in ((65536, 1024), (8192, 8192), (4096, 256), (32, 32768)):
    x = torch.randn(rows, n, device=dev)
    t = timed(lambda: torch.softmax(x, dim=-1))
    print(f"torch_softmax_{rows}x{n} {2 * x.numel() * 4 / t / 1e9:.1f}")
x = torch.randn(64 << 20, device=dev)
print(f"torch_relu_64M {2 * x.numel() * 4 / timed(lambda: torch.relu(x)) / 1e9:.1f}")
y = torch.randn(64 << 20, device=dev)
print(f"torch_add_64M {3 * x.numel() * 4 / timed(lambda: torch.add(x, y)) / 1e9:.1f}")
for n in (1024, 2048, 4096, 8192):
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    print(f"torch_mm_{n} {2 * n ** 3 / timed(lambda: a @ b) / 1e12:.2f}")
for B, H, S, D in ((1, 16, 4096, 64), (4, 16, 2048, 128)):
    q, k, v = (torch.randn(B, H, S, D, device=dev) for _ in range(3))
    for causal in (False, True):
        t = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        flops = 4 * B * H * S * S * D / (2 if causal else 1)
        print(f"torch_sdpa_B{B}H{H}S{S}D{D}{'_causal' if causal else ''} {flops / t / 1e12:.2f}")
