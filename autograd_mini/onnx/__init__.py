"""Export a model to ONNX, checked to run in ONNX Runtime: ``ag.onnx.export(model, x, "model.onnx")``.

Modelled on ``torch.onnx.export``: the forward runs once with recording on (the engine records every op),
and the recorded graph is written as ONNX operators, one emitter per op (``_ops.TABLE``), with the
parameters as initializers named from the module tree (``0.weight``) and the user's ``file:line`` in each
node's doc string. The forward runs again on other inputs (other sizes along the dynamic axes): anything
that differs between the runs, other than the sizes ONNX reads from the inputs at run time, would be
frozen at the example's values, so it is refused with the op and its line. ``onnx`` is imported here only
when ``export`` runs (``pip install "autograd-mini[onnx]"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..function import inputs_as_used
from ..tensor import Tensor
from ._trace import Call, Trace, eval_mode, other_inputs, varied

__all__ = ["export", "ExportError", "supported_ops"]

INSTALL = 'pip install "autograd-mini[onnx]"'


class ExportError(ValueError):
    """The model cannot be written as ONNX (and nothing was written); the message names the op and the fix."""


def supported_ops() -> list[str]:
    """The names of the recorded ops that export (Function class names)."""
    from ._ops import TABLE

    return sorted(TABLE)


def export(model_or_fn: Callable[..., Any], example_inputs: Any, path: str | Path,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           dynamic_axes: Mapping[str, Any] | None = None, opset: int = 17) -> Any:
    """Write ``model_or_fn(*example_inputs)`` as an ONNX model to ``path``; return the ``onnx.ModelProto``.

    ``example_inputs``: one array/Tensor or a tuple of them (floating inputs are traced, integer ones may
    be indices, as an Embedding's). ``dynamic_axes``: ``{"input": {0: "batch"}, "output": {0: "batch"}}``
    (or a list of axes), as PyTorch's. A module is exported in eval mode (then restored). Nothing is written
    when an op has no ONNX form or would be frozen at the example's values: ``ExportError`` names it.

    >>> ag.onnx.export(model, np.zeros((1, 784), np.float32), "mlp.onnx",
    ...                dynamic_axes={"input": {0: "batch"}})  # doctest: +SKIP
    """
    onnx = _require_onnx()
    from . import _build, _ops

    if not 17 <= int(opset) <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset must be from 17 to {onnx.defs.onnx_opset_version()} (the installed onnx's "
                         f"newest), got {opset}")
    arrays = [np.asarray(a._data if isinstance(a, Tensor) else a) for a in
              (example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,))]
    input_names = _names(input_names, len(arrays), "input")
    for name, a in zip(input_names, arrays):
        if a.dtype.kind != "f" and a.size and not varied(a):
            raise ValueError(f"export: the example {name!r} holds one value ({a.reshape(-1)[0]!r}) everywhere: export "
                             "runs the model again on values drawn from the example's to find what depends on them, "
                             "so give an integer or bool example at least two different values (token ids drawn "
                             "from the vocabulary, say)")
    dyn = _dynamic_axes(dynamic_axes, input_names, arrays)
    with eval_mode(model_or_fn):
        fused = [m for m in (model_or_fn.modules() if hasattr(model_or_fn, "modules") else ())
                 if type(m).__name__ in _ops.FUSED and all(p.dtype == np.float32 for p in m.parameters())]
        runs = [Trace(model_or_fn, arrays, fused)]
        _refuse_unmapped(runs[0], _ops)
        try:
            runs += [Trace(model_or_fn, other, fused) for other in other_inputs(arrays, dyn)]
        except Exception as e:
            raise ExportError(f"ag.onnx.export: the model failed when run again on other inputs (other sizes along "
                              f"the dynamic axes {dynamic_axes}), which export does to find what depends on them: "
                              f"{type(e).__name__}: {e}") from e
    output_names = _names(output_names, len(runs[0].outputs), "output")
    unknown = set(dynamic_axes or {}) - set(input_names) - set(output_names)
    if unknown:
        raise ValueError(f"export: dynamic_axes names {sorted(unknown)}, which are neither inputs {input_names} "
                         f"nor outputs {output_names}")
    if any(len(r.outputs) != len(runs[0].outputs) for r in runs):
        raise ExportError("ag.onnx.export: the model returned a different number of outputs on other inputs")
    proto = _Emitter(runs, input_names, dyn, int(opset), _build, _ops).model(output_names, dynamic_axes or {},
                                                                             model_or_fn)
    _build.check(proto)
    Path(path).write_bytes(proto.SerializeToString(deterministic=True))
    return proto


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(f"ag.onnx.export needs the onnx package, an optional dependency: {INSTALL} "
                          "(onnxruntime, in the same extra, runs the exported model)") from None
    return onnx


def _names(names: Sequence[str] | None, n: int, base: str) -> list[str]:
    if names is None:
        return [base] if n == 1 else [f"{base}_{i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"export: {base}_names must be {n} distinct names, got {names}")
    return names


def _dynamic_axes(spec: Mapping[str, Any] | None, input_names: list[str], arrays: list) -> dict[int, dict[int, str]]:
    """``{input index: {axis: symbol}}`` from PyTorch's ``dynamic_axes`` (checked against the inputs)."""
    out: dict[int, dict[int, str]] = {}
    for name, axes in (spec or {}).items():
        if name not in input_names:
            continue  # an output's axes (checked once the outputs are known): found by comparing the runs
        i = input_names.index(name)
        axes = axes if isinstance(axes, Mapping) else {a: f"{name}_dim{a}" for a in axes}
        for a, symbol in axes.items():
            if not -arrays[i].ndim <= a < arrays[i].ndim:
                raise ValueError(f"export: dynamic axis {a} of {name!r} is out of range for shape {arrays[i].shape}")
            out.setdefault(i, {})[a % arrays[i].ndim] = str(symbol)
    return out


def _refuse_unmapped(t: Trace, ops: Any) -> None:
    for n in t.nodes:
        name = n.name
        if name not in ops.TABLE:
            hint = ops.REFUSED.get(name, "write it with built-in ops (ag.exp, ag.where, ag.matmul, ... all export; "
                                         "ag.onnx.supported_ops() lists them), or export the model up to it")
            raise ExportError(f"ag.onnx.export: {n.where()} has no ONNX mapping, so nothing was written. "
                              f"Nearest supported: {hint}")


_FROZEN = ("changes with the input but is computed outside the recorded graph (by an op that is not recorded: sign, "
           "argmax, topk's indices, an integer cast, numpy on .data, or a mean's 1/n over a dynamic axis), so ONNX "
           "would freeze it at the example's values. Nearest supported: recorded ops on the input (comparisons and "
           "ag.where, ag.max over an axis, ag.softmax, ag.clip)")
_SIZED = ("has a shape that changes with the dynamic axes but is a fixed array in the graph (a mask or a "
          "position table built for the example's sizes). Nearest supported: fewer dynamic axes (the batch axis "
          "only), or build it from recorded ops on the input")


def _uniform(a: Any) -> bool:
    return a.size > 0 and not varied(a)


def _same(a: Any, b: Any, t1: Trace, t2: Trace) -> bool:
    """Equal values (nan equal to nan); arrays that are the same graph input in both runs are the same."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if id(a) in t1.input_of or id(b) in t2.input_of:
            return t1.input_of.get(id(a)) == t2.input_of.get(id(b), -1)
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y, t1, t2) for x, y in zip(a, b))
    if isinstance(a, slice) and isinstance(b, slice):
        return (a.start, a.stop, a.step) == (b.start, b.stop, b.step)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and bool(a == b)


def _shapes(v: Any) -> list:
    return [np.shape(a) for a in (v if isinstance(v, tuple) else (v,)) if isinstance(a, np.ndarray)]


def _data(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


class _Emitter:
    """Compares the runs op by op while writing the example's ops through the export table."""

    def __init__(self, runs: list[Trace], input_names: list[str], dyn: dict, opset: int, build: Any,
                 ops: Any) -> None:
        self.runs, self.build, self.ops, self.dyn, self.input_names = runs, build, ops, dyn, input_names
        self.symbols = {tuple(r.inputs[m].shape[a] for r in runs): (input_names[m], a, symbol)
                        for m, axes in dyn.items() for a, symbol in axes.items()}
        self.b = build.Builder(opset, [(name, [r.inputs[m]._data for r in runs]) for m, name in
                                       enumerate(input_names)], {k: v[:2] for k, v in self.symbols.items()})
        self.names: dict[int, str] = {}  # id(node) -> the ONNX name of its output

    def model(self, output_names: list[str], dynamic_axes: Mapping[str, Any], source: Any) -> Any:
        runs, b = self.runs, self.b
        b.reserve(output_names)
        params = dict(_named(source, "named_parameters"))
        buffers = dict(_named(source, "named_buffers"))
        self.leaf_names = {id(p): n for n, p in params.items()} | {id(_data(v)): n for n, v in buffers.items()}
        modules = {id(m): n for n, m in _named(source, "named_modules")}
        counts = [len(r.units) for r in runs]
        if len(set(counts)) > 1:
            raise ExportError(f"ag.onnx.export: the model records {counts[0]} ops on the example and {counts[1:]} "
                              "on other inputs: Python control flow depends on the input's values or sizes (a loop "
                              "over a dynamic axis, an `if` on values). Export with fewer dynamic axes, or make the "
                              "computation the same for every input")
        for k, first in enumerate(runs[0].units):
            units = [r.units[k] for r in runs]
            if isinstance(first, Call):
                self._emit_call(units, modules)
                continue
            for n in units[1:]:
                if isinstance(n, Call) or n.name != first.name or len(n.inputs) != len(first.inputs):
                    raise ExportError(f"ag.onnx.export: op {k} is {first.where()} on the example but not on other "
                                      "inputs: Python control flow depends on the input's values or sizes")
            self.names[id(first)] = self._emit(units, modules)
        outputs = []
        for k, name in enumerate(output_names):
            outs = [r.outputs[k] for r in runs]
            value = self._value(outs, "an output")
            b.node("Identity", [value if isinstance(value, str) else b.const(value)], name, outputs=[name])
            outputs.append(self._info(name, [o._data for o in outs], dynamic_axes.get(name)))
        inputs = [self._info(name, [runs[0].inputs[m]._data], self.dyn.get(m)) for m, name in
                  enumerate(self.input_names)]
        return b.model(inputs, outputs, f"exported by autograd-mini from {type(source).__name__}")

    def _emit(self, nodes: list, modules: dict) -> str:
        first, name, runs = nodes[0], nodes[0].name, self.runs
        varying = self.ops.VARYING.get(name, ())
        for key, p1 in first.params.items():
            for n, r in zip(nodes[1:], runs[1:]):
                p2 = n.params.get(key)
                if key not in varying and not _same(p1, p2, runs[0], r):
                    why = _SIZED if _shapes(p1) != _shapes(p2) else _FROZEN
                    raise ExportError(f"ag.onnx.export: parameter {key!r} of {first.where()} {why}")
        used = [inputs_as_used(n) for n in nodes]  # as each op used them, in each run
        inputs = self._values(used, first.where())
        scope = first.scope
        view = self.build.Op(self.b, name, _path(scope[0] if scope else None, modules), first.trace, inputs,
                             [_data(x) for x in used[0]], _defaults(first.fn) | dict(first.params),
                             [r.value[id(n)] for r, n in zip(runs, nodes)],
                             [[np.shape(_data(x)) for x in xs] for xs in used])
        return self.ops.TABLE[name](view)

    def _emit_call(self, calls: list[Call], modules: dict) -> None:
        """A fused module call: its arguments in, one ONNX name per output Tensor out."""
        first = calls[0]
        name = type(first.module).__name__
        if any(not isinstance(c, Call) or c.module is not first.module or len(c.args) != len(first.args)
               for c in calls[1:]):
            raise ExportError(f"ag.onnx.export: the {name} call is not made alike on other inputs: Python control "
                              "flow depends on the input's values or sizes")
        inputs = self._values([c.args for c in calls], f"`{name}`")
        view = self.build.Op(self.b, name, _path(first.module, modules), first.trace, inputs,
                             [_data(x) for x in first.args], {"module": first.module},
                             [_data(c.outputs[0]) for c in calls])
        for t, out in zip(first.outputs, self.ops.FUSED[name](view)):
            if t is not None:
                self.names[id(t.grad_fn)] = out

    def _values(self, inputs: list, where: str) -> list:
        """The inputs of an op (``inputs``: its input list in each run), each the same kind of thing in every
        run, as ONNX names or raw constants."""
        runs = self.runs
        out = []
        for i, x in enumerate(inputs[0]):
            xs = [xs_run[i] for xs_run in inputs]
            if any(r.kind(y) != runs[0].kind(x) for r, y in zip(runs[1:], xs[1:])):
                raise ExportError(f"ag.onnx.export: input {i} of {where} {_FROZEN}")
            out.append(self._value(xs, f"input {i} of {where}"))
        return out

    def _value(self, xs: list, where: str) -> Any:
        """An op input (``xs``: in each run) as an ONNX name (an op's output, a graph input, a parameter, a
        fill sized at run time) or a raw constant."""
        runs = self.runs
        kind = runs[0].kind(xs[0])
        if kind[0] == "op":
            return self.names[id(xs[0].grad_fn)]
        if kind[0] == "input":
            return self.input_names[kind[1]]
        if xs[0] is None:
            return None
        arrays = [_data(x) for x in xs]
        a1 = arrays[0]
        if id(a1) in runs[0].input_of:  # the input's own array in another Tensor (x.detach(), ag.tensor(x.data))
            m = runs[0].input_of[id(a1)]
            if all(r.input_of.get(id(a)) == m for a, r in zip(arrays[1:], runs[1:])):
                return self.input_names[m]
        named = self.leaf_names.get(id(xs[0])) or self.leaf_names.get(id(a1)) or self.leaf_names.get(
            id(getattr(a1, "base", None)))
        if all(_same(a1, a, runs[0], r) for a, r in zip(arrays[1:], runs[1:])):
            return self.b.const(a1, name=named) if named else a1
        if len({np.shape(a) for a in arrays}) > 1:
            fills = {np.asarray(a).reshape(-1)[0].item() if _uniform(np.asarray(a)) else None for a in arrays}
            if None not in fills and len(fills) == 1:  # zeros(batch, hidden) and the like: expanded at run time
                fill = self.b.const(np.asarray(a1).reshape(-1)[0])
                return self.b.node("Expand", [fill, self.b.shape([np.shape(a) for a in arrays], where)], "fill")[0]
            raise ExportError(f"ag.onnx.export: {where} {_SIZED}")
        ints = any(t.dtype.kind in "biu" for t in runs[0].inputs)
        raise ExportError(f"ag.onnx.export: {where} {_FROZEN}" + (
            ". Integer inputs are traced only where they index directly (an Embedding's ids): arithmetic on them "
            "is not recorded" if ints else ""))

    def _info(self, name: str, arrays: list, axes: Any) -> Any:
        """The type of a graph input or output: its dtype, and its shape with the dynamic axes named."""
        named = axes if isinstance(axes, Mapping) else {a: f"{name}_dim{a}" for a in (axes or ())}
        dims: list = []
        for a, d in enumerate(arrays[0].shape):
            sizes = tuple(x.shape[a] for x in arrays)
            if a in named:
                dims.append(named[a])
            elif len(set(sizes)) > 1:
                dims.append(self.symbols[sizes][2] if sizes in self.symbols else f"{name}_dim{a}")
            else:
                dims.append(d)
        return self.build.value_info(name, arrays[0].dtype, dims)


def _defaults(fn: type) -> dict[str, Any]:
    """The op's keyword parameters that have a default (softmax's ``axis=-1``): ``ctx.params`` holds only
    those the caller passed, the emitters read them all."""
    return {p.name: p.default for p in inspect.signature(fn.forward).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


def _path(module: Any, modules: dict) -> str:
    """The ONNX node-name prefix of a module: ``/blocks/0/attn`` (PyTorch's style); "" outside modules."""
    path = modules.get(id(module), "") if module is not None else ""
    return "/" + path.replace(".", "/") if path else ""


def _named(source: Any, method: str) -> Iterator[tuple[str, Any]]:
    return iter(getattr(source, method)()) if hasattr(source, method) else iter(())
