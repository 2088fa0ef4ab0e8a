"""Scans and reductions: ``cumprod cummax cummin logcumsumexp amax amin aminmax var_mean std_mean norm
count_nonzero``.

Composites of the reductions, getitem and where, except ``CumProd``: its derivative reads the output (a
running sum of ``g * out`` divided by ``x``, O(n), PyTorch's), and where ``x`` has a zero the product of the
others by a ``LinearScan`` (O(n), no division; it differentiates into scans, so exact to any order).
``LogCumSumExp`` is a primitive for speed as well (O(n); the triangle reduced by ``logsumexp`` is its test
oracle).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .. import numpy as anp
from .._backend import as_float, xp
from ..function import OPS, Function, op
from ..grad_mode import array_call, state
from ..shapes import normalize_axes, reduction_axes
from ..tensor import Tensor, as_array, as_operand
from . import primitives as P
from . import reductions as R
from .indexing import take_along_axis
from .pytorch_names import torch_names
from .rearrange import movedim
from .sorting import Sorted

__all__ = ["cumprod", "CumProd", "cummax", "cummin", "logcumsumexp", "LogCumSumExp", "amax", "amin", "aminmax",
           "MinMax", "var_mean", "std_mean", "norm", "count_nonzero"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


def _scan_axis(op: str, x: Tensor, axis: Any) -> tuple[Tensor, int, tuple]:
    """(x as scanned, the axis, the shape to restore): None scans the flattened tensor (numpy's), a 0-d
    tensor takes axis 0 / -1 (PyTorch's)."""
    if axis is None or x.ndim == 0:
        if axis is not None:
            normalize_axes(axis, 1, op)
        return x.reshape(-1), 0, (x.shape if axis is not None else (x.size,))
    return x, normalize_axes(axis, x.ndim, op)[0], x.shape


class CumProd(Function):
    """Running product along ``axis``. Without zeros the derivative is PyTorch's (the running sum of ``g * out``
    from the other end, divided by ``x``); with zeros (or subnormals, where ``out / x`` loses the value)
    ``exact`` takes the product of the others with no division: ``out`` shifted by one (the product before
    each element) times a scan from the other end of ``g`` through the elements after it. O(n) either way,
    and the scan differentiates into scans, so every order is exact."""
    formula = "d cumprod(x, axis)/dx: at i, the sum over j >= i of g_j times the product of x_0..x_j but x_i"
    op_name = "cumprod"

    @staticmethod
    def forward(ctx, x, *, axis, exact): return xp.cumprod(x, axis=axis, dtype=R.accumulated(x))

    @staticmethod
    def backward(ctx, g, x, out):
        axis = ctx.params["axis"]
        if not ctx.params["exact"]:
            flip = (slice(None),) * axis + (slice(None, None, -1),)
            return (g * out)[flip].cumsum(axis=axis)[flip] / x
        # dx_i = (x_0 .. x_{i-1}) * u_i, where u_i = g_i + x_{i+1} u_{i+1}
        u = anp.linear_scan(_shifted(x, axis, -1, 0.0), g, axis=axis, reverse=True)
        return u * _shifted(out, axis, 1, 1.0)


def _shifted(v: Any, axis: int, by: int, fill: float) -> Any:
    """``v`` moved one place along ``axis``: ``by=1`` puts ``v_{j-1}`` at j (``fill`` first), ``by=-1``
    puts ``v_{j+1}`` at j (``fill`` last)."""
    n = v.shape[axis]
    keep = (slice(None),) * axis + (slice(0, n - 1) if by == 1 else slice(1, n),)
    widths = [(0, 0)] * v.ndim
    widths[axis] = (1, 0) if by == 1 else (0, 1)
    return anp.pad(v[keep], widths, constant_values=fill)


@op("linear_scan", export=False)  # cumprod's exact derivative
class LinearScan(Function):
    """``h_j = a_j h_{j-1} + b_j`` along ``axis`` from ``h_{-1} = 0`` (``reverse``: ``h_j = a_j h_{j+1} + b_j``
    from the other end): one multiply-add per element, no division, so exact where ``a`` has zeros."""
    formula = ("d linear_scan(a, b)/db: the scan from the other end of g through a moved one place; "
               "d linear_scan(a, b)/da: that times h moved one place")

    @staticmethod
    def forward(ctx, a, b, *, axis, reverse):
        h = xp.moveaxis(xp.array(b, dtype=xp.result_type(a, b)), axis, 0)  # a copy, scanned in place
        am = xp.moveaxis(a, axis, 0)
        n = h.shape[0]
        for j in (range(n - 2, -1, -1) if reverse else range(1, n)):
            prev = j + 1 if reverse else j - 1
            h[j] += am[j] * h[prev]
        return xp.moveaxis(h, 0, axis)

    @staticmethod
    def backward(ctx, g, a, out):
        axis, reverse = ctx.params["axis"], ctx.params["reverse"]
        toward = 1 if reverse else -1  # where each element's successor in the scan sits
        u = anp.linear_scan(_shifted(a, axis, toward, 0.0), g, axis=axis, reverse=not reverse)
        return u * _shifted(out, axis, -toward, 0.0), u


@op("cumprod", method=True)
@torch_names
def cumprod(x: Any, axis: int | None = None, *, dtype: Any = None) -> Tensor:
    """Running product along ``axis`` (numpy's: None runs over the flattened tensor); PyTorch's ``dim=``.
    Zeros are exact, as ``prod``: each element's derivative is the product of the others of its prefixes."""
    x = _t(x) if dtype is None else R.cast(x, dtype)
    x, axis, shape = _scan_axis("cumprod", x, axis)
    if x.shape[axis] <= 1:  # the identity (as PyTorch's): out / x would differentiate to 1/x - x/x^2, not 0
        return x.reshape(shape)
    exact = _has_zeros(x._data)
    if state.tracer is not None:  # the path depends on it: ag.compile checks it again on each replay
        array_call(_same_zeros, x._data, exact)
    return CumProd.apply(x, axis=axis, exact=exact).reshape(shape)


def _has_zeros(a: Any) -> bool:
    """Whether a float ``a`` holds a zero (subnormals count, as prod's): cumprod's exact path."""
    tiny = xp.finfo(a.dtype).tiny if a.dtype.kind == "f" else 1
    return a.dtype.kind == "f" and bool(((a < tiny) & (a > -tiny)).any())


def _same_zeros(a: Any, zeros: bool) -> None:
    if _has_zeros(a) != zeros:
        raise ValueError(f"cumprod: this ag.compile program was traced with{'' if zeros else 'out'} zeros in "
                         f"cumprod's input and this call has {'none' if zeros else 'some'}: its path (and "
                         "derivative) depends on that; compile a step for each case, or run it eagerly")


class LogCumSumExp(Function):
    """``log(cumsum(exp(x)))`` along ``axis`` by ``logaddexp.accumulate``: O(n), where each prefix's
    ``logsumexp`` (the composite, its test oracle) is O(n^2). The derivative is PyTorch's: the reversed
    logcumsumexp of ``log|g| - out``, its positive and negative parts apart, so nothing overflows."""
    formula = "d logcumsumexp(x, axis)/dx: exp(x) times the running sum of g * exp(-out) from the other end"
    op_name = "logcumsumexp"

    @staticmethod
    def forward(ctx, x, *, axis): return xp.logaddexp.accumulate(x, axis=axis)

    @staticmethod
    def backward(ctx, g, x, out):
        axis = ctx.params["axis"]
        if isinstance(g, Tensor):  # create_graph: log|g| has a kink at g = 0 that would drop the terms through g
            return _logcumsumexp_vjp_smooth(g, x, out, axis)
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        lowest = xp.finfo(x.dtype).min  # log 0 as PyTorch writes it: finite, so no inf - inf

        def part(sign: int) -> Any:
            on = xp.asarray(g * sign > 0)
            log_g = anp.where(on, anp.log(anp.where(on, g * sign, 1.0)), lowest)
            rest = log_g - out
            scan = LogCumSumExp.apply(rest[flip], axis=axis) if isinstance(rest, Tensor) else \
                xp.logaddexp.accumulate(rest[flip], axis=axis)
            return anp.exp(scan[flip] + x)

        with xp.errstate(over="ignore", invalid="ignore"):
            return part(1) - part(-1)


def _logcumsumexp_vjp_smooth(g: Any, x: Any, out: Any, axis: int) -> Any:
    """``dx_i = sum_{j >= i} g_j exp(x_i - out_j)``, linear in g (so differentiable through g everywhere) and
    free of overflow (``x_i <= out_j`` for j >= i); n * n per slice, paid only under create_graph."""
    gx, xx, ox = (movedim(t, axis, -1) for t in (g, x, out))
    n = xx.shape[-1]
    later = xp.triu(xp.ones((n, n), bool))  # [i, j]: j >= i
    e = anp.exp(anp.where(later, xx.reshape(xx.shape + (1,)) - ox.reshape(ox.shape[:-1] + (1, n)), -xp.inf))
    # masked again after the product: an inf or nan g_j must not reach the x_i after j through 0 * g_j
    return movedim(anp.where(later, e * gx.reshape(gx.shape[:-1] + (1, n)), 0.0).sum(axis=-1), -1, axis)


@op("logcumsumexp", method=True)
@torch_names
def logcumsumexp(x: Any, axis: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``axis`` (PyTorch's ``dim``), stable (``logaddexp`` step by step)."""
    x = _t(x)
    if x.dtype.kind not in "fc":  # integers: the default float dtype (PyTorch refuses them)
        x = Tensor._wrap(array_call(as_float, x._data))  # (again on each ag.compile replay)
    x, axis, shape = _scan_axis("logcumsumexp", x, axis)
    return LogCumSumExp.apply(x, axis=axis).reshape(shape)


def _cumextreme(op: str, x: Any, axis: int, better: Any) -> Sorted:
    """Running max (or min) along ``axis`` and the index it came from: at ties the later one, and once a
    nan appears the latest nan (PyTorch's)."""
    x = _t(x)
    x1, d, shape = _scan_axis(op, x, axis)
    if x1.size == 0:
        return Sorted(x, Tensor._wrap(xp.zeros(x.shape, dtype=xp.int64)))
    idx = array_call(_running_index, x1._data, d, better)  # ag.compile computes it again on each replay
    return Sorted(take_along_axis(x1, idx, d).reshape(shape), Tensor._wrap(array_call(xp.reshape, idx, shape)))


def _running_index(a: Any, d: int, better: Any) -> Any:
    """Where the running extreme along ``d`` came from, int64."""
    run = better.accumulate(a, axis=d)
    marks = (a == run) | (xp.isnan(a) if a.dtype.kind == "f" else False)
    ar = xp.arange(a.shape[d]).reshape((-1,) + (1,) * (a.ndim - d - 1))
    return xp.maximum.accumulate(xp.where(marks, ar, 0), axis=d).astype(xp.int64)


@op("cummax", method=True)
@torch_names
def cummax(x: Any, axis: int) -> Sorted:
    """Running max along ``axis`` (PyTorch's ``dim``) and its indices; the gradient goes to the index."""
    return _cumextreme("cummax", x, axis, xp.maximum)


@op("cummin", method=True)
@torch_names
def cummin(x: Any, axis: int) -> Sorted:
    """Running min along ``axis`` (PyTorch's ``dim``) and its indices; the gradient goes to the index."""
    return _cumextreme("cummin", x, axis, xp.minimum)


def _all_if_empty(axis: Any) -> Any:
    return None if isinstance(axis, (tuple, list)) and not axis else axis  # PyTorch's dim=(): every axis


@op("amax", method=True)
@torch_names
def amax(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """PyTorch's ``amax`` (numpy's ``max``): ties share the gradient equally."""
    return R.Max.apply(x, _all_if_empty(axis), keepdims)


@op("amin", method=True)
@torch_names
def amin(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """PyTorch's ``amin`` (numpy's ``min``): ties share the gradient equally."""
    return R.Min.apply(x, _all_if_empty(axis), keepdims)


class MinMax(NamedTuple):
    min: Tensor
    max: Tensor


@op("aminmax", method=True)
@torch_names
def aminmax(x: Any, *, axis: Any = None, keepdims: bool = False) -> MinMax:
    """PyTorch's ``aminmax``: (min, max) over ``axis`` (one axis or all), as ``amin`` and ``amax``."""
    return MinMax(amin(x, axis, keepdims), amax(x, axis, keepdims))


def _ddof(op: str, correction: Any, ddof: Any) -> Any:
    if ddof is not None and correction is not None:
        raise TypeError(f"{op}: give correction= or ddof=, not both")
    return 1 if ddof is None and correction is None else ddof if correction is None else correction


@op("var_mean", method=True)
def var_mean(x: Any, dim: Any = None, *, correction: Any = None, keepdim: bool = False, axis: Any = None,
             ddof: Any = None, keepdims: Any = None) -> tuple[Tensor, Tensor]:
    """PyTorch's ``var_mean``: (variance, mean) over ``dim``, with PyTorch's default ``correction=1`` (the
    unbiased estimate; ``ag.var``'s default is numpy's ``ddof=0``)."""
    axis = dim if axis is None else axis
    keepdims = keepdim if keepdims is None else keepdims
    return OPS["var"](x, axis, keepdims, ddof=_ddof("var_mean", correction, ddof)), OPS["mean"](x, axis, keepdims)


@op("std_mean", method=True)
def std_mean(x: Any, dim: Any = None, *, correction: Any = None, keepdim: bool = False, axis: Any = None,
             ddof: Any = None, keepdims: Any = None) -> tuple[Tensor, Tensor]:
    """PyTorch's ``std_mean``: (standard deviation, mean), default ``correction=1`` as ``var_mean``."""
    v, m = var_mean(x, dim, correction=correction, keepdim=keepdim, axis=axis, ddof=ddof, keepdims=keepdims)
    return P.StdSqrt.apply(v), m


def vector_norm(x: Any, ord: Any = 2, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The ``ord``-norm of ``x`` over ``axis`` (all by default), as ``torch.linalg.vector_norm``: the gradient
    at a zero slice is 0 (PyTorch's); no rescaling, so squares may overflow to inf (as PyTorch's)."""
    x = _t(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"norm: needs a float tensor, got dtype {x.dtype}; cast it: x.astype(float)")
    axes = reduction_axes(axis, x.ndim, "norm")
    ord = as_operand(ord)  # numpy numbers as Python's
    ax = x.abs()
    if ord == 2:
        return P.StdSqrt.apply(R.Sum.apply(x * x, axes, keepdims))
    if ord == 1:
        return R.Sum.apply(ax, axes, keepdims)
    if ord in (math.inf, -math.inf):
        if x.size == 0:
            raise ValueError(f"norm: the {ord} norm of an empty tensor (shape {x.shape}) has no value")
        return (R.Max if ord > 0 else R.Min).apply(ax, axes, keepdims)
    if ord == 0:
        return R.Sum.apply(Tensor._wrap(array_call(_nonzero_as_ones, x._data)), axes, keepdims)
    if not isinstance(ord, (int, float)) or isinstance(ord, bool) or ord < 0:
        raise ValueError(f"norm: ord={ord!r} is not a vector norm here; use 0, 1, 2, inf, -inf or a number > 0")
    s = R.Sum.apply(_pow_zero_safe(ax, ord), axes, keepdims)
    return _pow_zero_safe(s, 1.0 / ord)  # a slice of zeros: 0 with gradient 0 (PyTorch's), not 0 * inf


def _nonzero_as_ones(a: Any) -> Any:
    return (a != 0).astype(a.dtype)


def _pow_zero_safe(a: Tensor, p: float) -> Tensor:
    """``a ** p`` for ``a >= 0`` whose derivative is 0 where ``a`` is 0 (where ``p < 1`` makes it inf). While
    ``ag.compile`` traces, always the guarded form (the same numbers where ``a`` is not 0): the branch depends
    on the values."""
    zero = array_call(xp.equal, a._data, 0)
    if state.tracer is None and not zero.any():
        return a**p
    return P.Where.apply(zero, 0.0, P.Where.apply(zero, 1.0, a) ** p)


@op("norm", method=True)
@torch_names
def norm(x: Any, p: Any = "fro", axis: Any = None, keepdims: bool = False, *, dtype: Any = None) -> Tensor:
    """PyTorch's ``norm``: the vector ``p``-norm over ``axis`` (all axes by default, or a tuple of them, as
    PyTorch's with a number ``p``); ``"fro"`` is 2. The nuclear norm is ``ag.linalg.matrix_norm``'s."""
    if dtype is not None:
        x = R.cast(x, dtype)
    if p == "nuc":
        raise ValueError("norm: p='nuc' is a matrix norm; use ag.linalg.matrix_norm(x, 'nuc')")
    return vector_norm(x, 2 if p in ("fro", None) else p, axis, keepdims)


@op("count_nonzero", method=True)
@torch_names
def count_nonzero(x: Any, axis: Any = None) -> Tensor:
    """The number of nonzero elements over ``axis`` (all by default); an int64 tensor, a constant."""
    a = _t(x)._data
    return Tensor._wrap(array_call(_count_nonzero, a, reduction_axes(axis, a.ndim, "count_nonzero")))


def _count_nonzero(a: Any, axis: Any) -> Any:
    return xp.asarray(xp.count_nonzero(a, axis=axis), dtype=xp.int64)
