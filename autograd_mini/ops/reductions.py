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
from ..shapes import expand_reduced, normalize_axes
from .primitives import max_keepdims

__all__ = ["Reduction", "Sum", "Max", "Min", "Prod", "LogSumExp", "CumSum"]


class Reduction(Function):
    """An op that reduces its input over ``axis`` with numpy's ``keepdims``."""

    @classmethod
    def apply(cls, x: Any, axis: Any = None, keepdims: bool = False, *, axes: tuple | None = None) -> Any:
        """Reduce over ``axis`` (numpy's); ``axes`` (a node's own parameter) is taken as normalized."""
        if axes is None:
            axes = normalize_axes(axis, xp.ndim(getattr(x, "_data", x)), cls.op_name)
        return super().apply(x, axes=axes, keepdims=bool(keepdims))

    @staticmethod
    def expand(ctx: Any, v: Any, shape: tuple) -> Any:
        """``v`` (of the reduced shape) reshaped to broadcast against the input's ``shape``."""
        return expand_reduced(v, shape, ctx.params["axes"], ctx.params["keepdims"])


@op("sum", method=True)
class Sum(Reduction):
    formula = "d sum(x, axes)/dx: g copied to every entry it summed"
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        ctx.save_for_backward(x.shape)
        return x.sum(axis=axes, keepdims=keepdims)

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
        mask = x == Reduction.expand(ctx, out, x.shape)  # a constant, in both modes
        share = mask / mask.sum(axis=ctx.params["axes"], keepdims=True)
        return Reduction.expand(ctx, g, x.shape) * share.astype(x.dtype)


@op("min", method=True)
class Min(Max):
    formula = "d min(x, axes)/dx: g to the entries equal to the min (ties share it equally)"
    reduce = staticmethod(xp.min)


@op("prod", method=True)
class Prod(Reduction):
    """Product over ``axes``, with zeros handled as PyTorch does: the derivative of each element is
    the product of the *other* elements of its slice. Without a zero in ``x`` that is ``out / x``
    (PyTorch's formula, also below a tiny x whose product underflowed). With zeros, ``_others``
    builds it exactly, first and second order: one zero in a slice gives that element the product
    of the rest and the others 0; two zeros give 0 with the right mixed second derivative."""
    formula = "d prod(x, axes)/dx: g times the product of the other entries of x's slice"

    @staticmethod
    def forward(ctx, x, *, axes, keepdims): return x.prod(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g, x, out):
        g = Reduction.expand(ctx, g, x.shape)
        out = Reduction.expand(ctx, out, x.shape)
        tiny = xp.finfo(x.dtype).tiny  # subnormals count as zeros: out / x is off by up to 2x there (5e-324 * 1.5)
        zero = xp.asarray((x < tiny) & (x > -tiny))  # a constant mask in both modes
        if not zero.any():
            return g * (out / x)  # out / x first: g * out underflows for a denormal product (5e-324)
        return g * _others(x, out, zero, ctx.params["axes"])


def _others(x, out, zero, axes):
    """For each element, the product of the other elements of its slice over ``axes``, where ``x`` has zeros.

    Nonzero x: ``out / x`` (0 when the slice has a zero elsewhere, and its derivative towards that
    zero is right). A zero: the product of the slice's nonzeros, times the product of its *other*
    zeros, which is 1 (no other zero), the other zero's value (one: value 0, derivative 1), or 0.
    """
    count = zero.sum(axis=axes, keepdims=True)
    nonzeros = anp.where(zero, 1.0, x).prod(axis=axes, keepdims=True)
    zeros_only = anp.where(zero, x, 0.0)
    other_zeros = anp.where(count == 1, 1.0, anp.where(count == 2, zeros_only.sum(axis=axes, keepdims=True)
                                                         - zeros_only, 0.0))
    return anp.where(zero, nonzeros * other_zeros, out / anp.where(zero, 1.0, x))


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
    def forward(ctx, x, *, axis): return xp.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        axis = ctx.params["axis"]
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return g[flip].cumsum(axis=axis)[flip]
