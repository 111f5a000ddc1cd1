"""Trials per minute with 1, 2 and 4 ``hwsearch worker`` processes on one PostgreSQL study.

Each round creates a fresh study (``hwsearch run --storage ... --trials 1``), then starts N
workers that each run ``--trials K`` with a fixed, cheap proxy budget on Fashion-MNIST and
the jetson-nano profile's predicted latency (so no timing competes for the cores). It
prints, per N: the wall time from launch to the last worker's exit, the trials per minute
over that wall time, and the steady-state rate between the first trial's start and the
last trial's end as the study records them (process start-up excluded).

Every worker gets ``cores / N`` threads (at least 1): that is the thread share the README
recommends for several workers on one machine.

    python benchmarks/workers_scaling.py                 # starts a throwaway server via scripts/postgres.sh
    python benchmarks/workers_scaling.py --storage postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
BUDGET = "quick:epochs=1,train_images=1000,val_images=500"


@contextmanager
def throwaway_postgres():
    folder = tempfile.mkdtemp(prefix="hwsearch-bench-pg-")
    script = ROOT / "scripts" / "postgres.sh"
    try:
        url = subprocess.run(["bash", str(script), "start", folder], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
        yield url
    finally:
        subprocess.run(["bash", str(script), "stop", folder], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def hwsearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "hwsearch", *args]


def one_round(url: str, workers: int, trials_each: int, device: str, work: Path) -> dict[str, float]:
    study = f"scaling-{workers}-{uuid.uuid4().hex[:6]}"
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    env = {**os.environ, "HWSEARCH_LATENCY_CACHE": str(work / "latency.sqlite")}
    subprocess.run(hwsearch("run", "--storage", url, "--study", study, "--out", str(work / study), "--trials", "1",
                            "--device", device, "--budget", BUDGET, "--sampler", "random", "--no-baselines",
                            "--threads", str(threads)),
                   env=env, cwd=work, check=True, capture_output=True)  # fmt: skip
    started = time.perf_counter()
    procs = [subprocess.Popen(hwsearch("worker", "--storage", url, "--study", study, "--trials", str(trials_each),
                                       "--threads", str(threads)),
                              env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(workers)]  # fmt: skip
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a worker failed: {err.decode()[-2000:]}")
    wall_s = time.perf_counter() - started
    trials = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    ours = [t for t in trials if t.number >= 1 and t.state == TrialState.COMPLETE]
    assert len(ours) == workers * trials_each, (len(ours), workers * trials_each)
    first = min(t.datetime_start for t in ours)
    last = max(t.datetime_complete for t in ours)
    steady_s = (last - first).total_seconds()
    return {
        "workers": workers,
        "threads": threads,
        "trials": len(ours),
        "wall_s": wall_s,
        "per_min_wall": 60 * len(ours) / wall_s,
        "per_min_steady": 60 * len(ours) / steady_s,
        "mean_trial_s": sum((t.datetime_complete - t.datetime_start).total_seconds() for t in ours) / len(ours),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="an existing PostgreSQL URL (default: start a throwaway server)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials-each", type=int, default=8, help="trials per worker (default 8)")
    parser.add_argument("--device", default="jetson-nano", help="device profile (default jetson-nano, predicted)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; budget {BUDGET}; device {args.device}")
    with tempfile.TemporaryDirectory(prefix="hwsearch-scaling-") as tmp:
        work = Path(tmp)
        with throwaway_postgres() if args.storage is None else _given(args.storage) as url:
            rows = [one_round(url, n, args.trials_each, args.device, work) for n in args.workers]
    base = rows[0]["per_min_steady"]
    print(f"\n{'workers':>7} {'threads':>7} {'trials':>6} {'wall s':>7} {'trials/min':>10} {'steady/min':>10} "
          f"{'speed-up':>8} {'s/trial':>7}")  # fmt: skip
    for r in rows:
        speed_up = r["per_min_steady"] / base
        print(f"{r['workers']:>7} {r['threads']:>7} {r['trials']:>6} {r['wall_s']:>7.1f} {r['per_min_wall']:>10.1f} "
              f"{r['per_min_steady']:>10.1f} {speed_up:>7.2f}x {r['mean_trial_s']:>7.2f}")  # fmt: skip


@contextmanager
def _given(url: str):
    yield url


if __name__ == "__main__":
    main()
