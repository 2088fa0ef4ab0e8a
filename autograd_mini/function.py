"""``Function``: the custom-op API, which is also how every built-in op is declared.

A Function subclass pairs a ``forward(ctx, *arrays, **params) -> array`` with a
``backward(ctx, g) -> gradient per input``. ``apply`` runs the forward and, when any input
requires grad and grad mode is on, records a ``Node`` (the ``ctx``) in the graph.
"""

from __future__ import annotations

import itertools
import re
import weakref
from types import MappingProxyType
from typing import Any

from ._backend import xp
from .grad_mode import state
from .tensor import Tensor, as_operand, sync_version

__all__ = ["Function", "Node"]


class Node:
    """One recorded op: the ``ctx`` its Function sees, and the ``grad_fn`` of its output.

    Holds its input Tensors and the arrays saved for backward, never its output (a weak
    reference only), so the graph has no reference cycles and dies with its last output.
    """

    __slots__ = ("fn", "inputs", "params", "needs_input_grad", "saved", "saved_versions", "seq",
                 "out_ref", "out_saved", "scope", "trace", "released", "graph_mode", "__dict__", "__weakref__")

    def __init__(self, fn: type[Function], inputs: tuple, params: dict, needs_input_grad: tuple = ()) -> None:
        self.fn = fn
        self.inputs = inputs            # Tensors, or raw constants (scalars, arrays)
        self.params = params or _NO_PARAMS
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.saved_versions = ()
        self.seq = next(_creation_order)  # nodes are made after their inputs' nodes: a topological order
        self.out_ref = None             # weak reference to the output, only when its array is saved
        self.out_saved = False
        self.scope = None
        self.trace = None
        self.released = False
        self.graph_mode = False         # set by the engine while running backward with create_graph

    @property
    def name(self) -> str:
        return self.fn.__name__

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays (forward inputs, the output, or anything else) for backward."""
        for t, _ in self.saved_versions:  # saved twice: count each input once
            t._savers -= 1
        self.saved = arrays
        if True not in self.needs_input_grad:
            return  # not recorded (no_grad, or no input requires grad): no backward to guard
        versions = []
        for t in self.inputs:
            if type(t) is Tensor or isinstance(t, Tensor):
                for a in arrays:
                    if a is t._data:
                        if t._snapshot is not None:
                            sync_version(t)  # its array was handed out earlier: count a write since
                        versions.append((t, t._version))
                        t._savers += 1
                        break
        self.saved_versions = tuple(versions)

    @property
    def saved_tensors(self) -> tuple:
        """The saved arrays; during a ``create_graph`` backward, Tensors connected to the graph."""
        if self.released:
            raise RuntimeError(
                f"backward through `{self.name}` a second time: its saved values were freed after "
                "the first backward. Pass retain_graph=True to the first backward() to keep them.")
        if not self.graph_mode:
            return self.saved
        return tuple(self._as_tensor(a) for a in self.saved)

    def _as_tensor(self, a: Any) -> Any:
        # Inputs and the output are alive during backward (the caller holds the root, consumers hold the rest),
        # so saved arrays map back to the Tensors that carry their graph.
        for t in self.inputs:
            if isinstance(t, Tensor) and a is t._data:
                return t
        out = self.out_ref() if self.out_ref is not None else None
        if out is not None and a is out._data:
            return out
        return Tensor._const(a) if isinstance(a, xp.ndarray) else a

    def release(self) -> None:
        """Drop saved arrays after backward (``retain_graph=False``); releasing twice is a no-op."""
        if self.released:
            return
        for t, _ in self.saved_versions:
            t._savers -= 1
            if not t._savers:
                t._snapshot = None
        if self.out_saved:
            out = self.out_ref()
            if out is not None:
                out._savers -= 1
                out._snapshot = None
        self.saved = ()
        self.saved_versions = ()
        self.released = True
        self.__dict__.clear()

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


class Function:
    """Base class of every op. Subclass it with static ``forward`` and ``backward``::

        class Softplus(ag.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return np.logaddexp(0, x)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g / (1 + np.exp(-x))

        y = Softplus.apply(t)

    ``backward`` returns one gradient per positional input (a tuple, or a bare array for one
    input), ``None`` for inputs that get none; it must not modify ``g`` in place. Gradients
    whose shape is a broadcast of the input's are summed back by the engine. Set
    ``differentiable_backward = True`` when backward uses only Tensor-compatible operations
    (operators, methods, ``ag.ops.dual``); then ``create_graph=True`` differentiates it again.
    """

    differentiable_backward = False
    op_name: str | None = None  # the name in error messages; default: the class name in snake_case

    @staticmethod
    def forward(ctx: Node, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays and record the op if any input requires grad."""
        arrays = []
        need = []
        grad_on = state.enabled
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x._data)
                need.append(grad_on and x._requires_grad)
            else:
                if isinstance(x, (list, tuple)):
                    x = _constant_array(cls, x)
                arrays.append(as_operand(x))
                need.append(False)
        need = tuple(need)
        record = True in need
        if record:
            need = _NEEDS.setdefault(need, need)  # one shared tuple per pattern: 72 bytes less per node
        ctx = Node(cls, inputs, params, need)
        try:
            out = cls.forward(ctx, *arrays, **params)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, e, arrays) from e
        if type(out) is not xp.ndarray:
            out = xp.asarray(out)
        if not record:
            return Tensor._const(out)
        result = Tensor._from_op(out, ctx)
        for a in ctx.saved:
            if a is out:  # the output's array is saved too: watch writes to it (version 0 at save)
                result._savers = 1
                ctx.out_saved = True
                ctx.out_ref = weakref.ref(result)
                break
        st = state
        ctx.scope = st.scope
        if st.forward_hooks:
            for hook in st.forward_hooks:
                hook(ctx, out)
        return result


_creation_order = itertools.count()
_NO_PARAMS = MappingProxyType({})  # shared by the many nodes whose op takes no parameters
_NEEDS: dict[tuple, tuple] = {}


def _constant_array(fn: type[Function], x: Any) -> Any:
    try:
        return xp.asarray(x)
    except ValueError as e:
        raise ValueError(f"{fn.__name__}: cannot make an array of {x!r}: {e}") from None


def _shape_str(a: Any) -> str:
    if isinstance(a, xp.ndarray):
        return f"{tuple(a.shape)} {a.dtype}"
    return type(a).__name__


def _op_error(fn: type[Function], e: Exception, arrays: list) -> Exception:
    kind = IndexError if isinstance(e, IndexError) and not isinstance(e, ValueError) else type(e)
    if kind not in (ValueError, TypeError, IndexError):
        kind = ValueError
    inputs = ", ".join(_shape_str(a) for a in arrays)
    name = fn.op_name or re.sub(r"(?<!^)(?=[A-Z])", "_", fn.__name__).lower()
    return kind(f"{name}: {e} (inputs: {inputs})")
