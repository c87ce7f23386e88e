"""Weight sources: released NGC archives, Hugging Face Hub repos and local files.

``weights`` accepts:

* ``None``: random init, no I/O;
* ``"default"``: the card's source (for the released models, NVIDIA's NGC zip), downloaded once into
  the user cache and converted to safetensors; for a card of a hub folder, whose source is a relative
  url (``model.safetensors``), the file of its card folder, checked against the card's size and hash;
* ``"hf-hub:org/repo"``: ``model.safetensors`` of a Hub repo, through huggingface_hub's cache;
* a local path: ``.safetensors``, an NVIDIA/timm checkpoint (``.pth.tar``, ``.pth``, ``.pt``), the NGC
  ``.zip`` that holds one, or a folder containing any of these.

Pickles load with ``torch.load(weights_only=True)``; archive members that would land outside their
folder are refused; downloads go through a temp file renamed on success and are size-checked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_path, cache_dir, file_sha256
from ..errors import CheckpointError, InputError, WeightsUnavailableError
from ..hub.cards import ModelCard, WeightsSource
from ..hub.catalog import HF_PREFIX, is_relative_url
from ._download import CHECKPOINT_SUFFIXES, check_archive, download, safe_extract
from .nvidia import from_nvidia, is_nvidia_state_dict

if TYPE_CHECKING:
    import torch
    from torch import nn

OFFLINE_ENVS = ("GPUNET_HUB_OFFLINE", "HF_HUB_OFFLINE")


def _offline() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in OFFLINE_ENVS)


def _ways_out(card: ModelCard) -> str:
    filename = card.weights.filename if card.weights else "checkpoint.pth.tar"
    return (
        f"Ways out: (1) pass a local file as weights='/path/to/{filename}' (or the NGC .zip); "
        f"(2) weights=None for a randomly initialised model; (3) run `gpunet-hub download "
        f"{card.name}` once online: files are cached in {cache_dir()}."
    )


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Reads a state dict from safetensors or a (timm/NVIDIA) pickle checkpoint.

    timm training checkpoints hold ``state_dict`` and ``state_dict_ema``: the EMA weights are
    preferred, as timm's ``load_checkpoint(use_ema=True)`` does. DataParallel ``module.`` prefixes
    are removed.

    Raises:
        CheckpointError: For unreadable, unsafe or non-state-dict content.
    """
    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None
    try:
        # timm checkpoints pickle their argparse.Namespace of training arguments: a plain
        # attribute bag, safe to allow. Everything else goes through the weights-only unpickler.
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError here
        raise CheckpointError(
            f"refusing or unable to read {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            "Only weights-only checkpoints load (torch.load(weights_only=True))."
        ) from None
    if isinstance(obj, Mapping):
        for key in ("state_dict_ema", "state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, Any], origin: str) -> None:
    """Loads with strict key and shape matching, turning mismatches into a readable CheckpointError."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with wrong shapes (e.g. {k}: {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)})"
            )
        raise CheckpointError(f"weights from {origin} do not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def _check_cached(path: Path) -> None:
    """Refuses (and removes) a cached safetensors file whose header does not parse."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise CheckpointError(
            f"the cached file {path} was broken ({exc}) and has been removed; run the same call again to rebuild it",
            params=("weights",),
        ) from None


def _converted(source: Path, card: ModelCard, target: Path | None = None) -> Path:
    """Converts a checkpoint (pickle or zip) to safetensors once; later calls reuse the cached file.

    A zip's checkpoint is extracted into a temporary folder removed afterwards, so the cache keeps
    the safetensors file only.
    """
    from safetensors.torch import save_file

    target = target or cache_dir("converted") / f"{card.name}-{file_sha256(source, 16)}.safetensors"
    if target.is_file():
        _check_cached(target)
        return target
    if source.suffix == ".zip":
        member = card.weights.filename if card.weights else None
        with tempfile.TemporaryDirectory(prefix=".extract-", dir=cache_dir()) as folder:
            state = read_checkpoint(safe_extract(source, member, Path(folder)))
    else:
        state = read_checkpoint(source)
    if is_nvidia_state_dict(state):
        state = from_nvidia(state, card.arch)
    with atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    return target


def _local(path: Path, card: ModelCard) -> Path:
    if path.is_dir():
        for pattern in ("model.safetensors", "*.safetensors", "*.pth.tar", "*.pth", "*.pt", "*.zip"):
            found = sorted(path.glob(pattern))
            if found:
                return _local(found[0], card)
        raise InputError(
            f"folder {path} holds no .safetensors, .pth.tar, .pth, .pt or .zip weights", params=("weights",)
        )
    if not path.is_file():
        raise InputError(
            f"no weights file at {path}; weights= takes a .safetensors, .pth.tar or NGC .zip path, 'default', or None",
            params=("weights",),
        )
    if path.suffix == ".safetensors":
        return path
    if path.suffix == ".zip" or str(path).endswith(CHECKPOINT_SUFFIXES):
        return _converted(path, card)
    raise InputError(
        f"{path}: unknown weights format; expected .safetensors, .pth.tar/.pth/.pt or .zip", params=("weights",)
    )


def _default_source(card: ModelCard) -> tuple[WeightsSource, str]:
    """A card's weights source and the cache name of its default weights (the URL decides it)."""
    if card.weights is None:
        raise WeightsUnavailableError(f"{card.name} has no weights source. {_ways_out(card)}", params=("weights",))
    return card.weights, f"{card.name}-{hashlib.sha256(card.weights.url.encode()).hexdigest()[:12]}"


def install_local_weights(card: ModelCard, path: str | Path) -> Path:
    """Makes a local copy of a card's released weights its cached default, with no network.

    The file (the NGC ``.zip``, a ``.pth.tar`` or a ``.safetensors``) is converted and checked by
    loading it strictly into the card's network; only then does it become what
    ``load(name)`` / ``weights="default"`` uses, so offline machines get the default weights.

    Returns:
        The cached safetensors file.

    Raises:
        InputError: A missing or unreadable file, or an unknown format.
        CheckpointError: A file that is not a checkpoint of this model (nothing is cached then).
    """
    from ..builder import build_model

    target = cache_dir("converted") / f"{_default_source(card)[1]}.safetensors"
    converted = fetch_weights(card, Path(path))
    load_state_dict_strict(build_model(card.arch), read_checkpoint(converted), str(path))
    if converted != target:
        with atomic_path(target) as tmp:
            tmp.write_bytes(converted.read_bytes())
    return target


def _card_folder_file(card: ModelCard, source: WeightsSource, folder: Path | None) -> Path:
    """The weights file of a hub card (a ``url`` relative to its card folder), checked by size and hash."""
    from ..hub.cards_io import WEIGHTS_NAME

    if folder is None:
        raise WeightsUnavailableError(
            f"{card.name}'s weights are the file {source.url!r} of its card folder, and this card was not read from "
            "a hub folder; pass hub='<the hub folder>' or 'hf-hub:org/repo' (or weights='/path/to/model.safetensors')",
            params=("weights",),
        )
    path = (folder / source.url).resolve()
    if folder.resolve() not in path.parents:
        raise CheckpointError(f"{card.name}: the weights url {source.url!r} leaves its card folder {folder}")
    if source.format != "safetensors" or path.suffix != ".safetensors":
        raise CheckpointError(
            f"{card.name}: a card folder's weights must be a {WEIGHTS_NAME} file in format 'safetensors', "
            f"got {source.url!r} ({source.format})"
        )
    if not path.is_file():
        raise CheckpointError(
            f"{card.name}: the hub folder has no weights file {path}; write the hub again, or load with weights=None"
        )
    if source.size is not None and path.stat().st_size != source.size:
        raise CheckpointError(f"{path} has {path.stat().st_size} bytes, the card of {card.name} says {source.size}")
    if source.sha256 is not None and file_sha256(path) != source.sha256:
        raise CheckpointError(f"{path}: its SHA-256 differs from the {source.sha256} of {card.name}'s card")
    return path


def _default(card: ModelCard, progress: bool, folder: Path | None = None) -> Path:
    if card.weights is not None and is_relative_url(card.weights.url):
        return _card_folder_file(card, card.weights, folder)
    source, key = _default_source(card)
    target = cache_dir("converted") / f"{key}.safetensors"
    if target.is_file():
        _check_cached(target)
        return target
    archive = cache_dir("downloads") / f"{key}.zip"
    if archive.is_file():  # downloaded earlier, not converted yet: check before use
        try:
            _check_download(archive, source)
        except CheckpointError as exc:
            archive.unlink(missing_ok=True)
            raise CheckpointError(
                f"removed the broken cached archive {archive}: {exc}. Run the same call again to download it afresh",
                params=("weights",),
            ) from None
    else:
        if _offline():
            raise WeightsUnavailableError(
                f"offline mode is on and {card.name}'s weights are not cached. {_ways_out(card)}", params=("weights",)
            )
        try:
            download(
                source.url,
                archive,
                sha256=source.sha256,
                size=source.size,
                progress=progress,
                verify=lambda tmp: check_archive(tmp, origin=f"the download of {source.url}"),
            )
        except WeightsUnavailableError as exc:
            raise WeightsUnavailableError(f"{exc}. {_ways_out(card)}", params=("weights",)) from None
    try:
        _converted(archive, card, target)
    except CheckpointError as exc:
        archive.unlink(missing_ok=True)
        raise CheckpointError(f"{exc} (removed the downloaded archive {archive})", params=("weights",)) from None
    archive.unlink(missing_ok=True)  # the safetensors file is all that is needed from now on
    return target


def _check_download(archive: Path, source: WeightsSource) -> None:
    """Size, hash (where the card knows them) and zip integrity of a cached archive."""
    if source.size is not None and archive.stat().st_size != source.size:
        raise CheckpointError(f"it has {archive.stat().st_size} bytes, expected {source.size}")
    if source.sha256 is not None and file_sha256(archive) != source.sha256:
        raise CheckpointError(f"its SHA-256 differs from the expected {source.sha256}")
    check_archive(archive)


def _endpoint_reachable(endpoint: str, timeout: float = 3.0) -> str | None:
    """``None`` when a TCP connection to ``endpoint`` opens within ``timeout``, else the reason."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # through a proxy: let huggingface_hub find out
    parts = urllib.parse.urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {parts.hostname}:{port} ({exc})"


def _check_repo_id(repo: str, param: str) -> None:
    """Refuses a Hub model id that is not ``org/name``."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        if repo.count("/") != 1:
            raise HFValidationError("it must have the form 'org/name'")
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise InputError(
            f"{param}={HF_PREFIX + repo!r} is not a Hugging Face Hub model id: {exc}. "
            f"Write it as '{HF_PREFIX}org/name', e.g. '{HF_PREFIX}timm/resnet50.a1_in1k'",
            params=(param,),
        ) from None


def _hub_offline() -> tuple[bool, str | None]:
    """Whether to read the Hub cache only, and why (``None``: offline mode is on or the Hub is reachable)."""
    from huggingface_hub import constants

    unreachable = None if _offline() else _endpoint_reachable(constants.ENDPOINT)
    return _offline() or unreachable is not None, unreachable


HUB_FILES = ("*.json", "*.md", "*.safetensors")
"""What :func:`hub_snapshot` fetches of a hub repository: indexes, configs, cards and weights."""


def hub_snapshot(repo: str) -> Path:
    """The local folder of a hub published as the Hugging Face model repository ``repo``.

    Downloads through huggingface_hub's cache (``snapshot_download``); offline (``HF_HUB_OFFLINE``,
    ``GPUNET_HUB_OFFLINE``, or the Hub unreachable) it reads the cache only.

    Raises:
        InputError: A malformed id, or a repository that does not exist.
        WeightsUnavailableError: Offline (or the Hub unreachable) and the repo is not cached.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    _check_repo_id(repo, "hub")
    offline, unreachable = _hub_offline()
    try:
        # huggingface_hub reads HF_HUB_OFFLINE once at import; ask for the cache explicitly instead.
        return Path(snapshot_download(repo_id=repo, allow_patterns=list(HUB_FILES), local_files_only=offline))
    except LocalEntryNotFoundError:
        why = f"this machine is offline: {unreachable}" if unreachable else "offline mode is on"
        raise WeightsUnavailableError(
            f"cannot fetch the hub {repo!r} from the Hugging Face Hub ({why}) and it is not in the local Hub cache; "
            "fetch it once online, or pass the hub folder itself as hub='/path/to/hub'",
            params=("hub",),
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise InputError(f"no Hugging Face model repo {repo!r}: {str(exc).splitlines()[0]}", params=("hub",)) from None
    except OSError as exc:  # huggingface_hub's HTTP and connection errors are OSErrors
        raise WeightsUnavailableError(
            f"cannot fetch the hub {repo!r} from the Hugging Face Hub: {str(exc).splitlines()[0] if str(exc) else exc!r}",
            params=("hub",),
        ) from None


def _hf_hub(repo: str, card: ModelCard) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    _check_repo_id(repo, "weights")
    offline, unreachable = _hub_offline()
    try:
        # huggingface_hub reads HF_HUB_OFFLINE once at import; ask for the cache explicitly instead.
        return Path(hf_hub_download(repo_id=repo, filename="model.safetensors", local_files_only=offline))
    except LocalEntryNotFoundError:  # offline, or the Hub unreachable, and nothing cached
        why = f"this machine is offline: {unreachable}" if unreachable else "offline mode is on"
        if not offline:
            why = "the Hugging Face Hub could not be reached"
        raise WeightsUnavailableError(
            f"cannot fetch {repo!r} from the Hugging Face Hub ({why}) and it is not in the local Hub cache. "
            f"{_ways_out(card)}",
            params=("weights",),
        ) from None
    except (RepositoryNotFoundError, EntryNotFoundError) as exc:
        raise InputError(
            f"Hub repo {repo!r} has no model.safetensors: {str(exc).splitlines()[0]}", params=("weights",)
        ) from None
    except Exception as exc:  # huggingface_hub raises several connection error types
        raise WeightsUnavailableError(
            f"cannot fetch {repo!r} from the Hugging Face Hub: {str(exc).splitlines()[0] if str(exc) else exc!r}. "
            f"{_ways_out(card)}",
            params=("weights",),
        ) from None


def fetch_weights(
    card: ModelCard, weights: str | Path = "default", *, progress: bool = True, folder: Path | None = None
) -> Path:
    """Resolves a weights argument to a safetensors file with gpunet-hub key names.

    Args:
        card: The model's card.
        weights: See the module docstring.
        progress: Show a download progress bar.
        folder: The card folder of a card read from a hub folder, where ``"default"`` weights with a
            relative url live.

    Returns:
        The path (in the user cache for downloads and conversions).

    Raises:
        InputError: For a ``weights`` that is not a string or path, is empty, or is malformed.
        CheckpointError: For a file that is not a readable checkpoint (a broken cache entry is
            removed and named).
        WeightsUnavailableError: When a download is needed and cannot happen (offline).
    """
    if not isinstance(weights, (str, os.PathLike)):
        raise InputError(
            f"weights must be 'default', 'hf-hub:org/name', a file path or None, got {type(weights).__name__} "
            f"{weights!r}",
            params=("weights",),
        )
    if not str(weights).strip():
        raise InputError(
            "weights='' names no file; pass 'default', 'hf-hub:org/name', a file path, or None for random weights",
            params=("weights",),
        )
    if isinstance(weights, str) and weights == "default":
        return _default(card, progress, folder)
    if isinstance(weights, str) and weights.startswith(HF_PREFIX):
        return _hf_hub(weights[len(HF_PREFIX) :], card)
    return _local(Path(weights).expanduser(), card)


def load_weights(model: nn.Module, card: ModelCard, weights: str | Path, *, folder: Path | None = None) -> None:
    """Loads ``weights`` (see module docstring) into ``model`` with strict key matching.

    ``folder`` is the card folder of a card read from a hub folder (see :func:`fetch_weights`).
    """
    path = fetch_weights(card, weights, folder=folder)
    state = read_checkpoint(path)
    if is_nvidia_state_dict(state):
        state = from_nvidia(state, card.arch)
    load_state_dict_strict(model, state, str(weights))
