"""ag.compile attacked as an adversarial user would (issue #22): each case once replayed a stale value, a stale
branch or a stale shape, or refused a valid program; each now gives eager's numbers or a TraceError naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn


def _same_each_call(f, make_args, calls=3):
    """``f`` compiled gives eager's values (and shapes) bit for bit on each of ``calls`` fresh argument sets."""
    compiled = ag.compile(f)
    for i in range(calls):
        replay, eager = compiled(*make_args(i)), f(*make_args(i))
        for c, e in zip(replay if isinstance(replay, tuple) else (replay,), eager if isinstance(eager, tuple) else
                        (eager,)):
            c, e = (v.data if isinstance(v, ag.Tensor) else v for v in (c, e))
            assert np.shape(c) == np.shape(e) and np.asarray(c).dtype == np.asarray(e).dtype
            np.testing.assert_array_equal(c, e)
    return compiled


def _vector(i, n=6):
    return (ag.tensor(np.random.default_rng(i).standard_normal(n)),)


# ---- the signature ----------------------------------------------------------------------------------------------
def test_the_same_tensor_passed_twice_is_its_own_signature():
    step = ag.compile(lambda a, b: (a - b).sum())
    x, y = ag.tensor(np.ones(3)), ag.tensor(np.full(3, 5.0))
    assert step(x, x).item() == 0.0
    assert step(x, y).item() == -12.0  # was 0.0: the program traced with (x, x) read `a` for both
    assert step(x, x.data).item() == 0.0 and step(x, y.data).item() == -12.0  # an argument's array, passed bare
    assert step.cache_info().misses == 4


def test_python_floats_are_keyed_by_their_bits():
    step = ag.compile(lambda x, c: x * c)
    x = ag.tensor(np.array([1.0]))
    step(x, 0.0)
    assert np.signbit(step(x, -0.0).data[0])  # -0.0 == 0.0, but the program holds the number it traced
    assert np.isnan(step(x, float("nan")).data[0]) and np.isnan(step(x, float("nan")).data[0])
    assert step.cache_info().hits == 1  # a second nan is the same signature (nan != nan)
    assert step(x, np.float32(2.0)).data[0] == 2.0 and step(x, np.float32(3.0)).data[0] == 3.0


# ---- state changed from outside between calls -------------------------------------------------------------------
def _linear_step():
    model = nn.Linear(3, 2, seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_a_layer_frozen_with_requires_grad_false_is_seen():
    model, step = _linear_step()
    compiled = ag.compile(step)
    compiled(ag.ones(4, 3))
    model.weight.requires_grad_(False)  # fine-tuning: freeze a layer between steps
    w, b = model.weight.data.copy(), model.bias.data.copy()
    compiled(ag.ones(4, 3))
    np.testing.assert_array_equal(model.weight.data, w)  # was updated: the program stored a gradient anyway
    assert model.weight.grad is None and not np.array_equal(model.bias.data, b)
    model.weight.requires_grad_(True)
    compiled(ag.ones(4, 3))
    assert model.weight.grad is not None and compiled.cache_info().misses == 3


def test_a_parameter_given_a_new_shape_is_seen():
    w = nn.Parameter(np.array([1.5, 2.5, 3.5]))

    def f(x):
        w.grad = None
        loss = (x * w).sum()
        loss.backward()
        return loss

    compiled = ag.compile(f)
    compiled(ag.ones(3, dtype=np.float64))
    w.data = np.array([2.0])  # broadcasts against x as well: the old program summed to shape (3,)
    assert compiled(ag.ones(3, dtype=np.float64)).item() == 6.0
    assert w.grad.shape == (1,) and w.grad.data[0] == 3.0


def test_a_parameter_equal_to_an_argument_is_not_taken_for_a_copy():
    w = nn.Parameter(np.ones(3))  # equal to the argument by chance: was refused as "a copy of an argument"
    _same_each_call(lambda x: (x * w).sum(), lambda i: (ag.ones(3, dtype=np.float64) * (i + 1),))
    with pytest.raises(ag.TraceError, match="computed outside ops"):  # a copy made by numpy inside still is
        ag.compile(lambda x: (ag.tensor(x._data * 1) * x).sum())(ag.tensor(np.arange(3.0)))


def test_constants_equal_to_an_argument_and_copies_of_tensors():
    rnn = nn.LSTM(3, 4, batch_first=True, seed=0)

    def f(x, h0):
        out, _ = rnn(x, (h0, ag.zeros(1, 2, 4)))  # zeros, as the argument h0 (was refused as a copy of it)
        return out.sum()

    _same_each_call(f, lambda i: (ag.ones(2, 5, 3), ag.zeros(1, 2, 4) + i))
    _same_each_call(lambda x: (ag.tensor(x * 1) * x).sum(), lambda i: (ag.ones(3) * (i + 1),))  # copied each replay


# ---- hooks ------------------------------------------------------------------------------------------------------
def test_tensor_hooks_are_refused_not_skipped():
    w = nn.Parameter(np.array([1.0, 2.0]))

    def f(x):
        w.grad = None
        h = x * w
        h.register_hook(lambda g: g * 10)
        h.sum().backward()
        return h

    with pytest.raises(ag.TraceError, match="tensor hooks.*line|tensor hooks"):
        ag.compile(f)(ag.ones(2, dtype=np.float64))

    def g(x):
        w.grad = None
        (x * w).sum().backward()
        return w.grad

    compiled = ag.compile(g)
    compiled(ag.ones(2, dtype=np.float64))
    handle = w.register_hook(lambda grad: grad * 10)  # registered after tracing: a new trace, which refuses it
    with pytest.raises(ag.TraceError, match="register_hook"):
        compiled(ag.ones(2, dtype=np.float64))
    handle.remove()
    np.testing.assert_array_equal(compiled(ag.ones(2, dtype=np.float64)).data, [1.0, 1.0])


# ---- library code that computed on values outside ops: now recomputed on each replay, or refused ----------------
def _matrix(i):
    a = np.random.default_rng(i).standard_normal((3, 4))
    if i:
        a[i % 3, 1] = 0.0  # the traced call has no zero: norms with p < 1 and ord 0 branch on them
    return (ag.tensor(a, requires_grad=True),)


def _with_grad(f):
    def run(x):
        x.grad = None
        out = f(x)
        total = sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)) if o.dtype.kind == "f")
        total.backward()
        return (*(out if isinstance(out, tuple) else (out,)), x.grad + 0.0)

    return run


@pytest.mark.parametrize("name, f", [
    ("argsort", lambda x: (ag.argsort(x, 1), x * 1.0)),
    ("sort", lambda x: tuple(ag.sort(x, 1, descending=True))),
    ("take_along_axis of argsort", lambda x: ag.take_along_axis(x, ag.argsort(x, 1), 1)),
    ("median along an axis", lambda x: tuple(ag.median(x, 1))),
    ("topk", lambda x: tuple(ag.topk(x, 2, 1))),
    ("cummax", lambda x: tuple(ag.cummax(x, 1))),
    ("cummin", lambda x: tuple(ag.cummin(x, 0))),
    ("count_nonzero", lambda x: (ag.count_nonzero(x, 1), x * 1.0)),
    ("norm ord 0 and p 0.5", lambda x: (ag.norm(x, 0, 1), ag.norm(x, 0.5, 1))),
])
def test_orders_counts_and_zero_branches_are_recomputed_on_each_replay(name, f):
    # each was a constant of the traced call: the replay returned (and differentiated) the first call's order
    _same_each_call(_with_grad(f), _matrix, calls=4)


def test_value_dependent_shapes_are_refused_with_the_line():
    x = ag.tensor(np.array([1.0, -1.0, 2.0, -3.0]))
    for f in (lambda x: x[x > 0].mean(), lambda x: ag.masked_select(x, x > 0), lambda x: ag.nonzero(x),
              lambda x, m: x[m].sum(), lambda x: ag.median(x)):
        args = (x, np.array([True, False, True, True])) if f.__code__.co_argcount == 2 else (x,)
        with pytest.raises(ag.TraceError, match=r"test_compile_redteam.py:\d+.*(ag.where|median\(x.reshape)"):
            ag.compile(f)(*args)
    mask = np.array([True, False, True, True])  # a constant mask: its count is fixed, so it is traced
    _same_each_call(lambda x: x[mask].sum(), _vector_of(4))
    _same_each_call(lambda x: ag.where(x > 0, x, 0.0).sum() / (x > 0).sum(), _vector_of(4))


def _vector_of(n):
    return lambda i: _vector(i, n)


# ---- every layer, optimizer and schedule: compiled equals eager over several steps -----------------------------
def _train(make, batches, compiled, steps, opt_kind, sched=None, clip=None, **opt_kw):
    ag.manual_seed(0)  # dropout: the same draws both ways
    model, loss_fn = make()
    opt = opt_kind(model.parameters(), **opt_kw)
    schedule = sched(opt) if sched else None

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if schedule is not None:
            schedule.step()  # inside the step: replayed too
        return loss

    run = ag.compile(step) if compiled else step
    losses = [run(*batches[i % len(batches)]).data.copy() for i in range(steps)]
    return losses, [p.data.copy() for p in model.parameters()] + [p.grad.data.copy() for p in model.parameters()], run


def assert_same_training(make, batches, steps=6, opt_kind=nn.optim.Adam, **kw):
    kw = kw or {"lr": 1e-2}
    eager, comp = (_train(make, batches, c, steps, opt_kind, **kw) for c in (False, True))
    np.testing.assert_array_equal(eager[0], comp[0])
    for a, b in zip(eager[1], comp[1]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert comp[2].cache_info().misses == 1


class _Head(nn.Module):
    """``body`` then a linear head on the flattened result (``pool``: a MaxPool2d with indices and its unpool)."""

    def __init__(self, *body, width, pool=False):
        super().__init__()
        self.body, self.head = nn.Sequential(*body), nn.Linear(width, 3, seed=9)
        if pool:
            self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

    def forward(self, x):
        h = self.body(x)
        if hasattr(self, "pool"):
            h = self.unpool(*self.pool(h))
        return self.head(h.reshape(x.shape[0], -1))


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn, self.head = nn.MultiheadAttention(8, 2, batch_first=True, seed=0), nn.Linear(8, 3, seed=1)

    def forward(self, x):
        out, weights = self.attn(x, x, x)  # the averaged attention weights too
        return self.head(out.mean(axis=1)) + weights.sum() * 0.01


def _data(shape, n=2, classes=3, ints=None):
    rng = np.random.default_rng(len(shape))
    make = (lambda: rng.integers(0, ints, shape)) if ints else (lambda: ag.tensor(rng.standard_normal(shape)
                                                                                  .astype(np.float32)))
    return [(make(), rng.integers(0, classes, shape[0])) for _ in range(n)]


CE = nn.CrossEntropyLoss
LAYERS = {
    "conv1d+pools1d": (lambda: (_Head(nn.Conv1d(2, 3, 3, stride=2, padding=1, seed=0), nn.MaxPool1d(2),
                                      nn.AvgPool1d(1), width=6), CE()), _data((3, 2, 8))),
    "conv3d+pools3d": (lambda: (_Head(nn.Conv3d(2, 2, 3, padding=1, seed=0), nn.MaxPool3d(2), nn.AvgPool3d(2),
                                      width=2), CE()), _data((2, 2, 4, 4, 4))),
    "conv_transpose1d": (lambda: (_Head(nn.ConvTranspose1d(2, 3, 3, stride=2, seed=0), width=51), CE()),
                         _data((3, 2, 8))),
    "conv_transpose2d": (lambda: (_Head(nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1, seed=0),
                                        width=128), CE()), _data((3, 2, 4, 4))),
    "max_pool2d indices+unpool": (lambda: (_Head(nn.Conv2d(2, 3, 3, padding=1, seed=0), width=192, pool=True), CE()),
                                  _data((3, 2, 8, 8))),
    "groupnorm+silu": (lambda: (_Head(nn.Conv2d(2, 4, 3, seed=0), nn.GroupNorm(2, 4), nn.SiLU(), width=64), CE()),
                       _data((3, 2, 6, 6))),
    "instancenorm+elu+dropout2d": (lambda: (_Head(nn.Conv2d(2, 4, 3, seed=0), nn.InstanceNorm2d(4, affine=True),
                                                  nn.ELU(), nn.Dropout2d(0.5), width=64), CE()), _data((3, 2, 6, 6))),
    "pixelshuffle+upsample+hardswish": (lambda: (_Head(nn.Conv2d(4, 4, 1, seed=0), nn.PixelShuffle(2),
                                                       nn.Upsample(scale_factor=2), nn.Hardswish(), width=64), CE()),
                                        _data((3, 4, 2, 2))),
    "activations": (lambda: (nn.Sequential(nn.Linear(6, 8, seed=0), nn.CELU(), nn.SELU(), nn.Mish(), nn.Softplus(),
                                           nn.Softsign(), nn.Hardtanh(), nn.ReLU6(), nn.LogSigmoid(),
                                           nn.Hardsigmoid(), nn.Linear(8, 6, seed=1), nn.GLU(), nn.Softmin()), CE()),
                    _data((4, 6))),
    "multihead attention weights": (lambda: (_Attention(), CE()), _data((2, 5, 8))),
    "embedding padding_idx": (lambda: (nn.Sequential(nn.Embedding(5, 4, padding_idx=0, seed=0), nn.Flatten(),
                                                     nn.Linear(12, 3, seed=1)), CE()), _data((4, 3), ints=5)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_more_layer_types_equal_eager(name):
    make, batches = LAYERS[name]
    assert_same_training(make, batches)


@pytest.mark.parametrize("opt_kind, kw", [
    (nn.optim.SGD, dict(lr=0.05, weight_decay=0.01)),
    (nn.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
    (nn.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (nn.optim.AdamW, dict(lr=0.01, amsgrad=True)),
])
@pytest.mark.parametrize("sched", [lambda o: nn.optim.ExponentialLR(o, 0.9), lambda o: nn.optim.CosineAnnealingLR(o, 3),
                                   lambda o: nn.optim.StepLR(o, 2)])
def test_optimizers_schedules_and_clipping_equal_eager(opt_kind, kw, sched):
    make, batches = LAYERS["activations"]
    assert_same_training(make, batches, opt_kind=opt_kind, sched=sched, clip=0.3, **kw)


# ---- in-place writes that no op records ---------------------------------------------------------------------------
def test_a_manual_update_under_no_grad_is_replayed():
    def run(compiled):
        w = nn.Parameter(np.array([1.0, 2.0]))
        b = nn.Parameter(np.array(0.5))

        def step(x):
            nonlocal b  # b -= ... rebinds the name (to the same tensor)
            w.grad = b.grad = None
            loss = ((w * x).sum() + b) ** 2
            loss.backward()
            with ag.no_grad():  # the tutorials' SGD: the replay did not write, so training stalled
                w.sub_(0.1 * w.grad)
                b -= 0.1 * b.grad
            return loss

        f = ag.compile(step) if compiled else step
        return [f(ag.tensor(np.array([1.0, -1.0]))).item() for _ in range(5)], w.data.copy(), b.data.copy()

    eager, comp = run(False), run(True)
    assert eager[0] == comp[0] and len(set(comp[0])) == 5
    np.testing.assert_array_equal(eager[1], comp[1])
    np.testing.assert_array_equal(eager[2], comp[2])


def test_unrecorded_in_place_ops_on_arguments_and_intermediates_are_replayed():
    def f(x):
        with ag.no_grad():
            h = x * 2
            h.add_(1.0)
            h[0] = 7.0
            h.clamp_(max=8.0)
        x.mul_(3.0)  # the caller's tensor: written in place, as eagerly
        return h * 1, x * 1

    compiled = ag.compile(f)
    for i in range(3):
        a, b = ag.tensor(np.arange(3.0) + i), ag.tensor(np.arange(3.0) + i)
        for c, e in zip(compiled(a), f(b)):
            np.testing.assert_array_equal(c.data, e.data)
        np.testing.assert_array_equal(a.data, b.data)
    assert "write in place" in compiled.source


# ---- random draws inside the function -----------------------------------------------------------------------------
def test_random_tensors_made_inside_are_drawn_again_on_each_replay():
    def f(x):
        noise = ag.randn(*x.shape, dtype=np.float64) * 0.1 + ag.rand_like(x) + ag.randint(0, 3, x.shape)
        return x + noise

    step = ag.compile(f)
    ag.manual_seed(0)
    comp = [step(ag.ones(4, dtype=np.float64)).data for _ in range(3)]
    ag.manual_seed(0)
    eager = [f(ag.ones(4, dtype=np.float64)).data for _ in range(3)]
    np.testing.assert_array_equal(comp, eager)  # were the traced call's noise again and again
    assert not np.array_equal(comp[1], comp[2])

    def reseeded(x):
        ag.manual_seed(7)  # an effect now: replayed, so each call draws the same
        return x + ag.randn(*x.shape, dtype=np.float64)

    _same_each_call(reseeded, lambda i: (ag.ones(4, dtype=np.float64) * i,))


# ---- index ops whose index is an argument -------------------------------------------------------------------------
def _with_index(i, high=3):
    rng = np.random.default_rng(i)
    return ag.tensor(rng.standard_normal(6), requires_grad=True), rng.integers(0, high, 6)


def _zeros():
    return ag.zeros(3, dtype=np.float64)


@pytest.mark.parametrize("name, f", [
    ("scatter_add", lambda x, i: ag.scatter_add(_zeros(), 0, i, x)),
    ("scatter_reduce mean", lambda x, i: ag.scatter_reduce(_zeros(), 0, i, x, "mean")),
    ("scatter_reduce sum", lambda x, i: ag.scatter_reduce(_zeros(), 0, i, x, "sum", include_self=False)),
    ("scatter_reduce amax", lambda x, i: ag.scatter_reduce(_zeros(), 0, i, x, "amax")),
    ("scatter_reduce integer mean", lambda x, i: ag.scatter_reduce(ag.zeros(3, dtype=np.int64), 0, i,
                                                                   ag.round(x * 10).astype(np.int64), "mean")),
    ("index_select", lambda x, i: ag.index_select(x, 0, i)),
    ("index_add", lambda x, i: ag.index_add(ag.zeros(6, dtype=np.float64), 0, i, x)),
    ("one_hot", lambda x, i: ag.one_hot(i, 3)),
])
def test_index_ops_recompute_their_positions_on_each_replay(name, f):
    # their flat positions, written masks and counts were constants of the traced call (or refused)
    _same_each_call(f, _with_index, calls=4)


def test_index_ops_with_value_dependent_shapes_are_refused():
    for f in (lambda x, i: ag.scatter(_zeros(), 0, i, x), lambda x, i: ag.scatter_reduce(_zeros(), 0, i, x, "prod"),
              lambda x, i: ag.repeat(x, i)):
        with pytest.raises(ag.TraceError, match="fixed shapes"):
            ag.compile(f)(*_with_index(0))
    fixed = np.array([0, 2, 2, 1, 0, 1])  # a constant index: scatter is traced
    _same_each_call(lambda x: ag.scatter(_zeros(), 0, fixed, x), lambda i: _with_index(i)[:1])


# ---- library functions that read values with numpy (refused before) ----------------------------------------------
def test_attention_masks_and_norm_floors_are_recomputed_on_each_replay():
    F = nn.functional
    mha = nn.MultiheadAttention(4, 2, batch_first=True, seed=0)

    def attend(x, padding, causal):
        mha.zero_grad()
        out, weights = mha(x, x, x, key_padding_mask=padding)
        sdpa = F.scaled_dot_product_attention(x, x, x, attn_mask=causal)  # a query may lose every key
        (out.sum() + sdpa.sum()).backward()
        return out, weights, sdpa, mha.in_proj_weight.grad + 0.0

    def args(i):
        rng = np.random.default_rng(i)
        return (ag.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32)),
                np.array([[False, i % 2 == 0, True], [False, False, i == 2]]), rng.random((3, 3)) > 0.5 * i)

    _same_each_call(attend, args, calls=4)

    def similar(x, y):
        x.grad = None
        loss = F.cosine_similarity(x, y).sum() + F.normalize(x, dim=1).sum() + F.kl_div(
            ag.log_softmax(x, 1), y.clip(0, None), reduction="batchmean")
        loss.backward()
        return loss, x.grad + 0.0

    def pair(i):
        rng = np.random.default_rng(i)
        y = rng.standard_normal((2, 3))
        y[i % 2] = 0.0  # a zero row: the norms' floor and kl_div's 0 log 0 change place
        return ag.tensor(rng.standard_normal((2, 3)), requires_grad=True), y

    _same_each_call(similar, pair, calls=4)


# ---- modules that run no op, returned views, module backward hooks ------------------------------------------------
def test_a_module_that_ran_no_op_is_part_of_the_key():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Dropout(0.5))
    model[1].eval()  # traced as the identity: no op, so its mode was not checked
    lone = nn.Dropout(0.0)  # p == 0: the identity too
    step = ag.compile(lambda x: lone(model(x)))
    x = ag.ones(2, 3)
    step(x)
    for change in (lambda: model[1].train(), lambda: setattr(lone, "p", 0.5)):
        change()
        ag.manual_seed(0)
        replay = step(x).data
        ag.manual_seed(0)
        np.testing.assert_array_equal(replay, lone(model(x)).data)  # was the traced identity
    assert step.cache_info().misses == 3


def test_returned_views_of_parameters_and_arguments_are_read_only():
    model = nn.Linear(3, 2, seed=0)
    step = ag.compile(lambda x: (model.weight.T, model.weight.reshape(-1), x.T, x * 2))
    x = ag.ones(2, 3)
    step(x)
    *views, fresh = step(x)
    for v in views:  # writable on replay, so `out.data[...] = 0` wrote into the parameter (eagerly: refused)
        with pytest.raises(ValueError, match="read-only"):
            v.data[...] = 0.0
    fresh.data[...] = 5.0  # a new array of the program's: the caller's to keep or write
    np.testing.assert_array_equal(step(x)[3].data, np.full((2, 3), 2.0))


def test_a_module_backward_hook_runs_on_every_replay():
    model = nn.Linear(3, 4, seed=0)
    calls = []
    model.register_full_backward_hook(lambda module, grad_in, grad_out: calls.append(grad_out[0].data.sum()))

    def step(x):
        model.zero_grad()
        loss = model(x).sum()  # x needs no gradient: the hooks run once the output's gradient is in
        loss.backward()
        return loss

    compiled = ag.compile(step)
    for _ in range(3):
        compiled(ag.ones(2, 3))
    assert len(calls) == 3  # was 1: the traced call's counter ran out


# ---- numbers effects return, numpy out=, objects keyed by identity ------------------------------------------------
def test_a_clip_norm_in_python_arithmetic_is_refused_and_in_ops_replayed():
    model = nn.Linear(3, 2, seed=0)

    def scaled(x):
        model.zero_grad()
        model(x).sum().backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        return x / norm, x * norm - norm, ag.maximum(x, norm), {"norm": [norm]}

    compiled = ag.compile(scaled)
    for i in range(3):
        x = ag.ones(2, 3) * (i + 1)
        *replay, info = compiled(x)
        *eager, expected = scaled(x)
        for c, e in zip(replay, eager):
            np.testing.assert_array_equal(c.data, e.data)
        assert type(info["norm"][0]) is float and info["norm"][0] == expected["norm"][0]  # was the traced norm
        assert info["norm"][0] > 0  # a plain float outside, also from the traced call (was a TraceError)
    with pytest.raises(ag.TraceError, match=r"arithmetic.*test_compile_redteam.py:\d+.*x / norm"):
        ag.compile(lambda x: x * (1.0 / nn.utils.clip_grad_norm_(model.parameters(), 0.5)))(ag.ones(2, 3))


def test_numpy_out_on_a_tensor_is_refused():
    def f(x):
        buf = np.empty(3)
        np.add(x, 1.0, out=buf)  # reads x's values outside ops: the program would keep this call's
        return ag.tensor(buf) * x

    with pytest.raises(ag.TraceError, match="out="):
        ag.compile(f)(ag.tensor(np.arange(3.0)))


def test_an_object_argument_is_kept_so_its_id_is_not_reused():
    class Settings:
        def __init__(self, scale):
            self.scale = scale

    step = ag.compile(lambda x, s: x * s.scale)  # the attribute is a constant of the trace, keyed by identity
    x = ag.ones(3)
    for i in range(50):
        assert step(x, Settings(float(i))).data[0] == i  # a new object at a dead one's address replayed its scale


# ---- recorded in-place ops, optimizer groups ------------------------------------------------------------------------
@pytest.mark.parametrize("name, body", [
    ("the version before used after +=", lambda h, w: (h * 3).sum() + h.__iadd__(1.0).sum()),
    ("setitem from the tensor itself", lambda h, w: (h.__setitem__(0, h[1] * 2), h)[1].sum()),
    ("the version before used after setitem", lambda h, w: (lambda old: (h.__setitem__(0, 5.0), (h * old).sum())[1])(
        h * 1)),
    ("a view written in place", lambda h, w: (lambda row: (row.__iadd__(w[0]), h)[1].sum())(h[1])),
])
def test_recorded_in_place_ops_send_gradients_to_the_version_each_op_used(name, body):
    # the program's backward took t.grad_fn (the newest version) where the engine takes the version an op used:
    # wrong gradients, or a KeyError while tracing
    def f(w, x):
        w.grad = None
        loss = body(w * x, w)
        loss.backward()
        return loss, w.grad + 0.0

    _same_each_call(f, lambda i: (ag.tensor(np.arange(6.0).reshape(2, 3) + i, requires_grad=True),
                                  ag.tensor(np.full((2, 3), 1.5 + i))))


def test_plain_sgd_sees_a_parameter_replaced_in_its_group():
    def run(compiled):
        model = nn.Linear(3, 2, seed=0)
        other = nn.Parameter(np.ones((3, 2), np.float32))
        opt = nn.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()

        f = ag.compile(step) if compiled else step
        for i in range(4):
            f(ag.ones(2, 3))
            if i == 1:
                opt.param_groups[0]["params"][0] = other  # same count: the program updated model.weight anyway
        return model.weight.data.copy(), other.data.copy()

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


# ---- every op of the op tables: compiled equals eager on fresh inputs ---------------------------------------------
def _gradcheck_table():
    from tests.op_tables import GRADCHECK

    return GRADCHECK


_REFUSED = {"median": "median over all elements"}  # its ties share the gradient: a count of the values


@pytest.mark.parametrize("name", sorted(_gradcheck_table()))
def test_every_op_of_the_tables_replays_fresh_inputs(name):
    # each op, its outputs and its input gradients, on four fresh draws of its gradcheck inputs: the sweep that
    # found the frozen orders of sort, median and cummax
    fn, make = _gradcheck_table()[name]

    def step(*xs):
        for x in xs:
            if isinstance(x, ag.Tensor) and x.requires_grad:
                x.grad = None
        out = fn(*xs)
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, ag.Tensor)]
        differentiable = [o for o in outs if o.requires_grad]
        if differentiable:  # a weighted sum: every output element's gradient differs
            sum((o * np.linspace(0.5, 1.5, o.size).reshape(o.shape)).sum() for o in differentiable).backward()
        return (*outs, *(x.grad + 0 for x in xs if isinstance(x, ag.Tensor) and x.grad is not None))

    draws = [make() for _ in range(4)]
    if name in _REFUSED:
        with pytest.raises(ag.TraceError, match=_REFUSED[name]):
            ag.compile(step)(*draws[0])
        return

    def fresh(i):
        return [ag.tensor(x.data.copy(), requires_grad=x.requires_grad) if isinstance(x, ag.Tensor) else x
                for x in draws[i]]

    _same_each_call(step, fresh, calls=4)


def test_batch_norm_without_momentum_is_refused_by_name():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.BatchNorm1d(4, momentum=None))
    with pytest.raises(ag.TraceError, match=r"BatchNorm1d with momentum=None.*give it a momentum"):
        ag.compile(lambda x: model(x).sum())(ag.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3)))


def test_an_argument_carrying_a_graph_is_refused_in_backward():
    encoder, head = nn.Linear(3, 3, seed=0), nn.Linear(3, 1, seed=1)

    def step(h):
        loss = head(h).sum()
        loss.backward()  # eagerly this reaches the encoder's parameters through h's graph (a KeyError before)
        return loss

    with pytest.raises(ag.TraceError, match=r"reaches `Linear`, an op made outside.*t.detach\(\)"):
        ag.compile(step)(encoder(ag.ones(2, 3)))
    _same_each_call(lambda h: head(h).sum(), lambda i: (encoder(ag.ones(2, 3) * i),))  # forward only: its values


def test_the_key_is_the_state_the_call_found_not_the_one_it_left():
    def run(compiled):
        model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Dropout(0.5))

        def step(x):
            out = model(x)
            model.eval()  # the step leaves the model in eval mode: the next call must not replay dropout
            return out

        f = ag.compile(step) if compiled else step
        ag.manual_seed(0)
        return [f(ag.ones(2, 3)).data.copy() for _ in range(3)]

    np.testing.assert_array_equal(run(False), run(True))


@pytest.mark.parametrize("f", [lambda x: x / 2, lambda x: x / x, lambda x: 2 / x, lambda x: x**2.0, lambda x: x**2])
def test_integer_division_and_powers_keep_eager_dtype(f):
    # written out as numpy's `/` and `**`, they gave float64 (int64 for x ** 2.0) where the ops give the default
    # float dtype (float32)
    _same_each_call(f, lambda i: (ag.tensor(np.arange(1, 5) + i),))


def test_value_dependent_paths_are_checked_or_refused():
    compiled = ag.compile(lambda x: ag.cumprod(x, 0))  # its exact path for zeros is another program
    compiled(ag.tensor(np.arange(1.0, 4.0)))
    np.testing.assert_array_equal(compiled(ag.tensor(np.arange(2.0, 5.0))).data, [2.0, 6.0, 24.0])
    with pytest.raises(ValueError, match="traced without zeros"):  # was the other path's gradient, silently
        compiled(ag.tensor(np.arange(0.0, 3.0)))
    with pytest.raises(ag.TraceError, match="one_hot without num_classes.*Give num_classes"):
        ag.compile(lambda y: ag.one_hot(y))(np.array([0, 2, 1]))
    logits = ag.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    for dtype in (np.int32, np.uint8, np.float64):  # class targets converted on each replay (were refused)
        _same_each_call(lambda y: nn.functional.cross_entropy(logits, y) + nn.functional.nll_loss(logits, y),
                        lambda i, dtype=dtype: (np.array([[0, 1, 2, 0], [2, 2, 1, 0], [1, 0, 0, 2]][i], dtype),))
    _same_each_call(lambda x: ag.logcumsumexp(x, 0), lambda i: (ag.tensor(np.arange(3) + i),))


def test_a_compiled_function_inside_another_is_refused_even_when_cached():
    inner = ag.compile(lambda x: x * 2)
    inner(ag.ones(3))  # cached: its replay inside the outer trace was numpy the tracer never saw (a constant)
    with pytest.raises(ag.TraceError, match="compile the outer function only"):
        ag.compile(lambda x: inner(x) + 1)(ag.ones(3))


def test_an_effect_returning_a_tensor_gives_the_replays():
    @ag.effect
    def fresh_noise(n):
        return ag.randn(n, dtype=np.float64)  # drawn by the effect: each replay's own

    def f(x):
        return x + fresh_noise(3)

    compiled = ag.compile(f)
    ag.manual_seed(1)
    replay = [compiled(ag.ones(3, dtype=np.float64)).data for _ in range(3)]
    ag.manual_seed(1)
    np.testing.assert_array_equal(replay, [f(ag.ones(3, dtype=np.float64)).data for _ in range(3)])


def test_initialising_or_loading_parameters_inside_is_refused():
    model = nn.Linear(3, 2, seed=0)
    state = model.state_dict()
    for f in (lambda x: nn.init.zeros_(model.weight) * x.sum(), lambda x: model.load_state_dict(state) and x * 1,
              lambda x: nn.Linear(3, 2)(x)):
        with pytest.raises(ag.TraceError, match="before calling it"):  # ran once, while tracing: frozen
            ag.compile(f)(ag.ones(3))


def test_requires_grad_set_inside_is_replayed():
    w = nn.Parameter(np.array([1.0, 2.0]))

    def f(x):
        x.requires_grad_()  # a flag on the caller's tensor: set by every call, as eagerly
        w.grad = None
        loss = (x * w).sum()
        loss.backward()
        return loss, x.grad + 0.0

    compiled = ag.compile(f)
    for i in range(3):
        x = ag.tensor(np.array([1.0, 2.0]) * i)
        compiled(x)
        assert x.requires_grad and x.grad is not None


def test_under_detect_anomaly_the_function_runs_eagerly():
    step = ag.compile(lambda x: ag.log(x).sum())
    step(ag.ones(3, requires_grad=True))  # traced: the program checks no op for nan
    with ag.detect_anomaly(), pytest.warns(UserWarning, match="runs eagerly"), \
            pytest.raises(ag.AnomalyError, match="forward of `Log` produced nan"), np.errstate(invalid="ignore"):
        step(ag.tensor(np.array([1.0, -1.0, 2.0]), requires_grad=True))  # was replayed: nan, and no check


def test_a_layer_added_to_a_container_the_function_iterates_is_seen():
    x = ag.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3) - 2)
    layers, heads = nn.ModuleList([nn.Linear(3, 3, seed=0)]), nn.ModuleDict({"a": nn.Linear(3, 3, seed=0)})

    def f(x):  # the containers are iterated, never called: they ran no op and were not in the key
        return sum(layer(x).sum() for layer in layers) + sum(head(x).sum() for head in heads.values())

    compiled = ag.compile(f)
    compiled(x)
    layers.append(nn.Linear(3, 3, seed=1))
    heads["b"] = nn.Linear(3, 3, seed=2)
    assert compiled(x).item() == f(x).item() and compiled.cache_info().misses == 2


def test_pool_indices_of_3d_and_adaptive_max_pools_are_recomputed_on_each_replay():
    def f(x):
        a, i = ag.max_pool3d(x, 2, return_indices=True)
        b, j = ag.adaptive_max_pool2d(x[:, :, 0], 3, return_indices=True)
        (a.sum() + b.sum()).backward()
        return i, j, x.grad

    step, rng = ag.compile(f), np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((2, 3, 4, 6, 6))
        for eager, compiled in zip(f(ag.tensor(x, requires_grad=True)), step(ag.tensor(x, requires_grad=True))):
            np.testing.assert_array_equal(eager.numpy(), compiled.numpy())
    assert step.cache_info().hits == 2
