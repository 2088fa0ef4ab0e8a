"""PyTorch's names for the array ops: ``permute``, ``unsqueeze``, ``cat``, ``clamp``, ``expand``, ``view``,
PyTorch's ``repeat`` (numpy's ``tile``), ``flatten(start_dim, end_dim)``, ``mT``, and ``dim=``/``keepdim=``
beside numpy's ``axis=``/``keepdims=``.

Composites of the numpy-named ops: no derivative code here. Where a name means different things in
numpy and PyTorch the choice is written in docs/ops.md, with the example.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..function import OPS, op
from ..shapes import one_axis, shape_arg
from ..tensor import Tensor, as_array

# A PyTorch spelling whose numpy twin has another default or meaning: the call is refused with the fix.
_AMBIGUOUS = {
    "var": "PyTorch's var(dim=...) is the unbiased estimate (correction=1), numpy's and ours ddof=0; say which: "
           "var(x, dim=1, correction=1), or var(x, axis=1) for ddof=0",
    "std": "PyTorch's std(dim=...) is the unbiased estimate (correction=1), numpy's and ours ddof=0; say which: "
           "std(x, dim=1, correction=1), or std(x, axis=1) for ddof=0",
    "split": "PyTorch's split(x, 2, dim) cuts pieces of size 2, numpy's (ours) split(x, 2, axis) 2 equal pieces; "
             "give the split points instead, split(x, [2, 4], axis=0), or use chunk sizes with ag.split(x, "
             "list(range(2, n, 2)), axis=...)",
}


def torch_names(fn: Callable) -> Callable:
    """Let ``fn`` (a numpy-named op) take PyTorch's ``dim=``/``keepdim=`` (and ``correction=`` for ddof)."""
    name = fn.__name__
    why = _AMBIGUOUS.get(name)

    @functools.wraps(fn)
    def accept(*args: Any, **kw: Any) -> Any:
        if kw:
            if "dim" in kw and why and not ({"correction", "ddof"} & kw.keys()):
                raise TypeError(f"{name}: {why}")
            for torch_name, numpy_name in (("dim", "axis"), ("keepdim", "keepdims"), ("correction", "ddof")):
                if torch_name in kw:
                    if numpy_name in kw:
                        raise TypeError(f"{name}: give {numpy_name}= or {torch_name}=, not both")
                    kw[numpy_name] = kw.pop(torch_name)
        return fn(*args, **kw)

    return accept


# The ops (and Tensor methods) that take dim=/keepdim= through ``torch_names``.
TORCH_NAMED = ("sum", "mean", "max", "min", "var", "std", "logsumexp", "prod", "cumsum", "softmax", "log_softmax",
               "argmax", "argmin", "squeeze", "concatenate", "stack", "split", "topk", "any", "all")


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


@op("permute", method=True)
def permute(x: Any, *args: Any, dims: Any = None) -> Tensor:
    """PyTorch's ``permute``: axis ``dims[i]`` of ``x`` becomes axis i (numpy's ``transpose(x, axes)``);
    ``x.permute(2, 0, 1)``, ``permute(x, (2, 0, 1))`` or ``permute(x, dims=(2, 0, 1))``."""
    x = _t(x)
    if args and dims is not None:
        raise TypeError("permute: give the dims once, positionally or as dims=")
    dims = shape_arg(args if dims is None else (dims,))
    if len(dims) != x.ndim:
        raise ValueError(f"permute: {len(dims)} dims {dims} for a tensor of shape {x.shape} ({x.ndim} dims); "
                         f"name each axis once")
    return x.transpose(dims) if dims else x


@op("unsqueeze", method=True)
def unsqueeze(x: Any, dim: int) -> Tensor:
    """A new axis of size 1 at ``dim`` (in [-ndim-1, ndim]), numpy's ``expand_dims``."""
    return OPS["expand_dims"](x, dim)


@op("cat")
def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """PyTorch's name for ``concatenate`` (along ``dim``, 0 by default); numpy's ``axis=`` works too."""
    if dim is not None and axis is not None:
        raise TypeError("cat: give dim= or axis=, not both")
    return OPS["concatenate"](tensors, dim if dim is not None else 0 if axis is None else axis)


@op("clamp", method=True)
def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """PyTorch's name for ``clip`` (same gradient: to ``x`` where min <= x <= max)."""
    return OPS["clip"](x, min, max)


def expand(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``Tensor.expand``: ``broadcast_to`` where -1 keeps an axis's size (not on new leading axes)."""
    x = _t(x)
    sizes = shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {x.shape}; give at least "
                         f"{x.ndim}")
    if any(s == -1 for s in sizes[:lead]):
        raise ValueError(f"expand: -1 is not allowed for the new leading axes in {sizes} (shape {x.shape})")
    shape = tuple(n if s == -1 else s for s, n in zip(sizes, (None,) * lead + x.shape))
    return x.broadcast_to(shape)


def repeat_torch(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``Tensor.repeat``: ``x`` repeated ``sizes[d]`` times along axis d (numpy's ``tile``),
    with at least as many sizes as axes."""
    x = _t(x)
    sizes = shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat count(s) {sizes} for a tensor of shape {x.shape}; PyTorch's "
                         f"Tensor.repeat needs one per axis ({x.ndim}), or use ag.tile(x, {sizes}) (numpy's rule)")
    return x.tile(sizes)


@op("flatten", method=True)
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim`` through ``end_dim`` (all by default) into one; a 0-d tensor becomes shape (1,)."""
    x = _t(x)
    if x.ndim == 0:
        one_axis(start_dim, 1, "flatten", "start_dim"), one_axis(end_dim, 1, "flatten", "end_dim")
        return x.reshape(1)
    start, end = (one_axis(d, x.ndim, "flatten", name) for d, name in ((start_dim, "start_dim"), (end_dim, "end_dim")))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    n = 1
    for s in x.shape[start:end + 1]:
        n *= s
    return x.reshape(x.shape[:start] + (n,) + x.shape[end + 1:])


def mT(x: Any) -> Tensor:  # noqa: N802  (PyTorch's name)
    """The last two axes swapped (a batch of matrices transposed)."""
    x = _t(x)
    if x.ndim < 2:
        raise ValueError(f"mT: needs at least 2 dims (a matrix), got shape {x.shape}")
    return x.swapaxes(-1, -2)
