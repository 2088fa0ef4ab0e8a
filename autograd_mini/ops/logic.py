"""Tests and logic: ``isnan``/``isinf``/``isfinite``/``isclose``/``allclose``, ``any``/``all``, ``logical_*`` and the
bitwise ops of integer and bool tensors (``& | ^ ~ << >>``).

Their results are bool or integer tensors, so they are never differentiated (constants, as PyTorch's).
"""

from __future__ import annotations

import builtins
from typing import Any

from .._backend import xp
from ..function import op
from ..grad_mode import array_call
from ..shapes import normalize_axes
from ..tensor import Tensor


def _a(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _apply(op: str, fn: Any, *xs: Any) -> Tensor:
    try:
        return Tensor._wrap(array_call(_call, fn, *(_a(x) for x in xs)))  # ag.compile calls it again on replay
    except ValueError as e:
        raise ValueError(f"{op}: shapes {[xp.shape(_a(x)) for x in xs]} do not broadcast ({e})") from None


def _call(fn: Any, *arrays: Any, **kwargs: Any) -> Any:
    return xp.asarray(fn(*arrays, **kwargs))


def _declare(name: str, check: Any, fn: Any, doc: str) -> None:
    """``ag.<name>`` and ``Tensor.<name>``: ``fn`` on the arrays, a constant result."""
    def public(*xs: Any) -> Tensor:
        return check(name, fn, *xs)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = doc
    op(name, method=True)(public)


for _name, _fn, _doc in (
        ("isnan", xp.isnan, "Where ``x`` is nan; a bool tensor."),
        ("isinf", xp.isinf, "Where ``x`` is +inf or -inf; a bool tensor."),
        ("isfinite", xp.isfinite, "Where ``x`` is neither inf nor nan; a bool tensor."),
        ("logical_and", xp.logical_and, "``a and b`` elementwise (nonzero is true); a bool tensor."),
        ("logical_or", xp.logical_or, "``a or b`` elementwise (nonzero is true); a bool tensor."),
        ("logical_xor", xp.logical_xor, "``a != b`` as truth values elementwise; a bool tensor."),
        ("logical_not", xp.logical_not, "``not x`` elementwise (nonzero is true); a bool tensor.")):
    _declare(_name, _apply, _fn, _doc)


@op("isclose", method=True)
def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """``|a - b| <= atol + rtol * |b|`` elementwise (numpy's and PyTorch's rule and defaults); infinities
    are close only to themselves."""
    return _apply("isclose", lambda x, y: xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)


@op("allclose", method=True)
def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Whether every pair is ``isclose`` (a Python bool, as both libraries return)."""
    return builtins.bool(isclose(a, b, rtol, atol, equal_nan).all())  # bool(Tensor): ag.compile refuses it


@op("any", method=True)
def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether any element along ``axis`` (all axes by default) is nonzero; a bool tensor."""
    a = xp.asarray(_a(x))
    return Tensor._wrap(array_call(_call, xp.any, a, axis=_axes(a, axis, "any"), keepdims=keepdims))


@op("all", method=True)
def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether every element along ``axis`` (all axes by default) is nonzero; a bool tensor."""
    a = xp.asarray(_a(x))
    return Tensor._wrap(array_call(_call, xp.all, a, axis=_axes(a, axis, "all"), keepdims=keepdims))


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


for _name, _fn, _doc in (
        ("bitwise_and", xp.bitwise_and, "``a & b`` of integer or bool tensors."),
        ("bitwise_or", xp.bitwise_or, "``a | b`` of integer or bool tensors."),
        ("bitwise_xor", xp.bitwise_xor, "``a ^ b`` of integer or bool tensors."),
        ("bitwise_not", xp.invert, "``~x`` of an integer or bool tensor."),
        ("bitwise_left_shift", xp.left_shift, "``a << b`` of integer tensors."),
        ("bitwise_right_shift", xp.right_shift, "``a >> b`` of integer tensors.")):
    _declare(_name, _bitwise, _fn, _doc)
