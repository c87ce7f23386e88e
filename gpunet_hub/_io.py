"""Small helpers every module shares: atomic writes, the user cache, hashes and timestamps.

The search pipeline imports these too (``file_sha256``, ``json_sha256``, ``utc_now``), so files,
fingerprints and dates are written one way across the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
