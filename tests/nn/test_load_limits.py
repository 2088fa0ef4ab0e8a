"""nn.load's limits, each just inside and just outside its edge, written against the constants by name
(nn/serialization.py) so the edges follow when a limit moves. Header length, its slack and the member
count have their edge tests beside their checks (tests/nn/test_hostile_headers.py)."""

import inspect
import zipfile

import numpy as np
import pytest
from nn_zipcraft import Member, archive, deflate, npy

import nn
from nn import serialization
from nn.serialization import DEFLATE_MAX_RATIO, MAX_LOAD_BYTES

BOMB = "more than deflate can produce"
DEFLATE_SLACK = 1024  # bytes a deflate member may declare beyond DEFLATE_MAX_RATIO times its compressed size


def _load(tmp_path, blob: bytes, **kwargs):
    path = tmp_path / "limits.npz"
    path.write_bytes(blob)
    return nn.load(path, **kwargs)


def _refusal(tmp_path, blob: bytes, **kwargs) -> str:
    with pytest.raises(ValueError) as e:
        _load(tmp_path, blob, **kwargs)
    assert "limits.npz" in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("packed", [1, 7, 100])
def test_deflate_ratio_edge(tmp_path, packed):
    """A deflate member may declare DEFLATE_MAX_RATIO * compressed + DEFLATE_SLACK bytes, not one more.
    Three compressed sizes pin both the ratio and the slack (loosening either moves one of the edges)."""
    data = b"\x03" * packed
    edge = DEFLATE_MAX_RATIO * packed + DEFLATE_SLACK
    inside = _refusal(tmp_path, archive([Member("w.npy", data, method=zipfile.ZIP_DEFLATED, usize=edge)]))
    assert BOMB not in inside, inside  # refused later, for its data
    outside = _refusal(tmp_path, archive([Member("w.npy", data, method=zipfile.ZIP_DEFLATED, usize=edge + 1)]))
    assert BOMB in outside and f"declares {edge + 1} bytes from {packed} compressed" in outside, outside


def test_a_real_member_near_the_ratio_loads(tmp_path):
    """The bound is deflate's real limit (a 258-byte match in as few as 2 bits: 1032 to 1), not a looser one;
    a megabyte of zeros compresses to within 10% of it, and loads."""
    assert DEFLATE_MAX_RATIO == 1032
    plain = npy((1 << 20,), "|u1", body=bytes(1 << 20))
    packed = deflate(plain)
    assert 0.9 * DEFLATE_MAX_RATIO * len(packed) < len(plain) <= DEFLATE_MAX_RATIO * len(packed) + DEFLATE_SLACK
    out = _load(tmp_path, archive([Member("w.npy", packed, plain=plain, method=zipfile.ZIP_DEFLATED)]))
    assert out["w"].shape == (1 << 20,) and not out["w"].any()


def _three_members() -> tuple[bytes, int]:
    arrays = [np.arange(3.0), np.zeros((2, 2), np.int32), np.zeros((0, 5))]
    blob = archive([Member(f"a{i}.npy", npy(a.shape, a.dtype.str, a.tobytes())) for i, a in enumerate(arrays)])
    return blob, sum(a.nbytes for a in arrays)


def test_max_bytes_edge(tmp_path):
    blob, total = _three_members()
    assert len(_load(tmp_path, blob, max_bytes=total)) == 3  # just inside: exactly the arrays' bytes
    assert f"more than {total - 1} bytes (max_bytes)" in _refusal(tmp_path, blob, max_bytes=total - 1)


def test_max_bytes_zero_admits_only_empty_arrays(tmp_path):
    empty = archive([Member("e.npy", npy((0, 4)))])
    assert _load(tmp_path, empty, max_bytes=0)["e"].shape == (0, 4)
    one = archive([Member("b.npy", npy((1,), "|u1", b"\x01"))])
    assert "more than 0 bytes (max_bytes)" in _refusal(tmp_path, one, max_bytes=0)


def test_max_bytes_defaults_to_max_load_bytes_and_refuses_bad_values(tmp_path):
    assert inspect.signature(nn.load).parameters["max_bytes"].default == MAX_LOAD_BYTES
    assert "MAX_LOAD_BYTES" in serialization.__all__
    blob, _ = _three_members()
    for bad in (-1, True, 1.5, "1"):
        with pytest.raises(ValueError, match="max_bytes must be"):
            _load(tmp_path, blob, max_bytes=bad)
