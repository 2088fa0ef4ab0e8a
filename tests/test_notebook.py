"""examples/tour.ipynb runs top to bottom in a Jupyter kernel on this Python, and is committed without outputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import autograd_mini as ag

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "tour.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), \
        "clear the outputs of examples/tour.ipynb before committing it"


def _kernel(tmp_path, monkeypatch):
    """(nbformat, nbclient) and a kernel on the Python running the tests, with the project importable whether
    or not it is installed; skips, naming the package, where one is missing."""
    reason = "{} is not installed, so the notebook cannot be run (pip install -e '.[dev]' installs it)"
    nbformat = pytest.importorskip("nbformat", reason=reason.format("nbformat"))
    nbclient = pytest.importorskip("nbclient", reason=reason.format("nbclient"))
    pytest.importorskip("ipykernel", reason=reason.format("ipykernel"))
    spec = tmp_path / "kernels" / "autograd-mini-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autograd-mini tests", "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return nbformat, nbclient


def test_op_locations_name_the_notebook_cell(tmp_path, monkeypatch):
    # the kernel runs each cell from a temporary file (/tmp/ipykernel_<pid>/<hash>.py): the recorded locations
    # (node.trace, which the explorer and narrate show, and ag.compile's messages) say "Cell In[n]:line" instead
    nbformat, nbclient = _kernel(tmp_path, monkeypatch)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import autograd_mini as ag\nfrom autograd_mini.anomaly import capture_traces"),
        nbformat.v4.new_code_cell("x = ag.tensor([1.0, 2.0], requires_grad=True)\nwith capture_traces() as nodes:\n"
                                  "    y = (x * x).sum()\nprint([n.trace for n in nodes])"),
    ])
    nbclient.NotebookClient(nb, kernel_name="autograd-mini-tests", timeout=120).execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert text.strip() == "['Cell In[2]:3', 'Cell In[2]:3']", text


def test_op_locations_outside_notebooks_stay_file_and_line():
    from autograd_mini.anomaly import capture_traces

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with capture_traces() as nodes:
        (x * x).sum()
    assert nodes[0].trace == f"{__file__}:{sys._getframe().f_lineno - 1}"


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat, nbclient = _kernel(tmp_path, monkeypatch)
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
