"""XOR with ReLU, as in "How do neural networks work (Part 2)": the hand-written layers become nn modules.

1000 uniform points in the unit square, label 1 when exactly one coordinate is >= 0.5; a 2-64-1
network with ReLU (``nn.Linear``'s default init instead of the article's U(0, 1)); MSE; batches
of 5 in order; SGD with lr 0.01 for 300 epochs. Prints the error per epoch (the sum of the batch
MSEs, the article's number) and plots the predictions over the square.

    python examples/xor_relu.py --out out/xor_relu
"""

from __future__ import annotations

import time
from pathlib import Path

import _common as C
import numpy as np

import autograd_mini as ag
import nn


def xor_square(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in [0, 1)^2; label 1.0 when exactly one coordinate is >= 0.5 (float32: the models')."""
    X = np.random.default_rng(seed).random((n, 2))
    y = ((X[:, 0] < 0.5) != (X[:, 1] < 0.5)).astype(np.float32)
    return X.astype(np.float32), y[:, None]


def make_model(seed: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, 64, seed=seed), nn.ReLU(), nn.Linear(64, 1, seed=seed + 1))


def plot_predictions(model: nn.Module, X: np.ndarray, path: Path, title: str) -> Path:
    """The article's picture: every point coloured by the network's prediction."""
    with ag.no_grad():
        pred = model(ag.tensor(X)).data[:, 0]
    fig, ax = C.plt.subplots(figsize=(4.8, 4.2))
    sc = ax.scatter(X[:, 0], X[:, 1], c=pred, cmap="viridis", s=10, vmin=0, vmax=1)
    fig.colorbar(sc, ax=ax, label="prediction")
    ax.set(xlabel="x1", ylabel="x2", aspect="equal")
    ax.set_title(title, fontsize=10)
    return C.save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, epochs=300, seed=0, out="out/xor_relu")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--batch-size", type=int, metavar="N", default=5, help="batch size")
    p.add_argument("--log-every", type=int, default=10, metavar="N", help="print the error every N epochs")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    X, y = xor_square(seed=args.seed)
    model = make_model(args.seed)
    opt = nn.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    loader = nn.data.DataLoader(X, y, batch_size=args.batch_size)
    errors: list[float] = []
    bar = C.progress(args.epochs, "xor_relu", not args.no_progress)
    for epoch in bar:
        total = 0.0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        errors.append(total)
        bar.set_postfix(error=f"{total:.4f}")
        if epoch % args.log_every == 0 or epoch == args.epochs - 1:
            bar.write(f"Epoch {epoch}, error {total:.6f}")
    with ag.no_grad():
        pred = model(ag.tensor(X)).data
    acc = float(((pred > 0.5) == (y > 0.5)).mean())
    mae = float(np.abs(pred - y).mean())
    files = [plot_predictions(model, X, args.out / "predictions.png",
                              f"2-64-1 ReLU, {args.epochs} epochs: accuracy {acc:.3f}"),
             C.plot_curves({"error per epoch": errors}, args.out / "error.png", "Sum of batch MSEs per epoch",
                           "error", logy=True, xlabel="epoch")]
    for f in files:
        print(f"wrote {C.relpath(f)}")
    C.summary("xor_relu", t0, epochs=args.epochs, final_error=errors[-1] if errors else float("nan"),
              accuracy=acc, mean_abs_error=mae)
    return {"errors": errors, "accuracy": acc, "mean_abs_error": mae, "files": files}


if __name__ == "__main__":
    main()
