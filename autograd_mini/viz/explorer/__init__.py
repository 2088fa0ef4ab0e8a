"""The graph explorer: one self-contained HTML page to inspect a graph, step through backprop in the engine's
order, and watch gradients over training.

>>> with ag.viz.recording() as rec:         # file:line of each op, the backward order, every gradient
...     loss = loss_fn(model(x), y)
...     loss.backward()
>>> ag.viz.save(loss, "graph.html", recording=rec)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...tensor import Tensor
from .._write import write_file
from ._model import graph_data
from ._page import iframe, render_page
from ._program import compiled_step, program_data, trace_step
from ._record import Recording, recording
from .training import TrainingRecorder

__all__ = ["Explorer", "explore", "save_html", "recording", "Recording", "TrainingRecorder"]


class Explorer:
    """An explorer page, ready to save or to show inline in Jupyter (``_repr_html_``)."""

    def __init__(self, data: dict, title: str) -> None:
        self.data, self.title = data, title

    def html(self) -> str:
        """The self-contained page."""
        return render_page(self.data, self.title)

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically (as ``nn.save`` does); a FIFO or device is refused."""
        return write_file(path, self.html(), "ag.viz.save")

    def _repr_html_(self) -> str:
        return iframe(self.html())

    def __repr__(self) -> str:
        return f"<Explorer {self.title!r}: {len(self.data['nodes'])} nodes>"


def explore(*roots: Tensor | Callable[[], Tensor], title: str | None = None, **kwargs: Any) -> Explorer:
    """The explorer page of the graph behind ``roots`` (displays inline in Jupyter; ``.save(path)`` writes it).

    A function in place of a root is run inside ``recording()`` first, so each op shows its ``file:line``.
    ``explore(step, *args)`` with an ``ag.compile``d ``step`` (or ``obj.step``) runs one call ``step(*args)``
    traced afresh (a call like any other: an optimizer step in it updates the model; its program goes into the
    cache), and shows the graph of that call (from the tensor backward ran from, else the returned tensors)
    with the generated program beside it. Keyword arguments: ``params``, ``max_nodes`` (default 2000), ``depth``,
    ``grads``, ``recording``, ``rollup`` (start repeated modules rolled up, default True), ``rankdir``,
    ``layout`` ("auto", "dot", "python"), ``explain`` (``explain_grad`` text for leaves without gradient,
    default True).
    """
    unknown = set(kwargs) - {"params", "max_nodes", "depth", "grads", "recording", "rollup", "rankdir", "layout",
                             "explain"}
    if unknown:  # before a compiled step's call: it may update a model
        raise TypeError(f"explore: unknown argument(s) {', '.join(sorted(unknown))}")
    traced, found = None, compiled_step(roots[0]) if roots else None
    if found is not None:
        step, args = found[0], found[1] + roots[1:]
        traced, rec, roots, named = trace_step(step, args, kwargs.get("max_nodes", 2000))
        kwargs.setdefault("recording", rec)
        kwargs["params"] = {**named, **(kwargs.get("params") or {})}  # a name of the user's wins
        title = title or f"{getattr(step.fn, '__name__', 'step')}: graph and compiled program"
    elif any(compiled_step(r) for r in roots):
        raise TypeError("explore: a compiled function goes first, followed by the arguments of one call: "
                        "ag.viz.explore(step, x, y)")
    elif len(roots) == 1 and callable(roots[0]) and not isinstance(roots[0], Tensor):
        with recording(backward=False) as rec:
            out = roots[0]()
        if not isinstance(out, Tensor):
            raise TypeError(f"explore: the function returned {type(out).__name__}, expected a Tensor")
        roots = (out,)
        kwargs.setdefault("recording", rec)
    if "layout" in kwargs:
        kwargs["layout_engine"] = kwargs.pop("layout")
    data, seq, _ = graph_data(roots, **kwargs)
    if traced is not None:
        data["program"] = program_data(traced, seq)
    return Explorer(data, title or "autograd-mini graph")


def save_html(graph_or_root: Any, path: str | Path, **kwargs: Any) -> Path:
    """``ag.viz.save(root, "graph.html", ...)``: write the explorer page of a root Tensor (or an ``Explorer``)."""
    if isinstance(graph_or_root, Explorer):
        if kwargs:
            raise TypeError("save: an Explorer is already built; pass the arguments to ag.viz.explore instead")
        return graph_or_root.save(path)
    if isinstance(graph_or_root, Tensor) or callable(graph_or_root) and not hasattr(graph_or_root, "source"):
        return explore(graph_or_root, **kwargs).save(path)
    raise TypeError(f"save: a .html page is made from a root Tensor (or ag.viz.explore's result), not from "
                    f"{type(graph_or_root).__name__}: DOT text and graphviz graphs carry no values or gradients")
