"""Which tensors are basic-indexing views of which (``t[0]``, ``t[:, 1:]``): an in-place op that gives a tensor
a new array refreshes its views from it, so that they show the write, as views do in PyTorch.

The list lives on the base Tensor (its ``_views`` slot, unset until a view is taken), so it dies with it. A view
that no op recorded (its base needs no gradient) also keeps ``(base, index)`` in its ``_view_of`` slot, so that an
in-place op with an operand that requires grad writes the base (``h = zeros(2, 3); h[1] += x``), as a recorded
view's node says."""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["track", "views_of", "base_of"]


def track(base: Any, view: Any, index: Any) -> None:
    """Remember that ``view`` is ``base[index]`` sharing its memory."""
    try:
        views = base._views
    except AttributeError:
        views = base._views = []
    while views and views[0][0]() is None:  # views usually die oldest first (one per training step): drop them
        try:
            views.pop(0)
        except IndexError:  # another thread emptied it
            break
    views.append((weakref.ref(view), index))  # one append: atomic under threads
    if view.grad_fn is None:
        view._view_of = (base, index)
    if len(views) > 64 and len(views) & (len(views) - 1) == 0:  # now and then, drop the dead ones in between
        views[:] = [p for p in views if p[0]() is not None]


def views_of(base: Any) -> list[tuple[Any, Any]]:
    """The live views of ``base``: ``(view, index)`` pairs."""
    pairs = getattr(base, "_views", ())
    return [(v, i) for v, i in ((r(), i) for r, i in list(pairs)) if v is not None]


def base_of(view: Any) -> tuple[Any, Any] | None:
    """``(base, index)`` of a view no op recorded (``track``), else None."""
    return getattr(view, "_view_of", None)
