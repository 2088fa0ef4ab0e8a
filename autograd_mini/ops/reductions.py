"""``cumsum`` and ``prod``: primitives with their derivatives (the table's vocabulary, see primitives.py)."""

from __future__ import annotations

from .._backend import xp
from . import dual
from ._shape import expand_reduced
from .primitives import Primitive

__all__ = ["CumSum", "Prod"]


class CumSum(Primitive):
    """Running sum along ``axis``; the derivative is the running sum from the other end."""
    op_name = "cumsum"

    @staticmethod
    def forward(ctx, x, axis):
        return xp.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        axis = ctx.params["axis"]
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return g[flip].cumsum(axis=axis)[flip]


class Prod(Primitive):
    """Product over ``axes``, with zeros handled as PyTorch does: the derivative of each element is
    the product of the *other* elements of its slice. Without a zero in ``x`` that is ``out / x``
    (PyTorch's formula, also below a tiny x whose product underflowed). With zeros, ``_others``
    builds it exactly, first and second order: one zero in a slice gives that element the product
    of the rest and the others 0; two zeros give 0 with the right mixed second derivative."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        out = xp.asarray(x.prod(axis=axes, keepdims=keepdims))  # an array, not a numpy scalar: saved as the output
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdims = ctx.params["axes"], ctx.params["keepdims"]
        g = expand_reduced(g, x.shape, axes, keepdims)
        out = expand_reduced(out, x.shape, axes, keepdims)
        zero = xp.asarray(x == 0)
        if not zero.any():
            return g * out / x
        return g * _others(x, out, zero, axes)


def _others(x, out, zero, axes):
    """For each element, the product of the other elements of its slice over ``axes``, where ``x`` has zeros.

    Nonzero x: ``out / x`` (0 when the slice has a zero elsewhere, and its derivative towards that
    zero is right). A zero: the product of the slice's nonzeros, times the product of its *other*
    zeros, which is 1 (no other zero), the other zero's value (one: value 0, derivative 1), or 0.
    """
    count = zero.sum(axis=axes, keepdims=True)
    nonzeros = dual.where(zero, 1.0, x).prod(axis=axes, keepdims=True)
    zeros_only = dual.where(zero, x, 0.0)
    other_zeros = dual.where(count == 1, 1.0, dual.where(count == 2, zeros_only.sum(axis=axes, keepdims=True)
                                                           - zeros_only, 0.0))
    return dual.where(zero, nonzeros * other_zeros, out / dual.where(zero, 1.0, x))
