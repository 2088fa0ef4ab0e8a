"""Train the MNIST CNN here, export it to ONNX, and run it in ONNX Runtime: same predictions.

The graduation path of docs/interop.md: the LeNet of ``mnist_cnn.py`` trains for ``--epochs`` with Adam,
``ag.onnx.export`` writes ``model.onnx`` (batch axis dynamic, parameters named ``0.weight``, ...), and
ONNX Runtime (CPU) classifies the test images. The run reports the largest logit difference, whether every
prediction agrees, and both engines' inference time on the test set.

    python examples/export_onnx.py --out out/export_onnx
    python examples/export_onnx.py --data ../shared/data/mnist --epochs 3
"""

from __future__ import annotations

import time
from pathlib import Path

import _common as C
import numpy as np
from mnist_cnn import accuracy, images, make_model
from mnist_mlp import load_split_or_exit

import autograd_mini as ag
import nn


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int, seed: int,
          show: bool) -> list[float]:
    opt, loss_fn = nn.optim.Adam(model.parameters(), lr=lr), nn.CrossEntropyLoss()
    loader = nn.data.DataLoader(X, y.astype(np.int64), batch_size=batch, shuffle=True, seed=seed)
    losses = []
    for _ in C.progress(epochs, "train", show):
        total = 0.0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(X))
    return losses


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__.split("\n\n")[0], 3, 0, "out/export_onnx")
    p.add_argument("--data", type=Path, default=None, help="folder with MNIST IDX files (default: shipped sample)")
    p.add_argument("--train-samples", type=int, default=None, metavar="N",
                   help="train on the first N images only (default: all)")
    args = p.parse_args(argv)
    try:
        import onnxruntime as ort
    except ImportError:
        raise SystemExit(f'export_onnx: this example runs the model in ONNX Runtime: {ag.onnx.INSTALL}') from None
    t0 = time.perf_counter()
    (Xtr, ytr), (Xte, yte), _ = load_split_or_exit(args.data, "export_onnx")
    Itr, Ite = images(Xtr[:args.train_samples]), images(Xte)
    model = make_model(args.seed)
    losses = train(model, Itr, ytr[:args.train_samples], args.epochs, 1e-3, 64, args.seed, not args.no_progress)

    path = args.out / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ag.onnx.export(model, Ite[:2], path, input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    export_s = time.perf_counter() - t
    print(f"wrote {C.relpath(path)} ({path.stat().st_size / 1e3:.0f} kB, exported in {export_s:.2f} s)")

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    t = time.perf_counter()
    theirs = session.run(None, {"image": Ite})[0]
    ort_s = time.perf_counter() - t
    model.eval()
    t = time.perf_counter()
    with ag.no_grad():
        ours = np.concatenate([model(ag.tensor(Ite[i:i + 500])).data for i in range(0, len(Ite), 500)])
    ours_s = time.perf_counter() - t
    agree = bool((ours.argmax(1) == theirs.argmax(1)).all())
    diff = float(np.abs(ours - theirs).max())
    C.summary("export_onnx", t0, epochs=args.epochs, test_accuracy=accuracy(model, Ite, yte),
              onnx_test_accuracy=float((theirs.argmax(1) == yte).mean()), same_predictions=agree,
              max_logit_diff=f"{diff:.1e}", ours_seconds=ours_s, onnxruntime_seconds=ort_s)
    return {"losses": losses, "same_predictions": agree, "max_logit_diff": diff, "path": path,
            "export_seconds": export_s, "ours_seconds": ours_s, "onnxruntime_seconds": ort_s}


if __name__ == "__main__":
    main()
