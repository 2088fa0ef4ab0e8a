"""Running the model for ``export``: each run recorded (``Trace``), comparisons recorded too, calls of the
modules written as one ONNX operator noted (``Call``), and the inputs of the runs after the example's."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import ops
from ..anomaly import capture_traces
from ..function import Function, inputs_as_used
from ..grad_mode import enable_grad
from ..tensor import Tensor


def other_inputs(arrays: list, dyn: dict) -> list[list]:
    """Inputs for the runs after the example's: values drawn from each example's own (so in its domain: valid
    indices stay valid; a constant floating example gets normal values), and each dynamic axis larger.

    A dimension that changed is matched to the dynamic axis that changed alike. With one symbol one more run
    is enough; with several, a product or sum of sizes could match another axis in two runs by coincidence
    (batch 3 -> 4 doubled is length 6 -> 8), so a third run with other steps must match too (batch 3 -> 4 -> 5,
    length 6 -> 8 -> 11)."""
    rng = np.random.default_rng(0)
    symbols = list(dict.fromkeys(s for axes in dyn.values() for s in axes.values()))
    steps = [(1, 1), (2, 3)][:1 + (len(symbols) > 1)]  # symbol j grows by offset + stride * j
    runs = []
    for offset, stride in steps:
        out = []
        for i, a in enumerate(arrays):
            shape = list(a.shape)
            for axis, symbol in dyn.get(i, {}).items():
                shape[axis] = a.shape[axis] + offset + stride * symbols.index(symbol)
            if a.dtype.kind == "f" and not varied(a):  # an all-zeros example: values from N(0, 1) instead
                out.append(rng.standard_normal(shape).astype(a.dtype))
            else:
                out.append(rng.choice(a.reshape(-1), size=shape) if a.size else np.zeros(shape, a.dtype))
        runs.append(out)
    return runs


def varied(a: Any) -> bool:
    return a.size > 1 and not (a == a.reshape(-1)[0]).all()


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    modules = list(model.modules()) if hasattr(model, "modules") and hasattr(model, "eval") else []
    modes = [m.training for m in modules]
    if modules:
        model.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            object.__setattr__(m, "training", mode)


class Compare(Function):
    """A comparison of a traced tensor, recorded while ``export`` traces (elsewhere a comparison gives a constant
    bool tensor, which the trace would freeze): what makes ``where(x > 0, x, a * x)`` exportable."""
    formula = "d compare(a, b)/da: none; d compare(a, b)/db: none (a bool result)"

    @staticmethod
    def forward(ctx, a, b, *, op):
        return ops._COMPARE[op](a, b)

    @staticmethod
    def backward(ctx, g):
        return None, None


@contextlib.contextmanager
def _recorded_comparisons() -> Iterator[None]:
    """Route the comparison operators (``x > 0``: ``Tensor.__gt__`` calls ``ops.compare``) through ``Compare``
    while tracing. A process-wide switch for the few milliseconds of a trace: the core's ``compare`` is no Function
    (comparisons are constants by its contract, masks in derivatives among them), so no forward hook sees it."""
    plain = ops.compare

    def compare(a: Any, b: Any, op: str) -> Tensor:
        if any(isinstance(t, Tensor) and t.requires_grad for t in (a, b)):
            return Compare.apply(a, b, op=op)
        return plain(a, b, op)

    ops.compare = compare
    try:
        yield
    finally:
        ops.compare = plain


class Call:
    """A call of a module that ``_ops.FUSED`` writes as ONNX operators of its own (an LSTM, a GRU): its
    arguments and outputs (Tensors, flattened), and the ops it recorded (``recorded[start:end]``)."""

    def __init__(self, module: Any, args: list, outputs: list, recorded: list, start: int) -> None:
        self.module, self.args, self.outputs, self.start, self.end = module, args, outputs, start, len(recorded)
        self.trace = recorded[start].trace if self.end > start else None  # the user's line that called it


@contextlib.contextmanager
def watched(modules: list, recorded: list, calls: list) -> Iterator[None]:
    """Note every call of ``modules`` (an instance ``forward`` that wraps the class's, removed afterwards)."""
    for m in modules:
        def forward(*args: Any, _m: Any = m, _plain: Any = m.forward, **kwargs: Any) -> Any:
            start = len(recorded)
            out = _plain(*args, **kwargs)
            calls.append(Call(_m, flatten((*args, *kwargs.values()), keep_none=True), flatten(out, keep_none=True),
                               recorded, start))
            return out
        object.__setattr__(m, "forward", forward)
    try:
        yield
    finally:
        for m in modules:
            m.__dict__.pop("forward", None)


class Trace:
    """One recorded run: the inputs, the outputs, the ops that lead to them in recording order, and ``units``:
    those ops, with each fusable module call (``Call``) in place of the ops it recorded."""

    def __init__(self, fn: Callable[..., Any], arrays: list, fused: list) -> None:
        self.inputs = [Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        calls: list[Call] = []
        with enable_grad(), capture_traces() as recorded, _recorded_comparisons(), watched(fused, recorded, calls):
            result = fn(*self.inputs)
        self.outputs = flatten(result)
        ids = {id(n) for n in recorded}
        self.value: dict[int, Any] = {}  # id(node) -> its output array
        stack = list(self.outputs)
        while stack:
            t = stack.pop()
            n = t.grad_fn
            if n is None or id(n) not in ids or id(n) in self.value:
                continue
            self.value[id(n)] = t._data
            stack.extend(x for x in inputs_as_used(n) if isinstance(x, Tensor))  # as each op used them
        self.nodes = [n for n in recorded if id(n) in self.value]
        self.units = self._units(recorded, calls)
        self.input_of = {id(x): m for m, x in enumerate(self.inputs)} | {id(x._data): m for m, x in
                                                                         enumerate(self.inputs)}

    def _units(self, recorded: list, calls: list[Call]) -> list:
        """The nodes, each closed call replacing its ops; ``self.key`` places each node's output among them."""
        self.key: dict[int, tuple] = {}
        inside: dict[int, Call] = {}
        for c in calls:
            ops = {id(n) for n in recorded[c.start:c.end]}
            produced = [id(t.grad_fn) for t in c.outputs if t is not None]
            if len(produced) != len([t for t in c.outputs if t is not None]) or not set(produced) <= ops:
                continue  # an output it did not compute (an input passed through): its ops stay ops
            consumers = [n for n in self.nodes if id(n) not in ops]
            used = [x for n in consumers for x in inputs_as_used(n) if isinstance(x, Tensor)] + self.outputs
            if all(id(x.grad_fn) not in ops or any(x is t for t in c.outputs) for x in used):
                inside.update((i, c) for i in ops if i in self.value)
        units: list = []
        for n in self.nodes:
            c = inside.get(id(n))
            if c is None:
                self.key[id(n)] = (len(units),)
                units.append(n)
            elif not units or units[-1] is not c:
                self.key.update((id(t.grad_fn), (len(units), j)) for j, t in enumerate(c.outputs) if t is not None)
                units.append(c)
        return units

    def kind(self, x: Any) -> tuple:
        """What an op input is: another op's (or fused call's) output, a graph input, or a leaf."""
        if isinstance(x, Tensor) and id(x.grad_fn) in self.key:
            return ("op",) + self.key[id(x.grad_fn)]
        if id(x) in self.input_of:
            return ("input", self.input_of[id(x)])
        return ("leaf",)


def flatten(result: Any, keep_none: bool = False) -> list:
    """The Tensors in nested tuples, in order (``keep_none``: Nones, arrays and numbers too, as they are)."""
    out, stack = [], [result]
    while stack:
        r = stack.pop()
        if isinstance(r, (tuple, list)):
            stack.extend(reversed(r))
        elif isinstance(r, Tensor) or keep_none:
            out.append(r)
        elif r is not None:
            raise TypeError(f"export: the model must return Tensors (or tuples of them), got {type(r).__name__}")
    if not out and not keep_none:
        raise ValueError("export: the model returned no Tensor")
    return out
