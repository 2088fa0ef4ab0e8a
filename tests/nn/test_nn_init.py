"""nn.init: bounds, moments, fan convention, seeds; Linear's documented default init."""

import math

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn import init


def _p(*shape):
    return nn.Parameter(ag.zeros(*shape))


def test_fans_follow_each_layers_layout():
    assert init.fan_in_and_fan_out(_p(3, 5)) == (3, 5)  # Linear: (in, out)
    assert init.fan_in_and_fan_out(_p(6, 5, 2, 3)) == (30, 36)  # Conv2d, PyTorch's (out, in / groups, kH, kW)
    assert init.fan_in_and_fan_out(nn.Conv2d(4, 6, 3, groups=2).weight) == (18, 54)  # as torch's fan calculation
    with pytest.raises(ValueError, match=r"\(4,\)"):
        init.fan_in_and_fan_out(_p(4))


def test_gains():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("sigmoid") == 1.0
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


@pytest.mark.parametrize("fn,kw,bound,std", [
    (init.uniform_, dict(a=-2.0, b=3.0), (-2.0, 3.0), 5 / math.sqrt(12)),
    (init.normal_, dict(mean=1.0, std=0.5), None, 0.5),
    (init.xavier_uniform_, dict(gain=2.0), (-2 * math.sqrt(6 / 500), 2 * math.sqrt(6 / 500)), 2 * math.sqrt(2 / 500)),
    (init.xavier_normal_, {}, None, math.sqrt(2 / 500)),
    (init.kaiming_uniform_, dict(nonlinearity="relu"), (-math.sqrt(6 / 200), math.sqrt(6 / 200)), math.sqrt(2 / 200)),
    (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), None, math.sqrt(2 / 300)),
])
def test_distributions(fn, kw, bound, std):
    t = _p(200, 300)
    assert fn(t, seed=0, **kw) is t
    a = t.data
    assert a.dtype == np.float32 and t.requires_grad
    if bound:
        assert bound[0] <= a.min() and a.max() <= bound[1]
    assert a.std() == pytest.approx(std, rel=0.02)
    np.testing.assert_array_equal(a, fn(_p(200, 300), seed=0, **kw).data)  # same seed, same values
    assert not np.array_equal(a, fn(_p(200, 300), seed=1, **kw).data)


def test_constant_and_aliases():
    t = _p(2, 2)
    np.testing.assert_array_equal(init.ones_(t).data, 1)
    np.testing.assert_array_equal(init.zeros_(t).data, 0)
    np.testing.assert_array_equal(init.constant_(t, 0.5).data, 0.5)
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.he_normal_ is init.kaiming_normal_
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(t, mode="fan_avg")


def test_global_generator_reproducibility():
    ag.manual_seed(5)
    a = init.normal_(_p(3, 3)).data.copy()
    ag.manual_seed(5)
    np.testing.assert_array_equal(a, init.normal_(_p(3, 3)).data)


def test_linear_default_init_and_reproducibility():
    layer = nn.Linear(400, 50, seed=0)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32 and -bound <= p.data.min() and p.data.max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    np.testing.assert_array_equal(layer.weight.data, nn.Linear(400, 50, seed=0).weight.data)
    ag.manual_seed(1)
    m1 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ag.manual_seed(1)
    m2 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert nn.Linear(2, 2, dtype=np.float64).weight.dtype == np.float64
