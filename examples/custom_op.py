"""A user-defined op: a numerically stable softplus as an ``ag.Function``, gradient-checked and used in a model.

``softplus(x) = log(1 + exp(x))`` written naively overflows for x > 709 (inf, and a NaN gradient);
the custom op computes ``max(x, 0) + log1p(exp(-|x|))`` and its derivative ``sigmoid(x)`` without
overflow. Its backward reads the input ``x`` by naming it and uses ``anp.sigmoid``
(``autograd_mini.numpy``: numpy on arrays, the recorded op on Tensors), so second derivatives work
too, at numpy's speed in a plain backward (docs/core.md, "Add an op"). The script
checks it with ``ag.gradcheck`` and ``ag.gradgradcheck``, shows gradcheck catching a wrong
backward, then trains a 2-32-1 softplus network on the XOR square of ``xor_relu.py``.

    python examples/custom_op.py --out out/custom_op
"""

from __future__ import annotations

import time
from typing import Any

import _common as C
import numpy as np

import autograd_mini as ag
import nn
from autograd_mini import numpy as anp


class Softplus(ag.Function):
    """``log(1 + exp(x))`` without overflow; derivative ``sigmoid(x)``."""

    formula = "d softplus(x)/dx = sigmoid(x)"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # exp only ever sees -|x|

    @staticmethod
    def backward(ctx: Any, g: Any, x: Any) -> Any:  # naming `x` reads forward's input x
        return g * anp.sigmoid(x)  # anp: arrays in a plain backward, Tensors under create_graph


class WrongSoftplus(Softplus):
    """The same forward with a sign slip in backward (sigmoid(-x)): what gradcheck is for."""

    @staticmethod
    def backward(ctx: Any, g: Any, x: Any) -> Any:
        return g * anp.sigmoid(-x)


def softplus(x: Any) -> ag.Tensor:
    return Softplus.apply(x)


class SoftplusLayer(nn.Module):
    """The custom op as an activation module."""

    def forward(self, x: Any) -> ag.Tensor:
        return softplus(x)


def naive_softplus(x: ag.Tensor) -> ag.Tensor:
    return (1 + x.exp()).log()


def compare_with_naive() -> dict:
    """Value and gradient at x = 1000 (and -1000): naive composition against the custom op."""
    out = {}
    for name, fn in (("naive", naive_softplus), ("custom", softplus)):
        x = ag.tensor(np.array([-1000.0, 0.0, 1000.0]), requires_grad=True)
        with np.errstate(over="ignore", invalid="ignore"):  # the naive version overflows on purpose
            y = fn(x)
            y.sum().backward()
        out[name] = (y.data.copy(), x.grad.data.copy())
    return out


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, epochs=60, seed=0, out="out/custom_op")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    result: dict = {}

    cmp = compare_with_naive()
    for name, (v, g) in cmp.items():
        print(f"{name:>6} softplus at x = [-1000, 0, 1000]: value {v}, gradient {g}")
    result["naive"], result["custom"] = cmp["naive"], cmp["custom"]

    x = ag.tensor(np.random.default_rng(args.seed).normal(0, 5, size=(4, 5)), requires_grad=True)
    r1 = ag.gradcheck(softplus, [x], raise_exception=False)
    r2 = ag.gradgradcheck(softplus, [x], raise_exception=False)
    bad = ag.gradcheck(WrongSoftplus.apply, [x], raise_exception=False)
    result["gradcheck"], result["gradgradcheck"], result["wrong_caught"] = bool(r1), bool(r2), not bool(bad)
    print(f"ag.gradcheck(Softplus): {'passed' if r1 else 'FAILED'}; "
          f"ag.gradgradcheck (second derivatives): {'passed' if r2 else 'FAILED'}")
    report = str(bad).strip().splitlines()
    print("ag.gradcheck(WrongSoftplus) fails, as it should; its report begins:")
    print("\n".join("  " + line for line in report[:6]))

    # ---- the op in a model: 2-32-1 with softplus, logistic loss, on the XOR square
    from xor_relu import xor_square

    X, y = xor_square(1000, seed=args.seed)
    model = nn.Sequential(nn.Linear(2, 32, seed=args.seed), SoftplusLayer(), nn.Linear(32, 1, seed=args.seed + 1))
    check = ag.gradcheck_module(model, nn.BCEWithLogitsLoss(), X[:8], y[:8], raise_exception=False)
    print(f"ag.gradcheck_module(model) with the custom op inside: {'passed' if check else 'FAILED'}")
    result["gradcheck_module"] = bool(check)
    opt = nn.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = nn.data.DataLoader(X, y, batch_size=50, shuffle=True, seed=args.seed)
    losses = []
    bar = C.progress(args.epochs, "custom_op", not args.no_progress)
    for _ in bar:
        total = 0.0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(X))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    with ag.no_grad():
        acc = float(((model(ag.tensor(X)).data > 0) == (y > 0.5)).mean())
    result["accuracy"], result["losses"] = acc, losses

    grid = np.linspace(-6, 6, 241)
    xs = ag.tensor(grid, requires_grad=True)
    softplus(xs).sum().backward()
    fig, ax = C.plt.subplots(figsize=(5, 3.6))
    ax.plot(grid, softplus(ag.tensor(grid)).data, label="softplus(x)")
    ax.plot(grid, xs.grad.data, label="d/dx from backward() = sigmoid(x)")
    ax.set(title="The custom Softplus op", xlabel="x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    files = [C.save_figure(fig, args.out / "softplus.png"),
             C.plot_curves({"training loss": losses}, args.out / "loss.png", "2-32-1 softplus net on the XOR square",
                           "logistic loss", xlabel="epoch")]
    for f in files:
        print(f"wrote {C.relpath(f)}")
    result["files"] = files
    C.summary("custom_op", t0, epochs=args.epochs, final_loss=losses[-1] if losses else float("nan"), accuracy=acc,
              gradcheck="passed" if r1 and r2 else "FAILED")
    return result


if __name__ == "__main__":
    main()
