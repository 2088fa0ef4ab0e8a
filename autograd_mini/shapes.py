"""Shape helpers (a bottom module) shared by the engine and the op table: unbroadcasting and axes.

Each works on ndarrays and on Tensors alike (it uses only methods both have), so
derivatives written with them stay differentiable under ``create_graph``.
"""

from __future__ import annotations

from typing import Any

from numpy.exceptions import AxisError  # an IndexError (PyTorch's kind) and a ValueError (ours before #20)

__all__ = ["sum_to", "normalize_axes", "one_axis", "reduction_axes", "expand_reduced", "shape_arg"]


def sum_to(g: Any, shape: tuple) -> Any:
    """Sum ``g`` over the axes along which ``shape`` was broadcast to ``g.shape``."""
    if g.shape == shape:
        return g
    lead = len(g.shape) - len(shape)
    if g.shape[lead:] == shape:  # only new leading axes (a bias): one reduction straight to ``shape``, no view
        return g.sum(axis=tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape) if lead or g.shape != shape else g


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple:
    """``axis`` (None, int, negative, tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if hasattr(axis, "__index__") else tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not hasattr(a, "__index__") or isinstance(a, bool):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        a = a.__index__()
        if not -ndim <= a < ndim:
            raise AxisError(f"{op}: axis {a} is out of bounds for a tensor of {ndim} dimension(s) "
                            f"(valid: {-ndim} to {ndim - 1})" if ndim else
                            f"{op}: axis {a} is out of bounds for a tensor of 0 dimensions (a 0-d tensor has none)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def one_axis(axis: Any, ndim: int, op: str, name: str = "axis") -> int:
    """``axis`` where exactly one is meant, as a non-negative int: None or a tuple is numpy's TypeError, never a
    silently chosen axis (callers give None its meaning first where numpy has one: flattened)."""
    if axis is None or isinstance(axis, (tuple, list)):
        raise TypeError(f"{op}: {name} must be an int, got {axis!r}")
    return normalize_axes(axis, ndim, op)[0]


def reduction_axes(axis: Any, ndim: int, op: str) -> tuple:
    """A reduction's ``axis`` normalised; a 0-d tensor also takes axis 0 or -1 (or a tuple of them), as
    PyTorch's reductions do: it reduces over no axis (the tensor itself)."""
    if ndim == 0 and axis is not None:
        normalize_axes(axis, 1, op)
        return ()
    return normalize_axes(axis, ndim, op)


def expand_reduced(g: Any, shape: tuple, axes: tuple, keepdims: bool) -> Any:
    """Reshape a reduction's gradient so it broadcasts against the input's ``shape``."""
    if keepdims or not axes:
        return g
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def shape_arg(shape: Any) -> tuple:
    """A shape given as ints or one sequence of ints (``x.reshape(2, 3)`` or ``x.reshape((2, 3))``)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(int(s.__index__()) for s in shape)
    except (AttributeError, TypeError):
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from None
