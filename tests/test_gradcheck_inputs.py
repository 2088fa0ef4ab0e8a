"""gradcheck refuses what it cannot check honestly: non-finite inputs, functions that mutate their inputs,
functions with no floating output."""

import warnings

import numpy as np
import pytest

import autograd_mini as ag
import nn


def _x(values, grad=True):
    return ag.tensor(np.array(values, dtype=np.float64), requires_grad=grad)


@pytest.mark.parametrize("check", [ag.gradcheck, ag.gradgradcheck])
@pytest.mark.parametrize("bad, shown", [(np.inf, "inf"), (-np.inf, "-inf"), (np.nan, "nan")])
def test_non_finite_inputs_are_reported_as_such(check, bad, shown):
    x = _x([1.0, bad, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning escapes on the way
        with pytest.raises(ValueError, match=rf"input 0 holds 1 non-finite value\(s\) \(the first, {shown}, at index "
                                             r"\(1,\)\); finite differences need finite inputs"):
            check(lambda t: (t * t).sum(), [x])


def test_non_finite_parameter_in_gradcheck_module():
    model = nn.Linear(2, 1, dtype="float64")
    model.bias.data = np.array([np.inf])
    with pytest.raises(ValueError, match="parameter `bias` holds 1 non-finite"):
        ag.gradcheck_module(model, lambda out, y: ((out - y) ** 2).sum(), ag.tensor(np.ones((3, 2))),
                            ag.tensor(np.zeros((3, 1))))


def test_constant_inputs_may_hold_infinities():
    """Only the checked inputs must be finite; a constant input of inf is the function's business."""
    assert ag.gradcheck(lambda x, c: (x * ag.minimum(c, 3.0)).sum(), [_x([1.0, 2.0]), _x([np.inf, 1.0], False)])


def test_non_finite_outputs_are_named_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ag.gradcheck(lambda x: ag.log(x * 0.0).sum(), [_x([1.0, 2.0])], raise_exception=False,
                           localize=False)
    assert any("1 output element(s) are not finite at the inputs" in n for n in res.notes), res.notes
    assert not any("not deterministic" in n for n in res.notes)


@pytest.mark.parametrize("mutate", [
    lambda x: x.data.__setitem__(Ellipsis, 0.0),                      # x.data[...] = 0
    lambda x: setattr(x, "data", np.zeros(x.shape)),                  # x.data = zeros
    lambda x: x.data.__imul__(0.5),                                   # x.data *= 0.5
])
@pytest.mark.parametrize("check", [ag.gradcheck, ag.gradgradcheck])
def test_a_function_that_mutates_its_input_is_refused(check, mutate):
    caller = _x([1.0, 2.0, 3.0])
    before = caller.data.copy()

    def f(x):
        y = (x * x).sum()
        mutate(x)       # after use: the old checker then compared a wrong backward at the zeroed point
        return y
    with pytest.raises(ValueError, match="the function modified input 0 in place"):
        check(f, [caller])
    np.testing.assert_array_equal(caller.data, before)


def test_mutating_a_numpy_input_or_a_parameter_is_refused():
    arr = np.ones(3)

    def f(x, a):
        a[0] = 5.0
        return (x * ag.tensor(a)).sum()
    with pytest.raises(ValueError, match="modified input 1 in place"):
        ag.gradcheck(f, [_x([1.0, 2.0, 3.0]), arr])
    assert arr[0] == 1.0  # checked on a copy: the caller's array is untouched

    model = nn.Linear(2, 1, dtype="float64")

    def loss(out, y):
        model.weight.data[...] = 0.0
        return ((out - y) ** 2).sum()
    with pytest.raises(ValueError, match="modified parameter `weight` in place"):
        ag.gradcheck_module(model, loss, ag.tensor(np.ones((3, 2))), ag.tensor(np.zeros((3, 1))))


@pytest.mark.parametrize("check", [ag.gradcheck, ag.gradgradcheck])
def test_no_floating_output_is_an_error(check):
    with pytest.raises(ValueError, match="no output of the function is floating point \\(output 0 is bool\\)"):
        check(lambda x: x > 0, [_x([1.0, -1.0])])
    with pytest.raises(ValueError, match="output 0 is bool, output 1 is int64"):
        check(lambda x: (x > 0, ag.tensor(np.array([1, 2]))), [_x([1.0, -1.0])])
    assert check(lambda x: (x > 0, x * x), [_x([1.0, -1.0])])  # one floating output is enough
