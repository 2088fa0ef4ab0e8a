"""End-to-end runs of examples/ in reduced configurations, asserting the numbers they reach."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# The real MNIST test split: AUTOGRAD_MINI_MNIST names a folder holding it (default: the development set-up's copy).
SHARED_MNIST = Path(os.environ.get("AUTOGRAD_MINI_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
NO_MNIST = ("the MNIST test files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) are not available: set "
            "AUTOGRAD_MINI_MNIST to the folder holding them, or put them in ../shared/data/mnist")
sys.path.insert(0, str(EXAMPLES))

import _common as C  # noqa: E402
import custom_op  # noqa: E402
import export_onnx  # noqa: E402
import mnist_cnn  # noqa: E402
import mnist_mlp  # noqa: E402
import xor_article  # noqa: E402
import xor_relu  # noqa: E402

import autograd_mini as ag  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """As the examples do for themselves (see _common): small products are far slower with BLAS threads
    on a busy machine. numpy is already loaded here, so limit the threads at run time when possible."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


def _nonempty(files: list) -> None:
    assert files
    for f in files:
        assert Path(f).is_file() and Path(f).stat().st_size > 0, f


# ---- xor_article -------------------------------------------------------------------------------
def test_xor_article_numbers_match_the_article_to_8_decimals(tmp_path: Path) -> None:
    r = xor_article.main(["--runs", "none", "--out", str(tmp_path), "--no-progress"])
    w = r["worked"]
    np.testing.assert_allclose(w["z1"], [-1.40982136, 0.91005018, -0.04529517], rtol=0, atol=5e-9)
    np.testing.assert_allclose(w["h1"], [0.19626223, 0.71301043, 0.48867814], rtol=0, atol=5e-9)
    np.testing.assert_allclose(w["z2"], [-0.52507645, -0.18394635], rtol=0, atol=5e-9)
    np.testing.assert_allclose(w["h2"], [0.37166596, 0.45414264], rtol=0, atol=5e-9)
    np.testing.assert_allclose(w["dW2"][:2], [[-0.02879856, 0.02209533], [-0.10462365, 0.08027117]], rtol=0, atol=5e-9)
    assert w["dW1"].shape == (2, 3) and r["matches_article"]
    assert r["full_loss"]["gradcheck_passed"]
    assert r["full_loss"]["hand_over_ours"] == pytest.approx(300, rel=0.01)  # the article's missing 1/N
    _nonempty(r["files"])  # the graph picture (Graphviz is a dependency of the project)


def test_xor_article_without_graphviz_still_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autograd_mini.viz import _draw

    monkeypatch.setattr(_draw.shutil, "which", lambda name: None)
    w = xor_article.worked_step(tmp_path)
    assert w["graph"] is None and "skipped" in w["graph_skipped"] and "dot" in w["graph_skipped"]
    assert (tmp_path / "network_graph.dot").stat().st_size > 0


def test_bias_free_net_is_odd_around_its_mean() -> None:
    """Why the article's net cannot learn XOR: f(x) + f(-x) is the same for every x."""
    net = xor_article.XorNet(3, bias=False)
    x = np.random.default_rng(0).normal(size=(50, 2))
    with ag.no_grad():
        z2 = net.l2(ag.sigmoid(net.l1(ag.tensor(x)))).data + net.l2(ag.sigmoid(net.l1(ag.tensor(-x)))).data
    np.testing.assert_allclose(z2, np.broadcast_to(z2[0], z2.shape), atol=1e-12)


def test_xor_article_3_hidden_full_run_reaches_95_percent(tmp_path: Path) -> None:
    r = xor_article.main(["--runs", "3-hidden", "--out", str(tmp_path), "--no-progress"])
    m = r["runs"]["3-hidden"]
    assert m["steps"] == 5000 and m["accuracy"] >= 0.95
    _nonempty(r["files"])
    assert {p.name for p in (tmp_path / "3-hidden").iterdir()} == {"accuracy.png", "boundary.png", "loss.png"}


def test_xor_article_blow_up_and_remedies(tmp_path: Path) -> None:
    runs = "article-3,50-hidden-lr100,50-hidden-lr5,50-hidden-lr100-schedule,50-hidden-lr100-clip"
    r = xor_article.main(["--runs", runs, "--epochs", "300", "--out", str(tmp_path), "--no-progress"])
    m = r["runs"]
    assert m["article-3"]["accuracy"] < 0.8  # no biases: cannot fit XOR
    assert m["50-hidden-lr100"]["final_loss"] > 0.45 and m["50-hidden-lr100"]["accuracy"] < 0.6  # blown up
    for fix in ("50-hidden-lr5", "50-hidden-lr100-schedule", "50-hidden-lr100-clip"):
        assert m[fix]["final_loss"] < 0.15 and m[fix]["accuracy"] >= 0.85, (fix, m[fix])
    _nonempty(r["files"])
    assert (tmp_path / "50_hidden_loss.png").is_file()
    assert (tmp_path / "50-hidden-lr100" / "training.html").stat().st_size > 10_000  # the blow-up, step by step


def test_xor_article_cli_runs_from_a_fresh_checkout(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "xor_article.py"), "--runs", "none", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "z1 = [-1.40982136,  0.91005018, -0.04529517]" in out.stdout
    assert "[-0.02879856,  0.02209533]" in out.stdout and "match the article to 8 decimals" in out.stdout
    assert "xor_article: article_numbers=match" in out.stdout


# ---- the other examples --------------------------------------------------------------------------
def test_xor_relu_reduced(tmp_path: Path) -> None:
    r = xor_relu.main(["--epochs", "5", "--out", str(tmp_path), "--no-progress"])
    assert len(r["errors"]) == 5 and r["errors"][-1] < r["errors"][0]
    assert r["accuracy"] >= 0.8
    _nonempty(r["files"])


def test_custom_op(tmp_path: Path) -> None:
    r = custom_op.main(["--epochs", "5", "--out", str(tmp_path), "--no-progress"])
    assert r["gradcheck"] and r["gradgradcheck"] and r["gradcheck_module"] and r["wrong_caught"]
    naive_v, naive_g = r["naive"]
    v, g = r["custom"]
    assert np.isinf(naive_v[2]) and np.isnan(naive_g[2])  # log(1 + exp(1000)) overflows
    np.testing.assert_allclose(v, [0.0, np.log(2), 1000.0])
    np.testing.assert_allclose(g, [0.0, 0.5, 1.0])
    assert r["losses"][-1] < r["losses"][0]
    _nonempty(r["files"])


def test_mnist_sample_run(tmp_path: Path) -> None:
    r = mnist_mlp.main(["--epochs", "3", "--out", str(tmp_path), "--no-progress"])
    assert "1,600 train / 400 test" in r["data"]
    assert r["test_accuracy"] >= 0.7  # 3 epochs on 1,600 digits reach 0.79; the default 30 reach 0.89
    _nonempty(r["files"])


def test_mnist_mse_option(tmp_path: Path) -> None:
    r = mnist_mlp.main(["--epochs", "2", "--loss", "mse", "--out", str(tmp_path), "--no-progress"])
    assert r["losses"][-1] < r["losses"][0] and r["test_accuracy"] >= 0.25  # chance is 0.1; 2 epochs give 0.38


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=NO_MNIST)
def test_real_mnist_idx_files(tmp_path: Path) -> None:
    X, y = C.load_mnist(SHARED_MNIST, "t10k")
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    sample_X, sample_y = C.load_mnist(C.DATA_DIR / "mnist_sample", "sample")
    assert (sample_X == X[:2000]).all() and (sample_y == y[:2000]).all()  # the shipped sample is what it says
    r = mnist_mlp.main(["--data", str(SHARED_MNIST), "--epochs", "1", "--out", str(tmp_path), "--no-progress"])
    assert "first 8000 train / last 2000 test" in r["data"] and r["test_accuracy"] >= 0.8



def test_mnist_cnn_sample_run(tmp_path: Path) -> None:
    r = mnist_cnn.main(["--epochs", "2", "--out", str(tmp_path), "--no-progress"])
    assert "1,600 train / 400 test" in r["data"]
    assert r["losses"][1] < r["losses"][0] and r["test_accuracy"] >= 0.6  # 2 epochs on 1,600 digits reach 0.7
    _nonempty(r["files"])


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=NO_MNIST)
def test_mnist_cnn_on_real_idx_files(tmp_path: Path) -> None:
    r = mnist_cnn.main(["--data", str(SHARED_MNIST), "--epochs", "1", "--out", str(tmp_path), "--no-progress"])
    assert "first 8000 train / last 2000 test" in r["data"] and r["test_accuracy"] >= 0.85  # 1 epoch: 0.90

# ---- IDX reading: clear errors --------------------------------------------------------------------
def test_export_onnx_reduced(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "autograd-mini[onnx]"')
    r = export_onnx.main(["--epochs", "1", "--train-samples", "256", "--out", str(tmp_path), "--no-progress"])
    assert r["same_predictions"] and r["max_logit_diff"] < 1e-4
    assert r["path"].stat().st_size > 200_000  # the LeNet's 61,706 float32 parameters


def test_idx_round_trip_gzipped_or_not(tmp_path: Path) -> None:
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    for name in ("x-images-idx3-ubyte", "y-images-idx3-ubyte.gz"):
        np.testing.assert_array_equal(C.read_idx(C.write_idx(tmp_path / name, a)), a)


def test_idx_errors_name_the_file_and_what_was_expected(tmp_path: Path) -> None:
    missing = tmp_path / "nope-images-idx3-ubyte.gz"
    with pytest.raises(C.IdxError, match=r"nope-images-idx3-ubyte\.gz: no such file"):
        C.read_idx(missing)
    junk = tmp_path / "junk-images-idx3-ubyte"
    junk.write_bytes(b"GIF89a not an idx file")
    with pytest.raises(C.IdxError, match=r"junk-images-idx3-ubyte: not an IDX file \(expected magic bytes"):
        C.read_idx(junk)
    short = tmp_path / "short-images-idx3-ubyte.gz"
    full = C.write_idx(tmp_path / "full-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8)).read_bytes()
    short.write_bytes(gzip.compress(full[:-100]))
    with pytest.raises(C.IdxError, match=r"short-images-idx3-ubyte\.gz: header says shape \(3, 28, 28\)"):
        C.read_idx(short)
    bad_gzip = tmp_path / "cut-images-idx3-ubyte.gz"
    bad_gzip.write_bytes(gzip.compress(full)[:40])
    with pytest.raises(C.IdxError, match=r"cut-images-idx3-ubyte\.gz: gzip data is corrupt or truncated"):
        C.read_idx(bad_gzip)
    labels = C.write_idx(tmp_path / "l-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(C.IdxError, match=r"l-labels-idx1-ubyte: IDX file has 1 dimension\(s\), expected 3"):
        C.read_idx(labels, expect_ndim=3)


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(C.IdxError, match="no such folder"):
        C.load_mnist(tmp_path / "absent")
    C.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(C.IdxError, match=r"t10k-labels-idx1-ubyte\.gz: no such file"):
        C.load_mnist(tmp_path)
    C.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(C.IdxError, match="has 3 images but .* has 4 labels"):
        C.load_mnist(tmp_path)


def test_mnist_cli_bad_data_folder_exits_with_a_clear_message(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        mnist_mlp.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"])
    assert e.value.code == 2
    assert "t10k-images-idx3-ubyte.gz: no such file" in capsys.readouterr().err
