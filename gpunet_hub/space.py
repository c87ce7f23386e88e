"""Search spaces and the 41-integer architecture encoding (GPUNet paper, Tables 1 and 2).

The vector is ``[res, s0_filters, s1_kernel, s1_act, s1_layers]`` followed by
``(filters, kernel, expansion, se, act, layers)`` for each of stages 2..7 (41 digits;
:meth:`SearchSpace.stage_slice` locates a stage). ``act`` is 0 for ReLU and 1 for Swish; an empty
stage (0 layers) is written as six zeros (:meth:`SearchSpace.canonical`).

The vector does not carry everything a network needs; these conventions of the space fill the gap
(they reproduce the released JSON of GPUNet-0/1/2 exactly):

* the head is a 3x3 stride-2 conv with the builder's default activation (swish, ``act`` omitted);
* stage 1 is ``s1_layers`` plain convs at stride 1 with ``s0_filters`` channels;
* stages 2-3 are fused inverted residuals, stages 4-7 inverted residuals;
* the first layer of stages 2, 3, 4 and 6 has stride 2;
* the tail is a 1x1 conv to ``tail_channels`` and a ``num_classes``-way classifier.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .arch import ArchSpec, LayerSpec, check_num_classes
from .errors import EncodingError, did_you_mean

if TYPE_CHECKING:
    import numpy as np

BLOCK_STAGES = (2, 3, 4, 5, 6, 7)
STEM_FIELDS = ("resolution", "s0_filters", "s1_kernel", "s1_act", "s1_layers")
STAGE_FIELDS = ("filters", "kernel", "expansion", "se", "act", "layers")
NUM_DIGITS = len(STEM_FIELDS) + len(STAGE_FIELDS) * len(BLOCK_STAGES)
ACT_NAMES = ("relu", "swish")
SOBOL_ENGINE = "torch.quasirandom.SobolEngine"


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range with a step: ``lo..hi step``."""

    lo: int
    hi: int
    step: int = 1

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.lo, self.hi + 1, self.step))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.lo <= value <= self.hi and (value - self.lo) % self.step == 0

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}" + (f" step {self.step}" if self.step != 1 else "")


@dataclass(frozen=True)
class StageRange:
    """Ranges of one block stage (2..7)."""

    filters: IntRange
    layers: IntRange
    kernels: tuple[int, ...] = (3, 5)
    expansion: IntRange = IntRange(2, 6)


@dataclass(frozen=True)
class Digit:
    """One position of the 41-integer vector.

    Attributes:
        index: 0-based position in the vector.
        name: Human-readable meaning, e.g. ``"stage 3 filters"``.
        values: The values allowed (for a stage with 0 layers only 0 is allowed instead).
        kind: ``int``, ``choice``, ``bool`` or ``act``.
        stage: The stage the digit belongs to, ``None`` for the resolution.
        field: What it sets: ``resolution``, ``filters``, ``kernel``, ``expansion``, ``se``, ``act``
            or ``layers``.
        allowed: The allowed values, as shown in error messages.
    """

    index: int
    name: str
    values: tuple[int, ...]
    kind: str
    stage: int | None
    field: str
    allowed: str


@dataclass(frozen=True)
class SearchSpace:
    """A GPUNet search space: per-digit ranges plus the conventions the encoding does not carry.

    Attributes:
        name: Registry name (``table1`` or ``release``).
        description: Where the ranges come from.
        resolution: Input resolutions.
        stem_filters: Stage 0 (head) and stage 1 filters.
        stem_kernels: Stage 1 conv kernels.
        stem_layers: Stage 1 layer count.
        stages: Ranges of stages 2..7.
        tail_channels: Width of the final 1x1 conv.
        num_classes: Classifier width.
        fused_stages: Stages built from fused inverted residuals.
        stride2_stages: Stages whose first layer has stride 2.
    """

    name: str
    description: str
    resolution: IntRange
    stem_filters: IntRange
    stem_kernels: tuple[int, ...]
    stem_layers: IntRange
    stages: dict[int, StageRange]
    tail_channels: int
    num_classes: int = 1000
    fused_stages: tuple[int, ...] = (2, 3)
    stride2_stages: tuple[int, ...] = (2, 3, 4, 6)
    _digits: tuple[Digit, ...] = field(default=(), repr=False, compare=False)

    @property
    def digits(self) -> tuple[Digit, ...]:
        """The 41 digits with their meanings and allowed values."""
        if not self._digits:
            object.__setattr__(self, "_digits", _make_digits(self))
        return self._digits

    def fingerprint(self) -> str:
        """A short hash of the ranges and conventions; changes whenever the space does.

        The digest is of the ``repr`` of the digits and conventions, as sample files and searcher
        states written so far record it; hashing a JSON form instead would change every saved
        fingerprint.
        """
        import hashlib

        text = repr((self.digits, self.tail_channels, self.num_classes, self.fused_stages, self.stride2_stages))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- the digit layout (the same for every space) -----------------------------------------------
    @staticmethod
    def stage_slice(stage: int) -> slice:
        """Positions of block stage ``stage``'s six digits (``STAGE_FIELDS`` order) in the vector.

        Raises:
            EncodingError: When ``stage`` is not one of the block stages 2..7.
        """
        if stage not in BLOCK_STAGES:
            raise EncodingError(f"stage must be one of the block stages {BLOCK_STAGES}, got {stage!r}")
        start = len(STEM_FIELDS) + len(STAGE_FIELDS) * (stage - BLOCK_STAGES[0])
        return slice(start, start + len(STAGE_FIELDS))

    @staticmethod
    def digit_index(stage: int, field: str) -> int:
        """Position of one digit of a block stage, e.g. ``digit_index(5, "layers") == 28``."""
        if field not in STAGE_FIELDS:
            raise EncodingError(
                f"unknown stage field {field!r}; fields: {', '.join(STAGE_FIELDS)}." + did_you_mean(field, STAGE_FIELDS)
            )
        return SearchSpace.stage_slice(stage).start + STAGE_FIELDS.index(field)

    # -- the empty-stage convention ----------------------------------------------------------------
    @staticmethod
    def hidden(vectors: Any) -> np.ndarray:
        """Which digits an empty stage hides: the five other digits of a block stage with 0 layers.

        This is the space's one empty-stage rule: hidden digits carry no meaning and are written as 0
        (:meth:`canonical`); every other digit must take one of its allowed values.

        Args:
            vectors: An ``(N, 41)`` integer array of encodings (only the ``layers`` digits are read).

        Returns:
            An ``(N, 41)`` boolean mask.
        """
        import numpy as np

        array = np.asarray(vectors)
        mask = np.zeros(array.shape, dtype=bool)
        for stage in BLOCK_STAGES:
            others = SearchSpace.stage_slice(stage)
            layers = SearchSpace.digit_index(stage, "layers")
            mask[:, others.start : layers] = (array[:, layers] == 0)[:, None]
        return mask

    @staticmethod
    def canonical(vectors: Any) -> np.ndarray:
        """A copy of ``(N, 41)`` encodings with the digits of empty stages set to 0 (see :meth:`hidden`)."""
        import numpy as np

        array = np.array(vectors, copy=True)
        array[SearchSpace.hidden(array)] = 0
        return array

    # -- levels and Sobol sampling -----------------------------------------------------------------
    def level_values(self) -> np.ndarray:
        """``(41, L)`` int64 table: row ``i`` holds ``digits[i].values``, padded with -1.

        A *level* of digit ``i`` is an index into its values; ``level_counts()[i]`` levels exist.
        """
        import numpy as np

        table = np.full((NUM_DIGITS, max(len(d.values) for d in self.digits)), -1, dtype=np.int64)
        for digit in self.digits:
            table[digit.index, : len(digit.values)] = digit.values
        return table

    def level_counts(self) -> np.ndarray:
        """``(41,)`` int64: how many values each digit allows."""
        import numpy as np

        return np.array([len(d.values) for d in self.digits], dtype=np.int64)

    def unit_levels(self, unit: Any) -> np.ndarray:
        """Maps points of ``[0, 1)^41`` to levels: ``floor(u * n_levels)``, every level equally likely.

        The product is taken in ``unit``'s float type (float32 Sobol points stay float32, so a
        million rows map fast and the same points always give the same levels).

        Args:
            unit: An ``(N, 41)`` float array in ``[0, 1)``.

        Returns:
            ``(N, 41)`` int16 levels (not canonical: hidden digits keep their drawn level).
        """
        import numpy as np

        unit = np.asarray(unit)
        if unit.ndim != 2 or unit.shape[1] != NUM_DIGITS:
            raise EncodingError(f"expected an (N, {NUM_DIGITS}) array of unit points, got shape {unit.shape}")
        sizes = self.level_counts()
        return np.minimum((unit * sizes.astype(unit.dtype)).astype(np.int16), (sizes - 1).astype(np.int16))

    def from_unit(self, unit: Any) -> np.ndarray:
        """Maps points of ``[0, 1)^41`` onto the digits' grids: ``(N, 41)`` int16 canonical encodings."""
        import numpy as np

        levels = self.unit_levels(unit)
        out = self.level_values().astype(np.int16)[np.arange(NUM_DIGITS), levels]
        out[self.hidden(out)] = 0  # canonical, in place (a million rows: no second copy)
        return out

    def sobol(self, n: int, *, seed: int = 0, scramble: bool = True) -> np.ndarray:
        """The first ``n`` networks of the space's scrambled Sobol sequence, in sequence order.

        The one Sobol sampler of the project: stage-1 sample files and the searcher's default pool
        both come from here, so the same seed gives the same networks. Rows may repeat (callers
        that need distinct networks keep the first occurrence); any prefix is itself balanced.

        Args:
            n: Points to draw (>= 1).
            seed: Scrambling seed.
            scramble: Owen scrambling (off gives the plain sequence, which starts at the corner).

        Returns:
            ``(n, 41)`` int16 canonical encodings.
        """
        return self.from_unit(sobol_unit(n, seed=seed, scramble=scramble))


def sobol_unit(n: int, *, seed: int = 0, scramble: bool = True, dim: int = NUM_DIGITS) -> np.ndarray:
    """Draws ``n`` points of a (scrambled, seeded) Sobol sequence in ``[0, 1)^dim``.

    Uses ``torch.quasirandom.SobolEngine`` (Owen-scrambled, ~0.1 s for a million 41-d points), in
    float32: 24 bits of resolution, far finer than any digit's grid. torch is imported here only.

    Raises:
        EncodingError: When ``n`` < 1.
    """
    import torch

    if n < 1:
        raise EncodingError(f"the number of Sobol points must be >= 1, got {n}")
    engine = torch.quasirandom.SobolEngine(dim, scramble=scramble, seed=seed)
    return engine.draw(int(n), dtype=torch.float32).numpy()


def _make_digits(space: SearchSpace) -> tuple[Digit, ...]:
    def choice(values: Sequence[int]) -> str:
        return "{" + ", ".join(str(v) for v in values) + "}"

    digits = [
        Digit(0, "resolution", space.resolution.values, "int", None, "resolution", str(space.resolution)),
        Digit(1, "stage 0 filters", space.stem_filters.values, "int", 0, "filters", str(space.stem_filters)),
        Digit(2, "stage 1 kernel", space.stem_kernels, "choice", 1, "kernel", choice(space.stem_kernels)),
        Digit(3, "stage 1 act", (0, 1), "act", 1, "act", "{0 = relu, 1 = swish}"),
        Digit(4, "stage 1 layers", space.stem_layers.values, "int", 1, "layers", str(space.stem_layers)),
    ]
    for stage in BLOCK_STAGES:
        ranges = space.stages[stage]
        base = space.stage_slice(stage).start
        specs = (
            ("filters", ranges.filters.values, "int", str(ranges.filters)),
            ("kernel", ranges.kernels, "choice", choice(ranges.kernels)),
            ("expansion", ranges.expansion.values, "int", str(ranges.expansion)),
            ("se", (0, 1), "bool", "{0, 1}"),
            ("act", (0, 1), "act", "{0 = relu, 1 = swish}"),
            ("layers", ranges.layers.values, "int", str(ranges.layers)),
        )
        for offset, (name, values, kind, allowed) in enumerate(specs):
            digits.append(Digit(base + offset, f"stage {stage} {name}", tuple(values), kind, stage, name, allowed))
    return tuple(digits)


TABLE1 = SearchSpace(
    name="table1",
    description="The GPUNet paper's Table 1 (as in the release README figure).",
    resolution=IntRange(224, 512, 32),
    stem_filters=IntRange(24, 32, 8),
    stem_kernels=(3, 5),
    stem_layers=IntRange(1, 4),
    stages={
        2: StageRange(IntRange(32, 80, 16), IntRange(1, 8)),
        3: StageRange(IntRange(48, 112, 16), IntRange(1, 8)),
        4: StageRange(IntRange(96, 192, 16), IntRange(1, 10)),
        5: StageRange(IntRange(112, 224, 16), IntRange(0, 15)),
        6: StageRange(IntRange(128, 416, 32), IntRange(1, 15)),
        7: StageRange(IntRange(256, 832, 64), IntRange(0, 15)),
    },
    tail_channels=1792,
)

RELEASE = replace(
    TABLE1,
    name="release",
    description=(
        "Table 1 widened to hold the released GPUNet-0/1/2: stage 4 filters up to 256, stage 5 up to "
        "288, stage 6 up to 704, and the released 1280-wide tail."
    ),
    stages={
        **TABLE1.stages,
        4: StageRange(IntRange(96, 256, 16), IntRange(1, 10)),
        5: StageRange(IntRange(112, 288, 16), IntRange(0, 15)),
        6: StageRange(IntRange(128, 704, 32), IntRange(1, 15)),
    },
    tail_channels=1280,
    _digits=(),
)

SPACES: dict[str, SearchSpace] = {TABLE1.name: TABLE1, RELEASE.name: RELEASE}


def get_space(space: str | SearchSpace = "release") -> SearchSpace:
    """Returns a registered search space by name (``table1`` or ``release``)."""
    if isinstance(space, SearchSpace):
        return space
    if not isinstance(space, str) or space not in SPACES:
        hint = did_you_mean(space, SPACES) if isinstance(space, str) else ""
        raise EncodingError(
            f"unknown search space {space!r}; known spaces: {', '.join(SPACES)}." + hint, params=("space",)
        )
    return SPACES[space]


def validate(vector: Sequence[int], space: str | SearchSpace = "release") -> list[int]:
    """Checks one 41-integer vector against a space.

    Args:
        vector: The encoding.
        space: A space name or object.

    Returns:
        The vector as a list of Python ints.

    Raises:
        EncodingError: Naming the digit, its meaning, its value and the allowed values, e.g.
            ``digit 17 = stage 4 filters: 272 is not in 96..256 step 16``.
    """
    space = get_space(space)
    if isinstance(vector, (str, bytes)) or not isinstance(vector, Iterable):
        raise EncodingError(
            f"an encoding is a sequence of {NUM_DIGITS} integers, got {type(vector).__name__} {vector!r:.60}"
        )
    values = list(itertools.islice(vector, NUM_DIGITS + 1))  # bounded: an endless iterator is refused
    if len(values) != NUM_DIGITS:
        count = f"more than {NUM_DIGITS}" if len(values) > NUM_DIGITS else str(len(values))
        raise EncodingError(f"an encoding has {NUM_DIGITS} integers, got {count}")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                as_int = None if isinstance(value, bool) else int(value)
            except (TypeError, ValueError, OverflowError):
                as_int = None
            if as_int is None or as_int != value:
                raise EncodingError(f"digit {i} = {space.digits[i].name}: {value!r} is not an integer")
            values[i] = as_int
    hidden = space.hidden([values])[0]
    for digit in space.digits:
        value = values[digit.index]
        if hidden[digit.index]:
            if value != 0:
                raise EncodingError(
                    f"digit {digit.index} = {digit.name}: stage {digit.stage} has 0 layers, so its digits "
                    f"must all be 0 (got {value})"
                )
            continue
        if value not in digit.values:
            raise EncodingError(f"digit {digit.index} = {digit.name}: {value} is not in {digit.allowed}")
    return values


_CHECK_ROWS = 1 << 16  # rows checked at a time: the masks stay in cache for a million-row sample file


def check_many(vectors: Any, space: str | SearchSpace = "release") -> np.ndarray:
    """Vectorised validity test of many encodings.

    Args:
        vectors: An ``(N, 41)`` integer array (or anything ``numpy.asarray`` accepts).
        space: A space name or object.

    Returns:
        A boolean array of length N, True where the row is a valid encoding.
    """
    import numpy as np

    space = get_space(space)
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[1] != NUM_DIGITS:
        raise EncodingError(f"expected an (N, {NUM_DIGITS}) array of encodings, got shape {array.shape}")
    allowed = [(digit.index, np.asarray(digit.values)) for digit in space.digits]
    ok = np.empty(len(array), dtype=bool)
    for start in range(0, len(array), _CHECK_ROWS):
        part = array[start : start + _CHECK_ROWS]
        hidden = space.hidden(part)
        good = np.ones(len(part), dtype=bool)
        for index, values in allowed:
            column = part[:, index]
            # "table": a lookup over the digit's small value range, not a sort of a million rows
            good &= np.where(hidden[:, index], column == 0, np.isin(column, values, kind="table"))
        ok[start : start + len(part)] = good
    return ok


def validate_many(vectors: Any, space: str | SearchSpace = "release") -> None:
    """Raises :class:`EncodingError` for the first invalid row of an ``(N, 41)`` array, naming the row."""
    import numpy as np

    ok = check_many(vectors, space)
    bad = np.flatnonzero(~ok)
    if bad.size:
        row = int(bad[0])
        try:
            validate([int(v) for v in np.asarray(vectors)[row]], space)
        except EncodingError as exc:
            raise EncodingError(f"row {row} ({bad.size} invalid of {len(ok)}): {exc}") from None


def decode(vector: Sequence[int], space: str | SearchSpace = "release", *, num_classes: int | None = None) -> ArchSpec:
    """Turns a 41-integer encoding into an ArchSpec under a space's conventions.

    Args:
        vector: The encoding.
        space: A space name or object.
        num_classes: Classifier width; defaults to the space's (1000).

    Returns:
        The ArchSpec; for GPUNet-0/1/2 under the ``release`` space, the released JSON exactly.
    """
    space = get_space(space)
    v = validate(vector, space)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    resolution, stem, s1_kernel, s1_act, s1_layers = v[:5]
    layers = [LayerSpec("head", 3, stem)]
    channels = stem
    for _ in range(s1_layers):
        layers.append(
            LayerSpec("conv", channels, stem, stride=1, kernel_size=s1_kernel, act=ACT_NAMES[s1_act], stage=1)
        )
    for stage in BLOCK_STAGES:
        filters, kernel, expansion, se, act, count = v[space.stage_slice(stage)]
        layer_type = "fused_irb" if stage in space.fused_stages else "irb"
        for j in range(count):
            stride = 2 if j == 0 and stage in space.stride2_stages else 1
            layers.append(
                LayerSpec(
                    layer_type,
                    channels,
                    filters,
                    stride=stride,
                    kernel_size=kernel,
                    expansion=expansion,
                    act=ACT_NAMES[act],
                    use_se=bool(se),
                    stage=stage,
                )
            )
            channels = filters
    classes = space.num_classes if num_classes is None else num_classes
    layers.append(LayerSpec("tail", channels, space.tail_channels, num_classes=classes))
    return ArchSpec(resolution=resolution, family="standard", layers=tuple(layers))


def encode(spec: ArchSpec, space: str | SearchSpace = "release") -> list[int]:
    """Turns a stage-uniform ArchSpec into its 41-integer encoding.

    Args:
        spec: The architecture.
        space: The space whose conventions and ranges the encoding must satisfy.

    Returns:
        The encoding, validated against the space.

    Raises:
        EncodingError: Naming the first layer or stage that the encoding cannot express (a
            non-uniform stage, a layer type or stride the conventions do not produce, ...).
    """
    space = get_space(space)
    if not isinstance(spec, ArchSpec):
        raise EncodingError(
            f"encode() takes an ArchSpec (see gpunet_hub.arch.coerce), got {type(spec).__name__}", params=("spec",)
        )
    if spec.family != "standard":
        raise EncodingError(
            "only standard-family networks have a 41-integer encoding; this is a distill-family "
            "(GPUNet-D) layer list. Keep it as an ArchSpec."
        )
    head, tail = spec.layers[0], spec.layers[-1]
    if head.effective_act != "swish":
        raise EncodingError(
            f"entry 1 (head): act {head.effective_act!r}, but the encoding's head is always swish; "
            "this network has no 41-integer encoding"
        )
    by_stage: dict[int, list[tuple[int, LayerSpec]]] = {}
    for index, layer in enumerate(spec.layers[1:-1], start=2):
        if layer.stage not in (1, *BLOCK_STAGES):
            raise EncodingError(f"entry {index} ({layer.layer_type}): stage {layer.stage!r} is not one of 1..7")
        if by_stage and layer.stage < max(by_stage):
            raise EncodingError(f"entry {index}: stage {layer.stage} comes after stage {max(by_stage)}")
        by_stage.setdefault(layer.stage, []).append((index, layer))
    stem = head.num_out_channels
    stage1 = by_stage.get(1, [])
    if not stage1:
        raise EncodingError("stage 1 is empty, but the encoding needs at least one stage-1 conv")
    _check_uniform(1, stage1, "conv", stem, space)
    first = stage1[0][1]
    vector = [
        spec.resolution,
        stem,
        _whole(first.kernel_size, stage1[0][0], 1, "kernel"),
        ACT_NAMES.index(first.effective_act),
        len(stage1),
    ]
    for stage in BLOCK_STAGES:
        members = by_stage.get(stage, [])
        if not members:
            vector += [0] * 6
            continue
        layer_type = "fused_irb" if stage in space.fused_stages else "irb"
        ref = members[0][1]
        _check_uniform(stage, members, layer_type, ref.num_out_channels, space)
        vector += [
            ref.num_out_channels,
            _whole(ref.kernel_size, members[0][0], stage, "kernel"),
            _whole(ref.expansion, members[0][0], stage, "expansion"),
            int(bool(ref.use_se)),
            ACT_NAMES.index(ref.effective_act),
            len(members),
        ]
    if tail.num_out_channels != space.tail_channels:
        raise EncodingError(
            f"entry {len(spec.layers)} (tail): {tail.num_out_channels} channels, but space "
            f"{space.name!r} fixes the tail at {space.tail_channels}"
        )
    return validate(vector, space)


def _whole(value: float | None, entry: int, stage: int, what: str) -> int:
    """``value`` as an int, refusing a missing or fractional one (the encoding holds whole numbers)."""
    if value is None or float(value) != int(value):
        raise EncodingError(f"entry {entry}: stage {stage} {what} {value} is not a whole number")
    return int(value)


def _check_uniform(
    stage: int, members: list[tuple[int, LayerSpec]], layer_type: str, filters: int, space: SearchSpace
) -> None:
    ref = members[0][1]
    for j, (index, layer) in enumerate(members):
        where = f"stage {stage} is not expressible: entry {index}"
        if layer.layer_type != layer_type:
            raise EncodingError(f"{where} is a {layer.layer_type!r} layer where the encoding has {layer_type!r}")
        expected_stride = 2 if j == 0 and stage in space.stride2_stages else 1
        if layer.stride != expected_stride:
            raise EncodingError(f"{where} has stride {layer.stride}; the encoding's convention is {expected_stride}")
        if layer.num_out_channels != filters:
            raise EncodingError(
                f"stage {stage} is not uniform: entry {index} has {layer.num_out_channels} output channels, "
                f"entry {members[0][0]} has {filters}"
            )
        for key in ("kernel_size", "expansion", "use_se", "effective_act"):
            if getattr(layer, key) != getattr(ref, key):
                raise EncodingError(
                    f"stage {stage} is not uniform: entry {index} has {key.replace('effective_', '')} "
                    f"{getattr(layer, key)!r}, entry {members[0][0]} has {getattr(ref, key)!r}"
                )
