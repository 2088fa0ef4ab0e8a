"""The backward pass written into the program: the engine's own pass, run once with a hook that records which
nodes it visits, in which order, and what each derivative returned; then each derivative as program lines,
the sums where a value feeds several ops (in the engine's order), the unbroadcasting resolved from the traced
shapes, and the stores into ``.grad``.

Gradients the program owns (new arrays only one name refers to) may be written into: ``take``,
``in_place_ok`` and ``_accumulate`` keep that bookkeeping (docs/compile.md, "faster than eager").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import OUT, producer
from ..grad_mode import state
from ..tensor import Tensor
from .emit import BACKWARD


class BackwardWriter:
    """The half of ``Tracer`` that writes backward passes (it uses the Tracer's names and values)."""

    def backward(self, root: Tensor, gradient: Any, retain: bool, create_graph: bool) -> None:
        from ..engine import _run, store_grads
        from ..hooks import hooked
        from .trace import TraceError, user_line  # (trace.py builds on this module)

        where = user_line(3)
        if create_graph:
            raise TraceError(f"ag.compile does not support backward(create_graph=True) (at {where}): a gradient "
                             "penalty needs the graph of the backward pass, which the compiled program does not "
                             "build. Run this function eagerly.")
        order: list = []
        grads: dict = {}

        def hook(node: Any, g: Any) -> Any:
            order.append(node)
            return lambda g_in: grads.__setitem__(node, (g, g_in))

        prev_hooks, prev = state.backward_hooks, state.tracer
        state.backward_hooks, state.tracer = prev_hooks + (hook,), None
        try:
            found = _run(root, gradient, retain, create_graph)
            outside = next((n for n in order if n not in self.node_info), None)
            if outside is not None:
                raise TraceError(f"ag.compile: the backward pass at {where} reaches `{outside.name}`, an op made "
                                 "outside the compiled function (an argument that carries a graph): the program "
                                 "cannot run its derivative. Pass t.detach(), or compute it inside the function.")
            if any(hooked(leaf) for leaf, _ in found.values()) or any(getattr(n, "hooks", None) for n in order):
                raise TraceError(f"ag.compile cannot trace a backward pass through tensor hooks (register_hook, "
                                 f"retain_grad) (at {where}): the compiled program would not call them. Remove the "
                                 "hook from the compiled function's tensors, or run this step eagerly.")
            store_grads(found.values(), create_graph)
        finally:
            state.backward_hooks, state.tracer = prev_hooks, prev
        self.has_backward = True
        self._emit_backward(root, gradient, order, grads, where, list(found.values()))

    def take(self, g: str, n: str) -> None:
        """``n`` now names what ``g`` named (``g`` is dead after its node's derivative): ownership passes on."""
        if g in self.owned:
            self.owned.discard(g)
            self.owned.add(n)

    def _emit_backward(self, root: Tensor, gradient: Any, order: list, grads: dict, where: str,
                       found_arrays: list) -> None:
        self.emit(f"# ---- backward pass: d {self.var.get(id(root._data), 'loss')} / d every input  ({where})")
        g0 = self.fresh("d_" + self.var.get(id(root._data), "loss"))
        if gradient is None:
            self.emit(f"{g0} = np.ones({root.shape!r}, {self.const(root.dtype, 'DT')})")
        else:
            self.emit(f"{g0} = np.array(_as_array({self.value(gradient, where)}, {self.const(root.dtype, 'DT')}))")
        self.owned = {g0}  # gradients only one name refers to, fresh from this program: safe to update in place
        found: dict[int, tuple[Tensor, str]] = {}
        if root.grad_fn is None:
            found[id(root)] = (root, g0)
        pending: dict[Any, str] = {root.grad_fn: g0} if root.grad_fn is not None else {}
        for node in order:
            g = pending.pop(node)
            self.traced_g = grads[node]
            g_in = self.traced_g[1]
            ins, out, op_where, ctx = self.node_info[node]
            self.emit(f"# backward of {node.fn.op_name}  ({op_where})")
            names = [None if gi is None or not need else self.fresh(f"d_{_base(ins[i])}")
                     for i, (gi, need) in enumerate(zip(g_in, node.needs_input_grad))]
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
                self._fit(name, gi, t)
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
        stored: set[int] = set()  # the engine's store_grads copies an array stored for a second leaf
        if found:
            self.emit("# .grad of each leaf (the engine's store_grads)")
        for (t, g), (_, a) in zip(found.values(), found_arrays):
            a = a._data if isinstance(a, Tensor) else np.asarray(a)
            leaf = self._leaf(t)
            self.leaves.append((t, leaf))
            if id(a) in stored or not t.ndim:
                self.emit(f"_put({leaf}, {g}{', True' if id(a) in stored else ''})")
            else:  # the common case inline: a new gradient, not a view
                self.emit(f"if {leaf}.grad is None and {g}.base is None:")
                self.emit(f"    {leaf}.grad = Tensor._wrap({g})")
                self.emit("else:")
                self.emit(f"    _put({leaf}, {g})")
            stored.add(id(a))

    def _accumulate(self, acc: str, name: str, ndim: int) -> None:
        """``acc = acc + name``, the engine's sum of two contributions; into ``acc`` when the program owns it
        (the same sum: both already have the input's shape and dtype). A 0-d sum is a numpy scalar, as the
        engine's: never written into."""
        if acc in self.owned and acc != name and ndim:
            self.emit(f"{acc} = np.add({acc}, {name}, out={acc})")
        else:
            self.emit(f"{acc} = {acc} + {name}")
            (self.owned.add if ndim else self.owned.discard)(acc)
        self.owned.discard(name)

    def in_place_ok(self, g: str) -> bool:
        """Whether the node's incoming gradient ``g`` may be written: the program owns it and it is an array
        (the engine passes 0-d sums on as numpy scalars)."""
        real = self.traced_g[0] if self.traced_g else None
        return g in self.owned and type(real) is np.ndarray and real.ndim > 0

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

    def _fit(self, name: str, gi: Any, t: Tensor) -> None:
        """The engine's unbroadcast and dtype cast, decided here from the shapes the trace saw."""
        gi = gi._data if isinstance(gi, Tensor) else np.asarray(gi)
        shape = t._data.shape
        if gi.shape != shape:
            lead = gi.ndim - len(shape)
            self.owned.add(name)
            if gi.shape[lead:] == shape:
                self.emit(f"{name} = {name}.sum(axis={tuple(range(lead))!r})")
            else:
                axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                                  if n == 1 and gi.shape[i + lead] != 1)
                self.emit(f"{name} = _sum_to({name}, {shape!r})" if not axes else
                          f"{name} = {name}.sum(axis={axes!r}, keepdims=True)" +
                          (f".reshape({shape!r})" if lead or _kept(gi.shape, axes) != shape else ""))
        if gi.dtype != t._data.dtype:
            self.emit(f"{name} = {name}.astype({self.const(t._data.dtype, 'DT')})")
            self.owned.add(name)

    # ---- outputs --------------------------------------------------------------------------------------


def _base(expr: str) -> str:
    return expr if expr.isidentifier() else "x"


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
