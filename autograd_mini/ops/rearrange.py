"""Rearranging ops: ``flip roll movedim/moveaxis narrow chunk unbind diag diag_embed`` (``diagonal``, ``trace``:
ops/linalg.py) and
``Tensor.unfold`` (sliding windows).

Composites of getitem, transpose, reshape and the indexing derivative ``add_at``: no derivative code here,
so each is differentiable to any order.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..function import op
from ..shapes import normalize_axes
from ..tensor import Tensor, as_array
from . import primitives as P

__all__ = ["flip", "roll", "movedim", "moveaxis", "narrow", "chunk", "unbind", "diag", "diag_embed", "unfold"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


def _axes(op: str, dims: Any, ndim: int) -> tuple:
    """``dims`` (an int or a sequence) as non-negative axes, in the order given; a 0-d tensor takes 0 / -1."""
    seq = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if ndim == 0:
        normalize_axes(seq, 1, op)
        return ()
    out = tuple(normalize_axes(d, ndim, op)[0] for d in seq)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated dim in {dims!r}")
    return out


@op("flip", method=True)
def flip(x: Any, *args: Any, dims: Any = None, axis: Any = None) -> Tensor:
    """Reverse the order along ``dims`` (a tuple, or ints as ``t.flip(0, 1)``; PyTorch's ``dims=``, numpy's
    ``axis=``); none given: every axis, numpy's default."""
    x = _t(x)
    given = [d for d in (args[0] if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list)))
                         else args or None, dims, axis) if d is not None]
    if len(given) > 1:
        raise TypeError("flip: give the axes once: positionally, as dims= (PyTorch's) or as axis= (numpy's)")
    dims = given[0] if given else None
    axes = range(x.ndim) if dims is None else _axes("flip", dims, x.ndim)
    index = tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(x.ndim))
    return P.GetItem.apply(x, index=index)


@op("roll", method=True)
def roll(x: Any, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along ``dims`` by ``shifts``, wrapping around (PyTorch's ``roll``, numpy's ``roll``);
    ``dims=None`` rolls the flattened tensor and restores the shape."""
    x = _t(x)
    if dims is None:
        if isinstance(shifts, (tuple, list)):
            raise ValueError(f"roll: {len(shifts)} shifts need as many dims (dims=None takes one shift)")
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    axes = _axes("roll", dims, x.ndim)
    if len(shifts) != (len(dims) if isinstance(dims, (tuple, list)) else 1):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for s, d in zip(shifts, axes):
        n = x.shape[d]
        if n:
            x = P.GetItem.apply(x, index=(slice(None),) * d + ((xp.arange(n) - int(s)) % n,))
    return x


@op("movedim", method=True)
def movedim(x: Any, source: Any, destination: Any) -> Tensor:
    """Move axes ``source`` to positions ``destination`` (PyTorch's ``movedim``, numpy's ``moveaxis``)."""
    x = _t(x)
    src, dst = _axes("movedim", source, x.ndim), _axes("movedim", destination, x.ndim)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must name as many axes")
    rest = iter(d for d in range(x.ndim) if d not in src)
    where = dict(zip(dst, src))
    perm = tuple(where[i] if i in where else next(rest) for i in range(x.ndim))
    return P.Transpose.apply(x, axes=perm) if perm != tuple(range(x.ndim)) else x


@op("moveaxis", method=True)
def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """numpy's (and PyTorch's alias) name for ``movedim``."""
    return movedim(x, source, destination)


def _dim(op: str, dim: Any, x: Tensor) -> int:
    if x.ndim == 0:
        raise ValueError(f"{op}: needs at least one dimension, got a 0-d tensor; reshape it first: x.reshape(1)")
    return normalize_axes(dim, x.ndim, op)[0]


@op("narrow", method=True)
def narrow(x: Any, dim: int, start: int, length: int) -> Tensor:
    """Elements ``start`` to ``start + length`` along ``dim`` (a view in PyTorch, a slice here)."""
    x = _t(x)
    d = _dim("narrow", dim, x)
    n = x.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {d} of size {n} (shape {x.shape})")
    start %= n if n else 1
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start {start} + length {length} exceeds dim {d} of size {n} (shape {x.shape})")
    return P.GetItem.apply(x, index=(slice(None),) * d + (slice(start, start + length),))


@op("chunk", method=True)
def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``chunk``: pieces of ``ceil(n / chunks)`` along ``dim`` (the last smaller; maybe fewer pieces)."""
    x = _t(x)
    d = _dim("chunk", dim, x)
    if not hasattr(chunks, "__index__") or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = x.shape[d]
    size = max(-(-n // chunks), 1)
    lead = (slice(None),) * d
    return tuple(P.GetItem.apply(x, index=lead + (slice(i, i + size),)) for i in range(0, n, size)) or (x,)


@op("unbind", method=True)
def unbind(x: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, that axis removed (``tuple(x)`` along any axis)."""
    x = _t(x)
    d = _dim("unbind", dim, x)
    return tuple(P.GetItem.apply(x, index=(slice(None),) * d + (i,)) for i in range(x.shape[d]))


def _diagonal_index(n1: int, n2: int, offset: int) -> tuple:
    """Row and column indices of the ``offset`` diagonal of an (n1, n2) matrix."""
    m = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    i = xp.arange(m)
    return i - min(offset, 0), i + max(offset, 0)


@op("diag_embed", method=True)
def diag_embed(x: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with the last axis of ``x`` on their ``offset`` diagonal, in the new axes ``dim1``, ``dim2``
    of the result (PyTorch's ``diag_embed``); zeros elsewhere."""
    x = _t(x)
    if x.ndim == 0:
        raise ValueError("diag_embed: needs at least 1 dim (the diagonal), got a 0-d tensor")
    d1, d2 = _axes("diag_embed", (dim1, dim2), x.ndim + 1)
    m = x.shape[-1] + abs(offset)
    out = P.ScatterAdd.apply(x, shape=x.shape[:-1] + (m, m), index=(Ellipsis,) + _diagonal_index(m, m, offset))
    return movedim(out, (-2, -1), (d1, d2))


@op("diag", method=True)
def diag(x: Any, diagonal: int = 0) -> Tensor:
    """A vector: the matrix with it on the ``diagonal``; a matrix: its ``diagonal`` (PyTorch's and numpy's)."""
    x = _t(x)
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return P.GetItem.apply(x, index=_diagonal_index(*x.shape, diagonal))
    raise ValueError(f"diag: takes a vector or a matrix, got shape {x.shape}; use ag.diagonal or ag.diag_embed")


def unfold(x: Any, dimension: int, size: int, step: int) -> Tensor:
    """PyTorch's ``Tensor.unfold``: the windows of ``size`` every ``step`` along ``dimension``, as a new last axis."""
    x = _t(x)
    if x.ndim == 0:
        normalize_axes(dimension, 1, "unfold")
        return unfold(x.reshape(1), 0, size, step).reshape(-1)  # PyTorch: shape (size,)
    d = normalize_axes(dimension, x.ndim, "unfold")[0]
    n = x.shape[d]
    if not 0 <= size <= n or step < 1:
        raise ValueError(f"unfold: size {size} must be in [0, {n}] (dim {d} of shape {x.shape}) and step {step} >= 1")
    starts = xp.arange(0, n - size + 1, step)
    windows = P.GetItem.apply(x, index=(slice(None),) * d + (starts[:, None] + xp.arange(size),))
    return movedim(windows, d + 1, -1)


Tensor.unfold = unfold  # PyTorch's is a method only (F.unfold is im2col)
