"""Pooling and padding for NCHW images: ``max_pool2d`` and the adaptive max pools (primitives), ``avg_pool2d``
and the adaptive average pools (composed), ``pad`` (a primitive).

``max_pool2d`` remembers each window's winning kernel offset (the first maximum, as PyTorch);
its derivative scatters g to those pixels, and that scatter's derivative gathers from them.
The winners are selected with bit operations (``_select``, ``_masked``): exact, and 10x faster
than numpy's masked copies.
"""

from __future__ import annotations

import math
from typing import Any

from .. import numpy as anp
from .._backend import xp
from ..function import Function, op
from ..grad_mode import array_call
from ..tensor import Tensor
from .conv import (
    Conv2d,
    conv_output,
    crop,
    fits,
    image_input,
    ints,
    offsets,
    out_hw,
    pad_hw,
    padding_pairs,
    pair,
    single,
    zeros_padded,
)

__all__ = ["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "max_pool3d", "avg_pool3d", "max_unpool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d", "pad"]


# ---- max pooling ------------------------------------------------------------------------------
class MaxPool2d(Function):
    """The maximum of each window; the gradient goes to the first maximum only (the last nan), as PyTorch."""
    formula = "d max_pool2d(x)/dx: g to each window's first maximum (overlapping windows add)"
    op_name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, *, kernel, stride, padding, dilation):
        best, winner = _max_windows(x, kernel, stride, padding, dilation)
        ctx.save_for_backward(winner, x.shape)  # each window's winning kernel offset
        return best

    @staticmethod
    def backward(ctx, g):
        winner, x_shape = ctx.saved_tensors
        return WindowScatter.apply(g, winner=winner, x_shape=x_shape, **ctx.params)


def _max_windows(x: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> tuple:
    """(each window's maximum, its kernel offset): the first maximum, or a nan, wins (PyTorch's rule); a padded
    value never wins over a real pixel, so a window of -inf picks its first real pixel."""
    low = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
    xpad = pad_hw(x, padding, low)
    padded = pad_hw(xp.zeros((1, 1) + x.shape[2:], bool), padding, True) if xpad is not x else None
    nans = x.dtype.kind == "f" and bool(xp.isnan(x).any())
    best = winner = best_padded = None
    for t, index in offsets(kernel, stride, dilation, out_hw(x.shape, kernel, stride, padding, dilation)):
        v = xpad[index]  # numpy's argmax over a short last axis is slow: one strided pass per offset instead
        if best is None:
            best, winner = v.copy(), xp.zeros(v.shape, xp.min_scalar_type(kernel[0] * kernel[1]))
            if padded is not None:
                best_padded = xp.broadcast_to(padded[index], v.shape).copy()
            continue
        wins = v > best  # PyTorch's rule: a strictly larger value, or a nan, takes over
        if nans:
            wins |= xp.isnan(v)
        if padded is not None:  # ... and a real pixel takes over from padding
            wins |= best_padded & ~padded[index]
            _select(best_padded, padded[index], wins)
        _select(best, v, wins)
        xp.maximum(winner, wins * winner.dtype.type(t), out=winner)  # offsets come in increasing order
    return best, winner


def _bits(a: Any) -> Any:
    """``a``'s bits as unsigned ints of its item size (a view)."""
    return a.view(xp.dtype(f"u{a.dtype.itemsize}"))


def _ones_where(mask: Any, like: Any) -> Any:
    """All bits set where ``mask``, none elsewhere, in ``like``'s item size."""
    m = mask.astype(_bits(like).dtype)
    return xp.negative(m, out=m)


def _select(dst: Any, src: Any, mask: Any) -> None:
    """``dst[mask] = src[mask]`` in place, bit for bit, as bit operations: ``copyto(..., where=)`` and ``where``
    branch per element and took 10x longer on the LeNet benchmark's random masks."""
    d = _bits(dst)
    diff = xp.bitwise_xor(d, _bits(src))
    diff &= _ones_where(mask, dst)
    d ^= diff


def _masked(a: Any, mask: Any) -> Any:
    """``where(mask, a, 0)``, bit for bit (0 is all bits clear, also as a float), as one bitwise and."""
    return (_bits(a) & _ones_where(mask, a)).view(a.dtype)


def _flat_indices(winner: Any, w: int, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> Any:
    """PyTorch's return_indices: each window's maximum as ``row * W + col`` of its (H, W) input plane."""
    i, j = xp.divmod(winner.astype(xp.int64), kernel[1])
    rows = xp.arange(winner.shape[2]).reshape(-1, 1) * stride[0] - padding[0][0] + i * dilation[0]
    cols = xp.arange(winner.shape[3]) * stride[1] - padding[1][0] + j * dilation[1]
    return rows * w + cols


def _scatter(g: Any, winner: Any, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
             dilation: tuple) -> Any:
    """Zeros of the input's shape with each window's g added at its winner (overlapping windows accumulate)."""
    out = zeros_padded(x_shape, padding, g.dtype)
    apart = all(s > d * (k - 1) for k, s, d in zip(kernel, stride, dilation))
    if apart:  # each pixel gets one add: write 0 + g there (-0.0 becomes 0.0, as added), 2x faster than adding
        g = g + 0.0
    for t, index in offsets(kernel, stride, dilation, winner.shape[2:]):
        if apart:
            out[index] = _masked(g, winner == t)
        else:
            out[index] += _masked(g, winner == t)
    return crop(out, padding)


def _gather(h: Any, winner: Any, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
            dilation: tuple) -> Any:
    """Each window's value of h at its winner."""
    hpad = pad_hw(h, padding)
    out = xp.zeros(winner.shape, dtype=h.dtype)
    for t, index in offsets(kernel, stride, dilation, winner.shape[2:]):
        _select(out, hpad[index], winner == t)  # every window has exactly one winner: all set
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


# ---- unpooling ----------------------------------------------------------------------------------
class MaxUnpool(Function):
    """Each value put at its flat index of a zero plane (or sequence, or volume) of ``size`` (a later duplicate
    overwrites, as PyTorch's CPU kernel); the gradient reads g at the indices, for the values that were kept
    (PyTorch's: for every one)."""
    formula = "d max_unpool(x)/dx: g read at each kept value's index (0 for an overwritten duplicate)"
    op_name = "max_unpool"

    @staticmethod
    def forward(ctx, x, *, index, size):
        n, c = x.shape[:2]
        index = index.reshape(n, c, -1)
        out = xp.zeros((n, c, math.prod(size)), dtype=x.dtype)
        xp.put_along_axis(out, index, x.reshape(n, c, -1), axis=2)
        source = xp.full(out.shape, -1)  # which input each output slot kept
        xp.put_along_axis(source, index, xp.broadcast_to(xp.arange(index.shape[2]), index.shape), axis=2)
        ctx.save_for_backward(xp.take_along_axis(source, index, 2) == xp.arange(index.shape[2]))
        return out.reshape((n, c) + size)

    @staticmethod
    def backward(ctx, g, x):
        n, c = x.shape[:2]
        (kept,) = ctx.saved_tensors
        index = ctx.params["index"].reshape(n, c, -1)
        return (anp.take_along_axis(g.reshape(n, c, -1), index, 2) * kept).reshape(x.shape)


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
def _default_stride(stride: Any) -> bool:
    """None or an empty tuple/list: the kernel size (PyTorch's). A numpy int is a stride (``== ()`` is not
    asked of it: numpy would compare it with an empty array)."""
    return stride is None or isinstance(stride, (tuple, list)) and not stride


def _pool_args(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool) -> tuple:
    """(4-d x, unbatched, kernel, stride, ((top, bottom), (left, right)) padding, dilation, ceil_mode's extra
    (bottom, right) padding): checked as PyTorch checks them."""
    x, unbatched = image_input(op, x, integers=True)
    if 0 in x.shape[2:]:
        raise ValueError(f"{op}: expected an input with non-zero height and width (as PyTorch), got shape {x.shape}")
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if _default_stride(stride) else pair(op, "stride", stride, 1)
    dilation = pair(op, "dilation", dilation, 1)
    pads = padding_pairs(op, padding)
    if any(2 * max(p) > k for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding {padding!r} must be at most half the kernel size {kernel} (as in PyTorch)")
    extra = []
    for n, k, s, d, (before, after) in zip(x.shape[2:], kernel, stride, dilation, pads):
        span = n + before + after - d * (k - 1) - 1
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= n + before:  # the last window must start inside the input or its padding
            out -= 1
        if out < 1:  # ceil_mode keeps one window wider than the (padded) input, as PyTorch
            fits(op, x, kernel, pads, dilation)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (n + before + after)))
    return x, unbatched, kernel, stride, pads, dilation, tuple(extra)


def _batched(out: Any, unbatched: bool) -> Any:
    return out.reshape(out.shape[1:]) if unbatched else out


@op("max_pool2d")
def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over each ``kernel_size`` window (stride defaults to the kernel), padding with -inf; PyTorch's
    arguments. ``padding`` may also be ``((top, bottom), (left, right))``; integer inputs give integers (no
    gradient). ``return_indices``: also each maximum's flat index ``row * W + col`` in its input plane.

    At ties the gradient goes to the first maximum in the window (row-major), as in PyTorch.
    """
    x, unbatched, kernel, stride, pads, dilation, extra = _pool_args("max_pool2d", input, kernel_size, stride,
                                                                     padding, dilation, ceil_mode)
    geometry = dict(kernel=kernel, stride=stride, dilation=dilation,
                    padding=tuple((before, after + e) for (before, after), e in zip(pads, extra)))
    out = _batched(MaxPool2d.apply(x, **geometry), unbatched)
    if not return_indices:
        return out
    return out, Tensor._wrap(array_call(_pool_indices, x._data, unbatched, geometry))  # again on each replay


def _pool_indices(a: Any, unbatched: bool, geometry: dict) -> Any:
    """``return_indices``' array: each window's maximum as its flat index in its (H, W) input plane."""
    return _batched(_flat_indices(_max_windows(a, **geometry)[1], a.shape[3], **geometry), unbatched)


@op("avg_pool2d")
def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean over each window, PyTorch's arguments and divisors: zero padding counts unless
    ``count_include_pad=False``, the extra windows of ``ceil_mode`` count only what they overlap. ``padding`` may also
    be ``((top, bottom), (left, right))``. An integer input gives PyTorch's integer mean (truncated toward zero).

    Composed (no derivative of its own): non-overlapping windows are a reshape and a sum, any
    other geometry a convolution of each channel with a kernel of ones.
    """
    x, unbatched, kernel, stride, pads, _, extra = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1,
                                                              ceil_mode)
    if divisor_override is not None and (not hasattr(divisor_override, "__index__") or divisor_override <= 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    n, c, h, w = x.shape
    full = tuple((before, after + e) for (before, after), e in zip(pads, extra))
    ho, wo = out_hw(x.shape, kernel, stride, full, (1, 1))
    (kh, kw), padded = kernel, full != ((0, 0), (0, 0))
    if stride == kernel and not padded:
        part = x if (h, w) == (ho * kh, wo * kw) else x[:, :, :ho * kh, :wo * kw]
        total = part.reshape(n, c, ho, kh, wo, kw).sum(axis=(3, 5))
    else:
        ones = xp.ones((1, 1, kh, kw), dtype=x.dtype)
        total = Conv2d.apply(x.reshape(n * c, 1, h, w), ones, None, stride=stride, padding=full, dilation=(1, 1),
                             groups=1).reshape(n, c, ho, wo)
    if divisor_override is not None:
        divisor: Any = divisor_override
    elif not any(extra) and (count_include_pad or not padded):
        divisor = kh * kw
    else:  # each window's count: what it overlaps of the padded input (or of the input alone)
        inside = ((h + sum(pads[0]), w + sum(pads[1])), ((0, extra[0]), (0, extra[1]))) if count_include_pad else \
            ((h, w), full)
        divisor = conv_output(xp.ones((1, 1) + inside[0]), xp.ones((1, 1, kh, kw)), stride, inside[1], (1, 1), 1)
    if x.dtype.kind != "f":
        t = total.numpy()
        return Tensor(_batched(xp.sign(t) * (xp.abs(t) // xp.asarray(divisor).astype(t.dtype)), unbatched))
    out = total * (1.0 / divisor) if isinstance(divisor, int) else total / divisor.astype(x.dtype)
    return _batched(out, unbatched)


def _as_images(op: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1) -> tuple:
    """A 1-d pooling's (N, C, L) input as images one pixel high and its arguments as (1, k) pairs."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input of shape (N, C, L) or (C, L), got shape {x.shape}")
    pads = ((0, 0), tuple(padding)) if isinstance(padding, (tuple, list)) and len(padding) == 2 else \
        (0, single(op, "padding", padding, 0))
    return (x.reshape(x.shape[:-1] + (1, x.shape[-1])), (1, single(op, "kernel_size", kernel_size, 1)),
            None if _default_stride(stride) else (1, single(op, "stride", stride, 1)), pads,
            (1, single(op, "dilation", dilation, 1)))


def _squeezed(out: Any) -> Any:
    return out.reshape(out.shape[:-2] + out.shape[-1:])


@op("max_pool1d")
def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """``max_pool2d`` over (N, C, L) sequences, PyTorch's ``max_pool1d``; ``padding`` may be a (left, right) pair."""
    out = max_pool2d(*_as_images("max_pool1d", input, kernel_size, stride, padding, dilation), ceil_mode,
                     return_indices)
    return tuple(_squeezed(o) for o in out) if return_indices else _squeezed(out)


@op("avg_pool1d")
def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """``avg_pool2d`` over (N, C, L) sequences, PyTorch's ``avg_pool1d``; ``padding`` may be a (left, right) pair."""
    x, kernel, stride, pads, _ = _as_images("avg_pool1d", input, kernel_size, stride, padding)
    return _squeezed(avg_pool2d(x, kernel, stride, pads, ceil_mode, count_include_pad))


def _volumes(op: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1) -> tuple:
    """(input as (N * C, D, H, W), (N, C), and per argument its depth value and its (h, w) pair)."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape {x.shape}")
    lead = x.shape[:-3] if x.ndim == 5 else (x.shape[0],)
    args = []
    for name, v, lo in (("kernel_size", kernel_size, 1), ("stride", kernel_size if stride is None else stride, 1),
                        ("padding", padding, 0), ("dilation", dilation, 1)):
        vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3
        if len(vals) != 3:
            raise TypeError(f"{op}: {name} must be an int or 3 ints, got {v!r}")
        args.append((single(op, name, vals[0], lo), pair(op, name, vals[1:], lo)))
    return (x.reshape((-1,) + x.shape[-3:]), lead, *args)


def _depth_as_height(plane: Tensor) -> Tensor:
    """(N * C, D, Ho, Wo) -> (N * C, 1, D, Ho * Wo): one-channel images whose height is the depth."""
    return plane.reshape(plane.shape[:1] + (1, plane.shape[1], plane.shape[2] * plane.shape[3]))


@op("max_pool3d")
def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over each (kD, kH, kW) window of (N, C, D, H, W) volumes, PyTorch's ``max_pool3d``;
    ``return_indices``: also each maximum's flat index ``(d * H + h) * W + w`` in its volume. Separable, so
    composed exactly: ``max_pool2d`` over each plane, then over depth; the gradient goes to the first maximum in
    (d, h, w) order (the last nan), as PyTorch's."""
    x, lead, (kd, k), (sd, s), (pd, p), (dd, d) = _volumes("max_pool3d", input, kernel_size, stride, padding, dilation)
    plane = max_pool2d(x, k, s, p, d, ceil_mode, return_indices)
    plane, in_plane = plane if return_indices else (plane, None)
    out = max_pool2d(_depth_as_height(plane), (kd, 1), (sd, 1), (pd, 0), (dd, 1), ceil_mode, return_indices)
    out, depth = out if return_indices else (out, None)
    shape = lead + out.shape[2:3] + plane.shape[2:]
    if not return_indices:
        return out.reshape(shape)
    flat = array_call(_volume_indices, depth._data, in_plane._data, shape, plane.shape, x.shape)  # on each replay
    return out.reshape(shape), Tensor._wrap(flat)


def _volume_indices(depth: Any, in_plane: Any, shape: tuple, plane: tuple, volume: tuple) -> Any:
    """max_pool3d's flat ``(d * H + h) * W + w`` from the depth pool's rows and the plane pool's indices."""
    depth = depth.reshape((-1,) + shape[-3:]) // (plane[2] * plane[3])  # a row of the depth pool
    return (depth * (volume[2] * volume[3]) + xp.take_along_axis(in_plane, depth, 1)).reshape(shape)


@op("avg_pool3d")
def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean over each (kD, kH, kW) window, PyTorch's ``avg_pool3d`` and its divisors. Separable (each
    divisor is a product of per-axis counts), so composed: ``avg_pool2d`` over each plane, then over depth."""
    x, lead, (kd, k), (sd, s), (pd, p), _ = _volumes("avg_pool3d", input, kernel_size, stride, padding)
    if x.dtype.kind != "f":
        raise TypeError(f"avg_pool3d: expected a floating-point input, got dtype {x.dtype} (convert with .astype)")
    if divisor_override is not None and (not hasattr(divisor_override, "__index__") or divisor_override <= 0):
        raise ValueError(f"avg_pool3d: divisor_override must be a positive int, got {divisor_override!r}")
    if any(n + 2 * q < kk for n, kk, q in zip(x.shape[1:], (kd, *k), (pd, *p))):  # even with ceil_mode (PyTorch's)
        raise ValueError(f"avg_pool3d: the padded input {x.shape[1:]} (padding {(pd, *p)}) is smaller than the kernel "
                         f"{(kd, *k)}; use a smaller kernel or more padding")
    sums = None if divisor_override is None else 1
    plane = avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, sums)
    out = avg_pool2d(_depth_as_height(plane), (kd, 1), (sd, 1), (pd, 0), ceil_mode, count_include_pad, sums)
    out = out if divisor_override is None else out * (1.0 / divisor_override)
    return out.reshape(lead + out.shape[2:3] + plane.shape[2:])


def _max_unpool(op: str, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any, nd: int) -> Tensor:
    x, unbatched = _with_batch(op, input, nd)
    index = xp.asarray(indices._data if isinstance(indices, Tensor) else indices)
    if index.dtype.kind not in "iu" or index.shape != (x.shape[1:] if unbatched else x.shape):
        raise ValueError(f"{op}: indices must be integers of the input's shape {input.shape}, got "
                         f"{index.dtype} of shape {index.shape}")
    kernel = ints(op, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None else ints(op, "stride", stride, nd, 1)
    pad = ints(op, "padding", padding, nd, 0)
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * pad[i] + kernel[i] for i in range(nd))
    if output_size is not None:  # PyTorch's range: within a stride of the default (the indices' plane)
        given = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,)
        if len(given) not in (nd, nd + 2):
            raise ValueError(f"{op}: output_size must hold {nd} sizes (or {nd + 2}, a batched input's shape), got "
                             f"{output_size!r}")
        wanted = ints(op, "output_size", given[-nd:], nd, 0)
        for i, (n, default) in enumerate(zip(wanted, size)):
            if not default - stride[i] < n < default + stride[i]:
                raise ValueError(f"{op}: output_size {output_size!r} is invalid: its axis {i} must be between "
                                 f"{default - stride[i] + 1} and {default + stride[i] - 1} (the input's size "
                                 f"{x.shape[2 + i]} unpooled by stride {stride[i]}, as PyTorch)")
        size = wanted
    if index.size and (index.min() < 0 or index.max() >= math.prod(size)):
        raise IndexError(f"{op}: index {int(index.min() if index.min() < 0 else index.max())} is out of "
                         f"range for an output of size {' x '.join(map(str, size))}")
    out = MaxUnpool.apply(x, index=array_call(_int64_like, index, x.shape), size=size)  # again on each replay
    return _batched(out, unbatched)


def _int64_like(index: Any, shape: tuple) -> Any:
    return index.reshape(shape).astype(xp.int64)


@op("max_unpool1d")
def max_unpool1d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool1d(..., return_indices=True)``, PyTorch's ``F.max_unpool1d``: each value at its
    index of a zero sequence of ``output_size`` (by default ``(L - 1) * stride - 2 * padding + kernel_size``)."""
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding, output_size, 1)


@op("max_unpool2d")
def max_unpool2d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool2d(..., return_indices=True)``, PyTorch's ``F.max_unpool2d``: each value at its
    flat index ``row * W + col`` of a zero plane of ``output_size`` (its last two entries), by default
    ``(H - 1) * stride - 2 * padding + kernel_size``."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding, output_size, 2)


@op("max_unpool3d")
def max_unpool3d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool3d(..., return_indices=True)``, PyTorch's ``F.max_unpool3d``: each value at its
    flat index ``(d * H + h) * W + w`` of a zero volume of ``output_size`` (its last three entries)."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding, output_size, 3)


_SPATIAL = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)", 3: "(N, C, D, H, W) or (C, D, H, W)"}


def _with_batch(op: str, input: Any, nd: int) -> tuple[Tensor, bool]:
    """(a floating-point input with ``nd`` spatial axes, given a batch axis; whether one was added)."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected input of shape {_SPATIAL[nd]}, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} (convert with .astype)")
    return (x.reshape((1,) + x.shape), True) if x.ndim == nd + 1 else (x, False)


def _adaptive_args(op: str, input: Any, output_size: Any, nd: int) -> tuple[Tensor, bool, tuple]:
    """(input with a batch axis, whether one was added, the output size of each of the ``nd`` spatial axes):
    PyTorch's checks (floats only, non-empty channel and spatial axes except for the average to size 1, a mean;
    ``None`` in ``output_size`` keeps that axis)."""
    x, unbatched = _with_batch(op, input, nd)
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size must be an int or {nd} of them, got {output_size!r}")
    if not all(s is None or (hasattr(s, "__index__") and not isinstance(s, bool)) for s in sizes):
        want = "an int" if nd == 1 else f"an int or {nd} ints (None keeps an axis)"
        raise TypeError(f"{op}: output_size must be {want}, got {output_size!r}")
    sizes = tuple(n if s is None else single(op, "output_size", s, 0) for s, n in zip(sizes, x.shape[-nd:]))
    if 0 in x.shape[1:] and not (op.startswith("adaptive_avg") and set(sizes) == {1}):
        raise ValueError(f"{op}: expected non-zero sizes for the channel and spatial axes (as PyTorch), got shape "
                         f"{x.shape}")
    return x, unbatched, sizes


def _adaptive_avg(op: str, input: Any, output_size: Any, nd: int) -> Tensor:
    """The mean over PyTorch's adaptive bins on each of the last ``nd`` axes (bins may overlap and differ in
    size): per axis, one gather of each bin's elements, a shorter bin's missing ones pointing at a zero padded
    on, then a sum and a division by the bin's size. (A matrix of weights would spread an inf or nan to every
    bin: 0 * inf is nan.)"""
    x, unbatched, sizes = _adaptive_args(op, input, output_size, nd)
    if all(s == 1 for s in sizes):
        return _batched(x.mean(axis=tuple(range(2, 2 + nd)), keepdims=True), unbatched)
    out = x
    for axis, s in zip(range(x.ndim - 1, 1, -1), reversed(sizes)):
        n = out.shape[axis]
        if s == n:
            continue  # every bin one element
        lo, hi = _bin_bounds(s, n)
        t = xp.arange(int((hi - lo).max(initial=1)))
        index = xp.where(t < (hi - lo)[:, None], lo[:, None] + t, n)  # n: the padded zero
        widths = [(0, 0)] * out.ndim
        widths[axis] = (0, 1)
        picked = pad(out, widths)[(slice(None),) * axis + (index,)].sum(axis=axis + 1)
        out = picked / (hi - lo).astype(x.dtype).reshape((s,) + (1,) * (x.ndim - 1 - axis))
    return _batched(out, unbatched)


def _bin_bounds(out_size: int, size: int) -> tuple:
    """PyTorch's adaptive bins: bin i runs from ``floor(i size / out_size)`` to ``ceil((i + 1) size / out_size)``."""
    i = xp.arange(out_size)
    return (i * size) // out_size, -(-((i + 1) * size) // out_size)


def _bin_winners(x: Any, axis: int, out_size: int) -> Any:
    """For each adaptive bin along ``axis``, the index of its maximum: the first, or the last nan (PyTorch's rule:
    a strictly larger value or a nan takes over)."""
    lo, hi = _bin_bounds(out_size, x.shape[axis])
    x = xp.moveaxis(x, axis, -1)
    best, winner = x[..., lo], xp.broadcast_to(lo, x.shape[:-1] + (out_size,))
    for t in range(1, int((hi - lo).max(initial=1))):
        at = xp.minimum(lo + t, hi - 1)  # a shorter bin repeats its last element: it cannot win twice
        v = x[..., at]
        wins = (v > best) | xp.isnan(v)
        best, winner = xp.where(wins, v, best), xp.where(wins, at, winner)
    return xp.moveaxis(winner, -1, axis)


class AdaptiveMaxPool(Function):
    """The maximum over PyTorch's adaptive bins of the axes after (N, C); the gradient goes to each bin's first
    maximum in row-major order (the last nan), as PyTorch's."""
    formula = "d adaptive_max_pool(x)/dx: g to each bin's first maximum (overlapping bins add)"
    op_name = "adaptive_max_pool"

    @staticmethod
    def forward(ctx, x, *, output_size):
        out, index = _adaptive_maxima(x, output_size)
        ctx.save_for_backward(index, x.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        index, shape = ctx.saved_tensors
        return anp.add_at(g, shape=shape, index=index)  # whose derivative reads g at index: any order


def _adaptive_maxima(x: Any, sizes: tuple) -> tuple:
    """(each bin's maximum, the fancy index of it in x (N, C, *spatial)). Bins are boxes, so the maximum is
    separable: each bin's winner along the last axis, then along the axis before among those, ..., which keeps
    the first maximum in row-major order."""
    chosen: list = []  # the positions along the axes done so far, of the shape of `out`
    out = x
    for axis in range(x.ndim - 1, 1, -1):
        winner = _bin_winners(out, axis, sizes[axis - 2])
        out = xp.take_along_axis(out, winner, axis)
        chosen = [winner] + [xp.take_along_axis(c, winner, axis) for c in chosen]
    n, c = x.shape[:2]
    return out, (xp.arange(n).reshape((n,) + (1,) * (x.ndim - 1)), xp.arange(c).reshape((c,) + (1,) * (x.ndim - 2)),
                 *chosen)


def _adaptive_max(op: str, input: Any, output_size: Any, nd: int, return_indices: bool) -> Any:
    x, unbatched, sizes = _adaptive_args(op, input, output_size, nd)
    out = _batched(AdaptiveMaxPool.apply(x, output_size=sizes), unbatched)
    if not return_indices:
        return out
    return out, Tensor._wrap(array_call(_adaptive_indices, x._data, sizes, unbatched))  # again on each replay


def _adaptive_indices(a: Any, sizes: tuple, unbatched: bool) -> Any:
    """PyTorch's indices of the adaptive maxima: flat in each input plane (or volume, or sequence)."""
    return _batched(xp.ravel_multi_index(_adaptive_maxima(a, sizes)[1][2:], a.shape[2:]).astype(xp.int64), unbatched)


@op("adaptive_avg_pool1d")
def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:
    """The mean over PyTorch's adaptive bins of (N, C, L) sequences (bin i: ``floor(i L / o)`` to
    ``ceil((i + 1) L / o)``), to length ``output_size``."""
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


@op("adaptive_avg_pool2d")
def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Average over PyTorch's adaptive bins (rows ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh)``), to ``output_size``.

    ``output_size`` is an int or an (oh, ow) pair (``None`` keeps that side). Composed as
    ``A_h @ x @ A_w.T`` with constant averaging matrices: bins may overlap and differ in size.
    """
    return _adaptive_avg("adaptive_avg_pool2d", input, output_size, 2)


@op("adaptive_avg_pool3d")
def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:
    """``adaptive_avg_pool2d`` for (N, C, D, H, W) volumes: an int or (od, oh, ow) (``None`` keeps that side)."""
    return _adaptive_avg("adaptive_avg_pool3d", input, output_size, 3)


@op("adaptive_max_pool1d")
def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """The maximum over PyTorch's adaptive bins of (N, C, L) sequences; ``return_indices``: also each maximum's
    index in its sequence. At ties the gradient goes to the first maximum (a nan: the last), as PyTorch's."""
    return _adaptive_max("adaptive_max_pool1d", input, output_size, 1, return_indices)


@op("adaptive_max_pool2d")
def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """The maximum over PyTorch's adaptive bins of (N, C, H, W) images, to ``output_size`` (an int or (oh, ow),
    ``None`` keeps that side); ``return_indices``: also each maximum's flat index ``row * W + col``."""
    return _adaptive_max("adaptive_max_pool2d", input, output_size, 2, return_indices)


@op("adaptive_max_pool3d")
def adaptive_max_pool3d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """``adaptive_max_pool2d`` for (N, C, D, H, W) volumes; indices are flat ``(d * H + h) * W + w``."""
    return _adaptive_max("adaptive_max_pool3d", input, output_size, 3, return_indices)


_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge", "circular": "wrap",
          "wrap": "wrap", "symmetric": "symmetric"}  # PyTorch's names and numpy's, to numpy's


def _source(n: int, before: int, after: int, mode: str) -> Any:
    """For each position of an axis of size n padded by (before, after), the input position it copies."""
    pos = xp.arange(-before, n + after)
    if mode == "edge":
        return xp.clip(pos, 0, n - 1)
    if mode == "wrap":
        return pos % n
    if mode == "symmetric":  # the edge repeated: ... 1 0 | 0 1 2 | 2 1 ...
        pos = pos % (2 * n)
        return xp.where(pos < n, pos, 2 * n - 1 - pos)
    if n == 1:  # reflect: the edge not repeated: ... 2 1 | 0 1 2 | 1 0 ...
        return xp.zeros_like(pos)
    pos = pos % (2 * n - 2)
    return xp.where(pos < n, pos, 2 * n - 2 - pos)


@op("pad")
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Tensor:
    """Pad with numpy's ``pad_width`` convention: an int, a (before, after) pair, or one pair per axis.

    ``mode``: ``"constant"`` (``constant_values``), ``"reflect"`` (the edge not repeated), ``"replicate"`` /
    ``"edge"``, ``"circular"`` / ``"wrap"``, ``"symmetric"`` (the edge repeated); numpy's values, also where a
    pad is wider than the axis. Non-constant modes gather each padded axis with an index array (so the
    gradient adds the copies back). PyTorch's ``F.pad`` order is ``nn.functional.pad``.

    >>> ag.pad(ag.ones(2, 2), ((1, 0), (0, 2))).shape
    (3, 4)
    """
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {sorted(_MODES)}, got mode={mode!r}")
    x = x if isinstance(x, Tensor) else Tensor(x)
    try:
        widths = xp.broadcast_to(xp.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape} (give an int, "
                         f"a (before, after) pair, or {x.ndim} pairs)") from None
    if widths.dtype.kind not in "iu" or (widths.size and widths.min() < 0):
        raise ValueError(f"pad: pad_width must hold non-negative ints, got {pad_width!r}")
    widths = tuple((int(b), int(a)) for b, a in widths)
    if _MODES[mode] == "constant":
        if not math.isfinite(constant_values) and x.dtype.kind != "f":
            raise ValueError(f"pad: cannot pad a {x.dtype} tensor with {constant_values!r}")
        if x.dtype.kind in "fiu" and math.isfinite(constant_values):
            info = xp.finfo(x.dtype) if x.dtype.kind == "f" else xp.iinfo(x.dtype)
            lo, hi = (float(info.min), float(info.max)) if x.dtype.kind == "f" else (int(info.min), int(info.max))
            if not lo <= constant_values <= hi:  # exact (Python numbers); numpy would pad inf or wrap
                raise ValueError(f"pad: constant_values={constant_values!r} overflows {x.dtype} (range {lo} to "
                                 f"{hi}), as PyTorch refuses; cast x to a wider dtype first")
        return Pad.apply(x, pad_width=widths, value=constant_values)
    for axis, (before, after) in enumerate(widths):
        if (before or after) and x.shape[axis] == 0:
            raise ValueError(f"pad: mode={mode!r} cannot pad axis {axis} of size 0 (shape {x.shape}): there is "
                             "nothing to copy; use mode='constant'")
    for axis, (before, after) in enumerate(widths):
        if before or after:
            x = x[(slice(None),) * axis + (_source(x.shape[axis], before, after, _MODES[mode]),)]
    return x
