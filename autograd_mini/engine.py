"""Reverse accumulation: the shared iterative topological order and the backward pass."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from ._backend import xp
from .function import INPUT_VIEW, OUTPUT, Function, Node
from .grad_mode import set_grad_enabled, state
from .ops._shape import sum_to
from .tensor import Tensor, as_array

__all__ = ["toposort", "backward", "grad_of", "capture", "store_grads"]


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


def _check_saved_inputs(node: Node) -> None:
    """Refuse a backward whose saved input was given new data (``x.data = ...``) since forward: the
    derivative would mix the old values it saved with the new ones the tensor holds."""
    inputs = node.inputs
    for a, r in zip(node.saved, node.roles):
        if r >= 0:
            t = inputs[r]
            if isinstance(t, Tensor) and t._data is not a:
                if not _same_memory(a, t._data):
                    raise RuntimeError(
                        f"input {r} of {node.where()} (shape {a.shape}), saved for backward, was given new data "
                        "(`x.data = ...`) after the forward pass, so the gradient would be wrong. Recompute the "
                        "forward after changing it.")


def _same_memory(a: Any, d: Any) -> bool:
    """Whether ``d`` shows exactly the values of the saved view ``a``: the same owner and the same layout
    (``x * x.detach()`` saves a view of ``x``'s array; ``x.data = x.data[::-1]`` is new data)."""
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
    if root.grad_fn is None:  # the root is itself a leaf
        return {id(root): (root, g0)}
    pending: dict[Node, Any] = {root.grad_fn: g0}
    wanted = {id(t.grad_fn): t for t in capture if t.grad_fn is not None}
    hooks = state.backward_hooks  # () unless anomaly mode is on
    order = toposort([root.grad_fn])
    leads = _leading_to(order, targets, wanted) if capture else None
    if capture:
        order = [n for n in order if n in leads or id(n) in wanted]
    outputs = _outputs(root, order) if create_graph else None
    with set_grad_enabled(create_graph):
        for node in order:
            g = pending.pop(node, None)
            if wanted and g is not None and id(node) in wanted:
                t = wanted[id(node)]
                found[id(t)] = (t, g)
            if g is None:  # no gradient reached it: still drop what it saved, as for every node of the pass
                if not retain_graph:
                    node.release()
                continue
            if capture and node not in leads:  # a wanted tensor's node with no target behind it
                continue
            if node.roles is None:
                raise RuntimeError(
                    f"backward through `{node.name}` a second time: its saved values were freed after the first "
                    "backward. Pass retain_graph=True to the first backward() to keep them.")
            if node.roles:  # something saved: were saved inputs given new data since?
                _check_saved_inputs(node)
            after = [h(node, g) for h in hooks] if hooks else ()
            if create_graph:
                g_in = _graph_backward(node, g, outputs[node])
            else:
                g_in = _check(node, node.fn.backward(node, g))
            for check in after:
                check(g_in)
            for i, (t, gi, need) in enumerate(zip(node.inputs, g_in, node.needs_input_grad)):
                if not need or gi is None:
                    continue
                if type(gi) is not xp.ndarray:
                    gi = _as_gradient(gi, create_graph)
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


def _leading_to(order: list[Node], targets: dict, wanted: dict) -> set[Node]:
    """The nodes of ``order`` behind which a capture target lies: the only backwards a capture pass runs, so that
    it neither computes nor frees the graph of tensors that merely meet the targets (torch.autograd.grad's rule)."""
    leads: set[Node] = set()
    for node in reversed(order):  # producers first
        for t in node.inputs:
            f = getattr(t, "grad_fn", None)
            if f is not None and (f in leads or id(f) in wanted) or f is None and id(t) in targets:
                leads.add(node)
                break
    return leads


def _as_gradient(gi: Any, create_graph: bool) -> Any:
    """A derivative's result as the pass carries it: an ndarray, or a Tensor under ``create_graph``."""
    if isinstance(gi, Tensor):
        return gi if create_graph else gi._data  # a backward written with ag functions returns Tensors
    return xp.asarray(gi)  # 0-d arithmetic gives numpy scalars


def _outputs(root: Tensor, order: list[Node]) -> dict[Node, Tensor]:
    """Each node's output Tensor (its consumers hold it), for the ``OUTPUT`` role under ``create_graph``."""
    outputs = {root.grad_fn: root}
    for node in order:
        for t in node.inputs:
            f = getattr(t, "grad_fn", None)
            if f is not None and f not in outputs:
                outputs[f] = t
    return outputs


def _graph_backward(node: Node, g: Any, out: Tensor) -> tuple:
    """Run a derivative on graph-connected Tensors, so that ``create_graph`` records it.

    For the call only, the node's saved values are replaced by what their roles name: its input
    Tensors and its output Tensor (constants stay). A derivative that applies numpy functions to
    them (``np.exp(x)``) raises TypeError on a Tensor: it then runs on arrays, and its result is
    exact but marked as not differentiable again.
    """
    if not isinstance(g, Tensor):
        g = Tensor._wrap(xp.asarray(g))
    plain = node.saved
    node.saved = node.graph_values(out)
    try:
        g_in = _check(node, node.fn.backward(node, g))
    except TypeError as e:
        node.saved = plain
        return _raw_backward_in_graph(node, g, e)
    finally:
        node.saved = plain
    if node.fn.__module__.startswith(_BUILT_IN):
        return g_in
    if any(gi is not None and need and not isinstance(gi, Tensor) for gi, need in zip(g_in, node.needs_input_grad)) \
            and _graph_fed(node, g):
        return _mark_not_differentiable(node, g, g_in, "it returned a numpy array, not a Tensor: np.asarray or "
                                                       ".data dropped the graph")
    if INPUT_VIEW in node.roles:
        return _mark_not_differentiable(node, g, g_in, "it saved a view of an input made in forward, which "
                                                       "create_graph sees as a constant: save the input itself")
    return g_in


_BUILT_IN = "autograd_mini.ops"  # the built-ins' array results under create_graph are true constants (x**0's 0)


def _graph_fed(node: Node, g: Tensor) -> bool:
    """Whether the derivative was handed graph values (g, a saved input or the output, requiring grad): a
    result that is a plain array then has lost them, and its own derivative would silently be missing."""
    if g.requires_grad:
        return True
    inputs = node.inputs
    return any(r == OUTPUT or r >= 0 and isinstance(inputs[r], Tensor) and inputs[r].requires_grad
               for r in node.roles)


def _raw_backward_in_graph(node: Node, g: Tensor, why: TypeError) -> tuple:
    """A derivative written with numpy functions: first derivatives are exact, a second one raises."""
    with set_grad_enabled(False):
        try:
            g_in = _check(node, node.fn.backward(node, g._data))
        except TypeError:
            raise why from None  # not a numpy-on-Tensor problem: the original error
    return _mark_not_differentiable(node, g, g_in, str(why))


def _mark_not_differentiable(node: Node, g: Tensor, g_in: tuple, why: str) -> tuple:
    """Exact first derivatives that raise, naming the op, when differentiated again: with respect to the op's
    inputs, and to the incoming gradient ``g`` (a JVP differentiates a VJP with respect to its cotangent)."""
    return tuple(None if gi is None else _NotTwiceDifferentiable.apply(
        g, *[t for t in node.inputs if isinstance(t, Tensor)], value=xp.asarray(_as_gradient(gi, False)),
        fn_name=node.name, why=why) for gi in g_in)


class _NotTwiceDifferentiable(Function):
    """Carries a numpy-written derivative's result in a create_graph pass; differentiating it again raises."""

    @staticmethod
    def forward(ctx, *inputs, value, fn_name, why):
        return value

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            f"`{ctx.params['fn_name']}` has a backward that applies numpy functions to its saved values or gradient "
            f"({ctx.params['why']}), so it cannot be differentiated again (create_graph). Use ag functions "
            "(ag.exp, ag.sigmoid, ...), operators and Tensor methods on them instead: they work on arrays too.")


class _Weighted(Function):
    """``sum(y * v)`` as a root whose derivative seeds ``y`` with ``v``: ``v`` is a weight, never
    differentiated as a function of the inputs (it is not in the first-order result), but under
    ``create_graph`` the seed ``g * v`` is a graph value, so second derivatives reach ``v`` (torch's rule)."""

    @staticmethod
    def forward(ctx, y, v):
        ctx.save_for_backward(v)
        return (y * v).sum()

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g * v, None


def store_grads(found: Iterable[tuple[Tensor, Any]], create_graph: bool = False) -> None:
    """Add each ``(leaf, gradient)`` into ``leaf.grad``: the one place leaf gradients are stored.

    A stored array is the leaf's own: copied when it could alias another array (a view, or one
    already stored for another leaf: pass-through derivatives such as add's return ``g`` twice).
    Without ``create_graph`` the stored gradient carries no graph.
    """
    stored: set[int] = set()
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


def backward(root: Tensor, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate gradients of ``root`` into the ``.grad`` of every leaf that requires grad.

    ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
    """
    retain = create_graph if retain_graph is None else retain_graph
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
    found = _run(outputs, grad_outputs, create_graph if retain_graph is None else retain_graph, create_graph,
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
