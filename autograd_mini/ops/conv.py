"""Convolution of NCHW images: the primitives, their array kernels and ``conv2d``; shared image helpers.

``conv2d`` is one primitive (im2col: a strided window view copied once, then one batched GEMM).
Its two derivatives are primitives too, each the other's derivative, as in PyTorch:
``conv_transpose2d`` (the input gradient: a GEMM, then col2im, a loop over the kH*kW kernel
offsets, never over positions) and ``conv2d_weight`` (the weight gradient: per-sample GEMMs
summed). Their backwards are again convolutions, so gradients of any order are exact.
Pooling and padding (``pool.py``) reuse the window helpers and argument checks here.
"""

from __future__ import annotations

from typing import Any

from numpy.lib.stride_tricks import sliding_window_view

from .._backend import xp
from ..function import Function, op
from ..tensor import Tensor

__all__ = ["conv2d", "Conv2d", "conv_output", "crop", "fits", "image_input", "offsets", "out_hw", "pad_hw", "pair",
           "zeros_padded"]


# ---- array kernels ----------------------------------------------------------------------
def pad_hw(x: Any, padding: tuple, value: float = 0.0) -> Any:
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x
    return xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _windows(xpad: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """A view (N, C, Ho, Wo, kH, kW) of every window of the padded input: no copy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    v = sliding_window_view(xpad, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def _cols(x: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Any:
    """im2col: (N, groups, C/groups * kH * kW, Ho * Wo), one contiguous copy."""
    win = _windows(pad_hw(x, padding), kernel, stride, dilation)
    n, c, ho, wo = win.shape[:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, groups, c // groups * kernel[0] * kernel[1], ho * wo)


def out_hw(x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> tuple:
    return tuple((x_shape[2 + i] + sum(padding[i]) - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


def conv_output(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int, cols: Any = None) -> Any:
    o, kernel = w.shape[0], w.shape[2:]
    if cols is None:
        cols = _cols(x, kernel, stride, padding, dilation, groups)
    ho, wo = out_hw(x.shape, kernel, stride, padding, dilation)
    return (w.reshape(groups, o // groups, -1) @ cols).reshape(x.shape[0], o, ho, wo)


def offsets(kernel: tuple, stride: tuple, dilation: tuple, out_hw: tuple):
    """``(t, index)`` for each kernel offset ``t`` (row-major): the strided slice of the padded input that
    offset reads in every window at once. Loops over offsets, never over positions."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for t in range(kh * kw):
        i, j = divmod(t, kw)
        yield t, (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                  slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def crop(out: Any, x_shape: tuple, padding: tuple) -> Any:
    (pt, pb), (pl, pr) = padding
    return out[:, :, pt:pt + x_shape[2], pl:pl + x_shape[3]] if (pt or pb or pl or pr) else out


def zeros_padded(x_shape: tuple, padding: tuple, dtype: Any) -> Any:
    n, c, h, w = x_shape
    return xp.zeros((n, c, h + sum(padding[0]), w + sum(padding[1])), dtype=dtype)


def _col2im(gcols: Any, x_shape: tuple, stride: tuple, padding: tuple, dilation: tuple) -> Any:
    """The adjoint of the window view: add each window's (N, C, kH, kW, Ho, Wo) values back to its pixels."""
    n, c, kh, kw, ho, wo = gcols.shape
    out = zeros_padded(x_shape, padding, gcols.dtype)
    per_offset = gcols.reshape(n, c, kh * kw, ho, wo)
    for t, index in offsets((kh, kw), stride, dilation, (ho, wo)):
        out[index] += per_offset[:, :, t]
    return crop(out, x_shape, padding)


def _input_grad(g: Any, w: Any, x_shape: tuple, stride: tuple, padding: tuple, dilation: tuple,
                groups: int) -> Any:
    """conv_transpose2d: the gradient of conv2d with respect to its input."""
    n, o, ho, wo = g.shape
    gcols = xp.swapaxes(w.reshape(groups, o // groups, -1), 1, 2) @ g.reshape(n, groups, o // groups, ho * wo)
    return _col2im(gcols.reshape((n, x_shape[1]) + w.shape[2:] + (ho, wo)), x_shape, stride, padding, dilation)


def _weight_grad(x: Any, g: Any, w_shape: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int,
                 cols: Any = None) -> Any:
    """conv2d_weight: the gradient of conv2d with respect to its weight."""
    if cols is None:
        cols = _cols(x, w_shape[2:], stride, padding, dilation, groups)
    n, _, _, length = cols.shape
    # A batch of per-sample GEMMs against the transposed view (no copy of cols), then a sum over the batch:
    # measured 2x faster than one large GEMM after transposing both operands into (groups, ., N * L).
    per_sample = g.reshape(n, groups, w_shape[0] // groups, length) @ xp.swapaxes(cols, -1, -2)
    return per_sample.sum(axis=0).reshape(w_shape)


def _geometry(params: Any) -> dict:
    return {k: params[k] for k in ("stride", "padding", "dilation", "groups")}


# ---- convolution primitives -----------------------------------------------------------------
class Conv2d(Function):
    """y = conv2d(x, w) + b, NCHW, w of shape (out, in / groups, kH, kW)."""
    formula = ("d(conv2d(x, w) + b)/dx: conv_transpose2d(g, w); "
               "d(conv2d(x, w) + b)/dw: conv2d_weight(x, g), x correlated with g; "
               "d(conv2d(x, w) + b)/db: g summed over N, H, W")
    op_name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        cols = _cols(x, w.shape[2:], stride, padding, dilation, groups)
        out = conv_output(x, w, stride, padding, dilation, groups, cols)
        if b is not None:
            out += b.reshape(1, -1, 1, 1)
        if ctx.needs_input_grad[1:2] == (True,):  # () when the call is not recorded
            ctx.save_for_backward(cols)  # a constant that serves the weight gradient
        return out

    @staticmethod
    def backward(ctx, g, x, w):
        cols = ctx.saved_tensors[0] if ctx.saved_tensors else None
        geo = _geometry(ctx.params)
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = ConvTranspose2d.apply(g, w, x_shape=x.shape, **geo) if need_x else None
        gw = ConvWeight2d.apply(x, g, w_shape=w.shape, cols=cols, **geo) if need_w else None
        return gx, gw, (g.sum(axis=(0, 2, 3)) if need_b else None)


class ConvTranspose2d(Function):
    """The input gradient of conv2d, linear in (g, w): its derivatives are conv2d and conv2d_weight."""
    formula = ("d conv_transpose2d(g, w)/dg: conv2d(g', w) of the incoming gradient g'; "
               "d conv_transpose2d(g, w)/dw: conv2d_weight(g', g)")
    op_name = "conv_transpose2d"

    @staticmethod
    def forward(ctx, g, w, *, x_shape, stride, padding, dilation, groups):
        return _input_grad(g, w, x_shape, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, h, g, w):  # h has the shape of conv2d's input
        geo = _geometry(ctx.params)
        need_g, need_w = ctx.needs_input_grad
        return (Conv2d.apply(h, w, None, **geo) if need_g else None,
                ConvWeight2d.apply(h, g, w_shape=w.shape, **geo) if need_w else None)


class ConvWeight2d(Function):
    """The weight gradient of conv2d, linear in (x, g): its derivatives are conv_transpose2d and conv2d.

    ``cols``, when given, is x's im2col that conv2d's forward already made (a value, not an input)."""
    formula = ("d conv2d_weight(x, g)/dx: conv_transpose2d(g, g') of the incoming gradient g'; "
               "d conv2d_weight(x, g)/dg: conv2d(x, g')")
    op_name = "conv2d_weight"

    @staticmethod
    def forward(ctx, x, g, *, w_shape, stride, padding, dilation, groups, cols=None):
        return _weight_grad(x, g, w_shape, stride, padding, dilation, groups, cols)

    @staticmethod
    def backward(ctx, k, x, g):  # k has the shape of conv2d's weight
        geo = _geometry(ctx.params)
        need_x, need_g = ctx.needs_input_grad
        return (ConvTranspose2d.apply(g, k, x_shape=x.shape, **geo) if need_x else None,
                Conv2d.apply(x, k, None, **geo) if need_g else None)


# ---- argument checking ---------------------------------------------------------------------------------
def pair(op: str, name: str, v: Any, lo: int) -> tuple:
    vals = (v, v) if not isinstance(v, (tuple, list)) else tuple(v)
    if len(vals) != 2 or not all(hasattr(i, "__index__") and not isinstance(i, bool) for i in vals):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    vals = tuple(int(i) for i in vals)
    if min(vals) < lo:
        raise ValueError(f"{op}: {name} must be >= {lo}, got {v!r}")
    return vals


def image_input(op: str, x: Any) -> tuple[Tensor, bool]:
    """(a 4-d Tensor, whether a batch axis was added to a 3-d (C, H, W) input)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input of shape (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype} (convert with .astype)")
    return (x.reshape((1,) + x.shape), True) if x.ndim == 3 else (x, False)


def fits(op: str, x: Tensor, kernel: tuple, padding: tuple, dilation: tuple) -> None:
    for i, axis in enumerate(("height", "width")):
        size = x.shape[2 + i] + sum(padding[i])
        span = dilation[i] * (kernel[i] - 1) + 1
        if size < span:
            raise ValueError(f"{op}: the padded input {axis} {size} (input shape {x.shape}, padding {padding[i]}) "
                             f"is smaller than the kernel span {span} (kernel {kernel[i]}, dilation {dilation[i]}); "
                             "use a smaller kernel or more padding")


def _conv_padding(padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)  # the extra pixel of an even span goes right/bottom
    ph, pw = pair("conv2d", "padding", padding, 0)
    return (ph, ph), (pw, pw)


# ---- public functions -----------------------------------------------------------------------------------
@op("conv2d")
def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (out, C / groups, kH, kW), plus ``bias`` (out,).

    PyTorch's ``conv2d``: ``stride``, ``padding`` (int, pair, ``"valid"`` or ``"same"``) and
    ``dilation`` take an int or an (h, w) pair; a (C, H, W) input gives a (out, Ho, Wo) output.

    >>> ag.conv2d(ag.ones(1, 1, 4, 4), ag.ones(2, 1, 3, 3)).shape
    (1, 2, 2, 2)
    """
    x, unbatched = image_input("conv2d", x)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (out_channels, in_channels / groups, kH, kW), "
                         f"got shape {w.shape}")
    if not hasattr(groups, "__index__") or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    c, o = x.shape[1], w.shape[0]
    if c != w.shape[1] * groups:
        raise ValueError(f"conv2d: input has {c} channels (shape {x.shape}) but weight of shape {w.shape} with "
                         f"groups={groups} expects {w.shape[1] * groups} (weight.shape[1] * groups)")
    if o % groups:
        raise ValueError(f"conv2d: out_channels {o} (weight shape {w.shape}) is not divisible by groups={groups}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (o,):
            raise ValueError(f"conv2d: bias must have shape ({o},) for weight of shape {w.shape}, got {bias.shape}")
    kernel = w.shape[2:]
    stride = pair("conv2d", "stride", stride, 1)
    dilation = pair("conv2d", "dilation", dilation, 1)
    pads = _conv_padding(padding, kernel, stride, dilation)
    fits("conv2d", x, kernel, pads, dilation)
    out = Conv2d.apply(x, w, bias, stride=stride, padding=pads, dilation=dilation, groups=int(groups))
    return out.reshape(out.shape[1:]) if unbatched else out
