"""In-place ops (autograd_mini/mutation.py): PyTorch's semantics, differentiable to second order (torch float64
as the oracle), the tutorial update loops, and the refusals (leaves, saved memory, views, dtypes, shapes)."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini.mutation import replaced, version
from tests._oracle import oracle

try:
    import torch
except ImportError:  # the recorded answers stand in
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import xor_article  # noqa: E402


# ---- programs written once, run on ag and on torch ---------------------------------------------------------
def p_rebase_after_use(x):
    h = x * 2
    z = h.exp() * 3    # used before the write: its gradient must reach the old h
    h += x
    h *= x
    return z.sum() + (h * h * h).sum()


def p_mask_and_advanced(x):
    y = x.sin()
    y[y > 0.3] = 0
    y[[0, 2]] = x[[1, 3]] ** 2    # the value requires grad: it gets the written region's gradient
    return (y ** 3).sum()


def p_every_method(x):
    y = x * 1
    y.add_(x, alpha=2)
    y.sub_(x * x, alpha=0.5)
    y.mul_(x + 2)
    y.div_(x * x + 3)
    y.pow_(2)
    y.clamp_(-0.7, 0.9)
    z = x * 1
    z.copy_(y.cos())
    z -= x
    z /= 2
    z **= 3
    return (y * z).sum()


def p_zero_fill(x):
    y = x.sin()
    s = y.sum()
    y.zero_()
    y[1] = x[0] * 3
    w = x * 1
    w.fill_(x[2])        # a 0-d value that requires grad
    return s * s + (y * w * x).sum()


def p_broadcast_values(x):
    m = x.reshape(2, 3) * 1
    m[:, 1] = x[:2] * 5          # (2,) into a (2,) column
    m[0] = x[3:] ** 2            # (3,) into a row
    m[m > 1.0] = x[4]            # 0-d into a boolean region
    m[1, ...] += 1
    return (m * m * x.reshape(2, 3)).sum()


def p_view_write_through(x):
    h = x.reshape(2, 3) * 1
    row = h[0]
    z = row * 2                  # used before the write
    row += x[3:]                 # writes h's first row too
    row[1] = 0
    h[1] *= x[:3]                # Python: t = h[1]; t *= x[:3]; h[1] = t
    col = h[:, 2]
    col.clamp_(max=0.5)
    return (h * h * h).sum() + z.sum() + (row ** 3).sum() + (col * x[4]).sum()


def p_zero_d(x):
    s = (x * x).sum()
    s += x[0]
    s *= 3
    s **= 2
    return s


def p_leaf_without_grad_becomes_graph(x, zeros):
    h = zeros(6)
    h += x
    h *= x            # h = x * x
    return (h * x).sum()


PROGRAMS = [p_rebase_after_use, p_mask_and_advanced, p_every_method, p_zero_fill, p_broadcast_values,
            p_view_write_through, p_zero_d]
X = np.array([0.3, -1.2, 0.8, 1.7, -0.4, 0.6])


def _ag_grads(f, *extra):
    x = ag.tensor(X, requires_grad=True)
    out = f(x, *extra)
    (g,) = ag.grad_of(out, [x], create_graph=True)
    (gg,) = ag.grad_of((g * ag.tensor(np.arange(1.0, 7.0))).sum(), [x])
    return out.item(), g.data, gg.data


def _torch_grads(f, *extra):
    x = torch.tensor(X, requires_grad=True)
    out = f(x, *extra)
    (g,) = torch.autograd.grad(out, [x], create_graph=True)
    (gg,) = torch.autograd.grad((g * torch.arange(1.0, 7.0, dtype=torch.float64)).sum(), [x])
    return out.item(), g.detach().numpy(), gg.numpy()


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_first_and_second_order_match_torch(f):
    with _float64():
        ours = _ag_grads(f)
    theirs = oracle(lambda: _torch_grads(f))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_leaf_without_grad_written_with_a_grad_value_joins_the_graph():
    with _float64():
        ours = _ag_grads(p_leaf_without_grad_becomes_graph, ag.zeros)
    theirs = oracle(lambda: _torch_grads(p_leaf_without_grad_becomes_graph,
                                        lambda n: torch.zeros(n, dtype=torch.float64)))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


class _float64:
    def __enter__(self):
        self.prev = ag.get_default_dtype()
        ag.set_default_dtype(np.float64)

    def __exit__(self, *exc):
        ag.set_default_dtype(self.prev)


def test_where_torch_refuses_a_saved_value_written_ours_keeps_the_forward_values():
    """torch raises at backward (exp saved its output, then it was written); we never wrote that memory, so the
    derivative is the out-of-place program's, exactly."""
    x = ag.tensor(X, requires_grad=True)
    y = x.exp()
    y *= x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(X) * X + np.exp(X), rtol=1e-6)


def test_the_same_tensor_object_stands_for_the_result_and_records_the_version_it_replaced():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    first = h.grad_fn
    same = h
    h += 1
    h[0] = 5
    assert h is same and version(h) == 2 and h.data.tolist() == [5.0, 5.0]
    assert replaced(h.grad_fn) == ("setitem", 1)
    assert h.grad_fn.inputs[0].grad_fn.inputs[0].grad_fn is first
    assert replaced(first) is None


# ---- no_grad writes: the optimizer idioms --------------------------------------------------------------
def _xor_run(update, steps=40):
    X, Y, _ = xor_article.xor_data()
    net = xor_article.XorNet(3, bias=True)
    x = ag.tensor(X)
    weights = [net.l1.weight, net.l2.weight]
    opt = nn.optim.SGD(net.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        loss = xor_article.article_loss(net(x), Y, weights)
        if update == "sgd":
            opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        params = list(net.parameters())
        if update == "sgd":
            opt.step()
        elif update == "no_grad":
            with ag.no_grad():
                for p in params:
                    p -= 0.5 * p.grad
                    p.grad.zero_()
        elif update == "data":
            for p in params:
                p.data -= 0.5 * p.grad.data
                p.grad.zero_()
        elif update == "data_tensor":
            for p in params:
                p.data -= 0.5 * p.grad     # a Tensor on the right of an ndarray in-place op
                p.grad = None
    return losses, [p.data.copy() for p in net.parameters()]


@pytest.mark.parametrize("update", ["no_grad", "data", "data_tensor"])
def test_the_tutorial_loops_train_xor_to_sgds_numbers_bitwise(update):
    losses, params = _xor_run(update)
    ref_losses, ref_params = _xor_run("sgd")
    assert losses == ref_losses and losses[-1] < losses[0]
    for a, b in zip(params, ref_params):
        assert np.array_equal(a, b)


def test_no_grad_writes_the_same_array_and_views_see_it():
    a = np.zeros(4)
    t = ag.as_tensor(a)
    arr = t.data
    with ag.no_grad():
        t += 1
        t[1:3] = ag.tensor([5.0, 6.0])
        t[np.array([True, False, False, True])] *= 0
    t.mul_(2)  # nothing requires grad: written in place with grad on too
    assert t.data is arr and a.tolist() == [0.0, 10.0, 12.0, 0.0] and version(t) == 4


def test_grad_zero_and_fill_on_plain_tensors():
    g = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    g.zero_()
    assert g.data.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    g.fill_(2.5).clamp_(max=1.0)
    assert g.data.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    g.copy_(np.array([3.0, -4.0]))
    assert g.data.tolist() == [[3.0, -4.0], [3.0, -4.0]]


def test_an_op_result_written_under_no_grad_gets_a_new_array_the_graph_keeps_the_old():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y * 1  # Mul keeps nothing of y here; exp's backward reads its output
    with ag.no_grad():
        y += 1
    np.testing.assert_allclose(y.data, np.exp([1.0, 2.0]) + 1, rtol=1e-6)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp([1.0, 2.0]), rtol=1e-6)


# ---- refusals --------------------------------------------------------------------------------------------
def test_a_leaf_that_requires_grad_is_refused_with_grad_on_naming_the_op_and_the_fix():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    for act in (lambda: w.__iadd__(1), lambda: w.mul_(2), lambda: w.__setitem__(0, 3.0), lambda: w.zero_()):
        with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*ag.no_grad"):
            act()
    assert w.data.tolist() == [1.0, 2.0] and version(w) == 0


def test_writing_memory_a_live_graph_saved_is_refused_at_the_write_naming_the_op():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with ag.no_grad():
        with pytest.raises(RuntimeError, match=r"-=: .*saved for backward by `Mul`.*after backward\(\)"):
            w -= 1
        with pytest.raises(RuntimeError, match=r"setitem: .*saved for backward by `Mul`"):
            w[0] = 3.0
    with pytest.raises(RuntimeError, match=r"saved for backward by `Mul`"):
        w.data -= ag.tensor([1.0, 1.0])
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])
    with ag.no_grad():
        w -= 1  # after backward: free again
    assert w.data.tolist() == [0.0, 1.0]


def test_views_write_through_or_are_refused_never_silently_detached():
    x = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * 1
    row = h[0]
    row += x[1]
    assert h.data.tolist() == [[4.0, 6.0], [3.0, 4.0]] and row.data.tolist() == [4.0, 6.0]
    flat = h.reshape(-1)
    with pytest.raises(RuntimeError, match=r"view of another tensor's \(made by `Reshape`\).*b\[index\]"):
        flat *= 2
    second = h[1]
    h += 1  # a write to the base: its views show it
    assert second.data.tolist() == [4.0, 5.0] and row.data.tolist() == [5.0, 7.0]
    second += 1
    assert h.data.tolist() == [[5.0, 7.0], [5.0, 6.0]]
    y = x * 2
    first = y[0]
    with ag.no_grad():
        y += 1  # unrecorded: y gets a new array (an op's is read-only for good), and its views with it
    assert first.data.tolist() == [3.0, 5.0] and first.grad_fn is not None
    with ag.no_grad():
        r = h.reshape(-1)
        with pytest.raises(RuntimeError, match="view of another tensor's"):
            r *= 2  # h's array is an op's result: read-only for good, so no write through
        p = ag.zeros((2, 2))
        v = p.reshape(-1)
        v[1:3] = 7.0  # p's array is writable: written through, as in PyTorch
        p[0] += 1
    assert p.data.tolist() == [[1.0, 8.0], [7.0, 0.0]] and v.data.tolist() == [1.0, 8.0, 7.0, 0.0]


def test_dtype_and_shape_rules_are_pytorchs():
    i = ag.tensor([1, 2, 3])
    i += 1
    i *= 2
    assert i.data.tolist() == [4, 6, 8] and i.dtype == np.int64
    with pytest.raises(TypeError, match=r"\*=: the result has dtype float32.*int64"):
        i *= 1.5
    with pytest.raises(TypeError, match="/=: the result has dtype"):
        i /= 2
    f = ag.tensor([1.0, 2.0], dtype=np.float32)
    f += np.float64(0.5) * ag.tensor([1.0, 1.0], dtype=np.float64)  # same kind: cast back
    assert f.dtype == np.float32
    with pytest.raises(RuntimeError, match=r"\+=: the result has shape \(2, 2\) but the tensor has shape \(2,\)"):
        f += ag.ones((2, 2))
    with pytest.raises(ValueError, match="setitem: could not broadcast"):
        f[:] = ag.ones(3)
    with pytest.raises(TypeError, match="setitem: an operand requires grad, but this tensor has dtype int64"):
        i[0] = ag.tensor(1.0, requires_grad=True) * 2


def test_duplicate_indices_are_refused_when_recorded():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    with pytest.raises(ValueError, match="more than once"):
        y[[0, 0]] = x[1:]
    with ag.no_grad():
        z = ag.zeros(3)
        z[[0, 0]] = ag.tensor([1.0, 2.0])  # unrecorded: numpy's last-wins
    assert z.data.tolist() == [2.0, 0.0, 0.0]


def test_size_zero_and_zero_d():
    e = ag.zeros((0, 3))
    e += 1
    e[e > 0] = 2
    assert e.shape == (0, 3)
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x[:0] * 1
    y += 1
    y[...] = 3
    assert y.shape == (0,)
    s = ag.tensor(2.0)
    s **= 3
    assert s.item() == 8.0


def test_retain_graph_backward_twice_through_a_rebased_graph():
    x = ag.tensor([0.5, 1.5], requires_grad=True)
    h = x * x
    a = h.sum()
    h *= x
    out = a + h.sum()
    out.backward(retain_graph=True)
    first = x.grad.data.copy()
    out.backward()
    xv = np.array([0.5, 1.5])
    np.testing.assert_allclose(first, 2 * xv + 3 * xv ** 2, rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_ndarray_and_tensor_mix_as_before():
    t = ag.tensor([1.0, 2.0], requires_grad=True)
    assert (np.ones(2) * t).grad_fn is not None and (np.ones(2) < t).dtype == bool
    with pytest.raises(TypeError, match="numpy's exp .*does not take a Tensor"):
        np.exp(t)


def test_threads_write_and_hook_their_own_tensors():
    errors = []

    def work(seed):
        try:
            x = ag.tensor(np.random.default_rng(seed).normal(size=5), requires_grad=True)
            seen = []
            for _ in range(200):
                h = x * 1
                h.register_hook(seen.append)
                h *= x
                h.retain_grad()
                h[0] = 0
                h.sum().backward()
                assert h.grad.data.tolist() == [1.0] * 5 and len(seen) == 1
                seen.clear()
                with ag.no_grad():
                    x -= 0.001 * x.grad
                    x.grad.zero_()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def test_to_text_shows_in_place_ops_the_version_they_replaced_and_hooks():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: None)
    h = x * 2
    z = h.exp()
    h += x
    h.register_hook(lambda g: g)
    h[0] = 0
    text = ag.viz.to_text((h * z).sum())
    # numbered in the engine's (Kahn) order, forward: the in-place chain before exp
    assert "SetItem_2  index=0  const 0  in place: setitem, replaced version 1" in text
    assert "Add_1  in place: +=, replaced version 0  hook" in text
    assert "param_0  [param] hook" in text
    assert "Exp_3  (2,) float32\n      Mul_0 (see above)" in text  # exp used h before the write


def _random_program(seed):
    """A random sequence of in-place ops on graph tensors (and uses before them) that torch accepts."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(rng.integers(3, 9)):
        kind = rng.integers(0, 9)
        i, j = (int(v) for v in rng.integers(0, 3, 2))
        mask = rng.random((3, 4)) < 0.4
        c = float(rng.uniform(0.5, 1.5))
        steps.append((kind, i, j, mask, c))

    def program(x):
        h = x.reshape(3, 4) * 1
        acc = (h * 0.5).sum()
        for kind, i, j, mask, c in steps:
            if kind == 0:
                h += x.reshape(3, 4) * c
            elif kind == 1:
                h *= x.reshape(3, 4)
            elif kind == 2:
                h[mask] = x[j] * c
            elif kind == 3:
                row = h[i]
                row -= x[4 * j:4 * j + 4]
            elif kind == 4:
                h.clamp_(-c, c)
            elif kind == 5:
                h[:, i] = x[:3] ** 2
            elif kind == 6:
                h /= x.reshape(3, 4) ** 2 + c
            elif kind == 7:
                acc = acc + h.exp().sum() * c  # a use before the next write
            else:
                h[i, j] = h[j, i] * c
        return acc + (h * h * x.reshape(3, 4)).sum()

    return program


@pytest.mark.parametrize("seed", range(25))
def test_random_in_place_programs_match_torch_to_second_order(seed):
    program = _random_program(seed)
    rng = np.random.default_rng(100 + seed)
    xv = rng.uniform(-1.5, 1.5, 12)
    x = ag.tensor(xv, requires_grad=True)
    out = program(x)
    (g,) = ag.grad_of(out, [x], create_graph=True)
    (gg,) = ag.grad_of((g * g).sum(), [x])

    def theirs():
        xt = torch.tensor(xv, requires_grad=True)
        out_t = program(xt)
        (g_t,) = torch.autograd.grad(out_t, [xt], create_graph=True)
        (gg_t,) = torch.autograd.grad((g_t * g_t).sum(), [xt])
        return out_t.item(), g_t, gg_t

    out_t, g_t, gg_t = oracle(theirs)
    np.testing.assert_allclose(out.item(), out_t, rtol=1e-12)
    np.testing.assert_allclose(g.data, g_t, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gg.data, gg_t, rtol=1e-10, atol=1e-12)


def test_in_place_inside_ag_func_transforms_matches_torch_func():
    def f(x):
        h = x * 2
        z = h.exp()
        h += x
        h[0] = x[1] ** 2
        return (h * h).sum() + z.sum()

    xv = np.array([0.3, 0.7])
    for name in ("grad", "hessian"):
        expected = oracle(lambda name=name: getattr(torch.func, name)(f)(torch.tensor(xv)), key=name)
        np.testing.assert_allclose(getattr(ag.func, name)(f)(ag.tensor(xv)).data, expected, rtol=1e-12)


def test_the_explorer_shows_hooks_and_in_place_ops():
    from autograd_mini.viz.explorer._model import graph_data

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: None)
    h = x * 2
    h += x
    data, _, _ = graph_data(((h * h).sum(),))
    lines = {n["key"]: n["lines"] for n in data["nodes"]}
    assert "hook" in lines["param_0"] and "in place: +=, replaced version 0" in lines["Add_1"]


def test_explain_backward_names_each_version_a_node_used():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2
    z = h.exp()
    h += x
    text = str(ag.explain_backward((h * z).sum(), params={"x": x}))
    assert "Add, t2 = t1 + x" in text and "Exp, t3 = exp(t1)" in text  # exp used h before the write
    assert "dLoss/dx = [ 66.50150489, 818.97225050]" in text
    assert ag.explain_grad(x, (h * z).sum()).reason == "reachable"


def test_onnx_export_reads_each_op_input_as_the_version_it_used():
    pytest.importorskip("onnx", reason='onnx is not installed: pip install "autograd-mini[onnx]"')
    ort = pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "autograd-mini[onnx]"')

    def f(x):
        h = x * 2
        z = h.exp()  # exp reads h before the write
        h += x
        return h * z

    xv = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    path = Path(tempfile.mkdtemp()) / "inplace.onnx"
    ag.onnx.export(f, (xv,), path)
    session = ort.InferenceSession(str(path))
    out = session.run(None, {session.get_inputs()[0].name: xv})[0]
    np.testing.assert_allclose(out, 3 * xv * np.exp(2 * xv), rtol=1e-6)


def test_onnx_export_refuses_a_write_into_part_of_a_tensor_with_the_alternative(tmp_path):
    pytest.importorskip("onnx", reason='onnx is not installed: pip install "autograd-mini[onnx]"')

    def f(x):
        h = x * 2
        h[0] = x[1]
        return h

    with pytest.raises(ag.onnx.ExportError, match=r"`SetItem`.*ag\.where\(mask, v, t\)"):
        ag.onnx.export(f, (np.ones((3, 2), np.float32),), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
