"""The op declaration of core v3 (docs/core.md, "Add an op"): backward names what it reads, ``@op`` makes an op
public, ``autograd_mini.numpy`` answers in kind, ``once_differentiable`` is the explicit opt-out."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import numpy as anp
from autograd_mini.function import OUT, Function, op


def leaf(values):
    return ag.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


class Cube(Function):
    formula = "d x^3/dx = 3 x^2"

    @staticmethod
    def forward(ctx, x, *, scale=1.0):
        return scale * x ** 3

    @staticmethod
    def backward(ctx, g, x):
        return g * (3 * ctx.params.get("scale", 1.0)) * x * x


@op("test_only_cube", method=True)
class PublicCube(Cube):
    pass


def test_backward_reads_what_its_signature_names_by_position():
    class ReadsOut(Function):
        @staticmethod
        def forward(ctx, a, b): return a * np.exp(b)

        @staticmethod
        def backward(ctx, g, b, out): return g * out / ctx.inputs[0].data, g * out

    assert Cube._reads == (0,) and ReadsOut._reads == (1, OUT)
    a, b = leaf([2.0, 3.0]), leaf([0.5, -1.0])
    y = ReadsOut.apply(a, b)
    assert len(y.grad_fn.saved) == 2  # b and the result: a is not kept
    (ga, gb) = ag.grad_of(y.sum(), [a, b])
    np.testing.assert_allclose(ga.numpy(), np.exp(b.numpy()))
    np.testing.assert_allclose(gb.numpy(), a.numpy() * np.exp(b.numpy()))


def test_a_backward_reading_an_unknown_name_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"reads `y`, which is neither an input of forward \(x\) nor `out`"):
        class Wrong(Function):
            @staticmethod
            def forward(ctx, x): return x

            @staticmethod
            def backward(ctx, g, y): return g


def test_op_makes_the_function_the_method_and_the_anp_entry():
    x = leaf([1.0, -2.0])
    for y in (ag.test_only_cube(x, 2.0), x.test_only_cube(scale=2.0), PublicCube.apply(x, scale=2.0)):
        np.testing.assert_array_equal(y.numpy(), 2.0 * x.numpy() ** 3)
        assert y.grad_fn.formula == "d x^3/dx = 3 x^2" and y.grad_fn.name == "PublicCube"
    assert type(anp.test_only_cube(np.array([2.0]))) is np.ndarray  # arrays in: the forward alone, no node
    assert anp.test_only_cube(x).grad_fn is not None                  # a Tensor in: the recorded op
    assert ag.gradgradcheck(lambda t: ag.test_only_cube(t, 2.0), [x])


def test_a_taken_name_is_refused():
    for name in ("exp", "test_only_cube"):
        with pytest.raises(ValueError, match=f"@op\\('{name}'\\): the name is taken"):
            op(name)(type("Again", (Cube,), {}))


def test_extra_positional_arguments_fill_the_keyword_only_parameters_in_order():
    x = leaf([[1.0, 2.0], [3.0, 0.0]])
    np.testing.assert_array_equal(ag.softmax(x, 0).numpy(), ag.softmax(x, axis=0).numpy())
    assert ag.softmax(x, 0).grad_fn.params == {"axis": 0} and len(ag.softmax(x, 0).grad_fn.inputs) == 1


def test_once_differentiable_is_exact_once_and_refuses_a_second_derivative():
    class NumpySin(Function):
        @staticmethod
        def forward(ctx, x): return np.sin(x)

        @staticmethod
        @ag.once_differentiable
        def backward(ctx, g, x): return g * np.cos(x)

    x = leaf([0.3, 1.2])
    (g,) = ag.grad_of(NumpySin.apply(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), np.cos(x.numpy()))
    with pytest.raises(RuntimeError, match="`NumpySin` cannot be differentiated twice"):
        ag.grad_of(g.sum(), [x])
