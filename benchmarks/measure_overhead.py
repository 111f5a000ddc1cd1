"""What does one latency measurement cost, and how repeatable is it?

For the paper's 16 MobileNets (α ∈ {1, 0.75, 0.5, 0.25} × resolution ∈ {224, 192, 160, 128})
on a device profile (default ``local-cpu``), prints per candidate the wall time of the
ONNX export, the session creation and the warm-up plus timed runs, then the
run-to-run coefficient of variation of the median latency over ``--repeats`` full
passes (the passes are interleaved, so slow drifts in the machine's speed show up).
No cache is used: every pass measures every model afresh.

Goals: median per-candidate wall time ≤ 1.0 s; run-to-run CV of the median ≤ 3 %.

    python benchmarks/measure_overhead.py [--device local-cpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

from hwsearch.arch import mobilenet_v1
from hwsearch.cost import count_cost
from hwsearch.devices import load_device
from hwsearch.export import export_onnx
from hwsearch.latency import host_description, open_session, runtime_version, time_session
from hwsearch.measurement import NOISY_CV

ALPHAS = (1.0, 0.75, 0.5, 0.25)
RESOLUTIONS = (224, 192, 160, 128)
GOAL_WALL_S = 1.0
GOAL_CV = 0.03


@dataclass
class Sample:
    export_s: float
    session_s: float
    timing_s: float
    median_ms: float
    runs: int
    cv: float

    @property
    def total_s(self) -> float:
        return self.export_s + self.session_s + self.timing_s


def measure_once(alpha: float, resolution: int, settings) -> Sample:
    arch = mobilenet_v1(alpha, resolution)
    began = time.perf_counter()
    model = export_onnx(arch)
    exported = time.perf_counter()
    opened = open_session(model, settings)
    ready = time.perf_counter()
    m = time_session(opened)
    done = time.perf_counter()
    return Sample(exported - began, ready - exported, done - ready, m.median_ms, m.runs, m.cv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="local-cpu", help="device profile (local ones only)")
    parser.add_argument("--repeats", type=int, default=5, help="full passes over the 16 models")
    args = parser.parse_args()

    device = load_device(args.device)
    settings = device.settings
    models = [(a, r) for a in ALPHAS for r in RESOLUTIONS]
    print(f"device {device.name}: {settings}")
    print(f"host {host_description()}; onnxruntime {runtime_version()}; load average {os.getloadavg()[0]:.2f}")

    # The first export and session in a process pay one-off costs (tracer and library set-up);
    # a search pays them once, so they are shown apart from the per-candidate figures.
    began = time.perf_counter()
    measure_once(0.25, 128, settings)
    print(f"first-call set-up (once per process): {time.perf_counter() - began:.2f} s")

    samples: dict[tuple[float, int], list[Sample]] = {m: [] for m in models}
    started = time.perf_counter()
    for _ in range(args.repeats):
        for model in models:
            samples[model].append(measure_once(*model, settings))
    elapsed = time.perf_counter() - started

    med = statistics.median
    print()
    print(
        f"{'model':>10} {'MACs':>7} | {'export s':>8} {'session s':>9} {'timed s':>7} {'total s':>7} | "
        f"{'runs':>5} {'median ms':>9} {'run CV':>6} {'noisy':>5} | {'CV of median':>12}"
    )
    totals, cvs = [], []
    for (alpha, resolution), rows in samples.items():
        medians = [s.median_ms for s in rows]
        cv_median = statistics.stdev(medians) / statistics.fmean(medians) if len(rows) > 1 else 0.0
        totals += [s.total_s for s in rows]
        cvs.append(cv_median)
        print(
            f"{alpha:>4}-{resolution:<5} {count_cost(mobilenet_v1(alpha, resolution)).macs / 1e6:>6.0f}M | "
            f"{med(s.export_s for s in rows):>8.3f} {med(s.session_s for s in rows):>9.3f} "
            f"{med(s.timing_s for s in rows):>7.3f} {med(s.total_s for s in rows):>7.3f} | "
            f"{med(s.runs for s in rows):>5.0f} {med(medians):>9.3f} {med(s.cv for s in rows):>6.1%} "
            f"{sum(s.cv > NOISY_CV for s in rows):>2}/{len(rows):<2} | {cv_median:>12.2%}"
        )
    # A whole pass running faster or slower (the machine changing speed, not the method)
    # shows as a common factor on every model's median in that pass.
    means = {model: statistics.fmean(s.median_ms for s in rows) for model, rows in samples.items()}
    factors = [
        statistics.fmean(rows[i].median_ms / means[model] for model, rows in samples.items())
        for i in range(args.repeats)
    ]
    print()
    print(f"{len(totals)} measurements in {elapsed:.1f} s; load average now {os.getloadavg()[0]:.2f}")
    print(f"speed factor of each pass (1 = average; common to all models): {', '.join(f'{f:.3f}' for f in factors)}")
    wall = med(totals)
    print(
        f"per-candidate wall time: median {wall:.3f} s, p90 {statistics.quantiles(totals, n=10)[8]:.3f} s, "
        f"max {max(totals):.3f} s (goal median <= {GOAL_WALL_S} s: {'met' if wall <= GOAL_WALL_S else 'NOT met'})"
    )
    worst = max(cvs)
    print(
        f"run-to-run CV of the median over {args.repeats} repeats: median {med(cvs):.2%}, max {worst:.2%}; "
        f"{sum(c <= GOAL_CV for c in cvs)}/{len(cvs)} models within {GOAL_CV:.0%} "
        f"(goal <= {GOAL_CV:.0%}: {'met' if worst <= GOAL_CV else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
