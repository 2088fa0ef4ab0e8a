"""The op table and the functional op API (``ag.exp(x)``, ``ag.sum(x, axis=1)``, ...).

Each op is declared once, with ``@op(name)``, in the file of its kind: ``primitives`` (arithmetic,
elementwise, shape, indexing, softmax), ``reductions``, ``special``, ``einsum``, ``indexing``
(selection composites), ``conv`` and ``pool`` (images). The composites here are built from
primitives and carry no derivative code of their own. ``ag`` exports every declared op.
"""

from __future__ import annotations

import builtins  # any/all: ag's are ops (logic.py)
import importlib
import math
import pkgutil
from collections.abc import Sequence
from typing import Any

from .._backend import result_type, xp
from .._views import track as track_view
from ..function import OPS, _promoted, op
from ..grad_mode import array_call
from ..shapes import normalize_axes, one_axis, reduction_axes, shape_arg
from ..tensor import Tensor, as_array, as_operand
from . import primitives as P
from . import reductions
from .pytorch_names import TORCH_NAMED, torch_names

for _file in sorted(m.name for m in pkgutil.iter_modules(__path__)):  # each op file declares its ops with @op
    importlib.import_module(f"{__name__}.{_file}")


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


@op("astype", method=True)
def astype(x: Any, dtype: Any) -> Tensor:
    """Cast to ``dtype``; a cast to an integer or bool dtype is not differentiable (a constant, as in PyTorch)."""
    return reductions.cast(x, dtype)


@op("linear")
def linear(x: Any, w: Any, b: Any = None) -> Tensor:
    """``x @ w + b`` (``w`` of shape (in, out)) as one recorded op when shapes allow, else composed."""
    if b is None:
        return P.MatMul.apply(x, w)
    if _ndim(x) >= 2 and _ndim(w) == 2 and _ndim(b) == 1:
        return P.Linear.apply(x, w, b)
    return P.Add.apply(P.MatMul.apply(x, w), b)


def _ndim(x: Any) -> int:
    return x.ndim if isinstance(x, (Tensor, xp.ndarray)) else xp.ndim(x)


@op("pow", method=True)
def pow(base: Any, exponent: Any) -> Tensor:
    """``base ** exponent``; a Python-number exponent takes the cheaper constant-exponent path."""
    exponent = as_operand(exponent)
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        return P.PowConst.apply(base, exponent=exponent)
    return P.Pow.apply(base, exponent)


@op("clip", method=True)
def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """Limit ``x`` to [min, max] (either may be None; numbers, arrays or Tensors).

    Gradient as PyTorch's clamp: to ``x`` where min <= x <= max, bounds included; a bound that
    requires grad gets it where the bound is the result.
    """
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    # PyTorch's promotion over x and both bounds: clip(int64, 1.5) is the default float, not float64
    min, max = (b if b is None or isinstance(b, (int, float, Tensor)) else _t(b) for b in map(as_operand, (min, max)))
    x, min, max = _promoted(True, (_t(x), min, max))
    if builtins.any(isinstance(b, Tensor) and b.requires_grad for b in (min, max)):
        out = _t(x)
        if min is not None:
            out = P.Where.apply(out < min, min, out)
        if max is not None:
            out = P.Where.apply(out > max, max, out)
        return out
    return P.Clip.apply(x, lo=min._data if isinstance(min, Tensor) else min,
                        hi=max._data if isinstance(max, Tensor) else max)


# ---- reductions: sum max min prod logsumexp are ``Reduction``s (reductions.py); these compose them ---------
@op("mean", method=True)
def mean(x: Any, axis: Any = None, keepdims: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean over ``axis``; ``dtype`` casts ``x`` first (PyTorch's and numpy's ``dtype=``)."""
    x = _t(x) if dtype is None else reductions.cast(x, dtype)
    axes = reduction_axes(axis, x.ndim, "mean")
    n = math.prod(x.shape[a] for a in axes)
    return reductions.Sum.apply(x, axes, keepdims) * (1.0 / n if n else math.nan)


@op("var", method=True)
def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance, numpy's definition (``ddof=0``): mean of squared deviations. With no degrees of freedom
    left (``ddof >= n``) the sum is divided by 0: inf, or nan where it is 0 (numpy's and PyTorch's)."""
    x = _t(x)
    axes = reduction_axes(axis, x.ndim, "var")
    n = math.prod(x.shape[a] for a in axes)
    d = x - mean(x, axes, keepdims=True)
    return reductions.Sum.apply(d * d, axes, keepdims) * (1.0 / (n - ddof) if n > ddof else math.inf)


@op("std", method=True)
def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation (numpy's ``ddof``); its gradient is 0 where it is 0, as PyTorch's."""
    return P.StdSqrt.apply(var(x, axis, keepdims, ddof))


@op("cumsum", method=True)
def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Running sum along ``axis`` (numpy's: ``None`` runs over the flattened tensor)."""
    x = _t(x)
    if axis is None:
        return reductions.CumSum.apply(x.reshape(-1), axis=0)
    if x.ndim == 0:  # PyTorch allows dim 0 / -1 on a 0-d tensor: the tensor itself
        one_axis(axis, 1, "cumsum")
        return reductions.CumSum.apply(x.reshape(1), axis=0).reshape(())
    return reductions.CumSum.apply(x, axis=one_axis(axis, x.ndim, "cumsum"))


# ---- shape --------------------------------------------------------------------------
@op("reshape", method=True)
def reshape(x: Any, *shape: Any) -> Tensor:
    """Reshape (one ``-1`` is inferred); ``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
    return reshaped("reshape", x, shape)


def reshaped(op: str, x: Any, shape: Any) -> Tensor:
    """``reshape`` (or PyTorch's ``view``, named ``op`` in errors), the shape checked as PyTorch checks it."""
    x = _t(x)
    shape = shape_arg(shape)
    inferred = [i for i, n in enumerate(shape) if n == -1]
    if len(inferred) > 1 or builtins.any(n < -1 for n in shape):
        why = "only one dimension can be inferred (-1)" if len(inferred) > 1 else "sizes must be >= 0, or -1"
        raise ValueError(f"{op}: shape {list(shape)} is invalid: {why}")
    known = math.prod(n for n in shape if n != -1)
    if (known != x.size) if not inferred else (known == 0 or x.size % known):
        raise ValueError(f"{op}: shape {list(shape)} is invalid for input of size {x.size} (shape {x.shape})")
    return P.Reshape.apply(x, shape=shape)


@op("transpose", method=True)
def transpose(x: Any, *axes: Any) -> Tensor:
    """Permute axes (reversed when none or None are given), like ``ndarray.transpose``."""
    x = _t(x)
    axes = shape_arg(axes) if axes and axes != (None,) else tuple(range(x.ndim))[::-1]  # None: numpy's reversal
    if len(axes) != x.ndim:
        swap = (f"; PyTorch's transpose(x, {axes[0]}, {axes[1]}) swaps two axes: ag.swapaxes(x, {axes[0]}, "
                f"{axes[1]}) here (numpy's transpose permutes them all)") if len(axes) == 2 else ""
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape "
                         f"{x.shape}{swap}")
    axes = tuple(normalize_axes(a, x.ndim, "transpose")[0] for a in axes)  # out of range: an IndexError
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return P.Transpose.apply(x, axes=axes)


@op("swapaxes", method=True)
def swapaxes(x: Any, a: int, b: int) -> Tensor:
    x = _t(x)
    a, b = (one_axis(i, x.ndim, "swapaxes") for i in (a, b))
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return P.Transpose.apply(x, axes=tuple(perm))


@op("expand_dims", method=True)
def expand_dims(x: Any, axis: Any) -> Tensor:
    x = _t(x)
    if axis is None:
        raise TypeError("expand_dims: axis must be an int or a tuple of ints, got None")
    axes = normalize_axes(axis, x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1), "expand_dims")
    shape = iter(x.shape)
    return reshape(x, tuple(1 if i in axes else next(shape) for i in range(x.ndim + len(axes))))


@op("squeeze", method=True)
def squeeze(x: Any, axis: Any = None) -> Tensor:
    x = _t(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {x.shape} has size {x.shape[bad[0]]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def _index_arg(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return xp.asarray(index)
    if isinstance(index, tuple):
        return tuple(_index_arg(i) for i in index)
    return index


_SIMPLE = (int, slice)


@op("getitem")
def getitem(x: Any, index: Any) -> Tensor:
    """numpy indexing: ints, slices, None, Ellipsis, integer arrays, boolean masks."""
    x = _t(x)
    index = _index_arg(index)
    for i in index if isinstance(index, tuple) else (index,):
        if isinstance(i, xp.ndarray) and i.dtype.kind not in "biu":
            raise IndexError(f"getitem: index arrays must be integer or bool, got dtype {i.dtype}; convert it to "
                             "integers: idx.astype(int) (PyTorch's idx.long())")
        if isinstance(i, float):
            raise IndexError(f"getitem: index must be an int, slice or array, got float {i!r}; use int({i!r})")
    out = P.GetItem.apply(x, index=index)
    if out._data.base is not None and (type(index) in _SIMPLE or P._is_basic(index)):  # a view: in-place ops
        # on x refresh it
        track_view(x, out, index)
    return out


@op("concatenate")
def concatenate(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    """Join along an existing ``axis``; ``axis=None`` flattens every tensor first (numpy's rule)."""
    tensors = [_t(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:
        tensors, axis = [reshape(t, -1) for t in tensors], 0
    ax = one_axis(axis, tensors[0].ndim, "concatenate")
    return P.Concatenate.apply(*tensors, axis=ax)


@op("stack")
def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = [_t(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    ax = one_axis(axis, tensors[0].ndim + 1, "stack")
    return concatenate([expand_dims(t, ax) for t in tensors], axis=ax)


@op("split")
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split like ``np.split``: a number of equal sections, or a list of split points."""
    x = _t(x)
    ax = one_axis(axis, x.ndim, "split")
    n = x.shape[ax]
    if hasattr(indices_or_sections, "__index__"):  # an int, a numpy integer, a 0-d integer array
        k = indices_or_sections.__index__()
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into {k} equal sections")
        points = [n // k * i for i in range(1, k)]
    else:
        points = list(indices_or_sections)
    lead = (slice(None),) * ax
    bounds = [0] + points + [n]
    return [getitem(x, lead + (slice(bounds[i], bounds[i + 1]),)) for i in range(len(bounds) - 1)]


_COMPARE = {"less": xp.less, "less_equal": xp.less_equal, "greater": xp.greater,
            "greater_equal": xp.greater_equal, "equal": xp.equal, "not_equal": xp.not_equal}


def _compare(op: str, a: Any, b: Any, floating: Any) -> Any:
    if floating is not None:  # PyTorch compares in the promoted float type: float32 0.1 == float64 0-d 0.1
        a, b = xp.asarray(a, dtype=floating), xp.asarray(b, dtype=floating)
    return xp.asarray(_COMPARE[op](a, b))  # an array, also of 0-d operands (numpy gives a scalar)


@op("compare")
def compare(a: Any, b: Any, op: str) -> Tensor:
    """Elementwise comparison in PyTorch's promoted dtype (integers exactly); a bool tensor, never differentiated."""
    for v in (a, b):
        if v is None or isinstance(v, (str, bytes)):
            raise TypeError(f"{op}: cannot compare a tensor with {type(v).__name__}; compare numbers, arrays or "
                            "tensors (`x is None` tests for None)")
    a_arr = a._data if isinstance(a, Tensor) else as_operand(a)  # a numpy scalar acts as the number it holds
    b_arr = b._data if isinstance(b, Tensor) else as_operand(b)
    dtype = result_type(a_arr, b_arr)
    floating = dtype if dtype.kind in "fc" else None
    try:
        return Tensor._wrap(array_call(_compare, op, a_arr, b_arr, floating))  # compared again on each replay
    except ValueError as e:
        raise ValueError(f"{op}: {e} (shapes {xp.shape(a_arr)} and {xp.shape(b_arr)})") from None


for _name in TORCH_NAMED:  # dim=/keepdim= beside axis=/keepdims=, on ag.<op> and the method
    OPS[_name] = torch_names(OPS[_name])
    if hasattr(Tensor, _name):
        setattr(Tensor, _name, torch_names(getattr(Tensor, _name)))
globals().update(OPS)  # every declared op: ag.exp, ag.sum, ag.conv2d, ...
__all__ = sorted(OPS)
