"""Re-run the examples and write their numbers into docs/examples.md, so that the page cannot drift from the code.

Every fenced block (or text up to ``<!-- /numbers -->``) that follows a ``<!-- numbers: NAME -->`` line in
docs/examples.md (and the examples table in README.md) is replaced by what a fresh run prints, with the scripts'
default settings. The table's times are the CPU time of each script's runs (steadier than wall-clock time on a
busy machine); the times inside the outputs are the scripts' own wall-clock times.

    python examples/make_docs_numbers.py                   # re-run all examples (about 2 minutes), rewrite the page
    python examples/make_docs_numbers.py --check           # re-run; exit 1 and show the difference if the page is stale
    python examples/make_docs_numbers.py --only custom_op  # re-run some scripts; the other blocks stay as they are
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _common as C

EXAMPLES = Path(__file__).resolve().parent
DOCS = [EXAMPLES.parent / "docs" / "examples.md", EXAMPLES.parent / "docs" / "explain_backward.md",
        EXAMPLES.parent / "README.md"]
MARK = re.compile(r"^<!-- numbers: ([\w-]+) -->$")  # a fenced block follows, or lines up to END
END = "<!-- /numbers -->"
SUMMARY = re.compile(r"^([\w-]+): ((?:\w+=\S+ ?)+) \(([\d.]+) s\)$")
NO_PROGRESS = ["--no-progress"]

# script -> the runs whose output feeds the page (arguments after the script's name)
RUNS: dict[str, list[list[str]]] = {
    "xor_article": [["--out", "out/xor_article", *NO_PROGRESS]],
    "xor_relu": [["--out", "out/xor_relu", "--log-every", "100", *NO_PROGRESS]],
    "mnist_mlp": [["--out", "out/mnist_mlp", *NO_PROGRESS],
                  ["--loss", "mse", "--out", "out/mnist_mlp_mse", *NO_PROGRESS]],
    "mnist_cnn": [["--out", "out/mnist_cnn", *NO_PROGRESS]],
    "custom_op": [["--out", "out/custom_op", *NO_PROGRESS]],
    "compile_xor": [[]],
    "check_gradients": [[]],
    "visualize": [["--out", "out/visualize"]],
    "char_lm": [["--out", "out/char_lm", *NO_PROGRESS]],
    "export_onnx": [["--out", "out/export_onnx", *NO_PROGRESS]],
}
WHAT = {  # the table's "reproduces" column
    "xor_article": '"One LEGO at a Time" (2-3-2 sigmoid XOR)',
    "xor_relu": '"How do neural networks work (Part 2)" (2-64-1 ReLU)',
    "mnist_mlp": '"Neural network from scratch" (784-32-16-10)',
    "mnist_cnn": "LeNet on MNIST (`nn.Conv2d`, `nn.MaxPool2d`, Adam)",
    "custom_op": "a user-defined `ag.Function`",
    "compile_xor": "the XOR article's network under `ag.compile` (the numpy program it replays)",
    "check_gradients": "the article's hand-derived gradients",
    "visualize": "graph pictures",
    "char_lm": "makemore's path on 5,163 first names: bigram, Bengio et al.'s MLP, a small transformer",
    "export_onnx": "the graduation path: LeNet trained here, exported to ONNX, run in ONNX Runtime",
}


def summaries(lines: list[str]) -> list[dict[str, str]]:
    """The ``name: k=v ... (t s)`` lines that end the runs, as dicts (``name`` included)."""
    out = []
    for line in lines:
        m = SUMMARY.match(line)
        if m:
            out.append({"name": m[1], **dict(kv.split("=", 1) for kv in m[2].split())})
    return out


def pct(v: str) -> str:
    return f"{float(v) * 100:.1f} %"


def reaches(script: str, lines: list[str]) -> str:
    """The table's "reaches" cell, from what the script printed."""
    s = {d["name"]: d for d in summaries(lines)}
    if script == "xor_article":
        fixes = [float(s[k]["accuracy"]) for k in s if k.startswith("50-hidden-") and k != "50-hidden-lr100"]
        return (f"article's numbers to 8 decimals ({s['xor_article']['article_numbers']}); 3 hidden units "
                f"{pct(s['3-hidden']['accuracy'])}; 50 hidden units blow up at lr 100 "
                f"({pct(s['50-hidden-lr100']['accuracy'])}), fixed by each remedy "
                f"({pct(str(min(fixes)))}-{pct(str(max(fixes)))})")
    if script == "xor_relu":
        first = next(line.split("error ")[1] for line in lines if line.startswith("Epoch 0,"))
        r = s["xor_relu"]
        return f"error {float(first):.2f} -> {float(r['final_error']):.2f} over {r['epochs']} epochs, " \
               f"accuracy {pct(r['accuracy'])}"
    if script == "mnist_mlp":
        runs = {d["loss_fn"]: d for d in summaries(lines)}
        return (f"shipped sample: {pct(runs['ce']['test_accuracy'])} (cross-entropy), "
                f"{pct(runs['mse']['test_accuracy'])} (MSE) on the 400 test digits")
    if script == "mnist_cnn":
        r = s["mnist_cnn"]
        return (f"shipped sample: {pct(r['test_accuracy'])} on the {r['test_samples']} test digits after "
                f"{r['epochs']} epochs (the real t10k split: in docs/examples.md)")
    if script == "export_onnx":
        r = s["export_onnx"]
        agree = "every" if r["same_predictions"] == "True" else "NOT every"
        return (f"{agree} prediction on the 400 test digits agrees with ONNX Runtime's (largest logit difference "
                f"{r['max_logit_diff']}); test accuracy {pct(r['onnx_test_accuracy'])} after {r['epochs']} epochs")
    if script == "custom_op":
        r = s["custom_op"]
        return f"stable softplus passes `gradcheck`/`gradgradcheck` ({r['gradcheck']}); its net {pct(r['accuracy'])}"
    if script == "compile_xor":
        r = s["compile_xor"]  # (its speed-up varies from run to run: printed, not in the table)
        return f"{r['steps']} steps equal to eager bit for bit ({r['bitwise_equal']}); prints the program"
    if script == "check_gradients":
        ops = sorted(set(re.findall(r"`(\w+)` with inputs", "\n".join(lines))))
        return "gradcheck finds the wrong hand-derived gradients and names their ops: " + \
            ", ".join(f"`{o}`" for o in ops)
    if script == "visualize":
        n = sum(line.endswith((".svg", ".dot")) for line in lines)
        pages = [Path(line).name for line in lines if line.endswith(".html")]
        return (f"{n} graph pictures: before/after backward, per layer, a NaN traced to its source"
                + (f"; the explorer pages {', '.join(f'`{p}`' for p in pages)}" if pages else ""))
    if script == "char_lm":
        r = s["char_lm"]
        return (f"held-out nats/char: bigram {float(r['bigram']):.3f}, MLP {float(r['mlp_held_out']):.3f}, "
                f"transformer {float(r['transformer_held_out']):.3f}")
    raise KeyError(script)


def table(outputs: dict[str, list[str]], seconds: dict[str, float], old: list[str]) -> list[str]:
    """The examples table; rows of scripts that were not re-run are kept from ``old`` (the block's lines)."""
    kept = {m[1]: line for line in old if (m := re.match(r"^\| `(\w+)\.py` \|", line))}
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_") and p.stem in RUNS)
    words = {4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine", 10: "Ten"}
    rows = ["| script | reproduces | reaches | CPU time |", "| --- | --- | --- | --- |"]
    order = [s for s in RUNS if s in scripts]
    rows += [f"| `{s}.py` | {WHAT[s]} | {reaches(s, outputs[s])} | {seconds[s]:.{seconds[s] < 10:d}f} s |"
             if s in outputs else kept.get(s, f"| `{s}.py` | {WHAT[s]} | (not run yet) | |") for s in order]
    return [f"{words.get(len(order), len(order))} runnable scripts in `examples/` (this table is written by "
            "`examples/make_docs_numbers.py` from fresh runs with the default settings):", "", *rows]


def derivation(ls: list[str]) -> tuple[int, int]:
    """Where xor_article's generated derivation (ag.explain_backward's text) starts and ends in its output."""
    start = next(i for i, x in enumerate(ls) if x.startswith("The article's backward step, generated"))
    return start, next(i for i, x in enumerate(ls) if x.startswith("  (the article prints")) + 1


def trace(ls: list[str]) -> list[str]:
    """xor_article's worked step without the derivation (docs/explain_backward.md shows that)."""
    start, end = derivation(ls)
    ls = ls[:start - 1] + ls[end + 1:]
    return ls[:next(i for i, x in enumerate(ls) if x.startswith(("graph picture", "graph skipped", "note:"))) + 1]


BLOCKS: dict[str, tuple[str, Callable[[list[str]], list[str]]]] = {  # block name -> (script, lines it shows)
    "xor_article-trace": ("xor_article", trace),
    "xor_article-derivation": ("xor_article", lambda ls: ls[derivation(ls)[0] + 2:derivation(ls)[1] - 1]),
    "xor_article-runs": ("xor_article", lambda ls: [x for x in ls if SUMMARY.match(x)]),
    "xor_relu": ("xor_relu", lambda ls: [x for x in ls if x.startswith("Epoch ") or SUMMARY.match(x)]),
    "mnist_mlp": ("mnist_mlp", lambda ls: [x for x in ls if SUMMARY.match(x)]),
    "custom_op": ("custom_op", lambda ls: [x for x in ls if not x.startswith("wrote ")]),
    "mnist_mlp-real": ("mnist_mlp-real", lambda ls: [x for x in ls if x.startswith("data:") or SUMMARY.match(x)]),
}


def run_all(runs: dict[str, list[list[str]]], hide: str = "", outdir: str = "out") -> tuple[dict, dict]:
    """Each script's printed lines (``hide``, a data path, shown as DIR) and wall-clock seconds, run from the
    repository root as the page shows them (pictures go to out/, as when you run them)."""
    outputs, seconds = {}, {}
    for script, arg_lists in runs.items():
        outputs[script], t0 = [], _cpu_seconds()
        for args in arg_lists:
            args = [a.replace("out/", f"{outdir}/", 1) if a.startswith("out/") else a for a in args]
            cmd = [sys.executable, f"examples/{script.split('-')[0]}.py", *args]  # as the page shows it
            print("running", " ".join([f"examples/{script.split('-')[0]}.py", *args]), flush=True)
            done = subprocess.run(cmd, cwd=EXAMPLES.parent, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"make_docs_numbers: examples/{script}.py failed:\n{done.stderr[-3000:]}")
            outputs[script] += done.stdout.replace(hide, "DIR").splitlines() if hide else done.stdout.splitlines()
        seconds[script] = _cpu_seconds() - t0
    return outputs, seconds


def _cpu_seconds() -> float:
    """CPU time used by finished child processes (wall-clock time where ``resource`` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return time.perf_counter()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def render(doc: str, outputs: dict[str, list[str]], seconds: dict[str, float]) -> str:
    """``doc`` with every marked block whose script was run replaced by fresh lines."""
    lines, out, i = doc.splitlines(), [], 0
    while i < len(lines):
        out.append(lines[i])
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        name = m[1]
        fenced = lines[i].startswith("```")
        end = lines.index("```", i + 1) + 1 if fenced else lines.index(END, i)  # END itself is kept
        if name == "table":
            out += table(outputs, seconds, lines[i:end])
        elif name in BLOCKS and BLOCKS[name][0] in outputs:
            out += ["```", *BLOCKS[name][1](outputs[BLOCKS[name][0]]), "```"]
        else:
            out += lines[i:end]
        i = end
    return "\n".join(out) + "\n"


def untimed(text: str) -> str:
    """The page without run times, which differ from run to run."""
    return re.sub(r"\| [\d.]+ s \|$|\(\d+(?:\.\d+)? s\)", "(time)", text, flags=re.M)


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__, progress=False)
    p.add_argument("--check", action="store_true", help="compare with docs/examples.md instead of rewriting it")
    p.add_argument("--only", nargs="+", choices=list(RUNS), metavar="SCRIPT",
                   help=f"re-run only these scripts (default: all of {', '.join(RUNS)})")
    p.add_argument("--outdir", default="out", metavar="DIR", help="where the examples write their pictures")
    p.add_argument("--mnist", type=Path, metavar="DIR",
                   help="also re-run mnist_mlp.py on the real MNIST files in DIR (default: keep that block as it is)")
    args = p.parse_args(argv)
    runs = {k: v for k, v in RUNS.items() if not args.only or k in args.only}
    if args.mnist:
        runs["mnist_mlp-real"] = [["--data", str(args.mnist.resolve()), "--epochs", "10", *NO_PROGRESS]]
    outputs, seconds = run_all(runs, hide=str(args.mnist.resolve()) if args.mnist else "", outdir=args.outdir)
    stale = 0
    for doc in DOCS:
        old = doc.read_text(encoding="utf-8")
        new = render(old, outputs, seconds)
        name = doc.relative_to(EXAMPLES.parent).as_posix()
        if args.check:
            diff = list(difflib.unified_diff(untimed(old).splitlines(), untimed(new).splitlines(), name, "fresh runs",
                                             lineterm=""))
            print("\n".join(diff) if diff else f"{name} matches fresh runs")
            stale += bool(diff)
        elif new != old:
            doc.write_text(new, encoding="utf-8")
            print(f"wrote {name}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
