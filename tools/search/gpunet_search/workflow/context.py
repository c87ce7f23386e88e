"""What every stage receives: the plan, the output folder, the state file, the device, progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gpunet_hub.errors import EnvironmentProblem

from .fingerprints import State
from .plan import Plan

if TYPE_CHECKING:
    from gpunet_hub.measure.device import Device

    from ..latency.measure import LayerTimer

ProgressFn = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    """The default progress callback: nothing to show."""


@dataclass
class Context:
    """The run of one plan into one output folder.

    Attributes:
        plan: The validated plan.
        out: The output folder (absolute).
        state: Its state file.
        fingerprints: Each stage's current fingerprint (filled by the runner).
        progress: Called with (done, total) as a stage advances.
        note: Called with one-line messages (the CLI prints them; the library stays silent).
    """

    plan: Plan
    out: Path
    state: State
    fingerprints: dict[str, str] = field(default_factory=dict)
    progress: ProgressFn = _no_progress
    note: Callable[[str], None] = field(default=lambda text: None)

    @cached_property
    def timer(self) -> LayerTimer:
        """The measuring backend of the LUT, the calibration and (through its name) the bench."""
        from gpunet_hub.measure import get_backend

        from ..latency.measure import LayerTimer

        backend = get_backend(self.plan.latency.backend)
        ok, reason = backend.available()
        if not ok:
            raise EnvironmentProblem(
                f"backend {self.plan.latency.backend!r} is not usable here: {reason}; "
                "use latency.backend=onnxruntime-cpu on a machine without a GPU"
            )
        return LayerTimer(backend=self.plan.latency.backend, threads=self.plan.latency.threads)

    @cached_property
    def device(self) -> Device:
        """The device record (and fingerprint) every measurement is labelled with."""
        return self.timer.device()

    def path(self, *parts: str) -> Path:
        """A path inside the output folder."""
        return self.out.joinpath(*parts)

    def relative(self, path: Path | str) -> str:
        """``path`` relative to the output folder (what the state file and report record)."""
        return str(Path(path).resolve().relative_to(self.out)) if Path(path).is_absolute() else str(path)


__all__ = ["Context", "ProgressFn"]
