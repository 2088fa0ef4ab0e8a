"""Which tensors are basic-indexing views of which (``t[0]``, ``t[:, 1:]``): an in-place op that gives a tensor
a new array refreshes its views from it, so that they show the write, as views do in PyTorch."""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["track", "views_of"]

_views: dict[int, list] = {}  # id(base Tensor) -> [weakref to the base, [(weakref to a view, index), ...], limit]


def track(base: Any, view: Any, index: Any) -> None:
    """Remember that ``view`` is ``base[index]`` sharing its memory."""
    key = id(base)
    entry = _views.get(key)
    if entry is None or entry[0]() is not base:
        entry = _views[key] = [weakref.ref(base, lambda _: _views.pop(key, None)), [], 8]
    views = entry[1]
    views.append((weakref.ref(view), index))
    if len(views) > entry[2]:  # drop dead views now and then: a base indexed every step keeps a short list
        views[:] = [(r, i) for r, i in views if r() is not None]
        entry[2] = 2 * len(views) + 8


def views_of(base: Any) -> list[tuple[Any, Any]]:
    """The live views of ``base``: ``(view, index)`` pairs."""
    entry = _views.get(id(base))
    if entry is None or entry[0]() is not base:
        return []
    return [(v, i) for v, i in ((r(), i) for r, i in entry[1]) if v is not None]
