"""nn.save changes nothing but the file it writes: keys round-trip exactly, modes are kept, special files
are refused, symlinks followed, temp files cleaned up (even after SIGKILL), no process-wide state touched."""

import fcntl
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import nn
from nn.serialization import TEMP_SUFFIX

ROOT = Path(__file__).resolve().parents[2]
TEMP = re.compile(r"\..*\.[0-9a-f]{8}-[0-9a-f]{16}" + re.escape(TEMP_SUFFIX) + r"\Z")


def _temps(folder):
    return sorted(n for n in os.listdir(folder) if TEMP.match(n))


# ---- keys ------------------------------------------------------------------------------------------------
def test_every_string_key_round_trips_exactly(tmp_path):
    keys = ["a", "a.npy", "a.npy.npy", "file", "allow_pickle", "", " ", "x/y", "/abs", "../up", "dir/", "ünï ☃ 中",
            "\t\n", "k" * 1000, "arr_0", "fix_imports"]
    sd = {k: np.full(2, i, dtype=np.int64) for i, k in enumerate(keys)}
    path = tmp_path / "keys.npz"
    nn.save(sd, path)
    out = nn.load(path)
    assert list(out) == keys
    for k in keys:
        np.testing.assert_array_equal(out[k], sd[k])
    with np.load(path, allow_pickle=False) as npz:  # still a standard .npz for ordinary keys
        np.testing.assert_array_equal(npz["file"], sd["file"])
        np.testing.assert_array_equal(npz["allow_pickle"], sd["allow_pickle"])


@pytest.mark.parametrize("bad, exc, reason", [
    ({"a\0b": np.zeros(1)}, ValueError, "NUL"),
    ({"\udc80": np.zeros(1)}, ValueError, "lone surrogate"),
    ({"k" * 70000: np.zeros(1)}, ValueError, "too long"),
    ({3: np.zeros(1)}, TypeError, "keys must be strings"),
    ({"w": np.array([object()])}, TypeError, "object"),
    ({"w": np.array(["text"])}, TypeError, "only numeric"),
    ({"w": [[1, 2], [3]]}, ValueError, "'w' is not an array"),
    ({"state": {0: {"step": 1}}}, TypeError, "nested mapping"),
    ([("w", np.zeros(1))], TypeError, "expected a mapping of names to arrays, got list"),
    (nn.Linear(2, 3), TypeError, r"pass model.state_dict\(\)"),
])
def test_bad_state_dicts_are_refused_before_anything_is_written(tmp_path, bad, exc, reason):
    path = tmp_path / "m.npz"
    nn.save({"w": np.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(exc, match=reason):
        nn.save(bad, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


# ---- what the file system sees -------------------------------------------------------------------------------
def test_no_umask_calls_and_new_files_follow_the_umask(tmp_path, monkeypatch):
    def forbidden(mask):
        raise AssertionError("nn.save touched the process-wide umask")
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", forbidden)
        nn.save({"w": np.zeros(2)}, tmp_path / "new.npz")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


def test_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "secret.npz"
    nn.save({"w": np.zeros(2)}, path)
    for mode in (0o600, 0o640, 0o604, 0o755):
        path.chmod(mode)
        nn.save({"w": np.ones(2)}, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
        assert nn.load(path)["w"][0] == 1


def test_special_files_are_refused_and_left_alone(tmp_path):
    with pytest.raises(IsADirectoryError):
        nn.save({"w": np.zeros(1)}, tmp_path)
    with pytest.raises(IsADirectoryError):
        nn.save({"w": np.zeros(1)}, str(tmp_path / "sub") + os.sep)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.npz"
        os.mkfifo(fifo)
        with pytest.raises(ValueError, match="is a FIFO, not a regular file; refusing to replace it"):
            nn.save({"w": np.zeros(1)}, fifo)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == (["pipe.npz"] if hasattr(os, "mkfifo") else [])


def test_symlinks_are_followed(tmp_path):
    real = tmp_path / "store" / "model.npz"
    real.parent.mkdir()
    nn.save({"w": np.zeros(2)}, real)
    real.chmod(0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    nn.save({"w": np.ones(2)}, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert nn.load(real)["w"][0] == 1 and stat.S_IMODE(os.stat(real).st_mode) == 0o600
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "store" / "fresh.npz")
    nn.save({"w": np.ones(3)}, dangling)
    assert dangling.is_symlink() and nn.load(tmp_path / "store" / "fresh.npz")["w"].shape == (3,)
    assert _temps(tmp_path) == [] and _temps(tmp_path / "store") == []


def test_errors_name_the_users_path_and_leave_no_temp_file(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such" / "dir.npz"
    with pytest.raises(FileNotFoundError) as e:
        nn.save({"w": np.zeros(1)}, missing)
    assert e.value.filename == str(missing)

    path = tmp_path / "m.npz"
    nn.save({"w": np.zeros(1)}, path)

    def full_disk(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as e:
        nn.save({"w": np.ones(1)}, path)
    assert e.value.errno == 28 and e.value.filename == str(path) and "m.npz" in str(e.value)
    assert TEMP_SUFFIX not in str(e.value)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.npz"] and nn.load(path)["w"][0] == 0


def test_keyboard_interrupt_mid_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    nn.save({"w": np.zeros(3)}, path)
    before = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def interrupted(f, a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(f, a, **kw)
    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nn.save({"a": np.ones(3), "b": np.ones(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_long_file_names_get_a_shortened_temp_name(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(os.path.basename(a)), real_replace(a, b)))
    for name in ["m" * 250 + ".npz", "é" * 125 + ".npz"]:  # 254 and 254 bytes
        nn.save({"w": np.arange(3.0)}, tmp_path / name)
        assert nn.load(tmp_path / name)["w"][2] == 2.0
    assert all(len(os.fsencode(n)) <= 255 and TEMP.match(n) for n in seen)
    assert sorted(os.listdir(tmp_path)) == sorted(["m" * 250 + ".npz", "é" * 125 + ".npz"])


# ---- stale temp files --------------------------------------------------------------------------------------------
def _fake_temp(folder, target_name, token):
    """A temp file named as nn.save would name one for ``target_name``."""
    from autograd_mini._atomic import temp_prefix
    path = folder / (temp_prefix(target_name, 255, TEMP_SUFFIX) + token + TEMP_SUFFIX)
    path.write_bytes(b"half an archive")
    return path


def test_next_save_removes_stale_temps_of_its_own_path_only(tmp_path):
    stale = _fake_temp(tmp_path, "m.npz", "0" * 16)
    live = _fake_temp(tmp_path, "m.npz", "1" * 16)
    other = _fake_temp(tmp_path, "other.npz", "2" * 16)
    lookalike = tmp_path / ".m.npz.notours.tmp"
    lookalike.write_bytes(b"user data")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a save in progress (another process or thread) holds its lock
    try:
        nn.save({"w": np.zeros(1)}, tmp_path / "m.npz")
    finally:
        os.close(fd)
    assert not stale.exists() and live.exists() and other.exists() and lookalike.exists()


KILLED_SAVER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import nn
    where, path = sys.argv[1], sys.argv[2]
    def stop(*args, **kwargs):
        print("stopped", flush=True)
        time.sleep(60)
    if where == "write":     # half-way through the array data
        real = np.lib.format.write_array
        def write_array(f, a, **kw):
            f.write(b"\\x93NUMPY partial")
            stop()
        np.lib.format.write_array = write_array
    elif where == "replace":  # the temp file complete and fsynced, not yet renamed
        os.replace = stop
    nn.save({"w": np.full(1000, 7.0)}, path)
""")


def _spawn(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", KILLED_SAVER, *args], stdout=subprocess.PIPE, env=env)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="this system has no SIGKILL")
def test_sigkill_mid_save_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "model.npz"
    nn.save({"w": np.arange(5.0)}, path)
    before = path.read_bytes()
    left = []
    for where in ("write", "replace"):
        child = _spawn(where, str(path))
        assert child.stdout.readline() == b"stopped\n"
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert path.read_bytes() == before
        # one recognisable leftover: the second save removed the first one's before starting
        assert len(_temps(tmp_path)) == 1 and _temps(tmp_path)[0].startswith(".model.npz.")
        left += _temps(tmp_path)
    assert left[0] != left[1]
    nn.save({"w": np.arange(6.0)}, path)
    assert os.listdir(tmp_path) == ["model.npz"] and nn.load(path)["w"].shape == (6,)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="this system has no SIGKILL")
def test_sigkill_at_random_moments_never_tears_the_file(tmp_path):
    path = tmp_path / "model.npz"
    loop = textwrap.dedent("""
        import sys, numpy as np, nn
        a, b = {"w": np.zeros(1 << 18)}, {"w": np.ones(1 << 18)}
        print("go", flush=True)
        while True:
            nn.save(a, sys.argv[1]); nn.save(b, sys.argv[1])
    """)
    nn.save({"w": np.zeros(1 << 18)}, path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = np.random.default_rng(0)
    for _ in range(2):
        child = subprocess.Popen([sys.executable, "-c", loop, str(path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline() == b"go\n"
        time.sleep(rng.uniform(0.05, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        w = nn.load(path)["w"]
        assert w.shape == (1 << 18,) and (w == w[0]).all() and w[0] in (0.0, 1.0)
    nn.save({"w": np.zeros(1)}, path)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_concurrent_saves_and_loads_from_threads(tmp_path):
    """Eight threads saving to one path while others load: every load sees one whole save, no temp survives."""
    path = tmp_path / "shared.npz"
    nn.save({"w": np.zeros(4096)}, path)
    errors = []

    def saver(value):
        try:
            for _ in range(10):
                nn.save({"w": np.full(4096, float(value))}, path)
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    def loader():
        try:
            for _ in range(20):
                w = nn.load(path)["w"]
                assert (w == w[0]).all()
        except Exception as e:  # pragma: no cover
            errors.append(e)
    threads = [threading.Thread(target=saver, args=(i,)) for i in range(8)] + \
        [threading.Thread(target=loader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and os.listdir(tmp_path) == ["shared.npz"]


def test_file_and_directory_are_fsynced_and_hard_links_keep_the_old_content(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    path = tmp_path / "m.npz"
    nn.save({"w": np.zeros(2)}, path)
    assert synced == [False, True]  # the temp file's data, then the directory holding the new name
    os.link(path, tmp_path / "backup.npz")
    nn.save({"w": np.ones(2)}, path)
    assert nn.load(tmp_path / "backup.npz")["w"][0] == 0 and nn.load(path)["w"][0] == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="running as root (or not on POSIX): every file is writable, so nothing is read-only")
def test_read_only_file_is_not_replaced(tmp_path):
    path = tmp_path / "frozen.npz"
    nn.save({"w": np.zeros(2)}, path)
    path.chmod(0o444)
    with pytest.raises(PermissionError) as e:
        nn.save({"w": np.ones(2)}, path)
    assert e.value.filename == str(path) and nn.load(path)["w"][0] == 0 and os.listdir(tmp_path) == ["frozen.npz"]


@pytest.mark.skipif(not os.path.exists(os.devnull) or os.name != "posix", reason="this system has no /dev/null")
def test_devices_and_sockets_are_refused(tmp_path):
    from autograd_mini._atomic import resolve_target
    # checked through the resolution step alone, which writes nothing: a bug here must not replace /dev/null
    with pytest.raises(ValueError, match="is a character device, not a regular file; refusing to replace it"):
        resolve_target(os.devnull, "nn.save")
    import socket
    sock_path = tmp_path / "s.npz"
    if len(str(sock_path)) > 100:
        pytest.skip("the temporary directory's path is too long for a Unix socket")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        with pytest.raises(ValueError, match="is a socket, not a regular file"):
            nn.save({"w": np.zeros(1)}, sock_path)
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
