"""Red team of ag.compile's higher-order gradients and ``ag.viz.explore(step, *args)`` (round 5): each test is a
case that failed before its fix. The program must equal eager bit for bit, or refuse with the line."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn


def _run_from(filename: str, src: str, **names):
    """The functions of ``src`` as if they were written in a file called ``filename``."""
    ns = dict(names)
    exec(compile(src, filename, "exec"), ns)  # noqa: S102
    return ns


HOSTILE_FILE = 'dir/a"b</script>\n<img src=x onerror=alert(1)>\r\n.py'


def test_a_file_path_with_newlines_stays_in_the_programs_comments():
    """``requires_grad_()`` and ``p.grad = None`` are written with the user's line as a trailing comment: a newline
    in that file's path made the rest of the path a line of code (a SyntaxError, or code run by the program)."""
    lin = nn.Linear(3, 2, seed=0, dtype="float64")
    ns = _run_from(HOSTILE_FILE, """
def step(x):
    lin.weight.grad = None
    xh = (x * 1.0).requires_grad_(True)
    (g,) = ag.grad_of(lin(xh).tanh().sum(), [xh], create_graph=True)
    return (g * g).sum()
""", ag=ag, lin=lin)
    step = ag.compile(ns["step"])
    for i in range(3):
        x = ag.tensor(np.random.default_rng(i).standard_normal((4, 3)))
        np.testing.assert_array_equal(step(x).data, ns["step"](x).data)
    assert "onerror=alert(1)>" in step.source
    assert all(line.lstrip().startswith(("#", "def ")) or "onerror" not in line.split("#")[0]
               for line in step.source.splitlines())


def _same_as_eager(f, *shapes, calls=3, requires_grad=True):
    compiled = ag.compile(f)
    for i in range(calls):
        rng = np.random.default_rng(i)
        arrays = [rng.standard_normal(s) for s in shapes]
        eager = f(*(ag.tensor(a, requires_grad=requires_grad) for a in arrays))
        got = compiled(*(ag.tensor(a, requires_grad=requires_grad) for a in arrays))
        for a, b in zip(eager if isinstance(eager, tuple) else (eager,), got if isinstance(got, tuple) else (got,),
                        strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a.data, b.data)
    return compiled


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_view_of_an_op_result_written_under_no_grad_shows_the_write(create_graph):
    """``g[0] = 5`` under no_grad on an op's result (read-only: the write goes into a copy that becomes g's) re-makes
    g's views on the copy (``mutation._refresh``) with numpy outside ops: the program did not, so a returned view
    was refused with no line ("an op at  got ...")."""
    lin = nn.Linear(3, 2, seed=0, dtype="float64")

    def f(x):
        (g,) = ag.grad_of(lin(x).tanh().sum(), [x], create_graph=create_graph)
        g = g * 1.0  # an op's result
        v = g[0]
        with ag.no_grad():
            g[0] = 5.0
        return v, v * 2.0, g

    _same_as_eager(f, (4, 3))


def _penalty_step():
    lin = nn.Linear(3, 3, seed=0, dtype="float64")
    opt = nn.optim.SGD(lin.parameters(), lr=0.1)

    def step(x, depth):
        opt.zero_grad()
        h = x
        for _ in range(depth):
            h = lin(h).tanh() + h
        (g,) = ag.grad_of(h.sum(), [x], create_graph=True)
        pen = (g * g).sum()
        pen.backward()
        opt.step()
        return pen, g

    return ag.compile(step), lin, ag.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)


def test_explore_with_a_misspelt_option_refuses_before_running_the_step():
    """The options were checked after the call ran: its optimizer step had updated the model by the time
    ``explore(step, x, max_node=10)`` said the option was unknown."""
    step, lin, x = _penalty_step()
    before = lin.weight.data.copy()
    with pytest.raises(TypeError, match="unknown argument.*max_node"):
        ag.viz.explore(step, x, 2, max_node=10)
    np.testing.assert_array_equal(lin.weight.data, before)
    assert step.cache_info().misses == 0


def test_explore_of_a_program_longer_than_max_nodes_names_its_arguments_without_a_warning(recwarn):
    """The arguments are named by the program's names: those the drawn graph does not reach (cut at ``max_nodes``)
    made explore warn about a ``params`` name the user never gave."""
    step, _, x = _penalty_step()
    page = ag.viz.explore(step, x, 3, max_nodes=20)
    assert not [w for w in recwarn.list if "matched no tensor" in str(w.message)]
    assert sum(n["kind"] == "op" for n in page.data["nodes"]) == 20
    page = ag.viz.explore(step, x, 3)  # all drawn: x by its name
    assert "x" in [n["label"] for n in page.data["nodes"] if n["kind"] != "op"]


def test_traces_in_two_threads_leave_tensor_as_it_was():
    """Each trace saved Tensor's methods and put its guards in, then put back what it had saved: two traces
    overlapping in two threads left the later one's guards on Tensor for good (and its tracer alive with them)."""
    import threading

    from autograd_mini.tensor import Tensor

    names = ("__init__", "data", "grad", "requires_grad_", "__array_ufunc__", "__format__", "item", "__bool__")
    before = {k: Tensor.__dict__[k] for k in names}
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    results, errors = {}, []

    def work(k):  # trace 0 starts first and ends first, while trace 1 runs
        try:
            lin = nn.Linear(3, 2, seed=k, dtype="float64")

            def f(x):
                if k == 0:
                    first_in.set()
                    assert second_in.wait(10)
                else:
                    second_in.set()
                    assert first_out.wait(10)
                (g,) = ag.grad_of(lin(x).tanh().sum(), [x], create_graph=True)
                return (g * g).sum()

            step = ag.compile(f)
            x = ag.tensor(np.full((2, 3), 0.5 + k), requires_grad=True)
            if k == 1:
                assert first_in.wait(10)
            got = step(x).data
            if k == 0:
                first_out.set()
            results[k] = (got, f(x).data)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
            first_in.set(), second_in.set(), first_out.set()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {k: Tensor.__dict__[k] for k in names} == before
    for got, eager in results.values():
        np.testing.assert_array_equal(got, eager)


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_detached_copy_of_an_argument_made_a_leaf_is_this_calls(create_graph):
    """``xh = x.detach().requires_grad_()`` (PyTorch's idiom for an input-gradient penalty) before any op read
    ``x``: ``requires_grad_`` froze xh as the traced call's object, so every replay stored into that one object's
    ``.grad`` and read it back: the first-order gradient doubled on the second call, tripled on the third; under
    create_graph the second call raised."""
    lin = nn.Linear(3, 1, seed=0, dtype="float64")

    def step(x):
        xh = x.detach().requires_grad_(True)
        lin(xh).tanh().sum().backward(create_graph=create_graph)
        lin.zero_grad()
        return (xh.grad ** 2).sum(), xh.grad * 1.0

    compiled = ag.compile(step)
    x = ag.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    for _ in range(3):
        for a, b in zip(step(x), compiled(x), strict=True):
            np.testing.assert_array_equal(a.data, b.data)
        assert x.grad is None


def test_a_detached_parameter_made_a_leaf_reads_this_calls_parameter():
    """``w.detach().requires_grad_()`` before any op read ``w``: frozen as the traced call's tensor, so the array
    the optimizer had replaced (a stale weight) on every later call."""
    lin = nn.Linear(3, 2, seed=0, dtype="float64")
    opt = nn.optim.SGD(lin.parameters(), lr=0.1)

    def step(x):
        wd = lin.weight.detach().requires_grad_(True)
        (gw,) = ag.grad_of(((x @ wd).tanh() ** 2).sum(), [wd], create_graph=True)
        opt.zero_grad()
        loss = lin(x).sum() + (gw * gw).sum()
        loss.backward()
        opt.step()
        return loss, gw

    rng = np.random.default_rng(0)
    xs = [ag.tensor(rng.standard_normal((4, 3))) for _ in range(3)]
    start = {k: v.copy() for k, v in lin.state_dict().items()}
    eager = [[t.data.copy() for t in step(x)] for x in xs]
    lin.load_state_dict(start)
    compiled = ag.compile(step)
    for x, want in zip(xs, eager):
        for a, b in zip(want, compiled(x), strict=True):
            np.testing.assert_array_equal(a, b.data)


def test_a_leaf_the_function_makes_from_a_constant_is_each_calls_own():
    """``z = ag.zeros(3).requires_grad_()`` (a perturbation, PGD's delta): the traced call's tensor was a constant
    of the program, so each replay added its gradient into the one ``.grad`` of the traced call's object (twice the
    gradient on the second call, three times on the third), and a write into it (``delta += ...``) stayed for the
    next replay."""
    lin = nn.Linear(3, 1, seed=0, dtype="float64")

    def first_order(x):
        z = ag.zeros(3, dtype=np.float64).requires_grad_(True)
        ((x * z).tanh().sum() + (z * z).sum()).backward()
        return z.grad * 1.0

    def penalty(x):
        z = ag.tensor(np.full(3, 0.5)).requires_grad_(True)
        (g,) = ag.grad_of(((x * z).tanh() ** 2).sum(), [z], create_graph=True)
        (g * g).sum().backward()
        return g, z.grad * 1.0

    def pgd(x):
        delta = ag.zeros(2, 3, dtype=np.float64).requires_grad_(True)
        for _ in range(3):
            lin(x + delta).tanh().sum().backward()
            with ag.no_grad():
                delta += 0.1 * delta.grad
            delta.grad = None
        lin.zero_grad()
        return lin(x + delta).sum(), delta * 1.0

    for f in (first_order, penalty, pgd):
        _same_as_eager(f, (2, 3), calls=3, requires_grad=False)


def test_an_optimizer_over_a_leaf_the_function_made_is_refused_with_the_line():
    """An optimizer made inside the function over ``delta = ag.zeros(...).requires_grad_()``: the effect is the
    traced call's object, over the traced call's delta, so the replays' deltas never moved (silently wrong from
    the second call; with each replay's own delta, a program that did not compile). Refused, naming the line."""
    lin = nn.Linear(3, 1, seed=0, dtype="float64")

    def pgd(x):
        delta = ag.zeros(2, 3, dtype=np.float64).requires_grad_(True)
        inner = nn.optim.SGD([delta], lr=0.1)
        for _ in range(2):
            inner.zero_grad()
            lin(x + delta).tanh().sum().backward()
            inner.step()
        return lin(x + delta).sum()

    with pytest.raises(ag.TraceError, match=r"Optimizer.zero_grad at .*test_compile_redteam2.py:\d+ acts on a tensor "
                                            r"of shape \(2, 3\) that the function made"):
        ag.compile(pgd)(ag.tensor(np.ones((2, 3))))


def test_a_detached_parameter_read_before_the_layer_runs_is_this_calls_weight():
    """``w0 = lin.weight.detach()`` used before any op read the weight: the program read the traced call's
    detached tensor, whose array the optimizer had since replaced (stale from the second call)."""
    lin = nn.Linear(3, 2, seed=0, dtype="float64")
    opt = nn.optim.SGD(lin.parameters(), lr=0.1)

    def step(x):
        w0 = lin.weight.detach()
        opt.zero_grad()
        loss = ((x @ w0) ** 2).mean() + lin(x).tanh().sum()
        loss.backward()
        opt.step()
        return loss

    start = {k: v.copy() for k, v in lin.state_dict().items()}
    losses = []
    for f in (step, ag.compile(step)):
        lin.load_state_dict(start)
        losses.append([f(ag.tensor(np.random.default_rng(i).standard_normal((4, 3)))).data for i in range(3)])
    np.testing.assert_array_equal(losses[0], losses[1])


def test_a_buffer_the_function_makes_and_writes_into_starts_afresh_on_each_replay():
    """``acc = ag.zeros(3); acc += ...``: the program wrote into the traced call's array, so each replay added to the
    last one's sum (2, 4, 6, ... where eager gives 2 each time)."""
    def f(x):
        acc = ag.zeros(3, dtype=np.float64)
        acc += x.sum(axis=0)
        acc[0] = 7.0
        return acc * 1.0

    _same_as_eager(f, (2, 3), calls=3, requires_grad=False)


def test_hostile_op_and_file_names_stay_text_in_the_program_pane(tmp_path):
    from autograd_mini import numpy as anp

    class Evil(ag.Function):
        op_name = "q\"'</script><b>x\ny"

        @staticmethod
        def forward(ctx, x):
            return np.sin(x)

        @staticmethod
        def backward(ctx, g, x):
            return g * anp.cos(x)

    lin = nn.Linear(3, 3, seed=0, dtype="float64")
    ns = _run_from(HOSTILE_FILE, """
def step(x):
    xh = (x * 1.0).requires_grad_(True)
    (g,) = ag.grad_of(Evil.apply(lin(xh)).sum(), [xh], create_graph=True)
    lin.zero_grad()
    (g * g).sum().backward()
    return g
""", ag=ag, lin=lin, Evil=Evil)
    page = ag.viz.explore(ag.compile(ns["step"]), ag.tensor(np.ones((2, 3))))
    text = "\n".join("".join(t for t, _ in row) for row in page.data["program"]["code"])
    assert "</script><b>x y" in text and "onerror=alert(1)>" in text
    html = page.save(tmp_path / "p.html").read_text()
    assert html.count("</script>") == 2 and "<img" not in html and "<b>x" not in html  # the template's two


def test_a_detached_grad_is_this_replays_gradient():
    """``lin.weight.grad.detach()`` after backward: the program kept the traced call's detached gradient (the
    first call's gradient returned on every replay)."""
    lin = nn.Linear(3, 2, seed=0, dtype="float64")
    opt = nn.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        opt.zero_grad()
        lin(x).tanh().sum().backward()
        g = lin.weight.grad.detach()
        opt.step()
        return g * 1.0

    start = {k: v.copy() for k, v in lin.state_dict().items()}
    grads = []
    for f in (step, ag.compile(step)):
        lin.load_state_dict(start)
        opt.state.clear()  # the momentum buffers
        grads.append([f(ag.tensor(np.random.default_rng(i).standard_normal((4, 3)))).data for i in range(3)])
    np.testing.assert_array_equal(grads[0], grads[1])


def test_as_tensor_of_an_outside_array_stays_live_beside_made_constants():
    """The other side of each replay's own constants: ``ag.as_tensor(buf)`` shares ``buf``, so a change to ``buf``
    between calls is seen, as eagerly; ``ag.zeros`` in the same function starts afresh."""
    buf = np.ones(3)

    def f(x):
        acc = ag.zeros(3, dtype=np.float64)
        acc += x
        return x * ag.as_tensor(buf) + acc

    compiled = ag.compile(f)
    x = ag.tensor(np.ones(3))
    for value in (1.0, 5.0, -2.0):
        buf[:] = value
        np.testing.assert_array_equal(compiled(x).data, f(x).data)
