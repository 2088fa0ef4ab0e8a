"""Fuzzing: hypothesis builds random expression graphs and checks them to second order.

A graph is a list of 3-12 steps over a pool that starts with 1-3 leaves of broadcast-compatible
shapes (0-d and size-0 ones included) holding ordinary and boundary values (0, +-1, ties); each
step applies an op to random members of the pool, so intermediates are reused (fan-out) and
gradients accumulate. The loss is a random projection of every sink.

Every test is parametrized by op, and each program of that test applies its op at least once
(stratified draws): every op of ``OPS`` is fuzzed in every run. The coverage actually executed
is printed at the end of the session (tests/conftest.py).

1. values against an independent numpy evaluation of the same program;
2. gradients against float64 central finite differences of that numpy program, and second
   derivatives (a random projection of the gradient, differentiated with ``create_graph``)
   against finite differences of the first gradient (smooth ops: a kink has no finite difference);
3. values, gradients and second derivatives of graphs with every op, kinks included, against PyTorch
   where it imports, else against numpy and finite differences wherever the graph is differentiable;
   values and gradients for inputs holding nan and +-inf against numpy, and PyTorch where it imports.

Programs per op: ``examples_per_op()`` (3 in ``ci``; ``stress``, 2,000 examples, gives 53 per op).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini as ag
from tests._fuzz_ops import AG, NAN_COMPOSITES, NAN_KINKS, NAN_LAPACK, NP, OPS, SMOOTH, TH, Op, torch

COVERAGE: dict[str, int] = dict.fromkeys(OPS, 0)  # steps executed per op this session (see conftest.py)


def examples_per_op() -> int:
    """Programs per op and test: the profile's ``max_examples`` shared over the ops, at least 3
    (``ci``: 3 per op, 114 programs per test; ``stress``: 53 per op, 2,014 per test)."""
    return max(3, -(-settings.default.max_examples // len(OPS)))


def per_op(test: Callable) -> Callable:
    return settings(max_examples=examples_per_op())(test)


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
        lines = [f"leaf {i}: {a!r}" for i, a in enumerate(self.leaves)]
        n = len(self.leaves)
        lines += [f"v{n + k} = {name}({', '.join(f'v{i}' for i in args)}{', ' if params else ''}"
                  f"{', '.join(f'{k}={v!r}' for k, v in params.items())})" for k, (name, args, params) in
                  enumerate(self.steps)]
        return "Program(\n  " + "\n  ".join(lines) + "\n)"


def _params(draw: st.DrawFn, op: Op, sa: tuple) -> dict | None:
    """Random parameters of ``op`` for an operand of shape ``sa``; None when it takes none that fit."""
    params: dict = {}
    if op.param in ("axis", "reduce"):
        if len(sa) == 0:
            return None if op.param == "axis" else {"axis": None, "keepdims": False}
        one = st.integers(-len(sa), len(sa) - 1)
        several = st.lists(st.integers(-len(sa), len(sa) - 1), min_size=1, max_size=len(sa),
                           unique_by=lambda a: a % len(sa)).map(tuple)  # negative members too: (-1, 0)
        params["axis"] = draw(st.one_of(st.none(), one, several) if op.param == "reduce" else one)
        if op.param == "reduce":
            params["keepdims"] = draw(st.booleans())
        elif params["axis"] is None:
            params["axis"] = -1
    if op.param == "index":
        if len(sa) == 0 or sa[0] == 0:
            return None
        params["index"] = np.array(draw(st.lists(st.integers(-sa[0], sa[0] - 1), min_size=1, max_size=4)))
    return params


def _out_shape(name: str, shapes: list[tuple], args: tuple, params: dict) -> tuple | None:
    """The step's output shape, or None when its operands do not fit (broadcasting, matmul, ...)."""
    try:
        return tuple(np.shape(_quiet(lambda: OPS[name].fn(NP, *(np.zeros(shapes[i]) for i in args), **params))))
    except (ValueError, IndexError):
        return None


def _quiet(f: Callable[[], Any]) -> Any:
    """Run ``f`` with numpy's warnings off: a size-0 mean, log(0) and inf - inf are expected here."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return f()


def _add_step(draw: st.DrawFn, name: str, shapes: list, steps: list, forced: bool = False) -> bool:
    op = OPS[name]
    a = draw(st.integers(0, len(shapes) - 1))
    args = (a, draw(st.integers(0, len(shapes) - 1))) if op.arity == 2 else (a,)  # often reused, sometimes a, a
    candidates = [args]
    if forced:  # the op this test is about: search the pool for operands that fit, then fall back to flatten
        candidates += [(i, j) if op.arity == 2 else (i,) for i in range(len(shapes)) for j in range(len(shapes))]
    for args in candidates:
        params = _params(draw, op, shapes[args[0]])
        if params is None:
            continue
        out = _out_shape(name, shapes, args, params)
        if out is not None:
            steps.append((name, args, params))
            shapes.append(out)
            return True
    if forced:  # no pool entry fits (0-d or size-0 everywhere): flatten one into (n,) and apply the op to it
        _add_step(draw, "flatten", shapes, steps)
        flat = len(shapes) - 1
        if shapes[flat] == (0,):  # empty: its sum (0.0) is an operand with an element
            steps.append(("sum", (flat,), {"axis": None, "keepdims": False}))
            shapes.append(())
            steps.append(("flatten", (flat + 1,), {}))
            shapes.append((1,))
            flat += 2
        if not _add_fixed(draw, name, shapes, steps, flat):
            steps.append(("unsqueeze", (flat,), {}))
            shapes.append((1,) + shapes[flat])
            for _ in range(2):  # an op that needs a longer last axis (reflect padding): double it until it fits
                if _add_fixed(draw, name, shapes, steps, len(shapes) - 1):
                    return True
                last = len(shapes) - 1
                steps.append(("concatenate", (last, last), {}))
                shapes.append(shapes[last][:-1] + (2 * shapes[last][-1],))
            return _add_fixed(draw, name, shapes, steps, len(shapes) - 1)
        return True
    return False


def _add_fixed(draw: st.DrawFn, name: str, shapes: list, steps: list, i: int) -> bool:
    args = (i, i) if OPS[name].arity == 2 else (i,)
    params = _params(draw, OPS[name], shapes[i])
    out = None if params is None else _out_shape(name, shapes, args, params)
    if out is None:
        return False
    steps.append((name, args, params))
    shapes.append(out)
    return True


@st.composite
def programs(draw: st.DrawFn, ops: list[str], must: str, special: bool = False, min_steps: int = 3,
             max_steps: int = 12) -> Program:
    """A random graph over ``ops`` that applies ``must`` at least once, at a random step."""
    sides = st.one_of(*[hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)] * 4,
                      hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))  # 1 in 5: may be size-0
    base = draw(sides)
    n_leaves = draw(st.integers(1, 3))
    shapes = [draw(hnp.broadcastable_shapes(base, min_dims=0, max_dims=len(base), min_side=min(base, default=1),
                                            max_side=3)) for _ in range(n_leaves)]
    elements = st.one_of(st.floats(-1.5, 1.5, allow_nan=False, width=64), st.sampled_from([0.0, 1.0, -1.0, 0.5]))
    if special:  # a few nan / +-inf among ordinary values
        elements = st.one_of(elements, elements, elements, st.sampled_from([np.nan, np.inf, -np.inf]))
    leaves = [draw(hnp.arrays(np.float64, s, elements=elements)) for s in shapes]
    steps: list[tuple[str, tuple[int, ...], dict]] = []
    n_steps = draw(st.integers(min_steps, max_steps))
    at = draw(st.integers(0, n_steps - 1))
    for k in range(n_steps):
        if not _add_step(draw, must if k == at else draw(st.sampled_from(ops)), shapes, steps, forced=k == at):
            _add_step(draw, "neg", shapes, steps)  # the drawn op fit no operand: a step that always fits, so
            #                                        every program has its drawn number of steps
    return Program(leaves, steps, shapes)


def _projections(prog: Program, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sinks = _quiet(lambda: prog.run(NP, [np.zeros(a.shape) for a in prog.leaves]))
    return [rng.standard_normal(np.shape(s)) for s in sinks]


def _np_loss(prog: Program, leaves: list[np.ndarray], ws: list[np.ndarray]) -> float:
    return _quiet(lambda: float(sum(np.sum(w * s) for w, s in zip(ws, prog.run(NP, leaves)))))


def _ag_loss(prog: Program, xs: list[ag.Tensor], ws: list[np.ndarray]) -> tuple[list[ag.Tensor], ag.Tensor]:
    sinks = prog.run(AG, xs)
    for name, _, _ in prog.steps:
        COVERAGE[name] += 1
    loss = None
    for w, s in zip(ws, sinks):
        term = (s * w).sum()
        loss = term if loss is None else loss + term
    return sinks, loss


def _ag_run(prog: Program, ws: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    xs = [ag.tensor(a.copy(), requires_grad=True) for a in prog.leaves]
    sinks, loss = _ag_loss(prog, xs, ws)
    loss.backward()
    return [s.numpy() for s in sinks], [None if x.grad is None else x.grad.numpy() for x in xs]


def _ag_first(prog: Program, leaves: list[np.ndarray], ws: list[np.ndarray]) -> list[np.ndarray]:
    """The first gradient (zeros for a leaf nothing depends on), a plain backward."""
    xs = [ag.tensor(a.copy(), requires_grad=True) for a in leaves]
    _, loss = _ag_loss(prog, xs, ws)
    loss.backward()
    return [np.zeros(a.shape) if x.grad is None else x.grad.numpy() for x, a in zip(xs, leaves)]


def _ag_second(prog: Program, ws: list[np.ndarray], vs: list[np.ndarray]) -> list[np.ndarray]:
    """d/dx of sum_i <v_i, dL/dx_i>: a Hessian-vector product through ``create_graph``."""
    xs = [ag.tensor(a.copy(), requires_grad=True) for a in prog.leaves]
    _, loss = _ag_loss(prog, xs, ws)
    grads = ag.grad_of(loss, xs, create_graph=True, allow_unused=True)
    h = None
    for g, v in zip(grads, vs):
        if g is not None and g.requires_grad:
            term = (g * v).sum()
            h = term if h is None else h + term
    if h is None:  # the loss is linear in every leaf: no second derivative
        return [np.zeros(a.shape) for a in prog.leaves]
    second = ag.grad_of(h, xs, allow_unused=True)
    return [np.zeros(a.shape) if s is None else s.numpy() for s, a in zip(second, prog.leaves)]


def _fd(f: Callable[[list[np.ndarray]], Any], leaves: list[np.ndarray],
        eps: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Central differences of a scalar function of the leaves, each with how far it is from smooth there: the
    larger of the gap between its forward and backward differences (a kink inside the step) and its change
    when the step doubles (a jump at the point); both are about eps * f'' or less where f is smooth."""
    leaves = [a.copy() for a in leaves]
    centre = f(leaves)
    out = []
    for a in leaves:
        g, rough = np.zeros_like(a), np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            orig = a[idx]
            at = {}
            for step in (eps, -eps, 2 * eps, -2 * eps):
                a[idx] = orig + step
                at[step] = f(leaves)
            a[idx] = orig
            g[idx] = (at[eps] - at[-eps]) / (2 * eps)
            wide = (at[2 * eps] - at[-2 * eps]) / (4 * eps)
            rough[idx] = max(abs((at[eps] - centre) - (centre - at[-eps])) / eps, abs(wide - g[idx]))
        out.append((g, rough))
    return out


def _close(got: np.ndarray | None, want: np.ndarray, what: str, rtol: float, atol: float = 0.0) -> None:
    got = np.zeros_like(want) if got is None else got  # a leaf no sink depends on gets no gradient
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol or rtol * scale, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("op", SMOOTH)
@per_op
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_graph_values_and_gradients_match_numpy_and_finite_differences(op: str, data: Any, seed: int) -> None:
    prog = data.draw(programs(SMOOTH, op), label="program")
    ws = _projections(prog, seed)
    values, grads = _quiet(lambda: _ag_run(prog, ws))
    for got, want in zip(values, _quiet(lambda: prog.run(NP, prog.leaves))):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)
    if not np.isfinite(_np_loss(prog, prog.leaves, ws)):
        return  # a mean over a size-0 axis is nan: no finite differences (the PyTorch test checks these)
    for i, (g, (fd, _)) in enumerate(zip(grads, _fd(lambda ls: _np_loss(prog, ls, ws), prog.leaves, 1e-6))):
        _close(g, fd, f"gradient of leaf {i}", 1e-5)


@pytest.mark.parametrize("op", SMOOTH)
@per_op
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_graph_second_derivatives_match_finite_differences(op: str, data: Any, seed: int) -> None:
    """Hessian-vector products (create_graph) against float64 central differences of the first gradient."""
    prog = data.draw(programs(SMOOTH, op), label="program")
    ws = _projections(prog, seed)
    vs = [np.random.default_rng(seed + 1).standard_normal(a.shape) for a in prog.leaves]
    if not np.isfinite(_np_loss(prog, prog.leaves, ws)):
        return  # as above
    # quiet: an intermediate may be infinite (logsumexp over a size-0 axis) while the loss is finite
    second = _quiet(lambda: _ag_second(prog, ws, vs))
    for i, (s, (fd, _)) in enumerate(zip(second, _fd(_hvp_probe(prog, ws, vs), prog.leaves, 1e-5))):
        _close(s, fd, f"second derivative of leaf {i}", 1e-4)


def _hvp_probe(prog: Program, ws: list[np.ndarray], vs: list[np.ndarray]) -> Callable[[list[np.ndarray]], float]:
    """sum_i <v_i, dL/dx_i> at given leaves: its finite differences are the Hessian-vector product."""
    return lambda ls: _quiet(lambda: float(sum(np.sum(v * g) for v, g in zip(vs, _ag_first(prog, ls, ws)))))


def _torch_run(prog: Program, ws: list[np.ndarray], vs: list[np.ndarray] | None = None) -> tuple:
    """Values, gradients and (given ``vs``) Hessian-vector products from PyTorch."""
    xs = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in prog.leaves]
    sinks = prog.run(TH, xs)
    loss = sum((s * torch.as_tensor(w)).sum() for w, s in zip(ws, sinks))
    grads = torch.autograd.grad(loss, xs, create_graph=vs is not None, allow_unused=True)
    second = None
    if vs is not None:
        h = sum((g * torch.as_tensor(v)).sum() for g, v in zip(grads, vs) if g is not None and g.requires_grad)
        second = [np.zeros(a.shape) for a in prog.leaves]
        if isinstance(h, torch.Tensor):
            s2 = torch.autograd.grad(h, xs, allow_unused=True)
            second = [np.zeros(a.shape) if s is None else s.numpy(force=True) for s, a in zip(s2, prog.leaves)]
    return ([s.detach().numpy() for s in sinks],
            [np.zeros(a.shape) if g is None else g.detach().numpy(force=True) for g, a in zip(grads, prog.leaves)],
            second)


def _compare_with_torch(prog: Program, seed: int, second_order: bool) -> None:
    ws = _projections(prog, seed)
    vs = [np.random.default_rng(seed + 1).standard_normal(a.shape) for a in prog.leaves] if second_order else None
    values, grads = _quiet(lambda: _ag_run(prog, ws))
    second = _quiet(lambda: _ag_second(prog, ws, vs)) if second_order else None
    t_values, t_grads, t_second = _quiet(lambda: _torch_run(prog, ws, vs))  # var over a size-0 axis warns
    for got, want in zip(values, t_values):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    for i, (g, want) in enumerate(zip(grads, t_grads)):
        _close(g, want, f"gradient of leaf {i}", 1e-8, 1e-10)
    for i, (s, want) in enumerate(zip(second or [], t_second or [])):
        _close(s, want, f"second derivative of leaf {i}", 1e-8, 1e-10)


def _compare_where_smooth(prog: Program, seed: int) -> None:
    """Without PyTorch: values against numpy; gradients and Hessian-vector products against float64 central
    differences wherever the program is differentiable (an entry whose differences are rough by more than the
    tolerance sits on a kink or jump, where only a convention decides: PyTorch's test). The leaves move off
    their boundary values by a random 1e-2 first: a derivative taken exactly at a kink is a convention that a
    function smooth around it (relu(x * x) at 0) need not share."""
    jitter = np.random.default_rng(seed + 2)
    prog = replace(prog, leaves=[np.asarray(a + 1e-2 * jitter.standard_normal(a.shape)) for a in prog.leaves])
    ws = _projections(prog, seed)
    vs = [np.random.default_rng(seed + 1).standard_normal(a.shape) for a in prog.leaves]
    values, grads = _quiet(lambda: _ag_run(prog, ws))
    for got, want in zip(values, _quiet(lambda: prog.run(NP, prog.leaves))):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)
    if not np.isfinite(_np_loss(prog, prog.leaves, ws)):
        return
    second = _quiet(lambda: _ag_second(prog, ws, vs))
    checks = [(grads, _fd(lambda ls: _np_loss(prog, ls, ws), prog.leaves, 1e-6), 1e-5, "gradient"),
              (second, _fd(_hvp_probe(prog, ws, vs), prog.leaves, 1e-5), 1e-4, "second derivative")]
    for got, fds, rtol, what in checks:
        for i, (g, (fd, rough)) in enumerate(zip(got, fds)):
            g = np.zeros_like(fd) if g is None else g
            smooth = np.isfinite(fd) & (rough <= rtol * max(1.0, float(np.max(np.abs(fd), initial=0.0))))
            _close(g[smooth], fd[smooth], f"{what} of leaf {i} (where smooth)", rtol)


@pytest.mark.parametrize("op", list(OPS))
@per_op
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_graph_matches_pytorch_to_second_order(op: str, data: Any, seed: int) -> None:
    """Every op, kinks and boundary values included: values, gradients and Hessian-vector products equal
    PyTorch's on the same graph (without PyTorch: numpy and finite differences wherever smooth)."""
    prog = data.draw(programs(list(OPS), op), label="program")
    if torch is None:
        _compare_where_smooth(prog, seed)
    else:
        _compare_with_torch(prog, seed, second_order=True)


NAN_OPS = [k for k in OPS if k not in NAN_KINKS | NAN_COMPOSITES | NAN_LAPACK]


@pytest.mark.parametrize("op", list(OPS))
@per_op
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_graph_nan_and_inf_follow_numpy_and_pytorch(op: str, data: Any, seed: int) -> None:
    """With nan/inf inputs the values are exactly numpy's (nan where numpy has nan), never silently finite,
    and every gradient is computed (finite, inf or nan) with the leaf's shape. Programs of the ops whose nan
    conventions agree with PyTorch's (NAN_OPS) also match PyTorch's nan/inf pattern in gradients, when present."""
    prog = data.draw(programs(NAN_OPS if op in NAN_OPS else list(OPS), op, special=True), label="program")
    ws = _projections(prog, seed)
    values, grads = _quiet(lambda: _ag_run(prog, ws))
    want = _quiet(lambda: prog.run(NP, prog.leaves))
    for got, ref in zip(values, want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, equal_nan=True)
    for g, a in zip(grads, prog.leaves):
        assert g is None or g.shape == a.shape
    if torch is not None and op in NAN_OPS:
        _compare_with_torch(prog, seed, second_order=False)


def test_programs_apply_their_op_and_have_3_to_12_steps() -> None:
    """The stratification itself: each program contains its op; step counts span 3..12."""
    counts = []

    @settings(max_examples=40, derandomize=True)
    @given(data=st.data())
    def check(data: Any) -> None:
        op = data.draw(st.sampled_from(list(OPS)))
        prog = data.draw(programs(list(OPS), op))
        assert op in [name for name, _, _ in prog.steps], prog
        counts.append(len(prog.steps))

    check()
    assert min(counts) >= 3 and max(counts) <= 12 + 6  # + flatten (sum, flatten), unsqueeze, two doublings


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
