"""ag.compile: a traced program gives eager mode's numbers bit for bit, retraces on a new signature, and refuses
what it cannot replay (value-dependent Python) with the line and the fix (create_graph: test_compile_penalty.py)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn


def _train(make, batches, compiled: bool, steps: int, opt_kind=nn.optim.SGD, clip=None, sched=None, **opt_kw):
    """Train a fresh model (``make()``) for ``steps`` steps; losses, final params and grads."""
    model, loss_fn = make()
    opt = opt_kind(model.parameters(), **(opt_kw or {"lr": 0.05}))
    schedule = sched(opt) if sched else None

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss

    run = ag.compile(step) if compiled else step
    losses = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        losses.append(run(x, y).data.copy())
        if schedule is not None:
            schedule.step()
    return (np.array(losses), [p.data.copy() for p in model.parameters()],
            [p.grad.data.copy() for p in model.parameters()], run)


def assert_same(make, batches, steps=100, **kw):
    eager = _train(make, batches, False, steps, **kw)
    comp = _train(make, batches, True, steps, **kw)
    np.testing.assert_array_equal(eager[0], comp[0])  # bitwise: assert_array_equal compares exactly
    for a, b in zip(eager[1] + eager[2], comp[1] + comp[2]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    info = comp[3].cache_info()
    assert (info.misses, info.hits) == (1, steps - 1)
    return comp[3]


def _batches(shape, classes, n=4, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [(ag.tensor(rng.standard_normal(shape).astype(dtype)), rng.integers(0, classes, shape[0]))
            for _ in range(n)]


def mlp():
    return nn.Sequential(nn.Linear(20, 16, seed=0), nn.ReLU(), nn.Linear(16, 12, seed=1), nn.Tanh(),
                         nn.Linear(12, 5, seed=2)), nn.CrossEntropyLoss()


def test_mlp_100_steps_bitwise():
    step = assert_same(mlp, _batches((8, 20), 5))
    assert "np.tanh(" in step.source and "@" in step.source


def lenet():
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2, seed=0), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 5, seed=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 5 * 5, 20, seed=2), nn.ReLU(), nn.Linear(20, 10, seed=3)), nn.CrossEntropyLoss()


def test_lenet_100_steps_bitwise():
    assert_same(lenet, _batches((4, 1, 28, 28), 10), opt_kind=nn.optim.Adam, lr=1e-3)


class Block(nn.Module):
    """The benchmark's pre-LN transformer block: LayerNorm, causal attention, GELU MLP."""

    def __init__(self, width=16, heads=4, dropout=0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True, seed=0)
        self.fc, self.proj = nn.Linear(width, 4 * width, seed=1), nn.Linear(4 * width, width, seed=2)
        self.act, self.drop = nn.GELU("tanh"), nn.Dropout(dropout)
        self.mask = np.triu(np.ones((6, 6), dtype=bool), 1)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
        return x + self.drop(self.proj(self.act(self.fc(self.ln2(x)))))


def _block_batches(n=3, dtype=np.float32):
    rng = np.random.default_rng(1)
    return [(ag.tensor(rng.standard_normal((2, 6, 16)).astype(dtype)),
             ag.tensor(rng.standard_normal((2, 6, 16)).astype(dtype))) for _ in range(n)]


def test_transformer_block_100_steps_bitwise():
    assert_same(lambda: (Block(), nn.MSELoss()), _block_batches(), opt_kind=nn.optim.AdamW, lr=1e-3)


def test_dropout_draws_fresh_masks_as_eager():
    ag.manual_seed(0)
    eager = _train(lambda: (Block(dropout=0.3), nn.MSELoss()), _block_batches(), False, 20, lr=1e-2)
    ag.manual_seed(0)
    comp = _train(lambda: (Block(dropout=0.3), nn.MSELoss()), _block_batches(), True, 20, lr=1e-2)
    np.testing.assert_array_equal(eager[0], comp[0])
    assert len(set(comp[0][:3].tolist())) == 3  # batches 0, 1, 2 ... and then batch 0 again with a new mask
    assert comp[0][0] != comp[0][3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_momentum_and_schedule(dtype):
    def make():
        ag.set_default_dtype(dtype)
        try:
            return mlp()
        finally:
            ag.set_default_dtype(np.float32)

    assert_same(make, _batches((8, 20), 5, dtype=dtype), steps=30, clip=0.5, momentum=0.9, nesterov=True, lr=0.1,
                sched=lambda opt: nn.optim.StepLR(opt, 5, 0.5))


def _linear_model():
    model = nn.Linear(3, 2, seed=0)
    return model, nn.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("read", [
    lambda loss: float(loss), lambda loss: loss.item(), lambda loss: np.asarray(loss), lambda loss: loss.data,
    lambda loss: bool(loss > 1), lambda loss: loss.tolist(), lambda loss: f"{loss:.3f}"])
def test_value_dependent_python_is_refused_with_the_line(read):
    model, _ = _linear_model()

    def step(x):
        loss = model(x).sum()
        read(loss)  # the line the error names
        return loss

    with pytest.raises(ag.TraceError, match=r"test_compile.py:\d+.*argument.*ag.where"):
        ag.compile(step)(ag.ones(4, 3))


def test_branch_on_a_value_names_the_if_line():
    model, _ = _linear_model()

    def step(x):
        loss = model(x).sum()
        if loss > 1:
            loss = loss * 2
        return loss

    with pytest.raises(ag.TraceError, match="bool"):
        ag.compile(step)(ag.ones(4, 3))


def test_arrays_computed_from_arguments_outside_ops_are_refused():
    model, _ = _linear_model()
    step = ag.compile(lambda x: model(ag.tensor(x._data * 1)).sum())  # a copy of the argument, made by numpy
    with pytest.raises(ag.TraceError, match="computed outside ops"):
        step(np.arange(12, dtype=np.float32).reshape(4, 3))  # (one value throughout: taken for a constant)
    shared = ag.compile(lambda x: model(ag.as_tensor(x)).sum())  # the argument itself: traced
    a = np.ones((4, 3), np.float32)
    shared(a)
    b = np.full((4, 3), 2.0, np.float32)
    np.testing.assert_array_equal(shared(b).data, model(b).sum().data)


def test_new_signature_retraces_and_the_cache_is_bounded():
    model, opt = _linear_model()
    calls = []

    @ag.compile(maxsize=2)
    def step(x, scale):
        calls.append(x.shape)
        return model(x).sum() * scale

    step(ag.ones(4, 3), 1.0)
    step(ag.ones(4, 3), 1.0)
    assert calls == [(4, 3)] and step.cache_info().hits == 1
    step(ag.ones(5, 3), 1.0)                       # new shape
    step(ag.ones(5, 3, requires_grad=True), 1.0)   # new requires_grad
    step(ag.ones(5, 3), 2.0)                       # a Python number is part of the signature
    assert len(calls) == 4 and step.cache_info().currsize == 2
    np.testing.assert_array_equal(step(ag.ones(5, 3), 2.0).data, (model(ag.ones(5, 3)).sum() * 2).data)
    model.eval()                                   # the training mode is part of the signature
    step(ag.ones(5, 3), 2.0)
    assert len(calls) == 5
    with pytest.warns(UserWarning, match="float64"):
        step(ag.ones(5, 3, dtype=np.float64), 2.0)  # a new dtype
    assert len(calls) == 6


def test_parameters_changed_from_outside_are_seen():
    model, opt = _linear_model()
    step = ag.compile(lambda x: model(x).sum())
    x = ag.ones(4, 3)
    step(x)
    model.weight.data = np.zeros((3, 2), np.float32)
    model.bias.data = np.ones(2, np.float32)
    assert step(x).item() == 8.0
    state = {k: v * 2 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert step(x).item() == 16.0
    assert step.cache_info().misses == 1


def test_no_grad_evaluation_function():
    model, loss_fn = lenet()
    model.eval()

    @ag.compile
    @ag.no_grad()
    def evaluate(x):
        return model(x).argmax(axis=1)

    for x, _ in _batches((3, 1, 28, 28), 10):
        with ag.no_grad():
            expected = model(x).argmax(axis=1).data
        np.testing.assert_array_equal(evaluate(x).data, expected)
    assert "Linear" not in evaluate.source.split("return")[-1]
    assert "backward" not in evaluate.source


def test_batch_norm_train_and_eval():
    def make():
        return nn.Sequential(nn.Conv2d(1, 3, 3, seed=0), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(3 * 6 * 6, 8, seed=1), nn.BatchNorm1d(8), nn.Tanh(),
                             nn.Linear(8, 4, seed=2)), nn.CrossEntropyLoss()

    batches = _batches((5, 1, 8, 8), 4)
    eager = _train(make, batches, False, 30)
    models = []

    def make_and_keep():
        pair = make()
        models.append(pair[0])
        return pair

    comp = _train(make_and_keep, batches, True, 30)
    np.testing.assert_array_equal(eager[0], comp[0])
    model = models[0]
    assert int(model[1].num_batches_tracked.item()) == 30
    model.eval()
    evaluate = ag.compile(ag.no_grad()(lambda x: model(x)))
    for x, _ in batches:
        out = evaluate(x).data
        with ag.no_grad():
            np.testing.assert_array_equal(out, model(x).data)
    model[1].running_mean.data = model[1].running_mean.data + 1  # new statistics from outside: seen
    with ag.no_grad():
        np.testing.assert_array_equal(evaluate(batches[0][0]).data, model(batches[0][0]).data)


class _Seq(nn.Module):
    """A recurrent or embedding model whose output is a tuple or needs reshaping."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        if kind == "embedding":
            self.emb, self.head = nn.Embedding(11, 6, seed=0), nn.Linear(6, 3, seed=1)
        else:
            self.rnn = getattr(nn, kind)(4, 5, num_layers=2, batch_first=True, seed=0)
            self.head = nn.Linear(5, 3, seed=1)

    def forward(self, x):
        if self.kind == "embedding":
            return self.head(self.emb(x).mean(axis=1))
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


_rng = np.random.default_rng(3)
_IMAGES = [(ag.tensor(_rng.random((3, 2, 8, 8)).astype(np.float32)), _rng.integers(0, 3, 3)) for _ in range(2)]
_VECTORS = [(ag.tensor(_rng.standard_normal((6, 4)).astype(np.float32)), _rng.integers(0, 3, 6)) for _ in range(2)]
_PROBS = [(v, (_rng.random((6, 3)) > 0.5).astype(np.float32)) for v, _ in _VECTORS]
_SEQS = [(ag.tensor(_rng.standard_normal((3, 5, 4)).astype(np.float32)), _rng.integers(0, 3, 3)) for _ in range(2)]
_TOKENS = [(_rng.integers(0, 11, (4, 7)), _rng.integers(0, 3, 4)) for _ in range(2)]

LAYERS = {  # name -> (model and loss, batches)
    "avg_pool+adaptive": (lambda: (nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, seed=0), nn.AvgPool2d(2),
                                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3, seed=1)),
                                   nn.CrossEntropyLoss()), _IMAGES),
    "leaky+sigmoid+softmax+nll": (lambda: (nn.Sequential(nn.Linear(4, 5, seed=0), nn.LeakyReLU(0.1),
                                                         nn.Linear(5, 5, seed=1), nn.Sigmoid(),
                                                         nn.Linear(5, 3, seed=2), nn.LogSoftmax()),
                                           nn.NLLLoss()), _VECTORS),
    "gelu_exact+layernorm+sum": (lambda: (nn.Sequential(nn.Linear(4, 6, seed=0), nn.GELU(), nn.LayerNorm(6),
                                                        nn.Linear(6, 3, seed=1)),
                                          nn.CrossEntropyLoss(reduction="sum")), _VECTORS),
    "bce_with_logits": (lambda: (nn.Sequential(nn.Linear(4, 3, seed=0)), nn.BCEWithLogitsLoss()), _PROBS),
    "bce": (lambda: (nn.Sequential(nn.Linear(4, 3, seed=0), nn.Sigmoid()), nn.BCELoss()), _PROBS),
    "softmax+mse": (lambda: (nn.Sequential(nn.Linear(4, 3, seed=0), nn.Softmax()), nn.MSELoss()), _PROBS),
    "LSTM": (lambda: (_Seq("LSTM"), nn.CrossEntropyLoss()), _SEQS),
    "GRU": (lambda: (_Seq("GRU"), nn.CrossEntropyLoss()), _SEQS),
    "embedding": (lambda: (_Seq("embedding"), nn.CrossEntropyLoss()), _TOKENS),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_type_equals_eager(name):
    make, batches = LAYERS[name]
    assert_same(make, batches, steps=12, opt_kind=nn.optim.Adam, lr=1e-2)


def test_targets_as_tensors_or_arrays_are_arguments_not_constants():
    model, _ = _linear_model()
    loss_fn = nn.CrossEntropyLoss()
    step = ag.compile(lambda x, y: loss_fn(model(x), y))
    x = ag.ones(4, 3)
    for y in ([0, 1, 0, 1], [1, 1, 0, 0], [1, 0, 1, 1]):
        for target in (ag.tensor(np.array(y)), np.array(y)):
            np.testing.assert_array_equal(step(x, target).data, loss_fn(model(x), target).data)


# ---- the examples: --compile reaches the same accuracy, to the last digit -------------------------------------
def _example(name):
    import importlib
    import sys
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    if str(examples) not in sys.path:
        sys.path.insert(0, str(examples))
    return importlib.import_module(name)


def _same_run(module, args, tmp_path):
    eager = _example(module).main(args + ["--out", str(tmp_path / "e"), "--no-progress"])
    comp = _example(module).main(args + ["--compile", "--out", str(tmp_path / "c"), "--no-progress"])
    for key in ("losses", "test_accuracies", "train_accuracy", "test_accuracy"):
        assert eager[key] == comp[key], key
    return comp


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_mnist_mlp_compiled_equals_eager(tmp_path, loss):
    _same_run("mnist_mlp", ["--epochs", "2", "--loss", loss], tmp_path)


def test_mnist_cnn_compiled_equals_eager(tmp_path):
    _same_run("mnist_cnn", ["--epochs", "1", "--batch-size", "100"], tmp_path)


_MNIST = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not _MNIST.is_dir(), reason="the MNIST IDX files are not in ../shared/data/mnist")
def test_real_mnist_compiled_equals_eager(tmp_path):
    # the CNN on real data takes 40 s here (it is the same program as on the sample, above)
    r = _same_run("mnist_mlp", ["--data", str(_MNIST), "--epochs", "1"], tmp_path)
    assert r["test_accuracy"] >= 0.8


def test_numpy_on_array_arguments_is_traced_or_refused():
    model, _ = _linear_model()
    scaled = ag.compile(lambda x: model(x / 255).sum())  # x is an ndarray: the function sees a Tensor
    for v in (255.0, 510.0):
        a = np.full((4, 3), v, np.float32)
        np.testing.assert_array_equal(scaled(a).data, model(ag.tensor(a) / 255).sum().data)
    with pytest.raises(ag.TraceError, match="np.asarray"):
        ag.compile(lambda x: model(np.asarray(x) * 2).sum())(np.ones((4, 3), np.float32))


def test_the_xor_article_network_compiled(tmp_path):
    r = _example("compile_xor").main(["--epochs", "30", "--out", str(tmp_path)])
    assert r["same"] and "# ---- backward pass" in r["source"] and "net.l1.weight._data" in r["source"]
    assert r["page"] == tmp_path / "program.html" and "backward of sigmoid" in r["page"].read_text()


def test_zero_d_parameters_and_gradients_stay_arrays():
    # a manual loop: p.grad = None is recorded; the update goes through an optimizer-like effect
    w = ag.tensor(np.float64(1.5), requires_grad=True)

    @ag.effect
    def update(p):
        p.data = p.data - 0.1 * p.grad.data

    def step(p, x):
        p.grad = None
        loss = ((p * p) * 3.0 + p / 2.0) * x.sum()
        loss.backward()
        update(p)
        return loss

    w2 = ag.tensor(np.float64(1.5), requires_grad=True)
    compiled = ag.compile(step)
    x = ag.ones(3, dtype=np.float64)
    for _ in range(5):
        np.testing.assert_array_equal(compiled(w, x).data, step(w2, x).data)
        assert type(w.grad.data) is np.ndarray and w.grad.shape == ()
        assert w.data == w2.data and w.grad.data == w2.grad.data
    with pytest.raises(ag.TraceError, match="t.grad = "):
        ag.compile(lambda p: setattr(p, "grad", ag.zeros(())) or p * 2)(w)


def test_values_returned_or_read_later_are_never_overwritten():
    model, _ = _linear_model()

    @ag.compile
    def both(x):
        h = model(x)
        return h, ag.relu(h)  # the relu is h's only reader in the program, but h is returned

    x = ag.tensor(np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, -0.5]], np.float32))
    for _ in range(2):
        h, r = both(x)
        np.testing.assert_array_equal(h.data, model(x).data)
        np.testing.assert_array_equal(r.data, ag.relu(model(x)).data)
    assert (h.data < 0).any()  # the pre-activation kept its negative values


def test_zero_d_chains():
    a = ag.tensor(np.float32(0.3), requires_grad=True)

    def f(b):
        a.grad = None
        y = ag.tanh(ag.relu(a * b + 1.0) * 2.0).exp()
        y.backward()
        return y

    step = ag.compile(f)
    for v in (0.5, 0.5, -4.0):
        b = ag.tensor(np.float32(v))
        out = step(b).data
        g = a.grad.data
        np.testing.assert_array_equal(out, f(b).data)
        np.testing.assert_array_equal(g, a.grad.data)


def test_returned_gradients_parameters_and_constants():
    model, opt = _linear_model()
    const = ag.tensor([1.0, 2.0])

    @ag.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        return loss, model.weight.grad, model.bias, const

    for k in range(3):
        x = ag.tensor(np.full((4, 3), k + 1.0, np.float32))
        loss, g, b, c = step(x)
        np.testing.assert_array_equal(g.data, np.full((3, 2), 4.0 * (k + 1), np.float32))
        assert g is model.weight.grad and b is model.bias and c is const


def test_containers_and_keywords_are_refused():
    model, _ = _linear_model()
    step = ag.compile(lambda batch: model(batch[0]).sum())
    with pytest.raises(TypeError, match="separate arguments"):
        step((ag.ones(4, 3), ag.ones(4)))
    with pytest.raises(TypeError, match="by position"):
        ag.compile(lambda x: model(x).sum())(x=ag.ones(4, 3))


def test_clip_norm_is_returned_fresh_and_cannot_steer_a_branch():
    def run(compiled):
        model, opt = _linear_model()

        def step(x):
            opt.zero_grad()
            model(x).sum().backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return norm

        f = ag.compile(step) if compiled else step
        return [f(ag.tensor(np.full((4, 3), k + 1.0, np.float32))) for k in range(4)]

    eager, comp = run(False), run(True)
    assert eager == comp and len(set(comp)) == 4 and all(type(v) is float for v in comp)
    model, opt = _linear_model()

    def branch(x):
        model(x).sum().backward()
        if nn.utils.clip_grad_norm_(model.parameters(), 0.5) > 1:
            return x
        return x * 2

    with pytest.raises(ag.TraceError, match="control flow"):
        ag.compile(branch)(ag.ones(4, 3))


def test_a_compiled_method():
    class Trainer:
        def __init__(self):
            self.model, self.opt = _linear_model()

        @ag.compile
        def step(self, x):
            self.opt.zero_grad()
            loss = self.model(x).sum()
            loss.backward()
            self.opt.step()
            return loss

    a, b = Trainer(), Trainer()
    x = ag.ones(4, 3)
    losses = [a.step(x).item() for _ in range(3)] + [b.step(x).item()]
    assert losses[0] == losses[3] and losses[1] != losses[0]
    assert "def step(self, x):" in Trainer.step.source and Trainer.step.cache_info().misses == 2


def _equal_each_call(f, make_args, calls=3):
    """``f`` compiled gives eager's numbers bit for bit on each of ``calls`` fresh argument sets."""
    compiled = ag.compile(f)
    for i in range(calls):
        eager, replay = f(*make_args(i)), compiled(*make_args(i))
        for e, c in zip(eager if isinstance(eager, tuple) else (eager,),
                        replay if isinstance(replay, tuple) else (replay,)):
            assert type(c.data) is np.ndarray
            np.testing.assert_array_equal(c.data, e.data)
    return compiled


def _matrices(i):
    rng = np.random.default_rng(i)
    a = rng.standard_normal((4, 3))
    return ag.tensor(a, requires_grad=True), ag.tensor(a.T @ a + np.eye(3), requires_grad=True)


@pytest.mark.parametrize("name, f", [
    ("svd", lambda A, S: ag.linalg.svd(A, full_matrices=False)),
    ("svdvals", lambda A, S: ag.linalg.svdvals(A)),
    ("eigh", lambda A, S: ag.linalg.eigh(S)),
    ("qr", lambda A, S: ag.linalg.qr(A)),
    ("slogdet", lambda A, S: ag.linalg.slogdet(S - 3.0 * ag.eye(3, dtype=np.float64))),
    ("inv det cholesky pinv", lambda A, S: (ag.linalg.inv(S), ag.linalg.det(S), ag.linalg.cholesky(S),
                                            ag.linalg.pinv(A))),
])
def test_linalg_decompositions_are_replayed_on_each_call(name, f):
    # their nodes share the factors one numpy call computed: a program must decompose each replay's input
    _equal_each_call(f, _matrices)

    def grads(A, S):
        out = f(A, S)
        sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)) if o.dtype.kind == "f").backward()
        return tuple(t.grad + 0.0 for t in (A, S) if t.grad is not None)  # a fresh argument's .grad, read

    _equal_each_call(grads, _matrices)


def test_linalg_results_a_program_would_keep_are_refused():
    A, _ = _matrices(0)
    with pytest.raises(ag.TraceError, match="linalg.lstsq"):
        ag.compile(lambda A: ag.linalg.lstsq(A, A[:, 0]).solution)(A)
    with pytest.raises(ag.TraceError, match="full_matrices=True"):
        ag.compile(lambda A: ag.linalg.svd(A).U)(A)
    square = ag.tensor(np.eye(3) * 2.0)
    _equal_each_call(lambda S: ag.linalg.svd(S).U, lambda i: (square * (i + 1.0),))  # square: no extra columns


def test_logic_ops_are_replayed_and_allclose_cannot_steer_a_branch():
    def f(x):
        inside = ag.logical_and(x > 0, ag.logical_not(x > 1))
        rows = ag.any(inside, axis=1, keepdims=True)
        return (ag.where(ag.bitwise_xor(inside, rows), x, 0.0), ag.all(ag.isfinite(x)), ag.isclose(x, 0.5, atol=0.3))

    _equal_each_call(f, lambda i: (ag.tensor(np.random.default_rng(i).uniform(-1, 2, (3, 4))),))
    with pytest.raises(ag.TraceError, match="bool"):
        ag.compile(lambda x: x * 2 if ag.allclose(x, 0.0) else x)(ag.zeros(3))


def test_loss_paths_on_target_values_are_replayed_checked_or_refused():
    logits = ag.tensor(np.random.default_rng(0).standard_normal((5, 4)), requires_grad=True)
    targets = [np.array([0, 3, 1, 2, 2]), np.array([1, 1, 0, 3, 2]), np.array([3, 0, 0, 1, 2])]
    for loss in (nn.functional.cross_entropy, lambda x, y, **kw: nn.functional.nll_loss(ag.log_softmax(x, 1), y, **kw)):
        for reduction in ("mean", "sum", "none"):
            _equal_each_call(lambda y, loss=loss, r=reduction: loss(logits, y, reduction=r), lambda i: (targets[i],))
    ignored = np.array([0, -100, 1, 2, 2])
    for loss in (nn.functional.cross_entropy, nn.functional.nll_loss):
        step = ag.compile(lambda y, loss=loss: loss(logits, y))
        step(targets[0])
        with pytest.raises(ValueError, match="ignore_index=-100"):  # the path taken depends on it: checked
            step(ignored)
        with pytest.raises(ag.TraceError, match="ignore_index"):
            ag.compile(lambda y, loss=loss: loss(logits, y))(ignored)
        with pytest.raises(ag.TraceError, match="class weights"):
            ag.compile(lambda y, loss=loss: loss(logits, y, weight=np.ones(4)))(targets[0])
    with pytest.raises(ag.TraceError, match="label smoothing"):
        ag.compile(lambda y: nn.functional.cross_entropy(logits, y, label_smoothing=0.1))(targets[0])


def test_sgd_on_a_zero_d_parameter_compiled():
    def run(compiled):
        p = nn.Parameter(np.array(2.0, np.float32))
        opt = nn.optim.SGD([p], lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (p * p * x).sum()
            loss.backward()
            opt.step()
            return loss

        f = ag.compile(step) if compiled else step
        losses = [f(ag.tensor(np.float32([1.0, 2.0]))).data for _ in range(3)]
        return losses, p

    (eager, p), (comp, q) = run(False), run(True)
    np.testing.assert_array_equal(comp, eager)
    assert q.shape == () and type(q.data) is np.ndarray and q.data == p.data


def test_zero_d_comparisons_and_signs_are_replayed():
    # numpy compares and signs 0-d arrays into numpy scalars: the program's must be the replay's own arrays
    def f(x):
        return ag.where(x > 0, x, 0.0) + ag.sign(x) + ag.logical_not(x < 1).astype("float64")

    compiled = _equal_each_call(f, lambda i: (ag.tensor(np.float64([-1.0, 2.0, 0.5][i])),))
    assert type(ag.sign(ag.tensor(np.float64(-2.0))).data) is np.ndarray  # eagerly too (it was a numpy scalar)
    assert compiled.cache_info().misses == 1


_F = nn.functional


@pytest.mark.parametrize("name, loss", [
    ("mse", lambda x, t, p: _F.mse_loss(x, t)),
    ("l1", lambda x, t, p: _F.l1_loss(x, t, reduction="sum")),
    ("smooth_l1", lambda x, t, p: _F.smooth_l1_loss(x, t, beta=0.5)),
    ("huber", lambda x, t, p: _F.huber_loss(x, t, delta=0.5)),
    ("bce weighted", lambda x, t, p: _F.binary_cross_entropy(ag.sigmoid(x), p, weight=ag.as_tensor(t).abs())),
    ("bce logits pos_weight", lambda x, t, p: _F.binary_cross_entropy_with_logits(x, p,
                                                                                 pos_weight=ag.as_tensor(t).abs())),
    ("margin ranking", lambda x, t, p: _F.margin_ranking_loss(x, t, ag.sign(ag.as_tensor(p) - 0.5), margin=0.1)),
    ("cross_entropy probabilities smoothed", lambda x, t, p: _F.cross_entropy(x, ag.softmax(ag.as_tensor(t), 1),
                                                                               label_smoothing=0.1)),
])
def test_losses_with_pytorch_arguments_equal_eager(name, loss):
    def step(x, t, p):
        x.grad = None
        value = loss(x, t, p)
        value.backward()
        return value, x.grad + 0.0

    def args(i):
        rng = np.random.default_rng(i)
        return (ag.tensor(rng.standard_normal((4, 3)), requires_grad=True), rng.standard_normal((4, 3)),
                rng.uniform(0, 1, (4, 3)))

    _equal_each_call(step, args)


def test_a_newline_in_an_op_name_stays_inside_its_comment():
    class Twice(ag.Function):
        op_name = "twice\nraise SystemExit\r#\0"

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    step = ag.compile(lambda x: Twice.apply(x).sum())
    x = ag.tensor([1.0, 2.0])
    for _ in range(2):
        assert float(step(x)) == 6.0
    assert "\n    # twice raise SystemExit #" in step.source
