"""Create, resume and run an Optuna study over a search space.

The study is two-objective (maximise proxy accuracy in %, minimise latency in ms). Its
storage is SQLite at ``<out>/study.db`` by default, or any Optuna RDB URL. Trials carry
heartbeats, so a trial whose process died is failed and retried rather than left RUNNING.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from hwsearch.errors import HwsearchError
from hwsearch.paper import paper_grid
from hwsearch.search.config import CONFIG_ATTR, SearchConfig
from hwsearch.search.objective import Objective
from hwsearch.space import SearchSpace

DIRECTIONS = ("maximize", "minimize")
HEARTBEAT_S = 10
GRACE_S = 60
MAX_RETRY = 2
SQLITE_BUSY_S = 120
StudyCallback = Callable[[optuna.Study, FrozenTrial], None]


class StudyError(HwsearchError):
    """A study that cannot be created, found or resumed."""


@dataclass(frozen=True)
class Baseline:
    """One of the paper's hand-designed networks, expressed in the space's decisions."""

    name: str
    params: dict[str, object]


def baselines_in(space: SearchSpace) -> list[Baseline]:
    """The paper's 16 alpha x resolution MobileNets that the space contains."""
    found = []
    for model in paper_grid():
        arch = model.arch
        try:
            params = space.params_for(arch)
        except HwsearchError:
            continue
        found.append(Baseline(f"{model.alpha:g}-{model.resolution}", params))
    return found


def sqlite_url(out_dir: Path) -> str:
    """The default storage of a run folder."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def open_storage(url: str) -> RDBStorage:
    """An RDB storage with heartbeats and retry of trials whose worker died."""
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental in Optuna 5 but are its documented answer to dead workers.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
            return RDBStorage(url, engine_kwargs=_engine_kwargs(url), heartbeat_interval=HEARTBEAT_S,
                              grace_period=GRACE_S,
                              heartbeat_stale_trial_callback=retry)  # fmt: skip
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or an unreachable server
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StudyError(f"cannot open study storage {url!r}: {reason}", value=url) from None


def _engine_kwargs(url: str) -> dict[str, object]:
    # A reader beside the run (optuna-dashboard, 'hwsearch report') holds SQLite's lock for a
    # moment; wait for it instead of failing after the driver's default 5 seconds.
    return {"connect_args": {"timeout": SQLITE_BUSY_S}} if url.startswith("sqlite") else {}


def make_sampler(config: SearchConfig, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler named by ``config.sampler``; NSGA-II and TPE read the trials' constraints."""
    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=config.population, seed=config.seed)
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=config.seed, multivariate=True)
    if config.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in space.choices().items()}, seed=config.seed)
    return optuna.samplers.RandomSampler(seed=config.seed)


def create_study(config: SearchConfig, storage: RDBStorage, name: str, space: SearchSpace) -> optuna.Study:
    """A new study holding ``config``, with the paper's baselines enqueued first."""
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=list(DIRECTIONS),
                                    sampler=make_sampler(config, space))  # fmt: skip
    except optuna.exceptions.DuplicatedStudyError:
        raise StudyError(f"study {name!r} already exists in {storage.url}", value=name,
                         hint="pass --resume to continue it, or choose another --out or --study") from None  # fmt: skip
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    if config.baselines:
        for baseline in baselines_in(space):
            study.enqueue_trial(baseline.params, user_attrs={"baseline": baseline.name})
    return study


def load_study(
    storage: RDBStorage, name: str, space_loader: Callable[[str], SearchSpace]
) -> tuple[optuna.Study, SearchConfig, SearchSpace]:
    """Reopen a study and the config it was created with."""
    try:
        summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    except Exception as exc:
        raise StudyError(f"{storage.url} is not an hwsearch study database: {exc}", value=storage.url) from None
    if name not in summaries:
        known = ", ".join(sorted(summaries)) or "none"
        raise StudyError(f"no study {name!r} in {storage.url}", value=name, hint=f"studies there: {known}")
    attrs = summaries[name].user_attrs
    if CONFIG_ATTR not in attrs:
        raise StudyError(f"study {name!r} in {storage.url} was not made by hwsearch", value=name)
    config = SearchConfig.from_dict(attrs[CONFIG_ATTR])
    space = space_loader(config.space)
    study = optuna.load_study(study_name=name, storage=storage, sampler=make_sampler(config, space))
    return study, config, space


def fail_interrupted(study: optuna.Study) -> int:
    """Fail and re-enqueue trials left RUNNING by a process that died; returns how many.

    Only safe when no other worker shares the study (the local SQLite case); shared
    studies rely on heartbeats instead.
    """
    storage = study._storage
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    for trial in stale:
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        retry(study, storage.get_trial(trial._trial_id))
    return len(stale)


def requeue_baselines(study: optuna.Study, space: SearchSpace) -> int:
    """Enqueue again every baseline with no complete, waiting or running trial; returns how many.

    A baseline interrupted by Ctrl-C ends FAIL, and no sampler would propose it again.
    """
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    present = {t.user_attrs.get("baseline") for t in study.get_trials(deepcopy=False, states=live)}
    missing = [b for b in baselines_in(space) if b.name not in present]
    for baseline in missing:
        study.enqueue_trial(baseline.params, user_attrs={"baseline": baseline.name})
    return len(missing)


def target_trials(config: SearchConfig, space: SearchSpace) -> int:
    """Finished trials a run aims for: the asked-for count plus the baselines."""
    return config.trials + (len(baselines_in(space)) if config.baselines else 0)


def completed(study: optuna.Study) -> int:
    """Trials finished with values."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def optimise(study: optuna.Study, objective: Objective, *, target: int, timeout_min: float | None,
             callbacks: Sequence[StudyCallback] = ()) -> None:  # fmt: skip
    """Run trials until ``target`` are complete (counting earlier ones) or the timeout passes."""
    if completed(study) >= target:
        return
    stop = MaxTrialsCallback(target, states=(TrialState.COMPLETE,))
    timeout_s = None if timeout_min is None else timeout_min * 60
    study.optimize(objective, n_trials=None, timeout=timeout_s, callbacks=[*callbacks, stop],
                   gc_after_trial=False, show_progress_bar=False)  # fmt: skip
