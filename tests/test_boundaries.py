"""Every op at its boundary points, against PyTorch (float64): live when installed, else its recorded answers.

``EDGES`` names each op of the functional API (``ag.ops.__all__``) with a formula written once
for both libraries; the driver runs it on each boundary kind: exact zeros, exact ties, +-inf, nan,
a size-0 axis, 0-d inputs, integer and bool dtypes, numpy scalar operands. With PyTorch: values,
dtypes, gradients (and where PyTorch raises, that we raise too) must agree. PyTorch's answers come from
tests/_oracle.py (recorded in tests/oracle/test_boundaries.jsonl; a new case: python tests/oracle/record.py).
A kind an op skips names its reason; an op missing from the table fails ``test_every_op_has_boundary_cases``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import ops
from tests import op_tables
from tests._oracle import oracle
from tests.op_tables import ELEMENTWISE, INT_IMAGES, NAN_KINK, NO_SCALAR, NUMPY_SCALAR, Edges

try:
    import torch
except ImportError:  # the optional `torch` extra
    torch = None

KINDS = ("zero", "tie", "inf", "nan", "empty", "0d", "int", "bool", "np_scalar")
INF = np.inf

# The input of each kind (one array per operand); an op may override a kind with its own inputs.
UNARY_INPUTS = {
    "zero": [np.zeros(3)],
    "tie": [np.array([1.0, 1.0, -1.0, -1.0])],
    "inf": [np.array([INF, -INF, 0.5])],
    "nan": [np.array([np.nan, 0.5, -1.0])],
    "empty": [np.zeros((0, 3))],
    "0d": [np.array(0.7)],
    "int": [np.array([0, 2, -3])],
    "bool": [np.array([True, False, True])],
}
BINARY_INPUTS = {
    "zero": [np.zeros(3), np.zeros(3)],
    "tie": [np.array([1.0, -1.0, 0.0]), np.array([1.0, -1.0, 0.0])],
    "inf": [np.array([INF, -INF, 0.5, INF]), np.array([INF, 1.0, -INF, -INF])],
    "nan": [np.array([np.nan, 0.5, np.nan]), np.array([1.0, np.nan, np.nan])],
    "empty": [np.zeros((0, 3)), np.zeros((0, 3))],
    "0d": [np.array(0.7), np.array(-1.3)],
    "int": [np.array([0, 2, -3]), np.array([1, 2, 3])],
    "bool": [np.array([True, False, True]), np.array([True, True, False])],
    "np_scalar": [np.array([1.5, -2.0, 0.0], dtype=np.float32), np.float64(2.0)],
}


class AG:
    """The functional API as the table's formulas call it."""
    def __getattr__(self, name: str) -> Any:
        return getattr(ag, name)


class TH:
    """PyTorch under ag's names (numpy conventions: axis, clip, where, ...)."""
    def __getattr__(self, name: str) -> Any:
        return op_tables.TORCH[name] if name in op_tables.TORCH else getattr(torch, name)
    @staticmethod
    def _dim(a, axis): return tuple(range(a.dim())) if axis is None else axis
    def sum(self, a, axis=None): return torch.sum(a, self._dim(a, axis))
    def mean(self, a, axis=None): return torch.mean(a, self._dim(a, axis))
    def max(self, a, axis=None): return torch.amax(a, self._dim(a, axis))
    def min(self, a, axis=None): return torch.amin(a, self._dim(a, axis))
    def var(self, a, axis=None): return torch.var(a, self._dim(a, axis), correction=0)
    def std(self, a, axis=None): return torch.std(a, self._dim(a, axis), correction=0)
    def logsumexp(self, a, axis=None): return torch.logsumexp(a, self._dim(a, axis))
    def softmax(self, a, axis): return torch.softmax(a, axis)
    def log_softmax(self, a, axis): return torch.log_softmax(a, axis)
    def clip(self, a, lo, hi): return torch.clamp(a, lo, hi)
    def linear(self, x, w, b): return x @ w + b
    def transpose(self, a): return a.permute(tuple(reversed(range(a.dim()))))
    def swapaxes(self, a, i, j): return a.transpose(i, j)
    def expand_dims(self, a, axis): return a.unsqueeze(axis)
    def squeeze(self, a, axis): return a.squeeze(axis)
    def broadcast_to(self, a, shape): return a.expand(shape)
    def flatten(self, a): return a.reshape(-1)
    def concatenate(self, ts, axis): return torch.cat(ts, axis)
    def split(self, a, n): return torch.split(a, int(a.shape[0] // n))
    def getitem(self, a, idx): return a[torch.as_tensor(idx) if isinstance(idx, np.ndarray) else idx]
    def astype(self, a, dtype): return a.to({"float32": torch.float32, "int64": torch.int64}[dtype])
    def compare(self, a, b, op): return torch.le(a, b) if op == "less_equal" else None
    def reshape(self, a, *shape): return a.reshape(*shape)
    def conv2d(self, x, w): return torch.nn.functional.conv2d(x, w)
    def max_pool2d(self, x, k): return torch.nn.functional.max_pool2d(x, k)
    def avg_pool2d(self, x, k): return torch.nn.functional.avg_pool2d(x, k)
    def adaptive_avg_pool2d(self, x, size): return torch.nn.functional.adaptive_avg_pool2d(x, size)
    def pad(self, a, w): return torch.nn.functional.pad(a, tuple(n for pair in reversed(w) for n in pair))
    def cumsum(self, a, axis): return torch.cumsum(a.reshape(-1), 0) if axis is None else torch.cumsum(a, axis)
    def prod(self, a, axis): return torch.prod(a) if axis is None else torch.prod(a, axis)
    def gather(self, a, dim, idx): return torch.gather(a, dim, torch.as_tensor(idx))
    def take_along_axis(self, a, idx, axis): return torch.take_along_dim(a, torch.as_tensor(idx), axis)
    def repeat(self, a, r, axis): return torch.repeat_interleave(a, r, dim=axis)
    def argmax(self, a, axis): return torch.argmax(a, dim=axis)
    def argmin(self, a, axis): return torch.argmin(a, dim=axis)


def _ax(a) -> Any:
    return 0 if a.ndim else None  # reduce over the first axis (the size-0 one in "empty"); 0-d: over all


def reduction(name: str, **kw: Any) -> Edges:
    return Edges(lambda L, a: getattr(L, name)(a, _ax(a)), scalar=lambda L, a: getattr(L, name)(a, np.int64(0)), **kw)


_OWN: dict[str, Edges] = {  # the ops before tests/op_tables/*.py (merged below, a name in both refused)
    "add": Edges(lambda L, a, b: a + b, 2),
    "sub": Edges(lambda L, a, b: a - b, 2),
    "mul": Edges(lambda L, a, b: a * b, 2),
    "div": Edges(lambda L, a, b: a / b, 2),
    "neg": Edges(lambda L, a: -a, **ELEMENTWISE),
    "pow": Edges(lambda L, a, b: a ** b, 2,
                 inputs={"zero": [np.zeros(4), np.array([0.0, 1.0, 2.0, -1.0])],
                         "tie": [np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0])]}),
    "matmul": Edges(lambda L, a, b: a @ b, 2, skip={"0d": "matmul refuses 0-d operands (numpy, PyTorch)"},
                    inputs={"empty": [np.zeros((2, 0)), np.zeros((0, 3))]}),
    "linear": Edges(lambda L, x, w: L.linear(x.reshape(1, -1), w.reshape(-1, 1), w[:1]), 2,
                    skip={"0d": "linear needs (..., in) operands", "np_scalar": "all operands are tensors",
                          "empty": "covered by matmul's size-0 inner axis"}),
    "exp": Edges(lambda L, a: L.exp(a), **ELEMENTWISE),
    "log": Edges(lambda L, a: L.log(a), **ELEMENTWISE),
    "sqrt": Edges(lambda L, a: L.sqrt(a), **ELEMENTWISE),
    "abs": Edges(lambda L, a: L.abs(a), skip=NO_SCALAR | NAN_KINK),
    "sin": Edges(lambda L, a: L.sin(a), **ELEMENTWISE),
    "cos": Edges(lambda L, a: L.cos(a), **ELEMENTWISE),
    "tanh": Edges(lambda L, a: L.tanh(a), **ELEMENTWISE),
    "sigmoid": Edges(lambda L, a: L.sigmoid(a), **ELEMENTWISE),
    "relu": Edges(lambda L, a: L.relu(a), skip=NO_SCALAR | NAN_KINK),
    "clip": Edges(lambda L, a: L.clip(a, -1.0, 1.0), inputs={"tie": [np.array([-1.0, 1.0, 0.0, 2.0])]},
                  scalar=lambda L, a: L.clip(a, np.float64(-1.0), np.float64(1.0))),
    "maximum": Edges(lambda L, a, b: L.maximum(a, b), 2, skip=NAN_KINK | NUMPY_SCALAR),
    "minimum": Edges(lambda L, a, b: L.minimum(a, b), 2, skip=NAN_KINK | NUMPY_SCALAR),
    "where": Edges(lambda L, a, b: L.where(a > 0, a, b), 2),
    "sum": reduction("sum"),
    "mean": reduction("mean"),
    "max": reduction("max", inputs={"tie": [np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 2.0]])]}),
    "min": reduction("min", inputs={"tie": [np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 2.0]])]}),
    "var": reduction("var"),
    "std": reduction("std", inputs={"tie": [np.array([[1.0, 2.0], [1.0, 3.0]])]}),
    "logsumexp": reduction("logsumexp"),
    "softmax": Edges(lambda L, a: L.softmax(a, 0), skip={"0d": "PyTorch's softmax of a 0-d tensor is 1; ours needs "
                                                                 "an axis (axis=None works)"},
                     scalar=lambda L, a: L.softmax(a, np.int64(0))),
    "log_softmax": Edges(lambda L, a: L.log_softmax(a, 0), skip={"0d": "as softmax"},
                         scalar=lambda L, a: L.log_softmax(a, np.int64(0))),
    "reshape": Edges(lambda L, a: L.reshape(a, -1), scalar=lambda L, a: L.reshape(a, np.int64(-1))),
    "transpose": Edges(lambda L, a: L.transpose(a), **ELEMENTWISE),
    "swapaxes": Edges(lambda L, a: L.swapaxes(a.reshape(1, -1), 0, 1), scalar=lambda L, a: L.swapaxes(
        a.reshape(1, -1), np.int64(0), np.int64(1))),
    "expand_dims": Edges(lambda L, a: L.expand_dims(a, 0), scalar=lambda L, a: L.expand_dims(a, np.int64(0))),
    "squeeze": Edges(lambda L, a: L.squeeze(a.reshape((1,) + tuple(a.shape)), 0),
                     scalar=lambda L, a: L.squeeze(a.reshape((1,) + tuple(a.shape)), np.int64(0))),
    "broadcast_to": Edges(lambda L, a: L.broadcast_to(a, (2,) + tuple(a.shape)), **ELEMENTWISE),
    "flatten": Edges(lambda L, a: L.flatten(a), **ELEMENTWISE),
    "getitem": Edges(lambda L, a: L.getitem(a.reshape(-1), np.array([0, 0, -1])),
                     skip={"empty": "indexing an empty axis raises in both (test_errors)"},
                     scalar=lambda L, a: L.getitem(a.reshape(-1), np.int64(1))),
    "concatenate": Edges(lambda L, a, b: L.concatenate([a, b], 0 if a.ndim else None), 2,
                         skip={"0d": "a 0-d tensor has no axis to join (axis=None flattens: test_edges)",
                               "np_scalar": "operands are tensors"}),
    "stack": Edges(lambda L, a, b: L.stack([a, b], 0), 2, skip={"np_scalar": "operands are tensors"}),
    "split": Edges(lambda L, a: L.split(a.reshape(-1), 1)[0], skip={"empty": "split of an empty axis into 1: "
                                                                             "PyTorch refuses a 0 chunk size"},
                   scalar=lambda L, a: L.split(a.reshape(-1), np.int64(1))[0]),
    "compare": Edges(lambda L, a, b: L.compare(a, b, "less_equal"), 2),
    "astype": Edges(lambda L, a: L.astype(a, "float32"), scalar=lambda L, a: L.astype(a, "int64"),
                    skip={"nan": "as inf", "inf": "a float32 cast keeps inf; an int cast of inf is undefined in C"}),
    # images: the operands laid out as one-row NCHW images
    "conv2d": Edges(lambda L, a, b: L.conv2d(_img(a), _img(b)), 2,
                    skip={"np_scalar": "operands are tensors", **INT_IMAGES,
                          "empty": "a 0-wide kernel: ours is the empty sum 0, PyTorch refuses the shape"}),
    "max_pool2d": Edges(lambda L, a: L.max_pool2d(_img(a), (1, 2)), skip=NO_SCALAR | NAN_KINK),
    "avg_pool2d": Edges(lambda L, a: L.avg_pool2d(_img(a), (1, 2)), skip=NO_SCALAR),
    "adaptive_avg_pool2d": Edges(lambda L, a: L.adaptive_avg_pool2d(_img(a), 1), **ELEMENTWISE),
    "pad": Edges(lambda L, a: L.pad(a, [(0, 0)] * (a.ndim - 1) + [(1, 1)]), **ELEMENTWISE),
    # the sequence-model ops
    "erf": Edges(lambda L, a: L.erf(a), **ELEMENTWISE),
    "cumsum": Edges(lambda L, a: L.cumsum(a, _ax(a)), **ELEMENTWISE),
    "prod": Edges(lambda L, a: L.prod(a, _ax(a)), **ELEMENTWISE),
    "einsum": Edges(lambda L, a, b: L.einsum("i,i->", a.reshape(-1), b.reshape(-1)), 2,
                    skip={"np_scalar": "operands are tensors"}),
    "gather": Edges(lambda L, a: L.gather(a.reshape(1, -1), 1, np.array([[0, 0]])), **ELEMENTWISE),
    "take_along_axis": Edges(lambda L, a: L.take_along_axis(a.reshape(-1), np.array([0, 0]), 0), **ELEMENTWISE),
    "masked_fill": Edges(lambda L, a: L.masked_fill(a, a > 0, 0.5), **ELEMENTWISE),
    "repeat": Edges(lambda L, a: L.repeat(a, 2, _ax(a)), **ELEMENTWISE),
    "repeat_interleave": Edges(lambda L, a: L.repeat_interleave(a, 2, _ax(a)), **ELEMENTWISE),
    "tile": Edges(lambda L, a: L.tile(a, (2,)), **ELEMENTWISE),
    "argmax": Edges(lambda L, a: L.argmax(a, _ax(a)), **ELEMENTWISE),
    "argmin": Edges(lambda L, a: L.argmin(a, _ax(a)), **ELEMENTWISE),
    "topk": Edges(lambda L, a: L.topk(a.reshape(-1), 1)[0],
                  skip=NO_SCALAR | {"tie": "tied values: we take the first index, PyTorch's CPU kernel another one, so "
                                           "the gradient lands on a different (equal) element (docs/reliability.md)"}),
}

_TWICE = set(_OWN) & set(op_tables.EDGES)
if _TWICE:
    raise ValueError(f"tests/test_boundaries.py and tests/op_tables/ both declare {sorted(_TWICE)}")
EDGES: dict[str, Edges] = {**op_tables.EDGES, **_OWN}


def _img(a: Any) -> Any:
    return a.reshape(1, 1, 1, -1)


def test_every_op_has_boundary_cases() -> None:
    missing = set(ops.__all__) - set(EDGES)
    assert not missing, f"add boundary cases (tests/op_tables/<file>.py, EDGES) for {sorted(missing)}"


def _cases() -> list:
    return [(name, kind) for name in sorted(EDGES) for kind in KINDS if kind not in EDGES[name].skip]


def _operands(e: Edges, kind: str) -> list | None:
    if kind in e.inputs:
        return e.inputs[kind]
    if kind == "np_scalar" and e.arity == 1:
        return [np.array([1.5, -2.0, 0.0, 1.0], dtype=np.float32)]
    return (UNARY_INPUTS if e.arity == 1 else BINARY_INPUTS)[kind]


def _run(L: Any, make: Callable[[np.ndarray], Any], e: Edges, kind: str, xs: list) -> tuple:
    """(value, gradients of a fixed projection, error): gradients only for float operands."""
    leaves = [make(x) if isinstance(x, np.ndarray) else x for x in xs]
    fn = e.scalar if kind == "np_scalar" and e.arity == 1 else e.fn
    try:
        out = fn(L, *leaves)
    except Exception as err:  # noqa: BLE001 (what matters is that both sides raise)
        return None, None, err
    grads = None
    needs = [t for t in leaves if getattr(t, "requires_grad", False)]
    if needs and out.requires_grad:
        w = np.cos(np.arange(int(np.prod(out.shape)))).reshape(tuple(out.shape))  # no accidental symmetry
        loss = (out * (torch.as_tensor(w, dtype=out.dtype) if L is TH_ else ag.tensor(w, dtype=out.dtype))).sum()
        loss.backward()
        grads = [None if t.grad is None else np.asarray(t.grad.detach() if L is TH_ else t.grad) for t in needs]
    value = out.detach().numpy() if L is TH_ else out.numpy()
    return value, grads, None


AG_, TH_ = AG(), TH()


def _ag_leaf(x: np.ndarray) -> ag.Tensor:
    return ag.tensor(x, requires_grad=x.dtype.kind == "f")


def _th_leaf(x: np.ndarray) -> Any:
    return torch.tensor(x, requires_grad=x.dtype.kind == "f")


def _quiet(f: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f()


@pytest.mark.parametrize("name,kind", _cases())
def test_boundary_against_pytorch(name: str, kind: str) -> None:
    e = EDGES[name]
    xs = _operands(e, kind)
    want, g_want, t_err = oracle(lambda: _quiet(lambda: _run(TH_, _th_leaf, e, kind, xs)))
    got, g_got, err = _quiet(lambda: _run(AG_, _ag_leaf, e, kind, xs))
    if t_err is not None and kind in ("int", "bool") and err is None:
        # PyTorch refuses some integer and bool inputs (mean, softmax, bool matmul); numpy's rules compute them
        # (docs/reliability.md). An integer input's value must then be the op's value on the same numbers
        # as float64; bool arithmetic is numpy's logic (True + True is True).
        if kind == "int":
            ref, _, _ = _quiet(lambda: _run(AG_, lambda x: ag.tensor(x.astype(np.float64)), e, kind, xs))
            np.testing.assert_allclose(got.astype(np.float64), ref, rtol=1e-6, equal_nan=True)
        return
    if t_err is not None:
        assert err is not None, f"PyTorch raises ({t_err}), we return {got}"
        return
    assert err is None, f"we raise {err!r}; PyTorch returns {want}"
    assert got.shape == want.shape
    if kind in ("int", "bool"):  # numpy's promotion for integer inputs (docs/reliability.md): the kind agrees
        assert got.dtype.kind == want.dtype.kind, (got.dtype, want.dtype)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-6, equal_nan=True)
        return
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    tol = dict(rtol=1e-12, atol=1e-300) if got.dtype != np.float32 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, want, **tol, equal_nan=True)
    if g_want is None:
        assert g_got is None or all(g is None or not np.any(g) for g in g_got)
        return
    for i, (g, gw) in enumerate(zip(g_got or [None] * len(g_want), g_want)):
        g = np.zeros(gw.shape, gw.dtype) if g is None else g
        assert g.dtype == gw.dtype
        np.testing.assert_allclose(g, gw, **tol, equal_nan=True, err_msg=f"gradient {i}")
