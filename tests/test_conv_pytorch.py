"""#20 item 7 against PyTorch (float64), values, gradients and second derivatives: conv_transpose2d/1d, conv1d,
conv2d's asymmetric and negative padding, pad's modes, pooling's ceil_mode/return_indices/asymmetric padding/integer
inputs, max_pool1d/avg_pool1d, interpolate, pixel_shuffle, GroupNorm, InstanceNorm2d, Dropout2d, and the modules
with weights copied from PyTorch's. Includes size-0 batches, 1x1 inputs and stride > kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn

torch = pytest.importorskip("torch", reason="PyTorch is not installed (it is only the optional oracle)")
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def _close(ours, theirs, what, tol):
    theirs = theirs.detach().numpy() if theirs is not None else None
    ours = None if ours is None else np.asarray(ours)
    if theirs is None:  # PyTorch: unused, i.e. zero
        assert ours is None or not np.any(ours), what
        return
    ours = np.zeros_like(theirs) if ours is None else ours
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def against_torch(ours, theirs, *arrays, tol=1e-10, order=2):
    """ours(*Tensors) and theirs(*torch tensors) agree in value, gradient and (order 2) second derivative."""
    floats = [a.dtype.kind == "f" for a in arrays]
    xs = [ag.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    ts = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    try:
        yt = theirs(*ts)
    except RuntimeError as err:  # PyTorch refuses: so must we, with a ValueError naming the op
        with pytest.raises((ValueError, TypeError)):
            ours(*xs)
        return str(err)
    y = ours(*xs)
    if isinstance(yt, tuple):  # (values, indices)
        for k, (a, t) in enumerate(zip(y[1:], yt[1:])):
            np.testing.assert_array_equal(np.asarray(a), t.numpy(), err_msg=f"output {k + 1}")
        y, yt = y[0], yt[0]
    _close(y, yt, "value", tol)
    if not any(floats) or order < 1:
        return
    xs, ts = [x for x, f in zip(xs, floats) if f], [t for t, f in zip(ts, floats) if f]
    gy = RNG.standard_normal(y.shape)
    loss = (y * gy).sum() + 0.5 * (y * y).sum()  # the square keeps second derivatives of linear ops non-zero
    losst = (yt * torch.tensor(gy)).sum() + 0.5 * (yt * yt).sum()
    g = ag.grad_of(loss, xs, create_graph=order > 1, allow_unused=True)
    gt = torch.autograd.grad(losst, ts, create_graph=order > 1, allow_unused=True)
    for k, (a, t) in enumerate(zip(g, gt)):
        _close(a, t, f"gradient {k}", tol)
    if order < 2:
        return
    vs = [RNG.standard_normal(x.shape) for x in xs]
    pairs = [(a, t, v) for a, t, v in zip(g, gt, vs) if a is not None and a.requires_grad]
    if not pairs:
        return
    s = sum((a * v).sum() for a, _, v in pairs)
    st_ = sum((t * torch.tensor(v)).sum() for _, t, v in pairs)
    h = ag.grad_of(s, xs, allow_unused=True)
    ht = torch.autograd.grad(st_, ts, allow_unused=True)
    for k, (a, t) in enumerate(zip(h, ht)):
        _close(a, t, f"second derivative {k}", tol)


def R(*shape):
    return RNG.standard_normal(shape)


# ---- convolution ------------------------------------------------------------------------------------------
TRANSPOSE = [dict(), dict(stride=2), dict(stride=2, output_padding=1), dict(stride=3, padding=1, output_padding=2),
             dict(stride=1, dilation=2, output_padding=1), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2)),
             dict(groups=2, stride=2, padding=2, dilation=2, output_padding=1), dict(stride=4)]


@pytest.mark.parametrize("kw", TRANSPOSE, ids=str)
@pytest.mark.parametrize("shape", [(2, 4, 5, 4), (0, 4, 5, 4), (1, 4, 1, 1)], ids=str)
def test_conv_transpose2d(kw, shape):
    groups = kw.get("groups", 1)
    against_torch(lambda x, w, b: ag.conv_transpose2d(x, w, b, **kw),
                  lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
                  R(*shape), R(4, 6 // groups, 3, 2), R(6))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(stride=3, dilation=2, groups=2),
                                dict(padding="same", dilation=2), dict(stride=4, padding=(2,))], ids=str)
def test_conv1d_and_conv_transpose1d(kw):
    g = kw.get("groups", 1)
    against_torch(lambda x, w, b: ag.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
                  R(2, 4, 9), R(6, 4 // g, 3), R(6))
    kw = {k: v for k, v in kw.items() if v != "same"}
    against_torch(lambda x, w, b: ag.conv_transpose1d(x, w, b, **kw),
                  lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
                  R(2, 4, 9), R(4, 6 // g, 3), R(6 // g * g))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(stride=4),
                                dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(2, 1, 1), groups=2)], ids=str)
@pytest.mark.parametrize("shape", [(2, 4, 6, 5, 7), (0, 4, 6, 5, 7), (4, 5, 5, 5)], ids=str)
def test_conv3d(kw, shape):
    against_torch(lambda x, w, b: ag.conv3d(x, w, b, **kw), lambda x, w, b: TF.conv3d(x, w, b, **kw),
                  R(*shape), R(6, 4 // kw.get("groups", 1), 3, 2, 3), R(6))


def test_conv3d_module_with_copied_weights():
    ours, ref = nn.Conv3d(4, 2, (2, 3, 1), stride=2, padding=1, seed=0, dtype=np.float64), torch.nn.Conv3d(
        4, 2, (2, 3, 1), stride=2, padding=1).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    against_torch(ours, ref, R(2, 4, 3, 5, 4))
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("padding", [((1, 0), (0, 2)), ((-1, 2), (1, -2)), ((-2, -1), (0, 0)), ((0, 3), (-1, -1))],
                         ids=str)
def test_conv2d_asymmetric_and_negative_padding_is_a_pad_then_a_conv(padding):
    (t, b), (left, right) = padding
    against_torch(lambda x, w: ag.conv2d(x, w, padding=padding, stride=(1, 2)),
                  lambda x, w: TF.conv2d(TF.pad(x, (left, right, t, b)), w, stride=(1, 2)),
                  R(2, 3, 6, 7), R(4, 3, 2, 3))


def test_conv1d_asymmetric_padding():
    against_torch(lambda x, w: ag.conv1d(x, w, padding=(2, -1)), lambda x, w: TF.conv1d(TF.pad(x, (2, -1)), w),
                  R(2, 3, 7), R(4, 3, 3))


@pytest.mark.parametrize("module, theirs", [
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2), seed=0,
                                dtype=np.float64),
     lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2))),
    (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, seed=0, dtype=np.float64),
     lambda: torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)),
    (lambda: nn.ConvTranspose1d(4, 2, 3, stride=2, bias=False, seed=0, dtype=np.float64),
     lambda: torch.nn.ConvTranspose1d(4, 2, 3, stride=2, bias=False)),
    (lambda: nn.Conv2d(4, 2, 3, padding=(1, 2), padding_mode="reflect", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv2d(4, 2, 3, padding=(1, 2), padding_mode="reflect")),
    (lambda: nn.Conv2d(4, 2, (2, 3), padding="same", padding_mode="circular", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv2d(4, 2, (2, 3), padding="same", padding_mode="circular")),
    (lambda: nn.Conv1d(4, 2, 3, padding=2, dilation=2, padding_mode="replicate", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv1d(4, 2, 3, padding=2, dilation=2, padding_mode="replicate")),
], ids=["ConvTranspose2d", "Conv1d", "ConvTranspose1d", "reflect", "same-circular", "Conv1d-replicate"])
def test_conv_modules_with_copied_weights(module, theirs):
    ours, ref = module(), theirs().double()
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = R(2, 4, 5, 6) if ours.dims == 2 else R(2, 4, 7)
    against_torch(ours, ref, x)
    assert repr(ours).split("(", 1)[1] == repr(ref).split("(", 1)[1]  # PyTorch's repr


# ---- pad -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("amounts", [(1, 2), (1, 2, 3, 0), (-1, 2, 0, 3), (2, -1, 1, -2), (1, 1, 1, 1, 1, 1)], ids=str)
def test_functional_pad_modes(mode, amounts):
    x = R(*(2, 3, 4, 5, 6)[:len(amounts) // 2 + 2])  # PyTorch's non-constant modes pad (batch, channel, ...) inputs
    against_torch(lambda x: nn.functional.pad(x, amounts, mode), lambda x: TF.pad(x, amounts, mode), x)


@given(n=st.integers(1, 5), before=st.integers(0, 9), after=st.integers(0, 9),
       mode=st.sampled_from(["reflect", "edge", "wrap", "symmetric", "replicate", "circular"]))
def test_pad_modes_match_numpy_even_wider_than_the_axis(n, before, after, mode):
    x = R(2, n)
    numpy_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
    np.testing.assert_array_equal(np.asarray(ag.pad(x, ((0, 0), (before, after)), mode)),
                                  np.pad(x, ((0, 0), (before, after)), numpy_mode))


# ---- resampling ----------------------------------------------------------------------------------------------
SCALES = [dict(size=7), dict(scale_factor=2), dict(scale_factor=1.7), dict(scale_factor=0.6), dict(size=1),
          dict(scale_factor=3.3, recompute_scale_factor=True), dict(scale_factor=1)]


@pytest.mark.parametrize("kw", SCALES, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 2), (0, 3, 4, 5), (1, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "linear-corners"])
def test_interpolate(kw, shape, mode):
    linear = {3: "linear", 4: "bilinear", 5: "trilinear"}[len(shape)]
    kw = dict(kw, mode=mode) if mode.startswith("nearest") else dict(kw, mode=linear,
                                                                        align_corners=mode == "linear-corners")
    against_torch(lambda x: ag.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), R(*shape), tol=1e-12)


def test_interpolate_with_per_axis_sizes_and_the_upsample_module():
    against_torch(lambda x: ag.interpolate(x, size=(3, 8), mode="bilinear"),
                  lambda x: TF.interpolate(x, size=(3, 8), mode="bilinear"), R(2, 3, 5, 4))
    ours, theirs = nn.Upsample(scale_factor=(2, 0.5), mode="nearest"), torch.nn.Upsample(scale_factor=(2, 0.5))
    against_torch(ours, theirs, R(2, 3, 5, 4))
    assert repr(ours) == repr(theirs)
    ours, theirs = nn.Upsample(size=6, mode="bilinear", align_corners=True), torch.nn.Upsample(6, mode="bilinear",
                                                                                               align_corners=True)
    against_torch(ours, theirs, R(2, 3, 5, 4))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_pixel_shuffle_and_unshuffle(r):
    against_torch(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), R(2, 2 * r * r, 3, 4))
    against_torch(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), R(2, 5, 3, 2 * r, 3 * r))  # 3 batch axes
    x = R(0, 4 * r * r, 2, 1)
    np.testing.assert_array_equal(np.asarray(ag.pixel_unshuffle(ag.pixel_shuffle(x, r), r)), x)
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))


# ---- pooling --------------------------------------------------------------------------------------------------
POOLS = [dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
         dict(kernel_size=3, stride=3, padding=1, ceil_mode=True),
         dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 0), ceil_mode=True),
         dict(kernel_size=2, stride=4), dict(kernel_size=1), dict(kernel_size=3, stride=1, padding=1)]


@pytest.mark.parametrize("kw", POOLS, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (0, 3, 7, 6), (1, 2, 1, 1)], ids=str)
def test_max_pool2d_ceil_mode_and_indices(kw, shape):
    if shape[2] == 1:
        kw = dict(kw, kernel_size=1, padding=0)
    x = RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.1  # distinct values
    against_torch(lambda t: ag.max_pool2d(t, **kw, return_indices=True),
                  lambda t: TF.max_pool2d(t, **kw, return_indices=True), x)
    against_torch(lambda t: ag.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw),
                  RNG.integers(-3, 3, shape).astype(np.int64))  # integers: integer results


@pytest.mark.parametrize("kw", POOLS, ids=str)
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool2d_ceil_mode_and_integers(kw, include):
    kw = dict(kw, count_include_pad=include)
    against_torch(lambda t: ag.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), R(2, 3, 7, 6))
    against_torch(lambda t: ag.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw),  # truncated toward zero
                  RNG.integers(-9, 9, (2, 3, 7, 6)))


def test_pooling_with_asymmetric_padding_is_a_pad_then_a_pool():
    pads = ((1, 0), (0, 2))
    against_torch(lambda t: ag.max_pool2d(t, (2, 4), padding=pads, stride=(1, 3)),
                  lambda t: TF.max_pool2d(TF.pad(t, (0, 2, 1, 0), value=-np.inf), (2, 4), stride=(1, 3)), R(2, 3, 5, 6))
    against_torch(lambda t: ag.avg_pool2d(t, (2, 4), padding=pads, stride=(1, 3)),
                  lambda t: TF.avg_pool2d(TF.pad(t, (0, 2, 1, 0)), (2, 4), stride=(1, 3)), R(2, 3, 5, 6))


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2),
                                dict(kernel_size=2, stride=3, dilation=2), dict(kernel_size=4, stride=1, padding=2)],
                         ids=str)
def test_pool1d(kw):
    x = RNG.permutation(2 * 3 * 9).reshape(2, 3, 9) * 0.1
    against_torch(lambda t: ag.max_pool1d(t, **kw, return_indices=True),
                  lambda t: TF.max_pool1d(t, **kw, return_indices=True), x)
    kw.pop("dilation", None)
    for include in (True, False):
        kw["count_include_pad"] = include
        against_torch(lambda t: ag.avg_pool1d(t, **kw), lambda t: TF.avg_pool1d(t, **kw), x)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda: torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
    (lambda: nn.MaxPool1d(2, return_indices=True), lambda: torch.nn.MaxPool1d(2, return_indices=True)),
    (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda: torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    (lambda: nn.AvgPool1d(3, 2, 1, ceil_mode=True), lambda: torch.nn.AvgPool1d(3, 2, 1, ceil_mode=True)),
], ids=["MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d"])
def test_pool_modules(ours, theirs):
    ours, theirs = ours(), theirs()
    assert repr(ours) == repr(theirs)
    against_torch(ours, theirs, R(2, 3, 7, 6) if "2d" in repr(ours) else R(2, 3, 7))


# ---- normalization and channel dropout -------------------------------------------------------------------
def _copied(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    for p in theirs.parameters():  # non-trivial affine parameters
        with torch.no_grad():
            p.copy_(torch.tensor(RNG.standard_normal(tuple(p.shape))))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("groups, affine", [(1, True), (2, True), (4, False), (2, False)])
@pytest.mark.parametrize("shape", [(3, 4, 5, 2), (2, 4, 7), (0, 4, 3, 3), (2, 4, 1, 1)], ids=str)
def test_group_norm(groups, affine, shape):
    ours, theirs = _copied(nn.GroupNorm(groups, 4, affine=affine, dtype=np.float64),
                           torch.nn.GroupNorm(groups, 4, affine=affine).double())
    assert repr(ours) == repr(theirs)
    if shape[0] and np.prod(shape[2:]) * 4 // groups > 1:
        against_torch(ours, theirs, R(*shape), tol=1e-9)
    else:
        assert ours(R(*shape)).shape == shape


@pytest.mark.parametrize("affine, track", [(False, False), (True, False), (True, True), (False, True)])
def test_instance_norm2d_train_and_eval(affine, track):
    ours, theirs = _copied(nn.InstanceNorm2d(3, affine=affine, track_running_stats=track, dtype=np.float64),
                           torch.nn.InstanceNorm2d(3, affine=affine, track_running_stats=track).double())
    assert repr(ours) == repr(theirs)
    for _ in range(2):  # training: the running statistics move (when tracked)
        against_torch(ours, theirs, R(2, 3, 4, 5), tol=1e-9)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v.numpy(), rtol=1e-12, err_msg=k)
    ours.eval(), theirs.eval()
    against_torch(ours, theirs, R(2, 3, 4, 5), tol=1e-9)
    against_torch(ours, theirs, R(3, 4, 5), tol=1e-9)  # unbatched


def test_dropout2d_zeros_whole_channels():
    x = ag.tensor(np.ones((4, 8, 3, 3)), requires_grad=True)
    y = nn.Dropout2d(0.5, seed=0)(x)
    per_channel = np.asarray(y).reshape(32, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0} and np.all(per_channel.min(1) == per_channel.max(1))
    assert 0 < (per_channel[:, 0] == 0).sum() < 32
    y.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.asarray(y))
    drop = nn.Dropout2d(0.3)
    drop.eval()
    assert drop(x) is x or np.array_equal(np.asarray(drop(x)), np.asarray(x))
    assert nn.functional.dropout2d(np.ones((3, 2, 2)), 0.5, seed=1).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="dropout2d: expected input"):
        nn.functional.dropout2d(np.ones((3, 2)), 0.5)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, output_size=(7, 6)),
                                dict(kernel_size=3, stride=1)], ids=str)  # stride 1: duplicate indices
def test_max_unpool2d_inverts_max_pool2d(kw):
    size = kw.pop("output_size", None)
    _, idx = TF.max_pool2d(torch.tensor(R(2, 3, 7, 6)), return_indices=True, **kw)
    # overlapping windows give duplicate indices: PyTorch's gradient reaches the overwritten ones too, ours is exact
    duplicates = kw.get("stride", 2) < kw["kernel_size"]
    against_torch(lambda x: nn.MaxUnpool2d(**kw)(x, idx.numpy(), size),
                  lambda x: torch.nn.MaxUnpool2d(**kw)(x, idx, size), R(*idx.shape), order=0 if duplicates else 2)
    assert repr(nn.MaxUnpool2d(**kw)) == repr(torch.nn.MaxUnpool2d(**kw))
    with pytest.raises(IndexError, match="max_unpool2d: index 99 is out of range"):
        ag.max_unpool2d(R(1, 1, 1, 1), np.array([[[[99]]]]), 2)


POOLS3D = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=(2, 3, 1), stride=(1, 2, 3), padding=(1, 1, 0), ceil_mode=True),
           dict(kernel_size=3, stride=1)]


@pytest.mark.parametrize("kw", POOLS3D, ids=str)
def test_pool3d_with_ties(kw):
    x = RNG.integers(0, 4, (2, 3, 6, 5, 7)).astype(float)  # many ties: the first maximum in (d, h, w) order
    against_torch(nn.MaxPool3d(**kw), torch.nn.MaxPool3d(**kw), x)
    assert repr(nn.MaxPool3d(**kw)) == repr(torch.nn.MaxPool3d(**kw))
    for extra in (dict(), dict(count_include_pad=False), dict(divisor_override=5)):
        against_torch(nn.AvgPool3d(**kw, **extra), torch.nn.AvgPool3d(**kw, **extra), x)
    against_torch(nn.MaxPool3d(**kw), torch.nn.MaxPool3d(**kw), R(0, 3, 6, 5, 7))
    against_torch(nn.AvgPool3d(**kw), torch.nn.AvgPool3d(**kw), R(3, 6, 5, 7))  # unbatched
