"""``Function``: how every op is declared, built-in or user's; ``Node``, the recorded op; ``op``, which
makes a declared op public.

A Function pairs ``forward(ctx, *inputs, **params) -> array`` (numpy on arrays) with
``backward(ctx, g, <what it reads>) -> one gradient per input``. The names backward takes after ``g``
say what its derivative reads, by position: forward's input names, and ``out`` for the result::

    @op("sin", method=True)                    # ag.sin, Tensor.sin, anp.sin
    class Sin(Function):
        formula = "d sin(x)/dx = cos(x)"
        @staticmethod
        def forward(ctx, x): return np.sin(x)
        @staticmethod
        def backward(ctx, g, x): return g * anp.cos(x)

Only what backward reads is kept (and held read-only); in a plain backward it arrives as arrays, under
``create_graph`` as the graph's Tensors (the input Tensor, the output Tensor), so the same derivative is
differentiated again. Anything else forward keeps (``ctx.save_for_backward``: a shape, an index array)
is a constant, never differentiated.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import threading
from collections.abc import Callable
from types import FunctionType, MappingProxyType
from typing import Any

from . import numpy as anp
from ._backend import result_type, xp
from .grad_mode import set_grad_enabled, state
from .inplace import hold
from .shapes import AxisError
from .tensor import Tensor

__all__ = ["Function", "Node", "op", "once_differentiable", "not_differentiable_again", "freed_error", "producer",
           "version_used", "next_epoch", "in_place_recorded", "inputs_as_used", "OPS", "OUT", "CONST"]

OUT = -1    # source of a kept value that is forward's result
CONST = -2  # source of any other kept value: a constant, never differentiated


class Node:
    """One recorded op: the ``ctx`` its Function sees, and the ``grad_fn`` of its output.

    Holds its input Tensors, ``params`` and what backward reads (``saved``, each with its ``source``:
    input ``i``, ``OUT`` or ``CONST``), never its output Tensor, so the graph has no reference cycles
    and dies with its last output.
    """

    __slots__ = ("fn", "inputs", "params", "needs_input_grad", "saved", "sources", "held", "extra", "epoch",
                 "hooks", "__weakref__")  # hooks: set by ``register_hook`` on its output (hooks.py), unset otherwise

    # Made by ``Function.apply`` only, which sets every field inline (a call less per recorded op):
    # fn, inputs (Tensors or raw constants), params, needs_input_grad; saved (what backward reads, then what
    # save_for_backward kept), sources (per saved value: input index, OUT or CONST; None once released), held
    # (arrays kept read-only for this node), extra (module scope and source line, ``grad_mode.Extra``, or None),
    # epoch (how many in-place ops were recorded before it: ``next_epoch``).

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def formula(self) -> str | None:
        """The op's derivative rule in one line (``Function.formula``), or None."""
        return self.fn.formula

    def save_for_backward(self, *values: Any) -> None:
        """Keep values for backward (PyTorch's API). Each is, by position, one of forward's input arrays,
        its result, or anything else: a constant (a shape, an index array, an intermediate result)."""
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What forward kept with ``save_for_backward``: arrays in a plain backward; under ``create_graph``
        saved inputs and the result are the graph's Tensors, constants stay as they are."""
        sources = self.sources
        if sources is None:
            raise freed_error(self)
        n = self.fn._nreads if self.fn._nreads >= 0 else len(self.inputs)
        if state.enabled:  # a create_graph backward (a plain one runs with recording off)
            return self.kept_in_graph(n)
        return self.saved[n:] if n else self.saved

    def plain_backward(self, g: Any) -> Any:
        """The op's backward on arrays, called as a plain ``backward()`` calls it (what it reads, by position)."""
        n = self.fn._nreads
        return self.fn.backward(self, g, *self.saved[:len(self.inputs) if n < 0 else n])

    def kept_in_graph(self, start: int = 0, stop: int | None = None) -> tuple:
        """Saved values ``start:stop`` as the graph's: input ``i`` is the input Tensor, ``OUT`` the
        output Tensor (this node's), constants unchanged."""
        inputs = self.inputs
        out = []
        for v, s in zip(self.saved[start:stop], self.sources[start:stop]):
            if s >= 0:
                t = inputs[s]
                if isinstance(t, Tensor) and t._data is not v and t.grad_fn is not None:  # ``t.data = new`` or
                    t = Tensor._wrap(v, producer(t, self))  # in place since forward: the array forward saw, on
                                                            # the graph it had then
                v = t if isinstance(t, Tensor) else v
            elif s == OUT:
                v = Tensor._wrap(v, self)
            out.append(v)
        return tuple(out)

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
        return self.sources is None

    def release(self) -> None:
        """Drop kept values after backward (``retain_graph=False``); releasing twice is a no-op."""
        if self.sources is None:
            return
        self.held = ()  # dropping the Held gives its arrays back
        self.saved = ()
        self.sources = None

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot copy or pickle the recorded op {self.where()}: only leaf tensors can be copied "
                        "(as in PyTorch); copy t.detach() instead, or save model.state_dict()")

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


_epoch = 0  # how many in-place ops were recorded: a node's ``epoch`` (a shared int, no per-node allocation)
_epoch_lock = threading.Lock()


def next_epoch() -> None:
    """Called by an in-place op before it records: the nodes it makes get a larger epoch than every node before,
    which is how ``version_used`` tells the nodes that used the version before it."""
    global _epoch
    with _epoch_lock:
        _epoch += 1


def in_place_recorded() -> bool:
    """Whether any in-place op was recorded yet (until then no input needs ``version_used``: the engine skips it)."""
    return _epoch != 0


def version_used(t: Any, node: Node) -> Any:
    """The Tensor standing for the version of input ``t`` that ``node`` used: ``t`` itself, unless an in-place op
    gave ``t`` a newer node since (an input's node never has a larger epoch than its consumer); then the version
    before, which is the first input of the in-place op's node (and of each node it made on the way)."""
    while (f := t.grad_fn) is not None and f.epoch > node.epoch:
        t = f.inputs[0]
    return t


def producer(t: Any, node: Node) -> Node | None:
    """The node that made input ``t`` of ``node`` as ``node`` saw it (``t.grad_fn`` unless changed in place)."""
    return version_used(t, node).grad_fn


def inputs_as_used(node: Node) -> tuple:
    """``node.inputs`` with each Tensor changed in place since as the version ``node`` used (for graph tools)."""
    return tuple(version_used(t, node) if isinstance(t, Tensor) else t for t in node.inputs)


def freed_error(node: Node) -> RuntimeError:
    return RuntimeError(f"backward through `{node.name}` a second time: its saved values were freed after the "
                        "first backward. Pass retain_graph=True to the first backward() to keep them.")


class Function:
    """Base class of every op. Subclass it with static ``forward`` and ``backward``::

        class Softplus(ag.Function):
            @staticmethod
            def forward(ctx, x):
                return np.logaddexp(0, x)

            @staticmethod
            def backward(ctx, g, x):               # reads input x
                return g * anp.sigmoid(x)

        y = Softplus.apply(t)

    ``forward`` gets arrays and keyword parameters (also in ``ctx.params``) and returns an array.
    ``backward`` gets ``g`` and, by name, what it reads: forward's inputs and ``out``; it returns one
    gradient per positional input (a tuple, or a bare value for one input), ``None`` for inputs that
    get none, and must not modify ``g`` in place. Gradients whose shape is a broadcast of the input's
    are summed back by the engine. Written with operators, shared methods and ``anp`` functions, one
    backward serves both modes: arrays in a plain backward, the graph's Tensors under ``create_graph``.
    """

    op_name: str | None = None  # the name in error messages; default: the class name in snake_case
    formula: str | None = None  # the derivative rule in one line, e.g. "d tanh(u)/du = 1 - tanh(u)^2"
    promote: tuple = ()         # the inputs cast to one dtype first (PyTorch's promotion): (0, 1) for a + b
    _reads: tuple = ()          # backward's reads as sources (input index or OUT), from its signature
    _nreads: int = 0            # len(_reads), or -1: every input (``backward(ctx, g, *xs)``)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):  # a plain method would get ctx as `self` and fail with a puzzle
            if isinstance(cls.__dict__.get(name), FunctionType):
                raise TypeError(f"{cls.__name__}.{name} must be a @staticmethod taking ctx first: put @staticmethod "
                                f"above `def {name}(ctx, ...)`, as in PyTorch's autograd.Function")
        if "op_name" not in cls.__dict__:
            cls.op_name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        cls._reads, cls._nreads = _reads(cls)

    @staticmethod
    def forward(ctx: Node, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, g: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def blocked(x: Any, params: Any, tiny: float) -> tuple[str, Any, str] | None:
        """Where this op passes no gradient to its first input ``x`` (the recorded array), for
        ``explain_grad``: ``(kind, mask, why_when_all)``, or None for an op that always passes one.
        Reads only the input and ``params``, which outlive backward."""
        return None

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays and record the op if any input requires grad."""
        if cls.promote:
            inputs = _promoted(cls.promote, inputs)
        arrays: list = []
        need: list = []
        record = lists = False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x._data)
                if x._requires_grad:
                    record = True
                    need.append(True)
                    continue
            elif isinstance(x, _generic):  # numpy scalars act as the Python numbers they hold (no promotion)
                arrays.append(x.item())
            elif isinstance(x, (list, tuple)):
                arrays.append(_constant_array(cls, x))
                lists = True
            else:
                arrays.append(x)
            need.append(False)
        if lists:  # the node keeps the arrays made from them, which is what backward will see
            inputs = tuple(a if isinstance(x, (list, tuple)) else x for x, a in zip(inputs, arrays))
        tracer = state.tracer  # ag.compile's, while it traces: read once per op
        if tracer is not None:  # a number an effect returned reaches forward as a plain float
            arrays = tracer.plain(arrays)
        if not record or not state.enabled:
            n = len(arrays)
            ctx = _UNRECORDED_BY_ARITY[n] if n < 8 else _Unrecorded(n)
            try:
                out = cls.forward(ctx, *arrays, **params)
            except (ValueError, TypeError, IndexError, AttributeError) as e:
                _raise_forward_error(cls, e, ctx, arrays)
            if type(out) is tuple:
                raise _tuple_error(cls, out)
            t = _new(Tensor)  # _tensor(out, None), inlined: the no_grad path is mostly this
            t._data = out if type(out) is _ndarray else xp.asarray(out)
            t.grad = t.grad_fn = t.name = None
            t._requires_grad = False
            if tracer is not None:  # the op belongs to the traced program
                tracer.op(cls, inputs, arrays, params, None, t)
            return t
        need_t = tuple(need)
        ctx = _new(Node)
        ctx.fn = cls
        ctx.inputs = inputs
        ctx.params = params or _NO_PARAMS
        ctx.needs_input_grad = _NEEDS.get(need_t) or _NEEDS.setdefault(need_t, need_t)
        ctx.saved = ctx.sources = ctx.held = ()
        ctx.extra = state.extra
        ctx.epoch = _epoch
        if len(arrays) > 1:  # also for ops reading by position: save_for_backward may name an input too
            _one_array_per_input(inputs, arrays)
        try:
            raw = cls.forward(ctx, *arrays, **params)
        except (ValueError, TypeError, IndexError, AttributeError) as e:
            _raise_forward_error(cls, e, ctx, arrays)
        if type(raw) is tuple:
            raise _tuple_error(cls, raw)
        out = raw if type(raw) is _ndarray else xp.asarray(raw)
        for a in arrays:  # seal: read-only for good; an input's own array is returned as a view first
            if a is out:
                out = out.view()
                break
        out.setflags(write=False)
        if cls._nreads or ctx.saved or params:
            _keep(ctx, arrays, raw, out)
        result = _tensor(out, ctx)
        hooks = state.forward_hooks
        if hooks:
            for hook in hooks:
                hook(ctx, out)
        if tracer is not None:
            tracer.op(cls, inputs, arrays, params, ctx, result)
        return result


def _promoted(which: tuple, inputs: tuple) -> tuple:
    """``inputs`` with those at positions ``which`` cast to their ``result_type`` (the one place PyTorch's
    promotion is applied); a Tensor by the recorded ``astype``, so its gradient comes back in its own dtype.
    Python numbers stay as they are: numpy then keeps the array's dtype, as PyTorch does."""
    if len(inputs) == 2 and (which is True or which == (0, 1)):  # the binary ops: the hot path
        a, b = inputs
        da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
        if da == db if da is not None and db is not None else _keeps(da, b) if da is not None else _keeps(db, a):
            return inputs
    if any(isinstance(x, _generic) for x in inputs):  # numpy scalars act as the Python numbers they hold
        inputs = tuple(x.item() if isinstance(x, _generic) else x for x in inputs)
    chosen = [inputs[i] for i in which if i < len(inputs)] if which is not True else list(inputs)
    dtypes = {x.dtype for x in chosen if hasattr(x, "dtype")}
    if len(dtypes) == 1:  # the common case: one dtype, and no Python number of a higher kind
        kind = next(iter(dtypes)).kind
        if kind in "fc" or not any(type(x) is float or (kind == "b" and type(x) is int) for x in chosen):
            return inputs
    elif not dtypes:
        return inputs
    target = result_type(*chosen)
    out = list(inputs)
    for i in (range(len(out)) if which is True else which):
        x = out[i] if i < len(out) else None
        if isinstance(x, Tensor) and x.dtype != target:
            out[i] = OPS["astype"](x, target)
        elif isinstance(x, xp.ndarray) and x.dtype != target:
            out[i] = x.astype(target)
    return tuple(out)


def _keeps(dtype: Any, number: Any) -> bool:
    """Whether an array of ``dtype`` keeps it beside the Python ``number`` (``dtype`` None: no array at all)."""
    if dtype is None:
        return True
    return (type(number) is not float or dtype.kind in "fc") and not (type(number) is int and dtype.kind == "b")


def _reads(cls: type[Function]) -> tuple[tuple, int]:
    """What ``backward`` reads, from its signature: ``backward(ctx, g, x, out)`` reads forward's input
    named ``x`` and the result; ``backward(ctx, g, *xs)`` reads every input of ``forward(ctx, *xs)``."""
    fwd = list(inspect.signature(cls.forward).parameters.values())[1:]
    bwd = list(inspect.signature(cls.backward).parameters.values())
    if len(bwd) < 2 or bwd[1].kind not in (bwd[1].POSITIONAL_ONLY, bwd[1].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"{cls.__name__}.backward must take (ctx, g, ...): the incoming gradient comes second")
    names = [p.name for p in fwd if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = next((p.name for p in fwd if p.kind is p.VAR_POSITIONAL), None)
    reads = []
    for p in bwd[2:]:
        if p.kind is p.VAR_POSITIONAL and p.name == star:
            return (), -1
        if p.name == "out" and "out" not in names:
            reads.append(OUT)
        elif p.name in names and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            reads.append(names.index(p.name))
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"{cls.__name__}.backward reads `{p.name}`, which is neither an input of forward "
                            f"({', '.join(names + ([f'*{star}'] if star else [])) or 'none'}) nor `out` (the result)")
    return tuple(reads), len(reads)


def _one_array_per_input(inputs: tuple, arrays: list) -> None:
    """Two different inputs holding one ndarray (``f(x, x.detach())``) get one array object each, so that
    ``save_for_backward`` of an array names one input (the second gets a view: same memory)."""
    if len(arrays) == 2:  # the common case, without a dict
        if arrays[0] is arrays[1] and inputs[0] is not inputs[1] and type(arrays[1]) is xp.ndarray:
            arrays[1] = arrays[1].view()
        return
    seen: dict[int, Any] = {}
    for i, (x, a) in enumerate(zip(inputs, arrays)):
        if seen.setdefault(id(a), x) is not x and type(a) is xp.ndarray:
            arrays[i] = a.view()


def _keep(ctx: Node, arrays: list, raw: Any, out: Any) -> None:
    """Store what backward reads (by position) and what forward saved (inputs and the result by identity
    with the arrays forward got and returned, the rest constants); hold every kept array read-only that is
    not so already: leaves' and raw operands' arrays, constants, parameters, and the owners of views (an
    op's output is sealed)."""
    fn = ctx.fn
    reads = fn._reads if fn._nreads >= 0 else tuple(range(len(arrays)))
    inputs = ctx.inputs
    values = []
    to_hold = []
    for r in reads:
        v = out if r < 0 else arrays[r]
        values.append(v)
        if type(v) is _ndarray and (v.base is not None or r >= 0 and not (
                isinstance(inputs[r], Tensor) and inputs[r].grad_fn is not None)):
            to_hold.append(v)
    kept = ctx.saved
    sources = reads
    if kept:
        extra = []
        for v in kept:
            s = next((i for i, a in enumerate(arrays) if v is a), OUT if v is raw or v is out else CONST)
            extra.append(s)
            v = out if s == OUT else v
            values.append(v)
            if type(v) is _ndarray:
                to_hold.append(v)
        sources = reads + tuple(extra)
        sources = _SOURCES.get(sources) or _SOURCES.setdefault(sources, sources)
    elif fn._nreads < 0:
        sources = _SOURCES.get(sources) or _SOURCES.setdefault(sources, sources)
    ctx.saved = tuple(values)
    ctx.sources = sources
    params = ctx.params
    if params:
        for p in params.values():
            if type(p) is _ndarray:
                to_hold.append(p)
            elif type(p) is tuple:
                to_hold.extend(a for a in p if type(a) is _ndarray)
    if to_hold:
        ctx.held = hold(to_hold, fn)


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


def _raise_forward_error(cls: type[Function], e: Exception, ctx: Any, arrays: list) -> None:
    """Raise what a failed forward raises (called in the except block, so a bare ``raise`` re-raises ``e``)."""
    err = _forward_error(cls, e, ctx, arrays)
    if err is e:
        raise
    raise err from e


def _forward_error(cls: type[Function], e: Exception, ctx: Any, arrays: list) -> Exception:
    """The error a failed forward raises: the op's name and the input shapes added."""
    if not isinstance(e, AttributeError):
        return _op_error(cls, e, arrays)
    if getattr(e, "obj", None) is ctx:
        return AttributeError(
            f"{cls.__name__}.forward: ctx has no attribute storage ({e}); read inputs and the result in "
            "backward by naming them, keep anything else with ctx.save_for_backward(...), and read "
            "parameters from ctx.params")
    return e


def _tensor(data: Any, node: Any) -> Tensor:
    """A Tensor around a trusted ndarray: ``Tensor._wrap`` without the call."""
    t = _new(Tensor)
    t._data = data
    t.grad = None
    t.grad_fn = node
    t._requires_grad = node is not None
    t.name = None
    return t


_new = object.__new__
_ndarray = xp.ndarray
_generic = xp.generic
def _tuple_error(cls: type[Function], out: tuple) -> TypeError:
    """numpy would stack a forward's tuple into one array (or fail when the shapes differ): say so instead."""
    return TypeError(f"{cls.__name__}.forward returned a tuple of {len(out)} values: a Function has one output, an "
                     "array. Return one array (stack the results and index the Tensor), or write one Function per "
                     "output")




# ---- the opt-out: a backward that is not differentiable itself ------------------------------------------
def once_differentiable(backward: Callable) -> Callable:
    """Mark a ``backward`` as not differentiable itself (PyTorch's ``once_differentiable``).

    Put it under ``@staticmethod``. Under ``create_graph`` the backward then runs on arrays with
    recording off (numpy functions are fine there); its gradients are exact, and differentiating them
    again raises an error naming the op, never a silently missing term.
    """
    @functools.wraps(backward)
    def run_on_arrays(ctx: Node, g: Any, *reads: Any) -> Any:
        if not isinstance(g, Tensor):
            return backward(ctx, g, *reads)
        with set_grad_enabled(False):
            grads = backward(ctx, g._data, *[getattr(v, "_data", v) for v in reads])
        return not_differentiable_again(ctx, grads, g, "its backward is marked @once_differentiable")

    return run_on_arrays


def not_differentiable_again(node: Node, grads: Any, g: Tensor, why: str) -> tuple:
    """Exact first derivatives (``grads``, arrays) that raise, naming the op, when differentiated again."""
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    sources = [g, *(t for t in node.inputs if isinstance(t, Tensor))]
    return tuple(None if gi is None else _NotDifferentiableAgain.apply(
        *sources, value=xp.asarray(getattr(gi, "_data", gi)), fn_name=node.name, why=why) for gi in grads)


class _NotDifferentiableAgain(Function):
    """Carries a first derivative that has no derivative of its own; differentiating it raises."""
    formula = "d value(inputs)/dinputs: none (a derivative written outside the vocabulary; raises)"

    @staticmethod
    def forward(ctx, *inputs, value, fn_name, why):
        return value

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            f"`{ctx.params['fn_name']}` cannot be differentiated twice: {ctx.params['why']}. Write its backward "
            "with operators, Tensor methods and autograd_mini.numpy functions (they take arrays and Tensors) to "
            "make it differentiable again.")


# ---- declaring public ops ----------------------------------------------------------------------------
OPS: dict[str, Any] = {}  # public name -> its Function (or function): what ``ag`` exports


def op(name: str, *, method: bool = False, export: bool = True) -> Callable:
    """Declare a public op: ``ag.<name>``, ``anp.<name>``, and ``Tensor.<name>`` when ``method``.

    On a ``Function`` subclass the public function is its ``apply``; on a function (a composite, or an
    argument check in front of ``apply``) it is the function itself. ``export=False``: only ``anp``
    (a derivative's helper op, not part of the API).
    """
    def declare(target: Any) -> Any:
        if name in OPS or method and hasattr(Tensor, name) or hasattr(anp, name) and name not in anp.__all__:
            raise ValueError(f"@op({name!r}): the name is taken; choose another for {getattr(target, '__name__', '')}")
        if isinstance(target, type):
            target.op_name = name
        fn = _public(name, target) if isinstance(target, type) else target
        if export:
            OPS[name] = fn
            for module in (sys.modules.get(f"{__package__}.ops"), sys.modules.get(__package__)):
                if module is not None and not hasattr(module, name):  # declared after import: ag.<name> too
                    setattr(module, name, fn)
        if name not in anp.__all__:  # anp's own constant helpers (sign) stay
            setattr(anp, name, _in_kind(target, fn))
        if method:
            setattr(Tensor, name, _method(fn))
        return target

    return declare


def _public(name: str, cls: type[Function]) -> Callable:
    """``ag.<name>`` for a Function: its ``apply``, where arguments past the inputs fill forward's
    keyword-only parameters in order (``ag.softmax(x, 0)`` is ``Softmax.apply(x, axis=0)``)."""
    apply = cls.apply
    if apply.__func__ is Function.apply.__func__:  # forward's signature, less ctx
        sig = inspect.signature(cls.forward)
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    else:
        sig = inspect.signature(apply)
    params = list(sig.parameters.values())
    n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    keywords = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    if any(p.kind is p.VAR_POSITIONAL for p in params) or not keywords:
        def public(*inputs: Any, **params: Any) -> Tensor:
            return apply(*inputs, **params)
    else:
        def public(*inputs: Any, **params: Any) -> Tensor:
            if len(inputs) > n:
                params.update(zip(keywords, inputs[n:]))
                inputs = inputs[:n]
            return apply(*inputs, **params)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = cls.__doc__
    public.__signature__ = sig  # type: ignore[attr-defined]
    public.__module__ = cls.__module__
    return public


def _method(fn: Callable) -> Callable:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _in_kind(target: Any, fn: Callable) -> Callable:
    """``anp.<name>``: the recorded op when an argument is a Tensor; on arrays the forward alone (for a
    Function without an ``apply`` of its own), else the public function's array."""
    direct = isinstance(target, type) and target.apply.__func__ is Function.apply.__func__
    forward = target.forward if direct else None
    params_of = list(inspect.signature(fn).parameters.values())
    n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params_of)
    keywords = [p.name for p in params_of if p.kind is p.KEYWORD_ONLY]

    def in_kind(*args: Any, **params: Any) -> Any:
        for a in args:
            if isinstance(a, Tensor):
                return fn(*args, **params)
        if forward is None:
            return fn(*args, **params)._data
        if len(args) > n and keywords:
            params.update(zip(keywords, args[n:]))
            args = args[:n]
        out = forward(_unrecorded(len(args)), *args, **params)
        return out if type(out) is xp.ndarray else xp.asarray(out)

    in_kind.__name__ = in_kind.__qualname__ = fn.__name__
    in_kind.__doc__ = fn.__doc__
    return in_kind


_NO_PARAMS = MappingProxyType({})  # shared by the many nodes whose op takes no parameters
_NEEDS: dict[tuple, tuple] = {}
_SOURCES: dict[tuple, tuple] = {}


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
    if kind not in (ValueError, TypeError, IndexError, AxisError):  # AxisError: an IndexError and a ValueError
        kind = ValueError
    named = str(e) if str(e).startswith(f"{fn.op_name}: ") else f"{fn.op_name}: {e}"  # named already: once
    if getattr(e, "names_shapes", False):  # the op's own sentence already shows the shapes
        return kind(named)
    inputs = ", ".join(_shape_str(a) for a in arrays)
    return kind(f"{named} (inputs: {inputs})")
