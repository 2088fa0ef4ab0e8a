"""Resampling: ``interpolate`` (nearest, nearest-exact, linear, bilinear, trilinear) and ``pixel_shuffle`` /
``pixel_unshuffle``, all composed: interpolation is one gather per spatial axis (two, weighted, for the linear
modes), with PyTorch's source-index rules; the pixel shuffles are a reshape and a transpose. Their gradients
(scatter-adds of the gathers, the inverse permutation) differentiate again, to any order.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..function import op
from ..tensor import Tensor, as_operand

__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}  # mode -> the spatial axes it needs
_MODES = ("nearest", "nearest-exact", *_LINEAR)


def _sizes(x: Tensor, size: Any, scale_factor: Any) -> tuple[tuple, tuple]:
    """(output sizes, the scale factors PyTorch uses for the coordinates, None where it uses in / out)."""
    dims = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims or not all(hasattr(s, "__index__") and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"interpolate: size must be an int or {dims} ints for input of shape {x.shape}, "
                             f"got {size!r}")
        return tuple(int(s) for s in sizes), (None,) * dims
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
    scales = tuple(as_operand(s) for s in scales)  # numpy numbers as Python's
    if len(scales) != dims or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
                                      for s in scales):
        raise ValueError(f"interpolate: scale_factor must be a positive number or {dims} of them for input of "
                         f"shape {x.shape}, got {scale_factor!r}")
    return tuple(math.floor(n * float(s)) for n, s in zip(x.shape[2:], scales)), tuple(float(s) for s in scales)


def _nearest(n_in: int, n_out: int, scale: float | None, exact: bool) -> Any:
    """PyTorch's nearest source index, computed as its CPU kernel does, in float32."""
    s = xp.float32(1.0 / scale if scale else n_in / n_out)
    dst = xp.arange(n_out, dtype=xp.float32) + xp.float32(0.5 if exact else 0.0)
    return xp.minimum(xp.floor(dst * s).astype(xp.int64), n_in - 1)


def _linear(n_in: int, n_out: int, scale: float | None, align_corners: bool) -> tuple:
    """(lower index, upper index, weight of the upper) of each output position: PyTorch's rule."""
    dst = xp.arange(n_out, dtype=xp.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = xp.maximum((dst + 0.5) * (1.0 / scale if scale else n_in / n_out) - 0.5, 0.0)
    lo = src.astype(xp.int64)
    return lo, xp.minimum(lo + 1, n_in - 1), xp.clip(src - lo, 0.0, 1.0)


def _along(x: Tensor, axis: int, index: Any) -> Tensor:
    return x[(slice(None),) * axis + (index,)]


@op("interpolate")
def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> Tensor:
    """Resample (N, C, L), (N, C, H, W) or (N, C, D, H, W) to ``size`` or ``scale_factor`` times the input size
    (rounded down), PyTorch's ``F.interpolate`` with its index rules: ``nearest`` (source ``floor(dst * in/out)``),
    ``nearest-exact``, ``linear`` / ``bilinear`` / ``trilinear`` (``align_corners`` maps the corner pixels'
    centres onto each other). A given ``scale_factor`` also sets the coordinate scale unless
    ``recompute_scale_factor=True``. Gradients to any order.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expected input of shape (N, C, L), (N, C, H, W) or (N, C, D, H, W), "
                         f"got shape {x.shape}")
    if mode in _LINEAR and x.ndim - 2 != _LINEAR[mode]:
        raise ValueError(f"interpolate: mode={mode!r} needs a {_LINEAR[mode] + 2}-d input, got shape {x.shape} "
                         f"(use {[m for m, d in _LINEAR.items() if d == x.ndim - 2][0]!r})")
    if mode not in _LINEAR and align_corners is not None:
        raise ValueError(f"interpolate: align_corners applies to the linear modes only, not mode={mode!r}")
    if mode in _LINEAR and x.dtype.kind != "f":
        raise TypeError(f"interpolate: mode={mode!r} needs a floating-point input, got dtype {x.dtype}")
    sizes, scales = _sizes(x, size, scale_factor)
    if recompute_scale_factor:
        scales = (None,) * len(scales)
    if min(sizes, default=1) < 1 or min(x.shape[2:]) < 1:
        raise ValueError(f"interpolate: input and output sizes must be positive, got input shape {x.shape} and "
                         f"output size {sizes}")
    for axis in range(x.ndim - 1, 1, -1):  # the last axis first, as PyTorch's kernels nest
        n_in, n_out, scale = x.shape[axis], sizes[axis - 2], scales[axis - 2]
        if mode in _LINEAR:
            lo, hi, w = _linear(n_in, n_out, scale, bool(align_corners))
            w = w.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1 - axis))
            x = _along(x, axis, lo) * (1 - w) + _along(x, axis, hi) * w
        elif n_in != n_out or scale:
            x = _along(x, axis, _nearest(n_in, n_out, scale, mode == "nearest-exact"))
    return x


def _factor(op: str, name: str, r: Any) -> int:
    if not hasattr(r, "__index__") or isinstance(r, bool) or r < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {r!r}")
    return int(r)


@op("pixel_shuffle")
def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:
    """(*, C r², H, W) -> (*, C, H r, W r), PyTorch's ``F.pixel_shuffle``: channel ``c r² + i r + j`` moves to
    pixel offset (i, j)."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected (*, C * {r * r}, H, W) for upscale_factor={r}, got shape {x.shape}")
    *batch, c, h, w = x.shape
    b = len(batch)
    y = x.reshape(*batch, c // (r * r), r, r, h, w).transpose(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return y.reshape(*batch, c // (r * r), h * r, w * r)


@op("pixel_unshuffle")
def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r², H, W), the inverse of ``pixel_shuffle`` (PyTorch's ``F.pixel_unshuffle``)."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected (*, C, H, W) with H and W divisible by downscale_factor={r}, "
                         f"got shape {x.shape}")
    *batch, c, h, w = x.shape
    b = len(batch)
    y = x.reshape(*batch, c, h // r, r, w // r, r).transpose(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return y.reshape(*batch, c * r * r, h // r, w // r)
