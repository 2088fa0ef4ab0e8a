"""Second guards, each independent of the first, for properties a planted-bug audit found guarded by exactly one
test (#25 item 19): the explorer's '<' escape outside the browser (first: test_explorer.py, one fixed name),
the directory fsync after nn.save's rename (first: tests/nn/test_save_faults.py, order of file kinds), the
local header's CRC compared with the central directory (first: tests/nn/test_hostile_files.py, a flipped local
byte) and gradcheck's central difference (first: test_gradcheck.py, the reported value of a wrong scale)."""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn

DATA_BLOCK = re.compile(r'<script type="application/json" id="ag-data">(.*?)</script>', re.S)


# ---- the explorer's page: any name or title stays data ----------------------------------------------------------
MARKUP = st.lists(st.sampled_from(["<", "</script>", "</SCRIPT ", "<script>", "<!--", "-->", "<img src=x>", "&lt;",
                                   "\u2028", "\u2029", '"', "'", "\\", "/"]) | st.text(max_size=3),
                  min_size=1, max_size=8).map("".join)


@given(name=MARKUP.filter(bool), title=MARKUP)
def test_any_name_and_title_stay_inside_the_data_block(name, title):
    """Whatever the text (markup, comment openers, U+2028, lone surrogates aside), the page keeps one data block
    with no raw '<' in it, as many script tags as a page with a plain name, and the name read back unchanged."""
    w = ag.tensor(np.ones(2), requires_grad=True, name=name)
    page = ag.viz.explore((w * 2).sum(), title=title).html()
    plain = ag.viz.explore((ag.tensor(np.ones(2), requires_grad=True, name="w") * 2).sum(), title="t").html()
    (block,) = DATA_BLOCK.findall(page)
    assert "<" not in block and "\u2028" not in block and "\u2029" not in block
    assert page.lower().count("<script") == plain.lower().count("<script")
    assert page.lower().count("</script") == plain.lower().count("</script")
    assert name in [n.get("label") for n in json.loads(block)["nodes"]]


# ---- nn.save: the folder holding the new name is fsynced after the rename ---------------------------------------
def test_the_renamed_files_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    """Through a symlink into another folder: the file's data is synced before the rename, and the folder the
    rename happened in (the link target's, not the link's nor the working directory's) after it."""
    real_folder, link_folder = tmp_path / "real", tmp_path / "links"
    real_folder.mkdir()
    link_folder.mkdir()
    (link_folder / "m.npz").symlink_to(real_folder / "m.npz")
    monkeypatch.chdir(link_folder)
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.fstat(fd).st_ino)), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", os.fspath(b))), real_replace(a, b)))
    nn.save({"w": np.arange(3.0)}, link_folder / "m.npz")
    saved = os.stat(real_folder / "m.npz").st_ino
    assert events == [("fsync", saved), ("replace", os.fspath(real_folder / "m.npz")),
                      ("fsync", os.stat(real_folder).st_ino)]
    np.testing.assert_array_equal(nn.load(link_folder / "m.npz")["w"], np.arange(3.0))


# ---- nn.load: a central directory that lies about the CRC (the local header telling the truth) -------------------
def _central_crc_offsets(blob: bytes) -> list[int]:
    """Where each central-directory entry keeps its CRC-32 (16 bytes into the entry)."""
    return [m.start() + 16 for m in re.finditer(re.escape(b"PK\x01\x02"), blob)]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_central_crc_that_disagrees_with_the_local_header_is_refused(tmp_path, compression):
    """An archive written by zipfile (not nn.save), its second member's central CRC changed: the local header,
    which streaming readers use, then says something else, and the file is refused before any data is read."""
    path = tmp_path / "two.npz"
    with zipfile.ZipFile(path, "w", compression) as zf:
        for key, a in (("a", np.arange(3.0)), ("b", np.ones((2, 2)))):
            with zf.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array(member, a)
    assert set(nn.load(path)) == {"a", "b"}
    blob = bytearray(path.read_bytes())
    where = _central_crc_offsets(bytes(blob))[1]
    (crc,) = struct.unpack_from("<L", blob, where)
    struct.pack_into("<L", blob, where, crc ^ 1)
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"'b.npy': its local header and the central directory disagree") as e:
        nn.load(path)
    assert str(path) in str(e.value)


# ---- gradcheck: the numerical derivative is the central difference ---------------------------------------------
class WrongSquare(ag.Function):
    """x ** 2 with the backward of x ** 3: every element disagrees."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


@pytest.mark.parametrize("shape, mode", [((3,), "full"), ((20, 20), "vjp")])
def test_the_reported_numerical_derivative_is_the_central_difference(shape, mode):
    """For x ** 2 the central difference is exact (2 x); a one-sided one is off by eps (1e-6), which at
    x near 1e-3 is a relative error near 5e-4. Both the full-Jacobian and the projection paths."""
    x = ag.tensor(np.linspace(1e-3, 2e-3, int(np.prod(shape))).reshape(shape), requires_grad=True)
    r = ag.gradcheck(WrongSquare.apply, [x], raise_exception=False)
    assert not r and r.mode == mode
    (m,) = r.mismatches
    if mode == "full":
        assert m.numerical == pytest.approx(2 * x.numpy()[m.index], rel=1e-7)
        assert m.analytical == pytest.approx(3 * x.numpy()[m.index] ** 2, rel=1e-12)
    else:  # a random projection of the outputs: the reported value is <phi, d out / d x_i> by central differences
        assert m.sampled and m.failed > 0
        assert abs(m.numerical - m.analytical) > 0
        i = m.index
        assert m.analytical / m.numerical == pytest.approx(1.5 * x.numpy()[i], rel=1e-6)
