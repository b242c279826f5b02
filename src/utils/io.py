"""Atomic, shard-safe file output: every artifact is written to a temporary sibling and renamed into place.

A killed process therefore leaves either the previous complete file or nothing, never a partial file that a
resumed run would mistake for finished work. Temporaries are named after their writer
(``.tmp-<host>-<pid>-<random>``), so a process removes only its own leftovers and those of a dead process on its
own host, never a file another shard is still writing. Outputs get the usual permissions (``0o666 & ~umask``), not
the 0600 of a bare temporary file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

TMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"
HOST = socket.gethostname().replace("-", "_")  # "-" separates the fields of a temporary's name


def _read_umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` alone must set one)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # once, at import, before any worker thread exists
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_read_umask()


def temporary_prefix(pid: int | None = None) -> str:
    return f"{TMP_PREFIX}{HOST}-{os.getpid() if pid is None else pid}-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open()`` whose result appears at ``path`` only after a successful close."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=1, sort_keys=False, default=json_default)
        handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_npz(path: str | os.PathLike, **arrays: Any) -> None:
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def writer_is_gone(name: str) -> bool:
    """True for a temporary written by this process or by a dead process on this host; False when its writer may
    still be running (another host, a live process, a name without an owner)."""
    fields = name.removeprefix(TMP_PREFIX).split("-")
    if len(fields) < 3 or fields[0] != HOST or not fields[1].isdigit():
        return False
    pid = int(fields[1])
    return pid == os.getpid() or not pid_alive(pid)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporaries below ``folder`` whose writer is gone (see :func:`writer_is_gone`); returns how many."""
    removed = 0
    for tmp in Path(folder).rglob(f"{TMP_PREFIX}*"):
        if tmp.is_file() and writer_is_gone(tmp.name):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def item_lock(path: str | os.PathLike) -> Iterator[bool]:
    """An exclusive, non-blocking lock on the work that makes ``path``: yields True if this process holds it.

    ``fcntl.flock`` on ``.<name>.lock`` beside ``path`` (hidden, and matching no artifact's suffix): the kernel
    releases it when the holder dies, so a crash never leaves a lock behind that blocks a rerun (the empty lock file
    itself is harmless and removed by the next holder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}{LOCK_SUFFIX}")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.write(fd, f"{HOST} {os.getpid()}\n".encode())
        try:
            yield True
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)


MADE_BY = "made_by"


def read_made_by(path: str | os.PathLike) -> dict | None:
    """What an artifact records about what made it (``made_by``: settings, input identity, fingerprint), or None
    for an artifact written before artifacts recorded it. JSON documents hold it at the top level, ``.npz`` files
    in their ``meta_json`` member."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as data:
            return json.loads(str(data["meta_json"])).get(MADE_BY) if "meta_json" in data.files else None
    document = read_json(path)
    return document.get(MADE_BY) if isinstance(document, dict) else None


def stamp_made_by(path: str | os.PathLike, made_by: dict) -> None:
    """Record ``made_by`` in an existing artifact (adopting one written before artifacts recorded it)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.get("meta_json", "{}"))) | {MADE_BY: made_by}
        arrays["meta_json"] = np.array(json.dumps(meta, default=json_default, sort_keys=True))
        write_npz(path, **arrays)
        return
    write_json(path, read_json(path) | {MADE_BY: made_by})


def file_identity(path: str | os.PathLike) -> dict[str, int]:
    """Size and modification time (ns): a replaced or rewritten input file changes them."""
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
