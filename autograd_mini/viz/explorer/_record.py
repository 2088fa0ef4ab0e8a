"""``recording()``: while it is on, each new op remembers the user's ``file:line`` and each backward pass is
recorded in the engine's own visiting order, with every gradient. Off, it costs nothing (it works through the
engine's hook tuples, which are empty otherwise)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from ..._backend import xp
from ...anomaly import capture_traces
from ...function import inputs_as_used
from ...grad_mode import state
from ...shapes import sum_to
from ...tensor import Tensor

__all__ = ["Recording", "recording"]


def _array(g: Any) -> Any:
    return xp.asarray(g._data if isinstance(g, Tensor) else g)


def _sq(a: Any) -> float:
    with xp.errstate(all="ignore"):
        return float(xp.vdot(a.ravel(), a.ravel()).real) if a.size else 0.0


class Pass:
    """One backward pass: nodes in the order the engine visited them, each with the gradient it received, and
    the leaves' accumulated gradients with the step that first reached each."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, float, float]] = []  # (node, |g| it received, running |grad| of leaves after)
        self.node_grads: dict[int, tuple[Any, Any]] = {}  # id(node) -> (node, the gradient of its output)
        self.leaf_grads: dict[int, tuple[Tensor, Any]] = {}
        self.leaf_first: dict[int, int] = {}  # id(leaf) -> 1-based step of its first contribution
        self._sumsq = 0.0

    @property
    def root(self) -> Any:
        return self.steps[0][0] if self.steps else None

    def visit(self, node: Any, g: Any) -> Any:
        a = _array(g).copy()  # a copy: the engine may add into the pending gradient later
        self.node_grads[id(node)] = (node, a)
        self.steps.append((node, math.sqrt(_sq(a)), 0.0))
        step = len(self.steps)

        def received(g_in: tuple) -> None:  # the engine calls this with the node's gradients per input
            for t, gi in zip(node.inputs, g_in):
                if gi is None or not isinstance(t, Tensor) or t.grad_fn is not None or not t.requires_grad:
                    continue
                gi = sum_to(_array(gi), t._data.shape)
                old = self.leaf_grads.get(id(t))
                new = gi.copy() if old is None else old[1] + gi
                self._sumsq += _sq(new) - (_sq(old[1]) if old is not None else 0.0)
                self.leaf_grads[id(t)] = (t, new)
                self.leaf_first.setdefault(id(t), step)
            n, gn, _ = self.steps[step - 1]
            self.steps[step - 1] = (n, gn, math.sqrt(max(self._sumsq, 0.0)))

        return received


class Recording:
    """What ``recording()`` saw: the last ``KEEP_PASSES`` backward passes run inside, in the engine's visiting
    order, with their gradients. (Each op made inside keeps its ``file:line`` in ``node.trace``.)"""

    KEEP_PASSES = 4  # a training loop inside recording() must not keep every step's gradients

    def __init__(self) -> None:
        self.passes: list[Pass] = []
        self._reachable: set[int] = set()  # nodes that made an input of a node visited in the current pass

    def _backward_hook(self, node: Any, g: Any) -> Any:
        # Within a pass, every node after the first got its gradient from one visited before it, so it made one of
        # that node's inputs, and no node is visited twice. Any other node starts a new pass. (The ids stay valid:
        # the current pass holds its nodes, and they hold their inputs.)
        if id(node) not in self._reachable or id(node) in self.passes[-1].node_grads:
            self.passes = self.passes[1 - self.KEEP_PASSES:] + [Pass()]
            self._reachable = set()
        self._reachable.update(id(t.grad_fn) for t in inputs_as_used(node) if getattr(t, "grad_fn", None) is not None)
        return self.passes[-1].visit(node, g)

    def pass_from(self, root: Tensor) -> Pass | None:
        """The last recorded backward pass that started at ``root``."""
        return next((p for p in reversed(self.passes) if root.grad_fn is not None and p.root is root.grad_fn), None)


class _Discard:
    def append(self, item: Any) -> None:
        pass


@contextlib.contextmanager
def recording(backward: bool = True) -> Iterator[Recording]:
    """Record, for the graph explorer, where each op is made (``file:line``) and, with ``backward``, the
    backward passes run inside the block (the engine's real visiting order and every gradient).

    >>> with ag.viz.recording() as rec:
    ...     loss = model(x).sum()
    ...     loss.backward()
    >>> ag.viz.save(loss, "graph.html", recording=rec)
    """
    rec = Recording()
    prev = state.backward_hooks
    if backward:
        state.backward_hooks = prev + (rec._backward_hook,)
    try:
        with capture_traces(_Discard()):  # the file:line hook only: keeping the nodes would keep every graph alive
            yield rec
    finally:
        state.backward_hooks = prev
