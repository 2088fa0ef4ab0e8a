"""examples/tour.ipynb runs top to bottom in a Jupyter kernel on this Python, and is committed without outputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "tour.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), \
        "clear the outputs of examples/tour.ipynb before committing it"


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    reason = "{} is not installed, so the notebook cannot be run (pip install -e '.[dev]' installs it)"
    nbformat = pytest.importorskip("nbformat", reason=reason.format("nbformat"))
    nbclient = pytest.importorskip("nbclient", reason=reason.format("nbclient"))
    pytest.importorskip("ipykernel", reason=reason.format("ipykernel"))
    # A kernel on the Python running the tests, with the project importable whether or not it is installed.
    spec = tmp_path / "kernels" / "autograd-mini-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autograd-mini tests", "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="autograd-mini-tests", timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "accuracy" in text and "gradcheck FAILED" in text and "SiLU" in text
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any("#### Step 1 of " in m and "\\frac{\\partial" in m and "`2.weight.grad` +=" in m for m in markdown), \
        "the explain_backward cell renders its narration as Markdown with LaTeX"
    if shutil.which("dot"):  # the graph renders inline as SVG
        assert any("image/svg+xml" in o.get("data", {}) for o in outputs if o.output_type == "execute_result")
