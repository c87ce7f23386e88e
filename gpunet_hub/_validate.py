"""Checks at the boundary: numbers, names and paths, before any expensive work starts.

Every public function and CLI command of gpunet-hub and its pipeline validates its arguments with
these, so one kind of mistake gets one kind of message: what was wrong, what is allowed, what to do.
Each check raises :class:`~gpunet_hub.errors.InputError` carrying the Python parameter name
(``params``), which the CLI translates into its flag.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError, did_you_mean


def number(
    value: object,
    param: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """A finite real number within bounds (``bool`` and strings are refused, not coerced).

    Args:
        value: What the caller passed.
        param: The parameter's Python name, for the message.
        minimum: Smallest allowed value (``None``: unbounded).
        maximum: Largest allowed value (``None``: unbounded).
        exclusive_minimum: Whether ``minimum`` itself is refused (``> 0`` rather than ``>= 0``).

    Returns:
        The value as a float.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{param} must be a number, got {type(value).__name__} {value!r}", params=(param,))
    try:
        result = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        result = math.inf
    if not math.isfinite(result):
        raise InputError(f"{param} must be a finite number, got {result}", params=(param,))
    if minimum is not None and (result < minimum or (exclusive_minimum and result == minimum)):
        relation = ">" if exclusive_minimum else ">="
        raise InputError(f"{param} must be {relation} {minimum:g}, got {result:g}", params=(param,))
    if maximum is not None and result > maximum:
        raise InputError(f"{param} must be <= {maximum:g}, got {result:g}", params=(param,))
    return result


def integer(value: object, param: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within bounds (``bool``, floats such as ``1.5`` and strings are refused).

    Args:
        value: What the caller passed (an integral float such as ``2.0`` is refused too: say ``2``).
        param: The parameter's Python name, for the message.
        minimum: Smallest allowed value.
        maximum: Largest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{param} must be a whole number, got {type(value).__name__} {value!r}", params=(param,))
    result = int(value)
    if minimum is not None and result < minimum:
        raise InputError(f"{param} must be >= {minimum}, got {result}", params=(param,))
    if maximum is not None and result > maximum:
        raise InputError(f"{param} must be <= {maximum}, got {result}", params=(param,))
    return result


def choice(value: object, param: str, allowed: Iterable[str]) -> str:
    """One of a fixed set of names, with close matches suggested."""
    options = list(allowed)
    if not isinstance(value, str) or value not in options:
        hint = did_you_mean(value, options) if isinstance(value, str) else ""
        raise InputError(f"{param} must be one of {', '.join(options)}, got {value!r}.{hint}", params=(param,))
    return value


def output_file(path: str | os.PathLike[str], param: str) -> Path:
    """A file path that can be written: not empty, not a folder, its parent a writable folder.

    Missing parent folders are allowed where they can be created (the nearest existing ancestor is
    a writable folder); nothing is created here.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{param} must name a file, got {path!r}", params=(param,))
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"{param} {str(target)!r} is a folder; name a file inside it", params=(param,))
    _writable_ancestor(target.parent, param, str(target))
    return target


def output_dir(path: str | os.PathLike[str], param: str) -> Path:
    """A folder that exists and is writable, or can be created."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{param} must name a folder, got {path!r}", params=(param,))
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise InputError(f"{param} {str(target)!r} is a file, not a folder", params=(param,))
    _writable_ancestor(target, param, str(target))
    return target


def input_file(path: str | os.PathLike[str], param: str, what: str = "file") -> Path:
    """An existing, readable, non-empty file."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{param} must name a {what}, got {path!r}", params=(param,))
    target = Path(path).expanduser()
    if not target.exists():
        raise InputError(f"{param}: no such {what}: {str(target)!r}", params=(param,))
    if target.is_dir():
        raise InputError(f"{param} {str(target)!r} is a folder, not a {what}", params=(param,))
    if not os.access(target, os.R_OK):
        raise InputError(f"{param}: {str(target)!r} is not readable", params=(param,))
    if target.stat().st_size == 0:
        raise InputError(f"{param}: {str(target)!r} is empty (0 bytes), not a {what}", params=(param,))
    return target


def _writable_ancestor(folder: Path, param: str, shown: str) -> None:
    probe = folder
    for _ in range(len(folder.parts) + 1):  # bounded walk up to the root
        if probe.exists():
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{param} {shown!r} lies under {str(probe)!r}, which is a file", params=(param,))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{param} {shown!r}: {str(probe)!r} is not writable; choose another place", params=(param,))


def writable_place(path: str | os.PathLike[str], param: str) -> None:
    """Proves by trying that a file can be created where ``path`` will be written (folder or file).

    ``os.access`` says yes to root everywhere (``/proc``, read-only mounts); this creates and removes
    a temporary file in the nearest existing folder, so the failure comes before the work does.
    """
    import tempfile

    probe = Path(path).expanduser()
    for _ in range(len(probe.parts) + 1):  # bounded walk up to an existing folder
        if probe.is_dir():
            break
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise InputError(
            f"{param} {str(path)!r}: cannot write in {str(probe)!r} ({exc.strerror}); choose another place",
            params=(param,),
        ) from None
