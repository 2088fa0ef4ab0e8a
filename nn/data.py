"""``DataLoader``: mini-batches of numpy arrays as Tensors, shuffled reproducibly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini.factories import resolve_rng

__all__ = ["DataLoader"]


def _as_data(a: Any, name: str) -> np.ndarray:
    arr = a.data if isinstance(a, ag.Tensor) else np.asarray(a)
    if arr.dtype == object:
        hint = " (materialise it first, e.g. np.array(list(it)))" if isinstance(a, Iterator) else ""
        raise TypeError(f"DataLoader: {name} must be an array or a Tensor of numbers, got {type(a).__name__}{hint}")
    if arr.ndim == 0:
        raise ValueError(f"DataLoader: {name} must have a sample axis, got a 0-d array")
    if arr.dtype.kind == "f" and arr.dtype != ag.get_default_dtype():
        arr = arr.astype(ag.get_default_dtype())  # once, not per batch: models are float32 by default
    return arr


class DataLoader:
    """Iterate over ``(X[batch], y[batch])`` Tensor pairs (or ``X[batch]`` alone when ``y`` is None).

    Float data is converted once to the default dtype (float32); integer labels stay integers.
    With ``shuffle=True`` each pass draws a new permutation from a generator made from ``seed``
    at construction (so a run is reproducible epoch after epoch), or from the global generator
    when ``seed`` is None. ``drop_last`` skips a final short batch.

    >>> for xb, yb in nn.data.DataLoader(X, y, batch_size=64, shuffle=True, seed=0): ...
    """

    def __init__(self, X: Any, y: Any = None, batch_size: int = 32, shuffle: bool = False,
                 seed: int | np.random.Generator | None = None, drop_last: bool = False) -> None:
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.X = _as_data(X, "X")
        self.y = None if y is None else _as_data(y, "y")
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"DataLoader: X has {len(self.X)} samples (shape {self.X.shape}) but y has "
                             f"{len(self.y)} (shape {self.y.shape})")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self._rng = None if seed is None else resolve_rng(seed)

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.X)
        order = (self._rng or resolve_rng(None)).permutation(n) if self.shuffle else None
        for k in range(len(self)):
            sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
            idx = sl if order is None else order[sl]
            xb = ag.tensor(self.X[idx])
            yield xb if self.y is None else (xb, ag.tensor(self.y[idx]))
