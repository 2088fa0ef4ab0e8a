"""ag.testing: the strategies generate what they promise; assert_gradients passes good ops and
catches broken ones; the core package does not import hypothesis."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini.shapes import normalize_axes
from autograd_mini.testing import assert_gradients, axes, broadcastable_shapes, shapes, tensors


@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=5))
def test_shapes_respect_bounds(s):
    assert 1 <= len(s) <= 3 and all(2 <= n <= 5 for n in s)


@given(broadcastable_shapes(3))
def test_mutually_broadcastable_shapes_broadcast(ss):
    assert len(ss) == 3
    np.broadcast_shapes(*ss)


@given(st.data())
def test_shapes_broadcast_to_a_given_shape(data):
    target = data.draw(shapes())
    s = data.draw(broadcastable_shapes(target))
    assert len(s) <= len(target) and np.broadcast_shapes(s, target) == target


@given(st.data())
def test_axes_are_valid(data):
    shape = data.draw(shapes(max_dims=4))
    ax = data.draw(axes(len(shape)))
    normalize_axes(ax, len(shape), "test")  # raises on out-of-range or repeated axes
    np.sum(np.zeros(shape), axis=ax)
    single = data.draw(axes(len(shape), allow_none=False, allow_tuple=False)) if shape else 0
    assert isinstance(single, int)


@given(tensors(shape=(2, 3), dtype=np.float32, elements=(0.5, 2.0), requires_grad=True))
def test_tensors_have_shape_dtype_and_range(t):
    assert isinstance(t, ag.Tensor) and t.shape == (2, 3) and t.dtype == np.float32 and t.requires_grad
    assert np.all((t.data >= 0.5) & (t.data <= 2.0))


@given(tensors(dtype=np.int64))
def test_integer_tensors(t):
    assert t.dtype == np.int64 and not t.requires_grad and np.all(np.abs(t.data) <= 5)


def test_assert_gradients_passes_on_broadcasting_op():
    pair = broadcastable_shapes(2).flatmap(lambda ss: st.tuples(*[tensors(shape=s) for s in ss]))
    assert_gradients(lambda a, b: ag.mul(a, b).sin(), pair, max_examples=10)  # a drawn tuple is spread
    assert_gradients(ag.mul, tensors(shape=(2, 3)), tensors(shape=(3,)), max_examples=10)
    assert_gradients(lambda x: ag.sum(x * x, axis=-1), tensors(shape=shapes(min_dims=1)),
                     reference=lambda a: np.sum(a * a, axis=-1), second_order=True, max_examples=10)


def test_assert_gradients_catches_a_broken_op():
    class Wrong(ag.Function):
        @staticmethod
        def forward(ctx, x): return np.sin(x)

        @staticmethod
        def backward(ctx, g): return g  # should be g * cos(x)

    with pytest.raises(ag.GradcheckError):
        assert_gradients(Wrong.apply, tensors(shape=(3,), elements=(0.5, 1.5)), max_examples=5)


def test_hypothesis_is_not_imported_by_the_core_package():
    code = "import sys, autograd_mini as ag; assert 'hypothesis' not in sys.modules; ag.testing.tensors; " \
           "assert 'hypothesis' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
