"""Smooth activations as primitives, with PyTorch's formulas forward and backward: ``silu``, ``softplus``
(``beta``, ``threshold``), ``elu``/``selu``/``celu``, ``mish``, ``logsigmoid``.

One node each where a composite would record three or four, and PyTorch's values where composing
differs: ``silu``'s derivative under an infinite upstream gradient at x = 0 is inf (the product rule
of ``x * sigmoid(x)`` gave 0 * inf = nan), ``logsigmoid`` never overflows.
"""

from __future__ import annotations

from typing import Any

from .. import numpy as anp
from .._backend import as_float, xp
from ..function import Function, op
from ..tensor import Tensor

# SELU's constants (Klambauer et al. 2017), as PyTorch spells them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@op("silu")
class Silu(Function):
    """``x * sigmoid(x)`` (swish), computed as ``x / (1 + exp(-x))``."""
    formula = "d silu(x)/dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))"

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        with xp.errstate(over="ignore"):
            return x / (1 + xp.exp(-x))

    @staticmethod
    def backward(ctx, g, x):
        s = anp.sigmoid(x)
        return g * (s * (1 + x * (1 - s)))


class Softplus(Function):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's)."""
    formula = "d softplus(x)/dx = sigmoid(beta * x), 1 where beta * x > threshold"

    @staticmethod
    def forward(ctx, x, *, beta=1.0, threshold=20.0):
        x = as_float(x)
        bx = x * beta
        with xp.errstate(over="ignore"):
            return xp.where(bx > threshold, x, xp.log1p(xp.exp(bx)) / beta)

    @staticmethod
    def backward(ctx, g, x):
        beta, threshold = ctx.params.get("beta", 1.0), ctx.params.get("threshold", 20.0)
        bx = x * beta
        below = anp.where(bx >= threshold, threshold, bx)  # PyTorch's second derivative: 0 from the threshold on
        return g * anp.where(bx > threshold, 1.0, anp.sigmoid(below))


@op("softplus")
def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's)."""
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))  # numbers: x keeps its dtype


class Elu(Function):
    """``scale * x`` for x > 0, else ``scale * alpha * (exp(input_scale * x) - 1)``: ELU, SELU and CELU."""
    formula = ("d elu(x)/dx = scale for x > 0, else scale * alpha * input_scale * exp(input_scale * x)")
    op_name = "elu"

    @staticmethod
    def forward(ctx, x, *, alpha, scale, input_scale):
        x = as_float(x)
        return xp.where(x <= 0, xp.expm1(x * input_scale) * (alpha * scale), x * scale)

    @staticmethod
    def backward(ctx, g, x):
        p = ctx.params
        neg = p["alpha"] * p["scale"] * p["input_scale"]
        x_neg = anp.where(x < 0, x, 0.0)  # PyTorch's second derivative: 0 at x = 0, +inf and nan (not 0 * inf)
        return g * anp.where(x <= 0, neg * anp.exp(x_neg * p["input_scale"]), p["scale"])  # nan: the x > 0 side


@op("elu")
def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    return Elu.apply(x, alpha=float(alpha), scale=1.0, input_scale=1.0)


@op("selu")
def selu(x: Any) -> Tensor:
    """``scale * elu(x, alpha)`` with SELU's fixed constants (self-normalising)."""
    return Elu.apply(x, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


@op("celu")
def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``; alpha must not be 0."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x); PyTorch refuses it too")
    return Elu.apply(x, alpha=float(alpha), scale=1.0, input_scale=1.0 / float(alpha))


@op("mish")
class Mish(Function):
    """``x * tanh(softplus(x))``."""
    formula = "d mish(x)/dx = tanh(softplus(x)) + x * sigmoid(x) * (1 - tanh(softplus(x))^2)"

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        with xp.errstate(over="ignore", invalid="ignore"):
            return x * xp.tanh(xp.log1p(xp.exp(x)))

    @staticmethod
    def backward(ctx, g, x):
        t = anp.tanh(anp.softplus(x))
        return g * (t + x * anp.sigmoid(x) * (1 - t * t))


@op("logsigmoid")
class LogSigmoid(Function):
    """``log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))``, without overflow."""
    formula = "d logsigmoid(x)/dx = sigmoid(-x)"

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, g, x): return g * anp.sigmoid(-x)
