"""Sample files: scrambled Sobol networks of the 41-integer search space (paper, section 3.2).

The networks come from the space's one Sobol sampler, :meth:`gpunet_hub.space.SearchSpace.sobol`
(a point ``u`` in ``[0, 1)^41`` maps onto each digit's grid by ``values[floor(u * len(values))]``, so
every digit is covered evenly; empty stages are canonical). Rows are deduplicated keeping the first
occurrence, so the file keeps the Sobol order (any prefix is itself a balanced sample) and holds the
same networks as the searcher's default pool for the same seed.

A sample file is an ``.npz`` holding ``encodings`` (``(N, 41)`` int16) plus the metadata needed to
refuse stale combinations later: the space name and fingerprint, the seed and the sampler.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub import _validate
from gpunet_hub._io import atomic_path, file_sha256, utc_now
from gpunet_hub.errors import InputError
from gpunet_hub.space import NUM_DIGITS, SOBOL_ENGINE, SearchSpace, check_many, get_space

SAMPLE_FORMAT = "gpunet-search-samples/1"
TIER_FORMAT = "gpunet-search-tier/1"  # a tier file (tiers.py) is a sample file with estimates


@dataclass(frozen=True)
class SampleSet:
    """Sampled encodings with their provenance.

    Attributes:
        encodings: ``(N, 41)`` integer array, one valid encoding per row, no duplicates.
        space: Name of the search space.
        space_fingerprint: ``SearchSpace.fingerprint()`` at sampling time.
        meta: Seed, sampler, requested count, duplicates dropped, creation time.
        path: The file it was read from, if any.
        sha256: Hash of that file (identifies the sample set in downstream files).
    """

    encodings: np.ndarray
    space: str
    space_fingerprint: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None

    def __len__(self) -> int:
        return int(self.encodings.shape[0])

    def check_space(self) -> SearchSpace:
        """Returns the space, refusing a sample file written under a different definition of it.

        Raises:
            InputError: When the space's current fingerprint differs from the file's.
        """
        space = get_space(self.space)
        if space.fingerprint() != self.space_fingerprint:
            where = f" ({self.path})" if self.path else ""
            raise InputError(
                f"sample file{where} was drawn from space {self.space!r} with fingerprint {self.space_fingerprint}, "
                f"but that space is now {space.fingerprint()}; the ranges changed, so re-run sample() and "
                f"save_samples()"
            )
        return space

    def take(self, rows: np.ndarray) -> SampleSet:
        """The given rows, in that order (``meta`` records how many were taken)."""
        rows = np.asarray(rows, dtype=np.int64)
        meta = dict(self.meta, taken=len(rows))
        return SampleSet(self.encodings[rows], self.space, self.space_fingerprint, meta, self.path, self.sha256)

    def head(self, limit: int | None) -> SampleSet:
        """The first ``limit`` rows (a Sobol prefix, itself evenly spread); all rows for ``None``."""
        if limit is None:
            return self
        limit = _validate.integer(limit, "limit", minimum=1)
        if limit >= len(self):
            return self
        meta = dict(self.meta, limit=int(limit))
        return SampleSet(self.encodings[:limit], self.space, self.space_fingerprint, meta, self.path, self.sha256)


def dedupe_rows(array: np.ndarray, *, seed: int = 0x5EED) -> np.ndarray:
    """Indices of the first occurrence of every distinct row, in their original order.

    Rows are hashed to 64 bits (a random linear hash, wrapping); only rows whose hash occurs more than
    once are compared exactly, so the result is exact and a million rows take a fraction of a second.
    """
    array = np.ascontiguousarray(array)
    if len(array) == 0:
        return np.zeros(0, dtype=np.int64)
    weights = np.random.default_rng(seed).integers(1, 2**63 - 1, size=array.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        hashes = array.astype(np.int64) @ weights
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    if (counts == 1).all():
        return np.sort(first)
    suspect = np.flatnonzero(np.isin(hashes, hashes[first[counts > 1]]))
    rows = array[suspect].view(np.dtype((np.void, array.dtype.itemsize * array.shape[1]))).ravel()
    _, exact_first = np.unique(rows, return_index=True)
    keep = np.ones(len(array), dtype=bool)
    keep[suspect] = False
    keep[suspect[exact_first]] = True
    return np.flatnonzero(keep)


def sample(n: int, space: str | SearchSpace = "table1", *, seed: int = 0, scramble: bool = True) -> SampleSet:
    """Draws ``n`` Sobol points, maps them onto ``space`` and drops duplicate rows.

    Args:
        n: Points to draw (the result may hold a few fewer after deduplication).
        space: Space name or object (default: the paper's Table 1).
        seed: Scrambling seed; the same seed gives the same file.
        scramble: Owen scrambling (off gives the plain Sobol sequence, which starts at the corner).

    Returns:
        The deduplicated sample set.
    """
    n = _validate.integer(n, "n", minimum=1, maximum=2**32)
    seed = _validate.integer(seed, "seed", minimum=0, maximum=2**32 - 1)
    if not isinstance(scramble, bool):
        raise InputError(f"scramble must be True or False, got {scramble!r}", params=("scramble",))
    space = get_space(space)
    start = time.perf_counter()
    encodings = space.sobol(n, seed=seed, scramble=scramble)
    keep = dedupe_rows(encodings)
    encodings = encodings[keep]
    meta = {
        "seed": int(seed),
        "scramble": bool(scramble),
        "sampler": SOBOL_ENGINE,
        "n_requested": int(n),
        "duplicates_dropped": int(n - len(keep)),
        "created": utc_now(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return SampleSet(encodings, space.name, space.fingerprint(), meta)


def save_samples(samples: SampleSet, path: str | Path) -> Path:
    """Writes a sample set as ``.npz`` atomically (encodings + metadata as JSON).

    Raises:
        InputError: When ``path`` cannot be written (a folder, under a file, unwritable, empty).
    """
    path = _validate.output_file(path, "path")
    header = {
        "format": SAMPLE_FORMAT,
        "space": samples.space,
        "space_fingerprint": samples.space_fingerprint,
        **samples.meta,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, encodings=samples.encodings, meta=np.array(json.dumps(header)))
    return path


def load_samples(path: str | Path, *, check: bool = True) -> SampleSet:
    """Reads a sample file written by :func:`save_samples` (or a tier file written by ``tiers.write_tiers``).

    Args:
        path: The ``.npz`` file.
        check: Also refuse files whose space definition changed since sampling, and invalid rows.

    Raises:
        InputError: Missing/unreadable file, wrong format, stale space, invalid rows.
    """
    path = _validate.input_file(path, "path", "sample file")
    what = f"{path} is not a gpunet-search sample file"
    encodings, header = _read_npz(path, what)
    if not isinstance(header, dict):
        raise InputError(f"{what}: its metadata is not a JSON object", params=("path",))
    if header.get("format") not in (SAMPLE_FORMAT, TIER_FORMAT):
        raise InputError(
            f"{path} has format {header.get('format')!r}, expected {SAMPLE_FORMAT!r} or {TIER_FORMAT!r}",
            params=("path",),
        )
    if not isinstance(header.get("space"), str) or not isinstance(header.get("space_fingerprint"), str):
        raise InputError(f"{what}: its metadata lacks the space name or fingerprint", params=("path",))
    if encodings.ndim != 2 or encodings.shape[1] != NUM_DIGITS or encodings.dtype.kind not in "iu":
        raise InputError(
            f"{what}: encodings must be an (N, {NUM_DIGITS}) integer array, got {encodings.dtype} {encodings.shape}",
            params=("path",),
        )
    if len(encodings) == 0:
        raise InputError(f"{path} holds no networks (0 rows); draw some with sample()", params=("path",))
    space_name = header.pop("space")
    fingerprint = header.pop("space_fingerprint")
    header["file_format"] = header.pop("format")
    samples = SampleSet(encodings, space_name, fingerprint, header, path, file_sha256(path, 16))
    if check:
        space = samples.check_space()
        ok = check_many(encodings, space)
        if not ok.all():
            raise InputError(f"{path}: {int((~ok).sum())} of {len(ok)} rows are not valid encodings of {space.name!r}")
    return samples


def _read_npz(path: Path, what: str) -> tuple[np.ndarray, Any]:
    """The ``encodings`` array and parsed ``meta`` JSON of an ``.npz``, or an InputError saying why not."""
    damaged = (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile)
    try:
        data = np.load(path, allow_pickle=False)
    except damaged as exc:  # EOFError: truncated; ValueError: a pickle or not numpy at all
        raise InputError(f"{what} (damaged or truncated?): {type(exc).__name__}: {exc}", params=("path",)) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(f"{what}: it is a single .npy array, not an .npz archive", params=("path",))
    with data:
        missing = [k for k in ("encodings", "meta") if k not in data.files]
        if missing:
            raise InputError(
                f"{what}: it lacks {', '.join(missing)} (has {', '.join(data.files) or 'nothing'}); write sample "
                "files with save_samples()",
                params=("path",),
            )
        try:
            return np.asarray(data["encodings"]), json.loads(str(data["meta"]))
        except damaged as exc:  # a damaged member, bad JSON
            raise InputError(f"{what} (damaged?): {type(exc).__name__}: {exc}", params=("path",)) from None
