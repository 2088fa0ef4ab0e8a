"""examples/char_lm.py end to end in a smoke configuration (seconds), and its data file."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import char_lm  # noqa: E402


def test_names_data_is_what_its_readme_says():
    words = char_lm.NAMES.read_text().splitlines()
    assert len(words) == 5163 and words == sorted(set(words))
    assert all(w.isalpha() and w.islower() and w.isascii() for w in words)


def test_char_lm_smoke_run(tmp_path: Path, capsys) -> None:
    r = char_lm.main(["--limit", "900", "--epochs", "2", "--width", "16", "--layers", "1", "--heads", "2",
                      "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    for kind in ("mlp", "transformer"):
        res = r[kind]
        assert len(res["samples"]) == 20 and all(set(w) <= set("abcdefghijklmnopqrstuvwxyz") for w in res["samples"])
        assert np.all(np.isfinite(res["train_losses"]))
        assert np.mean(res["train_losses"][-5:]) < res["train_losses"][0]  # it learns
        assert res["held_out"] < math.log(27)  # better than uniform over the 27 symbols
        assert f"{kind} (" in out and "held-out loss" in out
    assert r["bigram"] < math.log(27)
    assert all(Path(f).stat().st_size > 0 for f in r["files"])


def test_bigram_loss_by_hand():
    vocab = char_lm.Vocab(["ab"])
    loss, probs = char_lm.bigram_loss(["ab"], ["ab"], vocab)
    # add-one counts over {., a, b}: . -> a seen once (2/4), a -> b (2/4), b -> . (2/4)
    assert math.isclose(loss, -math.log(0.5)) and np.allclose(probs.sum(axis=1), 1)


def test_windows_and_sequences_predict_every_character_and_the_end():
    vocab = char_lm.Vocab(["abc"])
    X, Y = char_lm.windows(["ab"], vocab, 2)
    assert X.tolist() == [[0, 0], [0, 1], [1, 2]] and Y.tolist() == [1, 2, 0]
    X, Y = char_lm.sequences(["ab"], vocab, 4)
    assert X.tolist() == [[0, 1, 2, 0]] and Y.tolist() == [[1, 2, 0, -1]]


def test_char_lm_bad_data_file_exits_with_a_clear_message(tmp_path: Path, capsys) -> None:
    import pytest

    for path, text in ((tmp_path / "missing.txt", "cannot read"), (tmp_path / "one.txt", "holds 1 word")):
        if path.name == "one.txt":
            path.write_text("anna\n")
        with pytest.raises(SystemExit) as e:
            char_lm.main(["--data", str(path), "--out", str(tmp_path / "o"), "--no-progress"])
        assert e.value.code == 2 and text in capsys.readouterr().err
