"""In-place safety: memory that a recorded op saved for backward is read-only until backward frees it.

An op saves arrays its derivative will read (``x`` for ``x * w``, the output for ``exp``). Writing
into one of them between forward and backward would make that derivative silently wrong, so while
a live node holds an input's or the output's array, the array, and the array owning its memory, are
marked read-only (numpy's ``writeable`` flag, as MyGrad does). Views numpy makes of a read-only array
are read-only too, and the views ops make (``reshape``, ``transpose``, basic indexing, ``squeeze``,
``expand_dims``, ``broadcast_to``) are read-only from the start, whoever holds their memory. So a
write through ``x.data``, ``x.numpy()``, ``np.asarray(x)``, the array the tensor was made from, or
any of those views raises numpy's ``ValueError: assignment destination is read-only`` at the write.

Several nodes can hold one array: a count per array (by id; the holders keep it alive) decides when
the flag goes back. A node lets go when backward releases it, or when it is freed unused (``__del__``).
Arrays that were read-only already (someone else's) are never touched.
"""

from __future__ import annotations

from typing import Any

from ._backend import xp

__all__ = ["hold", "let_go", "read_only_view", "holds"]

_count: dict[int, int] = {}  # id(array) -> how many saved references of live nodes keep it read-only


def _hold_one(a: Any) -> None:
    n = _count.get(id(a))
    if n:
        _count[id(a)] = n + 1
    elif a.flags.writeable:
        a.flags.writeable = False
        _count[id(a)] = 1


def _let_go_one(a: Any) -> None:
    n = _count.get(id(a))
    if n is None:
        return  # not ours: read-only before any node saved it
    if n > 1:
        _count[id(a)] = n - 1
        return
    del _count[id(a)]
    try:
        a.flags.writeable = True
    except ValueError:  # a view whose owner another node still holds: it stays read-only, as it must
        pass


def hold(saved: tuple, roles: tuple) -> None:
    """Make the arrays among ``saved`` that belong to tensors (inputs, the output) read-only."""
    for a, r in zip(saved, roles):
        if r != -2 and type(a) is xp.ndarray:  # CONSTANT (-2): made inside forward, nobody else has it
            b = a.base
            if type(b) is xp.ndarray:
                _hold_one(b)  # the owner first: a write through the tensor that owns the memory is caught too
            _hold_one(a)


def let_go(saved: tuple, roles: tuple) -> None:
    """Undo ``hold`` for one node: owners first, so that a view can be made writeable again."""
    for a, r in zip(saved, roles):
        if r != -2 and type(a) is xp.ndarray:
            b = a.base
            if type(b) is xp.ndarray:
                _let_go_one(b)
            _let_go_one(a)


def read_only_view(out: Any) -> Any:
    """Mark an op's output read-only when it is a view of its input (its memory is the input's)."""
    if type(out) is xp.ndarray and out.base is not None:
        out.flags.writeable = False
    return out


def holds(a: Any) -> int:
    """How many saved references of live nodes keep ``a`` read-only (0: none; for tests and tools)."""
    return _count.get(id(a), 0)
