"""Small helpers every module shares: atomic writes, the user cache, hashes and timestamps.

The search pipeline imports these too (``file_sha256``, ``json_sha256``, ``utc_now``), so files,
fingerprints and dates are written one way across the project.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CACHE_ENV = "GPUNET_HUB_CACHE"
_CHUNK = 1 << 20


def cache_dir(*parts: str) -> Path:
    """Returns (and creates) a folder in the user cache.

    The root is ``$GPUNET_HUB_CACHE`` if set, else ``$XDG_CACHE_HOME/gpunet-hub``, else
    ``~/.cache/gpunet-hub``. Nothing is ever written into the package or the working directory.
    """
    root = os.environ.get(CACHE_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "gpunet-hub")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or cannot be probed): leave its file alone
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Removes temp files that :func:`atomic_path` left beside ``path`` in a process that has died.

    Temp names carry the writer's process id (``.<name>.<pid>.<random>.tmp``); files of live
    processes (a concurrent writer) are kept. Called by :func:`atomic_path` before each write, so a
    killed export or download is cleaned up by the next one.

    Returns:
        The removed files.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    prefix = f".{path.name}."
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid_text = candidate.name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):  # another process removed it first
            candidate.unlink()
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only if the block succeeds.

    The temp file is removed when the block fails or is interrupted (run long writes inside
    :func:`sigterm_as_interrupt` so that SIGTERM counts as an interruption); temp files of killed
    processes are removed on the next write to the same path (:func:`remove_stale_temps`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` as Ctrl-C does, so cleanup runs.

    A no-op outside the main thread (only it may set signal handlers); the previous handler is
    restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` through a temp file renamed on success."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` through a temp file renamed on success."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | Path, length: int | None = None) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks.

    Args:
        path: The file.
        length: Keep only this many leading hex digits (``None``: all 64).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def json_sha256(payload: Any, length: int | None = None) -> str:
    """Hex SHA-256 of a JSON-serialisable value in canonical form (sorted keys, no spaces).

    Args:
        payload: The value (non-JSON leaves are written with ``str``).
        length: Keep only this many leading hex digits (``None``: all 64).
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def utc_now() -> str:
    """The current time in UTC, ISO 8601 with seconds precision (``2025-01-02T03:04:05+00:00``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
