"""Pictures of computation graphs: DOT text (no dependencies), Graphviz rendering, and a text tree.

>>> loss = ((x @ w).sigmoid() - y).pow(2).mean()
>>> grads = ag.viz.capture_grads(loss)            # loss.backward() that also keeps intermediate gradients
>>> ag.viz.save(ag.draw_graph(loss, grads=grads), "loss.svg")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._backend import xp
from .engine import grad_of, toposort
from .tensor import Tensor

__all__ = ["draw_graph", "to_dot", "to_text", "save", "capture_grads", "Grads", "GraphvizNotFoundError"]

# |grad| colour scale, by upper bound: vanishing blues, healthy green, exploding oranges.
SCALE = ((1e-6, "#2166ac", "#2166ac", "white"), (1e-4, "#67a9cf", "#4393c3", "black"),
         (1e-2, "#d1e5f0", "#74add1", "black"), (1e2, "#d9f0d3", "#5aae61", "black"),
         (1e4, "#fdb863", "#f1a340", "black"), (1e6, "#e66101", "#e66101", "white"),
         (float("inf"), "#7f3b08", "#7f3b08", "white"))
_ROLE = {"op": ("box", "rounded,filled", "#ffffff"), "param": ("box", "filled", "#cfe2ff"),
         "input": ("ellipse", "filled", "#fff3bf"), "module": ("box3d", "filled", "#e9ecef")}
_OUTPUT_FILL, _DEAD, _RED, _SOURCE = "#b2f2bb", "#d9d9d9", "#ff8787", "#c92a2a"


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program (or the ``graphviz`` Python package) is missing."""


class Grads:
    """The gradient of a root with respect to every tensor of its graph (see ``capture_grads``)."""

    def __init__(self, pairs: Iterable[tuple[Tensor, Any]]) -> None:
        self._by_id = {id(t): (t, g) for t, g in pairs}  # holds the tensors, so ids stay theirs

    def get(self, t: Tensor, default: Any = None) -> Any:
        e = self._by_id.get(id(t))
        return e[1] if e is not None and e[0] is t else default

    def __getitem__(self, t: Tensor) -> Any:
        g = self.get(t)
        if g is None:
            raise KeyError(f"no gradient recorded for a tensor of shape {t.shape}")
        return g

    def __contains__(self, t: Tensor) -> bool:
        return self.get(t) is not None

    def __len__(self) -> int:
        return len(self._by_id)


def _graph(roots: Iterable[Tensor], max_nodes: int | None = None) -> tuple[list, int, dict]:
    """Nodes nearest the roots first (the shared toposort), how many were cut, and each node's output tensor."""
    roots = list(roots)
    order = toposort([t.grad_fn for t in roots])
    dropped = 0
    if max_nodes is not None and len(order) > max_nodes:
        dropped, order = len(order) - max_nodes, order[:max_nodes]  # consumers precede producers: a closed set
    out = {id(t.grad_fn): t for t in roots if t.grad_fn is not None}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor) and t.grad_fn is not None:
                out.setdefault(id(t.grad_fn), t)
    return order, dropped, out


def capture_grads(root: Tensor, gradient: Any = None, retain_graph: bool = False, accumulate: bool = True) -> Grads:
    """``root.backward()`` that also returns every intermediate tensor's gradient, for ``draw_graph(grads=...)``.

    With ``accumulate`` (default) leaves' ``.grad`` are updated exactly as ``backward()`` would.
    """
    order, _, out = _graph([root])
    seen: dict[int, Tensor] = {id(root): root}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor):
                seen.setdefault(id(t), t)
    wanted = [t for t in seen.values() if t.requires_grad]
    gs = grad_of(root, wanted, grad_outputs=gradient, retain_graph=retain_graph, allow_unused=True)
    pairs = []
    for t, g in zip(wanted, gs):
        if g is None:
            continue
        a = xp.array(g._data)  # a copy: a pass-through gradient may alias another tensor's
        pairs.append((t, a))
        if accumulate and t.grad_fn is None:
            t.grad = Tensor._const(a.copy() if t.grad is None else t.grad._data + a)
    return Grads(pairs)


class _Item:
    __slots__ = ("key", "kind", "tensor", "node", "path", "inputs", "extra", "g", "gnorm", "vbad", "gbad",
                 "source", "output", "group")

    def __init__(self, key: str, kind: str, tensor: Any, node: Any, path: tuple) -> None:
        self.key, self.kind, self.tensor, self.node, self.path = key, kind, tensor, node, path
        self.inputs: list = []
        self.extra: list[str] = []
        self.g = self.gnorm = self.vbad = self.gbad = self.group = None
        self.source, self.output = "", False


def _bad(a: Any) -> str | None:
    """'NaN' or 'inf' if the array holds one, else None."""
    if a is None or a.dtype.kind not in "fc" or xp.isfinite(a).all():
        return None
    return "NaN" if xp.isnan(a).any() else "inf"


_DTYPES: dict = {}


def _shape(a: Any) -> str:
    d = _DTYPES.get(a.dtype) or _DTYPES.setdefault(a.dtype, str(a.dtype))  # str(dtype) is slow
    return f"{a.shape if a.ndim else 'scalar'} {d}"


def _short(v: Any) -> str:
    """A parameter or constant as a label fragment, or "" when it would not be short."""
    if v is None or v is False:
        return ""
    s = f"{v:.4g}" if isinstance(v, float) else str(v) if isinstance(v, (xp.dtype, int)) else repr(v)
    return s if len(s) <= 24 else ""


def _fresh(base: str, used: set[str]) -> str:
    """A DOT node id not yet used: ``base``, else ``base_2``, ..."""
    k, i = base, 2
    while k in used:
        k, i = f"{base}_{i}", i + 1
    used.add(k)
    return k


def _scope_path(scope: Any, cache: dict) -> tuple:
    """node.scope is (module, (parent, ...)) innermost first: return the modules outermost first."""
    p = cache.get(id(scope))
    if p is None:
        mods = []
        s = scope
        while s is not None:
            mods.append(s[0])
            s = s[1]
        p = cache[id(scope)] = tuple(reversed(mods))
    return p


def _model(roots: tuple, params: Mapping[str, Tensor] | None, max_nodes: int | None, show_grads: bool,
           grads: Grads | None) -> tuple[list[_Item], dict, int, list[str]]:
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"draw_graph: expected Tensors, got {type(r).__name__}")
    order, dropped, out = _graph(roots, max_nodes)
    cache: dict = {}
    paths = {id(n): _scope_path(n.scope, cache) for n in order}
    modname: dict[int, str] = {}
    pname: dict[int, tuple[str, list]] = {}  # id(param) -> (name, owner modules deepest first)
    cluster_of: dict[int, tuple] = {}  # id(module) -> the first scope path ending in it
    for path in cache.values():
        for i in range(len(path)):
            cluster_of.setdefault(id(path[i]), path[:i + 1])
    for top in {id(p[0]): p[0] for p in cache.values() if p}.values():
        by_name = dict(top.named_modules()) if hasattr(top, "named_modules") else {"": top}
        for name, m in by_name.items():
            modname.setdefault(id(m), name)
        for name, p in top.named_parameters() if hasattr(top, "named_parameters") else ():
            parts = name.split(".")
            owners = [by_name.get(".".join(parts[:i])) for i in range(len(parts) - 1, -1, -1)]
            pname.setdefault(id(p), (name, owners))
    owned = set(pname)
    for name, t in (params or {}).items():
        pname[id(t)] = (name, [])
    items: dict[int, _Item] = {}
    seq: list[_Item] = []
    used: set[str] = set()
    count: dict[str, int] = {}
    key = lambda base: _fresh(base, used)  # noqa: E731

    def leaf(t: Tensor) -> _Item:
        name, owners = pname.get(id(t), (t.name, []))
        kind = "param" if id(t) in owned or t.requires_grad else "input"
        path = next((cluster_of[id(m)] for m in owners if m is not None and id(m) in cluster_of), ())
        count[kind] = count.get(kind, -1) + 1
        it = items[id(t)] = _Item(key(name or f"{kind}_{count[kind]}"), kind, t, None, path)
        seq.append(it)
        return it

    for k, n in enumerate(reversed(order)):  # forward order
        ins = []
        for t in n.inputs:
            if isinstance(t, Tensor):
                ins.append(items.get(id(t.grad_fn) if t.grad_fn is not None else id(t))
                           or (leaf(t) if t.grad_fn is None else None))
        it = items[id(n)] = _Item(key(f"{n.name}_{k}"), "op", out.get(id(n)), n, paths[id(n)])
        it.inputs = ins  # None marks an input from a node cut by max_nodes
        it.extra = [" ".join(f"{a}={s}" for a, v in n.params.items() if (s := _short(v)))]
        it.extra += [f"const {_short(c) or type(c).__name__}" for c in n.inputs if not isinstance(c, Tensor)]
        seq.append(it)
    for r in roots:
        it = items.get(id(r.grad_fn)) if r.grad_fn is not None else items.get(id(r)) or leaf(r)
        if it is not None:
            it.output = True
    notes = [f"{dropped} earlier ops not shown (max_nodes={max_nodes})"] if dropped else []
    _attach_grads(seq, roots, show_grads, grads, notes)
    return seq, modname, dropped, notes


def _attach_grads(seq: list[_Item], roots: tuple, show_grads: bool, grads: Grads | None, notes: list) -> None:
    if grads is None and show_grads:
        r = roots[0] if len(roots) == 1 else None
        if r is not None and r.grad_fn is not None and not r.grad_fn.released and r.size == 1:
            grads = capture_grads(r, retain_graph=True, accumulate=False)  # no side effects
    with xp.errstate(all="ignore"):
        for it in seq:
            t = it.tensor
            it.vbad = _bad(t._data) if t is not None else None
            if grads is not None:
                it.g = grads.get(t) if t is not None else None
            elif show_grads and t is not None and t.grad_fn is None and t.grad is not None:
                it.g = t.grad._data
            if it.g is not None:
                it.gbad = _bad(it.g)
                it.gnorm = float(xp.linalg.norm(xp.ravel(it.g)))
    if show_grads and grads is None and any(it.kind == "op" for it in seq):
        notes.append("intermediate gradients were freed by backward(): "
                     "call ag.viz.capture_grads(loss) in place of loss.backward() to see them")
    consumers: dict[int, list] = {}
    for it in seq:
        for s in it.inputs:
            if s is not None:
                consumers.setdefault(id(s), []).append(it)
    # A value turns non-finite where its inputs are finite; a gradient where its consumers' gradients are.
    for it in seq:
        it.source = "value" if it.vbad and not any(s is not None and s.vbad for s in it.inputs) else ""
    if not any(it.vbad for it in seq):
        for it in seq:
            it.source = "grad" if it.gbad and not any(c.gbad for c in consumers.get(id(it), ())) else ""
    if any(it.vbad or it.gbad for it in seq):
        first = next((it for it in (seq if any(it.vbad for it in seq) else seq[::-1]) if it.source), None)
        notes.append(f"NaN/inf: earliest source {first.key if first else '(not drawn)'}")


def _colours(it: _Item, show_grads: bool) -> tuple[str | None, str, str]:
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


def _label(it: _Item, show_values: bool) -> list[str]:
    t = it.tensor
    head = it.node.name if it.kind == "op" else it.key
    lines = [head] + [e for e in it.extra if e] + ([_shape(t._data)] if t is not None else [])
    if show_values and t is not None and t._data.size and t._data.dtype.kind in "biuf":
        with xp.errstate(all="ignore"):
            a = t._data
            lines.append(f"min {a.min():.3g} max {a.max():.3g} mean {a.mean():.3g}")
    if it.gnorm is not None:
        lines.append(f"|grad| {it.gnorm:.2e}" + (" (dead)" if it.gnorm == 0 else ""))
    for what, bad in (("value", it.vbad), ("grad", it.gbad)):
        if bad and (what == "value" or it.source == what):  # a bad grad shows in its norm already
            lines.append(f"{bad} in {what}" + (" - SOURCE" if it.source == what else ""))
    return lines


def _q(s: str) -> str:
    if '"' in s or "\\" in s or "\n" in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _collapse(seq: list[_Item], depth: int, modname: dict) -> list[_Item]:
    """One node per module at nesting level ``depth`` (the top model is level 0), absorbing what runs inside."""
    groups: dict[tuple, _Item] = {}
    taken = {it.key for it in seq}
    for it in seq:
        if len(it.path) > depth:
            gk = tuple(map(id, it.path[:depth + 1]))
            g = groups.get(gk)
            if g is None:
                m = it.path[depth]
                name, cls = modname.get(id(m)) or "", type(m).__name__
                g = groups[gk] = _Item(_fresh(f"module:{name or cls}", taken), "module", None, None, it.path[:depth])
                g.extra = [f"{name}: {cls}" if name else cls, 0, 0, {}]
            g.extra[1 if it.kind == "op" else 2] += 1
            it.group = g
    for it in seq:  # a member feeding a node outside its module (or the output) is one of the module's outputs
        for s in it.inputs:
            if s is not None and s.group is not None and s.group is not it.group:
                s.group.extra[3][id(s)] = s
        if it.output and it.group is not None:
            it.group.extra[3][id(it)] = it
    for g in groups.values():
        members = [m for m in seq if m.group is g]
        outs = list(g.extra[3].values())
        g.output = any(o.output for o in outs)
        g.gnorm = outs[0].gnorm if len(outs) == 1 else None
        g.vbad = next((m.vbad for m in members if m.vbad), None)
        g.gbad = next((m.gbad for m in members if m.gbad), None)
        g.source = next((m.source for m in members if m.source), "")
        n_ops, n_params = g.extra[1:3]
        counts = f"{n_ops} op{'s' * (n_ops != 1)}" + (f", {n_params} param{'s' * (n_params != 1)}" if n_params else "")
        g.extra = [g.extra[0], counts] + [_shape(o.tensor._data) for o in outs]
    return list(groups.values())


def _lines(roots: tuple, show_values: bool, show_grads: bool, params: Mapping[str, Tensor] | None,
           max_nodes: int | None, depth: int | None, grads: Grads | None, rankdir: str) -> list[str]:
    show_grads = show_grads or grads is not None
    seq, modname, dropped, notes = _model(roots, params, max_nodes, show_grads, grads)
    groups = _collapse(seq, depth, modname) if depth is not None else []
    edges: list[str] = []
    seen: set[tuple] = set()
    q = {id(it): _q(it.key) for it in seq + groups}
    q[id(None)] = '"truncated"'
    for it in seq:
        dst = q[id(it.group or it)]
        for s in it.inputs:
            src = q[id(s if s is None or s.group is None else s.group)]
            if src == dst or (src, dst) in seen and (s is None or s.group or it.group):
                continue  # inside a collapsed module, or a duplicate arrow into one
            seen.add((src, dst))
            style = " style=dashed" if s is None or (show_grads and s.gnorm == 0) else ""
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
                m = it.path[i - 1]
                name = modname.get(id(m)) or ""
                clusters[ck[:i]] = []
                labels[ck[:i]] = f"{name}: {type(m).__name__}" if name else type(m).__name__
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
           params: Mapping[str, Tensor] | None = None, max_nodes: int | None = 1000, depth: int | None = None,
           grads: Grads | None = None, rankdir: str = "TB") -> str:
    """The DOT source of the graph behind ``roots`` (pure Python: needs neither Graphviz nor its package).

    Same arguments as ``draw_graph``.
    """
    body = _lines(roots, show_values, show_grads, params, max_nodes, depth, grads, rankdir)
    return "digraph autograd {\n" + "".join(f"\t{line}\n" for line in body) + "}\n"


def draw_graph(*roots: Tensor, show_values: bool = False, show_grads: bool = False,
               params: Mapping[str, Tensor] | None = None, max_nodes: int | None = 1000, depth: int | None = None,
               grads: Grads | None = None, rankdir: str = "TB") -> Any:
    """A ``graphviz.Digraph`` of the ops that computed ``roots`` (displays inline in Jupyter).

    Parameters
    ----------
    show_values : add min/max/mean of every tensor.
    show_grads : add each tensor's gradient norm, coloured by magnitude; zero gradients are greyed out.
        The gradients come from ``grads`` (see ``capture_grads``), else are computed now if the graph
        is still alive (no ``.grad`` is touched), else only leaves' ``.grad`` are shown.
    params : ``{name: tensor}`` names for leaves (``nn`` modules name their parameters themselves).
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


def to_text(*roots: Tensor, show_values: bool = False, show_grads: bool = False,
            params: Mapping[str, Tensor] | None = None, max_nodes: int | None = 1000,
            grads: Grads | None = None) -> str:
    """An indented tree of the graph, output first (op, shape, dtype, names, module, grad norms, NaN/inf).

    A tensor used twice is printed once; later uses say ``(see above)``.
    """
    show_grads = show_grads or grads is not None
    seq, modname, _, notes = _model(roots, params, max_nodes, show_grads, grads)
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
        m = it.path[-1] if it.path else None
        where = "" if m is None else f"  in {modname.get(id(m)) or '<model>'}: {type(m).__name__}"
        lines.append(f"{pad}{it.key}  {kind}" + "  ".join(parts[1:]) + where)
        stack.extend((s, d + 1) for s in reversed(it.inputs))
    return "\n".join(lines + [f"note: {n}" for n in notes]) + "\n"


def save(graph_or_root: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write a graph (a ``Digraph``, DOT text, or a root Tensor drawn with ``kwargs``) to ``path``.

    The extension picks the format: ``.svg``, ``.png``, ``.pdf`` (rendered by Graphviz's ``dot``) or
    ``.dot``/``.gv`` (the DOT source, which needs nothing installed).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"save: unknown extension {path.suffix!r}; use .svg, .png, .pdf, .dot or .gv")
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
