"""Weights: where they come from and how they load.

* :mod:`.sources` - the ``weights=`` argument (``None``, ``"default"``, ``"hf-hub:org/repo"``, a
  local path) resolved to a safetensors file and loaded with strict key matching;
* :mod:`._download` - downloads through a temp file, size/hash checks, zip extraction without path
  traversal;
* :mod:`.nvidia` - NVIDIA's module names (the released checkpoints) <-> gpunet-hub's.
"""

from __future__ import annotations

from .sources import fetch_weights, load_weights, read_checkpoint

__all__ = ["fetch_weights", "load_weights", "read_checkpoint"]
