"""numpy's functions that also take Tensors: the vocabulary derivatives are written in.

``from autograd_mini import numpy as anp`` (HIPS autograd's ``autograd.numpy``, the same idea). On
ndarrays each function is the op's numpy forward alone (an ndarray, no node: a plain backward runs at
numpy's speed); given a Tensor it is the recorded op (under ``create_graph`` the same derivative is then
differentiated again). Every op declared with ``@op`` appears here under its name, built-ins and
users' alike (``anp.exp``, ``anp.where``, ``anp.softmax``, ...), so a derivative written with
operators, the methods ndarrays and Tensors share (``sum``, ``reshape``, ``swapaxes``, ``astype``,
...) and ``anp.*`` serves both modes.

The few functions below are not ops: piecewise-constant or shape-only helpers that are constants in
both modes.
"""

from __future__ import annotations

from typing import Any

from ._backend import xp
from .grad_mode import array_call
from .tensor import Tensor

__all__ = ["sign", "zeros_like", "ones_like"]


def _constant(f: Any, x: Any) -> Any:
    """``f`` of ``x``'s array, in kind: a Tensor that carries no graph for a Tensor (made by ``array_call``, so
    that a program ``ag.compile`` traces computes it again on each replay)."""
    if isinstance(x, Tensor):
        return Tensor._wrap(array_call(f, x._data))
    return f(x)


def sign(x: Any) -> Any:
    """Elementwise sign: piecewise constant, so never differentiated (a constant in both modes)."""
    return _constant(xp.sign, x)


def zeros_like(x: Any) -> Any:
    """Zeros of ``x``'s shape and dtype, a constant in both modes."""
    return _constant(xp.zeros_like, x)


def ones_like(x: Any) -> Any:
    """Ones of ``x``'s shape and dtype, a constant in both modes."""
    return _constant(xp.ones_like, x)
