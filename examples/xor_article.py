"""The "One LEGO at a Time" XOR network, reproduced with backward() instead of hand-derived gradients.

Same 300 points, same 2-3-2 sigmoid network without biases, same initial weights and the same
loss (squared error over 2N plus the ridge term over 2N) as the article (../shared/seeds/). It
prints the forward trace of the first sample and the gradients of the worked step, checks them
against the article's numbers to 8 decimals, prints the derivation of that step as
``ag.explain_backward`` writes it (the article's dLoss/dW2 by hand, generated, and on to dLoss/dW1),
gradient-checks the full loss, then trains:

* ``article-3``: the article's network exactly (no biases). It cannot learn XOR of the signs:
  with no biases every hidden unit is ``sigmoid(w . x)``, so ``f(x) + f(-x)`` is the same for
  all ``x`` while XOR needs ``x`` and ``-x`` in the same class on both sides of the boundary.
* ``3-hidden``: the same 2-3-2 network with biases (zero at the start), which learns it.
* ``50-hidden-*``: 50 hidden units with plain gradient descent. At ``lr=100`` the first two
  steps throw every sigmoid into saturation: the loss jumps from 0.25 to 0.53 and stays there,
  accuracy falls to chance (the blow-up the article shows). A smaller rate, a schedule that
  warms up and then decays, and gradient clipping each fix it. This run also records every
  layer's gradient norms (``ag.viz.TrainingRecorder``) and writes ``training.html``: drag its
  slider to watch the blow-up step by step.

Each run writes the article's three plots (accuracy, decision boundary, loss) as PNG.

    python examples/xor_article.py --out out/xor_article
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as C
import numpy as np

import autograd_mini as ag
import nn
from autograd_mini import viz

# The article's numbers (seeds README): forward trace of sample 0 and the first two rows of dLoss/dW2.
ARTICLE = {
    "z1": [-1.40982136, 0.91005018, -0.04529517],
    "h1": [0.19626223, 0.71301043, 0.48867814],
    "z2": [-0.52507645, -0.18394635],
    "h2": [0.37166596, 0.45414264],
    "dW2[:2]": [[-0.02879856, 0.02209533], [-0.10462365, 0.08027117]],
}
# Every number the article prints in its backward step (dLoss/dW2), by what it is. The article prints
# dh2/dz2 = h2(1 - h2) as [-0.23353037, 0.2478971]: a sign slip, since h2(1 - h2) > 0 for 0 < h2 < 1.
ARTICLE_BACKWARD = {
    "y": [1, 0],
    "h2": [0.37166596, 0.45414264],
    "dLoss/dh2 = -(y - h2)": [-0.62833404, 0.45414264],
    "dh2/dz2 = h2(1 - h2)": [0.23353037, 0.2478971],
    "dz2/dW2 = h1": [0.19626223, 0.71301043, 0.48867814],
    "dLoss/dW2[:2]": [-0.02879856, 0.02209533, -0.10462365, 0.08027117],
}
REG = 1e-4  # the article's ridge coefficient


def xor_data(n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The article's data: ``RandomState(0).randn(n, 2)``, label = XOR of the signs, one-hot targets."""
    X = np.random.RandomState(0).randn(n, 2)
    labels = np.logical_xor(X[:, 0] > 0, X[:, 1] > 0).astype(np.int64)
    return X, np.eye(2)[labels], labels


def article_weights(hidden: int, seed: int = 2017) -> tuple[np.ndarray, np.ndarray]:
    """``np.random.seed(seed)``; ``W = 2 * random - 1``, divided by sqrt(fan-in): the article's init."""
    rs = np.random.RandomState(seed)  # the same stream as np.random.seed + np.random.random
    W1 = (2 * rs.random_sample((2, hidden)) - 1) / np.sqrt(2)
    W2 = (2 * rs.random_sample((hidden, 2)) - 1) / np.sqrt(hidden)
    return W1, W2


class XorNet(nn.Module):
    """2-H-2, sigmoid after each layer, float64, the article's initial weights, biases (if any) zero."""

    def __init__(self, hidden: int, bias: bool, seed: int = 2017) -> None:
        super().__init__()
        self.l1 = nn.Linear(2, hidden, bias=bias, dtype=np.float64)
        self.l2 = nn.Linear(hidden, 2, bias=bias, dtype=np.float64)
        self.l1.weight.data, self.l2.weight.data = article_weights(hidden, seed)
        for layer in (self.l1, self.l2):
            if layer.bias is not None:
                layer.bias.data = np.zeros(layer.bias.shape)

    def forward(self, x: Any) -> ag.Tensor:
        return ag.sigmoid(self.l2(ag.sigmoid(self.l1(x))))


def article_loss(h2: ag.Tensor, y: Any, weights: list) -> ag.Tensor:
    """``sum((y - h2)**2) / 2N + reg * sum(W**2) / 2N`` (ridge on the weights, not the biases)."""
    n = len(h2)
    return nn.functional.mse_loss(h2, y, reduction="sum") / (2 * n) + nn.L2Penalty(REG)(weights) / n


# ---- the worked step -------------------------------------------------------------------------------
def worked_step(out: Path | None = None) -> dict:
    """Forward trace of sample 0, loss ``1/2 sum((y - h2)**2)``, and its gradients from backward()."""
    X, Y, _ = xor_data()
    net = XorNet(3, bias=False)
    x, y = ag.tensor(X[:1]), ag.tensor(Y[:1])
    with viz.recording(backward=False):  # each op remembers its file:line, for the derivation
        z1 = net.l1(x)
        h1 = ag.sigmoid(z1)
        z2 = net.l2(h1)
        h2 = ag.sigmoid(z2)
        loss = 0.5 * ((y - h2) ** 2).sum()
    r = {"z1": z1.data[0], "h1": h1.data[0], "z2": z2.data[0], "h2": h2.data[0], "loss": loss.item()}
    r["narration"] = ag.explain_backward(loss, params={"X": x, "y": y, "W1": net.l1.weight, "W2": net.l2.weight})
    grads = viz.capture_grads(loss)  # backward(), keeping intermediate gradients for the graph picture
    r["dW2"], r["dW1"] = net.l2.weight.grad.data.copy(), net.l1.weight.grad.data.copy()
    r["graph"] = None
    if out is not None:
        params = {"W1": net.l1.weight, "W2": net.l2.weight}
        try:
            r["graph"] = viz.save(viz.draw_graph(loss, grads=grads, params=params, rankdir="LR"),
                                  out / "network_graph.png")
        except viz.GraphvizNotFoundError as e:
            dot = viz.save(viz.to_dot(loss, grads=grads, params=params, rankdir="LR"), out / "network_graph.dot")
            r["graph_skipped"] = f"graph picture skipped: {e} (DOT source written to {C.relpath(dot)})"
    return r


def check_against_article(r: dict) -> bool:
    """True when every printed article number matches ours to 8 decimals (|diff| <= 5e-9)."""
    pairs = [(r[k], ARTICLE[k]) for k in ("z1", "h1", "z2", "h2")] + [(r["dW2"][:2], ARTICLE["dW2[:2]"])]
    return all(np.max(np.abs(np.asarray(a) - np.asarray(b))) <= 5e-9 for a, b in pairs)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def missing_article_numbers(text: str) -> list[tuple[str, float]]:
    """The article's backward-step numbers that do not appear in ``text`` to 8 decimals (|diff| <= 5e-9)."""
    ours = np.array([float(v) for v in NUMBER.findall(text)])
    return [(what, v) for what, vals in ARTICLE_BACKWARD.items() for v in vals
            if not np.any(np.abs(ours - v) <= 5e-9)]


def print_derivation(r: dict) -> None:
    text = str(r["narration"])
    print("\nThe article's backward step, generated by ag.explain_backward(loss) (docs/explain_backward.md):\n")
    print(text)
    missing = missing_article_numbers(text)
    n = sum(len(v) for v in ARTICLE_BACKWARD.values())
    print(f"All {n} numbers the article prints for its backward step appear above to 8 decimals"
          if not missing else f"MISSING from the derivation: {missing}")
    print("  (the article prints dh2/dz2 = h2(1 - h2) as [-0.23353037, 0.2478971]: a sign slip, it is positive)\n")


def print_worked_step(r: dict) -> None:
    f = lambda a: np.array2string(np.asarray(a), precision=8, floatmode="fixed", separator=", ")  # noqa: E731
    print("Forward trace of sample 0, x = [1.76405235, 0.40015721], y = [1, 0] (article's numbers in brackets):")
    for k in ("z1", "h1", "z2", "h2"):
        print(f"  {k} = {f(r[k])}   [{', '.join(f'{v:.8f}' for v in ARTICLE[k])}]")
    print(f"  loss = 1/2 sum((y - h2)^2) = {r['loss']:.8f}")
    print("Gradients of the worked step, from loss.backward():")
    print("  dLoss/dW2 =", f(r["dW2"]).replace("\n", "\n              "))
    print("  dLoss/dW1 =", f(r["dW1"]).replace("\n", "\n              "))
    ok = check_against_article(r)
    print(f"  article: dLoss/dW2[:2] = {ARTICLE['dW2[:2]']}  -> "
          f"{'all numbers match the article to 8 decimals' if ok else 'MISMATCH with the article'}")


def check_full_loss() -> dict:
    """Gradient-check the full-batch article loss, and compare with the article's hand-written gradient."""
    X, Y, _ = xor_data()
    W1, W2 = article_weights(3)
    w1, w2 = ag.tensor(W1, requires_grad=True), ag.tensor(W2, requires_grad=True)

    def loss_fn(a: ag.Tensor, b: ag.Tensor) -> ag.Tensor:
        return article_loss(ag.sigmoid(ag.sigmoid(ag.tensor(X) @ a) @ b), Y, [a, b])

    passed = bool(ag.gradcheck(loss_fn, [w1, w2], raise_exception=False))
    loss_fn(w1, w2).backward()
    # The article's hand-derived gradient for W2: the data term without its 1/N, and the ridge
    # gradient written as reg * sum(W**2) (a scalar added everywhere) instead of reg * W / N.
    h1 = 1 / (1 + np.exp(-X @ W1))
    h2 = 1 / (1 + np.exp(-h1 @ W2))
    hand = h1.T @ (-(Y - h2) * h2 * (1 - h2)) + REG * np.sum(W2**2)
    ours = w2.grad.data
    return {"gradcheck_passed": passed, "hand_over_ours": float(np.median(hand / ours)),
            "hand_max_abs_error": float(np.max(np.abs(hand - ours)))}


# ---- training ----------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    hidden: int
    bias: bool
    optimizer: str          # "sgd" (plain gradient descent) or "adam"
    lr: float
    epochs: int
    decay: float | None = None   # WarmupDecay gamma, per step
    clip: float | None = None    # clip_grad_norm_ max_norm
    note: str = ""
    explore: bool = False        # record gradient norms per step for the training.html explorer page


RUNS = [
    Run("article-3", 3, False, "adam", 0.1, 2000, note="the article's net: no biases, cannot fit XOR"),
    Run("3-hidden", 3, True, "adam", 0.1, 5000, note="2-3-2 with biases"),
    Run("50-hidden-lr100", 50, True, "sgd", 100.0, 2000, note="learning rate too large: blows up", explore=True),
    Run("50-hidden-lr5", 50, True, "sgd", 5.0, 2000, note="remedy: a smaller rate"),
    Run("50-hidden-lr100-schedule", 50, True, "sgd", 100.0, 2000, decay=0.999,
        note="remedy: warm-up then decay"),
    Run("50-hidden-lr100-clip", 50, True, "sgd", 100.0, 2000, clip=0.01, note="remedy: clip_grad_norm_(0.01)"),
]


class WarmupDecay(nn.optim.LRScheduler):
    """``lr = initial_lr * min(1, (step + 1) / warmup) * gamma ** step``: ramp up, then decay.

    The blow-up happens in the first steps, where the gradient is largest, so a schedule that
    only decays would come too late: this one starts small and reduces the rate over time.
    """

    def __init__(self, optimizer: nn.optim.Optimizer, gamma: float, warmup: int = 200) -> None:
        self.gamma, self.warmup = gamma, warmup
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * min(1.0, (epoch + 1) / self.warmup) * self.gamma**epoch


def train(run: Run, epochs: int, seed: int, show: bool) -> tuple[XorNet, dict]:
    """Full-batch training on the article's loss; returns the net and its per-step history."""
    X, Y, labels = xor_data()
    net = XorNet(run.hidden, run.bias, seed)
    weights = [net.l1.weight, net.l2.weight]
    opt = nn.optim.Adam(net.parameters(), lr=run.lr) if run.optimizer == "adam" \
        else nn.optim.SGD(net.parameters(), lr=run.lr)
    sched = WarmupDecay(opt, run.decay) if run.decay else None
    x, losses, accs = ag.tensor(X), np.empty(epochs), np.empty(epochs)
    recorder = viz.TrainingRecorder(net, max_steps=500) if run.explore else None
    bar = C.progress(epochs, run.name, show)
    for t in bar:
        h2 = net(x)
        loss = article_loss(h2, Y, weights)
        opt.zero_grad()
        loss.backward()
        if recorder is not None:
            recorder.record(loss)  # after backward, before the step: the gradients of this step's values
        if run.clip:
            nn.utils.clip_grad_norm_(net.parameters(), run.clip)
        opt.step()
        if sched:
            sched.step()
        losses[t], accs[t] = loss.item(), float((h2.data.argmax(1) == labels).mean())
        if t % 100 == 0:
            bar.set_postfix(loss=f"{losses[t]:.4f}", acc=f"{accs[t]:.3f}", refresh=False)
    return net, {"loss": losses, "accuracy": accs, "recorder": recorder}


def predict(net: XorNet) -> Any:
    def f(points: np.ndarray) -> np.ndarray:
        with ag.no_grad():
            return net(ag.tensor(points)).data.argmax(1)
    return f


def plot_run(run: Run, net: XorNet, hist: dict, out: Path) -> list[Path]:
    X, _, labels = xor_data()
    n, acc = len(hist["loss"]), hist["accuracy"][-1]
    title = f"{run.name}: {run.note}" if run.note else run.name
    return [
        C.plot_curves({run.name: hist["accuracy"]}, out / run.name / "accuracy.png", f"Accuracy ({run.name})",
                      "accuracy"),
        C.plot_decision_boundary(predict(net), X, labels, out / run.name / "boundary.png",
                                 f"{title}\nstep {n}, accuracy {acc:.3f}"),
        C.plot_curves({run.name: hist["loss"]}, out / run.name / "loss.png", f"Loss ({run.name})", "loss",
                      logy=True),
    ]


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, seed=2017, out="out/xor_article",
                 epochs_help="training steps for every run (default: each run's own count, "
                             + ", ".join(f"{r.name} {r.epochs}" for r in RUNS) + ")")
    p.add_argument("--runs", default="all",
                   help="comma-separated run names, 'all' or 'none' (runs: " + ", ".join(r.name for r in RUNS) + ")")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict = {"files": []}

    w = worked_step(args.out)
    print_worked_step(w)
    print_derivation(w)
    result["worked"], result["matches_article"] = w, check_against_article(w)
    result["derivation_missing"] = missing_article_numbers(str(w["narration"]))
    chk = check_full_loss()
    result["full_loss"] = chk
    print(f"Full-batch loss (300 samples): ag.gradcheck of backward() against finite differences: "
          f"{'passed' if chk['gradcheck_passed'] else 'FAILED'}")
    print(f"  the article's hand-written dLoss/dW2 is {chk['hand_over_ours']:.0f}x backward()'s "
          f"(its 1/N is missing; its ridge gradient reg*sum(W**2) is wrong too)")
    if w["graph"] is not None:
        print(f"graph picture: {C.relpath(w['graph'])}")
        result["files"].append(w["graph"])
    else:
        print(w["graph_skipped"])

    wanted = [r for r in RUNS if args.runs == "all" or r.name in args.runs.split(",")]
    unknown = set(args.runs.split(",")) - {r.name for r in RUNS} - {"all", "none"}
    if unknown:
        p.error(f"unknown run(s): {', '.join(sorted(unknown))}")
    result["runs"] = {}
    histories = {}
    for run in wanted:
        epochs = args.epochs or run.epochs
        t1 = time.perf_counter()
        net, hist = train(run, epochs, args.seed, not args.no_progress)
        peak = float(hist["loss"][len(hist["loss"]) // 10:].max())
        files = plot_run(run, net, hist, args.out)
        if hist["recorder"] is not None:
            files.append(hist["recorder"].save(args.out / run.name / "training.html", depth=1,
                                               title=f"{run.name}: {run.note}"))
        result["files"] += files
        histories[run.name] = hist["loss"]
        result["runs"][run.name] = m = {"final_loss": float(hist["loss"][-1]), "accuracy": float(hist["accuracy"][-1]),
                                        "peak_loss_after_10pct": peak, "steps": epochs}
        C.summary(run.name, t1, steps=epochs, loss=m["final_loss"], accuracy=m["accuracy"],
                  peak_loss_after_10pct=peak)
        print(f"  {run.note}; plots: {', '.join(C.relpath(f) for f in files)}")
    fifty = {k: v for k, v in histories.items() if k.startswith("50-hidden")}
    if len(fifty) > 1:
        f = C.plot_curves(fifty, args.out / "50_hidden_loss.png", "50 hidden units: loss per step", "loss", logy=True)
        result["files"].append(f)
        print(f"comparison of the 50-hidden runs: {C.relpath(f)}")
    C.summary("xor_article", t0, article_numbers="match" if result["matches_article"] else "MISMATCH",
              runs=len(wanted), pictures=len(result["files"]))
    return result


if __name__ == "__main__":
    main()
