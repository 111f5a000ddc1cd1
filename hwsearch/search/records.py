"""One record per network per fidelity and seed, kept in the run's storage beside its study.

The records live in a second Optuna study, ``<study>:records``, one trial per training:
keyed by (arch, budget, seed), its value the validation accuracy, its attributes the rest.
A training still to do (a promotion or a confirmation) is a WAITING trial there, so it is
claimed the way Optuna claims enqueued trials: atomically, by one worker, with heartbeats
that fail and re-enqueue it if that worker dies. A claimed job that finds its key already
done, or being trained by a trial that was claimed first, is pruned without training: so no
network is trained twice at one fidelity, and no promotion is lost to a crash.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import optuna
from optuna.storages import BaseStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from hwsearch.proxy.records import ProxyResult
from hwsearch.search.ladder import Standing
from hwsearch.search.runner import fail_interrupted

RECORDS_SUFFIX = ":records"
KEY_ATTR = "record_key"
_LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
_PENDING = (TrialState.WAITING, TrialState.RUNNING)
REASONS = ("explore", "promote", "confirm")


@dataclass(frozen=True, order=True)
class RecordKey:
    """Which training a record holds: a network, a budget spec and one seed."""

    arch: str
    budget: str
    seed: int

    def text(self) -> str:
        """The key as one string, for the record's attributes."""
        return f"{self.budget}|{self.seed}|{self.arch}"


@dataclass(frozen=True)
class Record:
    """One finished training: its key, accuracy (%), cost, and why it was trained."""

    key: RecordKey
    accuracy_pct: float
    train_seconds: float
    reason: str
    epoch_accuracy_pct: tuple[float, ...] = ()
    proxy_arch: str = ""

    def attrs(self) -> dict[str, object]:
        """The record as trial attributes."""
        return {KEY_ATTR: self.key.text(), "arch": self.key.arch, "budget": self.key.budget, "seed": self.key.seed,
                "accuracy_pct": self.accuracy_pct, "train_seconds": self.train_seconds, "reason": self.reason,
                "epoch_accuracy_pct": list(self.epoch_accuracy_pct), "proxy_arch": self.proxy_arch}  # fmt: skip

    @classmethod
    def from_result(cls, key: RecordKey, result: ProxyResult, reason: str) -> Record:
        """The record of a one-seed training."""
        return cls(key, result.seed_accuracy_pct[0], result.train_seconds, reason, result.epoch_accuracy_pct,
                   result.proxy_arch)  # fmt: skip


def _key_of(trial: FrozenTrial | optuna.Trial) -> RecordKey | None:
    attrs = trial.user_attrs
    if KEY_ATTR not in attrs:
        return None
    return RecordKey(str(attrs["arch"]), str(attrs["budget"]), int(attrs["seed"]))


Trainer = Callable[[RecordKey], ProxyResult]


class RecordStore:
    """The records of one run, in the records study beside ``study_name`` in ``storage``."""

    def __init__(self, storage: BaseStorage, study_name: str) -> None:
        self.storage = storage
        # No parameter is ever sampled here: a record's training is fixed by its key.
        self.study = optuna.create_study(storage=storage, study_name=study_name + RECORDS_SUFFIX,
                                         direction="maximize", load_if_exists=True,
                                         sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip

    @classmethod
    def existing(cls, storage: BaseStorage, study_name: str) -> RecordStore | None:
        """The records of a run made with them; None for a run older than the ladder (nothing is written)."""
        if study_name + RECORDS_SUFFIX not in optuna.get_all_study_names(storage):
            return None
        return cls(storage, study_name)

    def records(self) -> dict[RecordKey, Record]:
        """Every finished record, the first trial of a key winning (a race can store one twice)."""
        found: dict[RecordKey, Record] = {}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            key = _key_of(trial)
            if key is None or key in found:
                continue
            a = trial.user_attrs
            found[key] = Record(key, float(a["accuracy_pct"]), float(a["train_seconds"]), str(a["reason"]),
                                tuple(a.get("epoch_accuracy_pct", ())), str(a.get("proxy_arch", "")))  # fmt: skip
        return found

    def pending(self) -> set[RecordKey]:
        """Keys waiting to be trained or being trained now (by any worker)."""
        return {k for t in self.study.get_trials(deepcopy=False, states=_PENDING) if (k := _key_of(t)) is not None}

    def add(self, record: Record) -> None:
        """Store a training done elsewhere (an exploration trial's), unless its key is already done."""
        if record.key in self.records():
            return
        trial = optuna.trial.create_trial(value=record.accuracy_pct, user_attrs=record.attrs(),
                                          state=TrialState.COMPLETE)  # fmt: skip
        self.study.add_trial(trial)

    def enqueue(self, keys: Iterable[RecordKey], reason: str) -> list[RecordKey]:
        """Queue the trainings of ``keys`` that are neither done, waiting nor running; returns those queued."""
        assert reason in REASONS
        known = {k for t in self.study.get_trials(deepcopy=False, states=_LIVE) if (k := _key_of(t)) is not None}
        queued = [key for key in dict.fromkeys(keys) if key not in known]
        for key in queued:
            attrs = {KEY_ATTR: key.text(), "arch": key.arch, "budget": key.budget, "seed": key.seed, "reason": reason}
            self.study.enqueue_trial({}, user_attrs=attrs)
        return queued

    def run_one(self, train: Trainer, *, wrap: Callable[[Callable[[optuna.Trial], float]], Callable] = lambda f: f,
                callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = ()) -> Record | None:  # fmt: skip
        """Claim one waiting training and do it; None when none was waiting (or the claimed one was a duplicate).

        ``wrap`` wraps the job (the run's Ctrl-C guard); ``callbacks`` go to Optuna as study callbacks.
        """
        if not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return None
        done: list[Record] = []

        def job(trial: optuna.Trial) -> float:
            key = _key_of(trial)
            if key is None:  # another worker took the last waiting job first; Optuna made a blank trial
                raise optuna.TrialPruned("nothing was waiting")
            duplicate = self._claimed_before(key, trial.number)
            if duplicate is not None:
                trial.set_user_attr("duplicate_of", duplicate)
                raise optuna.TrialPruned(f"{key.text()} is trained by record trial {duplicate}")
            reason = str(trial.user_attrs.get("reason", "promote"))
            record = Record.from_result(key, train(key), reason)
            for name, value in record.attrs().items():
                trial.set_user_attr(name, value)
            done.append(record)
            return record.accuracy_pct

        self.study.optimize(wrap(job), n_trials=1, callbacks=list(callbacks), gc_after_trial=False)
        return done[0] if done else None

    def _claimed_before(self, key: RecordKey, number: int) -> int | None:
        """The record trial that owns ``key`` if it is not trial ``number``: one complete, or running and older.

        Waiting trials are claimed lowest number first, so of two trials queued for one key the
        older is always claimed first; the younger then finds it here and steps aside.
        """
        for other in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            if other.number == number or _key_of(other) != key:
                continue
            if other.state == TrialState.COMPLETE or other.number < number:
                return other.number
        return None

    def revive(self) -> int:
        """Fail and queue again the trainings whose worker stopped beating; returns how many were pending.

        Optuna does this when a trial starts; a worker with nothing left to start calls it
        while it waits, or a dead worker's promotion would wait for ever.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # experimental in Optuna 5
            fail_stale_trials(self.study)
        return len(self.pending())

    def fail_interrupted(self) -> int:
        """Queue again, at once, the trainings a dead process left running (a run folder's own study only)."""
        return fail_interrupted(self.study, self.storage)

    def train_seconds(self) -> float:
        """Seconds of training behind every record: the run's training compute."""
        return sum(r.train_seconds for r in self.records().values())


def standings_at(records: dict[RecordKey, Record], budget: str, latency_ms: dict[str, float]) -> list[Standing]:
    """Each network recorded at ``budget`` whose latency is known: mean and spread of its seeds there."""
    by_arch: dict[str, list[float]] = {}
    for key, record in sorted(records.items()):
        if key.budget == budget and key.arch in latency_ms:
            by_arch.setdefault(key.arch, []).append(record.accuracy_pct)
    return [Standing(arch, statistics.fmean(accs), latency_ms[arch], len(accs),
                     statistics.stdev(accs) if len(accs) > 1 else 0.0) for arch, accs in by_arch.items()]  # fmt: skip
