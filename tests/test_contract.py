"""Regression tests for the engine contract (issue #11): each numbered case of the issue, checked against
PyTorch (float64; its recorded answers when it is not installed) and against float64 finite differences of the
first derivative always."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_mini as ag
from tests._fd import hessian, hessian_fd
from tests._oracle import oracle

try:
    import torch
except ImportError:  # PyTorch's recorded answers stand in (tests/_oracle.py)
    torch = None



class AgLib:
    """The few functions the cases use, spelled once for both libraries."""
    exp, sqrt, tanh, log = staticmethod(ag.exp), staticmethod(ag.sqrt), staticmethod(ag.tanh), staticmethod(ag.log)
    logsumexp = staticmethod(lambda x: ag.logsumexp(x))
    detach = staticmethod(lambda x: x.detach())
    raw = staticmethod(lambda x: x.data)  # the ndarray itself: an alias that carries no graph
    flip = staticmethod(lambda x: x[::-1])
    cat = staticmethod(lambda xs: ag.concatenate(xs))
    where = staticmethod(lambda c, a, b: ag.where(c.data > 0, a, b))
    maximum = staticmethod(ag.maximum)


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
        flip = staticmethod(lambda x: x.flip(0))
        cat = staticmethod(lambda xs: torch.cat(xs))
        where = staticmethod(lambda c, a, b: torch.where(c > 0, a, b))
        maximum = staticmethod(lambda a, b: torch.maximum(a, torch.as_tensor(b, dtype=a.dtype)))


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
# found attacking the contract: views of the same leaf, joins with a detached copy, size 0
ADVERSARIAL = {
    "x * x.T": (lambda x, m: (x.reshape(2, 2) * x.reshape(2, 2).T).sum() ** 2, [0.5, -1.0, 2.0, 0.3]),
    "x * flip(x)": (lambda x, m: m.exp(x * m.flip(x)).sum(), [0.5, -1.0, 0.2]),
    "concat(x, x.detach())": (lambda x, m: (m.cat([x, m.detach(x)]) ** 3).sum(), [0.5, -1.0]),
    "where(x, x.detach())": (lambda x, m: (m.where(x, x * x, m.detach(x) ** 3)).sum() * x.sum(), [0.5, -1.0]),
    "0-d x[0] * x[0]": (lambda x, m: m.exp(x[0] * x[0]) * x[1], [0.5, -1.0]),
    "maximum of a 0-d sum": (lambda x, m: m.maximum(x.sum() * x.sum(), 0.1) * x[0], [0.5, 1.0]),
    "x * x * x (one tensor thrice)": (lambda x, m: (x * x * x).sum(), [0.5, -1.0]),
    "size 0": (lambda x, m: (x * x).sum() + (x[:0] * x[:0]).sum(), [0.5, -1.0]),
}
CASES = {**ZERO_D, **ALIASED, **ADVERSARIAL}


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


@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_match_pytorch(name):
    f, x = CASES[name]
    np.testing.assert_allclose(hessian(lambda t: f(t, AgLib), np.array(x)), oracle(lambda: torch_hessian(f, x)),
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


# case 4: in-place writes to saved memory, directly or through views, are refused at the write
VIEWS = {
    "reshape": lambda t: t.reshape(-1),
    "transpose": lambda t: t.transpose(),
    ".T": lambda t: t.T,
    "basic indexing": lambda t: t[0],
    "negative-step slice": lambda t: t[::-1],
    "expand_dims": lambda t: t.expand_dims(0),
    "squeeze": lambda t: t.reshape(1, 2, 2).squeeze(0),
    "broadcast_to": lambda t: t.broadcast_to((3, 2, 2)),
    "swapaxes": lambda t: t.swapaxes(0, 1),
    "flatten": lambda t: t.flatten(),
}


def _w():
    return ag.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=np.float64, requires_grad=True)


def _refused(write):
    with pytest.raises(ValueError, match="read-only"):
        write()


@pytest.mark.parametrize("view", list(VIEWS))
def test_case4_write_through_a_view_of_a_saved_output_is_refused(view):
    x = _w()
    y = x.exp()                                  # Exp saves its output
    _refused(lambda: VIEWS[view](y).data.__setitem__(Ellipsis, 0.0))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data))  # never a wrong gradient


@pytest.mark.parametrize("view", list(VIEWS))
def test_case4_write_through_a_view_of_a_saved_input_is_refused(view):
    w = _w()
    loss = (w * w).sum()
    _refused(lambda: VIEWS[view](w).data.__setitem__(Ellipsis, 100.0))
    _refused(lambda: np.asarray(VIEWS[view](w)).__setitem__(Ellipsis, 100.0))
    loss.backward()
    np.testing.assert_allclose(w.grad.data, 2 * w.data)
    w.data[0, 0] = 5.0                           # backward gave the memory back: writes work again
    assert w.data[0, 0] == 5.0


@pytest.mark.parametrize("view", list(VIEWS))
def test_case4_a_view_made_before_the_save_is_refused_too(view):
    w = _w()
    v = VIEWS[view](w)                           # op-made views are read-only from the start
    loss = (w * w).sum()
    _refused(lambda: v.data.__setitem__(Ellipsis, 100.0))
    loss.backward()
    np.testing.assert_allclose(w.grad.data, 2 * w.data)


@pytest.mark.parametrize("view", list(VIEWS))
def test_case4_write_to_the_base_of_a_saved_view_is_refused(view):
    w = _w()
    v = VIEWS[view](w)
    loss = (v * v).sum()                         # saves the view; its memory is w's
    _refused(lambda: w.data.__setitem__((0, 0), 100.0))
    _refused(lambda: w.data.T.__setitem__((0, 0), 100.0))   # numpy views of a held array are read-only
    loss.backward()
    assert np.isfinite(w.grad.data).all()
    w.data[0, 0] = 7.0                           # and writable again after backward
    assert w.data[0, 0] == 7.0


def test_case4_the_issue_examples():
    x = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = x.exp()
    _refused(lambda: y.reshape(2, 1).data.__setitem__(Ellipsis, 0))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp([1.0, 2.0]))
    w = ag.tensor([[1.0, 2.0]], dtype=np.float64, requires_grad=True)
    loss = (w * w).sum()
    _refused(lambda: w.T.data.__setitem__((0, 0), 100))
    loss.backward()
    np.testing.assert_allclose(w.grad.data, [[2.0, 4.0]])


def test_case4_the_array_a_tensor_was_made_from_is_held_too():
    a = np.array([1.0, 2.0])
    x = ag.as_tensor(a).requires_grad_()     # shares a (no copy)
    c = np.array([3.0, 4.0])
    y = (x * c).sum()                            # c, a raw constant operand, is saved too
    _refused(lambda: a.__setitem__(0, 9.0))
    _refused(lambda: c.__setitem__(0, 9.0))
    del y                                        # a graph dropped without backward gives both back
    a[0], c[0] = 9.0, 9.0


def test_case4_reassigning_data_is_refused_at_backward_naming_the_op():
    x = ag.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = (x.sin() * 2).sum()
    x.data = np.array([0.0, 0.0])                # a new array: the saved one is intact
    with pytest.raises(RuntimeError, match=r"input 0 of `Sin` \(shape \(2,\)\), saved for backward, was given"):
        y.backward()


def test_case4_an_abandoned_graph_leaves_no_read_only_memory():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x.exp() * x).sum()                      # recorded and dropped at once
    x.data[0] = 4.0
    assert x.data[0] == 4.0


def test_size_0_tensors_second_order():
    x = ag.tensor(np.zeros((0, 3)), requires_grad=True)
    (g,) = ag.grad_of((x * x).sum(), [x], create_graph=True)
    assert g.shape == (0, 3)
    (h,) = ag.grad_of(g.sum(), [x], allow_unused=True)
    assert h is None or h.shape == (0, 3)


@pytest.mark.parametrize("how", ["numpy()", "np.asarray", "original array", "detach().data", "data.T view"])
def test_every_route_to_a_saved_leaf_array_is_refused(how):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = ag.as_tensor(a).requires_grad_()
    y = (x.sin() * 2).sum()
    route = {"numpy()": lambda: x.numpy(), "np.asarray": lambda: np.asarray(x), "original array": lambda: a,
             "detach().data": lambda: x.detach().data, "data.T view": lambda: x.data.T}[how]
    _refused(lambda: route().__setitem__((0, 0), 9.0))
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.cos(a))


def test_retain_graph_keeps_the_hold_until_the_last_backward():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    _refused(lambda: x.data.__setitem__(0, 5.0))
    y.backward()
    x.data[0] = 5.0


def test_a_create_graph_gradient_holds_its_leaf_until_dropped():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)  # x.grad = 3x^2 carries a graph that saved x
    _refused(lambda: x.data.__setitem__(0, 5.0))
    x.grad = None
    x.data[0] = 5.0
