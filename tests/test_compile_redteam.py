"""ag.compile attacked as an adversarial user would (issue #22): each case once replayed a stale value, a stale
branch or a stale shape, or refused a valid program; each now gives eager's numbers or a TraceError naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn


def _same_each_call(f, make_args, calls=3):
    """``f`` compiled gives eager's values (and shapes) bit for bit on each of ``calls`` fresh argument sets."""
    compiled = ag.compile(f)
    for i in range(calls):
        replay, eager = compiled(*make_args(i)), f(*make_args(i))
        for c, e in zip(replay if isinstance(replay, tuple) else (replay,), eager if isinstance(eager, tuple) else
                        (eager,)):
            c, e = (v.data if isinstance(v, ag.Tensor) else v for v in (c, e))
            assert np.shape(c) == np.shape(e) and np.asarray(c).dtype == np.asarray(e).dtype
            np.testing.assert_array_equal(c, e)
    return compiled


def _vector(i, n=6):
    return (ag.tensor(np.random.default_rng(i).standard_normal(n)),)


# ---- the signature ----------------------------------------------------------------------------------------------
def test_the_same_tensor_passed_twice_is_its_own_signature():
    step = ag.compile(lambda a, b: (a - b).sum())
    x, y = ag.tensor(np.ones(3)), ag.tensor(np.full(3, 5.0))
    assert step(x, x).item() == 0.0
    assert step(x, y).item() == -12.0  # was 0.0: the program traced with (x, x) read `a` for both
    assert step(x, x.data).item() == 0.0 and step(x, y.data).item() == -12.0  # an argument's array, passed bare
    assert step.cache_info().misses == 4


def test_python_floats_are_keyed_by_their_bits():
    step = ag.compile(lambda x, c: x * c)
    x = ag.tensor(np.array([1.0]))
    step(x, 0.0)
    assert np.signbit(step(x, -0.0).data[0])  # -0.0 == 0.0, but the program holds the number it traced
    assert np.isnan(step(x, float("nan")).data[0]) and np.isnan(step(x, float("nan")).data[0])
    assert step.cache_info().hits == 1  # a second nan is the same signature (nan != nan)
    assert step(x, np.float32(2.0)).data[0] == 2.0 and step(x, np.float32(3.0)).data[0] == 3.0


# ---- state changed from outside between calls -------------------------------------------------------------------
def _linear_step():
    model = nn.Linear(3, 2, seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_a_layer_frozen_with_requires_grad_false_is_seen():
    model, step = _linear_step()
    compiled = ag.compile(step)
    compiled(ag.ones(4, 3))
    model.weight.requires_grad_(False)  # fine-tuning: freeze a layer between steps
    w, b = model.weight.data.copy(), model.bias.data.copy()
    compiled(ag.ones(4, 3))
    np.testing.assert_array_equal(model.weight.data, w)  # was updated: the program stored a gradient anyway
    assert model.weight.grad is None and not np.array_equal(model.bias.data, b)
    model.weight.requires_grad_(True)
    compiled(ag.ones(4, 3))
    assert model.weight.grad is not None and compiled.cache_info().misses == 3


def test_a_parameter_given_a_new_shape_is_seen():
    w = nn.Parameter(np.array([1.5, 2.5, 3.5]))

    def f(x):
        w.grad = None
        loss = (x * w).sum()
        loss.backward()
        return loss

    compiled = ag.compile(f)
    compiled(ag.ones(3, dtype=np.float64))
    w.data = np.array([2.0])  # broadcasts against x as well: the old program summed to shape (3,)
    assert compiled(ag.ones(3, dtype=np.float64)).item() == 6.0
    assert w.grad.shape == (1,) and w.grad.data[0] == 3.0


def test_a_parameter_equal_to_an_argument_is_not_taken_for_a_copy():
    w = nn.Parameter(np.ones(3))  # equal to the argument by chance: was refused as "a copy of an argument"
    _same_each_call(lambda x: (x * w).sum(), lambda i: (ag.ones(3, dtype=np.float64) * (i + 1),))
    with pytest.raises(ag.TraceError, match="computed outside ops"):  # a copy made inside the function still is
        ag.compile(lambda x: (ag.tensor(x * 1) * x).sum())(ag.ones(3, dtype=np.float64))


# ---- hooks ------------------------------------------------------------------------------------------------------
def test_tensor_hooks_are_refused_not_skipped():
    w = nn.Parameter(np.array([1.0, 2.0]))

    def f(x):
        w.grad = None
        h = x * w
        h.register_hook(lambda g: g * 10)
        h.sum().backward()
        return h

    with pytest.raises(ag.TraceError, match="tensor hooks.*line|tensor hooks"):
        ag.compile(f)(ag.ones(2, dtype=np.float64))

    def g(x):
        w.grad = None
        (x * w).sum().backward()
        return w.grad

    compiled = ag.compile(g)
    compiled(ag.ones(2, dtype=np.float64))
    handle = w.register_hook(lambda grad: grad * 10)  # registered after tracing: a new trace, which refuses it
    with pytest.raises(ag.TraceError, match="register_hook"):
        compiled(ag.ones(2, dtype=np.float64))
    handle.remove()
    np.testing.assert_array_equal(compiled(ag.ones(2, dtype=np.float64)).data, [1.0, 1.0])
