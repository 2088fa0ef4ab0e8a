"""The data behind an explorer page: the same graph model as ``draw_graph`` (``viz._graph.build``: names, module
clusters, gradient colours, NaN sources; ``collapse`` for the collapsed boxes), plus statistics, histograms,
``file:line`` traces, the recorded backward order, repeated modules rolled up, and a layout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._backend import xp
from ...explain import explain_grad
from ...narrate import explorer_steps
from ...tensor import Tensor
from .._graph import Grads, Item, build, capture_grads, collapse, graph_nodes
from .._style import OUTPUT_FILL, ROLE, SCALE, SHARED, colours, label
from ._layout import layout
from ._record import Pass, Recording, recording
from ._stats import num, summary

__all__ = ["graph_data", "legend"]

MAX_EXPLAINED = 50  # explain_grad walks the graph once per leaf: explain at most this many dead leaves
_CHAR_W, _LINE_H = 6.3, 14.0


def _short(lines: list[str], width: int = 60) -> list[str]:
    """Label lines cut to ``width`` characters for the drawing (the panel shows them whole)."""
    return [s if len(s) <= width else s[:width - 1] + "\u2026" for s in lines]


def _size(lines: list[str]) -> tuple[float, float]:
    return max(len(s) for s in lines) * _CHAR_W + 16, len(lines) * _LINE_H + 10


def _resolve(roots: tuple, grads: Grads | None, rec: Recording | None) -> tuple[Grads | None, Pass | None, str]:
    """Gradients and the backward pass to show: recorded, or from a side-effect-free recorded pass now."""
    root = roots[0] if len(roots) == 1 else None
    passed = rec.pass_from(root) if rec is not None and root is not None else None
    if passed is not None and grads is None:
        _, _, out = graph_nodes([root])
        pairs = [(out[i], g) for i, (_, g) in passed.node_grads.items() if i in out]
        grads = Grads(pairs + list(passed.leaf_grads.values()))
    alive = root is not None and root.grad_fn is not None and not root.grad_fn.released and root.size == 1
    if passed is None and alive:
        try:
            with recording() as now:
                captured = capture_grads(root, retain_graph=True, accumulate=False)
            passed, grads = now.pass_from(root), grads if grads is not None else captured
        except RuntimeError:  # a part freed by an earlier backward
            pass
    how = "run backward inside `with ag.viz.recording() as rec:` and pass recording=rec"
    if passed is not None:
        why = ""
    elif root is None or root.grad_fn is None:
        why = "no backward pass to show: give one root that an op made"
    elif root.size != 1:
        why = f"no backward pass recorded: the root has shape {root.shape}, so backward needs a gradient; {how}"
    else:
        why = f"no backward pass recorded: the graph was freed by backward(); {how}"
    return grads, passed, why


def _scope_chain(scope: Any, cache: dict) -> list:
    """The scope instances of a node, outermost first (one per module call, aligned with ``Item.path``)."""
    chain = cache.get(id(scope))
    if chain is None:
        chain, s = [], scope
        while s is not None:
            chain.append(s)
            s = s[1]
        chain = cache[id(scope)] = chain[::-1]
    return chain


def _module_boxes(seq: list[Item], modname: dict, split: frozenset = frozenset()) -> tuple[list[dict], list[int]]:
    """One box per module scope path (as draw_graph's clusters), with its members, its ops' names and how many
    times it was called (distinct scope instances, which ``nn.Module.__call__`` makes one per call); and each
    item's innermost box (-1: none). A module path in ``split`` gets one box per call instead, its insides too
    (a parameter goes in the box of its module's first call)."""
    cache: dict = {}
    first: dict[tuple, Any] = {}  # module path -> the scope instance of its first call
    number: dict[tuple, dict[int, int]] = {}  # split module path -> {id(scope instance): call number}
    for it in seq:
        if it.kind == "op" and it.node.scope is not None:
            for level, sc in enumerate(_scope_chain(it.node.scope, cache)[:len(it.path)]):
                mk = tuple(map(id, it.path[:level + 1]))
                first.setdefault(mk, sc)
                if mk in split:
                    number.setdefault(mk, {}).setdefault(id(sc), len(number[mk]) + 1)
    boxes: list[dict] = []
    index: dict[tuple, int] = {}
    calls: dict[int, set] = {}
    inner: list[int] = []
    for it in seq:
        chain = _scope_chain(it.node.scope, cache) if it.kind == "op" and it.node.scope is not None else None
        key: tuple = ()
        b, call = -1, None
        for level, m in enumerate(it.path):
            mk = tuple(map(id, it.path[:level + 1]))
            sc = chain[level] if chain is not None else first.get(mk)
            if mk in split and sc is not None:
                key, call = key + (id(sc),), (mk, id(sc))
            else:
                key += (id(m),)
            if key not in index:
                name = modname.get(id(m)) or ""
                label = f"{name}: {type(m).__name__}" if name else type(m).__name__
                index[key] = len(boxes)
                boxes.append({"label": label, "kind": "module", "module": m, "cls": type(m).__name__, "level": level,
                              "members": [], "parent": b, "ops": [], "mkey": mk})
                if call is not None:
                    boxes[-1]["lines"] = [label, f"call {number[call[0]][call[1]]} of {len(number[call[0]])}"]
            b = index[key]
            boxes[b]["members"].append(it)
            if it.kind == "op":
                boxes[b]["ops"].append(it.node.name)
            if chain is not None:
                calls.setdefault(b, set()).add(id(chain[level]))
        inner.append(b)
    for b, box in enumerate(boxes):
        box["calls"] = len(calls.get(b, ()))
    return boxes, inner


def _looped(boxes: list[dict], seq: list[Item]) -> frozenset:
    """Module paths called more than once whose calls are chained through ops outside them (a ModuleList reused
    in a loop): one box for all their calls would sit on a cycle and lay out as a grid; they get one per call."""
    consumers: dict[int, list[Item]] = {}
    for it in seq:
        for s in it.inputs:
            if s is not None:
                consumers.setdefault(id(s), []).append(it)

    def feeds_itself(members: list[Item]) -> bool:
        inside = {id(m) for m in members}
        stack = [c for m in members for c in consumers.get(id(m), ()) if id(c) not in inside]
        seen: set[int] = set()
        while stack:
            it = stack.pop()
            if id(it) not in seen:
                seen.add(id(it))
                for c in consumers.get(id(it), ()):
                    if id(c) in inside:
                        return True
                    stack.append(c)
        return False

    return frozenset(box["mkey"] for box in boxes if box["calls"] > 1 and feeds_itself(box["members"]))


def _roll_up(boxes: list[dict]) -> None:
    """Runs of consecutive sibling modules of one class that ran the same ops, each feeding the next, become one
    "N x Block" box, the new parent of the run."""
    by_parent: dict[int, list[int]] = {}
    for b, box in enumerate(boxes):
        by_parent.setdefault(box["parent"], []).append(b)
    for parent, kids in by_parent.items():
        run: list[int] = []
        for b in kids + [-1]:
            if run and b >= 0 and (boxes[b]["cls"], boxes[b]["ops"]) == (boxes[run[0]]["cls"], boxes[run[0]]["ops"]) \
                    and _feeds(boxes[run[-1]]["members"], boxes[b]["members"]):
                run.append(b)
                continue
            if len(run) > 1 and boxes[run[0]]["ops"]:
                first, last = boxes[run[0]]["label"], boxes[run[-1]]["label"]
                for k in run:
                    boxes[k]["parent"] = len(boxes)
                boxes.append({"label": f"{len(run)} x {boxes[run[0]]['cls']}", "kind": "rollup", "module": None,
                              "cls": "", "level": boxes[run[0]]["level"], "parent": parent, "calls": len(run),
                              "members": [m for k in run for m in boxes[k]["members"]],
                              "lines": [f"{first} ... {last}", f"{len(run)} identical blocks",
                                        f"{sum(len(boxes[k]['ops']) for k in run)} ops"]})
            run = [b] if b >= 0 else []


def _chains(seq: list[Item], modname: dict, rollup: bool, depth: int | None) -> tuple[list, list]:
    """The boxes (module clusters, and rolled-up runs) and each item's chain of boxes, outermost first."""
    boxes, inner = _module_boxes(seq, modname)
    looped = _looped(boxes, seq)
    if looped:
        boxes, inner = _module_boxes(seq, modname, looped)
    if rollup:
        _roll_up(boxes)
    chains = []
    for b in inner:
        chain = []
        while b >= 0:
            chain.append(b)
            b = boxes[b]["parent"]
        chains.append(chain[::-1])
    for box in boxes:  # draw_graph(depth=...)'s rule, and repeats rolled up
        box["collapsed"] = (depth is not None and box["kind"] == "module" and box["level"] == depth) or \
            (rollup and (box["kind"] == "rollup" or box["calls"] > 1))
    return boxes, chains


def _feeds(first: list[Item], then: list[Item]) -> bool:
    """Whether a member of ``then`` takes an output of ``first`` directly: blocks in a chain, not siblings
    that merely look alike."""
    made = {id(it) for it in first}
    return any(id(s) in made for it in then for s in it.inputs)


def _summaries(seq: list[Item], boxes: list[dict], modname: dict) -> None:
    """Each module box's collapsed look, from ``collapse`` (the same summary ``draw_graph(depth=...)`` draws)."""
    deepest = max((len(it.path) for it in seq), default=0)
    where = {}
    for b, box in enumerate(boxes):
        if box["kind"] == "module" and "lines" not in box:  # one box per call: no summary of all the calls
            m = box["members"][0]
            where[tuple(map(id, m.path[:box["level"] + 1]))] = b
    for d in range(deepest):
        for it in seq:
            it.group = None
        collapse(seq, d, modname)
        for it in seq:
            b = where.get(tuple(map(id, it.path[:d + 1])))
            if it.group is not None and b is not None and "item" not in boxes[b]:
                boxes[b]["item"] = it.group
    for it in seq:
        it.group = None


def _colour_dict(it: Item) -> dict:
    fill, font, edge = colours(it, True)
    return {"fill": fill or "", "font": font, "edge": edge}


def _fill(it: Item) -> str:
    return OUTPUT_FILL if it.output else ROLE[it.kind][2]


def _node(it: Item, chain: list[int], idx: dict, root: Tensor | None, explain: bool) -> dict:
    """One node of the page: its label lines (draw_graph's), colours, statistics, trace and, for a leaf with no
    or zero gradient, ``explain_grad``'s text."""
    t = it.tensor
    lines = label(it, False)
    n = {"key": it.key, "label": lines[0], "lines": _short(lines), "kind": it.kind, "chain": chain,
         "ins": [idx[id(s)] if s is not None else -1 for s in it.inputs], "out": it.output, "base": _fill(it),
         **_colour_dict(it), "source": it.source, "vbad": it.vbad or "", "gbad": it.gbad or "",
         "gnorm": None if it.gnorm is None else num(it.gnorm)}
    if t is not None:
        n["shape"], n["dtype"] = str(tuple(t._data.shape)), str(t._data.dtype)
        n["value"] = summary(t._data)
    if it.g is not None:
        n["grad"] = summary(it.g)
    if it.kind == "op":
        n.update(op=it.node.name, params=[e for e in it.extra if e], trace=it.node.trace or "")
    elif explain and root is not None and t is not None and t.requires_grad and (it.g is None or not xp.any(it.g)):
        try:
            n["explain"] = str(explain_grad(t, root))
        except Exception as e:  # a failing helper must not take the page down with it
            n["explain"] = f"explain_grad failed on this leaf: {type(e).__name__}: {e}"
    return n


def _box(box: dict) -> dict:
    """One box of the page; a module's collapsed look is ``collapse``'s summary item, as draw_graph draws it."""
    item = box.get("item")
    lines = box.get("lines") or (item.extra + ([f"|grad| {item.gnorm:.2e}"] if item.gnorm is not None else [])
                                 if item is not None else [box["label"]])
    d = {"label": box["label"], "kind": box["kind"], "parent": box["parent"], "collapsed": box["collapsed"],
         "calls": box["calls"], "lines": _short(lines), "fill": ROLE["module"][2], "font": "black", "edge": "#495057",
         "gnorm": None}
    if item is not None:
        d.update(_colour_dict(item), gnorm=None if item.gnorm is None else num(item.gnorm))
        d["fill"] = d["fill"] or ROLE["module"][2]
    w, h = _size(d["lines"] if box["kind"] == "module" else [d["label"], *d["lines"]])  # as the page draws it shut
    d["size"] = [round(w, 1), round(h, 1)]
    return d


def _initial_layout(nodes: list[dict], boxes: list[dict], edges: list[tuple], rankdir: str, engine: str) -> dict | None:
    """Where everything goes while the boxes that start collapsed are shut, each one unit of its summary's size
    (the page uses it until a box is opened or shut; then the fully open layout, with shut boxes shrunk)."""
    shut = {j for j, b in enumerate(boxes) if b["collapsed"]}
    if not shut:
        return None

    def box_chain(j: int) -> list[int]:  # j and its ancestors, outermost first
        chain = []
        while j >= 0:
            chain.append(j)
            j = boxes[j]["parent"]
        return chain[::-1]

    unit_of = []  # per node: ("n", i), or ("b", j) for the outermost shut box around it
    for i, n in enumerate(nodes):
        j = next((b for b in n["chain"] if b in shut), None)
        unit_of.append(("n", i) if j is None else ("b", j))
    units = list(dict.fromkeys(unit_of))
    chains = [nodes[k]["chain"] if kind == "n" else box_chain(k)[:-1] for kind, k in units]
    opened = sorted({b for c in chains for b in c})
    renum = {b: k for k, b in enumerate(opened)}
    where = {u: k for k, u in enumerate(units)}
    links = list(dict.fromkeys((where[unit_of[s]], where[unit_of[d]], c) for s, d, c in edges
                               if unit_of[s] != unit_of[d]))
    sizes = [(nodes[k]["w"], nodes[k]["h"]) if kind == "n" else tuple(boxes[k]["size"]) for kind, k in units]
    lay = layout(sizes, [[renum[b] for b in c] for c in chains], _short([boxes[b]["label"] for b in opened]), links,
                 rankdir, engine)
    pos: list = [None] * len(nodes)
    bb: list = [None] * len(boxes)
    for (kind, k), (x, y), (w, h) in zip(units, lay.pos, sizes):
        if kind == "n":
            pos[k] = [round(x, 1), round(y, 1)]
        else:
            bb[k] = [round(v, 1) for v in (x - w / 2, y - h / 2, x + w / 2, y + h / 2)]
    for b, box in zip(opened, lay.boxes):
        bb[b] = [round(v, 1) for v in box]
    return {"pos": pos, "bb": bb, "width": lay.width, "height": lay.height}


def graph_data(roots: tuple, *, params: Mapping[str, Tensor] | None = None, max_nodes: int | None = 2000,
               depth: int | None = None, grads: Grads | None = None, recording: Recording | None = None,
               rollup: bool = True, show_grads: bool = True, rankdir: str = "TB", layout_engine: str = "auto",
               explain: bool = True) -> tuple[dict, list[Item], list[dict]]:
    """The page's graph as JSON-ready data, with the items and boxes it was made from (for the training page)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"the explorer draws top to bottom or left to right: rankdir must be 'TB' or 'LR', "
                         f"got {rankdir!r}")
    if recording is not None and not isinstance(recording, Recording):
        raise TypeError(f"recording= expects what ag.viz.recording() yields, got {type(recording).__name__}")
    grads, passed, no_pass = _resolve(roots, grads, recording) if show_grads else (None, None, "")
    seq, modname, dropped, notes = build(roots, params, max_nodes, show_grads, grads)
    boxes, chains = _chains(seq, modname, rollup, depth)
    _summaries(seq, boxes, modname)
    idx = {id(it): i for i, it in enumerate(seq)}
    root = roots[0] if len(roots) == 1 and roots[0].grad_fn is not None else None
    nodes, explained = [], 0
    for it, chain in zip(seq, chains):
        nodes.append(_node(it, chain, idx, root, explain and explained < MAX_EXPLAINED))
        explained += "explain" in nodes[-1]
    out_boxes = [_box(b) for b in boxes]
    sizes = [_size(n["lines"]) for n in nodes]
    uses: dict[int, int] = {}
    for n in nodes:
        for s in n["ins"]:
            uses[s] = uses.get(s, 0) + 1
    # as in to_dot: edges from a leaf that many ops share do not constrain the ranking
    edges = [(s, i, nodes[s]["kind"] == "op" or uses[s] <= SHARED) for i, n in enumerate(nodes)
             for s in n["ins"] if s >= 0]
    lay = layout(sizes, chains, _short([b["label"] for b in boxes]), edges, rankdir, layout_engine)
    for n, (x, y), (w, h) in zip(nodes, lay.pos, sizes):
        n.update(x=round(x, 1), y=round(y, 1), w=round(w, 1), h=round(h, 1))
    for d, bb in zip(out_boxes, lay.boxes):
        d["bb"] = [round(v, 1) for v in bb]
    data = {"nodes": nodes, "boxes": out_boxes, "width": lay.width, "height": lay.height, "layout": lay.engine,
            "rankdir": rankdir, "notes": notes + lay.notes, "dropped": dropped, "legend": legend(),
            "backward": _backward(passed, seq, no_pass) | explorer_steps(root, passed),
            "initial": _initial_layout(nodes, out_boxes, edges, rankdir, layout_engine)}
    return data, seq, boxes


def legend() -> dict:
    """The colour scale and the dead / NaN / source colours, as (fill, font, edge), from ``colours`` itself."""
    def probe(**attrs: object) -> list:
        it = Item("", "op", None, None, ())
        for k, v in attrs.items():
            setattr(it, k, v)
        return list(colours(it, True))

    return {"scale": [[None if b == float("inf") else b, f, e, c] for b, f, e, c in SCALE],
            "dead": probe(gnorm=0.0), "bad": probe(vbad="NaN"), "source": probe(vbad="NaN", source="value")}


def _backward(passed: Pass | None, seq: list[Item], why: str) -> dict:
    """The engine's visiting order as steps, and the step at which each item first has a gradient."""
    if passed is None:
        return {"steps": [], "lit": [], "why": why}
    at = {id(it.node): i for i, it in enumerate(seq) if it.node is not None}
    leaf_at = {id(it.tensor): i for i, it in enumerate(seq) if it.node is None and it.tensor is not None}
    lit: list[int | None] = [None] * len(seq)
    steps = []
    for k, (node, gnorm, running) in enumerate(passed.steps, 1):
        i = at.get(id(node), -1)
        if i >= 0:
            lit[i] = k
        steps.append([i, node.name, num(gnorm), num(running)])
    for leaf_id, k in passed.leaf_first.items():
        if leaf_id in leaf_at:
            lit[leaf_at[leaf_id]] = k
    return {"steps": steps, "lit": lit, "why": ""}
