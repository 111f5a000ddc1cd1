"""Leave-one-out errors of the calibrated predictor on the published MobileNet V1 latencies.

Every shipped profile's calibration points come from ../shared/reference/published_latency.csv.
For each point this prints the prediction of a model that did not see it:

* device LOO: devices with at least 2 points in their configuration, fitted on the rest;
* one-shot: the same devices calibrated on one point only (few-shot calibration);
* zero-shot: the family prior fitted without the device, from its hardware facts alone;
* cross-config: a device's fit moved to its other published configurations (other thread
  count or runtime) by nominal thread scaling, which is why those points do not calibrate it.

Cheap (no measurement, well under a second of fitting):

    python benchmarks/predictor_loo.py
"""

from __future__ import annotations

import argparse

from hwsearch.latency import (
    LooRow,
    cross_config,
    default_family,
    device_loo,
    family_profiles,
    loo_summary,
    point_label,
    zero_shot,
)

VIEWS = (
    ("device", "Device leave-one-out (devices with >= 2 points in their configuration)"),
    ("one-shot", "One-shot: calibrated on the single point in 'fitted on', predicting each other point"),
    ("zero-shot", "Family prior, zero-shot: fitted without the device; hardware facts only"),
    ("cross-config", "Cross-configuration: the device's fit with nominal thread scaling (not used to calibrate)"),
)


def print_rows(title: str, rows: list[LooRow]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    head = f"  {'device':16s} {'point':9s} {'configuration':24s} {'published':>10s} {'predicted':>10s}"
    print(f"{head} {'error':>8s}  fitted on")
    for r in rows:
        print(
            f"  {r.device:16s} {point_label(r.point):9s} {r.point.config.label():24s} "
            f"{r.point.latency_ms:8.2f}ms {r.predicted_ms:8.2f}ms {r.error_pct:+7.1f}%  {r.fitted_on}"
        )
    mean, within, worst = loo_summary(rows)
    print(f"  -> {len(rows)} predictions: mean |error| {mean:.1f}%, within +-10%: {within:.0%}, worst {worst:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", help="only this family (arm-cpu, nvidia-gpu)")
    args = parser.parse_args()
    profiles = [p for p in family_profiles() if p.calibration]
    if args.family:
        profiles = [p for p in profiles if default_family(p) == args.family]
    by_view: dict[str, list[LooRow]] = {view: [] for view, _ in VIEWS}
    for profile in sorted(profiles, key=lambda p: (default_family(p), p.name)):
        for row in device_loo(profile, profiles):
            by_view[row.view].append(row)
        by_view["zero-shot"] += zero_shot(profile, profiles)
        by_view["cross-config"] += cross_config(profile, profiles)
    print("Published points: " + ", ".join(f"{p.name} ({len(p.calibration)})" for p in profiles))
    for view, title in VIEWS:
        print_rows(title, by_view[view])


if __name__ == "__main__":
    main()
