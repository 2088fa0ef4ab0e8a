"""Which tensors are basic-indexing views of which (``t[0]``, ``t[:, 1:]``): an in-place op that gives a tensor
a new array refreshes its views from it, so that they show the write, as views do in PyTorch.

The list lives on the base Tensor (its ``_views`` slot, unset until a view is taken), so it dies with it."""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["track", "views_of"]


def track(base: Any, view: Any, index: Any) -> None:
    """Remember that ``view`` is ``base[index]`` sharing its memory."""
    try:
        views = base._views
    except AttributeError:
        views = base._views = []
    views.append((weakref.ref(view), index))  # one append: atomic under threads
    if len(views) > 64 and len(views) & (len(views) - 1) == 0:  # now and then, drop the dead (a base indexed
        views[:] = [p for p in views if p[0]() is not None]     # every step keeps a short list)


def views_of(base: Any) -> list[tuple[Any, Any]]:
    """The live views of ``base``: ``(view, index)`` pairs."""
    pairs = getattr(base, "_views", ())
    return [(v, i) for v, i in ((r(), i) for r, i in list(pairs)) if v is not None]
