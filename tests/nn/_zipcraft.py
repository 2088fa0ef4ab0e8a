"""Hand-written zip archives and .npy members for hostile-file tests: every field (sizes, offsets,
methods, flags, names) can lie, and the files stay a few hundred bytes on disk."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from dataclasses import dataclass


def npy(shape: tuple, descr: str = "<f8", body: bytes = b"", fortran: bool = False, version: int = 1) -> bytes:
    """A .npy member: magic, version, padded header declaring ``shape``/``descr``, then ``body``."""
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}".encode("latin1")
    size_field = 2 if version == 1 else 4
    pad = -(6 + 2 + size_field + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header + body


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@dataclass
class Member:
    name: str | bytes
    data: bytes                   # the bytes stored in the archive (compressed if method says so)
    plain: bytes | None = None    # the uncompressed bytes (for the CRC and declared size); default data
    method: int = 0
    flags: int = 0
    crc: int | None = None
    csize: int | None = None      # declared sizes and offset; default: the true ones
    usize: int | None = None
    offset: int | None = None
    local_name: str | bytes | None = None
    extra: bytes = b""            # the local header's extra field
    central_extra: bytes = b""    # the directory entry's extra field
    descriptor: bytes = b""       # bytes after the data (a data descriptor, with flags=0x8)
    local_flags: int | None = None


def _b(name: str | bytes) -> bytes:
    return name.encode("utf-8") if isinstance(name, str) else name


def archive(members: list[Member], *, extra_central: list[Member] = (), comment: bytes = b"") -> bytes:
    """Local headers and data, then a central directory (``extra_central`` entries point anywhere), then
    the end record with ``comment`` (a way to pad a file to an exact size)."""
    out, central = bytearray(), bytearray()
    entries = []
    for m in members:
        plain = m.data if m.plain is None else m.plain
        crc = zlib.crc32(plain) if m.crc is None else m.crc
        csize = len(m.data) if m.csize is None else m.csize
        usize = len(plain) if m.usize is None else m.usize
        offset = len(out)
        local = _b(m.name if m.local_name is None else m.local_name)
        flags = m.flags if m.local_flags is None else m.local_flags
        local_sizes = (0, 0, 0) if flags & 0x8 else (crc, csize, usize)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, m.method, 0, 0x21, *local_sizes,
                           len(local), len(m.extra)) + local + m.extra + m.data + m.descriptor
        entries.append((m, crc, csize, usize, offset if m.offset is None else m.offset))
    for m in extra_central:
        plain = m.data if m.plain is None else m.plain
        entries.append((m, zlib.crc32(plain) if m.crc is None else m.crc,
                        len(m.data) if m.csize is None else m.csize,
                        len(plain) if m.usize is None else m.usize, m.offset or 0))
    for m, crc, csize, usize, offset in entries:
        name = _b(m.name)
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, m.flags, m.method, 0, 0x21, crc,
                               csize, usize, len(name), len(m.central_extra), 0, 0, 0, 0o644 << 16,
                               offset) + name + m.central_extra
    n = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), len(comment))
    return bytes(out + central + end + comment)


def write(tmp_path, blob: bytes, name: str = "hostile.npz"):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def refused(path, reason: str, **kwargs) -> str:
    """nn.load raises a ValueError naming the file and matching ``reason``, allocating under 4 MiB."""
    import pytest

    import nn

    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            nn.load(path, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert str(path) in msg, msg
    assert reason in msg, msg
    assert peak < 4 << 20, f"{peak} bytes allocated to refuse a {os.path.getsize(path)}-byte file"
    return msg
