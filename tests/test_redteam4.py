"""Red team round 4 (PyTorch 2.13 float64 as the oracle): in-place ops and hooks, ops part 2 (elementwise,
activations, dtype promotion), indexing and scans, conv/pool, norms and linalg. Each case here found a bug
(value, gradient, higher derivative, dtype or error) that is fixed; the comparisons read PyTorch's recorded
answers when it is not installed (tests/_oracle.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
from tests._oracle import oracle
from tests.test_adversarial_v3 import _assert_like_torch

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers
    torch = None


# ---- clip/clamp: PyTorch's dtype promotion over the tensor and both bounds --------------------------------------
CLAMP_DTYPES = [  # (x, bound): clip used numpy's promotion, so int64 with 1.5 gave float64
    (np.array([1, 5]), 1.5), (np.array([1, 5]), np.array(1.5, np.float32)),
    (np.array([1.0, 5.0], np.float32), np.array(1.5)), (np.array([1.0, 5.0], np.float32), np.array([2, 3])),
    (np.array([1.0, 5.0], np.float32), np.array(2)), (np.array([1, 5]), np.array([1.5, 2.0])),
    (np.array([1.0, 5.0], np.float32), 2),
]


@pytest.mark.parametrize("case", range(len(CLAMP_DTYPES)))
def test_clamp_promotes_like_pytorch(case):
    x, bound = CLAMP_DTYPES[case]

    def wrap(b, lib):
        return lib.tensor(b) if isinstance(b, np.ndarray) else b

    want_dtype, want = oracle(lambda: (lambda t: (t.dtype, t))(torch.clamp(torch.tensor(x), wrap(bound, torch))))
    for got in (ag.clamp(ag.tensor(x), wrap(bound, ag)), ag.tensor(x).clip(wrap(bound, ag))):
        assert str(got.dtype) == want_dtype
        np.testing.assert_array_equal(got.numpy(), want)


def test_clamp_with_a_grad_bound_promotes_and_splits_the_gradient():
    x = ag.tensor([1, 5, 3])
    lo = ag.tensor(np.array(2.0), requires_grad=True)  # float64 0-d: int64 with it is float64 (PyTorch's)
    y = ag.clamp(x, lo, 4.5)
    y.sum().backward()
    assert y.dtype == np.float64 and lo.grad.item() == 1.0
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.5, 3.0])


# ---- logcumsumexp under create_graph: a -inf prefix made every second derivative nan ----------------------------
def _prefix_logsumexp(x, axis=0):
    """logcumsumexp composed of logsumexp over each prefix (PyTorch's own logcumsumexp differs at order 3)."""
    return torch.stack([torch.logsumexp(x.narrow(axis, 0, k + 1), axis) for k in range(x.shape[axis])], axis)


@pytest.mark.parametrize("x", [[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 0.0, -np.inf, 1.0], [-np.inf, -np.inf, 1.0]])
def test_logcumsumexp_second_and_third_derivatives_after_a_minus_inf_prefix(x):
    _assert_like_torch(lambda t: ag.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), x, orders=2, key="fused")
    _assert_like_torch(lambda t: ag.logcumsumexp(t, 0), _prefix_logsumexp, x, orders=3, key="composed")


# ---- full backward hooks: an input the output does not use left the hook uncalled --------------------------------
def _unused_input_program(lib, body):
    """A module of two inputs that require grad whose output uses only some of them: the hook's calls and
    arguments, and the inputs' gradients (PyTorch: the unused one gets zeros, and the hook runs)."""
    Module = nn.Module if lib == "ag" else torch.nn.Module
    mk = (lambda v: ag.tensor(np.array(v), requires_grad=True)) if lib == "ag" else \
        (lambda v: torch.tensor(np.array(v), requires_grad=True))

    def arr(t):
        return None if t is None else np.asarray(t.detach() if hasattr(t, "detach") else t).tolist()

    class Two(Module):
        def forward(self, a, b):
            return body(a, b)

    log = []
    m = Two()
    m.register_full_backward_hook(lambda mod, gi, go: log.append(([arr(g) for g in gi], [arr(g) for g in go])))
    a, b = mk([1.0, 2.0]), mk([3.0, -1.0])
    out = m(a, b)
    (out[0] if isinstance(out, tuple) else out).sum().backward()
    return log, arr(a.grad), arr(b.grad)


UNUSED = {"second_unused": lambda a, b: a * 2, "returns_an_input": lambda a, b: a,
          "tuple_one_output_unused": lambda a, b: (a * 3, a * b)}


@pytest.mark.parametrize("name", sorted(UNUSED))
def test_full_backward_hook_runs_when_an_input_is_unused(name):
    ours = _unused_input_program("ag", UNUSED[name])
    assert ours == oracle(lambda: _unused_input_program("torch", UNUSED[name]))
    assert len(ours[0]) == 1


# ---- in place on a view of a tensor that was not recorded (h = zeros; h[1] += x): refused, PyTorch records it ----
def _written_views(lib):
    """Views of unrecorded tensors written in place with an operand that requires grad: the bases' values and the
    gradients (PyTorch: the base joins the graph)."""
    mk = (lambda v: ag.tensor(np.array(v), requires_grad=True)) if lib == "ag" else \
        (lambda v: torch.tensor(np.array(v), requires_grad=True))
    zeros = (lambda *s: ag.zeros(s).astype(np.float64)) if lib == "ag" else \
        (lambda *s: torch.zeros(s, dtype=torch.float64))
    x = mk([1.0, -2.0, 3.0])
    h = zeros(2, 3)
    h[1] += x                  # Python: t = h[1]; t += x; h[1] = t
    row = h[0]
    row *= 0.0
    row += x * x               # a view kept and written twice
    col = h[:, 2]
    col.mul_(x[:2])            # a column: writes through to both rows
    g = zeros(4)
    inner = g[1:][::2]         # a view of a view
    inner.copy_(x[1:])
    loss = (h * h).sum() + (g * g * g).sum() + row.sum()
    loss.backward()
    out = lambda t: np.asarray(t.detach() if hasattr(t, "detach") else t).tolist()  # noqa: E731
    return out(h), out(g), out(row), out(x.grad)


def test_in_place_on_views_of_unrecorded_tensors_records_the_base_as_pytorch():
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in _written_views("ag")]),
                               np.concatenate([np.ravel(a) for a in oracle(lambda: _written_views("torch"))]),
                               rtol=1e-12)


# ---- scatter family with src of another dtype: numpy's promotion (float64 out), or amax/amin truncating a float src
# into an int64 x; PyTorch refuses -------------------------------------------------------------------------------
def _outcome(compute):
    """What ``compute`` returns, or the exception it raises (the oracle records either)."""
    try:
        return compute()
    except Exception as e:  # noqa: BLE001 - the answer is the exception
        return e


SCATTERS = {
    "scatter": lambda L, x, i, s: L.scatter(x, 1, i, s), "scatter_add": lambda L, x, i, s: L.scatter_add(x, 1, i, s),
    "scatter_reduce_sum": lambda L, x, i, s: L.scatter_reduce(x, 1, i, s, "sum"),
    "scatter_reduce_amax": lambda L, x, i, s: L.scatter_reduce(x, 1, i, s, "amax"),
    "index_add": lambda L, x, i, s: L.index_add(x, 1, i[0], s),
}
_X, _IDX = np.array([[0.5, -1.5, 2.0], [3.0, -0.2, 0.0]], np.float32), np.array([[0, 1, 0], [1, 1, 0]])


@pytest.mark.parametrize("x_dtype, src_dtype", [("float32", "float64"), ("int64", "float64"), ("float32", "int64")])
@pytest.mark.parametrize("name", sorted(SCATTERS))
def test_scatter_family_refuses_a_src_of_another_dtype_as_pytorch(name, x_dtype, src_dtype):
    x, src = _X.astype(x_dtype), (_X * 3.3).astype(src_dtype)
    theirs = oracle(lambda: _outcome(lambda: SCATTERS[name](torch, torch.tensor(x), torch.tensor(_IDX),
                                                          torch.tensor(src))))
    assert theirs.kind == "RuntimeError"
    with pytest.raises(TypeError, match=f"{name.split('_reduce')[0] if 'reduce' in name else name}.*{src_dtype}.*"
                                        f"{x_dtype}.*astype"):
        SCATTERS[name](ag, ag.tensor(x), ag.tensor(_IDX), ag.tensor(src))


@pytest.mark.parametrize("name", sorted(SCATTERS))
def test_scatter_family_casts_an_array_src_to_the_tensors_dtype(name):
    """A numpy array or list ``src`` (PyTorch takes tensors only) is cast to ``x``'s dtype, as a number is."""
    src = np.round(_X * 3.3, 1).astype(np.float64)
    want = oracle(lambda: SCATTERS[name](torch, torch.tensor(_X), torch.tensor(_IDX),
                                         torch.tensor(src, dtype=torch.float32)))
    for given in (src, src.tolist()):
        got = SCATTERS[name](ag, ag.tensor(_X), ag.tensor(_IDX), given)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), want)


# ---- flip(x, dims=...): PyTorch's keyword (docs/ops.md) was a TypeError (dims was only *positional) -------------
@pytest.mark.parametrize("dims", [(1,), [0, 1], 0, (-1, 0)])
def test_flip_takes_pytorchs_dims_keyword(dims):
    x = np.arange(6.0).reshape(2, 3)
    want = oracle(lambda: torch.flip(torch.tensor(x), dims=dims if not isinstance(dims, int) else (dims,)))
    np.testing.assert_array_equal(ag.flip(ag.tensor(x), dims=dims).numpy(), want)
    np.testing.assert_array_equal(ag.tensor(x).flip(dims=dims).numpy(), want)
    with pytest.raises(TypeError, match="flip: give the axes once"):
        ag.flip(ag.tensor(x), dims=dims, axis=0)


def test_permute_takes_dims_keyword_and_transpose_of_two_axes_names_swapaxes():
    x = np.arange(24.0).reshape(2, 3, 4)
    want = oracle(lambda: torch.permute(torch.tensor(x), dims=(2, 0, 1)))
    np.testing.assert_array_equal(ag.permute(ag.tensor(x), dims=(2, 0, 1)).numpy(), want)
    np.testing.assert_array_equal(ag.tensor(x).permute(dims=[2, 0, 1]).numpy(), want)
    with pytest.raises(ValueError, match=r"ag\.swapaxes\(x, 0, 2\)"):
        ag.tensor(x).transpose(0, 2)  # PyTorch's meaning: numpy's transpose permutes every axis


# ---- under no_grad, in place on a view of an op's result (read-only for good) was refused as an unwritable view --
def _no_grad_view_writes(lib):
    mk = (lambda v: ag.tensor(np.array(v), requires_grad=True)) if lib == "ag" else \
        (lambda v: torch.tensor(np.array(v), requires_grad=True))
    no_grad = ag.no_grad if lib == "ag" else torch.no_grad
    x = mk([1.0, 2.0, 3.0, 4.0])
    h = (x * 1).reshape(2, 2) * 1   # an op's result
    row = h[0]                      # a recorded view
    with no_grad():
        h[1] *= 5.0                 # Python: t = h[1]; t *= 5; h[1] = t
        row.add_(10.0)
        col = h[:, 1]
        col.zero_()
    (h * h).sum().backward()        # after the writes: PyTorch's versions agree
    out = lambda t: np.asarray(t.detach() if hasattr(t, "detach") else t).tolist()  # noqa: E731
    return out(h), out(row), out(col), out(x.grad)


def test_no_grad_in_place_on_views_of_an_ops_result_writes_the_base():
    assert _no_grad_view_writes("ag") == oracle(lambda: _no_grad_view_writes("torch"))


# ---- numpy integers where PyTorch takes ints: refused with a wrong message, or numpy's "truth value of an empty
# array" from inside the pools (stride == ()) ---------------------------------------------------------------------
NUMPY_INTS = {
    "topk": lambda L, t: L.topk(t, np.int64(2), 1)[0],
    "vector_norm": lambda L, t: L.linalg.vector_norm(t, np.int64(1), dim=1),
    "norm": lambda L, t: L.norm(t, np.int64(3), dim=1),
    "interpolate": lambda L, t: (nn.functional if L is ag else torch.nn.functional).interpolate(
        t.reshape(1, 1, 2, 3), scale_factor=np.int64(2)),
    "max_pool2d": lambda L, t: (nn.functional if L is ag else torch.nn.functional).max_pool2d(
        t.reshape(1, 1, 2, 3), 2, stride=np.int64(1)),
    "avg_pool2d": lambda L, t: (nn.functional if L is ag else torch.nn.functional).avg_pool2d(
        t.reshape(1, 1, 2, 3), 2, stride=np.int64(1)),
    "max_pool1d": lambda L, t: (nn.functional if L is ag else torch.nn.functional).max_pool1d(
        t.reshape(1, 2, 3), 2, stride=np.int64(1)),
}


@pytest.mark.parametrize("name", sorted(NUMPY_INTS))
def test_numpy_integers_are_ints(name):
    x = np.array([[3.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    want = oracle(lambda: NUMPY_INTS[name](torch, torch.tensor(x)))
    np.testing.assert_allclose(NUMPY_INTS[name](ag, ag.tensor(x)).numpy(), want, rtol=1e-12)


# ---- numpy scalars promote as the Python numbers they hold (docs/ops.md "Dtypes"); they counted as 0-d arrays, so
# int64 * np.float64(2.5) was float64 and a 0-d float32 tensor * np.float64 float64; softplus/celu took a numpy
# beta/alpha into their float32 arithmetic ------------------------------------------------------------------------
NUMPY_SCALARS = {
    "int64_times_np_float64": lambda L, t: t(np.array([1, 2])) * np.float64(2.5),
    "np_float64_times_int64": lambda L, t: np.float64(2.5) * t(np.array([1, 2])) if L is ag else
    t(np.array([1, 2])) * np.float64(2.5),
    "0d_float32_times_np_float64": lambda L, t: t(np.array(2.0, np.float32)) * np.float64(1.5),
    "0d_int32_plus_np_int64": lambda L, t: t(np.array(2, np.int32)) + np.int64(3),
    "where_0d_float32_np_float64": lambda L, t: L.where(t(np.array([True, False])), t(np.array(2.0, np.float32)),
                                                        np.float64(1.5)),
    "softplus_beta": lambda L, t: (nn.functional if L is ag else torch.nn.functional).softplus(
        t(np.array([1.0, 30.0], np.float32)), beta=np.float64(2), threshold=np.float64(20)),
    "celu_alpha": lambda L, t: (nn.functional if L is ag else torch.nn.functional).celu(
        t(np.array([-1.0, 2.0], np.float32)), alpha=np.float64(0.5)),
}


@pytest.mark.parametrize("name", sorted(NUMPY_SCALARS))
def test_numpy_scalars_promote_as_python_numbers(name):
    want_dtype, want = oracle(lambda: (lambda t: (t.dtype, t))(NUMPY_SCALARS[name](torch, torch.tensor)))
    got = NUMPY_SCALARS[name](ag, ag.tensor)
    assert str(got.dtype) == want_dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


# ---- a tensor hook that changes its gradient in place and returns None: the change was dropped ------------------
def _in_place_hooks(lib):
    mk = (lambda v: ag.tensor(np.array(v), requires_grad=True)) if lib == "ag" else \
        (lambda v: torch.tensor(np.array(v), requires_grad=True))
    out = lambda t: np.asarray(t.detach() if hasattr(t, "detach") else t).tolist()  # noqa: E731

    def double(g):
        g.mul_(2)  # returns None: PyTorch uses the gradient as the hook left it

    x = mk([1.0, 2.0])
    h = x * 3
    h.register_hook(double)
    h.retain_grad()
    h.register_hook(lambda g: (g.clamp_(max=20.0), None)[1])
    (h * h).sum().backward()
    leaf = mk([1.0, -2.0])
    leaf.register_hook(double)
    (leaf * leaf).sum().backward()
    return out(h.grad), out(x.grad), out(leaf.grad)


def test_hooks_that_change_the_gradient_in_place_change_it():
    assert _in_place_hooks("ag") == oracle(lambda: _in_place_hooks("torch"))


def _in_place_hook_second_order(lib):
    mk = (lambda v: ag.tensor(np.array(v), requires_grad=True)) if lib == "ag" else \
        (lambda v: torch.tensor(np.array(v), requires_grad=True))
    grad = ag.grad_of if lib == "ag" else torch.autograd.grad
    x = mk([1.0, 2.0])
    h = x ** 3
    h.register_hook(lambda g: (g.mul_(h), None)[1])  # in place, and a function of the graph
    (gx,) = grad((h * h).sum(), [x], create_graph=True)
    (ggx,) = grad(gx.sum(), [x])
    return [np.asarray(t.detach() if hasattr(t, "detach") else t).tolist() for t in (gx, ggx)]


def test_in_place_hooks_under_create_graph_are_differentiated():
    assert _in_place_hook_second_order("ag") == oracle(lambda: _in_place_hook_second_order("torch"))


# ---- bool ** int was numpy's int8 (PyTorch: int64, so b ** 2 * 200 wrapped); round(int, decimals < 0) returned
# the integers unrounded (PyTorch refuses; numpy rounds) -----------------------------------------------------------
def test_bool_tensor_to_an_integer_power_is_int64():
    b = np.array([True, False, True])
    want_dtype, want = oracle(lambda: (lambda t: (t.dtype, t))(torch.tensor(b) ** 2 * 200))
    got = ag.tensor(b) ** 2 * 200
    assert str(got.dtype) == want_dtype
    np.testing.assert_array_equal(got.numpy(), want)


def test_round_of_integers_to_tens_rounds():
    x = np.array([15, 25, -15, 149, 7])
    assert "not implemented" in oracle(lambda: _outcome(lambda: torch.round(torch.tensor(x), decimals=-1))).message
    got = ag.round(ag.tensor(x), decimals=-1)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), np.round(x, -1))  # half to even: [20, 20, -20, 150, 10]
    np.testing.assert_array_equal(ag.round(ag.tensor(x), decimals=1).numpy(), x)  # whole already


# ---- sums and products of uint8 were numpy's uint64 (x.sum() - 300 wrapped to 1.8e19); PyTorch's int64 -----------
UNSIGNED = {"sum": lambda L, t: L.sum(t) - 300, "prod": lambda L, t: L.prod(t) - 40000,
            "cumsum": lambda L, t: L.cumsum(t, 0) - 300, "cumprod": lambda L, t: L.cumprod(t, 0) - 40000,
            "trace": lambda L, t: L.trace(L.diag(t)) - 300}


@pytest.mark.parametrize("name", sorted(UNSIGNED))
def test_sums_and_products_of_small_unsigned_integers_are_int64(name):
    x = np.array([100, 100, 3], np.uint8)
    want_dtype, want = oracle(lambda: (lambda t: (t.dtype, t))(UNSIGNED[name](torch, torch.tensor(x))))
    got = UNSIGNED[name](ag, ag.tensor(x))
    assert str(got.dtype) == want_dtype
    np.testing.assert_array_equal(got.numpy(), want)


# ---- pools with ceil_mode and a kernel wider than the (padded) input: PyTorch keeps one partial window; refused --
CEIL_WIDE = {
    "max_pool2d": lambda L, x: L.max_pool2d(x.reshape(1, 1, 7, 2), 3, 2, 0, 1, True),
    "max_pool2d_dilated": lambda L, x: L.max_pool2d(x[:12].reshape(1, 1, 3, 4), 3, 3, 0, 2, True),
    "avg_pool2d": lambda L, x: L.avg_pool2d(x.reshape(1, 1, 7, 2), 3, 2, 0, True),
    "avg_pool2d_padded": lambda L, x: L.avg_pool2d(x.reshape(1, 1, 2, 7), 4, 3, 1, True, False),
    "max_pool1d": lambda L, x: L.max_pool1d(x[:4].reshape(1, 2, 2), 3, 2, 0, 1, True),
    "max_pool3d": lambda L, x: L.max_pool3d(x[:12].reshape(1, 1, 2, 3, 2), 3, 2, 0, 1, True),
}


@pytest.mark.parametrize("name", sorted(CEIL_WIDE))
def test_ceil_mode_pools_keep_a_window_wider_than_the_input(name):
    x = np.cos(np.arange(14.0))
    fn = CEIL_WIDE[name]
    _assert_like_torch(lambda t: fn(ag, t), lambda t: fn(torch.nn.functional, t), x, orders=2)


# ---- det's derivatives at rank <= n - 2 under create_graph: through the SVD, whose derivative is not unique where
# singular values repeat, the second derivative was nan (the zero matrix, 1e-6 * I) and the third wrong (rank 1:
# [3.75, 1.31, ...] for the constant [-0.128, 0.139, ...]); PyTorch's is nan or wrong too. The oracle: det as
# the explicit polynomial (Laplace expansion), whose derivatives torch computes exactly ---------------------------
def _det_polynomial(a):
    n = a.shape[-1]
    if n == 1:
        return a[..., 0, 0]
    return sum((-1) ** j * a[..., 0, j] * _det_polynomial(a[..., 1:, [k for k in range(n) if k != j]])
               for j in range(n))


_RNG4 = np.random.default_rng(4)
DET_AT_LOW_RANK = {
    "zero_3x3": np.zeros((3, 3)), "tiny_identity": 1e-6 * np.eye(3), "rank1_3x3": np.outer([1.0, 2, 3], [1.0, -1, 2]),
    "rank2_4x4": _RNG4.standard_normal((4, 2)) @ _RNG4.standard_normal((2, 4)),
    "batch_of_regular_and_tiny": np.stack([np.eye(3) + 0.5, 1e-6 * np.eye(3)]),
}


@pytest.mark.parametrize("name", sorted(DET_AT_LOW_RANK))
def test_det_higher_derivatives_at_low_rank_are_the_polynomials(name):
    a = DET_AT_LOW_RANK[name]
    with np.errstate(all="ignore"):
        _assert_like_torch(ag.linalg.det, _det_polynomial, a, orders=3)


# ---- not a bug of ours: PyTorch's fused batch_norm / instance_norm double backward differentiates to other third
# derivatives; ours agree with the composed formula (docs/reliability.md, "Deliberate differences") ----------------
def _norm_composed(x, dims):
    m = x.mean(dims, keepdim=True)
    return (x - m) / torch.sqrt(((x - m) ** 2).mean(dims, keepdim=True) + 1e-5)


@pytest.mark.parametrize("which", ["batch_norm", "instance_norm"])
def test_batch_and_instance_norm_third_derivatives_are_the_composed_formulas(which):
    x = np.cos(np.arange(24.0) * 1.7).reshape(2, 3, 2, 2)
    ours = (lambda t: nn.functional.batch_norm(t, None, None, training=True)) if which == "batch_norm" else \
        (lambda t: nn.functional.instance_norm(t))
    _assert_like_torch(ours, lambda t: _norm_composed(t, (0, 2, 3) if which == "batch_norm" else (2, 3)), x)


# ---- index_add with a float alpha on integers: ours promoted to float32 (values 2.5 * ...), PyTorch 2.13 cuts alpha
# to an int (2); its own add() refuses a float alpha for integers, and so do we now -------------------------------
def test_index_add_refuses_a_float_alpha_for_integers():
    x = np.arange(6).reshape(2, 3)
    refused = oracle(lambda: _outcome(lambda: torch.add(torch.tensor(x), torch.tensor(x), alpha=2.5)))
    assert "alpha must not be a floating point number" in refused.message
    with pytest.raises(TypeError, match="index_add: alpha 2.5 is a float but the tensor has dtype int64"):
        ag.index_add(ag.tensor(x), 1, ag.tensor([0, 0]), ag.tensor(x[:, :2]), alpha=2.5)
    got = ag.index_add(ag.tensor(x), 1, ag.tensor([0, 0]), ag.tensor(x[:, :2]), alpha=np.int64(2))
    assert got.dtype == np.int64 and got.numpy().tolist() == [[2, 1, 2], [17, 4, 5]]


def test_logcumsumexp_second_order_where_the_incoming_gradient_is_exactly_zero():
    """cos(logcumsumexp(x)) at x = 0 sends logcumsumexp a gradient of exactly 0 at the first position; the
    Hessian-vector product keeps the terms through it (PyTorch 2.13 drops them): central differences decide."""
    w, v = np.array([0.7, -1.3]), np.array([0.4, 1.1])

    def grad(a):
        x = ag.tensor(a, requires_grad=True)
        (g,) = ag.grad_of((ag.cos(ag.logcumsumexp(x, axis=0)) * ag.tensor(w)).sum(), [x], create_graph=True)
        return x, g

    x, g = grad(np.zeros(2))
    (hv,) = ag.grad_of((g * ag.tensor(v)).sum(), [x])
    eps = 1e-6
    fd = [(grad(eps * e)[1].numpy() - grad(-eps * e)[1].numpy()) @ v / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(hv.numpy(), fd, rtol=1e-7, atol=1e-9)


COMPARE_CASES = {
    "int64 vs float32 0-d": (np.array([16777217, 3], np.int64), np.array(16777216.0, np.float32)),
    "int64 vs python float": (np.array([16777217, 3], np.int64), 16777216.5),
    "float32 vs float64 0-d": (np.array([0.1, 0.2], np.float32), np.array(0.1)),
    "float32 vs python float": (np.array([0.1, 0.2], np.float32), 0.1),
    "bool vs python float": (np.array([True, False]), 0.5),
    "int64 vs float64": (np.array([2**53 + 1, 1], np.int64), np.array([2.0**53, 1.0])),
    "uint8 vs python int": (np.array([1, 200], np.uint8), 100),
}


@pytest.mark.parametrize("case", COMPARE_CASES)
def test_comparisons_promote_like_pytorch(case):
    """A float32 tensor against a float64 0-d tensor compares in float32, an int64 tensor against a float32 0-d
    tensor in float32 (it compared in float64, exactly: `x == ag.tensor(0.1)` was False for float32 x = 0.1)."""
    a, b = COMPARE_CASES[case]

    def wrap(v, lib):
        return lib.tensor(v) if isinstance(v, np.ndarray) else v

    want = oracle(lambda: [op(torch.tensor(a), wrap(b, torch)).numpy()
                           for op in (torch.gt, torch.ge, torch.eq, torch.ne, torch.lt, torch.le)])
    x, y = ag.tensor(a), wrap(b, ag)
    for got, w in zip((x > y, x >= y, x == y, x != y, x < y, x <= y), want):
        np.testing.assert_array_equal(got.numpy(), w)
