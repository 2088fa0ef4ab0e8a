"""Tensor hooks (``t.register_hook``, ``t.retain_grad``) at PyTorch's moments, and the handle every hook
registration returns.

- A non-leaf tensor's hooks run when its gradient is complete (every consumer's share summed), before its op's
  backward reads it; a leaf's run once its gradient of the pass is complete, before it is added into ``.grad``
  (or returned by ``grad_of``). Each gets the gradient and may return a replacement; they run in registration
  order, then ``retain_grad`` stores the result (after every hook, as in PyTorch).
- A non-leaf's hooks belong to its op's node (the tensor's version when registered), a leaf's to the tensor.
- The engine asks ``active()`` once per backward pass: with no hook registered anywhere it gets None and pays
  nothing more.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from ._backend import xp
from .function import Node
from .tensor import Tensor

__all__ = ["RemovableHandle", "register_hook", "retain_grad", "active", "hooked"]

_ids = itertools.count()
_tables: weakref.WeakSet = weakref.WeakSet()  # every live hook table: the engine's one question is whether any
# holds a hook. A table lives on its node or leaf (never in a global dict: a hook that refers to its own tensor
# would keep it alive for good), so it dies with them.
_RETAIN = -1  # the table key of ``retain_grad``'s weakref to its tensor


class _Fns(dict):
    """One tensor's hooks by handle id (a dict a handle can refer to weakly, hashed by identity)."""

    __hash__ = object.__hash__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return self is other


class RemovableHandle:
    """What a hook registration returns: ``handle.remove()`` unregisters it (also as a context manager)."""

    def __init__(self, table: dict) -> None:
        self.id = next(_ids)
        self._table = weakref.ref(table)

    def remove(self) -> None:
        table = self._table()
        if table is not None:
            table.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_hook(t: Tensor, fn: Callable[[Tensor], Any]) -> RemovableHandle:
    """``fn(grad) -> None or a replacement``, called with ``t``'s gradient in each backward pass."""
    if not callable(fn):
        raise TypeError(f"register_hook: expected a function of the gradient, got {type(fn).__name__}")
    if not t._requires_grad:
        raise RuntimeError("register_hook: this tensor does not require grad, so no gradient will reach it; "
                           "call t.requires_grad_() first (a leaf) or compute it from one that requires grad")
    table = _table(t)
    handle = RemovableHandle(table)
    table[handle.id] = fn
    return handle


def _table(t: Tensor) -> _Fns:
    owner = t.grad_fn if t.grad_fn is not None else t
    table = getattr(owner, "hooks" if t.grad_fn is not None else "_hooks", None)
    if table is None:
        table = _Fns()
        setattr(owner, "hooks" if t.grad_fn is not None else "_hooks", table)
        _tables.add(table)
    return table


def _fns(owner: Any, slot: str) -> _Fns | None:
    return getattr(owner, slot, None)


def retain_grad(t: Tensor) -> None:
    """Keep a non-leaf tensor's gradient in ``t.grad`` (summed over backward passes); a leaf keeps it already."""
    if not t._requires_grad:
        raise RuntimeError("retain_grad: this tensor does not require grad, so it has no gradient to keep")
    if t.grad_fn is not None:
        _table(t)[_RETAIN] = weakref.ref(t)


def follow(t: Tensor, before: Node | None) -> None:
    """After an in-place op gave ``t`` a new node: ``retain_grad`` follows the tensor (PyTorch), hooks stay with
    the version they were registered on."""
    fns = _fns(before, "hooks") if before is not None else None
    keeper = fns.get(_RETAIN) if fns else None
    if keeper is not None and keeper() is t:
        del fns[_RETAIN]
        _table(t)[_RETAIN] = keeper


def hooked(t: Tensor) -> bool:
    """Whether ``t`` has a hook (or keeps its gradient with ``retain_grad``): for graph pictures."""
    return bool(_fns(t.grad_fn, "hooks") if t.grad_fn is not None else _fns(t, "_hooks"))


def active() -> Hooks | None:
    """The hooks of a backward pass starting now, or None when none is registered anywhere."""
    if not (_tables and any(_tables)):
        return None
    return Hooks()


class Hooks:
    """One pass's view of the hook tables (``engine._run``)."""

    def __init__(self) -> None:
        self.remaining: dict[int, int] | None = None

    def node(self, node: Node, g: Any, create_graph: bool) -> Any:
        """The gradient of ``node``'s output after its tensor's hooks (and ``retain_grad``)."""
        fns = _fns(node, "hooks")
        if not fns:
            return g
        g = _call(fns, g, create_graph, node.name)
        keeper = fns.get(_RETAIN)
        t = keeper() if keeper is not None else None
        if t is not None:
            kept = g if create_graph and isinstance(g, Tensor) else Tensor._wrap(_array(g).copy())
            t.grad = kept if t.grad is None else t.grad + kept
        return g

    def count_leaves(self, order: list[Node]) -> None:
        """How many nodes of the pass feed each hooked leaf: its hooks run when the last one has."""
        remaining: dict[int, int] = {}
        for node in order:
            for t in {id(t): t for t in node.inputs if isinstance(t, Tensor) and t.grad_fn is None}.values():
                if _fns(t, "_hooks"):
                    remaining[id(t)] = remaining.get(id(t), 0) + 1
        self.remaining = remaining

    def node_done(self, node: Node, found: dict, create_graph: bool) -> None:
        """After ``node`` ran (or got no gradient): run the hooks of each leaf whose gradient is now complete."""
        remaining = self.remaining
        for key in {id(t) for t in node.inputs if isinstance(t, Tensor) and id(t) in remaining}:
            remaining[key] -= 1
            if remaining[key] == 0 and key in found:
                t, g = found[key]
                found[key] = (t, self.leaf(t, g, create_graph))

    def leaf(self, t: Tensor, g: Any, create_graph: bool) -> Any:
        fns = _fns(t, "_hooks")
        return _call(fns, g, create_graph, "a leaf") if fns else g


def _array(g: Any) -> Any:
    return g._data if isinstance(g, Tensor) else g


def _call(fns: dict, g: Any, create_graph: bool, where: str) -> Any:
    for key, fn in list(fns.items()):
        if key == _RETAIN:
            continue
        arg = g if isinstance(g, Tensor) else Tensor._wrap(xp.array(g))  # the hook's own copy: it may keep it
        new = fn(arg)
        if new is None:  # the gradient as the hook left it: it may have changed it in place (g.mul_(2))
            new = arg
        a = _array(new)
        if not isinstance(new, (Tensor, xp.ndarray)) or a.shape != _array(g).shape:
            raise RuntimeError(f"a tensor hook (on the output of {where}) returned "
                               f"{type(new).__name__} of shape {getattr(a, 'shape', None)}; a hook returns None or "
                               f"a gradient of the tensor's shape {_array(g).shape}")
        if create_graph:
            g = new if isinstance(new, Tensor) else Tensor._wrap(a)
        else:
            g = a.astype(_array(g).dtype, copy=False)
    return g


Tensor.register_hook = register_hook  # type: ignore[attr-defined]
Tensor.retain_grad = retain_grad  # type: ignore[attr-defined]
