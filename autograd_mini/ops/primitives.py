"""The calculus table: each primitive's forward and its derivative, side by side.

Vocabulary: ``g`` is the incoming gradient, ``out`` the saved forward result, inputs keep
their forward names; parameters (axes, bounds, an exponent) come from ``ctx.params``, and
anything else backward needs (a shape, a dtype) is saved with ``ctx.save_for_backward``. A
derivative returns one gradient per input (``None``: none); the engine sums broadcast
gradients back to each input's shape. Derivatives use only operators, methods ndarrays and
Tensors share, and ``dual`` functions, so the same code runs on arrays in a plain backward
and on the graph's Tensors under ``create_graph=True`` (docs/core.md, "The contract").
"""

from __future__ import annotations

import operator
from typing import Any

from .._backend import xp
from ..function import Function
from ..inplace import read_only_view
from ..tensor import get_default_dtype
from . import dual
from ._shape import expand_reduced, sum_to


def matmul_shape_error(a: Any, b: Any) -> ValueError:
    """One plain sentence for the shapes numpy's matmul refused: ``inner dimensions differ: (4, 3) @ (4, 2)``."""
    sa, sb = xp.shape(a), xp.shape(b)
    if not sa or not sb:
        why = "both operands need at least one dimension (use * to multiply by a scalar)"
    elif sa[-1] != (sb[-2] if len(sb) > 1 else sb[0]):
        why = "inner dimensions differ"
    else:
        why = "batch dimensions do not broadcast"
    e = ValueError(f"{why}: {sa} @ {sb}")
    e.names_shapes = True  # Function.apply adds the op's name, not the inputs again
    return e


def _float(x: Any) -> Any:
    """Integer and bool arrays as the default float dtype, as PyTorch's float functions take them
    (numpy's exp would give float64 for int64 and float16 for bool)."""
    dtype = getattr(x, "dtype", None)  # a Python number passes as it is
    return x if dtype is None or dtype.kind in "fc" else x.astype(get_default_dtype())


class Primitive(Function):
    """A built-in op (the base class marks the op table; the contract is ``Function``'s)."""


# ---- arithmetic ---------------------------------------------------------------------
class Add(Primitive):
    @staticmethod
    def forward(ctx, a, b): return a + b
    @staticmethod
    def backward(ctx, g): return g, g


class Sub(Primitive):
    @staticmethod
    def forward(ctx, a, b): return a - b
    @staticmethod
    def backward(ctx, g): return g, -g


class Neg(Primitive):
    @staticmethod
    def forward(ctx, a): return -a
    @staticmethod
    def backward(ctx, g): return -g


class Mul(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        return ga, (-(ga if ga is not None else g / b) * a / b if need_b else None)


class PowConst(Primitive):
    """x ** c for a constant exponent c."""
    op_name = "pow"

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        return x**exponent

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        c = ctx.params["exponent"]
        if c == 2:
            return g * (2 * x)
        if c == 0:  # x**0 is constant: gradient 0 even at x = 0 or where g is inf (not 0 * 0**-1), as PyTorch
            return xp.zeros(x.shape, dtype=x.dtype)
        with xp.errstate(divide="ignore"):  # x**c for c < 1 has derivative +-inf at 0 (PyTorch's value)
            return g * c * x ** (c - 1)


class Pow(Primitive):
    """a ** b with a tensor exponent: d/db = out * log(a), computed only when needed.

    PyTorch's values at base 0: d/da is 0 at a == b == 0 (not 0 * 0**-1) and d/db is 0 where
    a == 0 and b >= 0 (not 0 * log 0), so ``(1 - p) ** gamma`` at p = 1 gives a finite gamma.grad.
    (PyTorch masks d/da wherever b == 0, which also zeroes d2/da db = a**-1 there; ours keeps it.)
    """

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        with xp.errstate(divide="ignore", invalid="ignore"):  # the masked entries are inf or nan before `where`
            ga = g * dual.where((a == 0) * (b == 0), 0.0, b * a ** (b - 1)) if need_a else None
            gb = g * dual.where((a == 0) * (b >= 0), 0.0, out * dual.log(a)) if need_b else None  # *: and
        return ga, gb


class MatMul(Primitive):
    """numpy matmul: 1-D operands are promoted to matrices for the derivative, then restored."""
    op_name = "matmul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise matmul_shape_error(a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim >= 2 and b.ndim >= 2:  # the hot path
            ga = g @ dual.swapaxes(b, -1, -2) if need_a else None
            gb = dual.swapaxes(a, -1, -2) @ g if need_b else None
            if gb is not None and gb.ndim > b.ndim:
                gb = gb.sum(axis=tuple(range(gb.ndim - b.ndim)))
            return ga, gb
        a2 = a.reshape((1, -1)) if a.ndim == 1 else a
        b2 = b.reshape((-1, 1)) if b.ndim == 1 else b
        g2 = g.reshape(g.shape + (1,)) if b.ndim == 1 else g
        g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if a.ndim == 1 else g2
        ga = sum_to(g2 @ dual.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) if need_a else None
        gb = sum_to(dual.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape) if need_b else None
        return ga, gb


class Linear(Primitive):
    """x @ w + b for x (..., k), w (k, n), b (n,): PyTorch's addmm, promoted for speed.

    One node instead of two (matmul, add) and a plain column sum for the bias, where the
    composite pays a broadcast add and the engine's unbroadcast: a training step of a small MLP
    is about 10% faster (docs/benchmarks.md). The composite ``x @ w + b`` is its test oracle.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        try:
            xw = x @ w
        except ValueError:
            raise matmul_shape_error(x, w) from None
        return xw + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = g @ dual.swapaxes(w, -1, -2) if need_x else None
        if x.ndim > 2:  # fold the batch axes: (..., k) -> (m, k)
            x, g = x.reshape((-1, x.shape[-1])), g.reshape((-1, g.shape[-1]))
        gw = dual.swapaxes(x, -1, -2) @ g if need_w else None
        return gx, gw, (g.sum(axis=0) if need_b else None)


# ---- elementwise functions ------------------------------------------------------------
class _OfOutput(Primitive):
    """``f(x)`` whose derivative is cheapest from the saved output: ``df(out)``."""

    f = df = staticmethod(lambda x: x)

    @classmethod
    def forward(cls, ctx, x):
        out = cls.f(_float(x))
        ctx.save_for_backward(out)
        return out

    @classmethod
    def backward(cls, ctx, g): return g * cls.df(ctx.saved_tensors[0])


class Exp(_OfOutput):
    f, df = staticmethod(xp.exp), staticmethod(lambda out: out)


class Log(Primitive):
    """log(0) = -inf and its derivative +inf, as in numpy and PyTorch."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with xp.errstate(divide="ignore"):
            return xp.log(_float(x))

    @staticmethod
    def backward(ctx, g):
        with xp.errstate(divide="ignore"):  # 1/0 = +inf is the convention, not an accident
            return g / ctx.saved_tensors[0]


class Sqrt(Primitive):
    """sqrt(0) = 0 with derivative +inf, as in PyTorch."""

    @staticmethod
    def forward(ctx, x):
        out = xp.sqrt(_float(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        with xp.errstate(divide="ignore"):
            return g / (2 * ctx.saved_tensors[0])


class StdSqrt(Sqrt):
    """std's last step, sqrt(var), with derivative 0 where the std is 0 (PyTorch's std), not +inf:
    a constant row must not turn the gradients of a layer norm written with ``std`` into nan."""
    op_name = "std"

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        zero = out == 0  # a constant mask in both modes
        return dual.where(zero, 0.0, g / (2 * dual.where(zero, 1.0, out)))


class _Elementwise(Primitive):
    """``f(x)`` whose derivative is a function of ``x``: ``df`` beside ``f`` is the whole entry."""

    f = df = staticmethod(lambda x: x)

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        return cls.f(x)

    @classmethod
    def backward(cls, ctx, g): return g * cls.df(ctx.saved_tensors[0])


class Abs(_Elementwise):
    """abs'(0) = 0 (PyTorch's choice)."""
    f, df = staticmethod(xp.abs), staticmethod(dual.sign)


class Sin(_Elementwise):
    f, df = staticmethod(lambda x: xp.sin(_float(x))), staticmethod(dual.cos)


class Cos(_Elementwise):
    f, df = staticmethod(lambda x: xp.cos(_float(x))), staticmethod(lambda x: -dual.sin(x))


class Tanh(_OfOutput):
    f, df = staticmethod(xp.tanh), staticmethod(lambda out: 1 - out * out)

    @staticmethod
    def blocked(x, params, tiny):
        return ("saturated tanh", 1 - xp.tanh(x) ** 2 < tiny,
                f"derivative < {tiny:g} for all {x.size} inputs (|x| >= {xp.abs(x).min():.3g})")


def _sigmoid(x: Any) -> Any:
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(_OfOutput):
    """Stable for any input: exp only ever sees -|x|."""
    f, df = staticmethod(_sigmoid), staticmethod(lambda out: out * (1 - out))

    @staticmethod
    def blocked(x, params, tiny):
        s = _sigmoid(x)
        return ("saturated sigmoid", s * (1 - s) < tiny,
                f"derivative < {tiny:g} for all {x.size} inputs (|x| >= {xp.abs(x).min():.3g})")


class Relu(Primitive):
    """relu'(0) = 0 (PyTorch's choice)."""

    @staticmethod
    def forward(ctx, x):
        out = xp.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g): return g * (ctx.saved_tensors[0] > 0)  # a constant mask, in both modes

    @staticmethod
    def blocked(x, params, tiny):
        return "dead relu", x <= 0, f"all {x.size} inputs are <= 0 (max {x.max():.3g})"


class Clip(Primitive):
    """Gradient 1 where lo <= x <= hi, bounds included (PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        ctx.save_for_backward(x)
        return xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.params.get("lo"), ctx.params.get("hi")
        if lo is not None:
            g = g * (x >= lo)
        if hi is not None:
            g = g * (x <= hi)
        return g

    @staticmethod
    def blocked(x, params, tiny):
        lo, hi = params.get("lo"), params.get("hi")
        inside = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return "clip out of bounds", ~inside, f"all {x.size} inputs are outside [{lo}, {hi}]"


class Maximum(Primitive):
    """Ties give 1/2 to each side (PyTorch's maximum/minimum)."""

    pick, wins = staticmethod(xp.maximum), staticmethod(operator.gt)

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        dtype = xp.result_type(g.dtype, xp.float32)
        w = cls.wins(a, b).astype(dtype) + (a == b).astype(dtype) * dtype.type(0.5)  # constants: masks
        return g * w, g * (1 - w)


class Minimum(Maximum):
    pick, wins = staticmethod(xp.minimum), staticmethod(operator.lt)


class Where(Primitive):
    @staticmethod
    def forward(ctx, cond, a, b):
        cond = xp.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        return xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        return None, dual.where(c, g, 0), dual.where(c, 0, g)


class AsType(Primitive):
    op_name = "astype"

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.save_for_backward(x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g): return g.astype(ctx.saved_tensors[0])


# ---- reductions ---------------------------------------------------------------------
class Sum(Primitive):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.save_for_backward(x.shape)
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (shape,) = ctx.saved_tensors
        return dual.broadcast_to(expand_reduced(g, shape, ctx.params["axes"], ctx.params["keepdims"]), shape)


class Max(Primitive):
    """Ties share the gradient equally (PyTorch's amax/amin)."""

    reduce = staticmethod(xp.max)

    @classmethod
    def forward(cls, ctx, x, axes, keepdims):
        out = cls.reduce(x, axis=axes, keepdims=keepdims)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdims = ctx.params["axes"], ctx.params["keepdims"]
        mask = x == expand_reduced(out, x.shape, axes, keepdims)  # a constant, in both modes
        share = mask / mask.sum(axis=axes, keepdims=True)
        return expand_reduced(g, x.shape, axes, keepdims) * share.astype(x.dtype)


class Min(Max):
    reduce = staticmethod(xp.min)


def _max_keepdims(x: Any, axes: tuple) -> Any:
    """The max over ``axes`` (kept as size 1), the softmax family's shift; -inf over a size-0 axis, where
    numpy's max raises (PyTorch: logsumexp of nothing is -inf, softmax of nothing is empty)."""
    if x.size:
        return x.max(axis=axes, keepdims=True)
    return xp.full(tuple(1 if i in axes else n for i, n in enumerate(x.shape)), -xp.inf,
                   dtype=x.dtype if x.dtype.kind == "f" else xp.float64)


class LogSumExp(Primitive):
    """Shift by the max: no overflow; a slice of all -inf gives -inf, not nan.

    The gradient is softmax(x) = exp((x - m) - s) with the shift m and s = log(sum(exp(x - m)))
    kept from forward: exp(x - out) would lose digits, as float32 ``out = m + s`` at |x| = 1e4
    is rounded to 1e-3 (a 2e-4 relative error in the gradient). Backward adds ``out - (m + s)``
    to s where s is finite: exactly 0 on arrays, and under create_graph it carries s's dependence on x.
    """
    op_name = "logsumexp"

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        m = _max_keepdims(x, axes)
        m = xp.where(xp.isfinite(m), m, 0)
        with xp.errstate(divide="ignore"):
            s = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        out = s + m
        if not keepdims:
            out = out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        ctx.save_for_backward(x, out, m, s)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out, m, s = ctx.saved_tensors
        axes, keepdims = ctx.params["axes"], ctx.params["keepdims"]
        out = expand_reduced(out, x.shape, axes, keepdims)
        finite = (out < xp.inf) * (out > -xp.inf)  # a constant mask: an infinite slice keeps exp(x - inf)'s values
        with xp.errstate(invalid="ignore"):  # s = -inf (a size-0 or all -inf slice): -inf - -inf, no warning
            s = s + dual.where(finite, out - (m + s), 0.0)
            return expand_reduced(g, x.shape, axes, keepdims) * dual.exp((x - m) - s)


class Softmax(Primitive):
    """Along ``axis`` (a tuple of axes); a size-0 axis gives an empty result, as PyTorch."""

    @staticmethod
    def forward(ctx, x, axis):
        e = xp.exp(x - _max_keepdims(x, axis))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return out * (g - (g * out).sum(axis=ctx.params["axis"], keepdims=True))


class LogSoftmax(Primitive):
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - _max_keepdims(x, axis)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True)) if x.size else shifted
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out = ctx.saved_tensors[0]
        return g - dual.exp(out) * g.sum(axis=ctx.params["axis"], keepdims=True)


# ---- shape and indexing -------------------------------------------------------------
class Reshape(Primitive):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.save_for_backward(x.shape)
        return read_only_view(x.reshape(shape))

    @staticmethod
    def backward(ctx, g): return g.reshape(ctx.saved_tensors[0])


class Transpose(Primitive):
    @staticmethod
    def forward(ctx, x, axes):
        return read_only_view(x.transpose(axes))

    @staticmethod
    def backward(ctx, g):
        return g.transpose(tuple(xp.argsort(ctx.params["axes"]).tolist()))


class BroadcastTo(Primitive):
    @staticmethod
    def forward(ctx, x, shape): return xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g): return g  # the engine sums it back to the input's shape


class GetItem(Primitive):
    op_name = "getitem"

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(x.shape)
        return read_only_view(x[index])

    @staticmethod
    def backward(ctx, g): return dual.scatter_add(g, ctx.params["index"], ctx.saved_tensors[0])


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, xp.integer)) for i in items)


class ScatterAdd(Primitive):
    """Zeros of ``shape`` with ``g`` added at ``index``: the derivative of indexing."""

    @staticmethod
    def forward(ctx, g, shape, index):
        out = xp.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            xp.add.at(out, index, g)  # repeated indices accumulate
        return out

    @staticmethod
    def backward(ctx, g): return g[ctx.params["index"]]


class Concatenate(Primitive):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.save_for_backward(xp.cumsum([0] + [x.shape[axis] for x in xs]).tolist())
        return xp.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.params["axis"]
        (b,) = ctx.saved_tensors
        return tuple(g[lead + (slice(b[i], b[i + 1]),)] for i in range(len(b) - 1))
