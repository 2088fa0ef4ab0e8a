"""The calculus table: each op's forward and its derivative, side by side.

Vocabulary (docs/core.md, "Add an op"): ``g`` is the incoming gradient; backward names what it reads,
forward's inputs by their names and ``out`` for the result; parameters come from ``ctx.params``;
constants forward computed come from ``ctx.save_for_backward``/``ctx.saved_tensors``. A derivative
returns one gradient per input (``None``: none); the engine sums broadcast gradients back to each
input's shape. Derivatives use operators, methods ndarrays and Tensors share, and ``anp`` functions, so
the same code runs on arrays in a plain backward and on the graph's Tensors under ``create_graph``.
"""

from __future__ import annotations

import operator
from typing import Any

from .. import numpy as anp
from .._backend import as_float, get_default_dtype, xp
from ..function import Function, op
from ..inplace import read_only_view
from ..shapes import normalize_axes, shape_arg, sum_to


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


# ---- arithmetic ---------------------------------------------------------------------
@op("add")
class Add(Function):
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = "d(a + b)/da = 1; d(a + b)/db = 1"
    @staticmethod
    def forward(ctx, a, b): return a + b
    @staticmethod
    def backward(ctx, g): return g, g


@op("sub")
class Sub(Function):
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = "d(a - b)/da = 1; d(a - b)/db = -1"
    @staticmethod
    def forward(ctx, a, b): return a - b
    @staticmethod
    def backward(ctx, g): return g, -g


@op("neg")
class Neg(Function):
    formula = "d(-a)/da = -1"
    @staticmethod
    def forward(ctx, a): return -a
    @staticmethod
    def backward(ctx, g): return -g


@op("mul")
class Mul(Function):
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = "d(a * b)/da = b; d(a * b)/db = a"
    @staticmethod
    def forward(ctx, a, b): return a * b

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):  # public as ag.div (ops/elementwise.py), which also takes rounding_mode
    op_name = "div"
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = "d(a / b)/da = 1 / b; d(a / b)/db = -a / b^2"
    @staticmethod
    def forward(ctx, a, b): return as_float(a) / as_float(b)  # int / int: the default float, as PyTorch

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        return ga, (-(ga if ga is not None else g / b) * a / b if need_b else None)


class PowConst(Function):
    """x ** c for a constant exponent c (``ag.pow`` picks it for a Python-number exponent)."""
    formula = "d(x^exponent)/dx = exponent * x^(exponent - 1)"
    op_name = "pow"

    @staticmethod
    def forward(ctx, x, *, exponent):
        if x.dtype.kind == "b" and type(exponent) is int:  # bool ** int is int64 (PyTorch's; numpy's is int8)
            x = x.astype(xp.int64)
        return (as_float(x) if type(exponent) is float else x) ** exponent

    @staticmethod
    def backward(ctx, g, x):
        c = ctx.params["exponent"]
        if c == 2:
            return g * (2 * x)
        if c == 0:  # x**0 is constant: gradient 0 even at x = 0 or where g is inf (not 0 * 0**-1), as PyTorch
            return anp.zeros_like(x)
        with xp.errstate(divide="ignore"):  # x**c for c < 1 has derivative +-inf at 0 (PyTorch's value)
            return g * c * x ** (c - 1)


class Pow(Function):
    """a ** b with a tensor exponent: d/db = out * log(a), computed only when needed.

    PyTorch's values at base 0: d/da is 0 at a == b == 0 (not 0 * 0**-1) and d/db is 0 where
    a == 0 and b >= 0 (not 0 * log 0), so ``(1 - p) ** gamma`` at p = 1 gives a finite gamma.grad.
    (PyTorch masks d/da wherever b == 0, which also zeroes d2/da db = a**-1 there; ours keeps it.)
    """
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = "d(a^b)/da = b * a^(b - 1); d(a^b)/db = a^b * log(a)"

    @staticmethod
    def forward(ctx, a, b): return a**b

    @staticmethod
    def backward(ctx, g, a, b, out):
        need_a, need_b = ctx.needs_input_grad
        with xp.errstate(divide="ignore", invalid="ignore"):  # the masked entries are inf or nan before `where`
            ga = g * anp.where((a == 0) * (b == 0), 0.0, b * a ** (b - 1)) if need_a else None
            gb = g * anp.where((a == 0) * (b >= 0), 0.0, out * anp.log(a)) if need_b else None  # *: and
        return ga, gb


@op("matmul", method=True)
class MatMul(Function):
    """numpy matmul: 1-D operands are promoted to matrices for the derivative, then restored."""
    formula = "d(a @ b)/da: g @ b.T; d(a @ b)/db: a.T @ g"

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a @ b
        except ValueError:
            raise matmul_shape_error(a, b) from None

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        if a.ndim >= 2 and b.ndim >= 2:  # the hot path
            ga = g @ b.swapaxes(-1, -2) if need_a else None
            gb = a.swapaxes(-1, -2) @ g if need_b else None
            if gb is not None and gb.ndim > b.ndim:
                gb = gb.sum(axis=tuple(range(gb.ndim - b.ndim)))
            return ga, gb
        a2 = a.reshape((1, -1)) if a.ndim == 1 else a
        b2 = b.reshape((-1, 1)) if b.ndim == 1 else b
        g2 = g.reshape(g.shape + (1,)) if b.ndim == 1 else g
        g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if a.ndim == 1 else g2
        ga = sum_to(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape) if need_a else None
        gb = sum_to(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape) if need_b else None
        return ga, gb


class Linear(Function):
    """x @ w + b for x (..., k), w (k, n), b (n,): PyTorch's addmm, promoted for speed.

    One node instead of two (matmul, add) and a plain column sum for the bias, where the
    composite pays a broadcast add and the engine's unbroadcast: a training step of a small MLP
    is about 10% faster (docs/benchmarks.md). The composite ``x @ w + b`` is its test oracle.
    """
    formula = "d(x @ w + b)/dx: g @ w.T; d(x @ w + b)/dw: x.T @ g; d(x @ w + b)/db: g summed over the batch axes"

    @staticmethod
    def forward(ctx, x, w, b):
        try:
            xw = x @ w
        except ValueError:
            raise matmul_shape_error(x, w) from None
        return xw + b

    @staticmethod
    def backward(ctx, g, x, w):
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = g @ w.swapaxes(-1, -2) if need_x else None
        if x.ndim > 2:  # fold the batch axes: (..., k) -> (m, k)
            x, g = x.reshape((-1, x.shape[-1])), g.reshape((-1, g.shape[-1]))
        gw = x.swapaxes(-1, -2) @ g if need_w else None
        return gx, gw, (g.sum(axis=0) if need_b else None)


# ---- elementwise functions ------------------------------------------------------------
@op("exp", method=True)
class Exp(Function):
    formula = "d exp(x)/dx = exp(x) = out"
    @staticmethod
    def forward(ctx, x): return xp.exp(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * out


@op("log", method=True)
class Log(Function):
    """log(0) = -inf and its derivative +inf, as in numpy and PyTorch."""
    formula = "d log(x)/dx = 1 / x"

    @staticmethod
    def forward(ctx, x):
        with xp.errstate(divide="ignore"):
            return xp.log(as_float(x))

    @staticmethod
    def backward(ctx, g, x):
        with xp.errstate(divide="ignore"):  # 1/0 = +inf is the convention, not an accident
            return g / x


@op("sqrt", method=True)
class Sqrt(Function):
    """sqrt(0) = 0 with derivative +inf, as in PyTorch."""
    formula = "d sqrt(x)/dx = 1 / (2 sqrt(x)) = 1 / (2 out)"

    @staticmethod
    def forward(ctx, x): return xp.sqrt(as_float(x))

    @staticmethod
    def backward(ctx, g, out):
        with xp.errstate(divide="ignore"):
            return g / (2 * out)


class StdSqrt(Sqrt):
    """std's last step, sqrt(var), with derivative 0 where the std is 0 (PyTorch's std), not +inf:
    a constant row must not turn the gradients of a layer norm written with ``std`` into nan."""
    formula = "d sqrt(x)/dx = 1 / (2 out), and 0 where out = 0"
    op_name = "std"

    @staticmethod
    def backward(ctx, g, out):
        zero = out == 0  # a constant mask in both modes
        return anp.where(zero, 0.0, g / (2 * anp.where(zero, 1.0, out)))


@op("abs", method=True)
class Abs(Function):
    """abs'(0) = 0 (PyTorch's choice)."""
    formula = "d |x|/dx = sign(x)"
    @staticmethod
    def forward(ctx, x): return xp.abs(x)
    @staticmethod
    def backward(ctx, g, x): return g * anp.sign(x)


@op("sin", method=True)
class Sin(Function):
    formula = "d sin(x)/dx = cos(x)"
    @staticmethod
    def forward(ctx, x): return xp.sin(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g * anp.cos(x)


@op("cos", method=True)
class Cos(Function):
    formula = "d cos(x)/dx = -sin(x)"
    @staticmethod
    def forward(ctx, x): return xp.cos(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g * -anp.sin(x)


@op("tanh", method=True)
class Tanh(Function):
    formula = "d tanh(x)/dx = 1 - tanh(x)^2 = 1 - out^2"
    @staticmethod
    def forward(ctx, x): return xp.tanh(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * (1 - out * out)

    @staticmethod
    def blocked(x, params, tiny):
        return ("saturated tanh", 1 - xp.tanh(x) ** 2 < tiny,
                f"derivative < {tiny:g} for all {x.size} inputs (|x| >= {xp.abs(x).min():.3g})")


def _sigmoid(x: Any) -> Any:
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@op("sigmoid", method=True)
class Sigmoid(Function):
    """Stable for any input: exp only ever sees -|x|."""
    formula = "d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x)) = out (1 - out)"
    @staticmethod
    def forward(ctx, x): return _sigmoid(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * (out * (1 - out))

    @staticmethod
    def blocked(x, params, tiny):
        s = _sigmoid(x)
        return ("saturated sigmoid", s * (1 - s) < tiny,
                f"derivative < {tiny:g} for all {x.size} inputs (|x| >= {xp.abs(x).min():.3g})")


@op("relu", method=True)
class Relu(Function):
    """relu'(0) = 0 (PyTorch's choice)."""
    formula = "d relu(x)/dx = 1 where x > 0, else 0"
    @staticmethod
    def forward(ctx, x): return xp.maximum(x, 0)
    @staticmethod
    def backward(ctx, g, out): return g * (out > 0)  # a constant mask, in both modes

    @staticmethod
    def blocked(x, params, tiny):
        return "dead relu", x <= 0, f"all {x.size} inputs are <= 0 (max {x.max():.3g})"


class Clip(Function):
    """Gradient 1 where lo <= x <= hi, bounds included (PyTorch's clamp); ``ag.clip`` picks it for
    bounds that need no gradient."""
    formula = "d clip(x, lo, hi)/dx = 1 where lo <= x <= hi, else 0"

    @staticmethod
    def forward(ctx, x, *, lo=None, hi=None): return xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g, x):
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


@op("maximum", method=True)
class Maximum(Function):
    """Ties give 1/2 to each side (PyTorch's maximum/minimum)."""
    promote = (0, 1)  # PyTorch's dtype promotion (_backend.result_type)
    formula = ("d maximum(a, b)/da = 1 where a > b, 1/2 where a = b, else 0; "
               "d maximum(a, b)/db = 1 where b > a, 1/2 where a = b, else 0")

    pick, wins = staticmethod(xp.maximum), staticmethod(operator.gt)

    @classmethod
    def forward(cls, ctx, a, b): return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, g, a, b):
        dtype = xp.result_type(g.dtype, xp.float32)
        w = cls.wins(a, b).astype(dtype) + (a == b).astype(dtype) * dtype.type(0.5)  # constants: masks
        return g * w, g * (1 - w)


@op("minimum", method=True)
class Minimum(Maximum):
    formula = ("d minimum(a, b)/da = 1 where a < b, 1/2 where a = b, else 0; "
               "d minimum(a, b)/db = 1 where b < a, 1/2 where a = b, else 0")
    pick, wins = staticmethod(xp.minimum), staticmethod(operator.lt)


@op("where")
class Where(Function):
    """``a`` where ``cond`` is true, else ``b`` (broadcasting all three)."""
    promote = (1, 2)
    formula = "d where(cond, a, b)/da = 1 where cond, else 0; d where(cond, a, b)/db = 0 where cond, else 1"

    @staticmethod
    def forward(ctx, cond, a, b):
        out = xp.where(cond, a, b)
        if out.dtype.kind == "f" and not (hasattr(a, "dtype") or hasattr(b, "dtype")):
            return out.astype(get_default_dtype())  # two Python numbers: PyTorch's dtype, not numpy's float64
        return out

    @staticmethod
    def backward(ctx, g, cond): return None, anp.where(cond, g, 0), anp.where(cond, 0, g)


class AsType(Function):
    formula = "d astype(x, dtype)/dx = 1 (g cast back to x's dtype)"
    op_name = "astype"

    @staticmethod
    def forward(ctx, x, *, dtype):
        ctx.save_for_backward(x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        (dtype,) = ctx.saved_tensors
        return g.astype(dtype)


# ---- shape and indexing -------------------------------------------------------------
class Reshape(Function):
    formula = "d reshape(x, shape)/dx: g reshaped to x's shape"
    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.save_for_backward(x.shape)
        return read_only_view(x.reshape(shape))

    @staticmethod
    def backward(ctx, g): return g.reshape(ctx.saved_tensors[0])


class Transpose(Function):
    formula = "d transpose(x, axes)/dx: g transposed back (the inverse permutation)"
    @staticmethod
    def forward(ctx, x, *, axes): return read_only_view(x.transpose(axes))

    @staticmethod
    def backward(ctx, g): return g.transpose(tuple(xp.argsort(ctx.params["axes"]).tolist()))


@op("broadcast_to", method=True)
class BroadcastTo(Function):
    formula = "d broadcast_to(x, shape)/dx: g summed over the broadcast axes"
    @staticmethod
    def forward(ctx, x, *, shape):
        return xp.broadcast_to(x, shape_arg((shape,) if hasattr(shape, "__index__") else shape))

    @staticmethod
    def backward(ctx, g): return g  # the engine sums it back to the input's shape


class GetItem(Function):
    formula = "d x[index]/dx: g put at index in zeros of x's shape (repeated indices add)"
    op_name = "getitem"

    @staticmethod
    def forward(ctx, x, *, index):
        ctx.save_for_backward(x.shape)
        return read_only_view(x[index])

    @staticmethod
    def backward(ctx, g): return anp.add_at(g, shape=ctx.saved_tensors[0], index=ctx.params["index"])


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, xp.integer)) for i in items)


@op("add_at", export=False)  # numpy's np.add.at; ag.scatter_add is PyTorch's (ops/scatter.py)
class ScatterAdd(Function):
    """Zeros of ``shape`` with ``g`` added at ``index``: the derivative of indexing."""
    formula = "d add_at(g, shape, index)/dg: the incoming gradient read at index"

    @staticmethod
    def forward(ctx, g, *, shape, index):
        out = xp.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            xp.add.at(out, index, g)  # repeated indices accumulate
        return out

    @staticmethod
    def backward(ctx, g): return g[ctx.params["index"]]


class Concatenate(Function):
    promote = True
    formula = "d concatenate(xs, axis)/dxs: the slice of g where each input sits"
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.save_for_backward(xp.cumsum([0] + [x.shape[axis] for x in xs]).tolist())
        return xp.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.params["axis"]
        (b,) = ctx.saved_tensors
        return tuple(g[lead + (slice(b[i], b[i + 1]),)] for i in range(len(b) - 1))


# ---- normalisers along axes ---------------------------------------------------------
def max_keepdims(x: Any, axes: tuple) -> Any:
    """The max over ``axes`` (kept as size 1), the softmax family's shift; -inf over a size-0 axis, where
    numpy's max raises (PyTorch: logsumexp of nothing is -inf, softmax of nothing is empty)."""
    if x.size:
        return x.max(axis=axes, keepdims=True)
    return xp.full(tuple(1 if i in axes else n for i, n in enumerate(x.shape)), -xp.inf,
                   dtype=x.dtype if x.dtype.kind == "f" else xp.float64)


@op("softmax", method=True)
class Softmax(Function):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int, a tuple, or None: over all elements, as
    ``scipy.special.softmax``), computed stably. A size-0 axis gives an empty result."""
    formula = "d softmax(x, axis)/dx: out * (g - sum(g * out, axis))"

    @staticmethod
    def forward(ctx, x, *, axis=-1):
        axes = normalize_axes(axis, x.ndim, "softmax")
        e = xp.exp(x - max_keepdims(x, axes))
        return e / e.sum(axis=axes, keepdims=True)

    @staticmethod
    def backward(ctx, g, out):
        return out * (g - (g * out).sum(axis=normalize_axes(ctx.params.get("axis", -1), out.ndim, ""),
                                        keepdims=True))


@op("log_softmax", method=True)
class LogSoftmax(Function):
    """``x - logsumexp(x)`` along ``axis`` (an int, a tuple, or None: over all elements), stably."""
    formula = "d log_softmax(x, axis)/dx: g - exp(out) * sum(g, axis)"

    @staticmethod
    def forward(ctx, x, *, axis=-1):
        axes = normalize_axes(axis, x.ndim, "log_softmax")
        shifted = x - max_keepdims(x, axes)
        return shifted - xp.log(xp.exp(shifted).sum(axis=axes, keepdims=True)) if x.size else shifted

    @staticmethod
    def backward(ctx, g, out):
        axes = normalize_axes(ctx.params.get("axis", -1), out.ndim, "")
        return g - anp.exp(out) * g.sum(axis=axes, keepdims=True)
