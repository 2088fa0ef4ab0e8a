"""Indexing and selection composites: ``take_along_axis`` / ``gather``, ``masked_fill``, ``repeat``,
``tile``, ``topk``, and the integer results ``argmax`` / ``argmin``.

No derivative code here: each is built from getitem (whose derivative scatter-adds, so repeated
indices accumulate), where, reshape and broadcast_to, which also makes them twice differentiable.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backend import xp
from ..function import op
from ..grad_mode import array_call, state
from ..shapes import AxisError, one_axis
from ..tensor import Tensor, as_array, as_operand
from . import primitives as P

__all__ = ["take_along_axis", "gather", "masked_fill", "repeat", "repeat_interleave", "tile", "argmax", "argmin",
           "topk", "TopK", "sort_order"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


def _indices(op: str, index: Any) -> Any:
    idx = xp.asarray(index._data if isinstance(index, Tensor) else index)
    if idx.size and idx.dtype.kind not in "iu":  # an empty list is float64 to numpy: allowed
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    return idx.astype(xp.intp, copy=False)


def _check_range(op: str, idx: Any, n: int, axis: int, negative_ok: bool) -> None:
    if not idx.size:
        return
    lo = -n if negative_ok else 0
    if idx.min() < lo or idx.max() >= n:
        bad = idx[(idx < lo) | (idx >= n)].ravel()[:5].tolist()
        raise IndexError(f"{op}: index {bad} out of range for axis {axis} of size {n}")


@op("take_along_axis")
def take_along_axis(x: Any, indices: Any, axis: int | None) -> Tensor:
    """numpy's ``take_along_axis``: pick ``x[..., indices[..., j, ...], ...]`` along ``axis``;
    ``indices`` has ``x``'s number of axes and broadcasts with it on the others (``axis=None``: flat)."""
    x = _t(x)
    idx = _indices("take_along_axis", indices)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} must have as many axes as x {x.shape}")
    axis = one_axis(axis, x.ndim, "take_along_axis")
    _check_range("take_along_axis", idx, x.shape[axis], axis, negative_ok=True)
    for d in range(x.ndim):
        if d != axis and 1 not in (x.shape[d], idx.shape[d]) and x.shape[d] != idx.shape[d]:
            raise ValueError(f"take_along_axis: indices of shape {idx.shape} do not broadcast with x of shape "
                             f"{x.shape} outside axis {axis}")
    return P.GetItem.apply(x, index=_along(x.shape, idx, axis, x.shape))


@op("gather", method=True)
def gather(x: Any, dim: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j][k] = x[index[i][j][k]][j][k]`` along ``dim`` (here 0).

    ``index`` has ``x``'s number of axes, no larger than ``x`` off ``dim``; the output has its shape.
    """
    x = _t(x)
    idx = _indices("gather", index)
    if idx.ndim != x.ndim:
        raise ValueError(f"gather: index of shape {idx.shape} must have as many axes as input {x.shape}")
    dim = one_axis(dim, max(x.ndim, 1), "gather", "dim")
    if x.ndim == 0:
        _check_range("gather", idx, 1, 0, negative_ok=False)
        return P.GetItem.apply(x, index=())
    if any(d != dim and idx.shape[d] > x.shape[d] for d in range(x.ndim)):
        raise ValueError(f"gather: index of shape {idx.shape} is larger than input {x.shape} outside dim {dim}")
    _check_range("gather", idx, x.shape[dim], dim, negative_ok=False)
    return P.GetItem.apply(x, index=_along(x.shape, idx, dim, idx.shape))


def _along(shape: tuple, idx: Any, axis: int, ranges: tuple) -> tuple:
    """The fancy index that takes ``idx`` along ``axis``, and ``arange(ranges[d])`` on the other axes
    (a size-1 axis of the input takes 0 everywhere, which broadcasts)."""
    out = []
    for d in range(len(shape)):
        if d == axis:
            out.append(idx)
        else:
            n = 1 if shape[d] == 1 else ranges[d]
            out.append(xp.arange(n).reshape((-1,) + (1,) * (len(shape) - d - 1)))
    return tuple(out)


@op("masked_fill", method=True)
def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """``x`` with ``value`` where ``mask`` is True (PyTorch's ``masked_fill``); ``mask`` broadcasts to ``x``."""
    x = _t(x)
    m = xp.asarray(mask._data if isinstance(mask, Tensor) else mask)
    if m.dtype != bool:
        raise TypeError(f"masked_fill: mask must be bool, got dtype {m.dtype}")
    try:
        shape = xp.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        shape = None
    if shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast to x of shape {x.shape}")
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
    if not isinstance(value, Tensor):
        value = xp.asarray(value, dtype=x.dtype)
    elif value.dtype != x.dtype:  # the result keeps x's dtype, as PyTorch's (a float64 value into float32 x)
        value = value.astype(x.dtype)
    return P.Where.apply(m, value, x)


@op("repeat")  # Tensor.repeat is PyTorch's (tile): pytorch_names.py
def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """numpy's ``repeat``: each element ``repeats`` times along ``axis`` (flattened when None);
    ``repeats`` is an int or one count per element. (PyTorch's ``Tensor.repeat`` is ``tile``.)"""
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = one_axis(axis, x.ndim, "repeat")
    n = x.shape[axis]
    r = xp.asarray(repeats._data if isinstance(repeats, Tensor) else repeats)
    if r.dtype.kind not in "iu" or r.ndim > 1 or (r.ndim == 1 and r.size not in (1, n)) or (r < 0).any():
        raise ValueError(f"repeat: repeats must be a non-negative int or {n} of them, got {repeats!r}")
    if state.tracer is not None:
        state.tracer.shape_from_values("repeat by counts in an array", "Pass the counts as Python ints", r)
    if r.ndim == 1 and r.size == n:
        return P.GetItem.apply(x, index=(slice(None),) * axis + (xp.repeat(xp.arange(n), r),))
    k = int(r.reshape(-1)[0]) if r.ndim else int(r)
    wide = x.shape[:axis + 1] + (1,) + x.shape[axis + 1:]
    spread = P.BroadcastTo.apply(P.Reshape.apply(x, shape=wide), shape=x.shape[:axis + 1] + (k,) + x.shape[axis + 1:])
    return P.Reshape.apply(spread, shape=x.shape[:axis] + (n * k,) + x.shape[axis + 1:])


@op("repeat_interleave")
def repeat_interleave(x: Any, repeats: Any, dim: int | None = None) -> Tensor:
    """PyTorch's name for numpy's ``repeat``."""
    return repeat(x, repeats, dim)


@op("tile", method=True)
def tile(x: Any, reps: Any) -> Tensor:
    """numpy's ``tile`` (PyTorch's ``Tensor.repeat(*sizes)``): ``x`` repeated ``reps[d]`` times along axis d."""
    x = _t(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in reps):
        raise ValueError(f"tile: reps must be non-negative ints, got {reps!r}")
    nd = max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + x.shape
    wide = tuple(v for n in shape for v in (1, n))
    spread = P.BroadcastTo.apply(P.Reshape.apply(x, shape=wide), shape=tuple(v for r, n in zip(reps, shape)
                                                                              for v in (r, n)))
    return P.Reshape.apply(spread, shape=tuple(r * n for r, n in zip(reps, shape)))


@op("argmax", method=True)
def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest value (the first at ties, nan counts as largest); an int64 tensor, no gradient."""
    return _arg(xp.argmax, "argmax", x, axis, keepdims)


@op("argmin", method=True)
def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value (the first at ties); an int64 tensor, no gradient."""
    return _arg(xp.argmin, "argmin", x, axis, keepdims)


def _arg(fn: Any, op: str, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    a = _t(x)._data
    if a.ndim == 0:
        try:
            if axis is not None:
                one_axis(axis, 1, op)  # 0 or -1, as PyTorch's
        except AxisError:
            raise AxisError(f"{op}: axis {axis} is out of bounds for a 0-d tensor (valid: 0, -1 or None)") from None
        return Tensor._wrap(xp.asarray(0, dtype=xp.int64))
    if axis is not None:
        axis = one_axis(axis, a.ndim, op)
    if (a.size == 0 and axis is None) or (axis is not None and a.shape[axis] == 0):
        raise ValueError(f"{op}: empty input of shape {a.shape} has no {op[3:]}imum")
    return Tensor._wrap(array_call(_int64, fn, a, axis, keepdims))


def _int64(fn: Any, a: Any, axis: int | None, keepdims: bool) -> Any:
    return xp.asarray(fn(a, axis=axis, keepdims=keepdims), dtype=xp.int64)


def sort_order(a: Any, axis: int, descending: bool) -> Any:
    """The stable sorting permutation along ``axis``, nan as larger than any number (last ascending, first
    descending), as PyTorch's sort; ties keep their order."""
    a = a if a.dtype.kind in "fc" else a.astype(xp.int64)
    nan = xp.isnan(a) if a.dtype.kind == "f" else xp.zeros(a.shape, dtype=bool)
    key = xp.where(nan, 0, -a if descending else a)
    return xp.lexsort((key, ~nan if descending else nan), axis=axis)


class TopK(NamedTuple):
    values: Tensor
    indices: Tensor


@op("topk", method=True)
def topk(x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> TopK:
    """The ``k`` largest (``largest=False``: smallest) values along ``axis`` and their indices,
    as PyTorch's ``topk``. Ties keep the lower index first; nan counts as larger than any number.
    The values are differentiable (gradient to the chosen positions); the indices are int64."""
    x = _t(x)
    if x.ndim == 0:
        v, i = topk(x.reshape(1), k, one_axis(axis, 1, "topk"), largest, sorted)
        return TopK(v.reshape(()), i.reshape(()))
    axis = one_axis(axis, x.ndim, "topk")
    n = x.shape[axis]
    k = as_operand(k)  # a numpy int is an int
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} must be an int in [0, {n}] for axis {axis} of shape {x.shape}")
    idx = array_call(_first_k, x._data, k, axis, largest)  # ag.compile sorts again on each replay
    return TopK(take_along_axis(x, idx, axis), Tensor._wrap(idx))


def _first_k(a: Any, k: int, axis: int, largest: bool) -> Any:
    return xp.take(sort_order(a, axis, descending=largest), xp.arange(k), axis=axis).astype(xp.int64)
