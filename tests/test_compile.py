"""ag.compile: a traced program gives eager mode's numbers bit for bit, retraces on a new signature, and refuses
what it cannot replay (value-dependent Python, create_graph) with the line and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
import nn.functional as F


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
