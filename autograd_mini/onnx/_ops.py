"""The export table: one emitter per recorded op, keyed by the op's name (its Function class name).

An emitter reads the op through ``Op`` (inputs as ONNX names, parameters as forward declares them, defaults
filled in, output shape and dtype) and returns the ONNX name of the op's result. ``VARYING`` names the
parameters allowed to differ between the runs of ``export`` (shapes that hold the batch size: they are rebuilt
from the output's shape at run time); any other parameter that differs is refused. ``REFUSED`` says what to
use instead of an op that has no mapping. Composites (GELU, BatchNorm, Embedding, attention) are recorded as
primitives and are exported as them. ``FUSED`` (at the end) is keyed by module class name instead: a call of
such a module is written as ONNX operators of its own (nn.LSTM, nn.GRU), its recorded ops skipped.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..shapes import normalize_axes
from ._build import Op, slice_bounds, tensor_type

TABLE: dict[str, Callable[[Op], str]] = {}
VARYING: dict[str, tuple[str, ...]] = {"Reshape": ("shape",), "BroadcastTo": ("shape",),
                                       "ConvTranspose2d": ("x_shape",),
                                       "_HookIn": ("cell", "pos"), "_HookOut": ("cell", "pos")}  # per call
_LOSS = "export the model's output (the logits or probabilities) and compute the loss outside the ONNX model"
_DERIVATIVE = ("it is a derivative (recorded under create_graph): export the forward computation, whose ops all "
               "map, and let the serving engine or PyTorch differentiate if needed")
_LINALG = ("ag.linalg has no ONNX mapping yet (ONNX's Det aside, serving engines lack these): compute it outside "
           "the exported model, or move the model to PyTorch (nn.utils.to_torch_state_dict)")
REFUSED = {
    "SoftmaxCrossEntropy": _LOSS, "BinaryCrossEntropy": _LOSS,
    "ConvWeight2d": _DERIVATIVE, "WindowScatter": _DERIVATIVE,
    "WindowGather": _DERIVATIVE, "_NotDifferentiableAgain": _DERIVATIVE, "_Weighted": _DERIVATIVE,
    "LinearScan": _DERIVATIVE,
    **dict.fromkeys(["Inv", "Solve", "SolveTriangular", "MatrixExp", "Det", "LogAbsDet", "Cholesky", "Pinv",
                     "SvdPart", "EighPart", "QrPart",
                     "VectorNorm", "Diagonal", "DiagonalScatter"], _LINALG),
    "CumProd": "ONNX has no cumulative product: compute ag.cumprod outside the model, or export "
               "ag.exp(ag.cumsum(ag.log(x), axis)) for a positive x",
    "LogCumSumExp": "ONNX has no stable running logsumexp: compute ag.logcumsumexp outside the model",
    **{n: f"{n.lower()} is not mapped to ONNX yet: write it with mapped ops (exp, log, sigmoid, tanh, "
          "softplus as log(1 + exp(x)), ...) or compute it outside the model"
       for n in ["Log1p", "Expm1", "Log2", "Log10", "Square", "Rsqrt", "Floor", "Ceil", "Round", "Trunc", "Frac",
                 "Sign", "Atan2", "Copysign", "Fmod", "Remainder", "Hypot", "Lerp", "LogAddExp", "Elu",
                 "Silu", "Softplus", "Mish", "LogSigmoid"]},
    "RoundedDiv": "div(rounding_mode=) is not mapped to ONNX yet: compute it outside the model",
    "ScatterExtreme": "scatter_reduce's amax/amin are not mapped yet: export ag.scatter_reduce(..., 'sum' or "
                      "'prod'), or reduce outside the model",
    **dict.fromkeys(["SetItem", "ViewOf"], "a write into part of a tensor (t[i] = v, or into a view of it) has no "
                    "ONNX mapping: build the value out of place (ag.where(mask, v, t), ag.concatenate)"),
    "MaxUnpool": "max_unpool has no exporter yet (ONNX MaxUnpool wants indices over the whole tensor): export "
                 "the model up to the max pool and unpool outside the ONNX model",
}


def op(*names: str) -> Callable:
    def register(fn: Callable[[Op], str]) -> Callable[[Op], str]:
        for n in names:
            TABLE[n] = fn
        return fn
    return register


def _same_type(o: Op, onnx_op: str) -> str:
    return o.emit(onnx_op, o.inputs(o.dtype))


# ---- elementwise ---------------------------------------------------------------------------------------
_ELEMENTWISE = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Neg": "Neg", "Pow": "Pow",
                "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "StdSqrt": "Sqrt", "Abs": "Abs", "Sin": "Sin",
                "Cos": "Cos", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Relu": "Relu", "Erf": "Erf",
                "Maximum": "Max", "Minimum": "Min", "Primal": "Identity", "Tan": "Tan", "Asin": "Asin",
                "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh",
                "Atanh": "Atanh", "Reciprocal": "Reciprocal",  # Primal: ag.func's fresh variable
                "_HookIn": "Identity"}  # a module's backward hooks (nn/hooks.py)
for _name, _onnx in _ELEMENTWISE.items():
    TABLE[_name] = lambda o, _onnx=_onnx: _same_type(o, _onnx)


@op("_HookOut")
def _hook_out(o: Op) -> str:  # the module's output; its other inputs (the module's inputs) only carry zeros back
    return o.emit("Identity", [o.input(0, o.dtype)])


@op("PowConst")
def _pow_const(o: Op) -> str:
    return o.emit("Pow", [o.input(0, o.dtype), o.const(o.params["exponent"], o.dtype)])


@op("Clip")
def _clip(o: Op) -> str:
    lo, hi = o.params["lo"], o.params["hi"]
    bound = [None if v is None else o.const(v, o.dtype) for v in (lo, hi)]
    if any(np.ndim(v) for v in (lo, hi) if v is not None):  # array bounds: Clip takes scalars only
        x = o.input(0, o.dtype)
        x = x if lo is None else o.emit("Max", [x, bound[0]])
        return x if hi is None else o.emit("Min", [x, bound[1]])
    return o.emit("Clip", [o.input(0, o.dtype)] + bound)


@op("Where")
def _where(o: Op) -> str:
    return o.emit("Where", [o.input(0, np.bool_), o.input(1, o.dtype), o.input(2, o.dtype)])


_COMPARE = {"less": "Less", "less_equal": "LessOrEqual", "greater": "Greater", "greater_equal": "GreaterOrEqual",
            "equal": "Equal", "not_equal": "Equal"}


@op("Compare")
def _compare(o: Op) -> str:
    kind = o.params["op"]
    dtype = np.result_type(*o.in1)
    out = o.emit(_COMPARE[kind], o.inputs(dtype))
    return o.emit("Not", [out]) if kind == "not_equal" else out


@op("AsType")
def _astype(o: Op) -> str:
    return o.emit("Cast", [o.input(0)], to=tensor_type(o.dtype))


# ---- matrix products and reductions --------------------------------------------------------------------
@op("MatMul")
def _matmul(o: Op) -> str:
    return _same_type(o, "MatMul")


@op("Linear")
def _linear(o: Op) -> str:
    x, w, b = o.inputs(o.dtype)
    return o.emit("Add", [o.emit("MatMul", [x, w]), b])


@op("Einsum")
def _einsum(o: Op) -> str:
    return o.emit("Einsum", o.inputs(o.dtype), equation=",".join(o.params["subscripts"]) + "->" + o.params["out"])


_REDUCE = {"Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd",
           "LogSumExp": "ReduceLogSumExp"}


def _reduction(o: Op, onnx_op: str) -> str:
    return o.reduce(onnx_op, o.input(0, o.dtype), tuple(o.params["axes"]), o.params["keepdims"])


for _name, _onnx in _REDUCE.items():
    TABLE[_name] = lambda o, _onnx=_onnx: _reduction(o, _onnx)


@op("ScatterAdd")
def _scatter_add(o: Op) -> str:
    """``add_at`` (scatter_add, index_add, diag_embed, and getitem's derivative): ScatterND with reduction add
    into zeros, at the flat positions the numpy index names."""
    shape = tuple(o.params["shape"])
    at = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape)[o.params["index"]], o.in_shape(0))
    zeros = o.const(np.zeros(int(np.prod(shape)), o.dtype))
    updates = o.emit("Reshape", [o.input(0, o.dtype), o.ints([-1])])
    out = o.emit("ScatterND", [zeros, o.const(at.reshape(-1, 1), np.int64), updates], reduction="add")
    return o.emit("Reshape", [out, o.ints(shape)])


@op("CumSum")
def _cumsum(o: Op) -> str:
    return o.emit("CumSum", [o.input(0), o.const(o.params["axis"], np.int64)])


def _softmax_family(o: Op, onnx_op: str) -> str:
    axes = normalize_axes(o.params["axis"], len(o.in_shape(0)), o.name)  # an int, a tuple or None (all axes)
    x = o.input(0, o.dtype)
    if len(axes) == 1:
        return o.emit(onnx_op, [x], axis=axes[0])
    shifted = o.emit("Sub", [x, o.reduce("ReduceMax", x, axes, True)])  # several axes: composed, stably
    total = o.reduce("ReduceSum", o.emit("Exp", [shifted]), axes, True)
    if onnx_op == "Softmax":
        return o.emit("Div", [o.emit("Exp", [shifted]), total])
    return o.emit("Sub", [shifted, o.emit("Log", [total])])


TABLE["Softmax"] = lambda o: _softmax_family(o, "Softmax")
TABLE["LogSoftmax"] = lambda o: _softmax_family(o, "LogSoftmax")


@op("LayerNormFunction")
def _layer_norm(o: Op) -> str:
    x, w, b = o.inputs(o.dtype)
    axes = o.params["axes"]
    if w is None:
        w = o.const(np.ones(o.in_shape(0)[axes[0]:], o.dtype))
    return o.emit("LayerNormalization", [x, w, b], axis=axes[0], epsilon=float(o.params["eps"]))


# ---- shapes and indexing -------------------------------------------------------------------------------
@op("Reshape")
def _reshape(o: Op) -> str:
    zero = 0 in o.out1.shape
    return o.emit("Reshape", [o.input(0), o.out_shape(infer_one=not zero)], allowzero=int(zero))


@op("BroadcastTo")
def _broadcast_to(o: Op) -> str:
    return o.emit("Expand", [o.input(0), o.out_shape()])


@op("Transpose")
def _transpose(o: Op) -> str:
    return o.emit("Transpose", [o.input(0)], perm=list(o.params["axes"]))


@op("Concatenate")
def _concatenate(o: Op) -> str:
    return o.emit("Concat", o.inputs(o.dtype), axis=o.params["axis"])


@op("Pad")
def _pad(o: Op) -> str:
    widths = np.asarray(o.params["pad_width"], np.int64).reshape(-1, 2)
    return o.emit("Pad", [o.input(0), o.ints(np.concatenate([widths[:, 0], widths[:, 1]])),
                         o.const(o.params["value"], o.dtype)], mode="constant")


@op("GetItem")
def _getitem(o: Op) -> str:
    """numpy indexing: None -> Unsqueeze, slices -> one Slice, then ints and integer arrays -> Gather (one
    array, or ints alone) or GatherND (several, broadcast together; numpy's placement of the new axes)."""
    x, shape = o.input(0), list(o.in_shape(0))
    index = o.params["index"]
    items: list = []
    for i in index if isinstance(index, tuple) else (index,):
        if isinstance(i, np.ndarray) and i.dtype == bool:
            if o.b.graph_input(i) is not None:
                raise o.refuse("a boolean mask that is a graph input selects a data-dependent number of elements")
            items.extend(np.nonzero(i))
        else:
            items.append(i)
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    ellipsis = [n for n, i in enumerate(items) if i is Ellipsis]
    if ellipsis:
        items[ellipsis[0]:ellipsis[0] + 1] = [slice(None)] * (len(shape) - used)
    else:
        items += [slice(None)] * (len(shape) - used)
    new_axes = [n for n, i in enumerate(items) if i is None]
    if new_axes:
        x = o.emit("Unsqueeze", [x, o.ints(new_axes)])
        for n in new_axes:
            shape.insert(n, 1)
        items = [slice(None) if i is None else i for i in items]
    cut = [(n, slice_bounds(i)) for n, i in enumerate(items) if isinstance(i, slice) and i != slice(None)]
    if cut:
        x = o.emit("Slice", [x] + [o.ints([c[1][k] for c in cut]) for k in range(2)] +
                   [o.ints([c[0] for c in cut]), o.ints([c[1][2] for c in cut])])
    adv = [(n, i) for n, i in enumerate(items) if not isinstance(i, slice)]
    if not any(np.ndim(i) for _, i in adv):  # ints only: each removes its axis (the last first: numbers hold)
        for n, i in reversed(adv):
            x = o.emit("Gather", [x, o.const(int(i), np.int64)], axis=n)
        return x
    if len(adv) == 1:
        n, i = adv[0]
        return o.emit("Gather", [x, o.b.graph_input(i) or o.const(np.asarray(i, np.int64))], axis=n)
    if any(o.b.graph_input(i) is not None for _, i in adv):
        raise o.refuse("an index array that is a graph input, used together with other index arrays; "
                       "index with it alone")
    axes = [n for n, _ in adv]
    idx = np.stack([np.asarray(i, np.int64) % shape[n] for n, i in
                    zip(axes, np.broadcast_arrays(*[np.asarray(i) for _, i in adv]))], axis=-1)
    rest = [n for n in range(len(items)) if n not in axes]
    out = o.emit("GatherND", [o.emit("Transpose", [x], perm=axes + rest), o.const(idx)])
    if axes != list(range(axes[0], axes[0] + len(axes))) or axes[0] == 0:
        return out  # numpy puts the index axes first, or they are first already
    k = idx.ndim - 1  # adjacent indexed axes: numpy puts the index axes where they were
    return o.emit("Transpose", [out], perm=list(range(k, k + axes[0])) + list(range(k)) +
                  list(range(k + axes[0], k + len(rest))))


# ---- images --------------------------------------------------------------------------------------------
def _pads(padding: Any) -> list[int]:
    (pt, pb), (pl, pr) = padding
    return [pt, pl, pb, pr]


@op("Conv2d")
def _conv2d(o: Op) -> str:
    p = o.params
    x, w, b = o.inputs(o.dtype)
    return o.emit("Conv", [x, w] + ([b] if b else []), strides=list(p["stride"]), pads=_pads(p["padding"]),
                  dilations=list(p["dilation"]), group=int(p["groups"]), kernel_shape=list(o.in_shape(1)[2:]))


@op("ConvTranspose2d")
def _conv_transpose2d(o: Op) -> str:
    p = o.params
    g, w = o.inputs(o.dtype)
    kernel, (ho, wo) = o.in_shape(1)[2:], o.in_shape(0)[2:]
    pads = tuple((before, max(after, 0)) for before, after in p["padding"])  # ONNX pads are >= 0: a negative end
    full = [p["stride"][i] * (n - 1) + p["dilation"][i] * (kernel[i] - 1) + 1 - sum(pads[i])  # (output_padding
            for i, n in enumerate((ho, wo))]                                                   # > padding) extends
    extra = [p["x_shape"][2 + i] - full[i] for i in range(2)]  # rows the strided conv2d never reached
    return o.emit("ConvTranspose", [g, w], strides=list(p["stride"]), pads=_pads(pads),
                  dilations=list(p["dilation"]), group=int(p["groups"]), kernel_shape=list(kernel),
                  output_padding=extra)


@op("MaxPool2d")
def _max_pool2d(o: Op) -> str:
    p = o.params
    return o.emit("MaxPool", [o.input(0)], kernel_shape=list(p["kernel"]), strides=list(p["stride"]),
                  pads=_pads(p["padding"]), dilations=list(p["dilation"]))


@op("AdaptiveMaxPool")
def _adaptive_max_pool(o: Op) -> str:
    spatial, sizes = o.in_shape(0)[2:], o.params["output_size"]
    if all(s == 1 for s in sizes):  # one bin: any input size
        return o.emit("GlobalMaxPool", [o.input(0)])
    if o.dynamic_axes(0) - {0, 1}:  # the kernel would be the example's
        raise o.refuse(f"adaptive max pooling to {sizes}: the input's spatial axes are dynamic, and the bins depend "
                       "on their sizes, which ONNX's MaxPool cannot follow; export with fixed spatial sizes, or "
                       "pool to 1 (GlobalMaxPool)")
    if any(s == 0 or n % s for n, s in zip(spatial, sizes)):  # ONNX has no adaptive pooling
        raise o.refuse(f"adaptive max pooling of {spatial} to {sizes} has bins of different sizes, which ONNX's "
                       "MaxPool cannot express: pool to a size that divides the input, or export up to the pool")
    kernel = [n // s for n, s in zip(spatial, sizes)]
    return o.emit("MaxPool", [o.input(0)], kernel_shape=kernel, strides=kernel)


# ---- module calls written as one ONNX operator each --------------------------------------------------
def _recurrent(o: Op, onnx_op: str, order: list[int], **attrs: Any) -> list[str]:
    """nn.LSTM / nn.GRU as ONNX LSTM / GRU operators, one per layer: PyTorch's gate blocks reordered to
    ONNX's (LSTM i f g o -> i o f c; GRU r z n -> z r h, with ``linear_before_reset``: b_hn inside r * (...)).
    The time axis may then be dynamic: the loop runs inside the operator."""
    m = o.params["module"]
    x, *states = o.inputs()
    states = [s for s in states if s is not None]
    hidden, batched = m.hidden_size, len(o.in_shape(0)) == 3

    def gates(w: Any) -> Any:  # (G*H, ...) in PyTorch's gate order -> ONNX's, with a leading direction axis
        a = np.asarray(w.data)
        return np.concatenate([a[g * hidden:(g + 1) * hidden] for g in order])[None]

    if not batched:
        x, states = o.emit("Unsqueeze", [x, o.ints([1])]), [o.emit("Unsqueeze", [s, o.ints([1])]) for s in states]
    elif m.batch_first:
        x = o.emit("Transpose", [x], perm=[1, 0, 2])
    finals: list[list[str]] = [[] for _ in range(m.n_states)]
    for k in range(m.num_layers):
        w_ih, w_hh, b_ih, b_hh = m._layer(k)
        bias = None if b_ih is None else o.const(np.concatenate([gates(b_ih), gates(b_hh)], axis=1))
        first = [o.emit("Slice", [s, o.ints([k]), o.ints([k + 1]), o.ints([0])]) for s in states] or \
            [None] * m.n_states
        y, *last = o.emit(onnx_op, [x, o.const(gates(w_ih)), o.const(gates(w_hh)), bias, None] + first,
                          n_out=1 + m.n_states, hidden_size=hidden, **attrs)
        x = o.emit("Squeeze", [y, o.ints([1])])  # (T, 1, N, H): one direction
        for f, state in zip(finals, last):
            f.append(state)
    states = [f[0] if len(f) == 1 else o.emit("Concat", f, axis=0) for f in finals]
    if not batched:
        return [o.emit("Squeeze", [v, o.ints([1])]) for v in [x] + states]
    return [o.emit("Transpose", [x], perm=[1, 0, 2]) if m.batch_first else x] + states


FUSED: dict[str, Callable[[Op], list[str]]] = {
    "LSTM": lambda o: _recurrent(o, "LSTM", [0, 3, 1, 2]),
    "GRU": lambda o: _recurrent(o, "GRU", [1, 0, 2], linear_before_reset=1),
}
