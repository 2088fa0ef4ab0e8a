"""Hooks (autograd_mini/hooks.py, nn/hooks.py): PyTorch's order, moments and values (torch float64 as the oracle),
replacements, handles, create_graph and grad_of."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
from tests._oracle import oracle

try:
    import torch
except ImportError:  # the recorded answers stand in
    torch = None


def _np(t):
    return np.asarray(t.detach() if hasattr(t, "detach") else t).round(9).tolist()


def _make(lib):
    if lib == "ag":
        return lambda v: ag.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
    return lambda v: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)


def _tensor_hooks_program(lib):
    mk, log = _make(lib), []
    x = mk([1.0, 2.0])
    x.register_hook(lambda g: (log.append(("x", _np(g))), g * 10)[1])
    h = x * 2
    h.register_hook(lambda g: (log.append(("h", _np(g))), g * 3)[1])
    h.retain_grad()
    h.register_hook(lambda g: log.append(("h after", _np(g))))
    y = (h * h).sum() + h.sum()
    y.backward()
    a, b = mk(1.0), mk(2.0)
    a.register_hook(lambda g: log.append("a"))
    b.register_hook(lambda g: log.append("b"))
    m = a * 3
    m.register_hook(lambda g: log.append("m"))
    n = b * m
    n.register_hook(lambda g: log.append("n"))
    (n + a).backward()
    return log, _np(x.grad), _np(h.grad), _np(a.grad)


def test_tensor_hooks_fire_in_torchs_order_with_torchs_values():
    assert _tensor_hooks_program("ag") == oracle(lambda: _tensor_hooks_program("torch"))


def _grad_program(lib):
    mk, log = _make(lib), []
    x = mk([0.5, -1.5])
    x.register_hook(lambda g: (log.append(("x", _np(g))), g + 1)[1])
    h = x.sin()
    h.register_hook(lambda g: (log.append(("h", _np(g))), g * 2)[1])
    h.retain_grad()
    y = (h * x).sum()
    grad = ag.grad_of if lib == "ag" else torch.autograd.grad
    gx = grad(y, [x], retain_graph=True)[0]
    gh = grad(y, [h], retain_graph=True)[0]
    return log, _np(gx), _np(gh), _np(h.grad)


def test_hooks_in_grad_of_as_in_torch_autograd_grad():
    assert _grad_program("ag") == oracle(lambda: _grad_program("torch"))


def _second_order(lib):
    mk = _make(lib)
    x = mk([0.3, 0.7, -1.1])
    h = x ** 3
    h.register_hook(lambda g: g * h)  # a replacement that depends on the graph
    y = h.sum()
    grad = ag.grad_of if lib == "ag" else torch.autograd.grad
    (gx,) = grad(y, [x], create_graph=True)
    (ggx,) = grad(gx.sum(), [x])
    return _np(gx), _np(ggx)


def test_hooks_under_create_graph_are_differentiated_as_in_torch():
    ours, theirs = _second_order("ag"), oracle(lambda: _second_order("torch"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_handles_remove_and_a_bad_return_is_named():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(1))
    (x * 2).sum().backward()
    handle.remove()
    handle.remove()  # twice: no-op
    (x * 2).sum().backward()
    assert seen == [1]
    with x.register_hook(lambda g: g[:1]):
        with pytest.raises(RuntimeError, match=r"hook .*returned Tensor of shape \(1,\).*shape \(2,\)"):
            (x * 2).sum().backward()
    (x * 2).sum().backward()  # the context manager removed it
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.tensor([1.0]).register_hook(lambda g: None)
    with pytest.raises(TypeError, match="expected a function"):
        x.register_hook(3)


def test_retain_grad_accumulates_and_is_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    x.retain_grad()  # a leaf keeps its gradient anyway
    out = (h * 3).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert h.grad.data.tolist() == [6.0, 6.0] and x.grad.data.tolist() == [12.0, 24.0]
    assert x.is_leaf and not h.is_leaf and ag.tensor([1.0]).is_leaf


def test_hooks_cost_nothing_once_removed_or_dead():
    import gc

    from autograd_mini import hooks

    gc.collect()  # earlier tests' hooks that refer to their own tensors: cycles, freed by the collector
    assert hooks.active() is None
    x = ag.tensor([1.0], requires_grad=True)
    handle = x.register_hook(lambda g: None)
    assert hooks.active() is not None
    handle.remove()
    assert hooks.active() is None
    def make():
        h = x * 2
        h.register_hook(lambda g: g * h)  # refers to its own tensor

    make()
    gc.collect()
    assert hooks.active() is None


def test_ag_func_grad_sees_hooks_registered_inside():
    def f(x):
        h = x * x
        h.register_hook(lambda g: g * 0)
        return (h + x).sum()

    assert ag.func.grad(f)(ag.tensor([1.0, 2.0])).data.tolist() == [1.0, 1.0]


# ---- module hooks ----------------------------------------------------------------------------------------
W = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
X = np.array([[1.0, 2.0], [-0.5, 0.25]])


def _module_program(lib):
    log = []
    if lib == "ag":
        lin = nn.Linear(2, 3, bias=False, dtype=np.float64)
        lin.weight.data = W.copy()
        x = ag.tensor(X, requires_grad=True)
    else:
        lin = torch.nn.Linear(2, 3, bias=False, dtype=torch.float64)
        lin.weight.data = torch.tensor(W.T.copy())
        x = torch.tensor(X, requires_grad=True)
    lin.register_forward_pre_hook(lambda m, a: (log.append(("pre", len(a))), (a[0] * 2,))[1])
    lin.register_forward_hook(lambda m, a, o: (log.append(("fwd", _np(a[0]))), o * 3)[1])

    def backward_hook(m, grad_input, grad_output):
        log.append(("bwd", [None if g is None else _np(g) for g in grad_input], [_np(g) for g in grad_output]))
        return (grad_input[0] * 10,)

    handle = lin.register_full_backward_hook(backward_hook)
    x.register_hook(lambda g: log.append(("x", _np(g))))
    y = lin(x)
    (y * y).sum().backward()
    handle.remove()
    lin(x).sum().backward()
    const = lin.register_full_backward_hook(lambda m, gi, go: log.append(("no grad input", gi, _np(go[0]))))
    lin(torch.tensor(X) if lib == "torch" else ag.tensor(X)).sum().backward()
    const.remove()
    return log, _np(x.grad), _np(lin.weight.grad if lib == "ag" else lin.weight.grad.T)


def test_module_hooks_fire_in_torchs_order_with_torchs_values():
    assert _module_program("ag") == oracle(lambda: _module_program("torch"))


def test_a_backward_hook_replacing_grad_input_of_several_inputs_is_refused():
    class Two(nn.Module):
        def forward(self, a, b):
            return a * b

    m = Two()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[1]))
    a, b = ag.tensor([1.0], requires_grad=True), ag.tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="several inputs that require grad"):
        m(a, b).sum().backward()
    seen = []
    m2 = Two()
    m2.register_full_backward_hook(lambda mod, gi, go: seen.append([g.data.tolist() for g in gi]))
    m2(a, b).sum().backward()
    assert seen == [[[2.0], [1.0]]]


def test_copies_and_pickles_have_no_hooks_and_no_views_of_the_original():
    import copy
    import pickle

    t = ag.tensor([[1.0, 2.0]], requires_grad=True)
    row = t[0]
    t.register_hook(lambda g: None)
    t.grad = ag.tensor([[3.0, 4.0]])
    for c in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert c.data.tolist() == [[1.0, 2.0]] and c.grad.data.tolist() == [[3.0, 4.0]] and c.requires_grad
        assert not hasattr(c, "_views") and not hasattr(c, "_hooks")
        c.requires_grad_(False)
        c += ag.tensor([1.0], requires_grad=True)  # rebased: refreshes its own views only
    assert row.data.tolist() == [1.0, 2.0] and row.grad_fn.fn.__name__ == "GetItem"


def _hooks_and_in_place(lib):
    mk, log = _make(lib), []
    x = mk([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: log.append(("before", _np(g))))
    h.retain_grad()
    h *= x
    h.register_hook(lambda g: log.append(("after", _np(g))))
    (h * 3).sum().backward()
    return log, _np(h.grad), _np(x.grad)


def test_hooks_stay_with_their_version_and_retain_grad_follows_an_in_place_op_as_in_torch():
    assert _hooks_and_in_place("ag") == oracle(lambda: _hooks_and_in_place("torch"))


def test_a_model_with_backward_hooks_exports_to_onnx_as_without(tmp_path):
    pytest.importorskip("onnx", reason='onnx is not installed: pip install "autograd-mini[onnx]"')
    ort = pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "autograd-mini[onnx]"')
    model = nn.Sequential(nn.Linear(3, 2, seed=0), nn.ReLU())
    model[0].register_full_backward_hook(lambda module, grad_input, grad_output: None)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    ag.onnx.export(model, (x,), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, model(ag.tensor(x)).data, rtol=1e-6)
