"""What hostile .npz files cost nn.load: file size, outcome, CPU time and peak traced memory per file.

    python benchmarks/hostile_files.py

The files are the ones issue #16 reproduced against the old loader (decompression bombs, repeated
member names, huge declared shapes), plus the largest array a 1 KB deflate member can really hold.
CPU time (time.process_time, best of 5) is robust on a loaded machine; memory is tracemalloc's peak
(numpy registers its array allocations there).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("zipcraft", ROOT / "tests" / "nn" / "_zipcraft.py")
zc = importlib.util.module_from_spec(_spec)
sys.modules["zipcraft"] = zc
_spec.loader.exec_module(zc)

import nn  # noqa: E402

GIB = 1 << 30


def _files() -> dict[str, bytes]:
    body = zc.npy((3,), body=np.arange(3.0).tobytes())
    mib = zc.npy((1 << 20,), "|u1", body=bytes(1 << 20))
    return {
        "bzip2 member declaring 1 GiB": zc.archive([zc.Member("w.npy", b"BZh9" + b"\0" * 40,
                                                              method=zipfile.ZIP_BZIP2, usize=GIB)]),
        "deflate member declaring 1 GiB": zc.archive([zc.Member("w.npy", zc.deflate(zc.npy((GIB,), "|u1")),
                                                                method=8, usize=GIB + 128)]),
        "1 MiB of zeros, deflated (loads)": zc.archive([zc.Member("w.npy", zc.deflate(mib), plain=mib, method=8)]),
        "one name repeated 200 times": zc.archive([zc.Member("w.npy", body)] * 200),
        "header declaring shape (10**12,)": zc.archive([zc.Member("w.npy", zc.npy((10**12,), body=b"\0" * 24))]),
        "header declaring shape (10**30,)": zc.archive([zc.Member("w.npy", zc.npy((10**30,), body=b"\0" * 24))]),
        "50 entries over the same data": zc.archive(
            [zc.Member("w.npy", body)],
            extra_central=[zc.Member(f"w{i}.npy", body, offset=0, local_name="w.npy") for i in range(50)]),
    }


def _measure(path: str) -> tuple[str, float, int]:
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        try:
            out = nn.load(path)
            outcome = f"loaded {sum(a.nbytes for a in out.values())} bytes"
        except ValueError:
            outcome = "ValueError"
        best = min(best, time.process_time() - t)
    tracemalloc.start()
    try:
        nn.load(path)
    except ValueError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, best, peak


def main() -> None:
    print(f"{'file':36} {'bytes':>7} {'outcome':>22} {'cpu ms':>7} {'peak KiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, blob in _files().items():
            path = os.path.join(tmp, "f.npz")
            Path(path).write_bytes(blob)
            outcome, seconds, peak = _measure(path)
            print(f"{name:36} {len(blob):7d} {outcome:>22} {seconds * 1e3:7.2f} {peak / 1024:9.0f}")


if __name__ == "__main__":
    main()
