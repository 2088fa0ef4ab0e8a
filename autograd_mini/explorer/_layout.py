"""Where each box of the page goes: Graphviz's ``dot -Tjson`` when it is installed (and the graph is not too big
for it), else a simple layered layout computed here. Coordinates are pixels, origin top left, y down."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field

from ..viz import _nest, _q

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
                notes.append(f"Graphviz's dot failed ({type(e).__name__}); simple layered layout used")
        else:
            notes.append(f"{len(sizes)} boxes: simple layered layout used (dot is used up to {DOT_MAX_NODES})")
    lay = _layered(sizes, chains, len(box_labels), edges, rankdir)
    lay.notes = notes
    return lay


def _dot(sizes: list, chains: list, box_labels: list, edges: list, rankdir: str) -> Layout:
    key: dict[int, tuple] = {}  # box -> its chain of boxes, outermost first (the cluster key _nest wants)
    direct: dict[tuple, list[str]] = {(): []}
    for i, chain in enumerate(chains):
        for depth, b in enumerate(chain):
            key.setdefault(b, tuple(chain[:depth + 1]))
        direct.setdefault(tuple(chain), []).append(
            f"n{i} [width={sizes[i][0] / 72:.3f} height={sizes[i][1] / 72:.3f}]")
    ordered = {key[b]: direct.get(key[b], []) for b in range(len(box_labels))}  # in box order: cluster_<b>
    body = direct[()]
    nest = _nest(ordered, {key[b]: box_labels[b] for b in range(len(box_labels))})
    lines = [f"graph [rankdir={_q(rankdir)} nodesep=0.2 ranksep=0.4 fontsize=10 fontname=Helvetica]",
             'node [shape=box fixedsize=true label=""]', *body, *nest]
    lines += [f"n{s} -> n{d}" + ("" if c else " [constraint=false]") for s, d, c in edges]
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
    """Longest-path layers (inputs above their consumers), nodes ordered in a layer by their boxes, then by the
    mean position of their inputs; a leaf sits just above its first consumer."""
    n = len(sizes)
    ins: list[list[int]] = [[] for _ in range(n)]
    outs: list[list[int]] = [[] for _ in range(n)]
    for s, d, _ in edges:
        ins[d].append(s)
        outs[s].append(d)
    rank = [0] * n
    for i in range(n):  # nodes come in forward order: inputs before their consumers
        rank[i] = 1 + max((rank[s] for s in ins[i] if ins[s]), default=0)  # leaves are placed next
    for i in range(n):
        if not ins[i] and outs[i]:
            rank[i] = max(0, min(rank[d] for d in outs[i]) - 1)
    layers: dict[int, list[int]] = {}
    for i in range(n):
        layers.setdefault(rank[i], []).append(i)
    across = 0 if rankdir in ("TB", "BT") else 1  # which of (w, h) lies along a layer
    coord = [0.0] * n
    extent = 0.0
    for r in sorted(layers):
        def where(i: int, r: int = r) -> tuple:
            placed = [coord[s] for s in ins[i] if rank[s] < r]
            return tuple(chains[i]), sum(placed) / len(placed) if placed else 0.0
        row = sorted(layers[r], key=where)
        x = 0.0
        for i in row:
            coord[i] = x + sizes[i][across] / 2
            x += sizes[i][across] + _GAP_X + _PAD * len(chains[i])
        extent = max(extent, x)
    depth_of = [0.0] * (max(rank, default=0) + 2)
    for r in sorted(layers):
        tall = max(sizes[i][1 - across] for i in layers[r])
        depth_of[r + 1] = depth_of[r] + tall + _GAP_Y + _LABEL
    pos = []
    for i in range(n):
        along = depth_of[rank[i]] + _LABEL + sizes[i][1 - across] / 2 + 2 * _PAD
        pos.append((coord[i] + 2 * _PAD, along) if across == 0 else (along, coord[i] + 2 * _PAD))
    boxes = _bounds(pos, sizes, chains, n_boxes)
    w = max([p[0] + s[0] / 2 for p, s in zip(pos, sizes)] + [b[2] for b in boxes] + [1.0]) + _PAD
    h = max([p[1] + s[1] / 2 for p, s in zip(pos, sizes)] + [b[3] for b in boxes] + [1.0]) + _PAD
    return Layout(pos, boxes, w, h, "python")


def _bounds(pos: list, sizes: list, chains: list, n_boxes: int) -> list:
    """Each box: the union of its members' rectangles, padded once per nesting level below it."""
    inf = float("inf")
    acc = [[inf, inf, -inf, -inf] for _ in range(n_boxes)]
    for (x, y), (w, h), chain in zip(pos, sizes, chains):
        for level, b in enumerate(chain):
            pad = _PAD * (len(chain) - level)
            a = acc[b]
            a[0], a[1] = min(a[0], x - w / 2 - pad), min(a[1], y - h / 2 - pad - _LABEL * (len(chain) - level))
            a[2], a[3] = max(a[2], x + w / 2 + pad), max(a[3], y + h / 2 + pad)
    return [tuple(a) if a[0] != inf else (0.0, 0.0, 0.0, 0.0) for a in acc]
