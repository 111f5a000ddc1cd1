"""The settings of one search run, validated, and stored inside the study itself.

Everything needed to rebuild a candidate's score lives in the study: this record as a
study attribute, and each trial's architecture and figures as trial attributes. So a run
can be resumed, reported or joined by another worker from its storage alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from hwsearch.data import DEFAULT_DATASET
from hwsearch.errors import HwsearchError

SAMPLERS = ("nsga2", "tpe", "random", "grid")
# When a rung's best share is promoted: once exploration is over (synchronous successive
# halving), or as the rung fills up (asynchronous, as ASHA).
PROMOTE_AT_END, PROMOTE_ASYNC = "end", "async"
PROMOTIONS = (PROMOTE_AT_END, PROMOTE_ASYNC)
CONFIG_ATTR = "hwsearch_config"
# The study a run folder or a shared storage holds unless --study names another.
STUDY_NAME = "hwsearch"
# Seconds between a running trial's heartbeats; every worker of a study should use the same.
HEARTBEAT_S = 10.0
_POSITIVE_OPTIONS = {
    "latency_budget_ms": "--latency-budget-ms",
    "macs_budget": "--macs-budget",
    "timeout_min": "--timeout",
    "train_budget_s": "--train-budget",
}
# What a study made before the fidelity ladder searched with: one rung, one seed, no confirmation.
_BEFORE_LADDER = {"rungs": (), "confirm_seeds": 1}
# Ladder studies made before promotions could wait for the end promoted as their rungs filled.
_BEFORE_PROMOTION_OPTION = {"promotion": PROMOTE_ASYNC}


class SearchConfigError(HwsearchError, ValueError):
    """A search option outside its allowed range."""


class RunError(HwsearchError, ValueError):
    """A run folder, trial choice or option that cannot be used."""


@dataclass(frozen=True)
class SearchConfig:
    """Options of ``hwsearch run``; see the CLI help for each field's meaning.

    ``population`` left at None becomes :func:`default_population` of ``trials``.

    The fidelity ladder: ``trials`` networks are explored at ``budget``; the best
    ``promote_fraction`` of each rung (by non-dominated rank and crowding) are trained at
    the next of ``rungs``, once the rung is complete (``promotion = "end"``) or as it fills
    up (``"async"``); before the run ends, the front at the top rung and the networks
    within ``confirm_margin_pct`` of it are trained there with ``confirm_seeds`` seeds. With
    no ``rungs`` the run is single-fidelity; ``confirm_seeds`` then applies to ``budget``.
    ``train_budget_s`` stops exploration once the run's training has taken that many seconds.
    """

    device: str = "jetson-nano"
    space: str = "mobilenet_v1"
    trials: int = 80
    budget: str = "quick"
    sampler: str = "nsga2"
    seed: int = 0
    latency_budget_ms: float | None = None
    macs_budget: float | None = None
    timeout_min: float | None = None
    baselines: bool = True
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    agent: str | None = None
    population: int | None = None
    rungs: tuple[str, ...] = ("standard",)
    promote_fraction: float = 0.15
    promotion: str = PROMOTE_AT_END
    confirm_seeds: int = 2
    confirm_margin_pct: float = 0.5
    train_budget_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rungs", tuple(self.rungs))  # a list when read back from the study
        _check_ladder(self)
        _positive_int("trials", self.trials)
        if self.population is None:
            # Fixed once, from the first trial count: a resumed run with more trials keeps its generations.
            object.__setattr__(self, "population", default_population(self.trials))
        _positive_int("population", self.population, low=2)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SearchConfigError(f"--seed {self.seed!r} is invalid", value=self.seed, hint="an integer >= 0")
        if self.sampler not in SAMPLERS:
            raise SearchConfigError(f"--sampler {self.sampler!r} is unknown", value=self.sampler,
                                    hint=f"one of {', '.join(SAMPLERS)}")  # fmt: skip
        for name, flag in _POSITIVE_OPTIONS.items():
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SearchConfigError(f"{flag} {value!r} is invalid", value=value, hint="a number > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for the study's attributes."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict`; unknown keys (from a newer version) are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SearchConfigError(f"the study records unknown setting {unknown[0]!r}", value=unknown[0],
                                    hint="it was made by a newer hwsearch")  # fmt: skip
        if "rungs" not in data:
            data = {**data, **_BEFORE_LADDER}
        if "promotion" not in data:
            data = {**data, **_BEFORE_PROMOTION_OPTION}
        return cls(**data)

    @property
    def promotes_at_end(self) -> bool:
        """Whether each rung promotes once, when exploring is over (else as it fills up)."""
        return self.promotion == PROMOTE_AT_END

    @property
    def ladder(self) -> tuple[str, ...]:
        """Every rung's budget spec, cheapest first: the exploration budget, then ``rungs``."""
        return (self.budget, *self.rungs)

    @property
    def top_budget(self) -> str:
        """The rung the front is confirmed and reported at."""
        return self.ladder[-1]


@dataclass(frozen=True)
class Worker:
    """How this process takes part in a study: its CPU share for training and its heartbeat interval."""

    threads: int | None = None
    heartbeat_s: float = HEARTBEAT_S


def default_population(trials: int) -> int:
    """NSGA-II's population for a budget of ``trials``: about a tenth of it, between 8 and 32.

    A small budget needs generations more than breadth: at 40 trials a population of 16
    breeds for 1.5 generations after its random first one, a population of 8 for 4.
    """
    return min(32, max(8, trials // 10))


def _positive_int(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SearchConfigError(f"--{name} {value!r} is invalid", value=value, hint=f"an integer >= {low}")


def _check_ladder(config: SearchConfig) -> None:
    from hwsearch.proxy.budgets import get_budget

    for spec in config.ladder:
        get_budget(spec)  # BudgetError names a bad one and the valid names
    if len(set(config.ladder)) != len(config.ladder):
        raise SearchConfigError(f"--rungs {','.join(config.rungs)!r} repeats a budget (exploring at "
                                f"{config.budget!r})", value=",".join(config.rungs),
                                hint="each rung a different budget, cheapest first")  # fmt: skip
    if not (isinstance(config.promote_fraction, (int, float)) and 0 < config.promote_fraction <= 1):
        raise SearchConfigError(f"--promote {config.promote_fraction!r} is invalid", value=config.promote_fraction,
                                hint="a fraction in (0, 1]")  # fmt: skip
    if config.promotion not in PROMOTIONS:
        raise SearchConfigError(f"--promotion {config.promotion!r} is unknown", value=config.promotion,
                                hint=f"one of {', '.join(PROMOTIONS)}")  # fmt: skip
    _positive_int("confirm-seeds", config.confirm_seeds)
    margin = config.confirm_margin_pct
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 100:
        raise SearchConfigError(f"--confirm-margin {margin!r} is invalid", value=margin,
                                hint="accuracy points, >= 0")  # fmt: skip
