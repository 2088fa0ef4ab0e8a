"""In-place safety (a bottom module, on arrays only): memory an op keeps for backward cannot be written
while it matters.

An op keeps arrays its derivative reads (``x`` for ``x * w``, the output for ``exp``) and constants
(an index array, a mask, a bound). A write into one of them between forward and backward would make
that derivative silently wrong, so:

- a recorded op's output array is read-only for good (sealed by ``Function.apply``): its tensor is part of a graph,
  and any consumer may keep it. This costs one flag store per recorded op and no bookkeeping;
- any other kept array (a leaf's, a raw operand, a parameter such as an index array), and the
  array owning the memory of a kept view, is read-only while a live node holds it
  (``hold`` returns a ``Held`` the node keeps; counted per array: several nodes can hold one; the flag
  goes back when the last ``Held`` holding it is dropped: by backward, or with a graph freed unused);
- views ops make (``reshape``, ``transpose``, basic indexing, ...) are read-only from the start
  (``read_only_view``), even under ``no_grad``.

numpy makes every view of a read-only array read-only, so a write through ``x.data``, ``x.numpy()``,
``np.asarray(x)``, the array the tensor was made from, or any view of those raises numpy's
``ValueError: assignment destination is read-only`` at the write. Arrays that were read-only already
(someone else's) are never touched.

Threads: the counts live in one dict guarded by a lock. A node freed by the garbage collector may
run ``let_go`` in any thread, even in the middle of a ``hold`` of the same thread; it never waits
for the lock: it queues its arrays, and whoever holds the lock drains the queue before letting go
of it. The dict keeps each counted array alive, so an id never outlives its array.
"""

from __future__ import annotations

import threading
from typing import Any

from ._backend import xp

__all__ = ["hold", "Held", "let_go", "read_only_view", "holds", "holder"]

_ndarray = xp.ndarray
_count: dict[int, list] = {}  # id(array) -> [array, how many live nodes hold it read-only, the first one's op]
_lock = threading.Lock()
_queued: list[tuple] = []      # let_go calls that found the lock taken


def _let_go_one(x: Any) -> None:
    entry = _count.get(id(x))
    if entry is None or entry[0] is not x:
        return
    if entry[1] > 1:
        entry[1] -= 1
        return
    del _count[id(x)]
    try:
        x.setflags(write=True)
    except ValueError:  # a view whose owner another node still holds: it stays read-only, as it must
        pass


def _drain() -> None:
    """Run queued let_go calls; the caller holds the lock."""
    while _queued:
        for x in _queued.pop():
            _let_go_one(x)


def _release_lock() -> None:
    if _queued:
        _drain()
    _lock.release()
    while _queued and _lock.acquire(blocking=False):  # queued between the drain and the release
        _drain()
        _lock.release()


class Held(tuple):
    """The arrays one node holds read-only: dropping the last reference gives them back (``let_go``).

    A node keeps it in ``node.held``; backward releases by dropping it, and a graph dropped without
    backward releases with it. Only nodes that hold something pay for a finalizer.
    """

    __slots__ = ()

    def __del__(self) -> None:
        let_go(self)


def hold(arrays: list, owner: Any = None) -> tuple:
    """Make each array read-only, counted; returns a ``Held`` of those this call made or kept read-only
    (or ``()``). A view is held through its owner too (a write to the owner would change it). ``owner``: the op
    holding them (its Function class), named by ``holder``."""
    held = []
    count = _count
    _lock.acquire()
    try:
        for a in arrays:
            b = a.base
            for x in (b, a) if type(b) is _ndarray else (a,):
                entry = count.get(id(x))
                if entry is not None:
                    entry[1] += 1
                elif x.flags.writeable:
                    x.setflags(write=False)
                    count[id(x)] = [x, 1, owner]
                else:
                    continue  # someone else's read-only array (or a sealed output): nothing to give back
                held.append(x)
    finally:
        _release_lock()
    return Held(held) if held else ()


def let_go(held: tuple) -> None:
    """Undo ``hold`` for one node (owners first, so that a view can be made writeable again).
    Safe from any thread and from a finalizer: it never waits for the lock."""
    if not held:
        return
    if _lock.acquire(blocking=False):
        try:
            for x in held:
                _let_go_one(x)
        finally:
            _release_lock()
        return
    _queued.append(held)  # list.append is atomic; whoever holds the lock drains it before releasing
    if _lock.acquire(blocking=False):  # the holder may have released it before seeing our entry
        _release_lock()


def read_only_view(out: Any) -> Any:
    """Mark an op's output read-only when it is a view of its input (its memory is the input's)."""
    if type(out) is _ndarray and out.base is not None:
        out.setflags(write=False)
    return out


def holds(a: Any) -> int:
    """How many live nodes keep ``a`` read-only (0: none; for tests and tools)."""
    with _lock:
        _drain()
        entry = _count.get(id(a))
        return entry[1] if entry is not None and entry[0] is a else 0


def holder(a: Any) -> Any:
    """The op (Function class) of the first live node holding ``a`` or the array owning its memory read-only,
    or None when no node holds it (for messages at a refused write)."""
    with _lock:
        _drain()
        for x in (a, a.base):
            entry = _count.get(id(x))
            if entry is not None and entry[0] is x:
                return entry[2] or "an op"
    return None
