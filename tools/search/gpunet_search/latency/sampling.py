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

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_path, file_sha256, utc_now
from gpunet_hub.errors import InputError
from gpunet_hub.space import SOBOL_ENGINE, SearchSpace, check_many, get_space

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

    def head(self, limit: int | None) -> SampleSet:
        """The first ``limit`` rows (a Sobol prefix, itself evenly spread); all rows for ``None``."""
        if limit is None or limit >= len(self):
            return self
        if limit < 1:
            raise InputError(f"limit must be >= 1, got {limit}")
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
    if n < 1:
        raise InputError(f"the number of samples must be >= 1, got {n}")
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
    """Writes a sample set as ``.npz`` atomically (encodings + metadata as JSON)."""
    import json

    path = Path(path)
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
    import json

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no sample file at {path}; create one with save_samples(sample(n, space), path)")
    try:
        with np.load(path, allow_pickle=False) as data:
            encodings = np.asarray(data["encodings"])
            header = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path} is not a gpunet-search sample file: {exc}") from None
    if header.get("format") not in (SAMPLE_FORMAT, TIER_FORMAT):
        raise InputError(f"{path} has format {header.get('format')!r}, expected {SAMPLE_FORMAT!r} or {TIER_FORMAT!r}")
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
