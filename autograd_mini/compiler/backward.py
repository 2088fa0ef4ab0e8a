"""The backward pass written into the program: the engine's own pass, run once with a hook that records which
nodes it visits, in which order, and what each derivative returned; then each derivative as program lines,
the sums where a value feeds several ops (in the engine's order), the unbroadcasting resolved from the traced
shapes, and the stores into ``.grad`` (or, for ``ag.grad_of``, the gradients returned).

Under ``create_graph`` nothing is written here: the engine's pass runs with the tracer on, its derivatives are
recorded ops, so they become forward lines and graph nodes that a later backward writes out (``graph_pass``).

Gradients the program owns (new arrays only one name refers to) may be written into: ``take``,
``in_place_ok`` and ``_accumulate`` keep that bookkeeping (docs/compile.md, "faster than eager").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..function import OUT, _NotDifferentiableAgain, producer
from ..grad_mode import state
from ..hooks import active as active_tensor_hooks
from ..tensor import Tensor
from .emit import BACKWARD


class BackwardWriter:
    """The half of ``Tracer`` that writes backward passes (it uses the Tracer's names and values)."""

    def backward(self, root: Tensor, gradient: Any, retain: bool, create_graph: bool) -> None:
        from ..engine import _run, store_grads
        from .trace import user_line  # (trace.py builds on this module)

        where = user_line(3)
        self.backward_roots.append(root)
        if create_graph:
            self._store_graph_grads(self.graph_pass(root, gradient, retain, (), where), where)
            return
        _refuse_hooks(root, where)
        with _recorded() as (order, grads):
            found = _run(root, gradient, retain, False)
            store_grads(found.values())
        self.has_backward = True
        self._emit_store(self._emit_backward(root, gradient, order, grads, where), list(found.values()))

    def grad_pass(self, root: Tensor, gradient: Any, retain: bool, create_graph: bool, capture: Any) -> dict:
        """``ag.grad_of``'s pass (gradients returned, not stored): ``_run``'s ``found`` for the ``capture``
        tensors, each a value the program names."""
        from ..engine import _run
        from .trace import user_line

        where = user_line(3)
        self.backward_roots.append(root)
        if create_graph:
            return self.graph_pass(root, gradient, retain, capture, where)
        _refuse_hooks(root, where)
        with _recorded() as (order, grads):
            found = _run(root, gradient, retain, False, capture)
        self.has_backward = True
        names = self._emit_backward(root, gradient, order, grads, where, capture)
        result = {}
        for key, (t, g) in found.items():  # the caller's own arrays: grad_of returns them as they are
            a = np.array(g._data if isinstance(g, Tensor) else g)
            name = names[key][1]
            if name in self.owned or name in self.handed:  # only this name refers to it: no copy
                self.owned.discard(name)
            else:
                name = self.fresh(name)
                self.emit(f"{name} = np.array({names[key][1]})")
            result[key] = (t, a)
            self._bind(a, name)
        return result

    # ---- create_graph: the derivatives are ops, recorded as forward lines ------------------------------
    def graph_pass(self, root: Tensor, gradient: Any, retain: bool, capture: Any, where: str = "") -> dict:
        """The engine's ``create_graph`` pass run with the tracer on: each derivative runs as recorded ops,
        so it becomes program lines (and graph nodes a later backward writes out as any other). Returns
        ``_run``'s ``found``; every gradient in it is a value the program names."""
        from ..engine import _run
        from .trace import user_line

        where = where or user_line(3)
        _refuse_hooks(root, where)
        self.emit(f"# ---- backward pass with create_graph: d {self.var.get(id(root._data), 'loss')} / d every "
                  f"input, as ops  ({where})")

        def hook(node: Any, g: Any) -> Any:
            if node is root.grad_fn:
                self._name_root_gradient(root, gradient, g, where)
            info = self._node_info(node, where)
            self.emit(f"# d {node.fn.op_name}  ({info[2]})")
            self.in_graph_pass = f"`{node.name}` ({info[2]})"
            return lambda g_in: self._check_graph_grads(node, g_in, info[2])

        prev_hooks, prev_pass = state.backward_hooks, self.in_graph_pass
        state.backward_hooks, self.in_graph_pass = prev_hooks + (hook,), f"an op of the backward at {where}"
        try:
            found = _run(root, gradient, retain, True, capture)
        finally:
            state.backward_hooks, self.in_graph_pass = prev_hooks, prev_pass
        if root.grad_fn is None:  # the root is itself the leaf: its gradient is the seed
            self._name_root_gradient(root, gradient, found[id(root)][1], where)
        return found

    def _node_info(self, node: Any, where: str) -> tuple:
        from .trace import TraceError

        info = self.node_info.get(node)
        if info is None:
            raise TraceError(f"ag.compile: the backward pass at {where} reaches `{node.name}`, an op made outside the "
                             "compiled function (an argument that carries a graph): the program cannot run its "
                             "derivative. Pass t.detach(), or compute it inside the function.")
        return info

    def _name_root_gradient(self, root: Tensor, gradient: Any, g: Any, where: str) -> None:
        """The seed of a ``create_graph`` pass (the engine's ``_root_gradient``) as a program line."""
        a = g._data if isinstance(g, Tensor) else g
        if id(a) in self.var:  # a gradient Tensor the program already names (requires grad: used as is)
            return
        name = self.fresh("d_" + self.var.get(id(root._data), "loss"))
        pass_, self.in_graph_pass = self.in_graph_pass, ""  # the caller's seed is a value of the forward
        try:
            self.emit(f"{name} = {self._seed(root, gradient, where)}")
        finally:
            self.in_graph_pass = pass_
        self._bind(a, name)

    def _seed(self, root: Tensor, gradient: Any, where: str) -> str:
        """The engine's ``_root_gradient``: ones, or a copy of the caller's gradient in the root's dtype."""
        dtype = self.const(root.dtype, "DT")
        if gradient is None:
            return f"np.ones({root.shape!r}, {dtype})"
        return f"np.array(_as_array({self.value(gradient, where)}, {dtype}))"

    def _check_graph_grads(self, node: Any, g_in: tuple, op_where: str) -> None:
        """Each input gradient of a ``create_graph`` pass must be a value the program computes: an array
        made by numpy outside ops, or a derivative that is not differentiable again, would be frozen."""
        from .trace import TraceError

        for gi, need in zip(g_in, node.needs_input_grad):
            if not need or gi is None:
                continue
            fn = gi.grad_fn.fn if isinstance(gi, Tensor) and gi.grad_fn is not None else None
            if not isinstance(gi, Tensor) or id(gi._data) not in self.var or fn is _NotDifferentiableAgain:
                raise TraceError(f"ag.compile: under create_graph, the derivative of `{node.name}` ({op_where}) is "
                                 "computed with numpy outside ops (it is not differentiable again), so the program "
                                 "could not compute it on replay. Run this function eagerly, or write that op's "
                                 "backward with operators and autograd_mini.numpy functions.")

    def _store_graph_grads(self, found: dict, where: str) -> None:
        """``store_grads`` under ``create_graph``, run with the tracer on (adding into a ``.grad`` made by an
        earlier such pass is an op of the graph), then each leaf's ``.grad`` set to the program's value."""
        from ..engine import store_grads
        from .trace import TraceError

        for t, g in found.values():
            prior = t.grad
            if not isinstance(g, Tensor):
                raise TraceError(f"ag.compile: backward(create_graph=True) at {where} on a leaf (its gradient is "
                                 "the seed, with no graph): call backward() without create_graph")
            if prior is not None and id(prior) not in self.graph_grads:
                raise TraceError(f"ag.compile: backward(create_graph=True) at {where} would add into the .grad of a "
                                 f"tensor of shape {t.shape}, which holds a gradient from outside this pass's graph "
                                 "(from before the call, or from a backward without create_graph). Set it to None "
                                 "first: call opt.zero_grad() (or model.zero_grad()) inside the compiled function.")
        added = {id(t) for t, _ in found.values() if t.grad is not None}
        store_grads(found.values(), True)
        self.has_backward = True
        self.emit("# .grad of each leaf: the graph's gradient (this replay's values)")
        for t, _ in found.values():
            if self._made_here(t):  # its .grad is read by name (see _emit_store)
                self.graph_grads.add(id(t.grad))
                continue
            leaf, name = self._leaf(t), self.var[id(t.grad._data)]
            self.owner = (t, "backward")
            if id(t) in added:  # the sum with the .grad this program stored before
                self.emit(f"{leaf}.grad = Tensor._wrap(_array({name}))")
            else:
                self.emit(f"_new_grad({leaf}, {name})")
            self.graph_grads.add(id(t.grad))
            self.alive.append(t.grad)
            self.leaves.append((t, leaf))
        self.owner = None

    def take(self, g: str, n: str) -> None:
        """``n`` now names what ``g`` named (``g`` is dead after its node's derivative): ownership passes on."""
        if g in self.owned:
            self.owned.discard(g)
            self.owned.add(n)

    def _emit_backward(self, root: Tensor, gradient: Any, order: list, grads: dict, where: str,
                       capture: Any = ()) -> dict[int, tuple[Tensor, str]]:
        """The lines of one recorded pass; ``{id(t): (t, name)}`` for the leaves (or the ``capture`` tensors)."""
        what = "d every input" if not capture else "d " + ", ".join(self.var.get(id(t._data), "x") for t in capture)
        self.emit(f"# ---- backward pass: d {self.var.get(id(root._data), 'loss')} / {what}  ({where})")
        g0 = self.fresh("d_" + self.var.get(id(root._data), "loss"))
        self.emit(f"{g0} = {self._seed(root, gradient, where)}")
        self.owned = {g0}  # gradients only one name refers to, fresh from this program: safe to update in place
        self.contiguous = {g0} if gradient is None else set()  # gradients the eager pass has in C order
        self.handed = set()  # captured gradients the program owned (ag.grad_of returns them without a copy)
        found: dict[int, tuple[Tensor, str]] = {}
        if root.grad_fn is None:
            found[id(root)] = (root, g0)
        pending: dict[Any, str] = {root.grad_fn: g0} if root.grad_fn is not None else {}
        targets = {id(t) for t in capture}
        wanted = {id(t.grad_fn): t for t in capture if t.grad_fn is not None}
        ran = set(order)
        for node in order:
            g = pending.pop(node)
            if id(node) in wanted:
                found[id(wanted[id(node)])] = (wanted[id(node)], g)
                if g in self.owned:  # the caller's from now on: its node's derivative must not write into it
                    self.owned.discard(g)
                    self.handed.add(g)
            self.traced_g = grads[node]
            g_in = self.traced_g[1]
            ins, out, op_where, ctx = self._node_info(node, where)
            self.owner = (node, "backward")
            self.emit(f"# backward of {node.fn.op_name}  ({op_where})")
            names = [None if gi is None or not need or capture and _dead(t, targets, wanted, ran)
                     else self.fresh(f"d_{_base(ins[i])}")
                     for i, (t, gi, need) in enumerate(zip(node.inputs, g_in, node.needs_input_grad))]
            if ctx is None:  # the forward was written out: so is its derivative
                (BACKWARD.get(node.fn) or node.fn.compiled_backward)(self, node, g, ins, out, names)
            else:
                self._generic_backward(node, ctx, g, ins, out, names)
                self.owned.discard(g)
            for i, (t, gi) in enumerate(zip(node.inputs, g_in)):
                name = names[i]
                if name is None:
                    continue
                if type(gi) is not np.ndarray:  # 0-d arithmetic gives numpy scalars: the engine's asarray
                    self.emit(f"{name} = np.asarray({name})")
                if self._fit(name, gi, t):
                    self.contiguous.add(name)
                parent = producer(t, node)  # the version it used (t may have been changed in place since)
                if parent is None:
                    if id(t) in found:
                        self._accumulate(found[id(t)][1], name, t.ndim)
                    else:
                        found[id(t)] = (t, name)
                elif parent in pending:
                    self._accumulate(pending[parent], name, t.ndim)
                else:
                    pending[parent] = name
        self.owner = None
        for node, t in ((n, t) for n, t in ((n, wanted.get(id(n))) for n in pending) if t is not None):
            found[id(t)] = (t, pending[node])  # captured where its node does not run (nothing behind it)
        return found

    def _emit_store(self, found: dict[int, tuple[Tensor, str]], found_arrays: list) -> None:
        """The engine's ``store_grads``: each leaf's gradient into its ``.grad``."""
        stored: set[int] = set()  # the engine's store_grads copies an array stored for a second leaf
        if found:
            self.emit("# .grad of each leaf (the engine's store_grads)")
        for (t, g), (_, a) in zip(found.values(), found_arrays):
            a = a._data if isinstance(a, Tensor) else np.asarray(a)
            if self._made_here(t):  # no object to store into at replay: its .grad is a value of the program
                prev = self.made_grads.get(id(t))
                if prev is not None:
                    g, prev = self.fresh(f"{g}_sum"), g
                    self.emit(f"{g} = {self.made_grads[id(t)]} + {prev}")
                self.made_grads[id(t)] = self._bind(t.grad._data, g)
                stored.add(id(a))
                continue
            leaf = self._leaf(t)
            self.leaves.append((t, leaf))
            self.owner = (t, "backward")
            if id(a) in stored or not t.ndim:
                self.emit(f"_put({leaf}, {g}{', True' if id(a) in stored else ''})")
            else:  # the common case inline: a new gradient, not a view
                self.emit(f"if {leaf}.grad is None and {g}.base is None:")
                self.emit(f"    {leaf}.grad = Tensor._wrap({g})")
                self.emit("else:")
                self.emit(f"    _put({leaf}, {g})")
            stored.add(id(a))
        self.owner = None

    def _accumulate(self, acc: str, name: str, ndim: int) -> None:
        """``acc = acc + name``, the engine's sum of two contributions; into ``acc`` when the program owns it
        and it is in C order (the same sum, laid out as the engine's: a later reduction adds in memory order,
        so a transposed ``acc`` would round differently). A 0-d sum is a numpy scalar, as the engine's: never
        written into."""
        if acc in self.owned and acc != name and ndim and acc in self.contiguous:
            self.emit(f"{acc} = np.add({acc}, {name}, out={acc})")
        else:
            self.emit(f"{acc} = {acc} + {name}")
            (self.owned.add if ndim else self.owned.discard)(acc)
            if name not in self.contiguous:  # numpy lays out a sum in C order when either term is
                self.contiguous.discard(acc)
        self.owned.discard(name)

    def in_place_ok(self, g: str) -> bool:
        """Whether the node's incoming gradient ``g`` may be written: the program owns it and it is an array
        (the engine passes 0-d sums on as numpy scalars) in C order (numpy's result is then in C order too)."""
        real = self.traced_g[0] if self.traced_g else None
        return g in self.owned and type(real) is np.ndarray and real.ndim > 0 and real.flags.c_contiguous

    def _made_here(self, t: Tensor) -> bool:
        """A leaf the traced function made: from a value of the program (``h.detach().requires_grad_()``), or
        a constant (``ag.zeros(3).requires_grad_()``)."""
        return id(t) not in self.tensor_names and (id(t._data) in self.var or id(t) in self.born)

    def _leaf(self, t: Tensor) -> str:
        from .trace import leaf_key

        holder = self.tensor_names.get(id(t))
        if holder not in self.arg_names:
            self.read_leaves.setdefault(id(t), (t, leaf_key(t)))
        return holder if holder is not None else self.const(t, "P")

    def _generic_backward(self, node: Any, ctx: str, g: str, ins: list, out: str, names: list) -> None:
        fn = node.fn
        reads = tuple(range(len(ins))) if fn._nreads < 0 else fn._reads
        args = ", ".join([g] + [out if r == OUT else ins[r] for r in reads])
        wanted = [(i, n) for i, n in enumerate(names) if n is not None]
        if not wanted:
            return
        if len(ins) == 1:
            self.emit(f"{wanted[0][1]} = _array(_one({self.const(fn, fn.__name__)}.backward({ctx}, {args})))")
            return
        self.emit(f"_g = {self.const(fn, fn.__name__)}.backward({ctx}, {args})")
        for i, n in wanted:
            self.emit(f"{n} = _array(_g[{i}])")

    def _fit(self, name: str, gi: Any, t: Tensor) -> bool:
        """The engine's unbroadcast and dtype cast, decided here from the shapes the trace saw; whether the
        result is in C order."""
        gi = gi._data if isinstance(gi, Tensor) else np.asarray(gi)
        shape = t._data.shape
        contiguous = gi.flags.c_contiguous
        if gi.shape != shape:

            lead = gi.ndim - len(shape)
            self.owned.add(name)
            if gi.shape[lead:] == shape:
                self.emit(f"{name} = {name}.sum(axis={tuple(range(lead))!r})")
                contiguous = True  # a new array
            else:
                axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                                  if n == 1 and gi.shape[i + lead] != 1)
                self.emit(f"{name} = _sum_to({name}, {shape!r})" if not axes else
                          f"{name} = {name}.sum(axis={axes!r}, keepdims=True)" +
                          (f".reshape({shape!r})" if lead or _kept(gi.shape, axes) != shape else ""))
                contiguous = contiguous or bool(axes)
        if gi.dtype != t._data.dtype:  # astype keeps the layout
            self.emit(f"{name} = {name}.astype({self.const(t._data.dtype, 'DT')})")
            self.owned.add(name)
        return contiguous

    # ---- outputs --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _recorded() -> Iterator[tuple[list, dict]]:
    """The engine's own pass with the tracer off and a hook that records the nodes it visits, in order, and
    ``{node: (g, input gradients)}``: what the program's backward repeats."""
    order: list = []
    grads: dict = {}

    def hook(node: Any, g: Any) -> Any:
        order.append(node)
        return lambda g_in: grads.__setitem__(node, (g, g_in))

    prev_hooks, prev = state.backward_hooks, state.tracer
    state.backward_hooks, state.tracer = prev_hooks + (hook,), None
    try:
        yield order, grads
    finally:
        state.backward_hooks, state.tracer = prev_hooks, prev


def _refuse_hooks(root: Tensor, where: str) -> None:
    """Tensor hooks (``register_hook``, ``retain_grad``) run Python on a pass's gradients: not replayed."""
    if active_tensor_hooks() is None:
        return
    from ..engine import toposort
    from .trace import TraceError

    nodes = toposort([root.grad_fn]) if root.grad_fn is not None else []
    hooked = getattr(root, "_hooks", None) or any(
        getattr(node, "hooks", None) or any(isinstance(t, Tensor) and t.grad_fn is None and getattr(t, "_hooks", None)
                                            for t in node.inputs) for node in nodes)
    if hooked:
        raise TraceError(f"ag.compile does not replay tensor hooks (register_hook, retain_grad) on the backward at "
                         f"{where}: the program would skip them. Remove the hook, or run this function eagerly.")


def _dead(t: Any, targets: set, wanted: dict, ran: set) -> bool:
    """In a capture pass (``ag.grad_of``): whether input ``t``'s gradient reaches no target (dropped there)."""
    parent = t.grad_fn
    return id(t) not in targets if parent is None else parent not in ran and id(parent) not in wanted


def _base(expr: str) -> str:
    return expr if expr.isidentifier() else "x"


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
