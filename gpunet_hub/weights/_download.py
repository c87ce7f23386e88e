"""Safe downloads and archives: bounded in time and size, verified before they are kept.

* :func:`download` writes through a temp file renamed only when the transfer is complete, within
  its overall deadline and byte cap, and passes the size, hash and content checks it was given;
* :func:`check_archive` tells a real zip from an HTML error page or a truncated file, before an
  archive is cached and before a cached one is used;
* :func:`safe_extract` refuses members that would escape their folder and caps the extracted size.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from .._io import atomic_path, file_sha256
from ..errors import CheckpointError, WeightsUnavailableError

CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar", ".bin")
_CHUNK = 1 << 20
GIB = 1 << 30
#: Largest download accepted when neither the caller nor the server states a size.
MAX_DOWNLOAD_BYTES = 4 * GIB
#: Largest checkpoint extracted from an archive (the released ones are below 200 MB).
MAX_EXTRACT_BYTES = 2 * GIB
#: Overall time a download may take, however steadily the server trickles bytes.
DOWNLOAD_DEADLINE_S = 30 * 60.0


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    deadline: float = DOWNLOAD_DEADLINE_S,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    verify: Callable[[Path], None] | None = None,
) -> Path:
    """Downloads ``url`` to ``dest`` through a temp file renamed only when complete and verified.

    Args:
        url: HTTP(S) URL.
        dest: Final path.
        sha256: Expected hash, checked when given.
        size: Expected size in bytes, checked when given (else the server's Content-Length is).
        progress: Show a tqdm progress bar (hidden when stderr is not a terminal).
        timeout: Socket timeout of each read, in seconds.
        deadline: Seconds the whole transfer may take; a server that keeps sending a byte at a time
            is cut off here (the last read may add up to ``timeout``).
        max_bytes: Refuse to receive more than this many bytes (when no size is known).
        verify: Called on the complete temp file before it is kept; raises to refuse it (e.g.
            :func:`check_archive`).

    Raises:
        WeightsUnavailableError: When the server cannot be reached, answers with an error, or the
            transfer exceeds ``deadline``.
        CheckpointError: When the download is truncated, too large, or fails a check.
    """
    from tqdm.auto import tqdm

    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "gpunet-hub"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsUnavailableError(
            f"cannot download {url}: {reason} (is this machine offline?)", params=("weights",)
        ) from None
    with response, atomic_path(dest) as tmp:
        expected = size or int(response.headers.get("Content-Length") or 0) or None
        cap = expected if expected is not None else max_bytes
        received = 0
        with (
            open(tmp, "wb") as handle,
            tqdm(total=expected, unit="B", unit_scale=True, desc=dest.name, disable=None if progress else True) as bar,
        ):
            while True:
                if time.monotonic() - started > deadline:
                    raise WeightsUnavailableError(
                        f"download of {url} took longer than {deadline:g} s ({received} bytes received); "
                        "the server or the network is too slow, try again later",
                        params=("weights",),
                    )
                try:
                    # read1: at most one read of the socket, so the deadline is checked between reads
                    chunk = response.read1(_CHUNK)
                except OSError as exc:
                    raise WeightsUnavailableError(
                        f"download of {url} failed after {received} bytes: {exc}", params=("weights",)
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > cap:
                    raise CheckpointError(
                        f"download of {url} sent more than {cap} bytes (the expected size); refusing it"
                    )
                handle.write(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise CheckpointError(f"download of {url} is incomplete: {received} of {expected} bytes; try again")
        if sha256 is not None and file_sha256(tmp) != sha256:
            raise CheckpointError(f"download of {url} has the wrong SHA-256 (expected {sha256}); refusing it")
        if verify is not None:
            verify(tmp)
    return dest


def check_archive(path: Path, *, origin: str | None = None) -> None:
    """Checks that ``path`` is a complete zip archive (central directory and every member's CRC).

    Args:
        path: The file.
        origin: How to name the file in the message (default: its path).

    Raises:
        CheckpointError: When it is not a zip (an HTML error page, say), truncated or corrupt.
    """
    shown = origin or str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError) as exc:
        head = b""
        try:
            with open(path, "rb") as handle:
                head = handle.read(64)
        except OSError:
            pass
        kind = " (it looks like a web page)" if head.lstrip()[:1] == b"<" else ""
        raise CheckpointError(f"{shown} is not a valid zip archive{kind}: {exc}") from None
    if bad is not None:
        raise CheckpointError(f"{shown} is corrupt: member {bad!r} fails its CRC check")


def safe_extract(archive: Path, member: str | None, dest: Path, *, max_bytes: int = MAX_EXTRACT_BYTES) -> Path:
    """Extracts one checkpoint from a zip, refusing members that escape ``dest`` or are too large.

    Args:
        archive: The zip file.
        member: Name of the wanted member (matched on its basename); ``None`` takes the only
            checkpoint in the archive.
        dest: Folder to extract into.
        max_bytes: Largest extracted size; the copy stops there whatever the header claims, and the
            partial file is removed.

    Returns:
        Path of the extracted file.

    Raises:
        CheckpointError: For a corrupt archive, a traversal member, no/ambiguous checkpoint, or a
            member larger than ``max_bytes`` (a zip bomb).
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            root = dest.resolve()
            for name in names:
                target = (dest / name).resolve()
                if name.startswith(("/", "\\")) or (target != root and root not in target.parents):
                    raise CheckpointError(
                        f"archive {archive.name}: member {name!r} would be written outside {dest}; refusing the archive"
                    )
            checkpoints = [n for n in names if n.endswith((*CHECKPOINT_SUFFIXES, ".safetensors"))]
            if member is not None:
                chosen = [n for n in checkpoints if Path(n).name == member]
            else:
                chosen = checkpoints
            if len(chosen) != 1:
                wanted = repr(member) if member else "exactly one checkpoint"
                raise CheckpointError(
                    f"archive {archive.name} holds {checkpoints or 'no checkpoint'}; expected {wanted}"
                )
            info = zf.getinfo(chosen[0])
            too_big = CheckpointError(
                f"archive {archive.name}: member {chosen[0]!r} extracts to more than {max_bytes} bytes; "
                "refusing it (not a released checkpoint)"
            )
            if info.file_size > max_bytes:
                raise too_big
            target = dest / Path(chosen[0]).name
            with zf.open(info) as source, atomic_path(target) as tmp, open(tmp, "wb") as sink:
                written = 0
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:  # the header lied
                        raise too_big
                    sink.write(chunk)
            return target
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise CheckpointError(f"{archive} is not a valid zip archive ({exc}); delete it and download again") from None
