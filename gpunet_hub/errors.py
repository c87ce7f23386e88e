"""Typed errors raised by gpunet-hub.

Every error carries a message that names what exists and what to do, in Python terms
(``max_latency_ms``, ``weights=None``), and the names of the arguments it talks about in
:attr:`GPUNetHubError.params`: the CLI says those as its flags (``--max-latency-ms``), so the
message is written once. The CLI maps :class:`InputError` subclasses to exit code 1 and
:class:`EnvironmentProblem` subclasses to exit code 2.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from types import ModuleType


class GPUNetHubError(Exception):
    """Base class of every error gpunet-hub raises on purpose.

    Attributes:
        params: Python names of the arguments the message refers to (``("gpu", "max_latency_ms")``);
            front ends that spell arguments differently (the CLI's flags) translate exactly these.
    """

    def __init__(self, *args: object, params: Iterable[str] = ()) -> None:
        super().__init__(*args)
        self.params: tuple[str, ...] = tuple(params)


class InputError(GPUNetHubError, ValueError):
    """The caller asked for something that does not exist or is malformed."""


class EnvironmentProblem(GPUNetHubError, RuntimeError):
    """The machine lacks something: network, a GPU, an optional dependency."""


class UnknownModelError(InputError, KeyError):
    """No model card has this name or alias."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class UnknownGPUError(InputError, KeyError):
    """No latency row was measured on this GPU."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NoModelWithinBudgetError(InputError):
    """No model meets the latency budget on the requested GPU."""


class EncodingError(InputError):
    """A 41-integer encoding is malformed or outside its search space."""


class ArchSpecError(InputError):
    """A layer-list architecture (ArchSpec) is malformed."""


class CheckpointError(InputError):
    """A checkpoint is corrupt, unsafe, or does not fit the architecture."""


class WeightsUnavailableError(EnvironmentProblem):
    """Weights could not be fetched (offline, unreachable, or no source known)."""


class MissingDependencyError(EnvironmentProblem, ImportError):
    """An optional dependency needed for this feature is not installed."""


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Returns up to ``n`` candidates that look like ``word`` (case-insensitive)."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Formats a "did you mean" suffix, or an empty string when nothing is close."""
    hits = close_matches(word, candidates)
    return f" Did you mean {', '.join(repr(h) for h in hits)}?" if hits else ""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Imports an optional dependency or raises :class:`MissingDependencyError`.

    Args:
        module: Importable module name, e.g. ``"onnxruntime"``.
        extra: The pip extra that installs it, e.g. ``"onnx"``.
        feature: What the caller was trying to do, for the message.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the optional dependency '{module}', which is not installed. "
            f"Install it with: pip install 'gpunet-hub[{extra}]'"
        ) from exc
