"""The oracle's own machinery (tests/_oracle.py): answers survive the recording's encoding exactly, a missing or
stale recording fails naming the fix, and a clone without PyTorch reads the recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import _oracle
from tests._oracle import Raised, decode, encode


@pytest.mark.parametrize("value", [
    np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.0 / 3.0]),             # listed: specials, subnormal
    np.linspace(0, 1, 40).reshape(2, 4, 5) ** 0.5,                             # base64: exact bytes
    np.arange(30, dtype=np.float32).reshape(3, 10) / 7,
    np.array(0.7), np.zeros((0, 3)), np.array([True, False]), np.arange(20, dtype=np.int64) - 10,
    np.float32(1.25), np.int64(-3),
    (np.ones(2), [None, 1, 2.5, "text", True], {"k": np.arange(3)}),
])
def test_answers_round_trip_exactly(value):
    back = decode(json.loads(json.dumps(encode(value))))
    assert _oracle._differs(encode(value), encode(back)) == ""
    for a, b in zip(_leaves(value), _leaves(back)):
        assert type(a) is type(b)
        if isinstance(a, (np.ndarray, np.generic)):
            assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _leaves(v):
    if isinstance(v, (list, tuple)):
        return [x for item in v for x in _leaves(item)]
    if isinstance(v, dict):
        return [x for item in v.values() for x in _leaves(item)]
    return [v]


def test_an_exception_is_recorded_by_type_and_first_line():
    back = decode(encode(RuntimeError("bad shape\nmore detail")))
    assert isinstance(back, Raised) and back.kind == "RuntimeError" and back.message == "bad shape"


def test_differences_name_where_and_what():
    old = encode((np.array([1.0, 2.0, 3.0]), {"w": np.int64(4)}))
    assert _oracle._differs(old, encode((np.array([1.0, 2.0, 3.0 + 1e-12]), {"w": np.int64(4)}))) == ""
    moved = _oracle._differs(old, encode((np.array([1.0, 2.5, 3.0]), {"w": np.int64(4)})))
    assert moved == "answer[0]: element (1,) recorded 2.0, now 2.5 (1 moved)"
    assert "answer[1]['w']" in _oracle._differs(old, encode((np.array([1.0, 2.0, 3.0]), {"w": np.int64(5)})))
    assert "float32" in _oracle._differs(encode(np.ones(2)), encode(np.ones(2, np.float32)))
    assert "now inf" in _oracle._differs(encode(np.array([1e300])), encode(np.array([np.inf])))
    assert "raised" in _oracle._differs(encode(ValueError("x")), encode(TypeError("x")))


@pytest.fixture
def recordings(tmp_path, monkeypatch):
    """The oracle reading and writing recordings under tmp_path."""
    monkeypatch.setattr(_oracle, "RECORDINGS", tmp_path)
    monkeypatch.setattr(_oracle, "_loaded", {})
    return tmp_path


def _record(path, case, answer):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"recorded_with": "test"}) + "\n" + json.dumps({"case": case, "answer": encode(answer)}))


def test_without_pytorch_the_recording_answers_and_a_missing_one_names_the_fix(recordings, monkeypatch):
    monkeypatch.setattr(_oracle, "HAVE_TORCH", False)
    path, case = _oracle._where(None)
    _oracle.reset_numbering()
    _record(path, case, [np.arange(3.0), "recorded"])

    def never():
        raise AssertionError("the computation must not run without PyTorch")

    got = _oracle.oracle(never)
    assert np.array_equal(got[0], np.arange(3.0)) and got[1] == "recorded"
    with pytest.raises(AssertionError, match=r"no recorded PyTorch answer .*#1.* tests/oracle/record.py"):
        _oracle.oracle(never)  # a second question of the same test: the next case, not recorded


def test_with_pytorch_a_missing_or_stale_recording_fails(recordings, monkeypatch):
    monkeypatch.setattr(_oracle, "HAVE_TORCH", True)
    monkeypatch.setattr(_oracle, "RECORD", "")
    _oracle.reset_numbering()
    with pytest.raises(AssertionError, match="is not recorded in"):
        _oracle.oracle(lambda: np.ones(2))
    path, case = _oracle._where("k")
    _record(path, case, np.ones(2))
    monkeypatch.setattr(_oracle, "_loaded", {})
    assert np.array_equal(_oracle.oracle(lambda: np.ones(2), key="k"), np.ones(2))  # live answer, as recorded
    with pytest.raises(AssertionError, match=r"is stale \(answer: element \(0,\) recorded .*1\.0.*now .*2\.0"):
        _oracle.oracle(lambda: np.array([2.0, 1.0]), key="k")


def test_case_rng_depends_only_on_the_running_test():
    a, b = _oracle.case_rng().standard_normal(3), _oracle.case_rng().standard_normal(3)
    assert np.array_equal(a, b)
