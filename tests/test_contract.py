"""Regression tests for the engine contract (issue #11): each numbered case of the issue, checked against
PyTorch (float64) when it is installed and against float64 finite differences of the first derivative always."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_mini as ag
from tests._fd import hessian, hessian_fd

try:
    import torch
except ImportError:  # the finite-difference checks below still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (optional oracle: pip install torch)")


class AgLib:
    """The few functions the cases use, spelled once for both libraries."""
    exp, sqrt, tanh, log = staticmethod(ag.exp), staticmethod(ag.sqrt), staticmethod(ag.tanh), staticmethod(ag.log)
    logsumexp = staticmethod(lambda x: ag.logsumexp(x))
    detach = staticmethod(lambda x: x.detach())
    raw = staticmethod(lambda x: x.data)  # the ndarray itself: an alias that carries no graph


class FrozenLib(AgLib):
    """AgLib whose detached values stay those of the first call: finite differences then see a detached
    operand as the constant it is to the derivative (perturbing x must not move it)."""

    def __init__(self) -> None:
        self.values: list = []
        self.calls = 0

    def detach(self, x):
        if self.calls == len(self.values):
            self.values.append(np.array(x.data))
        self.calls += 1
        return ag.tensor(self.values[self.calls - 1])

    raw = detach

    def __call__(self):  # a new evaluation replays from the start
        self.calls = 0
        return self


class TorchLib:
    if torch is not None:
        exp, sqrt, tanh, log = (staticmethod(f) for f in (torch.exp, torch.sqrt, torch.tanh, torch.log))
        logsumexp = staticmethod(lambda x: torch.logsumexp(x, dim=tuple(range(x.ndim))))
        detach = staticmethod(lambda x: x.detach())
        raw = staticmethod(lambda x: x.detach())


# case 1: 0-d intermediates (full reductions, x[0]) whose op saved its output or input
ZERO_D = {
    "exp of 0-d": (lambda x, m: m.exp(x.sum()), [1.0]),
    "sqrt(mean(x**2))": (lambda x, m: m.sqrt((x**2).mean()), [1.0, 2.0, -0.5]),
    "exp(sum) * sum": (lambda x, m: m.exp(x.sum()) * x.sum(), [0.3, -0.2]),
    "tanh(sum)": (lambda x, m: m.tanh(x.sum()), [0.3, 0.4]),
    "sqrt(sum)": (lambda x, m: m.sqrt(x.sum()), [0.7, 1.1]),
    "pow with a tensor exponent": (lambda x, m: x.sum() ** x[0], [1.5, 0.5]),
    "logsumexp to 0-d": (lambda x, m: m.logsumexp(x) * x[1], [0.2, -1.0, 0.5]),
    "log of x[0]": (lambda x, m: m.log(x[0]) * x[1] ** 2, [1.5, 0.5]),
}
# case 2: the same memory reaching an op twice, once without graph
ALIASED = {
    "x * x.detach()": (lambda x, m: (x * m.detach(x)).sum(), [1.0, 2.0]),
    "x.detach() * x": (lambda x, m: (m.detach(x) * x).sum(), [1.0, 2.0]),
    "x * x.data": (lambda x, m: (x * m.raw(x)).sum(), [1.0, 2.0]),
    "x / x.detach()": (lambda x, m: (x / m.detach(x)).sum(), [1.0, 2.0]),
    "exp(x * x.detach())": (lambda x, m: m.exp(x * m.detach(x)).sum(), [0.5, -0.3]),
    "x.detach() / x": (lambda x, m: (m.detach(x) / x).sum(), [1.0, 2.0]),
    "0-d alias: s * s.detach()": (lambda x, m: x.sum() * m.detach(x.sum()) * x[0], [0.5, 1.5]),
}
CASES = {**ZERO_D, **ALIASED}


def torch_hessian(f, x):
    t = torch.tensor(np.asarray(x, dtype=np.float64))
    return torch.autograd.functional.hessian(lambda u: f(u, TorchLib), t).numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_match_finite_differences(name):
    f, x = CASES[name]
    x = np.array(x)
    frozen = FrozenLib()
    np.testing.assert_allclose(hessian(lambda t: f(t, AgLib), x), hessian_fd(lambda t: f(t, frozen()), x),
                               rtol=1e-6, atol=1e-6, err_msg=name)


@needs_torch
@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_match_pytorch(name):
    f, x = CASES[name]
    np.testing.assert_allclose(hessian(lambda t: f(t, AgLib), np.array(x)), torch_hessian(f, x),
                               rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_issue_examples_verbatim():
    e = ag.grad(ag.grad(lambda t: t.exp()))(ag.tensor(1.0, dtype=np.float64))
    assert e.item() == pytest.approx(math.e, rel=1e-12)
    x = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    second = ag.grad(lambda t: ag.grad(lambda u: (u * u.detach()).sum())(t).sum())(x)
    assert np.array_equal(second.data, [0.0, 0.0])


def test_case3_backward_with_create_graph_retains_the_graph():
    x = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = (x * x * x).sum()
    y.backward(create_graph=True)               # retain_graph defaults to create_graph
    assert np.allclose(x.grad.data, [3.0, 12.0])
    x.grad.sum().backward()                     # no "backward through `Mul` a second time"
    assert np.allclose(x.grad.data, [3.0 + 6.0, 12.0 + 12.0])  # PyTorch: [9, 24]
    y2 = (x * x).sum()
    y2.backward()                               # without create_graph the graph is still freed
    with pytest.raises(RuntimeError, match="a second time"):
        y2.backward()


@pytest.mark.parametrize("kind", ["tensor", "ndarray"])
def test_case5_the_gradient_passed_to_backward_is_copied(kind):
    x = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    gt = ag.tensor([1.0, 1.0], dtype=np.float64) if kind == "tensor" else np.ones(2)
    (x + 0).backward(gt)
    (gt.data if kind == "tensor" else gt)[...] = 5.0
    assert np.array_equal(x.grad.data, [1.0, 1.0])
    x2 = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    x2.backward(gt)                             # a leaf root: its gradient is the seed itself
    assert not np.shares_memory(x2.grad.data, np.asarray(gt))


def test_leaf_gradients_never_share_memory():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()                    # add passes the same array to both inputs
    assert not np.shares_memory(a.grad.data, b.grad.data)
    c = ag.tensor([[1.0, 2.0]], requires_grad=True)
    c.reshape(2).sum().backward()               # reshape's derivative is a view
    assert c.grad.data.base is None


class Softplus(ag.Function):
    """The docs' custom op: one backward, written with ag functions, no type branching."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ag.sigmoid(x)


def test_custom_function_gets_second_derivatives_for_free():
    x = np.array([-2.0, 0.0, 3.0])
    f = lambda t: Softplus.apply(t).sum()  # noqa: E731
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(hessian(f, x), np.diag(s * (1 - s)), rtol=1e-12)
    t = ag.tensor(x, requires_grad=True)
    Softplus.apply(t).sum().backward()
    assert isinstance(t.grad.data, np.ndarray) and t.grad.grad_fn is None
    np.testing.assert_allclose(t.grad.data, s, rtol=1e-12)
