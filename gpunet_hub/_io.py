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
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CACHE_ENV = "GPUNET_HUB_CACHE"
_CHUNK = 1 << 20


def cache_root() -> Path:
    """The user cache's root folder, not created here.

    ``$GPUNET_HUB_CACHE`` if set, else ``$XDG_CACHE_HOME/gpunet-hub``, else ``~/.cache/gpunet-hub``.
    """
    root = os.environ.get(CACHE_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "gpunet-hub")
    return Path(root)


def cache_dir(*parts: str) -> Path:
    """Returns (and creates) a folder in the user cache (:func:`cache_root`).

    Nothing is ever written into the package or the working directory.
    """
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


#: What gpunet-hub stores in its cache and can rebuild: folder -> what it holds.
CACHE_KINDS = {
    "converted": "weights converted to safetensors",
    "downloads": "weight archives not yet converted",
    "onnx": "ONNX exports made by bench",
    "tensorrt": "TensorRT engines and timing caches",
    "extracted": "checkpoints extracted by older versions",
}


@dataclass(frozen=True)
class CacheEntry:
    """One kind of cached data.

    Attributes:
        kind: A :data:`CACHE_KINDS` key, or ``temp`` for leftovers of interrupted writes.
        path: Its folder.
        files: Number of files.
        bytes: Their total size.
        description: What it holds.
    """

    kind: str
    path: Path
    files: int
    bytes: int
    description: str


def _tree_size(path: Path, *, skip_orphans: bool = False) -> tuple[int, int]:
    files = size = 0
    for item in [path] if path.is_file() else path.rglob("*"):
        if item.is_file() and not item.is_symlink() and not (skip_orphans and _orphaned(item)):
            files += 1
            size += item.stat().st_size
    return files, size


def _temp_leftovers(root: Path) -> list[Path]:
    """Extraction folders and ``atomic_path`` temp files left by processes that have died."""
    if not root.is_dir():
        return []
    found = [p for p in root.glob(".extract-*") if p.is_dir()]
    return found + [tmp for tmp in root.rglob(".*.tmp") if _orphaned(tmp)]


def cache_entries() -> list[CacheEntry]:
    """What the cache holds, by kind (kinds with nothing stored are left out); nothing is created."""
    root = cache_root()
    entries = []
    for kind, description in CACHE_KINDS.items():
        folder = root / kind
        if folder.is_dir():
            files, size = _tree_size(folder, skip_orphans=True)
            if files:
                entries.append(CacheEntry(kind, folder, files, size, description))
    leftovers = _temp_leftovers(root)
    if leftovers:
        sizes = [_tree_size(p) for p in leftovers]
        entries.append(
            CacheEntry(
                "temp",
                root,
                sum(f for f, _ in sizes),
                sum(b for _, b in sizes),
                "leftovers of interrupted downloads and exports",
            )
        )
    return entries


def clear_cache(kinds: Iterable[str] | None = None) -> list[CacheEntry]:
    """Deletes cached data that gpunet-hub can rebuild (never the local latency table).

    Args:
        kinds: :data:`CACHE_KINDS` keys and/or ``temp``; ``None``: all of them.

    Returns:
        The entries that were removed.

    Raises:
        InputError: For an unknown kind (before anything is deleted).
    """
    from . import _validate

    allowed = (*CACHE_KINDS, "temp")
    wanted = set(allowed) if kinds is None else {_validate.choice(k, "kinds", allowed) for k in kinds}
    removed = []
    root = cache_root()
    for entry in cache_entries():
        if entry.kind not in wanted:
            continue
        targets = _temp_leftovers(root) if entry.kind == "temp" else [entry.path]
        for target in targets:
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or cannot be probed): leave its file alone
    return True


def _orphaned(tmp: Path) -> bool:
    """Whether a temp file named by :func:`atomic_path` (``.<name>.<pid>.<random>.tmp``) lost its writer."""
    parts = tmp.name.rsplit(".", 3)
    return len(parts) == 4 and parts[1].isdigit() and not _pid_alive(int(parts[1]))


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
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if not _orphaned(candidate):
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
