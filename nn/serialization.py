"""``save`` / ``load`` of state dicts as ``.npz``: saving that touches nothing but its file, and loading
that never runs code and never allocates more than the file really holds (see docs/reliability.md)."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import numpy as np

import autograd_mini as ag
from autograd_mini._atomic import file_kind, write_atomic

__all__ = ["save", "load", "MAX_LOAD_BYTES", "TEMP_SUFFIX"]

MAX_LOAD_BYTES = 4 << 30    # default cap on the array bytes one nn.load allocates (max_bytes= raises it)
DEFLATE_MAX_RATIO = 1032    # deflate cannot expand one compressed byte into more than 1032 bytes
MAX_HEADER = 10_000         # bytes of one .npy header (numpy's own limit)
TEMP_SUFFIX = ".nn-save.tmp"
_CHUNK = 1 << 18
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip local file header: 30 bytes


# ---- save --------------------------------------------------------------------------------------------
def _arrays_to_save(state_dict: Any) -> dict[str, np.ndarray]:
    """Check every key and value before anything is written; Tensors give their arrays."""
    if not isinstance(state_dict, Mapping):
        hint = " (pass model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(f"nn.save: expected a mapping of names to arrays{hint}, got {type(state_dict).__name__}")
    arrays = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"nn.save: keys must be strings, got {k!r}")
        if "\0" in k:
            raise ValueError(f"nn.save: key {k!r} contains a NUL character, which a zip member name cannot hold")
        try:
            encoded = k.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"nn.save: key {k!r} is not valid Unicode (a lone surrogate)") from None
        if len(encoded) + 4 > 0xFFFF:
            raise ValueError(f"nn.save: key of {len(encoded)} bytes is too long for a zip member name (max 65531)")
        if isinstance(v, Mapping):
            raise TypeError(f"nn.save: '{k}' is a nested mapping; only flat mappings of arrays can be saved "
                            "(for an optimizer's or a schedule's: nn.save(nn.flatten_state_dict(sd), path))")
        try:
            a = v.data if isinstance(v, ag.Tensor) else np.asarray(v)
        except ValueError as e:
            raise ValueError(f"nn.save: '{k}' is not an array: {e}") from None
        if a.dtype.kind not in "biufc":
            raise TypeError(f"nn.save: '{k}' has dtype {a.dtype}; only numeric arrays can be saved "
                            "(object arrays would need pickle)")
        arrays[k] = a
    return arrays


def _write_npz(f: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """A standard uncompressed ``.npz`` (what ``np.savez`` writes), one ``<key>.npy`` member per
    key written through ``zipfile`` directly, so that any key (``file``, ``allow_pickle``) is kept."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for k, a in arrays.items():
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(a), allow_pickle=False)


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a mapping of string keys to arrays (or Tensors) to ``path`` as a standard ``.npz``, atomically.

    Everything is checked before anything is written. The archive goes to a locked temp file
    ``.<name>.<hash>-<random>.nn-save.tmp`` next to the target, is flushed and fsynced, then renamed
    over it, so a crash leaves the old file (or none), never a partial one. A symlink is followed
    (its target is replaced, the link stays); a directory, FIFO or device is refused. A replaced
    file keeps its permission bits; a new one gets the umask's. Temp files left by a killed save
    are removed by the next save to the same path. No process-wide state (umask, cwd) is touched.
    """
    if isinstance(state_dict, (str, os.PathLike)) and isinstance(path, Mapping):
        raise TypeError("nn.save got the path first: the state dict comes first, nn.save(model.state_dict(), path)")
    if hasattr(state_dict, "state_dict") and not isinstance(state_dict, Mapping):  # a Module or an optimizer
        raise TypeError(f"nn.save expects a state dict, got a {type(state_dict).__name__} object: "
                        "pass model.state_dict(), as in nn.save(model.state_dict(), path)")
    arrays = _arrays_to_save(state_dict)  # everything is checked before anything is written
    write_atomic(path, lambda f: _write_npz(f, arrays), "nn.save", TEMP_SUFFIX)


# ---- load --------------------------------------------------------------------------------------------
class _Refused(Exception):
    """Why a file is refused; ``load`` turns it into a ValueError naming the file."""


def _sniff(head: bytes) -> str:
    if head.startswith(b"\x93NUMPY"):
        return "it holds a single array (.npy), not an .npz archive"
    if head[:1] == b"\x80":
        return "it is a pickle (nn.load never unpickles)"
    return "it is not a zip archive (truncated, corrupt or foreign file)"


def _members(zf: zipfile.ZipFile, f: BinaryIO, file_size: int) -> list[zipfile.ZipInfo]:
    """The archive's members after checking names, methods and byte ranges against the file."""
    infos = zf.infolist()
    seen: dict[str, int] = {}
    for info in infos:
        seen[info.filename] = seen.get(info.filename, 0) + 1
    repeated = [n for n, c in seen.items() if c > 1]
    if repeated:
        raise _Refused(f"member name {repeated[0]!r} appears {seen[repeated[0]]} times")
    directory = zf.start_dir  # where the central directory begins: member data must end before it
    ranges = []
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            raise _Refused(f"member {name!r} is not an .npy array")
        if info.flag_bits & 0x1:
            raise _Refused(f"member {name!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise _Refused(f"stored member {name!r} declares {info.file_size} bytes but holds "
                               f"{info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 1024:
                raise _Refused(f"member {name!r} declares {info.file_size} bytes from {info.compress_size} "
                               f"compressed bytes, more than deflate can produce (a decompression bomb)")
        else:
            raise _Refused(f"member {name!r} uses compression method {info.compress_type}; "
                           "only stored and deflate are read")
        start = info.header_offset
        if not 0 <= start <= directory - _LOCAL_HEADER.size:
            raise _Refused(f"member {name!r} starts outside the archive")
        f.seek(start)
        fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise _Refused(f"member {name!r} has no local header where the directory says")
        _check_local_header(info, fields, f.read(fields[-2] + fields[-1])[fields[-2]:])
        end = start + _LOCAL_HEADER.size + fields[-2] + fields[-1] + info.compress_size
        if end > directory:
            raise _Refused(f"member {name!r} runs past the end of the data ({end} > {directory} bytes)")
        ranges.append((start, end, name))
    ranges.sort()
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
        if start < end:
            raise _Refused(f"members {a!r} and {b!r} overlap (a zip bomb's trick)")
    return infos


def _check_local_header(info: zipfile.ZipInfo, fields: tuple, extra: bytes) -> None:
    """The local header (what streaming readers use) must say what the central directory says."""
    flags, method, crc, csize, usize = fields[3], fields[4], fields[7], fields[8], fields[9]
    if (csize, usize) == (0xFFFFFFFF, 0xFFFFFFFF):  # zip64: the sizes are in an extra field
        while len(extra) >= 4:
            kind, size = struct.unpack("<HH", extra[:4])
            if kind == 1 and size >= 16:
                usize, csize = struct.unpack("<QQ", extra[4:20])
                break
            extra = extra[4 + size:]
    if method != info.compress_type or (flags & 1) != (info.flag_bits & 1) or not flags & 0x8 and (
            crc != info.CRC or csize != info.compress_size or usize != info.file_size):
        raise _Refused(f"member {info.filename!r}: its local header and the central directory disagree "
                       "(method, CRC or sizes)")


def _header(member: BinaryIO, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and data size of one ``.npy`` member, checked against the directory."""
    name = info.filename
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=MAX_HEADER)
        else:
            raise _Refused(f"member {name!r} has .npy format version {version}; versions 1.0 and 2.0 are read")
    except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__  # not numpy's allow_pickle advice
        raise _Refused(f"member {name!r} is not an .npy array ({first_line})") from None
    if dtype.kind not in "biufc" or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"member {name!r} has dtype {dtype}: only numeric arrays are read (objects would need "
                       "pickle, which nn.load never uses)")
    if any(n < 0 for n in shape):
        raise _Refused(f"member {name!r} declares a negative dimension in shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    data = info.file_size - member.tell()
    if nbytes != data:
        raise _Refused(f"member {name!r} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                       f"{data} bytes of data")
    return shape, fortran, dtype, nbytes


def _read_array(member: BinaryIO, name: str, shape: tuple, fortran: bool, dtype: np.dtype) -> np.ndarray:
    flat = np.empty(math.prod(shape), dtype=dtype)
    buf = flat.view(np.uint8)
    pos = 0
    while pos < len(buf):
        chunk = member.read(min(_CHUNK, len(buf) - pos))
        if not chunk:
            raise _Refused(f"member {name!r} ends early")
        buf[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
        pos += len(chunk)
    if member.read(1):
        raise _Refused(f"member {name!r} holds more bytes than declared")
    if dtype.kind == "b" and len(buf) and buf.max() > 1:
        raise _Refused(f"member {name!r} is a bool array holding bytes other than 0 and 1")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


@contextlib.contextmanager
def _member_errors(info: zipfile.ZipInfo) -> Iterator[None]:
    try:
        yield
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise _Refused(f"member {info.filename!r} is corrupt ({e})") from None


def _arrays(f: BinaryIO, file_size: int, max_bytes: int | None) -> Iterator[tuple[str, np.ndarray]]:
    with zipfile.ZipFile(f) as zf:
        infos = _members(zf, f, file_size)
        headers, total = [], 0
        for info in infos:
            with _member_errors(info), zf.open(info) as member:
                headers.append(_header(member, info))
            total += headers[-1][3]
            if max_bytes is not None and total > max_bytes:
                raise _Refused(f"its arrays need more than {max_bytes} bytes (max_bytes); pass a larger "
                               "max_bytes= if you trust the file")
        for info, (shape, fortran, dtype, _) in zip(infos, headers):
            with _member_errors(info), zf.open(info) as member:
                _header(member, info)
                array = _read_array(member, info.filename, shape, fortran, dtype)
            yield info.filename[:-4], array


def load(path: str | os.PathLike, *, max_bytes: int | None = MAX_LOAD_BYTES) -> OrderedDict[str, np.ndarray]:
    """Read a state dict written by ``save`` (or any ``.npz`` of numeric arrays) as an ``OrderedDict``.

    The zip directory and every ``.npy`` header are parsed and checked before any array is
    allocated: unique ``.npy`` member names, stored or deflate members, sizes consistent between
    the directory, the headers and the bytes in the file, no overlapping members, and at most
    ``max_bytes`` (default ``MAX_LOAD_BYTES``, 4 GiB; ``None`` for no cap) of arrays in total.
    Nothing is ever unpickled. A missing, unreadable file or a directory raises the ``OSError``
    (``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``); anything else wrong with
    the file raises ``ValueError`` naming the file and the reason.
    """
    if isinstance(path, Mapping):
        raise TypeError(f"nn.load expects a file path, got a {type(path).__name__} (a state dict?): to copy it "
                        "into a model, call model.load_state_dict(state_dict)")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"nn.load: path must be a str or os.PathLike, got {type(path).__name__}")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
        raise ValueError(f"nn.load: max_bytes must be a non-negative int or None, got {max_bytes!r}")
    path = os.fspath(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "nn.load: the path is a directory", path)
        try:
            if not stat.S_ISREG(st.st_mode):
                raise _Refused(f"it is a {file_kind(st.st_mode)}, not a regular file")
            if not zipfile.is_zipfile(f):
                f.seek(0)
                raise _Refused(_sniff(f.read(8)))
            f.seek(0)
            return OrderedDict(_arrays(f, st.st_size, max_bytes))
        except _Refused as e:
            reason = str(e)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, zlib.error, struct.error,
                NotImplementedError, RuntimeError, OverflowError, UnicodeError, KeyError, SyntaxError) as e:
            reason = f"corrupt archive ({type(e).__name__}: {e})"
    raise ValueError(f"nn.load: {path!r} is not a readable .npz archive written by nn.save: {reason}")

