"""The examples behave like command-line tools: --help, unknown flags, progress bars, and documented numbers."""

from __future__ import annotations

import importlib
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

import _common as C  # noqa: E402
import make_docs_numbers  # noqa: E402

SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))


def _options(help_text: str) -> list[str]:
    """The option entries of an argparse help text, each joined onto one line."""
    body = help_text.split("options:", 1)[1]
    entries: list[str] = []
    for line in body.splitlines():
        if re.match(r"^  -", line):
            entries.append(line.strip())
        elif entries and line.strip():
            entries[-1] += " " + line.strip()
    return entries


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_the_purpose_and_every_default_without_running(script, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(script)
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0 and time.perf_counter() - t0 < 5
    out = capsys.readouterr().out
    purpose = module.__doc__.strip().splitlines()[0]
    assert out.startswith("usage: ") and purpose in out  # the whole first line, never cut mid-sentence
    for entry in _options(out):
        takes_value = re.match(r"^-[-\w]+(, -[-\w]+)? [A-Z{]", entry)
        assert not takes_value or "default" in entry, f"{script}: no default shown for {entry!r}"
    assert "None" not in out and "see above" not in out
    assert not list(tmp_path.iterdir()), "--help wrote files"


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_flag_fails(script, capsys):
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as info:
        module.main(["--bogus"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_check_gradients_help_and_bogus_from_the_command_line(tmp_path):
    """The reported case: ``--help`` ran the whole script and ``--bogus`` exited 0."""
    script = str(EXAMPLES / "check_gradients.py")
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and "usage: check_gradients.py" in done.stdout and "gradcheck FAILED" not in done.stdout
    done = subprocess.run([sys.executable, script, "--bogus"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr and not done.stdout


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _frames(n: int, pause: float, out: io.StringIO | None = None) -> list[str]:
    out = _Terminal() if out is None else out
    bar = C.progress(n, "run", file=out)
    for i in bar:
        bar.set_postfix(loss=f"{1 / (i + 1):.4f}")  # every iteration, as the examples do
        if pause:
            time.sleep(pause)
    bar.close()
    return [f for f in out.getvalue().split("\r") if f.strip()]


def test_progress_bar_redraws_at_a_bounded_rate():
    t0 = time.perf_counter()
    frames = _frames(600, 0)
    assert len(frames) <= 4 * (time.perf_counter() - t0) + 4, len(frames)  # not one frame per set_postfix


def test_progress_bar_shows_progress_during_a_short_run():
    t0 = time.perf_counter()
    frames = _frames(60, 0.025)
    took = time.perf_counter() - t0
    middle = [f for f in frames if re.search(r"\b([1-9]|[1-5]\d)/60\b", f)]
    assert middle, f"no frame between 0/60 and 60/60 in a {took:.1f} s run: {frames}"
    assert "loss=" in middle[-1] and len(frames) <= 4 * took + 4


def test_progress_bar_is_off_where_its_stream_is_not_a_terminal():
    assert _frames(50, 0, _Pipe()) == [] and _frames(50, 0)  # a log gets nothing, a terminal its bar


def test_an_example_piped_to_a_log_writes_no_progress_bar(tmp_path):
    script = str(EXAMPLES / "xor_relu.py")
    done = subprocess.run([sys.executable, script, "--epochs", "20", "--out", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "\r" not in done.stderr + done.stdout and "it/s" not in done.stderr


def test_docs_examples_table_counts_and_lists_every_script():
    assert set(SCRIPTS) - {"make_docs_numbers"} == set(make_docs_numbers.RUNS), \
        "add the new example to make_docs_numbers.RUNS so docs/examples.md lists it"
    doc = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    block = doc.split("<!-- numbers: table -->", 1)[1].split("<!-- /numbers -->", 1)[0]
    rows = re.findall(r"^\| `(\w+)\.py` \|", block, re.M)
    assert sorted(rows) == sorted(make_docs_numbers.RUNS)
    words = {"Four": 4, "Five": 5, "Six": 6, "Seven": 7, "Eight": 8, "Nine": 9, "Ten": 10}
    assert words[block.split()[0]] == len(rows)


def test_docs_numbers_match_fresh_runs_of_the_quick_examples(tmp_path):
    """make_docs_numbers.py --check: what docs/examples.md shows is what the scripts print today."""
    done = subprocess.run([sys.executable, str(EXAMPLES / "make_docs_numbers.py"), "--check", "--only", "custom_op",
                           "check_gradients", "--outdir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, (done.stdout[-3000:] + done.stderr[-3000:] + "\nthe page is stale: run python "
                                  "examples/make_docs_numbers.py --only custom_op check_gradients")


def test_docs_numbers_check_compares_with_tolerances_not_strings():
    """--check on another CPU: numbers within TOLERANCE pass, times never count, text and far numbers fail."""
    page = ("<!-- numbers: mnist_mlp -->\n```\nmnist_mlp: loss_fn=ce epochs=30 final_loss=0.0082 "
            "test_accuracy=0.9000 (16.1 s)\n```\n")
    elsewhere = page.replace("test_accuracy=0.9000 (16.1 s)", "test_accuracy=0.8850 (4.0 s)")
    assert make_docs_numbers.out_of_tolerance(page, elsewhere) == []  # the other CPU: 88.5 %
    far = page.replace("test_accuracy=0.9000", "test_accuracy=0.7000")
    (problem,) = make_docs_numbers.out_of_tolerance(page, far)
    assert "test_accuracy 0.7000 is not 0.9000" in problem
    assert make_docs_numbers.out_of_tolerance(page, page.replace("loss_fn=ce", "loss_fn=mse"))
    exact = page.replace("mnist_mlp -->", "visualize -->")  # a script without a tolerance: 1e-6
    assert make_docs_numbers.out_of_tolerance(exact, exact.replace("final_loss=0.0082", "final_loss=0.0083"))
