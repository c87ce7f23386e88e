"""Per-epoch checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint holds the trainer state (model, optimiser, schedule, EMA, AMP scaler, step count), the
epoch, the curve so far, the RNG states (torch, Python, NumPy) and the data-order generator. It
also holds the run's identity (settings, network, data) so that resuming under other settings is
refused instead of silently mixing two runs. It loads with ``weights_only=True``.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpunet_hub._io import atomic_path
from gpunet_hub.errors import CheckpointError

CHECKPOINT_FORMAT = "gpunet-eval-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"


def rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    """The RNG states a run consumes: torch (CPU and CUDA), Python, NumPy, and the data order."""
    np_state: Any = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "loader": loader_generator.get_state(),
    }


def restore_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, key, *rest = state["python"]
    random.setstate((version, tuple(key), *rest))
    name, keys, *tail = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *tail))
    loader_generator.set_state(state["loader"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Writes ``payload`` (plus the format tag) through a temp file renamed on success."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    return path


def _differences(expected: dict[str, Any], found: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(expected) | set(found)):
        a, b = expected.get(key), found.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: checkpoint has {b!r}, this run {a!r}")
    return out


def load_checkpoint(path: str | Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Reads a checkpoint and checks it belongs to the run described by ``identity``.

    Args:
        path: The checkpoint file.
        identity: The run's settings, network and data (as saved by the evaluator).

    Returns:
        The payload.

    Raises:
        CheckpointError: The file is corrupt or truncated, is not an evaluator checkpoint, or was
            written by a run with other settings (the message names the first differences).
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a torch file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            "delete it to start the run again"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not an evaluator checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    diffs = _differences(identity, payload.get("identity", {}))
    if diffs:
        raise CheckpointError(
            f"{path} belongs to another run ({len(diffs)} difference(s): {'; '.join(diffs[:3])}); "
            "resume with the same settings or use another --out"
        )
    return payload


__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "load_checkpoint",
    "restore_rng_state",
    "rng_state",
    "save_checkpoint",
]
