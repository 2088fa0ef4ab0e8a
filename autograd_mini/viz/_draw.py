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

from ..tensor import Tensor
from ._dot import html_text, nest, quote
from ._graph import Grads, build, collapse, module_label
from ._style import DEAD, OUTPUT_FILL, RED, ROLE, SCALE, SHARED, colours, label
from ._write import encode, write_file
from .explorer import save_html
from .explorer._program import compiled_step

__all__ = ["draw_graph", "to_dot", "to_text", "save", "GraphvizNotFoundError"]


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program (or the ``graphviz`` Python package) is missing."""


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
def _lines(roots: tuple, show_values: bool, show_grads: bool | None, params: Mapping[str, Any] | None,
           max_nodes: int | None, depth: int | None, grads: Grads | None, rankdir: str) -> list[str]:
    seq, modname, dropped, notes = build(roots, params, max_nodes, show_grads, grads)
    show_grads = show_grads or any(it.gnorm is not None for it in seq)
    groups = collapse(seq, depth, modname) if depth is not None else []
    edges: list[str] = []
    seen: set[tuple] = set()
    q = {id(it): quote(it.key) for it in seq + groups}
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
            if s is not None and s.kind != "op" and uses[id(s)] > SHARED:
                style += " constraint=false"  # a weight shared by many ops: long edges would stall dot's layout
            colour = "#868e96" if s is None else colours(s, show_grads)[2]
            edges.append(f'{src} -> {dst} [color="{colour}"{style}]')
    clusters: dict[tuple, list[str]] = {(): []}
    labels: dict[tuple, str] = {}
    for it in seq + groups:
        if it.group is not None:
            continue
        shape, style, fill = ROLE[it.kind]
        cfill, font, _ = colours(it, show_grads)
        lines = it.extra + ([f"|grad| {it.gnorm:.2e}"] if it.gnorm is not None else []) \
            if it.kind == "module" else label(it, show_values)
        attrs = (f"label={quote(chr(10).join(lines))} shape={shape} style={quote(style)} "
                 f"fillcolor={quote(cfill or (OUTPUT_FILL if it.output else fill))}")
        attrs += (f" fontcolor={quote(font)}" if font != "black" else "") + (" peripheries=2" if it.output else "")
        attrs += " penwidth=3" if it.source else " penwidth=1.5" if it.output else ""
        ck = tuple(map(id, it.path))
        for i in range(1, len(ck) + 1):
            if ck[:i] not in clusters:
                clusters[ck[:i]] = []
                labels[ck[:i]] = module_label(it.path[i - 1], modname)
        clusters[ck].append(f"{q[id(it)]} [{attrs}]")
    if dropped:
        clusters[()].append(f'"truncated" [label={quote(notes[0])} shape=note style=dashed fontcolor="#868e96"]')
    out = [f"graph [rankdir={quote(rankdir)} fontname=Helvetica fontsize=10 labelloc=b nodesep=0.25 ranksep=0.35]",
           'node [fontname=Helvetica fontsize=9 height=0.3 margin="0.08,0.04"]', "edge [arrowsize=0.6]"]
    rows = [f"<tr><td colspan='10' align='left'>{html_text(n)}</td></tr>" for n in notes]
    if show_grads:
        cells = "".join(f"<td bgcolor='{f}'><font color='{c}'>{'&lt;' + format(b, '.0e') if b < 1e300 else 'more'}"
                        "</font></td>" for b, f, _, c in SCALE)
        rows.append(f"<tr><td>|grad|</td>{cells}<td bgcolor='{DEAD}'>0 dead</td>"
                    f"<td bgcolor='{RED}'>NaN/inf</td></tr>")
    if rows:
        out.append(f"graph [label=<<table border='0' cellspacing='1'>{''.join(rows)}</table>>]")
    return out + clusters.pop(()) + nest(clusters, labels) + edges


def to_dot(*roots: Tensor, show_values: bool = False, show_grads: bool | None = None,
           params: Mapping[str, Any] | None = None, max_nodes: int | None = 300, depth: int | None = None,
           grads: Grads | None = None, rankdir: str = "TB") -> str:
    """The DOT source of the graph behind ``roots`` (pure Python: needs neither Graphviz nor its package).

    Same arguments as ``draw_graph``.
    """
    body = _lines(roots, show_values, show_grads, params, max_nodes, depth, grads, rankdir)
    return "digraph autograd {\n" + "".join(f"\t{line}\n" for line in body) + "}\n"


def draw_graph(*roots: Tensor, show_values: bool = False, show_grads: bool | None = None,
               params: Mapping[str, Any] | None = None, max_nodes: int | None = 300, depth: int | None = None,
               grads: Grads | None = None, rankdir: str = "TB") -> Any:
    """A ``graphviz.Digraph`` of the ops that computed ``roots`` (displays inline in Jupyter).

    Parameters
    ----------
    show_values : add min/max/mean of every tensor.
    show_grads : add each tensor's gradient norm, coloured by magnitude; zero gradients are greyed out.
        The gradients come from ``grads`` (see ``capture_grads``), else are computed now if the graph
        is still alive (no ``.grad`` is touched), else only leaves' ``.grad`` are shown. Default (None):
        on once there are gradients to show (``grads`` given, or a leaf of the graph has a ``.grad``).
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
def to_text(*roots: Tensor, show_values: bool = False, show_grads: bool | None = None,
            params: Mapping[str, Any] | None = None, max_nodes: int | None = 300,
            grads: Grads | None = None) -> str:
    """An indented tree of the graph, output first (op, shape, dtype, names, module, grad norms, NaN/inf).

    A tensor used twice is printed once; later uses say ``(see above)``.
    """
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
        parts = label(it, show_values)
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
    if compiled_step(graph_or_root) is not None:  # its .source is Python, not DOT
        raise TypeError("save: a compiled function is shown from one call of it: "
                        "ag.viz.explore(step, *args).save(path) (its graph and program); step.source is the program")
    if fmt == "html":
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
        return write_file(path, source, "ag.viz.save")
    encode(source, path, "ag.viz.save")  # a name dot could not read is named here, before dot runs
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
    return write_file(path, data, "ag.viz.save")
