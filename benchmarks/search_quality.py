"""Does NSGA-II find a better accuracy-latency front than random search and the paper's MobileNets?

On local-cpu (measured latency) with the ``quick`` proxy budget: ``--trials`` trials with
NSGA-II and with random search, for each of ``--seeds`` seeds, each run also evaluating the
paper's 16 alpha x rho MobileNets. Prints the hypervolume of every front and of the 16
baselines, all against one reference point (stated). Goal: NSGA-II >= baselines and >=
random on average.

Proxy training is deterministic, so runs share trained results (an architecture is trained
once), and they share the latency cache; neither changes any figure.

    python benchmarks/search_quality.py [--trials 40] [--seeds 3] [--budget quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from hwsearch.data import load_dataset
from hwsearch.devices import load_device
from hwsearch.latency import LatencyCache, measure_arch
from hwsearch.pareto import hypervolume
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.train import ProxyData, ProxyResult, train_proxy
from hwsearch.search.config import SearchConfig
from hwsearch.search.objective import Objective
from hwsearch.search.results import trials_frame
from hwsearch.search.runner import (
    baselines_callback,
    create_study,
    open_storage,
    optimise,
    sqlite_url,
    target_trials,
)
from hwsearch.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--device", default="local-cpu")
    parser.add_argument("--population", type=int, default=SearchConfig.population, help="NSGA-II population")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    space = load_space()
    device = load_device(args.device)
    budget = get_budget(args.budget)
    data = ProxyData.from_dataset(load_dataset(), budget)
    work = Path(tempfile.mkdtemp(prefix="hwsearch-quality-"))
    cache = LatencyCache(work / "latency.sqlite")
    trained: dict[str, ProxyResult] = {}

    def latency(arch):
        return measure_arch(arch, device, cache=cache)

    def accuracy(arch, on_epoch):
        key = arch.to_str()
        if key not in trained:
            trained[key] = train_proxy(arch, data, budget, on_epoch=on_epoch)
        return trained[key]

    frames = {}
    start = time.perf_counter()
    for sampler in ("nsga2", "random"):
        for seed in range(args.seeds):
            config = SearchConfig(
                device=args.device,
                trials=args.trials,
                budget=args.budget,
                sampler=sampler,
                seed=seed,
                population=args.population,
            )
            run_dir = work / f"{sampler}-{seed}"
            run_dir.mkdir()
            study = create_study(config, open_storage(sqlite_url(run_dir)), "q", space)
            optimise(
                study,
                Objective(space, latency, accuracy),
                target=target_trials(config, space),
                timeout_min=None,
                callbacks=[baselines_callback(config, space)],
            )
            frames[(sampler, seed)] = trials_frame(study)
            print(f"  {sampler} seed {seed}: done at {time.perf_counter() - start:.0f} s", flush=True)

    feasible = {key: frame[frame.feasible] for key, frame in frames.items()}
    every = [row for frame in feasible.values() for row in frame.itertuples()]
    reference = (min(r.accuracy_pct for r in every) - 1.0, max(r.latency_ms for r in every) * 1.1)
    print(f"\nreference point: accuracy {reference[0]:.2f} %, latency {reference[1]:.3f} ms "
          f"(1 point below the worst and 10% beyond the slowest feasible candidate of all runs)")  # fmt: skip

    def hv(frame) -> float:
        return hypervolume(list(zip(frame.accuracy_pct, frame.latency_ms, strict=True)), reference)

    results: dict[str, list[float]] = {"nsga2": [], "random": [], "baselines": []}
    print(f"\n{'run':<14}{'front HV':>12}{'baselines HV':>15}{'searched only HV':>18}")
    for (sampler, seed), frame in feasible.items():
        searched = frame[frame.baseline == ""]
        base = frame[frame.baseline != ""]
        results[sampler].append(hv(frame))
        results["baselines"].append(hv(base))
        print(f"{sampler + ' ' + str(seed):<14}{hv(frame):>12.2f}{hv(base):>15.2f}{hv(searched):>18.2f}")
    means = {key: statistics.mean(values) for key, values in results.items()}
    print(f"\nmean HV: NSGA-II {means['nsga2']:.2f}, random {means['random']:.2f}, "
          f"16 baselines {means['baselines']:.2f}")  # fmt: skip
    verdict = means["nsga2"] >= means["baselines"] and means["nsga2"] >= means["random"]
    print(f"goal NSGA-II >= baselines and >= random on average: {'met' if verdict else 'NOT met'}")
    print(f"{len(trained)} distinct architectures trained; wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
