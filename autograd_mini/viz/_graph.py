"""The graph model both renderers draw (``to_dot``/``to_text`` and the explorer): the ops and leaves reachable
from some roots, in forward order, with names (``nn`` modules, ``params=``), module scope paths, gradients,
NaN/inf sources and collapsed modules."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from .._backend import xp
from .._warn import user_stacklevel
from ..anomaly import nonfinite
from ..engine import capture, store_grads, toposort
from ..function import inputs_as_used
from ..hooks import hooked
from ..mutation import replaced
from ..tensor import Tensor

__all__ = ["Grads", "Item", "capture_grads", "build", "collapse", "graph_nodes", "shape_str", "describe",
           "module_label"]


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


def graph_nodes(roots: Iterable[Tensor], max_nodes: int | None = None) -> tuple[list, int, dict]:
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

    With ``accumulate`` (default) leaves' ``.grad`` are updated exactly as ``backward()`` would (the
    engine's own ``store_grads``); without it every ``.grad`` is left exactly as it was.
    """
    order, _, _ = graph_nodes([root])
    seen: dict[int, Tensor] = {id(root): root}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor):
                seen.setdefault(id(t), t)
    found = capture(root, [t for t in seen.values() if t.requires_grad], gradient, retain_graph)
    if accumulate:
        store_grads((t, g) for t, g in found if t.grad_fn is None)
    return Grads((t, xp.array(g)) for t, g in found)  # copies: a pass-through gradient may alias another's


class Item:
    """One box of the picture: an op (with its output tensor), a leaf tensor, or a collapsed module."""

    __slots__ = ("key", "kind", "tensor", "node", "path", "inputs", "extra", "g", "gnorm", "vbad", "gbad",
                 "source", "output", "group")

    def __init__(self, key: str, kind: str, tensor: Any, node: Any, path: tuple) -> None:
        self.key, self.kind, self.tensor, self.node, self.path = key, kind, tensor, node, path
        self.inputs: list = []
        self.extra: list[str] = []
        self.g = self.gnorm = self.vbad = self.gbad = self.group = None
        self.source, self.output = "", False


def _bad(a: Any) -> str | None:
    """'NaN' or 'inf' (as labels spell them) if the array holds one, else None."""
    kind = None if a is None else nonfinite(a)
    return "NaN" if kind == "nan" else kind


_DTYPES: dict = {}


def shape_str(a: Any) -> str:
    d = _DTYPES.get(a.dtype) or _DTYPES.setdefault(a.dtype, str(a.dtype))  # str(dtype) is slow
    return f"{a.shape if a.ndim else 'scalar'} {d}"


def _short(v: Any) -> str:
    """A parameter or constant as a label fragment, or "" when it would not be short."""
    if v is None or v is False:
        return ""
    if isinstance(v, xp.ndarray):
        return _short(v.item()) if v.size == 1 else shape_str(v)
    if isinstance(v, slice):  # getitem's index, as written in Python: 1:, ::2
        s = ":".join("" if i is None else str(i) for i in (v.start, v.stop, v.step))
        return s[:-1] if v.step is None else s
    if isinstance(v, tuple) and any(isinstance(i, (slice, xp.ndarray)) or i is Ellipsis for i in v):
        s = "[" + ", ".join("..." if i is Ellipsis else _short(i) or "?" for i in v) + "]"
    else:
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


def build(roots: tuple, params: Mapping[str, Any] | None, max_nodes: int | None, show_grads: bool | None,
           grads: Grads | None) -> tuple[list[Item], dict, int, list[str]]:
    """The items in forward order, module names by id, how many ops were cut, and notes for the picture."""
    names = _check_args(roots, params, max_nodes, grads)
    order, dropped, out = graph_nodes(roots, max_nodes)
    cache: dict = {}
    paths = {id(n): _scope_path(n.scope, cache) for n in order}
    modname: dict[int, str] = {}
    pname: dict[int, tuple[str, list]] = {}  # id(param) -> (name, owner modules deepest first)
    cluster_of: dict[int, tuple] = {}  # id(module) -> the first scope path ending in it
    for path in cache.values():
        for i in range(len(path)):
            cluster_of.setdefault(id(path[i]), path[:i + 1])
    for top in {id(r): r for r in (_outermost(p[0]) for p in cache.values() if p)}.values():
        by_name = dict(top.named_modules()) if hasattr(top, "named_modules") else {"": top}
        for name, m in by_name.items():
            modname.setdefault(id(m), name)
        for name, p in top.named_parameters() if hasattr(top, "named_parameters") else ():
            parts = name.split(".")
            owners = [by_name.get(".".join(parts[:i])) for i in range(len(parts) - 1, -1, -1)]
            pname.setdefault(id(p), (name, owners))
    owned = set(pname)
    matched: set[str] = set()
    items: dict[int, Item] = {}
    seq: list[Item] = []
    used: set[str] = {"truncated"}  # the id of the max_nodes note
    count: dict[str, int] = {}
    key = functools.partial(_fresh, used=used)

    # ag.tensor(X) copies X, so a params= array also names a leaf holding the same values
    arrays = [(n, a) for n, a in (params or {}).items() if isinstance(a, xp.ndarray)]

    def given_name(x: Any) -> str | None:  # a params= name, matched by the Tensor or by its array
        name = names.get(id(x)) or (names.get(id(x._data)) if isinstance(x, Tensor) else None)
        if not name and arrays and isinstance(x, Tensor) and x.grad_fn is None:
            name = next((n for n, a in arrays if a.shape == x.shape and xp.array_equal(a, x._data)), None)
        if name:
            matched.add(name)
        return name

    def leaf(t: Tensor) -> Item:
        name = given_name(t)
        name, owners = (name, []) if name else pname.get(id(t), (t.name, []))
        kind = "param" if id(t) in owned or t.requires_grad else "input"
        path = next((cluster_of[id(m)] for m in owners if m is not None and id(m) in cluster_of), ())
        count[kind] = count.get(kind, -1) + 1
        it = items[id(t)] = Item(key(name or f"{kind}_{count[kind]}"), kind, t, None, path)
        if hooked(t):
            it.extra.append("hook")
        seq.append(it)
        return it

    for k, n in enumerate(reversed(order)):  # forward order
        ins = []
        for t in inputs_as_used(n):  # a tensor changed in place since n used it: the version n used
            if isinstance(t, Tensor):
                ins.append(items.get(id(t.grad_fn) if t.grad_fn is not None else id(t))
                           or (leaf(t) if t.grad_fn is None else None))
        it = items[id(n)] = Item(key(f"{n.name}_{k}"), "op", out.get(id(n)), n, paths[id(n)])
        it.inputs = ins  # None marks an input from a node cut by max_nodes
        it.extra = [" ".join(f"{a}={s}" for a, v in n.params.items() if (s := _short(v)))]
        it.extra += [f"const {given_name(c) or _short(c) or type(c).__name__}" for c in n.inputs
                     if not isinstance(c, Tensor)]
        if it.tensor is not None and (name := given_name(it.tensor)):
            it.extra.append(f"= {name}")
        if (written := replaced(n)) is not None:
            it.extra.append(f"in place: {written[0]}, replaced version {written[1]}")
        if getattr(n, "hooks", None):
            it.extra.append("hook")
        seq.append(it)
    for r in roots:
        it = items.get(id(r.grad_fn)) if r.grad_fn is not None else items.get(id(r)) or leaf(r)
        if it is not None:
            it.output = True
    notes = [f"{dropped} earlier ops not shown (max_nodes={max_nodes})"] if dropped else []
    unmatched = [n for n in names.values() if n not in matched]
    if unmatched:
        warnings.warn(f"params: {', '.join(map(repr, unmatched))} matched no tensor of the drawn graph (a name "
                      "applies to the Tensor, or the array, that the graph used)", UserWarning,
                      stacklevel=user_stacklevel())
    if show_grads is None:  # the default: on once there are gradients (after backward(), or grads=)
        show_grads = grads is not None or any(it.kind != "op" and it.tensor.grad is not None for it in seq)
    _attach_grads(seq, roots, show_grads or grads is not None, grads, notes, modname)
    return seq, modname, dropped, notes


def _outermost(module: Any) -> Any:
    """The outermost module that owns ``module`` (``nn`` modules know where they were registered,
    ``__ag_owner__``), so a layer called from outside its model is still named ``layers.3``."""
    seen = {id(module)}
    while (owner := getattr(module, "__ag_owner__", None)) is not None and id(owner) not in seen:
        seen.add(id(owner))
        module = owner
    return module


def _check_args(roots: tuple, params: Any, max_nodes: Any, grads: Any) -> dict[int, str]:
    """Check what draw_graph / to_dot / to_text were given; return the ``params`` names by object id."""
    if not roots:
        raise ValueError("draw_graph: give at least one Tensor (the output to draw the graph of)")
    for r in roots:
        if isinstance(r, (list, tuple)):
            raise TypeError("draw_graph: pass the tensors as separate arguments, draw_graph(a, b), not a "
                            f"{type(r).__name__}")
        if hasattr(r, "named_parameters"):
            raise TypeError(f"draw_graph draws the graph behind an output Tensor, got the {type(r).__name__} model: "
                            "call it first, draw_graph(model(x)) or draw_graph(loss)")
        if not isinstance(r, Tensor):
            raise TypeError(f"draw_graph: expected Tensors (the outputs to draw), got {type(r).__name__}")
    if grads is not None and not isinstance(grads, Grads):
        raise TypeError(f"draw_graph: grads must come from grads = ag.viz.capture_grads(loss), got "
                        f"{type(grads).__name__} (for leaves' .grad alone, pass show_grads=True)")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 0):
        raise ValueError(f"draw_graph: max_nodes must be a non-negative int or None, got {max_nodes!r}")
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"draw_graph: params must be a dict of names to tensors or arrays, {{'X': x}}, got "
                        f"{type(params).__name__}")
    names = {}
    for name, t in params.items():
        if not isinstance(name, str) or not isinstance(t, (Tensor, xp.ndarray)):
            raise TypeError(f"draw_graph: params maps names (str) to Tensors or arrays, got {name!r}: "
                            f"{type(t).__name__}" + (" (nn modules name their parameters themselves)"
                                                    if hasattr(t, "named_parameters") else ""))
        names[id(t)] = name
    return names


def _attach_grads(seq: list[Item], roots: tuple, show_grads: bool, grads: Grads | None, notes: list,
                  modname: dict) -> None:
    """Gradient norms, NaN/inf flags and sources; gradients from ``grads``, a side-effect-free pass, or ``.grad``."""
    if grads is None and show_grads:
        r = roots[0] if len(roots) == 1 else None
        if r is not None and r.grad_fn is not None and not r.grad_fn.released and r.size == 1:
            try:
                grads = capture_grads(r, retain_graph=True, accumulate=False)  # no side effects
            except RuntimeError:  # part of the graph was freed by an earlier backward(): fall back to .grad
                grads = None
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
        notes.append("gradients of intermediate tensors are unknown (backward() frees them): "
                     "call grads = ag.viz.capture_grads(loss) in place of loss.backward(), then pass grads=grads")
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
        notes.append("NaN/inf: earliest source " + (f"{describe(first, modname)}, marked SOURCE" if first
                                                      else "not drawn (cut by max_nodes)"))


def describe(it: Item, modname: dict) -> str:
    """An item as the picture shows it: ``the Log op in 0: Linear``, ``the input X``."""
    what = f"the {it.node.name} op" if it.kind == "op" else f"the {it.kind} {it.key}"
    return what + (f" in {module_label(it.path[-1], modname)}" if it.path else "")


def module_label(m: Any, modname: dict) -> str:
    """A module cluster's label: ``0: Linear`` inside a model, the class name for a model or loss called itself."""
    name = modname.get(id(m)) or ""
    return f"{name}: {type(m).__name__}" if name else type(m).__name__


def collapse(seq: list[Item], depth: int, modname: dict) -> list[Item]:
    """One node per module at nesting level ``depth`` (the top model is level 0), absorbing what runs inside."""
    groups: dict[tuple, Item] = {}
    taken = {it.key for it in seq}
    for it in seq:
        if len(it.path) > depth:
            gk = tuple(map(id, it.path[:depth + 1]))
            g = groups.get(gk)
            if g is None:
                m = it.path[depth]
                name = modname.get(id(m)) or type(m).__name__
                g = groups[gk] = Item(_fresh(f"module:{name}", taken), "module", None, None, it.path[:depth])
                g.extra = [module_label(m, modname), 0, 0, {}]
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
        g.extra = [g.extra[0], counts] + [shape_str(o.tensor._data) for o in outs]
    return list(groups.values())
