"""``TrainingRecorder``: gradient and value norms of every parameter, step by step, in bounded memory, saved as
an explorer page with a step slider and per-layer charts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._backend import xp
from ...tensor import Tensor
from .._graph import module_label
from .._write import write_file
from ._model import graph_data, legend
from ._page import render_page
from ._stats import num, summary

__all__ = ["TrainingRecorder"]


def _norm(a: Any) -> float:
    with xp.errstate(all="ignore"):
        return float(xp.linalg.norm(xp.ravel(a))) if a.size else 0.0


def _early(loss: list) -> bool:
    """Whether more than half of the loss's total movement happens in the first tenth of the steps."""
    y = [v for v in loss if v is not None and math.isfinite(v)]
    moves = [abs(b - a) for a, b in zip(y, y[1:])]
    return len(y) >= 10 and sum(moves[:max(1, len(y) // 10)]) > 0.5 * sum(moves) > 0


class TrainingRecorder:
    """Call ``record()`` once per training step, after ``backward()`` (before ``optimizer.step()``: the
    gradients then belong to the values that made them). Records every ``every``-th step and keeps at most
    ``max_steps``: when full, every other kept step is dropped and only every ``2 * every``-th step is recorded
    from then on. The first ``keep_first`` steps (at most ``max_steps // 4``) are never dropped: blow-ups
    often happen there.

    >>> rec = ag.viz.TrainingRecorder(model)
    >>> for step in range(1000):
    ...     loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward()
    ...     rec.record(loss)
    ...     opt.step()
    >>> rec.save("training.html")
    """

    def __init__(self, model: Any = None, params: Mapping[str, Tensor] | None = None, every: int = 1,
                 max_steps: int = 1000, histograms: bool = False, keep_first: int = 100) -> None:
        if model is None and params is None:
            raise ValueError("TrainingRecorder: give a model (with named_parameters()) or params={name: tensor}")
        if not isinstance(every, int) or every < 1 or not isinstance(max_steps, int) or max_steps < 2:
            raise ValueError(f"TrainingRecorder: every must be an int >= 1 and max_steps an int >= 2, "
                             f"got every={every!r}, max_steps={max_steps!r}")
        named = list(model.named_parameters()) if model is not None else []
        self._extra = {k: t for k, t in (params or {}).items() if all(t is not p for _, p in named)}
        named += list(self._extra.items())
        for k, t in named:
            if not isinstance(t, Tensor):
                raise TypeError(f"TrainingRecorder: parameter {k!r} is a {type(t).__name__}, not a Tensor")
        self.names = [k for k, _ in named]
        self._params = [t for _, t in named]
        self._modules: list[tuple[str, Any, list[int]]] = []  # (name, module, indices of its parameters)
        if model is not None and hasattr(model, "named_modules"):
            index = {id(t): i for i, t in enumerate(self._params)}
            for name, m in model.named_modules():
                own = [index[id(p)] for _, p in m.named_parameters() if id(p) in index]
                if own:
                    self._modules.append((module_label(m, {id(m): name}), m, own))  # "0: Linear", as boxes say
        self.every, self.max_steps, self.histograms = every, max_steps, histograms
        self.keep_first = max(0, min(int(keep_first), max_steps // 4))
        self.steps: list[int] = []
        self.loss: list[float | None] = []
        self._g: list[list[float | None]] = []  # per kept step, per parameter: |grad| (None: no gradient)
        self._v: list[list[float]] = []
        self._hist: list[list[dict | None]] = []
        self._first: int | None = None
        self._count = 0
        self._last: int | None = None
        self.root: Tensor | None = None

    def record(self, loss: Any = None, step: int | None = None) -> bool:
        """Record the parameters' gradient and value norms at this step; True if this step was kept.

        ``loss`` (a Tensor or a number) is charted; the first loss Tensor also supplies the graph drawn on
        the page. ``step`` defaults to a counter of the calls.
        """
        value = None
        if loss is not None:
            try:
                value = float(loss.item() if isinstance(loss, Tensor) else loss)
            except (TypeError, ValueError):
                raise ValueError(f"TrainingRecorder.record: loss must be a single number, got "
                                 f"{getattr(loss, 'shape', type(loss).__name__)}") from None
        step = self._count if step is None else int(step)
        if self._last is not None and step <= self._last:
            raise ValueError(f"TrainingRecorder.record: step {step} after step {self._last}; steps must increase")
        self._count, self._last = step + 1, step
        if self._first is None:
            self._first = step
        if isinstance(loss, Tensor) and self.root is None:
            self.root = loss
        if not self._wanted(step, self.every):
            return False
        grads = [None if t.grad is None else t.grad._data for t in self._params]
        self.steps.append(step)
        self.loss.append(value)
        self._g.append([None if g is None else _norm(g) for g in grads])
        self._v.append([_norm(t._data) for t in self._params])
        if self.histograms:
            self._hist.append([summary(g) for g in grads])
        while len(self.steps) > self.max_steps:  # full: keep every other step, record half as often
            self.every *= 2
            keep = [self._wanted(s, self.every) for s in self.steps]
            for series in (self.steps, self.loss, self._g, self._v, self._hist):
                if series:
                    series[:] = [v for v, k in zip(series, keep) if k]
        return step in self.steps[-1:]

    def _wanted(self, step: int, every: int) -> bool:
        since = step - (self._first or 0)
        return since < self.keep_first or since % every == 0

    def _module_norm(self, row: list, own: list[int]) -> float | None:
        vals = [row[i] for i in own if row[i] is not None]
        return math.sqrt(sum(v * v for v in vals)) if vals else None

    def timeline(self) -> dict:
        """The recorded series, JSON-ready (norms with 4 significant digits; NaN/inf as strings)."""
        def col(rows: list, i: int) -> list:
            return [None if r[i] is None else num(r[i]) for r in rows]

        params = [{"name": k, "g": col(self._g, i), "v": col(self._v, i),
                   **({"hist": [h[i] for h in self._hist]} if self.histograms else {})}
                  for i, k in enumerate(self.names)]
        modules = []
        for name, _, own in self._modules:
            g = [self._module_norm(r, own) for r in self._g]
            v = [self._module_norm(r, own) for r in self._v]
            modules.append({"name": name, "g": [None if x is None else num(x) for x in g],
                            "v": [None if x is None else num(x) for x in v]})
        return {"steps": self.steps, "loss": [None if x is None else num(x) for x in self.loss], "params": params,
                "modules": modules, "every": self.every}

    def save(self, path: str | Path, graph: Tensor | None = None, title: str = "autograd-mini training",
             log_steps: bool | None = None, **kwargs: Any) -> Path:
        """Write the training page: the graph of ``graph`` (default: the first recorded loss) coloured by the
        selected step, a step slider, and charts of per-layer gradient norms and of the loss.

        ``log_steps``: open the charts on a logarithmic step axis; by default, when the first tenth of the
        kept steps holds most of the loss's movement (a blow-up or a fast start that a linear axis squashes)."""
        if not self.steps:
            raise ValueError("TrainingRecorder.save: nothing recorded yet (call record() after backward())")
        root = graph if graph is not None else self.root
        tl = self.timeline()
        if root is None:
            data = {"nodes": [], "boxes": [], "width": 1, "height": 1, "layout": "none", "rankdir": "TB",
                    "notes": ["no graph: pass record(loss) a loss Tensor, or save(..., graph=loss)"], "dropped": 0,
                    "backward": {"steps": [], "lit": [], "why": ""}}
            data["legend"] = legend()
            node_series: list = []
            box_series: list = []
        else:
            data, seq, boxes = graph_data((root,), params={**self._extra, **kwargs.pop("params", {})},
                                          show_grads=False, explain=False, **kwargs)
            where = {id(t): i for i, t in enumerate(self._params)}
            node_series = [where.get(id(it.tensor)) if it.kind != "op" and it.tensor is not None else None
                           for it in seq]
            mods = {id(m): k for k, (_, m, _) in enumerate(self._modules)}
            box_series = [mods.get(id(b["module"])) if b["module"] is not None else None for b in boxes]
        tl["node_series"], tl["box_series"] = node_series, box_series
        tl["log_steps"] = _early(self.loss) if log_steps is None else bool(log_steps)
        data["timeline"] = tl
        kept = "every step" if self.every == 1 else f"1 step in {self.every}" + (
            f" after the first {self.keep_first}" if self.keep_first else "")
        data["notes"] = data["notes"] + [f"{len(self.steps)} steps kept ({kept}; at most {self.max_steps})"]
        return write_file(path, render_page(data, title), "TrainingRecorder.save")
