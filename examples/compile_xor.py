"""The XOR article's network under ``ag.compile``: the numpy program its tape amounts to.

The article ("One LEGO at a Time", ../shared/seeds/) writes the backward pass of its 2-3-2 sigmoid
network by hand. ``ag.compile`` traces one training step of the same network (examples/xor_article.py:
the article's data, initial weights and loss: squared error over 2N plus the ridge term) and prints the
straight-line numpy program it replays: forward, then each op's derivative in reverse order, then the
optimizer. Set it beside the article's code. The compiled steps give the eager steps' numbers bit for bit.
It also writes ``program.html``: the explorer page of one compiled step, the graph with the program beside it
(click a node to see its lines, a line to see its node).

    python examples/compile_xor.py              # print the program, train 2,000 steps both ways
    python examples/compile_xor.py --epochs 50  # fewer steps
    python examples/compile_xor.py --out DIR    # where program.html goes (default out/compile_xor)
"""

from __future__ import annotations

import time

import _common as C
import numpy as np
import xor_article as X

import autograd_mini as ag
import nn


def make(lr: float = 0.5) -> tuple:
    net = X.XorNet(3, bias=True)
    return net, nn.optim.SGD(net.parameters(), lr=lr)


def train_step(net: X.XorNet, opt: nn.optim.SGD, x: ag.Tensor, y: ag.Tensor) -> ag.Tensor:
    loss = X.article_loss(net(x), y, [net.l1.weight, net.l2.weight])
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, epochs=2000, out="out/compile_xor", progress=False,
                 epochs_help="training steps, compiled and eager")
    args = p.parse_args(argv)
    steps, start = max(args.epochs, 1), time.perf_counter()
    data, onehot, _ = X.xor_data()
    x, y = ag.tensor(data), ag.tensor(onehot)
    net, opt = make()
    step = ag.compile(train_step)
    b = step(net, opt, x, y)  # the traced call (--epochs 1: the only one)
    print(step.source)
    args.out.mkdir(parents=True, exist_ok=True)
    page_net, page_opt = make()  # the page's own step: explore runs one (a training step) on its arguments
    page = ag.viz.explore(ag.compile(train_step), page_net, page_opt, x, y,
                          title="The XOR article's network: one compiled training step").save(args.out / "program.html")
    eager_net, eager_opt = make()
    train_step(eager_net, eager_opt, x, y)
    t = {"eager": 0.0, "compiled": 0.0}
    for _ in range(steps - 1):
        t0 = time.perf_counter()
        a = train_step(eager_net, eager_opt, x, y)
        t1 = time.perf_counter()
        b = step(net, opt, x, y)
        t["eager"], t["compiled"] = t["eager"] + t1 - t0, t["compiled"] + time.perf_counter() - t1
        assert a.data == b.data  # the same number, bit for bit
    same = all(np.array_equal(p.data, q.data) for p, q in zip(net.parameters(), eager_net.parameters()))
    C.summary("compile_xor", start, steps=steps, final_loss=b.item(), bitwise_equal=same,
              eager_ms_per_step=t["eager"] * 1e3 / steps, compiled_ms_per_step=t["compiled"] * 1e3 / steps)
    return {"loss": b.item(), "same": same, "source": step.source, "page": page, **t}


if __name__ == "__main__":
    main()
