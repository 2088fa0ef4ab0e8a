"""``explain_grad``: why is this tensor's gradient None or zero?

It walks the recorded graph of the root (with the shared iterative ``toposort``) and tells
whether the tensor is not reachable, reachable only through a detached copy, or reachable
only through ops that pass no gradient at this point (dead relus, saturated sigmoid/tanh,
clip outside its bounds), naming those ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .anomaly import capture_traces
from .engine import toposort
from .function import inputs_as_used
from .grad_mode import enable_grad
from .tensor import Tensor

__all__ = ["explain_grad", "GradExplanation"]


@dataclass
class GradExplanation:
    """``reason`` is one of ``"no_requires_grad"``, ``"unreachable"``, ``"detached"``, ``"blocked"``,
    ``"reachable"``; ``ops`` names the ops involved; ``str()`` is the explanation."""
    reason: str
    message: str
    ops: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def _stopped(node: Any, tiny: float) -> tuple[str, Any, str] | None:
    """``(kind, mask, why_when_all)`` of the elements where this op passes no gradient (the op's own
    ``blocked``), or None."""
    x = node.inputs[0] if node.inputs else None
    if not isinstance(x, Tensor) or x.size == 0:
        return None
    return node.fn.blocked(x._data, node.params, tiny)


def _blocks(node: Any, tiny: float) -> str | None:
    """Why this op passes no gradient at all at its current inputs, or None."""
    stop = _stopped(node, tiny)
    if stop is None or not stop[1].all():
        return None
    return f"{stop[0]}: {stop[2]}"


def explain_grad(tensor: Tensor, root: Tensor | Callable[[], Tensor], tiny: float = 1e-7) -> GradExplanation:
    """Explain why ``tensor`` gets a None or zero gradient from ``root`` (e.g. a parameter and the loss).

    ``root`` is a Tensor (its graph, even after a backward that freed saved values) or a
    function returning one, which is re-run with op tracing so ops are named by ``file:line``.

    >>> print(ag.explain_grad(model.fc1.weight, loss))
    """
    if callable(root) and not isinstance(root, Tensor):
        with capture_traces(), enable_grad():
            root = root()
    if not tensor.requires_grad:
        return GradExplanation("no_requires_grad", "it does not require grad (requires_grad=False), so no gradient "
                               "is computed for it; set requires_grad=True on it (leaves only)")
    if root is tensor:
        return GradExplanation("reachable", "it is the root itself: its gradient is the seed gradient")
    order = toposort([root.grad_fn]) if root.grad_fn is not None else []
    uses = [(n, i) for n in order for i, x in enumerate(n.inputs) if x is tensor]
    if not uses:
        return _not_used(tensor, order)
    # nodes from which `tensor` is reachable (toposort puts consumers first: walk it backwards)
    leads: set = set()
    for n in reversed(order):
        if any(x is tensor or (isinstance(x, Tensor) and x.grad_fn in leads) for x in inputs_as_used(n)):
            leads.add(n)
    blocked = {n: why for n in order if n in leads and (why := _blocks(n, tiny))}
    # search from the root through ops that do pass gradient
    frontier, seen, stack, open_path = [], set(), [root.grad_fn], False
    while stack:
        n = stack.pop()
        if n in seen or n not in leads:
            continue
        seen.add(n)
        if n in blocked:
            frontier.append(n)
            continue
        for x in inputs_as_used(n):
            if x is tensor:
                open_path = True
            elif isinstance(x, Tensor) and x.grad_fn is not None:
                stack.append(x.grad_fn)
    if not open_path:
        ops = [f"{n.where()}: {blocked[n]}" for n in frontier]
        return GradExplanation("blocked", "every path from the root to it passes through an op that passes no "
                               "gradient here:\n  " + "\n  ".join(ops), ops)
    partly = sorted(((float(st[1].mean()), st[0], n) for n in leads
                     if (st := _stopped(n, tiny)) is not None and st[1].any()), key=lambda p: -p[0])
    partial = "".join(f"\n  {n.where()}: {kind} on {100 * f:.0f}% of its elements" for f, kind, n in partly[:5])
    g = tensor.grad
    state = "None (was backward() called on this root?)" if g is None else (
        "all zeros" if not np.any(g._data) else "non-zero")
    return GradExplanation("reachable", f"it is reachable from the root through {len(uses)} use(s) by ops that pass "
                           f"gradient (e.g. input {uses[0][1]} of {uses[0][0].where()}); its .grad is {state}. A "
                           "zero gradient here comes from values (zero weights or upstream gradients, elementwise "
                           "dead units that together cover every path), not from the graph's structure."
                           + (f" Ops on its paths that pass no gradient on some elements:{partial}" if partial else ""),
                           [n.where() for _, _, n in partly[:5]])


def _not_used(tensor: Tensor, order: list) -> GradExplanation:
    for n in order:
        for i, x in enumerate(n.inputs):
            if isinstance(x, Tensor) and not x.requires_grad and np.shares_memory(x._data, tensor._data):
                return GradExplanation(
                    "detached", f"the graph uses it only through a detached copy: input {i} of {n.where()} shares "
                    "its memory but carries no graph (made by .detach(), .data, or a view taken under no_grad)",
                    [n.where()])
    same = [f"input {i} of {n.where()}" for n in order for i, x in enumerate(n.inputs)
            if isinstance(x, Tensor) and not x.requires_grad and x.shape == tensor.shape]
    hint = f" Constants of its shape {tensor.shape} in the graph: {', '.join(same[:5])}." if same else ""
    return GradExplanation(
        "unreachable", f"it is not reachable from the root: none of the {len(order)} recorded ops that computed the "
        "root takes it as input. Either it is not used, or the path was cut: ops run under no_grad (or on "
        f"a .detach()ed or .data copy) leave no trace in the graph.{hint}", [])
