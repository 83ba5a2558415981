#!/usr/bin/env python3
"""Writes the MLP example's weights and input batch as .npy files (no numpy needed).

The values come from a fixed linear congruential generator, so running this again gives the
same bytes; the files are committed, and this script only documents where they came from."""
import struct
import sys
from pathlib import Path

def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield ((state >> 40) / float(1 << 24)) * 2.0 - 1.0   # in [-1, 1)

def save_f32(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % len(values), *values))

def main(out_dir):
    out = Path(out_dir)
    gen = lcg(20261124)
    take = lambda n, scale: [next(gen) * scale for _ in range(n)]
    save_f32(out / "w1.npy", (8, 16), take(8 * 16, 0.5))
    save_f32(out / "b1.npy", (16,), take(16, 0.1))
    save_f32(out / "w2.npy", (16, 3), take(16 * 3, 0.5))
    save_f32(out / "b2.npy", (3,), take(3, 0.1))
    save_f32(out / "x.npy", (4, 8), take(4 * 8, 2.0))

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
