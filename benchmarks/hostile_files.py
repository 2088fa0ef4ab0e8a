"""What hostile .npz files cost nn.load: file size, outcome, CPU time and peak traced memory per file.

    python benchmarks/hostile_files.py [part of a file's name]

The files are the ones issue #16 reproduced against the old loader (decompression bombs, repeated
member names, huge declared shapes), plus the largest array a 1 KB deflate member can really hold,
and issue #25's files that filled 1 MB with work per byte: thousands of deflated 10 KB headers,
headers of 3,200 dimensions, as many valid members of the longest accepted header as fit with the
last one corrupt, directory entries with 64 KB extra fields, and 1 MB of deflated zeros. The target
(docs/reliability.md): any hostile file under 1 MB refused in under 0.5 s of CPU.
CPU time (time.process_time, best of 5) is robust on a loaded machine; memory is tracemalloc's peak
(numpy registers its array allocations there).
"""

from __future__ import annotations

import importlib.util
import os
import struct
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
from nn.serialization import _header_limit  # noqa: E402

GIB = 1 << 30
MB = 1_000_000


def _fill(make) -> list:
    """As many members ``make(i)`` as fit in a file under 1 MB."""
    members, size = [], 2_000
    while True:
        m = make(len(members))
        size += 30 + 46 + 2 * len(m.name) + len(m.data) + len(m.extra) + len(m.central_extra)
        if size > MB:
            return members
        members.append(m)


def _padded_npy(shape: tuple, length: int) -> bytes:
    """A .npy of bytes of ``shape`` (zeros) whose header is padded to ``length`` bytes."""
    plain = zc.npy(shape, "|u1")
    plain = plain[:-1] + b" " * (length - (len(plain) - 10)) + b"\n"
    return plain[:8] + struct.pack("<H", len(plain) - 10) + plain[10:] + bytes(int(np.prod(shape)))


def _deflated(name: str, plain: bytes, **kw) -> zc.Member:
    return zc.Member(name, zc.deflate(plain), plain=plain, method=8, **kw)


def _last_corrupt(members: list) -> list:
    last = members[-1]
    return members[:-1] + [_deflated(last.name, last.plain, crc=zc.zlib.crc32(last.plain) ^ 1)]


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
        # issue #25 item 11: files under 1 MB that filled themselves with work per byte
        "deflated 10 KB headers, all that fit": zc.archive(_fill(
            lambda i: _deflated(f"a{i}.npy", _padded_npy((0,), 9_700)))),
        "deflated 3,200-dim headers, all that fit": zc.archive(_fill(
            lambda i: _deflated(f"a{i}.npy", zc.npy((0,) + (1,) * 3199)))),
        "longest valid headers, the last corrupt": zc.archive(_last_corrupt(_fill(
            lambda i: _deflated(f"a{i}.npy", _padded_npy((0,) + (1,) * 63, _header_limit(64)))))),
        "the same with 4 KB of data each": zc.archive(_last_corrupt(_fill(
            lambda i: _deflated(f"a{i}.npy", _padded_npy((4096,) + (1,) * 63, _header_limit(64)))))),
        "smallest valid members, the last corrupt": zc.archive(_last_corrupt(_fill(
            lambda i: _deflated(f"{i:x}.npy", zc.npy((0,)))))),
        "18,500 directory entries, one member": zc.archive([zc.Member("0.npy", zc.npy((0,)))], extra_central=[
            zc.Member(f"{i:x}.npy", zc.npy((0,)), offset=0, local_name="0.npy") for i in range(1, 18_500)]),
        "entries with 64 KB extra fields": zc.archive(_fill(
            lambda i: zc.Member(f"{i}.npy", zc.npy((0,)), central_extra=b"\x99\x99\0\0" * 16_000))),
        "1 MB of deflated zeros (1 GB)": zc.archive([_deflated("w.npy", zc.npy((975 << 20,), "|u1",
                                                                                 body=bytes(975 << 20)))]),
        "32 MB inflated in 1 MB, its CRC wrong": zc.archive(_last_corrupt([
            zc.Member("pad.npy", zc.npy((968_000,), "|u1", body=bytes(968_000))),
            _deflated("w.npy", zc.npy((30_900_000,), "|u1", body=bytes(30_900_000)))])),
    }


def _measure(path: str) -> tuple[str, float, int]:
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        try:
            out = nn.load(path)
            outcome = f"loaded {sum(a.nbytes for a in out.values())} B"
        except ValueError:
            outcome = "ValueError"
        best = min(best, time.process_time() - t)
        if best > 1:  # the old loader's slow files: once is enough
            break
    tracemalloc.start()
    try:
        nn.load(path)
    except ValueError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, best, peak


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"{'file':42} {'bytes':>7} {'outcome':>18} {'cpu ms':>8} {'peak KiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, blob in _files().items():
            if only not in name:
                continue
            path = os.path.join(tmp, "f.npz")
            Path(path).write_bytes(blob)
            outcome, seconds, peak = _measure(path)
            print(f"{name:42} {len(blob):7d} {outcome:>18} {seconds * 1e3:8.2f} {peak / 1024:9.0f}", flush=True)


if __name__ == "__main__":
    main()
