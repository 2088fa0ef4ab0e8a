"""#20 item 7 against PyTorch (float64), values, gradients and second derivatives: conv_transpose2d/1d, conv1d,
conv2d's asymmetric and negative padding, pad's modes, pooling's ceil_mode/return_indices/asymmetric padding/integer
inputs, max_pool1d/avg_pool1d, interpolate, pixel_shuffle, GroupNorm, InstanceNorm2d, Dropout2d, and the modules
with our weights copied into PyTorch's. Includes size-0 batches, 1x1 inputs and stride > kernel.

PyTorch runs only inside ``oracle(...)`` (tests/oracle/README.md): without it the recorded answers stand in, so the
inputs are small (1-2 channels, batch 1-2) to keep the recording small."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from tests._oracle import Raised, case_rng, oracle

try:
    import torch
except ImportError:  # the optional oracle: its recorded answers stand in
    torch = None

RNG = np.random.default_rng(0)  # replaced per test by the test's own case_rng()


@pytest.fixture(autouse=True)
def _seeded_by_the_test():
    global RNG
    RNG = case_rng()


def _tf():
    return torch.nn.functional


def _close(ours, theirs, what, tol):
    ours = None if ours is None else np.asarray(ours)
    if theirs is None:  # PyTorch: unused, i.e. zero
        assert ours is None or not np.any(ours), what
        return
    ours = np.zeros_like(theirs) if ours is None else ours
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def _theirs(theirs, arrays, floats, seed, mask, order):
    """PyTorch's value, extra outputs, gradient and second derivative (the oracle's computation)."""
    ts = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    try:
        yt = theirs(*ts)
    except RuntimeError as err:
        return err
    extras = ()
    if isinstance(yt, tuple):  # (values, indices)
        extras, yt = tuple(t.numpy() for t in yt[1:]), yt[0]
    if mask is None or not any(floats) or order < 1:
        return yt.detach(), extras, None, None
    rng = np.random.default_rng(seed)
    ts = [t for t, f in zip(ts, floats) if f]
    gy = rng.standard_normal(tuple(yt.shape))
    losst = (yt * torch.tensor(gy)).sum() + 0.5 * (yt * yt).sum()
    gt = torch.autograd.grad(losst, ts, create_graph=order > 1, allow_unused=True)
    grads = [None if t is None else t.detach() for t in gt]
    if order < 2 or not any(mask):
        return yt.detach(), extras, grads, None
    vs = [rng.standard_normal(tuple(t.shape)) for t in ts]
    st_ = sum((t * torch.tensor(v)).sum() for t, v, m in zip(gt, vs, mask) if m)
    ht = torch.autograd.grad(st_, ts, allow_unused=True)
    return yt.detach(), extras, grads, [None if t is None else t.detach() for t in ht]


def against_torch(ours, theirs, *arrays, tol=1e-10, order=2, key=None):
    """ours(*Tensors) and theirs(*torch tensors) agree in value, gradient and (order 2) second derivative.

    ``theirs`` runs only inside the oracle (PyTorch installed); without PyTorch its recorded answer stands in."""
    floats = [a.dtype.kind == "f" for a in arrays]
    seed = int(RNG.integers(2**31))
    xs = [ag.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    try:
        y = ours(*xs)
    except (ValueError, TypeError) as err:
        y, refused = None, err
    g = mask = None
    if y is not None:
        ys = y
        if isinstance(y, tuple):
            ys = y[0]
        if any(floats) and order >= 1:
            xf = [x for x, f in zip(xs, floats) if f]
            rng = np.random.default_rng(seed)
            gy = rng.standard_normal(ys.shape)
            loss = (ys * gy).sum() + 0.5 * (ys * ys).sum()  # the square keeps linear ops' second derivatives
            g = ag.grad_of(loss, xf, create_graph=order > 1, allow_unused=True)
            mask = [a is not None and a.requires_grad for a in g]
    answer = oracle(lambda: _theirs(theirs, arrays, floats, seed, mask, order), key=key)
    if isinstance(answer, Raised):  # PyTorch refuses: so must we, with a ValueError naming the op
        assert y is None, f"PyTorch refuses ({answer}), we did not"
        return answer.message
    if y is None:
        raise refused
    yt, extras, gt, ht = answer
    if isinstance(y, tuple):
        for k, (a, t) in enumerate(zip(y[1:], extras)):
            np.testing.assert_array_equal(np.asarray(a), t, err_msg=f"output {k + 1}")
        y = y[0]
    _close(y, yt, "value", tol)
    if gt is None:
        return
    for k, (a, t) in enumerate(zip(g, gt)):
        _close(a, t, f"gradient {k}", tol)
    if ht is None:
        return
    xf = [x for x, f in zip(xs, floats) if f]
    rng = np.random.default_rng(seed)
    rng.standard_normal(np.shape(y))
    vs = [rng.standard_normal(x.shape) for x in xf]
    s = sum((a * v).sum() for a, v, m in zip(g, vs, mask) if m)
    h = ag.grad_of(s, xf, allow_unused=True)
    for k, (a, t) in enumerate(zip(h, ht)):
        _close(a, t, f"second derivative {k}", tol)


def R(*shape):
    return RNG.standard_normal(shape)


class _TorchModule:
    """A PyTorch module built (inside the oracle) with ``ours``'s state and mode as of now, as a function."""

    def __init__(self, build, ours):
        self.build, self.training = build, ours.training
        self.state = {k: np.array(v) for k, v in ours.state_dict().items()}
        self.module = None

    def __call__(self, *ts):
        if self.module is None:
            self.module = self.build().double()
            if self.state:
                self.module.load_state_dict({k: torch.tensor(v) for k, v in self.state.items()})
            self.module.train(self.training)
        return self.module(*ts)


# ---- convolution ------------------------------------------------------------------------------------------
TRANSPOSE = [dict(), dict(stride=2), dict(stride=2, output_padding=1), dict(stride=3, padding=1, output_padding=2),
             dict(stride=1, dilation=2, output_padding=1), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2)),
             dict(groups=2, stride=2, padding=2, dilation=2, output_padding=1), dict(stride=4)]


@pytest.mark.parametrize("kw", TRANSPOSE, ids=str)
@pytest.mark.parametrize("shape", [(1, 2, 4, 3), (0, 2, 4, 3), (1, 2, 1, 1)], ids=str)
def test_conv_transpose2d(kw, shape):
    groups = kw.get("groups", 1)
    against_torch(lambda x, w, b: ag.conv_transpose2d(x, w, b, **kw),
                  lambda x, w, b: _tf().conv_transpose2d(x, w, b, **kw),
                  R(*shape), R(2, 2 // groups, 3, 2), R(2))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(stride=3, dilation=2, groups=2),
                                dict(padding="same", dilation=2), dict(stride=4, padding=(2,))], ids=str)
def test_conv1d_and_conv_transpose1d(kw):
    g = kw.get("groups", 1)
    against_torch(lambda x, w, b: ag.conv1d(x, w, b, **kw), lambda x, w, b: _tf().conv1d(x, w, b, **kw),
                  R(1, 2, 9), R(2, 2 // g, 3), R(2))
    kw = {k: v for k, v in kw.items() if v != "same"}
    against_torch(lambda x, w, b: ag.conv_transpose1d(x, w, b, **kw),
                  lambda x, w, b: _tf().conv_transpose1d(x, w, b, **kw),
                  R(1, 2, 9), R(2, 2 // g, 3), R(2 // g * g))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(stride=4),
                                dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(2, 1, 1), groups=2)], ids=str)
@pytest.mark.parametrize("shape", [(1, 2, 3, 3, 4), (0, 2, 3, 3, 4), (2, 3, 3, 4)], ids=str)
def test_conv3d(kw, shape):
    against_torch(lambda x, w, b: ag.conv3d(x, w, b, **kw), lambda x, w, b: _tf().conv3d(x, w, b, **kw),
                  R(*shape), R(2, 2 // kw.get("groups", 1), 3, 2, 3), R(2))


def test_conv3d_module_with_copied_weights():
    ours = nn.Conv3d(4, 2, (2, 3, 1), stride=2, padding=1, seed=0, dtype=np.float64)

    def build():
        return torch.nn.Conv3d(4, 2, (2, 3, 1), stride=2, padding=1)

    against_torch(ours, _TorchModule(build, ours), R(2, 4, 3, 5, 4))
    assert repr(ours) == oracle(lambda: repr(build()), key="repr")


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(stride=(2, 1, 3), padding=(1, 0, 1),
                                                                 output_padding=(1, 0, 2)),
                                dict(stride=1, dilation=(3, 1, 2), padding=(0, 1, 0), output_padding=(2, 0, 1)),
                                dict(stride=(1, 2, 1), dilation=2, groups=2)], ids=str)
@pytest.mark.parametrize("shape", [(1, 2, 3, 2, 3), (0, 2, 3, 2, 3), (2, 1, 3, 2)], ids=str)
def test_conv_transpose3d(kw, shape):
    g = kw.get("groups", 1)
    against_torch(lambda x, w, b: ag.conv_transpose3d(x, w, b, **kw),
                  lambda x, w, b: _tf().conv_transpose3d(x, w, b, **kw), R(*shape), R(2, 2 // g, 2, 3, 2), R(2))


def test_conv_transpose3d_module_with_copied_weights():
    ours = nn.ConvTranspose3d(4, 2, (2, 3, 1), stride=2, padding=1, output_padding=(1, 0, 1), seed=0,
                              dtype=np.float64)

    def build():
        return torch.nn.ConvTranspose3d(4, 2, (2, 3, 1), stride=2, padding=1, output_padding=(1, 0, 1))

    against_torch(ours, _TorchModule(build, ours), R(2, 4, 3, 2, 2))
    assert repr(ours) == oracle(lambda: repr(build()), key="repr")
    assert [tuple(p.shape) for p in ours.parameters()] == oracle(
        lambda: [tuple(p.shape) for p in build().parameters()], key="shapes")
    with pytest.raises(ValueError, match=r"conv_transpose3d: input has 3 channels .* expects 4"):
        ours(R(1, 3, 2, 2, 2))
    with pytest.raises(ValueError, match="conv_transpose3d: output_padding 2 must be smaller than either stride"):
        ag.conv_transpose3d(R(1, 4, 2, 2, 2), ours.weight, output_padding=2, stride=2)


@pytest.mark.parametrize("padding", [((1, 0), (0, 2)), ((-1, 2), (1, -2)), ((-2, -1), (0, 0)), ((0, 3), (-1, -1))],
                         ids=str)
def test_conv2d_asymmetric_and_negative_padding_is_a_pad_then_a_conv(padding):
    (t, b), (left, right) = padding
    against_torch(lambda x, w: ag.conv2d(x, w, padding=padding, stride=(1, 2)),
                  lambda x, w: _tf().conv2d(_tf().pad(x, (left, right, t, b)), w, stride=(1, 2)),
                  R(1, 2, 6, 7), R(2, 2, 2, 3))


def test_conv1d_asymmetric_padding():
    against_torch(lambda x, w: ag.conv1d(x, w, padding=(2, -1)), lambda x, w: _tf().conv1d(_tf().pad(x, (2, -1)), w),
                  R(2, 3, 7), R(4, 3, 3))


@pytest.mark.parametrize("module, theirs", [
    (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2), seed=0,
                                dtype=np.float64),
     lambda: torch.nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2))),
    (lambda: nn.Conv1d(2, 2, 3, stride=2, padding=1, groups=2, seed=0, dtype=np.float64),
     lambda: torch.nn.Conv1d(2, 2, 3, stride=2, padding=1, groups=2)),
    (lambda: nn.ConvTranspose1d(2, 1, 3, stride=2, bias=False, seed=0, dtype=np.float64),
     lambda: torch.nn.ConvTranspose1d(2, 1, 3, stride=2, bias=False)),
    (lambda: nn.Conv2d(2, 1, 3, padding=(1, 2), padding_mode="reflect", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv2d(2, 1, 3, padding=(1, 2), padding_mode="reflect")),
    (lambda: nn.Conv2d(2, 1, (2, 3), padding="same", padding_mode="circular", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv2d(2, 1, (2, 3), padding="same", padding_mode="circular")),
    (lambda: nn.Conv1d(2, 1, 3, padding=2, dilation=2, padding_mode="replicate", seed=0, dtype=np.float64),
     lambda: torch.nn.Conv1d(2, 1, 3, padding=2, dilation=2, padding_mode="replicate")),
], ids=["ConvTranspose2d", "Conv1d", "ConvTranspose1d", "reflect", "same-circular", "Conv1d-replicate"])
def test_conv_modules_with_copied_weights(module, theirs):
    ours = module()
    assert [tuple(p.shape) for p in ours.parameters()] == oracle(
        lambda: [tuple(p.shape) for p in theirs().parameters()], key="shapes")
    x = R(1, 2, 5, 6) if ours.dims == 2 else R(1, 2, 7)
    against_torch(ours, _TorchModule(theirs, ours), x)
    assert repr(ours).split("(", 1)[1] == oracle(lambda: repr(theirs()).split("(", 1)[1], key="repr")


# ---- pad -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("amounts", [(1, 2), (1, 2, 3, 0), (-1, 2, 0, 3), (2, -1, 1, -2), (1, 1, 1, 1, 1, 1)], ids=str)
def test_functional_pad_modes(mode, amounts):
    x = R(*(1, 1, 4, 5, 6)[:len(amounts) // 2 + 2])  # PyTorch's non-constant modes pad (batch, channel, ...) inputs
    against_torch(lambda x: nn.functional.pad(x, amounts, mode), lambda x: _tf().pad(x, amounts, mode), x)


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
@pytest.mark.parametrize("shape", [(1, 1, 5), (1, 1, 3, 4), (1, 1, 2, 3, 2), (0, 1, 4, 5), (1, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "linear-corners"])
def test_interpolate(kw, shape, mode):
    linear = {3: "linear", 4: "bilinear", 5: "trilinear"}[len(shape)]
    kw = dict(kw, mode=mode) if mode.startswith("nearest") else dict(kw, mode=linear,
                                                                        align_corners=mode == "linear-corners")
    against_torch(lambda x: ag.interpolate(x, **kw), lambda x: _tf().interpolate(x, **kw), R(*shape), tol=1e-12)


def test_interpolate_with_per_axis_sizes_and_the_upsample_module():
    against_torch(lambda x: ag.interpolate(x, size=(3, 8), mode="bilinear"),
                  lambda x: _tf().interpolate(x, size=(3, 8), mode="bilinear"), R(2, 3, 5, 4))
    for name, ours, theirs in [
            ("nearest", nn.Upsample(scale_factor=(2, 0.5), mode="nearest"),
             lambda: torch.nn.Upsample(scale_factor=(2, 0.5))),
            ("bilinear", nn.Upsample(size=6, mode="bilinear", align_corners=True),
             lambda: torch.nn.Upsample(6, mode="bilinear", align_corners=True))]:
        against_torch(ours, _TorchModule(theirs, ours), R(2, 3, 5, 4), key=name)
        assert repr(ours) == oracle(lambda theirs=theirs: repr(theirs()), key=name + "-repr")


@pytest.mark.parametrize("r", [1, 2, 3])
def test_pixel_shuffle_and_unshuffle(r):
    against_torch(nn.PixelShuffle(r), lambda t: torch.nn.PixelShuffle(r)(t), R(1, r * r, 3, 4))
    against_torch(nn.PixelUnshuffle(r), lambda t: torch.nn.PixelUnshuffle(r)(t),
                  R(2, 1, 1, 2 * r, 3 * r))  # 3 batch axes
    x = R(0, 4 * r * r, 2, 1)
    np.testing.assert_array_equal(np.asarray(ag.pixel_unshuffle(ag.pixel_shuffle(x, r), r)), x)
    assert repr(nn.PixelShuffle(r)) == oracle(lambda: repr(torch.nn.PixelShuffle(r)), key="repr")


# ---- pooling --------------------------------------------------------------------------------------------------
POOLS = [dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
         dict(kernel_size=3, stride=3, padding=1, ceil_mode=True),
         dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 0), ceil_mode=True),
         dict(kernel_size=2, stride=4), dict(kernel_size=1), dict(kernel_size=3, stride=1, padding=1)]


@pytest.mark.parametrize("kw", POOLS, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 7, 6), (0, 1, 7, 6), (1, 2, 1, 1)], ids=str)
def test_max_pool2d_ceil_mode_and_indices(kw, shape):
    if shape[2] == 1:
        kw = dict(kw, kernel_size=1, padding=0)
    x = RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.1  # distinct values
    against_torch(lambda t: ag.max_pool2d(t, **kw, return_indices=True),
                  lambda t: _tf().max_pool2d(t, **kw, return_indices=True), x)
    against_torch(lambda t: ag.max_pool2d(t, **kw), lambda t: _tf().max_pool2d(t, **kw),
                  RNG.integers(-3, 3, shape).astype(np.int64))  # integers: integer results


@pytest.mark.parametrize("kw", POOLS, ids=str)
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool2d_ceil_mode_and_integers(kw, include):
    kw = dict(kw, count_include_pad=include)
    against_torch(lambda t: ag.avg_pool2d(t, **kw), lambda t: _tf().avg_pool2d(t, **kw), R(1, 1, 7, 6))
    against_torch(lambda t: ag.avg_pool2d(t, **kw), lambda t: _tf().avg_pool2d(t, **kw),  # truncated toward zero
                  RNG.integers(-9, 9, (1, 1, 7, 6)))


def test_pooling_with_asymmetric_padding_is_a_pad_then_a_pool():
    pads = ((1, 0), (0, 2))
    against_torch(lambda t: ag.max_pool2d(t, (2, 4), padding=pads, stride=(1, 3)),
                  lambda t: _tf().max_pool2d(_tf().pad(t, (0, 2, 1, 0), value=-np.inf), (2, 4), stride=(1, 3)),
                  R(2, 3, 5, 6))
    against_torch(lambda t: ag.avg_pool2d(t, (2, 4), padding=pads, stride=(1, 3)),
                  lambda t: _tf().avg_pool2d(_tf().pad(t, (0, 2, 1, 0)), (2, 4), stride=(1, 3)), R(2, 3, 5, 6))


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2),
                                dict(kernel_size=2, stride=3, dilation=2), dict(kernel_size=4, stride=1, padding=2)],
                         ids=str)
def test_pool1d(kw):
    x = RNG.permutation(2 * 9).reshape(1, 2, 9) * 0.1
    against_torch(lambda t: ag.max_pool1d(t, **kw, return_indices=True),
                  lambda t: _tf().max_pool1d(t, **kw, return_indices=True), x)
    kw.pop("dilation", None)
    for include in (True, False):
        kw["count_include_pad"] = include
        against_torch(lambda t, kw=dict(kw): ag.avg_pool1d(t, **kw), lambda t, kw=dict(kw): _tf().avg_pool1d(t, **kw),
                      x, key=f"avg-include={include}")


@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda: torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
    (lambda: nn.MaxPool1d(2, return_indices=True), lambda: torch.nn.MaxPool1d(2, return_indices=True)),
    (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda: torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    (lambda: nn.AvgPool1d(3, 2, 1, ceil_mode=True), lambda: torch.nn.AvgPool1d(3, 2, 1, ceil_mode=True)),
], ids=["MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d"])
def test_pool_modules(ours, theirs):
    ours = ours()
    assert repr(ours) == oracle(lambda: repr(theirs()), key="repr")
    against_torch(ours, _TorchModule(theirs, ours), R(2, 3, 7, 6) if "2d" in repr(ours) else R(2, 3, 7))


# ---- normalization and channel dropout -------------------------------------------------------------------
def _affine(ours):
    """``ours`` with non-trivial affine parameters (PyTorch's module loads them)."""
    ours.load_state_dict({k: RNG.standard_normal(np.shape(v)) if k in ("weight", "bias") else v
                          for k, v in ours.state_dict().items()})
    return ours


@pytest.mark.parametrize("groups, affine", [(1, True), (2, True), (4, False), (2, False)])
@pytest.mark.parametrize("shape", [(2, 4, 3, 2), (1, 4, 7), (0, 4, 3, 3), (2, 4, 1, 1)], ids=str)
def test_group_norm(groups, affine, shape):
    ours = _affine(nn.GroupNorm(groups, 4, affine=affine, dtype=np.float64))

    def build():
        return torch.nn.GroupNorm(groups, 4, affine=affine)

    assert repr(ours) == oracle(lambda: repr(build()), key="repr")
    if shape[0] and np.prod(shape[2:]) * 4 // groups > 1:
        against_torch(ours, _TorchModule(build, ours), R(*shape), tol=1e-9)
    else:
        assert ours(R(*shape)).shape == shape


INSTANCE_NORMS = [(False, False), (True, False), (True, True), (False, True)]


@pytest.mark.parametrize("affine, track", INSTANCE_NORMS)
def test_instance_norm2d_train_and_eval(affine, track):
    _instance_norm_against_torch(2, affine, track)


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("affine, track", INSTANCE_NORMS)
def test_instance_norm1d_3d_train_and_eval(nd, affine, track):
    _instance_norm_against_torch(nd, affine, track)
    with pytest.raises(ValueError, match=f"InstanceNorm{nd}d: expected a {nd + 1}-d or {nd + 2}-d input"):
        getattr(nn, f"InstanceNorm{nd}d")(2)(R(*(2,) * (nd + 3)))


def _instance_norm_against_torch(nd, affine, track):
    ours = _affine(getattr(nn, f"InstanceNorm{nd}d")(2, affine=affine, track_running_stats=track, dtype=np.float64))
    spatial = (3, 4, 2)[:nd]

    def build():
        return getattr(torch.nn, f"InstanceNorm{nd}d")(2, affine=affine, track_running_stats=track)

    assert repr(ours) == oracle(lambda: repr(build()), key="repr")
    start, xs = _TorchModule(build, ours), [R(2, 2, *spatial) for _ in range(2)]
    for k, x in enumerate(xs):  # training: the running statistics move (when tracked)
        against_torch(ours, _TorchModule(build, ours), x, tol=1e-9, key=f"train{k}")

    def their_state():
        for x in xs:
            start(torch.tensor(x))
        return {k: v.numpy() for k, v in start.module.state_dict().items()}

    for k, v in oracle(their_state, key="state").items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v, rtol=1e-12, err_msg=k)
    ours.eval()
    against_torch(ours, _TorchModule(build, ours), R(2, 2, *spatial), tol=1e-9, key="eval")
    against_torch(ours, _TorchModule(build, ours), R(2, *spatial), tol=1e-9, key="unbatched")


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
    _, idx = ag.max_pool2d(R(2, 3, 7, 6), return_indices=True, **kw)  # its indices: PyTorch's (tested above)
    idx = np.asarray(idx)
    # overlapping windows give duplicate indices: PyTorch's gradient reaches the overwritten ones too, ours is exact
    duplicates = kw.get("stride", 2) < kw["kernel_size"]
    against_torch(lambda x: nn.MaxUnpool2d(**kw)(x, idx, size),
                  lambda x: torch.nn.MaxUnpool2d(**kw)(x, torch.tensor(idx), size), R(*idx.shape),
                  order=0 if duplicates else 2)
    assert repr(nn.MaxUnpool2d(**kw)) == oracle(lambda: repr(torch.nn.MaxUnpool2d(**kw)), key="repr")
    with pytest.raises(IndexError, match="max_unpool2d: index 99 is out of range"):
        ag.max_unpool2d(R(1, 1, 1, 1), np.array([[[[99]]]]), 2)


POOLS3D = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=(2, 3, 1), stride=(1, 2, 3), padding=(1, 1, 0), ceil_mode=True),
           dict(kernel_size=3, stride=1)]


@pytest.mark.parametrize("kw", POOLS3D, ids=str)
def test_pool3d_with_ties(kw):
    x = RNG.integers(0, 4, (1, 1, 4, 5, 3)).astype(float)  # many ties: the first maximum in (d, h, w) order
    against_torch(nn.MaxPool3d(**kw), lambda t: torch.nn.MaxPool3d(**kw)(t), x, key="max")
    assert repr(nn.MaxPool3d(**kw)) == oracle(lambda: repr(torch.nn.MaxPool3d(**kw)), key="repr")
    for extra in (dict(), dict(count_include_pad=False), dict(divisor_override=5)):
        against_torch(nn.AvgPool3d(**kw, **extra), lambda t, extra=extra: torch.nn.AvgPool3d(**kw, **extra)(t), x,
                      key=f"avg{extra}")
    against_torch(nn.MaxPool3d(**kw), lambda t: torch.nn.MaxPool3d(**kw)(t), R(0, 1, 4, 5, 3), key="max-empty")
    against_torch(nn.AvgPool3d(**kw), lambda t: torch.nn.AvgPool3d(**kw)(t), R(1, 4, 5, 3), key="unbatched")


ADAPTIVE = [(1, (2, 3, 7), 3), (1, (2, 5), (4,)), (2, (1, 2, 5, 7), (3, None)), (2, (2, 4, 4), 1),
            (2, (1, 1, 3, 5), (6, 2)), (3, (1, 2, 4, 5, 3), (2, 3, None)), (3, (1, 3, 5, 2), 2),
            (3, (0, 1, 2, 2, 2), 1)]


@pytest.mark.parametrize("nd, shape, size", ADAPTIVE, ids=str)
def test_adaptive_pools_with_ties_and_nan(nd, shape, size):
    # integers: many ties (the first maximum in row-major order takes the gradient); then a nan and an inf,
    # which stay inside their bins (PyTorch's rule for nan: the last one wins)
    x = RNG.integers(0, 3, shape).astype(float)
    special = x.copy()
    if special.size:
        special.reshape(-1)[[1, -1]] = np.nan, np.inf
    for name, kw in (("Avg", {}), ("Max", {}), ("Max", dict(return_indices=True))):
        ours = getattr(nn, f"Adaptive{name}Pool{nd}d")(size, **kw)

        def theirs(name=name, kw=kw):
            return getattr(torch.nn, f"Adaptive{name}Pool{nd}d")(size, **kw)

        for k, a in enumerate((x, special)):
            against_torch(ours, lambda t, theirs=theirs: theirs()(t), a, key=f"{name}{kw}{k}")
        assert repr(ours) == oracle(lambda theirs=theirs: repr(theirs()), key=f"repr{name}{kw}")


@pytest.mark.parametrize("kw", POOLS3D, ids=str)
def test_max_pool3d_return_indices_and_max_unpool3d(kw):
    x = RNG.integers(0, 4, (1, 2, 4, 5, 3)).astype(float)  # ties: the first maximum in (d, h, w) order
    x[0, 1, 1, 2, 0] = x[0, 1, 2, 2, 1] = np.nan  # two nans in one window (a kernel-3 window): the last one wins
    pool = dict(kw, return_indices=True)
    against_torch(nn.MaxPool3d(**pool), lambda t: torch.nn.MaxPool3d(**pool)(t), x, key="pool")
    against_torch(nn.MaxPool3d(**pool), lambda t: torch.nn.MaxPool3d(**pool)(t), x[0], key="unbatched")
    _, idx = ag.max_pool3d(R(2, 2, 4, 5, 3), **pool)  # the indices are PyTorch's (above)
    idx = np.asarray(idx)
    unpool = {k: v for k, v in kw.items() if k != "ceil_mode"}
    size = (4, 5, 3)  # the default output size rounds down where ceil_mode or padding left some off
    order = 2 if kw.get("stride", kw["kernel_size"]) == kw["kernel_size"] else 0  # duplicates: see max_unpool2d
    against_torch(lambda t: nn.MaxUnpool3d(**unpool)(t, idx, size),
                  lambda t: torch.nn.MaxUnpool3d(**unpool)(t, torch.tensor(idx), size), R(*idx.shape), order=order,
                  key="unpool")


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1)], ids=str)
def test_max_unpool1d_inverts_max_pool1d(kw):
    _, idx = ag.max_pool1d(R(2, 3, 7), return_indices=True, **kw)
    idx = np.asarray(idx)
    order = 2 if kw.get("stride", 2) == kw["kernel_size"] else 0
    for size in (None, (7,)):
        against_torch(lambda t, size=size: nn.MaxUnpool1d(**kw)(t, idx, size),
                      lambda t, size=size: torch.nn.MaxUnpool1d(**kw)(t, torch.tensor(idx), size), R(*idx.shape),
                      order=order, key=f"{size}")
    assert repr(nn.MaxUnpool1d(**kw)) == oracle(lambda: repr(torch.nn.MaxUnpool1d(**kw)), key="repr")
    with pytest.raises(IndexError, match="max_unpool1d: index 9 is out of range for an output of size 2"):
        ag.max_unpool1d(R(1, 1, 1), np.array([[[9]]]), 2)
    with pytest.raises(TypeError, match=r"max_unpool3d: kernel_size must be an int or 3 ints, got \(2, 2\)"):
        ag.max_unpool3d(R(1, 1, 1, 1, 1), np.zeros((1, 1, 1, 1, 1), int), (2, 2))
