"""ag.viz.explore(step, *args): the page's program pane data. Each line of the compiled program is tied to the
node of the graph it belongs to: an op's forward lines and its ``# backward of`` block to that op, a leaf's
load and ``.grad`` store to that leaf, effects and the backward pass's seed to none. The browser side is in
test_explorer_browser.py."""

from __future__ import annotations

import gc
import re
import weakref

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini import viz


def mlp_step():
    net = nn.Sequential(nn.Linear(4, 8, dtype=np.float64, seed=0), nn.Tanh(), nn.Linear(8, 3, dtype=np.float64, seed=1))
    opt = nn.optim.SGD(net.parameters(), lr=0.1)

    def train_step(net, opt, x, y):
        loss = nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x, y = ag.tensor(rng.standard_normal((5, 4))), ag.tensor(rng.standard_normal((5, 3)))
    return ag.compile(train_step), (net, opt, x, y)


def pane(explorer):
    """(source lines, node index per line, backward flag per line) of a page's program pane."""
    p = explorer.data["program"]
    return ["".join(text for text, _ in row) for row in p["code"]], p["node"], p["back"]


def test_every_op_owns_its_forward_lines_and_its_backward_block():
    step, args = mlp_step()
    e = viz.explore(step, *args)
    lines, node, back = pane(e)
    assert "\n".join(lines) + "\n" == step.source  # the pane shows the program the cache now holds
    nodes = e.data["nodes"]
    ops = [i for i, n in enumerate(nodes) if n["kind"] == "op"]
    assert [nodes[i]["op"] for i in ops] == ["Linear", "Tanh", "Linear", "Sub", "Mul", "Sum", "Mul"]
    for i in ops:
        fwd = [k for k in range(len(lines)) if node[k] == i and not back[k]]
        bwd = [k for k in range(len(lines)) if node[k] == i and back[k]]
        name = lines[fwd[0]].split()[1]  # "# linear  (file:line)"
        assert lines[fwd[0]].startswith(f"    # {name}  (") and name.replace("_", "") == nodes[i]["op"].lower()
        assert lines[bwd[0]].startswith(f"    # backward of {name}  (")
        for run in (fwd, bwd):  # consecutive lines, and the whole block: what follows is another block
            assert len(run) >= 2 and run == list(range(run[0], run[-1] + 1))
            after = lines[run[-1] + 1]
            assert after.startswith("    # ") or re.fullmatch(r"    \w+ = \w+\._data", after), after


def test_leaves_own_their_loads_and_grad_stores_and_effects_own_nothing():
    step, args = mlp_step()
    e = viz.explore(step, *args)
    lines, node, back = pane(e)
    keys = [n["key"] for n in e.data["nodes"]]
    w = keys.index("0.weight")
    assert [lines[k].strip() for k in range(len(lines)) if node[k] == w and not back[k]] == \
        ["layer0_weight = net_0_weight._data"]
    stores = [lines[k].strip() for k in range(len(lines)) if node[k] == w and back[k]]
    assert stores[0] == "if net_0_weight.grad is None and d_layer0_weight.base is None:" and len(stores) == 4
    assert keys.index("x") in node  # the step's own argument names
    unowned = [lines[k].strip() for k in range(len(lines)) if node[k] < 0]
    assert unowned[0].startswith("def train_step(net, opt, x, y):") and unowned[-1].startswith("return ")
    assert "opt.zero_grad()" in unowned and "# ---- backward pass" in "".join(unowned)
    sgd = next(k for k, s in enumerate(lines) if s.startswith("    # SGD.step"))
    assert all(n < 0 for n in node[sgd:])  # the optimizer's update, to the end


def test_a_dead_branch_is_in_the_program_but_owned_by_no_drawn_node():
    w = ag.tensor(np.ones((3, 2)), requires_grad=True, name="w")

    def step(x):
        dead = ag.exp(x @ w)  # traced, never differentiated
        loss = ag.tanh(x @ w).sum()
        loss.backward()
        return loss, dead

    e = viz.explore(ag.compile(step), ag.tensor(np.ones((4, 3))))
    lines, node, back = pane(e)
    exp = next(k for k, s in enumerate(lines) if s.startswith("    # exp  ("))
    assert node[exp] == node[exp + 1] == -1 and "backward of exp" not in "\n".join(lines)
    assert {n["op"] for n in e.data["nodes"] if n["kind"] == "op"} == {"MatMul", "Tanh", "Sum"}


def test_a_program_without_backward_shows_the_returned_graph():
    net = nn.Linear(3, 2, dtype=np.float64, seed=0)
    e = viz.explore(ag.compile(lambda x: net(x).sum()), ag.tensor(np.ones((4, 3))))
    lines, node, back = pane(e)
    assert not any(back) and "backward" not in "\n".join(lines)
    sum_op = next(i for i, n in enumerate(e.data["nodes"]) if n.get("op") == "Sum")
    assert e.data["nodes"][sum_op]["out"] and sum_op in node
    assert len(e.data["backward"]["steps"]) == 2 and net.weight.grad is None  # the page's own pass, no .grad


def test_the_arguments_are_named_as_the_program_names_them_unless_params_says_otherwise(recwarn):
    step, (net, opt, x, y) = mlp_step()
    keys = {n["key"] for n in viz.explore(step, net, opt, x, y).data["nodes"]}
    assert {"x", "y", "0.weight"} <= keys
    keys = {n["key"] for n in viz.explore(step, net, opt, x, y, params={"inputs": x}).data["nodes"]}
    assert "inputs" in keys and "x" not in keys and "y" in keys
    assert not [w for w in recwarn if "params" in str(w.message)]


def test_one_call_traced_afresh_with_its_side_effects():
    step, (net, opt, x, y) = mlp_step()
    step(net, opt, x, y)
    before = net[0].weight.data.copy()
    viz.explore(step, net, opt, x, y)
    assert step.cache_info()[:2] == (0, 2) and step.cache_info().currsize == 1  # a miss, replacing the program
    assert not np.array_equal(net[0].weight.data, before)  # its optimizer step ran
    step(net, opt, x, y)
    assert step.cache_info()[:2] == (1, 2)  # the new program replays


def test_the_cache_keeps_no_graph_alive():
    step, args = mlp_step()
    traced = step._traced_call(args)
    ref = weakref.ref(traced.backward_roots[0].grad_fn)
    del traced
    gc.collect()
    assert ref() is None and step.cache_info().currsize == 1


def test_a_compiled_method():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1, dtype=np.float64, seed=0)

        @ag.compile
        def step(self, x):
            loss = self.lin(x).sum()
            loss.backward()
            return loss

    m = Model()
    e = viz.explore(m.step, ag.tensor(np.ones((4, 3))))  # m goes first, as m.step(x) passes it
    assert e.title == "step: graph and compiled program" and "lin.weight" in {n["key"] for n in e.data["nodes"]}
    assert pane(e)[0][0] == "def step(self, x):"


def test_wrong_arguments_are_named():
    step, (net, opt, x, y) = mlp_step()
    with pytest.raises(TypeError, match=r"explore\(step, net, opt, x, y\)"):
        viz.explore(step)
    with pytest.raises(TypeError, match="goes first"):
        viz.explore(x, step)
    for suffix in ("html", "svg", "dot"):
        with pytest.raises(TypeError, match=r"explore\(step, \*args\)\.save\(path\)"):
            viz.save(step, f"never_written.{suffix}")
    with pytest.raises(TypeError, match="unknown argument"):
        viz.explore(step, net, opt, x, y, colour="red")
    with ag.no_grad():
        no_graph = ag.compile(lambda x: x * 2)
        with pytest.raises(ValueError, match="no backward.*no tensor with a graph"):
            viz.explore(no_graph, x)


def test_spans_rebuild_each_line_and_mark_comments_keywords_strings_numbers():
    step, args = mlp_step()
    p = viz.explore(step, *args).data["program"]
    kinds = {cls: {text for row in p["code"] for text, c in row if c == cls} for cls in "cksn"}
    assert "def" in kinds["k"] and "return" in kinds["k"] and "None" in kinds["k"]
    assert any(t.startswith("# linear  (") for t in kinds["c"]) and "'lr'" in kinds["s"]
    assert all(len(p["code"]) == len(p[k]) for k in ("node", "back"))


def test_lines_stay_tied_to_their_nodes_when_a_gradient_penalty_drops_unread_derivatives():
    """A create_graph pass writes derivative ops nobody reads (the weights' gradients of an input penalty) and
    the program drops them: each remaining line must keep its own node, not its neighbour's."""
    net = nn.Sequential(nn.Linear(3, 6, dtype=np.float64, seed=0), nn.Tanh(), nn.Linear(6, 1, dtype=np.float64, seed=1))
    opt = nn.optim.SGD(net.parameters(), lr=0.1)

    def penalty_step(net, opt, x):
        opt.zero_grad()
        out = net(x).sum()
        (gx,) = ag.grad_of(out, [x], create_graph=True)
        loss = out + (gx * gx).sum()
        loss.backward()
        opt.step()
        return loss

    x = ag.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    e = viz.explore(ag.compile(penalty_step), net, opt, x)
    lines, node, back = pane(e)
    nodes = e.data["nodes"]
    tied = 0
    for k, line in enumerate(lines):
        m = re.fullmatch(r"    # (backward of )?(\w+)  \(.*", line)
        if m and node[k] >= 0 and nodes[node[k]]["kind"] == "op":
            assert m[2].replace("_", "") == nodes[node[k]]["op"].lower(), (line, nodes[node[k]]["op"])
            assert bool(m[1]) == bool(back[k])
            tied += 1
    assert tied >= 10
