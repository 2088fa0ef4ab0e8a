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
