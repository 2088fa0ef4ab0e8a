"""Draw computation graphs: the XOR article's 2-3-2 sigmoid network before and after a backward step, the
same network collapsed to one node per layer, and a model whose loss turns NaN, with the NaN's source marked.
Also writes the interactive explorer pages graph.html (the graph, the backward pass step by step) and
training.html (gradient norms over 300 training steps); open them in a browser.

    python examples/visualize.py --out out/visualize

Writes SVG files (or DOT files where Graphviz's `dot` is not installed) and the two HTML pages, and prints
their paths.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when run by path (runpy) from elsewhere
import _common as C  # noqa: E402  (first: puts the repository on sys.path in a fresh clone)
import numpy as np  # noqa: E402

import autograd_mini as ag  # noqa: E402
import nn  # noqa: E402
from autograd_mini import viz  # noqa: E402


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The article's 300 points; the label is the XOR of the signs of the two columns, one-hot."""
    X = np.random.RandomState(0).randn(300, 2)
    label = (X[:, 0] > 0) ^ (X[:, 1] > 0)
    return X, np.eye(2)[label.astype(int)]


def xor_network(final_sigmoid: bool = True) -> nn.Sequential:
    """2-3-2 with sigmoids and no biases; weights from np.random.seed(2017) as in the article."""
    np.random.seed(2017)
    w1, w2 = 2 * np.random.random((2, 3)) - 1, 2 * np.random.random((3, 2)) - 1
    f64 = np.float64
    layers = [nn.Linear(2, 3, bias=False, dtype=f64), nn.Sigmoid(), nn.Linear(3, 2, bias=False, dtype=f64)]
    model = nn.Sequential(*layers, *([nn.Sigmoid()] if final_sigmoid else []))
    model[0].weight.data = w1 / np.sqrt(2)
    model[2].weight.data = w2 / np.sqrt(3)
    return model


def write(graph: object, path: Path) -> Path:
    """SVG through Graphviz's `dot`; the DOT source instead where `dot` is missing."""
    try:
        return viz.save(graph, path)
    except viz.GraphvizNotFoundError as e:
        print(f"note: {e}", file=sys.stderr)
        return viz.save(graph, path.with_suffix(".dot"))


def explorer_pages(out: Path, x: ag.Tensor, y: ag.Tensor) -> list[Path]:
    """graph.html: the network with each op's file:line and the backward pass in the engine's order;
    training.html: 300 steps of plain gradient descent, one slider step per training step."""
    named = {"X": x, "Y": y}
    model = xor_network()
    with viz.recording() as rec:
        loss = ((model(x) - y) ** 2).sum() * (0.5 / len(x))
        loss.backward()
    pages = [viz.save(loss, out / "graph.html", recording=rec, params=named)]
    model = xor_network()
    opt = nn.optim.SGD(model.parameters(), lr=10.0)
    recorder = viz.TrainingRecorder(model)
    for _ in range(300):
        loss = ((model(x) - y) ** 2).sum() * (0.5 / len(x))
        opt.zero_grad()
        loss.backward()
        recorder.record(loss)
        opt.step()
    pages.append(recorder.save(out / "training.html", params=named, title="XOR 2-3-2, SGD lr=10"))
    return pages


def main(argv: list[str] | None = None) -> None:
    args = C.parser(__doc__, out="out/visualize", progress=False).parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    X, Y = xor_data()
    x, y = ag.tensor(X), ag.tensor(Y)

    # 1. The forward graph: one cluster per module, the weights inside their Linear, value statistics.
    model = xor_network()
    loss = ((model(x) - y) ** 2).sum() * (0.5 / len(X))
    paths = [write(ag.draw_graph(loss, params={"X": x, "Y": y}, show_values=True), args.out / "xor_forward.svg")]

    # 2. After a backward step: capture_grads is loss.backward() that also keeps every intermediate gradient.
    grads = viz.capture_grads(loss)
    paths.append(write(ag.draw_graph(loss, params={"X": x, "Y": y}, grads=grads), args.out / "xor_gradients.svg"))
    # ... and the same with each layer collapsed into one node (modules below depth 1).
    paths.append(write(ag.draw_graph(loss, params={"X": x, "Y": y}, grads=grads, depth=1),
                       args.out / "xor_layers.svg"))
    print(viz.to_text(loss, params={"X": x, "Y": y}, grads=grads))

    # 3. A NaN: the last sigmoid forgotten, the hand-written cross entropy takes the log of negative scores.
    model = xor_network(final_sigmoid=False)
    with np.errstate(invalid="ignore"):
        scores = model(x)
        loss = -(y * scores.log()).sum() * (1 / len(X))
        grads = viz.capture_grads(loss)
    paths.append(write(ag.draw_graph(loss, params={"X": x, "Y": y}, grads=grads), args.out / "nan_source.svg"))
    paths += explorer_pages(args.out, x, y)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
