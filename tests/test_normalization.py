"""BatchNorm1d / BatchNorm2d and Module buffers: gradients against finite differences, running statistics,
train/eval, state_dict round trips, PyTorch as the oracle (float64; recorded answers without it), errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from tests._fd import check_grads
from tests._oracle import case_rng, oracle

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers (tests/_oracle.py)
    torch = None

RNG = np.random.default_rng(0)


@given(shape=st.sampled_from([(3, 2), (2, 3, 4), (2, 2, 3, 3), (4, 1, 1, 2)]), affine=st.booleans())
def test_batch_norm_training_gradients_match_finite_differences(shape, affine):
    c = shape[1]
    arrays = [RNG.standard_normal(shape) * 2 + 1] + ([RNG.standard_normal(c), RNG.standard_normal(c)] if affine else [])
    check_grads(lambda x, *wb: nn.functional.batch_norm(x, None, None, *wb, training=True), arrays, RNG)


def test_batch_norm_eval_gradients_and_second_order():
    rm, rv = ag.tensor(RNG.standard_normal(3)), ag.tensor(RNG.uniform(0.5, 2, 3))
    check_grads(lambda x, w, b: nn.functional.batch_norm(x, rm, rv, w, b), [RNG.standard_normal((2, 3, 2, 2)),
                RNG.standard_normal(3), RNG.standard_normal(3)], RNG)
    x, w, b = (ag.tensor(RNG.standard_normal(s), requires_grad=True) for s in ((4, 3, 2), (3,), (3,)))
    assert ag.gradgradcheck(lambda x, w, b: nn.functional.batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_training_normalizes_each_channel_and_moves_the_running_statistics():
    bn = nn.BatchNorm2d(3, momentum=0.25, dtype=np.float64)
    x = RNG.standard_normal((5, 3, 4, 4)) * np.array([1, 2, 3]).reshape(1, 3, 1, 1) + 7
    y = np.asarray(bn(x))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)  # eps = 1e-5
    np.testing.assert_allclose(np.asarray(bn.running_mean), 0.25 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    unbiased = x.var(axis=(0, 2, 3), ddof=1)  # the running variance is unbiased, the normalization biased
    np.testing.assert_allclose(np.asarray(bn.running_var), 0.75 + 0.25 * unbiased, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    before = np.asarray(bn.running_mean).copy()
    expected = (x - before.reshape(1, 3, 1, 1)) / np.sqrt(np.asarray(bn.running_var).reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(np.asarray(bn(x)), expected, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(bn.running_mean), before)  # eval never moves them
    assert bn.num_batches_tracked.item() == 1


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [RNG.standard_normal((4, 2)) + i for i in range(3)]
    for b in batches:
        bn(b)
    np.testing.assert_allclose(np.asarray(bn.running_mean), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)


def test_running_statistics_are_buffers_saved_and_restored(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, seed=0), nn.BatchNorm2d(2))
    model(RNG.standard_normal((4, 1, 5, 5)).astype(np.float32))
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked"]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]  # not trained
    nn.save(sd, tmp_path / "m.npz")
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3, seed=1), nn.BatchNorm2d(2))
    fresh.load_state_dict(nn.load(tmp_path / "m.npz"))
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
        assert v.dtype == sd[k].dtype
    with pytest.raises(KeyError, match="missing keys: 1.running_mean"):
        fresh.load_state_dict({k: v for k, v in sd.items() if k != "1.running_mean"})


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("steps", np.zeros(()))
    m.register_buffer("scratch", np.ones(2), persistent=False)
    assert isinstance(m.steps, ag.Tensor) and not m.steps.requires_grad
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"] and list(m.state_dict()) == ["steps"]
    m.steps = np.ones(())  # assignment replaces the buffer
    assert m._buffers["steps"] is m.steps and m.steps.item() == 1
    with pytest.raises(TypeError, match="never requires grad"):
        m.steps = ag.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="expected a Tensor, an ndarray or None"):
        m.register_buffer("bad", [1, 2])
    m.w = nn.Parameter(np.ones(2))
    with pytest.raises(KeyError, match="already a parameter"):
        m.register_buffer("w", np.ones(2))
    del m.steps
    assert list(m.state_dict()) == ["w"]


def test_track_running_stats_false_and_affine_false():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False, dtype=np.float64)
    assert list(bn.state_dict()) == [] and bn.weight is None and bn.running_mean is None
    x = RNG.standard_normal((6, 3))
    bn.eval()  # without running statistics, eval also uses the batch's
    np.testing.assert_allclose(np.asarray(bn(x)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)


def test_empty_batch_and_one_value_per_channel():
    bn = nn.BatchNorm2d(3)
    y = bn(ag.tensor(np.zeros((0, 3, 4, 4), np.float32), requires_grad=True))
    assert y.shape == (0, 3, 4, 4) and bn.num_batches_tracked.item() == 1  # as PyTorch: counted, stats unchanged
    np.testing.assert_array_equal(np.asarray(bn.running_mean), 0)
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(np.ones((1, 3), np.float32))
    assert nn.BatchNorm1d(3).eval()(np.ones((1, 3), np.float32)).shape == (1, 3)  # fine in eval mode


@pytest.mark.parametrize("call, message", [
    (lambda: nn.BatchNorm2d(3)(np.ones((2, 3, 4), np.float32)), r"BatchNorm2d: expected a 4-d input \(N, C, H, W\)"),
    (lambda: nn.BatchNorm1d(3)(np.ones((2, 3, 4, 4), np.float32)), r"BatchNorm1d: expected a 2-d or 3-d input"),
    (lambda: nn.BatchNorm2d(3)(np.ones((2, 4, 3, 3), np.float32)), r"BatchNorm2d\(3\): input of shape .* 4 channels"),
    (lambda: nn.BatchNorm2d(0), r"num_features must be positive"),
    (lambda: nn.functional.batch_norm(np.ones((2, 3)), np.zeros(2), np.ones(3)), r"running_mean must have shape"),
    (lambda: nn.functional.batch_norm(np.ones((2, 3)), None, None), r"evaluation .* needs running_mean"),
])
def test_bad_inputs_get_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kind, shape", [("2d", (4, 3, 5, 5)), ("1d", (6, 3)), ("1d", (4, 3, 7))])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine, track", [(True, True), (False, True), (True, False)])
def test_batch_norm_matches_pytorch_over_train_and_eval_steps(kind, shape, momentum, affine, track):
    modes, rng = ("train", "eval", "train", "train", "eval"), case_rng()
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    xs, gys = [rng.standard_normal(shape) * 2 + 1 for _ in modes], [rng.standard_normal(shape) for _ in modes]

    def in_pytorch():
        theirs = getattr(torch.nn, f"BatchNorm{kind}")(3, momentum=momentum, affine=affine,
                                                       track_running_stats=track).double()
        if affine:
            with torch.no_grad():
                theirs.weight.copy_(torch.tensor(w))
                theirs.bias.copy_(torch.tensor(b))
        steps = []
        for mode, x, gy in zip(modes, xs, gys):
            getattr(theirs, mode)()
            xt = torch.tensor(x, requires_grad=True)
            yt = theirs(xt)
            (yt * torch.tensor(gy)).sum().backward()
            steps.append((yt, xt.grad, theirs.weight.grad.clone() if affine else None))
            theirs.zero_grad()
        return steps, theirs.state_dict()

    steps, tsd = oracle(in_pytorch)
    ours = getattr(nn, f"BatchNorm{kind}")(3, momentum=momentum, affine=affine, track_running_stats=track,
                                           dtype=np.float64)
    if affine:
        ours.weight.data, ours.bias.data = w.copy(), b.copy()
    for mode, x, gy, (yt, gxt, gwt) in zip(modes, xs, gys, steps):
        getattr(ours, mode)()
        xa = ag.tensor(x, requires_grad=True)
        y = ours(xa)
        np.testing.assert_allclose(np.asarray(y), yt, rtol=1e-10, atol=1e-12)
        (y * gy).sum().backward()
        np.testing.assert_allclose(np.asarray(xa.grad), gxt, rtol=1e-9, atol=1e-11)
        if affine:
            np.testing.assert_allclose(np.asarray(ours.weight.grad), gwt, rtol=1e-9)
            ours.zero_grad()
    sd = ours.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        np.testing.assert_allclose(sd[k], tsd[k], rtol=1e-12)


def test_a_pytorch_state_dict_loads_as_is():
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5)).astype(np.float32)

    def in_pytorch():
        torch.manual_seed(0)
        theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
        theirs(torch.randn(4, 1, 5, 5))  # move the running statistics
        theirs.eval()
        return theirs.state_dict(), theirs(torch.tensor(x))

    tsd, want = oracle(in_pytorch)
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    ours.load_state_dict(tsd)
    ours.eval()
    np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 5), (2, 3, 4, 4)])
def test_batch_norm_second_derivatives_match_pytorch(shape):
    rng = case_rng()
    w = rng.standard_normal(3)
    x, gy, u = (rng.standard_normal(shape) for _ in range(3))

    def in_pytorch():
        theirs = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(3).double()
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
        xt = torch.tensor(x, requires_grad=True)
        gxt, gwt = torch.autograd.grad((theirs(xt) * torch.tensor(gy)).sum(), [xt, theirs.weight], create_graph=True)
        return torch.autograd.grad((gxt * torch.tensor(u)).sum() + (gwt**2).sum(), [xt, theirs.weight])

    ht = oracle(in_pytorch)
    ours = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(3, dtype=np.float64)
    ours.weight.data = w.copy()
    xa = ag.tensor(x, requires_grad=True)
    gx, gw = ag.grad_of((ours(xa) * gy).sum(), [xa, ours.weight], create_graph=True)
    h = ag.grad_of((gx * u).sum() + (gw**2).sum(), [xa, ours.weight])
    for a, b in zip(h, ht):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-11)


def test_gradcheck_module_leaves_the_running_statistics_as_they_were():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, seed=0), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2, seed=1))
    model(RNG.standard_normal((4, 1, 4, 4)).astype(np.float32))
    before = model.state_dict()
    assert ag.gradcheck_module(model, nn.functional.cross_entropy, RNG.standard_normal((3, 1, 4, 4)), [0, 1, 1])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
        assert v.dtype == before[k].dtype
