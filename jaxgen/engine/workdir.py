"""A run's folder on disk: one trainer at a time, writes that never follow links.

Everything jaxgen writes into a workdir goes through here (or through orbax,
under checkpoints/), so that
- two `jaxgen train` on one workdir cannot interleave: the first holds an
  flock on WORKDIR/.lock, which the kernel releases when its process ends,
  however it ends (kill -9 included), so no stale lock outlives a trainer.
  A multi-process run takes one lock per process index (.lock for process 0,
  .lock.process-I for the others): a second run on the workdir finds its
  process I's lock held by the first run's, wherever it runs;
- a symbolic link planted in a workdir (`eval.json.tmp -> /elsewhere`, a
  `samples` link) is refused instead of written through: temporary files are
  created exclusively (O_EXCL | O_NOFOLLOW) under fresh names and renamed
  over their target, and the entries jaxgen uses are checked for links.
Only the standard library: `jaxgen list` and `--help` import nothing heavy.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets

from jaxgen.errors import JaxgenError

LOCK_NAME = ".lock"
# The entries of a workdir that jaxgen reads or writes (and their children).
OWN_ENTRIES = ("config.json", "metrics.jsonl", "metrics.png", "eval.json", "samples",
               "checkpoints", "tensorboard", "pictures", LOCK_NAME)


class WorkdirError(JaxgenError):
    """A workdir that cannot be used: a file, a link inside it, another trainer."""


def prepare(workdir: str, create: bool = True) -> str:
    """Check (and create) `workdir`; refuse a path that is a file or holds links."""
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"--workdir {workdir} is a file, not a folder; give a folder path")
    if create:
        os.makedirs(workdir, exist_ok=True)
    refuse_links(workdir)
    return workdir


def refuse_links(workdir: str) -> None:
    """A symbolic link among the entries jaxgen uses would make it write (or read)
    outside the workdir: refuse it, naming the link."""
    if not os.path.isdir(workdir):
        return
    suspects = [os.path.join(workdir, name) for name in os.listdir(workdir)
                if name in OWN_ENTRIES or name.endswith(".tmp") or name.startswith("eval")
                or name.startswith(LOCK_NAME)]
    for sub in ("samples", "checkpoints", "pictures"):
        folder = os.path.join(workdir, sub)
        if os.path.isdir(folder) and not os.path.islink(folder):
            suspects += [os.path.join(folder, name) for name in os.listdir(folder)]
    for path in suspects:
        if os.path.islink(path):
            raise WorkdirError(f"{path} is a symbolic link; jaxgen does not follow links inside "
                               "a workdir (they would make it write elsewhere): remove it")


def lock_name(process_index: int = 0) -> str:
    return LOCK_NAME if process_index == 0 else f"{LOCK_NAME}.process-{process_index}"


class TrainerLock:
    """flock(WORKDIR/.lock) for the life of a trainer (process `process_index`
    of a multi-process run: its own lock file); the file holds its pid."""

    def __init__(self, workdir: str, process_index: int = 0):
        self.path = os.path.join(workdir, lock_name(process_index))
        self._process_index = process_index
        self._fd = None

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                which = (f" (its process {self._process_index}: {os.path.basename(self.path)})"
                         if self._process_index else "")
                raise WorkdirError(
                    f"{os.path.dirname(self.path) or '.'} is being trained by another jaxgen "
                    f"process (pid {holder}){which}; wait for it to finish, stop it, or use "
                    "another --workdir") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _open_exclusive(path: str):
    """A new file at `path`; fails if anything (a link included) is there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, 0o644)


def write_atomically(path: str, data: bytes | str) -> str:
    """Write `data` to a fresh temporary file beside `path`, then rename it over
    `path`: a reader sees the old file or the new one, never half of one; a link
    at `path` is replaced, not followed."""
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = _open_exclusive(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return path


def open_append(path: str):
    """Append to `path` (created if missing) without following a link there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    return os.fdopen(fd, "a")


def read_text(path: str) -> str:
    """Read `path`, refusing a link there."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd) as f:
        return f.read()
