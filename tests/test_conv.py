"""conv2d, max/avg/adaptive pooling and pad: values and gradients against float64 finite differences on
hypothesis-drawn geometries, gradcheck / gradgradcheck on every primitive, PyTorch as the oracle when installed,
edge cases (stride > kernel, depthwise, 1x1, batch 0, ties, nan) and the errors bad arguments get."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from autograd_mini.function import Function
from autograd_mini.ops import conv as C
from autograd_mini.ops import pool as P
from tests._fd import check_grads
from tests._oracle import case_rng, oracle

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the comparisons below skip
    torch = None

RNG = np.random.default_rng(0)


def T(*shape, grad=True):
    return ag.tensor(RNG.standard_normal(shape), dtype=np.float64, requires_grad=grad)


@st.composite
def conv_cases(draw):
    """(x shape, w shape, stride, padding, dilation, groups) that fit together."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 3))
    w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 3))
    n = draw(st.integers(1, 2))
    return (n, groups * cg, h, w), (groups * og, cg, kh, kw), stride, padding, dilation, groups


@given(case=conv_cases(), bias=st.booleans())
def test_conv2d_gradients_match_finite_differences(case, bias):
    xs, ws, stride, padding, dilation, groups = case
    arrays = [RNG.standard_normal(xs), RNG.standard_normal(ws)] + ([RNG.standard_normal(ws[0])] if bias else [])

    def f(x, w, b=None):
        return ag.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    check_grads(f, arrays, RNG)


@given(case=conv_cases())
def test_conv2d_matches_a_direct_sum(case):
    xs, ws, stride, padding, dilation, groups = case
    x, w = RNG.standard_normal(xs), RNG.standard_normal(ws)
    out = np.asarray(ag.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups))
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    o, cg, kh, kw = w.shape
    expected = np.zeros(out.shape)
    for idx in np.ndindex(out.shape):  # the definition, one output element at a time
        n, oc, i, j = idx
        g = oc // (o // groups)
        for c in range(cg):
            for a in range(kh):
                for b in range(kw):
                    expected[idx] += w[oc, c, a, b] * xp[n, g * cg + c, i * stride[0] + a * dilation[0],
                                                         j * stride[1] + b * dilation[1]]
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@st.composite
def pool_cases(draw, dilation=True):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    h = dil[0] * (kh - 1) + 1 + draw(st.integers(0, 3))
    w = dil[1] * (kw - 1) + 1 + draw(st.integers(0, 3))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w), (kh, kw), stride, padding, dil


@given(case=pool_cases())
def test_max_pool2d_gradients_match_finite_differences(case):
    xs, kernel, stride, padding, dilation = case
    x = RNG.permutation(np.prod(xs)).reshape(xs) * 0.1  # distinct values: no ties for the differences to straddle
    check_grads(lambda t: ag.max_pool2d(t, kernel, stride, padding, dilation), [x], RNG)


@given(case=pool_cases(dilation=False), include=st.booleans())
def test_avg_pool2d_gradients_match_finite_differences(case, include):
    xs, kernel, stride, padding, _ = case
    check_grads(lambda t: ag.avg_pool2d(t, kernel, stride, padding, count_include_pad=include),
                [RNG.standard_normal(xs)], RNG)


@given(h=st.integers(1, 6), w=st.integers(1, 6), oh=st.integers(1, 6), ow=st.integers(1, 6))
def test_adaptive_avg_pool2d_bins_and_gradients(h, w, oh, ow):
    x = RNG.standard_normal((1, 2, h, w))
    out = np.asarray(ag.adaptive_avg_pool2d(x, (oh, ow)))
    for i in range(oh):
        for j in range(ow):  # PyTorch's bins: [floor(i h / oh), ceil((i + 1) h / oh))
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            np.testing.assert_allclose(out[..., i, j], x[..., rows, cols].mean(axis=(-2, -1)), rtol=1e-12)
    check_grads(lambda t: ag.adaptive_avg_pool2d(t, (oh, ow)), [x], RNG)


def _bin_slices(sizes, outs):
    """Every output position's box of input slices (PyTorch's bins: [floor(i n / o), ceil((i + 1) n / o)))."""
    ranges = [[slice(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(sizes, outs)]
    return np.ndindex(*outs), ranges


@given(data=st.data(), nd=st.sampled_from([1, 2, 3]))
def test_adaptive_pools_bins_and_gradients(data, nd):
    sizes = tuple(data.draw(st.integers(1, 5)) for _ in range(nd))
    outs = tuple(data.draw(st.integers(0, 6)) for _ in range(nd))
    x = RNG.standard_normal((2, 1) + sizes)
    avg, mx = getattr(ag, f"adaptive_avg_pool{nd}d"), getattr(ag, f"adaptive_max_pool{nd}d")
    got_avg, (got_max, flat) = np.asarray(avg(x, outs)), mx(x, outs, return_indices=True)
    positions, ranges = _bin_slices(sizes, outs)
    for pos in positions:
        box = x[(Ellipsis, *(r[i] for r, i in zip(ranges, pos)))].reshape(2, 1, -1)
        np.testing.assert_allclose(got_avg[(Ellipsis, *pos)], box.mean(-1), rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(got_max)[(Ellipsis, *pos)], box.max(-1))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 1, -1), np.asarray(flat).reshape(2, 1, -1), 2),
                                  np.asarray(got_max).reshape(2, 1, -1))  # the indices point at the maxima
    check_grads(lambda t: avg(t, outs), [x], RNG)
    check_grads(lambda t: mx(t, outs), [x], RNG)


def test_adaptive_pools_refuse_bad_input():
    with pytest.raises(ValueError, match=r"adaptive_max_pool3d: expected input of shape \(N, C, D, H, W\)"):
        ag.adaptive_max_pool3d(np.zeros((2, 3, 4)), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool1d: expected non-zero sizes"):
        ag.adaptive_avg_pool1d(np.zeros((1, 2, 0)), 2)
    with pytest.raises(TypeError, match="adaptive_max_pool1d: expected a floating-point input"):
        ag.adaptive_max_pool1d(np.zeros((1, 2, 3), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool3d: output_size must be an int or 3 of them"):
        ag.adaptive_avg_pool3d(np.zeros((1, 1, 2, 2, 2)), (1, 1))
    with pytest.raises(ValueError, match="adaptive_max_pool2d: output_size must be >= 0"):
        ag.adaptive_max_pool2d(np.zeros((1, 1, 2, 2)), (1, -1))


@given(shape=st.lists(st.integers(0, 3), min_size=1, max_size=3), data=st.data())
def test_pad_matches_numpy_and_its_gradient_crops(shape, data):
    widths = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape]
    x = RNG.standard_normal(shape)
    np.testing.assert_array_equal(np.asarray(ag.pad(x, widths, constant_values=1.5)),
                                  np.pad(x, widths, constant_values=1.5))
    check_grads(lambda t: ag.pad(t, widths) * 2.0, [x], RNG)


# ---- every primitive of ops/conv.py: gradcheck and gradgradcheck ----------------------------------------
GEO = dict(stride=(2, 1), padding=((1, 1), (0, 0)), dilation=(1, 2), groups=2)
MP = dict(kernel=(2, 2), stride=(1, 1), padding=((1, 1), (0, 0)), dilation=(1, 1))  # overlapping windows


def _pool_winners(**kw):
    """What max_pool2d's derivative gets for a (2, 2, 4, 3) input: the winners and the geometry."""
    y = ag.max_pool2d(T(2, 2, 4, 3), kw["kernel"], kw["stride"], (kw["padding"][0][0], kw["padding"][1][0]))
    winner, x_shape = y.grad_fn.saved_tensors
    return dict(y.grad_fn.params, winner=winner, x_shape=x_shape)


POOL_WINNERS = _pool_winners(**MP)  # recorded once, with grad on (gradcheck evaluates under no_grad)


CASES = {
    "Conv2d": (lambda x, w, b: ag.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
               lambda: [T(2, 4, 5, 5), T(4, 2, 2, 3), T(4)]),
    "ConvTranspose2d": (lambda g, w: C.ConvTranspose2d.apply(g, w, x_shape=(2, 4, 5, 6), **GEO),
                        lambda: [T(2, 4, 3, 4), T(4, 2, 2, 2)]),
    "ConvWeight2d": (lambda x, g: C.ConvWeight2d.apply(x, g, w_shape=(4, 2, 2, 2), **GEO),
                     lambda: [T(2, 4, 5, 6), T(2, 4, 3, 4)]),
    "MaxPool2d": (lambda x: ag.max_pool2d(x, 2, 1, (1, 0)), lambda: [T(2, 2, 4, 3)]),
    "WindowScatter": (lambda g: P.WindowScatter.apply(g, **POOL_WINNERS), lambda: [T(2, 2, 5, 2)]),
    "WindowGather": (lambda h: P.WindowGather.apply(h, **POOL_WINNERS), lambda: [T(2, 2, 4, 3)]),
    "Pad": (lambda x: ag.pad(x, ((0, 0), (1, 2), (2, 0))), lambda: [T(2, 2, 3)]),
    "MaxUnpool": (lambda x: ag.max_unpool2d(x, np.array([[[[0, 3], [5, 5]]]]), 2, output_size=(3, 3)),  # a duplicate
                  lambda: [T(1, 1, 2, 2)]),
    "AdaptiveMaxPool": (lambda x: ag.adaptive_max_pool2d(x, (3, 2)), lambda: [T(2, 2, 5, 4)]),  # overlapping bins
}


def test_every_primitive_has_a_case():
    prims = {n for m in (C, P) for n, c in vars(m).items()
             if inspect.isclass(c) and issubclass(c, Function) and c.__module__ == m.__name__}
    assert prims == set(CASES), f"add a gradcheck case for {prims - set(CASES)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_and_gradgradcheck(name):
    fn, make = CASES[name]
    assert ag.gradcheck(fn, make())
    assert ag.gradgradcheck(fn, make())


def test_third_derivative_of_conv2d_is_exact():
    # The derivative primitives differentiate into each other: any order works.
    x, w = T(1, 2, 4, 4), T(2, 2, 2, 2)

    def second(x, w):
        (gx,) = ag.grad_of((ag.conv2d(x, w) ** 2).sum(), [x], create_graph=True)
        return gx

    assert ag.gradgradcheck(second, [x, w])


# ---- edge cases ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(stride=3), dict(padding=2), dict(groups=4), dict(dilation=3, padding=3)])
def test_edge_geometries(kw):
    # stride > kernel, padding >= kernel / 2, depthwise (groups = in_channels), large dilation
    w = T(8, 4 // kw.get("groups", 1), 2, 2)
    assert ag.gradcheck(lambda x, w: ag.conv2d(x, w, **kw), [T(1, 4, 5, 5), w])


def test_1x1_kernel_is_a_matmul_over_channels():
    x, w = T(2, 3, 4, 5), T(6, 3, 1, 1)
    expected = np.einsum("nchw,oc->nohw", np.asarray(x), np.asarray(w)[:, :, 0, 0])
    # a 3-term sum that cancels (an output near 2e-5 among outputs near 3) differs in its last bits with the
    # summation order (BLAS vs einsum): 1e-12 of the scale, not of the cancelled value
    np.testing.assert_allclose(np.asarray(ag.conv2d(x, w)), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_batch_of_zero_images():
    x = ag.tensor(np.zeros((0, 3, 8, 8)), requires_grad=True)
    conv = nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64)
    y = nn.MaxPool2d(2)(conv(x))
    z = nn.AvgPool2d(2)(y) + nn.AdaptiveAvgPool2d(2)(y)
    assert y.shape == (0, 4, 4, 4) and z.shape == (0, 4, 2, 2)
    z.sum().backward()
    assert x.grad.shape == x.shape and np.all(np.asarray(conv.weight.grad) == 0)


def test_unbatched_input():
    x, w = T(3, 5, 5), T(2, 3, 3, 3)
    np.testing.assert_allclose(np.asarray(ag.conv2d(x, w)), np.asarray(ag.conv2d(x.reshape(1, 3, 5, 5), w))[0])
    assert ag.max_pool2d(x, 2).shape == (3, 2, 2)


def test_views_as_inputs_give_the_same_values_and_gradients():
    base, wbase = RNG.standard_normal((2, 3, 9, 12)), RNG.standard_normal((3, 4, 3, 3))
    x_view, w_view = base[:, ::-1, ::2, 1::2], wbase.transpose(1, 0, 3, 2)  # strided, reversed, transposed
    for f in (lambda x, w: ag.conv2d(x, w, stride=(1, 2), padding=1), lambda x, w: ag.max_pool2d(ag.conv2d(x, w), 2)):
        got, want = f(x_view, w_view), f(np.ascontiguousarray(x_view), np.ascontiguousarray(w_view))
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
    assert ag.gradcheck(lambda x, w: ag.conv2d(x, w, padding=1), [ag.tensor(x_view, requires_grad=True),
                                                                  ag.tensor(w_view, requires_grad=True)])


def _direct_conv_grads(x: np.ndarray, w: np.ndarray, g: np.ndarray, padding: tuple, dilation: tuple) -> tuple:
    """conv2d's input and weight gradients (stride 1, groups 1) by the definition: only the products of the
    windows that exist, one term at a time."""
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    gx, gw = np.zeros(xp.shape), np.zeros(w.shape)
    for n, o, i, j in np.ndindex(g.shape):
        for c, a, b in np.ndindex(w.shape[1:]):
            r, s = i + a * dilation[0], j + b * dilation[1]
            gx[n, c, r, s] += g[n, o, i, j] * w[o, c, a, b]
            gw[o, c, a, b] += g[n, o, i, j] * xp[n, c, r, s]
    return gx[:, :, pt:xp.shape[2] - pb, pl:xp.shape[3] - pr], gw


@pytest.mark.parametrize("where", ["x right column", "x corner", "w corner", "w nan"])
@pytest.mark.parametrize("padding, dilation", [(((0, 0), (0, 0)), (1, 1)), (((1, 2), (2, 0)), (1, 2))])
def test_a_non_finite_value_reaches_only_the_gradients_it_touches(where, padding, dilation):
    # stride 1 computes windows that wrap around row ends and drops them; a wrapped window's 0 must never meet
    # an inf or nan (0 * inf = nan) in the gradients that are kept
    x, w, g = RNG.standard_normal((2, 2, 5, 6)), RNG.standard_normal((3, 2, 2, 3)), None
    if where.startswith("x"):
        x[1, 0, 2 if "column" in where else 0, -1] = np.inf
    else:
        w[1, 0, 0, 0] = np.nan if "nan" in where else -np.inf
    xt, wt = ag.tensor(x, requires_grad=True), ag.tensor(w, requires_grad=True)
    with np.errstate(invalid="ignore"):  # the padding's zeros times the inf weight: nan, as it should be
        y = ag.conv2d(xt, wt, padding=padding, dilation=dilation)
        g = RNG.standard_normal(y.shape)
        y.backward(g)
        expected = _direct_conv_grads(x, w, g, padding, dilation)
    for got, want in zip((xt.grad, wt.grad), expected):
        got = np.asarray(got)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_max_pool2d_gradient_adds_into_zeros_as_pytorch():
    # PyTorch adds the incoming gradient into zeros, so a -0.0 arrives as 0.0 (also where windows do not overlap
    # and the gradient is written rather than added)
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}):
        x = ag.tensor(RNG.standard_normal((1, 2, 6, 6)), requires_grad=True)
        y = ag.max_pool2d(x, **kw)
        y.backward(np.full(y.shape, -0.0))
        assert not np.signbit(np.asarray(x.grad)).any()


def test_float32_stays_float32():
    conv = nn.Conv2d(1, 2, 3)
    x = ag.tensor(np.ones((2, 1, 6, 6), np.float32), requires_grad=True)
    y = nn.MaxPool2d(2)(conv(x))
    y.sum().backward()
    assert y.dtype == conv.weight.grad.dtype == x.grad.dtype == np.float32


def test_max_pool2d_with_a_dilation_beyond_a_byte():
    # winners are stored as small ints (kernel offsets); their pixel offsets (offset * dilation) must not wrap
    x = ag.tensor(RNG.standard_normal((1, 1, 2, 301)), requires_grad=True)
    y = ag.max_pool2d(x, (1, 3), stride=1, dilation=(1, 150))
    a = np.asarray(x)[0, 0]
    np.testing.assert_array_equal(np.asarray(y)[0, 0], np.maximum(np.maximum(a[:, :1], a[:, 150:151]), a[:, 300:]))
    y.sum().backward()
    assert np.asarray(x.grad).sum() == 2 and np.asarray(x.grad)[0, 0, :, [0, 150, 300]].sum() == 2


def test_max_pool2d_gives_a_tie_to_the_first_maximum():
    x = ag.tensor(np.ones((1, 1, 2, 4)), requires_grad=True)
    ag.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad)[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("call, message", [
    (lambda: ag.conv2d(T(2, 3, 5, 5), T(4, 2, 3, 3)), r"conv2d: input has 3 channels .* expects 2"),
    (lambda: ag.conv2d(T(2, 4, 5, 5), T(3, 2, 3, 3), groups=2), r"out_channels 3 .* not divisible by groups=2"),
    (lambda: ag.conv2d(T(2, 3, 2, 5), T(4, 3, 3, 3)), r"conv2d: the padded input height 2 .* kernel span 3"),
    (lambda: ag.conv2d(T(5, 5), T(4, 3, 3, 3)), r"conv2d: expected input of shape \(N, C, H, W\)"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3)), r"conv2d: weight must have shape"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3, 3), T(3)), r"conv2d: bias must have shape \(4,\)"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3, 3), stride=0), r"conv2d: stride must be >= 1"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3, 3), padding=((-6, 3), (0, 0))), r"crops more than the input"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3, 3), padding="same", stride=2), r"'same' needs stride 1"),
    (lambda: ag.conv2d(T(1, 3, 5, 5), T(4, 3, 3, 3), stride=1.5), r"conv2d: stride must be an int"),
    (lambda: ag.conv2d(np.ones((1, 3, 5, 5), np.int64), T(4, 3, 3, 3)), r"conv2d: expected a floating-point"),
    (lambda: ag.max_pool2d(T(1, 1, 4, 4), 2, padding=2), r"max_pool2d: padding 2 must be at most half"),
    (lambda: ag.max_pool2d(T(1, 1, 1, 4), 2), r"max_pool2d: the padded input height 1"),
    (lambda: ag.avg_pool2d(T(1, 1, 4, 4), 2, divisor_override=0), r"divisor_override must be a positive int"),
    (lambda: ag.pad(T(2, 2), ((1, 1), (1, 1), (1, 1))), r"pad: pad_width .* does not fit"),
    (lambda: ag.pad(T(2, 2), -1), r"pad: pad_width must hold non-negative ints"),
    (lambda: ag.pad(T(2, 2), 1, mode="mirror"), r"pad: mode must be one of"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: in_channels \(3\) and out_channels \(4\) must both be divisible"),
    (lambda: nn.functional.pad(T(2, 2), (1, 1, 1)), r"pad: expected an even number"),
])
def test_bad_arguments_get_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_functional_pad_uses_pytorchs_last_axis_first_order_and_crops_when_negative():
    x = T(2, 3, 4)
    out = nn.functional.pad(x, (1, -1, 2, 0))
    expected = np.pad(np.asarray(x), ((0, 0), (2, 0), (1, 0)))[:, :, :-1]
    np.testing.assert_array_equal(np.asarray(out), expected)
    assert ag.gradcheck(lambda t: nn.functional.pad(t, (1, -1, 2, 0)), [x])


# ---- a CNN: gradcheck_module, graphs by module ----------------------------------------------------------------
def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, seed=0, dtype=np.float64), nn.BatchNorm2d(2, dtype=np.float64),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 2, seed=1, dtype=np.float64), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2, seed=2, dtype=np.float64))


def test_gradcheck_module_on_a_cnn():
    x = RNG.standard_normal((3, 1, 6, 6))
    assert ag.gradcheck_module(small_cnn(), nn.functional.cross_entropy, x, np.array([0, 1, 1]))


def test_draw_graph_clusters_a_cnn_by_module_and_collapses_by_depth():
    model = small_cnn()
    loss = nn.functional.cross_entropy(model(RNG.standard_normal((2, 1, 6, 6))), np.array([0, 1]))
    dot = ag.viz.to_dot(loss)
    assert dot.count("subgraph cluster_") == 1 + len(model)
    assert 'label="0: Conv2d"' in dot and '"Conv2d_0"' in dot and '"MaxPool2d_' in dot
    collapsed = ag.viz.to_dot(loss, depth=1)
    assert all(f'"module:{i}"' in collapsed for i in range(len(model)))
    assert '"Conv2d_' not in collapsed and '"MaxPool2d_' not in collapsed  # their ops are inside the module nodes


def test_the_explorer_opens_a_cnn_with_its_modules_and_gradients():
    model = small_cnn()
    with ag.viz.recording() as rec:
        loss = nn.functional.cross_entropy(model(RNG.standard_normal((2, 1, 6, 6))), np.array([0, 1]))
        loss.backward()
    page = ag.viz.explore(loss, recording=rec)
    boxes = [b["label"] for b in page.data["boxes"]]
    assert boxes[:2] == ["Sequential", "0: Conv2d"] and "1: BatchNorm2d" in boxes and "3: MaxPool2d" in boxes
    weights = {n["key"]: n for n in page.data["nodes"] if n["key"].endswith("weight")}
    assert set(weights) == {"0.weight", "1.weight", "4.weight", "8.weight"}
    assert all(n["gnorm"] > 0 for n in weights.values())  # every layer got a gradient
    assert "<html" in page.html().lower()


# ---- PyTorch as the oracle (float64) ----------------------------------------------------------------------------
TORCH_CONV = [dict(), dict(stride=2), dict(stride=3, padding=1), dict(padding=2, dilation=2), dict(groups=2),
              dict(groups=4, padding=1), dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
              dict(padding="same"), dict(padding="same", dilation=2), dict(padding="valid")]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # PyTorch's note about its own copy
@pytest.mark.parametrize("kw", TORCH_CONV, ids=str)
@pytest.mark.parametrize("kernel", [(1, 1), (3, 3), (2, 3)])
def test_conv2d_matches_pytorch_to_second_order(kw, kernel):
    rng, groups = case_rng(), kw.get("groups", 1)
    x, w, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 4 // groups) + kernel), rng.standard_normal(4)
    ours = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = ag.conv2d(*ours, **kw)
    gy = rng.standard_normal(y.shape)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(w.shape)  # second order: d<gx, u> + <gw, v>

    def in_pytorch():
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        yt = TF.conv2d(*theirs, **kw)
        gt = torch.autograd.grad((yt * torch.tensor(gy)).sum(), theirs, create_graph=True)
        ht = torch.autograd.grad((gt[0] * torch.tensor(u)).sum() + (gt[1] * torch.tensor(v)).sum()
                                 + (gt[1] ** 2).sum(), theirs[:2])
        return yt, gt, ht

    yt, gt, ht = oracle(in_pytorch)
    np.testing.assert_allclose(np.asarray(y), yt, rtol=1e-10, atol=1e-12)
    g = ag.grad_of((y * gy).sum(), ours, create_graph=True)
    for a, t in zip(g, gt):
        np.testing.assert_allclose(np.asarray(a), t, rtol=1e-10, atol=1e-12)
    h = ag.grad_of((g[0] * u).sum() + (g[1] * v).sum() + (g[1] ** 2).sum(), ours[:2])
    for a, t in zip(h, ht):
        np.testing.assert_allclose(np.asarray(a), t, rtol=1e-9, atol=1e-11)


def _compare_pool(ours, theirs, x):
    xa = ag.tensor(x, requires_grad=True)
    y = ours(xa)
    gy = case_rng().standard_normal(y.shape)

    def in_pytorch():
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        (yt * torch.tensor(gy)).sum().backward()
        return yt, xt.grad

    yt, gxt = oracle(in_pytorch)
    np.testing.assert_allclose(np.asarray(y), yt, rtol=1e-12, atol=1e-14)
    (y * gy).sum().backward()
    np.testing.assert_allclose(np.asarray(xa.grad), gxt, rtol=1e-12, atol=1e-14)


POOL = [dict(kernel_size=2), dict(kernel_size=3, stride=1), dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=2, stride=3), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))]
SHAPE = (2, 2, 7, 6)


@pytest.mark.parametrize("kw", POOL + [dict(kernel_size=2, stride=1, dilation=2)], ids=str)
@pytest.mark.parametrize("values", ["distinct", "ties", "nan"])
def test_max_pool2d_matches_pytorch_with_ties_and_nan(kw, values):
    rng = case_rng()
    x = {"distinct": rng.standard_normal(SHAPE), "ties": rng.integers(0, 3, SHAPE).astype(float),
         "nan": np.where(rng.random(SHAPE) < 0.2, np.nan, rng.integers(0, 3, SHAPE))}[values]
    _compare_pool(lambda t: ag.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), x)


@pytest.mark.parametrize("kw", POOL + [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                       dict(kernel_size=2, padding=1, divisor_override=3)], ids=str)
def test_avg_pool2d_matches_pytorch(kw):
    _compare_pool(lambda t: ag.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), case_rng().standard_normal(SHAPE))


@pytest.mark.parametrize("size", [1, 3, (2, 4), (5, 5), (7, 6), (None, 2)], ids=str)
def test_adaptive_avg_pool2d_matches_pytorch(size):
    _compare_pool(lambda t: ag.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size),
                  case_rng().standard_normal(SHAPE))


def test_conv2d_default_init_matches_pytorchs_bounds():
    def in_pytorch():
        torch.manual_seed(0)
        theirs = torch.nn.Conv2d(6, 16, 5, groups=2)
        return [(tuple(t.shape), t.abs().max().item()) for t in (theirs.weight, theirs.bias)]

    ours, theirs = nn.Conv2d(6, 16, 5, groups=2, seed=0), oracle(in_pytorch)
    bound = 1 / np.sqrt(3 * 25)
    for p, (shape, t_max) in zip((ours.weight, ours.bias), theirs):
        assert p.shape == tuple(shape) and t_max <= bound
        assert bound >= np.abs(np.asarray(p)).max() > 0.9 * bound
