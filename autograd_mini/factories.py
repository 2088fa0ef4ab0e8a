"""Tensor factories and the global random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import xp
from .shapes import shape_arg
from .tensor import Tensor, as_array, get_default_dtype

__all__ = ["tensor", "as_tensor", "zeros", "ones", "zeros_like", "ones_like", "arange", "randn", "rand", "manual_seed",
           "get_generator", "Seed"]

Seed = int | np.random.Generator | None  # what every ``seed=`` argument takes

_global_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the global generator used by ``randn``/``rand`` (and by ``nn`` init, dropout, shuffling)."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)


def get_generator(seed: Seed = None) -> np.random.Generator:
    """The Generator a ``seed=`` argument means: a new one from an int, the given Generator, or for None
    the global one (``ag.manual_seed``)."""
    if seed is None:
        return _global_rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")


def _dtype(dtype: Any) -> Any:
    return get_default_dtype() if dtype is None else xp.dtype(dtype)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data``, as ``torch.tensor``.

    Python floats become the default dtype (float32); numpy arrays and numpy scalars keep
    theirs (``ag.tensor(np.float64(0.1))`` is float64). Never shares memory with ``data``
    (an ndarray or a Tensor): use ``as_tensor`` for that.
    """
    src = data._data if isinstance(data, Tensor) else data
    arr = as_array(src, dtype)
    if isinstance(src, xp.ndarray) and xp.may_share_memory(arr, src):
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad, name=name)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a Tensor without copying when it can (as ``torch.as_tensor``): an ndarray of the
    right dtype is shared, so writes to either show in both; a Tensor of the right dtype is returned
    as it is."""
    if isinstance(data, Tensor) and (dtype is None or xp.dtype(dtype) == data.dtype):
        return data
    return Tensor(as_array(data, dtype))


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(xp.zeros(shape_arg(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(xp.ones(shape_arg(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = as_array(t)
    return Tensor(xp.zeros(a.shape, dtype=dtype or a.dtype), requires_grad=requires_grad)


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = as_array(t)
    return Tensor(xp.ones(a.shape, dtype=dtype or a.dtype), requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Like ``np.arange``; integer arguments give an int64 tensor, float ones the default dtype."""
    a = xp.arange(start, stop, step) if stop is not None else xp.arange(start)
    if dtype is not None or a.dtype.kind == "f":
        a = a.astype(_dtype(dtype))
    return Tensor(a, requires_grad=requires_grad)


def randn(*shape: Any, seed: Seed = None, dtype: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``seed`` (an int or Generator) or the global generator."""
    a = get_generator(seed).standard_normal(shape_arg(shape)).astype(_dtype(dtype))
    return Tensor(a, requires_grad=requires_grad)


def rand(*shape: Any, seed: Seed = None, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    a = get_generator(seed).random(shape_arg(shape)).astype(_dtype(dtype))
    return Tensor(a, requires_grad=requires_grad)
