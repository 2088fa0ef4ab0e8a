"""Writing a file atomically, shared by ``nn.save`` and ``ag.viz.save``: the bytes go to a locked temp file
``.<name>.<hash>-<random><suffix>`` next to the target, are flushed and fsynced, then renamed over it, so a crash
or an error leaves the old file (or none), never a partial one. A symlink is followed (its target is replaced,
the link stays); a directory, FIFO, device or socket is refused. A replaced file keeps its permission bits; a new
one gets the umask's. Temp files left by a killed writer are removed by the next write to the same path. No
process-wide state (umask, cwd) is touched."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale temp files are then left for the user
    fcntl = None

__all__ = ["write_atomic", "resolve_target", "temp_prefix", "file_kind"]


def write_atomic(path: Any, write: Callable[[BinaryIO], None], who: str, suffix: str) -> str:
    """Write ``path`` through ``write(file)`` atomically (see the module); errors name ``who`` and the user's path.
    Returns the path of the file written (a symlink's target)."""
    user_path, target, old = resolve_target(path, who)
    folder, name = os.path.split(target)
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    prefix = temp_prefix(name, name_max, suffix)
    _remove_stale_temps(folder, prefix, suffix)
    try:
        fd, tmp = _open_temp(folder, prefix, suffix)
    except OSError as e:
        raise _named(e, user_path, who, "cannot create a file next to it: ") from None
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            write(f)
            f.flush()
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)
            os.fsync(fd)
        os.replace(tmp, target)  # still holding the lock: a cleaner never sees a live temp as stale
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _named(e, user_path, who) from None
        raise
    finally:
        os.close(fd)
    _fsync_folder(folder)
    return target


def temp_prefix(name: str, name_max: int, suffix: str) -> str:
    """``.<name>.<hash of name>-``, the name shortened so that a temp name fits in ``name_max`` bytes.
    The hash keeps two long names that shorten alike apart."""
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    budget = name_max - len(f"..{digest}-") - 16 - len(suffix)
    short = name
    while len(os.fsencode(short)) > budget:
        short = short[:-1]
    return f".{short}.{digest}-"


def _remove_stale_temps(folder: str, prefix: str, suffix: str) -> None:
    """Delete temp files of earlier writes to this path whose writer is gone (killed mid-write).

    A writer holds an exclusive ``flock`` on its temp file until it is renamed into place, and the
    kernel drops the lock when the process dies; a file whose lock we can take is stale."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{16}" + re.escape(suffix) + r"\Z")
    try:
        names = [e.name for e in os.scandir(folder) if pattern.match(e.name)]
    except OSError:
        return
    for name in names:
        stale = os.path.join(folder, name)
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if stat.S_ISREG(os.fstat(fd).st_mode) and os.stat(stale, follow_symlinks=False).st_ino == \
                    os.fstat(fd).st_ino:
                os.unlink(stale)
        except OSError:
            pass  # locked by a live writer, or already gone
        finally:
            os.close(fd)


def _open_temp(folder: str, prefix: str, suffix: str) -> tuple[int, str]:
    """Create and lock a fresh temp file (mode 0o666 filtered by the umask, like any new file)."""
    while True:
        tmp = os.path.join(folder, prefix + secrets.token_hex(8) + suffix)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: its cleaners cannot lock either, so they skip this file
            return fd, tmp
        if os.fstat(fd).st_nlink:
            return fd, tmp
        os.close(fd)  # a concurrent cleaner took it for stale between open and lock: start again


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_target(path: Any, who: str) -> tuple[str, str, os.stat_result | None]:
    """The user's path, the regular file it names after following symlinks, and that file's stat (None: new)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__}")
    user_path = os.fsdecode(os.fspath(path))
    if user_path.endswith(os.sep):
        raise IsADirectoryError(errno.EISDIR, f"{who}: the path names a directory", user_path)
    target = os.path.realpath(user_path)  # follows every symlink; a dangling one names the file to create
    try:
        old = os.stat(target)
    except FileNotFoundError:
        return user_path, target, None
    except OSError as e:
        raise _named(e, user_path, who) from None
    if stat.S_ISDIR(old.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{who}: the path is a directory", user_path)
    if not stat.S_ISREG(old.st_mode):
        raise ValueError(f"{who}: {user_path!r} is a {file_kind(old.st_mode)}, not a regular file; "
                         "refusing to replace it")
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"{who}: the file is read-only (as open() would say)", user_path)
    return user_path, target, old


def _named(e: OSError, user_path: str, who: str, context: str = "") -> OSError:
    """The same kind of OSError (same errno), naming the user's path instead of a temp file's."""
    return OSError(e.errno, f"{who}: {context}{e.strerror or e}", user_path)


def file_kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISSOCK, "socket")]
    return next((name for test, name in kinds if test(mode)), "special file")
