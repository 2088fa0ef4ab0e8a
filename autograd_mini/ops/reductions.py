"""``cumsum`` and ``prod``: primitives with their derivatives (the table's vocabulary, see primitives.py)."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..tensor import Tensor
from . import dual
from ._shape import expand_reduced
from .primitives import Primitive, raw

__all__ = ["CumSum", "Prod"]


def _cumsum(a: Any, axis: int) -> Any:
    return CumSum.apply(a, axis=axis) if isinstance(a, Tensor) else xp.cumsum(a, axis=axis)


class CumSum(Primitive):
    """Running sum along ``axis``; the derivative is the running sum from the other end."""
    op_name = "cumsum"

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return xp.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        flip = (slice(None),) * ctx.axis + (slice(None, None, -1),)
        return _cumsum(g[flip], ctx.axis)[flip]


class Prod(Primitive):
    """Product over ``axes``. Zeros as in PyTorch: the derivative is the product of the *other*
    factors, so one zero in a slice gives that element the product of the rest and the others 0,
    two or more zeros give 0 everywhere. A plain backward multiplies running products from both
    ends (no division: exact, and finite where ``out / x`` would overflow at tiny x); under
    ``create_graph`` without zeros it is PyTorch's ``out / x``, with zeros an (n, n) product."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        out = xp.asarray(x.prod(axis=axes, keepdims=keepdims))  # an array, not a numpy scalar: saved as the output
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g = expand_reduced(g, x.shape, ctx.axes, ctx.keepdims)
        if isinstance(x, Tensor) and not (raw(x) == 0).any():  # create_graph: O(n), differentiable again
            return g * expand_reduced(out, x.shape, ctx.axes, ctx.keepdims) / x
        return g * _product_of_others(x, ctx.axes)


def _product_of_others(x: Any, axes: tuple) -> Any:
    """For each element, the product of the other elements of its slice over ``axes`` (exact with zeros)."""
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = tuple(keep) + tuple(axes)
    moved = x.transpose(perm)
    lead = moved.shape[:len(keep)]
    n = 1
    for a in axes:
        n *= x.shape[a]
    flat = moved.reshape(lead + (n,))
    if isinstance(flat, Tensor):
        # Differentiable again: row i of an (n, n) stack holds the slice with element i replaced by 1.
        eye = xp.eye(n, dtype=bool)
        others = Prod.apply(dual.where(eye, 1.0, flat.reshape(lead + (1, n))), axes=(len(lead) + 1,),
                            keepdims=False)
    elif n == 0:
        others = flat
    else:  # exclusive running products from both ends
        ones = xp.ones(lead + (1,), dtype=flat.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = left * right
    inverse = tuple(xp.argsort(perm).tolist())
    return others.reshape(moved.shape).transpose(inverse)
