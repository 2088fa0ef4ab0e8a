"""MNIST digits with the 784-32-16-10 ReLU/softmax network of "Neural network from scratch".

Trains with cross-entropy (``--loss ce``, default) or with the article's MSE on the softmax
output (``--loss mse``), mini-batch SGD with momentum, and reports test accuracy.

Data: ``--data DIR`` reads the standard MNIST IDX files, gzipped or not. With
``train-images-idx3-ubyte`` there, it trains on train-* and tests on t10k-*; with only the
t10k-* files it trains on the first 8,000 and tests on the last 2,000. Without ``--data`` it
uses the 2,000-digit sample in ``examples/data/mnist_sample`` (first 1,600 train, last 400 test).

    python examples/mnist_mlp.py --out out/mnist_mlp
    python examples/mnist_mlp.py --data ~/mnist --epochs 10
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import _common as C
import numpy as np

import autograd_mini as ag
import nn

SAMPLE = C.DATA_DIR / "mnist_sample"


def load_split_or_exit(data: Path | None, prog: str) -> tuple:
    """``load_split`` for a command line: a bad IDX file ends the run with its message (exit code 2);
    prints which data is used."""
    try:
        split = load_split(data)
    except C.IdxError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"data: {split[2]}")
    return split


def load_split(data: Path | None) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """``(train images, labels), (test images, labels), description`` as uint8 arrays."""
    if data is None:
        X, y = C.load_mnist(SAMPLE, "sample")
        return (X[:1600], y[:1600]), (X[1600:], y[1600:]), f"shipped sample {C.relpath(SAMPLE)}: 1,600 train / 400 test"
    data = Path(data).expanduser()
    has_train = any((data / n).is_file() for n in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"))
    if has_train:
        train, test = C.load_mnist(data, "train"), C.load_mnist(data, "t10k")
        return train, test, f"{data}: train-* ({len(train[0])}) / t10k-* ({len(test[0])})"
    X, y = C.load_mnist(data, "t10k")
    cut = len(X) * 4 // 5
    return (X[:cut], y[:cut]), (X[cut:], y[cut:]), f"{data}: t10k-* only, first {cut} train / last {len(X) - cut} test"


def make_model(seed: int) -> nn.Module:
    """784-32-16-10 with ReLU; the softmax is in the loss (cross-entropy) or applied for MSE."""
    return nn.Sequential(nn.Linear(784, 32, seed=seed), nn.ReLU(), nn.Linear(32, 16, seed=seed + 1), nn.ReLU(),
                         nn.Linear(16, 10, seed=seed + 2))


def features(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with ag.no_grad():
        return float((model(ag.tensor(X)).data.argmax(1) == y).mean())


def plot_predictions(model: nn.Module, images: np.ndarray, labels: np.ndarray, path: Path,
                     prepare: Callable[[np.ndarray], np.ndarray] = features) -> Path:
    """The first 24 test digits, each titled with prediction (and the truth when wrong); ``prepare`` makes the
    model's input from uint8 images."""
    with ag.no_grad():
        pred = model(ag.tensor(prepare(images[:24]))).data.argmax(1)
    fig, axes = C.plt.subplots(3, 8, figsize=(8, 3.4))
    for ax, img, p, t in zip(axes.ravel(), images, pred, labels):
        ax.imshow(img, cmap="gray_r")
        ax.set_title(f"{p}" if p == t else f"{p} (is {t})", fontsize=9, color="black" if p == t else "red")
        ax.axis("off")
    fig.suptitle("Predictions on test digits (red: wrong)", fontsize=10)
    return C.save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, epochs=30, seed=0, out="out/mnist_mlp")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="folder with the MNIST IDX files "
                        "(default: the 2,000-digit sample in examples/data)")
    p.add_argument("--loss", choices=["ce", "mse"], default="ce",
                   help="cross-entropy, or the article's MSE on the softmax output")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 for ce, 0.5 for mse)")
    p.add_argument("--batch-size", type=int, metavar="N", default=32, help="batch size")
    p.add_argument("--compile", action="store_true",
                   help="run the training step under ag.compile (the same numbers, bit for bit; docs/compile.md)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    (Xtr, ytr), (Xte, yte), desc = load_split_or_exit(args.data, "mnist_mlp")
    Ftr, Fte = features(Xtr), features(Xte)
    lr = args.lr or (0.05 if args.loss == "ce" else 0.5)
    model = make_model(args.seed)
    opt = nn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    ce, mse, onehot = nn.CrossEntropyLoss(), nn.MSELoss(), np.eye(10, dtype=np.float32)
    loader = nn.data.DataLoader(Ftr, ytr.astype(np.int64), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    losses, test_accs = [], []

    def train_step(xb: ag.Tensor, target: ag.Tensor) -> ag.Tensor:
        logits = model(xb)
        # The article's loss: squared error between softmax(logits) and the one-hot label.
        loss = ce(logits, target) if args.loss == "ce" else mse(ag.softmax(logits, axis=1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = ag.compile(train_step) if args.compile else train_step
    bar = C.progress(args.epochs, f"mnist ({args.loss})", not args.no_progress)
    for _ in bar:
        total, n = 0.0, 0
        for xb, yb in loader:
            loss = step(xb, yb if args.loss == "ce" else ag.tensor(onehot[yb.data]))
            total, n = total + loss.item() * len(xb), n + len(xb)
        losses.append(total / n)
        test_accs.append(accuracy(model, Fte, yte))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", test_acc=f"{test_accs[-1]:.3f}")
    train_acc, test_acc = accuracy(model, Ftr, ytr), accuracy(model, Fte, yte)
    files = [C.plot_curves({"train loss": losses}, args.out / "loss.png", f"784-32-16-10, {args.loss} loss", "loss",
                           xlabel="epoch"),
             C.plot_curves({"test accuracy": test_accs}, args.out / "accuracy.png", "Test accuracy per epoch",
                           "accuracy", xlabel="epoch"),
             plot_predictions(model, Xte, yte, args.out / "predictions.png")]
    for f in files:
        print(f"wrote {C.relpath(f)}")
    C.summary("mnist_mlp", t0, loss_fn=args.loss, epochs=args.epochs, train_samples=len(Xtr), test_samples=len(Xte),
              final_loss=losses[-1] if losses else float("nan"), train_accuracy=train_acc, test_accuracy=test_acc)
    return {"losses": losses, "test_accuracies": test_accs, "train_accuracy": train_acc, "test_accuracy": test_acc,
            "files": files, "data": desc}


if __name__ == "__main__":
    main()
