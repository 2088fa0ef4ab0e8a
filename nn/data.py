"""``DataLoader``: mini-batches of numpy arrays as Tensors, shuffled reproducibly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import autograd_mini as ag

__all__ = ["DataLoader"]


def _as_data(a: Any, name: str) -> np.ndarray:
    if isinstance(a, (DataLoader, dict, set, str, bytes)) or hasattr(a, "parameters"):
        raise TypeError(f"DataLoader: {name} must be an array (samples along the first axis), got "
                        f"{type(a).__name__}: DataLoader(X, y, batch_size=...)")
    if name == "X" and isinstance(a, tuple) and len(a) == 2 and all(np.ndim(s) for s in a):
        raise TypeError("DataLoader: X is a tuple of two arrays; pass them as two arguments, DataLoader(X, y, ...)")
    if isinstance(a, (list, tuple)) and a and all(isinstance(s, tuple) and len(s) == 2 for s in a[:1]):
        raise TypeError(f"DataLoader: {name} is a list of (x, y) pairs; this DataLoader takes the arrays "
                        "themselves: X = np.stack([x for x, _ in pairs]), y = np.array([t for _, t in pairs]), "
                        "then DataLoader(X, y, batch_size=...)")
    try:
        arr = a.data if isinstance(a, ag.Tensor) else np.asarray(a)
    except ValueError as e:  # ragged nested lists
        raise TypeError(f"DataLoader: {name} is not a rectangular array of numbers ({e})") from None
    if arr.dtype.kind not in "biuf":
        hint = (" (materialise it first, e.g. np.array(list(it)))" if isinstance(a, Iterator)
                else "" if arr.dtype == object else f" of dtype {arr.dtype}")
        raise TypeError(f"DataLoader: {name} must be an array or a Tensor of numbers, got {type(a).__name__}{hint}")
    if arr.ndim == 0:
        raise ValueError(f"DataLoader: {name} must have a sample axis, got a 0-d array")
    if arr.dtype.kind == "f" and arr.dtype != ag.get_default_dtype():
        arr = arr.astype(ag.get_default_dtype())  # once, not per batch: models are float32 by default
    return arr


class DataLoader:
    """Iterate over ``(X[batch], y[batch])`` Tensor pairs (or ``X[batch]`` alone when ``y`` is None).

    Float data is converted once to the default dtype (float32); integer labels stay integers.
    Every batch is a copy (as PyTorch's default collate): editing one never changes ``X`` or ``y``.
    With ``shuffle=True`` each pass draws a new permutation from a generator made from ``seed``
    at construction (so a run is reproducible epoch after epoch), or from the global generator
    when ``seed`` is None. ``drop_last`` skips a final short batch.

    >>> for xb, yb in nn.data.DataLoader(X, y, batch_size=64, shuffle=True, seed=0): ...
    """

    def __init__(self, X: Any, y: Any = None, batch_size: int = 32, shuffle: bool = False,
                 seed: int | np.random.Generator | None = None, drop_last: bool = False) -> None:
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__} {batch_size!r}"
                            + (" (X and y come first: DataLoader(X, y, batch_size=...))"
                               if isinstance(batch_size, (np.ndarray, ag.Tensor, list)) else ""))
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
            raise TypeError(f"DataLoader: y is the labels array, got the int {y}: give the batch size by name, "
                            f"DataLoader(X, batch_size={y})")
        self.X = _as_data(X, "X")
        self.y = None if y is None else _as_data(y, "y")
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"DataLoader: X has {len(self.X)} samples (shape {self.X.shape}) but y has "
                             f"{len(self.y)} (shape {self.y.shape})")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self._rng = None if seed is None else ag.get_generator(seed)

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.X)
        order = (self._rng or ag.get_generator(None)).permutation(n) if self.shuffle else None
        for k in range(len(self)):
            sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
            idx = sl if order is None else order[sl]
            # batches never alias the caller's arrays: a slice is a view (copy it), fancy indexing already copied
            take = ag.tensor if order is None else ag.as_tensor
            xb = take(self.X[idx])
            yield xb if self.y is None else (xb, take(self.y[idx]))
