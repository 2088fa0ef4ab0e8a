"""The fuzz test's vocabulary: three backends (numpy reference, autograd-mini, PyTorch) and the op table.

Each op is written once, as a formula over a backend ``L``; tests/test_fuzz.py builds random programs from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd_mini as ag
import nn.functional as F

try:
    import torch
except ImportError:  # the optional `torch` extra
    torch = None


# ---- three backends with one vocabulary -----------------------------------------------------------
class NP:
    """The numpy reference: plain formulas, no stability tricks beyond the max shift."""

    tanh, sin, cos, exp, log, sqrt, abs = np.tanh, np.sin, np.cos, np.exp, np.log, np.sqrt, np.abs
    maximum, minimum = np.maximum, np.minimum
    atan, asinh, log1p, expm1, tan, cosh, floor = np.arctan, np.arcsinh, np.log1p, np.expm1, np.tan, np.cosh, np.floor
    logaddexp, hypot, atan2, remainder = np.logaddexp, np.hypot, np.arctan2, np.remainder
    log2, log10, sinh, asin, acos, atanh = np.log2, np.log10, np.sinh, np.arcsin, np.arccos, np.arctanh
    acosh = np.arccosh
    square, fmod, round, sign = np.square, np.fmod, np.round, np.sign
    ceil, trunc, floor_divide, copysign = np.ceil, np.trunc, np.floor_divide, np.copysign
    @staticmethod
    def div_trunc(a, b): return np.trunc(a / b)
    @staticmethod
    def div_floor(a, b): return np.floor_divide(a, b)
    @staticmethod
    def frac(a): return a - np.trunc(a)
    @staticmethod
    def reciprocal(a): return 1 / a
    @staticmethod
    def rsqrt(a): return 1 / np.sqrt(a)
    @staticmethod
    def lerp(a, b, w): return a + w * (b - a)
    @staticmethod
    def sigmoid(a): return 1 / (1 + np.exp(-a))
    @staticmethod
    def relu(a): return np.maximum(a, 0)
    @staticmethod
    def sum(a, axis, keepdims): return np.sum(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return np.mean(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return np.max(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def logsumexp(a, axis):  # an infinite max is not subtracted: logsumexp([inf, 1]) = inf, as PyTorch
        m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)  # a size-0 axis: -inf
        m = np.where(np.isfinite(m), m, 0)
        return np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    @staticmethod
    def softmax(a, axis):
        e = np.exp(a - np.max(a, axis=axis, keepdims=True, initial=-np.inf))
        return e / e.sum(axis=axis, keepdims=True)
    @staticmethod
    def log_softmax(a, axis):
        shifted = a - np.max(a, axis=axis, keepdims=True, initial=-np.inf)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    @staticmethod
    def transpose(a): return np.transpose(a)
    @staticmethod
    def flatten(a): return np.reshape(a, (-1,))
    @staticmethod
    def take(a, idx): return a[idx]
    @staticmethod
    def clip(a, lo, hi): return np.clip(a, lo, hi)
    @staticmethod
    def where(c, a, b): return np.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return np.var(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def flip(a): return a[..., ::-1]
    @staticmethod
    def cat(a, b): return np.concatenate([a, b], axis=-1)
    @staticmethod
    def stack(a, b): return np.stack([a, b], axis=0)
    @staticmethod
    def unsqueeze(a): return np.expand_dims(a, 0)
    @staticmethod
    def broadcast_to(a, shape): return np.broadcast_to(a, shape)
    @staticmethod
    def tril(a, k): return np.tril(_matrix(a), k)
    @staticmethod
    def triu(a, k): return np.triu(_matrix(a), k)
    @staticmethod
    def permute(a): return np.transpose(a, _cycle(np.ndim(a)))
    @staticmethod
    def repeat(a): return np.tile(a, (2,) + (1,) * np.ndim(a))      # PyTorch's Tensor.repeat
    @staticmethod
    def flatten_head(a): return np.reshape(_matrix(a), (-1,) + np.shape(a)[-1:])
    @staticmethod
    def silu(a): return a / (1 + np.exp(-a))
    @staticmethod
    def softplus(a): return np.where(a > 20, a, np.log1p(np.exp(np.minimum(a, 20))))
    @staticmethod
    def mish(a): return a * np.tanh(NP.softplus(a))
    @staticmethod
    def logsigmoid(a): return np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a)))
    @staticmethod
    def elu(a): return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))
    @staticmethod
    def softsign(a): return a / (1 + np.abs(a))
    @staticmethod
    def hardtanh(a): return np.clip(a, -0.5, 0.7)
    @staticmethod
    def hardswish(a): return np.where(a <= -3, 0.0, np.where(a < 3, a * (a + 3) / 6, a))  # the limit 0 at -inf
    @staticmethod
    def vector_norm(a, axis, keepdims): return np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims))
    @staticmethod
    def spd(a):  # I + x x^T of the flattened operand: symmetric positive-definite for any finite x
        x = np.reshape(a, (-1,))
        return np.eye(x.size) + x[:, None] * x[None, :]
    @staticmethod
    def inv(a): return np.linalg.inv(a)
    @staticmethod
    def logabsdet(a): return np.linalg.slogdet(a)[1]
    @staticmethod
    def diagonal(a): return np.diagonal(a, 0, -2, -1)
    # indexing, sorting, scans (#20 items 5-6)
    @staticmethod
    def flip_all(a): return np.flip(a)
    @staticmethod
    def roll(a, axis): return np.roll(a, 1, axis)
    @staticmethod
    def movedim(a): return np.moveaxis(a, 0, -1)
    @staticmethod
    def cumprod(a, axis): return np.cumprod(a, axis)
    @staticmethod
    def logcumsumexp(a, axis): return np.logaddexp.accumulate(a, axis)
    @staticmethod
    def cummax(a, axis): return np.maximum.accumulate(a, axis)
    @staticmethod
    def sort(a, axis): return np.sort(a, axis, kind="stable")
    @staticmethod
    def diag_embed(a):
        out = np.zeros(np.shape(a) + np.shape(a)[-1:])
        i = np.arange(np.shape(a)[-1])
        out[..., i, i] = a
        return out
    @staticmethod
    def trace(a):
        if np.ndim(a) != 2:
            raise ValueError(f"PyTorch's trace takes a matrix, got shape {np.shape(a)}")
        return np.trace(a)
    @staticmethod
    def index_select(a, idx): return np.take(a, idx % np.shape(a)[0], axis=0)
    @staticmethod
    def unfold(a): return np.lib.stride_tricks.sliding_window_view(a, min(2, np.shape(a)[-1]), axis=-1)
    @staticmethod
    def norm(a, axis): return np.sqrt(np.sum(a * a, axis=axis))
    # convolution and resampling (#20 item 7) on the operand flattened into one row, the definitions
    @staticmethod
    def conv1d(a): return np.correlate(np.pad(_nonempty(a).reshape(-1), 1), KERNEL, "valid")
    @staticmethod
    def conv_transpose1d(a):
        f = _nonempty(a).reshape(-1)
        out = np.zeros(2 * f.size + 1)
        for k, w in enumerate(KERNEL):
            out[k:k + 2 * f.size - 1:2] += w * f
        return out
    @staticmethod
    def pad_reflect(a): return np.pad(_rows(a, 3), [(0, 0)] * (np.ndim(a) - 1) + [(1, 2)], "reflect")
    @staticmethod
    def pad_circular(a): return np.pad(_rows(a, 2), [(0, 0)] * (np.ndim(a) - 1) + [(2, 1)], "wrap")
    @staticmethod
    def interp_linear(a):  # align_corners: output i sits at i (n - 1) / (2 n) of the input
        f = _nonempty(a).reshape(-1)
        x = np.arange(2 * f.size + 1) * ((f.size - 1) / (2 * f.size))
        lo = np.floor(x).astype(int)
        t = x - lo  # both neighbours weighted, even by 0 (a nan neighbour makes nan, as in PyTorch; np.interp's not)
        return (1 - t) * f[lo] + t * f[np.minimum(lo + 1, f.size - 1)]
    @staticmethod
    def max_pool1d(a):  # unpadded: a window of padding only would be #25's case
        f = a.reshape(-1)
        if f.size < 2:
            raise ValueError("needs 2+ elements")
        return np.maximum(f[:-1], f[1:])


KERNEL = np.array([0.5, -1.0, 0.25])


def _nonempty(a: np.ndarray) -> np.ndarray:
    if np.size(a) == 0:  # PyTorch and ours refuse a zero-length signal (the fuzz then draws another op)
        raise ValueError("needs a non-empty operand")
    return a


def _rows(a: np.ndarray, n: int) -> np.ndarray:
    if np.ndim(a) == 0 or np.size(a) == 0 or np.shape(a)[-1] < n:  # PyTorch: reflect pad < size, circular <=
        raise ValueError(f"needs a last axis of size {n}+")
    return a


def _matrix(a: np.ndarray) -> np.ndarray:
    if np.ndim(a) < 2:  # numpy's tril would make a vector a matrix; ours and PyTorch's refuse
        raise ValueError(f"needs 2+ dims, got shape {np.shape(a)}")
    return a


def _cycle(n: int) -> tuple:
    return tuple(range(1, n)) + (0,) if n else ()


class AG:
    tanh, sin, cos, exp, log, sqrt = ag.tanh, ag.sin, ag.cos, ag.exp, ag.log, ag.sqrt
    sigmoid, relu = ag.sigmoid, ag.relu
    maximum, minimum = ag.maximum, ag.minimum
    atan, asinh, log1p, expm1, tan, cosh, floor = ag.atan, ag.asinh, ag.log1p, ag.expm1, ag.tan, ag.cosh, ag.floor
    logaddexp, hypot, atan2, remainder = ag.logaddexp, ag.hypot, ag.atan2, ag.remainder
    reciprocal, rsqrt, lerp = ag.reciprocal, ag.rsqrt, ag.lerp
    log2, log10, sinh, asin, acos, atanh, acosh = ag.log2, ag.log10, ag.sinh, ag.asin, ag.acos, ag.atanh, ag.acosh
    square, fmod, round, sign, frac = ag.square, ag.fmod, ag.round, ag.sign, ag.frac
    ceil, trunc, floor_divide, copysign = ag.ceil, ag.trunc, ag.floor_divide, ag.copysign
    @staticmethod
    def div_trunc(a, b): return ag.div(a, b, rounding_mode="trunc")
    @staticmethod
    def div_floor(a, b): return ag.div(a, b, rounding_mode="floor")
    @staticmethod
    def abs(a): return ag.abs(a)
    @staticmethod
    def sum(a, axis, keepdims): return ag.sum(a, axis, keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return ag.mean(a, axis, keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return ag.max(a, axis, keepdims)
    @staticmethod
    def logsumexp(a, axis): return ag.logsumexp(a, axis, keepdims=True)
    @staticmethod
    def softmax(a, axis): return ag.softmax(a, axis)
    @staticmethod
    def log_softmax(a, axis): return ag.log_softmax(a, axis)
    @staticmethod
    def transpose(a): return a.transpose()
    @staticmethod
    def flatten(a): return a.reshape(-1)
    @staticmethod
    def take(a, idx): return a[idx]
    @staticmethod
    def clip(a, lo, hi): return ag.clip(a, lo, hi)
    @staticmethod
    def where(c, a, b): return ag.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return ag.var(a, axis, keepdims)
    @staticmethod
    def flip(a): return a[..., ::-1]
    @staticmethod
    def cat(a, b): return ag.concatenate([a, b], axis=-1)
    @staticmethod
    def stack(a, b): return ag.stack([a, b], axis=0)
    @staticmethod
    def unsqueeze(a): return ag.expand_dims(a, 0)
    @staticmethod
    def broadcast_to(a, shape): return a.broadcast_to(shape)
    @staticmethod
    def tril(a, k): return ag.tril(a, k)
    @staticmethod
    def triu(a, k): return a.triu(k)
    @staticmethod
    def permute(a): return a.permute(*_cycle(a.ndim))
    @staticmethod
    def repeat(a): return a.repeat(2, *(1,) * a.ndim)
    @staticmethod
    def flatten_head(a): return a.flatten(0, -2)
    @staticmethod
    def silu(a): return F.silu(a)
    softplus, mish, logsigmoid, elu = F.softplus, F.mish, F.logsigmoid, F.elu
    @staticmethod
    def softsign(a): return F.softsign(a)
    @staticmethod
    def hardtanh(a): return F.hardtanh(a, -0.5, 0.7)
    @staticmethod
    def hardswish(a): return F.hardswish(a)
    @staticmethod
    def vector_norm(a, axis, keepdims): return ag.linalg.vector_norm(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def spd(a):
        x = a.reshape(-1)
        return ag.tensor(np.eye(x.shape[0])) + x[:, None] * x[None, :]
    @staticmethod
    def inv(a): return ag.linalg.inv(a)
    @staticmethod
    def logabsdet(a): return ag.linalg.slogdet(a).logabsdet
    @staticmethod
    def diagonal(a): return ag.linalg.diagonal(a)
    def flip_all(a): return ag.flip(a)
    @staticmethod
    def roll(a, axis): return ag.roll(a, 1, axis)
    @staticmethod
    def movedim(a): return ag.movedim(a, 0, -1)
    @staticmethod
    def cumprod(a, axis): return ag.cumprod(a, axis)
    @staticmethod
    def logcumsumexp(a, axis): return ag.logcumsumexp(a, axis)
    @staticmethod
    def cummax(a, axis): return ag.cummax(a, axis).values
    @staticmethod
    def sort(a, axis): return ag.sort(a, axis).values
    @staticmethod
    def diag_embed(a): return ag.diag_embed(a)
    @staticmethod
    def trace(a): return ag.trace(a)
    @staticmethod
    def index_select(a, idx): return ag.index_select(a, 0, idx % a.shape[0])
    @staticmethod
    def unfold(a): return a.unfold(-1, min(2, a.shape[-1]), 1)
    @staticmethod
    def norm(a, axis): return ag.norm(a, 2, axis)
    def conv1d(a): return ag.conv1d(a.reshape(1, 1, -1), KERNEL.reshape(1, 1, 3), padding=1).reshape(-1)
    @staticmethod
    def conv_transpose1d(a):
        return ag.conv_transpose1d(a.reshape(1, 1, -1), KERNEL.reshape(1, 1, 3), stride=2).reshape(-1)
    @staticmethod
    def pad_reflect(a): return F.pad(a, (1, 2), "reflect")
    @staticmethod
    def pad_circular(a): return F.pad(a, (2, 1), "circular")
    @staticmethod
    def interp_linear(a):
        return ag.interpolate(a.reshape(1, 1, -1), size=2 * a.size + 1, mode="linear", align_corners=True).reshape(-1)
    @staticmethod
    def max_pool1d(a): return ag.max_pool1d(a.reshape(1, 1, -1), 2, 1).reshape(-1)


class TH:
    if torch is not None:
        tanh, sin, cos, exp, log, sqrt = torch.tanh, torch.sin, torch.cos, torch.exp, torch.log, torch.sqrt
        sigmoid, relu, abs, maximum, minimum = torch.sigmoid, torch.relu, torch.abs, torch.maximum, torch.minimum
        atan, asinh, log1p, expm1, tan, cosh, floor = (torch.atan, torch.asinh, torch.log1p, torch.expm1, torch.tan,
                                                       torch.cosh, torch.floor)
        logaddexp, hypot, atan2, remainder = torch.logaddexp, torch.hypot, torch.atan2, torch.remainder
        reciprocal, rsqrt, lerp = torch.reciprocal, torch.rsqrt, torch.lerp
        log2, log10, sinh, asin, acos, atanh, acosh = (torch.log2, torch.log10, torch.sinh, torch.asin, torch.acos,
                                                       torch.atanh, torch.acosh)
        square, fmod, round, sign, frac = torch.square, torch.fmod, torch.round, torch.sign, torch.frac
        ceil, trunc, copysign = torch.ceil, torch.trunc, torch.copysign
        @staticmethod  # the same values; PyTorch refuses to differentiate floor_divide itself, this gives zeros
        def floor_divide(a, b): return torch.div(a, b, rounding_mode="floor")
        @staticmethod
        def div_trunc(a, b): return torch.div(a, b, rounding_mode="trunc")
        @staticmethod
        def div_floor(a, b): return torch.div(a, b, rounding_mode="floor")
    @staticmethod
    def _dims(a, axis): return tuple(range(a.dim())) if axis is None else axis
    @staticmethod
    def sum(a, axis, keepdims): return torch.sum(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return torch.mean(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return torch.amax(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def logsumexp(a, axis): return torch.logsumexp(a, TH._dims(a, axis), keepdim=True)
    @staticmethod
    def softmax(a, axis): return torch.softmax(a, axis)
    @staticmethod
    def log_softmax(a, axis): return torch.log_softmax(a, axis)
    @staticmethod
    def transpose(a): return a.permute(tuple(reversed(range(a.dim()))))
    @staticmethod
    def flatten(a): return a.reshape(-1)
    @staticmethod
    def take(a, idx): return a[torch.as_tensor(idx)]
    @staticmethod
    def clip(a, lo, hi): return torch.clamp(a, lo, hi)
    @staticmethod
    def where(c, a, b): return torch.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return torch.var(a, TH._dims(a, axis), correction=0, keepdim=keepdims)
    @staticmethod
    def flip(a): return torch.flip(a, (-1,))
    @staticmethod
    def cat(a, b): return torch.cat([a, b], dim=-1)
    @staticmethod
    def stack(a, b): return torch.stack([a, b], dim=0)
    @staticmethod
    def unsqueeze(a): return a.unsqueeze(0)
    @staticmethod
    def broadcast_to(a, shape): return a.expand(shape)
    @staticmethod
    def tril(a, k): return torch.tril(a, k)
    @staticmethod
    def triu(a, k): return torch.triu(a, k)
    @staticmethod
    def permute(a): return a.permute(_cycle(a.dim()))
    @staticmethod
    def repeat(a): return a.repeat(2, *(1,) * a.dim())
    @staticmethod
    def flatten_head(a): return a.flatten(0, -2)
    @staticmethod
    def silu(a): return torch.nn.functional.silu(a)
    if torch is not None:
        softplus, mish, logsigmoid, elu = (torch.nn.functional.softplus, torch.nn.functional.mish,
                                           torch.nn.functional.logsigmoid, torch.nn.functional.elu)
    @staticmethod
    def softsign(a): return torch.nn.functional.softsign(a)
    @staticmethod
    def hardtanh(a): return torch.nn.functional.hardtanh(a, -0.5, 0.7)
    @staticmethod
    def hardswish(a): return torch.nn.functional.hardswish(a)
    @staticmethod
    def vector_norm(a, axis, keepdims): return torch.linalg.vector_norm(a, dim=axis, keepdim=keepdims)
    @staticmethod
    def spd(a):
        x = a.reshape(-1)
        return torch.eye(x.shape[0], dtype=x.dtype) + x[:, None] * x[None, :]
    @staticmethod
    def inv(a): return torch.linalg.inv(a)
    @staticmethod
    def logabsdet(a): return torch.linalg.slogdet(a).logabsdet
    @staticmethod
    def diagonal(a): return torch.linalg.diagonal(a)
    def flip_all(a): return torch.flip(a, tuple(range(a.dim())))
    @staticmethod
    def roll(a, axis): return torch.roll(a, 1, axis)
    @staticmethod
    def movedim(a): return torch.movedim(a, 0, -1)
    @staticmethod
    def cumprod(a, axis): return torch.cumprod(a, axis)
    @staticmethod
    def logcumsumexp(a, axis):
        """Each prefix's logsumexp: torch.logcumsumexp's double backward drops the terms through an incoming
        gradient of exactly 0 (the log|g| of its formula has a kink there; finite differences side with ours)."""
        if a.dim() == 0:
            return a
        x = a.movedim(axis, -1)
        n = x.shape[-1]
        later = ~torch.ones(n, n, dtype=torch.bool).tril()  # [j, i]: i > j is outside prefix j
        return torch.logsumexp(x.unsqueeze(-2).expand(*x.shape[:-1], n, n).masked_fill(later, -torch.inf),
                               -1).movedim(-1, axis)
    @staticmethod
    def cummax(a, axis): return torch.cummax(a, axis).values
    @staticmethod
    def sort(a, axis): return torch.sort(a, dim=axis, stable=True).values
    @staticmethod
    def diag_embed(a): return torch.diag_embed(a)
    @staticmethod
    def trace(a): return torch.trace(a)
    @staticmethod
    def index_select(a, idx): return torch.index_select(a, 0, torch.as_tensor(idx % a.shape[0]))
    @staticmethod
    def unfold(a): return a.unfold(-1, min(2, a.shape[-1]), 1)
    @staticmethod
    def norm(a, axis): return torch.linalg.vector_norm(a, 2, axis)
    def conv1d(a):
        w = torch.tensor(KERNEL).reshape(1, 1, 3)
        return torch.nn.functional.conv1d(a.reshape(1, 1, -1), w, padding=1).reshape(-1)
    @staticmethod
    def conv_transpose1d(a):
        return torch.nn.functional.conv_transpose1d(a.reshape(1, 1, -1), torch.tensor(KERNEL).reshape(1, 1, 3),
                                                    stride=2).reshape(-1)
    @staticmethod
    def pad_reflect(a): return TH._last_axis_pad(a, (1, 2), "reflect")
    @staticmethod
    def pad_circular(a): return TH._last_axis_pad(a, (2, 1), "circular")
    @staticmethod
    def _last_axis_pad(a, amounts, mode):  # PyTorch pads (batch, channel, length) inputs in these modes
        out = torch.nn.functional.pad(a.reshape(1, -1, a.shape[-1]), amounts, mode)
        return out.reshape(tuple(a.shape[:-1]) + (out.shape[-1],))
    @staticmethod
    def interp_linear(a):
        return torch.nn.functional.interpolate(a.reshape(1, 1, -1), size=2 * a.numel() + 1, mode="linear",
                                               align_corners=True).reshape(-1)
    @staticmethod
    def max_pool1d(a): return torch.nn.functional.max_pool1d(a.reshape(1, 1, -1), 2, 1).reshape(-1)


# ---- the op table: name -> (arity, smooth, formula over a backend L) -----------------------------------
@dataclass(frozen=True)
class Op:
    arity: int
    smooth: bool              # differentiable everywhere: checked against finite differences
    fn: Callable[..., Any]    # fn(L, *operands, **params)
    param: str = ""           # "axis" (an axis of operand 0), "reduce" (axis + keepdims), "index"


OPS: dict[str, Op] = {
    "neg": Op(1, True, lambda L, a: -a),
    "tanh": Op(1, True, lambda L, a: L.tanh(a)),
    "sigmoid": Op(1, True, lambda L, a: L.sigmoid(a)),
    "sin": Op(1, True, lambda L, a: L.sin(a)),
    "cos": Op(1, True, lambda L, a: L.cos(a)),
    "exp_tanh": Op(1, True, lambda L, a: L.exp(L.tanh(a))),          # bounded, so chains never overflow
    "log1p_sq": Op(1, True, lambda L, a: L.log(1.0 + a * a)),
    "sqrt1p_sq": Op(1, True, lambda L, a: L.sqrt(1.0 + a * a)),
    "square": Op(1, True, lambda L, a: a**2),
    "cube_scaled": Op(1, True, lambda L, a: L.tanh(a) ** 3),
    "atan": Op(1, True, lambda L, a: L.atan(a)),
    "asinh": Op(1, True, lambda L, a: L.asinh(a)),
    "log1p": Op(1, True, lambda L, a: L.log1p(a * a)),
    "expm1_tanh": Op(1, True, lambda L, a: L.expm1(L.tanh(a))),
    "tan_tanh": Op(1, True, lambda L, a: L.tan(L.tanh(a))),
    "cosh_tanh": Op(1, True, lambda L, a: L.cosh(L.tanh(a))),
    "reciprocal": Op(1, True, lambda L, a: L.reciprocal(1.0 + a * a)),
    "rsqrt": Op(1, True, lambda L, a: L.rsqrt(1.0 + a * a)),
    "floor_mul": Op(1, False, lambda L, a: L.floor(a) * a),           # jumps at the integers
    "round_sign": Op(1, False, lambda L, a: L.round(a) + L.sign(a) * a),  # zero-gradient steps, and |a|
    "log2_log10": Op(1, True, lambda L, a: L.log2(1.0 + a * a) + L.log10(2.0 + a * a)),
    "sinh_tanh": Op(1, True, lambda L, a: L.sinh(L.tanh(a))),
    "asin_acos": Op(1, True, lambda L, a: L.asin(0.9 * L.tanh(a)) + L.acos(0.8 * L.tanh(a))),
    "atanh": Op(1, True, lambda L, a: L.atanh(0.9 * L.tanh(a))),
    "acosh": Op(1, True, lambda L, a: L.acosh(1.5 + a * a)),
    "square_fn": Op(1, True, lambda L, a: L.square(a)),
    "frac": Op(1, False, lambda L, a: L.frac(a)),                       # jumps at the integers
    "transpose": Op(1, True, lambda L, a: L.transpose(a)),
    "flatten": Op(1, True, lambda L, a: L.flatten(a)),
    "take": Op(1, True, lambda L, a, index: L.take(a, index), "index"),  # repeated rows: scatter-add
    "sum": Op(1, True, lambda L, a, axis, keepdims: L.sum(a, axis, keepdims), "reduce"),
    "mean": Op(1, True, lambda L, a, axis, keepdims: L.mean(a, axis, keepdims), "reduce"),
    "logsumexp": Op(1, True, lambda L, a, axis: L.logsumexp(a, axis), "axis"),
    "softmax": Op(1, True, lambda L, a, axis: L.softmax(a, axis), "axis"),
    "log_softmax": Op(1, True, lambda L, a, axis: L.log_softmax(a, axis), "axis"),
    "var": Op(1, True, lambda L, a, axis, keepdims: L.var(a, axis, keepdims), "reduce"),
    "flip": Op(1, True, lambda L, a: L.flip(a)),                       # a negative-step slice
    "unsqueeze": Op(1, True, lambda L, a: L.unsqueeze(a)),
    "broadcast_to": Op(1, True, lambda L, a: L.broadcast_to(a, (2,) + tuple(a.shape))),
    "spd_inv": Op(1, True, lambda L, a: L.inv(L.spd(a))),                  # linalg: inv, det through solve
    "spd_logdet": Op(1, True, lambda L, a: L.logabsdet(L.spd(a))),
    "diagonal": Op(1, True, lambda L, a: L.diagonal(a)),                   # the last two axes; fits ndim >= 2
    "pow_half": Op(1, True, lambda L, a: (1.0 + a * a) ** 0.5),
    "tril": Op(1, True, lambda L, a: L.tril(a, 0)),                    # matrices (2+ dims) only: others do not fit
    "triu": Op(1, True, lambda L, a: L.triu(a, 1)),
    "permute": Op(1, True, lambda L, a: L.permute(a)),
    "repeat": Op(1, True, lambda L, a: L.repeat(a)),
    "flatten_head": Op(1, True, lambda L, a: L.flatten_head(a)),
    "silu": Op(1, True, lambda L, a: L.silu(a)),
    "softplus": Op(1, True, lambda L, a: L.softplus(a)),
    "mish": Op(1, True, lambda L, a: L.mish(a)),
    "logsigmoid": Op(1, True, lambda L, a: L.logsigmoid(a)),
    "elu": Op(1, False, lambda L, a: L.elu(a)),                        # its second derivative jumps at 0
    "softsign": Op(1, False, lambda L, a: L.softsign(a)),              # its second derivative jumps at 0
    "hardtanh": Op(1, False, lambda L, a: L.hardtanh(a)),
    "hardswish": Op(1, False, lambda L, a: L.hardswish(a)),
    "flip_all": Op(1, True, lambda L, a: L.flip_all(a)),
    "roll": Op(1, True, lambda L, a, axis: L.roll(a, axis), "axis"),
    "movedim": Op(1, True, lambda L, a: L.movedim(a)),
    # cumprod away from 0: at tiny inputs (1e-300) PyTorch's second derivative of out / x is rounding garbage
    # (1e260); zeros and ties are the boundary table's and gradcheck's (tests/op_tables/scans.py)
    "cumprod": Op(1, True, lambda L, a, axis: L.cumprod(1.0 + a * a, axis), "axis"),
    "logcumsumexp": Op(1, True, lambda L, a, axis: L.logcumsumexp(a, axis), "axis"),
    "diag_embed": Op(1, True, lambda L, a: L.diag_embed(a)),
    "trace": Op(1, True, lambda L, a: L.trace(a)),                    # matrices only (PyTorch's)
    "index_select": Op(1, True, lambda L, a, index: L.index_select(a, index), "index"),
    "unfold": Op(1, True, lambda L, a: L.unfold(a)),
    "cummax": Op(1, False, lambda L, a, axis: L.cummax(a, axis), "axis"),   # ties: the later index (both)
    "sort": Op(1, False, lambda L, a, axis: L.sort(a, axis), "axis"),       # stable in both
    # away from a slice of zeros, where PyTorch's second derivative is nan and ours 0 (docs/ops.md)
    "norm": Op(1, True, lambda L, a, axis: L.norm(1.0 + a * a, axis), "axis"),
    "conv1d": Op(1, True, lambda L, a: L.conv1d(a)),
    "conv_transpose1d": Op(1, True, lambda L, a: L.conv_transpose1d(a)),
    "pad_reflect": Op(1, True, lambda L, a: L.pad_reflect(a)),
    "pad_circular": Op(1, True, lambda L, a: L.pad_circular(a)),
    "interp_linear": Op(1, True, lambda L, a: L.interp_linear(a)),
    "max_pool1d": Op(1, False, lambda L, a: L.max_pool1d(a)),
    "add": Op(2, True, lambda L, a, b: a + b),
    "sub": Op(2, True, lambda L, a, b: a - b),
    "mul": Op(2, True, lambda L, a, b: a * b),
    "div": Op(2, True, lambda L, a, b: a / (1.0 + b * b)),
    # + 0.5: at an exponent of exactly 0 PyTorch's d2/da db is 0, the true value (ours) 1/a (docs/reliability.md)
    "pow": Op(2, True, lambda L, a, b: (1.0 + a * a) ** (L.tanh(b) + 0.5)),
    "logaddexp": Op(2, True, lambda L, a, b: L.logaddexp(a, b)),
    "hypot": Op(2, True, lambda L, a, b: L.hypot(a, 1.0 + b * b)),
    "atan2": Op(2, True, lambda L, a, b: L.atan2(a, 1.0 + b * b)),
    "lerp": Op(2, True, lambda L, a, b: L.lerp(a, b, 0.3)),
    "remainder": Op(2, False, lambda L, a, b: L.remainder(a, 1.0 + b * b)),  # jumps where a crosses a multiple
    "fmod": Op(2, False, lambda L, a, b: L.fmod(a, 1.0 + b * b)),
    "ceil_mul": Op(1, False, lambda L, a: L.ceil(a) * a),            # jumps at the integers, as floor_mul
    "trunc_mul": Op(1, False, lambda L, a: L.trunc(a) * a),
    "floor_divide": Op(2, False, lambda L, a, b: L.floor_divide(a, 0.5 + b * b) * a),  # steps: gradient 0
    "div_trunc": Op(2, False, lambda L, a, b: L.div_trunc(a, 0.5 + b * b) + a),
    # a negative divisor, where floor and trunc differ; never 0: 0 / 0's nan meets relu's documented nan kink
    "div_floor": Op(2, False, lambda L, a, b: L.div_floor(a, -0.5 - b * b) * b),
    # |a| with b's sign, a kink where a = -0.25; a itself may be tiny (1e-216), where PyTorch's second derivative
    # (the graph of out / a: 1/a - out/a^2, a^2 underflows) is garbage; ours is 0 (tests/test_elementwise.py)
    "copysign": Op(2, False, lambda L, a, b: L.copysign(a + 0.25, b)),
    "matmul": Op(2, True, lambda L, a, b: a @ b),                      # numpy rules, 1-D operands included
    "concatenate": Op(2, True, lambda L, a, b: L.cat(a, b)),
    "stack": Op(2, True, lambda L, a, b: L.stack(a, b)),
    "clip": Op(1, False, lambda L, a: L.clip(a, -0.5, 0.7)),
    "where": Op(2, False, lambda L, a, b: L.where(a > b, a, b * 0.5)),
    "relu": Op(1, False, lambda L, a: L.relu(a)),
    "abs": Op(1, False, lambda L, a: L.abs(a)),
    # a - 0.5: all-0.5 slices hit the norm's kink at 0 (gradient 0, as PyTorch's); subnormal norms, where
    # PyTorch's second derivative is rounding noise (x^2 underflows), cannot occur
    "vector_norm": Op(1, False, lambda L, a, axis, keepdims: L.vector_norm(a - 0.5, axis, keepdims), "reduce"),
    "max": Op(1, False, lambda L, a, axis, keepdims: L.amax(a, axis, keepdims), "reduce"),
    "maximum": Op(2, False, lambda L, a, b: L.maximum(a, b)),
    "minimum": Op(2, False, lambda L, a, b: L.minimum(a, b)),
}
SMOOTH = [k for k, op in OPS.items() if op.smooth]
# At a nan these kinks pick a different (equally arbitrary) gradient from PyTorch's; the values agree.
# Ours: relu'(nan) = 0, abs'(nan) = nan, maximum/minimum give the whole gradient to the second argument, and
# relu/clip/abs mask by multiplying (a nan upstream gradient stays nan where the mask is 0).
# PyTorch: relu'(nan) = 1, abs'(nan) = 0, maximum/minimum give it to both sides, relu/clamp mask by selecting (0).
NAN_KINKS = {"relu", "abs", "maximum", "minimum", "clip"}
# hardswish(-inf): PyTorch's forward gives nan (-inf * 0), ours the limit 0 (docs/ops.md). hardtanh'(nan): ours 1;
# PyTorch's is 1 from its scalar loop and 0 from its vectorised one (a (3,) tensor gets 1, a (3, 3) one 0).
NAN_KINKS |= {"hardswish", "hardtanh"}
# sign(nan): ours nan (numpy's), PyTorch's 0 (docs/ops.md); so sign(a) * a has a nan gradient at nan, PyTorch's 0.
NAN_KINKS |= {"round_sign"}
# copysign(a, nan) takes the nan's sign bit, which numpy's and PyTorch's arithmetic leave differently (x86 keeps
# one operand's nan, and the libraries order operands differently): both answers are IEEE's
NAN_KINKS |= {"copysign"}
# var is composed from mean (x - mean(x)), so an inf input makes the mean path's gradient nan for every element;
# PyTorch's fused var backward, 2 (x - mean) / n, drops that path (it sums to zero when finite) and leaves -inf there.
NAN_COMPOSITES = {"var"}
# LAPACK's nan/inf propagation differs between numpy's build and PyTorch's: these run with nan/inf against numpy only
NAN_LAPACK = {"spd_inv", "spd_logdet"}
