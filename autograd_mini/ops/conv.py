"""Convolution of NCHW images: the primitives, their array kernels and ``conv2d``; shared image helpers.

``conv2d`` is one primitive (im2col: a strided window view copied once, then GEMMs).
Its two derivatives are primitives too, each the other's derivative, as in PyTorch:
``conv_transpose2d`` (the input gradient: a GEMM, then col2im, a loop over the kH*kW kernel
offsets, never over positions) and ``conv2d_weight`` (the weight gradient: GEMMs summed).
Their backwards are again convolutions, so gradients of any order are exact. Stride 1 (most
convolutions) uses the "wide" im2col layout below: long copies, one GEMM over the batch.
Pooling and padding (``pool.py``) reuse the window helpers and argument checks here.
"""

from __future__ import annotations

from typing import Any

from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .._backend import xp
from ..function import Function, op
from ..tensor import Tensor

__all__ = ["conv2d", "conv_transpose2d", "conv1d", "conv_transpose1d", "conv3d", "conv_transpose3d", "Conv2d",
           "conv_output", "crop",
           "fits", "conv_padding", "image_input", "offsets", "out_hw", "pad_hw", "padding_pairs", "pair", "single",
           "zeros_padded"]


# ---- array kernels ----------------------------------------------------------------------
def pad_hw(x: Any, padding: tuple, value: float = 0.0) -> Any:
    """Pad the last two axes by ((top, bottom), (left, right)); a negative amount crops that side."""
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x
    if min(pt, pb, pl, pr) < 0:
        h, w = x.shape[2:]
        x = x[:, :, max(-pt, 0):h - max(-pb, 0), max(-pl, 0):w - max(-pr, 0)]
    return xp.pad(x, ((0, 0), (0, 0), (max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0))), constant_values=value)


def _windows(xpad: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """A view (N, C, Ho, Wo, kH, kW) of every window of the padded input: no copy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    v = sliding_window_view(xpad, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def _cols(x: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Any:
    """im2col, one contiguous copy: the wide layout for stride 1, else (N, groups, C/groups * kH * kW, Ho * Wo)."""
    return (_wide_cols if stride == (1, 1) else _compact_cols)(pad_hw(x, padding), kernel, stride, dilation, groups)


def _compact_cols(xpad: Any, kernel: tuple, stride: tuple, dilation: tuple, groups: int) -> Any:
    """(N, groups, C/groups * kH * kW, Ho * Wo): the window view copied once."""
    win = _windows(xpad, kernel, stride, dilation)
    n, c, ho, wo = win.shape[:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, groups, c // groups * kernel[0] * kernel[1], ho * wo)


# Stride 1, the wide layout. The window at (r, c) of a padded (Hp, Wp) image starts at its flat position
# r * Wp + c, so for each kernel offset one run of L = (Ho - 1) * Wp + Wo flat positions covers every
# window, plus Wp - Wo windows wrapping around each row end, computed and then dropped. Copying runs of L
# values instead of rows of Wo made im2col 2-4x faster on the LeNet benchmark, and with the batch's runs side
# by side (column n * L + q) each gradient is one GEMM over the whole batch.
def _run(ho: int, wo: int, wp: int) -> int:
    return (ho - 1) * wp + wo


def _wide_cols(xpad: Any, kernel: tuple, stride: tuple, dilation: tuple, groups: int) -> Any:
    """(groups, C/groups * kH * kW, N * L): row (c, i, j), column n * L + q holds image n's padded pixel at flat
    position q + i * dH * Wp + j * dW."""
    xpad = xp.ascontiguousarray(xpad)
    n, c, hp, wp = xpad.shape
    (kh, kw), (dh, dw) = kernel, dilation
    length = _run(hp - dh * (kh - 1), wp - dw * (kw - 1), wp)
    s = xpad.strides
    runs = as_strided(xpad, (c, kh, kw, n, length), (s[1], dh * s[2], dw * s[3], s[0], s[3]), writeable=False)
    return xp.ascontiguousarray(runs).reshape(groups, c // groups * kh * kw, n * length)


def _narrow(y: Any, ho: int, wo: int, wp: int) -> Any:
    """The (N, O, Ho, Wo) windows of a wide (N, O, L) array whose last axis is contiguous: a view."""
    s = y.strides[2]
    return as_strided(y, y.shape[:2] + (ho, wo), y.strides[:2] + (wp * s, s))


def _widen(g: Any, wp: int) -> Any:
    """(O, N * L): g (N, O, Ho, Wo) in the wide layout, 0 at the wrapping windows."""
    n, o, ho, wo = g.shape
    out = xp.zeros((o, n, _run(ho, wo, wp)), g.dtype)
    _narrow(out.transpose(1, 0, 2), ho, wo, wp)[...] = g
    return out.reshape(o, -1)


def _finite(a: Any) -> bool:
    """Whether a wrapping window's 0 times ``a`` is 0 (not nan), as the wide layout needs."""
    return a.dtype.kind != "f" or bool(xp.isfinite(a).all())


def out_hw(x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> tuple:
    return tuple((x_shape[2 + i] + sum(padding[i]) - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


def conv_output(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int, cols: Any = None,
                bias: Any = None) -> Any:
    o, kernel = w.shape[0], w.shape[2:]
    if cols is None:
        cols = _cols(x, kernel, stride, padding, dilation, groups)
    ho, wo = out_hw(x.shape, kernel, stride, padding, dilation)
    if stride == (1, 1):  # per-sample GEMMs on strided views of cols: measured faster than one GEMM for LeNet
        n, length = x.shape[0], _run(ho, wo, x.shape[3] + sum(padding[1]))
        per_sample = cols.reshape(groups, cols.shape[1], n, length).transpose(2, 0, 1, 3)
        y = (w.reshape(groups, o // groups, -1) @ per_sample).reshape(n, o, length)
        y = _narrow(y, ho, wo, x.shape[3] + sum(padding[1]))
        if bias is None:
            return xp.ascontiguousarray(y)
        return xp.add(y, bias.reshape(1, -1, 1, 1), out=xp.empty(y.shape, y.dtype))  # the old out += bias, fused
    out = (w.reshape(groups, o // groups, -1) @ cols).reshape(x.shape[0], o, ho, wo)
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def offsets(kernel: tuple, stride: tuple, dilation: tuple, out_hw: tuple):
    """``(t, index)`` for each kernel offset ``t`` (row-major): the strided slice of the padded input that
    offset reads in every window at once. Loops over offsets, never over positions."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for t in range(kh * kw):
        i, j = divmod(t, kw)
        yield t, (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                  slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def crop(out: Any, padding: tuple) -> Any:
    """The adjoint of ``pad_hw``: crop what it padded, zero-fill what it cropped."""
    return pad_hw(out, tuple((-a, -b) for a, b in padding))


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
    return crop(out, padding)


def _input_grad(g: Any, w: Any, x_shape: tuple, stride: tuple, padding: tuple, dilation: tuple,
                groups: int) -> Any:
    """conv_transpose2d: the gradient of conv2d with respect to its input."""
    n, o, ho, wo = g.shape
    if stride == (1, 1) and _finite(w):
        c, (kh, kw), (dh, dw) = x_shape[1], w.shape[2:], dilation
        hp, wp = (x_shape[2 + i] + sum(padding[i]) for i in range(2))
        gcols = xp.swapaxes(w.reshape(groups, o // groups, -1), 1, 2) @ _widen(g, wp).reshape(groups, o // groups, -1)
        length = _run(ho, wo, wp)
        gcols = gcols.reshape(c, kh * kw, n, length)
        out = xp.zeros((c, n, hp * wp), g.dtype)
        for t in range(kh * kw):  # col2im: one add of the batch's runs per kernel offset
            start = t // kw * dh * wp + t % kw * dw
            out[:, :, start:start + length] += gcols[:, t]
        return xp.ascontiguousarray(crop(out.reshape(c, n, hp, wp).transpose(1, 0, 2, 3), padding))
    gcols = xp.swapaxes(w.reshape(groups, o // groups, -1), 1, 2) @ g.reshape(n, groups, o // groups, ho * wo)
    return _col2im(gcols.reshape((n, x_shape[1]) + w.shape[2:] + (ho, wo)), x_shape, stride, padding, dilation)


def _weight_grad(x: Any, g: Any, w_shape: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int,
                 cols: Any = None) -> Any:
    """conv2d_weight: the gradient of conv2d with respect to its weight."""
    if stride == (1, 1) and _finite(x):  # one GEMM, cols @ g.T (measured 10% faster than g @ cols.T)
        cols = _cols(x, w_shape[2:], stride, padding, dilation, groups) if cols is None else cols
        gw = _widen(g, x.shape[3] + sum(padding[1])).reshape(groups, w_shape[0] // groups, -1)
        return xp.swapaxes(cols @ xp.swapaxes(gw, -1, -2), -1, -2).reshape(w_shape)
    if cols is None or stride == (1, 1):  # none given, or the wide ones
        cols = _compact_cols(pad_hw(x, padding), w_shape[2:], stride, dilation, groups)
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
        out = conv_output(x, w, stride, padding, dilation, groups, cols, b)
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
def ints(op: str, name: str, v: Any, nd: int, lo: int | None) -> tuple:
    """An int (for every axis) or ``nd`` ints, each at least ``lo`` (None: any); errors show ``v`` as given."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd
    if len(vals) != nd or not all(hasattr(i, "__index__") and not isinstance(i, bool) for i in vals):
        how_many = {1: "a 1-tuple", 2: "a pair of ints"}.get(nd, f"{nd} ints")
        raise TypeError(f"{op}: {name} must be an int or {how_many}, got {v!r}")
    vals = tuple(int(i) for i in vals)
    if lo is not None and min(vals) < lo:
        raise ValueError(f"{op}: {name} must be >= {lo}, got {v!r}")
    return vals


def pair(op: str, name: str, v: Any, lo: int) -> tuple:
    return ints(op, name, v, 2, lo)


def image_input(op: str, x: Any, integers: bool = False) -> tuple[Tensor, bool]:
    """(a 4-d Tensor, whether a batch axis was added to a 3-d (C, H, W) input); ``integers``: int inputs allowed."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input of shape (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.dtype.kind not in ("fiu" if integers else "f"):
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


def padding_pairs(op: str, padding: Any, lo: int | None = 0) -> tuple:
    """((top, bottom), (left, right)) from an int, an (h, w) pair, or two (before, after) pairs."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(p, (tuple, list)) for p in padding):
        pairs = tuple(pair(op, "padding", p, -1 << 62) for p in padding)
    else:
        ph, pw = pair(op, "padding", padding, -1 << 62)
        pairs = ((ph, ph), (pw, pw))
    if lo is not None and min(min(p) for p in pairs) < lo:
        raise ValueError(f"{op}: padding must be >= {lo}, got {padding!r}")
    return pairs


def conv_padding(op: str, padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a pair, two (before, after) pairs, 'valid' or 'same', "
                             f"got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)  # the extra pixel of an even span goes right/bottom
    return padding_pairs(op, padding, lo=None)  # a negative amount crops that side


def _crops_fit(op: str, x: Tensor, pads: tuple) -> None:
    for i, axis in enumerate(("height", "width")):
        kept = x.shape[2 + i] + min(pads[i][0], 0) + min(pads[i][1], 0)
        if kept < 0:
            raise ValueError(f"{op}: negative padding {pads[i]} crops more than the input {axis} "
                             f"{x.shape[2 + i]} (input shape {x.shape})")


def _channels(op: str, x: Tensor, weight: Any, bias: Any, groups: Any, transposed: bool = False,
              nd: int = 2) -> tuple:
    """(weight, bias) as Tensors, checked against x's channels and groups (``nd`` spatial axes)."""
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    kernel = ", ".join(("kD", "kH", "kW")[3 - nd:])
    layout = (f"(in_channels, out_channels / groups, {kernel})" if transposed else
              f"(out_channels, in_channels / groups, {kernel})")
    if w.ndim != 2 + nd:
        raise ValueError(f"{op}: weight must have shape {layout}, got shape {w.shape}")
    if not hasattr(groups, "__index__") or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    expected, o = (w.shape[0], w.shape[1] * groups) if transposed else (w.shape[1] * groups, w.shape[0])
    if c != expected:
        rule = "weight.shape[0]" if transposed else "weight.shape[1] * groups"
        raise ValueError(f"{op}: input has {c} channels (shape {x.shape}) but weight of shape {w.shape} with "
                         f"groups={groups} expects {expected} ({rule})")
    if w.shape[0] % groups:
        name = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{op}: {name} {w.shape[0]} (weight shape {w.shape}) is not divisible by groups={groups}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (o,):
            raise ValueError(f"{op}: bias must have shape ({o},) for weight of shape {w.shape}, got {bias.shape}")
    return w, bias


# ---- public functions -----------------------------------------------------------------------------------
@op("conv2d")
def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (out, C / groups, kH, kW), plus ``bias`` (out,).

    PyTorch's ``conv2d``: ``stride`` and ``dilation`` take an int or an (h, w) pair; ``padding`` too, or
    ``"valid"``, ``"same"``, or ``((top, bottom), (left, right))``; a negative amount crops that side (PyTorch
    refuses it). A (C, H, W) input gives a (out, Ho, Wo) output.

    >>> ag.conv2d(ag.ones(1, 1, 4, 4), ag.ones(2, 1, 3, 3)).shape
    (1, 2, 2, 2)
    """
    x, unbatched = image_input("conv2d", x)
    w, bias = _channels("conv2d", x, weight, bias, groups)
    kernel = w.shape[2:]
    stride = pair("conv2d", "stride", stride, 1)
    dilation = pair("conv2d", "dilation", dilation, 1)
    pads = conv_padding("conv2d", padding, kernel, stride, dilation)
    _crops_fit("conv2d", x, pads)
    fits("conv2d", x, kernel, pads, dilation)
    out = Conv2d.apply(x, w, bias, stride=stride, padding=pads, dilation=dilation, groups=int(groups))
    return out.reshape(out.shape[1:]) if unbatched else out


@op("conv_transpose2d")
def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed convolution (conv2d's input gradient) of ``input`` (N, C, H, W) with ``weight``
    (C, out / groups, kH, kW), plus ``bias`` (out,): PyTorch's ``conv_transpose2d``, same arguments and order.

    Output height ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1`` (width alike);
    ``output_padding`` (smaller than stride or dilation) adds rows and columns at the bottom and right.
    """
    x, unbatched = image_input("conv_transpose2d", input)
    w, bias = _channels("conv_transpose2d", x, weight, bias, groups, transposed=True)
    stride = pair("conv_transpose2d", "stride", stride, 1)
    dilation = pair("conv_transpose2d", "dilation", dilation, 1)
    pad = pair("conv_transpose2d", "padding", padding, 0)
    extra = pair("conv_transpose2d", "output_padding", output_padding, 0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding!r} must be smaller than either stride "
                         f"{stride} or dilation {dilation} (as in PyTorch)")
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * pad[i] + dilation[i] * (w.shape[2 + i] - 1) + extra[i] + 1
                 for i in range(2))
    if min(size) < 1:
        raise ValueError(f"conv_transpose2d: the output size {size} for input shape {x.shape}, weight shape "
                         f"{w.shape}, padding {padding!r} is not positive; use less padding")
    # the conv2d whose input gradient this is: output_padding extends its input past the bottom padding
    pads = tuple((p, p - e) for p, e in zip(pad, extra))
    out = ConvTranspose2d.apply(x, w, x_shape=(x.shape[0], w.shape[1] * groups) + size, stride=stride,
                                padding=pads, dilation=dilation, groups=int(groups))
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.reshape(out.shape[1:]) if unbatched else out


def _as_2d(op: str, input: Any, weight: Any) -> tuple:
    """A 1-d convolution's (N, C, L) input and (O, C', k) weight as images one pixel high."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input of shape (N, C, L) or (C, L), got shape {x.shape}")
    if w.ndim != 3:
        raise ValueError(f"{op}: weight must be 3-d, (channels, channels / groups, kernel_size), got shape {w.shape}")
    return x.reshape(x.shape[:-1] + (1, x.shape[-1])), w.reshape(w.shape[:2] + (1, w.shape[2]))


def single(op: str, name: str, v: Any, lo: int | None) -> int:
    return ints(op, name, v, 1, lo)[0]


@op("conv1d")
def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """1-d cross-correlation of ``input`` (N, C, L) with ``weight`` (out, C / groups, k): PyTorch's ``conv1d``.

    ``conv2d`` on images one pixel high (exact, any order). ``padding``: an int, ``"valid"``, ``"same"`` or a
    (left, right) pair of ints whose negative amounts crop.
    """
    x, w = _as_2d("conv1d", input, weight)
    if isinstance(padding, str):
        pads: Any = padding
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        pads = ((0, 0), tuple(padding))
    else:
        pads = (0, single("conv1d", "padding", padding, None))
    out = conv2d(x, w, bias, (1, single("conv1d", "stride", stride, 1)), pads,
                 (1, single("conv1d", "dilation", dilation, 1)), groups)
    return out.reshape(out.shape[:-2] + out.shape[-1:])


@op("conv_transpose1d")
def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """PyTorch's ``conv_transpose1d``: ``conv_transpose2d`` on images one pixel high; weight (C, out / groups, k)."""
    x, w = _as_2d("conv_transpose1d", input, weight)
    one = {k: (0 if k in ("padding", "output_padding") else 1, single("conv_transpose1d", k, v, 0))
           for k, v in (("stride", stride), ("padding", padding), ("output_padding", output_padding),
                        ("dilation", dilation))}
    out = conv_transpose2d(x, w, bias, groups=groups, **one)
    return out.reshape(out.shape[:-2] + out.shape[-1:])


@op("conv3d")
def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """3-d cross-correlation of ``input`` (N, C, D, H, W) with ``weight`` (out, C / groups, kD, kH, kW), plus
    ``bias``: PyTorch's ``conv3d``. Composed: one ``conv2d`` per kernel depth offset, over every output depth
    at once (exact, any order). ``padding``: an int, 3 ints, ``"valid"`` or ``"same"``."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    unbatched = x.ndim == 4
    x = x.reshape((1,) + x.shape) if unbatched else x
    if x.ndim != 5 or w.ndim != 5:
        raise ValueError(f"conv3d: expected input (N, C, D, H, W) or (C, D, H, W) and weight (out, in / groups, kD, "
                         f"kH, kW), got shapes {tuple(input.shape)} and {w.shape}")
    if hasattr(groups, "__index__") and groups >= 1 and x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"conv3d: input has {x.shape[1]} channels (shape {x.shape}) but weight of shape {w.shape} "
                         f"with groups={groups} expects {w.shape[1] * groups} (weight.shape[1] * groups)")
    stride, dilation = ints("conv3d", "stride", stride, 3, 1), ints("conv3d", "dilation", dilation, 3, 1)
    if isinstance(padding, str):
        pads = conv_padding("conv3d", padding, w.shape[3:], stride[1:], dilation[1:])
        if padding == "same" and stride[0] != 1:
            raise ValueError(f"conv3d: padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
        span = dilation[0] * (w.shape[2] - 1) if padding == "same" else 0
        depth = (span // 2, span - span // 2)
    else:
        p = ints("conv3d", "padding", padding, 3, 0)
        depth, pads = (p[0], p[0]), ((p[1], p[1]), (p[2], p[2]))
    if any(depth):
        from .pool import pad  # pool.py builds on this file
        x = pad(x, ((0, 0), (0, 0), depth, (0, 0), (0, 0)))
    n, c, d, h, wd = x.shape
    kd, sd, dd = w.shape[2], stride[0], dilation[0]
    do = (d - dd * (kd - 1) - 1) // sd + 1
    if do < 1:
        raise ValueError(f"conv3d: the padded input depth {d} (input shape {tuple(input.shape)}) is smaller than the "
                         f"kernel span {dd * (kd - 1) + 1}; use a smaller kernel or more padding")
    total = None
    for k in range(kd):  # every output depth's slice at this kernel offset, batched
        part = x[:, :, k * dd:k * dd + sd * (do - 1) + 1:sd].transpose(0, 2, 1, 3, 4).reshape(n * do, c, h, wd)
        y = conv2d(part, w[:, :, k], None, stride[1:], pads, dilation[1:], groups)
        total = y if total is None else total + y
    out = total.reshape((n, do) + total.shape[1:]).transpose(0, 2, 1, 3, 4)
    if bias is not None:
        out = out + (bias if isinstance(bias, Tensor) else Tensor(bias)).reshape(1, -1, 1, 1, 1)
    return out.reshape(out.shape[1:]) if unbatched else out


@op("conv_transpose3d")
def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed 3-d convolution of ``input`` (N, C, D, H, W) with ``weight`` (C, out / groups, kD, kH, kW),
    plus ``bias``: PyTorch's ``conv_transpose3d``, same arguments. Composed: per kernel depth offset, one
    ``conv_transpose2d`` of every input plane at once, each plane's result added at depth ``i * stride +
    k * dilation`` (exact, any order); then ``padding`` cropped from both ends of each axis."""
    op_ = "conv_transpose3d"
    x = input if isinstance(input, Tensor) else Tensor(input)
    unbatched = x.ndim == 4
    x = x.reshape((1,) + x.shape) if unbatched else x
    if x.ndim != 5:
        raise ValueError(f"{op_}: expected input of shape (N, C, D, H, W) or (C, D, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op_}: expected a floating-point input, got dtype {x.dtype} (convert with .astype)")
    w, bias = _channels(op_, x, weight, bias, groups, transposed=True, nd=3)
    stride, dilation = ints(op_, "stride", stride, 3, 1), ints(op_, "dilation", dilation, 3, 1)
    pad, extra = ints(op_, "padding", padding, 3, 0), ints(op_, "output_padding", output_padding, 3, 0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op_}: output_padding {output_padding!r} must be smaller than either stride {stride} or "
                         f"dilation {dilation} (as in PyTorch)")
    n, c, d, h, wd = x.shape
    (kd, sd, dd), pd = (w.shape[2], stride[0], dilation[0]), pad[0]
    reach = (d - 1) * sd + dd * (kd - 1) + 1  # the depths a kernel offset reaches
    size = (reach - 2 * pd + extra[0],) + tuple((x.shape[3 + i] - 1) * stride[1 + i] - 2 * pad[1 + i]
                                                 + dilation[1 + i] * (w.shape[3 + i] - 1) + extra[1 + i] + 1
                                                 for i in range(2))
    if min(size) < 1:
        raise ValueError(f"{op_}: the output size {size} for input shape {x.shape}, weight shape {w.shape}, padding "
                         f"{padding!r} is not positive; use less padding")
    from .pool import pad as pad_  # pool.py builds on this file
    planes = x.transpose(0, 2, 1, 3, 4).reshape(n * d, c, h, wd)
    length = max(reach, pd + size[0])  # output_padding may reach past the last offset
    total = None
    for k in range(kd):
        y = conv_transpose2d(planes, w[:, :, k], None, stride[1:], pad[1:], extra[1:], groups, dilation[1:])
        y = y.reshape((n, d) + y.shape[1:])
        if sd > 1:  # sd - 1 zero planes after each plane, the last ones dropped
            y = pad_(y.reshape((n, d, 1) + y.shape[2:]), ((0, 0), (0, 0), (0, sd - 1)) + ((0, 0),) * 3)
            y = y.reshape((n, d * sd) + y.shape[3:])[:, :(d - 1) * sd + 1]
        y = pad_(y, ((0, 0), (k * dd, length - k * dd - y.shape[1])) + ((0, 0),) * 3)
        total = y if total is None else total + y
    out = total[:, pd:pd + size[0]].transpose(0, 2, 1, 3, 4)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out.reshape(out.shape[1:]) if unbatched else out
