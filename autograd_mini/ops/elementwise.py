"""Elementwise math beyond the basics, as PyTorch spells it: logs and exponentials, trigonometric and
hyperbolic functions and their inverses, rounding, remainders, ``copysign``, ``lerp``, ``logaddexp``,
``hypot``, ``reciprocal``, ``rsqrt``, ``square``, ``sign``.

Each derivative is PyTorch's formula (tools/autograd/derivatives.yaml), so the values at the edges
(0, +-1, +-inf, nan) agree with it at first and second order. Rounding, ``sign`` and the rounded
divisions are piecewise constant: their gradient is zero (not an error), as PyTorch's. Integer and bool
inputs of a float function become the default float dtype (``as_float``); rounding an integer tensor
returns it unchanged, as PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

from .. import numpy as anp
from .._backend import as_float, xp
from ..function import Function, op
from ..tensor import Tensor
from . import primitives as P

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _zero(g: Any) -> Any:
    """The gradient of a piecewise-constant op: zeros (an inf or nan upstream gradient included)."""
    return anp.zeros_like(g)


# ---- logs and exponentials --------------------------------------------------------------------------
@op("log2", method=True)
class Log2(Function):
    formula = "d log2(x)/dx = 1 / (x * ln 2)"
    @staticmethod
    def forward(ctx, x): return xp.log2(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / (x * _LN2)


@op("log10", method=True)
class Log10(Function):
    formula = "d log10(x)/dx = 1 / (x * ln 10)"
    @staticmethod
    def forward(ctx, x): return xp.log10(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / (x * _LN10)


@op("log1p", method=True)
class Log1p(Function):
    """``log(1 + x)``, accurate for tiny x."""
    formula = "d log1p(x)/dx = 1 / (1 + x)"
    @staticmethod
    def forward(ctx, x): return xp.log1p(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / (x + 1)


@op("expm1", method=True)
class Expm1(Function):
    """``exp(x) - 1``, accurate for tiny x."""
    formula = "d expm1(x)/dx = exp(x) = out + 1"
    @staticmethod
    def forward(ctx, x): return xp.expm1(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * (out + 1)


# ---- trigonometric and hyperbolic -------------------------------------------------------------------
@op("tan", method=True)
class Tan(Function):
    formula = "d tan(x)/dx = 1 + tan(x)^2 = 1 + out^2"
    @staticmethod
    def forward(ctx, x): return xp.tan(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * (1 + out * out)


@op("asin", method=True)
class Asin(Function):
    """Inverse sine; the derivative is +inf at x = +-1, nan outside [-1, 1] (PyTorch's values)."""
    formula = "d asin(x)/dx = 1 / sqrt(1 - x^2)"
    @staticmethod
    def forward(ctx, x): return xp.arcsin(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / anp.sqrt(1 - x * x)


@op("acos", method=True)
class Acos(Function):
    """Inverse cosine; the derivative is -inf at x = +-1, nan outside [-1, 1] (PyTorch's values)."""
    formula = "d acos(x)/dx = -1 / sqrt(1 - x^2)"
    @staticmethod
    def forward(ctx, x): return xp.arccos(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return -g / anp.sqrt(1 - x * x)


@op("atan", method=True)
class Atan(Function):
    formula = "d atan(x)/dx = 1 / (1 + x^2)"
    @staticmethod
    def forward(ctx, x): return xp.arctan(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / (1 + x * x)


@op("sinh", method=True)
class Sinh(Function):
    formula = "d sinh(x)/dx = cosh(x)"
    @staticmethod
    def forward(ctx, x): return xp.sinh(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g * anp.cosh(x)


@op("cosh", method=True)
class Cosh(Function):
    formula = "d cosh(x)/dx = sinh(x)"
    @staticmethod
    def forward(ctx, x): return xp.cosh(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g * anp.sinh(x)


@op("asinh", method=True)
class Asinh(Function):
    formula = "d asinh(x)/dx = 1 / sqrt(x^2 + 1)"
    @staticmethod
    def forward(ctx, x): return xp.arcsinh(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / anp.sqrt(x * x + 1)


@op("acosh", method=True)
class Acosh(Function):
    """Inverse hyperbolic cosine, for x >= 1 (nan below); the derivative is +inf at 1."""
    formula = "d acosh(x)/dx = 1 / sqrt(x^2 - 1)"
    @staticmethod
    def forward(ctx, x): return xp.arccosh(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / anp.sqrt(x * x - 1)


@op("atanh", method=True)
class Atanh(Function):
    """Inverse hyperbolic tangent on (-1, 1): +-inf at +-1, nan outside."""
    formula = "d atanh(x)/dx = 1 / (1 - x^2)"
    @staticmethod
    def forward(ctx, x): return xp.arctanh(as_float(x))
    @staticmethod
    def backward(ctx, g, x): return g / (1 - x * x)


@op("atan2", method=True)
class Atan2(Function):
    """The angle of the point (b, a): ``atan2(a, b)`` in [-pi, pi]; the derivatives are 0 at (0, 0), as PyTorch's."""
    promote = (0, 1)
    formula = "d atan2(a, b)/da = b / (a^2 + b^2); d atan2(a, b)/db = -a / (a^2 + b^2)"
    @staticmethod
    def forward(ctx, a, b): return xp.arctan2(as_float(a), as_float(b))

    @staticmethod
    def backward(ctx, g, a, b):
        d = a * a + b * b
        with xp.errstate(divide="ignore", invalid="ignore"):
            r = anp.where(d == 0, 0.0, g / d)  # PyTorch's 0 at the origin
        return r * b, -r * a


# ---- rounding: piecewise constant, zero gradient ----------------------------------------------------
def _rounded(f: Any, x: Any) -> Any:
    return x.copy() if x.dtype.kind in "biu" else f(x)  # integers are already whole (PyTorch returns them)


@op("floor", method=True)
class Floor(Function):
    formula = "d floor(x)/dx = 0"
    @staticmethod
    def forward(ctx, x): return _rounded(xp.floor, x)
    @staticmethod
    def backward(ctx, g): return _zero(g)


@op("ceil", method=True)
class Ceil(Function):
    formula = "d ceil(x)/dx = 0"
    @staticmethod
    def forward(ctx, x): return _rounded(xp.ceil, x)
    @staticmethod
    def backward(ctx, g): return _zero(g)


@op("trunc", method=True)
class Trunc(Function):
    """Rounds towards zero."""
    formula = "d trunc(x)/dx = 0"
    @staticmethod
    def forward(ctx, x): return _rounded(xp.trunc, x)
    @staticmethod
    def backward(ctx, g): return _zero(g)


@op("round", method=True)
class Round(Function):
    """Rounds half to even (0.5 -> 0, 1.5 -> 2), as numpy and PyTorch; ``decimals`` digits after the point."""
    formula = "d round(x)/dx = 0"
    @staticmethod
    def forward(ctx, x, *, decimals=0):  # integers to tens, hundreds...: numpy's (PyTorch refuses them)
        return xp.round(x, decimals) if decimals < 0 and x.dtype.kind in "iu" else \
            _rounded(lambda a: xp.round(a, decimals), x)
    @staticmethod
    def backward(ctx, g): return _zero(g)


@op("frac", method=True)
class Frac(Function):
    """``x - trunc(x)``: the fractional part, with x's sign."""
    formula = "d frac(x)/dx = 1"
    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        return x - xp.trunc(x)
    @staticmethod
    def backward(ctx, g): return g


class Sign(Function):
    """-1, 0 or 1; numpy's value at nan (nan; PyTorch's is 0). Zero gradient, so a loss may depend on it."""
    formula = "d sign(x)/dx = 0"
    op_name = "sign"
    @staticmethod
    def forward(ctx, x): return x.copy() if x.dtype == bool else xp.sign(x)
    @staticmethod
    def backward(ctx, g): return _zero(g)


@op("sign", method=True)
def sign(x: Any) -> Tensor:
    """-1, 0 or 1 elementwise (bool stays bool); numpy's value at nan (nan). Zero gradient (PyTorch's)."""
    return Sign.apply(x)


# ---- remainders and rounded division ---------------------------------------------------------------
def _integer_divisor(op: str, a: Any, b: Any) -> None:
    """Integer division by zero raises, as PyTorch's does (numpy's answer, 0 with a warning, is a wrong number)."""
    if xp.result_type(a, b).kind in "biu" and not xp.all(b):
        raise ZeroDivisionError(f"{op}: integer division by zero (a zero in b); cast to float for inf/nan: "
                                f"{op}(a.astype('float32'), b)")


@op("remainder", method=True)
class Remainder(Function):
    """``a - floor(a / b) * b``: Python's ``%`` (the result has b's sign), numpy's ``remainder``, PyTorch's."""
    promote = (0, 1)
    formula = "d remainder(a, b)/da = 1; d remainder(a, b)/db = -(a // b)"
    @staticmethod
    def forward(ctx, a, b):
        _integer_divisor("remainder", a, b)
        return xp.remainder(a, b)

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        return (g if need_a else None), (-g * anp.floor_divide(a, b) if need_b else None)


@op("fmod", method=True)
class Fmod(Function):
    """``a - trunc(a / b) * b``: C's ``fmod`` (the result has a's sign)."""
    promote = (0, 1)
    formula = "d fmod(a, b)/da = 1; d fmod(a, b)/db = -trunc(a / b)"
    @staticmethod
    def forward(ctx, a, b):
        _integer_divisor("fmod", a, b)
        return xp.fmod(a, b)

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        return (g if need_a else None), (-g * anp.div(a, b, rounding_mode="trunc") if need_b else None)


class RoundedDiv(Function):
    """``a / b`` rounded towards zero (``trunc``) or down (``floor``); integers stay integers. Zero gradient."""
    promote = (0, 1)
    formula = "d div(a, b, rounding_mode)/da = 0; d div(a, b, rounding_mode)/db = 0"
    op_name = "div"

    @staticmethod
    def forward(ctx, a, b, *, rounding_mode):
        _integer_divisor("floor_divide" if rounding_mode == "floor" else "div", a, b)
        q = xp.floor_divide(a, b)
        if rounding_mode == "floor":
            return q
        if xp.result_type(a, b).kind in "biu":  # integers: floor and trunc differ where q < 0 is inexact
            return q + ((q < 0) & (q * b != a))
        return xp.trunc(xp.true_divide(a, b))

    @staticmethod
    def backward(ctx, g): return _zero(g), _zero(g)


@op("div", method=True)
def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``a / b``; ``rounding_mode="trunc"`` or ``"floor"`` rounds the quotient (zero gradient), as PyTorch's."""
    if rounding_mode is None:
        return P.Div.apply(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    return RoundedDiv.apply(a, b, rounding_mode=rounding_mode)


@op("floor_divide", method=True)
def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b``, rounded down (Python's and PyTorch's): ``div(a, b, rounding_mode="floor")``. Zero gradient
    (PyTorch refuses to differentiate floor_divide; its div(rounding_mode="floor") gives zeros)."""
    return RoundedDiv.apply(a, b, rounding_mode="floor")


# ---- sign transfer, interpolation, smooth maxima ---------------------------------------------------
@op("copysign", method=True)
class Copysign(Function):
    """``|a|`` with ``b``'s sign (of -0.0 too); gradient to a is +-1 (0 at a = 0, PyTorch's), none to b."""
    promote = (0, 1)
    formula = "d copysign(a, b)/da = copysign(1, a) * copysign(1, b), 0 at a = 0; d copysign(a, b)/db = 0"
    @staticmethod
    def forward(ctx, a, b): return xp.copysign(as_float(a), as_float(b))

    @staticmethod
    def backward(ctx, g, a, out):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return g * anp.where(a == 0, 0.0, out / a), _zero(g)


@op("lerp", method=True)
class Lerp(Function):
    """``start + weight * (end - start)``, in PyTorch's two-sided form (exact at weight 0 and 1)."""
    promote = (0, 1, 2)
    formula = ("d lerp(start, end, weight)/dstart = 1 - weight; d lerp(start, end, weight)/dend = weight; "
               "d lerp(start, end, weight)/dweight = end - start")

    @staticmethod
    def forward(ctx, start, end, weight):
        d = end - start
        return xp.where(xp.abs(weight) < 0.5, start + weight * d, end - d * (1 - weight))

    @staticmethod
    def backward(ctx, g, start, end, weight):
        need_s, need_e, need_w = ctx.needs_input_grad
        return (g * (1 - weight) if need_s else None), (g * weight if need_e else None), \
            (g * (end - start) if need_w else None)


@op("logaddexp", method=True)
class LogAddExp(Function):
    """``log(exp(a) + exp(b))`` without overflow."""
    promote = (0, 1)
    formula = "d logaddexp(a, b)/da = 1 / (1 + exp(b - a)); d logaddexp(a, b)/db = 1 / (1 + exp(a - b))"
    @staticmethod
    def forward(ctx, a, b): return xp.logaddexp(as_float(a), as_float(b))

    @staticmethod
    def backward(ctx, g, a, b):
        need_a, need_b = ctx.needs_input_grad
        return (g / (1 + anp.exp(b - a)) if need_a else None), (g / (1 + anp.exp(a - b)) if need_b else None)


@op("hypot", method=True)
class Hypot(Function):
    """``sqrt(a^2 + b^2)`` without overflow; the derivatives are nan at (0, 0), as PyTorch's."""
    promote = (0, 1)
    formula = "d hypot(a, b)/da = a / hypot(a, b); d hypot(a, b)/db = b / hypot(a, b)"
    @staticmethod
    def forward(ctx, a, b): return xp.hypot(as_float(a), as_float(b))

    @staticmethod
    def backward(ctx, g, a, b, out):
        need_a, need_b = ctx.needs_input_grad
        return (g * a / out if need_a else None), (g * b / out if need_b else None)


# ---- powers ---------------------------------------------------------------------------------------------
@op("reciprocal", method=True)
class Reciprocal(Function):
    formula = "d (1 / x)/dx = -1 / x^2 = -out^2"
    @staticmethod
    def forward(ctx, x): return 1 / as_float(x)
    @staticmethod
    def backward(ctx, g, out): return -g * (out * out)


@op("rsqrt", method=True)
class Rsqrt(Function):
    formula = "d (1 / sqrt(x))/dx = -1 / (2 x^1.5) = -out^3 / 2"
    @staticmethod
    def forward(ctx, x): return 1 / xp.sqrt(as_float(x))
    @staticmethod
    def backward(ctx, g, out): return g * (-0.5 * out * out * out)


@op("square", method=True)
class Square(Function):
    """``x * x``; an integer tensor stays integer (PyTorch's), a bool one becomes int64."""
    formula = "d square(x)/dx = 2 * x"
    @staticmethod
    def forward(ctx, x): return x * x if x.dtype != bool else x.astype(xp.int64)
    @staticmethod
    def backward(ctx, g, x): return g * (2 * x)
