"""Module system: registration, naming, traversal, repr, modes, state dicts, the scope contract."""

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini.grad_mode import state


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
        self.heads = nn.ModuleList([nn.Linear(1, 1, seed=2)])
        self.scale = nn.Parameter(ag.ones(1))
        self.note = "not registered"

    def forward(self, x):
        return self.heads[0](self.layers(x)) * self.scale


def test_parameter_is_a_tensor_subclass():
    p = nn.Parameter(np.arange(3))
    assert isinstance(p, ag.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == ag.get_default_dtype()
    t = ag.tensor([1.0, 2.0])
    q = nn.Parameter(t)
    assert q.data is t.data
    assert nn.Parameter(np.zeros(2)).dtype == np.float64  # an explicit float dtype is kept
    assert not hasattr(q, "__dict__")
    assert repr(q).startswith("Parameter containing:")


def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                     "heads.0.weight", "heads.0.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "layers", "layers.0", "layers.1", "layers.2", "heads",
                                                   "heads.0"]
    assert next(net.named_modules())[1] is net
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "ModuleList"]
    assert len(list(net.modules())) == 7
    assert len(list(net.parameters())) == 7
    assert net.layers[0].weight.shape == (2, 3) and net.layers[0].bias.shape == (3,)
    assert len(net.layers) == 3 and [type(m).__name__ for m in net.layers] == ["Linear", "ReLU", "Linear"]
    assert isinstance(net.layers[1:], nn.Sequential) and len(net.layers[1:]) == 2
    assert [n for n, _ in net.layers[1:].named_parameters()] == ["2.weight", "2.bias"]
    assert net.layers[-1] is net.layers[2]


def test_parameter_order_is_assignment_order():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(np.zeros(1))
            self.a = nn.Parameter(np.zeros(2))

    assert [n for n, _ in M().named_parameters()] == ["b", "a"]


def test_shared_parameters_listed_once_and_reassignment():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    m = nn.Linear(2, 2, bias=False)
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="Parameter"):
        m.weight = ag.ones(2, 2)
    m.extra = nn.Linear(1, 1)
    del m.extra
    assert [n for n, _ in m.named_modules()] == [""]


def test_repr_is_nested_and_readable():
    text = repr(Net())
    assert "(layers): Sequential(\n    (0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(1): ReLU()" in text and text.endswith(")")
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"


def test_train_eval_and_dropout():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5, seed=0))
    assert model.training and model[1].training
    x = ag.ones(64, 4)
    assert model.eval() is model and not model[1].training
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    d = nn.Dropout(0.5, seed=0)
    y = d(ag.ones(1000)).data
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < np.mean(y == 0) < 0.6
    assert not np.array_equal(y, d(ag.ones(1000)).data)  # a fresh mask per call
    np.testing.assert_array_equal(y, nn.Dropout(0.5, seed=0)(ag.ones(1000)).data)  # reproducible
    assert np.all(nn.Dropout(1.0)(ag.ones(5)).data == 0)
    ag.manual_seed(3)
    a = nn.Dropout(0.5)(ag.ones(50)).data
    ag.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Dropout(0.5)(ag.ones(50)).data)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_zero_grad_sets_none():
    net = Net()
    net(ag.ones(2, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_through_save_and_load(tmp_path):
    a, b = Net(), Net()
    for p in b.parameters():
        p.data = p.data + 1
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    assert sd["layers.0.weight"] is not a.layers[0].weight.data  # a copy
    nn.save(sd, tmp_path / "m.npz")
    missing, unexpected = b.load_state_dict(nn.load(tmp_path / "m.npz"))
    assert missing == [] and unexpected == []
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
        assert q.dtype == p.dtype
    x = ag.randn(5, 2, seed=0)
    np.testing.assert_array_equal(a(x).data, b(x).data)


def _snapshot(m):
    return {n: p.data.copy() for n, p in m.named_parameters()}


def test_strict_loading_errors_leave_the_model_unchanged():
    net = Net()
    before = _snapshot(net)
    good = {k: v + 5 for k, v in net.state_dict().items()}

    bad = dict(good)
    del bad["layers.0.bias"]
    bad["layers.9.weight"] = np.zeros(1)
    with pytest.raises(KeyError) as e:
        net.load_state_dict(bad)
    assert "missing keys: layers.0.bias" in str(e.value) and "unexpected keys: layers.9.weight" in str(e.value)

    bad = dict(good)
    bad["layers.2.weight"] = np.zeros((1, 3))
    with pytest.raises(ValueError, match=r"layers.2.weight.*\(1, 3\).*\(3, 1\)"):
        net.load_state_dict(bad)
    with pytest.raises(ValueError, match="numeric"):
        net.load_state_dict({**good, "scale": np.array(["x"])})
    for n, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, before[n], err_msg=f"{n} changed by a failed load")

    partial = {"scale": np.array([7.0]), "other": np.zeros(2)}
    missing, unexpected = net.load_state_dict(partial, strict=False)
    assert "layers.0.weight" in missing and unexpected == ["other"]
    assert net.scale.data[0] == 7.0 and net.scale.dtype == ag.get_default_dtype()
    with pytest.raises(ValueError):  # shapes are checked even when not strict
        net.load_state_dict({"scale": np.zeros(3)}, strict=False)


def test_call_pushes_module_scope():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            y = x * 2
            seen.append(y.grad_fn.scope)
            return y

    inner = Probe()
    outer = nn.Sequential(nn.Linear(2, 2), inner)
    assert state.extra is None
    out = outer(ag.ones(1, 2))
    assert state.extra is None
    assert seen[0][0] is inner and seen[0][1][0] is outer and seen[0][1][1] is None
    assert out.grad_fn.scope[0] is inner
    with pytest.raises(RuntimeError):
        class Boom(nn.Module):
            def forward(self, x):
                raise RuntimeError("boom")
        Boom()(1)
    assert state.extra is None  # restored after an exception


def test_module_without_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_current_scope_is_the_running_module_chain():
    seen = []

    class Inner(nn.Module):
        def forward(self, x):
            seen.append(ag.current_scope())
            return x

    outer = nn.Sequential(Inner())
    assert ag.current_scope() is None
    outer(ag.tensor([1.0]))
    inner_scope = seen[0]
    assert inner_scope[0] is outer[0] and inner_scope[1][0] is outer and inner_scope[1][1] is None
    assert ag.current_scope() is None  # restored after the call


def test_a_module_knows_its_first_owner_and_stays_copyable():
    import copy
    import gc
    import pickle

    net = nn.Sequential(nn.Linear(2, 3), nn.ModuleList([nn.Linear(3, 3), nn.Tanh()]))
    inner = net[1][0]
    assert inner.__ag_owner__ is net[1] and net[1].__ag_owner__ is net and net.__ag_owner__ is None
    other = nn.ModuleList([inner])  # registered again elsewhere: the first owner stays while it lives
    assert inner.__ag_owner__ is net[1] and other[0] is inner
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert clone[1][0] is not inner and clone[1][0].__ag_owner__ is clone[1] and clone[1].__ag_owner__ is clone
    lone = nn.Linear(3, 3)
    holder = nn.ModuleList([lone])
    del holder
    gc.collect()
    assert lone.__ag_owner__ is None  # no owner kept alive, none reported once it is gone
    nn.Sequential(lone)
    assert lone.__ag_owner__ is None  # that temporary owner died at once too
    keep = nn.Sequential(lone)
    assert lone.__ag_owner__ is keep
