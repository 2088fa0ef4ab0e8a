"""Image and sequence layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``, the pooling layers."""

from __future__ import annotations

import math
from typing import Any

import autograd_mini as ag
from autograd_mini.ops.conv import conv_padding

from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
           "MaxPool1d", "MaxPool2d", "MaxPool3d",
           "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "Upsample", "PixelShuffle", "PixelUnshuffle"]


def _tuple(v: Any, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _ConvNd(Module):
    """The convolution layers' shared parameters, init and repr (PyTorch's ``_ConvNd``)."""
    dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 seed: ag.Seed = None, dtype: Any = None, output_padding: Any = 0) -> None:
        super().__init__()
        name, kernel = type(self).__name__, _tuple(kernel_size, self.dims)
        if in_channels < 1 or out_channels < 1 or min(kernel) < 1 or len(kernel) != self.dims:
            raise ValueError(f"{name}: channels and kernel_size must be positive, got in_channels={in_channels}, "
                             f"out_channels={out_channels}, kernel_size={kernel_size!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        if padding_mode != "zeros" and (self.transposed or self.dims == 3):
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch)")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), kernel
        self.stride, self.dilation = _tuple(stride, self.dims), _tuple(dilation, self.dims)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, self.dims)
        self.output_padding = _tuple(output_padding, self.dims)
        self.groups, self.padding_mode = int(groups), padding_mode
        rng = ag.get_generator(seed)
        dtype = dtype or ag.get_default_dtype()
        shape = (in_channels, out_channels // groups) if self.transposed else (out_channels, in_channels // groups)
        bound = 1.0 / math.sqrt(shape[1] * math.prod(kernel))  # PyTorch's fan_in: weight.shape[1] * kernel size
        self.weight = Parameter(rng.uniform(-bound, bound, shape + kernel).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def _padded(self, x: Any) -> tuple:
        """(input, padding) with a non-zero padding_mode's padding already applied."""
        if self.padding_mode == "zeros":
            return x, self.padding
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        kernel, dilation = (1,) * (2 - self.dims) + self.kernel_size, (1,) * (2 - self.dims) + self.dilation
        padding = self.padding if isinstance(self.padding, str) else (0,) * (2 - self.dims) + self.padding
        pairs = conv_padding(type(self).__name__, padding, kernel, (1,) * (2 - self.dims) + self.stride, dilation)
        widths = [(0, 0)] * (x.ndim - self.dims) + list(pairs[2 - self.dims:])
        return ag.pad(x, widths, self.padding_mode), 0

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution, PyTorch's ``nn.Conv2d``: ``weight`` of shape (out_channels, in_channels / groups, kH, kW).

    Default init (PyTorch's): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    ``fan_in = in_channels / groups * kH * kW``, drawn from ``seed`` or the global generator.
    Input (N, C, H, W) or (C, H, W); ``padding`` an int, a pair, ``"valid"`` or ``"same"``;
    ``padding_mode`` ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    >>> conv = nn.Conv2d(1, 6, 5, padding=2, seed=0)
    >>> conv(ag.ones(8, 1, 28, 28)).shape
    (8, 6, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         seed, dtype)

    def forward(self, x: Any) -> ag.Tensor:
        x, padding = self._padded(x)
        return ag.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution, PyTorch's ``nn.Conv1d``: input (N, C, L) or (C, L), ``weight`` (out, in / groups, k)."""
    dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         seed, dtype)

    def forward(self, x: Any) -> ag.Tensor:
        x, padding = self._padded(x)
        return ag.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv3d(_ConvNd):
    """3-D convolution, PyTorch's ``nn.Conv3d``: input (N, C, D, H, W) or (C, D, H, W), ``weight`` (out, in / groups,
    kD, kH, kW); ``padding_mode="zeros"`` only."""
    dims = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         seed, dtype)

    def forward(self, x: Any) -> ag.Tensor:
        return ag.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, PyTorch's ``nn.ConvTranspose2d``: ``weight`` (in_channels, out_channels / groups,
    kH, kW); ``output_padding`` adds rows/columns at the bottom/right (see ``ag.conv_transpose2d``)."""
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         seed, dtype, output_padding)

    def forward(self, x: Any) -> ag.Tensor:
        return ag.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)


class ConvTranspose3d(ConvTranspose2d):
    """Transposed 3-D convolution, PyTorch's ``nn.ConvTranspose3d``: input (N, C, D, H, W) or (C, D, H, W),
    ``weight`` (in, out / groups, kD, kH, kW)."""
    dims = 3

    def forward(self, x: Any) -> ag.Tensor:
        return ag.conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-D convolution, PyTorch's ``nn.ConvTranspose1d``: ``weight`` (in, out / groups, k)."""
    dims = 1

    def forward(self, x: Any) -> ag.Tensor:
        return ag.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)


class MaxPool2d(Module):
    """The maximum over each window (``stride`` defaults to ``kernel_size``), PyTorch's arguments (``ceil_mode``,
    ``return_indices``); at ties the first maximum gets the gradient, as in PyTorch."""
    pool = staticmethod(ag.max_pool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation, self.return_indices, self.ceil_mode = padding, dilation, return_indices, ceil_mode

    def forward(self, x: Any) -> Any:
        return self.pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                         self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(MaxPool2d):
    """``MaxPool2d`` for (N, C, L) sequences, PyTorch's ``nn.MaxPool1d``."""
    pool = staticmethod(ag.max_pool1d)


class MaxPool3d(MaxPool2d):
    """The maximum over each (kD, kH, kW) window of (N, C, D, H, W) volumes, PyTorch's ``nn.MaxPool3d``
    (``return_indices``: flat ``(d * H + h) * W + w`` indices, what ``MaxUnpool3d`` reads)."""
    pool = staticmethod(ag.max_pool3d)


class AvgPool2d(Module):
    """The mean over each window; ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` as in PyTorch."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Any) -> ag.Tensor:
        return ag.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                             self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(AvgPool2d):
    """``AvgPool2d`` for (N, C, L) sequences, PyTorch's ``nn.AvgPool1d`` (no ``divisor_override``, as PyTorch)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(_tuple(kernel_size, 1), None if stride is None else _tuple(stride, 1), _tuple(padding, 1),
                         ceil_mode, count_include_pad)  # 1-tuples, as PyTorch keeps them

    def forward(self, x: Any) -> ag.Tensor:
        return ag.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool3d(AvgPool2d):
    """``AvgPool2d`` for (N, C, D, H, W) volumes, PyTorch's ``nn.AvgPool3d``."""

    def forward(self, x: Any) -> ag.Tensor:
        return ag.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                             self.divisor_override)


class MaxUnpool2d(Module):
    """PyTorch's ``nn.MaxUnpool2d``: ``forward(input, indices, output_size=None)`` puts each value back at the
    index ``MaxPool2d(..., return_indices=True)`` gave it, zeros elsewhere."""
    dims, unpool = 2, staticmethod(ag.max_unpool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _tuple(kernel_size, self.dims)
        self.stride = _tuple(stride, self.dims) if stride is not None else self.kernel_size
        self.padding = _tuple(padding, self.dims)

    def forward(self, x: Any, indices: Any, output_size: Any = None) -> ag.Tensor:
        return self.unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    """``MaxUnpool2d`` for (N, C, L) sequences and ``MaxPool1d``'s indices, PyTorch's ``nn.MaxUnpool1d``."""
    dims, unpool = 1, staticmethod(ag.max_unpool1d)


class MaxUnpool3d(MaxUnpool2d):
    """``MaxUnpool2d`` for (N, C, D, H, W) volumes and ``MaxPool3d``'s indices, PyTorch's ``nn.MaxUnpool3d``."""
    dims, unpool = 3, staticmethod(ag.max_unpool3d)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (int or (oh, ow)) whatever the input size; 1 gives global pooling."""
    pool = staticmethod(ag.adaptive_avg_pool2d)

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> ag.Tensor:
        return self.pool(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """``AdaptiveAvgPool2d`` for (N, C, L) sequences, PyTorch's ``nn.AdaptiveAvgPool1d``."""
    pool = staticmethod(ag.adaptive_avg_pool1d)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """``AdaptiveAvgPool2d`` for (N, C, D, H, W) volumes, PyTorch's ``nn.AdaptiveAvgPool3d``."""
    pool = staticmethod(ag.adaptive_avg_pool3d)


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed ``output_size`` whatever the input size, PyTorch's ``nn.AdaptiveMaxPool2d``
    (``return_indices``: also the flat indices ``MaxUnpool2d`` reads)."""
    pool = staticmethod(ag.adaptive_max_pool2d)

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Any) -> Any:
        return self.pool(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """``AdaptiveMaxPool2d`` for (N, C, L) sequences, PyTorch's ``nn.AdaptiveMaxPool1d``."""
    pool = staticmethod(ag.adaptive_max_pool1d)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """``AdaptiveMaxPool2d`` for (N, C, D, H, W) volumes, PyTorch's ``nn.AdaptiveMaxPool3d``."""
    pool = staticmethod(ag.adaptive_max_pool3d)


class Upsample(Module):
    """PyTorch's ``nn.Upsample``: ``ag.interpolate`` to ``size`` or by ``scale_factor`` with ``mode``
    (``nearest``, ``nearest-exact``, ``linear``, ``bilinear``, ``trilinear``) and ``align_corners``."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = (tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list)) else
                             None if scale_factor is None else float(scale_factor))
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Any) -> ag.Tensor:
        return ag.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                              self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class PixelShuffle(Module):
    """(*, C r², H, W) -> (*, C, H r, W r), PyTorch's ``nn.PixelShuffle``."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Any) -> ag.Tensor:
        return ag.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r², H, W), PyTorch's ``nn.PixelUnshuffle``."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Any) -> ag.Tensor:
        return ag.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
