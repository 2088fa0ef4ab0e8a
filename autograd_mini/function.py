"""``Function``: the custom-op API, which is also how every built-in op is declared.

A Function subclass pairs a ``forward(ctx, *arrays, **params) -> array`` with a
``backward(ctx, g) -> gradient per input``. ``apply`` runs the forward and, when any input
requires grad and grad mode is on, records a ``Node`` (the ``ctx``) in the graph.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from types import FunctionType, MappingProxyType
from typing import Any

from ._backend import xp
from .grad_mode import state
from .inplace import hold, let_go, seal
from .tensor import Tensor, as_operand

__all__ = ["Function", "Node"]


class Node:
    """One recorded op: the ``ctx`` its Function sees, and the ``grad_fn`` of its output.

    Holds its input Tensors and what forward saved, never its output, so the graph has no
    reference cycles and dies with its last output. ``roles`` says, for each saved item, which
    forward value it is (input ``i``, ``OUTPUT``, or ``CONSTANT``): it is recorded by ``apply``
    right after forward, the one moment identity is reliable, and it is what lets a
    ``create_graph`` backward hand the op its inputs and output as graph-connected Tensors.
    """

    __slots__ = ("fn", "inputs", "params", "needs_input_grad", "saved", "roles", "held", "seq", "extra",
                 "__weakref__")

    def __init__(self, fn: type[Function], inputs: tuple, params: dict, needs_input_grad: tuple = ()) -> None:
        self.fn = fn
        self.inputs = inputs            # Tensors, or raw constants (scalars, arrays)
        self.params = params or _NO_PARAMS
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.roles = ()                 # set by apply once forward has run; None once released
        self.held = ()                  # arrays kept read-only for this node (``inplace.hold``)
        self.seq = next(_creation_order)  # nodes are made after their inputs' nodes: a topological order
        self.extra = state.extra        # optional: module scope and source line (``grad_mode.Extra``)

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
        if self.roles is None:
            raise RuntimeError(
                f"backward through `{self.name}` a second time: its saved values were freed after "
                "the first backward. Pass retain_graph=True to the first backward() to keep them.")
        return self.saved

    def graph_values(self, out: Any) -> tuple:
        """The saved values as ``create_graph`` sees them: input ``i`` is ``inputs[i]``, the output ``out``."""
        inputs = self.inputs
        return tuple(a if r <= CONSTANT else out if r == OUTPUT else inputs[r] for a, r in zip(self.saved, self.roles))

    @property
    def scope(self) -> Any:
        """The running modules when the op was recorded, innermost first (None outside modules)."""
        return self.extra.scope if self.extra is not None else None

    @property
    def trace(self) -> str | None:
        """``file:line`` of the user code that recorded the op (under ``capture_traces``/anomaly mode)."""
        return self.extra.trace if self.extra is not None else None

    @property
    def module_name(self) -> str | None:
        """The class name of the innermost module the op ran in, if any."""
        scope = self.scope
        return type(scope[0]).__name__ if scope else None

    def where(self) -> str:
        """The op's name, its module and its source line, for messages: "`Mul` in Linear at train.py:12"."""
        mod, trace = self.module_name, self.trace
        return f"`{self.name}`" + (f" in {mod}" if mod else "") + (f" at {trace}" if trace else "")

    @property
    def released(self) -> bool:
        return self.roles is None

    def release(self) -> None:
        """Drop saved values after backward (``retain_graph=False``); releasing twice is a no-op."""
        roles = self.roles
        if roles is None:
            return
        if self.held:
            let_go(self.held)
            self.held = ()
        self.saved = ()
        self.roles = None

    def __del__(self) -> None:  # a graph dropped without backward gives its saved memory back too
        if self.held:
            let_go(self.held)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot copy or pickle the recorded op {self.where()}: only leaf tensors can be copied "
                        "(as in PyTorch); copy t.detach() instead, or save model.state_dict()")

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


OUTPUT = -1    # role of a saved value that is forward's result
CONSTANT = -2  # role of any other saved value (made inside forward, or not an array at all)
INPUT_VIEW = -3  # a constant that is a view of an input's memory (x.reshape(-1) saved): create_graph cannot
                 # differentiate through it, so a custom op's second derivative raises instead of dropping a term


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):  # a plain method would get ctx as `self` and fail with a puzzle
            if isinstance(cls.__dict__.get(name), FunctionType):
                raise TypeError(f"{cls.__name__}.{name} must be a @staticmethod taking ctx first: put @staticmethod "
                                f"above `def {name}(ctx, ...)`, as in PyTorch's autograd.Function")

    @staticmethod
    def forward(ctx: Node, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def blocked(x: Any, params: Mapping[str, Any], tiny: float) -> tuple[str, Any, str] | None:
        """Where this op passes no gradient to its first input ``x`` (the recorded array), for
        ``explain_grad``: ``(kind, mask, why_when_all)``, or None for an op that always passes one.
        Reads only the input and ``params``, which outlive backward."""
        return None

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays and record the op if any input requires grad."""
        arrays = []
        record = False
        lists = False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x._data)
                if x._requires_grad:
                    record = True
            elif isinstance(x, (list, tuple)):
                arrays.append(_constant_array(cls, x))
                lists = True
            else:
                arrays.append(as_operand(x))
        if lists:  # the node keeps the arrays made from them, which is what backward will see
            inputs = tuple(a if isinstance(x, (list, tuple)) else x for x, a in zip(inputs, arrays))
        if not (record and state.enabled):
            out = _forward(cls, _unrecorded(len(arrays)), arrays, params)
            return Tensor._wrap(out if type(out) is xp.ndarray else xp.asarray(out))
        need = tuple([isinstance(x, Tensor) and x._requires_grad for x in inputs])
        need = _NEEDS.setdefault(need, need)  # one shared tuple per pattern: 72 bytes less per node
        if len(arrays) > 1 and (len(arrays) > 2 or arrays[0] is arrays[1]):
            _distinct(inputs, arrays)
        ctx = Node(cls, inputs, params, need)
        out = _forward(cls, ctx, arrays, params)
        result = Tensor._wrap(seal(out if type(out) is xp.ndarray else xp.asarray(out), arrays), ctx)
        if ctx.saved:
            _record_roles(ctx, arrays, out, result)
        hooks = state.forward_hooks
        if hooks:
            for hook in hooks:
                hook(ctx, result._data)
        return result


class _Unrecorded:
    """The ``ctx`` of an op that is not recorded (no_grad, or no input requires grad): it keeps nothing.
    One shared instance per number of inputs, so that ``needs_input_grad`` has one False per input."""

    __slots__ = ("needs_input_grad",)
    params = MappingProxyType({})

    def __init__(self, n: int) -> None:
        self.needs_input_grad = (False,) * n

    def save_for_backward(self, *values: Any) -> None:
        pass


_UNRECORDED_BY_ARITY = [_Unrecorded(n) for n in range(8)]


def _unrecorded(n: int) -> _Unrecorded:
    return _UNRECORDED_BY_ARITY[n] if n < 8 else _Unrecorded(n)


_UNRECORDED = _UNRECORDED_BY_ARITY[1]


def _forward(cls: type[Function], ctx: Any, arrays: list, params: dict) -> Any:
    try:
        return cls.forward(ctx, *arrays, **params)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(cls, e, arrays) from e
    except AttributeError as e:
        if getattr(e, "obj", None) is ctx:
            raise AttributeError(
                f"{cls.__name__}.forward: ctx has no attribute storage ({e}); save what backward needs with "
                "ctx.save_for_backward(...) (arrays, shapes, anything) and read parameters from ctx.params") from e
        raise


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
    """Name each saved value by what it is: input ``i``, the output, or a constant; then hold their memory."""
    saved = ctx.saved
    n = len(saved)
    if n == 1 and saved[0] is out:  # exp, tanh, sigmoid, relu, softmax: the output alone
        roles = _JUST_OUTPUT
        if out is not result._data:  # a 0-d result numpy gave as a scalar: save the array the output holds
            ctx.saved = saved = (result._data,)
    elif n == 2 and len(arrays) >= 2 and saved[0] is arrays[0] and saved[1] is arrays[1]:  # mul, div, matmul
        roles = _FIRST_TWO
    elif n == 1 and saved[0] is arrays[0]:  # sin, cos, abs, log, clip: the input alone
        roles = _FIRST_ONE
    else:
        roles = _roles(saved, arrays, out)
        if OUTPUT in roles and out is not result._data:
            ctx.saved = saved = tuple(result._data if r == OUTPUT else a for a, r in zip(saved, roles))
    ctx.roles = roles
    ctx.held = hold(saved, roles, ctx.inputs)


def _roles(saved: tuple, arrays: list, out: Any) -> tuple:
    roles = []
    for a in saved:
        if a is out:
            roles.append(OUTPUT)
            continue
        i = 0
        for arr in arrays:
            if a is arr:
                roles.append(i)
                break
            i += 1
        else:
            base = a.base if type(a) is xp.ndarray else None
            roles.append(INPUT_VIEW if base is not None and any(
                base is arr or base is getattr(arr, "base", None) for arr in arrays) else CONSTANT)
    roles = tuple(roles)
    return _ROLES.setdefault(roles, roles)


_creation_order = itertools.count()
_NO_PARAMS = MappingProxyType({})  # shared by the many nodes whose op takes no parameters
_NEEDS: dict[tuple, tuple] = {}
_ROLES: dict[tuple, tuple] = {}
_JUST_OUTPUT, _FIRST_ONE, _FIRST_TWO = (OUTPUT,), (0,), (0, 1)  # the common patterns, shared


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
    name = fn.op_name or re.sub(r"(?<!^)(?=[A-Z])", "_", fn.__name__).lower()
    if getattr(e, "names_shapes", False):  # the op's own sentence already shows the shapes
        return kind(f"{name}: {e}")
    inputs = ", ".join(_shape_str(a) for a in arrays)
    return kind(f"{name}: {e} (inputs: {inputs})")
