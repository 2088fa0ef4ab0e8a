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
from .tensor import Tensor, sync_version

__all__ = ["Function", "Node"]


class Node:
    """One recorded op: the ``ctx`` its Function sees, and the ``grad_fn`` of its output.

    Holds its input Tensors and what forward saved, never its output, so the graph has no
    reference cycles and dies with its last output. ``roles`` says, for each saved item, which
    forward value it is (input ``i``, ``OUTPUT``, or ``CONSTANT``): it is recorded by ``apply``
    right after forward, the one moment identity is reliable, and it is what lets a
    ``create_graph`` backward hand the op its inputs and output as graph-connected Tensors.
    """

    __slots__ = ("fn", "inputs", "params", "needs_input_grad", "saved", "roles", "saved_versions", "seq",
                 "out_ref", "out_saved", "scope", "trace", "released", "__dict__", "__weakref__")

    def __init__(self, fn: type[Function], inputs: tuple, params: dict, needs_input_grad: tuple = ()) -> None:
        self.fn = fn
        self.inputs = inputs            # Tensors, or raw constants (scalars, arrays)
        self.params = params or _NO_PARAMS
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.roles = ()
        self.saved_versions = ()
        self.seq = next(_creation_order)  # nodes are made after their inputs' nodes: a topological order
        self.out_ref = None             # weak reference to the output, only when its array is saved
        self.out_saved = False
        self.scope = None
        self.trace = None
        self.released = False

    @property
    def name(self) -> str:
        return self.fn.__name__

    def save_for_backward(self, *values: Any) -> None:
        """Keep values for backward: forward's inputs, its output, or anything else (a constant)."""
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved. During a ``create_graph`` backward, inputs and the output come back as
        the graph's Tensors (so the derivative is differentiable again); constants stay as they are."""
        if self.released:
            raise RuntimeError(
                f"backward through `{self.name}` a second time: its saved values were freed after "
                "the first backward. Pass retain_graph=True to the first backward() to keep them.")
        return self.saved

    def graph_values(self, out: Any) -> tuple:
        """The saved values as ``create_graph`` sees them: input ``i`` is ``inputs[i]``, the output ``out``."""
        inputs = self.inputs
        return tuple(a if r == CONSTANT else out if r == OUTPUT else inputs[r] for a, r in zip(self.saved, self.roles))

    def release(self) -> None:
        """Drop saved values after backward (``retain_graph=False``); releasing twice is a no-op."""
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


OUTPUT = -1    # role of a saved value that is forward's result
CONSTANT = -2  # role of any other saved value (made inside forward, or not an array at all)


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
                return g * ag.sigmoid(x)

        y = Softplus.apply(t)

    ``forward`` gets arrays and keyword parameters (``ctx.params``) and returns an array.
    ``backward`` returns one gradient per positional input (a tuple, or a bare value for one
    input), ``None`` for inputs that get none; it must not modify ``g`` in place. Gradients
    whose shape is a broadcast of the input's are summed back by the engine. Written with
    operators, Tensor methods and ag functions (``ag.exp``, ``ag.sigmoid``: they take arrays
    too), one backward serves both modes: on arrays in a plain backward, on the graph's
    Tensors under ``create_graph=True``, where it is differentiated again.
    """

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
        lists = False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x._data)
                need.append(grad_on and x._requires_grad)
            elif isinstance(x, (list, tuple)):
                arrays.append(_constant_array(cls, x))
                need.append(False)
                lists = True
            else:
                arrays.append(x)
                need.append(False)
        if lists:  # the node keeps the arrays made from them, which is what backward will see
            inputs = tuple(a if isinstance(x, (list, tuple)) else x for x, a in zip(inputs, arrays))
        need = tuple(need)
        record = True in need
        if record:
            need = _NEEDS.setdefault(need, need)  # one shared tuple per pattern: 72 bytes less per node
            if len(arrays) > 1:
                _distinct(inputs, arrays)
        ctx = Node(cls, inputs, params, need)
        try:
            out = cls.forward(ctx, *arrays, **params)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, e, arrays) from e
        result_array = out if type(out) is xp.ndarray else xp.asarray(out)
        if not record:
            return Tensor._wrap(result_array)
        result = Tensor._wrap(result_array, ctx)
        if ctx.saved:
            _record_roles(ctx, arrays, out, result)
        st = state
        ctx.scope = st.scope
        if st.forward_hooks:
            for hook in st.forward_hooks:
                hook(ctx, result_array)
        return result


def _distinct(inputs: tuple, arrays: list) -> None:
    """Give each distinct input its own array object, so a saved array names one input.

    ``x * x.detach()`` passes the same ndarray twice; the second gets a view (same memory, new
    identity), or its role, and so its second derivative, would be the first input's.
    """
    if len(arrays) == 2:  # the common case, without a dict
        if arrays[0] is arrays[1] and inputs[0] is not inputs[1] and isinstance(arrays[1], xp.ndarray):
            arrays[1] = arrays[1].view()
        return
    seen: dict[int, Any] = {}
    for i, (x, a) in enumerate(zip(inputs, arrays)):
        if seen.setdefault(id(a), x) is not x and isinstance(a, xp.ndarray):
            arrays[i] = a.view()
            seen[id(arrays[i])] = x


def _record_roles(ctx: Node, arrays: list, out: Any, result: Tensor) -> None:
    """Name each saved value by what it is: input ``i``, the output, or a constant."""
    saved = ctx.saved
    roles = []
    for a in saved:
        for i, arr in enumerate(arrays):
            if a is arr:
                roles.append(i)
                break
        else:
            roles.append(OUTPUT if a is out else CONSTANT)
    roles = tuple(roles)
    ctx.roles = _ROLES.setdefault(roles, roles)
    if OUTPUT in roles:
        if out is not result._data:  # numpy gave a scalar for a 0-d result: save the array the output holds
            ctx.saved = tuple(result._data if r == OUTPUT else a for a, r in zip(saved, roles))
        result._savers = 1  # watch writes to the saved output (version 0 at save)
        ctx.out_saved = True
        ctx.out_ref = weakref.ref(result)
    versions = []
    for r in set(roles):
        if r >= 0:
            t = ctx.inputs[r]
            if isinstance(t, Tensor):
                if t._snapshot is not None:
                    sync_version(t)  # its array was handed out earlier: count a write since
                versions.append((t, t._version))
                t._savers += 1
    ctx.saved_versions = tuple(versions)


_creation_order = itertools.count()
_NO_PARAMS = MappingProxyType({})  # shared by the many nodes whose op takes no parameters
_NEEDS: dict[tuple, tuple] = {}
_ROLES: dict[tuple, tuple] = {}


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
