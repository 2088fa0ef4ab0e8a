"""Where each box of the page goes: Graphviz's ``dot -Tjson`` when it is installed (and the graph is not too big
for it), else a simple layered layout computed here. Coordinates are pixels, origin top left, y down."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field

from .._dot import nest, quote

__all__ = ["Layout", "layout", "DOT_MAX_NODES"]

DOT_MAX_NODES = 800  # above this, "auto" uses the Python layout: dot's time grows fast with shared weights
DOT_TIMEOUT_S = 60.0
_PAD, _LABEL = 8.0, 16.0  # cluster padding and the height of its label row
_GAP_X, _GAP_Y = 14.0, 30.0


@dataclass
class Layout:
    pos: list[tuple[float, float]]           # node centres
    boxes: list[tuple[float, float, float, float]]  # cluster rectangles (x0, y0, x1, y1)
    width: float
    height: float
    engine: str                              # "dot" or "python"
    notes: list[str] = field(default_factory=list)


def layout(sizes: list[tuple[float, float]], chains: list[list[int]], box_labels: list[str],
           edges: list[tuple[int, int, bool]], rankdir: str = "TB", engine: str = "auto") -> Layout:
    """Place nodes of the given (width, height), each inside the nested boxes of its chain (outermost first).

    ``edges`` are (source, target, constrains ranking); ``engine`` is "auto", "dot" or "python".
    """
    if engine not in ("auto", "dot", "python"):
        raise ValueError(f"layout must be 'auto', 'dot' or 'python', got {engine!r}")
    notes: list[str] = []
    if engine != "python":
        if shutil.which("dot") is None:
            if engine == "dot":
                raise RuntimeError("layout='dot' needs Graphviz's dot program, which is not on PATH")
        elif engine == "dot" or len(sizes) <= DOT_MAX_NODES:
            try:
                return _dot(sizes, chains, box_labels, edges, rankdir)
            except (subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
                if engine == "dot":
                    raise RuntimeError(f"Graphviz's dot failed to lay out the graph: {e}") from e
                notes.append(f"Graphviz's dot failed ({type(e).__name__}); laid out in Python instead")
        else:
            notes.append(f"{len(sizes)} boxes, laid out in Python (Graphviz's dot is used up to {DOT_MAX_NODES})")
    lay = _layered(sizes, chains, len(box_labels), edges, rankdir)
    lay.notes = notes
    return lay


def _dot(sizes: list, chains: list, box_labels: list, edges: list, rankdir: str) -> Layout:
    key: dict[int, tuple] = {}  # box -> its chain of boxes, outermost first (the cluster key nest wants)
    direct: dict[tuple, list[str]] = {(): []}
    for i, chain in enumerate(chains):
        for depth, b in enumerate(chain):
            key.setdefault(b, tuple(chain[:depth + 1]))
        direct.setdefault(tuple(chain), []).append(
            f"n{i} [width={sizes[i][0] / 72:.3f} height={sizes[i][1] / 72:.3f}]")
    ordered = {key[b]: direct.get(key[b], []) for b in range(len(box_labels))}  # in box order: cluster_<b>
    body = direct[()]
    clusters = nest(ordered, {key[b]: box_labels[b] for b in range(len(box_labels))})
    lines = [f"graph [rankdir={quote(rankdir)} nodesep=0.2 ranksep=0.4 fontsize=10 fontname=Helvetica]",
             'node [shape=box fixedsize=true label=""]', *body, *clusters]
    lines += [f"n{s} -> n{d}" for s, d, c in edges if c]  # the page draws every edge; dot needs only these
    src = "digraph G {\n" + "\n".join(lines) + "\n}\n"
    done = subprocess.run(["dot", "-Tjson"], input=src.encode(), capture_output=True, timeout=DOT_TIMEOUT_S,
                          check=False)
    if done.returncode:
        raise ValueError(done.stderr.decode(errors="replace").strip()[:200] or f"exit status {done.returncode}")
    out = json.loads(done.stdout)
    _, _, w, h = (float(v) for v in out["bb"].split(","))
    pos: list = [(0.0, 0.0)] * len(sizes)
    boxes: list = [(0.0, 0.0, 0.0, 0.0)] * len(box_labels)
    for obj in out.get("objects", []):
        name = obj.get("name", "")
        if name.startswith("n") and "pos" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            pos[int(name[1:])] = (x, h - y)
        elif name.startswith("cluster_") and "bb" in obj:
            x0, y0, x1, y1 = (float(v) for v in obj["bb"].split(","))
            boxes[int(name[8:])] = (x0, h - y1, x1, h - y0)
    return Layout(pos, boxes, w, h, "dot")


def _layered(sizes: list, chains: list, n_boxes: int, edges: list, rankdir: str) -> Layout:
    """Nested blocks, as dot draws clusters: each box is laid out on its own, its sub-boxes as single units, then
    placed as one rectangle in its parent, so boxes never overlap. Within a box: longest-path layers (inputs above
    their consumers; a leaf just above its first consumer), ordered in a layer by where their inputs are."""
    flip = rankdir == "LR"  # lay out top to bottom, then swap the axes
    size = [(h, w) if flip else (w, h) for w, h in sizes]
    kids: dict[int, list[tuple[str, int]]] = {}  # block (-1: the whole graph) -> its units, in forward order
    for i, chain in enumerate(chains):
        for parent, unit in zip([-1] + chain, [("b", b) for b in chain] + [("n", i)]):
            if unit not in kids.setdefault(parent, []):
                kids[parent].append(unit)
    links: dict[int, list[tuple]] = {}  # block -> edges between its units
    for src, dst, _ in edges:
        a, b, k = chains[src], chains[dst], 0
        while k < len(a) and k < len(b) and a[k] == b[k]:
            k += 1
        block = a[k - 1] if k else -1
        ua = ("b", a[k]) if k < len(a) else ("n", src)
        ub = ("b", b[k]) if k < len(b) else ("n", dst)
        links.setdefault(block, []).append((ua, ub))
    extent: dict[tuple, tuple[float, float]] = {("n", i): size[i] for i in range(len(size))}
    offset: dict[tuple, tuple[float, float]] = {}  # unit -> its top-left corner inside its block
    depth = {b: k for c in chains for k, b in enumerate(c)}
    for block in sorted(kids, key=lambda b: -depth.get(b, -1)):  # innermost first: a box's size is then known
        w, h = _place(kids[block], links.get(block, []), extent, offset)
        if block >= 0:
            extent[("b", block)] = (w + 2 * _PAD, h + 2 * _PAD + _LABEL)
    pos: list = [(0.0, 0.0)] * len(size)
    boxes: list = [(0.0, 0.0, 0.0, 0.0)] * n_boxes
    stack = [(-1, _PAD, _PAD)]
    while stack:  # absolute positions, outermost first
        block, x0, y0 = stack.pop()
        for unit in kids.get(block, []):
            ox, oy = offset[unit]
            x, y = x0 + ox, y0 + oy
            uw, uh = extent[unit]
            if unit[0] == "n":
                pos[unit[1]] = (x + uw / 2, y + uh / 2)
            else:
                boxes[unit[1]] = (x, y, x + uw, y + uh)
                stack.append((unit[1], x + _PAD, y + _PAD + _LABEL))
    w = max([p[0] + s[0] / 2 for p, s in zip(pos, size)] + [b[2] for b in boxes] + [1.0]) + _PAD
    h = max([p[1] + s[1] / 2 for p, s in zip(pos, size)] + [b[3] for b in boxes] + [1.0]) + _PAD
    if flip:
        pos = [(y, x) for x, y in pos]
        boxes = [(y0, x0, y1, x1) for x0, y0, x1, y1 in boxes]
        w, h = h, w
    return Layout(pos, boxes, w, h, "python")


def _place(units: list[tuple], links: list[tuple], extent: dict, offset: dict) -> tuple[float, float]:
    """Layers of one block's units (sets ``offset`` of each); returns the block's inner width and height."""
    first = {u: k for k, u in enumerate(units)}  # forward order: an edge against it (a loop) does not rank
    ins: dict[tuple, list] = {u: [] for u in units}
    outs: dict[tuple, list] = {u: [] for u in units}
    for a, b in links:
        if first[a] < first[b]:
            ins[b].append(a)
            outs[a].append(b)
    rank: dict[tuple, int] = {}
    for u in units:
        rank[u] = 1 + max((rank[a] for a in ins[u] if ins[a] or a[0] == "b"), default=0)
    for u in units:  # a leaf (no inputs here) goes just above its first consumer
        if not ins[u] and u[0] == "n" and outs[u]:
            rank[u] = max(0, min(rank[b] for b in outs[u]) - 1)
    layers: dict[int, list] = {}
    for u in units:
        layers.setdefault(rank[u], []).append(u)
    centre: dict[tuple, float] = {}
    rows = []
    for r in sorted(layers):
        def where(u: tuple) -> tuple:
            placed = [centre[a] for a in ins[u] if a in centre]
            return (1, sum(placed) / len(placed), first[u]) if placed else (0, 0.0, first[u])
        row = sorted(layers[r], key=where)
        x = 0.0
        for u in row:
            centre[u] = x + extent[u][0] / 2
            x += extent[u][0] + _GAP_X
        rows.append((row, x - _GAP_X))
    width = max((w for _, w in rows), default=0.0)
    top = 0.0
    for row, row_width in rows:  # each layer centred in the block
        tall = max(extent[u][1] for u in row)
        for u in row:
            offset[u] = (centre[u] - extent[u][0] / 2 + (width - row_width) / 2, top + (tall - extent[u][1]) / 2)
        top += tall + _GAP_Y
    return width, max(top - _GAP_Y, 0.0)
