"""Normalization layers: ``BatchNorm1d`` / ``BatchNorm2d`` (running statistics) and ``LayerNorm``; their functions
(``batch_norm``, ``layer_norm``) are in ``nn.functional``."""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_mini as ag

from . import functional as F
from ._checks import flag, integer, real
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "GroupNorm", "LayerNorm"]


@ag.effect  # ag.compile counts each replay
def _count_batch(counter: ag.Tensor) -> None:
    counter.data = np.asarray(np.asarray(counter) + 1)


class _BatchNorm(Module):
    dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or ag.get_default_dtype()
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = np.zeros(self.num_features, self.running_mean.dtype)
            self.running_var = np.ones(self.num_features, self.running_var.dtype)
            self.num_batches_tracked = np.zeros((), np.int64)

    def _checked(self, x: Any, axis: int = 1) -> ag.Tensor:
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        name = type(self).__name__
        if x.ndim not in self.dims:
            expected = " or ".join(f"{d}-d" for d in self.dims)
            raise ValueError(f"{name}: expected a {expected} input {self._layout}, got shape {x.shape}")
        if x.shape[axis] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): input of shape {x.shape} has {x.shape[axis]} channels "
                             f"on axis {axis}, expected {self.num_features}")
        return x

    def forward(self, x: Any) -> ag.Tensor:
        x = self._checked(x)
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            _count_batch(self.num_batches_tracked)
            if momentum is None:  # a cumulative average of every batch seen
                tracer = ag.grad_mode.state.tracer
                if tracer is not None:
                    tracer.unsupported(f"{type(self).__name__} with momentum=None (its cumulative average reads the "
                                       "batch count in Python)", "give it a momentum (0.1 is PyTorch's default), or "
                                       "run this step eagerly")
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                          momentum or 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs per channel C, PyTorch's ``BatchNorm1d``.

    ``weight`` (ones) and ``bias`` (zeros) when ``affine``; buffers ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (saved in ``state_dict``) when
    ``track_running_stats``. ``train()``: batch statistics; ``eval()``: the running ones.
    ``momentum=None``: a cumulative average.
    """
    dims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images per channel C, PyTorch's ``BatchNorm2d`` (see ``BatchNorm1d``)."""
    dims = (4,)
    _layout = "(N, C, H, W)"


class _InstanceNorm(_BatchNorm):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x: Any) -> ag.Tensor:
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        batched = x.ndim == self.dims[1]
        x = self._checked(x, 1 if batched else 0)
        y = F.instance_norm(x if batched else x.reshape((1,) + x.shape), self.running_mean, self.running_var,
                            self.weight, self.bias, self.training or not self.track_running_stats,
                            self.momentum or 0.0, self.eps)
        return y if batched else y.reshape(x.shape)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm2d(_InstanceNorm):
    """Normalization of each image's each channel over (H, W), PyTorch's ``InstanceNorm2d``: input (N, C, H, W)
    or (C, H, W). ``affine`` (default False): ``weight`` and ``bias`` per channel; ``track_running_stats``
    (default False): running statistics moved in training mode and used in eval mode (``num_batches_tracked``
    is kept but not counted, as PyTorch)."""
    dims = (3, 4)
    _layout = "(N, C, H, W) or (C, H, W)"


class InstanceNorm1d(_InstanceNorm):
    """``InstanceNorm2d`` for (N, C, L) or (C, L) sequences, each channel normalized over L."""
    dims = (2, 3)
    _layout = "(N, C, L) or (C, L)"


class InstanceNorm3d(_InstanceNorm):
    """``InstanceNorm2d`` for (N, C, D, H, W) or (C, D, H, W) volumes, each channel normalized over (D, H, W)."""
    dims = (4, 5)
    _layout = "(N, C, D, H, W) or (C, D, H, W)"


class GroupNorm(Module):
    """PyTorch's ``GroupNorm``: each sample's channels in ``num_groups`` groups, each normalized by its mean and
    biased variance, then per-channel ``weight`` (ones) and ``bias`` (zeros) when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        num_groups = integer(num_groups, "GroupNorm: num_groups", 1)
        num_channels = integer(num_channels, "GroupNorm: num_channels", 1)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, real(eps, "GroupNorm: eps", 0)
        self.affine = flag(affine, "GroupNorm: affine")
        dtype = dtype or ag.get_default_dtype()
        self.register_parameter("weight", Parameter(np.ones(num_channels, dtype)) if self.affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_channels, dtype)) if self.affine and bias else None)

    def forward(self, x: Any) -> ag.Tensor:
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input (N, "
                             f"{self.num_channels}, ...), got shape {x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` axes, then ``* weight + bias`` (PyTorch's LayerNorm).

    ``weight`` (ones) and ``bias`` (zeros) have shape ``normalized_shape`` when ``elementwise_affine``.

    >>> nn.LayerNorm(8)(ag.randn(2, 5, 8)).shape
    (2, 5, 8)
    """

    def __init__(self, normalized_shape: int | tuple, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else tuple(normalized_shape)
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one axis, got ()")
        shape = tuple(integer(n, "LayerNorm: normalized_shape", 1) for n in shape)
        self.normalized_shape, self.eps = shape, real(eps, "LayerNorm: eps", 0)
        self.elementwise_affine = flag(elementwise_affine, "LayerNorm: elementwise_affine")
        dtype = dtype or ag.get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> ag.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
