"""Level-index view of a 41-digit search space, the representation every searcher works in.

A network is a row of 41 *level indices*: ``levels[i]`` indexes ``space.digits[i].values``. The
empty-stage convention of the space carries over: a block stage whose ``layers`` value is 0 has all
its other digits written as 0 in the vector, and as level 0 here, so every network has exactly one
canonical level row. Normalised coordinates (``level / (n_levels - 1)``, in ``[0, 1]``) feed the
surrogate models.
"""

from __future__ import annotations

import numpy as np

from gpunet_hub.errors import InputError
from gpunet_hub.space import SearchSpace, check_many, get_space


class LevelGrid:
    """Maps between 41-int vectors and level indices of a search space.

    Args:
        space: A space name (``table1``, ``release``) or a :class:`SearchSpace`.
    """

    def __init__(self, space: str | SearchSpace = "table1") -> None:
        self.space = get_space(space)
        self.n_digits = len(self.space.digits)
        self.n_levels = self.space.level_counts()
        self.values = self.space.level_values()  # values[i, l] = value of level l of digit i (padded with -1)

    # -- conversions -------------------------------------------------------------------------------
    def _hidden(self, levels: np.ndarray) -> np.ndarray:
        """The space's empty-stage mask, read through the level rows' values."""
        clipped = np.clip(levels, 0, self.n_levels - 1)
        return self.space.hidden(self.values[np.arange(self.n_digits), clipped])

    def canonical(self, levels: np.ndarray) -> np.ndarray:
        """Returns a copy of ``levels`` (N, 41) with the digits of empty stages set to level 0."""
        out = np.array(np.atleast_2d(levels), dtype=np.int64, copy=True)
        out[self._hidden(out)] = 0
        return out

    def to_vectors(self, levels: np.ndarray) -> np.ndarray:
        """Level rows (N, 41) -> 41-int vectors (N, 41), following the empty-stage convention."""
        lv = self.canonical(levels)
        if np.any(lv < 0) or np.any(lv >= self.n_levels):
            raise InputError("level index out of range for this search space")
        return self.space.canonical(self.values[np.arange(self.n_digits), lv])

    def vectors(self, vectors: object, param: str = "vectors") -> np.ndarray:
        """``vectors`` as an ``(N, 41)`` int64 array, refusing what is not one (the boundary check).

        One vector (41 numbers) gives one row; an empty sequence gives zero rows. Fractional,
        non-finite, boolean or non-numeric entries are refused rather than truncated or coerced.

        Raises:
            InputError: Naming ``param``, for a wrong shape or a non-integer entry.
        """
        try:
            array = np.asarray(vectors)
        except (TypeError, ValueError) as exc:  # ragged nesting
            raise InputError(f"{param} must be rows of {self.n_digits} integers: {exc}", params=(param,)) from None
        if array.size == 0:
            return np.zeros((0, self.n_digits), dtype=np.int64)
        array = np.atleast_2d(array)
        if array.ndim != 2 or array.shape[1] != self.n_digits:
            raise InputError(
                f"{param} must be rows of {self.n_digits} integers, got shape {array.shape}", params=(param,)
            )
        if array.dtype.kind in "iu":
            return array.astype(np.int64)
        if array.dtype.kind == "f":
            whole = np.isfinite(array) & (array == np.round(array)) & (np.abs(array) < 2**31)
            if whole.all():
                return array.astype(np.int64)
            bad: object = array[~whole][0]
        else:  # bool, text, objects
            bad = array.ravel()[0]
        raise InputError(
            f"{param} must hold whole numbers (digits of the encoding), got {bad!r} ({array.dtype})", params=(param,)
        )

    def to_levels(self, vectors: np.ndarray) -> np.ndarray:
        """41-int vectors (N, 41) -> level rows (N, 41).

        Raises:
            InputError: If a row is not a valid encoding of the space (names the first bad row).
        """
        array = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        ok = check_many(array, self.space)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise InputError(f"row {row} is not a valid encoding of space {self.space.name!r}: {array[row].tolist()}")
        levels = np.zeros_like(array)
        for i in range(self.n_digits):
            n = int(self.n_levels[i])
            column = array[:, i]
            idx = np.searchsorted(self.values[i, :n], column)
            idx = np.clip(idx, 0, n - 1)
            levels[:, i] = np.where(self.values[i, idx] == column, idx, 0)  # 0 for empty-stage zeros
        return levels

    def normalise(self, levels: np.ndarray) -> np.ndarray:
        """Level rows -> floats in ``[0, 1]`` per digit (a digit with one level maps to 0)."""
        scale = np.maximum(self.n_levels - 1, 1)
        return np.atleast_2d(levels).astype(np.float64) / scale

    def keys(self, levels: np.ndarray) -> list[bytes]:
        """Hashable keys of level rows (canonical rows only; identity of networks)."""
        lv = np.ascontiguousarray(np.atleast_2d(levels), dtype=np.int8)
        return [row.tobytes() for row in lv]

    # -- sampling ----------------------------------------------------------------------------------
    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Points of ``[0, 1)^41`` -> canonical level rows (each digit's levels equally likely)."""
        return self.canonical(self.space.unit_levels(np.atleast_2d(u)))

    def sobol(self, n: int, seed: int) -> np.ndarray:
        """The space's ``n`` first Sobol networks (:meth:`SearchSpace.sobol`) as canonical level rows."""
        return self.to_levels(self.space.sobol(n, seed=seed))

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniformly random canonical level rows."""
        return self.from_unit(rng.random((n, self.n_digits)))

    def neighbours(
        self, centres: np.ndarray, n_per_centre: int, rng: np.random.Generator, max_digits: int = 3
    ) -> np.ndarray:
        """Local moves: each centre with 1..``max_digits`` digits shifted by one level.

        Only digits that matter are moved (not the hidden digits of an empty stage), shifts stay in
        range, and results are canonical. Duplicates and the centres themselves may occur; callers
        filter them.

        Args:
            centres: Level rows (C, 41).
            n_per_centre: Moves drawn per centre.
            rng: Random generator.
            max_digits: Most digits shifted in one move.

        Returns:
            Level rows (C * n_per_centre, 41).
        """
        centres = np.atleast_2d(centres)
        if centres.shape[0] == 0 or n_per_centre <= 0:
            return np.zeros((0, self.n_digits), dtype=np.int64)
        out = np.repeat(centres, n_per_centre, axis=0).astype(np.int64)
        movable = (self.n_levels > 1)[None, :] & ~self._hidden(out)
        n_moves = rng.integers(1, max_digits + 1, size=len(out))
        scores = np.where(movable, rng.random(out.shape), -1.0)
        order = np.argsort(-scores, axis=1)
        for k in range(max_digits):
            rows = np.flatnonzero(n_moves > k)
            cols = order[rows, k]
            ok = movable[rows, cols]
            rows, cols = rows[ok], cols[ok]
            step = np.where(rng.random(len(rows)) < 0.5, -1, 1)
            new = out[rows, cols] + step
            top = self.n_levels[cols] - 1
            new = np.where(new < 0, 1, np.where(new > top, top - 1, new))  # bounce at the ends
            out[rows, cols] = np.clip(new, 0, top)
        return self.canonical(out)

    def single_digit_moves(self, rows: np.ndarray, digits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every network one digit away from each row: that digit set to any other of its levels.

        Digits hidden by an empty stage are not moved (the move would be the same network); a
        stage's ``layers`` digit is, so a move may empty a stage or fill an empty one. Results are
        canonical.

        Args:
            rows: Level rows (R, 41).
            digits: Only move these digits (default: every digit).

        Returns:
            ``(moves, owner)``: level rows (M, 41) and, for each, the index of the row it moves.
        """
        rows = np.atleast_2d(np.asarray(rows, dtype=np.int64))
        digits = np.arange(self.n_digits) if digits is None else np.atleast_1d(np.asarray(digits, dtype=np.int64))
        digit = np.repeat(digits, self.n_levels[digits])  # one (digit, level) pair per entry
        level = np.concatenate([np.arange(n) for n in self.n_levels[digits]])
        keep = (rows[:, digit] != level[None, :]) & ~self._hidden(rows)[:, digit]  # (R, T)
        owner, which = np.nonzero(keep)
        moves = rows[owner].copy()
        moves[np.arange(len(owner)), digit[which]] = level[which]
        return self.canonical(moves), owner
