"""Vectorised layer indexing and latency estimates for millions of encodings.

A network of the 41-integer space has at most 15 distinct layer kinds: the head, the stage-1 conv
(repeated), and per block stage its first layer (which may change width and stride) and the
repeated layer after it, plus the tail. :func:`index_encodings` computes, straight from the
``(N, 41)`` array and without building a network, every row's key of each kind (packed into an
``int64``), the distinct keys over all rows, an ``(N, 15)`` index into them and the ``(N, 15)``
repeat counts. :meth:`KeyIndex.expand` turns that into the ``(N, L)`` per-layer index matrix; the
estimate itself is ``sum(latency[index] * counts)``, a few hundred milliseconds for a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from gpunet_hub import _validate
from gpunet_hub.errors import InputError
from gpunet_hub.space import BLOCK_STAGES, NUM_DIGITS, SearchSpace, get_space

from .layer_keys import (
    KEY_LAYER_TYPES,
    PRECISIONS,
    LayerKey,
    _make_divisible,
    macs_activations_from_fields,
    params_from_fields,
)

# Bit layout of a packed key (square inputs; batch, precision and classifier width are per index).
_FIELDS = (("type", 3), ("cin", 12), ("cout", 12), ("k", 4), ("s", 2), ("e4", 7), ("se", 1), ("act", 1), ("h", 11))
_SHIFT: dict[str, int] = {}
_offset = 0
for _name, _bits in reversed(_FIELDS):
    _SHIFT[_name] = _offset
    _offset += _bits
_WIDTH = dict(_FIELDS)
_TYPE = {name: i for i, name in enumerate(KEY_LAYER_TYPES)}
KINDS_PER_NET = 3 + 2 * len(BLOCK_STAGES)  # head, stage-1 conv, (first, rest) x 6 stages, tail
# Rows indexed at a time: bounds the temporaries (a few MB each) so that a million rows touch little
# fresh memory, which is slow to map on some hosts; sorting per chunk is also cheaper than per column.
_CHUNK_ROWS = 1 << 16


def scaled_resolution(resolution: int, scale: float, minimum: int = 8) -> int:
    """The input size at a resolution scale: ``round(resolution * scale)``, at least ``minimum`` (scale 1: unchanged)."""
    return int(resolution) if scale == 1.0 else max(int(minimum), round(resolution * scale))


def _scaled_column(resolution: np.ndarray, scale: float, minimum: int = 8) -> np.ndarray:
    if scale == 1.0:
        return resolution
    return np.maximum(int(minimum), np.rint(resolution * scale)).astype(np.int64)


def _pack(**fields: np.ndarray | int) -> np.ndarray:
    code = np.zeros(np.broadcast_shapes(*(np.shape(v) for v in fields.values())), dtype=np.int64)
    for name, value in fields.items():
        code |= np.asarray(value, dtype=np.int64) << _SHIFT[name]
    return code


def _field(codes: np.ndarray, name: str) -> np.ndarray:
    return (codes >> _SHIFT[name]) & ((1 << _WIDTH[name]) - 1)


def unpack_keys(codes: np.ndarray, *, batch: int, precision: str, classes: int) -> list[LayerKey]:
    """The :class:`LayerKey` of each packed code."""
    codes = np.asarray(codes, dtype=np.int64)
    types = [KEY_LAYER_TYPES[t] for t in _field(codes, "type").tolist()]
    columns = zip(
        types,
        *(_field(codes, f).tolist() for f in ("cin", "cout", "k", "s")),
        (_field(codes, "e4") / 4).tolist(),
        (_field(codes, "se") == 1).tolist(),
        ["swish" if a else "relu" for a in _field(codes, "act").tolist()],
        _field(codes, "h").tolist(),
        strict=True,
    )
    return [
        LayerKey(t, cin, cout, k, st, e, se, act, h, h, batch, precision, classes if t == "tail" else 0)
        for t, cin, cout, k, st, e, se, act, h in columns
    ]


def pack_keys(keys: list[LayerKey]) -> np.ndarray:
    """Packed codes of keys (``-1`` for keys the packing cannot hold: non-square, too wide, ...)."""
    out = np.full(len(keys), -1, dtype=np.int64)
    for i, key in enumerate(keys):
        e4 = key.expansion * 4
        fields = {
            "type": _TYPE[key.layer_type],
            "cin": key.cin,
            "cout": key.cout,
            "k": key.kernel,
            "s": key.stride,
            "e4": int(e4),
            "se": int(key.se),
            "act": int(key.act == "swish"),
            "h": key.h,
        }
        if key.h != key.w or e4 != int(e4) or any(v >= 1 << _WIDTH[f] or v < 0 for f, v in fields.items()):
            continue
        out[i] = int(_pack(**fields))
    return out


@dataclass(frozen=True)
class KeyIndex:
    """Distinct layer keys of N networks and where each network uses them.

    Attributes:
        codes: ``(K,)`` sorted packed codes of the distinct keys (:attr:`keys` decodes them).
        index: ``(N, 15)`` int32 positions into ``codes``/``keys``, ``-1`` where the kind is absent.
        counts: ``(N, 15)`` int16 number of layers of each kind.
        batch: Batch size of every key.
        precision: Precision of every key.
        classes: Classifier width of the tail keys.
        res_scale: Resolution scale the keys were computed at.
    """

    codes: np.ndarray
    index: np.ndarray
    counts: np.ndarray
    batch: int = 1
    precision: str = "fp32"
    classes: int = 1000
    res_scale: float = 1.0

    @cached_property
    def keys(self) -> list[LayerKey]:
        """The distinct keys as :class:`LayerKey` objects (decoded once, on first use)."""
        return unpack_keys(self.codes, batch=self.batch, precision=self.precision, classes=self.classes)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def key_field(self, name: str) -> np.ndarray:
        """One field of every distinct key (``expansion`` as the ratio, not the packed quarters)."""
        return _field(self.codes, "e4") / 4 if name == "expansion" else _field(self.codes, name)

    @cached_property
    def key_params(self) -> np.ndarray:
        """``(K,)`` parameter count of each distinct key's layer."""
        f = self.key_field
        return params_from_fields(f("type"), f("cin"), f("cout"), f("k"), f("expansion"), f("se"), self.classes)

    @cached_property
    def key_macs_activations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(K,)`` multiply-adds and ``(K,)`` output activations of each distinct key's layer."""
        f = self.key_field
        return macs_activations_from_fields(
            f("type"), f("cin"), f("cout"), f("k"), f("s"), f("expansion"), f("h"), self.classes
        )

    @property
    def params_m(self) -> np.ndarray:
        """Parameters of each network, in millions (the ``+weights`` calibration feature)."""
        return estimate_sums(self, self.key_params.astype(np.float64)) / 1e6

    @property
    def num_layers(self) -> np.ndarray:
        """Layers per network (head and tail included)."""
        return self.counts.sum(axis=1, dtype=np.int64)

    def take_rows(self, rows: slice) -> KeyIndex:
        """The index of some rows, over the same keys (their per-key quantities are computed once, here,
        and shared: a caller going through a million rows in chunks does not recompute them per chunk)."""
        part = replace(self, index=self.index[rows], counts=self.counts[rows])
        for name in ("key_params", "key_macs_activations"):
            part.__dict__[name] = getattr(self, name)  # cached_property's own slot (frozen dataclass allows it)
        if "keys" in self.__dict__:
            part.__dict__["keys"] = self.keys
        return part

    def expand(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """The ``(n, L)`` per-layer index matrix (network order, ``-1`` padded), for ``rows`` (default all)."""
        index = self.index if rows is None else self.index[rows]
        counts = self.counts if rows is None else self.counts[rows]
        total = counts.sum(axis=1)
        width = int(total.max()) if len(total) else 0
        out = np.full((len(index), width), -1, dtype=np.int32)
        flat_counts = counts.ravel().astype(np.int64)
        values = np.repeat(index.ravel(), flat_counts)
        row = np.repeat(np.repeat(np.arange(len(index)), index.shape[1]), flat_counts)
        starts = np.concatenate(([0], np.cumsum(total)[:-1]))
        col = np.arange(len(values)) - np.repeat(starts, total)
        out[row, col] = values
        return out

    def network_keys(self, row: int) -> list[LayerKey]:
        """The per-layer keys of one network, head to tail."""
        return [self.keys[i] for i in self.expand(slice(row, row + 1))[0] if i >= 0]

    def used(self) -> np.ndarray:
        """Boolean mask over ``keys``: used by at least one row (all, unless rows were sliced)."""
        mask = np.zeros(len(self.codes), dtype=bool)
        mask[self.index[self.index >= 0]] = True
        return mask


def index_encodings(
    encodings: np.ndarray,
    space: str | SearchSpace = "table1",
    *,
    batch: int = 1,
    precision: str = "fp32",
    res_scale: float = 1.0,
    min_resolution: int = 8,
    width_mult: float = 1.0,
    classes: int | None = None,
) -> KeyIndex:
    """Computes the distinct layer keys of N encodings and each row's index into them.

    Args:
        encodings: ``(N, 41)`` valid encodings of ``space``.
        space: Space name or object (its conventions: fused stages, stride-2 stages, tail width).
        batch: Batch size of the keys.
        precision: ``fp32`` or ``fp16``.
        res_scale: Measure at ``round(resolution * res_scale)`` (reduced-resolution LUTs).
        min_resolution: Lower bound of the scaled resolution (the evaluator's proxy floor).
        width_mult: Multiplier on every layer's output channels, rounded as the evaluator's proxy
            rounds them (``evaluate.network.scale_width``: timm's ``make_divisible``, multiple of 8).
        classes: Classifier width of the tail (default: the space's, 1000).

    Returns:
        The :class:`KeyIndex`; its keys equal those of ``arch_layer_keys(decode(row))`` row by row
        (of the narrowed network with ``classes`` outputs when ``width_mult``/``classes`` are given).
    """
    space = get_space(space)
    _validate.integer(batch, "batch", minimum=1)
    _validate.number(res_scale, "res_scale", minimum=0, exclusive_minimum=True)
    _validate.number(width_mult, "width_mult", minimum=0, exclusive_minimum=True, maximum=4)
    _validate.integer(min_resolution, "min_resolution", minimum=1)
    classes = space.num_classes if classes is None else _validate.integer(classes, "classes", minimum=1)
    if precision not in PRECISIONS or batch < 1:
        raise InputError(f"need batch >= 1 and precision in {PRECISIONS}, got {batch}, {precision!r}")
    enc = np.asarray(encodings)
    if enc.ndim != 2 or enc.shape[1] != NUM_DIGITS:
        raise InputError(f"expected an (N, {NUM_DIGITS}) array of encodings, got shape {enc.shape}")
    n = len(enc)
    index = np.empty((n, KINDS_PER_NET), dtype=np.int32)
    counts = np.empty((n, KINDS_PER_NET), dtype=np.int16)
    chunk_uniques: list[list[np.ndarray]] = []
    too_small: dict[int, tuple[int, int, int]] = {}  # stage -> (networks, an input size, its kernel)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        kinds = _chunk_kinds(enc[rows].astype(np.int64), space, res_scale, min_resolution, width_mult, too_small)
        uniques = []
        for j, (code, count) in enumerate(kinds):
            u, inv = np.unique(np.where(count > 0, code, -1), return_inverse=True)
            uniques.append(u)
            index[rows, j] = inv.reshape(-1)
            counts[rows, j] = count
        chunk_uniques.append(uniques)
    if too_small:
        stage, (bad, h, k) = next(iter(sorted(too_small.items())))
        raise InputError(
            f"{bad} of {n} networks have a stage-{stage} input smaller than its kernel at resolution scale "
            f"{res_scale:g} (e.g. {h} px for kernel {k}); use a larger res_scale"
        )
    allcodes = _sorted_unique(
        np.concatenate([u for uniques in chunk_uniques for u in uniques] or [np.zeros(0, np.int64)])
    )
    allcodes = allcodes[allcodes >= 0]
    for c, uniques in enumerate(chunk_uniques):  # chunk-local positions -> positions in allcodes
        rows = slice(c * _CHUNK_ROWS, (c + 1) * _CHUNK_ROWS)
        for j, u in enumerate(uniques):
            position = np.where(u >= 0, np.searchsorted(allcodes, u), -1).astype(np.int32)
            index[rows, j] = position[index[rows, j]]
    return KeyIndex(allcodes, index, counts, batch, precision, classes, res_scale)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int64 array by sort and compare (numpy 2's hash-based unique, used when no
    inverse is asked for, is many times slower on the couple of million codes of the chunks' keys)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _chunk_kinds(
    enc: np.ndarray,
    space: SearchSpace,
    res_scale: float,
    min_resolution: int,
    width_mult: float,
    too_small: dict[int, tuple[int, int, int]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The packed code and repeat count of each of the 15 layer kinds of some rows (stages whose input
    is smaller than the kernel are tallied in ``too_small``)."""
    n = len(enc)
    ones = np.ones(n, dtype=np.int64)
    res = _scaled_column(enc[:, 0], res_scale, min_resolution)

    def width(channels: np.ndarray | int) -> np.ndarray:
        return np.asarray(channels) if width_mult == 1.0 else _make_divisible(np.asarray(channels) * width_mult)

    stem, k1, a1, n1 = width(enc[:, 1]), enc[:, 2], enc[:, 3], enc[:, 4]
    h = (res + 2 - 3) // 2 + 1
    kinds = [
        (_pack(type=_TYPE["head"], cin=3, cout=stem, k=3, s=2, act=1, h=res), ones),
        (_pack(type=_TYPE["conv"], cin=stem, cout=stem, k=k1, s=1, act=a1, h=h), n1),
    ]
    channels = stem
    for stage in BLOCK_STAGES:
        f, k, e, se, act, count = enc[:, space.stage_slice(stage)].T
        f = width(f)
        fused = stage in space.fused_stages
        t = _TYPE["fused_irb" if fused else "irb"]
        stride = 2 if stage in space.stride2_stages else 1
        present = count > 0
        first = _pack(type=t, cin=channels, cout=f, k=k, s=stride, e4=4 * e, se=se, act=act, h=h)
        pad = np.zeros_like(k) if (fused and stride == 2) else ((stride - 1) + (k - 1)) // 2
        h_out = (h + 2 * pad - k) // stride + 1
        small = present & (h + 2 * pad < k)
        if small.any():
            bad, example_h, example_k = too_small.get(stage, (0, int(h[small][0]), int(k[small][0])))
            too_small[stage] = (bad + int(small.sum()), example_h, example_k)
        rest = _pack(type=t, cin=f, cout=f, k=k, s=1, e4=4 * e, se=se, act=act, h=h_out)
        kinds += [(first, present.astype(np.int64)), (rest, np.maximum(count - 1, 0))]
        h = np.where(present, h_out, h)
        channels = np.where(present, f, channels)
    kinds.append((_pack(type=_TYPE["tail"], cin=channels, cout=width(space.tail_channels), k=1, s=1, h=h), ones))
    return kinds


def estimate_sums(key_index: KeyIndex, latency: np.ndarray) -> np.ndarray:
    """Sum of per-layer latencies of every row.

    Args:
        key_index: From :func:`index_encodings`.
        latency: ``(K,)`` latency of each key of ``key_index.keys`` (NaN where unknown).

    Returns:
        ``(N,)`` float64 sums; NaN for rows that use an unknown key.
    """
    latency = np.asarray(latency, dtype=np.float64)
    if latency.shape != key_index.codes.shape:
        raise InputError(f"need one latency per key ({len(key_index.codes)}), got shape {latency.shape}")
    extended = np.append(latency, 0.0)  # index -1 (absent kind) reads this 0
    out = np.empty(len(key_index))
    for start in range(0, len(key_index), _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        out[rows] = (extended[key_index.index[rows]] * key_index.counts[rows]).sum(axis=1)
    return out
