"""Triangles and grids: ``tril``, ``triu``, ``meshgrid``, composed from ``where`` and ``broadcast_to``."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..function import op
from ..tensor import Tensor, as_array
from . import primitives as P


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


@op("tril", method=True)
def tril(x: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (``j - i <= diagonal``), zeros above; gradient to the triangle."""
    return _triangle("tril", x, diagonal, lower=True)


@op("triu", method=True)
def triu(x: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (``j - i >= diagonal``), zeros below; gradient to the triangle."""
    return _triangle("triu", x, diagonal, lower=False)


def _triangle(op: str, x: Any, diagonal: int, lower: bool) -> Tensor:
    x = _t(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a matrix (at least 2 dims), got shape {x.shape}")
    if not hasattr(diagonal, "__index__") or isinstance(diagonal, bool):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    n, m = x.shape[-2:]
    keep = xp.tri(n, m, int(diagonal), dtype=bool) if lower else ~xp.tri(n, m, int(diagonal) - 1, dtype=bool)
    return P.Where.apply(keep, x, xp.zeros((), x.dtype))  # where, not x * mask: inf above the diagonal still gives 0


@op("meshgrid")
def meshgrid(*tensors: Any, indexing: str | None = None) -> list[Tensor]:
    """Coordinate grids from 1-D tensors, differentiable (each grid is a broadcast of its input).

    ``indexing`` must be named when there are two or more inputs: ``"ij"`` (PyTorch's default: grid k
    varies along axis k) or ``"xy"`` (numpy's default: the first two axes swapped). The two libraries'
    defaults differ, so a silent choice would transpose someone's grid.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [_t(t) for t in tensors]
    if indexing is None and len(ts) > 1:
        raise TypeError("meshgrid: say indexing='ij' (PyTorch's default: grid k varies along axis k) or "
                        "indexing='xy' (numpy's default: the first two axes swapped)")
    if indexing not in (None, "ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    bad = [t.shape for t in ts if t.ndim > 1]
    if bad:
        raise ValueError(f"meshgrid: inputs must be 0-d or 1-d, got shape {bad[0]}")
    ts = [t.reshape(-1) for t in ts]
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for t, a in zip(ts, axes):
        shape[a] = t.shape[0]
    return [t.reshape(tuple(-1 if i == a else 1 for i in range(len(ts)))).broadcast_to(tuple(shape))
            for t, a in zip(ts, axes)]
