"""Image layers (NCHW): ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``."""

from __future__ import annotations

import math
from typing import Any

import autograd_mini as ag

from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]



def _pair(v: Any) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Conv2d(Module):
    """2-D convolution, PyTorch's ``nn.Conv2d``: ``weight`` of shape (out_channels, in_channels / groups, kH, kW).

    Default init (PyTorch's): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    ``fan_in = in_channels / groups * kH * kW``, drawn from ``seed`` or the global generator.
    Input (N, C, H, W) or (C, H, W); ``padding`` an int, a pair, ``"valid"`` or ``"same"``.

    >>> conv = nn.Conv2d(1, 6, 5, padding=2, seed=0)
    >>> conv(ag.ones(8, 1, 28, 28)).shape
    (8, 6, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, seed: ag.Seed = None,
                 dtype: Any = None) -> None:
        super().__init__()
        kernel = _pair(kernel_size)
        if in_channels < 1 or out_channels < 1 or min(kernel) < 1:
            raise ValueError(f"Conv2d: channels and kernel_size must be positive, got in_channels={in_channels}, "
                             f"out_channels={out_channels}, kernel_size={kernel_size!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, int(groups)
        rng = ag.get_generator(seed)
        dtype = dtype or ag.get_default_dtype()
        bound = 1.0 / math.sqrt(in_channels // groups * kernel[0] * kernel[1])
        shape = (out_channels, in_channels // groups) + kernel
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> ag.Tensor:
        return ag.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += "".join(f", {k}={v!r}" for k, v, default in (("padding", self.padding, 0), ("dilation", self.dilation, 1),
                                                         ("groups", self.groups, 1)) if v != default)
        return s + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """The maximum over each window (``stride`` defaults to ``kernel_size``); at ties the first maximum gets
    the gradient, as in PyTorch."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x: Any) -> ag.Tensor:
        return ag.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(Module):
    """The mean over each window; ``count_include_pad`` and ``divisor_override`` as in PyTorch."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Any) -> ag.Tensor:
        return ag.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad,
                             self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (int or (oh, ow)) whatever the input size; 1 gives global pooling."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> ag.Tensor:
        return ag.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
