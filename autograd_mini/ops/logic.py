"""Tests and logic: ``isnan``/``isinf``/``isfinite``/``isclose``/``allclose``, ``any``/``all``, ``logical_*`` and the
bitwise ops of integer and bool tensors (``& | ^ ~ << >>``).

Their results are bool or integer tensors, so they are never differentiated (constants, as PyTorch's).
"""

from __future__ import annotations

import builtins
from typing import Any

from .._backend import xp
from ..tensor import Tensor
from ._shape import normalize_axes

__all__ = ["isnan", "isinf", "isfinite", "isclose", "allclose", "any", "all", "logical_and", "logical_or",
           "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
           "bitwise_left_shift", "bitwise_right_shift"]


def _a(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _apply(op: str, fn: Any, *xs: Any) -> Tensor:
    try:
        return Tensor._wrap(xp.asarray(fn(*(_a(x) for x in xs))))
    except ValueError as e:
        raise ValueError(f"{op}: shapes {[xp.shape(_a(x)) for x in xs]} do not broadcast ({e})") from None


def isnan(x: Any) -> Tensor: return _apply("isnan", xp.isnan, x)
def isinf(x: Any) -> Tensor: return _apply("isinf", xp.isinf, x)
def isfinite(x: Any) -> Tensor: return _apply("isfinite", xp.isfinite, x)
def logical_and(a: Any, b: Any) -> Tensor: return _apply("logical_and", xp.logical_and, a, b)
def logical_or(a: Any, b: Any) -> Tensor: return _apply("logical_or", xp.logical_or, a, b)
def logical_xor(a: Any, b: Any) -> Tensor: return _apply("logical_xor", xp.logical_xor, a, b)
def logical_not(x: Any) -> Tensor: return _apply("logical_not", xp.logical_not, x)


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """``|a - b| <= atol + rtol * |b|`` elementwise (numpy's and PyTorch's rule and defaults); infinities
    are close only to themselves."""
    return _apply("isclose", lambda x, y: xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Whether every pair is ``isclose`` (a Python bool, as both libraries return)."""
    return builtins.bool(isclose(a, b, rtol, atol, equal_nan)._data.all())


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether any element along ``axis`` (all axes by default) is nonzero; a bool tensor."""
    a = xp.asarray(_a(x))
    return Tensor._wrap(xp.asarray(a.any(axis=_axes(a, axis, "any"), keepdims=keepdims)))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether every element along ``axis`` (all axes by default) is nonzero; a bool tensor."""
    a = xp.asarray(_a(x))
    return Tensor._wrap(xp.asarray(a.all(axis=_axes(a, axis, "all"), keepdims=keepdims)))


def _axes(a: Any, axis: Any, op: str) -> tuple:
    if a.ndim == 0 and axis is not None:  # PyTorch allows dim 0 / -1 on a 0-d tensor
        normalize_axes(axis, 1, op)
        return ()
    return normalize_axes(axis, a.ndim, op)


def _bitwise(op: str, fn: Any, *xs: Any) -> Tensor:
    for x in xs:
        dt = xp.asarray(_a(x)).dtype
        if dt.kind not in "biu":
            raise TypeError(f"{op}: needs integer or bool tensors, got dtype {dt} (cast first: x.astype('int64'), "
                            "or the logical_* ops for truth values)")
    return _apply(op, fn, *xs)


def bitwise_and(a: Any, b: Any) -> Tensor: return _bitwise("bitwise_and", xp.bitwise_and, a, b)
def bitwise_or(a: Any, b: Any) -> Tensor: return _bitwise("bitwise_or", xp.bitwise_or, a, b)
def bitwise_xor(a: Any, b: Any) -> Tensor: return _bitwise("bitwise_xor", xp.bitwise_xor, a, b)
def bitwise_not(x: Any) -> Tensor: return _bitwise("bitwise_not", xp.invert, x)
def bitwise_left_shift(a: Any, b: Any) -> Tensor: return _bitwise("bitwise_left_shift", xp.left_shift, a, b)
def bitwise_right_shift(a: Any, b: Any) -> Tensor: return _bitwise("bitwise_right_shift", xp.right_shift, a, b)
