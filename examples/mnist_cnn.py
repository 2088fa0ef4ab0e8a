"""MNIST digits with a LeNet-style CNN: two 5x5 convolutions with max pooling, then three dense layers.

conv(1->6, 5x5, pad 2) - ReLU - maxpool 2 - conv(6->16, 5x5) - ReLU - maxpool 2 - 400-120-84-10, trained
with cross-entropy and Adam (lr 1e-3, batch 64), as the usual PyTorch LeNet. Reports held-out accuracy,
wall and CPU time, and writes the loss and accuracy curves, predictions and the learned first-layer filters.

Data as in ``mnist_mlp.py``: ``--data DIR`` reads MNIST IDX files (with only the t10k-* files: first 8,000
train, last 2,000 test); without it, the shipped 2,000-digit sample (1,600 train / 400 test).

    python examples/mnist_cnn.py --out out/mnist_cnn
    python examples/mnist_cnn.py --data ../shared/data/mnist --epochs 10
"""

from __future__ import annotations

import time
from pathlib import Path

import _common as C
import numpy as np
from mnist_mlp import load_split_or_exit, plot_predictions

import autograd_mini as ag
import nn


def make_model(seed: int) -> nn.Module:
    """LeNet-5 as PyTorch users write it (ReLU and max pooling), PyTorch's default init."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, seed=seed + 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120, seed=seed + 2), nn.ReLU(), nn.Linear(120, 84, seed=seed + 3), nn.ReLU(),
        nn.Linear(84, 10, seed=seed + 4))


def images(x: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28) in [0, 1]."""
    return x.reshape(len(x), 1, 28, 28).astype(np.float32) / 255.0


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
    """Accuracy in eval mode, in batches (an im2col of 10,000 images at once would take 0.8 GB)."""
    model.eval()
    with ag.no_grad():
        pred = np.concatenate([model(ag.tensor(X[i:i + batch])).data.argmax(1) for i in range(0, len(X), batch)])
    model.train()
    return float((pred == y).mean()) if len(y) else float("nan")


def plot_filters(conv: nn.Conv2d, path: Path) -> Path:
    """The first convolution's 5x5 kernels, one image each."""
    w = conv.weight.data[:, 0]
    fig, axes = C.plt.subplots(1, len(w), figsize=(1.3 * len(w), 1.6))
    for i, (ax, k) in enumerate(zip(np.atleast_1d(axes), w)):
        ax.imshow(k, cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
        ax.set_title(f"filter {i}", fontsize=8)
        ax.axis("off")
    fig.suptitle("Learned first-layer filters", fontsize=9)
    return C.save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__.split("\n\n")[0], 10, 0, "out/mnist_cnn")
    p.add_argument("--data", type=Path, default=None, help="folder with MNIST IDX files (default: shipped sample)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--compile", action="store_true",
                   help="run the training step under ag.compile (the same numbers, bit for bit; docs/compile.md)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    (Xtr, ytr), (Xte, yte), desc = load_split_or_exit(args.data, "mnist_cnn")
    Itr, Ite = images(Xtr), images(Xte)
    model = make_model(args.seed)
    opt = nn.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    loader = nn.data.DataLoader(Itr, ytr.astype(np.int64), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    losses, test_accs = [], []

    def train_step(xb: ag.Tensor, yb: ag.Tensor) -> ag.Tensor:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = ag.compile(train_step) if args.compile else train_step
    t_train, cpu0 = time.perf_counter(), time.process_time()  # training and the per-epoch test evaluations
    bar = C.progress(args.epochs, "mnist cnn", not args.no_progress)
    for _ in bar:
        total, n = 0.0, 0
        for xb, yb in loader:
            loss = step(xb, yb)
            total, n = total + loss.item() * len(xb), n + len(xb)
        losses.append(total / n)
        test_accs.append(accuracy(model, Ite, yte))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", test_acc=f"{test_accs[-1]:.4f}")
    train_s, train_cpu_s = time.perf_counter() - t_train, time.process_time() - cpu0
    train_acc, test_acc = accuracy(model, Itr, ytr), test_accs[-1] if test_accs else accuracy(model, Ite, yte)
    files = [C.plot_curves({"train loss": losses}, args.out / "loss.png", "LeNet, cross-entropy", "loss",
                           xlabel="epoch"),
             C.plot_curves({"test accuracy": test_accs}, args.out / "accuracy.png", "Test accuracy per epoch",
                           "accuracy", xlabel="epoch"),
             plot_predictions(model, Xte, yte, args.out / "predictions.png", prepare=images),
             plot_filters(model[0], args.out / "filters.png")]
    for f in files:
        print(f"wrote {C.relpath(f)}")
    C.summary("mnist_cnn", t0, epochs=args.epochs, train_samples=len(Xtr), test_samples=len(Xte),
              final_loss=losses[-1] if losses else float("nan"), train_accuracy=train_acc, test_accuracy=test_acc,
              train_seconds=train_s, train_cpu_seconds=train_cpu_s)
    return {"losses": losses, "test_accuracies": test_accs, "train_accuracy": train_acc, "test_accuracy": test_acc,
            "train_seconds": train_s, "train_cpu_seconds": train_cpu_s, "files": files, "data": desc}


if __name__ == "__main__":
    main()
