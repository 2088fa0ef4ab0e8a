"""PyTorch's scatter family and index ops: ``scatter scatter_add scatter_reduce index_select index_add one_hot``.

Composites of getitem, where, the reductions and the indexing derivative ``add_at`` (numpy's ``np.add.at``),
so differentiable to any order, except ``scatter_reduce``'s amax/amin: ``ScatterExtreme`` declares its
derivative because its ties must share the gradient equally (as PyTorch's), which a composite cannot say
without a mask over padded slots that may tie too.
"""

from __future__ import annotations

from typing import Any

from .. import numpy as anp
from .._backend import xp
from ..function import Function, op
from ..grad_mode import array_call, state
from ..shapes import normalize_axes
from ..tensor import Tensor, as_array, as_operand
from . import primitives as P
from . import reductions as R
from .indexing import _along, _check_range, _indices

__all__ = ["scatter", "scatter_add", "scatter_reduce", "index_select", "index_add", "one_hot", "ScatterExtreme"]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


def _targets(op: str, x: Tensor, dim: int, index: Any, src: Any) -> tuple[int, Any, Any, Any]:
    """Check PyTorch's scatter rules; return (dim, the index array, the flat positions it names in ``x``,
    ``src`` cut to ``index``'s shape)."""
    idx = _indices(op, index)
    src_shape = xp.shape(src._data if isinstance(src, Tensor) else src) if src is not None else idx.shape
    if not idx.ndim == x.ndim == len(src_shape):
        raise ValueError(f"{op}: index {idx.shape}, input {x.shape} and src {src_shape} must have as many dims")
    dim = normalize_axes(dim, max(x.ndim, 1), op)[0]
    if x.ndim == 0:
        _check_range(op, idx, 1, 0, negative_ok=False)
        return dim, idx, xp.zeros(idx.size, dtype=xp.intp), src
    if any(i > s for i, s in zip(idx.shape, src_shape)) or any(
            i > n for d, (i, n) in enumerate(zip(idx.shape, x.shape)) if d != dim):
        raise ValueError(f"{op}: index of shape {idx.shape} must be no larger than src {src_shape} anywhere and "
                         f"than input {x.shape} outside dim {dim}")
    _check_range(op, idx, x.shape[dim], dim, negative_ok=False)
    flat = array_call(_flat_targets, idx, dim, x.shape)  # ag.compile computes it again on each replay
    if src is not None and isinstance(src, Tensor) and src.shape != idx.shape:
        src = P.GetItem.apply(src, index=tuple(slice(0, n) for n in idx.shape))
    return dim, idx, flat, src


def _flat_targets(idx: Any, dim: int, shape: tuple) -> Any:
    """The flat positions in an array of ``shape`` that ``idx`` names along ``dim`` (scatter's rule)."""
    if not idx.size:
        return xp.zeros(0, dtype=xp.intp)
    return xp.ravel_multi_index(xp.broadcast_arrays(*_along(idx.shape, idx, dim, idx.shape)), shape).reshape(-1)


def _written(flat: Any, size: int) -> Any:
    """Which of ``size`` flat positions ``flat`` names."""
    written = xp.zeros(size, dtype=bool)
    written[flat] = True
    return written


def _counts(flat: Any, size: int, include_self: bool, dtype: Any) -> Any:
    """How many values reach each position (at least 1): scatter_reduce's mean divides by it."""
    return xp.maximum(xp.bincount(flat, minlength=size) + bool(include_self), 1).astype(dtype)


def _like(op: str, x: Tensor, src: Any, name: str = "src") -> Tensor:
    """``src`` as a Tensor of ``x``'s dtype. A Tensor must have it already (PyTorch's rule: numpy's promotion
    would change the result's dtype, and amax/amin would cut a float src into an integer ``x``); an array or a
    list is cast, as a number is, where numpy's same-kind rule allows."""
    given = src._data if isinstance(src, Tensor) else xp.asarray(src)
    if given.dtype != x.dtype and (isinstance(src, Tensor) or not xp.can_cast(given.dtype, x.dtype, "same_kind")):
        raise TypeError(f"{op}: {name} has dtype {given.dtype} but the tensor it is written into has dtype "
                        f"{x.dtype}; they must match (PyTorch's rule): convert one, {name}.astype('{x.dtype}') "
                        f"or x.astype('{given.dtype}')")
    return src if isinstance(src, Tensor) else Tensor._wrap(given.astype(x.dtype, copy=False))


def _flat(v: Any) -> Tensor:
    return _t(v).reshape(-1)


@op("scatter_add", method=True)
def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's ``scatter_add``: ``x`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (``dim`` 0);
    repeated indices add up. ``index`` has ``x``'s dims, no larger than ``src``, nor ``x`` off ``dim``."""
    x = _t(x)
    _, _, flat, src = _targets("scatter_add", x, dim, index, _like("scatter_add", x, src))
    return x + P.ScatterAdd.apply(_flat(src), shape=(x.size,), index=flat).reshape(x.shape)


@op("scatter", method=True)
def scatter(x: Any, dim: int, index: Any, src: Any = None, *, value: Any = None, reduce: Any = None) -> Tensor:
    """PyTorch's ``scatter``: ``x`` with ``src[i][j]`` written at ``[index[i][j]][j]`` (``dim`` 0); ``src``
    may be a number (or give ``value=``). Where indices repeat the last write wins (PyTorch's CPU order;
    PyTorch calls it undefined), and only that element of ``src`` gets the gradient (PyTorch's gives it to all)."""
    if reduce is not None:
        raise ValueError(f"scatter: reduce={reduce!r} is deprecated in PyTorch; use ag.scatter_reduce(x, dim, index, "
                         "src, 'sum' or 'prod')")
    if (src is None) == (value is None):
        raise TypeError("scatter: give src (a tensor or a number) or value=, one of them")
    x = _t(x)
    number = src is None or not isinstance(src, (Tensor, xp.ndarray, list))
    fill = (src if value is None else value) if number else None
    _, idx, flat, src = _targets("scatter", x, dim, index, None if number else _like("scatter", x, src))
    if state.tracer is not None:  # which writes are last: as many as distinct targets
        state.tracer.shape_from_values("scatter", "Use scatter_add (to zeros) or one_hot", idx)
    last = flat.size - 1 - xp.unique(flat[::-1], return_index=True)[1]  # each target's last write
    vals = xp.full(last.size, fill, dtype=x.dtype) if number else _flat(src)[last]
    written = xp.zeros(x.size, dtype=bool)
    written[flat] = True
    put = P.ScatterAdd.apply(_t(vals), shape=(x.size,), index=flat[last])
    return P.Where.apply(written, put, x.reshape(-1)).reshape(x.shape)


_REDUCE = ("sum", "prod", "mean", "amax", "amin")


@op("scatter_reduce", method=True)
def scatter_reduce(x: Any, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
    """PyTorch's ``scatter_reduce``: the elements of ``src`` sent to each position of ``x`` (as ``scatter``)
    reduced by ``reduce`` (sum, prod, mean, amax, amin), with ``x``'s own element when ``include_self``.
    Positions no index names keep ``x``. prod with zeros is exact (as ``prod``); amax/amin ties share the
    gradient equally (PyTorch's); an integer mean rounds down (PyTorch's)."""
    if reduce not in _REDUCE:
        raise ValueError(f"scatter_reduce: reduce={reduce!r}; choose one of {', '.join(_REDUCE)}")
    x = _t(x)
    _, idx, flat, src = _targets("scatter_reduce", x, dim, index, _like("scatter_reduce", x, src))
    xf, sf = x.reshape(-1), _flat(src)
    written = array_call(_written, flat, x.size)  # ag.compile computes it again on each replay
    if reduce in ("amax", "amin"):
        out = ScatterExtreme.apply(xf, sf, targets=flat, reduce=reduce, include_self=bool(include_self))
    elif reduce == "prod":
        if state.tracer is not None:  # a row per distinct target
            state.tracer.shape_from_values("scatter_reduce 'prod'", "Use exp of a 'sum' of logs where the "
                                           "values are positive", idx)
        out = P.Where.apply(written, P.ScatterAdd.apply(_group_prod(xf, sf, flat, include_self), shape=(x.size,),
                                                        index=xp.unique(flat)), xf)
    else:
        total = P.ScatterAdd.apply(sf, shape=(x.size,), index=flat)
        if include_self:
            total = total + xf
        if reduce == "mean":
            count = array_call(_counts, flat, x.size, include_self, total.dtype)
            total = Tensor._wrap(array_call(xp.floor_divide, total._data, count)) if total.dtype.kind in "iub" else \
                total / count
        out = total if include_self else P.Where.apply(written, total, xf)
    return out.reshape(x.shape)


def _group_prod(xf: Tensor, sf: Tensor, flat: Any, include_self: bool) -> Tensor:
    """The product of each written position's group, in the order of ``unique(flat)``: the group laid out
    as a row padded with ones, reduced by ``prod`` (exact with zeros, any order)."""
    order = xp.argsort(flat, kind="stable")
    targets, group, counts = xp.unique(flat[order], return_inverse=True, return_counts=True)
    rank = xp.arange(flat.size) - xp.concatenate([[0], xp.cumsum(counts)[:-1]]).astype(xp.intp)[group]
    shape = (targets.size, int(counts.max(initial=0)) + bool(include_self))
    rows = P.ScatterAdd.apply(sf[order], shape=shape, index=(group, rank + bool(include_self)))
    if include_self:
        rows = rows + P.ScatterAdd.apply(xf[targets], shape=shape, index=(xp.arange(targets.size), 0))
    pad = xp.ones(shape, dtype=bool)
    pad[group, rank + bool(include_self)] = False
    if include_self:
        pad[:, 0] = False
    return R.Prod.apply(P.Where.apply(pad, xp.ones((), dtype=rows.dtype), rows), 1)


class ScatterExtreme(Function):
    """scatter_reduce amax/amin on flat ``x`` and ``src``: ties (with ``x`` when ``include_self``) share g."""
    formula = ("d scatter_reduce(x, src, amax)/dsrc: g[target] / ties where src equals its result, else 0; "
               "d/dx: the same for x where included, g where nothing was written")
    op_name = "scatter_reduce"

    @staticmethod
    def forward(ctx, x, src, *, targets, reduce, include_self):
        fn = xp.maximum if reduce == "amax" else xp.minimum
        written = xp.zeros(x.shape, dtype=bool)
        written[targets] = True
        out = x.copy()
        if not include_self and targets.size:
            written_once, first = xp.unique(targets, return_index=True)
            out[written_once] = src[first]
        fn.at(out, targets, src)
        tie_src = src == out[targets]
        tie_x = (x == out) & written if include_self else xp.zeros(x.shape, dtype=bool)
        ties = xp.bincount(targets[tie_src], minlength=x.size) + tie_x
        ctx.save_for_backward(written, tie_src, tie_x, xp.maximum(ties, 1).astype(out.dtype))
        return out

    @staticmethod
    def backward(ctx, g):
        written, tie_src, tie_x, ties = ctx.saved_tensors
        targets = ctx.params["targets"]
        share = g / ties
        return anp.where(tie_x | ~written, share, 0.0), anp.where(tie_src, share[targets], 0.0)


@op("index_select", method=True)
def index_select(x: Any, dim: int, index: Any) -> Tensor:
    """The slices ``index`` (a vector of ints) along ``dim`` (PyTorch's ``index_select``, numpy's ``take``)."""
    x = _t(x)
    idx = _indices("index_select", index)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be a vector, got shape {idx.shape}")
    idx = idx if idx.ndim == 1 else array_call(xp.reshape, idx, -1)  # ag.compile reshapes on each replay
    if x.ndim == 0:
        _check_range("index_select", idx, 1, 0, negative_ok=False)
        normalize_axes(dim, 1, "index_select")
        return P.GetItem.apply(x.reshape(1), index=idx).reshape(idx.shape)
    d = normalize_axes(dim, x.ndim, "index_select")[0]
    _check_range("index_select", idx, x.shape[d], d, negative_ok=False)
    return P.GetItem.apply(x, index=(slice(None),) * d + (idx,))


@op("index_add", method=True)
def index_add(x: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
    """``x`` with ``alpha * source[..., i, ...]`` added to slice ``index[i]`` along ``dim`` (repeats add up)."""
    x = _t(x)
    source = _like("index_add", x, source, "source")
    idx = _indices("index_add", index)
    idx = idx if idx.ndim == 1 else array_call(xp.reshape, idx, -1)  # ag.compile reshapes on each replay
    d = normalize_axes(dim, max(x.ndim, 1), "index_add")[0]
    want = x.shape[:d] + (idx.size,) + x.shape[d + 1:] if x.ndim else (idx.size,) * bool(idx.ndim)
    if source.shape != want and not (x.ndim == 0 and source.size == idx.size == 1):
        raise ValueError(f"index_add: source of shape {source.shape} must be {want} (input {x.shape} with dim {d} "
                         f"the length of index, {idx.size})")
    _check_range("index_add", idx, x.shape[d] if x.ndim else 1, d, negative_ok=False)
    alpha = as_operand(alpha)
    if x.dtype.kind in "biu" and isinstance(alpha, float):
        raise TypeError(f"index_add: alpha {alpha!r} is a float but the tensor has dtype {x.dtype}; give an int "
                        f"alpha, or convert: x.astype(float) (PyTorch's add refuses it too)")
    if alpha != 1:
        source = source * alpha
    if x.ndim == 0:
        return x + source.sum()
    return x + P.ScatterAdd.apply(source, shape=x.shape, index=(slice(None),) * d + (idx,))


@op("one_hot")
def one_hot(x: Any, num_classes: int = -1) -> Tensor:
    """PyTorch's ``F.one_hot``: int64 with a new last axis of ``num_classes`` (-1: ``max + 1``); a constant."""
    a = _t(x)._data
    if a.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class indices must be integers, got dtype {a.dtype}; convert: x.astype(int)")
    if num_classes == -1:
        if not a.size:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; give num_classes=")
        if state.tracer is not None:
            state.tracer.shape_from_values("one_hot without num_classes", "Give num_classes", a)
        num_classes = int(a.max()) + 1
    _check_range("one_hot", a, num_classes, -1, negative_ok=False)
    return Tensor._wrap(array_call(_one_hot, a, num_classes))  # ag.compile computes it again on each replay


def _one_hot(a: Any, num_classes: int) -> Any:
    return (a[..., None] == xp.arange(num_classes)).astype(xp.int64)
