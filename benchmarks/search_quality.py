"""Does the fidelity ladder find a better front than single-fidelity search, at equal training compute?

For each of ``--seeds`` seeds, three runs through :class:`hwsearch.search.Session`, as
``hwsearch run`` makes them:

* the ladder: ``--trials`` networks explored at ``--budget``, the best ``--promote`` of them
  trained at ``--rungs``, the front confirmed there with 2 seeds (the default run's method);
* single-fidelity NSGA-II at ``--budget``, and random search at ``--budget``, each given the
  seconds of training the ladder used in that seed (``train_budget_s``), not a trial count.

Every method's front is then judged the same way: the union of all fronts, retrained at
``--judge`` (a budget above any used to explore) with 2 seeds, on one device latency. The
hypervolume of each run's front under the judged accuracies is printed, against one
reference point. Goal: the ladder's judged hypervolume >= 1.10 x single-fidelity NSGA-II's
(mean over seeds), and above random search's in every seed.

The runs alternate by seed (ladder, NSGA-II, random, next seed), so a slow phase of the
machine costs every method alike. The default device's latency is predicted, so latency
noise plays no part; with a measured device the front would also carry timing noise.

The judging trains every front network again, which costs as much as the searches: ``--workers``
spreads it over processes of ``cores / workers`` threads (small proxy networks train about as
fast on one thread as on two), and ``--from DIR`` judges the runs a previous call left in DIR
(its ``ladder-S``, ``nsga2-S`` and ``random-S`` folders) without searching again.

    python benchmarks/search_quality.py [--seeds 3] [--trials 60] [--judge standard:epochs=12] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _cache

from hwsearch.arch import Arch
from hwsearch.data import load_dataset
from hwsearch.pareto import hypervolume
from hwsearch.proxy.budgets import Budget, get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.search import SearchConfig, Session, default_population

METHODS = ("ladder", "nsga2", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SearchConfig()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one on")
    parser.add_argument("--trials", type=int, default=60, help="networks the ladder explores")
    parser.add_argument("--budget", default=defaults.budget, help="the exploration fidelity of every method")
    parser.add_argument("--rungs", default=",".join(defaults.rungs), help="the ladder's rungs above --budget")
    parser.add_argument("--promote", type=float, default=defaults.promote_fraction)
    parser.add_argument("--promotion", default=defaults.promotion, help="the ladder's promotion: end or async")
    parser.add_argument("--ladder-sampler", default=defaults.sampler, help="the sampler the ladder explores with")
    parser.add_argument("--ladder-population", type=int, help="the ladder's NSGA-II population (default: the run's)")
    parser.add_argument("--judge", default="standard:epochs=12", help="the budget every front is retrained at")
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    parser.add_argument("--workers", type=int, default=1, help="processes that judge the fronts")
    parser.add_argument("--from", dest="from_dir", type=Path, help="judge the runs of an earlier call in this folder")
    parser.add_argument("--judge-cache", type=Path, default=Path("results/search_quality/judged.csv"),
                        help="judged accuracies kept across calls, keyed by judge budget and network")  # fmt: skip
    args = parser.parse_args()
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))

    work = args.from_dir or Path(tempfile.mkdtemp(prefix="hwsearch-quality-"))
    print(f"runs in {work}", flush=True)
    os.environ.setdefault("HWSEARCH_LATENCY_CACHE", str(work / "latency.sqlite"))
    rungs = tuple(filter(None, args.rungs.split(",")))
    fronts: dict[tuple[str, int], list[tuple[str, float]]] = {}  # (method, seed) -> [(arch, latency_ms)]
    compute: dict[tuple[str, int], float] = {}
    start = time.perf_counter()
    for seed in args.seed_list:
        if args.from_dir is not None:
            for method in METHODS:
                _keep(Session.open(work / f"{method}-{seed}"), method, seed, fronts, compute)
            continue
        common = {"device": args.device, "budget": args.budget, "seed": seed, "baselines": False}
        ladder = SearchConfig(trials=args.trials, rungs=rungs, promote_fraction=args.promote,
                              promotion=args.promotion, sampler=args.ladder_sampler,
                              population=args.ladder_population, **common)  # fmt: skip
        session = _run(ladder, work / f"ladder-{seed}")
        seconds = session.records.train_seconds()
        explore_s = statistics.fmean(r.train_seconds for k, r in session.records.records().items()
                                     if k.budget == args.budget)  # fmt: skip
        _keep(session, "ladder", seed, fronts, compute)
        # As many networks as that compute buys at the exploration fidelity; the budget, not the count, stops them.
        count = max(8, round(seconds / explore_s))
        for sampler in ("nsga2", "random"):
            single = SearchConfig(trials=4 * count, sampler=sampler, rungs=(), confirm_seeds=1, train_budget_s=seconds,
                                  population=default_population(count), **common)  # fmt: skip
            _keep(_run(single, work / f"{sampler}-{seed}"), sampler, seed, fronts, compute)
        elapsed = time.perf_counter() - start
        print(f"  seed {seed}: {seconds:.0f} s of training each; done at {elapsed:.0f} s", flush=True)

    archs = sorted({arch for front in fronts.values() for arch, _ in front})
    judged = _judge(archs, args.judge, args.threads, args.workers, args.judge_cache)
    _print(fronts, compute, judged, args)
    print(f"wall time {time.perf_counter() - start:.0f} s")


def _run(config: SearchConfig, out: Path) -> Session:
    session = Session.create(config, out)
    session.run()
    return session


def _keep(session: Session, method: str, seed: int, fronts: dict, compute: dict) -> None:
    frame = session.frame()
    front = frame[frame.on_front]
    fronts[(method, seed)] = list(zip(front.arch, front.latency_ms.astype(float), strict=True))
    compute[(method, seed)] = session.records.train_seconds()
    print(f"    {method:<7} seed {seed}: {int(frame.feasible.sum())} networks, front of {len(front)} at "
          f"'{front.budget.iloc[0]}', {compute[(method, seed)]:.0f} s of training", flush=True)  # fmt: skip


_DATA: ProxyData | None = None


def _judge_one(arch: str, budget: Budget, threads: int | None) -> tuple[float, float, float]:
    from hwsearch.proxy.train import train_proxy

    global _DATA  # noqa: PLW0603 - one data set per judging process, loaded on its first network
    if _DATA is None:
        _DATA = ProxyData.from_dataset(load_dataset(), budget)
    result = train_proxy(Arch.from_str(arch), _DATA, budget, threads=threads)
    return result.accuracy_pct, result.accuracy_std_pct, result.train_seconds


def _judge(archs: list[str], spec: str, threads: int | None, workers: int, cache: Path) -> dict[str, float]:
    """Mean accuracy (%) of 2 seeds of ``spec`` for each architecture, over ``workers`` processes.

    Results are kept in ``cache`` under what is trained (the budget less its note), so a
    later call judges only the networks no call has judged yet.
    """
    budget = get_budget(spec).with_overrides(seeds=2)
    known = _cache.load(cache, budget)
    todo = [a for a in archs if a not in known]
    print(f"judging {len(archs)} front networks at '{spec}' with 2 seeds ({len(archs) - len(todo)} judged before), "
          f"{workers} process(es) ...", flush=True)  # fmt: skip
    if workers > 1:
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_judge_one, todo, [budget] * len(todo), [threads] * len(todo))
        for i, (arch, (mean, std, seconds)) in enumerate(zip(todo, results, strict=True), 1):
            known[arch] = record = _cache.Trained(mean, std, seconds)
            _cache.append(cache, budget, arch, record)
            print(f"  [{i}/{len(todo)}] {mean:6.2f}% ± {std:.2f}  {arch}", flush=True)
    return {a: known[a].accuracy_pct for a in archs}


def _print(fronts: dict, compute: dict, judged: dict[str, float], args: argparse.Namespace) -> None:
    points = {key: [(judged[arch], ms) for arch, ms in front] for key, front in fronts.items()}
    every = [p for front in points.values() for p in front]
    reference = (min(a for a, _ in every) - 1.0, max(ms for _, ms in every) * 1.1)
    print(f"\nreference point: {reference[0]:.2f} % judged accuracy, {reference[1]:.3f} ms "
          f"(1 point below the worst judged front network, 10% beyond the slowest)")  # fmt: skip
    hv = {key: hypervolume(front, reference) for key, front in points.items()}
    print(f"\n{'seed':<6}" + "".join(f"{m + ' HV':>14}{m + ' s':>10}" for m in METHODS))
    for seed in args.seed_list:
        print(f"{seed:<6}" + "".join(f"{hv[(m, seed)]:>14.2f}{compute[(m, seed)]:>10.0f}" for m in METHODS))
    mean = {m: statistics.fmean(hv[(m, s)] for s in args.seed_list) for m in METHODS}
    gain = mean["ladder"] / mean["nsga2"] - 1 if mean["nsga2"] else float("inf")
    beats_random = all(hv[("ladder", s)] > hv[("random", s)] for s in args.seed_list)
    print(f"\nmean judged HV: ladder {mean['ladder']:.2f}, NSGA-II {mean['nsga2']:.2f}, random {mean['random']:.2f}; "
          f"ladder vs NSGA-II {gain:+.1%}")  # fmt: skip
    # No front can hold more than the box from the reference to the ideal point: the best judged
    # accuracy of any network, at the fastest latency any front reached.
    ideal = (max(a for a, _ in every), min(ms for _, ms in every))
    ceiling = hypervolume([ideal], reference)
    print(f"ceiling: the ideal point ({ideal[0]:.2f} %, {ideal[1]:.3f} ms) holds HV {ceiling:.2f} = "
          f"{ceiling / mean['nsga2']:.3f} x NSGA-II's mean; a 10% gain needs 1.10 x")  # fmt: skip
    # What perfect knowledge could make of what the searches found: the front of every network any
    # method put on its front, at its judged accuracy. A ladder improves on NSGA-II by judging its
    # explored networks better, and no judging of them beats knowing the judged accuracies.
    pooled = hypervolume(every, reference)
    print(f"pooled oracle: the judged front of all {len(every)} front networks of every method and seed holds "
          f"HV {pooled:.2f} = {pooled / mean['nsga2']:.3f} x NSGA-II's mean")  # fmt: skip
    print(f"goal ladder >= 1.10 x NSGA-II: {'met' if gain >= 0.10 else 'NOT met'}; "
          f"ladder > random in every seed: {'met' if beats_random else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
