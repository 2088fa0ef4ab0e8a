"""The graph explorer's data and page, without a browser: what the page is told (statistics, the engine's backward
order, rolled-up modules, the training timeline), that it is one self-contained file, and that names cannot
escape into markup. tests/test_explorer_browser.py drives the page itself."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini import viz
from autograd_mini.engine import toposort
from autograd_mini.grad_mode import state
from autograd_mini.viz import _style as style
from autograd_mini.viz.explorer import _layout

ROOT = Path(__file__).resolve().parent.parent


def page_data(path: Path) -> dict:
    """The JSON the page reads, taken back out of the saved file."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="ag-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def xor_model() -> tuple[nn.Sequential, ag.Tensor, ag.Tensor]:
    np.random.seed(2017)
    model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=np.float64), nn.Sigmoid(),
                          nn.Linear(3, 2, bias=False, dtype=np.float64), nn.Sigmoid())
    X = np.random.RandomState(0).randn(30, 2)
    return model, ag.tensor(X), ag.tensor(np.eye(2)[((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)])


def by_key(data: dict) -> dict:
    return {n["key"]: n for n in data["nodes"]}


class Cell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4, dtype=np.float64, seed=0)

    def forward(self, x: ag.Tensor, h: ag.Tensor) -> ag.Tensor:
        return ag.tanh(self.lin(h) + x)


class Block(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4, dtype=np.float64, seed=seed), nn.Linear(4, 4, dtype=np.float64, seed=seed + 1)

    def forward(self, x: ag.Tensor) -> ag.Tensor:
        return x + self.b(ag.relu(self.a(x)))


def test_save_html_writes_one_self_contained_page(tmp_path):
    model, x, y = xor_model()
    loss = ((model(x) - y) ** 2).mean()
    path = viz.save(loss, tmp_path / "graph.html", params={"X": x, "Y": y})
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<script") == 2  # the data and the page's script
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # nothing loaded from anywhere
    assert "default-src 'none'" in text  # and the page may not load anything
    assert "$" + "data" not in text and "$" + "js" not in text  # every placeholder filled
    data = page_data(path)
    nodes = by_key(data)
    assert {"X", "Y", "0.weight", "2.weight"} <= set(nodes)
    assert nodes["0.weight"]["shape"] == "(2, 3)" and nodes["0.weight"]["dtype"] == "float64"
    assert [b["label"] for b in data["boxes"]] == ["Sequential", "0: Linear", "1: Sigmoid", "2: Linear", "3: Sigmoid"]
    assert data["layout"] in ("dot", "python")


def test_statistics_and_histograms_match_numpy_and_count_nan_inf():
    a = np.array([[1.0, np.nan, -2.0], [np.inf, 4.0, 0.5]])
    t = ag.tensor(a, requires_grad=True, name="a")
    with np.errstate(all="ignore"):
        out = (t * 2.0).sum()
    data = viz.explore(out).data
    st = by_key(data)["a"]["value"]
    finite = a[np.isfinite(a)]
    assert (st["size"], st["nan"], st["inf"]) == (6, 1, 1)
    assert st["min"] == -2.0 and st["max"] == 4.0
    assert math.isclose(st["mean"], finite.mean(), rel_tol=1e-3) and math.isclose(st["std"], finite.std(), rel_tol=1e-3)
    assert sum(st["hist"]) == finite.size and len(st["hist"]) == 16
    assert by_key(data)["a"]["grad"]["min"] == 2.0  # d(sum 2a)/da = 2 everywhere


def test_zero_d_size_zero_and_integer_tensors():
    a = ag.tensor(3.0, requires_grad=True, name="a")
    z = ag.tensor(np.zeros((0, 3)), requires_grad=True, name="z")
    data = viz.explore((a * 2).sum() + z.sum()).data
    nodes = by_key(data)
    assert nodes["a"]["shape"] == "()" and nodes["a"]["value"]["hist"] == [1] and nodes["a"]["value"]["min"] == 3.0
    assert nodes["z"]["shape"] == "(0, 3)" and nodes["z"]["value"] == {"size": 0}
    assert nodes["z"]["grad"] == {"size": 0}


def test_the_backward_steps_are_the_engines_real_visiting_order():
    model, x, y = xor_model()
    seen = []
    with viz.recording() as rec:
        loss = ((model(x) - y) ** 2).mean()
        state.backward_hooks = state.backward_hooks + (lambda node, g: seen.append(node) or (lambda gi: None),)
        try:
            loss.backward()
        finally:
            state.backward_hooks = state.backward_hooks[:-1]
    data = viz.explore(loss, recording=rec).data
    keys = [n["key"] for n in data["nodes"]]
    steps = data["backward"]["steps"]
    assert [s[1] for s in steps] == [n.name for n in seen]  # what the engine called, in its order
    assert [keys[s[0]] for s in steps][:2] == [keys[-1], keys[-2]]  # the output's node first
    lit = data["backward"]["lit"]
    w0, w2 = keys.index("0.weight"), keys.index("2.weight")
    assert lit[w2] < lit[w0]  # the last layer's weight gets its gradient first
    # the running norm ends at the norm of all leaves' gradients, as backward() left them in .grad
    total = math.sqrt(sum(float((p.grad.data ** 2).sum()) for p in model.parameters()))
    assert math.isclose(steps[-1][3], total, rel_tol=1e-3)
    # gradients recorded during the user's own backward(): leaves as in .grad, intermediates as capture_grads
    assert math.isclose(by_key(data)["0.weight"]["gnorm"], np.linalg.norm(model[0].weight.grad.data), rel_tol=1e-3)
    again = ((model(x) - y) ** 2).mean()
    other = by_key(viz.explore(again, grads=viz.capture_grads(again, accumulate=False)).data)
    for n in data["nodes"]:
        assert n["gnorm"] == other[n["key"]]["gnorm"] and n.get("grad") == other[n["key"]].get("grad")


def test_recording_leaves_no_hooks_and_records_file_and_line():
    before = (state.forward_hooks, state.backward_hooks, state.capture_trace)
    model, x, y = xor_model()
    data = viz.explore(lambda: ((model(x) - y) ** 2).mean()).data
    assert (state.forward_hooks, state.backward_hooks, state.capture_trace) == before
    traces = [n["trace"] for n in data["nodes"] if n["kind"] == "op"]
    assert traces and all("test_explorer.py:" in t for t in traces)
    assert any(" via " in t and "nn" in t for t in traces)  # ops made inside an nn layer say which line of nn
    assert len(data["backward"]["steps"]) == len(traces)  # graph alive: a side-effect-free recorded pass
    assert all(p.grad is None for p in model.parameters())
    # without a recording, after a plain backward(), the page says how to get the order
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    why = viz.explore(loss).data["backward"]["why"]
    assert "recording" in why and viz.explore(loss).data["backward"]["steps"] == []


def test_a_module_called_repeatedly_rolls_up_with_its_call_count():
    class RNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = Cell()

        def forward(self, xs: list) -> ag.Tensor:
            h = ag.zeros((2, 4), dtype=np.float64)
            for x in xs:
                h = self.cell(x, h)
            return h

    xs = [ag.tensor(np.full((2, 4), 0.1 * i)) for i in range(5)]
    boxes = viz.explore(RNN()(xs).sum()).data["boxes"]
    cell = next(b for b in boxes if b["label"] == "cell: Cell")
    assert cell["calls"] == 5 and cell["collapsed"]
    assert not next(b for b in boxes if b["label"] == "RNN")["collapsed"]
    boxes = viz.explore(RNN()(xs).sum(), rollup=False).data["boxes"]
    assert not any(b["collapsed"] for b in boxes)


def test_identical_blocks_in_a_chain_roll_up_but_lookalike_siblings_do_not():
    model = nn.Sequential(*[Block(2 * i) for i in range(3)])
    data = viz.explore(model(ag.tensor(np.ones((3, 4)))).sum()).data
    rolled = [b for b in data["boxes"] if b["kind"] == "rollup"]
    assert len(rolled) == 1 and rolled[0]["calls"] == 3 and rolled[0]["collapsed"]
    assert rolled[0]["label"] == "3 x Block" and rolled[0]["lines"][0] == "0: Block ... 2: Block"
    blocks = [j for j, b in enumerate(data["boxes"]) if b["label"].endswith(": Block")]
    assert all(data["boxes"][j]["parent"] == data["boxes"].index(rolled[0]) for j in blocks)
    # a and b inside a Block are alike but not chained (a relu sits between): they stay apart
    linear = [b for b in data["boxes"] if b["label"].endswith(": Linear")]
    assert len(linear) == 6 and all(data["boxes"][b["parent"]]["kind"] == "module" for b in linear)


def test_depth_starts_modules_collapsed_with_draw_graphs_summary():
    model, x, y = xor_model()
    loss = ((model(x) - y) ** 2).mean()
    grads = viz.capture_grads(loss)
    boxes = viz.explore(loss, depth=1, grads=grads).data["boxes"]
    assert [b["collapsed"] for b in boxes] == [False, True, True, True, True]
    dot_label = re.search(r'"module:0" \[label="([^"]*)"', viz.to_dot(loss, depth=1, grads=grads)).group(1)
    assert "\\n".join(boxes[1]["lines"]) == dot_label  # the same summary the static picture draws


def test_nan_source_and_dead_leaf_explained():
    w = ag.tensor(np.array([1.0, -1.0]), requires_grad=True, name="w")
    dead = ag.tensor(np.array([-1.0, -2.0]), requires_grad=True, name="dead")
    with np.errstate(all="ignore"):
        out = (ag.log(w) + ag.relu(dead)).sum()
    data = viz.explore(out).data
    nodes = by_key(data)
    log = next(n for n in data["nodes"] if n["label"] == "Log")
    assert log["source"] == "value" and log["fill"] == style.SOURCE and log["vbad"] == "NaN"
    assert log["value"]["nan"] == 1
    assert nodes["dead"]["gnorm"] == 0 and "dead relu" in nodes["dead"]["explain"]
    assert "explain" not in nodes["w"]
    assert any("NaN/inf: earliest source" in n for n in data["notes"])


def test_names_with_markup_cannot_escape(tmp_path):
    evil = "</script><script>window.pwned=1</script><!--"
    w = ag.tensor(np.ones(2), requires_grad=True, name=evil)
    path = viz.save((w * 2).sum(), tmp_path / "evil.html", title="<img src=x onerror=alert(1)>")
    text = path.read_text(encoding="utf-8")
    assert evil not in text and "<script>window.pwned" not in text and "<img src=x" not in text
    assert text.count("</script>") == 2
    assert by_key(page_data(path))[evil]["label"] == evil  # the name itself survives, as data
    frame = viz.explore((w * 2).sum())._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "<script" not in frame and "</script" not in frame


def test_the_python_layout_when_dot_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(_layout.shutil, "which", lambda name: None)
    model, x, y = xor_model()
    data = viz.explore(((model(x) - y) ** 2).mean()).data
    assert data["layout"] == "python"
    nodes = data["nodes"]
    for n in nodes:  # inputs sit above their consumers, inside the boxes of their chain
        for s in n["ins"]:
            assert nodes[s]["y"] < n["y"]
        for b in n["chain"]:
            x0, y0, x1, y1 = data["boxes"][b]["bb"]
            assert x0 <= n["x"] - n["w"] / 2 and n["x"] + n["w"] / 2 <= x1 and y0 <= n["y"] <= y1
    assert_boxes_apart(data)
    blocks = nn.Sequential(*[Block(2 * i) for i in range(3)])
    assert_boxes_apart(viz.explore(blocks(ag.tensor(np.ones((3, 4)))).sum(), rollup=False).data)
    with pytest.raises(RuntimeError, match="dot"):
        viz.explore(((model(x) - y) ** 2).mean(), layout="dot")


def assert_boxes_apart(data: dict) -> None:
    """Boxes are nested or disjoint, and a node lies only inside the boxes of its chain."""
    boxes = data["boxes"]

    def ancestors(j: int) -> set:
        out = set()
        while j >= 0:
            out.add(j)
            j = boxes[j]["parent"]
        return out

    def overlap(a: list, b: list) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for j, a in enumerate(boxes):
        for k, b in enumerate(boxes):
            if j < k and j not in ancestors(k) and k not in ancestors(j):
                assert not overlap(a["bb"], b["bb"]), (a["label"], b["label"])
    for n in data["nodes"]:
        rect = [n["x"] - n["w"] / 2, n["y"] - n["h"] / 2, n["x"] + n["w"] / 2, n["y"] + n["h"] / 2]
        for j, b in enumerate(boxes):
            assert overlap(rect, b["bb"]) == (j in n["chain"]), (n["key"], b["label"])


def test_dot_layout_positions_nodes_inside_their_clusters():
    if _layout.shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    model, x, y = xor_model()
    data = viz.explore(((model(x) - y) ** 2).mean(), layout="dot").data
    assert data["layout"] == "dot"
    assert_boxes_apart(data)
    blocks = nn.Sequential(*[Block(2 * i) for i in range(3)])  # rolled-up boxes are clusters too
    data = viz.explore(blocks(ag.tensor(np.ones((3, 4)))).sum(), layout="dot").data
    assert any(b["kind"] == "rollup" for b in data["boxes"])
    assert_boxes_apart(data)


def test_a_big_graph_is_cut_by_max_nodes_and_embeds_no_arrays(tmp_path):
    h = ag.tensor(np.random.RandomState(0).randn(8, 16), requires_grad=True)
    ws = [ag.tensor(np.eye(16) * 0.5, requires_grad=True) for _ in range(10)]
    for k in range(1000):
        h = ag.tanh(h @ ws[k % 10] + 0.1)
    path = viz.save(h.sum(), tmp_path / "big.html", max_nodes=900)
    data = page_data(path)
    assert sum(n["kind"] == "op" for n in data["nodes"]) == 900 and data["dropped"] == 3001 - 900
    assert data["layout"] == "python"  # over DOT_MAX_NODES boxes
    assert any("earlier ops not shown" in n for n in data["notes"])
    assert path.stat().st_size < 2_000 * len(data["nodes"])  # statistics, never whole arrays


def test_bad_arguments_are_named():
    x = ag.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="unknown argument"):
        viz.explore(x.sum(), colour=True)
    with pytest.raises(TypeError, match="recording"):
        viz.explore(x.sum(), recording=[1])
    with pytest.raises(TypeError, match="DOT text"):
        viz.save(viz.to_dot(x.sum()), "never.html")
    with pytest.raises(ValueError, match="layout"):
        viz.explore(x.sum(), layout="neato")
    with pytest.raises(ValueError, match="rankdir"):
        viz.explore(x.sum(), rankdir="BT")
    with pytest.raises(TypeError, match="returned int"):
        viz.explore(lambda: 3)


def train_xor(steps: int, lr: float, make_recorder=None) -> tuple:
    model, x, y = xor_model()
    rec = make_recorder(model) if make_recorder else None
    opt = nn.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if rec is not None:
            rec.record(loss)
        opt.step()
    return model, rec


def test_training_recorder_keeps_bounded_memory_and_exact_norms():
    model, _, _ = xor_model()
    rec = viz.TrainingRecorder(model, max_steps=8)
    assert rec.record() and rec.steps == [0]
    assert rec.timeline()["params"][0]["g"] == [None]  # no backward yet: no gradient
    assert rec.timeline()["params"][0]["v"] == [pytest.approx(np.linalg.norm(model[0].weight.data), rel=1e-3)]
    m, rec2 = train_xor(37, 0.5, lambda model: viz.TrainingRecorder(model, max_steps=8, keep_first=0))
    assert len(rec2.steps) <= 8 and rec2.steps == list(range(0, 37, rec2.every)) and rec2.every == 8
    _, rec3 = train_xor(300, 0.5, lambda model: viz.TrainingRecorder(model, max_steps=40, keep_first=20))
    assert rec3.steps[:10] == list(range(10)) and len(rec3.steps) <= 40 and rec3.every == 16
    assert rec3.steps[10:] == list(range(16, 300, 16))  # the first 10 (max_steps // 4) steps all kept
    tl = rec2.timeline()
    assert tl["params"][0]["v"][-1] != tl["params"][0]["v"][0]  # values move with training
    assert tl["params"][0]["v"][-1] != pytest.approx(np.linalg.norm(m[0].weight.data), rel=1e-6)  # before step()
    names = [p["name"] for p in tl["params"]]
    assert names == ["0.weight", "2.weight"] and [mm["name"] for mm in tl["modules"]] == ["Sequential", "0: Linear",
                                                                                  "2: Linear"]
    for k in range(len(tl["steps"])):  # a module's norm is the norm of its parameters' norms
        expect = math.hypot(tl["params"][0]["g"][k], tl["params"][1]["g"][k])
        assert math.isclose(tl["modules"][0]["g"][k], expect, rel_tol=2e-3)
    with pytest.raises(ValueError, match="max_steps"):
        viz.TrainingRecorder(model, max_steps=1)
    with pytest.raises(ValueError, match="model"):
        viz.TrainingRecorder()
    with pytest.raises(ValueError, match="nothing recorded"):
        viz.TrainingRecorder(model).save("never.html")


def test_training_page_maps_parameters_and_layers_to_their_series(tmp_path):
    _, rec = train_xor(6, 100.0, lambda model: viz.TrainingRecorder(model, histograms=True))
    data = page_data(rec.save(tmp_path / "training.html", depth=1))
    tl, nodes = data["timeline"], data["nodes"]
    assert tl["steps"] == list(range(6)) and len(tl["loss"]) == 6
    series = {nodes[i]["key"]: tl["params"][s]["name"] for i, s in enumerate(tl["node_series"]) if s is not None}
    assert series == {"0.weight": "0.weight", "2.weight": "2.weight"}
    layer = {data["boxes"][j]["label"]: tl["modules"][s]["name"] for j, s in enumerate(tl["box_series"])
             if s is not None}
    assert all(label == name for label, name in layer.items()) and len(layer) == 3  # named as the boxes are
    assert len(tl["params"][0]["hist"]) == 6 and sum(tl["params"][0]["hist"][0]["hist"]) == 6
    assert data["backward"]["steps"] == []


def test_training_with_nan_marks_the_step():
    w = ag.tensor(np.array([1.0]), requires_grad=True, name="w")
    rec = viz.TrainingRecorder(params={"w": w})
    for v in (1.0, 0.0):
        w.data = np.array([v])
        with np.errstate(all="ignore"):
            loss = ag.sqrt(w).sum()
            loss.backward()
        rec.record(loss)
        w.grad = None
    assert rec.timeline()["params"][0]["g"] == [0.5, "inf"]


def test_training_page_opens_on_a_log_step_axis_when_the_story_is_early(tmp_path):
    w = ag.tensor(np.array([1.0]), requires_grad=True, name="w")

    def page(losses, **kw) -> bool:
        rec = viz.TrainingRecorder(params={"w": w})
        for v in losses:
            rec.record(v)
        return page_data(rec.save(tmp_path / "t.html", **kw))["timeline"]["log_steps"]

    blow_up = [0.25, 0.4, 0.53] + [0.53 + 1e-4 * k for k in range(197)]  # the lr=100 run: all in the first steps
    steady = [1.0 - 0.004 * k for k in range(200)]
    assert page(blow_up) and not page(steady) and not page([0.5] * 200) and not page(blow_up[:9])
    assert page(steady, log_steps=True) and not page(blow_up, log_steps=False)


def test_the_wheel_ships_both_packages_and_the_page_assets():
    """hatchling ships every file of the listed packages that git does not ignore: the page's assets included."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert config["build-system"]["build-backend"] == "hatchling.build"
    assert wheel["packages"] == ["autograd_mini", "nn"] and not {"exclude", "only-include"} & set(wheel)
    assets = [ROOT / "autograd_mini" / "viz" / "explorer" / n for n in ("page.js", "page.css", "template.html")]
    assert all(a.is_file() for a in assets)
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", *map(str, assets)], cwd=ROOT, capture_output=True, text=True)
        assert ignored.stdout == "", f"git ignores {ignored.stdout}: hatchling would leave it out of the wheel"


def test_the_readme_graph_recipe_gives_the_readme_pictures(tmp_path, monkeypatch):
    """README "See the graph": show_grads=True colours every tensor; recording() gives file:line and the slider."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## See the graph")[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)[1]
    if shutil.which("dot") is None:  # the same picture as DOT text, which needs nothing installed
        snippet = snippet.replace('"graph.svg"', '"graph.dot"')
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    picture = next(tmp_path.glob("graph.[sd]*")).read_text(encoding="utf-8")
    assert picture.count("|grad|") >= 12  # the 4 parameters and every op, not the leaves only
    data = page_data(tmp_path / "graph.html")
    ops = [n for n in data["nodes"] if n["kind"] == "op"]
    assert len(data["backward"]["steps"]) == len(ops) and all(n["trace"].startswith("README.md:") for n in ops)
    assert all(n["gnorm"] is not None for n in data["nodes"] if n["kind"] != "input")


def test_the_engine_order_is_toposort_of_the_nodes_that_got_a_gradient():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = ag.tensor(np.array([3.0, 4.0]))
    a = x * 2
    unused = c * 3  # no gradient flows here: not a step
    out = (a * a + unused).sum()
    data = viz.explore(out).data
    expect = [n.name for n in toposort([out.grad_fn]) if any(getattr(t, "requires_grad", False) for t in n.inputs)]
    assert [s[1] for s in data["backward"]["steps"]] == expect


def test_the_visualize_example_writes_both_pages(tmp_path):
    import runpy

    example = runpy.run_path(str(ROOT / "examples" / "visualize.py"), run_name="visualize")
    X, Y = example["xor_data"]()
    graph, training = example["explorer_pages"](tmp_path, ag.tensor(X), ag.tensor(Y))
    assert (graph.name, training.name) == ("graph.html", "training.html")
    assert len(page_data(graph)["backward"]["steps"]) == 8  # Mul, Sum, Pow, Sub, Sigmoid, MatMul, Sigmoid, MatMul
    tl = page_data(training)["timeline"]
    assert tl["steps"] == list(range(300)) and tl["loss"][-1] < tl["loss"][0]


def test_roots_the_backward_slider_cannot_replay_say_why():
    w = ag.tensor(np.ones(3), requires_grad=True, name="w")
    assert "one root that an op made" in viz.explore(w).data["backward"]["why"]
    assert "shape (3,)" in viz.explore(w * 2).data["backward"]["why"]
    assert "one root" in viz.explore(w * 2, (w * 3).sum()).data["backward"]["why"]
    data = viz.explore(w * 2, max_nodes=0).data  # everything cut: a note, no crash
    assert [n["kind"] for n in data["nodes"]] == [] and data["dropped"] == 1


def test_training_recorder_rejects_bad_losses_and_steps():
    w = ag.tensor(np.ones(2), requires_grad=True)
    rec = viz.TrainingRecorder(params={"w": w})
    with pytest.raises(ValueError, match="single number"):
        rec.record(w * 2)
    assert rec.steps == [] and rec.root is None  # nothing half-recorded
    rec.record(1.5, step=10)
    with pytest.raises(ValueError, match="steps must increase"):
        rec.record(1.0, step=10)
    assert rec.record(np.float32(2.0)) and rec.steps == [10, 11] and rec.loss == [1.5, 2.0]
    with pytest.raises(TypeError, match="not a Tensor"):
        viz.TrainingRecorder(params={"w": np.ones(2)})


def test_left_to_right_layout_puts_inputs_left_of_their_consumers():
    model, x, y = xor_model()
    for engine in ("python", "dot") if _layout.shutil.which("dot") else ("python",):
        data = viz.explore(((model(x) - y) ** 2).mean(), rankdir="LR", layout=engine).data
        nodes = data["nodes"]
        assert data["rankdir"] == "LR" and all(nodes[s]["x"] < n["x"] for n in nodes for s in n["ins"]), engine


def test_the_page_shows_inline_in_a_jupyter_notebook():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
    pytest.importorskip("ipykernel", reason="ipykernel (the Python kernel for Jupyter) is not installed")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import autograd_mini as ag\n"
        "w = ag.tensor([1.0, -2.0], requires_grad=True, name='w')\n"
        "ag.viz.explore((w * w).sum())")]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    html = nb.cells[0].outputs[0]["data"]["text/html"]
    assert html.startswith("<iframe srcdoc=") and "&quot;key&quot;:&quot;w&quot;" in html


def test_a_recording_keeps_its_last_passes_and_finds_the_roots_one():
    import gc
    import weakref

    w = ag.tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    with viz.recording() as rec:
        first = (w * 3).sum()
        first.backward(retain_graph=True)
        second = (w.exp()).sum()
        second.backward()
        first.backward()  # the same root again: a new pass
        dropped = []
        for _ in range(6):  # a training loop inside recording(): old graphs and passes are let go
            loss = (w * w).sum()
            loss.backward()
            dropped.append(weakref.ref(loss))
            del loss
    gc.collect()
    assert len(rec.passes) == viz.Recording.KEEP_PASSES and sum(r() is None for r in dropped) >= 2
    assert rec.pass_from(first) is None  # its passes were among the dropped ones
    with viz.recording() as rec:
        first = (w * 3).sum()
        first.backward(retain_graph=True)
        second = (w.exp()).sum()
        second.backward()
    assert [n.name for n, _, _ in rec.pass_from(second).steps] == ["Sum", "Exp"]
    assert [n.name for n, _, _ in rec.pass_from(first).steps] == ["Sum", "Mul"]
    assert rec.pass_from(w) is None
    with viz.recording() as rec:  # backward from the loss, then from an intermediate of the same graph
        h = w.exp()
        loss = (h * 2).sum()
        loss.backward(retain_graph=True)
        h.backward(np.ones(2))
    assert [[n.name for n, _, _ in p.steps] for p in rec.passes] == [["Sum", "Mul", "Exp"], ["Exp"]]


def test_a_very_long_name_is_cut_in_the_drawing_and_whole_in_the_data():
    name = "w" * 5000
    w = ag.tensor(np.ones(2), requires_grad=True, name=name)
    n = by_key(viz.explore((w * 2).sum()).data)[name]
    assert n["label"] == name and len(n["lines"][0]) == 60 and n["lines"][0].endswith("\u2026")
    assert n["w"] < 500


# ---- files: written atomically, special files refused, unencodable names named --------------------------------
def _writers(tmp_path):
    """Each way viz writes a file, as (name, write(path, tensor name))."""
    def graph(name):
        return (ag.tensor(np.ones(2), requires_grad=True, name=name) * 2).sum()

    def training(path, name):
        w = ag.tensor(np.ones(2), requires_grad=True)
        rec = viz.TrainingRecorder(params={name: w})
        rec.record(1.0)
        return rec.save(path, graph=(w * 2).sum())

    return [("html", lambda path, name: viz.save(graph(name), path)),
            ("dot", lambda path, name: viz.save(graph(name), path)),
            ("explorer", lambda path, name: viz.explore(graph(name)).save(path)),
            ("training", training)]


@pytest.mark.parametrize("which", ["html", "dot", "explorer", "training"])
def test_an_unencodable_name_is_named_and_the_old_file_stays(tmp_path, which):
    write = dict(_writers(tmp_path))[which]
    path = tmp_path / ("graph.dot" if which == "dot" else "graph.html")
    write(path, "fine")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"cannot write .*graph\.\w+'?: the name '[^']*w\\udcff[^']*' holds "
                                         r"'\\udcff', which UTF-8 cannot encode"):
        write(path, "w\udcff")
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]  # untouched, no temp file left


def test_a_title_that_cannot_be_encoded_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"the name 'my\\udcfftitle'"):
        viz.explore((ag.tensor(np.ones(2), requires_grad=True) * 2).sum(), title="my\udcfftitle").save(
            tmp_path / "t.html")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this system has no FIFOs")
@pytest.mark.parametrize("which", ["html", "dot", "explorer", "training"])
def test_fifos_and_devices_are_refused_not_written_into(tmp_path, which):
    write = dict(_writers(tmp_path))[which]
    fifo = tmp_path / ("pipe.dot" if which == "dot" else "pipe.html")
    os.mkfifo(fifo)  # opening it for writing would block until a reader comes: it must never be opened

    def hung(signum, frame):
        raise AssertionError("the write blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)  # a write that opens the FIFO fails here instead of hanging the suite
    try:
        with pytest.raises(ValueError, match=r"'.*pipe\.\w+' is a FIFO, not a regular file; refusing to replace it"):
            write(fifo, "w")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if os.path.exists(os.devnull) and os.name == "posix":
        from autograd_mini._atomic import resolve_target
        with pytest.raises(ValueError, match="is a character device"):  # the check alone: /dev/null stays as it is
            resolve_target(os.devnull, "ag.viz.save")
    assert sorted(os.listdir(tmp_path)) == [fifo.name]


@pytest.mark.parametrize("which", ["html", "dot", "training"])
def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch, which):
    write = dict(_writers(tmp_path))[which]
    path = tmp_path / ("graph.dot" if which == "dot" else "graph.html")
    write(path, "old")
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device") as e:
        write(path, "new")
    assert e.value.filename == str(path) and path.read_bytes() == before and os.listdir(tmp_path) == [path.name]
    monkeypatch.undo()
    write(path, "new")
    assert b"new" in path.read_bytes() and os.listdir(tmp_path) == [path.name]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_a_rendered_picture_names_an_unencodable_name_before_dot_runs(tmp_path):
    w = ag.tensor(np.ones(2), requires_grad=True, name="w\udcff")
    with pytest.raises(ValueError, match=r"the name 'w\\udcff'"):
        viz.save((w * 2).sum(), tmp_path / "g.svg")
    assert os.listdir(tmp_path) == []
    viz.save((ag.tensor(np.ones(2), requires_grad=True, name="w") * 2).sum(), tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
