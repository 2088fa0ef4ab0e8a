"""Adversarial checks of the engine contract (issue #11): higher order on every built-in op, detached and
aliased operands, views, custom Functions, grad_outputs, in-place safety, graph lifetime, argument kinds.

PyTorch (float64) is the oracle: live when installed, else its answers recorded in
tests/oracle/test_adversarial_engine.jsonl (tests/_oracle.py).
"""

from __future__ import annotations

import copy
import gc
import pickle
import threading
import weakref

import numpy as np
import pytest

import autograd_mini as ag
import nn
from tests._oracle import oracle

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers (tests/_oracle.py)
    torch = None


# name: (autograd_mini function, the same in torch or None); every function maps a float64 tensor to a tensor
UNARY = {
    "exp": (ag.exp, "exp"), "log": (ag.log, "log"), "sqrt": (ag.sqrt, "sqrt"), "abs": (ag.abs, "abs"),
    "sin": (ag.sin, "sin"), "cos": (ag.cos, "cos"), "tanh": (ag.tanh, "tanh"), "sigmoid": (ag.sigmoid, "sigmoid"),
    "relu": (ag.relu, "relu"), "neg": (lambda x: -x, None), "cube": (lambda x: x ** 3, None),
    "x_pow_x": (lambda x: x ** x, None), "two_pow_x": (lambda x: 2.0 ** x, None),
    "pow_half": (lambda x: x ** 0.5, None),
    "x_times_x": (lambda x: x * x, None), "x_div_x": (lambda x: x / x, None),
    "x_times_detached": (lambda x: x * x.detach(), None), "detached_times_x": (lambda x: x.detach() * x, None),
    "x_times_data": (lambda x: x * x.data, None), "data_times_x": (lambda x: x.data * x, None),
    "x_div_detached": (lambda x: x / x.detach(), None), "detached_div_x": (lambda x: x.detach() / x, None),
    "x_pow_detached": (lambda x: x ** x.detach(), None), "detached_pow_x": (lambda x: x.detach() ** x, None),
    "exp_x_times_detached": (lambda x: ag.exp(x * x.detach()), "exp_x_times_detached"),
    "maximum_detached": (lambda x: ag.maximum(x * x, x.detach()), "maximum_detached"),
    "minimum": (lambda x: ag.minimum(x ** 3, x ** 2), "minimum"),
    "clip": (lambda x: ag.clip(x * x, 0.1, 0.5), "clip"),
    "where": (lambda x: ag.where(x > 0.6, x ** 3, x ** 2), "where"),
    "sign_times": (lambda x: ag.sign(x) * x ** 2, "sign_times"),
    "sum_to_0d": (lambda x: ag.sum(x * x) ** 2, "sum_to_0d"),
    "mean_to_0d": (lambda x: ag.mean(x ** 3) ** 2, "mean_to_0d"),
    "max_to_0d": (lambda x: ag.max(x ** 3) ** 2, "max_to_0d"),
    "logsumexp": (lambda x: ag.logsumexp(x * x), "logsumexp"),
    "reshape_view": (lambda x: x.reshape(-1) ** 3, "reshape_view"),
    "T_view_detached": (lambda x: (x.T * x.detach().T) ** 2, None),
    "expand_dims_view": (lambda x: ag.expand_dims(x, 0) ** 3, "expand_dims_view"),
    "squeeze_view": (lambda x: ag.squeeze(ag.expand_dims(x, 0), 0) ** 3, "squeeze_view"),
    "broadcast_view": (lambda x: ag.broadcast_to(x, (3,) + x.shape) ** 3, "broadcast_view"),
    "ellipsis_index": (lambda x: (x[...] * x) ** 2, None),
    "float32_round_trip": (lambda x: (x.astype(np.float32) ** 3).astype(np.float64), "float32_round_trip"),
}
TORCH_ONLY = {  # the torch spelling where it differs from ours
    "exp_x_times_detached": lambda x: torch.exp(x * x.detach()),
    "maximum_detached": lambda x: torch.maximum(x * x, x.detach()),
    "minimum": lambda x: torch.minimum(x ** 3, x ** 2), "clip": lambda x: torch.clamp(x * x, 0.1, 0.5),
    "where": lambda x: torch.where(x > 0.6, x ** 3, x ** 2), "sign_times": lambda x: torch.sign(x) * x ** 2,
    "sum_to_0d": lambda x: torch.sum(x * x) ** 2, "mean_to_0d": lambda x: torch.mean(x ** 3) ** 2,
    "max_to_0d": lambda x: torch.max(x ** 3) ** 2,
    "logsumexp": lambda x: torch.logsumexp(x * x, dim=tuple(range(x.dim()))),
    "reshape_view": lambda x: x.reshape(-1) ** 3, "expand_dims_view": lambda x: x.unsqueeze(0) ** 3,
    "squeeze_view": lambda x: x.unsqueeze(0).squeeze(0) ** 3,
    "broadcast_view": lambda x: torch.broadcast_to(x, (3,) + x.shape) ** 3,
    "float32_round_trip": lambda x: (x.float() ** 3).double(),
    "T_view_detached": lambda x: (x * x.detach()) ** 2,  # .T of a 0-d or 1-d tensor is itself
}
MATRIX = {
    "matmul": (lambda x: (x @ x.T) ** 2, lambda x: (x @ x.T) ** 2),
    "matmul_detached": (lambda x: (x @ x.detach().T) ** 2, lambda x: (x @ x.detach().T) ** 2),
    "linear": (lambda x: ag.linear(x, (x * 2).T, x[0, :2] * 1.0) ** 2,
               lambda x: torch.nn.functional.linear(x, x * 2, x[0, :2]) ** 2),
    "transpose": (lambda x: ag.transpose(x, 1, 0) ** 3, lambda x: x.permute(1, 0) ** 3),
    "basic_index": (lambda x: x[0] * x[1] * x[:, 1:].sum(), lambda x: x[0] * x[1] * x[:, 1:].sum()),
    "fancy_index": (lambda x: x[[0, 0, 1]] ** 3, lambda x: x[[0, 0, 1]] ** 3),
    "sum_axis": (lambda x: x.sum(axis=1) ** 3, lambda x: x.sum(1) ** 3),
    "max_axis": (lambda x: ag.max(x ** 2, axis=0) ** 3, lambda x: torch.amax(x ** 2, 0) ** 3),
    "concatenate": (lambda x: ag.concatenate([x, x * x], 0) ** 2, lambda x: torch.cat([x, x * x], 0) ** 2),
    "stack": (lambda x: ag.stack([x, x * x], 0) ** 2, lambda x: torch.stack([x, x * x], 0) ** 2),
    "logsumexp_axis": (lambda x: ag.logsumexp(x * x, axis=1), lambda x: torch.logsumexp(x * x, 1)),
    "var_axis": (lambda x: ag.var(x * x, axis=1, ddof=1), lambda x: torch.var(x * x, 1)),
    "std_all": (lambda x: ag.std(x ** 2 + x), lambda x: torch.std(x ** 2 + x, unbiased=False)),
    "softmax": (lambda x: ag.softmax(x * x, axis=-1) ** 2, lambda x: torch.softmax(x * x, -1) ** 2),
    "log_softmax": (lambda x: ag.log_softmax(x * x, axis=-1) ** 2, lambda x: torch.log_softmax(x * x, -1) ** 2),
    "split": (lambda x: ag.split(x, 3, axis=1)[1] ** 3, lambda x: torch.split(x, 1, 1)[1] ** 3),
}


def _ours(f, x0):
    """First, second and third derivatives of sum(f) (each summed before the next) by the engine."""
    x = ag.tensor(x0, requires_grad=True)
    (g,) = ag.grad_of(f(x).sum(), [x], create_graph=True)
    h = ag.grad_of(g.sum(), [x], create_graph=True, allow_unused=True)[0] if g.requires_grad else None
    h3 = ag.grad_of(h.sum(), [x], allow_unused=True)[0] if h is not None and h.requires_grad else None
    return [np.zeros_like(x0) if d is None else d.numpy() for d in (g, h, h3)]


def _torch(f, x0):
    x = torch.tensor(x0, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), [x], create_graph=True)
    h = torch.autograd.grad(g.sum(), [x], create_graph=True, allow_unused=True)[0] if g.requires_grad else None
    h3 = torch.autograd.grad(h.sum(), [x], allow_unused=True)[0] if h is not None and h.requires_grad else None
    return [np.zeros_like(x0) if d is None else d.detach().numpy(force=True) for d in (g, h, h3)]


def _compare(f, tf, x0):
    """Three orders of f against PyTorch's tf (live, or its recorded answer)."""
    want = oracle(lambda: _torch(tf, x0))
    for order, (a, b) in enumerate(zip(_ours(f, x0), want), 1):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, err_msg=f"derivative of order {order}")


@pytest.mark.parametrize("shape", [(), (3,)], ids=["0d", "vector"])
@pytest.mark.parametrize("name", list(UNARY))
def test_three_orders_of_every_unary_case(name, shape):
    f, spelling = UNARY[name]
    x0 = np.array([0.7, 1.3, 0.4])[: shape[0]] if shape else np.array(0.7)

    def tf(x):
        return (TORCH_ONLY.get(name) or (f if spelling is None else getattr(torch, spelling)))(x)

    _compare(f, tf, x0)


@pytest.mark.parametrize("name", list(MATRIX))
def test_three_orders_of_matrix_ops(name):
    f, tf = MATRIX[name]
    x0 = np.random.default_rng(0).uniform(0.3, 1.2, (2, 3))
    _compare(f, tf, x0)


def test_mixed_float32_float64_second_order_keeps_each_dtype():
    x = ag.tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    w = ag.tensor(np.array([2.0, 3.0]), requires_grad=True)
    gx, gw = ag.grad_of((ag.exp(x * w) * x).sum(), [x, w], create_graph=True)
    hx, hw = ag.grad_of(gx.sum() + gw.sum(), [x, w])
    assert (gx.dtype, gw.dtype, hx.dtype, hw.dtype) == (np.float32, np.float64, np.float32, np.float64)
    x64, w64 = np.array([0.5, 1.5]), w.numpy()
    e = np.exp(x64 * w64)  # d/dx = e(wx + 1), d/dw = e x^2; their sum's derivatives:
    np.testing.assert_allclose(hx, e * (w64 * (w64 * x64 + 1) + w64) + e * (w64 * x64 ** 2 + 2 * x64), rtol=1e-5)
    np.testing.assert_allclose(hw, e * (x64 * (w64 * x64 + 1) + x64) + e * x64 ** 3, rtol=1e-12)


# ---- custom Functions ---------------------------------------------------------------------------------------
class AgCube(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class AgExp(ag.Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class AsarraySquare(ag.Function):
    """A numpy-only backward that never fails on a Tensor: np.asarray strips the graph silently."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * np.asarray(x) * np.asarray(g)


class UfuncCube(ag.Function):
    """A numpy-only backward, marked with the opt-out."""

    @staticmethod
    def forward(ctx, x):
        return x ** 3

    @staticmethod
    @ag.once_differentiable
    def backward(ctx, g, x):
        return np.multiply(3 * np.square(x), g)


def test_custom_function_with_ag_backward_gives_higher_order_for_free():
    x = ag.tensor(np.array([0.5, 1.5]), requires_grad=True)
    (g,) = ag.grad_of(AgCube.apply(x).sum(), [x], create_graph=True)
    (h,) = ag.grad_of(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())
    x.grad = None
    AgExp.apply(x).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.numpy()))
    x0 = ag.tensor(np.float64(0.7), requires_grad=True)  # 0-d, through a detached alias
    h = ag.grad(ag.grad(lambda t: AgExp.apply(t * t.detach())))(x0)
    np.testing.assert_allclose(h.numpy(), 0.49 * np.exp(0.49))


@pytest.mark.parametrize("fn", [AsarraySquare, UfuncCube])
def test_numpy_backward_raises_at_second_order_even_beside_a_differentiable_part(fn):
    # before the fix, AsarraySquare's 2x came back as a constant: d2/dx2 (x^2 + x^3) was 6x, silently
    x = ag.tensor(np.array([0.5, 1.5]), requires_grad=True)
    (g,) = ag.grad_of((fn.apply(x) + x ** 3).sum(), [x], create_graph=True)
    first = 2 * x.numpy() if fn is AsarraySquare else 3 * x.numpy() ** 2
    np.testing.assert_allclose(g.numpy(), first + 3 * x.numpy() ** 2)  # first order stays exact
    with pytest.raises(RuntimeError, match=f"`{fn.__name__}` cannot be differentiated twice"):
        ag.grad_of(g.sum(), [x])
    x.grad = None
    fn.apply(x).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match=fn.__name__):
        x.grad.sum().backward()


# ---- backward arguments, accumulation, grad_of -------------------------------------------------------------
def test_retain_graph_defaults_to_create_graph():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(create_graph=True)
    y.backward()  # the graph was kept
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()


def test_backward_gradient_is_copied_and_grads_accumulate():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 1.0
    gt = np.array([1.0, 1.0])
    y.backward(gradient=gt, retain_graph=True)
    first = x.grad
    gt[0] = 100.0
    np.testing.assert_array_equal(first.numpy(), [1.0, 1.0])
    y.backward(gradient=gt)
    np.testing.assert_array_equal(x.grad.numpy(), [101.0, 2.0])
    np.testing.assert_array_equal(first.numpy(), [1.0, 1.0])  # the earlier .grad is not changed in place
    leaf = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    g = np.array([3.0, 4.0])
    leaf.backward(gradient=g)
    g[0] = 50.0
    np.testing.assert_array_equal(leaf.grad.numpy(), [3.0, 4.0])


def test_a_leaf_used_many_times_accumulates_every_path():
    x0 = np.array([1.0, 2.0])
    x = ag.tensor(x0, requires_grad=True)
    (x * x + x * 3 + ag.exp(x) * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x0 + 3 + np.exp(x0) * (1 + x0))


def test_grad_of_lists_and_allow_unused():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    z = ag.tensor(np.array([3.0]), requires_grad=True)
    gx, gz = ag.grad_of([x.sum(), (x * x).sum()], [x, z], allow_unused=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0, 5.0])
    assert gz is None
    (g,) = ag.grad_of([x * 2, x * x], [x], grad_outputs=[np.array([1.0, 0.0]), ag.tensor(np.array([0.0, 1.0]))])
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    with pytest.raises(ValueError, match=r"grad_outputs entry 0 has shape \(3,\), expected \(2,\)"):
        ag.grad_of([x * 2], [x], grad_outputs=[np.ones(3)])


@pytest.mark.parametrize("as_list", [False, True], ids=["one_output", "list"])
def test_grad_outputs_that_require_grad_are_differentiated_through(as_list):
    # torch: g = J^T v with v = x gives 2x*x; its derivative is 4x (we gave 2x, then 3x^2 for a list, silently)
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    (g,) = ag.grad_of([y] if as_list else y, [x], grad_outputs=[x] if as_list else x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [2.0, 8.0])
    (h,) = ag.grad_of(g.sum(), [x])
    np.testing.assert_array_equal(h.numpy(), [4.0, 8.0])

    def in_pytorch():
        xt = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
        (gt,) = torch.autograd.grad([xt * xt], [xt], grad_outputs=[xt], create_graph=True)
        return torch.autograd.grad(gt.sum(), [xt])[0]

    np.testing.assert_array_equal(oracle(in_pytorch), h.numpy())


def test_contract_api_refuses_wrong_kinds_clearly():
    t = ag.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="outputs must be a Tensor or a list"):
        ag.grad_of(None, [t])
    with pytest.raises(TypeError, match="inputs must be a list or tuple of Tensors, got Tensor"):
        ag.grad_of(t * 2, t)
    with pytest.raises(ValueError, match="input 0 is not a tensor that requires grad"):
        ag.grad_of(t * 2, "x")
    with pytest.raises(ValueError, match="gradient has shape"):
        (ag.tensor(np.ones(2), requires_grad=True) * 2).backward(gradient=np.ones(3))
    with pytest.raises(RuntimeError, match="needs a `gradient`"):
        (ag.tensor(np.ones(2), requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="was not used"):
        ag.grad_of(t * 2, [ag.tensor(1.0, requires_grad=True)])
    with pytest.raises(TypeError, match="f must be a function"):
        ag.grad(5)
    with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints, got '0'"):
        ag.grad(lambda x: x, argnums="0")
    gx, gy = ag.grad(lambda x, y: (x * y).sum(), argnums=[0, 1])(ag.tensor(2.0), ag.tensor(3.0))
    assert (float(gx), float(gy)) == (3.0, 2.0)


# ---- in-place safety ------------------------------------------------------------------------------------------
def _leaf():
    return ag.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)


@pytest.mark.parametrize("write", [
    lambda x, y: x.data.__setitem__(0, 9.0),
    lambda x, y: x.numpy().__setitem__(0, 9.0),
    lambda x, y: np.asarray(x).__setitem__(0, 9.0),
    lambda x, y: x.detach().data.__setitem__(0, 9.0),
    lambda x, y: x.data[1:].__setitem__(0, 9.0),
    lambda x, y: y.numpy().__setitem__((), 9.0),
], ids=["data", "numpy", "asarray", "detach_data", "view_after_forward", "output"])
def test_writes_into_saved_memory_raise_at_the_write(write):
    x = _leaf()
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        write(x, y)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_writes_into_saved_memory_are_caught_for_as_tensor_arrays_and_raw_operands():
    arr = np.array([1.0, 2.0, 3.0])
    x = ag.as_tensor(arr).requires_grad_(True)
    c = np.array([1.0, 2.0, 3.0])
    y = (x * x * c).sum()
    for target in (arr, c):
        with pytest.raises(ValueError, match="read-only"):
            target[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 8.0, 18.0])
    arr[0] = 5.0  # writable again once backward freed the graph
    c[0] = 5.0


def test_new_data_after_forward_raises_at_backward_naming_the_op():
    x = _leaf()
    y = (x * x).sum()
    x.data = x.data.copy()  # same values, still refused: the saved array is no longer x's
    with pytest.raises(RuntimeError, match="was given new data"):
        y.backward()


def test_writes_that_should_be_allowed_are():
    x = _leaf()
    (x * x).sum().backward()
    x.data[0] = 7.0  # after backward
    with ag.no_grad():
        _ = x * x
    x.data[1] = 7.0  # after an unrecorded op
    y = (x * x).sum()
    del y
    x.data[2] = 7.0  # after the graph was dropped unused
    np.testing.assert_array_equal(x.numpy(), [7.0, 7.0, 7.0])
    unrelated = np.ones(3)
    kept = (x * unrelated.copy()).sum()
    unrelated[0] = 0.0
    kept.backward()


def test_a_retained_or_second_order_graph_keeps_memory_read_only():
    x = _leaf()
    y = (x * x).sum()
    y.backward(retain_graph=True)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 7.0
    (g,) = ag.grad_of((x * x * x).sum(), [x], create_graph=True)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 7.0
    g.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0 + 6.0, 4.0 + 12.0, 6.0 + 18.0])


@pytest.mark.xfail(strict=True, reason="known hole of the read-only-flag mechanism: numpy does not make views "
                                       "taken BEFORE the forward read-only, so writes through them go unseen")
@pytest.mark.parametrize("make_view", [
    lambda arr, x: arr[:],            # a view of the array given to as_tensor
    lambda arr, x: x.data[:],         # a view of x.data taken before the forward
], ids=["view_of_as_tensor_array", "early_view_of_data"])
def test_known_hole_views_made_before_the_forward(make_view):
    arr = np.array([1.0, 2.0, 3.0])
    x = ag.as_tensor(arr).requires_grad_(True)
    view = make_view(arr, x)
    y = (x * x).sum()
    view[0] = 100.0  # gives 200 for x.grad[0] instead of an error
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


# ---- optimizers keep working: a few steps against torch -------------------------------------------------------
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_training_steps_match_torch(opt):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    model = nn.Linear(3, 2, dtype=np.float64, seed=0)  # the recorded answer starts from these weights
    w0, b0 = model.weight.numpy().copy(), model.bias.numpy().copy()
    kwargs = dict(lr=0.1, momentum=0.9) if opt == "SGD" else dict(lr=0.05)

    def in_pytorch():
        tw = torch.tensor(w0.T.copy(), requires_grad=True)
        tb = torch.tensor(b0.copy(), requires_grad=True)
        topt, losses = getattr(torch.optim, opt)([tw, tb], **kwargs), []
        for _ in range(4):
            topt.zero_grad()
            tl = ((torch.tensor(X) @ tw.T + tb - torch.tensor(Y)) ** 2).mean()
            tl.backward()
            topt.step()
            losses.append(tl.item())
        return losses, tw, tb

    t_losses, tw, tb = oracle(in_pytorch)
    optim = getattr(nn.optim, opt)(model.parameters(), **kwargs)
    logged = []
    for t_loss in t_losses:
        optim.zero_grad()
        loss = ((model(ag.tensor(X)) - ag.tensor(Y)) ** 2).mean()
        logged.append(loss)  # a graph kept alive without backward never blocks a step
        loss.backward()
        optim.step()
        np.testing.assert_allclose(float(loss), t_loss, rtol=1e-12)
    np.testing.assert_allclose(model.weight.numpy(), tw.T, rtol=1e-10)
    np.testing.assert_allclose(model.bias.numpy(), tb, rtol=1e-10)


# ---- graph lifetime, copies, threads ---------------------------------------------------------------------------
def test_graphs_are_freed_on_del_without_the_cycle_collector():
    gc.disable()
    try:
        x = _leaf()
        y = ag.exp(x * 2).sum()
        (g,) = ag.grad_of(y, [x], create_graph=True)
        refs = [weakref.ref(y.grad_fn), weakref.ref(g.grad_fn)]
        del y, g
        assert [r() for r in refs] == [None, None]
        x.data[0] = 1.0  # the saved memory was given back too
    finally:
        gc.enable()


def test_a_100k_chain_needs_no_recursion():
    x = ag.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    np.testing.assert_allclose(float(x.grad), 1.0000001 ** 100_000, rtol=1e-9)
    z = x
    for _ in range(100_000):
        z = z + 0.0
    del z  # dropped unused: no recursion either


def test_deepcopy_and_pickle_of_tensors():
    x = _leaf()
    (x * 2).sum().backward()
    for c in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert c.requires_grad and c.data.flags.writeable
        np.testing.assert_array_equal(c.numpy(), x.numpy())
    assert copy.deepcopy(x).grad is not x.grad
    y = x * 2
    with pytest.raises(TypeError, match="cannot copy or pickle the recorded op `Mul`.*t.detach"):
        copy.deepcopy(y)
    with pytest.raises(TypeError, match="cannot copy or pickle the recorded op `Mul`"):
        pickle.dumps(y)
    np.testing.assert_array_equal(copy.deepcopy(y.detach()).numpy(), [2.0, 4.0, 6.0])


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        seen["enabled"] = ag.is_grad_enabled()
        seen["records"] = (_leaf() * 2).requires_grad

    with ag.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not ag.is_grad_enabled()
    assert seen == {"enabled": True, "records": True}


@pytest.mark.parametrize("case", ["detached_alias", "view_of_same_owner"])
def test_new_data_that_is_another_view_of_the_same_memory_is_refused(case):
    # the check used to accept any array with the saved view's owner: a reversed view then gave create_graph
    # the new values, silently ([3, 2, 1] for d(x * x.detach())/dx, and 3 * reversed(x)^2 style mixtures)
    if case == "detached_alias":
        x = ag.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        d = x.detach()
        y = (x * d).sum()
        d.data = x.data[::-1]
    else:
        owner = np.arange(1.0, 4.0)
        x = ag.as_tensor(owner[:]).requires_grad_(True)
        y = (x * x * x).sum()
        x.data = owner[::-1]
    with pytest.raises(RuntimeError, match="of `Mul`.*was given new data"):
        ag.grad_of(y, [x], create_graph=True)


def test_an_exact_alias_of_the_saved_memory_is_still_accepted():
    owner = np.arange(1.0, 4.0)
    x = ag.as_tensor(owner[:]).requires_grad_(True)
    y = (x * x.detach() * x).sum()
    x.data = x.data[:]  # the same values, the same layout
    (g,) = ag.grad_of(y, [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), 2 * owner ** 2)  # x.detach() is a constant: d/dx = 2 x * x
    np.testing.assert_array_equal(ag.grad_of(g.sum(), [x])[0].numpy(), 2 * owner)  # d/dx (2 d x) = 2 d


# ---- images: conv, pooling, BatchNorm, to second order --------------------------------------------------------
IMAGE_CASES = {
    "conv": (lambda x, w, b: ag.conv2d(x, w, b, padding=1), "conv2d", dict(padding=1)),
    "conv_stride_dilation": (lambda x, w, b: ag.conv2d(x, w, b, stride=2, dilation=2, padding=2), "conv2d",
                             dict(stride=2, dilation=2, padding=2)),
    "max_pool": (lambda x: ag.max_pool2d(x * x, 3, stride=2, padding=1), "max_pool2d",
                 dict(kernel_size=3, stride=2, padding=1)),
    "avg_pool": (lambda x: ag.avg_pool2d(x * x, 3, stride=2, padding=1, count_include_pad=False), "avg_pool2d",
                 dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    "adaptive_avg_pool": (lambda x: ag.adaptive_avg_pool2d(x * x, 2), "adaptive_avg_pool2d", dict(output_size=2)),
}


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_image_ops_to_second_order_match_torch(name):
    rng = np.random.default_rng(0)
    f, spelling, kw = IMAGE_CASES[name]
    arrays = [rng.normal(size=(2, 2, 5, 5))]
    if spelling == "conv2d":
        arrays += [rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)]

        def tf(x, w, b):
            return torch.nn.functional.conv2d(x, w, b, **kw)
    else:
        def tf(x):
            return getattr(torch.nn.functional, spelling)(x * x, **kw)
    _second_order_matches(f, lambda: (tf, lambda: None), arrays)


def test_batchnorm_in_training_to_second_order_matches_torch():
    x = np.random.default_rng(0).normal(size=(4, 2, 3, 3))
    ours = nn.BatchNorm2d(2)

    def theirs():  # PyTorch's module and how to read its running mean after the computation
        module = torch.nn.BatchNorm2d(2).double()
        return (lambda t: module(t) * t), (lambda: module.running_mean)

    running_mean = _second_order_matches(lambda t: ours(t) * t, theirs, [x])
    np.testing.assert_allclose(ours.running_mean.numpy(), running_mean, rtol=1e-7)


def _second_order_matches(f, make_tf, arrays):
    """The gradient of sum(f^2) and the gradient of the gradients' squared norm, ours and torch's. ``make_tf``
    gives torch's function, and optionally a reader of extra state whose value is returned."""
    ts = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    gs = ag.grad_of((out * out).sum(), ts, create_graph=True)
    hs = ag.grad_of(sum((g * g).sum() for g in gs), ts, allow_unused=True)

    def in_pytorch():
        tf, extra = make_tf()
        tt = [torch.tensor(a, requires_grad=True) for a in arrays]
        out_t = tf(*tt)
        gts = torch.autograd.grad((out_t * out_t).sum(), tt, create_graph=True)
        hts = torch.autograd.grad(sum((g * g).sum() for g in gts), tt, allow_unused=True)
        return list(gts) + list(hts), extra()

    want, extra = oracle(in_pytorch)
    for a, b, arr in zip(list(gs) + list(hs), want, arrays + arrays):
        a = np.zeros(arr.shape) if a is None else a.numpy()
        b = np.zeros(arr.shape) if b is None else b
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    return extra


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's own, for (-2) ** 0.5 and 0 ** -1 (nan, inf as torch)
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, 0.5, -1.0])
def test_constant_powers_at_zero_to_third_order_match_torch(p):
    # x**0 and x**1 have array (constant) derivatives under create_graph: they must stay exact, not raise
    for x0 in (np.array(0.0), np.array([0.0, 1.0, -2.0])):
        _compare(lambda x: x ** p, lambda x: x ** p, x0)
        _compare(lambda x: ag.pow(x, p), lambda x: x ** p, x0)


@pytest.mark.parametrize("name", ["abs", "relu_times_x", "maximum_tie", "max_all", "clip_bounds", "var", "std"])
def test_kinks_and_ties_at_zero_to_third_order_match_torch(name):
    f, tf = {
        "abs": (ag.abs, lambda x: torch.abs(x)),
        "relu_times_x": (lambda x: ag.relu(x) * x, lambda x: torch.relu(x) * x),
        "maximum_tie": (lambda x: ag.maximum(x, 0.0 * x) * x, lambda x: torch.maximum(x, 0.0 * x) * x),
        "max_all": (lambda x: ag.max(x * x) * x, lambda x: torch.max(x * x) * x),
        "clip_bounds": (lambda x: ag.clip(x, 0.0, 1.0) * x, lambda x: torch.clamp(x, 0.0, 1.0) * x),
        "var": (ag.var, lambda x: torch.var(x, unbiased=False)),
        "std": (ag.std, lambda x: torch.std(x, unbiased=False)),
    }[name]
    _compare(f, tf, np.array([1.0, 1.0, 2.0]) if name == "std" else np.array([0.0, 1.0, 2.0]))


class SavesAView(ag.Function):
    """Saves a view of its input made in forward (a constant to create_graph, memory shared with the input)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x.reshape(-1))
        return x ** 2

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved_tensors
        return g * 2 * flat.reshape(g.shape)


def test_a_saved_view_of_an_input_is_held_read_only():
    # the view's memory is the input's: a write to x.data after forward gave x.grad [200, 4], silently
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = SavesAView.apply(x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.data[0] = 5.0  # given back after backward


class ReadsItsInput(SavesAView):
    """The same derivative reading its input by position: differentiable again."""

    @staticmethod
    def backward(ctx, g, x):
        return g * 2 * x


def test_a_saved_view_of_an_input_is_a_constant_and_reading_the_input_is_not():
    # save_for_backward keeps inputs, the result, and constants; a view made in forward is a constant, as in
    # PyTorch (forward runs without recording): d2/dx2 sees 2 * flat as constant, 6x (PyTorch 2.13: [6, 12])
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = ag.grad_of((SavesAView.apply(x) + x ** 3).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [5.0, 16.0])
    np.testing.assert_array_equal(ag.grad_of(g.sum(), [x])[0].numpy(), [6.0, 12.0])
    (g,) = ag.grad_of((ReadsItsInput.apply(x) + x ** 3).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(ag.grad_of(g.sum(), [x])[0].numpy(), [8.0, 14.0])  # 2 + 6x
