"""Re-run the examples and write their numbers into docs/examples.md, so that the page cannot drift from the code.

Every fenced block (or text up to ``<!-- /numbers -->``) that follows a ``<!-- numbers: NAME -->`` line in
docs/examples.md (and the examples table in README.md) is replaced by what a fresh run prints, with the scripts'
default settings. The table's times are the CPU time of each script's runs (steadier than wall-clock time on a
busy machine); the times inside the outputs are the scripts' own wall-clock times.

    python examples/make_docs_numbers.py                   # re-run all examples (about 6 minutes), rewrite the page
    python examples/make_docs_numbers.py --check           # re-run; exit 1 and show what is out of tolerance
    python examples/make_docs_numbers.py --only custom_op  # re-run some scripts; the other blocks stay as they are
    python examples/make_docs_numbers.py --seeds 5         # the seed-dependent scripts over seeds 0-4: the spread

The page's numbers come from one machine (the ``machine`` block says which CPU, numpy and BLAS). Elsewhere a run
is reproducible to the last digit only where no BLAS rounding feeds a long training; ``--check`` therefore
compares every number with the page's within ``TOLERANCE`` (set from the spread over seeds, which a change of
BLAS or CPU resembles: the trajectory diverges and lands elsewhere in the same distribution), and ignores times.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _common as C
import numpy as np

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
    "compile_xor": [["--out", "out/compile_xor"]],
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


# How far a number on the page may be from a fresh run elsewhere (--check): script -> (rtol, atol, per-key
# overrides for k=v fields). The swept scripts' bounds are about 4 standard deviations of the spread over seeds
# 0-4 (docs/examples.md); the others' (no sweep: 34 s to 235 s a run) are estimates of the same size. A script
# not listed must agree to 1e-6; times (and k=v fields named *seconds) are never compared.
TOLERANCE: dict[str, tuple[float, float, dict[str, tuple[float, float]]]] = {
    "mnist_mlp": (0.1, 0.0, {"final_loss": (0.0, 0.3), "train_accuracy": (0.0, 0.09)}),  # test sd 0.023 (ce)
    "mnist_cnn": (0.07, 0.0, {"final_loss": (0.0, 0.12)}),                                # test sd 0.016
    "custom_op": (0.03, 0.01, {"final_loss": (0.0, 0.03)}),                               # accuracy sd 0.007
    "xor_article": (0.05, 0.01, {"peak_loss_after_10pct": (0.0, 0.2)}),  # estimates (no sweep): lr-100 runs
    # are chaotic, their peak loss read 0.376 on the first page and 0.260 on the second, same seed, other machine
    "xor_relu": (0.05, 0.01, {"final_error": (0.5, 0.5)}),
    "mnist_mlp-real": (0.02, 0.0, {"final_loss": (0.5, 0.0)}),
    "char_lm": (0.02, 0.0, {}),        # nats/char averaged over 1,000 held-out names
}
SEEDED = ["mnist_mlp", "mnist_cnn", "custom_op"]  # the sweep's scripts (their default runs, --seed S): the quick ones
NUMBER = re.compile(r"(?:(\w+)=)?(?<![\w.])(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


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
        return (f"{r['steps']} steps equal to eager bit for bit ({r['bitwise_equal']}); prints the program, "
                "writes program.html")
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
    rows = ["| script | reproduces | reaches | CPU time here (x mnist_mlp's) |", "| --- | --- | --- | --- |"]
    order = [s for s in RUNS if s in scripts]
    rows += [f"| `{s}.py` | {WHAT[s]} | {reaches(s, outputs[s])} | {cpu_time(s, seconds)} |"
             if s in outputs else kept.get(s, f"| `{s}.py` | {WHAT[s]} | (not run yet) | |") for s in order]
    return [f"{words.get(len(order), len(order))} runnable scripts in `examples/` (this table is written by "
            "`examples/make_docs_numbers.py` from fresh runs with the default settings):", "", *rows]


def cpu_time(script: str, seconds: dict[str, float]) -> str:
    """A script's CPU time here, and as a multiple of mnist_mlp's (a ratio that carries to another machine)."""
    t, ref = seconds[script], seconds.get("mnist_mlp")
    return f"{t:.{t < 10:d}f} s" + (f" ({t / ref:.{t < ref:d}f}x)" if ref and script != "mnist_mlp" else "")


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
            shown = done.stdout.replace(f"{outdir}/", "out/")  # the page shows the default --out
            outputs[script] += (shown.replace(hide, "DIR") if hide else shown).splitlines()
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


def render(doc: str, outputs: dict[str, list[str]], seconds: dict[str, float],
           extra: dict[str, list[str]] | None = None) -> str:
    """``doc`` with every marked block whose script was run replaced by fresh lines (``extra``: other blocks'
    new lines by name)."""
    extra = extra or {}
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
        elif name in extra:
            out += extra[name]
        elif name in BLOCKS and BLOCKS[name][0] in outputs:
            out += ["```", *BLOCKS[name][1](outputs[BLOCKS[name][0]]), "```"]
        else:
            out += lines[i:end]
        i = end
    return "\n".join(out) + "\n"


def untimed(text: str) -> str:
    """The page without run times, which differ from run to run and machine to machine."""
    return re.sub(r"\| [\d.]+ s(?: \([\d.]+x\))? \|$|\(\d+(?:\.\d+)? s\)", "(time)", text, flags=re.M)


def _script_of(block: str, line: str) -> str:
    """Which script a line of a marked block reports (table rows name theirs)."""
    if block == "table":
        m = re.match(r"^\| `(\w+)\.py` \|", line)
        return m[1] if m else ""
    return BLOCKS[block][0] if block in BLOCKS else block


def _blocks(text: str) -> dict[str, list[str]]:
    """The marked blocks' lines, by block name."""
    lines, out = text.splitlines(), {}
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if m and m[1] not in ("machine", "spread"):  # where and how: not numbers a run reproduces
            fenced = lines[i + 1].startswith("```")
            end = lines.index("```", i + 2) + 1 if fenced else lines.index(END, i + 1)
            out[m[1]] = [x for x in untimed("\n".join(lines[i + 1:end])).splitlines()]
    return out


def out_of_tolerance(old: str, new: str) -> list[str]:
    """Lines of the fresh page whose text differs from the old page's, or whose numbers are further from the
    old ones than ``TOLERANCE`` allows (times ignored)."""
    problems = []
    fresh = _blocks(new)
    for block, old_lines in _blocks(old).items():
        new_lines = fresh.get(block, [])
        if len(new_lines) != len(old_lines):
            problems.append(f"{block}: {len(old_lines)} lines on the page, {len(new_lines)} in the fresh run")
            continue
        for a, b in zip(old_lines, new_lines):
            if NUMBER.sub("#", a) != NUMBER.sub("#", b):
                problems.append(f"{block}: text differs\n  page:  {a}\n  fresh: {b}")
                continue
            rtol, atol, keys = TOLERANCE.get(_script_of(block, a), (1e-6, 0.0, {}))
            for (key, x), (_, y) in zip(NUMBER.findall(a), NUMBER.findall(b)):
                if key.endswith("seconds"):
                    continue
                r, t = keys.get(key, (rtol, atol))
                if abs(float(x) - float(y)) > t + r * abs(float(x)):
                    problems.append(f"{block}: {key or 'a number'} {y} is not {x} within rtol {r}, atol {t}\n"
                                    f"  page:  {a}\n  fresh: {b}")
    return problems


def machine() -> list[str]:
    """Where the page's numbers were taken: CPU, cores, numpy and its BLAS."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    load = f", load average {os.getloadavg()[0]:.0f} while it ran" if hasattr(os, "getloadavg") else ""
    return [f"Numbers taken on {cpu} ({os.cpu_count()} cores{load}), {platform.system()}, Python "
            f"{platform.python_version()}, numpy {np.__version__} with {blas.get('name', 'an unknown BLAS')} "
            f"{blas.get('version', '')}, one BLAS thread; `--check` holds them to `TOLERANCE` in "
            "examples/make_docs_numbers.py (times are not compared)."]


def spread(seeds: int, outdir: str) -> list[str]:
    """The seed-dependent scripts over seeds 0..seeds-1: mean, standard deviation and range of each metric."""
    runs = {f"{script}-{seed}": [[*args, "--seed", str(seed)] for args in RUNS[script]]
            for script in SEEDED for seed in range(seeds)}
    outputs, seconds = run_all(runs, outdir=outdir)
    rows = [f"Over seeds 0-{seeds - 1} (`make_docs_numbers.py --seeds {seeds}`): mean ± standard deviation "
            "(min-max).", "", "| run | metric | value | CPU time per seed |", "| --- | --- | --- | --- |"]
    for script in SEEDED:
        runs_of = [summaries(outputs[f"{script}-{seed}"]) for seed in range(seeds)]
        cpu = [seconds[f"{script}-{seed}"] for seed in range(seeds)]
        for i, first in enumerate(runs_of[0]):
            label = f"`{script}`" + (f" {first['loss_fn']}" if "loss_fn" in first else "")
            for key in first:
                texts = [r[i].get(key, "") for r in runs_of]
                if not all(re.fullmatch(r"-?[\d.]+", t) for t in texts) or len(set(texts)) < 2 \
                        or key.endswith("seconds"):
                    continue  # names, settings, "passed": the same in every run; times
                values = [float(t) for t in texts]
                rows.append(f"| {label} | {key} | {statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} "
                            f"({min(values):.4f}-{max(values):.4f}) | {min(cpu):.0f}-{max(cpu):.0f} s |")
                label = ""
    return rows


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__, progress=False)
    p.add_argument("--check", action="store_true", help="compare with docs/examples.md instead of rewriting it")
    p.add_argument("--only", nargs="+", choices=list(RUNS), metavar="SCRIPT",
                   help=f"re-run only these scripts (default: all of {', '.join(RUNS)})")
    p.add_argument("--outdir", default="out", metavar="DIR", help="where the examples write their pictures")
    p.add_argument("--mnist", type=Path, metavar="DIR",
                   help="also re-run mnist_mlp.py on the real MNIST files in DIR (default: keep that block as it is)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help=f"only run {', '.join(SEEDED)} over seeds 0..N-1 and rewrite the spread block "
                        "(default: no sweep)")
    args = p.parse_args(argv)
    if args.seeds:
        doc = DOCS[0]
        doc.write_text(render(doc.read_text(encoding="utf-8"), {}, {}, {"spread": spread(args.seeds, args.outdir)}),
                       encoding="utf-8")
        print(f"wrote {doc.relative_to(EXAMPLES.parent).as_posix()}")
        return 0
    runs = {k: v for k, v in RUNS.items() if not args.only or k in args.only}
    if args.mnist:
        runs["mnist_mlp-real"] = [["--data", str(args.mnist.resolve()), "--epochs", "10", *NO_PROGRESS]]
    outputs, seconds = run_all(runs, hide=str(args.mnist.resolve()) if args.mnist else "", outdir=args.outdir)
    stale = 0
    for doc in DOCS:
        old = doc.read_text(encoding="utf-8")
        new = render(old, outputs, seconds, {} if args.check else {"machine": machine()})
        name = doc.relative_to(EXAMPLES.parent).as_posix()
        if args.check:
            problems = out_of_tolerance(old, new)
            print("\n".join(f"{name}: {p}" for p in problems) if problems else
                  f"{name} matches fresh runs within TOLERANCE")
            stale += bool(problems)
        elif new != old:
            doc.write_text(new, encoding="utf-8")
            print(f"wrote {name}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
