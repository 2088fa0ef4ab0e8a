"""``ag.explain_backward``: the narrated backward pass. Its numbers are the engine's (checked against backward()),
its order is the engine's, every primitive declares its rule, the article's worked step is reproduced, and a
3-layer MLP's narration is held as a golden text (AG_UPDATE_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
from autograd_mini import narrate, viz
from autograd_mini.engine import toposort
from tests._fuzz_ops import AG, OPS
from tests.test_fuzz import programs

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "explain_backward_mlp.txt"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
ABSTRACT = {"Reduction"}  # bases of the op table, never applied themselves


def op_table() -> list[type]:
    """Every concrete Function subclass defined in autograd_mini and nn (all their modules imported)."""
    for pkg in (ag, nn):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not info.name.endswith(("__main__", ".testing")):
                importlib.import_module(info.name)
    found, stack = set(), [ag.Function]
    while stack:
        for c in stack.pop().__subclasses__():
            stack.append(c)
            if c.__module__.startswith(("autograd_mini.", "nn.")) and c.__name__ not in ABSTRACT:
                found.add(c)
    return sorted(found, key=lambda c: c.__name__)


def test_every_primitive_declares_its_rule_in_its_own_variable_names():
    ops = op_table()
    assert len(ops) >= 50 and {"MatMul", "Conv2d", "SoftmaxCrossEntropy", "LayerNormFunction"} <= {
        c.__name__ for c in ops}
    missing = [c.__name__ for c in ops if c.formula is None]
    assert not missing, f"declare `formula = \"d f(x)/dx = ...\"` on these ops (docs/core.md, Add an op): {missing}"
    for c in ops:
        f = c.formula
        names = list(inspect.signature(c.forward).parameters)[1:]
        assert any(narrate._part_of(f, n)[0] for n in names), f"{c.__name__}: no rule for any input of {names}"
        for var in re.findall(r"/d(\w+)", f):  # every rule is about one of the op's own inputs
            assert var in names, f"{c.__name__}: the rule d.../d{var} names no input of forward{tuple(names)}"
        assert len(f) <= 300 and "\n" not in f


def test_formula_of_reads_the_table_and_is_none_for_custom_ops():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert narrate.formula_of(ag.tanh(x).grad_fn) == "d tanh(x)/dx = 1 - tanh(x)^2 = 1 - out^2"
    assert narrate.formula_of((x @ x).grad_fn).startswith("d(a @ b)/da: g @ b.T")

    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            return 3 * g * ctx.saved_tensors[0] ** 2

    y = Cube.apply(x)
    assert narrate.formula_of(y.grad_fn) is None
    text = str(ag.explain_backward(y.sum()))
    assert "rule: not declared (Cube is a custom op)" in text and "t1 = Cube(p1)" in text
    assert "dLoss/dp1 = Cube's backward applied to dLoss/dt1 = [ 3, 12]" in text


# ---- the article ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xor_article():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import xor_article
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return xor_article


def test_the_articles_backward_step_is_generated_with_every_number_it_prints(xor_article):
    w = xor_article.worked_step()
    text = str(w["narration"])
    assert xor_article.missing_article_numbers(text) == []
    ours = [float(v) for v in NUMBER.findall(text)]
    for v in (-0.62833404, 0.45414264, 0.23353037, 0.2478971, 0.19626223, 0.71301043, 0.48867814,
              -0.02879856, 0.02209533, -0.10462365, 0.08027117, 0.37166596):
        assert min(abs(o - v) for o in ours) <= 5e-9, v
    assert "dLoss/dh2 = dLoss/dt1 * dt1/dh2 = [[-0.62833404,  0.45414264]]" in text
    assert "local factor dh2/dz2 = h2 (1 - h2) = [[0.23353037, 0.24789710]]" in text
    assert "dLoss/dW2 = h1.T @ dLoss/dz2 = [[-0.02879856,  0.02209533],\n" in text
    # and on to dLoss/dW1, which the article leaves to its README: the same numbers backward() gives
    m = re.search(r"dLoss/dW1 = X\.T @ dLoss/dz1 = (\[\[.*?\]\])", text, re.S)
    np.testing.assert_allclose(np.array(eval(m.group(1))), w["dW1"], rtol=0, atol=5e-9)
    assert "made at examples/xor_article.py:" in text or "xor_article.py:" in text


def test_make_demo_prints_the_derivation(xor_article, tmp_path, capsys):
    r = xor_article.main(["--runs", "none", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert r["derivation_missing"] == []
    assert "generated by ag.explain_backward" in out and "Step 8 of 8: MatMul, z1 = X @ W1" in out
    assert "All 15 numbers the article prints for its backward step appear above to 8 decimals" in out


# ---- the engine's numbers and order -------------------------------------------------------------------------------
def mlp(batch: int = 4, seed: int = 0):
    model = nn.Sequential(nn.Linear(3, 4, seed=seed, dtype=np.float64), nn.Tanh(),
                          nn.Linear(4, 4, seed=seed + 1, dtype=np.float64), nn.Tanh(),
                          nn.Linear(4, 2, seed=seed + 2, dtype=np.float64))
    rs = np.random.RandomState(seed)
    x = ag.tensor(rs.randn(batch, 3))
    y = np.arange(batch) % 2
    return model, x, y


def check_against_backward(loss: ag.Tensor, leaves: dict, **kw) -> ag.Narration:
    """The narration leaves every .grad alone, and its gradients are exactly what backward() then stores."""
    before = {k: None if t.grad is None else t.grad.data.copy() for k, t in leaves.items()}
    n = ag.explain_backward(loss, **kw)
    assert all((t.grad is None) == (before[k] is None) for k, t in leaves.items())
    for t in leaves.values():
        t.grad = None
    loss.backward()
    assert set(n.grads) == set(leaves), (set(n.grads), set(leaves))
    for k, t in leaves.items():
        np.testing.assert_array_equal(n.grads[k], t.grad.data, err_msg=k)  # bit for bit (nan equal to nan)
    return n


def test_numbers_and_order_are_the_engines():
    model, x, y = mlp()
    with viz.recording() as rec:
        loss = nn.functional.cross_entropy(model(x), y)
        n = ag.explain_backward(loss)
        assert not rec.passes  # the narration's own pass is not recorded
        loss.backward(retain_graph=True)
    engine = [node for node, _, _ in rec.passes[-1].steps]
    assert [s.node for s in n._steps] == engine == [m for m in toposort([loss.grad_fn])]
    for p in model.parameters():
        p.grad = None
    check_against_backward(loss, dict(model.named_parameters()))


def test_fan_in_lists_each_use_and_the_sum():
    w = ag.tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    h = ag.tanh(w)
    loss = (h * h + h).sum()
    n = check_against_backward(loss, {"w": w})
    text = str(n)
    assert "incoming: dLoss/dh1 is the sum over the 3 uses of h1 (fan-in):" in text
    assert "from step 2, Add (as b)" in text and "from step 3, Mul (as a)" in text
    assert "+ from step 3, Mul (as b)" in text
    step = next(s for s in n._steps if s.node.name == "Tanh")
    np.testing.assert_array_equal(step.g, sum(a for _, _, a in step.incoming))
    np.testing.assert_allclose(step.g, 2 * np.tanh(w.data) + 1, rtol=1e-15)
    # a leaf used twice gets two contributions, summed in .grad
    loss2 = (w * 3.0).sum() + (w * w).sum()
    text2 = str(check_against_backward(loss2, {"w": w}))
    assert "w.grad: the sum of 3 contributions, from step" in text2


def test_unbroadcast_names_the_summed_axes():
    x = ag.tensor(np.arange(12.0).reshape(4, 3) / 10, name="x")
    b = ag.tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True, name="b")
    c = ag.tensor(np.array([[1.0], [2.0], [3.0], [4.0]]), requires_grad=True, name="c")
    loss = ((x + b) * c).sum()
    text = str(check_against_backward(loss, {"b": b, "c": c}))
    assert "summed over axis 0 (size 4) to b's shape (3,): dLoss/db = [10, 10, 10]" in text
    assert "summed over axis 1 (size 3) to c's shape (4, 1): dLoss/dc =\n      [[0.90000000],\n" in text


@pytest.mark.parametrize("case", ["reductions", "softmax_ce", "conv", "attention", "layer_norm", "indexing"])
def test_every_kind_of_graph_narrates_with_a_rule_at_every_step(case):
    rs = np.random.RandomState(1)
    if case == "reductions":
        x = ag.tensor(rs.randn(3, 4), requires_grad=True, name="x")
        loss = ag.max(x, axis=1).sum() + ag.logsumexp(x, axis=0).mean() + x.var() + ag.prod(x[:, :2], axis=0).sum()
        leaves = {"x": x}
    elif case == "softmax_ce":
        x = ag.tensor(rs.randn(4, 3), requires_grad=True, name="x")
        loss = nn.functional.cross_entropy(x, [0, 2, 1, 1]) + (ag.softmax(x, -1) * ag.log_softmax(x, -1)).sum()
        leaves = {"x": x}
    elif case == "conv":
        conv = nn.Conv2d(2, 3, 3, padding=1, seed=0, dtype=np.float64)
        x = ag.tensor(rs.randn(2, 2, 5, 5))
        loss = nn.functional.max_pool2d(ag.relu(conv(x)), 2).mean()
        leaves = dict(conv.named_parameters())
    elif case == "attention":
        att = nn.MultiheadAttention(4, 2, seed=0, dtype=np.float64, batch_first=True)
        q = ag.tensor(rs.randn(2, 3, 4), requires_grad=True, name="q")
        out, _ = att(q, q, q)
        loss = (out**2).mean()
        leaves = {**dict(att.named_parameters()), "q": q}
    elif case == "layer_norm":
        ln = nn.LayerNorm(4, dtype=np.float64)
        x = ag.tensor(rs.randn(3, 4), requires_grad=True, name="x")
        loss = (ln(x) * ag.tensor(rs.randn(3, 4))).sum()
        leaves = {**dict(ln.named_parameters()), "x": x}
    else:
        x = ag.tensor(rs.randn(5, 3), requires_grad=True, name="x")
        loss = ag.concatenate([x[1:3], x[[0, 0, 4]]], axis=0).transpose().reshape(-1).sum()
        leaves = {"x": x}
    n = check_against_backward(loss, leaves)
    text, md = str(n), n.markdown()
    assert "not declared" not in text and n.steps == len(toposort([loss.grad_fn]))
    assert text.count("\nStep ") == n.steps and md.count("#### Step ") == n.steps
    assert md.count("$") % 2 == 0 and "\\frac{\\partial" in md


@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_graphs_narrate_exactly_the_engines_gradients(data, seed):
    """The fuzz test's random programs (every op, broadcasting, size-0, reductions, indexing), nan/inf included."""
    prog = data.draw(programs(list(OPS), data.draw(st.sampled_from(sorted(OPS))), special=data.draw(st.booleans())),
                     label="program")
    xs = [ag.tensor(a.copy(), requires_grad=True, name=f"v{i}") for i, a in enumerate(prog.leaves)]
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        sinks = prog.run(AG, xs)
        loss = sum(((s * rng.standard_normal(s.shape)).sum() for s in sinks), ag.tensor(0.0))
        if not loss.requires_grad:
            return
        n = ag.explain_backward(loss)
        loss.backward()
    got = {x.name: x for x in xs if x.grad is not None}
    assert set(n.grads) == set(got)
    for k, x in got.items():
        np.testing.assert_array_equal(n.grads[k], x.grad.data, err_msg=k)
    text = str(n)
    assert "not declared" not in text and text.count("\nStep ") == n.steps and n.markdown().count("$") % 2 == 0


# ---- the golden narration -----------------------------------------------------------------------------------------
def test_golden_narration_of_a_3_layer_mlp_at_batch_4():
    model, x, y = mlp()
    loss = nn.functional.cross_entropy(model(x), y)
    text = str(ag.explain_backward(loss, params={"X": x}))
    if os.environ.get("AG_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


# ---- rendering, naming, limits and refusals -------------------------------------------------------------------------
def test_markdown_renders_latex_matrices_and_the_jupyter_hook():
    model, x, y = mlp(batch=1)
    n = ag.explain_backward(nn.functional.cross_entropy(model(x), y), params={"X": x})
    md = n._repr_markdown_()
    assert md == n.markdown() and md.startswith("### Backward pass of $\\mathrm{Loss}$, narrated")
    assert "\\begin{bmatrix}" in md and "\\frac{\\partial \\mathrm{Loss}}{\\partial z_{3}}" in md
    assert "$X = \\begin{bmatrix} 1.76405235 & 0.40015721 & 0.97873798 \\end{bmatrix}$" in md
    assert "`0.weight.grad` +=" in md and repr(n) == "<Narration of the backward pass of Loss: 6 steps>"


def test_symbols_come_from_params_module_names_tensor_names_else_generated():
    model, x, y = mlp()
    x.name = "inputs"
    text = str(ag.explain_backward(nn.functional.cross_entropy(model(x), y), params={"W3": model[4].weight}))
    assert "z1 = inputs @ 0.weight + 0.bias" in text and "h1 = tanh(z1)" in text
    assert "z3 = h2 @ W3 + 4.bias" in text and "W3.grad +=" in text
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    text = str(ag.explain_backward((w * w).sum()))
    assert "p1.grad: the sum of 2 contributions, from step 2 (Mul (as a)), step 2 (Mul (as b))" in text
    assert "w.grad" in str(ag.explain_backward((w * w).sum(), params={"w": w.data.copy()}))  # an array: by value
    with pytest.raises(TypeError, match="params maps names"):
        ag.explain_backward((w * w).sum(), params={"w": [1.0, 2.0]})
    y = np.array([0, 1, 0, 1])
    text = str(ag.explain_backward(nn.functional.cross_entropy(model(x), y), params={"labels": y, "t1": x}))
    assert "Loss = cross_entropy(z3, labels)" in text and "t1 = tanh(z1)" not in text and "h1 = tanh(z1)" in text


def test_big_tensors_are_summarised_and_digits_are_configurable():
    x = ag.tensor(np.linspace(-1, 1, 40).reshape(8, 5), requires_grad=True, name="x")
    text = str(ag.explain_backward(ag.sigmoid(x).sum()))
    assert "local factor dh1/dx = h1 (1 - h1) = (shape (8, 5), norm " in text and "first 0.19661193, " in text
    assert "x.grad += dLoss/dx = (shape (8, 5)" in text
    full = str(ag.explain_backward(ag.sigmoid(x).sum(), max_full=40, digits=3))
    assert "x.grad += dLoss/dx = [[0.197, 0.201, 0.206, 0.210, 0.214]," in full and "(shape (8, 5)" not in full
    assert "Numbers: 3 decimals; tensors of more than 40 entries are summarised." in full


def test_traces_when_recorded_and_a_hint_when_not():
    w = ag.tensor([1.0, -2.0], requires_grad=True)
    assert "build the graph inside `with ag.viz.recording():`" in str(ag.explain_backward(ag.relu(w).sum()))
    with viz.recording(backward=False):
        loss = ag.relu(w).sum()
    text = str(ag.explain_backward(loss))
    assert "made at tests/test_narrate.py:" in text or "test_narrate.py:" in text
    assert "viz.recording" not in text


def test_refuses_politely_above_the_node_limit():
    h = ag.tensor(np.ones(3), requires_grad=True)
    for _ in range(120):
        h = ag.tanh(h) * 0.9
    with pytest.raises(ValueError, match=r"has 241 recorded ops, more than max_nodes=200.*max_nodes=241"):
        ag.explain_backward(h.sum())
    assert ag.explain_backward(h.sum(), max_nodes=241).steps == 241
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        ag.explain_backward(h.sum(), max_nodes=0)


def test_freed_graph_non_differentiable_and_leaf_roots_say_what_to_do():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"freed by an earlier backward\(\).*retain_graph=True"):
        ag.explain_backward(loss)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.explain_backward(ag.tensor(1.0))
    with pytest.raises(TypeError, match="expected the Tensor"):
        ag.explain_backward(w.data)
    n = ag.explain_backward(ag.tensor(2.0, requires_grad=True))
    assert n.steps == 0 and "Loss.grad += dLoss/dLoss = 1" in str(n)  # a leaf root: backward() seeds it
    with pytest.raises(RuntimeError, match="needs a `gradient`"):
        ag.explain_backward(w * 2)
    assert "p1.grad += dLoss/dp1 = [2, 2]" in str(ag.explain_backward(w * 2, gradient=np.ones(2)))


def test_odd_values_zero_d_size_zero_nan_and_ints():
    z = ag.tensor(np.zeros((0, 3)), requires_grad=True, name="z")
    s = ag.tensor(3.0, requires_grad=True, name="s")
    with np.errstate(all="ignore"):
        loss = z.sum() + s * s + ag.log(ag.tensor([0.0, 1.0], requires_grad=True, name="v")).sum()
    text = str(ag.explain_backward(loss))
    assert "z.grad += dLoss/dz = [] (shape (0, 3))" in text and "s.grad" in text and "inf" in text
    assert narrate._num(1.5e-7, 8) == "1.5e-7" and narrate._num(-2.0, 8) == "-2" and narrate._num(1e300, 3) == "1e300"
    assert narrate._num(np.float64("nan"), 8) == "nan" and narrate._num(np.int64(3), 8) == "3"


def test_second_order_graph_narrates_its_derivative_ops():
    x = ag.tensor([0.5, 1.5], requires_grad=True, name="x")
    (g,) = ag.grad_of((x**3).sum(), [x], create_graph=True)
    text = str(check_against_backward(g.sum(), {"x": x}))
    assert "not declared" not in text


# ---- the explorer ---------------------------------------------------------------------------------------------------
def test_explorer_data_carries_each_steps_narration():
    model, x, y = mlp()
    with viz.recording() as rec:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward(retain_graph=True)
    bw = viz.explore(loss, recording=rec).data["backward"]
    n = ag.explain_backward(loss)
    assert bw["narration"] == [n.step_text(k) for k in range(1, n.steps + 1)] and bw["narration_why"] == ""
    with viz.recording() as rec:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
    bw = viz.explore(loss, recording=rec).data["backward"]
    assert bw["narration"] == [] and "retain_graph=True" in bw["narration_why"]
