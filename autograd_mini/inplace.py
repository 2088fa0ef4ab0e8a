"""In-place safety: memory that a recorded op saved for backward cannot be written while it matters.

An op saves arrays its derivative will read (``x`` for ``x * w``, the output for ``exp``). A write
into one of them between forward and backward would make that derivative silently wrong, so:

- a recorded op's output array is read-only for good (``seal``): its tensor is part of a graph,
  and any consumer may save it. This costs one flag store per recorded op and no bookkeeping;
- the array of a leaf (or a raw constant operand), and the array owning the memory of any saved
  view, is read-only while a live node holds it (``hold``/``let_go``, counted per array: several
  nodes can hold one; the flag goes back when backward releases the last, or when it is freed
  unused via ``Node.__del__``);
- views ops make (``reshape``, ``transpose``, basic indexing, ``squeeze``, ``expand_dims``,
  ``broadcast_to``) are read-only from the start (``read_only_view``), even under ``no_grad``.

numpy makes every view of a read-only array read-only, so a write through ``x.data``,
``x.numpy()``, ``np.asarray(x)``, the array the tensor was made from, or any view of those raises
numpy's ``ValueError: assignment destination is read-only`` at the write. Arrays that were
read-only already (someone else's) are never touched.
"""

from __future__ import annotations

from typing import Any

from ._backend import xp
from .tensor import Tensor

__all__ = ["hold", "let_go", "seal", "read_only_view", "holds"]

_ndarray = xp.ndarray
_count: dict[int, int] = {}  # id(array) -> how many saved references of live nodes keep it read-only


def _hold(x: Any, count: dict) -> bool:
    n = count.get(id(x))
    if n:
        count[id(x)] = n + 1
    elif x.flags.writeable:
        x.setflags(False)
        count[id(x)] = 1
    else:
        return False  # someone else's read-only array (or a sealed output): nothing to give back
    return True


def _let_go(x: Any, count: dict) -> None:
    n = count.get(id(x))
    if n is None:
        return  # not ours: read-only before any node saved it
    if n > 1:
        count[id(x)] = n - 1
        return
    del count[id(x)]
    try:
        x.setflags(True)
    except ValueError:  # a view whose owner another node still holds: it stays read-only, as it must
        pass


def hold(saved: tuple, roles: tuple, inputs: tuple) -> tuple:
    """Make the memory of a node's saved inputs and output read-only, counted; returns what it holds (for
    ``let_go``): for each saved input or output array, its owner when it is a view, and itself when it is a
    leaf's or a constant's (a recorded op's output is read-only already: ``seal``)."""
    count = _count
    held = []
    for a, r in zip(saved, roles):
        if type(a) is not _ndarray:
            continue
        b = a.base
        if type(b) is _ndarray and _hold(b, count):  # a CONSTANT view (x.reshape(-1) in forward) too: its memory
            held.append(b)                           # may be an input's
        if r <= -2:  # CONSTANT or INPUT_VIEW: made inside forward, nobody else has the array itself
            continue
        t = inputs[r] if r >= 0 else None
        if r >= 0 and (type(t) is _ndarray or not isinstance(t, Tensor) or t.grad_fn is None) and _hold(a, count):
            held.append(a)
    return tuple(held) if held else ()


def let_go(held: tuple) -> None:
    """Undo ``hold`` for one node (owners first, so that a view can be made writeable again)."""
    count = _count
    for x in held:
        _let_go(x, count)


def seal(out: Any, arrays: list) -> Any:
    """A recorded op's output array, read-only for good: consumers may save it, and its tensor is part
    of a graph. An output that is an input's own array becomes a view first (the input stays writable)."""
    for a in arrays:
        if a is out:
            out = out.view()
            break
    out.setflags(False)
    return out


def read_only_view(out: Any) -> Any:
    """Mark an op's output read-only when it is a view of its input (its memory is the input's)."""
    if type(out) is xp.ndarray and out.base is not None:
        out.setflags(False)
    return out


def holds(a: Any) -> int:
    """How many saved references of live nodes keep ``a`` read-only (0: none; for tests and tools)."""
    return _count.get(id(a), 0)
