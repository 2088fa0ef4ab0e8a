"""Reductions over axes (``sum max min prod logsumexp``) on one base, ``Reduction``, and ``cumsum``.

``Reduction.apply(x, axis=None, keepdims=False)`` takes numpy's ``axis`` (None, an int, negative, a
tuple) and hands forward and backward a sorted tuple of non-negative ``axes`` (``ctx.params``);
``Reduction.expand(ctx, v, shape)`` reshapes a reduced value (``g``, ``out``) so it broadcasts
against the input again. A reduction declares only its forward and its derivative.
"""

from __future__ import annotations

from typing import Any

from .. import numpy as anp
from .._backend import xp
from ..function import Function, op
from ..grad_mode import array_call
from ..shapes import expand_reduced, reduction_axes
from ..tensor import Tensor, as_array
from .primitives import AsType, max_keepdims

__all__ = ["Reduction", "cast", "sum", "Sum", "Max", "Min", "Prod", "LogSumExp", "CumSum"]


class Reduction(Function):
    """An op that reduces its input over ``axis`` with numpy's ``keepdims``."""

    @classmethod
    def apply(cls, x: Any, axis: Any = None, keepdims: bool = False, *, axes: tuple | None = None) -> Any:
        """Reduce over ``axis`` (numpy's); ``axes`` (a node's own parameter) is taken as normalized."""
        if axes is None:
            axes = reduction_axes(axis, xp.ndim(getattr(x, "_data", x)), cls.op_name)
        return super().apply(x, axes=axes, keepdims=bool(keepdims))

    @staticmethod
    def expand(ctx: Any, v: Any, shape: tuple) -> Any:
        """``v`` (of the reduced shape) reshaped to broadcast against the input's ``shape``."""
        return expand_reduced(v, shape, ctx.params["axes"], ctx.params["keepdims"])


def cast(x: Any, dtype: Any) -> Tensor:
    """``x`` as ``dtype``; a cast to an integer or bool dtype is not differentiable (a constant, as in PyTorch)."""
    dtype = xp.dtype(dtype)
    if dtype.kind not in "fc":
        return Tensor._wrap(array_call((x._data if isinstance(x, Tensor) else as_array(x)).astype, dtype))
    return AsType.apply(x, dtype=dtype)


@op("sum", method=True)
def sum(x: Any, axis: Any = None, keepdims: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A001
    """Sum over ``axis``; ``dtype`` casts ``x`` first (PyTorch's and numpy's ``dtype=``)."""
    return Sum.apply(x if dtype is None else cast(x, dtype), axis, keepdims)


def accumulated(x: Any) -> Any:
    """The dtype a sum or product of ``x`` accumulates in: int64 for unsigned integers below 64 bits (PyTorch's;
    numpy's uint64 would wrap ``x.sum() - 300`` to a huge number); None (numpy's own) otherwise."""
    return xp.int64 if x.dtype.kind == "u" and x.dtype.itemsize < 8 else None


class Sum(Reduction):
    formula = "d sum(x, axes)/dx: g copied to every entry it summed"
    op_name = "sum"
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        ctx.save_for_backward(x.shape)
        return x.sum(axis=axes, keepdims=keepdims, dtype=accumulated(x))

    @staticmethod
    def backward(ctx, g):
        (shape,) = ctx.saved_tensors
        return anp.broadcast_to(Reduction.expand(ctx, g, shape), shape)


@op("max", method=True)
class Max(Reduction):
    """Ties share the gradient equally (PyTorch's amax/amin)."""
    formula = "d max(x, axes)/dx: g to the entries equal to the max (ties share it equally)"

    reduce = staticmethod(xp.max)

    @classmethod
    def forward(cls, ctx, x, *, axes, keepdims): return cls.reduce(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g, x, out):
        mask = (x == Reduction.expand(ctx, out, x.shape)).astype(x.dtype)  # a constant, in both modes
        share = mask / mask.sum(axis=ctx.params["axes"], keepdims=True)  # x's dtype (bool / int: the default)
        return Reduction.expand(ctx, g, x.shape) * share


@op("min", method=True)
class Min(Max):
    formula = "d min(x, axes)/dx: g to the entries equal to the min (ties share it equally)"
    reduce = staticmethod(xp.min)


@op("prod", method=True)
class Prod(Reduction):
    """Product over ``axes``. The derivative of each element is the product of the *other* elements of
    its slice: ``out / x`` (PyTorch's formula) where that is exact, i.e. no zero in ``x`` and ``out`` a
    normal number; else (zeros, or a product of finite x that underflowed or overflowed) that product
    itself, ``_others``. An inf or nan in ``x`` without zeros keeps PyTorch's ``out / x`` (nan at an inf).
    Under create_graph ``out / x`` is also refused where a slice's magnitudes spread over more than
    ``SPREAD``: its second derivative cancels two terms of about out / x_i^2 (PyTorch's answer for
    d2 prod / dx0^2 + d2 prod / dx0 dx1 at [1e-9, 1e9] is -128, not 1)."""

    SPREAD = 1e4  # out / x's second derivative then loses at most ~SPREAD * eps (2e-12) relative
    formula = "d prod(x, axes)/dx: g times the product of the other entries of x's slice"

    @staticmethod
    def forward(ctx, x, *, axes, keepdims): return x.prod(axis=axes, keepdims=keepdims, dtype=accumulated(x))

    @staticmethod
    def backward(ctx, g, x, out):
        g = Reduction.expand(ctx, g, x.shape)
        out = Reduction.expand(ctx, out, x.shape)
        a, size = xp.asarray(x), abs(xp.asarray(out))
        axes = ctx.params["axes"]
        if not (a == 0).any() and ((size >= xp.finfo(size.dtype).tiny).all() and (size < xp.inf).all()
                                   and (type(x) is xp.ndarray or _spread(a, axes) <= Prod.SPREAD)
                                   or not xp.isfinite(a).all()):
            return g * (out / x)  # out / x first: g * out may underflow
        return g * _others(x, axes)


def _spread(a, axes):
    """The largest ratio of magnitudes within a slice (over ``axes``), for nonzero ``a``."""
    if not a.size or not axes:
        return 1.0
    m = abs(a)
    return float((m.max(axis=axes) / m.min(axis=axes)).max())


def _others(x, axes):
    """For each element, the product of the other elements of its slice over ``axes``, computed directly.

    On arrays: the products before it times those after it (two cumprods). On Tensors (create_graph):
    each slice of n made an (n, n) matrix with 1 on the diagonal, then a prod, so that every higher
    derivative is again an exact product (it costs n * n per slice, and n times more per order).
    """
    keep = [d for d in range(x.ndim) if d not in axes]
    perm = keep + list(axes)
    moved = x.transpose(*perm) if perm != sorted(perm) else x
    lead = moved.shape[:len(keep)]
    flat = moved.reshape(lead + (-1,) if 0 not in lead else lead + (int(xp.prod(moved.shape[len(keep):])),))
    if type(flat) is xp.ndarray:  # an overflow here is forward's, already warned of
        ones = xp.ones(lead + (1,), flat.dtype)
        with xp.errstate(over="ignore", invalid="ignore"):
            before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
            after = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
            others = before * after
    else:
        n = flat.shape[-1]
        others = anp.where(xp.eye(n, dtype=bool), 1.0, flat.reshape(lead + (1, n))).prod(axis=-1)
    others = others.reshape(moved.shape)
    return others.transpose(*xp.argsort(perm)) if perm != sorted(perm) else others


@op("logsumexp", method=True)
class LogSumExp(Reduction):
    """``log(sum(exp(x)))`` computed stably: shift by the max, no overflow; a slice of all -inf gives -inf.

    The gradient is softmax(x) = exp((x - m) - s) with the shift m and s = log(sum(exp(x - m)))
    kept from forward: exp(x - out) would lose digits, as float32 ``out = m + s`` at |x| = 1e4
    is rounded to 1e-3 (a 2e-4 relative error in the gradient). Backward adds ``out - (m + s)``
    to s where s is finite: exactly 0 on arrays, and under create_graph it carries s's dependence on x.
    """
    formula = "d logsumexp(x, axes)/dx: g * softmax(x) over axes"

    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        m = max_keepdims(x, axes)
        m = xp.where(xp.isfinite(m), m, 0)
        with xp.errstate(divide="ignore"):
            s = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        out = s + m
        if not keepdims:
            out = out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        ctx.save_for_backward(m, s)
        return out

    @staticmethod
    def backward(ctx, g, x, out):
        m, s = ctx.saved_tensors
        out = Reduction.expand(ctx, out, x.shape)
        finite = (out < xp.inf) * (out > -xp.inf)  # a constant mask: an infinite slice keeps exp(x - inf)'s values
        with xp.errstate(invalid="ignore"):  # s = -inf (a size-0 or all -inf slice): -inf - -inf, no warning
            s = s + anp.where(finite, out - (m + s), 0.0)
            return Reduction.expand(ctx, g, x.shape) * anp.exp((x - m) - s)


class CumSum(Function):
    """Running sum along ``axis``; the derivative is the running sum from the other end."""
    formula = "d cumsum(x, axis)/dx: the running sum of g from the other end"
    op_name = "cumsum"

    @staticmethod
    def forward(ctx, x, *, axis): return xp.cumsum(x, axis=axis, dtype=accumulated(x))

    @staticmethod
    def backward(ctx, g):
        axis = ctx.params["axis"]
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return g[flip].cumsum(axis=axis)[flip]
