"""Functions that take an ndarray or a Tensor and answer in kind.

Derivatives are written with these (and with operators and methods both types share), so
one formula runs on raw arrays in a plain backward and on Tensors under ``create_graph``.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..tensor import Tensor

__all__ = ["exp", "log", "sin", "cos", "sign", "where", "broadcast_to", "swapaxes", "scatter_add", "softmax"]


def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else xp.exp(x)


def log(x: Any) -> Any:
    return x.log() if isinstance(x, Tensor) else xp.log(x)


def sin(x: Any) -> Any:
    return x.sin() if isinstance(x, Tensor) else xp.sin(x)


def cos(x: Any) -> Any:
    return x.cos() if isinstance(x, Tensor) else xp.cos(x)


def sign(x: Any) -> Any:
    return xp.sign(x._data if isinstance(x, Tensor) else x)  # piecewise constant: never differentiated


def where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        from .primitives import Where

        return Where.apply(cond, a, b)
    return xp.where(cond, a, b)


def broadcast_to(x: Any, shape: tuple) -> Any:
    if isinstance(x, Tensor):
        return x.broadcast_to(shape)
    return xp.broadcast_to(x, shape)


def swapaxes(x: Any, a: int, b: int) -> Any:
    return x.swapaxes(a, b)


def scatter_add(g: Any, index: Any, shape: tuple) -> Any:
    """An array of ``shape`` that is zero except ``g`` added at ``index`` (repeats accumulate)."""
    from .primitives import ScatterAdd

    if isinstance(g, Tensor):
        return ScatterAdd.apply(g, shape=shape, index=index)
    return ScatterAdd.forward(None, g, shape=shape, index=index)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``: on an array, the primitive's forward alone (no Tensor, no node)."""
    if isinstance(x, Tensor):
        return x.softmax(axis)
    from ..function import _UNRECORDED
    from .primitives import Softmax

    return Softmax.forward(_UNRECORDED, x, (axis % x.ndim,))
