"""Parameter initialisation, in place (``t.data = ...``), each taking ``seed`` (int, Generator or None).

Fans follow each layer's weight layout: ``Linear``'s ``(in_features, out_features)`` gives ``fan_in =
shape[0]``, ``fan_out = shape[1]``; a convolution's ``(out, in / groups, *kernel)`` (PyTorch's) gives ``fan_in =
shape[1] * r``, ``fan_out = shape[0] * r`` with ``r`` the kernel size.
``seed=None`` draws from the global generator (``ag.manual_seed``).
"""

from __future__ import annotations

import math

import numpy as np

import autograd_mini as ag

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_",
]



def _set(t: ag.Tensor, values: np.ndarray) -> ag.Tensor:
    tracer = ag.grad_mode.state.tracer
    if tracer is not None:  # `t.data = ...` is not recorded: the replays would not initialise
        tracer.unsupported("nn.init inside a compiled function", "initialise before calling it, or run this "
                           "step eagerly")
    t.data = values.astype(t.dtype, copy=False)
    return t


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(t: ag.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear weight (in_features, out_features) or a convolution weight
    (out_channels, in_channels / groups, *kernel) (PyTorch's layout, as ``nn.Conv2d``)."""
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {t.shape}")
    if t.ndim == 2:
        return t.shape[0], t.shape[1]
    r = math.prod(t.shape[2:])
    return t.shape[1] * r, t.shape[0] * r


def uniform_(t: ag.Tensor, a: float = 0.0, b: float = 1.0, seed: ag.Seed = None) -> ag.Tensor:
    """Fill with U(a, b)."""
    return _set(t, ag.get_generator(seed).uniform(a, b, t.shape))


def normal_(t: ag.Tensor, mean: float = 0.0, std: float = 1.0, seed: ag.Seed = None) -> ag.Tensor:
    """Fill with N(mean, std**2)."""
    return _set(t, ag.get_generator(seed).normal(mean, std, t.shape))


def constant_(t: ag.Tensor, value: float) -> ag.Tensor:
    return _set(t, np.full(t.shape, value))


def zeros_(t: ag.Tensor) -> ag.Tensor: return constant_(t, 0.0)
def ones_(t: ag.Tensor) -> ag.Tensor: return constant_(t, 1.0)


def xavier_uniform_(t: ag.Tensor, gain: float = 1.0, seed: ag.Seed = None) -> ag.Tensor:
    """Glorot: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fi, fo = fan_in_and_fan_out(t)
    a = gain * math.sqrt(6.0 / (fi + fo))
    return uniform_(t, -a, a, seed)


def xavier_normal_(t: ag.Tensor, gain: float = 1.0, seed: ag.Seed = None) -> ag.Tensor:
    """Glorot: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fi, fo = fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fi + fo)), seed)


def _kaiming_std(t: ag.Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fi, fo = fan_in_and_fan_out(t)
    return calculate_gain(nonlinearity, a) / math.sqrt(fi if mode == "fan_in" else fo)


def kaiming_uniform_(t: ag.Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     seed: ag.Seed = None) -> ag.Tensor:
    """He: U(-b, b) with ``b = gain * sqrt(3 / fan)``."""
    b = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -b, b, seed)


def kaiming_normal_(t: ag.Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    seed: ag.Seed = None) -> ag.Tensor:
    """He: N(0, std**2) with ``std = gain / sqrt(fan)``."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), seed)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
