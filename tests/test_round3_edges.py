"""Issue #25 items 4-8: wrong numbers and silent choices found by the second adversarial run, each asserting
PyTorch 2.13's answer (recorded here, so the tests run without PyTorch) or numpy's error. They are expected
failures until the ops are fixed (strict: a fix makes them fail as XPASS, so the mark must then go)."""

import warnings

import numpy as np
import pytest

import autograd_mini as ag

open_bug = pytest.mark.xfail(strict=True, reason="issue #25: not fixed yet")


# ---- 4. prod with three or more zeros: the third derivative ----------------------------------------------------
def _third_of_prod(x0: np.ndarray) -> np.ndarray:
    """d/dx of d/dx1 of d/dx0 of prod(x): for three zeros at 0, 1, 2 it is the product of the others at x2."""
    x = ag.tensor(x0, requires_grad=True)
    (g,) = ag.grad_of(ag.prod(x), [x], create_graph=True)
    (h,) = ag.grad_of(g[0], [x], create_graph=True)
    (t,) = ag.grad_of(h[1], [x], allow_unused=True)
    return np.zeros_like(x0) if t is None else t.numpy()


@pytest.mark.parametrize("x0, torch_says", [
    ([0.0, 3.0, 5.0, 2.0], [0.0, 0.0, 2.0, 5.0]),   # one zero: right today
    ([0.0, 0.0, 5.0, 2.0], [0.0, 0.0, 2.0, 5.0]),   # two zeros: right today
    pytest.param([0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 2.0, 0.0], marks=open_bug),       # ours: all 0
    ([0.0, 0.0, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0, 0.0]),                      # four zeros: 0 is right
])
def test_prod_third_derivative_with_zeros(x0, torch_says):
    np.testing.assert_allclose(_third_of_prod(np.array(x0)), torch_says)


# ---- 5. max_pool2d with padding: a window whose real values are all -inf ------------------------------------------
@open_bug
def test_max_pool_window_of_minus_inf_sends_its_gradient_to_a_real_pixel():
    x = ag.tensor(np.array([[[[-np.inf, 1.0], [2.0, 3.0]]]]), requires_grad=True)
    y = ag.max_pool2d(x, 2, stride=2, padding=1)
    np.testing.assert_array_equal(y.numpy().ravel(), [-np.inf, 1.0, 2.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.0, 1.0, 1.0, 1.0])  # ours: [0, 1, 1, 1]


# ---- 6. dtypes: a 0-d tensor does not promote a dimensioned tensor of the same kind ----------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_erf_of_integers_and_bools_is_the_default_dtype(dtype):
    assert ag.erf(ag.tensor(np.array([0, 1], dtype=dtype))).dtype == ag.get_default_dtype()  # was float64


@pytest.mark.parametrize("op", ["mul", "add", "masked_fill"])
def test_a_0d_float64_tensor_keeps_float32(op):
    x32 = ag.tensor(np.ones(3, np.float32))
    s = ag.tensor(np.float64(2.0))
    out = {"mul": lambda: x32 * s, "add": lambda: x32 + s,
           "masked_fill": lambda: ag.masked_fill(x32, np.array([True, False, True]), s)}[op]()
    assert out.dtype == np.float32


# ---- 7. pad with a value the dtype cannot hold ----------------------------------------------------------------------
@open_bug
def test_pad_value_that_overflows_the_dtype_raises():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        with pytest.raises((ValueError, OverflowError), match="(?i)overflow"):
            ag.pad(ag.tensor(np.ones(3, np.float32)), 1, constant_values=1e300)  # ours: inf at both ends


# ---- 8. axis=None where an int is required: numpy's TypeError, never a silently chosen axis --------------------------
@open_bug
@pytest.mark.parametrize("call", [
    lambda x: ag.expand_dims(x, None),          # ours: shape (1, 1, 1, 2, 3)
    lambda x: ag.stack([x, x], axis=None),      # ours: axis 0
    lambda x: ag.split(x, 2, axis=None),        # ours: axis 0
    lambda x: ag.swapaxes(x, None, 0),          # ours: x unchanged
], ids=["expand_dims", "stack", "split", "swapaxes"])
def test_axis_none_is_a_type_error(call):
    with pytest.raises(TypeError):
        call(ag.tensor(np.ones((2, 3))))
