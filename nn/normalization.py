"""Batch normalization: ``batch_norm`` and the ``BatchNorm1d`` / ``BatchNorm2d`` layers with running statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_mini as ag

from .module import Module, Parameter

__all__ = ["batch_norm", "BatchNorm1d", "BatchNorm2d"]


def batch_norm(input: Any, running_mean: ag.Tensor | None, running_var: ag.Tensor | None,
               weight: Any = None, bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> ag.Tensor:
    """Normalize each channel (axis 1) of ``input`` (N, C, ...), PyTorch's ``F.batch_norm``.

    Training: by the batch's mean and biased variance over every axis but 1, and the running
    statistics (when given) move towards them, in place: ``r = (1 - momentum) * r + momentum * s``
    with the unbiased variance, as PyTorch. Otherwise: by the running statistics.
    Then ``* weight + bias`` (per channel) when given. Composed of Tensor ops, so it differentiates
    to any order.
    """
    x = input if isinstance(input, ag.Tensor) else ag.tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(np.shape(t)) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input of shape {x.shape} "
                             f"(C = {c} channels on axis 1), got shape {tuple(np.shape(t))}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    per_channel = x.size // c if c else 0
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    if training and x.shape[0]:
        if per_channel <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {x.shape} (use a larger batch, or eval mode)")
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        _move_stats(running_mean, running_var, mean, var, per_channel / (per_channel - 1), momentum)
    else:  # evaluation; or an empty batch, with nothing to normalize or to learn from (as PyTorch)
        mean, var = ((ag.as_tensor(running_mean).reshape(shape), ag.as_tensor(running_var).reshape(shape))
                     if not training else (np.zeros(shape, x.dtype), np.ones(shape, x.dtype)))
        centered = x - mean
    y = centered / ag.sqrt(var + eps)
    if weight is not None:
        y = y * (weight.reshape(shape) if isinstance(weight, ag.Tensor) else np.reshape(weight, shape))
    if bias is not None:
        y = y + (bias.reshape(shape) if isinstance(bias, ag.Tensor) else np.reshape(bias, shape))
    return y


@ag.effect  # ag.compile replays it with each call's batch statistics
def _move_stats(running_mean: Any, running_var: Any, mean: ag.Tensor, var: ag.Tensor, unbias: float,
                momentum: float) -> None:
    """Move the running statistics towards the batch's (the variance unbiased), in place."""
    if running_mean is not None:
        _move(running_mean, np.asarray(mean).reshape(-1), momentum)
    if running_var is not None:
        _move(running_var, np.asarray(var).reshape(-1) * unbias, momentum)


def _move(stat: ag.Tensor, value: np.ndarray, momentum: float) -> None:
    stat.data = ((1.0 - momentum) * np.asarray(stat) + momentum * value).astype(stat.dtype)


@ag.effect
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

    def forward(self, x: Any) -> ag.Tensor:
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        name = type(self).__name__
        if x.ndim not in self.dims:
            expected = " or ".join(f"{d}-d" for d in self.dims)
            raise ValueError(f"{name}: expected a {expected} input {self._layout}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): input of shape {x.shape} has {x.shape[1]} channels "
                             f"on axis 1, expected {self.num_features}")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            _count_batch(self.num_batches_tracked)
            if momentum is None:  # a cumulative average of every batch seen
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
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
