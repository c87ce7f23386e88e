"""Transitional alias of :mod:`gpunet_hub.measure` for code not yet moved to it.

``gpunet_hub.bench.ort``, ``.stats`` and ``.device`` are the modules ``gpunet_search`` imported
before the move; new code imports :mod:`gpunet_hub.measure`. Delete this package once
``tools/search`` uses the registry (``gpunet_hub.measure.get_backend``).
"""

from __future__ import annotations

import sys

from ..measure import _ort as ort
from ..measure import device, stats

for _name, _module in (("ort", ort), ("stats", stats), ("device", device)):
    sys.modules[f"{__name__}.{_name}"] = _module

__all__ = ["device", "ort", "stats"]
