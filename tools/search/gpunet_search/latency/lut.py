"""The latency look-up table: an SQLite file (WAL mode) shared by concurrent measuring processes.

One table, ``measurements``, holds finished measurements keyed by ``(kind, device, backend,
precision, batch, item)``: ``kind`` is ``layer`` (the LUT proper; ``item`` is the layer key) or
``net`` (whole networks measured for calibration). A row stores the minimum over rounds of the
per-round medians, the spread between rounds, the CV, the counts, the software versions and the date;
``round_history`` keeps every round's median of a finished item (what the noise-floor analysis reads).
A later *pass* (a fresh session, minutes after the first) appends its rounds to the history at
round ``pass * PASS_ROUNDS`` and onwards, and the row's value becomes the minimum over all of them.

Crash safety and concurrency:

* every round of every item is committed on its own (``rounds``), so a killed build loses at most
  the one timing in progress, and a resumed build reuses the rounds already taken;
* a worker *claims* items before measuring them (``claims``; ``BEGIN IMMEDIATE`` serialises the
  claimers); a claim whose owner died (same host, pid gone) or went silent for ``lease`` seconds is
  taken over, so two processes never measure the same item and a crashed one never blocks it;
* the final row is written with ``INSERT OR IGNORE`` on the primary key: an item is never stored
  (or measured) twice.

Calibrations live in the same file (``calibrations``), keyed by device fingerprint, with the LUT
*revision* they were fitted on: importing replacement rows bumps the revision and makes older
calibrations stale.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from gpunet_hub import _validate
from gpunet_hub._io import atomic_write_text, utc_now
from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_hub.measure.device import Device

SCHEMA_VERSION = 1
PASS_ROUNDS = 1000  # round index of a later pass's first round: pass * PASS_ROUNDS (pass 0 is the first)
MAX_PASSES = 10
EXPORT_FORMAT = "gpunet-search-lut/1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (device TEXT PRIMARY KEY, info TEXT NOT NULL, added TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS measurements (
    kind TEXT NOT NULL, device TEXT NOT NULL, backend TEXT NOT NULL, precision TEXT NOT NULL,
    batch INTEGER NOT NULL, item TEXT NOT NULL, code INTEGER,
    median_ms REAL NOT NULL, spread_ms REAL NOT NULL, cv REAL, rounds INTEGER NOT NULL, runs INTEGER NOT NULL,
    warmup INTEGER NOT NULL, remeasured INTEGER NOT NULL DEFAULT 0, versions TEXT, measured_at TEXT NOT NULL,
    worker TEXT, PRIMARY KEY (kind, device, backend, precision, batch, item));
CREATE INDEX IF NOT EXISTS measurements_code ON measurements (kind, device, precision, batch, code);
CREATE TABLE IF NOT EXISTS rounds (
    kind TEXT NOT NULL, device TEXT NOT NULL, item TEXT NOT NULL, round INTEGER NOT NULL,
    median_ms REAL NOT NULL, cv REAL NOT NULL, runs INTEGER NOT NULL, attempts INTEGER NOT NULL, owner TEXT,
    PRIMARY KEY (kind, device, item, round));
CREATE TABLE IF NOT EXISTS round_history (
    kind TEXT NOT NULL, device TEXT NOT NULL, item TEXT NOT NULL, round INTEGER NOT NULL,
    median_ms REAL NOT NULL, cv REAL NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (kind, device, item, round));
CREATE TABLE IF NOT EXISTS claims (
    kind TEXT NOT NULL, device TEXT NOT NULL, item TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, claimed_at REAL NOT NULL, PRIMARY KEY (kind, device, item));
CREATE TABLE IF NOT EXISTS calibrations (
    device TEXT NOT NULL, precision TEXT NOT NULL, batch INTEGER NOT NULL, res_scale REAL NOT NULL,
    model TEXT NOT NULL, coef TEXT NOT NULL, metrics TEXT NOT NULL, revision INTEGER NOT NULL,
    created TEXT NOT NULL, PRIMARY KEY (device, precision, batch, res_scale));
"""
_COLUMNS = (
    "kind",
    "device",
    "backend",
    "precision",
    "batch",
    "item",
    "code",
    "median_ms",
    "spread_ms",
    "cv",
    "rounds",
    "runs",
    "warmup",
    "remeasured",
    "versions",
    "measured_at",
    "worker",
)


def make_owner() -> str:
    """A worker identity: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _is_sqlite(path: Path) -> bool:
    """Whether a file starts with the SQLite 3 header."""
    with open(path, "rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settled_spread(medians: Sequence[float], rounds: int) -> float:
    """Relative spread ``(max - min) / min`` of the ``rounds`` lowest round medians (the protocol's agreement)."""
    best = sorted(medians)[:rounds]
    return (best[-1] - best[0]) / best[0] if best and best[0] > 0 else 0.0


@dataclass(frozen=True)
class Measurement:
    """A finished measurement (one row of ``measurements``)."""

    kind: str
    device: str
    backend: str
    precision: str
    batch: int
    item: str
    code: int | None
    median_ms: float
    spread_ms: float
    cv: float | None
    rounds: int
    runs: int
    warmup: int
    remeasured: int = 0
    versions: str | None = None
    measured_at: str = ""
    worker: str | None = None

    def astuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in _COLUMNS)


class _Connection(sqlite3.Connection):
    """A connection whose statements raise the project's errors instead of sqlite3's."""

    path: Path

    def execute(self, *args: Any) -> sqlite3.Cursor:
        with _sqlite_errors(self.path):
            return super().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        with _sqlite_errors(self.path):
            return super().executemany(*args)


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """sqlite3 errors as project errors: a busy, read-only or full file is the environment; a damaged one is input."""
    try:
        yield
    except (sqlite3.InterfaceError, sqlite3.ProgrammingError) as exc:  # a value SQLite cannot bind
        raise InputError(f"a value passed to the LUT {path} cannot be used in a query: {exc}") from None
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise EnvironmentProblem(
                f"the LUT {path} is locked by another process ({text}); wait for it to finish, or stop it"
            ) from None
        if "no such table" in text or "no such column" in text:
            raise InputError(
                f"{path} is not a gpunet-search latency LUT ({text}); build one with `lut build`"
            ) from None
        raise EnvironmentProblem(f"cannot use the LUT {path}: {text}") from None
    except sqlite3.DatabaseError as exc:  # not SQLite, truncated, malformed
        raise InputError(
            f"{path} is not a readable SQLite latency LUT ({exc}); it may be truncated or another kind of file: "
            "restore it or build a new one"
        ) from None


class LatencyLUT:
    """An SQLite latency LUT. One instance per process (the connection is not shared).

    Args:
        path: The ``.sqlite`` file (created with its schema when missing).
        create: Create the file if it does not exist (else a missing file is an error).
        readonly: Open an existing LUT for reading only: nothing is written to it, not even a schema
            (implies ``create=False``).
        timeout: Seconds to wait for another writer's lock.

    Raises:
        InputError: A missing file (unless created), a file that is not SQLite, is truncated, or is an
            SQLite database of another schema.
        EnvironmentProblem: A LUT locked past ``timeout``, unwritable, or of another LUT schema version.
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, readonly: bool = False, timeout: float = 120.0
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise InputError(f"path must name a LUT file, got {path!r}", params=("path",))
        timeout = _validate.number(timeout, "timeout", minimum=0)
        self.path = Path(path)
        if (readonly or not create) and not self.path.is_file():
            raise InputError(f"no LUT at {self.path}; build one with pipeline.build_lut(), or open it with create=True")
        if self.path.is_dir():
            raise InputError(f"the LUT path {self.path} is a folder; name a .sqlite file", params=("path",))
        if self.path.is_file() and self.path.stat().st_size and not _is_sqlite(self.path):
            raise InputError(
                f"{self.path} is not an SQLite latency LUT (no SQLite header); name another file or build a new LUT"
            )
        if readonly and self.path.stat().st_size == 0:
            raise InputError(f"{self.path} is empty (0 bytes), not a latency LUT; build one with `lut build`")
        if not readonly:
            _validate.output_file(self.path, "path")  # not under a file, not an unwritable folder
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            target = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
            self._db = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=readonly, factory=_Connection)
        except (OSError, sqlite3.OperationalError) as exc:
            raise EnvironmentProblem(f"cannot open the LUT {self.path}: {exc}") from None
        self._db.path = self.path
        try:
            self._init_schema(timeout, readonly)
            row = self._db.execute("SELECT value FROM meta WHERE name = 'lut_id'").fetchone()
            if row is None:
                raise InputError(f"{self.path} is an SQLite file without a LUT id: not a gpunet-search latency LUT")
            self.lut_id = row[0]
        except BaseException:
            self._db.close()
            raise

    def _init_schema(self, timeout: float, readonly: bool) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not {"meta", "measurements"} <= tables:
            raise InputError(
                f"{self.path} is an SQLite database of another schema (tables: {', '.join(sorted(tables))}), not a "
                "gpunet-search latency LUT; name another file"
            )
        if readonly:
            got = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        else:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self.transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)
                got = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
                if got is None:
                    self._db.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?), ('lut_id', ?), ('created', ?)",
                        (str(SCHEMA_VERSION), uuid.uuid4().hex[:16], utc_now()),
                    )
                    got = (str(SCHEMA_VERSION),)
        if got is None:
            raise InputError(f"{self.path} has no LUT schema version: not a gpunet-search latency LUT")
        if str(got[0]) != str(SCHEMA_VERSION):
            raise EnvironmentProblem(
                f"{self.path} has LUT schema {got[0]}; this gpunet_search reads schema {SCHEMA_VERSION}: open it "
                "with the gpunet-hub version that wrote it, or build a new LUT"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LatencyLUT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # devices ---------------------------------------------------------------------------------
    def register_device(self, info: Device) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO devices (device, info, added) VALUES (?, ?, ?)",
                # ``device`` is the name the fingerprint hashes it under; LUT files have always had it.
                (info.fingerprint, json.dumps(info.to_dict() | {"device": info.name}, sort_keys=True), utc_now()),
            )

    def devices(self) -> dict[str, dict[str, Any]]:
        """Device fingerprint -> description (with its ``revision``)."""
        rows = self._db.execute("SELECT device, info, revision FROM devices").fetchall()
        return {d: json.loads(info) | {"revision": rev} for d, info, rev in rows}

    def device(self, fingerprint: str | None) -> dict[str, Any]:
        """The description of one device; ``None`` picks the only one.

        Raises:
            InputError: Unknown fingerprint, or several devices and none named.
        """
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise InputError(f"a device fingerprint is text, got {fingerprint!r}", params=("fingerprint",))
        known = self.devices()
        if fingerprint is None and len(known) == 1:
            return next(iter(known.values()))
        if fingerprint in known:
            return known[fingerprint]
        listing = "; ".join(f"{d} ({v.get('backend')} on {v.get('device')})" for d, v in known.items()) or "none"
        what = (
            f"device {fingerprint!r} is not in"
            if fingerprint is not None
            else "pass a device fingerprint: several devices are in"
        )
        raise InputError(f"{what} {self.path}; devices: {listing}")

    def revision(self, device: str) -> int:
        row = self._db.execute("SELECT revision FROM devices WHERE device = ?", (device,)).fetchone()
        return int(row[0]) if row else 0

    # reading ---------------------------------------------------------------------------------
    def lookup(self, items: Sequence[str], device: str, *, kind: str = "layer") -> np.ndarray:
        """Median latency (ms) of each item, NaN where not measured."""
        out = np.full(len(items), np.nan)
        known = dict(
            self._db.execute("SELECT item, median_ms FROM measurements WHERE kind = ? AND device = ?", (kind, device))
        )
        for i, item in enumerate(items):
            out[i] = known.get(str(item), np.nan)
        return out

    def lookup_codes(self, codes: np.ndarray, device: str, precision: str, batch: int) -> np.ndarray:
        """Median latency of each packed layer code (fast path of the estimate), NaN where missing."""
        rows = self._db.execute(
            "SELECT code, median_ms FROM measurements WHERE kind = 'layer' AND device = ? AND precision = ? AND "
            "batch = ? "
            "AND code IS NOT NULL",
            (device, precision, batch),
        ).fetchall()
        out = np.full(len(codes), np.nan)
        if rows:
            have = np.array(rows, dtype=np.float64)
            order = np.argsort(have[:, 0], kind="stable")
            known, values = have[order, 0].astype(np.int64), have[order, 1]
            pos = np.clip(np.searchsorted(known, codes), 0, len(known) - 1)
            hit = known[pos] == codes
            out[hit] = values[pos[hit]]
        return out

    def done(self, items: Iterable[str], device: str, *, kind: str = "layer") -> set[str]:
        """The items among ``items`` that already have a finished measurement."""
        known = {
            r[0]
            for r in self._db.execute("SELECT item FROM measurements WHERE kind = ? AND device = ?", (kind, device))
        }
        return {str(i) for i in items} & known

    def rows(self, device: str | None = None, *, kind: str | None = None) -> list[Measurement]:
        sql, args = "SELECT " + ", ".join(_COLUMNS) + " FROM measurements WHERE 1", list[Any]()
        if device:
            sql, args = sql + " AND device = ?", [*args, device]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        return [Measurement(*r) for r in self._db.execute(sql + " ORDER BY kind, device, item", args)]

    def round_history(self, items: Sequence[str], device: str, *, kind: str = "layer") -> dict[str, list[float]]:
        """The per-round medians (ms, in round order) of finished items; items without a history are left out.

        LUTs written before the history was kept have none (their rows still hold the min and spread).
        """
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "round_history" not in tables:
            return {}
        wanted = {str(i) for i in items}
        out: dict[str, list[float]] = {}
        for item, median in self._db.execute(
            "SELECT item, median_ms FROM round_history WHERE kind = ? AND device = ? ORDER BY item, round",
            (kind, device),
        ):
            if item in wanted:
                out.setdefault(item, []).append(float(median))
        return out

    def pass_values(self, items: Sequence[str], device: str, *, kind: str = "layer") -> dict[str, list[float]]:
        """Each finished item's value per pass (the minimum of that pass's round medians), in pass order."""
        wanted = {str(i) for i in items}
        out: dict[str, dict[int, float]] = {}
        for item, rnd, median in self._db.execute(
            "SELECT item, round, median_ms FROM round_history WHERE kind = ? AND device = ?", (kind, device)
        ):
            if item in wanted:
                per_pass = out.setdefault(item, {})
                index = int(rnd) // PASS_ROUNDS
                per_pass[index] = min(per_pass.get(index, float("inf")), float(median))
        return {item: [v[p] for p in sorted(v)] for item, v in out.items()}

    def passes_done(self, items: Sequence[str], device: str, *, kind: str = "layer") -> dict[str, int]:
        """How many passes each finished item has had (1 for rows without a round history)."""
        wanted = {str(i) for i in items}
        out = dict.fromkeys(self.done(wanted, device, kind=kind), 1)
        for item, last in self._db.execute(
            "SELECT item, MAX(round) FROM round_history WHERE kind = ? AND device = ? GROUP BY item", (kind, device)
        ):
            if item in out:
                out[item] = int(last) // PASS_ROUNDS + 1
        return out

    def add_pass(
        self,
        item: str,
        device: str,
        pass_index: int,
        rounds: Sequence[tuple[float, float, int, int]],
        *,
        kind: str = "layer",
        settle: int = 3,
    ) -> Measurement:
        """Appends a later pass of a finished item and makes its value the minimum over every pass's rounds.

        Args:
            item: The item (finished: it has a row).
            device: Its device fingerprint.
            pass_index: 1 for the second pass, 2 for the third, ...
            rounds: ``(median_ms, cv, runs, attempts)`` of each round of this pass.
            kind: ``layer`` or ``net``.
            settle: Round medians whose spread the row reports (the protocol's ``rounds``).

        Returns:
            The updated row.

        Raises:
            InputError: No finished row for the item, a pass index out of range, a pass already taken,
                or no rounds.
        """
        _validate.integer(pass_index, "pass_index", minimum=1, maximum=MAX_PASSES - 1)
        if not rounds:
            raise InputError(f"a pass of {item!r} needs at least one round")
        with self.transaction() as db:
            found = db.execute(
                "SELECT " + ", ".join(_COLUMNS) + " FROM measurements WHERE kind = ? AND device = ? AND item = ?",
                (kind, device, item),
            ).fetchone()
            if found is None:
                raise InputError(f"{item!r} has no finished measurement on {device}: measure it before adding a pass")
            row = Measurement(*found)
            if db.execute(
                "SELECT 1 FROM round_history WHERE kind = ? AND device = ? AND item = ? AND round >= ?",
                (kind, device, item, pass_index * PASS_ROUNDS),
            ).fetchone():
                raise InputError(f"{item!r} already has pass {pass_index + 1} on {device}; a pass is taken once")
            db.executemany(
                "INSERT OR REPLACE INTO round_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (kind, device, item, pass_index * PASS_ROUNDS + r, m, cv, n)
                    for r, (m, cv, n, _) in enumerate(rounds)
                ],
            )
            medians = [
                float(v[0])
                for v in db.execute(
                    "SELECT median_ms FROM round_history WHERE kind = ? AND device = ? AND item = ?",
                    (kind, device, item),
                )
            ]
            best = min([*medians, row.median_ms])
            updated = replace(
                row,
                median_ms=best,
                spread_ms=settled_spread(medians, settle) * best,
                rounds=row.rounds + len(rounds),
                runs=row.runs + sum(int(r[2]) for r in rounds),
                remeasured=row.remeasured + sum(int(r[3]) - 1 for r in rounds),
                measured_at=utc_now(),
            )
            db.execute(
                "UPDATE measurements SET median_ms = ?, spread_ms = ?, rounds = ?, runs = ?, remeasured = ?, "
                "measured_at = ? WHERE kind = ? AND device = ? AND item = ?",
                (
                    updated.median_ms,
                    updated.spread_ms,
                    updated.rounds,
                    updated.runs,
                    updated.remeasured,
                    updated.measured_at,
                    kind,
                    device,
                    item,
                ),
            )
        return updated

    def counts(self) -> list[tuple[str, str, str, int, int]]:
        """``(device, kind, precision, batch, n)`` for every group of rows."""
        return self._db.execute(
            "SELECT device, kind, precision, batch, COUNT(*) FROM measurements GROUP BY device, kind, precision, batch"
        ).fetchall()

    def pending(self) -> tuple[int, int]:
        """``(claims, rounds)`` rows of unfinished work (left by running or crashed builds)."""
        return (
            self._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0],
            self._db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0],
        )

    # measuring -------------------------------------------------------------------------------
    def claim(
        self,
        candidates: Iterable[str],
        device: str,
        owner: str,
        *,
        kind: str = "layer",
        limit: int = 32,
        lease: float = 900.0,
    ) -> list[str]:
        """Claims up to ``limit`` unfinished items not held by a live worker, in candidate order."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        got: list[str] = []
        with self.transaction() as db:
            for item in candidates:
                if db.execute(
                    "SELECT 1 FROM measurements WHERE kind = ? AND device = ? AND item = ?", (kind, device, item)
                ).fetchone():
                    continue
                held = db.execute(
                    "SELECT owner, host, pid, claimed_at FROM claims WHERE kind = ? AND device = ? AND item = ?",
                    (kind, device, item),
                ).fetchone()
                if held and held[0] != owner:
                    dead = held[1] == host and not _pid_alive(int(held[2]))
                    if not dead and now - float(held[3]) < lease:
                        continue
                db.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, device, item, owner, host, pid, now),
                )
                got.append(item)
                if len(got) >= limit:  # stop before pulling another item: the caller's iterator keeps it
                    break
        return got

    def release(self, items: Iterable[str], device: str, owner: str, *, kind: str = "layer") -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM claims WHERE kind = ? AND device = ? AND item = ? AND owner = ?",
                [(kind, device, i, owner) for i in items],
            )

    def partial_rounds(
        self, items: Sequence[str], device: str, *, kind: str = "layer"
    ) -> dict[str, dict[int, tuple[float, float, int, int]]]:
        """Rounds already committed for each item: ``{item: {round: (median, cv, runs, attempts)}}``."""
        wanted = set(items)
        out: dict[str, dict[int, tuple[float, float, int, int]]] = {i: {} for i in items}
        for item, rnd, med, cv, runs, attempts in self._db.execute(
            "SELECT item, round, median_ms, cv, runs, attempts FROM rounds WHERE kind = ? AND device = ?",
            (kind, device),
        ):
            if item in wanted:
                out[item][int(rnd)] = (med, cv, runs, attempts)
        return out

    def add_round(
        self,
        item: str,
        device: str,
        rnd: int,
        median_ms: float,
        cv: float,
        runs: int,
        attempts: int,
        owner: str,
        *,
        kind: str = "layer",
    ) -> None:
        """Commits one round of one item and refreshes the owner's claim."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, device, item, rnd, median_ms, cv, runs, attempts, owner),
            )
            db.execute(
                "UPDATE claims SET claimed_at = ? WHERE kind = ? AND device = ? AND item = ? AND owner = ?",
                (time.time(), kind, device, item, owner),
            )

    def finish(self, row: Measurement, owner: str) -> bool:
        """Stores a finished measurement (never overwriting one) and clears its rounds and claim.

        Returns:
            True if the row was inserted, False if the item already had one.
        """
        with self.transaction() as db:
            cur = db.execute(
                f"INSERT OR IGNORE INTO measurements VALUES ({', '.join('?' * len(_COLUMNS))})", row.astuple()
            )
            if cur.rowcount == 1:
                db.execute(
                    "INSERT OR REPLACE INTO round_history SELECT kind, device, item, round, median_ms, cv, runs "
                    "FROM rounds WHERE kind = ? AND device = ? AND item = ?",
                    (row.kind, row.device, row.item),
                )
            db.execute(
                "DELETE FROM rounds WHERE kind = ? AND device = ? AND item = ?", (row.kind, row.device, row.item)
            )
            db.execute(
                "DELETE FROM claims WHERE kind = ? AND device = ? AND item = ?", (row.kind, row.device, row.item)
            )
        return cur.rowcount == 1

    def add_rows(self, rows: Iterable[Measurement]) -> int:
        """Stores many finished rows in one transaction (existing rows win); returns how many were new."""
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                f"INSERT OR IGNORE INTO measurements VALUES ({', '.join('?' * len(_COLUMNS))})",
                (r.astuple() for r in rows),
            )
            return db.total_changes - before

    # calibration -----------------------------------------------------------------------------
    def save_calibration(
        self,
        device: str,
        precision: str,
        batch: int,
        res_scale: float,
        model: str,
        coef: dict[str, float],
        metrics: dict[str, Any],
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO calibrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device,
                    precision,
                    batch,
                    float(res_scale),
                    model,
                    json.dumps(coef),
                    json.dumps(metrics),
                    self.revision(device),
                    utc_now(),
                ),
            )

    def calibration(self, device: str, precision: str, batch: int, res_scale: float) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT model, coef, metrics, revision, created FROM calibrations WHERE device = ? AND "
            "precision = ? AND batch = ? AND res_scale = ?",
            (device, precision, batch, float(res_scale)),
        ).fetchone()
        if row is None:
            return None
        return {
            "model": row[0],
            "coef": json.loads(row[1]),
            "metrics": json.loads(row[2]),
            "revision": row[3],
            "created": row[4],
            "device": device,
            "precision": precision,
            "batch": batch,
            "res_scale": res_scale,
        }

    def calibrations(self, device: str) -> list[dict[str, Any]]:
        """Every calibration stored for a device."""
        keys = self._db.execute(
            "SELECT precision, batch, res_scale FROM calibrations WHERE device = ?", (device,)
        ).fetchall()
        return [c for c in (self.calibration(device, p, b, s) for p, b, s in keys) if c]

    # sharing ---------------------------------------------------------------------------------
    def export_json(self, path: str | Path, device: str | None = None) -> int:
        """Writes the finished rows (and their devices) as JSON atomically; returns the row count."""
        rows = self.rows(device)
        devices = {d: v for d, v in self.devices().items() if device is None or d == device}
        payload = {
            "format": EXPORT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "lut_id": self.lut_id,
            "exported": utc_now(),
            "devices": devices,
            "columns": list(_COLUMNS),
            "rows": [list(r.astuple()) for r in rows],
        }
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
        return len(rows)

    def import_json(self, path: str | Path, *, replace: bool = False) -> tuple[int, int]:
        """Adds the rows of an exported LUT.

        Args:
            path: A file written by :meth:`export_json`.
            replace: Overwrite rows that exist here (bumps the devices' revision, so calibrations fitted on
                the old rows become stale); by default existing rows win.

        Returns:
            ``(inserted_or_replaced, skipped)``.
        """
        return self.import_rows(*read_export(path), replace=replace)

    def import_rows(
        self, devices: dict[str, dict[str, Any]], rows: list[list[Any]], *, replace: bool = False
    ) -> tuple[int, int]:
        """Adds exported devices and rows as read by :func:`read_export` (one transaction).

        Returns:
            ``(inserted_or_replaced, skipped)``.

        Raises:
            InputError: A device record or row of the wrong shape or types (nothing is written then).
        """
        _check_rows(devices, rows, "import_rows", "rows")
        added = skipped = 0
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        touched: set[str] = set()
        with self.transaction() as db:
            for fp, info in devices.items():
                info = {k: v for k, v in info.items() if k != "revision"}
                db.execute(
                    "INSERT OR IGNORE INTO devices (device, info, added) VALUES (?, ?, ?)",
                    (fp, json.dumps(info, sort_keys=True), utc_now()),
                )
            for row in rows:
                exists = db.execute(
                    "SELECT 1 FROM measurements WHERE kind = ? AND device = ? AND backend = ? AND "
                    "precision = ? AND batch = ? AND item = ?",
                    row[:6],
                ).fetchone()
                if exists and not replace:
                    skipped += 1
                    continue
                db.execute(f"{verb} INTO measurements VALUES ({', '.join('?' * len(_COLUMNS))})", row)
                added += 1
                if exists:
                    touched.add(row[1])
            for fp in touched:
                db.execute("UPDATE devices SET revision = revision + 1 WHERE device = ?", (fp,))
        return added, skipped


def read_export(path: str | Path) -> tuple[dict[str, dict[str, Any]], list[list[Any]]]:
    """The devices and rows of a file written by :meth:`LatencyLUT.export_json`, every row checked.

    Raises:
        InputError: An unreadable file, another format, or a row of the wrong shape or types (null or
            text latencies, a row given as a string), naming the first bad row.
    """
    source = _validate.input_file(path, "path", "LUT export")
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"cannot read LUT export {path}: {exc}", params=("path",)) from None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != EXPORT_FORMAT
        or payload.get("columns") != list(_COLUMNS)
    ):
        raise InputError(f"{path} is not a {EXPORT_FORMAT} export with columns {list(_COLUMNS)}", params=("path",))
    devices, rows = payload.get("devices"), payload.get("rows")
    _check_rows(devices, rows, str(path), "path")
    return cast(dict[str, dict[str, Any]], devices), cast(list[list[Any]], rows)


def _check_rows(devices: object, rows: object, where: str, param: str) -> None:
    """Refuses devices or rows that cannot be stored, naming the first bad row (before anything is written)."""
    if not isinstance(devices, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in devices.items()):
        raise InputError(f"{where}: devices must map fingerprints to device records", params=(param,))
    if not isinstance(rows, list):
        raise InputError(f"{where}: rows must be a list of rows", params=(param,))
    for i, row in enumerate(rows):
        problem = _row_problem(row)
        if problem:
            raise InputError(f"{where}: row {i} {problem}; nothing was imported (fix or drop the row)", params=(param,))


# Type of each column of an exported row: a number column refuses bool, NaN and inf.
_TEXT, _OPT_TEXT, _INT, _OPT_INT, _MS, _OPT_NUM = "text", "text or null", "int", "int or null", "ms", "number or null"
_ROW_TYPES = (_TEXT, _TEXT, _TEXT, _TEXT, _INT, _TEXT, _OPT_INT, _MS, _MS, _OPT_NUM, _INT, _INT, _INT, _INT, _OPT_TEXT,
              _TEXT, _OPT_TEXT)  # fmt: skip


def _row_problem(row: object) -> str | None:
    """Why an exported row cannot be stored, or ``None`` when it can."""
    if not isinstance(row, list) or len(row) != len(_COLUMNS):
        return f"must be a list of {len(_COLUMNS)} values ({', '.join(_COLUMNS)}), got {type(row).__name__}"
    if row[0] not in ("layer", "net"):
        return f"has kind {row[0]!r}; expected 'layer' or 'net'"
    for name, kind, value in zip(_COLUMNS, _ROW_TYPES, row, strict=True):
        if value is None and kind.endswith("or null"):
            continue
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            _TEXT: isinstance(value, str),
            _OPT_TEXT: isinstance(value, str),
            _INT: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            _OPT_INT: isinstance(value, int) and not isinstance(value, bool),
            _MS: real and np.isfinite(value) and value >= 0,
            _OPT_NUM: real and np.isfinite(value),
        }[kind]
        if not ok:
            return f"has {name}={value!r}; expected {kind}{' >= 0' if kind in (_INT, _MS) else ''}"
    return None
