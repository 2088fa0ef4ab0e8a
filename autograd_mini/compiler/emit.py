"""Ops written out as numpy source: a forward and a derivative per op, each the exact numpy calls of the
op's own ``forward``/``backward`` in ``ops/primitives.py`` (so the program's numbers are the eager ones,
bit for bit; tests/test_compile.py checks each against eager). An op without an entry is called through
its Function (``Linear.forward(ctx, ...)``), which is exact by construction and reads less well.

``FORWARD[cls](tracer, ins, arrays, params, out)`` returns an expression, or None to decline (the op is
then called through its Function, forward and backward). ``BACKWARD[cls](tracer, node, g, ins, out,
names)`` writes the lines that assign ``names[i]`` (None: input ``i`` needs no gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import primitives as P
from ..ops import reductions as R

FORWARD: dict[type, Any] = {}
BACKWARD: dict[type, Any] = {}
RUNTIME = {"_sigmoid": P._sigmoid}  # helpers the written-out ops call, in every program's namespace


def _floats(*arrays: Any) -> bool:
    return all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays)


def _binary(cls: type, symbol: str) -> None:
    def forward(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str:
        if out.ndim:  # 0-d arithmetic gives a numpy scalar: nothing to write into
            t.fresh_arrays.add(t.out)
        return f"{ins[0]} {symbol} {ins[1]}"

    FORWARD[cls] = forward


_binary(P.Add, "+")
_binary(P.Sub, "-")
_binary(P.Mul, "*")


def _add_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    wanted = [n for n in names if n is not None]
    for n in wanted:
        t.emit(f"{n} = {g}")
    if len(wanted) == 1:  # one name for g's array: still only one
        t.take(g, wanted[0])
    t.owned.discard(g)


def _sub_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    if names[1] is not None:
        t.emit(f"{names[1]} = -{g}")
        t.owned.add(names[1])
    if names[0] is not None:
        t.emit(f"{names[0]} = {g}")
        t.take(g, names[0])
    t.owned.discard(g)


def _mul_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    wanted = [i for i, n in enumerate(names) if n is not None]
    g_array, g_in = t.traced_g  # the arrays the eager pass had: the product's shape and dtype
    for i in wanted:
        other, n = ins[1 - i], names[i]
        same = np.shape(g_in[i]) == g_array.shape and getattr(g_in[i], "dtype", None) == g_array.dtype
        if i == wanted[-1] and t.in_place_ok(g) and same:
            t.emit(f"{n} = np.multiply({g}, {other}, out={g})")  # g's last use, and the product has its shape
            t.take(g, n)
        else:
            t.emit(f"{n} = {g} * {other}")
            t.owned.add(n)


BACKWARD.update({P.Add: _add_back, P.Sub: _sub_back, P.Mul: _mul_back})

FORWARD[P.Neg] = lambda t, ins, arrays, params, out: f"-{ins[0]}"
def _neg_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    t.emit(f"{names[0]} = -{g}")
    t.owned.add(names[0])


BACKWARD[P.Neg] = _neg_back


def _matmul(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
    a, b = arrays
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim >= 2 and b.ndim >= 2):
        return None
    return f"{ins[0]} @ {ins[1]}"


def _matmul_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    a, b = ins
    t.owned.update(n for n in names if n is not None)
    if names[0] is not None:
        t.emit(f"{names[0]} = {g} @ {b}.swapaxes(-1, -2)")
    if names[1] is not None:
        t.emit(f"{names[1]} = {a}.swapaxes(-1, -2) @ {g}")
        nb = node.inputs[1].ndim
        ng = max(node.inputs[0].ndim, nb)
        if ng > nb:
            t.emit(f"{names[1]} = {names[1]}.sum(axis={tuple(range(ng - nb))!r})")


FORWARD[P.MatMul], BACKWARD[P.MatMul] = _matmul, _matmul_back


def _linear(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
    if not _floats(*arrays):
        return None
    x, w, b = arrays
    if np.result_type(x, w) != out.dtype:
        return f"{ins[0]} @ {ins[1]} + {ins[2]}"
    t.emit(f"{t.out} = {ins[0]} @ {ins[1]}")
    t.fresh_arrays.add(t.out)
    return f"np.add({t.out}, {ins[2]}, out={t.out})"  # x @ w + b, adding into the product's fresh array


def _linear_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    x, w, _ = ins
    t.owned.update(n for n in names if n is not None)
    if names[0] is not None:
        t.emit(f"{names[0]} = {g} @ {w}.swapaxes(-1, -2)")
    if node.inputs[0].ndim > 2:  # fold the batch axes, as Linear.backward
        x, g2 = f"{x}.reshape((-1, {x}.shape[-1]))", f"{g}.reshape((-1, {g}.shape[-1]))"
    else:
        g2 = g
    if names[1] is not None:
        t.emit(f"{names[1]} = {x}.swapaxes(-1, -2) @ {g2}")
    if names[2] is not None:
        t.emit(f"{names[2]} = {g2}.sum(axis=0)")


FORWARD[P.Linear], BACKWARD[P.Linear] = _linear, _linear_back


def _unary(cls: type, forward: str, factor: str) -> None:
    """An elementwise op on a float array: ``forward`` of ``{x}``; its derivative ``g * factor`` (of ``{x}``,
    ``{out}``), multiplied into ``g`` itself when the program owns it (the same product, one array less)."""
    def write(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
        if not _floats(arrays[0]):
            return None
        if out.ndim:
            t.fresh_arrays.add(t.out)
        return forward.format(x=ins[0])

    FORWARD[cls] = write

    def backward(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
        f = factor.format(x=ins[0], out=out)
        if t.in_place_ok(g):
            t.emit(f"{names[0]} = np.multiply({g}, {f}, out={g})")
            t.take(g, names[0])
        else:
            t.emit(f"{names[0]} = {g} * {f}")
            t.owned.add(names[0])

    BACKWARD[cls] = backward


_unary(P.Tanh, "np.tanh({x})", "(1 - {out} * {out})")
_unary(P.Exp, "np.exp({x})", "{out}")
_unary(P.Relu, "np.maximum({x}, 0)", "({out} > 0)")
_unary(P.Sigmoid, "_sigmoid({x})", "({out} * (1 - {out}))")


def _div(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
    if any(isinstance(a, np.ndarray) and a.dtype.kind not in "fc" for a in arrays):
        return None  # integers divide in the default float dtype (Div.forward's as_float), not numpy's float64
    return f"{ins[0]} / {ins[1]}"


def _div_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    a, b = ins
    t.owned.update(n for n in names if n is not None)
    if names[0] is not None:
        t.emit(f"{names[0]} = {g} / {b}")
    if names[1] is not None:
        ga = names[0] if names[0] is not None else f"({g} / {b})"
        t.emit(f"{names[1]} = -{ga} * {a} / {b}")


FORWARD[P.Div], BACKWARD[P.Div] = _div, _div_back


def _square(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
    square = params["exponent"] == 2 and (type(params["exponent"]) is int or _floats(arrays[0]))  # x ** 2.0: as_float
    return f"{ins[0]}**2" if square and isinstance(arrays[0], np.ndarray) else None


FORWARD[P.PowConst] = _square
def _square_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    t.emit(f"{names[0]} = {g} * (2 * {ins[0]})")
    t.owned.add(names[0])


BACKWARD[P.PowConst] = _square_back


def _reshape(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str:
    return f"{ins[0]}.reshape({params['shape']!r})"


def _reshape_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    t.emit(f"{names[0]} = {g}.reshape({node.inputs[0].shape!r})")
    t.take(g, names[0])  # a view of g's array, and g is not read again


FORWARD[P.Reshape], BACKWARD[P.Reshape] = _reshape, _reshape_back


def _transpose(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str:
    return f"{ins[0]}.transpose({tuple(params['axes'])!r})"


def _transpose_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    t.emit(f"{names[0]} = {g}.transpose({tuple(np.argsort(node.params['axes']).tolist())!r})")
    t.take(g, names[0])


FORWARD[P.Transpose], BACKWARD[P.Transpose] = _transpose, _transpose_back


def _sum(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
    if not isinstance(arrays[0], np.ndarray):
        return None
    return f"{ins[0]}.sum(axis={params['axes']!r}, keepdims={params['keepdims']!r})"


def _sum_back(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
    shape, axes = node.inputs[0].shape, node.params["axes"]
    kept = g if node.params["keepdims"] or not axes else \
        f"{g}.reshape({tuple(1 if i in axes else n for i, n in enumerate(shape))!r})"
    t.emit(f"{names[0]} = np.broadcast_to({kept}, {shape!r})")


FORWARD[R.Sum], BACKWARD[R.Sum] = _sum, _sum_back
