"""The ONNX graph under construction: value names, initializers, symbolic dimensions, and the per-op view
(``Op``) that each emitter of ``_ops.TABLE`` writes through. Imports ``onnx``: loaded only by ``export``."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import ExportError

_INT_MAX, _INT_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


class Builder:
    """Collects nodes and initializers. ``dims`` knows, for every dynamic axis, which graph input it comes
    from: a dimension that differs between the two traces is read from that input's shape at run time."""

    def __init__(self, opset: int, inputs: list[tuple[str, list]], dynamic: dict) -> None:
        self.opset = opset
        self.nodes: list = []
        self.inits: dict[str, Any] = {}
        self._const_names: dict[Any, str] = {}
        self._used = {name for name, _ in inputs}  # value names taken (graph inputs, outputs, ...): never reused
        self.inputs = inputs            # (name, its array in each run)
        self.dynamic = dynamic          # (size in each run) -> (input name, axis)
        self._shape_of: dict[tuple, str] = {}

    def reserve(self, names: list[str]) -> None:
        self._used.update(names)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name

    def node(self, op_type: str, inputs: list, name: str, doc: str | None = None, n_out: int = 1,
             outputs: list | None = None, **attrs: Any) -> list[str]:
        while inputs and inputs[-1] is None:  # a trailing optional input is left out (ONNX Runtime 1.32
            inputs = inputs[:-1]               # crashed on LayerNormalization given an empty bias name)
        unique = self.fresh(name)
        outs = outputs or ([unique] if n_out == 1 else [f"{unique}:{i}" for i in range(n_out)])
        self.nodes.append(helper.make_node(op_type, ["" if i is None else i for i in inputs], outs,
                                           name=unique, doc_string=doc, **attrs))
        return outs

    def const(self, value: Any, dtype: Any = None, name: str | None = None) -> str:
        """An initializer holding ``value`` (deduplicated by content and name)."""
        if self.graph_input(value) is not None:  # a parameter holding an input's array: no frozen copy of it
            raise ExportError(f"ag.onnx.export: the input {self.graph_input(value)!r} is used as a fixed parameter "
                              "of an op (clip's bounds, say), which would hold the example's values: pass it as a "
                              "Tensor operand instead (ag.maximum, ag.minimum, ag.where)")
        a = np.asarray(value, dtype=dtype)
        if a.dtype == np.float16 or a.dtype.kind not in "biuf":
            raise ExportError(f"a constant of dtype {a.dtype} has no ONNX export here")
        key = (name, a.dtype.str, a.shape, a.tobytes())
        if key not in self._const_names:
            unique = self.fresh(name or f"const_{len(self.inits)}")
            self.inits[unique] = numpy_helper.from_array(np.array(a, order="C"), unique)  # (not ascontiguousarray: 1-d)
            self._const_names[key] = unique
        return self._const_names[key]

    def shape(self, shapes: list[tuple], where: str, infer_one: bool = False) -> str:
        """An int64 shape tensor from a value's shape in each run: the dims that stay are constants, those that
        change are read from the graph input's axis that changed alike. ``infer_one``: one dimension that follows
        no input axis may be -1 (a Reshape infers it)."""
        pieces: list[Any] = []
        unknown = 0
        for sizes in zip(*shapes):
            if len(set(sizes)) == 1:
                pieces.append(sizes[0])
            elif sizes in self.dynamic:
                pieces.append(self._axis(*self.dynamic[sizes]))
            else:
                unknown += 1
                pieces.append(-1)
        if unknown > (1 if infer_one else 0):
            raise ExportError(f"ag.onnx.export: {where}: its shape {shapes[0]} has a dimension that changes with "
                              "the dynamic axes but is no input axis (a product of sizes, say); export with fewer "
                              "dynamic axes, or reshape with -1 there")
        if all(isinstance(p, int) for p in pieces):
            return self.const(np.array(pieces, np.int64))
        parts, run = [], []
        for p in pieces + [None]:
            if isinstance(p, int):
                run.append(p)
                continue
            if run:
                parts.append(self.const(np.array(run, np.int64)))
                run = []
            if p is not None:
                parts.append(p)
        return parts[0] if len(parts) == 1 else self.node("Concat", parts, "shape", axis=0)[0]

    def _axis(self, input_name: str, axis: int) -> str:
        key = (input_name, axis)
        if key not in self._shape_of:
            self._shape_of[key] = self.node("Shape", [input_name], f"{input_name}/shape{axis}", start=axis,
                                            end=axis + 1)[0]
        return self._shape_of[key]

    def graph_input(self, array: Any) -> str | None:
        """The graph input whose array (in any run) this is: an index taken straight from an input."""
        for name, arrays in self.inputs:
            if any(array is a for a in arrays):
                return name
        return None

    def model(self, input_infos: list, output_infos: list, doc: str) -> Any:
        graph = helper.make_graph(self.nodes, "autograd_mini", input_infos, output_infos,
                                  initializer=list(self.inits.values()), doc_string=doc)
        return helper.make_model(graph, producer_name="autograd-mini",
                                 opset_imports=[helper.make_opsetid("", self.opset)])


def tensor_type(dtype: Any) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def value_info(name: str, dtype: Any, dims: list) -> Any:
    return helper.make_tensor_value_info(name, tensor_type(dtype), dims)


class Op:
    """One recorded op (or fused module call) as an emitter sees it: its inputs as ONNX names or constants, its
    parameters, its output's dtype and shape in each run, and ``emit`` to add ONNX nodes (named after the
    module, with the user's line as doc string)."""

    def __init__(self, b: Builder, name: str, node_name: str, doc: str | None, inputs: list, in1: list,
                 params: dict, outs: list, in_runs: list | None = None) -> None:
        self.b, self.name, self.node_name, self.doc = b, name, node_name, doc
        self._inputs, self.in1 = inputs, in1  # ONNX names or raw constants; the example's arrays
        self._in_shapes = in_runs or [[np.shape(x) for x in in1]]  # the inputs' shapes in each run
        self.params = params
        self.out1 = np.asarray(outs[0])
        self._out_shapes = [np.shape(o) for o in outs]  # in each run: what changes is dynamic
        self.dtype = self.out1.dtype

    @property
    def n_in(self) -> int:
        return len(self._inputs)

    def input(self, i: int, dtype: Any = None) -> str | None:
        """Input ``i`` as an ONNX name (None stays None), cast to ``dtype`` when given and different."""
        v = self._inputs[i]
        if v is None:
            return None
        if not isinstance(v, str):  # a constant: cast here, at export time
            return self.b.const(v, dtype if dtype is not None else np.asarray(self.in1[i]).dtype)
        if dtype is not None and np.dtype(dtype) != np.asarray(self.in1[i]).dtype:
            return self.emit("Cast", [v], to=tensor_type(dtype))
        return v

    def inputs(self, dtype: Any = None) -> list:
        return [self.input(i, dtype) for i in range(self.n_in)]

    def in_shape(self, i: int) -> tuple:
        return np.shape(self.in1[i])

    def dynamic_axes(self, i: int) -> set:
        """The axes of input ``i`` whose size differs between the runs (dynamic at run time)."""
        shapes = [run[i] for run in self._in_shapes]
        return {a for a in range(len(shapes[0])) if len({s[a] for s in shapes}) > 1}

    def emit(self, op_type: str, inputs: list, n_out: int = 1, **attrs: Any) -> Any:
        outs = self.b.node(op_type, inputs, f"{self.node_name}/{op_type}", self.doc, n_out, **attrs)
        return outs[0] if n_out == 1 else outs

    def const(self, value: Any, dtype: Any = None) -> str:
        return self.b.const(value, dtype)

    def ints(self, values: Any) -> str:
        return self.b.const(np.asarray(values, np.int64).reshape(-1))

    def out_shape(self, infer_one: bool = False) -> str:
        """The output's shape as an int64 tensor (dynamic dims read at run time)."""
        return self.b.shape(self._out_shapes, self.where(), infer_one)

    def reduce(self, op_type: str, x: str, axes: tuple, keepdims: bool) -> str:
        """A Reduce* node; from opset 18 (ReduceSum from 13) the axes are an input, before an attribute. Over no
        axis (``axis=()``, or every axis of a 0-d value) it is the value itself."""
        if not axes:  # (an empty axes input would reduce over every axis; an empty attribute cannot be written)
            return self.emit("Identity", [x])
        if op_type == "ReduceSum" or self.b.opset >= 18:
            return self.emit(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.emit(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def where(self) -> str:
        return f"`{self.name}`" + (f" at {self.doc}" if self.doc else "")

    def refuse(self, why: str) -> ExportError:
        return ExportError(f"ag.onnx.export: {self.where()} cannot be exported: {why}")


def slice_bounds(s: slice) -> tuple[int, int, int]:
    """Python's slice as ONNX Slice's (start, end, step): None becomes the end that Python would use."""
    step = 1 if s.step is None else int(s.step)
    start = (0 if step > 0 else _INT_MAX) if s.start is None else int(s.start)
    stop = (_INT_MAX if step > 0 else _INT_MIN) if s.stop is None else int(s.stop)
    return start, stop, step


def check(model: Any) -> None:
    onnx.checker.check_model(model, full_check=True)
