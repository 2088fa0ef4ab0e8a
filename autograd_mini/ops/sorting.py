"""Sorting and selecting: ``sort argsort median nonzero masked_select``.

The order is computed on the array (a constant, through ``ag.array_call`` so that ``ag.compile`` computes it
again on each replay); values are then picked with ``take_along_axis`` or getitem, so the gradient goes to the
picked elements, to any order. nan sorts as larger than any number (PyTorch's).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backend import xp
from ..function import op
from ..grad_mode import array_call, state
from ..shapes import normalize_axes
from ..tensor import Tensor, as_array
from . import primitives as P
from . import reductions as R
from .indexing import sort_order, take_along_axis

__all__ = ["sort", "argsort", "median", "nonzero", "masked_select", "Sorted"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


class Sorted(NamedTuple):
    """(values, indices), as PyTorch's ``sort``, ``median(dim=)``, ``cummax``, ``cummin`` return."""
    values: Tensor
    indices: Tensor


def _dim(op: str, dim: Any, axis: Any, x: Tensor) -> int:
    if axis is not None:
        dim = axis
    if x.ndim == 0:
        normalize_axes(dim, 1, op)
        return 0
    return normalize_axes(dim, x.ndim, op)[0]


@op("argsort", method=True)
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False, *, axis: Any = None) -> Tensor:
    """Indices that sort ``x`` along ``dim`` (numpy's ``axis=``), int64; always stable (equal values keep
    their order: ``stable`` is accepted for PyTorch's signature). nan sorts last (first when descending)."""
    x = _t(x)
    d = _dim("argsort", dim, axis, x)
    if x.ndim == 0:
        return Tensor._wrap(xp.zeros((), dtype=xp.int64))
    return Tensor._wrap(array_call(_order, x._data, d, descending))


def _order(a: Any, axis: int, descending: bool) -> Any:
    return sort_order(a, axis, descending).astype(xp.int64)


@op("sort", method=True)
def sort(x: Any, dim: int = -1, descending: bool = False, *, stable: bool = False, axis: Any = None) -> Sorted:
    """PyTorch's ``sort``: (values, indices) along ``dim``; stable, nan last (first when descending).
    numpy's ``sort`` returns the values alone: ``ag.sort(x).values``."""
    x = _t(x)
    idx = argsort(x, dim, descending, stable, axis=axis)
    if x.ndim == 0:
        return Sorted(x, idx)
    return Sorted(take_along_axis(x, idx._data, _dim("sort", dim, axis, x)), idx)


@op("median", method=True)
def median(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
    """PyTorch's ``median``: the lower median (element ``(n - 1) // 2`` in sorted order, not numpy's mean of
    the two middle ones). Without ``dim``: the value over all elements, its gradient shared by the elements
    equal to it (PyTorch's). With ``dim``: (values, indices), the gradient to the index. A slice with a nan
    gives nan (and the first nan's index)."""
    x = _t(x)
    keepdim = keepdim if keepdims is None else keepdims
    if dim is None and axis is None:
        flat = x.reshape(-1)
        if flat.size == 0:
            return Tensor._wrap(xp.asarray(xp.nan, dtype=x.dtype if x.dtype.kind == "f" else xp.float64))
        if state.tracer is not None:  # the elements equal to it share the gradient: a count of the values
            state.tracer.shape_from_values("median over all elements", "Take ag.median(x.reshape(-1), 0).values "
                                           "(one element gets the gradient)", flat._data)
        m = median(flat, 0).values._data
        ties = xp.isnan(flat._data) if xp.isnan(m) else flat._data == m  # share the gradient, as PyTorch's
        picked = P.GetItem.apply(flat, index=ties)
        out = R.Sum.apply(picked) * (1.0 / ties.sum()) if xp.isnan(m) else R.Max.apply(picked)
        return out.reshape((1,) * x.ndim) if keepdim else out
    d = _dim("median", dim, axis, x)
    if x.ndim == 0:
        return Sorted(x, Tensor._wrap(xp.zeros((), dtype=xp.int64)))
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"median: dim {d} of shape {x.shape} is empty; there is no median")
    pick = array_call(_median_pick, x._data, d)
    values = take_along_axis(x, pick, d)
    if not keepdim:
        values, pick = values.squeeze(d), array_call(xp.squeeze, pick, d)
    return Sorted(values, Tensor._wrap(pick))


def _median_pick(a: Any, d: int) -> Any:
    """The index of each lower median along ``d`` (kept as a size-1 axis), int64; a slice's first nan if any."""
    pick = xp.take(sort_order(a, d, False), [(a.shape[d] - 1) // 2], axis=d)
    if a.dtype.kind == "f":
        nan = xp.isnan(a)
        pick = xp.where(nan.any(axis=d, keepdims=True), nan.argmax(axis=d, keepdims=True), pick)
    return pick.astype(xp.int64)


@op("nonzero", method=True)
def nonzero(x: Any, *, as_tuple: bool = False) -> Any:
    """PyTorch's ``nonzero``: the indices of the nonzero elements, an int64 (n, ndim) tensor; ``as_tuple=True``
    gives numpy's form, one index vector per axis (a 0-d tensor counts as 1-d there). A constant."""
    a = _t(x)._data
    if state.tracer is not None:
        state.tracer.shape_from_values("nonzero", "Keep the shape: a mask and ag.where", a)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(xp.int64)) for i in xp.nonzero(a.reshape(-1) if a.ndim == 0 else a))
    return Tensor._wrap(xp.argwhere(a).astype(xp.int64))


@op("masked_select", method=True)
def masked_select(x: Any, mask: Any) -> Tensor:
    """The elements of ``x`` where the bool ``mask`` is True, as a vector (both broadcast first);
    numpy's ``x[mask]``. The gradient goes back to those elements."""
    x = _t(x)
    m = xp.asarray(mask._data if isinstance(mask, Tensor) else mask)
    if m.dtype != bool:
        raise TypeError(f"masked_select: mask must be bool, got dtype {m.dtype}; compare first, e.g. mask = x > 0")
    try:
        shape = xp.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        raise ValueError(f"masked_select: mask of shape {m.shape} does not broadcast with x of shape "
                         f"{x.shape}") from None
    if x.shape != shape:
        x = P.BroadcastTo.apply(x, shape=shape)
    return P.GetItem.apply(x, index=xp.broadcast_to(m, shape))
