"""dtype promotion follows PyTorch's rule with the library's default dtype (_backend.result_type, docs/ops.md):
the dtype and values of each case equal PyTorch's (live when installed, else recorded: tests/_oracle.py); gradients
come back in each input's own dtype."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini._backend import result_type
from tests._oracle import oracle

try:
    import torch
except ImportError:
    torch = None

I64, I32 = np.array([1, -2, 3]), np.array([4, 5, -6], dtype=np.int32)
F32, F64 = np.array([0.5, -1.5, 2.0], dtype=np.float32), np.array([0.25, 2.0, -3.0])
B = np.array([True, False, True])
F64_0D, F32_0D, I64_0D = np.array(1.5), np.array(2.5, dtype=np.float32), np.array(2)
M = np.array([True, False, False])

# name -> formula over L (ag or torch) and tensors made from the arrays
CASES = {
    "int * python float": (lambda L, a: a * 2.5, [I64]),
    "python float - int": (lambda L, a: 2.5 - a, [I64]),
    "int + python int": (lambda L, a: a + 7, [I32]),
    "bool + python int": (lambda L, a: a + 1, [B]),
    "bool + python float": (lambda L, a: a + 1.5, [B]),
    "int / int": (lambda L, a, b: a / b, [I64, np.array([2, 4, -4])]),
    "int / python int": (lambda L, a: a / 2, [I64]),
    "python int / int": (lambda L, a: 3 / a, [I64]),
    "int // python int": (lambda L, a: a // 2, [I64]),
    "int ** python float": (lambda L, a: L.abs(a) ** 0.5, [I64]),
    "int ** python int": (lambda L, a: a ** 2, [I64]),
    "int ** float tensor": (lambda L, a, b: L.abs(a) ** b, [I64, F32]),
    "maximum(int, float32 0-d)": (lambda L, a, b: L.maximum(a, b), [I64, F32_0D]),
    "maximum(int, float64 0-d)": (lambda L, a, b: L.maximum(a, b), [I64, F64_0D]),
    "float32 * float64 0-d": (lambda L, a, b: a * b, [F32, F64_0D]),
    "float32 + float64": (lambda L, a, b: a + b, [F32, F64]),
    "int32 + int64 0-d": (lambda L, a, b: a + b, [I32, I64_0D]),
    "int32 + int64": (lambda L, a, b: a + b, [I32, I64]),
    "int + float32": (lambda L, a, b: a + b, [I64, F32]),
    "masked_fill(float32, float64 0-d)": (lambda L, a, b: a.masked_fill(_mask(L), b), [F32, F64_0D]),
    "masked_fill(int, float 0-d)": (lambda L, a, b: a.masked_fill(_mask(L), b), [I64, F64_0D]),
    "where(float32, float64 0-d)": (lambda L, a, b: L.where(_mask(L), a, b), [F32, F64_0D]),
    "where(int, python float)": (lambda L, a: L.where(_mask(L), a, 0.5), [I64]),
    "cat(int, float32)": (lambda L, a, b: L.cat([a, b]), [I64, F32]),
    "atan2(int, float32)": (lambda L, a, b: L.atan2(a, b), [I64, F32]),
    "remainder(int, python float)": (lambda L, a: L.remainder(a, 1.5), [I64]),
    "hypot(float32, float64 0-d)": (lambda L, a, b: L.hypot(a, b), [F32, F64_0D]),
}


def _mask(L):
    return torch.tensor(M) if L is torch else ag.tensor(M)


@pytest.mark.parametrize("name", sorted(CASES))
def test_dtype_and_value_match_pytorch(name: str) -> None:
    fn, xs = CASES[name]
    got = fn(ag, *[ag.tensor(x) for x in xs])
    want_dtype, want = oracle(lambda: (lambda t: (t.dtype, t))(fn(torch, *[torch.tensor(x) for x in xs])))
    assert str(got.dtype) == want_dtype, (got.dtype, want_dtype)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_the_default_dtype_is_what_a_python_float_becomes() -> None:
    ag.set_default_dtype(np.float64)
    try:
        assert (ag.tensor(I64) * 2.5).dtype == np.float64 and (ag.tensor(I64) / ag.tensor(I64)).dtype == np.float64
        assert (ag.tensor(F32) * 2.5).dtype == np.float32  # a float tensor keeps its own
    finally:
        ag.set_default_dtype(np.float32)


def test_a_promoted_input_gets_its_gradient_in_its_own_dtype() -> None:
    x = ag.tensor(F32, requires_grad=True)
    w = ag.tensor(F64_0D, requires_grad=True)
    y = x * w
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64
    np.testing.assert_allclose(w.grad.numpy(), F32.sum(), rtol=1e-6)
    (g,) = ag.grad_of(ag.maximum(ag.tensor(I64), w).sum(), [w])
    assert g.dtype == np.float64


def test_result_type_reads_kinds_in_priority_order() -> None:
    assert result_type(F32, F64_0D) == np.float32 and result_type(I64, F64_0D) == np.float64
    assert result_type(I64, 2.5) == np.float32 and result_type(F64_0D, 2.5) == np.float64
    assert result_type(B, 1) == np.int64 and result_type(I32, I64_0D, 7) == np.int32
    assert result_type(1, 2.5) == np.float32 and result_type(True, 2) == np.int64
