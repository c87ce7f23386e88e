"""Which cards a call sees: the packaged hub, a hub folder, a Hugging Face repo, or the packaged hub
plus the folders of ``GPUNET_HUB_PATH``.

A :class:`Catalog` is an immutable set of cards with their names, aliases and measured devices.
:func:`catalog` opens one for a ``hub=`` argument:

* ``None``: the packaged cards plus every folder listed in ``GPUNET_HUB_PATH`` (``os.pathsep``
  separated); a name or alias found in two of them is an error naming both sources;
* a folder (``str`` or :class:`~pathlib.Path`): that hub folder only, read from its ``index.json``
  (:data:`~gpunet_hub.hub.cards_io.HUB_INDEX_NAME`) or, without one, from its card folders;
* ``"hf-hub:org/repo"``: that Hugging Face model repository, through huggingface_hub's cache
  (:func:`gpunet_hub.weights.sources.hub_snapshot`);
* a :class:`Catalog`: itself.

Catalogs are cached by resolved path and the modification stamp of what was read, so a folder
rewritten by :func:`~gpunet_hub.hub.cards_io.write_hub` is read afresh; nothing else is kept.
Reading an index needs neither torch nor huggingface_hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Union

from ..errors import InputError, UnknownGPUError, UnknownModelError, did_you_mean
from .cards import ModelCard
from .gpus import known_gpus, resolve_gpu

HUB_PATH_ENV = "GPUNET_HUB_PATH"
"""Environment variable: hub folders (``os.pathsep`` separated) added to the packaged hub."""
HF_PREFIX = "hf-hub:"
PACKAGED = "the packaged hub"
HubArg = Union[str, os.PathLike, "Catalog", None]
"""What ``hub=`` accepts."""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: catalogs are cached, not compared
class Catalog:
    """The cards one call sees.

    Attributes:
        cards: Cards by canonical name.
        origins: Where each card comes from (``the packaged hub``, a folder, ``hf-hub:org/repo``).
        folders: The card folder of each card read from a hub folder (its weights live there).
        label: What this catalog is, for messages.
    """

    cards: Mapping[str, ModelCard]
    origins: Mapping[str, str]
    folders: Mapping[str, Path]
    label: str

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Lower-case name or alias -> canonical name."""
        return {alias.lower(): card.name for card in self.cards.values() for alias in (card.name, *card.aliases)}

    def resolve_name(self, name: str) -> str:
        """Maps a name or alias (``GPUNet-0``, ``GV100/0.65ms``, ``gpunet_0``) to the canonical name.

        Raises:
            UnknownModelError: Listing the models and close matches.
            InputError: When ``name`` is not a string.
        """
        if not isinstance(name, str):
            raise InputError(
                f"name must be a model name such as 'gpunet_0', got {type(name).__name__} {name!r}", params=("name",)
            )
        canonical = self.aliases.get(name.strip().lower())
        if canonical is None:
            hint = " (aliases such as 'GPUNet-0' and 'GV100/0.65ms' work too)" if self.label == PACKAGED else ""
            raise UnknownModelError(
                f"unknown model {name!r} in {self.label}; available: {', '.join(sorted(self.cards))}{hint}."
                + did_you_mean(name, list(self.aliases)),
                params=("name",),
            )
        return canonical

    def model_card(self, name: str) -> ModelCard:
        """The card of a model (by name or alias)."""
        return self.cards[self.resolve_name(name)]

    def card_folder(self, name: str) -> Path | None:
        """The folder a card was read from (``None`` for packaged cards)."""
        return self.folders.get(self.resolve_name(name))

    @cached_property
    def devices(self) -> tuple[str, ...]:
        """Devices with latency rows: known GPU keys in the package's order, then other labels sorted."""
        seen = {row.gpu for card in self.cards.values() for row in card.latency}
        return tuple([key for key in known_gpus() if key in seen] + sorted(seen - set(known_gpus())))

    def resolve_device(self, name: str) -> str:
        """Maps a device name to the device of this catalog's rows.

        The rules are the packaged GPUs' (:func:`~gpunet_hub.hub.gpus.resolve_gpu`): case-insensitive
        keys and aliases, and names matched anywhere in a longer device name; rows labelled with a
        device name (``GPU: NVIDIA A100-SXM4-80GB``) answer to that GPU's aliases. A device the package
        does not know (a CPU a hub was measured on, labelled as ``gpunet-hub bench`` labels it) is
        matched by its label or by any part of it that names one device only (``"cpu"`` when the
        hub was measured on one CPU).

        Returns:
            The device key or label, or ``"local"``.

        Raises:
            UnknownGPUError: Naming the devices this catalog has rows for and close matches.
            InputError: When ``name`` is not a string.
        """
        if not isinstance(name, str):
            raise InputError(
                f"gpu must be a GPU name such as 'GV100', 'V100' or 'local', got {type(name).__name__} {name!r}",
                params=("gpu",),
            )
        cleaned = name.strip().lower()
        for device in self.devices:
            if device.lower() == cleaned:
                return device
        others = [d for d in self.devices if d not in known_gpus()]
        try:
            key = resolve_gpu(name)
        except UnknownGPUError:
            if not others:
                raise
        else:
            # a GPU the rows name by its device label ("GPU: NVIDIA A100-SXM4-80GB") answers to its aliases
            same = [d for d in others if _gpu_key(d) == key]
            return same[0] if key not in self.devices and len(same) == 1 else key
        hits = [d for d in others if cleaned and cleaned in d.lower()]
        if len(hits) == 1:
            return hits[0]
        listed = ", ".join(repr(d) for d in self.devices)
        which = (
            f"{name!r} matches several of them: {', '.join(map(repr, hits))}" if hits else f"unknown device {name!r}"
        )
        raise UnknownGPUError(
            f"{which}; {self.label} has latency rows for {listed} (a unique part of a label works, "
            "case-insensitive), and 'local' selects by what `gpunet-hub bench --save` measured here."
            + did_you_mean(name, list(self.devices)),
            params=("gpu",),
        )


def _gpu_key(label: str) -> str | None:
    """The packaged GPU key a device label names, if any."""
    try:
        return resolve_gpu(label)
    except UnknownGPUError:
        return None


def _from_index(data: Any, where: str, folder: Path | None) -> Catalog:
    """A catalog from an index dict (the package's or a hub folder's)."""
    from .cards_io import INDEX_VERSION

    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise InputError(f"{where}: not a gpunet-hub index (no 'models' mapping)")
    if data.get("version") != INDEX_VERSION:
        raise InputError(
            f"{where}: index version {data.get('version')!r}, this gpunet-hub reads version {INDEX_VERSION}"
        )
    cards: dict[str, ModelCard] = {}
    for name, entry in data["models"].items():
        try:
            card = ModelCard.from_dict(entry)
        except InputError as exc:
            raise type(exc)(f"{where}: model {name!r}: {exc}", params=exc.params) from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{where}: model {name!r}: missing or malformed field {exc}") from None
        if card.name != name:
            raise InputError(f"{where}: the entry {name!r} holds the card of {card.name!r}")
        cards[name] = card
    if not cards:
        raise InputError(f"{where}: the index lists no models")
    label = PACKAGED if folder is None else str(folder)
    folders = {} if folder is None else {name: folder / name for name in cards}
    return Catalog(
        MappingProxyType(cards), MappingProxyType(dict.fromkeys(cards, label)), MappingProxyType(folders), label
    )


@lru_cache(maxsize=1)
def packaged() -> Catalog:
    """The cards shipped in the package (``gpunet_hub/_data/index.json``)."""
    text = resources.files("gpunet_hub").joinpath("_data/index.json").read_text()
    return _from_index(json.loads(text), "the package index", None)


def _stamp(folder: Path) -> tuple[Any, ...]:
    """What a folder catalog depends on: its index's stat, or its card READMEs' stats."""
    from .cards_io import HUB_INDEX_NAME

    index = folder / HUB_INDEX_NAME
    if index.is_file():
        stat = index.stat()
        return (HUB_INDEX_NAME, stat.st_mtime_ns, stat.st_size)
    readmes = sorted(folder.glob("*/README.md"))
    return tuple((p.parent.name, p.stat().st_mtime_ns, p.stat().st_size) for p in readmes)


def _checked_folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(
            f"{what} {str(path)!r} does not exist; pass a hub folder written by `gpunet-hub search regenerate` "
            "(or gpunet_hub.hub.cards_io.write_hub), or 'hf-hub:org/repo'",
            params=("hub",),
        )
    if not folder.is_dir():
        raise InputError(f"{what} {str(path)!r} is a file, not a hub folder", params=("hub",))
    return folder.resolve()


@lru_cache(maxsize=32)
def _folder_catalog(folder: Path, stamp: tuple[Any, ...], label: str) -> Catalog:
    from .cards_io import HUB_INDEX_NAME, read_card

    index = folder / HUB_INDEX_NAME
    if stamp and stamp[0] == HUB_INDEX_NAME:
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(
                f"hub index {index} is corrupt ({' '.join(str(exc).split())}); rewrite it with "
                f"gpunet_hub.hub.cards_io.write_index(hub, hub / {HUB_INDEX_NAME!r}) or delete it to read the card folders",
                params=("hub",),
            ) from None
        found = _from_index(data, f"hub index {index}", folder)
    elif stamp:
        read = {folder / name: read_card(folder / name) for name, *_ in stamp}
        cards = {card.name: card for card in read.values()}
        found = Catalog(
            MappingProxyType(cards),
            MappingProxyType({}),
            MappingProxyType({card.name: path for path, card in read.items()}),
            label,
        )
    else:
        raise InputError(
            f"hub folder {folder} holds no model cards (no {HUB_INDEX_NAME} and no <name>/README.md); "
            "write one with `gpunet-hub search regenerate` or gpunet_hub.hub.cards_io.write_hub",
            params=("hub",),
        )
    missing = sorted(name for name, path in found.folders.items() if not path.is_dir())
    if missing:
        raise InputError(
            f"hub folder {folder}: its index lists {missing} but has no such card folders", params=("hub",)
        )
    return Catalog(found.cards, MappingProxyType(dict.fromkeys(found.cards, label)), found.folders, label)


def folder_catalog(path: str | os.PathLike, *, label: str | None = None) -> Catalog:
    """The cards of one hub folder (re-read when its index or cards change).

    Raises:
        InputError: A missing folder, a file, a folder without cards, a corrupt index or card.
    """
    folder = _checked_folder(path, "hub folder")
    return _folder_catalog(folder, _stamp(folder), label or str(folder))


def hub_folder(hub: str | os.PathLike) -> Path:
    """The local folder of a hub argument: the folder itself, or the cached snapshot of ``hf-hub:org/repo``."""
    text = os.fspath(hub)
    if isinstance(text, str) and text.startswith(HF_PREFIX):
        from ..weights.sources import hub_snapshot

        return hub_snapshot(text[len(HF_PREFIX) :])
    return _checked_folder(text, "hub folder")


@contextlib.contextmanager
def hub_path_added(hub: str | os.PathLike | None) -> Iterator[Path | None]:
    """Within the block, ``hub`` (a folder or ``hf-hub:org/repo``) is added to ``GPUNET_HUB_PATH``.

    For front ends whose calls read the default hub (the CLI's ``bench --hub``); the variable is
    restored on exit. The hub is read once on entry, so a bad one fails before any work.

    Yields:
        The hub's local folder (``None`` when ``hub`` is ``None``).
    """
    if hub is None:
        yield None
        return
    folder = hub_folder(hub)
    folder_catalog(folder)
    old = os.environ.get(HUB_PATH_ENV)
    os.environ[HUB_PATH_ENV] = os.pathsep.join([str(folder), *([old] if old else [])])
    try:
        default_catalog()  # a clash with the packaged hub fails here, before any work
        yield folder
    finally:
        if old is None:
            os.environ.pop(HUB_PATH_ENV, None)
        else:
            os.environ[HUB_PATH_ENV] = old


def merge(catalogs: list[Catalog], label: str) -> Catalog:
    """One catalog of several; a name or alias in two of them is an error naming both sources.

    Raises:
        InputError: On a clash.
    """
    cards: dict[str, ModelCard] = {}
    origins: dict[str, str] = {}
    folders: dict[str, Path] = {}
    owner: dict[str, str] = {}  # lower-case alias -> canonical name
    for cat in catalogs:
        for name, card in cat.cards.items():
            for alias in (name, *card.aliases):
                other = owner.get(alias.lower())
                if other is not None:
                    raise InputError(
                        f"the name {alias!r} of {name} from {cat.origins[name]} is already taken by {other} from "
                        f"{origins[other]}; rename one of them or remove that folder from {HUB_PATH_ENV}",
                        params=("hub",),
                    )
                owner[alias.lower()] = name
            cards[name], origins[name] = card, cat.origins[name]
            if name in cat.folders:
                folders[name] = cat.folders[name]
    return Catalog(MappingProxyType(cards), MappingProxyType(origins), MappingProxyType(folders), label)


@lru_cache(maxsize=8)
def _merged(stamps: tuple[tuple[Path, tuple[Any, ...]], ...]) -> Catalog:
    parts = [packaged()] + [_folder_catalog(folder, stamp, str(folder)) for folder, stamp in stamps]
    where = " and ".join([PACKAGED] + [str(folder) for folder, _ in stamps])
    return merge(parts, where)


def extra_folders() -> list[Path]:
    """The folders ``GPUNET_HUB_PATH`` lists (checked to exist)."""
    entries = [e for e in os.environ.get(HUB_PATH_ENV, "").split(os.pathsep) if e.strip()]
    return [_checked_folder(e, f"{HUB_PATH_ENV} entry") for e in entries]


def default_catalog() -> Catalog:
    """The packaged cards plus those of the ``GPUNET_HUB_PATH`` folders."""
    folders = list(dict.fromkeys(extra_folders()))
    if not folders:
        return packaged()
    return _merged(tuple((folder, _stamp(folder)) for folder in folders))


def catalog(hub: HubArg = None) -> Catalog:
    """The catalog of a ``hub=`` argument (see the module docstring).

    Raises:
        InputError: A malformed argument, or a hub that does not exist or does not read.
        EnvironmentProblem: ``hf-hub:`` offline with nothing cached.
    """
    if hub is None:
        return default_catalog()
    if isinstance(hub, Catalog):
        return hub
    if not isinstance(hub, (str, os.PathLike)) or not os.fspath(hub).strip():
        raise InputError(
            f"hub must be a hub folder or 'hf-hub:org/repo', got {type(hub).__name__} {hub!r}", params=("hub",)
        )
    text = os.fspath(hub)
    if isinstance(text, str) and text.startswith(HF_PREFIX):
        return folder_catalog(hub_folder(text), label=text)
    return folder_catalog(text)


def is_relative_url(url: str) -> bool:
    """Whether a weights URL names a file of the card's own folder (``model.safetensors``)."""
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) and not Path(url).is_absolute()
