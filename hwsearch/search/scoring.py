"""How a run scores a candidate: its device latency (one source for the whole run) and its proxy accuracy.

Nothing here loads torch: the proxy trainer is imported only when a trial first trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.data import load_dataset
from hwsearch.measurement import Measurement
from hwsearch.proxy.budgets import Budget, get_budget
from hwsearch.proxy.records import EpochCallback, ProxyData, ProxyResult
from hwsearch.search.config import SearchConfig
from hwsearch.search.objective import AccuracyFn, LatencyFn, Objective, Scored
from hwsearch.search.records import RecordKey, Trainer
from hwsearch.space import SearchSpace

# The network on which the run's latency source is chosen: small, so a measurement of it is quick.
PROBE = mobilenet_v1(0.25, 128)


def latency_function(config: SearchConfig, source: str | None = None) -> tuple[LatencyFn, str]:
    """The run's latency and its source: the best for its device (measured, then table, then predictor).

    The source is chosen once, on :data:`PROBE`, and then used for every candidate, so a
    front never mixes measurements with estimates. A worker joining a study passes the
    study's ``source``; a worker that cannot give it fails here, before any trial.
    """
    from hwsearch.devices import load_device
    from hwsearch.latency import AgentClient, LatencyCache, default_cache_path, latency_for

    device = load_device(config.device)
    cache = LatencyCache(default_cache_path())
    agent = None if config.agent is None else AgentClient.from_env(config.agent)
    source = latency_for(PROBE, device, agent=agent, cache=cache, source=source).source

    def latency(arch: Arch) -> Measurement:
        return latency_for(arch, device, agent=agent, cache=cache, source=source)

    return latency, source


def training_functions(config: SearchConfig, threads: int | None = None) -> tuple[AccuracyFn, Trainer]:
    """Proxy training on the run's data set, which is loaded (and checked) now.

    The first function trains an explored network at ``config.budget`` (all of its seeds);
    the second trains one record, any rung's budget with one seed. ``threads`` is this
    process's share of the CPU (default: every core), so that several workers on one
    machine do not each claim all of it.
    """
    dataset = load_dataset(config.dataset, data_dir=config.data_dir)
    data: dict[str, ProxyData] = {}

    def data_for(budget: Budget) -> ProxyData:
        # Budgets that differ only in seeds share their images.
        spec = repr(budget.with_overrides(seed=0, seeds=1, name=""))
        if spec not in data:
            data[spec] = ProxyData.from_dataset(dataset, budget)
        return data[spec]

    explore_budget = get_budget(config.budget)
    data_for(explore_budget)

    def accuracy(arch: Arch, on_epoch: EpochCallback | None) -> ProxyResult:
        from hwsearch.proxy.train import train_proxy

        return train_proxy(arch, data_for(explore_budget), explore_budget, on_epoch=on_epoch, threads=threads)

    def train(key: RecordKey) -> ProxyResult:
        from hwsearch.proxy.train import train_proxy

        budget = get_budget(key.budget).with_overrides(seeds=1, seed=key.seed)
        return train_proxy(Arch.from_str(key.arch), data_for(budget), budget, threads=threads)

    return accuracy, train


@dataclass(frozen=True)
class Scoring:
    """A run's latency and accuracy functions, and the latency source they use."""

    latency: LatencyFn
    accuracy: AccuracyFn
    train: Trainer
    source: str

    @classmethod
    def for_config(cls, config: SearchConfig, *, source: str | None = None, threads: int | None = None) -> Scoring:
        """Latency from ``source`` (or the best available) and proxy training, as ``config`` asks."""
        latency, chosen = latency_function(config, source)
        return cls(latency, *training_functions(config, threads), chosen)

    def objective(self, config: SearchConfig, space: SearchSpace, *, on_scored: Callable[[Scored], None] | None = None,
                  on_trained: Callable[[Arch, ProxyResult], None] | None = None) -> Objective:  # fmt: skip
        """The study's objective: constraints, latency, then proxy training of the feasible."""
        return Objective(space, self.latency, self.accuracy, latency_budget_ms=config.latency_budget_ms,
                         macs_budget=config.macs_budget, on_scored=on_scored, on_trained=on_trained)  # fmt: skip
