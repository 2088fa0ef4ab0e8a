"""Reverse accumulation: the shared iterative topological order and the backward pass."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ._backend import xp
from .function import Function, Node, freed_error, in_place_recorded, not_differentiable_again, producer
from .grad_mode import set_grad_enabled, state
from .hooks import active as active_tensor_hooks
from .shapes import sum_to
from .tensor import Tensor, as_array

__all__ = ["toposort", "backward", "grad_of", "capture", "store_grads"]


def _consumers(roots: list) -> dict:
    """For every node reachable from ``roots``, how many edges from reachable nodes point at it (a root
    no node consumes is absent)."""
    consumers: dict[Node, int] = {}
    stack = list(roots)
    rebased = in_place_recorded()
    while stack:
        node = stack.pop()
        for t in node.inputs:
            n = getattr(t, "grad_fn", None)
            if rebased and n is not None and n.epoch > node.epoch:  # changed in place since `node` used it
                n = producer(t, node)
            if n is not None:
                c = consumers.get(n)
                if c is None:
                    consumers[n] = 1
                    if n not in roots:
                        stack.append(n)
                else:
                    consumers[n] = c + 1
    return consumers


def toposort(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, each before the nodes it consumes, in the order backward runs
    them (Kahn's: a node comes once every node consuming its output has come). Iterative: no recursion."""
    roots = [r for r in dict.fromkeys(roots) if r is not None]
    consumers = _consumers(roots)
    order = []
    ready = [r for r in reversed(roots) if r not in consumers]
    while ready:
        node = ready.pop()
        order.append(node)
        for t in node.inputs:
            n = getattr(t, "grad_fn", None)
            if n is not None and n.epoch > node.epoch:
                n = producer(t, node)
            if n is not None:
                left = consumers[n] - 1
                consumers[n] = left
                if not left:
                    ready.append(n)
    return order


def _root_gradient(root: Tensor, gradient: Any, create_graph: bool) -> Any:
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` of that shape; "
                "only a single-element output gets the implicit gradient 1")
        return xp.ones(root.shape, dtype=root.dtype)
    if isinstance(gradient, Tensor) and create_graph and gradient.requires_grad:
        g = gradient  # a gradient that requires grad (a leaf too): differentiate through it, as torch does
    else:
        g = xp.array(as_array(gradient, root.dtype))  # a copy: no .grad may share memory with the caller's array
    if g.shape != root.shape:
        raise ValueError(f"backward(): gradient has shape {g.shape}, expected {root.shape} (the output's shape)")
    return g


def _check(node: Node, grads: Any) -> tuple:
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(node.inputs):
        raise RuntimeError(
            f"backward of `{node.name}` returned {len(grads)} gradient(s) for {len(node.inputs)} input(s)")
    return grads


def _check_inputs_unchanged(node: Node) -> None:
    """Refuse a backward whose kept leaf input was given new data (``x.data = ...``) since forward: a
    create_graph derivative would mix the old values it kept with the new ones the tensor holds."""
    inputs = node.inputs
    for a, s in zip(node.saved, node.sources):
        if s >= 0:
            t = inputs[s]
            if isinstance(t, Tensor) and t._data is not a and t.grad_fn is None and not _same_memory(a, t._data):
                raise RuntimeError(
                    f"input {s} of {node.where()} (shape {a.shape}), saved for backward, was given new data "
                    "(`x.data = ...`) after the forward pass, so the gradient would be wrong. Recompute the "
                    "forward after changing it.")


def _same_memory(a: Any, d: Any) -> bool:
    """Whether ``d`` shows exactly the values of the kept view ``a``: the same owner and the same layout
    (``x.data = x.data[:]`` keeps them; ``x.data = x.data[::-1]`` is new data)."""
    return (a.base is not None and a.base is (d if d.base is None else d.base) and a.shape == d.shape
            and a.strides == d.strides and a.dtype == d.dtype
            and a.__array_interface__["data"][0] == d.__array_interface__["data"][0])


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
    """The backward pass: ``{id(t): (t, gradient)}`` for the leaves (or for the ``capture`` tensors if given)."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no op that made it had an input "
                           "with requires_grad=True (or it was made under no_grad / detached)")
    g0 = _root_gradient(root, gradient, create_graph)
    targets = {id(t): t for t in capture}
    found: dict[int, Any] = {}
    tensor_hooks = active_tensor_hooks()  # None unless a tensor hook is registered somewhere
    if root.grad_fn is None:  # the root is itself a leaf
        return {id(root): (root, g0 if tensor_hooks is None else tensor_hooks.leaf(root, g0, create_graph))}
    pending: dict[Node, Any] = {root.grad_fn: g0}
    wanted = {id(t.grad_fn): t for t in capture if t.grad_fn is not None}
    hooks = state.backward_hooks  # () unless anomaly mode is on
    consumers = _consumers([root.grad_fn])  # the order is toposort's, made while the pass runs
    rebased = in_place_recorded()
    ready = [root.grad_fn]
    ndarray = xp.ndarray
    leads = _leading_to(toposort([root.grad_fn]), targets, wanted) if capture else None
    if tensor_hooks is not None:
        tensor_hooks.count_leaves([root.grad_fn, *consumers])
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            g = pending.pop(node, None)
            if tensor_hooks is not None and g is not None:
                g = tensor_hooks.node(node, g, create_graph)
            if wanted and g is not None and id(node) in wanted:
                t = wanted[id(node)]
                found[id(t)] = (t, g)
            if g is None:  # no gradient reached it: still drop what it saved, as for every node of the pass
                for t in node.inputs:
                    parent = getattr(t, "grad_fn", None)
                    if rebased and parent is not None and parent.epoch > node.epoch:  # `t` rebased since
                        parent = producer(t, node)
                    if parent is not None:
                        left = consumers[parent] - 1
                        consumers[parent] = left
                        if not left:
                            ready.append(parent)
                if not retain_graph:
                    node.release()
                if tensor_hooks is not None:
                    tensor_hooks.node_done(node, found, create_graph)
                continue
            if capture and node not in leads:  # no target behind it: neither run nor freed (nor are its inputs'
                continue                        # nodes, which then never become ready: none has a target behind it)
            saved = node.saved
            if node.sources is None:
                raise freed_error(node)
            if node.held or create_graph:  # it may keep a leaf's array: was the leaf given new data since?
                _check_inputs_unchanged(node)
            after = [h(node, g) for h in hooks] if hooks else ()
            fn = node.fn
            inputs = node.inputs
            n = fn._nreads
            if create_graph:
                g_in = _graph_backward(node, g, len(inputs) if n < 0 else n)
            else:
                g_in = fn.backward(node, g, *(saved if n == len(saved) else saved[:len(inputs) if n < 0 else n]))
                if type(g_in) is not tuple or len(g_in) != len(inputs):
                    g_in = _check(node, g_in)
            for check in after:
                check(g_in)
            i = -1
            for t, gi, need in zip(inputs, g_in, node.needs_input_grad):
                i += 1
                if not need:
                    continue
                parent = t.grad_fn  # an input with a grad_fn required grad in forward: need is True
                if rebased and parent is not None and parent.epoch > node.epoch:  # `t` rebased since
                    parent = producer(t, node)
                if parent is not None:
                    left = consumers[parent] - 1
                    consumers[parent] = left
                    if not left:
                        ready.append(parent)
                if gi is None:
                    continue
                if type(gi) is not ndarray:
                    gi = _as_gradient(gi, create_graph)
                data = t._data
                if gi.shape != data.shape or gi.dtype != data.dtype:  # the common case skips the call
                    gi = _fit(node, i, gi, t)
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
                node.held = ()  # dropping the Held gives its arrays back
                node.saved = ()
                node.sources = None
            if tensor_hooks is not None:
                tensor_hooks.node_done(node, found, create_graph)
    return found


def _leading_to(order: list[Node], targets: dict, wanted: dict) -> set[Node]:
    """The nodes of ``order`` behind which a capture target lies: the only backwards a capture pass runs, so that
    it neither computes nor frees the graph of tensors that merely meet the targets (torch.autograd.grad's rule)."""
    leads: set[Node] = set()
    for node in reversed(order):  # producers first
        for t in node.inputs:
            f = getattr(t, "grad_fn", None)
            if f is not None and f.epoch > node.epoch:
                f = producer(t, node)
            if f is not None and (f in leads or id(f) in wanted) or f is None and id(t) in targets:
                leads.add(node)
                break
    return leads


def _as_gradient(gi: Any, create_graph: bool) -> Any:
    """A derivative's result as the pass carries it: an ndarray, or a Tensor under ``create_graph``."""
    if isinstance(gi, Tensor):
        return gi if create_graph else gi._data  # a backward written with ag functions returns Tensors
    return xp.asarray(gi)  # 0-d arithmetic gives numpy scalars


def _graph_backward(node: Node, g: Any, n: int) -> tuple:
    """Run a derivative on the graph's Tensors, so that ``create_graph`` records it: what it reads by
    position arrives as the input Tensors and the output Tensor."""
    if not isinstance(g, Tensor):
        g = Tensor._wrap(xp.asarray(g))
    reads = node.kept_in_graph(0, n)
    try:
        g_in = _check(node, node.fn.backward(node, g, *reads))
    except TypeError as e:
        if "Tensor" in str(e):
            e.add_note(f"(in the backward of {node.where()}, under create_graph: it gets the graph's Tensors, "
                       "and numpy functions refuse them. Write it with operators, Tensor methods and "
                       "autograd_mini.numpy functions, or mark it @ag.once_differentiable.)")
        raise
    if any(need and type(gi) is xp.ndarray for gi, need in zip(g_in, node.needs_input_grad)) \
            and (g.requires_grad or any(isinstance(v, Tensor) and v.requires_grad for v in node.inputs)):
        return not_differentiable_again(node, g_in, g, "its backward returned a numpy array, not a Tensor "
                                                       "(np.asarray or .data dropped the graph)")
    return g_in


class _Weighted(Function):
    """``sum(y * v)`` as a root whose derivative seeds ``y`` with ``v``: ``v`` is a weight, never
    differentiated as a function of the inputs (it is not in the first-order result), but under
    ``create_graph`` the seed ``g * v`` is a graph value, so second derivatives reach ``v`` (torch's rule)."""
    formula = "d sum(y * v)/dy = v"

    @staticmethod
    def forward(ctx, y, v):
        return (y * v).sum()

    @staticmethod
    def backward(ctx, g, v):
        return g * v, None


def store_grads(found: Iterable[tuple[Tensor, Any]], create_graph: bool = False) -> None:
    """Add each ``(leaf, gradient)`` into ``leaf.grad``: the one place leaf gradients are stored.

    A stored array is the leaf's own: copied when it could alias another array (a view, or one
    already stored for another leaf: pass-through derivatives such as add's return ``g`` twice).
    Without ``create_graph`` the stored gradient carries no graph.
    """
    stored: set[int] = set()
    with _STORING:  # read, add, write back: two threads' passes into one leaf must not lose one (PyTorch's too)
        for leaf, g in found:
            if create_graph and isinstance(g, Tensor):
                leaf.grad = g if leaf.grad is None else leaf.grad + g
                continue
            a = g._data if isinstance(g, Tensor) else xp.asarray(g)
            if a.base is not None or id(a) in stored:
                a = a.copy()
            stored.add(id(a))
            if leaf.grad is None:
                leaf.grad = Tensor._wrap(a)
            elif leaf.grad.grad_fn is not None:
                leaf.grad = leaf.grad + a
            else:
                leaf.grad = Tensor._wrap(leaf.grad._data + a)


_STORING = threading.RLock()  # re-entrant: a create_graph sum is an op, and an op may run user code (hooks)


def backward(root: Tensor, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate gradients of ``root`` into the ``.grad`` of every leaf that requires grad.

    ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
    """
    retain = create_graph if retain_graph is None else retain_graph
    if state.tracer is not None:  # ag.compile is tracing: it records this pass, then runs it
        state.tracer.backward(root, gradient, retain, create_graph)
        return
    store_grads(_run(root, gradient, retain, create_graph).values(), create_graph)


def capture(root: Tensor, tensors: Sequence[Tensor], gradient: Any = None, retain_graph: bool = False) -> list:
    """``(tensor, gradient array)`` for each of ``tensors`` (leaves or not) that the pass reached; nothing is
    stored. ``store_grads`` of the leaves among them is exactly what ``backward()`` would store."""
    return list(_run(root, gradient, retain_graph, False, capture=tensors).values())


def grad_of(outputs: Tensor, inputs: Sequence[Tensor], grad_outputs: Any = None, retain_graph: bool | None = None,
            create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned; no ``.grad`` is touched.

    ``outputs`` may be a sequence (with ``grad_outputs`` a matching sequence): the gradients of
    all of them are summed, as in ``torch.autograd.grad``.
    """
    if isinstance(outputs, (list, tuple)):
        outputs, grad_outputs = _weighted_sum(outputs, grad_outputs, create_graph), None
    elif not isinstance(outputs, Tensor):
        raise TypeError(f"grad: outputs must be a Tensor or a list of Tensors, got {type(outputs).__name__}")
    if isinstance(inputs, Tensor) or not isinstance(inputs, Sequence):
        raise TypeError(f"grad: inputs must be a list or tuple of Tensors, got {type(inputs).__name__}")
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: input {i} is not a tensor that requires grad")
    run = _run if state.tracer is None else state.tracer.grad_pass  # ag.compile is tracing: it records the pass
    found = run(outputs, grad_outputs, create_graph if retain_graph is None else retain_graph, create_graph,
                capture=inputs)
    result = []
    returned: set[int] = set()
    for i, t in enumerate(inputs):
        if id(t) not in found:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the output; "
                                   "pass allow_unused=True to get None for it")
            result.append(None)
            continue
        g = found[id(t)][1]
        if not isinstance(g, Tensor):  # the array is the caller's: copied only when it could alias another one
            if g.base is not None or id(g) in returned or not g.flags.writeable:
                g = g.copy()
            returned.add(id(g))
            g = Tensor._wrap(g)
        result.append(g)
    return tuple(result)


def _weighted_sum(outputs: Sequence[Tensor], grad_outputs: Any, create_graph: bool) -> Tensor:
    """One root for several outputs: sum_i <grad_outputs[i], outputs[i]> (grad_outputs as constants, unless
    ``create_graph``: then, as in torch, the result is differentiable with respect to them too)."""
    gs = [None] * len(outputs) if grad_outputs is None else list(grad_outputs)
    if not outputs or len(gs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} output(s) but {len(gs)} grad_output(s)")
    root = None
    with set_grad_enabled(True):
        for i, (y, g) in enumerate(zip(outputs, gs)):
            if not isinstance(y, Tensor) or not y.requires_grad:
                raise ValueError(f"grad: output {i} is not a tensor that requires grad")
            if g is None and y.size != 1:
                raise RuntimeError(f"grad: output {i} has shape {y.shape}: give its grad_outputs entry")
            if g is not None:
                if isinstance(g, Tensor) and not create_graph:
                    g = g.detach()
                if xp.shape(g) != y.shape:
                    raise ValueError(f"grad: grad_outputs entry {i} has shape {xp.shape(g)}, expected {y.shape} "
                                     f"(output {i}'s shape)")
            term = y.sum() if g is None else _Weighted.apply(y, g)
            root = term if root is None else root + term
    return root
