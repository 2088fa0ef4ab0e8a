"""detect_anomaly: the first op making NaN/inf is named (creator vs carrier), backward results are
checked, and nothing is left installed afterwards."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini.grad_mode import state


def leaf(values):
    return ag.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_log_of_zero_names_the_op_and_where():
    x = leaf([1.0, 0.0, 2.0])
    with pytest.raises(ag.AnomalyError) as e, ag.detect_anomaly():
        y = ag.log(x)  # line of creation
        (y * 2).sum().backward()
    msg = str(e.value)
    assert "forward of `Log` produced inf" in msg and "(3,) float64" in msg
    assert "this op created it" in msg and "test_anomaly.py" in msg


def test_overflowing_exp_is_caught():
    x = leaf([1.0, 800.0])
    with pytest.raises(ag.AnomalyError, match="`Exp` produced inf.*created it"), ag.detect_anomaly(), \
            np.errstate(over="ignore"):
        ag.exp(x * 1.0).sum()


def test_op_that_only_passes_nan_on_is_told_apart():
    x = leaf([1.0, np.nan])
    with pytest.raises(ag.AnomalyError, match="`Mul` produced nan.*only passed it on: input"), ag.detect_anomaly():
        x * 2.0


def test_backward_inf_is_caught_at_the_creating_op():
    x = leaf([0.0, 4.0])
    y = ag.sqrt(x)  # forward is finite: sqrt(0) = 0, but its derivative is inf
    with pytest.raises(ag.AnomalyError, match="backward of `Sqrt`.*created inf"), ag.detect_anomaly(), \
            np.errstate(divide="ignore"):
        (y * 3.0).sum().backward()


class _Custom(ag.Function):
    mode = ""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x.copy())  # a constant: held read-only too, like every array an op keeps
        return x * 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        mode = _Custom.mode
        if mode == "dtype":
            return (2 * g).astype(np.float32)
        if mode == "alias":
            return x
        if mode == "mutate_g":
            g *= 2
            return g.copy()
        if mode == "mutate_saved":
            x += 1
            return 2 * g
        if mode == "shape":
            return (2 * g)[:1].reshape(1, 1, 1)
        return 2 * g


@pytest.mark.parametrize("mode, words", [
    ("dtype", "dtype float32, expected float64"), ("alias", "shares memory"),
    ("mutate_g", "modified its incoming gradient"), ("shape", "has shape (1, 1, 1), expected (3,)"),
])
def test_backward_results_are_checked(mode, words):
    _Custom.mode = mode
    try:
        with pytest.raises(ag.AnomalyError) as e, ag.detect_anomaly():
            (_Custom.apply(leaf([1.0, 2.0, 3.0])) * 1.0).sum().backward()
        assert words in str(e.value) and "backward of `_Custom`" in str(e.value)
    finally:
        _Custom.mode = ""


def test_a_backward_writing_into_a_kept_constant_is_refused_at_the_write():
    _Custom.mode = "mutate_saved"
    try:
        for anomaly in (False, True):
            with pytest.raises(ValueError, match="read-only"), (ag.detect_anomaly() if anomaly else nullcontext()):
                (_Custom.apply(leaf([1.0, 2.0, 3.0])) * 1.0).sum().backward()
    finally:
        _Custom.mode = ""


def test_clean_run_passes_and_leaves_nothing_installed():
    before = (state.forward_hooks, state.backward_hooks, state.capture_trace)
    w = leaf(np.ones((3, 2)))
    with ag.detect_anomaly():
        loss = ag.log_softmax(ag.tanh(leaf(np.ones((4, 3))) @ w), axis=1).mean()
        loss.backward()
        assert loss.grad_fn.trace and "test_anomaly.py" in loss.grad_fn.trace
    assert w.grad is not None and np.isfinite(w.grad.data).all()
    assert (state.forward_hooks, state.backward_hooks, state.capture_trace) == before == ((), (), False)
    with pytest.raises(ag.AnomalyError), ag.detect_anomaly():
        ag.log(leaf([0.0]))
    assert (state.forward_hooks, state.backward_hooks, state.capture_trace) == ((), (), False)
    assert ag.log(leaf([1.0])).grad_fn.trace is None  # off: no trace recorded


def test_create_graph_backward_is_checked_too():
    x = leaf([1.0, 2.0])
    with ag.detect_anomaly():
        (g,) = ag.grad_of((x ** 3).sum(), [x], create_graph=True)
        g.sum().backward()
    np.testing.assert_allclose(x.grad.data, [6.0, 12.0])


def test_decorator_and_an_nn_training_step_run_clean():
    nn = pytest.importorskip("nn")
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 3, seed=1))
    x, y = ag.tensor(np.random.default_rng(0).standard_normal((5, 3), np.float32)), np.array([0, 1, 2, 1, 0])

    @ag.detect_anomaly()
    def step():
        loss = nn.CrossEntropyLoss()(model(x), y) + nn.L2Penalty(1e-3)(model)
        loss.backward()
        return loss

    assert np.isfinite(step().item()) and state.forward_hooks == ()
    assert all(p.grad is not None for p in model.parameters())
