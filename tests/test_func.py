"""``ag.func``: the function transforms against ``torch.func`` (float64, 1e-10) on every op of the table at first
and second order (PyTorch's answers: live when installed, else recorded, tests/_oracle.py), and against float64
finite differences; nesting, perturbation confusion, pytrees, has_aux, argnums and wrong-kind arguments."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import func
from tests._fd import grad_fd
from tests._oracle import oracle
from tests.test_boundaries import AG_, EDGES, TH_, _operands, torch

TOL = dict(rtol=1e-10, atol=1e-10)
# astype casts to float32, which 1e-10 cannot compare (ops with integer or bool outputs are found below).
NOT_DIFFERENTIABLE = {"astype"}
POSITIVE = {"log", "sqrt", "pow", "log2", "log10"}  # real only for positive operands
DOMAIN = {"asin": lambda x: 0.6 * x, "acos": lambda x: 0.6 * x, "atanh": lambda x: 0.6 * x,  # |x| < 1
          "acosh": lambda x: np.abs(x) + 1.0}                                                  # x > 1
# PyTorch 2.13's forward mode of scatter_reduce (amax + prod at [0.7, 1.2, 0.9], tangent [1, 2, 3]) gives
# [2, 2, 3]; its own jacrev times the tangent, and ours, [6.86, 4, 6]
TORCH_FORWARD_MODE_WRONG = {"scatter_reduce"}
FORWARD_MODE = {"jvp", "jacfwd", "jvp_of_grad", "hessian"}  # torch.func.hessian is jacfwd(jacrev)


def _inputs(name: str) -> list[np.ndarray]:
    """Float64 operands of the op's ordinary shapes, away from kinks, ties and zero."""
    rng = np.random.default_rng(sum(map(ord, name)))
    out = []
    for a in _operands(EDGES[name], "zero"):
        x = rng.uniform(0.5, 1.5, np.shape(a))
        x = x if name in POSITIVE else x * rng.choice([-1.0, 1.0], np.shape(a))
        out.append(DOMAIN[name](x) if name in DOMAIN else x)
    return out


def _float_valued(name: str) -> bool:
    """Whether the op gives floats on float64 operands (an integer or bool result has no derivative to take;
    bitwise ops refuse floats; an entry written for other operands, if one refuses these, is left out too)."""
    try:
        return ag.as_tensor(EDGES[name].fn(AG_, *[ag.tensor(x) for x in _inputs(name)])).dtype.kind == "f"
    except (TypeError, ValueError):
        return False


OP_NAMES = sorted(name for name in set(EDGES) - NOT_DIFFERENTIABLE if _float_valued(name))
assert {"exp", "matmul", "softmax", "conv2d"} <= set(OP_NAMES)


def _f64(lib: Any) -> Any:
    return np.float64 if lib is ag else torch.float64


def _weights(shape: tuple) -> np.ndarray:
    return np.cos(np.arange(int(np.prod(shape)))).reshape(shape)  # no accidental symmetry


def _functions(name: str, L: Any, lib: Any, shape: tuple) -> tuple:
    """The op as a function of its operands, and a smooth scalar of it (sin, so linear ops get curvature too)."""
    fn = EDGES[name].fn
    w = lib.tensor(_weights(shape), dtype=_f64(lib))
    return (lambda *xs: fn(L, *xs)), (lambda *xs: (L.sin(fn(L, *xs)) * w).sum())


def _run_all(F: Any, lib: Any, L: Any, name: str) -> dict:
    """Every transform of the op: F is ag.func or torch.func."""
    xs = [lib.tensor(x, dtype=_f64(lib)) for x in _inputs(name)]
    n = len(xs)
    nums = tuple(range(n))
    shape = tuple(EDGES[name].fn(AG_, *[ag.tensor(x) for x in _inputs(name)]).shape)
    f, s = _functions(name, L, lib, shape)
    w = lib.tensor(_weights(shape), dtype=_f64(lib))
    v = tuple(lib.tensor(np.sin(np.arange(x.numel() if lib is torch else x.size) + 1.0).reshape(tuple(x.shape)),
                         dtype=_f64(lib)) for x in xs)
    out = {
        "grad": F.grad(s, argnums=nums)(*xs),
        "vjp": F.vjp(f, *xs)[1](w),
        "jvp": F.jvp(f, tuple(xs), v)[1],
        "jacrev": F.jacrev(f, argnums=nums)(*xs),
        "jacfwd": F.jacfwd(f, argnums=nums)(*xs),
        "hessian": F.hessian(s, argnums=nums)(*xs),
        "grad_of_grad": F.grad(lambda *a: (F.grad(s, argnums=nums)(*a)[0] * v[0]).sum(), argnums=nums)(*xs),
        "jvp_of_grad": F.jvp(F.grad(s, argnums=nums), tuple(xs), v)[1],
    }
    return out


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(t.numpy() if isinstance(t, ag.Tensor) else t) for t in func.tree_flatten(tree)[0]]


def _assert_trees_close(got: Any, want: Any, **tol: Any) -> None:
    assert func.tree_flatten(got)[1] == func.tree_flatten(want)[1], "different structures"
    for g, w in zip(_leaves(got), _leaves(want)):
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, **(tol or TOL))


# ---- every op, both orders, against torch.func --------------------------------------------------------------
@pytest.mark.parametrize("name", OP_NAMES)
def test_every_transform_of_every_op_equals_torch_func(name: str) -> None:
    got = _run_all(func, ag, AG_, name)
    want = oracle(lambda: _run_all(torch.func, torch, TH_, name))
    for k in got:
        if k in FORWARD_MODE and name in TORCH_FORWARD_MODE_WRONG:
            continue  # ours is checked against finite differences below
        _assert_trees_close(got[k], want[k])


# ---- every op against finite differences (no PyTorch needed) --------------------------------------------------
@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_jacobians_and_hessian_match_finite_differences(name: str) -> None:
    xs = _inputs(name)
    f, s = _functions(name, AG_, ag, tuple(EDGES[name].fn(AG_, *[ag.tensor(b) for b in xs]).shape))
    for i, x in enumerate(xs):
        def at(g: Any, a: np.ndarray, i: int = i) -> np.ndarray:  # g of the operands, operand i replaced by a
            return g(*[ag.tensor(a if k == i else b) for k, b in enumerate(xs)]).numpy()

        rev = func.jacrev(f, argnums=i)(*[ag.tensor(b) for b in xs])
        np.testing.assert_allclose(rev.numpy(), grad_fd(lambda a: at(f, a), x), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(func.jacfwd(f, argnums=i)(*[ag.tensor(b) for b in xs]).numpy(), rev.numpy(), **TOL)
        hess = func.hessian(s, argnums=i)(*[ag.tensor(b) for b in xs])
        first = func.grad(s, argnums=i)
        numeric = grad_fd(lambda a, first=first: at(first, a), x)
        np.testing.assert_allclose(hess.numpy(), numeric, rtol=1e-6, atol=1e-7)


# ---- perturbation confusion: each transform differentiates only its own arguments -----------------------------
def _x(lib: Any, requires_grad: bool = False) -> Any:
    return lib.tensor([1.0, 2.0, 3.0], dtype=_f64(lib), requires_grad=requires_grad)


def test_the_same_tensor_passed_twice_is_two_variables() -> None:
    x = _x(ag, requires_grad=True)  # requiring grad or not: the transform's own variables are fresh either way
    for t in (x, x.detach()):
        gx, gy = ag.grad(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(t, t)
        np.testing.assert_array_equal(gx.numpy(), 2 * t.numpy() ** 2)  # d/da a^2 b = 2ab
        np.testing.assert_array_equal(gy.numpy(), t.numpy() ** 2)      # d/db a^2 b = a^2
        (g,) = func.vjp(lambda a, b: a * b, t, t)[1](ag.ones_like(t))[:1]
        np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_a_closed_over_argument_is_a_constant() -> None:
    x = _x(ag, requires_grad=True)
    np.testing.assert_array_equal(ag.grad(lambda y: (x * y).sum())(x).numpy(), x.numpy())  # x, not 2x
    np.testing.assert_array_equal(func.jacrev(lambda y: x * y)(x).numpy(), np.diag(x.numpy()))
    np.testing.assert_array_equal(func.jacfwd(lambda y: x * y)(x).numpy(), np.diag(x.numpy()))
    np.testing.assert_array_equal(func.jvp(lambda y: x * y, (x,), (ag.ones_like(x),))[1].numpy(), x.numpy())


def test_nested_grad_of_a_closure_is_one_as_torch_func() -> None:
    x = _x(ag)
    got = ag.grad(lambda x: ag.grad(lambda y: (x * y).sum())(x).sum())(x)
    np.testing.assert_array_equal(got.numpy(), [1.0, 1.0, 1.0])
    # the classic form: d/dx [x * d/dy (x + y)] at y = 1 is 1 (a confused inner derivative gives 2)
    one = ag.tensor(1.0, dtype=np.float64)
    got = ag.grad(lambda x: (x * ag.grad(lambda y: (x + y).sum())(one)).sum())(ag.tensor(2.0, dtype=np.float64))
    assert got.item() == 1.0


@pytest.mark.parametrize("case", ["closure", "same_twice", "nested_closure", "jvp_closure", "vjp_inside_grad",
                                  "three_deep_closure", "closure_requires_grad", "vjp_fn_of_cotangent",
                                  "grad_wrt_tangent"])
def test_perturbation_cases_equal_torch_func(case: str) -> None:
    def run(F: Any, lib: Any) -> Any:
        x = _x(lib, requires_grad=case == "closure_requires_grad")
        one = lib.ones(3, dtype=_f64(lib))
        if case == "closure":
            return F.grad(lambda y: (x * y).sin().sum())(x)
        if case == "same_twice":
            return F.grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(x, x)
        if case == "nested_closure":
            return F.grad(lambda a: F.grad(lambda b: (a * b).exp().sum())(a).sum())(x)
        if case == "jvp_closure":
            return F.jvp(lambda a: a * F.jvp(lambda b: (a * b).sin(), (a,), (one,))[1], (x,), (one,))
        if case == "vjp_inside_grad":
            return F.grad(lambda a: (F.vjp(lambda b: a * b * b, a)[1](one)[0] * a).sum())(x)
        if case == "vjp_fn_of_cotangent":  # vjp_fn called inside a transform that differentiates the cotangent
            vjp_fn = F.vjp(lambda a: a.sin() * a, x)[1]
            return F.jacrev(lambda c: vjp_fn(c)[0] * c)(one * 0.5)
        if case == "grad_wrt_tangent":  # J v is linear in v: its gradient in v is J^T 1, through the double VJP
            return F.grad(lambda t: (F.jvp(lambda a: a.sin() * a.sum(), (x,), (t,))[1] * x).sum())(one * 0.5)
        if case == "three_deep_closure":
            return F.grad(lambda a: F.grad(lambda b: F.grad(lambda c: (a * b * c).sin().sum())(b).sum())(a).sum())(x)
        g = F.grad(lambda y: (x * y * y).sum())(x)  # 2 x^2: differentiable in x by the caller's graph
        g.sum().backward()
        return g, x.grad

    _assert_trees_close(run(func, ag), oracle(lambda: run(torch.func, torch)))


# ---- nesting three deep ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("combo", ["grad3", "rev_fwd_rev", "fwd_fwd_rev", "hessian_of_grad", "jvp_hvp"])
def test_three_deep_equals_torch_func(combo: str) -> None:
    def run(F: Any, lib: Any) -> Any:
        x = lib.tensor([0.3, -0.7, 1.1], dtype=_f64(lib))
        W = lib.tensor(np.arange(6.0).reshape(3, 2) / 7 - 0.3, dtype=_f64(lib))

        def f(x):
            return (x @ W).tanh() * x[:2].sin()

        def s(x):
            return f(x).sum() * x.exp().sum()

        if combo == "grad3":
            return F.grad(lambda a: F.grad(lambda b: F.grad(s)(b).sin().sum())(a).sum())(x)
        if combo == "rev_fwd_rev":
            return F.jacrev(F.jacfwd(F.jacrev(f)))(x)
        if combo == "fwd_fwd_rev":
            return F.jacfwd(F.jacfwd(F.jacrev(s)))(x)
        if combo == "hessian_of_grad":
            return F.hessian(lambda a: F.grad(s)(a).sum())(x)
        v = lib.tensor([1.0, 0.5, -2.0], dtype=_f64(lib))
        return F.jvp(lambda a: F.jvp(F.grad(s), (a,), (v,))[1], (x,), (v,))

    _assert_trees_close(run(func, ag), oracle(lambda: run(torch.func, torch)))


def test_third_derivative_matches_finite_differences() -> None:
    def s(t):
        return (t.sin() * t * t).sum()

    x = np.array([0.3, -0.7, 1.1])
    third = func.jacrev(func.hessian(s))(ag.tensor(x))
    numeric = grad_fd(lambda a: func.hessian(s)(ag.tensor(a)).numpy(), x)
    np.testing.assert_allclose(third.numpy(), numeric, rtol=1e-6, atol=1e-7)
    d3 = ag.grad(lambda a: ag.grad(lambda b: ag.grad(s)(b).sum())(a).sum())(ag.tensor(x))
    np.testing.assert_allclose(d3.numpy(), third.numpy().sum(axis=(1, 2)), **TOL)


# ---- pytrees --------------------------------------------------------------------------------------------------
Pair = namedtuple("Pair", "a b")


def _params(lib: Any) -> dict:
    t = lambda v: lib.tensor(np.asarray(v, dtype=np.float64))  # noqa: E731
    return {"w": t([[0.5, -1.0], [2.0, 0.3]]), "layers": [t([0.1, 0.2]), (t(-0.4),)]}


def _net(p: dict, x: Any) -> Any:
    h = (x @ p["w"]).tanh() + p["layers"][0]
    return {"out": (h * p["layers"][1][0]).sum(), "h": [h.sin()]}


@pytest.mark.parametrize("transform", ["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian"])
def test_pytrees_equal_torch_func(transform: str) -> None:
    def run(F: Any, lib: Any) -> Any:
        p, x = _params(lib), lib.tensor([1.0, -2.0], dtype=_f64(lib))
        loss = lambda p, x: _net(p, x)["out"]  # noqa: E731
        if transform == "grad":
            return F.grad(loss, argnums=(0, 1))(p, x)
        if transform == "vjp":
            out, fn = F.vjp(_net, p, x)
            return out, fn({"out": lib.tensor(1.5, dtype=_f64(lib)), "h": [lib.ones(2, dtype=_f64(lib))]})
        if transform == "jvp":
            tangents = (F.grad(loss)(p, x), lib.tensor([0.5, 1.0], dtype=_f64(lib)))
            return F.jvp(_net, (p, x), tangents)
        if transform == "hessian":
            return F.hessian(loss)(p, x)
        return getattr(F, transform)(_net, argnums=(0, 1))(p, x)

    _assert_trees_close(run(func, ag), oracle(lambda: run(torch.func, torch)))


def test_pytree_structures_round_trip() -> None:
    tree = {"a": [1, (2, 3)], "b": Pair(4, {"c": 5})}
    leaves, structure = func.tree_flatten(tree)
    assert leaves == [1, 2, 3, 4, 5]
    assert func.tree_unflatten([10, 20, 30, 40, 50], structure) == {"a": [10, (20, 30)], "b": Pair(40, {"c": 50})}
    g = ag.grad(lambda p: p.a.sum() * p.b["c"].sum())(Pair(ag.tensor([1.0, 2.0]), {"c": ag.tensor(3.0)}))
    assert type(g) is Pair and g.a.tolist() == [3.0, 3.0] and g.b["c"].item() == 3.0


# ---- has_aux and argnums --------------------------------------------------------------------------------------
def test_has_aux_equals_torch_func() -> None:
    def run(F: Any, lib: Any) -> Any:
        x, y = _x(lib), lib.tensor([0.5, -1.0, 2.0], dtype=_f64(lib))

        def f(a, b):
            out = (a * b).sin()
            return out, {"norm": out.sum()}

        def s(a, b):
            return f(a, b)[0].sum(), f(a, b)[1]

        return (F.grad(s, argnums=1, has_aux=True)(x, y), F.grad_and_value(s, argnums=(0, 1), has_aux=True)(x, y),
                F.grad_and_value(lambda a: (a * a).sum())(x), F.vjp(f, x, y, has_aux=True)[::2],
                F.vjp(f, x, y, has_aux=True)[1](lib.ones(3, dtype=_f64(lib))), F.jvp(f, (x, y), (y, x), has_aux=True),
                F.jacrev(f, has_aux=True)(x, y), F.jacfwd(f, argnums=(0, 1), has_aux=True)(x, y))

    _assert_trees_close(run(func, ag), oracle(lambda: run(torch.func, torch)))


def test_value_and_grad_has_aux_and_negative_argnums() -> None:
    x, y = ag.tensor([1.0, 2.0]), ag.tensor([3.0, 4.0])
    (value, (aux, n)), g = ag.value_and_grad(lambda a, b: ((a * b).sum(), (b * 2, 3)), argnums=-1,
                                             has_aux=True)(x, y)
    assert value.item() == 11.0 and aux.tolist() == [6.0, 8.0] and n == 3 and g.tolist() == [1.0, 2.0]
    assert not value.requires_grad and not aux.requires_grad and not g.requires_grad  # nothing outside: plain


# ---- grad mode and the caller's graph -------------------------------------------------------------------------
def test_results_are_plain_values_unless_the_caller_can_differentiate_them() -> None:
    x = _x(ag)
    assert not func.jacrev(lambda a: a.sin())(x).requires_grad  # as torch.func: no graph left behind
    w = _x(ag, requires_grad=True)
    j = func.jacrev(lambda a: a.sin() * w)(x)  # w is the caller's: the Jacobian is differentiable in it
    j.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.cos(x.numpy()), **TOL)
    with ag.no_grad():
        j = func.jacrev(lambda a: a.sin() * w)(x)
        h = func.hessian(lambda a: (a.sin() * w).sum())(x)
    assert not j.requires_grad and not h.requires_grad
    np.testing.assert_allclose(np.diag(h.numpy()), -np.sin(x.numpy()) * w.numpy(), **TOL)


def test_a_closed_over_graph_survives_a_transform() -> None:
    """The transform's backward runs only behind its own variables: a closed-over tensor's graph is neither
    computed nor freed, even without create_graph (under no_grad)."""
    w = _x(ag, requires_grad=True)
    h = w * w
    with ag.no_grad():
        ag.grad(lambda x: (x * h).sum())(_x(ag))
    ag.grad_of((_x(ag, requires_grad=True) * h).sum(), [ag.tensor(0.0, requires_grad=True)], allow_unused=True)
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2 * w.numpy())


def test_float32_and_plain_arrays() -> None:
    g = func.jacrev(lambda a: a * a)(np.array([1.0, 2.0], dtype=np.float32))
    assert g.dtype == np.float32 and g.tolist() == [[2.0, 0.0], [0.0, 4.0]]
    assert func.hessian(lambda a: (a ** 3).sum())(2.0).dtype == np.float32  # a Python float: the default dtype


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (1,)])
def test_0d_and_size_0_shapes_equal_torch_func(shape: tuple) -> None:
    def run(F: Any, lib: Any) -> Any:
        x = lib.tensor(np.linspace(0.2, 0.9, int(np.prod(shape))).reshape(shape), dtype=_f64(lib))
        f = lambda a: a.sin() * a  # noqa: E731
        return (F.jacrev(f)(x), F.jacfwd(f)(x), F.hessian(lambda a: a.sin().sum())(x),
                F.jvp(f, (x,), (x,)), F.vjp(lambda a: a.exp(), x)[1](x))

    _assert_trees_close(run(func, ag), oracle(lambda: run(torch.func, torch)))


def test_hvp_equals_torch() -> None:
    x = np.array([0.3, -0.7, 1.1])
    v = np.array([1.0, 2.0, -0.5])
    s = lambda a: (a.sin() * a * a).sum()  # noqa: E731
    value, (hv,) = func.hvp(s, (ag.tensor(x),), (ag.tensor(v),))
    t_value, t_hv = oracle(lambda: torch.autograd.functional.hvp(s, torch.tensor(x), torch.tensor(v)))
    np.testing.assert_allclose(value.item(), t_value, **TOL)
    np.testing.assert_allclose(hv.numpy(), t_hv, **TOL)
    assert not hv.requires_grad


def test_hvp_is_the_hessian_times_the_tangent() -> None:
    x, v = ag.tensor([0.3, -0.7, 1.1], dtype=np.float64), ag.tensor([1.0, 2.0, -0.5], dtype=np.float64)
    s = lambda a, b: (a.sin() * b * b).sum()  # noqa: E731
    _, (ha, hb) = func.hvp(s, (x, x), (v, v))
    ((h00, h01), (h10, h11)) = func.hessian(s, argnums=(0, 1))(x, x)
    np.testing.assert_allclose(ha.numpy(), h00.numpy() @ v.numpy() + h01.numpy() @ v.numpy(), **TOL)
    np.testing.assert_allclose(hb.numpy(), h10.numpy() @ v.numpy() + h11.numpy() @ v.numpy(), **TOL)


# ---- wrong-kind arguments: clear errors -----------------------------------------------------------------------
def _errors() -> list:
    x = ag.tensor([1.0, 2.0])
    sq = lambda a: a * a  # noqa: E731
    return [
        (lambda: func.jacrev(3), TypeError, r"jacrev: f must be a function, got int"),
        (lambda: func.vjp("f", x), TypeError, r"vjp: f must be a function, got str"),
        (lambda: func.hessian(None), TypeError, r"hessian: f must be a function"),
        (lambda: func.jacfwd(sq, argnums=1.0), TypeError, r"jacfwd: argnums must be an int or a tuple of ints"),
        (lambda: func.grad(sq, argnums=()), ValueError, r"grad: argnums is empty"),
        (lambda: func.grad(sq, argnums=(0, -2))(x, x), ValueError, r"grad: argnums \(0, -2\) names an argument twice"),
        (lambda: func.jacrev(sq, argnums=2)(x), ValueError, r"jacrev: argnums 2 is out of range for 1 positional"),
        (lambda: func.grad(lambda a: a.sum())("x"), TypeError, r"grad: argument 0 is a str; expected a Tensor"),
        (lambda: func.grad(lambda p: p["a"].sum())({"a": None}), TypeError, r"grad: argument 0\['a'\] is a NoneType"),
        (lambda: func.jacrev(sq)(ag.tensor([1, 2])), TypeError,
         r"jacrev: argument 0 has dtype int64; only floating-point tensors can be differentiated"),
        (lambda: func.grad(sq)(x), TypeError,
         r"grad: f must return a single-element Tensor, got Tensor of shape \(2,\)"),
        (lambda: func.jacrev(lambda a: [a, 3])(x), TypeError, r"jacrev: f must return a Tensor or a tuple, list or "
                                                               r"dict of Tensors; its output\[1\] is a int"),
        (lambda: func.jacfwd(lambda a: (a > 0))(x), TypeError, r"jacfwd: output of f has dtype bool"),
        (lambda: func.grad(lambda a: a.sum(), has_aux=True)(x), TypeError,
         r"grad: with has_aux=True, f must return a pair \(output, aux\), got Tensor"),
        (lambda: func.jvp(sq, x, (x,)), TypeError, r"jvp: primals must be a tuple .*write \(x,\) for one"),
        (lambda: func.jvp(sq, (x,), [x]), TypeError, r"jvp: tangents must be a tuple"),
        (lambda: func.jvp(sq, (x,), (x, x)), ValueError,
         r"jvp: tangents must have the structure \(\*,\), got \(\*, \*\)"),
        (lambda: func.jvp(sq, (x,), (ag.ones(3),)), ValueError,
         r"jvp: tangents\[0\] has shape \(3,\), expected \(2,\)"),
        (lambda: func.vjp(sq, x)[1]((x,)), ValueError, r"vjp: cotangents must have the structure \*, got \(\*,\)"),
        (lambda: func.vjp(sq, x)[1](ag.ones(3)), ValueError, r"vjp: cotangents has shape \(3,\), expected \(2,\)"),
        (lambda: func.hvp(lambda a: a.sum(), x, (x,)), TypeError, r"hvp: primals must be a tuple"),
        (lambda: func.hvp(lambda: x.sum(), (), ()), ValueError, r"hvp: primals is empty"),
        # dict keys in another order would pair each cotangent with the wrong output: refused, as in torch
        (lambda: func.vjp(lambda a: {"p": a, "q": a * 2}, x)[1]({"q": x, "p": x}), ValueError,
         r"vjp: cotangents must have the structure \{'p': \*, 'q': \*\}, got \{'q': \*, 'p': \*\}"),
        (lambda: func.jvp(sq, ([x],), ((x,),)), ValueError, r"jvp: tangents must have the structure \(\[\*\],\)"),
    ]


@pytest.mark.parametrize("i", range(len(_errors())))
def test_wrong_kind_arguments_raise_clearly(i: int) -> None:
    call, kind, message = _errors()[i]
    with pytest.raises(kind, match=message):
        call()


def test_ag_grad_is_the_transform() -> None:
    assert ag.grad is func.grad and ag.value_and_grad is func.value_and_grad and func.jacobian is func.jacfwd


# ---- docs/core.md's example: the Hessian of the XOR article's loss -------------------------------------------
def _run_snippet(doc: str, marker: str) -> tuple[str, dict]:
    """Execute the python block of ``doc`` (a path from the repository root) that contains ``marker``."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / doc).read_text(encoding="utf-8")
    snippet = next(b for b in text.split("```python\n") if marker in b).split("```")[0]
    scope: dict = {}
    exec(compile(snippet, doc, "exec"), scope)
    return snippet, scope


def test_readme_func_snippet_runs() -> None:
    _, scope = _run_snippet("README.md", "from autograd_mini import func")
    assert scope["func"] is func


def _xor_example() -> dict:
    snippet, scope = _run_snippet("docs/core.md", "ag.func.hessian(loss")
    scope["shown"] = [float(v) for v in snippet.split("# [")[1].split("]")[0].split()]
    return scope


def test_docs_xor_hessian_is_what_the_docs_show_and_matches_finite_differences() -> None:
    ex = _xor_example()
    np.testing.assert_allclose(np.linalg.eigvalsh(ex["H"]), ex["shown"], atol=5e-6)
    w = np.concatenate([ex["W1"].numpy().ravel(), ex["W2"].numpy().ravel()])

    def gradient(v: np.ndarray) -> np.ndarray:
        g1, g2 = ag.grad(ex["loss"], argnums=(0, 1))(ag.tensor(v[:6].reshape(2, 3)), ag.tensor(v[6:].reshape(3, 2)))
        return np.concatenate([g1.numpy().ravel(), g2.numpy().ravel()])

    np.testing.assert_allclose(ex["H"], grad_fd(gradient, w), rtol=1e-6, atol=1e-9)
    hv = np.concatenate([ex["hv1"].numpy().ravel(), ex["hv2"].numpy().ravel()])
    np.testing.assert_allclose(hv, ex["H"] @ np.r_[np.ones(6), np.zeros(6)], **TOL)


def test_docs_xor_hessian_equals_torch_func() -> None:
    ex = _xor_example()

    def hessian() -> Any:
        X, Y = torch.tensor(ex["X"]), torch.tensor(ex["Y"], dtype=torch.float64)

        def loss(W1, W2):
            h2 = torch.sigmoid(torch.sigmoid(X @ W1) @ W2)
            return ((Y - h2) ** 2).sum() / 600 + 1e-4 * ((W1 ** 2).sum() + (W2 ** 2).sum()) / 600

        return torch.func.hessian(loss, argnums=(0, 1))(torch.tensor(ex["W1"].numpy()), torch.tensor(ex["W2"].numpy()))

    want = oracle(hessian)
    _assert_trees_close(((ex["H11"], ex["H12"]), (ex["H21"], ex["H22"])), want)


def test_keyword_arguments_pass_through_and_views_are_separate_variables() -> None:
    x = ag.tensor([1.0, 2.0, 3.0], dtype=np.float64)
    g = func.grad(lambda a, scale: (a * a).sum() * scale)(x, scale=ag.tensor(3.0, dtype=np.float64))
    np.testing.assert_array_equal(g.numpy(), 6 * x.numpy())
    ga, gb = func.grad(lambda a, b: (a[:2] * b).sum(), argnums=(0, 1))(x, x[1:])  # b is a view of x's memory
    np.testing.assert_array_equal(ga.numpy(), [2.0, 3.0, 0.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0])


# ---- forward mode through nn's fused Functions, and through a custom op that cannot give it -------------------
def _fused() -> dict:
    import nn

    F = nn.functional
    y = np.array([0, 2])
    w, b = ag.tensor(np.array([0.5, -1.0, 2.0])), ag.tensor(np.array([0.1, 0.0, -0.3]))
    return {
        "cross_entropy": lambda a: F.cross_entropy(a, y),
        "binary_cross_entropy": lambda a: F.binary_cross_entropy(a.sigmoid(), np.array([[1.0, 0, 1], [0, 1, 0]])),
        "bce_with_logits": lambda a: F.binary_cross_entropy_with_logits(a, np.array([[1.0, 0, 1], [0, 1, 0]])),
        "layer_norm": lambda a: F.layer_norm(a, (3,), w, b),
        "gelu": lambda a: F.gelu(a),
    }


@pytest.mark.parametrize("name", sorted(_fused()))
def test_jvp_and_hessian_through_nn_functions_match_finite_differences(name: str) -> None:
    f = _fused()[name]
    x = np.array([[0.3, -1.2, 0.8], [1.5, 0.2, -0.4]])
    v = np.array([[1.0, 0.5, -2.0], [0.3, -0.7, 1.1]])
    _, jv = func.jvp(f, (ag.tensor(x),), (ag.tensor(v),))
    eps = 1e-6
    numeric = (f(ag.tensor(x + eps * v)).numpy() - f(ag.tensor(x - eps * v)).numpy()) / (2 * eps)
    np.testing.assert_allclose(jv.numpy(), numeric, rtol=1e-6, atol=1e-8)
    s = lambda a: (f(a) * ag.tensor(_weights(f(ag.tensor(x)).shape))).sum()  # noqa: E731
    np.testing.assert_allclose(func.hessian(s)(ag.tensor(x)).numpy(),
                               grad_fd(lambda a: func.grad(s)(ag.tensor(a)).numpy(), x), rtol=1e-6, atol=1e-7)


class _NumpyExp(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.exp(x)  # numpy on the saved value: exact first derivatives only


def test_forward_mode_through_a_first_order_only_custom_op_raises_naming_it() -> None:
    x = ag.tensor([1.0, 2.0], dtype=np.float64)
    np.testing.assert_allclose(func.jacrev(_NumpyExp.apply)(x).numpy(), np.diag(np.exp([1.0, 2.0])), **TOL)
    for call in (lambda: func.jvp(_NumpyExp.apply, (x,), (x,)), lambda: func.jacfwd(_NumpyExp.apply)(x)):
        with pytest.raises((RuntimeError, TypeError)) as e:
            call()  # never a silent zero: the VJP it returns is not recorded as a function of the cotangent
        assert "_NumpyExp" in str(e.value) + " ".join(getattr(e.value, "__notes__", []))


def test_returned_gradients_never_share_memory() -> None:
    """grad_of copies a gradient array only when it could alias another (a pass-through derivative returns the same
    array for two inputs; a broadcast returns a read-only view): every result is the caller's own, writable array."""
    x, y = ag.tensor([1.0, 2.0], requires_grad=True), ag.tensor([3.0, 4.0], requires_grad=True)
    v = np.array([1.0, -1.0])
    for out, inputs, seed in (((x + y), [x, y, x], v), (x.sum(), [x], None), ((x * 1.0), [x], v)):
        gs = [g.numpy() for g in ag.grad_of(out, inputs, seed)]
        for i, a in enumerate(gs):
            assert a.flags.writeable and not np.shares_memory(a, v)
            assert not any(np.shares_memory(a, b) for b in gs[i + 1:])
    gx, gy = ag.grad(lambda a, b: (a + b).sum(), argnums=(0, 1))(x.detach(), x.detach())
    assert not np.shares_memory(gx.numpy(), gy.numpy())


@pytest.mark.parametrize("name", ["sin", "abs", "square", "matmul"])
def test_negative_zeros_in_jacobians_are_ieee_and_pytorchs(name: str) -> None:
    # An exact zero of a Jacobian prints as -0. where a zero tangent (jacfwd, = jacobian) or cotangent (jacrev)
    # component meets a negative local derivative: 0 * cos(2) is -0 in IEEE arithmetic. torch.func has the same
    # -0s in the same places (jacfwd's in rows, jacrev's in columns), so the numbers are left alone.
    m = np.arange(-10.0, 15.0).reshape(5, 5)
    fns = {"sin": lambda L, x: L.sin(x), "abs": lambda L, x: L.abs(x), "square": lambda L, x: x * x,
           "matmul": lambda L, x: (ag.tensor(m) if L is ag else torch.tensor(m)) @ x}
    f, x = fns[name], np.array([-2.0, -0.0, 0.0, 1.5, 3.0])

    def negative_zeros(jac: Any, L: Any, wrap: Any) -> list:
        out = np.asarray(jac(lambda t: f(L, t))(wrap(x)))
        return np.argwhere((out == 0) & np.signbit(out)).tolist()

    for kind in ("jacfwd", "jacrev"):
        ours = negative_zeros(getattr(func, kind), ag, ag.tensor)
        assert ours == oracle(lambda kind=kind: negative_zeros(getattr(torch.func, kind), torch, torch.tensor),
                              key=kind), kind
    assert negative_zeros(func.jacobian, ag, ag.tensor) == negative_zeros(func.jacfwd, ag, ag.tensor)
