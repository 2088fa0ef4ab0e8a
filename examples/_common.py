"""Shared pieces of the examples: command line, progress bar, summary line, IDX reader, plots.

Importing this module also makes ``autograd_mini`` and ``nn`` importable when an example is run
from a fresh clone without ``pip install -e .`` (it puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

# The examples multiply small matrices, where BLAS threads only cost: on a busy 2-core machine a
# 32x784 @ 784x32 product took 60 ms with OpenBLAS's threads and 0.1 ms with one. Set before
# numpy loads (examples import this module first); an explicit setting in the environment wins, and
# a process that already loaded numpy (a test run importing the examples) is left alone.
if "numpy" not in sys.modules:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
try:  # a fresh clone, not installed: use the sources next to this folder
    import autograd_mini  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT))

__all__ = ["parser", "progress", "summary", "IdxError", "read_idx", "write_idx", "load_mnist", "plot_curves",
           "plot_decision_boundary", "save_figure", "relpath", "pyplot", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent / "data"


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only: no display needed, works on headless CI), imported on
    first use so that ``--help`` and the scripts without plots do not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def __getattr__(name: str) -> Any:  # ``C.plt``
    if name == "plt":
        return pyplot()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- command line ------------------------------------------------------------------------------
class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the docstring's line breaks; appends ``(default: X)`` to every option whose help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and not any(action.default is v for v in (None, False, argparse.SUPPRESS)) \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def parser(doc: str, epochs: int | None = None, seed: int | None = None, out: str | None = None,
           progress: bool = True, epochs_help: str = "training epochs") -> argparse.ArgumentParser:
    """The examples' shared command line: ``--help`` shows the script's purpose (the first paragraph of
    ``doc``, its docstring) and every flag with its default; an unknown flag is an error (exit code 2).

    ``--epochs``, ``--seed``, ``--out`` and ``--no-progress`` are added when the script takes them
    (``epochs`` may be ``None`` when ``epochs_help`` says what the default is).
    """
    p = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0], formatter_class=_Help,
                                allow_abbrev=False)
    if epochs is not None or epochs_help != "training epochs":
        p.add_argument("--epochs", type=int, default=epochs, metavar="N", help=epochs_help)
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help="random seed")
    if out is not None:
        p.add_argument("--out", type=Path, default=Path(out), metavar="DIR", help="folder for pictures and logs")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def progress(n: int, desc: str, enabled: bool = True, file: Any = None) -> Any:
    """A tqdm bar over ``range(n)``, redrawn at most 4 times a second whatever the loop does; off where its
    stream (``file``, default stderr) is not a terminal, so a log or a CI run gets no redraws.

    ``bar.set_postfix(loss=...)`` only records the values for the next redraw (tqdm's default
    redraws on every call: 600 frames for 600 epochs); the bar reads the clock every iteration,
    so a short run shows its progress as it goes instead of sitting at 0/N until the end.
    """
    from tqdm.auto import tqdm

    class Bar(tqdm):
        def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
            super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    stream = sys.stderr if file is None else file
    live = tqdm.__module__ == "tqdm.notebook" or getattr(stream, "isatty", lambda: False)()  # Jupyter: a widget
    return Bar(range(n), desc=desc, disable=not (enabled and live), leave=False, mininterval=0.25, miniters=1,
               dynamic_ncols=True, file=file)


def summary(name: str, start: float, **metrics: Any) -> str:
    """Print and return the one-line summary that ends every run: ``name: k=v ... (12.3 s)``."""
    parts = []
    for k, v in metrics.items():
        parts.append(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")
    line = f"{name}: " + " ".join(parts) + f" ({time.perf_counter() - start:.1f} s)"
    print(line, flush=True)
    return line


# ---- IDX files (the MNIST format) ---------------------------------------------------------------
class IdxError(ValueError):
    """An IDX file is missing, truncated or not what was expected; the message names the file."""


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped if it starts with gzip's magic bytes) into an ndarray.

    Layout: two zero bytes, a dtype code, the number of dimensions, one big-endian int32 per
    dimension, then the values. Raises ``IdxError`` naming the file and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise IdxError(f"{path}: no such file (expected an IDX file such as t10k-images-idx3-ubyte.gz)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise IdxError(f"{path}: gzip data is corrupt or truncated ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise IdxError(f"{path}: not an IDX file (expected magic bytes 00 00 <dtype code> <ndim>, "
                       f"got {raw[:4].hex(' ') or 'an empty file'})")
    ndim = raw[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise IdxError(f"{path}: IDX file has {ndim} dimension(s), expected {expect_ndim} "
                       f"({'images: count, rows, cols' if expect_ndim == 3 else 'labels: count'})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: truncated header (expected {header} bytes, got {len(raw)})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != need:
        raise IdxError(f"{path}: header says shape {shape} ({need} bytes of data), but the file has "
                       f"{len(raw) - header} bytes after the header (truncated or wrong file)")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file, gzipped when ``path`` ends in ``.gz`` (the inverse of ``read_idx``)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">i4").tobytes() + a.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return path


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise IdxError(f"{folder / (stem + '.gz')}: no such file (expected {stem} or {stem}.gz in {folder})")


def load_mnist(folder: str | Path, prefix: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28) uint8`` and labels ``(n,) uint8`` from ``{prefix}-images-idx3-ubyte[.gz]``
    and ``{prefix}-labels-idx1-ubyte[.gz]`` in ``folder`` (``prefix`` is ``train`` or ``t10k``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IdxError(f"{folder}: no such folder (expected a folder holding the MNIST IDX files)")
    img_path, lab_path = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(img_path, expect_ndim=3), read_idx(lab_path, expect_ndim=1)
    if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IdxError(f"{img_path}: expected uint8 images of 28x28 pixels, got {images.dtype} {images.shape[1:]}")
    if labels.dtype != np.uint8 or (labels.size and labels.max() > 9):
        raise IdxError(f"{lab_path}: expected uint8 labels 0-9, got {labels.dtype} up to {labels.max()}")
    if len(images) != len(labels):
        raise IdxError(f"{img_path} has {len(images)} images but {lab_path} has {len(labels)} labels "
                       "(expected the same count)")
    return images, labels


# ---- plots --------------------------------------------------------------------------------------
def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib figure as PNG (creating the folder) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_curves(curves: dict[str, Sequence[float]], path: Path, title: str, ylabel: str,
                logy: bool = False, xlabel: str = "step") -> Path:
    """One line per entry of ``curves`` against its step index."""
    fig, ax = pyplot().subplots(figsize=(5, 3.6))
    for label, ys in curves.items():
        ax.plot(np.arange(len(ys)), ys, label=label, lw=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, labels: np.ndarray,
                           path: Path, title: str, resolution: int = 200) -> Path:
    """Shade the class ``predict`` gives each point of a grid over ``X``, with the data on top."""
    pad = 0.5
    xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, resolution)
    ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, resolution)
    gx, gy = np.meshgrid(xs, ys)
    zz = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, ax = pyplot().subplots(figsize=(4.6, 4.2))
    ax.contourf(gx, gy, zz, levels=[-0.5, 0.5, 1.5], colors=["#a6cee3", "#fdbf6f"], alpha=0.8)
    for c, color, marker in ((0, "#1f78b4", "o"), (1, "#e6550d", "^")):
        m = labels == c
        ax.scatter(X[m, 0], X[m, 1], s=12, c=color, marker=marker, edgecolors="k", linewidths=0.3,
                   label=f"class {c}")
    ax.set(title=title, xlabel="x1", ylabel="x2")
    ax.legend(fontsize=8, loc="upper right")
    return save_figure(fig, path)


def relpath(p: Path) -> str:
    """``p`` relative to the working directory when it is below it (shorter printed paths)."""
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)
