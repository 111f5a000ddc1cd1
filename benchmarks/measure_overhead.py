"""What does one latency measurement cost, and how repeatable is it?

For the paper's 16 MobileNets (α ∈ {1, 0.75, 0.5, 0.25} × resolution ∈ {224, 192, 160, 128})
on a device profile (default ``local-cpu``), prints per candidate the wall time of the
ONNX export, the session creation and the warm-up plus timed runs, then the
run-to-run coefficient of variation of the median latency over ``--repeats`` full
passes (the passes are interleaved, so slow drifts in the machine's speed show up).
No cache is used: every pass measures every model afresh.

Each candidate is timed with the drift-cancelling protocol (every run paired with a run
of the fixed reference network, MobileNet V1 0.5-128, in random order; ``--raw`` times
alone). Printed side by side: the CV of the raw median and of the drift-corrected one
(the candidate-to-reference ratio times the reference's long-run median, here the median
of its medians over the whole benchmark, one constant for every pass).

Pairing must not bias: in every pass each model is also timed alone (raw, back to back, as
an application runs it), and the ratio of its corrected median to its raw one is printed
per model. A pairing that gives every model the same ratio only rescales; one whose ratio
changes with the model's size reorders models (single-run pairing made the smallest
model 1.21 x its raw figure and the largest 0.82 x: each run found the caches the other
network had filled). The spread printed is the largest ratio over the smallest.

Goals: median per-candidate wall time ≤ 1.0 s; run-to-run CV of the (drift-corrected) median ≤ 3 %.

    python benchmarks/measure_overhead.py [--device local-cpu] [--repeats 5] [--raw | --interleave 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, replace

from hwsearch.arch import mobilenet_v1
from hwsearch.cost import count_cost
from hwsearch.devices import load_device
from hwsearch.export import export_onnx
from hwsearch.latency import host_description, open_session, runtime_version, time_session
from hwsearch.latency._measure import drift_reference
from hwsearch.latency._runtime import OpenSession, reference_session
from hwsearch.measurement import NOISY_CV
from hwsearch.stats import spearman

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
    reference_ms: float
    ratio: float
    alone_ms: float  # the same model timed alone right after, in the same pass

    @property
    def total_s(self) -> float:
        return self.export_s + self.session_s + self.timing_s


def measure_once(alpha: float, resolution: int, settings, reference: OpenSession | None, alone=None) -> Sample:
    arch = mobilenet_v1(alpha, resolution)
    began = time.perf_counter()
    model = export_onnx(arch)
    exported = time.perf_counter()
    opened = open_session(model, settings)
    ready = time.perf_counter()
    m = time_session(opened, reference)
    done = time.perf_counter()
    alone_ms = time_session(open_session(model, alone)).median_ms if alone is not None else m.median_ms
    return Sample(exported - began, ready - exported, done - ready, m.median_ms, m.runs, m.cv, m.reference_ms,
                  m.drift_ratio, alone_ms)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="local-cpu", help="device profile (local ones only)")
    parser.add_argument("--repeats", type=int, default=5, help="full passes over the 16 models")
    parser.add_argument("--raw", action="store_true", help="time each candidate alone, without the reference")
    parser.add_argument("--interleave", type=int, choices=(1, 2), help="pairing mode (default: the profile's)")
    args = parser.parse_args()

    device = load_device(args.device)
    settings = device.settings if args.interleave is None else replace(device.settings, interleave=args.interleave)
    models = [(a, r) for a in ALPHAS for r in RESOLUTIONS]
    print(f"device {device.name}: {settings}")
    print(f"host {host_description()}; onnxruntime {runtime_version()}; load average {os.getloadavg()[0]:.2f}")

    # The first export and session in a process pay one-off costs (tracer and library set-up);
    # a search pays them once, so they are shown apart from the per-candidate figures.
    began = time.perf_counter()
    ref_bytes, ref_label = drift_reference()
    reference = None if args.raw else reference_session(ref_bytes, settings, ref_label)
    measure_once(0.25, 128, settings, reference)
    print(f"first-call set-up (once per process, with the reference's session): {time.perf_counter() - began:.2f} s")

    samples: dict[tuple[float, int], list[Sample]] = {m: [] for m in models}
    alone = replace(settings, interleave=0) if reference else None
    elapsed = 0.0  # of the protocol under test only, not of the raw timings beside it
    for _ in range(args.repeats):
        for model in models:
            sample = measure_once(*model, settings, reference, alone)
            samples[model].append(sample)
            elapsed += sample.total_s

    med = statistics.median
    # The reference's long-run median: one constant for every pass, as a device's stored one is.
    long_run = med(x.reference_ms for rows in samples.values() for x in rows) if reference else 0.0
    print(f"\nreference {ref_label if reference else '(none: --raw)'}; long-run median {long_run:.3f} ms")
    print(
        f"{'model':>10} {'MACs':>7} | {'export s':>8} {'session s':>9} {'timed s':>7} {'total s':>7} | "
        f"{'runs':>5} {'median ms':>9} {'run CV':>6} {'noisy':>5} | {'CV raw':>7} {'CV corrected':>12} | "
        f"{'corrected / alone':>17}"
    )
    totals, raw_cvs, cvs, biases = [], [], [], []
    for (alpha, resolution), rows in samples.items():
        medians = [x.median_ms for x in rows]
        corrected = [x.ratio * long_run for x in rows] if reference else medians
        raw_cvs.append(_cv(medians))
        cvs.append(_cv(corrected))
        totals += [x.total_s for x in rows]
        biases.append(med(corrected) / med(x.alone_ms for x in rows))
        print(
            f"{alpha:>4}-{resolution:<5} {count_cost(mobilenet_v1(alpha, resolution)).macs / 1e6:>6.0f}M | "
            f"{med(x.export_s for x in rows):>8.3f} {med(x.session_s for x in rows):>9.3f} "
            f"{med(x.timing_s for x in rows):>7.3f} {med(x.total_s for x in rows):>7.3f} | "
            f"{med(x.runs for x in rows):>5.0f} {med(medians):>9.3f} {med(x.cv for x in rows):>6.1%} "
            f"{sum(x.cv > NOISY_CV for x in rows):>2}/{len(rows):<2} | {raw_cvs[-1]:>7.2%} {cvs[-1]:>12.2%} | "
            f"{biases[-1]:>17.3f}"
        )
    # A whole pass running faster or slower (the machine changing speed, not the method)
    # shows as a common factor on every model's median in that pass.
    means = {model: statistics.fmean(x.median_ms for x in rows) for model, rows in samples.items()}
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
    print(f"run-to-run CV of the raw median over {args.repeats} repeats: median {med(raw_cvs):.2%}, "
          f"max {max(raw_cvs):.2%}")  # fmt: skip
    if reference:
        print(f"corrected / alone, over the 16 models: {min(biases):.3f} to {max(biases):.3f} (spread "
              f"{max(biases) / min(biases):.3f} x; 1 would be no bias between models); Spearman with MACs "
              f"{spearman(biases, [count_cost(mobilenet_v1(*m)).macs for m in models]):+.2f}")  # fmt: skip
    what = "raw" if args.raw else "drift-corrected"
    print(
        f"run-to-run CV of the {what} median over {args.repeats} repeats: median {med(cvs):.2%}, max {max(cvs):.2%}; "
        f"{sum(c <= GOAL_CV for c in cvs)}/{len(cvs)} models within {GOAL_CV:.0%} "
        f"(goal median <= {GOAL_CV:.0%}: {'met' if med(cvs) <= GOAL_CV else 'NOT met'})"
    )


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
