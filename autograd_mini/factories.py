"""Tensor factories and the global random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import xp
from .grad_mode import array_call, effect
from .shapes import shape_arg
from .tensor import Tensor, as_array, get_default_dtype

__all__ = ["tensor", "as_tensor", "zeros", "ones", "zeros_like", "ones_like", "arange", "randn", "rand", "manual_seed",
           "get_generator", "Seed", "full", "full_like", "empty", "empty_like", "eye", "linspace", "logspace",
           "randint", "rand_like", "randn_like", "tril_indices", "triu_indices"]

Seed = int | np.random.Generator | None  # what every ``seed=`` argument takes

_global_rng = np.random.default_rng()


@effect  # ag.compile calls it again on each replay, as the draws after it expect
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
    if isinstance(data, Tensor):  # a tensor's values: ag.compile copies them again on each replay
        return Tensor(array_call(_copy, data._data, dtype), requires_grad=requires_grad, name=name)
    return Tensor(_copy(data, dtype), requires_grad=requires_grad, name=name)


def _copy(data: Any, dtype: Any) -> Any:
    arr = as_array(data, dtype)
    return arr.copy() if isinstance(data, xp.ndarray) and xp.may_share_memory(arr, data) else arr


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
    return Tensor(array_call(_draw, seed, "standard_normal", _dtype(dtype), shape_arg(shape)),
                  requires_grad=requires_grad)


def _draw(seed: Seed, method: str, dtype: Any, *args: Any) -> Any:
    """``seed``'s generator's ``method(*args)`` as ``dtype``: through ``ag.array_call`` (drawn again on each
    replay of an ``ag.compile`` program, from the generator of that moment)."""
    return getattr(get_generator(seed), method)(*args).astype(dtype)


def rand(*shape: Any, seed: Seed = None, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    return Tensor(array_call(_draw, seed, "random", _dtype(dtype), shape_arg(shape)), requires_grad=requires_grad)


def _fill_dtype(value: Any, dtype: Any) -> Any:
    """PyTorch's dtype for a fill value: bool stays bool, an int int64, a float the default dtype."""
    if dtype is not None:
        return xp.dtype(dtype)
    if isinstance(value, (bool, np.bool_)):
        return xp.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return xp.dtype(xp.int64)
    if isinstance(value, (float, np.floating)):
        return get_default_dtype()
    raise TypeError(f"full: fill_value must be a number, got {type(value).__name__}")


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype from the value, as ``torch.full``)."""

    shape = shape_arg((size,) if not isinstance(size, (tuple, list)) else size)
    return Tensor(xp.full(shape, fill_value, dtype=_fill_dtype(fill_value, dtype)), requires_grad=requires_grad)


def full_like(t: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``t``'s shape and dtype (unless ``dtype`` is given), filled with ``fill_value``."""
    a = as_array(t)
    return Tensor(xp.full(a.shape, fill_value, dtype=dtype or a.dtype), requires_grad=requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``torch.empty``/``np.empty``, but filled with zeros: never another array's leftover memory."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad)


def empty_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """As ``zeros_like`` (see ``empty``)."""
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` (default square) identity matrix."""
    for name, v in (("n", n), ("m", m)):
        if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0):
            raise ValueError(f"eye: {name} must be a non-negative int, got {v!r}")
    return Tensor(xp.eye(n, m, dtype=_dtype(dtype)), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (``steps`` is required, as
    PyTorch's; numpy's ``num`` defaults to 50)."""
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return Tensor(xp.linspace(float(start), float(end), int(steps)).astype(_dtype(dtype)),
                  requires_grad=requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    exponents = linspace(start, end, steps, dtype=xp.float64)._data
    return Tensor((float(base) ** exponents).astype(_dtype(dtype)), requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, seed: Seed = None, dtype: Any = None) -> Tensor:
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``, as
    ``torch.randint`` (int64 unless ``dtype``)."""

    if size is None and args and isinstance(args[-1], (tuple, list)):
        *args, size = args
    if size is None or len(args) not in (1, 2):
        raise TypeError("randint: call randint(high, size) or randint(low, high, size), size a tuple: "
                        "randint(0, 10, (3, 4))")
    low, high = (0, args[0]) if len(args) == 1 else args
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return Tensor(array_call(_draw, seed, "integers", xp.int64 if dtype is None else dtype, low, high, shape_arg(size)))


def rand_like(t: Any, seed: Seed = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with ``t``'s shape (and float dtype)."""
    a = as_array(t)
    return rand(*a.shape, seed=seed, dtype=dtype or _float_dtype("rand_like", a), requires_grad=requires_grad)


def randn_like(t: Any, seed: Seed = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``t``'s shape (and float dtype)."""
    a = as_array(t)
    return randn(*a.shape, seed=seed, dtype=dtype or _float_dtype("randn_like", a), requires_grad=requires_grad)


def _float_dtype(op: str, a: Any) -> Any:
    if a.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating tensor (got dtype {a.dtype}); pass dtype='float32'")
    return a.dtype


def tril_indices(row: int, col: int, offset: int = 0) -> Tensor:
    """The (2, k) int64 indices of the lower triangle of a ``row`` x ``col`` matrix, row by row
    (``torch.tril_indices``; numpy's ``tril_indices(n, k, m)`` returns a tuple)."""
    return Tensor(xp.stack(xp.nonzero(xp.tri(row, col, offset, dtype=bool))).astype(xp.int64).reshape(2, -1))


def triu_indices(row: int, col: int, offset: int = 0) -> Tensor:
    """The (2, k) int64 indices of the upper triangle (``j - i >= offset``), row by row."""
    return Tensor(xp.stack(xp.nonzero(~xp.tri(row, col, offset - 1, dtype=bool))).astype(xp.int64).reshape(2, -1))
