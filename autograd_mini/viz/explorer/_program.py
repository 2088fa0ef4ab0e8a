"""The explorer page of an ``ag.compile``d step: one call traced afresh under ``recording()``, its graph, and its
generated program beside it, each line tied to the node it belongs to."""

from __future__ import annotations

import functools
import inspect
import io
import keyword
import tokenize
from typing import Any

from ...compiler.program import Compiled, Traced
from ...tensor import Tensor
from .._graph import Item, graph_nodes
from ._record import recording

__all__ = ["compiled_step", "trace_step", "program_data"]

_CLASS = {tokenize.COMMENT: "c", tokenize.STRING: "s", tokenize.NUMBER: "n"}


def compiled_step(x: Any) -> tuple[Compiled, tuple] | None:
    """``x`` as (compiled function, arguments bound already): ``step``, or ``obj.step`` (a compiled method,
    ``obj`` first); None for anything else."""
    if isinstance(x, Compiled):
        return x, ()
    if isinstance(x, functools.partial) and isinstance(getattr(x.func, "__self__", None), Compiled):
        return x.func.__self__, x.args
    return None


def trace_step(step: Compiled, args: tuple, max_nodes: int | None = 2000) -> tuple[Traced, Any, tuple, dict]:
    """Run one call of ``step`` on ``args`` traced afresh, recorded. Returns the trace, the recording, the graph's
    roots (the tensors backward ran from, else the returned tensors that have a graph) and the tensor arguments
    the drawn graph (its last ``max_nodes`` ops) uses, by the names the program gives them."""
    name = getattr(step.fn, "__name__", "the step")
    try:
        inspect.signature(step.fn).bind(*args)
    except TypeError as e:
        raise TypeError(f"ag.viz.explore(step, *args) runs one call of the compiled {name}: pass the arguments of "
                        f"one call after it, ag.viz.explore(step, {_params(step.fn)}) ({e})") from None
    except ValueError:  # no signature to check (a builtin): the call itself will say
        pass
    with recording() as rec:
        traced = step._traced_call(args)
    roots = list({id(t): t for t in traced.backward_roots}.values()) or \
        [t for t in _tensors(traced.result) if t.grad_fn is not None]
    if not roots:
        raise ValueError(f"ag.viz.explore: {name} ran no backward() and returned no tensor with a graph, so there is "
                         "no graph to show beside its program (print step.source to read the program)")
    order, _, _ = graph_nodes(roots, max_nodes)
    used = {id(t) for n in order for t in n.inputs}
    named = {k: a for k, a in zip(traced.names, args) if isinstance(a, Tensor) and id(a) in used}
    return traced, rec, tuple(roots), named


def _params(fn: Any) -> str:
    try:
        return ", ".join(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return "..."


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def program_data(traced: Traced, seq: list[Item]) -> dict:
    """The program pane: each source line as (text, class) spans, the page node it belongs to (-1: none, or not
    drawn) and whether it is part of that node's backward pass."""
    at: dict[int, int] = {}
    for i, it in enumerate(seq):  # an op by its node; a leaf (or an op's output made without a node) by its tensor
        key = it.node if it.kind == "op" else it.tensor
        if key is not None:
            at[id(key)] = i
    node = [-1 if o is None else at.get(id(o[0]), -1) for o in traced.owners]
    back = [int(o is not None and o[1] == "backward") for o in traced.owners]
    return {"code": _spans(traced.source), "node": node, "back": back}


def _spans(source: str) -> list[list[list[str]]]:
    """Each line of ``source`` cut into [text, class] spans: comments "c", strings "s", numbers "n", keywords "k"."""
    lines = source.splitlines()
    marks: list[list[tuple[int, int, str]]] = [[] for _ in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        cls = _CLASS.get(tok.type) or ("k" if tok.type == tokenize.NAME and keyword.iskeyword(tok.string) else "")
        if cls and tok.start[0] == tok.end[0]:
            marks[tok.start[0] - 1].append((tok.start[1], tok.end[1], cls))
    out = []
    for line, spans in zip(lines, marks):
        row, pos = [], 0
        for a, b, cls in spans:
            if a > pos:
                row.append([line[pos:a], ""])
            row.append([line[a:b], cls])
            pos = b
        if pos < len(line) or not row:
            row.append([line[pos:], ""])
        out.append(row)
    return out
