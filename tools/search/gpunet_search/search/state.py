"""The searcher's knowledge as one public, frozen value: the input of a model-based proposal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grid import LevelGrid

if TYPE_CHECKING:
    from .searcher import SearcherConfig


def frozen_array(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array``."""
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class SearchState:
    """What a :class:`~gpunet_search.search.searcher.LamctsBoSearcher` knows at one ``ask``.

    Built by :meth:`LamctsBoSearcher.search_state`; its arrays are read-only copies, so a proposal
    computed from it cannot change the searcher.

    Attributes:
        grid: The level grid of the search space.
        config: The searcher's parameters.
        observed: ``(N, 41)`` level rows told so far, in the order told.
        values: ``(N,)`` their values, signed so that larger is better.
        pending: ``(P, 41)`` level rows asked and not yet told or cancelled.
        free_pool: ``(F, 41)`` pool members neither observed nor pending, in pool order.
        taken: Keys (:meth:`LevelGrid.keys`) of the observed and pending rows.
        gp_hyper: GP hyper-parameters of the previous fit (the next fit's start with
            ``gp_warm_start``), or ``None``.
    """

    grid: LevelGrid
    config: SearcherConfig
    observed: np.ndarray
    values: np.ndarray
    pending: np.ndarray
    free_pool: np.ndarray
    taken: frozenset[bytes]
    gp_hyper: dict[str, list[float]] | None = None
