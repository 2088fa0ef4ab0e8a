"""nn.load's .npy header parser and the bounds that keep its work proportional to the file (issue #25 items 11-13,
16): numpy's headers and other writers' load, malformed ones are a ValueError naming the file, every limit is tested
just inside and just outside its edge. The CPU times are measured in benchmarks/hostile_files.py, not here."""

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_zipcraft import Member, archive, deflate, npy, refused, write

import nn
from nn.serialization import (
    EXPANSION_FLOOR,
    HEADER_SLACK,
    MAX_EXPANSION,
    MAX_HEADER,
    MAX_NDIM,
    MEMBER_MIN_BYTES,
    _header_limit,
)


def _npy_text(text: str, body: bytes = b"", version: int = 1) -> bytes:
    """A .npy member whose header is ``text`` exactly (the length field says its length)."""
    raw = text.encode("latin1")
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H" if version == 1 else "<I", len(raw)) + raw + body


def _padded(shape: tuple, length: int, descr: str = "<f8", body: bytes = b"") -> bytes:
    """A .npy member declaring ``shape`` whose header is padded with spaces to ``length`` bytes."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    return _npy_text(text + " " * (length - len(text) - 1) + "\n", body)


def _load_member(tmp_path, member: bytes, **kwargs):
    return nn.load(write(tmp_path, archive([Member("w.npy", member)])), **kwargs)


# ---- what numpy and other writers write loads ------------------------------------------------------------
_DTYPES = ["<f8", "<f4", "<f2", ">f8", "|b1", "|i1", "<i2", ">i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<c8", "<c16"]


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 3), max_size=5).map(tuple), dtype=st.sampled_from(_DTYPES),
       fortran=st.booleans(), version=st.sampled_from([(1, 0), (2, 0)]))
def test_numpy_written_headers_load(tmp_path_factory, shape, dtype, fortran, version):
    a = np.arange(int(np.prod(shape)), dtype=np.int64).astype(dtype).reshape(shape, order="F" if fortran else "C")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
    path = tmp_path_factory.getbasetemp() / "numpy_written.npz"
    path.write_bytes(archive([Member("w.npy", buf.getvalue())]))
    out = nn.load(path)["w"]
    assert out.dtype == a.dtype and out.shape == a.shape and out.flags.f_contiguous == a.flags.f_contiguous
    np.testing.assert_array_equal(out, a)


def test_sixty_four_dimensions_load_sixty_five_do_not(tmp_path):
    for ndim in (MAX_NDIM, MAX_NDIM - 1):
        a = np.arange(2.0).reshape((2,) + (1,) * (ndim - 1))
        np.savez(tmp_path / "m.npz", w=a)
        np.testing.assert_array_equal(nn.load(tmp_path / "m.npz")["w"], a)
    refused(write(tmp_path, archive([Member("w.npy", npy((0,) * (MAX_NDIM + 1)))])),
            f"its shape has {MAX_NDIM + 1} dimensions, more than {MAX_NDIM}")
    # more commas than a 64-dimensional header has: refused before parsing
    refused(write(tmp_path, archive([Member("w.npy", npy((0,) * (MAX_NDIM + 2)))])),
            f"its header declares more than {MAX_NDIM} dimensions")


@pytest.mark.parametrize("text", [
    '{"descr": "<f8", "fortran_order": False, "shape": (3,)}\n',              # double quotes, no trailing comma
    "{'shape': (3,), 'fortran_order': True, 'descr': '<f8'}",                  # another key order
    "{'descr':'<f8','fortran_order':False,'shape':(3,),}",                     # no spaces
    "  {\t'descr' : '<f8' ,\n'fortran_order' : False , 'shape' : ( 3 , ) }  \n",
    "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 3), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3,), }",
    '{"descr": "<f8", "fortran_order": false, "shape": (3,)}',                 # JSON's false: numpy refuses too
])
def test_other_writers_headers_read_as_numpy_reads_them(tmp_path, text):
    member = _npy_text(text, np.arange(3.0).tobytes())
    try:
        expected = np.lib.format.read_array(io.BytesIO(member), allow_pickle=False)
    except ValueError:
        refused(write(tmp_path, archive([Member("w.npy", member)])), "is not an .npy array")
        return
    out = _load_member(tmp_path, member)["w"]
    assert out.shape == expected.shape and out.flags.f_contiguous == expected.flags.f_contiguous
    np.testing.assert_array_equal(out, expected)


# ---- malformed headers: a ValueError naming the file (item 12) ---------------------------------------------
_SHAPES = {
    "(True, True)": "not a tuple of non-negative ints",       # bool is not a dimension (was a bare TypeError)
    "(True,)": "not a tuple of non-negative ints",
    "(3,": "malformed",                                        # unclosed parenthesis (was tokenize.TokenError)
    "((3,),)": "malformed",
    "(3)": "not a tuple",                                      # an int in parentheses
    "3": "malformed",
    "[3]": "malformed",
    "(-1,)": "not a tuple of non-negative ints",
    "(3.0,)": "not a tuple of non-negative ints",
    "(1e3,)": "not a tuple of non-negative ints",
    "(0x3,)": "not a tuple of non-negative ints",
    "(1_0,)": "not a tuple of non-negative ints",
    "(03,)": "not a tuple of non-negative ints",
    "(3,,)": "not a tuple of non-negative ints",
    "(,)": "not a tuple of non-negative ints",
    "(None,)": "not a tuple of non-negative ints",
    f"({10**19},)": "not a tuple of non-negative ints",         # 19 digits at most, and ...
    f"({2**63},)": f"has a dimension over {2**63 - 1}",           # ... within numpy's intp
}


@pytest.mark.parametrize("shape, reason", _SHAPES.items())
def test_malformed_shapes(tmp_path, shape, reason):
    text = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}\n"
    msg = refused(write(tmp_path, archive([Member("w.npy", _npy_text(text, b"\0" * 24))])), reason)
    assert "member 'w.npy' is not an .npy array" in msg


@pytest.mark.parametrize("shape, body", [("(True, True)", 8), ("(True,)", 8), ("(False, 3)", 0)])
def test_bool_dimensions_that_account_for_the_bytes_are_refused(tmp_path, shape, body):
    """The old loader let these through its size check (True * True * 8 == 8) to a bare TypeError."""
    text = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}\n"
    refused(write(tmp_path, archive([Member("w.npy", _npy_text(text, b"\0" * body))])),
            "is not an .npy array (its header's 'shape' is not a tuple of non-negative ints")


@pytest.mark.parametrize("text, reason", [
    ("", "its header is not a dict"),
    ("\n", "its header is not a dict"),
    ("{", "malformed"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)", "malformed"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x", "malformed"),
    ("{'descr': '<f8', 'fortran_order': False}", "lacks 'shape'"),
    ("{}", "lacks 'descr', 'fortran_order', 'shape'"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'shape': (3,)}", "malformed"),
    ("{'descr': '<f8', 'descr': '<f8', 'shape': (3,)}", "a repeated key 'descr'"),
    ("{'descr': '<f8', 'fortran_order': False, 'strides': (3,)}", "an unknown key 'strides'"),
    ("{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}", "a comma is missing"),
    ("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", "malformed"),
    ("{'descr': '<f8', 'fortran_order': 'False', 'shape': (3,)}", "'fortran_order' is not True or False"),
    ("{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3,)}", "malformed"),
    ("{'descr': 8, 'fortran_order': False, 'shape': (3,)}", "malformed"),
    ("{'descr': True, 'fortran_order': False, 'shape': (3,)}", "'descr' is not a string"),
    ("{'descr': '<f8\\'', 'fortran_order': False, 'shape': (3,)}", "malformed"),
    ("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,)}", "structured dtype: only numeric"),
    ("{'descr': 'float64', 'fortran_order': False, 'shape': (3,)}", "dtype 'float64': only numeric"),
    ("{'descr': '<f3', 'fortran_order': False, 'shape': (3,)}", "dtype '<f3': only numeric"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", "pickle"),
    ("{'descr': '<U1', 'fortran_order': False, 'shape': (3,)}", "only numeric"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}; __import__('os')", "malformed"),
    ("__import__('os').system('true')", "its header is not a dict"),
])
def test_malformed_headers(tmp_path, text, reason):
    msg = refused(write(tmp_path, archive([Member("w.npy", _npy_text(text, b"\0" * 24))])), reason)
    assert "member 'w.npy' is not an .npy array" in msg


def test_truncated_headers(tmp_path):
    whole = npy((3,), body=np.arange(3.0).tobytes())
    for cut, reason in [(5, "magic bytes"), (9, "ends inside its header"), (40, "ends inside its header")]:
        refused(write(tmp_path, archive([Member("w.npy", whole[:cut])])), reason)


# ---- header length: close to what numpy writes (item 11) ------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (3,), (1, 3), (1,) * (MAX_NDIM - 1)])
def test_header_length_edge_per_ndim(tmp_path, shape):
    body = np.zeros(int(np.prod(shape))).tobytes()
    limit = _header_limit(len(shape))
    assert limit <= MAX_HEADER
    out = _load_member(tmp_path, _padded(shape, limit, body=body))["w"]          # just inside
    assert out.shape == shape
    refused(write(tmp_path, archive([Member("w.npy", _padded(shape, limit + 1, body=body))])),
            f"its header is {limit + 1} bytes, more than the {limit} accepted for {len(shape)} dimension(s)")


def test_header_limit_is_what_numpy_writes_plus_the_slack():
    """numpy's longest header for n dimensions (19-digit dimensions, growth room, 64-byte alignment) fits."""
    for ndim in (0, 1, 2, 5, MAX_NDIM):
        for version in [(1, 0), (2, 0)]:
            buf = io.BytesIO()
            shape = (2**62,) * ndim
            np.lib.format.write_array_header_1_0(buf, {"descr": "<c16", "fortran_order": False, "shape": shape}) \
                if version == (1, 0) else np.lib.format.write_array_header_2_0(
                    buf, {"descr": "<c16", "fortran_order": False, "shape": shape})
            written = len(buf.getvalue()) - (10 if version == (1, 0) else 12)
            assert written <= _header_limit(ndim) - HEADER_SLACK
    assert MAX_HEADER == _header_limit(MAX_NDIM)


def test_header_length_field_over_max_header_is_refused_before_reading(tmp_path):
    body = b"\0" * 8
    for length, ok in [(MAX_HEADER, True), (MAX_HEADER + 1, False)]:
        member = _padded((1,) * MAX_NDIM, length, body=body)
        if ok:
            assert _load_member(tmp_path, member)["w"].shape == (1,) * MAX_NDIM
        else:
            refused(write(tmp_path, archive([Member("w.npy", member)])),
                    f"its header length {MAX_HEADER + 1} is over {MAX_HEADER} bytes")
    # the length field alone decides: the bytes it announces are never read
    refused(write(tmp_path, archive([Member("w.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31))])),
            f"its header length {2**31} is over")


def test_thousands_of_deflated_near_limit_headers_are_refused_at_the_first(tmp_path):
    """Issue #25's file: 2,500 deflated members, each a 10 KB header, took 7-10 s to refuse."""
    header = _padded((0,), 9_700)
    members = [Member(f"a{i}.npy", deflate(header), plain=header, method=8) for i in range(2500)]
    path = write(tmp_path, archive(members))
    assert path.stat().st_size < 1_000_000
    refused(path, "its members expand to 24275000 bytes")  # the expansion bound sees it first ...
    refused(path, "member 'a0.npy' is not an .npy array (its header length 9700 is over", max_expansion=None)


# ---- how many members a file can hold ---------------------------------------------------------------------------
@pytest.mark.parametrize("slack, reason", [(0, "member '001.npy' is named b'000.npy' in its local header"),
                                           (-1, "more than")])
def test_member_count_edge(tmp_path, slack, reason):
    """Each member needs a local header and a directory entry: n entries in fewer than n * MEMBER_MIN_BYTES bytes
    are refused before any local header is read; exactly that many bytes get as far as the local headers."""
    body = npy((0,))
    n = 200
    extra = [Member(f"{i:03d}.npy", body, offset=0, local_name="000.npy") for i in range(1, n)]
    bare = archive([Member("000.npy", body)], extra_central=extra)
    pad = n * MEMBER_MIN_BYTES + slack - len(bare)
    assert pad > 0
    path = write(tmp_path, archive([Member("000.npy", body)], extra_central=extra, comment=b" " * pad))
    assert path.stat().st_size == n * MEMBER_MIN_BYTES + slack
    refused(path, f"its directory lists {n} members, more than" if slack < 0 else reason)


def test_a_real_one_member_archive_is_over_member_min_bytes(tmp_path):
    nn.save({"": np.zeros(0, np.uint8)}, tmp_path / "m.npz")
    assert (tmp_path / "m.npz").stat().st_size >= MEMBER_MIN_BYTES + 22
    assert list(nn.load(tmp_path / "m.npz")) == [""]


# ---- the data-descriptor flag (item 13) ---------------------------------------------------------------------------
def _described(flags=0x8, local_flags=None, descriptor=None, **kw):
    plain = npy((3,), body=np.arange(3.0).tobytes())
    data = deflate(plain)
    if descriptor is None:
        descriptor = struct.pack("<4sLLL", b"PK\x07\x08", zlib.crc32(plain), len(data), len(plain))
    return archive([Member("w.npy", data, plain=plain, method=8, flags=flags, local_flags=local_flags,
                           descriptor=descriptor, **kw)])


def test_streamed_archives_with_data_descriptors_load(tmp_path):
    """What zipfile writes to an unseekable stream: flag 0x8, zeros in the local header, a descriptor after."""
    class Stream(io.RawIOBase):
        def __init__(self):
            self.out = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.out += b
            return len(b)

    stream = Stream()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, a in [("w", np.arange(6.0).reshape(2, 3)), ("b", np.array([True, False]))]:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a)
            with zf.open(f"{key}.npy", "w") as member:
                member.write(buf.getvalue())
    blob = bytes(stream.out)
    assert struct.unpack_from("<H", blob, 6)[0] & 0x8 and struct.unpack_from("<L", blob, 14)[0] == 0
    out = nn.load(write(tmp_path, blob))
    np.testing.assert_array_equal(out["w"], np.arange(6.0).reshape(2, 3))
    assert out["b"].tolist() == [True, False]


def test_descriptor_layouts(tmp_path):
    plain = npy((3,), body=np.arange(3.0).tobytes())
    crc, csize, usize = zlib.crc32(plain), len(deflate(plain)), len(plain)
    for layout in [("<4sLLL", b"PK\x07\x08"), ("<LLL",), ("<4sLQQ", b"PK\x07\x08"), ("<LQQ",)]:
        descriptor = struct.pack(layout[0], *layout[1:], crc, csize, usize)
        np.testing.assert_array_equal(nn.load(write(tmp_path, _described(descriptor=descriptor)))["w"],
                                      np.arange(3.0))


def test_local_descriptor_flag_must_match_the_directory(tmp_path):
    """A streaming reader trusts the local header: with 0x8 there and zero sizes, a stored member reads as empty."""
    body = npy((3,), body=np.arange(3.0).tobytes())
    path = write(tmp_path, archive([Member("w.npy", body, local_flags=0x8)]))
    refused(path, "its local header and the central directory disagree (method, flags, CRC or sizes)")
    refused(write(tmp_path, _described(flags=0, local_flags=0x8)), "disagree")
    refused(write(tmp_path, _described(flags=0x8, local_flags=0)), "disagree")
    refused(write(tmp_path, archive([Member("w.npy", body, flags=0x800, local_flags=0)])), "disagree")


def test_descriptor_must_agree_with_the_directory(tmp_path):
    plain = npy((3,), body=np.arange(3.0).tobytes())
    crc, csize, usize = zlib.crc32(plain), len(deflate(plain)), len(plain)
    for bad in [(crc, 0, 0), (crc ^ 1, csize, usize), (crc, csize, usize + 1), (0, 0, 0)]:
        descriptor = struct.pack("<4sLLL", b"PK\x07\x08", *bad)
        refused(write(tmp_path, _described(descriptor=descriptor)), "its data descriptor (flag 0x8) is missing or "
                                                                    "disagrees with the central directory")
    refused(write(tmp_path, _described(descriptor=b"")), "data descriptor")


def test_local_values_under_the_descriptor_flag_are_zero_or_the_directorys(tmp_path):
    """With 0x8 the local CRC and sizes may be 0; a nonzero local value must still be the directory's."""
    plain = npy((3,), body=np.arange(3.0).tobytes())
    data = deflate(plain)
    descriptor = struct.pack("<4sLLL", b"PK\x07\x08", zlib.crc32(plain), len(data), len(plain))
    blob = bytearray(_described(descriptor=descriptor))
    struct.pack_into("<LLL", blob, 14, zlib.crc32(plain), len(data), len(plain))  # the true values: fine
    np.testing.assert_array_equal(nn.load(write(tmp_path, bytes(blob)))["w"], np.arange(3.0))
    struct.pack_into("<L", blob, 22, len(plain) + 1)                              # a lying local size
    refused(write(tmp_path, bytes(blob)), "disagree")


# ---- how far a file may expand (item 16) ----------------------------------------------------------------------------
def _zeros_archive(usize: int, file_size: int | None = None) -> bytes:
    """A deflated member of exactly ``usize`` bytes (a .npy of zeros), padded to ``file_size`` bytes."""
    head = len(npy((usize,), "|u1"))
    plain = npy((usize - head,), "|u1", body=bytes(usize - head))
    assert len(plain) == usize
    member = Member("w.npy", deflate(plain), plain=plain, method=8)
    bare = archive([member])
    pad = 0 if file_size is None else file_size - len(bare)
    assert pad >= 0
    return archive([member], comment=b" " * pad)


def test_expansion_floor_edge(tmp_path):
    assert nn.load(write(tmp_path, _zeros_archive(EXPANSION_FLOOR)))["w"].nbytes < EXPANSION_FLOOR  # just inside
    path = write(tmp_path, _zeros_archive(EXPANSION_FLOOR + 1))
    assert MAX_EXPANSION * path.stat().st_size < EXPANSION_FLOOR
    refused(path, f"its members expand to {EXPANSION_FLOOR + 1} bytes, more than {EXPANSION_FLOOR}")
    assert nn.load(path, max_expansion=None)["w"].size > EXPANSION_FLOOR - 200      # the opt-in


@pytest.mark.parametrize("slack", [0, -1])
def test_expansion_ratio_edge(tmp_path, slack):
    """Above the floor the bound is max_expansion times the file's size: exactly that loads, one more byte does not."""
    ratio, size = 1000, 20_000
    path = write(tmp_path, _zeros_archive(ratio * size, file_size=size + slack))
    assert path.stat().st_size == size + slack and ratio * size > EXPANSION_FLOOR
    if slack == 0:
        assert nn.load(path, max_expansion=ratio)["w"].size > ratio * size - 200
    else:
        refused(path, f"its members expand to {ratio * size} bytes, more than {ratio * (size - 1)} (1000 times",
                max_expansion=ratio)
    refused(path, "pass a larger max_expansion= (or None) if you trust the file")  # the default: MAX_EXPANSION times


def test_the_expansion_counts_every_member(tmp_path):
    half = _zeros_archive(EXPANSION_FLOOR // 2 + 1)
    with zipfile.ZipFile(io.BytesIO(half)) as zf:
        data = zf.read("w.npy")
    with zipfile.ZipFile(buf := io.BytesIO(), "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.npy", data)
        zf.writestr("b.npy", data)
    refused(write(tmp_path, buf.getvalue()), f"its members expand to {2 * len(data)} bytes")


def test_max_expansion_argument(tmp_path):
    nn.save({"w": np.zeros(3)}, tmp_path / "m.npz")
    for bad in (-1, "64", True, float("nan")):
        with pytest.raises(ValueError, match="max_expansion must be a non-negative number or None"):
            nn.load(tmp_path / "m.npz", max_expansion=bad)
    for ok in (0, 1, 2.5, None):
        assert nn.load(tmp_path / "m.npz", max_expansion=ok)["w"].shape == (3,)


# ---- reading the members (nn.load inflates them itself, in bounded pieces) -------------------------------------
def test_a_deflate_stream_longer_than_declared_stops_at_the_declared_size(tmp_path):
    plain = npy((1000,), "|u1", body=bytes(1000))
    longer = deflate(plain + bytes(5000))  # the stream goes on past what the header and the directory say
    refused(write(tmp_path, archive([Member("w.npy", longer, plain=plain, method=8)])),
            "member 'w.npy' holds more bytes than declared")


def test_bytes_after_the_end_of_the_deflate_stream_are_not_the_members(tmp_path):
    """As zipfile reads them: the member ends where its deflate stream ends."""
    plain = npy((3,), body=np.arange(3.0).tobytes())
    packed = deflate(plain) + b"trailing"
    out = nn.load(write(tmp_path, archive([Member("w.npy", packed, plain=plain, method=8)])))
    np.testing.assert_array_equal(out["w"], np.arange(3.0))


def test_a_header_that_changes_between_the_two_reads_is_refused(tmp_path, monkeypatch):
    """The second read recognises the header by its CRC instead of parsing it again."""
    import nn.serialization as ser
    path = tmp_path / "m.npz"
    nn.save({"w": np.arange(6.0).reshape(2, 3)}, path)
    first_read = ser._head

    def other_header(f, info, data_start):  # what a file rewritten in place between the reads would give
        return io.BytesIO(first_read(f, info, data_start).getvalue().replace(b"False", b"True "))

    monkeypatch.setattr(ser, "_head", other_header)
    refused(path, "member 'w.npy' changed while it was read")


def test_a_local_name_other_than_the_directorys_is_refused(tmp_path):
    body = npy((3,), body=np.arange(3.0).tobytes())
    refused(write(tmp_path, archive([Member("w.npy", body, local_name="v.npy")])),
            "member 'w.npy' is named b'v.npy' in its local header")
    np.testing.assert_array_equal(nn.load(write(tmp_path, archive([Member("é.npy", body, flags=0x800)])))["é"],
                                  np.arange(3.0))


@pytest.mark.parametrize("write_npz", [np.savez, np.savez_compressed])
def test_every_truncation_and_byte_flip_is_refused_or_loads_the_same_arrays(tmp_path, write_npz):
    """Exhaustive over a small real archive: a mutant that loads holds exactly the original arrays (a flipped
    member count in the end record used to load the archive without its last members)."""
    arrays = {"w": np.arange(3.0), "b": np.array([True, False]), "z": np.zeros((0, 2), np.float32)}
    write_npz(tmp_path / "good.npz", **arrays)
    data = (tmp_path / "good.npz").read_bytes()
    mutants = [data[:n] for n in range(0, len(data), 3)]
    mutants += [data[:i] + bytes([data[i] ^ flip]) + data[i + 1:] for i in range(len(data)) for flip in (0x01, 0x80)]
    path = tmp_path / "mutant.npz"
    for blob in mutants:
        path.write_bytes(blob)
        try:
            out = nn.load(path)
        except ValueError as e:
            assert str(path) in str(e)
            continue
        assert list(out) == list(arrays)
        for k, a in arrays.items():
            assert out[k].dtype == a.dtype and out[k].shape == a.shape and (out[k] == a).all()
