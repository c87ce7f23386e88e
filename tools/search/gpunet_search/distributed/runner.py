"""Run or resume a distributed search: validate, start Ray, build or restore the Tuner, fit.

One experiment per tier and evaluator under ``storage/name``. The same call on an existing
experiment restores it (``Tuner.can_restore`` -> ``Tuner.restore(resume_unfinished=True,
resume_errored=True)``) and finishes exactly the remaining budget: unfinished trials resume from
their last epoch checkpoint, the searcher continues from its saved state. A small manifest beside
Tune's files refuses a resume with different settings.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gpunet_hub._io import atomic_write_text
from gpunet_hub.errors import EnvironmentProblem, InputError

from ._deps import MedianStoppingRule, SearcherConfig
from .evaluators import BEST, VALUE, EvaluatorSpec
from .tier import TierPool, load_tier

log = logging.getLogger(__name__)

MANIFEST = "gpunet_search_run.json"
MANIFEST_FORMAT = "gpunet-search-run/1"
SNAPSHOT_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
# Frequent snapshots are deliberate here (they bound what a killed driver loses): no warning for them.
QUIET_ENV = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"


@dataclass(frozen=True)
class RunSettings:
    """One distributed search.

    Attributes:
        tier: Tier file (``gpunet-hub search tiers``).
        evaluator: What every trial runs.
        trials: Trial budget.
        concurrent: Trials at once (worker slots); also the searcher's batch unless ``batch`` is set.
        storage: Experiment root: a local folder, or a URI (``s3://``, ``gs://``) or NFS path every node sees.
        name: Experiment name (default: ``search-<tier>-<evaluator>``).
        address: Ray cluster to join (``auto``, ``host:6379``); ``None`` starts Ray on this machine.
        cpus_per_trial: CPUs Tune reserves per trial.
        gpus_per_trial: GPUs Tune reserves per trial (one trial per GPU: 1).
        num_cpus: CPUs of the local Ray instance (default: ``concurrent * cpus_per_trial``).
        seed: Seed of the searcher and of the evaluator.
        batch: Proposals per background ``ask``.
        max_failures: Retries of a trial whose worker died (each resumes from its last checkpoint).
        early_stop: Apply the median stopping rule.
        grace_epochs: The rule never stops a trial at or before this epoch.
        min_runs: Other trials needed at an epoch before the rule may stop one.
        resume: Require an existing experiment to resume.
        snapshot_s: Seconds between experiment snapshots (Tune's ``TUNE_GLOBAL_CHECKPOINT_S``).
        searcher: Parameters of the LA-MCTS + BO model.
    """

    tier: Path
    evaluator: EvaluatorSpec
    trials: int
    concurrent: int = 2
    storage: str = "search_runs"
    name: str | None = None
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    num_cpus: int | None = None
    seed: int = 0
    batch: int | None = None
    max_failures: int = 3
    early_stop: bool = True
    grace_epochs: int = 1
    min_runs: int = 3
    resume: bool = False
    snapshot_s: float = 1.0
    searcher: SearcherConfig = field(default_factory=SearcherConfig)

    def check(self) -> None:
        """Validates the numbers (files and Ray are checked by :func:`prepare`).

        Raises:
            InputError: A value out of range.
        """
        for label, value, low in (
            ("--trials", self.trials, 1),
            ("--concurrent", self.concurrent, 1),
            ("--max-failures", self.max_failures, 0),
            ("--batch", self.batch or 1, 1),
            ("--num-cpus", self.num_cpus or 1, 1),
        ):
            if value < low:
                raise InputError(f"{label} must be >= {low}, got {value}")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise InputError(
                f"--cpus-per-trial must be > 0 and --gpus-per-trial >= 0, got {self.cpus_per_trial} and {self.gpus_per_trial}"
            )
        if self.snapshot_s < 0:
            raise InputError(f"the snapshot period must be >= 0 s, got {self.snapshot_s}")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", self.name):
            raise InputError(f"--name {self.name!r} must be letters, digits, '.', '_' or '-' (at most 100)")
        MedianStoppingRule(self.grace_epochs, self.min_runs)


@dataclass(frozen=True)
class Plan:
    """A validated run: the tier, where the experiment lives, and whether it resumes."""

    settings: RunSettings
    tier: TierPool
    name: str
    storage: str
    epochs: int
    restoring: bool

    @property
    def path(self) -> str:
        """The experiment folder (or URI)."""
        return f"{self.storage.rstrip('/')}/{self.name}"

    def manifest(self) -> dict[str, Any]:
        """The settings a resume must share."""
        s = self.settings
        return {
            "format": MANIFEST_FORMAT,
            "tier_file": str(self.tier.path),
            "tier_sha256": self.tier.sha256,
            "tier": self.tier.name,
            "evaluator": s.evaluator.to_dict(),
            "epochs": self.epochs,
            "trials": s.trials,
            "concurrent": s.concurrent,
            "seed": s.seed,
            "early_stop": s.early_stop,
            "grace_epochs": s.grace_epochs,
            "min_runs": s.min_runs,
            "searcher": asdict(s.searcher),
        }


def default_name(tier: TierPool, evaluator: EvaluatorSpec) -> str:
    """``search-<tier>-<evaluator>``, e.g. ``search-0.65ms-train`` (fixed, so a rerun finds it)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"search-{tier.name}-{evaluator.slug}")


def resolve_storage(storage: str) -> str:
    """A URI stays as it is; a local folder becomes absolute (Tune needs that) and is created.

    Raises:
        InputError: The folder cannot be created.
    """
    if "://" in storage:
        return storage
    path = Path(storage).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"--storage {storage}: cannot create the folder ({exc.strerror}); choose a writable place"
        ) from None
    return str(path)


def _read_manifest(path: str) -> dict[str, Any] | None:
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(path) if "://" in path else (pyarrow.fs.LocalFileSystem(), path)
    target = f"{root}/{MANIFEST}"
    if fs.get_file_info(target).type == pyarrow.fs.FileType.NotFound:
        return None
    with fs.open_input_stream(target) as handle:
        return json.loads(handle.readall().decode())


def _write_manifest(path: str, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2) + "\n"
    if "://" not in path:
        atomic_write_text(Path(path) / MANIFEST, text)
        return
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(path)
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(f"{root}/{MANIFEST}") as handle:  # an object store's put is atomic
        handle.write(text.encode())


def prepare(settings: RunSettings) -> Plan:
    """Checks every argument before Ray starts: numbers, tier, evaluator, storage, an existing experiment.

    Raises:
        InputError: Bad values, a bad tier file, a resume with other settings, ``resume`` without an experiment.
        EnvironmentProblem: The ``train`` evaluator is not installed.
    """
    from ray import tune

    settings.check()
    tier = load_tier(settings.tier)
    if settings.trials > len(tier):
        raise InputError(
            f"--trials {settings.trials} exceeds the {len(tier)} networks of tier {tier.name} ({tier.path})"
        )
    if settings.evaluator.space != tier.space:
        settings = replace(settings, evaluator=replace(settings.evaluator, space=tier.space))
    if settings.evaluator.synthetic is None:
        from .train_adapter import train_config

        epochs = int(train_config(settings.evaluator).epochs)
    else:
        epochs = int(settings.evaluator.epochs or 1)
    name = settings.name or default_name(tier, settings.evaluator)
    storage = resolve_storage(settings.storage)
    plan = Plan(settings, tier, name, storage, epochs, restoring=False)
    restoring = tune.Tuner.can_restore(plan.path)
    if settings.resume and not restoring:
        raise InputError(f"nothing to resume at {plan.path}; run without --resume to start it")
    saved = _read_manifest(plan.path)
    if restoring and saved is not None:
        mine = plan.manifest()
        changed = [k for k in mine if k != "tier_file" and saved.get(k) != mine[k]]
        if changed:
            raise InputError(
                f"experiment {plan.path} was started with other settings ({', '.join(changed)}); "
                "pass the same arguments to resume it, or --name NEW for a new search"
            )
    return replace(plan, restoring=restoring)


def start_ray(settings: RunSettings) -> None:
    """Joins ``settings.address``, or starts Ray on this machine (no dashboard) when none is given.

    Does nothing when Ray is already initialised in this process.

    Raises:
        EnvironmentProblem: The cluster cannot be reached.
    """
    import ray

    if ray.is_initialized():
        return
    try:
        if settings.address:
            ray.init(address=settings.address, log_to_driver=False)
        else:
            cpus = settings.num_cpus or max(1, round(settings.concurrent * settings.cpus_per_trial))
            # "local": a new instance even when a `ray start` cluster (or a stale record of one in
            # /tmp/ray/ray_current_cluster) exists; joining one is what --address is for.
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        where = settings.address or "this machine"
        raise EnvironmentProblem(
            f"cannot reach a Ray cluster at {where}: {exc}. Start one with `ray start --head` "
            "and pass --address HOST:6379"
        ) from None


@contextlib.contextmanager
def _snapshot_period(seconds: float) -> Iterator[None]:
    """Sets Tune's experiment snapshot period for one fit (read when the controller starts)."""
    values = {SNAPSHOT_ENV: f"{seconds:g}", QUIET_ENV: "0"}
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def trial_dirname(trial: Any) -> str:
    """A trial's folder: its network's arch hash (Tune appends a suffix if that folder exists)."""
    return str(trial.config["arch_hash"])


def _tuner(plan: Plan) -> Any:
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from .progress import ProgressLog
    from .reconcile import CompleteRestoredTrials
    from .searcher import TuneSearcher
    from .stopping import MedianStopper
    from .trainable import evaluate_trial

    s = plan.settings
    resources = {"cpu": s.cpus_per_trial, "gpu": s.gpus_per_trial}
    trainable = tune.with_resources(evaluate_trial, resources)
    if plan.restoring:
        return tune.Tuner.restore(plan.path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    rule = MedianStoppingRule(s.grace_epochs, s.min_runs) if s.early_stop else None
    searcher = TuneSearcher(
        plan.tier,
        budget=s.trials,
        metric=BEST,
        mode=s.evaluator.mode,
        batch=s.batch or s.concurrent,
        seed=s.seed,
        config=s.searcher,
        stop_rule=rule,
        curve_metric=VALUE,
    )
    scheduler = MedianStopper(searcher) if rule is not None else None
    search_alg = ConcurrencyLimiter(searcher, max_concurrent=s.concurrent)
    return tune.Tuner(
        trainable,
        param_space={"evaluator": s.evaluator.to_dict(), "epochs": plan.epochs},
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=-1,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=s.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=3),
            callbacks=[CompleteRestoredTrials(search_alg), ProgressLog(s.trials, plan.epochs, s.evaluator.mode)],
        ),
    )


@dataclass(frozen=True)
class RunOutcome:
    """What a fit left: the experiment, whether it was restored, the errored trials, wall time."""

    path: str
    restored: bool
    trials: int
    errors: dict[str, str]
    seconds: float


def run(plan: Plan) -> RunOutcome:
    """Starts Ray if needed, builds or restores the Tuner and fits it."""
    start_ray(plan.settings)
    start = time.perf_counter()
    with _snapshot_period(plan.settings.snapshot_s):
        tuner = _tuner(plan)
        if not plan.restoring:
            _write_manifest(plan.path, plan.manifest())
        grid = tuner.fit()
    errors = {
        Path(r.path).name: f"{type(r.error).__name__}: {r.error}".strip().splitlines()[0]
        for r in grid
        if r.error is not None
    }
    return RunOutcome(plan.path, plan.restoring, len(grid), errors, time.perf_counter() - start)
