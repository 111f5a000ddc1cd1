"""Create, resume and run an Optuna study over a search space.

The study is two-objective (maximise proxy accuracy in %, minimise latency in ms). Its
storage is SQLite at ``<out>/study.db`` by default, or any Optuna RDB URL. Trials carry
heartbeats, so a trial whose process died is failed and retried rather than left RUNNING.
"""

from __future__ import annotations

import math
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from hwsearch.errors import HwsearchError
from hwsearch.paper import paper_grid
from hwsearch.search.config import CONFIG_ATTR, HEARTBEAT_S, SearchConfig
from hwsearch.search.folder import read_only, table_names
from hwsearch.search.objective import CONSTRAINT_NAMES, CONSTRAINT_NAMES_ATTR, Objective
from hwsearch.search.optuna_logs import quiet_optuna
from hwsearch.search.sampler import ValidSampler, base_sampler, space_distributions, static_acceptor
from hwsearch.space import SearchSpace, parse_space

DIRECTIONS = ("maximize", "minimize")
# The objectives' names, as optuna-dashboard and Study.metric_names show them.
METRIC_NAMES = ("accuracy_pct", "latency_ms")
# A trial whose heartbeat is this many intervals old belonged to a dead worker.
GRACE_INTERVALS = 6
MAX_RETRY = 2
SQLITE_BUSY_S = 120
SPACE_ATTR = "hwsearch_space_yaml"
DEVICE_ATTR = "hwsearch_device_yaml"
SOURCE_ATTR = "hwsearch_latency_source"
StudyCallback = Callable[[optuna.Study, FrozenTrial], None]

# Once per process, before any study is opened: hwsearch says itself what it creates and runs.
quiet_optuna()


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


def open_storage(url: str, *, heartbeat_s: float = HEARTBEAT_S) -> RDBStorage:
    """An RDB storage with heartbeats and retry of trials whose worker died.

    Every worker of a study should use the same ``heartbeat_s``: a trial is failed and
    retried once its heartbeat is ``GRACE_INTERVALS`` times that old.
    """
    if heartbeat_s <= 0:
        raise StudyError(f"heartbeat interval {heartbeat_s!r} s is invalid", value=heartbeat_s, hint="a number > 0")
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental in Optuna 5 but are its documented answer to dead workers.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = _retry_callback()
            # Optuna takes whole seconds here; round up so a short test interval stays positive.
            interval = max(1, math.ceil(heartbeat_s))
            return RDBStorage(_with_driver(url), engine_kwargs=_engine_kwargs(url), heartbeat_interval=interval,
                              grace_period=GRACE_INTERVALS * interval,
                              heartbeat_stale_trial_callback=retry)  # fmt: skip
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or an unreachable server
        where = _safe_url(url)
        raise StudyError(f"cannot open study storage {where}: {_first_line(exc)}", value=where,
                         hint="a URL such as sqlite:///PATH or postgresql://USER@HOST/DB") from exc  # fmt: skip


def _retry_callback() -> RetryHeartbeatStaleTrialCallback:
    """Optuna's re-enqueueing of a dead worker's trial, at most ``MAX_RETRY`` times per trial."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # experimental in Optuna 5
        return RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


@contextmanager
def storage_failures(storage: RDBStorage) -> Iterator[None]:
    """Turn a study write that fails (a full disk, above all) into one :class:`StudyError` line.

    Optuna reports it as a chain of SQLAlchemy errors, or, when the failure hits its own
    bookkeeping of a trial, as ``AssertionError: Should not reach``. Every trial finished
    before was committed as it ended, so the message says how to continue.
    """
    import sqlalchemy.exc

    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.OperationalError, sqlite3.OperationalError,
            AssertionError) as exc:  # fmt: skip
        if isinstance(exc, AssertionError) and "Should not reach" not in str(exc):
            raise
        cause = exc
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__  # the driver's own words: "disk I/O error", "disk is full"
        reason = _first_line(cause).removeprefix("(sqlite3.OperationalError) ")
        folder = storage.url.removeprefix("sqlite:///")
        own = storage.url.startswith("sqlite:///") and folder.endswith("study.db")
        again = f"hwsearch run --resume --out {Path(folder).parent}" if own else "hwsearch run --resume"
        raise StudyError(f"could not write to the study at {_safe_url(storage.url)} ({reason}); is its disk full?",
                         value=storage.url, hint=f"every trial finished before is kept: free space, then {again}"
                         ) from None  # fmt: skip


def check_study_file(path: Path) -> None:
    """Refuse a file that is not an Optuna SQLite database before Optuna writes its tables into it."""
    if not path.is_file():
        raise StudyError(f"no study database {path}", value=str(path), hint="give a run folder of 'hwsearch run'")
    try:
        with read_only(path) as con:
            tables = table_names(con)
            # Zeroed or torn pages pass the header check and fail later, inside Optuna, as a traceback.
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"damaged pages: {verdict}")
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{path} is damaged or not a SQLite database ({exc})", value=str(path),
                         hint="it may be damaged; a study database is written by 'hwsearch run'") from None  # fmt: skip
    if not {"studies", "trials"} <= tables:
        raise StudyError(f"{path} is a SQLite database but holds no Optuna study", value=str(path),
                         hint="give the study.db of an 'hwsearch run' folder")  # fmt: skip


def _with_driver(url: str) -> str:
    # SQLAlchemy 2.0 maps postgresql:// to psycopg2, 2.1 to psycopg 3; hwsearch ships psycopg 3.
    plain = "postgresql://"
    return "postgresql+psycopg://" + url[len(plain) :] if url.startswith(plain) else url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _safe_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: there is no password to hide
        return url


def _engine_kwargs(url: str) -> dict[str, object]:
    # A reader beside the run (optuna-dashboard, 'hwsearch report') holds SQLite's lock for a
    # moment; wait for it instead of failing after the driver's default 5 seconds.
    return {"connect_args": {"timeout": SQLITE_BUSY_S}} if url.startswith("sqlite") else {}


def make_sampler(config: SearchConfig, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler named by ``config.sampler``; NSGA-II and TPE read the trials' constraints.

    Every sampler but grid proposes only architectures that pass the space's rules and the
    MAC budget and that no trial of the study already has
    (:class:`~hwsearch.search.sampler.ValidSampler`). The grid keeps its own enumeration;
    what it visits that breaks a rule is recorded infeasible and not trained.
    """
    if config.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in space.choices().items()}, seed=config.seed)
    base = base_sampler(config.sampler, seed=config.seed, population=config.population)
    return ValidSampler(base, space_distributions(space), static_acceptor(space, config.macs_budget))


def create_study(config: SearchConfig, storage: RDBStorage, name: str, space: SearchSpace, *,
                 pins: Mapping[str, str] | None = None) -> optuna.Study:  # fmt: skip
    """A new study holding ``config``; :func:`baselines_callback` adds the paper's baselines later.

    The space's YAML text and ``pins`` (e.g. the device profile text and the chosen latency
    source) are stored with it, so that workers elsewhere search exactly the same thing.
    """
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=list(DIRECTIONS),
                                    sampler=make_sampler(config, space))  # fmt: skip
    except optuna.exceptions.DuplicatedStudyError:
        raise StudyError(f"study {name!r} already exists in {_safe_url(storage.url)}", value=name,
                         hint="pass --resume to continue it, 'hwsearch worker' to join it, "
                              "or choose another --out or --study") from None  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # experimental since Optuna 3.2
        study.set_metric_names(list(METRIC_NAMES))
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    study.set_user_attr(CONSTRAINT_NAMES_ATTR, list(CONSTRAINT_NAMES))
    if not space.source.startswith("<"):
        study.set_user_attr(SPACE_ATTR, Path(space.source).read_text(encoding="utf-8"))
    for key, value in (pins or {}).items():
        study.set_user_attr(key, value)
    return study


def load_study(
    storage: RDBStorage, name: str, space_loader: Callable[[str], SearchSpace], *, seed_offset: int = 0
) -> tuple[optuna.Study, SearchConfig, SearchSpace]:
    """Reopen a study, the config it was created with and its space (from the study's own copy).

    The sampler's seed is the study's plus ``seed_offset``: a resumed run or a second worker
    that replayed the same random stream would only propose what was already tried.
    """
    where = _safe_url(storage.url)
    try:
        summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    except Exception as exc:  # a lost connection, a schema from another Optuna version, a damaged file...
        raise StudyError(
            f"cannot read the studies in {where}: {_first_line(exc)}",
            value=where,
            hint="check the storage URL and that its server is up; --debug shows the cause",
        ) from exc
    if name not in summaries:
        known = ", ".join(sorted(summaries)) or "none"
        raise StudyError(f"no study {name!r} in {where}", value=name, hint=f"studies there: {known}")
    attrs = summaries[name].user_attrs
    if CONFIG_ATTR not in attrs:
        raise StudyError(f"study {name!r} in {where} was not made by hwsearch", value=name)
    config = SearchConfig.from_dict(attrs[CONFIG_ATTR])
    text = attrs.get(SPACE_ATTR)
    space = space_loader(config.space) if text is None else parse_space(text, source=f"<study {name}>")
    sampler = make_sampler(replace(config, seed=(config.seed + seed_offset) % 2**31), space)
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    return study, config, space


def fail_interrupted(study: optuna.Study, storage: BaseStorage) -> int:
    """Fail and re-enqueue trials left RUNNING by a process that died; returns how many.

    ``storage`` is the study's own. Only safe when no other worker shares the study (the
    local SQLite case); shared studies rely on heartbeats instead.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    retry = _retry_callback()
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        retry(study, storage.get_trial(trial_id))
    return len(stale)


def requeue_baselines(study: optuna.Study, space: SearchSpace) -> int:
    """Enqueue every baseline with no complete, waiting or running trial; returns how many.

    A baseline interrupted by Ctrl-C ends FAIL, and no sampler would propose it again.
    """
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    present = {t.user_attrs.get("baseline") for t in study.get_trials(deepcopy=False, states=live)}
    missing = [b for b in baselines_in(space) if b.name not in present]
    for baseline in missing:
        study.enqueue_trial(baseline.params, user_attrs={"baseline": baseline.name})
    return len(missing)


def enqueue_due_baselines(study: optuna.Study, config: SearchConfig, space: SearchSpace) -> int:
    """Enqueue the paper's baselines once ``config.trials`` searched trials are complete; returns how many.

    They come after the search, not before: NSGA-II takes its first generation from the
    first trials, and 16 networks that differ only in alpha and rho would leave it with one
    structure to breed from. Every sampler sees the same order, so comparisons stay fair.
    """
    if not config.baselines:
        return 0
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if sum("baseline" not in t.user_attrs for t in done) < config.trials:
        return 0
    return requeue_baselines(study, space)


def baselines_callback(config: SearchConfig, space: SearchSpace) -> StudyCallback:
    """A study callback that calls :func:`enqueue_due_baselines` after every trial."""

    def callback(study: optuna.Study, _trial: FrozenTrial) -> None:
        enqueue_due_baselines(study, config, space)

    return callback


def target_trials(config: SearchConfig, space: SearchSpace) -> int:
    """Finished trials a run aims for: the asked-for count plus the baselines."""
    return config.trials + (len(baselines_in(space)) if config.baselines else 0)


def trial_count(storage: RDBStorage, name: str) -> int:
    """Trials of study ``name`` in any state; 0 if there is no such study."""
    try:
        return storage.get_n_trials(storage.get_study_id_from_name(name))
    except KeyError:
        return 0


def completed(study: optuna.Study) -> int:
    """Trials finished with values."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def optimise(study: optuna.Study, objective: Objective, *, target: int | None, timeout_min: float | None,
             n_trials: int | None = None, callbacks: Sequence[StudyCallback] = ()) -> None:  # fmt: skip
    """Run trials until the study holds ``target`` complete ones (earlier and other workers' count too),
    this process has run ``n_trials``, or the timeout passes; whichever comes first."""
    stops: list[StudyCallback] = []
    if target is not None:
        if completed(study) >= target:
            return
        stops.append(MaxTrialsCallback(target, states=(TrialState.COMPLETE,)))
    timeout_s = None if timeout_min is None else timeout_min * 60
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=[*callbacks, *stops],
                   gc_after_trial=False, show_progress_bar=False)  # fmt: skip


def study_pin(study: optuna.Study, key: str) -> Any:
    """A value :func:`create_study` stored under ``key`` (None for studies made without it)."""
    return study.user_attrs.get(key)
