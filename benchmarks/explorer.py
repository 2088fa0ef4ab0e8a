"""The graph explorer on big graphs: time to build the page in Python, its file size, and, in headless
Chromium, the time until it is ready (from navigation start; of which drawing the SVG) and the time of a hover,
two backward-slider moves and two search edits.

    python benchmarks/explorer.py                 # the XOR net, a 2,000-op chain, a 10,000-op chain cut to 2,000
    python benchmarks/explorer.py --smoke         # small graphs only (seconds)
    python benchmarks/explorer.py --no-browser    # Python side only

Python times use the process CPU clock (robust on a loaded machine); browser times are the page's own
performance.now(), median of 3. Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

import autograd_mini as ag  # noqa: E402
import nn  # noqa: E402
from autograd_mini import viz  # noqa: E402


def xor_graph() -> ag.Tensor:
    model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=np.float64, seed=0), nn.Sigmoid(),
                          nn.Linear(3, 2, bias=False, dtype=np.float64, seed=1), nn.Sigmoid())
    x = ag.tensor(np.random.RandomState(0).randn(300, 2))
    return (model(x) ** 2).mean()


def chain(n_ops: int) -> ag.Tensor:
    """``tanh(h @ W_k + 0.1)`` repeated, 10 shared weights: 3 ops per step (the docs' large-graph case)."""
    h = ag.tensor(np.random.RandomState(0).randn(8, 16), requires_grad=True)
    ws = [ag.tensor(np.eye(16) * 0.5, requires_grad=True) for _ in range(10)]
    for k in range(n_ops // 3):
        h = ag.tanh(h @ ws[k % 10] + 0.1)
    return h.sum()


def build(root: ag.Tensor, path: Path, max_nodes: int | None) -> tuple[float, int, str]:
    t0 = time.process_time()
    viz.save(root, path, max_nodes=max_nodes)
    return time.process_time() - t0, path.stat().st_size, _layout_of(path)


def _layout_of(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    i = text.index('"layout":"') + 10
    return text[i:text.index('"', i)]


BROWSER_JS = {
    "hover": "const e = document.querySelector('g.node:last-of-type'); const t = performance.now(); "
             "e.dispatchEvent(new MouseEvent('mouseenter')); e.dispatchEvent(new MouseEvent('mouseleave')); "
             "return performance.now() - t;",
    "slider": "const s = document.getElementById('bstep'); const t = performance.now(); "
              "s.value = Math.floor(s.max / 2); s.dispatchEvent(new Event('input')); "
              "s.value = s.max; s.dispatchEvent(new Event('input')); return performance.now() - t;",
    "search": "const s = document.getElementById('search'); const t = performance.now(); s.value = 'tanh'; "
              "s.dispatchEvent(new Event('input')); s.value = ''; s.dispatchEvent(new Event('input')); "
              "return performance.now() - t;",
}


def in_browser(b, path: Path) -> dict:
    from _browser import open_page

    out: dict = {"load": [], "draw": [], **{k: [] for k in BROWSER_JS}}
    for _ in range(3):
        open_page(b, path)
        out["load"].append(b.execute_script("return performance.now()"))
        out["draw"].append(float(b.execute_script("return document.body.dataset.drawMs")))
        for k, script in BROWSER_JS.items():
            out[k].append(b.execute_script(script))
    return {k: statistics.median(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="small graphs only")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium columns")
    args = p.parse_args(argv)
    cases = [("XOR 2-3-2 net", xor_graph, None), ("chain, 300 ops", lambda: chain(300), None)]
    if not args.smoke:
        cases += [("chain, 2,000 ops", lambda: chain(2000), None),
                  ("chain, 10,000 ops, max_nodes=2000", lambda: chain(10_000), 2000)]
    browser = None
    if not args.no_browser:
        import pytest
        from _browser import start_browser
        try:
            browser = start_browser()
        except pytest.skip.Exception as e:
            print(f"no browser columns: {e}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, max_nodes in cases:
            root = make()
            path = Path(tmp) / "page.html"
            secs, size, engine = build(root, path, max_nodes if max_nodes else 2000)
            row = [name, f"{secs:.2f} s", f"{size / 1e6:.2f} MB", engine]
            if browser is not None:
                r = in_browser(browser, path)
                row += [f"{r['load'] / 1e3:.2f} s"] + [f"{r[k]:.0f} ms" for k in ("draw", "hover", "slider", "search")]
            rows.append(row)
    if browser is not None:
        from _browser import stop_browser
        stop_browser(browser)
    head = ["graph", "build (CPU)", "file", "layout"]
    if browser is not None:
        head += ["ready in Chromium", "of which drawing", "hover", "backward slider x2", "search x2"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
