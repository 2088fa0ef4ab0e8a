"""Backward semantics: accumulation, fan-out, retain_graph, grad modes, custom Functions,
the functional API, dtype policy, and the XOR article's worked numbers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as ag


def leaf(values, dtype=np.float64):
    return ag.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_readme_example():
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = ag.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    y = (x @ w).tanh().sum(axis=0).log_softmax(axis=-1)
    loss = (y**2).mean()
    loss.backward()
    assert x.grad.shape == (4, 3) and w.grad.shape == (3, 2)
    assert isinstance(np.asarray(x.grad), np.ndarray)


def test_gradients_accumulate_across_calls_and_fan_out():
    x = leaf([1.0, 2.0])
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [3, 5])
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [5, 7])


def test_shared_gradient_arrays_are_not_aliased():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data[...] = 0  # must not change b.grad
    np.testing.assert_array_equal(np.asarray(b.grad), [1, 1])
    g = np.array([1.0, 1.0])
    c = leaf([0.0, 0.0])
    (c + 0.0).backward(g)
    c.grad.data[0] = 5
    assert g[0] == 1.0


def test_retain_graph_and_released_graph_error():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = np.asarray(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(np.asarray(x.grad), 2 * first)
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\) needs a `gradient`"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), expected \(2,\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_is_a_decorator():
    x = leaf([1.0])
    with ag.no_grad():
        y = x * 2.0
        with ag.enable_grad():
            z = x * 3.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @ag.no_grad()
    def f(t):
        return t * 2.0

    assert not f(x).requires_grad and ag.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = []
    with ag.no_grad():
        t = threading.Thread(target=lambda: seen.append(ag.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detach_cuts_the_graph():
    x = leaf([2.0])
    y = (x * x).detach() * x
    y.backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [4.0])  # d/dx (c * x) with c = x^2 treated as constant


def test_deep_chain_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [1.0])


def test_leaf_root_backward():
    x = ag.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


# ---- custom Functions -------------------------------------------------------------------
class Square(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class NumpyCos(ag.Function):
    """A backward that applies a numpy function to its input, marked as such: exact once, not twice."""

    @staticmethod
    def forward(ctx, x):
        return np.sin(x)

    @staticmethod
    @ag.once_differentiable
    def backward(ctx, g, x):
        return g * np.cos(x)


class UnmarkedNumpyCos(NumpyCos):
    """The same backward without the opt-out: under create_graph numpy refuses the Tensors it gets."""

    @staticmethod
    def backward(ctx, g, x):
        return g * np.cos(x)


def test_custom_function_written_with_operators_is_twice_differentiable_for_free():
    x = leaf([3.0])
    y = Square.apply(x)
    assert y.grad_fn.name == "Square"
    y.backward()
    assert x.grad.item() == 6.0
    assert ag.grad(ag.grad(lambda t: Square.apply(t).sum()))(ag.tensor(3.0)).item() == 2.0


def test_custom_function_with_numpy_backward_gives_first_derivative_and_a_clear_second_error():
    x = leaf([0.5])
    (g,) = ag.grad_of(NumpyCos.apply(x).sum(), [x], create_graph=True)
    assert g.item() == pytest.approx(np.cos(0.5))
    with pytest.raises(RuntimeError, match="`NumpyCos` cannot be differentiated twice: its backward is marked "
                                           "@once_differentiable"):
        g.sum().backward()
    UnmarkedNumpyCos.apply(x).sum().backward()  # a plain backward runs on arrays: numpy is fine
    assert x.grad.item() == pytest.approx(np.cos(0.5))
    with pytest.raises(TypeError, match=r"(?s)backward of `UnmarkedNumpyCos`, under create_graph.*once_differentiable"):
        ag.grad_of(UnmarkedNumpyCos.apply(x).sum(), [x], create_graph=True)


class WrongCount(ag.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g


class WrongShape(ag.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return np.ones(5)


def test_custom_function_errors_name_the_function():
    a, b = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="backward of `WrongCount` returned 1 gradient.*for 2 input"):
        WrongCount.apply(a, b).backward()
    with pytest.raises(RuntimeError, match=r"`WrongShape` returned a gradient of shape \(5,\) for input 0.*\(3,\)"):
        WrongShape.apply(leaf([1.0, 2.0, 3.0])).sum().backward()


def test_data_assignment_after_save_is_refused_at_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    x.data = np.array([5.0, 5.0])
    with pytest.raises(RuntimeError, match=r"input 0 of `Mul` \(shape \(2,\)\), saved for backward, was given new"):
        y.backward()


# ---- functional API ---------------------------------------------------------------------
def test_value_and_grad_leaves_inputs_untouched():
    x = leaf([1.0, 2.0])
    v, g = ag.value_and_grad(lambda t: (t**2).sum())(x)
    assert v.item() == 5.0 and x.grad is None
    np.testing.assert_array_equal(np.asarray(g), [2, 4])


def test_grad_argnums_and_plain_arrays():
    f = lambda a, b: (a * b).sum()  # noqa: E731
    ga, gb = ag.grad(f, argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(np.asarray(ga), [3, 4])
    np.testing.assert_array_equal(np.asarray(gb), [1, 2])


def test_gradient_can_be_part_of_a_loss():
    w = leaf([1.0, -2.0])
    g = ag.grad(lambda t: (t**3).sum())(w)  # 3 w^2, differentiable in w
    (g.sum()).backward()
    np.testing.assert_array_equal(np.asarray(w.grad), [6, -12])


# ---- tensor basics and dtype policy ------------------------------------------------------
def test_dtype_policy():
    assert ag.tensor(1.5).dtype == np.float32
    assert ag.tensor([1.0, 2.0]).dtype == np.float32
    assert ag.tensor(np.zeros(2)).dtype == np.float64
    assert (ag.tensor([1.0]) * 2.5).dtype == np.float32  # Python scalars do not upcast
    assert ag.tensor([1, 2]).dtype.kind == "i"
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        ag.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="numeric"):
        ag.tensor(["a"])
    ag.set_default_dtype(np.float64)
    try:
        assert ag.tensor(1.0).dtype == np.float64
    finally:
        ag.set_default_dtype(np.float32)


def test_tensor_attributes_and_factories():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and t.is_leaf and t.grad_fn is None
    assert t.T.tolist() == [[1, 3], [2, 4]] and t.sum().item() == 10.0
    assert "requires_grad=True" in repr(t) and "grad_fn=<SumBackward>" in repr(t.sum())
    assert ag.zeros(2, 3).shape == (2, 3) and ag.ones((2,)).tolist() == [1, 1]
    assert ag.zeros_like(t).shape == (2, 2) and ag.ones_like(t).dtype == np.float32
    assert ag.arange(3).tolist() == [0, 1, 2]
    np.testing.assert_array_equal(np.asarray(ag.randn(3, seed=1)), np.asarray(ag.randn(3, seed=1)))
    ag.manual_seed(5)
    a = ag.rand(3)
    ag.manual_seed(5)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(ag.rand(3)))
    rng = np.random.default_rng(0)
    assert ag.randn(2, seed=rng).shape == (2,)
    d = t.detach()
    assert not d.requires_grad and d.data is t.data
    assert ag.tensor(2.0).requires_grad_().requires_grad


def test_errors_name_the_op_and_shapes():
    a, b = ag.tensor(np.ones((3, 4))), ag.tensor(np.ones(5))
    with pytest.raises(ValueError, match=r"add: .*\(3, 4\).*\(5,\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul: .*\(3, 4\).*\(5,\)"):
        a @ b
    with pytest.raises(ValueError, match="sum: axis 2 is out of bounds for a tensor of 2 dimension"):
        a.sum(axis=2)
    with pytest.raises(ValueError, match=r"reshape: .*\(3, 4\)"):
        a.reshape(5)


# ---- the XOR article's worked numbers (seeds README) ---------------------------------------
def test_xor_article_numbers():
    X = np.random.RandomState(0).randn(300, 2)
    y = np.logical_xor(X[:, 0] > 0, X[:, 1] > 0).astype(int)
    Y = np.eye(2)[y]
    np.random.seed(2017)
    W1 = (2 * np.random.random((2, 3)) - 1) / np.sqrt(2)
    W2 = (2 * np.random.random((3, 2)) - 1) / np.sqrt(3)
    w1, w2 = ag.tensor(W1, requires_grad=True), ag.tensor(W2, requires_grad=True)
    x0 = ag.tensor(X[:1])
    z1 = x0 @ w1
    h1 = z1.sigmoid()
    z2 = h1 @ w2
    h2 = z2.sigmoid()
    np.testing.assert_allclose(np.asarray(z1)[0], [-1.40982136, 0.91005018, -0.04529517], atol=5e-9)
    np.testing.assert_allclose(np.asarray(h1)[0], [0.19626223, 0.71301043, 0.48867814], atol=5e-9)
    np.testing.assert_allclose(np.asarray(z2)[0], [-0.52507645, -0.18394635], atol=5e-9)
    np.testing.assert_allclose(np.asarray(h2)[0], [0.37166596, 0.45414264], atol=5e-9)
    assert Y[0].tolist() == [1, 0]
    loss = 0.5 * ((ag.tensor(Y[:1]) - h2) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(np.asarray(w2.grad)[0], [-0.02879856, 0.02209533], atol=5e-9)


def test_seed_numbers_are_documented():
    readme = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "README.md"
    if not readme.exists():
        pytest.skip("the seed articles' notes (shared/seeds/README.md, next to the repository) are not "
                    "available; they come with the development set-up, not with the repository")
    assert "-0.02879856" in readme.read_text()


class NoGradForInput(ag.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return None


def test_grad_of_an_intermediate_that_gets_no_gradient():
    x = leaf([1.0, 2.0])
    mid = x * 3.0
    out = NoGradForInput.apply(mid).sum()
    with pytest.raises(RuntimeError, match="input 0 .* was not used"):
        ag.grad_of(out, [mid])
    assert ag.grad_of(NoGradForInput.apply(mid).sum(), [mid], allow_unused=True) == (None,)


def test_op_errors_use_public_op_names():
    with pytest.raises(ValueError, match="broadcast_to: "):
        ag.tensor(np.ones((2, 3))).broadcast_to((4, 3))
    with pytest.raises(IndexError, match="getitem: "):
        ag.tensor(np.ones(3))[5]


def test_iteration_over_first_axis():
    rows = list(ag.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    with pytest.raises(TypeError, match="0-d"):
        iter(ag.tensor(1.0))
