"""Activation modules: thin wrappers over ``autograd_mini`` ops."""

from __future__ import annotations

from typing import Any

import autograd_mini as ag

from . import functional as F
from .module import Module

__all__ = ["Sigmoid", "ReLU", "LeakyReLU", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "ReLU6", "Hardtanh",
           "Hardsigmoid", "Hardswish", "Softsign", "Softmin", "GLU", "ELU", "SELU", "CELU", "Softplus", "Mish",
           "LogSigmoid"]


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``, stable for any x."""

    def forward(self, x: Any) -> ag.Tensor: return ag.sigmoid(x)


class ReLU(Module):
    """``max(x, 0)``; derivative 0 at 0."""

    def forward(self, x: Any) -> ag.Tensor: return ag.relu(x)


class Tanh(Module):
    def forward(self, x: Any) -> ag.Tensor: return ag.tanh(x)


class LeakyReLU(Module):
    """``x`` for x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> ag.Tensor: return F.leaky_relu(x, self.negative_slope)
    def extra_repr(self) -> str: return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """Softmax along ``dim`` (default the last; numpy's ``axis=`` is accepted too)."""

    def __init__(self, dim: int = -1, *, axis: int | None = None) -> None:
        super().__init__()
        if axis is not None and dim != -1:
            raise TypeError(f"{type(self).__name__}: give dim= or axis=, not both")
        self.dim = dim if axis is None else axis

    def forward(self, x: Any) -> ag.Tensor: return ag.softmax(x, self.dim)
    def extra_repr(self) -> str: return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log of the softmax along ``dim``, computed stably (pair it with ``NLLLoss``)."""

    def forward(self, x: Any) -> ag.Tensor: return ag.log_softmax(x, self.dim)


class GELU(Module):
    """``x * Phi(x)``, Phi the standard normal CDF: exact (``erf``) or ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> ag.Tensor: return F.gelu(x, self.approximate)
    def extra_repr(self) -> str: return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def forward(self, x: Any) -> ag.Tensor: return F.silu(x)


class ELU(Module):
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Any) -> ag.Tensor: return F.elu(x, self.alpha)
    def extra_repr(self) -> str: return f"alpha={self.alpha}"


class CELU(ELU):
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        if alpha == 0:
            raise ValueError("CELU: alpha must not be 0 (it divides x)")
        super().__init__(alpha)

    def forward(self, x: Any) -> ag.Tensor: return F.celu(x, self.alpha)


class SELU(Module):
    """``scale * elu(x, alpha)`` with SELU's constants (self-normalising)."""

    def forward(self, x: Any) -> ag.Tensor: return F.selu(x)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``; ``x`` where ``beta * x > threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x: Any) -> ag.Tensor: return F.softplus(x, self.beta, self.threshold)
    def extra_repr(self) -> str: return f"beta={self.beta}, threshold={self.threshold}"


class Mish(Module):
    """``x * tanh(softplus(x))``."""

    def forward(self, x: Any) -> ag.Tensor: return F.mish(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, stable for any x."""

    def forward(self, x: Any) -> ag.Tensor: return F.logsigmoid(x)


class Hardtanh(Module):
    """``x`` limited to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val {min_val} is above max_val {max_val}")
        self.min_val, self.max_val = float(min_val), float(max_val)

    def forward(self, x: Any) -> ag.Tensor: return F.hardtanh(x, self.min_val, self.max_val)
    def extra_repr(self) -> str: return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Module):
    """``min(max(x, 0), 6)``."""

    def forward(self, x: Any) -> ag.Tensor: return F.relu6(x)


class Hardsigmoid(Module):
    """``clip(x / 6 + 1/2, 0, 1)``."""

    def forward(self, x: Any) -> ag.Tensor: return F.hardsigmoid(x)


class Hardswish(Module):
    """``x * hardsigmoid(x)``."""

    def forward(self, x: Any) -> ag.Tensor: return F.hardswish(x)


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, x: Any) -> ag.Tensor: return F.softsign(x)


class _AlongDim(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str: return f"dim={self.dim}"


class Softmin(_AlongDim):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, x: Any) -> ag.Tensor: return F.softmin(x, self.dim)


class GLU(_AlongDim):
    """``a * sigmoid(b)`` for the halves of ``x`` along ``dim``."""

    def forward(self, x: Any) -> ag.Tensor: return F.glu(x, self.dim)
