"""Red team round 5 on the ops merged in 4ad4961 (adaptive pools, InstanceNorm1d/3d, max_pool3d indices,
max_unpool1d/3d, conv_transpose3d, cumprod with zeros, solve_triangular, matrix_exp, matrix_rank, cond), PyTorch
2.13 float64 as the oracle. Each case here found a bug (value, gradient, dtype or error) that is fixed; the
comparisons read PyTorch's recorded answers when it is not installed (tests/_oracle.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import case_rng, oracle
from tests.test_adversarial_v3 import _assert_like_torch

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers
    torch = None


# ---- matrix_exp of a float32 matrix came back float64 (the 2^-s scale promoted it) -------------------------------
@pytest.mark.parametrize("scale", [0.1, 30.0])  # unscaled, and scaled and squared
def test_matrix_exp_keeps_float32(scale):
    a = (case_rng().standard_normal((2, 3, 3)) * scale).astype(np.float32)
    want = oracle(lambda: torch.linalg.matrix_exp(torch.tensor(a)))
    x = ag.tensor(a, requires_grad=True)
    got = ag.linalg.matrix_exp(x)
    got.sum().backward()
    assert got.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=1e-6 * np.abs(want).max())


# ---- solve_triangular: a zero on the diagonal made the gradient of the unread triangle nan (inf * 0) -------------
@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
def test_solve_triangular_unread_triangle_gets_zero_gradient_at_a_singular_diagonal(upper, left):
    rng = case_rng()
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    a[1, 1] = 0.0  # X is inf/nan: PyTorch's gradient of the triangle it does not read stays 0
    b = rng.standard_normal((3, 2) if left else (2, 3))
    _assert_like_torch(lambda x, y: ag.linalg.solve_triangular(x, y, upper=upper, left=left),
                       lambda x, y: torch.linalg.solve_triangular(x, y, upper=upper, left=left), a, b, orders=1)


# ---- matrix_rank: a tensor atol/rtol (one per matrix, PyTorch's) raised numpy's "truth value ... ambiguous" -------
def _ranks(lib, A, atol, rtol):
    T = ag.tensor if lib == "ag" else torch.tensor
    rank = ag.linalg.matrix_rank if lib == "ag" else torch.linalg.matrix_rank
    kw = {k: T(v) if isinstance(v, np.ndarray) else v for k, v in (("atol", atol), ("rtol", rtol)) if v is not None}
    return np.asarray(rank(T(A), **kw))


TOLS = {"atol": (np.array([0.05, 0.5, 0.001, 0.0]), None), "rtol": (None, np.array([0.05, 0.5, 1e-4, 0.0])),
        "both": (np.array([0.05, 0.0, 0.2, 0.0]), np.array([0.0, 0.5, 0.01, 1e-3])),
        "atol_column": (np.array([[0.05], [0.5]]), None)}  # broadcast against the batch (2, 4)


@pytest.mark.parametrize("name", sorted(TOLS))
def test_matrix_rank_takes_tensor_tolerances_per_matrix(name):
    atol, rtol = TOLS[name]
    A = np.broadcast_to(np.diag([1.0, 0.1, 0.01]), (4, 3, 3)).copy()
    A[3] = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, -1.0])  # rank 1 (the default tolerance where atol is 0)
    if name == "atol_column":
        A = np.broadcast_to(A, (2, 4, 3, 3))
    got = _ranks("ag", A, atol, rtol)
    want = oracle(lambda: _ranks("torch", A, atol, rtol))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# ---- conv3d / conv_transpose3d: a bad stride or padding was reported as a pair ("got (0, 0)") ---------------------
@pytest.mark.parametrize("op", ["conv3d", "conv_transpose3d"])
@pytest.mark.parametrize(("name", "value", "error", "says"), [
    ("stride", 0, ValueError, "stride must be >= 1, got 0"),
    ("stride", (1, 0, 2), ValueError, "stride must be >= 1, got (1, 0, 2)"),
    ("padding", -1, ValueError, "padding must be >= 0, got -1"),
    ("dilation", 1.5, TypeError, "dilation must be an int or 3 ints, got 1.5"),
    ("stride", (1, 2), TypeError, "stride must be an int or 3 ints, got (1, 2)"),
])
def test_3d_convolutions_name_the_argument_as_given(op, name, value, error, says):
    x, w = ag.tensor(np.ones((1, 2, 3, 3, 3))), ag.tensor(np.ones((2, 2, 2, 2, 2)))
    with pytest.raises(error, match=f"^{op}: " + says.replace("(", r"\(").replace(")", r"\)") + "$"):
        getattr(ag, op)(x, w, **{name: value})


# ---- max_unpool: any output_size that held the indices was taken (PyTorch: within a stride of the default size);
# a plane of another width reads the flat indices at other positions ----------------------------------------------
UNPOOL_SIZES = {  # (op, input shape, kernel, stride, padding, output_size)
    "1d_too_big": ("max_unpool1d", (1, 2, 3), 2, 2, 0, [8]),        # default 6: 5 to 7
    "1d_edge": ("max_unpool1d", (1, 2, 3), 2, 2, 0, [7]),
    "1d_overlapping": ("max_unpool1d", (2, 5), 3, 2, 1, [11]),      # default 9: 8 to 10
    "1d_full_shape": ("max_unpool1d", (1, 2, 3), 2, 2, 0, (1, 2, 7)),
    "1d_shape_of_two": ("max_unpool1d", (2, 3), 2, 2, 0, (2, 7)),   # neither 1 nor 3 entries
    "2d_width": ("max_unpool2d", (1, 1, 2, 2), 2, 2, 0, (4, 6)),
    "2d_small": ("max_unpool2d", (1, 1, 2, 2), 2, 2, 0, (2, 4)),
    "3d_ok": ("max_unpool3d", (1, 1, 2, 2, 2), 2, 2, 0, (5, 4, 3)),
    "3d_depth": ("max_unpool3d", (1, 1, 2, 2, 2), 2, 2, 0, (2, 4, 4)),
}


def _unpooled(lib, name):
    op, shape, kernel, stride, padding, size = UNPOOL_SIZES[name]
    x = np.arange(1.0, 1 + np.prod(shape)).reshape(shape)
    idx = np.zeros(shape, np.int64)  # every value at index 0: in range for any size
    fn = getattr(ag, op) if lib == "ag" else getattr(torch.nn.functional, op)
    T = ag.tensor if lib == "ag" else torch.tensor
    try:
        return np.asarray(fn(T(x), T(idx), kernel, stride, padding, size)).shape
    except (ValueError, RuntimeError) as e:
        return type(e).__name__


@pytest.mark.parametrize("name", sorted(UNPOOL_SIZES))
def test_max_unpool_output_size_within_a_stride_of_the_default(name):
    want = oracle(lambda: _unpooled("torch", name))
    got = _unpooled("ag", name)
    assert (got == "ValueError") if isinstance(want, str) else (got == tuple(want)), (got, want)


# ---- ag.compile froze matrix_rank, and cond's singular test, at the traced call's values -----------------------
def test_compiled_matrix_rank_is_computed_again_on_each_call():
    rank = ag.compile(lambda a, atol: ag.linalg.matrix_rank(a, atol=atol))
    full, one = np.diag([1.0, 0.5, 0.2]), np.diag([1.0, 0.0, 0.0])
    want = oracle(lambda: [torch.linalg.matrix_rank(torch.tensor(a), atol=torch.tensor(t)).item()
                           for a, t in ((full, 0.0), (full, 0.0), (one, 0.0), (full, 0.3))])
    got = [rank(ag.tensor(a), ag.tensor(t)).item() for a, t in ((full, 0.0), (full, 0.0), (one, 0.0), (full, 0.3))]
    assert got == want == [3, 3, 1, 2]


@pytest.mark.parametrize("p", [1, "fro", -np.inf])
def test_compiled_cond_tests_singularity_on_each_call(p):
    cond = ag.compile(lambda a: ag.linalg.cond(a, p))
    mats = [np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[2.0, 1.0], [1.0, 3.0]]),
            np.stack([np.eye(2), np.array([[1.0, 1.0], [1.0, 1.0]])])]
    for a in mats:  # traced on a singular matrix, replayed on an invertible one; then a batch holding both
        want = oracle(lambda a=a: torch.linalg.cond(torch.tensor(a), p), key=f"{a.tolist()}")
        for _ in range(2):
            np.testing.assert_allclose(cond(ag.tensor(a)).numpy(), want, rtol=1e-12)


# ---- InstanceNorm with track_running_stats under ag.compile: refused (the running statistics read with numpy) ----
def _instance_norm_steps(lib, xs):
    """Three training steps of InstanceNorm3d(affine, track_running_stats) (compiled on our side), then eval:
    the training outputs, the running statistics, the eval output."""
    import nn
    M = nn.InstanceNorm3d if lib == "ag" else torch.nn.InstanceNorm3d
    T = ag.tensor if lib == "ag" else torch.tensor
    kw = dict(affine=True, track_running_stats=True, momentum=0.3)
    m = M(2, dtype=np.float64, **kw) if lib == "ag" else M(2, **kw).double()
    step = ag.compile(lambda x: m(x)) if lib == "ag" else m
    outs = [np.asarray(step(T(x)).detach()) for x in xs[:-1]]
    m.eval()
    return outs, np.asarray(m.running_mean), np.asarray(m.running_var), np.asarray(m(T(xs[-1])).detach())


def test_compiled_instance_norm_moves_its_running_statistics_each_call():
    xs = [case_rng().standard_normal((2, 2, 2, 3, 2)) * (k + 1) + k for k in range(4)]
    got, want = _instance_norm_steps("ag", xs), oracle(lambda: _instance_norm_steps("torch", xs))
    for g, w in zip(got[0] + list(got[1:]), want[0] + list(want[1:])):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# ---- adaptive pools: a float output_size was "an int or a pair of ints" whatever the op's axes -----------------
@pytest.mark.parametrize(("op", "shape", "size", "says"), [
    ("adaptive_avg_pool1d", (1, 2, 5), 2.5, "an int, got 2.5"),
    ("adaptive_max_pool2d", (1, 4, 4), (2.5, 3), r"an int or 2 ints \(None keeps an axis\), got \(2.5, 3\)"),
    ("adaptive_avg_pool3d", (1, 1, 2, 2, 2), (1, True, 1),
     r"an int or 3 ints \(None keeps an axis\), got \(1, True, 1\)"),
])
def test_adaptive_pool_output_size_type_error_counts_the_ops_axes(op, shape, size, says):
    with pytest.raises(TypeError, match=f"^{op}: output_size must be {says}$"):
        getattr(ag, op)(ag.tensor(np.ones(shape)), size)


# ---- ONNX: adaptive max pooling with dynamic spatial axes was written as a MaxPool of the example's kernel ---------
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_onnx_adaptive_max_pool_over_dynamic_spatial_axes(nd, tmp_path):
    pytest.importorskip("onnx", reason='onnx is not installed: pip install "autograd-mini[onnx]"')
    ort = pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "autograd-mini[onnx]"')
    pool = getattr(ag, f"adaptive_max_pool{nd}d")
    rng = case_rng()
    x, bigger = (rng.standard_normal((1, 2) + (n,) * nd).astype(np.float32) for n in (4, 6))
    dynamic = {"input": {2 + i: f"d{i}" for i in range(nd)}}
    path = tmp_path / "m.onnx"
    ag.onnx.export(lambda t: pool(t, 1), x, path, input_names=["input"], dynamic_axes=dynamic)  # any size
    for a in (x, bigger):
        got = ort.InferenceSession(str(path)).run(None, {"input": a})[0]
        np.testing.assert_array_equal(got, pool(ag.tensor(a), 1).numpy())
    with pytest.raises(ag.onnx.ExportError, match="spatial axes are dynamic"):  # bins that depend on the size
        ag.onnx.export(lambda t: pool(t, 2), x, path, input_names=["input"], dynamic_axes=dynamic)


# ---- cond in a norm-based p of a matrix with nan or inf: nan (PyTorch's nan_to_num makes it inf) -----------------
@pytest.mark.parametrize("p", [1, -1, "fro", np.inf, -np.inf])
def test_cond_of_a_matrix_with_nan_or_inf_is_inf_as_pytorch(p):
    a = np.array([[[1.0, np.nan], [0.0, 1.0]], [[np.nan, 0.0], [0.0, 1.0]], [[1.0, np.inf], [0.0, 1.0]],
                  [[2.0, 1.0], [1.0, 3.0]]])
    want = oracle(lambda: torch.linalg.cond(torch.tensor(a), p))
    np.testing.assert_allclose(ag.linalg.cond(ag.tensor(a), p).numpy(), want, rtol=1e-12)
