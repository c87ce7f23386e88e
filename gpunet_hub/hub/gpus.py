"""GPU names: hub keys (``GV100``), short names (``V100``) and what ``torch.cuda.get_device_name()`` prints."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import InputError, UnknownGPUError, did_you_mean

LOCAL = "local"


@dataclass(frozen=True)
class GPUInfo:
    """A GPU the hub knows.

    Attributes:
        key: Hub key, the chip name NVIDIA's release uses (``GV100``).
        display: Human-readable name.
        aliases: Exact names accepted (case-insensitive).
        patterns: Regular expressions matched against device names such as
            ``Tesla V100-SXM2-32GB`` (case-insensitive, anywhere in the name).
    """

    key: str
    display: str
    aliases: tuple[str, ...]
    patterns: tuple[str, ...]


@lru_cache(maxsize=1)
def known_gpus() -> dict[str, GPUInfo]:
    """The GPUs in the package's ``gpus.json``, by key."""
    text = resources.files("gpunet_hub").joinpath("_data/gpus.json").read_text()
    return {
        key: GPUInfo(key, entry["display"], tuple(entry["aliases"]), tuple(entry["patterns"]))
        for key, entry in json.loads(text).items()
    }


def resolve_gpu(name: str) -> str:
    """Maps a GPU name to its hub key.

    Args:
        name: A key (``GV100``), alias (``V100``), device name (``NVIDIA A100-SXM4-80GB``) or ``local``.

    Returns:
        The hub key, or ``"local"``.

    Raises:
        UnknownGPUError: Listing the known GPUs and close matches.
        InputError: When ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise InputError(
            f"gpu must be a GPU name such as 'GV100', 'V100' or 'local', got {type(name).__name__} {name!r}",
            params=("gpu",),
        )
    cleaned = name.strip()
    if cleaned.lower() == LOCAL:
        return LOCAL
    gpus = known_gpus()
    for info in gpus.values():
        if cleaned.lower() == info.key.lower() or cleaned.lower() in (a.lower() for a in info.aliases):
            return info.key
    for info in gpus.values():
        if any(re.search(p, cleaned, flags=re.IGNORECASE) for p in info.patterns):
            return info.key
    names = [info.key for info in gpus.values()] + [a for info in gpus.values() for a in info.aliases]
    known = ", ".join(f"{i.key} ({i.display})" for i in gpus.values())
    raise UnknownGPUError(
        f"unknown GPU {name!r}: the hub has latency rows for {known}, and 'local' selects by what "
        f"`gpunet-hub bench --save` measured on this machine." + did_you_mean(cleaned, names),
        params=("gpu",),
    )
