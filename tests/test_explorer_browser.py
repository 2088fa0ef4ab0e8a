"""The explorer page in a real browser (headless Chromium through Selenium): clicking, collapsing, stepping
through backward, the training slider, search, hover, escaping, and no console error anywhere.

Set AG_UPDATE_DOCS_IMG=1 to also write the screenshots docs/viz.md shows (docs/img/explorer*.png)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from _browser import console_errors, open_page, start_browser, stop_browser  # noqa: I001

import autograd_mini as ag
import nn
from autograd_mini import viz
from autograd_mini.viz import _style as style
from autograd_mini.viz.explorer import _layout

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


@pytest.fixture(scope="module")
def browser():
    b = start_browser()
    yield b
    stop_browser(b)


@pytest.fixture
def page(browser):
    """Opens a page; after the test, fails on any error the page logged to the console."""
    def load(path: Path) -> object:
        open_page(browser, path)
        return browser
    yield load
    errors = console_errors(browser)
    assert not errors, f"console errors: {errors}"


def xor(lr_steps: int = 0):
    np.random.seed(2017)
    model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=np.float64), nn.Sigmoid(),
                          nn.Linear(3, 2, bias=False, dtype=np.float64), nn.Sigmoid())
    model[0].weight.data = (2 * np.random.random((2, 3)) - 1) / np.sqrt(2)
    model[2].weight.data = (2 * np.random.random((3, 2)) - 1) / np.sqrt(3)
    X = np.random.RandomState(0).randn(300, 2)
    Y = np.eye(2)[((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)]
    return model, ag.tensor(X), ag.tensor(Y)


@pytest.fixture(scope="module")
def xor_page(tmp_path_factory):
    model, x, y = xor()
    with viz.recording() as rec:
        loss = ((model(x) - y) ** 2).sum() * (0.5 / 300)
        loss.backward()
    path = tmp_path_factory.mktemp("explorer") / "graph.html"
    return viz.save(loss, path, recording=rec, params={"X": x, "Y": y}), rec


def js(b, script: str, *args):
    return b.execute_script(script, *args)


def node(b, key: str):
    from selenium.webdriver.common.by import By
    return next(e for e in b.find_elements(By.CSS_SELECTOR, "g.node") if e.get_attribute("data-key") == key)


def panel_text(b, cls: str) -> str:
    return js(b, f"return document.querySelector('#panel .{cls}').textContent")


def shown_keys(b) -> set:
    return set(js(b, "return [...document.querySelectorAll('g.node')].map(e => e.dataset.key)"))


def test_click_a_node_shows_its_shape_dtype_statistics_and_trace(page, xor_page):
    b = page(xor_page[0])
    node(b, "0.weight").click()
    assert panel_text(b, "panel-title") == "0.weight"
    assert panel_text(b, "shape") == "(2, 3)" and panel_text(b, "dtype") == "float64"
    assert js(b, "return document.querySelectorAll('#panel svg.hist').length") == 2  # value and gradient
    node(b, "MatMul_0").click()
    assert panel_text(b, "shape") == "(300, 3)"
    assert "test_explorer_browser.py:" in panel_text(b, "trace")
    assert float(panel_text(b, "stat-min")) == pytest.approx(
        float((xor()[1].data @ xor()[0][0].weight.data).min()), rel=1e-3)


def test_collapse_and_expand_a_module(page, xor_page):
    b = page(xor_page[0])
    assert "MatMul_0" in shown_keys(b)
    title = next(t for t in js(b, "return [...document.querySelectorAll('g.box text.title')]")
                 if t.text.startswith("0: Linear"))
    title.click()
    assert "MatMul_0" not in shown_keys(b) and "0.weight" not in shown_keys(b)
    box = js(b, "return document.querySelector('g.box.collapsed')")
    assert "0: Linear" in box.text and "1 op, 1 param" in box.text
    box.click()
    assert {"MatMul_0", "0.weight"} <= shown_keys(b) and not js(b, "return document.querySelector('g.box.collapsed')")


def test_backward_slider_lights_nodes_in_the_engines_order(page, xor_page):
    from selenium.webdriver.common.keys import Keys
    b = page(xor_page[0])
    path, rec = xor_page
    order = [n.name for n, _, _ in rec.passes[-1].steps]
    unlit = "return [...document.querySelectorAll('g.node.unlit')].map(e => e.dataset.key)"
    assert js(b, unlit) == []  # at the end every node has its gradient
    slider = b.find_element("id", "bstep")
    slider.send_keys(Keys.HOME)
    assert len(js(b, unlit)) == len(shown_keys(b))  # before backward nothing is lit
    slider.send_keys(Keys.RIGHT)
    lit = shown_keys(b) - set(js(b, unlit))
    assert lit == {"Mul_7"} and "Mul_7 receives |g| = 1" in b.find_element("id", "bstep-text").text
    for _ in range(4):
        slider.send_keys(Keys.RIGHT)
    lit = shown_keys(b) - set(js(b, unlit))
    assert lit == {"Mul_7", "Sum_6", "PowConst_5", "Sub_4", "Sigmoid_3"} and order[:5] == [
        "Mul", "Sum", "PowConst", "Sub", "Sigmoid"]
    assert js(b, "return document.querySelector('g.node.current').dataset.key") == "Sigmoid_3"
    slider.send_keys(Keys.RIGHT)  # MatMul_2's backward hands 2.weight its gradient
    assert {"MatMul_2", "2.weight"} <= shown_keys(b) - set(js(b, unlit)) and "0.weight" in js(b, unlit)


def test_backward_slider_shows_the_narration_of_the_current_step(page, xor_page, tmp_path):
    from selenium.webdriver.common.keys import Keys
    model, x, y = xor()
    x2, y2 = ag.tensor(x.data[:2]), ag.tensor(y.data[:2])
    with viz.recording() as rec:
        loss = ((model(x2) - y2) ** 2).sum() * 0.25
        loss.backward(retain_graph=True)  # the graph stays alive: the page narrates each step
    narration = ag.explain_backward(loss)
    b = page(viz.save(loss, tmp_path / "narrated.html", recording=rec))
    text = "const p = document.getElementById('bstep-narration'); return p.hidden ? null : p.textContent"
    slider = b.find_element("id", "bstep")
    assert js(b, text) == narration.step_text(narration.steps)  # at the end: the last step
    slider.send_keys(Keys.HOME)
    assert js(b, text) is None  # before backward: nothing to narrate
    slider.send_keys(Keys.RIGHT)
    assert js(b, text) == narration.step_text(1) and js(b, text).startswith("Step 1 of 8: Mul, Loss = t3 * 0.25")
    slider.send_keys(Keys.RIGHT, Keys.RIGHT, Keys.RIGHT, Keys.RIGHT)
    assert js(b, text) == narration.step_text(5) and "local factor dh2/dz2 = h2 (1 - h2) = " in js(b, text)
    assert b.find_element("id", "bstep-narration").is_displayed()
    b = page(xor_page[0])  # backward() freed that graph: the panel says how to get the narration
    b.find_element("id", "bstep").send_keys(Keys.HOME, Keys.RIGHT)
    assert "retain_graph=True" in js(b, text)


def test_hover_highlights_ancestors_and_descendants(page, xor_page):
    from selenium.webdriver.common.action_chains import ActionChains
    b = page(xor_page[0])
    ActionChains(b).move_to_element(node(b, "Sigmoid_1")).perform()
    hi = set(js(b, "return [...document.querySelectorAll('g.node.hi')].map(e => e.dataset.key)"))
    assert {"X", "0.weight", "MatMul_0", "Sigmoid_1", "MatMul_2", "Mul_7"} <= hi
    assert "2.weight" not in hi and "Y" not in hi  # neither an ancestor nor a descendant
    assert js(b, "return document.getElementById('view').classList.contains('hovering')")


def test_search_finds_by_parameter_and_op_name(page, xor_page):
    from selenium.webdriver.common.keys import Keys
    b = page(xor_page[0])
    box = b.find_element("id", "search")
    box.send_keys("sigmoid")
    assert b.find_element("id", "search-status").text == "2 matches"
    box.clear()
    box.send_keys("2.weight")
    assert b.find_element("id", "search-status").text == "1 match"
    box.send_keys(Keys.ENTER)
    assert panel_text(b, "panel-title") == "2.weight"
    assert js(b, "return [...document.querySelectorAll('g.node.match')].map(e => e.dataset.key)") == ["2.weight"]


def test_fit_pan_and_zoom_move_the_view(page, xor_page):
    from selenium.webdriver.common.action_chains import ActionChains
    b = page(xor_page[0])
    before = js(b, "return document.getElementById('world').getAttribute('transform')")
    ActionChains(b).move_to_element_with_offset(b.find_element("id", "view"), 5, 5).click_and_hold() \
        .move_by_offset(80, 40).release().perform()
    moved = js(b, "return document.getElementById('world').getAttribute('transform')")
    assert moved != before
    js(b, "document.getElementById('view').dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: 300, "
          "clientY: 300, bubbles: true, cancelable: true}))")
    assert js(b, "return document.getElementById('world').getAttribute('transform')") != moved
    b.find_element("id", "fit").click()
    assert js(b, "return document.getElementById('world').getAttribute('transform')") == before


def test_rolled_up_repeats_unroll_by_click(page, tmp_path):
    class Cell(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3, dtype=np.float64, seed=0)

        def forward(self, h: ag.Tensor) -> ag.Tensor:
            return ag.tanh(self.lin(h))

    cell = Cell()
    h = ag.tensor(np.ones((2, 3)))
    for _ in range(4):
        h = cell(h)
    b = page(viz.save(h.sum(), tmp_path / "rnn.html"))
    badge = js(b, "return document.querySelector('g.box.collapsed .badge-text').textContent")
    assert badge == "\u00d74" and not any(k.startswith("Tanh") for k in shown_keys(b))
    from selenium.webdriver.common.keys import Keys
    b.find_element("id", "search").send_keys("tanh")
    assert b.find_element("id", "search-status").text == "4 matches"
    assert js(b, "return document.querySelectorAll('g.box.match').length") == 1  # they are inside the box
    b.find_element("id", "search").send_keys(Keys.ENTER)  # the first one: its box opens
    assert panel_text(b, "panel-title") == "Tanh_1" and sum(k.startswith("Tanh") for k in shown_keys(b)) == 4
    js(b, "document.querySelector('g.box .title').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert not any(k.startswith("Tanh") for k in shown_keys(b))  # rolled up again
    js(b, "return document.querySelector('g.box.collapsed')").click()
    assert sum(k.startswith("Tanh") for k in shown_keys(b)) == 4


def training_page(tmp_path: Path, **save_kwargs) -> Path:
    model, x, y = xor()
    opt = nn.optim.SGD(model.parameters(), lr=100.0)
    rec = viz.TrainingRecorder(model)
    for _ in range(30):
        loss = ((model(x) - y) ** 2).sum() * (0.5 / 300)
        opt.zero_grad()
        loss.backward()
        rec.record(loss)
        opt.step()
    return rec.save(tmp_path / "training.html", **save_kwargs), rec


def test_training_slider_recolours_the_graph(page, tmp_path):
    from selenium.webdriver.common.keys import Keys
    path, rec = training_page(tmp_path)
    b = page(path)
    fill = "return document.querySelector('g.node[data-key=\"0.weight\"] .shape').getAttribute('fill')"
    g = rec.timeline()["params"][0]["g"]
    bucket = [next(f for bound, f, _, _ in viz.SCALE if v < bound) for v in g]
    assert js(b, fill) == bucket[-1]  # the last step is shown first
    k = next(i for i, f in enumerate(bucket) if f != bucket[-1])
    js(b, "const s = document.getElementById('tstep'); s.value = arguments[0]; "
          "s.dispatchEvent(new Event('input'))", k)
    assert js(b, fill) == bucket[k] != bucket[-1]
    b.find_element("id", "tstep").send_keys(Keys.HOME)
    assert js(b, fill) == bucket[0]
    frame = "return document.querySelector('g.box[data-box=\"1\"] .frame').style.stroke"  # 0: Linear, open
    layer = [next(e for bound, _, e, _ in viz.SCALE if v < bound) for v in rec.timeline()["modules"][1]["g"]]
    rgb = "rgb({}, {}, {})".format(*(int(layer[0][k:k + 2], 16) for k in (1, 3, 5)))
    assert js(b, frame) == rgb  # the open module's frame: its parameters' gradient norm at step 0
    assert b.find_element("id", "tstep-text").text.startswith("step 0 (1 of 30 kept)")
    assert js(b, "return document.querySelectorAll('#chart-grad path.series').length") == 3  # Sequential, 0, 2
    node(b, "0.weight").click()
    assert "step 0" in js(b, "return document.querySelector('#panel .t-grad').parentNode.textContent")


def test_the_xor_articles_blow_up_step_by_step(page, tmp_path, monkeypatch):
    """The lr=100 run of examples/xor_article.py: the first steps' gradients explode, then vanish."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples"))
    import xor_article

    run = next(r for r in xor_article.RUNS if r.name == "50-hidden-lr100")
    _, hist = xor_article.train(run, 200, 2017, False)  # the example's own loop, recorder included
    hist["recorder"].save(tmp_path / "training.html", depth=1, title=f"{run.name}: {run.note}")
    assert hist["loss"][2] > 2 * hist["loss"][0]  # blown up by step 2
    b = page(tmp_path / "training.html")
    assert_edges_enter_facing_sides(b)
    assert all(abs(w - sw) < 1 and abs(h - sh) < 1 for w, h, sw, sh in shut_box_sizes(b))  # l1, l2: summary-sized
    box = "return document.querySelector('g.box.collapsed[data-box=\"1\"] .shape').getAttribute('fill')"
    text = "return document.getElementById('tstep-text').textContent"
    slider = b.find_element("id", "tstep")
    slider.send_keys(Keys.HOME)
    first = js(b, box)
    slider.send_keys(Keys.RIGHT)
    assert js(b, text).startswith("step 1 ")
    slider.send_keys(Keys.RIGHT, Keys.RIGHT, Keys.RIGHT)
    assert js(b, box) != first  # l1's gradient norm has left its first colour band within a few steps
    cursor = "return +document.querySelector('#chart-grad .cursor').getAttribute('x1')"
    assert b.find_element("id", "logx").is_selected() and js(b, cursor) > 200  # opens on early training spread out
    b.find_element("id", "logx").click()
    assert js(b, cursor) < 100  # a linear step axis squashes the blow-up into the first pixels
    b.find_element("id", "logx").click()
    js(b, "return document.querySelector('g.box.collapsed[data-box=\"1\"]')").click()  # open l1
    node(b, "l1.weight").click()
    ActionChains(b).move_to_element(b.find_element("id", "title")).perform()
    if os.environ.get("AG_UPDATE_DOCS_IMG"):
        b.save_screenshot(str(DOCS_IMG / "explorer_training.png"))


EDGES = """return [...document.querySelectorAll('path.edge')].map((p) => {
  const box = (id) => {
    const r = document.querySelector(id[0] === 'n' ? `g.node[data-i="${id.slice(1)}"] .shape`
                                                   : `g.box.collapsed[data-box="${id.slice(1)}"] .shape`).getBBox();
    return [r.x, r.y, r.width, r.height];
  };
  return [p.getAttribute('d').match(/-?[0-9.e+-]+/g).map(Number), box(p.dataset.src), box(p.dataset.dst)];
})"""


def assert_edges_enter_facing_sides(b):
    """Every arrow leaves its source's outline and enters its target through the side that faces the source
    (the top when the source is above), never doubling back into the target from the far side."""
    edges = js(b, EDGES)
    assert edges
    for (x1, y1, *_, x2, y2), (sx, sy, sw, sh), (dx, dy, dw, dh) in edges:
        assert sx - 5 <= x1 <= sx + sw + 5 and sy - 5 <= y1 <= sy + sh + 5  # on the source
        side = min((abs(y2 - dy), "top"), (abs(y2 - dy - dh), "bottom"), (abs(x2 - dx), "left"),
                   (abs(x2 - dx - dw), "right"))
        assert side[0] < 5, (x2, y2, dx, dy, dw, dh)  # on the target's outline
        assert {"top": y1 <= y2 + 1, "bottom": y1 >= y2 - 1, "left": x1 <= x2 + 1, "right": x1 >= x2 - 1}[side[1]], \
            (side, x1, y1, x2, y2)


def shut_box_sizes(b) -> list:
    return js(b, """return [...document.querySelectorAll('g.box.collapsed')].map((g) => {
      const r = g.querySelector('.shape').getBBox(), b = JSON.parse(document.getElementById('ag-data').textContent)
        .boxes[+g.dataset.box];
      return [r.width, r.height, b.size[0], b.size[1]]; })""")


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_collapsed_layers_are_laid_out_small_and_edges_enter_from_the_facing_side(page, tmp_path, rankdir):
    model, x, y = xor()
    loss = ((model(x) - y) ** 2).sum() * (0.5 / 300)
    b = page(viz.save(loss, tmp_path / "depth1.html", depth=1, rankdir=rankdir))
    sizes = shut_box_sizes(b)
    assert len(sizes) == 4 and all(abs(w - sw) < 1 and abs(h - sh) < 1 for w, h, sw, sh in sizes)  # the summary's
    assert_edges_enter_facing_sides(b)
    where = "const r = document.querySelector('g.box[data-box=\"1\"] .' + '{}').getBoundingClientRect(); " \
            "return [r.x + r.width / 2, r.y + r.height / 2]"
    before = js(b, where.format("shape"))
    js(b, "return document.querySelector('g.box.collapsed[data-box=\"1\"]')").click()  # open 0: Linear
    assert js(b, where.format("frame")) == pytest.approx(before, abs=1)  # the layout changed; the box stayed put
    assert len(shut_box_sizes(b)) == 3 and all(w <= sw + 1 and h <= sh + 1 for w, h, sw, sh in shut_box_sizes(b))
    assert_edges_enter_facing_sides(b)
    js(b, "document.querySelector('g.box .title').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert all(abs(w - sw) < 1 and abs(h - sh) < 1 for w, h, sw, sh in shut_box_sizes(b))  # the whole model shut


def test_module_titles_are_drawn_above_the_edges(page, xor_page):
    b = page(xor_page[0])
    order = js(b, "return [...document.getElementById('world').children].map(e => e.id)")
    assert order.index("titles") > order.index("edges")
    assert js(b, "return document.querySelectorAll('#titles text.title').length") == 5  # Sequential and 4 layers
    style = js(b, "const s = getComputedStyle(document.querySelector('#titles text.title')); "
                  "return [s.paintOrder, s.stroke]")
    assert style[0].startswith("stroke") and style[1] == "rgb(255, 255, 255)"  # a halo: an edge under it is cut


def test_training_page_names_layers_colours_only_what_it_knows_and_shows_the_chosen_step(page, tmp_path):
    path, rec = training_page(tmp_path, depth=1)
    b = page(path)
    names = js(b, "return [...document.querySelectorAll('#chart-grad path.series title')].map(t => t.textContent)")
    assert names == ["Sequential", "0: Linear", "2: Linear"]
    right = js(b, "return Math.max(...[...document.querySelectorAll('#chart-grad path.series')].map((p) => { "
                  "const r = p.getBBox(); return r.x + r.width; }))")
    labels = js(b, "return [...document.querySelectorAll('#chart-grad text[fill]')].map((t) => t.getBBox().x)")
    assert len(labels) == 3 and min(labels) > right  # the series' names right of the plot: no line runs under them
    assert js(b, "return [...document.querySelectorAll('#chart-loss text')].filter((t) => "
                 "t.textContent === 'loss').length") == 1  # the title names the one series
    fill = "return document.querySelector('g.box.collapsed[data-box=\"{}\"] .shape').getAttribute('fill')"
    dead = js(b, "return JSON.parse(document.getElementById('ag-data').textContent).legend.dead[0]")
    assert js(b, fill.format(2)) == style.ROLE["module"][2] != dead  # 1: Sigmoid has no parameters: no colour
    layer = rec.timeline()["modules"][1]["g"]
    assert js(b, fill.format(1)) == next(f for bound, f, _, _ in viz.SCALE if layer[-1] < bound)
    js(b, "return document.querySelector('g.box.collapsed[data-box=\"1\"]')").click()
    node(b, "0.weight").click()
    for k in (29, 3):
        js(b, "const s = document.getElementById('tstep'); s.value = arguments[0]; "
              "s.dispatchEvent(new Event('input'))", k)
        text = js(b, "return document.getElementById('panel').textContent")
        g, v = rec.timeline()["params"][0]["g"][k], rec.timeline()["params"][0]["v"][k]
        assert f"|grad| at step {k}{g:.4g}" in text and f"|value| at step {k}{v:.4g}" in text
        assert "min" not in text and "mean" not in text  # no statistics of another time (the end of training)
        assert js(b, "return document.querySelectorAll('#panel .stat-min, #panel svg.hist').length") == 0


class Looped(nn.Module):
    """A ModuleList of 4 layers run 25 times over in a loop: 100 calls."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4, dtype=np.float64, seed=k) for k in range(4)])

    def forward(self, x: ag.Tensor) -> ag.Tensor:
        for k in range(100):
            x = ag.tanh(self.layers[k % 4](x))
        return x


@pytest.mark.parametrize("caller", ["model", "outside"])
def test_a_modulelist_reused_in_a_loop_is_a_chain_with_its_own_names(page, tmp_path, caller):
    net, x = Looped(), ag.tensor(np.ones((2, 4)))
    if caller == "model":
        out = net(x)
    else:  # the same calls from a plain loop: the layers still know they are net.layers.k
        out = x
        for k in range(100):
            out = ag.tanh(net.layers[k % 4](out))
    b = page(viz.save(out.sum(), tmp_path / "looped.html"))
    params = sorted(js(b, "return [...document.querySelectorAll('g.node.param')].map(e => e.dataset.key)"))
    assert params == sorted(f"layers.{k}.{w}" for k in range(4) for w in ("weight", "bias"))
    ops = js(b, """return [...document.querySelectorAll('g.node.op')].map(e => {
        const r = e.querySelector('.shape').getBBox(); return [e.dataset.key, r.x, r.y, r.width, r.height]; })""")
    ops.sort(key=lambda o: int(o[0].rsplit("_", 1)[1]))  # forward order
    assert len(ops) == 201 and all(a[2] + a[4] < b[2] for a, b in zip(ops, ops[1:]))  # each below the one before
    assert max(o[1] for o in ops) - min(o[1] for o in ops) < 50  # one column: a chain, not a grid
    titles = js(b, "return [...document.querySelectorAll('#titles text.title')].map(t => t.textContent)")
    assert titles.count("layers.3: Linear \u2212") == 25
    assert_edges_enter_facing_sides(b)


def test_names_with_markup_stay_text(page, tmp_path):
    evil = "</script><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"
    w = ag.tensor(np.ones(2), requires_grad=True, name=evil)
    b = page(viz.save((w * 2).sum(), tmp_path / "evil.html", title=evil))
    assert js(b, "return window.pwned === undefined")
    assert shown_keys(b) >= {evil} and b.title == evil
    node(b, evil).click()
    assert panel_text(b, "panel-title") == evil


def test_nan_graph_and_python_layout_without_dot(page, tmp_path, monkeypatch):
    monkeypatch.setattr(_layout.shutil, "which", lambda name: None)
    w = ag.tensor(np.array([1.0, -1.0]), requires_grad=True, name="w")
    dead = ag.tensor(np.array([-1.0, -2.0]), requires_grad=True, name="dead")
    with np.errstate(all="ignore"):
        out = (ag.log(w) + ag.relu(dead)).sum()
    b = page(viz.save(out, tmp_path / "nan.html"))
    assert "layout: python" in b.find_element("id", "notes").text
    assert js(b, "return document.querySelector('g.node.source').dataset.key") == "Log_0"
    node(b, "dead").click()
    assert "dead relu" in panel_text(b, "explain")


def test_a_big_graph_loads(page, tmp_path):
    h = ag.tensor(np.random.RandomState(0).randn(4, 8), requires_grad=True)
    ws = [ag.tensor(np.eye(8) * 0.5, requires_grad=True) for _ in range(10)]
    for k in range(3400):
        h = ag.tanh(h @ ws[k % 10] + 0.1)
    t0 = time.perf_counter()
    b = page(viz.save(h.sum(), tmp_path / "big.html"))  # max_nodes=2000 of 10,201 ops
    assert len(shown_keys(b)) == 2000 + 10 and time.perf_counter() - t0 < 120
    scale = "return +document.getElementById('world').getAttribute('transform').match(/scale\\(([^)]*)/)[1]"
    assert js(b, scale) == 0.6  # too long to read whole: it opens readable, at its top
    top = "return document.querySelector('#nodes').getBoundingClientRect().top - " \
          "document.getElementById('view').getBoundingClientRect().top"
    assert 0 <= js(b, top) < 40
    b.find_element("id", "fit").click()
    assert js(b, scale) < 0.1


def test_screenshot_for_the_docs(page, xor_page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    b = page(xor_page[0])
    node(b, "0.weight").click()
    ActionChains(b).move_to_element(b.find_element("id", "title")).perform()  # no hover dimming in the picture
    out = DOCS_IMG / "explorer.png" if os.environ.get("AG_UPDATE_DOCS_IMG") else tmp_path / "explorer.png"
    b.save_screenshot(str(out))
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(head[16:20], "big") >= 800


def test_degenerate_pages_open_without_errors(page, tmp_path):
    a = ag.tensor(3.0, requires_grad=True, name="a")
    z = ag.tensor(np.zeros((0, 3)), requires_grad=True, name="z")
    pages = {"leaf.html": (a, {}), "cut.html": (a * 2, {"max_nodes": 0}),
             "odd.html": ((a * 2).sum() + z.sum(), {})}
    for name, (root, kw) in pages.items():
        b = page(viz.save(root, tmp_path / name, **kw))
        assert js(b, "return document.body.dataset.ready") == "1"
        assert not console_errors(b), name
    b = page(viz.save((a * 2).sum() + z.sum(), tmp_path / "odd.html"))
    node(b, "z").click()
    assert panel_text(b, "shape") == "(0, 3)"
    rec = viz.TrainingRecorder(params={"a": a})
    rec.record(1.0)
    rec.record(float("nan"))
    b = page(rec.save(tmp_path / "nograph.html"))
    assert "no graph" in b.find_element("id", "notes").text
    assert js(b, "return document.querySelectorAll('#chart-loss circle').length") == 1  # the NaN loss, in red


def program_page(tmp_path: Path) -> Path:
    """ag.viz.explore(step, *args) of the XOR network's compiled training step."""
    model, x, y = xor()
    opt = nn.optim.SGD(model.parameters(), lr=0.5)

    def train_step(model, opt, x, y):
        loss = ((model(x) - y) ** 2).sum() * (0.5 / 300)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return viz.explore(ag.compile(train_step), model, opt, x, y).save(tmp_path / "program.html")


LINES = "return [...document.querySelectorAll('#program-code .line.{}')].map(r => r.textContent.replace(/^\\d+/, ''))"
SHOWN = """const c = document.getElementById('program-code'), r = document.querySelector('#program-code .line.{}');
  return r.offsetTop >= c.scrollTop && r.offsetTop + r.offsetHeight <= c.scrollTop + c.clientHeight"""


def test_program_pane_a_node_shows_its_lines_and_a_line_selects_its_node(page, tmp_path):
    b = page(program_page(tmp_path))
    assert b.title == "train_step: graph and compiled program"
    code = b.find_element("id", "program-code")
    js(b, "arguments[0].scrollTop = arguments[0].scrollHeight", code)  # at the end: the optimizer's lines
    node(b, "Sigmoid_3").click()
    lines = [s.strip() for s in js(b, LINES.format("sel"))]
    here = "tests/test_explorer_browser.py"
    assert [s.split(":")[0] for s in lines] == [
        f"# sigmoid  ({here}", "sigmoid2 = _sigmoid(matmul2)", f"# backward of sigmoid  ({here}",
        "d_matmul2 = np.multiply(d_sigmoid2, (sigmoid2 * (1 - sigmoid2)), out=d_sigmoid2)"]
    assert js(b, SHOWN.format("sel"))  # scrolled back to its first line
    assert "program lines11-12, 35-36" in js(b, "return document.getElementById('panel').textContent")
    line = next(r for r in b.find_elements("css selector", "#program-code .line")
                if "d_layer2_weight = sigmoid.swapaxes(-1, -2) @ d_matmul2" in r.text)  # MatMul_2's backward
    js(b, "arguments[0].scrollTop = arguments[1].offsetTop - 20", code, line)  # MatMul_2's forward lines out of view
    scrolled = js(b, "return arguments[0].scrollTop", code)
    line.click()
    assert js(b, "return document.querySelector('g.node.selected').dataset.key") == "MatMul_2"  # as a node click
    assert panel_text(b, "panel-title") == "MatMul_2" and "sel" in line.get_attribute("class").split()
    assert js(b, "return arguments[0].scrollTop", code) == scrolled  # the clicked line stays where it was
    effect = next(r for r in b.find_elements("css selector", "#program-code .line") if "opt.zero_grad()" in r.text)
    assert "owned" not in effect.get_attribute("class").split()  # an effect belongs to no node


def test_program_pane_follows_the_backward_slider_and_can_be_hidden_or_resized(page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    b = page(program_page(tmp_path))
    slider = b.find_element("id", "bstep")
    slider.send_keys(Keys.HOME, Keys.RIGHT)  # step 1: the loss's Mul
    assert [s.strip() for s in js(b, LINES.format("current"))][0].startswith("# backward of mul  (")
    slider.send_keys(Keys.RIGHT, Keys.RIGHT, Keys.RIGHT, Keys.RIGHT)  # step 5: Sigmoid_3
    current = [s.strip() for s in js(b, LINES.format("current"))]
    assert current[0].startswith("# backward of sigmoid  (") and len(current) == 2 and js(b, SHOWN.format("current"))
    slider.send_keys(Keys.END)
    assert js(b, LINES.format("current")) == []
    pane, view = b.find_element("id", "program"), b.find_element("id", "view")
    width = view.size["width"]
    ActionChains(b).drag_and_drop_by_offset(b.find_element("id", "program-split"), 100, 0).perform()
    assert pane.size["width"] > 0 and abs(view.size["width"] - (width - 100)) < 3
    b.find_element("id", "program-toggle").click()
    assert not pane.is_displayed() and view.size["width"] > width
    node(b, "0.weight").click()  # the page works without the pane
    assert panel_text(b, "panel-title") == "0.weight"
    b.find_element("id", "program-toggle").click()
    assert pane.is_displayed() and js(b, LINES.format("sel"))


def test_program_pane_keeps_hostile_op_names_and_paths_as_text(page, tmp_path):
    import importlib.util

    evil = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

    class Evil(ag.Function):
        op_name = evil

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    path = tmp_path / "<img src=x onerror=window.pwned=3>.py"
    path.write_text("def loss_of(w):\n    return (w * 3).sum()\n")
    spec = importlib.util.spec_from_file_location("evil_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def step(w):
        loss = mod.loss_of(Evil.apply(w))
        loss.backward()
        return loss

    w = ag.tensor(np.ones(3), requires_grad=True, name=evil)
    b = page(viz.explore(ag.compile(step), w).save(tmp_path / "hostile.html"))
    assert js(b, "return window.pwned === undefined")
    text = js(b, "return document.getElementById('program-code').textContent")
    assert f"# {evil}  (" in text and "<img src=x onerror=window.pwned=3>.py:2)" in text
    line = next(r for r in b.find_elements("css selector", "#program-code .line") if "onerror=window.pwned=3" in r.text)
    line.click()
    assert panel_text(b, "panel-title").startswith("Mul")
    assert js(b, "return window.pwned === undefined")


def test_the_compiled_xor_example_page(page, tmp_path, monkeypatch):
    """examples/compile_xor.py's program.html: the article's network, one compiled step, the program beside it."""
    from selenium.webdriver.common.action_chains import ActionChains
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples"))
    import compile_xor

    b = page(compile_xor.main(["--epochs", "1", "--out", str(tmp_path)])["page"])
    node(b, "Sigmoid_3").click()
    lines = [s.strip() for s in js(b, LINES.format("sel"))]
    assert lines[1] == "sigmoid2 = _sigmoid(linear2)" and lines[3].startswith("d_linear2 = np.multiply(d_sigmoid2")
    ActionChains(b).move_to_element(b.find_element("id", "title")).perform()
    if os.environ.get("AG_UPDATE_DOCS_IMG"):
        b.save_screenshot(str(DOCS_IMG / "explorer_program.png"))
