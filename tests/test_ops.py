"""Every op's forward against numpy and its derivative against finite differences (float64),
on hypothesis-drawn shapes (0-d, size-1, broadcast pairs), axes and values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import testing
from tests._fd import check_grads, numeric_grads

SHAPES = testing.shapes(min_dims=0, max_dims=3, max_side=4)  # includes 0-d and size-1 axes


def floats(lo=-3.0, hi=3.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


def arrays(shape, lo=-3.0, hi=3.0):
    return testing.tensors(shape, np.float64, elements=floats(lo, hi)).map(np.asarray)


def away_from(x, points, gap=1e-3):
    return all(np.all(np.abs(x - p) > gap) for p in points)


def distinct(x, gap=1e-3):
    v = np.sort(x.ravel())
    return v.size < 2 or np.min(np.diff(v)) > gap


# name -> (function, value range, kinks to keep away from)
UNARY = {
    "neg": (lambda x: -x, (-3, 3), ()),
    "exp": (ag.exp, (-3, 3), ()),
    "log": (ag.log, (0.1, 5), ()),
    "sqrt": (ag.sqrt, (0.1, 5), ()),
    "abs": (ag.abs, (-3, 3), (0,)),
    "sin": (ag.sin, (-3, 3), ()),
    "cos": (ag.cos, (-3, 3), ()),
    "tanh": (ag.tanh, (-3, 3), ()),
    "sigmoid": (ag.sigmoid, (-6, 6), ()),
    "relu": (ag.relu, (-3, 3), (0,)),
    "clip": (lambda x: ag.clip(x, -0.5, 1.0), (-3, 3), (-0.5, 1.0)),
    "pow2": (lambda x: x**2, (-3, 3), ()),
    "pow3": (lambda x: x**3, (-3, 3), ()),
    "pow_half": (lambda x: x**0.5, (0.1, 5), ()),
    "rpow": (lambda x: 2.0**x, (-3, 3), ()),
    "rsub": (lambda x: 1.0 - x, (-3, 3), ()),
    "rdiv": (lambda x: 1.0 / x, (0.2, 3), ()),
    "erf": (ag.erf, (-4, 4), ()),
}

NUMPY_UNARY = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
    "clip": lambda x: np.clip(x, -0.5, 1.0), "pow2": np.square, "pow3": lambda x: x**3, "pow_half": np.sqrt,
    "rpow": lambda x: 2.0**x, "rsub": lambda x: 1.0 - x, "rdiv": lambda x: 1.0 / x,
    "erf": np.vectorize(math.erf, otypes=[float]),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, (lo, hi), kinks = UNARY[name]
    x = data.draw(arrays(data.draw(SHAPES), lo, hi))
    assume(away_from(x, kinks))
    out = fn(ag.tensor(x))
    if name in NUMPY_UNARY:
        np.testing.assert_allclose(np.asarray(out), NUMPY_UNARY[name](x), rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64
    check_grads(fn, [x], np.random.default_rng(0))


BINARY = {
    "add": (lambda a, b: a + b, np.add, (-3, 3), (-3, 3)),
    "sub": (lambda a, b: a - b, np.subtract, (-3, 3), (-3, 3)),
    "mul": (lambda a, b: a * b, np.multiply, (-3, 3), (-3, 3)),
    "div": (lambda a, b: a / b, np.divide, (-3, 3), (0.3, 3)),
    "pow": (lambda a, b: a**b, np.power, (0.3, 3), (-2, 2)),
    "maximum": (ag.maximum, np.maximum, (-3, 3), (-3, 3)),
    "minimum": (ag.minimum, np.minimum, (-3, 3), (-3, 3)),
    "where": (lambda a, b: ag.where(a > 0.1, a, b), None, (-3, 3), (-3, 3)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcasting(name, data):
    fn, ref, ra, rb = BINARY[name]
    shape_a, shape_b = data.draw(testing.broadcastable_shapes(2, max_side=3))
    result_shape = np.broadcast_shapes(shape_a, shape_b)
    a = data.draw(arrays(shape_a, *ra))
    b = data.draw(arrays(shape_b, *rb))
    if name in ("maximum", "minimum", "where"):
        assume(away_from(np.broadcast_to(a, result_shape) - b, (0,)) and away_from(a, (0.1,)))
    out = fn(ag.tensor(a), ag.tensor(b))
    assert out.shape == result_shape
    if ref is not None:
        np.testing.assert_allclose(np.asarray(out), ref(a, b), rtol=1e-12)
    check_grads(fn, [a, b], np.random.default_rng(1))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std", "logsumexp", "prod"])
@given(data=st.data())
def test_reductions(name, data):
    shape = data.draw(SHAPES)
    x = data.draw(arrays(shape))
    axis = data.draw(testing.axes(len(shape)))
    keepdims = data.draw(st.booleans())
    if name in ("max", "min"):
        assume(distinct(x))
    if name == "std":
        assume(np.all(np.var(x, axis=axis) > 1e-3))
    fn = lambda t: getattr(ag, name)(t, axis=axis, keepdims=keepdims)  # noqa: E731
    def ref(a, axis, keepdims):
        if name == "logsumexp":
            return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))
        return getattr(np, name)(a, axis=axis, keepdims=keepdims)

    np.testing.assert_allclose(np.asarray(fn(ag.tensor(x))), ref(x, axis=axis, keepdims=keepdims), rtol=1e-10,
                               atol=1e-12)
    check_grads(fn, [x], np.random.default_rng(2))


@given(data=st.data())
def test_max_ties_share_gradient(data):
    n = data.draw(st.integers(1, 5))
    x = ag.tensor(np.full(n, 2.0), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(np.asarray(x.grad), np.full(n, 1.0 / n))


def test_kink_conventions():
    x = ag.tensor([0.0, 0.0, 0.0, 1.0], requires_grad=True)
    (ag.relu(x) + ag.abs(x)).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [0, 0, 0, 2])
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([1.0, 3.0], requires_grad=True)
    ag.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(np.asarray(a.grad), [0.5, 0])
    np.testing.assert_array_equal(np.asarray(b.grad), [0.5, 1])
    c = ag.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    ag.clip(c, 0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(np.asarray(c.grad), [0, 1, 1])


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family(fn, data):
    shape = data.draw(testing.shapes(min_dims=1, max_dims=3))
    x = data.draw(arrays(shape))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    f = lambda t: getattr(ag, fn)(t, axis=axis)  # noqa: E731
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    sm = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(np.asarray(f(ag.tensor(x))), sm if fn == "softmax" else np.log(sm), rtol=1e-10,
                               atol=1e-12)
    check_grads(f, [x], np.random.default_rng(3))


def _stable_refs(x):
    """float64 values and gradients of sum(f(x)**2) for the stable ops, in closed form."""
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    lse = x.max(-1) + np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1))
    ls = x - lse[:, None]
    s = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    t = np.tanh(x)
    return {"softmax": (p, p * (2 * p - (2 * p * p).sum(-1, keepdims=True))),
            "log_softmax": (ls, 2 * ls - p * (2 * ls).sum(-1, keepdims=True)),
            "logsumexp": (lse, 2 * lse[:, None] * p), "sigmoid": (s, 2 * s * s * (1 - s)),
            "tanh": (t, 2 * t * (1 - t * t))}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_stable_at_1e4(dtype):
    a = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1.0, 2.0, -3.0]])
    refs = _stable_refs(a)
    x = ag.tensor(a.astype(dtype), requires_grad=True)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for name, f in (("softmax", ag.softmax), ("log_softmax", ag.log_softmax),
                    ("logsumexp", lambda t: ag.logsumexp(t, axis=-1)), ("sigmoid", ag.sigmoid), ("tanh", ag.tanh)):
        y = f(x)
        (y * y).sum().backward()
        assert y.dtype == dtype and x.grad.dtype == dtype
        value, grad = refs[name]
        np.testing.assert_allclose(np.asarray(y), value, **tol, err_msg=name)
        atol = tol["atol"] * max(1, np.abs(grad).max())
        np.testing.assert_allclose(np.asarray(x.grad), grad, rtol=tol["rtol"], atol=atol, err_msg=name)
        x.grad = None


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((4,), (2, 4, 3)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(np.asarray(ag.tensor(a) @ ag.tensor(b)), a @ b, rtol=1e-12)
    check_grads(lambda x, y: x @ y, [a, b], rng)


SHAPE_OPS = {
    "reshape": lambda t: t.reshape(-1),
    "reshape2": lambda t: t.reshape((t.size, 1)),
    "transpose": lambda t: t.transpose(),
    "T": lambda t: t.T,
    "flatten": lambda t: t.flatten(),
    "expand_dims": lambda t: t.expand_dims(0),
    "expand_dims_last": lambda t: ag.expand_dims(t, -1),
    "squeeze": lambda t: t.reshape((1,) + t.shape).squeeze(0),
    "broadcast_to": lambda t: t.broadcast_to((2,) + t.shape),
    "index_basic": lambda t: t[..., :1],
    "index_none": lambda t: t[None],
    "index_int_array": lambda t: t.reshape(-1)[np.array([0, 0, t.size - 1, 0])],
    "index_mask": lambda t: t[np.asarray(t) > 0],
    "concatenate": lambda t: ag.concatenate([t.reshape(-1), t.reshape(-1) * 2.0]),
    "stack": lambda t: ag.stack([t, t * 3.0], axis=-1),
    "split": lambda t: ag.split(t.reshape(-1), [1])[1] * 2.0,
    "swapaxes": lambda t: t.reshape((1, -1)).swapaxes(0, 1),
    "cumsum": lambda t: t.cumsum(-1),
    "cumsum_flat": lambda t: ag.cumsum(t),
    "tile": lambda t: t.tile((2, 1)),
    "repeat": lambda t: t.repeat_interleave(2, dim=0),
    "repeat_torch": lambda t: t.repeat(2, *(1,) * t.ndim),
    "view": lambda t: t.view(-1, 1),
    "permute": lambda t: t.permute(*reversed(range(t.ndim))),
    "unsqueeze": lambda t: t.unsqueeze(-1),
    "expand": lambda t: t.expand(2, *(-1,) * t.ndim),
    "flatten_range": lambda t: t.reshape((1,) + t.shape + (1,)).flatten(1, -2),
    "mT": lambda t: t.reshape((1,) + t.shape).mT,
    "tril": lambda t: t.reshape(t.shape[0], -1).tril(),
    "triu": lambda t: ag.triu(t.reshape(t.shape[0], -1), -1),
    "meshgrid": lambda t: ag.meshgrid(t.reshape(-1), t.reshape(-1)[:2] * 2.0, indexing="xy")[0],
    "repeat_counts": lambda t: ag.repeat(t, np.arange(t.shape[0]) % 3, axis=0),
    "take_along_axis": lambda t: ag.take_along_axis(t, np.zeros((1,) * t.ndim, dtype=int) + (t.shape[-1] - 1), -1),
    "gather": lambda t: t.gather(0, np.zeros((2,) + t.shape[1:], dtype=int)),
    "masked_fill": lambda t: t.masked_fill(np.asarray(t) > 0, -1.5),
    "topk": lambda t: t.topk(1, axis=0).values,
    "einsum_trace_like": lambda t: ag.einsum("i...->...", t),
    "einsum_outer": lambda t: ag.einsum("...,j->...j", t, t.reshape(-1)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@given(data=st.data())
def test_shape_and_indexing(name, data):
    x = data.draw(arrays(data.draw(testing.shapes(min_dims=1, max_dims=3))))
    if name in ("index_mask", "masked_fill"):
        assume(away_from(x, (0,)))
    if name == "topk":
        assume(distinct(x))
    fn = SHAPE_OPS[name]
    check_grads(fn, [x], np.random.default_rng(5))


def test_astype_gradient_has_input_dtype():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x.astype(np.float32) * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(x.grad), [3.0, 3.0])


def test_repeated_indices_accumulate():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [3, 0, 1])


def test_index_forward_matches_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = ag.tensor(a)
    for idx in [1, (1, 2), (slice(None), None, 2), (..., [0, 3]), (a > 10), (0, [1, 2], [0, 3])]:
        np.testing.assert_array_equal(np.asarray(t[idx]), a[idx])


def test_comparisons_are_bool_and_not_differentiable():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    for r in (x < 2, x <= 2, x > 1, x >= 1, x == 2, x != 2):
        assert r.dtype == bool and not r.requires_grad
    np.testing.assert_array_equal(np.asarray(x < 1.5), [True, False])


# ---- second derivatives --------------------------------------------------------------
SECOND = {
    "exp": (ag.exp, (-2, 2)), "log": (ag.log, (0.2, 3)), "sqrt": (ag.sqrt, (0.2, 3)), "sin": (ag.sin, (-3, 3)),
    "cos": (ag.cos, (-3, 3)), "tanh": (ag.tanh, (-2, 2)), "sigmoid": (ag.sigmoid, (-3, 3)),
    "pow3": (lambda x: x**3, (-2, 2)), "rdiv": (lambda x: 1.0 / x, (0.3, 3)),
    "softmax": (ag.softmax, (-2, 2)), "log_softmax": (ag.log_softmax, (-2, 2)),
    "logsumexp": (lambda x: ag.logsumexp(x, axis=-1), (-2, 2)), "var": (lambda x: ag.var(x, axis=-1), (-2, 2)),
    "mul_self": (lambda x: x * x.sum(), (-2, 2)), "matmul": (lambda x: x @ x.T, (-2, 2)),
    "index": (lambda x: (x**2)[..., [0, 0]], (-2, 2)), "where": (lambda x: ag.where(x > 0, x**2, x**3), (-2, 2)),
    "pow_tensor": (lambda x: x**x, (0.3, 2)),
    "erf": (ag.erf, (-2, 2)), "prod": (lambda x: x.prod(axis=-1), (-2, 2)),
    "cumsum": (lambda x: (x**3).cumsum(-1), (-2, 2)),
    "einsum": (lambda x: ag.einsum("...j,...k->...jk", x, x * x), (-2, 2)),
    "gather": (lambda x: (x**2).gather(-1, np.zeros(x.shape, dtype=int)), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
@given(data=st.data())
def test_second_derivatives(name, data):
    fn, (lo, hi) = SECOND[name]
    x = data.draw(arrays(data.draw(testing.shapes(min_dims=1, max_dims=2, max_side=3)), lo, hi))
    if name in ("where", "prod"):  # prod's out / x, like PyTorch's, is ill-conditioned near 0
        assume(away_from(x, (0,), 1e-2))
    rng = np.random.default_rng(6)
    w = rng.standard_normal(np.shape(np.asarray(fn(ag.tensor(x)))))

    def first_grad(t):
        t = t if t.requires_grad else ag.tensor(np.asarray(t), requires_grad=True)
        out = fn(t)
        (g,) = ag.grad_of((out * ag.tensor(w)).sum(), [t], create_graph=True)
        return g

    check_grads(first_grad, [x], rng, rtol=1e-4, atol=1e-5)


def test_grad_of_grad_matches_closed_form():
    f = lambda x: (x**3).sum()  # noqa: E731
    x = ag.tensor(np.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(np.asarray(ag.grad(f)(x)), 3 * np.asarray(x) ** 2)
    np.testing.assert_allclose(np.asarray(ag.grad(lambda t: ag.grad(f)(t).sum())(x)), 6 * np.asarray(x))


def test_hessian_vector_product():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = ag.tensor(rng.standard_normal(4), requires_grad=True)
    v = rng.standard_normal(4)
    y = 0.5 * (x @ ag.tensor(A) @ x)
    (g,) = ag.grad_of(y, [x], create_graph=True)
    (hv,) = ag.grad_of((g * ag.tensor(v)).sum(), [x])
    np.testing.assert_allclose(np.asarray(hv), A @ v, rtol=1e-10)


def test_numeric_helper_sanity():
    # The oracle itself: d/dx sum(x^2) = 2x.
    x = np.array([1.0, -2.0])
    (g,) = numeric_grads(lambda t: t * t, [x], np.ones(2))
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8)
