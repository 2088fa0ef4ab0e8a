"""Pooling and padding for NCHW images: ``max_pool2d`` (a primitive), ``avg_pool2d`` and
``adaptive_avg_pool2d`` (composed), ``pad`` (a primitive).

``max_pool2d`` remembers each window's winning kernel offset (the first maximum, as PyTorch);
its derivative scatters g to those pixels, and that scatter's derivative gathers from them.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..function import Function, op
from ..tensor import Tensor
from .conv import Conv2d, conv_output, crop, fits, image_input, offsets, out_hw, pad_hw, pair, zeros_padded

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pad"]


# ---- max pooling ------------------------------------------------------------------------------
class MaxPool2d(Function):
    """The maximum of each window; the gradient goes to the first maximum only (the last nan), as PyTorch."""
    formula = "d max_pool2d(x)/dx: g to each window's first maximum (overlapping windows add)"
    op_name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, *, kernel, stride, padding, dilation):
        xpad = pad_hw(x, padding, -xp.inf)  # floating inputs only (checked by max_pool2d)
        # where padding was added: a padded -inf never wins, so a window of -inf picks its first real pixel
        padded = pad_hw(xp.zeros((1, 1) + x.shape[2:], bool), padding, True) if xpad is not x else None
        best = winner = None
        for t, index in offsets(kernel, stride, dilation, out_hw(x.shape, kernel, stride, padding, dilation)):
            v = xpad[index]  # numpy's argmax over a short last axis is slow: one strided pass per offset instead
            if best is None:
                best, winner = v.copy(), xp.zeros(v.shape, xp.min_scalar_type(kernel[0] * kernel[1]))
                if padded is not None:
                    best_padded = xp.broadcast_to(padded[index], v.shape).copy()
                continue
            wins = v > best  # PyTorch's rule: a strictly larger value, or a nan, takes over
            wins |= xp.isnan(v)
            if padded is not None:  # ... and a real pixel takes over from padding
                wins |= best_padded & ~padded[index]
                xp.copyto(best_padded, padded[index], where=wins)
            xp.copyto(best, v, where=wins)
            xp.copyto(winner, t, where=wins)
        ctx.save_for_backward(winner, x.shape)  # each window's winning kernel offset
        return best

    @staticmethod
    def backward(ctx, g):
        winner, x_shape = ctx.saved_tensors
        return WindowScatter.apply(g, winner=winner, x_shape=x_shape, **ctx.params)


def _scatter(g: Any, winner: Any, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
             dilation: tuple) -> Any:
    """Zeros of the input's shape with each window's g added at its winner (overlapping windows accumulate)."""
    out = zeros_padded(x_shape, padding, g.dtype)
    for t, index in offsets(kernel, stride, dilation, winner.shape[2:]):
        out[index] += xp.where(winner == t, g, 0)
    return crop(out, x_shape, padding)


def _gather(h: Any, winner: Any, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
            dilation: tuple) -> Any:
    """Each window's value of h at its winner."""
    hpad = pad_hw(h, padding)
    out = xp.empty(winner.shape, dtype=h.dtype)
    for t, index in offsets(kernel, stride, dilation, winner.shape[2:]):
        xp.copyto(out, hpad[index], where=winner == t)  # every window has exactly one winner: all set
    return out


class WindowScatter(Function):
    """max_pool2d's derivative: scatter to the remembered winners; its own derivative gathers from them."""
    formula = "d window_scatter(g)/dg: the incoming gradient read at each window's maximum"
    op_name = "max_pool2d_backward"

    @staticmethod
    def forward(ctx, g, **geometry): return _scatter(g, **geometry)

    @staticmethod
    def backward(ctx, h): return WindowGather.apply(h, **ctx.params)


class WindowGather(Function):
    """The values at the remembered winners (the derivative of ``WindowScatter``)."""
    formula = "d window_gather(h)/dh: the incoming gradient added at each window's maximum"
    op_name = "max_pool2d_select"

    @staticmethod
    def forward(ctx, h, **geometry): return _gather(h, **geometry)

    @staticmethod
    def backward(ctx, g): return WindowScatter.apply(g, **ctx.params)


# ---- padding --------------------------------------------------------------------------------------
class Pad(Function):
    """Constant padding (numpy's ``pad_width``); the derivative crops."""
    formula = "d pad(x, pad_width)/dx: g cropped to x"

    @staticmethod
    def forward(ctx, x, *, pad_width, value): return xp.pad(x, pad_width, constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[tuple(slice(before, n - after) for (before, after), n in zip(ctx.params["pad_width"], g.shape))]


# ---- public functions -----------------------------------------------------------------------------------
def _pool_args(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    x, unbatched = image_input(op, x)
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair(op, "stride", stride, 1)
    pad = pair(op, "padding", padding, 0)
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(f"{op}: padding {padding!r} must be at most half the kernel size {kernel} (as in PyTorch)")
    return x, unbatched, kernel, stride, ((pad[0], pad[0]), (pad[1], pad[1]))


@op("max_pool2d")
def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> Tensor:
    """The maximum over each ``kernel_size`` window (stride defaults to the kernel), padding with -inf.

    At ties the gradient goes to the first maximum in the window (row-major), as in PyTorch.
    """
    x, unbatched, kernel, stride, pads = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    dilation = pair("max_pool2d", "dilation", dilation, 1)
    fits("max_pool2d", x, kernel, pads, dilation)
    out = MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=pads, dilation=dilation)
    return out.reshape(out.shape[1:]) if unbatched else out


@op("avg_pool2d")
def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean over each window; zero padding counts in the divisor unless ``count_include_pad=False``.

    Composed (no derivative of its own): non-overlapping windows are a reshape and a sum, any
    other geometry a convolution of each channel with a kernel of ones.
    """
    x, unbatched, kernel, stride, pads = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    fits("avg_pool2d", x, kernel, pads, (1, 1))
    n, c, h, w = x.shape
    ho, wo = out_hw(x.shape, kernel, stride, pads, (1, 1))
    (kh, kw), padded = kernel, pads != ((0, 0), (0, 0))
    if stride == kernel and not padded:
        crop = x if (h, w) == (ho * kh, wo * kw) else x[:, :, :ho * kh, :wo * kw]
        total = crop.reshape(n, c, ho, kh, wo, kw).sum(axis=(3, 5))
    else:
        ones = xp.ones((1, 1, kh, kw), dtype=x.dtype)
        total = Conv2d.apply(x.reshape(n * c, 1, h, w), ones, None, stride=stride, padding=pads, dilation=(1, 1),
                             groups=1).reshape(n, c, ho, wo)
    if divisor_override is not None:
        if divisor_override <= 0:
            raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override!r}")
        out = total * (1.0 / divisor_override)
    elif count_include_pad or not padded:
        out = total * (1.0 / (kh * kw))
    else:  # divide each window by the number of real (unpadded) pixels in it
        counts = conv_output(xp.ones((1, 1, h, w), x.dtype), xp.ones((1, 1, kh, kw), x.dtype), stride, pads, (1, 1), 1)
        out = total / counts
    return out.reshape(out.shape[1:]) if unbatched else out


@op("adaptive_avg_pool2d")
def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Average over PyTorch's adaptive bins (rows ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh)``), to ``output_size``.

    ``output_size`` is an int or an (oh, ow) pair (``None`` keeps that side). Composed as
    ``A_h @ x @ A_w.T`` with constant averaging matrices: bins may overlap and differ in size.
    """
    x, unbatched = image_input("adaptive_avg_pool2d", x)
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    oh, ow = (x.shape[2 + i] if s is None else pair("adaptive_avg_pool2d", "output_size", s, 1)[0]
              for i, s in enumerate(sizes))
    h, w = x.shape[2:]
    if (oh, ow) == (1, 1):
        out = x.mean(axis=(2, 3), keepdims=True)
    else:
        out = (_bins(oh, h, x.dtype) @ x) @ _bins(ow, w, x.dtype).T
    return out.reshape(out.shape[1:]) if unbatched else out


def _bins(out_size: int, size: int, dtype: Any) -> Any:
    """(out_size, size): row i averages PyTorch's adaptive bin i."""
    a = xp.zeros((out_size, size), dtype=dtype)
    for i in range(out_size):
        lo, hi = (i * size) // out_size, -(-((i + 1) * size) // out_size)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


@op("pad")
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Tensor:
    """Pad with a constant, numpy's ``pad_width`` convention: an int, a (before, after) pair, or one pair per axis.

    >>> ag.pad(ag.ones(2, 2), ((1, 0), (0, 2))).shape
    (3, 4)
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    x = x if isinstance(x, Tensor) else Tensor(x)
    try:
        widths = xp.broadcast_to(xp.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape} (give an int, "
                         f"a (before, after) pair, or {x.ndim} pairs)") from None
    if widths.dtype.kind not in "iu" or (widths.size and widths.min() < 0):
        raise ValueError(f"pad: pad_width must hold non-negative ints, got {pad_width!r}")
    if not math.isfinite(constant_values) and x.dtype.kind != "f":
        raise ValueError(f"pad: cannot pad a {x.dtype} tensor with {constant_values!r}")
    if x.dtype.kind in "fiu" and math.isfinite(constant_values):
        info = xp.finfo(x.dtype) if x.dtype.kind == "f" else xp.iinfo(x.dtype)
        lo, hi = (float(info.min), float(info.max)) if x.dtype.kind == "f" else (int(info.min), int(info.max))
        if not lo <= constant_values <= hi:  # exact (Python numbers); numpy would pad inf or wrap
            raise ValueError(f"pad: constant_values={constant_values!r} overflows {x.dtype} (range {lo} to {hi}), "
                             "as PyTorch refuses; cast x to a wider dtype first")
    return Pad.apply(x, pad_width=tuple((int(b), int(a)) for b, a in widths), value=constant_values)
