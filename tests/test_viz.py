"""Graph visualization: DOT structure of known graphs, module clusters, gradient colours, NaN sources,
the text tree, and rendering with the real Graphviz ``dot``."""

import re
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini import viz
from autograd_mini.viz import _style as style

NODE = re.compile(r'^\t"((?:[^"\\]|\\.)*)" \[(.*)\]$')
EDGE = re.compile(r'^\t"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[(.*)\]$')


def parse(dot: str) -> tuple[dict, list, dict]:
    """Nodes {id: attrs}, edges [(src, dst, attrs)], and each node's enclosing cluster labels, outermost first."""
    nodes, edges, where, stack = {}, [], {}, []
    for line in dot.splitlines():
        if line.startswith("\tsubgraph cluster_"):
            stack.append(None)
        elif line.startswith("\tlabel=") and stack and stack[-1] is None:
            stack[-1] = re.match(r'\tlabel="([^"]*)"', line).group(1)
        elif line == "\t}":
            stack.pop()
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        elif m := NODE.match(line):
            nodes[m.group(1)] = m.group(2)
            where[m.group(1)] = list(stack)
    return nodes, edges, where


def attr(attrs: str, key: str) -> str | None:
    m = re.search(rf'\b{key}=("(?:[^"\\]|\\.)*"|\S+)', attrs)
    return None if m is None else m.group(1).strip('"')


def xor_net():
    """The XOR article's 2-3-2 sigmoid network (no biases), weights and data per the seed README."""
    np.random.seed(2017)
    w1, w2 = 2 * np.random.random((2, 3)) - 1, 2 * np.random.random((3, 2)) - 1
    model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=np.float64), nn.Sigmoid(),
                          nn.Linear(3, 2, bias=False, dtype=np.float64), nn.Sigmoid())
    model[0].weight.data = w1 / np.sqrt(2)
    model[2].weight.data = w2 / np.sqrt(3)
    return model, np.random.RandomState(0).randn(300, 2)


def test_known_graph_nodes_edges_and_labels():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    w = ag.tensor([0.5, 0.5, 0.5], requires_grad=True, dtype=np.float64)
    loss = (x * w * 2.0).sum()
    nodes, edges, _ = parse(viz.to_dot(loss, params={"x": x, "w": w}))
    assert set(nodes) == {"x", "w", "Mul_0", "Mul_1", "Sum_2"}
    assert [(s, d) for s, d, _ in edges] == [("x", "Mul_0"), ("w", "Mul_0"), ("Mul_0", "Mul_1"), ("Mul_1", "Sum_2")]
    assert attr(nodes["x"], "label") == r"x\n(3,) float64"
    assert attr(nodes["Mul_1"], "label") == r"Mul\nconst 2\n(3,) float64"
    assert attr(nodes["Sum_2"], "label") == r"Sum\naxes=(0,)\nscalar float64"
    # roles: parameters, inputs and the output look different
    assert attr(nodes["Sum_2"], "peripheries") == "2" and attr(nodes["Mul_0"], "peripheries") is None
    assert attr(nodes["x"], "shape") == "box" and attr(nodes["Mul_0"], "style") == "rounded,filled"
    data = ag.tensor(np.ones(3))
    nodes, _, _ = parse(viz.to_dot((x * data).sum()))
    assert attr(nodes["input_0"], "shape") == "ellipse" and attr(nodes["param_0"], "shape") == "box"


def test_a_tensor_used_twice_gets_two_arrows_and_names_come_from_tensor_name():
    x = ag.tensor([1.0, 2.0], requires_grad=True, name="x")
    nodes, edges, _ = parse(viz.to_dot(x * x))
    assert set(nodes) == {"x", "Mul_0"} and [(s, d) for s, d, _ in edges] == [("x", "Mul_0")] * 2


def test_nested_modules_become_nested_clusters_with_named_parameters():
    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Sigmoid(), nn.Sequential(nn.Linear(3, 2, seed=1), nn.Tanh()))
    out = model(ag.ones(4, 2))
    dot = viz.to_dot(out)
    nodes, edges, where = parse(dot)
    assert dot.count("subgraph cluster_") == 6
    assert where["0.weight"] == where["Linear_0"] == ["Sequential", "0: Linear"]
    assert where["2.0.bias"] == where["Linear_2"] == ["Sequential", "2: Sequential", "2.0: Linear"]
    assert where["Tanh_3"] == ["Sequential", "2: Sequential", "2.1: Tanh"]
    assert where["input_0"] == []
    assert len(nodes) == 5 + 4 and len(edges) == 8  # 4 params + input; linear (one fused op), sigmoid x2, tanh
    assert attr(nodes["Tanh_3"], "peripheries") == "2"


def test_depth_collapses_modules_into_one_node_each():
    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Sigmoid(), nn.Sequential(nn.Linear(3, 2, seed=1), nn.Tanh()))
    x = ag.ones(4, 2)
    nodes, edges, where = parse(viz.to_dot(model(x), depth=1))
    assert set(nodes) == {"input_0", "module:0", "module:1", "module:2"}
    assert [(s, d) for s, d, _ in edges] == [("input_0", "module:0"), ("module:0", "module:1"),
                                             ("module:1", "module:2")]
    assert attr(nodes["module:0"], "label") == r"0: Linear\n1 op, 2 params\n(4, 3) float32"
    assert attr(nodes["module:2"], "peripheries") == "2" and where["module:2"] == ["Sequential"]
    nodes, edges, _ = parse(viz.to_dot(model(x), depth=2))
    assert set(nodes) == {"input_0", "0.weight", "0.bias", "Linear_0", "Sigmoid_1", "module:2.0",
                          "module:2.1"} and len(edges) == 6  # level-1 modules stay expanded
    nodes, edges, _ = parse(viz.to_dot(model(x), depth=0))
    assert set(nodes) == {"input_0", "module:Sequential"} and len(edges) == 1


def test_show_grads_computes_gradients_without_touching_grad_and_colours_by_magnitude():
    w = ag.tensor([1.0, -1.0], requires_grad=True, dtype=np.float64, name="w")
    big = ag.tensor([3.0, 4.0], requires_grad=True, dtype=np.float64, name="big")
    loss = (w.relu() * 1e-8).sum() + (big * 1e5).sum()
    nodes, edges, _ = parse(viz.to_dot(loss, show_grads=True))
    assert w.grad is None and big.grad is None
    assert r"|grad| 1.00e-08" in attr(nodes["w"], "label")
    assert attr(nodes["w"], "fillcolor") == viz.SCALE[0][1]  # vanishing: < 1e-6
    assert r"|grad| 1.41e+05" in attr(nodes["big"], "label")
    assert attr(nodes["big"], "fillcolor") == viz.SCALE[5][1]  # exploding: 1e4 .. 1e6
    (out,) = [k for k, a in nodes.items() if attr(a, "peripheries") == "2"]
    assert out.startswith("Add_") and attr(nodes[out], "fillcolor") == viz.SCALE[3][1]  # gradient 1
    loss.backward()  # the graph's saved values are freed: only leaves' .grad remain
    dot = viz.to_dot(loss, show_grads=True)
    nodes, _, _ = parse(dot)
    assert r"|grad|" in attr(nodes["w"], "label") and r"|grad|" not in attr(nodes[out], "label")
    assert "call grads = ag.viz.capture_grads(loss) in place of loss.backward()" in dot


def test_gradients_show_by_default_once_backward_has_run():
    w = ag.tensor([1.0, -1.0], requires_grad=True, dtype=np.float64, name="w")
    loss = (w * 3.0).sum()
    assert "|grad|" not in viz.to_dot(loss) + viz.to_text(loss)  # before backward: the plain picture
    retained = (w * 2.0).sum()
    retained.backward(retain_graph=True)
    nodes, _, _ = parse(viz.to_dot(retained))  # alive: every tensor's gradient, as show_grads=True draws it
    assert r"|grad| 2.83e+00" in attr(nodes["w"], "label") and all("|grad|" in attr(a, "label") for a in nodes.values())
    w.grad = None
    loss.backward()
    dot = viz.to_dot(loss)
    nodes, _, _ = parse(dot)
    assert r"|grad| 4.24e+00" in attr(nodes["w"], "label") and attr(nodes["w"], "fillcolor") == viz.SCALE[3][1]
    assert "call grads = ag.viz.capture_grads(loss) in place of loss.backward()" in dot  # how to get the rest
    assert "|grad| 4.24e+00" in viz.to_text(loss)
    assert "|grad|" not in viz.to_dot(loss, show_grads=False) + viz.to_text(loss, show_grads=False)


def test_dead_relu_paths_are_greyed_out():
    x = ag.tensor([[1.0, 2.0]], dtype=np.float64)
    w_dead = ag.tensor([[-1.0], [-1.0]], requires_grad=True, dtype=np.float64)
    w_live = ag.tensor([[1.0], [1.0]], requires_grad=True, dtype=np.float64)
    loss = ((x @ w_dead).relu() + (x @ w_live).relu()).sum()
    nodes, edges, _ = parse(viz.to_dot(loss, params={"dead": w_dead, "live": w_live}, show_grads=True))
    assert attr(nodes["dead"], "fillcolor") == style.DEAD and r"(dead)" in attr(nodes["dead"], "label")
    assert attr(nodes["live"], "fillcolor") != style.DEAD
    (mm,) = [d for s, d, _ in edges if s == "dead"]
    (relu,) = [d for s, d, _ in edges if s == mm]
    assert attr(nodes[mm], "fillcolor") == style.DEAD and relu.startswith("Relu_")
    assert {(s, d) for s, d, a in edges if "style=dashed" in a} == {("dead", mm), (mm, relu)}
    assert sum(attr(a, "fillcolor") == style.DEAD for a in nodes.values()) == 2  # relu's output gets gradient


def test_capture_grads_matches_backward_and_keeps_intermediate_gradients():
    model, X = xor_net()
    y = np.array([[1.0, 0.0]])
    loss = ((model(ag.tensor(X[:1])) - y) ** 2).sum() * 0.5
    grads = viz.capture_grads(loss)
    np.testing.assert_allclose(model[2].weight.grad.numpy()[0], [-0.02879856, 0.02209533], rtol=1e-6)
    h2 = loss.grad_fn.inputs[0].grad_fn.inputs[0].grad_fn.inputs[0].grad_fn.inputs[0]  # the network's output
    np.testing.assert_allclose(h2.numpy(), [[0.37166596, 0.45414264]], rtol=1e-6)
    np.testing.assert_allclose(grads[h2], h2.numpy() - y)  # d(0.5 |h2 - y|^2)/dh2
    assert loss.grad_fn.released and len(grads) == 8 + 2  # every op output and both weights (not the input)
    nodes, _, _ = parse(viz.to_dot(loss, grads=grads))
    assert all("|grad|" in attr(a, "label") for k, a in nodes.items() if k != "input_0")


def test_nan_tensors_are_red_and_the_first_one_is_the_source():
    x = ag.tensor([4.0, -1.0], requires_grad=True, dtype=np.float64, name="x")
    with np.errstate(invalid="ignore"):
        loss = (x.sqrt() * 2.0).sum()
    dot = viz.to_dot(loss)
    nodes, _, _ = parse(dot)
    assert attr(nodes["Sqrt_0"], "fillcolor") == style.SOURCE and "penwidth=3" in nodes["Sqrt_0"]
    assert r"NaN in value - SOURCE" in attr(nodes["Sqrt_0"], "label")
    assert attr(nodes["Mul_1"], "fillcolor") == attr(nodes["Sum_2"], "fillcolor") == style.RED
    assert attr(nodes["x"], "fillcolor") == "#cfe2ff"
    assert "earliest source the Sqrt op, marked SOURCE" in dot
    text = viz.to_text(loss)
    assert "NaN in value - SOURCE" in text.splitlines()[2]


def test_an_infinite_gradient_is_traced_to_where_it_starts():
    x = ag.tensor([0.0, 1.0], requires_grad=True, dtype=np.float64, name="x")
    loss = (x.sqrt() * 3.0).sum()  # values finite; d sqrt(x)/dx is inf at 0
    with np.errstate(divide="ignore"):
        nodes, _, _ = parse(viz.to_dot(loss, show_grads=True))
    assert r"inf in grad - SOURCE" in attr(nodes["x"], "label") and attr(nodes["x"], "fillcolor") == style.SOURCE
    assert attr(nodes["Sqrt_0"], "fillcolor") == viz.SCALE[3][1]


def test_max_nodes_truncates_with_a_visible_note():
    x = ag.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(50):
        y = y.sin()
    dot = viz.to_dot(y, max_nodes=10)
    nodes, edges, _ = parse(dot)
    assert len(nodes) == 11 and "truncated" in nodes and "x" not in nodes and len(edges) == 10
    assert ("truncated", "Sin_0") in [(s, d) for s, d, _ in edges]
    assert "40 earlier ops not shown (max_nodes=10)" in attr(nodes["truncated"], "label")
    assert "(cut by max_nodes)" in viz.to_text(y, max_nodes=10)


def test_default_max_nodes_keeps_a_10k_op_graph_drawable():
    x = ag.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    nodes, edges, _ = parse(viz.to_dot(y))
    assert len(nodes) == 301 and "9700 earlier ops" in attr(nodes["truncated"], "label")


def test_to_text_is_an_indented_tree_with_shared_tensors_once():
    model = nn.Sequential(nn.Linear(2, 1, seed=0))
    h = model(ag.ones(3, 2))
    text = viz.to_text(h * h, show_values=True)
    lines = text.splitlines()
    assert lines[0].startswith("Mul_1  (3, 1) float32  min ")
    assert lines[1].startswith("  Linear_0  (3, 1) float32") and lines[1].endswith("in 0: Linear")
    assert lines[2].startswith("    input_0  [input] (3, 2) float32")
    assert lines[3].startswith("    0.weight  [param] (2, 1) float32")
    assert lines[4].startswith("    0.bias  [param] (1,) float32")
    assert lines[5] == "  Linear_0 (see above)" and len(lines) == 6


def test_draw_graph_is_a_digraph_with_the_same_source():
    graphviz = pytest.importorskip("graphviz",
                                   reason="the graphviz Python package is not installed (pip install graphviz)")
    x = ag.tensor([1.0, 2.0], requires_grad=True, name="x")
    g = ag.draw_graph(x.exp().sum(), show_values=True)
    assert isinstance(g, graphviz.Digraph) and hasattr(g, "_repr_mimebundle_")  # inline in Jupyter
    assert g.source == viz.to_dot(x.exp().sum(), show_values=True)
    with pytest.raises(TypeError, match="expected Tensors"):
        viz.to_dot(np.ones(2))


def test_save_dot_needs_nothing_and_a_missing_dot_program_says_how_to_install(tmp_path, monkeypatch):
    x = ag.tensor([1.0], requires_grad=True, name="x")
    y = x.exp()
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    p = viz.save(y, tmp_path / "g.dot")
    assert p.read_text().startswith("digraph autograd {") and '"x" -> "Exp_0"' in p.read_text()
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz") as e:
        viz.save(y, tmp_path / "g.svg")
    assert "brew install graphviz" in str(e.value) and ".dot" in str(e.value)
    with pytest.raises(ValueError, match="unknown extension"):
        viz.save(y, tmp_path / "g.jpeg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_render_svg_png_pdf_with_the_real_dot_program(tmp_path):
    model, X = xor_net()
    loss = ((model(ag.tensor(X)) - 0.5) ** 2).mean()
    grads = viz.capture_grads(loss)
    svg = viz.save(viz.draw_graph(loss, grads=grads), tmp_path / "xor.svg").read_text()
    titles = set(re.findall(r"<title>([^<]*)</title>", svg))
    assert {"0.weight", "2.weight", "MatMul_0", "Sigmoid_1", "MatMul_2", "Sigmoid_3", "input_0"} <= titles
    assert {"cluster_0", "cluster_1", "cluster_3"} <= titles and "&#45;&gt;" in svg  # clusters and edges
    assert "0: Linear" in svg and "|grad|" in svg
    assert viz.save(loss, tmp_path / "xor.png", depth=1).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.save(viz.to_dot(loss), tmp_path / "xor.pdf").read_bytes()[:5] == b"%PDF-"
    bundle = viz.draw_graph(loss, depth=1)._repr_mimebundle_()  # what Jupyter shows inline
    assert "<title>module:0</title>" in bundle["image/svg+xml"]


def test_example_writes_its_pictures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["visualize.py", "--out", str(tmp_path)])
    runpy.run_path(str(Path(__file__).parent.parent / "examples" / "visualize.py"), run_name="__main__")
    printed = capsys.readouterr().out
    ext = ".svg" if shutil.which("dot") else ".dot"
    for name in ("xor_forward", "xor_gradients", "xor_layers", "nan_source"):
        assert str(tmp_path / (name + ext)) in printed and (tmp_path / (name + ext)).stat().st_size > 1000
    assert "2.weight  [param] (3, 2) float64  |grad| 3.43e-02  in 2: Linear" in printed


def test_a_partly_freed_graph_falls_back_to_leaf_gradients():
    x = ag.tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x.exp()
    h.sum().backward()  # frees Exp's saved values
    nodes, _, _ = parse(viz.to_dot((h * 2.0).sum(), show_grads=True))
    assert r"|grad| " in attr(nodes["x"], "label") and "|grad|" not in attr(nodes["Exp_0"], "label")


def test_model_and_loss_modules_are_separate_top_level_clusters_and_collapse_keeps_gradients():
    model, X = xor_net()
    loss = nn.MSELoss()(model(ag.tensor(X)), np.zeros((300, 2)))
    grads = viz.capture_grads(loss)
    assert ag.tensor([1.0]) not in grads and model[0].weight in grads
    nodes, edges, where = parse(viz.to_dot(loss, grads=grads, depth=1))
    assert where["module:0"] == ["Sequential"] and all(where[k] == ["MSELoss"] for k in nodes if k.startswith("Sub_"))
    full, _, _ = parse(viz.to_dot(loss, grads=grads))
    norm = attr(full["MatMul_0"], "label").split(r"\n")[-1]  # the first Linear's output
    assert norm.startswith("|grad| ") and attr(nodes["module:0"], "label").endswith(norm)
    assert set(nodes) == {"input_0", "module:0", "module:1", "module:2", "module:3", "Sub_4", "Mul_5", "Sum_6",
                          "Mul_7"} and len(edges) == 9  # mse: d = h - 0; d * d (two arrows), summed, scaled
