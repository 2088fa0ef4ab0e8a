"""ag.compile of steps that differentiate a gradient: a WGAN-GP gradient penalty (``ag.grad_of(...,
create_graph=True)`` or ``backward(create_graph=True)``), Hessian-vector products, ``ag.func`` transforms.
The program equals eager bit for bit (the same numpy calls in the same order); what it cannot replay
raises ``ag.TraceError`` naming the line and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
import tests.test_compile as base
from tests._oracle import oracle


def _critic(dropout: float = 0.0) -> nn.Module:
    layers = [nn.Linear(4, 16, seed=0), nn.Tanh(), nn.Linear(16, 16, seed=1), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 8, seed=2), nn.Softplus(), nn.Linear(8, 1, seed=3))


def _gp_train(compiled: bool, dtype, form: str, dropout: float = 0.0, steps: int = 100):
    """WGAN-GP critic training (Gulrajani et al.): D(fake) - D(real) + 10 (|dD/dx̂| - 1)^2 at interpolates
    x̂ = eps real + (1 - eps) fake, Adam. The batch size changes half way (a retrace)."""
    ag.manual_seed(0)
    prev = ag.get_default_dtype()
    ag.set_default_dtype(dtype)
    try:
        critic = _critic(dropout)
    finally:
        ag.set_default_dtype(prev)
    opt = nn.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))

    def step(real, fake, eps):
        opt.zero_grad()
        xhat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        d = critic(xhat)
        if form == "grad_of":
            (gx,) = ag.grad_of(d.sum(), [xhat], create_graph=True)
        else:
            d.sum().backward(create_graph=True)
            gx = xhat.grad
            opt.zero_grad()  # the first-order parameter gradients are not the step's
        gp = (((gx * gx).sum(axis=1) + 1e-12).sqrt() - 1) ** 2  # (+eps: a dropped-out row has gx = 0)
        loss = critic(fake).mean() - critic(real).mean() + 10.0 * gp.mean()
        loss.backward()
        opt.step()
        return loss, gx

    run = ag.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    batches = [[rng.standard_normal((n, 4)).astype(dtype) + shift for shift in (1.0, -1.0)]
               + [rng.random((n, 1)).astype(dtype)] for n in (8, 8, 5, 5)]
    losses, gxs = [], []
    for i in range(steps):
        loss, gx = run(*(ag.tensor(a) for a in batches[i % 2 + 2 * (i >= steps // 2)]))
        losses.append(loss.data.copy())
        gxs.append(gx.data.copy())
    return dict(losses=np.array(losses), gx=gxs, params=[p.data.copy() for p in critic.parameters()],
                grads=[p.grad.data.copy() for p in critic.parameters()], run=run)


def _assert_same(eager: dict, comp: dict) -> None:
    np.testing.assert_array_equal(eager["losses"], comp["losses"])  # bitwise
    for key in ("gx", "params", "grads"):
        for a, b in zip(eager[key], comp[key], strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("form", ["grad_of", "backward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_penalty_training_100_steps_bitwise(dtype, form):
    eager = _gp_train(False, dtype, form)
    comp = _gp_train(True, dtype, form)
    _assert_same(eager, comp)
    assert eager["losses"].dtype == dtype and len(set(eager["losses"].tolist())) > 90  # it trains
    info = comp["run"].cache_info()
    assert (info.misses, info.hits) == (2, 98)  # one retrace: the batch shape changed
    source = comp["run"].source
    assert "backward pass with create_graph" in source and "d tanh" in source
    assert "_new_grad(" in source if form == "backward" else "_new_grad(" not in source
    # 4 layers: the critic at fake and real (8 GEMMs) and the input gradient (4); the weight gradients of the
    # create_graph pass (4 more) only where backward() stores them: for grad_of nothing reads them, so they go
    after = source.split("backward pass with create_graph")[1].split("---- backward pass:")[0]
    assert sum(" @ " in line for line in after.splitlines()) == (12 if form == "grad_of" else 16)


def test_gradient_penalty_with_dropout_draws_eager_masks():
    eager = _gp_train(False, np.float64, "grad_of", dropout=0.3, steps=20)
    comp = _gp_train(True, np.float64, "grad_of", dropout=0.3, steps=20)
    _assert_same(eager, comp)


def _pool_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3, seed=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(2 * 3 * 3, 1, seed=1))


def test_penalty_through_conv_and_max_pool_reads_this_replays_saved_arrays():
    """conv2d's im2col columns and max-pool's winners are saved constants that the derivatives read: the
    program reads the ones its own forward saved, so a new batch gets its own winners."""
    def train(compiled):
        net = _pool_net()
        opt = nn.optim.SGD(net.parameters(), lr=1e-2)

        def step(x):
            opt.zero_grad()
            out = net(x)
            (gx,) = ag.grad_of(out.sum(), [x], create_graph=True)
            loss = out.mean() + (gx * gx).sum()
            loss.backward()
            opt.step()
            return loss

        run = ag.compile(step) if compiled else step
        rng = np.random.default_rng(1)
        batches = [rng.standard_normal((3, 1, 8, 8)).astype(np.float32) for _ in range(8)]
        losses = [run(ag.tensor(b, requires_grad=True)).data.copy() for b in batches]
        return np.array(losses), [p.data.copy() for p in net.parameters()], run

    eager, comp = train(False), train(True)
    np.testing.assert_array_equal(eager[0], comp[0])
    for a, b in zip(eager[1], comp[1]):
        np.testing.assert_array_equal(a, b)
    assert ".saved[0]" in comp[2].source


@pytest.mark.parametrize("name, wrt", [(name, wrt) for name in sorted(base.LAYERS) + ["lenet", "transformer_block"]
                                        for wrt in ("params", "input")
                                        if not (wrt == "input" and name == "embedding")])  # indices: no gradient
def test_every_layer_type_under_a_gradient_penalty_equals_eager(name, wrt):
    """loss + 0.1 |d loss / d (params or input)|^2, Adam, 4 steps: bitwise, or refused (bce_with_logits: its
    logsumexp's derivative adds two saved arrays with numpy)."""
    make, batches = {"lenet": (base.lenet, base._batches((2, 1, 28, 28), 10, n=2)),
                     "transformer_block": (lambda: (base.Block(dropout=0.2), nn.MSELoss()), base._block_batches(2)),
                     }.get(name) or base.LAYERS[name]

    def train(compiled):
        ag.manual_seed(0)
        model, loss_fn = make()
        opt = nn.optim.Adam(model.parameters(), lr=1e-2)
        params = list(model.parameters())

        def step(x, y):
            opt.zero_grad()
            if wrt == "input":
                x.requires_grad_(True)
            loss = loss_fn(model(x), y)
            gs = ag.grad_of(loss, [x] if wrt == "input" else params, create_graph=True, allow_unused=True)
            total = loss + 0.1 * sum((g * g).sum() for g in gs if g is not None)
            total.backward()
            opt.step()
            return total

        run = ag.compile(step) if compiled else step
        losses = [run(ag.tensor(x.data) if isinstance(x, ag.Tensor) else x, y).data.copy()
                  for x, y in batches + batches]
        return losses, [p.data.copy() for p in params]

    eager = train(False)
    if name == "bce_with_logits":
        with pytest.raises(ag.TraceError, match="`LogSumExp`"):
            train(True)
        return
    comp = train(True)
    for a, b in zip(eager[0] + eager[1], comp[0] + comp[1]):
        np.testing.assert_array_equal(a, b)


def _hvp_model():
    return nn.Sequential(nn.Linear(3, 5, seed=0), nn.Tanh(), nn.Linear(5, 2, seed=1))


def _hvp_args(i):
    rng = np.random.default_rng(i)
    return (ag.tensor(rng.standard_normal((4, 3)), requires_grad=True), ag.tensor(rng.standard_normal((4, 3))))


@pytest.mark.parametrize("second", ["grad_of", "backward"])
def test_hessian_vector_product(second):
    ag.set_default_dtype(np.float64)
    try:
        model = _hvp_model()
    finally:
        ag.set_default_dtype(np.float32)

    def hvp(x, v):
        loss = (model(x) ** 2).sum()
        (g,) = ag.grad_of(loss, [x], create_graph=True)
        if second == "grad_of":
            (hv,) = ag.grad_of((g * v).sum(), [x])
            return hv
        x.grad = None
        (g * v).sum().backward()
        return x.grad

    compiled = ag.compile(hvp)
    for i in range(3):
        expected, got = hvp(*_hvp_args(i)), compiled(*_hvp_args(i))
        assert type(got.data) is np.ndarray and not got.requires_grad
        np.testing.assert_array_equal(got.data, expected.data)
    assert compiled.cache_info().misses == 1

    def torch_hvp():
        import torch
        w0, b0, w1, b1 = (torch.tensor(p.data) for p in model.parameters())
        x, v = (torch.tensor(a.data) for a in _hvp_args(2))
        x.requires_grad_(True)
        loss = ((torch.tanh(x @ w0 + b0) @ w1 + b1) ** 2).sum()
        (g,) = torch.autograd.grad(loss, [x], create_graph=True)
        (hv,) = torch.autograd.grad((g * v).sum(), [x])
        return hv.numpy()

    np.testing.assert_allclose(compiled(*_hvp_args(2)).data, oracle(torch_hvp), rtol=1e-12, atol=1e-14)


def test_func_transforms_compiled_equal_eager():
    ag.set_default_dtype(np.float64)
    try:
        model = _hvp_model()
    finally:
        ag.set_default_dtype(np.float32)
    f = lambda x: (model(x) ** 2).sum()  # noqa: E731
    cases = {"grad": lambda x, v: ag.func.grad(f)(x),
             "hvp": lambda x, v: ag.func.hvp(f, (x,), (v,))[1][0],
             "hessian": lambda x, v: ag.func.hessian(lambda z: (z.tanh() ** 3).sum())(x[0])}
    for name, fn in cases.items():
        compiled = ag.compile(fn)
        for i in range(3):
            x, v = _hvp_args(i)
            x = x.detach()
            np.testing.assert_array_equal(compiled(x, v).data, fn(x, v).data, err_msg=name)


def test_a_new_tensor_on_an_argument_reads_the_argument_at_replay():
    """``x.detach()`` (and ag.func's variables) wrap the argument's array in a new Tensor: the program reads the
    replay's argument, not the traced call's."""
    compiled = ag.compile(lambda x: x.detach() * 2)
    compiled(ag.ones(3))
    np.testing.assert_array_equal(compiled(ag.full((3,), 5.0)).data, [10.0, 10.0, 10.0])


def test_a_grad_from_before_a_create_graph_backward_is_refused():
    model = nn.Linear(3, 1, seed=0)

    def step(x):
        model(x).sum().backward(create_graph=True)
        return (model.weight.grad ** 2).sum()

    model.weight.grad = ag.ones(3, 1)  # left from before the call: the penalty would include it
    with pytest.raises(ag.TraceError, match=r"zero_grad\(\).*inside the compiled function"):
        ag.compile(step)(ag.ones(2, 3))

    model.weight.grad = model.bias.grad = None
    x = ag.ones(2, 3, requires_grad=True)
    compiled = ag.compile(step)
    compiled(x)                       # traced with no .grad: x.grad and the parameters' are now set
    with pytest.raises(RuntimeError, match="already has a .grad"):
        compiled(x)                   # replayed: the program does not add into them (eager would)


def test_what_a_create_graph_pass_cannot_replay_is_refused_with_the_line():
    class OnceOnly(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.sin(x)

        @staticmethod
        @ag.once_differentiable
        def backward(ctx, g, x):
            return g * np.cos(x)

    class NumpyOnSaved(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(np.cos(x))
            return np.sin(x)

        @staticmethod
        def backward(ctx, g):
            (c,) = ctx.saved_tensors
            return g * np.exp(c)  # numpy on a saved array: a value a replay would not recompute

    class WrapsNumpy(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.sin(x)

        @staticmethod
        def backward(ctx, g, x):
            return g * ag.Tensor(np.cos(x._data if isinstance(x, ag.Tensor) else x))  # a Tensor around numpy

    for fn, match in ((OnceOnly, "not differentiable again"), (NumpyOnSaved, "made with numpy outside ops"),
                      (WrapsNumpy, "made with numpy outside ops")):
        def penalty(x, fn=fn):
            (g,) = ag.grad_of(fn.apply(x).sum(), [x], create_graph=True)
            return (g * g).sum()

        with pytest.raises(ag.TraceError, match=match) as info:
            ag.compile(penalty)(ag.ones(2, 3, requires_grad=True))
        assert f"`{fn.__name__}` (" in str(info.value) and "test_compile_penalty.py:" in str(info.value)


@pytest.mark.parametrize("create_graph", [False, True])
def test_tensor_hooks_are_refused(create_graph):
    model = nn.Linear(3, 2, seed=0)

    def step(x):
        h = model(x)
        h.register_hook(lambda g: g * 2)  # the program would skip it
        (h * h).sum().backward(create_graph=create_graph)
        return model.weight.grad

    with pytest.raises(ag.TraceError, match="tensor hooks"):
        ag.compile(step)(ag.ones(4, 3))


def test_a_backward_through_ops_recorded_outside_is_refused():
    w = ag.ones(3, requires_grad=True)
    h = w * 2  # recorded before the compiled function runs

    def step(x):
        (h * x).sum().backward(retain_graph=True)
        return w.grad

    with pytest.raises(ag.TraceError, match="made outside the compiled function"):
        ag.compile(step)(ag.ones(3))


def test_a_gradient_summed_with_a_transposed_one_is_laid_out_as_eager():
    """A transposed gradient (``h.T``'s) added into in place would keep its column-major layout where eager's sum
    is in C order; the bias gradient then sums in another order and differs in the last bits (float32)."""
    def run(compiled):
        lin = nn.Linear(32, 48, seed=0)
        v = ag.tensor(np.random.default_rng(2).standard_normal((64, 5)).astype(np.float32))

        def step(x):
            lin.zero_grad()
            h = lin(x)
            ((h * h).sum() + (h.T @ v).sum()).backward()
            return lin.bias.grad

        f = ag.compile(step) if compiled else step
        rng = np.random.default_rng(1)
        return [f(ag.tensor(rng.standard_normal((64, 32)).astype(np.float32))).data.copy() for _ in range(4)]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def _same_each_call(f, calls=4):
    compiled = ag.compile(f)
    for i in range(calls):
        x = ag.tensor(np.random.default_rng(i).standard_normal((4, 3)))
        for a, b in zip(f(x), compiled(x), strict=True):
            np.testing.assert_array_equal(a.data, b.data)


def test_gradients_of_a_leaf_the_function_made_are_this_replays():
    """``h.detach().requires_grad_()`` is a leaf with no object at replay: its ``.grad`` (stored twice: summed) is
    a value of the program (it was the traced call's object, summed into on every replay)."""
    model = nn.Linear(3, 2, seed=0, dtype="float64")

    def plain(x):
        h = model(x).tanh().detach().requires_grad_(True)
        (h[:, 0] ** 2).sum().backward()
        first = h.grad * 1.0
        (h ** 3).sum().backward()
        return first, h.grad * 1.0

    def penalty(x):
        xhat = (x * 0.5).requires_grad_(True)
        model(xhat).tanh().sum().backward(create_graph=True)
        model.zero_grad()
        return (xhat.grad ** 2).sum(), xhat.grad * 1.0

    _same_each_call(plain)
    _same_each_call(penalty)


def test_two_create_graph_backwards_add_into_one_grad():
    model = nn.Linear(3, 1, seed=0, dtype="float64")

    def step(x):
        model.zero_grad()
        model(x).sum().backward(create_graph=True)
        (model(x) ** 2).sum().backward(create_graph=True)  # adds into the .grad the first one stored, as an op
        pen = (model.weight.grad ** 2).sum()
        model.zero_grad()
        pen.backward()
        return pen, model.weight.grad

    _same_each_call(step)


def test_grad_of_hidden_activations_and_parameters():
    """Non-leaf targets: one whose op leads only to other leaves (captured, its derivative not written), one under
    create_graph whose penalty is then differentiated, and a parameter beside it."""
    lin, head = nn.Linear(3, 4, seed=0, dtype="float64"), nn.Linear(4, 1, seed=1, dtype="float64")

    def plain(x):
        h = lin(x)
        (gh,) = ag.grad_of(head(h.tanh()).sum(), [h])
        return (gh,)

    def penalty(x):
        h = lin(x)
        gh, gw = ag.grad_of(head(h.tanh()).sum(), [h, lin.weight], create_graph=True)
        pen = (gh ** 2).sum() + (gw ** 2).sum()
        lin.zero_grad()
        head.zero_grad()
        pen.backward()
        return gh, gw, pen, lin.weight.grad, head.weight.grad

    _same_each_call(plain)
    _same_each_call(penalty)
    compiled = ag.compile(plain)
    compiled(ag.ones(4, 3, dtype=np.float64))
    backward = compiled.source.split("---- backward")[1]
    assert "d_linear" in backward and ".swapaxes(-1, -2) @ d_" not in backward  # no weight gradients: dropped


def test_numpy_helpers_on_tensors_are_recomputed_on_replay():
    """``anp.sign`` (and ``anp.zeros_like``/``ones_like``) of a Tensor: a constant of the graph, but a value of the
    call: the program computes it again (it kept the traced call's signs), also inside abs's create_graph
    derivative (``g * anp.sign(x)``)."""
    from autograd_mini import numpy as anp

    compiled = ag.compile(lambda x: x * anp.sign(x))
    compiled(ag.tensor([1.0, -2.0]))
    np.testing.assert_array_equal(compiled(ag.tensor([-1.0, 2.0])).data, [1.0, 2.0])

    def l1_penalty(x):
        (g,) = ag.grad_of((abs(x) * x).sum(), [x], create_graph=True)
        return (g * g).sum(), ag.grad_of((g * g).sum(), [x])[0]

    compiled = ag.compile(l1_penalty)
    for i in range(3):
        x = np.random.default_rng(i).standard_normal((4, 5))
        for a, b in zip(l1_penalty(ag.tensor(x, requires_grad=True)), compiled(ag.tensor(x, requires_grad=True))):
            np.testing.assert_array_equal(a.data, b.data)
