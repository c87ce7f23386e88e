"""Safe downloads and archives: temp files renamed when complete and verified, no path traversal."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .._io import atomic_path, file_sha256
from ..errors import CheckpointError, WeightsUnavailableError

CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar", ".bin")
_CHUNK = 1 << 20


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Downloads ``url`` to ``dest`` through a temp file renamed only when complete and verified.

    Args:
        url: HTTP(S) URL.
        dest: Final path.
        sha256: Expected hash, checked when given.
        size: Expected size in bytes, checked when given (else the server's Content-Length is).
        progress: Show a tqdm progress bar (hidden when stderr is not a terminal).
        timeout: Socket timeout in seconds.

    Raises:
        WeightsUnavailableError: When the server cannot be reached or answers with an error.
        CheckpointError: When the download is truncated or its hash or size is wrong.
    """
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "gpunet-hub"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsUnavailableError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
    with response, atomic_path(dest) as tmp:
        expected = size or int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with (
            open(tmp, "wb") as handle,
            tqdm(total=expected, unit="B", unit_scale=True, desc=dest.name, disable=None if progress else True) as bar,
        ):
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except OSError as exc:
                    raise WeightsUnavailableError(f"download of {url} failed after {received} bytes: {exc}") from None
                if not chunk:
                    break
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise CheckpointError(f"download of {url} is incomplete: {received} of {expected} bytes; try again")
        if sha256 is not None and file_sha256(tmp) != sha256:
            raise CheckpointError(f"download of {url} has the wrong SHA-256 (expected {sha256}); refusing it")
    return dest


def safe_extract(archive: Path, member: str | None, dest: Path) -> Path:
    """Extracts one checkpoint from a zip, refusing members that escape ``dest``.

    Args:
        archive: The zip file.
        member: Name of the wanted member (matched on its basename); ``None`` takes the only
            checkpoint in the archive.
        dest: Folder to extract into.

    Returns:
        Path of the extracted file.

    Raises:
        CheckpointError: For a corrupt archive, a traversal member, or no/ambiguous checkpoint.
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
            target = dest / Path(chosen[0]).name
            with zf.open(chosen[0]) as source, atomic_path(target) as tmp, open(tmp, "wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)
            return target
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{archive} is not a valid zip archive ({exc}); delete it and download again") from None
