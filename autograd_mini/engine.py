"""Reverse accumulation: the shared iterative topological order and the backward pass."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from ._backend import xp
from .function import Function, Node
from .grad_mode import set_grad_enabled, state
from .ops._shape import sum_to
from .tensor import Tensor, as_array, sync_version

__all__ = ["toposort", "backward", "grad_of"]


def toposort(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, each before the nodes it consumes.

    A node is always created after the nodes that made its inputs, so newest-first creation
    order is a topological order: one iterative walk collects the nodes, a sort orders them.
    """
    seen = {r for r in roots if r is not None}
    stack = list(seen)
    while stack:
        for t in stack.pop().inputs:
            n = getattr(t, "grad_fn", None)
            if n is not None and n not in seen:
                seen.add(n)
                stack.append(n)
    return sorted(seen, key=_creation_order, reverse=True)


_creation_order = attrgetter("seq")


def _root_gradient(root: Tensor, gradient: Any, create_graph: bool) -> Any:
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` of that shape; "
                "only a single-element output gets the implicit gradient 1")
        return xp.ones(root.shape, dtype=root.dtype)
    if isinstance(gradient, Tensor) and create_graph:
        g = gradient
    else:
        g = as_array(gradient, root.dtype)
    if g.shape != root.shape:
        raise ValueError(f"backward(): gradient has shape {g.shape}, expected {root.shape} (the output's shape)")
    return g


def _check(node: Node, grads: Any) -> tuple:
    grads = grads if isinstance(grads, tuple) else tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(node.inputs):
        raise RuntimeError(
            f"backward of `{node.name}` returned {len(grads)} gradient(s) for {len(node.inputs)} input(s)")
    for t, version in node.saved_versions:
        if t._snapshot is not None:
            sync_version(t)
        if t._version != version:
            _modified(node, t, version, "an input")
    if node.out_saved:
        out = node.out_ref()
        if out is not None:
            if out._snapshot is not None:
                sync_version(out)
            if out._version:
                _modified(node, out, 0, "the output")
    return grads


def _modified(node: Node, t: Tensor, version: int, which: str) -> None:
    raise RuntimeError(
        f"{which} of `{node.name}` (shape {t.shape}), saved for backward, was modified after the forward pass "
        f"(version {version} -> {t._version}: in place, e.g. `x.data[...] = 0`, or by `x.data = ...`), so "
        "the gradient would be wrong. Recompute the forward after changing it, or change a copy.")


def _fit(node: Node, i: int, g: Any, like: Tensor) -> Any:
    """Sum a broadcast gradient back to the input's shape and dtype, or name the mismatch."""
    shape = like._data.shape
    if g.shape != shape:
        lead = len(g.shape) - len(shape)
        if lead < 0 or g.shape[lead:] != shape and any(n != 1 and n != m for n, m in zip(shape, g.shape[lead:])):
            raise RuntimeError(f"backward of `{node.name}` returned a gradient of shape {g.shape} for input {i}, "
                               f"which has shape {shape}")
        g = sum_to(g, shape)
    if g.dtype != like._data.dtype:
        g = g.astype(like._data.dtype)
    return g


def _run(root: Tensor, gradient: Any, retain_graph: bool, create_graph: bool, capture: Sequence[Tensor] = ()) -> dict:
    """The backward pass. Returns gradients of leaves (or of the ``capture`` tensors if given)."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no op that made it had an input "
                           "with requires_grad=True (or it was made under no_grad / detached)")
    g0 = _root_gradient(root, gradient, create_graph)
    targets = {id(t): t for t in capture}
    found: dict[int, Any] = {}
    if root.grad_fn is None:  # the root is itself a leaf
        return {id(root): (root, g0)}
    pending: dict[Node, Any] = {root.grad_fn: g0}
    wanted = {id(t.grad_fn): t for t in capture if t.grad_fn is not None}
    hooks = state.backward_hooks  # () unless anomaly mode is on
    with set_grad_enabled(create_graph):
        for node in toposort([root.grad_fn]):
            g = pending.pop(node, None)
            if wanted and g is not None and id(node) in wanted:
                t = wanted[id(node)]
                found[id(t)] = (t, g)
            if g is None:  # no gradient reached it: still drop what it saved, as for every node of the pass
                if not retain_graph:
                    node.release()
                continue
            if type(g) is not xp.ndarray and not isinstance(g, Tensor):
                g = xp.asarray(g)  # 0-d arithmetic gives numpy scalars
            if node.released:
                raise RuntimeError(
                    f"backward through `{node.name}` a second time: its saved values were freed after the first "
                    "backward. Pass retain_graph=True to the first backward() to keep them.")
            after = [h(node, g) for h in hooks] if hooks else ()
            if create_graph:
                if not node.fn.differentiable_backward:
                    g_in = _raw_backward_in_graph(node, g)
                else:
                    if not isinstance(g, Tensor):
                        g = Tensor._const(g)
                    node.graph_mode = True
                    try:
                        g_in = _check(node, node.fn.backward(node, g))
                    finally:
                        node.graph_mode = False
            else:
                g_in = _check(node, node.fn.backward(node, g))
            for check in after:
                check(g_in)
            for i, (t, gi, need) in enumerate(zip(node.inputs, g_in, node.needs_input_grad)):
                if not need or gi is None:
                    continue
                if type(gi) is not xp.ndarray and not isinstance(gi, Tensor):
                    gi = xp.asarray(gi)
                if gi.shape != t._data.shape or gi.dtype != t._data.dtype:  # the common case skips the call
                    gi = _fit(node, i, gi, t)
                parent = t.grad_fn
                if parent is None:
                    if capture and id(t) not in targets:
                        continue
                    if id(t) in found:
                        found[id(t)] = (t, found[id(t)][1] + gi)
                    else:
                        found[id(t)] = (t, gi)
                else:
                    prev = pending.get(parent)
                    pending[parent] = gi if prev is None else prev + gi
            if not retain_graph:
                node.release()
    return found


def _raw_backward_in_graph(node: Node, g: Any) -> tuple:
    """A Function whose backward is raw numpy: first derivatives are exact, a second one raises."""
    g_arr = g._data if isinstance(g, Tensor) else g
    g_in = _check(node, node.fn.backward(node, g_arr))
    return tuple(None if gi is None else _NotTwiceDifferentiable.apply(
        *[t for t in node.inputs if isinstance(t, Tensor)], value=xp.asarray(gi), fn_name=node.name) for gi in g_in)


class _NotTwiceDifferentiable(Function):
    """Carries a raw-numpy backward's result in a create_graph pass; differentiating it again raises."""

    @staticmethod
    def forward(ctx, *inputs, value, fn_name):
        return value

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            f"`{ctx.params['fn_name']}` has a backward written with raw arrays, so it cannot be differentiated "
            "again (create_graph). Write its backward with Tensor operations and set differentiable_backward = True.")


def backward(root: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate gradients of ``root`` into the ``.grad`` of every leaf that requires grad."""
    found = _run(root, gradient, retain_graph, create_graph)
    stored: set[int] = set()
    for t, g in found.values():
        if not isinstance(g, Tensor):
            g = xp.asarray(g)
            # A pass-through gradient may alias another leaf's, a view, or the caller's array: own it.
            if g.base is not None or g is gradient or id(g) in stored:
                g = g.copy()
            stored.add(id(g))
            g = Tensor._const(g)
        if t.grad is None:
            t.grad = g if create_graph or g.grad_fn is None else g.detach()
        elif create_graph or t.grad.grad_fn is not None:
            t.grad = t.grad + g
        else:
            t.grad = Tensor._const(t.grad._data + g._data)


def grad_of(outputs: Tensor, inputs: Sequence[Tensor], grad_outputs: Any = None, retain_graph: bool | None = None,
            create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned; no ``.grad`` is touched."""
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: input {i} is not a tensor that requires grad")
    found = _run(outputs, grad_outputs, create_graph if retain_graph is None else retain_graph, create_graph,
                 capture=inputs)
    result = []
    for i, t in enumerate(inputs):
        if id(t) not in found:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the output; "
                                   "pass allow_unused=True to get None for it")
            result.append(None)
            continue
        g = found[id(t)][1]
        g = g if isinstance(g, Tensor) else xp.asarray(g)
        result.append(g if isinstance(g, Tensor) else Tensor._const(g.copy() if g.base is not None else g))
    return tuple(result)
