"""Optimizers against hand-computed updates (and PyTorch when installed), schedules, clipping."""

import math

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn.optim import SGD, Adam, AdamW, CosineAnnealingLR, ExponentialLR, StepLR
from tests._oracle import oracle


def _run(opt_cls, steps=3, grad=lambda p: np.ones_like(p), p0=(1.0,), **kw):
    p = nn.Parameter(np.array(p0, dtype=np.float64))
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = ag.tensor(grad(p.data))
        opt.step()
        out.append(p.data.copy())
    return np.array(out)[:, 0] if len(p0) == 1 else np.array(out)


# p = 1, gradient 1 each step: the updates worked out by hand.
def test_sgd_hand_computed():
    np.testing.assert_allclose(_run(SGD, lr=0.1), [0.9, 0.8, 0.7])
    # buf: 1, 1.9, 2.71
    np.testing.assert_allclose(_run(SGD, lr=0.1, momentum=0.9), [0.9, 0.71, 0.439])
    # nesterov: g + 0.9 buf = 1.9, 2.71, 3.439
    np.testing.assert_allclose(_run(SGD, lr=0.1, momentum=0.9, nesterov=True), [0.81, 0.539, 0.1951])
    # weight decay 0.1: g = 1 + 0.1 p
    np.testing.assert_allclose(_run(SGD, lr=0.1, weight_decay=0.1), [0.89, 0.7811, 0.673289])
    # dampening 0.5: buf 1, 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76
    np.testing.assert_allclose(_run(SGD, lr=0.1, momentum=0.9, dampening=0.5), [0.9, 0.76, 0.584])


def test_adam_and_adamw_hand_computed():
    # a constant gradient makes the bias-corrected moments exactly g and g^2: each step moves lr * g/(|g| + eps)
    step = 0.1 / (1 + 1e-8)
    np.testing.assert_allclose(_run(Adam, lr=0.1), [1 - step, 1 - 2 * step, 1 - 3 * step], rtol=1e-12)
    # AdamW: p * (1 - lr * wd) first, then the same step
    np.testing.assert_allclose(_run(AdamW, lr=0.1, weight_decay=0.1), [0.89, 0.7811, 0.673289], rtol=1e-7)


def _adam_reference(p, grads, lr, b1, b2, eps, wd, decoupled, amsgrad=False):
    m = v = vmax = np.zeros_like(p)
    out = []
    for t, gfn in enumerate(grads, 1):
        g = gfn(p)
        if decoupled:
            p = p - lr * wd * p
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(vhat) + eps)
        out.append(p)
    return np.array(out)


@pytest.mark.parametrize("cls,decoupled,amsgrad", [(Adam, False, False), (AdamW, True, False), (Adam, False, True)])
def test_adam_family_three_steps_with_varying_gradients(cls, decoupled, amsgrad):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5)
    grad = lambda p: 2 * p + np.sin(p)  # noqa: E731
    kw = dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3)
    got = _run(cls, grad=grad, p0=tuple(p0), amsgrad=amsgrad, **kw)
    ref = _adam_reference(p0, [grad] * 3, kw["lr"], 0.8, 0.95, 1e-6, 0.3, decoupled, amsgrad)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_sgd_three_steps_with_varying_gradients():
    rng = np.random.default_rng(1)
    p = p0 = rng.standard_normal(4)
    grad = lambda p: p**3 - 1  # noqa: E731
    buf, ref = None, []
    for _ in range(3):
        g = grad(p) + 0.01 * p
        buf = g if buf is None else 0.9 * buf + g
        p = p - 0.1 * (g + 0.9 * buf)
        ref.append(p)
    got = _run(SGD, grad=grad, p0=tuple(p0), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


OPTIMIZER_CASES = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                   "Adam": dict(lr=0.01, weight_decay=0.1), "AdamW": dict(lr=0.01, weight_decay=0.1)}


def _torch_optimizers(w0: np.ndarray) -> dict:
    import torch

    out = {}
    for name, kw in OPTIMIZER_CASES.items():
        q = torch.tensor(w0.copy(), requires_grad=True)
        opt = getattr(torch.optim, name)([q], **kw)
        for _ in range(3):
            opt.zero_grad()
            ((q * q * q).sum()).backward()
            opt.step()
        out[name] = q
    return out


def test_against_torch():
    w0 = np.random.default_rng(2).standard_normal((3, 2))
    want = oracle(lambda: _torch_optimizers(w0))
    for name, kw in OPTIMIZER_CASES.items():
        p = nn.Parameter(w0.copy())
        opt = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name]([p], **kw)
        for _ in range(3):
            opt.zero_grad()
            ((p * p * p).sum()).backward()
            opt.step()
        np.testing.assert_allclose(p.data, want[name], rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, kw", [
    (SGD, dict(lr=0.1)), (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adam, dict(lr=0.1, weight_decay=0.1)), (AdamW, dict(lr=0.1, amsgrad=True))])
def test_zero_dim_parameters_step_as_one_element_ones(cls, kw, dtype):
    # a 0-d parameter's products are numpy scalars, which `out=` cannot take (it raised TypeError)
    scalar, vector = nn.Parameter(np.array(2.0, dtype)), nn.Parameter(np.array([2.0], dtype))
    opts = cls([scalar], **kw), cls([vector], **kw)
    for _ in range(3):
        for p, opt in zip((scalar, vector), opts):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()
    assert scalar.shape == () and scalar.dtype == dtype and scalar.data != 2.0
    np.testing.assert_array_equal(scalar.data, vector.data[0])


def test_optimizer_float32_updates_keep_dtype_and_skip_missing_grads():
    a, b = nn.Parameter(ag.ones(2)), nn.Parameter(ag.ones(2))
    opt = Adam([a, b], lr=0.1)
    a.grad = ag.ones(2)
    opt.step()
    assert a.dtype == np.float32 and not np.allclose(a.data, 1)
    np.testing.assert_array_equal(b.data, 1)
    before = a.data
    a.grad = ag.ones(2)
    opt.step()
    assert a.data is not before  # updated through p.data = ... (a new array: a graph holding the old one stays valid)


def test_optimizer_state_dict_round_trip_and_groups():
    def make():
        p = nn.Parameter(np.array([1.0, 2.0]))
        q = nn.Parameter(np.array([3.0]))
        return p, q, Adam([{"params": [p], "lr": 0.5}, {"params": [q]}], lr=0.1)

    p, q, opt = make()
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    for _ in range(2):
        p.grad, q.grad = ag.tensor(p.data), ag.tensor(q.data)
        opt.step()
    sd = opt.state_dict()
    p2, q2, opt2 = make()
    p2.data, q2.data = p.data.copy(), q.data.copy()
    opt2.load_state_dict(sd)
    for a, b, o in ((p, q, opt), (p2, q2, opt2)):
        a.grad, b.grad = ag.tensor(a.data), ag.tensor(b.data)
        o.step()
    np.testing.assert_array_equal(p.data, p2.data)
    np.testing.assert_array_equal(q.data, q2.data)
    with pytest.raises(ValueError, match="group sizes"):
        Adam([p], lr=0.1).load_state_dict(sd)


def test_optimizer_argument_errors():
    p = nn.Parameter(np.zeros(1))
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="empty"):
        Adam([], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(TypeError):
        SGD([ag.ones(1)], lr=0.1)


def _lrs(make, n=6):
    p = nn.Parameter(np.zeros(1))
    opt = SGD([p], lr=1.0)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    return out


def test_schedules():
    np.testing.assert_allclose(_lrs(lambda o: StepLR(o, step_size=2, gamma=0.5)), [1, 1, 0.5, 0.5, 0.25, 0.25])
    np.testing.assert_allclose(_lrs(lambda o: ExponentialLR(o, gamma=0.9)), 0.9 ** np.arange(6))
    c = math.cos(math.pi / 4)
    np.testing.assert_allclose(_lrs(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.0), n=5),
                               [1, (1 + c) / 2, 0.5, (1 - c) / 2, 0], atol=1e-12)
    np.testing.assert_allclose(_lrs(lambda o: CosineAnnealingLR(o, T_max=2, eta_min=0.1), n=3), [1, 0.55, 0.1])
    with pytest.raises(ValueError):
        StepLR(SGD([nn.Parameter(np.zeros(1))], lr=1.0), step_size=0)


def test_clip_grad_norm():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = ag.tensor([3.0]), ag.tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8], rtol=1e-6)
    total = nn.utils.clip_grad_norm_([a, b], max_norm=10.0)  # below the limit: unchanged
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8], rtol=1e-6)
    a.grad, b.grad = ag.tensor([3.0]), ag.tensor([-4.0])
    assert nn.utils.clip_grad_norm_([a, b], 2.0, norm_type=math.inf) == pytest.approx(4.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [1.5, -2.0], rtol=1e-6)
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(1))], 1.0) == 0.0  # no grads
    a.grad = ag.tensor([np.inf])
    with pytest.raises(RuntimeError, match="inf"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    a = nn.Parameter(np.zeros(3))
    a.grad = ag.tensor([-5.0, 0.5, 7.0])
    nn.utils.clip_grad_value_(a, 1.0)
    np.testing.assert_array_equal(a.grad.data, [-1.0, 0.5, 1.0])
