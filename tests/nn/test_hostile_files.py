"""nn.load on hostile files: bounded memory, every refusal a ValueError naming the file and the reason,
real I/O errors as themselves, nothing ever unpickled. The files are built here, a few hundred bytes each."""

import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from nn_zipcraft import Member, archive, deflate, npy
from nn_zipcraft import refused as _refused
from nn_zipcraft import write as _write

import nn
from nn.serialization import DEFLATE_MAX_RATIO

GIB = 1 << 30


def _one(name="w.npy", **kw):
    return archive([Member(name, npy((3,), body=np.arange(3.0).tobytes()), **kw)])


# ---- decompression bombs and lying sizes ------------------------------------------------------------
def test_bzip2_bomb_is_refused_by_method(tmp_path):
    bomb = archive([Member("w.npy", b"BZh9" + b"\0" * 40, method=zipfile.ZIP_BZIP2, usize=GIB)])
    assert len(bomb) < 1100
    _refused(_write(tmp_path, bomb), "compression method 12")


def test_deflate_member_declaring_more_than_deflate_can_expand_is_refused(tmp_path):
    body = deflate(npy((GIB,), "|u1"))
    path = _write(tmp_path, archive([Member("w.npy", body, method=8, usize=GIB + 128)]))
    assert os.path.getsize(path) < 1100
    _refused(path, "more than deflate can produce")


def test_real_deflate_bomb_within_the_ratio_is_bounded_by_max_bytes(tmp_path):
    plain = npy((4 << 20,), "|u1", body=bytes(4 << 20))           # 4 MiB of zeros -> ~4 KB compressed
    packed = deflate(plain)
    assert len(plain) <= DEFLATE_MAX_RATIO * len(packed) + 1024
    path = _write(tmp_path, archive([Member("w.npy", packed, plain=plain, method=8)]))
    assert os.path.getsize(path) < 8 << 10
    _refused(path, "more than 1048576 bytes (max_bytes)", max_bytes=1 << 20)
    out = nn.load(path)                                            # under the default cap it is just a file
    assert out["w"].shape == (4 << 20,) and not out["w"].any()


def test_deflate_stream_shorter_than_declared(tmp_path):
    plain = npy((1000,), "|u1", body=bytes(1000))
    short = deflate(plain[:-500])
    _refused(_write(tmp_path, archive([Member("w.npy", short, plain=plain, method=8)])), "w.npy")


def test_header_declaring_huge_shapes_in_a_tiny_file(tmp_path):
    for shape in [(10**12,), (10**30,), (2**62, 2**62), (-1,), (-2, -2), (3, -1)]:
        path = _write(tmp_path, archive([Member("w.npy", npy(shape, body=b"\0" * 24))]))
        assert os.path.getsize(path) < 300
        _refused(path, "w.npy")


def test_declared_shape_must_match_the_bytes_present(tmp_path):
    for shape, body in [((4,), np.arange(3.0).tobytes()), ((2,), np.arange(3.0).tobytes())]:
        _refused(_write(tmp_path, archive([Member("w.npy", npy(shape, body=body))])), "bytes of data")


def test_stored_member_whose_sizes_disagree(tmp_path):
    _refused(_write(tmp_path, _one(usize=GIB, csize=GIB)), "runs past the end")
    _refused(_write(tmp_path, _one(usize=GIB)), "declares 1073741824 bytes but holds")


def test_overlapping_members_are_refused(tmp_path):
    """The non-recursive zip bomb: many directory entries pointing at the same data."""
    body = npy((3,), body=np.arange(3.0).tobytes())
    extra = [Member("w.npy", body, offset=0)]
    path = _write(tmp_path, archive([Member("w.npy", body)], extra_central=extra))
    _refused(path, "appears 2 times")
    extra = [Member(f"w{i}.npy", body, offset=0, local_name="w.npy") for i in range(50)]
    _refused(_write(tmp_path, archive([Member("w.npy", body)], extra_central=extra)), "overlap")


def test_repeated_member_names(tmp_path):
    body = npy((3,), body=np.arange(3.0).tobytes())
    path = _write(tmp_path, archive([Member("w.npy", body)] * 200))
    _refused(path, "member name 'w.npy' appears 200 times")


def test_member_offsets_outside_the_archive(tmp_path):
    _refused(_write(tmp_path, _one(offset=10**9)), "starts outside the archive")
    _refused(_write(tmp_path, _one(offset=5)), "no local header")


# ---- other exception types the old loader let escape ---------------------------------------------------
def test_encrypted_unknown_method_and_lzma_members(tmp_path):
    _refused(_write(tmp_path, _one(flags=1)), "encrypted")
    _refused(_write(tmp_path, _one(method=99)), "compression method 99")
    _refused(_write(tmp_path, _one(method=zipfile.ZIP_LZMA)), "compression method 14")


def test_corrupt_crc_and_deflate_data(tmp_path):
    _refused(_write(tmp_path, _one(crc=12345)), "CRC")
    plain = npy((3,), body=np.arange(3.0).tobytes())
    _refused(_write(tmp_path, archive([Member("w.npy", b"\xff" * 40, plain=plain, method=8)])), "w.npy")


def test_names_dtypes_and_formats_that_are_not_numeric_npy(tmp_path):
    cases = [
        (archive([Member("w.txt", b"hello")]), "'w.txt' is not an .npy array"),
        (archive([Member("dir/", b"")]), "is not an .npy array"),
        (_one(local_name="x.npy"), "w.npy"),
        (archive([Member("w.npy", npy((1,), "|O", body=pickle.dumps([1])))]), "pickle"),
        (archive([Member("w.npy", npy((1,), "<U3", body=b"a" * 12))]), "only numeric"),
        (archive([Member("w.npy", npy((1,), [("a", "<f8")], body=b"\0" * 8))]), "only numeric"),
        (archive([Member("w.npy", npy((1,), "<M8[s]", body=b"\0" * 8))]), "only numeric"),
        (archive([Member("w.npy", npy((1,), "<f8", body=b"\0" * 8, version=3))]), "version (3, 0)"),
        (archive([Member("w.npy", b"\x93NUMPY\x01\x00\xff\xff{" + b" " * 100)]), "is not an .npy array"),
        (archive([Member("w.npy", b"\x93NUMPY\x01\x00\x10\x00__import__('os')\n")]), "is not an .npy array"),
        (archive([Member("w.npy", npy((3,), "|b1", body=b"\x00\x01\x02"))]), "bytes other than 0 and 1"),
    ]
    for blob, reason in cases:
        _refused(_write(tmp_path, blob), reason)


def test_not_archives(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(3))
    _refused(tmp_path / "one.npy", "single array (.npy)")
    _refused(_write(tmp_path, pickle.dumps({"w": np.zeros(2)})), "pickle")
    _refused(_write(tmp_path, b""), "not a zip archive")
    empty = _write(tmp_path, b"PK\x05\x06" + b"\0" * 18)  # an archive with no members: an empty state dict
    assert nn.load(empty) == {}


def test_every_truncation_and_byte_flip_is_a_value_error_or_a_valid_load(tmp_path):
    """Exhaustive over a small real file: no other exception type escapes, ever."""
    good = tmp_path / "good.npz"
    nn.save({"w": np.arange(3.0), "b": np.array([True, False])}, good)
    data = good.read_bytes()
    path = tmp_path / "mutant.npz"
    blobs = [data[:n] for n in range(0, len(data), 3)] + [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                                                         for i in range(len(data))]
    loaded = 0
    for blob in blobs:
        path.write_bytes(blob)
        try:
            out = nn.load(path)
        except ValueError as e:
            assert str(path) in str(e)
        else:
            loaded += 1
            assert all(isinstance(v, np.ndarray) and v.dtype.kind in "biufc" for v in out.values())
    assert loaded < len(blobs) // 4  # nearly every mutation is caught (sizes, headers, CRC-32)


# ---- real I/O errors pass through -------------------------------------------------------------------------
def test_io_errors_are_themselves(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError):
        nn.load(tmp_path)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        nn.load(3)
    with pytest.raises(ValueError, match="max_bytes must be"):
        nn.load(tmp_path / "x.npz", max_bytes=-1)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="running as root (or not on POSIX): every file is readable, so no PermissionError")
def test_unreadable_file_is_a_permission_error(tmp_path):
    path = tmp_path / "m.npz"
    nn.save({"w": np.zeros(2)}, path)
    path.chmod(0)
    with pytest.raises(PermissionError):
        nn.load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this system has no named pipes (FIFOs)")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    _refused(fifo, "FIFO, not a regular file")


# ---- what must still load ----------------------------------------------------------------------------------
def test_numpy_written_archives_load(tmp_path):
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    big_endian = np.arange(5, dtype=">i4")
    np.savez(tmp_path / "plain.npz", a=a, b=big_endian, c=np.zeros((0, 3)), d=np.float32(2.5))
    np.savez_compressed(tmp_path / "packed.npz", a=a, b=big_endian, c=np.zeros((0, 3)), d=np.float32(2.5))
    for name in ["plain.npz", "packed.npz"]:
        out = nn.load(tmp_path / name)
        assert list(out) == ["a", "b", "c", "d"]
        np.testing.assert_array_equal(out["a"], a)
        assert out["b"].dtype == big_endian.dtype and (out["b"] == big_endian).all()
        assert out["c"].shape == (0, 3) and out["d"].shape == () and out["d"] == 2.5


def test_max_bytes_cap_counts_every_array(tmp_path):
    path = tmp_path / "m.npz"
    nn.save({"a": np.zeros(100), "b": np.zeros(100)}, path)          # 1600 bytes of arrays
    _refused(path, "more than 1599 bytes (max_bytes)", max_bytes=1599)
    assert len(nn.load(path, max_bytes=1600)) == 2 and len(nn.load(path, max_bytes=None)) == 2


def test_local_header_must_agree_with_the_directory(tmp_path):
    """Streaming readers trust the local header: a file where it lies could load differently elsewhere."""
    good = tmp_path / "good.npz"
    nn.save({"w": np.arange(3.0)}, good)
    data = good.read_bytes()
    for offset in (8, 14):  # the local method, the local CRC-32
        blob = data[:offset] + bytes([data[offset] ^ 0x5A]) + data[offset + 1:]
        _refused(_write(tmp_path, blob), "its local header and the central directory disagree")


def test_npy_header_size_and_version(tmp_path):
    body = np.arange(3.0).tobytes()
    out = nn.load(_write(tmp_path, archive([Member("w.npy", npy((3,), body=body, version=2))])))
    np.testing.assert_array_equal(out["w"], np.arange(3.0))
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + b" " * 20000 + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body
    _refused(_write(tmp_path, archive([Member("w.npy", member)])), "its header length 20058 is over")


def test_no_message_advises_allow_pickle(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + b" " * 20000 + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    msg = _refused(_write(tmp_path, archive([Member("w.npy", member)])), "is not an .npy array")
    assert "allow_pickle" not in msg
    (tmp_path / "notes.txt").write_text("weights: 1 2 3\n")
    assert "allow_pickle" not in _refused(tmp_path / "notes.txt", "not a zip archive")


@pytest.mark.skipif(not os.path.exists(os.devnull) or os.name != "posix", reason="this system has no /dev/null")
def test_a_device_is_refused(tmp_path):
    with pytest.raises(ValueError, match="it is a character device, not a regular file"):
        nn.load(os.devnull)
