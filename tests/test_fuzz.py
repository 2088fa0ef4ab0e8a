"""Fuzzing: hypothesis builds random expression graphs and checks them three ways.

A graph is a list of steps over a pool that starts with 1-3 leaves of broadcast-compatible
shapes; each step applies a random op to random members of the pool, so intermediates are
reused (fan-out) and gradients accumulate. The loss is a random projection of every sink.

1. values against an independent numpy evaluation of the same program;
2. gradients against float64 central finite differences of that numpy program (smooth ops
   only: a kink such as relu at 0 has no finite difference);
3. where PyTorch imports, values and gradients of graphs with every op, kinks included, and of
   inputs holding nan and +-inf, against PyTorch (same conventions: relu'(0) = 0, ties split).

Examples per run: the ``ci``/``dev`` profiles in conftest.py (60 / 15 per test).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini as ag

try:
    import torch
except ImportError:  # the optional `torch` extra
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch==2.13.0)")


# ---- three backends with one vocabulary -----------------------------------------------------------
class NP:
    """The numpy reference: plain formulas, no stability tricks beyond the max shift."""

    tanh, sin, cos, exp, log, sqrt, abs = np.tanh, np.sin, np.cos, np.exp, np.log, np.sqrt, np.abs
    maximum, minimum = np.maximum, np.minimum
    @staticmethod
    def sigmoid(a): return 1 / (1 + np.exp(-a))
    @staticmethod
    def relu(a): return np.maximum(a, 0)
    @staticmethod
    def sum(a, axis, keepdims): return np.sum(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return np.mean(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return np.max(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def logsumexp(a, axis):  # an infinite max is not subtracted: logsumexp([inf, 1]) = inf, as PyTorch
        m = np.max(a, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        return np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    @staticmethod
    def softmax(a, axis):
        e = np.exp(a - np.max(a, axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    @staticmethod
    def log_softmax(a, axis):
        shifted = a - np.max(a, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    @staticmethod
    def transpose(a): return np.transpose(a)
    @staticmethod
    def flatten(a): return np.reshape(a, (-1,))
    @staticmethod
    def take(a, idx): return a[idx]
    @staticmethod
    def clip(a, lo, hi): return np.clip(a, lo, hi)
    @staticmethod
    def where(c, a, b): return np.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return np.var(a, axis=axis, keepdims=keepdims)
    @staticmethod
    def flip(a): return a[..., ::-1]
    @staticmethod
    def cat(a, b): return np.concatenate([a, b], axis=-1)
    @staticmethod
    def stack(a, b): return np.stack([a, b], axis=0)
    @staticmethod
    def unsqueeze(a): return np.expand_dims(a, 0)
    @staticmethod
    def broadcast_to(a, shape): return np.broadcast_to(a, shape)


class AG:
    tanh, sin, cos, exp, log, sqrt = ag.tanh, ag.sin, ag.cos, ag.exp, ag.log, ag.sqrt
    sigmoid, relu = ag.sigmoid, ag.relu
    maximum, minimum = ag.maximum, ag.minimum
    @staticmethod
    def abs(a): return ag.abs(a)
    @staticmethod
    def sum(a, axis, keepdims): return ag.sum(a, axis, keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return ag.mean(a, axis, keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return ag.max(a, axis, keepdims)
    @staticmethod
    def logsumexp(a, axis): return ag.logsumexp(a, axis, keepdims=True)
    @staticmethod
    def softmax(a, axis): return ag.softmax(a, axis)
    @staticmethod
    def log_softmax(a, axis): return ag.log_softmax(a, axis)
    @staticmethod
    def transpose(a): return a.transpose()
    @staticmethod
    def flatten(a): return a.reshape(-1)
    @staticmethod
    def take(a, idx): return a[idx]
    @staticmethod
    def clip(a, lo, hi): return ag.clip(a, lo, hi)
    @staticmethod
    def where(c, a, b): return ag.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return ag.var(a, axis, keepdims)
    @staticmethod
    def flip(a): return a[..., ::-1]
    @staticmethod
    def cat(a, b): return ag.concatenate([a, b], axis=-1)
    @staticmethod
    def stack(a, b): return ag.stack([a, b], axis=0)
    @staticmethod
    def unsqueeze(a): return ag.expand_dims(a, 0)
    @staticmethod
    def broadcast_to(a, shape): return a.broadcast_to(shape)


class TH:
    if torch is not None:
        tanh, sin, cos, exp, log, sqrt = torch.tanh, torch.sin, torch.cos, torch.exp, torch.log, torch.sqrt
        sigmoid, relu, abs, maximum, minimum = torch.sigmoid, torch.relu, torch.abs, torch.maximum, torch.minimum
    @staticmethod
    def _dims(a, axis): return tuple(range(a.dim())) if axis is None else axis
    @staticmethod
    def sum(a, axis, keepdims): return torch.sum(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def mean(a, axis, keepdims): return torch.mean(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def amax(a, axis, keepdims): return torch.amax(a, TH._dims(a, axis), keepdim=keepdims)
    @staticmethod
    def logsumexp(a, axis): return torch.logsumexp(a, TH._dims(a, axis), keepdim=True)
    @staticmethod
    def softmax(a, axis): return torch.softmax(a, axis)
    @staticmethod
    def log_softmax(a, axis): return torch.log_softmax(a, axis)
    @staticmethod
    def transpose(a): return a.permute(tuple(reversed(range(a.dim()))))
    @staticmethod
    def flatten(a): return a.reshape(-1)
    @staticmethod
    def take(a, idx): return a[torch.as_tensor(idx)]
    @staticmethod
    def clip(a, lo, hi): return torch.clamp(a, lo, hi)
    @staticmethod
    def where(c, a, b): return torch.where(c, a, b)
    @staticmethod
    def var(a, axis, keepdims): return torch.var(a, TH._dims(a, axis), correction=0, keepdim=keepdims)
    @staticmethod
    def flip(a): return torch.flip(a, (-1,))
    @staticmethod
    def cat(a, b): return torch.cat([a, b], dim=-1)
    @staticmethod
    def stack(a, b): return torch.stack([a, b], dim=0)
    @staticmethod
    def unsqueeze(a): return a.unsqueeze(0)
    @staticmethod
    def broadcast_to(a, shape): return a.expand(shape)


# ---- the op table: name -> (arity, smooth, formula over a backend L) -----------------------------------
@dataclass(frozen=True)
class Op:
    arity: int
    smooth: bool              # differentiable everywhere: checked against finite differences
    fn: Callable[..., Any]    # fn(L, *operands, **params)
    param: str = ""           # "axis" (an axis of operand 0), "reduce" (axis + keepdims), "index"


OPS: dict[str, Op] = {
    "neg": Op(1, True, lambda L, a: -a),
    "tanh": Op(1, True, lambda L, a: L.tanh(a)),
    "sigmoid": Op(1, True, lambda L, a: L.sigmoid(a)),
    "sin": Op(1, True, lambda L, a: L.sin(a)),
    "cos": Op(1, True, lambda L, a: L.cos(a)),
    "exp_tanh": Op(1, True, lambda L, a: L.exp(L.tanh(a))),          # bounded, so chains never overflow
    "log1p_sq": Op(1, True, lambda L, a: L.log(1.0 + a * a)),
    "sqrt1p_sq": Op(1, True, lambda L, a: L.sqrt(1.0 + a * a)),
    "square": Op(1, True, lambda L, a: a**2),
    "cube_scaled": Op(1, True, lambda L, a: L.tanh(a) ** 3),
    "transpose": Op(1, True, lambda L, a: L.transpose(a)),
    "flatten": Op(1, True, lambda L, a: L.flatten(a)),
    "take": Op(1, True, lambda L, a, index: L.take(a, index), "index"),  # repeated rows: scatter-add
    "sum": Op(1, True, lambda L, a, axis, keepdims: L.sum(a, axis, keepdims), "reduce"),
    "mean": Op(1, True, lambda L, a, axis, keepdims: L.mean(a, axis, keepdims), "reduce"),
    "logsumexp": Op(1, True, lambda L, a, axis: L.logsumexp(a, axis), "axis"),
    "softmax": Op(1, True, lambda L, a, axis: L.softmax(a, axis), "axis"),
    "log_softmax": Op(1, True, lambda L, a, axis: L.log_softmax(a, axis), "axis"),
    "var": Op(1, True, lambda L, a, axis, keepdims: L.var(a, axis, keepdims), "reduce"),
    "flip": Op(1, True, lambda L, a: L.flip(a)),                       # a negative-step slice
    "unsqueeze": Op(1, True, lambda L, a: L.unsqueeze(a)),
    "broadcast_to": Op(1, True, lambda L, a: L.broadcast_to(a, (2,) + tuple(a.shape))),
    "pow_half": Op(1, True, lambda L, a: (1.0 + a * a) ** 0.5),
    "add": Op(2, True, lambda L, a, b: a + b),
    "sub": Op(2, True, lambda L, a, b: a - b),
    "mul": Op(2, True, lambda L, a, b: a * b),
    "div": Op(2, True, lambda L, a, b: a / (1.0 + b * b)),
    "pow": Op(2, True, lambda L, a, b: (1.0 + a * a) ** L.tanh(b)),
    "matmul": Op(2, True, lambda L, a, b: a @ b),                      # numpy rules, 1-D operands included
    "concatenate": Op(2, True, lambda L, a, b: L.cat(a, b)),
    "stack": Op(2, True, lambda L, a, b: L.stack(a, b)),
    "clip": Op(1, False, lambda L, a: L.clip(a, -0.5, 0.7)),
    "where": Op(2, False, lambda L, a, b: L.where(a > b, a, b * 0.5)),
    "relu": Op(1, False, lambda L, a: L.relu(a)),
    "abs": Op(1, False, lambda L, a: L.abs(a)),
    "max": Op(1, False, lambda L, a, axis, keepdims: L.amax(a, axis, keepdims), "reduce"),
    "maximum": Op(2, False, lambda L, a, b: L.maximum(a, b)),
    "minimum": Op(2, False, lambda L, a, b: L.minimum(a, b)),
}
SMOOTH = [k for k, op in OPS.items() if op.smooth]
# At a nan these kinks pick a different (equally arbitrary) gradient from PyTorch's; the values agree.
# Ours: relu'(nan) = 0, abs'(nan) = nan, maximum/minimum give the whole gradient to the second argument, and
# relu/clip/abs mask by multiplying (a nan upstream gradient stays nan where the mask is 0).
# PyTorch: relu'(nan) = 1, abs'(nan) = 0, maximum/minimum give it to both sides, relu/clamp mask by selecting (0).
NAN_KINKS = {"relu", "abs", "maximum", "minimum", "clip"}
# var is composed from mean (x - mean(x)), so an inf input makes the mean path's gradient nan for every element;
# PyTorch's fused var backward, 2 (x - mean) / n, drops that path (it sums to zero when finite) and leaves -inf there.
NAN_COMPOSITES = {"var"}


@dataclass
class Program:
    leaves: list[np.ndarray]
    steps: list[tuple[str, tuple[int, ...], dict]]   # op name, operand pool indices, params
    shapes: list[tuple]                              # the shape of every pool entry

    def run(self, L: Any, inputs: list[Any]) -> list[Any]:
        """Evaluate on a backend; returns the sinks (pool entries no step consumed)."""
        pool = list(inputs)
        for name, args, params in self.steps:
            pool.append(OPS[name].fn(L, *(pool[i] for i in args), **params))
        used = {i for _, args, _ in self.steps for i in args}
        return [v for i, v in enumerate(pool) if i not in used]

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        lines = [f"leaf {i}: shape {a.shape}" for i, a in enumerate(self.leaves)]
        n = len(self.leaves)
        lines += [f"v{n + k} = {name}({', '.join(f'v{i}' for i in args)}{', ' if params else ''}"
                  f"{', '.join(f'{k}={v!r}' for k, v in params.items())})" for k, (name, args, params) in
                  enumerate(self.steps)]
        return "Program(\n  " + "\n  ".join(lines) + "\n)"


@st.composite
def programs(draw: st.DrawFn, ops: list[str], special: bool = False, max_steps: int = 8) -> Program:
    """A random graph: leaves of broadcastable shapes, then ops over random (reused) pool members."""
    base = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    n_leaves = draw(st.integers(1, 3))
    shapes = [draw(hnp.broadcastable_shapes(base, min_dims=0, max_dims=len(base), min_side=1, max_side=3))
              for _ in range(n_leaves)]
    elements = st.floats(-1.5, 1.5, allow_nan=False, width=64)
    if special:  # a few nan / +-inf among ordinary values
        elements = st.one_of(elements, elements, elements, st.sampled_from([np.nan, np.inf, -np.inf]))
    leaves = [draw(hnp.arrays(np.float64, s, elements=elements)) for s in shapes]
    steps: list[tuple[str, tuple[int, ...], dict]] = []
    for _ in range(draw(st.integers(2, max_steps))):
        name = draw(st.sampled_from(ops))
        op = OPS[name]
        a = draw(st.integers(0, len(shapes) - 1))
        args: tuple[int, ...] = (a,)
        sa = shapes[a]
        if op.arity == 2:
            b = draw(st.integers(0, len(shapes) - 1))  # often a reused intermediate, sometimes `a` itself
            args = (a, b)
        params: dict = {}
        if op.param in ("axis", "reduce"):
            if len(sa) == 0:
                if op.param == "axis":
                    continue  # softmax of a 0-d value has no axis
                params = {"axis": None, "keepdims": False}
            else:
                one = st.integers(-len(sa), len(sa) - 1)
                several = st.lists(st.integers(0, len(sa) - 1), min_size=1, max_size=len(sa), unique=True).map(tuple)
                params["axis"] = draw(st.one_of(st.none(), one, several) if op.param == "reduce" else one)
                if op.param == "reduce":
                    params["keepdims"] = draw(st.booleans())
                elif params["axis"] is None:
                    params["axis"] = -1
        if op.param == "index":
            if len(sa) == 0:
                continue
            params["index"] = np.array(draw(st.lists(st.integers(-sa[0], sa[0] - 1), min_size=1, max_size=4)))
        try:  # shapes that do not fit (broadcasting, matmul, concatenate) skip the step
            out_shape = np.shape(op.fn(NP, *(np.zeros(shapes[i]) for i in args), **params))
        except (ValueError, IndexError):
            continue
        steps.append((name, args, params))
        shapes.append(tuple(out_shape))
    return Program(leaves, steps, shapes)


def _projections(prog: Program, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sinks = prog.run(NP, [np.zeros(a.shape) for a in prog.leaves])
    return [rng.standard_normal(np.shape(s)) for s in sinks]


def _np_loss(prog: Program, leaves: list[np.ndarray], ws: list[np.ndarray]) -> float:
    return float(sum(np.sum(w * s) for w, s in zip(ws, prog.run(NP, leaves))))


def _ag_run(prog: Program, ws: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    xs = [ag.tensor(a.copy(), requires_grad=True) for a in prog.leaves]
    sinks = prog.run(AG, xs)
    loss = None
    for w, s in zip(ws, sinks):
        term = (s * w).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return [s.numpy() for s in sinks], [None if x.grad is None else x.grad.numpy() for x in xs]


def _fd_grads(prog: Program, ws: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    grads = []
    leaves = [a.copy() for a in prog.leaves]
    for a in leaves:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            orig = a[idx]
            a[idx] = orig + eps
            plus = _np_loss(prog, leaves, ws)
            a[idx] = orig - eps
            minus = _np_loss(prog, leaves, ws)
            a[idx] = orig
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


@given(prog=programs(SMOOTH), seed=st.integers(0, 2**16))
def test_random_graph_values_and_gradients_match_numpy_and_finite_differences(prog: Program, seed: int) -> None:
    ws = _projections(prog, seed)
    values, grads = _ag_run(prog, ws)
    for got, want in zip(values, prog.run(NP, prog.leaves)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for i, (g, fd) in enumerate(zip(grads, _fd_grads(prog, ws))):
        g = np.zeros_like(fd) if g is None else g  # a leaf no sink depends on gets no gradient
        assert g.shape == fd.shape, f"leaf {i}"
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * max(1.0, float(np.max(np.abs(fd)))),
                                   err_msg=f"leaf {i}")


@given(prog=programs(list(OPS), special=True), seed=st.integers(0, 2**16))
def test_random_graph_nan_and_inf_follow_numpy(prog: Program, seed: int) -> None:
    """With nan/inf inputs the values are exactly numpy's (nan where numpy has nan), never silently finite,
    and every gradient is computed (finite, inf or nan) with the leaf's shape."""
    ws = _projections(prog, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in a shift is expected here
        values, grads = _ag_run(prog, ws)
        want = prog.run(NP, prog.leaves)
    for got, ref in zip(values, want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, equal_nan=True)
    for g, a in zip(grads, prog.leaves):
        assert g is None or g.shape == a.shape


def _torch_run(prog: Program, ws: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in prog.leaves]
    sinks = prog.run(TH, xs)
    loss = sum((s * torch.as_tensor(w)).sum() for w, s in zip(ws, sinks))
    loss.backward()
    return ([s.detach().numpy() for s in sinks],
            [np.zeros(a.shape) if x.grad is None else x.grad.numpy() for x, a in zip(xs, prog.leaves)])


def _compare_with_torch(prog: Program, seed: int) -> None:
    ws = _projections(prog, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        values, grads = _ag_run(prog, ws)
    t_values, t_grads = _torch_run(prog, ws)
    for got, want in zip(values, t_values):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    for i, (g, want) in enumerate(zip(grads, t_grads)):
        g = np.zeros_like(want) if g is None else g
        np.testing.assert_allclose(g, want, rtol=1e-8, atol=1e-10, equal_nan=True, err_msg=f"leaf {i}")


@needs_torch
@given(prog=programs(list(OPS)), seed=st.integers(0, 2**16))
def test_random_graph_matches_pytorch(prog: Program, seed: int) -> None:
    """Every op, kinks included: values and gradients equal PyTorch's on the same graph."""
    _compare_with_torch(prog, seed)


@needs_torch
@given(prog=programs([k for k in OPS if k not in NAN_KINKS | NAN_COMPOSITES], special=True),
       seed=st.integers(0, 2**16))
def test_random_graph_with_nan_and_inf_matches_pytorch(prog: Program, seed: int) -> None:
    """nan and +-inf inputs: the same nan/inf pattern as PyTorch in values and gradients."""
    _compare_with_torch(prog, seed)


def test_kinks_follow_pytorch_conventions_without_torch() -> None:
    """The conventions the PyTorch comparison relies on, stated without PyTorch."""
    x = ag.tensor([0.0, 0.0, 1.0], requires_grad=True)
    ((ag.relu(x) + abs(x) + ag.maximum(x, 0.0)).sum() + ag.max(ag.minimum(x, 0.0))).backward()
    # relu'(0) = abs'(0) = 0; maximum/minimum ties: 1/2 each; a 3-way tie in max: 1/3 each
    np.testing.assert_allclose(x.grad.numpy(), [0.5 + 0.5 / 3, 0.5 + 0.5 / 3, 3.0])


def test_nan_gradients_at_kinks() -> None:
    """Our documented choices where PyTorch's differ (see NAN_KINKS): nan in, no silently large gradient."""
    x = ag.tensor(np.array([np.nan, 1.0]), requires_grad=True)
    ag.relu(x).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 1.0]
    x.grad = None
    with np.errstate(invalid="ignore"):
        abs(x).sum().backward()
    assert np.isnan(x.grad.numpy()[0]) and x.grad.numpy()[1] == 1.0
    a = ag.tensor(np.array([np.nan, 1.0]), requires_grad=True)
    b = ag.tensor(np.array([0.0, np.nan]), requires_grad=True)
    ag.maximum(a, b).sum().backward()
    assert a.grad.numpy().tolist() == [0.0, 0.0] and b.grad.numpy().tolist() == [1.0, 1.0]
