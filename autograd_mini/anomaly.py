"""Anomaly mode: stop at the first op whose forward or backward makes a NaN/inf, and check every
backward result; plus ``capture_traces``, which records where each op was created.

Both work through the engine's hook tuples (``state.forward_hooks``, ``state.backward_hooks``),
which are empty, and so cost nothing, while neither is active.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any, Callable, Iterator

from ._backend import xp
from ._source import location
from .grad_mode import Extra, state
from .tensor import Tensor

__all__ = ["detect_anomaly", "AnomalyError", "capture_traces", "nonfinite"]

_INTERNAL = ("autograd_mini", "nn")


class AnomalyError(RuntimeError):
    """Raised by ``detect_anomaly`` at the first op that makes a NaN/inf or breaks a backward rule."""


def user_frame() -> str | None:
    """``file:line`` of the innermost caller outside autograd_mini and nn (where the op was created; a notebook
    cell's ``Cell In[n]:line``), followed by ``via nn/...:line`` when an ``nn`` layer made the op."""
    f, via = sys._getframe(1), ""
    while f is not None:
        top = f.f_globals.get("__name__", "").split(".")[0]
        if top not in _INTERNAL:
            return location(f.f_code.co_filename, f.f_lineno) + via
        if top == "nn" and not via:
            via = f" via {f.f_code.co_filename}:{f.f_lineno}"
        f = f.f_back
    return None


def _trace_hook(node: Any, out: Any) -> None:
    node.extra = Extra(node.scope, user_frame())


@contextlib.contextmanager
def capture_traces(nodes: list | None = None) -> Iterator[list]:
    """Record ``node.trace`` (the user's ``file:line``) for every op recorded inside the block,
    and collect the nodes into ``nodes`` (a new list if not given), which is yielded."""
    nodes = [] if nodes is None else nodes
    prev_hooks, prev_flag = state.forward_hooks, state.capture_trace
    state.forward_hooks = (_trace_hook, nodes_append(nodes)) + prev_hooks
    state.capture_trace = True
    try:
        yield nodes
    finally:
        state.forward_hooks, state.capture_trace = prev_hooks, prev_flag


def nodes_append(nodes: list) -> Callable[[Any, Any], None]:
    return lambda node, out: nodes.append(node)


# ---- anomaly mode --------------------------------------------------------------------
def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def nonfinite(a: Any) -> str | None:
    """'nan', 'inf' or None for a floating array or Tensor (anything else: None); the one such test."""
    a = _arr(a)
    if not isinstance(a, xp.ndarray) and not isinstance(a, (float, xp.floating)):
        return None
    a = xp.asarray(a)
    if a.dtype.kind not in "fc" or bool(xp.isfinite(a).all()):
        return None
    return "nan" if bool(xp.isnan(a).any()) else "inf"


def _created_at(node: Any) -> str:
    trace = node.trace
    return f"created at {trace}" if trace else "created before anomaly mode was on (no trace)"


def _shapes(node: Any) -> str:
    parts = []
    for x in node.inputs:
        a = _arr(x)
        parts.append(f"{tuple(a.shape)} {a.dtype}" if isinstance(a, xp.ndarray) else repr(x))
    return ", ".join(parts)


def _forward_hook(node: Any, out: Any) -> None:
    kind = nonfinite(out)
    if kind is None:
        return
    passed = [i for i, x in enumerate(node.inputs) if nonfinite(x)]
    if passed:
        origin = (f"it only passed it on: input(s) {passed} already contained nan/inf (made by an op outside "
                  "anomaly mode, under no_grad, or given as data)")
    else:
        origin = "this op created it: all its inputs were finite"
    raise AnomalyError(f"forward of `{node.name}` produced {kind} (output shape {tuple(out.shape)}, inputs "
                       f"{_shapes(node)}), {_created_at(node)}; {origin}")


def _backward_hook(node: Any, g: Any) -> Callable[[tuple], None]:
    """Snapshot what backward reads (g, saved arrays); the returned check runs on its results."""
    g_arr = _arr(g)
    g_copy = g_arr.copy()
    saved = [(a, a.copy()) for a in node.saved if isinstance(a, xp.ndarray)]
    ins = [x._data if isinstance(x, Tensor) else None for x in node.inputs]

    def check(grads: tuple) -> None:
        def fail(msg: str) -> None:
            raise AnomalyError(f"backward of `{node.name}` (inputs {_shapes(node)}; {_created_at(node)}): {msg}")

        if not _same(g_arr, g_copy):
            fail("modified its incoming gradient `g` in place")
        for a, c in saved:
            if not _same(a, c):
                fail(f"modified a saved array of shape {a.shape} in place")
        for i, (gi, t) in enumerate(zip(grads, node.inputs)):
            if gi is None or not isinstance(t, Tensor):
                continue
            a = xp.asarray(_arr(gi))
            try:
                ok = xp.broadcast_shapes(t.shape, a.shape) == a.shape
            except ValueError:
                ok = False
            if not ok:
                fail(f"gradient for input {i} has shape {a.shape}, expected {t.shape} (or a broadcast of it)")
            if a.dtype.kind != t.dtype.kind or a.dtype.itemsize < t.dtype.itemsize:  # wider is fine: cast back
                fail(f"gradient for input {i} has dtype {a.dtype}, expected {t.dtype}")
            for arr in ins + [s for s, _ in saved]:
                if arr is not None and xp.may_share_memory(a, arr) and xp.shares_memory(a, arr):
                    fail(f"gradient for input {i} shares memory with a forward input or saved array; "
                         "return a new array (e.g. `x.copy()`)")
            kind = nonfinite(a)
            if kind:
                if nonfinite(g_arr):
                    fail(f"gradient for input {i} has {kind}, but only passed it on: the incoming gradient "
                         "already had nan/inf")
                fail(f"this op created {kind} in the gradient for input {i} from a finite incoming gradient")

    return check


def _same(a: Any, b: Any) -> bool:
    return a.shape == b.shape and bool(xp.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


class detect_anomaly:
    """Context manager (or decorator): raise ``AnomalyError`` at the first op whose forward output or backward
    gradient holds NaN/inf, naming the op, its input shapes and the ``file:line`` that created it,
    and saying whether it created the NaN/inf or only passed it on. Backward results are also
    checked: shape, dtype, finiteness, no memory shared with forward inputs, nothing modified in
    place. Off (the default), it costs nothing.

    >>> with ag.detect_anomaly():
    ...     y = ag.log(x)          # AnomalyError if x holds a 0
    ...     y.sum().backward()
    """

    def __init__(self, check_backward: bool = True) -> None:
        self.check_backward = check_backward
        self._prev: list[tuple] = []

    def __enter__(self) -> detect_anomaly:
        self._prev.append((state.forward_hooks, state.backward_hooks, state.capture_trace))
        state.forward_hooks = (_trace_hook, _forward_hook) + state.forward_hooks
        if self.check_backward:
            state.backward_hooks = (_backward_hook,) + state.backward_hooks
        state.capture_trace = True
        return self

    def __exit__(self, *exc: object) -> None:
        state.forward_hooks, state.backward_hooks, state.capture_trace = self._prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        """Use as a decorator: ``@ag.detect_anomaly()``."""
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_backward):
                return fn(*args, **kwargs)

        return wrapper
