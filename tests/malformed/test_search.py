"""Malformed input to the search pipeline (gpunet_search): typed errors, one CLI line, state unchanged.

Each table holds one class of bad input. API cases assert the error type and that the message names
the parameter; CLI cases assert exit code 1 (input) or 2 (environment), a single stderr line naming
the flag or file, and that no file changed.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gpunet_hub._io import file_sha256
from gpunet_hub.cli import main
from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_search.latency import pipeline
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.measure import clean_stale_tmp
from gpunet_search.latency.sampling import load_samples, sample, save_samples
from gpunet_search.latency.tiers import parse_tiers
from gpunet_search.search.searcher import LamctsBoSearcher, SearcherConfig

# -- the searcher ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def told() -> tuple[LamctsBoSearcher, dict]:
    """A searcher with 20 observations (in the initial design: no model fit needed) and its state."""
    searcher = LamctsBoSearcher("table1", seed=3, config=SearcherConfig(pool_size=128, n_init=32))
    batch = searcher.ask(20)
    searcher.tell(batch, [float(i) for i in range(20)])
    return searcher, json.loads(json.dumps(searcher.state_dict()))


def _spare(searcher: LamctsBoSearcher, k: int = 1) -> np.ndarray:
    return searcher.pool[-k:]


_BAD_CALLS = {
    "ask float": (lambda s: s.ask(1.5), "n"),
    "ask text": (lambda s: s.ask("2"), "n"),
    "ask bool": (lambda s: s.ask(True), "n"),
    "ask zero": (lambda s: s.ask(0), "n"),
    "ask huge": (lambda s: s.ask(10**12), "n"),
    "tell values None": (lambda s: s.tell(_spare(s), None), "values"),
    "tell value None": (lambda s: s.tell(_spare(s), [None]), "values"),
    "tell value text": (lambda s: s.tell(_spare(s), ["0.5"]), "values"),
    "tell value bool": (lambda s: s.tell(_spare(s), [True]), "values"),
    "tell value NaN": (lambda s: s.tell(_spare(s, 2), [1.0, math.nan]), "values"),
    "tell value inf": (lambda s: s.tell(_spare(s), [math.inf]), "values"),
    "tell mismatched": (lambda s: s.tell(_spare(s, 2), [1.0]), "vectors"),
    "tell fractional digit": (lambda s: s.tell(_spare(s) + 0.5, [1.0]), "vectors"),
    "tell inf digit": (lambda s: s.tell([[math.inf] * 41], [1.0]), "vectors"),
    "tell short vector": (lambda s: s.tell([[1, 2, 3]], [1.0]), "vectors"),
    "tell text vector": (lambda s: s.tell("320,32", [1.0]), "vectors"),
    "tell invalid encoding": (lambda s: s.tell([[7] * 41], [1.0]), "row 0"),
    "tell already told": (lambda s: s.tell(s.observations()[0][:1], [1.0]), "already told"),
    "cancel fractional": (lambda s: s.cancel(_spare(s) + 0.25), "vectors"),
}


@pytest.mark.parametrize("name", list(_BAD_CALLS))
def test_bad_searcher_call_is_typed_and_changes_nothing(told, name):
    searcher, _ = told
    call, named = _BAD_CALLS[name]
    before = searcher.state_dict()
    with pytest.raises(InputError, match=named):
        call(searcher)
    after = searcher.state_dict()
    assert searcher.n_observations == 20 and after == before


def _edited(state: dict, **changes) -> dict:
    out = json.loads(json.dumps(state))
    for path, value in changes.items():
        node = out
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return out


_BAD_STATES = {
    "not a dict": lambda st: None,
    "old version": lambda st: _edited(st, version=1),
    "other space fingerprint": lambda st: _edited(st, space_fingerprint="0123456789abcdef"),
    "other mode": lambda st: _edited(st, mode="min"),
    "other pool": lambda st: _edited(st, pool__fingerprint="feed"),
    "config refused": lambda st: _edited(st, config__leaf_size=1),
    "config wrong type": lambda st: _edited(st, config__use_tree="yes"),
    "config NaN": lambda st: _edited(st, config__cp=math.nan),
    "config unknown field": lambda st: _edited(st, config__surprise=1),
    "negative seed": lambda st: _edited(st, seed=-1),
    "null values": lambda st: _edited(st, observations__values=[None] * 20),
    "fewer values": lambda st: _edited(st, observations__values=[1.0]),
    "fractional digit": lambda st: _edited(
        st, observations__vectors=[[v + 0.5 for v in st["observations"]["vectors"][0]]]
    ),
    "bad rng": lambda st: _edited(st, rng={"bit_generator": "nope"}),
    "no rng": lambda st: {k: v for k, v in st.items() if k != "rng"},
}


@pytest.mark.parametrize("name", list(_BAD_STATES))
def test_bad_state_is_refused_and_leaves_the_searcher_as_it_was(told, name):
    searcher, state = told
    before = searcher.state_dict()
    with pytest.raises(InputError):
        searcher.load_state_dict(_BAD_STATES[name](state))
    assert searcher.n_observations == 20 and searcher.state_dict() == before


def test_wrong_fingerprint_names_both(told):
    searcher, state = told
    with pytest.raises(InputError) as caught:
        searcher.load_state_dict(_edited(state, space_fingerprint="0123456789abcdef"))
    message = str(caught.value)
    assert "0123456789abcdef" in message and searcher.grid.space.fingerprint() in message and "changed" in message


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"mode": "maximise"}, "mode"),
        ({"config": {"leaf_size": 4}}, "config"),
        ({"feasible": 3}, "feasible"),
        ({"pool": [[0.5] * 41]}, "pool"),
        ({"pool": "abc"}, "pool"),
    ],
)
def test_bad_constructor_argument(kwargs, named):
    with pytest.raises(InputError, match=named):
        LamctsBoSearcher("table1", **kwargs)


@pytest.mark.parametrize(
    "field", [{"leaf_size": 1}, {"cp": -1.0}, {"cp": math.inf}, {"n_init": 2.5}, {"kernel": "cubic"}, {"liar": "x"}]
)
def test_config_refuses_bad_fields(field):
    with pytest.raises(InputError, match=next(iter(field))):
        SearcherConfig(**field)


# -- files: sample files and LUTs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("files")
    good = save_samples(sample(16, "table1", seed=0), root / "ok.npz")
    data = good.read_bytes()
    (root / "empty.npz").write_bytes(b"")
    (root / "truncated.npz").write_bytes(data[: len(data) // 2])
    (root / "text.npz").write_text("not numpy")
    with np.load(good) as z:
        np.savez(root / "nometa.npz", encodings=z["encodings"])
        np.savez(root / "badmeta.npz", encodings=z["encodings"], meta=np.array("[1, 2]"))
        np.savez(root / "norows.npz", encodings=z["encodings"][:0], meta=z["meta"])
        np.save(root / "array.npy", z["encodings"])
    lut = root / "lut.sqlite"
    with LatencyLUT(lut) as store:
        store.import_rows({"dev0": {"backend": "ort", "device": "cpu"}}, [_row("k1", 1.0), _row("k2", 2.0)])
    (root / "empty.sqlite").write_bytes(b"")
    (root / "notsqlite.sqlite").write_text("hello, world\n" * 100)
    (root / "truncated.sqlite").write_bytes(lut.read_bytes()[:100])
    other = sqlite3.connect(root / "other.sqlite")
    other.execute("CREATE TABLE foo (x INTEGER)")
    other.commit()
    other.close()
    return {p.name: p for p in root.iterdir()}


def _row(item: str, ms: float) -> list:
    return list(Measurement("layer", "dev0", "ort", "fp32", 1, item, None, ms, 0.0, 0.01, 3, 10, 1).astuple())


@pytest.mark.parametrize("name", ["empty.npz", "truncated.npz", "text.npz", "nometa.npz", "badmeta.npz", "norows.npz",
                                  "array.npy", "missing.npz"])  # fmt: skip
def test_bad_sample_file(files, name):
    path = files.get(name, next(iter(files.values())).parent / name)
    with pytest.raises(InputError, match=name):
        load_samples(path)


_BAD_LUTS = [(n, ro) for n in ("notsqlite.sqlite", "truncated.sqlite", "other.sqlite") for ro in (True, False)]


# An empty file is a new LUT to a writer, but not a LUT to a reader (which never writes a schema into it).
@pytest.mark.parametrize(("name", "readonly"), [*_BAD_LUTS, ("empty.sqlite", True)])
def test_bad_lut_file_is_refused_and_unchanged(files, name, readonly):
    path = files[name]
    digest, size = file_sha256(path), path.stat().st_size
    with pytest.raises(InputError, match=name):
        LatencyLUT(path, readonly=readonly).close()
    assert file_sha256(path) == digest and path.stat().st_size == size


def test_locked_lut_is_an_environment_problem(tmp_path):
    path = tmp_path / "l.sqlite"
    LatencyLUT(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(EnvironmentProblem, match="locked"):
            LatencyLUT(path, timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda rows: rows[0].__setitem__(7, None), "median_ms=None"),
        (lambda rows: rows[0].__setitem__(7, "1.5"), "median_ms='1.5'"),
        (lambda rows: rows[0].__setitem__(7, True), "median_ms=True"),
        (lambda rows: rows[0].__setitem__(4, 1.5), "batch=1.5"),
        (lambda rows: rows.__setitem__(0, "layer,dev0"), "list of 17"),
        (lambda rows: rows[0].__setitem__(0, "other"), "kind"),
        (lambda rows: rows[0].pop(), "list of 17"),
    ],
)
def test_lut_import_refuses_bad_rows_and_stores_nothing(files, tmp_path, edit, named):
    export = tmp_path / "export.json"
    with LatencyLUT(files["lut.sqlite"], readonly=True) as store:
        store.export_json(export)
    payload = json.loads(export.read_text())
    edit(payload["rows"])
    export.write_text(json.dumps(payload))
    target = tmp_path / "target.sqlite"
    LatencyLUT(target).close()
    with pytest.raises(InputError, match=named.replace("(", r"\(")), LatencyLUT(target) as store:
        store.import_json(export)
    with LatencyLUT(target, readonly=True) as store:
        assert store.rows() == [] and store.devices() == {}  # nothing stored, nothing counted


@pytest.mark.parametrize(
    "kwargs",
    [{"centres": "1", "width": "nan"}, {"centres": "1", "width": "inf"}, {"centres": "1", "width": "-5%"},
     {"centres": "1", "width": "150%"}, {"centres": 1.0}, {"edges": "1,nan"}, {"edges": "2,1"}],
)  # fmt: skip
def test_bad_tiers(kwargs):
    with pytest.raises(InputError):
        parse_tiers(**kwargs)


@pytest.mark.parametrize("kwargs", [{"n": 1.5}, {"n": True}, {"n": 0}, {"n": 4, "seed": -1}, {"n": 4, "space": "x"}])
def test_bad_sample_arguments(kwargs):
    with pytest.raises(InputError):
        sample(**kwargs)


def test_stale_build_folders_are_cleaned(tmp_path):
    dead = tmp_path / "gpunet-lut-999999999-abc"
    live = tmp_path / f"gpunet-lut-{__import__('os').getpid()}-abc"
    dead.mkdir()
    live.mkdir()
    (dead / "layer.onnx").write_bytes(b"x" * 100)
    assert clean_stale_tmp(tmp_path) == 1
    assert not dead.exists() and live.exists()


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def no_measuring(monkeypatch):
    """Any measurement fails the test: validation must come first."""

    def refuse(*args, **kwargs):
        pytest.fail("a measurement started before the arguments were checked")

    monkeypatch.setattr(pipeline, "build_lut", refuse)
    monkeypatch.setattr(pipeline, "calibrate", refuse)


def _cli_cases(f: dict[str, Path], tmp: Path) -> list[tuple[list[str], int, str]]:
    ok, lut = str(f["ok.npz"]), str(f["lut.sqlite"])
    return [
        (["sample", "--n", "0"], 1, "--n"),
        (["sample", "--n", "4", "--out", str(tmp)], 1, "--out"),
        (["sample", "--n", "4", "--out", f"{ok}/x.npz"], 1, "--out"),
        (["sample", "--n", "4", "--seed", "-1"], 1, "--seed"),
        (["lut", "build", "--samples", str(f["empty.npz"]), "--lut", str(tmp / "n.sqlite")], 1, "empty.npz"),
        (["lut", "build", "--samples", str(f["truncated.npz"]), "--lut", str(tmp / "n.sqlite")], 1, "truncated.npz"),
        (["lut", "build", "--samples", str(f["nometa.npz"]), "--lut", str(tmp / "n.sqlite")], 1, "nometa.npz"),
        (["lut", "build", "--samples", ok, "--lut", str(f["notsqlite.sqlite"])], 1, "notsqlite.sqlite"),
        (["lut", "build", "--samples", ok, "--lut", str(f["other.sqlite"])], 1, "other.sqlite"),
        (["lut", "build", "--samples", ok, "--lut", str(tmp / "n.sqlite"), "--res-scale", "nan"], 1, "--res-scale"),
        (["lut", "build", "--samples", ok, "--lut", str(tmp / "n.sqlite"), "--limit", "0"], 1, "--limit"),
        (["lut", "build", "--samples", ok, "--lut", str(tmp / "n.sqlite"), "--runs", "1"], 1, "--runs"),
        (["lut", "build", "--samples", ok, "--lut", str(tmp / "n.sqlite"), "--cv-max", "-1"], 1, "--cv-max"),
        (["lut", "build", "--samples", ok, "--lut", str(tmp / "n.sqlite"), "--precision", "fp7"], 1, "fp7"),
        (["lut", "stats", "--lut", str(f["empty.sqlite"])], 1, "empty.sqlite"),
        (["lut", "stats", "--lut", str(f["truncated.sqlite"])], 1, "truncated.sqlite"),
        (["lut", "stats", "--lut", str(tmp / "none.sqlite")], 1, "--lut"),
        (["lut", "export", "--lut", lut, "--out", str(tmp)], 1, "--out"),
        (["lut", "export", "--lut", lut, "--out", ""], 1, "--out"),
        (["lut", "export", "--lut", lut, "--out", str(tmp / "e.json"), "--device", "nope"], 1, "nope"),
        (["lut", "import", "--lut", str(tmp / "i.sqlite"), "--file", str(f["empty.npz"])], 1, "--file"),
        (["lut", "import", "--lut", str(tmp / "i.sqlite"), "--file", str(f["text.npz"])], 1, "text.npz"),
        (["calibrate", "--samples", ok, "--lut", lut, "--nets", "0"], 1, "--nets"),
        (["calibrate", "--samples", ok, "--lut", lut, "--nets", "99"], 1, "--nets"),
        (["calibrate", "--samples", ok, "--lut", lut, "--nets", "8", "--model", "cubic"], 1, "--model"),
        (["calibrate", "--samples", ok, "--lut", lut, "--nets", "8", "--train-fraction", "2"], 1, "--train-fraction"),
        (["calibrate", "--samples", ok, "--lut", lut, "--nets", "8", "--report", str(tmp)], 1, "--report"),
        (["calibrate", "--samples", ok, "--lut", str(f["notsqlite.sqlite"]), "--nets", "8"], 1, "notsqlite"),
        (["tiers", "--samples", ok, "--lut", lut, "--tiers", "1", "--width", "nan"], 1, "width"),
        (["tiers", "--samples", ok, "--lut", lut, "--tiers", "1", "--out-dir", ok], 1, "--out-dir"),
        (["tiers", "--samples", ok, "--lut", lut, "--edges", "1,2", "--limit", "-3"], 1, "--limit"),
        (["tiers", "--samples", str(f["empty.npz"]), "--lut", lut, "--edges", "1,2"], 1, "empty.npz"),
        (["tiers", "--samples", ok, "--lut", str(f["other.sqlite"]), "--edges", "1,2"], 1, "other.sqlite"),
        (["tiers", "--samples", ok, "--lut", lut, "--edges", "1,2", "--device", " "], 1, "--device"),
        (["bench-synthetic", "--out", ok], 1, "--out"),
        (["bench-synthetic", "--problems", "ackly"], 1, "ackley"),
    ] + [  # unwritable even for root: the failure comes before the work
        (["sample", "--n", "4", "--out", "/proc/x.npz"], 1, "--out"),
        (["lut", "build", "--samples", ok, "--lut", "/proc/l.sqlite"], 1, "--lut"),
        (["lut", "export", "--lut", lut, "--out", "/proc/e.json"], 1, "--out"),
        (["tiers", "--samples", ok, "--lut", lut, "--edges", "1,2", "--out-dir", "/proc/t"], 1, "--out-dir"),
        (["bench-synthetic", "--out", "/proc/b"], 1, "--out"),
    ] * Path("/proc/self").is_dir()


def test_cli_bad_input_one_line_and_nothing_written(files, tmp_path, capsys, no_measuring):
    before = {p: file_sha256(p) for p in files.values()}
    for argv, code, named in _cli_cases(files, tmp_path):
        assert main(["search", *argv]) == code, argv
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], (argv, captured.err)
        assert "Traceback" not in captured.out + captured.err
    assert {p: file_sha256(p) for p in files.values()} == before  # read-only commands wrote nothing
    assert not list(tmp_path.iterdir())  # and nothing was created


def test_cli_missing_keys_repeat_the_users_flags(files, tmp_path, capsys):
    argv = ["search", "tiers", "--samples", str(files["ok.npz"]), "--lut", str(files["lut.sqlite"]), "--edges",
            "1,2", "--res-scale", "0.5", "--limit", "8", "--device", "dev0", "--out-dir", str(tmp_path / "t")]  # fmt: skip
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "lut build" in error and "--res-scale 0.5 --limit 8" in error


def test_sigterm_stops_a_build_as_ctrl_c_does():
    import os
    import signal

    from gpunet_search.latency.cli import _sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"batch": True}, "batch"), ({"seeds": (-1,)}, "seeds"), ({"budget": 8, "n_init": 16}, "budget"),
     ({"n_init": 2.5}, "n_init"), ({"config": 3}, "config"), ({"problems": ("ackly",)}, "ackly"),
     ({"config": {"lair": "min"}}, "lair.*liar"), ({"config": {"liar": "least"}}, "liar")],
)  # fmt: skip
def test_bad_bench_settings(kwargs, named):
    from gpunet_search.experiments.bench import BenchSettings

    with pytest.raises(InputError, match=named):
        BenchSettings(**kwargs).validate()
