"""Value checks shared by constructors and ``load_state_dict``: each converter checks one value (raising
``TypeError``/``ValueError`` that names it) and returns it converted; ``Problems`` runs many of them and
reports every failure at once, so a state dict is validated with the same rules as the constructor."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

import autograd_mini as ag


class Problems:
    """Collects the failures of many checks; ``raise_if_any`` raises one error listing them all."""

    def __init__(self) -> None:
        self.items: list[tuple[type, str]] = []

    def check(self, where: str, convert: Callable[..., Any], *args: Any) -> Any:
        """``convert(*args)``, or ``None`` after recording its error prefixed with ``where``."""
        try:
            return convert(*args)
        except (TypeError, ValueError) as e:
            self.items.append((type(e), f"{where}{e}"))
            return None

    def add(self, message: str, kind: type = ValueError) -> None:
        self.items.append((kind, message))

    def raise_if_any(self, header: str) -> None:
        if not self.items:
            return
        kind = TypeError if all(k is TypeError for k, _ in self.items) else ValueError
        if len(self.items) == 1:
            raise kind(f"{header}: {self.items[0][1]}")
        raise kind(f"{header} ({len(self.items)} problems, nothing was changed):\n  " +
                   "\n  ".join(m for _, m in self.items))


def real(value: Any, name: str, low: float | None = None, high: float | None = None,
         high_open: bool = False) -> float:
    """A finite real number (not a bool) in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be non-negative, got {value}" if low == 0 else
                         f"{name} must be >= {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def non_negative(value: Any, name: str) -> float:
    return real(value, name, low=0)


def integer(value: Any, name: str, low: int | None = None) -> int:
    """An int (numpy integers and 0-d integer arrays too; not a bool, not a float) >= ``low``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def flag(value: Any, name: str) -> bool:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def betas(value: Any, name: str) -> tuple[float, float]:
    """Two coefficients in ``[0, 1)``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of numbers, got {value!r}")
    pair = tuple(real(v, name) for v in value)
    if not all(0 <= b < 1 for b in pair):
        raise ValueError(f"{name} must be in [0, 1), got {tuple(value)}")
    return pair


def cast(a: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """A fresh C-ordered copy of ``a`` in ``dtype``; a finite value that becomes infinite is an error."""
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        out = np.array(a, dtype=dtype, order="C", copy=True)
    if out.dtype.kind in "fc" and a.dtype.kind in "biufc":
        overflow = np.isinf(out) & ~np.isinf(a)
        if overflow.any():
            bad = a.reshape(-1)[int(np.argmax(overflow))].item()
            raise ValueError(f"{name}: value {bad!r} overflows {dtype} "
                             f"({int(overflow.sum())} element(s) would become inf)")
    return out


def float_array(value: Any, name: str, like: np.ndarray) -> np.ndarray:
    """An array (or Tensor) of finite floats shaped like ``like``, cast to its dtype (overflow checked).
    Optimizer state is never legitimately nan or inf, and the next step would spread it into the parameter."""
    a = value.data if isinstance(value, ag.Tensor) else value
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be an array, got {type(value).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating array, got dtype {a.dtype}")
    if a.shape != like.shape:
        raise ValueError(f"{name} has shape {a.shape}, the parameter {like.shape}")
    out = cast(a, like.dtype, name)
    finite = np.isfinite(out)
    if not finite.all():
        first = np.unravel_index(int(np.argmin(finite)), out.shape)
        raise ValueError(f"{name} holds {int(finite.size - finite.sum())} nan or inf value(s), the first "
                         f"{out[first]} at index {tuple(map(int, first))}: the next step would put them into "
                         "the parameter")
    return out


def non_negative_array(value: Any, name: str, like: np.ndarray) -> np.ndarray:
    out = float_array(value, name, like)
    if not (out >= 0).all():
        raise ValueError(f"{name} must hold no negative values (it is a running mean of squares)")
    return out
