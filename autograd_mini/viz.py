"""Pictures of computation graphs: DOT text (no dependencies), Graphviz rendering, and a text tree.

>>> loss = ((x @ w).sigmoid() - y).pow(2).mean()
>>> grads = ag.viz.capture_grads(loss)            # loss.backward() that also keeps intermediate gradients
>>> ag.viz.save(ag.draw_graph(loss, grads=grads), "loss.svg")
"""

from __future__ import annotations

import functools
import gc
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._backend import xp
from ._vizmodel import Grads, Item, build, capture_grads, collapse, module_label, shape_str
from .tensor import Tensor

__all__ = ["draw_graph", "to_dot", "to_text", "save", "capture_grads", "Grads", "GraphvizNotFoundError"]
_EXPLORER = ("explore", "recording", "Recording", "TrainingRecorder", "Explorer")


def __getattr__(name: str) -> Any:  # the HTML explorer (autograd_mini/explorer) is imported on first use
    if name in _EXPLORER:
        from . import explorer

        return getattr(explorer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# |grad| colour scale, by upper bound: vanishing blues, healthy green, exploding oranges.
SCALE = ((1e-6, "#2166ac", "#2166ac", "white"), (1e-4, "#67a9cf", "#4393c3", "black"),
         (1e-2, "#d1e5f0", "#74add1", "black"), (1e2, "#d9f0d3", "#5aae61", "black"),
         (1e4, "#fdb863", "#f1a340", "black"), (1e6, "#e66101", "#e66101", "white"),
         (float("inf"), "#7f3b08", "#7f3b08", "white"))
_ROLE = {"op": ("box", "rounded,filled", "#ffffff"), "param": ("box", "filled", "#cfe2ff"),
         "input": ("ellipse", "filled", "#fff3bf"), "module": ("box3d", "filled", "#e9ecef")}
_OUTPUT_FILL, _DEAD, _RED, _SOURCE = "#b2f2bb", "#d9d9d9", "#ff8787", "#c92a2a"
_SHARED = 4  # a leaf used more often than this does not pull its consumers' ranks


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program (or the ``graphviz`` Python package) is missing."""


def _colours(it: Item, show_grads: bool) -> tuple[str | None, str, str]:
    """(fill, font colour, edge colour) for an item's tensor."""
    if it.vbad or it.gbad:
        return (_SOURCE, "white", _SOURCE) if it.source else (_RED, "black", "#e03131")
    if show_grads and it.gnorm is not None:
        if it.gnorm == 0:
            return _DEAD, "#7f7f7f", "#bdbdbd"
        for bound, fill, edge, font in SCALE:
            if it.gnorm < bound:
                return fill, font, edge
    return None, "black", "#495057"


def _label(it: Item, show_values: bool) -> list[str]:
    t = it.tensor
    head = it.node.name if it.kind == "op" else it.key
    lines = [head] + [e for e in it.extra if e] + ([shape_str(t._data)] if t is not None else [])
    if show_values and t is not None and t._data.size and t._data.dtype.kind in "biuf":
        with xp.errstate(all="ignore"):
            a = t._data
            lines.append(f"value {a.item():.4g}" if a.size == 1 else
                         f"min {a.min():.3g} max {a.max():.3g} mean {a.mean():.3g}")
    if it.gnorm is not None:
        lines.append(f"|grad| {it.gnorm:.2e}" + (" (dead)" if it.gnorm == 0 else ""))
    for what, bad in (("value", it.vbad), ("grad", it.gbad)):
        if bad and (what == "value" or it.source == what):  # a bad grad shows in its norm already
            lines.append(f"{bad} in {what}" + (" - SOURCE" if it.source == what else ""))
    return lines


# control characters (NUL breaks Graphviz's parser) are drawn as their Unicode pictures: "\0" -> "\u2400"
_VISIBLE = {c: 0x2400 + c for c in range(32) if chr(c) != "\n"} | {0x7F: 0x2421}


def _q(s: str) -> str:
    s = s.translate(_VISIBLE)
    if '"' in s or "\\" in s or "\n" in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _html(s: str) -> str:
    return s.translate(_VISIBLE).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _gc_paused(fn: Any) -> Any:
    """Run ``fn`` with the cyclic GC paused: labelling a big graph allocates a few objects per op, and every full
    collection re-walks the whole graph (on 10,000 ops that doubled the time). Nothing built here is cyclic."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper


@_gc_paused
def _lines(roots: tuple, show_values: bool, show_grads: bool, params: Mapping[str, Any] | None,
           max_nodes: int | None, depth: int | None, grads: Grads | None, rankdir: str) -> list[str]:
    show_grads = show_grads or grads is not None
    seq, modname, dropped, notes = build(roots, params, max_nodes, show_grads, grads)
    groups = collapse(seq, depth, modname) if depth is not None else []
    edges: list[str] = []
    seen: set[tuple] = set()
    q = {id(it): _q(it.key) for it in seq + groups}
    q[id(None)] = '"truncated"'
    uses: dict[int, int] = {}
    for it in seq:
        for s in it.inputs:
            uses[id(s)] = uses.get(id(s), 0) + 1
    for it in seq:
        dst = q[id(it.group or it)]
        for s in it.inputs:
            src = q[id(s if s is None or s.group is None else s.group)]
            if src == dst or (src, dst) in seen and (s is None or s.group or it.group):
                continue  # inside a collapsed module, or a duplicate arrow into one
            seen.add((src, dst))
            style = " style=dashed" if s is None or (show_grads and s.gnorm == 0) else ""
            if s is not None and s.kind != "op" and uses[id(s)] > _SHARED:
                style += " constraint=false"  # a weight shared by many ops: long edges would stall dot's layout
            colour = "#868e96" if s is None else _colours(s, show_grads)[2]
            edges.append(f'{src} -> {dst} [color="{colour}"{style}]')
    clusters: dict[tuple, list[str]] = {(): []}
    labels: dict[tuple, str] = {}
    for it in seq + groups:
        if it.group is not None:
            continue
        shape, style, fill = _ROLE[it.kind]
        cfill, font, _ = _colours(it, show_grads)
        label = it.extra + ([f"|grad| {it.gnorm:.2e}"] if it.gnorm is not None else []) \
            if it.kind == "module" else _label(it, show_values)
        attrs = (f"label={_q(chr(10).join(label))} shape={shape} style={_q(style)} "
                 f"fillcolor={_q(cfill or (_OUTPUT_FILL if it.output else fill))}")
        attrs += (f" fontcolor={_q(font)}" if font != "black" else "") + (" peripheries=2" if it.output else "")
        attrs += " penwidth=3" if it.source else " penwidth=1.5" if it.output else ""
        ck = tuple(map(id, it.path))
        for i in range(1, len(ck) + 1):
            if ck[:i] not in clusters:
                clusters[ck[:i]] = []
                labels[ck[:i]] = module_label(it.path[i - 1], modname)
        clusters[ck].append(f"{q[id(it)]} [{attrs}]")
    if dropped:
        clusters[()].append(f'"truncated" [label={_q(notes[0])} shape=note style=dashed fontcolor="#868e96"]')
    out = [f"graph [rankdir={_q(rankdir)} fontname=Helvetica fontsize=10 labelloc=b nodesep=0.25 ranksep=0.35]",
           'node [fontname=Helvetica fontsize=9 height=0.3 margin="0.08,0.04"]', "edge [arrowsize=0.6]"]
    rows = [f"<tr><td colspan='10' align='left'>{_html(n)}</td></tr>" for n in notes]
    if show_grads:
        cells = "".join(f"<td bgcolor='{f}'><font color='{c}'>{'&lt;' + format(b, '.0e') if b < 1e300 else 'more'}"
                        "</font></td>" for b, f, _, c in SCALE)
        rows.append(f"<tr><td>|grad|</td>{cells}<td bgcolor='{_DEAD}'>0 dead</td>"
                    f"<td bgcolor='{_RED}'>NaN/inf</td></tr>")
    if rows:
        out.append(f"graph [label=<<table border='0' cellspacing='1'>{''.join(rows)}</table>>]")
    return out + clusters.pop(()) + _nest(clusters, labels) + edges


def _nest(clusters: dict[tuple, list[str]], labels: dict[tuple, str]) -> list[str]:
    """Subgraph blocks for the module clusters, nested by scope path (an explicit stack, no recursion)."""
    children: dict[tuple, list[tuple]] = {}
    for ck in clusters:
        children.setdefault(ck[:-1], []).append(ck)
    out: list[str] = []
    index = {ck: i for i, ck in enumerate(clusters)}
    stack: list[Any] = [c for c in reversed(children.get((), []))]
    while stack:
        ck = stack.pop()
        if ck == "}":
            out.append("}")
            continue
        out.append(f"subgraph cluster_{index[ck]} {{")
        out.append(f'label={_q(labels[ck])} style="rounded" color="#adb5bd" fontcolor="#495057"')
        out += clusters[ck]
        stack.append("}")
        stack.extend(reversed(children.get(ck, [])))
    return out


def to_dot(*roots: Tensor, show_values: bool = False, show_grads: bool = False,
           params: Mapping[str, Any] | None = None, max_nodes: int | None = 300, depth: int | None = None,
           grads: Grads | None = None, rankdir: str = "TB") -> str:
    """The DOT source of the graph behind ``roots`` (pure Python: needs neither Graphviz nor its package).

    Same arguments as ``draw_graph``.
    """
    body = _lines(roots, show_values, show_grads, params, max_nodes, depth, grads, rankdir)
    return "digraph autograd {\n" + "".join(f"\t{line}\n" for line in body) + "}\n"


def draw_graph(*roots: Tensor, show_values: bool = False, show_grads: bool = False,
               params: Mapping[str, Any] | None = None, max_nodes: int | None = 300, depth: int | None = None,
               grads: Grads | None = None, rankdir: str = "TB") -> Any:
    """A ``graphviz.Digraph`` of the ops that computed ``roots`` (displays inline in Jupyter).

    Parameters
    ----------
    show_values : add min/max/mean of every tensor.
    show_grads : add each tensor's gradient norm, coloured by magnitude; zero gradients are greyed out.
        The gradients come from ``grads`` (see ``capture_grads``), else are computed now if the graph
        is still alive (no ``.grad`` is touched), else only leaves' ``.grad`` are shown.
    params : ``{name: tensor or array}`` names for tensors of the graph; an array names the tensors (or
        constants) that use it. ``nn`` modules name their parameters themselves. A name that matches
        nothing in the graph warns.
    max_nodes : draw at most this many ops (those nearest the output); a note says how many were cut.
    depth : draw modules nested deeper than ``depth`` (the model itself is depth 0) as one node each.
    grads : a ``Grads`` from ``capture_grads``; implies ``show_grads``.

    >>> ag.draw_graph(loss, show_grads=True)  # doctest: +SKIP
    """
    try:
        import graphviz
    except ImportError:
        raise GraphvizNotFoundError("draw_graph needs the graphviz Python package: pip install graphviz "
                                    "(or use ag.viz.to_dot / ag.viz.to_text, which need nothing)") from None
    body = _lines(roots, show_values, show_grads, params, max_nodes, depth, grads, rankdir)
    return graphviz.Digraph(name="autograd", body=[f"\t{line}\n" for line in body])


@_gc_paused
def to_text(*roots: Tensor, show_values: bool = False, show_grads: bool = False,
            params: Mapping[str, Any] | None = None, max_nodes: int | None = 300,
            grads: Grads | None = None) -> str:
    """An indented tree of the graph, output first (op, shape, dtype, names, module, grad norms, NaN/inf).

    A tensor used twice is printed once; later uses say ``(see above)``.
    """
    show_grads = show_grads or grads is not None
    seq, modname, _, notes = build(roots, params, max_nodes, show_grads, grads)
    lines: list[str] = []
    seen: set[int] = set()
    stack = [(it, 0) for it in reversed(seq) if it.output][::-1]
    while stack:
        it, d = stack.pop()
        pad = "  " * min(d, 40) + (f"[{d}] " if d > 40 else "")
        if it is None:
            lines.append(pad + "... (cut by max_nodes)")
            continue
        if id(it) in seen:
            lines.append(f"{pad}{it.key} (see above)")
            continue
        seen.add(id(it))
        parts = _label(it, show_values)
        kind = "" if it.kind == "op" else f"[{it.kind}] "
        where = f"  in {module_label(it.path[-1], modname)}" if it.path else ""
        lines.append(f"{pad}{it.key}  {kind}" + "  ".join(parts[1:]) + where)
        stack.extend((s, d + 1) for s in reversed(it.inputs))
    return "\n".join(lines + [f"note: {n}" for n in notes]) + "\n"


def save(graph_or_root: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write a graph (a ``Digraph``, DOT text, or a root Tensor drawn with ``kwargs``) to ``path``.

    The extension picks the format: ``.svg``, ``.png``, ``.pdf`` (rendered by Graphviz's ``dot``),
    ``.dot``/``.gv`` (the DOT source, which needs nothing installed), or ``.html``: the interactive explorer
    page of a root Tensor (see ``explore`` for its arguments).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "html":
        from .explorer import save_html

        return save_html(graph_or_root, path, **kwargs)
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"save: unknown extension {path.suffix!r}; use .svg, .png, .pdf, .dot, .gv or .html")
    if isinstance(graph_or_root, Tensor):
        source = to_dot(graph_or_root, **kwargs)
    elif isinstance(graph_or_root, str):
        source = graph_or_root
    elif hasattr(graph_or_root, "source"):
        source = graph_or_root.source
    else:
        raise TypeError(f"save: expected a Tensor, a graphviz graph or DOT text, got {type(graph_or_root).__name__}")
    if fmt in ("dot", "gv"):
        path.write_text(source, encoding="utf-8")
        return path
    missing = (f"saving {path.name} needs Graphviz's `dot` program, which is not on PATH. Install Graphviz: "
               "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
               "`conda install -c conda-forge graphviz`, or https://graphviz.org/download/ (Windows: add its bin "
               "folder to PATH). Without it, save to a .dot file or print ag.viz.to_text(root).")
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(missing)
    try:
        import graphviz
    except ImportError:
        raise GraphvizNotFoundError(f"saving {path.name} needs the graphviz Python package: pip install graphviz") \
            from None
    try:
        data = graphviz.Source(source).pipe(format=fmt)  # runs dot as a subprocess, never through a shell
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(missing) from None
    path.write_bytes(data)
    return path
