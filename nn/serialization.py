"""``save`` / ``load`` of state dicts as ``.npz``: saving that touches nothing but its file, and loading
that never runs code and never allocates more than the file really holds (see docs/reliability.md)."""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, NamedTuple

import numpy as np

import autograd_mini as ag
from autograd_mini._atomic import file_kind, write_atomic

__all__ = ["save", "load", "MAX_LOAD_BYTES", "MAX_EXPANSION", "TEMP_SUFFIX"]

MAX_LOAD_BYTES = 4 << 30    # default cap on the array bytes one nn.load allocates (max_bytes= raises it)
DEFLATE_MAX_RATIO = 1032    # deflate cannot expand one compressed byte into more than 1032 bytes
MAX_NDIM = 64               # dimensions of one array (numpy's own limit)
HEADER_SLACK = 64           # bytes a .npy header may exceed the longest numpy writes for its ndim
# MAX_HEADER (below, = _header_limit(MAX_NDIM)): the most bytes of one .npy header, read before parsing
_MAX_DIM = np.iinfo(np.intp).max
TEMP_SUFFIX = ".nn-save.tmp"
MAX_EXPANSION = 32          # default for load's max_expansion: members may expand to 32 times the file's size ...
EXPANSION_FLOOR = 16 << 20  # ... or to 16 MiB, whichever is more
MEMBER_MIN_BYTES = 84       # the fewest bytes a member occupies: local header (30), directory entry (46), '.npy' twice
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


def _members(zf: zipfile.ZipFile, f: BinaryIO, file_size: int,
             max_expansion: float | None) -> list[tuple[zipfile.ZipInfo, int]]:
    """The archive's members, each with where its data starts, after checking names, methods, sizes and byte
    ranges against the file."""
    infos = zf.infolist()
    end = zipfile._EndRecData(f)  # the end record zipfile read (a private name, there since Python 2)
    if end[zipfile._ECD_ENTRIES_TOTAL] != len(infos) or end[zipfile._ECD_ENTRIES_THIS_DISK] != len(infos):
        raise _Refused(f"its end record counts {end[zipfile._ECD_ENTRIES_TOTAL]} members, its directory holds "
                       f"{len(infos)}")
    if len(infos) * MEMBER_MIN_BYTES > file_size:
        raise _Refused(f"its directory lists {len(infos)} members, more than {file_size} bytes can hold "
                       f"({MEMBER_MIN_BYTES} bytes each at least)")
    seen: dict[str, int] = {}
    for info in infos:
        seen[info.filename] = seen.get(info.filename, 0) + 1
    repeated = [n for n, c in seen.items() if c > 1]
    if repeated:
        raise _Refused(f"member name {repeated[0]!r} appears {seen[repeated[0]]} times")
    directory = zf.start_dir  # where the central directory begins: member data must end before it
    ranges, data_starts = [], []
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
        name_and_extra = f.read(fields[-2] + fields[-1])
        _check_local_header(info, fields, name_and_extra[:fields[-2]], name_and_extra[fields[-2]:])
        data_starts.append(start + _LOCAL_HEADER.size + fields[-2] + fields[-1])
        end = data_starts[-1] + info.compress_size
        if info.flag_bits & 0x8:
            f.seek(end)
            end += _data_descriptor(info, f.read(24))
        if end > directory:
            raise _Refused(f"member {name!r} runs past the end of the data ({end} > {directory} bytes)")
        ranges.append((start, end, name))
    ranges.sort()
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
        if start < end:
            raise _Refused(f"members {a!r} and {b!r} overlap (a zip bomb's trick)")
    expanded = sum(info.file_size for info in infos)
    limit = None if max_expansion is None else max(EXPANSION_FLOOR, max_expansion * file_size)
    if limit is not None and expanded > limit:
        raise _Refused(f"its members expand to {expanded} bytes, more than {int(limit)} ({max_expansion} times "
                       f"the file's {file_size} bytes, at least {EXPANSION_FLOOR}); pass a larger "
                       "max_expansion= (or None) if you trust the file")
    return list(zip(infos, data_starts))


# flag bits that change how a reader reads a member: encrypted (0, 6), data descriptor (3), UTF-8 name (11),
# masked local header (13); the local header and the directory must agree on them
_READING_FLAGS = 0x1 | 0x8 | 0x40 | 0x800 | 0x2000


def _check_local_header(info: zipfile.ZipInfo, fields: tuple, name: bytes, extra: bytes) -> None:
    """The local header (what streaming readers use) must say what the central directory says. With a
    data descriptor (flag 0x8) the local CRC and sizes may be 0 (then the descriptor says them)."""
    flags, method, crc, csize, usize = fields[3], fields[4], fields[7], fields[8], fields[9]
    if name.decode("utf-8" if flags & 0x800 else "cp437", "replace") != info.orig_filename:
        raise _Refused(f"member {info.filename!r} is named {name!r} in its local header")
    if (csize, usize) == (0xFFFFFFFF, 0xFFFFFFFF):  # zip64: the sizes are in an extra field
        pos = 0
        while pos + 4 <= len(extra):
            kind, size = struct.unpack_from("<HH", extra, pos)
            if kind == 1 and size >= 16 and pos + 20 <= len(extra):
                usize, csize = struct.unpack_from("<QQ", extra, pos + 4)
                break
            pos += 4 + size
    central = (info.CRC, info.compress_size, info.file_size)
    described = flags & 0x8 and all(v in (0, c) for v, c in zip((crc, csize, usize), central))
    if method != info.compress_type or (flags ^ info.flag_bits) & _READING_FLAGS or not described and (
            (crc, csize, usize) != central):
        raise _Refused(f"member {info.filename!r}: its local header and the central directory disagree "
                       "(method, flags, CRC or sizes)")


def _data_descriptor(info: zipfile.ZipInfo, tail: bytes) -> int:
    """The length of the data descriptor at the start of ``tail`` (what follows a flag-0x8 member's data):
    its CRC and sizes, with or without a signature, 4 or 8 bytes each, must be the directory's."""
    for layout in ("<4sLLL", "<LLL", "<4sLQQ", "<LQQ"):
        size = struct.calcsize(layout)
        if len(tail) >= size:
            values = struct.unpack_from(layout, tail)
            if values[0] == b"PK\x07\x08":
                values = values[1:]
            elif len(values) == 4:
                continue
            if values == (info.CRC, info.compress_size, info.file_size):
                return size
    raise _Refused(f"member {info.filename!r}: its data descriptor (flag 0x8) is missing or disagrees with the "
                   "central directory (CRC or sizes)")


def _header_limit(ndim: int) -> int:
    """The longest .npy header accepted for ``ndim`` dimensions: the longest numpy writes (a 4-character
    dtype, every dimension 19 digits, 21 spaces of growth room, up to 64 of alignment, the newline) plus
    ``HEADER_SLACK`` for other writers' spacing."""
    dims = ", ".join(["9" * 19] * ndim) + ("," if ndim == 1 else "")
    text = f"{{'descr': '<f16', 'fortran_order': False, 'shape': ({dims}), }}"
    return len(text) + 21 + 64 + 1 + HEADER_SLACK


MAX_HEADER = _header_limit(MAX_NDIM)  # bytes of one .npy header: the limit for 64 dimensions
_NPY_MAGIC = b"\x93NUMPY"
_NPY_ITEM = re.compile(r"""\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*:\s*"""
                       r"""(?:'([^'\\]*)'|"([^"\\]*)"|(True|False)\b|\(([^()]*)\))\s*(,?)""")
_NPY_END = re.compile(r"\s*}\s*\Z")
_NPY_DIMS = re.compile(r"\s*(?:(?:0|[1-9][0-9]{0,18})\s*,\s*)*(?:0|[1-9][0-9]{0,18})?\s*")  # "3, 4", "3,", ""
_DIGITS = re.compile(r"[0-9]+")
_NPY_DESCR = re.compile(r"[<>|=]?[biufc][0-9]{1,2}")


def _parse_npy_header(text: str) -> dict[str, Any]:
    """numpy's header dict, parsed strictly and in linear time (never ``literal_eval``): ``{``, then
    'descr' (a string), 'fortran_order' (True or False) and 'shape' (a tuple of non-negative ints) once
    each, in any order, separated by commas (one may follow the last), then ``}`` and white space.
    Raises ``_Refused`` with the reason."""
    if not text.lstrip().startswith("{"):
        raise _Refused("its header is not a dict")
    pos, d = text.index("{") + 1, {}
    while not _NPY_END.match(text, pos):
        item = _NPY_ITEM.match(text, pos)
        if item is None or len(d) == 3:
            if re.match(r"""\s*['"]descr['"]\s*:\s*\[""", text[pos:pos + 40]):
                raise _Refused("it has a structured dtype: only numeric arrays are read")
            raise _Refused(f"its header is malformed at {text[pos:pos + 30].strip()!r}")
        key = item[1] if item[1] is not None else item[2]
        string = item[3] if item[3] is not None else item[4]
        if key in d or key not in ("descr", "fortran_order", "shape"):
            raise _Refused(f"its header has {'a repeated' if key in d else 'an unknown'} key {key!r}")
        if key == "descr":
            if string is None:
                raise _Refused(f"its header's 'descr' is not a string: {item[0].strip()!r}")
            d[key] = string
        elif key == "fortran_order":
            if item[5] is None:
                raise _Refused(f"its header's 'fortran_order' is not True or False: {item[0].strip()!r}")
            d[key] = item[5] == "True"
        else:
            d[key] = _parse_shape(item[6], item[0])
        pos = item.end()
        if not item[7] and not _NPY_END.match(text, pos):
            raise _Refused(f"its header is malformed after {item[0].strip()!r} (a comma is missing)")
    missing = [k for k in ("descr", "fortran_order", "shape") if k not in d]
    if missing:
        raise _Refused(f"its header lacks {', '.join(map(repr, missing))}")
    return d


def _parse_shape(inside: str | None, item: str) -> tuple[int, ...]:
    """The dimensions between the parentheses of a tuple literal: ``()``, ``(3,)``, ``(3, 4)`` (bool, sign,
    float and leading zeros are not dimensions; ``(3)`` is not a tuple)."""
    if inside is None or "," not in inside and inside.strip():
        raise _Refused(f"its header's 'shape' is not a tuple: {item.strip()[:80]!r}")
    if not _NPY_DIMS.fullmatch(inside):
        raise _Refused(f"its header's 'shape' is not a tuple of non-negative ints: {item.strip()[:80]!r}")
    shape = tuple(map(int, _DIGITS.findall(inside)))
    if max(shape, default=0) > _MAX_DIM:
        raise _Refused(f"its header's shape {shape} has a dimension over {_MAX_DIM}")
    return shape


class _Npy(NamedTuple):
    """What a member's .npy header says, checked against the directory."""
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    nbytes: int    # of the array
    start: int     # where the data begins
    crc: int       # CRC-32 of the header's bytes: the second read recognises them without parsing again


def _header(member: BinaryIO, info: zipfile.ZipInfo) -> _Npy:
    """The ``.npy`` header of one member, checked against the directory. The work is linear in a
    header whose length is bounded before it is read."""
    name = info.filename
    try:
        npy = _npy_header(member)
    except _Refused as e:
        raise _Refused(f"member {name!r} is not an .npy array ({e})") from None
    if npy.nbytes != info.file_size - npy.start:
        raise _Refused(f"member {name!r} declares shape {npy.shape} of {npy.dtype} ({npy.nbytes} bytes) but holds "
                       f"{info.file_size - npy.start} bytes of data")
    return npy


def _npy_header(member: BinaryIO) -> _Npy:
    magic = member.read(8)
    if len(magic) < 8 or not magic.startswith(_NPY_MAGIC):
        raise _Refused("it does not start with numpy's magic bytes")
    version = magic[6], magic[7]
    if version not in ((1, 0), (2, 0)):
        raise _Refused(f"it has .npy format version {version}; versions 1.0 and 2.0 are read")
    field = member.read(2 if version == (1, 0) else 4)
    length = int.from_bytes(field, "little")
    if len(field) < (2 if version == (1, 0) else 4) or length > MAX_HEADER:
        raise _Refused(f"its header length {length} is over {MAX_HEADER} bytes (MAX_HEADER, the limit for "
                       f"{MAX_NDIM} dimensions)" if length > MAX_HEADER else "it ends inside its header")
    raw = member.read(length)
    if len(raw) < length:
        raise _Refused("it ends inside its header")
    text = raw.decode("latin1")
    if text.count(",") > MAX_NDIM + 3:  # checked before parsing: a shape has at most MAX_NDIM commas
        raise _Refused(f"its header declares more than {MAX_NDIM} dimensions")
    d = _parse_npy_header(text)
    shape, descr = d["shape"], d["descr"]
    if len(shape) > MAX_NDIM:
        raise _Refused(f"its shape has {len(shape)} dimensions, more than {MAX_NDIM}")
    if length > _header_limit(len(shape)):
        raise _Refused(f"its header is {length} bytes, more than the {_header_limit(len(shape))} accepted "
                       f"for {len(shape)} dimension(s) (what numpy writes plus HEADER_SLACK)")
    try:
        dtype = np.dtype(descr) if _NPY_DESCR.fullmatch(descr) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufc":
        raise _Refused(f"it has dtype {descr!r}: only numeric arrays are read (objects would need pickle, "
                       "which nn.load never uses)")
    return _Npy(shape, d["fortran_order"], dtype, math.prod(shape) * dtype.itemsize, 8 + len(field) + length,
                zlib.crc32(raw, zlib.crc32(field, zlib.crc32(magic))))


def _member_bytes(f: BinaryIO, info: zipfile.ZipInfo, data_start: int, chunk: int = _CHUNK) -> Iterator[bytes]:
    """A member's uncompressed bytes, read straight from the file (inflated when deflated), in pieces of at most
    ``chunk`` bytes: the caller stops as soon as it has what it needs, so a bomb never inflates further."""
    f.seek(data_start)
    left = info.compress_size
    inflate, pending = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None, b""
    while left or pending or inflate is not None and not inflate.eof:
        if not pending and left:
            pending = f.read(min(left, chunk))
            if not pending:
                raise _Refused(f"member {info.filename!r} ends early")
            left -= len(pending)
        if inflate is None:
            out, pending = pending, b""
        else:
            out = inflate.decompress(pending, chunk)
            pending = inflate.unconsumed_tail
            if inflate.eof:
                pending, left = b"", 0  # bytes after the end of the deflate stream are not the member's
            elif not (out or pending or left):
                raise _Refused(f"member {info.filename!r} is corrupt (its deflate stream is cut short)")
        yield out


def _head(f: BinaryIO, info: zipfile.ZipInfo, data_start: int) -> io.BytesIO:
    """A member's first bytes, enough for the longest .npy header."""
    want, head = min(info.file_size, 12 + MAX_HEADER), b""
    for piece in _member_bytes(f, info, data_start, chunk=want):
        head += piece
        if len(head) >= want:
            break
    return io.BytesIO(head[:want])


def _read_array(f: BinaryIO, info: zipfile.ZipInfo, data_start: int, npy: _Npy) -> np.ndarray:
    """The array of a member whose header ``npy`` says, read into a preallocated array; the header, read
    again, must be the one parsed (its CRC), and the whole member must have the directory's CRC-32."""
    name = info.filename
    flat = np.empty(math.prod(npy.shape), dtype=npy.dtype)
    data = memoryview(flat.view(np.uint8))
    got, head, crc = 0, b"", 0
    for piece in _member_bytes(f, info, data_start):
        if got + len(piece) > npy.start + len(data):
            raise _Refused(f"member {name!r} holds more bytes than declared")
        crc = zlib.crc32(piece, crc)
        cut = max(0, min(len(piece), npy.start - got))  # the part of this piece that is header
        head += piece[:cut]
        data[got + cut - npy.start:got + len(piece) - npy.start] = memoryview(piece)[cut:]
        got += len(piece)
    if got < npy.start + len(data):
        raise _Refused(f"member {name!r} ends early")
    if zlib.crc32(head) != npy.crc:
        raise _Refused(f"member {name!r} changed while it was read")
    if crc != info.CRC:
        raise _Refused(f"member {name!r} is corrupt (bad CRC-32)")
    if npy.dtype.kind == "b" and len(data) and flat.view(np.uint8).max() > 1:
        raise _Refused(f"member {name!r} is a bool array holding bytes other than 0 and 1")
    return flat.reshape(npy.shape[::-1]).T if npy.fortran else flat.reshape(npy.shape)


@contextlib.contextmanager
def _member_errors(info: zipfile.ZipInfo) -> Iterator[None]:
    try:
        yield
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise _Refused(f"member {info.filename!r} is corrupt ({e})") from None


def _arrays(f: BinaryIO, file_size: int, max_bytes: int | None,
            max_expansion: float | None) -> Iterator[tuple[str, np.ndarray]]:
    with zipfile.ZipFile(f) as zf:
        infos = _members(zf, f, file_size, max_expansion)
        headers, total = [], 0
        for info, data_start in infos:
            with _member_errors(info):
                headers.append(_header(_head(f, info, data_start), info))
            total += headers[-1].nbytes
            if max_bytes is not None and total > max_bytes:
                raise _Refused(f"its arrays need more than {max_bytes} bytes (max_bytes); pass a larger "
                               "max_bytes= if you trust the file")
        for (info, data_start), npy in zip(infos, headers):
            with _member_errors(info):
                array = _read_array(f, info, data_start, npy)
            yield info.filename[:-4], array


def load(path: str | os.PathLike, *, max_bytes: int | None = MAX_LOAD_BYTES,
         max_expansion: float | None = MAX_EXPANSION) -> OrderedDict[str, np.ndarray]:
    """Read a state dict written by ``save`` (or any ``.npz`` of numeric arrays) as an ``OrderedDict``.

    The zip directory and every ``.npy`` header are parsed and checked before any array is
    allocated: unique ``.npy`` member names, stored or deflate members, sizes consistent between
    the directory, the headers and the bytes in the file, no overlapping members, members that
    expand to at most ``max_expansion`` times the file's size (default ``MAX_EXPANSION``, 32; at
    least ``EXPANSION_FLOOR``, 16 MiB; ``None``: only deflate's own limit), and at most
    ``max_bytes`` (default ``MAX_LOAD_BYTES``, 4 GiB; ``None`` for no cap) of arrays in total.
    The work is bounded by the file's size: a hostile file of 1 MB is refused in well under a
    second (``benchmarks/hostile_files.py``). Nothing is ever unpickled. A missing, unreadable
    file or a directory raises the ``OSError`` (``FileNotFoundError``, ``PermissionError``,
    ``IsADirectoryError``); anything else wrong with the file raises ``ValueError`` naming the
    file and the reason.
    """
    if isinstance(path, Mapping):
        raise TypeError(f"nn.load expects a file path, got a {type(path).__name__} (a state dict?): to copy it "
                        "into a model, call model.load_state_dict(state_dict)")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"nn.load: path must be a str or os.PathLike, got {type(path).__name__}")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
        raise ValueError(f"nn.load: max_bytes must be a non-negative int or None, got {max_bytes!r}")
    if max_expansion is not None and (isinstance(max_expansion, bool) or not isinstance(max_expansion, (int, float))
                                      or not max_expansion >= 0):
        raise ValueError(f"nn.load: max_expansion must be a non-negative number or None, got {max_expansion!r}")
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
            return OrderedDict(_arrays(f, st.st_size, max_bytes, max_expansion))
        except _Refused as e:
            reason = str(e)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, zlib.error, struct.error,
                NotImplementedError, RuntimeError, OverflowError, UnicodeError, KeyError, SyntaxError) as e:
            reason = f"corrupt archive ({type(e).__name__}: {e})"
    raise ValueError(f"nn.load: {path!r} is not a readable .npz archive written by nn.save: {reason}")

